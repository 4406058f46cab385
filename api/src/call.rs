//! The calls: every operation a client asks of a datasite, as one typed value, and its typed reply.
//!
//! A call names the datasite's records by id (never a client's handle) and carries the arguments the
//! caller chose; the datasite resolves the caller from its session, reads each record, checks the
//! caller against it, and answers with a [`Reply`]. The in-process client sends calls to the
//! datasite's one dispatch (`SiteCore::handle` in `veil`); the kernel's cell bridge is a further
//! transport of the same calls, and the served datasite's HTTP API (`veil serve`, the `veil-server`
//! crate) is another.
//!
//! Each call is declared once, in [`calls`](crate::calls): its request type and the type of its
//! reply ([`DatasiteCall`]), from which its [`Call`] variant, its [`Reply`] variant and its entry
//! in the call table follow. A call is small JSON-able data. The one call that carries frames and arrays, a dataset's upload,
//! names them by [`Part`]: the index of a value sent beside the call (in process, the values
//! themselves; from a cell, the kernel's handles; over HTTP, the parts of a request's body), so
//! every call keeps one form.

use serde::{Deserialize, Serialize};

use crate::access::CallInfo;
use crate::code::SubmittedCode;
use crate::disclosure::Rules;
use crate::dp::{Budget, DpPlan, DpRelease};
use crate::receipt::{Receipt, Verification};
use crate::spec::Dataset;
use crate::view::{
    AuditEntry, DatasetView, PointerStatus, PointerView, RequestView, ReviewView, User,
};

pub use crate::calls::Call;

impl Call {
    /// The call's name, e.g. `approve`, for messages.
    pub fn name(&self) -> &'static str {
        self.info().name
    }
}

/// One datasite call's request type (each struct of [`calls`](crate::calls)): what it answers with
/// and where its entry in the call table is. `impl DatasiteCall for ReleaseDp { type Reply<D> =
/// DpRelease; .. }`: the datasite's service for it returns that type and a client's method reads
/// that type, so a reply of the wrong kind does not build. `D` is how data travels (the datasite's
/// own values in process).
pub trait DatasiteCall: Into<Call> + Sized {
    /// What the datasite answers it with.
    type Reply<D>;

    /// Its entry in [`CALLS`](crate::access::CALLS): name, area, who may make it.
    fn info() -> &'static CallInfo;

    /// The reply as the [`Reply`] a transport carries.
    fn wrap<D>(reply: Self::Reply<D>) -> Reply<D>;

    /// The reply out of the [`Reply`] a transport carried, or the name of the kind it is when it
    /// is of another (a transport's fault: the datasite's answer to this call is always its kind).
    fn unwrap<D>(reply: Reply<D>) -> Result<Self::Reply<D>, &'static str>;
}

/// The reply type a declaration names: `()` for `Done`.
macro_rules! reply_type {
    () => {
        ()
    };
    ($t:ty) => {
        $t
    };
}
pub(crate) use reply_type;

/// A declaration's reply into, or out of, its [`Reply`] variant.
macro_rules! reply_variant {
    (wrap $variant:ident $value:ident) => {{
        let () = $value;
        $crate::call::Reply::$variant
    }};
    (wrap $variant:ident $value:ident, $t:ty) => {
        $crate::call::Reply::$variant($value)
    };
    (unwrap $variant:ident $value:ident) => {
        match $value {
            $crate::call::Reply::$variant => Ok(()),
            other => Err(other.name()),
        }
    };
    (unwrap $variant:ident $value:ident, $t:ty) => {
        match $value {
            $crate::call::Reply::$variant(inner) => Ok(inner),
            other => Err(other.name()),
        }
    };
}
pub(crate) use reply_variant;

/// Declares the calls (see [`calls`](crate::calls)): for each, its struct and [`DatasiteCall`]
/// impl, and for all, [`Call`], [`CALLS`](crate::access::CALLS), [`Call::info`] and
/// `for_each_call!`.
macro_rules! declare_calls {
    ($(
        $(#[$doc:meta])*
        $name:ident $wire:tt { $( $(#[$field_meta:meta])* $field:ident : $field_type:ty ),* $(,)? }
        -> $reply:ident $( ( $reply_type:ty ) )?,
        $area:ident, $who:ident, $usage:literal, [$($method:literal),+ $(,)?], $line:literal;
    )+) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
            pub struct $name {
                $( $(#[$field_meta])* pub $field: $field_type, )*
            }

            impl DatasiteCall for $name {
                type Reply<D> = $crate::call::reply_type!($($reply_type)?);

                fn info() -> &'static CallInfo {
                    &CALLS[Index::$name as usize]
                }

                fn wrap<D>(reply: Self::Reply<D>) -> $crate::call::Reply<D> {
                    $crate::call::reply_variant!(wrap $reply reply $(, $reply_type)?)
                }

                fn unwrap<D>(
                    reply: $crate::call::Reply<D>,
                ) -> ::core::result::Result<Self::Reply<D>, &'static str> {
                    $crate::call::reply_variant!(unwrap $reply reply $(, $reply_type)?)
                }
            }

            impl From<$name> for Call {
                fn from(call: $name) -> Call {
                    Call::$name(call)
                }
            }
        )+

        /// One call to a datasite, made by the caller whose session it comes with: any of the
        /// calls declared in this module, as the one value every transport carries.
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(tag = "call")]
        pub enum Call {
            $(
                $(#[$doc])*
                #[serde(rename = $wire)]
                $name($name),
            )+
        }

        #[derive(Clone, Copy)]
        enum Index {
            $($name,)+
        }

        /// Every call, in the order listings show them within an area.
        pub const CALLS: &[CallInfo] = &[$(CallInfo {
            name: $wire,
            area: Area::$area,
            who: Who::$who,
            usage: $usage,
            methods: &[$($method),+],
            doc: $line,
        },)+];

        impl Call {
            /// Its entry in [`CALLS`]: name, area, who may make it.
            pub fn info(&self) -> &'static CallInfo {
                match self {
                    $(Call::$name(_) => &CALLS[Index::$name as usize],)+
                }
            }
        }

        /// Invokes the macro `$m` with the name of every call, `$m! { Datasets Dataset .. }`: how
        /// a datasite's dispatch matches every [`Call`](crate::call::Call) variant without a list
        /// of its own (a call declared here and not served fails to build).
        #[macro_export]
        macro_rules! for_each_call {
            ($m:ident) => {
                $m! { $($name)+ }
            };
        }
    };
}
pub(crate) use declare_calls;

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
    /// The datasite's disk is full: what the call would have written was not kept (reads go on).
    DiskFull,
}

