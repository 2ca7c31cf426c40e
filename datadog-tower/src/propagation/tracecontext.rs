//! The `tracecontext` style: W3C `traceparent` and `tracestate`, with Datadog's `dd=` member.

use std::borrow::Cow;

use datadog_subscriber::context::{SamplingPriority, SpanContext, SpanId, TraceId};

use super::carrier::Extractor;
use super::datadog::{DM_TAG, TID_TAG};
use super::injected::InjectedHeaders;
use super::names::Header;
use super::names::{TRACEPARENT, TRACESTATE};
use super::number::{
    parse_decimal_i32, parse_lower_hex, push_hex16, push_hex32, push_signed_decimal,
};
use super::text::{split, split_once, trim_ows};

const MAX_MEMBERS: usize = 32;
const MAX_STATE_BYTES: usize = 512;
const LONG_MEMBER: usize = 128;
const MAX_DD_MEMBER: usize = 256;

/// A valid `traceparent` with its (not yet interpreted) `tracestate`.
pub(crate) struct W3cContext<'a> {
    pub(crate) trace_id: TraceId,
    pub(crate) parent_id: SpanId,
    sampled: bool,
    /// The joined `tracestate` field lines; `None` when absent or empty.
    pub(crate) raw_state: Option<Cow<'a, str>>,
    /// Whether `raw_state` may be interpreted (only visible ASCII and spaces).
    state_valid: bool,
    /// Where the last `dd=` member lies in `raw_state`.
    dd_range: Option<(usize, usize)>,
    /// How many non-`dd` members `raw_state` has.
    other_members: usize,
}

/// Reads `traceparent` (exactly one field line) and joins every `tracestate` field line.
pub(crate) fn extract<'a, E: Extractor + ?Sized>(carrier: &'a E) -> Option<W3cContext<'a>> {
    let mut count = 0usize;
    let mut first = None;
    carrier.get_all(TRACEPARENT, &mut |value| {
        count += 1;
        if count == 1 {
            first = value;
        }
    });
    if count != 1 {
        return None;
    }
    let (trace_id, parent_id, sampled) = parse_traceparent(first?)?;

    let mut raw_state: Option<Cow<'a, str>> = None;
    let mut state_valid = true;
    carrier.get_all(TRACESTATE, &mut |value| match value {
        None => state_valid = false,
        Some(line) if trim_ows(line).is_empty() => {}
        Some(line) => match &mut raw_state {
            None => raw_state = Some(Cow::Borrowed(line)),
            Some(joined) => {
                let joined = joined.to_mut();
                joined.push(',');
                joined.push_str(line);
            }
        },
    });
    // One pass: check the characters, find the last `dd=` member, count the others.
    let mut dd_range = None;
    let mut other_members = 0;
    if let Some(raw) = raw_state.as_deref().filter(|_| state_valid) {
        for member in members(raw) {
            if !member.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
                state_valid = false;
                break;
            }
            if is_dd(member) {
                let start = member.as_ptr() as usize - raw.as_ptr() as usize;
                dd_range = Some((start, start + member.len()));
            } else {
                other_members += 1;
            }
        }
    }
    Some(W3cContext {
        trace_id,
        parent_id,
        sampled,
        raw_state,
        state_valid,
        dd_range,
        other_members,
    })
}

fn parse_traceparent(value: &str) -> Option<(TraceId, SpanId, bool)> {
    let bytes = trim_ows(value).as_bytes();
    if bytes.len() < 55 || bytes[2] != b'-' || bytes[35] != b'-' || bytes[52] != b'-' {
        return None;
    }
    let version = parse_lower_hex(&bytes[0..2])?;
    let trace_id = parse_lower_hex(&bytes[3..35])?;
    let parent_id = parse_lower_hex(&bytes[36..52])? as u64;
    let flags = parse_lower_hex(&bytes[53..55])?;
    let shape_ok = match version {
        0xff => false,
        0x00 => bytes.len() == 55,
        _ => bytes.len() == 55 || bytes[55] == b'-',
    };
    if !shape_ok || trace_id == 0 || parent_id == 0 {
        return None;
    }
    Some((
        TraceId::from_u128(trace_id),
        SpanId::new(parent_id),
        flags & 1 == 1,
    ))
}

