//! Code requests end to end on real datasites in temp dirs, compiled and run by the real runner (real
//! cargo, real child processes): mock runs, submission, review, private runs, approval, output
//! policies (single execution under concurrency, execution counts), denials, and what a scientist must
//! never see.
//!
//! The runner's directory is `$VEIL_RUNNER_DIR` when set (CI warms it once), else the user cache.

use std::path::Path;
use std::sync::{Arc, Barrier};

use ndarray::{ArrayD, IxDyn, array};
use veil::prelude::*;

use crate::common::{ADMIN, ADMIN_PW};

fn launch(dir: &Path) -> Datasite {
    crate::common::launch("code-site", dir, true)
}

/// The override these tests' approvals give: the toy asset's three values are the scientist's own
/// numbers, and code returning one value per row releases them.
const TOY: &str = "toy data: three made-up numbers";

/// Owner and Jane (a scientist), with the seed's dataset: real `[1, 2, 3]`, mock `[1, 1, 1]`.
fn setup(site: &Datasite) -> (Client, Client) {
    let owner = site.login(ADMIN, ADMIN_PW).unwrap();
    owner
        .upload_dataset(
            Dataset::new("my dataset").asset(
                Asset::new("my asset")
                    .data(array![1.0, 2.0, 3.0])
                    .mock(array![1.0, 1.0, 1.0]),
            ),
        )
        .unwrap();
    owner
        .register(NewUser::new("Jane Doe", "jane@caltech.edu", "abc123"))
        .unwrap();
    let jane = site.login("jane@caltech.edu", "abc123").unwrap();
    (owner, jane)
}

fn asset(client: &Client) -> SiteAsset {
    client
        .dataset("my dataset")
        .unwrap()
        .asset("my asset")
        .unwrap()
}

/// The seed's `add_pow`, bound to the asset.
fn add_pow(client: &Client, policy: OutputPolicy) -> Code {
    veil::function! {
        /// The seed's function.
        fn add_pow(inp: ArrayD<f64>) -> ArrayD<f64> {
            // Shift by three, then square.
            let x = inp + 3.0;
            x.mapv(|v| v.powi(2))
        }
    }
    .input_policy(ExactMatch::new().asset("inp", &asset(client)))
    .output_policy(policy)
}

fn floats(data: &Data) -> Vec<f64> {
    data.as_f64()
        .expect("an f64 array")
        .iter()
        .copied()
        .collect()
}

fn executions(owner: &Client) -> usize {
    owner
        .audit_log()
        .unwrap()
        .0
        .iter()
        .filter(|e| e.action == "execute")
        .count()
}

