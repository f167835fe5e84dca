//! A steady clock for load generators: releases items at a fixed rate, never in bursts
//! larger than one tick's worth.

use std::time::{Duration, Instant};

/// Shortest sleep between releases: at high rates each wake-up releases the records that
/// fell due during the tick (about `rate / 1000` per ms), at low rates one at a time.
const TICK: Duration = Duration::from_millis(1);

/// An iterator that yields, for the `n`th item, the [`Instant`] it was released at: not before
/// `start + n / rate`, for items due before `start + duration`. The schedule is absolute, so a
/// late wake-up (a busy machine) releases what fell due at once and the rate does not drift.
#[derive(Debug, Clone)]
pub struct Paced {
    start: Instant,
    end: Instant,
    rate: f64,
    released: u64,
}

impl Paced {
    /// `rate` items per second for `duration`, starting now (`rate * duration` items).
    pub fn new(rate: f64, duration: Duration) -> Paced {
        assert!(rate > 0.0, "rate must be positive, not {rate}");
        let start = Instant::now();
        Paced {
            start,
            end: start + duration,
            rate,
            released: 0,
        }
    }

    /// When the schedule started.
    pub fn start(&self) -> Instant {
        self.start
    }
}

impl Iterator for Paced {
    type Item = Instant;

    fn next(&mut self) -> Option<Instant> {
        let due = self.start + Duration::from_secs_f64(self.released as f64 / self.rate);
        if due >= self.end {
            return None;
        }
        loop {
            let now = Instant::now();
            if now >= due {
                self.released += 1;
                return Some(now);
            }
            std::thread::sleep((due - now).max(TICK));
        }
    }
}
