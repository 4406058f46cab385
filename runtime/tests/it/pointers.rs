//! Pointers end to end on real datasites in temp dirs: eager ops on mocks, replay on real data,
//! requests, reviews, approvals, and what a scientist must never see.

use std::path::Path;
use std::time::{Duration, Instant};

use ndarray::{ArrayD, IxDyn, array};
use polars::prelude::{Column, DataFrame};
use veil::ops::{self, Arith, Compare, Op, Reduce, Unary};
use veil::prelude::*;

use crate::common::{ADMIN, ADMIN_PW};

fn launch(dir: &Path, reset: bool) -> Datasite {
    crate::common::launch("pointer-site", dir, reset)
}

fn table(x: [f64; 5], label: [&str; 5]) -> DataFrame {
    DataFrame::new_infer_height(vec![
        Column::new("x".into(), x),
        Column::new("y".into(), x.map(|v| v * 10.0 + 1.0)),
        Column::new("label".into(), label),
    ])
    .unwrap()
}

/// Owner, Jane (a scientist) and Guy (a guest), with a dataset holding the seed's array asset and a
/// frame asset whose mock has fewer rows than its data.
fn setup(site: &Datasite) -> (Client, Client, Client) {
    let owner = site.login(ADMIN, ADMIN_PW).unwrap();
    owner
        .upload_dataset(
            Dataset::new("my dataset")
                .asset(
                    Asset::new("my asset")
                        .data(array![1_i64, 2, 3])
                        .mock(array![1_i64, 1, 1]),
                )
                .asset(
                    Asset::new("table")
                        .data(table([3.0, 1.0, 4.0, 1.0, 5.0], ["M", "B", "M", "B", "M"]))
                        .mock(table([2.0, 2.0, 2.0, 0.0, 0.0], ["B", "B", "M", "M", "B"])),
                ),
        )
        .unwrap();
    owner
        .register(NewUser::new("Jane Doe", "jane@caltech.edu", "abc123"))
        .unwrap();
    owner
        .register(NewUser::new("Guy", "guy@example.org", "guest-pw").role(Role::Guest))
        .unwrap();
    let jane = site.login("jane@caltech.edu", "abc123").unwrap();
    let guy = site.login("guy@example.org", "guest-pw").unwrap();
    (owner, jane, guy)
}

fn asset(client: &Client, name: &str) -> SiteAsset {
    client.dataset("my dataset").unwrap().asset(name).unwrap()
}

fn floats(d: &Data) -> Vec<f64> {
    d.as_f64().expect("an f64 array").iter().copied().collect()
}

