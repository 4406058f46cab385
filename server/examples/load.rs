//! A bounded load test of the served datasite on loopback: N scientists at once (32 by default),
//! each logged in over HTTP, make M pointer ops (100 by default) on an asset and one request; the
//! owner approves every request and each scientist checks the real result released to her. Every
//! mock result is checked too. Prints one JSON line: throughput, p50 / p99 / max latency of a pointer
//! op, and the error count (the exit status is non-zero when it is not 0). Every scientist logs in
//! before any starts her ops, and only the ops are timed: a login hashes a password (argon2, tens of
//! milliseconds of CPU by design), and 32 of them at once would otherwise be counted as op latency.
//!
//! `cargo run --release -p veil-server --example load [-- --scientists N --ops M --workers W]`
//!
//! The server is the real one (`veil_server::Background`, what `veil serve` and the kernel's
//! `%datasite launch --port` run) on 127.0.0.1 with a free port, in this process: clients and server
//! share the machine's cores, as they would on a one-box deployment.

use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use ndarray::array;
use veil::prelude::*;

#[derive(Parser)]
struct Args {
    /// Scientists working at once.
    #[arg(long, default_value_t = 32)]
    scientists: usize,
    /// Pointer ops each.
    #[arg(long, default_value_t = 100)]
    ops: usize,
    /// The server's workers (`veil serve --workers`).
    #[arg(long, default_value_t = 8)]
    workers: usize,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let site = LaunchOptions::new("load-test")
        .dir(dir.path())
        .reset(true)
        .launch()?;
    let server = veil_server::Background::start(
        site.clone(),
        [127, 0, 0, 1].into(),
        0,
        veil_server::Limits {
            workers: args.workers,
            // Every scientist comes from 127.0.0.1 here, with a connection or two each.
            connections_per_address: (args.scientists * 2).max(64),
            ..Default::default()
        },
    )?;
    let url = server.url();
    let owner = veil::connect(&url)?.login("info@openmined.org", "changethis")?;
    owner.upload_dataset(
        Dataset::new("numbers").asset(
            Asset::new("n")
                .data(array![1.0, 2.0, 3.0])
                .mock(array![1.0, 1.0, 1.0]),
        ),
    )?;
    for s in 0..args.scientists {
        owner.register(NewUser::new(
            format!("Scientist {s}"),
            format!("s{s}@example.org"),
            "load-test-pw",
        ))?;
    }

    let latencies = Mutex::new(Vec::with_capacity(args.scientists * args.ops));
    let errors = Mutex::new(Vec::<String>::new());
    let fail = |e: String| errors.lock().unwrap().push(e);
    // Every scientist logs in first (hashing a password is meant to be slow), then all start
    // their ops at once: the ops, and only they, are timed. Each thread reaches both barriers
    // whatever fails, so none waits for good.
    let (logged_in, ops_done) = (
        Barrier::new(args.scientists + 1),
        Barrier::new(args.scientists + 1),
    );
    let mut ops_seconds = 0.0;
    // Each scientist's request and the sum its real result must be.
    let requests: Vec<(Client, Pointer, String, f64)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..args.scientists)
            .map(|s| {
                let (url, latencies, fail) = (&url, &latencies, &fail);
                let (logged_in, ops_done) = (&logged_in, &ops_done);
                scope.spawn(move || -> Option<(Client, Pointer, String, f64)> {
                    let session = (|| -> Result<_, Error> {
                        let me = veil::connect(url)?
                            .login(&format!("s{s}@example.org"), "load-test-pw")?;
                        let pointer = me.dataset("numbers")?.asset("n")?.pointer()?;
                        Ok((me, pointer))
                    })();
                    logged_in.wait();
                    let ops = session.and_then(|(me, pointer)| {
                        let mut last = None;
                        for i in 0..args.ops {
                            let k = (s * args.ops + i) as f64;
                            let t = Instant::now();
                            let p = (&pointer + k)?;
                            latencies.lock().unwrap().push(t.elapsed());
                            let mock = p.mock().as_f64().map(|a| a.sum());
                            if mock != Some(3.0 + 3.0 * k) {
                                fail(format!("scientist {s} op {i}: mock sum {mock:?}"));
                            }
                            last = Some((p, k));
                        }
                        Ok((me, last.expect("at least one op")))
                    });
                    ops_done.wait();
                    let result = ops.and_then(|(me, (p, k))| {
                        let total = p.sum()?;
                        let request = total.request("load test")?;
                        Ok((me, total, request.id.clone(), 6.0 + 3.0 * k))
                    });
                    result.map_err(|e| fail(format!("scientist {s}: {e}"))).ok()
                })
            })
            .collect();
        logged_in.wait();
        let started = Instant::now();
        ops_done.wait();
        ops_seconds = started.elapsed().as_secs_f64();
        handles
            .into_iter()
            .filter_map(|h| h.join().expect("a scientist's thread"))
            .collect()
    });
    for (_, _, id, _) in &requests {
        // Three numbers are under the minimum cell count: released on purpose.
        let approved = owner
            .request(id)
            .and_then(|r| r.approve_overriding("load test data"));
        if let Err(e) = approved {
            fail(format!("approving {id}: {e}"));
        }
    }
    for (_, total, id, expected) in &requests {
        match total.get() {
            Ok(real) if real.as_f64().map(|a| a.sum()) == Some(*expected) => {}
            Ok(real) => fail(format!(
                "request {id}: released {real:?}, expected {expected}"
            )),
            Err(e) => fail(format!("request {id}: {e}")),
        }
    }
    drop(requests);
    server.stop();
    site.land()?;

    let mut latencies = latencies.into_inner()?;
    latencies.sort();
    let quantile = |q: f64| -> f64 {
        latencies
            .get(((latencies.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(Duration::ZERO)
            .as_secs_f64()
            * 1e3
    };
    let errors = errors.into_inner()?;
    for e in errors.iter().take(10) {
        eprintln!("error: {e}");
    }
    println!(
        "{}",
        serde_json::json!({
            "scientists": args.scientists,
            "ops_each": args.ops,
            "pointer_ops": latencies.len(),
            "seconds": (ops_seconds * 1e3).round() / 1e3,
            "ops_per_sec": (latencies.len() as f64 / ops_seconds).round(),
            "p50_ms": (quantile(0.5) * 100.0).round() / 100.0,
            "p99_ms": (quantile(0.99) * 100.0).round() / 100.0,
            "max_ms": (quantile(1.0) * 100.0).round() / 100.0,
            "errors": errors.len(),
        })
    );
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("{} errors", errors.len()).into())
    }
}
