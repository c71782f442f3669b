//! Decoding of Loki push bodies: snappy-compressed protobuf `logproto.PushRequest` and
//! JSON, optionally gzip- or deflate-encoded. Pure functions; no limits besides the
//! decompressed size bound given by the caller.

use std::io::Read;

use serde::Deserialize;

use crate::Entry;

/// A stream of a push request before validation: the label text (protobuf) or pairs
/// (JSON) and its entries.
#[derive(Debug, Clone, PartialEq)]
pub struct PushedStream {
    /// The labels as sent.
    pub labels: PushedLabels,
    /// The entries in request order.
    pub entries: Vec<Entry>,
}

/// Labels as a push request carries them.
#[derive(Debug, Clone, PartialEq)]
pub enum PushedLabels {
    /// Protobuf: the text form `{a="b"}`, parsed during validation.
    Text(String),
    /// JSON: an object of name to value.
    Pairs(Vec<(String, String)>),
}

/// Why a push body could not be decoded (all 400 except `TooLarge`).
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The (decompressed) body is over the limit.
    #[error("request body too large: {size} bytes, limit: {limit} bytes")]
    TooLarge {
        /// Bytes seen before giving up.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Bad snappy, gzip or deflate data.
    #[error("cannot decompress the request body: {0}")]
    Decompress(String),
    /// Not a valid `PushRequest`.
    #[error("cannot decode the protobuf push request: {0}")]
    Protobuf(String),
    /// Not valid push JSON.
    #[error("cannot decode the JSON push request: {0}")]
    Json(String),
}

/// The wire messages of Loki's `pkg/push/push.proto`, declared by hand (only the fields
/// a push uses).
pub mod proto {
    /// `logproto.PushRequest`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PushRequest {
        /// The streams.
        #[prost(message, repeated, tag = "1")]
        pub streams: Vec<StreamAdapter>,
    }

    /// `logproto.StreamAdapter`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct StreamAdapter {
        /// Labels in the text form `{a="b", c="d"}`.
        #[prost(string, tag = "1")]
        pub labels: String,
        /// The entries.
        #[prost(message, repeated, tag = "2")]
        pub entries: Vec<EntryAdapter>,
        /// Internal to Loki; ignored.
        #[prost(uint64, tag = "3")]
        pub hash: u64,
    }

    /// `logproto.EntryAdapter`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct EntryAdapter {
        /// When the line was logged.
        #[prost(message, optional, tag = "1")]
        pub timestamp: Option<Timestamp>,
        /// The log line.
        #[prost(string, tag = "2")]
        pub line: String,
        /// Structured metadata pairs.
        #[prost(message, repeated, tag = "3")]
        pub structured_metadata: Vec<LabelPairAdapter>,
    }

    /// `logproto.LabelPairAdapter`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct LabelPairAdapter {
        /// Name.
        #[prost(string, tag = "1")]
        pub name: String,
        /// Value.
        #[prost(string, tag = "2")]
        pub value: String,
    }

    /// `google.protobuf.Timestamp`.
    #[derive(Clone, Copy, PartialEq, prost::Message)]
    pub struct Timestamp {
        /// Seconds since the Unix epoch.
        #[prost(int64, tag = "1")]
        pub seconds: i64,
        /// Nanoseconds within the second.
        #[prost(int32, tag = "2")]
        pub nanos: i32,
    }
}

/// Undoes `Content-Encoding` (`gzip`, `deflate`; `snappy` and `identity` are left to
/// the body format) reading at most `limit` bytes of output.
pub fn decode_content_encoding(
    encoding: Option<&str>,
    body: &[u8],
    limit: usize,
) -> Result<Vec<u8>, DecodeError> {
    let reader: Box<dyn Read + '_> = match encoding.map(str::trim) {
        Some(encoding) if encoding.eq_ignore_ascii_case("gzip") => {
            Box::new(flate2::read::GzDecoder::new(body))
        }
        Some(encoding) if encoding.eq_ignore_ascii_case("deflate") => {
            Box::new(flate2::read::ZlibDecoder::new(body))
        }
        _ => {
            if body.len() > limit {
                return Err(DecodeError::TooLarge {
                    size: body.len(),
                    limit,
                });
            }
            return Ok(body.to_vec());
        }
    };
    let mut output = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut output)
        .map_err(|error| DecodeError::Decompress(error.to_string()))?;
    if output.len() > limit {
        return Err(DecodeError::TooLarge {
            size: output.len(),
            limit,
        });
    }
    Ok(output)
}

