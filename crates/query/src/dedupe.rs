//! Removal of identical duplicate spans on read.
//!
//! The same span can be stored twice (a client retried a batch, a message was reprocessed,
//! two replicas were both read). Zipkin's conformance suite expects such exact duplicates
//! to come back once (`getTrace_deduplicates`). Fragments that differ in any field are
//! kept: they are Zipkin's late or partial data and the UI merges them.

use weft_model::Span;

/// Removes spans that are exactly equal (every field, including resource and scope) to an
/// earlier span of `spans`, keeping the first occurrence and the original order.
///
/// Costs one sort of indices plus an equality check within groups that share span id,
/// kind, `shared` flag and start time, so large traces stay cheap.
pub fn dedupe_spans(spans: &mut Vec<Span>) {
    if spans.len() < 2 {
        return;
    }
    let mut order: Vec<usize> = (0..spans.len()).collect();
    order.sort_by_key(|&index| group_key(&spans[index]));
    let mut duplicate = vec![false; spans.len()];
    let mut group_start = 0;
    while group_start < order.len() {
        let key = group_key(&spans[order[group_start]]);
        let mut group_end = group_start + 1;
        while group_end < order.len() && group_key(&spans[order[group_end]]) == key {
            group_end += 1;
        }
        let group = &order[group_start..group_end];
        for (position, &candidate) in group.iter().enumerate() {
            if duplicate[candidate] {
                continue;
            }
            // The sort is stable, so earlier occurrences come first within a group.
            for &later in &group[position + 1..] {
                if !duplicate[later] && spans[later] == spans[candidate] {
                    duplicate[later] = true;
                }
            }
        }
        group_start = group_end;
    }
    if !duplicate.contains(&true) {
        return;
    }
    let mut index = 0;
    spans.retain(|_| {
        let keep = !duplicate[index];
        index += 1;
        keep
    });
}

fn group_key(span: &Span) -> ([u8; 8], i32, bool, u64) {
    (
        span.span_id.0,
        span.kind.to_otlp(),
        span.shared,
        span.start_unix_nanos,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_model::{KeyValue, SpanId, TraceId};

    fn span(id: u64, name: &str) -> Span {
        let mut span = Span::new(TraceId::from_halves(0, 1), SpanId::from_u64(id), name);
        span.start_unix_nanos = 1_000;
        span
    }

    #[test]
    fn identical_spans_are_kept_once_in_first_seen_order() {
        let mut spans = vec![span(2, "b"), span(1, "a"), span(2, "b"), span(1, "a")];
        dedupe_spans(&mut spans);
        let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["b", "a"]);
    }

    #[test]
    fn fragments_that_differ_are_both_kept() {
        let first = span(1, "a");
        let mut late = span(1, "a");
        late.attributes.push(KeyValue::new("k", "v"));
        let mut spans = vec![first, late];
        dedupe_spans(&mut spans);
        assert_eq!(spans.len(), 2);
    }
}
