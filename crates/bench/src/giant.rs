//! One giant trace for the soak test: corpus traces re-parented under a single root and
//! sent in chunks, to exercise a server's per-trace limits.

use weft_model::{Span, SpanId, TraceId};

use crate::generator::{GeneratorSettings, TraceGenerator};

/// The spans of one giant trace, built from corpus traces re-parented under one root.
pub struct GiantTrace {
    generator: TraceGenerator,
    trace_id: TraceId,
    root_span_id: Option<SpanId>,
    spans_made: u64,
    total_spans: u64,
}

impl GiantTrace {
    /// A trace of `total_spans` spans whose id is derived from `settings.seed` and
    /// `trace_id_salt` (and differs from every id the corpus generator draws with
    /// overwhelming probability).
    pub fn new(settings: &GeneratorSettings, trace_id_salt: u64, total_spans: u64) -> GiantTrace {
        let generator = TraceGenerator::new(GeneratorSettings {
            seed: settings.seed ^ 0x6769_616e_7400_0000,
            ..settings.clone()
        });
        GiantTrace {
            generator,
            trace_id: TraceId::from_halves(
                0x6769_616e_7474_7263 ^ trace_id_salt,
                settings.seed | 1,
            ),
            root_span_id: None,
            spans_made: 0,
            total_spans,
        }
    }

    /// The giant trace's id.
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// The next `spans` spans (fewer at the end; empty when all were made), starting at
    /// `start_unix_nanos`. The first span made is the trace's only root; every other
    /// root of a corpus trace becomes its child, and parents always come before their
    /// children, so truncating the last chunk leaves no orphan.
    pub fn next_chunk(&mut self, spans: usize, start_unix_nanos: u64) -> Vec<Span> {
        let wanted = (spans as u64).min(self.total_spans - self.spans_made) as usize;
        let mut chunk = Vec::with_capacity(wanted + 64);
        while chunk.len() < wanted {
            for mut span in self.generator.next_trace(start_unix_nanos) {
                span.trace_id = self.trace_id;
                if span.parent_span_id.is_none() {
                    match self.root_span_id {
                        None => self.root_span_id = Some(span.span_id),
                        Some(root) => span.parent_span_id = Some(root),
                    }
                }
                chunk.push(span);
            }
        }
        chunk.truncate(wanted);
        self.spans_made += wanted as u64;
        chunk
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn the_giant_trace_has_exactly_its_spans_one_root_and_no_orphans() {
        let mut giant = GiantTrace::new(&GeneratorSettings::default(), 0, 2_500);
        let mut spans = Vec::new();
        for _ in 0..4 {
            let chunk = giant.next_chunk(1_000, 1_000_000);
            assert!(chunk.len() <= 1_000);
            spans.extend(chunk);
        }
        assert_eq!(spans.len(), 2_500);
        assert!(giant.next_chunk(1_000, 0).is_empty());
        assert!(spans.iter().all(|span| span.trace_id == giant.trace_id()));
        let ids: HashSet<SpanId> = spans.iter().map(|span| span.span_id).collect();
        assert_eq!(ids.len(), spans.len(), "span ids are unique");
        assert_eq!(
            spans
                .iter()
                .filter(|span| span.parent_span_id.is_none())
                .count(),
            1
        );
        assert!(
            spans
                .iter()
                .filter_map(|span| span.parent_span_id)
                .all(|parent| ids.contains(&parent))
        );
    }
}