/// Decodes a raw (block format) snappy body holding a `PushRequest`; the decompressed
/// size is checked against `limit` before anything is allocated.
pub fn decode_protobuf(body: &[u8], limit: usize) -> Result<Vec<PushedStream>, DecodeError> {
    let size = snap::raw::decompress_len(body)
        .map_err(|error| DecodeError::Decompress(error.to_string()))?;
    if size > limit {
        return Err(DecodeError::TooLarge { size, limit });
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|error| DecodeError::Decompress(error.to_string()))?;
    let request = <proto::PushRequest as prost::Message>::decode(raw.as_slice())
        .map_err(|error| DecodeError::Protobuf(error.to_string()))?;
    Ok(request
        .streams
        .into_iter()
        .map(|stream| PushedStream {
            labels: PushedLabels::Text(stream.labels),
            entries: stream
                .entries
                .into_iter()
                .map(|entry| {
                    let timestamp = entry.timestamp.unwrap_or_default();
                    Entry {
                        timestamp_unix_nanos: timestamp
                            .seconds
                            .saturating_mul(1_000_000_000)
                            .saturating_add(i64::from(timestamp.nanos)),
                        line: entry.line,
                        structured_metadata: entry
                            .structured_metadata
                            .into_iter()
                            .map(|pair| (pair.name, pair.value))
                            .collect(),
                    }
                })
                .collect(),
        })
        .collect())
}

#[derive(Deserialize)]
struct JsonPush {
    streams: Vec<JsonStream>,
}

#[derive(Deserialize)]
struct JsonStream {
    #[serde(default)]
    stream: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    values: Vec<Vec<serde_json::Value>>,
}

/// Decodes a JSON push body. Timestamps must be strings of Unix nanoseconds (a number
/// is an error, as in Loki); the optional third element of a value is an object of
/// string structured metadata.
pub fn decode_json(body: &[u8]) -> Result<Vec<PushedStream>, DecodeError> {
    let push: JsonPush =
        serde_json::from_slice(body).map_err(|error| DecodeError::Json(error.to_string()))?;
    let mut streams = Vec::with_capacity(push.streams.len());
    for stream in push.streams {
        let mut labels = Vec::with_capacity(stream.stream.len());
        for (name, value) in stream.stream {
            let serde_json::Value::String(value) = value else {
                return Err(DecodeError::Json(format!(
                    "label {name:?} has a value that is not a string"
                )));
            };
            labels.push((name, value));
        }
        let mut entries = Vec::with_capacity(stream.values.len());
        for value in stream.values {
            entries.push(json_entry(value)?);
        }
        streams.push(PushedStream {
            labels: PushedLabels::Pairs(labels),
            entries,
        });
    }
    Ok(streams)
}

