//! The real `veil serve` on 127.0.0.1 with an ephemeral port, reached through `veil::connect` as a
//! scientist on another machine would: seed 003's flow over HTTP, then what an attacker with the
//! address but no valid session tries.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use ndarray::array;
use veil::prelude::*;

pub(crate) const ADMIN: &str = "info@openmined.org";

/// A running `veil serve`, killed on drop.
pub(crate) struct Served {
    pub(crate) child: Child,
    pub(crate) url: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn serve(dir: &Path, extra: &[&str]) -> Served {
    serve_with(dir, extra, &[])
}

/// [`serve`], with `envs` set in its environment.
pub(crate) fn serve_with(dir: &Path, extra: &[&str], envs: &[(&str, &str)]) -> Served {
    let mut args = vec!["--log-level", "warn"];
    args.extend(extra);
    serve_logging(dir, &args, envs, Stdio::inherit())
}

/// `veil serve` with its log going to `log`.
fn serve_logging(
    dir: &Path,
    extra: &[&str],
    envs: &[(&str, &str)],
    log: impl Into<Stdio>,
) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_veil"))
        .envs(envs.iter().copied())
        .args([
            "serve",
            "--name",
            "pandas-test-domain-1",
            "--port",
            "0",
            "--dir",
        ])
        .arg(dir)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://") || w.starts_with("https://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    Served { child, url }
}

/// The admin, logged in over HTTP with the default password.
pub(crate) fn admin(url: &str) -> Client {
    veil::connect(url)
        .unwrap()
        .login(ADMIN, "changethis")
        .unwrap()
}

/// The names of the datasets `client` lists.
pub(crate) fn dataset_names(client: &Client) -> Vec<String> {
    let datasets = client.datasets().unwrap();
    datasets.iter().map(|d| d.name.clone()).collect()
}

/// The datasite's gauge `name`, as its owner reads it.
pub(crate) fn gauge(owner: &Client, name: &str) -> f64 {
    let Data::Frame(metrics) = owner.metrics().unwrap() else {
        panic!("metrics are a frame")
    };
    let row = metrics
        .column("metric")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .position(|m| m == Some(name))
        .unwrap_or_else(|| panic!("no gauge {name}: {metrics}"));
    let value = metrics.column("value").unwrap().get(row).unwrap();
    value.try_extract::<f64>().unwrap()
}

/// Jane Doe, registered by `owner` as a scientist and logged in from her own machine.
pub(crate) fn scientist(url: &str, owner: &Client) -> Client {
    owner
        .register(NewUser::new("Jane Doe", "jane@caltech.edu", "abc123def"))
        .unwrap();
    veil::connect(url)
        .unwrap()
        .login("jane@caltech.edu", "abc123def")
        .unwrap()
}

/// `Ok` when the tests run as root (as CI does), which mounting and network namespaces need.
pub(crate) fn as_root() -> Result<(), String> {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| e.to_string())?;
    match String::from_utf8_lossy(&uid.stdout).trim() {
        "0" => Ok(()),
        _ => Err("not root".into()),
    }
}

/// SIGTERM, as a service manager stops it; returns its exit status.
pub(crate) fn stop(mut served: Served) -> std::process::ExitStatus {
    let pid = served.child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    served.child.wait().unwrap()
}

#[test]
fn seed_003s_flow_runs_against_a_served_datasite() {
    let tmp = tempfile::tempdir().unwrap();
    let served = serve(tmp.path(), &["--reset"]);
    // The owner, on the server's machine or any other.
    let site = veil::connect(&served.url).unwrap();
    assert_eq!(site.name(), "pandas-test-domain-1");
    let owner = site.login(ADMIN, "changethis").unwrap();
    assert!(
        !owner.notices().is_empty(),
        "the default password is flagged"
    );
    owner
        .upload_dataset(
            Dataset::new("my dataset").asset(
                Asset::new("my asset")
                    .data(array![1.0, 2.0, 3.0])
                    .mock(array![1.0, 1.0, 1.0]),
            ),
        )
        .unwrap();
    // Jane, from her own machine: mocks, pointer ops, her own array, a request.
    let jane = scientist(&served.url, &owner);
    let asset = jane
        .dataset("my dataset")
        .unwrap()
        .asset("my asset")
        .unwrap();
    assert_eq!(
        asset.mock().unwrap().as_f64().unwrap().iter().sum::<f64>(),
        3.0
    );
    assert!(
        matches!(asset.data(), Err(Error::Remote { kind, .. }) if kind == veil::api::call::ErrorKind::PermissionDenied)
    );
    let pointer = asset.pointer().unwrap();
    let total = pointer.sum().unwrap();
    assert_eq!(total.mock().as_f64().unwrap().sum(), 3.0);
    let plus_one = (&pointer + 1.0).unwrap();
    assert_eq!(
        plus_one
            .mock()
            .as_f64()
            .unwrap()
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        [2.0, 2.0, 2.0]
    );
    let mine = jane.array(array![4.0, 5.0, 6.0]).unwrap();
    let added = (&pointer + &mine).unwrap();
    let request = added.request("the sum of the two").unwrap();
    assert!(
        matches!(added.get(), Err(Error::Remote { kind, .. }) if kind == veil::api::call::ErrorKind::ApprovalPending)
    );

    // The owner approves (three values, one per row: on purpose, with a reason); Jane gets the
    // real result.
    owner
        .request(&request.id)
        .unwrap()
        .approve_overriding("the seed's toy data")
        .unwrap();
    let result = added.get().unwrap();
    assert_eq!(
        result.as_f64().unwrap().iter().copied().collect::<Vec<_>>(),
        [5.0, 7.0, 9.0]
    );

    // A stop drains and lands; a restart on the same directory holds everything acknowledged.
    assert!(stop(served).success());
    let served = serve(tmp.path(), &[]);
    let owner = admin(&served.url);
    assert_eq!(owner.datasets().unwrap().len(), 1);
    assert_eq!(owner.requests().unwrap().len(), 1);
}

/// Issue 28 over HTTP: the release checks remember an approved total, refuse the total but one
/// (differencing, naming the first), the owner sends it back with the changes it needs, and a
/// released result takes at least `--real-answer-floor-ms`.
#[test]
fn served_releases_are_remembered_and_sent_back_with_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let served = serve(tmp.path(), &["--reset", "--real-answer-floor-ms", "600"]);
    let owner = admin(&served.url);
    let values: Vec<f64> = (0..60).map(|i| 10.0 + f64::from(i) * 0.25).collect();
    let real = ndarray::Array1::from(values.clone());
    owner
        .upload_dataset(
            Dataset::new("sizes").asset(
                Asset::new("sizes")
                    .data(real.clone())
                    .mock(real.mapv(|v| v + 0.5)),
            ),
        )
        .unwrap();
    let jane = scientist(&served.url, &owner);
    let sizes = jane
        .dataset("sizes")
        .unwrap()
        .asset("sizes")
        .unwrap()
        .pointer()
        .unwrap();
    let total = sizes.sum().unwrap();
    let first = total.request("the total").unwrap();
    owner.request(&first.id).unwrap().approve().unwrap();
    let began = std::time::Instant::now();
    total.get().unwrap();
    assert!(began.elapsed() >= std::time::Duration::from_millis(600));
    let but_one = sizes
        .filter(&sizes.lt(values[59]).unwrap())
        .unwrap()
        .sum()
        .unwrap();
    let second = but_one.request("the total but the largest").unwrap();
    let held = owner.request(&second.id).unwrap();
    let err = held.approve().unwrap_err().to_string();
    assert!(
        err.contains("differencing") && err.contains(&first.id[..8]),
        "{err}"
    );
    held.request_changes("ask for the total of the first half instead")
        .unwrap();
    assert_eq!(
        but_one.status().unwrap().to_string(),
        "changes requested: ask for the total of the first half instead"
    );
    assert!(but_one.get().is_err());
}

