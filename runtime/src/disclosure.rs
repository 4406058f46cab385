//! Automatic output checks on every release an owner approves (statistical disclosure control,
//! with ACRO's rules and defaults): minimum cell count, dominance (N, K), p-percent, zeros,
//! degrees of freedom of models, and results that are individual records.
//!
//! A pointer's result is checked from its recorded steps and the real data behind them: the last
//! step says what the result is (a statistic over some rows, a table of counts, a model, or rows
//! themselves), and the datasite computes each cell's people and contributions from the real
//! values its inputs hold. A code request's output is opaque, so it is checked for what can be seen
//! in it: rows equal to rows of the frames it was given. Thresholds are per dataset
//! ([`Client::set_disclosure_rules`](crate::Client::set_disclosure_rules)); a result drawing on
//! several datasets meets the strictest of each. Every review shows each check; approving a
//! result a check fails needs an override with a reason, which the audit log keeps, and a code
//! run's output that fails is withheld from its requester unless the approval overrode.

use std::collections::{BTreeMap, HashSet};

use polars::prelude::{DataFrame, DataType};
use rusqlite::{OptionalExtension, params};
pub use veil_api::disclosure::{Check, Rules, Verdict};
use veil_api::ops::{Agg, Op, Reduce};

use crate::audit;
use crate::data::Data;
use crate::display::Table;
use crate::error::{Error, Result};
use crate::replay::Side;
use crate::site::SiteCore;
use crate::users::{User, require_owner};

/// A released cell: how many people are behind it, and what each contributed to a statistic
/// (empty for a count).
struct Cell {
    label: String,
    people: usize,
    contributions: Vec<f64>,
}

/// What a result is, as its last recorded step says.
enum Shape {
    /// Counts and statistics over groups of people.
    Cells(Vec<Cell>),
    /// A fitted model: rows it was fitted on, and parameters.
    Model { rows: usize, parameters: usize },
    /// One person's value (a minimum, a maximum, the position of the largest).
    Extreme(String),
    /// Values or rows of people, one each: `what` says how many.
    Records(String),
    /// Nothing the checks can decide.
    Opaque(String),
}

fn check(rule: &str, verdict: Verdict, reason: impl Into<String>) -> Check {
    Check {
        rule: rule.into(),
        verdict,
        reason: reason.into(),
    }
}

/// At most `n` of `items`, with how many more: `a, b, c and 4 more`.
fn some(items: &[String], n: usize) -> String {
    let shown = items.iter().take(n).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > n {
        format!("{shown} and {} more", items.len() - n)
    } else {
        shown
    }
}

