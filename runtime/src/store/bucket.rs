//! Blobs in an S3-compatible bucket instead of the datasite directory ([`LaunchOptions::blob_store`]).
//!
//! The bucket holds each blob under `PREFIX/ab/cdef…` (its SHA-256, split as on disk) and one marker,
//! `PREFIX/veil-datasite`, naming the datasite whose blobs they are, so two datasites given the same
//! prefix by mistake cannot collect each other's blobs as garbage. Durability is the directory's:
//! - **Write, verify, then record.** A blob is put whole (an S3 PUT is atomic: the object appears
//!   entire or not at all, as the directory's rename does), read back and hashed, and only then does
//!   the caller record a reference to it, in the same transaction that holds the database's write
//!   lock (so garbage collection, which also runs under it, never deletes a blob being recorded).
//! - **Every read is checked.** Bytes that do not hash to the blob's name are refused as corrupt.
//! - **Garbage** is what no row references: listed and deleted by [`Bucket::sweep`], never a key
//!   that is not shaped like a blob's.
//!
//! The database stays in the datasite directory, which also keeps copies of the blobs that must be
//! files (Parquet assets the engine reads in place): fetched once, checked, collected with the rest.
//!
//! [`LaunchOptions::blob_store`]: crate::LaunchOptions::blob_store

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, RetryConfig};

use super::blob_hash;
use crate::error::{Error, Result};

/// The marker naming the datasite that owns a prefix's blobs.
const MARKER: &str = "veil-datasite";

/// An S3-compatible bucket (and a prefix in it) holding a datasite's blobs.
#[derive(Debug)]
pub(crate) struct Bucket {
    url: String,
    store: Arc<dyn ObjectStore>,
    prefix: Key,
    /// The object store's client is async: its calls run here, and the store's callers (threads of
    /// their own) wait for them. `None` only while it is dropped.
    threads: Option<tokio::runtime::Runtime>,
}

impl Drop for Bucket {
    fn drop(&mut self) {
        // Without waiting: a runtime dropped where blocking is not allowed (a server's task) panics.
        if let Some(threads) = self.threads.take() {
            threads.shutdown_background();
        }
    }
}

