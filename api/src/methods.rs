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

/// The plotting methods of a frame a program or a cell holds (`veil::Data`, the facade's `Data`),
/// written once over its own `fn plot(&self, spec: PlotSpec) -> Result<Plot>`, with the invoking
/// crate's `Result` and `Plot` in scope. Each method names a [`PlotSpec`](crate::kernel::PlotSpec)
/// and draws it. A plot draws what the holder already has, a mock or a released result: it
/// releases nothing.
#[macro_export]
macro_rules! plot_methods {
    ($t:ty) => {
        impl $t {
            /// A histogram of a frame's numeric `column`, in 20 bins (`mock.hist("radius1")?`).
            pub fn hist(&self, column: &str) -> Result<Plot> {
                self.plot($crate::kernel::PlotSpec::Hist {
                    column: column.into(),
                    bins: None,
                })
            }
            /// A histogram of a frame's numeric `column`, in `bins` bins.
            pub fn hist_bins(&self, column: &str, bins: usize) -> Result<Plot> {
                self.plot($crate::kernel::PlotSpec::Hist {
                    column: column.into(),
                    bins: Some(bins),
                })
            }
            /// A bar chart of a frame's `column`'s value counts, most frequent first.
            pub fn bar_counts(&self, column: &str) -> Result<Plot> {
                self.plot($crate::kernel::PlotSpec::Counts {
                    column: column.into(),
                })
            }
            /// A scatter plot of a frame's numeric column `y` against `x`.
            pub fn scatter(&self, x: &str, y: &str) -> Result<Plot> {
                self.plot($crate::kernel::PlotSpec::Scatter {
                    x: x.into(),
                    y: y.into(),
                })
            }
            /// A line through a frame's numeric column `y` against `x`, in the order of `x`.
            pub fn line(&self, x: &str, y: &str) -> Result<Plot> {
                self.plot($crate::kernel::PlotSpec::Line {
                    x: x.into(),
                    y: y.into(),
                })
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

/// The handles' methods that are one datasite call each, written once for a program's handles (the
/// `veil` crate's) and a cell's (the facade's): `Client`, `Pointer`, `Request` and `SiteAsset`,
/// each with its own `fn ask(&self, call) -> Result<T>` that sends a call as the handle's client
/// and reads the reply the call's declaration gives ([`DatasiteCall::Reply`](crate::call::DatasiteCall::Reply))
/// as `T`, the invoking crate's handle or view for it. Invoked once in each crate, where its own
/// `Result`, `Data` and handle types (`User`, `UserList`, `DatasetList`, `SiteDataset`,
/// `AuditLog`, `RequestList`, `Review`, `Receipt`, `Verification`, `Budget`, `BudgetList`,
/// `DisclosureRules`, `DpPlan`, `DpRelease`, `PointerStatus`, `SubmittedCode`, `PrivateRun`,
/// `Code`) are in scope: a return type a crate cannot read its call's reply as does not build.
#[macro_export]
macro_rules! handle_methods {
    () => {
        impl Client {
            /// The logged-in user, as the datasite knows them now.
            pub fn whoami(&self) -> Result<User> {
                self.ask($crate::calls::Whoami {})
            }

            /// Registers a user (owners and admins; only admins register admins).
            pub fn register(&self, user: $crate::view::NewUser) -> Result<User> {
                self.ask($crate::calls::Register { user })
            }

            /// Every registered user (owners and admins).
            pub fn users(&self) -> Result<UserList> {
                self.ask($crate::calls::Users {})
            }

            /// Changes the logged-in user's password.
            pub fn change_password(&self, old: &str, new: &str) -> Result<()> {
                self.ask($crate::calls::ChangePassword {
                    old: $crate::call::Secret(old.into()),
                    new: $crate::call::Secret(new.into()),
                })
            }

            /// Sets another user's password (admins).
            pub fn reset_password(&self, email: &str, new: &str) -> Result<()> {
                self.ask($crate::calls::ResetPassword {
                    email: email.into(),
                    new: $crate::call::Secret(new.into()),
                })
            }

            /// Changes a user's role (admins).
            pub fn set_role(&self, email: &str, role: $crate::view::Role) -> Result<User> {
                self.ask($crate::calls::SetRole {
                    email: email.into(),
                    role,
                })
            }

            /// Deletes a user and their sessions (owners and admins; only admins delete admins).
            pub fn delete_user(&self, email: &str) -> Result<()> {
                self.ask($crate::calls::DeleteUser {
                    email: email.into(),
                })
            }

            /// Lets people register themselves (`Datasite::sign_up`), or stops it (owners).
            pub fn set_signup(&self, enabled: bool) -> Result<()> {
                self.ask($crate::calls::SetSignup { enabled })
            }

            /// Every dataset on the datasite, oldest first (anyone logged in).
            pub fn datasets(&self) -> Result<DatasetList> {
                self.ask($crate::calls::Datasets {})
            }

            /// The dataset called `name`, case-insensitively (anyone logged in).
            pub fn dataset(&self, name: &str) -> Result<SiteDataset> {
                self.ask($crate::calls::Dataset { name: name.into() })
            }

            /// Deletes a dataset, its assets and their stored data (owners and admins).
            pub fn delete_dataset(&self, name: &str) -> Result<()> {
                self.ask($crate::calls::DeleteDataset { name: name.into() })
            }

            /// The audit log, oldest entry first (owners and admins).
            pub fn audit_log(&self) -> Result<AuditLog> {
                self.ask($crate::calls::AuditLog {})
            }

            /// The datasite's gauges (owners and admins), a frame of `metric`, `value` and `unit`:
            /// users, datasets, requests by status, releases, ε spent, replays waiting or failed,
            /// the value cache, the audit log and the store's bytes on disk.
            pub fn metrics(&self) -> Result<Data> {
                self.ask($crate::calls::Metrics {})
            }

            /// Ends the session; later calls through this client fail with `SessionExpired`.
            pub fn logout(&self) -> Result<()> {
                self.ask($crate::calls::Logout {})
            }

            /// Requests: an owner sees everyone's, a scientist her own. Newest first.
            pub fn requests(&self) -> Result<RequestList> {
                self.ask($crate::calls::Requests {})
            }

            /// A request by number (`#3`, as `%requests` shows it) or by id (a unique prefix is
            /// enough).
            pub fn request(&self, key: &str) -> Result<Request> {
                self.ask($crate::calls::FindRequest { key: key.into() })
            }

            /// Submits `code` for the owner's review, saying why (PySyft's
            /// `request_code_execution`). It is run on the mocks first, so code that does not
            /// compile or fails there is refused at once; the same code (source, inputs and
            /// policy) submitted twice is refused too. The request's `get()` returns the real
            /// result once approved.
            pub fn request_code_execution(&self, code: &Code, reason: &str) -> Result<Request> {
                self.ask($crate::calls::RequestCode {
                    code: code.spec()?,
                    reason: reason.into(),
                })
            }

            /// Sets a data scientist's privacy budget on a dataset: the ε their differentially
            /// private releases (`pointer.get_dp(..)`) may spend in all (owners). What was spent
            /// stays spent; 0 stops further releases.
            pub fn set_budget(&self, email: &str, dataset: &str, epsilon: f64) -> Result<Budget> {
                self.ask($crate::calls::SetBudget {
                    email: email.into(),
                    dataset: dataset.into(),
                    epsilon,
                })
            }

            /// Privacy budgets and what was spent of them: an owner sees everyone's, a scientist
            /// hers.
            pub fn budgets(&self) -> Result<BudgetList> {
                self.ask($crate::calls::Budgets {})
            }

            /// Sets a dataset's disclosure rules (owners): the thresholds every release an owner
            /// approves is checked against (ACRO's defaults until set).
            pub fn set_disclosure_rules(
                &self,
                dataset: &str,
                rules: $crate::disclosure::Rules,
            ) -> Result<DisclosureRules> {
                self.ask($crate::calls::SetDisclosureRules {
                    dataset: dataset.into(),
                    rules,
                })
            }

            /// A dataset's disclosure rules (anyone logged in).
            pub fn disclosure_rules(&self, dataset: &str) -> Result<DisclosureRules> {
                self.ask($crate::calls::DisclosureRules {
                    dataset: dataset.into(),
                })
            }

            /// Checks a receipt against the datasite's hash-chained audit log: the entry it names
            /// records it, unaltered, and so is every entry before. Anyone logged in may check any
            /// receipt.
            pub fn verify_receipt(
                &self,
                receipt: &$crate::receipt::Receipt,
            ) -> Result<Verification> {
                self.ask($crate::calls::VerifyReceipt {
                    receipt: receipt.clone(),
                })
            }
        }

        impl Pointer {
            /// Where your request for its real result stands: private, requested, approved,
            /// denied or sent back for changes (with the owner's reason); it displays as
            /// `private`, `requested`, `approved`, `denied: REASON` or `changes requested: ...`.
            pub fn status(&self) -> Result<PointerStatus> {
                self.ask($crate::calls::PointerStatus {
                    pointer: self.id().into(),
                })
            }

            /// Asks the owner for the real result, saying why.
            pub fn request(&self, reason: &str) -> Result<Request> {
                self.ask($crate::calls::RequestResult {
                    pointer: self.id().into(),
                    reason: reason.into(),
                })
            }

            /// The real result, once the owner approved your request for it (at once for values
            /// made only from your own arrays, and for owners).
            pub fn get(&self) -> Result<Data> {
                self.ask($crate::calls::PointerResult {
                    pointer: self.id().into(),
                })
            }

            /// Releases this aggregate (a count, sum, mean, quantile or value counts over one
            /// value per row of an asset) with differential privacy, without waiting for an owner:
            /// noise scaled to the query's sensitivity over ε is added, and ε is spent from your
            /// budget on the dataset, for good. `pointer.get_dp(0.5)`, or
            /// `pointer.get_dp(DpQuery::new(0.5).bounds(0.0, 40.0))` where the owner declared no
            /// range for the values. `pointer.preview_dp(..)` shows the cost first.
            pub fn get_dp(&self, query: impl Into<$crate::dp::DpQuery>) -> Result<DpRelease> {
                self.ask($crate::calls::ReleaseDp {
                    pointer: self.id().into(),
                    query: query.into(),
                })
            }

            /// What `get_dp` would compute, how much noise it would add and what it would cost,
            /// and the budget left before and after; nothing is spent and nothing real is read.
            pub fn preview_dp(&self, query: impl Into<$crate::dp::DpQuery>) -> Result<DpPlan> {
                self.ask($crate::calls::PreviewDp {
                    pointer: self.id().into(),
                    query: query.into(),
                })
            }
        }

        impl Request {
            /// Everything an owner needs to decide: who, why, and what would be released. For a
            /// pointer's result, the steps back to the assets, the mock result and a preview of
            /// the real one; for code, its source, bound inputs, output policy and mock result
            /// (run it on the real data with `run_privately`); and the disclosure checks.
            pub fn review(&self) -> Result<Review> {
                self.ask($crate::calls::Review {
                    request: self.id.clone(),
                })
            }

            /// The released result, for its requester once approved: a pointer's real result,
            /// or the latest result of approved code (run now if it has not run yet). A pending or
            /// denied request gives `ApprovalPending` or `RequestDenied`.
            pub fn get(&self) -> Result<Data> {
                self.ask($crate::calls::Result {
                    request: self.id.clone(),
                })
            }

            /// The receipt of this request's latest release (its requester and owners): the
            /// datasets' versions, the computation, the policy, the checks, who released it and
            /// the audit entry that records it. `client.verify_receipt(&receipt)` checks it
            /// against the log.
            pub fn receipt(&self) -> Result<Receipt> {
                self.ask($crate::calls::Receipt {
                    request: self.id.clone(),
                })
            }

            /// Approved code: runs it on the real data again, if its output policy has a run
            /// left, and returns the new result. For the requester only.
            pub fn run(&self) -> Result<Data> {
                self.ask($crate::calls::Run {
                    request: self.id.clone(),
                })
            }

            /// The submitted code of a code request (its requester and owners): its source, the
            /// call the datasite makes, its policy and runs, and its result on the mocks.
            pub fn code(&self) -> Result<SubmittedCode> {
                self.ask($crate::calls::Code {
                    request: self.id.clone(),
                })
            }

            /// Owners: runs a code request on the real data now, for your eyes only, to see what
            /// approving would release; nothing is released and the output policy is not used.
            pub fn run_privately(&self) -> Result<PrivateRun> {
                self.ask($crate::calls::RunPrivately {
                    request: self.id.clone(),
                })
            }

            /// Approves (owners): a pointer's real result is released to the requester alone;
            /// code may then run under its output policy. A result a disclosure check fails (see
            /// the review) needs `approve_overriding`. Returns the request as decided.
            pub fn approve(&self) -> Result<Request> {
                self.ask($crate::calls::Approve {
                    request: self.id.clone(),
                    overriding: None,
                })
            }

            /// Approves although a disclosure check fails, saying why the result may be
            /// released; the audit log keeps the reason. On an approved code request, releases
            /// runs whose output a check withheld.
            pub fn approve_overriding(&self, reason: &str) -> Result<Request> {
                self.ask($crate::calls::Approve {
                    request: self.id.clone(),
                    overriding: Some(reason.into()),
                })
            }

            /// Sends it back to its requester with `message`, the changes it needs (owners):
            /// neither an approval nor a denial. The requester sees the message and may submit a
            /// new request.
            pub fn request_changes(&self, message: &str) -> Result<Request> {
                self.ask($crate::calls::RequestChanges {
                    request: self.id.clone(),
                    message: message.into(),
                })
            }

            /// Denies, with a reason the requester sees (owners). Returns the request as
            /// decided.
            pub fn deny(&self, reason: &str) -> Result<Request> {
                self.ask($crate::calls::Deny {
                    request: self.id.clone(),
                    reason: reason.into(),
                })
            }
        }

        impl SiteAsset {
            /// The mock: what everyone allowed to see the dataset may work on.
            pub fn mock(&self) -> Result<Data> {
                self.ask($crate::calls::AssetData {
                    asset: self.id().into(),
                    real: false,
                })
            }

            /// The real data: owners and admins only, and the read is audited. A scientist gets
            /// `PermissionDenied` and works on the mock instead, asking for real results through
            /// requests the owner approves.
            pub fn data(&self) -> Result<Data> {
                self.ask($crate::calls::AssetData {
                    asset: self.id().into(),
                    real: true,
                })
            }

            /// Declares the range of a column's values (owners): differentially private sums,
            /// means and quantiles of the column clamp to it unless the query states its own. For
            /// a 1-d array asset, `column` is `""` (its values).
            pub fn set_bounds(&self, column: &str, lower: f64, upper: f64) -> Result<()> {
                self.set_domain(column, $crate::dp::Domain::Range { lower, upper })
            }

            /// Declares the values a text column takes (owners): differentially private value
            /// counts of the column count these unless the query states its own. Which values
            /// exist must not come from the data, so nothing else is ever counted.
            pub fn set_categories<S: Into<String>>(
                &self,
                column: &str,
                values: impl IntoIterator<Item = S>,
            ) -> Result<()> {
                let values = values.into_iter().map(Into::into).collect();
                self.set_domain(column, $crate::dp::Domain::Categories(values))
            }

            fn set_domain(&self, column: &str, domain: $crate::dp::Domain) -> Result<()> {
                self.ask($crate::calls::SetDomain {
                    asset: self.id().into(),
                    column: (!column.is_empty()).then(|| column.to_string()),
                    domain,
                })
            }
        }
    };
}
