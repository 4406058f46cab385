//! The command line: run a kernel from a connection file, or install/uninstall the kernelspec.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use crate::install::{self, Location};

/// The Veil Jupyter kernel: Rust cells (evcxr) with the veil datasite behind them.
#[derive(Debug, Parser)]
#[command(name = "veil-kernel", version, about, long_about = None)]
pub struct Cli {
    /// Run as a kernel on this Jupyter connection file (what kernel.json's argv passes).
    #[arg(long, value_name = "FILE")]
    pub connection_file: Option<PathBuf>,

    /// Prepare a kernel ahead of time and wait for the next launched kernel to adopt it, then serve
    /// the one after too (what kernels and `install` start by themselves; see the README's
    /// "Kernel latency").
    #[arg(long, hide = true)]
    pub spare: bool,

    /// What to do instead of running a kernel.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write the kernelspec so Jupyter lists "Rust (Veil)", and warm what Rust cells compile against
    /// (leaving a warm spare, unless VEIL_KERNEL_SPARE=off, that the first kernel launched within 30
    /// minutes adopts) and the datasite's code runner (the dependencies code requests compile
    /// against, in `$VEIL_RUNNER_DIR` or the user cache).
    Install(LocationArgs),
    /// Remove the kernelspec.
    Uninstall(LocationArgs),
}

/// Where the kernelspec goes (default: --user).
#[derive(Debug, Args)]
#[group(multiple = false)]
pub struct LocationArgs {
    /// The user's Jupyter data directory (the default).
    #[arg(long)]
    pub user: bool,
    /// The active Python environment's prefix ($VIRTUAL_ENV, $CONDA_PREFIX or python3's sys.prefix).
    #[arg(long)]
    pub sys_prefix: bool,
    /// An explicit prefix: the spec goes to PREFIX/share/jupyter/kernels/veil.
    #[arg(long, value_name = "PREFIX")]
    pub prefix: Option<PathBuf>,
}

impl LocationArgs {
    fn location(&self) -> Location {
        match (&self.prefix, self.sys_prefix) {
            (Some(p), _) => Location::Prefix(p.clone()),
            (None, true) => Location::SysPrefix,
            (None, false) => Location::User,
        }
    }
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    crate::spare::record_start();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("veil-kernel: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match (cli.command, cli.connection_file) {
        (Some(Command::Install(args)), _) => {
            let exe = std::env::current_exe().context("finding this binary's path")?;
            let dir = install::install(&args.location(), &exe)?;
            println!(
                "installed kernelspec `{}` in {}",
                install::KERNEL_NAME,
                dir.display()
            );
            let options = crate::rust::Options::from_env();
            println!("{}", crate::rust::fetch(&options)?);
            let spinner = indicatif::ProgressBar::new_spinner().with_message(
                "warming the Rust cells: evcxr compiles the cells' facade (about 20 s the first time)",
            );
            spinner.enable_steady_tick(std::time::Duration::from_millis(120));
            if spinner.is_hidden() {
                println!("{}", spinner.message());
            }
            // The first spare compiles the facade as it starts, and stays for the first kernel.
            let warmed = match crate::spare::warm(&options) {
                Ok(Some(warmed)) => Ok(warmed),
                _ => crate::rust::warm(&options),
            };
            spinner.finish_and_clear();
            println!("{}", warmed?);
            let runner = veil::runner::Runner::new(veil::runner::default_dir());
            println!(
                "building the code runner's dependency set (polars, ndarray, serde) as one shared library in {} (minutes the first time)",
                runner.dir().display()
            );
            let started = std::time::Instant::now();
            let bar = indicatif::ProgressBar::new(0).with_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} [{elapsed}] {bar:30} {pos}/{len} crates, last: {msg}",
                )
                .expect("a valid template"),
            );
            let mut shown = 0;
            let warmed = runner.warm_with(&mut |p| {
                bar.set_length(p.total as u64);
                bar.set_position(p.done as u64);
                bar.set_message(p.name.clone());
                // Without a terminal (a log), a line at each tenth.
                let tenth = p.done * 10 / p.total.max(1);
                if bar.is_hidden() && tenth > shown {
                    shown = tenth;
                    println!(
                        "code runner: {}/{} crates built ({})",
                        p.done, p.total, p.name
                    );
                }
            });
            bar.finish_and_clear();
            warmed.with_context(|| {
                format!("warming the code runner in {}", runner.dir().display())
            })?;
            println!(
                "code runner ready in {} ({:.1} s)",
                runner.dir().display(),
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        (Some(Command::Uninstall(args)), _) => {
            match install::uninstall(&args.location())? {
                Some(dir) => println!("removed {}", dir.display()),
                None => println!(
                    "no `{}` kernelspec at {}",
                    install::KERNEL_NAME,
                    args.location().kernels_dir()?.display()
                ),
            }
            Ok(())
        }
        (None, Some(_)) if cli.spare => {
            anyhow::bail!("--spare takes no connection file: it waits for a kernel to adopt it")
        }
        (None, None) if cli.spare => crate::spare::run(&crate::rust::Options::from_env()),
        (None, Some(file)) => {
            let info = crate::connection::read_connection_file(&file)?;
            let options = crate::rust::Options::from_env();
            if crate::spare::adopt(&options.cache_dir, &info)? {
                return Ok(());
            }
            let (runtime, mut prepared) = crate::connection::prepare(&options, || {})?;
            let stop = async {
                let _ = tokio::signal::ctrl_c().await;
            };
            // Once this kernel is quiet, or else as it stops, the next kernel's context starts
            // warming.
            let mut next = crate::spare::next(&options.cache_dir);
            let served = runtime.block_on(prepared.serve(info, stop, &mut next));
            prepared.start_next_spare(next);
            served
        }
        (None, None) => {
            anyhow::bail!(
                "nothing to do: pass --connection-file FILE to run as a kernel, or `install`; see --help"
            )
        }
    }
}
