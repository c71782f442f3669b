//! [`FileUpload`]: one block file on its way into the object store, and the abort of
//! the multipart uploads that a killed writer left open.
//!
//! A file larger than [`PART_BYTES`] goes up as a multipart upload. A process killed in
//! the middle leaves that upload open in the bucket, its parts stored (and billed) until
//! someone aborts it, and `object_store` has no call that lists open uploads. So on a
//! store that offers [`MultipartStore`] (S3; also GCS, Azure and the in-memory store),
//! [`FileUpload`] drives the upload itself and, before the first part goes up, writes a
//! marker `<block>/uploads/<file>.json` ([`UploadMarker`]) naming the object and the
//! upload id. The marker is deleted once the upload is completed or aborted; deleting
//! the block (the cleanup of incomplete blocks) first aborts the uploads its markers name
//! ([`abort_marked_uploads`]). Other stores (the local disk, where an interrupted upload
//! is a staging file that block deletion removes) use `object_store`'s `BufWriter`.

use std::sync::Arc;

use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use object_store::buffered::BufWriter;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::{MultipartId, ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::async_writer::AsyncFileWriter;
use parquet::errors::ParquetError;
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;

use super::file::Shared;
use crate::error::StorageError;

/// The directory inside a block that holds the markers of its open multipart uploads.
pub const UPLOADS_DIRECTORY: &str = "uploads";

/// Bytes per part of a multipart upload (the last part may be smaller). A file up to
/// this size is buffered and written with one PUT. The same as `BufWriter`'s default,
/// and above the 5 MiB minimum part size of S3.
pub const PART_BYTES: usize = 10 * 1024 * 1024;

/// Parts of one file uploading at once (as `BufWriter`): memory per file is bounded by
/// this many parts plus the part being filled.
const MAX_PARTS_IN_FLIGHT: usize = 8;

/// The content of `<block>/uploads/<file>.json`: an open multipart upload of a block
/// file (`docs/format/blocks-v1.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadMarker {
    /// The full object path the upload writes (inside the bucket, prefix included).
    pub path: String,
    /// The store's id of the multipart upload.
    pub upload_id: String,
}

/// The marker path of the upload of `file` in the block under `block_prefix`.
pub fn marker_path(block_prefix: &Path, file: &str) -> Path {
    block_prefix
        .clone()
        .join(UPLOADS_DIRECTORY)
        .join(format!("{file}.json"))
}

/// The writer of one block file. Dropping it without [`AsyncFileWriter::complete`] or
/// [`FileUpload::abort`] cancels parts in flight but leaves an open multipart upload
/// (and its marker) behind, as a kill would.
pub enum FileUpload {
    /// A store without [`MultipartStore`]: `object_store`'s adaptive writer.
    Buffered {
        /// The writer.
        writer: BufWriter,
        /// `complete` was called: the writer must not be aborted any more (it panics).
        completing: bool,
    },
    /// A store with [`MultipartStore`]: parts driven here, tracked by a marker.
    Tracked(TrackedUpload),
}

impl FileUpload {
    /// A writer of the object `block_prefix/file`.
    pub fn new(shared: &Shared, block_prefix: &Path, file: &str) -> FileUpload {
        let path = block_prefix.clone().join(file);
        match &shared.multipart {
            Some(multipart) => FileUpload::Tracked(TrackedUpload {
                store: shared.store.clone(),
                multipart: multipart.clone(),
                marker: marker_path(block_prefix, file),
                path,
                pending: Vec::new(),
                pending_bytes: 0,
                upload: None,
                closed: false,
            }),
            None => FileUpload::Buffered {
                writer: BufWriter::with_capacity(shared.store.clone(), path, PART_BYTES),
                completing: false,
            },
        }
    }

    /// Cancels the write: aborts an open multipart upload and deletes its marker. An
    /// error means an upload may still be open; its marker is then kept, so that the
    /// deletion of the block aborts it later. Failures of `BufWriter` aborts are only
    /// logged (the local backend's staging files go with the block directory).
    pub async fn abort(&mut self) -> Result<(), object_store::Error> {
        match self {
            FileUpload::Buffered { writer, completing } => {
                if !*completing && let Err(error) = writer.abort().await {
                    tracing::debug!(%error, "aborting an upload of an unfinished block");
                }
                *completing = true;
                Ok(())
            }
            FileUpload::Tracked(upload) => upload.abort().await,
        }
    }
}

