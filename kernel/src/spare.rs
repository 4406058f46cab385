//! The warm spare: the next kernel's Rust context, made ready before anyone asks for it.
//!
//! A fresh evcxr context spends most of ten seconds in rust-analyzer, loading the standard library's
//! sources and inferring the facade's types, and every new notebook paid it on its first cell. So a
//! kernel whose context is ready starts a spare once its shell has been quiet for
//! [`QUIET_BEFORE_SPARE`] (warming beside a running cell slows it), or as it stops: a detached
//! `veil-kernel --spare` process, with the kernel's environment and working directory, that
//! prepares everything a kernel has before its sockets (evcxr's context with the facade loaded, the
//! cell bridge) and then listens on `spare.sock` in the kernel cache directory.
//!
//! The next kernel Jupyter launches hands the spare its connection file's contents, working
//! directory and environment. The spare takes that directory and those variables, in its own
//! process and (by a cell of its own, run before the user's) in evcxr's, so a cell sees what a cold
//! kernel's would. Variables read as a kernel starts (the toolchain's `PATH`, `RUST*`, `CARGO*`,
//! `LD_*`, `HOME`, the cache's) cannot change that late, nor can the `veil-kernel` build the
//! spare runs: if they differ, the spare refuses and exits, and the kernel starts cold.
//! The launched process stays as the spare's stand-in, which is what Jupyter watches and kills:
//! when it dies the kernel the spare serves stops (landing its datasite), and when that kernel
//! stops the stand-in exits.
//!
//! A spare that served a kernel then serves the next one: it lands the session, drops every value
//! cells held, clears evcxr's context (`:clear`: variables, items and dependencies gone, the
//! process that runs cells restarted) and loads the facade again, in well under a second, since
//! rust-analyzer keeps the standard library it loaded. Notebooks run one after another so cost a
//! fresh context once, not once each. Not after a cell ran an evcxr command whose effect clearing
//! cannot undo (`:env` sets a variable in the serving process), nor after `MAX_KERNELS` (32)
//! kernels (what a long-lived process gathers stays bounded): a fresh spare takes over then.
//!
//! One spare at a time per cache directory (`spare.lock`); it warms at idle priority (`SCHED_IDLE`,
//! so it only takes CPU the running kernels leave), a kernel launched while a spare that can serve
//! it is still warming (or being cleared) raises it to normal priority and waits for it (20 s at
//! most) rather than start cold, and a spare exits after [`IDLE_ENV`] seconds unadopted (default
//! 1800), when its socket is removed, or when its `veil-kernel` is rebuilt or reinstalled.
//! `veil-kernel install` warms the Rust cells by starting the first spare ([`warm`]).
//! `VEIL_KERNEL_SPARE=off` turns spares off; `VEIL_KERNEL_SPARE=eager` is for notebooks run one
//! after another (as `scripts/tutorials.sh` does): a cold kernel starts the next one's spare as soon
//! as its context is ready, and an adopted one starts none, as it becomes the next spare itself.
//!
//! A handoff carries the kernel's connection key, and the spare runs cells as its user: the socket is
//! this user's alone (mode 0600), and each side checks the other's user (`SO_PEERCRED`) before it
//! sends or takes a handoff, so no other user can hand a spare a kernel or pose as one. A spare
//! serves kernels of that one user only, one after another, so clearing its state between them
//! keeps one notebook from the next as separate processes would (no two users share a spare).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use jupyter_protocol::ConnectionInfo;
use serde::{Deserialize, Serialize};

use crate::connection::NextSpare;
use crate::rust::Options;

/// `off` turns spares off: a kernel neither adopts one nor starts one.
pub const SPARE_ENV: &str = "VEIL_KERNEL_SPARE";
/// Seconds an unadopted spare waits before it exits.
pub const IDLE_ENV: &str = "VEIL_KERNEL_SPARE_SECS";
/// The socket a ready spare listens on, in the kernel cache directory.
pub const SOCKET: &str = "spare.sock";
const LOCK: &str = "spare.lock";
const DEFAULT_IDLE: Duration = Duration::from_secs(1800);
/// Kernels one spare process serves, one after another, before it leaves the next to a fresh one:
/// a bound on what a long-lived process gathers (rust-analyzer's caches grow with the cells it
/// sees: 550 MB resident fresh, 870 MB after 32 short notebooks). The last kernel starts the fresh
/// spare as soon as its context is ready, so the one after waits only for what is left of its
/// warming.
const MAX_KERNELS: usize = 32;
/// Longest a kernel waits for a spare still warming, rather than start cold.
const WAIT_FOR_WARMING: Duration = Duration::from_secs(20);

