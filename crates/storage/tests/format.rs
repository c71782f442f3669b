//! `data.parquet` and `traces.parquet` have exactly the columns `docs/format/blocks-v1.md`
//! documents.

use std::sync::Arc;

use weft_model::{Span, SpanId, TenantId, TraceId};
use weft_storage::{BlockStore, BlockWriteOptions, CacheConfig, ObjectBlockStore};

fn documented_columns(doc: &str, file: &str) -> Vec<String> {
    // The doc lists each file's top-level columns in a table under "### <file>".
    let section = doc
        .split("### ")
        .find(|section| section.starts_with(file))
        .unwrap_or_else(|| panic!("the doc has a section for {file}"));
    section
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split('`').next())
        .map(str::to_owned)
        .collect()
}

fn parquet_columns(path: &std::path::Path) -> Vec<String> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let file = std::fs::File::open(path).expect("open");
    let reader = SerializedFileReader::new(file).expect("parquet");
    let schema = reader.metadata().file_metadata().schema_descr_ptr();
    schema
        .root_schema()
        .get_fields()
        .iter()
        .map(|field| field.name().to_owned())
        .collect()
}

#[tokio::test]
async fn written_files_have_the_documented_columns() {
    let directory = tempfile::tempdir().expect("temp dir");
    let store = ObjectBlockStore::local(directory.path(), CacheConfig::default()).expect("store");
    let tenant = TenantId::single();
    let span = Span::new(TraceId::from_halves(1, 2), SpanId::from_u64(3), "op");
    let meta = store
        .write_block(&tenant, &[span], &BlockWriteOptions::default())
        .await
        .expect("written")
        .expect("not empty");
    let block = directory
        .path()
        .join(tenant.as_str())
        .join(meta.block_id.to_string());
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/format/blocks-v1.md"),
    )
    .expect("the format doc exists");
    for file in ["data.parquet", "traces.parquet"] {
        let documented = documented_columns(&doc, file);
        assert!(documented.len() > 5, "{file}: {documented:?}");
        assert_eq!(parquet_columns(&block.join(file)), documented, "{file}");
    }
    let _ = Arc::new(store);
}
