//! # veil-server: a datasite served over HTTP
//!
//! `veil serve` keeps the owner's datasite on its own machine and answers scientists' clients
//! (`veil::connect(url)?.login(..)`) over HTTP. It is one more transport over the datasite's one
//! dispatch ([`veil::Datasite::handle`]): each request carries a session token, the datasite resolves
//! it to the user and role it holds now and decides the call from its own records, exactly as for a
//! client in the same process. The routes and the body format are the vocabulary's
//! ([`veil_api::wire`]).
//!
//! Why a crate of its own: the HTTP stack (axum, hyper) is the server's alone; programs that embed a
//! datasite do not build it. The kernel links it to serve the datasite a notebook launched
//! (`%datasite launch NAME --port P`), with [`Background`].
//!
//! # Layout
//! - [`router`]: the routes, each handler decoding a request, calling the datasite off the async
//!   runtime and encoding its reply; errors become the vocabulary's [`ApiError`] with an HTTP status.
//! - [`serve`]: serves until told to stop, draining the calls in flight; [`Background`] does it
//!   on a thread of its own; [`check_exposure`] refuses an address beyond loopback while an owner
//!   has the default password.
//! - `net`: the accept loop under it: TLS ([`tls_config`]), the connection cap, the deadlines a
//!   silent client meets, the Host a loopback server answers to, the bounded drain ([`Limits`]).
//! - `main.rs`: the command line (`veil serve`), logging and signals.
//!
//! # Security model
//! The server trusts nothing a client sends but its session token, which the datasite checks on
//! every call (it keeps only the token's hash). A call's body is read only after its token names
//! the sender, and then no further than the sender's role allows
//! ([`veil_api::wire::max_call_bytes`]: 1 GiB for owners' uploads, 64 MiB for a scientist, 1 MiB for a
//! guest; a login at most [`MAX_LOGIN_BYTES`]), so a caller without a session cannot make the server
//! hold a large body. Bodies stream: a call's JSON comes first, and whether its sender may send
//! values with it (an owner's upload, [`veil::Datasite::admit`]) is decided before a byte of them
//! is read; a refused call's values are read and dropped as they arrive (so its client hears why),
//! and an upload's are written as they arrive to unnamed files in the datasite's directory, which
//! vanish when closed, even by a `kill -9`; an upload the disk cannot hold is read to its end and
//! answered 507 (`DiskFull`), as is every write the datasite's reserve of disk space does not allow
//! (`--disk-reserve-mib`: logins and deletes go on when the disk fills, uploads wait). A body's size
//! costs the server disk for the length of the call, not memory; replies go out piece by piece. A value's header must account for its
//! bytes before anything is allocated for it. No secret of the server (its files, other users' tokens, password hashes) is
//! in any reply, and none in its log: replies are the vocabulary's views, and the log names the user
//! and the call, never a header or a body. A server refuses to listen beyond loopback while an
//! owner still has the default password. Sessions expire (24 h by default) and end at logout or a
//! password change, across restarts. Login attempts are counted per account and per address while
//! they are in flight, before the password is hashed: past five failures, each waits twice as long
//! as the last ("try again in N s", HTTP 429), and an attempt that could be past the free ones
//! waits for those under way to end, so parallel guesses cannot outrun the count; a success clears
//! its account but not its address's failures. The work records its own verdict and holds its
//! worker, so hanging up mid-hash frees nothing and uncounts nothing.
//!
//! Connections: at most [`Limits::connections`] open, [`Limits::connections_per_address`] from one
//! address; a client silent for [`Limits::idle`] (TLS handshake, headers, a pause in a body, between
//! requests) or not reading its replies for as long is cut off, and a body must arrive at 64 KiB/s
//! on average; at shutdown the calls in flight get [`Limits::drain`], then their connections are
//! cut. Bodies held at once are bounded across calls ([`Limits::body_budget`]), one user holds at
//! most half the workers, and token checks and logins have workers of their own, so a scientist's
//! long code runs lock nobody out. Requests a browser marks (`Origin`, a cross-site
//! `Sec-Fetch-Site`) are refused and a login must be JSON, so a web page cannot spam logins to
//! lock an owner out; a server on loopback answers only requests whose `Host` is loopback (421
//! otherwise), so a page cannot reach it by DNS rebinding. With `--tls-cert/--tls-key` it speaks only HTTPS (rustls, TLS 1.2 and 1.3); beyond
//! loopback without TLS it warns that passwords cross the network in clear. Not defended here:
//! on one machine, any local user reaches a loopback server, so a datasite served for a tutorial
//! with the default password is open to them; and a code request's compilation holds the single
//! build lock up to its deadline (300 s), so a scientist's slow builds delay others' code runs.

