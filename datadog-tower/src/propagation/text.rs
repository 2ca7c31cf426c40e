//! Splitting and trimming header values at ASCII bytes.
//!
//! `str::split(',')`, `split_once` and `trim_matches([' ', '\t'])` go through `core`'s pattern
//! searchers (a `memchr` call per piece, a character decode per trimmed character); on the short
//! values of propagation headers a plain byte loop costs a fraction of that, and every request
//! splits several of them (`x-datadog-tags`, `tracestate`, `baggage`).

/// `text` without the leading and trailing bytes `trimmed` accepts (ASCII bytes only, so the
/// cuts fall on character boundaries).
fn trim_bytes(text: &str, trimmed: impl Fn(u8) -> bool) -> &str {
    let bytes = text.as_bytes();
    let Some(start) = bytes.iter().position(|&byte| !trimmed(byte)) else {
        return "";
    };
    let end = bytes
        .iter()
        .rposition(|&byte| !trimmed(byte))
        .map_or(start, |last| last + 1);
    &text[start..end]
}

/// `text` without leading and trailing W3C optional white space (spaces and tabs).
pub(crate) fn trim_ows(text: &str) -> &str {
    trim_bytes(text, |byte| matches!(byte, b' ' | b'\t'))
}

/// `text` without leading and trailing spaces.
pub(crate) fn trim_spaces(text: &str) -> &str {
    trim_bytes(text, |byte| byte == b' ')
}

/// The pieces of `text` between the `separator`s (an ASCII byte), as `str::split` gives them.
pub(crate) fn split_at_byte(text: &str, separator: u8) -> impl Iterator<Item = &str> + Clone {
    let mut start = 0;
    text.as_bytes()
        .split(move |&byte| byte == separator)
        .map(move |piece| {
            let piece_text = &text[start..start + piece.len()];
            start += piece.len() + 1;
            piece_text
        })
}

/// `text` around its first `separator` (an ASCII byte), as `str::split_once` gives it.
pub(crate) fn split_once_at_byte(text: &str, separator: u8) -> Option<(&str, &str)> {
    let at = text.bytes().position(|byte| byte == separator)?;
    Some((&text[..at], &text[at + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_trims_as_std_does() {
        for text in [
            "",
            ",",
            "a",
            "a,b",
            ",a,,b,",
            " \t a=b ; c\u{e9}=\u{1f600} ,\t",
            "\u{e9},\u{e9}",
            " \t ",
        ] {
            for separator in [',', ';', '='] {
                let ours: Vec<_> = split_at_byte(text, separator as u8).collect();
                let std: Vec<_> = text.split(separator).collect();
                assert_eq!(ours, std, "{text:?} {separator:?}");
                assert_eq!(
                    split_once_at_byte(text, separator as u8),
                    text.split_once(separator),
                    "{text:?} {separator:?}"
                );
            }
            assert_eq!(trim_ows(text), text.trim_matches([' ', '\t']), "{text:?}");
            assert_eq!(trim_spaces(text), text.trim_matches(' '), "{text:?}");
        }
    }
}
