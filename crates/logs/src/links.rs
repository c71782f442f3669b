//! Links between log entries and traces.
//!
//! [`TraceIdFinder`] says which trace an entry belongs to: a trace-id key in its
//! structured metadata (what OTLP log records and most loggers send), else the first
//! trace id a pattern finds in the line (W3C `traceparent`, `traceID=...`,
//! `"trace_id":"..."`). [`entries_of_trace`] reads the entries of one trace in a time
//! window: those whose line contains the id, or whose metadata names it.
//!
//! Ids are compared as 32 lowercase hex digits: a 64-bit id (16 digits) is the 128-bit id
//! with a zero high half, as Zipkin and Jaeger clients write them.

use regex::Regex;
use weft_model::TenantId;

use crate::labels::is_valid_label_name;
use crate::logql::{self, LogQuery};
use crate::query::{Bounds, Direction, QueryError, QueryStats, StreamResult, run_log_query};
use crate::{LabelSet, LogStore};

/// Structured-metadata keys that carry a trace id, compared without case.
pub const DEFAULT_METADATA_KEYS: &[&str] = &["trace_id", "traceid", "trace.id", "trace-id"];

/// Line patterns whose first capture group is a trace id (16 or 32 hex digits).
pub const DEFAULT_LINE_PATTERNS: &[&str] = &[
    // W3C traceparent: version-traceid-parentid-flags
    r"\b[0-9a-fA-F]{2}-([0-9a-fA-F]{32})-[0-9a-fA-F]{16}-[0-9a-fA-F]{2}\b",
    // traceID=..., trace_id: ..., "traceId":"...", trace.id=...
    r#"(?i)\btrace[_.\-]?id["']?\s*[:=]\s*["']?([0-9a-f]{32}|[0-9a-f]{16})\b"#,
    // Jaeger's uber-trace-id header value: traceid:spanid:parentid:flags
    r"(?i)\buber-trace-id[\s:=]+([0-9a-f]{16,32}):[0-9a-f]{1,16}:",
];

/// Finds the trace an entry belongs to.
#[derive(Debug, Clone)]
pub struct TraceIdFinder {
    metadata_keys: Vec<String>,
    patterns: Vec<Regex>,
}

impl Default for TraceIdFinder {
    fn default() -> Self {
        let patterns = DEFAULT_LINE_PATTERNS
            .iter()
            .map(|pattern| Regex::new(pattern).expect("the default trace-id patterns compile"))
            .collect();
        TraceIdFinder {
            metadata_keys: DEFAULT_METADATA_KEYS
                .iter()
                .map(|key| key.to_string())
                .collect(),
            patterns,
        }
    }
}

impl TraceIdFinder {
    /// A finder with extra line patterns (each with one capture group holding the id)
    /// tried after the defaults; the error names the pattern that does not compile or
    /// has no capture group.
    pub fn with_patterns(extra: &[String]) -> Result<Self, String> {
        let mut finder = TraceIdFinder::default();
        for pattern in extra {
            let regex = Regex::new(pattern)
                .map_err(|error| format!("trace-id pattern {pattern:?}: {error}"))?;
            if regex.captures_len() < 2 {
                return Err(format!(
                    "trace-id pattern {pattern:?} has no capture group for the id"
                ));
            }
            finder.patterns.push(regex);
        }
        Ok(finder)
    }

    /// The trace id of an entry as 32 lowercase hex digits: from its metadata first, else
    /// from its line. None when neither holds a (non-zero) id.
    pub fn find(&self, line: &str, metadata: &[(String, String)]) -> Option<String> {
        for (key, value) in metadata {
            if self
                .metadata_keys
                .iter()
                .any(|wanted| wanted.eq_ignore_ascii_case(key))
                && let Some(id) = normalize_trace_id(value)
            {
                return Some(id);
            }
        }
        self.patterns.iter().find_map(|pattern| {
            pattern
                .captures_iter(line)
                .filter_map(|captures| captures.get(1))
                .find_map(|found| normalize_trace_id(found.as_str()))
        })
    }
}

