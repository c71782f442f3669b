//! How the storage benchmark lays a corpus out in time and in blocks: the time range is
//! cut into equal slices, one block per slice, and the traces of a slice start at evenly
//! spaced times inside it, in generation order.

use std::time::Duration;

/// Why a layout cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// `total_spans` was 0.
    #[error("spans must be greater than 0")]
    NoSpans,
    /// `block_spans` was 0.
    #[error("block spans must be greater than 0")]
    NoBlockSpans,
    /// The time range was empty or reached back before the Unix epoch.
    #[error(
        "time range of {0:?} ending at {1} ns since the epoch is empty or starts before the epoch"
    )]
    BadRange(Duration, u64),
}

/// A corpus of `total_spans` spans whose traces start in
/// `[start_unix_nanos, end_unix_nanos)`, written as blocks of about `block_spans` spans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CorpusLayout {
    /// First nanosecond of the range (inclusive), since the Unix epoch.
    pub start_unix_nanos: u64,
    /// End of the range (exclusive), in nanoseconds since the Unix epoch.
    pub end_unix_nanos: u64,
    /// Spans in the whole corpus (each block ends at a trace boundary, so the corpus
    /// ends up at most one trace larger).
    pub total_spans: u64,
    /// Wanted spans per block; the real block size is `total_spans / block_count`.
    pub block_spans: u64,
}

/// One block's share of the time range: `[start_unix_nanos, end_unix_nanos)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeSlice {
    /// First nanosecond (inclusive).
    pub start_unix_nanos: u64,
    /// End (exclusive).
    pub end_unix_nanos: u64,
}

impl TimeSlice {
    /// Start time of trace `index` of `count` traces spread evenly over the slice:
    /// `start + index * length / count`, so the first starts at the slice start and the
    /// last one `length / count` before its end. `count` 0 is treated as 1 and an `index`
    /// past `count` is clamped to the slice.
    pub fn spread(&self, index: u64, count: u64) -> u64 {
        let length = self.end_unix_nanos.saturating_sub(self.start_unix_nanos);
        let count = count.max(1);
        let index = index.min(count);
        let offset = u128::from(length) * u128::from(index) / u128::from(count);
        // offset <= length, so it fits in a u64.
        self.start_unix_nanos + u64::try_from(offset).unwrap_or(length)
    }
}

impl CorpusLayout {
    /// A layout over the `duration` before `end_unix_nanos`.
    pub fn new(
        end_unix_nanos: u64,
        duration: Duration,
        total_spans: u64,
        block_spans: u64,
    ) -> Result<CorpusLayout, LayoutError> {
        if total_spans == 0 {
            return Err(LayoutError::NoSpans);
        }
        if block_spans == 0 {
            return Err(LayoutError::NoBlockSpans);
        }
        let duration_nanos = u64::try_from(duration.as_nanos())
            .map_err(|_| LayoutError::BadRange(duration, end_unix_nanos))?;
        if duration_nanos == 0 || duration_nanos > end_unix_nanos {
            return Err(LayoutError::BadRange(duration, end_unix_nanos));
        }
        Ok(CorpusLayout {
            start_unix_nanos: end_unix_nanos - duration_nanos,
            end_unix_nanos,
            total_spans,
            block_spans,
        })
    }

    /// Number of blocks: `ceil(total_spans / block_spans)`, at least 1.
    pub fn block_count(&self) -> u64 {
        self.total_spans.div_ceil(self.block_spans.max(1)).max(1)
    }

    /// The time slice of block `block_index` (0-based): the range cut into
    /// [`CorpusLayout::block_count`] equal parts. Indexes past the last block give the
    /// empty slice at the range's end.
    pub fn slice(&self, block_index: u64) -> TimeSlice {
        let whole = TimeSlice {
            start_unix_nanos: self.start_unix_nanos,
            end_unix_nanos: self.end_unix_nanos,
        };
        let blocks = self.block_count();
        TimeSlice {
            start_unix_nanos: whole.spread(block_index, blocks),
            end_unix_nanos: whole.spread(block_index.saturating_add(1), blocks),
        }
    }

