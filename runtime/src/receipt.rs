//! Release receipts: every released result (an approved pointer's, a code run's, a differentially
//! private release) carries a [`Receipt`] naming what produced it (the datasets' versions, the
//! recorded steps or the code's hash, the inputs, the policy, the checks), who released it, and a
//! digest of the value. The receipt's own digest is written into the audit entry that records the
//! release, inside the same transaction, and each entry's hash covers the one before: a receipt
//! checks out against a log ([`verify`]) only if that entry is unaltered, and so is every entry
//! before it. A scientist verifies hers through the datasite ([`Client::verify_receipt`](crate::Client::verify_receipt)); anyone
//! with the owner's exported log can do it without the datasite.

use rusqlite::{OptionalExtension, Transaction, params};
use sha2::{Digest, Sha256};
use veil_api::disclosure::Check;
pub use veil_api::receipt::{Receipt, Verification};
use veil_api::view::AuditEntry;

use crate::audit;
use crate::dispatch::{Caller, Serve};
use crate::display::{self, Table};
use crate::error::{Error, Result};
use crate::site::SiteCore;
use crate::store::{hex, now_ms};
use crate::users::User;

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
fn mention(digest: &str) -> String {
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

/// Records a release in the audit log with its receipt, inside the releasing transaction, and
/// keeps the receipt: `body` is filled in with the entry it names. `detail` goes before the
/// receipt's digest in the entry.
pub(crate) fn issue(
    tx: &Transaction<'_>,
    body: Receipt,
    user_id: &str,
    (actor, action, subject, detail): (&str, &str, &str, &str),
) -> Result<Receipt> {
    let digest = digest(&body);
    let detail = if detail.is_empty() {
        mention(&digest)
    } else {
        format!("{detail}; {}", mention(&digest))
    };
    let (audit_seq, audit_hash) = audit::record_entry(tx, actor, action, subject, &detail)?;
    let receipt = Receipt {
        audit_seq,
        audit_hash,
        ..body
    };
    tx.execute(
        "INSERT OR IGNORE INTO receipts (digest, request_id, user_id, receipt, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            digest,
            receipt.request,
            user_id,
            serde_json::to_string(&receipt).expect("receipts serialise"),
            now_ms()
        ],
    )
    .map_err(Error::sqlite("keeping a receipt"))?;
    Ok(receipt)
}

impl SiteCore {
    /// A receipt's body for a release by this datasite, now, of a result computed from
    /// `assets`: the fields every release shares; the caller fills in the rest.
    pub(crate) fn receipt_body(&self, assets: &[String]) -> Result<Receipt> {
        Ok(Receipt {
            site: self.name.clone(),
            datasets: self.dataset_versions(assets)?,
            released_at: now_ms(),
            ..Receipt::default()
        })
    }

