//! Differentially private releases under a budget kept by the datasite.
//!
//! An owner gives a scientist a budget of ε on a dataset ([`Client::set_budget`](crate::Client::set_budget));
//! the scientist may then release aggregate pointers without waiting for approval
//! ([`Pointer::get_dp`](crate::Pointer::get_dp)), each release spending its ε for good, until the
//! budget is used up. The datasite decides everything from its own records:
//!
//! - **What may be released.** The pointer's recorded steps must end in a count, sum, mean,
//!   quantile or value counts over *one value per row of one asset*: the asset itself, a column of
//!   it, element-wise functions of those, filters by row-wise masks, column selections, sorting. A
//!   step that mixes rows (a head, a join, a group-by, a literal array lined up by position) is
//!   refused, naming it: one person's row could then move the answer by more than the noise
//!   covers.
//! - **Sensitivity.** Neighbouring datasets differ by one row added or removed (the filtered row
//!   count is not public). A count moves by 1; a sum of values clamped to `[lower, upper]` by
//!   `max(|lower|, |upper|)`; value counts of declared categories by 1 in one category. Bounds and
//!   categories come from the query or from what the owner declared for the column
//!   ([`SiteAsset::set_bounds`](crate::SiteAsset::set_bounds), [`SiteAsset::set_categories`](crate::SiteAsset::set_categories));
//!   categories never come from the data.
//! - **Noise.** Exact discrete Laplace samples (see `noise`) added to integer answers: counts, and
//!   sums of values rounded to a power-of-two grid (about 2^20 steps across the bounds) before they
//!   are added, so no floating-point arithmetic on real data reaches the output unnoised. A mean is
//!   a noisy sum over a noisy count (half the ε each); a quantile a noisy binary search over 1024
//!   grid points (ten noisy counts, and one for the total, each an eleventh of the ε).
//! - **Accounting.** Pure ε-differential privacy, added up by sequential composition per scientist
//!   and dataset, in whole units of 2^-20 so the ledger is exact. The spend is checked and written
//!   in one SQLite transaction before anything real is read, so concurrent releases never exceed a
//!   budget and a refusal's timing says nothing about the data; a release that then fails keeps its
//!   spend. Every budget, spend and release is in the audit log.
//! - **Failures.** The steps a release accepts cannot fail on the values they meet (element-wise
//!   arithmetic makes infinities and NaNs, which clamp; columns and shapes are the mock's, which
//!   computed), so whether a release failed says nothing of the data: a failure is the datasite's
//!   own (its storage), and the scientist is told only that it failed.

use rusqlite::{OptionalExtension, params};
use veil_api::dp::{Budget, Domain, DpPlan, DpQuery, DpRelease, DpValue};
use veil_api::ops::{Op, Reduce};

use crate::engine::dp::{
    Aggregate, QUANTILE_DEPTH, SHAPES, check_bounds, epsilon_of, epsilon_units, not_releasable,
};

use crate::audit;
use crate::datasite::dispatch::{Caller, Serve};
use crate::datasite::privacy::receipts;
use crate::datasite::site::SiteCore;
use crate::datasite::users::{Role, User, require_owner};
use crate::engine::replay::Side;
use crate::error::{Error, Result};
use crate::store::now_ms;
use veil_api::calls;
use veil_api::receipt::Receipt;

/// Most steps a released pointer's record may have.
const MAX_STEPS: usize = 256;

/// What a released pointer's rows come from, as its recorded steps say.
#[derive(Debug, Clone)]
struct Rows {
    /// The asset whose rows (people) these are.
    asset_id: String,
    /// Which rows, in which order: the object that last chose them (the asset's root, a filter,
    /// a sort). Two inputs of an element-wise step must share it to line up row by row.
    set: String,
    /// A frame (else one value per row).
    frame: bool,
    /// The asset's own column these values are, untransformed (`""` for a 1-d array asset).
    column: Option<String>,
    /// Whether a frame's columns are the asset's own (no computed column added).
    untransformed: bool,
    /// How it reads: `Features.radius1 where ...`.
    text: String,
}

/// A release, planned from the records alone.
struct Planned {
    aggregate: Aggregate,
    /// The object whose real value the aggregate reads.
    input: String,
    bounds: Option<(f64, f64)>,
    categories: Vec<String>,
    units: u64,
    dataset_id: String,
    plan: DpPlan,
}

