//! Automatic output checks on every release an owner approves (statistical disclosure control,
//! with ACRO's rules and defaults), which fail closed: individual records, zeros, minimum cell
//! count, dominance (N, K), p-percent, DataSHIELD's subset rule, differencing against earlier
//! releases, and degrees of freedom of models.
//!
//! A pointer's result is checked from the people behind each of its values: the provenance pass
//! (`provenance`, private) follows every real row through the recorded steps, so a value of one
//! patient fails however it was computed, and a statistic is weighed on each person's
//! contribution. Each approved result's values are kept (the `releases` table: the rows behind
//! each and their contributions); a later value that parts from a released one in fewer than the
//! minimum count of people (its rows, or for statistics the people whose contributions differ)
//! fails as differencing, naming that release. A code request's output is opaque, so it is read for what
//! it holds whatever its type (`read_output`). Thresholds are per dataset
//! ([`Client::set_disclosure_rules`](crate::Client::set_disclosure_rules)); a result drawing on
//! several datasets meets the strictest of each. Every review shows each check with the values it
//! counted; approving a result a check does not pass needs an override with a reason, which the
//! audit log keeps, and a code run's output that fails is withheld from its requester unless the
//! approval overrode.

use std::collections::HashSet;

use rusqlite::{OptionalExtension, params};
pub(crate) use veil_api::disclosure::{Check, Rules, Verdict};
use veil_api::ops::Op;

use crate::audit;
use crate::data::Data;
use crate::datasite::dispatch::{Caller, Serve};
use crate::datasite::replay::input_positions;
use crate::datasite::site::SiteCore;
use crate::datasite::users::{User, require_owner};
pub(crate) use crate::engine::checks::Assessed;
use crate::engine::checks::{
    Cell, Kept, MAX_COMPARED_STATISTICS, check, check_cells, decode_kept, degrees_of_freedom,
    differencing, encode_kept, read_output, rows, subsets, weighted,
};
use crate::engine::replay::Side;
use crate::error::{Error, Result};
use crate::provenance::{self, Finding, Step};

/// A result released earlier: whose, and the rows behind its values.
struct Release {
    /// `#3 (ab12cd34)`: its number and id.
    request: String,
    object_id: String,
    requester: String,
    kept: Vec<Kept>,
}

/// Records, in the deciding transaction, what request `request_id` (of `requester`, object
/// `object_id`) released: the rows behind each of its values.
pub(crate) fn record_release(
    tx: &rusqlite::Transaction<'_>,
    request_id: &str,
    object_id: &str,
    (requester_id, requester): (&str, &str),
    assessed: &Assessed,
) -> Result<()> {
    tx.execute(
        "INSERT INTO releases (request_id, object_id, user_id, email, assets, sets, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            request_id,
            object_id,
            requester_id,
            requester,
            serde_json::to_string(&assessed.assets).expect("ids serialise"),
            encode_kept(&assessed.kept),
            crate::store::now_ms()
        ],
    )
    .map_err(Error::sqlite("recording a release"))?;
    Ok(())
}