#[test]
fn the_seed_flow_mock_review_approve_get() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path());
    let (owner, jane) = setup(&site);

    let code = add_pow(&jane, SingleExecution);
    // The macro keeps the exact source, comments and layout included.
    assert!(
        code.source().starts_with(
            "/// The seed's function.\nfn add_pow(inp: ArrayD<f64>) -> ArrayD<f64> {\n    // Shift by three, then square.\n    let x = inp + 3.0;"
        ),
        "{}",
        code.source()
    );
    assert_eq!(floats(&code.run_on_mocks().unwrap()), [16.0, 16.0, 16.0]);

    let request = jane
        .request_code_execution(&code, "the seed's add_pow")
        .unwrap();
    assert_eq!(request.status, RequestStatus::Pending);
    assert_eq!(request.lineage, ["my dataset / my asset"]);
    assert!(matches!(request.get(), Err(Error::ApprovalPending { .. })));
    // Jane lists her submissions.
    assert_eq!(jane.requests().unwrap().len(), 1);

    let seen = owner.request(&format!("#{}", request.number)).unwrap();
    let review = seen.review().unwrap();
    let code_seen = review.code.as_ref().expect("a code review");
    assert_eq!(code_seen.source, code.source());
    assert_eq!(
        code_seen.call(),
        "add_pow(inp = asset `my dataset / my asset`)"
    );
    assert_eq!(floats(review.mock.as_ref().unwrap()), [16.0, 16.0, 16.0]);
    assert!(
        review.real.is_none(),
        "code is not run on real data unasked"
    );
    let html = review.html();
    assert!(
        crate::common::unstyled(&html).contains("<span class=\"rs-kw\">fn</span>"),
        "{html}"
    );
    assert!(html.contains("Shift by three, then square."), "{html}");
    assert!(review.text().contains("SingleExecution"));

    // The owner tries it on the real data, privately: not released, not counted.
    assert_eq!(
        floats(&seen.run_privately().unwrap().unwrap()),
        [16.0, 25.0, 36.0]
    );
    assert_eq!(executions(&owner), 0);
    assert!(matches!(
        jane.request(&request.id).unwrap().run_privately(),
        Err(Error::PermissionDenied { .. })
    ));

    // Nobody approves their own request.
    assert!(matches!(
        jane.request(&request.id).unwrap().approve(),
        Err(Error::PermissionDenied { .. })
    ));
    seen.approve_overriding(TOY).unwrap();
    let released = request.get().unwrap();
    assert_eq!(floats(&released), [16.0, 25.0, 36.0]);
    // Single execution: the second get returns the stored result without running again, and an
    // explicit rerun is refused.
    assert_eq!(floats(&request.get().unwrap()), [16.0, 25.0, 36.0]);
    assert_eq!(executions(&owner), 1);
    assert!(matches!(request.run(), Err(Error::PolicyExhausted(_))));
    let listed = jane.request(&request.id).unwrap();
    assert!(
        listed.computation.contains("1 of 1 runs"),
        "{}",
        listed.computation
    );

    // The result goes to Jane only: the owner did not ask for it.
    assert!(matches!(seen.get(), Err(Error::PermissionDenied { .. })));
    site.land().unwrap();
}

#[test]
fn concurrent_gets_run_the_code_once() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path());
    let (owner, jane) = setup(&site);
    // A second handle on the same directory has its own SQLite connection, as another process would.
    let other = LaunchOptions::new("code-site")
        .dir(tmp.path())
        .launch()
        .unwrap();
    let jane2 = other.login("jane@caltech.edu", "abc123").unwrap();
    // SingleExecution runs once (PySyft #9391 ran it more); racing `.get()`s under ExecuteCount(3)
    // share one run too instead of spending the runs `.run()` is for.
    for (policy, max, seen) in [(SingleExecution, 1, 1), (ExecuteCount(3), 3, 2)] {
        let code = veil::function! {
            fn slow_total(inp: ArrayD<f64>) -> f64 {
                // Long enough that every caller arrives while the first run is going.
                std::thread::sleep(std::time::Duration::from_millis(400));
                inp.sum()
            }
        }
        .input_policy(ExactMatch::new().asset("inp", &asset(&jane)))
        .output_policy(policy);
        let request = jane.request_code_execution(&code, "a total").unwrap();
        owner.request(&request.id).unwrap().approve().unwrap();
        let barrier = Arc::new(Barrier::new(8));
        let results: Vec<f64> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let barrier = barrier.clone();
                    let client = if i % 2 == 0 {
                        jane.clone()
                    } else {
                        jane2.clone()
                    };
                    let id = request.id.clone();
                    s.spawn(move || {
                        let request = client.request(&id).unwrap();
                        barrier.wait();
                        request.get().unwrap()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap().as_json().unwrap().as_f64().unwrap())
                .collect()
        });
        assert_eq!(results, [6.0; 8]);
        assert_eq!(executions(&owner), seen, "{policy} ran more than once");
        let computation = owner.request(&request.id).unwrap().computation.clone();
        let runs = format!("1 of {max} runs");
        assert!(computation.contains(&runs), "{computation}");
    }
}

