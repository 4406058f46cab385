//! Pointers: eager execution on mocks, recorded actions replayed on real data, result requests.
//!
//! A [`Pointer`] holds a mock value and the id of an object on the datasite. An operation on pointers
//! ([`Pointer::apply`], or the arithmetic operators and methods built on it) runs at once on the mocks
//! and is recorded on the datasite as an action: the [`Op`], its input objects and the new object's id.
//! The datasite's worker thread replays it on the real inputs, off the notebook's critical path, and
//! keeps the real value private. [`Pointer::request`] asks for it; an owner reviews the request (who,
//! why, the steps back to the assets, the mock result and a preview of the real one) and approves or
//! denies; [`Pointer::get`] then returns the released value to its requester, and to nobody else.
//!
//! Security, enforced here at the datasite: a user may only use objects it created (asset pointers
//! included), a guest may not compute at all, real values leave only through an approved request to
//! its requester, real-side errors are shown to owners only, and nobody approves their own request.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, Weak, mpsc};

use rusqlite::{OptionalExtension, Row, params};

use crate::audit;
use crate::client::Client;
use crate::data::{Data, DataKind};
use crate::datasets::{SiteAsset, add_preview};
use crate::display::{self, Table};
use crate::error::{Error, Result};
use crate::ops::{self, Op};
use crate::site::SiteCore;
use crate::store::now_ms;
use crate::users::{User, denied, require_owner};
use crate::validate;

/// Most values a literal array from the notebook may hold.
pub const MAX_LITERAL_VALUES: usize = 1 << 20;

/// Where a computed value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Side {
    Real,
    Mock,
}

/// Most bytes of computed values a datasite keeps by default ([`LaunchOptions::cache_bytes`](crate::LaunchOptions::cache_bytes)).
pub const DEFAULT_CACHE_BYTES: usize = 1 << 30;

/// The datasite's executor: a cache of computed values and the worker thread that fills it.
#[derive(Debug)]
pub(crate) struct Executor {
    /// Computed values by object id, least recently used evicted first.
    cache: Mutex<Cache>,
    /// Loaded asset data by asset id, shared by every pointer to the asset.
    assets: Mutex<HashMap<(Side, String), Arc<Data>>>,
    queue: Mutex<Option<mpsc::Sender<String>>>,
}

/// Computed values within a byte budget. An evicted value is not lost: its recorded steps replay it.
#[derive(Debug)]
struct Cache {
    entries: HashMap<(Side, String), Cached>,
    bytes: usize,
    budget: usize,
    clock: u64,
}

#[derive(Debug)]
struct Cached {
    value: Arc<Data>,
    bytes: usize,
    used: u64,
}

impl Cache {
    fn get(&mut self, key: &(Side, String)) -> Option<Arc<Data>> {
        self.clock += 1;
        let entry = self.entries.get_mut(key)?;
        entry.used = self.clock;
        Some(entry.value.clone())
    }

    fn insert(&mut self, key: (Side, String), value: Arc<Data>) {
        self.clock += 1;
        let bytes = value.approx_bytes();
        if let Some(old) = self.entries.insert(
            key,
            Cached {
                value,
                bytes,
                used: self.clock,
            },
        ) {
            self.bytes -= old.bytes;
        }
        self.bytes += bytes;
        if self.bytes > self.budget {
            // Evict the oldest down to three quarters of the budget, so eviction runs rarely; the value
            // just computed stays whatever its size.
            let mut by_age: Vec<((Side, String), u64)> = self
                .entries
                .iter()
                .filter(|(_, e)| e.used != self.clock)
                .map(|(k, e)| (k.clone(), e.used))
                .collect();
            by_age.sort_unstable_by_key(|(_, used)| *used);
            for (key, _) in by_age {
                if self.bytes <= self.budget / 4 * 3 {
                    break;
                }
                if let Some(e) = self.entries.remove(&key) {
                    self.bytes -= e.bytes;
                }
            }
        }
    }
}

impl Executor {
    pub(crate) fn new(cache_bytes: usize) -> Executor {
        Executor {
            cache: Mutex::new(Cache {
                entries: HashMap::new(),
                bytes: 0,
                budget: cache_bytes,
                clock: 0,
            }),
            assets: Mutex::default(),
            queue: Mutex::default(),
        }
    }

    /// Starts the worker for `core`. It holds only a weak reference, so landing or dropping the
    /// datasite ends it.
    pub(crate) fn start(core: &Arc<SiteCore>) {
        let (tx, rx) = mpsc::channel::<String>();
        *core.exec.queue.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
        let weak: Weak<SiteCore> = Arc::downgrade(core);
        let _ = std::thread::Builder::new()
            .name(format!("veil-worker-{}", core.name))
            .spawn(move || {
                // Whatever queued up while the last batch ran is computed together and its outcomes
                // recorded in one transaction: a notebook issuing ops quickly pays one commit per batch.
                while let Ok(first) = rx.recv() {
                    let batch: Vec<String> = std::iter::once(first).chain(rx.try_iter()).collect();
                    let Some(core) = weak.upgrade() else { return };
                    core.run_real(&batch);
                }
            });
    }

