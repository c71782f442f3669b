//! Ingestion limits with Loki's semantics: token buckets for the per-tenant and
//! per-stream rates, Loki's byte-size wording, and the discard counters.
//!
//! Counters (one increment per refused entry, never per request):
//! `weft_logs_discarded_samples_total{reason, tenant}` and
//! `weft_logs_discarded_bytes_total{reason, tenant}`, with Loki's reason names
//! (`rate_limited`, `per_stream_rate_limit`, `stream_limit`, `line_too_long`, ...).
//! Memory: `weft_logs_head_bytes` (gauge) and `weft_logs_head_memory_flushes_total`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use weft_model::TenantId;

/// Counter of refused entries, by `reason` and `tenant`.
pub const DISCARDED_SAMPLES_TOTAL: &str = "weft_logs_discarded_samples_total";
/// Counter of the line bytes of refused entries, by `reason` and `tenant`.
pub const DISCARDED_BYTES_TOTAL: &str = "weft_logs_discarded_bytes_total";
/// Gauge of the bytes heads hold, as charged against `logs.max_head_bytes`.
pub const HEAD_BYTES: &str = "weft_logs_head_bytes";
/// Counter of head cuts forced by `logs.max_head_bytes`.
pub const HEAD_MEMORY_FLUSHES_TOTAL: &str = "weft_logs_head_memory_flushes_total";

/// Bytes in one MiB, as Loki counts `ingestion_rate_mb`.
pub const BYTES_PER_MIB: f64 = 1024.0 * 1024.0;

/// Why entries were refused: Loki's `reason` label values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DiscardReason {
    /// The tenant's ingestion rate.
    RateLimited,
    /// A stream's own rate.
    PerStreamRateLimit,
    /// The tenant's active stream limit.
    StreamLimit,
    /// A line over `max_line_size_bytes`.
    LineTooLong,
    /// Older than `reject_old_samples_max_age`.
    GreaterThanMaxSampleAge,
    /// Newer than now plus `creation_grace_period`.
    TooFarInFuture,
    /// Behind the stream's out-of-order window.
    TooFarBehind,
    /// Labels that do not parse or are not valid.
    InvalidLabels,
    /// A stream without labels.
    MissingLabels,
    /// More labels than `max_label_names_per_series`.
    MaxLabelNamesPerSeries,
    /// A label name over `max_label_name_length`.
    LabelNameTooLong,
    /// A label value over `max_label_value_length`.
    LabelValueTooLong,
    /// The heads are at `max_head_bytes` and cutting them did not make room.
    HeadMemoryFull,
}

impl DiscardReason {
    /// The `reason` label value (Loki's where Loki has one).
    pub fn as_str(self) -> &'static str {
        match self {
            DiscardReason::RateLimited => "rate_limited",
            DiscardReason::PerStreamRateLimit => "per_stream_rate_limit",
            DiscardReason::StreamLimit => "stream_limit",
            DiscardReason::LineTooLong => "line_too_long",
            DiscardReason::GreaterThanMaxSampleAge => "greater_than_max_sample_age",
            DiscardReason::TooFarInFuture => "too_far_in_future",
            DiscardReason::TooFarBehind => "too_far_behind",
            DiscardReason::InvalidLabels => "invalid_labels",
            DiscardReason::MissingLabels => "missing_labels",
            DiscardReason::MaxLabelNamesPerSeries => "max_label_names_per_series",
            DiscardReason::LabelNameTooLong => "label_name_too_long",
            DiscardReason::LabelValueTooLong => "label_value_too_long",
            DiscardReason::HeadMemoryFull => "head_memory_full",
        }
    }

    /// True for limits that retrying later can get past (Loki answers them 429).
    pub fn is_rate_limit(self) -> bool {
        matches!(
            self,
            DiscardReason::RateLimited
                | DiscardReason::PerStreamRateLimit
                | DiscardReason::StreamLimit
        )
    }
}

/// Counts `entries` refused entries of `bytes` line bytes for `tenant`.
pub fn record_discarded(reason: DiscardReason, tenant: &TenantId, entries: usize, bytes: usize) {
    if entries == 0 {
        return;
    }
    let tenant = tenant.as_str().to_owned();
    metrics::counter!(DISCARDED_SAMPLES_TOTAL, "reason" => reason.as_str(), "tenant" => tenant.clone())
        .increment(entries as u64);
    metrics::counter!(DISCARDED_BYTES_TOTAL, "reason" => reason.as_str(), "tenant" => tenant)
        .increment(bytes as u64);
}

/// A token bucket: `rate` tokens per second up to `burst`, starting full. Not
/// thread-safe by itself; callers hold it under their own lock.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    /// A full bucket of `burst` tokens at `now`.
    pub fn full(burst: f64, now: Instant) -> Self {
        TokenBucket {
            tokens: burst,
            updated: now,
        }
    }

    /// Takes `amount` tokens if the bucket (refilled to `now` at `rate` per second, at
    /// most `burst`) holds them; otherwise takes nothing and returns false. An amount
    /// over `burst` never fits, as with Go's `rate.Limiter.AllowN`.
    pub fn try_take(&mut self, amount: f64, rate: f64, burst: f64, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        self.updated = now;
        if amount <= self.tokens {
            self.tokens -= amount;
            true
        } else {
            false
        }
    }
}

/// Per-tenant token buckets for the ingestion rate. Thread-safe.
#[derive(Debug)]
pub struct TenantRateLimiter {
    bytes_per_second: f64,
    burst_bytes: f64,
    buckets: Mutex<HashMap<TenantId, TokenBucket>>,
}

