//! Recorded actions and their replay: the objects table, and the worker that computes real values
//! off the notebook's critical path through the engine's executor and cache.
//!
//! An object is recorded once ([`SiteCore::record`]) with its op, inputs and lineage, all read or
//! computed here from the datasite's own rows; its value on either side ([`Side`]) is computed on
//! demand from those rows alone. Real-side outcomes (`ready`, `failed`) are kept for owners: nothing a
//! scientist receives before approval depends on them.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak, mpsc};

use rusqlite::{OptionalExtension, Row, params};

use crate::audit;
use crate::data::Data;
use crate::datasite::site::SiteCore;
use crate::datasite::users::{User, denied};
use crate::engine::planned;
use crate::engine::replay::{MAX_LITERAL_VALUES, Side, Step, check_arguments};
use crate::error::{Error, Result};
use crate::ops::{self, Op};
use crate::store::now_ms;

/// The worker thread that replays recorded actions on the real data, off the callers' path.
#[derive(Debug, Default)]
pub(crate) struct Worker {
    queue: Mutex<Option<mpsc::Sender<String>>>,
    /// Real-side replays the worker finished, and the microseconds they took.
    pub(crate) replays: std::sync::atomic::AtomicU64,
    pub(crate) replay_micros: std::sync::atomic::AtomicU64,
}

