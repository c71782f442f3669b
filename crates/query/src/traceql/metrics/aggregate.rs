//! Sorting observations into series and intervals, and the series at the end.

use std::collections::{HashMap, HashSet};

use super::log2::{self, Bucket};
use super::range::IntervalMapper;
use super::{
    Exemplar, Function, MetricsSpec, Observation, ObservedValue, RangeRequest, Sample, Series,
};
use crate::traceql::Static;

const NANOS_PER_SECOND: f64 = 1e9;
const EXEMPLARS_PER_TIME_BUCKET: usize = 2;

/// Aggregates the observations of many traces into series (see the module docs).
/// Memory: one vector of intervals per series.
#[derive(Debug)]
pub struct MetricsAggregator {
    spec: MetricsSpec,
    request: RangeRequest,
    mapper: IntervalMapper,
    series: HashMap<String, SeriesState>,
}

#[derive(Debug)]
struct SeriesState {
    labels: Vec<(String, Static)>,
    /// Counts, sums, minima or maxima per interval (NaN: none yet).
    values: Vec<f64>,
    /// Per interval: spans counted by `avg_over_time`.
    counts: Vec<u64>,
    /// Per interval: buckets of `quantile_over_time`.
    histograms: Vec<Vec<Bucket>>,
    exemplars: Vec<Exemplar>,
    exemplar_traces: HashSet<String>,
    exemplar_time_buckets: Vec<usize>,
}

impl MetricsAggregator {
    /// An empty aggregation of `spec` over `request`.
    pub fn new(spec: MetricsSpec, request: RangeRequest) -> Self {
        let mapper = IntervalMapper::new(
            request.start_unix_nanos,
            request.end_unix_nanos,
            request.step_nanos,
            request.instant,
        );
        MetricsAggregator {
            spec,
            request,
            mapper,
            series: HashMap::new(),
        }
    }

    /// Number of intervals (points per series).
    pub fn interval_count(&self) -> usize {
        self.mapper.count()
    }

    /// Number of series so far (quantile series count once per group).
    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    /// Adds the observations of one trace.
    pub fn observe(&mut self, observations: &[Observation]) {
        for observation in observations {
            self.observe_one(observation);
        }
    }

    fn observe_one(&mut self, observation: &Observation) {
        let Some(interval) = self.mapper.interval(observation.start_unix_nanos) else {
            return;
        };
        let function = self.spec.function;
        let bucket = match function {
            Function::QuantileOverTime | Function::HistogramOverTime => {
                match bucket_of(observation.value) {
                    Some(bucket) => Some(bucket),
                    None => return,
                }
            }
            _ => None,
        };
        let value = float_of(observation.value);
        if function == Function::AvgOverTime && value.is_nan() {
            return;
        }
        let series_bucket = (function == Function::HistogramOverTime)
            .then_some(bucket)
            .flatten();
        let key = series_key(&observation.group, series_bucket);
        let intervals = self.mapper.count();
        let exemplar_slots = self.exemplar_slots();
        let state = self.series.entry(key).or_insert_with(|| SeriesState {
            labels: labels(&self.spec, &observation.group, series_bucket),
            values: vec![initial(function); intervals],
            counts: vec![
                0;
                if function == Function::AvgOverTime {
                    intervals
                } else {
                    0
                }
            ],
            histograms: vec![
                Vec::new();
                if function == Function::QuantileOverTime {
                    intervals
                } else {
                    0
                }
            ],
            exemplars: Vec::new(),
            exemplar_traces: HashSet::new(),
            exemplar_time_buckets: vec![0; exemplar_slots],
        });
        match function {
            Function::Rate | Function::CountOverTime | Function::HistogramOverTime => {
                state.values[interval] += 1.0;
            }
            Function::SumOverTime => {
                let current = state.values[interval];
                state.values[interval] = if current.is_nan() {
                    value
                } else {
                    current + value
                };
            }
            Function::MinOverTime => {
                let current = state.values[interval];
                if current.is_nan() || value < current {
                    state.values[interval] = value;
                }
            }
            Function::MaxOverTime => {
                let current = state.values[interval];
                if current.is_nan() || value > current {
                    state.values[interval] = value;
                }
            }
            Function::AvgOverTime => {
                let current = state.values[interval];
                state.values[interval] = if current.is_nan() {
                    value
                } else {
                    current + value
                };
                state.counts[interval] += 1;
            }
            Function::QuantileOverTime => {
                let max = bucket.unwrap_or_default();
                let histogram = &mut state.histograms[interval];
                match histogram.iter_mut().find(|b| b.max == max) {
                    Some(found) => found.count += 1,
                    None => histogram.push(Bucket { max, count: 1 }),
                }
            }
        }
        let exemplar_value = match function {
            Function::Rate | Function::CountOverTime | Function::HistogramOverTime => f64::NAN,
            _ if value.is_nan() => 0.0,
            _ => value,
        };
        self.add_exemplar_candidate(observation, exemplar_value);
    }

