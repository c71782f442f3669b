//! Reading files: a follower per target path and a drainer per rotated file found
//! after a restart.
//!
//! A follower polls its file. Bytes appended are read from the open handle and split
//! into lines. When the path names another inode, or no file (rotation by rename or
//! removal), the old handle is kept and read to its end (until it has given nothing
//! for `rotated_file_idle`) while the new file is followed from its start. When the
//! open file got shorter than what was read, or its first bytes changed
//! (copytruncate, or the inode reused), the follower starts over at 0 under a new
//! position entry; the old entry is found in its copy by the manager's next sweep.
//!
//! Every line goes through the pipeline; each entry out of it is handed to the
//! clients with the position up to which everything has been handed on (an entry
//! held by `multiline` keeps the position at its first line).

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use crate::client::{Closed, Shipper};
use crate::lines::{Line, LineSplitter};
use crate::metrics::{
    FILES_ACTIVE, LINES_TRUNCATED_TOTAL, POSITION_LAG_BYTES, READ_BYTES_TOTAL, READ_LINES_TOTAL,
    ROTATIONS_TOTAL,
};
use crate::pipeline::{Pipeline, PipelineEntry, Processed};
use crate::positions::{Claim, EntryId, FileIdentity, Fingerprint, Positions};
use crate::record::{Item, MARKER_COST, Record};

/// Most bytes read from one file per poll before the others get a turn.
const READ_BUDGET_PER_POLL: u64 = 4 * 1024 * 1024;
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// What every tailer shares.
#[derive(Clone)]
pub(crate) struct TailerContext {
    pub positions: Arc<Positions>,
    pub shipper: Shipper,
    pub max_line_size: usize,
    pub partial_line_timeout: Duration,
    pub rotated_file_idle: Duration,
    pub min_poll: Duration,
    pub max_poll: Duration,
}

/// A target: its stream labels (without `filename`) and its job's pipeline.
#[derive(Clone, Debug)]
pub(crate) struct TargetSpec {
    pub labels: BTreeMap<String, String>,
    pub pipeline: Pipeline,
}

struct OpenFile {
    file: File,
    entry: EntryId,
    identity: FileIdentity,
    fingerprint: Fingerprint,
    splitter: LineSplitter,
    pipeline: Pipeline,
    labels: Arc<BTreeMap<String, String>>,
    path_label: String,
    /// Last position handed to the clients.
    handed_offset: u64,
    last_data: Instant,
    partial_since: Option<Instant>,
}

