//! Cheap, deterministic fuzzing that runs on stable in every `cargo test`: thousands of
//! mutated inputs per decoder. Guards against panics, and checks that whatever decodes
//! also encodes to output that decodes again and is stable from then on.

use prost::Message;

use crate::{otlp, zipkin};

/// SplitMix64: small, fast, deterministic; good enough to drive mutations. Shared by
/// every decoder's mutation tests.
pub(crate) struct Random(pub(crate) u64);

impl Random {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut mixed = self.0;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        mixed ^ (mixed >> 31)
    }

    /// A number in `0..bound` (0 when `bound` is 0).
    pub(crate) fn below(&mut self, bound: usize) -> usize {
        if bound == 0 {
            0
        } else {
            (self.next() % bound as u64) as usize
        }
    }
}

/// Tokens that tend to reach edge cases in JSON decoders.
const JSON_TOKENS: &[&str] = &[
    "null",
    "\"\"",
    "{}",
    "[]",
    "-1",
    "0",
    "1e309",
    "18446744073709551616",
    "-9223372036854775809",
    "1.5",
    "true",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "\"ZZ\"",
    "\"0000000000000000\"",
    "[{}]",
    "{\"\":{}}",
    "\"binaryAnnotations\":[]",
    "\"endpoint\":{}",
    "\"port\":70000",
    "\"kind\":\"SERVER\"",
    "\"intValue\":\"1\"",
    "\"kvlistValue\":{\"values\":[{}]}",
    "\"arrayValue\":{\"values\":[{}]}",
    "\"bytesValue\":\"*\"",
    "\"traceId\":\"1\"",
    "\"id\":\"1\"",
];

fn mutate(random: &mut Random, seed: &[u8]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    let rounds = 1 + random.below(4);
    for _ in 0..rounds {
        let position = random.below(bytes.len() + 1);
        match random.below(7) {
            0 if !bytes.is_empty() => {
                let index = random.below(bytes.len());
                bytes[index] ^= 1 << random.below(8);
            }
            1 if !bytes.is_empty() => {
                let index = random.below(bytes.len());
                bytes[index] = b"\"[]{},:0\\\xff\x00-e9a"[random.below(15)];
            }
            2 => {
                let end = (position + 1 + random.below(16)).min(bytes.len());
                bytes.drain(position.min(end)..end);
            }
            3 => {
                let start = random.below(bytes.len());
                let end = (start + 1 + random.below(64)).min(bytes.len());
                let copy = bytes[start..end].to_vec();
                let at = random.below(bytes.len() + 1);
                bytes.splice(at..at, copy);
            }
            4 => bytes.truncate(position),
            5 => {
                let token = JSON_TOKENS[random.below(JSON_TOKENS.len())].as_bytes();
                bytes.splice(position..position, token.iter().copied());
            }
            _ => {
                let count = 1 + random.below(8);
                let noise: Vec<u8> = (0..count).map(|_| random.next() as u8).collect();
                bytes.splice(position..position, noise);
            }
        }
    }
    bytes
}

/// Mutated seeds, plus a share of plain random bytes.
fn inputs(seeds: &[Vec<u8>], count: usize, seed: u64) -> impl Iterator<Item = Vec<u8>> + '_ {
    let mut random = Random(seed);
    (0..count).map(move |iteration| {
        if iteration % 10 == 0 {
            let length = random.below(256);
            (0..length).map(|_| random.next() as u8).collect()
        } else {
            let seed = &seeds[random.below(seeds.len())];
            mutate(&mut random, seed)
        }
    })
}

fn zipkin_seeds() -> Vec<Vec<u8>> {
    let yelp: &[u8] = include_bytes!("../testdata/zipkin-yelp.json");
    let small = br#"[{"traceId":"ABC","id":"1","parentId":"2","kind":"CLIENT","name":"N","timestamp":1,"duration":2,
        "localEndpoint":{"serviceName":"a","ipv4":"1.2.3.4","ipv6":"::1","port":1},
        "remoteEndpoint":{"serviceName":"b","ipv4":"01.2.3.4","port":65535},
        "annotations":[{"timestamp":3,"value":"v"}],"tags":{"error":"","otel.status_code":"OK","x":"\u00e9\n"},
        "debug":true,"shared":true}]"#;
    vec![yelp.to_vec(), small.to_vec(), b"[]".to_vec()]
}

