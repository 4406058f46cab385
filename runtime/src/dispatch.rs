//! The one dispatch: a caller's session and a [`Call`] in, a [`Reply`] out.
//!
//! Every client of the datasite reaches it here: the in-process [`Client`](crate::Client) (whose
//! handles are thin wrappers over calls), and, over the same calls, the kernel's cell bridge and the
//! served datasite's HTTP API (`veil-server`, which authorises a session before it reads an
//! upload's parts). The session token is resolved to the user and role the datasite holds now; each arm
//! then calls one service function of (caller, ids, arguments), which reads the records those ids
//! name and checks the caller against them. No service builds a handle, and no handle checks a
//! permission. Before any of that, [`admit`] checks the caller's role against the call table
//! (`veil_api::access`), which is also what listings of a role's calls are drawn from.

use veil_api::call::{Call, Reply};
use veil_api::ops::Op;
use veil_api::view::DatasetView;

use crate::data::Data;
use crate::error::{Error, Result};
use crate::site::SiteCore;
use crate::users::User;

/// Ok if `caller` may make `call` with `count` values beside it, before any record is read or any
/// value decoded (a transport checks it first, so nobody else can make the datasite parse a value):
/// the call table ([`veil_api::access`]) must open the call to the caller's current role, and only an
/// upload carries values. The services then check the caller against the records the call names
/// (whose request, whose pointer, which dataset).
pub(crate) fn admit(caller: &User, call: &Call, count: usize) -> Result<()> {
    let info = call.info();
    if !info.who.admits(caller.role) {
        return Err(crate::users::denied(
            caller,
            &format!("`{}`", info.usage),
            info.who.describe(),
            info.who.instead(caller.role),
        ));
    }
    if count > 0 && !matches!(call, Call::UploadDataset { .. }) {
        return Err(Error::invalid(
            format!("call `{}`", call.name()),
            format!("{count} values came with it, and it takes none"),
            "send values only with an upload",
        ));
    }
    Ok(())
}

