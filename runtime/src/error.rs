//! The one error type of the datasite.
//!
//! Callers branch on the variant; every message says what happened, to what, and what to do next.
//! Messages shown to a scientist never carry real values: they name objects, not their contents.

use std::fmt;

/// A specialised `Result` whose error defaults to [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong when talking to a datasite.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The email is unknown or the password does not match it, from
    /// [`Datasite::login`](crate::Datasite::login). The message does not say which, so it cannot be used to
    /// probe for registered emails.
    #[error(
        "login failed for `{email}`: unknown email or wrong password; check both, or ask the datasite's owner to register you"
    )]
    AuthenticationFailed {
        /// The email that was tried.
        email: String,
    },

    /// The caller's role does not allow the operation, e.g. a scientist calling
    /// [`Client::upload_dataset`](crate::Client::upload_dataset) or
    /// [`SiteAsset::data`](crate::SiteAsset::data).
    #[error("permission denied: {action} needs {needed}, and `{user}` is {role}; {hint}")]
    PermissionDenied {
        /// What was attempted.
        action: String,
        /// Who tried it.
        user: String,
        /// The caller's role.
        role: veil_api::view::Role,
        /// Which roles may do it.
        needed: String,
        /// What the caller can do instead.
        hint: String,
    },

    /// Too many failed logins for this account (or, on a served datasite, from this address).
    #[error("too many failed logins for `{who}`; try again in {retry_secs} s")]
    TooManyAttempts {
        /// The account or address.
        who: String,
        /// Seconds until the next attempt is heard.
        retry_secs: u64,
    },

    /// A session token that is unknown, expired or belongs to a deleted user.
    #[error("session expired or revoked: log in again with `site.login(email, password)`")]
    SessionExpired,

    /// An object looked up by name or id does not exist (or is not visible to the caller).
    #[error("{kind} `{name}` not found; {hint}")]
    NotFound {
        /// The kind of object: "user", "dataset", "asset", ...
        kind: &'static str,
        /// The name or id that was looked up.
        name: String,
        /// Where to look instead.
        hint: String,
    },

    /// An object with that name already exists, from [`Client::register`](crate::Client::register) and
    /// [`Client::upload_dataset`](crate::Client::upload_dataset).
    #[error("{kind} `{name}` already exists; {hint}")]
    AlreadyExists {
        /// The kind of object.
        kind: &'static str,
        /// The clashing name.
        name: String,
        /// What to do instead.
        hint: String,
    },

    /// An argument failed validation: an empty or over-long name, a forbidden character, a malformed email,
    /// a mock whose schema differs from its data.
    #[error("invalid {what}: {problem}; {fix}")]
    InvalidInput {
        /// Which argument.
        what: String,
        /// What is wrong with it.
        problem: String,
        /// How to fix it.
        fix: String,
    },

    /// A result was requested but the owner has not decided yet.
    #[error(
        "request `{id}` is pending: the datasite's owner has not reviewed it yet; try again later"
    )]
    ApprovalPending {
        /// The request id.
        id: String,
    },

    /// The owner denied a request.
    #[error("request `{id}` was denied: {reason}")]
    RequestDenied {
        /// The request id.
        id: String,
        /// The owner's reason.
        reason: String,
    },

    /// An output policy allows no more executions, from [`Request::run`](crate::Request::run).
    #[error("policy exhausted: {0}")]
    PolicyExhausted(String),

    /// A differentially private release would spend more ε than the scientist has left on the
    /// dataset, from [`Pointer::get_dp`](crate::Pointer::get_dp).
    #[error(
        "privacy budget exceeded on `{dataset}`: this release would spend ε = {asked}, and ε = {left} is left; ask for less, or ask the datasite's owner for more"
    )]
    BudgetExceeded {
        /// The dataset whose budget it is.
        dataset: String,
        /// The ε the release asked for.
        asked: f64,
        /// The ε left.
        left: f64,
    },

    /// The code runner itself failed (no Rust toolchain, its dependencies would not build), as opposed
    /// to the submitted code failing, which a [`RunFailure`](crate::runner::RunFailure) reports.
    #[error("code runner: {0}")]
    Runner(String),

    /// The datasite's files could not be read or written.
    #[error("storage error while {context}: {source}")]
    Storage {
        /// What the datasite was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: StorageError,
    },

    /// The datasite's disk is full: what it was writing was not kept, and nothing was lost. Reads,
    /// logins and deletes go on (on a reserve, for a served datasite: `veil serve
    /// --disk-reserve-mib`).
    #[error(
        "the datasite's disk is full: {0} was not kept (nothing else changed); its owner must free space on the disk (delete datasets no longer needed, or grow the disk), then try again"
    )]
    DiskFull(String),

    /// A frame or array could not be encoded, decoded or computed on.
    #[error("data error while {context}: {message}")]
    Data {
        /// What the datasite was doing.
        context: String,
        /// The underlying library's message.
        message: String,
    },

    /// The datasite was closed by [`Datasite::land`](crate::Datasite::land).
    #[error("the datasite `{0}` has landed (closed); launch it again with `Datasite::launch`")]
    Landed(String),

    /// A served datasite's error, as it said it (or why it could not be reached or read, as
    /// [`ErrorKind::Unavailable`](veil_api::call::ErrorKind::Unavailable)).
    #[error("{message}")]
    Remote {
        /// Its kind.
        kind: veil_api::call::ErrorKind,
        /// The message, naming the problem and the fix.
        message: String,
    },
}