    /// Stops the worker (after the jobs already queued).
    pub(crate) fn stop(&self) {
        self.queue.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    fn enqueue(&self, id: &str) {
        if let Some(q) = self
            .queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            let _ = q.send(id.to_string());
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forgets computed values (not loaded assets); they are replayed when next needed.
    pub(crate) fn clear(&self) {
        let mut cache = self.cache();
        cache.entries.clear();
        cache.bytes = 0;
    }

    fn cached(&self, side: Side, id: &str) -> Option<Arc<Data>> {
        self.cache().get(&(side, id.to_string()))
    }

    fn keep(&self, side: Side, id: &str, value: Arc<Data>) {
        self.cache().insert((side, id.to_string()), value);
    }
}

/// What the datasite stores about an object.
#[derive(Debug, Clone)]
struct ObjectRow {
    owner_id: String,
    op: Op,
    inputs: Vec<String>,
    lineage: Vec<String>,
}

type RawObject = (String, String, String, String, String);

impl ObjectRow {
    fn read(r: &Row<'_>) -> rusqlite::Result<RawObject> {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    }

    fn parse((id, owner_id, op, inputs, lineage): RawObject) -> Result<ObjectRow> {
        let corrupt = |what: &str, e: serde_json::Error| {
            Error::corrupt("reading an object", format!("object {id}: bad {what}: {e}"))
        };
        Ok(ObjectRow {
            op: serde_json::from_str(&op).map_err(|e| corrupt("op", e))?,
            inputs: serde_json::from_str(&inputs).map_err(|e| corrupt("inputs", e))?,
            lineage: serde_json::from_str(&lineage).map_err(|e| corrupt("lineage", e))?,
            owner_id,
        })
    }
}

/// The steps of a replay (`rows`, by id) that need no value of their own. A run of element-wise steps,
/// each the only user of the one before, is computed in one pass from the value (or frame column) it
/// starts from, with the sum, mean, min or max that may end it ([`ops::eval_fused`]): the steps in the
/// middle are absorbed into the last one, never materialised or cached, and replayed if asked for later.
fn absorbed_steps(rows: &HashMap<String, ObjectRow>) -> HashSet<&str> {
    let mut uses: HashMap<&str, usize> = HashMap::new();
    for row in rows.values() {
        for input in &row.inputs {
            *uses.entry(input.as_str()).or_default() += 1;
        }
    }
    rows.values()
        .filter(|row| ops::is_elementwise(&row.op) || ops::is_fusable_reduce(&row.op))
        .filter_map(|row| {
            let [input] = row.inputs.as_slice() else {
                return None;
            };
            let inner = rows.get(input)?;
            let fusable = ops::is_elementwise(&inner.op) || matches!(inner.op, Op::Column { .. });
            (fusable && uses[input.as_str()] == 1).then_some(input.as_str())
        })
        .collect()
}

/// The error a user gets for an object it may not use, whether or not it exists: the two must look the
/// same, or ids could be probed.
fn not_yours(id: &str) -> Error {
    Error::not_found(
        "object",
        id,
        "you can only use pointers you made in this session's datasite: from `asset.pointer()`, `client.array(..)` or operations on those",
    )
}

impl SiteCore {
    fn object(&self, id: &str) -> Result<Option<ObjectRow>> {
        let row = self.store.read(|conn| {
            conn.prepare_cached(
                "SELECT id, owner_id, op, inputs, lineage FROM objects WHERE id = ?1",
            )
            .and_then(|mut stmt| stmt.query_row([id], ObjectRow::read).optional())
            .map_err(Error::sqlite("reading an object"))
        })?;
        row.map(ObjectRow::parse).transpose()
    }

    /// The object `id` if `caller` may use it (it created it).
    fn own_object(&self, caller: &User, id: &str) -> Result<ObjectRow> {
        match self.object(id)? {
            Some(o) if o.owner_id == caller.id => Ok(o),
            _ => Err(not_yours(id)),
        }
    }

    pub(crate) fn require_compute(caller: &User) -> Result<()> {
        if caller.role == crate::Role::Guest {
            return Err(denied(
                caller,
                "computing on assets",
                "a data scientist, data owner or admin",
                "guests can list datasets and read mocks; ask the owner to make you a data scientist",
            ));
        }
        Ok(())
    }

    /// Records an action: a new object computed by `op` from `inputs`, all the caller's own. Durable
    /// when this returns; the real side is computed by the worker.
    fn record(&self, caller: &User, op: &Op, inputs: &[&str]) -> Result<(String, Vec<String>)> {
        SiteCore::require_compute(caller)?;
        if matches!(op, Op::Asset { .. }) {
            return Err(Error::invalid(
                "op",
                "asset roots cannot be recorded directly",
                "get an asset's pointer with `asset.pointer()`",
            ));
        }
        if inputs.len() != op.arity() {
            return Err(Error::invalid(
                format!("inputs to `{}`", op.name()),
                format!("{} given", inputs.len()),
                format!("pass {}", op.arity()),
            ));
        }
        if let Op::Literal { values, .. } = op
            && values.len() > MAX_LITERAL_VALUES
        {
            return Err(Error::invalid(
                "array from the notebook",
                format!("{} values, more than {MAX_LITERAL_VALUES}", values.len()),
                "upload large data as an asset instead",
            ));
        }
        let mut lineage: Vec<String> = Vec::new();
        for id in inputs {
            for l in self.own_object(caller, id)?.lineage {
                if !lineage.contains(&l) {
                    lineage.push(l);
                }
            }
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        let op_json = serde_json::to_string(op).expect("ops serialise");
        let inputs_json = serde_json::to_string(inputs).expect("ids serialise");
        let lineage_json = serde_json::to_string(&lineage).expect("names serialise");
        self.store.write("recording an action", |tx| {
            tx.prepare_cached(
                "INSERT INTO objects (id, owner_id, op, ops_version, inputs, lineage, status, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7)",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![id, caller.id, op_json, ops::OPS_VERSION, inputs_json, lineage_json, now_ms()])
            })
            .map_err(Error::sqlite("recording an action"))?;
            audit::record(tx, &caller.email, "action", &id, &ops::describe(op, &inputs.iter().map(|s| s.to_string()).collect::<Vec<_>>()))
        })?;
        self.exec.enqueue(&id);
        Ok((id, lineage))
    }

    /// An asset's root object for `caller`.
    fn record_asset(&self, caller: &User, asset: &SiteAsset) -> Result<String> {
        SiteCore::require_compute(caller)?;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let op = serde_json::to_string(&Op::Asset {
            asset_id: asset.id.clone(),
        })
        .expect("ops serialise");
        let lineage =
            serde_json::to_string(&[format!("{} / {}", asset.dataset, asset.name)]).expect("names");
        self.store.write("recording an asset pointer", |tx| {
            tx.execute(
                "INSERT INTO objects (id, owner_id, op, ops_version, inputs, lineage, status, created_at)
                 VALUES (?1, ?2, ?3, ?4, '[]', ?5, 'ready', ?6)",
                params![id, caller.id, op, ops::OPS_VERSION, lineage, now_ms()],
            )
            .map_err(Error::sqlite("recording an asset pointer"))?;
            audit::record(tx, &caller.email, "pointer", &id, &asset.name)
        })?;
        Ok(id)
    }

    /// The value of object `id` on one side, computing what is not cached, inputs first (iteratively,
    /// so long chains cannot overflow the stack).
    pub(crate) fn value(&self, side: Side, id: &str) -> Result<Arc<Data>> {
        if let Some(v) = self.exec.cached(side, id) {
            return Ok(v);
        }
        // Values this replay uses, held here: the cache may evict them while later steps run.
        let mut values: HashMap<String, Arc<Data>> = HashMap::new();
        let mut rows: HashMap<String, ObjectRow> = HashMap::new();
        let mut order: Vec<String> = Vec::new();
        let mut stack: Vec<(String, bool)> = vec![(id.to_string(), false)];
        while let Some((oid, expanded)) = stack.pop() {
            if expanded {
                order.push(oid);
                continue;
            }
            if values.contains_key(&oid) || rows.contains_key(&oid) {
                continue;
            }
            if let Some(v) = self.exec.cached(side, &oid) {
                values.insert(oid, v);
                continue;
            }
            let row = self.object(&oid)?.ok_or_else(|| {
                Error::corrupt("replaying an action", format!("object {oid} is missing"))
            })?;
            stack.push((oid.clone(), true));
            for input in row.inputs.iter().rev() {
                stack.push((input.clone(), false));
            }
            rows.insert(oid, row);
        }
        let absorbed = absorbed_steps(&rows);
        let missing =
            |i: &str| Error::corrupt("replaying an action", format!("input {i} was not computed"));
        for oid in &order {
            if absorbed.contains(oid.as_str()) {
                continue;
            }
            let row = &rows[oid];
            let value = match &row.op {
                Op::Asset { asset_id } => self.asset_value(side, asset_id)?,
                op if row
                    .inputs
                    .first()
                    .is_some_and(|i| absorbed.contains(i.as_str())) =>
                {
                    let (mut steps, reduce) = if ops::is_elementwise(op) {
                        (vec![op], None)
                    } else {
                        (vec![], Some(op))
                    };
                    let mut column = None;
                    let mut source = &row.inputs[0];
                    while absorbed.contains(source.as_str()) {
                        let inner = &rows[source];
                        source = &inner.inputs[0];
                        if let Op::Column { name } = &inner.op {
                            column = Some(name.as_str());
                            break;
                        }
                        steps.push(&inner.op);
                    }
                    steps.reverse();
                    let input = values.get(source).ok_or_else(|| missing(source))?;
                    Arc::new(ops::eval_fused(column, input, &steps, reduce)?)
                }
                op => {
                    let inputs: Vec<&Data> = row
                        .inputs
                        .iter()
                        .map(|i| values.get(i).map(|v| v.as_ref()).ok_or_else(|| missing(i)))
                        .collect::<Result<_>>()?;
                    Arc::new(ops::eval(op, &inputs)?)
                }
            };
            self.exec.keep(side, oid, value.clone());
            values.insert(oid.clone(), value);
        }
        values.remove(id).ok_or_else(|| {
            Error::corrupt(
                "replaying an action",
                format!("object {id} was not computed"),
            )
        })
    }

    pub(crate) fn asset_value(&self, side: Side, asset_id: &str) -> Result<Arc<Data>> {
        let key = (side, asset_id.to_string());
        if let Some(v) = self
            .exec
            .assets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(v.clone());
        }
        let row: Option<(String, Option<String>)> = self.store.read(|conn| {
            conn.query_row(
                &format!(
                    "SELECT kind, {} FROM assets WHERE id = ?1",
                    if side == Side::Real {
                        "data_blob"
                    } else {
                        "mock_blob"
                    }
                ),
                [asset_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(Error::sqlite("reading an asset"))
        })?;
        let Some((kind, Some(blob))) = row else {
            return Err(Error::not_found(
                "asset",
                asset_id,
                "its dataset was deleted, or it has no mock",
            ));
        };
        let data = Arc::new(Data::decode(
            DataKind::parse(&kind)?,
            &self.store.get_blob(&blob)?,
        )?);
        self.exec
            .assets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, data.clone());
        Ok(data)
    }

    /// The worker's job: compute the real values of `ids` and record whether each worked.
    fn run_real(&self, ids: &[String]) {
        let mut outcomes = Vec::with_capacity(ids.len());
        for id in ids {
            outcomes.push(match self.value(Side::Real, id) {
                Ok(_) => (id, "ready", None),
                Err(Error::Landed(_)) => return,
                Err(e) => (id, "failed", Some(e.to_string())),
            });
        }
        let _ = self.store.write("recording results", |tx| {
            let mut stmt = tx
                .prepare_cached("UPDATE objects SET status = ?2, error = ?3 WHERE id = ?1")
                .map_err(Error::sqlite("recording results"))?;
            for (id, status, error) in outcomes {
                stmt.execute(params![id, status, error])
                    .map_err(Error::sqlite("recording results"))?;
            }
            Ok(())
        });
    }

    /// The steps from the assets to `id`, one readable line each, in order.
    fn steps(&self, id: &str) -> Result<Vec<String>> {
        let mut labels: HashMap<String, String> = HashMap::new();
        let mut lines = Vec::new();
        let mut stack = vec![(id.to_string(), false)];
        let mut rows: HashMap<String, ObjectRow> = HashMap::new();
        while let Some((oid, expanded)) = stack.pop() {
            if labels.contains_key(&oid) {
                continue;
            }
            let row = match rows.remove(&oid) {
                Some(r) => r,
                None => self.object(&oid)?.ok_or_else(|| {
                    Error::corrupt("reading a request", format!("object {oid} is missing"))
                })?,
            };
            if !expanded && row.inputs.iter().any(|i| !labels.contains_key(i)) {
                let inputs = row.inputs.clone();
                rows.insert(oid.clone(), row);
                stack.push((oid.clone(), true));
                for i in inputs.iter().rev() {
                    stack.push((i.clone(), false));
                }
                continue;
            }
            let label = match &row.op {
                Op::Asset { .. } => format!("asset `{}`", row.lineage.join(", ")),
                _ => format!("#{}", lines.len() + 1),
            };
            if !matches!(row.op, Op::Asset { .. }) {
                let inputs: Vec<String> = row.inputs.iter().map(|i| labels[i].clone()).collect();
                lines.push(format!("{label} = {}", ops::describe(&row.op, &inputs)));
            }
            labels.insert(oid, label);
        }
        Ok(lines)
    }
}

/// Where a pointer's result stands, for the user holding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Nobody has asked for the real result.
    Private,
    /// A request is waiting for the owner.
    Requested,
    /// The owner approved: `get()` returns the real result.
    Approved,
    /// The owner denied, with this reason.
    Denied(String),
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Private => f.write_str("private"),
            Status::Requested => f.write_str("requested"),
            Status::Approved => f.write_str("approved"),
            Status::Denied(reason) => write!(f, "denied: {reason}"),
        }
    }
}

