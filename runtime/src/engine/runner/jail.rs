//! A run's jail: new user, network and mount namespaces, a root holding only the system's read-only
//! `/usr`, the binary and the work directory, and the limits, set up between `fork` and `exec`.

use super::*;

use std::os::unix::fs::PermissionsExt;

/// Whether a probe run, jailed the way runs are, works here (checked once).
pub(super) fn jail_works() -> bool {
    static WORKS: OnceLock<bool> = OnceLock::new();
    *WORKS.get_or_init(|| {
        let Ok(work) = TempDir::new() else {
            return false;
        };
        let Ok(jail) = Jail::new(Path::new("/usr/bin/true"), &work.0, None) else {
            return false;
        };
        let mut cmd = Command::new(JOB_INSIDE);
        cmd.env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        sandbox(&mut cmd, &Limits::default(), Some(jail.mounts));
        cmd.status().is_ok_and(|s| s.success())
    })
}

/// Most files a run may hold open at once.
const MAX_OPEN_FILES: u64 = 256;

/// Where a jailed run's binary and work directory are, inside its jail.
pub(super) const JOB_INSIDE: &str = "/job";
/// Where the runner's shared libraries are, inside a jail.
pub(super) const LIB_INSIDE: &str = "/veil-lib";
const WORK_INSIDE: &str = "/work";

/// A run's root directory, made before the fork: the mounts [`sandbox`] makes in it, and the
/// directory itself, removed on drop.
pub(super) struct Jail {
    pub(super) mounts: Mounts,
    pub(super) _root: TempDir,
}

/// Everything the child needs to build its jail, as C strings made before the fork (nothing may
/// allocate between `fork` and `exec`).
pub(super) struct Mounts {
    root: std::ffi::CString,
    /// Bind mounts: source, target inside `root`, and the flags of the source's filesystem, which
    /// a read-only remount in a user namespace must keep.
    binds: Vec<(std::ffi::CString, std::ffi::CString, u64, bool)>,
}

impl Jail {
    /// A jail for `binary` working in `work`, with the directory `lib` (read only) if given.
    pub(super) fn new(binary: &Path, work: &Path, lib: Option<&Path>) -> Result<Jail> {
        let cstr = |p: &Path| {
            std::ffi::CString::new(p.as_os_str().as_encoded_bytes())
                .map_err(|_| Error::Runner(format!("a path with a NUL byte: {}", p.display())))
        };
        let io = |e| Error::io("preparing a run's jail")(e);
        let root = TempDir::new()?;
        let mut binds = Vec::new();
        // The system's programs and libraries, read-only. On a merged-/usr system `/lib`, `/lib64`
        // and `/bin` are links into `/usr`, copied as links.
        for dir in ["usr", "lib", "lib64", "bin"] {
            let host = Path::new("/").join(dir);
            let inside = root.0.join(dir);
            match std::fs::symlink_metadata(&host) {
                Ok(m) if m.file_type().is_symlink() => {
                    let to = std::fs::read_link(&host).map_err(io)?;
                    std::os::unix::fs::symlink(to, &inside).map_err(io)?;
                }
                Ok(m) if m.is_dir() => {
                    std::fs::create_dir(&inside).map_err(io)?;
                    binds.push((cstr(&host)?, cstr(&inside)?, fs_flags(&host)?, true));
                }
                _ => {}
            }
        }
        let work_inside = root.0.join(&WORK_INSIDE[1..]);
        std::fs::create_dir(&work_inside).map_err(io)?;
        binds.push((cstr(work)?, cstr(&work_inside)?, fs_flags(work)?, false));
        if let Some(lib) = lib {
            let lib_inside = root.0.join(&LIB_INSIDE[1..]);
            std::fs::create_dir(&lib_inside).map_err(io)?;
            binds.push((cstr(lib)?, cstr(&lib_inside)?, fs_flags(lib)?, true));
        }
        let job_inside = root.0.join(&JOB_INSIDE[1..]);
        std::fs::write(&job_inside, b"").map_err(io)?;
        binds.push((cstr(binary)?, cstr(&job_inside)?, fs_flags(binary)?, true));
        Ok(Jail {
            mounts: Mounts {
                root: cstr(&root.0)?,
                binds,
            },
            _root: root,
        })
    }
}

/// The mount flags of the filesystem `path` is on.
#[allow(unsafe_code)]
fn fs_flags(path: &Path) -> Result<u64> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| Error::Runner(format!("a path with a NUL byte: {}", path.display())))?;
    // SAFETY: `statvfs` writes into the zeroed struct we own; `c` is a valid C string.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(Error::io("preparing a run's jail")(
            std::io::Error::last_os_error(),
        ));
    }
    // The ST_* flags statvfs reports have the values of the MS_* flags mount takes.
    let kept = libc::ST_RDONLY
        | libc::ST_NOSUID
        | libc::ST_NODEV
        | libc::ST_NOEXEC
        | libc::ST_NOATIME
        | libc::ST_NODIRATIME
        | libc::ST_RELATIME;
    Ok(st.f_flag & kept)
}