#[test]
fn the_seeds_pointer_flow() {
    let dir = tempfile::tempdir().unwrap();
    let site = launch(dir.path(), true);
    let (owner, jane, _) = setup(&site);

    let pointer = asset(&jane, "my asset").pointer().unwrap();
    assert_eq!(pointer.mock(), &Data::I64(array![1_i64, 1, 1].into_dyn()));
    let plus_one = (&pointer + 1.0).unwrap();
    assert_eq!(floats(plus_one.mock()), [2.0, 2.0, 2.0]);
    let sum = pointer.sum().unwrap();
    assert_eq!(floats(sum.mock()), [3.0]);
    let mine = jane.array(array![4_i64, 5, 6]).unwrap();
    assert!(mine.lineage().is_empty());
    assert_eq!(
        floats(&mine.get().unwrap()),
        [4.0, 5.0, 6.0],
        "your own array needs no request"
    );
    let added = (&pointer + &mine).unwrap();
    assert_eq!(floats(added.mock()), [5.0, 6.0, 7.0]);
    assert_eq!(added.lineage(), ["my dataset / my asset"]);
    assert_eq!(added.status().unwrap(), Status::Private);

    // Before approval: no way to the real value.
    let early = added.get().unwrap_err();
    assert!(early.to_string().contains("request"), "{early}");
    let request = added.request("the sum of my array and the asset").unwrap();
    assert_eq!(added.status().unwrap(), Status::Requested);
    assert!(matches!(
        added.get().unwrap_err(),
        Error::ApprovalPending { .. }
    ));
    let twice = added.request("again").unwrap_err();
    assert!(matches!(twice, Error::AlreadyExists { .. }), "{twice}");

    // The owner reviews: who, why, the steps back to the asset, mock and real results.
    let listed = owner.requests().unwrap();
    assert_eq!(listed.len(), 1);
    let pending = owner.request(&request.id[..6]).unwrap();
    assert_eq!(pending.requester, "jane@caltech.edu");
    let review = pending.review().unwrap();
    assert_eq!(
        review.steps,
        [
            "#1 = array of shape [3] from the notebook",
            "#2 = asset `my dataset / my asset` + #1"
        ]
    );
    assert_eq!(floats(review.mock.as_ref().unwrap()), [5.0, 6.0, 7.0]);
    assert_eq!(
        floats(review.real.as_ref().unwrap().as_ref().unwrap()),
        [5.0, 7.0, 9.0]
    );
    assert!(review.html().contains("Real result (owners only)"));
    // Three values, one per row of the asset: individual records, released only on purpose.
    let refused = pending.approve().unwrap_err().to_string();
    assert!(refused.contains("individual records"), "{refused}");
    pending.approve_overriding("the seed's toy data").unwrap();

    assert_eq!(added.status().unwrap(), Status::Approved);
    assert_eq!(floats(&added.get().unwrap()), [5.0, 7.0, 9.0]);
    let again = owner.request(&request.id).unwrap();
    assert!(
        again
            .approve()
            .unwrap_err()
            .to_string()
            .contains("already approved")
    );
    let log = owner.audit_log().unwrap().0;
    for action in [
        "pointer",
        "action",
        "request",
        "review",
        "approve",
        "get_result",
    ] {
        assert!(
            log.iter().any(|e| e.action == action),
            "audit has no {action}"
        );
    }
    veil::audit::verify(&log).unwrap();
}

