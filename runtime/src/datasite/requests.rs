//! The requests service, for both kinds of request: a pointer's real result, and a run of submitted
//! code on the real data. Each call names a request by id; the service reads that request's own
//! record (what it asks for, who asked, where it stands) and checks the caller against it.
//!
//! Who sees what: an owner sees every request and, for result requests, whether the real-side
//! computation worked; a requester sees her own requests, never anything that depends on the real
//! data before approval (not whether its replay worked, nor its errors). Results go to the requester
//! only, once approved; nobody decides their own request.

use rusqlite::{OptionalExtension, params};

use crate::audit;
use crate::data::Data;
use crate::datasite::dispatch::{Caller, Serve};
use crate::datasite::privacy::receipts;
use crate::datasite::site::SiteCore;
use crate::datasite::users::{User, denied, require_owner};
use crate::engine::replay::Side;
use crate::error::{Error, Result};
use crate::store::now_ms;
use crate::validate;
use veil_api::receipt::Receipt;

use veil_api::calls;
type SubmittedCode = veil_api::code::SubmittedCode<Data>;
use veil_api::view::{RequestKind, RequestStatus, RequestView, ReviewView};

mod records;

#[cfg(test)]
thread_local! {
    /// Test hook: collect garbage, as another process may at any moment, once an approval has
    /// computed its result and before it records it.
    static COLLECT_BEFORE_RECORDING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

pub(crate) use records::insert;
use records::{Record, parse_status};

impl SiteCore {
    /// Request `id` for an owner: its record, after checking `caller` is one.
    fn owners_record(&self, caller: &User, action: &str, id: &str) -> Result<Record> {
        require_owner(caller, action, "only the datasite's owners review requests")?;
        self.request_record(caller, id)
    }

    /// Everything an owner needs to decide on request `id` (see [`Request::review`]).
    pub(crate) fn review(&self, caller: &User, id: &str) -> Result<ReviewView<Data>> {
        let record = self.owners_record(caller, "reviewing requests", id)?;
        let request = self.request_view(caller, &record.id)?;
        let isolated = self.runner.isolated();
        let budgets = self.budgets_of(&record.requester_id, &request.lineage)?;
        let mut checks = Vec::new();
        let review = match (&record.object_id, &record.code_id) {
            (_, Some(code_id)) => {
                let code = self.submitted_code(code_id)?;
                checks.push(veil_api::disclosure::Check {
                    rule: "individual records".into(),
                    verdict: veil_api::disclosure::Verdict::Review,
                    reason: "code's output is checked as each run releases it: one with rows of the real data is withheld unless you override".into(),
                });
                ReviewView {
                    request,
                    steps: vec![code.call()],
                    mock: code.mock.clone(),
                    real: None,
                    code: Some(code),
                    isolated,
                    budgets,
                    checks,
                }
            }
            (Some(object_id), None) => {
                let real = self.value(Side::Real, object_id);
                if real.is_ok() {
                    checks = self.assess(object_id, &record.requester_id)?.checks;
                }
                ReviewView {
                    request,
                    steps: self.steps(object_id)?,
                    mock: self.value(Side::Mock, object_id).ok().map(|v| (*v).clone()),
                    real: Some(real.map(|v| (*v).clone()).map_err(|e| e.to_string())),
                    code: None,
                    isolated,
                    budgets,
                    checks,
                }
            }
            (None, None) => {
                return Err(Error::corrupt(
                    "reading a request",
                    format!("request {} asks for nothing", record.id),
                ));
            }
        };
        self.store.write("auditing a review", |tx| {
            audit::record(tx, &caller.email, "review", &record.id, "")
        })?;
        Ok(review)
    }

    /// An owner's decision on request `id`: an approval stores a pointer's real result (computed now
    /// if it is not yet) for its requester alone; a denial needs a reason.
    pub(crate) fn decide(
        &self,
        caller: &User,
        id: &str,
        approve: bool,
        reason: &str,
        overriding: Option<&str>,
    ) -> Result<RequestView> {
        let action = if approve {
            "approving requests"
        } else {
            "denying requests"
        };
        let record = self.owners_record(caller, action, id)?;
        let reason = validate::text("denial reason", reason)?;
        if !approve && reason.trim().is_empty() {
            return Err(Error::invalid(
                "denial reason",
                "it is empty",
                "tell the scientist why, so they can ask for something you can release",
            ));
        }
        // What may not be decided is refused before anything is computed (and again in the
        // transaction, for two owners deciding at once).
        decidable(&record, record.status, approve, overriding)?;
        if record.requester_id == caller.id {
            return Err(denied(
                caller,
                "deciding your own request",
                "another owner",
                "ask another owner or admin to review it",
            ));
        }
        // The two-person rule counts approvals of a pending request; an override of an approved
        // code request's withheld run is one owner's decision on a release already agreed.
        let needed = if approve && record.status == RequestStatus::Pending {
            self.approvals_needed(&record)?
        } else {
            1
        };
        if needed > 1 {
            let earlier = self.approvals_of(&record.id)?;
            if earlier.iter().any(|(owner, _)| *owner == caller.id) {
                return Err(Error::invalid(
                    format!("approval of request {}", record.id),
                    "you approved it already, and its dataset needs approvals from two different owners",
                    "ask another owner to review and approve it",
                ));
            }
            if earlier.len() + 1 < needed as usize {
                return self.approve_in_part(caller, &record, overriding, needed, earlier);
            }
        }
        let result = match (&record.object_id, record.kind(), approve) {
            (Some(object_id), RequestKind::Result, true) => {
                let (real, assessed) = self.approvable(&record, object_id, overriding)?;
                let checks = &assessed.checks;
                let real = assessed.released(&real)?;
                // Named now for the receipt, written under the write lock below: a blob written
                // before it could be collected as garbage before its row names it.
                let encoded = real.encode()?;
                let blob = crate::store::blob_hash(&encoded);
                let view = self.request_view(caller, &record.id)?;
                let receipt = Receipt {
                    kind: "result".into(),
                    request: Some(record.id.clone()),
                    requester: view.requester,
                    approver: caller.email.clone(),
                    computation: self.computation(object_id)?,
                    inputs: view.lineage,
                    policy: "the approved result, to its requester only".into(),
                    checks: crate::receipt::checks_summary(checks, overriding),
                    result: blob,
                    ..self.receipt_body(&assessed.assets)?
                };
                Some((encoded, real.kind(), receipt, object_id.clone(), assessed))
            }
            // Code runs when its requester asks for the result, under its output policy.
            _ => None,
        };
        #[cfg(test)]
        if COLLECT_BEFORE_RECORDING.with(std::cell::Cell::get) {
            self.store.collect_garbage()?;
        }
        self.store.write("deciding a request", |tx| {
            let status = status_now(tx, &record.id)?;
            decidable(&record, status, approve, overriding)?;
            let overriding_only = status == RequestStatus::Approved;
            let (blob, kind) = match &result {
                Some((encoded, k, ..)) => (Some(self.store.put_blob(encoded)?), Some(k.as_str())),
                None => (None, None),
            };
            if needed > 1 {
                record_approval(tx, &record.id, caller, overriding)?;
            }
            if let Some(why) = overriding {
                tx.execute(
                    "UPDATE requests SET overriding = ?2 WHERE id = ?1",
                    params![record.id, why],
                )
                .map_err(Error::sqlite("recording an override"))?;
                audit::record(tx, &caller.email, "override", &record.id, why)?;
                if overriding_only {
                    return Ok(());
                }
            }
            let decided = if approve {
                RequestStatus::Approved
            } else {
                RequestStatus::Denied
            };
            tx.execute(
                "UPDATE requests SET status = ?2, reviewer = ?3, decision = ?4, result_blob = ?5,
                 result_kind = ?6, decided_at = ?7 WHERE id = ?1",
                params![
                    record.id,
                    decided.as_str(),
                    caller.email,
                    reason,
                    blob,
                    kind,
                    now_ms()
                ],
            )
            .map_err(Error::sqlite("deciding a request"))?;
            let entry = (
                caller.email.as_str(),
                if approve { "approve" } else { "deny" },
                record.id.as_str(),
                reason.as_str(),
            );
            match &result {
                // The release's receipt is recorded by the entry that approves it.
                Some((_, _, body, object_id, assessed)) => {
                    let requester = body.requester.as_str();
                    crate::datasite::privacy::disclosure::record_release(
                        tx,
                        &record.id,
                        object_id,
                        (&record.requester_id, requester),
                        assessed,
                    )?;
                    receipts::issue(tx, body.clone(), &record.requester_id, entry).map(drop)
                }
                None => audit::record(tx, entry.0, entry.1, entry.2, entry.3),
            }
        })?;
        self.request_view(caller, &record.id)
    }
}

impl SiteCore {
    /// How many different owners must approve request `record` (its datasets' rules: 2 under the
    /// two-person rule).
    fn approvals_needed(&self, record: &Record) -> Result<u64> {
        let assets = match (&record.object_id, &record.code_id) {
            (Some(object_id), _) => self.assets_under(object_id)?,
            (None, Some(code_id)) => self.submitted_code(code_id)?.asset_ids(),
            (None, None) => Vec::new(),
        };
        if assets.is_empty() {
            return Ok(1);
        }
        Ok(self.rules_for(&assets)?.approvals.max(1))
    }

    /// Result request `record`'s real value (object `object_id`) and what releasing it would
    /// disclose, if an approval may release it: it computed, and its checks pass or are overridden.
    fn approvable(
        &self,
        record: &Record,
        object_id: &str,
        overriding: Option<&str>,
    ) -> Result<(
        std::sync::Arc<Data>,
        crate::datasite::privacy::disclosure::Assessed,
    )> {
        let real = self.value(Side::Real, object_id).map_err(|e| {
            Error::invalid(
                format!("request {}", record.id),
                format!("its result failed on the real data: {e}"),
                "deny it with a reason so the scientist can fix the computation",
            )
        })?;
        let assessed = self.assess(object_id, &record.requester_id)?;
        if veil_api::disclosure::fails(&assessed.checks) && overriding.is_none() {
            return Err(failing(&record.id, &assessed.checks));
        }
        Ok((real, assessed))
    }

    /// The owners (id, email) who approved request `id` so far, under the two-person rule.
    fn approvals_of(&self, id: &str) -> Result<Vec<(String, String)>> {
        self.store.read(|conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT owner_id, email FROM approvals WHERE request_id = ?1 ORDER BY created_at",
                )
                .map_err(Error::sqlite("reading approvals"))?;
            stmt.query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))
                .and_then(|rows| rows.collect())
                .map_err(Error::sqlite("reading approvals"))
        })
    }

    /// An approval that is not yet enough (the two-person rule): recorded, the request left
    /// pending with who approved in its decision, nothing released. A result's checks must pass
    /// (or be overridden) for it as for the last.
    fn approve_in_part(
        &self,
        caller: &User,
        record: &Record,
        overriding: Option<&str>,
        needed: u64,
        earlier: Vec<(String, String)>,
    ) -> Result<RequestView> {
        if let Some(object_id) = &record.object_id {
            self.approvable(record, object_id, overriding)?;
        }
        let mut by: Vec<String> = earlier.into_iter().map(|(_, email)| email).collect();
        by.push(caller.email.clone());
        let note = format!(
            "approved by {} ({} of {needed} approvals)",
            by.join(", "),
            by.len()
        );
        self.store.write("approving a request in part", |tx| {
            decidable(record, status_now(tx, &record.id)?, true, overriding)?;
            record_approval(tx, &record.id, caller, overriding)?;
            tx.execute(
                "UPDATE requests SET decision = ?2 WHERE id = ?1",
                params![record.id, note],
            )
            .map_err(Error::sqlite("approving a request in part"))?;
            audit::record(tx, &caller.email, "approve_in_part", &record.id, &note)
        })?;
        self.request_view(caller, &record.id)
    }

    /// An owner's third outcome: request `id` goes back to its requester with `message`, the
    /// changes it needs. Final for this request; nothing is released.
    pub(crate) fn request_changes(
        &self,
        caller: &User,
        id: &str,
        message: &str,
    ) -> Result<RequestView> {
        let record = self.owners_record(caller, "requesting changes", id)?;
        let message = validate::text("message", message)?;
        if message.trim().is_empty() {
            return Err(Error::invalid(
                "message",
                "it is empty",
                "say what the scientist should change, so they can submit a request you can approve",
            ));
        }
        if record.requester_id == caller.id {
            return Err(denied(
                caller,
                "reviewing your own request",
                "another owner",
                "ask another owner or admin to review it",
            ));
        }
        self.store.write("requesting changes", |tx| {
            decidable(&record, status_now(tx, &record.id)?, false, None)?;
            tx.execute(
                "UPDATE requests SET status = ?2, reviewer = ?3, decision = ?4, decided_at = ?5
                 WHERE id = ?1",
                params![
                    record.id,
                    RequestStatus::ChangesRequested.as_str(),
                    caller.email,
                    message,
                    now_ms()
                ],
            )
            .map_err(Error::sqlite("requesting changes"))?;
            audit::record(tx, &caller.email, "request_changes", &record.id, &message)
        })?;
        self.request_view(caller, &record.id)
    }
}

