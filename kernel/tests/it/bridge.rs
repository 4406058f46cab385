//! The cell bridge end to end: the facade cells link, calling a bridge served by this process over a
//! real Unix socket, against real datasites in temp dirs. Everything a cell does goes through here;
//! `tests/notebooks` runs the same calls inside evcxr.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use veil_facade::{self as veil, prelude::*};
use veil_kernel::bridge::{Bridge, Cells, Failures};
use veil_kernel::magics::{self, Run};
use veil_kernel::session::Session;

struct Fixture {
    bridge: Bridge,
    session: Arc<Mutex<Session>>,
    failures: Failures,
    /// The session is shared, so tests take turns.
    turn: Mutex<()>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let bridge = Bridge::bind(&std::env::temp_dir()).unwrap();
        let session = Arc::new(Mutex::new(Session::default()));
        let failures = Failures::default();
        bridge
            .serve(Arc::new(Cells::new(session.clone(), failures.clone())))
            .unwrap();
        veil::use_bridge(bridge.socket(), bridge.token());
        Fixture {
            bridge,
            session,
            failures,
            turn: Mutex::new(()),
        }
    })
}

fn turn() -> MutexGuard<'static, ()> {
    fixture().turn.lock().unwrap_or_else(|p| p.into_inner())
}

fn csv() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../notebooks/data/breast_cancer_wisconsin_diagnostic.csv")
}

fn launch(dir: &tempfile::TempDir) -> Datasite {
    LaunchOptions::new("bridge-test")
        .dir(dir.path())
        .reset(true)
        .launch()
        .unwrap()
}

fn html(value: &impl Rich) -> String {
    value
        .bundle()
        .into_iter()
        .find(|(mime, _)| *mime == "text/html")
        .map(|(_, html)| html)
        .unwrap_or_default()
}

/// The seed's site: an owner's dataset holding real `[1, 2, 3]` with mock `[1, 1, 1]`, and Jane, a
/// scientist, logged in.
fn seed_site(dir: &tempfile::TempDir) -> (Datasite, Client, Client) {
    let site = launch(dir);
    let owner = site.login("info@openmined.org", "changethis").unwrap();
    let data = array(vec![1.0, 2.0, 3.0], &[3]).unwrap();
    let mock_data = array(vec![1.0, 1.0, 1.0], &[3]).unwrap();
    owner
        .upload_dataset(
            Dataset::new("my dataset").asset(Asset::new("my asset").data(&data).mock(&mock_data)),
        )
        .unwrap();
    owner
        .register(NewUser::new("Jane Doe", "jane@caltech.edu", "abc123"))
        .unwrap();
    let jane = site.login("jane@caltech.edu", "abc123").unwrap();
    (site, owner, jane)
}

/// One raw request line, as a misbehaving or foreign client would send it.
fn raw(line: &[u8]) -> serde_json::Value {
    let stream = UnixStream::connect(fixture().bridge.socket()).unwrap();
    (&stream).write_all(line).unwrap();
    let mut answer = String::new();
    BufReader::new(&stream).read_line(&mut answer).unwrap();
    serde_json::from_str(&answer).unwrap()
}