impl SiteCore {
    /// What `input` of a released pointer reads row by row, from the datasite's records.
    fn rows(&self, id: &str, depth: usize) -> Result<Rows> {
        if depth > MAX_STEPS {
            return Err(not_releasable(
                format!("its record has more than {MAX_STEPS} steps"),
                "release a shorter computation",
            ));
        }
        let row = self.object(id)?.ok_or_else(|| {
            Error::corrupt("planning a release", format!("object {id} is missing"))
        })?;
        let input = |i: usize| self.rows(&row.inputs[i], depth + 1);
        let values = |r: Rows| -> Result<Rows> {
            if r.frame {
                return Err(not_releasable(
                    format!("`{}` is a frame where one value per row is needed", r.text),
                    "take one column of it first (`.column(name)`)",
                ));
            }
            Ok(r)
        };
        let aligned = |a: &Rows, b: &Rows| -> Result<()> {
            if a.set != b.set {
                return Err(not_releasable(
                    format!(
                        "`{}` and `{}` are not the same rows in the same order",
                        a.text, b.text
                    ),
                    "combine values derived from the same rows of one asset",
                ));
            }
            Ok(())
        };
        let describe = |inputs: &[&Rows]| {
            veil_api::ops::describe(
                &row.op,
                &inputs.iter().map(|r| r.text.clone()).collect::<Vec<_>>(),
            )
        };
        let elementwise = |r: Rows, text: String| Rows {
            column: None,
            text,
            ..r
        };
        Ok(match &row.op {
            Op::Asset { asset_id } => {
                let (name, kind, shape): (String, String, String) = self.store.read(|conn| {
                    conn.query_row(
                        "SELECT name, kind, shape FROM assets WHERE id = ?1",
                        [asset_id],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    )
                    .map_err(Error::sqlite("reading an asset"))
                })?;
                let shape = crate::data::shape_from_json(&shape);
                let frame = kind == "frame";
                if !frame && shape.len() != 1 {
                    return Err(not_releasable(
                        format!("asset `{name}` is an array of shape {shape:?}"),
                        "release aggregates of frames and 1-d arrays, one row per person",
                    ));
                }
                Rows {
                    asset_id: asset_id.clone(),
                    set: id.to_string(),
                    frame,
                    column: (!frame).then(String::new),
                    untransformed: true,
                    text: name,
                }
            }
            Op::Column { name } => {
                let r = input(0)?;
                if !r.frame {
                    return Err(not_releasable(
                        format!("`{}` has no columns", r.text),
                        "take columns of frames",
                    ));
                }
                Rows {
                    frame: false,
                    column: r.untransformed.then(|| name.clone()),
                    text: format!("{}.{name}", r.text),
                    ..r
                }
            }
            Op::Select { .. } => {
                let r = input(0)?;
                Rows {
                    text: describe(&[&r]),
                    ..r
                }
            }
            Op::Sort { .. } => {
                let r = input(0)?;
                Rows {
                    set: id.to_string(),
                    text: describe(&[&r]),
                    ..r
                }
            }
            Op::Arith {
                scalar: Some(_), ..
            }
            | Op::Compare {
                scalar: Some(_), ..
            }
            | Op::Unary { .. } => {
                let r = values(input(0)?)?;
                let text = describe(&[&r]);
                elementwise(r, text)
            }
            Op::Arith { .. } | Op::Compare { .. } => {
                let (a, b) = (values(input(0)?)?, values(input(1)?)?);
                aligned(&a, &b)?;
                let text = describe(&[&a, &b]);
                elementwise(a, text)
            }
            Op::TextEquals { .. } => {
                let r = input(0)?;
                let text = describe(&[&r]);
                Rows {
                    frame: false,
                    column: None,
                    text,
                    ..r
                }
            }
            Op::Filter => {
                let (r, mask) = (input(0)?, values(input(1)?)?);
                aligned(&r, &mask)?;
                Rows {
                    set: id.to_string(),
                    text: describe(&[&r, &mask]),
                    ..r
                }
            }
            Op::WithColumn { .. } => {
                let (r, added) = (input(0)?, values(input(1)?)?);
                aligned(&r, &added)?;
                Rows {
                    untransformed: false,
                    text: describe(&[&r, &added]),
                    ..r
                }
            }
            Op::Literal { .. } => {
                return Err(not_releasable(
                    "an array from the notebook lines up with an asset's rows only by position, which one row added or removed shifts",
                    "compute on the asset's values with scalars instead",
                ));
            }
            other => {
                return Err(not_releasable(
                    format!(
                        "step `{}` mixes rows, so one person's row could move the answer by more than the noise covers",
                        other.name()
                    ),
                    SHAPES,
                ));
            }
        })
    }

