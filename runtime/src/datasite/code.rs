//! The code service: a whole analysis as one Rust function, run on the real data once an owner
//! approves.
//!
//! PySyft's `@syft_function(input_policy=ExactMatch(..), output_policy=SingleExecution())`, in Rust. A
//! scientist writes a function ([`Code`](crate::Code)), binds its parameters to assets and
//! owner-approved constants ([`ExactMatch`](crate::ExactMatch)), picks an
//! [`OutputPolicy`](crate::OutputPolicy), tries it on the mocks and submits it with
//! [`Client::request_code_execution`](crate::Client::request_code_execution). The owner reads the source, the bindings, the
//! policy and the mock result in the request's review, may run it on the real data privately
//! ([`Request::run_privately`](crate::Request::run_privately)), and approves or denies. The requester then gets the real result with
//! [`Request::get`](crate::Request::get).
//!
//! The datasite compiles and runs the function with the [code runner](crate::runner): a child process that
//! receives only its bound inputs, under time and memory limits, without network where the OS allows.
//!
//! Output policies are enforced here, in SQLite transactions: an execution is *claimed* (the run
//! counter checked and incremented) in one write-locked transaction before the code runs, so
//! `SingleExecution` runs exactly once however many callers race, in this process or another; the
//! callers that lost the race wait for the winner's result. A failed run counts too, so a scientist
//! cannot probe the real data by resubmitting runs until one happens to pass.

use std::time::{Duration, Instant};

use rusqlite::{OptionalExtension, params};
use sha2::{Digest, Sha256};

use crate::audit;
use crate::data::Data;
use crate::datasite::dispatch::{Caller, Serve};
use crate::datasite::privacy::receipts;
use crate::datasite::site::SiteCore;
use crate::datasite::users::User;
use crate::engine::replay::Side;
use crate::error::{Error, Result};
use crate::runner::{self, RunFailure, RunInput, Signature};
use crate::store::{hex, now_ms};
use crate::validate;
use veil_api::code::{CodeSpec, Input, OutputPolicy};
use veil_api::receipt::Receipt;
use veil_api::view::RequestView;

/// Largest function source accepted, in bytes.
pub const MAX_SOURCE_BYTES: usize = 256 * 1024;
/// Largest constant a code request binds, as JSON text.
pub const MAX_CONSTANT_BYTES: usize = 64 * 1024;

mod function;

use function::mock_failure;

/// A submitted function as the datasite keeps it, with its mock result.
type SubmittedCode = veil_api::code::SubmittedCode<Data>;

/// One run of approved code on the real data.
struct Execution {
    status: String,
    blob: Option<String>,
    kind: Option<String>,
    public_error: Option<String>,
    started_at: i64,
}

/// The columns [`Execution::from_row`] reads, after the run's number.
const EXECUTION: &str =
    "SELECT seq, status, result_blob, result_kind, public_error, started_at FROM executions";

impl Execution {
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Execution> {
        Ok(Execution {
            status: r.get(1)?,
            blob: r.get(2)?,
            kind: r.get(3)?,
            public_error: r.get(4)?,
            started_at: r.get(5)?,
        })
    }
}

/// How long a run may stay `running` before it is taken for one a crash interrupted.
fn stale_after(limits: &runner::Limits) -> Duration {
    limits.wall + Duration::from_secs(600)
}

impl SiteCore {
    /// Ok if submitted code may run here: jailed, or unjailed because the owner said so at launch.
    /// Unjailed, a run could read every file of the datasite (the real data too), so by default
    /// nothing runs, not even on the mocks.
    pub(crate) fn may_run_code(&self) -> Result<()> {
        jail_required(self.runner.isolated(), self.allow_unjailed_code)
    }

    /// Compiles (if needed) and runs `source` on one side of its inputs.
    fn run_code(
        &self,
        source: &str,
        sig: &Signature,
        inputs: &[Input],
        side: Side,
    ) -> Result<std::result::Result<Data, RunFailure>> {
        self.may_run_code()?;
        let mut run_inputs = Vec::with_capacity(inputs.len());
        for input in inputs {
            run_inputs.push(match input {
                Input::Asset { asset_id, .. } => RunInput::Data(self.asset_value(side, asset_id)?),
                Input::Constant { value, .. } => RunInput::Constant(value.clone()),
            });
        }
        self.runner.run(source, sig, run_inputs, &self.code_limits)
    }

