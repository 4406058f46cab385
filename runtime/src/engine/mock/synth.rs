//! Synthesized mocks: every column drawn from its declared domain, uniformly (schema only) or from
//! the real column's histogram over that domain with discrete Laplace noise (DP marginals).
//!
//! DP marginals: adding or removing one row moves one cell of each column's histogram by one, so
//! each histogram has L1 sensitivity 1; ε is split evenly over the columns (sequential
//! composition), each cell gets exact discrete Laplace noise of scale `columns / ε` from the OS's
//! generator (the DP releases' sampler, `engine::noise`), negative counts become 0, and rows are drawn from the
//! noisy histograms: post-processing, which spends nothing more. The seed drives only that
//! drawing, so knowing it tells nothing of the noise. Missing values count in a cell of their own
//! (a range's) or with the values outside the declared categories, and are drawn as missing.

use polars::prelude::{Column, DataFrame, DataType};
use rand::rngs::ChaCha8Rng;
use rand::{Rng, RngExt, SeedableRng};

use crate::engine::noise::{self, EPSILON_UNIT};
use crate::error::{Error, Result};
use veil_api::dp::Domain;
use veil_api::mock::{Method, Synthesis};

/// The most rows a synthesized mock may have.
pub const MAX_ROWS: usize = 10_000_000;

fn refused(why: impl Into<String>, fix: &str) -> Error {
    Error::invalid("mock synthesis", why, fix)
}

