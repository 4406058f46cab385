//! The code runner: compiles a submitted function against a prebuilt dependency set and runs it in a
//! limited child process.
//!
//! A runner owns a directory (`$VEIL_RUNNER_DIR`, or `veil/runner` in the user cache directory):
//! - `jobs/` is a cargo package, `veil-jobs`, whose library (`runtime/runner/lib.rs`, embedded here)
//!   loads inputs and writes outputs, and which depends on polars (Parquet), ndarray, serde and
//!   serde_json. [`Runner::warm`] builds those dependencies once, so a function compiles in seconds.
//! - `jobs/src/bin/job_<hash>.rs` is one submitted function, after `use veil_jobs::prelude::*;` and
//!   before a generated `main`; the hash covers the source and the support library, so a binary is
//!   compiled once and reused by every run of the same code.
//! - `target/` is the package's target directory. Cargo's lock on it serialises concurrent builds,
//!   from threads or processes.
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
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
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
use jail::{JOB_INSIDE, Jail, TempDir, jail_works, sandbox};
pub use source::{Param, Signature, parse_function};

/// The environment variable naming the runner's directory.
pub const RUNNER_DIR_ENV: &str = "VEIL_RUNNER_DIR";

/// Longest a submitted function may take to compile (its dependencies, built once beforehand by
/// [`Runner::warm`], are not counted).
pub const COMPILE_WALL: Duration = Duration::from_secs(300);

/// The support library, compiled into every job.
const SUPPORT_LIB: &str = include_str!("../runner/lib.rs");

/// The job package's manifest. Versions are those the workspace locks, so a machine that built Veil
/// has them in its registry cache and the runner can resolve offline.
const MANIFEST: &str = r#"# Written by the Veil datasite: the package submitted code is compiled in.
[package]
name = "veil-jobs"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
path = "src/lib.rs"

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
    compile_wall: Duration,
}

impl Runner {
    /// A runner keeping its package and builds in `dir`; a compile may take [`COMPILE_WALL`].
    pub fn new(dir: impl Into<PathBuf>) -> Runner {
        Runner {
            dir: dir.into(),
            compile_wall: COMPILE_WALL,
        }
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

    /// Writes the job package and builds its dependencies, so later runs compile only the function.
    /// Idempotent, and safe from several processes at once.
    pub fn warm(&self) -> Result<()> {
        self.prepare()?;
        let out = self.cargo(&["build", "--offline", "--lib"])?;
        if !out.status.success() {
            return Err(Error::Runner(format!(
                "building the code runner's dependencies in {} failed:\n{}",
                self.jobs().display(),
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        std::fs::write(self.warmed_marker(), job_name(""))
            .map_err(Error::io("marking the code runner built"))
    }

    /// Written by [`Runner::warm`] with the digest of what it built: a compile whose dependencies
    /// are not built yet builds them first, without the compile's deadline.
    fn warmed_marker(&self) -> PathBuf {
        self.jobs().join(".warmed")
    }

    fn is_warm(&self) -> bool {
        std::fs::read_to_string(self.warmed_marker()).is_ok_and(|d| d == job_name(""))
    }

    /// Writes the package's files (only those that changed, so cargo's fingerprints hold) and its
    /// lock file.
    fn prepare(&self) -> Result<()> {
        let jobs = self.jobs();
        write_if_changed(&jobs.join("Cargo.toml"), MANIFEST)?;
        write_if_changed(&jobs.join("src/lib.rs"), SUPPORT_LIB)?;
        std::fs::create_dir_all(jobs.join("src/bin")).map_err(Error::io("creating the runner"))?;
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
        let mut cmd = Command::new(&cargo);
        cmd.args(args)
            .current_dir(self.jobs())
            .env_clear()
            .env("CARGO_TARGET_DIR", self.target())
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
        let binary = match self.compile(source, sig)? {
            Ok(binary) => binary,
            Err(failure) => return Ok(Err(failure)),
        };
        let work = TempDir::new()?;
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
        let finished = execute(&binary, &work.0, limits)?;
        Ok(classify(finished, &work.0, limits, &sig.name))
    }

    /// The job binary for `source`, compiled if needed.
    fn compile(
        &self,
        source: &str,
        sig: &Signature,
    ) -> Result<std::result::Result<PathBuf, RunFailure>> {
        let bin = job_name(source);
        let binary = self.target().join("debug").join(&bin);
        if binary.exists() {
            return Ok(Ok(binary));
        }
        if self.is_warm() {
            self.prepare()?;
        } else {
            self.warm()?;
        }
        let file = self.jobs().join("src/bin").join(format!("{bin}.rs"));
        write_if_changed(&file, &job_file(source, sig))?;
        let args = [
            "build",
            "--offline",
            "--quiet",
            "--color=never",
            "--bin",
            &bin,
        ];
        // Submitted code may make the compiler loop (`#[allow(long_running_const_eval)]`) while it
        // holds the runner's build lock: every compile has a deadline.
        let out = exec::supervise(
            &mut self.cargo_command(&args),
            self.compile_wall,
            "the compiler",
        )?;
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
        if out.status.success() && binary.exists() {
            return Ok(Ok(binary));
        }
        let stderr = &out.stderr;
        if !stderr.contains(&format!("src/bin/{bin}.rs")) {
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

    /// Whether runs are isolated: each in its own network namespace (so no network at all) and its
    /// own mount namespace whose root holds only the system's read-only `/usr` (and its `/lib`,
    /// `/bin` links), its work directory as `/work` and its binary as `/job`, so it sees no file of the
    /// datasite, the runner or the user. A probe run, jailed the way runs are, tells; checked once.
    pub fn isolated(&self) -> bool {
        jail_works()
    }
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

/// rustc's messages, pointing into the submitted source (`name:LINE:COL`) instead of the job file,
/// without cargo's summary lines.
fn compile_errors(stderr: &str, bin: &str, name: &str) -> String {
    let header_lines = HEADER.lines().count();
    let file = format!("src/bin/{bin}.rs:");
    let mut out = Vec::new();
    for line in stderr.lines() {
        if line.starts_with("error: could not compile") || line.starts_with("warning: build failed")
        {
            continue;
        }
        match line.find(&file) {
            Some(at) => {
                let rest = &line[at + file.len()..];
                let mut parts = rest.splitn(2, ':');
                let line_no = parts.next().and_then(|n| n.parse::<usize>().ok());
                let tail = parts.next().unwrap_or_default();
                match line_no {
                    Some(n) if n > header_lines => {
                        out.push(format!("{}{name}:{}:{tail}", &line[..at], n - header_lines))
                    }
                    _ => out.push(format!("{}{name} (generated code):{rest}", &line[..at])),
                }
            }
            None => out.push(line.to_string()),
        }
    }
    out.join("\n").trim().to_string()
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
        let stderr = "error[E0308]: mismatched types\n --> src/bin/job_ab.rs:4:9\n  |\nerror: could not compile `veil-jobs`";
        let text = compile_errors(stderr, "job_ab", "f");
        assert_eq!(text, "error[E0308]: mismatched types\n --> f:2:9\n  |");
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
