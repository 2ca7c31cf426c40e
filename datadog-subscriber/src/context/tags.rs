use std::sync::Arc;

use compact_str::CompactString;
use smallvec::SmallVec;

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
    /// Keys (`_dd.p.dm`, `_dd.p.tid`, ...) and values are short: kept inline. The list is shared
    /// by the trace and every context and chunk taken from it (each outgoing call and each
    /// closed trace takes one), so a copy costs a count increment, not an allocation; the first
    /// change after a copy copies it. Up to two tags (most traces have one or two: `_dd.p.dm`,
    /// `_dd.p.tid`) live in the shared allocation itself. `None` when there are no tags.
    entries: Option<Arc<Entries>>,
}

type Entries = SmallVec<[(CompactString, CompactString); 2]>;

impl PropagationTags {
    fn entries(&self) -> &[(CompactString, CompactString)] {
        self.entries.as_deref().map_or(&[], Entries::as_slice)
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries()
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Sets `key` to `value`, keeping the position of an existing key.
    pub fn insert(&mut self, key: impl AsRef<str>, value: impl AsRef<str>) {
        let (key, value) = (key.as_ref(), value.as_ref());
        let entries = Arc::make_mut(self.entries.get_or_insert_with(Arc::default));
        if let Some(entry) = entries.iter_mut().find(|(k, _)| k == key) {
            entry.1 = CompactString::from(value);
        } else {
            entries.push((CompactString::from(key), CompactString::from(value)));
        }
    }

    /// Removes `key` and returns its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let index = self.entries().iter().position(|(k, _)| k == key)?;
        let entries = Arc::make_mut(self.entries.as_mut()?);
        let (_, value) = entries.remove(index);
        if entries.is_empty() {
            self.entries = None;
        }
        Some(value.into_string())
    }

    /// The tags in insertion order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        self.entries().iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of tags.
    pub fn len(&self) -> usize {
        self.entries().len()
    }

    /// Whether there are no tags.
    pub fn is_empty(&self) -> bool {
        self.entries().is_empty()
    }

    /// Removes every tag.
    pub fn clear(&mut self) {
        self.entries = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_share_until_one_changes() {
        let mut trace = PropagationTags::default();
        trace.insert("_dd.p.dm", "-1");
        let mut context = trace.clone();
        context.insert("_dd.p.dm", "-4");
        context.insert("_dd.p.usr.id", "x");
        assert_eq!(trace.get("_dd.p.dm"), Some("-1"));
        assert_eq!(trace.len(), 1);
        assert_eq!(
            context.iter().collect::<Vec<_>>(),
            [("_dd.p.dm", "-4"), ("_dd.p.usr.id", "x")]
        );

        let copy = trace.clone();
        assert_eq!(trace.remove("_dd.p.dm").as_deref(), Some("-1"));
        assert_eq!(trace.remove("_dd.p.dm"), None);
        assert!(trace.is_empty());
        assert_eq!(trace, PropagationTags::default());
        assert_eq!(copy.get("_dd.p.dm"), Some("-1"));
    }
}
