//! Validation of pushed streams against Loki's limits, with Loki's messages.

use std::collections::HashMap;

use crate::labels::{LabelError, LabelSet};
use crate::limits::DiscardReason;
use crate::push::{PushedLabels, PushedStream};
use crate::time::format_rfc3339;
use crate::{Entry, LogsConfig};

/// A stream whose entries passed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct AcceptedStream {
    /// The parsed, sorted labels.
    pub labels: LabelSet,
    /// Entries that passed, in request order.
    pub entries: Vec<Entry>,
}

/// Refused entries of one stream for one reason, with Loki's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Why (the `reason` of the discard counters).
    pub reason: DiscardReason,
    /// Loki's message for it.
    pub message: String,
    /// Entries refused.
    pub entries: usize,
    /// Line bytes refused.
    pub bytes: usize,
}

impl Rejection {
    fn new(reason: DiscardReason, message: String, entries: &[Entry]) -> Self {
        Rejection {
            reason,
            message,
            entries: entries.len(),
            bytes: entries.iter().map(|entry| entry.line.len()).sum(),
        }
    }

    fn one(reason: DiscardReason, message: String, entry: &Entry) -> Self {
        Rejection {
            reason,
            message,
            entries: 1,
            bytes: entry.line.len(),
        }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.message)
    }
}

/// The outcome of validating a push: what to store and what was rejected (Loki stores
/// the valid entries of a request and answers 400 naming the rejected ones).
#[derive(Debug, Default)]
pub struct Validated {
    /// Streams to store.
    pub accepted: Vec<AcceptedStream>,
    /// One per rejected stream or entry.
    pub rejections: Vec<Rejection>,
}