/// What a launched kernel sends the spare, as one line of JSON.
#[derive(Serialize, Deserialize)]
struct Handoff {
    connection: ConnectionInfo,
    cwd: PathBuf,
    env: BTreeMap<String, String>,
    /// The kernel's executable (see [`binary`]): a spare of another build does not serve it.
    #[serde(default)]
    binary: String,
}

/// The environment this process started with, before it set evcxr's variables: what a spare is
/// started with and compared against.
static STARTED_WITH: OnceLock<(BTreeMap<String, String>, PathBuf)> = OnceLock::new();

/// Records the environment and working directory; call first thing in `main`.
pub fn record_start() {
    started_with();
}

fn started_with() -> &'static (BTreeMap<String, String>, PathBuf) {
    STARTED_WITH.get_or_init(|| {
        let env = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        (env, std::env::current_dir().unwrap_or_default())
    })
}

/// Whether spares are on for this process.
pub fn enabled() -> bool {
    quiet_before(&started_with().0).is_some()
}

/// How long a kernel whose context is ready waits for its shell to be quiet before it starts the
/// next kernel's spare. A spare warming beside a running cell slows it, idle priority or not (they
/// share memory, caches and the machine's cores: a trivial cell took 326 ms against 282 ms beside a
/// busy loop at `SCHED_IDLE`), while a user between cells leaves the machine idle for seconds.
pub const QUIET_BEFORE_SPARE: Duration = Duration::from_secs(2);

/// When a kernel with environment `env` starts the next kernel's spare ([`SPARE_ENV`]): `None`
/// with `off` (and it adopts none); at once with `eager`, for notebooks run top to bottom one after
/// another, whose cells leave no quiet moment; otherwise after [`QUIET_BEFORE_SPARE`] of quiet (a
/// kernel that stops first starts it as it stops).
fn quiet_before(env: &BTreeMap<String, String>) -> Option<Duration> {
    match env
        .get(SPARE_ENV)
        .map(|v| v.to_ascii_lowercase())
        .as_deref()
    {
        Some("off") => None,
        Some("eager") => Some(Duration::ZERO),
        _ => Some(QUIET_BEFORE_SPARE),
    }
}

/// The spare this process starts for the next kernel: with the environment and directory it
/// started with. `None` when spares are off.
pub fn next(cache_dir: &Path) -> Option<NextSpare> {
    let (env, cwd) = started_with();
    next_with(cache_dir, env, cwd)
}

/// The spare a kernel with environment `env` and directory `cwd` starts for the next kernel.
fn next_with(cache_dir: &Path, env: &BTreeMap<String, String>, cwd: &Path) -> Option<NextSpare> {
    let (cache_dir, env, cwd) = (cache_dir.to_path_buf(), env.clone(), cwd.to_path_buf());
    Some(NextSpare {
        quiet: quiet_before(&env)?,
        start: Box::new(move || start(&cache_dir, &env, &cwd)),
    })
}

/// Variables read as a kernel starts (by evcxr's toolchain, or to find the cache and bridge): a
/// spare started with other values cannot serve.
fn fixed_at_start(name: &str) -> bool {
    [
        "PATH",
        "HOME",
        "TMPDIR",
        "XDG_CACHE_HOME",
        "VEIL_KERNEL_CACHE",
    ]
    .contains(&name)
        || ["RUST", "CARGO", "EVCXR", "LD_"]
            .iter()
            .any(|p| name.starts_with(p))
}

/// The variables fixed at start, as one line: two processes with the same one can share a spare.
fn toolchain_fingerprint() -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    binary().hash(&mut hasher);
    for (name, value) in &started_with().0 {
        if fixed_at_start(name) {
            (name, value).hash(&mut hasher);
        }
    }
    format!("{:016x}", hasher.finish())
}

/// Which file this process runs (device, inode, modification time): a rebuilt or reinstalled
/// `veil-kernel` is another file, while a spare started before keeps running the one it was.
fn binary() -> String {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self/exe")
        .map(|m| format!("{}:{}:{}.{}", m.dev(), m.ino(), m.mtime(), m.mtime_nsec()))
        .unwrap_or_default()
}

