//! Zipkin v1 Thrift (`POST /api/v1/spans`, `application/x-thrift`): decode arbitrary
//! bytes; whatever decodes (after the v1 -> v2 conversion) must encode to Zipkin v2 JSON
//! and protobuf that decode again to the same encoding, and to OTLP/JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_codec::{otlp, zipkin, zipkin_v1};

fuzz_target!(|data: &[u8]| {
    if let Ok(batch) = zipkin_v1::decode_thrift(data) {
        let json = zipkin::encode_v2_json(&batch.spans);
        let again = zipkin::decode_v2_json(&json).expect("encode_v2_json output must decode");
        assert_eq!(zipkin::encode_v2_json(&again.spans), json);
        let proto = zipkin::encode_v2_proto(&batch.spans);
        let again = zipkin::decode_v2_proto(&proto).expect("encode_v2_proto output must decode");
        assert_eq!(zipkin::encode_v2_proto(&again.spans), proto);
        let _ = otlp::encode_json(&batch.spans);
    }
});