/// `text` as 32 lowercase hex digits (16 digits get a zero high half); None unless it is
/// 1 to 32 hex digits and not all zeros.
pub fn normalize_trace_id(text: &str) -> Option<String> {
    let text = text.trim();
    if text.is_empty() || text.len() > 32 || !text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return None;
    }
    if text.bytes().all(|byte| byte == b'0') {
        return None;
    }
    Some(format!("{:0>32}", text.to_ascii_lowercase()))
}

/// How an entry was tied to its trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    /// A structured-metadata key names the trace.
    Metadata,
    /// The line contains the trace id.
    Line,
}

/// One entry of a trace, with its stream's labels.
#[derive(Debug, Clone)]
pub struct LinkedEntry {
    /// The stream's labels.
    pub labels: LabelSet,
    /// The entry.
    pub entry: crate::Entry,
    /// How it was found.
    pub kind: LinkKind,
}

/// The entries of trace `trace_id` (32 lowercase hex digits) in `[start, end)` Unix
/// nanoseconds, across every stream of `tenant`: lines that contain the id (or, for an id
/// with a zero high half, its low 16 digits), without case, and entries whose metadata
/// names it. At most `limit` entries, oldest first; the flag says whether more were left
/// out. The logs query limits (bytes scanned, deadline) apply.
pub async fn entries_of_trace(
    store: &LogStore,
    tenant: &TenantId,
    trace_id: &str,
    start_unix_nanos: i64,
    end_unix_nanos: i64,
    limit: usize,
) -> Result<(Vec<LinkedEntry>, QueryStats, bool), QueryError> {
    let Some(trace_id) = normalize_trace_id(trace_id) else {
        return Ok((Vec::new(), QueryStats::default(), false));
    };
    let searched = match trace_id.strip_prefix("0000000000000000") {
        Some(low) => low,
        None => trace_id.as_str(),
    };
    let bounds = Bounds {
        start_unix_nanos,
        end_unix_nanos,
        limit: limit.saturating_add(1),
        direction: Direction::Forward,
    };
    // Every stream: a selector with no matcher selects all of the tenant's streams (the
    // parser never builds one; the window bounds what is read).
    let in_line = every_stream(&format!("|~ \"(?i){searched}\""))?;
    let keys = DEFAULT_METADATA_KEYS
        .iter()
        .filter(|key| is_valid_label_name(key))
        .map(|key| format!("{key}=~\"(?i)0*{searched}\""))
        .collect::<Vec<_>>()
        .join(" or ");
    let in_metadata = every_stream(&format!("| {keys}"))?;
    let (line_streams, mut stats) = run_log_query(store, tenant, &in_line, bounds).await?;
    let (metadata_streams, metadata_stats) =
        run_log_query(store, tenant, &in_metadata, bounds).await?;
    stats.bytes_processed += metadata_stats.bytes_processed;
    stats.lines_processed += metadata_stats.lines_processed;
    stats.chunks_referenced += metadata_stats.chunks_referenced;
    stats.chunks_downloaded += metadata_stats.chunks_downloaded;
    stats.exec_time += metadata_stats.exec_time;

    let mut linked: Vec<LinkedEntry> = Vec::new();
    collect(&mut linked, metadata_streams, LinkKind::Metadata);
    collect(&mut linked, line_streams, LinkKind::Line);
    // An entry found both ways is kept once, as a metadata link.
    linked.sort_by(|a, b| {
        a.entry
            .timestamp_unix_nanos
            .cmp(&b.entry.timestamp_unix_nanos)
            .then_with(|| a.labels.pairs().cmp(b.labels.pairs()))
            .then_with(|| a.entry.line.cmp(&b.entry.line))
            .then_with(|| (a.kind == LinkKind::Line).cmp(&(b.kind == LinkKind::Line)))
    });
    linked.dedup_by(|later, earlier| {
        later.entry.timestamp_unix_nanos == earlier.entry.timestamp_unix_nanos
            && later.labels == earlier.labels
            && later.entry.line == earlier.entry.line
    });
    let truncated = linked.len() > limit;
    linked.truncate(limit);
    Ok((linked, stats, truncated))
}

