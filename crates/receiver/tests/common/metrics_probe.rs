//! Reading counters from a local `metrics` debugging recorder.

use metrics::{SharedString, Unit};
use metrics_util::CompositeKey;
use metrics_util::debugging::{DebugValue, Snapshotter};

pub type Snapshot = Vec<(CompositeKey, Option<Unit>, Option<SharedString>, DebugValue)>;

/// Takes a snapshot; the debugging recorder resets counters on every snapshot, so take
/// one per step and query it as often as needed.
pub fn snapshot(snapshotter: &Snapshotter) -> Snapshot {
    snapshotter.snapshot().into_vec()
}

/// The value of counter `name` whose labels are exactly `labels` (order ignored).
pub fn counter(snapshot: &Snapshot, name: &str, labels: &[(&str, &str)]) -> Option<u64> {
    snapshot.iter().find_map(|(key, _, _, value)| {
        let key = key.key();
        let mut found: Vec<(String, String)> = key
            .labels()
            .map(|label| (label.key().to_owned(), label.value().to_owned()))
            .collect();
        found.sort();
        let mut wanted: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        wanted.sort();
        match value {
            DebugValue::Counter(count) if key.name() == name && found == wanted => Some(*count),
            _ => None,
        }
    })
}

/// Counter totals summed over every snapshot taken so far, so that waiting on one counter
/// does not lose the increments of another.
pub struct Totals<'a> {
    snapshotter: &'a Snapshotter,
    totals: std::collections::HashMap<(String, Vec<(String, String)>), u64>,
}

impl<'a> Totals<'a> {
    pub fn new(snapshotter: &'a Snapshotter) -> Self {
        Totals {
            snapshotter,
            totals: std::collections::HashMap::new(),
        }
    }

    /// The total of counter `name` with exactly `labels`, after taking a new snapshot.
    pub fn get(&mut self, name: &str, labels: &[(&str, &str)]) -> u64 {
        for (key, _, _, value) in snapshot(self.snapshotter) {
            if let DebugValue::Counter(count) = value {
                let key = key.key();
                let mut found: Vec<(String, String)> = key
                    .labels()
                    .map(|label| (label.key().to_owned(), label.value().to_owned()))
                    .collect();
                found.sort();
                *self
                    .totals
                    .entry((key.name().to_owned(), found))
                    .or_default() += count;
            }
        }
        let mut wanted: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        wanted.sort();
        self.totals
            .get(&(name.to_owned(), wanted))
            .copied()
            .unwrap_or(0)
    }

    /// Waits up to 5 s for counter `name{labels}` to reach `at_least`; returns its total.
    pub async fn wait_for(&mut self, name: &str, labels: &[(&str, &str)], at_least: u64) -> u64 {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let total = self.get(name, labels);
            if total >= at_least || std::time::Instant::now() > deadline {
                return total;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
}
