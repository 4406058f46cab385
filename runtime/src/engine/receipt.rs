//! Release receipts: every released result (an approved pointer's, a code run's, a differentially
//! private release) carries a [`Receipt`] naming what produced it (the datasets' versions, the
//! recorded steps or the code's hash, the inputs, the policy, the checks), who released it, and a
//! digest of the value. The receipt's own digest is written into the audit entry that records the
//! release, inside the same transaction, and each entry's hash covers the one before: a receipt
//! checks out against a log ([`verify`]) only if that entry is unaltered, and so is every entry
//! before it. A scientist verifies hers through the datasite (`client.verify_receipt(&receipt)`); anyone
//! with the owner's exported log can do it without the datasite.

use sha2::{Digest, Sha256};
use veil_api::disclosure::Check;
use veil_api::view::AuditEntry;

use crate::audit;
use crate::error::{Error, Result};
use crate::store::hex;

pub use veil_api::receipt::{Receipt, Verification};

/// The receipt's digest: SHA-256 of its JSON with the audit fields cleared (they are filled in
/// after the entry that holds the digest is written).
pub fn digest(receipt: &Receipt) -> String {
    let body = Receipt {
        audit_seq: 0,
        audit_hash: String::new(),
        ..receipt.clone()
    };
    let json = serde_json::to_vec(&body).expect("receipts serialise");
    hex(&Sha256::digest(json))
}

/// The disclosure checks' outcome as a receipt states it, with an override's reason.
pub(crate) fn checks_summary(checks: &[Check], overriding: Option<&str>) -> String {
    let mut out = checks
        .iter()
        .map(|c| format!("{}: {}", c.rule, c.verdict))
        .collect::<Vec<_>>()
        .join(", ");
    if out.is_empty() {
        out = "none applied".into();
    }
    if let Some(why) = overriding {
        out.push_str(&format!("; released over them: {why}"));
    }
    out
}

/// SHA-256 of bytes, in hex: how a receipt names a released value (as the datasite stores it,
/// [`Data::encode`](crate::Data::encode)) and submitted code (its source).
pub fn sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// What an audit entry's detail says of the receipt it records.
pub(crate) fn mention(digest: &str) -> String {
    format!("receipt {digest}")
}

/// Checks `receipt` against a whole audit log (`entries`, oldest first): the chain verifies up to
/// its last entry, the entry the receipt names has the hash it names, and that entry records the
/// receipt's digest. Fails naming the first thing that does not hold.
pub fn verify(receipt: &Receipt, entries: &[AuditEntry]) -> Result<Verification> {
    let broken = |why: String| {
        Error::invalid(
            "receipt",
            why,
            "the receipt or the log was altered: compare both with the datasite's owner",
        )
    };
    audit::verify(entries).map_err(|e| broken(e.to_string()))?;
    let entry = entries
        .iter()
        .find(|e| e.seq == receipt.audit_seq)
        .ok_or_else(|| {
            broken(format!(
                "the log has no entry {}, which the receipt names",
                receipt.audit_seq
            ))
        })?;
    if entry.hash != receipt.audit_hash {
        return Err(broken(format!(
            "entry {}'s hash is not the one the receipt names",
            entry.seq
        )));
    }
    let digest = digest(receipt);
    if !entry.detail.contains(&mention(&digest)) {
        return Err(broken(format!(
            "entry {} does not record this receipt (its digest is {digest}): a field of the receipt was changed",
            entry.seq
        )));
    }
    Ok(Verification {
        audit_seq: entry.seq,
        audit_hash: entry.hash.clone(),
        entries: entries.len() as i64,
        digest,
    })
}