impl AsyncFileWriter for FileUpload {
    fn write(&mut self, bytes: Bytes) -> BoxFuture<'_, parquet::errors::Result<()>> {
        match self {
            FileUpload::Buffered { writer, .. } => AsyncFileWriter::write(writer, bytes),
            FileUpload::Tracked(upload) => async move {
                upload
                    .write(bytes)
                    .await
                    .map_err(|error| ParquetError::External(Box::new(error)))
            }
            .boxed(),
        }
    }

    fn complete(&mut self) -> BoxFuture<'_, parquet::errors::Result<()>> {
        match self {
            FileUpload::Buffered { writer, completing } => {
                *completing = true;
                AsyncFileWriter::complete(writer)
            }
            FileUpload::Tracked(upload) => async move {
                upload
                    .complete()
                    .await
                    .map_err(|error| ParquetError::External(Box::new(error)))
            }
            .boxed(),
        }
    }
}

/// A file written in parts of [`PART_BYTES`] through [`MultipartStore`], with a marker
/// while its multipart upload is open.
pub struct TrackedUpload {
    store: Arc<dyn ObjectStore>,
    multipart: Arc<dyn MultipartStore>,
    path: Path,
    marker: Path,
    /// Bytes not yet sent, fewer than [`PART_BYTES`] (slices of the caller's buffers).
    pending: Vec<Bytes>,
    pending_bytes: usize,
    /// The multipart upload, once the first part was full.
    upload: Option<OpenUpload>,
    /// Completed or aborted: no more writes.
    closed: bool,
}

struct OpenUpload {
    id: MultipartId,
    /// Part ids by part index, `None` while the part is in flight.
    parts: Vec<Option<PartId>>,
    in_flight: JoinSet<Result<(usize, PartId), object_store::Error>>,
}

impl OpenUpload {
    /// Waits for one part in flight and records its id.
    async fn join_one(&mut self) -> Result<(), object_store::Error> {
        match self.in_flight.join_next().await {
            None => Ok(()),
            Some(Ok(Ok((index, part)))) => {
                if let Some(slot) = self.parts.get_mut(index) {
                    *slot = Some(part);
                }
                Ok(())
            }
            Some(Ok(Err(error))) => Err(error),
            Some(Err(source)) => Err(object_store::Error::JoinError { source }),
        }
    }
}

fn closed_error(path: &Path) -> object_store::Error {
    object_store::Error::Generic {
        store: "weft block writer",
        source: format!("the upload of {path} is already completed or aborted").into(),
    }
}

impl TrackedUpload {
    async fn write(&mut self, mut bytes: Bytes) -> Result<(), object_store::Error> {
        if self.closed {
            return Err(closed_error(&self.path));
        }
        while !bytes.is_empty() {
            let taken = (PART_BYTES - self.pending_bytes).min(bytes.len());
            self.pending.push(bytes.split_to(taken));
            self.pending_bytes += taken;
            if self.pending_bytes >= PART_BYTES {
                self.send_pending().await?;
            }
        }
        Ok(())
    }

    /// Starts the multipart upload and writes its marker. Without its marker nothing
    /// could find the upload again, so a failed marker write aborts it at once.
    async fn start(&self) -> Result<OpenUpload, object_store::Error> {
        let id = self.multipart.create_multipart(&self.path).await?;
        let marker = UploadMarker {
            path: self.path.to_string(),
            upload_id: id.clone(),
        };
        let written = match serde_json::to_vec(&marker) {
            Ok(json) => self
                .store
                .put(&self.marker, PutPayload::from(json))
                .await
                .map(drop),
            Err(error) => Err(object_store::Error::Generic {
                store: "weft block writer",
                source: Box::new(error),
            }),
        };
        if let Err(error) = written {
            if let Err(abort_error) = self.multipart.abort_multipart(&self.path, &id).await {
                tracing::warn!(path = %self.path, %abort_error, "cannot abort an upload whose marker was not written; it stays open");
            }
            return Err(error);
        }
        Ok(OpenUpload {
            id,
            parts: Vec::new(),
            in_flight: JoinSet::new(),
        })
    }

    /// Sends the pending bytes as the next part, starting the upload first if needed.
    async fn send_pending(&mut self) -> Result<(), object_store::Error> {
        let upload = match self.upload.take() {
            Some(upload) => upload,
            None => self.start().await?,
        };
        let upload = self.upload.insert(upload);
        while upload.in_flight.len() >= MAX_PARTS_IN_FLIGHT {
            upload.join_one().await?;
        }
        let part: PutPayload = self.pending.drain(..).collect();
        self.pending_bytes = 0;
        let index = upload.parts.len();
        upload.parts.push(None);
        let multipart = self.multipart.clone();
        let path = self.path.clone();
        let id = upload.id.clone();
        upload.in_flight.spawn(async move {
            let part_id = multipart.put_part(&path, &id, index, part).await?;
            Ok((index, part_id))
        });
        Ok(())
    }

