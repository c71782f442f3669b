//! S3 only (skipped without `WEFT_TEST_S3_ENDPOINT`): a block write killed in the middle
//! of a multipart upload leaves the upload open in the bucket, and the cleanup of
//! incomplete blocks aborts it, with no bucket lifecycle rule. The local backend has no
//! multipart uploads to leave behind (its staging files are covered in `block_store.rs`).

mod support;

use futures::StreamExt;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use weft_model::{KeyValue, Span, SpanId, TenantId, TraceId};
use weft_storage::{BlockStore, BlockWriteOptions, RowGroupRows, block_order};

use support::random_spans::Random;

/// Row groups of about 1 MB here, so the writer hands the upload data as it goes.
const ROWS: RowGroupRows = RowGroupRows {
    target_rows: 500,
    max_rows: 1_000,
};

/// 64 characters: random text over them carries 6 bits of entropy per byte.
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Spans of about 1.1 KB of incompressible Parquet each (random text of 1,500
/// characters), in block order: enough of them make `data.parquet` pass the 10 MiB at
/// which its multipart upload starts.
fn incompressible_spans(count: u64) -> Vec<Span> {
    let mut random = Random::new(0x5eed);
    let mut spans: Vec<Span> = (0..count)
        .map(|index| {
            let mut span = Span::new(
                TraceId::from_halves(0, index + 1),
                SpanId::from_u64(index + 1),
                "op",
            );
            span.start_unix_nanos = 1_000 + index;
            span.duration_nanos = 1;
            let noise: String = (0..150)
                .flat_map(|_| {
                    let word = random.next();
                    (0..10).map(move |digit| ALPHABET[(word >> (6 * digit)) as usize & 63] as char)
                })
                .collect();
            span.attributes.push(KeyValue::new("url.path", noise));
            span
        })
        .collect();
    spans.sort_by(block_order);
    spans
}

#[tokio::test]
async fn a_killed_multipart_block_write_is_aborted_by_the_cleanup_of_incomplete_blocks() {
    let Some(backend) = support::s3(ROWS) else {
        return;
    };
    let multipart = backend
        .raw_multipart
        .clone()
        .expect("the s3 backend has the multipart api");
    let tenant = TenantId::parse("killed-upload").expect("tenant");
    let mut writer = backend
        .store
        .writer(&tenant, &BlockWriteOptions::default())
        .await
        .expect("writer");
    let spans = incompressible_spans(16_000);
    let mut started = None;
    for chunk in spans.chunks(500) {
        writer.push(chunk).await.expect("push");
        // The upload's marker is the block's first object.
        let listing = backend.store.list_blocks(&tenant).await.expect("list");
        if let Some((block_id, _)) = listing.incomplete.first() {
            started = Some(*block_id);
            break;
        }
    }
    let block_id = started.expect("the write began a multipart upload");
    // A kill: the writer is neither finished nor aborted, and its destructor does not
    // abort the upload either (it only cancels parts in flight, as a kill does).
    drop(writer);

    let block = block_id.to_string();
    let marker = backend
        .object(tenant.as_str(), &block, "uploads")
        .join("data.parquet.json");
    let marker: serde_json::Value = serde_json::from_slice(
        &backend
            .raw
            .get(&marker)
            .await
            .expect("the upload marker exists")
            .bytes()
            .await
            .expect("marker reads"),
    )
    .expect("marker parses");
    let upload_path = Path::parse(marker["path"].as_str().expect("path")).expect("valid path");
    let upload_id = marker["upload_id"].as_str().expect("upload id").to_owned();
    assert_eq!(
        upload_path,
        backend.object(tenant.as_str(), &block, "data.parquet")
    );
    // The upload is still open: a part goes in (and costs storage until aborted).
    multipart
        .put_part(
            &upload_path,
            &upload_id,
            9_000,
            PutPayload::from_static(b"still open"),
        )
        .await
        .expect("the upload is still open after the kill");

    // The cleanup of incomplete blocks, as the compactor runs it with no grace.
    let listing = backend.store.list_blocks(&tenant).await.expect("list");
    assert!(listing.complete.is_empty());
    assert_eq!(
        listing
            .incomplete
            .iter()
            .map(|(id, _)| *id)
            .collect::<Vec<_>>(),
        vec![block_id]
    );
    for (incomplete, _) in &listing.incomplete {
        backend
            .store
            .delete_block(&tenant, *incomplete)
            .await
            .expect("cleanup deletes the incomplete block");
    }

    let probe = multipart
        .put_part(
            &upload_path,
            &upload_id,
            9_001,
            PutPayload::from_static(b"gone"),
        )
        .await;
    // S3 answers NoSuchUpload (404); s3s-fs answers AccessDenied (403) for an upload id
    // it no longer knows, having accepted the same id with the same credentials above.
    assert!(
        matches!(
            probe,
            Err(object_store::Error::NotFound { .. })
                | Err(object_store::Error::PermissionDenied { .. })
        ),
        "the upload is aborted: {probe:?}"
    );
    let left = backend
        .raw
        .list(Some(&backend.prefix.clone().join(tenant.as_str())))
        .collect::<Vec<_>>()
        .await;
    assert!(left.is_empty(), "the block's objects are gone: {left:?}");
    let listing = backend.store.list_blocks(&tenant).await.expect("list");
    assert!(listing.incomplete.is_empty() && listing.complete.is_empty());
}
