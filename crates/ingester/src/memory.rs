//! Estimates of the memory the head really takes.
//!
//! `Span::heap_bytes` counts string and vector lengths. What a process pays is more: every
//! string and vector is its own allocation, rounded up to an allocator size class;
//! vectors have spare capacity; hash tables have empty slots. The head's back-pressure
//! limit is meant to bound resident memory, so it counts allocations the way mimalloc
//! (the binary's allocator) sizes them: multiples of 8 bytes up to 64, then four size
//! classes per power of two (at most 25% rounding). The head keeps spans encoded, so
//! most of its memory is record buffers, counted by capacity; decoded values it keeps
//! (one per distinct resource and scope) are counted allocation by allocation.
//! `docs/benchmarks.md` compares these estimates with the resident set size measured
//! under load.

use std::mem::size_of;

use weft_model::{AttributeValue, InstrumentationScope, KeyValue, Resource};
use weft_storage::TraceDigest;

/// Bytes the allocator hands out for a request of `bytes` (0 for 0).
pub fn allocation_bytes(bytes: usize) -> usize {
    match bytes {
        0 => 0,
        1..=64 => bytes.div_ceil(8) * 8,
        _ => {
            // Four classes per power of two: 80, 96, 112, 128, 160, 192, ...
            let highest_bit = usize::BITS - 1 - (bytes - 1).leading_zeros();
            let step = 1usize << (highest_bit - 2);
            bytes.div_ceil(step) * step
        }
    }
}

fn string_bytes(text: &String) -> usize {
    allocation_bytes(text.capacity())
}

fn vector_bytes<T>(vector: &Vec<T>) -> usize {
    allocation_bytes(vector.capacity() * size_of::<T>())
}

fn value_bytes(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::String(text) => string_bytes(text),
        AttributeValue::Bytes(bytes) => vector_bytes(bytes),
        AttributeValue::Array(values) => {
            vector_bytes(values) + values.iter().map(value_bytes).sum::<usize>()
        }
        AttributeValue::KeyValueList(pairs) => attributes_bytes(pairs),
        AttributeValue::Bool(_)
        | AttributeValue::Int(_)
        | AttributeValue::Double(_)
        | AttributeValue::Empty => 0,
    }
}

/// Heap bytes of an attribute list: the vector and every key and value in it.
pub fn attributes_bytes(attributes: &Vec<KeyValue>) -> usize {
    vector_bytes(attributes)
        + attributes
            .iter()
            .map(|pair| string_bytes(&pair.key) + value_bytes(&pair.value))
            .sum::<usize>()
}

/// Bytes of one shared resource: its `Arc` allocation and everything it owns.
pub fn resource_bytes(resource: &Resource) -> usize {
    allocation_bytes(size_of::<Resource>() + 16) + attributes_bytes(&resource.attributes)
}

/// Bytes of one shared scope: its `Arc` allocation and everything it owns.
pub fn scope_bytes(scope: &InstrumentationScope) -> usize {
    allocation_bytes(size_of::<InstrumentationScope>() + 16)
        + string_bytes(&scope.name)
        + string_bytes(&scope.version)
        + attributes_bytes(&scope.attributes)
}

/// Heap bytes a trace digest owns (service names and the root's strings).
pub fn digest_heap_bytes(digest: &TraceDigest) -> usize {
    vector_bytes(&digest.services)
        + digest.services.iter().map(string_bytes).sum::<usize>()
        + digest.root.as_ref().map_or(0, |root| {
            string_bytes(&root.service_name) + string_bytes(&root.span_name)
        })
}

/// Bytes of a hash table holding `capacity` entries of `entry_bytes` (hashbrown: 8
/// buckets per 7 usable slots, one control byte per bucket).
pub fn hash_table_bytes(capacity: usize, entry_bytes: usize) -> usize {
    if capacity == 0 {
        return 0;
    }
    let buckets = (capacity * 8 / 7).next_power_of_two();
    allocation_bytes(buckets * (entry_bytes + 1) + 16)
}

/// Bytes a string copied into a name index costs: the string and its B-tree slot.
pub fn name_bytes(text: &str) -> usize {
    allocation_bytes(text.len()) + size_of::<String>() * 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_sizes_follow_the_allocator_classes() {
        assert_eq!(allocation_bytes(0), 0);
        assert_eq!(allocation_bytes(1), 8);
        assert_eq!(allocation_bytes(64), 64);
        assert_eq!(allocation_bytes(65), 80);
        assert_eq!(allocation_bytes(129), 160);
        assert_eq!(allocation_bytes(257), 320);
        assert_eq!(allocation_bytes(1000), 1024);
        for bytes in 1..100_000 {
            let allocated = allocation_bytes(bytes);
            assert!(
                allocated >= bytes && allocated <= bytes + bytes / 4 + 8,
                "{bytes}"
            );
        }
    }

    #[test]
    fn resource_estimates_count_every_allocation_not_just_lengths() {
        let mut resource = Resource::for_service("frontend");
        let alone = resource_bytes(&resource);
        resource.attributes.push(KeyValue::new(
            "list",
            AttributeValue::Array(vec![AttributeValue::Int(1)]),
        ));
        resource.attributes.shrink_to_fit();
        // The vector grew from one pair to two; one more key; one array allocation.
        let expected = alone - allocation_bytes(size_of::<KeyValue>())
            + allocation_bytes(2 * size_of::<KeyValue>())
            + 8
            + allocation_bytes(size_of::<AttributeValue>());
        assert_eq!(resource_bytes(&resource), expected);
        assert!(resource_bytes(&resource) > resource.heap_bytes());
    }
}
