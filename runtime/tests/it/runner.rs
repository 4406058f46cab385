//! The code runner on its own: real builds (cargo for its shared library, rustc for each function),
//! real child processes, real limits. What goes in and out (frames, arrays, constants, any serde
//! value), compile errors, panics, returned errors, and each limit tripping cleanly: wall time, CPU
//! time, memory, output size, the network and the environment.
//!
//! The runner's directory is `$VEIL_RUNNER_DIR` when set (CI warms it once), else the user cache.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ndarray::{ArrayD, IxDyn, array};
use polars::prelude::{Column, DataFrame};
use veil::Data;
use veil::runner::{self, FailureKind, Limits, RunFailure, RunInput, Runner};

fn runner() -> Runner {
    Runner::new(runner::default_dir())
}

fn run(source: &str, inputs: Vec<RunInput>, limits: &Limits) -> Result<Data, RunFailure> {
    let sig = runner::parse_function(source).expect("a function");
    runner()
        .run(source, &sig, inputs, limits)
        .expect("the runner works")
}

fn frame() -> Arc<Data> {
    Arc::new(Data::Frame(
        DataFrame::new_infer_height(vec![
            Column::new("x".into(), [1.0, 2.0, 4.0]),
            Column::new("label".into(), ["a", "b", "a"]),
        ])
        .unwrap(),
    ))
}

fn small(wall: u64, cpu: u64, memory_mib: u64) -> Limits {
    Limits {
        wall: Duration::from_secs(wall),
        cpu: Duration::from_secs(cpu),
        memory_bytes: memory_mib << 20,
        ..Limits::default()
    }
}

#[test]
fn frames_arrays_constants_and_serde_values_go_in_and_out() {
    let limits = Limits::default();
    let mean = run(
        "fn mean(df: DataFrame) -> f64 { df.column(\"x\").unwrap().f64().unwrap().mean().unwrap() }",
        vec![RunInput::Data(frame())],
        &limits,
    )
    .unwrap();
    assert_eq!(mean, Data::Json(serde_json::json!(7.0 / 3.0)));

    let filtered = run(
        "fn only_a(df: DataFrame, label: String) -> DataFrame {\n    let mask = df.column(\"label\").unwrap().str().unwrap().equal(label.as_str());\n    df.filter(&mask).unwrap()\n}",
        vec![
            RunInput::Data(frame()),
            RunInput::Constant(serde_json::json!("a")),
        ],
        &limits,
    )
    .unwrap();
    assert_eq!(filtered.shape(), [2, 2]);

    let counts = run(
        "fn counts(x: Array1<f64>) -> Array1<i64> { x.mapv(|v| v as i64 * 2) }",
        vec![RunInput::Data(Arc::new(Data::from(array![1.0, 2.5, 3.0])))],
        &limits,
    )
    .unwrap();
    assert_eq!(
        counts,
        Data::I64(ArrayD::from_shape_vec(IxDyn(&[3]), vec![2, 4, 6]).unwrap())
    );

    let metrics = run(
        "fn metrics(x: Vec<f64>) -> std::collections::BTreeMap<String, f64> {\n    [(\"n\".to_string(), x.len() as f64), (\"total\".to_string(), x.iter().sum())].into()\n}",
        vec![RunInput::Data(Arc::new(Data::from(array![1.0, 2.0])))],
        &limits,
    )
    .unwrap();
    assert_eq!(
        metrics,
        Data::Json(serde_json::json!({"n": 2.0, "total": 3.0}))
    );
}

#[test]
fn compile_errors_panics_returned_errors_and_mismatched_inputs() {
    let limits = Limits::default();
    let err = run(
        "fn broken(x: f64) -> f64 {\n    x + \"one\"\n}",
        vec![RunInput::Constant(serde_json::json!(1.0))],
        &limits,
    )
    .unwrap_err();
    assert_eq!(err.kind, FailureKind::Compile);
    assert!(err.detail.contains("broken:2:"), "{}", err.detail);
    assert!(!err.detail.contains("job_"), "{}", err.detail);

    let err = run(
        "fn boom(x: f64) -> f64 { panic!(\"secret value {x}\") }",
        vec![RunInput::Constant(serde_json::json!(42.5))],
        &limits,
    )
    .unwrap_err();
    assert_eq!(err.kind, FailureKind::Panic);
    assert!(err.detail.contains("secret value 42.5"), "{}", err.detail);
    assert!(
        !err.public.contains("42.5") && !err.public.contains("secret"),
        "{}",
        err.public
    );

    let err = run(
        "fn checked(x: f64) -> Result<f64, String> { if x > 1.0 { Err(format!(\"too big: {x}\")) } else { Ok(x) } }",
        vec![RunInput::Constant(serde_json::json!(7.0))],
        &limits,
    )
    .unwrap_err();
    assert_eq!(err.kind, FailureKind::ReturnedError);
    assert!(err.detail.contains("too big: 7"), "{}", err.detail);
    assert!(!err.public.contains('7'), "{}", err.public);

    let err = run(
        "fn wants_array(x: Array2<f64>) -> usize { x.len() }",
        vec![RunInput::Data(frame())],
        &limits,
    )
    .unwrap_err();
    assert_eq!(err.kind, FailureKind::Input);
    assert!(
        err.detail.contains("parameter `x` takes an array") && err.detail.contains("a DataFrame"),
        "{}",
        err.detail
    );
}

