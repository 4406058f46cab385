//! Which real rows stand behind each value of a result: one pass over a pointer's recorded steps,
//! given each step's real value, that follows rows through every op of the vocabulary.
//!
//! The disclosure checks count people from it, not values: a value's people are the real rows
//! (of any asset) it was computed from, whatever the ops between. Element-wise ops keep each
//! value's rows; reductions, on either axis, join the rows of what they reduce; row selections
//! (filter, head, sample, split, sort, slice, join) carry each row's values with it, found by
//! running the op itself on row numbers; an extreme (min, max, argmax, a quantile near 0 or 1) is
//! the value of the rows that hold it, not of every row it was chosen from. When two values meet
//! (`a + b`, a prediction from weights and a row), the result is as individual as its most
//! individual side: a patient's value plus an aggregate is still the patient's. The pass knows no
//! caller and reads no records: the datasite hands it the steps and their real values.
//!
//! Cost: one [`Cell`] per value of every step, shared where unchanged; fine for assets replayed in
//! memory (issue 29's plan path counts rows from the plan instead).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use ndarray::{ArrayD, Axis, IxDyn};
use polars::prelude::{Column, DataFrame, DataType};
use veil_api::ops::{Agg, Arith, Op, Reduce};

use crate::data::Data;

/// A real row: an asset's stable number (high 32 bits) and the row's index in it.
pub(crate) type Row = u64;

/// The row key of `row` of the asset numbered `asset`.
pub(crate) fn row_key(asset: u32, row: usize) -> Row {
    (u64::from(asset) << 32) | row as u64
}

/// What stands behind one value.
#[derive(Clone, Debug, Default)]
pub(crate) struct Cell {
    /// The real rows behind it, sorted and distinct; `None` for a value made from literals alone.
    pub rows: Option<Arc<[Row]>>,
    /// For a statistic (a sum, a mean, a spread), each row's contribution (signed), aligned with
    /// `rows`: what dominance and p-percent read.
    pub weights: Option<Arc<[f64]>>,
    /// Whether the value counts rows (what rounding of released counts applies to).
    pub count: bool,
}

impl Cell {
    /// The number of people behind the value (`None`: no real row at all).
    pub fn people(&self) -> Option<usize> {
        self.rows.as_ref().map(|r| r.len())
    }

    fn rows(rows: Vec<Row>) -> Cell {
        Cell {
            rows: Some(rows.into()),
            weights: None,
            count: false,
        }
    }

    fn len(&self) -> usize {
        self.people().unwrap_or(0)
    }
}

/// A step's values with what stands behind each.
#[derive(Clone, Debug)]
pub(crate) enum Traced {
    /// An array: its shape and its cells in row-major order.
    Array { shape: Vec<usize>, cells: Vec<Cell> },
    /// A frame: its columns' names and cells; `labels` names its rows where they are groups or
    /// statistics (`Diagnosis = M`, `mean`).
    Frame {
        names: Vec<String>,
        columns: Vec<Vec<Cell>>,
        labels: Option<Vec<String>>,
    },
}

impl Traced {
    /// Every cell, with a label saying which value it is (`what` names a 0-d array's value).
    pub fn labelled(&self, what: &str) -> Vec<(String, &Cell)> {
        match self {
            Traced::Array { shape, cells } if shape.is_empty() => {
                cells.iter().map(|c| (what.to_string(), c)).collect()
            }
            Traced::Array { shape, cells } => cells
                .iter()
                .enumerate()
                .map(|(i, c)| (format!("{what} {}", index_of(shape, i)), c))
                .collect(),
            Traced::Frame {
                names,
                columns,
                labels,
            } => {
                let mut out = Vec::new();
                for (j, (name, column)) in names.iter().zip(columns).enumerate() {
                    for (r, c) in column.iter().enumerate() {
                        let label = match labels {
                            Some(l) if j == 0 => l[r].clone(),
                            Some(l) => format!("{} ({name})", l[r]),
                            None => format!("`{name}` row {r}"),
                        };
                        out.push((label, c));
                    }
                }
                out
            }
        }
    }

    /// Every cell.
    pub fn cells(&self) -> Vec<&Cell> {
        match self {
            Traced::Array { cells, .. } => cells.iter().collect(),
            Traced::Frame { columns, .. } => columns.iter().flatten().collect(),
        }
    }
}

/// `[i, j]` of flat index `i` in `shape`.
fn index_of(shape: &[usize], mut i: usize) -> String {
    let mut at = vec![0; shape.len()];
    for (k, d) in shape.iter().enumerate().rev() {
        if *d > 0 {
            at[k] = i % d;
            i /= d;
        }
    }
    format!("{at:?}")
}

/// What the pass noticed on the way, beside the cells.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Finding {
    /// A row selection keeping or removing fewer people than the minimum count (DataSHIELD's
    /// subset rule: the rows removed are a release of their own, by difference).
    Subset {
        step: String,
        kept: usize,
        removed: usize,
    },
    /// Two aggregates combined whose rows differ by a few people: their difference is those
    /// people's values.
    Differencing {
        step: String,
        left: usize,
        right: usize,
        differ: usize,
    },
    /// A model fitted on `rows` people with `parameters` parameters.
    Model { rows: usize, parameters: usize },
    /// Values of the scientist's own that differ from person to person, combined with each
    /// person's values: per-person weights.
    Weighted { step: String },
}

/// One recorded step: its op, its inputs (earlier steps, by position), its real value, and for
/// an asset's root the asset's stable number.
pub(crate) struct Step<'a> {
    pub op: &'a Op,
    pub inputs: Vec<usize>,
    pub value: &'a Data,
    pub asset: Option<u32>,
}

/// Most values of one step the pass follows (each carries its rows): past it the checks fail
/// closed rather than hold the owner's review on a huge intermediate.
pub(crate) const MAX_TRACED_VALUES: usize = 4_000_000;

/// Why the rows behind a result cannot be established: the checks then fail closed.
pub(crate) type Unknown = String;