/// The lower-level cause of an [`Error::Storage`].
#[derive(Debug)]
#[non_exhaustive]
pub enum StorageError {
    /// SQLite failed.
    Sqlite(rusqlite::Error),
    /// The file system failed.
    Io(std::io::Error),
    /// The database holds something this version cannot read.
    Corrupt(String),
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageError::Sqlite(e) => write!(f, "sqlite: {e}"),
            StorageError::Io(e) => write!(f, "{e}"),
            StorageError::Corrupt(m) => write!(f, "corrupt datasite: {m}"),
        }
    }
}

impl std::error::Error for StorageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StorageError::Sqlite(e) => Some(e),
            StorageError::Io(e) => Some(e),
            StorageError::Corrupt(_) => None,
        }
    }
}

/// Most characters of a caller's input (a name, an id, an email) a message quotes: a megabyte email
/// must not come back as a megabyte error.
pub(crate) const MAX_QUOTED_CHARS: usize = 120;
/// Most characters of a message's problem or fix, which may quote several inputs.
const MAX_PART_CHARS: usize = 600;
/// Most characters of a failure's account a message carries whole: a compiler's errors, what a run
/// printed (a list cut mid-way hid the error that mattered).
const MAX_DETAIL_CHARS: usize = 16_000;

/// `text` cut to `max` characters, marked with `…` where it was cut: how every message quotes a
/// caller's input (the kernel's bridge quotes cells' input the same way).
pub fn clip(text: impl Into<String>, max: usize) -> String {
    let text = text.into();
    match text.char_indices().nth(max.saturating_sub(1)) {
        Some((end, _)) if text.chars().count() > max => format!("{}…", &text[..end]),
        _ => text,
    }
}

impl Error {
    // Every part of a message that may carry a caller's input is cut here, once for all messages.
    pub(crate) fn invalid(
        what: impl Into<String>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Error::InvalidInput {
            what: clip(what, MAX_QUOTED_CHARS),
            problem: clip(problem, MAX_PART_CHARS),
            fix: clip(fix, MAX_PART_CHARS),
        }
    }

