//! Trace sampling with Datadog's semantics: sampling rules (with the rate limit), else the
//! Agent's rates, else keep; decision-maker tags and the rates that were applied.

mod agent_rates;
mod glob;
mod rate_limiter;
mod rules;
mod span_rules;

pub(crate) use agent_rates::AgentRates;
pub(crate) use rules::RuleSubject;
pub use rules::SamplingRule;
pub use span_rules::SpanSamplingRule;

use rate_limiter::RateLimiter;

use crate::context::{SamplingPriority, TraceId};

/// Decision-maker mechanisms (`_dd.p.dm = -<mechanism>`).
pub(crate) mod mechanism {
    /// No rule and no Agent rate yet: kept by default.
    pub(crate) const DEFAULT: u8 = 0;
    /// An Agent rate (`rate_by_service`).
    pub(crate) const AGENT_RATE: u8 = 1;
    /// A local sampling rule (`DD_TRACE_SAMPLING_RULES`, `DD_TRACE_SAMPLE_RATE`).
    pub(crate) const LOCAL_RULE: u8 = 3;
    /// A manual keep or drop in code.
    pub(crate) const MANUAL: u8 = 4;
}

/// A trace's sampling decision, with what the local root reports about how it was made.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Decision {
    pub(crate) priority: SamplingPriority,
    /// `None` for a decision that came from upstream.
    pub(crate) mechanism: Option<u8>,
    pub(crate) agent_rate: Option<f64>,
    pub(crate) rule_rate: Option<f64>,
    pub(crate) limit_rate: Option<f64>,
}

impl Decision {
    /// The `_dd.p.dm` value of a local decision: Datadog SDKs only propagate who decided to
    /// keep a trace, so a drop (or an upstream decision) has none.
    pub(crate) fn decision_maker(&self) -> Option<&'static str> {
        const VALUES: [&str; 10] = ["-0", "-1", "-2", "-3", "-4", "-5", "-6", "-7", "-8", "-9"];
        let mechanism = self.mechanism?;
        self.priority
            .is_keep()
            .then(|| VALUES.get(usize::from(mechanism)).copied())
            .flatten()
    }

    /// A decision taken over from upstream (or from the code): no rates to report.
    pub(crate) fn fixed(priority: SamplingPriority, mechanism: Option<u8>) -> Self {
        Decision {
            priority,
            mechanism,
            agent_rate: None,
            rule_rate: None,
            limit_rate: None,
        }
    }
}

/// Makes the sampling decision of new local traces.
pub(crate) struct Sampler {
    rules: Vec<SamplingRule>,
    limiter: RateLimiter,
    pub(crate) agent_rates: AgentRates,
}

impl Sampler {
    /// `sample_rate` (`DD_TRACE_SAMPLE_RATE`) acts as a last catch-all rule, as in Datadog SDKs.
    pub(crate) fn new(
        mut rules: Vec<SamplingRule>,
        sample_rate: Option<f64>,
        rate_limit: f64,
    ) -> Self {
        if let Some(rate) = sample_rate {
            rules.push(SamplingRule::new(rate));
        }
        Sampler {
            rules,
            limiter: RateLimiter::new(rate_limit),
            agent_rates: AgentRates::default(),
        }
    }

    /// Decides for a trace whose local root is `subject`.
    pub(crate) fn decide(
        &self,
        trace_id: TraceId,
        env: &str,
        subject: &RuleSubject<'_>,
    ) -> Decision {
        if let Some(rule) = self.rules.iter().find(|rule| rule.matches(subject)) {
            let rate = rule.sample_rate;
            let mut decision =
                Decision::fixed(SamplingPriority::USER_REJECT, Some(mechanism::LOCAL_RULE));
            decision.rule_rate = Some(rate);
            if sampled_by_rate(trace_id, rate) {
                let (allowed, effective) = self.limiter.allow();
                decision.limit_rate = Some(effective);
                if allowed {
                    decision.priority = SamplingPriority::USER_KEEP;
                }
            }
            return decision;
        }
        match self.agent_rates.rate_for(subject.service, env) {
            Some(rate) => {
                let priority = if sampled_by_rate(trace_id, rate) {
                    SamplingPriority::AUTO_KEEP
                } else {
                    SamplingPriority::AUTO_REJECT
                };
                let mut decision = Decision::fixed(priority, Some(mechanism::AGENT_RATE));
                decision.agent_rate = Some(rate);
                decision
            }
            None => Decision::fixed(SamplingPriority::AUTO_KEEP, Some(mechanism::DEFAULT)),
        }
    }
}