/// The cells of the last of `steps` (in dependency order) and what the pass found, with
/// `min_count` the least number of people an aggregate needs.
pub(crate) fn trace(
    steps: &[Step<'_>],
    min_count: usize,
) -> Result<(Traced, Vec<Finding>), Unknown> {
    let mut pass = Pass {
        steps,
        traced: Vec::with_capacity(steps.len()),
        reals: Vec::with_capacity(steps.len()),
        findings: Vec::new(),
        min: min_count.max(1),
    };
    for (k, step) in steps.iter().enumerate() {
        let values = match step.value {
            Data::Frame(df) => df.height().saturating_mul(df.width()),
            other => other.shape().iter().product(),
        };
        if values > MAX_TRACED_VALUES {
            return Err(format!(
                "step `{}` holds {values} values, more than the {MAX_TRACED_VALUES} the checks follow; reduce the data before this step",
                step.op.name()
            ));
        }
        let real = matches!(step.op, Op::Asset { .. })
            || step
                .inputs
                .iter()
                .any(|i| pass.reals.get(*i).copied().unwrap_or(false));
        pass.reals.push(real);
        let t = pass.step(k)?;
        pass.traced.push(t);
    }
    let last = pass.traced.pop().ok_or("there are no steps")?;
    Ok((last, pass.findings))
}

/// An array input: its shape, its cells and its real values.
type ArrayIn<'t> = (&'t [usize], &'t [Cell], Vec<f64>);
/// A frame input: its column names, their cells, and its real value.
type FrameIn<'t> = (&'t [String], &'t [Vec<Cell>], &'t DataFrame);

struct Pass<'a, 's> {
    steps: &'s [Step<'a>],
    traced: Vec<Traced>,
    /// Whether each step derives from an asset.
    reals: Vec<bool>,
    findings: Vec<Finding>,
    min: usize,
}

/// The union of `cells`' rows; `None` when all are literals'. `real` says whether an input
/// derives from an asset (an empty selection of real rows is then zero people, not public).
fn union<'c>(cells: impl IntoIterator<Item = &'c Cell>, real: bool) -> Cell {
    let mut rows: Vec<Row> = Vec::new();
    let mut any = real;
    let mut first: Option<&Arc<[Row]>> = None;
    let mut same = true;
    for c in cells {
        if let Some(r) = &c.rows {
            any = true;
            match first {
                None => first = Some(r),
                Some(f) if Arc::ptr_eq(f, r) || **f == **r => {}
                Some(_) => same = false,
            }
            rows.extend_from_slice(r);
        }
    }
    if !any {
        return Cell::default();
    }
    if same && let Some(f) = first {
        return Cell {
            rows: Some(f.clone()),
            weights: None,
            count: false,
        };
    }
    rows.sort_unstable();
    rows.dedup();
    Cell::rows(rows)
}

/// How many rows are in exactly one of `a` and `b` (both sorted).
fn differ(a: &[Row], b: &[Row]) -> usize {
    let (mut i, mut j, mut n) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => {
                n += 1;
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                n += 1;
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                i += 1;
                j += 1;
            }
        }
    }
    n + (a.len() - i) + (b.len() - j)
}

/// Whether two row sets differ by some people but fewer than `min`: the values over them
/// difference to those people's.
pub(crate) fn differs_by_few(a: &[Row], b: &[Row], min: usize) -> Option<usize> {
    if a.len().abs_diff(b.len()) >= min || std::ptr::eq(a, b) {
        return None;
    }
    let d = differ(a, b);
    (d > 0 && d < min).then_some(d)
}

/// In how many people two statistics over rows `a` and `b` (with contributions `wa`, `wb`) part:
/// the people whose contribution to their difference departs from the rest's. Two releases that
/// part in a few people give those people's values by difference, whatever their row sets.
pub(crate) fn parted_by(a: &[Row], wa: &[f64], b: &[Row], wb: &[f64]) -> usize {
    let (mut i, mut j) = (0, 0);
    let mut diff = Vec::with_capacity(a.len().max(b.len()));
    while i < a.len() || j < b.len() {
        match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x == y => {
                diff.push(wa[i] - wb[j]);
                i += 1;
                j += 1;
            }
            (Some(x), Some(y)) if x < y => {
                diff.push(wa[i]);
                i += 1;
            }
            (Some(_), None) => {
                diff.push(wa[i]);
                i += 1;
            }
            _ => {
                diff.push(-wb[j]);
                j += 1;
            }
        }
    }
    movers(&diff)
}

/// How many of `values` depart from their median (beyond rounding).
pub(crate) fn movers(values: &[f64]) -> usize {
    departures(values).iter().filter(|d| **d > 0.0).count()
}

/// How far each of `values` departs from their median: what a person moves a statistic by,
/// beyond what every person adds alike. Differences below the values' own rounding are none.
pub(crate) fn departures(values: &[f64]) -> Vec<f64> {
    let mut finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.is_empty() {
        return Vec::new();
    }
    // The middle value by selection, not a sort: a statistic over 1e7 rows is checked in one pass.
    let middle = finite.len() / 2;
    let median = *finite.select_nth_unstable_by(middle, f64::total_cmp).1;
    let scale = finite
        .iter()
        .fold(0.0f64, |m, v| m.max(v.abs()))
        .max(f64::MIN_POSITIVE);
    values
        .iter()
        .map(|v| {
            let d = (v - median).abs();
            if d <= scale * 1e-12 { 0.0 } else { d }
        })
        .collect()
}

/// Each row's share of a statistic over `cells` of real `values` (signed): a value spread over
/// its rows.
fn weights(cells: &[&Cell], values: &[f64], rows: &[Row]) -> Arc<[f64]> {
    let mut by_row: HashMap<Row, f64> = HashMap::with_capacity(rows.len());
    for (c, v) in cells.iter().zip(values) {
        if let Some(r) = &c.rows
            && !r.is_empty()
            && v.is_finite()
        {
            let share = v / r.len() as f64;
            for row in r.iter() {
                *by_row.entry(*row).or_default() += share;
            }
        }
    }
    rows.iter()
        .map(|r| by_row.get(r).copied().unwrap_or(0.0))
        .collect()
}

/// What a reduction makes of its lane.
#[derive(Clone, Copy)]
enum Fold {
    /// A sum or mean: every row, weighted by its value.
    Total,
    /// A spread (std, var): every row, weighted by its squared deviation.
    Spread,
    /// A count of rows.
    Count,
    /// The smallest or largest: the rows holding it.
    Extreme { largest: bool },
    /// The position of the largest: the first row holding it.
    Argmax,
    /// The `q` quantile: the rows holding it when it lies among the first or last `min` values,
    /// else every row.
    Quantile(f64),
}

