//! The closed set of operations a pointer records, and their evaluation on [`Data`].
//!
//! The op set itself ([`Op`] and its kinds) is the call vocabulary's (`veil-api`), shared with every
//! client; it is plain data (serialised with serde as `{"op": "arith", ...}`), so an action can be
//! stored, shown to an owner as a readable step ([`describe`]), and replayed. [`eval`] is the one
//! implementation: the kernel runs it on a cell's mocks, the datasite on the real inputs, so both
//! sides always agree on what an op means.
//!
//! Semantics: arrays compute in `f64` (integer arrays are widened), element-wise ops broadcast like
//! NumPy, reductions over the whole array give a 0-d array, masks are arrays of 0.0 and 1.0, and
//! statistics use the population form (`ddof = 0`, NumPy's default).

use std::borrow::Cow;

use crate::analysis;
use crate::data::Data;
use crate::error::{Error, Result};
use ndarray::{ArrayD, Axis, IxDyn, Slice};
use polars::prelude::{BooleanChunked, Column, DataFrame, NewChunkedArray, SortMultipleOptions};
pub use veil_api::ops::{Agg, Arith, Compare, OPS_VERSION, Op, Reduce, Unary, describe};

/// Most values one op may make (1 GiB of `f64`). An op whose output size depends on the data (a
/// product of filtered arrays, a broadcast, a join) is refused before it allocates: on the real side
/// an unbounded one could exhaust the datasite's memory, and whether it did would tell a scientist
/// something about the real data.
pub const MAX_OP_VALUES: usize = 1 << 27;

/// Ok if an output of `values` values is within [`MAX_OP_VALUES`].
pub(crate) fn check_output(what: &str, values: Option<usize>) -> Result<()> {
    match values {
        Some(n) if n <= MAX_OP_VALUES => Ok(()),
        _ => Err(Error::invalid(
            format!("input to `{what}`"),
            format!(
                "its result would hold more than {MAX_OP_VALUES} values, the most one operation may make"
            ),
            "reduce the data first (filter, select, head or aggregate), or split the work",
        )),
    }
}

/// The number of values of `shape`, if it fits a `usize`.
fn size_of(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |n, d| n.checked_mul(*d))
}

/// A client's shape in a message, cut short: it may hold millions of dimensions.
pub fn quote_shape(shape: &[usize]) -> String {
    match shape.get(..8) {
        Some(first) if shape.len() > 8 => format!("{first:?} and {} more", shape.len() - 8),
        _ => format!("{shape:?}"),
    }
}

fn bad(op: &Op, problem: impl Into<String>, fix: impl Into<String>) -> Error {
    Error::invalid(format!("input to `{}`", op.name()), problem, fix)
}

/// The input as an `f64` array, borrowed when it is one (ops on big arrays must not copy their
/// inputs) and widened when it holds integers; frames are refused with what to do instead.
fn floats<'a>(op: &Op, data: &'a Data) -> Result<Cow<'a, ArrayD<f64>>> {
    match data {
        Data::F64(a) => Ok(Cow::Borrowed(a)),
        Data::I64(a) => Ok(Cow::Owned(a.mapv(|v| v as f64))),
        Data::Frame(_) => Err(bad(
            op,
            "it is a frame, and this op works on arrays",
            "take a column with `.column(name)` or the whole frame with `.to_array()` first",
        )),
        Data::Json(_) => Err(bad(
            op,
            "it is a value returned by code, and this op works on arrays",
            "compute on it in the code request instead",
        )),
    }
}

fn frame<'a>(op: &Op, data: &'a Data) -> Result<&'a DataFrame> {
    data.as_frame().ok_or_else(|| {
        bad(
            op,
            format!("it is {}, and this op works on frames", data.describe()),
            "use it on a frame (an asset of kind DataFrame, or the result of select/filter/sort)",
        )
    })
}

fn check_columns(op: &Op, df: &DataFrame, names: &[&str]) -> Result<()> {
    let present: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|c| c.to_string())
        .collect();
    match names.iter().find(|n| !present.iter().any(|p| p == *n)) {
        Some(absent) => Err(Error::not_found(
            "column",
            *absent,
            format!("the frame's columns are: {}", present.join(", ")),
        )),
        None => {
            let _ = op;
            Ok(())
        }
    }
}

