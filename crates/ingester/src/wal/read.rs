//! Reading a segment back, and finding the records after a damaged stretch.
//!
//! A damaged record does not end the segment: the reader scans forward byte by byte for
//! the next offset where a whole record checks (plausible header, the payload starts
//! with a valid tenant id, the checksum holds) and carries on from there. Every byte
//! between is reported as skipped, so replay can say how much was lost and keep the
//! segment aside.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use weft_model::{Span, TenantId};
use weft_storage::StorageError;

use super::{MAX_RECORD_PAYLOAD_BYTES, RECORD_HEADER_BYTES, RECORD_VERSION, SEGMENT_MAGIC};

/// A stretch of a segment that was not replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DamagedRegion {
    /// Byte offset in the segment where the damage starts.
    pub offset: u64,
    /// Bytes skipped, from `offset` to the next intact record or the end of the file.
    pub bytes: u64,
    /// What was wrong with the first record of the stretch.
    pub reason: String,
}

/// What reading one segment found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SegmentReport {
    /// Records decoded and handed to the callback.
    pub records: u64,
    /// Records not replayed: one for each damaged region (a region may have held more,
    /// which cannot be told), plus intact records of an unknown version or whose payload
    /// does not decode.
    pub skipped_records: u64,
    /// Bytes not replayed: the damaged regions and the skipped intact records.
    pub skipped_bytes: u64,
    /// The damaged regions in file order.
    pub damaged: Vec<DamagedRegion>,
}

impl SegmentReport {
    /// True when the last damaged region runs to the end of the file: the shape a write
    /// torn by a crash leaves in the segment that was being written.
    pub fn ends_in_damage(&self, file_bytes: u64) -> bool {
        self.damaged
            .last()
            .is_some_and(|region| region.offset + region.bytes == file_bytes)
    }
}

/// Reads every intact record of the segment at `path` in order and calls `on_record`
/// with its tenant and spans. Damage (a bad magic, a torn or checksum-failing record,
/// an implausible length) is skipped up to the next intact record and reported, never an
/// error; a record whose checksum holds but whose payload does not decode is skipped and
/// counted. Only I/O errors other than a short read are errors.
pub fn read_segment(
    path: &Path,
    mut on_record: impl FnMut(TenantId, Vec<Span>),
) -> Result<SegmentReport, StorageError> {
    let io = |error| StorageError::io("read", path)(error);
    let file = File::open(path).map_err(StorageError::io("open", path))?;
    let file_bytes = file.metadata().map_err(io)?.len();
    let mut reader = SegmentReader {
        reader: BufReader::with_capacity(1 << 20, file),
        position: 0,
        file_bytes,
        payload: Vec::new(),
    };
    let mut report = SegmentReport::default();
    if file_bytes < SEGMENT_MAGIC.len() as u64 {
        // Created but torn before its magic was complete: nothing was acknowledged.
        return Ok(report);
    }
    let mut magic = [0u8; 8];
    reader.read_exact_at(0, &mut magic).map_err(io)?;
    let mut offset = SEGMENT_MAGIC.len() as u64;
    if &magic != SEGMENT_MAGIC {
        let next = reader.find_next_record(offset).map_err(io)?;
        report.skip_damage(
            0,
            next.unwrap_or(file_bytes),
            "segment does not start with WEFTWAL0",
        );
        match next {
            Some(next) => offset = next,
            None => return Ok(report),
        }
    }
    loop {
        match reader.record_at(offset).map_err(io)? {
            Probe::End => return Ok(report),
            Probe::Intact { version } => {
                let record_bytes = (RECORD_HEADER_BYTES + reader.payload.len()) as u64;
                let what = format!("wal segment {} record at byte {offset}", path.display());
                if version != RECORD_VERSION {
                    tracing::error!(what, version, "skipping a wal record of an unknown version");
                    report.skip_record(record_bytes);
                } else {
                    match super::decode_payload(&reader.payload, &what) {
                        Ok((tenant, spans)) => {
                            report.records += 1;
                            on_record(tenant, spans);
                        }
                        Err(error) => {
                            tracing::error!(%error, "skipping a wal record that does not decode");
                            report.skip_record(record_bytes);
                        }
                    }
                }
                offset += record_bytes;
            }
            Probe::Damaged(reason) => {
                let next = reader.find_next_record(offset + 1).map_err(io)?;
                let reason = format!("record at byte {offset}: {reason}");
                report.skip_damage(offset, next.unwrap_or(file_bytes), reason);
                match next {
                    Some(next) => offset = next,
                    None => return Ok(report),
                }
            }
        }
    }
}

impl SegmentReport {
    fn skip_damage(&mut self, offset: u64, end: u64, reason: impl Into<String>) {
        let bytes = end - offset;
        self.skipped_records += 1;
        self.skipped_bytes += bytes;
        self.damaged.push(DamagedRegion {
            offset,
            bytes,
            reason: reason.into(),
        });
    }

    fn skip_record(&mut self, bytes: u64) {
        self.skipped_records += 1;
        self.skipped_bytes += bytes;
    }
}

