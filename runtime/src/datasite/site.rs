//! The datasite's state ([`SiteCore`]) and its embedded handle ([`Datasite`]): launching, opening
//! and landing a datasite.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::audit;
use crate::data::Data;
use crate::datasite::dispatch::{Caller, Serve};
use crate::datasite::replay::Worker;
use crate::datasite::users::{self, NewUser, User};
use crate::display::Table;
use crate::engine::planned::{DEFAULT_PLAN_FROM_BYTES, Planner};
use crate::engine::replay::{DEFAULT_CACHE_BYTES, Executor};
use crate::error::{Error, Result};
use crate::runner::{self, Limits, Runner};
use crate::store::{self, Bucket, Store};
use crate::validate;
use veil_api::calls;

/// The environment variable that overrides where datasites live.
pub const VEIL_HOME_ENV: &str = "VEIL_HOME";

/// Where datasites live unless told otherwise: `$VEIL_HOME`, else the platform's user data directory
/// plus `veil` (`~/.local/share/veil` on Linux).
pub fn default_home() -> PathBuf {
    match std::env::var_os(VEIL_HOME_ENV) {
        Some(home) if !home.is_empty() => PathBuf::from(home),
        _ => dirs::data_dir()
            .unwrap_or_else(std::env::temp_dir)
            .join("veil"),
    }
}

/// The state shared by a [`Datasite`] handle and every [`Client`] logged into it. This is the trust
/// boundary: every operation here takes the caller (resolved from a session token) and checks its role.
#[derive(Debug)]
pub(crate) struct SiteCore {
    pub name: String,
    pub store: Store,
    /// An argon2 hash of nothing in particular, verified against when a login names an unknown email.
    pub dummy_hash: String,
    /// Replays actions on real data (a worker thread) and caches computed values.
    pub exec: Executor,
    /// The worker that replays recorded actions on the real data.
    pub worker: Worker,
    /// Compiles and runs code requests.
    pub runner: Runner,
    /// Limits on each run of submitted code.
    pub code_limits: Limits,
    /// Whether submitted code may run where runs cannot be jailed.
    pub allow_unjailed_code: bool,
    /// How long a login's session lasts.
    pub session_ttl: std::time::Duration,
    /// Failed logins per account.
    pub login_backoff: crate::backoff::Backoff,
    /// Least time an answer that depends on real computation takes (see
    /// [`LaunchOptions::real_answer_floor`]).
    pub real_answer_floor: std::time::Duration,
    /// Real-side replays of large assets as streaming plans over their files.
    pub planner: Planner,
    /// Where assets read in place may be (canonical), if anywhere.
    pub data_root: Option<PathBuf>,
}

impl SiteCore {
    /// The audit log, oldest entry first, for an owner.
    pub(crate) fn audit_log(&self, caller: &User) -> Result<Vec<audit::AuditEntry>> {
        users::require_owner(caller, "reading the audit log", "ask the datasite's owner")?;
        self.store.read(audit::entries)
    }

    pub(crate) fn setting(&self, key: &str) -> Result<Option<String>> {
        self.store.read(|conn| store::setting(conn, key))
    }

    pub(crate) fn set_setting(&self, caller: &User, key: &str, value: &str) -> Result<()> {
        self.store.write("changing settings", |tx| {
            store::set_setting(tx, key, value)?;
            audit::record(tx, &caller.email, "set_setting", key, value)
        })
    }
}

/// Least time an answer depending on real computation takes unless
/// [`LaunchOptions::real_answer_floor`] says otherwise: above a typical replay of a tutorial-sized
/// asset, so its timing says nothing of the data.
pub const DEFAULT_REAL_ANSWER_FLOOR: std::time::Duration = std::time::Duration::from_millis(200);