fn now_unix_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl OpenFile {
    fn new(
        file: File,
        entry: EntryId,
        offset: u64,
        spec: &TargetSpec,
        label_path: &Path,
        context: &TailerContext,
    ) -> std::io::Result<OpenFile> {
        let metadata = file.metadata()?;
        let identity = FileIdentity::of(&metadata);
        let fingerprint = Fingerprint::of(&file, metadata.len())?;
        // The entry may have been stored while the file was shorter (down to empty):
        // its fingerprint must cover what this file holds now, or a copy of it
        // (copytruncate) would not be recognised and would be read again from the start.
        if context
            .positions
            .fingerprint(entry)
            .is_some_and(|stored| stored.length < fingerprint.length)
        {
            context.positions.set_fingerprint(entry, fingerprint);
        }
        let path_label = label_path.display().to_string();
        let mut labels = spec.labels.clone();
        labels.insert(String::from("filename"), path_label.clone());
        metrics::gauge!(FILES_ACTIVE).increment(1.0);
        Ok(OpenFile {
            file,
            entry,
            identity,
            fingerprint,
            splitter: LineSplitter::new(offset, context.max_line_size),
            pipeline: spec.pipeline.fresh(),
            labels: Arc::new(labels),
            path_label,
            handed_offset: offset,
            last_data: Instant::now(),
            partial_since: None,
        })
    }

    /// Reads what was appended (up to the per-poll budget) and ships its lines.
    /// Returns the bytes read.
    async fn read_available(&mut self, context: &TailerContext) -> Result<u64, Closed> {
        let mut total: u64 = 0;
        let mut buffer = vec![0u8; READ_CHUNK_BYTES];
        let mut lines = Vec::new();
        while total < READ_BUDGET_PER_POLL {
            let read = match self.file.read_at(&mut buffer, self.splitter.read_offset()) {
                Ok(read) => read,
                Err(error) => {
                    tracing::warn!(path = %self.path_label, %error, "cannot read a tailed file");
                    break;
                }
            };
            if read == 0 {
                break;
            }
            total += read as u64;
            // The fingerprint grows before any of these bytes can be acknowledged:
            // a stored position never lies beyond what its fingerprint covers
            // (below 1 KiB), so a copy of the file is always recognised.
            if !self.fingerprint.is_complete() {
                self.grow_fingerprint(context);
            }
            self.splitter.push(&buffer[..read], &mut lines);
            self.ship_lines(std::mem::take(&mut lines), context).await?;
        }
        if total > 0 {
            self.last_data = Instant::now();
            metrics::counter!(READ_BYTES_TOTAL, "path" => self.path_label.clone()).increment(total);
            if self.splitter.has_partial() {
                self.partial_since.get_or_insert_with(Instant::now);
            }
        }
        if !self.splitter.has_partial() {
            self.partial_since = None;
        }
        Ok(total)
    }

    fn grow_fingerprint(&mut self, context: &TailerContext) {
        if let Ok(metadata) = self.file.metadata()
            && let Ok(fingerprint) = Fingerprint::of(&self.file, metadata.len())
            && fingerprint.length > self.fingerprint.length
        {
            self.fingerprint = fingerprint;
            context.positions.set_fingerprint(self.entry, fingerprint);
        }
    }

    async fn ship_lines(
        &mut self,
        lines: Vec<Line>,
        context: &TailerContext,
    ) -> Result<(), Closed> {
        if lines.is_empty() {
            return Ok(());
        }
        metrics::counter!(READ_LINES_TOTAL, "path" => self.path_label.clone())
            .increment(lines.len() as u64);
        let read_at = Instant::now();
        let timestamp = now_unix_nanos();
        for line in lines {
            if line.truncated {
                metrics::counter!(LINES_TRUNCATED_TOTAL, "path" => self.path_label.clone())
                    .increment(1);
            }
            let entry = PipelineEntry {
                labels: (*self.labels).clone(),
                extracted: BTreeMap::new(),
                line: line.text,
                timestamp_unix_nanos: timestamp,
                structured_metadata: BTreeMap::new(),
                start_offset: line.start_offset,
                read_at: Some(read_at),
            };
            let processed = self.pipeline.process(entry);
            self.hand_on(processed, line.end_offset, context).await?;
        }
        Ok(())
    }

    /// Hands the pipeline's output to the clients with the position that is safe to
    /// commit after it: `through` (everything before it was read), or the start of
    /// an entry still held.
    async fn hand_on(
        &mut self,
        processed: Processed,
        through: u64,
        context: &TailerContext,
    ) -> Result<(), Closed> {
        if !processed.delay.is_zero() {
            tokio::time::sleep(processed.delay).await;
        }
        let safe = self
            .pipeline
            .held_start_offset()
            .map_or(through, |held| held.min(through))
            .max(self.handed_offset);
        let emitted = processed.entries.len();
        for entry in processed.entries {
            let labels = if entry.labels == *self.labels {
                self.labels.clone()
            } else {
                let mut labels = entry.labels;
                labels.retain(|name, _| !name.starts_with("__"));
                Arc::new(labels)
            };
            let record = Record {
                labels,
                timestamp_unix_nanos: entry.timestamp_unix_nanos,
                line: entry.line,
                structured_metadata: entry.structured_metadata.into_iter().collect(),
            };
            let cost = Item::cost_of(&record);
            context
                .shipper
                .send(Item {
                    entry: self.entry,
                    offset: safe,
                    record: Some(Arc::new(record)),
                    cost,
                })
                .await?;
        }
        if emitted == 0 && safe > self.handed_offset {
            context
                .shipper
                .send(Item {
                    entry: self.entry,
                    offset: safe,
                    record: None,
                    cost: MARKER_COST,
                })
                .await?;
        }
        if safe > self.handed_offset {
            self.handed_offset = safe;
            context.positions.set_read(self.entry, safe);
        }
        Ok(())
    }

    /// Ships a partial line held longer than the timeout, and multiline entries
    /// held longer than their `max_wait_time`.
    async fn flush_timeouts(&mut self, context: &TailerContext) -> Result<(), Closed> {
        if let Some(since) = self.partial_since
            && !context.partial_line_timeout.is_zero()
            && since.elapsed() >= context.partial_line_timeout
        {
            self.partial_since = None;
            if let Some(line) = self.splitter.take_partial() {
                self.ship_lines(vec![line], context).await?;
            }
        }
        let expired = self.pipeline.flush_expired(Instant::now());
        if !expired.entries.is_empty() {
            let through = self.splitter.line_start_offset();
            self.hand_on(expired, through, context).await?;
        }
        Ok(())
    }

    /// Ships everything held (multiline blocks, and the partial line unless the file
    /// was truncated: then its bytes are read again from the copy) and lets go of
    /// the position entry.
    async fn finish(mut self, truncated: bool, context: &TailerContext) -> Result<(), Closed> {
        if !truncated && let Some(line) = self.splitter.take_partial() {
            self.ship_lines(vec![line], context).await?;
        }
        let held = self.pipeline.flush_all();
        let through = self.splitter.line_start_offset();
        self.hand_on(held, through, context).await?;
        self.close(context);
        Ok(())
    }

    fn close(self, context: &TailerContext) {
        context.positions.release(self.entry);
        metrics::gauge!(FILES_ACTIVE).decrement(1.0);
    }

    fn report_lag(&self, context: &TailerContext) {
        if let (Ok(metadata), Some(committed)) = (
            self.file.metadata(),
            context.positions.committed(self.entry),
        ) {
            metrics::gauge!(POSITION_LAG_BYTES, "path" => self.path_label.clone())
                .set(metadata.len().saturating_sub(committed) as f64);
        }
    }

    /// Whether the open file was truncated or rewritten under us.
    fn was_truncated(&self) -> bool {
        let Ok(metadata) = self.file.metadata() else {
            return false;
        };
        if metadata.len() < self.splitter.read_offset() {
            return true;
        }
        !self
            .fingerprint
            .matches(&self.file, metadata.len())
            .unwrap_or(true)
    }
}

