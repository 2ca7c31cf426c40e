//! The `tracecontext` style: W3C `traceparent` and `tracestate`, with Datadog's `dd=` member.

use std::borrow::Cow;

use datadog_subscriber::context::{SamplingPriority, SpanContext, SpanId, TraceId};

use super::carrier::{Extractor, HeaderWriter};
use super::datadog::{DM_TAG, TID_TAG};
use super::names::{Header, TRACEPARENT, TRACESTATE};
use super::number::{parse_lower_hex, push_hex};
use super::text::{split_at_byte, split_once_at_byte, trim_ows};

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

/// A `traceparent` value: trace id, parent id and the sampled flag, or `None` when it breaks
/// the W3C rules (also read by [`crate::cloud_trace`]).
pub(crate) fn parse_traceparent(value: &str) -> Option<(TraceId, SpanId, bool)> {
    let value = trim_ows(value);
    let bytes = value.as_bytes();
    if bytes.len() < 55 || bytes[2] != b'-' || bytes[35] != b'-' || bytes[52] != b'-' {
        return None;
    }
    // `get`, not indexing: a multi-byte character may straddle a field boundary.
    let version = parse_lower_hex(value.get(0..2)?)?;
    let trace_id = parse_lower_hex(value.get(3..35)?)?;
    let parent_id = parse_lower_hex(value.get(36..52)?)? as u64;
    let flags = parse_lower_hex(value.get(53..55)?)?;
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
    split_at_byte(raw, b',')
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
            .flat_map(|member| split_at_byte(member, b';'))
            .filter_map(|item| split_once_at_byte(item, b':'))
    }

    fn resolve_priority(&self) -> (SamplingPriority, DecisionMaker) {
        let s = self
            .dd_items()
            .filter(|(key, _)| *key == "s")
            .filter_map(|(_, value)| value.parse::<i32>().ok())
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

/// Sets `traceparent` and `tracestate`.
pub(crate) fn inject(context: &SpanContext, out: &mut HeaderWriter) {
    let flags = if context.is_sampled() == Some(true) {
        "01"
    } else {
        "00"
    };
    let value = out.next_value();
    value.push_str("00-");
    push_hex(value, context.trace_id.as_u128(), 32);
    value.push('-');
    push_hex(value, context.span_id.as_u64().into(), 16);
    value.push('-');
    value.push_str(flags);
    out.send(Header::Traceparent);
    write_tracestate(context, out.next_value());
    out.send(Header::Tracestate);
}

/// Writes the `tracestate` value to the empty `out`.
fn write_tracestate(context: &SpanContext, out: &mut String) {
    out.push_str("dd=");
    if let Some(priority) = context.sampling_priority {
        out.push_str("s:");
        out.push_str(itoa::Buffer::new().format(priority.value()));
        out.push(';');
    }
    if let Some(origin) = context.origin.as_deref().filter(|o| !o.is_empty()) {
        out.push_str("o:");
        push_origin(out, origin);
        out.push(';');
    }
    out.push_str("p:");
    push_hex(out, context.span_id.as_u64().into(), 16);
    for (key, value) in context.propagation_tags.iter() {
        let Some(name) = key.strip_prefix("_dd.p.") else {
            continue;
        };
        if key == TID_TAG || name.is_empty() {
            continue;
        }
        let mark = out.len();
        out.push_str(";t.");
        push_tag_key(out, name);
        out.push(':');
        push_tag_value(out, value);
        if out.len() > MAX_DD_MEMBER {
            out.truncate(mark);
        }
    }
    let vendors = context
        .tracestate_vendors
        .iter()
        .filter(|vendor| !vendor.is_empty() && !is_dd(vendor))
        .take(MAX_MEMBERS - 1);
    for vendor in vendors {
        out.push(',');
        out.push_str(vendor);
    }
}

/// `o:` value: `,` `;` `~` and runs of characters outside 0x21–0x7E become `_`, `=` becomes `~`.
fn push_origin(out: &mut String, origin: &str) {
    let mut in_run = false;
    for c in origin.chars() {
        if ('\x21'..='\x7e').contains(&c) {
            in_run = false;
            out.push(match c {
                ',' | ';' | '~' => '_',
                '=' => '~',
                c => c,
            });
        } else if !in_run {
            in_run = true;
            out.push('_');
        }
    }
}

/// `t.<key>`: `,` `=` space and characters outside 0x20–0x7E become `_`.
fn push_tag_key(out: &mut String, key: &str) {
    out.extend(key.chars().map(|c| match c {
        ',' | '=' | ' ' => '_',
        '\x20'..='\x7e' => c,
        _ => '_',
    }));
}

/// `t.*` value: `,` `;` `~` and characters outside 0x20–0x7E become `_`, `=` becomes `~`.
fn push_tag_value(out: &mut String, value: &str) {
    out.extend(value.chars().map(|c| match c {
        ',' | ';' | '~' => '_',
        '=' => '~',
        '\x20'..='\x7e' => c,
        _ => '_',
    }));
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
                let mut out = String::new();
                if value {
                    push_tag_value(&mut out, text);
                } else {
                    push_tag_key(&mut out, text);
                }
                assert_eq!(out, reference(text, value), "{text:?}");
            }
        }
    }

    #[test]
    fn sanitisers() {
        let mut out = String::new();
        push_origin(&mut out, "synthetics~;=web,z\u{e9}\u{e9} x");
        assert_eq!(out, "synthetics__~web_z_x");
        out.clear();
        push_tag_value(&mut out, "\u{dc}w\u{dc}=");
        assert_eq!(out, "_w_~");
        out.clear();
        push_tag_key(&mut out, "a=b c,\u{e9}\u{1f600}\u{7f}");
        assert_eq!(out, "a_b_c____");
        out.clear();
        push_origin(&mut out, "rum");
        push_tag_value(&mut out, "-4 x");
        assert_eq!(out, "rum-4 x");
    }
}
