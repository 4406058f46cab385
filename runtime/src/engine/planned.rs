//! The plan path: a lineage's steps run as one streaming DataFusion query over an asset's Parquet
//! files, read in place (crate `veil-plan`), its result read back as a [`Data`]. It gives what
//! [`ops::eval`](super::ops::eval) gives for the same steps; the parity tests below hold it to that.

use std::sync::OnceLock;
use std::sync::atomic::AtomicU64;

use crate::data::{Data, DataKind};
use crate::error::{Error, Result};
use ndarray::{ArrayD, IxDyn};
pub(crate) use veil_plan::{
    Engine, Limits, Output, PLANNED_OPS, PlanError, SchemaRef, Source, Step, footer, plans,
    scheduler_address,
};

/// Real-side replays over an asset of at least this many bytes (8 a value) run as plans
/// by default ([`LaunchOptions::plan_from_bytes`](crate::LaunchOptions::plan_from_bytes)): below
/// it, loading the asset whole and replaying in memory costs less than planning a query.
pub const DEFAULT_PLAN_FROM_BYTES: u64 = 64 << 20;

/// A datasite's plan path: when it is used, and its engine, started when first needed.
pub(crate) struct Planner {
    /// Assets of at least this many bytes are read in place by plans.
    pub(crate) from_bytes: u64,
    /// The Ballista scheduler plans run on (`df://host:port`), or `None`: in this process.
    scheduler: Option<String>,
    engine: OnceLock<std::result::Result<Engine, String>>,
    /// Real-side replays the plan path ran.
    pub(crate) runs: AtomicU64,
    /// Row-sized values the plan path checked (streamed, kept nowhere) for the worker.
    pub(crate) checks: AtomicU64,
}

impl Planner {
    pub(crate) fn new(from_bytes: u64, scheduler: Option<String>) -> Planner {
        Planner {
            from_bytes,
            scheduler,
            engine: OnceLock::new(),
            runs: AtomicU64::new(0),
            checks: AtomicU64::new(0),
        }
    }

    /// The engine, started with the in-memory path's limits (a plan's result holds at most as many
    /// values as one op may make).
    pub(crate) fn engine(&self) -> Result<&Engine> {
        self.engine
            .get_or_init(|| {
                let limits = Limits {
                    max_values: crate::engine::ops::MAX_OP_VALUES,
                    ..Limits::default()
                };
                match &self.scheduler {
                    Some(url) => Engine::ballista(url, limits),
                    None => Engine::new(limits),
                }
                .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| Error::Data {
                context: "starting the plan engine".into(),
                message: e.clone(),
            })
    }
}

impl std::fmt::Debug for Planner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Planner")
            .field("from_bytes", &self.from_bytes)
            .field("scheduler", &self.scheduler)
            .field("runs", &self.runs)
            .finish_non_exhaustive()
    }
}

/// The plan's output as a value.
pub(crate) fn to_data(output: Output) -> Result<Data> {
    match output {
        Output::Frame(frame) => Data::decode(DataKind::Frame, &frame.to_parquet()?),
        Output::Array { values, shape } => Ok(Data::F64(
            ArrayD::from_shape_vec(IxDyn(&shape), values).map_err(|e| Error::Data {
                context: "reading a plan's array".into(),
                message: e.to_string(),
            })?,
        )),
    }
}

impl From<PlanError> for Error {
    fn from(e: PlanError) -> Error {
        match e {
            PlanError::Invalid { what, problem, fix } => Error::invalid(what, problem, fix),
            PlanError::Unsupported { .. } | PlanError::TooLarge { .. } => {
                Error::invalid("plan", e.to_string(), "replay the steps in memory")
            }
            PlanError::Engine(engine) => Error::Data {
                context: "running a plan".into(),
                message: engine.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests;
