//! Client-side aggregation: counts summed, last gauge kept, set members deduplicated, and
//! histogram / distribution / timing values packed (`name:v1:v2:…|d`) with a reservoir cap.
//!
//! A context is keyed by its serialised form (`name|type|#tags|card:…`), written by the caller
//! into a reused buffer, so an update is one hash lookup and no allocation once the context exists.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex};

use crate::format::{push_f64, push_i64, push_rate, push_set_member};
use crate::message::{MetricType, MetricValue};
use crate::telemetry::Counters;

/// A small multiplicative hasher for context keys (our own serialised strings, so no need for
/// SipHash's protection against chosen keys). Processes eight bytes per step.
#[derive(Default)]
pub(crate) struct ContextHasher(u64);

impl Hasher for ContextHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
            self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(K);
        }
        for &byte in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(byte)).wrapping_mul(K);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type Map = HashMap<Box<[u8]>, Arc<Slot>, BuildHasherDefault<ContextHasher>>;

enum Value {
    Count(i64),
    Gauge(f64),
    Set(HashSet<Box<str>>),
    Samples {
        values: Vec<f64>,
        /// Values offered since the last flush (more than `values.len()` once the reservoir is full).
        seen: u64,
        /// The sample rate of the first value of the window, forwarded to the Agent.
        rate: f64,
    },
}

/// What a context received in the current window.
#[derive(Default)]
struct Window {
    /// Calls recorded: the client's metric counters take them when the window is flushed
    /// (counting here, under the lock taken anyway, spares every call an atomic increment).
    calls: u64,
    /// `None` when nothing arrived since the last flush.
    value: Option<Value>,
    /// Values packed in the previous window: the next window's room, so a steady stream of
    /// values fills one allocation instead of growing a vector from empty every window.
    previous_samples: usize,
}

/// One context and its current window. Shared with the [`crate::MetricHandle`]s and per-thread
/// cache entries that record into it without a map lookup.
pub(crate) struct Slot {
    /// Where the name ends in the key; the rest is `|type` and the optional fields.
    name_len: usize,
    kind: MetricType,
    window: Mutex<Window>,
}

/// Limits that keep the aggregator's memory bounded.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Contexts per window; further new contexts are sent without aggregation.
    pub(crate) max_contexts: usize,
    /// Values kept per histogram/distribution/timing context (uniform reservoir beyond), and
    /// members per set context.
    pub(crate) max_samples: usize,
}

