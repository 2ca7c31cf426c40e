//! Single span sampling (`DD_SPAN_SAMPLING_RULES`): spans of a dropped trace that match a rule
//! are still kept, alone, tagged so the Agent ingests them without their trace.

use super::glob::Glob;
use super::rate_limiter::RateLimiter;
use crate::context::SpanId;

/// `_dd.span_sampling.mechanism` value of single span sampling.
const SPAN_SAMPLING_MECHANISM: f64 = 8.0;

/// One span sampling rule: a span of a dropped trace whose service and operation name match is
/// kept with probability `sample_rate`, at most `max_per_second` per second.
///
/// `DD_SPAN_SAMPLING_RULES` holds a JSON array of `{"service", "name", "sample_rate",
/// "max_per_second"}` objects (globs with `*` and `?`); the first matching rule decides.
///
/// ```
/// use datadog_subscriber::tracer::{SpanSamplingRule, TracerConfig};
///
/// let config = TracerConfig::new()
///     .span_sampling_rule(SpanSamplingRule::new(1.0).name("db.query").max_per_second(50.0));
/// # drop(config);
/// ```
pub struct SpanSamplingRule {
    service: Option<Glob>,
    name: Option<Glob>,
    sample_rate: f64,
    max_per_second: Option<f64>,
    limiter: Option<RateLimiter>,
}

impl std::fmt::Debug for SpanSamplingRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanSamplingRule")
            .field("service", &self.service)
            .field("name", &self.name)
            .field("sample_rate", &self.sample_rate)
            .field("max_per_second", &self.max_per_second)
            .finish_non_exhaustive()
    }
}

impl Clone for SpanSamplingRule {
    fn clone(&self) -> Self {
        let rule = SpanSamplingRule {
            service: self.service.clone(),
            name: self.name.clone(),
            sample_rate: self.sample_rate,
            max_per_second: None,
            limiter: None,
        };
        match self.max_per_second {
            Some(limit) => rule.max_per_second(limit),
            None => rule,
        }
    }
}

impl SpanSamplingRule {
    /// A rule matching every span, keeping it with probability `sample_rate` (clamped to
    /// `[0, 1]`; NaN counts as 1), without a per-second limit.
    pub fn new(sample_rate: f64) -> Self {
        SpanSamplingRule {
            service: None,
            name: None,
            sample_rate: super::clamp_rate(sample_rate),
            max_per_second: None,
            limiter: None,
        }
    }

    /// Only spans whose service matches `glob`.
    pub fn service(mut self, glob: &str) -> Self {
        self.service = Some(Glob::new(glob));
        self
    }

    /// Only spans whose operation name matches `glob`.
    pub fn name(mut self, glob: &str) -> Self {
        self.name = Some(Glob::new(glob));
        self
    }

    /// At most this many spans kept per second by this rule (negative or NaN: no limit).
    pub fn max_per_second(mut self, limit: f64) -> Self {
        if limit.is_nan() || limit < 0.0 {
            self.max_per_second = None;
            self.limiter = None;
        } else {
            self.max_per_second = Some(limit);
            self.limiter = Some(RateLimiter::new(limit));
        }
        self
    }

    fn matches(&self, service: &str, name: &str) -> bool {
        let glob_matches =
            |glob: &Option<Glob>, value: &str| glob.as_ref().is_none_or(|g| g.matches(value));
        glob_matches(&self.service, service) && glob_matches(&self.name, name)
    }