/// Whether the file this process was started from is gone: replaced by a rebuild or a reinstall
/// (the old one lives on, unlinked, while something runs it).
fn binary_replaced() -> bool {
    std::fs::read_link("/proc/self/exe")
        .is_ok_and(|path| path.to_string_lossy().ends_with(" (deleted)"))
}

/// The pid of a spare that can serve this process and is warming in `cache_dir` (it holds the lock
/// and wrote its pid and this process's toolchain fingerprint in it), if there is one.
fn warming_for_us(cache_dir: &Path) -> Option<u32> {
    let path = cache_dir.join(LOCK);
    let file = File::open(&path).ok()?;
    if file.try_lock_shared().is_ok() {
        return None; // nobody holds it: no spare
    }
    let text = std::fs::read_to_string(&path).ok()?;
    let (pid, fingerprint) = text.split_once(' ')?;
    (fingerprint == toolchain_fingerprint())
        .then(|| pid.parse().ok())
        .flatten()
}

/// What a spare started with `ours` changes to serve a kernel started with `theirs`: the
/// variables to set and unset, and the working directory, in its own process and in evcxr's.
#[derive(Debug, Default, PartialEq)]
struct Changes {
    set: Vec<(String, String)>,
    unset: Vec<String>,
    cwd: Option<PathBuf>,
}

impl Changes {
    /// The changes, or why there can be none (a variable fixed at start differs).
    fn between(
        ours: &(BTreeMap<String, String>, PathBuf),
        theirs: (&BTreeMap<String, String>, &Path),
    ) -> Result<Changes, String> {
        let mut changes = Changes {
            cwd: (ours.1 != theirs.1).then(|| theirs.1.to_path_buf()),
            ..Changes::default()
        };
        let names: std::collections::BTreeSet<&String> =
            ours.0.keys().chain(theirs.0.keys()).collect();
        let mut fixed = Vec::new();
        for name in names {
            match (ours.0.get(name), theirs.0.get(name)) {
                (a, b) if a == b => continue,
                _ if fixed_at_start(name) => fixed.push(name.as_str()),
                (_, Some(value)) => changes.set.push((name.clone(), value.clone())),
                (_, None) => changes.unset.push(name.clone()),
            }
        }
        if fixed.is_empty() {
            Ok(changes)
        } else {
            Err(format!(
                "the kernel's {} differ from the spare's, and are read as a kernel starts",
                fixed.join(", ")
            ))
        }
    }

    fn is_empty(&self) -> bool {
        *self == Changes::default()
    }

    /// A cell making the changes in evcxr's process.
    fn cell(&self) -> String {
        // `unsafe` for edition 2024's `set_var`; evcxr's cells may be older, where it only warns.
        let mut cell = String::from("unsafe {\n");
        for (name, value) in &self.set {
            cell.push_str(&format!("    std::env::set_var({name:?}, {value:?});\n"));
        }
        for name in &self.unset {
            cell.push_str(&format!("    std::env::remove_var({name:?});\n"));
        }
        cell.push_str("}\n");
        if let Some(cwd) = &self.cwd {
            cell.push_str(&format!(
                "let _ = std::env::set_current_dir({:?});\n",
                cwd.to_string_lossy()
            ));
        }
        cell
    }

    /// Makes the changes in this process.
    fn apply(&self) -> std::io::Result<()> {
        #[allow(unsafe_code)]
        // SAFETY: the spare is idle while it is adopted: its threads wait on channels and sockets,
        // and none reads the environment until the kernel serves.
        unsafe {
            for (name, value) in &self.set {
                std::env::set_var(name, value);
            }
            for name in &self.unset {
                std::env::remove_var(name);
            }
        }
        match &self.cwd {
            Some(cwd) => std::env::set_current_dir(cwd),
            None => Ok(()),
        }
    }
}