#[test]
fn every_op_replays_on_the_real_data_as_it_ran_on_the_mock() {
    let dir = tempfile::tempdir().unwrap();
    let site = launch(dir.path(), true);
    let (owner, _, _) = setup(&site);
    // The owner may read real values directly, so each op's real side is checked without requests.
    let frame = asset(&owner, "table").pointer().unwrap();
    let array = frame.select(["x", "y"]).unwrap().to_array().unwrap();
    let x = frame.column("x").unwrap();
    let (real_frame, mock_frame) = {
        let a = asset(&owner, "table");
        (a.data().unwrap(), a.mock().unwrap())
    };
    let direct = |op: &Op, real: &[&Data], mock: &[&Data]| {
        (ops::eval(op, real).unwrap(), ops::eval(op, mock).unwrap())
    };
    let real_x = ops::eval(&Op::Column { name: "x".into() }, &[&real_frame]).unwrap();
    let mock_x = ops::eval(&Op::Column { name: "x".into() }, &[&mock_frame]).unwrap();
    let real_arr = array.get().unwrap();
    let mock_arr = array.mock().clone();
    assert_eq!(real_arr.shape(), [5, 2]);

    let mut cases: Vec<(Op, &Pointer, Option<&Pointer>)> = Vec::new();
    for kind in [
        Arith::Add,
        Arith::Sub,
        Arith::Mul,
        Arith::Div,
        Arith::Rem,
        Arith::Pow,
    ] {
        cases.push((
            Op::Arith {
                kind,
                scalar: Some(2.0),
                scalar_left: false,
            },
            &x,
            None,
        ));
        cases.push((
            Op::Arith {
                kind,
                scalar: None,
                scalar_left: false,
            },
            &x,
            Some(&x),
        ));
    }
    cases.push((
        Op::Arith {
            kind: Arith::Sub,
            scalar: Some(1.0),
            scalar_left: true,
        },
        &x,
        None,
    ));
    for kind in [
        Compare::Lt,
        Compare::Le,
        Compare::Gt,
        Compare::Ge,
        Compare::Eq,
        Compare::Ne,
    ] {
        cases.push((
            Op::Compare {
                kind,
                scalar: Some(2.0),
            },
            &x,
            None,
        ));
    }
    for kind in [Unary::Neg, Unary::Abs, Unary::Sqrt, Unary::Exp, Unary::Log] {
        cases.push((Op::Unary { kind }, &x, None));
    }
    for kind in [
        Reduce::Sum,
        Reduce::Mean,
        Reduce::Min,
        Reduce::Max,
        Reduce::Std,
        Reduce::Var,
        Reduce::Argmax,
    ] {
        cases.push((Op::Reduce { kind, axis: None }, &array, None));
        cases.push((
            Op::Reduce {
                kind,
                axis: Some(0),
            },
            &array,
            None,
        ));
        cases.push((
            Op::Reduce {
                kind,
                axis: Some(1),
            },
            &array,
            None,
        ));
    }
    cases.push((Op::Transpose, &array, None));
    cases.push((Op::Reshape { shape: vec![2, 5] }, &array, None));
    cases.push((
        Op::Slice {
            ranges: vec![(1, 3), (0, 1)],
        },
        &array,
        None,
    ));
    cases.push((Op::Head { n: 2 }, &array, None));
    cases.push((Op::RowCount, &array, None));
    cases.push((
        Op::Select {
            columns: vec!["y".into(), "label".into()],
        },
        &frame,
        None,
    ));
    cases.push((Op::Head { n: 3 }, &frame, None));
    cases.push((Op::Sample { n: 4, seed: 7 }, &frame, None));
    cases.push((Op::Sample { n: 2, seed: 7 }, &array, None));
    cases.push((Op::RowCount, &frame, None));
    cases.push((
        Op::Sort {
            by: "x".into(),
            descending: true,
        },
        &frame,
        None,
    ));
    cases.push((
        Op::TextEquals {
            column: "label".into(),
            value: "M".into(),
        },
        &frame,
        None,
    ));

    for (op, input, other) in &cases {
        let (real_in, mock_in): (Vec<Data>, Vec<Data>) = std::iter::once(*input)
            .chain(*other)
            .map(|p| {
                if std::ptr::eq(p, &x) {
                    (real_x.clone(), mock_x.clone())
                } else if std::ptr::eq(p, &array) {
                    (real_arr.clone(), mock_arr.clone())
                } else {
                    (real_frame.clone(), mock_frame.clone())
                }
            })
            .unzip();
        let (want_real, want_mock) = direct(
            op,
            &real_in.iter().collect::<Vec<_>>(),
            &mock_in.iter().collect::<Vec<_>>(),
        );
        let others: Vec<&Pointer> = other.iter().copied().collect();
        let p = input.apply(op.clone(), &others).unwrap();
        assert!(
            same(p.mock(), &want_mock),
            "mock side of {op}: {:?} vs {want_mock:?}",
            p.mock()
        );
        let real = p.get().unwrap();
        assert!(
            same(&real, &want_real),
            "real side of {op}: {real:?} vs {want_real:?}"
        );
    }

    // Two-input ops: dot, filter and with_column.
    let w = owner.array(array![0.5, -1.0]).unwrap();
    let score = array.dot(&w).unwrap();
    let want = ops::eval(&Op::Dot, &[&real_arr, &w.get().unwrap()]).unwrap();
    assert_eq!(score.get().unwrap(), want);
    let malignant = frame.text_equals("label", "M").unwrap();
    let only_m = frame.filter(&malignant).unwrap();
    assert_eq!(only_m.get().unwrap().shape(), [3, 3]);
    assert_eq!(only_m.mock().shape(), [2, 3]);
    let with = frame.with_column("x2", &(&x * 2.0).unwrap()).unwrap();
    assert_eq!(
        floats(&with.column("x2").unwrap().get().unwrap()),
        [6.0, 2.0, 8.0, 2.0, 10.0]
    );
    let mean_m = only_m.column("x").unwrap().mean().unwrap();
    assert_eq!(floats(&mean_m.get().unwrap()), [4.0]);
}