    /// The metrics to add to a span of a dropped trace, if the first matching rule keeps it.
    pub(crate) fn decide(
        rules: &[SpanSamplingRule],
        service: &str,
        name: &str,
        span_id: SpanId,
    ) -> Option<[(&'static str, f64); 3]> {
        let rule = rules.iter().find(|rule| rule.matches(service, name))?;
        if !super::kept_by_hash(span_id.as_u64(), rule.sample_rate) {
            return None;
        }
        if let Some(limiter) = &rule.limiter
            && !limiter.allow().0
        {
            return None;
        }
        Some([
            ("_dd.span_sampling.mechanism", SPAN_SAMPLING_MECHANISM),
            ("_dd.span_sampling.rule_rate", rule.sample_rate),
            (
                "_dd.span_sampling.max_per_second",
                rule.max_per_second.unwrap_or(-1.0),
            ),
        ])
    }

    /// Parses `DD_SPAN_SAMPLING_RULES`. Invalid JSON gives no rules; an invalid rule is skipped;
    /// each with one warning.
    pub(crate) fn parse_json(json: &str) -> Vec<SpanSamplingRule> {
        const VARIABLE: &str = "DD_SPAN_SAMPLING_RULES";
        let Ok(serde_json::Value::Array(rules)) = serde_json::from_str::<serde_json::Value>(json)
        else {
            datadog_env::warn_invalid(
                VARIABLE,
                json,
                "is not a JSON array of rules",
                "no span sampling rules",
            );
            return Vec::new();
        };
        rules
            .iter()
            .filter_map(|rule| match Self::parse_rule(rule) {
                Ok(rule) => Some(rule),
                Err(reason) => {
                    datadog_env::warn_invalid(
                        VARIABLE,
                        &rule.to_string(),
                        &format!("has an invalid rule ({reason})"),
                        "the other rules",
                    );
                    None
                }
            })
            .collect()
    }

    fn parse_rule(rule: &serde_json::Value) -> Result<SpanSamplingRule, String> {
        let serde_json::Value::Object(fields) = rule else {
            return Err("a rule must be a JSON object".into());
        };
        let number = |key: &str| -> Result<Option<f64>, String> {
            match fields.get(key) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(value) => value
                    .as_f64()
                    .map(Some)
                    .ok_or_else(|| format!("{key} must be a number")),
            }
        };
        let sample_rate = number("sample_rate")?.unwrap_or(1.0);
        if !(0.0..=1.0).contains(&sample_rate) {
            return Err("sample_rate must be between 0 and 1".into());
        }
        let mut parsed = SpanSamplingRule::new(sample_rate);
        if let Some(limit) = number("max_per_second")? {
            parsed = parsed.max_per_second(limit);
        }
        for key in ["service", "name"] {
            match fields.get(key) {
                None | Some(serde_json::Value::Null) => {}
                Some(serde_json::Value::String(pattern)) => {
                    let glob = Some(Glob::new(pattern));
                    if key == "service" {
                        parsed.service = glob;
                    } else {
                        parsed.name = glob;
                    }
                }
                Some(_) => return Err(format!("{key} must be a string")),
            }
        }
        Ok(parsed)
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp, reason = "the values are set, not computed")]
mod tests {
    use super::*;

    #[test]
    fn the_first_matching_rule_decides_and_tags() {
        let rules = SpanSamplingRule::parse_json(
            r#"[{"service":"web","name":"db.*","sample_rate":1,"max_per_second":2},
                {"name":"never","sample_rate":0},{"sample_rate":7},{"service":3},"x"]"#,
        );
        assert_eq!(rules.len(), 2);
        let kept = SpanSamplingRule::decide(&rules, "web", "db.query", SpanId::new(5)).unwrap();
        assert_eq!(kept[0], ("_dd.span_sampling.mechanism", 8.0));
        assert_eq!(kept[1], ("_dd.span_sampling.rule_rate", 1.0));
        assert_eq!(kept[2], ("_dd.span_sampling.max_per_second", 2.0));
        // The limit: two per second.
        assert!(SpanSamplingRule::decide(&rules, "web", "db.query", SpanId::new(6)).is_some());
        assert!(SpanSamplingRule::decide(&rules, "web", "db.query", SpanId::new(7)).is_none());
        assert!(SpanSamplingRule::decide(&rules, "web", "never", SpanId::new(8)).is_none());
        assert!(SpanSamplingRule::decide(&rules, "other", "db.query", SpanId::new(9)).is_none());
        assert!(SpanSamplingRule::parse_json("{}").is_empty());
    }

    #[test]
    fn rates_draw_on_the_span_id() {
        let rule = [SpanSamplingRule::new(0.5)];
        let kept = (1..=10_000u64)
            .filter(|id| SpanSamplingRule::decide(&rule, "s", "n", SpanId::new(*id)).is_some())
            .count();
        assert!((4_000..6_000).contains(&kept), "{kept}");
    }
}
