//! The calls: every operation a client asks of a datasite, as one typed value, and its typed reply.
//!
//! A call names the datasite's records by id (never a client's handle) and carries the arguments the
//! caller chose; the datasite resolves the caller from its session, reads each record, checks the
//! caller against it, and answers with a [`Reply`]. The in-process client sends calls to the
//! datasite's one dispatch (`SiteCore::handle` in `veil`); the kernel's cell bridge is a further
//! transport of the same calls, and the served datasite's HTTP API (`veil serve`, the `veil-server`
//! crate) is another.
//!
//! A call is small JSON-able data. The one call that carries frames and arrays, a dataset's upload,
//! names them by [`Part`]: the index of a value sent beside the call (in process, the values
//! themselves; from a cell, the kernel's handles; over HTTP, the parts of a request's body), so
//! every call keeps one form.

use serde::{Deserialize, Serialize};

use crate::code::{CodeSpec, SubmittedCode};
use crate::disclosure::Rules;
use crate::dp::{Budget, Domain, DpPlan, DpQuery, DpRelease};
use crate::ops::Op;
use crate::receipt::{Receipt, Verification};
use crate::spec::Dataset;
use crate::view::{
    AuditEntry, DatasetView, NewUser, PointerStatus, PointerView, RequestView, ReviewView, Role,
    User,
};

