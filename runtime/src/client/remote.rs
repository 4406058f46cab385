//! A datasite served over HTTP (`veil serve`), reached with [`connect`]: the same [`Client`], whose
//! calls travel as the vocabulary's JSON with frames and arrays as binary parts (see
//! [`veil_api::wire`]). The server decides every call from its own records, as the embedded datasite
//! does; this side only encodes and decodes.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use veil_api::call::{Call, ErrorKind, Reply, Secret};
use veil_api::view::Role;
use veil_api::wire::{self, ApiError, Blob, CallBody, Login, Session, Version};

use crate::client::Client;
use crate::data::Data;
use crate::datasite::LoginOutcome;
use crate::error::{Error, Result};
use crate::progress::{Counted, Pieces, Report, Stage, Throttle};

/// Largest reply accepted: the largest result a code request may return, and then some.
const MAX_REPLY_BYTES: u64 = 1 << 30;

/// How long a call waits for its answer to start, and then for the rest of it.
const REPLY_WAIT: Duration = Duration::from_secs(20 * 60);

/// A served datasite, before anyone logs in.
#[derive(Clone)]
pub struct RemoteSite {
    link: Arc<Remote>,
}

/// The connection to a served datasite that a [`Client`] calls through.
pub(crate) struct Remote {
    base: String,
    agent: ureq::Agent,
    site: String,
}

/// The environment variable naming a PEM file of the certificate authorities a client trusts for
/// `https://` datasites, instead of the public roots: a datasite with its own authority.
pub const CA_ENV: &str = "VEIL_TLS_CA";

/// Connects to the datasite served at `url` (`http://host:port`, or `https://` for one served with
/// TLS), checking that it speaks this client's API version: the same major version, and a minor
/// version no older than this client's. Over `https://` the server's certificate must chain to a
/// public root, or to an authority in the file [`CA_ENV`] names.
pub fn connect(url: &str) -> Result<RemoteSite> {
    let base = url.trim_end_matches('/').to_string();
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err(Error::invalid(
            "datasite URL",
            format!("`{}` is not an http(s) URL", crate::error::clip(url, 100)),
            "give the address `veil serve` printed, e.g. `http://127.0.0.1:8083`",
        ));
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(10)))
        // A stalled server does not hang the notebook for good, but a call may take a code
        // request's compile and run (five minutes each at most, after a cold code runner's
        // warm-up) before its answer starts.
        .timeout_recv_response(Some(REPLY_WAIT))
        .timeout_recv_body(Some(REPLY_WAIT))
        // Under the server's idle limit (10 s by default), so a kept-alive connection is not
        // reused just as the server closes it.
        .max_idle_age(Duration::from_secs(5))
        .tls_config(tls_config()?)
        .build()
        .into();
    let mut link = Remote {
        base,
        agent,
        site: String::new(),
    };
    let version: Version = link.json(link.agent.get(&link.url("/v1/version")).call())?;
    check_version(&version.api_version)?;
    link.site = version.site;
    Ok(RemoteSite {
        link: Arc::new(link),
    })
}

/// TLS trusting the authorities in the file [`CA_ENV`] names, or the public roots without it.
fn tls_config() -> Result<ureq::tls::TlsConfig> {
    let mut config = ureq::tls::TlsConfig::builder().provider(ureq::tls::TlsProvider::Rustls);
    if let Some(path) = std::env::var_os(CA_ENV) {
        let fix = format!(
            "set {CA_ENV} to a PEM file of the authority that signed the datasite's certificate"
        );
        let pem = std::fs::read(&path).map_err(|e| {
            Error::invalid(
                CA_ENV,
                format!(
                    "cannot read {} ({e})",
                    std::path::Path::new(&path).display()
                ),
                fix.clone(),
            )
        })?;
        let certs = ureq::tls::parse_pem(&pem)
            .filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(cert)) => Some(Ok(cert)),
                Ok(_) => None,
                Err(e) => Some(Err(e)),
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::invalid(CA_ENV, format!("not a PEM file ({e})"), fix.clone()))?;
        if certs.is_empty() {
            return Err(Error::invalid(
                CA_ENV,
                format!(
                    "{} holds no certificate",
                    std::path::Path::new(&path).display()
                ),
                fix,
            ));
        }
        config = config.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
    }
    Ok(config.build())
}

