//! The chunk file format (logs v2, `docs/format/logs-v2.md`; v1 is still read) and the
//! per-chunk meta.
//!
//! A chunk holds entries of one stream sorted by timestamp, in blocks of about
//! `chunk_block_bytes` of lines, each block compressed on its own and checksummed, so a
//! damaged block is detected and named. In v2 a block's entry times and line lengths
//! are a section of their own, stored together with every block header at the front of
//! the chunk (the block index), so counting entries reads and decompresses only that.

use serde::{Deserialize, Serialize};

use crate::chunk_block::{
    DecodedBlock, attach_lines, decode_times, encode_lines, encode_times, repeat_flags,
};
use crate::encoding::Reader;
use crate::{Entry, LabelSet};

/// First bytes of every chunk file.
pub const CHUNK_MAGIC: &[u8; 8] = b"WEFTLOGC";
/// The chunk format version written (versions 1 and 2 are read).
pub const CHUNK_FORMAT_VERSION: u8 = 2;
/// Bytes of a v1 block header: entries, min and max time, uncompressed and compressed
/// length, crc32.
const V1_BLOCK_HEADER_BYTES: usize = 4 + 8 + 8 + 4 + 4 + 4;
/// Bytes of a v2 block header: entries, min and max time, flags, raw and stored length
/// of the times section, raw and stored length of the lines section, two crc32s.
const V2_BLOCK_HEADER_BYTES: usize = 4 + 8 + 8 + 1 + 4 * 4 + 4 + 4;
/// Bytes of a v2 chunk before its block index: magic, version, compression, index
/// length. Reading this many bytes tells how many more the block index needs.
pub const CHUNK_PREFIX_BYTES: usize = 8 + 1 + 1 + 4;
/// v2 block flag: some entry has structured metadata.
const FLAG_METADATA: u8 = 1;

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

/// Encodes `entries` (sorted by timestamp) into a v2 chunk file with blocks of about
/// `block_bytes` bytes of lines.
pub fn encode_chunk(
    entries: &[Entry],
    block_bytes: usize,
    compression: Compression,
) -> Result<Vec<u8>, ChunkError> {
    let as_u32 = |value: usize, what: &str| {
        u32::try_from(value).map_err(|_| ChunkError(format!("{what} over 4 GiB")))
    };
    let repeats = repeat_flags(entries);
    let mut index = Vec::with_capacity(64 + entries.len() * 4);
    let mut lines_region = Vec::new();
    let mut start = 0;
    while start < entries.len() {
        let mut end = start;
        let mut size = 0usize;
        while end < entries.len() && (end == start || size < block_bytes) {
            size += entries[end].line.len();
            end += 1;
        }
        let block = &entries[start..end];
        let has_metadata = block
            .iter()
            .any(|entry| !entry.structured_metadata.is_empty());
        let min_time = block.iter().map(|entry| entry.timestamp_unix_nanos).min();
        let max_time = block.iter().map(|entry| entry.timestamp_unix_nanos).max();
        let (min_time, max_time) = (min_time.unwrap_or(0), max_time.unwrap_or(0));
        let times_raw = encode_times(block, &repeats[start..end], min_time);
        let lines_raw = encode_lines(block, has_metadata);
        let times_stored = compress(compression, &times_raw)?;
        let lines_stored = compress(compression, &lines_raw)?;
        let header_start = index.len();
        index.extend_from_slice(&as_u32(block.len(), "entry count")?.to_le_bytes());
        index.extend_from_slice(&min_time.to_le_bytes());
        index.extend_from_slice(&max_time.to_le_bytes());
        index.push(if has_metadata { FLAG_METADATA } else { 0 });
        for length in [
            times_raw.len(),
            times_stored.len(),
            lines_raw.len(),
            lines_stored.len(),
        ] {
            index.extend_from_slice(&as_u32(length, "block section")?.to_le_bytes());
        }
        let times_crc = checksum(&[&index[header_start..], &times_stored]);
        index.extend_from_slice(&times_crc.to_le_bytes());
        index.extend_from_slice(&checksum(&[&lines_stored]).to_le_bytes());
        index.extend_from_slice(&times_stored);
        lines_region.extend_from_slice(&lines_stored);
        start = end;
    }
    let mut out = Vec::with_capacity(CHUNK_PREFIX_BYTES + index.len() + lines_region.len());
    out.extend_from_slice(CHUNK_MAGIC);
    out.push(CHUNK_FORMAT_VERSION);
    out.push(compression.code());
    out.extend_from_slice(&as_u32(index.len(), "block index")?.to_le_bytes());
    out.extend_from_slice(&index);
    out.extend_from_slice(&lines_region);
    Ok(out)
}

