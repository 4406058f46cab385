//! # The client: untrusted handles
//!
//! [`Client`] is a logged-in user's handle on a datasite; [`Pointer`], [`Request`],
//! [`SiteAsset`] and [`SiteDataset`] are handles on what the datasite holds, each an id, the client
//! that read it and, for display, a view of what the datasite said then. A client holds a session
//! token, not a role: the datasite resolves the token on every call and checks the user's current
//! role there, so nothing a client holds can widen what it may do. Handles never read a record and
//! never check a role: each method is one call (written once for this crate and the facade cells
//! link, `veil_api::handle_methods!`), sent through the client's link, in this process
//! ([`Datasite`]'s dispatch) or over HTTP ([`remote`]). Their displays and their lists'
//! displays live here too.
//!
//! - [`users`], [`datasets`], [`pointers`], [`requests`], [`code`], [`privacy`]: the handles and
//!   views of each area, with their displays; [`remote`]: a datasite served over HTTP.

pub mod code;
pub mod datasets;
pub mod pointers;
pub mod privacy;
pub mod remote;
pub mod requests;
pub mod users;

use std::fmt;
use std::sync::Arc;

use crate::audit::AuditLog;
use crate::data::Data;
use crate::datasite::{Datasite, LoginOutcome, Serve, SiteCore};
use crate::display::Table;
use crate::error::{Error, Result};
use code::{Code, SubmittedCode};
use datasets::{Dataset, DatasetList, SiteAsset, SiteDataset};
use pointers::Pointer;
use privacy::BudgetList;
use remote::Remote;
use requests::{Request, RequestList, Review};
use users::{Role, User, UserList};
use veil_api::calls;
use veil_api::disclosure::Rules;
use veil_api::dp::{Budget, DpPlan, DpRelease};
use veil_api::receipt::{Receipt, Verification};
use veil_api::view::{
    AuditEntry, DatasetView, PointerStatus, PointerView, RequestView, ReviewView,
};

/// How a client reaches its datasite: in this process, or served over HTTP.
#[derive(Clone)]
enum Link {
    Local(Arc<SiteCore>),
    Remote(Arc<Remote>),
}

/// A user's session on a datasite, from [`Datasite::login`](crate::Datasite::login) or, for a served
/// one, [`RemoteSite::login`](crate::client::remote::RemoteSite::login).
#[derive(Clone)]
pub struct Client {
    link: Link,
    token: Arc<str>,
    user: User,
    notices: Vec<String>,
}

impl fmt::Debug for Client {
    // Never print the session token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("site", &self.site_name())
            .field("email", &self.user.email)
            .field("role", &self.user.role)
            .finish_non_exhaustive()
    }
}

impl Client {
    pub(crate) fn new(core: Arc<SiteCore>, login: LoginOutcome) -> Client {
        Client::with_link(Link::Local(core), login)
    }

    pub(crate) fn remote(remote: Arc<Remote>, login: LoginOutcome) -> Client {
        Client::with_link(Link::Remote(remote), login)
    }

    fn with_link(link: Link, login: LoginOutcome) -> Client {
        Client {
            link,
            token: login.token.into(),
            user: login.user,
            notices: login.notices,
        }
    }