/// Hands `connection` to the ready spare in `cache_dir`, if one takes it: then this process is its
/// stand-in, and this returns once the kernel it serves has stopped. `Ok(false)` when there is none or it
/// refused (the caller starts cold).
pub fn adopt(cache_dir: &Path, connection: &ConnectionInfo) -> Result<bool> {
    if !enabled() {
        return Ok(false);
    }
    let socket = cache_dir.join(SOCKET);
    let mut connected = UnixStream::connect(&socket);
    // A spare still warming for this toolchain finishes sooner than a cold start would, the more so
    // as this kernel leaves it the CPU while it waits.
    if connected.is_err()
        && let Some(pid) = warming_for_us(cache_dir)
    {
        // Warming at idle priority, it would wait for any other work there is: now a kernel waits
        // for it, so it runs at this kernel's priority.
        schedule_all(pid, libc::SCHED_OTHER);
        let waiting = Instant::now();
        while connected.is_err()
            && warming_for_us(cache_dir).is_some()
            && waiting.elapsed() < WAIT_FOR_WARMING
        {
            std::thread::sleep(Duration::from_millis(100));
            connected = UnixStream::connect(&socket);
        }
    }
    let Ok(mut stream) = connected else {
        return Ok(false);
    };
    if !peer_is_us(&stream) {
        eprintln!(
            "veil-kernel: {} is served by another user; starting cold",
            socket.display()
        );
        return Ok(false);
    }
    let (env, cwd) = started_with();
    let handoff = Handoff {
        connection: connection.clone(),
        cwd: cwd.clone(),
        env: env.clone(),
        binary: binary(),
    };
    let mut line = serde_json::to_vec(&handoff)?;
    line.push(b'\n');
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    if stream.write_all(&line).is_err() {
        return Ok(false);
    }
    let mut reader = BufReader::new(stream);
    let mut answer = String::new();
    reader.read_line(&mut answer).ok();
    if answer.trim() != "ok" {
        eprintln!(
            "veil-kernel: the warm spare declined ({}); starting cold",
            answer.trim()
        );
        return Ok(false);
    }
    eprintln!("veil-kernel: serving through a warm spare");
    // The spare serves until its kernel stops, and then closes the stream.
    let stream = reader.into_inner();
    stream.set_read_timeout(None)?;
    let _ = std::io::copy(&mut &stream, &mut std::io::sink());
    Ok(true)
}

/// Starts a spare for the next kernel, detached, with environment `env` and directory `cwd`. Its
/// output goes to `spare.log` in the cache directory.
fn start(cache_dir: &Path, env: &BTreeMap<String, String>, cwd: &Path) {
    match spawn(cache_dir, env, cwd) {
        // Reaped in the background, so an exited spare leaves no zombie while this kernel lives.
        Ok(mut child) => {
            std::thread::spawn(move || child.wait());
        }
        Err(e) => eprintln!("veil-kernel: could not start a warm spare: {e}"),
    }
}

/// [`start`], returning the spare's process.
fn spawn(
    cache_dir: &Path,
    env: &BTreeMap<String, String>,
    cwd: &Path,
) -> std::io::Result<std::process::Child> {
    let exe = std::env::current_exe()?;
    // Never the kernel's own stderr: a spare outlives it and must not hold its reader's pipe open.
    let log = File::options()
        .create(true)
        .append(true)
        .open(cache_dir.join("spare.log"))
        .map_or_else(|_| std::process::Stdio::null(), std::process::Stdio::from);
    std::process::Command::new(exe)
        .arg("--spare")
        .env_clear()
        .envs(env)
        .current_dir(cwd)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(log)
        // Its own process group: a signal to the kernel's group does not reach it.
        .process_group(0)
        .spawn()
}

/// `veil-kernel install`'s warm-up when spares are on: starts the first spare, with this
/// process's environment and directory, and waits until it is ready. Its start-up compiles the
/// facade (the warm-up a kernel would otherwise pay) and leaves a ready context that the first
/// kernel Jupyter launches within [`IDLE_ENV`] seconds adopts, if it runs with the same
/// toolchain variables. `Ok(None)` when spares are off, or when no spare of this build became
/// ready (the caller then warms in its own process, which reports any error).
pub fn warm(options: &Options) -> Result<Option<String>> {
    if !enabled() {
        return Ok(None);
    }
    let started = Instant::now();
    std::fs::create_dir_all(&options.cache_dir)
        .with_context(|| format!("creating {}", options.cache_dir.display()))?;
    let (env, cwd) = started_with();
    let mut spare = spawn(&options.cache_dir, env, cwd).context("starting a warm spare")?;
    let socket = options.cache_dir.join(SOCKET);
    let ready = |pid: u32| {
        // This build's, ready: it holds the lock with its pid and listens.
        warming_for_us(&options.cache_dir) == Some(pid) && UnixStream::connect(&socket).is_ok()
    };
    loop {
        if ready(spare.id()) {
            break;
        }
        if spare.try_wait()?.is_some() {
            // Another spare has the lock: enough if it is this build's and ready.
            match warming_for_us(&options.cache_dir) {
                Some(other) if ready(other) => break,
                _ => return Ok(None),
            }
        }
        // Somebody waits for it now: it runs at normal priority, not on leftover CPU.
        schedule_all(spare.id(), libc::SCHED_OTHER);
        std::thread::sleep(Duration::from_millis(200));
    }
    // Install exits next: the spare lives on, reparented, for the first kernel.
    drop(spare);
    Ok(Some(format!(
        "warmed the Rust cell toolchain in {:.1} s and left a warm spare for the next kernel (cache: {})",
        started.elapsed().as_secs_f64(),
        options.cache_dir.display()
    )))
}