/// What is at an offset.
enum Probe {
    /// The end of the file, exactly.
    End,
    /// A record whose checksum holds; its payload is in `SegmentReader::payload`.
    Intact { version: u8 },
    /// Anything else, and why.
    Damaged(&'static str),
}

/// Positioned reads over one segment file.
struct SegmentReader {
    reader: BufReader<File>,
    /// Where `reader` stands; `u64::MAX` after a failed read.
    position: u64,
    file_bytes: u64,
    /// The payload of the last record probed as intact.
    payload: Vec<u8>,
}

/// Bytes a header scan looks at from a candidate offset: the header, then the tenant id
/// at the start of the payload (a varint length of at most two bytes and the id).
const CANDIDATE_BYTES: usize = RECORD_HEADER_BYTES + 2 + TenantId::MAX_LENGTH;

/// How much of the file one step of the forward scan reads.
const SCAN_WINDOW_BYTES: usize = 1 << 20;

impl SegmentReader {
    /// Reads `buffer.len()` bytes at `offset`; seeks (dropping the read buffer) only
    /// when `offset` is not where the last read ended.
    fn read_exact_at(&mut self, offset: u64, buffer: &mut [u8]) -> std::io::Result<()> {
        if offset != self.position {
            self.position = u64::MAX;
            self.reader.seek(SeekFrom::Start(offset))?;
        }
        self.position = u64::MAX;
        self.reader.read_exact(buffer)?;
        self.position = offset + buffer.len() as u64;
        Ok(())
    }

    /// Reads what is at `offset`, leaving the payload of an intact record in
    /// `self.payload`.
    fn record_at(&mut self, offset: u64) -> std::io::Result<Probe> {
        let remaining = self.file_bytes.saturating_sub(offset);
        if remaining == 0 {
            return Ok(Probe::End);
        }
        if remaining < RECORD_HEADER_BYTES as u64 {
            return Ok(Probe::Damaged("truncated header"));
        }
        let mut header = [0u8; RECORD_HEADER_BYTES];
        self.read_exact_at(offset, &mut header)?;
        let length = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if length > MAX_RECORD_PAYLOAD_BYTES {
            return Ok(Probe::Damaged("implausible length"));
        }
        if u64::from(length) > remaining - RECORD_HEADER_BYTES as u64 {
            return Ok(Probe::Damaged("truncated payload"));
        }
        let mut payload = std::mem::take(&mut self.payload);
        payload.clear();
        payload.resize(length as usize, 0);
        let read = self.read_exact_at(offset + RECORD_HEADER_BYTES as u64, &mut payload);
        self.payload = payload;
        read?;
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&header[8..9]);
        hasher.update(&self.payload);
        if hasher.finalize() != crc {
            return Ok(Probe::Damaged("checksum mismatch"));
        }
        Ok(Probe::Intact { version: header[8] })
    }

    /// The first offset at or after `from` where an intact record of this build's
    /// version starts, or `None` when there is none before the end of the file. Offsets
    /// are filtered on the header and the tenant id before the checksum is computed, so
    /// a scan over random bytes costs about one pass over them.
    fn find_next_record(&mut self, from: u64) -> std::io::Result<Option<u64>> {
        let mut window = Vec::new();
        let mut window_start = from;
        while window_start + (RECORD_HEADER_BYTES as u64) < self.file_bytes {
            let wanted = (SCAN_WINDOW_BYTES + CANDIDATE_BYTES) as u64;
            let length = wanted.min(self.file_bytes - window_start) as usize;
            window.resize(length, 0);
            self.read_exact_at(window_start, &mut window)?;
            let candidates = length.min(SCAN_WINDOW_BYTES);
            for index in 0..candidates {
                let offset = window_start + index as u64;
                let remaining = self.file_bytes - offset;
                if plausible_record_start(&window[index..], remaining)
                    && matches!(
                        self.record_at(offset)?,
                        Probe::Intact {
                            version: RECORD_VERSION
                        }
                    )
                {
                    return Ok(Some(offset));
                }
            }
            window_start += candidates as u64;
        }
        Ok(None)
    }
}

/// True when `bytes` (from a candidate offset; `remaining` bytes of file from there)
/// could start a record: this build's version, a payload that fits in the file, and a
/// payload that starts with a postcard string of a valid tenant id's length and
/// characters (as far as `bytes` reaches).
fn plausible_record_start(bytes: &[u8], remaining: u64) -> bool {
    if bytes.len() < RECORD_HEADER_BYTES + 2 || bytes[8] != RECORD_VERSION {
        return false;
    }
    let length = u64::from(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]));
    if length == 0 || length > remaining - RECORD_HEADER_BYTES as u64 {
        return false;
    }
    let payload = &bytes[RECORD_HEADER_BYTES..];
    let (tenant_length, varint_bytes) = match payload[0] {
        low @ 0..=0x7f => (usize::from(low), 1),
        high => (usize::from(high & 0x7f) | (usize::from(payload[1]) << 7), 2),
    };
    if tenant_length == 0
        || tenant_length > TenantId::MAX_LENGTH
        || (varint_bytes + tenant_length) as u64 > length
    {
        return false;
    }
    let allowed = |byte: &u8| byte.is_ascii_alphanumeric() || b"!-_.*'()".contains(byte);
    let available = payload.len().min(varint_bytes + tenant_length);
    payload[varint_bytes..available].iter().all(allowed)
}
