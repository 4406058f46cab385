//! Attacks on the trust boundary, each written as the attack a scientist with the public API and her own
//! login would make (regression tests for issue 12). The datasite must decide every call from its own
//! records, whatever the handles a client holds say.

use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use ndarray::array;
use polars::prelude::{Column, DataFrame};
use veil::prelude::*;

use crate::common::{ADMIN, ADMIN_PW};

fn launch(dir: &Path) -> Datasite {
    crate::common::launch("boundary-site", dir, true)
}

/// The owner, Jane and Bob (scientists), a dataset with the seed's array and a small frame.
fn setup(site: &Datasite) -> (Client, Client, Client) {
    let owner = site.login(ADMIN, ADMIN_PW).unwrap();
    let frame =
        |x: [f64; 5]| DataFrame::new_infer_height(vec![Column::new("radius".into(), x)]).unwrap();
    owner
        .upload_dataset(
            Dataset::new("cancer")
                .asset(
                    Asset::new("numbers")
                        .data(array![1.0, 2.0, 3.0])
                        .mock(array![1.0, 1.0, 1.0]),
                )
                .asset(
                    Asset::new("features")
                        .data(frame([13.0, 11.0, 17.5, 9.0, 20.5]))
                        .mock(frame([12.0, 14.0, 16.0, 22.0, 10.0])),
                ),
        )
        .unwrap();
    for (name, email) in [("Jane", "jane@caltech.edu"), ("Bob", "bob@mit.edu")] {
        owner
            .register(NewUser::new(name, email, "pw-123456"))
            .unwrap();
    }
    let jane = site.login("jane@caltech.edu", "pw-123456").unwrap();
    let bob = site.login("bob@mit.edu", "pw-123456").unwrap();
    (owner, jane, bob)
}

fn asset(client: &Client, name: &str) -> SiteAsset {
    client.dataset("cancer").unwrap().asset(name).unwrap()
}

fn total(client: &Client, tag: f64) -> Code {
    // `tag` makes each submission distinct (identical ones are refused as duplicates).
    veil::function! {
        fn total(inp: ArrayD<f64>, tag: f64) -> f64 { inp.sum() + tag * 0.0 }
    }
    .input_policy(
        ExactMatch::new()
            .asset("inp", &asset(client, "numbers"))
            .constant("tag", tag),
    )
}

/// Class 1: a request handle's fields were believed. Jane cloned her approved request and pointed its
/// `code_id` at code the owner denied, and `.get()` ran it on the real data. Handles no longer hold
/// the fields (see the `compile_fail` example on [`veil::Request`]); what is left to edit is the id,
/// and the datasite checks the caller against the record that id names, for every call.
#[test]
fn a_forged_request_handle_acts_on_its_own_record_only() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path());
    let (owner, jane, bob) = setup(&site);
    let approved = jane
        .request_code_execution(&total(&jane, 1.0), "ok")
        .unwrap();
    owner.request(&approved.id).unwrap().approve().unwrap();
    let leak = |client: &Client| {
        veil::function! { fn leak(inp: ArrayD<f64>) -> ArrayD<f64> { inp } }
            .input_policy(ExactMatch::new().asset("inp", &asset(client, "numbers")))
    };
    let denied = jane
        .request_code_execution(&leak(&jane), "all of it")
        .unwrap();
    owner.request(&denied.id).unwrap().deny("raw data").unwrap();
    let unreviewed = jane
        .request_code_execution(&total(&jane, 2.0), "later")
        .unwrap();
    let bobs = bob.request_code_execution(&leak(&bob), "bob's").unwrap();
    owner.request(&bobs.id).unwrap().approve().unwrap();

    // Jane's approved handle, re-addressed at each other request, in every way a handle can act.
    for (target, why) in [
        (&denied, "denied"),
        (&unreviewed, "pending"),
        (&bobs, "bob's"),
    ] {
        // The fields are read-only; a handle made from a view of her choosing is what she can forge.
        let mut view = (*approved).clone();
        view.id = target.id.clone();
        view.status = RequestStatus::Approved;
        view.requester = jane.email().to_string();
        let forged = Request::from_view(view, jane.clone());
        for (call, outcome) in [
            ("get", forged.get().map(|_| ())),
            ("run", forged.run().map(|_| ())),
            ("run_privately", forged.run_privately().map(|_| ())),
            ("approve", forged.approve().map(|_| ())),
            ("review", forged.review().map(|_| ())),
        ] {
            assert!(outcome.is_err(), "{call} on a forged handle ({why}) worked");
        }
        let code = forged.code();
        assert_eq!(code.is_ok(), why != "bob's", "{why}: {code:?}");
    }
    // Bob's code stays unread by Jane, and ran for nobody.
    let e = jane.request(&bobs.id).unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    let ran = owner
        .audit_log()
        .unwrap()
        .0
        .iter()
        .filter(|e| e.action == "execute")
        .count();
    assert_eq!(
        ran, 0,
        "code ran though only Jane's first request was asked for"
    );
    site.land().unwrap();
}