#[test]
fn owner_flow_from_cells_is_shared_with_magics() {
    let _turn = turn();
    let dir = tempfile::tempdir().unwrap();
    let site = launch(&dir);
    assert_eq!(site.name(), "bridge-test");
    let owner = site.login("info@openmined.org", "changethis").unwrap();
    assert_eq!(owner.role(), Role::Admin);

    let frame = read_csv(csv()).unwrap();
    assert_eq!(frame.kind(), veil::DataKind::Frame);
    assert_eq!(frame.kind().to_string(), "DataFrame");
    assert_eq!(frame.shape(), [569, 31]);
    let x = frame.drop("Diagnosis").unwrap();
    let y = frame.select(["Diagnosis"]).unwrap();
    assert_eq!(x.shape(), [569, 30]);
    assert_eq!(y.columns(), ["Diagnosis"]);
    let x_mock = mock::shift_and_jitter(&x, 12345).unwrap();
    let y_mock = mock::shuffle_rows(&y, 12345).unwrap();
    assert_eq!(x_mock.shape(), x.shape());
    assert!(html(&x.head(3).unwrap()).contains("<table"));

    let uploaded = owner
        .upload_dataset(
            Dataset::new("Breast Cancer Biomarker")
                .summary("benign or malignant")
                .contributor(("Owen", "owen@cancer-research.org", "Data Owner"))
                .asset(Asset::new("Features").data(&x).mock(x_mock))
                .asset(Asset::new("Targets").data(y).mock(y_mock)),
        )
        .unwrap();
    assert_eq!(uploaded.assets.len(), 2);
    assert_eq!(uploaded.asset("features").unwrap().shape, [569, 30]);
    let listed = owner.datasets().unwrap();
    assert_eq!(listed.len(), 1);
    assert!(html(&listed).contains("Breast Cancer Biomarker"));

    // The owner reads real data; it is the same as what was uploaded.
    let real = uploaded.asset("Features").unwrap().data().unwrap();
    assert_eq!(real.shape(), x.shape());

    // Cells and magics share one session: the datasite and the owner's login.
    assert_eq!(veil::site().unwrap().dir(), site.dir());
    assert_eq!(veil::client().unwrap().email(), "info@openmined.org");
    let mut session = fixture().session.lock().unwrap();
    let out = magics::parse("%datasets")
        .unwrap()
        .run(&mut session, vec![])
        .unwrap();
    assert!(format!("{out:?}").contains("Breast Cancer Biomarker"));
    drop(session);

    // A scientist's login does not take over the session.
    owner
        .register(NewUser::new("Jane Doe", "jane@caltech.edu", "abc123").institution("Caltech"))
        .unwrap();
    let jane = site.login("jane@caltech.edu", "abc123").unwrap();
    assert_eq!(jane.role(), Role::DataScientist);
    assert_eq!(veil::client().unwrap().email(), "info@openmined.org");
    let asset = jane
        .dataset("Breast Cancer Biomarker")
        .unwrap()
        .asset("Targets")
        .unwrap();
    assert_eq!(asset.mock().unwrap().shape(), [569, 1]);
    let denied = asset.data().unwrap_err();
    assert_eq!(denied.name(), "PermissionDenied", "{denied:?}");
    assert_eq!(
        denied.kind(),
        Some(veil_facade::api::call::ErrorKind::PermissionDenied)
    );
    assert!(
        owner
            .users()
            .unwrap()
            .iter()
            .any(|u| u.email == "jane@caltech.edu")
    );
    assert!(!owner.audit_log().unwrap().entries.is_empty());

    site.land().unwrap();
    assert!(fixture().session.lock().unwrap().site().is_err());
    let landed = owner.datasets().unwrap_err();
    assert_eq!(landed.name(), "Landed", "{landed:?}");
}

