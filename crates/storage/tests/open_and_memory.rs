//! Opening stores from configuration, and many random blocks round-tripping through an
//! in-memory object store.

#[path = "support/random_spans.rs"]
mod random_spans;

use futures::TryStreamExt;
use weft_model::{KeyValue, Span, TenantId};
use weft_storage::{
    BlockReader, BlockStore, BlockWriteOptions, RowGroupRows, StorageError, block_order,
};

use random_spans::random_spans;

fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).expect("valid tenant")
}

fn sorted(spans: &[Span]) -> Vec<Span> {
    let mut sorted = spans.to_vec();
    sorted.sort_by(block_order);
    sorted
}

async fn all_spans(reader: &dyn BlockReader) -> Vec<Span> {
    let chunks: Vec<Vec<Span>> = reader.spans().try_collect().await.expect("spans stream");
    chunks.into_iter().flatten().collect()
}

#[tokio::test]
async fn open_block_store_opens_local_and_checks_s3_at_open() {
    use weft_storage::{BackendKind, S3Config, StorageBackendConfig, open_block_store};
    let directory = tempfile::tempdir().expect("temp dir");
    let local = open_block_store(&StorageBackendConfig::default(), directory.path())
        .await
        .expect("local store");
    assert!(local.tenants().await.expect("tenants").is_empty());

    let mut config = StorageBackendConfig {
        backend: BackendKind::S3,
        ..StorageBackendConfig::default()
    };
    let error = open_block_store(&config, directory.path())
        .await
        .expect_err("no bucket");
    assert!(matches!(error, StorageError::Config(_)), "{error}");

    // Without credentials the AWS client would ask the instance metadata service, which
    // is not on this machine; only probe endpoints when credentials are given.
    if std::env::var("AWS_ACCESS_KEY_ID").is_err() {
        eprintln!("note: AWS_ACCESS_KEY_ID is not set, skipping the S3 reachability checks");
        return;
    }
    config.s3 = S3Config {
        bucket: String::from("weft-missing-bucket"),
        endpoint: String::from("http://127.0.0.1:9"),
        region: String::from("us-east-1"),
        prefix: String::new(),
        allow_http: true,
    };
    let error = open_block_store(&config, directory.path())
        .await
        .expect_err("nothing listens on port 9");
    let text = error.to_string();
    assert!(
        matches!(error, StorageError::Unreachable { .. })
            && text.contains("http://127.0.0.1:9")
            && text.contains("weft-missing-bucket"),
        "{text}"
    );
    if let Ok(endpoint) = std::env::var("WEFT_TEST_S3_ENDPOINT") {
        config.s3.endpoint = endpoint.clone();
        let error = open_block_store(&config, directory.path())
            .await
            .expect_err("the bucket does not exist");
        assert!(error.to_string().contains("weft-missing-bucket"), "{error}");
        config.s3.bucket =
            std::env::var("WEFT_TEST_S3_BUCKET").unwrap_or_else(|_| String::from("weft"));
        let store = open_block_store(&config, directory.path())
            .await
            .expect("the test bucket is reachable");
        store.tenants().await.expect("lists");
    }
}

#[tokio::test]
async fn many_random_blocks_round_trip_exactly_in_memory() {
    use std::sync::Arc;
    use weft_model::AttributeValue;
    use weft_storage::{CacheConfig, ObjectBlockStore};
    for seed in 100..108u64 {
        let rows = RowGroupRows {
            target_rows: 1 + (seed as usize % 4) * 40,
            max_rows: 1 + (seed as usize % 3) * 90,
        };
        let store = ObjectBlockStore::from_object_store(
            Arc::new(object_store::memory::InMemory::new()),
            object_store::path::Path::from("blocks"),
            CacheConfig::default(),
        )
        .with_row_group_rows(rows);
        let mut spans = random_spans(seed, 120, 25);
        // NaN is not equal to itself, so check its bits separately.
        spans[0]
            .attributes
            .push(KeyValue::new("nan", AttributeValue::Double(f64::NAN)));
        let tenant = tenant("memory");
        let meta = store
            .write_block(&tenant, &spans, &BlockWriteOptions::default())
            .await
            .expect("written")
            .expect("not empty");
        let reader = store
            .open_block(&tenant, meta.block_id)
            .await
            .expect("opens");
        let mut read = all_spans(reader.as_ref()).await;
        let mut expected = sorted(&spans);
        let take_nan = |spans: &mut Vec<Span>| -> u64 {
            let span = spans
                .iter_mut()
                .find(|span| {
                    span.attributes
                        .iter()
                        .any(|attribute| attribute.key == "nan")
                })
                .expect("the NaN span");
            let position = span
                .attributes
                .iter()
                .position(|attribute| attribute.key == "nan")
                .expect("the NaN attribute");
            match span.attributes.remove(position).value {
                AttributeValue::Double(value) => value.to_bits(),
                other => panic!("NaN came back as {other:?}"),
            }
        };
        assert_eq!(take_nan(&mut read), take_nan(&mut expected), "seed {seed}");
        assert_eq!(read, expected, "seed {seed} with {rows:?}");
    }
}