/// One call to a datasite, made by the caller whose session it comes with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub enum Call {
    /// The caller as the datasite holds them now: [`Reply::User`].
    Whoami,
    /// A new user (owners and admins; only admins create admins): [`Reply::User`].
    Register {
        /// Who.
        user: NewUser,
    },
    /// Every user (owners and admins): [`Reply::Users`].
    Users,
    /// The caller's new password: [`Reply::Done`].
    ChangePassword {
        /// The current password.
        old: Secret,
        /// The new one.
        new: Secret,
    },
    /// Another user's new password (admins): [`Reply::Done`].
    ResetPassword {
        /// Whose.
        email: String,
        /// The new one.
        new: Secret,
    },
    /// A user's new role (admins): [`Reply::User`].
    SetRole {
        /// Whose.
        email: String,
        /// The role.
        role: Role,
    },
    /// Deletes a user and their sessions (owners and admins; only admins delete admins):
    /// [`Reply::Done`].
    DeleteUser {
        /// Whose.
        email: String,
    },
    /// Turns self sign-up on or off (owners): [`Reply::Done`].
    SetSignup {
        /// On or off.
        enabled: bool,
    },
    /// Ends the caller's session: [`Reply::Done`].
    Logout,
    /// The audit log, oldest entry first (owners and admins): [`Reply::Audit`].
    AuditLog,
    /// Every dataset, oldest first (anyone logged in): [`Reply::Datasets`].
    Datasets,
    /// The dataset called `name`, case-insensitively (anyone logged in): [`Reply::Dataset`].
    Dataset {
        /// Its name.
        name: String,
    },
    /// Uploads a dataset and its assets in one transaction (owners and admins), their data and mocks
    /// sent beside the call as parts: [`Reply::Dataset`].
    UploadDataset {
        /// The dataset, each asset's data and mock named by its part.
        dataset: Dataset<Part>,
    },
    /// Deletes a dataset, its assets and their stored data (owners and admins): [`Reply::Done`].
    DeleteDataset {
        /// Its name.
        name: String,
    },
    /// An asset's mock (anyone logged in) or real data (owners, audited): [`Reply::Data`].
    AssetData {
        /// The asset's id.
        asset: String,
        /// The real data rather than the mock.
        real: bool,
    },
    /// A new pointer to an asset (the caller's own root object for it): [`Reply::Pointer`].
    AssetPointer {
        /// The asset's id.
        asset: String,
    },
    /// A new array of the caller's own, from values in row-major order: [`Reply::Pointer`].
    Array {
        /// The values.
        values: Vec<f64>,
        /// The shape; its product is the number of values.
        shape: Vec<usize>,
    },
    /// `op` on objects the caller made, run on their mocks and recorded: [`Reply::Pointer`].
    Apply {
        /// The op.
        op: Op,
        /// Its input objects, as many as the op takes.
        inputs: Vec<String>,
    },
    /// Where the caller's latest request for an object's result stands: [`Reply::Status`].
    PointerStatus {
        /// The object's id.
        pointer: String,
    },
    /// A request for an object's real result, saying why: [`Reply::Request`].
    RequestResult {
        /// The object's id.
        pointer: String,
        /// Why.
        reason: String,
    },
    /// An object's real result, once released to the caller: [`Reply::Data`].
    PointerResult {
        /// The object's id.
        pointer: String,
    },
    /// A code request's function run on the mocks of its bound assets: [`Reply::Data`].
    RunOnMocks {
        /// The function, its bindings and policy.
        code: CodeSpec,
    },
    /// A code request submitted for an owner's review, saying why: [`Reply::Request`].
    RequestCode {
        /// The function, its bindings and policy.
        code: CodeSpec,
        /// Why.
        reason: String,
    },
    /// The requests the caller may see (an owner: everyone's), newest first: [`Reply::Requests`].
    Requests,
    /// A request by number (`#3`) or by id or a unique prefix of one: [`Reply::Request`].
    FindRequest {
        /// `#3`, or an id or its first characters.
        key: String,
    },
    /// An owner's review of a request: [`Reply::Review`].
    Review {
        /// The request's id.
        request: String,
    },
    /// The released result, for the requester of an approved request: [`Reply::Data`].
    Result {
        /// The request's id.
        request: String,
    },
    /// A further run of approved code, if its policy has one left: [`Reply::Data`].
    Run {
        /// The request's id.
        request: String,
    },
    /// The submitted code of a code request, for its requester and owners: [`Reply::Code`].
    Code {
        /// The request's id.
        request: String,
    },
    /// An owner's private run of a code request on the real data: [`Reply::PrivateRun`].
    RunPrivately {
        /// The request's id.
        request: String,
    },
    /// An owner's approval: [`Reply::Request`]. A result that fails a disclosure check is
    /// approved only with `overriding`, the owner's reason, which the audit log keeps (on an
    /// approved code request, it releases runs whose output a check withheld).
    Approve {
        /// The request's id.
        request: String,
        /// Why the owner releases it although a disclosure check fails.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        overriding: Option<String>,
    },
    /// An owner's denial, with a reason the requester sees: [`Reply::Request`].
    Deny {
        /// The request's id.
        request: String,
        /// Why.
        reason: String,
    },
    /// An owner's third outcome (neither approval nor denial): the request goes back to its
    /// requester with `message`, the changes it needs; they may submit a new request.
    /// [`Reply::Request`].
    RequestChanges {
        /// The request's id.
        request: String,
        /// What to change, which the requester sees.
        message: String,
    },
    /// Sets a data scientist's privacy budget on a dataset, the ε allowed in all (owners):
    /// [`Reply::Budget`].
    SetBudget {
        /// Whose.
        email: String,
        /// The dataset's name.
        dataset: String,
        /// The ε allowed in all; what was spent stays spent.
        epsilon: f64,
    },
    /// Privacy budgets and what was spent of them (an owner: everyone's): [`Reply::Budgets`].
    Budgets,
    /// Sets a dataset's disclosure rules, the thresholds its releases are checked against
    /// (owners): [`Reply::Rules`].
    SetDisclosureRules {
        /// The dataset's name.
        dataset: String,
        /// The thresholds.
        rules: Rules,
    },
    /// A dataset's disclosure rules (anyone logged in): [`Reply::Rules`].
    DisclosureRules {
        /// The dataset's name.
        dataset: String,
    },
    /// The receipt of a request's latest release, for its requester and owners:
    /// [`Reply::Receipt`].
    Receipt {
        /// The request's id.
        request: String,
    },
    /// A receipt checked against the datasite's audit log (anyone logged in):
    /// [`Reply::Verification`].
    VerifyReceipt {
        /// The receipt.
        receipt: Receipt,
    },
    /// Declares the range or categories of an asset's column, or of a 1-d array asset's values
    /// (owners): [`Reply::Done`].
    SetDomain {
        /// The asset's id.
        asset: String,
        /// The column; `None` for a 1-d array asset's values.
        column: Option<String>,
        /// What it holds.
        domain: Domain,
    },
    /// What a differentially private release of an aggregate pointer would compute and cost,
    /// decided without reading anything real: [`Reply::DpPlan`].
    PreviewDp {
        /// The pointer's id.
        pointer: String,
        /// The ε and, where needed, bounds or categories.
        query: DpQuery,
    },
    /// A differentially private release of an aggregate pointer, spending its ε from the
    /// caller's budget on the dataset: [`Reply::DpRelease`].
    ReleaseDp {
        /// The pointer's id.
        pointer: String,
        /// The ε and, where needed, bounds or categories.
        query: DpQuery,
    },
}

