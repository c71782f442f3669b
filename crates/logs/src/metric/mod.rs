//! LogQL metric queries: evaluation of a [`MetricExpr`] at every step of an instant or
//! range query, with Loki's semantics (`pkg/logql/engine.go`, `evaluator.go`,
//! `range_vector.go`).
//!
//! - Steps are `start, start + step, ...` up to and including `end`; an instant query
//!   has one step at its time. A sample's timestamp is its step in milliseconds.
//! - A range aggregation at step `t` with range `r` and offset `o` sees the entries
//!   with `t - o - r < timestamp <= t - o` (left-open, right-closed). A series without
//!   entries in a window has no value at that step.
//! - Labels are those the pipeline leaves (stream, structured metadata, parsed), reduced
//!   by the range aggregation's `by`/`without` (or by an enclosing `sum`'s, which Loki
//!   pushes down), and by nothing when the sample carries `__error__`. A sample with
//!   `__error__` in any step's vector fails the query, as in Loki.
//! - The result of a range query may hold at most `max_series` series (Loki's
//!   `max_query_series`, 500 by default), an instant vector at most that many samples.
//!
//! Reading is in [`fetch`] (parallel over chunks); the pure parts are [`range`]
//! (window functions), [`vector`] (aggregations) and [`binary`] (operators,
//! `label_replace`). [`http`] serves `query` and `query_range` for metric queries.

mod binary;
mod fetch;
pub(crate) mod http;
mod range;
mod vector;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod count_tests;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use weft_model::TenantId;

use crate::logql::{
    BinaryExpr, MatchOp, MetricExpr, RangeAggregation, RangeFunction, VectorFunction,
};
use crate::query::{QueryError, QueryStats};
use crate::{LabelSet, LogStore};

use fetch::{Budget, LeafRequest, LeafSeries, SourceGrouping};

/// Loki's default `max_query_series`.
pub const DEFAULT_MAX_SERIES: usize = 500;

/// When a metric query is evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvalParams {
    /// First step, Unix nanoseconds.
    pub start_unix_nanos: i64,
    /// Last possible step (inclusive), Unix nanoseconds.
    pub end_unix_nanos: i64,
    /// Distance between steps in nanoseconds; 0 for an instant query.
    pub step_nanos: i64,
}

impl EvalParams {
    /// An instant query at `time_unix_nanos`.
    pub fn instant(time_unix_nanos: i64) -> Self {
        EvalParams {
            start_unix_nanos: time_unix_nanos,
            end_unix_nanos: time_unix_nanos,
            step_nanos: 0,
        }
    }

    /// True for an instant query.
    pub fn is_instant(&self) -> bool {
        self.step_nanos == 0
    }

    /// Number of steps (at least one; none when `end < start`).
    pub fn step_count(&self) -> usize {
        if self.end_unix_nanos < self.start_unix_nanos {
            return 0;
        }
        if self.step_nanos <= 0 {
            return 1;
        }
        ((self.end_unix_nanos - self.start_unix_nanos) / self.step_nanos) as usize + 1
    }

    /// The time of step `index`, Unix nanoseconds.
    pub fn step_time(&self, index: usize) -> i64 {
        self.start_unix_nanos + index as i64 * self.step_nanos.max(0)
    }

    /// The timestamp samples of step `index` carry, Unix milliseconds.
    pub fn step_millis(&self, index: usize) -> i64 {
        self.step_time(index) / 1_000_000
    }
}

/// One sample of a step's vector.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    pub(crate) labels: Arc<LabelSet>,
    pub(crate) value: f64,
}

/// A sample of an instant vector result.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorSample {
    /// Labels.
    pub labels: LabelSet,
    /// Unix milliseconds.
    pub timestamp_millis: i64,
    /// Value.
    pub value: f64,
}

/// A series of a matrix result.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Labels.
    pub labels: LabelSet,
    /// (Unix milliseconds, value), oldest first.
    pub points: Vec<(i64, f64)>,
}