#[test]
fn only_a_valid_session_reaches_the_datasite() {
    let tmp = tempfile::tempdir().unwrap();
    let served = serve(tmp.path(), &["--reset"]);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let post = |token: Option<&str>, body: &[u8]| {
        let mut request = agent
            .post(format!("{}/v1/call", served.url))
            .header("content-type", veil::api::wire::CONTENT_TYPE);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let mut response = request.send(body).unwrap();
        let status = response.status().as_u16();
        let error: veil::api::wire::ApiError =
            serde_json::from_slice(&response.body_mut().read_to_vec().unwrap()).unwrap();
        (status, error)
    };
    let whoami = veil::api::wire::encode(br#"{"call":{"call":"whoami"}}"#, &[]);
    // No token, a forged one: refused alike, before any call is read.
    for token in [None, Some("forged-token")] {
        let (status, error) = post(token, &whoami);
        assert_eq!(status, 401, "{error:?}");
        assert_eq!(error.kind, veil::api::call::ErrorKind::SessionExpired);
    }
    // A real session, then its logout: the token is dead at once.
    let owner = admin(&served.url);
    owner.whoami().unwrap();
    owner.logout().unwrap();
    assert!(
        matches!(owner.whoami(), Err(Error::Remote { kind, .. }) if kind == veil::api::call::ErrorKind::SessionExpired)
    );
    // A wrong password says so without telling which part was wrong; bad bodies are named.
    let site = veil::connect(&served.url).unwrap();
    let err = site.login(ADMIN, "wrong").unwrap_err().to_string();
    assert!(err.contains("unknown email or wrong password"), "{err}");
    let session = site.login(ADMIN, "changethis").unwrap();
    drop(session);
    let (status, error) = post(Some("forged-token"), b"not a body");
    assert_eq!(
        status, 401,
        "the session is checked before the body: {error:?}"
    );
    // A version the client cannot speak is one clear sentence.
    let err = veil::connect("ftp://example.org").unwrap_err().to_string();
    assert!(err.contains("not an http(s) URL"), "{err}");
    let err = veil::connect("http://127.0.0.1:1").unwrap_err().to_string();
    assert!(err.contains("could not reach the datasite"), "{err}");
}

#[test]
fn the_server_stays_on_loopback_while_the_default_password_stands() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_veil"))
        .args([
            "serve", "--name", "exposed", "--port", "0", "--host", "0.0.0.0", "--dir",
        ])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("default password") && stderr.contains("change_password"),
        "{stderr}"
    );
    // `--help` documents every flag with its environment variable.
    let help = Command::new(env!("CARGO_BIN_EXE_veil"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for var in [
        "VEIL_SITE",
        "VEIL_DIR",
        "VEIL_HOST",
        "VEIL_PORT",
        "VEIL_RESET",
        "VEIL_ADMIN_PASSWORD_FILE",
        "VEIL_DISK_RESERVE_MIB",
    ] {
        assert!(help.contains(var), "{var} missing from --help:\n{help}");
    }
}

/// In a container nobody logs in before the server starts: the admin's first password comes from
/// a file (a Kubernetes Secret), so it may listen beyond loopback at once, and the file only seeds it.
#[test]
fn an_admin_password_file_lets_a_server_start_beyond_loopback() {
    let tmp = tempfile::tempdir().unwrap();
    let secret = tmp.path().join("admin-password");
    std::fs::write(&secret, "a-long-admin-password\n").unwrap();
    let dir = tmp.path().join("site");
    let secret_arg = secret.display().to_string();
    let beyond = ["--host", "0.0.0.0", "--admin-password-file", &secret_arg];
    let served = serve(&dir, &beyond);
    let url = served.url.replace("0.0.0.0", "127.0.0.1");
    let site = veil::connect(&url).unwrap();
    assert!(site.login(ADMIN, "changethis").is_err());
    site.login(ADMIN, "a-long-admin-password").unwrap();
    assert!(stop(served).success());
    // Changed once, the file does not change it again.
    std::fs::write(&secret, "another-long-password").unwrap();
    let served = serve(&dir, &beyond);
    let site = veil::connect(&served.url.replace("0.0.0.0", "127.0.0.1")).unwrap();
    site.login(ADMIN, "a-long-admin-password").unwrap();
    stop(served);
    // A password the datasite would refuse is refused at start, naming the file.
    let fresh = tmp.path().join("fresh");
    std::fs::write(&secret, "abc").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_veil"))
        .args([
            "serve",
            "--name",
            "fresh",
            "--port",
            "0",
            "--admin-password-file",
            &secret_arg,
            "--dir",
        ])
        .arg(&fresh)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&secret_arg) && stderr.contains("password"),
        "{stderr}"
    );
}

/// Many scientists at once: with every worker busy, a call waits briefly and is then told to retry,
/// instead of joining a queue without bound.
#[test]
fn a_busy_datasite_says_when_to_retry() {
    let tmp = tempfile::tempdir().unwrap();
    let served = serve(
        tmp.path(),
        &["--reset", "--workers", "2", "--body-budget-mib", "4"],
    );
    let site = veil::connect(&served.url).unwrap();
    let owner = site.login(ADMIN, "changethis").unwrap();
    owner
        .register(NewUser::new("Jane", "jane@caltech.edu", "abc123def"))
        .unwrap();
    let jane = site.login("jane@caltech.edu", "abc123def").unwrap();
    owner
        .register(NewUser::new("Guy", "guy@example.org", "guy-pw-123"))
        .unwrap();
    owner
        .upload_dataset(
            Dataset::new("d").asset(
                Asset::new("a")
                    .data(array![1.0, 2.0])
                    .mock(array![0.0, 0.0]),
            ),
        )
        .unwrap();
    let asset = owner.dataset("d").unwrap().asset("a").unwrap();
    let nap = veil::function! {
        fn nap(x: ArrayD<f64>) -> f64 { std::thread::sleep(std::time::Duration::from_secs(6)); x.sum() }
    }
    .input_policy(ExactMatch::new().asset("x", &asset));
    let busy = std::thread::spawn(move || nap.run_on_mocks());
    std::thread::sleep(std::time::Duration::from_secs(1));
    // One user holds at most half the workers: the owner's next call waits, Jane's does not.
    let err = owner.whoami().unwrap_err();
    assert!(
        matches!(&err, Error::Remote { kind, message } if *kind == veil::api::call::ErrorKind::Unavailable
            && message.contains("as many as one user may") && message.contains("retry after")),
        "{err:?}"
    );
    assert_eq!(jane.whoami().unwrap().email, "jane@caltech.edu");
    // Bodies held at once are bounded across calls: past the budget, busy rather than memory.
    let token = raw_login(&served.url, "jane@caltech.edu", "abc123def");
    let guy = raw_login(&served.url, "guy@example.org", "guy-pw-123");
    // Guy's call of 3 MiB is under way (its body not yet sent): 1 MiB of the 4 is left.
    let holding = {
        use std::io::Write;
        let at = served.url.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(at).unwrap();
        write!(
            stream,
            "POST /v1/call HTTP/1.1\r\nhost: {at}\r\nauthorization: Bearer {guy}\r\ncontent-length: {}\r\n\r\n",
            3 << 20
        )
        .unwrap();
        stream
    };
    std::thread::sleep(std::time::Duration::from_millis(500));
    let answer = announce(&served.url, Some(&token), 2 << 20);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.contains("holds as many request bodies as it may"),
        "{answer}"
    );
    // A body larger than the whole budget is named as such, not "busy" forever.
    let answer = announce(&served.url, Some(&token), 5 << 20);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("larger --body-budget-mib"), "{answer}");
    drop(holding);
    busy.join().unwrap().unwrap();
    owner.whoami().unwrap();
}

