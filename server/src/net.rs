//! The served datasite's connections: accepting them (at most [`Limits::connections`] at once),
//! TLS, the deadlines a silent client meets, the Host a loopback server answers to, and the bounded
//! drain at shutdown.
//!
//! Our own accept loop over hyper rather than `axum::serve`: that one has no connection cap, no
//! deadline for a client that opens a connection and says nothing (which also held its graceful
//! shutdown open forever), and no TLS.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::response::Response;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;
use veil_api::call::ErrorKind;

/// How a served datasite bounds its clients.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Datasite work (SQLite, replays, code runs) in flight at once; the rest wait
    /// [`QUEUE_WAIT`](crate::QUEUE_WAIT), then are told the datasite is busy.
    pub workers: usize,
    /// Connections open at once; past it, new ones are closed as they arrive.
    pub connections: usize,
    /// Connections open at once from one address (an IPv4 address, an IPv6 /64), so one client
    /// cannot take every connection.
    pub connections_per_address: usize,
    /// Bytes of request bodies in flight at once, across all calls (their JSON in memory, an
    /// upload's values on disk); a call that would go over it is told the datasite is busy.
    pub body_budget: usize,
    /// How long a client may stay silent: for a TLS handshake, a request's headers (and between
    /// requests on a kept-alive connection), and each piece of a body.
    pub idle: Duration,
    /// How long calls in flight may finish at shutdown before their connections are cut.
    pub drain: Duration,
    /// The SHA-256 of the token that reads `/metrics` from anywhere; without one, only loopback
    /// clients may read it.
    pub metrics_token: Option<[u8; 32]>,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            workers: 8,
            connections: 512,
            connections_per_address: 64,
            body_budget: 2 << 30,
            idle: Duration::from_secs(10),
            drain: Duration::from_secs(30),
            metrics_token: None,
        }
    }
}

/// The TLS configuration for a certificate chain and its private key, both PEM files.
pub fn tls_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            format!(
                "reading the certificate {}: {e}; give a PEM file of the server's certificate chain",
                cert.display()
            )
        })?;
    if certs.is_empty() {
        return Err(format!(
            "the certificate file {} holds no certificate; give a PEM file with `-----BEGIN CERTIFICATE-----`",
            cert.display()
        ));
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        format!(
            "reading the private key {}: {e}; give the PEM file of the certificate's key",
            key.display()
        )
    })?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("setting up TLS: {e}"))?
    .with_no_client_auth()
    .with_single_cert(certs, private)
    .map_err(|e| {
        format!(
            "the key {} does not serve the certificate {}: {e}",
            key.display(),
            cert.display()
        )
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves `app` on `listener` (over TLS with `tls`) within `limits` until `stop` completes; then
/// stops accepting, lets the calls in flight finish for at most [`Limits::drain`], and returns.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: Limits,
    stop: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let local = listener.local_addr()?;
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let slots = Arc::new(Semaphore::new(limits.connections.max(1)));
    let per_address = Tally::default();
    let graceful = GracefulShutdown::new();
    tokio::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // the listener itself is fine.
                    tracing::warn!(error = %e, "accepting a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(peer = %peer.ip(), limit = limits.connections, "connection refused: too many open");
            continue;
        };
        let Some(from) = per_address.take(
            &crate::address_key(peer.ip()),
            limits.connections_per_address,
        ) else {
            tracing::warn!(
                peer = %peer.ip(),
                limit = limits.connections_per_address,
                "connection refused: too many open from one address"
            );
            continue;
        };
        let _ = stream.set_nodelay(true);
        let stream = Deadline::new(stream, limits.idle);
        let watcher = graceful.watcher();
        let (app, acceptor) = (app.clone(), acceptor.clone());
        tokio::spawn(async move {
            let _slot = (slot, from);
            match acceptor {
                None => connection(stream, app, peer, local, limits, watcher).await,
                Some(acceptor) => {
                    match tokio::time::timeout(limits.idle, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            connection(stream, app, peer, local, limits, watcher).await
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(peer = %peer.ip(), error = %e, "TLS handshake failed")
                        }
                        Err(_) => tracing::debug!(peer = %peer.ip(), "TLS handshake timed out"),
                    }
                }
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.drain) => tracing::warn!(
            secs = limits.drain.as_secs(),
            "calls still in flight after the drain; cutting their connections"
        ),
    }
    Ok(())
}

/// One connection: HTTP/1.1 requests to `app` until the client closes it, stays silent past
/// [`Limits::idle`] between requests, or the server shuts down.
async fn connection(
    io: impl AsyncRead + AsyncWrite + Unpin + Send + 'static,
    app: Router,
    peer: SocketAddr,
    local: SocketAddr,
    limits: Limits,
    watcher: Watcher,
) {
    let service = hyper::service::service_fn(move |mut request: Request<hyper::body::Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let app = app.clone();
        async move {
            if let Some(refused) = refused(request.headers(), local) {
                return Ok::<_, Infallible>(refused);
            }
            app.oneshot(request.map(Body::new)).await
        }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    // A request's head is small: 64 KiB of read buffer and 32 headers, not hyper's 400 KB and 100.
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.idle)
        .max_buf_size(64 << 10)
        .max_headers(32);
    let served = watcher.watch(http.serve_connection(TokioIo::new(io), service));
    if let Err(e) = served.await {
        tracing::debug!(peer = %peer.ip(), error = %e, "connection ended");
    }
}

/// The refusal of a request from a web page, or to a loopback server addressed by another name.
///
/// Browsers mark a page's requests with `Origin` (and `Sec-Fetch-Site`); the datasite's clients
/// never send them, and a page has no business calling it: without this, any page its owner
/// visited could spam logins to lock them out. And a page can reach a loopback server by DNS
/// rebinding (its own name resolving to 127.0.0.1), so a loopback server answers only requests
/// whose `Host` is loopback.
fn refused(headers: &HeaderMap, local: SocketAddr) -> Option<Response> {
    let from_page = headers.contains_key(header::ORIGIN)
        || headers
            .get("sec-fetch-site")
            .is_some_and(|v| v != "none" && v != "same-origin");
    if from_page {
        return Some(refusal(
            StatusCode::FORBIDDEN,
            "the datasite answers its clients (`veil::connect`), not web pages: this request came from one".into(),
        ));
    }
    if !local.ip().is_loopback() {
        return None;
    }
    let host = headers.get(header::HOST);
    let name = host
        .and_then(|h| h.to_str().ok())
        .map(|h| match h.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => h.rsplit_once(':').map_or(h, |(name, _)| name),
        });
    let loopback = name.is_some_and(|n| {
        n.eq_ignore_ascii_case("localhost")
            || n.to_ascii_lowercase().ends_with(".localhost")
            || n.parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    });
    if loopback {
        return None;
    }
    let named = host.map_or("named no Host".into(), |h| {
        let h: String = String::from_utf8_lossy(h.as_bytes())
            .chars()
            .take(100)
            .collect();
        format!("was addressed to `{h}`")
    });
    Some(refusal(
        StatusCode::MISDIRECTED_REQUEST,
        format!(
            "this datasite listens on {local} and answers only requests addressed to loopback (this one {named}); connect with the address `veil serve` printed"
        ),
    ))
}