/// Class 3: whether a pending request's real-side computation worked was an oracle on the real data.
/// Before approval the requester's view of a request must not depend on the real data at all.
#[test]
fn a_pending_request_tells_its_requester_nothing_about_the_real_side() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path());
    let (owner, jane, _) = setup(&site);
    let radius = asset(&jane, "features")
        .pointer()
        .unwrap()
        .column("radius")
        .unwrap();
    // Mock radii reach 22, the real ones 20.5: `(radius > t).slice(0..1)` works on the mock for every
    // `t` below 22, and fails on the real data exactly when no real radius exceeds `t`. Bisecting `t`
    // over such requests recovered the real maximum.
    let probe = |t: f64| {
        let kept = radius.filter(&radius.gt(t).unwrap()).unwrap();
        // One range, for the one axis: `0..1` is the slice meant, not a list of indices.
        #[allow(clippy::single_range_in_vec_init)]
        let first = kept.slice(&[0..1]).unwrap();
        first.request("probe").unwrap()
    };
    let fails = probe(21.0);
    let works = probe(15.0);
    for r in [&fails, &works] {
        let start = Instant::now();
        while owner.request(&r.id).unwrap().computation == "pending" {
            assert!(start.elapsed() < Duration::from_secs(30), "worker stuck");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let seen = |r: &Request| {
        let r = jane.request(&r.id).unwrap();
        let text = r
            .text()
            .replace(&r.id, "ID")
            .replace(&format!("#{}", r.number), "#N");
        text.lines()
            .filter(|l| !l.contains("asked"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(seen(&fails), seen(&works));
    for r in [&fails, &works] {
        assert!(matches!(r.get(), Err(Error::ApprovalPending { .. })));
    }
    site.land().unwrap();
}

/// Class 4: a pointer's labels came from the client's asset handle, so a review could be made to show
/// another dataset's name. Reviews must show the names the datasite holds for the ids it resolves.
/// A handle's fields are now read-only (a `compile_fail` doctest on `SiteAsset`), so what a client
/// can still choose is the call: it names the asset by id alone, and the review names it from the
/// datasite's records.
#[test]
fn a_review_names_what_the_datasite_holds_not_what_the_client_says() {
    use veil::api::call::{Call, Reply};
    use veil::api::calls;
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path());
    let (owner, jane, _) = setup(&site);
    let features = asset(&jane, "features");
    let Reply::Pointer(view) = jane
        .call(Call::from(calls::AssetPointer {
            asset: features.id().to_string(),
        }))
        .unwrap()
    else {
        panic!("not a pointer");
    };
    // Her own handle, made from a view whose lineage she chose.
    let mut view = view;
    view.lineage = vec!["Public Census / County totals (published)".into()];
    let head = Pointer::from_view(view, &jane).head(3).unwrap();
    let request = head.request("published totals").unwrap();
    let review = owner.request(&request.id).unwrap().review().unwrap();
    let shown = format!("{} {}", review.text(), review.html());
    assert!(shown.contains("cancer / features"), "{shown}");
    assert!(!shown.contains("Public Census"), "{shown}");
    site.land().unwrap();
}

/// Class 5: racing `run()`s under `ExecuteCount(n)` both got the newer run, and the older run's result
/// reached nobody. Each caller that claims a run gets that run's result.
#[test]
fn racing_runs_each_get_their_own_run() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path());
    let (owner, jane, _) = setup(&site);
    for trial in 0..2 {
        let code = veil::function! {
            fn slow(inp: ArrayD<f64>, tag: f64) -> f64 {
                std::thread::sleep(std::time::Duration::from_millis(300));
                inp.sum() + tag * 0.0
            }
        }
        .input_policy(
            ExactMatch::new()
                .asset("inp", &asset(&jane, "numbers"))
                .constant("tag", trial as f64),
        )
        .output_policy(ExecuteCount(3));
        let request = jane.request_code_execution(&code, "three times").unwrap();
        owner.request(&request.id).unwrap().approve().unwrap();
        let barrier = Arc::new(Barrier::new(3));
        std::thread::scope(|s| {
            for _ in 0..3 {
                let (barrier, request) = (barrier.clone(), request.clone());
                s.spawn(move || {
                    barrier.wait();
                    assert_eq!(
                        request.run().unwrap().as_json().unwrap().as_f64(),
                        Some(6.0)
                    );
                });
            }
        });
        let mut released: Vec<String> = owner
            .audit_log()
            .unwrap()
            .0
            .iter()
            .filter(|e| e.action == "get_result" && e.subject == request.id)
            // The entry names the run, then the release's receipt.
            .map(|e| e.detail.split(';').next().unwrap_or_default().to_string())
            .collect();
        released.sort();
        assert_eq!(released, ["run 1", "run 2", "run 3"], "trial {trial}");
    }
    site.land().unwrap();
}

/// Class 7: messages quoted user input whole (a 1 MB email gave a 1 MB error).
#[test]
fn errors_quote_user_input_cut_to_a_sane_length() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path());
    let (owner, jane, _) = setup(&site);
    let huge = "x".repeat(1 << 20);
    // Refused inputs: the message says what is wrong, and is short.
    let refused = [
        owner
            .register(NewUser::new(
                "Eve",
                format!("{huge}@example.org"),
                "pw-123456",
            ))
            .unwrap_err(),
        owner
            .register(NewUser::new(huge.as_str(), "eve@example.org", "pw-123456"))
            .unwrap_err(),
        owner
            .upload_dataset(Dataset::new(huge.as_str()))
            .unwrap_err(),
    ];
    // Lookups: the message also names what was looked up, cut short.
    // Shapes a client sends: a million dimensions, or dimensions whose product overflows.
    let numbers = asset(&jane, "numbers").pointer().unwrap();
    let mut shapes = vec![
        jane.array(array![1.0, 2.0, 3.0])
            .unwrap()
            .apply(
                veil::ops::Op::Reshape {
                    shape: vec![1; 1 << 20],
                },
                &[],
            )
            .unwrap_err(),
    ];
    for shape in [vec![1; 1 << 20], vec![3, (1 << 63) + 1, (1 << 63) + 1]] {
        // The overflowing one panicked inside the dispatch, before anything was recorded.
        shapes.push(
            numbers
                .apply(veil::ops::Op::Reshape { shape }, &[])
                .unwrap_err(),
        );
    }
    for e in &shapes {
        assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
        assert!(e.to_string().contains("shape"), "{e}");
    }
    let refused: Vec<Error> = refused.into_iter().chain(shapes).collect();
    let looked_up = [
        site.login(&huge, "pw").unwrap_err(),
        jane.dataset(&huge).unwrap_err(),
        jane.request(&huge).unwrap_err(),
        jane.request(&format!("#{huge}")).unwrap_err(),
        jane.dataset("cancer").unwrap().asset(&huge).unwrap_err(),
    ];
    for (e, names_it) in refused
        .iter()
        .map(|e| (e, false))
        .chain(looked_up.iter().map(|e| (e, true)))
    {
        let shown = e.to_string();
        assert!(
            shown.len() < 1000,
            "{} bytes: {}...",
            shown.len(),
            &shown[..200]
        );
        assert!(
            !names_it || shown.contains("xxxx…"),
            "the message no longer names its input: {shown}"
        );
    }
    site.land().unwrap();
}