/// The NumPy broadcast of two shapes, if they are compatible.
fn broadcast_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let da = if i + a.len() >= n {
            a[i + a.len() - n]
        } else {
            1
        };
        let db = if i + b.len() >= n {
            b[i + b.len() - n]
        } else {
            1
        };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(out)
}

fn zip_with(
    op: &Op,
    a: &ArrayD<f64>,
    b: &ArrayD<f64>,
    f: impl Fn(f64, f64) -> f64,
) -> Result<ArrayD<f64>> {
    let shape = broadcast_shape(a.shape(), b.shape()).ok_or_else(|| {
        bad(
            op,
            format!(
                "shapes {:?} and {:?} do not broadcast",
                a.shape(),
                b.shape()
            ),
            "make the trailing dimensions equal or 1 (reshape or transpose one side)",
        )
    })?;
    check_output(&op.name(), size_of(&shape))?;
    let a = a.broadcast(IxDyn(&shape)).expect("checked shape");
    let b = b.broadcast(IxDyn(&shape)).expect("checked shape");
    Ok(ndarray::Zip::from(&a).and(&b).map_collect(|x, y| f(*x, *y)))
}

// The element functions of each kind, as closures the compiler inlines into the loops over the values:
// a function pointer called per value kept those loops from vectorising (4x slower on a million rows).
// Each macro binds `$g` to the kind's function in its own arm and expands `$body` there.
macro_rules! with_arith {
    ($kind:expr, |$g:ident| $body:expr) => {
        match $kind {
            Arith::Add => {
                let $g = |x: f64, y: f64| x + y;
                $body
            }
            Arith::Sub => {
                let $g = |x: f64, y: f64| x - y;
                $body
            }
            Arith::Mul => {
                let $g = |x: f64, y: f64| x * y;
                $body
            }
            Arith::Div => {
                let $g = |x: f64, y: f64| x / y;
                $body
            }
            Arith::Rem => {
                let $g = |x: f64, y: f64| x % y;
                $body
            }
            Arith::Pow => {
                let $g = f64::powf;
                $body
            }
        }
    };
}

macro_rules! with_compare {
    ($kind:expr, |$g:ident| $body:expr) => {
        match $kind {
            Compare::Lt => {
                let $g = |x: f64, y: f64| f64::from(u8::from(x < y));
                $body
            }
            Compare::Le => {
                let $g = |x: f64, y: f64| f64::from(u8::from(x <= y));
                $body
            }
            Compare::Gt => {
                let $g = |x: f64, y: f64| f64::from(u8::from(x > y));
                $body
            }
            Compare::Ge => {
                let $g = |x: f64, y: f64| f64::from(u8::from(x >= y));
                $body
            }
            Compare::Eq => {
                let $g = |x: f64, y: f64| f64::from(u8::from(x == y));
                $body
            }
            Compare::Ne => {
                let $g = |x: f64, y: f64| f64::from(u8::from(x != y));
                $body
            }
        }
    };
}

macro_rules! with_unary {
    ($kind:expr, |$g:ident| $body:expr) => {
        match $kind {
            Unary::Neg => {
                let $g = |x: f64| -x;
                $body
            }
            Unary::Abs => {
                let $g = f64::abs;
                $body
            }
            Unary::Sqrt => {
                let $g = f64::sqrt;
                $body
            }
            Unary::Exp => {
                let $g = f64::exp;
                $body
            }
            Unary::Log => {
                let $g = f64::ln;
                $body
            }
        }
    };
}