    /// Whether `other` reaches the same datasite by the same way (ids mean something only there).
    pub(crate) fn same_site(&self, other: &Client) -> bool {
        match (&self.link, &other.link) {
            (Link::Local(a), Link::Local(b)) => Arc::ptr_eq(a, b),
            (Link::Remote(a), Link::Remote(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    /// Sends any call to the datasite's one dispatch as this session, and returns its reply as a
    /// transport carries it: what other transports (the kernel's cell bridge) use to forward a
    /// client's calls, wrapping what comes back with the handles' `from_view` constructors. The
    /// handles' own methods send typed calls instead, and read typed replies.
    pub fn call(&self, call: veil_api::call::Call) -> Result<veil_api::call::Reply<crate::Data>> {
        self.call_with_parts(call, Vec::new())
    }

    /// [`Client::call`] for a call that names values by [`Part`](veil_api::call::Part) (an upload):
    /// `parts` are those values, in order.
    pub fn call_with_parts(
        &self,
        call: veil_api::call::Call,
        parts: Vec<crate::Data>,
    ) -> Result<veil_api::call::Reply<crate::Data>> {
        self.call_reporting(call, parts, &crate::progress::silent)
    }

    /// [`Client::call_with_parts`], telling `report` how far sending and storing the values has got
    /// (see [`progress`](crate::progress)): what a notebook's upload shows as it goes.
    pub fn call_reporting(
        &self,
        call: veil_api::call::Call,
        parts: Vec<crate::Data>,
        report: crate::progress::Report<'_>,
    ) -> Result<veil_api::call::Reply<crate::Data>> {
        match &self.link {
            Link::Local(core) => core.handle(&self.token, call, parts, report),
            Link::Remote(remote) => remote.call(&self.token, self.user.role, call, parts, report),
        }
    }

    /// Sends `call` as this session and reads its reply, the type its declaration gives, as `T`:
    /// what each method of the handles does (see [`veil_api::handle_methods!`]).
    pub(crate) fn ask<C: Serve, T: Answer<C::Reply<Data>>>(&self, call: C) -> Result<T> {
        self.ask_reporting(call, Vec::new(), &crate::progress::silent)
    }

    /// [`Client::ask`] for a call with values beside it, telling `report` how far sending and
    /// storing them has got. In this process the datasite's service answers with the reply's own
    /// type; a served datasite's reply is read from the wire, and one of another kind is refused.
    fn ask_reporting<C: Serve, T: Answer<C::Reply<Data>>>(
        &self,
        call: C,
        parts: Vec<Data>,
        report: crate::progress::Report<'_>,
    ) -> Result<T> {
        let reply = match &self.link {
            Link::Local(core) => core.serve(&self.token, call, parts, report)?,
            Link::Remote(remote) => {
                let reply = remote.call(&self.token, self.user.role, call.into(), parts, report)?;
                C::unwrap(reply).map_err(|other| {
                    Error::corrupt(
                        "answering a call",
                        format!("the datasite answered `{}` with `{other}`", C::info().name),
                    )
                })?
            }
        };
        Ok(T::answer(reply, self))
    }

    /// The logged-in user's email.
    pub fn email(&self) -> &str {
        &self.user.email
    }

    /// The role the user had at login (the datasite checks the current one on every call).
    pub fn role(&self) -> Role {
        self.user.role
    }

    /// The datasite's name.
    pub fn site_name(&self) -> &str {
        match &self.link {
            Link::Local(core) => &core.name,
            Link::Remote(remote) => remote.site(),
        }
    }

    /// Warnings from login, e.g. that the default admin password is still set.
    pub fn notices(&self) -> &[String] {
        &self.notices
    }

    /// Uploads a dataset and its assets in one transaction (owners and admins). An upload of
    /// [`SHOWN_FROM_BYTES`](crate::progress::SHOWN_FROM_BYTES) or more draws a progress bar on stderr
    /// when that is a terminal.
    pub fn upload_dataset(&self, dataset: Dataset) -> Result<SiteDataset> {
        let bar = crate::progress::TerminalBar::new();
        self.upload_dataset_reporting(dataset, &|p| bar.report(p))
    }

    /// [`Client::upload_dataset`], telling `report` how far it has got instead of drawing a bar.
    pub fn upload_dataset_reporting(
        &self,
        dataset: Dataset,
        report: crate::progress::Report<'_>,
    ) -> Result<SiteDataset> {
        let (dataset, parts) = veil_api::call::into_parts(dataset);
        self.ask_reporting(calls::UploadDataset { dataset }, parts, report)
    }

    fn table(&self) -> Table {
        let mut t = Table::fields(
            format!("Client {} on {}", self.user.email, self.site_name()),
            [
                ("name", self.user.name.clone()),
                ("email", self.user.email.clone()),
                ("role", self.user.role.as_str().to_string()),
                ("datasite", self.site_name().to_string()),
            ],
        );
        t.warnings = self.notices.clone();
        Calls(Some(self.user.role)).sections(&mut t, "what you may call: ");
        t
    }
}

crate::display::render_via_table!(Client);

/// The calls a role may make, grouped by area, each with how a cell makes it and what it does
/// (every call, with who may make it, for `None`): drawn from the table the datasite's dispatch
/// enforces ([`veil_api::access`]), so it offers nothing the datasite refuses. A client's display
/// ends with its role's; the kernel's `%help api` shows it.
#[derive(Debug, Clone, Copy)]
pub struct Calls(pub Option<Role>);

impl Calls {
    fn table(&self) -> Table {
        let mut t = Table::new(match self.0 {
            Some(role) => format!(
                "What {} {} may call",
                if role == Role::Admin { "an" } else { "a" },
                role.as_str().replace('_', " ")
            ),
            None => "Every call, and who may make it".to_string(),
        });
        self.sections(&mut t, "");
        t
    }

    /// Appends one table per area to `table`, each titled `prefix` and the area's name.
    fn sections(&self, table: &mut Table, prefix: &str) {
        for (area, calls) in veil_api::access::listing(self.0) {
            let rows = calls
                .iter()
                .map(|c| {
                    let mut row = vec![c.usage.to_string(), c.doc.to_string()];
                    if self.0.is_none() {
                        row.insert(1, c.who.describe().to_string());
                    }
                    row
                })
                .collect();
            let headers = match self.0 {
                Some(_) => vec!["call".into(), "what it does".into()],
                None => vec!["call".into(), "who".into(), "what it does".into()],
            };
            table.sub_table(format!("{prefix}{}", area.as_str()), headers, rows);
        }
    }
}

crate::display::render_via_table!(Calls);

impl Datasite {
    /// Logs in and returns a client bound to that user. Owners still using the default admin password get
    /// a notice (printed to stderr and kept in [`Client::notices`]) until they change it.
    pub fn login(&self, email: &str, password: &str) -> Result<Client> {
        let outcome = self.core().login(email, password)?;
        for notice in &outcome.notices {
            eprintln!("warning: {notice}");
        }
        Ok(Client::new(self.core().clone(), outcome))
    }
}

/// A private run's result ([`Request::run_privately`]), or why it failed on the real data.
pub type PrivateRun = std::result::Result<Data, String>;

/// A dataset's disclosure rules, as [`Client::disclosure_rules`] reads them.
pub type DisclosureRules = Rules;

veil_api::handle_methods!();

/// How a handle reads the reply `R` a call's declaration gives: the handle (with the client that
/// asked, so its own calls go to the same session) or the view itself.
pub(crate) trait Answer<R> {
    fn answer(reply: R, client: &Client) -> Self;
}

impl<T> Answer<T> for T {
    fn answer(reply: T, _: &Client) -> T {
        reply
    }
}

impl Answer<Vec<User>> for UserList {
    fn answer(users: Vec<User>, _: &Client) -> UserList {
        UserList(users)
    }
}

impl Answer<Vec<AuditEntry>> for AuditLog {
    fn answer(entries: Vec<AuditEntry>, _: &Client) -> AuditLog {
        AuditLog(entries)
    }
}

impl Answer<Vec<Budget>> for BudgetList {
    fn answer(budgets: Vec<Budget>, _: &Client) -> BudgetList {
        BudgetList(budgets)
    }
}

impl Answer<DatasetView> for SiteDataset {
    fn answer(view: DatasetView, client: &Client) -> SiteDataset {
        SiteDataset::from_view(view, client)
    }
}

impl Answer<Vec<DatasetView>> for DatasetList {
    fn answer(views: Vec<DatasetView>, client: &Client) -> DatasetList {
        DatasetList(
            views
                .into_iter()
                .map(|v| SiteDataset::from_view(v, client))
                .collect(),
        )
    }
}

impl Answer<PointerView<Data>> for Pointer {
    fn answer(view: PointerView<Data>, client: &Client) -> Pointer {
        Pointer::from_view(view, client)
    }
}

impl Answer<RequestView> for Request {
    fn answer(view: RequestView, client: &Client) -> Request {
        Request::from_view(view, client.clone())
    }
}

impl Answer<Vec<RequestView>> for RequestList {
    fn answer(views: Vec<RequestView>, client: &Client) -> RequestList {
        RequestList(
            views
                .into_iter()
                .map(|v| Request::from_view(v, client.clone()))
                .collect(),
        )
    }
}

impl Answer<Box<ReviewView<Data>>> for Review {
    fn answer(view: Box<ReviewView<Data>>, client: &Client) -> Review {
        Review::from_view(*view, client)
    }
}

// Each handle asks as its client.
macro_rules! asks_as_its_client {
    ($($handle:ty),+) => {$(
        impl $handle {
            pub(crate) fn ask<C: Serve, T: Answer<C::Reply<Data>>>(&self, call: C) -> Result<T> {
                self.client().ask(call)
            }
        }
    )+};
}
asks_as_its_client!(Pointer, Request, SiteAsset);