/// Found by review: submitted code read any file of the datasite's machine while it compiled. The
/// assembler's `.incbin` (through `global_asm!`) embeds a file in the binary, and a mock run, which
/// needs no approval, hands it back: here the datasite's own database. Code that reaches outside the
/// language (inline assembly, `unsafe`, `extern`, attributes beyond lints and docs) is refused before
/// anything compiles.
#[test]
fn submitted_code_cannot_embed_the_datasites_files() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path());
    let (_, jane, _) = setup(&site);
    let db = tmp.path().join("veil.db");
    let source = format!(
        r#"fn leak(inp: ArrayD<f64>) -> Vec<u8> {{
    mod embedded {{
        core::arch::global_asm!(".pushsection .rodata.leak,\"a\"", ".globl LEAK_S", "LEAK_S:",
            ".incbin \"{}\"", ".globl LEAK_E", "LEAK_E:", ".popsection");
    }}
    unsafe extern "C" {{ static LEAK_S: u8; static LEAK_E: u8; }}
    unsafe {{
        let (s, e) = (&raw const LEAK_S, &raw const LEAK_E);
        std::slice::from_raw_parts(s, (e.offset_from(s) as usize).min(16)).to_vec()
    }}
}}"#,
        db.display()
    );
    let code =
        Code::new(source).input_policy(ExactMatch::new().asset("inp", &asset(&jane, "numbers")));
    match code.run_on_mocks() {
        Ok(data) => {
            let bytes: Vec<u8> = serde_json::from_value(data.as_json().cloned().unwrap()).unwrap();
            panic!(
                "a mock run read the datasite's database: {:?}",
                String::from_utf8_lossy(&bytes)
            );
        }
        Err(e) => {
            assert!(matches!(e, Error::InvalidInput { .. }), "{e}");
            assert!(e.to_string().contains("`global_asm!`"), "{e}");
        }
    }
    let refused = jane.request_code_execution(&code, "totals").unwrap_err();
    assert!(
        refused.to_string().contains("reaches outside the language"),
        "{refused}"
    );
    site.land().unwrap();
}