/// Sets the scheduling policy of thread `tid` (0: the calling thread). Any user may move a thread
/// between `SCHED_IDLE` and `SCHED_OTHER` at its nice value, so a spare's priority comes back whole.
fn schedule(tid: i32, policy: libc::c_int) {
    let param = libc::sched_param { sched_priority: 0 };
    #[allow(unsafe_code)]
    // SAFETY: `param` is a valid sched_param for the call's duration.
    let failed = unsafe { libc::sched_setscheduler(tid, policy, &param) } != 0;
    if failed {
        eprintln!(
            "veil-kernel: could not set thread {tid}'s scheduling policy: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// [`schedule`] for every thread of process `pid` (Linux schedules threads, not processes).
fn schedule_all(pid: u32, policy: libc::c_int) {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return;
    };
    for task in tasks.flatten() {
        if let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok()) {
            schedule(tid, policy);
        }
    }
}

/// Whether the process at the other end of `stream` runs as this process's user. A handoff carries
/// a kernel's connection key, and adopting one runs cells as this user: neither crosses users.
fn peer_is_us(stream: &UnixStream) -> bool {
    use std::os::fd::AsRawFd;
    let mut cred = libc::ucred {
        pid: 0,
        uid: u32::MAX,
        gid: u32::MAX,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    #[allow(unsafe_code)]
    // SAFETY: `cred` and `len` are valid for writes of a `ucred`, which SO_PEERCRED fills.
    let read = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    } == 0;
    #[allow(unsafe_code)]
    // SAFETY: geteuid cannot fail.
    let us = unsafe { libc::geteuid() };
    read && cred.uid == us
}

/// The handoff a connection sends, if it sends one within a few seconds.
fn read_handoff(stream: &UnixStream) -> Option<Handoff> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).ok()?;
    serde_json::from_str(&line).ok()
}

