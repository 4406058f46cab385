//! The datasite's hot paths against bare baselines, measured in one run and reported as ratios at
//! the end:
//! - `login/*`: a scientist's login (argon2id check, session made and stored, audited) against the
//!   bare argon2id check of the same password with the same parameters.
//! - `list_datasets/*`: the owner listing 1,000 datasets against the same rows read with a bare SQLite
//!   query from the datasite's own file.
//! - `list_requests/*`: the owner listing 10,000 requests, against the same with bare SQLite.
//! - `pointer_op/*`: one pointer op (mock computed, action recorded durably and audited, worker
//!   notified) against the same op done directly with ndarray or polars on the same mock. Target: the
//!   difference is under 1 ms per op for small data.
//! - `replay_1e6/*`: the owner reading a recorded chain's real value (column, `* 2`, `+ 1`, sum) on a
//!   1,000,000-row frame with the datasite's cache cleared, so the datasite replays the chain (and
//!   checks the session and writes the read to the audit log), against the same chain in polars on
//!   the same frame. Target: within 1.25x.
//!
//! Run with `cargo bench -p veil --bench hot_paths`; the last lines it prints compare each pair.
//! Under criterion's `--test` (each bench once, as `scripts/test.sh` runs it) the listings hold 50
//! datasets and 100 requests, so the setup stays short.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::path::PathBuf;
use std::time::SystemTime;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use criterion::{Criterion, criterion_group};
use ndarray::{Array1, array};
use polars::prelude::{ChunkAgg, Column, DataFrame, DataType};
use veil::prelude::*;

fn site(dir: &std::path::Path) -> (Datasite, Client) {
    let site = LaunchOptions::new("bench")
        .dir(dir)
        .reset(true)
        .launch()
        .unwrap();
    let owner = site.login("info@openmined.org", "changethis").unwrap();
    (site, owner)
}

/// Whether criterion runs each bench once (`--test`): small setups.
fn quick() -> bool {
    std::env::args().any(|a| a == "--test")
}

const JANE: &str = "jane@example.org";
const JANE_PW: &str = "a long passphrase";

fn login(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let (site, owner) = site(dir.path());
    owner.register(NewUser::new("Jane", JANE, JANE_PW)).unwrap();
    let salt = SaltString::encode_b64(b"sixteen byte sal").unwrap();
    let hash = Argon2::default()
        .hash_password(JANE_PW.as_bytes(), &salt)
        .unwrap()
        .to_string();
    let mut group = c.benchmark_group("login");
    group.sample_size(20);
    group.bench_function("bare_argon2_verify", |b| {
        b.iter(|| {
            let parsed = PasswordHash::new(&hash).unwrap();
            Argon2::default()
                .verify_password(black_box(JANE_PW).as_bytes(), &parsed)
                .unwrap()
        })
    });
    group.bench_function("datasite_login", |b| {
        b.iter(|| site.login(JANE, black_box(JANE_PW)).unwrap())
    });
    group.finish();
}