#[test]
fn execute_count_allows_n_runs_then_returns_the_last_result() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path());
    let (owner, jane) = setup(&site);
    let request = jane
        .request_code_execution(&add_pow(&jane, ExecuteCount(2)), "twice")
        .unwrap();
    owner
        .request(&request.id)
        .unwrap()
        .approve_overriding(TOY)
        .unwrap();
    assert_eq!(floats(&request.run().unwrap()), [16.0, 25.0, 36.0]);
    assert_eq!(floats(&request.run().unwrap()), [16.0, 25.0, 36.0]);
    let err = request.run().unwrap_err();
    assert!(matches!(err, Error::PolicyExhausted(_)), "{err}");
    assert!(err.to_string().contains("2 of 2"), "{err}");
    assert_eq!(floats(&request.get().unwrap()), [16.0, 25.0, 36.0]);
    assert_eq!(executions(&owner), 2);
}

#[test]
fn constants_are_bound_and_shown_to_the_owner() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path());
    let (owner, jane) = setup(&site);
    let code = veil::function! {
        fn scaled(inp: ArrayD<f64>, factor: f64) -> ArrayD<f64> {
            inp * factor
        }
    }
    .input_policy(
        ExactMatch::new()
            .asset("inp", &asset(&jane))
            .constant("factor", 2.5),
    );
    assert_eq!(floats(&code.run_on_mocks().unwrap()), [2.5, 2.5, 2.5]);
    let request = jane.request_code_execution(&code, "scaled").unwrap();
    let review = owner.request(&request.id).unwrap().review().unwrap();
    assert_eq!(
        review.code.unwrap().call(),
        "scaled(inp = asset `my dataset / my asset`, factor = constant 2.5)"
    );
    owner
        .request(&request.id)
        .unwrap()
        .approve_overriding(TOY)
        .unwrap();
    assert_eq!(
        request.get().unwrap(),
        Data::F64(ArrayD::from_shape_vec(IxDyn(&[3]), vec![2.5, 5.0, 7.5]).unwrap())
    );
}

#[test]
fn denied_and_failing_code_leaks_nothing_real() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path());
    let (owner, jane) = setup(&site);

    let denied = jane
        .request_code_execution(&add_pow(&jane, SingleExecution), "please")
        .unwrap();
    owner
        .request(&denied.id)
        .unwrap()
        .deny("squares are identifying")
        .unwrap();
    match denied.get() {
        Err(Error::RequestDenied { reason, .. }) => assert_eq!(reason, "squares are identifying"),
        other => panic!("expected a denial, got {other:?}"),
    }

    // Passes on the mock (sum 3), panics on the real data (sum 6) with the real value in the message.
    let leaky = veil::function! {
        fn leaky(inp: ArrayD<f64>) -> f64 {
            let total = inp.sum();
            if total > 4.0 {
                panic!("the secret total is {total}");
            }
            total
        }
    }
    .input_policy(ExactMatch::new().asset("inp", &asset(&jane)));
    let request = jane.request_code_execution(&leaky, "leaky").unwrap();
    let seen = owner.request(&request.id).unwrap();
    let private = seen.run_privately().unwrap().unwrap_err();
    assert!(private.contains("the secret total is 6"), "{private}");
    seen.approve().unwrap();
    let err = request.get().unwrap_err().to_string();
    assert!(
        !err.contains("secret") && !err.contains("total is"),
        "{err}"
    );
    assert!(err.contains("panicked"), "{err}");
    // A failed run counts: no rerun to probe with.
    assert!(matches!(request.run(), Err(Error::PolicyExhausted(_))));
}