/// `veil-kernel --spare`: prepares a kernel, waits to be adopted, serves as it, then (its context
/// recycled) waits for the next one.
pub fn run(options: &Options) -> Result<()> {
    // Its kernel made the cache: if it is gone (removed as that kernel stopped, as scripts/test.sh
    // removes its own), there is no kernel to warm for, and making it again would leave it behind.
    let Some(mut lock) = take_lock(&options.cache_dir)? else {
        return Ok(()); // another spare is warming or waiting, or the cache is gone
    };
    // Warming competes with the kernel that started it: it runs only on CPU nobody else wants.
    // Set before any thread or child exists, so all of them inherit it.
    schedule(0, libc::SCHED_IDLE);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (runtime, mut prepared) = crate::connection::prepare(options, move || {
        let _ = ready_tx.send(());
    })?;
    if ready_rx.recv().is_err() {
        anyhow::bail!("evcxr did not start");
    }
    runtime.block_on(prepared.warm_up());
    // The environment and directory this process has: its own, then those of each kernel it served.
    let mut current = started_with().clone();
    let mut kernels = 0;
    loop {
        kernels += 1;
        let Some((stream, handoff)) = wait_for_kernel(&options.cache_dir)? else {
            return Ok(()); // nobody came, or the cache is gone
        };
        let changes = if handoff.binary != binary() {
            Err("the kernel runs another veil-kernel build (rebuilt or reinstalled since this spare started)".to_string())
        } else {
            Changes::between(&current, (&handoff.env, &handoff.cwd))
        };
        let changes = match changes {
            Ok(changes) => changes,
            Err(why) => {
                let _ = (&stream).write_all(format!("{why}\n").as_bytes());
                return Ok(()); // exits, so the kernel's own spare can start with its environment
            }
        };
        if !changes.is_empty() {
            changes
                .apply()
                .context("taking the kernel's working directory")?;
            // Queued before any request can be: the first cell already sees them.
            prepared.prelude(changes.cell());
        }
        drop(lock); // the next spare may start
        // A kernel serves at normal priority: every thread of this process and of evcxr's.
        schedule_all(std::process::id(), libc::SCHED_OTHER);
        if let Some(child) = prepared.child_pid() {
            schedule_all(child, libc::SCHED_OTHER);
        }
        (&stream).write_all(b"ok\n")?;
        stream.set_read_timeout(None)?;
        // The stand-in's end closing (it was killed, or exited) stops this kernel.
        let (gone_tx, gone_rx) = tokio::sync::oneshot::channel();
        let watched = stream.try_clone()?;
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut &watched, &mut std::io::sink());
            let _ = gone_tx.send(());
        });
        let stop = async {
            let _ = gone_rx.await;
        };
        // The next spare starts as the launched kernel's would: with its environment. Run back to
        // back (eager), this process becomes it as this kernel stops, sooner than a fresh one
        // would warm beside the cells; a fresh one starts then only if it cannot (and at once for
        // the last kernel this process serves).
        let mut next = next_with(&options.cache_dir, &handoff.env, &handoff.cwd);
        if let Some(next) = &mut next
            && next.quiet.is_zero()
            && kernels < MAX_KERNELS
        {
            next.quiet = Duration::MAX;
        }
        let served = runtime.block_on(prepared.serve(handoff.connection, stop, &mut next));
        current = (handoff.env, handoff.cwd);
        // Taken before the stand-in exits: the kernel launched next waits for this spare.
        let again = match served {
            Ok(()) if kernels < MAX_KERNELS => take_lock(&options.cache_dir)?,
            _ => None,
        };
        // The stand-in (and the watching thread) read the end of the stream and exit.
        let _ = stream.shutdown(std::net::Shutdown::Both);
        drop(stream);
        if let Some(taken) = again {
            lock = taken;
            match runtime.block_on(prepared.recycle()) {
                Ok(()) => continue,
                Err(e) => {
                    eprintln!("veil-kernel: not serving another kernel: {e:#}");
                    drop(lock);
                }
            }
        }
        prepared.start_next_spare(next);
        return served;
    }
}

/// Takes the spare lock in `cache_dir` and writes this process's pid and toolchain fingerprint in
/// it (what a kernel deciding whether to wait for it reads); `None` if another spare has it or the
/// cache is gone.
fn take_lock(cache_dir: &Path) -> Result<Option<File>> {
    if !cache_dir.is_dir() {
        return Ok(None);
    }
    // Not truncated until it is ours: it holds the fingerprint of the spare that has it.
    let mut lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(cache_dir.join(LOCK))?;
    if lock.try_lock().is_err() {
        return Ok(None);
    }
    lock.set_len(0)?;
    lock.write_all(format!("{} {}", std::process::id(), toolchain_fingerprint()).as_bytes())?;
    Ok(Some(lock))
}