/// Equal, counting NaN as equal to NaN (0 / 0 on a mock is fine).
fn same(a: &Data, b: &Data) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => {
            x.shape() == y.shape()
                && x.iter()
                    .zip(y)
                    .all(|(p, q)| p == q || (p.is_nan() && q.is_nan()))
        }
        _ => a == b,
    }
}

fn wait_for(mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the worker never finished"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn the_worker_replays_off_the_critical_path_and_failures_stay_with_the_owner() {
    let dir = tempfile::tempdir().unwrap();
    let site = launch(dir.path(), true);
    let (owner, jane, _) = setup(&site);
    let frame = asset(&jane, "table").pointer().unwrap();
    let x = frame.column("x").unwrap();
    let ok = x.sum().unwrap();
    let ok_request = ok.request("total").unwrap();
    wait_for(|| owner.request(&ok_request.id).unwrap().computation == "ready");

    // Fine on the mock, whose filter keeps 2 rows; fails on the real data, whose filter keeps 3.
    let malignant = frame.text_equals("label", "M").unwrap();
    let picked = x.filter(&malignant).unwrap();
    assert_eq!(picked.mock().shape(), [2]);
    let reshaped = picked.reshape(&[1, 2]).unwrap();
    let request = reshaped.request("shape check").unwrap();
    wait_for(|| owner.request(&request.id).unwrap().computation == "failed");

    // The scientist learns nothing of the real side before approval: not that it failed, nor why.
    let seen = jane.request(&request.id).unwrap();
    assert_eq!(seen.computation, "");
    let shown = format!("{} {} {seen:?}", seen.text(), seen.html());
    assert!(!shown.contains("3 values"), "a real size leaked: {shown}");
    assert!(
        !shown.contains("failed"),
        "the real outcome leaked: {shown}"
    );
    let jane_review = seen.review().unwrap_err();
    assert!(
        matches!(jane_review, Error::PermissionDenied { .. }),
        "{jane_review}"
    );

    // The owner sees the real error, cannot approve it, and denies with a reason.
    let review = owner.request(&request.id).unwrap().review().unwrap();
    let real_error = review.real.as_ref().unwrap().as_ref().unwrap_err();
    assert!(real_error.contains("3 values"), "{real_error}");
    let refused = owner.request(&request.id).unwrap().approve().unwrap_err();
    assert!(
        refused.to_string().contains("failed on the real data"),
        "{refused}"
    );
    owner
        .request(&request.id)
        .unwrap()
        .deny("reshape to the real row count instead")
        .unwrap();
    match reshaped.get().unwrap_err() {
        Error::RequestDenied { reason, .. } => {
            assert_eq!(reason, "reshape to the real row count instead")
        }
        other => panic!("expected a denial, got {other}"),
    }
    assert_eq!(
        reshaped.status().unwrap(),
        Status::Denied("reshape to the real row count instead".into())
    );
}

