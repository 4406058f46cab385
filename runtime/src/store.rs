//! Durable storage: one SQLite database for metadata and a content-addressed blob directory for data.
//!
//! Layout of a datasite directory:
//! ```text
//! <dir>/veil.db        SQLite, WAL mode, foreign keys on, schema version in `PRAGMA user_version`
//! <dir>/blobs/ab/cd..  blob files named by the SHA-256 of their bytes
//! <dir>/blobs/tmp/     blobs being written, renamed into place once synced
//! <dir>/reserve        disk space kept for logins and deletes when the disk fills (`reserve`)
//! ```
//! A datasite may keep its blobs in an S3-compatible bucket instead (`bucket`), with the same rules;
//! `blobs/` then holds only checked copies of those that must be files (Parquet read in place).
//! Durability rules:
//! - A blob is written to `blobs/tmp`, fsynced, renamed to its final name and its directory fsynced, so a
//!   crash leaves either no blob or a whole one.
//! - Every multi-step change runs in one `BEGIN IMMEDIATE` transaction, and blobs are written inside it.
//!   Holding SQLite's write lock while writing blobs serialises uploads with blob garbage collection (which
//!   also runs under the write lock), so a collector in another process can never delete a blob that an
//!   upload is about to reference.
//! - A transaction that fails leaves its blobs unreferenced; the next launch collects them.
//! - A commit is durable (power cuts included) when [`Store::write`] returns: it syncs the WAL
//!   itself after letting go of the connection, so one writer's sync does not hold up other calls.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

mod bucket;
mod reserve;
pub(crate) use bucket::Bucket;
pub(crate) use reserve::RESERVE_FILE;
use reserve::Reserve;

/// The database file inside a datasite directory.
pub(crate) const DB_FILE: &str = "veil.db";
const BLOB_DIR: &str = "blobs";