/// Found by review: a user made a guest kept her way to real data: she could still request results,
/// collect approved ones and run approved code on the real data. Guests compute nothing, whatever
/// they were before.
#[test]
fn a_user_made_a_guest_reaches_no_real_result() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path());
    let (owner, jane, _) = setup(&site);
    let sum = asset(&jane, "numbers").pointer().unwrap().sum().unwrap();
    let result = sum.request("the total").unwrap();
    owner
        .request(&result.id)
        .unwrap()
        .approve_overriding("three numbers of test data")
        .unwrap();
    let code = jane
        .request_code_execution(&total(&jane, 3.0).output_policy(ExecuteCount(2)), "twice")
        .unwrap();
    owner.request(&code.id).unwrap().approve().unwrap();
    let mean = asset(&jane, "numbers").pointer().unwrap().mean().unwrap();

    owner.set_role("jane@caltech.edu", Role::Guest).unwrap();
    let attempts = [
        ("pointer.get", sum.get().map(drop)),
        ("request.get", result.get().map(drop)),
        ("code get", code.get().map(drop)),
        ("code run", code.run().map(drop)),
        ("pointer.request", mean.request("more").map(drop)),
    ];
    for (what, outcome) in attempts {
        match outcome {
            Err(Error::PermissionDenied { .. }) => {}
            other => panic!("{what} as a guest: {other:?}"),
        }
    }
    let ran = owner
        .audit_log()
        .unwrap()
        .0
        .iter()
        .filter(|e| e.action == "execute")
        .count();
    assert_eq!(ran, 0, "approved code ran for a guest");
    site.land().unwrap();
}