#[test]
fn scientists_cannot_reach_what_is_not_theirs() {
    let dir = tempfile::tempdir().unwrap();
    let site = launch(dir.path(), true);
    let (owner, jane, guy) = setup(&site);
    owner
        .register(NewUser::new("Bob", "bob@example.org", "bob-pw-1"))
        .unwrap();
    let bob = site.login("bob@example.org", "bob-pw-1").unwrap();

    // Guests list datasets and read mocks, nothing more.
    assert_eq!(guy.datasets().unwrap().len(), 1);
    assert!(asset(&guy, "my asset").mock().is_ok());
    let guest = asset(&guy, "my asset").pointer().unwrap_err();
    assert!(matches!(guest, Error::PermissionDenied { .. }), "{guest}");
    assert!(guy.array(array![1.0]).is_err());

    // Nobody uses someone else's objects: Bob cannot build on Jane's pointer.
    let janes = asset(&jane, "my asset").pointer().unwrap();
    let bobs = asset(&bob, "my asset").pointer().unwrap();
    let mixed = (&bobs + &janes).unwrap_err();
    assert!(
        matches!(mixed, Error::NotFound { kind: "object", .. }),
        "{mixed}"
    );

    // Jane's request and released result are hers alone.
    let total = janes.sum().unwrap();
    let request = total.request("total").unwrap();
    assert!(bob.requests().unwrap().is_empty());
    assert!(matches!(
        bob.request(&request.id).unwrap_err(),
        Error::NotFound { .. }
    ));
    let by_number = bob.request(&format!("#{}", request.number)).unwrap_err();
    assert!(matches!(by_number, Error::NotFound { .. }), "{by_number}");
    // Jane cannot approve her own request; nor can an owner approve their own.
    let own = jane.request(&request.id).unwrap().approve().unwrap_err();
    assert!(matches!(own, Error::PermissionDenied { .. }), "{own}");
    let owners = asset(&owner, "my asset").pointer().unwrap().sum().unwrap();
    let owner_request = owners.request("for the record").unwrap();
    let self_approval = owner
        .request(&owner_request.id)
        .unwrap()
        .approve()
        .unwrap_err();
    assert!(
        self_approval.to_string().contains("your own request"),
        "{self_approval}"
    );
    owner
        .request(&request.id)
        .unwrap()
        .approve_overriding("test data")
        .unwrap();
    assert_eq!(floats(&total.get().unwrap()), [6.0]);
    // Bob's equal-looking computation is his own object, still private.
    let bobs_total = bobs.sum().unwrap();
    assert!(bobs_total.get().is_err());

    // The real data itself stays with the owner.
    assert!(matches!(
        asset(&jane, "my asset").data().unwrap_err(),
        Error::PermissionDenied { .. }
    ));
    // Displays of a scientist's pointer carry the mock only.
    let shown = format!("{}{}", total.text(), total.html());
    assert!(
        shown.contains("Mock result") && !shown.contains("Real"),
        "{shown}"
    );
}

#[test]
fn bad_requests_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let site = launch(dir.path(), true);
    let (owner, jane, _) = setup(&site);
    let p = asset(&jane, "my asset").pointer().unwrap();
    assert!(p.request("  ").unwrap_err().to_string().contains("empty"));
    assert!(matches!(
        jane.request("zz-top").unwrap_err(),
        Error::InvalidInput { .. }
    ));
    assert!(matches!(
        owner.request("abcdef").unwrap_err(),
        Error::NotFound { .. }
    ));
    let a = p.sum().unwrap().request("a").unwrap();
    let b = p.max().unwrap().request("b").unwrap();
    let common =
        a.id.chars()
            .zip(b.id.chars())
            .take_while(|(x, y)| x == y)
            .count();
    if common == 0 {
        let all = owner.request("").unwrap_err();
        assert!(matches!(all, Error::InvalidInput { .. }));
    } else {
        let ambiguous = owner.request(&a.id[..common]).unwrap_err();
        assert!(ambiguous.to_string().contains("several"), "{ambiguous}");
    }
    let deny = owner.request(&a.id).unwrap().deny("").unwrap_err();
    assert!(deny.to_string().contains("empty"), "{deny}");
    // Mock-side problems come back at once, before anything is recorded.
    let bad = p.reshape(&[2]).unwrap_err();
    assert!(bad.to_string().contains("do not fit"), "{bad}");
    let bad_column = asset(&jane, "table")
        .pointer()
        .unwrap()
        .column("radius")
        .unwrap_err();
    assert!(
        bad_column.to_string().contains("x, y, label"),
        "{bad_column}"
    );
    let huge = jane
        .array(ArrayD::<f64>::zeros(IxDyn(&[veil::MAX_LITERAL_VALUES + 1])))
        .unwrap_err();
    assert!(huge.to_string().contains("as an asset"), "{huge}");
}

