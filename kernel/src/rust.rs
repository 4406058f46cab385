//! Rust cells through evcxr.
//!
//! evcxr's `CommandContext` is driven from one dedicated thread: it blocks while rustc runs, and its
//! compiled cells run in a child process. The async shell sends jobs to that thread and awaits replies,
//! so the control channel (interrupt, kernel_info) stays responsive while a cell compiles or runs.
//!
//! Cells link the thin cell-side facade (`facade/`, in scope as `veil`), not the datasite itself:
//! evcxr compiles dependencies itself, and polars would take half an hour there (see DESIGN.md).
//! The facade's sources are embedded in this binary and written next to evcxr's work directory, which
//! is kept between sessions (`EVCXR_TMPDIR`), so the facade is compiled once, by `veil-kernel install`,
//! and later sessions only compile their own cells.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use evcxr::{CommandContext, EvalContextOutputs};
use jupyter_protocol::{
    ClearOutput, DisplayData, JupyterMessage, Media, MediaType, Stdio, StreamContent,
};
use tokio::sync::oneshot;

use crate::bridge::Failures;
use crate::iopub::Iopub;
use crate::message::KernelError;

/// The facade crate's files and those of the crates it uses (the call vocabulary and the macros),
/// embedded so an installed binary needs no source checkout. Paths mirror the repository's layout, so
/// the facade's `../api` and `../macros` dependencies resolve in both places.
pub const FACADE_FILES: &[(&str, &str)] = &[
    ("facade/Cargo.toml", include_str!("../../facade/Cargo.toml")),
    ("facade/src/lib.rs", include_str!("../../facade/src/lib.rs")),
    (
        "facade/src/bridge.rs",
        include_str!("../../facade/src/bridge.rs"),
    ),
    (
        "facade/src/calls.rs",
        include_str!("../../facade/src/calls.rs"),
    ),
    (
        "facade/src/code.rs",
        include_str!("../../facade/src/code.rs"),
    ),
    (
        "facade/src/data.rs",
        include_str!("../../facade/src/data.rs"),
    ),
    ("facade/src/dp.rs", include_str!("../../facade/src/dp.rs")),
    (
        "facade/src/pointer.rs",
        include_str!("../../facade/src/pointer.rs"),
    ),
    (
        "facade/src/site.rs",
        include_str!("../../facade/src/site.rs"),
    ),
    ("api/Cargo.toml", include_str!("../../api/Cargo.toml")),
    ("api/src/lib.rs", include_str!("../../api/src/lib.rs")),
    ("api/src/access.rs", include_str!("../../api/src/access.rs")),
    ("api/src/call.rs", include_str!("../../api/src/call.rs")),
    ("api/src/calls.rs", include_str!("../../api/src/calls.rs")),
    ("api/src/code.rs", include_str!("../../api/src/code.rs")),
    (
        "api/src/disclosure.rs",
        include_str!("../../api/src/disclosure.rs"),
    ),
    ("api/src/dp.rs", include_str!("../../api/src/dp.rs")),
    ("api/src/kernel.rs", include_str!("../../api/src/kernel.rs")),
    (
        "api/src/methods.rs",
        include_str!("../../api/src/methods.rs"),
    ),
    ("api/src/mock.rs", include_str!("../../api/src/mock.rs")),
    ("api/src/ops.rs", include_str!("../../api/src/ops.rs")),
    (
        "api/src/receipt.rs",
        include_str!("../../api/src/receipt.rs"),
    ),
    ("api/src/spec.rs", include_str!("../../api/src/spec.rs")),
    ("api/src/view.rs", include_str!("../../api/src/view.rs")),
    ("api/src/wire.rs", include_str!("../../api/src/wire.rs")),
    ("macros/Cargo.toml", include_str!("../../macros/Cargo.toml")),
    ("macros/src/lib.rs", include_str!("../../macros/src/lib.rs")),
];

/// Marker lines the facade prints on stdout; the kernel turns them into Jupyter messages. They start
/// with ASCII record separator so ordinary output never matches.
pub const DISPLAY_MARKER: &str = "\u{1e}VEIL_DISPLAY ";
/// See [`DISPLAY_MARKER`].
pub const CLEAR_MARKER: &str = "\u{1e}VEIL_CLEAR_OUTPUT";
/// See [`DISPLAY_MARKER`]; printed by the facade's panic hook.
pub const PANIC_MARKER: &str = "\u{1e}VEIL_PANIC ";
/// On stderr, the facade's: an error the cell may return (`{"name": .., "message": ..}`), printed
/// when the facade makes it. If the cell returns it with `?`, evcxr prints its message next, and
/// that line becomes the cell's error (see [`Failures`]).
pub const FAILURE_MARKER: &str = "\u{1e}VEIL_FAILURE ";

/// Run when a session starts. evcxr wraps cells for `?` only after a cell fails to compile without it,
/// and that failure also makes it give up on the cell's rich display; one `?` up front sets the
/// wrapping for the session, so a first `site()?` renders richly (and compiles once, not twice).
const QUESTION_MARK: &str = "Ok::<(), veil::Error>(())?;";

/// How evcxr is set up.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where evcxr's work directories and the facade live.
    pub cache_dir: PathBuf,
}

impl Options {
    /// `$VEIL_KERNEL_CACHE`, else the user cache directory + `veil/kernel`.
    pub fn from_env() -> Options {
        let cache_dir = std::env::var_os("VEIL_KERNEL_CACHE")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                std::env::var_os("XDG_CACHE_HOME")
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
                    .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
                    .unwrap_or_else(std::env::temp_dir)
                    .join("veil/kernel")
            });
        Options { cache_dir }
    }
}