#[test]
fn bad_input_gets_named_errors_and_the_bridge_stays_up() {
    let _turn = turn();
    let dir = tempfile::tempdir().unwrap();
    let site = launch(&dir);
    let wrong = site.login("info@openmined.org", "wrong").unwrap_err();
    assert_eq!(wrong.name(), "AuthenticationFailed");
    let owner = site.login("info@openmined.org", "changethis").unwrap();

    let missing = read_csv(dir.path().join("absent.csv")).unwrap_err();
    assert!(missing.message().contains("absent.csv"), "{missing:?}");
    let frame = read_csv(csv()).unwrap();
    let column = frame.select(["radius"]).unwrap_err();
    assert_eq!(column.name(), "NotFound");
    assert!(
        column.message().contains("Diagnosis"),
        "lists the columns: {column:?}"
    );
    let unknown = owner.dataset("nope").unwrap_err();
    assert_eq!(unknown.name(), "NotFound");
    let shape = array(vec![1.0, 2.0, 3.0], &[2, 2]).unwrap_err();
    assert!(shape.message().contains("shape"), "{shape:?}");
    let arr = array(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]).unwrap();
    let not_frame = arr.drop("x").unwrap_err();
    assert_eq!(not_frame.name(), "TypeMismatch");
    let no_mock = owner
        .upload_dataset(Dataset::new("d").asset(Asset::new("a").data(&frame)))
        .unwrap_err();
    assert!(no_mock.message().contains("no_mock"), "{no_mock:?}");
    owner
        .upload_dataset(Dataset::new("d").asset(Asset::new("a").data(&frame).no_mock()))
        .unwrap();
    let twice = owner
        .upload_dataset(Dataset::new("d").asset(Asset::new("a").data(&frame).no_mock()))
        .unwrap_err();
    assert_eq!(twice.name(), "AlreadyExists");

    // A `?`-returned error is what the kernel turns into the cell's error: evcxr prints its Display.
    let recognised = fixture().failures.matching(&format!("{twice}")).unwrap();
    assert_eq!(recognised.ename, "AlreadyExists");
    assert!(fixture().failures.matching("something else").is_none());

    // Foreign and malformed requests.
    let token = fixture().bridge.token();
    let forged = raw(b"{\"token\":\"guess\",\"op\":\"site.current\",\"args\":{}}\n");
    assert_eq!(forged["err"]["name"], "PermissionDenied");
    let garbage = raw(b"not json\n");
    assert_eq!(garbage["err"]["name"], "InvalidInput");
    let op = raw(format!("{{\"token\":\"{token}\",\"op\":\"frobnicate\"}}\n").as_bytes());
    assert_eq!(op["err"]["name"], "UnknownOperation");
    // A megabyte operation name is refused by name, cut short.
    let long = "x".repeat(1 << 20);
    let op = raw(format!("{{\"token\":\"{token}\",\"op\":\"{long}\"}}\n").as_bytes());
    assert_eq!(op["err"]["name"], "UnknownOperation");
    let message = op["err"]["message"].as_str().unwrap();
    assert!(message.len() < 300 && message.contains("xxxx"), "{message}");
    // A known operation with arguments that do not fit its vocabulary's call says which.
    let args = raw(format!(
        "{{\"token\":\"{token}\",\"op\":\"data.drop\",\"args\":{{\"data\":\"x\"}}}}\n"
    )
    .as_bytes());
    assert_eq!(args["err"]["name"], "InvalidInput", "{args}");
    assert!(
        args["err"]["message"]
            .as_str()
            .unwrap()
            .contains("bad arguments to `data.drop`"),
        "{args}"
    );
    // Arguments a megabyte long are not quoted back whole.
    let huge = "x".repeat(1 << 20);
    let args = raw(format!(
        "{{\"token\":\"{token}\",\"op\":\"data.drop\",\"args\":{{\"data\":\"{huge}\",\"columns\":[]}}}}\n"
    )
    .as_bytes());
    let message = args["err"]["message"].as_str().unwrap();
    assert!(
        message.len() < 1000 && message.contains("xxxx"),
        "{}",
        message.len()
    );
    // A datasite call may carry no more values than an upload can name, checked before any copy.
    let parts = vec![1u64; 10_000];
    let many = raw(format!(
        "{{\"token\":\"{token}\",\"op\":\"call\",\"args\":{{\"client\":1,\"call\":{{\"call\":\"datasets\"}},\"parts\":{parts:?}}}}}\n"
    )
    .as_bytes());
    assert!(
        many["err"]["message"]
            .as_str()
            .unwrap()
            .contains("more than 128"),
        "{many}"
    );
    let stale = raw(format!(
        "{{\"token\":\"{token}\",\"op\":\"render\",\"args\":{{\"handle\":999999}}}}\n"
    )
    .as_bytes());
    assert!(
        stale["err"]["message"].as_str().unwrap().contains("999999"),
        "{stale}"
    );
    let big = vec![b'x'; veil_kernel::bridge::MAX_REQUEST_BYTES as usize + 10];
    let oversized = raw(&big);
    assert!(
        oversized["err"]["message"]
            .as_str()
            .unwrap()
            .contains("MiB"),
        "{oversized}"
    );

    // Still answering, with everything it held.
    assert_eq!(owner.datasets().unwrap().len(), 1);
    assert_eq!(frame.shape(), [569, 31]);
    site.land().unwrap();
}