/// `kill -9` at any point loses nothing the server acknowledged and leaves nothing half-written:
/// an upload cut off mid-way is absent, not partial; approved requests stay approved.
#[test]
fn a_killed_server_loses_nothing_it_acknowledged() {
    let tmp = tempfile::tempdir().unwrap();
    let served = serve(tmp.path(), &["--reset"]);
    let owner = admin(&served.url);
    owner
        .upload_dataset(
            Dataset::new("small").asset(
                Asset::new("a")
                    .data(array![1.0, 2.0, 3.0])
                    .mock(array![1.0, 1.0, 1.0]),
            ),
        )
        .unwrap();
    let jane = scientist(&served.url, &owner);
    let pointer = jane
        .dataset("small")
        .unwrap()
        .asset("a")
        .unwrap()
        .pointer()
        .unwrap();
    let total = pointer.sum().unwrap();
    let request = total.request("the total").unwrap();
    owner
        .request(&request.id)
        .unwrap()
        .approve_overriding("test data")
        .unwrap();
    // A large upload, killed while it is under way.
    let big = ndarray::Array1::from_elem(4_000_000, 0.5);
    let uploader = {
        let owner = owner.clone();
        std::thread::spawn(move || {
            owner.upload_dataset(
                Dataset::new("big").asset(Asset::new("b").data(big.clone()).mock(big)),
            )
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(150));
    let mut served = served;
    served.child.kill().unwrap();
    served.child.wait().unwrap();
    let _ = uploader.join().unwrap();

    let served = serve(tmp.path(), &[]);
    let owner = admin(&served.url);
    let names = dataset_names(&owner);
    assert!(names.contains(&"small".to_string()), "{names:?}");
    if names.contains(&"big".to_string()) {
        // Acknowledged after all: then whole.
        let b = owner
            .dataset("big")
            .unwrap()
            .asset("b")
            .unwrap()
            .data()
            .unwrap();
        assert_eq!(b.shape(), vec![4_000_000]);
    }
    let jane = veil::connect(&served.url)
        .unwrap()
        .login("jane@caltech.edu", "abc123def")
        .unwrap();
    let released = jane.request(&request.id).unwrap().get().unwrap();
    assert_eq!(released.as_f64().unwrap().sum(), 6.0);
}

/// What a crash-test workload saw acknowledged.
#[derive(Default)]
struct Acknowledged {
    datasets: Vec<String>,
    users: Vec<String>,
    /// Requests approved, with the real result each releases.
    approved: Vec<(String, f64)>,
}

/// Uploads, registrations, pointer ops, requests and approvals, as fast as the server takes them,
/// until the server dies; what it acknowledged goes into `acked`.
fn crash_workload(url: &str, run: usize, acked: &std::sync::Mutex<Acknowledged>) {
    let Ok((owner, jane)) = veil::connect(url).and_then(|s| {
        Ok((
            s.login(ADMIN, "changethis")?,
            s.login("jane@caltech.edu", "abc123def")?,
        ))
    }) else {
        return;
    };
    for i in 0.. {
        let name = format!("run{run}-{i}");
        let value = (run * 1000 + i) as f64;
        let upload = owner.upload_dataset(
            Dataset::new(&name).asset(
                Asset::new("a")
                    .data(array![value, 1.0])
                    .mock(array![0.0, 0.0]),
            ),
        );
        if upload.is_err() {
            return;
        }
        acked.lock().unwrap().datasets.push(name.clone());
        if i % 4 == 0 {
            let email = format!("{name}@example.org");
            if owner
                .register(NewUser::new("Crash Tester", &email, "pw-123456"))
                .is_err()
            {
                return;
            }
            acked.lock().unwrap().users.push(email);
        }
        let approved = (|| {
            let pointer = jane.dataset(&name)?.asset("a")?.pointer()?;
            let total = (&pointer + 1.0)?.sum()?;
            let request = total.request("crash test")?;
            owner
                .request(&request.id)?
                .approve_overriding("crash test data")?;
            Ok::<_, Error>(request.id.clone())
        })();
        match approved {
            Ok(id) => acked.lock().unwrap().approved.push((id, value + 3.0)),
            Err(_) => return,
        }
    }
}

/// A crash test: 20 runs of the workload above, each killed (SIGKILL) at a random point and
/// restarted on the same directory. After each kill the database passes SQLite's integrity check,
/// and everything acknowledged in every run so far is there: datasets with their data, users, and
/// approved requests whose real results are released.
#[test]
fn twenty_kills_at_random_points_lose_nothing_acknowledged() {
    let tmp = tempfile::tempdir().unwrap();
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Acknowledged::default()));
    // Reproducible from the printed seed.
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("crash test seed {seed}");
    let served = serve(tmp.path(), &["--reset"]);
    veil::connect(&served.url)
        .unwrap()
        .login(ADMIN, "changethis")
        .unwrap()
        .register(NewUser::new("Jane", "jane@caltech.edu", "abc123def"))
        .unwrap();
    assert!(stop(served).success());
    for run in 0..20 {
        let served = serve(tmp.path(), &[]);
        let worker = {
            let (url, acked) = (served.url.clone(), acked.clone());
            std::thread::spawn(move || crash_workload(&url, run, &acked))
        };
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let wait = 100 + (seed >> 33) % 900;
        std::thread::sleep(std::time::Duration::from_millis(wait));
        let mut served = served;
        served.child.kill().unwrap();
        served.child.wait().unwrap();
        worker.join().unwrap();

        let db = rusqlite::Connection::open(tmp.path().join("veil.db")).unwrap();
        let check: String = db
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok", "run {run}");
        drop(db);
    }

    let served = serve(tmp.path(), &[]);
    let owner = admin(&served.url);
    let acked = acked.lock().unwrap();
    assert!(
        acked.approved.len() >= 20,
        "the workload got work done before the kills: {} approvals",
        acked.approved.len()
    );
    let names: std::collections::HashSet<String> = owner
        .datasets()
        .unwrap()
        .iter()
        .map(|d| d.name.clone())
        .collect();
    for name in &acked.datasets {
        assert!(names.contains(name), "acknowledged upload {name} lost");
    }
    let users: std::collections::HashSet<String> = owner
        .users()
        .unwrap()
        .iter()
        .map(|u| u.email.clone())
        .collect();
    for email in &acked.users {
        assert!(
            users.contains(email),
            "acknowledged registration {email} lost"
        );
    }
    let jane = veil::connect(&served.url)
        .unwrap()
        .login("jane@caltech.edu", "abc123def")
        .unwrap();
    for (id, expected) in &acked.approved {
        assert_eq!(
            owner.request(id).unwrap().status,
            RequestStatus::Approved,
            "{id}"
        );
        let released = jane.request(id).unwrap().get().unwrap();
        assert_eq!(released.as_f64().unwrap().sum(), *expected, "{id}");
    }
}

/// Guessing passwords is slowed per account and per address: past five failures, the next attempt,
/// even with the right password, is told how long to wait.
#[test]
fn failed_logins_are_slowed_and_say_for_how_long() {
    let tmp = tempfile::tempdir().unwrap();
    let served = serve(tmp.path(), &["--reset"]);
    let site = veil::connect(&served.url).unwrap();
    for _ in 0..=veil::backoff::FREE_FAILURES {
        let err = site.login(ADMIN, "guess").unwrap_err();
        assert!(
            matches!(&err, Error::Remote { kind, .. } if *kind == veil::api::call::ErrorKind::AuthenticationFailed),
            "{err:?}"
        );
    }
    let err = site.login(ADMIN, "changethis").unwrap_err();
    assert!(
        matches!(&err, Error::Remote { kind, message } if *kind == veil::api::call::ErrorKind::TooManyAttempts && message.contains("try again in")),
        "{err:?}"
    );
    // The same address trying another account waits too.
    let err = site.login("someone@else.org", "guess").unwrap_err();
    assert!(
        matches!(&err, Error::Remote { kind, .. } if *kind == veil::api::call::ErrorKind::TooManyAttempts),
        "{err:?}"
    );
    // The wait ends: the right password then works.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    site.login(ADMIN, "changethis").unwrap();
}