/// Schema migrations, applied in order; `PRAGMA user_version` records how many have run. Never edit a
/// released entry: append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: users, sessions, datasets, assets, the audit log.
    r#"
    CREATE TABLE settings (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE users (
        id                TEXT PRIMARY KEY,
        name              TEXT NOT NULL,
        email             TEXT NOT NULL UNIQUE COLLATE NOCASE,
        password_hash     TEXT NOT NULL,
        role              TEXT NOT NULL
                          CHECK (role IN ('admin', 'data_owner', 'data_scientist', 'guest')),
        institution       TEXT,
        website           TEXT,
        default_password  INTEGER NOT NULL DEFAULT 0,
        created_at        INTEGER NOT NULL
    );
    CREATE TABLE sessions (
        token_hash  TEXT PRIMARY KEY,
        user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        created_at  INTEGER NOT NULL
    );
    CREATE TABLE datasets (
        id           TEXT PRIMARY KEY,
        name         TEXT NOT NULL UNIQUE COLLATE NOCASE,
        description  TEXT NOT NULL,
        summary      TEXT NOT NULL,
        citation     TEXT NOT NULL,
        url          TEXT NOT NULL,
        uploader     TEXT NOT NULL,
        created_at   INTEGER NOT NULL
    );
    CREATE TABLE contributors (
        dataset_id  TEXT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
        position    INTEGER NOT NULL,
        name        TEXT NOT NULL,
        email       TEXT NOT NULL,
        role        TEXT NOT NULL,
        PRIMARY KEY (dataset_id, position)
    );
    CREATE TABLE assets (
        id           TEXT PRIMARY KEY,
        dataset_id   TEXT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
        position     INTEGER NOT NULL,
        name         TEXT NOT NULL,
        description  TEXT NOT NULL,
        kind         TEXT NOT NULL,
        schema       TEXT NOT NULL,
        shape        TEXT NOT NULL,
        data_blob    TEXT NOT NULL,
        data_bytes   INTEGER NOT NULL,
        mock_blob    TEXT,
        mock_shape   TEXT,
        UNIQUE (dataset_id, name COLLATE NOCASE)
    );
    CREATE INDEX assets_by_dataset ON assets(dataset_id, position);
    CREATE TABLE audit (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        at         INTEGER NOT NULL,
        actor      TEXT NOT NULL,
        action     TEXT NOT NULL,
        subject    TEXT NOT NULL,
        detail     TEXT NOT NULL,
        prev_hash  TEXT NOT NULL,
        hash       TEXT NOT NULL
    );
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    "#,
    // 2: pointers' objects (recorded actions) and requests for their real results.
    r#"
    CREATE TABLE objects (
        id           TEXT PRIMARY KEY,
        owner_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        op           TEXT NOT NULL,
        ops_version  INTEGER NOT NULL,
        inputs       TEXT NOT NULL,
        lineage      TEXT NOT NULL,
        status       TEXT NOT NULL CHECK (status IN ('pending', 'ready', 'failed')),
        error        TEXT,
        created_at   INTEGER NOT NULL
    );
    CREATE TABLE requests (
        id            TEXT PRIMARY KEY,
        number        INTEGER NOT NULL UNIQUE,
        object_id     TEXT NOT NULL REFERENCES objects(id) ON DELETE CASCADE,
        requester_id  TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        reason        TEXT NOT NULL,
        status        TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied')),
        reviewer      TEXT,
        decision      TEXT,
        result_blob   TEXT,
        result_kind   TEXT,
        created_at    INTEGER NOT NULL,
        decided_at    INTEGER
    );
    CREATE INDEX requests_by_object ON requests(object_id, requester_id, created_at);
    "#,
    // 3: code requests. Requests now ask either for a pointer's result (object_id) or for running
    // submitted code (code_id); SQLite cannot relax a NOT NULL column in place, so the table is rebuilt.
    r#"
    CREATE TABLE code (
        id          TEXT PRIMARY KEY,
        owner_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        name        TEXT NOT NULL,
        source      TEXT NOT NULL,
        signature   TEXT NOT NULL,
        inputs      TEXT NOT NULL,
        policy      TEXT NOT NULL,
        runs        INTEGER NOT NULL DEFAULT 0,
        digest      TEXT NOT NULL,
        mock_blob   TEXT,
        mock_kind   TEXT,
        created_at  INTEGER NOT NULL,
        UNIQUE (owner_id, digest)
    );
    CREATE TABLE executions (
        code_id       TEXT NOT NULL REFERENCES code(id) ON DELETE CASCADE,
        seq           INTEGER NOT NULL,
        status        TEXT NOT NULL CHECK (status IN ('running', 'ready', 'failed')),
        result_blob   TEXT,
        result_kind   TEXT,
        error         TEXT,
        public_error  TEXT,
        started_at    INTEGER NOT NULL,
        finished_at   INTEGER,
        PRIMARY KEY (code_id, seq)
    );
    CREATE TABLE requests_v3 (
        id            TEXT PRIMARY KEY,
        number        INTEGER NOT NULL UNIQUE,
        object_id     TEXT REFERENCES objects(id) ON DELETE CASCADE,
        code_id       TEXT REFERENCES code(id) ON DELETE CASCADE,
        requester_id  TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        reason        TEXT NOT NULL,
        status        TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied')),
        reviewer      TEXT,
        decision      TEXT,
        result_blob   TEXT,
        result_kind   TEXT,
        created_at    INTEGER NOT NULL,
        decided_at    INTEGER,
        CHECK ((object_id IS NULL) <> (code_id IS NULL))
    );
    INSERT INTO requests_v3 (id, number, object_id, requester_id, reason, status, reviewer, decision,
                             result_blob, result_kind, created_at, decided_at)
        SELECT id, number, object_id, requester_id, reason, status, reviewer, decision, result_blob,
               result_kind, created_at, decided_at FROM requests;
    DROP TABLE requests;
    ALTER TABLE requests_v3 RENAME TO requests;
    CREATE INDEX requests_by_object ON requests(object_id, requester_id, created_at);
    CREATE INDEX requests_by_code ON requests(code_id);
    "#,
    // Differential privacy: budgets per scientist and dataset, every spend, declared domains.
    // ε is kept in whole units of 2^-20 (`dp::EPSILON_UNIT`), so sums are exact.
    r#"
    CREATE TABLE dp_budgets (
        user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        dataset_id     TEXT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
        epsilon_units  INTEGER NOT NULL CHECK (epsilon_units >= 0),
        set_by         TEXT NOT NULL,
        set_at         INTEGER NOT NULL,
        PRIMARY KEY (user_id, dataset_id)
    );
    CREATE TABLE dp_spends (
        seq            INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        dataset_id     TEXT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
        object_id      TEXT NOT NULL,
        query          TEXT NOT NULL,
        epsilon_units  INTEGER NOT NULL CHECK (epsilon_units > 0),
        at             INTEGER NOT NULL
    );
    CREATE INDEX dp_spends_by_budget ON dp_spends(user_id, dataset_id);
    CREATE TABLE column_domains (
        asset_id     TEXT NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
        column_name  TEXT NOT NULL,
        domain       TEXT NOT NULL,
        PRIMARY KEY (asset_id, column_name)
    );
    "#,
    // Disclosure checks: a dataset's thresholds (JSON, ACRO's defaults when NULL), and the
    // reason an owner gave for approving a result a check failed.
    r#"
    ALTER TABLE datasets ADD COLUMN disclosure_rules TEXT;
    ALTER TABLE requests ADD COLUMN overriding TEXT;
    "#,
    // Release receipts, by their digest (which the audit entry of the release records).
    r#"
    CREATE TABLE receipts (
        digest      TEXT PRIMARY KEY,
        request_id  TEXT,
        user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        receipt     TEXT NOT NULL,
        created_at  INTEGER NOT NULL
    );
    CREATE INDEX receipts_by_request ON receipts(request_id, created_at);
    "#,
    // How each asset's mock was made, and what it gives away (measured at upload).
    r#"
    ALTER TABLE assets ADD COLUMN mock_made TEXT;
    ALTER TABLE assets ADD COLUMN mock_report TEXT;
    "#,
    // What each approved result released: the real rows behind its values (row sets, see
    // disclosure::encode_sets), so later releases are checked for differencing against it. No
    // foreign keys: what was released stays released when its request or requester is deleted.
    r#"
    CREATE TABLE releases (
        seq         INTEGER PRIMARY KEY,
        request_id  TEXT NOT NULL,
        object_id   TEXT NOT NULL,
        user_id     TEXT NOT NULL,
        email       TEXT NOT NULL,
        assets      TEXT NOT NULL,
        sets        BLOB NOT NULL,
        created_at  INTEGER NOT NULL
    );
    "#,
    // A third outcome of review, `changes_requested` (the CHECK is the table's, so the table is
    // made anew), and each owner's approval where a dataset needs two (the two-person rule).
    r#"
    CREATE TABLE requests_v4 (
        id            TEXT PRIMARY KEY,
        number        INTEGER NOT NULL UNIQUE,
        object_id     TEXT REFERENCES objects(id) ON DELETE CASCADE,
        code_id       TEXT REFERENCES code(id) ON DELETE CASCADE,
        requester_id  TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        reason        TEXT NOT NULL,
        status        TEXT NOT NULL
                      CHECK (status IN ('pending', 'approved', 'denied', 'changes_requested')),
        reviewer      TEXT,
        decision      TEXT,
        result_blob   TEXT,
        result_kind   TEXT,
        created_at    INTEGER NOT NULL,
        decided_at    INTEGER,
        overriding    TEXT,
        CHECK ((object_id IS NULL) <> (code_id IS NULL))
    );
    INSERT INTO requests_v4 (id, number, object_id, code_id, requester_id, reason, status, reviewer,
                             decision, result_blob, result_kind, created_at, decided_at, overriding)
        SELECT id, number, object_id, code_id, requester_id, reason, status, reviewer, decision,
               result_blob, result_kind, created_at, decided_at, overriding FROM requests;
    DROP TABLE requests;
    ALTER TABLE requests_v4 RENAME TO requests;
    CREATE INDEX requests_by_object ON requests(object_id, requester_id, created_at);
    CREATE INDEX requests_by_code ON requests(code_id);
    CREATE TABLE approvals (
        request_id  TEXT NOT NULL REFERENCES requests(id) ON DELETE CASCADE,
        owner_id    TEXT NOT NULL,
        email       TEXT NOT NULL,
        overriding  TEXT,
        created_at  INTEGER NOT NULL,
        PRIMARY KEY (request_id, owner_id)
    );
    "#,
    // Where an asset's real data is: its blob (`blob`), or Parquet files read in place
    // (`files`), listed with each file's SHA-256 in a manifest that its blob holds.
    r#"
    ALTER TABLE assets ADD COLUMN stored_as TEXT NOT NULL DEFAULT 'blob'
        CHECK (stored_as IN ('blob', 'files'));
    "#,
];

