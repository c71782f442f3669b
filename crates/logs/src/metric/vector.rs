//! Vector aggregations over one step's samples (`sum`, `avg`, `min`, `max`, `count`,
//! `stddev`, `stdvar`, `topk`, `bottomk`, `sort`, `sort_desc`) with `by`/`without`,
//! as Loki's `VectorAggEvaluator` computes them.

use std::collections::HashMap;
use std::sync::Arc;

use crate::LabelSet;
use crate::logql::{Grouping, VectorFunction};

use super::{Sample, labels_from_pairs};

/// The labels a sample keeps under `grouping`: `by` keeps the listed labels that have
/// a value, `without` removes them (and `__name__`). No grouping is `by ()`.
pub(crate) fn group_labels(labels: &LabelSet, grouping: Option<&Grouping>) -> LabelSet {
    let pairs = match grouping {
        Some(Grouping {
            without: true,
            labels: names,
        }) => labels
            .pairs()
            .iter()
            .filter(|(name, _)| name != "__name__" && !names.contains(name))
            .cloned()
            .collect(),
        Some(Grouping {
            without: false,
            labels: names,
        }) => labels
            .pairs()
            .iter()
            .filter(|(name, value)| !value.is_empty() && names.contains(name))
            .cloned()
            .collect(),
        None => Vec::new(),
    };
    labels_from_pairs(pairs)
}

struct Group {
    labels: Arc<LabelSet>,
    value: f64,
    mean: f64,
    count: usize,
    members: Vec<Sample>,
}

/// Aggregates one step's `samples`. `parameter` is k of `topk`/`bottomk`.
pub(crate) fn aggregate(
    function: VectorFunction,
    grouping: Option<&Grouping>,
    parameter: Option<usize>,
    samples: Vec<Sample>,
) -> Vec<Sample> {
    let k = parameter.unwrap_or(0);
    if matches!(function, VectorFunction::Topk | VectorFunction::Bottomk) && k < 1 {
        return Vec::new();
    }
    let mut groups: Vec<Group> = Vec::new();
    let mut index: HashMap<LabelSet, usize> = HashMap::new();
    for sample in samples {
        let key = group_labels(&sample.labels, grouping);
        let Some(&position) = index.get(&key) else {
            index.insert(key.clone(), groups.len());
            let value = match function {
                VectorFunction::Stddev | VectorFunction::Stdvar => 0.0,
                _ => sample.value,
            };
            groups.push(Group {
                labels: Arc::new(key),
                value,
                mean: sample.value,
                count: 1,
                members: vec![sample],
            });
            continue;
        };
        let group = &mut groups[position];
        let value = sample.value;
        match function {
            VectorFunction::Sum => group.value += value,
            VectorFunction::Avg => {
                group.count += 1;
                let keeps_infinite_mean = group.mean.is_infinite()
                    && ((value.is_infinite() && (group.mean > 0.0) == (value > 0.0))
                        || (!value.is_infinite() && !value.is_nan()));
                if !keeps_infinite_mean {
                    group.mean += (value - group.mean) / group.count as f64;
                }
            }
            VectorFunction::Max => {
                if group.value < value || group.value.is_nan() {
                    group.value = value;
                }
            }
            VectorFunction::Min => {
                if group.value > value || group.value.is_nan() {
                    group.value = value;
                }
            }
            VectorFunction::Count => group.count += 1,
            VectorFunction::Stddev | VectorFunction::Stdvar => {
                group.count += 1;
                let delta = value - group.mean;
                group.mean += delta / group.count as f64;
                group.value += delta * (value - group.mean);
            }
            VectorFunction::Topk
            | VectorFunction::Bottomk
            | VectorFunction::Sort
            | VectorFunction::SortDesc => group.members.push(sample),
        }
    }
    let mut out = Vec::new();
    for group in groups {
        let value = match function {
            VectorFunction::Sum | VectorFunction::Max | VectorFunction::Min => group.value,
            VectorFunction::Avg => group.mean,
            VectorFunction::Count => group.count as f64,
            VectorFunction::Stdvar => group.value / group.count as f64,
            VectorFunction::Stddev => (group.value / group.count as f64).sqrt(),
            VectorFunction::Topk | VectorFunction::SortDesc => {
                let limit = if function == VectorFunction::Topk {
                    k
                } else {
                    usize::MAX
                };
                out.extend(ranked(group.members, true, limit));
                continue;
            }
            VectorFunction::Bottomk | VectorFunction::Sort => {
                let limit = if function == VectorFunction::Bottomk {
                    k
                } else {
                    usize::MAX
                };
                out.extend(ranked(group.members, false, limit));
                continue;
            }
        };
        out.push(Sample {
            labels: group.labels,
            value,
        });
    }
    out
}

/// The `limit` largest (`descending`) or smallest members, in that order; NaN values
/// rank last either way, as in Loki's heaps.
fn ranked(mut members: Vec<Sample>, descending: bool, limit: usize) -> Vec<Sample> {
    members.sort_by(
        |left, right| match (left.value.is_nan(), right.value.is_nan()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            (false, false) if descending => right.value.total_cmp(&left.value),
            (false, false) => left.value.total_cmp(&right.value),
        },
    );
    members.truncate(limit);
    members
}
