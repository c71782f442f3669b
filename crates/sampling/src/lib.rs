//! Sampling decisions for weft: which spans and traces to keep.
//!
//! Two independent deciders, both pure functions of their input plus (for tail rate
//! limits) a clock the caller passes in; this crate does no I/O beyond parsing the YAML
//! text it is given.
//!
//! - [`head`]: per span, at ingest, before a trace is complete. Consistent by trace id
//!   with OpenTelemetry's probability sampling (OTEP 235): the randomness is the `rv`
//!   tracestate value or the low 56 bits of the trace id, the ratio becomes a 56-bit
//!   rejection threshold, and a span is kept when randomness >= threshold. Every span of
//!   a trace sampled at one ratio gets the same decision, and each kept span reports the
//!   probability it was kept with (the inverse of its adjusted count). Ratios are set by
//!   default, per tenant and per service.
//! - [`tail`]: per whole trace, after `decision_wait`. The OpenTelemetry Collector's
//!   `tail_sampling` processor: the same YAML (the processor block, or a whole Collector
//!   file), the same policy types, and the same rules for combining their decisions,
//!   with each policy's outcome returned for per-policy counters.
//!
//! # Example
//!
//! ```
//! use std::time::Instant;
//!
//! use weft_model::{Span, SpanId, StatusCode, TraceId};
//! use weft_sampling::{HeadConfig, HeadSampler, TailConfig, TailSampler};
//!
//! let mut span = Span::new(TraceId::from_halves(1, 2), SpanId::from_u64(3), "GET /cart");
//! span.status.code = StatusCode::Error;
//!
//! let head = HeadSampler::new(&HeadConfig::from_yaml_str("head: {default_ratio: 1.0}", "weft.yaml")?)?;
//! assert!(head.decide(&span, "tenant-1").is_keep());
//!
//! let yaml = "policies: [{name: errors, type: status_code, status_code: {status_codes: [ERROR]}}]";
//! let tail = TailSampler::new(&TailConfig::from_yaml_str(yaml, "tail.yaml")?);
//! let decision = tail.decide(&[span], Instant::now());
//! assert!(decision.is_sampled());
//! assert_eq!(decision.deciding_policy.as_deref(), Some("errors"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Differences from the Collector's tail sampling
//!
//! - `ottl_condition` is refused with an error: weft does not implement OTTL.
//! - Only the decision is here: buffering spans for `decision_wait`, `num_traces` and the
//!   decision caches are settings the caller acts on.
//! - Drop policies are evaluated before the others, so a drop also beats
//!   `sample_on_first_match` (see [`tail`]).
//! - `latency` measures the whole trace (earliest start to latest end), as the
//!   Collector's README states; the Collector's code stops at the first prefix of spans
//!   that satisfies the bounds, which differs only with `upper_threshold_ms`.
//! - `bytes_limiting` computes the trace's OTLP protobuf size field by field
//!   ([`tail::trace_size_bytes`]) instead of marshalling it; it equals pdata's
//!   `TracesSize` for spans that arrived in one OTLP request per resource.
//! - `composite` budgets count whole seconds since the first decision's `now` instead of
//!   Unix seconds (the clock is the caller's monotonic `Instant`).
//! - `string_attribute`'s `cache_max_size` is accepted and ignored: regex results are not
//!   cached.
//! - The Collector fails on keys a policy's settings block does not define, even in the
//!   block of another policy type; here blocks of other types are ignored with a warning
//!   ([`tail::TailConfig::warnings`]), so the Collector README's "practical example"
//!   loads (it puts a `string_attribute` block under a `boolean_attribute` policy). The
//!   README's first example loads except for its `ottl_condition` policy.
//! - Every policy needs a non-empty `name`, and top-level names must be unique (they
//!   label the per-policy outcomes).
//! - The deprecated inverted decisions are on, as they are by default upstream (the
//!   `disableinvertdecisions` feature gate is not modelled); the `usetracestate` gate's
//!   predictive limiter is not implemented.

pub mod head;
pub mod tail;

mod error;
mod tracestate;
mod yaml;

pub use error::ConfigError;
pub use head::{HeadConfig, HeadDecision, HeadSampler};
pub use tail::{TailConfig, TailDecision, TailSampler};
pub use tracestate::{ot_value, tracestate_value, with_ot_threshold};
