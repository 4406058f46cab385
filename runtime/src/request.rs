//! Requests, of both kinds: for a pointer's real result, and to run submitted code on the real data.
//!
//! A [`Request`] is a handle: the request's id, the client that read it, and a view of what the
//! datasite said about it then (its number, requester, status, ...) for display. The datasite believes
//! none of the view. Every call on a handle sends only its id; the datasite reads the request's own
//! record (what it asks for, who asked, where it stands) and checks the caller against that record.
//! So a handle whose fields were edited acts on the request its id names, as its caller, or not at all.
//!
//! Who sees what: an owner sees every request and, for result requests, whether the real-side
//! computation worked; a requester sees her own requests, never anything that depends on the real
//! data before approval (not whether its replay worked, nor its errors). Results go to the requester
//! only, once approved; nobody decides their own request.

use std::fmt;

use rusqlite::{OptionalExtension, params};

use crate::audit;
use crate::client::Client;
use crate::code::SubmittedCode;
use crate::data::{Data, DataKind};
use crate::datasets::add_preview;
use crate::display::{self, Table};
use crate::error::{Error, Result};
use crate::replay::Side;
use crate::site::SiteCore;
use crate::store::now_ms;
use crate::users::{User, denied, require_owner};
use crate::validate;

pub use veil_api::view::{RequestKind, RequestStatus};

/// A request, as a handle: see the [module docs](self).
///
/// A handle names its request by id and nothing else; it holds no object or code id a client could
/// point elsewhere (the hole these once were):
///
/// ```compile_fail
/// # fn forge(request: &veil::Request) {
/// let mut forged = request.clone();
/// forged.code_id = Some("the id of code the owner denied".into());
/// # }
/// ```
///
/// Its view fields may be edited, and mean nothing to the datasite; its id may be edited too, and
/// then names another request, which the datasite checks the caller against:
///
/// ```
/// # fn forge(request: &veil::Request) {
/// let mut forged = request.clone();
/// forged.id = "another request's id".into();
/// forged.status = veil::RequestStatus::Approved;
/// # }
/// ```
#[derive(Clone)]
pub struct Request {
    /// Its id: the one thing the datasite takes from this handle.
    pub id: String,
    /// Its number on the datasite (`#3`), in the order requests were made.
    pub number: i64,
    /// A pointer's result or a code run.
    pub kind: RequestKind,
    /// Who asked.
    pub requester: String,
    /// Why.
    pub reason: String,
    /// Where it stood when read.
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
    client: Client,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("id", &self.id)
            .field("requester", &self.requester)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// A request's record: what the datasite decides from.
pub(crate) struct Record {
    pub id: String,
    pub object_id: Option<String>,
    pub code_id: Option<String>,
    pub requester_id: String,
    pub status: RequestStatus,
    pub decision: Option<String>,
    result: Option<(String, String)>,
}

impl Record {
    fn kind(&self) -> RequestKind {
        if self.code_id.is_some() {
            RequestKind::Code
        } else {
            RequestKind::Result
        }
    }

