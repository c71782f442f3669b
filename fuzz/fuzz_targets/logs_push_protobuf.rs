//! Loki push, snappy-compressed protobuf: decode arbitrary bytes; whatever decodes is
//! validated (label text parsing, limits) without panicking, and every accepted stream's
//! labels print to a text form that parses back to the same set.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_logs::{LabelSet, LogsConfig, ingest, push};

fuzz_target!(|data: &[u8]| {
    if let Ok(streams) = push::decode_protobuf(data, 1 << 20) {
        let validated = ingest::validate(
            &LogsConfig::default(),
            streams,
            1_700_000_000_000_000_000,
            |_| None,
        );
        for stream in validated.accepted {
            let text = stream.labels.to_string();
            assert_eq!(LabelSet::parse(&text).as_ref(), Ok(&stream.labels));
        }
    }
});
