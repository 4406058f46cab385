//! Replay's executor and cache, which know no caller: the limits an op's arguments and a replay's
//! values keep to, the side a value is computed on, and the byte-budgeted cache of computed values
//! and loaded assets. The datasite's replay (its objects, its worker) computes through them.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use crate::data::Data;
use crate::error::{Error, Result};
use crate::ops::{self, Op};

/// Most values a literal array from the notebook may hold.
pub const MAX_LITERAL_VALUES: usize = 1 << 20;
/// Most bytes of an op's arguments (names, numbers, shapes), as JSON, beside a literal's values:
/// the owner reads them in every review of what derives from it.
pub const MAX_OP_ARGUMENT_BYTES: usize = 16 * 1024;
/// Most dimensions of a shape an op names.
pub const MAX_DIMS: usize = 32;
/// Most bytes the values of one replay may hold at once (each op's own result is capped at
/// `MAX_OP_VALUES` values).
pub const MAX_REPLAY_BYTES: usize = crate::data::MAX_DECODED_BYTES;
/// Most gradient steps of a fit: its cost is steps × real rows, and one worker replays for everyone.
pub const MAX_ITERATIONS: usize = 100_000;

/// Where a computed value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Side {
    Real,
    Mock,
}

/// Most bytes of computed values a datasite keeps by default ([`LaunchOptions::cache_bytes`](crate::LaunchOptions::cache_bytes)).
pub const DEFAULT_CACHE_BYTES: usize = 1 << 30;

/// The replay's executor state: a byte-budgeted cache of computed values, and the loaded asset
/// data every pointer to an asset shares.
#[derive(Debug)]
pub(crate) struct Executor {
    /// Computed values by object id, least recently used evicted first.
    cache: Mutex<Cache>,
    /// Loaded asset data by asset id, shared by every pointer to the asset.
    assets: Mutex<HashMap<(Side, String), Arc<Data>>>,
}

/// Computed values within a byte budget. An evicted value is not lost: its recorded steps replay it.
#[derive(Debug)]
struct Cache {
    entries: HashMap<(Side, String), Cached>,
    bytes: usize,
    budget: usize,
    clock: u64,
    /// Bumped by [`Executor::forget_assets`]: a value computed from an older generation (by a replay
    /// that was running when its dataset was deleted) is not kept.
    generation: u64,
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

    /// What an entry's key and its slot in the map cost beside the value.
    const ENTRY_BYTES: usize = 128;

