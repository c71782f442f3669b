//! The compactor's metrics, emitted through the `metrics` facade.
//!
//! - `weft_compactor_runs_total`: passes finished (successfully or not).
//! - `weft_compactor_run_seconds`: histogram of pass durations.
//! - `weft_compactor_jobs_total`: merges committed.
//! - `weft_compactor_blocks_compacted_total`: input blocks merged by committed merges.
//! - `weft_compactor_blocks_deleted_total{reason}`: blocks deleted, by reason:
//!   `compacted` (inputs right after their merge), `superseded` (inputs of an earlier
//!   merge that were not deleted then), `retention`, `orphan` (incomplete blocks).
//! - `weft_compactor_spans_deduplicated_total`: exact duplicate spans dropped.
//! - `weft_compactor_bytes_written_total`: span data bytes of the blocks written.
//! - `weft_compactor_failures_total{stage}`: failed steps (`list`, `meta`, `delete`,
//!   `merge`, `tenant`); the pass goes on with the next step or tenant.

use std::time::Duration;

/// Why a block was deleted (the `reason` label).
#[derive(Debug, Clone, Copy)]
pub(crate) enum DeleteReason {
    Compacted,
    Superseded,
    Retention,
    Orphan,
}

impl DeleteReason {
    fn label(self) -> &'static str {
        match self {
            DeleteReason::Compacted => "compacted",
            DeleteReason::Superseded => "superseded",
            DeleteReason::Retention => "retention",
            DeleteReason::Orphan => "orphan",
        }
    }
}

pub(crate) fn block_deleted(reason: DeleteReason) {
    metrics::counter!("weft_compactor_blocks_deleted_total", "reason" => reason.label())
        .increment(1);
}

pub(crate) fn failure(stage: &'static str) {
    metrics::counter!("weft_compactor_failures_total", "stage" => stage).increment(1);
}

pub(crate) fn job_committed(inputs: usize, spans_deduplicated: u64, bytes_written: u64) {
    metrics::counter!("weft_compactor_jobs_total").increment(1);
    metrics::counter!("weft_compactor_blocks_compacted_total").increment(inputs as u64);
    metrics::counter!("weft_compactor_spans_deduplicated_total").increment(spans_deduplicated);
    metrics::counter!("weft_compactor_bytes_written_total").increment(bytes_written);
}

pub(crate) fn run_finished(elapsed: Duration) {
    metrics::counter!("weft_compactor_runs_total").increment(1);
    metrics::histogram!("weft_compactor_run_seconds").record(elapsed.as_secs_f64());
}