    /// Plans the release of `caller`'s pointer `pointer` under `query`, from the records alone.
    fn plan_release(&self, caller: &User, pointer: &str, query: &DpQuery) -> Result<Planned> {
        if caller.role != Role::DataScientist {
            return Err(crate::datasite::users::denied(
                caller,
                "differentially private releases",
                "a data scientist",
                if caller.role.is_owner() {
                    "owners read results directly (`pointer.get()`)"
                } else {
                    "ask the owner to make you a data scientist"
                },
            ));
        }
        let units = epsilon_units(query.epsilon, "ε of the release")?;
        let top = self.own_object(caller, pointer)?;
        let first = || {
            top.inputs.first().cloned().ok_or_else(|| {
                Error::corrupt("planning a release", "an aggregate without its input")
            })
        };
        let aggregate = match &top.op {
            Op::RowCount => Aggregate::Count,
            Op::Reduce {
                kind: Reduce::Sum,
                axis: None,
            } => Aggregate::Sum,
            Op::Reduce {
                kind: Reduce::Mean,
                axis: None,
            } => Aggregate::Mean,
            Op::Quantile { q } => Aggregate::Quantile(*q),
            Op::ValueCounts { column } => Aggregate::ValueCounts(column.clone()),
            other => {
                return Err(not_releasable(
                    format!("its last step is `{}`", other.name()),
                    SHAPES,
                ));
            }
        };
        // A mean spends half its ε on each of two answers, a quantile an eleventh on each of
        // eleven: each part must be a whole unit.
        let parts = match aggregate {
            Aggregate::Mean => 2,
            Aggregate::Quantile(_) => u64::from(QUANTILE_DEPTH) + 1,
            _ => 1,
        };
        if units < parts {
            return Err(Error::invalid(
                "ε of the release",
                format!(
                    "ε = {} is split {parts} ways, below the smallest ε used, 2^-20",
                    query.epsilon
                ),
                "give a larger ε",
            ));
        }
        let input = first()?;
        let rows = self.rows(&input, 0)?;
        let takes_values = matches!(
            aggregate,
            Aggregate::Sum | Aggregate::Mean | Aggregate::Quantile(_)
        );
        if takes_values && rows.frame {
            return Err(not_releasable(
                format!("`{}` is a frame", rows.text),
                "take one column of it first (`.column(name)`)",
            ));
        }
        let declared = |column: &str| self.domain(&rows.asset_id, column);
        let (mut bounds, mut categories) = (None, Vec::new());
        let column_name = |c: &str| {
            if c.is_empty() {
                rows.text.clone()
            } else {
                format!("column `{c}`")
            }
        };
        if takes_values {
            bounds = Some(match (query.bounds, &rows.column) {
                (Some(b), _) => check_bounds(b)?,
                (None, Some(column)) => match declared(column)? {
                    Some(Domain::Range { lower, upper }) => (lower, upper),
                    _ => {
                        return Err(not_releasable(
                            format!(
                                "the owner declared no range for {} and the query states none",
                                column_name(column)
                            ),
                            "state the range values are clamped to: `DpQuery::new(ε).bounds(lower, upper)`",
                        ));
                    }
                },
                (None, None) => {
                    return Err(not_releasable(
                        format!(
                            "`{}` is computed, so no declared range applies to it",
                            rows.text
                        ),
                        "state the range its values are clamped to: `DpQuery::new(ε).bounds(lower, upper)`",
                    ));
                }
            });
        }
        if let Aggregate::ValueCounts(column) = &aggregate {
            if !rows.frame {
                return Err(not_releasable(
                    format!("`{}` has no columns", rows.text),
                    "count the values of a frame's column",
                ));
            }
            categories = match (&query.categories, rows.untransformed) {
                (Some(c), _) => c.clone(),
                (None, true) => match declared(column)? {
                    Some(Domain::Categories(c)) => c,
                    _ => {
                        return Err(not_releasable(
                            format!(
                                "the owner declared no categories for column `{column}` and the query states none"
                            ),
                            "state the values to count: `DpQuery::new(ε).categories([..])` (which values exist must not come from the data)",
                        ));
                    }
                },
                (None, false) => {
                    return Err(not_releasable(
                        format!("`{}` has computed columns", rows.text),
                        "state the values to count: `DpQuery::new(ε).categories([..])`",
                    ));
                }
            };
            if categories.is_empty() || categories.len() > 10_000 {
                return Err(Error::invalid(
                    "categories",
                    format!("{} of them", categories.len()),
                    "count between 1 and 10,000 values",
                ));
            }
        }
        if let Aggregate::Quantile(q) = aggregate
            && !(0.0..=1.0).contains(&q)
        {
            return Err(Error::invalid(
                "quantile",
                format!("{q}"),
                "give a quantile between 0 and 1",
            ));
        }
        let (dataset_id, dataset): (String, String) = self.store.read(|conn| {
            conn.query_row(
                "SELECT d.id, d.name FROM assets a JOIN datasets d ON d.id = a.dataset_id WHERE a.id = ?1",
                [&rows.asset_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(Error::sqlite("reading a dataset"))
        })?;
        let epsilon = epsilon_of(units);
        let clamped = |b: (f64, f64)| format!("{} clamped to [{}, {}]", rows.text, b.0, b.1);
        let (query_text, sensitivity, scale) = match (&aggregate, bounds) {
            (Aggregate::Count, _) => (
                format!("count({})", rows.text),
                "1 (a row added or removed)".to_string(),
                1.0 / epsilon,
            ),
            (Aggregate::Sum, Some(b)) => (
                format!("sum({})", clamped(b)),
                format!(
                    "{} (the larger bound's magnitude)",
                    b.0.abs().max(b.1.abs())
                ),
                b.0.abs().max(b.1.abs()) / epsilon,
            ),
            (Aggregate::Mean, Some(b)) => (
                format!("mean({})", clamped(b)),
                format!(
                    "{} for the sum and 1 for the count, each with half the ε",
                    b.0.abs().max(b.1.abs())
                ),
                2.0 * b.0.abs().max(b.1.abs()) / epsilon,
            ),
            (Aggregate::Quantile(q), Some(b)) => (
                format!("quantile {q} of {}", clamped(b)),
                format!(
                    "1 for each of {} counts, each with 1/{} of the ε",
                    QUANTILE_DEPTH + 1,
                    QUANTILE_DEPTH + 1
                ),
                (b.1 - b.0) / f64::from(1u32 << QUANTILE_DEPTH),
            ),
            (Aggregate::ValueCounts(column), _) => (
                format!(
                    "value_counts({}.{column}) over {} declared values",
                    rows.text,
                    categories.len()
                ),
                "1 (a row added or removed changes one count)".to_string(),
                1.0 / epsilon,
            ),
            _ => unreachable!("values' aggregates have bounds"),
        };
        let remaining = self.remaining(caller, &dataset_id, &dataset)?;
        let plan = DpPlan {
            query: query_text,
            dataset,
            mechanism: "discrete Laplace on integers (exact sampling, OS randomness)".into(),
            sensitivity,
            noise_scale: scale,
            epsilon,
            remaining_before: epsilon_of(remaining),
            remaining_after: epsilon_of(remaining.saturating_sub(units)),
        };
        Ok(Planned {
            aggregate,
            input,
            bounds,
            categories,
            units,
            dataset_id,
            plan,
        })
    }

    /// What the owner declared for `column` of `asset_id` (`""`: the asset itself).
    fn domain(&self, asset_id: &str, column: &str) -> Result<Option<Domain>> {
        let json: Option<String> = self.store.read(|conn| {
            conn.query_row(
                "SELECT domain FROM column_domains WHERE asset_id = ?1 AND column_name = ?2",
                params![asset_id, column],
                |r| r.get(0),
            )
            .optional()
            .map_err(Error::sqlite("reading a column's domain"))
        })?;
        json.map(|j| {
            serde_json::from_str(&j)
                .map_err(|e| Error::corrupt("reading a column's domain", e.to_string()))
        })
        .transpose()
    }

    /// ε units `caller` has left on a dataset.
    fn remaining(&self, caller: &User, dataset_id: &str, dataset: &str) -> Result<u64> {
        self.store
            .read(|conn| ledger(conn, &caller.id, dataset_id))?
            .map(|(total, spent)| total.saturating_sub(spent))
            .ok_or_else(|| no_budget(dataset))
    }

    /// What releasing `pointer` under `query` would do and cost; nothing real is read.
    pub(crate) fn preview_dp(
        &self,
        caller: &User,
        pointer: &str,
        query: &DpQuery,
    ) -> Result<DpPlan> {
        Ok(self.plan_release(caller, pointer, query)?.plan)
    }

    /// Releases `pointer` under `query`, spending its ε first.
    pub(crate) fn release_dp(
        &self,
        caller: &User,
        pointer: &str,
        query: &DpQuery,
    ) -> Result<DpRelease> {
        let planned = self.plan_release(caller, pointer, query)?;
        let dataset = planned.plan.dataset.clone();
        // Spent before anything real is read: a refusal says nothing of the data, and racing
        // releases are serialised by the write lock, so none overdraws.
        self.store.write("spending privacy budget", |tx| {
            let (total, spent) =
                ledger(tx, &caller.id, &planned.dataset_id)?.ok_or_else(|| no_budget(&dataset))?;
            let left = total.saturating_sub(spent);
            if planned.units > left {
                return Err(Error::BudgetExceeded {
                    dataset: dataset.clone(),
                    asked: epsilon_of(planned.units),
                    left: epsilon_of(left),
                });
            }
            tx.execute(
                "INSERT INTO dp_spends (user_id, dataset_id, object_id, query, epsilon_units, at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    caller.id,
                    planned.dataset_id,
                    pointer,
                    planned.plan.query,
                    planned.units as i64,
                    now_ms()
                ],
            )
            .map_err(Error::sqlite("spending privacy budget"))?;
            audit::record(
                tx,
                &caller.email,
                "dp_spend",
                pointer,
                &format!(
                    "ε {} on {dataset}: {}",
                    planned.plan.epsilon, planned.plan.query
                ),
            )
        })?;
        let answered = self.answer(&planned);
        let receipt = match &answered {
            Ok(value) => {
                let body = Receipt {
                    kind: "dp release".into(),
                    requester: caller.email.clone(),
                    approver: "the privacy budget (no approval needed)".into(),
                    computation: self.computation(pointer)?,
                    inputs: vec![pointer.to_string()],
                    policy: format!(
                        "ε {} of {}'s budget on {dataset}",
                        planned.plan.epsilon, caller.email
                    ),
                    checks: "differential privacy: noise calibrated to the declared bounds".into(),
                    result: crate::receipt::sha256(
                        &serde_json::to_vec(value).expect("values serialise"),
                    ),
                    ..self.receipt_body(&self.assets_under(pointer)?)?
                };
                let detail = format!("{}: {value}", planned.plan.query);
                Some(self.store.write("recording a release", |tx| {
                    receipts::issue(
                        tx,
                        body.clone(),
                        &caller.id,
                        (&caller.email, "dp_release", pointer, &detail),
                    )
                })?)
            }
            Err(e) => {
                let detail = format!("{}: {e}", planned.plan.query);
                self.store.write("recording a release", |tx| {
                    audit::record(tx, &caller.email, "dp_release_failed", pointer, &detail)
                })?;
                None
            }
        };
        match (answered, receipt) {
            (Ok(value), Some(receipt)) => Ok(DpRelease {
                value,
                plan: planned.plan,
                receipt,
            }),
            // The owner's log holds why; the scientist learns only that it failed.
            _ => Err(Error::invalid(
                "differentially private release",
                "it failed on the real data, and its ε stays spent",
                "ask the datasite's owner, whose audit log says why",
            )),
        }
    }

    /// The noisy answer of a planned release, from the real data.
    fn answer(&self, planned: &Planned) -> Result<DpValue> {
        let value = self.value(Side::Real, &planned.input)?;
        crate::engine::dp::answer(
            &planned.aggregate,
            planned.bounds,
            &planned.categories,
            planned.units,
            &value,
        )
    }

    /// Sets `email`'s budget on `dataset` to `epsilon` in all (owners; scientists only).
    pub(crate) fn set_budget(
        &self,
        caller: &User,
        email: &str,
        dataset: &str,
        epsilon: f64,
    ) -> Result<Budget> {
        require_owner(
            caller,
            "setting privacy budgets",
            "ask the datasite's owner",
        )?;
        let units = if epsilon == 0.0 {
            0
        } else {
            epsilon_units(epsilon, "ε of the budget")?
        };
        let dataset = self.dataset_by("name", dataset.trim())?;
        self.store.write("setting a privacy budget", |tx| {
            let user = crate::datasite::users::require_user(tx, email)?;
            if user.role != Role::DataScientist {
                return Err(Error::invalid(
                    "privacy budget",
                    format!("{} is {}, not a data scientist", user.email, user.role),
                    "give budgets to data scientists; owners read results directly",
                ));
            }
            tx.execute(
                "INSERT INTO dp_budgets (user_id, dataset_id, epsilon_units, set_by, set_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (user_id, dataset_id) DO UPDATE
                 SET epsilon_units = excluded.epsilon_units, set_by = excluded.set_by, set_at = excluded.set_at",
                params![user.id, dataset.id, units as i64, caller.email, now_ms()],
            )
            .map_err(Error::sqlite("setting a privacy budget"))?;
            audit::record(
                tx,
                &caller.email,
                "set_budget",
                &user.email,
                &format!("ε {} on {}", epsilon_of(units), dataset.name),
            )?;
            budgets(tx, Some(&user.id))?
                .into_iter()
                .find(|b| b.dataset == dataset.name)
                .ok_or_else(|| Error::corrupt("setting a privacy budget", "the budget vanished"))
        })
    }

    /// Budgets: an owner sees everyone's, a scientist their own.
    pub(crate) fn budgets(&self, caller: &User) -> Result<Vec<Budget>> {
        let only = (!caller.role.is_owner()).then_some(caller.id.as_str());
        self.store.read(|conn| budgets(conn, only))
    }

    /// Declares the range or categories of `column` of `asset_id` (`None`: a 1-d array asset
    /// itself), for releases that need them (owners).
    pub(crate) fn set_domain(
        &self,
        caller: &User,
        asset_id: &str,
        column: Option<&str>,
        domain: &Domain,
    ) -> Result<()> {
        require_owner(
            caller,
            "declaring column domains",
            "ask the datasite's owner",
        )?;
        let label = self.asset_label(asset_id)?;
        let schema: String = self.store.read(|conn| {
            conn.query_row("SELECT schema FROM assets WHERE id = ?1", [asset_id], |r| {
                r.get(0)
            })
            .map_err(Error::sqlite("reading an asset"))
        })?;
        let column = column.unwrap_or("").trim();
        if !column.is_empty() && !schema.contains(&format!("\"{column}\"")) {
            return Err(Error::not_found(
                "column",
                column,
                format!("asset `{label}`'s columns are in its schema (`asset.schema()`)"),
            ));
        }
        match domain {
            Domain::Range { lower, upper } => {
                check_bounds((*lower, *upper))?;
            }
            Domain::Categories(values) => {
                if values.is_empty() || values.len() > 10_000 {
                    return Err(Error::invalid(
                        "categories",
                        format!("{} of them", values.len()),
                        "declare between 1 and 10,000 values",
                    ));
                }
                for v in values {
                    crate::validate::text("category", v)?;
                }
            }
        }
        let json = serde_json::to_string(domain).expect("domains serialise");
        self.store.write("declaring a column's domain", |tx| {
            tx.execute(
                "INSERT INTO column_domains (asset_id, column_name, domain) VALUES (?1, ?2, ?3)
                 ON CONFLICT (asset_id, column_name) DO UPDATE SET domain = excluded.domain",
                params![asset_id, column, json],
            )
            .map_err(Error::sqlite("declaring a column's domain"))?;
            audit::record(
                tx,
                &caller.email,
                "set_domain",
                &label,
                &format!(
                    "{}: {json}",
                    if column.is_empty() {
                        "(values)"
                    } else {
                        column
                    }
                ),
            )
        })
    }
}

impl SiteCore {
    /// The budgets of the user `user_id` on the datasets named in `lineage` (`dataset / asset`):
    /// what an owner's review of their request shows.
    pub(crate) fn budgets_of(&self, user_id: &str, lineage: &[String]) -> Result<Vec<Budget>> {
        let all = self.store.read(|conn| budgets(conn, Some(user_id)))?;
        Ok(all
            .into_iter()
            .filter(|b| {
                let prefix = format!("{} / ", b.dataset);
                lineage.iter().any(|l| l.starts_with(&prefix))
            })
            .collect())
    }
}

/// The total and spent ε units of a user's budget on a dataset, if it has one.
fn ledger(
    conn: &rusqlite::Connection,
    user_id: &str,
    dataset_id: &str,
) -> Result<Option<(u64, u64)>> {
    let total: Option<i64> = conn
        .query_row(
            "SELECT epsilon_units FROM dp_budgets WHERE user_id = ?1 AND dataset_id = ?2",
            params![user_id, dataset_id],
            |r| r.get(0),
        )
        .optional()
        .map_err(Error::sqlite("reading a privacy budget"))?;
    let Some(total) = total else { return Ok(None) };
    let spent: i64 = conn
        .query_row(
            "SELECT COALESCE(SUM(epsilon_units), 0) FROM dp_spends WHERE user_id = ?1 AND dataset_id = ?2",
            params![user_id, dataset_id],
            |r| r.get(0),
        )
        .map_err(Error::sqlite("reading a privacy budget"))?;
    Ok(Some((total as u64, spent as u64)))
}

/// Budgets with what was spent of them, of one user or everyone's.
fn budgets(conn: &rusqlite::Connection, user_id: Option<&str>) -> Result<Vec<Budget>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT u.email, d.name, b.epsilon_units,
                    (SELECT COALESCE(SUM(s.epsilon_units), 0) FROM dp_spends s
                      WHERE s.user_id = b.user_id AND s.dataset_id = b.dataset_id),
                    (SELECT COUNT(*) FROM dp_spends s
                      WHERE s.user_id = b.user_id AND s.dataset_id = b.dataset_id)
             FROM dp_budgets b JOIN users u ON u.id = b.user_id JOIN datasets d ON d.id = b.dataset_id
             WHERE ?1 IS NULL OR b.user_id = ?1
             ORDER BY u.email, d.name",
        )
        .map_err(Error::sqlite("reading privacy budgets"))?;
    stmt.query_map([user_id], |r| {
        Ok(Budget {
            user: r.get(0)?,
            dataset: r.get(1)?,
            epsilon: epsilon_of(r.get::<_, i64>(2)? as u64),
            spent: epsilon_of(r.get::<_, i64>(3)? as u64),
            releases: r.get::<_, i64>(4)? as u64,
        })
    })
    .and_then(|rows| rows.collect())
    .map_err(Error::sqlite("reading privacy budgets"))
}