impl TenantRateLimiter {
    /// A limiter of `rate_mib` MiB/s with a burst of `burst_mib` MiB; a rate of 0
    /// admits everything.
    pub fn new(rate_mib: f64, burst_mib: f64) -> Self {
        TenantRateLimiter {
            bytes_per_second: rate_mib * BYTES_PER_MIB,
            burst_bytes: burst_mib * BYTES_PER_MIB,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// The limit in bytes per second, as Loki prints it.
    pub fn limit_bytes_per_second(&self) -> u64 {
        self.bytes_per_second as u64
    }

    /// Takes `bytes` from `tenant`'s bucket; false when over the rate.
    pub fn allow(&self, tenant: &TenantId, bytes: usize, now: Instant) -> bool {
        if self.bytes_per_second <= 0.0 {
            return true;
        }
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        buckets
            .entry(tenant.clone())
            .or_insert_with(|| TokenBucket::full(self.burst_bytes, now))
            .try_take(bytes as f64, self.bytes_per_second, self.burst_bytes, now)
    }
}

/// Loki's tenant rate limit message.
pub fn rate_limited_message(tenant: &TenantId, limit: u64, lines: usize, bytes: usize) -> String {
    format!(
        "Ingestion rate limit exceeded for user {tenant} (limit: {limit} bytes/sec) while attempting to ingest '{lines}' lines totaling '{bytes}' bytes, reduce log volume or contact your Loki administrator to see if the limit can be increased"
    )
}

/// Loki's per-stream rate limit message.
pub fn stream_rate_limited_message(limit: u64, stream: &str, bytes: u64) -> String {
    format!(
        "Per stream rate limit exceeded (limit: {}/sec) while attempting to ingest for stream '{stream}' totaling {}, consider splitting a stream via additional labels or contact your Loki administrator to see if the limit can be increased",
        byte_size(limit),
        byte_size(bytes)
    )
}

/// Loki's active stream limit message.
pub fn stream_limit_message(stream: &str, tenant: &TenantId) -> String {
    format!(
        "Maximum active stream limit exceeded when trying to create stream {stream}, reduce the number of active streams (reduce labels or reduce label values), or contact your Loki administrator to see if the limit can be increased, user: '{tenant}'"
    )
}

/// A byte count as Loki's flag type prints it: the largest binary unit that divides it
/// exactly (`3MB`, `1536KB`, `100B`).
pub fn byte_size(bytes: u64) -> String {
    const UNITS: [(&str, u64); 6] = [
        ("EB", 1 << 60),
        ("PB", 1 << 50),
        ("TB", 1 << 40),
        ("GB", 1 << 30),
        ("MB", 1 << 20),
        ("KB", 1 << 10),
    ];
    if bytes == 0 {
        return String::from("0B");
    }
    for (unit, size) in UNITS {
        if bytes.is_multiple_of(size) {
            return format!("{}{unit}", bytes / size);
        }
    }
    format!("{bytes}B")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_bucket_refills_at_its_rate_up_to_the_burst() {
        let start = Instant::now();
        let mut bucket = TokenBucket::full(10.0, start);
        assert!(bucket.try_take(6.0, 2.0, 10.0, start));
        assert!(!bucket.try_take(6.0, 2.0, 10.0, start));
        // One second later two tokens came back: 4 + 2 = 6.
        assert!(bucket.try_take(6.0, 2.0, 10.0, start + Duration::from_secs(1)));
        // Never more than the burst, however long it rested.
        assert!(!bucket.try_take(11.0, 2.0, 10.0, start + Duration::from_secs(3600)));
        assert!(bucket.try_take(10.0, 2.0, 10.0, start + Duration::from_secs(3600)));
    }

    #[test]
    fn tenants_have_their_own_buckets_and_zero_disables() {
        let limiter = TenantRateLimiter::new(1.0, 1.0);
        let now = Instant::now();
        let a = TenantId::parse("a").expect("tenant");
        let b = TenantId::parse("b").expect("tenant");
        assert!(limiter.allow(&a, 1 << 20, now));
        assert!(!limiter.allow(&a, 1, now));
        assert!(limiter.allow(&b, 1 << 20, now));
        assert_eq!(limiter.limit_bytes_per_second(), 1 << 20);
        let off = TenantRateLimiter::new(0.0, 0.0);
        assert!(off.allow(&a, usize::MAX, now));
    }

    #[test]
    fn messages_and_sizes_read_as_lokis() {
        assert_eq!(byte_size(3 * 1024 * 1024), "3MB");
        assert_eq!(byte_size(1536 * 1024), "1536KB");
        assert_eq!(byte_size(100), "100B");
        assert_eq!(byte_size(0), "0B");
        let tenant = TenantId::parse("team-a").expect("tenant");
        assert_eq!(
            rate_limited_message(&tenant, 1000, 3, 4000),
            "Ingestion rate limit exceeded for user team-a (limit: 1000 bytes/sec) while attempting to ingest '3' lines totaling '4000' bytes, reduce log volume or contact your Loki administrator to see if the limit can be increased"
        );
        assert!(
            stream_rate_limited_message(1024, "{a=\"b\"}", 2048)
                .starts_with("Per stream rate limit exceeded (limit: 1KB/sec) while attempting to ingest for stream '{a=\"b\"}' totaling 2KB,")
        );
    }
}