#[test]
fn wall_time_cpu_time_and_memory_limits_trip_cleanly() {
    let started = Instant::now();
    let err = run(
        "fn sleepy(x: f64) -> f64 { std::thread::sleep(std::time::Duration::from_secs(60)); x }",
        vec![RunInput::Constant(serde_json::json!(1.0))],
        &small(2, 30, 1024),
    )
    .unwrap_err();
    assert_eq!(err.kind, FailureKind::WallTime, "{}", err.detail);
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "the kill was late"
    );

    let err = run(
        "fn busy(x: f64) -> f64 { let mut v = x; loop { v = (v * 1.000001).sin(); if v > 2.0 { return v; } } }",
        vec![RunInput::Constant(serde_json::json!(1.0))],
        &small(60, 1, 1024),
    )
    .unwrap_err();
    assert_eq!(err.kind, FailureKind::CpuTime, "{}", err.detail);

    let err = run(
        "fn greedy(x: f64) -> usize { let v = vec![1u8; 2 << 30]; v.len() + x as usize }",
        vec![RunInput::Constant(serde_json::json!(1.0))],
        &small(60, 60, 512),
    )
    .unwrap_err();
    assert_eq!(err.kind, FailureKind::Memory, "{}", err.detail);

    let err = run(
        "fn large(n: usize) -> Vec<f64> { vec![0.5; n] }",
        vec![RunInput::Constant(serde_json::json!(1_000_000))],
        &Limits {
            output_bytes: 1 << 20,
            ..Limits::default()
        },
    )
    .unwrap_err();
    assert_eq!(err.kind, FailureKind::OutputTooLarge, "{}", err.detail);

    // Found by review: nothing bounded the files a run wrote, so a mock run (no approval needed)
    // could fill the datasite's disk. No file may outgrow the largest result.
    let err = run(
        "fn fill(n: usize) -> usize { std::fs::write(\"junk\", vec![7u8; n]).map(|_| n).unwrap_or(0) }",
        vec![RunInput::Constant(serde_json::json!(8 << 20))],
        &Limits {
            output_bytes: 1 << 20,
            ..Limits::default()
        },
    );
    assert!(
        matches!(&err, Err(e) if e.kind == FailureKind::OutputTooLarge),
        "{err:?}"
    );
}

#[test]
fn runs_see_neither_the_network_nor_the_parent_environment() {
    // SAFETY: nothing else in this test binary reads or writes this variable.
    #[allow(unsafe_code)]
    unsafe {
        std::env::set_var("VEIL_BRIDGE_TOKEN", "parent-secret");
    }
    let env = run(
        "fn env(x: f64) -> Vec<String> { std::env::vars().map(|(k, v)| format!(\"{k}={v}\")).collect() }",
        vec![RunInput::Constant(serde_json::json!(1.0))],
        &Limits::default(),
    )
    .unwrap();
    let text = env.as_json().unwrap().to_string();
    assert!(
        !text.contains("parent-secret") && !text.contains("VEIL_BRIDGE"),
        "{text}"
    );

    let net = run(
        "fn connect(port: u32) -> String {\n    match std::net::TcpStream::connect((\"1.1.1.1\", port as u16)) {\n        Ok(_) => \"connected\".into(),\n        Err(e) => format!(\"{:?}\", e.kind()),\n    }\n}",
        vec![RunInput::Constant(serde_json::json!(80))],
        &small(20, 20, 1024),
    )
    .unwrap();
    let outcome = net.as_json().unwrap().as_str().unwrap().to_string();
    assert_ne!(outcome, "connected");
    if runner().isolated() {
        // A fresh network namespace has no route anywhere.
        assert_eq!(outcome, "NetworkUnreachable", "{outcome}");
    }
    eprintln!(
        "isolated: {}, a connection attempt gave {outcome}",
        runner().isolated()
    );
}

/// Whether this process runs as root, who may always make mount and network namespaces.
fn root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
}

