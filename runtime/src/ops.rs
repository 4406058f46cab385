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

/// An op that maps each value of its one array input on its own: arithmetic or a comparison with a
/// number, or a unary function. A run of them can be computed in one pass ([`eval_fused`]).
#[derive(Debug, Clone, Copy)]
enum Elementwise {
    Arith { kind: Arith, s: f64, left: bool },
    Compare { kind: Compare, s: f64 },
    Unary(Unary),
}

impl Elementwise {
    fn of(op: &Op) -> Option<Elementwise> {
        Some(match *op {
            Op::Arith {
                kind,
                scalar: Some(s),
                scalar_left,
            } => Elementwise::Arith {
                kind,
                s,
                left: scalar_left,
            },
            Op::Compare {
                kind,
                scalar: Some(s),
            } => Elementwise::Compare { kind, s },
            Op::Unary { kind } => Elementwise::Unary(kind),
            _ => return None,
        })
    }

    /// Over a whole array: into a new one when `a` is borrowed, overwriting it when owned.
    fn array(self, a: Cow<'_, ArrayD<f64>>) -> ArrayD<f64> {
        with_elementwise!(self, |f| match a {
            Cow::Borrowed(a) => a.mapv(f),
            Cow::Owned(mut a) => {
                a.mapv_inplace(f);
                a
            }
        })
    }

    /// Over `src`, appended to `out`.
    fn extend(self, out: &mut Vec<f64>, src: &[f64]) {
        with_elementwise!(self, |f| out.extend(src.iter().map(move |x| f(*x))))
    }

    /// Over a block of values, in place.
    fn block(self, b: &mut [f64]) {
        with_elementwise!(self, |f| for x in b.iter_mut() {
            *x = f(*x);
        })
    }
}

/// Whether `op` maps each value of its one array input on its own, so a run of such steps can be
/// computed in one pass by [`eval_fused`].
pub(crate) fn is_elementwise(op: &Op) -> bool {
    Elementwise::of(op).is_some()
}

/// Whether [`eval_fused`] can end a run with `op`: a sum, mean, min or max of the whole array.
pub(crate) fn is_fusable_reduce(op: &Op) -> bool {
    Fold::of(op).is_some()
}

/// A sum fed in pieces that equals ndarray's `sum()` of all the values at once, bit for bit: eight
/// lanes take the values in order, and the last `n % 8` are added one by one at the end.
#[derive(Debug, Default)]
struct Sum {
    lanes: [f64; 8],
    pending: [f64; 8],
    pending_len: usize,
}

impl Sum {
    fn feed(&mut self, mut xs: &[f64]) {
        if self.pending_len > 0 {
            let take = (8 - self.pending_len).min(xs.len());
            self.pending[self.pending_len..self.pending_len + take].copy_from_slice(&xs[..take]);
            self.pending_len += take;
            xs = &xs[take..];
            if self.pending_len < 8 {
                return;
            }
            for (lane, x) in self.lanes.iter_mut().zip(self.pending) {
                *lane += x;
            }
            self.pending_len = 0;
        }
        let mut groups = xs.chunks_exact(8);
        // In a local, so the lanes stay in registers across the loop.
        let mut lanes = self.lanes;
        for group in &mut groups {
            for (lane, x) in lanes.iter_mut().zip(group) {
                *lane += x;
            }
        }
        self.lanes = lanes;
        let rest = groups.remainder();
        self.pending[..rest.len()].copy_from_slice(rest);
        self.pending_len = rest.len();
    }

    fn total(&self) -> f64 {
        let p = &self.lanes;
        let mut acc = 0.0;
        for (a, b) in [(p[0], p[4]), (p[1], p[5]), (p[2], p[6]), (p[3], p[7])] {
            acc += a + b;
        }
        for x in &self.pending[..self.pending_len] {
            acc += x;
        }
        acc
    }
}

/// The sum of every value: the same as [`Sum`] fed them all, in memory order like ndarray.
fn sum_of(a: &ArrayD<f64>) -> f64 {
    match a.as_slice_memory_order() {
        Some(values) => {
            let mut sum = Sum::default();
            sum.feed(values);
            sum.total()
        }
        None => a.sum(),
    }
}

/// A whole-array reduction fed block by block ([`is_fusable_reduce`]).
enum Fold {
    Sum(Sum),
    Mean(Sum),
    Min(f64),
    Max(f64),
}

