//! TraceQL metrics (`{ } | rate() by(resource.service.name)`) with Tempo's semantics.
//!
//! A metrics query is evaluated in two steps so that storage can be scanned in parallel
//! and within its bounds: [`Query::metrics_observations`] runs the spanset pipeline on
//! one whole trace and returns, for each matched span, its start time, its `by()`
//! values and the function's attribute; a [`MetricsAggregator`] sorts observations into
//! series and intervals and gives the [`Series`] at the end.
//!
//! Semantics, as in Tempo's engine and query frontend: a span counts in the interval
//! of its start time; range intervals are right-closed, `(t - step, t]`, stamped with
//! their end `t`; [`align_range`] is the frontend's alignment (an extra first interval)
//! and [`default_step_nanos`] its default step. `rate()` is the count per second of
//! step, `*_over_time(duration)` read durations in seconds, `quantile_over_time` and
//! `histogram_over_time` use power-of-two buckets (a `__bucket` label in seconds for
//! durations), ungrouped series are labelled `__name__` with the function name, a
//! `by()` value that is missing is left out of the labels (a series whose values are all
//! missing gets the first `by()` key with `nil`), quantile series add a `p` label.
//! `rate`, `count_over_time` and `histogram_over_time` report 0 for intervals without
//! spans, quantiles 0, the other functions no sample. Exemplars: at most one per trace
//! and series, at most 2 per time bucket of `range / (limit / 2)`, at most `limit`.
//!
//! Not evaluated (rejected with [`MetricsError::Unsupported`]): metrics arithmetic,
//! `compare()`, comparisons after a function, sampling hints.

mod aggregate;
mod log2;
mod range;

#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::fmt;

use weft_model::Span;

pub use aggregate::MetricsAggregator;
pub use range::{align_range, default_step_nanos};

use super::Query;
use super::Static;
use super::ast::{Body, MetricsPlan};
use super::eval::SpanContext;
use super::pipeline::EvalError;
use super::structural::TraceIndex;

/// The metrics functions weft evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    /// `rate()`: spans per second of step.
    Rate,
    /// `count_over_time()`: spans per interval.
    CountOverTime,
    /// `sum_over_time(attr)`.
    SumOverTime,
    /// `avg_over_time(attr)`.
    AvgOverTime,
    /// `min_over_time(attr)`.
    MinOverTime,
    /// `max_over_time(attr)`.
    MaxOverTime,
    /// `quantile_over_time(attr, q...)`.
    QuantileOverTime,
    /// `histogram_over_time(attr)`.
    HistogramOverTime,
}

impl Function {
    fn from_name(name: &str) -> Option<Function> {
        Some(match name {
            "rate" => Function::Rate,
            "count_over_time" => Function::CountOverTime,
            "sum_over_time" => Function::SumOverTime,
            "avg_over_time" => Function::AvgOverTime,
            "min_over_time" => Function::MinOverTime,
            "max_over_time" => Function::MaxOverTime,
            "quantile_over_time" => Function::QuantileOverTime,
            "histogram_over_time" => Function::HistogramOverTime,
            _ => return None,
        })
    }

    /// The name in queries and in the `__name__` label.
    pub fn name(self) -> &'static str {
        match self {
            Function::Rate => "rate",
            Function::CountOverTime => "count_over_time",
            Function::SumOverTime => "sum_over_time",
            Function::AvgOverTime => "avg_over_time",
            Function::MinOverTime => "min_over_time",
            Function::MaxOverTime => "max_over_time",
            Function::QuantileOverTime => "quantile_over_time",
            Function::HistogramOverTime => "histogram_over_time",
        }
    }
}

/// Why a query cannot be evaluated as metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricsError {
    /// The query is a search, not a metrics query.
    NotMetrics,
    /// A metrics form weft does not evaluate (named in the message).
    Unsupported(String),
    /// A value out of range, e.g. a quantile above 1.
    Invalid(String),
}

impl fmt::Display for MetricsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetricsError::NotMetrics => {
                f.write_str("not a metrics query: add a metrics function, e.g. { } | rate()")
            }
            MetricsError::Unsupported(what) => write!(f, "{what} is not supported yet"),
            MetricsError::Invalid(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for MetricsError {}

/// The metrics stages of a query, checked: what a [`MetricsAggregator`] computes.
#[derive(Debug, Clone)]
pub struct MetricsSpec {
    /// The first-stage function.
    pub function: Function,
    /// The `by()` label names, as Tempo prints the attributes (`resource.service.name`,
    /// `.foo`, `name`).
    pub by_labels: Vec<String>,
    /// The quantiles of `quantile_over_time`.
    pub quantiles: Vec<f64>,
    /// True when the function's attribute is the `duration` intrinsic.
    pub attribute_is_duration: bool,
    /// `topk(n)` (true) and `bottomk(n)` (false) stages, in order.
    pub second_stages: Vec<(bool, usize)>,
}

/// The value a span gives the function's attribute.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ObservedValue {
    /// No attribute or a non-numeric one.
    Missing,
    /// An integer attribute.
    Int(i64),
    /// A float attribute.
    Float(f64),
    /// A duration in nanoseconds.
    Duration(i64),
}