    fn code_id(&self) -> Result<&str> {
        self.code_id.as_deref().ok_or_else(|| {
            Error::invalid(
                format!("request {}", self.id),
                "it asks for a pointer's result, not for running code",
                "read its steps with `request.review()`",
            )
        })
    }
}

fn parse_status(s: &str) -> Result<RequestStatus> {
    RequestStatus::parse(s)
        .ok_or_else(|| Error::corrupt("reading a request", format!("unknown status `{s}`")))
}

/// The error for a request the caller may not see, whether or not it exists: the two look the same.
fn unknown(id: &str) -> Error {
    Error::not_found(
        "request",
        id,
        "list requests with `client.requests()` (or `%requests`)",
    )
}

impl SiteCore {
    /// Request `id`'s record, if `caller` may see it: owners see every request, others their own.
    pub(crate) fn request_record(&self, caller: &User, id: &str) -> Result<Record> {
        let row = self.store.read(|conn| {
            conn.query_row(
                "SELECT id, object_id, code_id, requester_id, status, decision, result_blob, result_kind
                 FROM requests WHERE id = ?1 AND (?2 OR requester_id = ?3)",
                params![id, caller.role.is_owner(), caller.id],
                |r| {
                    Ok((
                        Record {
                            id: r.get(0)?,
                            object_id: r.get(1)?,
                            code_id: r.get(2)?,
                            requester_id: r.get(3)?,
                            status: RequestStatus::Pending,
                            decision: r.get(5)?,
                            result: match (r.get(6)?, r.get(7)?) {
                                (Some(blob), Some(kind)) => Some((blob, kind)),
                                _ => None,
                            },
                        },
                        r.get::<_, String>(4)?,
                    ))
                },
            )
            .optional()
            .map_err(Error::sqlite("reading a request"))
        })?;
        let (mut record, status) = row.ok_or_else(|| unknown(id))?;
        record.status = parse_status(&status)?;
        Ok(record)
    }

    /// The id of `requester`'s latest request for object `object_id`.
    pub(crate) fn latest_request(
        &self,
        object_id: &str,
        requester: &str,
    ) -> Result<Option<String>> {
        self.store.read(|conn| {
            conn.query_row(
                "SELECT id FROM requests WHERE object_id = ?1 AND requester_id = ?2
                 ORDER BY created_at DESC, number DESC LIMIT 1",
                params![object_id, requester],
                |r| r.get(0),
            )
            .optional()
            .map_err(Error::sqlite("reading a request"))
        })
    }

    /// The released result of `record`, for its requester: a pointer's stored result, or the latest
    /// run of approved code (running it first if it never ran).
    pub(crate) fn released(&self, caller: &User, record: &Record) -> Result<Data> {
        self.releasable(caller, record)?;
        match (&record.code_id, &record.result) {
            (Some(code_id), _) => self.code_result(caller, &record.id, code_id, false),
            (None, Some((blob, kind))) => {
                self.store.write("auditing a release", |tx| {
                    audit::record(
                        tx,
                        &caller.email,
                        "get_result",
                        &record.id,
                        record.object_id.as_deref().unwrap_or_default(),
                    )
                })?;
                Data::decode(DataKind::parse(kind)?, &self.store.get_blob(blob)?)
            }
            (None, None) => Err(Error::corrupt(
                "reading a result",
                format!("request {} is approved but holds no result", record.id),
            )),
        }
    }

    /// Ok if `caller` asked for `record`, an owner approved it, and `caller` may still compute (a
    /// user made a guest keeps no way to real results).
    pub(crate) fn releasable(&self, caller: &User, record: &Record) -> Result<()> {
        SiteCore::require_compute(caller)?;
        if record.requester_id != caller.id {
            return Err(denied(
                caller,
                "getting another user's result",
                "the user who asked",
                "results go to their requester only; owners may use `request.run_privately()` or `request.review()`",
            ));
        }
        match record.status {
            RequestStatus::Pending => Err(Error::ApprovalPending {
                id: record.id.clone(),
            }),
            RequestStatus::Denied => Err(Error::RequestDenied {
                id: record.id.clone(),
                reason: record.decision.clone().unwrap_or_default(),
            }),
            RequestStatus::Approved => Ok(()),
        }
    }
}

/// Inserts a pending request (for a pointer's result or for running code), numbered after every
/// earlier request of either kind. Call inside the submitting transaction.
pub(crate) fn insert(
    tx: &rusqlite::Transaction<'_>,
    id: &str,
    object_id: Option<&str>,
    code_id: Option<&str>,
    requester_id: &str,
    reason: &str,
) -> Result<()> {
    tx.execute(
        "INSERT INTO requests (id, number, object_id, code_id, requester_id, reason, status, created_at)
         VALUES (?1, (SELECT COALESCE(MAX(number), 0) + 1 FROM requests), ?2, ?3, ?4, ?5,
                 'pending', ?6)",
        params![id, object_id, code_id, requester_id, reason, now_ms()],
    )
    .map_err(Error::sqlite("submitting a request"))?;
    Ok(())
}

impl Client {
    /// Requests: an owner sees everyone's, a scientist its own. Newest first.
    pub fn requests(&self) -> Result<RequestList> {
        let caller = self.caller()?;
        let ids: Vec<String> = self.core().store.read(|conn| {
            let mut stmt = conn
                .prepare(
                    "SELECT id FROM requests WHERE ?1 OR requester_id = ?2 ORDER BY created_at DESC, id",
                )
                .map_err(Error::sqlite("listing requests"))?;
            stmt.query_map(params![caller.role.is_owner(), caller.id], |r| r.get(0))
                .and_then(|rows| rows.collect())
                .map_err(Error::sqlite("listing requests"))
        })?;
        ids.iter()
            .map(|id| self.load_request(&caller, id))
            .collect::<Result<_>>()
            .map(RequestList)
    }

