use std::fmt;

/// W3C baggage: user key/value pairs that travel with a request, in insertion order.
///
/// Keys and values are kept decoded; the `baggage` codec percent-encodes them on injection. All
/// items share one string buffer, so a request's baggage costs two allocations, not two per item.
///
/// ```
/// use datadog_subscriber::context::Baggage;
///
/// let mut baggage = Baggage::default();
/// baggage.insert("user.id", "alice");
/// baggage.insert("session.id", "s-1");
/// assert_eq!(baggage.get("user.id"), Some("alice"));
/// assert_eq!(baggage.len(), 2);
/// ```
#[derive(Clone, Default)]
pub struct Baggage {
    /// Every key and value, back to back; replaced and removed items leave dead bytes behind.
    text: String,
    /// Where each item's key and value lie in `text`, in insertion order.
    entries: Vec<Entry>,
    /// Bytes of `text` that no entry points to any more.
    dead: usize,
}

#[derive(Clone, Copy)]
struct Entry {
    key_start: usize,
    key_end: usize,
    value_start: usize,
    value_end: usize,
}

/// Dead bytes tolerated before the buffer is rebuilt (at least half of it must be live).
const MIN_DEAD_TO_COMPACT: usize = 64;

impl Baggage {
    /// Room for `items` more items whose keys and values total `bytes`.
    pub fn reserve(&mut self, items: usize, bytes: usize) {
        self.entries.reserve(items);
        self.text.reserve(bytes);
    }

    #[inline]
    fn key(&self, entry: &Entry) -> &str {
        &self.text[entry.key_start..entry.key_end]
    }

    #[inline]
    fn value(&self, entry: &Entry) -> &str {
        &self.text[entry.value_start..entry.value_end]
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.entries.iter().position(|entry| self.key(entry) == key)
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.position(key)
            .map(|index| self.value(&self.entries[index]))
    }

    /// Sets `key` to `value`; a repeated key keeps its first position and takes the last value.
    pub fn insert(&mut self, key: impl AsRef<str>, value: impl AsRef<str>) {
        let (key, value) = (key.as_ref(), value.as_ref());
        if let Some(index) = self.position(key) {
            let entry = self.entries[index];
            self.dead += entry.value_end - entry.value_start;
            let value_start = self.text.len();
            self.text.push_str(value);
            self.entries[index] = Entry {
                value_start,
                value_end: self.text.len(),
                ..entry
            };
            self.compact_if_sparse();
        } else {
            let key_start = self.text.len();
            self.text.push_str(key);
            let key_end = self.text.len();
            self.text.push_str(value);
            self.entries.push(Entry {
                key_start,
                key_end,
                value_start: key_end,
                value_end: self.text.len(),
            });
        }
    }

    /// Removes `key` and returns its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let index = self.position(key)?;
        let entry = self.entries.remove(index);
        let value = self.value(&entry).to_owned();
        self.dead += (entry.key_end - entry.key_start) + (entry.value_end - entry.value_start);
        self.compact_if_sparse();
        Some(value)
    }

    /// Rebuilds the buffer once most of it is dead, so repeated updates stay bounded.
    fn compact_if_sparse(&mut self) {
        if self.dead < MIN_DEAD_TO_COMPACT || self.dead * 2 < self.text.len() {
            return;
        }
        let mut compacted = Baggage::default();
        compacted.reserve(self.entries.len(), self.text.len() - self.dead);
        for (key, value) in self.iter() {
            compacted.insert(key, value);
        }
        *self = compacted;
    }

    /// The items in insertion order.
    #[inline]
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .map(|entry| (self.key(entry), self.value(entry)))
    }

    /// Number of items.
    #[inline]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no items.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Equal when the items and their order are (however the buffers were built).
impl PartialEq for Baggage {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Baggage {}

impl fmt::Debug for Baggage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// Which baggage keys are copied to the local root span as `baggage.<key>` tags
/// (`DD_TRACE_BAGGAGE_TAG_KEYS`).
///
/// ```
/// use datadog_subscriber::context::BaggageTagKeys;
///
/// let keys = BaggageTagKeys::parse("account.id,, feature*flag ");
/// assert!(keys.matches("feature*flag"));
/// assert!(!keys.matches("ACCOUNT.ID"));
/// assert!(BaggageTagKeys::parse("*").matches("anything"));
/// assert!(!BaggageTagKeys::parse("").matches("user.id"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BaggageTagKeys {
    /// Every baggage key (`*`).
    All,
    /// These exact, case-sensitive keys (empty: no tags).
    Keys(Vec<String>),
}

impl BaggageTagKeys {
    /// Parses a comma-separated list: entries are trimmed, empty entries dropped, a `*` entry
    /// selects every key.
    pub fn parse(list: &str) -> Self {
        let keys: Vec<String> = list
            .split(',')
            .map(str::trim)
            .filter(|key| !key.is_empty())
            .map(str::to_owned)
            .collect();
        if keys.iter().any(|key| key == "*") {
            BaggageTagKeys::All
        } else {
            BaggageTagKeys::Keys(keys)
        }
    }

    /// Whether `key` is tagged.
    pub fn matches(&self, key: &str) -> bool {
        match self {
            BaggageTagKeys::All => true,
            BaggageTagKeys::Keys(keys) => keys.iter().any(|known| known == key),
        }
    }

    /// The `baggage.<key>` span tags for the selected items of `baggage`.
    pub fn tags<'a>(
        &'a self,
        baggage: &'a Baggage,
    ) -> impl Iterator<Item = (String, &'a str)> + 'a {
        baggage
            .iter()
            .filter(|(key, _)| self.matches(key))
            .map(|(key, value)| (format!("baggage.{key}"), value))
    }
}

impl Default for BaggageTagKeys {
    fn default() -> Self {
        BaggageTagKeys::parse("user.id,session.id,account.id")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_keep_positions_and_removals_return_values() {
        let mut baggage = Baggage::default();
        baggage.insert("a", "1");
        baggage.insert("b", String::from("2"));
        baggage.insert("a", "3");
        assert_eq!(baggage.iter().collect::<Vec<_>>(), [("a", "3"), ("b", "2")]);
        assert_eq!(baggage.remove("a").as_deref(), Some("3"));
        assert_eq!(baggage.remove("a"), None);
        assert_eq!(baggage.iter().collect::<Vec<_>>(), [("b", "2")]);
        assert_eq!(format!("{baggage:?}"), r#"{"b": "2"}"#);
    }

    #[test]
    fn repeated_updates_stay_bounded() {
        let mut baggage = Baggage::default();
        baggage.insert("keep", "x");
        for round in 0..10_000 {
            baggage.insert("counter", round.to_string());
        }
        assert!(
            baggage.text.len() < 2 * MIN_DEAD_TO_COMPACT + 64,
            "{}",
            baggage.text.len()
        );
        assert_eq!(baggage.get("counter"), Some("9999"));
        assert_eq!(baggage.get("keep"), Some("x"));
        let mut rebuilt = Baggage::default();
        rebuilt.insert("keep", "x");
        rebuilt.insert("counter", "9999");
        assert_eq!(baggage, rebuilt);
    }
}
