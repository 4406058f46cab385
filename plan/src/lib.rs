//! Veil's real-side plans: a pointer's recorded steps compiled to one Apache DataFusion query over
//! an asset's Parquet files, read in place and streamed, so a replay never loads an asset whole.
//!
//! # Layout
//!
//! - [`Step`]: one recorded op of a lineage and the earlier steps it reads, in the order the
//!   datasite recorded them; [`Source`]: where an asset's rows are.
//! - [`Engine::run`] compiles the steps to a DataFusion plan and executes it as a
//!   stream, within the engine's [`Limits`]: a memory pool the plan's operators draw from (a sort
//!   spills to disk past it) and a cap on the values a result may hold, checked as the result
//!   streams in, so an oversized result is refused before it is materialised.
//! - [`Output`]: a frame's rows as Arrow batches, or an array's values.
//! - [`footer`]: a Parquet file's schema and rows from its footer; [`Engine::sample`]: an even
//!   sample of a source's rows, streamed (what a mock of files read in place is made from).
//! - [`Engine::ballista`]: the same plans sent to an Apache DataFusion Ballista cluster's
//!   scheduler, its executors computing; `standalone` (feature `standalone`, for tests): a
//!   scheduler and executors started in-process on loopback.
//!
//! Why a crate of its own: the plan path is a seam between two worlds. It knows the op vocabulary
//! (`veil-api`) and DataFusion, and nothing of the datasite: no records, roles, audit or disclosure
//! checks, which stay in `veil` whichever engine computes. It also keeps DataFusion's build apart
//! from the runtime's, so the two compile side by side.
//!
//! # Semantics
//!
//! The plan path gives what `veil`'s in-memory evaluator gives for the same steps, and the
//! runtime's parity tests hold it to that: a numeric column reads as `f64` with nulls as NaN (and
//! booleans as 0 and 1), comparisons follow IEEE 754 (a NaN compares false, and unequal), masks are
//! `0.0`/`1.0` and keep the rows where they are non-zero, `min` and `max` skip NaN, statistics are
//! the population's (`ddof = 0`), and a reduction other than `sum` of no values is an error. Group
//! and join keys compare as text, a null as `null`; groups come sorted by key, value counts most
//! frequent first, a join's rows in the left's order and each row's matches in the right's, its
//! right-hand columns after the left's with `_right` on clashing names. Rows keep their file order:
//! plans run in one partition, so `head` and a column's values come in the order the files hold
//! them (files by name).
//!
//! Ops the plan path does not run are refused with the list of those it does ([`PLANNED_OPS`]); the
//! datasite then replays them in memory, within its own limits.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ballista::prelude::SessionContextExt;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Schema};
use datafusion::error::DataFusionError;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::functions_aggregate::expr_fn::{avg, count, max, min, stddev_pop, sum, var_pop};
use datafusion::functions_window::expr_fn::row_number;
use datafusion::logical_expr::ExprSchemable;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::prelude::{
    DataFrame, Expr, JoinType, ParquetReadOptions, SessionConfig, SessionContext, abs, cast,
    coalesce, exp, ident, isnan, lit, ln, power, sqrt, when,
};
use datafusion::scalar::ScalarValue;
use futures::StreamExt;
use veil_api::ops::{Agg, Arith, Compare, Op, Reduce, Unary};

#[cfg(feature = "standalone")]
pub mod standalone;

pub use datafusion::arrow::datatypes::SchemaRef;
pub use datafusion::arrow::record_batch::RecordBatch;

/// The ops the plan path compiles, by their short names ([`Op::name`]'s kinds grouped).
pub const PLANNED_OPS: &[&str] = &[
    "asset",
    "select",
    "column",
    "text_equals",
    "arithmetic (+ - * / % pow)",
    "comparisons (lt le gt ge eq ne)",
    "abs neg sqrt exp log",
    "filter",
    "head",
    "sort",
    "with_column",
    "row_count",
    "sum mean min max std var (over a column)",
    "group_by",
    "value_counts",
    "describe",
    "join",
];

/// Whether the plan path compiles `op` (on inputs of the kinds it takes): a lineage with any other
/// op is replayed in memory.
pub fn plans(op: &Op) -> bool {
    match op {
        Op::Asset { .. }
        | Op::Select { .. }
        | Op::Column { .. }
        | Op::TextEquals { .. }
        | Op::Arith { .. }
        | Op::Compare { .. }
        | Op::Unary { .. }
        | Op::Filter
        | Op::Head { .. }
        | Op::Sort { .. }
        | Op::WithColumn { .. }
        | Op::RowCount
        | Op::GroupBy { .. }
        | Op::ValueCounts { .. }
        | Op::Describe
        | Op::Join { .. } => true,
        Op::Reduce { kind, .. } => *kind != Reduce::Argmax,
        _ => false,
    }
}

/// One recorded op and the steps it reads (indexes of earlier steps, as many as [`Op::arity`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The op.
    pub op: Op,
    /// Its inputs: indexes of earlier steps in the same list.
    pub inputs: Vec<usize>,
}

impl Step {
    /// `op` over `inputs`.
    pub fn new(op: Op, inputs: impl Into<Vec<usize>>) -> Step {
        Step {
            op,
            inputs: inputs.into(),
        }
    }
}