/// How long a session lasts unless [`LaunchOptions::session_ttl`] says otherwise: a working day and
/// night, so a notebook left open overnight logs in again.
pub const DEFAULT_SESSION_TTL: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Options for [`Datasite::launch_with`].
#[derive(Debug, Clone)]
pub struct LaunchOptions {
    real_answer_floor: std::time::Duration,
    name: String,
    reset: bool,
    dir: Option<PathBuf>,
    runner_dir: Option<PathBuf>,
    code_limits: Limits,
    cache_bytes: usize,
    plan_from_bytes: u64,
    data_root: Option<PathBuf>,
    engine: Option<String>,
    disk_reserve: u64,
    blob_store: Option<String>,
    blob_store_options: Vec<(String, String)>,
    allow_unjailed_code: bool,
    session_ttl: std::time::Duration,
}

impl LaunchOptions {
    /// Options for the datasite `name`: reopen it if it exists, in the default home.
    pub fn new(name: impl Into<String>) -> Self {
        LaunchOptions {
            real_answer_floor: DEFAULT_REAL_ANSWER_FLOOR,
            name: name.into(),
            reset: false,
            dir: None,
            runner_dir: None,
            code_limits: Limits::default(),
            cache_bytes: DEFAULT_CACHE_BYTES,
            plan_from_bytes: DEFAULT_PLAN_FROM_BYTES,
            data_root: None,
            engine: None,
            disk_reserve: 0,
            blob_store: None,
            blob_store_options: Vec::new(),
            session_ttl: DEFAULT_SESSION_TTL,
            allow_unjailed_code: std::env::var_os(crate::datasite::code::ALLOW_UNJAILED_ENV)
                .is_some_and(|v| v == "1"),
        }
    }

    /// Start empty, deleting what the datasite held.
    pub fn reset(mut self, reset: bool) -> Self {
        self.reset = reset;
        self
    }

