//! `veil serve --blob-store s3://...`: a served datasite whose blobs are in a bucket on a real S3
//! server on loopback, configured as an operator would (the `AWS_*` environment), restarted on it.

use ndarray::array;
use veil::prelude::*;

use crate::s3::S3;
use crate::serve::{admin, scientist, serve_with, stop};

#[test]
fn a_served_datasite_keeps_its_blobs_in_a_bucket_across_a_restart() {
    let Some(s3) = S3::start() else { return };
    s3.bucket("served");
    let tmp = tempfile::tempdir().unwrap();
    let envs = [
        ("AWS_ENDPOINT_URL", s3.endpoint.as_str()),
        ("AWS_ALLOW_HTTP", "true"),
        ("AWS_ACCESS_KEY_ID", "veil-operator"),
        ("AWS_SECRET_ACCESS_KEY", "veil-operator"),
        ("AWS_REGION", "us-east-1"),
    ];
    let args = ["--blob-store", "s3://served/site"];
    let served = serve_with(tmp.path(), &args, &envs);
    let owner = admin(&served.url);
    owner
        .upload_dataset(
            Dataset::new("trial").asset(
                Asset::new("doses")
                    .data(array![1.0, 2.0, 3.0])
                    .mock(array![1.0, 1.0, 1.0]),
            ),
        )
        .unwrap();
    let jane = scientist(&served.url, &owner);
    let doses = jane
        .dataset("trial")
        .unwrap()
        .asset("doses")
        .unwrap()
        .pointer()
        .unwrap();
    let total = doses.sum().unwrap();
    let request = total.request("the total dose").unwrap();
    owner
        .request(&request.id)
        .unwrap()
        .approve_overriding("a test total")
        .unwrap();
    assert_eq!(total.get().unwrap().as_f64().unwrap()[[]], 6.0);
    let keys = s3.keys("served", "site/");
    // The marker, the asset's data and mock, the released total.
    assert!(keys.len() >= 4, "{keys:?}");
    assert!(stop(served).success());

    // Restarted on the same directory and bucket, everything is read back from the bucket.
    let served = serve_with(tmp.path(), &args, &envs);
    let owner = admin(&served.url);
    let real = owner
        .dataset("trial")
        .unwrap()
        .asset("doses")
        .unwrap()
        .data()
        .unwrap();
    assert_eq!(real.as_f64().unwrap().iter().sum::<f64>(), 6.0);
    assert_eq!(s3.keys("served", "site/"), keys);
    assert!(stop(served).success());
}
