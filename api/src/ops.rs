//! The op set: every step a pointer records, as plain data.
//!
//! An [`Op`] serialises with serde as `{"op": "arith", ...}`, so an action can be stored, sent by any
//! client (a cell, a program, an HTTP caller), shown to an owner as a readable step ([`describe`]), and
//! replayed. Its evaluation lives with the data, in the datasite (`veil::ops::eval`): the same evaluator
//! runs a cell's mocks in the kernel and the real data at the datasite, so both always agree.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The version of the op set; stored with every action so a later datasite can read old ones.
pub const OPS_VERSION: u32 = 1;

/// Element-wise arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arith {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%` (remainder with the sign of the dividend, as Rust's `%`).
    Rem,
    /// `powf`
    Pow,
}

/// Element-wise comparison, giving a mask of 0.0 / 1.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compare {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==`
    Eq,
    /// `!=`
    Ne,
}

/// Element-wise functions of one array.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unary {
    /// `-x`
    Neg,
    /// `|x|`
    Abs,
    /// `√x`
    Sqrt,
    /// `eˣ`
    Exp,
    /// natural logarithm
    Log,
}

/// Reductions, over the whole array or along one axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reduce {
    /// Sum.
    Sum,
    /// Arithmetic mean.
    Mean,
    /// Smallest value.
    Min,
    /// Largest value.
    Max,
    /// Population standard deviation.
    Std,
    /// Population variance.
    Var,
    /// Index of the largest value (in the flattened array when over the whole array).
    Argmax,
}

/// One step of a computation. Inputs are other objects, passed positionally (see [`Op::arity`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
// Not `#[non_exhaustive]`: the datasite's evaluator matches every op, so a new op cannot be
// added without its evaluation (the set is versioned by `OPS_VERSION` instead).
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// An asset's data: the root of every lineage. Evaluated by the datasite only.
    Asset {
        /// The asset's id.
        asset_id: String,
    },
    /// A value created from the notebook, e.g. `client.array(..)`. No inputs.
    Literal {
        /// Values in row-major order.
        values: Vec<f64>,
        /// Shape; its product is `values.len()`.
        shape: Vec<usize>,
    },
    /// `a ∘ b` of two inputs, or `a ∘ scalar` (`scalar_left`: `scalar ∘ a`) of one.
    Arith {
        /// Which operator.
        kind: Arith,
        /// The scalar operand, if the op has one input.
        scalar: Option<f64>,
        /// Whether the scalar is on the left (`1 - x`).
        #[serde(default)]
        scalar_left: bool,
    },
    /// `a ⋚ b` of two inputs, or `a ⋚ scalar` of one.
    Compare {
        /// Which comparison.
        kind: Compare,
        /// The scalar operand, if the op has one input.
        scalar: Option<f64>,
    },
    /// An element-wise function.
    Unary {
        /// Which function.
        kind: Unary,
    },
    /// A reduction.
    Reduce {
        /// Which reduction.
        kind: Reduce,
        /// Along this axis, or over everything.
        axis: Option<usize>,
    },
    /// The `q` quantile (0 to 1) of every value: the least value with at least a share `q` of
    /// the values at or below it.
    Quantile {
        /// Which quantile: 0.5 is the median.
        q: f64,
    },
    /// Dot product, matrix-vector or matrix-matrix product of two inputs.
    Dot,
    /// Reverses the axes.
    Transpose,
    /// The same values in a new shape.
    Reshape {
        /// The new shape.
        shape: Vec<usize>,
    },
    /// `[start, end)` along each leading axis.
    Slice {
        /// One range per axis, from the first.
        ranges: Vec<(usize, usize)>,
    },
    /// A frame's columns, in this order.
    Select {
        /// Column names.
        columns: Vec<String>,
    },
    /// One numeric column of a frame, as a 1-d array.
    Column {
        /// Column name.
        name: String,
    },
    /// A mask of the rows whose text column equals `value`.
    TextEquals {
        /// Column name.
        column: String,
        /// The text to match.
        value: String,
    },
    /// The first `n` rows.
    Head {
        /// Row count.
        n: usize,
    },
    /// `n` rows (or elements along the first axis) drawn without replacement by a seeded shuffle,
    /// in their drawn order: pandas' `sample(n, random_state=seed)`.
    Sample {
        /// How many rows.
        n: usize,
        /// Seed of the shuffle (ChaCha8).
        seed: u64,
    },
    /// The number of rows, as a 0-d array.
    RowCount,
    /// A frame of numeric columns as a 2-d array (rows × columns).
    ToArray,
    /// The rows of the first input where the second input (a 1-d mask) is non-zero.
    Filter,
    /// A frame sorted by one column.
    Sort {
        /// Column name.
        by: String,
        /// Largest first.
        #[serde(default)]
        descending: bool,
    },
    /// The first input (a frame) with the second (a 1-d array) added as column `name`.
    WithColumn {
        /// Column name; an existing column is replaced.
        name: String,
    },
    /// One row per value of `by`, with aggregates of other columns.
    GroupBy {
        /// The grouping column.
        by: String,
        /// `(column, aggregate)` pairs; a `count` needs no particular column.
        aggs: Vec<(String, Agg)>,
    },
    /// Each value of a column with its count, most frequent first.
    ValueCounts {
        /// Column name.
        column: String,
    },
    /// count, mean, std, min and max of every numeric column.
    Describe,
    /// The first input (a frame) joined with the second on a column.
    Join {
        /// The key column, in both frames.
        on: String,
        /// Keep every row of the first frame (a left join), not only the matching ones.
        #[serde(default)]
        left: bool,
    },
    /// Columns of a 2-d array scaled to mean 0 and standard deviation 1.
    Standardize,
    /// The training or test rows of a seeded split (the same seed splits features and targets alike).
    Split {
        /// Share of the rows in the test set, between 0 and 1.
        test_fraction: f64,
        /// Seed of the row permutation.
        seed: u64,
        /// The test rows (else the training rows).
        test: bool,
    },
    /// Logistic regression of the second input (0/1 targets) on the first (rows × features), by
    /// gradient descent: the weights, bias first.
    LogisticFit {
        /// Gradient steps.
        iterations: usize,
        /// Step size.
        learning_rate: f64,
    },
    /// 0/1 predictions of weights (first input) on features (second input).
    LogisticPredict,
    /// The share of predictions (first input) equal to the truth (second).
    Accuracy,
    /// `[[tn, fp], [fn, tp]]` of predictions (first input) against the truth (second).
    ConfusionMatrix,
}