/// One scientist's session reaches only what the datasite gives her: another's request, its code
/// and its release look like nothing at all, and her token cannot approve anything.
#[test]
fn one_users_token_reaches_nothing_of_anothers() {
    let tmp = tempfile::tempdir().unwrap();
    let served = serve(tmp.path(), &["--reset"]);
    let site = veil::connect(&served.url).unwrap();
    let owner = site.login(ADMIN, "changethis").unwrap();
    owner
        .upload_dataset(
            Dataset::new("d").asset(
                Asset::new("a")
                    .data(array![1.0, 2.0, 3.0])
                    .mock(array![1.0, 1.0, 1.0]),
            ),
        )
        .unwrap();
    for (name, email) in [("Jane", "jane@caltech.edu"), ("Bob", "bob@mit.edu")] {
        owner
            .register(NewUser::new(name, email, "abc123def"))
            .unwrap();
    }
    let jane = site.login("jane@caltech.edu", "abc123def").unwrap();
    let bob = site.login("bob@mit.edu", "abc123def").unwrap();
    let total = jane
        .dataset("d")
        .unwrap()
        .asset("a")
        .unwrap()
        .pointer()
        .unwrap()
        .sum()
        .unwrap();
    let request = total.request("mine").unwrap();
    let kind = |e: Error| e.kind();
    use veil::api::call::{Call, ErrorKind};
    use veil::api::calls;
    // Bob, with his own valid session, names Jane's request and her pointer by id.
    assert_eq!(
        kind(bob.request(&request.id).unwrap_err()),
        ErrorKind::NotFound
    );
    for call in [
        Call::from(calls::Approve {
            request: request.id.clone(),
            overriding: Some("bob's say-so".into()),
        }),
        Call::from(calls::Result {
            request: request.id.clone(),
        }),
        Call::from(calls::Review {
            request: request.id.clone(),
        }),
        Call::from(calls::PointerResult {
            pointer: total.id().to_string(),
        }),
    ] {
        let err = bob.call(call.clone()).unwrap_err();
        assert!(
            matches!(
                err.kind(),
                ErrorKind::NotFound | ErrorKind::PermissionDenied
            ),
            "{call:?}: {err:?}"
        );
    }
    assert!(bob.requests().unwrap().is_empty());
    // Jane cannot decide her own request; it is still pending for the owner.
    assert_eq!(
        kind(
            jane.call(Call::from(calls::Approve {
                request: request.id.clone(),
                overriding: None,
            }))
            .unwrap_err()
        ),
        ErrorKind::PermissionDenied
    );
    assert_eq!(kind(total.get().unwrap_err()), ErrorKind::ApprovalPending);
}

