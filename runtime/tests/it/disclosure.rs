//! Disclosure checks on real datasites: every rule on crafted and real results, each shown in the
//! owner's review, approvals refused until an override gives a reason the audit log keeps, code
//! output withheld, and per-dataset thresholds.

use std::path::Path;

use polars::prelude::{Column, DataFrame};
use veil::ops::Agg;
use veil::prelude::*;
use veil::{Rules, Verdict};

use crate::common::{ADMIN, ADMIN_PW, cancer};

const DATASET: &str = "Breast Cancer Biomarker";

fn launch(dir: &Path) -> Datasite {
    crate::common::launch("checks-site", dir, true)
}

/// The tutorial data as `Patients`, a crafted `Incomes` asset (ten of 1 and two of 1000), and Jane.
fn setup(site: &Datasite) -> (Client, Client) {
    let owner = site.login(ADMIN, ADMIN_PW).unwrap();
    let real = cancer();
    let mut incomes = vec![1.0; 10];
    incomes.extend([1000.0, 1000.0]);
    let incomes = DataFrame::new_infer_height(vec![Column::new("income".into(), incomes)]).unwrap();
    owner
        .upload_dataset(
            Dataset::new(DATASET)
                .asset(
                    Asset::new("Patients")
                        .data(real.clone())
                        .mock(veil::mock::shuffle_rows(&real, 3).unwrap()),
                )
                .asset(
                    Asset::new("Incomes")
                        .data(incomes.clone())
                        .mock(veil::mock::shuffle_rows(&incomes, 3).unwrap()),
                ),
        )
        .unwrap();
    owner
        .register(NewUser::new("Jane Doe", "jane@caltech.edu", "abc123"))
        .unwrap();
    let jane = site.login("jane@caltech.edu", "abc123").unwrap();
    (owner, jane)
}

fn pointer(client: &Client, asset: &str) -> Pointer {
    client
        .dataset(DATASET)
        .unwrap()
        .asset(asset)
        .unwrap()
        .pointer()
        .unwrap()
}

/// Jane requests `p`; the owner's review of it, and its handle on the owner's side.
fn reviewed(owner: &Client, p: &Pointer, why: &str) -> (veil::Review, Request) {
    let request = p.request(why).unwrap();
    let held = owner.request(&request.id).unwrap();
    (held.review().unwrap(), held)
}

fn verdict(review: &veil::Review, rule: &str) -> Verdict {
    review
        .checks
        .iter()
        .find(|c| c.rule == rule)
        .unwrap_or_else(|| panic!("no `{rule}` check in {:?}", review.checks))
        .verdict
}

/// The attack from the issue: `sort(radius1 desc).head(1)`, one patient's whole record, reached the
/// owner's review with no warning. Now the review shows it failing, approval is refused naming the
/// rule, and only an override with a reason releases it, the reason in the audit log.
#[test]
fn one_patients_record_is_flagged_and_released_only_with_an_override() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path());
    let (owner, jane) = setup(&site);
    let largest = pointer(&jane, "Patients")
        .sort("radius1", true)
        .unwrap()
        .head(1)
        .unwrap();
    let (review, held) = reviewed(&owner, &largest, "the largest tumour");
    assert_eq!(verdict(&review, "individual records"), Verdict::Fail);
    assert!(
        review.text().contains("Disclosure checks"),
        "{}",
        review.text()
    );
    let err = held.approve().unwrap_err().to_string();
    assert!(
        err.contains(
            "fails disclosure checks: individual records (31 of its 31 values are each one person's"
        ),
        "{err}"
    );
    assert!(matches!(largest.get(), Err(Error::ApprovalPending { .. })));
    assert!(held.approve_overriding("  ").is_err());
    held.approve_overriding("the patient consented to publication")
        .unwrap();
    assert_eq!(largest.get().unwrap().shape(), vec![1, 31]);
    let log = owner.audit_log().unwrap();
    let entry = log.0.iter().find(|e| e.action == "override").unwrap();
    assert_eq!(entry.detail, "the patient consented to publication");
    veil::audit::verify(&log.0).unwrap();
    // The whole frame released on purpose (17,639 values, kept by their rows alone), then an
    // aggregate: compared with it, and released.
    let everything = pointer(&jane, "Patients");
    let (_, held) = reviewed(&owner, &everything, "the whole table");
    held.approve_overriding("a published table").unwrap();
    let mean = everything.column("radius1").unwrap().mean().unwrap();
    let (review, held) = reviewed(&owner, &mean, "the mean radius");
    assert_eq!(verdict(&review, "differencing"), Verdict::Pass);
    held.approve().unwrap();
    // Operators see which rule let each release out.
    assert_eq!(crate::common::metric(&owner, "releases_checks_passed"), 1.0);
    assert_eq!(
        crate::common::metric(&owner, "releases_overriding_checks"),
        2.0
    );
    site.land().unwrap();
}