    fn insert(&mut self, key: (Side, String), value: Arc<Data>) {
        self.clock += 1;
        // Charged what it costs: a cache of many small values (a mean, three counts) would hold
        // twenty times its budget if charged their numbers alone.
        let bytes = Cache::ENTRY_BYTES + value.footprint();
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
                generation: 0,
            }),
            assets: Mutex::default(),
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many computed values are cached, the bytes they are charged, and the budget.
    pub(crate) fn usage(&self) -> (usize, usize, usize) {
        let cache = self.cache();
        (cache.entries.len(), cache.bytes, cache.budget)
    }

    /// Forgets computed values (not loaded assets); they are replayed when next needed.
    pub(crate) fn clear(&self) {
        let mut cache = self.cache();
        cache.entries.clear();
        cache.bytes = 0;
    }

    /// Forgets the loaded data of `asset_ids` (both sides) and every computed value, since any of them
    /// may derive from those assets.
    pub(crate) fn forget_assets(&self, asset_ids: &[String]) {
        // Under the cache's lock (then the assets'), as `keep_from` and `asset_value` take them.
        let mut cache = self.cache();
        cache.generation += 1;
        self.assets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(_, id), _| !asset_ids.contains(id));
        cache.entries.clear();
        cache.bytes = 0;
    }

    /// The generation values computed from now on belong to.
    pub(crate) fn generation(&self) -> u64 {
        self.cache().generation
    }

    /// [`Executor::keep`], unless assets were forgotten since `generation`.
    pub(crate) fn keep_from(&self, generation: u64, side: Side, id: &str, value: Arc<Data>) {
        let mut cache = self.cache();
        if cache.generation == generation {
            cache.insert((side, id.to_string()), value);
        }
    }

    pub(crate) fn cached(&self, side: Side, id: &str) -> Option<Arc<Data>> {
        self.cache().get(&(side, id.to_string()))
    }

    pub(crate) fn keep(&self, side: Side, id: &str, value: Arc<Data>) {
        self.cache().insert((side, id.to_string()), value);
    }

    /// An asset's data on `side`, if loaded.
    pub(crate) fn loaded_asset(&self, side: Side, asset_id: &str) -> Option<Arc<Data>> {
        self.assets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(side, asset_id.to_string()))
            .cloned()
    }

    /// Keeps an asset's loaded data, unless assets were forgotten since `generation` (its dataset
    /// was deleted while it loaded).
    pub(crate) fn keep_asset_from(
        &self,
        generation: u64,
        side: Side,
        asset_id: &str,
        data: Arc<Data>,
    ) {
        let cache = self.cache();
        if cache.generation == generation {
            self.assets
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert((side, asset_id.to_string()), data);
        }
    }

    /// The value of object `id` on `side`: from the cache, or replayed from the steps
    /// `load_step` reads (`None`: no such object) down to cached values and the assets
    /// `load_asset` loads. Values the replay computes are kept in the cache; each is dropped from
    /// the replay once the last step reading it is done, and a replay holding more than
    /// [`MAX_REPLAY_BYTES`] at once fails.
    pub(crate) fn replay(
        &self,
        side: Side,
        id: &str,
        load_step: impl Fn(&str) -> Result<Option<Step>>,
        load_asset: impl Fn(&str) -> Result<Arc<Data>>,
    ) -> Result<Arc<Data>> {
        if let Some(v) = self.cached(side, id) {
            return Ok(v);
        }
        let generation = self.generation();
        // Values this replay uses, held here: the cache may evict them while later steps run.
        let mut values: HashMap<String, Arc<Data>> = HashMap::new();
        let mut rows: HashMap<String, Step> = HashMap::new();
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
            if let Some(v) = self.cached(side, &oid) {
                values.insert(oid, v);
                continue;
            }
            let row = load_step(&oid)?.ok_or_else(|| {
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
        // Each step that computes something, with its fused chain and what it reads from `values`
        // (a fused chain only its source), so each value is dropped once the last step reading it is
        // done: a replay holds its frontier, not its past.
        let steps: Vec<(&String, Option<Chain<'_>>, Vec<&String>)> = order
            .iter()
            .filter(|o| !absorbed.contains(o.as_str()))
            .map(|oid| {
                let chain = fused_chain(&rows, &absorbed, oid);
                let reads = match &chain {
                    Some(c) => vec![c.source],
                    None => rows[oid].inputs.iter().collect(),
                };
                (oid, chain, reads)
            })
            .collect();
        let mut readers: HashMap<&String, usize> = HashMap::new();
        for input in steps.iter().flat_map(|(_, _, reads)| reads) {
            *readers.entry(input).or_default() += 1;
        }
        let mut live_bytes = 0usize;
        for (oid, chain, reads) in steps {
            let row = &rows[oid];
            let value = match (&row.op, chain) {
                (Op::Asset { asset_id }, _) => load_asset(asset_id)?,
                (op, Some(chain)) => {
                    let mut steps = chain.steps;
                    let reduce = if ops::is_elementwise(op) {
                        steps.push(op);
                        None
                    } else {
                        Some(op)
                    };
                    let input = values
                        .get(chain.source)
                        .ok_or_else(|| missing(chain.source))?;
                    Arc::new(ops::eval_fused(chain.column, input, &steps, reduce)?)
                }
                (op, None) => {
                    let inputs: Vec<&Data> = row
                        .inputs
                        .iter()
                        .map(|i| values.get(i).map(|v| v.as_ref()).ok_or_else(|| missing(i)))
                        .collect::<Result<_>>()?;
                    Arc::new(ops::eval(op, &inputs)?)
                }
            };
            self.keep_from(generation, side, oid, value.clone());
            live_bytes += value.approx_bytes();
            values.insert(oid.clone(), value);
            for input in reads {
                let left = readers.get_mut(input).map(|n| {
                    *n -= 1;
                    *n
                });
                if left == Some(0)
                    && input != id
                    && let Some(done) = values.remove(input)
                {
                    live_bytes = live_bytes.saturating_sub(done.approx_bytes());
                }
            }
            if live_bytes > MAX_REPLAY_BYTES {
                return Err(Error::invalid(
                    "computation",
                    format!(
                        "its values in memory at once reach {}, more than {}",
                        crate::display::human_bytes(live_bytes as u64),
                        crate::display::human_bytes(MAX_REPLAY_BYTES as u64)
                    ),
                    "select columns, filter or aggregate before a join or a large op",
                ));
            }
        }
        values.remove(id).ok_or_else(|| {
            Error::corrupt(
                "replaying an action",
                format!("object {id} was not computed"),
            )
        })
    }
}

/// One recorded step of a replay: its op and its input objects.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    pub(crate) op: Op,
    pub(crate) inputs: Vec<String>,
}

/// The steps of a replay (`rows`, by id) that need no value of their own. A run of element-wise steps,
/// each the only user of the one before, is computed in one pass from the value (or frame column) it
/// starts from, with the sum, mean, min or max that may end it ([`ops::eval_fused`]): the steps in the
/// middle are absorbed into the last one, never materialised or cached, and replayed if asked for later.
fn absorbed_steps(rows: &HashMap<String, Step>) -> HashSet<&str> {
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

/// The absorbed steps a step is fused with: the chain down its first input to the value it reads.
struct Chain<'a> {
    /// The value the chain starts from.
    source: &'a String,
    /// The column a `Column` step at its start takes, if one does.
    column: Option<&'a str>,
    /// Its element-wise steps, from the source outwards.
    steps: Vec<&'a Op>,
}

/// The chain `oid` is fused with, if its first input was absorbed (see [`absorbed_steps`]).
fn fused_chain<'a>(
    rows: &'a HashMap<String, Step>,
    absorbed: &HashSet<&str>,
    oid: &str,
) -> Option<Chain<'a>> {
    let mut source = rows[oid].inputs.first()?;
    if !absorbed.contains(source.as_str()) {
        return None;
    }
    let (mut column, mut steps) = (None, Vec::new());
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
    Some(Chain {
        source,
        column,
        steps,
    })
}

