//! Blobs in an S3-compatible bucket (`LaunchOptions::blob_store`), against a real S3 server on
//! loopback (`s3`). Checked against the server's own listing, never through the datasite.

use std::path::Path;

use veil::prelude::*;

use crate::common::{ADMIN, ADMIN_PW, approved_cancer_chain, cancer};
use crate::s3::S3;

/// Launch options for the datasite `name` in `dir`, its blobs at `url` (`s3://BUCKET/PREFIX`) on `s3`.
fn options(s3: &S3, name: &str, dir: &Path, url: &str) -> LaunchOptions {
    LaunchOptions::new(name)
        .dir(dir)
        .blob_store(url)
        .blob_store_option("aws_endpoint", &s3.endpoint)
        .blob_store_option("aws_allow_http", "true")
        .blob_store_option("aws_access_key_id", "veil-test")
        .blob_store_option("aws_secret_access_key", "veil-test")
        .blob_store_option("aws_region", "us-east-1")
}

/// The blob files in a datasite directory's `blobs/` (copies included).
fn blob_files(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("blobs"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|shard| shard.file_name() != "tmp")
        .map(|shard| std::fs::read_dir(shard.path()).unwrap().count())
        .sum()
}

fn upload_cancer(site: &Datasite) {
    let owner = site.login(ADMIN, ADMIN_PW).unwrap();
    let frame = cancer();
    let mock = veil::mock::shift_and_jitter(&frame, 7).unwrap();
    owner
        .upload_dataset(Dataset::new("cancer").asset(Asset::new("frame").data(frame).mock(mock)))
        .unwrap();
}

#[test]
fn blobs_kept_in_a_bucket_give_what_blobs_on_disk_give_and_outlive_a_relaunch() {
    let Some(s3) = S3::start() else { return };
    s3.bucket("veil");
    let (on_disk, in_bucket) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());

    // The same uploads and approvals, with blobs on disk and in the bucket; every step planned.
    let disk = LaunchOptions::new("disk")
        .dir(on_disk.path())
        .plan_from_bytes(0)
        .launch()
        .unwrap();
    upload_cancer(&disk);
    let expected = approved_cancer_chain(&disk);

    let site = options(&s3, "bucket", in_bucket.path(), "s3://veil/hospital")
        .plan_from_bytes(0)
        .launch()
        .unwrap();
    upload_cancer(&site);
    let got = approved_cancer_chain(&site);
    assert_eq!(got.0, expected.0, "the filtered mean");
    assert!(got.1.equals_missing(&expected.1), "the top rows");
    assert_eq!(got.2, expected.2, "the matrix's sum");

    // The asset, its mock and the three results are objects in the bucket, beside the marker.
    let keys = s3.keys("veil", "hospital/");
    assert!(
        keys.contains(&"hospital/veil-datasite".to_string()),
        "{keys:?}"
    );
    assert!(keys.len() >= 1 + 2 + 3, "{keys:?}");
    // The directory holds the database and a copy of the asset's Parquet for the plan path only.
    assert_eq!(blob_files(in_bucket.path()), 1);
    site.land().unwrap();

    // Relaunched (no reset), the datasite reads everything back from the bucket.
    std::fs::remove_dir_all(in_bucket.path().join("blobs")).unwrap();
    let site = options(&s3, "bucket", in_bucket.path(), "s3://veil/hospital")
        .launch()
        .unwrap();
    let owner = site.login(ADMIN, ADMIN_PW).unwrap();
    let real = owner
        .dataset("cancer")
        .unwrap()
        .asset("frame")
        .unwrap()
        .data()
        .unwrap();
    assert!(real.as_frame().unwrap().equals_missing(&cancer()));
    assert_eq!(owner.requests().unwrap().len(), 3);
    assert_eq!(s3.keys("veil", "hospital/"), keys, "nothing collected");

    // Deleting the dataset and its requests' pointers leaves only what still has a row.
    owner.delete_dataset("cancer").unwrap();
    site.land().unwrap();
    let site = options(&s3, "bucket", in_bucket.path(), "s3://veil/hospital")
        .launch()
        .unwrap();
    let left = s3.keys("veil", "hospital/");
    assert!(left.len() < keys.len(), "{left:?}");
    assert!(left.contains(&"hospital/veil-datasite".to_string()));
    drop(site);
}

