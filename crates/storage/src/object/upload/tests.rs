//! [`FileUpload`] and [`abort_marked_uploads`] against the in-memory store, which has
//! the multipart API (the S3 run of the shared suite covers a real server).

use std::sync::Arc;

use futures::TryStreamExt;
use object_store::memory::InMemory;
use weft_model::TenantId;

use super::*;
use crate::block_id::BlockId;
use crate::config::CacheConfig;
use crate::object::{DATA_FILE, ObjectBlockStore};
use crate::store::BlockStore;

fn in_memory() -> (Arc<InMemory>, Shared) {
    let store = Arc::new(InMemory::new());
    let shared = Shared::new(store.clone(), &CacheConfig::default()).with_multipart(store.clone());
    (store, shared)
}

/// `length` bytes that differ from part to part.
fn content(length: usize) -> Bytes {
    (0..length)
        .map(|index| (index / 7 + index / 4099) as u8)
        .collect::<Vec<u8>>()
        .into()
}

async fn write_in_chunks(upload: &mut FileUpload, bytes: &Bytes) {
    for chunk in bytes.chunks(3 * 1024 * 1024 + 17) {
        AsyncFileWriter::write(upload, Bytes::copy_from_slice(chunk))
            .await
            .expect("write");
    }
}

async fn paths(store: &InMemory, prefix: &Path) -> Vec<String> {
    let objects: Vec<ObjectMeta> = store.list(Some(prefix)).try_collect().await.expect("list");
    let mut paths: Vec<String> = objects
        .into_iter()
        .map(|object| object.location.to_string())
        .collect();
    paths.sort();
    paths
}

async fn stored_bytes(store: &InMemory, location: &Path) -> Bytes {
    store
        .get(location)
        .await
        .expect("get")
        .bytes()
        .await
        .expect("bytes")
}

async fn read_marker(store: &InMemory, marker: &Path) -> UploadMarker {
    let bytes = store
        .get(marker)
        .await
        .expect("marker exists")
        .bytes()
        .await
        .expect("marker reads");
    serde_json::from_slice(&bytes).expect("marker parses")
}

async fn upload_is_open(store: &InMemory, marker: &UploadMarker) -> bool {
    let path = Path::parse(&marker.path).expect("path");
    store
        .put_part(
            &path,
            &marker.upload_id,
            500,
            PutPayload::from_static(b"probe"),
        )
        .await
        .is_ok()
}

#[tokio::test]
async fn a_file_below_the_part_size_is_one_put_without_a_marker() {
    let (store, shared) = in_memory();
    let block = Path::from("tenant/block");
    let mut upload = FileUpload::new(&shared, &block, DATA_FILE);
    let bytes = content(PART_BYTES - 1);
    write_in_chunks(&mut upload, &bytes).await;
    assert!(paths(&store, &block).await.is_empty(), "nothing sent yet");
    AsyncFileWriter::complete(&mut upload)
        .await
        .expect("complete");
    assert_eq!(
        paths(&store, &block).await,
        vec!["tenant/block/data.parquet"]
    );
    let stored = stored_bytes(&store, &block.clone().join(DATA_FILE)).await;
    assert_eq!(stored, bytes);
}

#[tokio::test]
async fn a_large_file_goes_up_in_parts_tracked_by_a_marker_until_complete() {
    let (store, shared) = in_memory();
    let block = Path::from("tenant/block");
    let mut upload = FileUpload::new(&shared, &block, DATA_FILE);
    let bytes = content(2 * PART_BYTES + 12_345);
    write_in_chunks(&mut upload, &bytes).await;
    let marker_location = marker_path(&block, DATA_FILE);
    assert_eq!(
        paths(&store, &block).await,
        vec!["tenant/block/uploads/data.parquet.json"]
    );
    let marker = read_marker(&store, &marker_location).await;
    assert_eq!(marker.path, "tenant/block/data.parquet");
    AsyncFileWriter::complete(&mut upload)
        .await
        .expect("complete");
    assert_eq!(
        paths(&store, &block).await,
        vec!["tenant/block/data.parquet"],
        "the marker goes once the upload is complete"
    );
    let stored = stored_bytes(&store, &block.clone().join(DATA_FILE)).await;
    assert_eq!(stored, bytes, "parts in order, none lost");
    assert!(!upload_is_open(&store, &marker).await);
    assert!(
        AsyncFileWriter::write(&mut upload, Bytes::from_static(b"late"))
            .await
            .is_err(),
        "no writes after completion"
    );
    upload
        .abort()
        .await
        .expect("abort after completion is a no-op");
    assert_eq!(
        paths(&store, &block).await,
        vec!["tenant/block/data.parquet"]
    );
}