fn collect(into: &mut Vec<LinkedEntry>, streams: Vec<StreamResult>, kind: LinkKind) {
    for stream in streams {
        for entry in stream.entries {
            into.push(LinkedEntry {
                labels: stream.labels.clone(),
                entry,
                kind,
            });
        }
    }
}

/// A log query over every stream with the pipeline written in `pipeline` (built here
/// from hex digits and fixed key names).
fn every_stream(pipeline: &str) -> Result<LogQuery, QueryError> {
    match logql::parse(&format!("{{weft_links=\"any\"}} {pipeline}")) {
        Ok(logql::Query::Log(mut query)) => {
            query.selector.clear();
            Ok(query)
        }
        other => Err(QueryError::Storage(format!(
            "the trace-link pipeline {pipeline:?} does not parse as a log query: {other:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_ids_in_metadata_first_then_in_the_line() {
        let finder = TraceIdFinder::default();
        let id = "4bf92f3577b34da6a3ce929d0e0e4736";
        let metadata = vec![("TraceID".to_owned(), id.to_uppercase())];
        assert_eq!(
            finder.find("no id here", &metadata).as_deref(),
            Some(id),
            "metadata keys compare without case"
        );
        let traceparent = format!("GET / traceparent=00-{id}-00f067aa0ba902b7-01");
        assert_eq!(finder.find(&traceparent, &[]).as_deref(), Some(id));
        assert_eq!(
            finder
                .find("level=info traceID=a3ce929d0e0e4736 msg=ok", &[])
                .as_deref(),
            Some("0000000000000000a3ce929d0e0e4736"),
            "a 64-bit id gets a zero high half"
        );
        assert_eq!(
            finder
                .find(&format!(r#"{{"msg":"x","trace_id":"{id}"}}"#), &[])
                .as_deref(),
            Some(id)
        );
        assert_eq!(
            finder
                .find("uber-trace-id: a3ce929d0e0e4736:1:0:1", &[])
                .as_deref(),
            Some("0000000000000000a3ce929d0e0e4736")
        );
        assert_eq!(
            finder.find("trace_id=00000000000000000000000000000000", &[]),
            None
        );
        assert_eq!(finder.find("request took 25ms", &[]), None);
        assert_eq!(
            finder.find("trace_id=xyz", &[("trace_id".into(), "".into())]),
            None
        );
    }

    #[test]
    fn extra_patterns_need_a_capture_group() {
        let finder = TraceIdFinder::with_patterns(&[r"\bT#([0-9a-f]{32})".to_owned()])
            .expect("valid pattern");
        assert_eq!(
            finder
                .find("job T#4bf92f3577b34da6a3ce929d0e0e4736 done", &[])
                .as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        let error = TraceIdFinder::with_patterns(&["T#[0-9a-f]+".to_owned()])
            .expect_err("no capture group");
        assert!(error.contains("no capture group"), "{error}");
        let error = TraceIdFinder::with_patterns(&["(".to_owned()]).expect_err("does not compile");
        assert!(error.contains("trace-id pattern \"(\""), "{error}");
    }

    #[test]
    fn normalizes_ids() {
        assert_eq!(
            normalize_trace_id("ABC").as_deref(),
            Some("00000000000000000000000000000abc")
        );
        assert_eq!(normalize_trace_id(&"f".repeat(33)), None);
        assert_eq!(normalize_trace_id("0000"), None);
        assert_eq!(normalize_trace_id("g1"), None);
    }

    #[test]
    fn the_trace_link_pipelines_parse() {
        let query = every_stream("|~ \"(?i)a3ce929d0e0e4736\"").expect("parses");
        assert!(query.selector.is_empty());
        assert_eq!(query.pipeline.len(), 1);
        let keys = DEFAULT_METADATA_KEYS
            .iter()
            .filter(|key| is_valid_label_name(key))
            .count();
        assert_eq!(
            keys, 2,
            "trace_id and traceid; dotted and dashed names are no labels"
        );
        let query =
            every_stream("| trace_id=~\"(?i)0*ab\" or traceid=~\"(?i)0*ab\"").expect("parses");
        assert_eq!(query.pipeline.len(), 1);
    }

    #[tokio::test]
    async fn a_trace_s_entries_are_found_in_lines_and_metadata_across_streams() {
        use std::sync::Arc;

        use crate::push::{PushedLabels, PushedStream};
        use crate::{ChunkStore, Entry, LogsConfig};

        let directory = tempfile::tempdir().expect("tempdir");
        let objects: Arc<dyn object_store::ObjectStore> =
            Arc::new(object_store::memory::InMemory::new());
        let chunk_store = ChunkStore::new(objects, &object_store::path::Path::default());
        let config = LogsConfig {
            storage_path: directory.path().to_owned(),
            ..LogsConfig::default()
        };
        let store = LogStore::open(config, chunk_store).await.expect("open");
        let tenant = TenantId::single();
        let now = crate::time::now_unix_nanos();
        let id = "4bf92f3577b34da6a3ce929d0e0e4736";
        let short = "0000000000000000a3ce929d0e0e4736";
        let entry = |at: i64, line: &str, metadata: &[(&str, &str)]| Entry {
            timestamp_unix_nanos: at,
            line: line.to_owned(),
            structured_metadata: metadata
                .iter()
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect(),
        };
        let streams = vec![
            PushedStream {
                labels: PushedLabels::Text(r#"{service_name="checkout"}"#.to_owned()),
                entries: vec![
                    entry(now - 50, "charging card", &[("trace_id", id)]),
                    entry(
                        now - 40,
                        &format!("done traceID={}", id.to_uppercase()),
                        &[],
                    ),
                    entry(now - 30, "unrelated", &[("trace_id", "ffff")]),
                    entry(now - 20, "64-bit a3ce929d0e0e4736 here", &[]),
                ],
            },
            PushedStream {
                labels: PushedLabels::Text(r#"{job="nginx"}"#.to_owned()),
                entries: vec![
                    entry(
                        now - 45,
                        &format!("GET /pay traceparent=00-{id}-00f067aa0ba902b7-01"),
                        &[],
                    ),
                    entry(now - 10, "GET /health", &[]),
                ],
            },
        ];
        store.push(&tenant, streams).await.expect("push");

        let (found, _, truncated) = entries_of_trace(&store, &tenant, id, now - 1000, now + 1, 100)
            .await
            .expect("query");
        let lines: Vec<(&str, LinkKind)> = found
            .iter()
            .map(|linked| (linked.entry.line.as_str(), linked.kind))
            .collect();
        assert_eq!(
            lines,
            vec![
                ("charging card", LinkKind::Metadata),
                (
                    "GET /pay traceparent=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                    LinkKind::Line
                ),
                (
                    "done traceID=4BF92F3577B34DA6A3CE929D0E0E4736",
                    LinkKind::Line
                ),
            ]
        );
        assert!(!truncated);

        // A 64-bit id matches its 16 digits, also inside 128-bit ids whose low half they
        // are (as Zipkin reads them); the metadata match stays exact.
        let (found, _, _) = entries_of_trace(&store, &tenant, short, now - 1000, now + 1, 100)
            .await
            .expect("query");
        let lines: Vec<&str> = found
            .iter()
            .map(|linked| linked.entry.line.as_str())
            .collect();
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert_eq!(lines[2], "64-bit a3ce929d0e0e4736 here");
        let (found, _, truncated) = entries_of_trace(&store, &tenant, id, now - 1000, now + 1, 2)
            .await
            .expect("query");
        assert_eq!(found.len(), 2);
        assert!(truncated);
        let (found, _, _) = entries_of_trace(&store, &tenant, id, now - 35, now + 1, 100)
            .await
            .expect("query");
        assert_eq!(found.len(), 0, "{found:?}");
        let (found, _, _) = entries_of_trace(&store, &tenant, "not hex", now - 1000, now + 1, 10)
            .await
            .expect("query");
        assert!(found.is_empty());
    }
}