/// The answer of a metric query.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricValue {
    /// A number (an instant query of a literal).
    Scalar {
        /// Unix milliseconds.
        timestamp_millis: i64,
        /// Value.
        value: f64,
    },
    /// An instant query's samples, sorted by labels (by value for `sort`/`sort_desc`).
    Vector(Vec<VectorSample>),
    /// A range query's series, sorted by labels.
    Matrix(Vec<Series>),
}

/// Why a metric query failed.
#[derive(Debug, thiserror::Error)]
pub enum MetricError {
    /// Reading failed, over the bytes limit or past the deadline.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// A sample kept a pipeline error (400).
    #[error(
        "pipeline error: '{error}' for series: '{series}'.\nUse a label filter to intentionally skip this error. (e.g | __error__!=\"{error}\").\nTo skip all potential errors you can match empty errors.(e.g __error__=\"\")\nThe label filter can also be specified after unwrap. (e.g | unwrap latency | __error__=\"\" )"
    )]
    Pipeline {
        /// The `__error__` value.
        error: String,
        /// The series' labels.
        series: LabelSet,
    },
    /// More series than `max_series` (400).
    #[error(
        "maximum number of series ({0}) reached for a single query; consider reducing query cardinality by adding more specific stream selectors, reducing the time range, or aggregating results with functions like sum(), count() or topk()"
    )]
    SeriesLimit(usize),
    /// Vector matching failed (500, as Loki answers).
    #[error("{0}")]
    Execution(String),
}

/// Builds a label set from pairs in any order (names unique), empty sets allowed.
pub(crate) fn labels_from_pairs(mut pairs: Vec<(String, String)>) -> LabelSet {
    pairs.sort();
    pairs.dedup_by(|right, left| left.0 == right.0);
    LabelSet::from_sorted_unique(pairs)
}

/// The step vectors of one sub-expression: `steps[i]` holds the samples at step `i`.
type Steps = Vec<Vec<Sample>>;

fn leaf_key(range: &RangeAggregation) -> usize {
    std::ptr::from_ref(range) as usize
}

/// Whether Loki pushes an enclosing `sum`'s grouping down into this range aggregation.
fn sum_pushes_down(range: &RangeAggregation) -> bool {
    range.grouping.is_none()
        && matches!(
            range.function,
            RangeFunction::BytesOverTime
                | RangeFunction::BytesRate
                | RangeFunction::SumOverTime
                | RangeFunction::Rate
                | RangeFunction::CountOverTime
        )
}

fn source_grouping(grouping: Option<&crate::logql::Grouping>) -> SourceGrouping {
    match grouping {
        None => SourceGrouping::Nothing,
        Some(grouping) if !grouping.without && grouping.labels.is_empty() => {
            SourceGrouping::Nothing
        }
        Some(grouping) => SourceGrouping::Group(grouping.clone()),
    }
}