/// The list-members of a tracestate: split on `,`, OWS trimmed, empty ones dropped.
fn members(raw: &str) -> impl Iterator<Item = &str> + Clone {
    split(raw, b',')
        .map(trim_ows)
        .filter(|member| !member.is_empty())
}

fn is_dd(member: &str) -> bool {
    member.starts_with("dd=")
}

/// How the decision maker changes when the flag and `s:` disagree (spec §6.3).
enum DecisionMaker {
    Unchanged,
    Default,
    Removed,
}

impl W3cContext<'_> {
    fn state(&self) -> Option<&str> {
        self.raw_state.as_deref().filter(|_| self.state_valid)
    }

    /// The value of the last `dd=` member.
    fn dd_member(&self) -> Option<&str> {
        let (start, end) = self.dd_range?;
        self.state().map(|state| &state[start + 3..end])
    }

    fn dd_items(&self) -> impl Iterator<Item = (&str, &str)> {
        self.dd_member()
            .into_iter()
            .flat_map(|member| split(member, b';'))
            .filter_map(|item| split_once(item, b':'))
    }

    fn resolve_priority(&self) -> (SamplingPriority, DecisionMaker) {
        let s = self
            .dd_items()
            .filter(|(key, _)| *key == "s")
            .filter_map(|(_, value)| parse_decimal_i32(value))
            .last();
        let (priority, dm) = match (self.sampled, s) {
            (true, None) => (1, DecisionMaker::Unchanged),
            (true, Some(s)) if s > 0 => (s, DecisionMaker::Unchanged),
            (true, Some(_)) => (1, DecisionMaker::Default),
            (false, None) => (0, DecisionMaker::Unchanged),
            (false, Some(s)) if s <= 0 => (s, DecisionMaker::Unchanged),
            (false, Some(_)) => (0, DecisionMaker::Removed),
        };
        (SamplingPriority::new(priority), dm)
    }

    /// Whether a Datadog tracer wrote this context (its `tracestate` has a `dd=` member).
    pub(crate) fn written_by_datadog(&self) -> bool {
        self.dd_member().is_some()
    }

    /// The sampling priority this context carries.
    pub(crate) fn priority(&self) -> SamplingPriority {
        self.resolve_priority().0
    }

    /// The `p:` item of the `dd=` member, verbatim.
    pub(crate) fn last_parent_id(&self) -> Option<&str> {
        self.dd_items()
            .filter(|(key, _)| *key == "p")
            .map(|(_, value)| value)
            .last()
    }

    /// The non-`dd` members kept within the W3C limits (32 members, 512 bytes).
    pub(crate) fn vendors(&self) -> Vec<String> {
        let Some(state) = self.state() else {
            return Vec::new();
        };
        let others = members(state).filter(|m| !is_dd(m));
        let total = self.other_members;
        let budget_members = MAX_MEMBERS - 1;
        let mut long_to_drop = total.saturating_sub(budget_members);
        let mut bytes = self.dd_member().map_or(0, |dd| dd.len() + 3);
        let mut vendors = Vec::with_capacity(total.min(budget_members));
        for member in others {
            if long_to_drop > 0 && member.len() > LONG_MEMBER {
                long_to_drop -= 1;
                continue;
            }
            if vendors.len() == budget_members {
                break;
            }
            let cost = member.len() + usize::from(bytes > 0);
            if bytes + cost > MAX_STATE_BYTES {
                if member.len() > LONG_MEMBER {
                    continue;
                }
                break;
            }
            bytes += cost;
            vendors.push(member.to_owned());
        }
        vendors
    }

    /// The context this W3C header set describes, when it is the primary one.
    pub(crate) fn into_context(self) -> SpanContext {
        let mut context = SpanContext::new(self.trace_id, self.parent_id);
        let (priority, dm) = self.resolve_priority();
        context.sampling_priority = Some(priority);
        for (key, value) in self.dd_items() {
            match key {
                "o" if !value.is_empty() => context.origin = Some(value.replace('~', "=")),
                "p" => context.last_parent_id = Some(value.to_owned()),
                _ => {
                    if let Some(name) = key.strip_prefix("t.")
                        && !name.is_empty()
                        && name != "tid"
                    {
                        context
                            .propagation_tags
                            .insert(format!("_dd.p.{name}"), value.replace('~', "="));
                    }
                }
            }
        }
        match dm {
            DecisionMaker::Unchanged => {}
            DecisionMaker::Default => context.propagation_tags.insert(DM_TAG, "-0"),
            DecisionMaker::Removed => {
                context.propagation_tags.remove(DM_TAG);
            }
        }
        context.tracestate_vendors = self.vendors();
        context
    }
}