#[test]
fn requests_and_results_survive_a_relaunch() {
    let dir = tempfile::tempdir().unwrap();
    let (request_id, approved_id) = {
        let site = launch(dir.path(), true);
        let (owner, jane, _) = setup(&site);
        let p = asset(&jane, "table").pointer().unwrap();
        let mean = p.column("y").unwrap().mean().unwrap();
        let pending = mean.request("mean y").unwrap();
        let max = p.column("x").unwrap().max().unwrap();
        let approved = max.request("max x").unwrap();
        owner
            .request(&approved.id)
            .unwrap()
            .approve_overriding("test data")
            .unwrap();
        site.land().unwrap();
        (pending.id.clone(), approved.id.clone())
    };
    let site = launch(dir.path(), false);
    let owner = site.login(ADMIN, ADMIN_PW).unwrap();
    let jane = site.login("jane@caltech.edu", "abc123").unwrap();
    // The cache is gone: the review replays the recorded actions from the asset.
    let review = owner.request(&request_id).unwrap().review().unwrap();
    assert_eq!(
        floats(review.real.as_ref().unwrap().as_ref().unwrap()),
        [29.0]
    );
    owner
        .request(&request_id)
        .unwrap()
        .approve_overriding("test data")
        .unwrap();
    let mine = jane.requests().unwrap();
    assert_eq!(mine.len(), 2);
    assert!(mine.iter().all(|r| r.status == RequestStatus::Approved));
    assert!(mine.iter().any(|r| r.id == approved_id));
}

#[test]
fn a_tiny_cache_evicts_values_and_replays_them_on_demand() {
    let dir = tempfile::tempdir().unwrap();
    // Room for about one small array: every computed value pushes out the ones before it.
    let site = LaunchOptions::new("pointer-site")
        .dir(dir.path())
        .reset(true)
        .cache_bytes(64)
        .launch()
        .unwrap();
    let (owner, jane, _) = setup(&site);
    let frame = asset(&jane, "table").pointer().unwrap();
    let x = frame.column("x").unwrap();
    let y = frame.column("y").unwrap();
    // A diamond: x feeds both sides of the sum, through long chains whose middles are long evicted.
    let mut left = (&x * 2.0).unwrap();
    let mut right = (&x + &y).unwrap();
    let mut middle = None;
    for i in 0..20 {
        left = (&left + 1.0).unwrap();
        right = (&right - 1.0).unwrap();
        if i == 9 {
            middle = Some(left.sqrt().unwrap());
        }
    }
    let total = (&left + &right).unwrap().sum().unwrap();
    let request = total.request("sum").unwrap();
    // Five rows: under the minimum cell count, released on purpose.
    owner
        .request(&request.id)
        .unwrap()
        .approve_overriding("five rows of test data")
        .unwrap();
    let real_x = [3.0, 1.0, 4.0, 1.0, 5.0];
    let expect: f64 = real_x
        .iter()
        .map(|v| (v * 2.0 + 20.0) + (v + v * 10.0 + 1.0 - 20.0))
        .sum();
    assert_eq!(floats(&total.get().unwrap()), [expect]);
    // A step in the middle of a chain the replay ran in one pass is replayed when asked for.
    let middle = middle.unwrap();
    let request = middle.request("a middle step").unwrap();
    owner
        .request(&request.id)
        .unwrap()
        .approve_overriding("test data")
        .unwrap();
    let expect: Vec<f64> = real_x.iter().map(|v| (v * 2.0 + 10.0).sqrt()).collect();
    assert_eq!(floats(&middle.get().unwrap()), expect);
    // The mocks never went through the datasite's cache.
    let mock_x = [2.0, 2.0, 2.0, 0.0, 0.0];
    let mock: f64 = mock_x
        .iter()
        .map(|v| (v * 2.0 + 20.0) + (v + v * 10.0 + 1.0 - 20.0))
        .sum();
    assert_eq!(floats(total.mock()), [mock]);
}