#[test]
fn relaunching_lands_the_old_datasite_and_handles_are_released() {
    let _turn = turn();
    let dir = tempfile::tempdir().unwrap();
    let first = launch(&dir);
    let owner = first.login("info@openmined.org", "changethis").unwrap();
    owner.set_signup(true).unwrap();
    // Re-running a launch cell: the previous datasite closes, the new one is the session's.
    let second = LaunchOptions::new("bridge-test")
        .dir(dir.path())
        .launch()
        .unwrap();
    assert_eq!(owner.whoami().unwrap_err().name(), "Landed");
    let user = second
        .sign_up(NewUser::new("Sam", "sam@example.org", "pw-123456"))
        .unwrap();
    assert_eq!(user.role, Role::DataScientist);
    assert!(veil::client().is_err(), "no login yet on the new datasite");

    let id = {
        let data = array(vec![1.0; 4], &[4]).unwrap();
        let rendered = html(&data);
        assert!(rendered.contains("<table"), "{rendered}");
        format!("{data:?}")
    };
    assert_eq!(id, "Data(Array<f64> [4])");
    second.land().unwrap();
    assert_eq!(veil::site().unwrap_err().name(), "NoDatasite");
}

#[test]
fn pointers_requests_and_reviews_from_cells() {
    let _turn = turn();
    let dir = tempfile::tempdir().unwrap();
    let (site, owner, jane) = seed_site(&dir);

    let pointer = jane
        .dataset("my dataset")
        .unwrap()
        .asset("my asset")
        .unwrap()
        .pointer()
        .unwrap();
    assert_eq!(pointer.lineage(), ["my dataset / my asset"]);

    // A variable bound to an asset holds a pointer and displays as it: the mock, never the real data,
    // for the owner too.
    for who in [&jane, &owner] {
        let asset = who
            .dataset("my dataset")
            .unwrap()
            .asset("my asset")
            .unwrap();
        let shown = html(&asset);
        assert!(
            shown.contains("Pointer") && shown.contains("Mock result"),
            "{shown}"
        );
        assert!(!shown.contains("Real data"), "{shown}");
        assert_eq!(asset.pointer().unwrap().id(), asset.pointer().unwrap().id());
    }
    owner
        .register(NewUser::new("Guy", "guy@example.org", "guest-pw").role(Role::Guest))
        .unwrap();
    let guy = site.login("guy@example.org", "guest-pw").unwrap();
    let guest_view = guy
        .dataset("my dataset")
        .unwrap()
        .asset("my asset")
        .unwrap();
    assert!(
        html(&guest_view).contains("Mock"),
        "guests see the mock view"
    );
    assert_eq!(guest_view.pointer().unwrap_err().name(), "PermissionDenied");
    let plus_one = (&pointer + 1.0).unwrap();
    assert_eq!(plus_one.mock().unwrap().values().unwrap(), [2.0, 2.0, 2.0]);
    assert!(html(&plus_one).contains("Mock result"));
    let mine = jane.array(vec![4.0, 5.0, 6.0]).unwrap();
    let added = (&pointer + &mine).unwrap();
    assert_eq!(added.mock().unwrap().values().unwrap(), [5.0, 6.0, 7.0]);
    let total = added.sum().unwrap();
    assert_eq!(total.status().unwrap(), veil::Status::Private);
    let request = total.request("the total").unwrap();
    assert_eq!(total.status().unwrap(), veil::Status::Requested);
    assert_eq!(total.get().unwrap_err().name(), "ApprovalPending");
    // Jane may not review or approve.
    assert_eq!(
        jane.request(&request.id)
            .unwrap()
            .approve()
            .unwrap_err()
            .name(),
        "PermissionDenied"
    );

    // The owner reviews (from the session's client, as a magic would) and approves.
    assert_eq!(owner.requests().unwrap().len(), 1);
    let pending = owner.request(&request.id[..6]).unwrap();
    assert!(html(&pending.review().unwrap()).contains("sum(#2)"));
    // Three rows are under the minimum cell count: the review says so, and the owner releases it
    // on purpose.
    let review = html(&pending.review().unwrap());
    assert!(review.contains("minimum cell count"), "{review}");
    assert_eq!(pending.approve().unwrap_err().name(), "InvalidInput");
    assert_eq!(
        pending
            .approve_overriding("the seed's toy data")
            .unwrap()
            .status,
        RequestStatus::Approved
    );
    assert_eq!(total.get().unwrap().values().unwrap(), [21.0]);

    // The analysis ops travel the same way (their JSON is the runtime's serde form).
    let x = owner
        .dataset("my dataset")
        .unwrap()
        .asset("my asset")
        .unwrap()
        .pointer()
        .unwrap();
    let matrix = x.reshape(&[3, 1]).unwrap();
    let labels = (&x.gt(1.5).unwrap() * 1.0).unwrap();
    let weights = matrix
        .standardize()
        .unwrap()
        .logistic_fit(&labels, 200, 0.5)
        .unwrap();
    let accuracy = weights
        .predict(&matrix.standardize().unwrap())
        .unwrap()
        .accuracy(&labels)
        .unwrap();
    assert_eq!(accuracy.get().unwrap().values().unwrap(), [1.0]);
    assert_eq!(x.train_rows(0.34, 1).unwrap().shape(), [2]);
    assert_eq!(
        x.train_rows(2.0, 1).unwrap_err().name(),
        "InvalidInput",
        "a test fraction outside (0, 1)"
    );

    // Bad input through the bridge: a mock-side failure, a column on an array, a forged op.
    assert!(
        pointer
            .reshape(&[2])
            .unwrap_err()
            .message()
            .contains("do not fit")
    );
    assert_eq!(pointer.column("x").unwrap_err().name(), "InvalidInput");
    let asset_root = veil::ops::Op::Asset {
        asset_id: "whatever".into(),
    };
    let forged = pointer.apply(asset_root.clone(), &[]).unwrap_err();
    assert_eq!(forged.name(), "InvalidInput", "{forged:?}");
    // Nor can a cell's own data be made to read an asset, or take the wrong number of inputs.
    let an_array = array(vec![1.0, 2.0, 3.0], &[3]).unwrap();
    assert_eq!(
        an_array.apply(asset_root, &[]).unwrap_err().name(),
        "InvalidInput"
    );
    let two = an_array.apply(veil::ops::Op::Dot, &[]).unwrap_err();
    assert!(two.message().contains("takes 2 inputs"), "{two:?}");
    assert_eq!(an_array.column("x").unwrap_err().name(), "InvalidInput");
    let values = read_csv(csv()).unwrap().values().unwrap_err();
    assert_eq!(values.name(), "TypeMismatch");
    site.land().unwrap();
}

