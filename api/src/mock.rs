//! Mocks with a stated guarantee, and what a mock gives away.
//!
//! A [`Synthesis`] says how to make a mock from nothing but what the owner declares (schema only)
//! or from differentially private marginals of the real data; an asset built with
//! `Asset::mock_synthesized(spec)` has its mock made by the datasite, which records the spec. A
//! [`MockReport`] is the datasite's measure, at upload, of how much any mock reveals of its real
//! data: real rows it repeats, columns whose real values an affine fit recovers from it, and
//! columns whose values it repeats exactly.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::dp::Domain;

/// How a synthesized mock is made. Every column needs a declared domain (its range, or its
/// categories); nothing else of the real data is read, except, for DP marginals, each column's
/// histogram over its domain, with noise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Synthesis {
    /// Schema only, or DP marginals.
    pub method: Method,
    /// Each column's declared domain, by name.
    pub columns: Vec<(String, Domain)>,
    /// Rows of the mock (default: as many as the real data, which its shape shows anyway).
    pub rows: Option<usize>,
    /// Seeds the sampling of rows (never the noise, which comes from the OS's generator).
    pub seed: u64,
}

/// What a synthesized mock is made from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Values drawn uniformly from each column's declared domain: the mock tells nothing of the
    /// real values.
    SchemaOnly,
    /// Values drawn, column by column, from the real data's histogram over the declared domain with
    /// discrete Laplace noise: ε-differentially private in all (ε split evenly over the columns),
    /// the columns independent of one another.
    DpMarginals {
        /// The ε the whole mock spends.
        epsilon: f64,
        /// Bins of each range's histogram.
        bins: u32,
    },
}

/// Bins of a range's histogram unless [`Synthesis::bins`] says otherwise.
pub const DEFAULT_BINS: u32 = 16;

impl Synthesis {
    /// A mock drawn from the declared domains alone.
    pub fn schema_only() -> Synthesis {
        Synthesis {
            method: Method::SchemaOnly,
            columns: Vec::new(),
            rows: None,
            seed: 0,
        }
    }

    /// A mock drawn from noisy per-column histograms of the real data, spending `epsilon` in all.
    pub fn dp_marginals(epsilon: f64) -> Synthesis {
        Synthesis {
            method: Method::DpMarginals {
                epsilon,
                bins: DEFAULT_BINS,
            },
            ..Synthesis::schema_only()
        }
    }

    /// Declares that `column`'s values lie in `[lower, upper]`.
    pub fn range(mut self, column: impl Into<String>, lower: f64, upper: f64) -> Synthesis {
        self.columns
            .push((column.into(), Domain::Range { lower, upper }));
        self
    }

    /// Declares the values a text column takes.
    pub fn categories<S: Into<String>>(
        mut self,
        column: impl Into<String>,
        values: impl IntoIterator<Item = S>,
    ) -> Synthesis {
        let values = values.into_iter().map(Into::into).collect();
        self.columns
            .push((column.into(), Domain::Categories(values)));
        self
    }

    /// Rows of the mock.
    pub fn rows(mut self, rows: usize) -> Synthesis {
        self.rows = Some(rows);
        self
    }

    /// Seeds the sampling of rows.
    pub fn seed(mut self, seed: u64) -> Synthesis {
        self.seed = seed;
        self
    }

    /// Bins of each range's histogram (DP marginals).
    pub fn bins(mut self, bins: u32) -> Synthesis {
        if let Method::DpMarginals { bins: b, .. } = &mut self.method {
            *b = bins;
        }
        self
    }

    /// The declared domain of `column`.
    pub fn domain(&self, column: &str) -> Option<&Domain> {
        self.columns
            .iter()
            .rev()
            .find(|(c, _)| c == column)
            .map(|(_, d)| d)
    }
}

impl fmt::Display for Synthesis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.method {
            Method::SchemaOnly => {
                f.write_str("synthesized from the declared schema only (no real value read)")
            }
            Method::DpMarginals { epsilon, bins } => write!(
                f,
                "synthesized from per-column histograms with discrete Laplace noise, ε = {epsilon} in all ({bins} bins per range, columns independent)"
            ),
        }
    }
}

/// How much a mock gives away of its real data, measured by the datasite at upload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MockReport {
    /// How the mock was made: the synthesis the datasite ran, or `given by the owner`.
    pub made: String,
    /// Rows of the real data compared (the first ones, up to a bound).
    pub real_rows: u64,
    /// Rows of the mock compared.
    pub mock_rows: u64,
    /// Mock rows equal, value for value, to a real row.
    pub exact_rows: u64,
    /// Each column's measures.
    pub columns: Vec<ColumnReport>,
}

/// One column's measures in a [`MockReport`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnReport {
    /// The column (an array's values: `values`).
    pub column: String,
    /// For numeric columns of a mock as long as the data: the error of the best affine fit of the
    /// real values on the mock's, row by row, as a fraction of the real values' standard
    /// deviation (0: the mock gives every real value away; about 1: it gives nothing by position).
    pub affine_error: Option<f64>,
    /// Whether the mock's values are the real values, reordered (its marginal is exact).
    pub exact_marginal: bool,
}

/// An affine error under this gives the column away: each real value is recovered from its row of
/// the mock within half the column's spread.
pub const REVEALING_AFFINE_ERROR: f64 = 0.5;

impl MockReport {
    /// What the mock gives away, one sentence each; empty when nothing was found.
    pub fn findings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.exact_rows > 0 {
            out.push(format!(
                "{} of the mock's {} rows are real rows",
                self.exact_rows, self.mock_rows
            ));
        }
        let revealed: Vec<String> = self
            .columns
            .iter()
            .filter_map(|c| {
                c.affine_error
                    .filter(|e| *e < REVEALING_AFFINE_ERROR)
                    .map(|e| format!("{} (error {:.3} of its spread)", c.column, e))
            })
            .collect();
        if !revealed.is_empty() {
            out.push(format!(
                "real values are recovered from the mock's rows by an affine fit: {}",
                revealed.join(", ")
            ));
        }
        let exact: Vec<&str> = self
            .columns
            .iter()
            .filter(|c| c.exact_marginal)
            .map(|c| c.column.as_str())
            .collect();
        if !exact.is_empty() {
            out.push(format!(
                "the mock repeats the real values exactly (exact marginals): {}",
                exact.join(", ")
            ));
        }
        out
    }
}