/// Validates `streams` pushed at `now_unix_nanos`. `newest_of` gives the newest stored
/// timestamp of an existing stream (for the out-of-order window); entries accepted
/// earlier in the same request move that mark forward.
pub fn validate(
    config: &LogsConfig,
    streams: Vec<PushedStream>,
    now_unix_nanos: i64,
    newest_of: impl Fn(&LabelSet) -> Option<i64>,
) -> Validated {
    let mut validated = Validated::default();
    let oldest_allowed =
        now_unix_nanos.saturating_sub(config.reject_old_samples_max_age.as_nanos() as i64);
    let newest_allowed =
        now_unix_nanos.saturating_add(config.creation_grace_period.as_nanos() as i64);
    let window = config.out_of_order_window.as_nanos() as i64;
    let mut newest_in_request: HashMap<LabelSet, i64> = HashMap::new();
    let mut index_of: HashMap<LabelSet, usize> = HashMap::new();
    for stream in streams {
        let parsed = match stream.labels {
            PushedLabels::Text(text) => LabelSet::parse(&text).map_err(|error| (error, text)),
            PushedLabels::Pairs(pairs) => {
                let text = format!("{pairs:?}");
                LabelSet::from_pairs(pairs).map_err(|error| (error, text))
            }
        };
        let labels = match parsed {
            Ok(labels) => labels,
            Err((LabelError::Empty, _)) => {
                validated.rejections.push(Rejection::new(
                    DiscardReason::MissingLabels,
                    LabelError::Empty.to_string(),
                    &stream.entries,
                ));
                continue;
            }
            Err((error, text)) => {
                validated.rejections.push(Rejection::new(
                    DiscardReason::InvalidLabels,
                    format!("error parsing labels '{text}': {error}"),
                    &stream.entries,
                ));
                continue;
            }
        };
        if let Some(rejection) = check_labels(config, &labels, &stream.entries) {
            validated.rejections.push(rejection);
            continue;
        }
        let mut newest = newest_in_request
            .get(&labels)
            .copied()
            .or_else(|| newest_of(&labels));
        let mut entries = Vec::with_capacity(stream.entries.len());
        for entry in stream.entries {
            let timestamp = entry.timestamp_unix_nanos;
            if config.max_line_size_bytes > 0 && entry.line.len() > config.max_line_size_bytes {
                let message = format!(
                    "Max entry size '{}' bytes exceeded for stream '{labels}' while adding an entry with length '{}' bytes",
                    config.max_line_size_bytes,
                    entry.line.len()
                );
                validated.rejections.push(Rejection::one(
                    DiscardReason::LineTooLong,
                    message,
                    &entry,
                ));
                continue;
            }
            if timestamp < oldest_allowed {
                let message = format!(
                    "entry for stream '{labels}' has timestamp too old: {}, oldest acceptable timestamp is: {}",
                    format_rfc3339(timestamp),
                    format_rfc3339(oldest_allowed)
                );
                validated.rejections.push(Rejection::one(
                    DiscardReason::GreaterThanMaxSampleAge,
                    message,
                    &entry,
                ));
                continue;
            }
            if timestamp > newest_allowed {
                let message = format!(
                    "entry for stream '{labels}' has timestamp too new: {}",
                    format_rfc3339(timestamp)
                );
                validated.rejections.push(Rejection::one(
                    DiscardReason::TooFarInFuture,
                    message,
                    &entry,
                ));
                continue;
            }
            if let Some(newest) = newest {
                let oldest_acceptable = newest.saturating_sub(window);
                if timestamp < oldest_acceptable {
                    let message = format!(
                        "entry with timestamp {} ignored, reason: 'entry too far behind, entry timestamp is: {}, oldest acceptable timestamp is: {}', for stream: {labels}",
                        format_rfc3339(timestamp),
                        format_rfc3339(timestamp),
                        format_rfc3339(oldest_acceptable)
                    );
                    validated.rejections.push(Rejection::one(
                        DiscardReason::TooFarBehind,
                        message,
                        &entry,
                    ));
                    continue;
                }
            }
            newest = Some(newest.map_or(timestamp, |newest| newest.max(timestamp)));
            entries.push(entry);
        }
        if let Some(newest) = newest {
            newest_in_request.insert(labels.clone(), newest);
        }
        if entries.is_empty() {
            continue;
        }
        match index_of.get(&labels) {
            Some(&index) => validated.accepted[index].entries.extend(entries),
            None => {
                index_of.insert(labels.clone(), validated.accepted.len());
                validated.accepted.push(AcceptedStream { labels, entries });
            }
        }
    }
    validated
}

