//! The real side at a hospital's scale: a filter + group-by mean + join chain replayed through Veil
//! on an asset read in place (Parquet files, never loaded whole), against the same query written
//! directly for the engine, in the same process, with the datasite's peak memory while it replays.
//!
//! `cargo run --release -p veil --example scale_plans [-- --rows 1e6,1e7,1e8 --runs 3
//! --executors 0,1,2 --data DIR]`
//!
//! - The data: `rows` rows x 10 columns (`id`, a key `g` of 1000 groups, `x0`..`x7` uniform on
//!   [0, 1)) in Parquet files of a million rows each, generated once into `DIR/rows-N/` (several GB
//!   at 1e8; kept for the next run, never committed), and a 1000-row `groups` table to join.
//! - The chain: `x.filter(x.x0 > 0.5).group_by(g, mean x1).join(groups, on g)`, recorded by the
//!   owner and read back (`get`: one replay of the whole lineage, nothing cached).
//! - The baseline: the same query as a DataFusion DataFrame on a session of the engine's defaults
//!   (every core), or on the same Ballista cluster.
//! - `executors`: 0 runs plans in this process (`--engine local`); N > 0 starts a Ballista
//!   scheduler with N executors in-process, and both Veil and the baseline run on it.
//!
//! It prints one JSON line per size and engine: median seconds of each, their ratio, and the peak
//! resident memory of the process from the chain's first op to its result (its high-water mark is
//! reset first).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ballista::prelude::SessionContextExt;
use datafusion::functions_aggregate::expr_fn::avg;
use datafusion::prelude::{ParquetReadOptions, SessionContext, col, lit};
use polars::prelude::*;
use rand::{RngExt, SeedableRng};
use serde_json::json;
use veil::mock::Synthesis;
use veil::ops::Agg;
use veil::prelude::*;

mod common;
use common::peak_rss_mib;

type Failed = Box<dyn std::error::Error>;

/// Rows of each generated file.
const FILE_ROWS: usize = 1_000_000;
/// Groups of the key `g`.
const GROUPS: usize = 1000;

struct Args {
    rows: Vec<usize>,
    runs: usize,
    executors: Vec<usize>,
    data: Option<PathBuf>,
}

fn args() -> Result<Args, Failed> {
    let mut out = Args {
        rows: vec![1_000_000, 10_000_000, 100_000_000],
        runs: 3,
        executors: vec![0, 1, 2],
        data: None,
    };
    let list = |value: &str| -> Result<Vec<usize>, Failed> {
        value
            .split(',')
            .map(|n| Ok(n.trim().parse::<f64>().map(|n| n as usize)?))
            .collect()
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--rows" => out.rows = list(&value)?,
            "--runs" => out.runs = value.parse()?,
            "--executors" => out.executors = list(&value)?,
            "--data" => out.data = Some(value.into()),
            _ => {
                return Err(format!(
                    "unknown flag {flag}: use --rows N,N,.. --runs N --executors N,N,.. --data DIR"
                )
                .into());
            }
        }
    }
    Ok(out)
}

/// Writes `rows` generated rows into `dir` (unless a finished earlier run left them there), one
/// Parquet file per million rows, and the `groups` table beside it.
fn generate(dir: &Path, rows: usize) -> Result<(), Failed> {
    let done = dir.join("done");
    if done.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(dir.join("big"))?;
    for (file, start) in (0..rows).step_by(FILE_ROWS).enumerate() {
        let n = FILE_ROWS.min(rows - start);
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(file as u64);
        let mut columns = vec![
            Column::new(
                "id".into(),
                (start as i64..(start + n) as i64).collect::<Vec<_>>(),
            ),
            Column::new(
                "g".into(),
                (0..n)
                    .map(|_| rng.random_range(0..GROUPS as i64))
                    .collect::<Vec<_>>(),
            ),
        ];
        for c in 0..8 {
            let values: Vec<f64> = (0..n).map(|_| rng.random::<f64>()).collect();
            columns.push(Column::new(format!("x{c}").into(), values));
        }
        let mut frame = DataFrame::new(n, columns)?;
        let path = dir.join("big").join(format!("part-{file:05}.parquet"));
        ParquetWriter::new(std::fs::File::create(path)?).finish(&mut frame)?;
    }
    let mut groups = DataFrame::new(
        GROUPS,
        vec![
            Column::new("g".into(), (0..GROUPS as i64).collect::<Vec<_>>()),
            Column::new(
                "label".into(),
                (0..GROUPS)
                    .map(|g| format!("group {g}"))
                    .collect::<Vec<_>>(),
            ),
        ],
    )?;
    std::fs::create_dir_all(dir.join("groups"))?;
    ParquetWriter::new(std::fs::File::create(dir.join("groups/groups.parquet"))?)
        .finish(&mut groups)?;
    std::fs::write(done, rows.to_string())?;
    Ok(())
}

