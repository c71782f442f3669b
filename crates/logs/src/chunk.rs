//! The chunk file format (logs v1, `docs/format/logs-v1.md`) and the per-chunk meta.
//!
//! A chunk holds entries of one stream sorted by timestamp, in blocks of about
//! `chunk_block_bytes` uncompressed, each block compressed on its own and checksummed,
//! so a damaged block is detected and named.

use serde::{Deserialize, Serialize};

use crate::encoding::{Reader, put_entry};
use crate::{Entry, LabelSet};

/// First bytes of every chunk file.
pub const CHUNK_MAGIC: &[u8; 8] = b"WEFTLOGC";
/// The chunk format version written and read.
pub const CHUNK_FORMAT_VERSION: u8 = 1;
/// Bytes of a block header: entries, min and max time, uncompressed and compressed
/// length, crc32.
const BLOCK_HEADER_BYTES: usize = 4 + 8 + 8 + 4 + 4 + 4;

/// How the blocks of a chunk are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// zstd level 3.
    Zstd,
    /// Raw snappy blocks.
    Snappy,
}

impl Compression {
    fn code(self) -> u8 {
        match self {
            Compression::Zstd => 1,
            Compression::Snappy => 2,
        }
    }

    fn from_code(code: u8) -> Option<Compression> {
        match code {
            1 => Some(Compression::Zstd),
            2 => Some(Compression::Snappy),
            _ => None,
        }
    }
}

/// A chunk that cannot be read: the message names the block or field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("corrupt chunk: {0}")]
pub struct ChunkError(pub String);

/// The index of one chunk, kept in memory and in the chunk's meta file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkMeta {
    /// Chunk format version.
    pub format_version: u8,
    /// The chunk id (also its file name stem).
    pub id: String,
    /// The tenant.
    pub tenant: String,
    /// The stream's labels, sorted by name.
    pub labels: LabelSet,
    /// Oldest entry, Unix nanoseconds (inclusive).
    pub min_time_unix_nanos: i64,
    /// Newest entry, Unix nanoseconds (inclusive).
    pub max_time_unix_nanos: i64,
    /// Number of entries.
    pub entries: u64,
    /// Bytes of log lines (what queries count as scanned).
    pub line_bytes: u64,
    /// Bytes of the chunk file.
    pub chunk_bytes: u64,
    /// Block compression.
    pub compression: Compression,
}

/// Encodes `entries` (sorted by timestamp) into a chunk file with blocks of about
/// `block_bytes` uncompressed bytes.
pub fn encode_chunk(
    entries: &[Entry],
    block_bytes: usize,
    compression: Compression,
) -> Result<Vec<u8>, ChunkError> {
    let mut out = Vec::with_capacity(64 + entries.len() * 16);
    out.extend_from_slice(CHUNK_MAGIC);
    out.push(CHUNK_FORMAT_VERSION);
    out.push(compression.code());
    let mut start = 0;
    while start < entries.len() {
        let mut raw = Vec::with_capacity(block_bytes.min(1 << 22) + 1024);
        let mut end = start;
        while end < entries.len() && (end == start || raw.len() < block_bytes) {
            put_entry(&mut raw, &entries[end]);
            end += 1;
        }
        let compressed = match compression {
            Compression::Zstd => zstd::bulk::compress(&raw, 3)
                .map_err(|error| ChunkError(format!("zstd: {error}")))?,
            Compression::Snappy => snap::raw::Encoder::new()
                .compress_vec(&raw)
                .map_err(|error| ChunkError(format!("snappy: {error}")))?,
        };
        let as_u32 = |value: usize, what: &str| {
            u32::try_from(value).map_err(|_| ChunkError(format!("{what} over 4 GiB")))
        };
        out.extend_from_slice(&as_u32(end - start, "entry count")?.to_le_bytes());
        out.extend_from_slice(&entries[start].timestamp_unix_nanos.to_le_bytes());
        out.extend_from_slice(&entries[end - 1].timestamp_unix_nanos.to_le_bytes());
        out.extend_from_slice(&as_u32(raw.len(), "block")?.to_le_bytes());
        out.extend_from_slice(&as_u32(compressed.len(), "block")?.to_le_bytes());
        let header_start = out.len() - (BLOCK_HEADER_BYTES - 4);
        out.extend_from_slice(&block_checksum(&out[header_start..], &compressed).to_le_bytes());
        out.extend_from_slice(&compressed);
        start = end;
    }
    Ok(out)
}

/// crc32 (IEEE) over a block's header fields before the checksum and its compressed
/// bytes.
fn block_checksum(header: &[u8], compressed: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(header);
    hasher.update(compressed);
    hasher.finalize()
}

/// A block header as read from a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockHeader {
    /// Entries in the block.
    pub entries: u32,
    /// Oldest entry (inclusive).
    pub min_time_unix_nanos: i64,
    /// Newest entry (inclusive).
    pub max_time_unix_nanos: i64,
    /// Uncompressed bytes.
    pub raw_bytes: u32,
}

