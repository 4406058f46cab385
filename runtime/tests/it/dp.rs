//! Differentially private releases end to end on real datasites: budgets an owner sets, releases a
//! scientist makes without waiting, the ledger that never overdraws (across relaunches and racing
//! threads), and every query shape that must be refused.

use std::path::Path;

use polars::prelude::DataFrame;
use veil::api::call::ErrorKind;
use veil::prelude::*;
use veil::{DpValue, mock};

use crate::common::{ADMIN, ADMIN_PW, cancer};

const JANE: &str = "jane@caltech.edu";
const DATASET: &str = "Breast Cancer Biomarker";

fn launch(dir: &Path, reset: bool) -> Datasite {
    crate::common::launch("dp-site", dir, reset)
}

/// The tutorial's dataset (one frame asset, `Patients`), Jane with a budget of `epsilon` on it, and
/// the owner's declared range for `radius1` and categories for `Diagnosis`.
fn setup(site: &Datasite, epsilon: f64) -> (Client, Client, DataFrame) {
    let owner = site.login(ADMIN, ADMIN_PW).unwrap();
    let real = cancer();
    owner
        .upload_dataset(
            Dataset::new(DATASET).asset(
                Asset::new("Patients")
                    .data(real.clone())
                    .mock(mock::shuffle_rows(&real, 7).unwrap()),
            ),
        )
        .unwrap();
    owner
        .register(NewUser::new("Jane Doe", JANE, "abc123"))
        .unwrap();
    let asset = owner.dataset(DATASET).unwrap().asset("Patients").unwrap();
    asset.set_bounds("radius1", 0.0, 40.0).unwrap();
    asset.set_categories("Diagnosis", ["B", "M"]).unwrap();
    owner.set_budget(JANE, DATASET, epsilon).unwrap();
    let jane = site.login(JANE, "abc123").unwrap();
    (owner, jane, real)
}

fn patients(client: &Client) -> Pointer {
    client
        .dataset(DATASET)
        .unwrap()
        .asset("Patients")
        .unwrap()
        .pointer()
        .unwrap()
}

fn number(release: &veil::DpRelease) -> f64 {
    match &release.value {
        DpValue::Number(x) => *x,
        other => panic!("a number, not {other:?}"),
    }
}

fn kind(e: &Error) -> ErrorKind {
    e.kind()
}

fn radius(real: &DataFrame) -> Vec<f64> {
    real.column("radius1")
        .unwrap()
        .f64()
        .unwrap()
        .into_no_null_iter()
        .collect()
}

/// Count, sum, mean, quantile and value counts, each released without approval, near the truth
/// (far within what the noise allows: a failure here is a broken mechanism, not bad luck), each
/// spending exactly its ε from the ledger, which the audit log and a relaunch both keep.
#[test]
fn aggregates_are_released_under_the_budget_and_the_ledger_persists() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path(), true);
    let (owner, jane, real) = setup(&site, 20.0);
    let p = patients(&jane);
    let r = p.column("radius1").unwrap();
    let xs = radius(&real);
    let n = xs.len() as f64;

    let count = r.row_count().unwrap().get_dp(1.0).unwrap();
    // Discrete Laplace of scale 1: beyond ±30 has probability about 2e-13.
    assert!((number(&count) - n).abs() <= 30.0, "{}", number(&count));

    let sum = r.sum().unwrap().get_dp(1.0).unwrap();
    let truth: f64 = xs.iter().sum();
    // Scale 40 (the declared bound over ε = 1).
    assert!(
        (number(&sum) - truth).abs() <= 40.0 * 30.0,
        "{}",
        number(&sum)
    );

    let mean = r.mean().unwrap().get_dp(2.0).unwrap();
    let truth_mean = truth / n;
    assert!(
        (number(&mean) - truth_mean).abs() < 3.0,
        "{}",
        number(&mean)
    );

    let median = r.quantile(0.5).unwrap().get_dp(5.5).unwrap();
    assert!(
        (11.0..17.0).contains(&number(&median)),
        "{}",
        number(&median)
    );

    let counts = p.value_counts("Diagnosis").unwrap().get_dp(1.0).unwrap();
    let DpValue::Counts(counts) = &counts.value else {
        panic!("counts")
    };
    assert_eq!(
        counts.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        ["B", "M"]
    );
    let benign = real
        .column("Diagnosis")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .filter(|v| *v == Some("B"))
        .count() as f64;
    assert!((counts[0].1 - benign).abs() <= 30.0, "{counts:?}");

    // Spent exactly: 1 + 1 + 2 + 5.5 + 1.
    let budgets = jane.budgets().unwrap();
    assert_eq!(budgets.len(), 1);
    assert_eq!(budgets[0].spent, 10.5);
    assert_eq!(budgets[0].releases, 5);
    assert_eq!(budgets[0].remaining(), 9.5);
    let log = owner.audit_log().unwrap();
    let actions: Vec<&str> = log.0.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions.iter().filter(|a| **a == "dp_release").count(), 5);
    assert!(actions.contains(&"set_budget") && actions.contains(&"dp_spend"));
    veil::audit::verify(&log.0).unwrap();
    site.land().unwrap();

    // A relaunch keeps every spend.
    let site = launch(tmp.path(), false);
    let jane = site.login(JANE, "abc123").unwrap();
    let budgets = jane.budgets().unwrap();
    assert_eq!((budgets[0].spent, budgets[0].releases), (10.5, 5));
    site.land().unwrap();
}

