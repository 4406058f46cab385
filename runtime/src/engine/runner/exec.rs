//! A compiled job's run: the child process (jailed where the host allows), its limits and wall
//! clock, what it printed, and how its end is told apart (a result, a panic, a limit, a crash).

use super::*;

/// How a child ended.
pub(super) struct Finished {
    pub(super) status: std::process::ExitStatus,
    pub(super) timed_out: bool,
    stdout: String,
    pub(super) stderr: String,
}

/// The last `TAIL` bytes of what a child printed are kept.
const TAIL: usize = 64 * 1024;

/// Runs `binary` in `dir`, loading its shared libraries from `lib` only.
pub(super) fn execute(binary: &Path, dir: &Path, lib: &Path, limits: &Limits) -> Result<Finished> {
    guard_datasite_memory();
    let jail = jail_works()
        .then(|| Jail::new(binary, dir, Some(lib)))
        .transpose()?;
    let (program, lib) = match jail {
        Some(_) => (Path::new(JOB_INSIDE), Path::new(LIB_INSIDE)),
        None => (binary, lib),
    };
    let mut cmd = Command::new(program);
    cmd.current_dir(dir)
        .env_clear()
        .env("RUST_BACKTRACE", "0")
        .env("LD_LIBRARY_PATH", lib)
        .stdin(Stdio::null());
    // The jail's directory lives until the run ends.
    let (mounts, _root) = jail.map(|j| (j.mounts, j._root)).unzip();
    sandbox(&mut cmd, limits, mounts);
    supervise(&mut cmd, limits.wall, &binary.display().to_string())
}

/// Makes this process (the datasite's, which holds every asset's real data) undumpable before the
/// first run starts: a run is the datasite's user, and code that escaped the language's rules could
/// otherwise attach to it or read its memory through /proc, wherever ptrace is not restricted.
fn guard_datasite_memory() {
    static GUARDED: OnceLock<()> = OnceLock::new();
    GUARDED.get_or_init(|| {
        #[allow(unsafe_code)]
        // SAFETY: prctl(PR_SET_DUMPABLE, 0) takes integers and changes only this process's flag.
        let rc = unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
        if rc != 0 {
            eprintln!(
                "veil: could not make the datasite's process undumpable: {}",
                std::io::Error::last_os_error()
            );
        }
    });
}

/// Runs `cmd` (piped output, in a process group of its own) for at most `wall`, then kills its
/// whole group: what it started ends with it.
pub(super) fn supervise(cmd: &mut Command, wall: Duration, what: &str) -> Result<Finished> {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    // A binary just written may still be open for writing in a child another thread forked
    // before that child's exec closed it: exec then fails with "text file busy" for that moment.
    let mut tries = 0;
    let mut child = loop {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && tries < 50 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            other => break other.map_err(|e| Error::Runner(format!("starting {what}: {e}")))?,
        }
    };
    // Readers send what they kept; a process the job left behind (in a session of its own, out of
    // reach of the group kill) may hold the pipes open, so they are waited for only briefly.
    let tail = |mut r: Box<dyn Read + Send>| {
        let (send, kept) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut kept: Vec<u8> = Vec::new();
            let mut buf = [0u8; 8192];
            while let Ok(n) = r.read(&mut buf) {
                if n == 0 {
                    break;
                }
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > 2 * TAIL {
                    kept.drain(..kept.len() - TAIL);
                }
            }
            let start = kept.len().saturating_sub(TAIL);
            let _ = send.send(String::from_utf8_lossy(&kept[start..]).into_owned());
        });
        kept
    };
    let out = tail(Box::new(child.stdout.take().expect("piped")));
    let err = tail(Box::new(child.stderr.take().expect("piped")));
    let deadline = Instant::now() + wall;
    let pid = child.id() as libc::pid_t;
    let timed_out = loop {
        // Wait without reaping: while the child is a zombie its pid, which is its group's id, cannot
        // be reused, so the group kill below reaches only what the job started.
        #[allow(unsafe_code)]
        // SAFETY: waitid writes into the zeroed siginfo we own.
        let exited = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
            if libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, flags) != 0 {
                let e = std::io::Error::last_os_error();
                return Err(Error::Runner(format!("waiting for {what}: {e}")));
            }
            info.si_pid() != 0
        };
        if exited {
            break false;
        }
        if Instant::now() >= deadline {
            break true;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    // The whole group, every time: the function may have started processes of its own.
    #[allow(unsafe_code)]
    // SAFETY: kill(2) with a negative pid signals the child's own process group.
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
    }
    let status = child
        .wait()
        .map_err(|e| Error::Runner(format!("waiting for {what}: {e}")))?;
    let grace = Duration::from_secs(1);
    Ok(Finished {
        status,
        timed_out,
        stdout: out.recv_timeout(grace).unwrap_or_default(),
        stderr: err.recv_timeout(grace).unwrap_or_default(),
    })
}

