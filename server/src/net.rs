//! The served datasite's connections: accepting them (at most [`Limits::connections`] at once),
//! TLS, the deadlines a silent client meets, the Host a loopback server answers to, and the bounded
//! drain at shutdown.
//!
//! Our own accept loop over hyper rather than `axum::serve`: that one has no connection cap, no
//! deadline for a client that opens a connection and says nothing (which also held its graceful
//! shutdown open forever), and no TLS.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;
use veil_api::call::ErrorKind;
use veil_api::wire::ApiError;

/// How a served datasite bounds its clients.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Datasite work (SQLite, replays, code runs) in flight at once; the rest wait
    /// [`QUEUE_WAIT`](crate::QUEUE_WAIT), then are told the datasite is busy.
    pub workers: usize,
    /// Connections open at once; past it, new ones are closed as they arrive.
    pub connections: usize,
    /// How long a client may stay silent: for a TLS handshake, a request's headers (and between
    /// requests on a kept-alive connection), and each piece of a body.
    pub idle: Duration,
    /// How long calls in flight may finish at shutdown before their connections are cut.
    pub drain: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            workers: 8,
            connections: 512,
            idle: Duration::from_secs(10),
            drain: Duration::from_secs(30),
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
        let _ = stream.set_nodelay(true);
        let watcher = graceful.watcher();
        let (app, acceptor) = (app.clone(), acceptor.clone());
        tokio::spawn(async move {
            let _slot = slot;
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
            if let Some(refused) = misaddressed(request.headers(), local) {
                return Ok::<_, Infallible>(refused);
            }
            app.oneshot(request.map(Body::new)).await
        }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.idle);
    let served = watcher.watch(http.serve_connection(TokioIo::new(io), service));
    if let Err(e) = served.await {
        tracing::debug!(peer = %peer.ip(), error = %e, "connection ended");
    }
}

/// The refusal of a request to a loopback server whose `Host` names anything but loopback: what a
/// web page does through DNS rebinding (its own name resolving to 127.0.0.1) to reach a datasite
/// on its visitor's machine.
fn misaddressed(headers: &HeaderMap, local: SocketAddr) -> Option<Response> {
    if !local.ip().is_loopback() {
        return None;
    }
    let host = headers.get(header::HOST)?;
    let name = host.to_str().ok().map(|h| match h.strip_prefix('[') {
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
    let error = ApiError {
        kind: ErrorKind::PermissionDenied,
        message: format!(
            "this datasite listens on {local} and answers only requests addressed to loopback, not to `{}`; connect with the address `veil serve` printed",
            String::from_utf8_lossy(host.as_bytes())
                .chars()
                .take(100)
                .collect::<String>()
        ),
    };
    Some((StatusCode::MISDIRECTED_REQUEST, axum::Json(error)).into_response())
}

/// Reads `body` to its end, at most `limit` bytes, each piece within `idle` of the last.
pub(crate) async fn read_body(body: Body, limit: usize, idle: Duration) -> Result<Vec<u8>, Unread> {
    use http_body_util::BodyExt;
    let mut body = body;
    let mut out = Vec::new();
    loop {
        match tokio::time::timeout(idle, body.frame()).await {
            Err(_) => return Err(Unread::Stalled),
            Ok(None) => return Ok(out),
            Ok(Some(Err(_))) => return Err(Unread::Broken),
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    if out.len() + data.len() > limit {
                        return Err(Unread::TooLarge);
                    }
                    out.extend_from_slice(&data);
                }
            }
        }
    }
}

/// Why a body was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unread {
    /// Over the limit.
    TooLarge,
    /// Silent for longer than the idle limit.
    Stalled,
    /// The connection broke.
    Broken,
}

impl Unread {
    /// The answer for a body that stalled or broke (a large one has its own, naming the limit).
    pub(crate) fn into_response(self, idle: Duration) -> Response {
        let (status, message) = match self {
            Unread::Stalled => (
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request's body stopped arriving for {} s; send it again",
                    idle.as_secs()
                ),
            ),
            _ => (
                StatusCode::BAD_REQUEST,
                "the request's body was cut off; send it again".to_string(),
            ),
        };
        let error = ApiError {
            kind: ErrorKind::InvalidInput,
            message,
        };
        (status, axum::Json(error)).into_response()
    }
}