/// Metadata database plus blob files of one datasite directory.
#[derive(Debug)]
pub(crate) struct Store {
    dir: PathBuf,
    blobs: PathBuf,
    /// `None` once the datasite has landed. One connection per open datasite: SQLite serialises writers
    /// anyway, and one mutex keeps lock ordering trivial (never hold it while taking another lock).
    conn: Mutex<Option<Connection>>,
    /// The write-ahead log, synced by each writer after its commit, outside the connection's lock
    /// (see [`Store::write`]).
    wal: File,
    /// Files (blobs, and assets read in place) whose bytes matched their hash, by hash and path,
    /// with the file's identity when they did: a read of an
    /// unchanged file skips hashing it again (SHA-256 was a tenth of a 1e7-row replay), and any
    /// write to it changes its status-change time, which no caller can set back.
    verified: Mutex<HashMap<String, FileStamp>>,
    /// Disk space kept for the writes that must go on when the disk fills.
    reserve: Reserve,
    /// Where blobs are kept when not in `blobs`, which then holds only copies of those that must be
    /// files (see [`bucket`]).
    bucket: Option<Bucket>,
}

/// What identifies a file's contents without reading them: its inode, size, and its modification
/// and status-change times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct FileStamp {
    dev: u64,
    ino: u64,
    pub(crate) len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileStamp {
    fn of(meta: &fs::Metadata) -> FileStamp {
        use std::os::unix::fs::MetadataExt;
        FileStamp {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

impl Store {
    /// Opens (creating if needed) the datasite in `dir`; with `reset`, deletes what it held first.
    #[cfg(test)]
    pub(crate) fn open(dir: &Path, reset: bool) -> Result<Store> {
        Store::open_with(dir, reset, None)
    }

    /// [`Store::open`], its blobs kept in `bucket` when one is given; a datasite keeps its blobs
    /// where they were first kept.
    pub(crate) fn open_with(dir: &Path, reset: bool, bucket: Option<Bucket>) -> Result<Store> {
        if reset {
            remove_datasite_files(dir)?;
        }
        let blobs = dir.join(BLOB_DIR);
        fs::create_dir_all(blobs.join("tmp"))
            .map_err(Error::io(format!("creating {}", blobs.display())))?;
        let path = dir.join(DB_FILE);
        let conn = Connection::open(&path)
            .map_err(Error::sqlite(format!("opening {}", path.display())))?;
        conn.busy_timeout(Duration::from_secs(30))
            .map_err(Error::sqlite("setting the busy timeout"))?;
        // Commits are made durable by `Store::write` syncing the WAL itself, after it lets go of the
        // connection, so SQLite need not sync at each commit (`NORMAL`; it still syncs around
        // checkpoints). The WAL exists once the connection is in WAL mode; its directory entry is
        // synced once, here.
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
        )
        .map_err(Error::sqlite("configuring SQLite"))?;
        conn.execute_batch("BEGIN IMMEDIATE; COMMIT;")
            .map_err(Error::sqlite("opening the write-ahead log"))?;
        let wal_path = dir.join(format!("{DB_FILE}-wal"));
        let wal = File::open(&wal_path)
            .and_then(|wal| File::open(dir)?.sync_all().map(|()| wal))
            .map_err(Error::io(format!("opening {}", wal_path.display())))?;
        let store = Store {
            dir: dir.to_path_buf(),
            blobs,
            conn: Mutex::new(Some(conn)),
            wal,
            verified: Mutex::default(),
            reserve: Reserve::none(dir),
            bucket,
        };
        store.migrate()?;
        store.bind_blobs(reset)?;
        store.collect_garbage()?;
        Ok(store)
    }

    fn migrate(&self) -> Result<()> {
        self.write("migrating the database", |tx| {
            let version: i64 = tx
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .map_err(Error::sqlite("reading the schema version"))?;
            if version > MIGRATIONS.len() as i64 {
                return Err(Error::corrupt(
                    "opening the datasite",
                    format!(
                        "schema version {version} is newer than this veil ({}); upgrade veil",
                        MIGRATIONS.len()
                    ),
                ));
            }
            for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
                tx.execute_batch(sql)
                    .map_err(Error::sqlite(format!("applying migration {}", i + 1)))?;
                tx.pragma_update(None, "user_version", i as i64 + 1)
                    .map_err(Error::sqlite("recording the schema version"))?;
            }
            Ok(())
        })
    }

    /// Records where this datasite's blobs are kept, refusing a different place once it holds
    /// some, and claims its bucket's prefix.
    fn bind_blobs(&self, reset: bool) -> Result<()> {
        let want = self.bucket.as_ref().map_or(IN_DIRECTORY, Bucket::url);
        let recorded =
            self.read(|conn| Ok((setting(conn, "blob_store")?, setting(conn, "datasite_id")?)))?;
        let id = match recorded {
            (Some(had), Some(id)) if had == want => id,
            _ => self.write("recording where blobs are kept", |tx| {
                let had = setting(tx, "blob_store")?.unwrap_or_else(|| IN_DIRECTORY.to_string());
                if had != want && !live_blobs(tx)?.is_empty() {
                    return Err(Error::invalid(
                        "blob store",
                        format!("this datasite keeps its blobs in {had}, not in {want}"),
                        format!("launch it with the blob store it was made with ({had})"),
                    ));
                }
                let id = match setting(tx, "datasite_id")? {
                    Some(id) => id,
                    None => uuid::Uuid::new_v4().to_string(),
                };
                set_setting(tx, "blob_store", want)?;
                set_setting(tx, "datasite_id", &id)?;
                Ok(id)
            })?,
        };
        match &self.bucket {
            Some(bucket) => bucket.claim(&id, reset),
            None => Ok(()),
        }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Its disk: the bytes still free there, and whether its reserve is kept.
    pub(crate) fn disk(&self) -> (Option<u64>, bool) {
        (self.reserve.free(), self.reserve.held())
    }

    /// Keeps `bytes` of the disk in reserve for logins and deletes (see [`reserve`]).
    pub(crate) fn keep_reserve(&mut self, bytes: u64) {
        self.reserve = Reserve::new(&self.dir, bytes);
    }

    fn lock(&self) -> MutexGuard<'_, Option<Connection>> {
        // A panic while holding the lock cannot leave SQLite half-written (the transaction rolls back on
        // drop), so a poisoned mutex is safe to keep using.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs read-only work on the connection.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let guard = self.lock();
        let conn = guard.as_ref().ok_or_else(|| self.landed())?;
        f(conn)
    }

    /// Runs `f` in one immediate (write-locked) transaction, committing if it returns `Ok`; durable
    /// when this returns.
    ///
    /// The commit is made durable by syncing the WAL after the connection's lock is let go: a sync
    /// takes the disk's time, and holding the lock through it made every other call wait, so
    /// concurrent writers queued behind each other's syncs (a served datasite did half the pointer
    /// ops per second it does now). Others may read a commit before its sync ends; nobody is told it
    /// is done before then.
    pub(crate) fn write<T>(
        &self,
        context: &str,
        f: impl FnOnce(&Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        self.reserve.before_write();
        let value = {
            let mut guard = self.lock();
            let conn = guard.as_mut().ok_or_else(|| self.landed())?;
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(Error::sqlite(format!(
                    "starting a transaction for {context}"
                )))?;
            let value = f(&tx)?;
            tx.commit()
                .map_err(Error::sqlite(format!("committing {context}")))?;
            value
        };
        self.wal
            .sync_data()
            .map_err(Error::io(format!("making {context} durable")))?;
        Ok(value)
    }

    fn landed(&self) -> Error {
        let name = self
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Error::Landed(name)
    }

    /// Checkpoints the WAL into the database file and closes the connection.
    pub(crate) fn close(&self) -> Result<()> {
        let mut guard = self.lock();
        if let Some(conn) = guard.take() {
            // With no room to checkpoint into, the WAL keeps every commit and the next open reads it.
            match conn
                .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
                .map_err(Error::sqlite("checkpointing the WAL"))
            {
                Err(Error::DiskFull(_)) | Ok(()) => {}
                Err(e) => return Err(e),
            }
            conn.close()
                .map_err(|(_, e)| Error::sqlite("closing the database")(e))?;
        }
        Ok(())
    }

    /// Writes `bytes` as a blob and returns its hash. Call inside [`Store::write`] (see the module docs).
    pub(crate) fn put_blob(&self, bytes: &[u8]) -> Result<String> {
        let hash = blob_hash(bytes);
        if let Some(bucket) = &self.bucket {
            bucket.put(&hash, bytes)?;
            return Ok(hash);
        }
        let path = self.blob_path(&hash);
        if path.exists() {
            return Ok(hash);
        }
        self.reserve.room_for(
            bytes.len() as u64,
            &format!("a value of {} bytes", bytes.len()),
        )?;
        self.write_blob_file(&hash, &path, bytes)?;
        Ok(hash)
    }

    /// Writes `bytes` to the blob file `path`: to `blobs/tmp`, synced, renamed into place.
    fn write_blob_file(&self, hash: &str, path: &Path, bytes: &[u8]) -> Result<()> {
        let parent = path.parent().expect("blob paths have a parent");
        fs::create_dir_all(parent).map_err(Error::io("creating a blob directory"))?;
        let tmp = self
            .blobs
            .join("tmp")
            .join(uuid::Uuid::new_v4().to_string());
        let write = || -> std::io::Result<()> {
            let mut file = File::create(&tmp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            fs::rename(&tmp, path)?;
            File::open(parent)?.sync_all()
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&tmp);
            Error::io(format!("writing blob {hash}"))(e)
        })
    }

    /// Reads a blob, checking its bytes still hash to its name.
    pub(crate) fn get_blob(&self, hash: &str) -> Result<Vec<u8>> {
        if let Some(bucket) = &self.bucket {
            return bucket.get(hash);
        }
        let path = self.blob_path(hash);
        // The file's stamp before and after the read: a file changed while it was read is hashed,
        // and its stamp not kept.
        let read = || -> std::io::Result<(Vec<u8>, Option<FileStamp>)> {
            let mut file = File::open(&path)?;
            let before = FileStamp::of(&file.metadata()?);
            let mut bytes = Vec::with_capacity(before.len as usize);
            std::io::Read::read_to_end(&mut file, &mut bytes)?;
            let after = FileStamp::of(&file.metadata()?);
            let steady = before == after && bytes.len() as u64 == after.len;
            Ok((bytes, steady.then_some(after)))
        };
        let (bytes, stamp) = read().map_err(Error::io(format!("reading blob {hash}")))?;
        let key = verified_key(hash, &path);
        let mut verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if stamp.is_some() && verified.get(&key) == stamp.as_ref() {
            return Ok(bytes);
        }
        drop(verified);
        if blob_hash(&bytes) != hash {
            return Err(Error::corrupt(
                format!("reading blob {hash}"),
                "its contents do not match its hash; restore the datasite from a backup",
            ));
        }
        if let Some(stamp) = stamp {
            verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
            verified.insert(key, stamp);
        }
        Ok(bytes)
    }

    /// The path of blob `hash`, its contents checked against its hash (see [`Store::verify_file`]),
    /// with its size: for readers that read the file in place, like the plan path. Call it again
    /// after such a read to confirm the file did not change under it.
    pub(crate) fn verified_blob_file(&self, hash: &str) -> Result<(PathBuf, u64)> {
        let path = self.blob_path(hash);
        if let Some(bucket) = &self.bucket
            && !path.exists()
        {
            let bytes = bucket.get(hash)?;
            self.reserve
                .room_for(bytes.len() as u64, &format!("a copy of blob {hash}"))?;
            self.write_blob_file(hash, &path, &bytes)?;
            // `get` hashed these bytes: the copy is not hashed again.
            let meta = fs::metadata(&path).map_err(Error::io(format!("reading blob {hash}")))?;
            self.verified
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(verified_key(hash, &path), FileStamp::of(&meta));
        }
        let stamp = self.verify_file(&path, hash, None, || {
            Error::corrupt(
                format!("reading blob {hash}"),
                "its contents do not match its hash; restore the datasite from a backup",
            )
        })?;
        Ok((path, stamp.len))
    }

    /// Checks that the file at `path` holds bytes whose SHA-256 is `hash`, streaming it through the
    /// hash (never held whole), unless its stamp is `trusted` (recorded when it was last hashed)
    /// or the one it had when this process last checked it. Returns its stamp; a file whose hash
    /// differs gets `mismatch`'s error.
    pub(crate) fn verify_file(
        &self,
        path: &Path,
        hash: &str,
        trusted: Option<&FileStamp>,
        mismatch: impl FnOnce() -> Error,
    ) -> Result<FileStamp> {
        let key = verified_key(hash, path);
        let before = FileStamp::of(
            &fs::metadata(path).map_err(Error::io(format!("reading {}", path.display())))?,
        );
        if trusted == Some(&before)
            || self
                .verified
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&key)
                == Some(&before)
        {
            return Ok(before);
        }
        let (digest, after) = hash_file(path)?;
        if digest != hash {
            return Err(mismatch());
        }
        self.verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, after);
        Ok(after)
    }

    fn blob_path(&self, hash: &str) -> PathBuf {
        self.blobs.join(&hash[..2]).join(&hash[2..])
    }

    /// Deletes blobs (and blob files) nothing references, and leftovers in `blobs/tmp`. Runs under the
    /// write lock so no upload in another process is between writing a blob and committing its
    /// reference.
    pub(crate) fn collect_garbage(&self) -> Result<usize> {
        self.write("collecting unreferenced blobs", |tx| {
            let live = live_blobs(tx)?;
            let files = self.sweep(&live)?;
            match &self.bucket {
                Some(bucket) => Ok(files + bucket.sweep(&live)?),
                None => Ok(files),
            }
        })
    }

    fn sweep(&self, live: &HashSet<String>) -> Result<usize> {
        let io = || Error::io("collecting unreferenced blobs");
        let mut removed = 0;
        for shard in fs::read_dir(&self.blobs).map_err(io())? {
            let shard = shard.map_err(io())?;
            let shard_name = shard.file_name().to_string_lossy().into_owned();
            for entry in fs::read_dir(shard.path()).map_err(io())? {
                let entry = entry.map_err(io())?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if shard_name == "tmp" || !live.contains(&format!("{shard_name}{name}")) {
                    fs::remove_file(entry.path()).map_err(io())?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

/// The name of the blob holding `bytes`: their SHA-256, in hex.
pub(crate) fn blob_hash(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// The datasite's setting `key`, if set.
pub(crate) fn setting(conn: &Connection, key: &str) -> Result<Option<String>> {
    conn.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
        r.get(0)
    })
    .optional()
    .map_err(Error::sqlite("reading settings"))
}

/// Sets the datasite's setting `key` to `value`.
pub(crate) fn set_setting(tx: &Connection, key: &str, value: &str) -> Result<()> {
    tx.execute(
        "INSERT INTO settings (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [key, value],
    )
    .map(drop)
    .map_err(Error::sqlite("changing settings"))
}

/// What [`Store`]'s settings say of blobs kept in the datasite directory.
const IN_DIRECTORY: &str = "the datasite directory";

/// The blobs some row references.
fn live_blobs(tx: &Connection) -> Result<HashSet<String>> {
    let mut stmt = tx
        .prepare(
            "SELECT data_blob FROM assets
             UNION SELECT mock_blob FROM assets WHERE mock_blob IS NOT NULL
             UNION SELECT result_blob FROM requests WHERE result_blob IS NOT NULL
             UNION SELECT mock_blob FROM code WHERE mock_blob IS NOT NULL
             UNION SELECT result_blob FROM executions WHERE result_blob IS NOT NULL",
        )
        .map_err(Error::sqlite("listing blobs"))?;
    let rows = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(Error::sqlite("listing blobs"))?;
    rows.map(|hash| hash.map_err(Error::sqlite("listing blobs")))
        .collect()
}

/// How [`Store`]'s record of verified files names the file at `path` checked against `hash`.
fn verified_key(hash: &str, path: &Path) -> String {
    format!("{hash} {}", path.display())
}

/// The SHA-256 of the file at `path` (streamed through the hash, never held whole) and its stamp;
/// refused if the file changed while it was read.
pub(crate) fn hash_file(path: &Path) -> Result<(String, FileStamp)> {
    use std::os::unix::fs::OpenOptionsExt;
    let context = || format!("reading {}", path.display());
    // Opened without waiting, so a pipe put in a file's place cannot hold the reader at its open.
    let mut file = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(Error::io(context()))?;
    let meta = file.metadata().map_err(Error::io(context()))?;
    if !meta.is_file() {
        return Err(Error::invalid(
            path.display().to_string(),
            "it is not a regular file",
            "keep only regular Parquet files where the datasite reads them",
        ));
    }
    let before = FileStamp::of(&meta);
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(Error::io(context()))?;
    let after = FileStamp::of(&file.metadata().map_err(Error::io(context()))?);
    if before != after {
        return Err(Error::invalid(
            path.display().to_string(),
            "it changed while it was read",
            "wait until whatever writes it is done, then try again",
        ));
    }
    Ok((hex(&hasher.finalize()), after))
}

/// Deletes a datasite's own files from `dir`, refusing to touch a directory that holds other files, so a
/// mistyped `--dir` cannot wipe someone's home.
fn remove_datasite_files(dir: &Path) -> Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(format!("reading {}", dir.display()))(e)),
    };
    let ours = |name: &str| {
        name == BLOB_DIR
            || name == DB_FILE
            || name == reserve::RESERVE_FILE
            || name.starts_with(&format!("{DB_FILE}-"))
    };
    let names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    if let Some(foreign) = names.iter().find(|n| !ours(n)) {
        return Err(Error::invalid(
            "datasite directory",
            format!(
                "{} holds `{foreign}`, which is not part of a datasite, so reset will not delete it",
                dir.display()
            ),
            "choose an empty or datasite-only directory",
        ));
    }
    for name in names {
        let path = dir.join(&name);
        let result = if name == BLOB_DIR {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        result.map_err(Error::io(format!("resetting {}", path.display())))?;
    }
    Ok(())
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Milliseconds since the Unix epoch, the datasite's timestamp format.
pub(crate) fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_round_trip_and_garbage_is_collected() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), false).unwrap();
        let hash = store.write("test", |_| store.put_blob(b"hello")).unwrap();
        assert_eq!(store.get_blob(&hash).unwrap(), b"hello");
        // Nothing references it, so the collector removes it.
        assert_eq!(store.collect_garbage().unwrap(), 1);
        assert!(store.get_blob(&hash).is_err());
    }

    #[test]
    fn corrupted_blob_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), false).unwrap();
        let hash = store.write("test", |_| store.put_blob(b"abc")).unwrap();
        fs::write(store.blob_path(&hash), b"abd").unwrap();
        let err = store.get_blob(&hash).unwrap_err();
        assert!(err.to_string().contains("do not match its hash"), "{err}");
    }

    #[test]
    fn a_verified_blob_changed_in_place_is_hashed_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), false).unwrap();
        let hash = store.write("test", |_| store.put_blob(b"abc")).unwrap();
        assert_eq!(store.get_blob(&hash).unwrap(), b"abc");
        let key = verified_key(&hash, &store.blob_path(&hash));
        assert!(store.verified.lock().unwrap().contains_key(&key));
        // The same length, and the modification time put back: the status-change time still moves.
        let path = store.blob_path(&hash);
        let modified = fs::metadata(&path).unwrap().modified().unwrap();
        std::thread::sleep(Duration::from_millis(10));
        fs::write(&path, b"abd").unwrap();
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(modified)
            .unwrap();
        let err = store.get_blob(&hash).unwrap_err();
        assert!(err.to_string().contains("do not match its hash"), "{err}");
    }

    #[test]
    fn reset_refuses_foreign_directories() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("thesis.tex"), "precious").unwrap();
        let err = Store::open(dir.path(), true).unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }));
        assert!(err.to_string().contains("thesis.tex"), "{err}");
        assert!(dir.path().join("thesis.tex").exists());
    }

    #[test]
    fn migrations_are_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), false).unwrap();
        let version: i64 = store
            .read(|c| {
                Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))
                    .unwrap())
            })
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        store.close().unwrap();
        // Reopening applies nothing twice.
        Store::open(dir.path(), false).unwrap();
    }
}