/// The checks of cells against `rules`.
fn check_cells(cells: &[Cell], rules: &Rules) -> Vec<Check> {
    let mut out = Vec::new();
    let zeros: Vec<String> = cells
        .iter()
        .filter(|c| c.people == 0)
        .map(|c| c.label.clone())
        .collect();
    out.push(match (zeros.is_empty(), rules.zeros_disclosive) {
        (true, _) => check("zeros", Verdict::Pass, "no cell is empty"),
        (false, true) => check(
            "zeros",
            Verdict::Fail,
            format!("{} empty: a zero says that nobody has it", some(&zeros, 5)),
        ),
        (false, false) => check(
            "zeros",
            Verdict::Pass,
            format!(
                "{} empty; zeros are not disclosive on this dataset",
                some(&zeros, 5)
            ),
        ),
    });
    let small: Vec<String> = cells
        .iter()
        .filter(|c| c.people > 0 && (c.people as u64) < rules.min_count)
        .map(|c| format!("{} ({} people)", c.label, c.people))
        .collect();
    let least = cells.iter().map(|c| c.people).filter(|&n| n > 0).min();
    out.push(if small.is_empty() {
        check(
            "minimum cell count",
            Verdict::Pass,
            format!(
                "every cell has at least {} people{}",
                rules.min_count,
                least.map_or(String::new(), |n| format!(" (the fewest: {n})"))
            ),
        )
    } else {
        check(
            "minimum cell count",
            Verdict::Fail,
            format!(
                "fewer than {} people in {}",
                rules.min_count,
                some(&small, 5)
            ),
        )
    });
    let statistics: Vec<&Cell> = cells
        .iter()
        .filter(|c| !c.contributions.is_empty())
        .collect();
    if statistics.is_empty() {
        return out;
    }
    let (mut dominated, mut close) = (Vec::new(), Vec::new());
    for cell in &statistics {
        let mut values: Vec<f64> = cell
            .contributions
            .iter()
            .map(|v| v.abs())
            .filter(|v| v.is_finite())
            .collect();
        values.sort_by(|a, b| b.total_cmp(a));
        let total: f64 = values.iter().sum();
        if total <= 0.0 {
            continue;
        }
        let top: f64 = values.iter().take(rules.dominance_n as usize).sum();
        if top > rules.dominance_k * total {
            dominated.push(format!(
                "{} (the largest {} make {:.1}%)",
                cell.label,
                rules.dominance_n,
                100.0 * top / total
            ));
        }
        let largest = values[0];
        let rest = total - largest - values.get(1).copied().unwrap_or(0.0);
        if largest > 0.0 && rest < rules.p_percent * largest {
            close.push(format!(
                "{} (the others leave the largest within {:.1}%)",
                cell.label,
                100.0 * rest / largest
            ));
        }
    }
    out.push(if dominated.is_empty() {
        check(
            "dominance",
            Verdict::Pass,
            format!(
                "in no statistic do the {} largest contributions make more than {:.0}%",
                rules.dominance_n,
                100.0 * rules.dominance_k
            ),
        )
    } else {
        check("dominance", Verdict::Fail, some(&dominated, 5))
    });
    out.push(if close.is_empty() {
        check(
            "p-percent",
            Verdict::Pass,
            format!(
                "no contributor could estimate another's value within {:.0}%",
                100.0 * rules.p_percent
            ),
        )
    } else {
        check("p-percent", Verdict::Fail, some(&close, 5))
    });
    out
}

/// The checks a result of `shape` gets.
fn check_shape(shape: Shape, rules: &Rules) -> Vec<Check> {
    match shape {
        Shape::Cells(cells) => check_cells(&cells, rules),
        Shape::Model { rows, parameters } => {
            let df = rows.saturating_sub(parameters) as u64;
            vec![if df >= rules.min_degrees_of_freedom {
                check(
                    "degrees of freedom",
                    Verdict::Pass,
                    format!("{df} ({rows} rows, {parameters} parameters)"),
                )
            } else {
                check(
                    "degrees of freedom",
                    Verdict::Fail,
                    format!(
                        "{df}, fewer than {} ({rows} rows, {parameters} parameters): the model nearly restates its rows",
                        rules.min_degrees_of_freedom
                    ),
                )
            }]
        }
        Shape::Extreme(what) => vec![check(
            "individual records",
            Verdict::Fail,
            format!("{what} is one person's value"),
        )],
        Shape::Records(what) => vec![check(
            "individual records",
            Verdict::Fail,
            format!("{what}, one per person: not an aggregate"),
        )],
        Shape::Opaque(what) => vec![check("aggregate", Verdict::Review, what)],
    }
}

fn values(data: &Data) -> Vec<f64> {
    match data {
        Data::F64(a) => a.iter().copied().collect(),
        Data::I64(a) => a.iter().map(|&v| v as f64).collect(),
        _ => Vec::new(),
    }
}

fn rows(data: &Data) -> usize {
    match data {
        Data::Frame(df) => df.height(),
        other => other.shape().first().copied().unwrap_or(1),
    }
}

/// Rows of `result` equal, on every one of its columns, to a row of `source` (when all its
/// columns are `source`'s): the labels of the first few.
fn matching_rows(result: &DataFrame, source: &DataFrame) -> Result<Vec<String>> {
    let names: Vec<String> = result
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    if names.is_empty() || names.iter().any(|n| source.column(n).is_err()) {
        return Ok(Vec::new());
    }
    let keys = |df: &DataFrame| -> Result<Vec<String>> {
        let mut out = vec![String::new(); df.height()];
        for name in &names {
            let col = df
                .column(name)
                .map_err(Error::data("reading a column"))?
                .cast(&DataType::String)
                .map_err(Error::data("reading a column as text"))?;
            let text = col.str().map_err(Error::data("reading a column as text"))?;
            for (key, v) in out.iter_mut().zip(text.iter()) {
                key.push_str(v.unwrap_or("\u{0}null"));
                key.push('\u{1f}');
            }
        }
        Ok(out)
    };
    let real: HashSet<String> = keys(source)?.into_iter().collect();
    Ok(keys(result)?
        .iter()
        .enumerate()
        .filter(|(_, k)| real.contains(*k))
        .map(|(i, _)| format!("row {i}"))
        .collect())
}

