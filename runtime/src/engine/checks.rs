//! The disclosure checks' math, which knows no caller: given the cells a result's provenance
//! gives (`provenance`) and a dataset's rules, each check's verdict and reason; a code run's output
//! read for what it holds; the rounding of released counts; and the form released values are
//! kept in. The datasite (its privacy service, `datasite/privacy/disclosure.rs`) reads the records, finds earlier releases and
//! decides.

use std::collections::HashMap;
use std::sync::Arc;

use polars::prelude::{AnyValue, DataFrame};
pub use veil_api::disclosure::{Check, Rules, Verdict};

use crate::data::Data;
use crate::engine::provenance::{self, Finding, Row};
use crate::error::{Error, Result};

/// What a release would disclose: its checks, and what the datasite keeps of it once released
/// (the rows behind its values, for later differencing; which values are counts, for rounding).
#[derive(Debug, Default)]
pub(crate) struct Assessed {
    pub checks: Vec<Check>,
    /// The distinct values as kept once released: the rows behind each, and each row's
    /// contribution where it is a statistic.
    pub kept: Vec<Kept>,
    /// The assets it draws on.
    pub assets: Vec<String>,
    /// For each value (row-major; a frame's column by column), whether it counts rows.
    pub counts: Vec<bool>,
    /// The rules' rounding base of counts (0: none).
    pub rounding: u64,
}

impl Assessed {
    /// `real` as released: counts rounded to the rules' base where the owner asked for it.
    pub fn released(&self, real: &Data) -> Result<Data> {
        let base = self.rounding as f64;
        if self.rounding == 0 || !self.counts.iter().any(|c| *c) {
            return Ok(real.clone());
        }
        let round = |v: f64| (v / base).round() * base;
        Ok(match real {
            Data::F64(a) => {
                let mut a = a.clone();
                for (v, count) in a.iter_mut().zip(&self.counts) {
                    if *count {
                        *v = round(*v);
                    }
                }
                Data::F64(a)
            }
            Data::Frame(df) => {
                let mut columns = df.columns().to_vec();
                let height = df.height();
                for (j, col) in columns.iter_mut().enumerate() {
                    let flags = &self.counts[(j * height).min(self.counts.len())..];
                    if !flags.iter().take(height).any(|c| *c) || !col.dtype().is_primitive_numeric()
                    {
                        continue;
                    }
                    let values = col
                        .cast(&polars::prelude::DataType::Float64)
                        .map_err(Error::data("rounding counts"))?;
                    let values = values.f64().map_err(Error::data("rounding counts"))?;
                    let rounded: Vec<Option<f64>> = values
                        .iter()
                        .zip(flags)
                        .map(|(v, count)| v.map(|v| if *count { round(v) } else { v }))
                        .collect();
                    *col = polars::prelude::Column::new(col.name().clone(), rounded);
                }
                Data::Frame(
                    DataFrame::new(height, columns).map_err(Error::data("rounding counts"))?,
                )
            }
            other => other.clone(),
        })
    }
}

/// A released value as the datasite keeps it for comparing later releases with.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Kept {
    /// The real rows behind it.
    pub rows: Arc<[Row]>,
    /// Each row's contribution, where it is a statistic.
    pub weights: Option<Arc<[f64]>>,
}

/// Most values of a result whose contributions are kept and compared (see `SiteCore::assess`).
pub(crate) const MAX_COMPARED_STATISTICS: usize = 1000;

/// Released values as stored, little-endian: for each, its number of rows (u32), its rows (u64
/// each), whether contributions follow (u8), and then one (f64) per row.
pub(crate) fn encode_kept(kept: &[Kept]) -> Vec<u8> {
    let mut out = Vec::new();
    for k in kept {
        out.extend_from_slice(&(k.rows.len() as u32).to_le_bytes());
        for row in k.rows.iter() {
            out.extend_from_slice(&row.to_le_bytes());
        }
        out.push(u8::from(k.weights.is_some()));
        for w in k.weights.iter().flat_map(|w| w.iter()) {
            out.extend_from_slice(&w.to_le_bytes());
        }
    }
    out
}

