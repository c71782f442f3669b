//! The group-commit WAL writer.
//!
//! One task owns the current segment. Pushers encode their record themselves and send
//! it with a oneshot over a bounded channel; the task takes everything queued, writes
//! it with as few write calls as possible, fsyncs once (policy `always`) and then
//! acknowledges every record of the group. Blocking file calls run in `spawn_blocking`
//! so the async runtime's workers never wait on the disk.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::sync_directory;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use weft_storage::StorageError;

use super::{Record, SEGMENT_MAGIC, segment_file_name};
use crate::config::WalFsyncPolicy;
use crate::error::IngesterError;

/// Most records waiting for the writer; a full queue makes pushers wait (back-pressure).
const QUEUE_CAPACITY: usize = 1024;
/// Most commands the writer takes into one group.
const MAX_GROUP_COMMANDS: usize = 1024;
/// Records smaller than this are copied into one buffer and written together.
const COALESCE_BYTES: usize = 256 * 1024;

/// Why an append was not acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WalAppendError {
    /// The queue stayed full for the whole timeout.
    #[error("wal queue is full")]
    QueueFull,
    /// The writer has stopped (shutdown).
    #[error("wal writer has stopped")]
    Stopped,
    /// Writing or fsyncing failed; the record may or may not be on disk.
    #[error("wal write failed: {0}")]
    Failed(String),
}

/// Where writes go after a rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// The segment that was closed; no record is written to it any more.
    pub closed_segment: u64,
    /// The segment that receives writes from now on.
    pub current_segment: u64,
}

enum Command {
    Append {
        record: Record,
        done: oneshot::Sender<Result<u64, String>>,
    },
    Rotate {
        done: oneshot::Sender<Result<Rotation, String>>,
    },
    Stop {
        done: oneshot::Sender<()>,
    },
}

/// Handle to the WAL writer task. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Wal {
    sender: mpsc::Sender<Command>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// The open segment plus a reusable write buffer; moved into blocking tasks and back.
struct Segment {
    directory: PathBuf,
    sequence: u64,
    file: File,
    /// Bytes known to be written completely (header and whole records).
    length: u64,
    scratch: Vec<u8>,
}

impl Wal {
    /// Creates segment `first_segment` in `directory` (which must exist and must not
    /// have that segment yet) and starts the writer task.
    pub async fn start(
        directory: PathBuf,
        first_segment: u64,
        policy: WalFsyncPolicy,
        fsync_interval: Duration,
    ) -> Result<Wal, IngesterError> {
        let segment =
            tokio::task::spawn_blocking(move || Segment::create(directory, first_segment))
                .await??;
        let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let task = tokio::spawn(run(receiver, segment, policy, fsync_interval));
        Ok(Wal {
            sender,
            task: Mutex::new(Some(task)),
        })
    }

    /// Appends an encoded record (see [`super::encode_record`]) and waits until it is
    /// written (and fsynced under the `always` policy). Waits at most `queue_timeout`
    /// for room in the queue. Returns the segment the record went to.
    pub async fn append(
        &self,
        record: Record,
        queue_timeout: Duration,
    ) -> Result<u64, WalAppendError> {
        let permit = match tokio::time::timeout(queue_timeout, self.sender.reserve()).await {
            Err(_) => return Err(WalAppendError::QueueFull),
            Ok(Err(_)) => return Err(WalAppendError::Stopped),
            Ok(Ok(permit)) => permit,
        };
        let (done, acknowledged) = oneshot::channel();
        permit.send(Command::Append { record, done });
        match acknowledged.await {
            Ok(Ok(segment)) => Ok(segment),
            Ok(Err(message)) => Err(WalAppendError::Failed(message)),
            Err(_) => Err(WalAppendError::Stopped),
        }
    }

    /// Closes the current segment and starts the next one. Records appended before the
    /// call are in the closed segment or earlier ones; records appended after are not.
    pub async fn rotate(&self) -> Result<Rotation, IngesterError> {
        let (done, rotated) = oneshot::channel();
        self.sender
            .send(Command::Rotate { done })
            .await
            .map_err(|_| IngesterError::Wal(String::from("the writer has stopped")))?;
        match rotated.await {
            Ok(Ok(rotation)) => Ok(rotation),
            Ok(Err(message)) => Err(IngesterError::Wal(message)),
            Err(_) => Err(IngesterError::Wal(String::from("the writer has stopped"))),
        }
    }