#[test]
fn a_breast_cancer_classifier_through_pointers() {
    let dir = tempfile::tempdir().unwrap();
    let site = launch(dir.path(), true);
    let owner = site.login(ADMIN, ADMIN_PW).unwrap();
    let csv = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../notebooks/data/breast_cancer_wisconsin_diagnostic.csv");
    let frame = read_csv(csv).unwrap();
    let features = frame.drop("Diagnosis").unwrap();
    let targets = frame.select(["Diagnosis"]).unwrap();
    owner
        .upload_dataset(
            Dataset::new("Breast Cancer Biomarker")
                .asset(
                    Asset::new("features")
                        .data(features.clone())
                        .mock(veil::mock::shift_and_jitter(&features, 12345).unwrap()),
                )
                .asset(
                    Asset::new("targets")
                        .data(targets.clone())
                        .mock(veil::mock::shuffle_rows(&targets, 12345).unwrap()),
                ),
        )
        .unwrap();
    owner
        .register(NewUser::new("Jane Doe", "jane@caltech.edu", "abc123"))
        .unwrap();
    let jane = site.login("jane@caltech.edu", "abc123").unwrap();
    let dataset = jane.dataset("Breast Cancer Biomarker").unwrap();

    let x = dataset.asset("features").unwrap().pointer().unwrap();
    let y_frame = dataset.asset("targets").unwrap().pointer().unwrap();
    let counts = y_frame.value_counts("Diagnosis").unwrap();
    let summary = x.select(["radius1", "area1"]).unwrap().describe().unwrap();
    let by_diagnosis = x
        .with_column("m", &y_frame.text_equals("Diagnosis", "M").unwrap())
        .unwrap()
        .group_by(
            "m",
            &[("radius1", ops::Agg::Mean), ("radius1", ops::Agg::Count)],
        )
        .unwrap();
    let z = x.to_array().unwrap().standardize().unwrap();
    let y = y_frame.text_equals("Diagnosis", "M").unwrap();
    let (z_train, z_test) = (
        z.train_rows(0.2, 42).unwrap(),
        z.test_rows(0.2, 42).unwrap(),
    );
    let (y_train, y_test) = (
        y.train_rows(0.2, 42).unwrap(),
        y.test_rows(0.2, 42).unwrap(),
    );
    let weights = z_train.logistic_fit(&y_train, 300, 0.1).unwrap();
    let predicted = weights.predict(&z_test).unwrap();
    let accuracy = predicted.accuracy(&y_test).unwrap();
    let confusion = predicted.confusion_matrix(&y_test).unwrap();
    // On the mock the targets were shuffled, so the model learns nothing real there.
    assert_eq!(accuracy.mock().shape(), Vec::<usize>::new());

    // `describe` shows each column's min and max: released on purpose.
    for p in [&counts, &summary, &by_diagnosis, &accuracy, &confusion] {
        let r = p.request("model evaluation").unwrap();
        owner
            .request(&r.id)
            .unwrap()
            .approve_overriding("published benchmark data")
            .unwrap();
    }
    // The same steps done directly on the real data.
    let real_x = Data::from(features.clone());
    let real_y = Data::from(targets.clone());
    let step = |op: Op, inputs: &[&Data]| ops::eval(&op, inputs).unwrap();
    let mask = step(
        Op::TextEquals {
            column: "Diagnosis".into(),
            value: "M".into(),
        },
        &[&real_y],
    );
    let z_real = step(Op::Standardize, &[&step(Op::ToArray, &[&real_x])]);
    let split = |test| Op::Split {
        test_fraction: 0.2,
        seed: 42,
        test,
    };
    let w = step(
        Op::LogisticFit {
            iterations: 300,
            learning_rate: 0.1,
        },
        &[
            &step(split(false), &[&z_real]),
            &step(split(false), &[&mask]),
        ],
    );
    let pred = step(Op::LogisticPredict, &[&w, &step(split(true), &[&z_real])]);
    let acc = step(Op::Accuracy, &[&pred, &step(split(true), &[&mask])]);
    assert_eq!(accuracy.get().unwrap(), acc);
    let released = floats(&accuracy.get().unwrap())[0];
    assert!(
        released > 0.9,
        "a logistic regression separates these well: {released}"
    );
    let cm = floats(&confusion.get().unwrap());
    assert_eq!(
        cm.iter().sum::<f64>(),
        114.0,
        "a fifth of 569 rows, rounded"
    );
    assert!((cm[0] + cm[3]) / 114.0 == released);

    let counts = counts.get().unwrap();
    let df = counts.as_frame().unwrap();
    assert_eq!(
        df.column("count").unwrap().i64().unwrap().to_vec(),
        [Some(357), Some(212)]
    );
    let summary = summary.get().unwrap();
    let radius_mean = summary
        .as_frame()
        .unwrap()
        .column("radius1")
        .unwrap()
        .f64()
        .unwrap()
        .get(1)
        .unwrap();
    assert!((radius_mean - 14.127).abs() < 5e-4, "{radius_mean}");
    let groups = by_diagnosis.get().unwrap();
    let counts = groups
        .as_frame()
        .unwrap()
        .column("count")
        .unwrap()
        .f64()
        .unwrap()
        .to_vec();
    assert_eq!(counts, [Some(357.0), Some(212.0)]);
}