fn compress(compression: Compression, raw: &[u8]) -> Result<Vec<u8>, ChunkError> {
    match compression {
        Compression::Zstd => ZSTD_COMPRESSOR
            .with(|cell| {
                let mut slot = cell.borrow_mut();
                let compressor = match slot.as_mut() {
                    Some(compressor) => compressor,
                    None => slot.insert(zstd::bulk::Compressor::new(3)?),
                };
                compressor.compress(raw)
            })
            .map_err(|error| ChunkError(format!("zstd: {error}"))),
        Compression::Snappy => snap::raw::Encoder::new()
            .compress_vec(raw)
            .map_err(|error| ChunkError(format!("snappy: {error}"))),
    }
}

fn decompress(
    compression: Compression,
    stored: &[u8],
    raw_length: usize,
) -> Result<Vec<u8>, String> {
    let raw = match compression {
        Compression::Zstd => zstd_decompress(stored, raw_length)?,
        Compression::Snappy => snap::raw::Decoder::new()
            .decompress_vec(stored)
            .map_err(|error| error.to_string())?,
    };
    if raw.len() != raw_length {
        return Err(format!(
            "decompressed to {} bytes instead of {raw_length}",
            raw.len()
        ));
    }
    Ok(raw)
}

thread_local! {
    /// One zstd level-3 compression context per thread, reused for every section.
    static ZSTD_COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
        const { std::cell::RefCell::new(None) };
    /// One zstd decompression context per thread: creating one per block cost more
    /// than decompressing a small times section.
    static ZSTD_DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

fn zstd_decompress(stored: &[u8], raw_length: usize) -> Result<Vec<u8>, String> {
    ZSTD_DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let decompressor = match slot.as_mut() {
            Some(decompressor) => decompressor,
            None => {
                slot.insert(zstd::bulk::Decompressor::new().map_err(|error| error.to_string())?)
            }
        };
        decompressor
            .decompress(stored, raw_length)
            .map_err(|error| error.to_string())
    })
}

/// crc32 (IEEE) over `parts` one after another.
fn checksum(parts: &[&[u8]]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    for part in parts {
        hasher.update(part);
    }
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
    /// Uncompressed bytes (v1: of the entries; v2: of the lines section).
    pub raw_bytes: u32,
}

impl BlockHeader {
    /// Whether the block may hold entries in `[start, end)` (Unix nanoseconds).
    pub fn overlaps(&self, start_unix_nanos: i64, end_unix_nanos: i64) -> bool {
        self.max_time_unix_nanos >= start_unix_nanos && self.min_time_unix_nanos < end_unix_nanos
    }
}

/// One block of a chunk, located but not yet decompressed.
#[derive(Debug, Clone)]
pub struct Block<'a> {
    /// Position of the block in its chunk, from 0 (named in errors).
    pub number: usize,
    /// Its header.
    pub header: BlockHeader,
    compression: Compression,
    body: BlockBody<'a>,
}

#[derive(Debug, Clone)]
enum BlockBody<'a> {
    /// The whole block is one compressed run of entries.
    V1 {
        checked: &'a [u8],
        compressed: &'a [u8],
        crc: u32,
    },
    /// Separate times and lines sections; `lines` is `None` when only the block index
    /// was read.
    V2 {
        checked: &'a [u8],
        times: &'a [u8],
        times_raw_bytes: usize,
        times_crc: u32,
        lines: Option<&'a [u8]>,
        lines_crc: u32,
        has_metadata: bool,
    },
}

