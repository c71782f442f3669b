//! One copy of each distinct resource and scope per tenant head.
//!
//! Every decoded request brings its own `Arc<Resource>` per service instance, so a head
//! of a few hundred requests holds thousands of equal copies (about 50 bytes per span
//! with the usual dozen resource attributes), and block writing has to find out which
//! are equal. The head swaps each span's resource and scope for a canonical `Arc`, chosen
//! by encoded value, when the span is inserted; the copies die with their request.

use std::sync::{Arc, PoisonError, RwLock};

use foldhash::HashMap;
use serde::Serialize;
use weft_model::{InstrumentationScope, Resource, Span};

use crate::memory;

/// Most distinct values of each kind a head keeps canonical copies of. Past it, spans
/// keep the `Arc` they came with (correct, only less shared), so a flood of distinct
/// resources cannot grow the table without bound.
const MAX_CANONICAL_VALUES: usize = 50_000;

/// Canonical copies of one kind of value, by postcard encoding.
#[derive(Debug)]
struct Canonical<T> {
    by_encoding: RwLock<HashMap<Vec<u8>, Arc<T>>>,
}

impl<T> Default for Canonical<T> {
    fn default() -> Self {
        Canonical {
            by_encoding: RwLock::default(),
        }
    }
}

impl<T: Serialize> Canonical<T> {
    /// The canonical `Arc` equal to `value`, making `value` canonical when it is the
    /// first of its kind. Also returns the bytes added to the table (0 when known).
    fn canonical(&self, value: &Arc<T>, bytes_of: impl Fn(&T) -> usize) -> (Arc<T>, usize) {
        let Ok(encoded) = postcard::to_allocvec(value.as_ref()) else {
            return (value.clone(), 0);
        };
        if let Some(known) = self
            .by_encoding
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&encoded)
        {
            return (known.clone(), 0);
        }
        let mut table = self
            .by_encoding
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(known) = table.get(&encoded) {
            return (known.clone(), 0);
        }
        if table.len() >= MAX_CANONICAL_VALUES {
            return (value.clone(), 0);
        }
        let bytes = bytes_of(value) + memory::allocation_bytes(encoded.len()) + 48;
        table.insert(encoded, value.clone());
        (value.clone(), bytes)
    }
}

/// Canonical resources and scopes of one tenant head. Safe to share between threads.
#[derive(Debug, Default)]
pub struct SharedValues {
    resources: Canonical<Resource>,
    scopes: Canonical<InstrumentationScope>,
}

impl SharedValues {
    /// Points every span's resource and scope at the canonical copy. Returns the bytes
    /// the tables grew by. Costs one encoding and lookup per distinct `Arc` in `spans`.
    pub fn canonicalize(&self, spans: &mut [Span]) -> usize {
        let mut bytes = 0;
        // Original pointer -> (original, canonical). Keeping the original alive for the
        // whole batch means no other value can take its address meanwhile.
        let mut resources: HashMap<usize, (Arc<Resource>, Arc<Resource>)> = HashMap::default();
        let mut scopes: HashMap<usize, (Arc<InstrumentationScope>, Arc<InstrumentationScope>)> =
            HashMap::default();
        for span in spans.iter_mut() {
            let pointer = Arc::as_ptr(&span.resource) as usize;
            let canonical = resources.entry(pointer).or_insert_with(|| {
                let (canonical, added) = self
                    .resources
                    .canonical(&span.resource, memory::resource_bytes);
                bytes += added;
                (span.resource.clone(), canonical)
            });
            if !Arc::ptr_eq(&span.resource, &canonical.1) {
                span.resource = canonical.1.clone();
            }
            let pointer = Arc::as_ptr(&span.scope) as usize;
            let canonical = scopes.entry(pointer).or_insert_with(|| {
                let (canonical, added) = self.scopes.canonical(&span.scope, memory::scope_bytes);
                bytes += added;
                (span.scope.clone(), canonical)
            });
            if !Arc::ptr_eq(&span.scope, &canonical.1) {
                span.scope = canonical.1.clone();
            }
        }
        bytes
    }
}

#[cfg(test)]
mod tests {
    use weft_model::{SpanId, TraceId};

    use super::*;

    #[test]
    fn equal_resources_from_different_batches_become_one_arc() {
        let shared = SharedValues::default();
        let batch = |service: &str| -> Vec<Span> {
            let resource = Arc::new(Resource::for_service(service));
            (1..=3)
                .map(|id| {
                    let mut span =
                        Span::new(TraceId::from_halves(0, 1), SpanId::from_u64(id), "op");
                    span.resource = resource.clone();
                    span
                })
                .collect()
        };
        let mut first = batch("frontend");
        let mut second = batch("frontend");
        let mut other = batch("backend");
        assert!(
            shared.canonicalize(&mut first) > 0,
            "new values are counted"
        );
        assert_eq!(
            shared.canonicalize(&mut second),
            0,
            "known values cost nothing"
        );
        shared.canonicalize(&mut other);
        assert!(Arc::ptr_eq(&first[0].resource, &second[2].resource));
        assert!(Arc::ptr_eq(&first[0].scope, &other[0].scope));
        assert!(!Arc::ptr_eq(&first[0].resource, &other[0].resource));
        assert_eq!(second[0].service_name(), Some("frontend"));
    }
}