    /// A request by number (`#3`, as `%requests` shows it) or by id (a unique prefix is enough).
    pub fn request(&self, key: &str) -> Result<Request> {
        let caller = self.caller()?;
        let key = key.trim();
        if let Some(number) = key.strip_prefix('#') {
            let number: i64 = number.parse().map_err(|_| {
                Error::invalid(
                    "request number",
                    format!("`{key}` is not `#` and a number"),
                    "write it as `%requests` shows it, e.g. `#3`",
                )
            })?;
            let id: Option<String> = self.core().store.read(|conn| {
                conn.query_row(
                    "SELECT id FROM requests WHERE number = ?1 AND (?2 OR requester_id = ?3)",
                    params![number, caller.role.is_owner(), caller.id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(Error::sqlite("finding a request"))
            })?;
            return match id {
                Some(id) => self.load_request(&caller, &id),
                None => Err(Error::not_found(
                    "request",
                    key,
                    "list requests with `client.requests()` (or `%requests --all`)",
                )),
            };
        }
        let prefix = key;
        if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(Error::invalid(
                "request id",
                format!("`{prefix}` is not a request id or number"),
                "use the number `%requests` shows (`#3`), or an id or its first characters",
            ));
        }
        let ids: Vec<String> = self.core().store.read(|conn| {
            let mut stmt = conn
                .prepare(
                    "SELECT id FROM requests WHERE id LIKE ?1 || '%' AND (?2 OR requester_id = ?3) LIMIT 2",
                )
                .map_err(Error::sqlite("finding a request"))?;
            stmt.query_map(params![prefix, caller.role.is_owner(), caller.id], |r| {
                r.get(0)
            })
            .and_then(|rows| rows.collect())
            .map_err(Error::sqlite("finding a request"))
        })?;
        match ids.as_slice() {
            [id] => self.load_request(&caller, id),
            [] => Err(unknown(prefix)),
            _ => Err(Error::invalid(
                "request id",
                format!("`{prefix}` matches several requests"),
                "give more characters of the id",
            )),
        }
    }

    /// The view of request `id` that `caller` may see.
    pub(crate) fn load_request(&self, caller: &User, id: &str) -> Result<Request> {
        let owner = caller.role.is_owner();
        let row = self.core().store.read(|conn| {
            conn.query_row(
                "SELECT r.id, r.code_id IS NOT NULL, u.email, r.reason, r.status, r.reviewer,
                        r.decision, r.created_at, r.decided_at, o.status, o.lineage, r.number, r.code_id
                 FROM requests r JOIN users u ON u.id = r.requester_id
                 LEFT JOIN objects o ON o.id = r.object_id
                 WHERE r.id = ?1 AND (?2 OR r.requester_id = ?3)",
                params![id, owner, caller.id],
                |r| {
                    let lineage: Option<String> = r.get(10)?;
                    Ok((
                        Request {
                            id: r.get(0)?,
                            kind: if r.get(1)? {
                                RequestKind::Code
                            } else {
                                RequestKind::Result
                            },
                            requester: r.get(2)?,
                            reason: r.get(3)?,
                            status: RequestStatus::Pending,
                            reviewer: r.get(5)?,
                            decision: r.get(6)?,
                            created_at: r.get(7)?,
                            decided_at: r.get(8)?,
                            // The real side's outcome is the owner's to see: for the requester it
                            // would be an oracle on the real data.
                            computation: if owner {
                                r.get::<_, Option<String>>(9)?.unwrap_or_default()
                            } else {
                                String::new()
                            },
                            lineage: lineage
                                .and_then(|l| serde_json::from_str(&l).ok())
                                .unwrap_or_default(),
                            number: r.get(11)?,
                            client: self.clone(),
                        },
                        r.get::<_, String>(4)?,
                        r.get::<_, Option<String>>(12)?,
                    ))
                },
            )
            .optional()
            .map_err(Error::sqlite("reading a request"))
        })?;
        let (mut request, status, code_id) = row.ok_or_else(|| unknown(id))?;
        request.status = parse_status(&status)?;
        if let Some(code_id) = code_id {
            let code = self.core().submitted_code(&code_id)?;
            request.lineage = code.lineage();
            request.computation = format!(
                "code `{}`, {} of {} runs used",
                code.signature.name,
                code.runs,
                code.policy.max_runs()
            );
        }
        Ok(request)
    }
}

/// What an owner reads before deciding.
#[derive(Debug, Clone)]
pub struct Review {
    /// The request.
    pub request: Request,
    /// The steps from the assets to the result, in order.
    pub steps: Vec<String>,
    /// The result on the mocks.
    pub mock: Option<Data>,
    /// The result on the real data, or why it failed (owners only see this). `None` for code, which
    /// runs on real data only when an owner asks ([`Request::run_privately`]) or approves.
    pub real: Option<std::result::Result<Data, String>>,
    /// The code, for a code request.
    pub code: Option<SubmittedCode>,
}

impl Request {
    /// The caller as the datasite sees it now, and this request's record as the caller may see it.
    fn resolve(&self) -> Result<(User, Record)> {
        let caller = self.client.caller()?;
        let record = self.client.core().request_record(&caller, &self.id)?;
        Ok((caller, record))
    }