    pub(crate) fn submitted_code(&self, code_id: &str) -> Result<SubmittedCode> {
        type Row = (
            String,
            String,
            String,
            String,
            u32,
            Option<String>,
            Option<String>,
        );
        let row: Option<Row> = self.store.read(|conn| {
            conn.query_row(
                "SELECT source, signature, inputs, policy, runs, mock_blob, mock_kind
                     FROM code WHERE id = ?1",
                [code_id],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                    ))
                },
            )
            .optional()
            .map_err(Error::sqlite("reading a code request"))
        })?;
        let Some((source, signature, inputs, policy, runs, mock_blob, mock_kind)) = row else {
            return Err(Error::not_found(
                "code",
                code_id,
                "list requests with `client.requests()`",
            ));
        };
        let corrupt = |what: &str, e: serde_json::Error| {
            Error::corrupt(
                "reading a code request",
                format!("code {code_id}: bad {what}: {e}"),
            )
        };
        let mock = match (mock_blob, mock_kind) {
            (Some(blob), Some(kind)) => Some(Data::decode(
                crate::data::parse_kind(&kind)?,
                &self.store.get_blob(&blob)?,
            )?),
            _ => None,
        };
        Ok(SubmittedCode {
            id: code_id.to_string(),
            source,
            signature: serde_json::from_str(&signature).map_err(|e| corrupt("signature", e))?,
            inputs: serde_json::from_str(&inputs).map_err(|e| corrupt("inputs", e))?,
            policy: serde_json::from_str(&policy).map_err(|e| corrupt("policy", e))?,
            runs,
            mock,
        })
    }

    fn latest_execution(&self, code_id: &str) -> Result<Option<(u32, Execution)>> {
        self.store.read(|conn| {
            conn.query_row(
                &format!("{EXECUTION} WHERE code_id = ?1 ORDER BY seq DESC LIMIT 1"),
                [code_id],
                |r| Ok((r.get(0)?, Execution::from_row(r)?)),
            )
            .optional()
            .map_err(Error::sqlite("reading an execution"))
        })
    }

    fn execution(&self, code_id: &str, seq: u32) -> Result<Execution> {
        self.store.read(|conn| {
            conn.query_row(
                &format!("{EXECUTION} WHERE code_id = ?1 AND seq = ?2"),
                params![code_id, seq],
                Execution::from_row,
            )
            .map_err(Error::sqlite("reading an execution"))
        })
    }

    /// Claims the next run if the policy has one left (and, if `first_only`, only if the code never
    /// ran): one write-locked transaction, so two callers can never both claim the last run, nor two
    /// `.get()`s the first. Returns its number, or `None` if there is none to claim.
    fn claim_run(
        &self,
        caller: &User,
        request_id: &str,
        code_id: &str,
        first_only: bool,
    ) -> Result<Option<u32>> {
        self.store.write("claiming a run of approved code", |tx| {
            let (runs, policy): (u32, String) = tx
                .query_row(
                    "SELECT runs, policy FROM code WHERE id = ?1",
                    [code_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(Error::sqlite("reading a code request"))?;
            let policy: OutputPolicy = serde_json::from_str(&policy).map_err(|e| {
                Error::corrupt("reading a code request", format!("bad policy: {e}"))
            })?;
            if runs >= policy.max_runs() || (first_only && runs > 0) {
                return Ok(None);
            }
            let seq = runs + 1;
            tx.execute(
                "UPDATE code SET runs = ?2 WHERE id = ?1",
                params![code_id, seq],
            )
            .map_err(Error::sqlite("counting a run"))?;
            tx.execute(
                "INSERT INTO executions (code_id, seq, status, started_at) VALUES (?1, ?2, 'running', ?3)",
                params![code_id, seq, now_ms()],
            )
            .map_err(Error::sqlite("recording a run"))?;
            audit::record(tx, &caller.email, "execute", request_id, &format!("run {seq}"))?;
            Ok(Some(seq))
        })
    }

    /// Runs claimed execution `seq` on the real data and stores its outcome. Whatever happens, the
    /// execution ends `ready` or `failed`, so callers waiting on it are released.
    fn execute(&self, code: &SubmittedCode, seq: u32) -> Result<()> {
        let cannot = |e: Error| {
            (
                e.to_string(),
                "the datasite could not run the code; the owner sees why".to_string(),
            )
        };
        let outcome = match self.run_code(&code.source, &code.signature, &code.inputs, Side::Real) {
            Ok(Ok(data)) => data
                .encode()
                .map(|bytes| (bytes, data.kind()))
                .map_err(cannot),
            Ok(Err(f)) => Err((f.detail, f.public)),
            Err(e) => Err(cannot(e)),
        };
        let record = |tx: &rusqlite::Transaction<'_>,
                      status: &str,
                      blob: Option<String>,
                      kind: Option<&str>,
                      errors: Option<(String, String)>| {
            let (error, public) = errors.unzip();
            tx.execute(
                "UPDATE executions SET status = ?3, result_blob = ?4, result_kind = ?5, error = ?6,
                 public_error = ?7, finished_at = ?8 WHERE code_id = ?1 AND seq = ?2",
                params![code.id, seq, status, blob, kind, error, public, now_ms()],
            )
            .map_err(Error::sqlite("recording a run's result"))?;
            audit::record(
                tx,
                "system",
                "executed",
                &code.id,
                &format!("run {seq}: {status}"),
            )
        };
        let stored = self
            .store
            .write("recording a run's result", |tx| match &outcome {
                // The blob is written inside the transaction, so garbage collection cannot race it.
                Ok((bytes, kind)) => {
                    let blob = self.store.put_blob(bytes)?;
                    record(tx, "ready", Some(blob), Some(kind.as_str()), None)
                }
                Err(errors) => record(tx, "failed", None, None, Some(errors.clone())),
            });
        match stored {
            Ok(()) => Ok(()),
            Err(e) => self.store.write("recording a failed run", |tx| {
                record(tx, "failed", None, None, Some(cannot(e)))
            }),
        }
    }

    /// The result of a run for `caller`: with `fresh`, of a new run it claims (if the policy has one
    /// left); else of the latest run, running the code first if it never ran. A caller that claims a
    /// run gets that run's result, however many run at once; callers that lose the race for the first
    /// run wait for the winner's.
    pub(crate) fn code_result(
        &self,
        caller: &User,
        request_id: &str,
        code_id: &str,
        fresh: bool,
    ) -> Result<Data> {
        // Refused before a run is claimed, so a datasite that may not run code uses up no run.
        self.may_run_code()?;
        let mut lost_race = false;
        let start = Instant::now();
        loop {
            let latest = self.latest_execution(code_id)?;
            if !fresh
                && let Some((seq, e)) = &latest
                && e.status == "running"
            {
                let age = Duration::from_millis((now_ms() - e.started_at).max(0) as u64);
                if age > stale_after(&self.code_limits) {
                    self.mark_interrupted(code_id, *seq)?;
                    continue;
                }
                if start.elapsed() > stale_after(&self.code_limits) {
                    return Err(Error::invalid(
                        "run",
                        "another run of this code is still going",
                        "try `.get()` again later",
                    ));
                }
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            if let (false, Some((seq, _))) = (fresh, &latest) {
                return self.release_run(caller, request_id, code_id, *seq);
            }
            // Built before a run is claimed: a datasite that cannot build (a full disk, a broken
            // toolchain) uses up none of the scientist's runs, and the stale-run clock starts with
            // the run itself. A compile error is the run's own failure, below.
            let code = self.submitted_code(code_id)?;
            let _ = self.runner.build(&code.source, &code.signature)?;
            if let Some(seq) = self.claim_run(caller, request_id, code_id, !fresh)? {
                self.execute(&code, seq)?;
                if seq >= code.policy.max_runs() {
                    self.prune_compiled();
                }
                return self.release_run(caller, request_id, code_id, seq);
            }
            if fresh {
                let code = self.submitted_code(code_id)?;
                return Err(Error::PolicyExhausted(format!(
                    "request {request_id} ran {} of {} times its policy {} allows; `.get()` returns the last result, or submit changed code (the same code, inputs and policy are refused as a duplicate)",
                    code.runs,
                    code.policy.max_runs(),
                    code.policy
                )));
            }
            // Another caller claimed the first run between our read and our claim: wait for it, once.
            if lost_race {
                return Err(Error::PolicyExhausted(format!(
                    "request {request_id} has no runs left and no stored result; submit changed code as a new request"
                )));
            }
            lost_race = true;
        }
    }

    /// Run `seq`'s result, released to `caller` (and audited as such), or why it failed.
    fn release_run(
        &self,
        caller: &User,
        request_id: &str,
        code_id: &str,
        seq: u32,
    ) -> Result<Data> {
        let e = self.execution(code_id, seq)?;
        match (e.status.as_str(), e.blob, e.kind) {
            ("ready", Some(blob), Some(kind)) => {
                let output = Data::decode(
                    crate::data::parse_kind(&kind)?,
                    &self.store.get_blob(&blob)?,
                )?;
                // The output is checked as it is released: rows of the real data are withheld
                // unless the owner overrode.
                let code = self.submitted_code(code_id)?;
                let assets = code.asset_ids();
                let checks = self.check_output(&assets, &output, code.mock.as_ref())?;
                let (overriding, approver): (Option<String>, Option<String>) =
                    self.store.read(|conn| {
                        conn.query_row(
                            "SELECT overriding, reviewer FROM requests WHERE id = ?1",
                            [request_id],
                            |r| Ok((r.get(0)?, r.get(1)?)),
                        )
                        .map_err(Error::sqlite("reading a request"))
                    })?;
                let withheld = veil_api::disclosure::fails(&checks) && overriding.is_none();
                let detail = format!("run {seq}");
                if withheld {
                    self.store.write("auditing a release", |tx| {
                        audit::record(tx, &caller.email, "withheld", request_id, &detail)
                    })?;
                } else {
                    let body = Receipt {
                        kind: format!("code run {seq}"),
                        request: Some(request_id.to_string()),
                        requester: caller.email.clone(),
                        approver: approver.unwrap_or_default(),
                        computation: format!(
                            "code:{}",
                            crate::receipt::sha256(code.source.as_bytes())
                        ),
                        inputs: code.lineage(),
                        policy: code.policy.to_string(),
                        checks: crate::receipt::checks_summary(&checks, overriding.as_deref()),
                        result: blob.clone(),
                        ..self.receipt_body(&assets)?
                    };
                    self.store.write("auditing a release", |tx| {
                        receipts::issue(
                            tx,
                            body.clone(),
                            &caller.id,
                            (&caller.email, "get_result", request_id, &detail),
                        )
                    })?;
                }
                if withheld {
                    return Err(Error::invalid(
                        format!("result of request {request_id}"),
                        format!(
                            "run {seq}'s output fails the datasite's disclosure checks ({}), so it is withheld",
                            checks
                                .iter()
                                .filter(|c| c.verdict == veil_api::disclosure::Verdict::Fail)
                                .map(|c| c.rule.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                        "return aggregates rather than rows, or ask the owner to release it with an override",
                    ));
                }
                Ok(output)
            }
            _ => Err(Error::invalid(
                format!("request {request_id}"),
                format!(
                    "run {seq} failed: {}",
                    e.public_error
                        .unwrap_or_else(|| "no reason recorded".into())
                ),
                "ask the owner for details, fix the code and submit a new request",
            )),
        }
    }

    fn mark_interrupted(&self, code_id: &str, seq: u32) -> Result<()> {
        self.store.write("recording an interrupted run", |tx| {
            tx.execute(
                "UPDATE executions SET status = 'failed', error = 'interrupted: the datasite stopped during the run',
                 public_error = 'the run was interrupted', finished_at = ?3
                 WHERE code_id = ?1 AND seq = ?2 AND status = 'running'",
                params![code_id, seq, now_ms()],
            )
            .map_err(Error::sqlite("recording an interrupted run"))?;
            Ok(())
        })
    }
}

impl SiteCore {
    /// A code request by `caller` (see [`Client::request_code_execution`]).
    pub(crate) fn submit_code(
        &self,
        caller: &User,
        code: &CodeSpec,
        reason: &str,
    ) -> Result<RequestView> {
        SiteCore::require_compute(caller)?;
        let reason = validate::text("request reason", reason)?;
        if reason.is_empty() {
            return Err(Error::invalid(
                "request reason",
                "it is empty",
                "say what the result is for; the owner reads it before deciding",
            ));
        }
        // The owner reads the inputs' labels in the review: `resolve` takes them from the datasite's
        // records for the bound ids.
        let (sig, inputs) = self.resolve(code)?;
        let inputs_json = serde_json::to_string(&inputs).expect("inputs serialise");
        let policy_json = serde_json::to_string(&code.policy).expect("policies serialise");
        let digest = {
            let mut h = Sha256::new();
            for part in [code.source.as_str(), &inputs_json, &policy_json] {
                h.update((part.len() as u64).to_le_bytes());
                h.update(part.as_bytes());
            }
            hex(&h.finalize())
        };
        // Checked before the mock run, which a duplicate need not wait for, and again when storing.
        if let Some(existing) = self.store.read(|conn| duplicate(conn, caller, &digest))? {
            return Err(duplicate_error(&existing));
        }
        if code.policy.max_runs() == 0 {
            return Err(Error::invalid(
                "output policy",
                "ExecuteCount(0) never runs",
                "use `SingleExecution` or `ExecuteCount(n)` with n of 1 or more",
            ));
        }
        let mock = match self.run_code(&code.source, &sig, &inputs, Side::Mock)? {
            Ok(data) => data,
            Err(f) => return Err(mock_failure(&sig.name, &f)),
        };
        let code_id = uuid::Uuid::new_v4().simple().to_string();
        let request_id = uuid::Uuid::new_v4().simple().to_string();
        self.store.write("submitting a code request", |tx| {
            let mock_blob = self.store.put_blob(&mock.encode()?)?;
            if let Some(existing) = duplicate(tx, caller, &digest)? {
                return Err(duplicate_error(&existing));
            }
            tx.execute(
                "INSERT INTO code (id, owner_id, name, source, signature, inputs, policy, digest,
                                   mock_blob, mock_kind, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    code_id,
                    caller.id,
                    sig.name,
                    code.source,
                    serde_json::to_string(&sig).expect("signatures serialise"),
                    inputs_json,
                    policy_json,
                    digest,
                    mock_blob,
                    mock.kind().as_str(),
                    now_ms()
                ],
            )
            .map_err(Error::sqlite("storing code"))?;
            crate::datasite::requests::insert(
                tx,
                &request_id,
                None,
                Some(&code_id),
                &caller.id,
                &reason,
            )?;
            audit::record(tx, &caller.email, "code_request", &request_id, &sig.name)
        })?;
        self.request_view(caller, &request_id)
    }
}

/// `#number (status)` of `caller`'s request with the same code, inputs and policy, if any.
fn duplicate(conn: &rusqlite::Connection, caller: &User, digest: &str) -> Result<Option<String>> {
    conn.query_row(
        "SELECT r.number, r.status FROM code c JOIN requests r ON r.code_id = c.id
         WHERE c.owner_id = ?1 AND c.digest = ?2",
        params![caller.id, digest],
        |r| {
            Ok(format!(
                "#{} ({})",
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?
            ))
        },
    )
    .optional()
    .map_err(Error::sqlite("checking code requests"))
}

fn duplicate_error(existing: &str) -> Error {
    Error::exists(
        "code request",
        existing.to_string(),
        "you already submitted the same code with the same inputs and policy; read that request's decision with `.get()`, or change the code, its inputs or its policy",
    )
}

/// Ok if runs are `isolated`, or the owner `allowed` unjailed runs.
fn jail_required(isolated: bool, allowed: bool) -> Result<()> {
    if isolated || allowed {
        return Ok(());
    }
    Err(Error::Runner(format!(
        "submitted code runs only jailed, and this machine allows no user namespaces, so a run could read every file of the datasite; enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, or run outside a container that forbids them), or, if you trust every scientist with this machine, launch with `LaunchOptions::allow_unjailed_code(true)` (or set {ALLOW_UNJAILED_ENV}=1)"
    )))
}

/// The environment variable that allows unjailed runs of submitted code (`1`), for datasites
/// launched without [`LaunchOptions::allow_unjailed_code`](crate::LaunchOptions::allow_unjailed_code).
pub const ALLOW_UNJAILED_ENV: &str = "VEIL_ALLOW_UNJAILED_CODE";

impl SiteCore {
    /// `dataset / asset` for a bound asset, from the datasite's records, if it has a mock to try code on.
    fn bound_asset_label(&self, asset_id: &str) -> Result<String> {
        let label = self.asset_label(asset_id)?;
        let has_mock: bool = self.store.read(|conn| {
            conn.query_row(
                "SELECT mock_blob IS NOT NULL FROM assets WHERE id = ?1",
                [asset_id],
                |r| r.get(0),
            )
            .map_err(Error::sqlite("reading an asset"))
        })?;
        if !has_mock {
            return Err(Error::invalid(
                format!("asset `{label}`"),
                "it has no mock, and code is tried on mocks before review",
                "ask the owner to upload a mock for it",
            ));
        }
        Ok(label)
    }

    /// Removes the compiled jobs no request can run again: denied, its policy used up, its
    /// requester deleted, and runs on mocks no request asked for. Called when a request stops
    /// being runnable; a failure is logged, since the call that caused it succeeded.
    pub(crate) fn prune_compiled(&self) {
        let keep = self.store.read(|conn| {
            let mut stmt = conn
                .prepare(
                    "SELECT c.source, c.runs, c.policy, r.status FROM code c
                     JOIN requests r ON r.code_id = c.id WHERE r.status != 'denied'",
                )
                .map_err(Error::sqlite("listing runnable code"))?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, u32>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                    ))
                })
                .map_err(Error::sqlite("listing runnable code"))?;
            let mut keep = Vec::new();
            for row in rows {
                let (source, runs, policy, status) =
                    row.map_err(Error::sqlite("listing runnable code"))?;
                let max_runs = serde_json::from_str::<OutputPolicy>(&policy)
                    .map_or(u32::MAX, |p| p.max_runs());
                if status == "pending" || runs < max_runs {
                    keep.push(source);
                }
            }
            Ok(keep)
        });
        let pruned = keep.and_then(|keep| self.runner.prune(keep.iter().map(String::as_str)));
        if let Err(e) = pruned {
            eprintln!("veil: could not remove compiled code no request can run: {e}");
        }
    }

    /// Runs `code` on the real data for an owner's eyes: nothing is stored or released.
    pub(crate) fn run_privately(
        &self,
        code: &SubmittedCode,
    ) -> Result<std::result::Result<Data, String>> {
        Ok(
            match self.run_code(&code.source, &code.signature, &code.inputs, Side::Real)? {
                Ok(data) => Ok(data),
                Err(f) => Err(f.detail),
            },
        )
    }
}

// The calls about code, each one service.

impl Serve for veil_api::calls::RunOnMocks {
    fn serve(self, site: &SiteCore, caller: &mut Caller<'_>) -> Result<Data> {
        site.run_on_mocks(caller, &self.code)
    }
}

impl Serve for veil_api::calls::RequestCode {
    fn serve(self, site: &SiteCore, caller: &mut Caller<'_>) -> Result<RequestView> {
        site.submit_code(caller, &self.code, &self.reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unjailed_runs_need_the_owners_word() {
        assert!(jail_required(true, false).is_ok());
        assert!(jail_required(false, true).is_ok());
        let refused = jail_required(false, false).unwrap_err().to_string();
        assert!(refused.contains("allow_unjailed_code(true)"), "{refused}");
        assert!(refused.contains(ALLOW_UNJAILED_ENV), "{refused}");
    }
}