/// Each rule on a result it must catch, and an aggregate that passes them all.
#[test]
fn each_rule_catches_its_result_and_a_fair_aggregate_passes() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path());
    let (owner, jane) = setup(&site);
    let patients = pointer(&jane, "Patients");
    let radius = patients.column("radius1").unwrap();

    // Means by diagnosis: 357 and 212 people, even contributions.
    let by = patients
        .group_by(
            "Diagnosis",
            &[("radius1", Agg::Mean), ("radius1", Agg::Count)],
        )
        .unwrap();
    let (review, held) = reviewed(&owner, &by, "means by diagnosis");
    for rule in ["minimum cell count", "zeros", "dominance", "p-percent"] {
        assert_eq!(
            verdict(&review, rule),
            Verdict::Pass,
            "{rule}: {:?}",
            review.checks
        );
    }
    held.approve().unwrap();

    // The few largest tumours: a count under 10.
    let few = radius
        .filter(&radius.gt(25.0).unwrap())
        .unwrap()
        .row_count()
        .unwrap();
    let (review, held) = reviewed(&owner, &few, "how many are huge");
    assert_eq!(verdict(&review, "minimum cell count"), Verdict::Fail);
    assert!(held.approve().is_err());
    // None at all: a zero says nobody has it.
    let none = radius
        .filter(&radius.gt(100.0).unwrap())
        .unwrap()
        .row_count()
        .unwrap();
    let (review, _) = reviewed(&owner, &none, "any giants?");
    assert_eq!(verdict(&review, "zeros"), Verdict::Fail);

    // Two incomes of 1000 among ten of 1: the sum is theirs.
    let total = pointer(&jane, "Incomes")
        .column("income")
        .unwrap()
        .sum()
        .unwrap();
    let (review, held) = reviewed(&owner, &total, "total income");
    assert_eq!(verdict(&review, "dominance"), Verdict::Fail);
    // Twelve people, but only two move the total: a small cell in disguise too.
    assert_eq!(verdict(&review, "minimum cell count"), Verdict::Fail);
    let err = held.approve().unwrap_err().to_string();
    assert!(
        err.contains("dominance (`sum` (the largest 2 make 99.5%)"),
        "{err}"
    );

    // A maximum is one person's value.
    let (review, _) = reviewed(&owner, &radius.max().unwrap(), "the largest");
    assert_eq!(verdict(&review, "individual records"), Verdict::Fail);

    // A model of 31 parameters on 25 rows restates them; on all 569 it does not.
    let numeric: Vec<String> = cancer()
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .filter(|n| n != "Diagnosis")
        .collect();
    let features = patients.select(&numeric).unwrap();
    let targets = patients.text_equals("Diagnosis", "M").unwrap();
    let small = features.head(25).unwrap().to_array().unwrap();
    let fit = small
        .logistic_fit(&targets.head(25).unwrap(), 10, 0.1)
        .unwrap();
    let (review, _) = reviewed(&owner, &fit, "a tiny model");
    assert_eq!(verdict(&review, "degrees of freedom"), Verdict::Fail);
    let fit = features
        .to_array()
        .unwrap()
        .logistic_fit(&targets, 10, 0.1)
        .unwrap();
    let (review, _) = reviewed(&owner, &fit, "a model");
    assert_eq!(verdict(&review, "degrees of freedom"), Verdict::Pass);
    site.land().unwrap();
}

