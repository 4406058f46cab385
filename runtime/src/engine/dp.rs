//! The math of differentially private releases, which knows no caller: ε in whole units, the
//! grid sums are rounded to, bounds, and the aggregates a release may compute. The datasite's
//! privacy service plans, spends and records releases with it (see its docs for the guarantees).

use crate::data::Data;
use crate::engine::noise;
pub use crate::engine::noise::EPSILON_UNIT;
use crate::error::{Error, Result};
use veil_api::dp::DpValue;

/// Largest ε one release or budget may name.
pub(crate) const MAX_EPSILON: f64 = 1000.0;

/// Grid steps a sum's values are rounded to, across the larger of the bounds' magnitudes.
pub(crate) const GRID_STEPS: f64 = (1u64 << 20) as f64;

/// Grid points a quantile's binary search chooses among (2^10: ten noisy comparisons).
pub(crate) const QUANTILE_DEPTH: u32 = 10;

/// The aggregate a release computes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Aggregate {
    Count,
    Sum,
    Mean,
    Quantile(f64),
    ValueCounts(String),
}

pub(crate) fn not_releasable(why: impl Into<String>, fix: &str) -> Error {
    Error::invalid("differentially private release", why, fix)
}

pub(crate) const SHAPES: &str = "release a count, sum, mean, quantile or value counts over one value per row of an asset (its column, element-wise steps, row filters)";

/// ε as whole units of [`EPSILON_UNIT`], never more than asked.
pub(crate) fn epsilon_units(epsilon: f64, what: &str) -> Result<u64> {
    if !epsilon.is_finite() || epsilon <= 0.0 || epsilon > MAX_EPSILON {
        return Err(Error::invalid(
            what,
            format!("ε = {epsilon}"),
            format!("give an ε above 0 and at most {MAX_EPSILON}"),
        ));
    }
    let units = (epsilon * EPSILON_UNIT as f64).floor() as u64;
    if units == 0 {
        return Err(Error::invalid(
            what,
            format!("ε = {epsilon} is below the smallest ε used, 2^-20"),
            "give a larger ε",
        ));
    }
    Ok(units)
}

pub(crate) fn epsilon_of(units: u64) -> f64 {
    units as f64 / EPSILON_UNIT as f64
}

/// The power-of-two grid values in `[lower, upper]` are rounded to: about [`GRID_STEPS`] steps up
/// to the larger magnitude.
pub(crate) fn granularity(lower: f64, upper: f64) -> f64 {
    let m = lower.abs().max(upper.abs()).max(f64::MIN_POSITIVE);
    2f64.powi((m / GRID_STEPS).log2().ceil() as i32)
}

/// `x` clamped to the bounds and rounded to the grid, as a whole number of grid steps. A value
/// that is not a number counts as 0 clamped: the same for every row, it says nothing of one.
pub(crate) fn on_grid(x: f64, (lower, upper): (f64, f64), g: f64) -> i64 {
    let x = if x.is_nan() { 0.0 } else { x };
    (x.clamp(lower, upper) / g).round() as i64
}

pub(crate) fn check_bounds((lower, upper): (f64, f64)) -> Result<(f64, f64)> {
    let limit = 1e15;
    if !(lower.is_finite() && upper.is_finite() && lower < upper)
        || lower.abs() > limit
        || upper.abs() > limit
    {
        return Err(Error::invalid(
            "bounds",
            format!("[{lower}, {upper}]"),
            format!("give finite bounds, lower below upper, within ±{limit:e}"),
        ));
    }
    Ok((lower, upper))
}

/// How many rows a value has: a frame's height, an array's length along its first axis.
pub(crate) fn rows_in(value: &Data) -> usize {
    match value {
        Data::Frame(df) => df.height(),
        other => other.shape().first().copied().unwrap_or(1),
    }
}

/// One number per row.
pub(crate) fn numbers(value: &Data) -> Result<Vec<f64>> {
    match value {
        Data::F64(a) => Ok(a.iter().copied().collect()),
        Data::I64(a) => Ok(a.iter().map(|&x| x as f64).collect()),
        other => Err(Error::corrupt(
            "releasing an aggregate",
            format!("a {} where numbers were planned", other.kind()),
        )),
    }
}