/// Where an asset's real rows are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A directory of Parquet files (`*.parquet`, read in name order), or one Parquet file.
    Parquet(PathBuf),
    /// These Parquet files, whatever their names, read in the order of their paths (their names
    /// must hold no glob characters: `*`, `?`, `[`).
    Files(Vec<PathBuf>),
}

/// `scheduler` checked as a Ballista scheduler's address, `df://HOST:PORT`.
pub fn scheduler_address(scheduler: &str) -> Result<String> {
    let url = scheduler.trim();
    match url.strip_prefix("df://") {
        Some(rest) if !rest.is_empty() && !rest.contains(['/', ' ']) => Ok(url.to_string()),
        _ => Err(PlanError::Invalid {
            what: "engine".into(),
            problem: format!("`{url}` is not a Ballista scheduler's address"),
            fix: "name it as `df://HOST:PORT` (Ballista's scheduler listens on 50050 by default)"
                .into(),
        }),
    }
}

/// A Parquet file's schema and row count, read from its footer alone.
pub fn footer(path: &Path) -> Result<(SchemaRef, u64)> {
    let file = std::fs::File::open(path).map_err(DataFusionError::IoError)?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file).map_err(DataFusionError::from)?;
    let rows = u64::try_from(reader.metadata().file_metadata().num_rows()).unwrap_or(0);
    Ok((reader.schema().clone(), rows))
}

/// A frame's rows as Arrow batches, with their schema (a frame may have no rows).
#[derive(Debug, Clone)]
pub struct Frame {
    /// The columns' names and types.
    pub schema: SchemaRef,
    /// The rows, batch by batch.
    pub batches: Vec<RecordBatch>,
}

impl Frame {
    /// The frame as one Parquet file's bytes (what `veil`'s values are stored and sent as).
    pub fn to_parquet(&self) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut bytes, self.schema.clone(), None)
            .map_err(DataFusionError::from)?;
        for batch in &self.batches {
            writer.write(batch).map_err(DataFusionError::from)?;
        }
        writer.close().map_err(DataFusionError::from)?;
        Ok(bytes)
    }

    /// Rows in the frame.
    pub fn rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

/// What a plan produced.
#[derive(Debug, Clone)]
pub enum Output {
    /// A frame.
    Frame(Frame),
    /// An array: its values in row-major order and its shape (`[]` for one value).
    Array {
        /// The values.
        values: Vec<f64>,
        /// The shape.
        shape: Vec<usize>,
    },
}

/// Why a plan did not run.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// An op the plan path does not compile; the datasite may replay it in memory instead.
    #[error("the plan path does not run `{op}`; it runs: {}", PLANNED_OPS.join(", "))]
    Unsupported {
        /// The op's name.
        op: String,
    },
    /// Bad input, in the in-memory evaluator's words: what was wrong and how to fix it.
    #[error("invalid {what}: {problem}; {fix}")]
    Invalid {
        /// What was given.
        what: String,
        /// What is wrong with it.
        problem: String,
        /// What to do instead.
        fix: String,
    },
    /// The result holds more values than the engine's limit; nothing past the limit was kept.
    #[error(
        "the result would hold more than {limit} values, the most one result may hold; reduce the data first (filter, select, head or aggregate)"
    )]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// The engine failed (an unreadable file, memory past its pool).
    #[error("the query engine: {0}")]
    Engine(#[from] DataFusionError),
}

fn invalid(op: &Op, problem: impl Into<String>, fix: impl Into<String>) -> PlanError {
    PlanError::Invalid {
        what: format!("input to `{}`", op.name()),
        problem: problem.into(),
        fix: fix.into(),
    }
}

/// Result of the plan path.
pub type Result<T, E = PlanError> = std::result::Result<T, E>;

/// What a plan may use.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Bytes the plan's operators may hold at once (sorts spill to disk beyond it).
    pub memory_bytes: usize,
    /// Values (rows × columns) a result may hold.
    pub max_values: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            memory_bytes: 512 << 20,
            max_values: 1 << 27,
        }
    }
}

/// Runs plans: a DataFusion runtime with a bounded memory pool, and the threads it runs on; or,
/// with [`Engine::ballista`], a Ballista cluster that plans are sent to.
pub struct Engine {
    runtime: Arc<RuntimeEnv>,
    threads: tokio::runtime::Runtime,
    limits: Limits,
    /// The Ballista scheduler plans run on (`df://host:port`), if not in this process.
    scheduler: Option<String>,
}

impl Engine {
    /// An engine within `limits`.
    pub fn new(limits: Limits) -> Result<Engine> {
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_limit(limits.memory_bytes, 1.0)
            .build_arc()?;
        let threads = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("veil-plan")
            .enable_all()
            .build()
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        Ok(Engine {
            runtime,
            threads,
            limits,
            scheduler: None,
        })
    }

    /// An engine that runs plans on the Apache DataFusion Ballista cluster whose scheduler is at
    /// `scheduler` (`df://host:port`): the same plans, computed by the cluster's executors, which
    /// read the Parquet files at the paths this datasite names (so they share its file system or
    /// mounts). Results stream back here, still held to `limits.max_values`; the cluster's
    /// executors keep to their own memory settings. Nothing is sent until a plan runs.
    pub fn ballista(scheduler: &str, limits: Limits) -> Result<Engine> {
        Ok(Engine {
            scheduler: Some(scheduler_address(scheduler)?),
            ..Engine::new(limits)?
        })
    }