impl Fold {
    fn of(kind: Reduce) -> Fold {
        match kind {
            Reduce::Sum | Reduce::Mean => Fold::Total,
            Reduce::Std | Reduce::Var => Fold::Spread,
            Reduce::Min => Fold::Extreme { largest: false },
            Reduce::Max => Fold::Extreme { largest: true },
            Reduce::Argmax => Fold::Argmax,
        }
    }

    fn of_agg(agg: Agg) -> Fold {
        match agg {
            Agg::Count => Fold::Count,
            Agg::Sum | Agg::Mean => Fold::Total,
            Agg::Std => Fold::Spread,
            Agg::Min => Fold::Extreme { largest: false },
            Agg::Max => Fold::Extreme { largest: true },
        }
    }
}

impl Pass<'_, '_> {
    fn input(&self, k: usize, i: usize) -> Result<(&Traced, &Data), Unknown> {
        let at = *self.steps[k]
            .inputs
            .get(i)
            .ok_or("a step is missing an input")?;
        Ok((&self.traced[at], self.steps[at].value))
    }

    fn array(&self, k: usize, i: usize) -> Result<ArrayIn<'_>, Unknown> {
        match self.input(k, i)? {
            (Traced::Array { shape, cells }, data) => Ok((shape, cells, numbers(data))),
            (Traced::Frame { .. }, _) => Err(format!(
                "`{}` of a frame, which it takes as an array",
                self.steps[k].op.name()
            )),
        }
    }

    fn frame(&self, k: usize, i: usize) -> Result<FrameIn<'_>, Unknown> {
        match self.input(k, i)? {
            (Traced::Frame { names, columns, .. }, Data::Frame(df)) => Ok((names, columns, df)),
            _ => Err(format!(
                "`{}` of an array, which it takes as a frame",
                self.steps[k].op.name()
            )),
        }
    }

    /// Whether step `k` derives from an asset.
    fn real(&self, k: usize) -> bool {
        self.reals[k]
    }

    /// `a` and `b` meeting in one value (see the module's doc).
    fn meet(&mut self, step: &str, a: &Cell, b: &Cell) -> Cell {
        self.meet_signed(step, a, b, 1.0)
    }

    /// `a` and `b` meeting, `b`'s contributions counted with `sign` (-1 for `a - b`: the
    /// difference of two statistics is what each person moves them apart by).
    fn meet_signed(&mut self, step: &str, a: &Cell, b: &Cell, sign: f64) -> Cell {
        let (Some(ra), Some(rb)) = (&a.rows, &b.rows) else {
            return if a.rows.is_some() {
                a.clone()
            } else {
                b.clone()
            };
        };
        if ra.len() >= self.min && rb.len() >= self.min {
            if let Some(d) = differs_by_few(ra, rb, self.min) {
                self.findings.push(Finding::Differencing {
                    step: step.to_string(),
                    left: ra.len(),
                    right: rb.len(),
                    differ: d,
                });
            }
            let mut out = union([a, b], true);
            out.weights = match (&a.weights, &b.weights) {
                (Some(_), _) | (_, Some(_)) => {
                    let rows = out.rows.clone().unwrap_or_default();
                    let mut by_row: HashMap<Row, f64> = HashMap::new();
                    for (c, sign) in [(a, 1.0), (b, sign)] {
                        if let (Some(r), Some(w)) = (&c.rows, &c.weights) {
                            for (row, w) in r.iter().zip(w.iter()) {
                                *by_row.entry(*row).or_default() += sign * w;
                            }
                        }
                    }
                    Some(
                        rows.iter()
                            .map(|r| by_row.get(r).copied().unwrap_or(0.0))
                            .collect(),
                    )
                }
                _ => None,
            };
            out
        } else if ra.len() <= rb.len() {
            Cell {
                count: false,
                ..a.clone()
            }
        } else {
            Cell {
                count: false,
                ..b.clone()
            }
        }
    }

    /// A reduction of `cells` (with real `values`) to one value.
    fn fold(&self, cells: &[&Cell], values: &[f64], how: Fold, real: bool) -> Cell {
        let all = || union(cells.iter().copied(), real);
        let holding = |v: f64| {
            union(
                cells
                    .iter()
                    .zip(values)
                    .filter(|(_, x)| x.total_cmp(&v).is_eq())
                    .map(|(c, _)| *c),
                real,
            )
        };
        let finite = || values.iter().copied().filter(|v| !v.is_nan());
        match how {
            Fold::Count => Cell {
                count: true,
                ..all()
            },
            Fold::Total | Fold::Spread => {
                let mut out = all();
                let contributions: Vec<f64> = match how {
                    Fold::Spread => {
                        let n = finite().count().max(1) as f64;
                        let mean = finite().sum::<f64>() / n;
                        values.iter().map(|v| (v - mean).powi(2)).collect()
                    }
                    _ => values.to_vec(),
                };
                if let Some(rows) = &out.rows {
                    out.weights = Some(weights(cells, &contributions, rows));
                }
                out
            }
            Fold::Extreme { largest } => {
                let pick = if largest {
                    finite().fold(f64::NEG_INFINITY, f64::max)
                } else {
                    finite().fold(f64::INFINITY, f64::min)
                };
                holding(pick)
            }
            Fold::Argmax => {
                let mut best: Option<(usize, f64)> = None;
                for (i, v) in values.iter().enumerate() {
                    if !v.is_nan() && best.is_none_or(|(_, b)| *v > b) {
                        best = Some((i, *v));
                    }
                }
                match best {
                    Some((i, _)) => union([cells[i]], real),
                    None => all(),
                }
            }
            Fold::Quantile(q) => {
                let mut sorted: Vec<f64> = finite().collect();
                if sorted.is_empty() {
                    return all();
                }
                sorted.sort_by(f64::total_cmp);
                let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
                let v = sorted[rank - 1];
                let below = sorted.iter().filter(|x| **x < v).count();
                let above = sorted.iter().filter(|x| **x > v).count();
                if below < self.min || above < self.min {
                    holding(v)
                } else {
                    all()
                }
            }
        }
    }

    /// Rows kept by a row selection: noted when they, or those it removed, are fewer people
    /// than the minimum.
    fn selection(&mut self, k: usize, before: &[&Cell], after: &[&Cell]) {
        let real = self.real(k);
        let (Some(all), Some(kept)) = (
            union(before.iter().copied(), real).rows,
            union(after.iter().copied(), real).rows,
        ) else {
            return;
        };
        let removed = all.len() - kept.len().min(all.len());
        if kept.len() < self.min || (removed > 0 && removed < self.min) {
            self.findings.push(Finding::Subset {
                step: format!("`{}`", self.steps[k].op.name()),
                kept: kept.len(),
                removed,
            });
        }
    }

    /// Step `k`'s cells.
    fn step(&mut self, k: usize) -> Result<Traced, Unknown> {
        let step = &self.steps[k];
        let op = step.op;
        let name = op.name();
        let real = self.real(k);
        Ok(match op {
            Op::Asset { .. } => {
                let asset = step.asset.ok_or("an asset's root without its number")?;
                match step.value {
                    Data::Frame(df) => {
                        let column: Vec<Cell> = (0..df.height())
                            .map(|r| Cell::rows(vec![row_key(asset, r)]))
                            .collect();
                        Traced::Frame {
                            names: names_of(df),
                            columns: vec![column; df.width()],
                            labels: None,
                        }
                    }
                    data => {
                        let shape = data.shape();
                        let n: usize = shape.iter().product();
                        let per_row = n / shape.first().copied().unwrap_or(1).max(1);
                        let rows: Vec<Cell> = (0..shape.first().copied().unwrap_or(1))
                            .map(|r| Cell::rows(vec![row_key(asset, r)]))
                            .collect();
                        Traced::Array {
                            shape: shape.clone(),
                            cells: (0..n).map(|i| rows[i / per_row.max(1)].clone()).collect(),
                        }
                    }
                }
            }
            Op::Literal { shape, .. } => Traced::Array {
                shape: shape.clone(),
                cells: vec![Cell::default(); shape.iter().product()],
            },
            Op::Arith {
                scalar: Some(_), ..
            }
            | Op::Compare {
                scalar: Some(_), ..
            }
            | Op::Unary { .. } => {
                let (shape, cells, _) = self.array(k, 0)?;
                Traced::Array {
                    shape: shape.to_vec(),
                    cells: cells
                        .iter()
                        .map(|c| Cell {
                            count: false,
                            ..c.clone()
                        })
                        .collect(),
                }
            }
            Op::Arith { .. } | Op::Compare { .. } => {
                let out = step.value.shape();
                let (sa, ca, va) = self.array(k, 0)?;
                let (sb, cb, vb) = self.array(k, 1)?;
                let ia = broadcast(sa, &out)?;
                let ib = broadcast(sb, &out)?;
                let (ca, cb) = (ca.to_vec(), cb.to_vec());
                let pairs = ia
                    .iter()
                    .zip(&ib)
                    .map(|(a, b)| ((&ca[*a], va[*a]), (&cb[*b], vb[*b])));
                self.weights_rows(&name, pairs);
                let sign = match op {
                    Op::Arith {
                        kind: Arith::Sub, ..
                    } => -1.0,
                    _ => 1.0,
                };
                let cells = ia
                    .iter()
                    .zip(&ib)
                    .map(|(a, b)| self.meet_signed(&name, &ca[*a], &cb[*b], sign))
                    .collect();
                Traced::Array { shape: out, cells }
            }
            Op::Reduce { kind, axis } => {
                let (shape, cells, values) = self.array(k, 0)?;
                self.lanes(shape, cells, &values, *axis, Fold::of(*kind), real)?
            }
            Op::Quantile { q } => {
                let (shape, cells, values) = self.array(k, 0)?;
                self.lanes(shape, cells, &values, None, Fold::Quantile(*q), real)?
            }
            Op::Dot => self.dot(k)?,
            Op::Transpose | Op::Reshape { .. } | Op::Slice { .. } => {
                let (shape, cells, _) = self.array(k, 0)?;
                let (shape, cells) = (shape.to_vec(), cells.to_vec());
                let (out, picked) = moved(op, &shape)?;
                let after: Vec<Cell> = picked.iter().map(|i| cells[*i].clone()).collect();
                if matches!(op, Op::Slice { .. }) {
                    self.selection(
                        k,
                        &cells.iter().collect::<Vec<_>>(),
                        &after.iter().collect::<Vec<_>>(),
                    );
                }
                Traced::Array {
                    shape: out,
                    cells: after,
                }
            }
            Op::Head { .. }
            | Op::Sample { .. }
            | Op::Split { .. }
            | Op::Filter
            | Op::Sort { .. } => self.rows_moved(k)?,
            Op::Select { columns } => {
                let (names, cols, _) = self.frame(k, 0)?;
                let mut out = (Vec::new(), Vec::new());
                for c in columns {
                    let j = position(names, c)?;
                    out.0.push(c.clone());
                    out.1.push(cols[j].clone());
                }
                Traced::Frame {
                    names: out.0,
                    columns: out.1,
                    labels: None,
                }
            }
            Op::Column { name: c } | Op::TextEquals { column: c, .. } => {
                let (names, cols, _) = self.frame(k, 0)?;
                let column = cols[position(names, c)?].clone();
                Traced::Array {
                    shape: vec![column.len()],
                    cells: column,
                }
            }
            Op::RowCount => Traced::Array {
                shape: Vec::new(),
                cells: vec![Cell {
                    count: true,
                    ..union(self.traced[step.inputs[0]].cells(), real)
                }],
            },
            Op::ToArray => {
                let (_, cols, df) = self.frame(k, 0)?;
                let (h, w) = (df.height(), cols.len());
                let cells = (0..h * w).map(|i| cols[i % w][i / w].clone()).collect();
                Traced::Array {
                    shape: vec![h, w],
                    cells,
                }
            }
            Op::WithColumn { name: c } => {
                let (names, cols, _) = self.frame(k, 0)?;
                let (mut names, mut cols) = (names.to_vec(), cols.to_vec());
                let (_, added, _) = self.array(k, 1)?;
                match names.iter().position(|n| n == c) {
                    Some(j) => cols[j] = added.to_vec(),
                    None => {
                        names.push(c.clone());
                        cols.push(added.to_vec());
                    }
                }
                Traced::Frame {
                    names,
                    columns: cols,
                    labels: None,
                }
            }
            Op::GroupBy { by, aggs } => self.groups(k, by, aggs, real)?,
            Op::ValueCounts { column } => {
                let (names, cols, df) = self.frame(k, 0)?;
                let members = members(df, column)?;
                let col = &cols[position(names, column)?];
                let Data::Frame(out) = step.value else {
                    return Err("value counts that are not a frame".into());
                };
                let keys = keys(out, column)?;
                let mut cells = Vec::new();
                for key in &keys {
                    let rows = members.get(key.as_str()).map(Vec::as_slice).unwrap_or(&[]);
                    cells.push(Cell {
                        count: true,
                        ..union(rows.iter().map(|r| &col[*r]), real)
                    });
                }
                Traced::Frame {
                    names: names_of(out),
                    columns: vec![cells.clone(), cells],
                    labels: Some(keys.iter().map(|key| format!("{column} = {key}")).collect()),
                }
            }
            Op::Describe => {
                let (names, cols, df) = self.frame(k, 0)?;
                let Data::Frame(out) = step.value else {
                    return Err("a description that is not a frame".into());
                };
                let stats = [Agg::Count, Agg::Mean, Agg::Std, Agg::Min, Agg::Max];
                let mut columns = vec![vec![Cell::default(); stats.len()]];
                for name in names_of(out).iter().skip(1) {
                    let col: Vec<&Cell> = cols[position(names, name)?].iter().collect();
                    let values = column_numbers(df, name)?;
                    columns.push(
                        stats
                            .iter()
                            .map(|s| self.fold(&col, &values, Fold::of_agg(*s), real))
                            .collect(),
                    );
                }
                Traced::Frame {
                    names: names_of(out),
                    columns,
                    labels: Some(stats.iter().map(|s| s.name().to_string()).collect()),
                }
            }
            Op::Join { on, .. } => self.join(k, on)?,
            Op::Standardize => {
                let (shape, cells, _) = self.array(k, 0)?;
                let (shape, cells) = (shape.to_vec(), cells.to_vec());
                let [h, w] = shape[..] else {
                    return Err("`standardize` of an array that is not 2-d".into());
                };
                let columns: Vec<Cell> = (0..w)
                    .map(|j| union((0..h).map(|i| &cells[i * w + j]), real))
                    .collect();
                let out = (0..h * w)
                    .map(|i| self.meet(&name, &cells[i], &columns[i % w]))
                    .collect();
                Traced::Array { shape, cells: out }
            }
            Op::LogisticFit { .. } => {
                let (_, x, _) = self.array(k, 0)?;
                let (_, y, _) = self.array(k, 1)?;
                let all = union(x.iter().chain(y), real);
                let parameters = step.value.shape().iter().product();
                self.findings.push(Finding::Model {
                    rows: all.len(),
                    parameters,
                });
                Traced::Array {
                    shape: step.value.shape(),
                    cells: vec![all; parameters],
                }
            }
            Op::LogisticPredict => {
                let (_, w, _) = self.array(k, 0)?;
                let weights = union(w, real);
                let (shape, x, _) = self.array(k, 1)?;
                let (h, width) = (
                    shape.first().copied().unwrap_or(0),
                    shape.get(1).copied().unwrap_or(1),
                );
                let x = x.to_vec();
                let cells = (0..h)
                    .map(|i| {
                        let row = union(&x[i * width..(i + 1) * width], real);
                        self.meet(&name, &weights, &row)
                    })
                    .collect();
                Traced::Array {
                    shape: vec![h],
                    cells,
                }
            }
            Op::Accuracy | Op::ConfusionMatrix => {
                let (_, p, pv) = self.array(k, 0)?;
                let (_, t, tv) = self.array(k, 1)?;
                let (p, t) = (p.to_vec(), t.to_vec());
                let pairs: Vec<Cell> = p
                    .iter()
                    .zip(&t)
                    .map(|(a, b)| self.meet(&name, a, b))
                    .collect();
                if matches!(op, Op::Accuracy) {
                    Traced::Array {
                        shape: Vec::new(),
                        cells: vec![union(&pairs, real)],
                    }
                } else {
                    // [[tn, fp], [fn, tp]]: each cell counts the pairs of its class.
                    let class =
                        |i: usize| 2 * usize::from(tv[i] != 0.0) + usize::from(pv[i] != 0.0);
                    let cells = (0..4)
                        .map(|c| Cell {
                            count: true,
                            ..union(
                                (0..pairs.len())
                                    .filter(|i| class(*i) == c)
                                    .map(|i| &pairs[i]),
                                real,
                            )
                        })
                        .collect();
                    Traced::Array {
                        shape: vec![2, 2],
                        cells,
                    }
                }
            }
        })
    }

    /// Notes a step that combines one person's values with values of the scientist's own
    /// (literals) that are not the same for every person: weights that can single a person out of
    /// an aggregate (`Σ w·x` with one `w` apart, released beside `Σ x`), whatever the row sets.
    fn weights_rows<'c>(
        &mut self,
        step: &str,
        pairs: impl Iterator<Item = ((&'c Cell, f64), (&'c Cell, f64))>,
    ) {
        let mut by_row: HashMap<Row, Vec<u64>> = HashMap::new();
        for (a, b) in pairs {
            let (person, public) = match (&a.0.rows, &b.0.rows) {
                (Some(r), None) if r.len() == 1 => (r[0], b.1),
                (None, Some(r)) if r.len() == 1 => (r[0], a.1),
                _ => continue,
            };
            by_row.entry(person).or_default().push(public.to_bits());
        }
        let mut seen: Option<Vec<u64>> = None;
        for mut values in by_row.into_values() {
            values.sort_unstable();
            match &seen {
                None => seen = Some(values),
                Some(first) if *first == values => {}
                Some(_) => {
                    self.findings.push(Finding::Weighted {
                        step: step.to_string(),
                    });
                    return;
                }
            }
        }
    }

    /// A selected row's `cell`, with the mask's value of its row where a filter chose it.
    fn masked(&mut self, cell: &Cell, mask: Option<&[Cell]>, row: usize) -> Cell {
        match mask {
            Some(m) => self.meet("filter", cell, &m[row]),
            None => cell.clone(),
        }
    }

    /// A reduction over every value (`axis` `None`) or along an axis, lane by lane.
    fn lanes(
        &self,
        shape: &[usize],
        cells: &[Cell],
        values: &[f64],
        axis: Option<usize>,
        how: Fold,
        real: bool,
    ) -> Result<Traced, Unknown> {
        let Some(axis) = axis else {
            let all: Vec<&Cell> = cells.iter().collect();
            return Ok(Traced::Array {
                shape: Vec::new(),
                cells: vec![self.fold(&all, values, how, real)],
            });
        };
        if axis >= shape.len() {
            return Err(format!("a reduction along axis {axis} of shape {shape:?}"));
        }
        let index = ArrayD::from_shape_vec(IxDyn(shape), (0..cells.len()).collect::<Vec<usize>>())
            .map_err(|e| e.to_string())?;
        let mut out_shape = shape.to_vec();
        out_shape.remove(axis);
        let out = index
            .lanes(Axis(axis))
            .into_iter()
            .map(|lane| {
                let lane_cells: Vec<&Cell> = lane.iter().map(|i| &cells[*i]).collect();
                let lane_values: Vec<f64> = lane.iter().map(|i| values[*i]).collect();
                self.fold(&lane_cells, &lane_values, how, real)
            })
            .collect();
        Ok(Traced::Array {
            shape: out_shape,
            cells: out,
        })
    }

    fn dot(&mut self, k: usize) -> Result<Traced, Unknown> {
        let (sa, ca, va) = self.array(k, 0)?;
        let (sb, cb, vb) = self.array(k, 1)?;
        // As matrices: a 1-d left side is one row, a 1-d right side one column.
        let (m, inner) = match sa[..] {
            [n] => (1, n),
            [m, n] => (m, n),
            _ => return Err(format!("`dot` of shape {sa:?}")),
        };
        let n = match sb[..] {
            [_] => 1,
            [_, n] => n,
            _ => return Err(format!("`dot` of shape {sb:?}")),
        };
        let (ca, cb) = (ca.to_vec(), cb.to_vec());
        let (va, vb) = (va.clone(), vb.clone());
        let real = self.real(k);
        let pairs = (0..m).flat_map(|i| {
            (0..n).flat_map(move |j| (0..inner).map(move |t| (i * inner + t, t * n + j)))
        });
        let pairs: Vec<(usize, usize)> = pairs.collect();
        self.weights_rows(
            "dot",
            pairs
                .iter()
                .map(|(a, b)| ((&ca[*a], va[*a]), (&cb[*b], vb[*b]))),
        );
        let mut cells = Vec::with_capacity(m * n);
        for i in 0..m {
            for j in 0..n {
                let terms: Vec<Cell> = (0..inner)
                    .map(|t| self.meet("dot", &ca[i * inner + t], &cb[t * n + j]))
                    .collect();
                let products: Vec<f64> = (0..inner)
                    .map(|t| va[i * inner + t] * vb[t * n + j])
                    .collect();
                let refs: Vec<&Cell> = terms.iter().collect();
                cells.push(self.fold(&refs, &products, Fold::Total, real));
            }
        }
        Ok(Traced::Array {
            shape: self.steps[k].value.shape(),
            cells,
        })
    }

    /// Row selections and orderings of frames and arrays: the op itself, run on row numbers.
    fn rows_moved(&mut self, k: usize) -> Result<Traced, Unknown> {
        let step = &self.steps[k];
        let op = step.op;
        let mask = if matches!(op, Op::Filter) {
            let (_, cells, _) = self.array(k, 1)?;
            Some((cells.to_vec(), self.input(k, 1)?.1.clone()))
        } else {
            None
        };
        let (input, data) = self.input(k, 0)?;
        let input = input.clone();
        let numbered = match (&input, data, op) {
            (Traced::Frame { .. }, Data::Frame(df), Op::Sort { by, .. }) => {
                let by = df.column(by).map_err(|e| e.to_string())?.clone();
                let rows = row_numbers(df.height());
                Data::Frame(DataFrame::new(df.height(), vec![by, rows]).map_err(|e| e.to_string())?)
            }
            (Traced::Frame { .. }, Data::Frame(df), _) => Data::Frame(
                DataFrame::new(df.height(), vec![row_numbers(df.height())])
                    .map_err(|e| e.to_string())?,
            ),
            (Traced::Array { shape, .. }, _, _) => {
                let n = shape
                    .first()
                    .copied()
                    .ok_or("a row selection of a 0-d array")?;
                Data::F64(
                    ArrayD::from_shape_vec(IxDyn(&[n]), (0..n).map(|i| i as f64).collect())
                        .expect("1-d"),
                )
            }
            _ => return Err(format!("`{}` of a value it cannot take", op.name())),
        };
        let mut inputs: Vec<&Data> = vec![&numbered];
        if let Some((_, m)) = &mask {
            inputs.push(m);
        }
        let picked: Vec<usize> = match crate::ops::eval(op, &inputs).map_err(|e| e.to_string())? {
            Data::Frame(out) => column_numbers(&out, ROW)?
                .iter()
                .map(|v| *v as usize)
                .collect(),
            other => numbers(&other).iter().map(|v| *v as usize).collect(),
        };
        let mask = mask.map(|(cells, _)| cells);
        let out = match input {
            Traced::Frame { names, columns, .. } => {
                let mut moved: Vec<Vec<Cell>> = Vec::with_capacity(columns.len());
                for col in &columns {
                    let mut out = Vec::with_capacity(picked.len());
                    for r in &picked {
                        out.push(self.masked(&col[*r], mask.as_deref(), *r));
                    }
                    moved.push(out);
                }
                if !matches!(op, Op::Sort { .. }) {
                    let before: Vec<&Cell> = columns.iter().flatten().collect();
                    let after: Vec<&Cell> = moved.iter().flatten().collect();
                    self.selection(k, &before, &after);
                }
                Traced::Frame {
                    names,
                    columns: moved,
                    labels: None,
                }
            }
            Traced::Array { shape, cells } => {
                let per_row = shape[1..].iter().product::<usize>();
                let mut moved: Vec<Cell> = Vec::with_capacity(picked.len() * per_row);
                for r in &picked {
                    for cell in &cells[r * per_row..(r + 1) * per_row] {
                        moved.push(self.masked(cell, mask.as_deref(), *r));
                    }
                }
                let before: Vec<&Cell> = cells.iter().collect();
                let after: Vec<&Cell> = moved.iter().collect();
                self.selection(k, &before, &after);
                let mut shape = shape.clone();
                shape[0] = picked.len();
                Traced::Array {
                    shape,
                    cells: moved,
                }
            }
        };
        Ok(out)
    }

    fn groups(
        &self,
        k: usize,
        by: &str,
        aggs: &[(String, Agg)],
        real: bool,
    ) -> Result<Traced, Unknown> {
        let (names, cols, df) = self.frame(k, 0)?;
        let Data::Frame(out) = self.steps[k].value else {
            return Err("a group-by that is not a frame".into());
        };
        let members = members(df, by)?;
        let keys = keys(out, by)?;
        let key_col = &cols[position(names, by)?];
        let group = |key: &str| members.get(key).map(Vec::as_slice).unwrap_or(&[]);
        let mut columns = vec![
            keys.iter()
                .map(|key| union(group(key).iter().map(|r| &key_col[*r]), real))
                .collect::<Vec<Cell>>(),
        ];
        for (column, agg) in aggs {
            let (col, values) = if *agg == Agg::Count {
                (key_col, vec![0.0; df.height()])
            } else {
                (&cols[position(names, column)?], column_numbers(df, column)?)
            };
            columns.push(
                keys.iter()
                    .map(|key| {
                        let rows = group(key);
                        let cells: Vec<&Cell> = rows.iter().map(|r| &col[*r]).collect();
                        let vals: Vec<f64> = rows.iter().map(|r| values[*r]).collect();
                        self.fold(&cells, &vals, Fold::of_agg(*agg), real)
                    })
                    .collect(),
            );
        }
        Ok(Traced::Frame {
            names: names_of(out),
            columns,
            labels: Some(keys.iter().map(|key| format!("{by} = {key}")).collect()),
        })
    }

    /// A join: each output row's cells from its left and right rows, found by running the join
    /// itself on row numbers (a left join's unmatched rows keep their left key's people).
    fn join(&mut self, k: usize, on: &str) -> Result<Traced, Unknown> {
        let (ln, lc, ldf) = self.frame(k, 0)?;
        let (rn, rc, rdf) = self.frame(k, 1)?;
        let (ln, lc, rn, rc) = (ln.to_vec(), lc.to_vec(), rn.to_vec(), rc.to_vec());
        let numbered = |df: &DataFrame, name: &str| -> Result<Data, Unknown> {
            let key = df.column(on).map_err(|e| e.to_string())?.clone();
            let mut rows = row_numbers(df.height());
            rows.rename(name.into());
            Ok(Data::Frame(
                DataFrame::new(df.height(), vec![key, rows]).map_err(|e| e.to_string())?,
            ))
        };
        let (l, r) = (numbered(ldf, LEFT)?, numbered(rdf, RIGHT)?);
        let Data::Frame(joined) =
            crate::ops::eval(self.steps[k].op, &[&l, &r]).map_err(|e| e.to_string())?
        else {
            return Err("a join that is not a frame".into());
        };
        let lrows = column_numbers(&joined, LEFT)?;
        let rrows = column_numbers(&joined, RIGHT)?;
        let lkey = &lc[position(&ln, on)?];
        let mut names = ln.clone();
        let mut columns: Vec<Vec<Cell>> = lc
            .iter()
            .map(|col| lrows.iter().map(|r| col[*r as usize].clone()).collect())
            .collect();
        for (name, col) in rn.iter().zip(&rc) {
            if name == on {
                continue;
            }
            names.push(if ln.contains(name) {
                format!("{name}_right")
            } else {
                name.clone()
            });
            columns.push(
                lrows
                    .iter()
                    .zip(&rrows)
                    .map(|(l, r)| {
                        if r.is_nan() {
                            // No match: the absence says something of the left row's key.
                            lkey[*l as usize].clone()
                        } else {
                            col[*r as usize].clone()
                        }
                    })
                    .collect(),
            );
        }
        // Each row of the join is its left row's and its right row's people together.
        let right_key = &rc[position(&rn, on)?];
        let key = position(&names, on)?;
        for (i, (l, r)) in lrows.iter().zip(&rrows).enumerate() {
            if !r.is_nan() {
                columns[key][i] = self.meet("join", &lkey[*l as usize], &right_key[*r as usize]);
            }
        }
        Ok(Traced::Frame {
            names,
            columns,
            labels: None,
        })
    }
}

