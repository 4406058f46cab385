//! Release rules as cells see them: differentially private releases and privacy budgets (the
//! datasite plans, spends and adds the noise: see the `veil` crate's `dp` module), the
//! disclosure rules every approved release is checked against, and the receipts releases carry
//! (see the `veil` crate's `receipt` module). These are the datasite's views,
//! each with its display, read through `Deref` (`release.value`, `plan.remaining_after`,
//! `budget.spent`).

use std::fmt;

use veil_api::call::Call;
pub use veil_api::disclosure::{Check, Rules, Verdict};
pub use veil_api::dp::{Domain, DpQuery, DpValue};

use crate::bridge::{Rendered, Result, Shown, rich_via_rendered};
use crate::pointer::Pointer;
use crate::site::{Client, SiteAsset};

/// Wraps a vocabulary view with its display, readable through `Deref` and printed as its text.
macro_rules! shown_view {
    ($($(#[$doc:meta])* $name:ident => $view:ty),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name {
            view: $view,
            rendered: Rendered,
        }

        impl From<Shown<$view>> for $name {
            fn from(shown: Shown<$view>) -> $name {
                $name {
                    view: shown.view,
                    rendered: shown.rendered,
                }
            }
        }

        impl std::ops::Deref for $name {
            type Target = $view;
            fn deref(&self) -> &$view {
                &self.view
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.rendered.text)
            }
        }

        rich_via_rendered!($name => |v: &$name| v.rendered.clone());
    )*};
}

shown_view!(
    /// What a release would compute and cost ([`Pointer::preview_dp`]).
    DpPlan => veil_api::dp::DpPlan,
    /// A released answer with its cost ([`Pointer::get_dp`]).
    DpRelease => veil_api::dp::DpRelease,
    /// A scientist's privacy budget on a dataset.
    Budget => veil_api::dp::Budget,
    /// A dataset's disclosure rules.
    DisclosureRules => Rules,
    /// A released result's receipt ([`Request::receipt`](crate::Request::receipt); a DP
    /// release carries its own): what produced it, who released it, and the audit entry that
    /// records it.
    Receipt => veil_api::receipt::Receipt,
    /// A receipt found, unaltered, in the datasite's hash-chained audit log
    /// ([`Client::verify_receipt`]).
    Verification => veil_api::receipt::Verification,
);

/// Privacy budgets.
#[derive(Clone)]
pub struct BudgetList {
    /// The budgets.
    pub budgets: Vec<Budget>,
    rendered: Rendered,
}

impl std::ops::Deref for BudgetList {
    type Target = [Budget];
    fn deref(&self) -> &[Budget] {
        &self.budgets
    }
}

impl fmt::Debug for BudgetList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rendered.text)
    }
}

rich_via_rendered!(BudgetList => |b: &BudgetList| b.rendered.clone());

impl Pointer {
    /// Releases this aggregate (a count, sum, mean, quantile or value counts over one value per
    /// row of an asset) with differential privacy, without waiting for an owner: noise scaled to
    /// the query's sensitivity over ε is added, and ε is spent from your budget on the dataset, for
    /// good. `pointer.get_dp(0.5)`, or `pointer.get_dp(DpQuery::new(0.5).bounds(0.0, 40.0))` where
    /// the owner declared no range for the values. [`Pointer::preview_dp`] shows the cost first.
    pub fn get_dp(&self, query: impl Into<DpQuery>) -> Result<DpRelease> {
        let call = Call::ReleaseDp {
            pointer: self.id().to_string(),
            query: query.into(),
        };
        self.client().send::<Shown<_>>(call).map(DpRelease::from)
    }

    /// What [`Pointer::get_dp`] would compute, how much noise it would add and what it would cost,
    /// and the budget left before and after; nothing is spent and nothing real is read.
    pub fn preview_dp(&self, query: impl Into<DpQuery>) -> Result<DpPlan> {
        let call = Call::PreviewDp {
            pointer: self.id().to_string(),
            query: query.into(),
        };
        self.client().send::<Shown<_>>(call).map(DpPlan::from)
    }
}

impl Client {
    /// Sets a data scientist's privacy budget on a dataset: the ε their differentially private
    /// releases ([`Pointer::get_dp`]) may spend in all (owners). What was spent stays spent; 0
    /// stops further releases.
    pub fn set_budget(&self, email: &str, dataset: &str, epsilon: f64) -> Result<Budget> {
        let call = Call::SetBudget {
            email: email.into(),
            dataset: dataset.into(),
            epsilon,
        };
        self.send::<Shown<_>>(call).map(Budget::from)
    }

    /// Sets a dataset's disclosure rules (owners): the thresholds every release an owner approves
    /// is checked against (ACRO's defaults until set).
    pub fn set_disclosure_rules(&self, dataset: &str, rules: Rules) -> Result<DisclosureRules> {
        let call = Call::SetDisclosureRules {
            dataset: dataset.into(),
            rules,
        };
        self.send::<Shown<_>>(call).map(DisclosureRules::from)
    }

    /// A dataset's disclosure rules.
    pub fn disclosure_rules(&self, dataset: &str) -> Result<DisclosureRules> {
        let call = Call::DisclosureRules {
            dataset: dataset.into(),
        };
        self.send::<Shown<_>>(call).map(DisclosureRules::from)
    }

    /// Checks a receipt against the datasite's hash-chained audit log: the entry it names records
    /// it, unaltered, and so is every entry before. Anyone logged in may check any receipt.
    pub fn verify_receipt(&self, receipt: &veil_api::receipt::Receipt) -> Result<Verification> {
        let call = Call::VerifyReceipt {
            receipt: receipt.clone(),
        };
        self.send::<Shown<_>>(call).map(Verification::from)
    }

    /// Privacy budgets and what was spent of them: an owner sees everyone's, a scientist hers.
    pub fn budgets(&self) -> Result<BudgetList> {
        let list: Shown<Vec<Shown<veil_api::dp::Budget>>> = self.send(Call::Budgets)?;
        Ok(BudgetList {
            budgets: list.view.into_iter().map(Budget::from).collect(),
            rendered: list.rendered,
        })
    }
}

impl SiteAsset {
    /// Declares the range of a column's values (owners): differentially private sums, means and
    /// quantiles of the column clamp to it unless the query states its own. For a 1-d array
    /// asset, `column` is `""` (its values).
    pub fn set_bounds(&self, column: &str, lower: f64, upper: f64) -> Result<()> {
        self.set_domain(column, Domain::Range { lower, upper })
    }

    /// Declares the values a text column takes (owners): differentially private value counts of
    /// the column count these unless the query states its own. Which values exist must not come
    /// from the data, so nothing else is ever counted.
    pub fn set_categories<S: Into<String>>(
        &self,
        column: &str,
        values: impl IntoIterator<Item = S>,
    ) -> Result<()> {
        let values = values.into_iter().map(Into::into).collect();
        self.set_domain(column, Domain::Categories(values))
    }

    fn set_domain(&self, column: &str, domain: Domain) -> Result<()> {
        let call = Call::SetDomain {
            asset: self.id().to_string(),
            column: (!column.is_empty()).then(|| column.to_string()),
            domain,
        };
        self.client().send(call)
    }
}
