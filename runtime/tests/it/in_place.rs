//! Assets read in place: Parquet files under a datasite's data root, registered by an owner, hashed
//! once, replayed as plans (or loaded for ops plans do not run), and refused when they leave the
//! root or change.

use std::path::Path;

use polars::prelude::DataFrame;
use veil::mock::Synthesis;
use veil::prelude::*;

use crate::common::{ADMIN, ADMIN_PW, approved_cancer_chain, metric};

/// Writes `frame` as `parts` Parquet files `part-N.parquet` in `dir`.
fn write_parts(dir: &Path, frame: &DataFrame, parts: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let per = frame.height().div_ceil(parts);
    for i in 0..parts {
        let part = frame.slice((i * per) as i64, per);
        let bytes = Data::Frame(part).encode().unwrap();
        std::fs::write(dir.join(format!("part-{i}.parquet")), bytes).unwrap();
    }
}

fn error_text<T: std::fmt::Debug>(result: veil::Result<T>) -> String {
    result.expect_err("it must be refused").to_string()
}

#[test]
fn files_read_in_place_give_what_the_same_rows_uploaded_give() {
    let (root, a, b) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let frame = crate::common::cancer();
    write_parts(&root.path().join("cancer"), &frame, 3);
    std::fs::write(root.path().join("cancer/README.txt"), "not data").unwrap();
    let narrow = frame.select(["radius1", "Diagnosis"]).unwrap();
    write_parts(&root.path().join("narrow"), &narrow, 1);
    let mock = veil::mock::shift_and_jitter(&frame, 7).unwrap();

    let in_place = LaunchOptions::new("in-place")
        .dir(a.path())
        .data_root(root.path())
        .reset(true)
        .launch()
        .unwrap();
    let owner = in_place.login(ADMIN, ADMIN_PW).unwrap();
    owner
        .upload_dataset(
            Dataset::new("cancer")
                .asset(Asset::new("frame").files("cancer/").mock(mock.clone()))
                .asset(
                    Asset::new("synthesized")
                        .files("./narrow/part-0.parquet")
                        .mock_synthesized(
                            Synthesis::dp_marginals(1.0)
                                .range("radius1", 0.0, 40.0)
                                .categories("Diagnosis", ["M", "B"])
                                .rows(20),
                        ),
                ),
        )
        .unwrap();
    let dataset = owner.dataset("cancer").unwrap();
    let asset = dataset.asset("frame").unwrap();
    assert_eq!(asset.shape, vec![frame.height(), frame.width()]);
    assert_eq!(
        asset.data_bytes,
        (frame.height() * frame.width() * 8) as u64
    );
    // The owner reads the whole of it back, and that read is the files' rows.
    assert!(
        asset
            .data()
            .unwrap()
            .as_frame()
            .unwrap()
            .equals_missing(&frame),
        "the owner's read of the files"
    );
    let synthesized = dataset.asset("synthesized").unwrap();
    assert!(
        synthesized
            .mock_made
            .contains("sample of 569 of its 569 rows"),
        "{}",
        synthesized.mock_made
    );
    assert_eq!(synthesized.mock().unwrap().shape(), vec![20, 2]);
    let planned = approved_cancer_chain(&in_place);
    // The worker only checked the row-sized steps (the mask, the filtered frame, the sorted one):
    // streamed, kept nowhere; the aggregates it kept.
    let (checks, kept) = (
        metric(&owner, "planned_checks"),
        metric(&owner, "planned_replays"),
    );
    assert!(
        checks >= 3.0 && kept >= 1.0,
        "checked {checks}, kept {kept}"
    );
    in_place.land().unwrap();

    let uploaded = LaunchOptions::new("uploaded")
        .dir(b.path())
        .plan_from_bytes(u64::MAX)
        .reset(true)
        .launch()
        .unwrap();
    uploaded
        .login(ADMIN, ADMIN_PW)
        .unwrap()
        .upload_dataset(Dataset::new("cancer").asset(Asset::new("frame").data(frame).mock(mock)))
        .unwrap();
    let in_memory = approved_cancer_chain(&uploaded);
    uploaded.land().unwrap();

    assert!(
        (planned.0[0] - in_memory.0[0]).abs() < 1e-9,
        "{planned:?} vs {in_memory:?}"
    );
    assert!(
        planned.1.equals_missing(&in_memory.1),
        "{}\n{}",
        planned.1,
        in_memory.1
    );
    assert!((planned.2[0] - in_memory.2[0]).abs() < 1e-6 * in_memory.2[0].abs());
}