/// The label limits of one stream: count, name and value lengths (Loki's order and
/// messages); `None` when they pass.
fn check_labels(config: &LogsConfig, labels: &LabelSet, entries: &[Entry]) -> Option<Rejection> {
    if labels.len() > config.max_label_names_per_series {
        return Some(Rejection::new(
            DiscardReason::MaxLabelNamesPerSeries,
            format!(
                "entry for stream '{labels}' has {} label names; limit {}",
                labels.len(),
                config.max_label_names_per_series
            ),
            entries,
        ));
    }
    for (name, value) in labels.pairs() {
        if name.len() > config.max_label_name_length {
            return Some(Rejection::new(
                DiscardReason::LabelNameTooLong,
                format!("stream '{labels}' has label name too long: '{name}'"),
                entries,
            ));
        }
        if value.len() > config.max_label_value_length {
            return Some(Rejection::new(
                DiscardReason::LabelValueTooLong,
                format!("stream '{labels}' has label value too long: '{value}'"),
                entries,
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000_000_000;
    const NOW: i64 = 1_700_000_000_000_000_000;

    fn stream(labels: &str, timestamps: &[i64]) -> PushedStream {
        PushedStream {
            labels: PushedLabels::Text(labels.to_owned()),
            entries: timestamps
                .iter()
                .map(|&timestamp| Entry {
                    timestamp_unix_nanos: timestamp,
                    line: format!("line at {timestamp}"),
                    structured_metadata: Vec::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn out_of_order_entries_are_accepted_within_the_window_only() {
        let config = LogsConfig::default();
        let stored_newest = NOW - HOUR / 2;
        let validated = validate(
            &config,
            vec![stream(
                r#"{job="a"}"#,
                // newer, older but within an hour, too far behind the stored newest,
                // then too far behind the newest of this request.
                &[NOW, NOW - HOUR / 2 - 10, NOW - 2 * HOUR, NOW - HOUR - 1],
            )],
            NOW,
            |labels| (labels.get("job") == Some("a")).then_some(stored_newest),
        );
        assert_eq!(validated.accepted.len(), 1);
        let kept: Vec<i64> = validated.accepted[0]
            .entries
            .iter()
            .map(|entry| entry.timestamp_unix_nanos)
            .collect();
        assert_eq!(kept, vec![NOW, NOW - HOUR / 2 - 10]);
        assert_eq!(validated.rejections.len(), 2);
        assert!(
            validated.rejections[0]
                .message
                .contains("entry too far behind")
        );
        assert_eq!(validated.rejections[0].reason, DiscardReason::TooFarBehind);
        // A new stream has no mark: anything within the age limits goes in.
        let validated = validate(
            &config,
            vec![stream(r#"{job="b"}"#, &[NOW - 50 * HOUR])],
            NOW,
            |_| None,
        );
        assert!(validated.rejections.is_empty());
    }

    #[test]
    fn limits_reject_with_loki_messages() {
        let mut config = LogsConfig {
            max_line_size_bytes: 27,
            max_label_names_per_series: 2,
            ..LogsConfig::default()
        };
        let validated = validate(
            &config,
            vec![
                stream(r#"{a="1", b="2", c="3"}"#, &[NOW]),
                PushedStream {
                    labels: PushedLabels::Text(String::from(r#"{a="1"}"#)),
                    entries: vec![Entry {
                        timestamp_unix_nanos: NOW,
                        line: String::from("a line longer than 27 bytes!"),
                        structured_metadata: Vec::new(),
                    }],
                },
                stream(r#"{a="1", b="2"}"#, &[NOW - 8 * 24 * HOUR, NOW + HOUR]),
                stream("{}", &[NOW]),
                stream(r#"{a-b="1"}"#, &[NOW]),
            ],
            NOW,
            |_| None,
        );
        assert!(validated.accepted.is_empty());
        let joined = validated
            .rejections
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n");
        assert!(joined.contains("has 3 label names; limit 2"), "{joined}");
        assert!(
            joined.contains("Max entry size '27' bytes exceeded for stream '{a=\"1\"}' while adding an entry with length '28' bytes"),
            "{joined}"
        );
        assert!(joined.contains("timestamp too old"), "{joined}");
        assert!(joined.contains("timestamp too new"), "{joined}");
        assert!(joined.contains("at least one label pair"), "{joined}");
        assert!(joined.contains("error parsing labels"), "{joined}");
        config.max_label_value_length = 3;
        config.max_label_name_length = 2;
        let validated = validate(
            &config,
            vec![
                stream(r#"{abc="1"}"#, &[NOW]),
                stream(r#"{a="1234"}"#, &[NOW, NOW]),
            ],
            NOW,
            |_| None,
        );
        assert_eq!(
            validated.rejections,
            vec![
                Rejection {
                    reason: DiscardReason::LabelNameTooLong,
                    message: String::from("stream '{abc=\"1\"}' has label name too long: 'abc'"),
                    entries: 1,
                    bytes: 27,
                },
                Rejection {
                    reason: DiscardReason::LabelValueTooLong,
                    message: String::from("stream '{a=\"1234\"}' has label value too long: '1234'"),
                    entries: 2,
                    bytes: 54,
                },
            ]
        );
        config.max_line_size_bytes = 0;
        let validated = validate(&config, vec![stream(r#"{a="1"}"#, &[NOW])], NOW, |_| None);
        assert_eq!(validated.accepted.len(), 1);
    }
}
