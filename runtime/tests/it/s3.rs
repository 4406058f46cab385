//! A real S3-compatible server on loopback for the tests of blobs kept in a bucket: moto's, which
//! scripts/setup-venv.sh installs into `.venv` (tests/requirements.txt). Shared by the runtime's
//! and the server's tests (the server's include this file by path).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// An S3 server on 127.0.0.1, stopped on drop.
pub struct S3 {
    child: Child,
    /// Its address, `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

impl Drop for S3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl S3 {
    /// Starts moto's S3 server on an ephemeral port, or says why it cannot (`None` outside CI
    /// when moto is not installed; in CI its absence fails the test).
    pub fn start() -> Option<S3> {
        let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/moto_server");
        let program = if venv.exists() {
            venv
        } else {
            PathBuf::from("moto_server")
        };
        let spawned = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) if std::env::var_os("CI").is_none() => {
                eprintln!(
                    "did not run: no S3 server ({}: {e}); run scripts/setup-venv.sh, which installs moto",
                    program.display()
                );
                return None;
            }
            Err(e) => panic!(
                "{}: {e}; scripts/setup-venv.sh installs it",
                program.display()
            ),
        };
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let endpoint = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|line| {
                line.split_once("Running on ")
                    .map(|(_, url)| url.trim().to_string())
            })
            .expect("moto_server names its address");
        // Its log keeps coming: drained, so the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Some(S3 { child, endpoint })
    }

    /// Makes the bucket `name`.
    pub fn bucket(&self, name: &str) {
        ureq::put(&format!("{}/{name}", self.endpoint))
            .send_empty()
            .unwrap();
    }

    /// The keys under `prefix` in `bucket`, as the server lists them.
    pub fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let listing = ureq::get(&format!(
            "{}/{bucket}?list-type=2&prefix={prefix}",
            self.endpoint
        ))
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
        listing
            .split("<Key>")
            .skip(1)
            .map(|rest| rest.split("</Key>").next().unwrap().to_string())
            .collect()
    }

    /// Overwrites `key` in `bucket` with `bytes`, as someone with access to the bucket could
    /// (through object_store's own client: moto refuses ureq's bodies).
    pub fn overwrite(&self, bucket: &str, key: &str, bytes: &[u8]) {
        use object_store::ObjectStoreExt;
        let store = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_endpoint(&self.endpoint)
            .with_allow_http(true)
            .with_access_key_id("someone")
            .with_secret_access_key("someone")
            .with_region("us-east-1")
            .build()
            .unwrap();
        let key = object_store::path::Path::parse(key).unwrap();
        let bytes = object_store::PutPayload::from(bytes.to_vec());
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(store.put(&key, bytes))
            .unwrap();
    }
}