pub(crate) fn decode_kept(mut bytes: &[u8]) -> Result<Vec<Kept>> {
    let bad = || Error::corrupt("reading releases", "a release's rows are cut short");
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let (len, rest) = bytes.split_at_checked(4).ok_or_else(bad)?;
        let n = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
        let (rows, rest) = rest.split_at_checked(n * 8).ok_or_else(bad)?;
        let (flag, mut rest) = rest.split_first().ok_or_else(bad)?;
        let weights = if *flag == 1 {
            let (w, after) = rest.split_at_checked(n * 8).ok_or_else(bad)?;
            rest = after;
            Some(
                w.chunks_exact(8)
                    .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
                    .collect(),
            )
        } else {
            None
        };
        out.push(Kept {
            rows: rows
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect(),
            weights,
        });
        bytes = rest;
    }
    Ok(out)
}

/// A released cell: how many people are behind it, and what each contributed to a statistic
/// (empty for a count).
pub(crate) struct Cell {
    pub label: String,
    pub people: usize,
    pub contributions: Vec<f64>,
}

pub(crate) fn check(rule: &str, verdict: Verdict, reason: impl Into<String>) -> Check {
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
pub(crate) fn check_cells(cells: &[Cell], rules: &Rules) -> Vec<Check> {
    let mut out = Vec::new();
    let single: Vec<String> = cells
        .iter()
        .filter(|c| c.people == 1)
        .map(|c| c.label.clone())
        .collect();
    out.push(if single.is_empty() {
        check(
            "individual records",
            Verdict::Pass,
            format!("none of its {} values is one person's", cells.len()),
        )
    } else {
        check(
            "individual records",
            Verdict::Fail,
            format!(
                "{} of its {} values are each one person's: {}",
                single.len(),
                cells.len(),
                some(&single, 5)
            ),
        )
    });
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
    let mut small: Vec<String> = cells
        .iter()
        .filter(|c| c.people > 0 && (c.people as u64) < rules.min_count)
        .map(|c| format!("{} ({} people)", c.label, c.people))
        .collect();
    // A statistic that only a few people move is a small cell in disguise: `Σ (x·[x > t] + c)`
    // over every row is the few above `t`, whatever `c` adds to every row alike.
    small.extend(
        cells
            .iter()
            .filter(|c| (c.people as u64) >= rules.min_count)
            .filter_map(|c| {
                let movers = provenance::movers(&c.contributions);
                (movers > 0 && (movers as u64) < rules.min_count).then(|| {
                    format!(
                        "{} (only {movers} of its {} people's values differ from the rest)",
                        c.label, c.people
                    )
                })
            }),
    );
    let least = cells.iter().map(|c| c.people).filter(|&n| n > 0).min();
    out.push(if small.is_empty() {
        let counted: Vec<String> = cells
            .iter()
            .map(|c| format!("{} ({} people)", c.label, c.people))
            .collect();
        check(
            "minimum cell count",
            Verdict::Pass,
            format!(
                "every cell has at least {} people{}: {}",
                rules.min_count,
                least.map_or(String::new(), |n| format!(" (the fewest: {n})")),
                some(&counted, 3)
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
        // Dominance on the contributions as they are, then on how far each departs from the
        // others' (a constant added to every row hides a dominant one from the first reading).
        let raw: Vec<f64> = cell.contributions.iter().map(|v| v.abs()).collect();
        let readings = [
            (raw, ""),
            (provenance::departures(&cell.contributions), " departures"),
        ];
        // Each reading's largest few (the dominance rule's n, p-percent's two) and its total.
        let keep = (rules.dominance_n as usize).max(2);
        let readings: Vec<(Vec<f64>, f64, &str)> = readings
            .into_iter()
            .map(|(values, what)| {
                let (top, total) = largest_of(values, keep);
                (top, total, what)
            })
            .filter(|(_, total, _)| *total > 0.0)
            .collect();
        if let Some((top, total, what)) = readings
            .iter()
            .map(|(v, total, what)| {
                (
                    v.iter().take(rules.dominance_n as usize).sum::<f64>(),
                    *total,
                    *what,
                )
            })
            .find(|(top, total, _)| *top > rules.dominance_k * total)
        {
            dominated.push(format!(
                "{} (the largest {}{what} make {:.1}%)",
                cell.label,
                rules.dominance_n,
                100.0 * top / total
            ));
        }
        // p-percent reads the contributions as they are: it models a contributor estimating
        // another's value, which departures from an unknown median do not describe.
        if let Some((values, total, _)) = readings.iter().find(|(_, _, what)| what.is_empty()) {
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

/// The `k` largest finite `values`, largest first, and the sum of all the finite ones: a selection
/// in one pass, not a sort, so a statistic over 1e7 rows is checked in milliseconds.
fn largest_of(mut values: Vec<f64>, k: usize) -> (Vec<f64>, f64) {
    values.retain(|v| v.is_finite());
    let total = values.iter().sum();
    if k > 0 && values.len() > k {
        values.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
        values.truncate(k);
    }
    values.sort_by(|a, b| b.total_cmp(a));
    (values, total)
}

/// The subset rule: every row selection keeps, and removes, at least the minimum count of people
/// (or removes none).
pub(crate) fn subsets(findings: &[Finding], rules: &Rules) -> Check {
    let small: Vec<String> = findings
        .iter()
        .filter_map(|f| match f {
            Finding::Subset {
                step,
                kept,
                removed,
            } => Some(format!("{step} keeps {kept} people and removes {removed}")),
            _ => None,
        })
        .collect();
    if small.is_empty() {
        check(
            "subset",
            Verdict::Pass,
            format!(
                "every row selection keeps at least {} people and removes none or at least as many",
                rules.min_count
            ),
        )
    } else {
        check(
            "subset",
            Verdict::Fail,
            format!(
                "{}: a selection must keep and remove at least {} people, or the rows it leaves out are a release by difference",
                some(&small, 3),
                rules.min_count
            ),
        )
    }
}

/// Per-person weights of the scientist's own: a literal that is not the same for every person,
/// combined with each person's values, can single one out of an aggregate by difference with
/// another release over the same people.
pub(crate) fn weighted(findings: &[Finding]) -> Check {
    let steps: Vec<String> = findings
        .iter()
        .filter_map(|f| match f {
            Finding::Weighted { step } => Some(format!("`{step}`")),
            _ => None,
        })
        .collect();
    if steps.is_empty() {
        check(
            "row weights",
            Verdict::Pass,
            "no step weighs people with values of the scientist's own that differ between them",
        )
    } else {
        check(
            "row weights",
            Verdict::Fail,
            format!(
                "{} weighs each person with a value of the scientist's own, not the same for all: such weights can single a person out of an aggregate",
                some(&steps, 3)
            ),
        )
    }
}

/// The differencing check: values of one request combined though they part in a few people
/// (`findings`), and values that part so from earlier releases (`parted`, of `compared`).
pub(crate) fn differencing(
    findings: &[Finding],
    parted: Vec<String>,
    compared: usize,
    rules: &Rules,
) -> Check {
    let mut found: Vec<String> = findings
        .iter()
        .filter_map(|f| match f {
            Finding::Differencing {
                step,
                left,
                right,
                differ,
            } => Some(format!(
                "`{step}` combines values of {left} and {right} people that part in {differ}"
            )),
            _ => None,
        })
        .collect();
    found.extend(parted);
    if found.is_empty() {
        check(
            "differencing",
            Verdict::Pass,
            format!(
                "no value parts from another, here or released earlier ({compared} releases compared), in fewer than {} people",
                rules.min_count
            ),
        )
    } else {
        check(
            "differencing",
            Verdict::Fail,
            format!(
                "{}: fewer than {} people, so the difference is theirs",
                some(&found, 3),
                rules.min_count
            ),
        )
    }
}

pub(crate) fn degrees_of_freedom(rows: usize, parameters: usize, rules: &Rules) -> Check {
    let df = rows.saturating_sub(parameters) as u64;
    if df >= rules.min_degrees_of_freedom {
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
    }
}

pub(crate) fn rows(data: &Data) -> usize {
    match data {
        Data::Frame(df) => df.height(),
        other => other.shape().first().copied().unwrap_or(1),
    }
}

/// A number as compared with the real data's: six significant digits, so a value printed in a
/// string or passed through `f32` still meets its source.
fn number_key(v: f64) -> String {
    format!("{v:.5e}")
}

/// Whether `v` is a small integer (counts, flags, indices): everywhere, so no one's value.
fn small_integer(v: f64) -> bool {
    v.fract() == 0.0 && v.abs() < 1000.0
}

/// The atoms of a value: its numbers and texts, wherever they sit (frame cells under any name,
/// array elements, JSON leaves, numbers written inside strings).
fn atoms(data: &Data, out: &mut Vec<String>) {
    fn text(s: &str, out: &mut Vec<String>) {
        out.push(format!("t:{s}"));
        for token in
            s.split(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | 'e' | 'E' | '+')))
        {
            if let Ok(v) = token.parse::<f64>()
                && token.chars().any(|c| c.is_ascii_digit())
            {
                number(v, out);
            }
        }
    }
    fn number(v: f64, out: &mut Vec<String>) {
        if v.is_finite() && !small_integer(v) {
            out.push(number_key(v));
        }
    }
    fn json(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Number(n) => number(n.as_f64().unwrap_or(f64::NAN), out),
            serde_json::Value::String(s) => text(s, out),
            serde_json::Value::Array(a) => a.iter().for_each(|v| json(v, out)),
            serde_json::Value::Object(m) => m.iter().for_each(|(k, v)| {
                text(k, out);
                json(v, out)
            }),
            _ => {}
        }
    }
    match data {
        Data::F64(a) => a.iter().for_each(|v| number(*v, out)),
        Data::I64(a) => a.iter().for_each(|v| number(*v as f64, out)),
        Data::Json(v) => json(v, out),
        Data::Frame(df) => {
            for col in df.columns() {
                let s = col.as_materialized_series();
                for v in s.iter() {
                    match v {
                        AnyValue::String(t) => text(t, out),
                        AnyValue::StringOwned(t) => text(&t, out),
                        AnyValue::Null => {}
                        other => {
                            if let Some(x) = other.extract::<f64>() {
                                number(x, out)
                            }
                        }
                    }
                }
            }
        }
    }
}

/// How many values of an output there are, as a reader counts them.
fn size(data: &Data) -> usize {
    match data {
        Data::Frame(df) => df.height() * df.width(),
        Data::Json(_) => {
            let mut out = Vec::new();
            atoms(data, &mut out);
            out.len()
        }
        other => other.shape().iter().product(),
    }
}

/// The checks of a code run's output, read for what it holds whatever its type: values equal to
/// values of the `real` inputs that fewer than the minimum count of rows share (beyond small
/// integers) are records, and so is an output whose size follows its input's rows (compared with
/// `mock`, its output on the mocks and their rows, where there is one).
pub(crate) fn read_output(
    output: &Data,
    real: &[&Data],
    mock: Option<(&Data, usize)>,
    rules: &Rules,
) -> Vec<Check> {
    let mut held: HashMap<String, usize> = HashMap::new();
    let mut input_rows = 0;
    for data in real {
        input_rows = input_rows.max(rows(data));
        let mut found = Vec::new();
        atoms(data, &mut found);
        for a in found {
            *held.entry(a).or_default() += 1;
        }
    }
    let mut found = Vec::new();
    atoms(output, &mut found);
    let min = rules.min_count as usize;
    let records = found
        .iter()
        .filter(|a| held.get(*a).is_some_and(|n| *n < min))
        .count();
    let n = size(output);
    let mut out = vec![if records == 0 {
        check(
            "individual records",
            Verdict::Pass,
            format!(
                "none of its {} values is a value fewer than {min} rows of the real data hold",
                found.len()
            ),
        )
    } else {
        check(
            "individual records",
            Verdict::Fail,
            format!(
                "{records} of its {} values equal values of the real data that fewer than {min} rows hold: records, not an aggregate",
                found.len()
            ),
        )
    }];
    let grows = match mock {
        Some((mock, mock_rows)) if mock_rows != input_rows && size(mock) != n => Some(format!(
            "its size follows its input's rows ({} values from the mocks' {mock_rows} rows, {n} from the real {input_rows})",
            size(mock)
        )),
        _ if input_rows > 0 && n >= input_rows => Some(format!(
            "{n} values from {input_rows} rows: as many as one per row"
        )),
        _ => None,
    };
    out.push(match grows {
        Some(why) => check(
            "aggregate",
            Verdict::Fail,
            format!("not shown to be an aggregate: {why}"),
        ),
        None => check(
            "aggregate",
            Verdict::Pass,
            format!("{n} values, whatever the number of rows it reads"),
        ),
    });
    out
}

/// The checks, as a table's rows.
pub(crate) fn check_rows(checks: &[Check]) -> Vec<Vec<String>> {
    checks
        .iter()
        .map(|c| vec![c.rule.clone(), c.verdict.to_string(), c.reason.clone()])
        .collect()
}

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
        assert!(small[2].reason.contains("M (9 people)"), "{small:?}");
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
    fn the_largest_few_are_selected_as_a_sort_would_give_them() {
        let values = vec![3.0, f64::NAN, -1.0, 9.0, 9.0, f64::INFINITY, 0.5, 7.0];
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        sorted.sort_by(|a, b| b.total_cmp(a));
        for k in 0..10 {
            let (top, total) = largest_of(values.clone(), k);
            let want = if k == 0 {
                &sorted[..]
            } else {
                &sorted[..k.min(sorted.len())]
            };
            assert_eq!(top, want, "the {k} largest");
            assert_eq!(total, 27.5);
        }
        assert_eq!(largest_of(Vec::new(), 2), (Vec::new(), 0.0));
    }

    #[test]
    fn dominance_and_p_percent_catch_a_statistic_one_contributor_makes() {
        let rules = Rules::default();
        // Twelve people, two of them 95% of the total: dominance (2, 90%) fails.
        let mut values = vec![1.0; 10];
        values.extend([100.0, 100.0]);
        let dominated = check_cells(&statistic(&values), &rules);
        assert_eq!(verdict(&dominated, "dominance"), Verdict::Fail);
        // Only those two move it: a small cell in disguise as well.
        assert_eq!(verdict(&dominated, "minimum cell count"), Verdict::Fail);
        // A constant added to every row hides no one: departures from the rest are read too.
        let mut offset = vec![1000.0; 30];
        offset[4] = 1017.99;
        let hidden = check_cells(&statistic(&offset), &rules);
        assert_eq!(verdict(&hidden, "minimum cell count"), Verdict::Fail);
        assert_eq!(verdict(&hidden, "dominance"), Verdict::Fail);
        let spread: Vec<f64> = (0..30).map(|i| 1000.0 + f64::from(i)).collect();
        let fair = check_cells(&statistic(&spread), &rules);
        assert!(fair.iter().all(|c| c.verdict == Verdict::Pass), "{fair:?}");
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
    fn models_need_degrees_of_freedom() {
        let rules = Rules::default();
        assert_eq!(degrees_of_freedom(569, 31, &rules).verdict, Verdict::Pass);
        let overfit = degrees_of_freedom(40, 31, &rules);
        assert_eq!(overfit.verdict, Verdict::Fail);
        assert!(
            overfit.reason.starts_with("9, fewer than 10"),
            "{overfit:?}"
        );
    }

    fn frame(columns: Vec<(&str, Vec<f64>)>) -> Data {
        Data::Frame(
            DataFrame::new_infer_height(
                columns
                    .into_iter()
                    .map(|(n, v)| polars::prelude::Column::new(n.into(), v))
                    .collect(),
            )
            .unwrap(),
        )
    }

    /// Code output is read for what it holds: a real value under another name, in a string, in
    /// JSON or in an array is a record; small integers and values many rows share are not; an
    /// output as long as the input's rows, or whose size follows them, is not an aggregate.
    #[test]
    fn code_output_is_read_whatever_its_type() {
        let rules = Rules::default();
        let xs: Vec<f64> = (0..50).map(|i| 10.0 + f64::from(i) * 0.37).collect();
        let mut common = vec![0.5; 40];
        common.extend((0..10).map(|i| f64::from(i) * 0.011 + 3.3));
        let real = frame(vec![("x", xs.clone()), ("y", common)]);
        let fails = |out: &Data, mock: Option<(&Data, usize)>| {
            read_output(out, &[&real], mock, &rules)
                .iter()
                .filter(|c| c.verdict != Verdict::Pass)
                .map(|c| c.rule.clone())
                .collect::<Vec<_>>()
        };
        let one = |v: f64| Data::F64(ndarray::ArrayD::from_elem(ndarray::IxDyn(&[]), v));
        assert_eq!(
            fails(&frame(vec![("renamed", vec![xs[3]])]), None),
            ["individual records"]
        );
        assert_eq!(
            fails(
                &Data::Json(serde_json::json!(format!("row: {:.2}", xs[7]))),
                None
            ),
            ["individual records"]
        );
        assert_eq!(
            fails(&Data::Json(serde_json::json!({"a": [xs[9]]})), None),
            ["individual records"]
        );
        assert!(fails(&one(xs.iter().sum::<f64>() / 50.0), None).is_empty());
        // A value forty rows share, and a count, say nothing of anyone.
        assert!(fails(&one(0.5), None).is_empty());
        assert!(fails(&one(42.0), None).is_empty());
        // As many values as rows; and a size that follows the rows (10 from the mocks' 10).
        let long = Data::F64(ndarray::ArrayD::from_elem(ndarray::IxDyn(&[50]), 1.0));
        assert_eq!(fails(&long, None), ["aggregate"]);
        let short = Data::F64(ndarray::ArrayD::from_elem(ndarray::IxDyn(&[25]), 1.0));
        let mock = Data::F64(ndarray::ArrayD::from_elem(ndarray::IxDyn(&[5]), 1.0));
        assert_eq!(fails(&short, Some((&mock, 10))), ["aggregate"]);
        assert!(fails(&short, Some((&short, 10))).is_empty());
    }

    #[test]
    fn released_values_round_trip_and_counts_round() {
        let kept = vec![
            Kept {
                rows: vec![1, 2, 3].into(),
                weights: Some(vec![0.5, -1.0, 2.0].into()),
            },
            Kept {
                rows: vec![(7 << 32) | 5].into(),
                weights: None,
            },
        ];
        let back = decode_kept(&encode_kept(&kept)).unwrap();
        assert_eq!(back, kept);
        assert!(decode_kept(&[1, 0, 0, 0, 9]).is_err());
        let assessed = Assessed {
            counts: vec![true, false],
            rounding: 5,
            ..Assessed::default()
        };
        let real = Data::F64(
            ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[2]), vec![212.0, 14.13]).unwrap(),
        );
        let Data::F64(out) = assessed.released(&real).unwrap() else {
            panic!("not an array")
        };
        assert_eq!(out.iter().copied().collect::<Vec<_>>(), [210.0, 14.13]);
    }
}
