//! Read positions, keyed by what a file *is* rather than where it is: device, inode
//! and a fingerprint (xxHash64 of the first [`FINGERPRINT_BYTES`] bytes, or of the
//! whole file while it is shorter, with the length it covers).
//!
//! - A file renamed (rotation by rename) keeps device, inode and fingerprint: its
//!   position follows it to the new name.
//! - An inode reused by a new file, or a file truncated and rewritten
//!   (copytruncate), no longer matches its fingerprint: it starts at 0 under a new
//!   entry, and the old entry is looked for elsewhere in its directory.
//! - A copy (copytruncate's `app.log.1`) has another inode but the old fingerprint:
//!   the old entry moves to it and reading resumes where it stopped, so the lines
//!   written between the last read and the truncation are still shipped.
//!
//! Each entry has a `read` offset (in memory: bytes handed to the clients) and a
//! committed offset: the smallest offset every client has acknowledged. Only the
//! committed offset is written to the positions file, atomically (temporary file,
//! fsync, rename, fsync of the directory).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// Bytes hashed for a file's fingerprint.
pub const FINGERPRINT_BYTES: u64 = 1024;
/// A fingerprint must cover at least this many bytes to recognise a file under
/// another inode (shorter prefixes are too likely shared by unrelated files).
const MIN_CROSS_INODE_FINGERPRINT_BYTES: u32 = 16;

/// Device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FileIdentity {
    /// `st_dev`.
    pub device: u64,
    /// `st_ino`.
    pub inode: u64,
}

impl FileIdentity {
    /// The identity of an open file or a path's metadata.
    pub fn of(metadata: &std::fs::Metadata) -> FileIdentity {
        FileIdentity {
            device: metadata.dev(),
            inode: metadata.ino(),
        }
    }
}

/// Hash of a file's first `length` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// xxHash64 (seed 0).
    pub hash: u64,
    /// Bytes covered: `min(size, FINGERPRINT_BYTES)` when computed.
    pub length: u32,
}

impl Fingerprint {
    /// The fingerprint of `file`, whose size is `size`.
    pub fn of(file: &File, size: u64) -> io::Result<Fingerprint> {
        let length = size.min(FINGERPRINT_BYTES);
        let head = read_head(file, length)?;
        Ok(Fingerprint {
            hash: twox_hash::XxHash64::oneshot(0, &head),
            length: u32::try_from(head.len()).unwrap_or(0),
        })
    }

    /// Whether `file` (of `size` bytes) starts with the bytes this fingerprint covers.
    pub fn matches(&self, file: &File, size: u64) -> io::Result<bool> {
        if size < u64::from(self.length) {
            return Ok(false);
        }
        let head = read_head(file, u64::from(self.length))?;
        Ok(head.len() == self.length as usize
            && twox_hash::XxHash64::oneshot(0, &head) == self.hash)
    }

    /// Whether it covers all the bytes it ever will.
    pub fn is_complete(&self) -> bool {
        u64::from(self.length) >= FINGERPRINT_BYTES
    }
}

fn read_head(file: &File, length: u64) -> io::Result<Vec<u8>> {
    let mut head = vec![0u8; usize::try_from(length).unwrap_or(0)];
    let mut filled = 0;
    while filled < head.len() {
        let read = file.read_at(&mut head[filled..], filled as u64)?;
        if read == 0 {
            break;
        }
        filled += read;
    }
    head.truncate(filled);
    Ok(head)
}

/// An entry's id for this process's lifetime.
pub type EntryId = u64;

#[derive(Debug, Clone)]
struct Entry {
    /// The target path the file was found at (its `filename` label).
    path: PathBuf,
    identity: FileIdentity,
    fingerprint: Fingerprint,
    /// Smallest offset every client acknowledged.
    committed: u64,
    /// Per client, the offset acknowledged.
    acked: Vec<u64>,
    /// Offset up to which lines were handed to the clients.
    read: u64,
    /// A tailer holds the entry.
    active: bool,
    /// Its file was seen truncated or rewritten in place (copytruncate): the rest
    /// of its lines are in a copy.
    truncated: bool,
}

/// What [`Positions::claim`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// Read from `offset` under `id`.
    Tail {
        /// The entry.
        id: EntryId,
        /// Where reading starts.
        offset: u64,
    },
    /// Another tailer is reading this file.
    Busy,
}