/// Thresholds are the dataset's: raising the minimum count above the malignant group's 212
/// fails the same table that passed.
#[test]
fn thresholds_are_per_dataset() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path());
    let (owner, jane) = setup(&site);
    assert_eq!(owner.disclosure_rules(DATASET).unwrap(), Rules::default());
    let strict = Rules {
        min_count: 250,
        ..Rules::default()
    };
    owner.set_disclosure_rules(DATASET, strict.clone()).unwrap();
    assert_eq!(jane.disclosure_rules(DATASET).unwrap(), strict);
    assert!(
        jane.set_disclosure_rules(DATASET, Rules::default())
            .is_err()
    );
    let bad = Rules {
        dominance_k: 1.5,
        ..Rules::default()
    };
    assert!(owner.set_disclosure_rules(DATASET, bad).is_err());
    let by = pointer(&jane, "Patients")
        .group_by("Diagnosis", &[("radius1", Agg::Count)])
        .unwrap();
    let (review, _) = reviewed(&owner, &by, "counts");
    assert_eq!(verdict(&review, "minimum cell count"), Verdict::Fail);
    let check = review
        .checks
        .iter()
        .find(|c| c.rule == "minimum cell count")
        .unwrap();
    assert!(
        check
            .reason
            .contains("fewer than 250 people in Diagnosis = M"),
        "{check:?}"
    );
    site.land().unwrap();
}

/// Code that returns rows of the frame it was given is approved (the owner approves code, not an
/// output), but its output is withheld when it runs, until the owner overrides.
#[test]
fn code_returning_real_rows_is_withheld_until_the_owner_overrides() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path());
    let (owner, jane) = setup(&site);
    let patients = jane.dataset(DATASET).unwrap().asset("Patients").unwrap();
    let code = veil::function! {
        fn first_rows(patients: DataFrame) -> DataFrame {
            patients.head(Some(3))
        }
    }
    .input_policy(ExactMatch::new().asset("patients", &patients))
    .output_policy(ExecuteCount(2));
    let request = jane.request_code_execution(&code, "a peek").unwrap();
    let held = owner.request(&request.id).unwrap();
    let review = held.review().unwrap();
    assert_eq!(review.checks[0].verdict, Verdict::Review);
    held.approve().unwrap();
    let err = request.get().unwrap_err().to_string();
    assert!(
        err.contains("fails the datasite's disclosure checks (individual records)"),
        "{err}"
    );
    let log = owner.audit_log().unwrap();
    assert!(log.0.iter().any(|e| e.action == "withheld"));
    held.approve_overriding("synthetic-looking enough").unwrap();
    assert_eq!(request.get().unwrap().shape(), vec![3, 31]);
    site.land().unwrap();
}