/// Decodes the blocks of a chunk whose time range meets `[start, end)` (Unix
/// nanoseconds), calling `visit` with each block's entries. Checksums are checked for
/// every block decoded; blocks outside the range are skipped without decompression.
pub fn decode_chunk(
    bytes: &[u8],
    start_unix_nanos: i64,
    end_unix_nanos: i64,
    mut visit: impl FnMut(BlockHeader, Vec<Entry>) -> bool,
) -> Result<(), ChunkError> {
    if bytes.len() < 10 || &bytes[..8] != CHUNK_MAGIC {
        return Err(ChunkError(String::from("missing magic")));
    }
    if bytes[8] != CHUNK_FORMAT_VERSION {
        return Err(ChunkError(format!("unknown format version {}", bytes[8])));
    }
    let compression = Compression::from_code(bytes[9])
        .ok_or_else(|| ChunkError(format!("unknown compression {}", bytes[9])))?;
    let mut position = 10;
    let mut block = 0;
    while position < bytes.len() {
        let header = bytes
            .get(position..position + BLOCK_HEADER_BYTES)
            .ok_or_else(|| ChunkError(format!("block {block}: truncated header")))?;
        let u32_at = |at: usize| {
            u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
        };
        let i64_at = |at: usize| {
            let mut raw = [0u8; 8];
            raw.copy_from_slice(&header[at..at + 8]);
            i64::from_le_bytes(raw)
        };
        let block_header = BlockHeader {
            entries: u32_at(0),
            min_time_unix_nanos: i64_at(4),
            max_time_unix_nanos: i64_at(12),
            raw_bytes: u32_at(20),
        };
        let compressed_length = u32_at(24) as usize;
        let crc = u32_at(28);
        let body_start = position + BLOCK_HEADER_BYTES;
        let compressed = bytes
            .get(body_start..body_start + compressed_length)
            .ok_or_else(|| ChunkError(format!("block {block}: truncated body")))?;
        position = body_start + compressed_length;
        if block_header.max_time_unix_nanos < start_unix_nanos
            || block_header.min_time_unix_nanos >= end_unix_nanos
        {
            block += 1;
            continue;
        }
        if block_checksum(&header[..BLOCK_HEADER_BYTES - 4], compressed) != crc {
            return Err(ChunkError(format!("block {block}: checksum mismatch")));
        }
        let raw = match compression {
            Compression::Zstd => {
                zstd::bulk::decompress(compressed, block_header.raw_bytes as usize)
            }
            Compression::Snappy => snap::raw::Decoder::new()
                .decompress_vec(compressed)
                .map_err(std::io::Error::other),
        }
        .map_err(|error| ChunkError(format!("block {block}: {error}")))?;
        let mut reader = Reader::new(&raw);
        let mut entries = Vec::with_capacity(block_header.entries as usize);
        for _ in 0..block_header.entries {
            entries.push(
                reader
                    .entry()
                    .map_err(|reason| ChunkError(format!("block {block}: {reason}")))?,
            );
        }
        if !visit(block_header, entries) {
            return Ok(());
        }
        block += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(count: i64) -> Vec<Entry> {
        (0..count)
            .map(|index| Entry {
                timestamp_unix_nanos: 1_000 + index,
                line: format!("line {index} level=info msg=\"request served\""),
                structured_metadata: if index % 2 == 0 {
                    vec![(String::from("trace_id"), format!("{index:032x}"))]
                } else {
                    Vec::new()
                },
            })
            .collect()
    }

    fn decode_all(bytes: &[u8]) -> Result<Vec<Entry>, ChunkError> {
        let mut all = Vec::new();
        decode_chunk(bytes, i64::MIN, i64::MAX, |_, block| {
            all.extend(block);
            true
        })?;
        Ok(all)
    }

    #[test]
    fn chunks_round_trip_with_both_compressions() {
        let written = entries(1000);
        for compression in [Compression::Zstd, Compression::Snappy] {
            let bytes = encode_chunk(&written, 4096, compression).expect("encode");
            assert_eq!(decode_all(&bytes).expect("decode"), written);
            let mut blocks = 0;
            let mut seen = Vec::new();
            decode_chunk(&bytes, 1_500, 1_600, |header, block| {
                blocks += 1;
                assert!(header.max_time_unix_nanos >= 1_500);
                seen.extend(block);
                true
            })
            .expect("decode range");
            assert!(blocks < 5, "only the blocks in range are decoded: {blocks}");
            assert!(seen.iter().any(|entry| entry.timestamp_unix_nanos == 1_550));
        }
    }

    #[test]
    fn damaged_blocks_are_detected() {
        let bytes = encode_chunk(&entries(1000), 4096, Compression::Zstd).expect("encode");
        let mut damaged = bytes.clone();
        let middle = damaged.len() / 2;
        damaged[middle] ^= 0x01;
        let error = decode_all(&damaged).expect_err("damage is detected");
        assert!(error.0.contains("block"), "{error}");
        assert!(decode_all(&bytes[..bytes.len() - 3]).is_err());
        assert!(decode_all(b"WEFTLOGC\x09\x01").is_err());
    }
}
