//! What the in-memory real side costs as an asset grows, each figure beside its baseline in the
//! same process: an owner's read of `filter(x > 0.5).y.mean()` (four recorded ops and the real
//! value) against the same query in bare polars; a plain approval of a scientist's request for it
//! (its disclosure checks); and a scientist's mock op (on a 100-row mock) while the real side
//! replays her earlier ops on the whole asset: compare it across sizes, since the mock is the same.
//!
//! `cargo run --release -p veil --example scale_costs [-- --rows 10000,1000000,10000000 --runs 5]`
//!
//! Each size is a fresh datasite in a temporary directory, with no floor on real answers (the
//! datasite's default holds them 200 ms, which would hide every cost measured here). It prints one
//! JSON line per size: median milliseconds and the ratios, and the process's peak memory.

use std::time::{Duration, Instant};

use polars::prelude::*;
use rand::{RngExt, SeedableRng};
use serde_json::json;
use veil::prelude::*;

mod common;
use common::peak_rss_mib;

type Failed = Box<dyn std::error::Error>;

struct Args {
    rows: Vec<usize>,
    runs: usize,
}

fn args() -> Result<Args, Failed> {
    let mut out = Args {
        rows: vec![10_000, 1_000_000, 10_000_000],
        runs: 5,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--rows" => {
                out.rows = value
                    .split(',')
                    .map(|n| n.trim().parse::<f64>().map(|n| n as usize))
                    .collect::<Result<_, _>>()?
            }
            "--runs" => out.runs = value.parse()?,
            _ => return Err(format!("unknown flag {flag}: use --rows N,N,.. and --runs N").into()),
        }
    }
    Ok(out)
}

/// `rows` rows of x uniform on [0, 1), y = 10 x + noise, and a group g in 0..10.
fn frame(rows: usize, seed: u64) -> Result<DataFrame, Failed> {
    let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(seed);
    let x: Vec<f64> = (0..rows).map(|_| rng.random::<f64>()).collect();
    let y: Vec<f64> = x.iter().map(|x| 10.0 * x + rng.random::<f64>()).collect();
    let g: Vec<i64> = (0..rows).map(|i| (i % 10) as i64).collect();
    Ok(DataFrame::new(
        rows,
        vec![
            Column::new("x".into(), x),
            Column::new("y".into(), y),
            Column::new("g".into(), g),
        ],
    )?)
}

fn median(mut ms: Vec<f64>) -> f64 {
    ms.sort_by(f64::total_cmp);
    ms[ms.len() / 2]
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e5).round() / 100.0
}

/// `filter(x > 0.5).y.mean()` as pointer ops.
fn query(pointer: &Pointer) -> veil::Result<Pointer> {
    let mask = pointer.column("x")?.gt(0.5)?;
    pointer.filter(&mask)?.column("y")?.mean()
}

fn bare(df: &DataFrame) -> Result<f64, Failed> {
    let mask = df.column("x")?.f64()?.gt(0.5);
    let kept = df.filter(&mask)?;
    Ok(kept.column("y")?.f64()?.mean().unwrap_or(f64::NAN))
}

fn measure(rows: usize, runs: usize) -> Result<serde_json::Value, Failed> {
    let dir = tempfile::tempdir()?;
    let site = LaunchOptions::new("scale-costs")
        .dir(dir.path())
        .reset(true)
        .real_answer_floor(Duration::ZERO)
        .launch()?;
    let owner = site.login("info@openmined.org", "changethis")?;
    let real = frame(rows, 1)?;
    owner.upload_dataset(
        Dataset::new("scale").asset(Asset::new("xy").data(real.clone()).mock(frame(100, 2)?)),
    )?;
    owner.register(NewUser::new("Jane Doe", "jane@caltech.edu", "abc123"))?;
    let jane = site.login("jane@caltech.edu", "abc123")?;

    // The owner's read, the whole chain each run (a new pointer's values are not cached).
    let (mut bare_ms, mut read_ms) = (Vec::new(), Vec::new());
    let asset = owner.dataset("scale")?.asset("xy")?;
    for _ in 0..runs {
        let t = Instant::now();
        let expected = bare(&real)?;
        bare_ms.push(ms(t.elapsed()));
        let t = Instant::now();
        let value = query(&asset.pointer()?)?.get()?;
        read_ms.push(ms(t.elapsed()));
        let got = value.as_f64().and_then(|a| a.iter().next().copied());
        if got.is_none_or(|v| (v - expected).abs() > 1e-9 * expected.abs()) {
            return Err(format!("the datasite read {got:?}, polars {expected}").into());
        }
    }

    // Plain approvals of Jane's request for the same mean.
    let mut approve_ms = Vec::new();
    let theirs = jane.dataset("scale")?.asset("xy")?;
    for run in 0..runs {
        let mean = query(&theirs.pointer()?)?;
        let request = mean.request(&format!("the mean of y where x > 0.5, run {run}"))?;
        let pending = owner.request(&request.id)?;
        let t = Instant::now();
        pending.approve()?;
        approve_ms.push(ms(t.elapsed()));
        mean.get()?;
    }

    // Jane's mock ops back to back, each queueing a real-side step on the whole asset (`x * 2`).
    let column = theirs.pointer()?.column("x")?;
    let mut mock_ms = Vec::new();
    for _ in 0..runs * 4 {
        let t = Instant::now();
        (&column * 2.0)?;
        mock_ms.push(ms(t.elapsed()));
    }
    site.land()?;
    let (bare, read) = (median(bare_ms), median(read_ms));
    Ok(json!({
        "rows": rows,
        "bare_polars_ms": bare,
        "owner_read_ms": read,
        "read_ratio": (read / bare * 10.0).round() / 10.0,
        "approve_ms": median(approve_ms),
        "mock_op_ms": median(mock_ms),
        "peak_rss_mib": peak_rss_mib(),
    }))
}

fn main() -> Result<(), Failed> {
    let args = args()?;
    for rows in args.rows {
        println!("{}", measure(rows, args.runs.max(1))?);
    }
    Ok(())
}