/// Binds `$f` to the element function of an [`Elementwise`] (a closure taking the scalar by value, so
/// the loops in `$body` vectorise) and expands `$body` once per kind.
macro_rules! with_elementwise {
    ($e:expr, |$f:ident| $body:expr) => {
        match $e {
            Elementwise::Arith {
                kind,
                s,
                left: true,
            } => with_arith!(kind, |g| {
                let $f = move |x: f64| g(s, x);
                $body
            }),
            Elementwise::Arith {
                kind,
                s,
                left: false,
            } => with_arith!(kind, |g| {
                let $f = move |x: f64| g(x, s);
                $body
            }),
            Elementwise::Compare { kind, s } => with_compare!(kind, |g| {
                let $f = move |x: f64| g(x, s);
                $body
            }),
            Elementwise::Unary(kind) => with_unary!(kind, |g| {
                let $f = g;
                $body
            }),
        }
    };
}

fn scalar(v: f64) -> ArrayD<f64> {
    ArrayD::from_elem(IxDyn(&[]), v)
}

fn check_axis(op: &Op, a: &ArrayD<f64>, axis: usize) -> Result<Axis> {
    if axis < a.ndim() {
        Ok(Axis(axis))
    } else {
        Err(bad(
            op,
            format!("axis {axis} is out of range for shape {:?}", a.shape()),
            format!("pick an axis below {}", a.ndim()),
        ))
    }
}

fn reduce(op: &Op, kind: Reduce, axis: Option<usize>, a: &ArrayD<f64>) -> Result<ArrayD<f64>> {
    let empty = || {
        bad(
            op,
            "the array is empty",
            "reduce a non-empty array (check the filter that produced it)",
        )
    };
    let Some(axis) = axis else {
        if a.is_empty() && kind != Reduce::Sum {
            return Err(empty());
        }
        let n = a.len() as f64;
        let v = match kind {
            Reduce::Sum => sum_of(a),
            Reduce::Mean => sum_of(a) / n,
            Reduce::Min => a.iter().copied().fold(f64::INFINITY, f64::min),
            Reduce::Max => a.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            Reduce::Var => a.var(0.0),
            Reduce::Std => a.std(0.0),
            Reduce::Argmax => argmax(a.iter().copied()) as f64,
        };
        return Ok(scalar(v));
    };
    let ax = check_axis(op, a, axis)?;
    if a.len_of(ax) == 0 && kind != Reduce::Sum {
        return Err(empty());
    }
    Ok(match kind {
        Reduce::Sum => a.sum_axis(ax),
        Reduce::Mean => a.mean_axis(ax).ok_or_else(empty)?,
        Reduce::Min => a.fold_axis(ax, f64::INFINITY, |m, v| m.min(*v)),
        Reduce::Max => a.fold_axis(ax, f64::NEG_INFINITY, |m, v| m.max(*v)),
        Reduce::Var => a.var_axis(ax, 0.0),
        Reduce::Std => a.std_axis(ax, 0.0),
        Reduce::Argmax => a.map_axis(ax, |lane| argmax(lane.iter().copied()) as f64),
    })
}

/// Index of the first largest value (NaN never wins).
fn argmax(values: impl Iterator<Item = f64>) -> usize {
    let mut best = (0, f64::NEG_INFINITY);
    for (i, v) in values.enumerate() {
        if v > best.1 {
            best = (i, v);
        }
    }
    best.0
}

fn dot(op: &Op, a: &ArrayD<f64>, b: &ArrayD<f64>) -> Result<ArrayD<f64>> {
    use ndarray::{Ix1, Ix2};
    let mismatch = || {
        bad(
            op,
            format!("shapes {:?} and {:?} do not multiply", a.shape(), b.shape()),
            "the last axis of the left side must match the first axis of the right (transpose one side?)",
        )
    };
    let inner_ok = a.shape().last() == b.shape().first();
    if !inner_ok || a.ndim() == 0 || b.ndim() == 0 {
        return Err(mismatch());
    }
    if a.ndim() == 2 && b.ndim() == 2 {
        check_output("dot", a.shape()[0].checked_mul(b.shape()[1]))?;
    }
    let a1 = || a.view().into_dimensionality::<Ix1>().expect("1-d");
    let a2 = || a.view().into_dimensionality::<Ix2>().expect("2-d");
    let b1 = || b.view().into_dimensionality::<Ix1>().expect("1-d");
    let b2 = || b.view().into_dimensionality::<Ix2>().expect("2-d");
    Ok(match (a.ndim(), b.ndim()) {
        (1, 1) => scalar(a1().dot(&b1())),
        (2, 1) => a2().dot(&b1()).into_dyn(),
        (1, 2) => a1().dot(&b2()).into_dyn(),
        (2, 2) => a2().dot(&b2()).into_dyn(),
        _ => {
            return Err(bad(
                op,
                format!(
                    "dot takes 1-d or 2-d arrays, not shapes {:?} and {:?}",
                    a.shape(),
                    b.shape()
                ),
                "reshape to 2-d first",
            ));
        }
    })
}