impl Worker {
    /// Starts the worker for `core`. It holds only a weak reference, so landing or dropping the
    /// datasite ends it.
    pub(crate) fn start(core: &Arc<SiteCore>) {
        let (tx, rx) = mpsc::channel::<String>();
        *core.worker.queue.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
        let weak: Weak<SiteCore> = Arc::downgrade(core);
        let _ = std::thread::Builder::new()
            .name(format!("veil-worker-{}", core.name))
            .spawn(move || {
                lower_priority();
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
}

/// The nice value of the worker thread: above the callers' threads (0), so real-side replays take
/// the cores only when no answer a caller waits for (a mock, a listing) needs them.
pub(crate) const WORKER_NICE: i32 = 10;

/// Lowers the calling thread's CPU priority to [`WORKER_NICE`] (on Linux a nice value is a
/// thread's own). A failure leaves it as it was: replays still run, only sooner.
fn lower_priority() {
    #[allow(unsafe_code)]
    // SAFETY: setpriority and gettid read and write no memory of ours.
    unsafe {
        libc::setpriority(
            libc::PRIO_PROCESS,
            libc::gettid() as libc::id_t,
            WORKER_NICE,
        );
    }
}

/// What the plan path made of a real value.
enum Planned {
    /// Computed, and kept in the cache.
    Kept(Arc<Data>),
    /// Run streaming to see that it computes, and not kept.
    Checked,
}

/// What the datasite stores about an object.
#[derive(Debug, Clone)]
pub(crate) struct ObjectRow {
    pub(crate) owner_id: String,
    pub(crate) op: Op,
    pub(crate) inputs: Vec<String>,
    pub(crate) lineage: Vec<String>,
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
    pub(crate) fn object(&self, id: &str) -> Result<Option<ObjectRow>> {
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
    pub(crate) fn own_object(&self, caller: &User, id: &str) -> Result<ObjectRow> {
        match self.object(id)? {
            Some(o) if o.owner_id == caller.id => Ok(o),
            _ => Err(not_yours(id)),
        }
    }

    pub(crate) fn require_compute(caller: &User) -> Result<()> {
        if caller.role == veil_api::view::Role::Guest {
            return Err(denied(
                caller,
                "computing on assets",
                "a data scientist, data owner or admin",
                "guests can list datasets and read mocks; ask the owner to make you a data scientist",
            ));
        }
        Ok(())
    }

    /// Checks that `caller` may record `op` on `inputs` (objects it made, as many as the op takes) and
    /// returns the new object's lineage: the assets its inputs derive from.
    pub(crate) fn check_action(
        &self,
        caller: &User,
        op: &Op,
        inputs: &[&str],
    ) -> Result<Vec<String>> {
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
        check_arguments(op)?;
        let mut lineage: Vec<String> = Vec::new();
        for id in inputs {
            for l in self.own_object(caller, id)?.lineage {
                if !lineage.contains(&l) {
                    lineage.push(l);
                }
            }
        }
        Ok(lineage)
    }

    /// Records an action [`SiteCore::check_action`] allowed: a new object computed by `op` from
    /// `inputs`, with `lineage`. Durable when this returns; the real side is computed by the worker.
    pub(crate) fn record(
        &self,
        caller: &User,
        op: &Op,
        inputs: &[&str],
        lineage: &[String],
    ) -> Result<String> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let op_json = serde_json::to_string(op).expect("ops serialise");
        let inputs_json = serde_json::to_string(inputs).expect("ids serialise");
        let lineage_json = serde_json::to_string(lineage).expect("names serialise");
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
        self.worker.enqueue(&id);
        Ok(id)
    }

    /// An asset's root object for `caller`, labelled `dataset / asset` with the names the datasite
    /// holds for `asset_id` (never names a client sends). Returns its id and label.
    pub(crate) fn record_asset(&self, caller: &User, asset_id: &str) -> Result<(String, String)> {
        SiteCore::require_compute(caller)?;
        let label = self.asset_label(asset_id)?;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let op = serde_json::to_string(&Op::Asset {
            asset_id: asset_id.to_string(),
        })
        .expect("ops serialise");
        let lineage = serde_json::to_string(&[&label]).expect("names serialise");
        self.store.write("recording an asset pointer", |tx| {
            tx.execute(
                "INSERT INTO objects (id, owner_id, op, ops_version, inputs, lineage, status, created_at)
                 VALUES (?1, ?2, ?3, ?4, '[]', ?5, 'ready', ?6)",
                params![id, caller.id, op, ops::OPS_VERSION, lineage, now_ms()],
            )
            .map_err(Error::sqlite("recording an asset pointer"))?;
            audit::record(tx, &caller.email, "pointer", &id, &label)
        })?;
        Ok((id, label))
    }

    /// `dataset / asset` for `asset_id`, from the datasite's records.
    pub(crate) fn asset_label(&self, asset_id: &str) -> Result<String> {
        self.store
            .read(|conn| {
                conn.query_row(
                    "SELECT d.name || ' / ' || a.name FROM assets a JOIN datasets d ON d.id = a.dataset_id
                     WHERE a.id = ?1",
                    [asset_id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(Error::sqlite("reading an asset"))
            })?
            .ok_or_else(|| {
                Error::not_found(
                    "asset",
                    asset_id,
                    "its dataset was deleted; list datasets with `client.datasets()`",
                )
            })
    }

    /// The value of object `id` on one side, computing what is not cached, inputs first (iteratively,
    /// so long chains cannot overflow the stack).
    pub(crate) fn value(&self, side: Side, id: &str) -> Result<Arc<Data>> {
        if side == Side::Real
            && let Some(Planned::Kept(value)) = self.planned_value(id, true)?
        {
            return Ok(value);
        }
        self.memory_value(side, id)
    }

    /// The value of object `id` on one side, computed in memory (see [`SiteCore::value`]).
    fn memory_value(&self, side: Side, id: &str) -> Result<Arc<Data>> {
        self.exec.replay(
            side,
            id,
            |oid| {
                Ok(self.object(oid)?.map(|row| Step {
                    op: row.op,
                    inputs: row.inputs,
                }))
            },
            |asset_id| self.asset_value(side, asset_id),
        )
    }

    /// The real value of object `id` computed as one streaming plan over its assets' files, read in
    /// place (see [`LaunchOptions::plan_from_bytes`](crate::LaunchOptions::plan_from_bytes)); `None`
    /// when the plan path does not take it: it is cached, no asset of the datasite is one plans
    /// read, a step is one plans do not run, or one of its assets is small or not a frame.
    ///
    /// Unless `whole` is asked for, a value as large as its rows (anything but an aggregate) is
    /// only checked: its plan runs streaming and keeps nothing, so the worker learns whether it
    /// computes without holding a filtered copy of an asset nobody asked to read.
    fn planned_value(&self, id: &str, whole: bool) -> Result<Option<Planned>> {
        /// Longest lineage a plan is compiled for: longer ones replay in memory, step by step.
        const MAX_PLANNED_STEPS: usize = 4096;
        if self.exec.cached(Side::Real, id).is_some() || !self.any_planned_asset()? {
            return Ok(None);
        }
        let generation = self.exec.generation();
        let graph = self.graph(id, "planning a replay")?;
        if graph.len() > MAX_PLANNED_STEPS || graph.iter().any(|(_, row)| !planned::plans(&row.op))
        {
            return Ok(None);
        }
        let mut steps = Vec::with_capacity(graph.len());
        let mut sources = HashMap::new();
        let mut blobs = Vec::new();
        for ((_, row), inputs) in graph.iter().zip(input_positions(&graph)) {
            if let Op::Asset { asset_id } = &row.op {
                let Some((blob, is_data)) = self.planned_blob(asset_id)? else {
                    return Ok(None);
                };
                let source = if is_data {
                    let (path, _) = self.store.verified_blob_file(&blob)?;
                    planned::Source::Parquet(path)
                } else {
                    planned::Source::Files(self.verified_files(&self.manifest(&blob)?)?)
                };
                sources.insert(asset_id.clone(), source);
                blobs.push((blob, is_data));
            }
            steps.push(planned::Step::new(row.op.clone(), inputs));
        }
        let engine = self.planner.engine()?;
        let aggregates = matches!(
            graph.last().map(|(_, row)| &row.op),
            Some(
                Op::Reduce { .. }
                    | Op::RowCount
                    | Op::GroupBy { .. }
                    | Op::ValueCounts { .. }
                    | Op::Describe
            )
        );
        let output = if whole || aggregates {
            engine.run(&steps, &sources).map(Some)
        } else {
            engine.check(&steps, &sources).map(|_| None)
        };
        let output = match output {
            Ok(output) => output,
            Err(planned::PlanError::Unsupported { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        // The files were read in place: they must still be what was verified.
        for (blob, is_data) in &blobs {
            if *is_data {
                self.store.verified_blob_file(blob)?;
            } else {
                self.verified_files(&self.manifest(blob)?)?;
            }
        }
        let Some(output) = output else {
            self.planner
                .checks
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Ok(Some(Planned::Checked));
        };
        let value = Arc::new(planned::to_data(output)?);
        self.planner
            .runs
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.exec
            .keep_from(generation, Side::Real, id, value.clone());
        Ok(Some(Planned::Kept(value)))
    }

    /// Whether any asset of the datasite is one plans read: one read of the assets' rows, so a
    /// datasite of small assets pays it alone, not a walk of each lineage.
    fn any_planned_asset(&self) -> Result<bool> {
        if self.planner.from_bytes == u64::MAX {
            return Ok(false);
        }
        self.store.read(|conn| {
            conn.prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM assets
                                WHERE kind = 'frame' AND (data_bytes >= ?1 OR stored_as = 'files'))",
            )
            .and_then(|mut stmt| {
                stmt.query_row(
                    [i64::try_from(self.planner.from_bytes).unwrap_or(i64::MAX)],
                    |r| r.get(0),
                )
            })
            .map_err(Error::sqlite("reading assets"))
        })
    }

    /// The blob of real asset `asset_id` when plans read it (files read in place, or a frame of
    /// at least [`LaunchOptions::plan_from_bytes`](crate::LaunchOptions::plan_from_bytes), counted
    /// as the size everyone sees: 8 bytes a value), and whether it is the data itself (else the
    /// files' manifest); `None` when plans do not read it.
    fn planned_blob(&self, asset_id: &str) -> Result<Option<(String, bool)>> {
        let from = i64::try_from(self.planner.from_bytes).unwrap_or(i64::MAX);
        self.store.read(|conn| {
            conn.prepare_cached(
                "SELECT data_blob, stored_as = 'blob' FROM assets
                 WHERE id = ?1 AND kind = 'frame' AND (data_bytes >= ?2 OR stored_as = 'files')",
            )
            .and_then(|mut stmt| {
                stmt.query_row(params![asset_id, from], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .map_err(Error::sqlite("reading an asset"))
        })
    }

    /// An asset's kind and the blob holding its data on `side` (`None`: no such asset; a `None`
    /// blob: no mock), and whether that blob is the data itself (`false`: on the real side, the
    /// manifest of files read in place).
    fn asset_blob(
        &self,
        side: Side,
        asset_id: &str,
    ) -> Result<Option<(String, Option<String>, bool)>> {
        self.store.read(|conn| {
            conn.query_row(
                &format!(
                    "SELECT kind, {}, stored_as FROM assets WHERE id = ?1",
                    if side == Side::Real {
                        "data_blob"
                    } else {
                        "mock_blob"
                    }
                ),
                [asset_id],
                |r| {
                    let stored_as: String = r.get(2)?;
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        side == Side::Mock || stored_as == "blob",
                    ))
                },
            )
            .optional()
            .map_err(Error::sqlite("reading an asset"))
        })
    }

    pub(crate) fn asset_value(&self, side: Side, asset_id: &str) -> Result<Arc<Data>> {
        if let Some(v) = self.exec.loaded_asset(side, asset_id) {
            return Ok(v);
        }
        let generation = self.exec.generation();
        let Some((kind, Some(blob), is_data)) = self.asset_blob(side, asset_id)? else {
            return Err(Error::not_found(
                "asset",
                asset_id,
                "its dataset was deleted, or it has no mock",
            ));
        };
        let data = Arc::new(if is_data {
            Data::decode(
                crate::data::parse_kind(&kind)?,
                &self.store.get_blob(&blob)?,
            )?
        } else {
            self.load_files(asset_id, &blob)?
        });
        self.exec
            .keep_asset_from(generation, side, asset_id, data.clone());
        Ok(data)
    }

    /// Queues again the real-side replays a previous process recorded but did not finish (it
    /// stopped, or was killed, first).
    pub(crate) fn resume_replays(&self) -> Result<()> {
        let pending: Vec<String> = self.store.read(|conn| {
            let mut stmt = conn
                .prepare("SELECT id FROM objects WHERE status = 'pending' ORDER BY created_at")
                .map_err(Error::sqlite("reading unfinished replays"))?;
            stmt.query_map([], |r| r.get(0))
                .and_then(|rows| rows.collect())
                .map_err(Error::sqlite("reading unfinished replays"))
        })?;
        for id in &pending {
            self.worker.enqueue(id);
        }
        Ok(())
    }

    /// The worker's job: compute the real values of `ids` and record whether each worked.
    fn run_real(&self, ids: &[String]) {
        let mut outcomes = Vec::with_capacity(ids.len());
        for id in ids {
            let started = std::time::Instant::now();
            // A panic in the data libraries fails this object, not the worker every user shares.
            let value = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                match self.planned_value(id, false)? {
                    Some(_) => Ok(()),
                    None => self.memory_value(Side::Real, id).map(drop),
                }
            }))
            .unwrap_or_else(|_| Err(Error::corrupt("replaying an action", "an op panicked")));
            let took = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
            self.worker
                .replay_micros
                .fetch_add(took, std::sync::atomic::Ordering::Relaxed);
            self.worker
                .replays
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            outcomes.push(match value {
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
    pub(crate) fn steps(&self, id: &str) -> Result<Vec<String>> {
        let mut labels: HashMap<String, String> = HashMap::new();
        let mut lines = Vec::new();
        for (oid, row) in self.graph(id, "reading a request")? {
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

    /// The recorded steps behind object `id`, each once, inputs before the steps that read them
    /// (a depth-first walk, inputs in their order); `what` names the work for the error when an
    /// object is missing.
    pub(crate) fn graph(&self, id: &str, what: &str) -> Result<Vec<(String, ObjectRow)>> {
        let mut order: Vec<(String, ObjectRow)> = Vec::new();
        let mut placed: HashSet<String> = HashSet::new();
        let mut rows: HashMap<String, ObjectRow> = HashMap::new();
        let mut stack = vec![(id.to_string(), false)];
        while let Some((oid, expanded)) = stack.pop() {
            if placed.contains(&oid) {
                continue;
            }
            let row = match rows.remove(&oid) {
                Some(r) => r,
                None => self
                    .object(&oid)?
                    .ok_or_else(|| Error::corrupt(what, format!("object {oid} is missing")))?,
            };
            if expanded || row.inputs.is_empty() {
                placed.insert(oid.clone());
                order.push((oid, row));
                continue;
            }
            let inputs = row.inputs.clone();
            rows.insert(oid.clone(), row);
            stack.push((oid, true));
            stack.extend(inputs.into_iter().rev().map(|i| (i, false)));
        }
        Ok(order)
    }
}

/// For each step of a [`SiteCore::graph`], its inputs' positions among the steps.
pub(crate) fn input_positions(graph: &[(String, ObjectRow)]) -> Vec<Vec<usize>> {
    let position: HashMap<&str, usize> = graph
        .iter()
        .enumerate()
        .map(|(i, (oid, _))| (oid.as_str(), i))
        .collect();
    graph
        .iter()
        .map(|(_, row)| row.inputs.iter().map(|i| position[i.as_str()]).collect())
        .collect()
}