    /// Where plans run: `local`, or the Ballista scheduler's address.
    pub fn location(&self) -> &str {
        self.scheduler.as_deref().unwrap_or("local")
    }

    /// The engine's limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Compiles `steps` (the last is the result) over `sources` (by asset id) and runs the plan on
    /// the engine's threads; the calling thread waits (it may be any thread, a tokio runtime's too).
    pub fn run(&self, steps: &[Step], sources: &HashMap<String, Source>) -> Result<Output> {
        let ctx = self.context();
        let (steps, sources) = (steps.to_vec(), sources.clone());
        let max_values = self.limits.max_values;
        self.wait(async move {
            let ctx = ctx.await?;
            let value = compile(&ctx, &steps, &sources).await?;
            collect(value, max_values).await
        })
    }

    /// Runs `steps` as [`Engine::run`] would, streaming the result and keeping none of it: whether
    /// the value computes, and how many values it holds (a frame's rows times its columns), in
    /// the memory of one batch whatever its size. What a datasite runs for an intermediate value
    /// that nothing has asked for whole.
    pub fn check(&self, steps: &[Step], sources: &HashMap<String, Source>) -> Result<u64> {
        let ctx = self.context();
        let (steps, sources) = (steps.to_vec(), sources.clone());
        let max_values = self.limits.max_values;
        self.wait(async move {
            let ctx = ctx.await?;
            let (frame, width) = match compile(&ctx, &steps, &sources).await? {
                Value::Table { base, columns, .. } => {
                    let width = columns.len().max(1) as u64;
                    (table_rows(base, columns)?, width)
                }
                Value::Column { base, expr, .. } => (column_rows(base, expr)?, 1),
                small => {
                    return Ok(match collect(small, max_values).await? {
                        Output::Frame(frame) => (frame.rows() * frame.schema.fields().len()) as u64,
                        Output::Array { values, .. } => values.len() as u64,
                    });
                }
            };
            let mut stream = frame.execute_stream().await?;
            let mut rows = 0u64;
            while let Some(batch) = stream.next().await {
                rows += batch?.num_rows() as u64;
            }
            Ok(rows * width)
        })
    }

    /// At most `rows` of the `total` rows of `source`, spread evenly over them all (every k-th
    /// row, in file order), streamed: what a mock made from a sample reads of an asset that is not
    /// loaded.
    pub fn sample(&self, source: &Source, total: u64, rows: usize) -> Result<Frame> {
        let ctx = self.context();
        let source = source.clone();
        let stride = total.div_ceil(rows.max(1) as u64).max(1);
        let max_values = self.limits.max_values;
        let output = self.wait(async move {
            let ctx = ctx.await?;
            let sources = HashMap::from([(String::new(), source)]);
            let op = Op::Asset {
                asset_id: String::new(),
            };
            let Value::Table { base, .. } = load(&ctx, &op, "", &sources, 0).await? else {
                unreachable!("an asset loads as a table");
            };
            let names: Vec<Expr> = base
                .schema()
                .fields()
                .iter()
                .map(|f| ident(f.name()))
                .collect();
            let mut picked = base;
            if stride > 1 {
                let mut numbered = names.clone();
                numbered.push(row_number().alias("__veil_row"));
                picked = picked
                    .select(numbered)?
                    .filter(((ident("__veil_row") - lit(1u64)) % lit(stride)).eq(lit(0u64)))?
                    .select(names)?;
            }
            collect(whole_table(picked.limit(0, Some(rows))?, 0), max_values).await
        })?;
        match output {
            Output::Frame(frame) => Ok(frame),
            Output::Array { .. } => unreachable!("a table collects as a frame"),
        }
    }

    /// Runs `work` on the engine's threads; the calling thread waits (it may be any thread, a
    /// tokio runtime's too).
    fn wait<T: Send + 'static>(
        &self,
        work: impl std::future::Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.threads.spawn(async move {
            let _ = tx.send(work.await);
        });
        rx.recv().unwrap_or_else(|_| {
            Err(PlanError::Engine(DataFusionError::Internal(
                "the plan's task ended without an answer".into(),
            )))
        })
    }

    /// A session for one plan, here or on the cluster.
    fn context(
        &self,
    ) -> impl std::future::Future<Output = Result<SessionContext>> + Send + 'static {
        // One partition: rows stay in file order (see the crate's docs), and a plan's memory is
        // one pipeline's.
        // No statistics while listing files: with them, a `head` stops listing at the first file
        // whose row count covers it, whichever file that is, and rows would not come in name order.
        let config = SessionConfig::new()
            .with_target_partitions(1)
            .with_collect_statistics(false);
        let runtime = self.runtime.clone();
        let scheduler = self.scheduler.clone();
        async move {
            let Some(scheduler) = scheduler else {
                return Ok(SessionContext::new_with_config_rt(config, runtime));
            };
            let state = SessionStateBuilder::new()
                .with_config(config)
                .with_runtime_env(runtime)
                .with_default_features()
                .build();
            Ok(SessionContext::remote_with_state(&scheduler, state).await?)
        }
    }
}