/// A preview reads nothing real and spends nothing; a release over what is left is refused and
/// spends nothing either; an owner's new budget counts what was spent.
#[test]
fn the_cost_is_previewed_and_an_overdraft_is_refused_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path(), true);
    let (owner, jane, _) = setup(&site, 1.0);
    let total = patients(&jane).column("radius1").unwrap().sum().unwrap();
    let plan = total.preview_dp(0.75).unwrap();
    assert_eq!(
        (plan.epsilon, plan.remaining_before, plan.remaining_after),
        (0.75, 1.0, 0.25)
    );
    assert!(plan.query.contains("clamped to [0, 40]"), "{}", plan.query);
    assert_eq!(plan.noise_scale, 40.0 / 0.75);
    assert_eq!(jane.budgets().unwrap()[0].spent, 0.0);

    total.get_dp(0.75).unwrap();
    let err = total.get_dp(0.5).unwrap_err();
    assert_eq!(kind(&err), ErrorKind::BudgetExceeded, "{err}");
    assert!(err.to_string().contains("ε = 0.25 is left"), "{err}");
    let budget = &jane.budgets().unwrap()[0];
    assert_eq!((budget.spent, budget.releases), (0.75, 1));

    // The owner raises it to 2 in all: 1.25 left.
    owner.set_budget(JANE, DATASET, 2.0).unwrap();
    assert_eq!(total.preview_dp(0.5).unwrap().remaining_before, 1.25);
    total.get_dp(1.25).unwrap();
    assert_eq!(
        kind(&total.get_dp(0.001).unwrap_err()),
        ErrorKind::BudgetExceeded
    );
    site.land().unwrap();
}

/// Sixteen threads racing releases of ε 0.1 against a budget of 1: exactly ten get through, and the
/// ledger says 1.
#[test]
fn racing_releases_never_exceed_a_budget() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path(), true);
    let (_owner, jane, _) = setup(&site, 1.0);
    let count = patients(&jane)
        .column("radius1")
        .unwrap()
        .row_count()
        .unwrap();
    let results: Vec<Result<veil::DpRelease, Error>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..16)
            .map(|_| {
                let count = count.clone();
                s.spawn(move || count.get_dp(0.1))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let released = results.iter().filter(|r| r.is_ok()).count();
    // 0.1 is used as floor(0.1 · 2^20) units: ten fit in 1, an eleventh does not.
    assert_eq!(released, 10, "{results:?}");
    for e in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(kind(e), ErrorKind::BudgetExceeded, "{e}");
    }
    let budget = &jane.budgets().unwrap()[0];
    assert!(budget.spent <= 1.0 && budget.releases == 10, "{budget:?}");
    site.land().unwrap();
}