fn refusal(status: StatusCode, message: String) -> Response {
    crate::error_response(status, ErrorKind::PermissionDenied, message)
}

/// The slowest a body may arrive, on average, after its first idle period: 64 KiB/s.
const MIN_BODY_RATE: u64 = 64 << 10;

/// A request's body, read piece by piece as the caller needs it: at most `limit` bytes, each piece
/// within `idle` of the last and the whole within `idle` plus its length at [`MIN_BODY_RATE`], so
/// a body trickled a byte at a time does not hold its connection for a week. Memory follows the
/// bytes that arrive, never a length the body declares.
pub(crate) struct Incoming {
    body: Body,
    /// Bytes received and not yet taken.
    held: Bytes,
    /// Bytes the client may still send.
    left: u64,
    /// Whether `left` is what the client announced (`Content-Length`) rather than the limit.
    announced: bool,
    deadline: tokio::time::Instant,
    idle: Duration,
}

impl Incoming {
    /// `body`, of which `expected` bytes are announced, read within `limit` and `idle`.
    pub(crate) fn new(body: Body, limit: u64, expected: Option<u64>, idle: Duration) -> Incoming {
        let left = expected.unwrap_or(limit).min(limit);
        Incoming {
            body,
            held: Bytes::new(),
            left,
            announced: expected.is_some_and(|n| n <= limit),
            deadline: tokio::time::Instant::now()
                + idle
                + Duration::from_secs(left / MIN_BODY_RATE),
            idle,
        }
    }

