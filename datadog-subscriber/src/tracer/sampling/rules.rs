//! Trace sampling rules (`DD_TRACE_SAMPLING_RULES`, `DD_TRACE_SAMPLE_RATE`).

use super::glob::Glob;
use crate::tracer::warn::warn;

/// One trace sampling rule: when the local root span matches every glob given, the trace is kept
/// with probability `sample_rate` (then subject to the rate limit).
///
/// The first matching rule wins. `DD_TRACE_SAMPLING_RULES` holds a JSON array of
/// `{"service", "name", "resource", "tags": {key: glob}, "sample_rate"}` objects; globs use `*`
/// and `?` and ignore case.
///
/// ```
/// use datadog_subscriber::tracer::{SamplingRule, TracerConfig};
///
/// let rule = SamplingRule::new(0.1).service("web-*").resource("GET /health*");
/// let config = TracerConfig::new().sampling_rule(rule);
/// # drop(config);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct SamplingRule {
    pub(crate) service: Option<Glob>,
    pub(crate) name: Option<Glob>,
    pub(crate) resource: Option<Glob>,
    pub(crate) tags: Vec<(String, Glob)>,
    pub(crate) sample_rate: f64,
}

/// What a rule is matched against: the local root span.
pub(crate) struct RuleSubject<'a> {
    pub(crate) service: &'a str,
    pub(crate) name: &'a str,
    pub(crate) resource: &'a str,
    pub(crate) tag: &'a dyn Fn(&str) -> Option<String>,
}

impl SamplingRule {
    /// A rule matching every trace, keeping it with probability `sample_rate` (clamped to
    /// `[0, 1]`; a NaN counts as 1).
    pub fn new(sample_rate: f64) -> Self {
        SamplingRule {
            service: None,
            name: None,
            resource: None,
            tags: Vec::new(),
            sample_rate: super::clamp_rate(sample_rate),
        }
    }

    /// Only traces whose root service matches `glob`.
    pub fn service(mut self, glob: &str) -> Self {
        self.service = Some(Glob::new(glob));
        self
    }

    /// Only traces whose root span name matches `glob`.
    pub fn name(mut self, glob: &str) -> Self {
        self.name = Some(Glob::new(glob));
        self
    }

    /// Only traces whose root resource matches `glob`.
    pub fn resource(mut self, glob: &str) -> Self {
        self.resource = Some(Glob::new(glob));
        self
    }

    /// Only traces whose root span has tag `key` matching `glob`.
    pub fn tag(mut self, key: &str, glob: &str) -> Self {
        self.tags.push((key.to_owned(), Glob::new(glob)));
        self
    }

    pub(crate) fn matches(&self, subject: &RuleSubject<'_>) -> bool {
        let glob_matches =
            |glob: &Option<Glob>, value: &str| glob.as_ref().is_none_or(|g| g.matches(value));
        glob_matches(&self.service, subject.service)
            && glob_matches(&self.name, subject.name)
            && glob_matches(&self.resource, subject.resource)
            && self
                .tags
                .iter()
                .all(|(key, glob)| (subject.tag)(key).is_some_and(|value| glob.matches(&value)))
    }

    /// Parses `DD_TRACE_SAMPLING_RULES`. Invalid JSON gives no rules; an invalid rule is skipped;
    /// each with one warning.
    pub(crate) fn parse_json(json: &str) -> Vec<SamplingRule> {
        let value: serde_json::Value = match serde_json::from_str(json) {
            Ok(value) => value,
            Err(error) => {
                warn(&format!(
                    "DD_TRACE_SAMPLING_RULES is not valid JSON ({error}); no sampling rules are used"
                ));
                return Vec::new();
            }
        };
        let serde_json::Value::Array(rules) = value else {
            warn(
                "DD_TRACE_SAMPLING_RULES must be a JSON array of rules; no sampling rules are used",
            );
            return Vec::new();
        };
        rules
            .iter()
            .enumerate()
            .filter_map(|(index, rule)| match Self::parse_rule(rule) {
                Ok(rule) => Some(rule),
                Err(reason) => {
                    warn(&format!(
                        "DD_TRACE_SAMPLING_RULES rule #{index} ({rule}) is ignored: {reason}"
                    ));
                    None
                }
            })
            .collect()
    }

    fn parse_rule(rule: &serde_json::Value) -> Result<SamplingRule, String> {
        let serde_json::Value::Object(fields) = rule else {
            return Err("a rule must be a JSON object".into());
        };
        let sample_rate = match fields.get("sample_rate") {
            None => 1.0,
            Some(value) => match value.as_f64() {
                Some(rate) if (0.0..=1.0).contains(&rate) => rate,
                _ => return Err("sample_rate must be a number between 0 and 1".into()),
            },
        };
        let mut parsed = SamplingRule::new(sample_rate);
        let glob = |key: &str| -> Result<Option<Glob>, String> {
            match fields.get(key) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::String(pattern)) => Ok(Some(Glob::new(pattern))),
                Some(_) => Err(format!("{key} must be a string")),
            }
        };
        parsed.service = glob("service")?;
        parsed.name = glob("name")?;
        parsed.resource = glob("resource")?;
        match fields.get("tags") {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::Object(tags)) => {
                for (key, pattern) in tags {
                    let serde_json::Value::String(pattern) = pattern else {
                        return Err(format!("tag {key} must be a string glob"));
                    };
                    parsed.tags.push((key.clone(), Glob::new(pattern)));
                }
            }
            Some(_) => return Err("tags must be an object of string globs".into()),
        }
        Ok(parsed)
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp, reason = "the values are set, not computed")]
mod tests {
    use super::*;

    fn subject(tag: &dyn Fn(&str) -> Option<String>) -> RuleSubject<'_> {
        RuleSubject {
            service: "web-store",
            name: "http.request",
            resource: "GET /health",
            tag,
        }
    }

    #[test]
    fn invalid_rules_are_skipped_and_valid_ones_kept() {
        let rules = SamplingRule::parse_json(
            r#"[{"service":"web-*","sample_rate":0.5},{"sample_rate":3},{"name":5},"x",
                {"resource":"GET /h*","tags":{"team":"a?c"}}]"#,
        );
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].sample_rate, 0.5);
        assert_eq!(rules[1].sample_rate, 1.0);
        assert!(SamplingRule::parse_json("{not json").is_empty());
        assert!(SamplingRule::parse_json(r#"{"sample_rate":1}"#).is_empty());
    }

    #[test]
    fn rules_match_on_every_given_glob() {
        let tags = |key: &str| (key == "team").then(|| "abc".to_owned());
        let rules = SamplingRule::parse_json(
            r#"[{"resource":"GET /h*","tags":{"team":"a?c"}},{"service":"other"},{"tags":{"missing":"*"}}]"#,
        );
        assert!(rules[0].matches(&subject(&tags)));
        assert!(!rules[1].matches(&subject(&tags)));
        assert!(!rules[2].matches(&subject(&tags)));
        assert!(
            SamplingRule::new(1.0)
                .name("HTTP.*")
                .matches(&subject(&tags))
        );
    }
}
