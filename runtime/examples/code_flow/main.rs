//! A code request end to end, as in the tutorials: Jane trains a breast-cancer classifier as one Rust
//! function, tries it on the mocks, submits it; the owner reviews and approves; Jane gets the real
//! accuracy. The example checks the released accuracy equals the same function run directly on the
//! real data, and prints the time from approval to result, cold (code never compiled) and warm.
//!
//! Run with `cargo run -p veil --example code_flow`. Datasites go under `$VEIL_HOME`, compiled code
//! under `$VEIL_RUNNER_DIR` (default: the user cache directory).

use std::path::PathBuf;
use std::time::Instant;

use veil::mock;
use veil::prelude::*;

/// The function, compiled into this example for the direct computation...
mod direct {
    use veil::ndarray::prelude::*;
    use veil::polars::prelude::*;
    include!("train.rs");

    pub fn accuracy(features: DataFrame, targets: DataFrame) -> f64 {
        train_classifier(features, targets)
    }
}

/// ...and the same text, submitted as a code request.
const SOURCE: &str = include_str!("train.rs");

/// A value no earlier run used.
fn uuid_like() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}-{}", std::process::id(), now.as_nanos())
}

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../notebooks/data")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Owner: the tutorial's dataset, with its mocks.
    let site = Datasite::launch("code-flow-example", true)?;
    let owner = site.login("info@openmined.org", "changethis")?;
    let frame = read_csv(data_dir().join("breast_cancer_wisconsin_diagnostic.csv"))?;
    let x = frame.drop("Diagnosis")?;
    let y = frame.select(["Diagnosis"])?;
    owner.upload_dataset(
        Dataset::new("Breast Cancer Biomarker")
            .asset(
                Asset::new("Features")
                    .data(x.clone())
                    .mock(mock::shift_and_jitter(&x, 12345)?),
            )
            .asset(
                Asset::new("Targets")
                    .data(y.clone())
                    .mock(mock::shuffle_rows(&y, 12345)?),
            ),
    )?;
    owner.register(NewUser::new("Jane Doe", "jane@caltech.edu", "abc123"))?;

    // Jane: bind the function to the assets, try it on the mocks, submit it.
    let jane = site.login("jane@caltech.edu", "abc123")?;
    let dataset = jane.dataset("Breast Cancer Biomarker")?;
    let code = Code::new(SOURCE)
        .input_policy(
            ExactMatch::new()
                .asset("features", &dataset.asset("Features")?)
                .asset("targets", &dataset.asset("Targets")?),
        )
        .output_policy(SingleExecution);
    let started = Instant::now();
    let on_mocks = code.run_on_mocks()?;
    println!(
        "accuracy on the mocks: {} ({:.1} s, compiling included)",
        on_mocks
            .as_json()
            .and_then(|v| v.as_f64())
            .unwrap_or(f64::NAN),
        started.elapsed().as_secs_f64()
    );
    let request = jane.request_code_execution(&code, "train a classifier for my paper")?;

    // Owner: review (source, inputs, policy, mock result), then approve.
    let review = owner.request(&format!("#{}", request.number))?.review()?;
    println!("{}", review.text());
    owner.request(&request.id)?.approve()?;

    // Jane: the real result. Warm: the function was compiled for the mock run.
    let started = Instant::now();
    let released = request.get()?;
    let warm = started.elapsed();
    let released = released
        .as_json()
        .and_then(|v| v.as_f64())
        .ok_or("an accuracy")?;
    let direct = direct::accuracy(x, y);
    println!("released accuracy: {released}, computed directly: {direct}");
    assert_eq!(released, direct, "the datasite ran something else");
    assert!(
        released > 0.9,
        "the classifier should be better than {released}"
    );

    println!(
        "approval to result (warm: compiled at the mock run): {:.2} s",
        warm.as_secs_f64()
    );

    // A small function the runner has never compiled (a unique comment changes its hash): cold is
    // compile + run, warm is the run alone.
    let nonce = uuid_like();
    let small = Code::new(format!(
        "// run {nonce}\nfn row_count(features: DataFrame) -> usize {{\n    features.height()\n}}"
    ))
    .input_policy(ExactMatch::new().asset("features", &dataset.asset("Features")?));
    let started = Instant::now();
    small.run_on_mocks()?;
    let cold = started.elapsed();
    let started = Instant::now();
    small.run_on_mocks()?;
    println!(
        "small function: cold {:.2} s, warm {:.2} s",
        cold.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    site.land()?;
    Ok(())
}