/// Every shape that lets one row move an answer by more than the noise covers is refused, naming
/// the step, before anything is spent; so are callers and queries without what a release needs.
#[test]
fn only_row_wise_aggregates_with_declared_ranges_are_released() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path(), true);
    let (owner, jane, _) = setup(&site, 5.0);
    let p = patients(&jane);
    let r = p.column("radius1").unwrap();
    let refused = |pointer: Pointer, says: &str| {
        let err = pointer.get_dp(0.5).unwrap_err();
        assert_eq!(kind(&err), ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains(says), "{says}: {err}");
    };
    // One patient's record through the back door: sort, head, sum.
    refused(
        p.sort("radius1", true)
            .unwrap()
            .head(1)
            .unwrap()
            .column("radius1")
            .unwrap()
            .sum()
            .unwrap(),
        "step `head` mixes rows",
    );
    refused(r.clone(), "its last step is `column`");
    refused(r.max().unwrap(), "its last step is `max`");
    let mine = jane.array(ndarray::Array1::from_elem(569, 1.0)).unwrap();
    refused((&r + &mine).unwrap().sum().unwrap(), "from the notebook");
    // A computed column has no declared range: the query must state one.
    refused((&r * 2.0).unwrap().sum().unwrap(), "is computed");
    let doubled = (&r * 2.0).unwrap().sum().unwrap();
    let release = doubled.get_dp(DpQuery::new(0.5).bounds(0.0, 80.0)).unwrap();
    assert!(release.plan.query.contains("clamped to [0, 80]"));
    // Values filtered by a row-wise mask of the same rows are fine.
    let large = r.gt(15.0).unwrap();
    let kept = r.filter(&large).unwrap().row_count().unwrap();
    kept.get_dp(0.5).unwrap();
    // Undeclared categories are not guessed from the data.
    refused(
        p.value_counts("texture1").unwrap(),
        "declared no categories for column `texture1`",
    );

    // Not for owners (they read results directly), nor for a scientist without a budget, nor on
    // another's pointer.
    let owners = patients(&owner).column("radius1").unwrap().sum().unwrap();
    assert_eq!(
        kind(&owners.get_dp(0.5).unwrap_err()),
        ErrorKind::PermissionDenied
    );
    owner
        .register(NewUser::new("Rachel", "rachel@example.org", "rachel-pw"))
        .unwrap();
    let rachel = site.login("rachel@example.org", "rachel-pw").unwrap();
    let hers = patients(&rachel).column("radius1").unwrap().sum().unwrap();
    let err = hers.get_dp(0.5).unwrap_err();
    assert_eq!(kind(&err), ErrorKind::NotFound, "{err}");
    assert!(err.to_string().contains("privacy budget"), "{err}");
    let stolen = veil::api::call::Call::from(veil::api::calls::ReleaseDp {
        pointer: r.sum().unwrap().id().to_string(),
        query: DpQuery::new(0.5),
    });
    assert_eq!(kind(&rachel.call(stolen).unwrap_err()), ErrorKind::NotFound);
    // Bad ε and bounds are named.
    for query in [
        DpQuery::new(0.0),
        DpQuery::new(f64::NAN),
        DpQuery::new(-1.0),
        DpQuery::new(1.0).bounds(5.0, 1.0),
        DpQuery::new(1.0).bounds(0.0, f64::INFINITY),
    ] {
        let err = r.sum().unwrap().get_dp(query.clone()).unwrap_err();
        assert_eq!(kind(&err), ErrorKind::InvalidInput, "{query:?}: {err}");
    }
    // Budgets are for scientists, and owners set them.
    assert!(owner.set_budget(ADMIN, DATASET, 1.0).is_err());
    assert_eq!(
        kind(&jane.set_budget(JANE, DATASET, 100.0).unwrap_err()),
        ErrorKind::PermissionDenied
    );
    // What was refused spent nothing: the two releases that went through, 0.5 each.
    assert_eq!(jane.budgets().unwrap()[0].spent, 1.0);
    site.land().unwrap();
}
