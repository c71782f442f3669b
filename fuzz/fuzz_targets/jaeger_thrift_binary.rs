//! Jaeger binary Thrift: every input is tried as an agent `emitBatch` datagram (UDP
//! 6832) and as a collector HTTP `Batch` body; whatever decodes must encode to Zipkin v2
//! JSON and OTLP/JSON that decode again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_codec::{jaeger, otlp, zipkin};

/// Whatever decoded must encode, and each encoder's output must decode again.
macro_rules! check {
    ($result:expr) => {
        if let Ok(batch) = $result {
            let zipkin_json = zipkin::encode_v2_json(&batch.spans);
            let again =
                zipkin::decode_v2_json(&zipkin_json).expect("encode_v2_json output must decode");
            assert_eq!(again.len(), batch.len());
            let otlp_json = otlp::encode_json(&batch.spans);
            let again = otlp::decode_json(&otlp_json).expect("encode_json output must decode");
            assert_eq!(again.batch.len(), batch.len());
        }
    };
}

fuzz_target!(|data: &[u8]| {
    check!(jaeger::decode_agent_binary(data));
    check!(jaeger::decode_batch_binary(data));
});