    /// `name@sha256` of each dataset the assets `asset_ids` belong to, over its assets' names and
    /// stored data: the version a release read.
    pub(crate) fn dataset_versions(&self, asset_ids: &[String]) -> Result<Vec<String>> {
        self.store.read(|conn| {
            let mut out: Vec<String> = Vec::new();
            let mut seen: Vec<String> = Vec::new();
            for asset in asset_ids {
                let (id, name): (String, String) = conn
                    .query_row(
                        "SELECT d.id, d.name FROM assets a JOIN datasets d ON d.id = a.dataset_id WHERE a.id = ?1",
                        [asset],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .map_err(Error::sqlite("reading a dataset"))?;
                // Two assets of one dataset: it is versioned once.
                if seen.contains(&id) {
                    continue;
                }
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT name, data_blob FROM assets WHERE dataset_id = ?1 ORDER BY position",
                    )
                    .map_err(Error::sqlite("reading a dataset"))?;
                let mut h = Sha256::new();
                let rows = stmt
                    .query_map([&id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                    .map_err(Error::sqlite("reading a dataset"))?;
                for row in rows {
                    let (asset, blob) = row.map_err(Error::sqlite("reading a dataset"))?;
                    for part in [asset, blob] {
                        h.update((part.len() as u64).to_le_bytes());
                        h.update(part.as_bytes());
                    }
                }
                out.push(format!("{name}@{}", hex(&h.finalize())));
                seen.push(id);
            }
            Ok(out)
        })
    }

    /// `ops:sha256` of object `id`'s recorded steps: each op and its inputs' positions among the
    /// steps, in the order they are computed, assets by id.
    pub(crate) fn computation(&self, id: &str) -> Result<String> {
        let order = self.graph(id, "writing a receipt")?;
        let mut h = Sha256::new();
        for (_, row) in &order {
            let positions: Vec<usize> = row
                .inputs
                .iter()
                .filter_map(|i| order.iter().position(|(o, _)| o == i))
                .collect();
            let step = serde_json::to_vec(&(&row.op, positions)).expect("ops serialise");
            h.update((step.len() as u64).to_le_bytes());
            h.update(step);
        }
        Ok(format!("ops:{}", hex(&h.finalize())))
    }

    /// The latest receipt of request `id`, for its requester or an owner.
    pub(crate) fn receipt_of(&self, caller: &User, id: &str) -> Result<Receipt> {
        let record = self.request_record(caller, id)?;
        let json: Option<String> = self.store.read(|conn| {
            conn.query_row(
                "SELECT receipt FROM receipts WHERE request_id = ?1 ORDER BY created_at DESC, rowid DESC LIMIT 1",
                [&record.id],
                |r| r.get(0),
            )
            .optional()
            .map_err(Error::sqlite("reading a receipt"))
        })?;
        let json = json.ok_or_else(|| {
            Error::not_found(
                "receipt of request",
                &record.id,
                "a request has one once its result is released: approved, and for code, run",
            )
        })?;
        serde_json::from_str(&json).map_err(|e| Error::corrupt("reading a receipt", e.to_string()))
    }

    /// Checks `receipt` against this datasite's audit log (anyone logged in).
    pub(crate) fn verify_receipt(&self, receipt: &Receipt) -> Result<Verification> {
        let entries = self.store.read(audit::entries)?;
        verify(receipt, &entries)
    }
}

fn receipt_table(r: &Receipt) -> Table {
    let mut t = Table::fields(
        format!("Receipt of a {} release", r.kind),
        [
            ("site", r.site.clone()),
            ("request", r.request.clone().unwrap_or_else(|| "-".into())),
            ("released to", r.requester.clone()),
            ("released by", r.approver.clone()),
            ("datasets", r.datasets.join(", ")),
            ("computation", r.computation.clone()),
            ("inputs", r.inputs.join(", ")),
            ("policy", r.policy.clone()),
            ("checks", r.checks.clone()),
            ("result sha256", r.result.clone()),
            ("released", display::timestamp(r.released_at)),
            ("audit entry", format!("#{} {}", r.audit_seq, r.audit_hash)),
        ],
    );
    t.notes.push(
        "`client.verify_receipt(&receipt)` (or `%receipt ID`) checks it against the audit log"
            .into(),
    );
    t
}

display::render_via_table!(Receipt => receipt_table);

fn verification_table(v: &Verification) -> Table {
    let mut t = Table::fields(
        "Receipt verified",
        [
            ("audit entry", format!("#{}", v.audit_seq)),
            ("entry hash", v.audit_hash.clone()),
            ("receipt digest", v.digest.clone()),
            ("entries checked", v.entries.to_string()),
        ],
    );
    t.notes.push(
        "the entry records this receipt and the hash chain holds from the first entry to the last"
            .into(),
    );
    t
}

display::render_via_table!(Verification => verification_table);

// The calls about receipts, each one service.

impl Serve for veil_api::calls::Receipt {
    fn serve(self, site: &SiteCore, caller: &mut Caller<'_>) -> Result<Receipt> {
        site.receipt_of(caller, &self.request)
    }
}

impl Serve for veil_api::calls::VerifyReceipt {
    fn serve(self, site: &SiteCore, _: &mut Caller<'_>) -> Result<Verification> {
        site.verify_receipt(&self.receipt)
    }
}