#[test]
fn a_blob_changed_in_the_bucket_is_refused_not_served() {
    let Some(s3) = S3::start() else { return };
    s3.bucket("veil");
    let dir = tempfile::tempdir().unwrap();
    let site = options(&s3, "tamper", dir.path(), "s3://veil/tamper")
        .launch()
        .unwrap();
    upload_cancer(&site);
    let owner = site.login(ADMIN, ADMIN_PW).unwrap();
    let asset = owner.dataset("cancer").unwrap().asset("frame").unwrap();
    let before = asset.data().unwrap();
    for key in s3.keys("veil", "tamper/") {
        if !key.ends_with("veil-datasite") {
            s3.overwrite("veil", &key, b"not the owner's data");
        }
    }
    let err = asset.data().expect_err("changed bytes are refused");
    let text = err.to_string();
    assert!(
        text.contains("do not match its hash") && text.contains("s3://veil/tamper"),
        "{text}"
    );
    assert!(before.as_frame().is_some());
}

#[test]
fn a_bucket_prefix_belongs_to_one_datasite_and_a_datasite_to_one_place() {
    let Some(s3) = S3::start() else { return };
    s3.bucket("veil");
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = options(&s3, "first", a.path(), "s3://veil/shared")
        .launch()
        .unwrap();
    upload_cancer(&first);
    let objects = s3.keys("veil", "shared/");

    // A second datasite given the same prefix would collect the first's blobs as garbage.
    let err = options(&s3, "second", b.path(), "s3://veil/shared")
        .launch()
        .expect_err("a prefix of another datasite is refused")
        .to_string();
    assert!(err.contains("holds the blobs of another datasite"), "{err}");
    assert!(err.contains("a prefix of its own"), "{err}");
    assert_eq!(s3.keys("veil", "shared/"), objects, "nothing was collected");
    first.land().unwrap();

    // The first, relaunched without its bucket, would find none of its blobs.
    let err = LaunchOptions::new("first")
        .dir(a.path())
        .launch()
        .expect_err("blobs kept in a bucket are not looked for on disk")
        .to_string();
    assert!(
        err.contains("keeps its blobs in s3://veil/shared") && err.contains("launch it with"),
        "{err}"
    );
    let back = options(&s3, "first", a.path(), "s3://veil/shared")
        .launch()
        .unwrap();
    let owner = back.login(ADMIN, ADMIN_PW).unwrap();
    assert_eq!(owner.datasets().unwrap().len(), 1);
}

#[test]
fn a_wrong_blob_store_is_named_and_erases_nothing() {
    let Some(s3) = S3::start() else { return };
    s3.bucket("veil");
    let dir = tempfile::tempdir().unwrap();
    let site = options(&s3, "kept", dir.path(), "s3://veil/kept")
        .launch()
        .unwrap();
    upload_cancer(&site);
    site.land().unwrap();

    let not_s3 = LaunchOptions::new("kept")
        .dir(dir.path())
        .blob_store("https://example.org/bucket")
        .reset(true)
        .launch()
        .expect_err("not an s3:// URL")
        .to_string();
    assert!(not_s3.contains("s3://BUCKET/PREFIX"), "{not_s3}");
    let no_bucket = options(&s3, "kept", dir.path(), "s3://missing/kept")
        .reset(true)
        .launch()
        .expect_err("a bucket that does not exist")
        .to_string();
    assert!(
        no_bucket.contains("s3://missing/kept")
            && no_bucket.contains("check that the bucket exists"),
        "{no_bucket}"
    );
    let unreachable = LaunchOptions::new("kept")
        .dir(dir.path())
        .blob_store("s3://veil/kept")
        .blob_store_option("aws_endpoint", "http://127.0.0.1:9")
        .blob_store_option("aws_allow_http", "true")
        .blob_store_option("aws_access_key_id", "x")
        .blob_store_option("aws_secret_access_key", "x")
        .reset(true)
        .launch()
        .expect_err("an endpoint that does not answer")
        .to_string();
    assert!(unreachable.contains("AWS_ENDPOINT_URL"), "{unreachable}");

    // Each was refused before `reset` erased anything.
    let site = options(&s3, "kept", dir.path(), "s3://veil/kept")
        .launch()
        .unwrap();
    let owner = site.login(ADMIN, ADMIN_PW).unwrap();
    assert_eq!(owner.datasets().unwrap().len(), 1);
}