/// A value on the datasite, seen through its mock. See the [module docs](self).
#[derive(Clone)]
pub struct Pointer {
    id: String,
    client: Client,
    mock: Arc<Data>,
    lineage: Vec<String>,
}

impl fmt::Debug for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pointer")
            .field("id", &self.id)
            .field("lineage", &self.lineage)
            .field("mock", &self.mock.describe())
            .finish()
    }
}

impl SiteAsset {
    /// A pointer to this asset: its mock, and the real data kept on the datasite.
    pub fn pointer(&self) -> Result<Pointer> {
        let caller = self.client().caller()?;
        let mock = self.mock().map_err(|e| match e {
            Error::NotFound { .. } => Error::invalid(
                format!("asset `{}`", self.name),
                "it has no mock, and pointers compute on the mock",
                "ask the owner to upload a mock for it",
            ),
            e => e,
        })?;
        let id = self.client().core().record_asset(&caller, self)?;
        Ok(Pointer {
            id,
            client: self.client().clone(),
            mock: Arc::new(mock),
            lineage: vec![format!("{} / {}", self.dataset, self.name)],
        })
    }
}

impl Client {
    /// A new array on the datasite from the notebook (PySyft's `client.api.lib.numpy.array`): yours, so
    /// `get()` returns it without a request.
    pub fn array(&self, values: impl Into<Data>) -> Result<Pointer> {
        let data = values.into();
        let floats = match &data {
            Data::F64(a) => a.clone(),
            Data::I64(a) => a.mapv(|v| v as f64),
            Data::Frame(_) | Data::Json(_) => {
                return Err(Error::invalid(
                    "array from the notebook",
                    format!("it is a {}", data.kind()),
                    "pass an ndarray array; frames reach the datasite as assets",
                ));
            }
        };
        let op = Op::Literal {
            shape: floats.shape().to_vec(),
            values: floats.iter().copied().collect(),
        };
        let mock = ops::eval(&op, &[])?;
        let caller = self.caller()?;
        let (id, lineage) = self.core().record(&caller, &op, &[])?;
        Ok(Pointer {
            id,
            client: self.clone(),
            mock: Arc::new(mock),
            lineage,
        })
    }

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
            stmt.query_map(params![prefix, caller.role.is_owner(), caller.id], |r| r.get(0))
                .and_then(|rows| rows.collect())
                .map_err(Error::sqlite("finding a request"))
        })?;
        match ids.as_slice() {
            [id] => self.load_request(&caller, id),
            [] => Err(Error::not_found(
                "request",
                prefix,
                "list requests with `client.requests()` (or `%requests`)",
            )),
            _ => Err(Error::invalid(
                "request id",
                format!("`{prefix}` matches several requests"),
                "give more characters of the id",
            )),
        }
    }

    fn load_request(&self, caller: &User, id: &str) -> Result<Request> {
        let row = self.core().store.read(|conn| {
            conn.query_row(
                "SELECT r.id, r.object_id, r.code_id, u.email, r.reason, r.status, r.reviewer,
                        r.decision, r.created_at, r.decided_at, o.status, o.lineage, r.number
                 FROM requests r JOIN users u ON u.id = r.requester_id
                 LEFT JOIN objects o ON o.id = r.object_id
                 WHERE r.id = ?1 AND (?2 OR r.requester_id = ?3)",
                params![id, caller.role.is_owner(), caller.id],
                |r| {
                    Ok(Request {
                        id: r.get(0)?,
                        object_id: r.get(1)?,
                        code_id: r.get(2)?,
                        requester: r.get(3)?,
                        reason: r.get(4)?,
                        status: r.get(5)?,
                        reviewer: r.get(6)?,
                        decision: r.get(7)?,
                        created_at: r.get(8)?,
                        decided_at: r.get(9)?,
                        computation: r.get::<_, Option<String>>(10)?.unwrap_or_default(),
                        lineage: serde_json::from_str::<Vec<String>>(
                            &r.get::<_, Option<String>>(11)?.unwrap_or_default(),
                        )
                        .unwrap_or_default(),
                        number: r.get(12)?,
                        client: self.clone(),
                    })
                },
            )
            .optional()
            .map_err(Error::sqlite("reading a request"))
        })?;
        let mut request = row.ok_or_else(|| {
            Error::not_found(
                "request",
                id,
                "list requests with `client.requests()` (or `%requests`)",
            )
        })?;
        if let Some(code_id) = &request.code_id {
            let code = self.core().submitted_code(code_id)?;
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

impl Client {
    /// What [`Pointer::get`] returns for object `object_id`.
    fn released_result(&self, object_id: &str) -> Result<Data> {
        let caller = self.caller()?;
        let core = self.core();
        let object = core.own_object(&caller, object_id)?;
        if object.lineage.is_empty() || caller.role.is_owner() {
            if caller.role.is_owner() && !object.lineage.is_empty() {
                core.store.write("auditing a read", |tx| {
                    audit::record(tx, &caller.email, "read_real_result", object_id, "")
                })?;
            }
            return core.value(Side::Real, object_id).map(|v| (*v).clone());
        }
        struct Latest {
            id: String,
            status: String,
            decision: Option<String>,
            blob: Option<String>,
            kind: Option<String>,
        }
        let latest: Option<Latest> = core.store.read(|conn| {
            conn.query_row(
                "SELECT id, status, decision, result_blob, result_kind FROM requests
                 WHERE object_id = ?1 AND requester_id = ?2 ORDER BY created_at DESC LIMIT 1",
                params![object_id, caller.id],
                |r| {
                    Ok(Latest {
                        id: r.get(0)?,
                        status: r.get(1)?,
                        decision: r.get(2)?,
                        blob: r.get(3)?,
                        kind: r.get(4)?,
                    })
                },
            )
            .optional()
            .map_err(Error::sqlite("reading a request"))
        })?;
        let Some(latest) = latest else {
            return Err(Error::invalid(
                "get",
                "nobody has asked for this result yet",
                "ask for it with `pointer.request(reason)`; the owner reviews it",
            ));
        };
        match (latest.status.as_str(), latest.blob, latest.kind) {
            ("pending", ..) => Err(Error::ApprovalPending { id: latest.id }),
            ("denied", ..) => Err(Error::RequestDenied {
                id: latest.id,
                reason: latest.decision.unwrap_or_default(),
            }),
            (_, Some(blob), Some(kind)) => {
                core.store.write("auditing a release", |tx| {
                    audit::record(tx, &caller.email, "get_result", &latest.id, object_id)
                })?;
                Data::decode(DataKind::parse(&kind)?, &core.store.get_blob(&blob)?)
            }
            _ => Err(Error::corrupt(
                "reading a result",
                format!("request {} is approved but holds no result", latest.id),
            )),
        }
    }
}

/// Inserts a pending request (for a pointer's result or for running code), numbered after every
/// earlier request of either kind. Call inside the submitting transaction.
pub(crate) fn insert_request(
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

/// Arguments an operation takes besides the pointer it is called on.
enum Operand<'a> {
    /// Another pointer.
    Pointer(&'a Pointer),
    /// A number.
    Scalar(f64),
}

impl Pointer {
    /// The object's id on the datasite.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The mock value: what the op computed on the mocks, here and now.
    pub fn mock(&self) -> &Data {
        &self.mock
    }

    /// The assets this value derives from (`dataset / asset`); empty for the notebook's own arrays.
    pub fn lineage(&self) -> &[String] {
        &self.lineage
    }

    /// Runs `op` on the mocks of `self` and `others` and records it on the datasite; the new pointer
    /// comes back as soon as the mock is computed and the action is durable.
    pub fn apply(&self, op: Op, others: &[&Pointer]) -> Result<Pointer> {
        let mut inputs: Vec<&Pointer> = vec![self];
        inputs.extend_from_slice(others);
        for p in others {
            if !std::ptr::eq(p.client.core(), self.client.core()) {
                return Err(Error::invalid(
                    "pointer",
                    "it belongs to another datasite",
                    "combine pointers from the same datasite",
                ));
            }
        }
        let mocks: Vec<&Data> = inputs.iter().map(|p| p.mock.as_ref()).collect();
        let mock = ops::eval(&op, &mocks)?;
        let caller = self.client.caller()?;
        let ids: Vec<&str> = inputs.iter().map(|p| p.id.as_str()).collect();
        let (id, lineage) = self.client.core().record(&caller, &op, &ids)?;
        Ok(Pointer {
            id,
            client: self.client.clone(),
            mock: Arc::new(mock),
            lineage,
        })
    }

    fn arith(&self, kind: ops::Arith, rhs: Operand<'_>) -> Result<Pointer> {
        match rhs {
            Operand::Scalar(s) => self.apply(
                Op::Arith {
                    kind,
                    scalar: Some(s),
                    scalar_left: false,
                },
                &[],
            ),
            Operand::Pointer(p) => self.apply(
                Op::Arith {
                    kind,
                    scalar: None,
                    scalar_left: false,
                },
                &[p],
            ),
        }
    }

    fn compare(&self, kind: ops::Compare, rhs: Operand<'_>) -> Result<Pointer> {
        match rhs {
            Operand::Scalar(s) => self.apply(
                Op::Compare {
                    kind,
                    scalar: Some(s),
                },
                &[],
            ),
            Operand::Pointer(p) => self.apply(Op::Compare { kind, scalar: None }, &[p]),
        }
    }

    fn reduce(&self, kind: ops::Reduce, axis: Option<usize>) -> Result<Pointer> {
        self.apply(Op::Reduce { kind, axis }, &[])
    }

    fn unary(&self, kind: ops::Unary) -> Result<Pointer> {
        self.apply(Op::Unary { kind }, &[])
    }

    /// `self` to the power `exponent`, element-wise.
    pub fn pow(&self, exponent: f64) -> Result<Pointer> {
        self.arith(ops::Arith::Pow, Operand::Scalar(exponent))
    }
    /// `|x|` element-wise.
    pub fn abs(&self) -> Result<Pointer> {
        self.unary(ops::Unary::Abs)
    }
    /// `√x` element-wise.
    pub fn sqrt(&self) -> Result<Pointer> {
        self.unary(ops::Unary::Sqrt)
    }
    /// `eˣ` element-wise.
    pub fn exp(&self) -> Result<Pointer> {
        self.unary(ops::Unary::Exp)
    }
    /// Natural logarithm element-wise.
    pub fn log(&self) -> Result<Pointer> {
        self.unary(ops::Unary::Log)
    }
    /// Mask of `x < v`.
    pub fn lt(&self, v: f64) -> Result<Pointer> {
        self.compare(ops::Compare::Lt, Operand::Scalar(v))
    }
    /// Mask of `x <= v`.
    pub fn le(&self, v: f64) -> Result<Pointer> {
        self.compare(ops::Compare::Le, Operand::Scalar(v))
    }
    /// Mask of `x > v`.
    pub fn gt(&self, v: f64) -> Result<Pointer> {
        self.compare(ops::Compare::Gt, Operand::Scalar(v))
    }
    /// Mask of `x >= v`.
    pub fn ge(&self, v: f64) -> Result<Pointer> {
        self.compare(ops::Compare::Ge, Operand::Scalar(v))
    }
    /// Mask of `x == v`.
    pub fn eq(&self, v: f64) -> Result<Pointer> {
        self.compare(ops::Compare::Eq, Operand::Scalar(v))
    }
    /// Mask of `x != v`.
    pub fn ne(&self, v: f64) -> Result<Pointer> {
        self.compare(ops::Compare::Ne, Operand::Scalar(v))
    }
    /// Mask of `x < other`, element-wise.
    pub fn lt_ptr(&self, other: &Pointer) -> Result<Pointer> {
        self.compare(ops::Compare::Lt, Operand::Pointer(other))
    }
    /// Mask of `x == other`, element-wise.
    pub fn eq_ptr(&self, other: &Pointer) -> Result<Pointer> {
        self.compare(ops::Compare::Eq, Operand::Pointer(other))
    }
    /// Sum of every value.
    pub fn sum(&self) -> Result<Pointer> {
        self.reduce(ops::Reduce::Sum, None)
    }
    /// Mean of every value.
    pub fn mean(&self) -> Result<Pointer> {
        self.reduce(ops::Reduce::Mean, None)
    }
    /// Smallest value.
    pub fn min(&self) -> Result<Pointer> {
        self.reduce(ops::Reduce::Min, None)
    }
    /// Largest value.
    pub fn max(&self) -> Result<Pointer> {
        self.reduce(ops::Reduce::Max, None)
    }
    /// Population standard deviation.
    pub fn std(&self) -> Result<Pointer> {
        self.reduce(ops::Reduce::Std, None)
    }
    /// Population variance.
    pub fn var(&self) -> Result<Pointer> {
        self.reduce(ops::Reduce::Var, None)
    }
    /// Index of the largest value in the flattened array.
    pub fn argmax(&self) -> Result<Pointer> {
        self.reduce(ops::Reduce::Argmax, None)
    }
    /// A reduction along `axis`: `x.along(0, Reduce::Mean)` is the column means of a matrix.
    pub fn along(&self, axis: usize, kind: ops::Reduce) -> Result<Pointer> {
        self.reduce(kind, Some(axis))
    }
    /// Dot, matrix-vector or matrix-matrix product.
    pub fn dot(&self, other: &Pointer) -> Result<Pointer> {
        self.apply(Op::Dot, &[other])
    }
    /// The axes reversed.
    pub fn t(&self) -> Result<Pointer> {
        self.apply(Op::Transpose, &[])
    }
    /// The same values in `shape`.
    pub fn reshape(&self, shape: &[usize]) -> Result<Pointer> {
        self.apply(
            Op::Reshape {
                shape: shape.to_vec(),
            },
            &[],
        )
    }
    /// `[start, end)` along each leading axis.
    pub fn slice(&self, ranges: &[std::ops::Range<usize>]) -> Result<Pointer> {
        self.apply(
            Op::Slice {
                ranges: ranges.iter().map(|r| (r.start, r.end)).collect(),
            },
            &[],
        )
    }
    /// A frame's columns, in this order.
    pub fn select<S: AsRef<str>>(&self, columns: impl IntoIterator<Item = S>) -> Result<Pointer> {
        let columns = columns
            .into_iter()
            .map(|c| c.as_ref().to_string())
            .collect();
        self.apply(Op::Select { columns }, &[])
    }
    /// One numeric column of a frame, as a 1-d array.
    pub fn column(&self, name: &str) -> Result<Pointer> {
        self.apply(Op::Column { name: name.into() }, &[])
    }
    /// A 0/1 mask of the rows whose text column `column` equals `value`.
    pub fn text_equals(&self, column: &str, value: &str) -> Result<Pointer> {
        self.apply(
            Op::TextEquals {
                column: column.into(),
                value: value.into(),
            },
            &[],
        )
    }
    /// The first `n` rows.
    pub fn head(&self, n: usize) -> Result<Pointer> {
        self.apply(Op::Head { n }, &[])
    }
    /// The number of rows.
    pub fn row_count(&self) -> Result<Pointer> {
        self.apply(Op::RowCount, &[])
    }
    /// A frame of numeric columns as a 2-d array.
    pub fn to_array(&self) -> Result<Pointer> {
        self.apply(Op::ToArray, &[])
    }
    /// The rows where `mask` (a 1-d pointer, e.g. from `gt`) is non-zero.
    pub fn filter(&self, mask: &Pointer) -> Result<Pointer> {
        self.apply(Op::Filter, &[mask])
    }
    /// A frame sorted by `by`.
    pub fn sort(&self, by: &str, descending: bool) -> Result<Pointer> {
        self.apply(
            Op::Sort {
                by: by.into(),
                descending,
            },
            &[],
        )
    }
    /// This frame with `values` (a 1-d pointer) as column `name`.
    pub fn with_column(&self, name: &str, values: &Pointer) -> Result<Pointer> {
        self.apply(Op::WithColumn { name: name.into() }, &[values])
    }

    /// One row per value of `by`, with `(column, aggregate)` results: `p.group_by("label", &[("x",
    /// Agg::Mean)])`.
    pub fn group_by(&self, by: &str, aggs: &[(&str, ops::Agg)]) -> Result<Pointer> {
        let aggs = aggs.iter().map(|(c, a)| (c.to_string(), *a)).collect();
        self.apply(
            Op::GroupBy {
                by: by.into(),
                aggs,
            },
            &[],
        )
    }
    /// Each value of `column` with its count, most frequent first.
    pub fn value_counts(&self, column: &str) -> Result<Pointer> {
        self.apply(
            Op::ValueCounts {
                column: column.into(),
            },
            &[],
        )
    }
    /// count, mean, std, min and max of every numeric column.
    pub fn describe(&self) -> Result<Pointer> {
        self.apply(Op::Describe, &[])
    }
    /// This frame joined with `other` on column `on`; `left` keeps unmatched rows of this one.
    pub fn join(&self, other: &Pointer, on: &str, left: bool) -> Result<Pointer> {
        self.apply(
            Op::Join {
                on: on.into(),
                left,
            },
            &[other],
        )
    }
    /// Columns of a 2-d array scaled to mean 0 and standard deviation 1.
    pub fn standardize(&self) -> Result<Pointer> {
        self.apply(Op::Standardize, &[])
    }
    /// The training rows of a seeded split (`test_fraction` of the rows go to the test set).
    pub fn train_rows(&self, test_fraction: f64, seed: u64) -> Result<Pointer> {
        self.apply(
            Op::Split {
                test_fraction,
                seed,
                test: false,
            },
            &[],
        )
    }
    /// The test rows of the same split as [`Pointer::train_rows`].
    pub fn test_rows(&self, test_fraction: f64, seed: u64) -> Result<Pointer> {
        self.apply(
            Op::Split {
                test_fraction,
                seed,
                test: true,
            },
            &[],
        )
    }
    /// Logistic regression of `targets` (0/1) on these features: the weights, bias first.
    pub fn logistic_fit(
        &self,
        targets: &Pointer,
        iterations: usize,
        learning_rate: f64,
    ) -> Result<Pointer> {
        self.apply(
            Op::LogisticFit {
                iterations,
                learning_rate,
            },
            &[targets],
        )
    }
    /// 0/1 predictions of these weights on `features`.
    pub fn predict(&self, features: &Pointer) -> Result<Pointer> {
        self.apply(Op::LogisticPredict, &[features])
    }
    /// The share of these predictions equal to `truth`.
    pub fn accuracy(&self, truth: &Pointer) -> Result<Pointer> {
        self.apply(Op::Accuracy, &[truth])
    }
    /// `[[tn, fp], [fn, tp]]` of these predictions against `truth`.
    pub fn confusion_matrix(&self, truth: &Pointer) -> Result<Pointer> {
        self.apply(Op::ConfusionMatrix, &[truth])
    }

    /// Where the real result stands for you.
    pub fn status(&self) -> Result<Status> {
        let caller = self.client.caller()?;
        self.client.core().own_object(&caller, &self.id)?;
        let latest: Option<(String, Option<String>)> = self.client.core().store.read(|conn| {
            conn.query_row(
                "SELECT status, decision FROM requests WHERE object_id = ?1 AND requester_id = ?2
                 ORDER BY created_at DESC LIMIT 1",
                params![self.id, caller.id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(Error::sqlite("reading a request"))
        })?;
        Ok(match latest {
            None => Status::Private,
            Some((s, _)) if s == "pending" => Status::Requested,
            Some((s, _)) if s == "approved" => Status::Approved,
            Some((_, reason)) => Status::Denied(reason.unwrap_or_default()),
        })
    }

    /// Asks the owner for the real result, saying why.
    pub fn request(&self, reason: &str) -> Result<Request> {
        let caller = self.client.caller()?;
        let core = self.client.core();
        core.own_object(&caller, &self.id)?;
        let reason = validate::text("request reason", reason)?;
        if reason.trim().is_empty() {
            return Err(Error::invalid(
                "request reason",
                "it is empty",
                "say what the result is for; the owner reads it before deciding",
            ));
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        core.store.write("submitting a request", |tx| {
            let open: Option<String> = tx
                .query_row(
                    "SELECT id FROM requests WHERE object_id = ?1 AND requester_id = ?2
                     AND status IN ('pending', 'approved')",
                    params![self.id, caller.id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(Error::sqlite("checking requests"))?;
            if let Some(open) = open {
                return Err(Error::AlreadyExists {
                    kind: "request for this result",
                    name: open,
                    hint: "wait for the owner's decision, then call `.get()`".into(),
                });
            }
            insert_request(tx, &id, Some(&self.id), None, &caller.id, &reason)?;
            audit::record(tx, &caller.email, "request", &id, &self.id)
        })?;
        self.client.load_request(&caller, &id)
    }

    /// The real result: yours once the owner approved your request (or at once for values made only
    /// from your own arrays, and for owners, who may read real data anyway).
    pub fn get(&self) -> Result<Data> {
        self.client.released_result(&self.id)
    }

    fn table(&self) -> Table {
        let status = self
            .status()
            .map(|s| s.to_string())
            .unwrap_or_else(|e| e.to_string());
        let mut t = Table::fields(
            "Pointer",
            [
                ("id", self.id.clone()),
                (
                    "lineage",
                    if self.lineage.is_empty() {
                        "your own data (no assets)".into()
                    } else {
                        self.lineage.join(", ")
                    },
                ),
                ("status", status),
                ("mock", self.mock.describe()),
            ],
        );
        t.badge = Some("mock".into());
        add_preview(&mut t, &self.mock, "Mock result");
        t
    }
}

crate::display::render_via_table!(Pointer);

macro_rules! operator {
    ($trait:ident, $method:ident, $kind:ident) => {
        impl std::ops::$trait<f64> for &Pointer {
            type Output = Result<Pointer>;
            fn $method(self, rhs: f64) -> Result<Pointer> {
                self.arith(ops::Arith::$kind, Operand::Scalar(rhs))
            }
        }
        impl std::ops::$trait<&Pointer> for &Pointer {
            type Output = Result<Pointer>;
            fn $method(self, rhs: &Pointer) -> Result<Pointer> {
                self.arith(ops::Arith::$kind, Operand::Pointer(rhs))
            }
        }
        impl std::ops::$trait<&Pointer> for f64 {
            type Output = Result<Pointer>;
            fn $method(self, rhs: &Pointer) -> Result<Pointer> {
                rhs.apply(
                    Op::Arith {
                        kind: ops::Arith::$kind,
                        scalar: Some(self),
                        scalar_left: true,
                    },
                    &[],
                )
            }
        }
    };
}
operator!(Add, add, Add);
operator!(Sub, sub, Sub);
operator!(Mul, mul, Mul);
operator!(Div, div, Div);
operator!(Rem, rem, Rem);

impl std::ops::Neg for &Pointer {
    type Output = Result<Pointer>;
    fn neg(self) -> Result<Pointer> {
        self.unary(ops::Unary::Neg)
    }
}

/// A request for a pointer's real result.
#[derive(Clone)]
pub struct Request {
    /// Its id.
    pub id: String,
    /// Its number on the datasite (`#3`), in the order requests were made.
    pub number: i64,
    /// The object whose result is asked for (a pointer's result request).
    pub object_id: Option<String>,
    /// The code to run (a code request).
    pub code_id: Option<String>,
    /// Who asked.
    pub requester: String,
    /// Why.
    pub reason: String,
    /// `pending`, `approved` or `denied`.
    pub status: String,
    /// Who decided.
    pub reviewer: Option<String>,
    /// The reason given with a denial.
    pub decision: Option<String>,
    /// When it was asked, ms since the epoch.
    pub created_at: i64,
    /// When it was decided.
    pub decided_at: Option<i64>,
    /// For a result request, whether the real side computed: `pending`, `ready` or `failed`; for a
    /// code request, the function and its runs.
    pub computation: String,
    /// The assets the result derives from.
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
    pub code: Option<crate::code::SubmittedCode>,
}

impl Request {
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    pub(crate) fn owner_caller(&self, action: &str) -> Result<User> {
        let caller = self.client.caller()?;
        require_owner(
            &caller,
            action,
            "only the datasite's owners review requests",
        )?;
        Ok(caller)
    }

    /// Everything an owner needs to decide: who, why, and what would be released. For a pointer's
    /// result, the steps back to the assets, the mock result and a preview of the real one (computed now
    /// if the worker has not finished); for code, its source, bound inputs, output policy and mock
    /// result (run it on the real data with [`Request::run_privately`]).
    pub fn review(&self) -> Result<Review> {
        let caller = self.owner_caller("reviewing requests")?;
        let core = self.client.core();
        let review = match (&self.object_id, &self.code_id) {
            (Some(object_id), _) => Review {
                request: self.clone(),
                steps: core.steps(object_id)?,
                mock: core.value(Side::Mock, object_id).ok().map(|v| (*v).clone()),
                real: Some(
                    core.value(Side::Real, object_id)
                        .map(|v| (*v).clone())
                        .map_err(|e| e.to_string()),
                ),
                code: None,
            },
            (None, _) => {
                let code = self.code()?;
                Review {
                    request: self.clone(),
                    steps: vec![code.call()],
                    mock: code.mock.clone(),
                    real: None,
                    code: Some(code),
                }
            }
        };
        core.store.write("auditing a review", |tx| {
            audit::record(tx, &caller.email, "review", &self.id, "")
        })?;
        Ok(review)
    }

    /// The released result, for its requester: a pointer's stored real result, or the latest result of
    /// approved code (running it first if it has not run yet; see [`OutputPolicy`](crate::code::OutputPolicy)).
    /// Pending or denied requests give [`Error::ApprovalPending`] or [`Error::RequestDenied`].
    pub fn get(&self) -> Result<Data> {
        match &self.object_id {
            Some(object_id) => self.client.released_result(object_id),
            None => self.code_result(false),
        }
    }

    fn decide(
        &self,
        caller: &User,
        approve: bool,
        reason: &str,
        result: Option<(String, DataKind)>,
    ) -> Result<Request> {
        let core = self.client.core();
        core.store.write("deciding a request", |tx| {
            let (status, requester): (String, String) = tx
                .query_row(
                    "SELECT status, requester_id FROM requests WHERE id = ?1",
                    [&self.id],
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
            if status != "pending" {
                return Err(Error::invalid(
                    format!("request {}", self.id),
                    format!("it is already {status}"),
                    "a decision is final; the scientist can submit a new request",
                ));
            }
            let (blob, kind) = match &result {
                Some((b, k)) => (Some(b.clone()), Some(k.as_str())),
                None => (None, None),
            };
            tx.execute(
                "UPDATE requests SET status = ?2, reviewer = ?3, decision = ?4, result_blob = ?5,
                 result_kind = ?6, decided_at = ?7 WHERE id = ?1",
                params![
                    self.id,
                    if approve { "approved" } else { "denied" },
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
                &self.id,
                reason,
            )
        })?;
        self.client.load_request(caller, &self.id)
    }

    /// Approves: the real result is computed (if it is not yet), stored once and released to the
    /// requester only. Returns the request as decided.
    pub fn approve(&self) -> Result<Request> {
        let caller = self.owner_caller("approving requests")?;
        let core = self.client.core();
        let Some(object_id) = &self.object_id else {
            // Code runs when its requester asks for the result, under its output policy.
            return self.decide(&caller, true, "", None);
        };
        let real = core.value(Side::Real, object_id).map_err(|e| {
            Error::invalid(
                format!("request {}", self.id),
                format!("its result failed on the real data: {e}"),
                "deny it with a reason so the scientist can fix the computation",
            )
        })?;
        let blob = core.store.put_blob(&real.encode()?)?;
        self.decide(&caller, true, "", Some((blob, real.kind())))
    }

    /// Denies, with a reason the requester sees. Returns the request as decided.
    pub fn deny(&self, reason: &str) -> Result<Request> {
        let caller = self.owner_caller("denying requests")?;
        let reason = validate::text("denial reason", reason)?;
        if reason.trim().is_empty() {
            return Err(Error::invalid(
                "denial reason",
                "it is empty",
                "tell the scientist why, so they can ask for something you can release",
            ));
        }
        self.decide(&caller, false, &reason, None)
    }

    fn fields(&self) -> Vec<(&'static str, String)> {
        let mut fields = vec![
            ("number", format!("#{}", self.number)),
            ("id", self.id.clone()),
            ("requester", self.requester.clone()),
            ("reason", self.reason.clone()),
            ("status", self.status.clone()),
            ("lineage", self.lineage.join(", ")),
            ("computation", self.computation.clone()),
            ("asked", display::timestamp(self.created_at)),
        ];
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
            if !self.request.client().core().runner.isolated() {
                t.warnings.push(
                    "runs are not isolated on this machine (it allows no user namespaces): this code could read the datasite's files and use the network; read it with that in mind".into(),
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
                r.status.clone(),
                r.lineage.join(", "),
                display::timestamp(r.created_at),
            ]);
        }
        t
    }
}

crate::display::render_via_table!(RequestList);

#[cfg(test)]
mod tests {
    use super::*;

    fn array(n: usize) -> Arc<Data> {
        Arc::new(Data::F64(ndarray::ArrayD::zeros(ndarray::IxDyn(&[n]))))
    }

    fn key(id: &str) -> (Side, String) {
        (Side::Real, id.to_string())
    }

    #[test]
    fn the_cache_keeps_its_budget_and_evicts_the_least_recently_used() {
        let exec = Executor::new(800); // 100 floats
        for id in ["a", "b", "c", "d"] {
            exec.keep(Side::Real, id, array(25));
        }
        assert_eq!(exec.cache().bytes, 800);
        // Touch "a" so that "b" is now the oldest.
        assert!(exec.cached(Side::Real, "a").is_some());
        exec.keep(Side::Real, "e", array(25));
        let cache = exec.cache();
        assert!(cache.bytes <= 600, "{} bytes kept", cache.bytes);
        assert!(cache.entries.contains_key(&key("a")));
        assert!(cache.entries.contains_key(&key("e")));
        assert!(!cache.entries.contains_key(&key("b")));
        assert!(!cache.entries.contains_key(&key("c")));
        let counted: usize = cache.entries.values().map(|e| e.bytes).sum();
        assert_eq!(counted, cache.bytes);
    }

    #[test]
    fn a_value_larger_than_the_budget_is_kept_alone() {
        let exec = Executor::new(80);
        exec.keep(Side::Real, "small", array(5));
        exec.keep(Side::Real, "big", array(1000));
        assert!(exec.cached(Side::Real, "big").is_some());
        assert!(exec.cached(Side::Real, "small").is_none());
        // Replacing a value counts its bytes once.
        exec.keep(Side::Real, "big", array(10));
        assert_eq!(exec.cache().bytes, 80);
        exec.clear();
        assert_eq!(exec.cache().bytes, 0);
        assert!(exec.cached(Side::Real, "big").is_none());
    }
}
