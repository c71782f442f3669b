//! A small byte-bounded least-recently-used cache, shared between threads.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::sync::Mutex;

struct Entry<V> {
    value: V,
    bytes: u64,
    tick: u64,
}

struct Inner<K, V> {
    entries: HashMap<K, Entry<V>>,
    /// Last use -> key; the first entry is the least recently used.
    by_use: BTreeMap<u64, K>,
    bytes: u64,
    tick: u64,
}

/// Keeps values whose total declared size stays within `max_bytes`, evicting the least
/// recently used first. A value larger than `max_bytes` is never kept. Counts hits and
/// misses in `weft_storage_cache_{hits,misses}_total{cache=<name>}` and publishes the
/// declared bytes held in `weft_storage_cache_bytes{cache=<name>}`.
pub struct LruCache<K, V> {
    name: &'static str,
    max_bytes: u64,
    inner: Mutex<Inner<K, V>>,
}

impl<K: Hash + Eq + Clone, V: Clone> LruCache<K, V> {
    /// An empty cache named `name` (the metric label) holding at most `max_bytes`.
    pub fn new(name: &'static str, max_bytes: u64) -> Self {
        LruCache {
            name,
            max_bytes,
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                by_use: BTreeMap::new(),
                bytes: 0,
                tick: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<K, V>> {
        // A panic while holding the lock cannot leave the maps inconsistent in a way
        // that matters for a cache; keep serving.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The value for `key`, marking it recently used.
    pub fn get(&self, key: &K) -> Option<V> {
        let mut inner = self.lock();
        inner.tick += 1;
        let tick = inner.tick;
        let found = match inner.entries.get_mut(key) {
            Some(entry) => {
                let previous = entry.tick;
                entry.tick = tick;
                Some((previous, entry.value.clone()))
            }
            None => None,
        };
        match found {
            Some((previous, value)) => {
                inner.by_use.remove(&previous);
                inner.by_use.insert(tick, key.clone());
                metrics::counter!("weft_storage_cache_hits_total", "cache" => self.name)
                    .increment(1);
                Some(value)
            }
            None => {
                metrics::counter!("weft_storage_cache_misses_total", "cache" => self.name)
                    .increment(1);
                None
            }
        }
    }

    /// Stores `value` of `bytes` bytes under `key`, evicting older entries to fit.
    pub fn insert(&self, key: K, value: V, bytes: u64) {
        if bytes > self.max_bytes {
            return;
        }
        let mut inner = self.lock();
        if let Some(old) = inner.entries.remove(&key) {
            inner.by_use.remove(&old.tick);
            inner.bytes -= old.bytes;
        }
        while inner.bytes + bytes > self.max_bytes {
            let Some((_, oldest)) = inner.by_use.pop_first() else {
                break;
            };
            if let Some(evicted) = inner.entries.remove(&oldest) {
                inner.bytes -= evicted.bytes;
            }
        }
        inner.tick += 1;
        let tick = inner.tick;
        inner.by_use.insert(tick, key.clone());
        inner.entries.insert(key, Entry { value, bytes, tick });
        inner.bytes += bytes;
        self.publish(&inner);
    }

    fn publish(&self, inner: &Inner<K, V>) {
        metrics::gauge!("weft_storage_cache_bytes", "cache" => self.name).set(inner.bytes as f64);
    }

    /// Drops every entry whose key matches `doomed`.
    pub fn remove_where(&self, doomed: impl Fn(&K) -> bool) {
        let mut inner = self.lock();
        let keys: Vec<K> = inner
            .entries
            .keys()
            .filter(|key| doomed(key))
            .cloned()
            .collect();
        for key in keys {
            if let Some(entry) = inner.entries.remove(&key) {
                inner.by_use.remove(&entry.tick);
                inner.bytes -= entry.bytes;
            }
        }
        self.publish(&inner);
    }

    /// Total declared bytes of the entries held.
    #[cfg(test)]
    pub fn bytes(&self) -> u64 {
        self.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_recently_used_entries_go_first_and_the_bound_holds() {
        let cache = LruCache::new("test", 100);
        cache.insert("a", 1, 40);
        cache.insert("b", 2, 40);
        assert_eq!(cache.get(&"a"), Some(1), "a is now the most recent");
        cache.insert("c", 3, 40);
        assert_eq!(cache.get(&"b"), None, "b was the least recently used");
        assert_eq!(cache.get(&"a"), Some(1));
        assert_eq!(cache.get(&"c"), Some(3));
        assert_eq!(cache.bytes(), 80);
        cache.insert("huge", 9, 101);
        assert_eq!(cache.get(&"huge"), None, "larger than the whole cache");
        cache.insert("a", 10, 60);
        assert_eq!(cache.get(&"a"), Some(10));
        assert!(cache.bytes() <= 100);
        cache.remove_where(|key| *key == "a");
        assert_eq!(cache.get(&"a"), None);
    }
}