impl Op {
    /// How many input objects the op takes.
    pub fn arity(&self) -> usize {
        match self {
            Op::Asset { .. } | Op::Literal { .. } => 0,
            Op::Arith { scalar, .. } | Op::Compare { scalar, .. } => {
                if scalar.is_some() {
                    1
                } else {
                    2
                }
            }
            Op::Dot
            | Op::Filter
            | Op::WithColumn { .. }
            | Op::Join { .. }
            | Op::LogisticFit { .. }
            | Op::LogisticPredict
            | Op::Accuracy
            | Op::ConfusionMatrix => 2,
            _ => 1,
        }
    }

    /// The op's short name, e.g. `sum`.
    pub fn name(&self) -> String {
        let tag = serde_json::to_value(self)
            .ok()
            .and_then(|v| v["op"].as_str().map(str::to_string))
            .unwrap_or_default();
        match self {
            Op::Arith { kind, .. } => format!("{kind:?}").to_lowercase(),
            Op::Compare { kind, .. } => format!("{kind:?}").to_lowercase(),
            Op::Unary { kind } => format!("{kind:?}").to_lowercase(),
            Op::Reduce { kind, .. } => format!("{kind:?}").to_lowercase(),
            _ => tag,
        }
    }
}

/// A readable form of the step, with `inputs` naming its inputs: `x + 1`, `sum(x, axis 0)`.
pub fn describe(op: &Op, inputs: &[String]) -> String {
    let input = |i: usize| inputs.get(i).cloned().unwrap_or_else(|| "?".into());
    let symbol = |kind: Arith| match kind {
        Arith::Add => "+",
        Arith::Sub => "-",
        Arith::Mul => "*",
        Arith::Div => "/",
        Arith::Rem => "%",
        Arith::Pow => "^",
    };
    let cmp = |kind: Compare| match kind {
        Compare::Lt => "<",
        Compare::Le => "<=",
        Compare::Gt => ">",
        Compare::Ge => ">=",
        Compare::Eq => "==",
        Compare::Ne => "!=",
    };
    match op {
        Op::Asset { asset_id } => format!("asset {asset_id}"),
        Op::Literal { shape, .. } => format!("array of shape {shape:?} from the notebook"),
        Op::Arith {
            kind,
            scalar: Some(s),
            scalar_left: true,
        } => format!("{s} {} {}", symbol(*kind), input(0)),
        Op::Arith {
            kind,
            scalar: Some(s),
            ..
        } => format!("{} {} {s}", input(0), symbol(*kind)),
        Op::Arith { kind, .. } => format!("{} {} {}", input(0), symbol(*kind), input(1)),
        Op::Compare {
            kind,
            scalar: Some(s),
        } => format!("{} {} {s}", input(0), cmp(*kind)),
        Op::Compare { kind, .. } => format!("{} {} {}", input(0), cmp(*kind), input(1)),
        Op::Reduce {
            kind,
            axis: Some(a),
        } => format!("{}({}, axis {a})", op_name(*kind), input(0)),
        Op::Reduce { kind, .. } => format!("{}({})", op_name(*kind), input(0)),
        Op::Unary { kind } => format!("{}({})", format!("{kind:?}").to_lowercase(), input(0)),
        Op::Quantile { q } => format!("quantile({}, {q})", input(0)),
        Op::Dot => format!("dot({}, {})", input(0), input(1)),
        Op::Transpose => format!("transpose({})", input(0)),
        Op::Reshape { shape } => format!("reshape({}, {shape:?})", input(0)),
        Op::Slice { ranges } => {
            let r: Vec<String> = ranges.iter().map(|(a, b)| format!("{a}..{b}")).collect();
            format!("{}[{}]", input(0), r.join(", "))
        }
        Op::Select { columns } => format!("{}[{}]", input(0), columns.join(", ")),
        Op::Column { name } => format!("{}.{name}", input(0)),
        Op::TextEquals { column, value } => format!("{}.{column} == {value:?}", input(0)),
        Op::Head { n } => format!("head({}, {n})", input(0)),
        Op::Sample { n, seed } => format!("sample({}, {n} rows, seed {seed})", input(0)),
        Op::RowCount => format!("rows({})", input(0)),
        Op::ToArray => format!("to_array({})", input(0)),
        Op::Filter => format!("{} where {}", input(0), input(1)),
        Op::Sort { by, descending } => format!(
            "sort({} by {by}{})",
            input(0),
            if *descending { ", descending" } else { "" }
        ),
        Op::WithColumn { name } => format!("{} with column {name} = {}", input(0), input(1)),
        Op::GroupBy { by, aggs } => {
            let a: Vec<String> = aggs
                .iter()
                .map(|(c, g)| format!("{}({c})", format!("{g:?}").to_lowercase()))
                .collect();
            format!("group {} by {by}: {}", input(0), a.join(", "))
        }
        Op::ValueCounts { column } => format!("value_counts({}.{column})", input(0)),
        Op::Describe => format!("describe({})", input(0)),
        Op::Join { on, left } => format!(
            "{} {}join {} on {on}",
            input(0),
            if *left { "left " } else { "" },
            input(1)
        ),
        Op::Standardize => format!("standardize({})", input(0)),
        Op::Split {
            test_fraction,
            seed,
            test,
        } => format!(
            "{} rows of {} (test fraction {test_fraction}, seed {seed})",
            if *test { "test" } else { "training" },
            input(0)
        ),
        Op::LogisticFit {
            iterations,
            learning_rate,
        } => format!(
            "logistic_fit(features {}, targets {}, {iterations} iterations, rate {learning_rate})",
            input(0),
            input(1)
        ),
        Op::LogisticPredict => format!(
            "logistic_predict(weights {}, features {})",
            input(0),
            input(1)
        ),
        Op::Accuracy => format!("accuracy({} against {})", input(0), input(1)),
        Op::ConfusionMatrix => format!("confusion_matrix({} against {})", input(0), input(1)),
    }
}