    fn exemplar_slots(&self) -> usize {
        (self.request.max_exemplars / EXEMPLARS_PER_TIME_BUCKET).max(1)
    }

    fn add_exemplar_candidate(&mut self, observation: &Observation, value: f64) {
        if self.request.instant || self.request.max_exemplars == 0 {
            return;
        }
        let key = series_key(
            &observation.group,
            if self.spec.function == Function::HistogramOverTime {
                bucket_of(observation.value)
            } else {
                None
            },
        );
        let (start, end) = self.mapper.bounds();
        let (start_millis, end_millis) = (start / 1_000_000, end / 1_000_000);
        let millis = observation.start_unix_nanos / 1_000_000;
        let slots = self.exemplar_slots();
        let limit = self.request.max_exemplars;
        let Some(state) = self.series.get_mut(&key) else {
            return;
        };
        if state.exemplars.len() >= limit
            || millis < start_millis
            || millis > end_millis
            || state.exemplar_traces.contains(&observation.trace_id_hex)
        {
            return;
        }
        let width = ((end_millis - start_millis) / slots as u64).max(1);
        let slot = usize::try_from((millis - start_millis) / width)
            .unwrap_or(usize::MAX)
            .min(slots - 1);
        if state.exemplar_time_buckets[slot] >= EXEMPLARS_PER_TIME_BUCKET {
            return;
        }
        state.exemplar_time_buckets[slot] += 1;
        state
            .exemplar_traces
            .insert(observation.trace_id_hex.clone());
        state.exemplars.push(Exemplar {
            labels: vec![
                (
                    "trace:id".to_string(),
                    Static::String(observation.trace_id_hex.clone()),
                ),
                (
                    "span:id".to_string(),
                    Static::String(observation.span_id_hex.clone()),
                ),
            ],
            value,
            timestamp_millis: i64::try_from(millis).unwrap_or(i64::MAX),
        });
    }

    /// The series: second stages applied, empty series dropped, sorted as Tempo sorts
    /// them (fewer labels first, then by label names and values).
    pub fn finish(self) -> Vec<Series> {
        let mut computed = self.compute();
        for &(topk, limit) in &self.spec.second_stages {
            computed = select_k(computed, self.mapper.count(), limit, topk);
        }
        let mut series: Vec<Series> = computed
            .into_iter()
            .filter_map(|(labels, values, exemplars)| self.to_series(labels, &values, exemplars))
            .collect();
        series.sort_by(|a, b| compare_labels(&a.labels, &b.labels));
        series
    }