/// The rows `rows` of a frame, or of an array along its first axis, in that order.
fn take_rows(op: &Op, data: &Data, rows: &[usize]) -> Result<Data> {
    Ok(match data {
        Data::Frame(df) => {
            let idx: Vec<polars::prelude::IdxSize> = rows
                .iter()
                .map(|r| *r as polars::prelude::IdxSize)
                .collect();
            Data::Frame(
                df.take(&polars::prelude::IdxCa::from_vec("rows".into(), idx))
                    .map_err(Error::data("taking rows"))?,
            )
        }
        other => {
            let a = floats(op, other)?;
            if a.ndim() == 0 {
                return Err(bad(
                    op,
                    "a 0-d array has no rows",
                    "take rows of an array or a frame",
                ));
            }
            Data::F64(a.select(Axis(0), rows))
        }
    })
}

fn rows_of(data: &Data) -> usize {
    match data {
        Data::Frame(df) => df.height(),
        other => other.shape().first().copied().unwrap_or(1),
    }
}

fn mask(op: &Op, data: &Data, rows: usize) -> Result<Vec<bool>> {
    let m = floats(op, data)?;
    if m.ndim() != 1 || m.len() != rows {
        return Err(bad(
            op,
            format!(
                "the mask has shape {:?}, and the data {rows} rows",
                m.shape()
            ),
            "build the mask from the same data, e.g. `x.column(\"a\").gt(0.5)`",
        ));
    }
    Ok(m.iter().map(|v| *v != 0.0).collect())
}

fn numeric_column(op: &Op, df: &DataFrame, name: &str) -> Result<Vec<f64>> {
    check_columns(op, df, &[name])?;
    analysis::numbers_or(
        df,
        name,
        &op.name(),
        &format!("compare text with `.text_equals(\"{name}\", value)` to get a numeric mask"),
    )
}

