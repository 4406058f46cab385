//! `veil`: Veil's command line. `veil serve` serves a datasite over HTTP (see the `veil-server`
//! crate docs).

use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use veil::LaunchOptions;
use veil_server::Limits;

#[derive(Parser)]
#[command(
    name = "veil",
    version,
    about = "Veil's command line: serve a datasite over HTTP."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serves a datasite over HTTP: the datasite `Datasite::launch` opens, for scientists'
    /// `veil::connect(url)?.login(email, password)`. Stops on SIGTERM or Ctrl-C after the calls in
    /// flight, and lands the datasite.
    Serve(Serve),
}

#[derive(clap::Args)]
struct Serve {
    /// The datasite's name; it lives in $VEIL_HOME/NAME unless --dir says where.
    #[arg(long, env = "VEIL_SITE")]
    name: String,
    /// The directory the datasite keeps its files in.
    #[arg(long, env = "VEIL_DIR")]
    dir: Option<PathBuf>,
    /// The address to listen on. Anything beyond loopback is refused while an owner still has the
    /// default password.
    #[arg(long, env = "VEIL_HOST", default_value = "127.0.0.1")]
    host: IpAddr,
    /// The port; 0 takes a free one. The address served is printed on the first line of output.
    #[arg(long, env = "VEIL_PORT", default_value_t = 8083)]
    port: u16,
    /// Start empty, erasing what the datasite held.
    #[arg(long, env = "VEIL_RESET")]
    reset: bool,
    /// How many calls the datasite works on at once (queries, replays, code runs), one user at most
    /// half of them; a call that finds none free for two seconds is answered "busy, retry after 2 s".
    #[arg(long, env = "VEIL_WORKERS", default_value_t = Limits::default().workers)]
    workers: usize,
    /// How many connections may be open at once; past it, new ones are closed as they arrive.
    #[arg(long, env = "VEIL_CONNECTIONS", default_value_t = Limits::default().connections)]
    connections: usize,
    /// How many of them one address (an IPv4 address, an IPv6 /64) may hold.
    #[arg(long, env = "VEIL_CONNECTIONS_PER_ADDRESS", default_value_t = Limits::default().connections_per_address)]
    connections_per_address: usize,
    /// How many MiB of request bodies the server takes in at once, across all calls (their JSON in
    /// memory, an upload's frames and arrays on disk beside the datasite); a call that would go over
    /// it is answered "busy, retry after 2 s" (one larger than all of it, "too large").
    #[arg(long, env = "VEIL_BODY_BUDGET_MIB", default_value_t = Limits::default().body_budget >> 20)]
    body_budget_mib: usize,
    /// How long, in seconds, a client may stay silent (a TLS handshake, a request's headers, a
    /// pause in a body, a kept-alive connection between requests) or leave its replies unread before
    /// its connection is closed. A body must also arrive at 64 KiB/s on average.
    #[arg(long, env = "VEIL_IDLE_SECS", default_value_t = Limits::default().idle.as_secs())]
    idle_secs: u64,
    /// How long, in seconds, calls in flight may finish after SIGTERM before their connections are
    /// cut.
    #[arg(long, env = "VEIL_DRAIN_SECS", default_value_t = Limits::default().drain.as_secs())]
    drain_secs: u64,
    /// Serve HTTPS with this certificate chain (a PEM file; with --tls-key). Clients trust it
    /// through the public roots, or through the authority their VEIL_TLS_CA names.
    #[arg(long, env = "VEIL_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (a PEM file).
    #[arg(long, env = "VEIL_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// How long a login's session lasts, in seconds; then its client logs in again.
    #[arg(long, env = "VEIL_SESSION_SECS", default_value_t = veil::DEFAULT_SESSION_TTL.as_secs())]
    session_secs: u64,
    /// Least time, in milliseconds, an answer that depends on real computation takes (a released
    /// result, a code run, a differential-privacy release): a stall, so timing says little.
    #[arg(long, env = "VEIL_REAL_ANSWER_FLOOR_MS", default_value_t = veil::DEFAULT_REAL_ANSWER_FLOOR.as_millis() as u64)]
    real_answer_floor_ms: u64,
    /// Most memory, in MiB, the datasite keeps computed values in (the mock and real values of
    /// pointers, each charged what it costs in memory, least recently used dropped first); a
    /// dropped value is replayed from its recorded steps when it is next needed.
    #[arg(long, env = "VEIL_CACHE_MIB", default_value_t = (veil::DEFAULT_CACHE_BYTES >> 20) as u64)]
    cache_mib: u64,
    /// Real-side replays over a frame asset of at least this many MiB (8 bytes a value, the size
    /// listings show) run as one streaming DataFusion plan over its stored Parquet file, read in place, when the plan path runs every
    /// step of the lineage (others load the asset and replay in memory); 0 plans every lineage it
    /// can.
    #[arg(long, env = "VEIL_PLAN_FROM_MIB", default_value_t = veil::DEFAULT_PLAN_FROM_BYTES >> 20)]
    plan_from_mib: u64,
    /// The directory under which owners may register assets whose real data stays where it is
    /// (`Asset::files(..)`: Parquet files, named relative to it, hashed once and read in place).
    /// Owners never reach outside it; without it, such assets are refused.
    #[arg(long, env = "VEIL_DATA_ROOT")]
    data_root: Option<PathBuf>,
    /// Where real-side plans run: `local` (this process), or an Apache DataFusion Ballista
    /// cluster's scheduler, `df://HOST:PORT`. The cluster only computes: DP noise, disclosure
    /// checks, the audit log and permissions stay here. Its executors read the assets' Parquet
    /// files at the paths this server names, so they must see the same files.
    #[arg(long, env = "VEIL_ENGINE", default_value = "local")]
    engine: String,
    /// Where the datasite's blobs (assets' data and mocks, released results) are kept: in its
    /// directory (the default), or in an S3-compatible bucket, `s3://BUCKET/PREFIX`, its
    /// credentials and endpoint from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION and
    /// AWS_ENDPOINT_URL (AWS_ALLOW_HTTP=true for a plain-http one). Each blob is read back and
    /// checked before it is recorded. A datasite keeps its blobs where it first kept them, and a
    /// prefix holds one datasite's.
    #[arg(long, env = "VEIL_BLOB_STORE")]
    blob_store: Option<String>,
    /// MiB of the disk kept in reserve (a file, `reserve`, in the datasite directory) for when it
    /// fills: then the reserve is given back, so logins, listings, mock reads and deletes go on
    /// while uploads and new results are refused (507) until space returns. 0 keeps none.
    #[arg(long, env = "VEIL_DISK_RESERVE_MIB", default_value_t = 64)]
    disk_reserve_mib: u64,
    /// How the log on stderr is written: `human` lines, or `json`, one object per line (for a log
    /// collector). One event per request and per call, naming the user and the call, never a token
    /// or a password.
    #[arg(long, env = "VEIL_LOG_FORMAT", value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
    /// The least severe events logged: error, warn, info, debug or trace.
    #[arg(long, env = "VEIL_LOG_LEVEL", default_value = "info")]
    log_level: tracing::Level,
    /// A file holding the token that reads `GET /metrics` (Prometheus' text format) from anywhere,
    /// sent as `Authorization: Bearer TOKEN`; at least 16 characters. Without it, only clients on
    /// loopback may read the metrics.
    #[arg(long, env = "VEIL_METRICS_TOKEN_FILE")]
    metrics_token_file: Option<PathBuf>,
    /// A file holding the admin's first password (its first line), for a server nobody logs in to
    /// before it starts (a container, a Kubernetes Secret): while the default admin still has the
    /// default password, it is changed to this one at start. Once changed, the file is not read
    /// again for it: change it with `client.change_password(old, new)`.
    #[arg(long, env = "VEIL_ADMIN_PASSWORD_FILE")]
    admin_password_file: Option<PathBuf>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Serve(serve) => run(serve),
    }
}