impl Call {
    /// The call's name, e.g. `approve`, for messages.
    pub fn name(&self) -> &'static str {
        self.info().name
    }
}

/// What kind of error a call ended in: what a client branches on (the message, which names the
/// problem and the fix, is for people). Every transport carries it with the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Unknown email or wrong password (never which).
    AuthenticationFailed,
    /// The caller's role does not allow the call.
    PermissionDenied,
    /// The session is unknown, expired or revoked: log in again.
    SessionExpired,
    /// No such record, or none the caller may see.
    NotFound,
    /// A record of that name exists.
    AlreadyExists,
    /// An argument failed validation.
    InvalidInput,
    /// The owner has not decided the request yet.
    ApprovalPending,
    /// The owner denied the request.
    RequestDenied,
    /// The output policy allows no more runs.
    PolicyExhausted,
    /// A differentially private release would spend more ε than the budget has left.
    BudgetExceeded,
    /// The datasite's code runner failed (not the submitted code).
    Runner,
    /// The datasite's files could not be read or written.
    Storage,
    /// A frame or array could not be encoded, decoded or computed on.
    Data,
    /// The datasite was landed (shut down).
    Landed,
    /// A served datasite could not be reached, or answered in a way this client cannot read.
    Unavailable,
    /// Too many failed logins: wait the time the message names.
    TooManyAttempts,
}

impl ErrorKind {
    /// Every kind, in declaration order.
    pub const ALL: [ErrorKind; 16] = [
        ErrorKind::AuthenticationFailed,
        ErrorKind::PermissionDenied,
        ErrorKind::SessionExpired,
        ErrorKind::NotFound,
        ErrorKind::AlreadyExists,
        ErrorKind::InvalidInput,
        ErrorKind::ApprovalPending,
        ErrorKind::RequestDenied,
        ErrorKind::PolicyExhausted,
        ErrorKind::BudgetExceeded,
        ErrorKind::Runner,
        ErrorKind::Storage,
        ErrorKind::Data,
        ErrorKind::Landed,
        ErrorKind::Unavailable,
        ErrorKind::TooManyAttempts,
    ];

    /// Its name, e.g. `PermissionDenied`: what a cell's error shows.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::AuthenticationFailed => "AuthenticationFailed",
            ErrorKind::PermissionDenied => "PermissionDenied",
            ErrorKind::SessionExpired => "SessionExpired",
            ErrorKind::NotFound => "NotFound",
            ErrorKind::AlreadyExists => "AlreadyExists",
            ErrorKind::InvalidInput => "InvalidInput",
            ErrorKind::ApprovalPending => "ApprovalPending",
            ErrorKind::RequestDenied => "RequestDenied",
            ErrorKind::PolicyExhausted => "PolicyExhausted",
            ErrorKind::BudgetExceeded => "BudgetExceeded",
            ErrorKind::Runner => "Runner",
            ErrorKind::Storage => "Storage",
            ErrorKind::Data => "Data",
            ErrorKind::Landed => "Landed",
            ErrorKind::Unavailable => "Unavailable",
            ErrorKind::TooManyAttempts => "TooManyAttempts",
        }
    }

    /// The kind named `name`, if it is one.
    pub fn parse(name: &str) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value sent beside a call, by its index among the call's parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Part(pub u32);

/// The parts a call's values travel as: `dataset` naming each by its [`Part`], and the values in
/// that order. What a transport sends for an upload.
pub fn into_parts<D>(dataset: Dataset<D>) -> (Dataset<Part>, Vec<D>) {
    let mut parts = Vec::new();
    let named = dataset
        .try_map(|value| {
            parts.push(value);
            Ok::<_, std::convert::Infallible>(Part(parts.len() as u32 - 1))
        })
        .unwrap_or_else(|never| match never {});
    (named, parts)
}

