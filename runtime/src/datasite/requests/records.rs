//! Requests in the datasite's records: reading one as its caller may see it, finding and listing
//! them, and the checks every release passes.

use super::*;

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
    pub(super) fn kind(&self) -> RequestKind {
        if self.code_id.is_some() {
            RequestKind::Code
        } else {
            RequestKind::Result
        }
    }

    pub(super) fn code_id(&self) -> Result<&str> {
        self.code_id.as_deref().ok_or_else(|| {
            Error::invalid(
                format!("request {}", self.id),
                "it asks for a pointer's result, not for running code",
                "read its steps with `request.review()`",
            )
        })
    }
}

pub(super) fn parse_status(s: &str) -> Result<RequestStatus> {
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
                Data::decode(crate::data::parse_kind(kind)?, &self.store.get_blob(blob)?)
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
            RequestStatus::ChangesRequested => Err(Error::RequestDenied {
                id: record.id.clone(),
                reason: format!(
                    "the owner asks for changes: {}; submit a new request with them",
                    record.decision.clone().unwrap_or_default()
                ),
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

impl SiteCore {
    /// The requests `caller` may see (an owner: everyone's), newest first.
    pub(crate) fn requests(&self, caller: &User) -> Result<Vec<RequestView>> {
        // One query for every request (a query per request made listing 10,000 take 0.6 s).
        let owner = caller.role.is_owner();
        let rows: Vec<ViewRow> = self.store.read(|conn| {
            let mut stmt = conn
                .prepare(&format!(
                    "{VIEW_QUERY} WHERE ?1 OR r.requester_id = ?2 ORDER BY r.created_at DESC, r.id"
                ))
                .map_err(Error::sqlite("listing requests"))?;
            stmt.query_map(params![owner, caller.id], |r| view_row(r, owner))
                .and_then(|rows| rows.collect())
                .map_err(Error::sqlite("listing requests"))
        })?;
        rows.into_iter().map(|row| self.finish_view(row)).collect()
    }

    /// A request by number (`#3`) or by id (a unique prefix is enough), if `caller` may see it.
    pub(crate) fn find_request(&self, caller: &User, key: &str) -> Result<RequestView> {
        let key = key.trim();
        if let Some(number) = key.strip_prefix('#') {
            let number: i64 = number.parse().map_err(|_| {
                Error::invalid(
                    "request number",
                    format!("`{key}` is not `#` and a number"),
                    "write it as `%requests` shows it, e.g. `#3`",
                )
            })?;
            let id: Option<String> = self.store.read(|conn| {
                conn.query_row(
                    "SELECT id FROM requests WHERE number = ?1 AND (?2 OR requester_id = ?3)",
                    params![number, caller.role.is_owner(), caller.id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(Error::sqlite("finding a request"))
            })?;
            return match id {
                Some(id) => self.request_view(caller, &id),
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
        let ids: Vec<String> = self.store.read(|conn| {
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
            [id] => self.request_view(caller, id),
            [] => Err(unknown(prefix)),
            _ => Err(Error::invalid(
                "request id",
                format!("`{prefix}` matches several requests"),
                "give more characters of the id",
            )),
        }
    }

    /// The view of request `id` that `caller` may see.
    pub(crate) fn request_view(&self, caller: &User, id: &str) -> Result<RequestView> {
        let owner = caller.role.is_owner();
        let row = self.store.read(|conn| {
            conn.query_row(
                &format!("{VIEW_QUERY} WHERE r.id = ?1 AND (?2 OR r.requester_id = ?3)"),
                params![id, owner, caller.id],
                |r| view_row(r, owner),
            )
            .optional()
            .map_err(Error::sqlite("reading a request"))
        })?;
        self.finish_view(row.ok_or_else(|| unknown(id))?)
    }

    /// A request's view from its row: its status checked, and a code request's lineage and runs.
    fn finish_view(&self, (mut request, status, code_id): ViewRow) -> Result<RequestView> {
        request.status = parse_status(&status)?;
        if let Some(code_id) = code_id {
            let code = self.submitted_code(&code_id)?;
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

/// What a request's view is read from: the request, its requester, and a pointer request's object.
const VIEW_QUERY: &str =
    "SELECT r.id, r.code_id IS NOT NULL, u.email, r.reason, r.status, r.reviewer,
        r.decision, r.created_at, r.decided_at, o.status, o.lineage, r.number, r.code_id
     FROM requests r JOIN users u ON u.id = r.requester_id
     LEFT JOIN objects o ON o.id = r.object_id";

/// A request's view as read (its status still text), with its status and code id.
type ViewRow = (RequestView, String, Option<String>);

/// A row of [`VIEW_QUERY`], as `owner` or not may see it.
fn view_row(r: &rusqlite::Row<'_>, owner: bool) -> rusqlite::Result<ViewRow> {
    let lineage: Option<String> = r.get(10)?;
    Ok((
        RequestView {
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
        },
        r.get::<_, String>(4)?,
        r.get::<_, Option<String>>(12)?,
    ))
}
