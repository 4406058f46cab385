//! `veil-kernel install` / `uninstall`: writes or removes the Jupyter kernelspec.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::json;

/// The kernelspec's directory name, what `jupyter kernelspec list` shows and notebooks name.
pub const KERNEL_NAME: &str = "veil";
/// What notebook front ends show in their kernel pickers.
pub const DISPLAY_NAME: &str = "Rust (Veil)";

const LOGO_32: &[u8] = include_bytes!("../../kernelspec/logo-32x32.png");
const LOGO_64: &[u8] = include_bytes!("../../kernelspec/logo-64x64.png");
const LOGO_SVG: &str = include_str!("../../kernelspec/logo-svg.svg");

/// Where to install, mirroring `jupyter kernelspec install`'s options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// The user's Jupyter data directory (`~/.local/share/jupyter` on Linux).
    User,
    /// `sys.prefix` of the active Python environment (`$VIRTUAL_ENV`, `$CONDA_PREFIX`, or `python3`'s).
    SysPrefix,
    /// An explicit prefix: the spec goes to `<prefix>/share/jupyter/kernels/veil`.
    Prefix(PathBuf),
}

impl Location {
    /// The `kernels/` directory this location stands for.
    pub fn kernels_dir(&self) -> Result<PathBuf> {
        Ok(match self {
            Location::User => jupyter_zmq_client::user_data_dir()
                .context("finding the user's Jupyter data directory")?
                .join("kernels"),
            Location::SysPrefix => sys_prefix()?.join("share/jupyter/kernels"),
            Location::Prefix(p) => p.join("share/jupyter/kernels"),
        })
    }
}

fn sys_prefix() -> Result<PathBuf> {
    for var in ["VIRTUAL_ENV", "CONDA_PREFIX"] {
        if let Some(p) = std::env::var_os(var).filter(|p| !p.is_empty()) {
            return Ok(PathBuf::from(p));
        }
    }
    let out = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.prefix)"])
        .output()
        .context("running python3 to find sys.prefix; use --user or --prefix instead")?;
    if !out.status.success() {
        bail!("python3 could not report sys.prefix; use --user or --prefix instead");
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// The kernel.json for a kernel binary at `exe`.
pub fn kernel_json(exe: &Path) -> serde_json::Value {
    json!({
        "argv": [exe.display().to_string(), "--connection-file", "{connection_file}"],
        "display_name": DISPLAY_NAME,
        "language": "rust",
        // Interrupts arrive as `interrupt_request` on the control channel, which the kernel answers
        // while a cell runs; a signal could not reach evcxr's child process cleanly.
        "interrupt_mode": "message",
        "metadata": { "debugger": false },
    })
}

/// Writes the kernelspec for `exe` under `location`; returns the spec's directory.
pub fn install(location: &Location, exe: &Path) -> Result<PathBuf> {
    let dir = location.kernels_dir()?.join(KERNEL_NAME);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let spec = serde_json::to_string_pretty(&kernel_json(exe))?;
    for (name, bytes) in [
        ("kernel.json", spec.as_bytes()),
        ("logo-32x32.png", LOGO_32),
        ("logo-64x64.png", LOGO_64),
        ("logo-svg.svg", LOGO_SVG.as_bytes()),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(dir)
}

/// Removes the kernelspec from `location`; returns the removed directory, or `None` if absent.
pub fn uninstall(location: &Location) -> Result<Option<PathBuf>> {
    let dir = location.kernels_dir()?.join(KERNEL_NAME);
    if !dir.join("kernel.json").is_file() {
        return Ok(None);
    }
    std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    Ok(Some(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_and_uninstall_under_a_prefix() {
        let tmp = tempfile::tempdir().unwrap();
        let location = Location::Prefix(tmp.path().to_path_buf());
        let dir = install(&location, Path::new("/opt/veil/veil-kernel")).unwrap();
        assert_eq!(dir, tmp.path().join("share/jupyter/kernels/veil"));
        let spec: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("kernel.json")).unwrap())
                .unwrap();
        assert_eq!(spec["display_name"], "Rust (Veil)");
        assert_eq!(spec["language"], "rust");
        assert_eq!(spec["interrupt_mode"], "message");
        assert_eq!(spec["argv"][0], "/opt/veil/veil-kernel");
        assert_eq!(spec["argv"][2], "{connection_file}");
        assert!(dir.join("logo-64x64.png").is_file());
        assert_eq!(uninstall(&location).unwrap(), Some(dir.clone()));
        assert!(!dir.exists());
        assert_eq!(uninstall(&location).unwrap(), None);
    }
}
