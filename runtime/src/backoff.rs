//! Slowing repeated failures: failed logins per account (here) and per address (the server's).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed before any wait.
pub const FREE_FAILURES: u32 = 5;
/// The longest wait.
pub const MAX_WAIT: Duration = Duration::from_secs(15 * 60);
/// Keys remembered at most; past it, those whose wait is over are forgotten.
const MAX_KEYS: usize = 100_000;

/// Failures per key (an email, an address): after [`FREE_FAILURES`], each failure doubles the wait
/// before the next attempt, from one second up to [`MAX_WAIT`]; a success clears the key.
#[derive(Debug, Default)]
pub struct Backoff {
    keys: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Backoff {
    /// How long `key` must still wait before its next attempt, if at all.
    pub fn wait(&self, key: &str) -> Option<Duration> {
        let keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let (_, until) = keys.get(key)?;
        until.checked_duration_since(Instant::now())
    }

    /// Records a failure of `key`.
    pub fn failed(&self, key: &str) {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if keys.len() >= MAX_KEYS {
            keys.retain(|_, (_, until)| *until > now);
        }
        let entry = keys.entry(key.to_string()).or_insert((0, now));
        entry.0 += 1;
        if let Some(over) = entry.0.checked_sub(FREE_FAILURES + 1) {
            let wait = Duration::from_secs(1u64 << over.min(20)).min(MAX_WAIT);
            entry.1 = now + wait;
        }
    }

    /// Clears `key` after a success.
    pub fn succeeded(&self, key: &str) {
        self.keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_past_the_free_ones_wait_longer_each_time() {
        let b = Backoff::default();
        for _ in 0..FREE_FAILURES {
            b.failed("k");
            assert_eq!(b.wait("k"), None);
        }
        b.failed("k");
        let first = b.wait("k").expect("a wait");
        b.failed("k");
        let second = b.wait("k").expect("a wait");
        assert!(second > first, "{first:?} then {second:?}");
        assert_eq!(b.wait("other"), None);
        b.succeeded("k");
        assert_eq!(b.wait("k"), None);
        for _ in 0..100 {
            b.failed("k");
        }
        assert!(b.wait("k").unwrap() <= MAX_WAIT);
    }
}