/// The noisy answer of `aggregate` over `value` (one value per row, or a frame for value
/// counts), spending `units` of ε: counts, sums on the grid of `bounds`, means, quantiles by a
/// noisy binary search, and counts of `categories`.
pub(crate) fn answer(
    aggregate: &Aggregate,
    bounds: Option<(f64, f64)>,
    categories: &[String],
    units: u64,
    value: &Data,
) -> Result<DpValue> {
    let mut rng = noise::os_rng();
    let counted = |n: usize, units: u64, rng: &mut _| n as i128 + noise::noise(rng, 1, units);
    Ok(match aggregate {
        Aggregate::Count => DpValue::Number(counted(rows_in(value), units, &mut rng).max(0) as f64),
        Aggregate::Sum | Aggregate::Mean => {
            let bounds = bounds.expect("planned with bounds");
            let g = granularity(bounds.0, bounds.1);
            let xs = numbers(value)?;
            let exact: i128 = xs.iter().map(|&x| i128::from(on_grid(x, bounds, g))).sum();
            let sensitivity = on_grid(bounds.0, bounds, g)
                .unsigned_abs()
                .max(on_grid(bounds.1, bounds, g).unsigned_abs())
                .max(1);
            let sum_units = if *aggregate == Aggregate::Mean {
                units / 2
            } else {
                units
            };
            let sum = (exact + noise::noise(&mut rng, sensitivity, sum_units)) as f64 * g;
            if *aggregate == Aggregate::Sum {
                DpValue::Number(sum)
            } else {
                let n = counted(xs.len(), units - sum_units, &mut rng).max(1) as f64;
                DpValue::Number((sum / n).clamp(bounds.0, bounds.1))
            }
        }
        Aggregate::Quantile(q) => {
            let (lower, upper) = bounds.expect("planned with bounds");
            let xs = numbers(value)?;
            let part = units / u64::from(QUANTILE_DEPTH + 1);
            let n = counted(xs.len(), part, &mut rng).max(0) as f64;
            let target = q * n;
            let points = 1u32 << QUANTILE_DEPTH;
            let step = (upper - lower) / f64::from(points);
            let (mut low, mut high) = (0u32, points);
            while high - low > 1 {
                let mid = (low + high) / 2;
                let edge = lower + f64::from(mid) * step;
                let below = xs
                    .iter()
                    .filter(|&&x| x.clamp(lower, upper) <= edge)
                    .count();
                if (counted(below, part, &mut rng) as f64) < target {
                    low = mid;
                } else {
                    high = mid;
                }
            }
            DpValue::Number(lower + f64::from(high) * step)
        }
        Aggregate::ValueCounts(column) => {
            let Data::Frame(df) = value else {
                return Err(Error::corrupt("releasing value counts", "not a frame"));
            };
            let col = df
                .column(column)
                .map_err(Error::data("reading a column"))?
                .cast(&polars::prelude::DataType::String)
                .map_err(Error::data("reading a column as text"))?;
            let text = col.str().map_err(Error::data("reading a column as text"))?;
            let mut counts = vec![0usize; categories.len()];
            for v in text.iter().flatten() {
                if let Some(i) = categories.iter().position(|c| c == v) {
                    counts[i] += 1;
                }
            }
            DpValue::Counts(
                categories
                    .iter()
                    .zip(counts)
                    .map(|(c, n)| (c.clone(), counted(n, units, &mut rng).max(0) as f64))
                    .collect(),
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epsilon_is_used_in_whole_units_never_more_than_asked() {
        assert_eq!(epsilon_units(1.0, "ε").unwrap(), EPSILON_UNIT);
        let units = epsilon_units(0.1, "ε").unwrap();
        assert!(epsilon_of(units) <= 0.1 && epsilon_of(units) > 0.1 - 1e-6);
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e-9, 1e6] {
            assert!(epsilon_units(bad, "ε").is_err(), "{bad}");
        }
    }

    #[test]
    fn values_go_on_a_power_of_two_grid_within_their_bounds() {
        let g = granularity(0.0, 30.0);
        assert_eq!(g.log2().fract(), 0.0);
        assert!(30.0 / g <= GRID_STEPS && 30.0 / g > GRID_STEPS / 2.0);
        assert_eq!(on_grid(100.0, (0.0, 30.0), g), (30.0 / g).round() as i64);
        assert_eq!(on_grid(-5.0, (0.0, 30.0), g), 0);
        assert_eq!(on_grid(f64::NAN, (-1.0, 1.0), granularity(-1.0, 1.0)), 0);
        assert_eq!(
            on_grid(f64::NAN, (2.0, 3.0), granularity(2.0, 3.0)),
            (2.0 / granularity(2.0, 3.0)) as i64
        );
    }
}