/// Listens on [`SOCKET`] in `cache_dir` until a kernel of this user hands itself over; `None` once
/// nobody came for [`IDLE_ENV`] seconds, the socket was removed (with the cache, or by another
/// spare taking the name), or this spare's `veil-kernel` was rebuilt or reinstalled.
fn wait_for_kernel(cache_dir: &Path) -> Result<Option<(UnixStream, Handoff)>> {
    let socket = cache_dir.join(SOCKET);
    let _ = std::fs::remove_file(&socket); // a dead spare's; the lock says none is alive
    let listener = UnixListener::bind(&socket)
        .with_context(|| format!("listening on {}", socket.display()))?;
    // Only this user may connect (and a connection from anyone else is dropped all the same).
    std::fs::set_permissions(&socket, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    listener.set_nonblocking(true)?;
    let idle = std::env::var(IDLE_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(DEFAULT_IDLE, Duration::from_secs);
    let since = Instant::now();
    let inode = |path: &Path| {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).ok().map(|m| m.ino())
    };
    let bound = inode(&socket);
    loop {
        match listener.accept() {
            // A connection that sends no handoff (a probe, a kernel that died) is not a kernel.
            Ok((stream, _)) => match read_handoff(&stream) {
                Some(handoff) if peer_is_us(&stream) => {
                    // Taken: the next kernel must not find this spare.
                    let _ = std::fs::remove_file(&socket);
                    return Ok(Some((stream, handoff)));
                }
                _ => continue,
            },
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => {
                let _ = std::fs::remove_file(&socket);
                return Err(e).context("waiting for a kernel");
            }
        }
        if inode(&socket) != bound {
            return Ok(None);
        }
        if binary_replaced() {
            let _ = std::fs::remove_file(&socket);
            return Ok(None); // no kernel launched from now on could use it
        }
        if since.elapsed() > idle {
            let _ = std::fs::remove_file(&socket);
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Spares are off, eager, or wait for a quiet shell, as `VEIL_KERNEL_SPARE` says.
    #[test]
    fn the_spare_setting_says_when_the_next_spare_starts() {
        let when = |value: Option<&str>| {
            let env = env(&value
                .map(|v| (SPARE_ENV, v))
                .into_iter()
                .collect::<Vec<_>>());
            next_with(Path::new("/nonexistent"), &env, Path::new("/")).map(|next| next.quiet)
        };
        assert_eq!(when(Some("OFF")), None);
        assert_eq!(when(Some("eager")), Some(Duration::ZERO));
        assert_eq!(when(None), Some(QUIET_BEFORE_SPARE));
        assert_eq!(when(Some("on")), Some(QUIET_BEFORE_SPARE));
    }

    /// A handoff from another user would run cells as this one: the check tells users apart.
    #[test]
    fn only_this_users_processes_pass_the_peer_check() {
        let (a, _b) = UnixStream::pair().unwrap();
        assert!(peer_is_us(&a));
        #[allow(unsafe_code)]
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("not root: cannot start a process as another user to check the refusal");
            return;
        }
        use std::os::unix::fs::PermissionsExt;
        use std::os::unix::process::CommandExt;
        let dir = tempfile::Builder::new().tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = dir.path().join("open.sock");
        let listener = UnixListener::bind(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
        let mut other = std::process::Command::new("python3")
            .args([
                "-c",
                "import socket, sys; s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.recv(1)",
            ])
            .arg(&path)
            .uid(65534)
            .spawn()
            .unwrap();
        let (stream, _) = listener.accept().unwrap();
        assert!(!peer_is_us(&stream), "a process of user 65534 passed");
        drop(stream);
        other.wait().unwrap();
    }

    #[test]
    fn a_spare_takes_a_kernels_variables_and_directory_but_not_its_toolchain() {
        let ours = (
            env(&[("HOME", "/h"), ("VEIL_HOME", "/a"), ("OLD", "1")]),
            PathBuf::from("/n"),
        );
        let theirs = env(&[
            ("HOME", "/h"),
            ("VEIL_HOME", "/b"),
            ("JPY_SESSION_NAME", "x"),
        ]);
        let changes = Changes::between(&ours, (&theirs, Path::new("/n"))).unwrap();
        assert_eq!(
            changes.set,
            [
                ("JPY_SESSION_NAME".to_string(), "x".to_string()),
                ("VEIL_HOME".to_string(), "/b".to_string())
            ]
        );
        assert_eq!(changes.unset, ["OLD"]);
        assert_eq!(changes.cwd, None);
        let cell = changes.cell();
        assert!(
            cell.contains(r#"std::env::set_var("VEIL_HOME", "/b");"#),
            "{cell}"
        );
        assert!(cell.contains(r#"std::env::remove_var("OLD");"#), "{cell}");

        let elsewhere = Changes::between(&ours, (&ours.0, Path::new("/m \"q\""))).unwrap();
        assert!(elsewhere.set.is_empty() && elsewhere.unset.is_empty());
        assert!(
            elsewhere
                .cell()
                .contains(r#"std::env::set_current_dir("/m \"q\"")"#),
            "{}",
            elsewhere.cell()
        );
        assert!(
            Changes::between(&ours, (&ours.0, Path::new("/n")))
                .unwrap()
                .is_empty()
        );

        let toolchain = env(&[
            ("HOME", "/h"),
            ("VEIL_HOME", "/a"),
            ("OLD", "1"),
            ("RUSTFLAGS", "-O"),
        ]);
        let why = Changes::between(&ours, (&toolchain, Path::new("/n"))).unwrap_err();
        assert!(why.contains("RUSTFLAGS"), "{why}");
    }
}
