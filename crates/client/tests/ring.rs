//! The ring buffer's contract: byte bound, exact drop counting, independent cursors.

mod common;

use std::sync::Arc;
use std::thread;

use common::{numbered_span, scope, span_numbers};
use weft_client::{PushError, RingBuffer, SPAN_OVERHEAD_BYTES};

const UNLIMITED: u64 = u64::MAX;

#[test]
fn byte_bound_holds_and_drops_are_exact_under_many_pushes() {
    let capacity_bytes = 10_000;
    let ring = RingBuffer::new(capacity_bytes);
    let scope = scope("s");
    let mut pushed = 0_u64;
    for number in 0..5_000_u64 {
        // Sizes vary from a few bytes to a fifth of the capacity.
        let padding = ((number * 7919) % 2_000) as usize;
        let sequence = ring
            .push(numbered_span(&scope, number, padding))
            .expect("fits");
        assert_eq!(sequence, number);
        pushed += 1;
        let stats = ring.stats();
        assert!(stats.held_bytes <= capacity_bytes, "{stats:?}");
        assert_eq!(pushed - stats.held_spans as u64, stats.evicted_spans_total);
        assert_eq!(stats.next_sequence, pushed);
        assert_eq!(stats.first_sequence, stats.evicted_spans_total);
    }
    // Held bytes are exactly what the held spans cost.
    let batch = ring.read(None, UNLIMITED);
    let charged: usize = batch.spans.iter().map(RingBuffer::span_cost_bytes).sum();
    assert_eq!(charged, ring.stats().held_bytes);
    assert_eq!(batch.dropped_spans_total, ring.stats().evicted_spans_total);
    let numbers = span_numbers(batch.encode_export_request());
    let expected: Vec<u64> = (batch.first_sequence..5_000).collect();
    assert_eq!(numbers, expected);
}

#[test]
fn a_span_larger_than_the_capacity_is_refused_and_counted_without_evicting() {
    let ring = RingBuffer::new(1_000);
    let scope = scope("s");
    ring.push(numbered_span(&scope, 0, 10)).expect("fits");
    let error = ring
        .push(numbered_span(&scope, 1, 2_000))
        .expect_err("too large");
    assert!(matches!(
        error,
        PushError::SpanLargerThanCapacity {
            capacity_bytes: 1_000,
            ..
        }
    ));
    assert!(
        error
            .to_string()
            .contains("exceeds the ring buffer capacity of 1000 bytes")
    );
    let stats = ring.stats();
    assert_eq!((stats.held_spans, stats.next_sequence), (1, 1));
    assert_eq!(
        (stats.evicted_spans_total, stats.refused_spans_total),
        (0, 1)
    );
    assert_eq!(ring.read(None, UNLIMITED).dropped_spans_total, 1);
}

#[test]
fn two_readers_with_their_own_cursors_both_see_every_span() {
    let ring = RingBuffer::new(1 << 20);
    let scope = scope("s");
    let (mut cursor_a, mut cursor_b) = (None, None);
    let (mut seen_a, mut seen_b) = (Vec::new(), Vec::new());
    for round in 0..50_u64 {
        for number in round * 10..round * 10 + 10 {
            ring.push(numbered_span(&scope, number, 0)).expect("fits");
        }
        // A reads every round, B every third round.
        let batch = ring.read(cursor_a, UNLIMITED);
        assert_eq!(batch.dropped_spans, 0);
        seen_a.extend(span_numbers(batch.encode_export_request()));
        cursor_a = Some(batch.next_sequence);
        if round % 3 == 0 {
            let batch = ring.read(cursor_b, UNLIMITED);
            seen_b.extend(span_numbers(batch.encode_export_request()));
            cursor_b = Some(batch.next_sequence);
        }
    }
    let batch = ring.read(cursor_b, UNLIMITED);
    seen_b.extend(span_numbers(batch.encode_export_request()));
    let all: Vec<u64> = (0..500).collect();
    assert_eq!(seen_a, all);
    assert_eq!(seen_b, all);
    // Reading again from the end gives nothing new, and removes nothing.
    let batch = ring.read(cursor_a, UNLIMITED);
    assert!(batch.spans.is_empty());
    assert_eq!((batch.first_sequence, batch.next_sequence), (500, 500));
    assert_eq!(ring.stats().held_spans, 500);
}

