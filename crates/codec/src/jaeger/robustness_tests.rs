//! Deterministic mutation fuzzing of the Jaeger decoders on stable, in every `cargo
//! test`: no panic on any input, and whatever decodes also encodes to Zipkin JSON and
//! OTLP/JSON that decode again.

use prost::Message;

use super::test_fixture;
use super::*;
use crate::thrift::Protocol;

use crate::robustness_tests::Random;

/// Bytes that are lengths, type ids, stops and varint continuations in Thrift and
/// protobuf.
const INTERESTING: &[u8] = &[
    0x00, 0x01, 0x0b, 0x0c, 0x0f, 0x19, 0x7f, 0x80, 0x82, 0xf8, 0xff,
];

fn mutate(random: &mut Random, seed: &[u8]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for _ in 0..1 + random.below(4) {
        let position = random.below(bytes.len() + 1);
        match random.below(5) {
            0 if !bytes.is_empty() => {
                let index = random.below(bytes.len());
                bytes[index] ^= 1 << random.below(8);
            }
            1 if !bytes.is_empty() => {
                let index = random.below(bytes.len());
                bytes[index] = INTERESTING[random.below(INTERESTING.len())];
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

/// Runs `decode` on `count` mutations of the seeds (and some random bytes); returns how
/// many decoded, so a test can check that mutation does not only produce garbage.
fn fuzz(
    seeds: &[Vec<u8>],
    count: usize,
    seed: u64,
    decode: impl Fn(&[u8]) -> Result<weft_model::SpanBatch, DecodeError>,
) -> usize {
    let mut random = Random(seed);
    let mut decoded = 0;
    for iteration in 0..count {
        let input = if iteration % 10 == 0 {
            (0..random.below(256))
                .map(|_| random.next() as u8)
                .collect()
        } else {
            let seed_index = random.below(seeds.len());
            mutate(&mut random, &seeds[seed_index])
        };
        if let Ok(batch) = decode(&input) {
            decoded += 1;
            let zipkin_json = crate::zipkin::encode_v2_json(&batch.spans);
            let zipkin_again = crate::zipkin::decode_v2_json(&zipkin_json)
                .unwrap_or_else(|error| panic!("zipkin json of {input:?} must decode: {error}"));
            assert_eq!(zipkin_again.len(), batch.len());
            let otlp_json = crate::otlp::encode_json(&batch.spans);
            let otlp_again = crate::otlp::decode_json(&otlp_json).expect("otlp json must decode");
            // Not equal spans: OTLP has no `debug` flag, and NaN tags differ from themselves.
            assert_eq!(otlp_again.batch.len(), batch.len());
        }
    }
    decoded
}

fn thrift_seeds(make: impl Fn(&test_fixture::Batch) -> Vec<u8>) -> Vec<Vec<u8>> {
    test_fixture::kitchen_sink_batches()
        .iter()
        .chain(&test_fixture::petclinic_batches())
        .map(make)
        .collect()
}

#[test]
fn mutated_compact_datagrams_never_panic() {
    let seeds = thrift_seeds(|batch| test_fixture::agent_datagram(Protocol::Compact, batch));
    assert!(fuzz(&seeds, 4000, 1, decode_agent_compact) > 100);
}

#[test]
fn mutated_binary_datagrams_never_panic() {
    let seeds = thrift_seeds(|batch| test_fixture::agent_datagram(Protocol::Binary, batch));
    assert!(fuzz(&seeds, 4000, 2, decode_agent_binary) > 100);
}

#[test]
fn mutated_collector_batches_never_panic() {
    let seeds = thrift_seeds(|batch| test_fixture::batch_body(Protocol::Binary, batch));
    assert!(fuzz(&seeds, 4000, 3, decode_batch_binary) > 100);
}

#[test]
fn mutated_protobuf_requests_never_panic() {
    let seeds = thrift_seeds(|batch| test_fixture::proto_request(batch).encode_to_vec());
    assert!(fuzz(&seeds, 4000, 4, decode_post_spans_request) > 100);
}
