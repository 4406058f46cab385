//! `veil serve` on a small tmpfs that fills up, as an operator's disk does: writes are refused with
//! the 507 sentence, and the datasite stays up for everything else. Mounting needs root, as CI
//! has; elsewhere the test says it did not run and why.

use std::path::{Path, PathBuf};
use std::process::Command;

use ndarray::Array1;
use veil::prelude::*;

use crate::serve::{admin, dataset_names, gauge, scientist, serve, stop};

const TEST: &str = "full_disk::a_full_disk_stops_writes_and_nothing_else";

/// A tmpfs of `mib` MiB mounted on a temporary directory; unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(mib: u64) -> Result<Tmpfs, String> {
        crate::serve::as_root()?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Writes `path` until the disk refuses more: what else on the machine takes the last bytes.
fn fill(path: &Path) -> PathBuf {
    use std::io::Write;
    let mut file = std::fs::File::create(path).unwrap();
    let block = vec![0x5au8; 64 << 10];
    while file.write_all(&block).is_ok() {}
    let small = [0u8; 512];
    while file.write_all(&small).is_ok() {}
    let _ = file.sync_all();
    path.to_path_buf()
}

/// A dataset of `values` random-looking numbers (they do not compress).
fn dataset(name: &str, values: usize) -> Dataset {
    let seed = name.bytes().fold(7919u64, |h, b| {
        h.wrapping_mul(31).wrapping_add(u64::from(b))
    });
    let data = Array1::from_iter((0..values as u64).map(|i| {
        let x = (i + seed)
            .wrapping_mul(6_364_136_223_846_793_005)
            .rotate_left(17);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }));
    Dataset::new(name).asset(
        Asset::new("a")
            .data(data.clone())
            .mock(data.mapv(|v| v + 1.0)),
    )
}

fn refused_for_space(result: veil::Result<impl std::fmt::Debug>) -> String {
    let error = result.expect_err("refused");
    let message = error.to_string();
    assert_eq!(
        error.kind(),
        veil::api::call::ErrorKind::DiskFull,
        "{message}"
    );
    assert!(
        message.contains("free space") && message.contains("disk"),
        "not the full-disk sentence: {message}"
    );
    message
}

#[test]
fn a_full_disk_stops_writes_and_nothing_else() {
    let disk = match Tmpfs::mount(24) {
        Ok(disk) => disk,
        Err(why) => {
            eprintln!("{TEST}: did not run ({why}); mounting a tmpfs needs root, as CI has");
            return;
        }
    };
    let dir = disk.path().join("site");
    let served = serve(&dir, &["--reset", "--disk-reserve-mib", "1"]);
    let owner = admin(&served.url);
    owner.upload_dataset(dataset("kept", 1000)).unwrap();
    let jane = scientist(&served.url, &owner);
    assert_eq!(gauge(&owner, "disk_reserve_held"), 1.0);
    let mock = jane
        .dataset("kept")
        .unwrap()
        .asset("a")
        .unwrap()
        .mock()
        .unwrap();

    // Uploads fill the disk; the one that does not fit is refused with the sentence, not a broken
    // pipe, and whatever is left goes to another program.
    let mut acknowledged = vec!["kept".to_string()];
    let mut refusal = None;
    for i in 0..40 {
        let name = format!("big {i}");
        match owner.upload_dataset(dataset(&name, 250_000)) {
            Ok(_) => acknowledged.push(name),
            Err(e) => {
                refusal = Some(e);
                break;
            }
        }
    }
    refused_for_space(refusal.map_or(Ok(()), Err));
    let filler = fill(&disk.path().join("filler"));
    refused_for_space(owner.upload_dataset(dataset("one more", 250_000)));

    // Logins, listings and mock reads go on.
    let jane = veil::connect(&served.url)
        .unwrap()
        .login("jane@caltech.edu", "abc123def")
        .unwrap();
    let owner = admin(&served.url);
    let names = dataset_names(&jane);
    assert_eq!(names.len(), acknowledged.len(), "{names:?}");
    assert_eq!(
        jane.dataset("kept")
            .unwrap()
            .asset("a")
            .unwrap()
            .mock()
            .unwrap(),
        mock
    );
    assert!(
        owner
            .dataset("kept")
            .unwrap()
            .asset("a")
            .unwrap()
            .data()
            .is_ok()
    );
    assert_eq!(
        gauge(&owner, "disk_reserve_held"),
        0.0,
        "what operators alert on"
    );
    // Mock ops go on; a real result waits, and says why.
    let total = jane
        .dataset("kept")
        .unwrap()
        .asset("a")
        .unwrap()
        .pointer()
        .unwrap()
        .sum()
        .unwrap();
    let request = total.request("the total").unwrap();
    let approval = owner
        .request(&request.id)
        .unwrap()
        .approve_overriding("test data");
    refused_for_space(approval);

    // The owner frees space through Veil: a delete runs on the reserve.
    owner.delete_dataset("big 0").unwrap();
    acknowledged.retain(|n| n != "big 0");
    owner.upload_dataset(dataset("small", 1000)).unwrap();
    acknowledged.push("small".into());
    owner
        .request(&request.id)
        .unwrap()
        .approve_overriding("test data")
        .unwrap();
    assert!(total.get().is_ok());

    // SIGTERM lands it cleanly, full disk or not.
    let filler2 = fill(&disk.path().join("filler2"));
    assert!(stop(served).success(), "SIGTERM on a full disk");

    // It starts again on the full disk, read-only: reads work, writes say why.
    let served = serve(&dir, &["--disk-reserve-mib", "1"]);
    let owner = admin(&served.url);
    let mut names = dataset_names(&owner);
    names.sort();
    acknowledged.sort();
    assert_eq!(names, acknowledged);
    refused_for_space(owner.upload_dataset(dataset("while full", 1000)));

    // Space comes back: writes work again, without a restart.
    std::fs::remove_file(filler).unwrap();
    std::fs::remove_file(filler2).unwrap();
    owner.upload_dataset(dataset("after", 1000)).unwrap();
    assert!(owner.dataset("after").is_ok());
    assert_eq!(gauge(&owner, "disk_reserve_held"), 1.0, "made again");
    assert!(gauge(&owner, "disk_free_bytes") > 2.0 * 1024.0 * 1024.0);
    assert!(stop(served).success());
}
