//! The view types: what a datasite tells a client about its records (request statuses and kinds,
//! roles), and the plain specs a client sends (a new user, an output policy). A client shows views; the
//! datasite never takes them back (every call names records by id, and the datasite reads its own),
//! and it validates every spec.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    /// Waiting for an owner's decision.
    Pending,
    /// Approved: its requester may get the result.
    Approved,
    /// Denied, with a reason the requester sees.
    Denied,
    /// Sent back with the changes it needs (the owner's message, which the requester sees); the
    /// requester may submit a new request. Nothing is released.
    ChangesRequested,
}

impl RequestStatus {
    /// `pending`, `approved`, `denied` or `changes_requested`.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Pending => "pending",
            RequestStatus::Approved => "approved",
            RequestStatus::Denied => "denied",
            RequestStatus::ChangesRequested => "changes_requested",
        }
    }

    /// The status named `s` (as [`RequestStatus::as_str`] writes it).
    pub fn parse(s: &str) -> Option<RequestStatus> {
        [
            RequestStatus::Pending,
            RequestStatus::Approved,
            RequestStatus::Denied,
            RequestStatus::ChangesRequested,
        ]
        .into_iter()
        .find(|status| status.as_str() == s)
    }
}

impl fmt::Display for RequestStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    /// A pointer's real result.
    Result,
    /// Running submitted code on the real data.
    Code,
}

/// What a user may do on a datasite.
// Not `#[non_exhaustive]`: the datasite decides on every role, so a new one cannot be added without
// its checks (the vocabulary is versioned by `API_VERSION` instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including changing roles.
    Admin,
    /// Uploads datasets, registers users, reviews requests, reads real data.
    DataOwner,
    /// Browses datasets, works on mocks, submits requests.
    DataScientist,
    /// Browses datasets and mocks only.
    Guest,
}

impl Role {
    /// Whether the role may read real data and manage the datasite (admin or data owner).
    pub fn is_owner(self) -> bool {
        matches!(self, Role::Admin | Role::DataOwner)
    }

    /// `admin`, `data_owner`, `data_scientist` or `guest`: its name on the wire and in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::DataOwner => "data_owner",
            Role::DataScientist => "data_scientist",
            Role::Guest => "guest",
        }
    }

    /// Reads `admin`, `data_owner` (or `owner`), `data_scientist` (or `scientist`) or `guest`, in any
    /// case, with spaces or dashes for underscores.
    pub fn parse(s: &str) -> Option<Role> {
        match s
            .trim()
            .to_ascii_lowercase()
            .replace([' ', '-'], "_")
            .as_str()
        {
            "admin" => Some(Role::Admin),
            "data_owner" | "owner" => Some(Role::DataOwner),
            "data_scientist" | "scientist" => Some(Role::DataScientist),
            "guest" => Some(Role::Guest),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Admin => "an admin",
            Role::DataOwner => "a data owner",
            Role::DataScientist => "a data scientist",
            Role::Guest => "a guest",
        })
    }
}

fn data_scientist() -> Role {
    Role::DataScientist
}

/// A user to register, built like PySyft's `register(name=, email=, password=, institution=,
/// website=)`. The datasite validates every field; the password is never printed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewUser {
    /// Display name.
    pub name: String,
    /// Login email.
    pub email: String,
    /// Initial password.
    pub password: String,
    /// Institution, possibly empty.
    #[serde(default)]
    pub institution: String,
    /// Website, possibly empty.
    #[serde(default)]
    pub website: String,
    /// Role (default: data scientist). Only an admin may create admins.
    #[serde(default = "data_scientist")]
    pub role: Role,
}

impl fmt::Debug for NewUser {
    // Never print the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewUser")
            .field("name", &self.name)
            .field("email", &self.email)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl NewUser {
    /// A data scientist with this name, email and password.
    pub fn new(
        name: impl Into<String>,
        email: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        NewUser {
            name: name.into(),
            email: email.into(),
            password: password.into(),
            institution: String::new(),
            website: String::new(),
            role: Role::DataScientist,
        }
    }

    /// The user's institution.
    pub fn institution(mut self, institution: impl Into<String>) -> Self {
        self.institution = institution.into();
        self
    }

    /// The user's (or institution's) website.
    pub fn website(mut self, website: impl Into<String>) -> Self {
        self.website = website.into();
        self
    }

    /// The role to give (default: data scientist). Only an admin may create admins.
    pub fn role(mut self, role: Role) -> Self {
        self.role = role;
        self
    }
}

/// A request as the datasite reports it to a caller who may see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestView {
    /// Its id.
    pub id: String,
    /// Its number on the datasite (`#3`), in the order requests were made.
    pub number: i64,
    /// A pointer's result or a code run.
    pub kind: RequestKind,
    /// Who asked (their email).
    pub requester: String,
    /// Why.
    pub reason: String,
    /// Where it stands.
    pub status: RequestStatus,
    /// Who decided.
    pub reviewer: Option<String>,
    /// The reason given with a denial.
    pub decision: Option<String>,
    /// When it was asked, ms since the epoch.
    pub created_at: i64,
    /// When it was decided.
    pub decided_at: Option<i64>,
    /// For owners, whether a result request's real side computed (`pending`, `ready` or `failed`);
    /// empty for its requester, who learns nothing about the real side before approval. For a code
    /// request, the function and its runs.
    pub computation: String,
    /// The assets the result derives from, as the datasite names them.
    pub lineage: Vec<String>,
}