/// Rows of `sql` read from the datasite's database file in `dir`, each row's columns as text.
fn bare_rows(conn: &rusqlite::Connection, sql: &str) -> Vec<Vec<rusqlite::types::Value>> {
    let mut stmt = conn.prepare_cached(sql).unwrap();
    let columns = stmt.column_count();
    stmt.query_map([], |row| {
        (0..columns)
            .map(|i| row.get::<_, rusqlite::types::Value>(i))
            .collect()
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

fn bare_db(dir: &std::path::Path) -> rusqlite::Connection {
    rusqlite::Connection::open_with_flags(
        dir.join("veil.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap()
}

fn list_datasets(c: &mut Criterion) {
    let n = if quick() { 50 } else { 1_000 };
    let dir = tempfile::tempdir().unwrap();
    let (_site, owner) = site(dir.path());
    for i in 0..n {
        owner
            .upload_dataset(
                Dataset::new(format!("dataset {i}"))
                    .summary("one of many")
                    .asset(
                        Asset::new("a")
                            .data(array![1.0, 2.0])
                            .mock(array![0.0, 0.0]),
                    ),
            )
            .unwrap();
    }
    assert_eq!(owner.datasets().unwrap().len(), n);
    let conn = bare_db(dir.path());
    let sql = "SELECT d.id, d.name, d.description, d.summary, d.citation, d.url, d.uploader,
               d.created_at, a.id, a.name, a.description, a.kind, a.schema, a.shape, a.mock_shape
               FROM datasets d JOIN assets a ON a.dataset_id = d.id ORDER BY d.created_at, a.position";
    assert_eq!(bare_rows(&conn, sql).len(), n);
    let mut group = c.benchmark_group("list_datasets");
    group.bench_function("bare_sqlite", |b| b.iter(|| bare_rows(&conn, sql)));
    group.bench_function("datasite", |b| b.iter(|| owner.datasets().unwrap()));
    group.finish();
}

fn list_requests(c: &mut Criterion) {
    let n = if quick() { 100 } else { 10_000 };
    let dir = tempfile::tempdir().unwrap();
    let (site, owner) = site(dir.path());
    owner
        .upload_dataset(
            Dataset::new("numbers").asset(
                Asset::new("a")
                    .data(array![1.0, 2.0])
                    .mock(array![0.0, 0.0]),
            ),
        )
        .unwrap();
    owner.register(NewUser::new("Jane", JANE, JANE_PW)).unwrap();
    let jane = site.login(JANE, JANE_PW).unwrap();
    let pointer = jane
        .dataset("numbers")
        .unwrap()
        .asset("a")
        .unwrap()
        .pointer()
        .unwrap();
    for i in 0..n {
        (&pointer + i as f64)
            .unwrap()
            .request("a shifted copy")
            .unwrap();
    }
    assert_eq!(owner.requests().unwrap().len(), n);
    let conn = bare_db(dir.path());
    let sql = "SELECT * FROM requests ORDER BY number";
    assert_eq!(bare_rows(&conn, sql).len(), n);
    let mut group = c.benchmark_group("list_requests");
    group.sample_size(20);
    group.bench_function("bare_sqlite", |b| b.iter(|| bare_rows(&conn, sql)));
    group.bench_function("datasite", |b| b.iter(|| owner.requests().unwrap()));
    group.finish();
}

fn pointer_op(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let (_site, owner) = site(dir.path());
    let mock = Array1::from_iter((0..100).map(f64::from));
    owner
        .upload_dataset(
            Dataset::new("small")
                .asset(Asset::new("a").data(mock.clone() * 2.0).mock(mock.clone())),
        )
        .unwrap();
    let pointer = owner
        .dataset("small")
        .unwrap()
        .asset("a")
        .unwrap()
        .pointer()
        .unwrap();
    let mut group = c.benchmark_group("pointer_op");
    group.bench_function("bare_ndarray_add", |b| b.iter(|| black_box(&mock) + 1.0));
    group.bench_function("pointer_add", |b| {
        b.iter(|| (black_box(&pointer) + 1.0).unwrap())
    });
    group.bench_function("bare_ndarray_sum", |b| b.iter(|| black_box(&mock).sum()));
    group.bench_function("pointer_sum", |b| {
        b.iter(|| black_box(&pointer).sum().unwrap())
    });
    let frame = DataFrame::new_infer_height(vec![
        Column::new("x".into(), mock.to_vec()),
        Column::new("y".into(), mock.mapv(|v| v % 7.0).to_vec()),
    ])
    .unwrap();
    owner
        .upload_dataset(
            Dataset::new("small frame")
                // A mock may not be the data itself; the mock side is what is timed.
                .asset(Asset::new("t").data(frame.reverse()).mock(frame.clone())),
        )
        .unwrap();
    let table = owner
        .dataset("small frame")
        .unwrap()
        .asset("t")
        .unwrap()
        .pointer()
        .unwrap();
    group.bench_function("bare_polars_select", |b| {
        b.iter(|| black_box(&frame).select(["y"]).unwrap())
    });
    group.bench_function("pointer_select", |b| {
        b.iter(|| black_box(&table).select(["y"]).unwrap())
    });
    group.finish();
}

fn replay(c: &mut Criterion) {
    const ROWS: usize = 1_000_000;
    let dir = tempfile::tempdir().unwrap();
    let (site, owner) = site(dir.path());
    let frame = |scale: f64| {
        DataFrame::new_infer_height(vec![
            Column::new(
                "x".into(),
                (0..ROWS).map(|i| i as f64 * scale).collect::<Vec<_>>(),
            ),
            Column::new(
                "y".into(),
                (0..ROWS).map(|i| (i % 7) as f64).collect::<Vec<_>>(),
            ),
        ])
        .unwrap()
    };
    let real = frame(0.5);
    owner
        .upload_dataset(
            Dataset::new("big").asset(
                Asset::new("t")
                    .data(real.clone())
                    .mock(frame(0.25).head(Some(100))),
            ),
        )
        .unwrap();
    let pointer = owner
        .dataset("big")
        .unwrap()
        .asset("t")
        .unwrap()
        .pointer()
        .unwrap();
    let chain = ((&(&pointer.column("x").unwrap() * 2.0).unwrap() + 1.0).unwrap())
        .sum()
        .unwrap();
    // Loads the asset once; every replay below starts from the loaded frame, as bare polars does.
    let expect = chain.get().unwrap();
    let bare = |df: &DataFrame| {
        let x = df.column("x").unwrap().cast(&DataType::Float64).unwrap();
        let x = x.f64().unwrap();
        ((x * 2.0) + 1.0).sum().unwrap()
    };
    assert_eq!(
        expect,
        Data::F64(
            array![bare(&real)]
                .into_shape_with_order(ndarray::IxDyn(&[]))
                .unwrap()
        )
    );
    let mut group = c.benchmark_group("replay_1e6");
    // Each replay's owner read waits for one fsync (the audit entry); more samples keep the median
    // steady against the disk's outliers.
    group.measurement_time(std::time::Duration::from_secs(10));
    group.bench_function("bare_polars", |b| b.iter(|| bare(black_box(&real))));
    group.bench_function("datasite_replay", |b| {
        b.iter(|| {
            site.clear_results();
            chain.get().unwrap()
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    login,
    list_datasets,
    list_requests,
    pointer_op,
    replay
);

fn main() {
    let started = SystemTime::now();
    benches();
    Criterion::default().configure_from_args().final_summary();
    report(started);
}

/// Where criterion wrote its estimates (its own rule: `$CRITERION_HOME`, else the target directory).
fn criterion_dir() -> PathBuf {
    std::env::var_os("CRITERION_HOME")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR").map(|t| PathBuf::from(t).join("criterion"))
        })
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/criterion"))
}

/// The median time of `group/bench` in nanoseconds, if this run measured it.
fn median_ns(group: &str, bench: &str, since: SystemTime) -> Option<f64> {
    let path = criterion_dir()
        .join(group)
        .join(bench)
        .join("new/estimates.json");
    if std::fs::metadata(&path).ok()?.modified().ok()? < since {
        return None;
    }
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    json["median"]["point_estimate"].as_f64()
}

/// Prints each pair of this run as the targets put it: overhead per op, replay ratio.
fn report(since: SystemTime) {
    let mut lines = Vec::new();
    for (bare, pointer) in [
        ("bare_ndarray_add", "pointer_add"),
        ("bare_ndarray_sum", "pointer_sum"),
        ("bare_polars_select", "pointer_select"),
    ] {
        if let (Some(b), Some(p)) = (
            median_ns("pointer_op", bare, since),
            median_ns("pointer_op", pointer, since),
        ) {
            let overhead_us = (p - b) / 1e3;
            lines.push(format!(
                "  {pointer:<16} {:>9.1} us vs {bare} {:>7.2} us: overhead {overhead_us:.1} us per op ({})",
                p / 1e3,
                b / 1e3,
                if overhead_us < 1000.0 {
                    "target < 1 ms: met"
                } else {
                    "target < 1 ms: NOT met"
                }
            ));
        }
    }
    for (group, bare, what) in [
        ("login", "bare_argon2_verify", "a login"),
        ("list_datasets", "bare_sqlite", "listing 1,000 datasets"),
        ("list_requests", "bare_sqlite", "listing 10,000 requests"),
    ] {
        if let (Some(b), Some(d)) = (
            median_ns(group, bare, since),
            median_ns(group, "datasite", since).or(median_ns(group, "datasite_login", since)),
        ) {
            lines.push(format!(
                "  {what:<24} {:>9.2} ms vs {bare} {:.2} ms: {:.2}x",
                d / 1e6,
                b / 1e6,
                d / b
            ));
        }
    }
    if let (Some(b), Some(r)) = (
        median_ns("replay_1e6", "bare_polars", since),
        median_ns("replay_1e6", "datasite_replay", since),
    ) {
        let ratio = r / b;
        lines.push(format!(
            "  replay of 1e6 rows {:>7.2} ms vs bare polars {:.2} ms: {ratio:.2}x ({})",
            r / 1e6,
            b / 1e6,
            if ratio <= 1.25 {
                "target <= 1.25x: met"
            } else {
                "target <= 1.25x: NOT met"
            }
        ));
    }
    if lines.is_empty() {
        println!(
            "\nveil hot paths: no pair was measured in this run (criterion's --test, or a filter)"
        );
    } else {
        println!("\nveil hot paths against bare baselines (medians of this run):");
        for line in lines {
            println!("{line}");
        }
    }
}