/// Formats `traceparent` and `tracestate`.
pub(crate) fn inject(context: &SpanContext, out: &mut InjectedHeaders) {
    let value = out.value_mut();
    value.extend_from_slice(b"00-");
    push_hex32(value, context.trace_id.as_u128());
    value.push(b'-');
    push_hex16(value, context.span_id.as_u64());
    let flags = if context.is_sampled() == Some(true) {
        b"-01"
    } else {
        b"-00"
    };
    value.extend_from_slice(flags);
    out.finish(Header::Traceparent);
    let start = out.value_start();
    push_tracestate(context, out.value_mut(), start);
    out.finish(Header::Tracestate);
}

/// Appends the `tracestate` value to `out`, where it starts at `start`.
fn push_tracestate(context: &SpanContext, out: &mut Vec<u8>, start: usize) {
    out.extend_from_slice(b"dd=");
    if let Some(priority) = context.sampling_priority {
        out.extend_from_slice(b"s:");
        push_signed_decimal(out, priority.value());
        out.push(b';');
    }
    if let Some(origin) = context.origin.as_deref().filter(|o| !o.is_empty()) {
        out.extend_from_slice(b"o:");
        push_origin(out, origin);
        out.push(b';');
    }
    out.extend_from_slice(b"p:");
    push_hex16(out, context.span_id.as_u64());
    for (key, value) in context.propagation_tags.iter() {
        let Some(name) = key.strip_prefix("_dd.p.") else {
            continue;
        };
        if key == TID_TAG || name.is_empty() {
            continue;
        }
        let mark = out.len();
        out.extend_from_slice(b";t.");
        push_tag_key(out, name);
        out.push(b':');
        push_tag_value(out, value);
        if out.len() - start > MAX_DD_MEMBER {
            out.truncate(mark);
        }
    }
    let mut count = 1;
    for vendor in &context.tracestate_vendors {
        if count == MAX_MEMBERS {
            break;
        }
        if is_dd(vendor) || vendor.is_empty() {
            continue;
        }
        out.push(b',');
        out.extend_from_slice(vendor.as_bytes());
        count += 1;
    }
}

/// How `tracestate` rewrites each ASCII byte of a `dd=` value: visible ASCII (from `first`) is
/// kept but for the listed replacements; everything else becomes `_`.
const fn byte_map(first: u8, replacements: &[(u8, u8)]) -> [u8; 128] {
    let mut map = [b'_'; 128];
    let mut byte = first;
    while byte <= 0x7e {
        map[byte as usize] = byte;
        byte += 1;
    }
    let mut index = 0;
    while index < replacements.len() {
        map[replacements[index].0 as usize] = replacements[index].1;
        index += 1;
    }
    map
}

static ORIGIN_MAP: [u8; 128] = byte_map(
    0x21,
    &[(b',', b'_'), (b';', b'_'), (b'~', b'_'), (b'=', b'~')],
);
static TAG_KEY_MAP: [u8; 128] = byte_map(0x20, &[(b',', b'_'), (b'=', b'_'), (b' ', b'_')]);
static TAG_VALUE_MAP: [u8; 128] = byte_map(
    0x20,
    &[(b',', b'_'), (b';', b'_'), (b'~', b'_'), (b'=', b'~')],
);

/// Whether `map` keeps every byte of `text` as it is (the usual case: one copy suffices).
fn unchanged(text: &str, map: &[u8; 128]) -> bool {
    text.bytes().all(|b| b < 0x80 && map[usize::from(b)] == b)
}

