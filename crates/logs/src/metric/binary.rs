//! Binary operators over one step's samples and `label_replace`, with Loki's (and
//! Prometheus') vector matching: `on`/`ignoring`, `group_left`/`group_right`, `bool`,
//! and the set operators `and`, `or`, `unless`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::LabelSet;
use crate::logql::{BinaryOp, Cardinality, LabelReplace, VectorMatching};

use super::{MetricError, Sample, labels_from_pairs};

/// `left op right` on two numbers. Comparisons give 1 or 0; `None` means "filtered
/// out" (a false comparison without `bool`).
fn apply(op: BinaryOp, left: f64, right: f64, return_bool: bool) -> Option<f64> {
    let truth = |holds: bool| {
        if holds {
            Some(1.0)
        } else if return_bool {
            Some(0.0)
        } else {
            None
        }
    };
    match op {
        BinaryOp::Add => Some(left + right),
        BinaryOp::Sub => Some(left - right),
        BinaryOp::Mul => Some(left * right),
        BinaryOp::Div if right == 0.0 => Some(f64::NAN),
        BinaryOp::Div => Some(left / right),
        BinaryOp::Mod if right == 0.0 => Some(f64::NAN),
        BinaryOp::Mod => Some(left % right),
        BinaryOp::Pow => Some(left.powf(right)),
        BinaryOp::Equal => truth(left == right),
        BinaryOp::NotEqual => truth(left != right),
        BinaryOp::Greater => truth(left > right),
        BinaryOp::GreaterOrEqual => truth(left >= right),
        BinaryOp::Less => truth(left < right),
        BinaryOp::LessOrEqual => truth(left <= right),
        // Set operators never reach here: they are handled on whole vectors.
        BinaryOp::And | BinaryOp::Or | BinaryOp::Unless => None,
    }
}

/// A number with every sample of a vector. `scalar_on_left` says which side the
/// number is on. A comparison without `bool` keeps the sample (its own value) when
/// it holds; with `bool` the value becomes 1 or 0. Labels are kept.
pub(crate) fn with_scalar(
    op: BinaryOp,
    return_bool: bool,
    scalar: f64,
    scalar_on_left: bool,
    samples: Vec<Sample>,
) -> Vec<Sample> {
    samples
        .into_iter()
        .filter_map(|sample| {
            let (left, right) = if scalar_on_left {
                (scalar, sample.value)
            } else {
                (sample.value, scalar)
            };
            let value = apply(op, left, right, return_bool)?;
            let value = if op.is_comparison() && !return_bool {
                sample.value
            } else {
                value
            };
            Some(Sample {
                labels: sample.labels,
                value,
            })
        })
        .collect()
}

/// The labels two samples are matched on.
fn signature(labels: &LabelSet, matching: Option<&VectorMatching>) -> Vec<(String, String)> {
    match matching {
        Some(VectorMatching {
            on: true,
            labels: names,
            ..
        }) => labels
            .pairs()
            .iter()
            .filter(|(name, _)| names.contains(name))
            .cloned()
            .collect(),
        Some(VectorMatching {
            on: false,
            labels: names,
            ..
        }) => labels
            .pairs()
            .iter()
            .filter(|(name, _)| !names.contains(name))
            .cloned()
            .collect(),
        None => labels.pairs().to_vec(),
    }
}

/// The labels of a result: the "many" side's, reduced to the `on` labels (or without
/// the `ignoring` ones) for one-to-one matching, plus the `group_x(...)` labels taken
/// from the "one" side (removed when the one side lacks them).
fn result_labels(many: &LabelSet, one: &LabelSet, matching: Option<&VectorMatching>) -> LabelSet {
    let Some(matching) = matching else {
        return many.clone();
    };
    let mut pairs: Vec<(String, String)> = many.pairs().to_vec();
    if matching.cardinality == Cardinality::OneToOne {
        if matching.on {
            pairs.retain(|(name, _)| matching.labels.contains(name));
        } else {
            pairs.retain(|(name, _)| !matching.labels.contains(name));
        }
    }
    for name in &matching.include {
        pairs.retain(|(existing, _)| existing != name);
        if let Some(value) = one.get(name).filter(|value| !value.is_empty()) {
            pairs.push((name.clone(), value.to_owned()));
        }
    }
    labels_from_pairs(pairs)
}