#[test]
fn code_requests_from_cells() {
    let _turn = turn();
    let dir = tempfile::tempdir().unwrap();
    let (_site, owner, jane) = seed_site(&dir);
    let asset = jane
        .dataset("my dataset")
        .unwrap()
        .asset("my asset")
        .unwrap();

    // The cell's `function!` keeps the source; the kernel compiles and runs it on the mock.
    let code = veil::function! {
        fn scaled_total(inp: ArrayD<f64>, factor: f64) -> f64 {
            inp.sum() * factor // a comment the owner will read
        }
    }
    .input_policy(
        ExactMatch::new()
            .asset("inp", &asset)
            .constant("factor", 2.0),
    )
    .output_policy(ExecuteCount(2));
    assert!(code.source().contains("// a comment the owner will read"));
    let on_mocks = code.run_on_mocks().unwrap();
    assert_eq!(on_mocks.number().unwrap(), 6.0);
    assert_eq!(on_mocks.json().unwrap(), serde_json::json!(6.0));

    let request = jane
        .request_code_execution(&code, "a scaled total")
        .unwrap();
    assert_eq!(request.get().unwrap_err().name(), "ApprovalPending");
    assert_eq!(
        jane.request_code_execution(&code, "again")
            .unwrap_err()
            .name(),
        "AlreadyExists"
    );

    // The code is its requester's and the owners' to read, with its call and policy.
    for who in [&jane, &owner] {
        let code = who.request(&request.id).unwrap().code().unwrap();
        assert!(code.source.contains("a comment the owner will read"));
        assert_eq!(
            code.call(),
            "scaled_total(inp = asset `my dataset / my asset`, factor = constant 2.0)"
        );
        assert_eq!((code.policy, code.runs), (ExecuteCount(2), 0));
        // Its mock result comes as a value the kernel holds, the one the review shows.
        let mock = code.mock.expect("a mock result");
        assert_eq!(mock.kind(), veil::DataKind::Json);
    }

    // The owner's review shows the source, highlighted; a private run sees the real data.
    let seen = owner.request(&request.id).unwrap();
    let review = html(&seen.review().unwrap());
    assert!(
        review.contains("rs-kw") && review.contains("a comment the owner will read"),
        "{review}"
    );
    assert_eq!(seen.run_privately().unwrap().number().unwrap(), 12.0);
    assert_eq!(
        jane.request(&request.id)
            .unwrap()
            .run_privately()
            .unwrap_err()
            .name(),
        "PermissionDenied"
    );
    seen.approve().unwrap();
    assert_eq!(request.get().unwrap().number().unwrap(), 12.0);
    assert_eq!(request.run().unwrap().number().unwrap(), 12.0);
    assert_eq!(request.run().unwrap_err().name(), "PolicyExhausted");

    // The same through the magics: `%review ID --run` adds the private run to the review.
    let shown = magics::parse(&format!("%review {} --run", &request.id[..8]))
        .unwrap()
        .run(&mut fixture().session.lock().unwrap(), vec![])
        .unwrap();
    let text = format!("{shown:?}");
    assert!(text.contains("Real result (owners only)"), "{text}");
}