fn json_entry(value: Vec<serde_json::Value>) -> Result<Entry, DecodeError> {
    if value.len() != 2 && value.len() != 3 {
        return Err(DecodeError::Json(format!(
            "a value must be [timestamp, line] or [timestamp, line, metadata], got {} elements",
            value.len()
        )));
    }
    let mut parts = value.into_iter();
    let timestamp = match parts.next() {
        Some(serde_json::Value::String(text)) => text.parse::<i64>().map_err(|_| {
            DecodeError::Json(format!(
                "timestamp {text:?} is not an integer of nanoseconds"
            ))
        })?,
        _ => {
            return Err(DecodeError::Json(String::from(
                "timestamp must be a string of Unix nanoseconds",
            )));
        }
    };
    let line = match parts.next() {
        Some(serde_json::Value::String(line)) => line,
        _ => return Err(DecodeError::Json(String::from("log line must be a string"))),
    };
    let mut structured_metadata = Vec::new();
    match parts.next() {
        None | Some(serde_json::Value::Null) => {}
        Some(serde_json::Value::Object(map)) => {
            for (name, value) in map {
                let serde_json::Value::String(value) = value else {
                    return Err(DecodeError::Json(format!(
                        "structured metadata {name:?} is not a string"
                    )));
                };
                structured_metadata.push((name, value));
            }
        }
        Some(_) => {
            return Err(DecodeError::Json(String::from(
                "structured metadata must be an object",
            )));
        }
    }
    Ok(Entry {
        timestamp_unix_nanos: timestamp,
        line,
        structured_metadata,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn snappy_protobuf_push_decodes() {
        let request = proto::PushRequest {
            streams: vec![proto::StreamAdapter {
                labels: String::from(r#"{job="api"}"#),
                entries: vec![proto::EntryAdapter {
                    timestamp: Some(proto::Timestamp {
                        seconds: 1_700_000_000,
                        nanos: 5,
                    }),
                    line: String::from("hello"),
                    structured_metadata: vec![proto::LabelPairAdapter {
                        name: String::from("trace_id"),
                        value: String::from("abc"),
                    }],
                }],
                hash: 0,
            }],
        };
        let body = snap::raw::Encoder::new()
            .compress_vec(&request.encode_to_vec())
            .expect("compress");
        let streams = decode_protobuf(&body, 1 << 20).expect("decodes");
        assert_eq!(
            streams,
            vec![PushedStream {
                labels: PushedLabels::Text(String::from(r#"{job="api"}"#)),
                entries: vec![Entry {
                    timestamp_unix_nanos: 1_700_000_000_000_000_005,
                    line: String::from("hello"),
                    structured_metadata: vec![(String::from("trace_id"), String::from("abc"))],
                }],
            }]
        );
        assert!(matches!(
            decode_protobuf(&body, 4),
            Err(DecodeError::TooLarge { .. })
        ));
        assert!(matches!(
            decode_protobuf(b"\xff\xff\xff\xff\x0f", 1 << 20),
            Err(DecodeError::Decompress(_) | DecodeError::TooLarge { .. })
        ));
        // Not snappy-wrapped: a protobuf body alone is rejected, not misread.
        assert!(decode_protobuf(&request.encode_to_vec(), 1 << 20).is_err());
    }

    #[test]
    fn json_push_decodes_with_metadata_and_gzip() {
        let body =
            br#"{"streams":[{"stream":{"job":"api"},"values":[["10","a"],["11","b",{"k":"v"}]]}]}"#;
        let mut gzipped = Vec::new();
        {
            use std::io::Write;
            let mut encoder =
                flate2::write::GzEncoder::new(&mut gzipped, flate2::Compression::default());
            encoder.write_all(body).expect("gzip");
            encoder.finish().expect("gzip");
        }
        let plain = decode_content_encoding(Some("gzip"), &gzipped, 1 << 20).expect("gunzip");
        let streams = decode_json(&plain).expect("decodes");
        assert_eq!(streams.len(), 1);
        assert_eq!(
            streams[0].labels,
            PushedLabels::Pairs(vec![(String::from("job"), String::from("api"))])
        );
        assert_eq!(streams[0].entries[1].timestamp_unix_nanos, 11);
        assert_eq!(
            streams[0].entries[1].structured_metadata,
            vec![(String::from("k"), String::from("v"))]
        );
        assert!(matches!(
            decode_content_encoding(Some("gzip"), &gzipped, 10),
            Err(DecodeError::TooLarge { .. })
        ));
    }

    #[test]
    fn the_fuzz_seeds_decode_to_the_same_streams() {
        let protobuf = decode_protobuf(
            include_bytes!("../testdata/push-request.snappy.pb"),
            1 << 20,
        )
        .expect("protobuf seed");
        let json = decode_json(include_bytes!("../testdata/push-request.json")).expect("json seed");
        assert_eq!(protobuf.len(), 1);
        assert_eq!(protobuf[0].entries, json[0].entries);
        assert_eq!(
            protobuf[0].labels,
            PushedLabels::Text(String::from(r#"{job="api", env="prod"}"#))
        );
    }

    #[test]
    fn json_timestamps_must_be_strings() {
        let error = decode_json(br#"{"streams":[{"stream":{"a":"b"},"values":[[10,"x"]]}]}"#)
            .expect_err("number timestamp");
        assert!(error.to_string().contains("string"), "{error}");
        assert!(
            decode_json(br#"{"streams":[{"stream":{"a":"b"},"values":[["x","y"]]}]}"#).is_err()
        );
        assert!(decode_json(br#"{"streams":[{"stream":{"a":"b"},"values":[["1"]]}]}"#).is_err());
    }
}