    /// Writes what is left: one PUT for a file that never filled a part, else the last
    /// part, then completes the upload and deletes its marker. On error an open upload
    /// stays open for [`TrackedUpload::abort`].
    async fn complete(&mut self) -> Result<(), object_store::Error> {
        if self.closed {
            return Err(closed_error(&self.path));
        }
        if self.upload.is_none() {
            let payload: PutPayload = self.pending.drain(..).collect();
            self.pending_bytes = 0;
            self.store.put(&self.path, payload).await?;
            self.closed = true;
            return Ok(());
        }
        if self.pending_bytes > 0 {
            self.send_pending().await?;
        }
        let Some(upload) = self.upload.as_mut() else {
            return Err(closed_error(&self.path));
        };
        while !upload.in_flight.is_empty() {
            upload.join_one().await?;
        }
        let parts: Option<Vec<PartId>> = upload.parts.iter().cloned().collect();
        let Some(parts) = parts else {
            return Err(object_store::Error::Generic {
                store: "weft block writer",
                source: format!("a part of the upload of {} has no id", self.path).into(),
            });
        };
        self.multipart
            .complete_multipart(&self.path, &upload.id, parts)
            .await?;
        self.upload = None;
        self.closed = true;
        delete_if_present(self.store.as_ref(), &self.marker).await
    }

    async fn abort(&mut self) -> Result<(), object_store::Error> {
        self.closed = true;
        self.pending.clear();
        self.pending_bytes = 0;
        let Some(mut upload) = self.upload.take() else {
            return Ok(());
        };
        upload.in_flight.shutdown().await;
        match self.multipart.abort_multipart(&self.path, &upload.id).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(error) => {
                self.upload = Some(upload);
                return Err(error);
            }
        }
        delete_if_present(self.store.as_ref(), &self.marker).await
    }
}

async fn delete_if_present(
    store: &dyn ObjectStore,
    path: &Path,
) -> Result<(), object_store::Error> {
    match store.delete(path).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(error) => Err(error),
    }
}

/// Aborts the multipart uploads named by the markers among `objects` (the objects of the
/// block under `block_prefix`) and returns how many it aborted. An upload that is gone
/// already (completed, aborted, expired: the store says not found) is fine. Markers that
/// do not parse, or that name an object outside the block, are skipped with a warning.
/// Errors: a marker cannot be read, or an abort fails otherwise; the caller must then
/// keep the markers, so that a later attempt can abort their uploads.
pub async fn abort_marked_uploads(
    shared: &Shared,
    block_prefix: &Path,
    objects: &[ObjectMeta],
) -> Result<usize, StorageError> {
    let mut aborted = 0;
    for object in objects {
        let is_marker = object
            .location
            .prefix_match(block_prefix)
            .map(|parts| {
                parts
                    .map(|part| part.as_ref().to_owned())
                    .collect::<Vec<_>>()
            })
            .is_some_and(|parts| {
                matches!(parts.as_slice(), [directory, name]
                    if directory == UPLOADS_DIRECTORY && name.ends_with(".json"))
            });
        if !is_marker {
            continue;
        }
        let Some(bytes) = shared.get_optional(&object.location).await? else {
            continue;
        };
        let marker = match serde_json::from_slice::<UploadMarker>(&bytes) {
            Ok(marker) => marker,
            Err(error) => {
                tracing::warn!(marker = %object.location, %error, "skipping an upload marker that does not parse");
                continue;
            }
        };
        let upload_path = match Path::parse(&marker.path) {
            Ok(path) if path.prefix_match(block_prefix).is_some() => path,
            _ => {
                tracing::warn!(marker = %object.location, path = %marker.path, "skipping an upload marker that names an object outside its block");
                continue;
            }
        };
        let Some(multipart) = &shared.multipart else {
            tracing::warn!(marker = %object.location, "this store cannot abort multipart uploads; the upload stays open");
            continue;
        };
        match multipart
            .abort_multipart(&upload_path, &marker.upload_id)
            .await
        {
            Ok(()) => aborted += 1,
            Err(object_store::Error::NotFound { .. }) => {}
            Err(error) => {
                return Err(StorageError::object("abort the upload of", &upload_path)(
                    error,
                ));
            }
        }
    }
    Ok(aborted)
}

#[cfg(test)]
mod tests;