fn open_target(path: &Path, spec: &TargetSpec, context: &TailerContext) -> Option<OpenFile> {
    let file = File::open(path).ok()?;
    let metadata = file.metadata().ok()?;
    if !metadata.is_file() {
        return None;
    }
    match context.positions.claim(path, &file, metadata.len()) {
        Ok(Claim::Tail { id, offset }) => {
            match OpenFile::new(file, id, offset, spec, path, context) {
                Ok(open) => Some(open),
                Err(error) => {
                    context.positions.release(id);
                    tracing::warn!(path = %path.display(), %error, "cannot open a tailed file");
                    None
                }
            }
        }
        Ok(Claim::Busy) => None,
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "cannot read a file's first bytes");
            None
        }
    }
}

/// Follows `path` until `stop` turns true.
pub(crate) async fn follow(
    path: PathBuf,
    spec: TargetSpec,
    context: TailerContext,
    mut stop: watch::Receiver<bool>,
) {
    let mut current: Option<OpenFile> = None;
    let mut draining: Vec<OpenFile> = Vec::new();
    let mut poll = context.min_poll;
    let path_label = path.display().to_string();
    loop {
        if *stop.borrow() {
            break;
        }
        let result: Result<u64, Closed> = async {
            let mut read_total = 0;
            // Rotated files first: their lines are older.
            let mut still_draining = Vec::with_capacity(draining.len());
            for mut old in std::mem::take(&mut draining) {
                read_total += old.read_available(&context).await?;
                if old.last_data.elapsed() >= context.rotated_file_idle {
                    old.finish(false, &context).await?;
                } else {
                    old.flush_timeouts(&context).await?;
                    still_draining.push(old);
                }
            }
            draining = still_draining;
            if current.is_none() {
                current = open_target(&path, &spec, &context);
            }
            if current.as_ref().is_some_and(OpenFile::was_truncated) {
                metrics::counter!(ROTATIONS_TOTAL, "kind" => "truncate").increment(1);
                tracing::info!(path = %path_label, "file truncated or rewritten; reading it from the start");
                if let Some(old) = current.take() {
                    context.positions.mark_truncated(old.entry);
                    old.finish(true, &context).await?;
                }
                current = open_target(&path, &spec, &context);
            }
            if let Some(open) = current.as_mut() {
                read_total += open.read_available(&context).await?;
                let moved = match std::fs::metadata(&path) {
                    Ok(metadata) => FileIdentity::of(&metadata) != open.identity,
                    Err(_) => true,
                };
                if moved {
                    metrics::counter!(ROTATIONS_TOTAL, "kind" => "rename").increment(1);
                    tracing::info!(path = %path_label, "file renamed or removed; reading the old one to its end");
                    if let Some(mut old) = current.take() {
                        old.last_data = Instant::now();
                        draining.push(old);
                    }
                    current = open_target(&path, &spec, &context);
                    if let Some(open) = current.as_mut() {
                        read_total += open.read_available(&context).await?;
                    }
                } else {
                    open.flush_timeouts(&context).await?;
                    open.report_lag(&context);
                }
            }
            Ok(read_total)
        }
        .await;
        let read_total = match result {
            Ok(read_total) => read_total,
            Err(Closed) => break,
        };
        poll = if read_total > 0 {
            context.min_poll
        } else {
            (poll * 2).min(context.max_poll)
        };
        if read_total >= READ_BUDGET_PER_POLL {
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = stop.changed() => {}
        }
    }
    // Stopping: held lines stay unshipped and their positions uncommitted, so they
    // are read again at the next start.
    for open in draining.into_iter().chain(current) {
        open.close(&context);
    }
}

/// Reads a rotated file found after a restart from `offset` to its end, then lets go.
pub(crate) async fn drain(
    file: File,
    entry: EntryId,
    offset: u64,
    label_path: PathBuf,
    spec: TargetSpec,
    context: TailerContext,
    mut stop: watch::Receiver<bool>,
) {
    let mut open = match OpenFile::new(file, entry, offset, &spec, &label_path, &context) {
        Ok(open) => open,
        Err(error) => {
            context.positions.release(entry);
            tracing::warn!(path = %label_path.display(), %error, "cannot drain a rotated file");
            return;
        }
    };
    tracing::info!(path = %label_path.display(), offset, "reading a rotated file to its end");
    loop {
        if *stop.borrow() {
            open.close(&context);
            return;
        }
        let read = match open.read_available(&context).await {
            Ok(read) => read,
            Err(Closed) => {
                open.close(&context);
                return;
            }
        };
        if read == 0 && open.last_data.elapsed() >= context.rotated_file_idle {
            let _ = open.finish(false, &context).await;
            return;
        }
        if read < READ_BUDGET_PER_POLL {
            tokio::select! {
                _ = tokio::time::sleep(context.min_poll) => {}
                _ = stop.changed() => {}
            }
        }
    }
}