impl SiteCore {
    /// The strictest of the rules of the datasets behind `asset_ids`.
    pub(crate) fn rules_for(&self, asset_ids: &[String]) -> Result<Rules> {
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
                    rounding: s.rounding.max(rules.rounding),
                    assume_collusion: s.assume_collusion || rules.assume_collusion,
                    approvals: s.approvals.max(rules.approvals),
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

    /// The stable number of asset `id` (its row in the assets table): row keys of releases
    /// compare across requests by it.
    fn asset_number(&self, id: &str) -> Result<u32> {
        let n: i64 = self.store.read(|conn| {
            conn.query_row("SELECT rowid FROM assets WHERE id = ?1", [id], |r| r.get(0))
                .map_err(Error::sqlite("numbering an asset"))
        })?;
        u32::try_from(n).map_err(|_| Error::corrupt("numbering an asset", format!("row {n}")))
    }

    /// What a release of object `id` (real value `real`) to `requester` would disclose: each
    /// check, from the rows behind each of its values (see [`crate::provenance`]).
    pub(crate) fn assess(&self, id: &str, requester: &str) -> Result<Assessed> {
        let assets = self.assets_under(id)?;
        if assets.is_empty() {
            return Ok(Assessed {
                checks: vec![check(
                    "individual records",
                    Verdict::Pass,
                    "it derives from no asset",
                )],
                ..Assessed::default()
            });
        }
        let rules = self.rules_for(&assets)?;
        let graph = self.graph(id, "checking a result")?;
        let mut values = Vec::with_capacity(graph.len());
        let mut numbers = Vec::with_capacity(graph.len());
        for (oid, row) in &graph {
            values.push(self.value(Side::Real, oid)?);
            numbers.push(match &row.op {
                Op::Asset { asset_id } => Some(self.asset_number(asset_id)?),
                _ => None,
            });
        }
        let steps: Vec<Step<'_>> = graph
            .iter()
            .zip(&values)
            .zip(&numbers)
            .zip(input_positions(&graph))
            .map(|((((_, row), value), number), inputs)| Step {
                op: &row.op,
                inputs,
                value: value.as_ref(),
                asset: *number,
            })
            .collect();
        let last = graph.last().map(|(_, r)| &r.op);
        let what = format!("`{}`", last.map(Op::name).unwrap_or_default());
        let (traced, findings) = match provenance::trace(&steps, rules.min_count as usize) {
            Ok(t) => t,
            Err(why) => {
                return Ok(Assessed {
                    checks: vec![check(
                        "aggregate",
                        Verdict::Fail,
                        format!(
                            "not shown to be an aggregate: the checks cannot follow its rows ({why})"
                        ),
                    )],
                    ..Assessed::default()
                });
            }
        };
        let labelled = traced.labelled(&what);
        let cells: Vec<Cell> = labelled
            .iter()
            .filter_map(|(label, c)| {
                let rows = c.rows.as_ref()?;
                Some(Cell {
                    label: label.clone(),
                    people: rows.len(),
                    contributions: c
                        .weights
                        .as_deref()
                        .map(<[f64]>::to_vec)
                        .unwrap_or_default(),
                })
            })
            .collect();
        let mut checks = check_cells(&cells, &rules);
        checks.push(subsets(&findings, &rules));
        checks.push(weighted(&findings));
        // A result of many values keeps and compares rows alone: contributions of each would make
        // the comparison with every earlier release quadratic in both.
        let statistics = labelled.len() <= MAX_COMPARED_STATISTICS;
        let mut kept: Vec<Kept> = Vec::new();
        let mut seen: HashSet<Vec<u64>> = HashSet::new();
        for (_, c) in &labelled {
            if let Some(rows) = &c.rows
                && !rows.is_empty()
            {
                let weights = c.weights.clone().filter(|_| statistics);
                let key: Vec<u64> = rows
                    .iter()
                    .copied()
                    .chain(weights.iter().flat_map(|w| w.iter().map(|v| v.to_bits())))
                    .collect();
                if seen.insert(key) {
                    kept.push(Kept {
                        rows: rows.clone(),
                        weights,
                    });
                }
            }
        }
        let (parted, compared) =
            self.parted_releases(id, requester, &assets, &labelled, statistics, &rules)?;
        checks.push(differencing(&findings, parted, compared, &rules));
        if matches!(last, Some(Op::LogisticFit { .. })) {
            for f in &findings {
                if let Finding::Model { rows, parameters } = f {
                    checks.push(degrees_of_freedom(*rows, *parameters, &rules));
                }
            }
        }
        let counts = traced.cells().iter().map(|c| c.count).collect();
        Ok(Assessed {
            checks,
            kept,
            assets,
            counts,
            rounding: rules.rounding,
        })
    }

    /// The values of a result that part in a few people from a value released earlier from the
    /// same assets (to `requester`, or to anyone where the rules assume scientists collude), and
    /// how many releases were compared.
    fn parted_releases(
        &self,
        id: &str,
        requester: &str,
        assets: &[String],
        labelled: &[(String, &provenance::Cell)],
        statistics: bool,
        rules: &Rules,
    ) -> Result<(Vec<String>, usize)> {
        let min = rules.min_count as usize;
        let mut found = Vec::new();
        let earlier = self.releases_from(assets, requester, rules.assume_collusion)?;
        'cells: for (label, cell) in labelled {
            let Some(rows) = &cell.rows else { continue };
            if rows.len() < min {
                continue;
            }
            for release in &earlier {
                if release.object_id == id {
                    continue;
                }
                for k in &release.kept {
                    // Statistics part in the people whose contributions differ; counts and
                    // models, in the people whose rows differ.
                    let mine = cell.weights.as_ref().filter(|_| statistics);
                    let parted = match (mine, &k.weights) {
                        (Some(w), Some(kw)) => Some(provenance::parted_by(rows, w, &k.rows, kw))
                            .filter(|d| *d > 0 && *d < min),
                        _ => provenance::differs_by_few(rows, &k.rows, min),
                    };
                    if let Some(d) = parted {
                        found.push(format!(
                            "{label} ({} people) and request {}'s release to {} ({} people) part in {d}",
                            rows.len(),
                            release.request,
                            release.requester,
                            k.rows.len(),
                        ));
                        continue 'cells;
                    }
                }
            }
        }
        Ok((found, earlier.len()))
    }