impl Fold {
    fn of(op: &Op) -> Option<Fold> {
        Some(match op {
            Op::Reduce { kind, axis: None } => match kind {
                Reduce::Sum => Fold::Sum(Sum::default()),
                Reduce::Mean => Fold::Mean(Sum::default()),
                Reduce::Min => Fold::Min(f64::INFINITY),
                Reduce::Max => Fold::Max(f64::NEG_INFINITY),
                _ => return None,
            },
            _ => return None,
        })
    }

    fn feed(&mut self, values: &[f64]) {
        match self {
            Fold::Sum(sum) | Fold::Mean(sum) => sum.feed(values),
            Fold::Min(m) => *m = values.iter().copied().fold(*m, f64::min),
            Fold::Max(m) => *m = values.iter().copied().fold(*m, f64::max),
        }
    }

    /// The result over all `n` values fed.
    fn finish(self, n: usize) -> f64 {
        match self {
            Fold::Sum(sum) => sum.total(),
            Fold::Mean(sum) => sum.total() / n as f64,
            Fold::Min(v) | Fold::Max(v) => v,
        }
    }
}

/// Values go through fused steps in blocks this long: small enough to stay in the L1 cache.
const BLOCK: usize = 2048;

/// A run of element-wise `steps` ([`is_elementwise`]) on `input`, or on the column `column` of the
/// frame `input`, then `reduce` if given ([`is_fusable_reduce`]), computed in one pass: the values go
/// through every step block by block while in the cache, instead of making an array per step, and a
/// reduction never makes one at all. The result, and any error, is the same as evaluating the steps
/// one by one.
pub(crate) fn eval_fused(
    column: Option<&str>,
    input: &Data,
    steps: &[&Op],
    reduce: Option<&Op>,
) -> Result<Data> {
    let fused: Option<Vec<Elementwise>> = steps.iter().map(|op| Elementwise::of(op)).collect();
    // `Some(None)`: no reduction; `None`: one this pass cannot fold.
    let fold = reduce.map_or(Some(None), |op| Fold::of(op).map(Some));
    let source = match (column, input) {
        (Some(name), Data::Frame(df)) => df
            .column(name)
            .ok()
            .and_then(|c| c.f64().ok())
            .filter(|ca| ca.null_count() == 0)
            .map(|ca| {
                let slices: Vec<&[f64]> =
                    ca.downcast_iter().map(|a| a.values().as_slice()).collect();
                (slices, vec![ca.len()])
            }),
        (None, Data::F64(a)) => a.as_slice().map(|v| (vec![v], a.shape().to_vec())),
        _ => None,
    };
    let (Some(fused), Some(fold), Some((slices, shape))) = (fused, fold, source) else {
        return eval_one_by_one(column, input, steps, reduce);
    };
    let n: usize = shape.iter().product();
    if n == 0 {
        return eval_one_by_one(column, input, steps, reduce);
    }
    let blocks = slices.iter().flat_map(|s| s.chunks(BLOCK));
    let run = |out: &mut Vec<f64>, block: &[f64]| {
        if let Some((first, rest)) = fused.split_first() {
            let start = out.len();
            first.extend(out, block);
            for e in rest {
                e.block(&mut out[start..]);
            }
        } else {
            out.extend_from_slice(block);
        }
    };
    let Some(mut fold) = fold else {
        let mut out: Vec<f64> = Vec::with_capacity(n);
        for block in blocks {
            run(&mut out, block);
        }
        return Ok(Data::F64(
            ArrayD::from_shape_vec(IxDyn(&shape), out).expect("as many values as the input"),
        ));
    };
    let mut buf: Vec<f64> = Vec::with_capacity(BLOCK);
    for block in blocks {
        if fused.is_empty() {
            fold.feed(block);
        } else {
            buf.clear();
            run(&mut buf, block);
            fold.feed(&buf);
        }
    }
    Ok(Data::F64(scalar(fold.finish(n))))
}

