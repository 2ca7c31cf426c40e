use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// A 128-bit Datadog trace id.
///
/// Datadog SDKs generate the upper 64 bits as `unix_seconds << 32` (32 bits of time, 32 zero bits)
/// and the lower 64 bits at random. The lower half travels as `x-datadog-trace-id`; the upper half,
/// when non-zero, as the `_dd.p.tid` propagated tag.
///
/// ```
/// use datadog_subscriber::context::TraceId;
///
/// let id = TraceId::from_parts(0x6553_a1b2_0000_0000, 42);
/// assert_eq!(id.low(), 42);
/// assert_eq!(format!("{id:x}"), "6553a1b200000000000000000000002a");
/// assert!(TraceId::generate_128().high() & 0xffff_ffff == 0);
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceId(u128);

impl TraceId {
    /// The invalid all-zero id.
    pub const INVALID: TraceId = TraceId(0);

    /// Wraps a full 128-bit id.
    pub const fn from_u128(id: u128) -> Self {
        TraceId(id)
    }

    /// Builds an id from its upper and lower 64-bit halves.
    pub const fn from_parts(high: u64, low: u64) -> Self {
        TraceId(((high as u128) << 64) | low as u128)
    }

    /// The full 128-bit value.
    pub const fn as_u128(self) -> u128 {
        self.0
    }

    /// The lower 64 bits (what `x-datadog-trace-id` and the v0.4 `trace_id` field carry).
    pub const fn low(self) -> u64 {
        self.0 as u64
    }

    /// The upper 64 bits (what `_dd.p.tid` carries, as 16 lowercase hex digits).
    pub const fn high(self) -> u64 {
        (self.0 >> 64) as u64
    }

    /// Whether the id is non-zero.
    pub const fn is_valid(self) -> bool {
        self.0 != 0
    }

    /// A new 128-bit root trace id in Datadog's layout: 32-bit unix seconds, 32 zero bits, then
    /// 64 random non-zero bits.
    pub fn generate_128() -> Self {
        let seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs());
        Self::generate_128_at(seconds)
    }

    /// [`generate_128`](Self::generate_128) for a trace that starts `unix_seconds` after the
    /// epoch (the tracer has the time of the root span at hand, without reading the clock again).
    pub(crate) fn generate_128_at(unix_seconds: u64) -> Self {
        // 32 bits of seconds, as every Datadog tracer writes them (they wrap in 2106).
        Self::from_parts(u64::from(unix_seconds as u32) << 32, random_non_zero_u64())
    }

    /// A new 64-bit root trace id (upper half zero), for `DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED=false`.
    pub fn generate_64() -> Self {
        Self::from_parts(0, random_non_zero_u64())
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({:032x})", self.0)
    }
}

/// Formats the id as 32 lowercase hex digits, zero-padded (the W3C and log formats).
impl fmt::LowerHex for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

/// A 64-bit Datadog span id. Zero means "no span" (for example the Datadog "no parent" case).
///
/// ```
/// use datadog_subscriber::context::SpanId;
///
/// let id = SpanId::generate();
/// assert!(id.is_valid());
/// assert_eq!(format!("{:x}", SpanId::new(255)), "00000000000000ff");
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpanId(u64);

impl SpanId {
    /// The invalid all-zero id.
    pub const INVALID: SpanId = SpanId(0);

    /// Wraps a 64-bit id.
    pub const fn new(id: u64) -> Self {
        SpanId(id)
    }

    /// The 64-bit value.
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// Whether the id is non-zero.
    pub const fn is_valid(self) -> bool {
        self.0 != 0
    }

    /// A new random, non-zero span id.
    pub fn generate() -> Self {
        SpanId(random_non_zero_u64())
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({:016x})", self.0)
    }
}

/// Formats the id as 16 lowercase hex digits, zero-padded (the W3C and Cloud Logging format).
impl fmt::LowerHex for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

fn random_non_zero_u64() -> u64 {
    loop {
        let value = fastrand::u64(..);
        if value != 0 {
            return value;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_128_bit_ids_follow_the_datadog_layout() {
        let id = TraceId::generate_128();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let seconds = id.high() >> 32;
        assert!(
            now.abs_diff(seconds) <= 2,
            "time prefix {seconds} vs now {now}"
        );
        assert_eq!(id.high() & 0xffff_ffff, 0);
        assert_ne!(id.low(), 0);
    }

    #[test]
    fn generated_64_bit_ids_have_no_upper_half() {
        let id = TraceId::generate_64();
        assert_eq!(id.high(), 0);
        assert!(id.is_valid());
    }

    #[test]
    fn parts_round_trip() {
        let id = TraceId::from_parts(0x1234, 0x5678);
        assert_eq!((id.high(), id.low()), (0x1234, 0x5678));
        assert_eq!(id.as_u128(), 0x1234_0000_0000_0000_5678);
    }
}