/// Every release carries a receipt that the audit entry of the release records: an approved
/// pointer's result, a code run released over a check, a differentially private release. Each
/// verifies against the log; a receipt with any field changed does not, nor does any receipt once
/// an entry of the log is edited in the database file, and the failure names that entry.
#[test]
fn receipts_tie_each_release_to_the_audit_log() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path());
    let (owner, jane) = setup(&site);

    // An approved pointer's result.
    let mean = pointer(&jane, "Patients")
        .column("radius1")
        .unwrap()
        .mean()
        .unwrap();
    let (_, held) = reviewed(&owner, &mean, "the mean radius");
    let request = jane.request(&held.id).unwrap();
    assert!(
        request
            .receipt()
            .unwrap_err()
            .to_string()
            .contains("once its result is released"),
        "a pending request has no receipt"
    );
    held.approve().unwrap();
    let value = request.get().unwrap();
    let receipt = request.receipt().unwrap();
    assert_eq!(receipt.kind, "result");
    assert_eq!(receipt.requester, "jane@caltech.edu");
    assert_eq!(receipt.approver, ADMIN);
    assert_eq!(receipt.site, "checks-site");
    assert!(receipt.datasets[0].starts_with("Breast Cancer Biomarker@"));
    assert!(receipt.computation.starts_with("ops:"));
    assert!(
        receipt.checks.contains("minimum cell count: pass"),
        "{}",
        receipt.checks
    );
    assert_eq!(
        receipt.result,
        veil::receipt::sha256(&value.encode().unwrap()),
        "the receipt names the released value"
    );
    // The same steps from the same data name the same computation and versions.
    let again = pointer(&jane, "Patients")
        .column("radius1")
        .unwrap()
        .mean()
        .unwrap();
    let (_, held_again) = reviewed(&owner, &again, "the mean radius, again");
    held_again.approve().unwrap();
    let second = jane.request(&held_again.id).unwrap().receipt().unwrap();
    assert_eq!(second.computation, receipt.computation);
    assert_eq!(second.datasets, receipt.datasets);
    assert_ne!(second.audit_seq, receipt.audit_seq);
    let checked = jane.verify_receipt(&receipt).unwrap();
    assert_eq!(checked.audit_seq, receipt.audit_seq);
    assert!(checked.entries > receipt.audit_seq);
    // The owner sees the same receipt; her log records it.
    assert_eq!(owner.request(&held.id).unwrap().receipt().unwrap(), receipt);
    let log = owner.audit_log().unwrap();
    let entry = log.0.iter().find(|e| e.seq == receipt.audit_seq).unwrap();
    assert_eq!(entry.action, "approve");
    assert!(entry.detail.contains(&veil::receipt::digest(&receipt)));
    // Anyone holding the exported log checks it without the datasite.
    veil::receipt::verify(&receipt, &log.0).unwrap();

    // Any field changed: refused, saying so.
    let mut forged = receipt.clone();
    forged.approver = "someone else".into();
    let err = jane.verify_receipt(&forged).unwrap_err().to_string();
    assert!(err.contains("a field of the receipt was changed"), "{err}");
    let mut moved = receipt.clone();
    moved.audit_seq = second.audit_seq;
    assert!(jane.verify_receipt(&moved).is_err());

    // A code run released over a check names the code, its policy and the override.
    let patients = jane.dataset(DATASET).unwrap().asset("Patients").unwrap();
    let code = veil::function! {
        fn tail_rows(patients: DataFrame) -> DataFrame {
            patients.tail(Some(2))
        }
    }
    .input_policy(ExactMatch::new().asset("patients", &patients));
    let run = jane.request_code_execution(&code, "two rows").unwrap();
    owner
        .request(&run.id)
        .unwrap()
        .approve_overriding("the owner published these two rows")
        .unwrap();
    let output = run.get().unwrap();
    let code_receipt = run.receipt().unwrap();
    assert_eq!(code_receipt.kind, "code run 1");
    assert_eq!(
        code_receipt.computation,
        format!("code:{}", veil::receipt::sha256(code.source().as_bytes()))
    );
    assert!(
        code_receipt
            .checks
            .contains("the owner published these two rows"),
        "{}",
        code_receipt.checks
    );
    assert_eq!(
        code_receipt.result,
        veil::receipt::sha256(&output.encode().unwrap())
    );
    jane.verify_receipt(&code_receipt).unwrap();

    // A DP release carries its own.
    let asset = owner.dataset(DATASET).unwrap().asset("Patients").unwrap();
    asset.set_bounds("radius1", 0.0, 40.0).unwrap();
    owner.set_budget("jane@caltech.edu", DATASET, 1.0).unwrap();
    let released = pointer(&jane, "Patients")
        .column("radius1")
        .unwrap()
        .row_count()
        .unwrap()
        .get_dp(0.5)
        .unwrap();
    assert_eq!(released.receipt.kind, "dp release");
    assert!(
        released.receipt.policy.contains("ε 0.5"),
        "{}",
        released.receipt.policy
    );
    jane.verify_receipt(&released.receipt).unwrap();

    // An entry edited in the file, past the triggers that stop the datasite's own connection:
    // every receipt from there on fails, naming the entry.
    let db = rusqlite::Connection::open(site.dir().join("veil.db")).unwrap();
    db.execute_batch("DROP TRIGGER audit_no_update").unwrap();
    db.execute(
        "UPDATE audit SET detail = 'nothing happened' WHERE seq = ?1",
        [code_receipt.audit_seq],
    )
    .unwrap();
    drop(db);
    for later in [&code_receipt, &released.receipt] {
        let err = jane.verify_receipt(later).unwrap_err().to_string();
        assert!(
            err.contains(&format!(
                "entry {} does not match the chain",
                code_receipt.audit_seq
            )),
            "{err}"
        );
    }
    // An earlier receipt fails too: the chain is checked to the log's end.
    assert!(jane.verify_receipt(&receipt).is_err());
    site.land().unwrap();
}

mod attacks;

