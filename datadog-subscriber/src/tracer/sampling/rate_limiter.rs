//! The per-second limit on traces kept by sampling rules (`DD_TRACE_RATE_LIMIT`, default 100).

use std::sync::Mutex;
use std::time::Instant;

/// A token bucket refilled at `rate` tokens per second, holding at most `rate` tokens, plus the
/// effective rate Datadog reports as `_dd.limit_psr`.
pub(crate) struct RateLimiter {
    /// Negative means unlimited.
    rate: f64,
    state: Mutex<LimiterState>,
}

struct LimiterState {
    tokens: f64,
    last_refill: Instant,
    window_start: Instant,
    window_seen: u64,
    window_allowed: u64,
    previous_window_rate: Option<f64>,
}

impl RateLimiter {
    pub(crate) fn new(rate: f64) -> Self {
        let now = Instant::now();
        RateLimiter {
            rate,
            state: Mutex::new(LimiterState {
                tokens: rate.max(0.0),
                last_refill: now,
                window_start: now,
                window_seen: 0,
                window_allowed: 0,
                previous_window_rate: None,
            }),
        }
    }

    /// Takes a token if one is available; returns whether the trace may be kept and the effective
    /// rate (kept / seen, averaged over this and the previous one-second window).
    pub(crate) fn allow(&self) -> (bool, f64) {
        if self.rate < 0.0 {
            return (true, 1.0);
        }
        let now = Instant::now();
        let mut state = match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        };
        let elapsed = now.duration_since(state.last_refill).as_secs_f64();
        state.tokens = (state.tokens + elapsed * self.rate).min(self.rate);
        state.last_refill = now;
        let window_elapsed = now.duration_since(state.window_start).as_secs_f64();
        if window_elapsed >= 1.0 {
            let rate = if state.window_seen == 0 {
                1.0
            } else {
                state.window_allowed as f64 / state.window_seen as f64
            };
            // A gap of more than one window means the previous window saw nothing.
            state.previous_window_rate = Some(if window_elapsed >= 2.0 { 1.0 } else { rate });
            state.window_start = now;
            state.window_seen = 0;
            state.window_allowed = 0;
        }
        let allowed = state.tokens >= 1.0;
        if allowed {
            state.tokens -= 1.0;
            state.window_allowed += 1;
        }
        state.window_seen += 1;
        let current = state.window_allowed as f64 / state.window_seen as f64;
        let effective = match state.previous_window_rate {
            Some(previous) => f64::midpoint(current, previous),
            None => current,
        };
        (allowed, effective)
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp, reason = "the values are set, not computed")]
mod tests {
    use super::RateLimiter;

    #[test]
    fn a_burst_beyond_the_limit_is_refused_and_reported() {
        let limiter = RateLimiter::new(3.0);
        let results: Vec<_> = (0..30).map(|_| limiter.allow()).collect();
        let allowed = results.iter().filter(|(allowed, _)| *allowed).count();
        // Refill during the loop can add a token, never dozens.
        assert!((3..30).contains(&allowed), "allowed {allowed}");
        let (_, last_rate) = results.last().unwrap();
        assert!(*last_rate < 1.0);
    }

    #[test]
    fn zero_refuses_everything_and_negative_allows_everything() {
        assert!(!RateLimiter::new(0.0).allow().0);
        let unlimited = RateLimiter::new(-1.0);
        assert!((0..1000).all(|_| unlimited.allow().0));
    }
}