impl SiteCore {
    /// The strictest of the rules of the datasets behind `asset_ids`.
    fn rules_for(&self, asset_ids: &[String]) -> Result<Rules> {
        let mut strictest: Option<Rules> = None;
        for id in asset_ids {
            let json: Option<Option<String>> = self.store.read(|conn| {
                conn.query_row(
                    "SELECT d.disclosure_rules FROM assets a JOIN datasets d ON d.id = a.dataset_id WHERE a.id = ?1",
                    [id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(Error::sqlite("reading disclosure rules"))
            })?;
            let rules = parse_rules(json.flatten())?;
            strictest = Some(match strictest {
                None => rules,
                Some(s) => Rules {
                    min_count: s.min_count.max(rules.min_count),
                    dominance_n: s.dominance_n.max(rules.dominance_n),
                    dominance_k: s.dominance_k.min(rules.dominance_k),
                    p_percent: s.p_percent.max(rules.p_percent),
                    zeros_disclosive: s.zeros_disclosive || rules.zeros_disclosive,
                    min_degrees_of_freedom: s
                        .min_degrees_of_freedom
                        .max(rules.min_degrees_of_freedom),
                },
            });
        }
        Ok(strictest.unwrap_or_default())
    }

    /// The assets object `id` derives from, by id.
    pub(crate) fn assets_under(&self, id: &str) -> Result<Vec<String>> {
        let (mut out, mut seen, mut stack) = (Vec::new(), HashSet::new(), vec![id.to_string()]);
        while let Some(oid) = stack.pop() {
            if !seen.insert(oid.clone()) {
                continue;
            }
            let Some(row) = self.object(&oid)? else {
                continue;
            };
            if let Op::Asset { asset_id } = &row.op
                && !out.contains(asset_id)
            {
                out.push(asset_id.clone());
            }
            stack.extend(row.inputs);
        }
        Ok(out)
    }

    /// What the result of object `id` is, from its last step and the real values of its inputs.
    fn shape_of(&self, id: &str, real: &Data) -> Result<Shape> {
        let row = self.object(id)?.ok_or_else(|| {
            Error::corrupt("checking a result", format!("object {id} is missing"))
        })?;
        let input = |i: usize| -> Result<std::sync::Arc<Data>> {
            let id = row
                .inputs
                .get(i)
                .ok_or_else(|| Error::corrupt("checking a result", "a step without its input"))?;
            self.value(Side::Real, id)
        };
        let name = row.op.name();
        Ok(match &row.op {
            Op::Literal { .. } => Shape::Cells(Vec::new()),
            Op::Reduce {
                kind: Reduce::Min | Reduce::Max | Reduce::Argmax,
                ..
            } => Shape::Extreme(format!("`{name}`")),
            Op::Quantile { .. } => Shape::Opaque(
                "a quantile is the value of one row: check that it cannot identify anyone".into(),
            ),
            Op::Reduce { axis: None, .. } => {
                let xs = values(&*input(0)?);
                Shape::Cells(vec![Cell {
                    label: format!("`{name}`"),
                    people: xs.len(),
                    contributions: xs,
                }])
            }
            Op::Reduce {
                axis: Some(axis), ..
            } => {
                let data = input(0)?;
                let Data::F64(a) = data.as_ref() else {
                    return Ok(Shape::Opaque(format!("`{name}` along an axis of a frame")));
                };
                let axis = ndarray::Axis(*axis);
                if axis.index() >= a.ndim() {
                    return Ok(Shape::Opaque(format!("`{name}` along a missing axis")));
                }
                Shape::Cells(
                    a.lanes(axis)
                        .into_iter()
                        .enumerate()
                        .map(|(i, lane)| Cell {
                            label: format!("`{name}` {i}"),
                            people: lane.len(),
                            contributions: lane.to_vec(),
                        })
                        .collect(),
                )
            }
            Op::RowCount => Shape::Cells(vec![Cell {
                label: "the count".into(),
                people: values(real).first().copied().unwrap_or(0.0) as usize,
                contributions: Vec::new(),
            }]),
            Op::ValueCounts { column } => {
                let Data::Frame(df) = real else {
                    return Ok(Shape::Opaque("value counts that are not a frame".into()));
                };
                let keys = crate::analysis::keys(df, column, "checking value counts")?;
                let counts = crate::analysis::numbers(df, "count", "checking value counts")?;
                Shape::Cells(
                    keys.into_iter()
                        .zip(counts)
                        .map(|(k, n)| Cell {
                            label: format!("{column} = {k}"),
                            people: n as usize,
                            contributions: Vec::new(),
                        })
                        .collect(),
                )
            }
            Op::GroupBy { by, aggs } => {
                let data = input(0)?;
                let Data::Frame(df) = data.as_ref() else {
                    return Ok(Shape::Opaque("a group-by of something not a frame".into()));
                };
                if let Some((column, agg)) =
                    aggs.iter().find(|(_, a)| matches!(a, Agg::Min | Agg::Max))
                {
                    return Ok(Shape::Extreme(format!(
                        "the {} of `{column}` in each group",
                        agg.name()
                    )));
                }
                let keys = crate::analysis::keys(df, by, "checking a group-by")?;
                let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
                for (row, key) in keys.iter().enumerate() {
                    groups.entry(key).or_default().push(row);
                }
                let mut cells = Vec::new();
                for (column, agg) in aggs {
                    let column_values = if *agg == Agg::Count {
                        None
                    } else {
                        Some(crate::analysis::numbers(df, column, "checking a group-by")?)
                    };
                    for (key, members) in &groups {
                        cells.push(Cell {
                            label: format!("{by} = {key} ({} {column})", agg.name()),
                            people: members.len(),
                            contributions: column_values
                                .as_ref()
                                .map(|v| members.iter().map(|&r| v[r]).collect())
                                .unwrap_or_default(),
                        });
                    }
                }
                Shape::Cells(cells)
            }
            Op::Describe => Shape::Extreme("`describe`'s min and max of each column".into()),
            Op::LogisticFit { .. } => {
                let features = input(0)?;
                let shape = features.shape();
                Shape::Model {
                    rows: shape.first().copied().unwrap_or(0),
                    parameters: shape.get(1).copied().unwrap_or(1) + 1,
                }
            }
            Op::Accuracy => Shape::Cells(vec![Cell {
                label: "the rows scored".into(),
                people: rows(&*input(0)?),
                contributions: Vec::new(),
            }]),
            Op::ConfusionMatrix => Shape::Cells(
                [
                    "true negatives",
                    "false positives",
                    "false negatives",
                    "true positives",
                ]
                .iter()
                .zip(values(real))
                .map(|(label, n)| Cell {
                    label: label.to_string(),
                    people: n as usize,
                    contributions: Vec::new(),
                })
                .collect(),
            ),
            Op::Dot | Op::Transpose | Op::Reshape { .. } | Op::Standardize => Shape::Opaque(
                format!("`{name}` keeps one value per row or mixes them: check what it reveals"),
            ),
            _ => Shape::Records(format!(
                "{} {}",
                rows(real),
                if matches!(real, Data::Frame(_)) {
                    "rows"
                } else {
                    "values"
                }
            )),
        })
    }

    /// The checks of what request object `id` would release: its real value `real`.
    pub(crate) fn check_result(&self, id: &str, real: &Data) -> Result<Vec<Check>> {
        let assets = self.assets_under(id)?;
        if assets.is_empty() {
            return Ok(vec![check(
                "individual records",
                Verdict::Pass,
                "it derives from no asset",
            )]);
        }
        let rules = self.rules_for(&assets)?;
        Ok(check_shape(self.shape_of(id, real)?, &rules))
    }

    /// The checks of a code run's `output`, given frames of `asset_ids`: rows of the real data.
    pub(crate) fn check_output(&self, asset_ids: &[String], output: &Data) -> Result<Vec<Check>> {
        let Data::Frame(result) = output else {
            return Ok(vec![check(
                "individual records",
                Verdict::Review,
                format!("a {} from code: check what it reveals", output.kind()),
            )]);
        };
        let rules = self.rules_for(asset_ids)?;
        let mut found = Vec::new();
        for id in asset_ids {
            if let Data::Frame(source) = self.asset_value(Side::Real, id)?.as_ref() {
                found.extend(matching_rows(result, source)?);
            }
        }
        found.dedup();
        Ok(vec![if found.is_empty() {
            check(
                "individual records",
                Verdict::Pass,
                format!(
                    "no row of its {} is a row of the data it was given",
                    result.height()
                ),
            )
        } else {
            check(
                "individual records",
                Verdict::Fail,
                format!(
                    "{} equal rows of the real data (at least {} people's records)",
                    some(&found, 5),
                    found.len().min(rules.min_count as usize)
                ),
            )
        }])
    }

    /// Sets `dataset`'s disclosure rules (owners).
    pub(crate) fn set_disclosure_rules(
        &self,
        caller: &User,
        dataset: &str,
        rules: &Rules,
    ) -> Result<Rules> {
        require_owner(
            caller,
            "setting disclosure rules",
            "ask the datasite's owner",
        )?;
        let share = |v: f64| v.is_finite() && (0.0..=1.0).contains(&v);
        if rules.min_count == 0
            || rules.dominance_n == 0
            || !share(rules.dominance_k)
            || !share(rules.p_percent)
        {
            return Err(Error::invalid(
                "disclosure rules",
                format!("{rules:?}"),
                "give a minimum count and a dominance N of at least 1, and K and p as shares between 0 and 1",
            ));
        }
        let dataset = self.dataset_by("name", dataset.trim())?;
        let json = serde_json::to_string(rules).expect("rules serialise");
        self.store.write("setting disclosure rules", |tx| {
            tx.execute(
                "UPDATE datasets SET disclosure_rules = ?2 WHERE id = ?1",
                params![dataset.id, json],
            )
            .map_err(Error::sqlite("setting disclosure rules"))?;
            audit::record(tx, &caller.email, "set_rules", &dataset.name, &json)
        })?;
        Ok(rules.clone())
    }

    /// `dataset`'s disclosure rules.
    pub(crate) fn disclosure_rules(&self, dataset: &str) -> Result<Rules> {
        let dataset = self.dataset_by("name", dataset.trim())?;
        let json: Option<String> = self.store.read(|conn| {
            conn.query_row(
                "SELECT disclosure_rules FROM datasets WHERE id = ?1",
                [&dataset.id],
                |r| r.get(0),
            )
            .map_err(Error::sqlite("reading disclosure rules"))
        })?;
        parse_rules(json)
    }
}

fn parse_rules(json: Option<String>) -> Result<Rules> {
    json.map_or(Ok(Rules::default()), |j| {
        serde_json::from_str(&j)
            .map_err(|e| Error::corrupt("reading disclosure rules", e.to_string()))
    })
}

/// The checks, as a table's rows.
pub(crate) fn check_rows(checks: &[Check]) -> Vec<Vec<String>> {
    checks
        .iter()
        .map(|c| vec![c.rule.clone(), c.verdict.to_string(), c.reason.clone()])
        .collect()
}

/// A dataset's rules as shown.
pub(crate) fn rules_table(rules: &Rules) -> Table {
    Table::fields(
        "Disclosure rules",
        [
            ("minimum cell count", rules.min_count.to_string()),
            (
                "dominance (N, K)",
                format!("{}, {:.0}%", rules.dominance_n, 100.0 * rules.dominance_k),
            ),
            ("p-percent", format!("{:.0}%", 100.0 * rules.p_percent)),
            ("zeros disclosive", rules.zeros_disclosive.to_string()),
            (
                "degrees of freedom of models",
                rules.min_degrees_of_freedom.to_string(),
            ),
        ],
    )
}

crate::display::render_via_table!(Rules => rules_table);

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(cells: &[(&str, usize)]) -> Vec<Cell> {
        cells
            .iter()
            .map(|(l, n)| Cell {
                label: l.to_string(),
                people: *n,
                contributions: Vec::new(),
            })
            .collect()
    }

    fn verdict(checks: &[Check], rule: &str) -> Verdict {
        checks
            .iter()
            .find(|c| c.rule == rule)
            .unwrap_or_else(|| panic!("no `{rule}` in {checks:?}"))
            .verdict
    }

    #[test]
    fn small_cells_fail_the_minimum_count_and_zeros_are_disclosive() {
        let rules = Rules::default();
        let ok = check_cells(&counts(&[("B", 357), ("M", 212)]), &rules);
        assert_eq!(verdict(&ok, "minimum cell count"), Verdict::Pass);
        assert_eq!(verdict(&ok, "zeros"), Verdict::Pass);
        let small = check_cells(&counts(&[("B", 357), ("M", 9)]), &rules);
        assert_eq!(verdict(&small, "minimum cell count"), Verdict::Fail);
        assert!(small[1].reason.contains("M (9 people)"), "{small:?}");
        let zero = check_cells(&counts(&[("B", 357), ("M", 0)]), &rules);
        assert_eq!(verdict(&zero, "zeros"), Verdict::Fail);
        let lenient = Rules {
            zeros_disclosive: false,
            ..Rules::default()
        };
        assert_eq!(
            verdict(&check_cells(&counts(&[("M", 0)]), &lenient), "zeros"),
            Verdict::Pass
        );
        // Exactly the threshold passes.
        let edge = check_cells(&counts(&[("B", 10)]), &rules);
        assert_eq!(verdict(&edge, "minimum cell count"), Verdict::Pass);
    }

    fn statistic(values: &[f64]) -> Vec<Cell> {
        vec![Cell {
            label: "sum".into(),
            people: values.len(),
            contributions: values.to_vec(),
        }]
    }

    #[test]
    fn dominance_and_p_percent_catch_a_statistic_one_contributor_makes() {
        let rules = Rules::default();
        // Twelve people, two of them 95% of the total: dominance (2, 90%) fails.
        let mut values = vec![1.0; 10];
        values.extend([100.0, 100.0]);
        let dominated = check_cells(&statistic(&values), &rules);
        assert_eq!(verdict(&dominated, "dominance"), Verdict::Fail);
        assert_eq!(verdict(&dominated, "minimum cell count"), Verdict::Pass);
        // One large contributor: the others' total (11) is within 10% of the largest (200), so
        // the second largest could estimate it: p-percent fails, dominance too.
        let mut values = vec![1.0; 11];
        values.push(200.0);
        let one = check_cells(&statistic(&values), &rules);
        assert_eq!(verdict(&one, "p-percent"), Verdict::Fail);
        // Even contributions pass both.
        let even = check_cells(&statistic(&[5.0; 20]), &rules);
        assert_eq!(verdict(&even, "dominance"), Verdict::Pass);
        assert_eq!(verdict(&even, "p-percent"), Verdict::Pass);
        // With a lower K, dominance catches what p-percent (10%) does not: three people of
        // 40, 40 and 20 pass p-percent (the rest, 20, is half the largest) but the top two make 80%.
        let strict = Rules {
            dominance_k: 0.7,
            ..Rules::default()
        };
        let three = check_cells(&statistic(&[40.0, 40.0, 20.0]), &strict);
        assert_eq!(verdict(&three, "dominance"), Verdict::Fail);
        assert_eq!(verdict(&three, "p-percent"), Verdict::Pass);
    }

    #[test]
    fn models_need_degrees_of_freedom_and_records_fail() {
        let rules = Rules::default();
        let fine = check_shape(
            Shape::Model {
                rows: 569,
                parameters: 31,
            },
            &rules,
        );
        assert_eq!(verdict(&fine, "degrees of freedom"), Verdict::Pass);
        let overfit = check_shape(
            Shape::Model {
                rows: 40,
                parameters: 31,
            },
            &rules,
        );
        assert_eq!(verdict(&overfit, "degrees of freedom"), Verdict::Fail);
        let records = check_shape(Shape::Records("1 rows".into()), &rules);
        assert_eq!(verdict(&records, "individual records"), Verdict::Fail);
    }
}