#[test]
fn an_owner_cannot_reach_outside_the_data_root() {
    let (root, outside, dir) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let frame = crate::common::cancer();
    write_parts(outside.path(), &frame, 1);
    write_parts(&root.path().join("ok"), &frame, 1);
    let secret = outside.path().join("part-0.parquet");
    std::os::unix::fs::symlink(&secret, root.path().join("link.parquet")).unwrap();
    std::fs::create_dir(root.path().join("mixed")).unwrap();
    std::os::unix::fs::symlink(&secret, root.path().join("mixed/a.parquet")).unwrap();
    std::os::unix::fs::symlink(outside.path(), root.path().join("linked-dir")).unwrap();
    // A named pipe: reading it would wait for a writer forever.
    let made = std::process::Command::new("mkfifo")
        .arg(root.path().join("pipe"))
        .status()
        .unwrap();
    assert!(made.success(), "mkfifo");

    let upload = |site: &Datasite, location: &str| {
        site.login(ADMIN, ADMIN_PW).unwrap().upload_dataset(
            Dataset::new("escape").asset(Asset::new("frame").files(location).no_mock()),
        )
    };
    // Without a data root, nothing is read in place.
    let bare = crate::common::launch("no-root", dir.path(), true);
    let message = error_text(upload(&bare, "ok"));
    assert!(
        message.contains("no data root") && message.contains("--data-root"),
        "{message}"
    );
    bare.land().unwrap();

    let site = LaunchOptions::new("rooted")
        .dir(dir.path())
        .data_root(root.path())
        .reset(true)
        .launch()
        .unwrap();
    let absolute = secret.display().to_string();
    for (location, says) in [
        ("../", "leaves the data root"),
        ("ok/../../", "leaves the data root"),
        (absolute.as_str(), "not a path relative to the data root"),
        ("link.parquet", "outside the data root"),
        ("mixed", "outside the data root"),
        ("linked-dir", "outside the data root"),
        ("missing", "no such file or directory"),
        ("pipe", "neither a regular file nor a directory"),
        ("", "not a path relative"),
    ] {
        let message = error_text(upload(&site, location));
        assert!(message.contains(says), "`{location}`: {message}");
    }
    let owner = site.login(ADMIN, ADMIN_PW).unwrap();
    assert_eq!(owner.datasets().unwrap().len(), 0, "nothing was recorded");
    // Both, or neither, is a mistake the owner is told how to fix.
    let both = owner.upload_dataset(
        Dataset::new("both").asset(
            Asset::new("frame")
                .data(frame.clone())
                .files("ok")
                .no_mock(),
        ),
    );
    assert!(error_text(both).contains("both data and files"));
    upload(&site, "ok").unwrap();
    site.land().unwrap();
}

#[test]
fn files_that_change_or_differ_are_refused_and_a_restored_file_reads_again() {
    let (root, dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let frame = crate::common::cancer();
    let parts = root.path().join("cancer");
    write_parts(&parts, &frame, 2);
    let site = LaunchOptions::new("changing")
        .dir(dir.path())
        .data_root(root.path())
        .reset(true)
        .launch()
        .unwrap();
    let owner = site.login(ADMIN, ADMIN_PW).unwrap();

    // Files of two schemas make no one asset.
    let other = root.path().join("other");
    write_parts(&other, &frame, 1);
    std::fs::write(
        other.join("part-1.parquet"),
        Data::Frame(frame.select(["radius1"]).unwrap())
            .encode()
            .unwrap(),
    )
    .unwrap();
    let message =
        error_text(owner.upload_dataset(
            Dataset::new("other").asset(Asset::new("frame").files("other").no_mock()),
        ));
    assert!(
        message.contains("other/part-1.parquet") && message.contains("share one schema"),
        "{message}"
    );

    owner
        .upload_dataset(Dataset::new("cancer").asset(Asset::new("frame").files("cancer").no_mock()))
        .unwrap();
    let asset = owner.dataset("cancer").unwrap().asset("frame").unwrap();
    assert_eq!(
        asset.data().unwrap().shape(),
        vec![frame.height(), frame.width()]
    );

    // Someone rewrites a file under the datasite: its rows are no longer what was registered.
    let file = parts.join("part-1.parquet");
    let original = std::fs::read(&file).unwrap();
    let shifted = veil::mock::shift_and_jitter(&frame.slice(285, 285), 3).unwrap();
    std::fs::write(&file, Data::Frame(shifted).encode().unwrap()).unwrap();
    let message = error_text(asset.data());
    assert!(
        message.contains("part-1.parquet")
            && message.contains("changed since the asset was registered"),
        "{message}"
    );
    // A pipe in its place is refused, not waited on.
    std::fs::remove_file(&file).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&file)
        .status()
        .unwrap();
    assert!(made.success(), "mkfifo");
    let message = error_text(asset.data());
    assert!(message.contains("not a regular file"), "{message}");
    std::fs::remove_file(&file).unwrap();
    // Put back, it hashes as registered again (its stamp is new, its bytes are not).
    std::fs::write(&file, original).unwrap();
    assert!(
        asset
            .data()
            .unwrap()
            .as_frame()
            .unwrap()
            .equals_missing(&frame)
    );
    site.land().unwrap();
}