#[test]
fn runs_see_their_inputs_and_the_system_but_no_other_file() {
    if root() {
        assert!(runner().isolated(), "root can always jail a run");
    }
    let secret = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(secret.path(), "private rows").unwrap();
    let runner_dir = runner::default_dir();
    let seen = run(
        "fn look(paths: Vec<String>) -> Vec<String> {\n    let mut seen: Vec<String> = paths.iter().map(|p| format!(\"{p}: {}\", std::fs::read(p).is_ok() || std::fs::read_dir(p).is_ok())).collect();\n    seen.push(format!(\"write /usr: {}\", std::fs::write(\"/usr/veil-probe\", b\"x\").is_ok()));\n    seen.push(format!(\"write /veil-lib: {}\", std::fs::write(\"/veil-lib/libveil_jobs.so\", b\"x\").is_ok()));\n    seen\n}",
        vec![RunInput::Constant(serde_json::json!([
            secret.path(),
            runner_dir,
            "in/0.json",
            "/usr/bin",
        ]))],
        &Limits::default(),
    )
    .unwrap();
    let seen: Vec<String> = serde_json::from_value(seen.as_json().unwrap().clone()).unwrap();
    eprintln!("isolated: {}, seen: {seen:?}", runner().isolated());
    // Its own input and the system's programs are there in every case.
    assert_eq!(seen[2], "in/0.json: true");
    assert_eq!(seen[3], "/usr/bin: true");
    // A result written as a link to another file is not followed.
    let err = run(
        "fn linked(secret: String) -> f64 { std::os::unix::fs::symlink(&secret, \"out.parquet\").unwrap(); 1.0 }",
        vec![RunInput::Constant(serde_json::json!(secret.path()))],
        &Limits::default(),
    )
    .unwrap_err();
    assert_eq!(err.kind, FailureKind::Crashed, "{}", err.detail);
    assert!(!err.detail.contains("private rows"), "{}", err.detail);
    if runner().isolated() {
        let s = |p: &std::path::Path| p.display().to_string();
        assert_eq!(seen[0], format!("{}: false", s(secret.path())));
        assert_eq!(seen[1], format!("{}: false", s(&runner_dir)));
        assert_eq!(seen[4], "write /usr: false");
        // The shared library every run loads is read only.
        assert_eq!(seen[5], "write /veil-lib: false");
    }
}

/// Found by review: a mock run, which needs no approval, could start `sh -c "kill -9 -1"` and end
/// the datasite's process and every other run of its user; or exit early with the code the runner
/// gives bad inputs. A submitted function starts no process, by any path to `std::process`.
#[test]
fn a_run_starts_no_process_of_its_own() {
    for source in [
        "fn probe(x: f64) -> f64 { std::process::Command::new(\"/bin/sh\").args([\"-c\", \"kill -9 -1\"]).status().ok(); x }",
        "fn probe(x: f64) -> f64 { use std::process as p; p::exit(4) }",
        "fn probe(x: f64) -> f64 { use std::{fs, process::*}; Command::new(\"sleep\").spawn().ok(); x }",
        "fn probe(x: f64) -> f64 { use std::os::unix::process::CommandExt; x }",
    ] {
        let err = runner::parse_function(source).unwrap_err().to_string();
        assert!(err.contains("std::process"), "{source}: {err}");
    }
}

/// Found by review: a mock run, which needs no approval, made the compiler loop for good while it
/// held the runner's build lock, so no code request of anyone compiled again.
#[test]
fn a_function_that_never_finishes_compiling_is_stopped() {
    let source = "fn forever(x: f64) -> f64 {\n    #[allow(long_running_const_eval)]\n    const N: u64 = { let mut i = 0u64; while i < u64::MAX { i += 1; } i };\n    x + N as f64\n}";
    let sig = runner::parse_function(source).unwrap();
    let failure = runner()
        .compile_wall(Duration::from_secs(10))
        .run(
            source,
            &sig,
            vec![RunInput::Constant(serde_json::json!(1.0))],
            &Limits::default(),
        )
        .expect("the runner works")
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Compile, "{failure:?}");
    assert!(
        failure.public.contains("took longer than 10 s to compile"),
        "{failure:?}"
    );
    // The compiler is gone with its lock: the next function compiles and runs.
    let next = run(
        "fn after_forever(x: f64) -> f64 { x + 1.0 }",
        vec![RunInput::Constant(serde_json::json!(1.0))],
        &Limits::default(),
    );
    assert_eq!(next.unwrap(), Data::Json(serde_json::json!(2.0)));
}

#[test]
fn a_compiled_function_runs_again_without_compiling() {
    let source = "fn twice(x: f64) -> f64 { x * 2.0 }";
    let input = || vec![RunInput::Constant(serde_json::json!(21.0))];
    let first = Instant::now();
    assert_eq!(
        run(source, input(), &Limits::default()).unwrap(),
        Data::Json(serde_json::json!(42.0))
    );
    let first = first.elapsed();
    let again = Instant::now();
    run(source, input(), &Limits::default()).unwrap();
    eprintln!(
        "first run (compile if new) {:.2} s, again {:.3} s",
        first.as_secs_f64(),
        again.elapsed().as_secs_f64()
    );
}