/// Two vectors under an arithmetic or comparison operator.
pub(crate) fn vectors(
    op: BinaryOp,
    return_bool: bool,
    matching: Option<&VectorMatching>,
    left: Vec<Sample>,
    right: Vec<Sample>,
) -> Result<Vec<Sample>, MetricError> {
    match op {
        BinaryOp::And => return Ok(and(left, right, matching)),
        BinaryOp::Or => return Ok(or(left, right, matching)),
        BinaryOp::Unless => return Ok(unless(left, right, matching)),
        _ => {}
    }
    let cardinality = matching.map_or(Cardinality::OneToOne, |matching| matching.cardinality);
    // The "many" side is iterated, the "one" side looked up.
    let (many, one) = if cardinality == Cardinality::OneToMany {
        (right, left)
    } else {
        (left, right)
    };
    let mut one_by_signature: HashMap<Vec<(String, String)>, Sample> = HashMap::new();
    for sample in one {
        let key = signature(&sample.labels, matching);
        if one_by_signature.insert(key, sample).is_some() {
            let side = if cardinality == Cardinality::OneToMany {
                "left"
            } else {
                "right"
            };
            return Err(MetricError::Execution(format!(
                "found duplicate series on the {side} hand-side;many-to-many matching not allowed: matching labels must be unique on one side"
            )));
        }
    }
    let mut matched: HashMap<Vec<(String, String)>, HashSet<LabelSet>> = HashMap::new();
    let mut out = Vec::new();
    for sample in many {
        let key = signature(&sample.labels, matching);
        let Some(partner) = one_by_signature.get(&key) else {
            continue;
        };
        let labels = result_labels(&sample.labels, &partner.labels, matching);
        if cardinality == Cardinality::OneToOne {
            if matched.contains_key(&key) {
                return Err(MetricError::Execution(String::from(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
                )));
            }
            matched.insert(key, HashSet::new());
        } else if !matched.entry(key).or_default().insert(labels.clone()) {
            return Err(MetricError::Execution(String::from(
                "multiple matches for labels: grouping labels must ensure unique matches",
            )));
        }
        let (left_value, right_value) = if cardinality == Cardinality::OneToMany {
            (partner.value, sample.value)
        } else {
            (sample.value, partner.value)
        };
        let Some(value) = apply(op, left_value, right_value, return_bool) else {
            continue;
        };
        let value = if op.is_comparison() && !return_bool {
            left_value
        } else {
            value
        };
        out.push(Sample {
            labels: Arc::new(labels),
            value,
        });
    }
    Ok(out)
}

fn signatures(
    samples: &[Sample],
    matching: Option<&VectorMatching>,
) -> HashSet<Vec<(String, String)>> {
    samples
        .iter()
        .map(|sample| signature(&sample.labels, matching))
        .collect()
}

fn and(left: Vec<Sample>, right: Vec<Sample>, matching: Option<&VectorMatching>) -> Vec<Sample> {
    if left.is_empty() || right.is_empty() {
        return Vec::new();
    }
    let keys = signatures(&right, matching);
    left.into_iter()
        .filter(|sample| keys.contains(&signature(&sample.labels, matching)))
        .collect()
}

fn or(left: Vec<Sample>, right: Vec<Sample>, matching: Option<&VectorMatching>) -> Vec<Sample> {
    if left.is_empty() {
        return right;
    }
    if right.is_empty() {
        return left;
    }
    let keys = signatures(&left, matching);
    let mut out = left;
    out.extend(
        right
            .into_iter()
            .filter(|sample| !keys.contains(&signature(&sample.labels, matching))),
    );
    out
}

fn unless(left: Vec<Sample>, right: Vec<Sample>, matching: Option<&VectorMatching>) -> Vec<Sample> {
    if left.is_empty() || right.is_empty() {
        return left;
    }
    let keys = signatures(&right, matching);
    left.into_iter()
        .filter(|sample| !keys.contains(&signature(&sample.labels, matching)))
        .collect()
}

/// `label_replace`: where the regex matches the source label's value (the empty
/// string when absent) in full, the destination is set to the expanded replacement
/// (removed when that is empty); elsewhere the sample is unchanged.
pub(crate) fn label_replace(replace: &LabelReplace, samples: Vec<Sample>) -> Vec<Sample> {
    let mut cache: HashMap<Arc<LabelSet>, Arc<LabelSet>> = HashMap::new();
    samples
        .into_iter()
        .map(|sample| {
            if let Some(labels) = cache.get(&sample.labels) {
                return Sample {
                    labels: labels.clone(),
                    value: sample.value,
                };
            }
            let source = sample.labels.get(&replace.source).unwrap_or("");
            let labels = match replace.regex.captures(source) {
                None => sample.labels.clone(),
                Some(captures) => {
                    let mut expanded = String::new();
                    captures.expand(&replace.replacement, &mut expanded);
                    let mut pairs: Vec<(String, String)> = sample
                        .labels
                        .pairs()
                        .iter()
                        .filter(|(name, _)| *name != replace.destination)
                        .cloned()
                        .collect();
                    if !expanded.is_empty() {
                        pairs.push((replace.destination.clone(), expanded));
                    }
                    Arc::new(labels_from_pairs(pairs))
                }
            };
            cache.insert(sample.labels.clone(), labels.clone());
            Sample {
                labels,
                value: sample.value,
            }
        })
        .collect()
}