/// The name of the row numbers' column in the frames a selection runs on (no user column can
/// have it: names are validated text).
const ROW: &str = "\u{1}row";
const LEFT: &str = "\u{1}left";
const RIGHT: &str = "\u{1}right";

fn row_numbers(n: usize) -> Column {
    Column::new(ROW.into(), (0..n).map(|i| i as f64).collect::<Vec<f64>>())
}

fn names_of(df: &DataFrame) -> Vec<String> {
    df.get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect()
}

fn position(names: &[String], name: &str) -> Result<usize, Unknown> {
    names
        .iter()
        .position(|n| n == name)
        .ok_or_else(|| format!("column `{name}` is not among the traced columns"))
}

fn numbers(data: &Data) -> Vec<f64> {
    match data {
        Data::F64(a) => a.iter().copied().collect(),
        Data::I64(a) => a.iter().map(|&v| v as f64).collect(),
        _ => Vec::new(),
    }
}

/// A column's numbers, nulls as NaN.
fn column_numbers(df: &DataFrame, name: &str) -> Result<Vec<f64>, Unknown> {
    let col = df
        .column(name)
        .and_then(|c| c.cast(&DataType::Float64))
        .map_err(|e| e.to_string())?;
    let values = col.f64().map_err(|e| e.to_string())?;
    Ok(values.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
}

fn keys(df: &DataFrame, name: &str) -> Result<Vec<String>, Unknown> {
    crate::analysis::keys(df, name, "tracing rows").map_err(|e| e.to_string())
}

/// The rows of each value of column `name`.
fn members(df: &DataFrame, name: &str) -> Result<BTreeMap<String, Vec<usize>>, Unknown> {
    let mut out: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (row, key) in keys(df, name)?.into_iter().enumerate() {
        out.entry(key).or_default().push(row);
    }
    Ok(out)
}

/// For each value of the broadcast `out` shape, the flat index of the value of `shape` it reads.
fn broadcast(shape: &[usize], out: &[usize]) -> Result<Vec<usize>, Unknown> {
    let index = ArrayD::from_shape_vec(
        IxDyn(shape),
        (0..shape.iter().product()).collect::<Vec<usize>>(),
    )
    .map_err(|e| e.to_string())?;
    let view = index
        .broadcast(IxDyn(out))
        .ok_or_else(|| format!("shapes {shape:?} and {out:?} do not broadcast"))?;
    Ok(view.iter().copied().collect())
}

/// A reshaping op run on value numbers: the new shape and, for each value, the number of the
/// value it came from.
fn moved(op: &Op, shape: &[usize]) -> Result<(Vec<usize>, Vec<usize>), Unknown> {
    let n: usize = shape.iter().product();
    let numbered = Data::F64(
        ArrayD::from_shape_vec(IxDyn(shape), (0..n).map(|i| i as f64).collect())
            .map_err(|e| e.to_string())?,
    );
    let out = crate::ops::eval(op, &[&numbered]).map_err(|e| e.to_string())?;
    Ok((
        out.shape(),
        numbers(&out).iter().map(|v| *v as usize).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asset(n: usize) -> Data {
        let values: Vec<f64> = (0..n).map(|i| i as f64).collect();
        Data::Frame(DataFrame::new_infer_height(vec![Column::new("x".into(), values)]).unwrap())
    }

    fn people(t: &Traced) -> Vec<usize> {
        t.cells().iter().map(|c| c.len()).collect()
    }

    /// Steps `ops` (each reading the step before it) over a 40-row asset, traced.
    fn chain(ops: &[Op]) -> (Traced, Vec<Finding>) {
        let root = Op::Asset {
            asset_id: "a".into(),
        };
        let mut values = vec![asset(40)];
        for (k, op) in ops.iter().enumerate() {
            let next = crate::ops::eval(op, &[&values[k]]).unwrap();
            values.push(next);
        }
        let all: Vec<&Op> = std::iter::once(&root).chain(ops).collect();
        let steps: Vec<Step<'_>> = all
            .iter()
            .enumerate()
            .map(|(k, op)| Step {
                op,
                inputs: if k == 0 { vec![] } else { vec![k - 1] },
                value: &values[k],
                asset: Some(3),
            })
            .collect();
        trace(&steps, 10).unwrap()
    }

    #[test]
    fn values_keep_their_rows_and_reductions_join_them() {
        let column = Op::Column { name: "x".into() };
        let (t, _) = chain(std::slice::from_ref(&column));
        assert_eq!(people(&t), vec![1; 40]);
        let sum = Op::Reduce {
            kind: Reduce::Sum,
            axis: None,
        };
        let (t, _) = chain(&[column.clone(), sum]);
        assert_eq!(people(&t), [40]);
        assert_eq!(t.cells()[0].weights.as_ref().unwrap().len(), 40);
        // The largest value is its one row's; the median, of every row.
        let max = Op::Reduce {
            kind: Reduce::Max,
            axis: None,
        };
        let (t, _) = chain(&[column.clone(), max]);
        assert_eq!(t.cells()[0].rows.as_deref(), Some(&[row_key(3, 39)][..]));
        let (t, _) = chain(&[column.clone(), Op::Quantile { q: 0.5 }]);
        assert_eq!(people(&t), [40]);
        let (t, _) = chain(&[column, Op::Quantile { q: 0.99 }]);
        assert_eq!(people(&t), [1]);
    }

    #[test]
    fn a_reduction_along_rows_keeps_each_rows_people() {
        let (t, _) = chain(&[
            Op::ToArray,
            Op::Reshape { shape: vec![40, 1] },
            Op::Reduce {
                kind: Reduce::Mean,
                axis: Some(1),
            },
        ]);
        assert_eq!(people(&t), vec![1; 40]);
        let (t, _) = chain(&[
            Op::ToArray,
            Op::Transpose,
            Op::Reduce {
                kind: Reduce::Mean,
                axis: Some(1),
            },
        ]);
        assert_eq!(people(&t), [40]);
    }

    #[test]
    fn selections_follow_rows_and_small_ones_are_noted() {
        let (t, findings) = chain(&[Op::Head { n: 35 }, Op::RowCount]);
        assert_eq!(people(&t), [35]);
        assert!(t.cells()[0].count);
        assert_eq!(
            findings,
            [Finding::Subset {
                step: "`head`".into(),
                kept: 35,
                removed: 5
            }]
        );
        let (t, findings) = chain(&[
            Op::Sort {
                by: "x".into(),
                descending: true,
            },
            Op::Head { n: 20 },
        ]);
        let rows: Vec<Row> = t
            .cells()
            .iter()
            .map(|c| c.rows.as_ref().unwrap()[0])
            .collect();
        assert_eq!(rows[0], row_key(3, 39));
        assert_eq!(rows[19], row_key(3, 20));
        assert!(findings.is_empty(), "{findings:?}");
    }

    #[test]
    fn differencing_is_a_few_rows_apart() {
        let a: Vec<Row> = (0..40).collect();
        let b: Vec<Row> = (1..40).collect();
        assert_eq!(differs_by_few(&a, &b, 10), Some(1));
        assert_eq!(differs_by_few(&a, &a, 10), None);
        let c: Vec<Row> = (20..40).collect();
        assert_eq!(differs_by_few(&a, &c, 10), None);
        // The same rows, statistics that part in one person; and in none (a constant).
        let x: Vec<f64> = (0..40).map(|i| 10.0 + f64::from(i) * 0.3).collect();
        let mut bumped = x.clone();
        bumped[7] += 1.0;
        assert_eq!(parted_by(&a, &x, &a, &bumped), 1);
        let shifted: Vec<f64> = x.iter().map(|v| v + 5.0).collect();
        assert_eq!(parted_by(&a, &x, &a, &shifted), 0);
        // All but one row: the one left out parts them.
        assert_eq!(parted_by(&a, &x, &b, &x[1..]), 1);
        assert_eq!(movers(&[1000.0, 1000.0, 1017.0]), 1);
    }
}
