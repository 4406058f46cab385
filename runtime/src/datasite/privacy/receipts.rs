//! The receipts service: issuing a release's receipt inside the releasing transaction, reading a
//! request's latest one, and checking one against this datasite's audit log (what a receipt is,
//! and its math, are in [`crate::receipt`]).

use rusqlite::{OptionalExtension, Transaction, params};
use sha2::{Digest, Sha256};
use veil_api::receipt::{Receipt, Verification};

use crate::receipt::{digest, mention, verify};

use crate::audit;
use crate::datasite::dispatch::{Caller, Serve};
use crate::datasite::replay::input_positions;
use crate::datasite::site::SiteCore;
use crate::datasite::users::User;
use crate::error::{Error, Result};
use crate::store::{hex, now_ms};

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
        for ((_, row), positions) in order.iter().zip(input_positions(&order)) {
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