#[test]
fn bad_submissions_are_refused_with_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path());
    let (owner, jane) = setup(&site);
    let a = asset(&jane);

    // Submitting the same code twice.
    let code = add_pow(&jane, SingleExecution);
    let first = jane.request_code_execution(&code, "once").unwrap();
    let err = jane.request_code_execution(&code, "again").unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
    assert!(
        err.to_string().contains(&format!("#{}", first.number)),
        "{err}"
    );

    // A parameter left unbound, one bound that does not exist, one bound twice.
    let unbound = veil::function! { fn f(inp: ArrayD<f64>, k: f64) -> f64 { inp.sum() * k } }
        .input_policy(ExactMatch::new().asset("inp", &a));
    let err = jane.request_code_execution(&unbound, "x").unwrap_err();
    assert!(
        err.to_string()
            .contains("parameter `k` of `f`: it is not bound"),
        "{err}"
    );
    let extra = add_pow(&jane, SingleExecution)
        .input_policy(ExactMatch::new().asset("inp", &a).constant("nope", 1));
    let err = jane.request_code_execution(&extra, "x").unwrap_err();
    assert!(err.to_string().contains("has no parameter `nope`"), "{err}");
    let twice = add_pow(&jane, SingleExecution)
        .input_policy(ExactMatch::new().asset("inp", &a).asset("inp", &a));
    assert!(
        jane.request_code_execution(&twice, "x")
            .unwrap_err()
            .to_string()
            .contains("bound more than once")
    );
    // A constant JSON cannot hold (a map keyed by pairs) is refused by name, not sent as null.
    let pairs = std::collections::HashMap::from([((1, 2), 3.0)]);
    let unwritable = veil::function! { fn g(inp: ArrayD<f64>, k: f64) -> f64 { inp.sum() * k } }
        .input_policy(ExactMatch::new().asset("inp", &a).constant("k", pairs));
    let err = jane.request_code_execution(&unwritable, "x").unwrap_err();
    assert!(
        err.to_string()
            .contains("constant for parameter `k`: it cannot be written as JSON"),
        "{err}"
    );
    // A constant is a setting, not a way around assets: a megabyte of it is refused, naming the fix.
    let bulky = veil::function! { fn h(inp: ArrayD<f64>, k: Vec<f64>) -> f64 { inp.sum() + k[0] } }
        .input_policy(
            ExactMatch::new()
                .asset("inp", &a)
                .constant("k", vec![1.5_f64; 200_000]),
        );
    let err = jane.request_code_execution(&bulky, "x").unwrap_err();
    assert!(
        err.to_string().contains("constant `k`") && err.to_string().contains("as an asset"),
        "{err}"
    );
    assert!(
        err.to_string().len() < 400,
        "the message does not quote the constant"
    );

    // Not a function; code that does not compile (refused before review, with rustc's message).
    let not_fn = Code::new("let x = 1;").input_policy(ExactMatch::new().asset("inp", &a));
    assert!(matches!(
        jane.request_code_execution(&not_fn, "x"),
        Err(Error::InvalidInput { .. })
    ));
    let broken = veil::function! { fn broken(inp: ArrayD<f64>) -> f64 { inp.sum() + "one" } }
        .input_policy(ExactMatch::new().asset("inp", &a));
    let err = broken.run_on_mocks().unwrap_err().to_string();
    assert!(err.contains("failed on the mocks"), "{err}");
    assert!(jane.request_code_execution(&broken, "x").is_err());

    // An empty reason; an oversized source; no assets bound at all; a guest.
    assert!(jane.request_code_execution(&code, "  ").is_err());
    let huge = Code::new(format!(
        "fn f(inp: ArrayD<f64>) -> f64 {{ 0.0 }} // {}",
        "x".repeat(300_000)
    ))
    .input_policy(ExactMatch::new().asset("inp", &a));
    assert!(
        jane.request_code_execution(&huge, "x")
            .unwrap_err()
            .to_string()
            .contains("more than")
    );
    let unbound_all = Code::new("fn f() -> f64 { 1.0 }");
    assert!(
        unbound_all
            .run_on_mocks()
            .unwrap_err()
            .to_string()
            .contains("no parameter is bound to an asset")
    );
    owner
        .register(NewUser::new("Guy", "guy@example.org", "guest-pw").role(Role::Guest))
        .unwrap();
    let guy = site.login("guy@example.org", "guest-pw").unwrap();
    let guest_code = add_pow(&guy, ExecuteCount(3));
    assert!(matches!(
        guy.request_code_execution(&guest_code, "x"),
        Err(Error::PermissionDenied { .. })
    ));
    // Nothing of the refused submissions was stored.
    assert_eq!(owner.requests().unwrap().len(), 1);
}