#[test]
fn zipkin_decoder_survives_mutated_input_and_its_output_is_stable() {
    let seeds = zipkin_seeds();
    let mut decoded_count = 0;
    for input in inputs(&seeds, 8000, 0x5eed_0001) {
        let Ok(batch) = zipkin::decode_v2_json(&input) else {
            continue;
        };
        decoded_count += 1;
        let first = zipkin::encode_v2_json(&batch.spans);
        serde_json::from_slice::<serde_json::Value>(&first).expect("encoder writes valid json");
        let again = zipkin::decode_v2_json(&first).expect("own output decodes");
        assert_eq!(again.len(), batch.len());
        let second = zipkin::encode_v2_json(&again.spans);
        assert_eq!(
            String::from_utf8_lossy(&second),
            String::from_utf8_lossy(&first),
            "encoding is not stable for input {:?}",
            String::from_utf8_lossy(&input)
        );
        let _ = zipkin::encode_v2_traces_json(&[batch.spans]);
    }
    assert!(
        decoded_count > 100,
        "mutations should still decode sometimes ({decoded_count})"
    );
}

fn otlp_json_seeds() -> Vec<Vec<u8>> {
    let example: &[u8] = include_bytes!("../testdata/otlp-spec-example-trace.json");
    let rich = otlp::encode_json(&otlp::from_request(otlp::tests::rich_request()).batch.spans);
    vec![example.to_vec(), rich]
}

#[test]
fn otlp_json_decoder_survives_mutated_input_and_its_output_is_stable() {
    let seeds = otlp_json_seeds();
    let mut decoded_count = 0;
    for input in inputs(&seeds, 6000, 0x5eed_0002) {
        let Ok(decoded) = otlp::decode_json(&input) else {
            continue;
        };
        decoded_count += 1;
        let first = otlp::encode_json(&decoded.batch.spans);
        let again = otlp::decode_json(&first).expect("own output decodes");
        assert_eq!(again.rejected_spans, 0);
        assert_eq!(again.batch.len(), decoded.batch.len());
        assert_eq!(
            otlp::encode_json(&again.batch.spans),
            first,
            "encoding is not stable"
        );
        let _ = otlp::to_resource_spans(&decoded.batch.spans);
        let _ = zipkin::encode_v2_json(&decoded.batch.spans);
    }
    assert!(
        decoded_count > 100,
        "mutations should still decode sometimes ({decoded_count})"
    );
}

#[test]
fn otlp_proto_decoder_survives_mutated_input_and_round_trips() {
    let seeds = vec![otlp::tests::rich_request().encode_to_vec()];
    let mut decoded_count = 0;
    for input in inputs(&seeds, 6000, 0x5eed_0003) {
        let Ok(decoded) = otlp::decode_proto(&input) else {
            continue;
        };
        decoded_count += 1;
        let request = opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest {
            resource_spans: otlp::to_resource_spans(&decoded.batch.spans),
        };
        let again = otlp::decode_proto(&request.encode_to_vec()).expect("own output decodes");
        assert_eq!(again.rejected_spans, 0);
        let json = otlp::encode_json(&decoded.batch.spans);
        assert_eq!(
            otlp::encode_json(&again.batch.spans),
            json,
            "proto round trip changed spans"
        );
        let from_json = otlp::decode_json(&json).expect("json output decodes");
        assert_eq!(from_json.batch.len(), decoded.batch.len());
        let _ = zipkin::encode_v2_json(&decoded.batch.spans);
    }
    assert!(
        decoded_count > 100,
        "mutations should still decode sometimes ({decoded_count})"
    );
}
