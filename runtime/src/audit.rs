//! The append-only, hash-chained audit log.
//!
//! Every login, registration, upload, deletion and (later) request, decision and release appends one entry
//! in the same transaction as the change it records, so the log and the state never disagree. Each entry's
//! hash covers the previous entry's hash, so editing or deleting an old entry (SQLite triggers refuse both,
//! but someone with the file could bypass them) breaks the chain, which [`verify`] detects.

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::display::{self, Table};
use crate::error::{Error, Result};
use crate::store::{hex, now_ms};

/// The hash before the first entry.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

pub use veil_api::view::AuditEntry;

fn entry_hash(
    prev: &str,
    seq: i64,
    at: i64,
    actor: &str,
    action: &str,
    subject: &str,
    detail: &str,
) -> String {
    let mut h = Sha256::new();
    for part in [
        prev,
        &seq.to_string(),
        &at.to_string(),
        actor,
        action,
        subject,
        detail,
    ] {
        // Length-prefix each field so `("ab", "c")` and `("a", "bc")` hash differently.
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    hex(&h.finalize())
}

/// Appends an entry inside the caller's transaction.
pub(crate) fn record(
    tx: &Transaction<'_>,
    actor: &str,
    action: &str,
    subject: &str,
    detail: &str,
) -> Result<()> {
    record_entry(tx, actor, action, subject, detail).map(|_| ())
}

/// [`record`], returning the new entry's sequence number and hash.
pub(crate) fn record_entry(
    tx: &Transaction<'_>,
    actor: &str,
    action: &str,
    subject: &str,
    detail: &str,
) -> Result<(i64, String)> {
    let last: Option<(i64, String)> = tx
        .prepare_cached("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
        .and_then(|mut stmt| {
            stmt.query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(Error::sqlite("reading the audit log"))?;
    let (seq, prev) = match last {
        Some((seq, hash)) => (seq + 1, hash),
        None => (1, GENESIS.to_string()),
    };
    let at = now_ms();
    let hash = entry_hash(&prev, seq, at, actor, action, subject, detail);
    tx.prepare_cached(
        "INSERT INTO audit (seq, at, actor, action, subject, detail, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .and_then(|mut stmt| stmt.execute(params![seq, at, actor, action, subject, detail, prev, hash]))
    .map_err(Error::sqlite("writing the audit log"))?;
    Ok((seq, hash))
}

/// Reads the whole log, oldest first.
pub(crate) fn entries(conn: &Connection) -> Result<Vec<AuditEntry>> {
    let mut stmt = conn
        .prepare("SELECT seq, at, actor, action, subject, detail, prev_hash, hash FROM audit ORDER BY seq")
        .map_err(Error::sqlite("reading the audit log"))?;
    stmt.query_map([], |r| {
        Ok(AuditEntry {
            seq: r.get(0)?,
            at: r.get(1)?,
            actor: r.get(2)?,
            action: r.get(3)?,
            subject: r.get(4)?,
            detail: r.get(5)?,
            prev_hash: r.get(6)?,
            hash: r.get(7)?,
        })
    })
    .and_then(|rows| rows.collect())
    .map_err(Error::sqlite("reading the audit log"))
}

/// Checks the chain; returns the first broken entry's sequence number as an error.
pub fn verify(entries: &[AuditEntry]) -> Result<()> {
    let mut prev = GENESIS.to_string();
    for (i, e) in entries.iter().enumerate() {
        let expected = entry_hash(
            &prev, e.seq, e.at, &e.actor, &e.action, &e.subject, &e.detail,
        );
        if e.seq != i as i64 + 1 || e.prev_hash != prev || e.hash != expected {
            return Err(Error::corrupt(
                "verifying the audit log",
                format!(
                    "entry {} does not match the chain: the log was edited",
                    e.seq
                ),
            ));
        }
        prev = e.hash.clone();
    }
    Ok(())
}

/// The audit log as shown to an owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditLog(pub Vec<AuditEntry>);

impl AuditLog {
    fn table(&self) -> Table {
        let mut t = Table::new(format!("Audit log ({} entries)", self.0.len()))
            .headers(["#", "when", "actor", "action", "subject", "detail"]);
        for e in &self.0 {
            t.row([
                e.seq.to_string(),
                display::timestamp(e.at),
                e.actor.clone(),
                e.action.clone(),
                e.subject.clone(),
                e.detail.clone(),
            ]);
        }
        match verify(&self.0) {
            Ok(()) => t.notes.push("hash chain verified".into()),
            Err(e) => t.warnings.push(e.to_string()),
        }
        t
    }
}

crate::display::render_via_table!(AuditLog);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn chain_detects_edits_and_triggers_refuse_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), false).unwrap();
        store
            .write("test", |tx| {
                record(tx, "a@x.org", "login", "a@x.org", "")?;
                record(tx, "a@x.org", "upload_dataset", "D", "2 assets")
            })
            .unwrap();
        let mut log = store.read(entries).unwrap();
        assert_eq!(log.len(), 2);
        verify(&log).unwrap();

        log[0].detail = "forged".into();
        let err = verify(&log).unwrap_err();
        assert!(err.to_string().contains("entry 1"), "{err}");

        let err = store
            .write("test", |tx| {
                tx.execute("UPDATE audit SET detail = 'x'", [])
                    .map_err(Error::sqlite("tampering"))
            })
            .unwrap_err();
        assert!(err.to_string().contains("append-only"), "{err}");
        let err = store
            .write("test", |tx| {
                tx.execute("DELETE FROM audit", [])
                    .map_err(Error::sqlite("tampering"))
            })
            .unwrap_err();
        assert!(err.to_string().contains("append-only"), "{err}");
    }
}
