//! The code runner: compiles a submitted function against a prebuilt dependency set and runs it in a
//! limited child process.
//!
//! A runner owns a directory (`$VEIL_RUNNER_DIR`, or `veil/runner` in the user cache directory):
//! - `jobs/` is a cargo package, `veil-jobs`, whose library (`runtime/runner/lib.rs`, embedded here)
//!   loads inputs and writes outputs, and which depends on polars (Parquet), ndarray, serde and
//!   serde_json. [`Runner::warm`] builds it once as a Rust `dylib`: one shared library holding the
//!   whole dependency set, linked against the toolchain's shared `std`.
//! - `lib/` holds copies of that library and of `std`'s, which runs load (a jailed run sees them, read
//!   only, as `/veil-lib`).
//! - `bin/job_<hash>` is one submitted function, compiled by `rustc` alone (no cargo) after
//!   `use veil_jobs::prelude::*;` and before a generated `main`, and linked dynamically: 20 to
//!   112 KB of disk (28 KB typical) and under a second to build, where a static link of polars took
//!   94 MB and seconds.
//!   The hash covers the source and the support library, so a binary is compiled once and reused by
//!   every run of the same code. A datasite's runner keeps its jobs in `bin/<scope>/` (see
//!   [`Runner::scoped`]) as hard links to `bin/job_<hash>`, which other datasites link too;
//!   [`Runner::prune`] removes those no request can run again, and a job's shared name goes with the
//!   last link.
//! - `target/` is the package's target directory. Cargo's lock on it serialises concurrent warms.
//!
//! Each run is a child process in a fresh private temporary directory holding only its inputs, with an
//! empty environment, limits on CPU time and address space (`setrlimit`), a wall-time limit enforced
//! by killing its process group, and, where the OS allows, new user, network and mount namespaces: no
//! network at all, and a root holding only the system's read-only `/usr`, its binary and its work
//! directory, so it reads no file of the datasite (see [`Runner::isolated`]; where runs cannot be
//! jailed the datasite runs no submitted code unless its owner allows it at launch). Sources that
//! reach outside the language while compiling or running (`include_bytes!`, `env!`, inline assembly,
//! `unsafe`, `extern`, `mod m;`, attributes beyond lints and docs) are refused by [`parse_function`]. What it printed is kept for the owner; a scientist learns only the kind of
//! failure, because a message from code that ran on real data may contain real values.

use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::data::{Data, DataKind};
use crate::error::{Error, Result};
use crate::store::hex;

mod exec;
mod jail;
mod source;

use exec::{classify, execute};
use jail::{JOB_INSIDE, Jail, LIB_INSIDE, TempDir, jail_works, sandbox};
pub use source::{Param, Signature, parse_function};

/// The environment variable naming the runner's directory.
pub const RUNNER_DIR_ENV: &str = "VEIL_RUNNER_DIR";

/// Longest a submitted function may take to compile (its dependencies, built once beforehand by
/// [`Runner::warm`], are not counted).
pub const COMPILE_WALL: Duration = Duration::from_secs(300);

/// The support library, compiled into every job.
const SUPPORT_LIB: &str = include_str!("../../runner/lib.rs");

/// The job package's manifest. Versions are those the workspace locks, so a machine that built Veil
/// has them in its registry cache and the runner can resolve offline.
const MANIFEST: &str = r#"# Written by the Veil datasite: the package submitted code is compiled in.
[package]
name = "veil-jobs"
version = "0.1.0"
edition = "2024"
publish = false

# One shared library for every job: a job links it instead of copying polars into its binary.
[lib]
path = "src/lib.rs"
crate-type = ["dylib"]

[dependencies]
ndarray = "=0.17.2"
ndarray-npy = { version = "=0.10.0", default-features = false }
polars = { version = "=0.55.2", default-features = false, features = ["parquet", "fmt"] }
serde = { version = "1", features = ["derive"] }
serde_json = "1"

# Its own workspace, wherever the directory is.
[workspace]

# Small binaries that link fast; dependencies a little optimised, polars (the long build) not.
[profile.dev]
debug = 0
incremental = false

[profile.dev.package."*"]
opt-level = 1

[profile.dev.package.polars]
opt-level = 0
[profile.dev.package.polars-arrow]
opt-level = 0
[profile.dev.package.polars-compute]
opt-level = 0
[profile.dev.package.polars-core]
opt-level = 0
[profile.dev.package.polars-io]
opt-level = 0
[profile.dev.package.polars-parquet]
opt-level = 0
"#;

/// Lines of the generated file before the submitted source (see [`job_file`]).
const HEADER: &str = "#![allow(unused, clippy::all)]\nuse veil_jobs::prelude::*;\n";

/// One input of a run, in parameter order.
#[derive(Debug, Clone)]
pub enum RunInput {
    /// A frame or an array (an asset's mock or data).
    Data(Arc<Data>),
    /// A constant.
    Constant(serde_json::Value),
}

