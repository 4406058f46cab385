//! Automatic output checks (statistical disclosure control) on what a request would release: the
//! rules an owner sets per dataset ([`Rules`], ACRO's defaults), and each check's outcome
//! ([`Check`]), shown in every review. Approving a request a check fails needs an explicit
//! override with a reason.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The thresholds a dataset's releases are checked against. The defaults are ACRO's (the SACRO
/// project's output checker for trusted research environments).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Rules {
    /// Least number of people behind any released count or statistic.
    pub min_count: u64,
    /// Dominance (N, K): a statistic fails when its `dominance_n` largest contributions make up
    /// more than `dominance_k` (a share, 0 to 1) of its total.
    pub dominance_n: u64,
    /// See [`Rules::dominance_n`].
    pub dominance_k: f64,
    /// p-percent: a statistic fails when its total less its two largest contributions is within
    /// `p_percent` (a share, 0 to 1) of the largest: the second largest contributor could then
    /// estimate the largest that closely.
    pub p_percent: f64,
    /// Whether a count of zero is disclosive (it says that nobody has the attribute).
    pub zeros_disclosive: bool,
    /// Least residual degrees of freedom of a released model (rows less parameters).
    pub min_degrees_of_freedom: u64,
    /// Released counts rounded to a multiple of this base (ACRO's optional mitigation, 5 when
    /// on); 0 releases counts exactly.
    pub rounding: u64,
    /// Whether releases to other scientists count when a release is checked for differencing
    /// (scientists may collude and pool what they got).
    pub assume_collusion: bool,
    /// How many different owners must approve a release: 1, or 2 for the two-person rule.
    pub approvals: u64,
}

impl Default for Rules {
    fn default() -> Rules {
        Rules {
            min_count: 10,
            dominance_n: 2,
            dominance_k: 0.9,
            p_percent: 0.1,
            zeros_disclosive: true,
            min_degrees_of_freedom: 10,
            rounding: 0,
            assume_collusion: true,
            approvals: 1,
        }
    }
}

/// A check's outcome. Only [`Verdict::Pass`] lets a plain approval release a result: the checks
/// fail closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Nothing disclosive found.
    Pass,
    /// Disclosive: approving needs an override with a reason.
    Fail,
    /// Decided later: a code request's output is checked as each run releases it (a run whose
    /// output fails is withheld). Counts as failing wherever a release is decided.
    Review,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Review => "review",
        })
    }
}

/// One rule's outcome on a result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// The rule: `individual records`, `zeros`, `minimum cell count`, `dominance`, `p-percent`,
    /// `subset`, `differencing`, `degrees of freedom`, `aggregate`.
    pub rule: String,
    /// Its outcome.
    pub verdict: Verdict,
    /// Why, naming the cells or rows concerned.
    pub reason: String,
}

/// Whether any of `checks` does not pass: the checks fail closed, so what they could not
/// positively clear needs an override.
pub fn fails(checks: &[Check]) -> bool {
    checks.iter().any(|c| c.verdict != Verdict::Pass)
}
