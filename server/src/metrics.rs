//! `GET /metrics`: the served datasite in Prometheus' text format (OpenMetrics), for operators.
//!
//! HTTP requests by OpenTelemetry's names and units: `http_server_request_duration_seconds` (a
//! histogram in seconds, with OpenTelemetry's default buckets) and `http_server_active_requests`,
//! labelled by method, route and status. Then the datasite's own: `veil_calls_total` by call and
//! outcome (`ok`, or the error's kind), `veil_busy_refusals_total` (calls told to retry),
//! `veil_logins_refused_total`, and, read from the datasite at each scrape, every gauge of its
//! Metrics call as `veil_<name>`: requests pending, approved and denied, releases, ε spent, objects
//! whose real replay is pending (the replay queue) or failed, replays run and the seconds they
//! took, cache bytes and budget, planned replays, the store's bytes on disk.
//!
//! Who may read it: with a metrics token (`veil serve --metrics-token-file`), whoever presents it
//! as a bearer token, from anywhere; without one, only clients on loopback. A session token, a
//! scientist's or an owner's, is not a metrics token.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// OpenTelemetry's default buckets for `http.server.request.duration`, in seconds.
const DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// The routes a request is counted under; any other path is `other`, so a client cannot make
/// series without bound.
const ROUTES: [&str; 6] = [
    "/health",
    "/ready",
    "/metrics",
    "/v1/version",
    "/v1/login",
    "/v1/call",
];

/// A request's labels, by OpenTelemetry's attribute names.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct Request {
    http_request_method: String,
    http_route: &'static str,
    http_response_status_code: u16,
}

/// An active request's labels (it has no status yet).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct Active {
    http_request_method: String,
    http_route: &'static str,
}

/// A call's labels: its wire name and `ok` or the kind of error it was refused with.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct Call {
    call: String,
    outcome: String,
}

/// The server's counters, kept as requests and calls happen.
#[derive(Clone)]
pub(crate) struct Metrics {
    duration: Family<Request, Histogram>,
    active: Family<Active, Gauge>,
    calls: Family<Call, Counter>,
    busy: Counter,
    logins_refused: Counter,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics {
            duration: Family::new_with_constructor(|| Histogram::new(DURATION_BUCKETS)),
            active: Family::default(),
            calls: Family::default(),
            busy: Counter::default(),
            logins_refused: Counter::default(),
        }
    }
}

/// The route `path` is counted under.
pub(crate) fn route(path: &str) -> &'static str {
    ROUTES
        .iter()
        .find(|r| **r == path)
        .copied()
        .unwrap_or("other")
}

/// A request counted active until it is dropped.
pub(crate) struct InFlight {
    gauge: Gauge,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

impl Metrics {
    /// Counts a request to `route` as active until the returned guard is dropped.
    pub(crate) fn start(&self, method: &str, route: &'static str) -> InFlight {
        let gauge = self
            .active
            .get_or_create(&Active {
                http_request_method: method.to_string(),
                http_route: route,
            })
            .clone();
        gauge.inc();
        InFlight { gauge }
    }

    /// Records a finished request: its duration, and whether it was a busy refusal (503: every
    /// worker or the body budget taken) or a refused login (401, or 429 while slowed).
    pub(crate) fn finish(&self, method: &str, route: &'static str, status: u16, seconds: f64) {
        self.duration
            .get_or_create(&Request {
                http_request_method: method.to_string(),
                http_route: route,
                http_response_status_code: status,
            })
            .observe(seconds);
        if status == 503 {
            self.busy.inc();
        }
        if route == "/v1/login" && (status == 401 || status == 429) {
            self.logins_refused.inc();
        }
    }

    /// Counts a call the datasite answered (`outcome` `ok`) or refused (the error's kind).
    pub(crate) fn call(&self, call: &str, outcome: &str) {
        self.calls
            .get_or_create(&Call {
                call: call.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// The text a scrape gets: these counters, then the datasite's `gauges` (`name`, value, unit).
    pub(crate) fn render(
        &self,
        gauges: &[(String, f64, String)],
    ) -> Result<String, std::fmt::Error> {
        let mut registry = Registry::default();
        registry.register_with_unit(
            "http_server_request_duration",
            "Duration of HTTP server requests",
            Unit::Seconds,
            self.duration.clone(),
        );
        registry.register(
            "http_server_active_requests",
            "Number of active HTTP server requests",
            self.active.clone(),
        );
        registry.register(
            "veil_calls",
            "Datasite calls, by call and outcome (ok, or the kind of error)",
            self.calls.clone(),
        );
        registry.register(
            "veil_busy_refusals",
            "Requests told the datasite is busy and when to retry",
            self.busy.clone(),
        );
        registry.register(
            "veil_logins_refused",
            "Logins refused: a wrong email or password, or an account being slowed",
            self.logins_refused.clone(),
        );
        for (name, value, unit) in gauges {
            let gauge = Gauge::<f64, AtomicU64>::default();
            gauge.set(*value);
            registry.register(
                format!("veil_{name}"),
                format!("The datasite's {} ({unit})", name.replace('_', " ")),
                gauge,
            );
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry)?;
        Ok(text)
    }
}

/// Who may scrape: the SHA-256 of the metrics token, if the server has one.
pub(crate) type TokenDigest = Option<[u8; 32]>;

/// Whether a scrape with `bearer` from a loopback peer (`loopback`) may read the metrics.
pub(crate) fn allowed(token: &TokenDigest, bearer: Option<&str>, loopback: bool) -> bool {
    use sha2::{Digest, Sha256};
    match token {
        // Digests compared, so the time taken says nothing of the token.
        Some(digest) => bearer.is_some_and(|b| Sha256::digest(b.as_bytes()).as_slice() == digest),
        None => loopback,
    }
}

/// The metrics state a router shares.
pub(crate) type Shared = Arc<Metrics>;