/// Limits on one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time; the process group is killed after it.
    pub wall: Duration,
    /// CPU time (`RLIMIT_CPU`).
    pub cpu: Duration,
    /// Address space in bytes (`RLIMIT_AS`).
    pub memory_bytes: u64,
    /// Largest result accepted, in bytes.
    pub output_bytes: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            wall: Duration::from_secs(120),
            cpu: Duration::from_secs(120),
            memory_bytes: 4 << 30,
            output_bytes: 256 << 20,
        }
    }
}

/// Why a run produced no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFailure {
    /// What kind of failure.
    pub kind: FailureKind,
    /// Everything known (compiler output, panic message, what the program printed): for the owner,
    /// and for runs on mocks.
    pub detail: String,
    /// What a scientist may see after a run on real data: the kind of failure and the limit, never
    /// anything the program printed.
    pub public: String,
}

/// The kinds of [`RunFailure`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureKind {
    /// It did not compile.
    Compile,
    /// An input did not fit its parameter's type.
    Input,
    /// It panicked.
    Panic,
    /// It returned an `Err`.
    ReturnedError,
    /// It ran past the wall-time limit.
    WallTime,
    /// It used up its CPU time.
    CpuTime,
    /// It ran out of memory (address space).
    Memory,
    /// Its result is over the size limit.
    OutputTooLarge,
    /// It died some other way.
    Crashed,
}

/// The runner's default directory: `$VEIL_RUNNER_DIR`, else `veil/runner` in the user cache directory.
pub fn default_dir() -> PathBuf {
    match std::env::var_os(RUNNER_DIR_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => dirs::cache_dir()
            .unwrap_or_else(std::env::temp_dir)
            .join("veil")
            .join("runner"),
    }
}

/// Compiles and runs submitted functions. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Runner {
    dir: PathBuf,
    bins: PathBuf,
    compile_wall: Duration,
}

impl Runner {
    /// A runner keeping its package and builds in `dir`; a compile may take [`COMPILE_WALL`].
    pub fn new(dir: impl Into<PathBuf>) -> Runner {
        let dir = dir.into();
        Runner {
            bins: dir.join("bin"),
            dir,
            compile_wall: COMPILE_WALL,
        }
    }

    /// The same runner, keeping its compiled jobs in `bin/<scope>/`: [`Runner::prune`] removes
    /// only what is there. A datasite's scope is [`scope_of`] its directory.
    pub fn scoped(mut self, scope: &str) -> Runner {
        self.bins = self.dir.join("bin").join(scope);
        self
    }

    /// The same runner, stopping any compile after `wall`.
    pub fn compile_wall(mut self, wall: Duration) -> Runner {
        self.compile_wall = wall;
        self
    }

