//! One copy of each distinct resource and scope per tenant head.
//!
//! Every WAL record has its own resource and scope table, and every decoded request its
//! own `Arc`s, so a head of a few hundred records holds thousands of equal copies. The
//! head numbers distinct values by their encoded bytes (which the record already has) and
//! keeps one decoded `Arc` and one encoding per number: spans read back from the head
//! share them, and block chunks refer to them by number.

use std::cell::OnceCell;
use std::sync::Arc;

use foldhash::HashMap;
use weft_model::{InstrumentationScope, Resource, Span};
use weft_storage::span_table::LocatedSpans;

use crate::memory;

/// Distinct values of one kind, numbered densely from 0.
#[derive(Debug)]
struct Numbered<T> {
    ids: HashMap<Arc<[u8]>, u32>,
    /// By id: the decoded value and its encoding.
    values: Vec<(Arc<T>, Arc<[u8]>)>,
}

impl<T> Default for Numbered<T> {
    fn default() -> Self {
        Numbered {
            ids: HashMap::default(),
            values: Vec::new(),
        }
    }
}

impl<T> Numbered<T> {
    /// The id of the value encoded as `encoded`, adding `decoded` under a new id when it
    /// is new. Also returns the bytes the table grew by.
    fn id_of(
        &mut self,
        encoded: &[u8],
        decoded: impl FnOnce() -> Option<Arc<T>>,
        bytes_of: impl Fn(&T) -> usize,
    ) -> Option<(u32, usize)> {
        if let Some(&id) = self.ids.get(encoded) {
            return Some((id, 0));
        }
        let decoded = decoded()?;
        let id = u32::try_from(self.values.len()).ok()?;
        let encoded: Arc<[u8]> = Arc::from(encoded);
        let bytes = bytes_of(&decoded) + memory::allocation_bytes(encoded.len() + 16) + 64;
        self.ids.insert(encoded.clone(), id);
        self.values.push((decoded, encoded));
        Some((id, bytes))
    }
}

/// The head's ids of one record's resources and scopes, by the record's own indexes.
#[derive(Debug, Default)]
pub struct RecordValueIds {
    /// Record resource index -> head resource id.
    pub resources: Vec<u32>,
    /// Record scope index -> head scope id.
    pub scopes: Vec<u32>,
}

/// The distinct resources and scopes of one tenant head. Not synchronised; the head
/// keeps it behind a lock.
#[derive(Debug, Default)]
pub struct HeadValues {
    resources: Numbered<Resource>,
    scopes: Numbered<InstrumentationScope>,
}

impl HeadValues {
    /// Numbers the resources and scopes of `record`, whose spans decoded are `spans`
    /// (same order, as the record was encoded from them). Returns the ids and the bytes
    /// the tables grew by, or `None` when the record and the spans do not match (a
    /// record table entry no span uses, or an index out of range).
    pub fn number(
        &mut self,
        record: &LocatedSpans,
        spans: &[Span],
    ) -> Option<(RecordValueIds, usize)> {
        if record.spans.len() != spans.len() {
            return None;
        }
        let mut added = 0;
        let mut ids = RecordValueIds::default();
        // Found in one pass when the first new value needs it: a scan of the record per
        // new value cost values x spans on records of many batches stored together.
        let first_users = OnceCell::new();
        let first_users = || first_users.get_or_init(|| FirstUsers::of(record));
        for index in 0..record.resources.len() as u32 {
            let (id, bytes) = self.resources.id_of(
                record.resource_bytes(index)?,
                || {
                    first_users()
                        .resource(index)
                        .and_then(|position| spans.get(position))
                        .map(|span| span.resource.clone())
                },
                memory::resource_bytes,
            )?;
            ids.resources.push(id);
            added += bytes;
        }
        for index in 0..record.scopes.len() as u32 {
            let (id, bytes) = self.scopes.id_of(
                record.scope_bytes(index)?,
                || {
                    first_users()
                        .scope(index)
                        .and_then(|position| spans.get(position))
                        .map(|span| span.scope.clone())
                },
                memory::scope_bytes,
            )?;
            ids.scopes.push(id);
            added += bytes;
        }
        Some((ids, added))
    }

