//! The block's bloom filter over trace ids: a Parquet split-block bloom filter (SBBF),
//! stored as its own object `bloom` in Parquet's bloom filter serialization (Thrift
//! compact `BloomFilterHeader`, then the bitset).

use parquet::bloom_filter::Sbbf;
use weft_model::TraceId;

use crate::error::StorageError;

/// The false-positive rate the filter is folded down to.
pub const TARGET_FALSE_POSITIVE_RATE: f64 = 0.01;

/// Distinct trace ids a writer's filter is sized for before folding (4 MiB of bits).
/// Blocks with more traces get a higher false-positive rate, never false negatives.
const WRITER_CAPACITY_TRACES: u64 = 2_000_000;

/// A bloom filter over the trace ids of one block.
#[derive(Debug, Clone)]
pub struct TraceBloom {
    filter: Sbbf,
}

impl TraceBloom {
    /// An empty filter sized for a block of up to about two million traces.
    pub fn for_writing() -> Self {
        let filter = Sbbf::new_with_ndv_fpp(WRITER_CAPACITY_TRACES, TARGET_FALSE_POSITIVE_RATE)
            .unwrap_or_else(|_| Sbbf::new_with_num_of_bytes(4 * 1024 * 1024));
        TraceBloom { filter }
    }

    /// A one-block placeholder (32 bytes) for a writer that has handed its filter on.
    pub fn empty() -> Self {
        TraceBloom {
            filter: Sbbf::new_with_num_of_bytes(32),
        }
    }

    /// Adds a trace id.
    pub fn insert(&mut self, trace_id: &TraceId) {
        self.filter.insert(trace_id.0.as_slice());
    }

    /// False when the block certainly has no span of `trace_id`.
    pub fn may_contain(&self, trace_id: &TraceId) -> bool {
        self.filter.check(trace_id.0.as_slice())
    }

    /// Folds the filter to the smallest size that keeps the target false-positive rate
    /// and returns its serialized bytes.
    pub fn finish(mut self) -> Result<Vec<u8>, StorageError> {
        self.filter.fold_to_target_fpp(TARGET_FALSE_POSITIVE_RATE);
        let mut bytes = Vec::with_capacity(self.filter.num_blocks() * 32 + 16);
        self.filter
            .write(&mut bytes)
            .map_err(|error| StorageError::Encode {
                what: "bloom filter",
                reason: error.to_string(),
            })?;
        Ok(bytes)
    }

    /// Reads serialized bytes; errors name `what`.
    pub fn from_bytes(bytes: &[u8], what: &str) -> Result<Self, StorageError> {
        let filter = Sbbf::from_bytes(bytes)
            .map_err(|error| StorageError::corrupt(what, error.to_string()))?;
        if filter.num_blocks() == 0 {
            return Err(StorageError::corrupt(what, "bloom filter has no blocks"));
        }
        Ok(TraceBloom { filter })
    }

    /// Bytes of memory the filter holds.
    pub fn memory_bytes(&self) -> usize {
        self.filter.num_blocks() * 32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_has_no_false_negatives_and_about_one_percent_false_positives() {
        let mut bloom = TraceBloom::for_writing();
        let ids: Vec<TraceId> = (1..=20_000u64)
            .map(|n| TraceId::from_halves(n, n * 7))
            .collect();
        ids.iter().for_each(|id| bloom.insert(id));
        let bytes = bloom.finish().expect("serializes");
        assert!(bytes.len() < 64 * 1024, "folded to {} bytes", bytes.len());
        let bloom = TraceBloom::from_bytes(&bytes, "bloom").expect("reads back");
        assert!(ids.iter().all(|id| bloom.may_contain(id)));
        let false_positives = (1..=100_000u64)
            .filter(|n| bloom.may_contain(&TraceId::from_halves(u64::MAX - n, *n)))
            .count();
        assert!(
            false_positives < 2_000,
            "{false_positives} false positives in 100000"
        );
    }

    #[test]
    fn corrupt_filters_are_errors() {
        assert!(TraceBloom::from_bytes(b"", "bloom").is_err());
        assert!(TraceBloom::from_bytes(b"garbage that is no thrift header", "bloom").is_err());
        let mut bytes = TraceBloom::for_writing().finish().expect("serializes");
        bytes.truncate(bytes.len() - 1);
        assert!(TraceBloom::from_bytes(&bytes, "bloom").is_err());
    }
}
