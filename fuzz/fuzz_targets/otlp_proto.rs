//! OTLP protobuf: decode arbitrary bytes; whatever decodes must encode (proto groups,
//! OTLP/JSON, Zipkin JSON) without panicking, and the OTLP/JSON output must decode again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_codec::{otlp, zipkin};

fuzz_target!(|data: &[u8]| {
    if let Ok(decoded) = otlp::decode_proto(data) {
        let spans = &decoded.batch.spans;
        let _ = otlp::to_resource_spans(spans);
        let json = otlp::encode_json(spans);
        let again = otlp::decode_json(&json).expect("encode_json output must decode");
        assert_eq!(again.batch.len(), spans.len());
        let _ = zipkin::encode_v2_json(spans);
    }
});