/// A compiled step.
#[derive(Clone)]
enum Value {
    /// A frame: `base` is the relation whose rows it has, `columns` what it shows of them.
    Table {
        base: DataFrame,
        rel: usize,
        columns: Vec<(String, Expr)>,
    },
    /// A 1-d array aligned with the rows of relation `rel`: a non-null `f64` per row.
    Column {
        base: DataFrame,
        rel: usize,
        expr: Expr,
    },
    /// One value: `expr` over a one-row frame. A reduction that is an error over no values
    /// (`guarded`) keeps the count of values it reduced in the frame's column `n`.
    Scalar {
        frame: DataFrame,
        expr: Expr,
        guarded: bool,
    },
    /// `describe`'s statistics of `columns`, computed as one row (`count_<c>`, `mean_<c>`, ...)
    /// and laid out as a row per statistic when collected.
    Described {
        frame: DataFrame,
        columns: Vec<String>,
    },
}

/// The statistics `describe` gives, in its rows' order.
const DESCRIBED: [&str; 5] = ["count", "mean", "std", "min", "max"];

/// Compiles `steps` to the value of the last one.
async fn compile(
    ctx: &SessionContext,
    steps: &[Step],
    sources: &HashMap<String, Source>,
) -> Result<Value> {
    let mut values: Vec<Value> = Vec::with_capacity(steps.len());
    for (index, step) in steps.iter().enumerate() {
        let op = &step.op;
        if step.inputs.len() != op.arity() || step.inputs.iter().any(|i| *i >= index) {
            return Err(invalid(
                op,
                format!("step {index} reads steps {:?}", step.inputs),
                "give each step its inputs among the steps before it",
            ));
        }
        if step
            .inputs
            .iter()
            .any(|i| matches!(values[*i], Value::Described { .. }))
        {
            // A description is read, not computed on: in memory it is a frame like any other.
            return Err(PlanError::Unsupported { op: op.name() });
        }
        let input = |i: usize| values[step.inputs[i]].clone();
        let value = match op {
            Op::Asset { asset_id } => load(ctx, op, asset_id, sources, index).await?,
            Op::Select { columns } => {
                let (base, rel, shown) = table(op, input(0))?;
                let picked = columns
                    .iter()
                    .map(|name| Ok((name.clone(), shown_column(&shown, name)?)))
                    .collect::<Result<Vec<_>>>()?;
                Value::Table {
                    base,
                    rel,
                    columns: picked,
                }
            }
            Op::Column { name } => {
                let (base, rel, shown) = table(op, input(0))?;
                let expr = numeric(op, &base, name, shown_column(&shown, name)?)?;
                Value::Column { base, rel, expr }
            }
            Op::TextEquals { column, value } => {
                let (base, rel, shown) = table(op, input(0))?;
                let expr = shown_column(&shown, column)?;
                let dtype = expr.get_type(base.schema())?;
                if !matches!(
                    dtype,
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                ) {
                    return Err(invalid(
                        op,
                        format!("column `{column}` holds {dtype}, not text"),
                        "compare numbers with `.eq(value)` after `.column(name)`",
                    ));
                }
                let expr = when(expr.eq(lit(value.as_str())), lit(1.0)).otherwise(lit(0.0))?;
                Value::Column { base, rel, expr }
            }
            Op::Arith {
                kind,
                scalar,
                scalar_left,
            } => match scalar {
                Some(v) => unary(input(0), |x| {
                    if *scalar_left {
                        arith(*kind, lit(*v), x)
                    } else {
                        arith(*kind, x, lit(*v))
                    }
                })?,
                None => binary(op, input(0), input(1), |a, b| arith(*kind, a, b))?,
            },
            Op::Compare { kind, scalar } => match scalar {
                Some(v) => unary(input(0), |x| compare(*kind, x, lit(*v)))?,
                None => binary(op, input(0), input(1), |a, b| compare(*kind, a, b))?,
            },
            Op::Unary { kind } => unary(input(0), |x| match kind {
                Unary::Neg => Ok(-x),
                Unary::Abs => Ok(abs(x)),
                // DataFusion refuses these outside their domain; IEEE (and memory) give NaN, and
                // a logarithm of 0 is -inf.
                Unary::Sqrt => Ok(when(x.clone().lt(lit(0.0)), lit(f64::NAN)).otherwise(sqrt(x))?),
                Unary::Exp => Ok(exp(x)),
                Unary::Log => Ok(when(x.clone().lt(lit(0.0)), lit(f64::NAN))
                    .when(x.clone().eq(lit(0.0)), lit(f64::NEG_INFINITY))
                    .otherwise(ln(x))?),
            })?,
            Op::Filter => {
                let mask = input(1);
                let keep = |base: DataFrame, rel: usize| -> Result<DataFrame> {
                    let Value::Column {
                        rel: mask_rel,
                        expr,
                        ..
                    } = &mask
                    else {
                        return Err(invalid(
                            op,
                            "the mask is not a column of the same rows",
                            "build the mask from the same data, e.g. `x.column(\"a\").gt(0.5)`",
                        ));
                    };
                    same_rows(op, rel, *mask_rel)?;
                    // A NaN mask value is non-zero: it keeps its row, as in memory.
                    Ok(base.filter(expr.clone().not_eq(lit(0.0)))?)
                };
                match input(0) {
                    Value::Table { base, rel, columns } => Value::Table {
                        base: keep(base, rel)?,
                        rel: index,
                        columns,
                    },
                    Value::Column { base, rel, expr } => Value::Column {
                        base: keep(base, rel)?,
                        rel: index,
                        expr,
                    },
                    Value::Scalar { .. } | Value::Described { .. } => {
                        return Err(invalid(
                            op,
                            "it is one value, and a filter keeps rows",
                            "filter the frame or column the value was reduced from",
                        ));
                    }
                }
            }
            Op::Head { n } => match input(0) {
                Value::Table { base, columns, .. } => Value::Table {
                    base: base.limit(0, Some(*n))?,
                    rel: index,
                    columns,
                },
                Value::Column { base, expr, .. } => Value::Column {
                    base: base.limit(0, Some(*n))?,
                    rel: index,
                    expr,
                },
                Value::Scalar { .. } | Value::Described { .. } => {
                    return Err(invalid(
                        op,
                        "a 0-d array has no rows",
                        "take head of an array or frame",
                    ));
                }
            },
            Op::Sort { by, descending } => {
                let (base, _, columns) = table(op, input(0))?;
                let key = shown_column(&columns, by)?;
                // As polars sorts: nulls first, NaN above every number.
                let base = base.sort(vec![key.sort(!descending, true)])?;
                Value::Table {
                    base,
                    rel: index,
                    columns,
                }
            }
            Op::WithColumn { name } => {
                let (base, rel, mut columns) = table(op, input(0))?;
                let Value::Column {
                    rel: column_rel,
                    expr,
                    ..
                } = input(1)
                else {
                    return Err(invalid(
                        op,
                        "the new column is not a column of the frame's rows",
                        "compute the column from the same frame",
                    ));
                };
                same_rows(op, rel, column_rel)?;
                match columns.iter_mut().find(|(c, _)| c == name) {
                    Some(existing) => existing.1 = expr,
                    None => columns.push((name.clone(), expr)),
                }
                Value::Table { base, rel, columns }
            }
            Op::RowCount => {
                let base = match input(0) {
                    Value::Table { base, .. } | Value::Column { base, .. } => base,
                    Value::Scalar { .. } | Value::Described { .. } => {
                        return Err(PlanError::Unsupported { op: op.name() });
                    }
                };
                let frame = base.aggregate(vec![], vec![count(lit(1)).alias("n")])?;
                let expr = cast(ident("n"), DataType::Float64);
                Value::Scalar {
                    frame,
                    expr,
                    guarded: false,
                }
            }
            Op::GroupBy { by, aggs } => {
                let (base, _, shown) = table(op, input(0))?;
                if aggs.is_empty() {
                    return Err(invalid(
                        op,
                        "no aggregates given",
                        "pass at least one, e.g. [(\"radius1\", Agg::Mean)]",
                    ));
                }
                let key = key_text(shown_column(&shown, by)?);
                let mut outputs = Vec::with_capacity(aggs.len());
                for (name, agg) in aggs {
                    let x = || numeric(op, &base, name, shown_column(&shown, name)?);
                    let expr = match agg {
                        Agg::Count => count(lit(1)),
                        Agg::Sum => sum(x()?),
                        Agg::Mean => avg(x()?),
                        Agg::Min => coalesce(vec![min(nan_as_null(x()?)?), lit(f64::INFINITY)]),
                        Agg::Max => coalesce(vec![max(nan_as_null(x()?)?), lit(f64::NEG_INFINITY)]),
                        Agg::Std => stddev_pop(x()?),
                    };
                    let label = match agg {
                        Agg::Count => "count".to_string(),
                        _ => format!("{name}_{}", agg.name()),
                    };
                    outputs.push(cast(expr, DataType::Float64).alias(label));
                }
                let grouped = base
                    .aggregate(vec![key.alias(by.as_str())], outputs)?
                    .sort(vec![ident(by.as_str()).sort(true, true)])?;
                whole_table(grouped, index)
            }
            Op::ValueCounts { column } => {
                let (base, _, shown) = table(op, input(0))?;
                let key = key_text(shown_column(&shown, column)?);
                let counted = base
                    .aggregate(
                        vec![key.alias(column.as_str())],
                        vec![count(lit(1)).alias("count")],
                    )?
                    .sort(vec![
                        ident("count").sort(false, true),
                        ident(column.as_str()).sort(true, true),
                    ])?;
                whole_table(counted, index)
            }
            Op::Join { on, left } => {
                let (left_base, _, left_shown) = table(op, input(0))?;
                let (right_base, _, right_shown) = table(op, input(1))?;
                whole_table(
                    join(
                        (left_base, left_shown),
                        (right_base, right_shown),
                        on,
                        *left,
                    )?,
                    index,
                )
            }
            Op::Describe => {
                let (base, _, shown) = table(op, input(0))?;
                let mut columns = Vec::new();
                let mut stats = Vec::new();
                for (name, expr) in &shown {
                    let dtype = expr.get_type(base.schema())?;
                    if !dtype.is_numeric() {
                        continue;
                    }
                    // Over the values that are numbers: nulls and NaN are left out.
                    let x = nan_as_null(cast(expr.clone(), DataType::Float64))?;
                    let as_float = |e: Expr, stat: &str| {
                        cast(e, DataType::Float64).alias(format!("{stat}_{}", columns.len()))
                    };
                    stats.extend([
                        as_float(count(x.clone()), "count"),
                        as_float(coalesce(vec![avg(x.clone()), lit(f64::NAN)]), "mean"),
                        as_float(coalesce(vec![stddev_pop(x.clone()), lit(f64::NAN)]), "std"),
                        as_float(coalesce(vec![min(x.clone()), lit(f64::INFINITY)]), "min"),
                        as_float(coalesce(vec![max(x), lit(f64::NEG_INFINITY)]), "max"),
                    ]);
                    columns.push(name.clone());
                }
                if columns.is_empty() {
                    return Err(invalid(
                        op,
                        "the frame has no numeric columns",
                        "describe a frame with numbers; count text with `value_counts`",
                    ));
                }
                Value::Described {
                    frame: base.aggregate(vec![], stats)?,
                    columns,
                }
            }
            Op::Reduce { kind, axis } => {
                let (base, expr) = match input(0) {
                    Value::Column { base, expr, .. } => (base, expr),
                    Value::Table { .. } => {
                        return Err(invalid(
                            op,
                            "it is a frame, and this op works on arrays",
                            "take a column with `.column(name)` first",
                        ));
                    }
                    Value::Scalar { .. } | Value::Described { .. } => {
                        return Err(PlanError::Unsupported { op: op.name() });
                    }
                };
                if axis.is_some_and(|a| a != 0) {
                    return Err(invalid(
                        op,
                        format!(
                            "axis {} is out of range for a 1-d column",
                            axis.unwrap_or(0)
                        ),
                        "pick an axis below 1",
                    ));
                }
                reduce(op, *kind, base, expr)?
            }
            _ => return Err(PlanError::Unsupported { op: op.name() }),
        };
        values.push(value);
    }
    values.pop().ok_or_else(|| PlanError::Invalid {
        what: "plan".into(),
        problem: "it has no steps".into(),
        fix: "give at least the asset the steps start from".into(),
    })
}

