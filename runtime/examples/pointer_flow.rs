//! The seeds' pointer flow (tutorial 003, "eager execution"): the owner uploads an array with a mock and
//! registers Jane; Jane computes on a pointer to it (each step runs on the mock at once and is replayed
//! on the real data at the datasite), combines it with an array of her own, and asks for the result;
//! the owner reviews and approves; Jane gets the real result.
//!
//! Run with `cargo run -p veil --example pointer_flow`. The datasite goes under `$VEIL_HOME` (default:
//! the user data directory).

use ndarray::array;
use veil::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Owner: a datasite with one small asset, and a scientist account.
    let site = Datasite::launch("pandas-test-domain-1", true)?;
    let owner = site.login("info@openmined.org", "changethis")?;
    owner.upload_dataset(
        Dataset::new("my dataset").asset(
            Asset::new("my asset")
                .data(array![1_i64, 2, 3])
                .mock(array![1_i64, 1, 1]),
        ),
    )?;
    owner.register(
        NewUser::new("Jane Doe", "jane@caltech.edu", "abc123")
            .institution("Caltech")
            .website("https://www.caltech.edu/"),
    )?;

    // Jane: pointers compute eagerly on the mock.
    let jane = site.login("jane@caltech.edu", "abc123")?;
    let asset = jane.dataset("my dataset")?.asset("my asset")?;
    let pointer = asset.pointer()?;
    let plus_one = (&pointer + 1.0)?;
    let sum = pointer.sum()?;
    println!("mock of pointer + 1: {}", plus_one.mock().describe());
    println!("mock of sum: {:?}", sum.mock().as_f64().map(|a| a.sum()));
    let mine = jane.array(array![4_i64, 5, 6])?;
    let added = (&pointer + &mine)?;
    println!(
        "mock of pointer + [4, 5, 6]: {:?}",
        added
            .mock()
            .as_f64()
            .map(|a| a.iter().copied().collect::<Vec<f64>>())
    );
    let request = added.request("the asset plus my own array")?;
    match added.get() {
        Err(Error::ApprovalPending { .. }) => println!("before approval: pending"),
        other => return Err(format!("expected a pending request, got {other:?}").into()),
    }

    // Owner: review and approve.
    let pending = owner.request(&request.id)?;
    let review = pending.review()?;
    println!("review steps:");
    for step in &review.steps {
        println!("  {step}");
    }
    // Three values, one per row: the disclosure checks fail "individual records", so the owner
    // releases them on purpose, with a reason the audit log keeps.
    for check in &review.checks {
        println!(
            "  check {}: {} ({})",
            check.rule, check.verdict, check.reason
        );
    }
    pending.approve_overriding("the seed's toy data")?;

    // Jane: the real result.
    let real = added.get()?;
    let values: Vec<f64> = real
        .as_f64()
        .ok_or("the result is an array")?
        .iter()
        .copied()
        .collect();
    println!("real result: {values:?}");
    assert_eq!(
        values,
        [5.0, 7.0, 9.0],
        "the real result is [1, 2, 3] + [4, 5, 6]"
    );
    site.land()?;
    Ok(())
}