    /// Its directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn jobs(&self) -> PathBuf {
        self.dir.join("jobs")
    }

    fn target(&self) -> PathBuf {
        self.dir.join("target")
    }

    fn lib(&self) -> PathBuf {
        self.dir.join("lib")
    }

    fn bins(&self) -> &Path {
        &self.bins
    }

    /// Whether this runner keeps its jobs in a scope of their own (besides the shared names).
    fn is_scoped(&self) -> bool {
        self.bins() != self.shared()
    }

    /// Where every scope's compiled jobs are also linked, so a datasite reuses another's build of
    /// the same source.
    fn shared(&self) -> PathBuf {
        self.dir.join("bin")
    }

    /// Writes the job package, builds it as a shared library with its dependencies, and installs
    /// that library and the toolchain's `std` in `lib/`, so later requests compile only the function.
    /// Idempotent, and safe from several processes at once.
    pub fn warm(&self) -> Result<()> {
        self.warm_with(&mut |_| {})
    }

    /// [`Runner::warm`], telling `progress` as each crate is built.
    pub fn warm_with(&self, progress: &mut dyn FnMut(WarmProgress)) -> Result<()> {
        self.prepare()?;
        let toolchain = self.toolchain()?;
        let total = self.crates_to_build(&toolchain);
        // `-C prefer-dynamic` for the library alone: it links the toolchain's shared `std`, as the
        // jobs do, so `std` is loaded once. Dependencies keep their fingerprints.
        let mut cargo = self.cargo_command(&[
            "rustc",
            "--offline",
            "--lib",
            "--message-format=json-render-diagnostics",
            "--",
            "-C",
            "prefer-dynamic",
        ]);
        let mut child = cargo
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                Error::Runner(format!(
                    "running cargo for the code runner: {e}; code requests need a Rust toolchain on PATH"
                ))
            })?;
        let mut stderr = child.stderr.take().expect("piped");
        let errors = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let mut done = 0;
        let stdout = std::io::BufReader::new(child.stdout.take().expect("piped"));
        for line in std::io::BufRead::lines(stdout).map_while(|l| l.ok()) {
            let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if message["reason"] == "compiler-artifact" {
                done += 1;
                let package = message["package_id"].as_str().unwrap_or_default();
                let package = package.rsplit('#').next().unwrap_or_default();
                let package = package.split('@').next().unwrap_or_default();
                let name = match message["target"]["kind"][0].as_str() {
                    Some("custom-build") => format!("{package}'s build script"),
                    _ => package.to_string(),
                };
                progress(WarmProgress {
                    done,
                    total: total.max(done),
                    name,
                });
            }
        }
        let status = child
            .wait()
            .map_err(|e| Error::Runner(format!("waiting for cargo: {e}")))?;
        let errors = errors.join().unwrap_or_default();
        if !status.success() {
            return Err(Error::Runner(format!(
                "building the code runner's dependencies in {} failed:\n{errors}",
                self.jobs().display(),
            )));
        }
        let std_lib = std::fs::read_dir(&toolchain.libdir)
            .map_err(Error::io("reading the toolchain's libraries"))?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("libstd-") && n.ends_with(".so"))
            })
            .ok_or_else(|| {
                Error::Runner(format!(
                    "the toolchain has no shared `std` in {}; install the Rust toolchain with rustup",
                    toolchain.libdir.display()
                ))
            })?;
        self.remove_static_jobs();
        let lib = self.lib();
        std::fs::create_dir_all(&lib).map_err(Error::io("creating the runner's libraries"))?;
        for from in [self.target().join("debug").join(DYLIB), std_lib] {
            let name = from.file_name().expect("a library file");
            copy_atomically(&from, &lib.join(name))?;
        }
        write_if_changed(
            &self.warmed_marker(),
            &format!("{}\n{}", job_name(""), toolchain.rustc.display()),
        )
    }

    /// Removes what runners before the shared library left: each job a cargo binary of its own
    /// (`target/debug/job_*`, about 94 MB each, with its copy in `deps/`) and its source in
    /// `jobs/src/bin/`. None of them runs again: jobs are named by the support library they link.
    fn remove_static_jobs(&self) {
        let debug = self.target().join("debug");
        for dir in [debug.join("deps"), debug] {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let is_job = entry.file_name().to_string_lossy().starts_with("job_");
                if is_job && entry.file_type().is_ok_and(|t| t.is_file()) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        let _ = std::fs::remove_dir_all(self.jobs().join("src/bin"));
    }

    /// How many crates (libraries and build scripts) building the package compiles, for progress:
    /// 0 if cargo cannot tell.
    fn crates_to_build(&self, toolchain: &Toolchain) -> usize {
        let host = toolchain
            .libdir
            .parent()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        // The packages built for this platform with the features the build resolves...
        let tree = [
            "tree",
            "--offline",
            "-e",
            "normal,build",
            "--prefix",
            "none",
        ];
        let Ok(tree) = self.cargo_command(&tree).args(["--target", host]).output() else {
            return 0;
        };
        let built: std::collections::HashSet<String> = String::from_utf8_lossy(&tree.stdout)
            .lines()
            .filter_map(|l| {
                let mut words = l.split_whitespace();
                Some(format!("{} {}", words.next()?, words.next()?))
            })
            .collect();
        // ...and the build scripts among them.
        let meta = ["metadata", "--offline", "--format-version=1"];
        let Ok(meta) = self.cargo_command(&meta).output() else {
            return built.len();
        };
        let meta: serde_json::Value = serde_json::from_slice(&meta.stdout).unwrap_or_default();
        let scripts = meta["packages"].as_array().map_or(0, |packages| {
            packages
                .iter()
                .filter(|p| {
                    let id = format!(
                        "{} v{}",
                        p["name"].as_str().unwrap_or_default(),
                        p["version"].as_str().unwrap_or_default()
                    );
                    built.contains(&id)
                        && p["targets"].as_array().is_some_and(|targets| {
                            targets.iter().any(|t| t["kind"][0] == "custom-build")
                        })
                })
                .count()
        });
        built.len() + scripts
    }

    /// The compiler that built the shared library (`rustup` may pick another per directory), and
    /// where its `std` is.
    fn toolchain(&self) -> Result<Toolchain> {
        let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
        let mut cmd = self.tool(&rustc, &["--print", "sysroot", "--print", "target-libdir"]);
        let out = cmd.output().map_err(|e| {
            Error::Runner(format!(
                "running rustc for the code runner: {e}; code requests need a Rust toolchain on PATH"
            ))
        })?;
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        match (out.status.success(), lines.next(), lines.next()) {
            (true, Some(sysroot), Some(libdir)) => Ok(Toolchain {
                rustc: Path::new(sysroot).join("bin").join("rustc"),
                libdir: PathBuf::from(libdir),
            }),
            _ => Err(Error::Runner(format!(
                "asking rustc for its sysroot failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ))),
        }
    }

    /// Written by [`Runner::warm`]: the digest of what it built and the compiler that built it. A
    /// compile whose library is not built yet builds it first, without the compile's deadline.
    fn warmed_marker(&self) -> PathBuf {
        self.dir.join("lib").join(".warmed")
    }

    /// The compiler jobs are built with, once the runner is warm.
    fn warm_rustc(&self) -> Option<PathBuf> {
        let marker = std::fs::read_to_string(self.warmed_marker()).ok()?;
        let (digest, rustc) = marker.split_once('\n')?;
        (digest == job_name("")).then(|| PathBuf::from(rustc))
    }

    /// Writes the package's files (only those that changed, so cargo's fingerprints hold) and its
    /// lock file.
    fn prepare(&self) -> Result<()> {
        let jobs = self.jobs();
        write_if_changed(&jobs.join("Cargo.toml"), MANIFEST)?;
        write_if_changed(&jobs.join("src/lib.rs"), SUPPORT_LIB)?;
        if !jobs.join("Cargo.lock").exists() {
            // Offline first: the crates are in the registry cache of any machine that built Veil.
            let offline = self.cargo(&["generate-lockfile", "--offline"])?;
            if !offline.status.success() {
                let online = self.cargo(&["generate-lockfile"])?;
                if !online.status.success() {
                    return Err(Error::Runner(format!(
                        "resolving the code runner's dependencies failed:\n{}",
                        String::from_utf8_lossy(&online.stderr)
                    )));
                }
            }
        }
        Ok(())
    }

    fn cargo(&self, args: &[&str]) -> Result<std::process::Output> {
        self.cargo_command(args).output().map_err(|e| {
            Error::Runner(format!(
                "running `cargo {}` for the code runner: {e}; code requests need a Rust toolchain on PATH",
                args.join(" ")
            ))
        })
    }

    fn cargo_command(&self, args: &[&str]) -> Command {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = self.tool(&cargo, args);
        cmd.env("CARGO_TARGET_DIR", self.target());
        cmd
    }

    /// `program` with `args`, run in the job package with a clean environment.
    fn tool(&self, program: &std::ffi::OsStr, args: &[&str]) -> Command {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .current_dir(self.jobs())
            .env_clear()
            .stdin(Stdio::null());
        // Only what finds the toolchain, its caches and a proxy: the datasite's own environment may
        // hold secrets, and a caller's flags would change every fingerprint and rebuild polars.
        for var in [
            "PATH",
            "HOME",
            "CARGO_HOME",
            "RUSTUP_HOME",
            "RUSTUP_TOOLCHAIN",
            "TMPDIR",
            "HTTPS_PROXY",
            "https_proxy",
            "HTTP_PROXY",
            "http_proxy",
            "NO_PROXY",
            "no_proxy",
        ] {
            if let Some(value) = std::env::var_os(var) {
                cmd.env(var, value);
            }
        }
        cmd
    }

    /// Compiles `source` if it is not compiled yet, without running it: a later [`Runner::run`] of
    /// the same source starts at once. `Ok(Err(failure))` is a compile error in the code; `Err(..)`
    /// is the runner's own failure.
    pub fn build(
        &self,
        source: &str,
        sig: &Signature,
    ) -> Result<std::result::Result<(), RunFailure>> {
        Ok(self.compile(source, sig)?.map(|_| ()))
    }

    /// Compiles `source` if it is not compiled yet, then runs it on `inputs` under `limits`.
    ///
    /// `Ok(Err(failure))` is the code's failure (it did not compile, panicked, hit a limit);
    /// `Err(..)` is the runner's (no toolchain, a full disk).
    pub fn run(
        &self,
        source: &str,
        sig: &Signature,
        inputs: Vec<RunInput>,
        limits: &Limits,
    ) -> Result<std::result::Result<Data, RunFailure>> {
        if inputs.len() != sig.params.len() {
            return Err(Error::invalid(
                format!("inputs of `{}`", sig.name),
                format!("{} given for {} parameters", inputs.len(), sig.params.len()),
                "bind every parameter once",
            ));
        }
        let work = TempDir::new()?;
        // The run's own copy of its binary: pruning may remove the compiled one meanwhile.
        let binary = work.0.join("job");
        loop {
            let compiled = match self.compile(source, sig)? {
                Ok(compiled) => compiled,
                Err(failure) => return Ok(Err(failure)),
            };
            match std::fs::copy(&compiled, &binary) {
                Ok(_) => break,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io("copying a compiled job")(e)),
            }
        }
        let input_dir = work.0.join("in");
        std::fs::create_dir(&input_dir).map_err(Error::io("writing a run's inputs"))?;
        for (i, input) in inputs.iter().enumerate() {
            let (name, bytes) = match input {
                RunInput::Data(d) => {
                    let ext = match d.kind() {
                        DataKind::Frame => "parquet",
                        DataKind::ArrayF64 => "f64.npy",
                        DataKind::ArrayI64 => "i64.npy",
                        DataKind::Json => "json",
                    };
                    (format!("{i}.{ext}"), d.encode()?)
                }
                RunInput::Constant(v) => (
                    format!("{i}.json"),
                    serde_json::to_vec(v).expect("JSON values serialise"),
                ),
            };
            std::fs::write(input_dir.join(name), bytes)
                .map_err(Error::io("writing a run's inputs"))?;
        }
        let finished = execute(&binary, &work.0, &self.lib(), limits)?;
        Ok(classify(finished, &work.0, limits, &sig.name))
    }

    /// The job binary for `source`, compiled if needed.
    fn compile(
        &self,
        source: &str,
        sig: &Signature,
    ) -> Result<std::result::Result<PathBuf, RunFailure>> {
        let bin = job_name(source);
        let binary = self.bins().join(&bin);
        if binary.exists() || self.adopt(&bin)? {
            return Ok(Ok(binary));
        }
        let rustc = match self.warm_rustc() {
            Some(rustc) => rustc,
            None => {
                self.warm()?;
                self.warm_rustc()
                    .ok_or_else(|| Error::Runner("the code runner's build left no marker".into()))?
            }
        };
        // Built in a directory of its own, then moved into place: compiles of the same source at once
        // each finish with a whole binary.
        let build = TempDir::new_in(&self.dir.join("build"))?;
        let file = format!("{bin}.rs");
        std::fs::write(build.0.join(&file), job_file(source, sig))
            .map_err(Error::io("writing a job's source"))?;
        let deps = self.target().join("debug").join("deps");
        let mut dependency = std::ffi::OsString::from("dependency=");
        dependency.push(&deps);
        let mut extern_lib = std::ffi::OsString::from("veil_jobs=");
        extern_lib.push(self.lib().join(DYLIB));
        let mut cmd = self.tool(rustc.as_os_str(), &[]);
        cmd.current_dir(&build.0)
            .args(["--edition=2024", "--crate-type=bin", "--crate-name=job"])
            .args(["--error-format=human", "--color=never"])
            .args([
                "-C",
                "prefer-dynamic",
                "-C",
                "debuginfo=0",
                "-C",
                "strip=debuginfo",
            ])
            .arg("-L")
            .arg(dependency)
            .arg("--extern")
            .arg(extern_lib)
            .args(["-o", "job", &file]);
        // Submitted code may make the compiler loop (`#[allow(long_running_const_eval)]`): every
        // compile has a deadline.
        let out = exec::supervise(&mut cmd, self.compile_wall, "the compiler")?;
        if out.timed_out {
            let public = format!(
                "`{}` took longer than {} s to compile and was stopped",
                sig.name,
                self.compile_wall.as_secs()
            );
            return Ok(Err(RunFailure {
                kind: FailureKind::Compile,
                detail: public.clone(),
                public,
            }));
        }
        if out.status.success() {
            std::fs::create_dir_all(self.bins()).map_err(Error::io("creating the runner"))?;
            std::fs::rename(build.0.join("job"), &binary)
                .map_err(Error::io("storing a compiled job"))?;
            if self.is_scoped() {
                // Shared for other datasites; if that fails they compile it themselves.
                let _ = std::fs::hard_link(&binary, self.shared().join(&bin));
            }
            return Ok(Ok(binary));
        }
        let stderr = &out.stderr;
        if !stderr.contains(&format!("{file}:")) {
            return Err(Error::Runner(format!(
                "the code runner could not build `{}`:\n{stderr}",
                sig.name
            )));
        }
        let detail = compile_errors(stderr, &bin, &sig.name);
        Ok(Err(RunFailure {
            kind: FailureKind::Compile,
            public: detail.clone(),
            detail,
        }))
    }

    /// Takes another scope's build of job `bin` from the shared directory, as a hard link: whether
    /// there was one.
    fn adopt(&self, bin: &str) -> Result<bool> {
        if !self.is_scoped() {
            return Ok(false);
        }
        std::fs::create_dir_all(self.bins()).map_err(Error::io("creating the runner"))?;
        match std::fs::hard_link(self.shared().join(bin), self.bins().join(bin)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(true),
            Err(_) => Ok(false),
        }
    }

    /// Removes every compiled job but those of `keep` (sources): what no request can run again
    /// costs no disk. A job other scopes still link stays for them; the last scope to let go of it
    /// removes its shared name too. A run whose binary goes meanwhile compiles it again.
    pub fn prune<'a>(&self, keep: impl IntoIterator<Item = &'a str>) -> Result<usize> {
        let keep: std::collections::HashSet<String> = keep.into_iter().map(job_name).collect();
        let entries = match std::fs::read_dir(self.bins()) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(Error::io("listing compiled jobs")(e)),
        };
        let mut removed = 0;
        for entry in entries.filter_map(|e| e.ok()) {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("job_") && !keep.contains(&name) {
                match std::fs::remove_file(entry.path()) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io("removing a compiled job")(e)),
                }
                let shared = self.shared().join(&name);
                if self.is_scoped() && std::fs::metadata(&shared).is_ok_and(|m| m.nlink() == 1) {
                    let _ = std::fs::remove_file(&shared);
                }
            }
        }
        Ok(removed)
    }

    /// The compiled job of `source`, if it is compiled.
    pub fn compiled(&self, source: &str) -> Option<PathBuf> {
        Some(self.bins().join(job_name(source))).filter(|p| p.exists())
    }

    /// Bytes of disk the compiled jobs take.
    pub fn compiled_bytes(&self) -> u64 {
        std::fs::read_dir(self.bins())
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok()?.metadata().ok())
            .map(|m| m.len())
            .sum()
    }

    /// Whether runs are isolated: each in its own network namespace (so no network at all) and its
    /// own mount namespace whose root holds only the system's read-only `/usr` (and its `/lib`,
    /// `/bin` links), its work directory as `/work` and its binary as `/job`, so it sees no file of the
    /// datasite, the runner or the user. A probe run, jailed the way runs are, tells; checked once.
    pub fn isolated(&self) -> bool {
        jail_works()
    }
}