/// Whether a server speaking `server` serves this client: same major version, same or newer minor.
fn check_version(server: &str) -> Result<()> {
    let parse = |v: &str| -> Option<(u32, u32)> {
        let (major, minor) = v.split_once('.')?;
        Some((major.parse().ok()?, minor.parse().ok()?))
    };
    let (ours, theirs) = (parse(veil_api::API_VERSION), parse(server));
    match (ours, theirs) {
        (Some((major, minor)), Some((m, n))) if m == major && n >= minor => Ok(()),
        _ => Err(Error::Remote {
            kind: ErrorKind::Unavailable,
            message: format!(
                "the datasite speaks API {server} and this client {ours}: {fix}",
                ours = veil_api::API_VERSION,
                fix = if theirs > ours {
                    "upgrade this client (the `veil` crate, or the kernel with `veil-kernel install`) to the server's version"
                } else {
                    "ask the datasite's owner to upgrade `veil serve` to this client's version or newer"
                }
            ),
        }),
    }
}

impl std::fmt::Debug for RemoteSite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RemoteSite({} at {})", self.link.site, self.link.base)
    }
}

impl RemoteSite {
    /// The datasite's name.
    pub fn name(&self) -> &str {
        &self.link.site
    }

    /// The address it is served at, as given to [`connect`] (without a trailing `/`).
    pub fn url(&self) -> &str {
        &self.link.base
    }

    fn table(&self) -> crate::display::Table {
        let mut t = crate::display::Table::fields(
            format!("Datasite {}", self.name()),
            [
                ("name", self.name().to_string()),
                ("address", self.url().to_string()),
                ("api", veil_api::API_VERSION.to_string()),
            ],
        );
        t.badge = Some("served".into());
        t
    }

    /// Logs in: the server returns a session token, which every call of the client carries.
    pub fn login(&self, email: &str, password: &str) -> Result<Client> {
        let body = serde_json::to_vec(&Login {
            email: email.to_string(),
            password: Secret(password.to_string()),
        })
        .map_err(|e| Error::invalid("login", e.to_string(), "check the email"))?;
        let response = self
            .link
            .agent
            .post(&self.link.url("/v1/login"))
            .header("content-type", "application/json")
            .send(&body[..]);
        let session: Session = self.link.json(response)?;
        for notice in &session.notices {
            eprintln!("warning: {notice}");
        }
        Ok(Client::remote(
            self.link.clone(),
            LoginOutcome {
                token: session.token.0,
                user: session.user,
                notices: session.notices,
            },
        ))
    }
}

crate::display::render_via_table!(RemoteSite);

