//! Pull scrape answers: arbitrary headers and body. The input is split into a header
//! block (lines `name: value`, up to the first empty line) and the body; whatever decodes
//! must keep the protocol's promises and its spans must encode back to OTLP/JSON that
//! decodes to as many spans. The body decoder a scraper uses (resources handed to a
//! resolver still encoded) must accept every body prost's `decode_proto` accepts, with
//! the same spans.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use weft_codec::{otlp, pull};

fuzz_target!(|data: &[u8]| {
    let split = data
        .windows(2)
        .position(|pair| pair == b"\n\n")
        .unwrap_or(data.len());
    let (header_block, body) = data.split_at(split);
    let body = body.get(2..).unwrap_or(&[]);
    let headers: Vec<(&[u8], &[u8])> = header_block
        .split(|byte| *byte == b'\n')
        .filter_map(|line| {
            let colon = line.iter().position(|byte| *byte == b':')?;
            // HTTP drops the optional white space around a field value.
            Some((&line[..colon], line[colon + 1..].trim_ascii()))
        })
        .collect();
    let lookup = |name: &str| {
        headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, value)| *value)
    };
    if let Ok(plain) = otlp::decode_proto(body) {
        let resolved = otlp::decode_proto_resolving(
            bytes::Bytes::copy_from_slice(body),
            &mut |resource| otlp::decode_resource(resource).map(Arc::new),
        )
        .expect("the resolving decoder accepts what decode_proto accepts");
        assert_eq!(resolved, plain);
    }
    if let Ok(response) = pull::decode_response(lookup, body) {
        let head = &response.head;
        assert!(!head.client_instance.is_empty());
        assert!(head.client_instance.len() <= pull::MAX_INSTANCE_BYTES);
        assert!(head.first_cursor.is_none_or(|first| first <= head.next_cursor));
        let spans = &response.spans.batch.spans;
        let json = otlp::encode_json(spans);
        let again = otlp::decode_json(&json).expect("encode_json output must decode");
        assert_eq!(again.batch.len(), spans.len());
    }
});