/// How far [`Runner::warm_with`] is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarmProgress {
    /// Crates built (or found built) so far.
    pub done: usize,
    /// Crates in all, as far as cargo tells beforehand.
    pub total: usize,
    /// The crate just built.
    pub name: String,
}

/// The scope (see [`Runner::scoped`]) of the datasite in `dir`: a digest of its path.
pub fn scope_of(dir: &Path) -> String {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let digest = Sha256::digest(dir.as_os_str().as_encoded_bytes());
    format!("site_{}", &hex(&digest)[..16])
}

/// The shared library [`Runner::warm`] builds and jobs link.
const DYLIB: &str = "libveil_jobs.so";

/// A toolchain: its compiler, and the directory its target libraries (the shared `std`) are in.
struct Toolchain {
    rustc: PathBuf,
    libdir: PathBuf,
}

/// Copies `from` to `to` through a temporary file and a rename: a run loading the old file keeps it.
fn copy_atomically(from: &Path, to: &Path) -> Result<()> {
    let tmp = to.with_extension(format!("{}.tmp", uuid::Uuid::new_v4().simple()));
    std::fs::copy(from, &tmp).map_err(Error::io("installing the runner's libraries"))?;
    std::fs::rename(&tmp, to).map_err(Error::io("installing the runner's libraries"))
}

