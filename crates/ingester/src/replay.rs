//! Start-up: load the block catalog and rebuild the head from the WAL.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use weft_model::TenantId;
use weft_storage::{StorageError, WalSegmentRange};

use crate::error::IngesterError;
use crate::head::{Head, InsertStats};
use crate::wal::{encode_record, list_segments, read_segment};

/// The head rebuilt from the WAL.
pub(crate) struct Replayed {
    /// The rebuilt head; its first segment is the first replayed one.
    pub head: Head,
    /// Totals of what was inserted.
    pub stats: InsertStats,
    /// The segment numbers that were read.
    pub segments: Vec<u64>,
    /// The number the next new segment must have: above every existing segment and
    /// every segment a block claims to cover, so ranges recorded in blocks never name a
    /// future segment.
    pub next_segment: u64,
}

/// Reads every WAL segment in order into a new head, skipping records of a tenant in
/// segments that one of that tenant's blocks already covers (a crash after the block
/// was written and before the segments were deleted).
pub(crate) fn replay(
    wal_directory: &Path,
    coverage: &HashMap<TenantId, Vec<WalSegmentRange>>,
    indexed_attribute_keys: &[String],
) -> Result<Replayed, IngesterError> {
    let highest_covered = coverage
        .values()
        .flatten()
        .map(|range| range.last)
        .max()
        .unwrap_or(0);
    let segments = list_segments(wal_directory)?;
    let highest_segment = segments.last().map_or(0, |(sequence, _)| *sequence);
    let next_segment = highest_segment.max(highest_covered) + 1;
    let head = Head::new(
        segments
            .first()
            .map_or(next_segment, |(sequence, _)| *sequence),
    );
    let mut stats = InsertStats::default();
    let mut skipped_records = 0u64;
    let mut insert_error: Option<String> = None;
    for (sequence, path) in &segments {
        let report = read_segment(path, |tenant, spans| {
            let covered = coverage
                .get(&tenant)
                .is_some_and(|ranges| ranges.iter().any(|range| range.contains(*sequence)));
            if covered {
                skipped_records += 1;
                return;
            }
            let inserted = encode_record(&tenant, &spans)
                .map_err(|error| error.to_string())
                .and_then(|record| {
                    head.insert(&tenant, &spans, Arc::new(record), indexed_attribute_keys)
                        .map_err(|error| error.to_string())
                });
            match inserted {
                Ok(inserted) => stats.add(inserted),
                // The record decoded, so this is not expected. Opening fails rather than
                // cutting a head without these spans and deleting their segment.
                Err(error) => {
                    insert_error.get_or_insert(error);
                }
            }
        })?;
        if let Some(error) = insert_error.take() {
            return Err(IngesterError::Wal(format!(
                "cannot replay {} into the head: {error}",
                path.display()
            )));
        }
        metrics::counter!("weft_wal_replayed_records_total").increment(report.records);
        if report.corrupt_records > 0 {
            metrics::counter!("weft_wal_corrupt_records_total").increment(report.corrupt_records);
        }
        if let Some(reason) = &report.stopped_early {
            tracing::warn!(
                segment = %path.display(),
                reason,
                "wal segment ends in a torn or damaged record; the records before it were replayed"
            );
        }
    }
    if !segments.is_empty() {
        tracing::info!(
            segments = segments.len(),
            spans = stats.spans,
            traces = stats.new_traces,
            skipped_records,
            "replayed the wal"
        );
    }
    Ok(Replayed {
        head,
        stats,
        segments: segments.iter().map(|(sequence, _)| *sequence).collect(),
        next_segment,
    })
}

/// Deletes the WAL segments in `range` and fsyncs the directory. Segments that are
/// already gone are fine.
pub(crate) fn delete_segments(
    wal_directory: &Path,
    range: WalSegmentRange,
) -> Result<(), StorageError> {
    let mut deleted = false;
    for (sequence, path) in list_segments(wal_directory)? {
        if range.contains(sequence) {
            match std::fs::remove_file(&path) {
                Ok(()) => deleted = true,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(StorageError::io("remove", &path)(error)),
            }
        }
    }
    if deleted {
        crate::wal::sync_directory(wal_directory)?;
    }
    Ok(())
}