/// Sets the limits and namespaces a run gets, in the child between `fork` and `exec`. With `jail`,
/// the child also gets its own mount namespace rooted in the jail (see [`Runner::isolated`]), and
/// fails to start if any step of that fails.
#[allow(unsafe_code)]
pub(super) fn sandbox(cmd: &mut Command, limits: &Limits, jail: Option<Mounts>) {
    let cpu = limits.cpu.as_secs().max(1);
    let memory = limits.memory_bytes;
    // No file the run writes may outgrow the largest result (SIGXFSZ past it).
    let file_bytes = limits.output_bytes.max(1 << 20);
    // SAFETY: the closure runs in the forked child before `exec`. It only makes async-signal-safe
    // system calls (setrlimit, unshare, mount, chdir, pivot_root, umount2) on values made
    // beforehand, and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            let check = |rc: libc::c_int| {
                if rc == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            };
            let set = |resource, soft: u64, hard: u64| {
                let limit = libc::rlimit {
                    rlim_cur: soft as libc::rlim_t,
                    rlim_max: hard as libc::rlim_t,
                };
                check(libc::setrlimit(resource, &limit))
            };
            // SIGXCPU at the soft limit, SIGKILL a second later if it is ignored.
            set(libc::RLIMIT_CPU, cpu, cpu + 1)?;
            set(libc::RLIMIT_AS, memory, memory)?;
            set(libc::RLIMIT_CORE, 0, 0)?;
            set(libc::RLIMIT_FSIZE, file_bytes, file_bytes)?;
            set(libc::RLIMIT_NOFILE, MAX_OPEN_FILES, MAX_OPEN_FILES)?;
            // No network: a new network namespace has only a loopback interface, and it is down. An
            // unprivileged process needs a user namespace to make one; root does not.
            let Some(jail) = &jail else {
                // Where neither is allowed the run goes on, and `Runner::isolated` says so.
                if libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNET) != 0 {
                    let _ = libc::unshare(libc::CLONE_NEWNET);
                }
                return Ok(());
            };
            let spaces = libc::CLONE_NEWNET | libc::CLONE_NEWNS;
            if libc::unshare(libc::CLONE_NEWUSER | spaces) != 0 {
                check(libc::unshare(spaces))?;
            }
            let none = std::ptr::null::<libc::c_char>();
            // Nothing mounted here propagates back to the parent's namespace.
            check(libc::mount(
                none,
                c"/".as_ptr(),
                none,
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ))?;
            // pivot_root needs the new root to be a mount point.
            let root = jail.root.as_ptr();
            check(libc::mount(
                root,
                root,
                none,
                libc::MS_BIND,
                std::ptr::null(),
            ))?;
            for (source, target, flags, read_only) in &jail.binds {
                let (source, target) = (source.as_ptr(), target.as_ptr());
                check(libc::mount(
                    source,
                    target,
                    none,
                    libc::MS_BIND | libc::MS_REC,
                    std::ptr::null(),
                ))?;
                if *read_only {
                    let flags = libc::MS_BIND
                        | libc::MS_REMOUNT
                        | libc::MS_RDONLY
                        | libc::MS_NOSUID
                        | *flags as libc::c_ulong;
                    check(libc::mount(none, target, none, flags, std::ptr::null()))?;
                }
            }
            // The old root goes on top of the new one, then is detached: nothing outside the jail
            // is reachable from it any more.
            check(libc::chdir(root))?;
            let dot = c".".as_ptr();
            if libc::syscall(libc::SYS_pivot_root, dot, dot) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            check(libc::umount2(dot, libc::MNT_DETACH))?;
            check(libc::chdir(c"/work".as_ptr()))?;
            Ok(())
        });
    }
}

/// A private temporary directory, removed on drop.
pub(super) struct TempDir(pub(super) PathBuf);

impl TempDir {
    pub(super) fn new() -> Result<TempDir> {
        TempDir::new_in(&std::env::temp_dir())
    }

    /// One in `parent`, which is made if missing.
    pub(super) fn new_in(parent: &Path) -> Result<TempDir> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(Error::io("creating a run's directory"))?;
        let dir = parent.join(format!("veil-run-{}", uuid::Uuid::new_v4().simple()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(Error::io("creating a run's directory"))?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // A run may have made directories of its own unwritable, which would leave their files
        // behind for good: give every directory back to its owner first.
        fn writable(dir: &Path) {
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    writable(&entry.path());
                }
            }
        }
        writable(&self.0);
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            eprintln!(
                "veil: could not remove the run directory {}: {e}",
                self.0.display()
            );
        }
    }
}