/// A mock of `frame` made as `spec` says: the same columns with the same types, each drawn from
/// its declared domain. Every column needs one (`spec.range(..)` or `spec.categories(..)`).
pub fn synthesize(frame: &DataFrame, spec: &Synthesis) -> Result<DataFrame> {
    let rows = spec.rows.unwrap_or(frame.height());
    if rows > MAX_ROWS {
        return Err(refused(
            format!("{rows} rows were asked for, more than {MAX_ROWS}"),
            "ask for fewer rows with `.rows(n)`",
        ));
    }
    // ε units per column's histogram, for DP marginals.
    let per_column = match spec.method {
        Method::SchemaOnly => None,
        Method::DpMarginals { epsilon, bins } => {
            if !(epsilon.is_finite() && epsilon > 0.0) {
                return Err(refused(
                    format!("ε = {epsilon} is not a positive number"),
                    "spend a positive ε, such as `Synthesis::dp_marginals(1.0)`",
                ));
            }
            if !(1..=4096).contains(&bins) {
                return Err(refused(
                    format!("{bins} bins per range"),
                    "use between 1 and 4096 bins (`.bins(16)`)",
                ));
            }
            let units = (epsilon * EPSILON_UNIT as f64).floor() as u64;
            let per = units / frame.width().max(1) as u64;
            if per == 0 {
                return Err(refused(
                    format!(
                        "ε = {epsilon} split over {} columns is nothing",
                        frame.width()
                    ),
                    "spend more ε, or synthesize fewer columns",
                ));
            }
            Some(per)
        }
    };
    let mut sampler = ChaCha8Rng::seed_from_u64(spec.seed);
    let mut os = noise::os_rng();
    let mut columns = Vec::with_capacity(frame.width());
    for column in frame.columns() {
        let name = column.name().as_str();
        let domain = spec.domain(name).ok_or_else(|| {
            refused(
                format!("column `{name}` has no declared domain"),
                &format!(
                    "declare it: `.range(\"{name}\", lower, upper)` for numbers, `.categories(\"{name}\", [..])` for labels"
                ),
            )
        })?;
        let made = match domain {
            Domain::Range { lower, upper } => {
                let (lower, upper) = (*lower, *upper);
                if !(lower.is_finite() && upper.is_finite() && lower < upper) {
                    return Err(refused(
                        format!(
                            "the range of `{name}`, [{lower}, {upper}], is empty or not finite"
                        ),
                        "declare finite bounds with lower < upper",
                    ));
                }
                if !column.dtype().is_primitive_numeric() {
                    return Err(refused(
                        format!(
                            "column `{name}` holds {}, not numbers, but was given a range",
                            column.dtype()
                        ),
                        &format!("declare its labels with `.categories(\"{name}\", [..])`"),
                    ));
                }
                let bins = match spec.method {
                    Method::DpMarginals { bins, .. } => bins as usize,
                    Method::SchemaOnly => 1,
                };
                let width = (upper - lower) / bins as f64;
                let weights = match per_column {
                    None => vec![1.0; bins],
                    Some(units) => {
                        // Cells: the bins, then missing values.
                        let mut counts = vec![0_i128; bins + 1];
                        let values = column
                            .cast(&DataType::Float64)
                            .map_err(Error::data("reading a column"))?;
                        for v in values
                            .f64()
                            .map_err(Error::data("reading a column"))?
                            .iter()
                        {
                            let cell = match v {
                                None => bins,
                                Some(v) => {
                                    let at = ((v.clamp(lower, upper) - lower) / width).floor();
                                    (at.max(0.0) as usize).min(bins - 1)
                                }
                            };
                            counts[cell] += 1;
                        }
                        noisy(&mut os, counts, units)
                    }
                };
                let drawn: Vec<Option<f64>> = (0..rows)
                    .map(|_| {
                        let cell = draw(&mut sampler, &weights);
                        (cell < bins).then(|| {
                            let x = lower + (cell as f64 + sampler.random::<f64>()) * width;
                            if column.dtype().is_integer() {
                                x.round().clamp(lower.ceil(), upper.floor())
                            } else {
                                x
                            }
                        })
                    })
                    .collect();
                Column::new(column.name().clone(), drawn)
            }
            Domain::Categories(categories) => {
                if categories.is_empty() {
                    return Err(refused(
                        format!("column `{name}` was declared with no categories"),
                        "list the labels it takes",
                    ));
                }
                let weights = match per_column {
                    None => vec![1.0; categories.len()],
                    Some(units) => {
                        // Cells: the categories, then everything else (missing values too).
                        let mut counts = vec![0_i128; categories.len() + 1];
                        let labels = column
                            .cast(&DataType::String)
                            .map_err(Error::data("reading a column"))?;
                        for v in labels
                            .str()
                            .map_err(Error::data("reading a column"))?
                            .iter()
                        {
                            let cell = v
                                .and_then(|v| categories.iter().position(|c| c == v))
                                .unwrap_or(categories.len());
                            counts[cell] += 1;
                        }
                        noisy(&mut os, counts, units)
                    }
                };
                let drawn: Vec<Option<&str>> = (0..rows)
                    .map(|_| {
                        categories
                            .get(draw(&mut sampler, &weights))
                            .map(String::as_str)
                    })
                    .collect();
                Column::new(column.name().clone(), drawn)
            }
        };
        columns.push(made.cast(column.dtype()).map_err(|e| {
            refused(
                format!("column `{name}`'s drawn values do not fit its type: {e}"),
                "declare a domain whose values its type holds",
            )
        })?);
    }
    DataFrame::new(rows, columns).map_err(Error::data("building the mock"))
}

/// Counts with discrete Laplace noise of scale 1/ε (`units` of ε, sensitivity 1), as weights.
fn noisy(rng: &mut impl Rng, counts: Vec<i128>, units: u64) -> Vec<f64> {
    counts
        .into_iter()
        .map(|c| (c + noise::noise(rng, 1, units)).max(0) as f64)
        .collect()
}

/// A cell drawn with probability proportional to its weight (uniformly when all are 0).
fn draw(rng: &mut impl Rng, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    if total <= 0.0 {
        return rng.random_range(0..weights.len());
    }
    let mut at = rng.random::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        if at < *w {
            return i;
        }
        at -= w;
    }
    weights.len() - 1
}
