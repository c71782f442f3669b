//! Durable per-target cursors: one JSON file, `cursors.json`, in a directory.
//!
//! Format (version 1): `{"version":1,"cursors":[{"scrape_pool":"job",
//! "target_hash":"00000000000000ff","target_identity":"0123456789abcdef",
//! "client_instance":"abc","next_cursor":42}]}`. A cursor is keyed by scrape pool and
//! target hash ([`weft_scrape_config::target::Target::hash`]: all labels, `__` ones
//! included, and the scrape URL) and is only meaningful for the client buffer instance
//! it names. `target_identity` ([`target_identity`]: public labels and scrape URL)
//! lets a target whose hash changed only through `__scrape_interval__`,
//! `__scrape_timeout__` or other `__` labels (a reload changing the interval) resume
//! where it was instead of re-reading everything the client holds.
//!
//! Every [`CursorStore::set`] returns once a rewrite of the whole file that includes its
//! cursor is durable: written to `cursors.json.tmp`, fsynced, renamed over
//! `cursors.json`, then the directory is fsynced. A crash leaves either the old or the
//! new file, never a torn one. Writes are group commits: while one rewrite is in
//! progress, the cursors set meanwhile wait and go together into the next one, so a
//! thousand targets scraped every second cost a few rewrites per second, not a thousand.
//! One blocking task writes while there is something to write; the callers of `set`
//! wait asynchronously, so a thousand waiting scrapes hold no thread.
//! Cursors of targets that disappear are kept, so a target that comes back resumes.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

/// The file name inside the cursor directory.
pub const CURSOR_FILE_NAME: &str = "cursors.json";
const FORMAT_VERSION: u32 = 1;

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

/// The cursors of every target, shared by all scrape loops. Thread-safe; writes are
/// group-committed by one blocking task at a time.
#[derive(Debug)]
pub struct CursorStore {
    directory: PathBuf,
    state: Mutex<StoreState>,
    /// Signalled when a rewrite finishes.
    written: Notify,
}

#[derive(Debug, Default)]
struct StoreState {
    cursors: BTreeMap<(String, u64), StoredCursor>,
    /// Incremented by every `set`.
    version: u64,
    /// Every `set` up to this version is on disk.
    durable_version: u64,
    /// A writer task is running (started by a caller of `set`).
    writing: bool,
    /// The last rewrite that failed: the version it covered and why.
    last_failure: Option<(u64, String)>,
}

impl CursorStore {
    /// Opens (creating the directory if needed) and reads the store in `directory`. A
    /// missing file is an empty store; a file that does not parse is an error, not
    /// silently reset (resetting would re-scrape everything the clients still hold).
    pub fn open(directory: &Path) -> Result<Self, CursorStoreError> {
        std::fs::create_dir_all(directory).map_err(|source| CursorStoreError::Io {
            path: directory.to_owned(),
            source,
        })?;
        let path = directory.join(CURSOR_FILE_NAME);
        let mut cursors = BTreeMap::new();
        match std::fs::read(&path) {
            Ok(bytes) => {
                let corrupt = |message: String| CursorStoreError::Corrupt {
                    path: path.clone(),
                    message,
                };
                let file: CursorFile =
                    serde_json::from_slice(&bytes).map_err(|error| corrupt(error.to_string()))?;
                if file.version != FORMAT_VERSION {
                    return Err(corrupt(format!(
                        "unsupported version {} (expected {FORMAT_VERSION})",
                        file.version
                    )));
                }
                for entry in file.cursors {
                    let hexadecimal = |field: &str, text: &str| {
                        u64::from_str_radix(text, 16)
                            .map_err(|_| corrupt(format!("{field} {text:?} is not hexadecimal")))
                    };
                    let target_hash = hexadecimal("target_hash", &entry.target_hash)?;
                    let target_identity = hexadecimal("target_identity", &entry.target_identity)?;
                    cursors.insert(
                        (entry.scrape_pool, target_hash),
                        StoredCursor {
                            target_identity,
                            client_instance: entry.client_instance,
                            next_cursor: entry.next_cursor,
                        },
                    );
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(CursorStoreError::Io { path, source }),
        }
        Ok(Self {
            directory: directory.to_owned(),
            state: Mutex::new(StoreState {
                cursors,
                ..StoreState::default()
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
            state
                .cursors
                .insert((scrape_pool.to_owned(), target_hash), cursor);
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

    /// Rewrites the file until every cursor set so far is covered by a write, then
    /// clears `writing`. Only one runs at a time, so an older snapshot never replaces a
    /// newer one.
    fn write_pending(&self) {
        loop {
            let (covered, bytes) = {
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
                (state.version, serialise(&state.cursors))
            };
            let result = self.write_atomically(&bytes);
            {
                let mut state = self.lock();
                match result {
                    Ok(()) => state.durable_version = covered,
                    Err(error) => state.last_failure = Some((covered, error.to_string())),
                }
            }
            self.written.notify_waiters();
        }
    }

    fn write_atomically(&self, bytes: &[u8]) -> Result<(), CursorStoreError> {
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

    fn lock(&self) -> std::sync::MutexGuard<'_, StoreState> {
        // A panic while holding the lock cannot leave the state half-updated: each
        // update is one insert or one field assignment.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The file's bytes for `cursors`.
fn serialise(cursors: &BTreeMap<(String, u64), StoredCursor>) -> Vec<u8> {
    let file = CursorFile {
        version: FORMAT_VERSION,
        cursors: cursors
            .iter()
            .map(|((scrape_pool, target_hash), cursor)| CursorEntry {
                scrape_pool: scrape_pool.clone(),
                target_hash: format!("{target_hash:016x}"),
                target_identity: format!("{:016x}", cursor.target_identity),
                client_instance: cursor.client_instance.clone(),
                next_cursor: cursor.next_cursor,
            })
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
            b"{\"version\":2,\"cursors\":[]}",
        )
        .expect("write");
        let error = CursorStore::open(directory.path()).expect_err("version 2");
        assert!(
            error.to_string().contains("unsupported version 2"),
            "{error}"
        );
        std::fs::write(directory.path().join(CURSOR_FILE_NAME), b"not json").expect("write");
        assert!(CursorStore::open(directory.path()).is_err());
    }

    #[tokio::test]
    async fn a_failed_write_fails_its_sets_and_the_next_write_recovers() {
        let parent = tempfile::tempdir().expect("tempdir");
        let directory = parent.path().join("cursors");
        let store = Arc::new(CursorStore::open(&directory).expect("open"));
        let cursor = |next_cursor| StoredCursor {
            target_identity: 1,
            client_instance: String::from("i"),
            next_cursor,
        };
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