/// Collects the log ranges to read, with their time span and source grouping.
fn collect_leaves(
    expr: &MetricExpr,
    pushed: Option<SourceGrouping>,
    params: &EvalParams,
    out: &mut Vec<(usize, LeafRequest)>,
) {
    match expr {
        MetricExpr::Range(range) => {
            let grouping = if range.function == RangeFunction::AbsentOverTime {
                SourceGrouping::Nothing
            } else if let Some(grouping) = &range.grouping {
                source_grouping(Some(grouping))
            } else {
                pushed.unwrap_or(SourceGrouping::Keep)
            };
            let range_nanos = duration_nanos(range.range.range);
            let offset_nanos = duration_nanos(range.range.offset);
            out.push((
                leaf_key(range),
                LeafRequest {
                    range: Arc::new(range.range.clone()),
                    function: range.function,
                    grouping,
                    after_unix_nanos: params
                        .start_unix_nanos
                        .saturating_sub(range_nanos)
                        .saturating_sub(offset_nanos),
                    until_unix_nanos: params.end_unix_nanos.saturating_sub(offset_nanos),
                    window_edges: window_edges(params, range_nanos, offset_nanos),
                },
            ));
        }
        MetricExpr::Vector(aggregation) => {
            let pushed = match (aggregation.function, aggregation.expr.as_ref()) {
                (VectorFunction::Sum, MetricExpr::Range(range)) if sum_pushes_down(range) => {
                    Some(source_grouping(aggregation.grouping.as_ref()))
                }
                _ => None,
            };
            collect_leaves(&aggregation.expr, pushed, params, out);
        }
        MetricExpr::Binary(binary) => {
            collect_leaves(&binary.left, None, params, out);
            collect_leaves(&binary.right, None, params, out);
        }
        MetricExpr::LabelReplace(replace) => collect_leaves(&replace.expr, None, params, out),
        MetricExpr::Literal(_) | MetricExpr::VectorLiteral(_) => {}
    }
}

/// The start and end of every step's window, ascending and distinct.
fn window_edges(params: &EvalParams, range_nanos: i64, offset_nanos: i64) -> Arc<[i64]> {
    let mut edges = Vec::with_capacity(params.step_count() * 2);
    for step in 0..params.step_count() {
        let end = params.step_time(step).saturating_sub(offset_nanos);
        edges.push(end.saturating_sub(range_nanos));
        edges.push(end);
    }
    edges.sort_unstable();
    edges.dedup();
    edges.into()
}

fn duration_nanos(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX)
}

/// Whether the query sorts by value (`sort`/`sort_desc` anywhere), so an instant
/// vector keeps its order.
fn sorts_by_value(expr: &MetricExpr) -> bool {
    match expr {
        MetricExpr::Vector(aggregation) => {
            matches!(
                aggregation.function,
                VectorFunction::Sort | VectorFunction::SortDesc
            ) || sorts_by_value(&aggregation.expr)
        }
        MetricExpr::Binary(binary) => sorts_by_value(&binary.left) || sorts_by_value(&binary.right),
        MetricExpr::LabelReplace(replace) => sorts_by_value(&replace.expr),
        MetricExpr::Range(_) | MetricExpr::Literal(_) | MetricExpr::VectorLiteral(_) => false,
    }
}

/// Runs a metric query for `tenant`.
pub async fn run_metric_query(
    store: &LogStore,
    tenant: &TenantId,
    expr: &MetricExpr,
    params: EvalParams,
    max_series: usize,
) -> Result<(MetricValue, QueryStats), MetricError> {
    let started = Instant::now();
    let mut requests = Vec::new();
    collect_leaves(expr, None, &params, &mut requests);
    let mut budget = Budget::new(store);
    let mut leaves = HashMap::new();
    for (key, request) in requests {
        let series = fetch::fetch(store, tenant, &request, &mut budget).await?;
        leaves.insert(key, series);
    }
    budget.check_deadline()?;
    let value = evaluate(expr, params, &leaves, max_series)?;
    let mut stats = budget.stats;
    stats.exec_time = started.elapsed();
    Ok((value, stats))
}

