//! Durable per-target cursors: a snapshot, `cursors.json`, and a log of the cursors set
//! since, `cursors.<generation>.log`, in a directory.
//!
//! Snapshot (version 2): `{"version":2,"log":7,"cursors":[{"scrape_pool":"job",
//! "target_hash":"00000000000000ff","target_identity":"0123456789abcdef",
//! "client_instance":"abc","next_cursor":42}]}`; `log` names the generation of the log
//! that continues it. Version 1 (no `log`, no log file) is read too. The log holds one
//! entry per line, in the snapshot's entry format; replayed in order over the snapshot, a
//! later line replaces an earlier cursor of the same key.
//!
//! A cursor is keyed by scrape pool and target hash
//! ([`weft_scrape_config::target::Target::hash`]: all labels, `__` ones included, and
//! the scrape URL) and is only meaningful for the client buffer instance it names.
//! `target_identity` ([`target_identity`]: public labels and scrape URL) lets a target
//! whose hash changed only through `__scrape_interval__`, `__scrape_timeout__` or other
//! `__` labels (a reload changing the interval) resume where it was instead of
//! re-reading everything the client holds.
//!
//! Every [`CursorStore::set`] returns once its cursor is durable. Writes are group
//! commits: while one write is in progress, the cursors set meanwhile wait and go
//! together into the next one, and one blocking task writes while there is something to
//! write (the callers of `set` wait asynchronously, so a thousand waiting scrapes hold no
//! thread). A write appends the cursors set since the previous one to the log and
//! fdatasyncs it, so it costs what changed, not how many targets there are. Once the log
//! outgrows twice the snapshot (and at least [`DEFAULT_MIN_LOG_BYTES`]), after a failed
//! write, and at the first write after opening, the write is a compaction instead: an
//! empty log of the next generation is created, the whole state is written as the new
//! snapshot (to `cursors.json.tmp`, fsynced, renamed over `cursors.json`, directory
//! fsynced) naming it, and older logs are removed.
//!
//! A crash leaves the old or the new snapshot, never a torn one, and the log the
//! snapshot names holds every cursor set after it was written. A log line cut short by
//! a crash (only the last lines can be: appending stops at the first failure) was never
//! acknowledged and is ignored; a damaged line followed by good ones is an error.
//! Cursors of targets that disappear are kept, so a target that comes back resumes.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

/// The snapshot's file name inside the cursor directory.
pub const CURSOR_FILE_NAME: &str = "cursors.json";
/// The snapshot format written; version 1 is read too.
const FORMAT_VERSION: u32 = 2;
/// A log shorter than this is never compacted, however small the snapshot.
pub const DEFAULT_MIN_LOG_BYTES: u64 = 1 << 20;

/// The file name of the log of `generation`.
fn log_file_name(generation: u64) -> String {
    format!("cursors.{generation}.log")
}