/// Runs `op` on `inputs` (as many as [`Op::arity`]). Never panics on bad input: shape, kind and name
/// problems come back as errors naming the fix.
pub fn eval(op: &Op, inputs: &[&Data]) -> Result<Data> {
    if inputs.len() != op.arity() {
        return Err(bad(
            op,
            format!("it got {} inputs", inputs.len()),
            format!("pass {}", op.arity()),
        ));
    }
    let f = |i: usize| floats(op, inputs[i]);
    Ok(match op {
        Op::Asset { .. } => {
            return Err(Error::invalid(
                "op",
                "asset roots are loaded by the datasite, not evaluated",
                "get a pointer with `asset.pointer()`",
            ));
        }
        Op::Literal { values, shape } => Data::F64(
            ArrayD::from_shape_vec(IxDyn(shape), values.clone()).map_err(|_| {
                bad(
                    op,
                    format!(
                        "{} values do not fill shape {}",
                        values.len(),
                        quote_shape(shape)
                    ),
                    "make the shape's product equal the number of values",
                )
            })?,
        ),
        Op::Arith {
            scalar: Some(_), ..
        }
        | Op::Compare {
            scalar: Some(_), ..
        }
        | Op::Unary { .. } => {
            let e = Elementwise::of(op).expect("an element-wise op");
            Data::F64(e.array(f(0)?))
        }
        Op::Arith { kind, .. } => {
            let (a, b) = (f(0)?, f(1)?);
            Data::F64(with_arith!(kind, |g| zip_with(op, &a, &b, g))?)
        }
        Op::Compare { kind, .. } => {
            let (a, b) = (f(0)?, f(1)?);
            Data::F64(with_compare!(kind, |g| zip_with(op, &a, &b, g))?)
        }
        Op::Reduce { kind, axis } => Data::F64(reduce(op, *kind, *axis, &*f(0)?)?),
        Op::Quantile { q } => {
            if !(0.0..=1.0).contains(q) {
                return Err(bad(
                    op,
                    format!("quantile {q}"),
                    "give a quantile between 0 and 1 (0.5 is the median)",
                ));
            }
            let mut values: Vec<f64> = f(0)?.iter().copied().filter(|v| !v.is_nan()).collect();
            if values.is_empty() {
                return Err(bad(
                    op,
                    "there are no values",
                    "take the quantile of a non-empty array",
                ));
            }
            values.sort_by(f64::total_cmp);
            // The least value with at least a share `q` of the values at or below it.
            let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
            Data::F64(scalar(values[rank - 1]))
        }
        Op::Dot => Data::F64(dot(op, &*f(0)?, &*f(1)?)?),
        Op::Transpose => Data::F64(f(0)?.into_owned().reversed_axes()),
        Op::Reshape { shape } => {
            let a = f(0)?;
            let values: Vec<f64> = a.iter().copied().collect();
            // `from_shape_vec` checks the product without overflowing.
            Data::F64(ArrayD::from_shape_vec(IxDyn(shape), values).map_err(|_| {
                bad(
                    op,
                    format!("{} values do not fit shape {}", a.len(), quote_shape(shape)),
                    "keep the number of values (the product of the shape) the same",
                )
            })?)
        }
        Op::Slice { ranges } => {
            let a = f(0)?;
            if ranges.len() > a.ndim() {
                return Err(bad(
                    op,
                    format!("{} ranges for {} axes", ranges.len(), a.ndim()),
                    "give at most one range per axis",
                ));
            }
            for (axis, (start, end)) in ranges.iter().enumerate() {
                if start > end || *end > a.len_of(Axis(axis)) {
                    return Err(bad(
                        op,
                        format!(
                            "range {start}..{end} is outside axis {axis} of length {}",
                            a.len_of(Axis(axis))
                        ),
                        "keep start <= end <= the axis length",
                    ));
                }
            }
            Data::F64(
                a.slice_each_axis(|ax| match ranges.get(ax.axis.index()) {
                    Some((s, e)) => Slice::from(*s..*e),
                    None => Slice::from(..),
                })
                .to_owned(),
            )
        }
        Op::Select { columns } => {
            let df = frame(op, inputs[0])?;
            let names: Vec<&str> = columns.iter().map(String::as_str).collect();
            check_columns(op, df, &names)?;
            Data::Frame(df.select(names).map_err(Error::data("selecting columns"))?)
        }
        Op::Column { name } => {
            let values = numeric_column(op, frame(op, inputs[0])?, name)?;
            Data::F64(ArrayD::from_shape_vec(IxDyn(&[values.len()]), values).expect("1-d"))
        }
        Op::TextEquals { column, value } => {
            let df = frame(op, inputs[0])?;
            check_columns(op, df, &[column])?;
            let col = df.column(column).map_err(Error::data("reading a column"))?;
            let text = col.str().map_err(|_| {
                bad(
                    op,
                    format!("column `{column}` holds {}, not text", col.dtype()),
                    "compare numbers with `.eq(value)` after `.column(name)`",
                )
            })?;
            let values: Vec<f64> = text
                .iter()
                .map(|v| if v == Some(value.as_str()) { 1.0 } else { 0.0 })
                .collect();
            Data::F64(ArrayD::from_shape_vec(IxDyn(&[values.len()]), values).expect("1-d"))
        }
        Op::Head { n } => match inputs[0] {
            Data::Frame(df) => Data::Frame(df.head(Some(*n))),
            other => {
                let a = floats(op, other)?;
                if a.ndim() == 0 {
                    return Err(bad(
                        op,
                        "a 0-d array has no rows",
                        "take head of an array or frame",
                    ));
                }
                let end = (*n).min(a.len_of(Axis(0)));
                Data::F64(a.slice_axis(Axis(0), Slice::from(..end)).to_owned())
            }
        },
        Op::RowCount => Data::F64(scalar(rows_of(inputs[0]) as f64)),
        Op::ToArray => {
            let df = frame(op, inputs[0])?;
            let mut out = ndarray::Array2::<f64>::zeros((df.height(), df.width()));
            for (j, name) in df.get_column_names().iter().enumerate() {
                let values = numeric_column(op, df, name.as_str())?;
                for (i, v) in values.into_iter().enumerate() {
                    out[(i, j)] = v;
                }
            }
            Data::F64(out.into_dyn())
        }
        Op::Filter => {
            let keep = mask(op, inputs[1], rows_of(inputs[0]))?;
            match inputs[0] {
                Data::Frame(df) => {
                    let m = BooleanChunked::from_slice("mask".into(), &keep);
                    Data::Frame(df.filter(&m).map_err(Error::data("filtering rows"))?)
                }
                other => {
                    let a = floats(op, other)?;
                    let rows: Vec<usize> = (0..keep.len()).filter(|i| keep[*i]).collect();
                    Data::F64(a.select(Axis(0), &rows))
                }
            }
        }
        Op::Sort { by, descending } => {
            let df = frame(op, inputs[0])?;
            check_columns(op, df, &[by])?;
            Data::Frame(
                df.sort(
                    [by.as_str()],
                    SortMultipleOptions::default().with_order_descending(*descending),
                )
                .map_err(Error::data("sorting"))?,
            )
        }
        Op::WithColumn { name } => {
            let df = frame(op, inputs[0])?;
            let values = f(1)?;
            if values.ndim() != 1 || values.len() != df.height() {
                return Err(bad(
                    op,
                    format!(
                        "the new column has shape {:?}, and the frame {} rows",
                        values.shape(),
                        df.height()
                    ),
                    "compute the column from the same frame",
                ));
            }
            let column = Column::new(
                name.as_str().into(),
                values.iter().copied().collect::<Vec<f64>>(),
            );
            let mut out = df.clone();
            out.with_column(column)
                .map_err(Error::data("adding a column"))?;
            Data::Frame(out)
        }
        Op::GroupBy { by, aggs } => {
            Data::Frame(analysis::group_by(frame(op, inputs[0])?, by, aggs)?)
        }
        Op::ValueCounts { column } => {
            Data::Frame(analysis::value_counts(frame(op, inputs[0])?, column)?)
        }
        Op::Describe => Data::Frame(analysis::describe(frame(op, inputs[0])?)?),
        Op::Join { on, left } => Data::Frame(analysis::join(
            frame(op, inputs[0])?,
            frame(op, inputs[1])?,
            on,
            *left,
        )?),
        Op::Standardize => Data::F64(analysis::standardize(&*f(0)?)?),
        Op::Split {
            test_fraction,
            seed,
            test,
        } => {
            let rows = analysis::split_rows(rows_of(inputs[0]), *test_fraction, *seed, *test)?;
            take_rows(op, inputs[0], &rows)?
        }
        Op::Sample { n, seed } => {
            let rows = analysis::sample_rows(rows_of(inputs[0]), *n, *seed)?;
            take_rows(op, inputs[0], &rows)?
        }
        Op::LogisticFit {
            iterations,
            learning_rate,
        } => Data::F64(analysis::logistic_fit(
            &*f(0)?,
            &*f(1)?,
            *iterations,
            *learning_rate,
        )?),
        Op::LogisticPredict => Data::F64(analysis::logistic_predict(&*f(0)?, &*f(1)?)?),
        Op::Accuracy => Data::F64(analysis::accuracy(&*f(0)?, &*f(1)?)?),
        Op::ConfusionMatrix => Data::F64(analysis::confusion_matrix(&*f(0)?, &*f(1)?)?),
    })
}

mod fused;
use fused::{Elementwise, sum_of};
pub(crate) use fused::{eval_fused, is_elementwise, is_fusable_reduce};

#[cfg(test)]
mod tests;

#[cfg(test)]
mod analysis_tests;
