//! The power-of-two histograms behind `quantile_over_time` and `histogram_over_time`
//! (Tempo's `Log2Bucketize` and `Log2Quantile`, reimplemented).

/// The bucket of `value`: the smallest power of two at least `value`; `None` below 2
/// (Tempo drops such values from histograms).
pub(crate) fn bucketize(value: u64) -> Option<f64> {
    if value < 2 {
        return None;
    }
    let exponent = 64 - (value - 1).leading_zeros();
    Some((1u128 << exponent) as f64)
}

/// One histogram bucket: values up to `max` (and above the previous bucket's `max`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Bucket {
    pub max: f64,
    pub count: u64,
}

/// The `quantile` (0 to 1) of buckets sorted by `max`, interpolated exponentially within
/// the bucket it falls in; 0 for no samples or a quantile outside 0..=1.
pub(crate) fn quantile(quantile: f64, buckets: &[Bucket]) -> f64 {
    if quantile.is_nan() || !(0.0..=1.0).contains(&quantile) || buckets.is_empty() {
        return 0.0;
    }
    let total: u64 = buckets.iter().map(|bucket| bucket.count).sum();
    if total == 0 {
        return 0.0;
    }
    // Rounded up: low sample counts read better (Tempo's choice).
    let wanted = ((quantile * total as f64).ceil() as u64).max(1);
    let mut consumed = 0;
    let mut index = 0;
    for (position, bucket) in buckets.iter().enumerate() {
        index = position;
        if consumed + bucket.count > wanted {
            break;
        }
        consumed += bucket.count;
        if consumed == wanted {
            return bucket.max;
        }
    }
    let fraction = (wanted - consumed) as f64 / buckets[index].count as f64;
    let upper = buckets[index].max.log2();
    let lower = if index > 0 {
        buckets[index - 1].max.log2()
    } else {
        upper - 1.0
    };
    2f64.powf(lower + (upper - lower) * fraction)
}