/// The aggregation window's contexts.
pub(crate) struct Aggregator {
    contexts: Mutex<Map>,
    limits: Limits,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Aggregator {
    pub(crate) fn new(limits: Limits) -> Self {
        Aggregator {
            contexts: Mutex::new(Map::default()),
            limits,
        }
    }

    /// Adds a value to the context `key` (name first, `name_len` bytes). Returns `false` when
    /// the context is new and the window already holds the maximum: the caller sends it as is.
    pub(crate) fn add(
        &self,
        key: &[u8],
        name_len: usize,
        kind: MetricType,
        value: MetricValue<'_>,
        rate: f64,
    ) -> bool {
        let mut contexts = lock(&self.contexts);
        if let Some(slot) = contexts.get(key) {
            self.record(slot, &value, rate);
            return true;
        }
        if contexts.len() >= self.limits.max_contexts {
            return false;
        }
        let slot = Arc::new(Slot {
            name_len,
            kind,
            window: Mutex::new(Window::default()),
        });
        self.record(&slot, &value, rate);
        contexts.insert(key.into(), slot);
        true
    }

    /// The slot of a context, created if needed (`None` when the context limit is reached).
    pub(crate) fn slot(&self, key: &[u8], name_len: usize, kind: MetricType) -> Option<Arc<Slot>> {
        let mut contexts = lock(&self.contexts);
        if let Some(slot) = contexts.get(key) {
            return Some(Arc::clone(slot));
        }
        if contexts.len() >= self.limits.max_contexts {
            return None;
        }
        let slot = Arc::new(Slot {
            name_len,
            kind,
            window: Mutex::new(Window::default()),
        });
        contexts.insert(key.into(), Arc::clone(&slot));
        Some(slot)
    }

    /// Adds a value to a slot.
    #[inline]
    pub(crate) fn record(&self, slot: &Slot, value: &MetricValue<'_>, rate: f64) {
        // Matched here, in the caller, on the caller's value: the float then travels in a
        // register, while a copy of the whole enum would go through memory (read back as one
        // block before the caller's separate stores of its fields complete).
        if let MetricValue::Float(value) = *value
            && slot.kind.is_sampled()
        {
            self.record_sample(slot, value, rate);
        } else {
            self.record_value(slot, *value, rate);
        }
    }

    /// Adds a histogram, distribution or timing value to its slot.
    fn record_sample(&self, slot: &Slot, value: f64, rate: f64) {
        let mut window = lock(&slot.window);
        window.calls += 1;
        let room = window.previous_samples;
        let current = window.value.get_or_insert_with(|| Value::Samples {
            values: Vec::with_capacity(room),
            seen: 0,
            rate,
        });
        if let Value::Samples { values, seen, .. } = current {
            add_sample(values, seen, value, self.limits.max_samples);
        }
    }

    fn record_value(&self, slot: &Slot, value: MetricValue<'_>, rate: f64) {
        let mut window = lock(&slot.window);
        window.calls += 1;
        let room = window.previous_samples;
        let current = window.value.get_or_insert_with(|| match slot.kind {
            MetricType::Count => Value::Count(0),
            MetricType::Gauge => Value::Gauge(0.0),
            MetricType::Set => Value::Set(HashSet::new()),
            _ => Value::Samples {
                values: Vec::with_capacity(room),
                seen: 0,
                rate,
            },
        });
        update(current, value, self.limits.max_samples);
    }

    /// Calls recorded in the current window, per type (indexed like [`MetricType::ALL`]),
    /// passed to `read` while no flush can move them to `counters`.
    pub(crate) fn with_pending<R>(&self, read: impl FnOnce([u64; 6]) -> R) -> R {
        let contexts = lock(&self.contexts);
        let mut pending = [0; 6];
        for slot in contexts.values() {
            pending[slot.kind.index()] += lock(&slot.window).calls;
        }
        read(pending)
    }

    /// Ends the window: writes one message per context (several for packed values that do not
    /// fit one datagram of `max` bytes, one per set member) through `emit`, each ending with
    /// `suffix` and `\n`, and adds the window's calls to `counters`. Contexts idle for a whole
    /// window and held by no handle are forgotten. Returns the number of contexts written.
    pub(crate) fn flush(
        &self,
        suffix: &[u8],
        max: usize,
        counters: &Counters,
        emit: &mut dyn FnMut(&[u8]),
    ) -> usize {
        let mut taken = Vec::new();
        lock(&self.contexts).retain(|key, slot| {
            let mut window = lock(&slot.window);
            match window.value.take() {
                Some(value) => {
                    counters.metrics(slot.kind, std::mem::take(&mut window.calls));
                    if let Value::Samples { values, .. } = &value {
                        window.previous_samples = values.len();
                    }
                    taken.push((key.clone(), slot.name_len, value));
                }
                // Idle: keep it only while a handle may still record into it.
                None => return Arc::strong_count(slot) > 1,
            }
            true
        });
        let count = taken.len();
        let mut line = Vec::with_capacity(max);
        let mut tail = Vec::new();
        for (key, name_len, value) in taken {
            let (name, rest) = key.split_at(name_len);
            let start = |line: &mut Vec<u8>| {
                line.clear();
                line.extend_from_slice(name);
            };
            tail.clear();
            tail.extend_from_slice(rest);
            match value {
                Value::Count(sum) => {
                    tail.extend_from_slice(suffix);
                    tail.push(b'\n');
                    start(&mut line);
                    line.push(b':');
                    push_i64(&mut line, sum);
                    line.extend_from_slice(&tail);
                    emit(&line);
                }
                Value::Gauge(last) => {
                    tail.extend_from_slice(suffix);
                    tail.push(b'\n');
                    start(&mut line);
                    line.push(b':');
                    push_f64(&mut line, last);
                    line.extend_from_slice(&tail);
                    emit(&line);
                }
                Value::Set(members) => {
                    tail.extend_from_slice(suffix);
                    tail.push(b'\n');
                    for member in members {
                        start(&mut line);
                        line.push(b':');
                        push_set_member(&mut line, &member);
                        line.extend_from_slice(&tail);
                        emit(&line);
                    }
                }
                Value::Samples { values, seen, rate } => {
                    // With a full reservoir each kept value stands for seen/len offered ones.
                    let effective = rate * values.len() as f64 / seen.max(1) as f64;
                    push_rate(&mut tail, effective);
                    tail.extend_from_slice(suffix);
                    tail.push(b'\n');
                    pack(&mut line, name, &values, &tail, max, emit);
                }
            }
        }
        count
    }
}

/// Writes `name:v1:v2…<tail>` lines of at most `max` bytes (at least one value per line; a
/// line that is too long even so is left for the batch to refuse). Values are written straight
/// into the line; the one that does not fit moves to the next.
fn pack(
    line: &mut Vec<u8>,
    name: &[u8],
    values: &[f64],
    tail: &[u8],
    max: usize,
    emit: &mut dyn FnMut(&[u8]),
) {
    let mut in_line = 0;
    line.clear();
    line.extend_from_slice(name);
    for &v in values {
        let start = line.len();
        line.push(b':');
        push_f64(line, v);
        if in_line > 0 && line.len() + tail.len() > max {
            let value = line.split_off(start);
            line.extend_from_slice(tail);
            emit(line);
            line.clear();
            line.extend_from_slice(name);
            line.extend_from_slice(&value);
            in_line = 0;
        }
        in_line += 1;
    }
    if in_line > 0 {
        line.extend_from_slice(tail);
        emit(line);
    }
}

fn update(slot: &mut Value, value: MetricValue<'_>, max_samples: usize) {
    match (slot, value) {
        (Value::Count(sum), MetricValue::Int(v)) => *sum = sum.saturating_add(v),
        (Value::Gauge(last), MetricValue::Float(v)) => *last = v,
        (Value::Set(members), MetricValue::Member(member))
            if members.len() < max_samples && !members.contains(member) =>
        {
            members.insert(member.into());
        }
        (Value::Samples { values, seen, .. }, MetricValue::Float(v)) => {
            add_sample(values, seen, v, max_samples);
        }
        // The client pairs kinds and values; a mismatch cannot be built through its API.
        _ => {}
    }
}

/// Keeps a value: all of them up to `max_samples`, then a uniform sample of everything `seen`.
fn add_sample(values: &mut Vec<f64>, seen: &mut u64, value: f64, max_samples: usize) {
    *seen += 1;
    if values.len() < max_samples {
        values.push(value);
    } else {
        // Algorithm R: every offered value ends up kept with equal probability.
        let slot = fastrand::u64(0..*seen) as usize;
        if slot < values.len() {
            values[slot] = value;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_contexts: 100,
            max_samples: 1000,
        }
    }

    fn flushed(aggregator: &Aggregator, max: usize) -> Vec<String> {
        let mut lines = Vec::new();
        aggregator.flush(b"", max, &Counters::default(), &mut |line| {
            lines.push(String::from_utf8(line.to_vec()).unwrap());
        });
        lines.sort();
        lines
    }

    #[test]
    fn counts_sum_gauges_keep_the_last_sets_deduplicate() {
        let aggregator = Aggregator::new(limits());
        for v in [1, 2, 3] {
            assert!(aggregator.add(
                b"hits|c|#a:b",
                4,
                MetricType::Count,
                MetricValue::Int(v),
                1.0
            ));
        }
        for v in [5.0, 7.5] {
            aggregator.add(b"temp|g", 4, MetricType::Gauge, MetricValue::Float(v), 1.0);
        }
        for m in ["x", "y", "x"] {
            aggregator.add(b"users|s", 5, MetricType::Set, MetricValue::Member(m), 1.0);
        }
        assert_eq!(
            flushed(&aggregator, 8192),
            [
                "hits:6|c|#a:b\n",
                "temp:7.5|g\n",
                "users:x|s\n",
                "users:y|s\n"
            ]
        );
        assert!(
            flushed(&aggregator, 8192).is_empty(),
            "a flush empties the window"
        );
    }

    #[test]
    fn packed_values_split_across_lines_that_fit() {
        let aggregator = Aggregator::new(limits());
        for v in 0..10 {
            aggregator.add(
                b"lat|d",
                3,
                MetricType::Distribution,
                MetricValue::Float(f64::from(v)),
                1.0,
            );
        }
        let mut lines = Vec::new();
        aggregator.flush(b"", 16, &Counters::default(), &mut |line| {
            lines.push(String::from_utf8(line.to_vec()).unwrap());
        });
        assert!(lines.iter().all(|line| line.len() <= 16), "{lines:?}");
        assert!(lines.iter().all(|line| line.ends_with("|d\n")), "{lines:?}");
        let values: Vec<&str> = lines
            .iter()
            .flat_map(|l| l.split('|').next().unwrap().split(':').skip(1))
            .collect();
        assert_eq!(values, ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
    }

    #[test]
    fn a_full_reservoir_forwards_the_effective_rate() {
        let aggregator = Aggregator::new(Limits {
            max_contexts: 10,
            max_samples: 4,
        });
        for _ in 0..8 {
            aggregator.add(
                b"lat|h",
                3,
                MetricType::Histogram,
                MetricValue::Float(1.0),
                0.5,
            );
        }
        assert_eq!(flushed(&aggregator, 8192), ["lat:1:1:1:1|h|@0.25\n"]);
    }

    #[test]
    fn new_contexts_beyond_the_limit_are_refused() {
        let aggregator = Aggregator::new(Limits {
            max_contexts: 1,
            max_samples: 4,
        });
        assert!(aggregator.add(b"a|c", 1, MetricType::Count, MetricValue::Int(1), 1.0));
        assert!(!aggregator.add(b"b|c", 1, MetricType::Count, MetricValue::Int(1), 1.0));
        assert!(aggregator.add(b"a|c", 1, MetricType::Count, MetricValue::Int(1), 1.0));
    }
}
