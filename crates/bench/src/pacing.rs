//! Pacing a sender at a fixed rate of spans per second.
//!
//! A token bucket that starts empty and fills at `rate` tokens (spans) per second with no
//! cap: a request of `n` spans may go once `n` more tokens than already spent have
//! accrued. Because the bucket has no cap, a sender that fell behind (the server was
//! slow to answer, every connection was busy) sends back to back until it is on schedule
//! again, so the achieved rate converges on the target whenever the server can keep up,
//! and the lag says how far it could not.

use std::time::Duration;

/// The schedule of a paced sender.
#[derive(Debug, Clone, PartialEq)]
pub struct Pacer {
    spans_per_second: f64,
    spans_scheduled: u64,
    max_lag: Duration,
}

impl Pacer {
    /// A pacer at `spans_per_second` (values below 1 are treated as 1).
    pub fn new(spans_per_second: f64) -> Pacer {
        let spans_per_second = if spans_per_second.is_finite() {
            spans_per_second.max(1.0)
        } else {
            1.0
        };
        Pacer {
            spans_per_second,
            spans_scheduled: 0,
            max_lag: Duration::ZERO,
        }
    }

    /// Takes `spans` tokens for a request going out now and returns when, after the
    /// start, it was due: the time at which the bucket held every span taken so far.
    /// Call it only for requests actually sent, so [`Pacer::spans_behind`] is exact.
    pub fn reserve(&mut self, spans: u64) -> Duration {
        self.spans_scheduled = self.spans_scheduled.saturating_add(spans);
        self.due(self.spans_scheduled)
    }

    /// When, after the start, `spans` tokens in total have accrued.
    pub fn due(&self, spans: u64) -> Duration {
        Duration::from_secs_f64(spans as f64 / self.spans_per_second)
    }

    /// Records that a request due at `due` went out at `sent` (both after the start) and
    /// returns how late it was (zero when on time or early).
    pub fn record_send(&mut self, due: Duration, sent: Duration) -> Duration {
        let lag = sent.saturating_sub(due);
        self.max_lag = self.max_lag.max(lag);
        lag
    }

    /// Spans reserved so far.
    pub fn spans_scheduled(&self) -> u64 {
        self.spans_scheduled
    }

    /// The latest any request went out relative to its schedule.
    pub fn max_lag(&self) -> Duration {
        self.max_lag
    }

    /// Spans the schedule called for by `elapsed` that were not reserved by then: how
    /// far behind the sender is, in spans (0 when on schedule).
    pub fn spans_behind(&self, elapsed: Duration) -> u64 {
        let due = (elapsed.as_secs_f64() * self.spans_per_second) as u64;
        due.saturating_sub(self.spans_scheduled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_due_when_their_spans_have_accrued() {
        let mut pacer = Pacer::new(100_000.0);
        assert_eq!(pacer.reserve(1_000), Duration::from_millis(10));
        assert_eq!(pacer.reserve(1_000), Duration::from_millis(20));
        assert_eq!(pacer.reserve(500), Duration::from_millis(25));
        assert_eq!(pacer.spans_scheduled(), 2_500);
        // Ten seconds of a 100k/s schedule is a million spans.
        assert_eq!(pacer.due(1_000_000), Duration::from_secs(10));
    }

    #[test]
    fn lag_is_measured_against_the_schedule() {
        let mut pacer = Pacer::new(1_000.0);
        let due = pacer.reserve(100);
        assert_eq!(
            pacer.record_send(due, Duration::from_millis(90)),
            Duration::ZERO
        );
        assert_eq!(
            pacer.record_send(due, Duration::from_millis(350)),
            Duration::from_millis(250)
        );
        assert_eq!(pacer.max_lag(), Duration::from_millis(250));
        // At 2 s, 2,000 spans were due and only 100 reserved.
        assert_eq!(pacer.spans_behind(Duration::from_secs(2)), 1_900);
        assert_eq!(pacer.spans_behind(Duration::from_millis(50)), 0);
    }

    #[test]
    fn nonsense_rates_do_not_divide_by_zero() {
        for rate in [0.0, -5.0, f64::NAN, f64::INFINITY] {
            let mut pacer = Pacer::new(rate);
            assert_eq!(pacer.reserve(2), Duration::from_secs(2));
        }
    }
}
