//! Issue 28's attacks, each written as the attacker would: a scientist's ordinary-looking request
//! that a plain `approve()` must not release. Each class (shapes the checks did not model, values
//! counted instead of people, code output of any type, differencing) has its siblings beside it.

use polars::prelude::DataFrame;
use veil::Verdict;
use veil::ops::Reduce;
use veil::prelude::*;

use super::{pointer, reviewed, setup, verdict};

/// The feature columns (everything but `Diagnosis`).
fn numeric() -> Vec<String> {
    crate::common::cancer()
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .filter(|n| n != "Diagnosis")
        .collect()
}

/// A plain approval of `p` is refused, and the review says why (a failing check); the result is
/// not released.
fn refused(owner: &Client, p: &Pointer, why: &str) -> veil::Review {
    let (review, held) = reviewed(owner, p, why);
    assert!(
        review.checks.iter().any(|c| c.verdict == Verdict::Fail),
        "{why}: no check fails: {:?}",
        review.checks
    );
    let err = held.approve().expect_err(why).to_string();
    assert!(err.contains("fails disclosure checks"), "{why}: {err}");
    assert!(
        matches!(p.get(), Err(Error::ApprovalPending { .. })),
        "{why}: released"
    );
    review
}

fn launched() -> (tempfile::TempDir, Datasite, Client, Client) {
    let tmp = tempfile::tempdir().unwrap();
    let site = super::launch(tmp.path());
    let (owner, jane) = setup(&site);
    (tmp, site, owner, jane)
}

/// Class 1: shapes the checks did not model passed as advisory. Fail closed: the whole feature
/// matrix transposed, one patient's row transposed, reshaped, standardised, a dot product per
/// row, and extremes (quantiles at and near 0 and 1, `max`, `argmax`).
#[test]
fn shapes_the_checks_do_not_model_fail_closed() {
    let (_tmp, site, owner, jane) = launched();
    let patients = pointer(&jane, "Patients");
    let features = patients.select(numeric()).unwrap().to_array().unwrap();
    refused(&owner, &features.t().unwrap(), "the matrix, transposed");
    let first = patients
        .sort("radius1", true)
        .unwrap()
        .head(1)
        .unwrap()
        .select(numeric())
        .unwrap()
        .to_array()
        .unwrap()
        .t()
        .unwrap();
    refused(&owner, &first, "one patient's row, transposed");
    let radius = patients.column("radius1").unwrap();
    refused(
        &owner,
        &radius.reshape(&[569, 1]).unwrap(),
        "a column reshaped",
    );
    refused(
        &owner,
        &features.standardize().unwrap(),
        "the matrix, standardised",
    );
    let ones = jane
        .array(Data::F64(ndarray::ArrayD::from_elem(
            ndarray::IxDyn(&[30]),
            1.0,
        )))
        .unwrap();
    refused(
        &owner,
        &features.dot(&ones).unwrap(),
        "each row's sum, by dot",
    );
    for q in [0.0, 1.0, 0.999, 0.001] {
        let review = refused(&owner, &radius.quantile(q).unwrap(), "an extreme quantile");
        assert_eq!(verdict(&review, "individual records"), Verdict::Fail);
    }
    refused(&owner, &radius.argmax().unwrap(), "the largest's position");
    refused(
        &owner,
        &features.along(0, Reduce::Max).unwrap(),
        "each column's maximum",
    );
    // What the checks can show is an aggregate still passes: the matrix's column means, and X'X.
    let (review, held) = reviewed(&owner, &features.along(0, Reduce::Mean).unwrap(), "means");
    assert!(
        review.checks.iter().all(|c| c.verdict == Verdict::Pass),
        "{:?}",
        review.checks
    );
    held.approve().unwrap();
    let gram = features.t().unwrap().dot(&features).unwrap();
    let (review, _) = reviewed(&owner, &gram, "the Gram matrix");
    assert_eq!(verdict(&review, "minimum cell count"), Verdict::Pass);
    site.land().unwrap();
}