/// An op's arguments are a few names, numbers and a shape: a client's megabyte of them would fill
/// every review and audit entry of what derives from it.
pub(crate) fn check_arguments(op: &Op) -> Result<()> {
    let shape = match op {
        Op::Literal { shape, .. } | Op::Reshape { shape } => shape.len(),
        _ => 0,
    };
    if shape > MAX_DIMS {
        return Err(Error::invalid(
            format!("shape of `{}`", op.name()),
            format!("{shape} dimensions, more than {MAX_DIMS}"),
            format!("give at most {MAX_DIMS}"),
        ));
    }
    if let Op::LogisticFit { iterations, .. } = op
        && *iterations > MAX_ITERATIONS
    {
        return Err(Error::invalid(
            "iterations of `logistic_fit`",
            format!("{iterations}, more than {MAX_ITERATIONS}"),
            format!("fit with at most {MAX_ITERATIONS} steps (a larger learning rate needs fewer)"),
        ));
    }
    if matches!(op, Op::Literal { .. }) {
        return Ok(());
    }
    let arguments = serde_json::to_value(op).unwrap_or_default();
    let bytes = arguments.to_string().len();
    if bytes > MAX_OP_ARGUMENT_BYTES {
        return Err(Error::invalid(
            format!("arguments of `{}`", op.name()),
            format!("{bytes} bytes of names and numbers, more than {MAX_OP_ARGUMENT_BYTES}"),
            "name fewer columns or shorter ones; upload data as an asset, not as arguments",
        ));
    }
    // Names go into reviews as they are: one holding a newline or a bidirectional override could
    // pass for steps of its own.
    fn hidden(v: &serde_json::Value) -> Option<char> {
        match v {
            serde_json::Value::String(s) => crate::validate::hidden_char(s, false),
            serde_json::Value::Array(a) => a.iter().find_map(hidden),
            serde_json::Value::Object(o) => o.values().find_map(hidden),
            _ => None,
        }
    }
    if let Some(c) = hidden(&arguments) {
        return Err(Error::invalid(
            format!("arguments of `{}`", op.name()),
            format!("a name contains the invisible character {c:?}"),
            "rename the column without control or formatting characters",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn array(n: usize) -> Arc<Data> {
        Arc::new(Data::F64(ndarray::ArrayD::zeros(ndarray::IxDyn(&[n]))))
    }

    fn key(id: &str) -> (Side, String) {
        (Side::Real, id.to_string())
    }

    /// What an array of `n` floats is charged in the cache.
    fn cost(n: usize) -> usize {
        Cache::ENTRY_BYTES + array(n).footprint()
    }

    #[test]
    fn the_cache_keeps_its_budget_and_evicts_the_least_recently_used() {
        let exec = Executor::new(4 * cost(25));
        for id in ["a", "b", "c", "d"] {
            exec.keep(Side::Real, id, array(25));
        }
        assert_eq!(exec.cache().bytes, 4 * cost(25));
        // Touch "a" so that "b" is now the oldest.
        assert!(exec.cached(Side::Real, "a").is_some());
        exec.keep(Side::Real, "e", array(25));
        let cache = exec.cache();
        assert!(cache.bytes <= 3 * cost(25), "{} bytes kept", cache.bytes);
        assert!(cache.entries.contains_key(&key("a")));
        assert!(cache.entries.contains_key(&key("e")));
        assert!(!cache.entries.contains_key(&key("b")));
        assert!(!cache.entries.contains_key(&key("c")));
        let counted: usize = cache.entries.values().map(|e| e.bytes).sum();
        assert_eq!(counted, cache.bytes);
    }

    #[test]
    fn small_values_are_charged_what_they_cost_not_their_numbers() {
        // A thousand means, each one number: 8 KB of numbers, some 300 KB of memory.
        let exec = Executor::new(64 * 1024);
        for i in 0..1000 {
            exec.keep(Side::Real, &i.to_string(), array(1));
        }
        let (entries, bytes, budget) = exec.usage();
        assert!(bytes <= budget, "{bytes} bytes charged, budget {budget}");
        assert!(entries < 300, "{entries} one-number values kept in 64 KB");
        assert!(cost(1) >= 200, "one number is charged {} bytes", cost(1));
    }

    #[test]
    fn a_value_larger_than_the_budget_is_kept_alone() {
        let exec = Executor::new(cost(10));
        exec.keep(Side::Real, "small", array(5));
        exec.keep(Side::Real, "big", array(1000));
        assert!(exec.cached(Side::Real, "big").is_some());
        assert!(exec.cached(Side::Real, "small").is_none());
        // Replacing a value counts its bytes once.
        exec.keep(Side::Real, "big", array(10));
        assert_eq!(exec.cache().bytes, cost(10));
        exec.clear();
        assert_eq!(exec.cache().bytes, 0);
        assert!(exec.cached(Side::Real, "big").is_none());
    }
}