    /// The decoded resource `id`.
    pub fn resource(&self, id: u32) -> Option<&Arc<Resource>> {
        self.resources
            .values
            .get(id as usize)
            .map(|(value, _)| value)
    }

    /// The decoded scope `id`.
    pub fn scope(&self, id: u32) -> Option<&Arc<InstrumentationScope>> {
        self.scopes.values.get(id as usize).map(|(value, _)| value)
    }
}

/// The first span whose location satisfies `uses`.
/// The position of the first span using each resource and each scope of a record.
struct FirstUsers {
    resources: Vec<Option<usize>>,
    scopes: Vec<Option<usize>>,
}

impl FirstUsers {
    fn of(record: &LocatedSpans) -> Self {
        let mut resources = vec![None; record.resources.len()];
        let mut scopes = vec![None; record.scopes.len()];
        for (position, location) in record.spans.iter().enumerate() {
            if let Some(first) = resources.get_mut(location.resource as usize) {
                first.get_or_insert(position);
            }
            if let Some(first) = scopes.get_mut(location.scope as usize) {
                first.get_or_insert(position);
            }
        }
        Self { resources, scopes }
    }

    /// The first user of resource `index`; `None` when no span uses it.
    fn resource(&self, index: u32) -> Option<usize> {
        self.resources.get(index as usize).copied().flatten()
    }

    /// The first user of scope `index`; `None` when no span uses it.
    fn scope(&self, index: u32) -> Option<usize> {
        self.scopes.get(index as usize).copied().flatten()
    }
}

#[cfg(test)]
mod tests {
    use weft_model::{SpanId, TraceId};
    use weft_storage::span_table::encode_spans_located;

    use super::*;

    fn batch(services: &[&str]) -> Vec<Span> {
        services
            .iter()
            .enumerate()
            .map(|(index, service)| {
                let mut span = Span::new(
                    TraceId::from_halves(0, 1),
                    SpanId::from_u64(index as u64 + 1),
                    "op",
                );
                span.resource = Arc::new(Resource::for_service(*service));
                span
            })
            .collect()
    }

    #[test]
    fn equal_values_of_different_records_get_one_id() {
        let mut values = HeadValues::default();
        let first = batch(&["frontend", "backend", "frontend"]);
        let second = batch(&["backend", "db"]);
        let first_record = encode_spans_located(&first, &[]).expect("encodes");
        let second_record = encode_spans_located(&second, &[]).expect("encodes");
        let (first_ids, added) = values.number(&first_record, &first).expect("numbers");
        assert!(added > 0);
        let (second_ids, _) = values.number(&second_record, &second).expect("numbers");
        assert_eq!(first_ids.resources, [0, 1]);
        assert_eq!(second_ids.resources, [1, 2], "backend keeps its id");
        assert_eq!(first_ids.scopes, second_ids.scopes);
        assert_eq!(
            values.resource(2).and_then(|r| r.service_name()),
            Some("db")
        );
        assert!(values.resource(3).is_none(), "three distinct resources");
        assert!(
            values.number(&second_record, &first).is_none(),
            "mismatched spans"
        );
        let (_, again) = values.number(&first_record, &first).expect("numbers");
        assert_eq!(again, 0, "known values cost nothing");
    }

    #[test]
    fn every_new_value_of_a_large_record_is_taken_from_a_span_using_it() {
        let names: Vec<String> = (0..500).map(|index| format!("service-{index}")).collect();
        // Interleaved and repeated, as in batches of many targets stored together.
        let services: Vec<&str> = (0..5_000)
            .map(|position| names[(position * 7) % names.len()].as_str())
            .collect();
        let spans = batch(&services);
        let record = encode_spans_located(&spans, &[]).expect("encodes");
        let mut values = HeadValues::default();
        let (ids, _) = values.number(&record, &spans).expect("numbers");
        assert_eq!(ids.resources.len(), 500);
        for (position, location) in record.spans.iter().enumerate() {
            let id = ids.resources[location.resource as usize];
            assert_eq!(
                values.resource(id).and_then(|r| r.service_name()),
                Some(services[position]),
                "span {position}"
            );
        }
    }
}
