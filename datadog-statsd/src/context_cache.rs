//! A per-thread cache from a call's raw inputs (client, type, name, tags, cardinality) to its
//! sanitised context key and aggregation slot, so a handler that reports the same metric on every
//! request skips name and tag processing and, when aggregating, the shared map's lock.

use std::cell::RefCell;
use std::sync::Arc;

use crate::aggregation::Slot;
use crate::message::{Cardinality, MetricType};

/// Contexts remembered per thread (round-robin replacement).
const CAPACITY: usize = 8;

pub(crate) struct Entry {
    client: u64,
    kind: MetricType,
    cardinality: Option<Cardinality>,
    name: String,
    tags: Vec<String>,
    /// The context key, `name|type|#tags|card:…` (namespace included, sanitised).
    pub(crate) key: Vec<u8>,
    /// Where the name ends in `key`.
    pub(crate) name_len: usize,
    /// The aggregation slot, once the context was aggregated. Holding it keeps the context in
    /// the aggregator, so records through it are never lost.
    pub(crate) slot: Option<Arc<Slot>>,
}

impl Entry {
    fn matches(
        &self,
        client: u64,
        kind: MetricType,
        cardinality: Option<Cardinality>,
        name: &str,
        tags: &[&str],
    ) -> bool {
        self.client == client
            && self.kind == kind
            && self.cardinality == cardinality
            && self.name == name
            && self.tags.len() == tags.len()
            && self
                .tags
                .iter()
                .zip(tags)
                .all(|(cached, tag)| cached == tag)
    }
}

#[derive(Default)]
pub(crate) struct ContextCache {
    entries: Vec<Entry>,
    next: usize,
}

thread_local! {
    static CACHE: RefCell<ContextCache> = RefCell::new(ContextCache::default());
}

/// Runs `f` with this thread's cache (`None` if it is already borrowed, which only a re-entrant
/// call could cause).
pub(crate) fn with<R>(f: impl FnOnce(Option<&mut ContextCache>) -> R) -> R {
    CACHE.with(|cache| match cache.try_borrow_mut() {
        Ok(mut cache) => f(Some(&mut cache)),
        Err(_) => f(None),
    })
}

impl ContextCache {
    /// The entry cached for these inputs.
    pub(crate) fn find(
        &mut self,
        client: u64,
        kind: MetricType,
        cardinality: Option<Cardinality>,
        name: &str,
        tags: &[&str],
    ) -> Option<&mut Entry> {
        self.entries
            .iter_mut()
            .find(|entry| entry.matches(client, kind, cardinality, name, tags))
    }

    /// Remembers a context, replacing the oldest entry once full (reusing its memory).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn insert(
        &mut self,
        client: u64,
        kind: MetricType,
        cardinality: Option<Cardinality>,
        name: &str,
        tags: &[&str],
        key: &[u8],
        name_len: usize,
        slot: Option<Arc<Slot>>,
    ) -> &mut Entry {
        if self.entries.len() < CAPACITY {
            self.entries.push(Entry {
                client,
                kind,
                cardinality,
                name: name.to_owned(),
                tags: tags.iter().map(|tag| (*tag).to_owned()).collect(),
                key: key.to_vec(),
                name_len,
                slot,
            });
            return self.entries.last_mut().expect("just pushed");
        }
        let index = self.next;
        let entry = &mut self.entries[index];
        self.next = (self.next + 1) % CAPACITY;
        entry.client = client;
        entry.kind = kind;
        entry.cardinality = cardinality;
        entry.name.clear();
        entry.name.push_str(name);
        entry.tags.truncate(tags.len());
        for (index, tag) in tags.iter().enumerate() {
            match entry.tags.get_mut(index) {
                Some(cached) => {
                    cached.clear();
                    cached.push_str(tag);
                }
                None => entry.tags.push((*tag).to_owned()),
            }
        }
        entry.key.clear();
        entry.key.extend_from_slice(key);
        entry.name_len = name_len;
        entry.slot = slot;
        entry
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregation::{Aggregator, Limits};

    #[test]
    fn finds_exact_inputs_and_replaces_the_oldest_entry() {
        let aggregator = Aggregator::new(Limits {
            max_contexts: 100,
            max_samples: 10,
        });
        let slot = |name: &str| aggregator.slot(name.as_bytes(), name.len(), MetricType::Count);
        let mut cache = ContextCache::default();
        cache.insert(
            1,
            MetricType::Count,
            None,
            "hits",
            &["a:b"],
            b"hits|c|#a:b",
            4,
            slot("hits"),
        );
        assert!(
            cache
                .find(1, MetricType::Count, None, "hits", &["a:b"])
                .is_some()
        );
        assert!(
            cache
                .find(2, MetricType::Count, None, "hits", &["a:b"])
                .is_none(),
            "other client"
        );
        assert!(
            cache
                .find(1, MetricType::Gauge, None, "hits", &["a:b"])
                .is_none(),
            "other type"
        );
        assert!(
            cache
                .find(1, MetricType::Count, None, "hits", &["a:c"])
                .is_none(),
            "other tags"
        );
        assert!(
            cache
                .find(1, MetricType::Count, None, "hits", &[])
                .is_none(),
            "fewer tags"
        );
        assert!(
            cache
                .find(
                    1,
                    MetricType::Count,
                    Some(Cardinality::Low),
                    "hits",
                    &["a:b"]
                )
                .is_none()
        );
        for i in 0..CAPACITY {
            let name = format!("m{i}");
            let key = format!("{name}|c|#x,y");
            cache.insert(
                1,
                MetricType::Count,
                None,
                &name,
                &["x", "y"],
                key.as_bytes(),
                name.len(),
                slot(&name),
            );
        }
        assert!(
            cache
                .find(1, MetricType::Count, None, "hits", &["a:b"])
                .is_none(),
            "evicted"
        );
        assert!(
            cache
                .find(1, MetricType::Count, None, "m7", &["x", "y"])
                .is_some()
        );
        assert_eq!(cache.entries.len(), CAPACITY);
    }
}