    /// Keep the datasite in exactly this directory (instead of `<home>/<name>`).
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// Compile submitted code here (instead of [`runner::default_dir`]).
    pub fn runner_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.runner_dir = Some(dir.into());
        self
    }

    /// How long a login's session lasts before its client must log in again (default
    /// [`DEFAULT_SESSION_TTL`]).
    pub fn session_ttl(mut self, ttl: std::time::Duration) -> Self {
        self.session_ttl = ttl;
        self
    }

    /// Least time an answer that depends on real computation takes (default
    /// [`DEFAULT_REAL_ANSWER_FLOOR`]): a released result or code run, a differential-privacy
    /// release, and their errors. A stall up to the floor, not random jitter (which averages out
    /// over repeats), so how long a real computation took says little unless it takes longer.
    pub fn real_answer_floor(mut self, floor: std::time::Duration) -> Self {
        self.real_answer_floor = floor;
        self
    }

    /// Limits on each run of submitted code (wall time, CPU time, memory, output size).
    pub fn code_limits(mut self, limits: Limits) -> Self {
        self.code_limits = limits;
        self
    }

    /// Lets submitted code run where runs cannot be jailed (the OS allows no user namespaces), where
    /// a run could read every file of the datasite. Off by default (unless
    /// `VEIL_ALLOW_UNJAILED_CODE=1`): there, code requests are refused with what to do.
    pub fn allow_unjailed_code(mut self, allow: bool) -> Self {
        self.allow_unjailed_code = allow;
        self
    }

    /// Most bytes of computed pointer values kept in memory (default [`DEFAULT_CACHE_BYTES`]), each
    /// charged what it costs ([`Data::footprint`]); past it the least recently used are dropped, and
    /// replayed from their recorded steps when needed again.
    pub fn cache_bytes(mut self, bytes: usize) -> Self {
        self.cache_bytes = bytes;
        self
    }

    /// Real-side replays over a frame asset of at least `bytes` (8 bytes a value, the size
    /// listings show; default [`DEFAULT_PLAN_FROM_BYTES`]) run as one streaming DataFusion plan over the file, read in
    /// place, when every step of the lineage is one the plan path runs; others load the asset and
    /// replay in memory. `u64::MAX` keeps every replay in memory; 0 plans every one it can.
    pub fn plan_from_bytes(mut self, bytes: u64) -> Self {
        self.plan_from_bytes = bytes;
        self
    }

    /// The directory under which owners may register assets whose real data stays where it is
    /// (`Asset::files`): Parquet files read in place. Without one, such assets are refused. An
    /// owner names files relative to it and never reaches outside it (no `..`, no absolute paths,
    /// no links out).
    pub fn data_root(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_root = Some(dir.into());
        self
    }

    /// Keeps `bytes` of the datasite's disk in reserve (a file, `reserve`, in its directory) for
    /// the writes that must go on when the disk fills: when less than half of it is left free,
    /// the file is given back so logins, deletes and their audit rows still commit, while
    /// uploads and other data are refused with [`Error::DiskFull`] until space returns (it is
    /// made again once twice its size is free). Default 0: no reserve; `veil serve` keeps 64 MiB.
    pub fn disk_reserve(mut self, bytes: u64) -> Self {
        self.disk_reserve = bytes;
        self
    }

    /// Keeps the datasite's blobs (its assets' data and mocks, released results) in an
    /// S3-compatible bucket, `s3://BUCKET/PREFIX`, instead of its directory, which keeps the
    /// database. Its credentials, region and endpoint come from the `AWS_*` environment
    /// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT_URL`,
    /// `AWS_ALLOW_HTTP=true` for a plain-http endpoint), then from
    /// [`LaunchOptions::blob_store_option`]. Each blob is written whole, read back and checked before
    /// it is recorded; every read is checked against its hash. A datasite keeps its blobs where it
    /// first kept them, and a prefix belongs to one datasite (a marker in it says which).
    pub fn blob_store(mut self, url: impl Into<String>) -> Self {
        self.blob_store = Some(url.into());
        self
    }

    /// One setting of the [`LaunchOptions::blob_store`]'s client, by object_store's S3 key
    /// (`aws_endpoint`, `aws_region`, `aws_access_key_id`, `aws_secret_access_key`,
    /// `aws_allow_http`, ...); it overrides the environment's.
    pub fn blob_store_option(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.blob_store_options.push((key.into(), value.into()));
        self
    }

    /// Runs real-side plans on the Apache DataFusion Ballista cluster whose scheduler is at
    /// `scheduler` (`df://HOST:PORT`) instead of in this process. Its executors compute; DP noise,
    /// the disclosure checks, the audit log and every permission stay in the datasite. They read
    /// the assets' Parquet files at the paths the datasite names, so they must share its file
    /// system (or mount the same paths).
    pub fn engine(mut self, scheduler: impl Into<String>) -> Self {
        self.engine = Some(scheduler.into());
        self
    }

    /// Launches the datasite.
    pub fn launch(self) -> Result<Datasite> {
        Datasite::launch_with(self)
    }
}

/// An embedded datasite: a directory with a SQLite database and blob files, opened in this process.
///
/// Cloning gives another handle to the same open datasite.
///
/// ```
/// # let tmp = tempfile::tempdir().unwrap();
/// use veil::prelude::*;
/// let site = LaunchOptions::new("docs-example").dir(tmp.path()).reset(true).launch()?;
/// let client = site.login("info@openmined.org", "changethis")?;
/// assert!(client.role().is_owner());
/// site.land()?;
/// # Ok::<(), veil::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Datasite {
    core: Arc<SiteCore>,
}

impl Datasite {
    /// The datasite's gauges as `(name, value, unit)`: what its Metrics call gives owners, for the
    /// process that serves it (`veil serve`'s `/metrics`).
    pub fn gauges(&self) -> Result<Vec<(String, f64, String)>> {
        Ok(gauges(&self.core)?
            .into_iter()
            .map(|(name, value, unit)| (name.to_string(), value, unit.to_string()))
            .collect())
    }

    /// Launches the datasite `name` under the default home ([`default_home`]). Without `reset` an existing
    /// datasite is reopened with everything it held; with `reset` it starts empty.
    pub fn launch(name: &str, reset: bool) -> Result<Datasite> {
        LaunchOptions::new(name).reset(reset).launch()
    }

