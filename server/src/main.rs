//! `veil`: Veil's command line. `veil serve` serves a datasite over HTTP (see the `veil-server`
//! crate docs).

use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use veil::LaunchOptions;

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
    /// How many calls the datasite works on at once (queries, replays, code runs); a call that finds
    /// none free for two seconds is answered "busy, retry after 2 s".
    #[arg(long, env = "VEIL_WORKERS", default_value_t = 8)]
    workers: usize,
    /// How long a login's session lasts, in seconds; then its client logs in again.
    #[arg(long, env = "VEIL_SESSION_SECS", default_value_t = veil::DEFAULT_SESSION_TTL.as_secs())]
    session_secs: u64,
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Serve(serve) => run(serve),
    }
}

fn run(serve: Serve) -> Result<()> {
    let mut options = LaunchOptions::new(&serve.name)
        .reset(serve.reset)
        .session_ttl(std::time::Duration::from_secs(serve.session_secs));
    if let Some(dir) = &serve.dir {
        options = options.dir(dir);
    }
    let site = options.launch().context("launching the datasite")?;
    if !serve.host.is_loopback() && site.default_password_in_use()? {
        bail!(
            "refusing to serve `{}` on {}: an owner still has the default password. Log in and change it (`client.change_password(old, new)`), or serve on 127.0.0.1",
            serve.name,
            serve.host
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind((serve.host, serve.port))
            .await
            .with_context(|| format!("binding {}:{}", serve.host, serve.port))?;
        let address = listener.local_addr()?;
        println!("veil serve: {} on http://{address}", site.name());
        std::io::stdout().flush()?;
        let app = veil_server::router(site.clone(), serve.workers);
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(stopped())
        .await
        .context("serving")
    })?;
    site.land().context("landing the datasite")?;
    eprintln!("veil serve: {} stopped", serve.name);
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