/// Evaluates `expr` over the series already read for each of its log ranges.
pub(crate) fn evaluate(
    expr: &MetricExpr,
    params: EvalParams,
    leaves: &HashMap<usize, LeafSeries>,
    max_series: usize,
) -> Result<MetricValue, MetricError> {
    let evaluator = Evaluator { params, leaves };
    let constant = match expr {
        MetricExpr::Literal(value) if params.is_instant() => {
            return Ok(MetricValue::Scalar {
                timestamp_millis: params.step_millis(0),
                value: *value,
            });
        }
        MetricExpr::VectorLiteral(value) | MetricExpr::Literal(value) => Some(*value),
        _ => None,
    };
    if let Some(value) = constant {
        let points = (0..params.step_count())
            .map(|step| (params.step_millis(step), value))
            .collect();
        if params.is_instant() {
            return Ok(MetricValue::Vector(vec![VectorSample {
                labels: LabelSet::default(),
                timestamp_millis: params.step_millis(0),
                value,
            }]));
        }
        return Ok(MetricValue::Matrix(vec![Series {
            labels: LabelSet::default(),
            points,
        }]));
    }
    let steps = evaluator.eval(expr)?;
    if params.is_instant() {
        let samples = steps.into_iter().next().unwrap_or_default();
        if samples.len() > max_series {
            return Err(MetricError::SeriesLimit(max_series));
        }
        let mut vector: Vec<VectorSample> = samples
            .into_iter()
            .map(|sample| VectorSample {
                labels: Arc::unwrap_or_clone(sample.labels),
                timestamp_millis: params.step_millis(0),
                value: sample.value,
            })
            .collect();
        if !sorts_by_value(expr) {
            vector.sort_by(|left, right| left.labels.cmp(&right.labels));
        }
        return Ok(MetricValue::Vector(vector));
    }
    let mut index: HashMap<Arc<LabelSet>, usize> = HashMap::new();
    let mut series: Vec<Series> = Vec::new();
    for (step, samples) in steps.into_iter().enumerate() {
        let timestamp = params.step_millis(step);
        for sample in samples {
            let position = match index.get(&sample.labels) {
                Some(&position) => position,
                None => {
                    if series.len() >= max_series {
                        return Err(MetricError::SeriesLimit(max_series));
                    }
                    index.insert(sample.labels.clone(), series.len());
                    series.push(Series {
                        labels: (*sample.labels).clone(),
                        points: Vec::new(),
                    });
                    series.len() - 1
                }
            };
            series[position].points.push((timestamp, sample.value));
        }
    }
    series.sort_by(|left, right| left.labels.cmp(&right.labels));
    Ok(MetricValue::Matrix(series))
}

struct Evaluator<'a> {
    params: EvalParams,
    leaves: &'a HashMap<usize, LeafSeries>,
}

