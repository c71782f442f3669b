//! Shared helpers for the ingester's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use weft_ingester::IngesterConfig;
use weft_model::{KeyValue, Resource, Span, SpanBatch, SpanId, SpanKind, TraceId};

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "weft-ingester-it-{name}-{}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            now_unix_nanos()
        ));
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn now_unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// A config rooted in `directory` that never cuts on its own during a test.
pub fn config(directory: &Path) -> IngesterConfig {
    IngesterConfig {
        storage_path: directory.to_owned(),
        max_block_duration: Duration::from_secs(3600),
        indexed_attribute_keys: vec![String::from("http.request.method")],
        ..IngesterConfig::default()
    }
}

pub fn trace_id(number: u64) -> TraceId {
    TraceId::from_halves(number.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1, number)
}

/// A span of `trace` with realistic attributes. Span 1 is the root; others are its
/// children. `start_unix_nanos` is absolute.
pub fn span(resource: &Arc<Resource>, trace: u64, id: u64, start_unix_nanos: u64) -> Span {
    let mut span = Span::new(
        trace_id(trace),
        SpanId::from_u64(id),
        format!("GET /api/{}", id % 5),
    );
    span.parent_span_id = (id != 1).then(|| SpanId::from_u64(1));
    span.kind = if id == 1 {
        SpanKind::Server
    } else {
        SpanKind::Client
    };
    span.start_unix_nanos = start_unix_nanos;
    span.duration_nanos = 1_000_000;
    span.attributes = vec![
        KeyValue::new("http.request.method", "GET"),
        KeyValue::new("http.route", "/api/items/{id}"),
        KeyValue::new("http.response.status_code", 200i64),
        KeyValue::new("server.address", "backend.internal"),
        KeyValue::new("url.path", format!("/api/items/{id}")),
        KeyValue::new("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64)"),
    ];
    span.resource = resource.clone();
    span
}

pub fn resource(service: &str) -> Arc<Resource> {
    let mut resource = Resource::for_service(service);
    resource
        .attributes
        .push(KeyValue::new("host.name", "host-1"));
    resource
        .attributes
        .push(KeyValue::new("telemetry.sdk.language", "rust"));
    Arc::new(resource)
}

/// `traces` traces (numbered from `first_trace`) of `spans_per_trace` spans each.
pub fn batch(
    service: &str,
    first_trace: u64,
    traces: u64,
    spans_per_trace: u64,
    start_unix_nanos: u64,
) -> SpanBatch {
    let resource = resource(service);
    let mut spans = Vec::new();
    for trace in first_trace..first_trace + traces {
        for id in 1..=spans_per_trace {
            spans.push(span(
                &resource,
                trace,
                id,
                start_unix_nanos + trace * 1_000 + id,
            ));
        }
    }
    SpanBatch::from(spans)
}

/// Names of the files in `directory` (sorted; empty when it does not exist).
pub fn files(directory: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(directory)
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok())
                .filter_map(|entry| entry.file_name().to_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}