#[test]
fn the_json_log_names_users_and_calls_and_no_secret() {
    let tmp = tempfile::tempdir().unwrap();
    let log_path = tmp.path().join("serve.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let served = serve_logging(
        &tmp.path().join("site"),
        &["--reset", "--log-format", "json"],
        &[],
        log,
    );
    let site = veil::connect(&served.url).unwrap();
    let owner = site.login(ADMIN, "changethis").unwrap();
    owner.datasets().unwrap();
    assert!(site.login(ADMIN, "not-the-password").is_err());
    // A session token, as the wire carries it, to look for in the log.
    let mut response = ureq::post(format!("{}/v1/login", served.url))
        .header("content-type", "application/json")
        .send(format!(r#"{{"email":"{ADMIN}","password":"changethis"}}"#))
        .unwrap();
    let session: veil::api::wire::Session =
        serde_json::from_slice(&response.body_mut().read_to_vec().unwrap()).unwrap();
    let token = session.token.0;
    assert!(stop(served).success());

    let text = std::fs::read_to_string(&log_path).unwrap();
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let field = |e: &serde_json::Value, k: &str| e["fields"][k].as_str().map(str::to_string);
    assert!(
        events
            .iter()
            .any(|e| field(e, "call").as_deref() == Some("datasets")
                && field(e, "user").as_deref() == Some(ADMIN)),
        "{text}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["fields"]["path"] == "/v1/login" && e["fields"]["status"] == 401),
        "{text}"
    );
    assert!(
        events
            .iter()
            .any(|e| field(e, "message").as_deref() == Some("login failed"))
    );
    for secret in ["changethis", "not-the-password", token.as_str()] {
        assert!(!text.contains(secret), "the log holds a secret: {secret}");
    }
}

/// A session token as the wire carries it, from a raw login.
fn raw_login(url: &str, email: &str, password: &str) -> String {
    let mut response = ureq::post(format!("{url}/v1/login"))
        .header("content-type", "application/json")
        .send(serde_json::json!({"email": email, "password": password}).to_string())
        .unwrap();
    let session: veil::api::wire::Session =
        serde_json::from_slice(&response.body_mut().read_to_vec().unwrap()).unwrap();
    session.token.0
}

/// A raw call body to `/v1/call` with `token`: the status and the error the server named, if any.
fn raw_call(
    url: &str,
    token: Option<&str>,
    body: &[u8],
) -> (u16, Option<veil::api::wire::ApiError>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = agent
        .post(format!("{url}/v1/call"))
        .header("content-type", veil::api::wire::CONTENT_TYPE);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let mut response = request.send(body).unwrap();
    let status = response.status().as_u16();
    let bytes = response.body_mut().read_to_vec().unwrap();
    (status, serde_json::from_slice(&bytes).ok())
}

/// A request to `/v1/call` announcing a body of `length` bytes, of which none is sent: the server's
/// whole answer (status line, headers and body).
fn announce(url: &str, token: Option<&str>, length: u64) -> String {
    announce_to(url, "/v1/call", token, length)
}

fn announce_to(url: &str, path: &str, token: Option<&str>, length: u64) -> String {
    use std::io::{Read, Write};
    let address = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let auth = token.map_or(String::new(), |t| format!("authorization: Bearer {t}\r\n"));
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nhost: {address}\r\n{auth}content-type: {}\r\ncontent-length: {length}\r\nconnection: close\r\n\r\n",
        veil::api::wire::CONTENT_TYPE
    )
    .unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// What a scientist with a valid session tries beyond her role, and bodies that are not calls:
/// each is refused with a named error and changes nothing.
#[test]
fn escalation_malformed_and_oversized_bodies_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let served = serve(tmp.path(), &["--reset"]);
    let site = veil::connect(&served.url).unwrap();
    let owner = site.login(ADMIN, "changethis").unwrap();
    owner
        .register(NewUser::new("Jane", "jane@caltech.edu", "abc123def"))
        .unwrap();
    owner
        .register(NewUser::new("Guy", "guy@example.org", "guest-pw-1").role(Role::Guest))
        .unwrap();
    let jane = site.login("jane@caltech.edu", "abc123def").unwrap();
    let denied = |r: Result<veil::User, Error>| matches!(r, Err(Error::Remote { kind, .. }) if kind == veil::api::call::ErrorKind::PermissionDenied);
    // Role escalation, through the client and as raw calls.
    assert!(denied(jane.set_role("jane@caltech.edu", Role::Admin)));
    assert!(denied(jane.register(
        NewUser::new("Mallory", "m@example.org", "mallory-pw").role(Role::Admin)
    )));
    let token = raw_login(&served.url, "jane@caltech.edu", "abc123def");
    let call = |json: serde_json::Value| {
        raw_call(
            &served.url,
            Some(&token),
            &veil::api::wire::encode(json.to_string().as_bytes(), &[]),
        )
    };
    let (status, error) = call(serde_json::json!({"call": {"call": "set_role",
        "email": "jane@caltech.edu", "role": "admin"}}));
    assert_eq!(status, 403, "{error:?}");
    // Fields the vocabulary does not have are not obeyed: an extra `role` is no way in.
    let (status, error) = call(serde_json::json!({"call": {"call": "users", "role": "admin"}}));
    assert!(status == 403 || status == 400, "{status} {error:?}");
    assert_eq!(jane.whoami().unwrap().role, Role::DataScientist);

    // Malformed bodies from a valid session: each named, none a server error.
    let not_json = veil::api::wire::encode(b"{not json", &[]);
    let too_many_kinds =
        veil::api::wire::encode(br#"{"call":{"call":"whoami"},"parts":["Array"]}"#, &[]);
    let bad_part = veil::api::wire::encode(
        br#"{"call":{"call":"whoami"},"parts":["Array"]}"#,
        &[b"not an npy file".to_vec()],
    );
    for (what, body) in [
        ("not a body", b"garbage".to_vec()),
        ("not JSON", not_json),
        ("kinds without parts", too_many_kinds),
        ("a part that is not .npy", bad_part),
        (
            "truncated",
            veil::api::wire::encode(b"{}", &[])[..5].to_vec(),
        ),
        (
            "JSON longer than the body",
            veil::api::wire::encode(br#"{"call":{"call":"whoami"}}"#, &[])[..20].to_vec(),
        ),
        (
            "bytes after the last part",
            [
                veil::api::wire::encode(br#"{"call":{"call":"whoami"}}"#, &[]),
                b"trailing".to_vec(),
            ]
            .concat(),
        ),
    ] {
        let (status, error) = raw_call(&served.url, Some(&token), &body);
        let error = error.unwrap_or_else(|| panic!("{what}: no named error ({status})"));
        assert_eq!(status, 400, "{what}: {error:?}");
        assert!(!error.message.is_empty(), "{what}");
    }

    // Bodies are bounded per role, and read only once the sender is known: the server answers
    // from the headers alone, before a byte of the body is sent.
    let answer = announce(&served.url, Some(&token), (64 << 20) + 1024);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains("65 MiB, over the 64 MiB limit for a data scientist"),
        "{answer}"
    );
    let guest = raw_login(&served.url, "guy@example.org", "guest-pw-1");
    let answer = announce(&served.url, Some(&guest), 2 << 20);
    assert!(
        answer.contains("over the 1 MiB limit for a guest"),
        "{answer}"
    );
    for token in [None, Some("forged")] {
        let answer = announce(&served.url, token, 1 << 30);
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    }
    let answer = announce_to(&served.url, "/v1/login", None, 1 << 20);
    assert!(
        answer.starts_with("HTTP/1.1 413"),
        "a login is small: {answer}"
    );
    // The client checks the limit too, and says so in a sentence instead of a cut-off upload.
    let huge = ndarray::Array1::from_elem(9_000_000, 1.0);
    let err = jane
        .upload_dataset(Dataset::new("huge").asset(Asset::new("h").data(huge.clone()).mock(huge)))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("138 MiB, over the 64 MiB limit for a data scientist"),
        "{err}"
    );

    // Nothing changed: the same users with the same roles, and the server answers.
    let users = owner.users().unwrap();
    assert_eq!(users.len(), 3);
    assert!(users.iter().all(|u| u.email != "m@example.org"));
    assert_eq!(jane.whoami().unwrap().role, Role::DataScientist);
}

/// Sessions end when they expire, and a token revoked by logout stays dead across a restart, while
/// a live session survives it.
#[test]
fn expired_and_revoked_tokens_stay_dead_across_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let served = serve(tmp.path(), &["--reset", "--session-secs", "2"]);
    let site = veil::connect(&served.url).unwrap();
    let short = site.login(ADMIN, "changethis").unwrap();
    short.whoami().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert!(
        matches!(short.whoami(), Err(Error::Remote { kind, .. }) if kind == veil::api::call::ErrorKind::SessionExpired)
    );
    assert!(stop(served).success());

    let served = serve(tmp.path(), &[]);
    let revoked = raw_login(&served.url, ADMIN, "changethis");
    let live = raw_login(&served.url, ADMIN, "changethis");
    let whoami = veil::api::wire::encode(br#"{"call":{"call":"whoami"}}"#, &[]);
    let logout = veil::api::wire::encode(br#"{"call":{"call":"logout"}}"#, &[]);
    assert_eq!(raw_call(&served.url, Some(&revoked), &logout).0, 200);
    assert!(stop(served).success());
    let served = serve(tmp.path(), &[]);
    assert_eq!(raw_call(&served.url, Some(&revoked), &whoami).0, 401);
    assert_eq!(raw_call(&served.url, Some(&live), &whoami).0, 200);
}

/// An `.npy` file of `<f8` whose header declares `shape` (a Python tuple) over 16 bytes of data.
fn forged_npy(shape: &str) -> Vec<u8> {
    let mut dict = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + dict.len() + 1) % 64 != 0 {
        dict.push(' ');
    }
    dict.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((dict.len() as u16).to_le_bytes());
    out.extend(dict.as_bytes());
    out.extend([0; 16]);
    out
}

/// A hundred bytes declaring an array of 2^50 values aborted the server (and the owner's kernel
/// serving it) allocating for them. No value is decoded for a call that takes none or a sender
/// who may not upload, and an owner's upload must account for every value its headers declare.
#[test]
fn a_forged_value_header_allocates_nothing() {
    use veil::api::call::{Call, ErrorKind, Part};
    use veil::api::calls;
    use veil::api::spec;
    use veil::api::wire::{CallBody, encode};
    let tmp = tempfile::tempdir().unwrap();
    let served = serve(tmp.path(), &["--reset"]);
    let site = veil::connect(&served.url).unwrap();
    let owner = site.login(ADMIN, "changethis").unwrap();
    owner
        .register(NewUser::new("Jane", "jane@caltech.edu", "abc123def"))
        .unwrap();
    let bomb = forged_npy("(1125899906842624,)");
    let body = |call: Call, parts: usize| {
        let json = serde_json::to_vec(&CallBody {
            call,
            parts: vec![veil::DataKind::ArrayF64; parts],
        })
        .unwrap();
        encode(&json, &vec![bomb.clone(); parts])
    };
    let upload = || {
        Call::from(calls::UploadDataset {
            dataset: spec::Dataset::new("bomb")
                .asset(spec::Asset::new("a").data(Part(0)).mock(Part(1))),
        })
    };
    let jane = raw_login(&served.url, "jane@caltech.edu", "abc123def");
    let admin = raw_login(&served.url, ADMIN, "changethis");
    for (who, token, call, parts, status, kind, says) in [
        (
            "a scientist's whoami",
            &jane,
            Call::from(calls::Whoami {}),
            1,
            400,
            ErrorKind::InvalidInput,
            "takes none",
        ),
        (
            "a scientist's upload",
            &jane,
            upload(),
            2,
            403,
            ErrorKind::PermissionDenied,
            "`client.upload_dataset(dataset)`",
        ),
        (
            "the owner's upload",
            &admin,
            upload(),
            2,
            400,
            ErrorKind::Data,
            "a value may hold",
        ),
    ] {
        let (got, error) = raw_call(&served.url, Some(token), &body(call, parts));
        let error = error.unwrap_or_else(|| panic!("{who}: no named error ({got})"));
        assert_eq!((got, error.kind), (status, kind), "{who}: {error:?}");
        assert!(error.message.contains(says), "{who}: {}", error.message);
    }
    // The server is alive and nothing was uploaded.
    assert!(owner.datasets().unwrap().is_empty());
}

/// The most memory `pid` has held (its peak resident set), in bytes.
fn peak_memory(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib << 10
}

/// Bodies were read whole into memory before anything was decided: four scientists' calls of
/// 48 MiB each (within their role's limit) made the server hold 192 MiB for calls it then refused.
/// A call's JSON comes first and is decided before its parts are read; a refused call's parts are
/// read and dropped as they arrive, and an owner's upload is written to disk as it arrives and
/// answered piece by piece.
#[test]
fn bodies_stream_through_the_server_rather_than_sit_in_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let served = serve(tmp.path(), &["--reset"]);
    let site = veil::connect(&served.url).unwrap();
    let owner = site.login(ADMIN, "changethis").unwrap();
    owner
        .register(NewUser::new("Jane", "jane@caltech.edu", "abc123def"))
        .unwrap();
    let jane = raw_login(&served.url, "jane@caltech.edu", "abc123def");
    let pid = served.child.id();
    let before = peak_memory(pid);
    let json = serde_json::to_vec(&veil::api::wire::CallBody {
        call: veil::api::call::Call::from(veil::api::calls::Whoami {}),
        parts: vec![veil::DataKind::ArrayF64],
    })
    .unwrap();
    let body = veil::api::wire::encode(&json, &[vec![0; 48 << 20]]);
    std::thread::scope(|s| {
        let calls: Vec<_> = (0..4)
            .map(|_| s.spawn(|| raw_call(&served.url, Some(&jane), &body)))
            .collect();
        for call in calls {
            let (status, error) = call.join().unwrap();
            let error = error.unwrap_or_else(|| panic!("no named error ({status})"));
            assert_eq!(status, 400, "{error:?}");
            assert!(error.message.contains("takes none"), "{}", error.message);
        }
    });
    let grew = peak_memory(pid).saturating_sub(before);
    assert!(
        grew < 64 << 20,
        "the server's peak memory grew by {} MiB for 192 MiB of refused bodies",
        grew >> 20
    );

    // An owner's upload of 16 MiB arrives through a file and comes back whole, and the client
    // tells how far encoding and sending it has got, from nothing to every byte of the body.
    let data = ndarray::Array1::from_iter((0..2_000_000).map(f64::from));
    let seen = std::sync::Mutex::new(Vec::new());
    owner
        .upload_dataset_reporting(
            Dataset::new("Large").asset(
                Asset::new("values")
                    .data(data.clone())
                    .mock(ndarray::Array1::<f64>::zeros(2_000_000)),
            ),
            &|p| seen.lock().unwrap().push(p),
        )
        .unwrap();
    let seen = seen.into_inner().unwrap();
    let mut stages: Vec<_> = seen.iter().map(|p| p.stage).collect();
    stages.dedup();
    use veil::progress::Stage;
    assert_eq!(stages, [Stage::Encoding, Stage::Sending], "{seen:?}");
    for stage in stages {
        let reports: Vec<_> = seen.iter().filter(|p| p.stage == stage).collect();
        assert_eq!(reports[0].done, 0, "{reports:?}");
        let last = reports.last().unwrap();
        assert_eq!(last.done, last.total, "{reports:?}");
        assert!(reports.windows(2).all(|w| w[0].done <= w[1].done));
    }
    let sent = seen.last().unwrap().total;
    assert!(
        sent > 32_000_000,
        "the body holds both 16 MB values: {sent}"
    );
    let back = owner.dataset("Large").unwrap().asset("values").unwrap();
    assert_eq!(
        back.data().unwrap().as_f64().unwrap(),
        &data.into_dyn(),
        "the upload round-trips"
    );
    // The spooled parts are gone: only the datasite's own files remain beside its database (and
    // its reserve of disk space).
    let names: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("veil.db") || n == "blobs" || n == "reserve"),
        "{names:?}"
    );
}

