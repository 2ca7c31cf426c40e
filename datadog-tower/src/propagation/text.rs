//! Byte-level splitting and trimming for header values.
//!
//! Header values are short; `str::split(char)` and `trim_matches(&[char])` go through generic
//! pattern searchers whose set-up costs more than the scan itself. These loops look at bytes
//! directly. Separators are ASCII, so every index they cut at is a character boundary.

/// Whether `byte` is W3C optional white space (space or horizontal tab).
pub(crate) const fn is_ows(byte: u8) -> bool {
    byte == b' ' || byte == b'\t'
}

/// `text` without leading and trailing spaces and tabs.
#[inline]
pub(crate) fn trim_ows(text: &str) -> &str {
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut end = bytes.len();
    while start < end && is_ows(bytes[start]) {
        start += 1;
    }
    while end > start && is_ows(bytes[end - 1]) {
        end -= 1;
    }
    &text[start..end]
}

/// `text` without leading and trailing spaces.
#[inline]
pub(crate) fn trim_spaces(text: &str) -> &str {
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut end = bytes.len();
    while start < end && bytes[start] == b' ' {
        start += 1;
    }
    while end > start && bytes[end - 1] == b' ' {
        end -= 1;
    }
    &text[start..end]
}

/// Splits at the first `separator` (ASCII).
#[inline]
pub(crate) fn split_once(text: &str, separator: u8) -> Option<(&str, &str)> {
    let index = text.bytes().position(|byte| byte == separator)?;
    Some((&text[..index], &text[index + 1..]))
}

/// Like `str::split` with one ASCII separator.
pub(crate) fn split(text: &str, separator: u8) -> Split<'_> {
    Split {
        rest: Some(text),
        separator,
    }
}

/// The iterator of [`split`].
#[derive(Clone)]
pub(crate) struct Split<'a> {
    rest: Option<&'a str>,
    separator: u8,
}

impl<'a> Iterator for Split<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = self.rest?;
        if let Some(index) = rest.bytes().position(|byte| byte == self.separator) {
            self.rest = Some(&rest[index + 1..]);
            Some(&rest[..index])
        } else {
            self.rest = None;
            Some(rest)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_like_the_standard_library() {
        for text in ["", ",", "a", "a,b", ",a,,b,", " \ta b\t "] {
            assert_eq!(
                split(text, b',').collect::<Vec<_>>(),
                text.split(',').collect::<Vec<_>>()
            );
            assert_eq!(split_once(text, b','), text.split_once(','));
            assert_eq!(trim_ows(text), text.trim_matches([' ', '\t']));
            assert_eq!(trim_spaces(text), text.trim_matches(' '));
        }
    }
}