impl Evaluator<'_> {
    fn eval(&self, expr: &MetricExpr) -> Result<Steps, MetricError> {
        match expr {
            MetricExpr::Range(range) => self.eval_range(range),
            MetricExpr::Vector(aggregation) => {
                let inner = self.eval(&aggregation.expr)?;
                Ok(inner
                    .into_iter()
                    .map(|samples| {
                        vector::aggregate(
                            aggregation.function,
                            aggregation.grouping.as_ref(),
                            aggregation.parameter,
                            samples,
                        )
                    })
                    .collect())
            }
            MetricExpr::Binary(binary) => self.eval_binary(binary),
            MetricExpr::Literal(value) | MetricExpr::VectorLiteral(value) => {
                // A literal as an operand of a binary operator is handled there; reaching
                // here means `vector(n)` (or a literal Loki would evaluate the same way):
                // one series without labels.
                let labels = Arc::new(LabelSet::default());
                Ok((0..self.params.step_count())
                    .map(|_| {
                        vec![Sample {
                            labels: labels.clone(),
                            value: *value,
                        }]
                    })
                    .collect())
            }
            MetricExpr::LabelReplace(replace) => Ok(self
                .eval(&replace.expr)?
                .into_iter()
                .map(|samples| binary::label_replace(replace, samples))
                .collect()),
        }
    }

    fn eval_binary(&self, binary: &BinaryExpr) -> Result<Steps, MetricError> {
        match (binary.left.as_ref(), binary.right.as_ref()) {
            (MetricExpr::Literal(left), MetricExpr::Literal(right)) => {
                let value = binary::with_scalar(
                    binary.op,
                    binary.return_bool,
                    *left,
                    true,
                    vec![Sample {
                        labels: Arc::new(LabelSet::default()),
                        value: *right,
                    }],
                );
                Ok((0..self.params.step_count())
                    .map(|_| value.clone())
                    .collect())
            }
            (MetricExpr::Literal(scalar), other) => Ok(self
                .eval(other)?
                .into_iter()
                .map(|samples| {
                    binary::with_scalar(binary.op, binary.return_bool, *scalar, true, samples)
                })
                .collect()),
            (other, MetricExpr::Literal(scalar)) => Ok(self
                .eval(other)?
                .into_iter()
                .map(|samples| {
                    binary::with_scalar(binary.op, binary.return_bool, *scalar, false, samples)
                })
                .collect()),
            (left, right) => {
                let left = self.eval(left)?;
                let right = self.eval(right)?;
                left.into_iter()
                    .zip(right)
                    .map(|(left, right)| {
                        binary::vectors(
                            binary.op,
                            binary.return_bool,
                            binary.matching.as_ref(),
                            left,
                            right,
                        )
                    })
                    .collect()
            }
        }
    }

    fn eval_range(&self, range: &RangeAggregation) -> Result<Steps, MetricError> {
        let step_count = self.params.step_count();
        let mut steps: Steps = vec![Vec::new(); step_count];
        let range_nanos = duration_nanos(range.range.range);
        let offset_nanos = duration_nanos(range.range.offset);
        let has_unwrap = range.range.unwrap.is_some();
        // Such a leaf's points are weights: count by adding them up (one point per
        // entry, as the per-entry path gives, has weight 1).
        let function = match range.function {
            RangeFunction::CountOverTime
                if fetch::counts_from_times(range.function, &range.range) =>
            {
                RangeFunction::SumOverTime
            }
            RangeFunction::Rate if fetch::counts_from_times(range.function, &range.range) => {
                RangeFunction::BytesRate
            }
            other => other,
        };
        let empty = Vec::new();
        let series = self.leaves.get(&leaf_key(range)).unwrap_or(&empty);
        for (labels, points) in series {
            let ends = (0..step_count).map(|step| self.params.step_time(step) - offset_nanos);
            for (step, window) in range::windows(points, ends, range_nanos) {
                if window.is_empty() {
                    continue;
                }
                let window_end = self.params.step_time(step) - offset_nanos;
                let value = range::aggregate(
                    function,
                    &points[window],
                    range_nanos,
                    window_end,
                    range.parameter,
                    has_unwrap,
                );
                steps[step].push(Sample {
                    labels: labels.clone(),
                    value,
                });
            }
        }
        for samples in &steps {
            if let Some(sample) = samples.iter().find(|sample| {
                sample.labels.get("__error__").is_some()
                    && sample.labels.get("__preserve_error__") != Some("true")
            }) {
                return Err(MetricError::Pipeline {
                    error: sample.labels.get("__error__").unwrap_or("").to_owned(),
                    series: (*sample.labels).clone(),
                });
            }
        }
        if range.function == RangeFunction::AbsentOverTime {
            let labels = Arc::new(absent_labels(range));
            for samples in &mut steps {
                *samples = if samples.is_empty() {
                    vec![Sample {
                        labels: labels.clone(),
                        value: 1.0,
                    }]
                } else {
                    Vec::new()
                };
            }
        }
        Ok(steps)
    }
}

/// The labels `absent_over_time` reports: those of the selector's `=` matchers, minus
/// any name that also appears in another matcher (or twice).
fn absent_labels(range: &RangeAggregation) -> LabelSet {
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut removed: Vec<&str> = Vec::new();
    for matcher in &range.range.query.selector {
        if matcher.op == MatchOp::Equal && !pairs.iter().any(|(name, _)| *name == matcher.name) {
            pairs.push((matcher.name.clone(), matcher.value.clone()));
        } else {
            removed.push(&matcher.name);
        }
    }
    pairs.retain(|(name, value)| !removed.contains(&name.as_str()) && !value.is_empty());
    labels_from_pairs(pairs)
}
