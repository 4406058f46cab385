//! Ways to build mock data from real data, so owners can publish something safe to look at, and
//! the measure of what a mock gives away.
//!
//! The recipes ([`shift_and_jitter`], [`laplace_noise`], [`shuffle_rows`]) are deterministic for a
//! given seed (ChaCha8, whose output is fixed across `rand` releases), so a tutorial produces the
//! same mock every run. [`synthesize`] makes a mock with a stated guarantee: from the declared
//! schema only, or from differentially private marginals. [`report`] is what the datasite
//! measures of every mock at upload (exact real rows, affine reconstruction per column, exact
//! marginals): the tutorials' `shift_and_jitter` gives every value away by its row, which the
//! report says.

use polars::prelude::{Column, DataFrame, DataType, IdxCa, IdxSize};
use rand::rngs::ChaCha8Rng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};

use crate::error::{Error, Result};

mod report;
mod synth;

pub use report::report;
pub use synth::synthesize;
pub use veil_api::mock::{ColumnReport, Method, MockReport, Synthesis};

/// The tutorials' recipe (PySyft's `X.apply(lambda s: s + np.mean(s) + np.random.uniform(size=len(s)))`):
/// every numeric column is shifted by its own mean and jittered by uniform noise in `[0, 1)`. Values
/// stay plausible in type and order of magnitude but are no longer the real ones. Other columns are kept.
pub fn shift_and_jitter(df: &DataFrame, seed: u64) -> Result<DataFrame> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    map_numeric(df, |values| {
        let present: Vec<f64> = values.iter().flatten().copied().collect();
        let mean = present.iter().sum::<f64>() / present.len().max(1) as f64;
        values
            .iter()
            .map(|v| v.map(|v| v + mean + rng.random::<f64>()))
            .collect()
    })
}

/// Adds Laplace noise of the given scale (`1/ε` for a sensitivity-1 query) to every numeric column: the
/// differential-privacy-style mock the tutorial suggests as the better method.
pub fn laplace_noise(df: &DataFrame, scale: f64, seed: u64) -> Result<DataFrame> {
    if !(scale.is_finite() && scale > 0.0) {
        return Err(Error::invalid(
            "Laplace scale",
            format!("{scale} is not a positive number"),
            "pass 1/epsilon, e.g. 1.0 for epsilon = 1",
        ));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    map_numeric(df, |values| {
        values
            .iter()
            .map(|v| {
                v.map(|v| {
                    // Inverse CDF of Laplace(0, scale) from u uniform in (-1/2, 1/2).
                    let u = rng.random::<f64>() - 0.5;
                    v - scale * u.signum() * (1.0_f64 - 2.0 * u.abs()).ln()
                })
            })
            .collect()
    })
}

/// Shuffles the rows (PySyft's `y.sample(frac=1, random_state=SEED)`): keeps each column's distribution,
/// breaks its link to the other assets' rows.
pub fn shuffle_rows(df: &DataFrame, seed: u64) -> Result<DataFrame> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut order: Vec<IdxSize> = (0..df.height() as IdxSize).collect();
    order.shuffle(&mut rng);
    df.take(&IdxCa::from_vec("order".into(), order))
        .map_err(Error::data("shuffling rows"))
}

/// Applies `f` to each numeric column as `f64` values, keeping names and other columns.
fn map_numeric(
    df: &DataFrame,
    mut f: impl FnMut(&[Option<f64>]) -> Vec<Option<f64>>,
) -> Result<DataFrame> {
    let mut columns = Vec::with_capacity(df.width());
    for column in df.columns() {
        if !column.dtype().is_primitive_numeric() {
            columns.push(column.clone());
            continue;
        }
        let floats = column
            .cast(&DataType::Float64)
            .map_err(Error::data("casting a column to f64"))?;
        let values: Vec<Option<f64>> = floats
            .f64()
            .map_err(Error::data("reading a column"))?
            .iter()
            .collect();
        columns.push(Column::new(column.name().clone(), f(&values)));
    }
    DataFrame::new(df.height(), columns).map_err(Error::data("building the mock"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame() -> DataFrame {
        DataFrame::new_infer_height(vec![
            Column::new("x".into(), [1.0, 2.0, 3.0, 4.0]),
            Column::new("n".into(), [10_i64, 20, 30, 40]),
            Column::new("label".into(), ["a", "b", "c", "d"]),
        ])
        .unwrap()
    }

    #[test]
    fn jitter_shifts_by_the_mean_plus_unit_noise() {
        let mock = shift_and_jitter(&frame(), 12345).unwrap();
        let x: Vec<f64> = mock
            .column("x")
            .unwrap()
            .f64()
            .unwrap()
            .into_no_null_iter()
            .collect();
        for (orig, m) in [1.0, 2.0, 3.0, 4.0].iter().zip(&x) {
            let noise = m - orig - 2.5;
            assert!((0.0..1.0).contains(&noise), "{noise}");
        }
        // Integer columns become floats (as pandas does); labels are untouched.
        assert_eq!(mock.column("n").unwrap().dtype(), &DataType::Float64);
        assert_eq!(
            mock.column("label").unwrap(),
            frame().column("label").unwrap()
        );
        // Deterministic per seed, different across seeds.
        assert_eq!(shift_and_jitter(&frame(), 12345).unwrap(), mock);
        assert_ne!(shift_and_jitter(&frame(), 1).unwrap(), mock);
    }

    #[test]
    fn shuffle_permutes_rows_together() {
        let df = frame();
        let shuffled = shuffle_rows(&df, 7).unwrap();
        assert_eq!(shuffled.height(), 4);
        let mut labels: Vec<String> = shuffled
            .column("label")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .map(|l| l.unwrap().to_string())
            .collect();
        let x: Vec<f64> = shuffled
            .column("x")
            .unwrap()
            .f64()
            .unwrap()
            .into_no_null_iter()
            .collect();
        // Rows move as a whole: label "a" still sits beside x = 1.
        for (l, v) in labels.iter().zip(&x) {
            assert_eq!((l.as_bytes()[0] - b'a') as f64 + 1.0, *v);
        }
        labels.sort();
        assert_eq!(labels, ["a", "b", "c", "d"]);
    }

    #[test]
    fn laplace_needs_a_positive_scale() {
        assert!(laplace_noise(&frame(), 0.0, 1).is_err());
        let noisy = laplace_noise(&frame(), 1.0, 1).unwrap();
        assert_ne!(noisy.column("x").unwrap(), frame().column("x").unwrap());
    }
}
