//! Zipkin v2 JSON: decode arbitrary bytes; whatever decodes must encode without
//! panicking, and the encoder's output must decode again to the same encoding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_codec::{otlp, zipkin};

fuzz_target!(|data: &[u8]| {
    if let Ok(batch) = zipkin::decode_v2_json(data) {
        let encoded = zipkin::encode_v2_json(&batch.spans);
        let again = zipkin::decode_v2_json(&encoded).expect("encode_v2_json output must decode");
        assert_eq!(zipkin::encode_v2_json(&again.spans), encoded);
        let _ = zipkin::encode_v2_traces_json(&[batch.spans.clone()]);
        let _ = otlp::encode_json(&batch.spans);
    }
});