/// The SHA-256 of the metrics token in `path` (its first line, trimmed).
fn metrics_token(path: &std::path::Path) -> Result<[u8; 32]> {
    use sha2::{Digest, Sha256};
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the metrics token from {}", path.display()))?;
    let token = text.lines().next().unwrap_or("").trim();
    anyhow::ensure!(
        token.chars().count() >= 16,
        "the metrics token in {} is shorter than 16 characters: write a long random one (e.g. `openssl rand -hex 24 > {}`)",
        path.display(),
        path.display()
    );
    Ok(Sha256::digest(token.as_bytes()).into())
}

fn run(serve: Serve) -> Result<()> {
    let log = tracing_subscriber::fmt()
        .with_max_level(serve.log_level)
        .with_writer(std::io::stderr);
    match serve.log_format {
        LogFormat::Human => log.init(),
        LogFormat::Json => log.json().init(),
    }
    // Read before the datasite is opened, so a bad certificate with --reset erases nothing.
    let tls = match (&serve.tls_cert, &serve.tls_key) {
        (Some(cert), Some(key)) => {
            Some(veil_server::tls_config(cert, key).map_err(anyhow::Error::msg)?)
        }
        _ => None,
    };
    if tls.is_none() && !serve.host.is_loopback() {
        tracing::warn!(
            host = %serve.host,
            "serving beyond loopback without TLS: passwords and data cross the network in clear; give --tls-cert and --tls-key"
        );
    }
    let metrics_token = match &serve.metrics_token_file {
        Some(path) => Some(metrics_token(path)?),
        None => None,
    };
    let limits = Limits {
        metrics_token,
        workers: serve.workers,
        connections: serve.connections,
        connections_per_address: serve.connections_per_address,
        body_budget: serve.body_budget_mib.saturating_mul(1 << 20),
        idle: std::time::Duration::from_secs(serve.idle_secs.max(1)),
        drain: std::time::Duration::from_secs(serve.drain_secs),
    };
    let mut options = LaunchOptions::new(&serve.name)
        .reset(serve.reset)
        .session_ttl(std::time::Duration::from_secs(serve.session_secs))
        .real_answer_floor(std::time::Duration::from_millis(serve.real_answer_floor_ms))
        .cache_bytes((serve.cache_mib as usize).saturating_mul(1 << 20))
        .plan_from_bytes(serve.plan_from_mib.saturating_mul(1 << 20))
        .disk_reserve(serve.disk_reserve_mib.saturating_mul(1 << 20));
    if let Some(dir) = &serve.dir {
        options = options.dir(dir);
    }
    if let Some(root) = &serve.data_root {
        options = options.data_root(root);
    }
    if let Some(url) = &serve.blob_store {
        options = options.blob_store(url);
    }
    if serve.engine != "local" {
        options = options.engine(&serve.engine);
    }
    let site = options.launch().context("launching the datasite")?;
    if let Some(path) = &serve.admin_password_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the admin's password from {}", path.display()))?;
        let password = text.lines().next().unwrap_or("");
        if veil_server::seed_admin_password(&site, password)
            .with_context(|| format!("setting the admin's password from {}", path.display()))?
        {
            tracing::info!(file = %path.display(), "the admin's default password was replaced by the one in the file");
        }
    }
    veil_server::check_exposure(&site, serve.host)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind((serve.host, serve.port))
            .await
            .with_context(|| format!("binding {}:{}", serve.host, serve.port))?;
        let address = listener.local_addr()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        println!("veil serve: {} on {scheme}://{address}", site.name());
        std::io::stdout().flush()?;
        tracing::info!(site = site.name(), %address, dir = %site.dir().display(), "serving");
        veil_server::serve(listener, site.clone(), limits, tls, stopped())
            .await
            .context("serving")
    })?;
    // Work still running past the drain (a code run) is not waited for: landing ends it.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    site.land().context("landing the datasite")?;
    tracing::info!(site = serve.name, "stopped");
    Ok(())
}

/// SIGTERM or Ctrl-C.
async fn stopped() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
