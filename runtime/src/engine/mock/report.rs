//! What a mock gives away of its real data, measured by the datasite at upload ([`report`]).
//!
//! Three measures, each an attack a scientist holding the mock could make:
//! - exact rows: mock rows equal, value for value, to a real row (numbers compared as f64, so a
//!   cast hides nothing);
//! - affine reconstruction, per numeric column: the real column regressed on the mock's, row by
//!   row, by least squares; the residuals' root mean square over the real column's standard
//!   deviation is the error. A mock that shifts and jitters values in place scores near 0: every
//!   real value comes back from its row. A mock that breaks the rows' order scores near 1;
//! - exact marginals: the mock's values are the real ones reordered (a shuffled column keeps every
//!   class count exactly).
//!
//! The first [`MAX_ROWS`] rows of each are compared, so a report costs a bounded time at upload.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};

use polars::prelude::{Column, DataFrame, DataType};

use crate::data::Data;
use crate::error::{Error, Result};
use veil_api::mock::{ColumnReport, MockReport};

/// Rows of the data and of the mock a report compares, at most.
pub const MAX_ROWS: usize = 200_000;

/// How much `mock` gives away of `real` (`made` says how the mock was made). Frames are compared
/// by column name; arrays as rows of their first axis, one column per remaining position.
pub fn report(real: &Data, mock: &Data, made: &str) -> Result<MockReport> {
    let (real, mock) = (as_frame(real)?, as_frame(mock)?);
    let (real, mock) = (real.head(Some(MAX_ROWS)), mock.head(Some(MAX_ROWS)));
    let mut columns = Vec::new();
    let (mut real_rows, mut mock_rows) = (vec![0_u64; real.height()], vec![0_u64; mock.height()]);
    for column in real.columns() {
        let name = column.name().as_str();
        let Ok(other) = mock.column(name) else {
            continue;
        };
        let (r, m) = (value_hashes(column)?, value_hashes(other)?);
        for (row, h) in real_rows.iter_mut().zip(&r) {
            *row = combine(*row, *h);
        }
        for (row, h) in mock_rows.iter_mut().zip(&m) {
            *row = combine(*row, *h);
        }
        let exact_marginal = r.len() == m.len() && {
            let (mut r, mut m) = (r, m);
            r.sort_unstable();
            m.sort_unstable();
            r == m
        };
        let affine_error = if column.dtype().is_primitive_numeric()
            && other.dtype().is_primitive_numeric()
            && column.len() == other.len()
        {
            affine_error(&floats(column)?, &floats(other)?)
        } else {
            None
        };
        columns.push(ColumnReport {
            column: name.to_string(),
            affine_error,
            exact_marginal,
        });
    }
    let real_set: HashSet<u64> = real_rows.into_iter().collect();
    let exact_rows = mock_rows.iter().filter(|h| real_set.contains(h)).count();
    Ok(MockReport {
        made: made.to_string(),
        real_rows: real.height() as u64,
        mock_rows: mock.height() as u64,
        exact_rows: exact_rows as u64,
        columns,
    })
}

/// A frame, or an array as a frame: rows along its first axis, a column per remaining position.
fn as_frame(data: &Data) -> Result<DataFrame> {
    let array = match data {
        Data::Frame(f) => return Ok(f.clone()),
        Data::F64(a) => a.clone(),
        Data::I64(a) => a.mapv(|v| v as f64),
        Data::Json(_) => {
            return Err(Error::invalid(
                "mock report",
                "a JSON value is not an asset's data",
                "upload frames or arrays",
            ));
        }
    };
    let rows = array.shape().first().copied().unwrap_or(1);
    let width = array.len() / rows.max(1);
    let flat: Vec<f64> = array.iter().copied().collect();
    let columns: Vec<Column> = (0..width)
        .map(|j| {
            let name = if width == 1 {
                "values".to_string()
            } else {
                format!("values[{j}]")
            };
            let values: Vec<f64> = (0..rows).map(|i| flat[i * width + j]).collect();
            Column::new(name.into(), values)
        })
        .collect();
    DataFrame::new(rows, columns).map_err(Error::data("reading an array"))
}

/// Each value's hash: numbers as f64 bits (so `1` and `1.0` agree, and `-0.0` and `0.0`),
/// anything else as text; missing values alike.
fn value_hashes(column: &Column) -> Result<Vec<u64>> {
    fn finish(value: Option<impl Hash>) -> u64 {
        let mut h = DefaultHasher::new();
        value.hash(&mut h);
        h.finish()
    }
    if column.dtype().is_primitive_numeric() {
        Ok(floats(column)?
            .into_iter()
            .map(|v| finish(v.map(|v| (v + 0.0).to_bits())))
            .collect())
    } else {
        let text = column
            .cast(&DataType::String)
            .map_err(Error::data("reading a column"))?;
        Ok(text
            .str()
            .map_err(Error::data("reading a column"))?
            .iter()
            .map(finish)
            .collect())
    }
}

fn combine(row: u64, value: u64) -> u64 {
    let mut h = DefaultHasher::new();
    (row, value).hash(&mut h);
    h.finish()
}

fn floats(column: &Column) -> Result<Vec<Option<f64>>> {
    let f = column
        .cast(&DataType::Float64)
        .map_err(Error::data("reading a column"))?;
    Ok(f.f64()
        .map_err(Error::data("reading a column"))?
        .iter()
        .collect())
}

/// The error of the least-squares fit `real ≈ a + b · mock` over rows where both are present, as a
/// fraction of the real values' standard deviation; `None` for fewer than 3 such rows or a
/// constant real column (nothing to recover).
fn affine_error(real: &[Option<f64>], mock: &[Option<f64>]) -> Option<f64> {
    let pairs: Vec<(f64, f64)> = real
        .iter()
        .zip(mock)
        .filter_map(|(r, m)| Some(((*r)?, (*m)?)))
        .filter(|(r, m)| r.is_finite() && m.is_finite())
        .collect();
    let n = pairs.len() as f64;
    if pairs.len() < 3 {
        return None;
    }
    let (mean_r, mean_m) = (
        pairs.iter().map(|p| p.0).sum::<f64>() / n,
        pairs.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let (mut srr, mut smm, mut srm) = (0.0, 0.0, 0.0);
    for (r, m) in &pairs {
        let (dr, dm) = (r - mean_r, m - mean_m);
        srr += dr * dr;
        smm += dm * dm;
        srm += dr * dm;
    }
    if srr <= 0.0 {
        return None;
    }
    // Residual sum of squares of the best fit: srr - srm² / smm (srr when the mock is constant).
    let residual = if smm > 0.0 {
        (srr - srm * srm / smm).max(0.0)
    } else {
        srr
    };
    Some((residual / srr).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_affine_copy_is_recovered_and_noise_is_not() {
        let real: Vec<Option<f64>> = (0..100).map(|i| Some(i as f64)).collect();
        let shifted: Vec<Option<f64>> = real.iter().map(|v| v.map(|v| 3.0 * v + 7.0)).collect();
        assert!(affine_error(&real, &shifted).unwrap() < 1e-9);
        // Rows scattered: the fit recovers little.
        let scattered: Vec<Option<f64>> = (0..100).map(|i| Some(((i * 37) % 100) as f64)).collect();
        assert!(affine_error(&real, &scattered).unwrap() > 0.5);
        let constant = vec![Some(1.0); 100];
        assert_eq!(affine_error(&real, &constant), Some(1.0));
        assert_eq!(affine_error(&constant, &real), None);
    }
}
