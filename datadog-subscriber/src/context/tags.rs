use compact_str::CompactString;

/// The trace-level tags that travel with a trace (keys starting with `_dd.p.`), in insertion order.
///
/// Order matters because SDKs re-inject `x-datadog-tags` in the order they read it.
///
/// ```
/// use datadog_subscriber::context::PropagationTags;
///
/// let mut tags = PropagationTags::default();
/// tags.insert("_dd.p.dm", "-4");
/// tags.insert("_dd.p.usr.id", "baz64");
/// tags.insert("_dd.p.dm", "-1");
/// assert_eq!(tags.get("_dd.p.dm"), Some("-1"));
/// assert_eq!(tags.iter().map(|(k, _)| k).collect::<Vec<_>>(), ["_dd.p.dm", "_dd.p.usr.id"]);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PropagationTags {
    /// Keys (`_dd.p.dm`, `_dd.p.tid`, ...) and values are short: kept inline, a copy of the tags
    /// (each outgoing call takes one) allocates only the list.
    entries: Vec<(CompactString, CompactString)>,
}

impl PropagationTags {
    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Sets `key` to `value`, keeping the position of an existing key.
    pub fn insert(&mut self, key: impl AsRef<str>, value: impl AsRef<str>) {
        let key = CompactString::from(key.as_ref());
        let value = CompactString::from(value.as_ref());
        if let Some(entry) = self.entries.iter_mut().find(|(k, _)| *k == key) {
            entry.1 = value;
        } else {
            self.entries.push((key, value));
        }
    }

    /// Removes `key` and returns its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let index = self.entries.iter().position(|(k, _)| k == key)?;
        Some(self.entries.remove(index).1.into_string())
    }

    /// The tags in insertion order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of tags.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no tags.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Removes every tag.
    pub fn clear(&mut self) {
        self.entries.clear();
    }
}