#[test]
fn a_reader_that_falls_behind_is_told_exactly_what_it_missed() {
    let scope = scope("s");
    // Room for exactly 10 spans; spans 10..40 all cost the same (two-digit names).
    let cost = RingBuffer::span_cost_bytes(&numbered_span(&scope, 10, 100));
    assert!(cost > SPAN_OVERHEAD_BYTES);
    let ring = RingBuffer::new(cost * 10);
    for number in 10..15 {
        ring.push(numbered_span(&scope, number, 100)).expect("fits");
    }
    let batch = ring.read(None, UNLIMITED);
    assert_eq!((batch.first_sequence, batch.next_sequence), (0, 5));
    let cursor = batch.next_sequence;
    // 25 more spans: sequences 5..30; the ring keeps 20..30.
    for number in 15..40 {
        ring.push(numbered_span(&scope, number, 100)).expect("fits");
    }
    let batch = ring.read(Some(cursor), UNLIMITED);
    assert_eq!(batch.first_sequence, 20);
    assert_eq!(batch.dropped_spans, 15);
    assert_eq!(batch.dropped_spans_total, 20);
    assert_eq!(batch.next_sequence, 30);
    assert_eq!(
        span_numbers(batch.encode_export_request()),
        (30..40).collect::<Vec<u64>>()
    );
    // A reader that kept up loses nothing; a cursor beyond the end restarts at the oldest.
    assert_eq!(ring.read(Some(30), UNLIMITED).dropped_spans, 0);
    let beyond = ring.read(Some(1_000), UNLIMITED);
    assert_eq!((beyond.first_sequence, beyond.dropped_spans), (20, 0));
    assert_eq!(beyond.spans.len(), 10);
}

#[test]
fn max_body_bytes_bounds_the_body_but_always_progresses() {
    let ring = RingBuffer::new(1 << 20);
    let scope = scope("s");
    for number in 0..100 {
        ring.push(numbered_span(&scope, number, 50)).expect("fits");
    }
    let mut cursor = Some(0);
    let mut seen = Vec::new();
    let mut batches = 0;
    while seen.len() < 100 {
        let batch = ring.read(cursor, 1_000);
        let body = batch.encode_export_request();
        assert!(body.len() <= 1_000, "{} bytes", body.len());
        assert!(!batch.spans.is_empty());
        seen.extend(span_numbers(body));
        cursor = Some(batch.next_sequence);
        batches += 1;
    }
    assert_eq!(seen, (0..100).collect::<Vec<u64>>());
    assert!(batches >= 8, "{batches} batches");
    // A budget smaller than one span still returns that one span.
    let batch = ring.read(Some(0), 1);
    assert_eq!(batch.spans.len(), 1);
    assert_eq!(batch.next_sequence, 1);
}

#[test]
fn concurrent_pushes_and_reads_keep_sequence_order() {
    let ring = Arc::new(RingBuffer::new(64 * 1024));
    let writers = 4_u64;
    let spans_per_writer = 5_000_u64;
    let writer_threads: Vec<_> = (0..writers)
        .map(|writer| {
            let ring = Arc::clone(&ring);
            thread::spawn(move || {
                let scope = scope(&format!("writer-{writer}"));
                for index in 0..spans_per_writer {
                    // Encode each writer's own order in the span number.
                    ring.push(numbered_span(&scope, writer * 1_000_000 + index, 20))
                        .expect("fits");
                }
            })
        })
        .collect();
    let reader_threads: Vec<_> = (0..2)
        .map(|_| {
            let ring = Arc::clone(&ring);
            thread::spawn(move || {
                // Cursor 0, not absent, so spans evicted before the first read count.
                let mut cursor = Some(0);
                let mut last_per_writer = vec![None::<u64>; writers as usize];
                let mut received_plus_dropped = 0_u64;
                loop {
                    let batch = ring.read(cursor, 16 * 1024);
                    if let Some(previous) = cursor {
                        assert_eq!(batch.first_sequence, previous + batch.dropped_spans);
                    }
                    assert_eq!(
                        batch.next_sequence - batch.first_sequence,
                        batch.spans.len() as u64
                    );
                    received_plus_dropped += batch.dropped_spans + batch.spans.len() as u64;
                    for number in span_numbers(batch.encode_export_request()) {
                        let (writer, index) = (number / 1_000_000, number % 1_000_000);
                        let last = &mut last_per_writer[writer as usize];
                        assert!(last.is_none_or(|last| index > last), "out of order");
                        *last = Some(index);
                    }
                    cursor = Some(batch.next_sequence);
                    if batch.next_sequence == writers * spans_per_writer {
                        break;
                    }
                }
                received_plus_dropped
            })
        })
        .collect();
    for writer in writer_threads {
        writer.join().expect("writer thread");
    }
    for reader in reader_threads {
        let accounted = reader.join().expect("reader thread");
        // Every span was either received or counted as dropped, exactly once.
        assert_eq!(accounted, writers * spans_per_writer);
    }
    assert!(ring.stats().held_bytes <= 64 * 1024);
}

#[test]
fn instance_ids_differ_between_buffers() {
    let first = RingBuffer::new(1);
    let second = RingBuffer::new(1);
    assert_eq!(first.instance_id().len(), 16);
    assert_ne!(first.instance_id(), second.instance_id());
}