/// What an owner reads before deciding; `D` is how data travels (the datasite's own values in
/// process).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewView<D> {
    /// The request.
    pub request: RequestView,
    /// The steps from the assets to the result, in order (for code, its call).
    pub steps: Vec<String>,
    /// The result on the mocks.
    pub mock: Option<D>,
    /// The result on the real data, or why it failed. `None` for code, which runs on the real data
    /// only when an owner asks or approves.
    pub real: Option<Result<D, String>>,
    /// The code, for a code request.
    pub code: Option<crate::code::SubmittedCode<D>>,
    /// Whether the datasite's code runs are jailed.
    pub isolated: bool,
    /// The requester's privacy budgets on the datasets the request reads, with what was spent.
    #[serde(default)]
    pub budgets: Vec<crate::dp::Budget>,
    /// The disclosure checks of what it would release.
    #[serde(default)]
    pub checks: Vec<crate::disclosure::Check>,
}

/// Where a pointer's result stands, for the user holding it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PointerStatus {
    /// Nobody has asked for the real result.
    Private,
    /// A request is waiting for the owner.
    Requested,
    /// The owner approved: `get()` returns the real result.
    Approved,
    /// The owner denied, with this reason.
    Denied(String),
    /// The owner sent the request back with the changes it needs: this message.
    ChangesRequested(String),
}

impl fmt::Display for PointerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PointerStatus::Private => f.write_str("private"),
            PointerStatus::Requested => f.write_str("requested"),
            PointerStatus::Approved => f.write_str("approved"),
            PointerStatus::Denied(reason) => write!(f, "denied: {reason}"),
            PointerStatus::ChangesRequested(message) => write!(f, "changes requested: {message}"),
        }
    }
}

/// A pointer as the datasite reports it: its object's id, the assets it derives from and its value on
/// the mocks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointerView<D> {
    /// The object's id.
    pub id: String,
    /// The assets it derives from (`dataset / asset`), as the datasite names them.
    pub lineage: Vec<String>,
    /// Its value on the mocks.
    pub mock: D,
}

/// A registered user, as the datasite reports it (never with a password or its hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Stable id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Login email (unique, case-insensitive).
    pub email: String,
    /// Role.
    pub role: Role,
    /// Institution, possibly empty.
    pub institution: String,
    /// Website, possibly empty.
    pub website: String,
    /// Registration time, milliseconds since the Unix epoch.
    pub created_at: i64,
}

/// One entry of the datasite's append-only, hash-chained audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the log, from 1.
    pub seq: i64,
    /// When, milliseconds since the Unix epoch.
    pub at: i64,
    /// Who (an email, or `system`).
    pub actor: String,
    /// What, e.g. `login`, `upload_dataset`.
    pub action: String,
    /// To what: an email, a dataset name, an id.
    pub subject: String,
    /// Extra detail (never real data).
    pub detail: String,
    /// Hash of the previous entry.
    pub prev_hash: String,
    /// Hash of this entry.
    pub hash: String,
}

/// Which kind of value data is: a frame, an array, a JSON value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
// Not `#[non_exhaustive]`: the datasite stores and decodes every kind (the vocabulary is versioned).
pub enum DataKind {
    /// A polars data frame.
    Frame,
    /// An array of `f64`.
    ArrayF64,
    /// An array of `i64`.
    ArrayI64,
    /// A JSON value.
    Json,
}

impl DataKind {
    /// How the datasite stores it: `frame`, `array_f64`, `array_i64` or `json`.
    pub fn as_str(self) -> &'static str {
        match self {
            DataKind::Frame => "frame",
            DataKind::ArrayF64 => "array_f64",
            DataKind::ArrayI64 => "array_i64",
            DataKind::Json => "json",
        }
    }

    /// The kind [`DataKind::as_str`] names.
    pub fn parse(s: &str) -> Option<DataKind> {
        [
            DataKind::Frame,
            DataKind::ArrayF64,
            DataKind::ArrayI64,
            DataKind::Json,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

impl fmt::Display for DataKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DataKind::Frame => "DataFrame",
            DataKind::ArrayF64 => "Array<f64>",
            DataKind::ArrayI64 => "Array<i64>",
            DataKind::Json => "value",
        })
    }
}

