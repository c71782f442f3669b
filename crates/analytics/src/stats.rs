//! Exact latency summaries and fixed histograms.

use serde::Serialize;

/// A distribution of durations, exact.
///
/// Quantiles use the nearest-rank method: the q-quantile of n sorted samples is the
/// sample at 1-based rank ⌈q·n⌉ (so p50 of `[10, 20, 30, 40]` is 20 and p99 of 100
/// samples is the 99th smallest). Every value is a sample that occurred; nothing is
/// interpolated. All zero when `count` is 0.
///
/// JSON: `{"count": 4, "total_nanos": 100, "min_nanos": 10, "max_nanos": 40,
/// "mean_nanos": 25.0, "p50_nanos": 20, "p95_nanos": 40, "p99_nanos": 40}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Samples.
    pub count: u64,
    /// Sum of the samples (saturating).
    pub total_nanos: u64,
    /// Smallest sample.
    pub min_nanos: u64,
    /// Largest sample.
    pub max_nanos: u64,
    /// Arithmetic mean.
    pub mean_nanos: f64,
    /// Median (nearest rank).
    pub p50_nanos: u64,
    /// 95th percentile (nearest rank).
    pub p95_nanos: u64,
    /// 99th percentile (nearest rank).
    pub p99_nanos: u64,
}

impl LatencySummary {
    /// Summarises `samples`, sorting them in place.
    pub fn from_samples(samples: &mut [u64]) -> Self {
        if samples.is_empty() {
            return LatencySummary::default();
        }
        samples.sort_unstable();
        let total = samples
            .iter()
            .fold(0u64, |sum, &sample| sum.saturating_add(sample));
        let sum_exact: u128 = samples.iter().map(|&sample| u128::from(sample)).sum();
        LatencySummary {
            count: samples.len() as u64,
            total_nanos: total,
            min_nanos: samples[0],
            max_nanos: samples[samples.len() - 1],
            mean_nanos: sum_exact as f64 / samples.len() as f64,
            p50_nanos: nearest_rank(samples, 500),
            p95_nanos: nearest_rank(samples, 950),
            p99_nanos: nearest_rank(samples, 990),
        }
    }
}

/// The sample at rank ⌈per_mille·n/1000⌉ of non-empty sorted `samples`.
pub(crate) fn nearest_rank(sorted: &[u64], per_mille: u64) -> u64 {
    let count = sorted.len() as u64;
    let rank = (per_mille * count).div_ceil(1000).clamp(1, count);
    sorted[(rank - 1) as usize]
}

/// One histogram bucket.
///
/// JSON: `{"upper_bound_nanos": 5000, "count": 3}`; the last bucket has
/// `"upper_bound_nanos": null` and counts everything above the previous bound.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistogramBucket {
    /// Inclusive upper bound; `None` for the overflow bucket.
    pub upper_bound_nanos: Option<u64>,
    /// Samples in `(previous bound, upper_bound_nanos]`; not cumulative.
    pub count: u64,
}

/// Bucket bounds: 1, 2, 5 times each power of ten from 1 µs to 100 s.
pub(crate) fn histogram_bounds() -> impl Iterator<Item = u64> {
    (3..=11u32)
        .flat_map(|exponent| {
            let power = 10u64.pow(exponent);
            [power, 2 * power, 5 * power]
        })
        .filter(|&bound| bound <= 100_000_000_000)
}

/// A fixed histogram of `samples`: every bound of [`histogram_bounds`] plus overflow.
pub(crate) fn histogram(samples: &[u64]) -> Vec<HistogramBucket> {
    let bounds: Vec<u64> = histogram_bounds().collect();
    let mut counts = vec![0u64; bounds.len() + 1];
    for &sample in samples {
        let bucket = bounds.partition_point(|&bound| bound < sample);
        counts[bucket] += 1;
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(index, count)| HistogramBucket {
            upper_bound_nanos: bounds.get(index).copied(),
            count,
        })
        .collect()
}

/// The fraction `part / whole`, 0 when `whole` is 0.
pub(crate) fn fraction(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Nanoseconds covered by the union of `intervals` (each `start <= end`) after clipping
/// them to `[from, to]`. Sorts `intervals`.
pub(crate) fn covered_nanos(intervals: &mut [(u64, u64)], from: u64, to: u64) -> u64 {
    intervals.sort_unstable();
    let mut covered = 0u64;
    let mut reach = from;
    for &(start, end) in intervals.iter() {
        let start = start.max(reach);
        let end = end.min(to);
        if end > start {
            covered += end - start;
            reach = end;
        }
    }
    covered
}
