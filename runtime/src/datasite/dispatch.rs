//! The one dispatch: a caller's session and a call in, the call's reply out.
//!
//! Every client of the datasite reaches it here: the in-process [`Client`](crate::Client) (whose
//! handles' methods are one call each), and, over the same calls, the kernel's cell bridge and the
//! served datasite's HTTP API (`veil-server`, which authorises a session before it reads an
//! upload's parts). The session token is resolved to the user and role the datasite holds now, and
//! [`admit`] checks that role against the call table (`veil_api::access`, which listings of a
//! role's calls are drawn from too). Then the call's own service answers: each call declared in
//! [`veil_api::calls`] is a type, and its [`Serve`] impl (in the module of its area) is one
//! function of the caller and the call's fields (ids and arguments) returning the reply type its
//! declaration gives, so a reply of the wrong kind does not build. A service reads the records
//! those ids name and checks the caller against them; none builds a handle, and no handle checks
//! a permission. [`SiteCore::handle`] answers a [`Call`] of any kind by matching every declared
//! call (`veil_api::for_each_call!`), so a call declared and not served does not build either.

use veil_api::access::CallInfo;
use veil_api::call::{Call, DatasiteCall, Reply};
use veil_api::view::DatasetView;

use crate::data::Data;
use crate::datasite::site::SiteCore;
use crate::datasite::users::User;
use crate::error::{Error, Result};
use crate::progress::Report;

/// Who makes a call, and what came with it: what a service answers for.
pub(crate) struct Caller<'a> {
    /// The user the session is, as the datasite holds them now.
    pub user: User,
    /// The session's token (a password change keeps this session, a logout ends it).
    pub token: &'a str,
    /// The values the call names by part (an upload's data and mocks); none for other calls.
    pub parts: Vec<Data>,
    /// Told how far storing the parts has got.
    pub report: Report<'a>,
}

impl std::ops::Deref for Caller<'_> {
    type Target = User;
    fn deref(&self) -> &User {
        &self.user
    }
}

/// A call the datasite answers: one service function of the caller and the call's own fields (the
/// ids it names, its arguments), returning the reply its declaration gives
/// ([`DatasiteCall::Reply`]). It reads the records those ids name and checks the caller against
/// them; the caller's role was checked against the call table before.
pub(crate) trait Serve: DatasiteCall {
    /// The answer to this call by `caller`.
    fn serve(self, site: &SiteCore, caller: &mut Caller<'_>) -> Result<Self::Reply<Data>>;
}

/// Ok if `caller` may make the call `info` describes with `count` values beside it, before any
/// record is read or any value decoded (a transport checks it first, so nobody else can make the
/// datasite parse a value): the call table ([`veil_api::access`]) must open the call to the
/// caller's current role, and only an upload carries values. The services then check the caller
/// against the records the call names (whose request, whose pointer, which dataset).
pub(crate) fn admit(caller: &User, info: &CallInfo, count: usize) -> Result<()> {
    if !info.who.admits(caller.role) {
        return Err(crate::datasite::users::denied(
            caller,
            &format!("`{}`", info.usage),
            info.who.describe(),
            info.who.instead(caller.role),
        ));
    }
    if count > 0 && info.name != veil_api::calls::UploadDataset::info().name {
        return Err(Error::invalid(
            format!("call `{}`", info.name),
            format!("{count} values came with it, and it takes none"),
            "send values only with an upload",
        ));
    }
    Ok(())
}

impl SiteCore {
    /// Answers `call` for the session `token`, with its typed reply; `parts` are the values it
    /// names by [`Part`](veil_api::call::Part) (an upload's data and mocks), none for every other
    /// call. An upload tells `report` how far storing them has got.
    pub(crate) fn serve<C: Serve>(
        &self,
        token: &str,
        call: C,
        parts: Vec<Data>,
        report: Report<'_>,
    ) -> Result<C::Reply<Data>> {
        let user = self.authorize(token)?;
        admit(&user, C::info(), parts.len())?;
        let mut caller = Caller {
            user,
            token,
            parts,
            report,
        };
        call.serve(self, &mut caller)
    }

    /// [`SiteCore::serve`] for any call, as a transport carries it.
    pub(crate) fn handle(
        &self,
        token: &str,
        call: Call,
        parts: Vec<Data>,
        report: Report<'_>,
    ) -> Result<Reply<Data>> {
        macro_rules! dispatch {
            ($($name:ident)+) => {
                match call {
                    $(Call::$name(call) => self
                        .serve(token, call, parts, report)
                        .map(veil_api::calls::$name::wrap),)+
                }
            };
        }
        veil_api::for_each_call!(dispatch)
    }

    /// `answer()`, held until [`SiteCore::real_answer_floor`] has passed since it began, whether
    /// it succeeded or not: what depends on real computation answers no sooner.
    pub(crate) fn floored<T>(&self, answer: impl FnOnce() -> Result<T>) -> Result<T> {
        let began = std::time::Instant::now();
        let out = answer();
        if let Some(rest) = self.real_answer_floor.checked_sub(began.elapsed()) {
            std::thread::sleep(rest);
        }
        out
    }
}

/// A dataset as `caller` may see it: its mocks' reports are the owners' (a report names the
/// columns a mock gives away, and how well).
pub(crate) fn seen_by(caller: &User, mut dataset: DatasetView) -> DatasetView {
    if !caller.role.is_owner() {
        for asset in &mut dataset.assets {
            asset.mock_report = None;
        }
    }
    dataset
}