/// Class 2: a reduction along an axis counted a row's own values as people. Twelve copies of a
/// column side by side, then the mean along each row: each value is one patient's. Siblings:
/// other axes and statistics, and aggregates over every row that only one person moves.
#[test]
fn a_reduction_along_rows_counts_people_not_values() {
    let (_tmp, site, owner, jane) = launched();
    let patients = pointer(&jane, "Patients");
    let radius = patients.column("radius1").unwrap();
    let mut wide = patients.select(["radius1"]).unwrap();
    for i in 0..11 {
        wide = wide.with_column(&format!("copy{i}"), &radius).unwrap();
    }
    let per_row = wide.to_array().unwrap().along(1, Reduce::Mean).unwrap();
    let review = refused(&owner, &per_row, "row means of copies");
    assert_eq!(verdict(&review, "minimum cell count"), Verdict::Fail);
    // Siblings: a sum along the other axis of a transposed copy, and a row-wise std of
    // (x, 2x): one patient each.
    let t = wide
        .to_array()
        .unwrap()
        .t()
        .unwrap()
        .along(0, Reduce::Sum)
        .unwrap();
    refused(&owner, &t, "column sums of the transpose");
    let pair = patients
        .select(["radius1"])
        .unwrap()
        .with_column("double", &(&radius * 2.0).unwrap())
        .unwrap()
        .to_array()
        .unwrap()
        .along(1, Reduce::Std)
        .unwrap();
    refused(&owner, &pair, "a row-wise std");
    // A filter in disguise: a mask multiplied in, and a constant added to every row so that no
    // contribution looks dominant. Over all 569 rows, but only the largest moves it.
    let cut = 28.0;
    let masked = (&(&radius * &radius.gt(cut).unwrap()).unwrap() + 1000.0)
        .unwrap()
        .sum()
        .unwrap();
    let review = refused(&owner, &masked, "a masked sum plus a constant");
    assert_eq!(verdict(&review, "minimum cell count"), Verdict::Fail);
    // And a count in disguise: how many are over the cut, as the mean of the mask plus one.
    let count = (&radius.gt(cut).unwrap() + 1.0).unwrap().mean().unwrap();
    refused(&owner, &count, "a masked count plus a constant");
    site.land().unwrap();
}

/// Class 4: differencing. A sum over every row, then over every row but one (the cut-off taken
/// as a value the scientist could read off the mock): each far above the minimum count, their
/// difference one patient's value. The second is refused, naming the first; so is a filter that
/// removes fewer rows than the minimum, a difference taken inside one request, the same pair
/// asked by a second scientist (colluding), and one person weighed apart by a literal.
#[test]
fn differencing_two_releases_is_refused_naming_the_first() {
    let (_tmp, site, owner, jane) = launched();
    let radius = pointer(&jane, "Patients").column("radius1").unwrap();
    let all = radius.sum().unwrap();
    let (_, held) = reviewed(&owner, &all, "the total");
    held.approve().unwrap();
    let first = held.id.clone();
    let real = crate::common::cancer();
    let largest = real
        .column("radius1")
        .unwrap()
        .as_materialized_series()
        .max::<f64>()
        .unwrap()
        .unwrap();
    let but_one = radius
        .filter(&radius.lt(largest).unwrap())
        .unwrap()
        .sum()
        .unwrap();
    let review = refused(&owner, &but_one, "the total but the largest");
    let diff = review
        .checks
        .iter()
        .find(|c| c.rule == "differencing")
        .unwrap_or_else(|| panic!("no differencing check: {:?}", review.checks));
    assert_eq!(diff.verdict, Verdict::Fail);
    assert!(diff.reason.contains(&first[..8]), "{diff:?}");
    assert_eq!(verdict(&review, "subset"), Verdict::Fail);
    // The difference inside one request.
    let inside = (&all - &but_one).unwrap();
    refused(&owner, &inside, "a difference in one request");
    // A second scientist asking the remainder collides with Jane's release.
    owner
        .register(NewUser::new("Joe", "joe@caltech.edu", "abc123"))
        .unwrap();
    let joe = site.login("joe@caltech.edu", "abc123").unwrap();
    let r = pointer(&joe, "Patients").column("radius1").unwrap();
    let mean_but_one = r.filter(&r.lt(largest).unwrap()).unwrap().mean().unwrap();
    let review = refused(&owner, &mean_but_one, "Joe's mean but the largest");
    assert_eq!(verdict(&review, "differencing"), Verdict::Fail);
    // The same people, another statistic: the total plus an indicator of the largest, beside
    // the released total, is the indicator by difference; so is that difference in one request.
    let bumped = (&radius + &radius.gt(largest - 0.01).unwrap())
        .unwrap()
        .sum()
        .unwrap();
    let review = refused(&owner, &bumped, "the total plus an indicator");
    assert_eq!(verdict(&review, "differencing"), Verdict::Fail);
    let inside = (&bumped - &all).unwrap();
    let review = refused(&owner, &inside, "an indicator by difference in one request");
    assert_eq!(verdict(&review, "minimum cell count"), Verdict::Fail);
    // Weights of her own instead of a filter: the same 569 people, one weighed apart. The sum of
    // `w·x` beside the released sum of `x` is that patient's radius by difference; so is a dot
    // with a one-hot literal.
    let mut w = vec![1.0; 569];
    w[17] = 1.0001;
    let literal = |values: Vec<f64>| {
        jane.array(Data::F64(
            ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[569]), values).unwrap(),
        ))
        .unwrap()
    };
    let weighted = (&radius * &literal(w)).unwrap().sum().unwrap();
    let review = refused(&owner, &weighted, "a sum with one row weighed apart");
    assert_eq!(verdict(&review, "row weights"), Verdict::Fail);
    let mut one_hot = vec![0.0; 569];
    one_hot[17] = 1.0;
    refused(
        &owner,
        &radius.dot(&literal(one_hot)).unwrap(),
        "a one-hot dot",
    );
    // Weights the same for every person (per column, or a scalar) single no one out.
    let features = pointer(&jane, "Patients")
        .select(["radius1", "texture1"])
        .unwrap()
        .to_array()
        .unwrap();
    let scale = jane
        .array(Data::F64(
            ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[2]), vec![0.5, 2.0]).unwrap(),
        ))
        .unwrap();
    let scaled = (&features * &scale)
        .unwrap()
        .along(0, Reduce::Mean)
        .unwrap();
    let (review, _) = reviewed(&owner, &scaled, "scaled column means");
    assert_eq!(verdict(&review, "row weights"), Verdict::Pass);
    // A fair split (a few hundred rows each side) passes both.
    let small = radius
        .filter(&radius.lt(14.0).unwrap())
        .unwrap()
        .mean()
        .unwrap();
    let (review, held) = reviewed(&owner, &small, "the mean of the small ones");
    assert_eq!(verdict(&review, "differencing"), Verdict::Pass);
    assert_eq!(verdict(&review, "subset"), Verdict::Pass);
    held.approve().unwrap();
    site.land().unwrap();
}