async fn load(
    ctx: &SessionContext,
    op: &Op,
    asset_id: &str,
    sources: &HashMap<String, Source>,
    index: usize,
) -> Result<Value> {
    let mut options = ParquetReadOptions::default();
    let base = match sources.get(asset_id) {
        Some(Source::Parquet(path)) => {
            let mut location = path.to_string_lossy().into_owned();
            if path.is_dir() {
                // A listing reads a directory only when its path says it is one.
                if !location.ends_with('/') {
                    location.push('/');
                }
            } else {
                // One file, whatever its name (the datasite's blobs are named by their hash).
                options.file_extension = "";
            }
            ctx.read_parquet(location, options).await?
        }
        Some(Source::Files(paths)) if !paths.is_empty() => {
            options.file_extension = "";
            let locations: Vec<String> = paths
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            ctx.read_parquet(locations, options).await?
        }
        _ => {
            return Err(invalid(
                op,
                format!("asset {asset_id} has no Parquet source"),
                "register the asset's Parquet files with the engine",
            ));
        }
    };
    Ok(whole_table(base, index))
}

/// A frame's shown columns: each name with its expression over the frame's relation.
type Shown = Vec<(String, Expr)>;

fn table(op: &Op, value: Value) -> Result<(DataFrame, usize, Shown)> {
    match value {
        Value::Table { base, rel, columns } => Ok((base, rel, columns)),
        _ => Err(invalid(
            op,
            "it is an array, and this op works on frames",
            "use it on a frame (an asset of kind DataFrame, or the result of select/filter/sort)",
        )),
    }
}