/// A completion reply's matches, the span they replace (code points) and their metadata (each
/// method's signature, as JupyterLab's completer reads it).
#[derive(Debug, Default)]
pub struct Completions {
    /// The names offered.
    pub matches: Vec<String>,
    /// Where the replaced text starts.
    pub start: usize,
    /// Where it ends.
    pub end: usize,
    /// `_jupyter_types_experimental`, when the receiver's type is known.
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

impl Completions {
    fn none(cursor: usize) -> Completions {
        Completions {
            start: cursor,
            end: cursor,
            ..Completions::default()
        }
    }
}

enum Job {
    Execute {
        code: String,
        parent: Box<JupyterMessage>,
        reply: oneshot::Sender<Result<Option<Media>, KernelError>>,
    },
    Complete {
        code: String,
        cursor: usize,
        reply: oneshot::Sender<Completions>,
    },
    /// The facade type of the receiver of the method whose name ends the code (see
    /// [`crate::complete::receiver`]).
    Receiver {
        code: String,
        reply: oneshot::Sender<Option<String>>,
    },
    /// A cell of the kernel's own, run before the user's, whose output nobody sees.
    Prelude { code: String },
    /// Makes the context what a fresh one is (see [`RustCells::recycle`]).
    Recycle {
        reply: oneshot::Sender<Result<(), String>>,
    },
}

/// What the output-forwarding threads need to know about the running cell.
#[derive(Default)]
struct Running {
    parent: Option<JupyterMessage>,
    panic: Option<String>,
    /// An error the cell returned with `?`, recognised on stderr (see [`Failures`]).
    error: Option<KernelError>,
    /// The lines of that error's message still to come on stderr, which evcxr prints and the
    /// cell's error already shows.
    echo: std::collections::VecDeque<String>,
}

/// Handle on the evcxr thread. Cloning shares it.
#[derive(Clone)]
pub struct RustCells {
    jobs: std_mpsc::Sender<Job>,
    child: Arc<Mutex<Option<Arc<Mutex<std::process::Child>>>>>,
    interrupted: Arc<std::sync::atomic::AtomicBool>,
    /// True while evcxr is executing a cell.
    busy: Arc<std::sync::atomic::AtomicBool>,
    /// Woken by an interrupt, so a magic waiting on the front end (a password prompt) gives up too.
    prompt: Arc<tokio::sync::Notify>,
}

impl RustCells {
    /// Starts evcxr on its own thread; jobs sent before it is ready wait in the queue. `on_ready`
    /// runs once the context is ready for cells (a kernel then starts a warm spare: `crate::spare`).
    pub fn start(
        workdir: Workdir,
        iopub: Iopub,
        failures: Failures,
        on_ready: Box<dyn FnOnce() + Send>,
    ) -> RustCells {
        let (jobs, rx) = std_mpsc::channel();
        let cells = RustCells {
            jobs,
            child: Arc::default(),
            interrupted: Arc::default(),
            prompt: Arc::default(),
            busy: Arc::default(),
        };
        let handle = cells.clone();
        std::thread::Builder::new()
            .name("evcxr".into())
            .spawn(move || worker(workdir, iopub, failures, rx, handle, on_ready))
            .expect("spawning the evcxr thread");
        cells
    }

    /// Runs a cell; streams its output to `iopub` and returns its value's bundle, if any.
    pub async fn execute(
        &self,
        code: &str,
        parent: &JupyterMessage,
    ) -> Result<Option<Media>, KernelError> {
        let (reply, rx) = oneshot::channel();
        self.interrupted
            .store(false, std::sync::atomic::Ordering::SeqCst);
        let job = Job::Execute {
            code: code.to_string(),
            parent: Box::new(parent.clone()),
            reply,
        };
        if self.jobs.send(job).is_err() {
            return Err(KernelError::new(
                "KernelError",
                "the Rust evaluator has stopped; restart the kernel",
            ));
        }
        rx.await.unwrap_or_else(|_| {
            Err(KernelError::new(
                "KernelError",
                "the Rust evaluator stopped mid-cell; restart the kernel",
            ))
        })
    }

    /// Completions at `cursor` (code points).
    pub async fn complete(&self, code: &str, cursor: usize) -> Completions {
        let (reply, rx) = oneshot::channel();
        let none = Completions::none(cursor);
        if self
            .jobs
            .send(Job::Complete {
                code: code.to_string(),
                cursor,
                reply,
            })
            .is_err()
        {
            return none;
        }
        rx.await.unwrap_or(none)
    }

    /// The facade type of the receiver of the method whose name ends `code`, if evcxr's variables
    /// and the facade's signatures say.
    pub async fn receiver(&self, code: &str) -> Option<String> {
        let (reply, rx) = oneshot::channel();
        self.jobs
            .send(Job::Receiver {
                code: code.to_string(),
                reply,
            })
            .ok()?;
        rx.await.ok().flatten()
    }

