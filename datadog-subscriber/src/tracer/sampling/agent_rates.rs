//! The sampling rates the Agent returns in each `/v0.4/traces` answer (`rate_by_service`).

use std::collections::HashMap;
use std::sync::RwLock;

/// Rates keyed `service:<service>,env:<env>`; the key `service:,env:` is the Agent's default.
#[derive(Default)]
pub(crate) struct AgentRates {
    rates: RwLock<HashMap<String, f64>>,
}

/// The Agent's catch-all key.
const DEFAULT_KEY: &str = "service:,env:";

impl AgentRates {
    /// Replaces the rates with the `rate_by_service` object of an Agent answer. Values that are
    /// not numbers in `[0, 1]` are skipped; a body without `rate_by_service` keeps the old rates.
    pub(crate) fn update_from_response(&self, body: &[u8]) {
        let Ok(serde_json::Value::Object(answer)) = serde_json::from_slice(body) else {
            return;
        };
        let Some(serde_json::Value::Object(by_service)) = answer.get("rate_by_service") else {
            return;
        };
        let rates: HashMap<String, f64> = by_service
            .iter()
            .filter_map(|(key, value)| {
                let rate = value.as_f64()?;
                (0.0..=1.0).contains(&rate).then(|| (key.clone(), rate))
            })
            .collect();
        match self.rates.write() {
            Ok(mut current) => *current = rates,
            Err(poisoned) => *poisoned.into_inner() = rates,
        }
    }

    /// The rate for a root span's service and env, else the Agent's default, else none.
    pub(crate) fn rate_for(&self, service: &str, env: &str) -> Option<f64> {
        let rates = match self.rates.read() {
            Ok(rates) => rates,
            Err(poisoned) => poisoned.into_inner(),
        };
        if rates.is_empty() {
            return None;
        }
        let key = format!("service:{service},env:{env}");
        rates.get(&key).or_else(|| rates.get(DEFAULT_KEY)).copied()
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp, reason = "the values are set, not computed")]
mod tests {
    use super::AgentRates;

    #[test]
    fn service_key_then_default_then_none() {
        let rates = AgentRates::default();
        assert_eq!(rates.rate_for("a", "prod"), None);
        rates.update_from_response(
            br#"{"rate_by_service":{"service:a,env:prod":0.25,"service:,env:":0.5,"service:b,env:prod":7}}"#,
        );
        assert_eq!(rates.rate_for("a", "prod"), Some(0.25));
        assert_eq!(
            rates.rate_for("b", "prod"),
            Some(0.5),
            "out-of-range rates are skipped"
        );
        rates.update_from_response(b"not json");
        assert_eq!(
            rates.rate_for("a", "prod"),
            Some(0.25),
            "garbage keeps the old rates"
        );
        rates.update_from_response(br#"{"rate_by_service":{}}"#);
        assert_eq!(rates.rate_for("a", "prod"), None);
    }
}
