//! Release rules as cells see them: differentially private releases and privacy budgets (the
//! datasite plans, spends and adds the noise: see the `veil` crate's `dp` module), the
//! disclosure rules every approved release is checked against, and the receipts releases carry
//! (see the `veil` crate's `receipt` module). These are the datasite's views,
//! each with its display, read through `Deref` (`release.value`, `plan.remaining_after`,
//! `budget.spent`).

use std::fmt;

pub use veil_api::disclosure::{Check, Rules, Verdict};
pub use veil_api::dp::{Domain, DpQuery, DpValue};

use crate::bridge::{Rendered, Result, Shown, rich_via_rendered};
use crate::calls::Answer;
use crate::site::Client;

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

        impl Answer<$view> for $name {
            type Sent = Shown<$view>;
            fn answer(shown: Shown<$view>, _: &Client) -> Result<$name> {
                Ok(shown.into())
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
    /// What a release would compute and cost ([`Pointer::preview_dp`](crate::Pointer::preview_dp)).
    DpPlan => veil_api::dp::DpPlan,
    /// A released answer with its cost ([`Pointer::get_dp`](crate::Pointer::get_dp)).
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

impl Answer<Vec<veil_api::dp::Budget>> for BudgetList {
    type Sent = Shown<Vec<Shown<veil_api::dp::Budget>>>;
    fn answer(list: Self::Sent, _: &Client) -> Result<BudgetList> {
        Ok(BudgetList {
            budgets: list.view.into_iter().map(Budget::from).collect(),
            rendered: list.rendered,
        })
    }
}