    /// The next bytes, at most `most`; `None` at the body's end.
    async fn next(&mut self, most: usize) -> Result<Option<Bytes>, Unread> {
        use http_body_util::BodyExt;
        while self.held.is_empty() {
            let wait = self.deadline.min(tokio::time::Instant::now() + self.idle);
            match tokio::time::timeout_at(wait, self.body.frame()).await {
                Err(_) => return Err(Unread::Stalled),
                Ok(None) => return Ok(None),
                Ok(Some(Err(_))) => return Err(Unread::Broken),
                Ok(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        self.left = self
                            .left
                            .checked_sub(data.len() as u64)
                            .ok_or(Unread::TooLarge)?;
                        self.held = data;
                    }
                }
            }
        }
        let n = most.min(self.held.len());
        Ok(Some(self.held.split_to(n)))
    }

    /// Whether `n` more bytes may follow; why not otherwise.
    fn may_hold(&self, n: u64) -> Result<(), Unread> {
        if n <= self.left + self.held.len() as u64 {
            Ok(())
        } else if self.announced {
            Err(Unread::CutOff)
        } else {
            Err(Unread::TooLarge)
        }
    }

    /// Exactly `n` more bytes.
    pub(crate) async fn exact(&mut self, n: u64) -> Result<Vec<u8>, Unread> {
        self.may_hold(n)?;
        let mut out = Vec::new();
        while (out.len() as u64) < n {
            let want = usize::try_from(n - out.len() as u64).unwrap_or(usize::MAX);
            let piece = self.next(want).await?.ok_or(Unread::CutOff)?;
            out.extend_from_slice(&piece);
        }
        Ok(out)
    }

    /// Exactly `n` more bytes, written to `file` as they arrive.
    pub(crate) async fn copy_to(
        &mut self,
        n: u64,
        file: &mut tokio::fs::File,
    ) -> Result<(), Unread> {
        use tokio::io::AsyncWriteExt;
        self.may_hold(n)?;
        let mut copied = 0u64;
        while copied < n {
            let want = usize::try_from(n - copied).unwrap_or(usize::MAX);
            let piece = self.next(want).await?.ok_or(Unread::CutOff)?;
            file.write_all(&piece).await.map_err(Unread::spool)?;
            copied += piece.len() as u64;
        }
        file.flush().await.map_err(Unread::spool)
    }

    /// The rest of the body.
    pub(crate) async fn rest(&mut self) -> Result<Vec<u8>, Unread> {
        let mut out = Vec::new();
        while let Some(piece) = self.next(usize::MAX).await? {
            out.extend_from_slice(&piece);
        }
        Ok(out)
    }

    /// Whether the body ends here.
    pub(crate) async fn ended(&mut self) -> Result<bool, Unread> {
        Ok(self.next(1).await?.is_none())
    }

    /// Reads the rest of the body and drops it, within the same limits: a client refused before
    /// its body was read hears why, rather than a connection closed under its upload.
    pub(crate) async fn discard(&mut self) {
        while let Ok(Some(_)) = self.next(usize::MAX).await {}
    }
}

/// Why a body was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unread {
    /// Over the limit.
    TooLarge,
    /// Silent for longer than the idle limit.
    Stalled,
    /// The connection broke.
    Broken,
    /// It ended before what it declared.
    CutOff,
    /// Its part could not be written to the server's disk.
    Spool(String),
}

impl Unread {
    fn spool(e: io::Error) -> Unread {
        Unread::Spool(e.to_string())
    }

    /// The answer for a body that stalled, broke, ended early or could not be kept (a large one
    /// has its own, naming the limit).
    pub(crate) fn into_response(self, idle: Duration) -> Response {
        let (status, message) = match self {
            Unread::Stalled => (
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request's body stopped arriving for {} s, or came slower than {} KiB/s; send it again",
                    idle.as_secs(),
                    MIN_BODY_RATE >> 10
                ),
            ),
            Unread::CutOff => (
                StatusCode::BAD_REQUEST,
                veil_api::wire::malformed("it ends before what it declares"),
            ),
            Unread::Spool(e) => {
                return crate::error_response(
                    StatusCode::INSUFFICIENT_STORAGE,
                    ErrorKind::DiskFull,
                    veil::Error::DiskFull(format!("the upload ({e})")).to_string(),
                );
            }
            Unread::TooLarge | Unread::Broken => (
                StatusCode::BAD_REQUEST,
                "the request's body was cut off; send it again".to_string(),
            ),
        };
        crate::error_response(status, ErrorKind::InvalidInput, message)
    }
}

/// Things held per key (connections per address, calls per user), each at most a limit.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tally {
    held: Arc<std::sync::Mutex<HashMap<String, usize>>>,
}

impl Tally {
    /// One more for `key`, held until the returned guard drops, if it holds fewer than `limit`.
    pub(crate) fn take(&self, key: &str, limit: usize) -> Option<Held> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let count = held.entry(key.to_string()).or_insert(0);
        if *count >= limit.max(1) {
            return None;
        }
        *count += 1;
        Some(Held {
            tally: self.clone(),
            key: key.to_string(),
        })
    }
}

/// One of a key's share of a [`Tally`].
pub(crate) struct Held {
    tally: Tally,
    key: String,
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut held = self.tally.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = held.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.key);
            }
        }
    }
}

/// A connection whose writes fail once they have made no progress for `idle`: a client that stops
/// reading its replies (pipelining requests into a full socket) would otherwise hold its connection,
/// and the replies queued for it, forever.
struct Deadline<I> {
    io: I,
    idle: Duration,
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<I> Deadline<I> {
    fn new(io: I, idle: Duration) -> Self {
        Deadline {
            io,
            idle,
            stalled: None,
        }
    }

    /// `poll` as the write's outcome: progress clears the clock, a stall starts it, and a stall
    /// past `idle` is an error.
    fn watch<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if poll.is_ready() {
            self.stalled = None;
            return poll;
        }
        let idle = self.idle;
        let clock = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
        match clock.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client read nothing of its reply",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Deadline<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Deadline<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.io).poll_write(cx, buf);
        self.watch(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.watch(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.io).poll_flush(cx);
        self.watch(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.io).poll_shutdown(cx);
        self.watch(cx, poll)
    }
}