    /// Labels, values per interval and exemplars of every output series.
    fn compute(&self) -> Computed {
        let step_seconds = if self.request.instant {
            self.request
                .end_unix_nanos
                .saturating_sub(self.request.start_unix_nanos) as f64
                / NANOS_PER_SECOND
        } else {
            self.request.step_nanos as f64 / NANOS_PER_SECOND
        };
        let mut out = Vec::new();
        if self.spec.function == Function::QuantileOverTime {
            return self.compute_quantiles();
        }
        for state in self.series.values() {
            let values = match self.spec.function {
                Function::Rate => state
                    .values
                    .iter()
                    .map(|count| count / step_seconds)
                    .collect(),
                Function::AvgOverTime => state
                    .values
                    .iter()
                    .zip(&state.counts)
                    .map(|(sum, &count)| {
                        if count == 0 {
                            f64::NAN
                        } else {
                            sum / count as f64
                        }
                    })
                    .collect(),
                _ => state.values.clone(),
            };
            out.push((state.labels.clone(), values, state.exemplars.clone()));
        }
        out
    }

    fn compute_quantiles(&self) -> Computed {
        // Exemplars go to the quantile series whose overall value is closest.
        let mut overall: Vec<Bucket> = Vec::new();
        for state in self.series.values() {
            for histogram in &state.histograms {
                for bucket in histogram {
                    match overall.iter_mut().find(|b| b.max == bucket.max) {
                        Some(found) => found.count += bucket.count,
                        None => overall.push(*bucket),
                    }
                }
            }
        }
        overall.sort_by(|a, b| a.max.total_cmp(&b.max));
        let overall_values: Vec<f64> = self
            .spec
            .quantiles
            .iter()
            .map(|&q| log2::quantile(q, &overall))
            .collect();
        let mut out = Vec::new();
        for state in self.series.values() {
            let sorted: Vec<Vec<Bucket>> = state
                .histograms
                .iter()
                .map(|histogram| {
                    let mut histogram = histogram.clone();
                    histogram.sort_by(|a, b| a.max.total_cmp(&b.max));
                    histogram
                })
                .collect();
            for (index, &q) in self.spec.quantiles.iter().enumerate() {
                let mut labels = state.labels.clone();
                labels.push(("p".to_string(), Static::Float(q)));
                let values = sorted
                    .iter()
                    .map(|histogram| log2::quantile(q, histogram))
                    .collect();
                let exemplars = state
                    .exemplars
                    .iter()
                    .filter(|exemplar| closest(exemplar.value, &overall_values) == Some(index))
                    .cloned()
                    .collect();
                out.push((labels, values, exemplars));
            }
        }
        out
    }

    fn to_series(
        &self,
        labels: Vec<(String, Static)>,
        values: &[f64],
        exemplars: Vec<Exemplar>,
    ) -> Option<Series> {
        let samples: Vec<Sample> = values
            .iter()
            .enumerate()
            .filter(|(_, value)| !value.is_nan())
            .map(|(index, &value)| Sample {
                timestamp_millis: self.mapper.timestamp_millis(index),
                value,
            })
            .collect();
        if samples.is_empty() {
            return None;
        }
        let mut exemplars: Vec<Exemplar> = exemplars
            .into_iter()
            .filter_map(|mut exemplar| {
                let millis = u64::try_from(exemplar.timestamp_millis).ok()?;
                let interval = self.mapper.interval_of_millis(millis)?;
                let value = *values.get(interval)?;
                if value.is_nan() {
                    return None;
                }
                if exemplar.value.is_nan() {
                    exemplar.value = value;
                }
                Some(exemplar)
            })
            .collect();
        exemplars.sort_by_key(|exemplar| exemplar.timestamp_millis);
        Some(Series {
            labels,
            samples,
            exemplars,
        })
    }
}

fn initial(function: Function) -> f64 {
    match function {
        Function::Rate | Function::CountOverTime | Function::HistogramOverTime => 0.0,
        _ => f64::NAN,
    }
}

/// The value as the `*_over_time` functions read it: durations in seconds.
fn float_of(value: ObservedValue) -> f64 {
    match value {
        ObservedValue::Missing => f64::NAN,
        ObservedValue::Int(i) => i as f64,
        ObservedValue::Float(f) => f,
        ObservedValue::Duration(d) => d as f64 / NANOS_PER_SECOND,
    }
}

