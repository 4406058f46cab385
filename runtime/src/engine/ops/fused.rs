//! Fused evaluation: a run of element-wise steps (and the reduction that may end it) computed in one
//! pass, block by block, with the same result and errors as evaluating the steps one by one.

use super::*;

/// An op that maps each value of its one array input on its own: arithmetic or a comparison with a
/// number, or a unary function. A run of them can be computed in one pass ([`eval_fused`]).
#[derive(Debug, Clone, Copy)]
pub(super) enum Elementwise {
    Arith { kind: Arith, s: f64, left: bool },
    Compare { kind: Compare, s: f64 },
    Unary(Unary),
}

impl Elementwise {
    pub(super) fn of(op: &Op) -> Option<Elementwise> {
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
    pub(super) fn array(self, a: Cow<'_, ArrayD<f64>>) -> ArrayD<f64> {
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
pub(super) fn sum_of(a: &ArrayD<f64>) -> f64 {
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
    pub(super) fn of(op: &Op) -> Option<Fold> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
