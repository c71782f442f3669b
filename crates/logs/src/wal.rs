//! The logs write-ahead log.
//!
//! `<storage.path>/logs/wal/` holds segment files named by a 20-digit sequence number
//! (`00000000000000000003.wal`). A segment starts with the 8-byte magic `WEFTLWAL` and
//! continues with records framed as the trace WAL frames them:
//!
//! ```text
//! u32 LE  payload length in bytes
//! u32 LE  crc32 (IEEE) of the version byte and the payload
//! u8      record version (1)
//! [..]    payload: tenant (string), labels (pairs), entry count, entries
//! ```
//!
//! Strings, pairs and entries use [`crate::encoding`]. Each process start begins a new
//! segment, so a torn write can only be the tail of the last segment written; replay
//! stops reading a segment at its first bad record and keeps what came before.
//! A segment is deleted once every entry in it is in a durable chunk.
//!
//! Group commit: an append writes under the segment lock and takes a ticket (the count
//! of appends so far); under the `always` policy it then waits for an fsync that covers
//! its ticket. One fsync runs at a time and covers every append written before it
//! started, so concurrent pushes share fsyncs instead of queueing one each.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use weft_model::TenantId;

use crate::config::WalFsyncPolicy;
use crate::encoding::{Reader, put_entry, put_pairs, put_str, put_uvarint};
use crate::{Entry, LabelSet};

/// First bytes of every segment.
pub const SEGMENT_MAGIC: &[u8; 8] = b"WEFTLWAL";
/// Bytes of a record header: length, crc32, version.
pub const RECORD_HEADER_BYTES: usize = 9;
/// The record version written and read.
pub const RECORD_VERSION: u8 = 1;
/// Larger payload lengths are treated as corruption.
pub const MAX_RECORD_PAYLOAD_BYTES: u32 = 1 << 30;

/// One decoded record: entries of one stream.
#[derive(Debug, Clone, PartialEq)]
pub struct WalRecord {
    /// The tenant.
    pub tenant: TenantId,
    /// The stream's labels.
    pub labels: LabelSet,
    /// The entries, in the order they were accepted.
    pub entries: Vec<Entry>,
}

/// Encodes a record (header and payload) ready to append.
pub fn encode_record(tenant: &TenantId, labels: &LabelSet, entries: &[Entry]) -> Vec<u8> {
    let mut bytes = vec![0u8; RECORD_HEADER_BYTES];
    put_str(&mut bytes, tenant.as_str());
    put_pairs(&mut bytes, labels.pairs());
    put_uvarint(&mut bytes, entries.len() as u64);
    for entry in entries {
        put_entry(&mut bytes, entry);
    }
    let length = (bytes.len() - RECORD_HEADER_BYTES) as u32;
    bytes[8] = RECORD_VERSION;
    let crc = crc32fast::hash(&bytes[8..]);
    bytes[..4].copy_from_slice(&length.to_le_bytes());
    bytes[4..8].copy_from_slice(&crc.to_le_bytes());
    bytes
}

fn decode_payload(payload: &[u8]) -> Result<WalRecord, String> {
    let mut reader = Reader::new(payload);
    let tenant = reader.string()?;
    let tenant = TenantId::parse(&tenant).map_err(|error| format!("bad tenant: {error}"))?;
    let labels = reader.labels()?;
    let count = reader.count()?;
    let mut entries = Vec::with_capacity(count);
    for _ in 0..count {
        entries.push(reader.entry()?);
    }
    Ok(WalRecord {
        tenant,
        labels,
        entries,
    })
}

/// What reading a segment found: its intact records and, if it ended early, why.
#[derive(Debug, Default)]
pub struct SegmentContents {
    /// Records up to the first damaged one.
    pub records: Vec<WalRecord>,
    /// Why reading stopped before the end, with the byte offset.
    pub damage: Option<(u64, String)>,
}

/// Reads one segment file.
pub fn read_segment(path: &Path) -> std::io::Result<SegmentContents> {
    let bytes = std::fs::read(path)?;
    let mut contents = SegmentContents::default();
    if bytes.len() < SEGMENT_MAGIC.len() || &bytes[..SEGMENT_MAGIC.len()] != SEGMENT_MAGIC {
        contents.damage = Some((0, String::from("missing segment magic")));
        return Ok(contents);
    }
    let mut position = SEGMENT_MAGIC.len();
    while position < bytes.len() {
        let Some(header) = bytes.get(position..position + RECORD_HEADER_BYTES) else {
            contents.damage = Some((position as u64, String::from("torn record header")));
            break;
        };
        let length = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let end = position + RECORD_HEADER_BYTES + length as usize;
        if length > MAX_RECORD_PAYLOAD_BYTES || end > bytes.len() {
            contents.damage = Some((position as u64, String::from("torn record")));
            break;
        }
        let checked = &bytes[position + 8..end];
        if crc32fast::hash(checked) != crc {
            contents.damage = Some((position as u64, String::from("checksum mismatch")));
            break;
        }
        if checked[0] != RECORD_VERSION {
            contents.damage = Some((
                position as u64,
                format!("unknown record version {}", checked[0]),
            ));
            break;
        }
        match decode_payload(&checked[1..]) {
            Ok(record) => contents.records.push(record),
            Err(reason) => {
                contents.damage = Some((position as u64, reason));
                break;
            }
        }
        position = end;
    }
    Ok(contents)
}

