//! Slowing repeated failures: failed logins per account (here) and per address (the server's).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed before any wait.
pub const FREE_FAILURES: u32 = 5;
/// The longest wait.
pub const MAX_WAIT: Duration = Duration::from_secs(15 * 60);
/// Keys remembered at most; past it, those neither waiting nor recent are forgotten.
const MAX_KEYS: usize = 100_000;

/// Attempts per key (an email, an address): after [`FREE_FAILURES`], each attempt doubles the wait
/// before the next, from one second up to [`MAX_WAIT`]. An attempt is counted when it starts, before
/// the password is hashed, so attempts sent in parallel cannot all pass the check before any is
/// counted; a success then clears its account ([`Backoff::clear`]) or gives back its own attempt
/// ([`Backoff::refund`]: an address, where one user's success must not wipe another's failures).
/// A key left alone for [`MAX_WAIT`] starts again from nothing.
#[derive(Debug, Default)]
pub struct Backoff {
    keys: Mutex<HashMap<String, Entry>>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    attempts: u32,
    /// No attempt before this.
    until: Instant,
    /// The last attempt.
    last: Instant,
}

impl Backoff {
    /// Counts an attempt of `key`, or says how long it must still wait before one.
    pub fn attempt(&self, key: &str) -> Result<(), Duration> {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if keys.len() >= MAX_KEYS {
            keys.retain(|_, e| e.until > now || now - e.last < MAX_WAIT);
        }
        if keys.len() >= MAX_KEYS {
            keys.retain(|_, e| e.until > now);
        }
        let entry = keys.entry(bounded(key)).or_insert(Entry {
            attempts: 0,
            until: now,
            last: now,
        });
        if let Some(wait) = entry
            .until
            .checked_duration_since(now)
            .filter(|w| !w.is_zero())
        {
            return Err(wait);
        }
        if now - entry.last >= MAX_WAIT {
            entry.attempts = 0;
        }
        entry.attempts += 1;
        entry.last = now;
        if let Some(over) = entry.attempts.checked_sub(FREE_FAILURES + 1) {
            entry.until = now + Duration::from_secs(1u64 << over.min(20)).min(MAX_WAIT);
        }
        Ok(())
    }

    /// Gives back one attempt of `key` (it succeeded): the others' failures stand.
    pub fn refund(&self, key: &str) {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = keys.get_mut(&bounded(key)) {
            entry.attempts = entry.attempts.saturating_sub(1);
            if entry.attempts <= FREE_FAILURES {
                entry.until = Instant::now();
            }
        }
    }

    /// Forgets `key`'s attempts (its account's password was given).
    pub fn clear(&self, key: &str) {
        self.keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&bounded(key));
    }
}

/// A key as remembered: at most 254 characters (the longest email), so a flood of long keys holds
/// little memory.
fn bounded(key: &str) -> String {
    key.chars().take(254).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_past_the_free_ones_wait_longer_each_time() {
        let b = Backoff::default();
        for _ in 0..=FREE_FAILURES {
            assert_eq!(b.attempt("k"), Ok(()));
        }
        let first = b.attempt("k").expect_err("a wait");
        assert!(first <= Duration::from_secs(1), "{first:?}");
        assert_eq!(b.attempt("other"), Ok(()));
        b.clear("k");
        assert_eq!(b.attempt("k"), Ok(()));
    }

    #[test]
    fn a_refund_gives_back_one_attempt_and_no_more() {
        let b = Backoff::default();
        for _ in 0..=FREE_FAILURES {
            b.attempt("addr").unwrap();
        }
        assert!(b.attempt("addr").is_err());
        // One user's success from the address lifts the wait it caused, not the others' failures.
        b.refund("addr");
        assert_eq!(b.attempt("addr"), Ok(()));
        assert!(b.attempt("addr").is_err());
    }
}