/// The binary `source` compiles to, named by the whole SHA-256 of everything it is built from: a
/// compiled binary is reused for any source of the same name, so a shorter name would let a
/// scientist who found two sources sharing it (2^32 tries for 64 bits) have the owner approve one
/// and the datasite run the other.
fn job_name(source: &str) -> String {
    let mut h = Sha256::new();
    for part in [MANIFEST, SUPPORT_LIB, HEADER, source] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    format!("job_{}", hex(&h.finalize()))
}

/// The generated source of a job: the support prelude, the submitted function as written, and a
/// `main` that loads each input as its parameter's type, calls the function and writes the result.
fn job_file(source: &str, sig: &Signature) -> String {
    let mut out = String::from(HEADER);
    out.push_str(source);
    out.push_str("\n\n// Generated by Veil.\nfn main() {\n");
    out.push_str("    use veil_jobs::{ViaKnown as _, ViaResult as _, ViaSerialize as _};\n");
    out.push_str("    veil_jobs::main(|job| {\n");
    let mut args = Vec::new();
    for (i, p) in sig.params.iter().enumerate() {
        out.push_str(&format!(
            "        let arg{i} = job.input({i}, {:?})?;\n",
            p.name
        ));
        args.push(format!("arg{i}"));
    }
    out.push_str(&format!(
        "        let value = {}({});\n        job.output((&&&veil_jobs::Out(value)).veil_output())\n    }});\n}}\n",
        sig.name,
        args.join(", ")
    ));
    out
}