impl ErrorKind {
    /// Every kind, in declaration order.
    pub const ALL: [ErrorKind; 17] = [
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
        ErrorKind::DiskFull,
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
            ErrorKind::DiskFull => "DiskFull",
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
    use crate::calls;
    use crate::view::NewUser;

    #[test]
    fn calls_keep_their_wire_form() {
        // Every transport sends these; changing the form needs a new API_VERSION.
        let deny = Call::from(calls::Deny {
            request: "ab12".into(),
            reason: "too few rows".into(),
        });
        let wire = serde_json::to_value(&deny).unwrap();
        assert_eq!(
            wire,
            serde_json::json!({"call": "deny", "request": "ab12", "reason": "too few rows"})
        );
        assert_eq!(serde_json::from_value::<Call>(wire).unwrap(), deny);
        assert_eq!(
            serde_json::from_value::<Call>(serde_json::json!({"call": "requests"})).unwrap(),
            Call::Requests(calls::Requests {})
        );
        assert!(serde_json::from_value::<Call>(serde_json::json!({"call": "steal"})).is_err());
        let reply: Reply<f64> = Reply::PrivateRun(Err("panicked".into()));
        let back: Reply<f64> =
            serde_json::from_value(serde_json::to_value(&reply).unwrap()).unwrap();
        assert_eq!((back.name(), deny.name()), ("private_run", "deny"));
    }

    #[test]
    fn a_calls_reply_is_its_declared_kind_and_no_other() {
        // The wire name and the table's are one token of the declaration: each call without
        // fields reads from its name alone and finds its own entry.
        let mut fieldless = Vec::new();
        for info in crate::access::CALLS {
            let wire = serde_json::json!({ "call": info.name });
            if let Ok(call) = serde_json::from_value::<Call>(wire.clone()) {
                assert_eq!(call.info(), info);
                assert_eq!(serde_json::to_value(&call).unwrap(), wire);
                fieldless.push(info.name);
            }
        }
        for name in [
            "audit_log",
            "budgets",
            "datasets",
            "logout",
            "requests",
            "whoami",
        ] {
            assert!(fieldless.contains(&name), "{name}: {fieldless:?}");
        }
        assert!(!fieldless.contains(&"deny"), "{fieldless:?}");
        assert_eq!(calls::Approve::info().name, "approve");
        let budgets: Reply<f64> = calls::Budgets::wrap(Vec::new());
        assert_eq!(budgets.name(), "budgets");
        assert_eq!(calls::Budgets::unwrap(budgets.clone()), Ok(Vec::new()));
        assert_eq!(calls::SetBudget::unwrap(budgets).unwrap_err(), "budgets");
        assert_eq!(
            calls::Whoami::unwrap(Reply::<f64>::Done).unwrap_err(),
            "done"
        );
        assert_eq!(calls::Logout::wrap::<f64>(()), Reply::Done);
        assert_eq!(calls::AssetData::unwrap(Reply::Data(2.0)), Ok(2.0));
        // Optional fields stay off the wire when unset, as before.
        let plain = Call::from(calls::Approve {
            request: "ab12".into(),
            overriding: None,
        });
        assert_eq!(
            serde_json::to_value(&plain).unwrap(),
            serde_json::json!({"call": "approve", "request": "ab12"})
        );
    }

    #[test]
    fn an_upload_names_its_values_by_part_and_gets_exactly_those() {
        use crate::spec::Asset;
        let ds = Dataset::new("D")
            .asset(Asset::new("a").data("real a").mock("mock a"))
            .asset(Asset::new("b").data("real b").no_mock());
        let (named, parts) = into_parts(ds.clone());
        assert_eq!(parts, ["real a", "mock a", "real b"]);
        let call = Call::from(calls::UploadDataset {
            dataset: named.clone(),
        });
        let wire = serde_json::to_value(&call).unwrap();
        assert_eq!(wire["dataset"]["assets"][0]["data"], 0);
        let Call::UploadDataset(calls::UploadDataset { dataset }) =
            serde_json::from_value(wire).unwrap()
        else {
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
        let call = Call::from(calls::ChangePassword {
            old: Secret("hunter22".into()),
            new: Secret("correct horse".into()),
        });
        let wire = serde_json::to_string(&call).unwrap();
        assert!(
            wire.contains("hunter22") && wire.contains("correct horse"),
            "{wire}"
        );
        let register = Call::from(calls::Register {
            user: NewUser::new("Jane", "jane@caltech.edu", "abc123"),
        });
        for shown in [format!("{call:?}"), format!("{register:?}")] {
            for secret in ["hunter22", "correct horse", "abc123"] {
                assert!(!shown.contains(secret), "{shown}");
            }
        }
    }
}
