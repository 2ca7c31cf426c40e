//! Datadog sampling-rule globs: `*` matches any run of characters, `?` exactly one; matching is
//! case-insensitive (as in every Datadog SDK).

/// A compiled glob pattern.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Glob {
    /// Lower-cased pattern characters.
    pattern: Vec<char>,
    /// `*` alone: matches everything without looking at the subject.
    match_all: bool,
}

impl Glob {
    pub(crate) fn new(pattern: &str) -> Self {
        Glob {
            pattern: pattern.chars().flat_map(char::to_lowercase).collect(),
            match_all: !pattern.is_empty() && pattern.chars().all(|c| c == '*'),
        }
    }

    /// Whether `subject` matches, in linear time (classic backtrack-to-last-star).
    pub(crate) fn matches(&self, subject: &str) -> bool {
        if self.match_all {
            return true;
        }
        let subject: Vec<char> = subject.chars().flat_map(char::to_lowercase).collect();
        let pattern = &self.pattern;
        let (mut p, mut s) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while s < subject.len() {
            if p < pattern.len() && (pattern[p] == '?' || pattern[p] == subject[s]) {
                p += 1;
                s += 1;
            } else if p < pattern.len() && pattern[p] == '*' {
                star = Some((p, s));
                p += 1;
            } else if let Some((star_p, star_s)) = star {
                p = star_p + 1;
                s = star_s + 1;
                star = Some((star_p, star_s + 1));
            } else {
                return false;
            }
        }
        pattern[p..].iter().all(|&c| c == '*')
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp, reason = "the values are set, not computed")]
mod tests {
    use super::Glob;

    #[test]
    fn wildcards_and_case() {
        assert!(Glob::new("*").matches(""));
        assert!(Glob::new("web-*").matches("WEB-checkout"));
        assert!(Glob::new("GET /users/?").matches("get /users/7"));
        assert!(!Glob::new("GET /users/?").matches("GET /users/17"));
        assert!(Glob::new("a*b*c").matches("aXXbYYbc"));
        assert!(!Glob::new("a*b*c").matches("aXXbYYb"));
        assert!(Glob::new("").matches(""));
        assert!(!Glob::new("").matches("x"));
    }
}