/// rustc's messages, pointing into the submitted source (`name:LINE:COL`, and the margin's line
/// numbers) instead of the job file, without rustc's closing summary (the count, the `--explain`
/// advice), which said nothing about the code.
fn compile_errors(stderr: &str, bin: &str, name: &str) -> String {
    let header_lines = HEADER.lines().count();
    let mut out = Vec::new();
    for line in stderr.lines() {
        if line.starts_with("error: aborting due to")
            || line.starts_with("Some errors have detailed explanations")
            || line.starts_with("For more information about")
        {
            continue;
        }
        out.push(margin_line(&in_source(line, bin, name), header_lines));
    }
    out.join("\n").trim().to_string()
}

/// `line` with every `BIN.rs:LINE:` (the job file's) read as `NAME:LINE:` of the submitted source;
/// a place in the generated code is said to be there.
pub(crate) fn in_source(line: &str, bin: &str, name: &str) -> String {
    let header_lines = HEADER.lines().count();
    let file = format!("{bin}.rs:");
    let Some(at) = line.find(&file) else {
        return line.to_string();
    };
    let rest = &line[at + file.len()..];
    let (number, tail) = rest.split_once(':').unwrap_or((rest, ""));
    match number.parse::<usize>() {
        Ok(n) if n > header_lines && n <= header_lines + SOURCE_LINES_MAX => format!(
            "{}{name}:{}:{}",
            &line[..at],
            n - header_lines,
            in_source(tail, bin, name)
        ),
        _ => format!("{}{name} (generated code):{rest}", &line[..at]),
    }
}

