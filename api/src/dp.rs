//! Differentially private releases: what a scientist asks ([`DpQuery`]), what it would cost
//! ([`DpPlan`]) and what it releases ([`DpRelease`]), the budgets owners set ([`Budget`]) and the
//! ranges and categories they declare for columns ([`Domain`]).
//!
//! An aggregate pointer (a count, sum, mean, quantile or value counts over one value per row of an
//! asset) may be released without an owner's approval, with noise whose scale the query's
//! sensitivity and ε set, while the scientist's budget on the dataset allows: each release spends
//! its ε, for good.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A differentially private release of an aggregate pointer, as a scientist asks for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DpQuery {
    /// The privacy loss to spend, ε > 0.
    pub epsilon: f64,
    /// The range values are clamped to before they are summed (sums, means, quantiles), if not
    /// the one the owner declared for the column.
    #[serde(default)]
    pub bounds: Option<(f64, f64)>,
    /// The values counted (value counts), if not the categories the owner declared.
    #[serde(default)]
    pub categories: Option<Vec<String>>,
}

impl DpQuery {
    /// A release spending `epsilon`.
    pub fn new(epsilon: f64) -> DpQuery {
        DpQuery {
            epsilon,
            bounds: None,
            categories: None,
        }
    }

    /// Clamps each value to `[lower, upper]` before aggregating: the range a sum, mean or
    /// quantile's noise is scaled to.
    pub fn bounds(mut self, lower: f64, upper: f64) -> DpQuery {
        self.bounds = Some((lower, upper));
        self
    }

    /// Counts only these values (value counts): which values exist must not come from the data.
    pub fn categories<S: Into<String>>(mut self, values: impl IntoIterator<Item = S>) -> DpQuery {
        self.categories = Some(values.into_iter().map(Into::into).collect());
        self
    }
}

impl From<f64> for DpQuery {
    fn from(epsilon: f64) -> DpQuery {
        DpQuery::new(epsilon)
    }
}

/// What a release would do, decided before anything real is read: shown before ε is spent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DpPlan {
    /// The aggregate, as the datasite reads it: `mean(Features.radius1 clamped to [5, 30])`.
    pub query: String,
    /// The dataset whose budget it spends.
    pub dataset: String,
    /// How the noise is made.
    pub mechanism: String,
    /// How far one person's row can move the exact answer (add or remove one row).
    pub sensitivity: String,
    /// The noise's scale, in the answer's units (for a mean, of its sum; for a quantile, the
    /// grid's step): a discrete Laplace noise's standard deviation is about 1.4 times this.
    pub noise_scale: f64,
    /// The ε it spends (as used: a whole number of 2^-20ths, never more than asked).
    pub epsilon: f64,
    /// The budget left on the dataset before it, and after.
    pub remaining_before: f64,
    /// The budget left after it.
    pub remaining_after: f64,
}

/// A released answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DpValue {
    /// A count, sum, mean or quantile.
    Number(f64),
    /// Counts of the categories, in the order asked.
    Counts(Vec<(String, f64)>),
}

impl fmt::Display for DpValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DpValue::Number(x) => write!(f, "{x}"),
            DpValue::Counts(counts) => {
                let parts: Vec<String> = counts.iter().map(|(k, n)| format!("{k}: {n}")).collect();
                write!(f, "{{{}}}", parts.join(", "))
            }
        }
    }
}

/// A differentially private release: the noisy answer and what it cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DpRelease {
    /// The answer, with noise.
    pub value: DpValue,
    /// What was computed and spent.
    pub plan: DpPlan,
    /// The release's receipt, tied to the audit entry that recorded it.
    pub receipt: crate::receipt::Receipt,
}

/// A scientist's privacy budget on a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    /// Whose (their email).
    pub user: String,
    /// On which dataset.
    pub dataset: String,
    /// The total ε the owner allows.
    pub epsilon: f64,
    /// The ε spent so far.
    pub spent: f64,
    /// How many releases spent it.
    pub releases: u64,
}

impl Budget {
    /// The ε left.
    pub fn remaining(&self) -> f64 {
        (self.epsilon - self.spent).max(0.0)
    }
}

/// What an owner declares of a column (or of a 1-d array asset), for releases that need it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Domain {
    /// Values lie in `[lower, upper]`: sums, means and quantiles clamp to it.
    Range {
        /// Least value.
        lower: f64,
        /// Greatest value.
        upper: f64,
    },
    /// The values a text column takes: value counts count these.
    Categories(Vec<String>),
}