impl Block<'_> {
    fn error(&self, reason: impl std::fmt::Display) -> ChunkError {
        ChunkError(format!("block {}: {reason}", self.number))
    }

    /// Decodes the block: times and line lengths always, lines and metadata when
    /// `with_lines` (v1 blocks always decode everything). Checks the checksum of every
    /// section it decompresses.
    pub fn decode(&self, with_lines: bool) -> Result<DecodedBlock, ChunkError> {
        let entries = self.header.entries as usize;
        match self.body {
            BlockBody::V1 {
                checked,
                compressed,
                crc,
            } => {
                if checksum(&[checked, compressed]) != crc {
                    return Err(self.error("checksum mismatch"));
                }
                let raw = decompress(self.compression, compressed, self.header.raw_bytes as usize)
                    .map_err(|error| self.error(error))?;
                let mut reader = Reader::new(&raw);
                let mut decoded = Vec::with_capacity(entries.min(raw.len()));
                for _ in 0..entries {
                    decoded.push(reader.entry().map_err(|reason| self.error(reason))?);
                }
                DecodedBlock::from_entries(decoded).map_err(|reason| self.error(reason))
            }
            BlockBody::V2 {
                checked,
                times,
                times_raw_bytes,
                times_crc,
                lines,
                lines_crc,
                has_metadata,
            } => {
                if checksum(&[checked, times]) != times_crc {
                    return Err(self.error("checksum mismatch in the times section"));
                }
                let raw = decompress(self.compression, times, times_raw_bytes)
                    .map_err(|error| self.error(format!("times section: {error}")))?;
                let mut block =
                    decode_times(&raw, entries, self.header.min_time_unix_nanos, has_metadata)
                        .map_err(|reason| self.error(reason))?;
                if with_lines {
                    let lines = lines.ok_or_else(|| self.error("lines section not read"))?;
                    if checksum(&[lines]) != lines_crc {
                        return Err(self.error("checksum mismatch in the lines section"));
                    }
                    let raw = decompress(self.compression, lines, self.header.raw_bytes as usize)
                        .map_err(|error| self.error(format!("lines section: {error}")))?;
                    attach_lines(&mut block, raw).map_err(|reason| self.error(reason))?;
                }
                Ok(block)
            }
        }
    }
}

/// The format version of a chunk from its first bytes.
pub fn chunk_version(bytes: &[u8]) -> Result<u8, ChunkError> {
    if bytes.len() < 10 || &bytes[..8] != CHUNK_MAGIC {
        return Err(ChunkError(String::from("missing magic")));
    }
    match bytes[8] {
        1 | 2 => Ok(bytes[8]),
        other => Err(ChunkError(format!("unknown format version {other}"))),
    }
}

/// How many bytes from the start of a chunk hold its block index, given at least its
/// first [`CHUNK_PREFIX_BYTES`]: `None` for a v1 chunk (it has no index; read it
/// whole).
pub fn index_bytes(prefix: &[u8]) -> Result<Option<usize>, ChunkError> {
    if chunk_version(prefix)? == 1 {
        return Ok(None);
    }
    let length = prefix
        .get(10..14)
        .ok_or_else(|| ChunkError(String::from("truncated block index length")))?;
    let length = u32::from_le_bytes([length[0], length[1], length[2], length[3]]);
    Ok(Some(CHUNK_PREFIX_BYTES + length as usize))
}

/// The blocks of a whole chunk file (v1 or v2), in order.
pub fn read_blocks(bytes: &[u8]) -> Result<Vec<Block<'_>>, ChunkError> {
    parse_blocks(bytes, true)
}