/// The power-of-two bucket of a value: durations in seconds, integers as they are;
/// floats, missing values and values below 2 (ns) have none.
fn bucket_of(value: ObservedValue) -> Option<f64> {
    match value {
        ObservedValue::Int(i) => log2::bucketize(u64::try_from(i).ok()?),
        ObservedValue::Duration(d) => {
            log2::bucketize(u64::try_from(d).ok()?).map(|b| b / NANOS_PER_SECOND)
        }
        ObservedValue::Float(_) | ObservedValue::Missing => None,
    }
}

fn series_key(group: &[Static], bucket: Option<f64>) -> String {
    format!("{group:?}|{bucket:?}")
}

fn labels(spec: &MetricsSpec, group: &[Static], bucket: Option<f64>) -> Vec<(String, Static)> {
    let mut labels: Vec<(String, Static)> = spec
        .by_labels
        .iter()
        .zip(group)
        .filter(|(_, value)| **value != Static::Nil)
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    let bucketed = matches!(
        spec.function,
        Function::QuantileOverTime | Function::HistogramOverTime
    );
    if let Some(bucket) = bucket {
        labels.push(("__bucket".to_string(), Static::Float(bucket)));
    }
    if labels.is_empty() && !bucketed {
        match spec.by_labels.first() {
            Some(first) => labels.push((first.clone(), Static::Nil)),
            None => labels.push((
                "__name__".to_string(),
                Static::String(spec.function.name().to_string()),
            )),
        }
    }
    labels
}

fn closest(value: f64, candidates: &[f64]) -> Option<usize> {
    let mut best = None;
    let mut best_distance = f64::INFINITY;
    for (index, candidate) in candidates.iter().enumerate() {
        let distance = (value - candidate).abs();
        if distance < best_distance {
            best_distance = distance;
            best = Some(index);
        }
    }
    best
}

/// Labels, values per interval and exemplars of each output series.
type Computed = Vec<(Vec<(String, Static)>, Vec<f64>, Vec<Exemplar>)>;

/// `topk(limit)` / `bottomk(limit)`: per interval, the `limit` series with the largest
/// (smallest) values keep that point; the rest become NaN. Ties go to the series whose
/// labels sort earlier for topk, later for bottomk (Tempo's order).
fn select_k(input: Computed, intervals: usize, limit: usize, topk: bool) -> Computed {
    if input.len() <= limit {
        return input;
    }
    let mut kept = vec![vec![f64::NAN; intervals]; input.len()];
    #[allow(clippy::needless_range_loop)] // `interval` indexes every series' values
    for interval in 0..intervals {
        let mut points: Vec<(usize, f64)> = input
            .iter()
            .enumerate()
            .filter_map(|(index, (_, values, _))| {
                values
                    .get(interval)
                    .filter(|value| !value.is_nan())
                    .map(|&value| (index, value))
            })
            .collect();
        points.sort_by(|a, b| {
            let by_value = a.1.total_cmp(&b.1);
            let by_labels = compare_labels(&input[a.0].0, &input[b.0].0);
            // Tempo ranks ties by reversed labels: the earlier labels win a topk tie,
            // the later ones a bottomk tie.
            if topk {
                by_value.then(by_labels.reverse()).reverse()
            } else {
                by_value.then(by_labels.reverse())
            }
        });
        for (index, value) in points.into_iter().take(limit) {
            kept[index][interval] = value;
        }
    }
    input
        .into_iter()
        .zip(kept)
        .filter(|(_, values)| values.iter().any(|value| !value.is_nan()))
        .map(|((labels, _, exemplars), values)| (labels, values, exemplars))
        .collect()
}

fn compare_labels(a: &[(String, Static)], b: &[(String, Static)]) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| {
        for ((name_a, value_a), (name_b, value_b)) in a.iter().zip(b) {
            let order = name_a
                .cmp(name_b)
                .then_with(|| value_a.to_text().cmp(&value_b.to_text()));
            if order.is_ne() {
                return order;
            }
        }
        std::cmp::Ordering::Equal
    })
}