/// The dataset a call names with parts, with each part's value in its place: what a datasite does
/// with an upload. Fails, saying why, when the call names a part that was not sent, names one twice,
/// or leaves one unused: a transport that sends values must send exactly those the call names.
pub fn from_parts<D>(dataset: Dataset<Part>, parts: Vec<D>) -> Result<Dataset<D>, String> {
    let count = parts.len();
    let mut parts: Vec<Option<D>> = parts.into_iter().map(Some).collect();
    let dataset = dataset.try_map(|Part(i)| match parts.get_mut(i as usize) {
        None => Err(format!("it names part {i}, and {count} parts came with it")),
        Some(slot) => slot
            .take()
            .ok_or_else(|| format!("it names part {i} twice")),
    })?;
    match parts.iter().position(Option::is_some) {
        Some(i) => Err(format!("part {i} came with it and no asset names it")),
        None => Ok(dataset),
    }
}

/// A password in a call: sent as a plain string, never printed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// A datasite's answer to a [`Call`]; `D` is how data travels (the datasite's own values in process).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", content = "value", rename_all = "snake_case")]
pub enum Reply<D> {
    /// Done, with nothing to report.
    Done,
    /// A user.
    User(User),
    /// Users.
    Users(Vec<User>),
    /// Audit entries, oldest first.
    Audit(Vec<AuditEntry>),
    /// Datasets.
    Datasets(Vec<DatasetView>),
    /// One dataset.
    Dataset(DatasetView),
    /// A pointer.
    Pointer(PointerView<D>),
    /// Where a pointer's result stands.
    Status(PointerStatus),
    /// Requests, newest first.
    Requests(Vec<RequestView>),
    /// One request, as it stands now.
    Request(RequestView),
    /// An owner's review.
    Review(Box<ReviewView<D>>),
    /// A value.
    Data(D),
    /// Submitted code.
    Code(SubmittedCode<D>),
    /// A private run's result, or why it failed on the real data.
    PrivateRun(Result<D, String>),
    /// A privacy budget.
    Budget(Budget),
    /// Privacy budgets.
    Budgets(Vec<Budget>),
    /// What a differentially private release would do.
    DpPlan(DpPlan),
    /// A differentially private release.
    DpRelease(DpRelease),
    /// A dataset's disclosure rules.
    Rules(Rules),
    /// A release's receipt.
    Receipt(Receipt),
    /// A receipt found in the audit log.
    Verification(Verification),
}

impl<D> Reply<D> {
    /// The same reply with each value in it turned into another form by `f` (encoded for the
    /// network, say), stopping at the first error.
    pub fn try_map<E, X>(self, mut f: impl FnMut(D) -> Result<E, X>) -> Result<Reply<E>, X> {
        Ok(match self {
            Reply::Done => Reply::Done,
            Reply::User(u) => Reply::User(u),
            Reply::Users(u) => Reply::Users(u),
            Reply::Audit(a) => Reply::Audit(a),
            Reply::Datasets(d) => Reply::Datasets(d),
            Reply::Dataset(d) => Reply::Dataset(d),
            Reply::Pointer(p) => Reply::Pointer(PointerView {
                id: p.id,
                lineage: p.lineage,
                mock: f(p.mock)?,
            }),
            Reply::Status(s) => Reply::Status(s),
            Reply::Requests(r) => Reply::Requests(r),
            Reply::Request(r) => Reply::Request(r),
            Reply::Review(r) => {
                let r = *r;
                Reply::Review(Box::new(ReviewView {
                    request: r.request,
                    steps: r.steps,
                    mock: r.mock.map(&mut f).transpose()?,
                    real: match r.real {
                        Some(Ok(d)) => Some(Ok(f(d)?)),
                        Some(Err(e)) => Some(Err(e)),
                        None => None,
                    },
                    code: r.code.map(|c| c.try_map_mock(&mut f)).transpose()?,
                    isolated: r.isolated,
                    budgets: r.budgets,
                    checks: r.checks,
                }))
            }
            Reply::Data(d) => Reply::Data(f(d)?),
            Reply::Code(c) => Reply::Code(c.try_map_mock(&mut f)?),
            Reply::PrivateRun(r) => Reply::PrivateRun(match r {
                Ok(d) => Ok(f(d)?),
                Err(e) => Err(e),
            }),
            Reply::Budget(b) => Reply::Budget(b),
            Reply::Budgets(b) => Reply::Budgets(b),
            Reply::DpPlan(p) => Reply::DpPlan(p),
            Reply::DpRelease(r) => Reply::DpRelease(r),
            Reply::Rules(r) => Reply::Rules(r),
            Reply::Receipt(r) => Reply::Receipt(r),
            Reply::Verification(v) => Reply::Verification(v),
        })
    }

