//! Small filesystem helpers: durable directory entries and positional reads.

use std::fs::File;
use std::io;
use std::path::Path;

use crate::error::StorageError;

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

/// Reads exactly `buffer.len()` bytes at `offset` without moving a shared cursor, so
/// several threads can read one file at once.
pub fn read_exact_at(file: &File, buffer: &mut [u8], offset: u64) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        file.read_exact_at(buffer, offset)
    }
    #[cfg(windows)]
    {
        use std::os::windows::fs::FileExt;
        let mut done = 0;
        while done < buffer.len() {
            let read = file.seek_read(&mut buffer[done..], offset + done as u64)?;
            if read == 0 {
                return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
            }
            done += read;
        }
        Ok(())
    }
}

/// Writes `bytes` to a new file at `path` and fsyncs it.
pub fn write_file_synced(path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
    use std::io::Write;
    let mut file = File::create(path).map_err(StorageError::io("create", path))?;
    file.write_all(bytes)
        .map_err(StorageError::io("write", path))?;
    file.sync_all().map_err(StorageError::io("fsync", path))?;
    Ok(())
}