/// The file name of segment `sequence`.
pub fn segment_file_name(sequence: u64) -> String {
    format!("{sequence:020}.wal")
}

/// The segments in `directory`, sorted by sequence number.
pub fn list_segments(directory: &Path) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let mut segments = Vec::new();
    for entry in std::fs::read_dir(directory)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(digits) = name.to_str().and_then(|name| name.strip_suffix(".wal")) else {
            continue;
        };
        if digits.len() == 20
            && let Ok(sequence) = digits.parse::<u64>()
        {
            segments.push((sequence, entry.path()));
        }
    }
    segments.sort();
    Ok(segments)
}

fn sync_directory(path: &Path) -> std::io::Result<()> {
    File::open(path)?.sync_all()
}

struct Segment {
    sequence: u64,
    /// Shared so an fsync can run without holding the segment lock.
    file: Arc<File>,
    bytes: u64,
    /// Appends ever written (across segments): the ticket of the latest append.
    appended: u64,
}

/// The WAL writer: appends are serialised by a mutex and run on a blocking thread.
/// Cheap to clone.
#[derive(Clone)]
pub struct LogWal {
    directory: PathBuf,
    policy: WalFsyncPolicy,
    segment_bytes: u64,
    current: Arc<Mutex<Segment>>,
    /// The highest ticket known to be fsynced; held during an fsync so that appends
    /// waiting for one find their ticket covered when they get it.
    synced: Arc<Mutex<u64>>,
}

impl std::fmt::Debug for LogWal {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("LogWal")
            .field("directory", &self.directory)
            .finish()
    }
}

fn create_segment(directory: &Path, sequence: u64, appended: u64) -> std::io::Result<Segment> {
    let path = directory.join(segment_file_name(sequence));
    let mut file = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(&path)?;
    file.write_all(SEGMENT_MAGIC)?;
    file.sync_all()?;
    sync_directory(directory)?;
    Ok(Segment {
        sequence,
        file: Arc::new(file),
        bytes: SEGMENT_MAGIC.len() as u64,
        appended,
    })
}

impl LogWal {
    /// Starts writing segment `first_segment` in `directory` (created if missing).
    pub fn open(
        directory: PathBuf,
        first_segment: u64,
        policy: WalFsyncPolicy,
        segment_bytes: u64,
    ) -> std::io::Result<LogWal> {
        std::fs::create_dir_all(&directory)?;
        let segment = create_segment(&directory, first_segment, 0)?;
        Ok(LogWal {
            directory,
            policy,
            segment_bytes,
            current: Arc::new(Mutex::new(segment)),
            synced: Arc::new(Mutex::new(0)),
        })
    }

    /// Appends encoded records in one write; returns once they are written (and
    /// fsynced under the `always` policy), with the segment they went to. The segment
    /// is rotated afterwards when it is past its size.
    pub async fn append(&self, records: Vec<u8>) -> std::io::Result<u64> {
        let wal = self.clone();
        tokio::task::spawn_blocking(move || wal.append_blocking(&records))
            .await
            .map_err(std::io::Error::other)?
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Segment> {
        // A panic while holding the lock leaves the segment as the last write left it;
        // the next write appends after whatever reached the file.
        self.current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn append_blocking(&self, records: &[u8]) -> std::io::Result<u64> {
        let (ticket, written_to) = {
            let mut segment = self.lock();
            (&*segment.file).write_all(records)?;
            segment.bytes += records.len() as u64;
            segment.appended += 1;
            let written = (segment.appended, segment.sequence);
            if segment.bytes >= self.segment_bytes {
                // Syncing the full segment here makes every append in it durable, so a
                // waiter whose fsync lands on the next segment is still covered.
                segment.file.sync_data()?;
                *segment = create_segment(&self.directory, segment.sequence + 1, segment.appended)?;
            }
            written
        };
        if self.policy == WalFsyncPolicy::Always {
            self.sync_through(ticket)?;
        }
        Ok(written_to)
    }

    /// Returns once append `ticket` is fsynced: at once when an fsync already covered
    /// it, else after one that covers every append written so far.
    fn sync_through(&self, ticket: u64) -> std::io::Result<()> {
        let mut synced = self
            .synced
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *synced >= ticket {
            return Ok(());
        }
        let (file, target) = {
            let segment = self.lock();
            (Arc::clone(&segment.file), segment.appended)
        };
        file.sync_data()?;
        *synced = (*synced).max(target);
        Ok(())
    }

    /// Fsyncs the current segment if something was written since the last fsync (the
    /// `interval` policy's background task).
    pub async fn sync(&self) -> std::io::Result<()> {
        let wal = self.clone();
        tokio::task::spawn_blocking(move || {
            let ticket = wal.lock().appended;
            wal.sync_through(ticket)
        })
        .await
        .map_err(std::io::Error::other)?
    }

    /// Closes the current segment and starts the next; returns the closed one.
    pub async fn rotate(&self) -> std::io::Result<u64> {
        let wal = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut segment = wal.lock();
            segment.file.sync_data()?;
            let closed = segment.sequence;
            *segment = create_segment(&wal.directory, closed + 1, segment.appended)?;
            Ok(closed)
        })
        .await
        .map_err(std::io::Error::other)?
    }