/// Twelve wrong passwords sent at once all passed the backoff's check before any failure was
/// counted (the check came before the hash, the count after it). Attempts are counted as they
/// start: past the free ones, the rest wait.
#[test]
fn parallel_guesses_cannot_outrun_the_backoff() {
    let tmp = tempfile::tempdir().unwrap();
    let served = serve(tmp.path(), &["--reset", "--workers", "16"]);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(12));
    let guesses: Vec<_> = (0..12)
        .map(|i| {
            let (agent, url, barrier) = (agent.clone(), served.url.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                agent
                    .post(format!("{url}/v1/login"))
                    .header("content-type", "application/json")
                    .send(
                        serde_json::json!({"email": ADMIN, "password": format!("guess-{i}")})
                            .to_string(),
                    )
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let statuses: Vec<u16> = guesses.into_iter().map(|g| g.join().unwrap()).collect();
    let hashed = statuses.iter().filter(|&&s| s == 401).count();
    let slowed = statuses.iter().filter(|&&s| s == 429).count();
    assert_eq!(hashed + slowed, 12, "{statuses:?}");
    assert!(
        hashed <= veil::backoff::FREE_FAILURES as usize + 1,
        "{hashed} guesses were checked: {statuses:?}"
    );
}

/// `host:port` of a served URL.
fn address(url: &str) -> &str {
    url.split("://").nth(1).unwrap()
}

/// Whether the server closed `stream` (a read returns nothing) within `secs`.
fn closed_within(stream: &mut std::net::TcpStream, secs: u64) -> bool {
    use std::io::Read;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(secs)))
        .unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            // A 408 may come before the close.
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

/// A client that connects and says nothing, or sends headers a byte at a time, held its
/// connection forever and kept `veil serve` from stopping (SIGTERM waited for it). Silent
/// connections are closed after the idle limit, open ones are capped, and a stop drains in bounded
/// time.
#[test]
fn silent_and_surplus_connections_are_closed() {
    use std::io::Write;
    use std::net::TcpStream;
    let tmp = tempfile::tempdir().unwrap();
    let served = serve(
        tmp.path(),
        &[
            "--reset",
            "--idle-secs",
            "1",
            "--connections",
            "3",
            "--drain-secs",
            "2",
        ],
    );
    let at = address(&served.url).to_string();
    // Silent from the start, and stalled in the middle of its headers.
    let mut silent = TcpStream::connect(&at).unwrap();
    let mut slow = TcpStream::connect(&at).unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\n")
        .unwrap();
    let mut third = TcpStream::connect(&at).unwrap();
    // Over the cap: closed as it arrives.
    let mut surplus = TcpStream::connect(&at).unwrap();
    assert!(
        closed_within(&mut surplus, 1),
        "a fourth connection stayed open"
    );
    for (what, stream) in [
        ("silent", &mut silent),
        ("stalled", &mut slow),
        ("third", &mut third),
    ] {
        assert!(
            closed_within(stream, 5),
            "the {what} connection stayed open"
        );
    }
    // Their slots are free again.
    let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
    let health = || {
        agent
            .get(format!("{}/health", served.url))
            .call()
            .map(|r| r.status().as_u16())
    };
    assert_eq!(health().unwrap(), 200);

    // A body that stops arriving is answered 408 after the idle limit.
    let mut stalled = TcpStream::connect(&at).unwrap();
    stalled
        .write_all(b"POST /v1/login HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"email\"")
        .unwrap();
    let answer = read_answer(&mut stalled, 5);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("stopped arriving"), "{answer}");

    // A connection held open does not hold the server: SIGTERM stops it.
    let mut held = TcpStream::connect(&at).unwrap();
    held.write_all(b"GET /health HTTP/1.1\r\nhost: 127.0.0.1")
        .unwrap();
    let started = std::time::Instant::now();
    let status = stop(served);
    assert!(status.success(), "{status:?}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(8),
        "stopping took {:?}",
        started.elapsed()
    );
}

/// What the server wrote on `stream` before closing it or going silent for `secs`.
fn read_answer(stream: &mut std::net::TcpStream, secs: u64) -> String {
    use std::io::Read;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(secs)))
        .unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// One address could take every connection, and a client that pipelines requests without reading
