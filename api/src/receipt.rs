//! Release receipts: what a released result was computed from and who released it, tied to the
//! audit log entry that recorded the release, so that a number in a paper can be checked against
//! the owner's hash-chained log by anyone who holds it.

use serde::{Deserialize, Serialize};

/// A released result's receipt. Its digest (SHA-256 of its JSON without the two `audit_` fields)
/// is written into the audit entry that recorded the release; that entry's hash chains to every
/// entry before it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The datasite's name.
    pub site: String,
    /// `result` (a pointer's, approved), `code run N` (approved code) or `dp release`.
    pub kind: String,
    /// The request it released, if one did (a DP release has none).
    pub request: Option<String>,
    /// Who received it (their email).
    pub requester: String,
    /// Who approved it (a DP release: the budget's rule, no person).
    pub approver: String,
    /// Each dataset it read, at the version it read: `name@sha256` of its assets' stored data.
    pub datasets: Vec<String>,
    /// What computed it: `ops:sha256` of the recorded steps, or `code:sha256` of the source.
    pub computation: String,
    /// The inputs it was bound to or read, as the datasite names them.
    pub inputs: Vec<String>,
    /// The output policy, or the privacy spent.
    pub policy: String,
    /// The disclosure checks' outcome at release, and any override's reason.
    pub checks: String,
    /// SHA-256 of the released value as the datasite stores and sends it.
    pub result: String,
    /// When, in milliseconds since the Unix epoch.
    pub released_at: i64,
    /// The audit entry that recorded the release.
    pub audit_seq: i64,
    /// That entry's hash.
    pub audit_hash: String,
}

/// A receipt checked against a datasite's audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    /// The entry that records the release.
    pub audit_seq: i64,
    /// Its hash, as the log holds it.
    pub audit_hash: String,
    /// How many entries of the chain were checked (from the first to the log's last).
    pub entries: i64,
    /// The receipt's digest, found in the entry.
    pub digest: String,
}