impl Remote {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) fn site(&self) -> &str {
        &self.site
    }

    /// Sends `call` with `parts` as the session `token` of a `role` and reads the reply, telling
    /// `report` how far encoding and sending the parts has got.
    pub(crate) fn call(
        &self,
        token: &str,
        role: Role,
        call: Call,
        parts: Vec<Data>,
        report: Report<'_>,
    ) -> Result<Reply<Data>> {
        let kinds = parts.iter().map(Data::kind).collect();
        let uploading = !parts.is_empty();
        let mut encoded = Vec::with_capacity(parts.len());
        if uploading {
            let sizes = parts.iter().map(|p| p.approx_bytes() as u64).collect();
            let mut progress = Pieces::start(report, Stage::Encoding, sizes);
            for part in &parts {
                encoded.push(part.encode()?);
                progress.next_done();
            }
        }
        drop(parts);
        let json = serde_json::to_vec(&CallBody { call, parts: kinds })
            .map_err(|e| Error::invalid("call", e.to_string(), "check its arguments"))?;
        let pieces = wire::pieces(json, encoded);
        let size: u64 = pieces.iter().map(|p| p.len() as u64).sum();
        // The server would read no further than this; say so rather than have it cut the upload off.
        if size > wire::max_call_bytes(role) {
            return Err(Error::Remote {
                kind: ErrorKind::InvalidInput,
                message: wire::too_large(size, role),
            });
        }
        // Sent piece by piece: the parts are not copied into one buffer.
        let body = pieces.into_iter().map(std::io::Cursor::new).fold(
            Box::new(std::io::empty()) as Box<dyn Read>,
            |body, piece| Box::new(body.chain(piece)),
        );
        // Only an upload's progress is worth counting; every other call is a few hundred bytes.
        let mut body: Box<dyn Read + '_> = if uploading {
            Box::new(Counted::new(
                body,
                Throttle::start(report, Stage::Sending, size),
            ))
        } else {
            body
        };
        let response = self
            .agent
            .post(&self.url("/v1/call"))
            .header("content-type", wire::CONTENT_TYPE)
            .header("content-length", size)
            .header("authorization", &format!("Bearer {token}"))
            .send(ureq::SendBody::from_reader(&mut body));
        let (json, parts) = self.read(response, |body| {
            wire::read(body, MAX_REPLY_BYTES).map_err(unreadable)
        })?;
        let reply: Reply<Blob> =
            serde_json::from_slice(&json).map_err(|e| unreadable(e.to_string()))?;
        reply.try_map(|blob| {
            let bytes = parts
                .get(blob.part)
                .ok_or_else(|| unreadable(format!("no part {}", blob.part)))?;
            Data::decode(blob.kind, bytes)
        })
    }

    /// What `success` reads of a successful response's body, or the error the server gave.
    fn read<T>(
        &self,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
        success: impl FnOnce(&mut dyn Read) -> Result<T>,
    ) -> Result<T> {
        let mut response = response.map_err(|e| Error::Remote {
            kind: ErrorKind::Unavailable,
            message: format!(
                "could not reach the datasite at {} ({e}); check the address and that `veil serve` is running",
                self.base
            ),
        })?;
        let status = response.status();
        let mut body = response
            .body_mut()
            .with_config()
            .limit(MAX_REPLY_BYTES)
            .reader();
        if status.is_success() {
            return success(&mut body);
        }
        let mut text = Vec::new();
        body.read_to_end(&mut text)
            .map_err(|e| unreadable(e.to_string()))?;
        match serde_json::from_slice::<ApiError>(&text) {
            Ok(e) => Err(Error::Remote {
                kind: e.kind,
                message: e.message,
            }),
            Err(_) => Err(unreadable(format!("HTTP {status}"))),
        }
    }

    fn json<T: serde::de::DeserializeOwned>(
        &self,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<T> {
        self.read(response, |body| {
            serde_json::from_reader(body).map_err(|e| unreadable(e.to_string()))
        })
    }
}

fn unreadable(why: impl std::fmt::Display) -> Error {
    Error::Remote {
        kind: ErrorKind::Unavailable,
        message: format!(
            "the datasite's answer could not be read ({why}); the server and this client may be of different versions"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newer_server_serves_an_older_client_within_a_major_version() {
        let (major, minor) = veil_api::API_VERSION.split_once('.').unwrap();
        let minor: u32 = minor.parse().unwrap();
        check_version(veil_api::API_VERSION).unwrap();
        check_version(&format!("{major}.{}", minor + 1)).unwrap();
        let newer_major = format!("{}.0", major.parse::<u32>().unwrap() + 1);
        let err = check_version(&newer_major).unwrap_err().to_string();
        assert!(err.contains("upgrade this client"), "{err}");
        if minor > 0 {
            let err = check_version(&format!("{major}.{}", minor - 1))
                .unwrap_err()
                .to_string();
            assert!(err.contains("upgrade `veil serve`"), "{err}");
        }
        assert!(check_version("banana").is_err());
    }
}
