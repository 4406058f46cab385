//! Room kept for the writes that must go on when the disk fills: a file of `bytes` in the datasite
//! directory, given back to the disk when little space is left, so logins, deletes and their audit
//! rows still commit (databases keep such a reserve for the same reason), and made again once space
//! returns. Data that grows the datasite (a blob) must leave the reserve's size free after it, so
//! uploads are refused, with the full-disk sentence, before they eat the reserve.
#![allow(unsafe_code)] // statvfs and posix_fallocate: libc calls with no safe std counterpart.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{Error, Result};

/// The reserve file's name inside the datasite directory.
pub(crate) const RESERVE_FILE: &str = "reserve";

/// The datasite's reserve of disk space (none when its size is 0).
#[derive(Debug)]
pub(crate) struct Reserve {
    path: PathBuf,
    bytes: u64,
    /// Whether the file is there, holding its bytes; locked while it is made or given back.
    held: Mutex<bool>,
}

impl Reserve {
    /// No reserve (until [`Reserve::new`]), leaving any reserve file in `dir` as it is.
    pub(crate) fn none(dir: &Path) -> Reserve {
        Reserve {
            path: dir.join(RESERVE_FILE),
            bytes: 0,
            held: Mutex::new(false),
        }
    }

    /// A reserve of `bytes` in `dir` (none for 0, and a reserve file of another size is given
    /// back), made now if the disk has room for it.
    pub(crate) fn new(dir: &Path, bytes: u64) -> Reserve {
        let path = dir.join(RESERVE_FILE);
        let held = bytes > 0 && std::fs::metadata(&path).is_ok_and(|m| m.len() == bytes);
        if !held {
            let _ = std::fs::remove_file(&path);
        }
        let reserve = Reserve {
            path,
            bytes,
            held: Mutex::new(held),
        };
        reserve.before_write();
        reserve
    }

    /// Before a write: gives the reserve back to the disk when less than half its size is free,
    /// and makes it again when twice its size is.
    pub(crate) fn before_write(&self) {
        if self.bytes == 0 {
            return;
        }
        let Some(free) = free_bytes(&self.path) else {
            return;
        };
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if *held && free < self.bytes / 2 {
            if std::fs::remove_file(&self.path).is_ok() {
                *held = false;
                tracing::warn!(
                    free_bytes = free,
                    reserve_bytes = self.bytes,
                    "the disk is nearly full: its reserve is given back so logins and deletes go on; uploads wait for space"
                );
            }
        } else if !*held && free >= self.bytes.saturating_mul(2) {
            *held = allocate(&self.path, self.bytes).is_ok();
            if *held {
                tracing::info!(
                    reserve_bytes = self.bytes,
                    "disk space is back: the reserve is made again"
                );
            } else {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }

    /// Whether `bytes` more may be written as data (`what`): they must leave the reserve's size
    /// free, and room to make the reserve again if it was given back.
    pub(crate) fn room_for(&self, bytes: u64, what: &str) -> Result<()> {
        let Some(free) = free_bytes(&self.path) else {
            return Ok(());
        };
        let held = *self.held.lock().unwrap_or_else(|p| p.into_inner());
        let keep = if held { self.bytes } else { self.bytes * 2 };
        if free < bytes.saturating_add(keep) {
            return Err(Error::DiskFull(what.to_string()));
        }
        Ok(())
    }

    /// Whether the reserve is kept now: false while it is given back to a full disk (or when
    /// there is none), which is what an operator alerts on.
    pub(crate) fn held(&self) -> bool {
        *self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Bytes still free for the datasite on its disk, if the system says.
    pub(crate) fn free(&self) -> Option<u64> {
        free_bytes(&self.path)
    }
}

/// Bytes an unprivileged writer may still use on the file system of `path`'s directory.
fn free_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let dir = std::ffi::CString::new(path.parent()?.as_os_str().as_bytes()).ok()?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `dir` is a NUL-terminated path; `stat` is read only after statvfs filled it.
    let stat = unsafe {
        if libc::statvfs(dir.as_ptr(), stat.as_mut_ptr()) != 0 {
            return None;
        }
        stat.assume_init()
    };
    Some(stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// Writes `path` with `bytes` allocated on the disk (not a sparse file, which reserves nothing).
fn allocate(path: &Path, bytes: u64) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let file = File::create(path)?;
    let len = libc::off_t::try_from(bytes).map_err(std::io::Error::other)?;
    // SAFETY: the descriptor stays open for writing for the whole call.
    let code = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len) };
    if code != 0 {
        return Err(std::io::Error::from_raw_os_error(code));
    }
    file.sync_all()
}
