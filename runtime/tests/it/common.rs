//! What the runtime's integration tests share: the default admin, a datasite in a temp dir, and the
//! tutorials' breast cancer data. Each test file uses part of it.
#![allow(dead_code)]

use std::path::Path;

use polars::prelude::DataFrame;
use veil::prelude::*;

/// The admin every new datasite has.
pub const ADMIN: &str = "info@openmined.org";
/// Its password until changed.
pub const ADMIN_PW: &str = "changethis";

/// The datasite `name` in `dir`, made afresh if `reset`.
pub fn launch(name: &str, dir: &Path, reset: bool) -> Datasite {
    LaunchOptions::new(name)
        .dir(dir)
        .reset(reset)
        .launch()
        .expect("launch")
}

/// The tutorials' Breast Cancer Wisconsin (Diagnostic) data, as a frame.
pub fn cancer() -> DataFrame {
    read_csv(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../notebooks/data/breast_cancer_wisconsin_diagnostic.csv"
    ))
    .unwrap()
}

/// The values Jane, registered here, gets approved for three pointers over the `frame` asset of
/// dataset `cancer`: a filtered mean and the top rows (both planned where plans run) and a matrix's
/// sum (which no plan makes: replayed in memory).
pub fn approved_cancer_chain(site: &Datasite) -> (Vec<f64>, DataFrame, Vec<f64>) {
    let owner = site.login(ADMIN, ADMIN_PW).unwrap();
    owner
        .register(NewUser::new("Jane Doe", "jane@caltech.edu", "abc123"))
        .unwrap();
    let jane = site.login("jane@caltech.edu", "abc123").unwrap();
    let x = jane
        .dataset("cancer")
        .unwrap()
        .asset("frame")
        .unwrap()
        .pointer()
        .unwrap();
    let large = x.column("radius1").unwrap().gt(15.0).unwrap();
    let mean = x
        .filter(&large)
        .unwrap()
        .column("texture1")
        .unwrap()
        .mean()
        .unwrap();
    let top = x
        .sort("area1", true)
        .unwrap()
        .head(5)
        .unwrap()
        .select(["area1", "Diagnosis"])
        .unwrap();
    // No plan makes a matrix: this one loads the asset.
    let sum = x
        .select(["radius1", "area1"])
        .unwrap()
        .to_array()
        .unwrap()
        .sum()
        .unwrap();
    let mut got = Vec::new();
    for pointer in [&mean, &top, &sum] {
        let request = pointer.request("a look at the real data").unwrap();
        owner
            .request(&request.id)
            .unwrap()
            .approve_overriding("test data")
            .unwrap();
        got.push(pointer.get().unwrap());
    }
    let floats =
        |d: &Data| -> Vec<f64> { d.as_f64().expect("an f64 array").iter().copied().collect() };
    (
        floats(&got[0]),
        got[1].as_frame().unwrap().clone(),
        floats(&got[2]),
    )
}

/// The datasite's gauge `name`, once the worker has replayed everything recorded.
pub fn metric(owner: &Client, name: &str) -> f64 {
    let read = |name: &str| -> f64 {
        let metrics = owner.metrics().unwrap();
        let metrics = metrics.as_frame().unwrap();
        let names = metrics.column("metric").unwrap().str().unwrap();
        let row = names.iter().position(|m| m == Some(name)).unwrap();
        let value = metrics.column("value").unwrap().get(row).unwrap();
        value.try_extract::<f64>().unwrap()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while read("replays_pending") > 0.0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    read(name)
}

pub use veil::display::unstyled;