use std::future::Future;
use std::io::Seek;
use std::net::{IpAddr, SocketAddr};

mod metrics;
mod net;
use net::{Incoming, Unread};
pub use net::{Limits, tls_config};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::Semaphore;
use veil::backoff::{Backoff, Gate, Outcome};
use veil::{Data, Datasite};
use veil_api::call::{Call, ErrorKind, Reply};
use veil_api::wire::{self, ApiError, Blob, CallBody, Login, Version};

/// Largest body of a login (an email and a password), read before anyone is known.
pub const MAX_LOGIN_BYTES: usize = 64 << 10;

/// How long a call waits for a free worker before it is turned away as busy.
pub const QUEUE_WAIT: Duration = Duration::from_secs(2);

/// The served datasite and the workers its calls share.
struct Served {
    site: Datasite,
    /// Datasite work (SQLite, replays, code runs) in flight at once; the rest wait [`QUEUE_WAIT`].
    /// A worker is held by the work itself, so a client that hangs up does not free it early.
    workers: Arc<Semaphore>,
    /// Token checks and logins, apart from `workers`: a scientist's code runs holding every worker
    /// do not lock everyone out.
    auth: Arc<Semaphore>,
    /// Calls in flight per user (email), at most `per_user` each.
    in_flight: net::Tally,
    per_user: usize,
    /// Request bodies in flight at once, in KiB, of `budget_kib` in all.
    budget: Arc<Semaphore>,
    budget_kib: usize,
    /// Login attempts per client address (the datasite counts them per account).
    logins: Backoff,
    /// How long a body may stall.
    idle: Duration,
    /// Requests and calls counted for `/metrics`.
    metrics: metrics::Shared,
    /// Who may read `/metrics` (see [`Limits::metrics_token`]).
    metrics_token: metrics::TokenDigest,
}

/// Workers for token checks and logins.
const AUTH_WORKERS: usize = 2;

/// The routes of the served datasite `site`, within `limits`.
pub fn router(site: Datasite, limits: Limits) -> Router {
    let budget_kib = (limits.body_budget >> 10).clamp(1, Semaphore::MAX_PERMITS);
    let served = Arc::new(Served {
        site,
        workers: Arc::new(Semaphore::new(limits.workers.max(1))),
        auth: Arc::new(Semaphore::new(AUTH_WORKERS)),
        in_flight: Default::default(),
        per_user: (limits.workers / 2).max(1),
        budget: Arc::new(Semaphore::new(budget_kib)),
        budget_kib,
        logins: Backoff::default(),
        idle: limits.idle,
        metrics: Default::default(),
        metrics_token: limits.metrics_token,
    });
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/ready", get(ready))
        .route("/metrics", get(scrape))
        .route("/v1/version", get(version))
        // Both routes read their bodies themselves, within a limit (see `login` and `call`).
        .route("/v1/login", post(login))
        .route("/v1/call", post(call))
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn_with_state(
            served.clone(),
            log_request,
        ))
        .with_state(served)
}

type Site = State<Arc<Served>>;

/// One log event per request: method, path, status, time taken and the client's address (never a
/// header or a body: they carry tokens and passwords).
async fn log_request(State(site): Site, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let route = metrics::route(&path);
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default();
    let started = std::time::Instant::now();
    let active = site.metrics.start(method.as_str(), route);
    let response = next.run(request).await;
    drop(active);
    let status = response.status().as_u16();
    let elapsed = started.elapsed().as_secs_f64();
    site.metrics.finish(method.as_str(), route, status, elapsed);
    let ms = elapsed * 1e3;
    if response.status().is_server_error() {
        tracing::warn!(%method, path, status, ms, peer, "request");
    } else {
        tracing::info!(%method, path, status, ms, peer, "request");
    }
    response
}