/// Found by review: deleting a dataset left its real data loaded in the datasite's memory, so
/// requests on it could still be computed, reviewed with a real preview and approved. Once deleted,
/// the real data is gone from memory as from disk.
#[test]
fn a_deleted_datasets_real_data_is_gone_from_memory_too() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path());
    let (owner, jane, _) = setup(&site);
    let pointer = asset(&jane, "numbers").pointer().unwrap();
    let before = pointer.sum().unwrap().request("before").unwrap();
    // The owner's review computes the real side, so the asset's data is loaded.
    assert!(matches!(
        owner.request(&before.id).unwrap().review().unwrap().real,
        Some(Ok(_))
    ));
    owner.delete_dataset("cancer").unwrap();

    // The datasite computes a pointer's mock from its own records too: the asset is gone for both.
    let after = (&pointer * 2.0).unwrap_err();
    assert!(
        matches!(after, Error::NotFound { kind: "asset", .. }),
        "{after}"
    );
    let review = owner.request(&before.id).unwrap().review().unwrap();
    match &review.real {
        Some(Err(e)) => assert!(e.contains("asset"), "{e}"),
        other => panic!("a deleted asset was computed on: {other:?}"),
    }
    let approve = owner.request(&before.id).unwrap().approve().unwrap_err();
    assert!(
        approve.to_string().contains("failed on the real data"),
        "{approve}"
    );
    site.land().unwrap();
}

/// An upload is a call like any other: the datasite checks the caller's role and that the values
/// beside the call are exactly those it names, refuses a mock that is the data itself, and stores
/// nothing otherwise.
#[test]
fn an_upload_is_decided_by_the_dispatch_whatever_its_parts() {
    use veil::api::call::{Call, Part, into_parts};
    use veil::api::calls;
    let dir = tempfile::tempdir().unwrap();
    let site = launch(dir.path());
    let (owner, jane, _) = setup(&site);
    let spec = Dataset::new("extra").asset(
        Asset::new("x")
            .data(array![5.0, 6.0])
            .mock(array![0.0, 0.0]),
    );
    let err = jane.upload_dataset(spec.clone()).unwrap_err();
    assert!(matches!(err, Error::PermissionDenied { .. }), "{err}");
    // The call without the values it names, or naming a value it did not send.
    let (named, _) = into_parts(spec.clone());
    let err = owner
        .call(Call::from(calls::UploadDataset {
            dataset: named.clone(),
        }))
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidInput { .. }) && err.to_string().contains("part 0"),
        "{err}"
    );
    let mut forged = named;
    forged.assets[0].mock = veil::api::spec::Mock::Given(Part(7));
    let err = owner
        .call(Call::from(calls::UploadDataset { dataset: forged }))
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
    let stray = owner
        .call_with_parts(Call::from(calls::Datasets {}), vec![array![1.0].into()])
        .unwrap_err();
    assert!(
        matches!(stray, Error::InvalidInput { .. }) && stray.to_string().contains("takes none"),
        "{stray}"
    );
    // The real data sent again as its own mock (two parts, one value) would show it to everyone.
    let same = array![5.0, 6.0];
    let err = owner
        .upload_dataset(Dataset::new("leaky").asset(Asset::new("x").data(same.clone()).mock(same)))
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidInput { .. }) && err.to_string().contains("real data itself"),
        "{err}"
    );
    assert_eq!(owner.datasets().unwrap().len(), 1, "nothing was stored");
    owner.upload_dataset(spec).unwrap();
    assert_eq!(owner.datasets().unwrap().len(), 2);
}