fn op_name(kind: Reduce) -> String {
    format!("{kind:?}").to_lowercase()
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&describe(self, &["x".into(), "y".into()]))
    }
}

/// An aggregate for [`Op::GroupBy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Agg {
    /// Rows in the group.
    Count,
    /// Sum.
    Sum,
    /// Mean.
    Mean,
    /// Smallest value.
    Min,
    /// Largest value.
    Max,
    /// Population standard deviation.
    Std,
}

impl Agg {
    /// Its name, e.g. `mean`.
    pub fn name(self) -> &'static str {
        match self {
            Agg::Count => "count",
            Agg::Sum => "sum",
            Agg::Mean => "mean",
            Agg::Min => "min",
            Agg::Max => "max",
            Agg::Std => "std",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_keep_their_wire_form() {
        // Stored actions and every client depend on this form: changing it needs a new OPS_VERSION.
        let op = Op::Arith {
            kind: Arith::Add,
            scalar: Some(3.0),
            scalar_left: false,
        };
        let wire = serde_json::to_value(&op).unwrap();
        assert_eq!(
            wire,
            serde_json::json!({"op": "arith", "kind": "add", "scalar": 3.0, "scalar_left": false})
        );
        let back: Op =
            serde_json::from_value(serde_json::json!({"op": "sample", "n": 5, "seed": 10}))
                .unwrap();
        assert_eq!(back, Op::Sample { n: 5, seed: 10 });
        assert_eq!(back.arity(), 1);
        assert_eq!(back.name(), "sample");
        assert_eq!(describe(&back, &["y".into()]), "sample(y, 5 rows, seed 10)");
        assert_eq!(Op::Dot.arity(), 2);
        assert_eq!(Agg::Mean.name(), "mean");
    }
}