/// the replies held its connection (and the replies queued for it) forever. One address holds at
/// most its share, and a write that makes no progress for the idle limit ends its connection.
#[test]
fn one_address_cannot_hold_every_connection_nor_one_that_never_reads() {
    use std::io::Write;
    use std::net::TcpStream;
    let tmp = tempfile::tempdir().unwrap();
    let served = serve(
        tmp.path(),
        &[
            "--reset",
            "--idle-secs",
            "1",
            "--connections-per-address",
            "1",
        ],
    );
    let at = address(&served.url).to_string();
    // Thousands of pipelined requests, their replies never read: the socket buffers fill.
    let mut greedy = TcpStream::connect(&at).unwrap();
    greedy
        .set_write_timeout(Some(std::time::Duration::from_secs(2)))
        .unwrap();
    let request = b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n";
    for _ in 0..100_000 {
        if greedy.write_all(request).is_err() {
            break;
        }
    }
    // Meanwhile the address's one connection is taken: another is closed as it arrives.
    let mut second = TcpStream::connect(&at).unwrap();
    assert!(
        closed_within(&mut second, 1),
        "a second connection stayed open"
    );
    // Past the idle limit the stalled writes end the greedy connection, and its place is free
    // (asked again until then: a loaded machine may take longer than the limit to notice).
    let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let freed = loop {
        std::thread::sleep(std::time::Duration::from_millis(500));
        let status = agent
            .get(format!("{}/health", served.url))
            .call()
            .map(|r| r.status().as_u16());
        if status.as_ref().ok() == Some(&200) || std::time::Instant::now() > deadline {
            break status.ok();
        }
    };
    assert_eq!(
        freed,
        Some(200),
        "the greedy connection still holds its place"
    );
    drop(greedy);
}

/// A loopback server is reachable by a web page through DNS rebinding (the page's own name
/// resolving to 127.0.0.1): it answers only requests addressed to loopback.
#[test]
fn a_loopback_server_answers_only_requests_addressed_to_loopback() {
    use std::io::{Read, Write};
    let tmp = tempfile::tempdir().unwrap();
    let served = serve(tmp.path(), &["--reset"]);
    let at = address(&served.url).to_string();
    let port = at.rsplit_once(':').unwrap().1.to_string();
    let ask = |host: &str| {
        let mut stream = std::net::TcpStream::connect(&at).unwrap();
        write!(
            stream,
            "GET /v1/version HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    };
    for host in [
        format!("evil.example:{port}"),
        "evil.example".into(),
        "10.0.0.1".into(),
    ] {
        let answer = ask(&host);
        assert!(answer.starts_with("HTTP/1.1 421"), "{host}: {answer}");
        assert!(
            answer.contains("answers only requests addressed to loopback"),
            "{answer}"
        );
        assert!(!answer.contains("pandas-test-domain-1"), "{answer}");
    }
    for host in [
        at.clone(),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
    ] {
        let answer = ask(&host);
        assert!(answer.starts_with("HTTP/1.1 200"), "{host}: {answer}");
    }
    // No Host at all is no loopback name either.
    let mut stream = std::net::TcpStream::connect(&at).unwrap();
    write!(stream, "GET /v1/version HTTP/1.0\r\n\r\n").unwrap();
    let answer = read_answer(&mut stream, 5);
    assert!(answer.starts_with("HTTP/1.0 421"), "{answer}");
    assert!(answer.contains("this one named no Host"), "{answer}");

    // A web page the owner visits could spam logins to lock the owner out: requests marked by a
    // browser are refused, and a login must be JSON (which a page cannot send without asking).
    let post = |extra: &str, content_type: &str| {
        let body = serde_json::json!({"email": ADMIN, "password": "guess"}).to_string();
        let mut stream = std::net::TcpStream::connect(&at).unwrap();
        write!(
            stream,
            "POST /v1/login HTTP/1.1\r\nhost: {at}\r\n{extra}content-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        read_answer(&mut stream, 5)
    };
    for extra in [
        "origin: https://evil.example\r\n",
        "sec-fetch-site: cross-site\r\n",
    ] {
        let answer = post(extra, "application/json");
        assert!(answer.starts_with("HTTP/1.1 403"), "{extra}: {answer}");
        assert!(answer.contains("not web pages"), "{answer}");
    }
    for _ in 0..=veil::backoff::FREE_FAILURES {
        let answer = post("", "text/plain");
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        assert!(
            answer.contains("content-type: application/json"),
            "{answer}"
        );
    }
    // None of them counted as a guess: a wrong password is still checked, not slowed.
    let err = veil::connect(&served.url)
        .unwrap()
        .login(ADMIN, "guess")
        .unwrap_err();
    assert!(
        matches!(&err, Error::Remote { kind, .. } if *kind == veil::api::call::ErrorKind::AuthenticationFailed),
        "{err:?}"
    );
}

/// A self-signed authority and a certificate it signed for 127.0.0.1, made with `openssl`:
/// (authority, certificate, key).
fn authority_and_certificate(
    dir: &Path,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=Veil test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
        "-out",
        "server.pem",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

/// Served with `--tls-cert/--tls-key`, the datasite speaks only HTTPS; a client trusts it through
/// the authority `VEIL_TLS_CA` names, and refuses it without (the public roots do not know it).
#[test]
fn over_tls_the_client_trusts_only_the_authority_it_is_given() {
    // The client half runs in a child with VEIL_TLS_CA set (the environment is the process's).
    if let Ok(url) = std::env::var("VEIL_TEST_TLS_URL") {
        let site = veil::connect(&url).unwrap();
        let owner = site.login(ADMIN, "changethis").unwrap();
        owner
            .upload_dataset(
                Dataset::new("d").asset(
                    Asset::new("a")
                        .data(array![1.0, 2.0])
                        .mock(array![0.0, 0.0]),
                ),
            )
            .unwrap();
        println!(
            "over tls: {:?}",
            owner
                .datasets()
                .unwrap()
                .iter()
                .map(|d| d.name.clone())
                .collect::<Vec<_>>()
        );
        return;
    }
    let (tmp, certs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (ca, cert, key) = authority_and_certificate(certs.path());
    let (cert_arg, key_arg) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let served = serve(
        tmp.path(),
        &["--reset", "--tls-cert", cert_arg, "--tls-key", key_arg],
    );
    assert!(served.url.starts_with("https://"), "{}", served.url);
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "serve::over_tls_the_client_trusts_only_the_authority_it_is_given",
            "--nocapture",
        ])
        .env("VEIL_TEST_TLS_URL", &served.url)
        .env(veil::CA_ENV, &ca)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&child.stdout);
    assert!(
        child.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&child.stderr)
    );
    assert!(out.contains(r#"over tls: ["d"]"#), "{out}");
    // Without the authority, the certificate is refused, in a sentence naming it.
    let Err(err) = veil::connect(&served.url) else {
        panic!("a certificate of an unknown authority was trusted")
    };
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
    // Plain HTTP to the TLS port gets no answer from the datasite.
    let plain = served.url.replacen("https://", "http://", 1);
    assert!(veil::connect(&plain).is_err());
    // A certificate the key does not serve is named before anything is opened.
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_veil"))
        .args([
            "serve",
            "--name",
            "x",
            "--port",
            "0",
            "--reset",
            "--tls-cert",
            cert_arg,
            "--tls-key",
        ])
        .arg(certs.path().join("ca.key"))
        .arg("--dir")
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("does not serve the certificate"),
        "{stderr}"
    );
}

/// `--cache-mib` bounds the memory the datasite keeps computed values in: ten 320 KB values on
/// each side would hold 6 MB, and the owner's gauges show them held to the budget.
#[test]
fn the_value_cache_keeps_to_the_budget_serve_is_given() {
    let tmp = tempfile::tempdir().unwrap();
    let served = serve(
        tmp.path(),
        &["--reset", "--cache-mib", "1", "--real-answer-floor-ms", "0"],
    );
    let owner = admin(&served.url);
    let values = ndarray::Array1::from_iter((0..40_000).map(f64::from));
    owner
        .upload_dataset(
            Dataset::new("wide").asset(
                Asset::new("values")
                    .data(values.clone())
                    .mock(values.mapv(|v| v + 1.0)),
            ),
        )
        .unwrap();
    let pointer = owner
        .dataset("wide")
        .unwrap()
        .asset("values")
        .unwrap()
        .pointer()
        .unwrap();
    let gauge = |name: &str| gauge(&owner, name);
    assert_eq!(gauge("cache_budget_bytes"), f64::from(1 << 20));
    for step in 0..10 {
        let shifted = (&pointer + f64::from(step)).unwrap();
        // The owner's read replays the real value now, on this thread.
        shifted.get().unwrap();
        let held = gauge("cache_bytes");
        assert!(
            held <= f64::from(1 << 20),
            "{held} bytes cached after step {step}"
        );
    }
    assert!(gauge("cache_entries") >= 2.0);
}

/// `GET /metrics` with `bearer`: the status and the text.
fn scrape(url: &str, bearer: Option<&str>) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = agent.get(format!("{url}/metrics"));
    if let Some(token) = bearer {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let mut response = request.call().unwrap();
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_string().unwrap())
}

/// The value of the sample `name` (a whole line's name and labels) in a scrape's `text`.
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no sample {name} in\n{text}"))
        .parse()
        .unwrap()
}