#[test]
fn code_requests_survive_a_relaunch_and_share_numbers_with_result_requests() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path());
    let (owner, jane) = setup(&site);
    let pointer_request = asset(&jane)
        .pointer()
        .unwrap()
        .sum()
        .unwrap()
        .request("a sum")
        .unwrap();
    let code_request = jane
        .request_code_execution(&add_pow(&jane, SingleExecution), "code")
        .unwrap();
    assert_eq!(
        (pointer_request.number, code_request.number),
        (1, 2),
        "one numbering for both kinds"
    );
    // Running a pointer's request as code is refused, not a panic.
    let err = jane.request("#1").unwrap().run().unwrap_err().to_string();
    assert!(err.contains("not for running code"), "{err}");
    owner
        .request("#2")
        .unwrap()
        .approve_overriding(TOY)
        .unwrap();
    site.land().unwrap();

    let site = LaunchOptions::new("code-site")
        .dir(tmp.path())
        .launch()
        .unwrap();
    let jane = site.login("jane@caltech.edu", "abc123").unwrap();
    let request = jane.request("#2").unwrap();
    assert_eq!(request.status, RequestStatus::Approved);
    assert_eq!(floats(&request.get().unwrap()), [16.0, 25.0, 36.0]);
    assert_eq!(jane.requests().unwrap().len(), 2);
}

/// Issue 15: every distinct request once left a 94 MB binary behind for good. A compiled request now
/// links the runner's shared library (a few KB of its own), and its binary goes as soon as no
/// request can run it again: its policy used up, or denied.
#[test]
fn code_no_request_can_run_again_leaves_no_binary() {
    let tmp = tempfile::tempdir().unwrap();
    let site = launch(tmp.path());
    let (owner, jane) = setup(&site);
    let runner = veil::runner::Runner::new(veil::runner::default_dir())
        .scoped(&veil::runner::scope_of(tmp.path()));
    let bound = |code: Code| code.input_policy(ExactMatch::new().asset("inp", &asset(&jane)));
    let once = add_pow(&jane, SingleExecution);
    let twice = bound(veil::function! {
        fn plus_two(inp: ArrayD<f64>) -> f64 { inp.sum() + 2.0 }
    })
    .output_policy(ExecuteCount(2));
    let refused = bound(veil::function! {
        fn plus_three(inp: ArrayD<f64>) -> f64 { inp.sum() + 3.0 }
    });
    let mut requests = Vec::new();
    for code in [&once, &twice, &refused] {
        requests.push(jane.request_code_execution(code, "sums").unwrap());
        // Submitting ran it on the mocks: compiled, and small.
        let binary = runner
            .compiled(code.source())
            .expect("compiled at submission");
        let bytes = std::fs::metadata(&binary).unwrap().len();
        assert!(bytes <= 5 << 20, "{} takes {bytes} bytes", binary.display());
    }
    let [once_req, twice_req, refused_req] = &requests[..] else {
        unreachable!()
    };
    for r in [once_req, twice_req] {
        owner
            .request(&r.id)
            .unwrap()
            .approve_overriding(TOY)
            .unwrap();
    }
    owner.request(&refused_req.id).unwrap().deny("no").unwrap();
    assert!(runner.compiled(refused.source()).is_none(), "denied");
    // No other datasite asked for it: its shared copy is gone too.
    let shared = veil::runner::Runner::new(veil::runner::default_dir());
    assert!(shared.compiled(refused.source()).is_none(), "shared copy");

    assert_eq!(floats(&once_req.get().unwrap()), [16.0, 25.0, 36.0]);
    assert!(
        runner.compiled(once.source()).is_none(),
        "its one run is used"
    );

    assert_eq!(twice_req.get().unwrap(), Data::Json(serde_json::json!(8.0)));
    assert!(runner.compiled(twice.source()).is_some(), "a run is left");
    twice_req.run().unwrap();
    assert!(
        runner.compiled(twice.source()).is_none(),
        "both runs are used"
    );
    assert_eq!(runner.compiled_bytes(), 0);
    // The stored results stay.
    assert_eq!(twice_req.get().unwrap(), Data::Json(serde_json::json!(8.0)));
}
