//! Privacy as a client reads it: privacy budgets ([`BudgetList`]), differentially private plans and
//! releases, disclosure rules and receipts, each with its display. The datasite plans, spends,
//! checks and records them in its privacy service.

use veil_api::disclosure::Rules;
use veil_api::dp::{Budget, DpPlan, DpRelease};
use veil_api::receipt::{Receipt, Verification};

use crate::display::{self, Table};

/// The columns of a budgets table.
pub(crate) const BUDGET_HEADERS: [&str; 6] = [
    "scientist",
    "dataset",
    "ε allowed",
    "ε spent",
    "ε left",
    "releases",
];

/// A budget as a row of [`BUDGET_HEADERS`].
pub(crate) fn budget_row(b: &Budget) -> Vec<String> {
    vec![
        b.user.clone(),
        b.dataset.clone(),
        round(b.epsilon),
        round(b.spent),
        round(b.remaining()),
        b.releases.to_string(),
    ]
}

/// ε as shown: six decimals at most, trailing zeros dropped.
fn round(epsilon: f64) -> String {
    let text = format!("{epsilon:.6}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Privacy budgets, as [`Client::budgets`](crate::Client::budgets) lists them.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetList(pub Vec<Budget>);

impl std::ops::Deref for BudgetList {
    type Target = [Budget];
    fn deref(&self) -> &[Budget] {
        &self.0
    }
}

impl BudgetList {
    fn table(&self) -> Table {
        let mut t =
            Table::new(format!("Privacy budgets ({})", self.0.len())).headers(BUDGET_HEADERS);
        if self.0.is_empty() {
            t.notes.push(
                "no budgets: an owner sets one with `client.set_budget(email, dataset, ε)` or `%budget set EMAIL ε DATASET`".into(),
            );
        }
        for b in &self.0 {
            t.row(budget_row(b));
        }
        t
    }
}

display::render_via_table!(BudgetList);

fn budget_table(b: &Budget) -> Table {
    Table::fields(
        format!("Privacy budget of {} on {}", b.user, b.dataset),
        BUDGET_HEADERS.into_iter().zip(budget_row(b)),
    )
}

display::render_via_table!(Budget => budget_table);

fn plan_fields(p: &DpPlan) -> Vec<(&'static str, String)> {
    vec![
        ("query", p.query.clone()),
        ("dataset", p.dataset.clone()),
        ("mechanism", p.mechanism.clone()),
        ("sensitivity", p.sensitivity.clone()),
        ("noise scale", format!("{:.6}", p.noise_scale)),
        ("ε spent", round(p.epsilon)),
        ("ε left before", round(p.remaining_before)),
        ("ε left after", round(p.remaining_after)),
    ]
}

fn plan_table(p: &DpPlan) -> Table {
    let mut t = Table::fields("Differentially private release (preview)", plan_fields(p));
    t.notes
        .push("nothing spent yet: `pointer.get_dp(..)` with the same query releases it".into());
    t
}

display::render_via_table!(DpPlan => plan_table);

fn release_table(r: &DpRelease) -> Table {
    let mut fields = vec![("value", r.value.to_string())];
    fields.extend(plan_fields(&r.plan));
    fields.push((
        "receipt",
        format!(
            "audit entry #{} (`client.verify_receipt(&release.receipt)` checks it)",
            r.receipt.audit_seq
        ),
    ));
    Table::fields("Differentially private release", fields)
}

display::render_via_table!(DpRelease => release_table);

/// A dataset's rules as shown.
fn rules_table(rules: &Rules) -> Table {
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
            (
                "rounding of released counts",
                match rules.rounding {
                    0 => "off".to_string(),
                    base => format!("to a multiple of {base}"),
                },
            ),
            (
                "approvals a release needs",
                match rules.approvals {
                    1 => "one owner's".to_string(),
                    n => format!("{n} different owners' (two-person rule)"),
                },
            ),
            (
                "releases compared for differencing",
                if rules.assume_collusion {
                    "every scientist's (they may collude)".to_string()
                } else {
                    "the requester's own".to_string()
                },
            ),
        ],
    )
}

crate::display::render_via_table!(Rules => rules_table);

fn receipt_table(r: &Receipt) -> Table {
    let mut t = Table::fields(
        format!("Receipt of a {} release", r.kind),
        [
            ("site", r.site.clone()),
            ("request", r.request.clone().unwrap_or_else(|| "-".into())),
            ("released to", r.requester.clone()),
            ("released by", r.approver.clone()),
            ("datasets", r.datasets.join(", ")),
            ("computation", r.computation.clone()),
            ("inputs", r.inputs.join(", ")),
            ("policy", r.policy.clone()),
            ("checks", r.checks.clone()),
            ("result sha256", r.result.clone()),
            ("released", display::timestamp(r.released_at)),
            ("audit entry", format!("#{} {}", r.audit_seq, r.audit_hash)),
        ],
    );
    t.notes.push(
        "`client.verify_receipt(&receipt)` (or `%receipt ID`) checks it against the audit log"
            .into(),
    );
    t
}

display::render_via_table!(Receipt => receipt_table);

fn verification_table(v: &Verification) -> Table {
    let mut t = Table::fields(
        "Receipt verified",
        [
            ("audit entry", format!("#{}", v.audit_seq)),
            ("entry hash", v.audit_hash.clone()),
            ("receipt digest", v.digest.clone()),
            ("entries checked", v.entries.to_string()),
        ],
    );
    t.notes.push(
        "the entry records this receipt and the hash chain holds from the first entry to the last"
            .into(),
    );
    t
}

display::render_via_table!(Verification => verification_table);