    /// The releases of results drawn from any of `assets`: to `requester` only, or to anyone.
    fn releases_from(
        &self,
        assets: &[String],
        requester: &str,
        anyone: bool,
    ) -> Result<Vec<Release>> {
        type Raw = (String, String, String, String, Vec<u8>, Option<i64>);
        let rows: Vec<Raw> = self.store.read(|conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT r.request_id, r.object_id, r.email, r.assets, r.sets, q.number
                     FROM releases r LEFT JOIN requests q ON q.id = r.request_id
                     WHERE ?2 OR r.user_id = ?1 ORDER BY r.seq",
                )
                .map_err(Error::sqlite("reading releases"))?;
            stmt.query_map(params![requester, anyone], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })
            .and_then(|rows| rows.collect())
            .map_err(Error::sqlite("reading releases"))
        })?;
        let mut out = Vec::new();
        for (request_id, object_id, email, json, blob, number) in rows {
            let theirs: Vec<String> = serde_json::from_str(&json)
                .map_err(|e| Error::corrupt("reading releases", e.to_string()))?;
            if theirs.iter().any(|a| assets.contains(a)) {
                out.push(Release {
                    request: match number {
                        Some(n) => format!("#{n} ({})", &request_id[..request_id.len().min(8)]),
                        None => format!("{request_id} (deleted since)"),
                    },
                    object_id,
                    requester: email,
                    kept: decode_kept(&blob)?,
                });
            }
        }
        Ok(out)
    }

    /// The checks of a code run's `output`, given the assets `asset_ids` (see [`read_output`]);
    /// `mock` is the run's output on the mocks, if it has one.
    pub(crate) fn check_output(
        &self,
        asset_ids: &[String],
        output: &Data,
        mock: Option<&Data>,
    ) -> Result<Vec<Check>> {
        let rules = self.rules_for(asset_ids)?;
        let mut real = Vec::new();
        let mut mocks = Vec::new();
        for id in asset_ids {
            real.push(self.asset_value(Side::Real, id)?);
            mocks.push(self.asset_value(Side::Mock, id).ok());
        }
        let real: Vec<&Data> = real.iter().map(|d| d.as_ref()).collect();
        // Rows counted as `read_output` counts the real ones: the longest input's.
        let mock_rows: Option<usize> = mocks
            .iter()
            .map(|m| m.as_ref().map(|d| rows(d)))
            .collect::<Option<Vec<usize>>>()
            .and_then(|r| r.into_iter().max());
        Ok(read_output(output, &real, mock.zip(mock_rows), &rules))
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
            || rules.rounding > 1000
            || !(1..=2).contains(&rules.approvals)
        {
            return Err(Error::invalid(
                "disclosure rules",
                format!("{rules:?}"),
                "give a minimum count and a dominance N of at least 1, K and p as shares between 0 and 1, a rounding base of at most 1000 (0: off), and 1 or 2 approvals (2: the two-person rule)",
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

// The calls about disclosure rules, each one service.

impl Serve for veil_api::calls::DisclosureRules {
    fn serve(self, site: &SiteCore, _: &mut Caller<'_>) -> Result<Rules> {
        site.disclosure_rules(&self.dataset)
    }
}

impl Serve for veil_api::calls::SetDisclosureRules {
    fn serve(self, site: &SiteCore, caller: &mut Caller<'_>) -> Result<Rules> {
        site.set_disclosure_rules(caller, &self.dataset, &self.rules)
    }
}