    /// Launches with explicit options.
    pub fn launch_with(options: LaunchOptions) -> Result<Datasite> {
        let name = validate::site_name(&options.name)?;
        let data_root = options
            .data_root
            .map(|root| {
                root.canonicalize().map_err(|e| {
                    Error::invalid(
                        "data root",
                        format!("{}: {e}", root.display()),
                        "name an existing directory that holds the owners' Parquet files",
                    )
                })
            })
            .transpose()?;
        let scheduler = options
            .engine
            .as_deref()
            .map(crate::engine::planned::scheduler_address)
            .transpose()?;
        let dir = options.dir.unwrap_or_else(|| default_home().join(&name));
        // Reached before the datasite is opened, so a wrong bucket with `reset` erases nothing.
        let bucket = options
            .blob_store
            .as_deref()
            .map(|url| Bucket::open(url, &options.blob_store_options))
            .transpose()?;
        let mut store = Store::open_with(&dir, options.reset, bucket)?;
        store.keep_reserve(options.disk_reserve);
        let fresh = store.write("initialising the datasite", |tx| {
            let users: i64 = tx
                .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
                .map_err(Error::sqlite("counting users"))?;
            if users > 0 {
                return Ok(false);
            }
            store::set_setting(tx, "name", &name)?;
            users::create_default_admin(tx)?;
            audit::record(tx, "system", "launch", &name, "new datasite")?;
            Ok(true)
        })?;
        if !fresh {
            let recorded = store.write("recording the launch", |tx| {
                audit::record(tx, "system", "launch", &name, "reopened")
            });
            match recorded {
                // On a full disk it opens all the same: reads go on, writes say why they wait.
                Err(Error::DiskFull(_)) => {
                    tracing::warn!(site = %name, "opened on a full disk: writes are refused until space returns");
                }
                other => other?,
            }
        }
        let dummy_hash = users::hash_password("not a password")?;
        let core = Arc::new(SiteCore {
            name,
            store,
            dummy_hash,
            exec: Executor::new(options.cache_bytes),
            worker: Worker::default(),
            // Its compiled jobs apart from other datasites' sharing the runner, so it prunes only
            // its own.
            runner: Runner::new(options.runner_dir.unwrap_or_else(runner::default_dir))
                .scoped(&runner::scope_of(&dir)),
            code_limits: options.code_limits,
            allow_unjailed_code: options.allow_unjailed_code,
            session_ttl: options.session_ttl,
            login_backoff: Default::default(),
            real_answer_floor: options.real_answer_floor,
            planner: Planner::new(options.plan_from_bytes, scheduler),
            data_root,
        });
        Worker::start(&core);
        core.resume_replays()?;
        Ok(Datasite { core })
    }

    /// The datasite's name.
    pub fn name(&self) -> &str {
        &self.core.name
    }

    /// The directory holding the datasite's files.
    pub fn dir(&self) -> &Path {
        self.core.store.dir()
    }

    /// Its trusted state: what an in-process client's link calls into.
    pub(crate) fn core(&self) -> &Arc<SiteCore> {
        &self.core
    }

    /// A login for a transport that serves this datasite (the HTTP server): the session token and
    /// the user, checked as [`Datasite::login`] checks them.
    pub fn open_session(&self, email: &str, password: &str) -> Result<veil_api::wire::Session> {
        let outcome = self.core.login(email, password)?;
        let expires_at = crate::store::now_ms() + self.core.session_ttl.as_millis() as i64;
        Ok(veil_api::wire::Session {
            token: veil_api::call::Secret(outcome.token),
            expires_at,
            user: outcome.user,
            notices: outcome.notices,
        })
    }

    /// Whether an owner still logs in with the password the datasite was created with (the default
    /// admin's, `changethis`): a served datasite stays on loopback until it is changed.
    pub fn default_password_in_use(&self) -> Result<bool> {
        self.core.default_password_in_use()
    }