#[test]
fn operators_scrape_metrics_and_no_one_else_does() {
    let tmp = tempfile::tempdir().unwrap();
    // Without a metrics token, loopback reads them.
    let served = serve(tmp.path(), &["--reset"]);
    let owner = admin(&served.url);
    owner.datasets().unwrap();
    assert!(
        veil::connect(&served.url)
            .unwrap()
            .login(ADMIN, "not the password")
            .is_err()
    );
    let (status, text) = scrape(&served.url, None);
    assert_eq!(status, 200, "{text}");
    // OpenTelemetry's HTTP names, in seconds, by route and status.
    assert!(
        text.contains("# UNIT http_server_request_duration_seconds seconds"),
        "{text}"
    );
    assert!(
        sample(
            &text,
            "http_server_request_duration_seconds_count{http_request_method=\"POST\",http_route=\"/v1/login\",http_response_status_code=\"200\"}"
        ) >= 1.0
    );
    assert!(text.contains("http_server_active_requests{"), "{text}");
    // The datasite's own: calls by outcome, refused logins, and the Metrics call's gauges.
    assert!(
        text.lines()
            .any(|l| l.starts_with("veil_calls_total{") && l.contains("outcome=\"ok\"")),
        "{text}"
    );
    assert_eq!(sample(&text, "veil_logins_refused_total"), 1.0);
    assert_eq!(sample(&text, "veil_requests_pending"), 0.0);
    assert_eq!(
        sample(&text, "veil_cache_budget_bytes"),
        veil::DEFAULT_CACHE_BYTES as f64
    );
    assert!(text.ends_with("# EOF\n"), "{text}");
    drop(served);

    // With one, only the metrics token reads them, from loopback too: no session token does.
    let tmp = tempfile::tempdir().unwrap();
    let token_file = tmp.path().join("metrics-token");
    std::fs::write(&token_file, "a-metrics-token-for-operators\n").unwrap();
    let short = tmp.path().join("short-token");
    std::fs::write(&short, "short\n").unwrap();
    let refused = Command::new(env!("CARGO_BIN_EXE_veil"))
        .args([
            "serve",
            "--name",
            "refused",
            "--port",
            "0",
            "--metrics-token-file",
        ])
        .arg(&short)
        .arg("--dir")
        .arg(tmp.path().join("never"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && stderr.contains("shorter than 16"),
        "{stderr}"
    );
    let served = serve(
        &tmp.path().join("site"),
        &[
            "--reset",
            "--metrics-token-file",
            token_file.to_str().unwrap(),
        ],
    );
    let session = raw_login(&served.url, ADMIN, "changethis");
    let (status, text) = scrape(&served.url, None);
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("metrics token"), "{text}");
    assert_eq!(scrape(&served.url, Some(&session)).0, 403);
    assert_eq!(
        scrape(&served.url, Some("a-metrics-token-for-operator")).0,
        403
    );
    let (status, text) = scrape(&served.url, Some("a-metrics-token-for-operators"));
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("veil_store_bytes"), "{text}");
}

#[test]
fn a_served_datasite_reads_files_in_place_under_its_data_root_only() {
    let (tmp, root) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let frame = veil::read_csv(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../notebooks/data/breast_cancer_wisconsin_diagnostic.csv"
    ))
    .unwrap();
    std::fs::create_dir(root.path().join("cancer")).unwrap();
    for (i, rows) in [(0, 0..300), (1, 300..frame.height())] {
        let part = frame.slice(rows.start as i64, rows.len());
        std::fs::write(
            root.path().join(format!("cancer/part-{i}.parquet")),
            Data::Frame(part).encode().unwrap(),
        )
        .unwrap();
    }
    let root_arg = root.path().display().to_string();
    let served = serve(tmp.path(), &["--reset", "--data-root", &root_arg]);
    let owner = admin(&served.url);
    // Over HTTP the asset carries a location, not data: the server resolves it under its root.
    let escape = owner
        .upload_dataset(Dataset::new("escape").asset(Asset::new("frame").files("../").no_mock()));
    let message = escape.unwrap_err().to_string();
    assert!(message.contains("leaves the data root"), "{message}");
    owner
        .upload_dataset(
            Dataset::new("cancer").asset(
                Asset::new("frame")
                    .files("cancer")
                    .mock(veil::mock::shift_and_jitter(&frame, 5).unwrap()),
            ),
        )
        .unwrap();
    let asset = owner.dataset("cancer").unwrap().asset("frame").unwrap();
    assert_eq!(asset.shape, vec![frame.height(), frame.width()]);
    let real = asset.data().unwrap();
    assert!(real.as_frame().unwrap().equals_missing(&frame));
    let jane = scientist(&served.url, &owner);
    let mean = jane
        .dataset("cancer")
        .unwrap()
        .asset("frame")
        .unwrap()
        .pointer()
        .unwrap()
        .column("radius1")
        .unwrap()
        .mean()
        .unwrap();
    let request = mean.request("the mean radius").unwrap();
    owner
        .request(&request.id)
        .unwrap()
        .approve_overriding("test data")
        .unwrap();
    let got = mean.get().unwrap();
    let expected = frame
        .column("radius1")
        .unwrap()
        .as_materialized_series()
        .mean()
        .unwrap();
    let got = got.as_f64().unwrap().iter().copied().next().unwrap();
    assert!((got - expected).abs() < 1e-9, "{got} vs {expected}");
    stop(served);
}

#[test]
fn served_plans_run_on_a_ballista_cluster_and_agree_with_this_process() {
    let cluster = veil_plan::standalone::Cluster::start(2, 1).unwrap();
    let frame = veil::read_csv(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../notebooks/data/breast_cancer_wisconsin_diagnostic.csv"
    ))
    .unwrap();
    let mut got = Vec::new();
    for engine in ["local", cluster.url()] {
        let tmp = tempfile::tempdir().unwrap();
        let served = serve(
            tmp.path(),
            &["--reset", "--plan-from-mib", "0", "--engine", engine],
        );
        let owner = veil::connect(&served.url)
            .unwrap()
            .login(ADMIN, "changethis")
            .unwrap();
        owner
            .upload_dataset(
                Dataset::new("cancer").asset(
                    Asset::new("frame")
                        .data(frame.clone())
                        .mock(veil::mock::shift_and_jitter(&frame, 5).unwrap()),
                ),
            )
            .unwrap();
        let jane = scientist(&served.url, &owner);
        let x = jane
            .dataset("cancer")
            .unwrap()
            .asset("frame")
            .unwrap()
            .pointer()
            .unwrap();
        let large = x.column("radius1").unwrap().gt(15.0).unwrap();
        let mean = x
            .filter(&large)
            .unwrap()
            .group_by("Diagnosis", &[("texture1", veil::ops::Agg::Mean)])
            .unwrap();
        let request = mean.request("texture by diagnosis").unwrap();
        owner
            .request(&request.id)
            .unwrap()
            .approve_overriding("test data")
            .unwrap();
        got.push(mean.get().unwrap());
        assert!(gauge(&owner, "planned_replays") >= 1.0, "{engine}");
        stop(served);
    }
    let (here, there) = (got[0].as_frame().unwrap(), got[1].as_frame().unwrap());
    assert!(here.equals_missing(there), "{here}\n{there}");
}
