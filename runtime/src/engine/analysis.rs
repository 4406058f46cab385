//! The heavier ops behind [`crate::ops`]: group-by aggregates, value counts, describe, joins, and the
//! machine-learning steps the tutorials' scientist needs (standardise, a seeded train/test split,
//! logistic regression, accuracy and the confusion matrix). Deterministic: the same inputs (and seed)
//! give the same output, on the mock and on the real data alike.

use std::collections::{BTreeMap, HashMap};

use ndarray::{Array1, Array2, ArrayD, Axis, Ix1, Ix2};
use polars::prelude::{Column, DataFrame, DataType, IdxCa, IdxSize, NamedFrom};
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use rand::seq::SliceRandom;

use crate::error::{Error, Result};

pub use veil_api::ops::Agg;

/// `agg` of `values`.
fn aggregate(agg: Agg, values: &[f64]) -> f64 {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    match agg {
        Agg::Count => n,
        Agg::Sum => values.iter().sum(),
        Agg::Mean => mean,
        Agg::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
        Agg::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        Agg::Std => (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt(),
    }
}

fn bad(what: &str, problem: impl Into<String>, fix: impl Into<String>) -> Error {
    Error::invalid(format!("input to `{what}`"), problem, fix)
}

fn column<'a>(what: &str, df: &'a DataFrame, name: &str) -> Result<&'a Column> {
    df.column(name).map_err(|_| {
        let names: Vec<String> = df
            .get_column_names()
            .iter()
            .map(|c| c.to_string())
            .collect();
        let _ = what;
        Error::not_found(
            "column",
            name,
            format!("the frame's columns are: {}", names.join(", ")),
        )
    })
}

/// A column's values as text keys (nulls as `null`).
pub(crate) fn keys(df: &DataFrame, name: &str, what: &str) -> Result<Vec<String>> {
    let text = column(what, df, name)?
        .cast(&DataType::String)
        .map_err(Error::data("reading a key column"))?;
    Ok(text
        .str()
        .map_err(Error::data("reading a key column"))?
        .iter()
        .map(|v| v.unwrap_or("null").to_string())
        .collect())
}

