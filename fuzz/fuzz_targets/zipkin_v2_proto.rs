//! Zipkin v2 protobuf (`POST /api/v2/spans`, `application/x-protobuf`): decode arbitrary
//! bytes; whatever decodes must encode to protobuf and JSON that decode again, and the
//! protobuf encoding must be stable from then on.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_codec::{otlp, zipkin};

fuzz_target!(|data: &[u8]| {
    if let Ok(batch) = zipkin::decode_v2_proto(data) {
        let proto = zipkin::encode_v2_proto(&batch.spans);
        let again = zipkin::decode_v2_proto(&proto).expect("encode_v2_proto output must decode");
        assert_eq!(zipkin::encode_v2_proto(&again.spans), proto);
        let json = zipkin::encode_v2_json(&batch.spans);
        let again = zipkin::decode_v2_json(&json).expect("encode_v2_json output must decode");
        assert_eq!(again.len(), batch.len());
        let _ = otlp::encode_json(&batch.spans);
    }
});
