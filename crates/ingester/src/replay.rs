//! Start-up: load the block catalog and rebuild the head from the WAL.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use weft_model::{CatalogLimits, TenantId};
use weft_storage::{StorageError, WalSegmentRange};

use crate::error::IngesterError;
use crate::head::{Head, InsertStats};
use crate::wal::{SegmentReport, encode_record, list_segments, read_segment, sync_directory};

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
    catalog_limits: CatalogLimits,
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
    for (index, (sequence, path)) in segments.iter().enumerate() {
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
                    head.insert(
                        &tenant,
                        &spans,
                        Arc::new(record),
                        indexed_attribute_keys,
                        catalog_limits,
                    )
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
        let is_last = index + 1 == segments.len();
        account_for_damage(wal_directory, path, &report, is_last)?;
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

/// The folder under the WAL directory where damaged segments are kept.
pub const QUARANTINE_DIRECTORY: &str = "quarantine";

/// Counts and logs what reading one segment skipped, and keeps a damaged segment aside.
///
/// A damaged stretch that runs to the end of the newest segment is what a crash in the
/// middle of a write leaves (that record was never acknowledged): it is counted and
/// logged. Any other damage means acknowledged bytes were lost on disk: the segment is
/// linked into `wal/quarantine/` under its own name before the head that holds its
/// readable records can be cut, so the normal deletion of the segment after the cut
/// never deletes the damaged bytes.
fn account_for_damage(
    wal_directory: &Path,
    path: &Path,
    report: &SegmentReport,
    is_last: bool,
) -> Result<(), StorageError> {
    if report.skipped_records == 0 {
        return Ok(());
    }
    metrics::counter!("weft_wal_corrupt_records_total").increment(report.skipped_records);
    metrics::counter!("weft_wal_skipped_bytes_total").increment(report.skipped_bytes);
    let file_bytes = std::fs::metadata(path)
        .map_err(StorageError::io("stat", path))?
        .len();
    let torn_tail_only = is_last && report.damaged.len() == 1 && report.ends_in_damage(file_bytes);
    let reasons: Vec<&str> = report
        .damaged
        .iter()
        .map(|region| region.reason.as_str())
        .collect();
    if torn_tail_only {
        tracing::warn!(
            segment = %path.display(),
            skipped_bytes = report.skipped_bytes,
            reason = reasons.join("; "),
            "the newest wal segment ends in a torn write (a record that was never acknowledged); the records before it were replayed"
        );
        return Ok(());
    }
    let quarantined = quarantine(wal_directory, path)?;
    metrics::counter!("weft_wal_quarantined_segments_total").increment(1);
    tracing::error!(
        segment = %path.display(),
        quarantined = %quarantined.display(),
        replayed_records = report.records,
        skipped_records = report.skipped_records,
        skipped_bytes = report.skipped_bytes,
        damaged_regions = report.damaged.len(),
        reason = reasons.join("; "),
        "wal segment is damaged: replayed every intact record and kept the segment aside"
    );
    Ok(())
}

/// Links (or, where links are impossible, copies) the segment at `path` into the
/// quarantine folder under its own name and fsyncs that folder. A segment already
/// quarantined by an earlier start is left as it is.
fn quarantine(wal_directory: &Path, path: &Path) -> Result<PathBuf, StorageError> {
    let directory = wal_directory.join(QUARANTINE_DIRECTORY);
    std::fs::create_dir_all(&directory)
        .map_err(StorageError::io("create directory", &directory))?;
    let file_name = path.file_name().unwrap_or(path.as_os_str());
    let target = directory.join(file_name);
    if target.exists() {
        return Ok(target);
    }
    if std::fs::hard_link(path, &target).is_err() {
        std::fs::copy(path, &target).map_err(StorageError::io("copy", &target))?;
    }
    sync_directory(&directory)?;
    Ok(target)
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