/// Appends `text` with ASCII bytes rewritten by `map` and each other character replaced by `_`.
fn push_mapped(out: &mut Vec<u8>, text: &str, map: &[u8; 128]) {
    if unchanged(text, map) {
        out.extend_from_slice(text.as_bytes());
        return;
    }
    for byte in text.bytes() {
        if byte < 0x80 {
            out.push(map[usize::from(byte)]);
        } else if byte & 0xc0 != 0x80 {
            // The first byte of a multi-byte character; its continuation bytes are skipped.
            out.push(b'_');
        }
    }
}

/// `o:` value: `,` `;` `~` and runs of characters outside 0x21–0x7E become `_`, `=` becomes `~`.
fn push_origin(out: &mut Vec<u8>, origin: &str) {
    if unchanged(origin, &ORIGIN_MAP) {
        out.extend_from_slice(origin.as_bytes());
        return;
    }
    let mut in_run = false;
    for c in origin.chars() {
        if ('\x21'..='\x7e').contains(&c) {
            in_run = false;
            out.push(ORIGIN_MAP[c as usize]);
        } else if !in_run {
            in_run = true;
            out.push(b'_');
        }
    }
}

/// `t.<key>`: `,` `=` space and characters outside 0x20–0x7E become `_`.
fn push_tag_key(out: &mut Vec<u8>, key: &str) {
    push_mapped(out, key, &TAG_KEY_MAP);
}

/// `t.*` value: `,` `;` `~` and characters outside 0x20–0x7E become `_`, `=` becomes `~`.
fn push_tag_value(out: &mut Vec<u8>, value: &str) {
    push_mapped(out, value, &TAG_VALUE_MAP);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_shapes() {
        let ok = "00-12345678901234567890123456789012-1234567890123456-01";
        assert!(parse_traceparent(ok).is_some());
        assert!(parse_traceparent(&format!("{ok}-x")).is_none());
        assert!(parse_traceparent(&format!("cc{}-what", &ok[2..])).is_some());
        assert!(parse_traceparent(&format!("cc{}.what", &ok[2..])).is_none());
        assert!(parse_traceparent(&format!("ff{}", &ok[2..])).is_none());
        assert_eq!(
            parse_traceparent(&ok.replace("-01", "-02")).map(|p| p.2),
            Some(false)
        );
    }

    /// The rules of `push_tag_key` / `push_tag_value`, one character at a time.
    fn reference(text: &str, value: bool) -> String {
        text.chars()
            .map(|c| match c {
                '=' if value => '~',
                ',' | '=' | ' ' if !value => '_',
                ',' | ';' | '~' if value => '_',
                '\x20'..='\x7e' => c,
                _ => '_',
            })
            .collect()
    }

    #[test]
    fn byte_mapping_matches_the_character_rules() {
        for text in [
            "",
            "plain",
            "a=b,c;d~e f",
            "\u{e9}t\u{e9}",
            "\u{1f600}x\u{7f}\t\n",
            "\u{800}\u{10ffff}=",
        ] {
            for value in [false, true] {
                let mut out = Vec::new();
                if value {
                    push_tag_value(&mut out, text);
                } else {
                    push_tag_key(&mut out, text);
                }
                assert_eq!(
                    String::from_utf8(out).unwrap(),
                    reference(text, value),
                    "{text:?}"
                );
            }
        }
    }

    #[test]
    fn sanitisers() {
        let mut out = Vec::new();
        push_origin(&mut out, "synthetics~;=web,z\u{e9}\u{e9} x");
        assert_eq!(out, b"synthetics__~web_z_x");
        out.clear();
        push_tag_value(&mut out, "\u{dc}w\u{dc}=");
        assert_eq!(out, b"_w_~");
        out.clear();
        push_tag_key(&mut out, "a=b c,\u{e9}\u{1f600}\u{7f}");
        assert_eq!(out, b"a_b_c____");
        out.clear();
        push_origin(&mut out, "rum");
        push_tag_value(&mut out, "-4 x");
        assert_eq!(out, b"rum-4 x");
    }
}