    /// Writes what is queued, fsyncs, closes the segment and ends the task. Appends
    /// after this fail with [`WalAppendError::Stopped`]. Calling it twice is harmless.
    pub async fn stop(&self) {
        let (done, stopped) = oneshot::channel();
        if self.sender.send(Command::Stop { done }).await.is_ok() {
            let _ = stopped.await;
        }
        let task = self.task.lock().ok().and_then(|mut task| task.take());
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

async fn run(
    mut receiver: mpsc::Receiver<Command>,
    segment: Segment,
    policy: WalFsyncPolicy,
    fsync_interval: Duration,
) {
    let mut segment = Some(segment);
    let mut commands = Vec::with_capacity(MAX_GROUP_COMMANDS);
    let mut next_sync: Option<tokio::time::Instant> = None;
    loop {
        let received = tokio::select! {
            received = receiver.recv_many(&mut commands, MAX_GROUP_COMMANDS) => received,
            _ = sleep_until(next_sync), if next_sync.is_some() => {
                next_sync = None;
                segment = sync(segment).await;
                continue;
            }
        };
        if received == 0 {
            // Every handle is gone (the ingester was dropped without shutdown).
            let _ = sync(segment).await;
            return;
        }
        let mut records = Vec::new();
        let mut waiters = Vec::new();
        for command in commands.drain(..) {
            match command {
                Command::Append { record, done } => {
                    records.push(record);
                    waiters.push(done);
                }
                Command::Rotate { done } => {
                    segment = write_group(segment, &mut records, &mut waiters, policy).await;
                    let (rotated, result) = rotate(segment).await;
                    segment = rotated;
                    next_sync = None;
                    let _ = done.send(result);
                }
                Command::Stop { done } => {
                    segment = write_group(segment, &mut records, &mut waiters, policy).await;
                    let _ = sync(segment).await;
                    let _ = done.send(());
                    return;
                }
            }
        }
        segment = write_group(segment, &mut records, &mut waiters, policy).await;
        if policy == WalFsyncPolicy::Interval && next_sync.is_none() && segment.is_some() {
            next_sync = Some(tokio::time::Instant::now() + fsync_interval);
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Writes `records`, fsyncs under `always`, and answers every waiter. On failure the
/// segment is truncated to its last good length and replaced by a fresh one, so that a
/// half-written record never sits in front of later acknowledged ones; if that fails
/// too the WAL is broken and every later append fails.
async fn write_group(
    segment: Option<Segment>,
    records: &mut Vec<Record>,
    waiters: &mut Vec<oneshot::Sender<Result<u64, String>>>,
    policy: WalFsyncPolicy,
) -> Option<Segment> {
    if records.is_empty() {
        return segment;
    }
    let Some(segment) = segment else {
        for waiter in waiters.drain(..) {
            let _ = waiter.send(Err(String::from(
                "the wal is broken after an earlier write failure",
            )));
        }
        records.clear();
        return None;
    };
    let batch = std::mem::take(records);
    let record_count = batch.len();
    let outcome = tokio::task::spawn_blocking(move || {
        let mut segment = segment;
        let result = segment.write_records(&batch, policy == WalFsyncPolicy::Always);
        let recovered = match &result {
            Ok(_) => Ok(()),
            Err(_) => segment.recover(),
        };
        (segment, result, recovered)
    })
    .await;
    let (segment, result, recovered) = match outcome {
        Ok(outcome) => outcome,
        Err(join_error) => {
            for waiter in waiters.drain(..) {
                let _ = waiter.send(Err(format!("wal writer task failed: {join_error}")));
            }
            return None;
        }
    };
    match result {
        Ok((bytes, sync_seconds)) => {
            metrics::counter!("weft_wal_bytes_written_total").increment(bytes);
            metrics::histogram!("weft_wal_group_records").record(record_count as f64);
            if let Some(seconds) = sync_seconds {
                metrics::histogram!("weft_wal_sync_duration_seconds").record(seconds);
            }
            for waiter in waiters.drain(..) {
                let _ = waiter.send(Ok(segment.sequence));
            }
            Some(segment)
        }
        Err(error) => {
            metrics::counter!("weft_wal_write_failures_total").increment(1);
            tracing::error!(%error, "wal write failed");
            let message = error.to_string();
            for waiter in waiters.drain(..) {
                let _ = waiter.send(Err(message.clone()));
            }
            match recovered {
                Ok(()) => Some(segment),
                Err(error) => {
                    tracing::error!(%error, "wal cannot recover; refusing further writes");
                    None
                }
            }
        }
    }
}

async fn sync(segment: Option<Segment>) -> Option<Segment> {
    let segment = segment?;
    let outcome = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let result = segment.file.sync_data();
        (segment, result, started.elapsed())
    })
    .await
    .ok()?;
    let (segment, result, elapsed) = outcome;
    match result {
        Ok(()) => {
            metrics::histogram!("weft_wal_sync_duration_seconds").record(elapsed.as_secs_f64())
        }
        Err(error) => tracing::error!(%error, segment = segment.sequence, "wal fsync failed"),
    }
    Some(segment)
}

async fn rotate(segment: Option<Segment>) -> (Option<Segment>, Result<Rotation, String>) {
    let Some(segment) = segment else {
        return (
            None,
            Err(String::from(
                "the wal is broken after an earlier write failure",
            )),
        );
    };
    let outcome = tokio::task::spawn_blocking(move || {
        let next = Segment::create(segment.directory.clone(), segment.sequence + 1);
        match next {
            Ok(next) => {
                // The old segment is fsynced before it is closed, whatever the policy.
                if let Err(error) = segment.file.sync_data() {
                    tracing::warn!(%error, segment = segment.sequence, "fsync of the closed wal segment failed");
                }
                let rotation = Rotation {
                    closed_segment: segment.sequence,
                    current_segment: next.sequence,
                };
                (next, Ok(rotation))
            }
            Err(error) => (segment, Err(error.to_string())),
        }
    })
    .await;
    match outcome {
        Ok((segment, result)) => (Some(segment), result),
        Err(join_error) => (None, Err(format!("wal writer task failed: {join_error}"))),
    }
}

impl Segment {
    /// Creates segment `sequence` with its magic, fsyncs it and the directory.
    fn create(directory: PathBuf, sequence: u64) -> Result<Segment, StorageError> {
        let path = directory.join(segment_file_name(sequence));
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(StorageError::io("create", &path))?;
        file.write_all(SEGMENT_MAGIC)
            .map_err(StorageError::io("write", &path))?;
        file.sync_all().map_err(StorageError::io("fsync", &path))?;
        sync_directory(&directory)?;
        Ok(Segment {
            directory,
            sequence,
            file,
            length: SEGMENT_MAGIC.len() as u64,
            scratch: Vec::new(),
        })
    }

    fn path(&self) -> PathBuf {
        self.directory.join(segment_file_name(self.sequence))
    }

    /// Writes the records in order, coalescing small ones; fsyncs when `sync`. Returns
    /// the bytes written and the fsync duration in seconds.
    fn write_records(
        &mut self,
        records: &[Record],
        sync: bool,
    ) -> Result<(u64, Option<f64>), StorageError> {
        let path = self.path();
        let mut written = 0u64;
        self.scratch.clear();
        for record in records {
            let record = &record.bytes[..];
            if self.scratch.len() + record.len() > COALESCE_BYTES && !self.scratch.is_empty() {
                write_all(&mut self.file, &self.scratch, &path)?;
                written += self.scratch.len() as u64;
                self.scratch.clear();
            }
            if record.len() >= COALESCE_BYTES {
                write_all(&mut self.file, record, &path)?;
                written += record.len() as u64;
            } else {
                self.scratch.extend_from_slice(record);
            }
        }
        if !self.scratch.is_empty() {
            write_all(&mut self.file, &self.scratch, &path)?;
            written += self.scratch.len() as u64;
            self.scratch.clear();
        }
        if self.scratch.capacity() > 4 * COALESCE_BYTES {
            self.scratch = Vec::new();
        }
        let sync_seconds = if sync {
            let started = Instant::now();
            self.file
                .sync_data()
                .map_err(StorageError::io("fsync", &path))?;
            Some(started.elapsed().as_secs_f64())
        } else {
            None
        };
        self.length += written;
        Ok((written, sync_seconds))
    }

    /// After a failed write: cut the segment back to its last good length and move on
    /// to a fresh segment.
    fn recover(&mut self) -> Result<(), StorageError> {
        let path = self.path();
        self.file
            .set_len(self.length)
            .map_err(StorageError::io("truncate", &path))?;
        let _ = self.file.sync_all();
        let next = Segment::create(self.directory.clone(), self.sequence + 1)?;
        *self = next;
        Ok(())
    }
}

fn write_all(file: &mut File, bytes: &[u8], path: &Path) -> Result<(), StorageError> {
    file.write_all(bytes)
        .map_err(StorageError::io("write", path))
}