/// Found by review: every user saw an asset's stored (compressed) size, which tells how repetitive
/// its real values are: a constant column from a varied one, beyond the shape the owner published.
#[test]
fn an_assets_published_size_tells_nothing_its_shape_does_not() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path());
    let (owner, jane, _) = setup(&site);
    let n = 10_000;
    let constant = ndarray::Array1::from_elem(n, 1.0);
    let varied = ndarray::Array1::from_iter((0..n).map(|i| ((i * 7919) % 10_007) as f64 / 3.0));
    for (name, data) in [("constant", constant), ("varied", varied)] {
        owner
            .upload_dataset(
                Dataset::new(name).asset(
                    Asset::new("values")
                        .data(data)
                        .mock(ndarray::Array1::from_elem(n, 0.5)),
                ),
            )
            .unwrap();
    }
    let size = |name: &str| jane.dataset(name).unwrap().assets[0].data_bytes;
    assert_eq!(size("constant"), size("varied"));
    assert_eq!(size("varied"), n as u64 * 8);
    site.land().unwrap();
}

/// Found by review: a session outlived its password. Whoever had Jane's old password (or a client
/// she left logged in somewhere) kept acting as her after she changed it, and after an admin reset it.
#[test]
fn a_new_password_ends_every_session_the_old_one_opened() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path());
    let (owner, jane, _) = setup(&site);
    let stolen = site.login("jane@caltech.edu", "pw-123456").unwrap();
    jane.change_password("pw-123456", "pw-654321").unwrap();
    assert!(matches!(stolen.whoami(), Err(Error::SessionExpired)));
    assert!(matches!(
        stolen.dataset("cancer").map(drop),
        Err(Error::SessionExpired)
    ));
    // The session that changed it goes on.
    assert_eq!(jane.whoami().unwrap().email, "jane@caltech.edu");
    // An admin's reset ends all of them.
    owner
        .reset_password("jane@caltech.edu", "pw-reset-1")
        .unwrap();
    assert!(matches!(jane.whoami(), Err(Error::SessionExpired)));
    assert!(site.login("jane@caltech.edu", "pw-654321").is_err());
    site.login("jane@caltech.edu", "pw-reset-1").unwrap();
    site.land().unwrap();
}

/// Found by review: what an owner reads could be made to read otherwise than it runs. A column name
/// holding a newline passed for steps of its own in the review; bidirectional overrides (Trojan
/// Source) in a reason or in code reorder the text around them. Invisible characters are refused.
#[test]
fn nothing_a_scientist_sends_reads_otherwise_than_it_is() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path());
    let (_, jane, _) = setup(&site);
    let features = asset(&jane, "features").pointer().unwrap();
    let radius = features.column("radius").unwrap();
    let forged = features
        .with_column("x\n#3 = features / public totals", &radius)
        .unwrap_err();
    assert!(
        forged.to_string().contains("invisible character"),
        "{forged}"
    );
    let total = radius.sum().unwrap();
    let reason = total
        .request("for the \u{202E}gnirts lanif\u{202C} paper")
        .unwrap_err();
    assert!(
        reason.to_string().contains("invisible character"),
        "{reason}"
    );
    // The characters themselves (this literal's escapes make them), as Trojan Source uses them.
    let source = "fn check(x: ArrayD<f64>) -> f64 {\n    let role = \"user\";\n    if role != \"user\u{202E} \u{2066}// admin\u{2069} \u{2066}\" { 0.0 } else { x.sum() }\n}";
    let code =
        Code::new(source).input_policy(ExactMatch::new().asset("x", &asset(&jane, "numbers")));
    let err = jane.request_code_execution(&code, "x").unwrap_err();
    assert!(err.to_string().contains("invisible character"), "{err}");
    // Plain names and text still pass.
    features.with_column("radius x2", &radius).unwrap();
    site.land().unwrap();
}