impl SiteCore {
    /// Answers `call` for the session `token`; `parts` are the values it names by
    /// [`Part`](veil_api::call::Part) (an upload's data and mocks), none for every other call. An
    /// upload tells `report` how far storing them has got.
    pub(crate) fn handle(
        &self,
        token: &str,
        call: Call,
        parts: Vec<Data>,
        report: crate::progress::Report<'_>,
    ) -> Result<Reply<Data>> {
        let caller = self.authorize(token)?;
        admit(&caller, &call, parts.len())?;
        let c = &caller;
        Ok(match call {
            Call::Whoami => Reply::User(caller.clone()),
            Call::Register { user } => Reply::User(self.register(Some(c), user)?),
            Call::Users => Reply::Users(self.users(c)?),
            Call::ChangePassword { old, new } => {
                self.change_password(c, token, &old.0, &new.0)?;
                Reply::Done
            }
            Call::ResetPassword { email, new } => {
                self.reset_password(c, &email, &new.0)?;
                Reply::Done
            }
            Call::SetRole { email, role } => Reply::User(self.set_role(c, &email, role)?),
            Call::DeleteUser { email } => {
                self.delete_user(c, &email)?;
                self.prune_compiled();
                Reply::Done
            }
            Call::SetSignup { enabled } => {
                self.set_signup(c, enabled)?;
                Reply::Done
            }
            Call::Logout => {
                self.logout(token)?;
                Reply::Done
            }
            Call::AuditLog => Reply::Audit(self.audit_log(c)?),
            Call::Datasets => Reply::Datasets(
                self.datasets()?
                    .into_iter()
                    .map(|d| seen_by(c, d))
                    .collect(),
            ),
            Call::Dataset { name } => {
                Reply::Dataset(seen_by(c, self.dataset_by("name", name.trim())?))
            }
            Call::UploadDataset { dataset } => {
                Reply::Dataset(self.upload_dataset(c, dataset, parts, report)?)
            }
            Call::DeleteDataset { name } => {
                self.delete_dataset(c, &name)?;
                Reply::Done
            }
            Call::AssetData { asset, real } => Reply::Data(self.asset_data(c, &asset, real)?),
            Call::AssetPointer { asset } => Reply::Pointer(self.asset_pointer(c, &asset)?),
            Call::Array { values, shape } => {
                Reply::Pointer(self.apply(c, &Op::Literal { values, shape }, &[])?)
            }
            Call::Apply { op, inputs } => Reply::Pointer(self.apply(c, &op, &inputs)?),
            Call::PointerStatus { pointer } => Reply::Status(self.pointer_status(c, &pointer)?),
            Call::RequestResult { pointer, reason } => {
                Reply::Request(self.request_result(c, &pointer, &reason)?)
            }
            Call::PointerResult { pointer } => {
                Reply::Data(self.floored(|| self.pointer_result(c, &pointer))?)
            }
            Call::RunOnMocks { code } => Reply::Data(self.run_on_mocks(c, &code)?),
            Call::RequestCode { code, reason } => {
                Reply::Request(self.submit_code(c, &code, &reason)?)
            }
            Call::Requests => Reply::Requests(self.requests(c)?),
            Call::FindRequest { key } => Reply::Request(self.find_request(c, &key)?),
            Call::Review { request } => Reply::Review(Box::new(self.review(c, &request)?)),
            Call::Result { request } => Reply::Data(self.floored(|| self.result(c, &request))?),
            Call::Run { request } => Reply::Data(self.floored(|| self.run_again(c, &request))?),
            Call::Code { request } => Reply::Code(self.request_code(c, &request)?),
            Call::RunPrivately { request } => {
                Reply::PrivateRun(self.run_request_privately(c, &request)?)
            }
            Call::Approve {
                request,
                overriding,
            } => Reply::Request(self.approve(c, &request, overriding.as_deref())?),
            Call::Deny { request, reason } => {
                let denied = self.decide(c, &request, false, &reason, None)?;
                self.prune_compiled();
                Reply::Request(denied)
            }
            Call::RequestChanges { request, message } => {
                let sent_back = self.request_changes(c, &request, &message)?;
                self.prune_compiled();
                Reply::Request(sent_back)
            }
            Call::SetBudget {
                email,
                dataset,
                epsilon,
            } => Reply::Budget(self.set_budget(c, &email, &dataset, epsilon)?),
            Call::Budgets => Reply::Budgets(self.budgets(c)?),
            Call::SetDisclosureRules { dataset, rules } => {
                Reply::Rules(self.set_disclosure_rules(c, &dataset, &rules)?)
            }
            Call::DisclosureRules { dataset } => Reply::Rules(self.disclosure_rules(&dataset)?),
            Call::Receipt { request } => Reply::Receipt(self.receipt_of(c, &request)?),
            Call::VerifyReceipt { receipt } => Reply::Verification(self.verify_receipt(&receipt)?),
            Call::SetDomain {
                asset,
                column,
                domain,
            } => {
                self.set_domain(c, &asset, column.as_deref(), &domain)?;
                Reply::Done
            }
            Call::PreviewDp { pointer, query } => {
                Reply::DpPlan(self.preview_dp(c, &pointer, &query)?)
            }
            Call::ReleaseDp { pointer, query } => {
                Reply::DpRelease(self.floored(|| self.release_dp(c, &pointer, &query))?)
            }
        })
    }

    /// `answer()`, held until [`SiteCore::real_answer_floor`] has passed since it began, whether
    /// it succeeded or not: what depends on real computation answers no sooner.
    fn floored<T>(&self, answer: impl FnOnce() -> Result<T>) -> Result<T> {
        let began = std::time::Instant::now();
        let out = answer();
        if let Some(rest) = self.real_answer_floor.checked_sub(began.elapsed()) {
            std::thread::sleep(rest);
        }
        out
    }
}

/// The value of reply variant `$variant` from `$reply` (a `Result<Reply<Data>>`), or an error saying
/// which reply came instead (a dispatch bug, never the caller's).
macro_rules! reply {
    ($reply:expr, Done) => {
        match $reply {
            Ok(veil_api::call::Reply::Done) => Ok(()),
            Ok(other) => Err($crate::error::Error::corrupt(
                "answering a call",
                format!(
                    "the datasite answered with `{}` where `done` was due",
                    other.name()
                ),
            )),
            Err(e) => Err(e),
        }
    };
    ($reply:expr, $variant:ident) => {
        match $reply {
            Ok(veil_api::call::Reply::$variant(value)) => Ok(value),
            Ok(other) => Err($crate::error::Error::corrupt(
                "answering a call",
                format!(
                    "the datasite answered with `{}` where `{}` was due",
                    other.name(),
                    stringify!($variant)
                ),
            )),
            Err(e) => Err(e),
        }
    };
}
pub(crate) use reply;

/// A dataset as `caller` may see it: its mocks' reports are the owners' (a report names the
/// columns a mock gives away, and how well).
fn seen_by(caller: &User, mut dataset: DatasetView) -> DatasetView {
    if !caller.role.is_owner() {
        for asset in &mut dataset.assets {
            asset.mock_report = None;
        }
    }
    dataset
}