fn no_budget(dataset: &str) -> Error {
    Error::not_found(
        "privacy budget on dataset",
        dataset,
        "ask the datasite's owner for one (`client.set_budget(email, dataset, ε)`)",
    )
}

// The calls about differential privacy, each one service.

impl Serve for calls::PreviewDp {
    fn serve(self, site: &SiteCore, caller: &mut Caller<'_>) -> Result<DpPlan> {
        site.preview_dp(caller, &self.pointer, &self.query)
    }
}

impl Serve for calls::ReleaseDp {
    fn serve(self, site: &SiteCore, caller: &mut Caller<'_>) -> Result<DpRelease> {
        site.floored(|| site.release_dp(caller, &self.pointer, &self.query))
    }
}

impl Serve for calls::Budgets {
    fn serve(self, site: &SiteCore, caller: &mut Caller<'_>) -> Result<Vec<Budget>> {
        site.budgets(caller)
    }
}

impl Serve for calls::SetBudget {
    fn serve(self, site: &SiteCore, caller: &mut Caller<'_>) -> Result<Budget> {
        site.set_budget(caller, &self.email, &self.dataset, self.epsilon)
    }
}

impl Serve for calls::SetDomain {
    fn serve(self, site: &SiteCore, caller: &mut Caller<'_>) -> Result<()> {
        site.set_domain(caller, &self.asset, self.column.as_deref(), &self.domain)
    }
}