    /// The variant's name, e.g. `request`, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Reply::Done => "done",
            Reply::User(_) => "user",
            Reply::Users(_) => "users",
            Reply::Audit(_) => "audit",
            Reply::Datasets(_) => "datasets",
            Reply::Dataset(_) => "dataset",
            Reply::Pointer(_) => "pointer",
            Reply::Status(_) => "status",
            Reply::Requests(_) => "requests",
            Reply::Request(_) => "request",
            Reply::Review(_) => "review",
            Reply::Data(_) => "data",
            Reply::Code(_) => "code",
            Reply::PrivateRun(_) => "private_run",
            Reply::Budget(_) => "budget",
            Reply::Budgets(_) => "budgets",
            Reply::DpPlan(_) => "dp_plan",
            Reply::DpRelease(_) => "dp_release",
            Reply::Rules(_) => "rules",
            Reply::Receipt(_) => "receipt",
            Reply::Verification(_) => "verification",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_keep_their_wire_form() {
        // Every transport sends these; changing the form needs a new API_VERSION.
        let deny = Call::Deny {
            request: "ab12".into(),
            reason: "too few rows".into(),
        };
        let wire = serde_json::to_value(&deny).unwrap();
        assert_eq!(
            wire,
            serde_json::json!({"call": "deny", "request": "ab12", "reason": "too few rows"})
        );
        assert_eq!(serde_json::from_value::<Call>(wire).unwrap(), deny);
        assert_eq!(
            serde_json::from_value::<Call>(serde_json::json!({"call": "requests"})).unwrap(),
            Call::Requests
        );
        assert!(serde_json::from_value::<Call>(serde_json::json!({"call": "steal"})).is_err());
        let reply: Reply<f64> = Reply::PrivateRun(Err("panicked".into()));
        let back: Reply<f64> =
            serde_json::from_value(serde_json::to_value(&reply).unwrap()).unwrap();
        assert_eq!((back.name(), deny.name()), ("private_run", "deny"));
    }

    #[test]
    fn an_upload_names_its_values_by_part_and_gets_exactly_those() {
        use crate::spec::Asset;
        let ds = Dataset::new("D")
            .asset(Asset::new("a").data("real a").mock("mock a"))
            .asset(Asset::new("b").data("real b").no_mock());
        let (named, parts) = into_parts(ds.clone());
        assert_eq!(parts, ["real a", "mock a", "real b"]);
        let call = Call::UploadDataset {
            dataset: named.clone(),
        };
        let wire = serde_json::to_value(&call).unwrap();
        assert_eq!(wire["dataset"]["assets"][0]["data"], 0);
        let Call::UploadDataset { dataset } = serde_json::from_value(wire).unwrap() else {
            panic!("not an upload");
        };
        assert_eq!(from_parts(dataset, parts.clone()).unwrap(), ds);
        let missing = from_parts(named.clone(), parts[..2].to_vec()).unwrap_err();
        assert!(
            missing.contains("part 2") && missing.contains("2 parts"),
            "{missing}"
        );
        let extra = from_parts(named.clone(), [&parts[..], &["x"]].concat()).unwrap_err();
        assert!(extra.contains("part 3"), "{extra}");
        let mut twice = named;
        twice.assets[1].data = Some(Part(0));
        assert!(from_parts(twice, parts).unwrap_err().contains("twice"));
    }

    #[test]
    fn error_kinds_keep_their_names() {
        for kind in ErrorKind::ALL {
            assert_eq!(ErrorKind::parse(kind.as_str()), Some(kind));
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::json!(kind.as_str())
            );
        }
        assert_eq!(ErrorKind::parse("KernelError"), None);
    }

    #[test]
    fn passwords_travel_but_never_print() {
        let call = Call::ChangePassword {
            old: Secret("hunter22".into()),
            new: Secret("correct horse".into()),
        };
        let wire = serde_json::to_string(&call).unwrap();
        assert!(
            wire.contains("hunter22") && wire.contains("correct horse"),
            "{wire}"
        );
        let register = Call::Register {
            user: NewUser::new("Jane", "jane@caltech.edu", "abc123"),
        };
        for shown in [format!("{call:?}"), format!("{register:?}")] {
            for secret in ["hunter22", "correct horse", "abc123"] {
                assert!(!shown.contains(secret), "{shown}");
            }
        }
    }
}
