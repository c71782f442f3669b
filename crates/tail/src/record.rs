//! What tailers hand to clients, and its encoding as a Loki push request.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use prost::Message;
use weft_logs::push::proto::{
    EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter, Timestamp,
};
use weft_scrape_config::Labels;

use crate::positions::EntryId;

/// One entry ready to ship.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Stream labels (without `__` names).
    pub labels: Arc<BTreeMap<String, String>>,
    /// Unix nanoseconds.
    pub timestamp_unix_nanos: i64,
    /// The line.
    pub line: String,
    /// Structured metadata pairs.
    pub structured_metadata: Vec<(String, String)>,
}

/// An entry or a bare position (lines dropped by the pipeline still move the
/// position once everything before them is acknowledged).
#[derive(Debug, Clone)]
pub struct Item {
    /// The positions entry of the file.
    pub entry: EntryId,
    /// The position that may be committed once this item is acknowledged.
    pub offset: u64,
    /// The entry; `None` for a bare position.
    pub record: Option<Arc<Record>>,
    /// Bytes counted against the clients' buffers.
    pub cost: u32,
}

/// Bytes a bare position counts for (so a flood of dropped lines is bounded too).
pub const MARKER_COST: u32 = 64;

impl Item {
    /// The cost of a record: its line and metadata bytes plus a fixed overhead.
    pub fn cost_of(record: &Record) -> u32 {
        let metadata: usize = record
            .structured_metadata
            .iter()
            .map(|(name, value)| name.len() + value.len())
            .sum();
        u32::try_from(record.line.len() + metadata + 32).unwrap_or(u32::MAX)
    }
}

/// The label text of a stream: `labels` with `external` added (the stream's own
/// labels win), in Loki's `{name="value", ...}` form.
pub fn label_text(
    labels: &BTreeMap<String, String>,
    external: &BTreeMap<String, String>,
) -> String {
    let mut merged: Labels = external
        .iter()
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    for (name, value) in labels {
        merged.set(name.clone(), value.clone());
    }
    merged.to_prometheus_string()
}

/// Encodes records as a snappy-compressed protobuf `logproto.PushRequest`, one
/// stream per label set in order of first appearance.
pub fn encode_push_request<'a>(
    records: impl IntoIterator<Item = &'a Record>,
    external: &BTreeMap<String, String>,
) -> Vec<u8> {
    let mut streams: Vec<StreamAdapter> = Vec::new();
    let mut index_of: HashMap<&BTreeMap<String, String>, usize> = HashMap::new();
    for record in records {
        let index = *index_of.entry(record.labels.as_ref()).or_insert_with(|| {
            streams.push(StreamAdapter {
                labels: label_text(&record.labels, external),
                entries: Vec::new(),
                hash: 0,
            });
            streams.len() - 1
        });
        streams[index].entries.push(EntryAdapter {
            timestamp: Some(Timestamp {
                seconds: record.timestamp_unix_nanos.div_euclid(1_000_000_000),
                nanos: i32::try_from(record.timestamp_unix_nanos.rem_euclid(1_000_000_000))
                    .unwrap_or(0),
            }),
            line: record.line.clone(),
            structured_metadata: record
                .structured_metadata
                .iter()
                .map(|(name, value)| LabelPairAdapter {
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect(),
        });
    }
    let request = PushRequest { streams };
    let protobuf = request.encode_to_vec();
    snap::raw::Encoder::new()
        .compress_vec(&protobuf)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_requests_decode_with_weft_logs_and_group_streams() {
        let app: Arc<BTreeMap<String, String>> = Arc::new(BTreeMap::from([
            (String::from("job"), String::from("app")),
            (String::from("filename"), String::from("/var/log/a.log")),
        ]));
        let other: Arc<BTreeMap<String, String>> = Arc::new(BTreeMap::from([(
            String::from("job"),
            String::from("x\"y"),
        )]));
        let record = |labels: &Arc<BTreeMap<String, String>>, line: &str, nanos: i64| Record {
            labels: labels.clone(),
            timestamp_unix_nanos: nanos,
            line: line.to_owned(),
            structured_metadata: vec![(String::from("trace_id"), String::from("abc"))],
        };
        let records = [
            record(&app, "one", 1_700_000_000_123_456_789),
            record(&other, "two", 5),
            record(&app, "three", 1_700_000_001_000_000_000),
        ];
        let external = BTreeMap::from([
            (String::from("host"), String::from("h1")),
            (String::from("job"), String::from("ignored")),
        ]);
        let body = encode_push_request(&records, &external);
        let protobuf = snap::raw::Decoder::new()
            .decompress_vec(&body)
            .expect("snappy");
        let decoded = PushRequest::decode(protobuf.as_slice()).expect("protobuf");
        assert_eq!(decoded.streams.len(), 2);
        assert_eq!(
            decoded.streams[0].labels,
            r#"{filename="/var/log/a.log", host="h1", job="app"}"#
        );
        assert_eq!(decoded.streams[1].labels, r#"{host="h1", job="x\"y"}"#);
        let lines: Vec<_> = decoded.streams[0]
            .entries
            .iter()
            .map(|entry| entry.line.as_str())
            .collect();
        assert_eq!(lines, ["one", "three"]);
        let timestamp = decoded.streams[0].entries[0].timestamp.expect("timestamp");
        assert_eq!(
            (timestamp.seconds, timestamp.nanos),
            (1_700_000_000, 123_456_789)
        );
        assert_eq!(
            decoded.streams[0].entries[0].structured_metadata[0].name,
            "trace_id"
        );
    }
}
