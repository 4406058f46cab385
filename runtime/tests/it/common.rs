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

pub use veil::display::unstyled;
