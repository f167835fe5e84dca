//! The retry policy of a failed merge, in one place.
//!
//! - Failures the warehouse adapter classifies as retriable (connection lost, server
//!   restarting, serialization failure) are retried with exponential backoff, and end: after
//!   [`RETRY_FOR`] of failed attempts the merge fails with the number of attempts made.
//! - A statement that exceeded `warehouse.statement_timeout` is retried at once with the batch
//!   split into twice as many pieces (same transaction, smaller statements), up to
//!   [`MAX_PIECES`]; then the merge fails naming the phase and the timeout.
//! - Everything else stops the table at once. A table never stalls silently forever.

use std::time::{Duration, Instant};

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How long a merge keeps retrying. Covers a PostgreSQL restart or a failover (seconds to a
/// few tens of seconds); an outage longer than this stops the replica with an error, and its
/// supervisor (Kubernetes) restarts it, resuming from the stored offsets.
pub(crate) const RETRY_FOR: Duration = Duration::from_secs(60);

/// The most pieces a timed-out batch is split into: 1 → 2 → 4 → 8, so at most four attempts,
/// each bounded by the statement timeout per statement.
pub(crate) const MAX_PIECES: usize = 8;

/// The next split of a batch whose statement timed out in `pieces` pieces, or `None` when the
/// policy has run out.
pub(crate) fn next_split(pieces: usize) -> Option<usize> {
    (pieces < MAX_PIECES).then(|| (pieces * 2).min(MAX_PIECES))
}

/// The state of one merge's retries.
#[derive(Debug)]
pub(crate) struct Retry {
    started: Instant,
    /// Attempts made so far (the first try included).
    attempts: u32,
    backoff: Duration,
}

impl Retry {
    pub fn new() -> Retry {
        Retry {
            started: Instant::now(),
            attempts: 1,
            backoff: FIRST_BACKOFF,
        }
    }

    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// After a retriable failure: the wait before the next attempt, or `None` when the policy
    /// has run out.
    pub fn next_delay(&mut self) -> Option<Duration> {
        if self.started.elapsed() + self.backoff > RETRY_FOR {
            return None;
        }
        let delay = self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        self.attempts += 1;
        Some(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backs_off_exponentially_up_to_the_cap() {
        let mut r = Retry::new();
        let delays: Vec<Duration> = (0..8).filter_map(|_| r.next_delay()).collect();
        assert_eq!(delays[0], FIRST_BACKOFF);
        assert_eq!(delays[1], FIRST_BACKOFF * 2);
        assert_eq!(*delays.last().unwrap(), MAX_BACKOFF);
        assert_eq!(r.attempts(), 9);
    }

    #[test]
    fn a_timed_out_batch_is_split_at_most_three_times() {
        let splits: Vec<usize> = std::iter::successors(Some(1), |&p| next_split(p)).collect();
        assert_eq!(splits, vec![1, 2, 4, 8]);
    }

    #[test]
    fn ends_once_the_budget_is_spent() {
        let mut r = Retry {
            started: Instant::now() - RETRY_FOR,
            attempts: 7,
            backoff: FIRST_BACKOFF,
        };
        assert_eq!(r.next_delay(), None);
        assert_eq!(r.attempts(), 7);
    }
}