/// Where request `id` stands, read again inside a deciding transaction: two owners deciding at
/// once get one decision.
fn status_now(tx: &rusqlite::Transaction<'_>, id: &str) -> Result<RequestStatus> {
    let status: String = tx
        .query_row("SELECT status FROM requests WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .map_err(Error::sqlite("reading a request"))?;
    parse_status(&status)
}

/// Records `owner`'s approval of request `id` (the two-person rule counts them).
fn record_approval(
    tx: &rusqlite::Transaction<'_>,
    id: &str,
    owner: &User,
    overriding: Option<&str>,
) -> Result<()> {
    tx.execute(
        "INSERT INTO approvals (request_id, owner_id, email, overriding, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id, owner.id, owner.email, overriding, now_ms()],
    )
    .map_err(Error::sqlite("recording an approval"))?;
    Ok(())
}

/// Ok if `record`, standing at `status`, may be decided: a pending request, or an approved code
/// request given an override (an owner may release runs whose output a check withheld).
fn decidable(
    record: &Record,
    status: RequestStatus,
    approve: bool,
    overriding: Option<&str>,
) -> Result<()> {
    let overriding_only = approve
        && overriding.is_some()
        && record.code_id.is_some()
        && status == RequestStatus::Approved;
    if status != RequestStatus::Pending && !overriding_only {
        return Err(Error::invalid(
            format!("request {}", record.id),
            format!("it is already {status}"),
            "a decision is final; the scientist can submit a new request",
        ));
    }
    Ok(())
}

/// The refusal of an approval a disclosure check fails, naming each failure.
fn failing(id: &str, checks: &[veil_api::disclosure::Check]) -> Error {
    let failed: Vec<String> = checks
        .iter()
        .filter(|c| c.verdict == veil_api::disclosure::Verdict::Fail)
        .map(|c| format!("{} ({})", c.rule, c.reason))
        .collect();
    Error::invalid(
        format!("approval of request {id}"),
        format!("its result fails disclosure checks: {}", failed.join("; ")),
        "deny it with a reason, or approve it with an override saying why it may be released (`request.approve_overriding(reason)`, `%approve ID --override REASON`)",
    )
}

// The calls about requests, each one service.

impl Serve for calls::Requests {
    fn serve(self, site: &SiteCore, caller: &mut Caller<'_>) -> Result<Vec<RequestView>> {
        site.requests(caller)
    }
}

impl Serve for calls::FindRequest {
    fn serve(self, site: &SiteCore, caller: &mut Caller<'_>) -> Result<RequestView> {
        site.find_request(caller, &self.key)
    }
}

impl Serve for calls::Review {
    fn serve(self, site: &SiteCore, caller: &mut Caller<'_>) -> Result<Box<ReviewView<Data>>> {
        site.review(caller, &self.request).map(Box::new)
    }
}

/// The released result, for its requester (see [`Request::get`]).
impl Serve for calls::Result {
    fn serve(self, site: &SiteCore, caller: &mut Caller<'_>) -> Result<Data> {
        site.floored(|| {
            let record = site.request_record(caller, &self.request)?;
            site.released(caller, &record)
        })
    }
}

/// A further run of approved code, for its requester (see [`Request::run`]).
impl Serve for calls::Run {
    fn serve(self, site: &SiteCore, caller: &mut Caller<'_>) -> Result<Data> {
        site.floored(|| {
            let record = site.request_record(caller, &self.request)?;
            let code_id = record.code_id()?;
            site.releasable(caller, &record)?;
            site.code_result(caller, &record.id, code_id, true)
        })
    }
}

/// The submitted code, for its requester and owners.
impl Serve for calls::Code {
    fn serve(self, site: &SiteCore, caller: &mut Caller<'_>) -> Result<SubmittedCode> {
        let record = site.request_record(caller, &self.request)?;
        site.submitted_code(record.code_id()?)
    }
}

/// An owner's private run of a code request on the real data.
impl Serve for calls::RunPrivately {
    fn serve(
        self,
        site: &SiteCore,
        caller: &mut Caller<'_>,
    ) -> Result<std::result::Result<Data, String>> {
        let record = site.owners_record(
            caller,
            "running code on real data before deciding",
            &self.request,
        )?;
        let code = site.submitted_code(record.code_id()?)?;
        site.store.write("auditing a private run", |tx| {
            audit::record(tx, &caller.email, "run_privately", &record.id, "")
        })?;
        site.run_privately(&code)
    }
}

/// An owner's approval, `overriding` the disclosure checks with a reason.
impl Serve for calls::Approve {
    fn serve(self, site: &SiteCore, caller: &mut Caller<'_>) -> Result<RequestView> {
        let overriding = match self.overriding {
            None => None,
            Some(reason) => {
                let reason = validate::text("override reason", &reason)?;
                if reason.trim().is_empty() {
                    return Err(Error::invalid(
                        "override reason",
                        "it is empty",
                        "say why this result may be released although a check fails",
                    ));
                }
                Some(reason)
            }
        };
        site.decide(caller, &self.request, true, "", overriding.as_deref())
    }
}

impl Serve for calls::Deny {
    fn serve(self, site: &SiteCore, caller: &mut Caller<'_>) -> Result<RequestView> {
        let denied = site.decide(caller, &self.request, false, &self.reason, None)?;
        site.prune_compiled();
        Ok(denied)
    }
}

impl Serve for calls::RequestChanges {
    fn serve(self, site: &SiteCore, caller: &mut Caller<'_>) -> Result<RequestView> {
        let sent_back = site.request_changes(caller, &self.request, &self.message)?;
        site.prune_compiled();
        Ok(sent_back)
    }
}

#[cfg(test)]
mod tests {
    use super::COLLECT_BEFORE_RECORDING;
    use crate::{Asset, Dataset, LaunchOptions, NewUser};
    use ndarray::array;

    #[test]
    fn garbage_collected_while_an_approval_is_recorded_keeps_its_result() {
        let tmp = tempfile::tempdir().unwrap();
        let site = LaunchOptions::new("t")
            .dir(tmp.path())
            .reset(true)
            .launch()
            .unwrap();
        let owner = site.login("info@openmined.org", "changethis").unwrap();
        owner
            .upload_dataset(
                Dataset::new("trial").asset(
                    Asset::new("doses")
                        .data(array![1.0, 2.0, 4.0])
                        .mock(array![1.0, 1.0, 1.0]),
                ),
            )
            .unwrap();
        owner
            .register(NewUser::new("Jane Doe", "jane@caltech.edu", "abc123"))
            .unwrap();
        let jane = site.login("jane@caltech.edu", "abc123").unwrap();
        let total = jane
            .dataset("trial")
            .unwrap()
            .asset("doses")
            .unwrap()
            .pointer()
            .unwrap()
            .sum()
            .unwrap();
        let request = total.request("the total").unwrap();
        COLLECT_BEFORE_RECORDING.with(|c| c.set(true));
        let approved = owner
            .request(&request.id)
            .unwrap()
            .approve_overriding("three values");
        COLLECT_BEFORE_RECORDING.with(|c| c.set(false));
        approved.unwrap();
        // The released value's blob was written under the lock collection takes, not before it.
        let got = total.get().unwrap();
        assert_eq!(got.as_f64().unwrap().iter().sum::<f64>(), 7.0);
    }
}
