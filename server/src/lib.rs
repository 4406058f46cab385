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
//! datasite, and the kernel, do not build it.
//!
//! # Layout
//! - [`router`]: the routes, each handler decoding a request, calling the datasite off the async
//!   runtime and encoding its reply; errors become the vocabulary's [`ApiError`] with an HTTP status.
//! - `main.rs`: the command line (`veil serve`), binding, logging and graceful shutdown.
//!
//! # Security model
//! The server trusts nothing a client sends but its session token, which the datasite checks on
//! every call (it keeps only the token's hash). No secret of the server (its files, other users'
//! tokens, password hashes) is in any reply: replies are the vocabulary's views. A server refuses to
//! listen beyond loopback while an owner still has the default password. Sessions expire (24 h by
//! default) and end at logout or a password change. Failed logins are slowed per account and per
//! address: past five, each waits twice as long as the last ("try again in N s", HTTP 429). Not yet:
//! TLS (put the server behind a TLS proxy when it listens beyond loopback).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::Semaphore;
use veil::backoff::Backoff;
use veil::{Data, Datasite};
use veil_api::call::{ErrorKind, Reply};
use veil_api::wire::{self, ApiError, Blob, CallBody, Login, Version};

/// Largest request body: an upload's data and mocks.
pub const MAX_BODY_BYTES: usize = 1 << 30;

/// How long a call waits for a free worker before it is turned away as busy.
pub const QUEUE_WAIT: Duration = Duration::from_secs(2);

/// The served datasite and the workers its calls share.
struct Served {
    site: Datasite,
    /// Datasite work (SQLite, replays, code runs) in flight at once; the rest wait [`QUEUE_WAIT`].
    workers: Semaphore,
    /// Failed logins per client address (the datasite counts them per account).
    logins: Backoff,
}

/// The routes of the served datasite `site`, answering at most `workers` calls at once.
pub fn router(site: Datasite, workers: usize) -> Router {
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/ready", get(ready))
        .route("/v1/version", get(version))
        .route("/v1/login", post(login))
        .route("/v1/call", post(call))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(Arc::new(Served {
            site,
            workers: Semaphore::new(workers.max(1)),
            logins: Backoff::default(),
        }))
}

type Site = State<Arc<Served>>;

async fn ready(State(site): Site) -> Response {
    // Ready once the datasite answers a read.
    match blocking(&site.clone(), move || site.site.default_password_in_use()).await {
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
    body: Bytes,
) -> Response {
    // Guessing passwords is slowed per address too, across accounts.
    let address = peer.ip().to_string();
    if let Some(wait) = site.logins.wait(&address) {
        return Failure(veil::Error::TooManyAttempts {
            who: address,
            retry_secs: wait.as_secs().max(1),
        })
        .into_response();
    }
    let login: Login = match serde_json::from_slice(&body) {
        Ok(l) => l,
        Err(e) => {
            return invalid(format!(
                "the login is not JSON of an email and a password ({e})"
            ));
        }
    };
    let work = site.clone();
    match blocking(&site, move || {
        work.site.open_session(&login.email, &login.password.0)
    })
    .await
    {
        Ok(session) => {
            site.logins.succeeded(&address);
            axum::Json(session).into_response()
        }
        Err(e) => {
            if e.0.kind() == ErrorKind::AuthenticationFailed {
                site.logins.failed(&address);
            }
            e.into_response()
        }
    }
}

async fn call(State(site): Site, headers: HeaderMap, body: Bytes) -> Response {
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string)
    else {
        return Failure(veil::Error::SessionExpired).into_response();
    };
    let work = site.clone();
    match blocking(&site, move || answer(&work.site, &token, &body)).await {
        Ok(body) => ([(header::CONTENT_TYPE, wire::CONTENT_TYPE)], body).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Decodes a call, lets the datasite decide it, and encodes the reply.
fn answer(site: &Datasite, token: &str, body: &[u8]) -> veil::Result<Vec<u8>> {
    let bad = |what: String| veil::Error::Remote {
        kind: ErrorKind::InvalidInput,
        message: format!("{what}; send calls with `veil::connect(url)`, which writes them"),
    };
    // Nothing of the body is read for a caller without a session.
    site.session_user(token)?;
    let (json, parts) = wire::decode(body).map_err(bad)?;
    let CallBody { call, parts: kinds } = serde_json::from_slice(json)
        .map_err(|e| bad(format!("the call is not one of the vocabulary's ({e})")))?;
    if kinds.len() != parts.len() {
        return Err(bad(format!(
            "{} kinds for {} parts",
            kinds.len(),
            parts.len()
        )));
    }
    let values = kinds
        .into_iter()
        .zip(parts)
        .map(|(kind, bytes)| Data::decode(kind, bytes))
        .collect::<veil::Result<Vec<_>>>()?;
    let reply = site.handle(token, call, values)?;
    let mut out: Vec<Vec<u8>> = Vec::new();
    let reply: Reply<Blob> = reply.try_map(|data| {
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
    Ok(wire::encode(&json, &out))
}

/// Runs datasite work (SQLite, replays, code runs) off the async runtime, on one of the served
/// datasite's workers: a call that finds none free within [`QUEUE_WAIT`] is turned away as busy,
/// rather than queued without bound.
async fn blocking<T: Send + 'static>(
    served: &Served,
    work: impl FnOnce() -> veil::Result<T> + Send + 'static,
) -> Result<T, Failure> {
    let Ok(Ok(_worker)) = tokio::time::timeout(QUEUE_WAIT, served.workers.acquire()).await else {
        return Err(Failure(veil::Error::Remote {
            kind: ErrorKind::Unavailable,
            message: format!(
                "the datasite is busy: every worker is answering a call; retry after {} s",
                QUEUE_WAIT.as_secs()
            ),
        }));
    };
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(Failure),
        Err(e) => Err(Failure(veil::Error::Remote {
            kind: ErrorKind::Runner,
            message: format!("the server failed while answering ({e}); try again"),
        })),
    }
}

fn invalid(message: String) -> Response {
    Failure(veil::Error::Remote {
        kind: ErrorKind::InvalidInput,
        message,
    })
    .into_response()
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
            | ErrorKind::PolicyExhausted => StatusCode::CONFLICT,
            ErrorKind::InvalidInput | ErrorKind::Data => StatusCode::BAD_REQUEST,
            ErrorKind::Landed | ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let error = ApiError {
            kind,
            message: self.0.to_string(),
        };
        let retry = match &self.0 {
            veil::Error::TooManyAttempts { retry_secs, .. } => Some(*retry_secs),
            _ if kind == ErrorKind::Unavailable => Some(QUEUE_WAIT.as_secs()),
            _ => None,
        };
        let mut response = (status, axum::Json(error)).into_response();
        if let Some(secs) = retry {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
        }
        response
    }
}
