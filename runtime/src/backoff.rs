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

/// Failed attempts per key (an email, an address): after [`FREE_FAILURES`], each failure doubles
/// the wait before the next attempt, from one second up to [`MAX_WAIT`]. Attempts in flight count
/// too: while the outcome of those under way could use up the free ones, a new attempt is held
/// ([`Gate::Crowded`]) until they end, so guesses sent in parallel cannot all pass the check before
/// any has failed, while logins that succeed in parallel (one address behind a NAT) only wait a
/// moment. A success clears its account ([`Outcome::Cleared`]); at an address it clears nothing
/// ([`Outcome::Succeeded`]), where one user's success must not wipe another's failures. A key left
/// quiet for [`MAX_WAIT`] after its last wait starts again from nothing.
#[derive(Debug, Default)]
pub struct Backoff {
    keys: Mutex<HashMap<String, Entry>>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    in_flight: u32,
    /// No attempt before this.
    until: Instant,
    /// The last attempt.
    last: Instant,
}

/// Whether an attempt may start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// It may, and is counted in flight until [`Backoff::end`].
    Go,
    /// Not for this long.
    Wait(Duration),
    /// Not until the attempts in flight end: ask again in a moment.
    Crowded,
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A wrong password.
    Failed,
    /// The right one; the key's failures stand (an address).
    Succeeded,
    /// The right one; the key's failures are forgotten (an account).
    Cleared,
    /// No verdict (the datasite could not answer).
    Void,
}

impl Backoff {
    /// Whether an attempt of `key` may start now; if so it is in flight until [`Backoff::end`].
    pub fn begin(&self, key: &str) -> Gate {
        self.begin_at(key, Instant::now())
    }

    fn begin_at(&self, key: &str, now: Instant) -> Gate {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if keys.len() >= MAX_KEYS {
            keys.retain(|_, e| e.until > now || now - e.last < MAX_WAIT || e.in_flight > 0);
        }
        if keys.len() >= MAX_KEYS {
            // A flood of fresh keys must not wipe a key that is being guessed at.
            keys.retain(|_, e| e.until > now || e.failures > FREE_FAILURES || e.in_flight > 0);
        }
        let entry = keys.entry(bounded(key)).or_insert(Entry {
            failures: 0,
            in_flight: 0,
            until: now,
            last: now,
        });
        if let Some(wait) = entry
            .until
            .checked_duration_since(now)
            .filter(|w| !w.is_zero())
        {
            return Gate::Wait(wait);
        }
        // Forgotten only after a quiet MAX_WAIT past its last wait: waiting out the longest wait
        // does not bring the free attempts back.
        if entry.in_flight == 0
            && now.saturating_duration_since(entry.until.max(entry.last)) >= MAX_WAIT
        {
            entry.failures = 0;
        }
        if entry.in_flight > 0 && entry.failures + entry.in_flight > FREE_FAILURES {
            return Gate::Crowded;
        }
        entry.in_flight += 1;
        entry.last = now;
        Gate::Go
    }

    /// Ends an attempt of `key` that [`Backoff::begin`] let go.
    pub fn end(&self, key: &str, outcome: Outcome) {
        self.end_at(key, outcome, Instant::now())
    }

    fn end_at(&self, key: &str, outcome: Outcome, now: Instant) {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let Some(entry) = keys.get_mut(&bounded(key)) else {
            return;
        };
        entry.in_flight = entry.in_flight.saturating_sub(1);
        match outcome {
            Outcome::Failed => {
                entry.failures += 1;
                if let Some(over) = entry.failures.checked_sub(FREE_FAILURES + 1) {
                    entry.until = now + Duration::from_secs(1u64 << over.min(20)).min(MAX_WAIT);
                }
            }
            Outcome::Cleared => {
                entry.failures = 0;
                entry.until = now;
            }
            Outcome::Succeeded | Outcome::Void => {}
        }
    }

