//! Rate state for the limiting policies, driven by a caller-supplied clock.

use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

/// A token bucket with the semantics of Go's `golang.org/x/time/rate.Limiter.AllowN`,
/// which the Collector uses: it starts full, refills continuously at
/// `tokens_per_second` up to `burst`, and a request for `n` tokens succeeds only when
/// `n` tokens are there (taking them); a refused request takes nothing, and a request
/// larger than `burst` never succeeds.
///
/// Thread-safe: `allow` takes `&self` and serializes on an internal mutex.
#[derive(Debug)]
pub(crate) struct TokenBucket {
    tokens_per_second: f64,
    burst: f64,
    state: Mutex<BucketState>,
}

#[derive(Debug)]
struct BucketState {
    tokens: f64,
    /// When tokens were last taken; `None` until the first success (the bucket is full).
    last: Option<Instant>,
}

impl TokenBucket {
    pub(crate) fn new(tokens_per_second: i64, burst: i64) -> TokenBucket {
        TokenBucket {
            tokens_per_second: tokens_per_second.max(0) as f64,
            burst: burst.max(0) as f64,
            state: Mutex::new(BucketState {
                tokens: 0.0,
                last: None,
            }),
        }
    }

    /// Takes `n` tokens at time `now` if they are there. A `now` earlier than the last
    /// success refills nothing.
    pub(crate) fn allow(&self, now: Instant, n: u64) -> bool {
        let mut state = lock(&self.state);
        let tokens = match state.last {
            None => self.burst,
            Some(last) => {
                let elapsed = now.saturating_duration_since(last).as_secs_f64();
                (state.tokens + elapsed * self.tokens_per_second).min(self.burst)
            }
        };
        let wanted = n as f64;
        if wanted > self.burst || tokens < wanted {
            return false;
        }
        state.tokens = tokens - wanted;
        state.last = Some(now);
        true
    }
}

/// Locks a mutex, carrying on after a panic elsewhere: the guarded counters stay
/// meaningful whatever the panicking thread was doing.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn starts_full_refills_continuously_and_caps_at_burst() {
        let start = Instant::now();
        let bucket = TokenBucket::new(10, 20);
        assert!(bucket.allow(start, 20), "a full bucket allows the burst");
        assert!(!bucket.allow(start, 1), "then nothing is left");
        let half_second = start + Duration::from_millis(500);
        assert!(!bucket.allow(half_second, 6), "5 tokens came back, not 6");
        assert!(bucket.allow(half_second, 5));
        let much_later = start + Duration::from_secs(60);
        assert!(!bucket.allow(much_later, 21), "never more than the burst");
        assert!(bucket.allow(much_later, 20));
    }

    #[test]
    fn a_refused_request_takes_nothing() {
        let start = Instant::now();
        let bucket = TokenBucket::new(1, 10);
        assert!(!bucket.allow(start, 11));
        assert!(bucket.allow(start, 10), "the refused 11 took nothing");
        assert!(bucket.allow(start, 0), "zero tokens are always there");
    }

    #[test]
    fn zero_rate_never_refills() {
        let start = Instant::now();
        let bucket = TokenBucket::new(0, 3);
        assert!(bucket.allow(start, 3));
        assert!(!bucket.allow(start + Duration::from_secs(3600), 1));
    }
}