/// What must agree between an asset's data and its mock: a frame's column names and types, or an array's
/// element type and every dimension but the first (mocks may have a different number of rows).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Schema {
    /// Column names and their polars types, in order.
    Frame {
        /// `(name, dtype)` pairs.
        columns: Vec<(String, String)>,
    },
    /// Element type and trailing dimensions.
    Array {
        /// `f64` or `i64`.
        dtype: String,
        /// Every dimension after the first.
        trailing: Vec<usize>,
    },
    /// A JSON value (results of code requests only).
    Json,
}

impl fmt::Display for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schema::Frame { columns } => {
                let cols: Vec<String> = columns.iter().map(|(n, t)| format!("{n}: {t}")).collect();
                write!(f, "{{{}}}", cols.join(", "))
            }
            Schema::Array { dtype, trailing } => {
                write!(f, "{dtype}[n")?;
                for d in trailing {
                    write!(f, ", {d}")?;
                }
                f.write_str("]")
            }
            Schema::Json => f.write_str("json"),
        }
    }
}

/// Someone credited for a dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contributor {
    /// Name.
    pub name: String,
    /// Email, possibly empty.
    pub email: String,
    /// Role in making the dataset, e.g. "Dataset Creator".
    pub role: String,
}

impl Contributor {
    /// A contributor with a name and email.
    pub fn new(name: impl Into<String>, email: impl Into<String>) -> Self {
        Contributor {
            name: name.into(),
            email: email.into(),
            role: String::new(),
        }
    }

    /// Their role in making the dataset.
    pub fn role(mut self, role: impl Into<String>) -> Self {
        self.role = role.into();
        self
    }
}

impl<N: Into<String>, E: Into<String>> From<(N, E)> for Contributor {
    fn from((name, email): (N, E)) -> Self {
        Contributor::new(name, email)
    }
}

impl<N: Into<String>, E: Into<String>, R: Into<String>> From<(N, E, R)> for Contributor {
    fn from((name, email, role): (N, E, R)) -> Self {
        Contributor::new(name, email).role(role)
    }
}

/// An uploaded asset as the datasite reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetView {
    /// Stable id.
    pub id: String,
    /// Name, unique within its dataset.
    pub name: String,
    /// Name of the dataset it belongs to.
    pub dataset: String,
    /// Description.
    pub description: String,
    /// Frame or array.
    pub kind: DataKind,
    /// What the mock shares with the data.
    pub schema: Schema,
    /// Shape of the real data (rows × columns for frames).
    pub shape: Vec<usize>,
    /// Shape of the mock, if there is one.
    pub mock_shape: Option<Vec<usize>>,
    /// Size of the real data as its number of values × 8 bytes. Not the stored size: how well the
    /// data compresses tells how repetitive its values are, which the shape does not.
    pub data_bytes: u64,
    /// How the mock was made, as the datasite recorded it.
    #[serde(default)]
    pub mock_made: String,
    /// What the mock gives away of the real data, measured at upload: for owners only (empty for
    /// anyone else).
    #[serde(default)]
    pub mock_report: Option<crate::mock::MockReport>,
}

/// An uploaded dataset as the datasite reports it; `A` is how its assets are held (their views on
/// the wire, a client's asset handles once it has them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetView<A = AssetView> {
    /// Stable id.
    pub id: String,
    /// Name, unique on the datasite.
    pub name: String,
    /// Long description.
    pub description: String,
    /// One-line summary.
    pub summary: String,
    /// How to cite it.
    pub citation: String,
    /// Where to read more.
    pub url: String,
    /// Credits.
    pub contributors: Vec<Contributor>,
    /// Email of whoever uploaded it.
    pub uploader: String,
    /// Upload time, milliseconds since the Unix epoch.
    pub created_at: i64,
    /// Its assets, in upload order.
    pub assets: Vec<A>,
}

impl<A> DatasetView<A> {
    /// The same dataset with its assets held another way.
    pub fn map_assets<B>(self, f: impl FnMut(A) -> B) -> DatasetView<B> {
        DatasetView {
            id: self.id,
            name: self.name,
            description: self.description,
            summary: self.summary,
            citation: self.citation,
            url: self.url,
            contributors: self.contributors,
            uploader: self.uploader,
            created_at: self.created_at,
            assets: self.assets.into_iter().map(f).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_read_back_as_written_and_on_the_wire() {
        for status in [
            RequestStatus::Pending,
            RequestStatus::Approved,
            RequestStatus::Denied,
            RequestStatus::ChangesRequested,
        ] {
            assert_eq!(RequestStatus::parse(status.as_str()), Some(status));
            let wire = serde_json::to_string(&status).unwrap();
            assert_eq!(wire, format!("\"{status}\""));
        }
        assert_eq!(RequestStatus::parse("released"), None);
    }
}