    /// [`Error::invalid`] whose problem is a long account of a failure (compiler output, what a
    /// run printed), kept whole up to [`MAX_DETAIL_CHARS`].
    pub(crate) fn failed(
        what: impl Into<String>,
        account: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Error::InvalidInput {
            what: clip(what, MAX_QUOTED_CHARS),
            problem: clip(account, MAX_DETAIL_CHARS),
            fix: clip(fix, MAX_PART_CHARS),
        }
    }

    pub(crate) fn not_found(
        kind: &'static str,
        name: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Error::NotFound {
            kind,
            name: clip(name, MAX_QUOTED_CHARS),
            hint: clip(hint, MAX_PART_CHARS),
        }
    }

    pub(crate) fn login_failed(email: &str) -> Self {
        Error::AuthenticationFailed {
            email: clip(email, MAX_QUOTED_CHARS),
        }
    }

    pub(crate) fn exists(
        kind: &'static str,
        name: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Error::AlreadyExists {
            kind,
            name: clip(name, MAX_QUOTED_CHARS),
            hint: clip(hint, MAX_PART_CHARS),
        }
    }

    pub(crate) fn sqlite(context: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> Self {
        let context = context.into();
        move |source| {
            if source.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) {
                return Error::DiskFull(context);
            }
            Error::Storage {
                context,
                source: StorageError::Sqlite(source),
            }
        }
    }

    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let context = context.into();
        move |source| {
            if is_full(&source) {
                return Error::DiskFull(context);
            }
            Error::Storage {
                context,
                source: StorageError::Io(source),
            }
        }
    }

    pub(crate) fn corrupt(context: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Storage {
            context: context.into(),
            source: StorageError::Corrupt(message.into()),
        }
    }

    pub(crate) fn data(
        context: impl Into<String>,
    ) -> impl FnOnce(polars::error::PolarsError) -> Self {
        let context = context.into();
        move |e| Error::Data {
            context,
            message: e.to_string(),
        }
    }
}

impl Error {
    /// The variant's name, e.g. `PermissionDenied`: what a notebook shows as the error's type.
    pub fn name(&self) -> &'static str {
        self.kind().as_str()
    }

    /// The vocabulary's kind of this error: what a transport carries and a client branches on.
    pub fn kind(&self) -> veil_api::call::ErrorKind {
        use veil_api::call::ErrorKind as K;
        match self {
            Error::AuthenticationFailed { .. } => K::AuthenticationFailed,
            Error::PermissionDenied { .. } => K::PermissionDenied,
            Error::SessionExpired => K::SessionExpired,
            Error::TooManyAttempts { .. } => K::TooManyAttempts,
            Error::NotFound { .. } => K::NotFound,
            Error::AlreadyExists { .. } => K::AlreadyExists,
            Error::InvalidInput { .. } => K::InvalidInput,
            Error::ApprovalPending { .. } => K::ApprovalPending,
            Error::RequestDenied { .. } => K::RequestDenied,
            Error::PolicyExhausted(_) => K::PolicyExhausted,
            Error::BudgetExceeded { .. } => K::BudgetExceeded,
            Error::Runner(_) => K::Runner,
            Error::Storage { .. } => K::Storage,
            Error::Data { .. } => K::Data,
            Error::DiskFull(_) => K::DiskFull,
            Error::Landed(_) => K::Landed,
            Error::Remote { kind, .. } => *kind,
        }
    }
}

/// Whether `e` says the disk (or the user's quota on it) is full.
fn is_full(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::StorageFull
        || e.kind() == std::io::ErrorKind::QuotaExceeded
        || matches!(e.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
}

impl crate::display::Render for Error {
    fn text(&self) -> String {
        format!("{}: {self}", self.name())
    }

    fn html(&self) -> String {
        crate::display::styled(&crate::display::warning_html(&format!(
            "<b>{}</b>: {}",
            self.name(),
            crate::display::escape(&self.to_string())
        )))
    }
}

impl From<veil_api::code::Invalid> for Error {
    fn from(i: veil_api::code::Invalid) -> Error {
        Error::invalid(i.what, i.problem, i.fix)
    }
}