    /// Deletes every segment with a sequence below `sequence` (never the current one).
    pub fn delete_before(&self, sequence: u64) -> std::io::Result<usize> {
        let current = self.lock().sequence;
        let mut deleted = 0;
        for (found, path) in list_segments(&self.directory)? {
            if found < sequence && found != current {
                std::fs::remove_file(&path)?;
                deleted += 1;
            }
        }
        if deleted > 0 {
            sync_directory(&self.directory)?;
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(timestamp: i64, line: &str) -> Entry {
        Entry {
            timestamp_unix_nanos: timestamp,
            line: line.to_owned(),
            structured_metadata: Vec::new(),
        }
    }

    #[tokio::test]
    async fn records_replay_and_a_torn_tail_keeps_what_came_before() {
        let directory = tempfile::tempdir().expect("tempdir");
        let wal_directory = directory.path().join("wal");
        let wal =
            LogWal::open(wal_directory.clone(), 7, WalFsyncPolicy::Always, 1 << 20).expect("open");
        let tenant = TenantId::parse("t1").expect("tenant");
        let labels = LabelSet::parse(r#"{job="a"}"#).expect("labels");
        let first = encode_record(&tenant, &labels, &[entry(1, "one"), entry(2, "two")]);
        let second = encode_record(&tenant, &labels, &[entry(3, "three")]);
        assert_eq!(wal.append(first).await.expect("append"), 7);
        assert_eq!(wal.append(second.clone()).await.expect("append"), 7);
        let segments = list_segments(&wal_directory).expect("list");
        assert_eq!(segments.len(), 1);
        let contents = read_segment(&segments[0].1).expect("read");
        assert!(contents.damage.is_none());
        assert_eq!(contents.records.len(), 2);
        assert_eq!(contents.records[0].entries[1], entry(2, "two"));

        // A flipped bit in the last record: the first record still replays.
        let mut bytes = std::fs::read(&segments[0].1).expect("read");
        let last = bytes.len() - 2;
        bytes[last] ^= 0x40;
        std::fs::write(&segments[0].1, &bytes).expect("write");
        let contents = read_segment(&segments[0].1).expect("read");
        assert_eq!(contents.records.len(), 1);
        assert!(contents.damage.expect("damage").1.contains("checksum"));
        // A torn tail likewise.
        bytes.truncate(bytes.len() - second.len() + 3);
        std::fs::write(&segments[0].1, &bytes).expect("write");
        let contents = read_segment(&segments[0].1).expect("read");
        assert_eq!(contents.records.len(), 1);

        assert_eq!(wal.rotate().await.expect("rotate"), 7);
        // Concurrent appends all land and each is acknowledged after an fsync.
        let appends: Vec<_> = (0..32)
            .map(|index| {
                let wal = wal.clone();
                let record = encode_record(&tenant, &labels, &[entry(index, "many")]);
                tokio::spawn(async move { wal.append(record).await })
            })
            .collect();
        for append in appends {
            assert_eq!(append.await.expect("join").expect("append"), 8);
        }
        assert!(*wal.synced.lock().expect("lock") >= 32 + 2);
        let contents = read_segment(&wal_directory.join(segment_file_name(8))).expect("read");
        assert_eq!(contents.records.len(), 32);
        assert_eq!(wal.rotate().await.expect("rotate"), 8);
        assert_eq!(wal.delete_before(9).expect("delete"), 2);
        assert_eq!(
            list_segments(&wal_directory).expect("list"),
            vec![(9, wal_directory.join(segment_file_name(9)))]
        );
    }
}