/// A session lasts as long as the datasite says, whatever its client holds: a token found later
/// (in a notebook's saved state, a log) opens nothing.
#[test]
fn a_session_ends_when_its_time_is_up() {
    const TTL: Duration = Duration::from_secs(2);
    let tmp = tempfile::tempdir().unwrap();
    let site = LaunchOptions::new("boundary-site")
        .dir(tmp.path())
        .reset(true)
        .session_ttl(TTL)
        .launch()
        .unwrap();
    let owner = site.login(ADMIN, ADMIN_PW).unwrap();
    let opened = std::time::Instant::now();
    let first = owner.whoami();
    // A loaded machine may take longer than the session lasts between login and the first call:
    // the session is then rightly over, which is not what this test checks.
    if opened.elapsed() < TTL {
        first.unwrap();
    }
    std::thread::sleep(TTL + Duration::from_millis(200));
    assert!(matches!(owner.whoami(), Err(Error::SessionExpired)));
    // A new login opens a new session.
    site.login(ADMIN, ADMIN_PW).unwrap().whoami().unwrap();
    site.land().unwrap();
}

/// The call table (`veil_api::access`) is what the dispatch enforces: every call, sent raw by each
/// role with ids of real records (a scientist's pointer and requests, a released receipt), is refused
/// for its role exactly when the table does not open it to that role. So a listing of what
/// a role may do (a client's display, `%help api`) offers nothing the datasite then refuses, and
/// refuses nothing it offers.
#[test]
fn every_call_is_open_to_exactly_the_roles_its_table_names() {
    use veil::api::access::Who;
    use veil::api::call::{Call, Part, Secret};
    use veil::api::calls;
    use veil::api::dp::Domain;
    use veil::api::ops::{Arith, Op};

    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path());
    let (admin, jane, _bob) = setup(&site);
    for (name, email, role) in [
        ("Gus", "gus@example.org", Role::Guest),
        ("Olga", "olga@example.org", Role::DataOwner),
    ] {
        admin
            .register(NewUser::new(name, email, "pw-123456").role(role))
            .unwrap();
    }
    let numbers = asset(&admin, "numbers");
    admin
        .call(Call::from(calls::SetDomain {
            asset: numbers.id().into(),
            column: None,
            domain: Domain::Range {
                lower: 0.0,
                upper: 10.0,
            },
        }))
        .unwrap();
    admin
        .set_budget("jane@caltech.edu", "cancer", 100.0)
        .unwrap();
    let pointer = asset(&jane, "numbers").pointer().unwrap().sum().unwrap();
    let released = pointer.request("a total").unwrap();
    admin
        .request(&released.id)
        .unwrap()
        .approve_overriding("a test")
        .unwrap();
    let receipt = jane.request(&released.id).unwrap().receipt().unwrap();
    let code = total(&jane, 1.0).spec().unwrap();
    let pending = jane
        .request_code_execution(&total(&jane, 2.0), "ok")
        .unwrap();

    let roles = [
        Who::Anyone,
        Who::Computing,
        Who::Scientists,
        Who::Owners,
        Who::Admins,
    ]
    .map(Who::describe);
    let sessions = [
        ("gus@example.org", "pw-123456"),
        ("jane@caltech.edu", "pw-123456"),
        ("olga@example.org", "pw-123456"),
        (ADMIN, ADMIN_PW),
    ];
    for (n, (email, password)) in sessions.into_iter().enumerate() {
        let client = site.login(email, password).unwrap();
        let role = client.role();
        let throwaway = format!("throwaway{n}@example.org");
        admin
            .register(NewUser::new("T", &throwaway, "pw-123456"))
            .unwrap();
        let calls = vec![
            Call::from(calls::Datasets {}),
            Call::from(calls::Dataset {
                name: "cancer".into(),
            }),
            Call::from(calls::AssetData {
                asset: numbers.id().into(),
                real: false,
            }),
            Call::from(calls::AssetPointer {
                asset: numbers.id().into(),
            }),
            Call::from(calls::Array {
                values: vec![1.0],
                shape: vec![1],
            }),
            Call::from(calls::Apply {
                op: Op::Arith {
                    kind: Arith::Add,
                    scalar: Some(1.0),
                    scalar_left: false,
                },
                inputs: vec![pointer.id().into()],
            }),
            Call::from(calls::PointerStatus {
                pointer: pointer.id().into(),
            }),
            Call::from(calls::RequestResult {
                pointer: pointer.id().into(),
                reason: "again".into(),
            }),
            Call::from(calls::PointerResult {
                pointer: pointer.id().into(),
            }),
            Call::from(calls::RunOnMocks { code: code.clone() }),
            Call::from(calls::RequestCode {
                code: total(&jane, 10.0 + n as f64).spec().unwrap(),
                reason: "mine".into(),
            }),
            Call::from(calls::Requests {}),
            Call::from(calls::FindRequest {
                key: pending.id.clone(),
            }),
            Call::from(calls::Review {
                request: pending.id.clone(),
            }),
            Call::from(calls::Result {
                request: released.id.clone(),
            }),
            Call::from(calls::Run {
                request: pending.id.clone(),
            }),
            Call::from(calls::Code {
                request: pending.id.clone(),
            }),
            Call::from(calls::RunPrivately {
                request: pending.id.clone(),
            }),
            Call::from(calls::Receipt {
                request: released.id.clone(),
            }),
            Call::from(calls::VerifyReceipt {
                receipt: receipt.clone(),
            }),
            Call::from(calls::Budgets {}),
            Call::from(calls::DisclosureRules {
                dataset: "cancer".into(),
            }),
            Call::from(calls::SetDisclosureRules {
                dataset: "cancer".into(),
                rules: Default::default(),
            }),
            Call::from(calls::SetDomain {
                asset: numbers.id().into(),
                column: None,
                domain: Domain::Range {
                    lower: 0.0,
                    upper: 10.0,
                },
            }),
            Call::from(calls::SetBudget {
                email: "jane@caltech.edu".into(),
                dataset: "cancer".into(),
                epsilon: 100.0,
            }),
            Call::from(calls::PreviewDp {
                pointer: pointer.id().into(),
                query: 0.5.into(),
            }),
            Call::from(calls::ReleaseDp {
                pointer: pointer.id().into(),
                query: 0.5.into(),
            }),
            Call::from(calls::Whoami {}),
            Call::from(calls::Users {}),
            Call::from(calls::AuditLog {}),
            Call::from(calls::Register {
                user: NewUser::new("N", format!("new{n}@example.org"), "pw-123456"),
            }),
            Call::from(calls::SetSignup { enabled: false }),
            Call::from(calls::ChangePassword {
                old: Secret("not my password".into()),
                new: Secret("pw-654321".into()),
            }),
            Call::from(calls::ResetPassword {
                email: throwaway.clone(),
                new: Secret("pw-654321".into()),
            }),
            Call::from(calls::SetRole {
                email: throwaway.clone(),
                role: Role::Guest,
            }),
            Call::from(calls::DeleteUser {
                email: throwaway.clone(),
            }),
            Call::from(calls::UploadDataset {
                dataset: veil::api::spec::Dataset::<Part>::new(""),
            }),
            Call::from(calls::DeleteDataset {
                name: "no-such-dataset".into(),
            }),
            Call::from(calls::Deny {
                request: pending.id.clone(),
                reason: "no".into(),
            }),
            Call::from(calls::RequestChanges {
                request: pending.id.clone(),
                message: "no".into(),
            }),
            Call::from(calls::Approve {
                request: pending.id.clone(),
                overriding: None,
            }),
            Call::from(calls::Metrics {}),
            Call::from(calls::Logout {}),
        ];
        let mut seen = std::collections::BTreeSet::new();
        let mut wrong = Vec::new();
        for call in calls {
            let info = call.info();
            seen.insert(info.name);
            // Refused for the caller's role, not for a record (another's result, one's own request).
            let denied = matches!(
                client.call(call),
                Err(Error::PermissionDenied { needed, .. }) if roles.contains(&needed.as_str())
            );
            if denied == info.who.admits(role) {
                wrong.push(format!(
                    "{} as {role}: {} (the table opens it to {})",
                    info.name,
                    if denied { "refused" } else { "not refused" },
                    info.who.describe()
                ));
            }
        }
        assert_eq!(
            seen.len(),
            veil::api::access::CALLS.len(),
            "a call is untested"
        );
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }
}
