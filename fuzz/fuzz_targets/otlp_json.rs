//! OTLP/JSON: decode arbitrary bytes; whatever decodes must encode without panicking,
//! and the encoder's output must decode again to the same encoding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_codec::{otlp, zipkin};

fuzz_target!(|data: &[u8]| {
    if let Ok(decoded) = otlp::decode_json(data) {
        let spans = &decoded.batch.spans;
        let json = otlp::encode_json(spans);
        let again = otlp::decode_json(&json).expect("encode_json output must decode");
        assert_eq!(otlp::encode_json(&again.batch.spans), json);
        let _ = otlp::to_resource_spans(spans);
        let _ = zipkin::encode_v2_json(spans);
    }
});