    /// [`Backoff::begin`] for a caller that may block: a crowded key is asked again every 20 ms
    /// for up to `patience` (then it is told to wait a second).
    pub fn enter(&self, key: &str, patience: Duration) -> Result<(), Duration> {
        let started = Instant::now();
        loop {
            match self.begin(key) {
                Gate::Go => return Ok(()),
                Gate::Wait(wait) => return Err(wait),
                Gate::Crowded if started.elapsed() >= patience => {
                    return Err(Duration::from_secs(1));
                }
                Gate::Crowded => std::thread::sleep(Duration::from_millis(20)),
            }
        }
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

    /// One attempt of `key` at `now`, ending as `outcome`, or what held it.
    fn attempt(b: &Backoff, key: &str, now: Instant, outcome: Outcome) -> Gate {
        let gate = b.begin_at(key, now);
        if gate == Gate::Go {
            b.end_at(key, outcome, now);
        }
        gate
    }

    #[test]
    fn failures_past_the_free_ones_wait_longer_each_time() {
        let b = Backoff::default();
        let now = Instant::now();
        for _ in 0..=FREE_FAILURES {
            assert_eq!(attempt(&b, "k", now, Outcome::Failed), Gate::Go);
        }
        assert_eq!(
            attempt(&b, "k", now, Outcome::Failed),
            Gate::Wait(Duration::from_secs(1))
        );
        assert_eq!(attempt(&b, "other", now, Outcome::Failed), Gate::Go);
        let later = now + Duration::from_secs(1);
        assert_eq!(attempt(&b, "k", later, Outcome::Failed), Gate::Go);
        assert_eq!(
            attempt(&b, "k", later, Outcome::Failed),
            Gate::Wait(Duration::from_secs(2))
        );
        // The right password clears an account; at an address the failures stand.
        let later = later + Duration::from_secs(2);
        assert_eq!(attempt(&b, "k", later, Outcome::Succeeded), Gate::Go);
        assert!(matches!(attempt(&b, "k", later, Outcome::Failed), Gate::Go));
        assert!(matches!(
            attempt(&b, "k", later, Outcome::Failed),
            Gate::Wait(_)
        ));
        let later = later + MAX_WAIT;
        assert_eq!(attempt(&b, "k", later, Outcome::Cleared), Gate::Go);
        assert_eq!(attempt(&b, "k", later, Outcome::Failed), Gate::Go);
    }

    #[test]
    fn attempts_in_flight_hold_the_next_until_they_end() {
        let b = Backoff::default();
        let now = Instant::now();
        for _ in 0..=FREE_FAILURES {
            assert_eq!(b.begin_at("k", now), Gate::Go);
        }
        // Six under way could use up the free ones: the seventh waits for their outcome.
        assert_eq!(b.begin_at("k", now), Gate::Crowded);
        // They succeed (a NAT's users): the seventh goes.
        for _ in 0..=FREE_FAILURES {
            b.end_at("k", Outcome::Succeeded, now);
        }
        assert_eq!(b.begin_at("k", now), Gate::Go);
        b.end_at("k", Outcome::Succeeded, now);
        // They fail (parallel guesses): the next is told to wait.
        for _ in 0..=FREE_FAILURES {
            assert_eq!(b.begin_at("g", now), Gate::Go);
        }
        assert_eq!(b.begin_at("g", now), Gate::Crowded);
        for _ in 0..=FREE_FAILURES {
            b.end_at("g", Outcome::Failed, now);
        }
        assert!(matches!(b.begin_at("g", now), Gate::Wait(_)));
    }

    #[test]
    fn waiting_out_the_longest_wait_brings_back_no_free_attempts() {
        let b = Backoff::default();
        let mut now = Instant::now();
        // Guess as fast as the waits allow, well past the cap.
        for _ in 0..40 {
            if let Gate::Wait(wait) = attempt(&b, "k", now, Outcome::Failed) {
                now += wait;
                assert_eq!(attempt(&b, "k", now, Outcome::Failed), Gate::Go);
            }
        }
        // The next attempt waits the longest wait: it was not reset to five free ones.
        assert_eq!(attempt(&b, "k", now, Outcome::Failed), Gate::Wait(MAX_WAIT));
        now += MAX_WAIT;
        assert_eq!(attempt(&b, "k", now, Outcome::Failed), Gate::Go);
        assert_eq!(attempt(&b, "k", now, Outcome::Failed), Gate::Wait(MAX_WAIT));
        // A quiet MAX_WAIT after the last wait forgets it.
        now += MAX_WAIT * 2;
        assert_eq!(attempt(&b, "k", now, Outcome::Failed), Gate::Go);
        assert_eq!(attempt(&b, "k", now, Outcome::Failed), Gate::Go);
    }
}