/// The blocks of a v2 chunk from its first [`index_bytes`] bytes (or more): their
/// lines sections are not available ([`Block::decode`] with lines fails).
pub fn read_block_index(prefix: &[u8]) -> Result<Vec<Block<'_>>, ChunkError> {
    parse_blocks(prefix, false)
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn i64_at(bytes: &[u8], at: usize) -> i64 {
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&bytes[at..at + 8]);
    i64::from_le_bytes(raw)
}

fn parse_blocks(bytes: &[u8], whole: bool) -> Result<Vec<Block<'_>>, ChunkError> {
    let version = chunk_version(bytes)?;
    let compression = Compression::from_code(bytes[9])
        .ok_or_else(|| ChunkError(format!("unknown compression {}", bytes[9])))?;
    let mut blocks = Vec::new();
    if version == 1 {
        let mut position = 10;
        while position < bytes.len() {
            let number = blocks.len();
            let header = bytes
                .get(position..position + V1_BLOCK_HEADER_BYTES)
                .ok_or_else(|| ChunkError(format!("block {number}: truncated header")))?;
            let compressed_length = u32_at(header, 24) as usize;
            let body_start = position + V1_BLOCK_HEADER_BYTES;
            let compressed = bytes
                .get(body_start..body_start + compressed_length)
                .ok_or_else(|| ChunkError(format!("block {number}: truncated body")))?;
            blocks.push(Block {
                number,
                header: BlockHeader {
                    entries: u32_at(header, 0),
                    min_time_unix_nanos: i64_at(header, 4),
                    max_time_unix_nanos: i64_at(header, 12),
                    raw_bytes: u32_at(header, 20),
                },
                compression,
                body: BlockBody::V1 {
                    checked: &header[..V1_BLOCK_HEADER_BYTES - 4],
                    compressed,
                    crc: u32_at(header, 28),
                },
            });
            position = body_start + compressed_length;
        }
        return Ok(blocks);
    }
    let index_end = index_bytes(bytes)?.unwrap_or(CHUNK_PREFIX_BYTES);
    let index = bytes
        .get(CHUNK_PREFIX_BYTES..index_end)
        .ok_or_else(|| ChunkError(String::from("truncated block index")))?;
    let mut position = 0;
    let mut lines_position = index_end;
    while position < index.len() {
        let number = blocks.len();
        let header = index
            .get(position..position + V2_BLOCK_HEADER_BYTES)
            .ok_or_else(|| ChunkError(format!("block {number}: truncated header")))?;
        let times_stored = u32_at(header, 25) as usize;
        let lines_stored = u32_at(header, 33) as usize;
        let times_start = position + V2_BLOCK_HEADER_BYTES;
        let times = index
            .get(times_start..times_start + times_stored)
            .ok_or_else(|| ChunkError(format!("block {number}: truncated times section")))?;
        let lines_end = lines_position + lines_stored;
        let lines =
            if whole {
                Some(bytes.get(lines_position..lines_end).ok_or_else(|| {
                    ChunkError(format!("block {number}: truncated lines section"))
                })?)
            } else {
                None
            };
        let flags = header[20];
        blocks.push(Block {
            number,
            header: BlockHeader {
                entries: u32_at(header, 0),
                min_time_unix_nanos: i64_at(header, 4),
                max_time_unix_nanos: i64_at(header, 12),
                raw_bytes: u32_at(header, 29),
            },
            compression,
            body: BlockBody::V2 {
                checked: &header[..V2_BLOCK_HEADER_BYTES - 8],
                times,
                times_raw_bytes: u32_at(header, 21) as usize,
                times_crc: u32_at(header, 37),
                lines,
                lines_crc: u32_at(header, 41),
                has_metadata: flags & FLAG_METADATA != 0,
            },
        });
        position = times_start + times_stored;
        lines_position = lines_end;
    }
    if whole && lines_position != bytes.len() {
        return Err(ChunkError(String::from(
            "bytes after the last lines section",
        )));
    }
    Ok(blocks)
}