pub(super) fn classify(
    f: Finished,
    dir: &Path,
    limits: &Limits,
    name: &str,
) -> std::result::Result<Data, RunFailure> {
    let printed = |f: &Finished| {
        let mut text = String::new();
        if !f.stderr.trim().is_empty() {
            let stderr = super::in_job_source(f.stderr.trim_end(), name);
            text.push_str(&format!("\nstderr:\n{stderr}"));
        }
        if !f.stdout.trim().is_empty() {
            text.push_str(&format!("\nstdout:\n{}", f.stdout.trim_end()));
        }
        text
    };
    let fail = |kind: FailureKind, what: String, public: String| {
        Err(RunFailure {
            kind,
            detail: format!("`{name}` {what}{}", printed(&f)),
            public: format!("`{name}` {public}"),
        })
    };
    let secs = |d: Duration| d.as_secs_f64();
    if f.timed_out {
        return fail(
            FailureKind::WallTime,
            format!(
                "ran past its wall-time limit of {:.0} s and was stopped",
                secs(limits.wall)
            ),
            format!(
                "ran past its wall-time limit of {:.0} s and was stopped",
                secs(limits.wall)
            ),
        );
    }
    if let Some(signal) = f.status.signal() {
        let out_of_memory = f.stderr.contains("memory allocation of");
        return match signal {
            libc::SIGXCPU | libc::SIGKILL => fail(
                FailureKind::CpuTime,
                format!("used up its CPU time limit of {:.0} s", secs(limits.cpu)),
                format!("used up its CPU time limit of {:.0} s", secs(limits.cpu)),
            ),
            // RLIMIT_FSIZE: a file (its result, or any other) past the largest result.
            libc::SIGXFSZ => fail(
                FailureKind::OutputTooLarge,
                format!(
                    "wrote a file past the {} MiB limit",
                    limits.output_bytes >> 20
                ),
                format!(
                    "returned more than the {} MiB limit",
                    limits.output_bytes >> 20
                ),
            ),
            libc::SIGABRT if out_of_memory => fail(
                FailureKind::Memory,
                format!(
                    "ran out of memory (limit {} MiB)",
                    limits.memory_bytes >> 20
                ),
                format!(
                    "ran out of memory (limit {} MiB)",
                    limits.memory_bytes >> 20
                ),
            ),
            s => fail(
                FailureKind::Crashed,
                format!("was killed by signal {s}"),
                // No number: the code picks the signal, and it would carry bits of the real data.
                "crashed; the owner sees how and what it printed".into(),
            ),
        };
    }
    match f.status.code() {
        Some(0) => {}
        Some(101) => {
            return fail(
                FailureKind::Panic,
                "panicked".into(),
                "panicked on the real data; the owner sees the message".into(),
            );
        }
        Some(3) => {
            return fail(
                FailureKind::ReturnedError,
                "returned an error".into(),
                "returned an error on the real data; the owner sees it".into(),
            );
        }
        Some(4) => {
            // The support library names types here, but the function could exit with 4 itself
            // after printing anything: the scientist, who saw this failure in full on the mocks,
            // gets no text from a real run.
            return fail(
                FailureKind::Input,
                "could not take its inputs".into(),
                "could not take its inputs on the real data; the owner sees why".into(),
            );
        }
        Some(code) => {
            return fail(
                FailureKind::Crashed,
                format!("exited with code {code}"),
                // No number: the code picks it, and 8 bits of the real data would ride on it.
                "exited with an error code; the owner sees which, and what it printed".into(),
            );
        }
        None => unreachable!("a status has a code or a signal"),
    }
    let outputs = [
        ("out.parquet", DataKind::Frame),
        ("out.f64.npy", DataKind::ArrayF64),
        ("out.i64.npy", DataKind::ArrayI64),
        ("out.json", DataKind::Json),
    ];
    for (name, kind) in outputs {
        // The job made these files: a link (to a file of the datasite's) or a FIFO is not followed
        // or waited on, and no more than the limit is read.
        let opened = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(dir.join(name));
        let file = match opened {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return fail(
                    FailureKind::Crashed,
                    format!("wrote a result that could not be opened: {e}"),
                    "wrote a result that could not be read".into(),
                );
            }
        };
        let meta = file.metadata().ok().filter(|m| m.is_file());
        let Some(meta) = meta else {
            return fail(
                FailureKind::Crashed,
                format!("wrote its result `{name}` as something other than a plain file"),
                "wrote a result that could not be read".into(),
            );
        };
        if meta.len() > limits.output_bytes {
            return fail(
                FailureKind::OutputTooLarge,
                format!(
                    "returned {} MiB, over the {} MiB limit",
                    meta.len() >> 20,
                    limits.output_bytes >> 20
                ),
                format!(
                    "returned more than the {} MiB limit",
                    limits.output_bytes >> 20
                ),
            );
        }
        let mut bytes = Vec::new();
        let decoded = file
            .take(limits.output_bytes)
            .read_to_end(&mut bytes)
            .map(|_| bytes)
            .map_err(|e| e.to_string())
            .and_then(|bytes| {
                // The file is the code's own making: a decoder that panics on it fails the run,
                // not the datasite.
                std::panic::catch_unwind(|| Data::decode(kind, &bytes))
                    .map_err(|_| "its decoder panicked".to_string())?
                    .map_err(|e| e.to_string())
            });
        return match decoded {
            Ok(data) => Ok(data),
            Err(e) => fail(
                FailureKind::Crashed,
                format!("wrote a result that could not be read: {e}"),
                "wrote a result that could not be read".into(),
            ),
        };
    }
    fail(
        FailureKind::Crashed,
        "finished without writing a result".into(),
        "finished without writing a result".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_datasite_process_is_undumpable_once_code_can_run() {
        guard_datasite_memory();
        #[allow(unsafe_code)]
        // SAFETY: prctl(PR_GET_DUMPABLE) only reads this process's flag.
        let dumpable = unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) };
        assert_eq!(dumpable, 0);
    }
}