/// A file holding an entry's unread bytes, found away from the entry's path.
#[derive(Debug)]
pub struct Located {
    /// The entry.
    pub id: EntryId,
    /// The entry's target path (for labels).
    pub label_path: PathBuf,
    /// Where the file is now.
    pub found_at: PathBuf,
    /// The open file.
    pub file: File,
    /// Where reading resumes.
    pub offset: u64,
}

/// Why the positions file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PositionsError {
    /// Reading or writing failed.
    #[error("positions file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The file is not a positions file of a known version.
    #[error("positions file {path} is not valid: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

#[derive(Debug, Serialize, Deserialize)]
struct PositionsFile {
    version: u32,
    positions: Vec<StoredPosition>,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredPosition {
    path: PathBuf,
    device: u64,
    inode: u64,
    fingerprint: String,
    fingerprint_bytes: u32,
    offset: u64,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<EntryId, Entry>,
    next_id: EntryId,
    /// Committed offsets changed since the last write.
    dirty: bool,
}

/// The positions of every tailed file; shared by tailers and clients.
#[derive(Debug)]
pub struct Positions {
    file: PathBuf,
    clients: usize,
    inner: Mutex<Inner>,
    write_lock: tokio::sync::Mutex<()>,
}

impl Positions {
    /// Loads `file` (missing: empty) for `clients` clients.
    pub fn load(file: &Path, clients: usize) -> Result<Positions, PositionsError> {
        let mut inner = Inner::default();
        match std::fs::read(file) {
            Ok(bytes) => {
                let stored: PositionsFile =
                    serde_json::from_slice(&bytes).map_err(|error| PositionsError::Invalid {
                        path: file.to_owned(),
                        message: error.to_string(),
                    })?;
                if stored.version != 1 {
                    return Err(PositionsError::Invalid {
                        path: file.to_owned(),
                        message: format!("version {} is not 1", stored.version),
                    });
                }
                for position in stored.positions {
                    let hash = u64::from_str_radix(&position.fingerprint, 16).map_err(|_| {
                        PositionsError::Invalid {
                            path: file.to_owned(),
                            message: format!("fingerprint {:?} is not hex", position.fingerprint),
                        }
                    })?;
                    let id = inner.next_id;
                    inner.next_id += 1;
                    inner.entries.insert(
                        id,
                        Entry {
                            path: position.path,
                            identity: FileIdentity {
                                device: position.device,
                                inode: position.inode,
                            },
                            fingerprint: Fingerprint {
                                hash,
                                length: position.fingerprint_bytes,
                            },
                            committed: position.offset,
                            acked: vec![position.offset; clients],
                            read: position.offset,
                            active: false,
                            truncated: false,
                        },
                    );
                }
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(PositionsError::Io {
                    path: file.to_owned(),
                    source,
                });
            }
        }
        if let Some(parent) = file.parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|source| PositionsError::Io {
                path: file.to_owned(),
                source,
            })?;
        }
        Ok(Positions {
            file: file.to_owned(),
            clients,
            inner: Mutex::new(inner),
            write_lock: tokio::sync::Mutex::new(()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave an entry half-written (every
        // update is a few assignments); keep going with the data.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Finds or creates the entry of `file` (open, at `path`, `size` bytes) and marks
    /// it active.
    pub fn claim(&self, path: &Path, file: &File, size: u64) -> io::Result<Claim> {
        let identity = FileIdentity::of(&file.metadata()?);
        let mut inner = self.lock();
        // The same inode with the same first bytes: the same file, maybe renamed.
        let mut same_inode: Option<EntryId> = None;
        for (id, entry) in &inner.entries {
            if entry.identity == identity && entry.fingerprint.matches(file, size)? {
                if entry.active {
                    return Ok(Claim::Busy);
                }
                if size >= entry.read {
                    same_inode = Some(*id);
                }
            }
        }
        if let Some(id) = same_inode {
            let entry = inner
                .entries
                .get_mut(&id)
                .ok_or_else(|| io::Error::other("entry vanished"))?;
            entry.active = true;
            return Ok(Claim::Tail {
                id,
                offset: entry.read,
            });
        }
        // Another inode named like a rotation of an entry's file, holding (or being
        // filled with) the same first bytes: a copy (copytruncate). Wait while the
        // copy is being written or the original not yet truncated; then continue the
        // entry where it stopped.
        let mut copy_of: Option<(EntryId, u64)> = None;
        for (id, entry) in &inner.entries {
            if entry.identity == identity || !is_rotation_sibling(&entry.path, path) {
                continue;
            }
            match copy_status(entry, file, size)? {
                CopyStatus::NotCopy => {}
                CopyStatus::Wait => return Ok(Claim::Busy),
                CopyStatus::Copy => {
                    if copy_of.is_none_or(|(_, read)| entry.read > read) {
                        copy_of = Some((*id, entry.read));
                    }
                }
            }
        }
        if let Some((id, offset)) = copy_of {
            let entry = inner
                .entries
                .get_mut(&id)
                .ok_or_else(|| io::Error::other("entry vanished"))?;
            entry.identity = identity;
            entry.active = true;
            entry.truncated = false;
            inner.dirty = true;
            return Ok(Claim::Tail { id, offset });
        }
        let fingerprint = Fingerprint::of(file, size)?;
        let id = inner.next_id;
        inner.next_id += 1;
        inner.entries.insert(
            id,
            Entry {
                path: path.to_owned(),
                identity,
                fingerprint,
                committed: 0,
                acked: vec![0; self.clients],
                read: 0,
                active: true,
                truncated: false,
            },
        );
        inner.dirty = true;
        Ok(Claim::Tail { id, offset: 0 })
    }

    /// Records that lines up to `offset` of `id` were handed to the clients.
    pub fn set_read(&self, id: EntryId, offset: u64) {
        if let Some(entry) = self.lock().entries.get_mut(&id) {
            entry.read = offset;
        }
    }

    /// Replaces the fingerprint of `id` (it grew towards [`FINGERPRINT_BYTES`]).
    pub fn set_fingerprint(&self, id: EntryId, fingerprint: Fingerprint) {
        let mut inner = self.lock();
        if let Some(entry) = inner.entries.get_mut(&id)
            && entry.fingerprint != fingerprint
        {
            entry.fingerprint = fingerprint;
            inner.dirty = true;
        }
    }

    /// The fingerprint of `id`.
    pub fn fingerprint(&self, id: EntryId) -> Option<Fingerprint> {
        self.lock().entries.get(&id).map(|entry| entry.fingerprint)
    }

    /// The file of `id` was found truncated or rewritten in place: its remaining
    /// lines are looked for in a copy.
    pub fn mark_truncated(&self, id: EntryId) {
        if let Some(entry) = self.lock().entries.get_mut(&id) {
            entry.truncated = true;
        }
    }

    /// The tailer of `id` stopped reading it (its lines up to `read` were handed on).
    pub fn release(&self, id: EntryId) {
        if let Some(entry) = self.lock().entries.get_mut(&id) {
            entry.active = false;
        }
    }

    /// Client `client` acknowledged lines of `id` up to `offset`.
    pub fn ack(&self, client: usize, id: EntryId, offset: u64) {
        let mut inner = self.lock();
        let Some(entry) = inner.entries.get_mut(&id) else {
            return;
        };
        if let Some(acked) = entry.acked.get_mut(client) {
            *acked = (*acked).max(offset);
        }
        let committed = entry.acked.iter().copied().min().unwrap_or(offset);
        if committed > entry.committed {
            entry.committed = committed;
            inner.dirty = true;
        }
    }

    /// The committed offset of `id`.
    pub fn committed(&self, id: EntryId) -> Option<u64> {
        self.lock().entries.get(&id).map(|entry| entry.committed)
    }

    /// Inactive entries of `owned` target paths with unread bytes in a file found
    /// in their directory by inode (renamed) or by fingerprint (copied); each one
    /// returned is marked active. A file found at a path that is itself a target
    /// (`owned`) is left to that target's follower. Entries found nowhere are
    /// forgotten.
    pub fn locate_orphans(&self, owned: &dyn Fn(&Path) -> bool) -> Vec<Located> {
        let mut inner = self.lock();
        let mut located = Vec::new();
        let mut forget = Vec::new();
        for (id, entry) in inner.entries.iter_mut() {
            if entry.active || still_at_own_inode(entry) {
                continue;
            }
            match find_in_directory(entry) {
                Found::Pending => {}
                Found::At(found_at, file, identity) => {
                    entry.identity = identity;
                    let size = file.metadata().map(|metadata| metadata.len()).unwrap_or(0);
                    if size > entry.read && owned(&entry.path) && !owned(&found_at) {
                        entry.active = true;
                        located.push(Located {
                            id: *id,
                            label_path: entry.path.clone(),
                            found_at,
                            file,
                            offset: entry.read,
                        });
                    }
                }
                Found::Nowhere => forget.push(*id),
            }
        }
        for id in &forget {
            inner.entries.remove(id);
        }
        if !forget.is_empty() {
            inner.dirty = true;
        }
        located
    }

    /// Writes the committed offsets if they changed: a temporary file, fsync, rename
    /// over the positions file, fsync of its directory.
    pub async fn persist(&self) -> Result<(), PositionsError> {
        let _writing = self.write_lock.lock().await;
        let snapshot = {
            let mut inner = self.lock();
            if !inner.dirty {
                return Ok(());
            }
            inner.dirty = false;
            let mut positions: Vec<StoredPosition> = inner
                .entries
                .values()
                .map(|entry| StoredPosition {
                    path: entry.path.clone(),
                    device: entry.identity.device,
                    inode: entry.identity.inode,
                    fingerprint: format!("{:016x}", entry.fingerprint.hash),
                    fingerprint_bytes: entry.fingerprint.length,
                    offset: entry.committed,
                })
                .collect();
            positions.sort_by(|a, b| a.path.cmp(&b.path).then(a.inode.cmp(&b.inode)));
            PositionsFile {
                version: 1,
                positions,
            }
        };
        let path = self.file.clone();
        let written = tokio::task::spawn_blocking(move || write_atomically(&path, &snapshot))
            .await
            .map_err(|error| io::Error::other(error.to_string()))
            .and_then(|result| result);
        if let Err(source) = written {
            self.lock().dirty = true;
            return Err(PositionsError::Io {
                path: self.file.clone(),
                source,
            });
        }
        Ok(())
    }
}

/// Whether `candidate` is named like a rotation of `original`: the same directory
/// and a name starting with the original's name up to its first dot (`app.log` ->
/// `app.log.1`, `app.log-20240101`, `app-20240101.log`).
fn is_rotation_sibling(original: &Path, candidate: &Path) -> bool {
    if original.parent() != candidate.parent() {
        return false;
    }
    let (Some(original), Some(candidate)) = (
        original.file_name().and_then(|name| name.to_str()),
        candidate.file_name().and_then(|name| name.to_str()),
    ) else {
        return false;
    };
    let stem = match original.find('.') {
        Some(0) | None => original,
        Some(dot) => &original[..dot],
    };
    candidate.starts_with(stem)
}

/// The entry's file, opened at its path, when it is still its own inode with the bytes
/// of its fingerprint; `None` when it is not (or cannot be opened).
fn intact_original(entry: &Entry) -> io::Result<Option<File>> {
    let Ok(file) = File::open(&entry.path) else {
        return Ok(None);
    };
    let metadata = file.metadata()?;
    let intact = FileIdentity::of(&metadata) == entry.identity
        && entry.fingerprint.matches(&file, metadata.len())?;
    Ok(intact.then_some(file))
}

fn still_at_own_inode(entry: &Entry) -> bool {
    intact_original(entry).is_ok_and(|original| original.is_some())
}

enum Found {
    /// The entry's bytes are in this file.
    At(PathBuf, File, FileIdentity),
    /// A copy is being written.
    Pending,
    /// Nowhere.
    Nowhere,
}

/// A file in the entry's directory with its inode and fingerprint (renamed), or a
/// copy of it (copytruncate).
fn find_in_directory(entry: &Entry) -> Found {
    let Some(directory) = entry.path.parent() else {
        return Found::Nowhere;
    };
    let Ok(items) = std::fs::read_dir(directory) else {
        return Found::Nowhere;
    };
    let mut copy: Option<(PathBuf, File, FileIdentity)> = None;
    let mut pending = false;
    for item in items.flatten() {
        let path = item.path();
        if crate::glob::is_compressed(&path) || !item.file_type().is_ok_and(|kind| kind.is_file()) {
            continue;
        }
        let Ok(file) = File::open(&path) else {
            continue;
        };
        let Ok(metadata) = file.metadata() else {
            continue;
        };
        let identity = FileIdentity::of(&metadata);
        if identity == entry.identity {
            if metadata.len() >= entry.read
                && entry
                    .fingerprint
                    .matches(&file, metadata.len())
                    .unwrap_or(false)
            {
                return Found::At(path, file, identity);
            }
            continue;
        }
        if copy.is_some() || !is_rotation_sibling(&entry.path, &path) {
            continue;
        }
        match copy_status(entry, &file, metadata.len()) {
            Ok(CopyStatus::Copy) => copy = Some((path, file, identity)),
            Ok(CopyStatus::Wait) => pending = true,
            _ => {}
        }
    }
    match copy {
        Some((path, file, identity)) => Found::At(path, file, identity),
        None if pending => Found::Pending,
        None => Found::Nowhere,
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum CopyStatus {
    NotCopy,
    /// Maybe a copy still being written, or of a file not yet truncated.
    Wait,
    Copy,
}

/// A copy being written is recognised by being modified within this long.
const COPY_IN_PROGRESS: std::time::Duration = std::time::Duration::from_secs(2);

/// Whether `candidate` (another inode, named like a rotation of the entry's file)
/// is a copy of the entry's file.
fn copy_status(entry: &Entry, candidate: &File, size: u64) -> io::Result<CopyStatus> {
    let recently_modified = || {
        candidate
            .metadata()
            .and_then(|metadata| metadata.modified())
            .ok()
            .and_then(|modified| modified.elapsed().ok())
            .is_some_and(|age| age < COPY_IN_PROGRESS)
    };
    let prefix_matches = size >= u64::from(entry.fingerprint.length)
        && entry.fingerprint.matches(candidate, size)?;
    if entry.fingerprint.length >= MIN_CROSS_INODE_FINGERPRINT_BYTES
        && prefix_matches
        && still_at_own_inode(entry)
    {
        // Copied, not yet truncated (or a plain copy: it waits as long as the
        // original holds the same bytes).
        return Ok(CopyStatus::Wait);
    }
    if size < u64::from(entry.fingerprint.length)
        && recently_modified()
        && starts_the_original(entry, candidate, size)?
    {
        // A copy being written, still shorter than the fingerprint, of a file not
        // yet truncated: what it holds so far is how the original starts.
        return Ok(CopyStatus::Wait);
    }
    if !(entry.truncated || lost_in_place(entry)) {
        return Ok(CopyStatus::NotCopy);
    }
    if size == 0 || size < u64::from(entry.fingerprint.length) {
        return Ok(if recently_modified() {
            CopyStatus::Wait
        } else {
            CopyStatus::NotCopy
        });
    }
    if !prefix_matches || entry.fingerprint.length == 0 {
        return Ok(CopyStatus::NotCopy);
    }
    if entry.active || (size < entry.read && recently_modified()) {
        return Ok(CopyStatus::Wait);
    }
    Ok(CopyStatus::Copy)
}

/// Whether the entry's file is still at its path, with the bytes of its fingerprint,
/// and its first `size` bytes are those of `candidate`.
fn starts_the_original(entry: &Entry, candidate: &File, size: u64) -> io::Result<bool> {
    let Some(original) = intact_original(entry)? else {
        return Ok(false);
    };
    let copied = read_head(candidate, size)?;
    Ok(copied.len() as u64 == size && read_head(&original, size)? == copied)
}

/// Whether the entry's own inode is still at its path with other bytes (truncated
/// or rewritten in place).
fn lost_in_place(entry: &Entry) -> bool {
    let Ok(file) = File::open(&entry.path) else {
        return false;
    };
    let Ok(metadata) = file.metadata() else {
        return false;
    };
    FileIdentity::of(&metadata) == entry.identity
        && !entry
            .fingerprint
            .matches(&file, metadata.len())
            .unwrap_or(true)
}

fn write_atomically(path: &Path, positions: &PositionsFile) -> io::Result<()> {
    let bytes = serde_json::to_vec_pretty(positions).map_err(io::Error::other)?;
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    {
        let mut file = File::create(&temporary)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&temporary, path)?;
    if let Some(parent) = path.parent() {
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        File::open(parent)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