/// `GET /metrics` (see the `metrics` module): to whoever holds the metrics token, or without one,
/// to loopback.
async fn scrape(
    State(site): Site,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !metrics::allowed(&site.metrics_token, bearer, peer.ip().is_loopback()) {
        let message = if site.metrics_token.is_some() {
            "metrics are for operators: send the metrics token as `Authorization: Bearer TOKEN` (the one `veil serve --metrics-token-file` was given)"
        } else {
            "metrics are served to loopback only; to scrape from elsewhere, start `veil serve` with --metrics-token-file and send that token"
        };
        return error_response(
            StatusCode::FORBIDDEN,
            ErrorKind::PermissionDenied,
            message.to_string(),
        );
    }
    let work = site.clone();
    let gauges = match blocking(&site.auth, move || work.site.gauges()).await {
        Ok(gauges) => gauges,
        Err(e) => return e.into_response(),
    };
    match site.metrics.render(&gauges) {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(_) => error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::Data,
            "the metrics could not be written".to_string(),
        ),
    }
}

/// Refuses to listen on `host` beyond loopback while an owner of `site` still has the default
/// password: anyone who can reach the port could log in as them.
pub fn check_exposure(site: &Datasite, host: IpAddr) -> veil::Result<()> {
    if !host.is_loopback() && site.default_password_in_use()? {
        return Err(veil::Error::Remote {
            kind: ErrorKind::PermissionDenied,
            message: format!(
                "refusing to serve `{}` on {host}: an owner still has the default password. Log in and change it (`client.change_password(old, new)`), or serve on 127.0.0.1",
                site.name()
            ),
        });
    }
    Ok(())
}

/// Replaces the default admin's default password with `password`, if it still stands; whether it
/// did. What `veil serve --admin-password-file` does, so a server can start beyond loopback without
/// anyone logging in first; the password must pass the same checks as any other.
pub fn seed_admin_password(site: &Datasite, password: &str) -> veil::Result<bool> {
    use veil::datasite::{DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD};
    if !site.default_password_in_use()? {
        return Ok(false);
    }
    let admin = match site.login(DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD) {
        Ok(admin) => admin,
        // Another owner has a default password, not the admin: theirs is theirs to change.
        Err(veil::Error::AuthenticationFailed { .. }) => return Ok(false),
        Err(e) => return Err(e),
    };
    admin.change_password(DEFAULT_ADMIN_PASSWORD, password)?;
    Ok(true)
}

/// Serves `site` on `listener` (over TLS with `tls`) within `limits` until `stop` completes, then
/// lets the calls in flight finish for at most [`Limits::drain`] and returns (the caller lands the
/// datasite).
pub async fn serve(
    listener: tokio::net::TcpListener,
    site: Datasite,
    limits: Limits,
    tls: Option<Arc<rustls::ServerConfig>>,
    stop: impl Future<Output = ()>,
) -> std::io::Result<()> {
    net::serve(listener, router(site, limits), tls, limits, stop).await
}

/// A datasite served on a thread of its own, with its own async runtime: what the kernel runs for
/// `%datasite launch NAME --port P`. Dropping it (or [`Background::stop`]) drains the calls in
/// flight and stops listening; the datasite stays open for its owner to land.
pub struct Background {
    address: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Background {
    /// Binds `host:port` (0 takes a free port) and serves `site` there within `limits`.
    ///
    /// The runtime is made, used and dropped on the server's own thread, so this may be called from
    /// inside another async runtime (the kernel's magics run in one).
    pub fn start(
        site: Datasite,
        host: IpAddr,
        port: u16,
        limits: Limits,
    ) -> veil::Result<Background> {
        check_exposure(&site, host)?;
        let unavailable = |what: String| veil::Error::Remote {
            kind: ErrorKind::Unavailable,
            message: what,
        };
        let (bound, address) = std::sync::mpsc::channel::<Result<SocketAddr, String>>();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("veil-serve".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = bound.send(Err(format!("starting the server's async runtime: {e}")));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::bind((host, port)).await {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = bound.send(Err(format!(
                                "cannot listen on {host}:{port} ({e}); choose another port, or 0 for a free one"
                            )));
                            return;
                        }
                    };
                    let address = listener.local_addr();
                    let _ = bound.send(address.as_ref().map(|a| *a).map_err(|e| e.to_string()));
                    let served = serve(listener, site, limits, None, async move {
                        let _ = stopped.await;
                    });
                    if let Err(e) = served.await {
                        eprintln!("veil serve on {host}:{port}: {e}");
                    }
                });
                // Work still running past the drain (a code run) is not waited for.
                runtime.shutdown_timeout(Duration::from_secs(1));
            })
            .map_err(|e| unavailable(format!("starting the server's thread: {e}")))?;
        let address = address
            .recv()
            .map_err(|_| unavailable("the server's thread stopped before it listened".into()))?
            .map_err(unavailable)?;
        Ok(Background {
            address,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The URL scientists connect to (`veil::connect(url)`).
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Stops listening after the calls in flight, and waits for them.
    pub fn stop(mut self) {
        self.shut();
    }

    fn shut(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.shut();
    }
}

impl std::fmt::Debug for Background {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Background({})", self.url())
    }
}