    /// Spans the corpus should hold once blocks `0..=block_index` are complete:
    /// `total_spans * (block_index + 1) / block_count`, so the blocks share the total
    /// evenly and the last one ends at `total_spans`. A generator fills block `i` until
    /// the running span count reaches this.
    pub fn cumulative_spans_after(&self, block_index: u64) -> u64 {
        let blocks = self.block_count();
        let done = block_index.saturating_add(1).min(blocks);
        let spans = u128::from(self.total_spans) * u128::from(done) / u128::from(blocks);
        u64::try_from(spans).unwrap_or(self.total_spans)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);
    const END: u64 = 1_800_000_000_000_000_000;

    #[test]
    fn slices_tile_the_range_without_gaps() {
        let layout = CorpusLayout::new(END, 24 * HOUR, 50_000_000, 2_000_000).expect("valid");
        assert_eq!(layout.block_count(), 25);
        assert_eq!(layout.slice(0).start_unix_nanos, layout.start_unix_nanos);
        assert_eq!(layout.slice(24).end_unix_nanos, END);
        for block in 1..25 {
            assert_eq!(
                layout.slice(block).start_unix_nanos,
                layout.slice(block - 1).end_unix_nanos
            );
        }
        let length = layout.slice(3).end_unix_nanos - layout.slice(3).start_unix_nanos;
        assert_eq!(length, 24 * 3600 * 1_000_000_000 / 25);
    }

    #[test]
    fn spans_are_shared_evenly_and_add_up_to_the_total() {
        let layout = CorpusLayout::new(END, HOUR, 5_000_000, 2_000_000).expect("valid");
        assert_eq!(
            layout.block_count(),
            3,
            "blocks of about 1.67M, not 2M + 2M + 1M"
        );
        assert_eq!(layout.cumulative_spans_after(0), 1_666_666);
        assert_eq!(layout.cumulative_spans_after(1), 3_333_333);
        assert_eq!(layout.cumulative_spans_after(2), 5_000_000);
        assert_eq!(layout.cumulative_spans_after(99), 5_000_000);
        let tiny = CorpusLayout::new(END, HOUR, 10, 2_000_000).expect("valid");
        assert_eq!(tiny.block_count(), 1);
        assert_eq!(tiny.cumulative_spans_after(0), 10);
    }

    #[test]
    fn traces_spread_evenly_inside_a_slice() {
        let slice = TimeSlice {
            start_unix_nanos: 1_000,
            end_unix_nanos: 2_000,
        };
        let starts: Vec<u64> = (0..4).map(|index| slice.spread(index, 4)).collect();
        assert_eq!(starts, [1_000, 1_250, 1_500, 1_750]);
        assert_eq!(
            slice.spread(0, 0),
            1_000,
            "no traces is not a division by zero"
        );
        assert_eq!(slice.spread(9, 4), 2_000, "clamped to the slice");
        // Huge ranges and counts do not overflow.
        let wide = TimeSlice {
            start_unix_nanos: 0,
            end_unix_nanos: u64::MAX,
        };
        assert_eq!(wide.spread(u64::MAX - 1, u64::MAX), u64::MAX - 1);
    }

    #[test]
    fn bad_layouts_are_rejected() {
        assert_eq!(
            CorpusLayout::new(END, HOUR, 0, 1),
            Err(LayoutError::NoSpans)
        );
        assert_eq!(
            CorpusLayout::new(END, HOUR, 1, 0),
            Err(LayoutError::NoBlockSpans)
        );
        assert!(matches!(
            CorpusLayout::new(END, Duration::ZERO, 1, 1),
            Err(LayoutError::BadRange(..))
        ));
        assert!(matches!(
            CorpusLayout::new(10, HOUR, 1, 1),
            Err(LayoutError::BadRange(..))
        ));
    }
}