/// A 100-row mock of the big asset, drawn from its columns' declared ranges alone.
fn mock_of_big() -> Synthesis {
    let mut spec = Synthesis::schema_only()
        .range("id", 0.0, 1e9)
        .range("g", 0.0, GROUPS as f64)
        .rows(100);
    for c in 0..8 {
        spec = spec.range(format!("x{c}"), 0.0, 1.0);
    }
    spec
}

/// The chain as pointer ops.
fn chain(big: &Pointer, groups: &Pointer) -> veil::Result<Pointer> {
    let kept = big.filter(&big.column("x0")?.gt(0.5)?)?;
    kept.group_by("g", &[("x1", Agg::Mean)])?
        .join(groups, "g", false)
}

/// The same query written for the engine; returns its rows.
async fn direct(ctx: &SessionContext, dir: &Path) -> Result<usize, Failed> {
    let read = |sub: &str| {
        let path = format!("{}/", dir.join(sub).display());
        ctx.read_parquet(path, ParquetReadOptions::default())
    };
    let groups = read("groups").await?.with_column_renamed("g", "key")?;
    let batches = read("big")
        .await?
        .filter(col("x0").gt(lit(0.5)))?
        .aggregate(vec![col("g")], vec![avg(col("x1")).alias("x1")])?
        .join(
            groups,
            datafusion::prelude::JoinType::Inner,
            &["g"],
            &["key"],
            None,
        )?
        .collect()
        .await?;
    Ok(batches.iter().map(|b| b.num_rows()).sum())
}

fn median(mut s: Vec<f64>) -> f64 {
    s.sort_by(f64::total_cmp);
    s[s.len() / 2]
}

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e4).round() / 1e4
}

/// Resets this process's peak resident memory (Linux: `clear_refs` 5).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn measure(
    dir: &Path,
    rows: usize,
    runs: usize,
    executors: usize,
) -> Result<serde_json::Value, Failed> {
    let cluster = (executors > 0)
        .then(|| veil_plan::standalone::Cluster::start(executors, 2))
        .transpose()?;
    let threads = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let ctx = match &cluster {
        Some(cluster) => threads.block_on(SessionContext::remote(cluster.url()))?,
        None => SessionContext::new(),
    };

    let home = tempfile::tempdir()?;
    let mut options = LaunchOptions::new("scale-plans")
        .dir(home.path())
        .data_root(dir)
        .reset(true)
        .real_answer_floor(Duration::ZERO);
    if let Some(cluster) = &cluster {
        options = options.engine(cluster.url());
    }
    let site = options.launch()?;
    let owner = site.login("info@openmined.org", "changethis")?;
    owner.upload_dataset(
        Dataset::new("scale")
            .asset(
                Asset::new("big")
                    .files("big")
                    .mock_synthesized(mock_of_big()),
            )
            .asset(
                Asset::new("groups").files("groups").mock_synthesized(
                    Synthesis::schema_only()
                        .range("g", 0.0, GROUPS as f64)
                        .categories("label", ["a group"])
                        .rows(100),
                ),
            ),
    )?;
    let dataset = owner.dataset("scale")?;
    let (big, groups) = (dataset.asset("big")?, dataset.asset("groups")?);

    let (mut engine_s, mut veil_s, mut peak) = (Vec::new(), Vec::new(), 0.0f64);
    for _ in 0..runs {
        let t = Instant::now();
        let expected = threads.block_on(direct(&ctx, dir))?;
        engine_s.push(secs(t.elapsed()));
        reset_peak();
        let t = Instant::now();
        // A new pointer each run: nothing of an earlier run is cached.
        let result = chain(&big.pointer()?, &groups.pointer()?)?.get()?;
        veil_s.push(secs(t.elapsed()));
        peak = peak.max(peak_rss_mib().unwrap_or(0.0));
        let got = result.shape()[0];
        if got != expected {
            return Err(format!("Veil gave {got} groups, the engine {expected}").into());
        }
    }
    site.land()?;
    let (engine, veil) = (median(engine_s), median(veil_s));
    Ok(json!({
        "rows": rows,
        "engine": if executors == 0 { "local".to_string() } else { format!("ballista, {executors} executors") },
        "engine_s": engine,
        "veil_s": veil,
        "ratio": (veil / engine * 100.0).round() / 100.0,
        "peak_rss_mib": peak,
    }))
}

fn main() -> Result<(), Failed> {
    let args = args()?;
    let scratch;
    let data = match args.data {
        Some(dir) => dir,
        None => {
            scratch = tempfile::tempdir()?;
            scratch.path().to_path_buf()
        }
    };
    for rows in args.rows {
        let dir = data.join(format!("rows-{rows}"));
        generate(&dir, rows)?;
        for &executors in &args.executors {
            println!("{}", measure(&dir, rows, args.runs.max(1), executors)?);
        }
    }
    Ok(())
}