    fn owner(&self, action: &str) -> Result<(User, Record)> {
        let caller = self.client.caller()?;
        require_owner(
            &caller,
            action,
            "only the datasite's owners review requests",
        )?;
        let record = self.client.core().request_record(&caller, &self.id)?;
        Ok((caller, record))
    }

    /// Everything an owner needs to decide: who, why, and what would be released. For a pointer's
    /// result, the steps back to the assets, the mock result and a preview of the real one (computed now
    /// if the worker has not finished); for code, its source, bound inputs, output policy and mock
    /// result (run it on the real data with [`Request::run_privately`]).
    pub fn review(&self) -> Result<Review> {
        let (caller, record) = self.owner("reviewing requests")?;
        let core = self.client.core();
        let request = self.client.load_request(&caller, &record.id)?;
        let review = match (&record.object_id, &record.code_id) {
            (_, Some(code_id)) => {
                let code = core.submitted_code(code_id)?;
                Review {
                    request,
                    steps: vec![code.call()],
                    mock: code.mock.clone(),
                    real: None,
                    code: Some(code),
                }
            }
            (Some(object_id), None) => Review {
                request,
                steps: core.steps(object_id)?,
                mock: core.value(Side::Mock, object_id).ok().map(|v| (*v).clone()),
                real: Some(
                    core.value(Side::Real, object_id)
                        .map(|v| (*v).clone())
                        .map_err(|e| e.to_string()),
                ),
                code: None,
            },
            (None, None) => {
                return Err(Error::corrupt(
                    "reading a request",
                    format!("request {} asks for nothing", record.id),
                ));
            }
        };
        core.store.write("auditing a review", |tx| {
            audit::record(tx, &caller.email, "review", &record.id, "")
        })?;
        Ok(review)
    }