/// Issue 12, class 6: a request made from a pointer acted as the session's first login (here the
/// owner) instead of its requester, so the scientist's `request.approve()` approved as the owner. A
/// handle acts as the user that made it, always.
#[test]
fn a_cells_request_acts_as_its_requester_not_the_sessions_first_login() {
    let _turn = turn();
    let dir = tempfile::tempdir().unwrap();
    // The owner logs in first, so the session's client (what magics act as) is the owner's.
    let (site, owner, jane) = seed_site(&dir);
    let sum = jane
        .dataset("my dataset")
        .unwrap()
        .asset("my asset")
        .unwrap()
        .pointer()
        .unwrap()
        .sum()
        .unwrap();
    let request = sum.request("the total").unwrap();
    assert_eq!(request.requester, "jane@caltech.edu");
    let approve = request.approve().unwrap_err();
    assert_eq!(approve.name(), "PermissionDenied", "{approve:?}");
    let review = request.review().unwrap_err();
    assert_eq!(review.name(), "PermissionDenied", "{review:?}");
    let pending = request.get().unwrap_err();
    assert_eq!(pending.name(), "ApprovalPending", "{pending:?}");
    // Still pending for the owner, who approves it; Jane then gets the real total.
    let seen = owner.request(&request.id).unwrap();
    assert_eq!(seen.status, RequestStatus::Pending);
    seen.approve_overriding("test data").unwrap();
    assert_eq!(request.get().unwrap().values().unwrap(), [6.0]);
    site.land().unwrap();
}

/// Issue 12: a cell explores mocks with the same ops as pointers, evaluated in the kernel and recorded
/// nowhere (seed 003's `x = mock + 3; y = x.pow(2)`), plus `sample(n, seed)`.
#[test]
fn a_cells_data_takes_every_op_a_pointer_takes() {
    let _turn = turn();
    let dir = tempfile::tempdir().unwrap();
    let (site, owner, jane) = seed_site(&dir);
    let asset = jane
        .dataset("my dataset")
        .unwrap()
        .asset("my asset")
        .unwrap();
    let mock = asset.mock().unwrap();
    let x = (&mock + 3.0).unwrap();
    let y = x.pow(2.0).unwrap();
    assert_eq!(y.values().unwrap(), [16.0, 16.0, 16.0]);
    // The same chain on a pointer gives the same mock, and only the pointer's is recorded.
    let before = owner.audit_log().unwrap().entries.len();
    let pointed = (&asset.pointer().unwrap() + 3.0).unwrap().pow(2.0).unwrap();
    assert_eq!(
        pointed.mock().unwrap().values().unwrap(),
        y.values().unwrap()
    );
    let after = owner.audit_log().unwrap().entries.len();
    assert!(after > before, "pointer ops are recorded");
    let total = (2.0 * &y).unwrap().sum().unwrap();
    assert_eq!(total.number().unwrap(), 96.0);
    let mixed = (&y - &mock).unwrap();
    assert_eq!(mixed.values().unwrap(), [15.0, 15.0, 15.0]);
    assert_eq!((-&mixed).unwrap().max().unwrap().number().unwrap(), -15.0);

    // Frames: columns, masks, filters, sorting and a seeded sample, as on pointers.
    let frame = read_csv(csv()).unwrap();
    let radius = frame.column("radius1").unwrap();
    let big = frame.filter(&radius.gt(20.0).unwrap()).unwrap();
    assert!(big.shape()[0] > 0 && big.shape()[0] < frame.shape()[0]);
    let sample = frame.sample(5, 10).unwrap();
    assert_eq!(sample.shape(), [5, frame.shape()[1]]);
    let again = frame.sample(5, 10).unwrap().column("radius1").unwrap();
    assert_eq!(
        sample.column("radius1").unwrap().values().unwrap(),
        again.values().unwrap()
    );
    let other = frame.sample(5, 11).unwrap().column("radius1").unwrap();
    assert_ne!(other.values().unwrap(), again.values().unwrap());
    let too_many = frame.sample(frame.shape()[0] + 1, 1).unwrap_err();
    assert!(
        too_many.message().contains("sample at most"),
        "{too_many:?}"
    );
    let counts = frame.value_counts("Diagnosis").unwrap();
    assert_eq!(counts.shape()[0], 2);
    site.land().unwrap();
}

