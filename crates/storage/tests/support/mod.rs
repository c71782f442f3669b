//! The backends the shared suite runs on: local always, S3 when configured.
// Each test binary uses a part of these helpers.
#![allow(dead_code)]

pub mod random_spans;

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::multipart::MultipartStore;
use object_store::path::Path;
use weft_storage::{CacheConfig, ObjectBlockStore, RowGroupRows, S3Config};

/// A block store under test plus raw access to its objects (for tampering).
pub struct Backend {
    pub store: ObjectBlockStore,
    pub raw: Arc<dyn ObjectStore>,
    /// The multipart API of `raw` (S3 only), to probe uploads the store left open.
    pub raw_multipart: Option<Arc<dyn MultipartStore>>,
    pub prefix: Path,
    pub name: &'static str,
    _directory: Option<tempfile::TempDir>,
}

impl Backend {
    /// The path of a block file.
    pub fn object(&self, tenant: &str, block: &str, file: &str) -> Path {
        self.prefix.clone().join(tenant).join(block).join(file)
    }
}

pub fn local(rows: RowGroupRows) -> Backend {
    let directory = tempfile::tempdir().expect("temp dir");
    let store = ObjectBlockStore::local(directory.path(), CacheConfig::default())
        .expect("local store")
        .with_row_group_rows(rows);
    let raw = LocalFileSystem::new_with_prefix(directory.path()).expect("raw local store");
    Backend {
        store,
        raw: Arc::new(raw),
        raw_multipart: None,
        prefix: Path::default(),
        name: "local",
        _directory: Some(directory),
    }
}

/// The S3 backend when `WEFT_TEST_S3_ENDPOINT` is set (bucket from
/// `WEFT_TEST_S3_BUCKET`, default `weft`; credentials and region from the AWS
/// variables), under a fresh random prefix. `None` (with a note) otherwise.
pub fn s3(rows: RowGroupRows) -> Option<Backend> {
    let Ok(endpoint) = std::env::var("WEFT_TEST_S3_ENDPOINT") else {
        eprintln!("note: WEFT_TEST_S3_ENDPOINT is not set, skipping the S3 run of this case");
        return None;
    };
    let bucket = std::env::var("WEFT_TEST_S3_BUCKET").unwrap_or_else(|_| String::from("weft"));
    let prefix = format!("test-{:016x}", rand_prefix());
    let config = S3Config {
        bucket: bucket.clone(),
        endpoint: endpoint.clone(),
        region: std::env::var("AWS_REGION").unwrap_or_else(|_| String::from("us-east-1")),
        prefix: prefix.clone(),
        allow_http: endpoint.starts_with("http://"),
    };
    let store = ObjectBlockStore::s3(&config, CacheConfig::default())
        .expect("s3 store")
        .with_row_group_rows(rows);
    let raw = AmazonS3Builder::from_env()
        .with_bucket_name(&bucket)
        .with_endpoint(&endpoint)
        .with_region(&config.region)
        .with_allow_http(config.allow_http)
        .with_virtual_hosted_style_request(false)
        .build()
        .expect("raw s3 store");
    let raw = Arc::new(raw);
    Some(Backend {
        store,
        raw: raw.clone(),
        raw_multipart: Some(raw),
        prefix: Path::from(prefix),
        name: "s3",
        _directory: None,
    })
}

fn rand_prefix() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos() as u64)
        .unwrap_or(0);
    nanos ^ (std::process::id() as u64).rotate_left(40) ^ (&nanos as *const u64 as u64)
}

/// Runs `case` on every available backend.
#[macro_export]
macro_rules! on_every_backend {
    ($rows:expr, $case:ident) => {
        mod $case {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test]
            async fn local() {
                super::$case(&super::support::local($rows)).await;
            }

            #[tokio::test]
            async fn s3() {
                if let Some(backend) = super::support::s3($rows) {
                    super::$case(&backend).await;
                }
            }
        }
    };
}