    /// The released result, for its requester: a pointer's stored real result, or the latest result of
    /// approved code (running it first if it has not run yet; see [`OutputPolicy`](crate::code::OutputPolicy)).
    /// Pending or denied requests give [`Error::ApprovalPending`] or [`Error::RequestDenied`].
    pub fn get(&self) -> Result<Data> {
        let (caller, record) = self.resolve()?;
        self.client.core().released(&caller, &record)
    }

    /// Runs approved code on the real data again, if the output policy has a run left, and returns the
    /// new result. For the requester only.
    pub fn run(&self) -> Result<Data> {
        let (caller, record) = self.resolve()?;
        let code_id = record.code_id()?;
        let core = self.client.core();
        core.releasable(&caller, &record)?;
        core.code_result(&caller, &record.id, code_id, true)
    }

    /// The submitted code, for a code request (its requester and owners).
    pub fn code(&self) -> Result<SubmittedCode> {
        let (_, record) = self.resolve()?;
        self.client.core().submitted_code(record.code_id()?)
    }

    /// Owners: runs the code on the real data now, privately, to see what approving would release. The
    /// result is not released and does not count against the output policy.
    pub fn run_privately(&self) -> Result<std::result::Result<Data, String>> {
        let (caller, record) = self.owner("running code on real data before deciding")?;
        let core = self.client.core();
        let code = core.submitted_code(record.code_id()?)?;
        core.store.write("auditing a private run", |tx| {
            audit::record(tx, &caller.email, "run_privately", &record.id, "")
        })?;
        core.run_privately(&code)
    }

    /// Approves: a pointer's real result is computed (if it is not yet), stored once and released to
    /// the requester only; code may then run under its output policy. Returns the request as decided.
    pub fn approve(&self) -> Result<Request> {
        let (caller, record) = self.owner("approving requests")?;
        let core = self.client.core();
        let result = match (&record.object_id, record.kind()) {
            (Some(object_id), RequestKind::Result) => {
                let real = core.value(Side::Real, object_id).map_err(|e| {
                    Error::invalid(
                        format!("request {}", record.id),
                        format!("its result failed on the real data: {e}"),
                        "deny it with a reason so the scientist can fix the computation",
                    )
                })?;
                Some((core.store.put_blob(&real.encode()?)?, real.kind()))
            }
            // Code runs when its requester asks for the result, under its output policy.
            _ => None,
        };
        self.decide(&caller, &record, true, "", result)
    }

    /// Denies, with a reason the requester sees. Returns the request as decided.
    pub fn deny(&self, reason: &str) -> Result<Request> {
        let (caller, record) = self.owner("denying requests")?;
        let reason = validate::text("denial reason", reason)?;
        if reason.trim().is_empty() {
            return Err(Error::invalid(
                "denial reason",
                "it is empty",
                "tell the scientist why, so they can ask for something you can release",
            ));
        }
        self.decide(&caller, &record, false, &reason, None)
    }

