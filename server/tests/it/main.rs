//! The server's integration tests in one binary (each test binary links polars): the real `veil
//! serve` on loopback (`serve`), its blobs in a bucket (`bucket`), on a disk that fills (`full_disk`), and across a veth pair between network namespaces (`netns`).

mod bucket;
mod full_disk;
mod netns;
mod serve;
// The S3 server the runtime's tests start, shared rather than written twice.
#[path = "../../../runtime/tests/it/s3.rs"]
#[allow(dead_code)]
mod s3;