/// Datadog's deterministic rate sampling on the lower 64 bits of the trace id, so every SDK makes
/// the same choice for the same trace.
pub(crate) fn sampled_by_rate(trace_id: TraceId, rate: f64) -> bool {
    kept_by_hash(trace_id.low(), rate)
}

/// Datadog's deterministic draw on an id (Knuth's multiplicative hash): a trace id's lower half
/// for trace sampling, a span id for single span sampling.
pub(crate) fn kept_by_hash(id: u64, rate: f64) -> bool {
    const KNUTH_FACTOR: u64 = 1_111_111_111_111_111_111;
    if rate >= 1.0 {
        return true;
    }
    if rate <= 0.0 || rate.is_nan() {
        return false;
    }
    id.wrapping_mul(KNUTH_FACTOR) <= (rate * u64::MAX as f64) as u64
}

/// A rule's rate as given in code: clamped to `[0, 1]`, NaN counting as 1.
pub(crate) fn clamp_rate(rate: f64) -> f64 {
    if rate.is_nan() {
        1.0
    } else {
        rate.clamp(0.0, 1.0)
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp, reason = "the values are set, not computed")]
mod tests {
    use super::*;

    fn subject<'a>(service: &'a str, tag: &'a dyn Fn(&str) -> Option<String>) -> RuleSubject<'a> {
        RuleSubject {
            service,
            name: "op",
            resource: "res",
            tag,
        }
    }

    #[test]
    fn rate_sampling_is_deterministic_and_proportional() {
        let kept = (1..=10_000u64)
            .filter(|i| {
                sampled_by_rate(
                    TraceId::from_parts(0, i.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
                    0.3,
                )
            })
            .count();
        assert!((2_500..3_500).contains(&kept), "kept {kept}");
        let id = TraceId::from_parts(0, 12345);
        assert_eq!(sampled_by_rate(id, 0.5), sampled_by_rate(id, 0.5));
        assert!(sampled_by_rate(id, 1.0));
        assert!(!sampled_by_rate(id, 0.0));
    }

    #[test]
    fn rules_then_agent_rates_then_default() {
        let no_tags = |_: &str| None;
        let sampler = Sampler::new(
            vec![SamplingRule::new(0.0).service("dropped")],
            Some(1.0),
            100.0,
        );
        let id = TraceId::from_parts(0, 99);
        let dropped = sampler.decide(id, "prod", &subject("dropped", &no_tags));
        assert_eq!(dropped.priority, SamplingPriority::USER_REJECT);
        assert_eq!(dropped.rule_rate, Some(0.0));
        assert_eq!(dropped.limit_rate, None);
        let kept = sampler.decide(id, "prod", &subject("other", &no_tags));
        assert_eq!(kept.priority, SamplingPriority::USER_KEEP);
        assert_eq!(kept.mechanism, Some(mechanism::LOCAL_RULE));
        assert_eq!(kept.limit_rate, Some(1.0));

        let sampler = Sampler::new(Vec::new(), None, 100.0);
        let default = sampler.decide(id, "prod", &subject("svc", &no_tags));
        assert_eq!(
            default,
            Decision::fixed(SamplingPriority::AUTO_KEEP, Some(mechanism::DEFAULT))
        );
        sampler
            .agent_rates
            .update_from_response(br#"{"rate_by_service":{"service:svc,env:prod":0}}"#);
        let agent = sampler.decide(id, "prod", &subject("svc", &no_tags));
        assert_eq!(agent.priority, SamplingPriority::AUTO_REJECT);
        assert_eq!(agent.agent_rate, Some(0.0));
        assert_eq!(agent.mechanism, Some(mechanism::AGENT_RATE));
    }
}