/// One matched span as the aggregation needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// The span's start, nanoseconds since the epoch.
    pub start_unix_nanos: u64,
    /// The `by()` values, in `by()` order ([`Static::Nil`] when missing).
    pub group: Vec<Static>,
    /// The function's attribute (`Missing` for `rate`/`count_over_time`).
    pub value: ObservedValue,
    /// Lower-case hex trace id, for exemplars.
    pub trace_id_hex: String,
    /// Lower-case hex span id, for exemplars.
    pub span_id_hex: String,
}

impl Query {
    /// The query's metrics stages, checked; an error for searches and for metrics
    /// forms weft does not evaluate.
    pub fn metrics_spec(&self) -> Result<MetricsSpec, MetricsError> {
        let plan = self.metrics_plan()?;
        let function = Function::from_name(&plan.function.name).ok_or_else(|| {
            MetricsError::Unsupported(format!("metrics function {}()", plan.function.name))
        })?;
        if let Some(q) = plan
            .function
            .quantiles
            .iter()
            .find(|q| !(0.0..=1.0).contains(*q))
        {
            return Err(MetricsError::Invalid(format!(
                "quantile must be between 0 and 1: {q}"
            )));
        }
        if plan.function.by.len() > 5 {
            return Err(MetricsError::Unsupported(format!(
                "metrics group by {} values",
                plan.function.by.len()
            )));
        }
        Ok(MetricsSpec {
            function,
            by_labels: plan.function.by.iter().map(ToString::to_string).collect(),
            quantiles: plan.function.quantiles.clone(),
            attribute_is_duration: plan.function.attribute.as_ref().is_some_and(|attribute| {
                attribute.intrinsic == Some(super::ast::Intrinsic::Duration)
            }),
            second_stages: plan.second_stages.clone(),
        })
    }

    fn metrics_plan(&self) -> Result<&MetricsPlan, MetricsError> {
        match &self.root.body {
            Body::Metrics {
                plan: Some(plan), ..
            } => Ok(plan),
            Body::Metrics { text, .. } => Err(MetricsError::Unsupported(format!(
                "the metrics query form of `{text}` (weft evaluates `{{ ... }} | function(...) [by(...)] [| topk(n)]`)"
            ))),
            _ => Err(MetricsError::NotMetrics),
        }
    }

    /// The observations of one whole trace (deduplicated spans, any order): each span
    /// of the spansets the query's spanset pipeline returns, once.
    pub fn metrics_observations(&self, spans: &[Span]) -> Result<Vec<Observation>, EvalError> {
        let plan = self.metrics_plan().map_err(|_| EvalError::MetricsQuery)?;
        let spansets = self.try_evaluate(spans)?;
        let trace = TraceIndex::new(spans);
        let mut seen = HashSet::new();
        let mut observations = Vec::new();
        for spanset in &spansets {
            for matched in &spanset.spans {
                if !seen.insert(matched.index) {
                    continue;
                }
                let context = SpanContext {
                    trace: &trace,
                    index: matched.index,
                    event: None,
                    link: None,
                };
                let span = &spans[matched.index];
                let group = plan
                    .function
                    .by
                    .iter()
                    .map(|attribute| context.resolve(attribute).to_static())
                    .collect();
                let value = plan
                    .function
                    .attribute
                    .as_ref()
                    .map_or(ObservedValue::Missing, |attribute| {
                        observed(context.resolve(attribute).to_static())
                    });
                observations.push(Observation {
                    start_unix_nanos: span.start_unix_nanos,
                    group,
                    value,
                    trace_id_hex: span.trace_id.to_hex(),
                    span_id_hex: span.span_id.to_hex(),
                });
            }
        }
        Ok(observations)
    }
}

fn observed(value: Static) -> ObservedValue {
    match value {
        Static::Int(i) => ObservedValue::Int(i),
        Static::Float(f) if !f.is_nan() => ObservedValue::Float(f),
        Static::Duration(d) => ObservedValue::Duration(i64::try_from(d).unwrap_or(i64::MAX)),
        _ => ObservedValue::Missing,
    }
}

/// The range a [`MetricsAggregator`] covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeRequest {
    /// First nanosecond (exclusive for range queries, inclusive for instant ones);
    /// already aligned for range queries (see [`align_range`]).
    pub start_unix_nanos: u64,
    /// Last nanosecond (inclusive).
    pub end_unix_nanos: u64,
    /// Step in nanoseconds (ignored for instant queries).
    pub step_nanos: u64,
    /// One interval `[start, end]` instead of steps.
    pub instant: bool,
    /// Most exemplars per series (0: none; instant queries have none).
    pub max_exemplars: usize,
}

/// One point of a series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// The interval's end, milliseconds since the epoch.
    pub timestamp_millis: i64,
    /// The value.
    pub value: f64,
}

/// A span picked to illustrate a series.
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    /// `trace:id` and `span:id`.
    pub labels: Vec<(String, Static)>,
    /// The span's value (seconds for durations), or the sample value of its interval
    /// for counting functions.
    pub value: f64,
    /// The span's start, milliseconds since the epoch.
    pub timestamp_millis: i64,
}

/// One result series.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Labels in Tempo's order: `by()` values (or `__name__`), then `__bucket` or `p`.
    pub labels: Vec<(String, Static)>,
    /// Samples by time; intervals without a value are left out.
    pub samples: Vec<Sample>,
    /// Exemplars by time.
    pub exemplars: Vec<Exemplar>,
}
