//! Deterministic mutation tests for the Zipkin v1 JSON, v1 Thrift and v2 protobuf
//! decoders (the stable-toolchain companion of their fuzz targets): mutated and truncated
//! inputs never panic, and whatever decodes encodes to Zipkin v2 JSON and protobuf that
//! decode again, with an encoding that is stable from then on.

use super::test_support::{
    Annotation, Span, address, annotation, endpoint, json_body, tag, thrift_body,
};
use super::*;
use crate::zipkin;

use crate::robustness_tests::Random;

/// Byte strings that reach edge cases: JSON tokens, and Thrift/protobuf lengths and
/// type bytes (negative, huge, zero).
const TOKENS: &[&[u8]] = &[
    b"null",
    b"\"\"",
    b"{}",
    b"[]",
    b"-1",
    b"1e309",
    b"18446744073709551616",
    b"true",
    b"\"\\ud800\"",
    b"\"ca\"",
    b"\"sr\"",
    b"\"cs\"",
    b"\"port\":70000",
    b"\"kind\":\"SERVER\"",
    b"\"endpoint\":{}",
    b"\"type\":\"I64\"",
    b"\xff\xff\xff\xff",
    b"\x7f\xff\xff\xff",
    b"\x00\x00\x00\x00",
    b"\x0c\x00\x00\x00\x02",
    b"\x0f\x00\x06\x0c",
    b"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01",
];

fn mutate(random: &mut Random, seed: &[u8]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for _ in 0..1 + random.below(4) {
        let position = random.below(bytes.len() + 1);
        match random.below(6) {
            0 if !bytes.is_empty() => {
                let index = random.below(bytes.len());
                bytes[index] ^= 1 << random.below(8);
            }
            1 => {
                let end = (position + 1 + random.below(16)).min(bytes.len());
                bytes.drain(position.min(end)..end);
            }
            2 => {
                let start = random.below(bytes.len());
                let end = (start + 1 + random.below(64)).min(bytes.len());
                let copy = bytes[start..end].to_vec();
                let at = random.below(bytes.len() + 1);
                bytes.splice(at..at, copy);
            }
            3 => bytes.truncate(position),
            4 => {
                let token = TOKENS[random.below(TOKENS.len())];
                bytes.splice(position..position, token.iter().copied());
            }
            _ => {
                let noise: Vec<u8> = (0..1 + random.below(8))
                    .map(|_| random.next() as u8)
                    .collect();
                bytes.splice(position..position, noise);
            }
        }
    }
    bytes
}

fn inputs(seeds: &[Vec<u8>], count: usize, seed: u64) -> impl Iterator<Item = Vec<u8>> + '_ {
    let mut random = Random(seed);
    (0..count).map(move |iteration| {
        if iteration % 10 == 0 {
            (0..random.below(256))
                .map(|_| random.next() as u8)
                .collect()
        } else {
            let seed = &seeds[random.below(seeds.len())];
            mutate(&mut random, seed)
        }
    })
}

/// Spans exercising every conversion rule, for seeds.
fn v1_seed_spans() -> Vec<Span> {
    let frontend = endpoint("frontend", 0x0a00_0001, 8080);
    let backend = endpoint("backend", 0x0a00_0002, 9000);
    let kafka = endpoint("kafka", 0, 9092);
    let base = Span {
        trace_id: 0x1234,
        trace_id_high: Some(7),
        name: "get",
        id: 0xa,
        parent_id: Some(1),
        debug: Some(true),
        ..Span::default()
    };
    vec![
        Span {
            annotations: vec![
                annotation(10, "cs", &frontend),
                annotation(20, "sr", &backend),
                annotation(25, "cache", &backend),
                annotation(30, "ss", &backend),
                annotation(40, "cr", &frontend),
            ],
            binary_annotations: vec![
                address("sa", &backend),
                address("ca", &frontend),
                tag("error", "boom", Some(&backend)),
            ],
            timestamp: Some(10),
            duration: Some(30),
            ..base.clone()
        },
        Span {
            annotations: vec![
                annotation(10, "ms", &frontend),
                annotation(12, "ws", &frontend),
                annotation(20, "wr", &backend),
                annotation(30, "mr", &backend),
            ],
            binary_annotations: vec![address("ma", &kafka)],
            ..base.clone()
        },
        Span {
            annotations: vec![Annotation {
                timestamp: 5,
                value: "note",
                host: None,
            }],
            binary_annotations: vec![tag("lc", "", Some(&backend)), tag("k", "v", None)],
            timestamp: Some(5),
            duration: Some(1),
            ..base
        },
    ]
}

/// Decoded spans survive both v2 encoders, and re-encoding is stable.
fn check_encoders_accept(batch: &SpanBatch, input: &[u8]) {
    let json = zipkin::encode_v2_json(&batch.spans);
    let from_json = zipkin::decode_v2_json(&json).expect("own v2 json decodes");
    assert_eq!(from_json.len(), batch.len());
    assert_eq!(
        zipkin::encode_v2_json(&from_json.spans),
        json,
        "json encoding is not stable for input {input:?}"
    );
    let proto = zipkin::encode_v2_proto(&batch.spans);
    let from_proto = zipkin::decode_v2_proto(&proto).expect("own protobuf decodes");
    assert_eq!(from_proto.len(), batch.len());
    assert_eq!(
        zipkin::encode_v2_proto(&from_proto.spans),
        proto,
        "protobuf encoding is not stable for input {input:?}"
    );
}

fn run(decoder: fn(&[u8]) -> Result<SpanBatch, crate::DecodeError>, seeds: &[Vec<u8>], seed: u64) {
    let mut decoded_count = 0;
    for input in inputs(seeds, 6000, seed) {
        if let Ok(batch) = decoder(&input) {
            decoded_count += 1;
            check_encoders_accept(&batch, &input);
        }
    }
    assert!(
        decoded_count > 100,
        "mutations should still decode sometimes ({decoded_count})"
    );
}

#[test]
fn v1_json_decoder_survives_mutated_input() {
    let spans = v1_seed_spans();
    let seeds = vec![json_body(&spans), json_body(&spans[..1]), b"[]".to_vec()];
    run(decode_json, &seeds, 0x5eed_0101);
}

#[test]
fn v1_thrift_decoder_survives_mutated_input() {
    let spans = v1_seed_spans();
    let seeds = vec![thrift_body(&spans), thrift_body(&spans[1..2])];
    run(decode_thrift, &seeds, 0x5eed_0102);
}

#[test]
fn v2_proto_decoder_survives_mutated_input() {
    let yelp: &[u8] = include_bytes!("../../testdata/zipkin-yelp.pb");
    let v1 = decode_thrift(&thrift_body(&v1_seed_spans())).expect("seed decodes");
    let seeds = vec![yelp.to_vec(), zipkin::encode_v2_proto(&v1.spans)];
    run(zipkin::decode_v2_proto, &seeds, 0x5eed_0103);
}

#[test]
fn every_truncation_of_valid_input_is_handled() {
    let spans = v1_seed_spans();
    let thrift = thrift_body(&spans);
    let json = json_body(&spans);
    let proto = zipkin::encode_v2_proto(&decode_thrift(&thrift).expect("seed decodes").spans);
    for end in 0..thrift.len() {
        let _ = decode_thrift(&thrift[..end]);
    }
    for end in 0..json.len() {
        let _ = decode_json(&json[..end]);
    }
    for end in 0..proto.len() {
        if let Ok(batch) = zipkin::decode_v2_proto(&proto[..end]) {
            check_encoders_accept(&batch, &proto[..end]);
        }
    }
}
