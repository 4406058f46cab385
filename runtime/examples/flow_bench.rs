//! The seeds' whole flow, timed step by step: the owner loads the breast cancer data and makes its
//! mocks, launches a datasite, uploads, registers Jane; Jane logs in, reads a mock, defines a
//! function, requests its run; the owner approves; Jane gets the result; the datasite lands. Then
//! the pointer flow: a pointer, an op, a request, its approval, the result. The steps are named as
//! PySyft's in the README's comparison.
//!
//! `cargo run --release -p veil --example flow_bench [-- --runs N]`
//!
//! Each run is a fresh datasite in a temporary directory. It prints one JSON line: the median
//! milliseconds of each step over the runs, the slowest run's too, a function the code runner has
//! never compiled (compile and run), and the process's peak memory. The flow's function is the same
//! every run, but each run uses up its single execution, which removes its binary, so every run's
//! `request` compiles it again, as a new request does; `cold_function_ms` is another function's
//! first compile and mock run.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use serde_json::json;
use veil::mock;
use veil::prelude::*;

mod common;
use common::peak_rss_mib;

const FUNCTION: &str = r#"fn mean_radius(features: DataFrame) -> f64 {
    features.column("radius1").unwrap().f64().unwrap().mean().unwrap()
}"#;

/// Milliseconds of each step of one run, in order.
type Steps = Vec<(&'static str, f64)>;

type Failed = Box<dyn std::error::Error>;

/// Times `step` under `name`.
fn timed<T>(
    steps: &mut Steps,
    name: &'static str,
    step: impl FnOnce() -> Result<T, Failed>,
) -> Result<T, Failed> {
    let started = Instant::now();
    let out = step()?;
    steps.push((name, started.elapsed().as_secs_f64() * 1e3));
    Ok(out)
}

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../notebooks/data/breast_cancer_wisconsin_diagnostic.csv")
}

/// One run of the code flow and then the pointer flow.
fn run() -> Result<(Steps, Steps), Failed> {
    let dir = tempfile::tempdir()?;
    let mut flow = Steps::new();
    let t = &mut flow;
    let (x, x_mock) = timed(t, "load_and_mock", || {
        let x = read_csv(data())?.drop("Diagnosis")?;
        let x_mock = mock::shift_and_jitter(&x, 12345)?;
        Ok((x, x_mock))
    })?;
    let site = timed(t, "launch", || {
        // No floor on real answers: it is a deliberate stall (200 ms by default), and the steps
        // are measured for what they compute.
        Ok(LaunchOptions::new("flow-bench")
            .dir(dir.path())
            .reset(true)
            .real_answer_floor(std::time::Duration::ZERO)
            .launch()?)
    })?;
    let owner = timed(t, "owner_login", || {
        Ok(site.login("info@openmined.org", "changethis")?)
    })?;
    timed(t, "upload", || {
        Ok(owner.upload_dataset(
            Dataset::new("Breast Cancer Biomarker")
                .asset(Asset::new("Features").data(x).mock(x_mock)),
        )?)
    })?;
    timed(t, "register", || {
        Ok(owner.register(NewUser::new("Jane Doe", "jane@caltech.edu", "abc123"))?)
    })?;
    let jane = timed(t, "scientist_login", || {
        Ok(site.login("jane@caltech.edu", "abc123")?)
    })?;
    let features = timed(t, "get_mock", || {
        let features = jane.dataset("Breast Cancer Biomarker")?.asset("Features")?;
        features.mock()?;
        Ok(features)
    })?;
    let code = timed(t, "define_fn", || {
        Ok(Code::new(FUNCTION)
            .input_policy(ExactMatch::new().asset("features", &features))
            .output_policy(SingleExecution))
    })?;
    let request = timed(t, "request", || {
        Ok(jane.request_code_execution(&code, "the mean radius")?)
    })?;
    timed(t, "approve", || {
        Ok(owner.request(&request.id)?.approve()?)
    })?;
    let mean = timed(t, "execute_and_get", || Ok(request.get()?))?;
    assert!(
        mean.as_json()
            .and_then(|v| v.as_f64())
            .is_some_and(|m| m > 10.0)
    );

    let mut pointers = Steps::new();
    let t = &mut pointers;
    let pointer = timed(t, "pointer", || Ok(features.pointer()?))?;
    let radius = timed(t, "op", || Ok(pointer.column("radius1")?.sum()?))?;
    let request = timed(t, "request", || Ok(radius.request("the total radius")?))?;
    timed(t, "approve", || {
        Ok(owner.request(&request.id)?.approve()?)
    })?;
    let total = timed(t, "get", || Ok(radius.get()?))?;
    assert!(total.describe().len() > 1);
    timed(&mut flow, "land", || Ok(site.land()?))?;
    Ok((flow, pointers))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Each step's median and slowest milliseconds over `runs`, in the steps' order.
fn summary(runs: &[Steps]) -> (serde_json::Value, serde_json::Value) {
    let (mut med, mut max) = (serde_json::Map::new(), serde_json::Map::new());
    let mut by_step: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
    for run in runs {
        for (i, (_, ms)) in run.iter().enumerate() {
            by_step.entry(i).or_default().push(*ms);
        }
    }
    for (i, values) in by_step {
        let name = runs[0][i].0;
        let round = |v: f64| (v * 100.0).round() / 100.0;
        max.insert(
            name.into(),
            json!(round(values.iter().copied().fold(0.0, f64::max))),
        );
        med.insert(name.into(), json!(round(median(values))));
    }
    (med.into(), max.into())
}

fn main() -> Result<(), Failed> {
    let mut args = std::env::args().skip(1);
    let mut runs = 5;
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--runs", Some(n)) => runs = n.parse::<usize>()?.max(1),
            _ => return Err(format!("usage: flow_bench [--runs N] (not `{arg}`)").into()),
        }
    }
    let mut flows = Vec::new();
    let mut pointers = Vec::new();
    for _ in 0..runs {
        let (flow, pointer) = run()?;
        flows.push(flow);
        pointers.push(pointer);
    }
    // A function the runner has never compiled: a comment unique to this process changes its hash.
    let dir = tempfile::tempdir()?;
    let site = LaunchOptions::new("flow-bench-cold")
        .dir(dir.path())
        .reset(true)
        .real_answer_floor(std::time::Duration::ZERO)
        .launch()?;
    let owner = site.login("info@openmined.org", "changethis")?;
    owner.upload_dataset(
        Dataset::new("d").asset(
            Asset::new("a")
                .data(ndarray::array![1.0, 2.0])
                .mock(ndarray::array![0.0, 0.0]),
        ),
    )?;
    let nonce = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_nanos()
    );
    let cold = Code::new(format!(
        "// {nonce}\nfn total(a: Array1<f64>) -> f64 {{\n    a.sum()\n}}"
    ))
    .input_policy(ExactMatch::new().asset("a", &owner.dataset("d")?.asset("a")?));
    let started = Instant::now();
    cold.run_on_mocks()?;
    let cold_ms = started.elapsed().as_secs_f64() * 1e3;
    site.land()?;

    let (flow, flow_max) = summary(&flows);
    let (pointer, pointer_max) = summary(&pointers);
    println!(
        "{}",
        json!({
            "profile": if cfg!(debug_assertions) { "dev" } else { "release" },
            "runs": runs,
            "flow_ms": flow,
            "pointer_flow_ms": pointer,
            "flow_slowest_ms": flow_max,
            "pointer_flow_slowest_ms": pointer_max,
            "cold_function_ms": cold_ms.round(),
            "peak_rss_mib": peak_rss_mib(),
        })
    );
    Ok(())
}
