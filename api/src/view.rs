//! The view types: what a datasite tells a client about its records. A client shows them; the
//! datasite never takes them back (every call names records by id, and the datasite reads its own).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    /// Waiting for an owner's decision.
    Pending,
    /// Approved: its requester may get the result.
    Approved,
    /// Denied, with a reason the requester sees.
    Denied,
}

impl RequestStatus {
    /// `pending`, `approved` or `denied`.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Pending => "pending",
            RequestStatus::Approved => "approved",
            RequestStatus::Denied => "denied",
        }
    }

    /// The status named `s` (as [`RequestStatus::as_str`] writes it).
    pub fn parse(s: &str) -> Option<RequestStatus> {
        [
            RequestStatus::Pending,
            RequestStatus::Approved,
            RequestStatus::Denied,
        ]
        .into_iter()
        .find(|status| status.as_str() == s)
    }
}

impl fmt::Display for RequestStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    /// A pointer's real result.
    Result,
    /// Running submitted code on the real data.
    Code,
}

/// How many times approved code may run on the real data, and so how many results it may release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OutputPolicy {
    /// Runs once; later `request.get()`s return the stored result (PySyft's
    /// `SingleExecutionExactOutput`).
    SingleExecution,
    /// Runs at most this many times (`request.run()` for each further run).
    ExecuteCount(u32),
}

impl OutputPolicy {
    /// How many runs it allows.
    pub fn max_runs(self) -> u32 {
        match self {
            OutputPolicy::SingleExecution => 1,
            OutputPolicy::ExecuteCount(n) => n,
        }
    }
}

impl fmt::Display for OutputPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutputPolicy::SingleExecution => f.write_str("SingleExecution"),
            OutputPolicy::ExecuteCount(n) => write!(f, "ExecuteCount({n})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_read_back_as_written_and_on_the_wire() {
        for status in [
            RequestStatus::Pending,
            RequestStatus::Approved,
            RequestStatus::Denied,
        ] {
            assert_eq!(RequestStatus::parse(status.as_str()), Some(status));
            let wire = serde_json::to_string(&status).unwrap();
            assert_eq!(wire, format!("\"{status}\""));
        }
        assert_eq!(RequestStatus::parse("released"), None);
    }
}
