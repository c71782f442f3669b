//! Range aggregation functions: one value from the samples of one series inside one
//! window, as Loki computes them (`pkg/logql/range_vector.go`).
//!
//! A window ending at `t` (Unix nanoseconds, after the offset is applied) holds the
//! samples with `t - range < timestamp <= t`: left-open, right-closed. A series
//! without samples in a window has no value at that step.

use crate::logql::RangeFunction;

/// One sample of a series: Unix nanoseconds and value.
pub(crate) type Point = (i64, f64);

/// The value of `function` over `points` (non-empty, oldest first) in the window
/// `(window_end - range, window_end]`. `parameter` is φ of `quantile_over_time`;
/// `has_unwrap` tells `rate` to sum values instead of counting lines.
pub(crate) fn aggregate(
    function: RangeFunction,
    points: &[Point],
    range_nanos: i64,
    window_end_nanos: i64,
    parameter: Option<f64>,
    has_unwrap: bool,
) -> f64 {
    let seconds = range_nanos as f64 / 1e9;
    match function {
        RangeFunction::CountOverTime => points.len() as f64,
        RangeFunction::Rate if has_unwrap => sum(points) / seconds,
        RangeFunction::Rate => points.len() as f64 / seconds,
        RangeFunction::BytesRate => sum(points) / seconds,
        RangeFunction::BytesOverTime | RangeFunction::SumOverTime => sum(points),
        RangeFunction::AvgOverTime => average(points),
        RangeFunction::MaxOverTime => extreme(points, |candidate, best| candidate > best),
        RangeFunction::MinOverTime => extreme(points, |candidate, best| candidate < best),
        RangeFunction::StdvarOverTime => variance(points),
        RangeFunction::StddevOverTime => variance(points).sqrt(),
        RangeFunction::QuantileOverTime => {
            let mut values: Vec<f64> = points.iter().map(|point| point.1).collect();
            quantile(parameter.unwrap_or(f64::NAN), &mut values)
        }
        RangeFunction::FirstOverTime => points.first().map_or(f64::NAN, |point| point.1),
        RangeFunction::LastOverTime => points.last().map_or(f64::NAN, |point| point.1),
        RangeFunction::AbsentOverTime => 1.0,
        RangeFunction::RateCounter => counter_rate(points, range_nanos, window_end_nanos),
    }
}

fn sum(points: &[Point]) -> f64 {
    points.iter().map(|point| point.1).sum()
}

/// Incremental mean that keeps an infinite mean when finite values follow (Loki's
/// `avgOverTime`).
fn average(points: &[Point]) -> f64 {
    let mut mean = 0.0_f64;
    let mut count = 0.0_f64;
    for &(_, value) in points {
        count += 1.0;
        if mean.is_infinite() {
            if value.is_infinite() && (mean > 0.0) == (value > 0.0) {
                continue;
            }
            if !value.is_infinite() && !value.is_nan() {
                continue;
            }
        }
        mean += value / count - mean / count;
    }
    mean
}

/// Max or min where a NaN start is replaced by any later value.
fn extreme(points: &[Point], better: impl Fn(f64, f64) -> bool) -> f64 {
    let mut best = points.first().map_or(f64::NAN, |point| point.1);
    for &(_, value) in points {
        if better(value, best) || best.is_nan() {
            best = value;
        }
    }
    best
}

/// Population variance by Welford's method.
fn variance(points: &[Point]) -> f64 {
    let (mut aux, mut count, mut mean) = (0.0, 0.0, 0.0);
    for &(_, value) in points {
        count += 1.0;
        let delta = value - mean;
        mean += delta / count;
        aux += delta * (value - mean);
    }
    aux / count
}

/// The φ-quantile with linear interpolation between the closest ranks (Prometheus'
/// `quantile`): NaN for no values, -Inf for φ < 0, +Inf for φ > 1.
pub(crate) fn quantile(phi: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || phi.is_nan() {
        return f64::NAN;
    }
    if phi < 0.0 {
        return f64::NEG_INFINITY;
    }
    if phi > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|left, right| left.total_cmp(right));
    let count = values.len() as f64;
    let rank = phi * (count - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(count - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// Prometheus' extrapolated counter rate over the window, per second.
fn counter_rate(points: &[Point], range_nanos: i64, window_end_nanos: i64) -> f64 {
    if points.len() < 2 {
        return 0.0;
    }
    let window_start = window_end_nanos - range_nanos;
    let (first_time, first_value) = points[0];
    let (last_time, last_value) = points[points.len() - 1];
    let mut result = last_value - first_value;
    let mut previous = 0.0;
    for &(_, value) in points {
        if value < previous {
            result += previous;
        }
        previous = value;
    }
    let mut to_start = (first_time - window_start) as f64 / 1e9;
    let mut to_end = (window_end_nanos - last_time) as f64 / 1e9;
    let sampled = (last_time - first_time) as f64 / 1e9;
    let average_gap = sampled / (points.len() - 1) as f64;
    let threshold = average_gap * 1.1;
    if to_start >= threshold {
        to_start = average_gap / 2.0;
    }
    let mut to_zero = to_start;
    if result > 0.0 && first_value >= 0.0 {
        to_zero = sampled * (first_value / result);
    }
    if to_zero < to_start {
        to_start = to_zero;
    }
    if to_end >= threshold {
        to_end = average_gap / 2.0;
    }
    let extrapolated = sampled + to_start + to_end;
    result * (extrapolated / sampled) / (range_nanos as f64 / 1e9)
}

/// For each step end (ascending, Unix nanoseconds), the index range of `points`
/// (sorted by time) inside `(end - range, end]`.
pub(crate) fn windows(
    points: &[Point],
    step_ends: impl Iterator<Item = i64>,
    range_nanos: i64,
) -> impl Iterator<Item = (usize, std::ops::Range<usize>)> {
    let mut low = 0;
    let mut high = 0;
    step_ends.enumerate().map(move |(step, end)| {
        let start = end - range_nanos;
        // Steps may move backwards only when the caller passes unsorted ends; resetting
        // keeps the answer right in that case too.
        if high > 0 && points[high - 1].0 > end {
            low = 0;
            high = 0;
        }
        while high < points.len() && points[high].0 <= end {
            high += 1;
        }
        while low < high && points[low].0 <= start {
            low += 1;
        }
        if low > high {
            low = high;
        }
        (step, low..high)
    })
}