    /// The user behind a session token, as they are now: what a transport checks before it reads
    /// anything else of a request.
    pub fn session_user(&self, token: &str) -> Result<User> {
        self.core.authorize(token)
    }

    /// The user behind `token` if they may send `parts` encoded values with `call` (only an owner's
    /// upload carries any): what a transport checks before it decodes a single one.
    pub fn admit(&self, token: &str, call: &veil_api::call::Call, parts: usize) -> Result<User> {
        let caller = self.core.authorize(token)?;
        crate::datasite::dispatch::admit(&caller, call.info(), parts)?;
        Ok(caller)
    }

    /// A call for a transport that serves this datasite, as the session `token` (from
    /// [`Datasite::open_session`]): the one dispatch every client goes through.
    pub fn handle(
        &self,
        token: &str,
        call: veil_api::call::Call,
        parts: Vec<crate::Data>,
    ) -> Result<veil_api::call::Reply<crate::Data>> {
        self.core
            .handle(token, call, parts, &crate::progress::silent)
    }

    /// Registers yourself as a data scientist, when the owner has enabled self sign-up.
    pub fn sign_up(&self, user: NewUser) -> Result<User> {
        self.core.register(None, user)
    }

    /// Forgets the results of pointer operations computed so far, freeing their memory; they are
    /// replayed from the recorded actions when next needed. Loaded asset data stays.
    pub fn clear_results(&self) {
        self.core.exec.clear();
    }

    /// Closes the datasite: the WAL is checkpointed and later calls through any client fail with
    /// [`Error::Landed`]. Everything committed stays on disk for the next launch.
    pub fn land(&self) -> Result<()> {
        // Record the landing before closing; a landed site has no connection to write it with.
        let _ = self.core.store.write("recording the landing", |tx| {
            audit::record(tx, "system", "land", &self.core.name, "")
        });
        self.core.worker.stop();
        self.core.store.close()
    }