/// Review's third outcome: the owner sends a request back with the changes it needs. Jane sees
/// the message (the request, the pointer's status, the error of `get`), nothing is released, the
/// audit log keeps it, and her new request is approved. An empty message is refused, and a
/// request sent back cannot then be approved.
#[test]
fn request_changes_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path());
    let (owner, jane) = setup(&site);
    let radius = pointer(&jane, "Patients").column("radius1").unwrap();
    let few = radius
        .filter(&radius.gt(25.0).unwrap())
        .unwrap()
        .mean()
        .unwrap();
    let (_, held) = reviewed(&owner, &few, "the mean of the largest");
    assert!(held.request_changes("  ").is_err());
    let message = "ask for the mean of radii over 20 instead: over 25 there are too few";
    let sent = held.request_changes(message).unwrap();
    assert_eq!(sent.status, RequestStatus::ChangesRequested);
    let mine = jane.request(&held.id).unwrap();
    assert_eq!(mine.status, RequestStatus::ChangesRequested);
    assert_eq!(mine.decision.as_deref(), Some(message));
    assert_eq!(
        few.status().unwrap().to_string(),
        format!("changes requested: {message}")
    );
    let err = few.get().unwrap_err().to_string();
    assert!(err.contains(message), "{err}");
    assert!(
        held.approve().is_err(),
        "sent back is final for this request"
    );
    assert!(
        jane.request(&held.id)
            .unwrap()
            .request_changes("mine")
            .is_err()
    );
    let log = owner.audit_log().unwrap();
    assert!(
        log.0
            .iter()
            .any(|e| e.action == "request_changes" && e.detail == message)
    );
    let fixed = radius
        .filter(&radius.gt(20.0).unwrap())
        .unwrap()
        .mean()
        .unwrap();
    let (_, held) = reviewed(&owner, &fixed, "the mean of radii over 20");
    held.approve().unwrap();
    assert!(fixed.get().is_ok());
    site.land().unwrap();
}

/// The two-person rule: on a dataset that asks for it, one owner's approval leaves the request
/// pending (saying who approved), the same owner cannot approve twice, and a second owner's
/// approval releases it.
#[test]
fn the_two_person_rule_needs_two_different_owners() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path());
    let (owner, jane) = setup(&site);
    owner
        .set_disclosure_rules(
            DATASET,
            Rules {
                approvals: 2,
                ..Rules::default()
            },
        )
        .unwrap();
    owner
        .register(NewUser::new("Owen", "owen@lab.org", "owen-pw").role(Role::DataOwner))
        .unwrap();
    let owen = site.login("owen@lab.org", "owen-pw").unwrap();
    let mean = pointer(&jane, "Patients")
        .column("radius1")
        .unwrap()
        .mean()
        .unwrap();
    let (_, held) = reviewed(&owner, &mean, "the mean radius");
    let first = held.approve().unwrap();
    assert_eq!(first.status, RequestStatus::Pending);
    assert!(
        first
            .decision
            .as_deref()
            .unwrap_or("")
            .contains("1 of 2 approvals"),
        "{:?}",
        first.decision
    );
    assert!(matches!(mean.get(), Err(Error::ApprovalPending { .. })));
    let again = held.approve().unwrap_err().to_string();
    assert!(again.contains("another owner"), "{again}");
    let second = owen.request(&held.id).unwrap().approve().unwrap();
    assert_eq!(second.status, RequestStatus::Approved);
    assert!(mean.get().is_ok());
    let log = owner.audit_log().unwrap();
    assert!(log.0.iter().any(|e| e.action == "approve_in_part"));
    // Code under the rule: two approvals, then a run a check withholds, which one owner may
    // release with an override (the release itself was agreed by two).
    let patients = jane.dataset(DATASET).unwrap().asset("Patients").unwrap();
    let code = veil::function! {
        fn two_rows(patients: DataFrame) -> DataFrame {
            patients.head(Some(2))
        }
    }
    .input_policy(ExactMatch::new().asset("patients", &patients));
    let run = jane.request_code_execution(&code, "two rows").unwrap();
    let held = owner.request(&run.id).unwrap();
    assert_eq!(held.approve().unwrap().status, RequestStatus::Pending);
    owen.request(&run.id).unwrap().approve().unwrap();
    assert!(run.get().is_err(), "rows of the real data are withheld");
    held.approve_overriding("the two patients consented")
        .unwrap();
    assert_eq!(run.get().unwrap().shape(), vec![2, 31]);
    site.land().unwrap();
}