    fn decide(
        &self,
        caller: &User,
        record: &Record,
        approve: bool,
        reason: &str,
        result: Option<(String, DataKind)>,
    ) -> Result<Request> {
        let core = self.client.core();
        core.store.write("deciding a request", |tx| {
            // Read again inside the write transaction: two owners deciding at once get one decision.
            let (status, requester): (String, String) = tx
                .query_row(
                    "SELECT status, requester_id FROM requests WHERE id = ?1",
                    [&record.id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(Error::sqlite("reading a request"))?;
            if requester == caller.id {
                return Err(denied(
                    caller,
                    "deciding your own request",
                    "another owner",
                    "ask another owner or admin to review it",
                ));
            }
            if status != RequestStatus::Pending.as_str() {
                return Err(Error::invalid(
                    format!("request {}", record.id),
                    format!("it is already {status}"),
                    "a decision is final; the scientist can submit a new request",
                ));
            }
            let (blob, kind) = match &result {
                Some((b, k)) => (Some(b.clone()), Some(k.as_str())),
                None => (None, None),
            };
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
            audit::record(
                tx,
                &caller.email,
                if approve { "approve" } else { "deny" },
                &record.id,
                reason,
            )
        })?;
        self.client.load_request(caller, &record.id)
    }

    fn fields(&self) -> Vec<(&'static str, String)> {
        let mut fields = vec![
            ("number", format!("#{}", self.number)),
            ("id", self.id.clone()),
            ("requester", self.requester.clone()),
            ("reason", self.reason.clone()),
            ("status", self.status.to_string()),
            ("lineage", self.lineage.join(", ")),
        ];
        if !self.computation.is_empty() {
            fields.push(("computation", self.computation.clone()));
        }
        fields.push(("asked", display::timestamp(self.created_at)));
        if let Some(r) = &self.reviewer {
            fields.push(("reviewer", r.clone()));
        }
        if let Some(d) = self.decision.as_ref().filter(|d| !d.is_empty()) {
            fields.push(("decision", d.clone()));
        }
        fields
    }

    fn table(&self) -> Table {
        Table::fields(format!("Request #{}", self.number), self.fields())
    }
}

fn short(id: &str) -> &str {
    &id[..id.len().min(8)]
}

crate::display::render_via_table!(Request);

impl Review {
    fn table(&self) -> Table {
        let mut t = Table::fields(
            format!("Review of request #{}", self.request.number),
            self.request.fields(),
        );
        if self.code.is_none() {
            t.sub_table(
                "Steps from the assets".into(),
                vec!["step".into()],
                self.steps.iter().map(|s| vec![s.clone()]).collect(),
            );
        }
        match &self.mock {
            Some(m) => add_preview(&mut t, m, "Mock result"),
            None => t
                .warnings
                .push("the mock result could not be computed".into()),
        }
        match &self.real {
            Some(Ok(r)) => add_preview(&mut t, r, "Real result (owners only)"),
            Some(Err(e)) => t.warnings.push(format!("the real computation failed: {e}")),
            None => t.notes.push(
                "not run on the real data yet: `request.run_privately()` (or `%review ID --run`) runs it for you alone".into(),
            ),
        }
        if let Some(code) = &self.code {
            code.add_to(&mut t);
            if !self.request.client.core().runner.isolated() {
                t.warnings.push(
                    "runs are not isolated on this machine (it allows no user namespaces, and the datasite was launched to run code anyway): this code could read the datasite's files and use the network; read it with that in mind".into(),
                );
            }
        }
        t
    }
}

crate::display::render_via_table!(Review);

/// Requests, newest first.
#[derive(Debug, Clone)]
pub struct RequestList(pub Vec<Request>);

impl std::ops::Deref for RequestList {
    type Target = [Request];
    fn deref(&self) -> &[Request] {
        &self.0
    }
}

impl RequestList {
    fn table(&self) -> Table {
        let mut t = Table::new(format!("Requests ({})", self.0.len())).headers([
            "#",
            "id",
            "requester",
            "reason",
            "status",
            "lineage",
            "asked",
        ]);
        if self.0.is_empty() {
            t.notes.push("no requests".into());
        }
        for r in &self.0 {
            t.row([
                format!("#{}", r.number),
                short(&r.id).to_string(),
                r.requester.clone(),
                display::clip(&r.reason, 60),
                r.status.to_string(),
                r.lineage.join(", "),
                display::timestamp(r.created_at),
            ]);
        }
        t
    }
}

crate::display::render_via_table!(RequestList);