    /// Whether evcxr's context is ready for cells (its process has started).
    pub fn ready(&self) -> bool {
        self.child
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// The pid of evcxr's process, which runs the cells, once it has started.
    pub fn child_pid(&self) -> Option<u32> {
        let child = self
            .child
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()?;
        let id = child.lock().unwrap_or_else(|p| p.into_inner()).id();
        Some(id)
    }

    /// Queues `code` to run before any cell sent later, its output unseen (a warm spare's adoption
    /// sets the kernel's environment and directory in evcxr's process this way).
    pub fn prelude(&self, code: String) {
        let _ = self.jobs.send(Job::Prelude { code });
    }

    /// Stops the running cell by killing evcxr's child process (evcxr restarts it; variables are lost
    /// and the cell's error says which).
    pub fn interrupt(&self) {
        self.prompt.notify_waiters();
        // Only while a cell runs: killing an idle child would fail the next cell for nothing.
        if !self.busy.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        self.interrupted
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let child = self.child.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(child) = child {
            let _ = child.lock().unwrap_or_else(|p| p.into_inner()).kill();
        }
    }

    /// What an interrupt wakes: magics waiting on the front end select on it.
    pub fn interrupts(&self) -> Arc<tokio::sync::Notify> {
        self.prompt.clone()
    }

    /// Stops a running cell before the process exits.
    pub fn shutdown(&self) {
        self.interrupt();
    }

    /// Makes the context what a fresh one is, for the next kernel (a warm spare that served one
    /// serves the next: `crate::spare`): evcxr's `:clear` (every variable, item and dependency gone,
    /// its process restarted; its compiled crates and rust-analyzer's loaded standard library kept,
    /// which is what takes a fresh context ten seconds), its settings back to how it started, and
    /// the facade loaded again. Refused when a cell changed what this cannot undo (see
    /// `lasting_command`) or the context never started.
    pub async fn recycle(&self) -> Result<()> {
        let (reply, rx) = oneshot::channel();
        self.jobs
            .send(Job::Recycle { reply })
            .map_err(|_| anyhow::anyhow!("the Rust evaluator has stopped"))?;
        rx.await
            .map_err(|_| anyhow::anyhow!("the Rust evaluator stopped"))?
            .map_err(anyhow::Error::msg)
    }
}

/// The first of `cell`'s evcxr commands (lines starting `:`, as evcxr reads them) whose effect would
/// outlive [`RustCells::recycle`]: `:env` sets a variable in this process, `:timing` a flag evcxr
/// keeps outside its settings, `:load_config` runs the user's evcxr start-up file (which may hold
/// either), and a name evcxr 0.22 does not have is not known to be harmless.
/// Every other command changes the session's state or settings, which recycling resets.
fn lasting_command(cell: &str) -> Option<&str> {
    const UNDONE_BY_RECYCLING: &[&str] = &[
        ":allow_static_linking",
        ":build_env",
        ":cache",
        ":clear",
        ":clear_cache",
        ":codegen_backend",
        ":dep",
        ":doc",
        ":efmt",
        ":explain",
        ":fmt",
        ":help",
        ":internal_debug",
        ":last_compile_dir",
        ":last_error_json",
        ":linker",
        ":offline",
        ":opt",
        ":preserve_vars_on_panic",
        ":quit",
        ":restart",
        ":sccache",
        ":show_deps",
        ":t",
        ":time_passes",
        ":toolchain",
        ":type",
        ":types",
        ":vars",
        ":version",
    ];
    cell.lines()
        .map(|line| line.trim_start_matches(' '))
        .filter(|line| line.starts_with(':'))
        .map(|line| line.split(' ').next().unwrap_or(line))
        .find(|command| !UNDONE_BY_RECYCLING.contains(command))
}

/// Writes the facade's sources under `dir` (only files whose contents changed, so cargo's fingerprints
/// stay valid) and returns the crate directory.
fn write_facade(dir: &Path) -> Result<PathBuf> {
    let root = dir.join(format!("veil-{}", env!("CARGO_PKG_VERSION")));
    for (name, contents) in FACADE_FILES {
        let path = root.join(name);
        if std::fs::read_to_string(&path).ok().as_deref() == Some(contents) {
            continue;
        }
        std::fs::create_dir_all(path.parent().expect("facade files are in a directory"))?;
        std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(root.join("facade"))
}

/// Takes the first free evcxr work slot under `dir`, locking it for this process's lifetime: sessions
/// one after another reuse slot 0 and its compiled facade; concurrent sessions get their own slots.
fn lock_slot(dir: &Path) -> Result<(PathBuf, File)> {
    for n in 0..64 {
        let slot = dir.join(format!("evcxr-{n}"));
        std::fs::create_dir_all(&slot).with_context(|| format!("creating {}", slot.display()))?;
        let lock = File::create(slot.join(".lock"))?;
        if lock.try_lock().is_ok() {
            return Ok((slot, lock));
        }
    }
    anyhow::bail!("all 64 evcxr work slots under {} are in use", dir.display())
}

/// `LD_LIBRARY_PATH` with the toolchain's `libstd-*.so` directory first, for evcxr's child.
///
/// Cells are linked against the dynamic std with a *relative* rpath that rustc computes from the
/// `deps/` directory, while evcxr loads the copy one directory up; under `/tmp` the extra `..` stops at
/// `/` and happens to work, anywhere deeper (the default `~/.cache`) `dlopen` fails. The search path
/// makes it hold wherever the cache is.
fn std_library_path() -> Option<std::ffi::OsString> {
    let out = std::process::Command::new("rustc")
        .args(["--print", "target-libdir"])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let dir = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    let mut paths = vec![dir];
    if let Some(existing) = std::env::var_os("LD_LIBRARY_PATH") {
        paths.extend(std::env::split_paths(&existing));
    }
    std::env::join_paths(paths).ok()
}

/// evcxr's work directory for this process, with the facade written beside it.
pub struct Workdir {
    facade: PathBuf,
    /// evcxr's work directory: its crate's `src/lib.rs` holds the last cell as compiled.
    slot: PathBuf,
    /// Held for the process's lifetime: the slot is ours while the lock is.
    _lock: File,
}

impl Workdir {
    /// Writes the facade, takes a work slot and points evcxr at it.
    ///
    /// Call while the process is still single-threaded (before the async runtime starts): evcxr reads
    /// its work directory from the `EVCXR_TMPDIR` environment variable, and setting a variable is only
    /// sound when no other thread can be reading the environment.
    pub fn acquire(options: &Options) -> Result<Workdir> {
        let facade = write_facade(&options.cache_dir)?;
        let (slot, lock) = lock_slot(&options.cache_dir)?;
        let library_path = std_library_path();
        #[allow(unsafe_code)]
        // SAFETY: the caller guarantees no other thread exists yet (see above).
        unsafe {
            std::env::set_var("EVCXR_TMPDIR", &slot);
            if let Some(path) = library_path {
                std::env::set_var("LD_LIBRARY_PATH", path);
            }
            // Cells build offline, from the crates `install` fetched: a datasite's machine often
            // has no route to the registry, and cargo would try it for every cell's build. Whoever
            // sets CARGO_NET_OFFLINE keeps their choice.
            if std::env::var_os(OFFLINE_ENV).is_none() {
                std::env::set_var(OFFLINE_ENV, "true");
            }
        };
        Ok(Workdir {
            facade,
            slot,
            _lock: lock,
        })
    }

    /// The evcxr context with the facade loaded and `use veil::prelude::*;` in scope.
    fn start(&self) -> Result<(CommandContext, EvalContextOutputs)> {
        let (mut ctx, outputs) =
            CommandContext::new().map_err(|e| anyhow::anyhow!("starting evcxr: {e}"))?;
        self.load_facade(&mut ctx)?;
        Ok((ctx, outputs))
    }

    /// Sets a fresh or cleared context up: cells compiled fast rather than optimised (the data work
    /// happens in the kernel process), the facade loaded, its prelude in scope.
    fn load_facade(&self, ctx: &mut CommandContext) -> Result<()> {
        ctx.set_opt_level("0").map_err(|e| anyhow::anyhow!("{e}"))?;
        let init = format!(
            ":dep veil = {{ package = \"veil-facade\", path = \"{}\" }}\nuse veil::prelude::*;\nveil::kernel_init();\n{QUESTION_MARK}",
            self.facade.display()
        );
        ctx.execute(&init)
            .map_err(|e| anyhow::anyhow!("loading the veil facade: {e}"))?;
        Ok(())
    }

    /// [`RustCells::recycle`] on the worker's thread.
    fn recycle(&self, ctx: &mut CommandContext) -> Result<()> {
        ctx.execute(":clear")
            .map_err(|e| anyhow::anyhow!("clearing evcxr: {e}"))?;
        ctx.reset_config();
        self.load_facade(ctx)
    }
}

/// Cargo's switch for building without the network, which kernels set for cells.
pub const OFFLINE_ENV: &str = "CARGO_NET_OFFLINE";

/// `veil-kernel install`'s first step: every crate the cells' facade builds from, in cargo's
/// cache, so kernels build cells offline. Nothing is downloaded when the cache has them all.
pub fn fetch(options: &Options) -> Result<String> {
    let facade = write_facade(&options.cache_dir)?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let run = |args: &[&str], offline: bool| {
        std::process::Command::new(&cargo)
            .args(args)
            .arg("--manifest-path")
            .arg(facade.join("Cargo.toml"))
            .env(OFFLINE_ENV, if offline { "true" } else { "false" })
            .output()
            .with_context(|| format!("running cargo {}", args.join(" ")))
    };
    if run(&["fetch"], true)?.status.success() {
        return Ok("the cells' crates are in cargo's cache: kernels build cells offline".into());
    }
    let online = run(&["fetch"], false)?;
    anyhow::ensure!(
        online.status.success(),
        "fetching the crates Rust cells build from: {}\nconnect this machine to the crate registry (or a mirror) for the install, or copy a cargo cache that has them",
        String::from_utf8_lossy(&online.stderr).trim()
    );
    Ok("fetched the cells' crates into cargo's cache: kernels build cells offline".into())
}

/// `veil-kernel install`'s warm-up: compile the facade into slot 0 so a fresh session's first cell
/// only compiles itself.
pub fn warm(options: &Options) -> Result<String> {
    let started = std::time::Instant::now();
    let (mut ctx, _outputs) = Workdir::acquire(options)?.start()?;
    ctx.execute("let veil_warm_up = 1;")
        .map_err(|e| anyhow::anyhow!("warming evcxr: {e}"))?;
    Ok(format!(
        "warmed the Rust cell toolchain in {:.1} s (cache: {})",
        started.elapsed().as_secs_f64(),
        options.cache_dir.display()
    ))
}

fn worker(
    workdir: Workdir,
    iopub: Iopub,
    failures: Failures,
    jobs: std_mpsc::Receiver<Job>,
    handle: RustCells,
    on_ready: Box<dyn FnOnce() + Send>,
) {
    let running = Arc::new(Mutex::new(Running::default()));
    let (mut ctx, outputs) = match workdir.start() {
        Ok(parts) => parts,
        Err(e) => {
            let mut message = format!("{e:#}");
            if let Some(hint) = offline_hint(&message) {
                message = format!("{message}\n{hint}");
            }
            eprintln!("veil-kernel: {message}");
            // Never ready: whoever waits for it (a warm spare) hears so now, not never.
            drop(on_ready);
            for job in jobs {
                match job {
                    Job::Execute { reply, .. } => {
                        let _ = reply.send(Err(KernelError::new(
                            "EvcxrUnavailable",
                            format!("Rust cells are unavailable: {message}"),
                        )));
                    }
                    Job::Complete { reply, cursor, .. } => {
                        let _ = reply.send(Completions::none(cursor));
                    }
                    Job::Receiver { reply, .. } => {
                        let _ = reply.send(None);
                    }
                    Job::Prelude { .. } => {}
                    Job::Recycle { reply } => {
                        let _ = reply.send(Err(format!("it never started: {message}")));
                    }
                }
            }
            return;
        }
    };
    *handle.child.lock().unwrap_or_else(|p| p.into_inner()) = Some(ctx.process_handle());
    on_ready();
    forward(
        outputs.stdout,
        Stdio::Stdout,
        iopub.clone(),
        running.clone(),
        None,
    );
    forward(
        outputs.stderr,
        Stdio::Stderr,
        iopub,
        running.clone(),
        Some(failures.clone()),
    );

    // A command run in this context whose effect recycling would not undo.
    let mut lasting: Option<String> = None;
    for job in jobs {
        match job {
            Job::Execute {
                code,
                parent,
                reply,
            } => {
                if lasting.is_none() {
                    lasting = lasting_command(&code).map(str::to_string);
                }
                {
                    let mut r = running.lock().unwrap_or_else(|p| p.into_inner());
                    r.parent = Some(*parent);
                    r.panic = None;
                    r.error = None;
                    r.echo.clear();
                }
                failures.clear();
                let before: Vec<String> = ctx
                    .variables_and_types()
                    .map(|(name, _)| name.to_string())
                    .collect();
                handle.busy.store(true, std::sync::atomic::Ordering::SeqCst);
                let result = ctx.execute(&code);
                handle
                    .busy
                    .store(false, std::sync::atomic::Ordering::SeqCst);
                // evcxr returns once our forwarders have taken every line off its channels; give them
                // a moment to finish handling the last one (a panic marker, say) before closing the cell.
                std::thread::sleep(std::time::Duration::from_millis(10));
                // evcxr restarts its child after a kill; the interrupt handle must follow it.
                *handle.child.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(ctx.process_handle());
                let interrupted = handle
                    .interrupted
                    .swap(false, std::sync::atomic::Ordering::SeqCst);
                let (panic, returned) = {
                    let mut r = running.lock().unwrap_or_else(|p| p.into_inner());
                    r.parent = None;
                    (r.panic.take(), r.error.take())
                };
                let outcome = match (result, panic) {
                    (_, _) if interrupted => Err(interrupted_error(&before)),
                    (Ok(_), Some(message)) => {
                        let generated = std::fs::read_to_string(workdir.slot.join("src/lib.rs"));
                        let message = cite_cell_lines(
                            &panic_in_cell(&message, &code, generated.as_deref().unwrap_or("")),
                            &code,
                        );
                        Err(KernelError::new("Panic", message))
                    }
                    (Ok(_), None) if returned.is_some() => {
                        let mut error = returned.expect("checked");
                        error.evalue = cite_cell_lines(&error.evalue, &code);
                        error.traceback = error
                            .traceback
                            .iter()
                            .map(|t| cite_cell_lines(t, &code))
                            .collect();
                        Err(error)
                    }
                    (Ok(outputs), None) => Ok(bundle(outputs.content_by_mime_type)),
                    (Err(e), _) => Err(evcxr_error(e, &code, &before)),
                };
                let _ = reply.send(outcome);
            }
            Job::Complete {
                code,
                cursor,
                reply,
            } => {
                let _ = reply.send(complete(&mut ctx, &code, cursor));
            }
            Job::Receiver { code, reply } => {
                let _ = reply.send(receiver(&ctx, &code));
            }
            Job::Prelude { code } => {
                // No parent: the forwarding threads drop what it prints.
                running.lock().unwrap_or_else(|p| p.into_inner()).parent = None;
                if let Err(e) = ctx.execute(&code) {
                    eprintln!("veil-kernel: the kernel's own cell failed: {e}");
                }
            }
            Job::Recycle { reply } => {
                let result = match &lasting {
                    Some(command) => Err(format!(
                        "a cell ran `{command}`, whose effect clearing the context would not undo"
                    )),
                    None => workdir.recycle(&mut ctx).map_err(|e| format!("{e:#}")),
                };
                // The cleared context runs its cells in a new process.
                *handle.child.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(ctx.process_handle());
                let _ = reply.send(result);
            }
        }
    }
}

/// `message` with each place in a function the cell defines (`train:4:9`, as a code request's
/// compile errors and panics name them) followed by the cell's line: `train:4:9 (cell line 7)`.
fn cite_cell_lines(message: &str, cell: &str) -> String {
    let defined: Vec<(String, usize)> = cell
        .lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let after = line.split_once("fn ")?.1;
            let name: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            (!name.is_empty() && after[name.len()..].trim_start().starts_with(['(', '<']))
                .then_some((name, i + 1))
        })
        .collect();
    if defined.is_empty() {
        return message.to_string();
    }
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    'scan: while !rest.is_empty() {
        for (name, first) in &defined {
            let Some(after) = rest
                .strip_prefix(name.as_str())
                .and_then(|r| r.strip_prefix(':'))
            else {
                continue;
            };
            let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
            let column: String = after[digits.len()..]
                .strip_prefix(':')
                .map(|c| c.chars().take_while(char::is_ascii_digit).collect())
                .unwrap_or_default();
            let boundary = out
                .chars()
                .last()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
            if let (true, Ok(line), false) = (boundary, digits.parse::<usize>(), column.is_empty())
            {
                let place = format!("{name}:{digits}:{column}");
                out.push_str(&format!("{place} (cell line {})", first + line - 1));
                rest = &rest[place.len()..];
                continue 'scan;
            }
        }
        let c = rest.chars().next().expect("not empty");
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// A cell's panic message, its place (`(at src/lib.rs:120)`, evcxr's generated file) read as the
/// cell's line: the generated line's text, found among the cell's lines.
fn panic_in_cell(message: &str, cell: &str, generated: &str) -> String {
    let Some((text, place)) = message.rsplit_once(" (at src/lib.rs:") else {
        return message.to_string();
    };
    let Some(number) = place
        .strip_suffix(')')
        .and_then(|n| n.parse::<usize>().ok())
    else {
        return message.to_string();
    };
    let line = generated
        .lines()
        .nth(number.saturating_sub(1))
        .map(str::trim)
        .unwrap_or("");
    let mut matches = cell
        .lines()
        .enumerate()
        .filter(|(_, l)| !line.is_empty() && l.trim() == line);
    match (matches.next(), matches.next()) {
        (Some((i, _)), None) => format!("{text} (at cell line {})", i + 1),
        _ => format!("{text} (in the cell; evcxr's generated src/lib.rs:{number})"),
    }
}

/// What to do when a cell's build needed the network it is kept from (a `:dep` on a crate
/// `install` did not fetch).
fn offline_hint(message: &str) -> Option<String> {
    (message.contains("offline") && std::env::var(OFFLINE_ENV).as_deref() == Ok("true")).then(|| {
        format!(
            "hint: Rust cells build offline ({OFFLINE_ENV}=true), from the crates `veil-kernel install` fetched; \
             to fetch another crate, run `:env {OFFLINE_ENV}=false` in a cell first (this machine needs a route to the registry)"
        )
    })
}

/// The facade type of the receiver of the method whose name ends `before`.
fn receiver(ctx: &CommandContext, before: &str) -> Option<String> {
    crate::complete::receiver(before, |var| {
        ctx.variables_and_types()
            .find(|(name, _)| *name == var)
            .map(|(_, ty)| ty.to_string())
    })
}

/// Completions at `cursor` (code points): a facade receiver's public methods, sorted, with their
/// signatures; otherwise rust-analyzer's, without the facade's private members.
fn complete(ctx: &mut CommandContext, code: &str, cursor: usize) -> Completions {
    let before: String = code.chars().take(cursor).collect();
    if let Some(owner) = receiver(ctx, &before) {
        let typed: String = before
            .chars()
            .rev()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let start = cursor - typed.chars().count();
        let methods = crate::complete::methods(&owner, &typed);
        let types: Vec<serde_json::Value> = methods
            .iter()
            .map(|e| {
                serde_json::json!({
                    "start": start, "end": cursor, "text": crate::complete::call_text(e),
                    "type": "method", "signature": e.signature,
                })
            })
            .collect();
        let mut metadata = serde_json::Map::new();
        metadata.insert("_jupyter_types_experimental".into(), types.into());
        return Completions {
            matches: methods
                .iter()
                .map(|e| crate::complete::call_text(e))
                .collect(),
            start,
            end: cursor,
            metadata,
        };
    }
    let byte = code
        .char_indices()
        .nth(cursor)
        .map_or(code.len(), |(i, _)| i);
    match ctx.completions(code, byte) {
        Ok(c) => {
            let to_chars = |b: usize| code[..b.min(code.len())].chars().count();
            let hidden = crate::docs::private_members();
            let mut matches: Vec<String> = c
                .completions
                .into_iter()
                .map(|c| c.code)
                .filter(|m| !hidden.contains(m.split('(').next().unwrap_or(m)))
                .collect();
            matches.sort();
            matches.dedup();
            Completions {
                matches,
                start: to_chars(c.start_offset),
                end: to_chars(c.end_offset),
                metadata: Default::default(),
            }
        }
        Err(_) => Completions::none(cursor),
    }
}

fn interrupted_error(before: &[String]) -> KernelError {
    let lost = if before.is_empty() {
        "no variables were defined".to_string()
    } else {
        format!(
            "evcxr restarted its runtime, so these variables were lost: {}",
            before.join(", ")
        )
    };
    KernelError::new("Interrupted", format!("the cell was interrupted; {lost}"))
}

fn evcxr_error(error: evcxr::Error, cell: &str, before: &[String]) -> KernelError {
    match error {
        evcxr::Error::CompilationErrors(errors) => {
            let mut evalue = errors.first().map(|e| e.message()).unwrap_or_default();
            let mut traceback: Vec<String> =
                errors.iter().map(|e| compile_error(e, cell)).collect();
            // A PySyft habit (`client.api.services`, `asset.mock_data`, ...) gets Veil's spelling.
            let messages: Vec<String> = errors.iter().map(|e| e.message()).collect();
            let hints = [
                crate::pysyft::hint(&messages.join("\n")),
                offline_hint(&messages.join("\n")),
            ];
            for hint in hints.into_iter().flatten() {
                evalue = format!("{evalue}\n{hint}");
                traceback.push(hint);
            }
            KernelError {
                ename: "CompileError".into(),
                evalue,
                traceback,
            }
        }
        evcxr::Error::TypeRedefinedVariablesLost(vars) => KernelError::new(
            "VariablesLost",
            format!(
                "a type was redefined, so these variables were lost: {}",
                vars.join(", ")
            ),
        ),
        evcxr::Error::SubprocessTerminated(message) => {
            let lost = if before.is_empty() {
                String::new()
            } else {
                format!("; variables lost: {}", before.join(", "))
            };
            KernelError::new("RuntimeRestarted", format!("{message}{lost}"))
        }
        other => {
            let message = other.to_string();
            match offline_hint(&message) {
                Some(hint) => KernelError::new("EvcxrError", format!("{message}\n{hint}")),
                None => KernelError::new("EvcxrError", message),
            }
        }
    }
}

/// A compile error as rustc shows it, but pointing into the cell (`cell:LINE:COLUMN` under the
/// cell's own lines) instead of evcxr's generated `src/lib.rs`. Spans in code evcxr generated are
/// left out; an error with none in the cell keeps rustc's own rendering.
fn compile_error(error: &evcxr::CompilationError, cell: &str) -> String {
    let spans: Vec<_> = error
        .spanned_messages()
        .iter()
        .filter_map(|m| m.span.map(|span| (span, m.label.as_str(), m.is_primary)))
        .collect();
    if spans.is_empty() {
        return error.rendered();
    }
    let lines: Vec<&str> = cell.lines().collect();
    let width = spans
        .iter()
        .map(|(span, _, _)| span.end_line.to_string().len())
        .max()
        .unwrap_or(1);
    let pad = " ".repeat(width);
    let mut out = match error.code() {
        Some(code) => format!("{}[{code}]: {}\n", error.level(), error.message()),
        None => format!("{}: {}\n", error.level(), error.message()),
    };
    let (first, _, _) = spans
        .iter()
        .find(|(_, _, primary)| *primary)
        .unwrap_or(&spans[0]);
    out.push_str(&format!(
        "{pad}--> cell:{}:{}\n{pad} |\n",
        first.start_line, first.start_column
    ));
    for (span, label, primary) in &spans {
        let Some(text) = lines.get(span.start_line.saturating_sub(1)) else {
            continue;
        };
        let start = span.start_column.max(1);
        let end = if span.end_line == span.start_line {
            span.end_column.max(start + 1)
        } else {
            text.chars().count() + 1
        };
        let mark = if *primary { "^" } else { "-" };
        out.push_str(&format!(
            "{:>width$} | {text}\n{pad} | {}{} {label}\n",
            span.start_line,
            " ".repeat(start - 1),
            mark.repeat(end - start),
        ));
    }
    for help in error.help() {
        out.push_str(&format!("{pad} = help: {help}\n"));
    }
    out.trim_end().to_string()
}

/// The cell's value as a bundle: evcxr gives `text/plain` (Debug) or whatever `evcxr_display` printed.
fn bundle(content: HashMap<String, String>) -> Option<Media> {
    if content.is_empty() {
        return None;
    }
    let mut items: Vec<MediaType> = content
        .into_iter()
        .map(|(mime, data)| match mime.as_str() {
            "text/plain" => MediaType::Plain(data),
            "text/html" => MediaType::Html(data),
            // A JSON type (a Vega-Lite spec) goes to the frontend as JSON, not as a string of it.
            _ if mime.ends_with("+json") => {
                let value = serde_json::from_str(&data).unwrap_or(serde_json::Value::String(data));
                MediaType::Other((mime, value))
            }
            _ => MediaType::Other((mime, serde_json::Value::String(data))),
        })
        .collect();
    items.sort_by(|a, b| a.mime_type().cmp(b.mime_type()));
    Some(Media::new(items))
}

/// Forwards one of the child's output streams to IOPub, turning facade markers into messages.
fn forward(
    lines: crossbeam_channel::Receiver<String>,
    name: Stdio,
    iopub: Iopub,
    running: Arc<Mutex<Running>>,
    failures: Option<Failures>,
) {
    std::thread::spawn(move || {
        for line in lines {
            let mut r = running.lock().unwrap_or_else(|p| p.into_inner());
            let Some(parent) = r.parent.clone() else {
                continue;
            };
            // evcxr prints an error returned with `?` here; a Veil error becomes the cell's error,
            // and its message's other lines are not printed a second time.
            if r.echo.front() == Some(&line) {
                r.echo.pop_front();
                continue;
            }
            if let Some(error) = failures.as_ref().and_then(|f| f.matching(&line)) {
                r.echo = error.evalue.lines().skip(1).map(str::to_string).collect();
                r.error = Some(error);
                continue;
            }
            // A marker may follow text printed without a newline: forward that text first.
            let (line, before) = match [DISPLAY_MARKER, CLEAR_MARKER, PANIC_MARKER, FAILURE_MARKER]
                .iter()
                .find_map(|m| line.find(m))
            {
                Some(at) if at > 0 => (line[at..].to_string(), Some(line[..at].to_string())),
                _ => (line, None),
            };
            if let Some(text) = before {
                iopub.send(
                    StreamContent {
                        name: name.clone(),
                        text,
                    },
                    &parent,
                );
            }
            if let Some(json) = line.strip_prefix(DISPLAY_MARKER)
                && let Ok(data) = serde_json::from_str::<Media>(json)
            {
                iopub.send(DisplayData::new(data), &parent);
                continue;
            }
            if let Some(rest) = line.strip_prefix(CLEAR_MARKER) {
                iopub.send(
                    ClearOutput {
                        wait: rest.trim() == "wait",
                    },
                    &parent,
                );
                continue;
            }
            if let Some(json) = line.strip_prefix(FAILURE_MARKER) {
                #[derive(serde::Deserialize)]
                struct Failure {
                    name: String,
                    message: String,
                }
                if let (Some(failures), Ok(f)) = (&failures, serde_json::from_str::<Failure>(json))
                {
                    failures.record(&KernelError::new(f.name, f.message));
                }
                continue;
            }
            if let Some(message) = line.strip_prefix(PANIC_MARKER) {
                r.panic = Some(
                    serde_json::from_str::<String>(message).unwrap_or_else(|_| message.to_string()),
                );
                continue;
            }
            drop(r);
            iopub.send(
                StreamContent {
                    name: name.clone(),
                    text: format!("{line}\n"),
                },
                &parent,
            );
        }
    });
}

/// `rustc --version`'s number, for `language_info.version`.
pub fn rustc_version() -> String {
    std::process::Command::new("rustc")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|v| v.split_whitespace().nth(1).map(str::to_string))
        .unwrap_or_else(|| "unknown".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A context is recycled for the next kernel only when no cell ran a command whose effect
    /// outlives evcxr's `:clear` and a reset of its settings.
    #[test]
    fn places_in_a_cells_function_and_its_panics_cite_the_cell_line() {
        let cell = "let f = function! {\n    fn f(x: Array1<f64>) -> f64 {\n        let t = x.sum();\n        undefined + t\n    }\n};\nf.run_on_mocks()?";
        let message = "error[E0425]: cannot find value `undefined`\n --> f:3:9\n  |\n3 |         undefined + t";
        let cited = cite_cell_lines(message, cell);
        assert!(cited.contains(" --> f:3:9 (cell line 4)\n"), "{cited}");
        assert!(cited.ends_with("3 |         undefined + t"), "{cited}");
        // Not a function of this cell, not a place: unchanged.
        assert_eq!(
            cite_cell_lines("g:3:9 and f:x and elf:3:1", cell),
            "g:3:9 and f:x and elf:3:1"
        );
        assert_eq!(
            cite_cell_lines("thread 'main' panicked at f:2:5:", cell),
            "thread 'main' panicked at f:2:5 (cell line 3):"
        );

        let generated = "fn run() {\nlet v: Vec<i32> = Vec::new();\nlet n = 1;\nv[n + 2]\n}";
        let cell = "let v: Vec<i32> = Vec::new();\nlet n = 1;\n  v[n + 2]";
        assert_eq!(
            panic_in_cell("index out of bounds (at src/lib.rs:4)", cell, generated),
            "index out of bounds (at cell line 3)"
        );
        assert_eq!(
            panic_in_cell("boom (at src/lib.rs:9)", cell, generated),
            "boom (in the cell; evcxr's generated src/lib.rs:9)"
        );
        assert_eq!(panic_in_cell("boom", cell, generated), "boom");
    }

    #[test]
    fn commands_that_outlive_clearing_stop_recycling() {
        assert_eq!(lasting_command("let x = 1;\nx + 1"), None);
        assert_eq!(lasting_command(":dep rand = \"0.8\"\n:opt 2\n:vars"), None);
        assert_eq!(lasting_command("let a = 1;\n  :env FOO=bar"), Some(":env"));
        assert_eq!(lasting_command(":timing"), Some(":timing"));
        assert_eq!(
            lasting_command(":not_an_evcxr_command x"),
            Some(":not_an_evcxr_command")
        );
        // Not a command to evcxr: a `:` inside an expression, or after a tab.
        assert_eq!(lasting_command("let t = (1, 2);\nlet s = \":env\";"), None);
        assert_eq!(lasting_command("\t:env X=1"), None);
    }

    /// Every source file of the crates cells compile is embedded: a file left out compiles here (the
    /// workspace has it) and breaks every installed kernel's first cell.
    #[test]
    fn every_file_of_the_facade_and_its_crates_is_embedded() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut on_disk = Vec::new();
        for krate in ["facade", "api", "macros"] {
            on_disk.push(format!("{krate}/Cargo.toml"));
            let mut dirs = vec![root.join(krate).join("src")];
            while let Some(dir) = dirs.pop() {
                for entry in std::fs::read_dir(&dir).unwrap() {
                    let path = entry.unwrap().path();
                    if path.is_dir() {
                        dirs.push(path);
                    } else if path.extension().is_some_and(|e| e == "rs") {
                        let relative = path.strip_prefix(&root).unwrap();
                        on_disk.push(relative.to_string_lossy().into_owned());
                    }
                }
            }
        }
        let embedded: Vec<&str> = FACADE_FILES.iter().map(|(name, _)| *name).collect();
        let missing: Vec<&String> = on_disk
            .iter()
            .filter(|f| !embedded.contains(&f.as_str()))
            .collect();
        assert!(missing.is_empty(), "add these to FACADE_FILES: {missing:?}");
    }
}