/// The nice value of this process's thread named `name` (as `/proc` shows it: at most 15 bytes).
fn thread_nice(name: &str) -> Option<i64> {
    let shown = &name[..name.len().min(15)];
    std::fs::read_dir("/proc/self/task").ok()?.find_map(|task| {
        let task = task.ok()?.path();
        let comm = std::fs::read_to_string(task.join("comm")).ok()?;
        if comm.trim_end() != shown {
            return None;
        }
        // The fields after the command's closing parenthesis; the nice value is the stat's 19th.
        let stat = std::fs::read_to_string(task.join("stat")).ok()?;
        let after = &stat[stat.rfind(')')? + 2..];
        after.split(' ').nth(16)?.parse().ok()
    })
}

#[test]
fn real_side_replays_run_below_the_callers_priority() {
    let dir = tempfile::tempdir().unwrap();
    let site = crate::common::launch("nice", dir.path(), true);
    assert_eq!(thread_nice("no-such-thread"), None);
    // The worker lowers its own priority as it starts: wait for it to have started.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut worker = thread_nice("veil-worker-nice");
    while worker != Some(10) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
        worker = thread_nice("veil-worker-nice");
    }
    assert_eq!(worker, Some(10), "the worker's nice value");
    site.land().unwrap();
}

/// The real values of a chain of steps over the tutorial frame, approved by the owner, from a
/// datasite launched with `options`; and how many real-side replays it ran as plans.
fn approved_over_cancer(options: LaunchOptions) -> (Vec<f64>, DataFrame, Vec<f64>, f64) {
    let site = options.reset(true).launch().unwrap();
    let owner = site.login(ADMIN, ADMIN_PW).unwrap();
    let frame = crate::common::cancer();
    owner
        .upload_dataset(
            Dataset::new("cancer").asset(
                Asset::new("frame")
                    .data(frame.clone())
                    .mock(veil::mock::shift_and_jitter(&frame, 7).unwrap()),
            ),
        )
        .unwrap();
    let (mean, top, sum) = crate::common::approved_cancer_chain(&site);
    let planned = crate::common::metric(&owner, "planned_replays");
    // The worker replayed the recorded objects on the real side, and timed them.
    assert!(crate::common::metric(&owner, "replays_run") >= 1.0);
    assert!(crate::common::metric(&owner, "replay_seconds") > 0.0);
    site.land().unwrap();
    (mean, top, sum, planned)
}

#[test]
fn a_large_assets_replays_run_as_plans_over_its_file_and_agree_with_memory() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let planned = approved_over_cancer(
        LaunchOptions::new("planned")
            .dir(a.path())
            .plan_from_bytes(0),
    );
    let in_memory = approved_over_cancer(
        LaunchOptions::new("memory")
            .dir(b.path())
            .plan_from_bytes(u64::MAX),
    );
    assert_eq!(in_memory.3, 0.0, "no plan runs when plans are off");
    // The mean and the top rows were planned (the matrix was not).
    assert!(planned.3 >= 2.0, "planned replays: {}", planned.3);
    assert_eq!(planned.0.len(), 1);
    assert!(
        (planned.0[0] - in_memory.0[0]).abs() < 1e-9,
        "{:?} vs {:?}",
        planned.0,
        in_memory.0
    );
    assert!(
        planned.1.equals_missing(&in_memory.1),
        "{}\n{}",
        planned.1,
        in_memory.1
    );
    assert_eq!(planned.2, in_memory.2);
}
