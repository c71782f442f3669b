//! The few statistics the benchmarks print: nearest-rank percentiles of latencies and a
//! least-squares slope for memory growth.

use std::time::Duration;

/// The `quantile` (0 to 1) of ascending `sorted` values by the nearest-rank method: the
/// smallest value with at least `quantile` of all values at or below it. `None` when
/// there are no values; quantiles outside `[0, 1]` are clamped.
pub fn nearest_rank<T: Copy>(sorted: &[T], quantile: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let quantile = if quantile.is_nan() {
        0.0
    } else {
        quantile.clamp(0.0, 1.0)
    };
    let rank = ((sorted.len() as f64 * quantile).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// Count and percentiles of a set of latencies. All durations are zero when there were
/// no samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LatencySummary {
    /// Samples.
    pub count: usize,
    /// Median (nearest rank).
    pub p50: Duration,
    /// 90th percentile (nearest rank).
    pub p90: Duration,
    /// 99th percentile (nearest rank).
    pub p99: Duration,
    /// Slowest sample.
    pub max: Duration,
}

impl LatencySummary {
    /// Summarises `latencies` (any order; sorted in place).
    pub fn from_latencies(latencies: &mut [Duration]) -> LatencySummary {
        latencies.sort_unstable();
        let at = |quantile| nearest_rank(latencies, quantile).unwrap_or_default();
        LatencySummary {
            count: latencies.len(),
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            max: latencies.last().copied().unwrap_or_default(),
        }
    }
}

/// A duration as milliseconds with one decimal, for reports (`12.3ms`).
pub fn millis(duration: Duration) -> String {
    format!("{:.1}ms", duration.as_secs_f64() * 1e3)
}

/// Slope of the least-squares line through `points` (x, y): dy/dx. `None` with fewer
/// than two points or when every x is the same (no line is defined).
pub fn least_squares_slope(points: &[(f64, f64)]) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let count = points.len() as f64;
    let mean_x = points.iter().map(|(x, _)| x).sum::<f64>() / count;
    let mean_y = points.iter().map(|(_, y)| y).sum::<f64>() / count;
    let (mut covariance, mut variance) = (0.0, 0.0);
    for (x, y) in points {
        covariance += (x - mean_x) * (y - mean_y);
        variance += (x - mean_x) * (x - mean_x);
    }
    // Centred sums keep large x (seconds since the epoch, say) from cancelling out.
    (variance > 0.0).then(|| covariance / variance)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_matches_the_textbook_definition() {
        let values: Vec<u64> = (1..=100).collect();
        assert_eq!(nearest_rank(&values, 0.5), Some(50));
        assert_eq!(nearest_rank(&values, 0.9), Some(90));
        assert_eq!(nearest_rank(&values, 0.99), Some(99));
        assert_eq!(nearest_rank(&values, 1.0), Some(100));
        assert_eq!(nearest_rank(&values, 0.0), Some(1), "rank is at least 1");
        assert_eq!(nearest_rank(&[7u64], 0.99), Some(7));
        assert_eq!(nearest_rank::<u64>(&[], 0.5), None);
        assert_eq!(nearest_rank(&[1u64, 2, 3], f64::NAN), Some(1));
        assert_eq!(nearest_rank(&[1u64, 2, 3], 7.0), Some(3), "clamped");
        // 10 values: p90 is the 9th, p99 the 10th.
        let ten: Vec<u64> = (1..=10).collect();
        assert_eq!(nearest_rank(&ten, 0.9), Some(9));
        assert_eq!(nearest_rank(&ten, 0.99), Some(10));
    }

    #[test]
    fn latency_summary_sorts_and_handles_no_samples() {
        let mut latencies: Vec<Duration> = (1..=10).rev().map(Duration::from_millis).collect();
        let summary = LatencySummary::from_latencies(&mut latencies);
        assert_eq!(summary.count, 10);
        assert_eq!(summary.p50, Duration::from_millis(5));
        assert_eq!(summary.p90, Duration::from_millis(9));
        assert_eq!(summary.p99, Duration::from_millis(10));
        assert_eq!(summary.max, Duration::from_millis(10));
        assert_eq!(
            LatencySummary::from_latencies(&mut []),
            LatencySummary::default()
        );
    }

    #[test]
    fn slope_of_a_line_is_exact_and_degenerate_inputs_have_none() {
        let line: Vec<(f64, f64)> = (0..10).map(|x| (x as f64, 3.0 * x as f64 + 7.0)).collect();
        let slope = least_squares_slope(&line).expect("defined");
        assert!((slope - 3.0).abs() < 1e-9, "{slope}");
        // Noise around a flat line averages out.
        let flat = [(0.0, 1.0), (1.0, -1.0), (2.0, 1.0), (3.0, -1.0), (4.0, 0.0)];
        assert!(least_squares_slope(&flat).expect("defined").abs() < 0.5);
        // Large x offsets do not lose precision.
        let offset: Vec<(f64, f64)> = (0..5).map(|x| (1.7e9 + x as f64, 2.0 * x as f64)).collect();
        assert!((least_squares_slope(&offset).expect("defined") - 2.0).abs() < 1e-6);
        assert_eq!(least_squares_slope(&[(1.0, 2.0)]), None);
        assert_eq!(least_squares_slope(&[(1.0, 2.0), (1.0, 5.0)]), None);
    }
}
