use crate::stats::{LatencySummary, covered_nanos, histogram, nearest_rank};

#[test]
fn quantiles_are_nearest_rank_samples() {
    let mut samples = vec![40, 10, 30, 20];
    let summary = LatencySummary::from_samples(&mut samples);
    assert_eq!(
        summary,
        LatencySummary {
            count: 4,
            total_nanos: 100,
            min_nanos: 10,
            max_nanos: 40,
            mean_nanos: 25.0,
            p50_nanos: 20,
            p95_nanos: 40,
            p99_nanos: 40,
        }
    );
    let hundred: Vec<u64> = (1..=100).collect();
    assert_eq!(nearest_rank(&hundred, 500), 50);
    assert_eq!(nearest_rank(&hundred, 950), 95);
    assert_eq!(nearest_rank(&hundred, 990), 99);
    let mut one = vec![7];
    assert_eq!(LatencySummary::from_samples(&mut one).p99_nanos, 7);
    assert_eq!(
        LatencySummary::from_samples(&mut []),
        LatencySummary::default()
    );
}

#[test]
fn histogram_buckets_are_inclusive_upper_bounds_with_overflow() {
    let buckets = histogram(&[1_000, 1_001, 5_000, 200_000_000_000]);
    assert_eq!(buckets.len(), 26);
    assert_eq!(buckets[0].upper_bound_nanos, Some(1_000));
    assert_eq!(buckets[0].count, 1);
    assert_eq!(buckets[1].upper_bound_nanos, Some(2_000));
    assert_eq!(buckets[1].count, 1);
    assert_eq!(buckets[2].upper_bound_nanos, Some(5_000));
    assert_eq!(buckets[2].count, 1);
    assert_eq!(buckets[24].upper_bound_nanos, Some(100_000_000_000));
    assert_eq!(buckets[25].upper_bound_nanos, None);
    assert_eq!(buckets[25].count, 1);
}

#[test]
fn covered_time_counts_overlaps_once_and_clips() {
    let mut intervals = vec![(40, 80), (10, 60), (90, 120)];
    // [10,80] and [90,100] after clipping.
    assert_eq!(covered_nanos(&mut intervals, 0, 100), 70 + 10);
}
