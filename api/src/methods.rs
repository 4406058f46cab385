//! The methods every op-taking type shares, written once: a pointer in a program (`veil::Pointer`),
//! a pointer in a cell and a cell's own data (the facade's `Pointer` and `Data`) take the same ops by
//! the same names.

/// Implements the op methods (`sum`, `pow`, `column`, `filter`, ...) and the arithmetic operators
/// (`&x + 1.0`, `&x * &y`, `2.0 - &x`, `-&x`) for `$t`, over its own
/// `fn apply(&self, op: Op, others: &[&Self]) -> Result<Self>` (with the `Result` in scope where it is
/// invoked). Each method builds the [`Op`](crate::ops::Op) and calls `apply` once.
#[macro_export]
macro_rules! op_methods {
    ($t:ty) => {
        impl $t {
            /// `self` to the power `exponent`, element-wise.
            pub fn pow(&self, exponent: f64) -> Result<Self> {
                self.apply($crate::ops::Op::Arith { kind: $crate::ops::Arith::Pow, scalar: Some(exponent), scalar_left: false }, &[])
            }
            /// `|x|` element-wise.
            pub fn abs(&self) -> Result<Self> {
                self.apply($crate::ops::Op::Unary { kind: $crate::ops::Unary::Abs }, &[])
            }
            /// `√x` element-wise.
            pub fn sqrt(&self) -> Result<Self> {
                self.apply($crate::ops::Op::Unary { kind: $crate::ops::Unary::Sqrt }, &[])
            }
            /// `eˣ` element-wise.
            pub fn exp(&self) -> Result<Self> {
                self.apply($crate::ops::Op::Unary { kind: $crate::ops::Unary::Exp }, &[])
            }
            /// Natural logarithm element-wise.
            pub fn log(&self) -> Result<Self> {
                self.apply($crate::ops::Op::Unary { kind: $crate::ops::Unary::Log }, &[])
            }
            /// Mask of `x < v`.
            pub fn lt(&self, v: f64) -> Result<Self> {
                self.apply($crate::ops::Op::Compare { kind: $crate::ops::Compare::Lt, scalar: Some(v) }, &[])
            }
            /// Mask of `x <= v`.
            pub fn le(&self, v: f64) -> Result<Self> {
                self.apply($crate::ops::Op::Compare { kind: $crate::ops::Compare::Le, scalar: Some(v) }, &[])
            }
            /// Mask of `x > v`.
            pub fn gt(&self, v: f64) -> Result<Self> {
                self.apply($crate::ops::Op::Compare { kind: $crate::ops::Compare::Gt, scalar: Some(v) }, &[])
            }
            /// Mask of `x >= v`.
            pub fn ge(&self, v: f64) -> Result<Self> {
                self.apply($crate::ops::Op::Compare { kind: $crate::ops::Compare::Ge, scalar: Some(v) }, &[])
            }
            /// Mask of `x == v`.
            pub fn eq(&self, v: f64) -> Result<Self> {
                self.apply($crate::ops::Op::Compare { kind: $crate::ops::Compare::Eq, scalar: Some(v) }, &[])
            }
            /// Mask of `x != v`.
            pub fn ne(&self, v: f64) -> Result<Self> {
                self.apply($crate::ops::Op::Compare { kind: $crate::ops::Compare::Ne, scalar: Some(v) }, &[])
            }
            /// Mask of `x < other`, element-wise.
            pub fn lt_ptr(&self, other: &Self) -> Result<Self> {
                self.apply($crate::ops::Op::Compare { kind: $crate::ops::Compare::Lt, scalar: None }, &[other])
            }
            /// Mask of `x == other`, element-wise.
            pub fn eq_ptr(&self, other: &Self) -> Result<Self> {
                self.apply($crate::ops::Op::Compare { kind: $crate::ops::Compare::Eq, scalar: None }, &[other])
            }
            /// Sum of every value.
            pub fn sum(&self) -> Result<Self> {
                self.apply($crate::ops::Op::Reduce { kind: $crate::ops::Reduce::Sum, axis: None }, &[])
            }
            /// Mean of every value.
            pub fn mean(&self) -> Result<Self> {
                self.apply($crate::ops::Op::Reduce { kind: $crate::ops::Reduce::Mean, axis: None }, &[])
            }
            /// The `q` quantile (0 to 1) of every value: `quantile(0.5)` is the median.
            pub fn quantile(&self, q: f64) -> Result<Self> {
                self.apply($crate::ops::Op::Quantile { q }, &[])
            }
            /// Smallest value.
            pub fn min(&self) -> Result<Self> {
                self.apply($crate::ops::Op::Reduce { kind: $crate::ops::Reduce::Min, axis: None }, &[])
            }
            /// Largest value.
            pub fn max(&self) -> Result<Self> {
                self.apply($crate::ops::Op::Reduce { kind: $crate::ops::Reduce::Max, axis: None }, &[])
            }
            /// Population standard deviation.
            pub fn std(&self) -> Result<Self> {
                self.apply($crate::ops::Op::Reduce { kind: $crate::ops::Reduce::Std, axis: None }, &[])
            }
            /// Population variance.
            pub fn var(&self) -> Result<Self> {
                self.apply($crate::ops::Op::Reduce { kind: $crate::ops::Reduce::Var, axis: None }, &[])
            }
            /// Index of the largest value in the flattened array.
            pub fn argmax(&self) -> Result<Self> {
                self.apply($crate::ops::Op::Reduce { kind: $crate::ops::Reduce::Argmax, axis: None }, &[])
            }
            /// A reduction along `axis`: `x.along(0, Reduce::Mean)` is the column means of a matrix.
            pub fn along(&self, axis: usize, kind: $crate::ops::Reduce) -> Result<Self> {
                self.apply($crate::ops::Op::Reduce { kind, axis: Some(axis) }, &[])
            }
            /// Dot, matrix-vector or matrix-matrix product.
            pub fn dot(&self, other: &Self) -> Result<Self> {
                self.apply($crate::ops::Op::Dot, &[other])
            }
            /// The axes reversed.
            pub fn t(&self) -> Result<Self> {
                self.apply($crate::ops::Op::Transpose, &[])
            }
            /// The same values in `shape`.
            pub fn reshape(&self, shape: &[usize]) -> Result<Self> {
                self.apply(
                    $crate::ops::Op::Reshape {
                        shape: shape.to_vec(),
                    },
                    &[],
                )
            }
            /// `[start, end)` along each leading axis.
            pub fn slice(&self, ranges: &[std::ops::Range<usize>]) -> Result<Self> {
                self.apply(
                    $crate::ops::Op::Slice {
                        ranges: ranges.iter().map(|r| (r.start, r.end)).collect(),
                    },
                    &[],
                )
            }
            /// A frame's columns, in this order.
            pub fn select<S: AsRef<str>>(&self, columns: impl IntoIterator<Item = S>) -> Result<Self> {
                let columns = columns
                    .into_iter()
                    .map(|c| c.as_ref().to_string())
                    .collect();
                self.apply($crate::ops::Op::Select { columns }, &[])
            }
            /// One numeric column of a frame, as a 1-d array.
            pub fn column(&self, name: &str) -> Result<Self> {
                self.apply($crate::ops::Op::Column { name: name.into() }, &[])
            }
            /// A 0/1 mask of the rows whose text column `column` equals `value`.
            pub fn text_equals(&self, column: &str, value: &str) -> Result<Self> {
                self.apply(
                    $crate::ops::Op::TextEquals {
                        column: column.into(),
                        value: value.into(),
                    },
                    &[],
                )
            }
            /// The first `n` rows.
            pub fn head(&self, n: usize) -> Result<Self> {
                self.apply($crate::ops::Op::Head { n }, &[])
            }
            /// `n` rows drawn without replacement by a shuffle seeded with `seed`.
            pub fn sample(&self, n: usize, seed: u64) -> Result<Self> {
                self.apply($crate::ops::Op::Sample { n, seed }, &[])
            }
            /// The number of rows.
            pub fn row_count(&self) -> Result<Self> {
                self.apply($crate::ops::Op::RowCount, &[])
            }
            /// A frame of numeric columns as a 2-d array.
            pub fn to_array(&self) -> Result<Self> {
                self.apply($crate::ops::Op::ToArray, &[])
            }
            /// The rows where `mask` (a 1-d pointer, e.g. from `gt`) is non-zero.
            pub fn filter(&self, mask: &Self) -> Result<Self> {
                self.apply($crate::ops::Op::Filter, &[mask])
            }
            /// A frame sorted by `by`.
            pub fn sort(&self, by: &str, descending: bool) -> Result<Self> {
                self.apply(
                    $crate::ops::Op::Sort {
                        by: by.into(),
                        descending,
                    },
                    &[],
                )
            }
            /// This frame with `values` (a 1-d pointer) as column `name`.
            pub fn with_column(&self, name: &str, values: &Self) -> Result<Self> {
                self.apply($crate::ops::Op::WithColumn { name: name.into() }, &[values])
            }

            /// One row per value of `by`, with `(column, aggregate)` results: `p.group_by("label", &[("x",
            /// $crate::ops::Agg::Mean)])`.
            pub fn group_by(&self, by: &str, aggs: &[(&str, $crate::ops::Agg)]) -> Result<Self> {
                let aggs = aggs.iter().map(|(c, a)| (c.to_string(), *a)).collect();
                self.apply(
                    $crate::ops::Op::GroupBy {
                        by: by.into(),
                        aggs,
                    },
                    &[],
                )
            }
            /// Each value of `column` with its count, most frequent first.
            pub fn value_counts(&self, column: &str) -> Result<Self> {
                self.apply(
                    $crate::ops::Op::ValueCounts {
                        column: column.into(),
                    },
                    &[],
                )
            }
            /// count, mean, std, min and max of every numeric column.
            pub fn describe(&self) -> Result<Self> {
                self.apply($crate::ops::Op::Describe, &[])
            }
            /// This frame joined with `other` on column `on`; `left` keeps unmatched rows of this one.
            pub fn join(&self, other: &Self, on: &str, left: bool) -> Result<Self> {
                self.apply(
                    $crate::ops::Op::Join {
                        on: on.into(),
                        left,
                    },
                    &[other],
                )
            }
            /// Columns of a 2-d array scaled to mean 0 and standard deviation 1.
            pub fn standardize(&self) -> Result<Self> {
                self.apply($crate::ops::Op::Standardize, &[])
            }
            /// The training rows of a seeded split (`test_fraction` of the rows go to the test set).
            pub fn train_rows(&self, test_fraction: f64, seed: u64) -> Result<Self> {
                self.apply(
                    $crate::ops::Op::Split {
                        test_fraction,
                        seed,
                        test: false,
                    },
                    &[],
                )
            }
            /// The test rows of the same split as `train_rows`.
            pub fn test_rows(&self, test_fraction: f64, seed: u64) -> Result<Self> {
                self.apply(
                    $crate::ops::Op::Split {
                        test_fraction,
                        seed,
                        test: true,
                    },
                    &[],
                )
            }
            /// Logistic regression of `targets` (0/1) on these features: the weights, bias first.
            pub fn logistic_fit(
                &self,
                targets: &Self,
                iterations: usize,
                learning_rate: f64,
            ) -> Result<Self> {
                self.apply(
                    $crate::ops::Op::LogisticFit {
                        iterations,
                        learning_rate,
                    },
                    &[targets],
                )
            }
            /// 0/1 predictions of these weights on `features`.
            pub fn predict(&self, features: &Self) -> Result<Self> {
                self.apply($crate::ops::Op::LogisticPredict, &[features])
            }
            /// The share of these predictions equal to `truth`.
            pub fn accuracy(&self, truth: &Self) -> Result<Self> {
                self.apply($crate::ops::Op::Accuracy, &[truth])
            }
            /// `[[tn, fp], [fn, tp]]` of these predictions against `truth`.
            pub fn confusion_matrix(&self, truth: &Self) -> Result<Self> {
                self.apply($crate::ops::Op::ConfusionMatrix, &[truth])
            }
        }

        $crate::op_methods!(@arith $t, Add, add, Add);
        $crate::op_methods!(@arith $t, Sub, sub, Sub);
        $crate::op_methods!(@arith $t, Mul, mul, Mul);
        $crate::op_methods!(@arith $t, Div, div, Div);
        $crate::op_methods!(@arith $t, Rem, rem, Rem);

        impl std::ops::Neg for &$t {
            type Output = Result<$t>;
            fn neg(self) -> Result<$t> {
                self.apply($crate::ops::Op::Unary { kind: $crate::ops::Unary::Neg }, &[])
            }
        }
    };
    (@arith $t:ty, $trait:ident, $method:ident, $kind:ident) => {
        impl std::ops::$trait<f64> for &$t {
            type Output = Result<$t>;
            fn $method(self, rhs: f64) -> Result<$t> {
                self.apply(
                    $crate::ops::Op::Arith { kind: $crate::ops::Arith::$kind, scalar: Some(rhs), scalar_left: false },
                    &[],
                )
            }
        }
        impl std::ops::$trait<&$t> for &$t {
            type Output = Result<$t>;
            fn $method(self, rhs: &$t) -> Result<$t> {
                self.apply(
                    $crate::ops::Op::Arith { kind: $crate::ops::Arith::$kind, scalar: None, scalar_left: false },
                    &[rhs],
                )
            }
        }
        impl std::ops::$trait<&$t> for f64 {
            type Output = Result<$t>;
            fn $method(self, rhs: &$t) -> Result<$t> {
                rhs.apply(
                    $crate::ops::Op::Arith { kind: $crate::ops::Arith::$kind, scalar: Some(self), scalar_left: true },
                    &[],
                )
            }
        }
    };
}

/// Makes each handle `$t` read as the view it was fetched with, its field `view: $v`: `Deref` and
/// no `DerefMut`, so a handle's fields are read-only and the datasite has nothing in them to believe.
#[macro_export]
macro_rules! reads_as_view {
    ($($t:ty => $v:ty),* $(,)?) => {$(
        impl ::std::ops::Deref for $t {
            type Target = $v;

            fn deref(&self) -> &$v {
                &self.view
            }
        }
    )*};
}