#[tokio::test]
async fn abort_cancels_the_upload_and_removes_its_marker() {
    let (store, shared) = in_memory();
    let block = Path::from("tenant/block");
    let mut upload = FileUpload::new(&shared, &block, DATA_FILE);
    write_in_chunks(&mut upload, &content(PART_BYTES + 1)).await;
    let marker = read_marker(&store, &marker_path(&block, DATA_FILE)).await;
    assert!(upload_is_open(&store, &marker).await);
    upload.abort().await.expect("abort");
    assert!(!upload_is_open(&store, &marker).await);
    assert!(paths(&store, &block).await.is_empty());
}

#[tokio::test]
async fn deleting_a_block_aborts_the_upload_a_killed_writer_left_open() {
    let store = Arc::new(InMemory::new());
    let blocks = ObjectBlockStore::from_multipart_store(
        store.clone(),
        Path::from("root"),
        CacheConfig::default(),
    );
    let tenant = TenantId::parse("team-a").expect("tenant");
    let block_id = BlockId::from_parts(1, 2);
    let block = blocks.block_prefix(&tenant, block_id);
    let mut upload = FileUpload::new(&blocks.shared, &block, DATA_FILE);
    write_in_chunks(&mut upload, &content(PART_BYTES + 1)).await;
    // The kill: neither completed nor aborted.
    drop(upload);
    let marker = read_marker(&store, &marker_path(&block, DATA_FILE)).await;
    assert!(upload_is_open(&store, &marker).await);
    let listing = blocks.list_blocks(&tenant).await.expect("list");
    assert!(listing.complete.is_empty());
    assert_eq!(
        listing
            .incomplete
            .iter()
            .map(|(id, _)| *id)
            .collect::<Vec<_>>(),
        vec![block_id],
        "a block holding only a marker is incomplete"
    );
    blocks
        .delete_block(&tenant, block_id)
        .await
        .expect("delete");
    assert!(!upload_is_open(&store, &marker).await, "upload aborted");
    assert!(paths(&store, &block).await.is_empty());
    // A second deletion finds nothing to abort.
    blocks
        .delete_block(&tenant, block_id)
        .await
        .expect("delete again");
}

#[tokio::test]
async fn markers_that_do_not_parse_or_point_outside_their_block_are_skipped() {
    let (store, shared) = in_memory();
    let block = Path::from("tenant/block");
    let other = Path::from("tenant/other");
    let mut upload = FileUpload::new(&shared, &other, DATA_FILE);
    write_in_chunks(&mut upload, &content(PART_BYTES + 1)).await;
    let foreign = read_marker(&store, &marker_path(&other, DATA_FILE)).await;
    let garbage = marker_path(&block, "bloom");
    store
        .put(&garbage, PutPayload::from_static(b"{not json"))
        .await
        .expect("put");
    let misplaced = marker_path(&block, DATA_FILE);
    store
        .put(
            &misplaced,
            PutPayload::from(serde_json::to_vec(&foreign).expect("json")),
        )
        .await
        .expect("put");
    let objects: Vec<ObjectMeta> = store.list(Some(&block)).try_collect().await.expect("list");
    let aborted = abort_marked_uploads(&shared, &block, &objects)
        .await
        .expect("skips, does not fail");
    assert_eq!(aborted, 0);
    assert!(
        upload_is_open(&store, &foreign).await,
        "an upload of another block is not touched"
    );
}
