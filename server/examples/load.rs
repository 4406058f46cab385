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
//! Sustained: `--seconds S` keeps every scientist making ops for S seconds (at least M each), and
//! `--sample-secs K` samples the process's resident memory every K seconds meanwhile, printing each
//! sample and whether memory stopped growing: the last third of the run's samples peak within 5%
//! (and 16 MiB) of the middle third's. `--cache-mib` is the datasite's value cache budget (`veil
//! serve --cache-mib`); `--expect-flat` makes growth an error.
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
    /// Keep making ops for this many seconds (0: exactly `--ops` each).
    #[arg(long, default_value_t = 0)]
    seconds: u64,
    /// Sample the resident memory every this many seconds (0: do not).
    #[arg(long, default_value_t = 0)]
    sample_secs: u64,
    /// The datasite's value cache budget, in MiB (`veil serve --cache-mib`).
    #[arg(long, default_value_t = (veil::DEFAULT_CACHE_BYTES >> 20) as u64)]
    cache_mib: u64,
    /// Fail when memory is still growing at the end of the run.
    #[arg(long)]
    expect_flat: bool,
}

/// Op latencies in 10 µs buckets up to 10 s (the last bucket takes the rest): a fixed-size record,
/// so the load test's own memory does not grow with the ops it times.
struct Latencies {
    buckets: Vec<u64>,
    count: u64,
}

impl Latencies {
    const BUCKET_US: u128 = 10;

    fn new() -> Latencies {
        Latencies {
            buckets: vec![0; 1_000_000],
            count: 0,
        }
    }

    fn record(&mut self, d: Duration) {
        let i = (d.as_micros() / Self::BUCKET_US).min(self.buckets.len() as u128 - 1) as usize;
        self.buckets[i] += 1;
        self.count += 1;
    }

    /// The `q` quantile, in milliseconds (a bucket's upper edge).
    fn quantile(&self, q: f64) -> f64 {
        let rank = ((self.count.saturating_sub(1)) as f64 * q).round() as u64;
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen > rank {
                return ((i + 1) as u128 * Self::BUCKET_US) as f64 / 1e3;
            }
        }
        0.0
    }
}

/// The resident memory of this process, in MiB.
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| (kib / 1024.0).round())
}

/// Whether `samples` stopped growing: the last third's peak within 5% and 16 MiB of the middle
/// third's (the first third is the warm-up: caches filling, pools starting).
fn flat(samples: &[f64]) -> Option<bool> {
    let third = samples.len() / 3;
    if third == 0 {
        return None;
    }
    let peak = |s: &[f64]| s.iter().copied().fold(0.0, f64::max);
    let (middle, last) = (
        peak(&samples[third..2 * third]),
        peak(&samples[2 * third..]),
    );
    Some(last <= middle * 1.05 || last <= middle + 16.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let site = LaunchOptions::new("load-test")
        .dir(dir.path())
        .reset(true)
        .cache_bytes((args.cache_mib as usize) << 20)
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

    let latencies = Mutex::new(Latencies::new());
    let until = Instant::now() + Duration::from_secs(args.seconds);
    let running = std::sync::atomic::AtomicBool::new(true);
    let samples = Mutex::new(Vec::<f64>::new());
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
                        let mut i = 0;
                        while i < args.ops || Instant::now() < until {
                            // Distinct offsets for each scientist's first `ops` ops; past them the
                            // values repeat, and each op is still a new object.
                            let k = (s * args.ops + i % args.ops) as f64;
                            i += 1;
                            let t = Instant::now();
                            let p = (&pointer + k)?;
                            latencies.lock().unwrap().record(t.elapsed());
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
        if args.sample_secs > 0 {
            let (running, samples) = (&running, &samples);
            scope.spawn(move || {
                while running.load(std::sync::atomic::Ordering::Relaxed) {
                    samples.lock().unwrap().push(rss_mib());
                    let next = Instant::now() + Duration::from_secs(args.sample_secs);
                    while running.load(std::sync::atomic::Ordering::Relaxed)
                        && Instant::now() < next
                    {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
            });
        }
        ops_done.wait();
        running.store(false, std::sync::atomic::Ordering::Relaxed);
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

    let latencies = latencies.into_inner()?;
    let quantile = |q: f64| latencies.quantile(q);
    let samples = samples.into_inner()?;
    let memory_flat = flat(&samples);
    let mut errors = errors.into_inner()?;
    if args.expect_flat && memory_flat != Some(true) {
        errors.push(format!("memory did not stop growing: {samples:?} MiB"));
    }
    for e in errors.iter().take(10) {
        eprintln!("error: {e}");
    }
    println!(
        "{}",
        serde_json::json!({
            "scientists": args.scientists,
            "ops_each": args.ops,
            "pointer_ops": latencies.count,
            "seconds": (ops_seconds * 1e3).round() / 1e3,
            "ops_per_sec": (latencies.count as f64 / ops_seconds).round(),
            "p50_ms": (quantile(0.5) * 100.0).round() / 100.0,
            "p99_ms": (quantile(0.99) * 100.0).round() / 100.0,
            "max_ms": (quantile(1.0) * 100.0).round() / 100.0,
            "errors": errors.len(),
            "cache_mib": args.cache_mib,
            "rss_mib_samples": samples,
            "memory_flat": memory_flat,
        })
    );
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("{} errors", errors.len()).into())
    }
}