    pub(crate) fn summary(&self) -> Result<(i64, i64)> {
        self.core.store.read(|conn| {
            conn.query_row(
                "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM datasets)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(Error::sqlite("counting users and datasets"))
        })
    }

    fn table(&self) -> Table {
        let mut fields = vec![
            ("name", self.name().to_string()),
            ("directory", self.dir().display().to_string()),
        ];
        match self.summary() {
            Ok((users, datasets)) => {
                fields.push(("users", users.to_string()));
                fields.push(("datasets", datasets.to_string()));
                fields.push(("status", "open".into()));
            }
            Err(Error::Landed(_)) => fields.push(("status", "landed".into())),
            Err(e) => fields.push(("status", e.to_string())),
        }
        let mut t = Table::fields(format!("Datasite {}", self.name()), fields);
        t.badge = Some("embedded".into());
        t
    }
}

crate::display::render_via_table!(Datasite);

/// The datasite's gauges, for owners: counts from its records, the cache's use and the store's
/// bytes on disk, as a frame of `metric`, `value` and `unit`.
impl Serve for calls::Metrics {
    fn serve(self, site: &SiteCore, caller: &mut Caller<'_>) -> Result<Data> {
        users::require_owner(
            caller,
            "reading the datasite's metrics",
            "ask the datasite's owner",
        )?;
        let rows = gauges(site)?;
        let frame = polars::prelude::DataFrame::new_infer_height(vec![
            polars::prelude::Column::new(
                "metric".into(),
                rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            ),
            polars::prelude::Column::new(
                "value".into(),
                rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            ),
            polars::prelude::Column::new(
                "unit".into(),
                rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            ),
        ])
        .map_err(Error::data("building the metrics"))?;
        Ok(Data::Frame(frame))
    }
}

/// The datasite's gauges: `(name, value, unit)`.
fn gauges(site: &SiteCore) -> Result<Vec<(&'static str, f64, &'static str)>> {
    const COUNTS: [(&str, &str, &str); 15] = [
        ("users", "SELECT count(*) FROM users", "users"),
        ("datasets", "SELECT count(*) FROM datasets", "datasets"),
        ("assets", "SELECT count(*) FROM assets", "assets"),
        (
            "requests_pending",
            "SELECT count(*) FROM requests WHERE status = 'pending'",
            "requests",
        ),
        (
            "requests_approved",
            "SELECT count(*) FROM requests WHERE status = 'approved'",
            "requests",
        ),
        (
            "requests_denied",
            "SELECT count(*) FROM requests WHERE status = 'denied'",
            "requests",
        ),
        (
            "requests_changes_requested",
            "SELECT count(*) FROM requests WHERE status = 'changes_requested'",
            "requests",
        ),
        ("releases", "SELECT count(*) FROM releases", "releases"),
        // Releases by the rule that let them out: the disclosure checks passed, or an owner
        // overrode them (with a reason, in the audit log); DP releases are `dp_releases`.
        (
            "releases_checks_passed",
            "SELECT count(*) FROM requests WHERE status = 'approved' AND object_id IS NOT NULL AND overriding IS NULL",
            "releases",
        ),
        (
            "releases_overriding_checks",
            "SELECT count(*) FROM requests WHERE status = 'approved' AND object_id IS NOT NULL AND overriding IS NOT NULL",
            "releases",
        ),
        ("dp_releases", "SELECT count(*) FROM dp_spends", "releases"),
        (
            "epsilon_spent",
            "SELECT COALESCE(SUM(epsilon_units), 0) FROM dp_spends",
            "epsilon",
        ),
        (
            "replays_pending",
            "SELECT count(*) FROM objects WHERE status = 'pending'",
            "objects",
        ),
        (
            "replays_failed",
            "SELECT count(*) FROM objects WHERE status = 'failed'",
            "objects",
        ),
        ("audit_entries", "SELECT count(*) FROM audit", "entries"),
    ];
    let mut rows: Vec<(&str, f64, &str)> = site.store.read(|conn| {
        COUNTS
            .iter()
            .map(|&(metric, query, unit)| {
                let n: i64 = conn
                    .query_row(query, [], |r| r.get(0))
                    .map_err(Error::sqlite("reading the datasite's metrics"))?;
                Ok((metric, n as f64, unit))
            })
            .collect()
    })?;
    if let Some(row) = rows.iter_mut().find(|r| r.0 == "epsilon_spent") {
        row.1 /= crate::engine::noise::EPSILON_UNIT as f64;
    }
    let (entries, bytes, budget) = site.exec.usage();
    rows.push(("cache_entries", entries as f64, "values"));
    rows.push(("cache_bytes", bytes as f64, "bytes"));
    rows.push(("cache_budget_bytes", budget as f64, "bytes"));
    let relaxed = std::sync::atomic::Ordering::Relaxed;
    rows.push((
        "replays_run",
        site.worker.replays.load(relaxed) as f64,
        "replays",
    ));
    rows.push((
        "replay_seconds",
        site.worker.replay_micros.load(relaxed) as f64 / 1e6,
        "seconds",
    ));
    rows.push((
        "planned_replays",
        site.planner.runs.load(std::sync::atomic::Ordering::Relaxed) as f64,
        "replays",
    ));
    rows.push((
        "planned_checks",
        site.planner.checks.load(relaxed) as f64,
        "checks",
    ));
    rows.push(("store_bytes", disk_bytes(site.store.dir()) as f64, "bytes"));
    let (free, reserve_held) = site.store.disk();
    if let Some(free) = free {
        rows.push(("disk_free_bytes", free as f64, "bytes"));
    }
    rows.push((
        "disk_reserve_held",
        f64::from(u8::from(reserve_held)),
        "reserve",
    ));
    Ok(rows)
}

/// The bytes of the files under `dir` (the database, its log and the blobs; not the reserve of
/// free space).
fn disk_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| e.file_name() != crate::store::RESERVE_FILE)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => disk_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
