//! A classic Prometheus histogram and bounded label-set families.

use std::hash::Hash;

use foldhash::HashMap;

/// Counts per bucket (not cumulative; the last is `+Inf`), sum and count.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Histogram {
    pub counts: Vec<u64>,
    pub sum: f64,
    pub count: u64,
}

impl Histogram {
    pub fn new(bounds: &[f64]) -> Histogram {
        Histogram {
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
            count: 0,
        }
    }

    /// Counts `value` in the first bucket whose upper bound is at least `value`.
    pub fn observe(&mut self, bounds: &[f64], value: f64) {
        let bucket = bounds.partition_point(|bound| *bound < value);
        if let Some(count) = self.counts.get_mut(bucket) {
            *count += 1;
        }
        self.sum += value;
        self.count += 1;
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.sum += other.sum;
        self.count += other.count;
    }
}

/// The series of one metric family, at most `max_series` label sets; the rest are
/// added to one overflow series.
#[derive(Debug)]
pub(crate) struct Family<K, V> {
    pub series: HashMap<K, V>,
    pub overflow: Option<V>,
    max_series: usize,
}

impl<K: Hash + Eq, V> Family<K, V> {
    pub fn new(max_series: usize) -> Self {
        Family {
            series: HashMap::default(),
            overflow: None,
            max_series,
        }
    }

    /// The series of `key`, created with `make` while there is room, else the overflow
    /// series.
    pub fn entry(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        if self.series.len() < self.max_series || self.series.contains_key(&key) {
            return self.series.entry(key).or_insert_with(make);
        }
        self.overflow.get_or_insert_with(make)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_on_a_bound_goes_in_that_bucket() {
        let bounds = [0.1, 0.2, 0.4];
        let mut histogram = Histogram::new(&bounds);
        for value in [0.05, 0.1, 0.15, 0.4, 0.5, 7.0] {
            histogram.observe(&bounds, value);
        }
        assert_eq!(histogram.counts, vec![2, 1, 1, 2]);
        assert_eq!(histogram.count, 6);
        assert!((histogram.sum - 8.2).abs() < 1e-9);
    }

    #[test]
    fn label_sets_beyond_the_limit_share_the_overflow_series() {
        let mut family: Family<u32, u64> = Family::new(2);
        for key in [1, 2, 3, 4, 1] {
            *family.entry(key, || 0) += 1;
        }
        assert_eq!(family.series.len(), 2);
        assert_eq!(family.series.get(&1), Some(&2));
        assert_eq!(family.overflow, Some(2));
    }
}
