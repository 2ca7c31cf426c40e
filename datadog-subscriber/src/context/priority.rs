use std::fmt;

/// A Datadog sampling priority.
///
/// `-1` user reject, `0` auto reject, `1` auto keep, `2` user keep. Other integers arrive from
/// some upstream services and are carried as they are; anything above zero means "keep".
///
/// ```
/// use datadog_subscriber::context::SamplingPriority;
///
/// assert!(SamplingPriority::USER_KEEP.is_keep());
/// assert!(!SamplingPriority::USER_REJECT.is_keep());
/// assert_eq!(SamplingPriority::new(7).value(), 7);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SamplingPriority(i32);

impl SamplingPriority {
    /// `-1`: dropped by a user decision (manual drop or a sampling rule).
    pub const USER_REJECT: SamplingPriority = SamplingPriority(-1);
    /// `0`: dropped by the automatic (agent-rate) sampler.
    pub const AUTO_REJECT: SamplingPriority = SamplingPriority(0);
    /// `1`: kept by the automatic (agent-rate) sampler.
    pub const AUTO_KEEP: SamplingPriority = SamplingPriority(1);
    /// `2`: kept by a user decision (manual keep or a sampling rule).
    pub const USER_KEEP: SamplingPriority = SamplingPriority(2);

    /// Wraps any priority value.
    pub const fn new(value: i32) -> Self {
        SamplingPriority(value)
    }

    /// The integer value.
    pub const fn value(self) -> i32 {
        self.0
    }

    /// Whether the trace is kept (priority above zero).
    pub const fn is_keep(self) -> bool {
        self.0 > 0
    }
}

impl fmt::Debug for SamplingPriority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SamplingPriority({})", self.0)
    }
}

impl fmt::Display for SamplingPriority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}