/// [`eval_fused`]'s steps evaluated one after another: for inputs it cannot stream.
fn eval_one_by_one(
    column: Option<&str>,
    input: &Data,
    steps: &[&Op],
    reduce: Option<&Op>,
) -> Result<Data> {
    let mut value = column
        .map(|name| {
            eval(
                &Op::Column {
                    name: name.to_string(),
                },
                &[input],
            )
        })
        .transpose()?;
    for op in steps.iter().copied().chain(reduce) {
        value = Some(match (Elementwise::of(op), value.take()) {
            (Some(e), Some(Data::F64(a))) => Data::F64(e.array(Cow::Owned(a))),
            (_, Some(owned)) => eval(op, &[&owned])?,
            (_, None) => eval(op, &[input])?,
        });
    }
    Ok(value.unwrap_or_else(|| input.clone()))
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
                    format!("{} values do not fill shape {shape:?}", values.len()),
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
        Op::Dot => Data::F64(dot(op, &*f(0)?, &*f(1)?)?),
        Op::Transpose => Data::F64(f(0)?.into_owned().reversed_axes()),
        Op::Reshape { shape } => {
            let a = f(0)?;
            let n: usize = shape.iter().product();
            if n != a.len() {
                return Err(bad(
                    op,
                    format!("{} values do not fit shape {shape:?}", a.len()),
                    "keep the number of values (the product of the shape) the same",
                ));
            }
            let values: Vec<f64> = a.iter().copied().collect();
            Data::F64(ArrayD::from_shape_vec(IxDyn(shape), values).expect("checked size"))
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

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array1, array};

    fn arr(values: &[f64], shape: &[usize]) -> Data {
        Data::F64(ArrayD::from_shape_vec(IxDyn(shape), values.to_vec()).unwrap())
    }

    fn f(d: &Data) -> ArrayD<f64> {
        d.as_f64().unwrap().clone()
    }

    #[test]
    fn ops_round_trip_through_json_with_their_tag() {
        let op = Op::Reduce {
            kind: Reduce::Sum,
            axis: Some(0),
        };
        let json = serde_json::to_string(&op).unwrap();
        assert_eq!(json, r#"{"op":"reduce","kind":"sum","axis":0}"#);
        assert_eq!(serde_json::from_str::<Op>(&json).unwrap(), op);
        assert!(serde_json::from_str::<Op>(r#"{"op":"launch_missiles"}"#).is_err());
    }

    /// Every element-wise op kind, with the scalar on either side.
    fn elementwise_steps() -> Vec<Op> {
        let mut steps = Vec::new();
        for kind in [
            Arith::Add,
            Arith::Sub,
            Arith::Mul,
            Arith::Div,
            Arith::Rem,
            Arith::Pow,
        ] {
            for scalar_left in [false, true] {
                steps.push(Op::Arith {
                    kind,
                    scalar: Some(1.5),
                    scalar_left,
                });
            }
        }
        for kind in [Unary::Neg, Unary::Abs, Unary::Sqrt, Unary::Exp, Unary::Log] {
            steps.push(Op::Unary { kind });
        }
        for kind in [
            Compare::Lt,
            Compare::Le,
            Compare::Gt,
            Compare::Ge,
            Compare::Eq,
            Compare::Ne,
        ] {
            steps.push(Op::Compare {
                kind,
                scalar: Some(0.5),
            });
        }
        steps
    }

    fn one_by_one(
        column: Option<&str>,
        input: &Data,
        steps: &[&Op],
        reduce: Option<&Op>,
    ) -> Result<Data> {
        let mut value = match column {
            Some(name) => eval(&Op::Column { name: name.into() }, &[input])?,
            None => input.clone(),
        };
        for op in steps.iter().copied().chain(reduce) {
            value = eval(op, &[&value])?;
        }
        Ok(value)
    }

    /// Equal, NaN included (0.0 ^ negative powers, logs of negatives).
    fn same_values(a: &Data, b: &Data) -> bool {
        let (a, b) = (f(a), f(b));
        a.shape() == b.shape()
            && a.iter()
                .zip(b.iter())
                .all(|(x, y)| x.to_bits() == y.to_bits())
    }

    #[test]
    fn fused_steps_equal_the_steps_one_by_one() {
        // More values than a block, over two chunks, with negatives, zero and fractions.
        let values: Vec<f64> = (0..5000).map(|i| (i as f64 - 2500.0) / 7.0).collect();
        let mut chunked = Column::new("x".into(), &values[..3000]);
        chunked
            .append(&Column::new("x".into(), &values[3000..]))
            .unwrap();
        let frame = Data::Frame(
            DataFrame::new_infer_height(vec![
                chunked,
                Column::new("n".into(), (0..5000_i64).collect::<Vec<_>>()),
                Column::new(
                    "gaps".into(),
                    (0..5000)
                        .map(|i| (i % 3 > 0).then_some(i as f64))
                        .collect::<Vec<_>>(),
                ),
                Column::new("label".into(), vec!["M"; 5000]),
            ])
            .unwrap(),
        );
        let array = arr(&values, &[50, 100]);
        let strided = Data::F64(f(&array).reversed_axes());
        let steps = elementwise_steps();
        let mut reductions = vec![None];
        for kind in [
            Reduce::Sum,
            Reduce::Mean,
            Reduce::Min,
            Reduce::Max,
            Reduce::Var,
        ] {
            reductions.push(Some(Op::Reduce { kind, axis: None }));
        }
        for (i, op) in steps.iter().enumerate() {
            let next = &steps[(i + 7) % steps.len()];
            let run: Vec<&Op> = vec![op, next, &steps[0]];
            for (column, input) in [
                (Some("x"), &frame),
                (Some("n"), &frame),
                (Some("gaps"), &frame),
                (None, &array),
                (None, &strided),
            ] {
                for reduce in &reductions {
                    let fused = eval_fused(column, input, &run, reduce.as_ref()).unwrap();
                    let expect = one_by_one(column, input, &run, reduce.as_ref()).unwrap();
                    assert!(
                        same_values(&fused, &expect),
                        "{run:?} then {reduce:?} on {column:?} differ"
                    );
                }
            }
        }
        // The errors are the step-by-step ones.
        let run = [&steps[0]];
        for (column, input) in [
            (Some("missing"), &frame),
            (Some("label"), &frame),
            (Some("x"), &array),
            (None, &frame),
        ] {
            assert_eq!(
                eval_fused(column, input, &run, None)
                    .unwrap_err()
                    .to_string(),
                one_by_one(column, input, &run, None)
                    .unwrap_err()
                    .to_string()
            );
        }
        // A column reduced with no steps between, and an empty array (whose min is an error).
        let sum = Op::Reduce {
            kind: Reduce::Sum,
            axis: None,
        };
        assert!(same_values(
            &eval_fused(Some("x"), &frame, &[], Some(&sum)).unwrap(),
            &one_by_one(Some("x"), &frame, &[], Some(&sum)).unwrap()
        ));
        let min = Op::Reduce {
            kind: Reduce::Min,
            axis: None,
        };
        let empty = arr(&[], &[0]);
        assert_eq!(
            eval_fused(None, &empty, &[&steps[0]], Some(&min))
                .unwrap_err()
                .to_string(),
            one_by_one(None, &empty, &[&steps[0]], Some(&min))
                .unwrap_err()
                .to_string()
        );
    }

    #[test]
    fn sums_fed_in_pieces_equal_ndarrays_sum_bit_for_bit() {
        let values: Vec<f64> = (0..1037)
            .map(|i| ((i * 7919) % 1000) as f64 / 3.7 - 100.0)
            .collect();
        for n in [0, 1, 7, 8, 9, 15, 16, 17, 1037] {
            let a = ArrayD::from_shape_vec(IxDyn(&[n]), values[..n].to_vec()).unwrap();
            for piece in [1, 3, 8, 13, 2048] {
                let mut sum = Sum::default();
                for chunk in values[..n].chunks(piece) {
                    sum.feed(chunk);
                }
                assert_eq!(
                    sum.total().to_bits(),
                    a.sum().to_bits(),
                    "{n} values in pieces of {piece}"
                );
            }
            assert_eq!(sum_of(&a).to_bits(), a.sum().to_bits());
        }
    }

    #[test]
    fn arithmetic_broadcasts_like_numpy() {
        let a = arr(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
        let b = arr(&[10.0, 20.0, 30.0], &[3]);
        let add = Op::Arith {
            kind: Arith::Add,
            scalar: None,
            scalar_left: false,
        };
        let expect = f(&a) + &f(&b);
        assert_eq!(f(&eval(&add, &[&a, &b]).unwrap()), expect);
        let bad_shape = arr(&[1.0, 2.0], &[2]);
        let err = eval(&add, &[&a, &bad_shape]).unwrap_err();
        assert!(err.to_string().contains("do not broadcast"), "{err}");
        let minus = Op::Arith {
            kind: Arith::Sub,
            scalar: Some(1.0),
            scalar_left: true,
        };
        assert_eq!(f(&eval(&minus, &[&b]).unwrap()), f(&b).mapv(|x| 1.0 - x));
    }

    #[test]
    fn every_scalar_and_unary_op_matches_ndarray() {
        let a = arr(&[1.0, 4.0, 9.0, 16.0], &[4]);
        let x = f(&a);
        for (kind, expect) in [
            (Arith::Add, x.mapv(|v| v + 2.0)),
            (Arith::Sub, x.mapv(|v| v - 2.0)),
            (Arith::Mul, x.mapv(|v| v * 2.0)),
            (Arith::Div, x.mapv(|v| v / 2.0)),
            (Arith::Rem, x.mapv(|v| v % 2.0)),
            (Arith::Pow, x.mapv(|v| v.powf(2.0))),
        ] {
            let op = Op::Arith {
                kind,
                scalar: Some(2.0),
                scalar_left: false,
            };
            assert_eq!(f(&eval(&op, &[&a]).unwrap()), expect, "{kind:?}");
        }
        for (kind, expect) in [
            (Unary::Neg, x.mapv(|v| -v)),
            (Unary::Abs, x.mapv(f64::abs)),
            (Unary::Sqrt, x.mapv(f64::sqrt)),
            (Unary::Exp, x.mapv(f64::exp)),
            (Unary::Log, x.mapv(f64::ln)),
        ] {
            assert_eq!(
                f(&eval(&Op::Unary { kind }, &[&a]).unwrap()),
                expect,
                "{kind:?}"
            );
        }
        for (kind, expect) in [
            (Compare::Lt, [1.0, 0.0, 0.0, 0.0]),
            (Compare::Le, [1.0, 1.0, 0.0, 0.0]),
            (Compare::Gt, [0.0, 0.0, 1.0, 1.0]),
            (Compare::Ge, [0.0, 1.0, 1.0, 1.0]),
            (Compare::Eq, [0.0, 1.0, 0.0, 0.0]),
            (Compare::Ne, [1.0, 0.0, 1.0, 1.0]),
        ] {
            let op = Op::Compare {
                kind,
                scalar: Some(4.0),
            };
            assert_eq!(
                f(&eval(&op, &[&a]).unwrap()),
                Array1::from(expect.to_vec()).into_dyn(),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn reductions_whole_and_per_axis_match_ndarray() {
        let a = arr(&[1.0, 5.0, 3.0, 4.0, 2.0, 6.0], &[2, 3]);
        let x = f(&a);
        let whole = |kind| {
            f(&eval(&Op::Reduce { kind, axis: None }, &[&a]).unwrap())
                .into_iter()
                .next()
                .unwrap()
        };
        assert_eq!(whole(Reduce::Sum), x.sum());
        assert_eq!(whole(Reduce::Mean), x.mean().unwrap());
        assert_eq!(whole(Reduce::Min), 1.0);
        assert_eq!(whole(Reduce::Max), 6.0);
        assert_eq!(whole(Reduce::Var), x.var(0.0));
        assert_eq!(whole(Reduce::Std), x.std(0.0));
        assert_eq!(whole(Reduce::Argmax), 5.0);
        let axis = |kind, a_: usize| {
            f(&eval(
                &Op::Reduce {
                    kind,
                    axis: Some(a_),
                },
                &[&a],
            )
            .unwrap())
        };
        assert_eq!(axis(Reduce::Sum, 0), x.sum_axis(Axis(0)));
        assert_eq!(axis(Reduce::Mean, 1), x.mean_axis(Axis(1)).unwrap());
        assert_eq!(axis(Reduce::Min, 0), array![1.0, 2.0, 3.0].into_dyn());
        assert_eq!(axis(Reduce::Max, 1), array![5.0, 6.0].into_dyn());
        assert_eq!(axis(Reduce::Std, 0), x.std_axis(Axis(0), 0.0));
        assert_eq!(axis(Reduce::Var, 1), x.var_axis(Axis(1), 0.0));
        assert_eq!(axis(Reduce::Argmax, 1), array![1.0, 2.0].into_dyn());
        let err = eval(
            &Op::Reduce {
                kind: Reduce::Sum,
                axis: Some(2),
            },
            &[&a],
        )
        .unwrap_err();
        assert!(err.to_string().contains("axis 2 is out of range"), "{err}");
        let empty = arr(&[], &[0]);
        assert!(
            eval(
                &Op::Reduce {
                    kind: Reduce::Mean,
                    axis: None
                },
                &[&empty]
            )
            .is_err()
        );
    }

    #[test]
    fn linear_algebra_and_shapes() {
        let m = arr(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
        let v = arr(&[1.0, 0.0, -1.0], &[3]);
        let mv = eval(&Op::Dot, &[&m, &v]).unwrap();
        assert_eq!(f(&mv), array![-2.0, -2.0].into_dyn());
        let t = eval(&Op::Transpose, &[&m]).unwrap();
        assert_eq!(f(&t), f(&m).reversed_axes());
        let mm = eval(&Op::Dot, &[&m, &t]).unwrap();
        let m2 = f(&m).into_dimensionality::<ndarray::Ix2>().unwrap();
        assert_eq!(f(&mm), m2.dot(&m2.t()).into_dyn());
        assert_eq!(f(&eval(&Op::Dot, &[&v, &v]).unwrap()), scalar(2.0));
        assert!(
            eval(&Op::Dot, &[&m, &m])
                .unwrap_err()
                .to_string()
                .contains("do not multiply")
        );
        let r = eval(&Op::Reshape { shape: vec![3, 2] }, &[&m]).unwrap();
        assert_eq!(r.shape(), [3, 2]);
        assert!(eval(&Op::Reshape { shape: vec![4] }, &[&m]).is_err());
        let s = eval(
            &Op::Slice {
                ranges: vec![(1, 2), (0, 2)],
            },
            &[&m],
        )
        .unwrap();
        assert_eq!(f(&s), array![[4.0, 5.0]].into_dyn());
        assert!(
            eval(
                &Op::Slice {
                    ranges: vec![(0, 3)]
                },
                &[&m]
            )
            .is_err()
        );
        let h = eval(&Op::Head { n: 1 }, &[&m]).unwrap();
        assert_eq!(f(&h), array![[1.0, 2.0, 3.0]].into_dyn());
        assert_eq!(f(&eval(&Op::RowCount, &[&m]).unwrap()), scalar(2.0));
    }

    pub(super) fn df() -> Data {
        Data::Frame(
            DataFrame::new_infer_height(vec![
                Column::new("x".into(), [3.0, 1.0, 2.0]),
                Column::new("n".into(), [30_i64, 10, 20]),
                Column::new("label".into(), ["M", "B", "M"]),
            ])
            .unwrap(),
        )
    }

    #[test]
    fn frame_ops_match_polars() {
        let d = df();
        let real = d.as_frame().unwrap();
        let sel = eval(
            &Op::Select {
                columns: vec!["n".into(), "x".into()],
            },
            &[&d],
        )
        .unwrap();
        assert_eq!(sel.as_frame().unwrap(), &real.select(["n", "x"]).unwrap());
        let absent = eval(
            &Op::Select {
                columns: vec!["radius".into()],
            },
            &[&d],
        )
        .unwrap_err();
        assert!(absent.to_string().contains("x, n, label"), "{absent}");
        let col = eval(&Op::Column { name: "n".into() }, &[&d]).unwrap();
        assert_eq!(f(&col), array![30.0, 10.0, 20.0].into_dyn());
        let text = eval(
            &Op::Column {
                name: "label".into(),
            },
            &[&d],
        )
        .unwrap_err();
        assert!(text.to_string().contains("text_equals"), "{text}");
        let m = eval(
            &Op::TextEquals {
                column: "label".into(),
                value: "M".into(),
            },
            &[&d],
        )
        .unwrap();
        assert_eq!(f(&m), array![1.0, 0.0, 1.0].into_dyn());
        let filtered = eval(&Op::Filter, &[&d, &m]).unwrap();
        let expect = real
            .filter(&BooleanChunked::from_slice(
                "m".into(),
                &[true, false, true],
            ))
            .unwrap();
        assert_eq!(filtered.as_frame().unwrap(), &expect);
        let sorted = eval(
            &Op::Sort {
                by: "x".into(),
                descending: true,
            },
            &[&d],
        )
        .unwrap();
        assert_eq!(
            sorted.as_frame().unwrap(),
            &real
                .sort(
                    ["x"],
                    SortMultipleOptions::default().with_order_descending(true)
                )
                .unwrap()
        );
        let arr2 = eval(&Op::ToArray, &[&sel]).unwrap();
        assert_eq!(
            f(&arr2),
            array![[30.0, 3.0], [10.0, 1.0], [20.0, 2.0]].into_dyn()
        );
        assert!(eval(&Op::ToArray, &[&d]).is_err(), "text columns refuse");
        let doubled = eval(
            &Op::Arith {
                kind: Arith::Mul,
                scalar: Some(2.0),
                scalar_left: false,
            },
            &[&col],
        )
        .unwrap();
        let with = eval(&Op::WithColumn { name: "n2".into() }, &[&d, &doubled]).unwrap();
        assert_eq!(
            f(&eval(&Op::Column { name: "n2".into() }, &[&with]).unwrap()),
            array![60.0, 20.0, 40.0].into_dyn()
        );
        assert_eq!(f(&eval(&Op::RowCount, &[&d]).unwrap()), scalar(3.0));
        let head = eval(&Op::Head { n: 2 }, &[&d]).unwrap();
        assert_eq!(head.as_frame().unwrap(), &real.head(Some(2)));
        let not_frame = eval(&Op::Select { columns: vec![] }, &[&col]).unwrap_err();
        assert!(
            not_frame.to_string().contains("works on frames"),
            "{not_frame}"
        );
        let short_mask = arr(&[1.0], &[1]);
        assert!(eval(&Op::Filter, &[&d, &short_mask]).is_err());
    }

    #[test]
    fn literals_and_arity_are_checked() {
        let lit = Op::Literal {
            values: vec![4.0, 5.0, 6.0],
            shape: vec![3],
        };
        assert_eq!(
            f(&eval(&lit, &[]).unwrap()),
            array![4.0, 5.0, 6.0].into_dyn()
        );
        let bad = Op::Literal {
            values: vec![1.0],
            shape: vec![2],
        };
        assert!(eval(&bad, &[]).is_err());
        assert!(
            eval(&Op::Dot, &[&arr(&[1.0], &[1])])
                .unwrap_err()
                .to_string()
                .contains("inputs")
        );
        assert_eq!(
            describe(
                &Op::Arith {
                    kind: Arith::Add,
                    scalar: Some(1.0),
                    scalar_left: false
                },
                &["jane's asset".into()]
            ),
            "jane's asset + 1"
        );
    }
}

#[cfg(test)]
mod analysis_tests {
    use super::*;
    use ndarray::array;
    use polars::prelude::DataType;

    use super::tests::df;

    fn col_f64(d: &Data, name: &str) -> Vec<f64> {
        let df = d.as_frame().unwrap();
        let c = df.column(name).unwrap().cast(&DataType::Float64).unwrap();
        c.f64()
            .unwrap()
            .iter()
            .map(|v| v.unwrap_or(f64::NAN))
            .collect()
    }

    fn col_str(d: &Data, name: &str) -> Vec<String> {
        let df = d.as_frame().unwrap();
        let c = df.column(name).unwrap().cast(&DataType::String).unwrap();
        c.str()
            .unwrap()
            .iter()
            .map(|v| v.unwrap_or("null").to_string())
            .collect()
    }

    #[test]
    fn group_by_value_counts_and_describe() {
        let d = df();
        let g = eval(
            &Op::GroupBy {
                by: "label".into(),
                aggs: vec![
                    ("x".into(), Agg::Mean),
                    ("n".into(), Agg::Sum),
                    ("x".into(), Agg::Count),
                    ("x".into(), Agg::Max),
                    ("n".into(), Agg::Min),
                    ("x".into(), Agg::Std),
                ],
            },
            &[&d],
        )
        .unwrap();
        assert_eq!(col_str(&g, "label"), ["B", "M"]);
        assert_eq!(col_f64(&g, "x_mean"), [1.0, 2.5]);
        assert_eq!(col_f64(&g, "n_sum"), [10.0, 50.0]);
        assert_eq!(col_f64(&g, "count"), [1.0, 2.0]);
        assert_eq!(col_f64(&g, "x_max"), [1.0, 3.0]);
        assert_eq!(col_f64(&g, "n_min"), [10.0, 20.0]);
        assert_eq!(col_f64(&g, "x_std"), [0.0, 0.5]);
        let text = eval(
            &Op::GroupBy {
                by: "x".into(),
                aggs: vec![("label".into(), Agg::Sum)],
            },
            &[&d],
        )
        .unwrap_err();
        assert!(text.to_string().contains("not numbers"), "{text}");

        let vc = eval(
            &Op::ValueCounts {
                column: "label".into(),
            },
            &[&d],
        )
        .unwrap();
        assert_eq!(col_str(&vc, "label"), ["M", "B"]);
        assert_eq!(col_f64(&vc, "count"), [2.0, 1.0]);

        let desc = eval(&Op::Describe, &[&d]).unwrap();
        assert_eq!(
            col_str(&desc, "statistic"),
            ["count", "mean", "std", "min", "max"]
        );
        let x = array![3.0, 1.0, 2.0];
        assert_eq!(col_f64(&desc, "x"), [3.0, 2.0, x.std(0.0), 1.0, 3.0]);
        assert!(desc.as_frame().unwrap().column("label").is_err());
    }

    #[test]
    fn joins_inner_and_left() {
        let d = df();
        let weights = Data::Frame(
            DataFrame::new_infer_height(vec![
                Column::new("label".into(), ["M", "Q"]),
                Column::new("x".into(), [0.5, 9.0]),
            ])
            .unwrap(),
        );
        let inner = eval(
            &Op::Join {
                on: "label".into(),
                left: false,
            },
            &[&d, &weights],
        )
        .unwrap();
        assert_eq!(col_f64(&inner, "x"), [3.0, 2.0]);
        assert_eq!(col_f64(&inner, "x_right"), [0.5, 0.5]);
        let left = eval(
            &Op::Join {
                on: "label".into(),
                left: true,
            },
            &[&d, &weights],
        )
        .unwrap();
        assert_eq!(left.as_frame().unwrap().height(), 3);
        let right = col_f64(&left, "x_right");
        assert!(right[1].is_nan(), "B has no match: {right:?}");
        let missing = eval(
            &Op::Join {
                on: "nope".into(),
                left: false,
            },
            &[&d, &weights],
        );
        assert!(missing.is_err());
    }

    #[test]
    fn machine_learning_steps() {
        let x = Data::F64(array![[1.0, 10.0], [2.0, 10.0], [3.0, 10.0], [4.0, 10.0]].into_dyn());
        let z = eval(&Op::Standardize, &[&x]).unwrap();
        let z2 = z.as_f64().unwrap();
        let col0: Vec<f64> = z2.index_axis(Axis(1), 0).iter().copied().collect();
        assert!((col0.iter().sum::<f64>()).abs() < 1e-12);
        assert!((array![1.0_f64, 2.0, 3.0, 4.0].std(0.0) * col0[3] - 1.5).abs() < 1e-12);
        assert!(
            z2.index_axis(Axis(1), 1).iter().all(|v| *v == 0.0),
            "constant column centred"
        );

        let split = |test| Op::Split {
            test_fraction: 0.25,
            seed: 7,
            test,
        };
        let train = eval(&split(false), &[&x]).unwrap();
        let test = eval(&split(true), &[&x]).unwrap();
        assert_eq!((train.shape(), test.shape()), (vec![3, 2], vec![1, 2]));
        let mut all: Vec<f64> = train
            .as_f64()
            .unwrap()
            .index_axis(Axis(1), 0)
            .iter()
            .copied()
            .collect();
        all.extend(test.as_f64().unwrap().index_axis(Axis(1), 0).iter());
        all.sort_by(f64::total_cmp);
        assert_eq!(all, [1.0, 2.0, 3.0, 4.0], "a split partitions the rows");
        let y = Data::F64(array![0.0, 0.0, 1.0, 1.0].into_dyn());
        let y_test = eval(&split(true), &[&y]).unwrap();
        assert_eq!(
            y_test.as_f64().unwrap()[[0]] == 1.0,
            test.as_f64().unwrap()[[0, 0]] > 2.5,
            "features and targets split alike"
        );
        assert!(
            eval(
                &Op::Split {
                    test_fraction: 1.5,
                    seed: 1,
                    test: true
                },
                &[&x]
            )
            .is_err()
        );

        let fit = Op::LogisticFit {
            iterations: 500,
            learning_rate: 0.5,
        };
        let w = eval(&fit, &[&z, &y]).unwrap();
        assert_eq!(w.shape(), [3]);
        assert!(
            w.as_f64().unwrap()[[1]] > 0.0,
            "radius-like feature pushes towards 1"
        );
        let pred = eval(&Op::LogisticPredict, &[&w, &z]).unwrap();
        assert_eq!(
            pred.as_f64().unwrap().to_owned(),
            array![0.0, 0.0, 1.0, 1.0].into_dyn()
        );
        let acc = eval(&Op::Accuracy, &[&pred, &y]).unwrap();
        assert_eq!(acc.as_f64().unwrap().sum(), 1.0);
        let wrong = Data::F64(array![1.0, 0.0, 1.0, 1.0].into_dyn());
        let cm = eval(&Op::ConfusionMatrix, &[&wrong, &y]).unwrap();
        assert_eq!(
            cm.as_f64().unwrap().to_owned(),
            array![[1.0, 1.0], [0.0, 2.0]].into_dyn()
        );
        assert_eq!(
            eval(&Op::Accuracy, &[&wrong, &y])
                .unwrap()
                .as_f64()
                .unwrap()
                .sum(),
            0.75
        );
        let bad_targets = Data::F64(array![0.0, 2.0, 1.0, 1.0].into_dyn());
        assert!(
            eval(&fit, &[&z, &bad_targets])
                .unwrap_err()
                .to_string()
                .contains("0 or 1")
        );
        let short = Data::F64(array![0.0, 1.0].into_dyn());
        assert!(eval(&fit, &[&z, &short]).is_err());
        assert!(
            eval(&Op::LogisticPredict, &[&short, &z])
                .unwrap_err()
                .to_string()
                .contains("weights")
        );
    }
}