async fn ready(State(site): Site) -> Response {
    // Ready once the datasite answers a read.
    match blocking(&site.auth.clone(), move || {
        site.site.default_password_in_use()
    })
    .await
    {
        Ok(_) => "ready".into_response(),
        Err(e) => e.into_response(),
    }
}

async fn version(State(site): Site) -> Response {
    axum::Json(Version {
        api_version: veil_api::API_VERSION.to_string(),
        site: site.site.name().to_string(),
    })
    .into_response()
}

async fn login(
    State(site): Site,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let refuse = || {
        error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::InvalidInput,
            format!(
                "a login is an email and a password, at most {} KiB of JSON",
                MAX_LOGIN_BYTES >> 10
            ),
        )
    };
    let announced = announced_length(&headers);
    if announced.is_some_and(|n| n > MAX_LOGIN_BYTES as u64) {
        return refuse();
    }
    // A page in a browser cannot send JSON without the browser asking first (CORS): requiring it
    // keeps pages from spamming logins to lock an account out.
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json {
        return invalid(
            "a login is JSON: send it with `content-type: application/json` (`veil::connect(url)?.login(..)` does)".into(),
        );
    }
    // Guessing passwords is slowed per address too, across accounts.
    let address = address_key(peer.ip());
    // In flight before anything is hashed, so parallel guesses cannot all pass the check.
    let started = tokio::time::Instant::now();
    loop {
        match site.logins.begin(&address) {
            Gate::Go => break,
            Gate::Wait(wait) => {
                return Failure(veil::Error::TooManyAttempts {
                    who: address,
                    retry_secs: wait.as_secs().max(1),
                })
                .into_response();
            }
            Gate::Crowded if started.elapsed() >= QUEUE_WAIT => {
                return busy(format!(
                    "logins from your address are under way; retry after {} s",
                    QUEUE_WAIT.as_secs()
                ));
            }
            Gate::Crowded => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    // Ends the attempt however this handler ends; the work records the verdict itself, so a
    // client that hangs up mid-hash still has its guess counted.
    let attempt = Attempt {
        served: site.clone(),
        address: address.clone(),
        outcome: Outcome::Void,
    };
    let mut body = Incoming::new(body, MAX_LOGIN_BYTES as u64, announced, site.idle);
    let body = match body.rest().await {
        Ok(body) => body,
        Err(Unread::TooLarge) => return refuse(),
        Err(other) => return other.into_response(site.idle),
    };
    let login: Login = match serde_json::from_slice(&body) {
        Ok(l) => l,
        Err(e) => {
            return invalid(format!(
                "the login is not JSON of an email and a password ({e})"
            ));
        }
    };
    let work = site.clone();
    match blocking(&site.auth, move || {
        // The whole attempt moves here (not just its field), so it ends with the work.
        let mut attempt = attempt;
        let session = work.site.open_session(&login.email, &login.password.0);
        attempt.outcome = match &session {
            // Others' failures from the address stand.
            Ok(_) => Outcome::Succeeded,
            Err(e) if e.kind() == ErrorKind::AuthenticationFailed => Outcome::Failed,
            Err(_) => Outcome::Void,
        };
        session
    })
    .await
    {
        Ok(session) => {
            tracing::info!(user = session.user.email, peer = address, "login");
            axum::Json(session).into_response()
        }
        Err(e) => {
            if e.0.kind() == ErrorKind::AuthenticationFailed {
                tracing::warn!(peer = address, "login failed");
            }
            e.into_response()
        }
    }
}

/// A login attempt from an address, in flight until dropped with its outcome.
struct Attempt {
    served: Arc<Served>,
    address: String,
    outcome: Outcome,
}

impl Drop for Attempt {
    fn drop(&mut self) {
        self.served.logins.end(&self.address, self.outcome);
    }
}

async fn call(State(site): Site, headers: HeaderMap, body: Body) -> Response {
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string)
    else {
        return Failure(veil::Error::SessionExpired).into_response();
    };
    // Nothing of the body is read before its sender is known, and then no more than their role's
    // limit: a caller without a session cannot make the server hold a gigabyte.
    let (work, checked) = (site.clone(), token.clone());
    let user = match blocking(&site.auth, move || work.site.session_user(&checked)).await {
        Ok(user) => user,
        Err(e) => return e.into_response(),
    };
    let Some(_in_flight) = site.in_flight.take(&user.email, site.per_user) else {
        return busy(format!(
            "you have {} calls in flight, as many as one user may; wait for one to finish, or retry after {} s",
            site.per_user,
            QUEUE_WAIT.as_secs()
        ));
    };
    let limit = wire::max_call_bytes(user.role);
    let too_large = |size: u64| {
        error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::InvalidInput,
            wire::too_large(size, user.role),
        )
    };
    let announced = announced_length(&headers);
    if let Some(size) = announced.filter(|&n| n > limit) {
        return too_large(size);
    }
    // The body is held against the budget from before its first byte until the reply.
    let kib = announced.unwrap_or(limit).min(limit).div_ceil(1024).max(1);
    if kib as usize > site.budget_kib {
        return error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::InvalidInput,
            format!(
                "this call's body ({} KiB) is over all the server may hold at once ({} KiB); send less, or have the server started with a larger --body-budget-mib",
                kib, site.budget_kib
            ),
        );
    }
    let Ok(_held) = site.budget.clone().try_acquire_many_owned(kib as u32) else {
        return busy(format!(
            "the datasite holds as many request bodies as it may; retry after {} s",
            QUEUE_WAIT.as_secs()
        ));
    };
    let mut body = Incoming::new(body, limit, announced, site.idle);
    let unread = |e: Unread| match e {
        Unread::TooLarge => too_large(limit + 1),
        other => other.into_response(site.idle),
    };
    // The call's JSON comes first: whether its sender may send parts with it is decided before
    // a byte of them is read.
    let head = match body.exact(wire::HEAD_BYTES as u64).await {
        Ok(head) => head,
        Err(e) => return unread(e),
    };
    let (count, json_len) = match wire::read_head(head.try_into().expect("a whole head")) {
        Ok(head) => head,
        Err(e) => return Failure(malformed(e)).into_response(),
    };
    let json = match body.exact(json_len).await {
        Ok(json) => json,
        Err(e) => return unread(e),
    };
    if count == 0 {
        match body.ended().await {
            Ok(true) => {}
            Ok(false) => {
                return Failure(malformed(wire::malformed("bytes follow its last part")))
                    .into_response();
            }
            Err(e) => return unread(e),
        }
        // No values: the dispatch checks the sender as it answers.
        let work = site.clone();
        return reply(
            blocking(&site.workers, move || {
                let call = parse(&json, 0)?.call;
                answer(&work, &token, call, &user, Vec::new())
            })
            .await,
        );
    }
    // An upload: its parts go to disk as they arrive, in files that vanish when closed.
    let (work, admitted) = (site.clone(), token.clone());
    let admit = move || {
        let call = parse(&json, count)?;
        let user = work.site.admit(&admitted, &call.call, count)?;
        Ok((call, user))
    };
    let (call, user) = match blocking(&site.workers, admit).await {
        Ok(admitted) => admitted,
        Err(refused) => {
            body.discard().await;
            return refused.into_response();
        }
    };
    let mut files = Vec::with_capacity(count);
    for _ in 0..count {
        let length = match body.exact(wire::LENGTH_BYTES as u64).await {
            Ok(length) => u64::from_le_bytes(length.try_into().expect("a whole length")),
            Err(e) => return unread(e),
        };
        let spooled = match tempfile::tempfile_in(site.site.dir()) {
            Ok(file) => {
                let mut file = tokio::fs::File::from_std(file);
                match body.copy_to(length, &mut file).await {
                    Ok(()) => Ok(file.into_std().await),
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(Unread::Spool(e.to_string())),
        };
        match spooled {
            Ok(file) => files.push(file),
            Err(e @ Unread::Spool(_)) => {
                // Read to its end (it was admitted, so it is within the limits), so the client
                // gets the 507 sentence rather than a connection reset mid-send.
                body.discard().await;
                return unread(e);
            }
            Err(e) => return unread(e),
        }
    }
    match body.ended().await {
        Ok(true) => {}
        Ok(false) => {
            return Failure(malformed(wire::malformed("bytes follow its last part")))
                .into_response();
        }
        Err(e) => return unread(e),
    }
    let work = site.clone();
    reply(
        blocking(&site.workers, move || {
            let values = files
                .into_iter()
                .zip(call.parts)
                .map(|(mut file, kind)| {
                    file.rewind().map_err(|e| veil::Error::Remote {
                        kind: ErrorKind::Unavailable,
                        message: format!("the upload's spooled part could not be read ({e})"),
                    })?;
                    Data::read(kind, file)
                })
                .collect::<veil::Result<Vec<_>>>()?;
            answer(&work, &token, call.call, &user, values)
        })
        .await,
    )
}

/// The response of a call: its reply sent piece by piece, or its error.
fn reply(answered: Result<Vec<Vec<u8>>, Failure>) -> Response {
    match answered {
        Ok(pieces) => (
            [(header::CONTENT_TYPE, wire::CONTENT_TYPE)],
            Body::new(Pieces::new(pieces)),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

/// A reply body sent piece by piece (the head and JSON, then each part's length and bytes), so no
/// part is copied into one buffer with the others; its length is known, so it goes out with a
/// `Content-Length`.
struct Pieces {
    pieces: std::collections::VecDeque<Bytes>,
    left: u64,
}

impl Pieces {
    fn new(pieces: Vec<Vec<u8>>) -> Pieces {
        Pieces {
            left: pieces.iter().map(|p| p.len() as u64).sum(),
            pieces: pieces.into_iter().map(Bytes::from).collect(),
        }
    }
}

impl hyper::body::Body for Pieces {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        let piece = self.pieces.pop_front();
        if let Some(piece) = &piece {
            self.left -= piece.len() as u64;
        }
        std::task::Poll::Ready(piece.map(|p| Ok(hyper::body::Frame::data(p))))
    }

    fn is_end_stream(&self) -> bool {
        self.pieces.is_empty()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact(self.left)
    }
}

/// The key an address's login attempts are counted under: an IPv4 address, or an IPv6 address's
/// /64 prefix (one host is commonly given a whole /64, so counting per address would let it try
/// 2^64 times as often).
fn address_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// The body length a request's `Content-Length` announces.
fn announced_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// A call's error for a body that is not one the vocabulary writes.
fn malformed(what: String) -> veil::Error {
    veil::Error::Remote {
        kind: ErrorKind::InvalidInput,
        message: format!("{what}; send calls with `veil::connect(url)`, which writes them"),
    }
}

/// The call in `json`, naming the kinds of `parts` values.
fn parse(json: &[u8], parts: usize) -> veil::Result<CallBody> {
    let body: CallBody = serde_json::from_slice(json)
        .map_err(|e| malformed(format!("the call is not one of the vocabulary's ({e})")))?;
    if body.parts.len() != parts {
        return Err(malformed(format!(
            "{} kinds for {} parts",
            body.parts.len(),
            parts
        )));
    }
    Ok(body)
}

/// Lets the datasite decide `call` with its `values`, and encodes the reply as the pieces of a body.
fn answer(
    served: &Served,
    token: &str,
    call: Call,
    user: &veil::User,
    values: Vec<Data>,
) -> veil::Result<Vec<Vec<u8>>> {
    let name = call.name();
    let reply = served.site.handle(token, call, values);
    match &reply {
        Ok(reply) => {
            served.metrics.call(name, "ok");
            tracing::info!(user = user.email, call = name, reply = reply.name(), "call")
        }
        Err(e) => {
            served.metrics.call(name, &format!("{:?}", e.kind()));
            tracing::info!(user = user.email, call = name, error = ?e.kind(), "call refused")
        }
    }
    let mut out: Vec<Vec<u8>> = Vec::new();
    let reply: Reply<Blob> = reply?.try_map(|data| {
        out.push(data.encode()?);
        Ok::<_, veil::Error>(Blob {
            kind: data.kind(),
            part: out.len() - 1,
        })
    })?;
    let json = serde_json::to_vec(&reply).map_err(|e| veil::Error::Remote {
        kind: ErrorKind::Data,
        message: format!("the reply could not be written ({e})"),
    })?;
    Ok(wire::pieces(json, out))
}

/// Runs datasite work (SQLite, replays, code runs) off the async runtime, on one of the served
/// datasite's workers: a call that finds none free within [`QUEUE_WAIT`] is turned away as busy,
/// rather than queued without bound.
async fn blocking<T: Send + 'static>(
    pool: &Arc<Semaphore>,
    work: impl FnOnce() -> veil::Result<T> + Send + 'static,
) -> Result<T, Failure> {
    let Ok(Ok(worker)) = tokio::time::timeout(QUEUE_WAIT, pool.clone().acquire_owned()).await
    else {
        return Err(Failure(unavailable(format!(
            "the datasite is busy: every worker is answering a call; retry after {} s",
            QUEUE_WAIT.as_secs()
        ))));
    };
    let work = move || {
        let _worker = worker;
        work()
    };
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(Failure),
        Err(e) => Err(Failure(veil::Error::Remote {
            kind: ErrorKind::Runner,
            message: format!("the server failed while answering ({e}); try again"),
        })),
    }
}

fn unavailable(message: String) -> veil::Error {
    veil::Error::Remote {
        kind: ErrorKind::Unavailable,
        message,
    }
}

/// "Busy, retry after N s", with a `Retry-After`.
fn busy(message: String) -> Response {
    Failure(unavailable(message)).into_response()
}

fn invalid(message: String) -> Response {
    Failure(veil::Error::Remote {
        kind: ErrorKind::InvalidInput,
        message,
    })
    .into_response()
}

/// An error of `kind` saying `message`, as the vocabulary writes it, with `status`.
pub(crate) fn error_response(status: StatusCode, kind: ErrorKind, message: String) -> Response {
    (status, axum::Json(ApiError { kind, message })).into_response()
}

/// A datasite error as an HTTP response: a status for its kind, and the vocabulary's error.
struct Failure(veil::Error);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let kind = self.0.kind();
        let status = match kind {
            ErrorKind::AuthenticationFailed | ErrorKind::SessionExpired => StatusCode::UNAUTHORIZED,
            ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::AlreadyExists
            | ErrorKind::ApprovalPending
            | ErrorKind::RequestDenied
            | ErrorKind::PolicyExhausted
            | ErrorKind::BudgetExceeded => StatusCode::CONFLICT,
            ErrorKind::InvalidInput | ErrorKind::Data => StatusCode::BAD_REQUEST,
            ErrorKind::Landed | ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::DiskFull => StatusCode::INSUFFICIENT_STORAGE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let retry = match &self.0 {
            veil::Error::TooManyAttempts { retry_secs, .. } => Some(*retry_secs),
            _ if kind == ErrorKind::Unavailable => Some(QUEUE_WAIT.as_secs()),
            _ => None,
        };
        let mut response = error_response(status, kind, self.0.to_string());
        if let Some(secs) = retry {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_attempts_are_counted_per_ipv4_address_and_per_ipv6_64() {
        let key = |s: &str| address_key(s.parse().unwrap());
        assert_eq!(key("192.0.2.7"), "192.0.2.7");
        assert_eq!(key("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:bbbb::2"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
    }
}
