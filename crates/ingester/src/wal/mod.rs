//! The write-ahead log.
//!
//! `<data>/wal/` holds append-only segment files named by a 20-digit sequence number
//! (`00000000000000000007.wal`). Each segment starts with the 8-byte magic `WEFTWAL0`
//! and continues with records:
//!
//! ```text
//! u32 LE  payload length in bytes
//! u32 LE  crc32 (IEEE) of the version byte and the payload
//! u8      record version (1)
//! [..]    payload: postcard string (tenant id), then a span table (weft_storage::span_table)
//! ```
//!
//! A process never appends to a segment it did not create: each start and each head
//! cut begins a new segment, so a torn write can only be the tail of the segment that
//! was being written. Damage anywhere else (a flipped bit, a bad sector) skips only the
//! damaged bytes: the reader finds the next intact record and goes on
//! ([`read_segment`]), and replay keeps such a segment aside in `wal/quarantine/`
//! before it replays what can be read, so the damaged bytes are never deleted.

mod read;
mod writer;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use weft_model::{Span, TenantId};
use weft_storage::StorageError;
use weft_storage::span_table::{LocatedSpans, decode_spans, encode_spans_located};

pub use read::{DamagedRegion, SegmentReport, read_segment};
pub use writer::{Wal, WalAppendError};

/// First bytes of every segment.
pub const SEGMENT_MAGIC: &[u8; 8] = b"WEFTWAL0";
/// Bytes of a record header: length, crc32, version.
pub const RECORD_HEADER_BYTES: usize = 9;
/// The record version this build writes and reads.
pub const RECORD_VERSION: u8 = 1;
/// Larger payload lengths are treated as corruption (guards the allocation).
pub const MAX_RECORD_PAYLOAD_BYTES: u32 = 1 << 30;

/// Fsyncs a directory so that entries created, renamed or removed in it are durable.
/// A no-op on platforms where directories cannot be opened as files.
pub fn sync_directory(path: &Path) -> Result<(), StorageError> {
    #[cfg(unix)]
    {
        let directory = File::open(path).map_err(StorageError::io("open directory", path))?;
        directory
            .sync_all()
            .map_err(StorageError::io("fsync directory", path))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// The file name of segment `sequence`.
pub fn segment_file_name(sequence: u64) -> String {
    format!("{sequence:020}.wal")
}

/// The sequence number of a segment file name; `None` for other files.
pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".wal")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The segments in `directory`, sorted by sequence number.
pub fn list_segments(directory: &Path) -> Result<Vec<(u64, PathBuf)>, StorageError> {
    let entries = std::fs::read_dir(directory).map_err(StorageError::io("list", directory))?;
    let mut segments = Vec::new();
    for entry in entries {
        let entry = entry.map_err(StorageError::io("list", directory))?;
        if let Some(sequence) = entry.file_name().to_str().and_then(parse_segment_file_name) {
            segments.push((sequence, entry.path()));
        }
    }
    segments.sort();
    Ok(segments)
}

/// An encoded record: its bytes (header and payload, ready to append) with every span,
/// resource and scope located in them, so that the head can keep the very buffer the
/// WAL wrote and copy spans out of it into blocks.
pub type Record = Arc<LocatedSpans>;

/// Encodes one record for `tenant` and `spans`. Runs in the pushing task so that
/// encoding is parallel across pushers.
pub fn encode_record(tenant: &TenantId, spans: &[Span]) -> Result<LocatedSpans, StorageError> {
    let mut prefix = Vec::with_capacity(RECORD_HEADER_BYTES + 64);
    prefix.extend_from_slice(&[0u8; RECORD_HEADER_BYTES]);
    let prefix =
        postcard::to_extend(tenant.as_str(), prefix).map_err(|error| StorageError::Encode {
            what: "wal record",
            reason: error.to_string(),
        })?;
    let mut record = encode_spans_located(spans, &prefix)?;
    let bytes = &mut record.bytes;
    let payload_bytes = bytes.len() - RECORD_HEADER_BYTES;
    let length = u32::try_from(payload_bytes)
        .ok()
        .filter(|&length| length <= MAX_RECORD_PAYLOAD_BYTES)
        .ok_or(StorageError::Encode {
            what: "wal record",
            reason: format!("payload of {payload_bytes} bytes is over the 1 GiB record limit"),
        })?;
    bytes[8] = RECORD_VERSION;
    let crc = crc32fast::hash(&bytes[8..]);
    bytes[..4].copy_from_slice(&length.to_le_bytes());
    bytes[4..8].copy_from_slice(&crc.to_le_bytes());
    Ok(record)
}

/// Decodes a record payload (after the header).
fn decode_payload(payload: &[u8], what: &str) -> Result<(TenantId, Vec<Span>), StorageError> {
    let (tenant, rest) = postcard::take_from_bytes::<&str>(payload)
        .map_err(|error| StorageError::corrupt(what, format!("tenant does not decode: {error}")))?;
    let tenant = TenantId::parse(tenant)
        .map_err(|error| StorageError::corrupt(what, format!("bad tenant: {error}")))?;
    Ok((tenant, decode_spans(rest, what)?))
}

#[cfg(test)]
mod tests;
