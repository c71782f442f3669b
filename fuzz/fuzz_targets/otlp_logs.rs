//! OTLP logs: decode arbitrary bytes as protobuf and as OTLP/JSON; whatever decodes is
//! mapped to streams as Loki maps them and validated without panicking. A JSON request
//! re-encoded as protobuf decodes to the same request, and the mapping keeps every
//! record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use weft_logs::{LogsConfig, ingest, otlp};

fn map_and_validate(request: otlp::ExportLogsServiceRequest) {
    let records = otlp::record_count(&request);
    let streams = otlp::to_streams(request, 1_700_000_000_000_000_000);
    let mapped: usize = streams.iter().map(|stream| stream.entries.len()).sum();
    assert_eq!(mapped, records);
    let _ = ingest::validate(
        &LogsConfig::default(),
        streams,
        1_700_000_000_000_000_000,
        |_| None,
    );
}

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = otlp::decode_protobuf(data) {
        map_and_validate(request);
    }
    if let Ok(request) = otlp::decode_json(data) {
        let encoded = request.encode_to_vec();
        let again = otlp::decode_protobuf(&encoded)
            .expect("a decoded request must re-encode to valid protobuf");
        // Compared as bytes: a NaN double is not equal to itself.
        assert_eq!(again.encode_to_vec(), encoded);
        map_and_validate(request);
    }
});