/// Seed 003 on a served datasite: the owner's kernel serves it (`%datasite launch NAME --port 0`),
/// Jane reaches it over HTTP from a cell (`veil::connect`), the owner decides with magics, and a
/// scientist's own session works it with magics after `%datasite connect`.
#[test]
fn a_datasite_served_from_the_kernel_is_worked_over_http() {
    let _turn = turn();
    let dir = tempfile::tempdir().unwrap();
    let owner_session = &fixture().session;
    let run = |session: &mut Session, line: &str, password: Option<&str>| {
        magics::parse(line)
            .unwrap()
            .run(session, password.map(str::to_string).into_iter().collect())
            .map(|out| format!("{out:?}"))
    };
    let launched = run(
        &mut owner_session.lock().unwrap(),
        &format!(
            "%datasite launch pandas-test-domain-1 --port 0 --reset --dir {}",
            dir.path().display()
        ),
        None,
    )
    .unwrap();
    let url = owner_session.lock().unwrap().served_at().unwrap();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(launched.contains(&url), "{launched}");
    // Serving twice on one session is refused, and says how to stop.
    let again = owner_session
        .lock()
        .unwrap()
        .serve([127, 0, 0, 1].into(), 0);
    assert!(again.unwrap_err().evalue.contains("%land"));

    let root = veil::site()
        .unwrap()
        .login("info@openmined.org", "changethis")
        .unwrap();
    let data = array(vec![1.0, 2.0, 3.0], &[3]).unwrap();
    let mock_data = array(vec![1.0, 1.0, 1.0], &[3]).unwrap();
    root.upload_dataset(
        Dataset::new("my dataset").asset(Asset::new("my asset").data(&data).mock(&mock_data)),
    )
    .unwrap();
    root.register(NewUser::new("Jane Doe", "jane@caltech.edu", "abc123"))
        .unwrap();

    // Jane, from a cell, over HTTP.
    let node = veil::connect(&url).unwrap();
    assert_eq!(node.name(), "pandas-test-domain-1");
    assert_eq!(node.url(), url);
    assert!(html(&node).contains("served"), "{}", html(&node));
    let jane = node.login("jane@caltech.edu", "abc123").unwrap();
    assert_eq!(jane.role(), Role::DataScientist);
    assert_eq!(
        veil::client().unwrap().email(),
        "info@openmined.org",
        "a login over HTTP does not take over the owner's session"
    );
    let pointer = jane
        .dataset("my dataset")
        .unwrap()
        .asset("my asset")
        .unwrap()
        .pointer()
        .unwrap();
    assert_eq!(
        pointer.sum().unwrap().mock().unwrap().values().unwrap(),
        [3.0]
    );
    let plus_one = (&pointer + 1.0).unwrap();
    assert_eq!(plus_one.mock().unwrap().values().unwrap(), [2.0, 2.0, 2.0]);
    let mine = jane.array(vec![4.0, 5.0, 6.0]).unwrap();
    let added = (&pointer + &mine).unwrap();
    let request = added.request("the sum with my array").unwrap();
    assert_eq!(added.get().unwrap_err().name(), "ApprovalPending");
    // What the server refuses, Jane's cell hears by its name.
    assert_eq!(
        jane.dataset("my dataset")
            .unwrap()
            .asset("my asset")
            .unwrap()
            .data()
            .unwrap_err()
            .name(),
        "PermissionDenied"
    );
    assert_eq!(
        node.login("jane@caltech.edu", "wrong").unwrap_err().name(),
        "AuthenticationFailed"
    );
    let nowhere = veil::connect("http://127.0.0.1:9").unwrap_err();
    assert_eq!(nowhere.name(), "Unavailable", "{nowhere:?}");
    assert!(nowhere.message().contains("veil serve"), "{nowhere:?}");

    // The owner reviews and approves with magics, on the datasite the kernel serves.
    let owner_run = |line: &str| run(&mut owner_session.lock().unwrap(), line, None).unwrap();
    assert!(owner_run("%requests").contains("Requests (1)"));
    assert!(
        owner_run(&format!(
            "%approve {} --override toy data from the seed",
            request.id
        ))
        .contains("released to")
    );
    assert_eq!(added.get().unwrap().values().unwrap(), [5.0, 7.0, 9.0]);

    // A scientist's own session: connect, log in (the password comes over stdin), work with magics.
    let mut scientist = Session::default();
    let connected = run(&mut scientist, &format!("%datasite connect {url}"), None).unwrap();
    assert!(connected.contains("pandas-test-domain-1"), "{connected}");
    assert_eq!(
        run(&mut scientist, "%datasets", None).unwrap_err().ename,
        "NotLoggedIn"
    );
    // Before logging in, `%help api` lists every call with who may make it.
    let every = run(&mut scientist, "%help api", None).unwrap();
    assert!(every.contains("Every call, and who may make it"), "{every}");
    assert!(every.contains("an admin or data owner") && every.contains("%login"));
    assert_eq!(
        run(&mut scientist, "%login jane@caltech.edu", Some("nope"))
            .unwrap_err()
            .ename,
        "AuthenticationFailed"
    );
    run(&mut scientist, "%login jane@caltech.edu", Some("abc123")).unwrap();
    assert!(
        run(&mut scientist, "%whoami", None)
            .unwrap()
            .contains("jane@caltech.edu")
    );
    assert!(
        run(&mut scientist, "%datasets", None)
            .unwrap()
            .contains("my dataset")
    );
    let mine = run(&mut scientist, "%requests --all", None).unwrap();
    assert!(
        mine.contains("Requests (1)") && mine.to_lowercase().contains("approved"),
        "{mine}"
    );
    // `%help api` lists what her role may call, from the table the server's dispatch enforces.
    let api = run(&mut scientist, "%help api", None).unwrap();
    assert!(api.contains("What a data scientist may call"), "{api}");
    assert!(api.contains("pointer.request(reason)") && api.contains("pointers"));
    assert!(!api.contains("request.approve()") && !api.contains("client.users()"));
    let owners = owner_run("%help api");
    assert!(owners.contains("What an admin may call"), "{owners}");
    assert!(owners.contains("request.approve()") && owners.contains("client.set_role("));
    assert!(!owners.contains("pointer.get_dp("), "{owners}");
    // Her role is the server's to decide: owners' magics are refused.
    for line in ["%users", "%audit", &format!("%approve {}", request.id)] {
        let err = run(&mut scientist, line, None).unwrap_err();
        assert_eq!(err.ename, "PermissionDenied", "{line}: {err:?}");
    }
    assert_eq!(
        scientist.embedded().unwrap_err().ename,
        "ServedDatasite",
        "a served datasite has no local directory"
    );
    let theirs = scientist.client().unwrap().clone();
    assert!(
        run(&mut scientist, "%land", None)
            .unwrap()
            .contains("disconnected")
    );
    // Landing the connection logged that session out on the server; the owner's is untouched.
    assert_eq!(
        theirs.whoami().unwrap_err().kind(),
        veil_facade::api::call::ErrorKind::SessionExpired
    );
    assert!(owner_run("%whoami").contains("info@openmined.org"));

    // `%land` on the owner's side stops serving: the address answers no more.
    assert!(owner_run("%land").contains("landed"));
    let gone = veil::connect(&url).unwrap_err();
    assert_eq!(gone.name(), "Unavailable", "{gone:?}");
    assert_eq!(jane.whoami().unwrap_err().name(), "Unavailable");
}
