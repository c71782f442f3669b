//! Metric names (Prometheus exposition on the agent's `/metrics`).

/// Counter of lines read, by `path`.
pub const READ_LINES_TOTAL: &str = "weft_tail_read_lines_total";
/// Counter of bytes read, by `path`.
pub const READ_BYTES_TOTAL: &str = "weft_tail_read_bytes_total";
/// Counter of lines cut at `max_line_size`, by `path`.
pub const LINES_TRUNCATED_TOTAL: &str = "weft_tail_lines_truncated_total";
/// Gauge: bytes of a file not yet acknowledged by every client (size minus committed
/// position), by `path`.
pub const POSITION_LAG_BYTES: &str = "weft_tail_position_lag_bytes";
/// Gauge: files being read.
pub const FILES_ACTIVE: &str = "weft_tail_files_active";
/// Counter of files found rotated (`kind`: `rename`, `truncate`).
pub const ROTATIONS_TOTAL: &str = "weft_tail_rotations_total";
/// Counter of batches acknowledged by the server, by `host`.
pub const SENT_BATCHES_TOTAL: &str = "weft_tail_sent_batches_total";
/// Counter of entries acknowledged by the server, by `host`.
pub const SENT_ENTRIES_TOTAL: &str = "weft_tail_sent_entries_total";
/// Counter of line bytes acknowledged by the server, by `host`.
pub const SENT_BYTES_TOTAL: &str = "weft_tail_sent_bytes_total";
/// Counter of push retries, by `host` and `reason` (`status_429`, `status_5xx`,
/// `connection`).
pub const BATCH_RETRIES_TOTAL: &str = "weft_tail_batch_retries_total";
/// Counter of entries given up, by `host` and `reason` (`status_4xx`,
/// `max_retries`).
pub const DROPPED_ENTRIES_TOTAL: &str = "weft_tail_dropped_entries_total";
/// Gauge: line bytes read and not yet acknowledged, by `host`.
pub const BUFFERED_BYTES: &str = "weft_tail_buffered_bytes";
/// Counter of entries a stage dropped on purpose (`drop`, `limit`, `json`'s
/// `drop_malformed`), by `job` and `reason`.
pub const DROPPED_BY_STAGE_TOTAL: &str = "weft_tail_stage_dropped_entries_total";
/// Counter of stage failures (the entry passes on unchanged), by `job` and `stage`.
pub const STAGE_ERRORS_TOTAL: &str = "weft_tail_stage_errors_total";
/// Counter of failed positions file writes.
pub const POSITIONS_WRITE_ERRORS_TOTAL: &str = "weft_tail_positions_write_errors_total";
/// Counter of targets refused (no `__path__`), by `job`.
pub const TARGETS_INVALID_TOTAL: &str = "weft_tail_targets_invalid_total";