impl Bucket {
    /// Connects to `url` (`s3://BUCKET/PREFIX`), its credentials, region and endpoint taken from the
    /// `AWS_*` environment, then from `options` (object_store's S3 keys: `aws_endpoint`,
    /// `aws_access_key_id`, `aws_allow_http`, ...), and checks it can be listed.
    pub(crate) fn open(url: &str, options: &[(String, String)]) -> Result<Bucket> {
        let fix = "name it as `s3://BUCKET/PREFIX`, e.g. `s3://hospital-veil/datasite`";
        let rest = url.strip_prefix("s3://").ok_or_else(|| {
            Error::invalid("blob store", format!("`{url}` is not an s3:// URL"), fix)
        })?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(Error::invalid(
                "blob store",
                format!("`{url}` names no bucket"),
                fix,
            ));
        }
        let prefix = Key::parse(prefix.trim_end_matches('/')).map_err(|e| {
            Error::invalid("blob store", format!("the prefix of `{url}`: {e}"), fix)
        })?;
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            // An endpoint that does not answer fails in seconds, not after object_store's default
            // three minutes of retries.
            .with_retry(RetryConfig {
                max_retries: 3,
                retry_timeout: Duration::from_secs(20),
                ..RetryConfig::default()
            });
        for (key, value) in options {
            let key: AmazonS3ConfigKey = key.parse().map_err(|e| {
                Error::invalid("blob store option", format!("`{key}`: {e}"), "use object_store's S3 keys (aws_endpoint, aws_region, aws_access_key_id, aws_secret_access_key, aws_allow_http)")
            })?;
            builder = builder.with_config(key, value);
        }
        let store = builder.build().map_err(|e| {
            Error::invalid(
                "blob store",
                format!("`{url}`: {e}"),
                "set its credentials and endpoint in AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION and AWS_ENDPOINT_URL (AWS_ALLOW_HTTP=true for a plain-http endpoint)",
            )
        })?;
        let threads = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("veil-bucket")
            .enable_all()
            .build()
            .map_err(Error::io("starting the blob store's client"))?;
        let bucket = Bucket {
            url: url.to_string(),
            store: Arc::new(store),
            prefix,
            threads: Some(threads),
        };
        let (store, prefix) = (bucket.store.clone(), bucket.prefix.clone());
        bucket
            .run(async move { store.list_with_delimiter(Some(&prefix)).await })
            .map_err(|e| {
                Error::invalid(
                    "blob store",
                    format!("`{url}` cannot be listed: {e}"),
                    "check that the bucket exists, that the endpoint (AWS_ENDPOINT_URL) answers, and that the credentials may list, read, write and delete under the prefix",
                )
            })?;
        Ok(bucket)
    }

    /// The URL it was opened with.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Runs `work` on the client's threads and waits for it (callers are never async tasks).
    fn run<T: Send + 'static>(&self, work: impl Future<Output = T> + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let threads = self.threads.as_ref().expect("taken only on drop");
        threads.spawn(async move {
            let _ = tx.send(work.await);
        });
        rx.recv()
            .expect("the blob store's client threads outlive its calls")
    }

    fn key(&self, name: &str) -> Key {
        self.prefix.clone().join(name)
    }

    fn blob_key(&self, hash: &str) -> Key {
        self.key(&hash[..2]).join(&hash[2..])
    }

    /// Claims the prefix for the datasite `id`: refuses one whose marker names another datasite
    /// (unless `reset` is asked, which empties it for this one).
    pub(crate) fn claim(&self, id: &str, reset: bool) -> Result<()> {
        let (store, key) = (self.store.clone(), self.key(MARKER));
        let found = self.run(async move {
            match store.get(&key).await {
                Ok(got) => got.bytes().await.map(|b| Some(b.to_vec())),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        });
        let found = found.map_err(self.failed("reading the blob store's marker"))?;
        match found {
            Some(owner) if owner == id.as_bytes() => Ok(()),
            Some(owner) if !reset => Err(Error::invalid(
                "blob store",
                format!(
                    "`{}` holds the blobs of another datasite (`{}`), and this one is `{id}`",
                    self.url,
                    String::from_utf8_lossy(&owner)
                ),
                "give each datasite a prefix of its own (s3://BUCKET/PREFIX), or launch with reset to empty this prefix for this one",
            )),
            _ => {
                let (store, key) = (self.store.clone(), self.key(MARKER));
                let id = PutPayload::from(id.as_bytes().to_vec());
                self.run(async move { store.put(&key, id).await })
                    .map(|_| ())
                    .map_err(self.failed("writing the blob store's marker"))
            }
        }
    }

    /// Whether blob `hash` is in the bucket.
    fn has(&self, hash: &str) -> Result<bool> {
        let (store, key) = (self.store.clone(), self.blob_key(hash));
        match self.run(async move { store.head(&key).await }) {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.failed(format!("looking for blob {hash}"))(e)),
        }
    }

    /// Puts `bytes` as blob `hash` (their SHA-256), reads them back and checks them before returning.
    pub(crate) fn put(&self, hash: &str, bytes: &[u8]) -> Result<()> {
        if self.has(hash)? {
            return Ok(());
        }
        let (store, key) = (self.store.clone(), self.blob_key(hash));
        let payload = PutPayload::from(bytes.to_vec());
        self.run(async move { store.put(&key, payload).await })
            .map_err(self.failed(format!("writing blob {hash}")))?;
        self.get(hash).map(|_| ()).map_err(|e| match e {
            Error::Storage { source, .. } => Error::Storage {
                context: format!("checking blob {hash} after writing it to {}", self.url),
                source,
            },
            e => e,
        })
    }

    /// Reads blob `hash`, refusing bytes that do not hash to it.
    pub(crate) fn get(&self, hash: &str) -> Result<Vec<u8>> {
        let (store, key) = (self.store.clone(), self.blob_key(hash));
        let bytes = self
            .run(async move { store.get(&key).await?.bytes().await })
            .map_err(self.failed(format!("reading blob {hash}")))?;
        if blob_hash(&bytes) != hash {
            return Err(Error::corrupt(
                format!("reading blob {hash} from {}", self.url),
                "its bytes do not match its hash: the object was changed or damaged in the bucket; restore it from a backup",
            ));
        }
        Ok(bytes.into())
    }

    /// Deletes the blobs not in `live`; returns how many went.
    pub(crate) fn sweep(&self, live: &HashSet<String>) -> Result<usize> {
        let (store, prefix) = (self.store.clone(), self.prefix.clone());
        let keys = self
            .run(async move {
                let mut keys = Vec::new();
                let mut listing = store.list(Some(&prefix));
                while let Some(meta) = listing.next().await {
                    keys.push(meta?.location);
                }
                Ok::<_, object_store::Error>(keys)
            })
            .map_err(self.failed("listing blobs"))?;
        let dead: Vec<Key> = keys
            .into_iter()
            .filter(|key| {
                let parts: Vec<_> = key
                    .prefix_match(&self.prefix)
                    .into_iter()
                    .flatten()
                    .collect();
                let hash = match parts.as_slice() {
                    [shard, rest] => format!("{}{}", shard.as_ref(), rest.as_ref()),
                    _ => return false,
                };
                is_hash(&hash) && !live.contains(&hash)
            })
            .collect();
        let count = dead.len();
        let store = self.store.clone();
        self.run(async move {
            for key in dead {
                match store.delete(&key).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        })
        .map_err(self.failed("deleting unreferenced blobs"))?;
        Ok(count)
    }

    fn failed(&self, context: impl Into<String>) -> impl FnOnce(object_store::Error) -> Error {
        let context = format!("{} in {}", context.into(), self.url);
        move |e| Error::io(context)(std::io::Error::from(e))
    }
}

/// Whether `name` is shaped like a blob's name (64 lowercase hex digits).
fn is_hash(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
