//! Helpers for this crate's unit tests.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// A new empty directory whose name contains `name`.
    pub fn new(name: &str) -> TempDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "weft-ingester-{name}-{}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_nanos())
        ));
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir(path)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `count` spans of trace `trace` of service `frontend` (one shared resource), span
/// ids from `first_span_id` on.
pub fn span_batch(trace: u64, first_span_id: u64, count: u64) -> weft_model::SpanBatch {
    use weft_model::{Resource, Span, SpanId, TraceId};
    let resource = std::sync::Arc::new(Resource::for_service("frontend"));
    let spans = (first_span_id..first_span_id + count)
        .map(|id| {
            let mut span = Span::new(TraceId::from_halves(0, trace), SpanId::from_u64(id), "op");
            span.resource = resource.clone();
            span.start_unix_nanos = 1_000;
            span
        })
        .collect::<Vec<_>>();
    weft_model::SpanBatch::from(spans)
}