fn shown_column(columns: &[(String, Expr)], name: &str) -> Result<Expr> {
    columns
        .iter()
        .find(|(c, _)| c == name)
        .map(|(_, e)| e.clone())
        .ok_or_else(|| PlanError::Invalid {
            what: "column".into(),
            problem: format!("no column `{name}`"),
            fix: format!(
                "the frame's columns are: {}",
                columns
                    .iter()
                    .map(|(c, _)| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
}

/// `expr` (a column of `base`) as a non-null `f64`: nulls as NaN, booleans as 0 and 1.
fn numeric(op: &Op, base: &DataFrame, name: &str, expr: Expr) -> Result<Expr> {
    let dtype = expr.get_type(base.schema())?;
    if !(dtype.is_numeric() || dtype == DataType::Boolean) {
        return Err(invalid(
            op,
            format!("column `{name}` holds {dtype}, not numbers"),
            format!("compare text with `.text_equals(\"{name}\", value)` to get a numeric mask"),
        ));
    }
    Ok(coalesce(vec![cast(expr, DataType::Float64), lit(f64::NAN)]))
}

/// `left` joined with `right` on `on` as memory joins them: keys matched as text (a null as
/// `null`), rows in the left's order and, for each, its matches in the right's; the right's columns
/// but `on` after the left's, `_right` added to a name the left has; with `keep_left`, unmatched
/// left rows with nulls.
fn join(
    (left, left_shown): (DataFrame, Shown),
    (right, right_shown): (DataFrame, Shown),
    on: &str,
    keep_left: bool,
) -> Result<DataFrame> {
    // Each side under names of its own (`l0`, `r0`, ...), with its key and row number.
    let side = |base: DataFrame, shown: &Shown, prefix: &str| -> Result<DataFrame> {
        let mut exprs: Vec<Expr> = shown
            .iter()
            .enumerate()
            .map(|(i, (_, e))| e.clone().alias(format!("{prefix}{i}")))
            .collect();
        exprs.push(key_text(shown_column(shown, on)?).alias(format!("{prefix}_key")));
        exprs.push(row_number().alias(format!("{prefix}_row")));
        Ok(base.select(exprs)?)
    };
    let joined = side(left, &left_shown, "l")?.join_on(
        side(right, &right_shown, "r")?,
        if keep_left {
            JoinType::Left
        } else {
            JoinType::Inner
        },
        [ident("l_key").eq(ident("r_key"))],
    )?;
    let mut out: Vec<Expr> = left_shown
        .iter()
        .enumerate()
        .map(|(i, (name, _))| ident(format!("l{i}")).alias(name))
        .collect();
    for (j, (name, _)) in right_shown.iter().enumerate() {
        if name == on {
            continue;
        }
        let clashes = left_shown.iter().any(|(l, _)| l == name);
        let label = if clashes {
            format!("{name}_right")
        } else {
            name.clone()
        };
        out.push(ident(format!("r{j}")).alias(label));
    }
    Ok(joined
        .sort(vec![
            ident("l_row").sort(true, true),
            ident("r_row").sort(true, true),
        ])?
        .select(out)?)
}

/// A group key as memory reads it: the column's values as text, a null as `null`.
fn key_text(expr: Expr) -> Expr {
    coalesce(vec![cast(expr, DataType::Utf8), lit("null")])
}

/// `x` with its NaN values as nulls, which aggregates skip.
fn nan_as_null(x: Expr) -> Result<Expr> {
    Ok(when(isnan(x.clone()), lit(ScalarValue::Float64(None))).otherwise(x)?)
}

/// A frame that is all of `frame`, as relation `rel`.
fn whole_table(frame: DataFrame, rel: usize) -> Value {
    let columns = frame
        .schema()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), ident(f.name())))
        .collect();
    Value::Table {
        base: frame,
        rel,
        columns,
    }
}

fn same_rows(op: &Op, a: usize, b: usize) -> Result<()> {
    if a == b {
        return Ok(());
    }
    Err(invalid(
        op,
        "its inputs come from different rows (a filter, head or sort between them)",
        "compute both from the same frame, after the same filters",
    ))
}

fn unary(value: Value, f: impl FnOnce(Expr) -> Result<Expr>) -> Result<Value> {
    Ok(match value {
        Value::Column { base, rel, expr } => Value::Column {
            base,
            rel,
            expr: f(expr)?,
        },
        Value::Scalar {
            frame,
            expr,
            guarded,
        } => Value::Scalar {
            frame,
            expr: f(expr)?,
            guarded,
        },
        Value::Table { .. } | Value::Described { .. } => {
            return Err(PlanError::Invalid {
                what: "input".into(),
                problem: "it is a frame, and this op works on arrays".into(),
                fix:
                    "take a column with `.column(name)` or the whole frame with `.to_array()` first"
                        .into(),
            });
        }
    })
}

fn binary(
    op: &Op,
    a: Value,
    b: Value,
    f: impl FnOnce(Expr, Expr) -> Result<Expr>,
) -> Result<Value> {
    match (a, b) {
        (
            Value::Column { base, rel, expr },
            Value::Column {
                rel: other_rel,
                expr: other,
                ..
            },
        ) => {
            same_rows(op, rel, other_rel)?;
            Ok(Value::Column {
                base,
                rel,
                expr: f(expr, other)?,
            })
        }
        _ => Err(PlanError::Unsupported { op: op.name() }),
    }
}

fn arith(kind: Arith, a: Expr, b: Expr) -> Result<Expr> {
    Ok(match kind {
        Arith::Add => a + b,
        Arith::Sub => a - b,
        Arith::Mul => a * b,
        Arith::Div => a / b,
        Arith::Rem => a % b,
        Arith::Pow => power(a, b),
    })
}

/// `a ⋚ b` as 0.0/1.0 under IEEE 754: Arrow orders NaN above every number, IEEE makes every
/// comparison with NaN false (and `!=` true).
fn compare(kind: Compare, a: Expr, b: Expr) -> Result<Expr> {
    let either_nan = isnan(a.clone()).or(isnan(b.clone()));
    let (test, with_nan) = match kind {
        Compare::Lt => (a.lt(b), 0.0),
        Compare::Le => (a.lt_eq(b), 0.0),
        Compare::Gt => (a.gt(b), 0.0),
        Compare::Ge => (a.gt_eq(b), 0.0),
        Compare::Eq => (a.eq(b), 0.0),
        Compare::Ne => (a.not_eq(b), 1.0),
    };
    Ok(when(either_nan, lit(with_nan)).otherwise(cast(test, DataType::Float64))?)
}

fn reduce(op: &Op, kind: Reduce, base: DataFrame, x: Expr) -> Result<Value> {
    // min and max skip NaN (f64::min/max), and are ±inf when nothing is left.
    let without_nan = || {
        when(
            isnan(x.clone()),
            lit(datafusion::scalar::ScalarValue::Float64(None)),
        )
        .otherwise(x.clone())
    };
    let agg = match kind {
        Reduce::Sum => coalesce(vec![sum(x.clone()), lit(0.0)]),
        Reduce::Mean => avg(x.clone()),
        Reduce::Min => coalesce(vec![min(without_nan()?), lit(f64::INFINITY)]),
        Reduce::Max => coalesce(vec![max(without_nan()?), lit(f64::NEG_INFINITY)]),
        Reduce::Var => var_pop(x.clone()),
        Reduce::Std => stddev_pop(x.clone()),
        Reduce::Argmax => return Err(PlanError::Unsupported { op: op.name() }),
    };
    let frame = base.aggregate(
        vec![],
        vec![
            cast(agg, DataType::Float64).alias("v"),
            count(lit(1)).alias("n"),
        ],
    )?;
    Ok(Value::Scalar {
        frame,
        expr: ident("v"),
        // A sum of nothing is 0; any other reduction of nothing is an error.
        guarded: kind != Reduce::Sum,
    })
}

/// The rows a table value streams: its columns, each under its name.
fn table_rows(base: DataFrame, columns: Shown) -> Result<DataFrame> {
    let shown = columns.into_iter().map(|(name, expr)| expr.alias(name));
    Ok(base.select(shown.collect::<Vec<Expr>>())?)
}

/// The rows a column value streams: its values as `v`, in f64.
fn column_rows(base: DataFrame, expr: Expr) -> Result<DataFrame> {
    Ok(base.select(vec![cast(expr, DataType::Float64).alias("v")])?)
}

/// Runs the value's plan, keeping at most `max_values` values.
async fn collect(value: Value, max_values: usize) -> Result<Output> {
    match value {
        Value::Table { base, columns, .. } => {
            let frame = table_rows(base, columns)?;
            let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
            let width = schema.fields().len().max(1);
            let mut stream = frame.execute_stream().await?;
            let mut batches = Vec::new();
            let mut held = 0usize;
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                held = held.saturating_add(batch.num_rows().saturating_mul(width));
                if held > max_values {
                    return Err(PlanError::TooLarge { limit: max_values });
                }
                batches.push(batch);
            }
            Ok(Output::Frame(Frame { schema, batches }))
        }
        Value::Column { base, expr, .. } => {
            let frame = column_rows(base, expr)?;
            let mut stream = frame.execute_stream().await?;
            let mut values = Vec::new();
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                if values.len() + batch.num_rows() > max_values {
                    return Err(PlanError::TooLarge { limit: max_values });
                }
                push_floats(&mut values, batch.column(0).as_ref());
            }
            let shape = vec![values.len()];
            Ok(Output::Array { values, shape })
        }
        Value::Described { frame, columns } => {
            let batches = frame.collect().await?;
            let row = batches.iter().find(|b| b.num_rows() > 0).ok_or_else(|| {
                PlanError::Engine(DataFusionError::Internal(
                    "a description gave no row".into(),
                ))
            })?;
            let mut fields = vec![Field::new("statistic", DataType::Utf8, false)];
            let mut arrays: Vec<ArrayRef> = vec![Arc::new(StringArray::from(DESCRIBED.to_vec()))];
            for (j, name) in columns.iter().enumerate() {
                let mut values = Vec::with_capacity(DESCRIBED.len());
                for s in 0..DESCRIBED.len() {
                    push_floats(&mut values, row.column(j * DESCRIBED.len() + s).as_ref());
                }
                fields.push(Field::new(name, DataType::Float64, false));
                arrays.push(Arc::new(Float64Array::from(values)));
            }
            let schema = Arc::new(Schema::new(fields));
            let batch =
                RecordBatch::try_new(schema.clone(), arrays).map_err(DataFusionError::from)?;
            Ok(Output::Frame(Frame {
                schema,
                batches: vec![batch],
            }))
        }
        Value::Scalar {
            frame,
            expr,
            guarded,
        } => {
            let frame = frame.select(vec![cast(expr, DataType::Float64).alias("v"), ident("n")])?;
            let batches = frame.collect().await?;
            let batch = batches.iter().find(|b| b.num_rows() > 0).ok_or_else(|| {
                PlanError::Engine(DataFusionError::Internal("a reduction gave no row".into()))
            })?;
            let n = batch
                .column(1)
                .as_primitive_opt::<datafusion::arrow::datatypes::Int64Type>()
                .map(|a| a.value(0))
                .unwrap_or(0);
            if guarded && n == 0 {
                return Err(PlanError::Invalid {
                    what: "input to the reduction".into(),
                    problem: "the array is empty".into(),
                    fix: "reduce a non-empty array (check the filter that produced it)".into(),
                });
            }
            let mut values = Vec::with_capacity(1);
            push_floats(&mut values, batch.column(0).as_ref());
            values.truncate(1);
            Ok(Output::Array {
                values,
                shape: vec![],
            })
        }
    }
}

fn push_floats(out: &mut Vec<f64>, column: &dyn Array) {
    let floats = column.as_primitive::<Float64Type>();
    out.extend((0..floats.len()).map(|i| {
        if floats.is_null(i) {
            f64::NAN
        } else {
            floats.value(i)
        }
    }));
}