/// Decodes the blocks of a chunk whose time range meets `[start, end)` (Unix
/// nanoseconds), calling `visit` with each block's entries until it returns false.
/// Checksums are checked for every block decoded; blocks outside the range are skipped
/// without decompression.
pub fn decode_chunk(
    bytes: &[u8],
    start_unix_nanos: i64,
    end_unix_nanos: i64,
    mut visit: impl FnMut(BlockHeader, Vec<Entry>) -> bool,
) -> Result<(), ChunkError> {
    for block in read_blocks(bytes)? {
        if !block.header.overlaps(start_unix_nanos, end_unix_nanos) {
            continue;
        }
        let entries = block
            .decode(true)?
            .into_entries()
            .ok_or_else(|| block.error("lines not decoded"))?;
        if !visit(block.header, entries) {
            break;
        }
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

    /// A v1 chunk as weft wrote it before v2 (test-only writer, from the v1 spec).
    fn encode_v1(entries: &[Entry], block_bytes: usize) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(CHUNK_MAGIC);
        out.push(1);
        out.push(Compression::Zstd.code());
        for block in entries.chunks(block_bytes / 40 + 1) {
            let mut raw = Vec::new();
            for entry in block {
                crate::encoding::put_entry(&mut raw, entry);
            }
            let compressed = zstd::bulk::compress(&raw, 3).expect("zstd");
            let header_start = out.len();
            out.extend_from_slice(&(block.len() as u32).to_le_bytes());
            out.extend_from_slice(&block[0].timestamp_unix_nanos.to_le_bytes());
            out.extend_from_slice(&block[block.len() - 1].timestamp_unix_nanos.to_le_bytes());
            out.extend_from_slice(&(raw.len() as u32).to_le_bytes());
            out.extend_from_slice(&(compressed.len() as u32).to_le_bytes());
            let crc = checksum(&[&out[header_start..], &compressed]);
            out.extend_from_slice(&crc.to_le_bytes());
            out.extend_from_slice(&compressed);
        }
        out
    }

    #[test]
    fn v1_chunks_are_still_read() {
        let written = entries(1000);
        let bytes = encode_v1(&written, 4096);
        assert_eq!(chunk_version(&bytes).expect("version"), 1);
        assert_eq!(index_bytes(&bytes).expect("prefix"), None);
        assert_eq!(decode_all(&bytes).expect("decode v1"), written);
        let mut damaged = bytes.clone();
        let middle = damaged.len() / 2;
        damaged[middle] ^= 0x01;
        assert!(decode_all(&damaged).is_err());
    }

    #[test]
    fn the_block_index_alone_gives_times_and_lengths() {
        let mut written = entries(1000);
        written[10].timestamp_unix_nanos = written[9].timestamp_unix_nanos;
        written[10].line = written[9].line.clone();
        let bytes = encode_chunk(&written, 4096, Compression::Zstd).expect("encode");
        let index_end = index_bytes(&bytes).expect("prefix").expect("v2");
        assert!(
            index_end < bytes.len() / 4,
            "{index_end} of {}",
            bytes.len()
        );
        let blocks = read_block_index(&bytes[..index_end]).expect("index");
        let mut times = Vec::new();
        let mut lengths = Vec::new();
        let mut repeats = Vec::new();
        for block in &blocks {
            let decoded = block.decode(false).expect("times");
            assert_eq!(decoded.line(0), None);
            times.extend(decoded.timestamps_unix_nanos);
            lengths.extend(decoded.line_lengths);
            repeats.extend(decoded.repeats);
            assert!(block.decode(true).is_err(), "lines were not read");
        }
        let expected: Vec<i64> = written
            .iter()
            .map(|entry| entry.timestamp_unix_nanos)
            .collect();
        assert_eq!(times, expected);
        let expected: Vec<u32> = written
            .iter()
            .map(|entry| entry.line.len() as u32)
            .collect();
        assert_eq!(lengths, expected);
        assert_eq!(repeats.iter().filter(|&&repeat| repeat).count(), 1);
        assert!(repeats[10]);
        assert!(read_block_index(&bytes[..index_end - 1]).is_err());
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