/// A numeric column's values as `f64` (nulls as NaN); a text column is refused with `fix`.
pub(crate) fn numbers_or(df: &DataFrame, name: &str, what: &str, fix: &str) -> Result<Vec<f64>> {
    let col = column(what, df, name)?;
    if !col.dtype().is_primitive_numeric() && !col.dtype().is_bool() {
        return Err(bad(
            what,
            format!("column `{name}` holds {}, not numbers", col.dtype()),
            fix,
        ));
    }
    let floats = col
        .cast(&DataType::Float64)
        .map_err(Error::data("casting a column to f64"))?;
    let floats = floats.f64().map_err(Error::data("reading a column"))?;
    if floats.null_count() == 0 {
        // The common case, copied chunk by chunk rather than value by value through `Option`s.
        let mut values = Vec::with_capacity(floats.len());
        for chunk in floats.downcast_iter() {
            values.extend_from_slice(chunk.values());
        }
        return Ok(values);
    }
    Ok(floats.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
}

pub(crate) fn numbers(df: &DataFrame, name: &str, what: &str) -> Result<Vec<f64>> {
    numbers_or(
        df,
        name,
        what,
        "aggregate numeric columns; count text ones with `value_counts`",
    )
}

fn frame(columns: Vec<Column>) -> Result<DataFrame> {
    DataFrame::new_infer_height(columns).map_err(Error::data("building a frame"))
}

/// One row per value of `by` (sorted), with each `(column, agg)` as `column_agg` (`count` alone).
pub fn group_by(df: &DataFrame, by: &str, aggs: &[(String, Agg)]) -> Result<DataFrame> {
    let what = "group_by";
    if aggs.is_empty() {
        return Err(bad(
            what,
            "no aggregates given",
            "pass at least one, e.g. [(\"radius1\", Agg::Mean)]",
        ));
    }
    let keys = keys(df, by, what)?;
    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (row, key) in keys.iter().enumerate() {
        groups.entry(key.as_str()).or_default().push(row);
    }
    let mut out = vec![Column::new(
        by.into(),
        groups.keys().map(|k| k.to_string()).collect::<Vec<_>>(),
    )];
    for (name, agg) in aggs {
        let values = if *agg == Agg::Count {
            vec![0.0; df.height()]
        } else {
            numbers(df, name, what)?
        };
        let result: Vec<f64> = groups
            .values()
            .map(|rows| aggregate(*agg, &rows.iter().map(|r| values[*r]).collect::<Vec<_>>()))
            .collect();
        let label = if *agg == Agg::Count {
            "count".to_string()
        } else {
            format!("{name}_{}", agg.name())
        };
        out.push(Column::new(label.into(), result));
    }
    frame(out)
}

/// Each value of `name` with how often it occurs, most frequent first (ties by value).
pub fn value_counts(df: &DataFrame, name: &str) -> Result<DataFrame> {
    let mut counts: HashMap<String, i64> = HashMap::new();
    for key in keys(df, name, "value_counts")? {
        *counts.entry(key).or_default() += 1;
    }
    let mut pairs: Vec<(String, i64)> = counts.into_iter().collect();
    pairs.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    frame(vec![
        Column::new(
            name.into(),
            pairs.iter().map(|p| p.0.clone()).collect::<Vec<_>>(),
        ),
        Column::new(
            "count".into(),
            pairs.iter().map(|p| p.1).collect::<Vec<_>>(),
        ),
    ])
}

/// count, mean, std (population), min and max of every numeric column.
pub fn describe(df: &DataFrame) -> Result<DataFrame> {
    let stats = [Agg::Count, Agg::Mean, Agg::Std, Agg::Min, Agg::Max];
    let mut out = vec![Column::new(
        "statistic".into(),
        stats.iter().map(|s| s.name()).collect::<Vec<_>>(),
    )];
    for col in df.columns() {
        if !col.dtype().is_primitive_numeric() {
            continue;
        }
        let values: Vec<f64> = numbers(df, col.name().as_str(), "describe")?
            .into_iter()
            .filter(|v| !v.is_nan())
            .collect();
        out.push(Column::new(
            col.name().clone(),
            stats
                .iter()
                .map(|s| aggregate(*s, &values))
                .collect::<Vec<_>>(),
        ));
    }
    if out.len() == 1 {
        return Err(bad(
            "describe",
            "the frame has no numeric columns",
            "describe a frame with numbers; count text with `value_counts`",
        ));
    }
    frame(out)
}

/// Joins `right` to `left` on the column `on`: inner (only matching rows) or left (every left row,
/// nulls where nothing matches). Right-hand columns that clash get the suffix `_right`.
pub fn join(left: &DataFrame, right: &DataFrame, on: &str, keep_left: bool) -> Result<DataFrame> {
    let what = "join";
    let lkeys = keys(left, on, what)?;
    let rkeys = keys(right, on, what)?;
    let mut index: HashMap<&str, Vec<IdxSize>> = HashMap::new();
    for (i, k) in rkeys.iter().enumerate() {
        index.entry(k.as_str()).or_default().push(i as IdxSize);
    }
    // Counted before anything is made: a key repeated on both sides multiplies rows.
    let rows = lkeys.iter().try_fold(0usize, |n, k| {
        let matches = index
            .get(k.as_str())
            .map_or(usize::from(keep_left), Vec::len);
        n.checked_add(matches)
    });
    let width = left.width() + right.width();
    crate::ops::check_output(what, rows.and_then(|r| r.checked_mul(width)))?;
    let (mut li, mut ri): (Vec<IdxSize>, Vec<Option<IdxSize>>) = (Vec::new(), Vec::new());
    for (i, k) in lkeys.iter().enumerate() {
        match index.get(k.as_str()) {
            Some(rows) => {
                for r in rows {
                    li.push(i as IdxSize);
                    ri.push(Some(*r));
                }
            }
            None if keep_left => {
                li.push(i as IdxSize);
                ri.push(None);
            }
            None => {}
        }
    }
    let l = left
        .take(&IdxCa::new("l".into(), li))
        .map_err(Error::data("joining"))?;
    let r = right
        .take(&IdxCa::new("r".into(), ri))
        .map_err(Error::data("joining"))?;
    let mut columns: Vec<Column> = l.columns().to_vec();
    for col in r.columns() {
        if col.name().as_str() == on {
            continue;
        }
        let mut col = col.clone();
        if left.column(col.name().as_str()).is_ok() {
            col.rename(format!("{}_right", col.name()).into());
        }
        columns.push(col);
    }
    DataFrame::new(l.height(), columns).map_err(Error::data("joining"))
}

fn matrix(what: &str, a: &ArrayD<f64>) -> Result<Array2<f64>> {
    a.view()
        .into_dimensionality::<Ix2>()
        .map(|m| m.to_owned())
        .map_err(|_| {
            bad(
                what,
                format!(
                    "it has shape {:?}, and this needs rows × columns",
                    a.shape()
                ),
                "turn a frame into a matrix with `.to_array()`",
            )
        })
}

fn vector(what: &str, a: &ArrayD<f64>) -> Result<Array1<f64>> {
    a.view()
        .into_dimensionality::<Ix1>()
        .map(|v| v.to_owned())
        .map_err(|_| {
            bad(
                what,
                format!(
                    "it has shape {:?}, and this needs one value per row",
                    a.shape()
                ),
                "pass a 1-d array, e.g. a column or a 0/1 mask",
            )
        })
}

/// Each column shifted to mean 0 and scaled to standard deviation 1 (a constant column is only
/// centred).
pub fn standardize(a: &ArrayD<f64>) -> Result<ArrayD<f64>> {
    let mut m = matrix("standardize", a)?;
    for mut col in m.axis_iter_mut(Axis(1)) {
        let n = col.len().max(1) as f64;
        let mean = col.sum() / n;
        let std = (col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        let scale = if std > 0.0 { std } else { 1.0 };
        col.mapv_inplace(|v| (v - mean) / scale);
    }
    Ok(m.into_dyn())
}

/// `n` of `rows` row numbers, drawn without replacement by a seeded shuffle (ChaCha8, `seed`).
pub fn sample_rows(rows: usize, n: usize, seed: u64) -> Result<Vec<usize>> {
    if n > rows {
        return Err(bad(
            "sample",
            format!("{n} rows asked for, and there are {rows}"),
            format!("sample at most {rows} rows"),
        ));
    }
    let mut order: Vec<usize> = (0..rows).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    order.truncate(n);
    Ok(order)
}

/// The rows of a seeded split: a permutation of `rows` (ChaCha8, `seed`) whose first
/// `round(rows × test_fraction)` rows are the test set and the rest the training set. Features and
/// targets split with the same seed stay aligned.
pub fn split_rows(rows: usize, test_fraction: f64, seed: u64, test: bool) -> Result<Vec<usize>> {
    if !(test_fraction > 0.0 && test_fraction < 1.0) {
        return Err(bad(
            "split",
            format!("test fraction {test_fraction} is not between 0 and 1"),
            "pass e.g. 0.2 for a fifth of the rows",
        ));
    }
    let mut order: Vec<usize> = (0..rows).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let n_test = ((rows as f64) * test_fraction).round() as usize;
    Ok(if test {
        order[..n_test].to_vec()
    } else {
        order[n_test..].to_vec()
    })
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Logistic regression by batch gradient descent: returns `[bias, w₁, …, w_d]`.
pub fn logistic_fit(
    x: &ArrayD<f64>,
    y: &ArrayD<f64>,
    iterations: usize,
    learning_rate: f64,
) -> Result<ArrayD<f64>> {
    let what = "logistic_fit";
    let x = matrix(what, x)?;
    let y = vector(what, y)?;
    if x.nrows() != y.len() || x.nrows() == 0 {
        return Err(bad(
            what,
            format!("{} rows of features and {} targets", x.nrows(), y.len()),
            "fit features and targets with the same rows (split both with the same seed)",
        ));
    }
    if y.iter().any(|v| *v != 0.0 && *v != 1.0) {
        return Err(bad(
            what,
            "the targets are not all 0 or 1",
            "make a 0/1 target, e.g. `targets.text_equals(\"Diagnosis\", \"M\")`",
        ));
    }
    if !(learning_rate > 0.0 && learning_rate.is_finite()) || iterations == 0 {
        return Err(bad(
            what,
            "the learning rate must be positive and iterations at least 1",
            "e.g. 500 iterations at a learning rate of 0.1 on standardised features",
        ));
    }
    let n = x.nrows() as f64;
    let mut w = Array1::<f64>::zeros(x.ncols());
    let mut b = 0.0;
    for _ in 0..iterations {
        let p = (x.dot(&w) + b).mapv(sigmoid);
        let err = &p - &y;
        let grad_w = x.t().dot(&err) / n;
        let grad_b = err.sum() / n;
        w = w - grad_w * learning_rate;
        b -= grad_b * learning_rate;
    }
    let mut out = vec![b];
    out.extend(w.iter().copied());
    Ok(Array1::from(out).into_dyn())
}

/// 0/1 predictions of weights `[bias, w…]` on features `x` (probability ≥ 0.5 is 1).
pub fn logistic_predict(weights: &ArrayD<f64>, x: &ArrayD<f64>) -> Result<ArrayD<f64>> {
    let what = "logistic_predict";
    let w = vector(what, weights)?;
    let x = matrix(what, x)?;
    if w.len() != x.ncols() + 1 {
        return Err(bad(
            what,
            format!("{} weights for {} features", w.len(), x.ncols()),
            "predict with weights fitted on the same columns (bias first)",
        ));
    }
    let z = x.dot(&w.slice(ndarray::s![1..])) + w[0];
    Ok(z.mapv(|z| if sigmoid(z) >= 0.5 { 1.0 } else { 0.0 })
        .into_dyn())
}

fn pairs(
    what: &str,
    pred: &ArrayD<f64>,
    truth: &ArrayD<f64>,
) -> Result<(Array1<f64>, Array1<f64>)> {
    let (p, t) = (vector(what, pred)?, vector(what, truth)?);
    if p.len() != t.len() || p.is_empty() {
        return Err(bad(
            what,
            format!("{} predictions and {} true values", p.len(), t.len()),
            "compare predictions with the targets of the same rows",
        ));
    }
    Ok((p, t))
}

/// The share of predictions equal to the truth.
pub fn accuracy(pred: &ArrayD<f64>, truth: &ArrayD<f64>) -> Result<ArrayD<f64>> {
    let (p, t) = pairs("accuracy", pred, truth)?;
    let right = p.iter().zip(&t).filter(|(a, b)| a == b).count();
    Ok(ArrayD::from_elem(
        ndarray::IxDyn(&[]),
        right as f64 / p.len() as f64,
    ))
}

/// `[[true negatives, false positives], [false negatives, true positives]]` of 0/1 values.
pub fn confusion_matrix(pred: &ArrayD<f64>, truth: &ArrayD<f64>) -> Result<ArrayD<f64>> {
    let (p, t) = pairs("confusion_matrix", pred, truth)?;
    let mut m = Array2::<f64>::zeros((2, 2));
    for (a, b) in p.iter().zip(&t) {
        m[(usize::from(*b != 0.0), usize::from(*a != 0.0))] += 1.0;
    }
    Ok(m.into_dyn())
}
