//! Time ranges of metrics queries: Tempo's default step, the alignment its query
//! frontend applies, and the mapping of span start times to intervals.

const SECOND_NANOS: u64 = 1_000_000_000;
const MILLISECOND_NANOS: u64 = 1_000_000;

/// The step Tempo picks when a request gives none: about 240 points over the range,
/// rounded down to a multiple of 1 h, 5 m, 1 m, 15 s, 5 s or 1 s (of 50 ms under a
/// minute), at least 1 s (50 ms under a minute). Nanoseconds.
pub fn default_step_nanos(start_unix_nanos: u64, end_unix_nanos: u64) -> u64 {
    let range = end_unix_nanos.saturating_sub(start_unix_nanos);
    let baseline = range / 240;
    if range < 60 * SECOND_NANOS {
        let granularity = 50 * MILLISECOND_NANOS;
        return if baseline > granularity {
            baseline / granularity * granularity
        } else {
            granularity
        };
    }
    let granularities = [3600, 300, 60, 15, 5, 1].map(|seconds| seconds * SECOND_NANOS);
    granularities
        .iter()
        .find(|&&granularity| baseline > granularity)
        .map_or(SECOND_NANOS, |&granularity| {
            baseline / granularity * granularity
        })
}

/// A range request after the query frontend's alignment: `start` rounded down to a step
/// and moved one step earlier (an extra first interval), `end` rounded up to a step;
/// when `end` lies after `now`, it is pulled back to `now` and rounded down to a step.
/// Returns `(start, end)` in nanoseconds.
pub fn align_range(
    start_unix_nanos: u64,
    end_unix_nanos: u64,
    step_nanos: u64,
    now_unix_nanos: u64,
) -> (u64, u64) {
    let step = step_nanos.max(1);
    let mut start = start_unix_nanos - start_unix_nanos % step;
    let mut end = round_up(end_unix_nanos, step);
    if start > step {
        start -= step;
    }
    if end > now_unix_nanos {
        end = now_unix_nanos - now_unix_nanos % step;
    }
    (start, end)
}

fn round_up(value: u64, step: u64) -> u64 {
    match value % step {
        0 => value,
        remainder => value.saturating_add(step - remainder),
    }
}

/// Which interval a span start time falls in. Range queries have right-closed
/// intervals `(start + i·step, start + (i+1)·step]` stamped with their end; an instant
/// query has one closed interval `[start, end]` stamped with `end`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IntervalMapper {
    start: u64,
    end: u64,
    step: u64,
    instant: bool,
    count: usize,
}

impl IntervalMapper {
    pub(crate) fn new(start: u64, end: u64, step: u64, instant: bool) -> Self {
        if instant {
            return IntervalMapper {
                start,
                end,
                step: end.saturating_sub(start),
                instant,
                count: 1,
            };
        }
        let step = step.max(1);
        let start = start - start % step;
        let end = round_up(end, step);
        IntervalMapper {
            start,
            end,
            step,
            instant,
            count: usize::try_from((end - start) / step).unwrap_or(usize::MAX),
        }
    }

    /// Number of intervals.
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// The interval of `unix_nanos`, `None` outside the range.
    pub(crate) fn interval(&self, unix_nanos: u64) -> Option<usize> {
        if self.instant {
            let inside =
                unix_nanos >= self.start && unix_nanos <= self.end && self.end != self.start;
            return inside.then_some(0);
        }
        if unix_nanos <= self.start || unix_nanos > self.end || self.end == self.start {
            return None;
        }
        let offset = unix_nanos - self.start;
        let mut interval = offset / self.step;
        if interval * self.step == offset {
            interval -= 1;
        }
        usize::try_from(interval).ok()
    }

    /// The interval of a millisecond timestamp (for exemplars), as Tempo maps them.
    pub(crate) fn interval_of_millis(&self, unix_millis: u64) -> Option<usize> {
        let start = self.start - self.start % MILLISECOND_NANOS;
        let end = self.end - self.end % MILLISECOND_NANOS;
        let mapper = IntervalMapper::new(start, end, self.step, self.instant);
        mapper.interval(unix_millis.saturating_mul(MILLISECOND_NANOS))
    }

    /// The timestamp of interval `index` in milliseconds: its end.
    pub(crate) fn timestamp_millis(&self, index: usize) -> i64 {
        let nanos = if self.instant {
            self.end
        } else {
            self.start + (index as u64 + 1) * self.step
        };
        i64::try_from(nanos / MILLISECOND_NANOS).unwrap_or(i64::MAX)
    }

    /// The aligned range in nanoseconds.
    pub(crate) fn bounds(&self) -> (u64, u64) {
        (self.start, self.end)
    }
}