/// `text` (what a job printed) with each place in its job file (`job_<hash>.rs:LINE:COL`, in a
/// panic's message) read as a place in the submitted function `name`.
pub(crate) fn in_job_source(text: &str, name: &str) -> String {
    text.lines()
        .map(|line| {
            let bin = line.find("job_").and_then(|at| {
                let hex = line[at + 4..]
                    .chars()
                    .take_while(char::is_ascii_hexdigit)
                    .count();
                line[at + 4 + hex..]
                    .starts_with(".rs:")
                    .then(|| &line[at..at + 4 + hex])
            });
            match bin {
                Some(bin) => in_source(line, bin, name),
                None => line.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// More lines than a submitted function may have (its source is bounded in bytes).
const SOURCE_LINES_MAX: usize = 1 << 20;

/// A line of rustc's margin (`6 |     x + 1`) numbered as the submitted source's lines.
fn margin_line(line: &str, header_lines: usize) -> String {
    let Some((number, rest)) = line.split_once(" |") else {
        return line.to_string();
    };
    match number.trim().parse::<usize>() {
        Ok(n) if n > header_lines && !number.trim().is_empty() => {
            let width = number.len();
            format!("{:>width$} |{rest}", n - header_lines)
        }
        _ => line.to_string(),
    }
}

/// Writes `contents` to `path` through a temporary file and a rename, unless it already holds them.
fn write_if_changed(path: &Path, contents: &str) -> Result<()> {
    if std::fs::read_to_string(path).ok().as_deref() == Some(contents) {
        return Ok(());
    }
    let parent = path.parent().expect("runner files are in a directory");
    std::fs::create_dir_all(parent).map_err(Error::io("creating the runner's files"))?;
    let tmp = parent.join(format!(".{}.tmp", uuid::Uuid::new_v4().simple()));
    std::fs::write(&tmp, contents).map_err(Error::io("writing the runner's files"))?;
    std::fs::rename(&tmp, path).map_err(Error::io("writing the runner's files"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_one_plain_function() {
        let sig = parse_function(
            "/// Docs.\nfn train(features: DataFrame, w: Array2<f64>, k: f64) -> Result<f64, String> { Ok(k) }",
        )
        .unwrap();
        assert_eq!(sig.name, "train");
        let params: Vec<(&str, &str)> = sig
            .params
            .iter()
            .map(|p| (p.name.as_str(), p.ty.as_str()))
            .collect();
        assert_eq!(
            params,
            [
                ("features", "DataFrame"),
                ("w", "Array2<f64>"),
                ("k", "f64")
            ]
        );
        assert_eq!(sig.output, "Result<f64, String>");
        assert_eq!(parse_function("fn f() {}").unwrap().output, "()");
    }

    #[test]
    fn refuses_what_is_not_one_plain_function() {
        for (source, problem) in [
            ("fn a() {} fn b() {}", "defines 2 items"),
            ("let x = 1;", "not valid Rust"),
            ("struct S;", "defines 1 items"),
            ("fn main() {}", "called `main`"),
            ("fn f<T>(x: T) {}", "generic"),
            ("async fn f() {}", "async"),
            ("unsafe fn f() {}", "unsafe"),
            ("fn f((a, b): (f64, f64)) {}", "pattern"),
            (
                "fn f() -> usize { include_bytes!(\"/etc/passwd\").len() }",
                "`include_bytes!`",
            ),
            (
                "fn f() -> &'static str { std::include_str!(\"x\") }",
                "`include_str!`",
            ),
            ("fn f() -> String { env!(\"HOME\").into() }", "`env!`"),
            (
                "fn f() -> String { use std::env as e; e!(\"HOME\").into() }",
                "`env!`",
            ),
            ("fn f() -> u8 { core::r#include!(\"/x\") }", "`include!`"),
            ("fn f() { mod m; }", "`mod m;`"),
            ("fn f() { #[path = \"/x.rs\"] mod m; }", "`#[path]`"),
            // Inline assembly reads files (`.incbin`, `.include`) while compiling.
            (
                "fn f() { core::arch::global_asm!(\".incbin \\\"/etc/passwd\\\"\"); }",
                "`global_asm!`",
            ),
            (
                "fn f() { use core::arch::asm as a; unsafe { a!(\"nop\") } }",
                "`asm!`",
            ),
            ("fn f() -> u8 { unsafe { *(8 as *const u8) } }", "`unsafe`"),
            (
                "fn f() { unsafe extern \"C\" { static X: u8; } }",
                "`unsafe`",
            ),
            ("fn f() { extern \"C\" { fn abort(); } }", "`extern`"),
            (
                "fn f() { #[debugger_visualizer(gdb_script_file = \"/etc/passwd\")] mod m {} }",
                "`#[debugger_visualizer]`",
            ),
            (
                "fn f() { #[cfg_attr(all(), path = \"/x.rs\")] mod m {} }",
                "`#[cfg_attr]`",
            ),
            ("#[link(name = \"c\")] fn f() {}", "`#[link]`"),
            (
                "fn f() { #![no_implicit_prelude] }",
                "`#[no_implicit_prelude]`",
            ),
            (
                "fn f() -> &'static str { macro_rules! m { ($n:ident) => { $n!(\"HOME\") } } m!(env) }",
                "`macro_rules!`",
            ),
        ] {
            let err = parse_function(source).unwrap_err().to_string();
            assert!(err.contains(problem), "{source}: {err}");
        }
    }

    #[test]
    fn docs_lints_and_derives_are_allowed() {
        let source = "/// Totals.\n#[must_use]\n#[allow(clippy::all)]\nfn f(x: f64) -> f64 {\n    #[derive(Debug)]\n    struct S;\n    let _ = S;\n    x\n}";
        assert_eq!(parse_function(source).unwrap().name, "f");
    }

    #[test]
    fn compile_errors_point_into_the_submitted_source() {
        let stderr = "error[E0308]: mismatched types\n --> job_ab.rs:4:9\n  |\n4 |     total\n  |     ^^^^^ expected `String`\n...\n12 |     x\n\nerror: aborting due to 1 previous error\n\nSome errors have detailed explanations: E0308, E0425.\nFor more information about an error, try `rustc --explain E0308`.";
        let text = compile_errors(stderr, "job_ab", "f");
        assert_eq!(
            text,
            "error[E0308]: mismatched types\n --> f:2:9\n  |\n2 |     total\n  |     ^^^^^ expected `String`\n...\n10 |     x"
        );
        // A panic's place, in what a run printed.
        assert_eq!(
            in_job_source(
                "thread 'main' panicked at job_0af.rs:5:6:\nindex out of bounds",
                "g"
            ),
            "thread 'main' panicked at g:3:6:\nindex out of bounds"
        );
        assert_eq!(
            in_source("at job_ab.rs:1:1", "job_ab", "f"),
            "at f (generated code):1:1"
        );
    }

    #[test]
    fn the_static_jobs_of_earlier_runners_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let runner = Runner::new(dir.path());
        let debug = dir.path().join("target/debug");
        std::fs::create_dir_all(debug.join("deps")).unwrap();
        std::fs::create_dir_all(dir.path().join("jobs/src/bin")).unwrap();
        for file in [
            "job_ab",
            "deps/job_ab-1234",
            "libveil_jobs.so",
            "deps/libpolars-1.rlib",
        ] {
            std::fs::write(debug.join(file), b"x").unwrap();
        }
        std::fs::write(dir.path().join("jobs/src/bin/job_ab.rs"), b"fn main() {}").unwrap();
        runner.remove_static_jobs();
        assert!(!debug.join("job_ab").exists());
        assert!(!debug.join("deps/job_ab-1234").exists());
        assert!(!dir.path().join("jobs/src/bin").exists());
        // The shared library and the dependencies stay.
        assert!(debug.join("libveil_jobs.so").exists());
        assert!(debug.join("deps/libpolars-1.rlib").exists());
    }

    #[test]
    fn a_binary_is_named_by_the_whole_digest_of_its_source() {
        let a = job_name("fn f(x: f64) -> f64 { x }");
        let b = job_name("fn f(x: f64) -> f64 { x } ");
        assert_ne!(a, b);
        // 256 bits: no two sources a scientist can find share a binary.
        let digest = a.strip_prefix("job_").unwrap();
        assert_eq!(digest.len(), 64, "{a}");
        assert!(digest.bytes().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn the_job_file_calls_the_function_with_each_input() {
        let sig = parse_function("fn f(a: DataFrame, b: f64) -> f64 { b }").unwrap();
        let file = job_file("fn f(a: DataFrame, b: f64) -> f64 { b }", &sig);
        assert!(file.starts_with(HEADER));
        assert!(file.contains("let arg1 = job.input(1, \"b\")?;"), "{file}");
        assert!(file.contains("let value = f(arg0, arg1);"), "{file}");
    }
}