/// Counts rounded to a base where the owner switches it on (ACRO's mitigation); statistics are
/// left as they are. Scientists colluding is assumed unless the owner says otherwise: then
/// another scientist's release does not count for differencing.
#[test]
fn rounding_and_collusion_are_the_owners_settings() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path());
    let (owner, jane) = setup(&site);
    let shown = owner.disclosure_rules(DATASET).unwrap().text();
    assert!(shown.contains("rounding of released counts"), "{shown}");
    assert!(shown.contains("every scientist's"), "{shown}");
    owner
        .set_disclosure_rules(
            DATASET,
            Rules {
                rounding: 5,
                assume_collusion: false,
                ..Rules::default()
            },
        )
        .unwrap();
    let by = pointer(&jane, "Patients")
        .group_by(
            "Diagnosis",
            &[("radius1", Agg::Count), ("radius1", Agg::Mean)],
        )
        .unwrap();
    let (_, held) = reviewed(&owner, &by, "counts by diagnosis");
    held.approve().unwrap();
    let Data::Frame(df) = by.get().unwrap() else {
        panic!("not a frame")
    };
    let counts: Vec<f64> = df
        .column("count")
        .unwrap()
        .f64()
        .unwrap()
        .into_no_null_iter()
        .collect();
    assert_eq!(counts, [355.0, 210.0], "357 and 212, rounded to fives");
    let means: Vec<f64> = df
        .column("radius1_mean")
        .unwrap()
        .f64()
        .unwrap()
        .into_no_null_iter()
        .collect();
    assert!(means.iter().all(|m| m.fract() != 0.0), "{means:?}");
    // Jane's total, then Joe's total but one: with collusion not assumed, they are not compared.
    let radius = pointer(&jane, "Patients").column("radius1").unwrap();
    let (_, held) = reviewed(&owner, &radius.sum().unwrap(), "the total");
    held.approve().unwrap();
    owner
        .register(NewUser::new("Joe", "joe@caltech.edu", "abc123"))
        .unwrap();
    let joe = site.login("joe@caltech.edu", "abc123").unwrap();
    let r = pointer(&joe, "Patients").column("radius1").unwrap();
    let but_one = r.filter(&r.lt(28.0).unwrap()).unwrap().sum().unwrap();
    let (review, _) = reviewed(&owner, &but_one, "Joe's total");
    assert_eq!(verdict(&review, "differencing"), Verdict::Pass);
    site.land().unwrap();
}

/// A time floor on answers that depend on real computation: a released result and a DP release
/// take at least the floor, however quick the computation (a stall, so timing says little).
#[test]
fn real_answers_wait_for_the_floor() {
    let tmp = tempfile::tempdir().unwrap();
    let floor = std::time::Duration::from_millis(700);
    let site = LaunchOptions::new("floor-site")
        .dir(tmp.path())
        .reset(true)
        .real_answer_floor(floor)
        .launch()
        .unwrap();
    let (owner, jane) = setup(&site);
    let mean = pointer(&jane, "Patients")
        .column("radius1")
        .unwrap()
        .mean()
        .unwrap();
    let (_, held) = reviewed(&owner, &mean, "the mean");
    held.approve().unwrap();
    let request = jane.request(&held.id).unwrap();
    for get in [
        &(|| request.get().map(drop)) as &dyn Fn() -> veil::Result<()>,
        &|| mean.get().map(drop),
    ] {
        let began = std::time::Instant::now();
        get().unwrap();
        assert!(began.elapsed() >= floor, "{:?}", began.elapsed());
    }
    let asset = owner.dataset(DATASET).unwrap().asset("Patients").unwrap();
    asset.set_bounds("radius1", 0.0, 40.0).unwrap();
    owner.set_budget("jane@caltech.edu", DATASET, 1.0).unwrap();
    let began = std::time::Instant::now();
    mean.get_dp(0.5).unwrap();
    assert!(began.elapsed() >= floor, "{:?}", began.elapsed());
    // A refusal waits too: whether it failed says nothing sooner.
    let began = std::time::Instant::now();
    assert!(mean.get_dp(5.0).is_err());
    assert!(began.elapsed() >= floor, "{:?}", began.elapsed());
    site.land().unwrap();
}