/// Why the cursor store cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CursorStoreError {
    /// A file system operation failed.
    #[error("cursor store {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file exists but is not a cursor file this version understands.
    #[error("cursor store {}: {message}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Where a scraper is in one client buffer's sequence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCursor {
    /// The target's [`target_identity`].
    pub target_identity: u64,
    /// The client buffer's `Weft-Instance`.
    pub client_instance: String,
    /// The next sequence number wanted (the last `Weft-Cursor-Next` whose spans were stored).
    pub next_cursor: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CursorFile {
    version: u32,
    /// The generation of the log that continues this snapshot (absent in version 1).
    #[serde(default)]
    log: u64,
    cursors: Vec<CursorEntry>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CursorEntry {
    scrape_pool: String,
    target_hash: String,
    target_identity: String,
    client_instance: String,
    next_cursor: u64,
}

type CursorKey = (String, u64);

impl CursorEntry {
    fn new((scrape_pool, target_hash): &CursorKey, cursor: &StoredCursor) -> Self {
        CursorEntry {
            scrape_pool: scrape_pool.clone(),
            target_hash: format!("{target_hash:016x}"),
            target_identity: format!("{:016x}", cursor.target_identity),
            client_instance: cursor.client_instance.clone(),
            next_cursor: cursor.next_cursor,
        }
    }

    /// The key and cursor, or what is wrong with them.
    fn parse(self) -> Result<(CursorKey, StoredCursor), String> {
        let hexadecimal = |field: &str, text: &str| {
            u64::from_str_radix(text, 16)
                .map_err(|_| format!("{field} {text:?} is not hexadecimal"))
        };
        let target_hash = hexadecimal("target_hash", &self.target_hash)?;
        let target_identity = hexadecimal("target_identity", &self.target_identity)?;
        Ok((
            (self.scrape_pool, target_hash),
            StoredCursor {
                target_identity,
                client_instance: self.client_instance,
                next_cursor: self.next_cursor,
            },
        ))
    }
}

/// The cursors of every target, shared by all scrape loops. Thread-safe; writes are
/// group-committed by one blocking task at a time.
#[derive(Debug)]
pub struct CursorStore {
    directory: PathBuf,
    state: Mutex<StoreState>,
    /// The log being appended to; used only by the one writer task running.
    log: Mutex<LogWriter>,
    /// Signalled when a write finishes.
    written: Notify,
}

#[derive(Debug, Default)]
struct StoreState {
    cursors: BTreeMap<CursorKey, StoredCursor>,
    /// Cursors set since the last write took them.
    changed: BTreeMap<CursorKey, StoredCursor>,
    /// Incremented by every `set`.
    version: u64,
    /// Every `set` up to this version is on disk.
    durable_version: u64,
    /// A writer task is running (started by a caller of `set`).
    writing: bool,
    /// The last write that failed: the version it covered and why.
    last_failure: Option<(u64, String)>,
}

#[derive(Debug)]
struct LogWriter {
    /// The log of `generation`, open for appending; `None` until the next compaction
    /// (after opening the store, or after a failed write).
    file: Option<File>,
    /// The generation the snapshot on disk names.
    generation: u64,
    /// Bytes appended to the log since the snapshot.
    log_bytes: u64,
    /// Size of the snapshot on disk.
    snapshot_bytes: u64,
    /// [`DEFAULT_MIN_LOG_BYTES`], smaller in tests.
    min_log_bytes: u64,
}

impl LogWriter {
    fn must_compact(&self) -> bool {
        self.file.is_none()
            || self.log_bytes
                >= self
                    .min_log_bytes
                    .max(self.snapshot_bytes.saturating_mul(2))
    }
}

/// One write: the cursors to append, or the whole state as a snapshot.
enum Write {
    Append(BTreeMap<CursorKey, StoredCursor>),
    Compact(Vec<u8>),
}

impl CursorStore {
    /// Opens (creating the directory if needed) and reads the store in `directory`. A
    /// missing snapshot is an empty store; a snapshot or log that does not parse is an
    /// error, not silently reset (resetting would re-scrape everything the clients
    /// still hold).
    pub fn open(directory: &Path) -> Result<Self, CursorStoreError> {
        Self::open_with_min_log_bytes(directory, DEFAULT_MIN_LOG_BYTES)
    }

    fn open_with_min_log_bytes(
        directory: &Path,
        min_log_bytes: u64,
    ) -> Result<Self, CursorStoreError> {
        std::fs::create_dir_all(directory).map_err(|source| CursorStoreError::Io {
            path: directory.to_owned(),
            source,
        })?;
        let path = directory.join(CURSOR_FILE_NAME);
        let mut cursors = BTreeMap::new();
        let mut generation = 0;
        let mut snapshot_bytes = 0;
        match std::fs::read(&path) {
            Ok(bytes) => {
                let corrupt = |message: String| CursorStoreError::Corrupt {
                    path: path.clone(),
                    message,
                };
                let file: CursorFile =
                    serde_json::from_slice(&bytes).map_err(|error| corrupt(error.to_string()))?;
                if file.version != 1 && file.version != FORMAT_VERSION {
                    return Err(corrupt(format!(
                        "unsupported version {} (expected 1 or {FORMAT_VERSION})",
                        file.version
                    )));
                }
                for entry in file.cursors {
                    let (key, cursor) = entry.parse().map_err(corrupt)?;
                    cursors.insert(key, cursor);
                }
                generation = file.log;
                snapshot_bytes = bytes.len() as u64;
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(CursorStoreError::Io { path, source }),
        }
        replay_log(&directory.join(log_file_name(generation)), &mut cursors)?;
        Ok(Self {
            directory: directory.to_owned(),
            state: Mutex::new(StoreState {
                cursors,
                ..StoreState::default()
            }),
            log: Mutex::new(LogWriter {
                file: None,
                generation,
                log_bytes: 0,
                snapshot_bytes,
                min_log_bytes,
            }),
            written: Notify::new(),
        })
    }

    /// The cursor of a target, if one was stored.
    pub fn get(&self, scrape_pool: &str, target_hash: u64) -> Option<StoredCursor> {
        self.lock()
            .cursors
            .get(&(scrape_pool.to_owned(), target_hash))
            .cloned()
    }

    /// The cursor of any target of `scrape_pool` with `target_identity` (the most
    /// advanced one when several match), for a target whose hash has no cursor yet.
    pub fn get_by_identity(&self, scrape_pool: &str, target_identity: u64) -> Option<StoredCursor> {
        self.lock()
            .cursors
            .iter()
            .filter(|((pool, _), cursor)| {
                pool == scrape_pool && cursor.target_identity == target_identity
            })
            .map(|(_, cursor)| cursor)
            .max_by_key(|cursor| cursor.next_cursor)
            .cloned()
    }

    /// Records a target's cursor and returns once it is durable on disk. On error the
    /// in-memory value is updated anyway (the next successful write persists it).
    pub async fn set(
        self: &Arc<Self>,
        scrape_pool: &str,
        target_hash: u64,
        cursor: StoredCursor,
    ) -> Result<(), CursorStoreError> {
        let wanted = {
            let mut state = self.lock();
            let key = (scrape_pool.to_owned(), target_hash);
            state.changed.insert(key.clone(), cursor.clone());
            state.cursors.insert(key, cursor);
            state.version += 1;
            if !state.writing {
                state.writing = true;
                let store = Arc::clone(self);
                // Not awaited: the writer outlives this call when others keep setting.
                drop(tokio::task::spawn_blocking(move || store.write_pending()));
            }
            state.version
        };
        loop {
            // Registered before the check, so a write finishing in between is not missed.
            let written = self.written.notified();
            tokio::pin!(written);
            written.as_mut().enable();
            {
                let state = self.lock();
                if state.durable_version >= wanted {
                    return Ok(());
                }
                if let Some((covered, message)) = &state.last_failure
                    && *covered >= wanted
                {
                    return Err(CursorStoreError::Io {
                        path: self.directory.join(CURSOR_FILE_NAME),
                        source: std::io::Error::other(message.clone()),
                    });
                }
            }
            written.await;
        }
    }

    /// Writes until every cursor set so far is covered by a write, then clears
    /// `writing`. Only one runs at a time, so writes land in the order of the versions
    /// they cover.
    fn write_pending(&self) {
        let mut log = self
            .log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        loop {
            let (covered, write) = {
                let mut state = self.lock();
                let done = state.durable_version.max(
                    state
                        .last_failure
                        .as_ref()
                        .map_or(0, |(covered, _)| *covered),
                );
                if done >= state.version {
                    state.writing = false;
                    return;
                }
                let changed = std::mem::take(&mut state.changed);
                let write = if log.must_compact() {
                    Write::Compact(serialise(&state.cursors, log.generation + 1))
                } else {
                    Write::Append(changed)
                };
                (state.version, write)
            };
            let result = match write {
                Write::Append(changed) => self.append(&mut log, &changed),
                Write::Compact(bytes) => self.compact(&mut log, &bytes),
            };
            {
                let mut state = self.lock();
                match result {
                    Ok(()) => state.durable_version = covered,
                    Err(error) => {
                        // The log may end in part of a line: nothing more is appended
                        // to it, and the next write is a compaction.
                        log.file = None;
                        state.last_failure = Some((covered, error.to_string()));
                    }
                }
            }
            self.written.notify_waiters();
        }
    }

    /// Appends `changed` to the log, one line each, and fdatasyncs it.
    fn append(
        &self,
        log: &mut LogWriter,
        changed: &BTreeMap<CursorKey, StoredCursor>,
    ) -> Result<(), CursorStoreError> {
        let mut lines = Vec::with_capacity(changed.len() * 160);
        for (key, cursor) in changed {
            // Serialising a struct of strings and integers cannot fail.
            let _ = serde_json::to_writer(&mut lines, &CursorEntry::new(key, cursor));
            lines.push(b'\n');
        }
        let path = self.directory.join(log_file_name(log.generation));
        let io_error = |source| CursorStoreError::Io {
            path: path.clone(),
            source,
        };
        let file = log
            .file
            .as_mut()
            .ok_or_else(|| io_error(std::io::Error::other("the log is not open")))?;
        file.write_all(&lines).map_err(io_error)?;
        file.sync_data().map_err(io_error)?;
        log.log_bytes += lines.len() as u64;
        Ok(())
    }

    /// Starts the next log generation with `snapshot` (the whole state, naming it) and
    /// removes the older logs.
    fn compact(&self, log: &mut LogWriter, snapshot: &[u8]) -> Result<(), CursorStoreError> {
        let generation = log.generation + 1;
        let log_path = self.directory.join(log_file_name(generation));
        // Created before the snapshot names it; the directory fsync below makes both
        // durable.
        let file = File::create(&log_path).map_err(|source| CursorStoreError::Io {
            path: log_path.clone(),
            source,
        })?;
        self.write_snapshot(snapshot)?;
        *log = LogWriter {
            file: Some(file),
            generation,
            log_bytes: 0,
            snapshot_bytes: snapshot.len() as u64,
            min_log_bytes: log.min_log_bytes,
        };
        self.remove_other_logs(generation);
        Ok(())
    }

    fn write_snapshot(&self, bytes: &[u8]) -> Result<(), CursorStoreError> {
        let path = self.directory.join(CURSOR_FILE_NAME);
        let temporary = self.directory.join(format!("{CURSOR_FILE_NAME}.tmp"));
        let io_error = |path: &Path| {
            let path = path.to_owned();
            move |source| CursorStoreError::Io { path, source }
        };
        let mut file = File::create(&temporary).map_err(io_error(&temporary))?;
        file.write_all(bytes).map_err(io_error(&temporary))?;
        file.sync_all().map_err(io_error(&temporary))?;
        drop(file);
        std::fs::rename(&temporary, &path).map_err(io_error(&path))?;
        File::open(&self.directory)
            .and_then(|directory| directory.sync_all())
            .map_err(io_error(&self.directory))
    }

    /// Removes the logs of other generations (best effort: a leftover log is ignored at
    /// open and removed at the next compaction).
    fn remove_other_logs(&self, generation: u64) {
        let Ok(entries) = std::fs::read_dir(&self.directory) else {
            return;
        };
        let current = log_file_name(generation);
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                continue;
            };
            let is_log = name
                .strip_prefix("cursors.")
                .and_then(|rest| rest.strip_suffix(".log"))
                .is_some_and(|number| number.parse::<u64>().is_ok());
            if is_log
                && name != current
                && let Err(error) = std::fs::remove_file(entry.path())
            {
                tracing::warn!(file = %entry.path().display(), %error, "cannot remove an old cursor log");
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, StoreState> {
        // A panic while holding the lock cannot leave the state half-updated: each
        // update is a few inserts and field assignments that cannot panic.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Replays the log at `path` (missing: nothing to replay) over `cursors`. Lines that do
/// not parse at the end of the log (a write cut short by a crash) are ignored; a line
/// that does not parse followed by one that does is an error.
fn replay_log(
    path: &Path,
    cursors: &mut BTreeMap<CursorKey, StoredCursor>,
) -> Result<(), CursorStoreError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(CursorStoreError::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    // The last piece has no newline after it: empty, or a line cut short.
    let mut lines: Vec<&[u8]> = bytes.split(|&byte| byte == b'\n').collect();
    let unterminated = lines.pop().unwrap_or_default();
    let mut first_bad: Option<(usize, String)> = None;
    for (index, line) in lines.iter().enumerate() {
        let parsed = serde_json::from_slice::<CursorEntry>(line)
            .map_err(|error| error.to_string())
            .and_then(CursorEntry::parse);
        match (parsed, &first_bad) {
            (Ok(_), Some((bad, message))) => {
                return Err(CursorStoreError::Corrupt {
                    path: path.to_owned(),
                    message: format!("line {}: {message}", bad + 1),
                });
            }
            (Ok((key, cursor)), None) => {
                cursors.insert(key, cursor);
            }
            (Err(message), None) => first_bad = Some((index, message)),
            (Err(_), Some(_)) => {}
        }
    }
    if first_bad.is_some() || !unterminated.is_empty() {
        tracing::warn!(log = %path.display(), "ignoring the end of a cursor log cut short by a crash");
    }
    Ok(())
}

/// The snapshot's bytes for `cursors`, continued by the log of `generation`.
fn serialise(cursors: &BTreeMap<CursorKey, StoredCursor>, generation: u64) -> Vec<u8> {
    let file = CursorFile {
        version: FORMAT_VERSION,
        log: generation,
        cursors: cursors
            .iter()
            .map(|(key, cursor)| CursorEntry::new(key, cursor))
            .collect(),
    };
    // Serialising a struct of strings and integers cannot fail.
    serde_json::to_vec(&file).unwrap_or_default()
}

/// A target's identity across changes of its `__` labels: FNV-1a 64 of its public
/// labels (`{a="1", b="2"}`) followed by its scrape URL.
pub fn target_identity(public_labels: &weft_scrape_config::Labels, scrape_url: &str) -> u64 {
    let mut text = public_labels.to_prometheus_string();
    text.push_str(scrape_url);
    weft_scrape_config::offset::fnv1a_64(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn cursors_survive_reopening_and_corruption_is_an_error() {
        let directory = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(CursorStore::open(directory.path()).expect("open"));
        assert_eq!(store.get("job", 7), None);
        let cursor = StoredCursor {
            target_identity: 99,
            client_instance: String::from("a1"),
            next_cursor: 42,
        };
        store.set("job", 7, cursor.clone()).await.expect("set");
        store
            .set(
                "other",
                u64::MAX,
                StoredCursor {
                    target_identity: 99,
                    client_instance: String::from("b"),
                    next_cursor: 1,
                },
            )
            .await
            .expect("set");
        let reopened = CursorStore::open(directory.path()).expect("reopen");
        assert_eq!(reopened.get("job", 7), Some(cursor));
        assert_eq!(
            reopened.get("other", u64::MAX).map(|c| c.next_cursor),
            Some(1)
        );
        assert_eq!(reopened.get("job", 8), None);
        assert_eq!(
            reopened.get_by_identity("job", 99).map(|c| c.next_cursor),
            Some(42)
        );
        assert_eq!(reopened.get_by_identity("job", 98), None);
        assert_eq!(reopened.get_by_identity("third", 99), None);
        assert!(!directory.path().join("cursors.json.tmp").exists());

        std::fs::write(
            directory.path().join(CURSOR_FILE_NAME),
            b"{\"version\":3,\"cursors\":[]}",
        )
        .expect("write");
        let error = CursorStore::open(directory.path()).expect_err("version 3");
        assert!(
            error.to_string().contains("unsupported version 3"),
            "{error}"
        );
        std::fs::write(directory.path().join(CURSOR_FILE_NAME), b"not json").expect("write");
        assert!(CursorStore::open(directory.path()).is_err());
    }

    fn cursor(next_cursor: u64) -> StoredCursor {
        StoredCursor {
            target_identity: 1,
            client_instance: String::from("i"),
            next_cursor,
        }
    }

    fn log_files(directory: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(directory)
            .expect("read_dir")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .into_string()
                    .expect("utf-8")
            })
            .filter(|name| name.ends_with(".log"))
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn writes_append_to_the_log_and_compact_once_it_outgrows_the_snapshot() {
        let directory = tempfile::tempdir().expect("tempdir");
        let store =
            Arc::new(CursorStore::open_with_min_log_bytes(directory.path(), 1_000).expect("open"));
        // The first write after opening is a compaction: a snapshot naming log 1.
        store.set("job", 1, cursor(1)).await.expect("set");
        assert_eq!(log_files(directory.path()), ["cursors.1.log"]);
        let snapshot = std::fs::read(directory.path().join(CURSOR_FILE_NAME)).expect("read");
        let snapshot_bytes = snapshot.len();
        assert!(
            String::from_utf8_lossy(&snapshot).contains("\"log\":1"),
            "{}",
            String::from_utf8_lossy(&snapshot)
        );
        // Later writes append what changed, one line each, and leave the snapshot alone.
        store.set("job", 2, cursor(5)).await.expect("set");
        store.set("job", 1, cursor(2)).await.expect("set");
        let log = std::fs::read_to_string(directory.path().join("cursors.1.log")).expect("log");
        assert_eq!(log.lines().count(), 2, "{log}");
        assert_eq!(
            std::fs::read(directory.path().join(CURSOR_FILE_NAME))
                .expect("read")
                .len(),
            snapshot_bytes
        );
        let reopened = CursorStore::open(directory.path()).expect("reopen");
        assert_eq!(reopened.get("job", 1), Some(cursor(2)));
        assert_eq!(reopened.get("job", 2), Some(cursor(5)));
        // Past 1,000 bytes of log (more than twice this snapshot) the next write compacts
        // into log 2, and log 1 is removed.
        let mut next = 3;
        while log_files(directory.path()) == ["cursors.1.log"] {
            assert!(next < 100, "no compaction after {next} writes");
            store.set("job", 1, cursor(next)).await.expect("set");
            next += 1;
        }
        assert_eq!(log_files(directory.path()), ["cursors.2.log"]);
        store.set("job", 2, cursor(6)).await.expect("set");
        let reopened = CursorStore::open(directory.path()).expect("reopen");
        assert_eq!(reopened.get("job", 1), Some(cursor(next - 1)));
        assert_eq!(reopened.get("job", 2), Some(cursor(6)));
    }

    #[tokio::test]
    async fn a_log_cut_short_is_read_up_to_the_cut_and_damage_before_good_lines_is_an_error() {
        let directory = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(CursorStore::open(directory.path()).expect("open"));
        store.set("job", 1, cursor(1)).await.expect("set");
        store.set("job", 1, cursor(2)).await.expect("set");
        let log_path = directory.path().join("cursors.1.log");
        let mut log = std::fs::OpenOptions::new()
            .append(true)
            .open(&log_path)
            .expect("open log");
        log.write_all(b"{\"scrape_pool\":\"job\",\"target_ha")
            .expect("append");
        drop(log);
        let reopened = Arc::new(CursorStore::open(directory.path()).expect("cut short"));
        assert_eq!(reopened.get("job", 1), Some(cursor(2)));
        // Writing again starts a clean log; nothing is appended after the cut.
        reopened.set("job", 1, cursor(3)).await.expect("set");
        assert_eq!(log_files(directory.path()), ["cursors.2.log"]);
        assert_eq!(
            CursorStore::open(directory.path())
                .expect("reopen")
                .get("job", 1),
            Some(cursor(3))
        );

        let good = String::from_utf8(
            serde_json::to_vec(&CursorEntry::new(&(String::from("job"), 1), &cursor(9)))
                .expect("json"),
        )
        .expect("utf-8");
        std::fs::write(
            directory.path().join("cursors.2.log"),
            format!("not json\n{good}\n"),
        )
        .expect("write");
        let error = CursorStore::open(directory.path()).expect_err("damaged line 1");
        assert!(error.to_string().contains("line 1"), "{error}");
    }

    #[tokio::test]
    async fn a_version_1_file_is_read_and_rewritten_as_version_2() {
        let directory = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            directory.path().join(CURSOR_FILE_NAME),
            br#"{"version":1,"cursors":[{"scrape_pool":"job","target_hash":"00000000000000ff","target_identity":"0000000000000001","client_instance":"i","next_cursor":42}]}"#,
        )
        .expect("write");
        let store = Arc::new(CursorStore::open(directory.path()).expect("version 1"));
        assert_eq!(store.get("job", 0xff), Some(cursor(42)));
        store.set("job", 1, cursor(1)).await.expect("set");
        let snapshot =
            std::fs::read_to_string(directory.path().join(CURSOR_FILE_NAME)).expect("read");
        assert!(
            snapshot.starts_with("{\"version\":2,\"log\":1,"),
            "{snapshot}"
        );
        let reopened = CursorStore::open(directory.path()).expect("reopen");
        assert_eq!(reopened.get("job", 0xff), Some(cursor(42)));
        assert_eq!(reopened.get("job", 1), Some(cursor(1)));
    }

    #[tokio::test]
    async fn a_failed_write_fails_its_sets_and_the_next_write_recovers() {
        let parent = tempfile::tempdir().expect("tempdir");
        let directory = parent.path().join("cursors");
        let store = Arc::new(CursorStore::open(&directory).expect("open"));
        std::fs::remove_dir_all(&directory).expect("remove");
        let failed = store.set("job", 1, cursor(5)).await;
        assert!(
            matches!(&failed, Err(CursorStoreError::Io { .. })),
            "{failed:?}"
        );
        std::fs::create_dir_all(&directory).expect("recreate");
        store.set("job", 2, cursor(6)).await.expect("set");
        let reopened = CursorStore::open(&directory).expect("reopen");
        assert_eq!(
            reopened.get("job", 1).map(|c| c.next_cursor),
            Some(5),
            "the failed cursor is written with the next one"
        );
        assert_eq!(reopened.get("job", 2).map(|c| c.next_cursor), Some(6));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_sets_are_all_durable_when_they_return() {
        let directory = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(CursorStore::open(directory.path()).expect("open"));
        let tasks: Vec<_> = (0..16u64)
            .map(|thread| {
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    for round in 0..50u64 {
                        let cursor = StoredCursor {
                            target_identity: thread,
                            client_instance: String::from("i"),
                            next_cursor: round,
                        };
                        store.set("job", thread, cursor).await.expect("set");
                        // What this set wrote is on disk now, whatever the others do.
                        let reopened =
                            CursorStore::open(store.directory.as_path()).expect("reopen");
                        let stored = reopened.get("job", thread).map(|c| c.next_cursor);
                        assert!(
                            stored >= Some(round),
                            "thread {thread} round {round}: {stored:?}"
                        );
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("no panic");
        }
        // The writer notices it has nothing left to write just after its last write.
        for _ in 0..200 {
            if !store.lock().writing {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert!(
            !store.lock().writing,
            "the writer stops when nothing is left to write"
        );
        let reopened = CursorStore::open(directory.path()).expect("reopen");
        for thread in 0..16 {
            assert_eq!(reopened.get("job", thread).map(|c| c.next_cursor), Some(49));
        }
    }
}