/// Class 3: code output read for what it holds, whatever its type. The first patient's row as a
/// vector, a string, JSON, and a frame with renamed columns: each withheld on a plain approval.
/// An aggregate computed in code (a mean) is released.
#[test]
fn code_output_of_any_type_holding_records_is_withheld() {
    let (_tmp, site, owner, jane) = launched();
    let patients = jane
        .dataset(super::DATASET)
        .unwrap()
        .asset("Patients")
        .unwrap();
    let policy = || ExactMatch::new().asset("patients", &patients);
    let as_vec = veil::function! {
        fn as_vec(patients: DataFrame) -> Vec<f64> {
            let row = patients.drop("Diagnosis").unwrap().head(Some(1));
            row.columns().iter().map(|c| c.f64().unwrap().get(0).unwrap()).collect()
        }
    };
    let as_text = veil::function! {
        fn as_text(patients: DataFrame) -> String {
            format!("{:?}", patients.head(Some(1)))
        }
    };
    let as_json = veil::function! {
        fn as_json(patients: DataFrame) -> serde_json::Value {
            let r = patients.column("radius1").unwrap().f64().unwrap().get(0).unwrap();
            let t = patients.column("texture1").unwrap().f64().unwrap().get(0).unwrap();
            serde_json::json!({ "a": r, "b": [t] })
        }
    };
    let renamed = veil::function! {
        fn renamed(mut patients: DataFrame) -> DataFrame {
            let names: Vec<String> = (0..patients.width()).map(|i| format!("c{i}")).collect();
            patients.set_column_names(&names).unwrap();
            patients.head(Some(2))
        }
    };
    for code in [as_vec, as_text, as_json, renamed] {
        let name = code.source().lines().next().unwrap_or("").to_string();
        let request = jane
            .request_code_execution(&code.input_policy(policy()), "a peek")
            .unwrap();
        let held = owner.request(&request.id).unwrap();
        held.approve().unwrap();
        let err = request.get().expect_err(&name).to_string();
        assert!(
            err.contains("fails the datasite's disclosure checks"),
            "{name}: {err}"
        );
    }
    let mean = veil::function! {
        fn mean_radius(patients: DataFrame) -> f64 {
            patients.column("radius1").unwrap().f64().unwrap().mean().unwrap()
        }
    };
    let request = jane
        .request_code_execution(&mean.input_policy(policy()), "the mean")
        .unwrap();
    owner.request(&request.id).unwrap().approve().unwrap();
    let released = request.get().unwrap();
    assert!(matches!(released, Data::Json(_)), "{released:?}");
    let _: Option<DataFrame> = None;
    site.land().unwrap();
}
