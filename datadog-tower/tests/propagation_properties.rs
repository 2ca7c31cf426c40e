//! Property tests: arbitrary header bytes never panic, and extract(inject(context)) keeps what
//! each style can carry.

use std::collections::HashMap;

use datadog_subscriber::context::{SamplingPriority, SpanContext, SpanId, TraceId};
use datadog_tower::propagation::{ExtractBehavior, Propagator, PropagatorBuilder, Style};
use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;

const ALL_STYLES: [Style; 5] = [
    Style::Datadog,
    Style::TraceContext,
    Style::B3Multi,
    Style::B3,
    Style::Baggage,
];

const HEADER_NAMES: [&str; 13] = [
    "x-datadog-trace-id",
    "x-datadog-parent-id",
    "x-datadog-sampling-priority",
    "x-datadog-origin",
    "x-datadog-tags",
    "traceparent",
    "tracestate",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-sampled",
    "x-b3-flags",
    "b3",
    "baggage",
];

fn propagators() -> Vec<Propagator> {
    let base = || PropagatorBuilder::from_lookup(|_| None).styles(ALL_STYLES);
    vec![
        base().build(),
        base().extract_first(true).build(),
        base().extract_behavior(ExtractBehavior::Restart).build(),
        base()
            .tags_max_length(16)
            .baggage_max_items(2)
            .baggage_max_bytes(20)
            .build(),
        PropagatorBuilder::from_lookup(|_| None)
            .extract_styles([
                Style::TraceContext,
                Style::B3,
                Style::Datadog,
                Style::B3Multi,
            ])
            .build(),
    ]
}

/// Header values that look like the real thing often enough to reach deep parser paths.
fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        "[0-9a-fA-F-]{0,70}".prop_map(String::into_bytes),
        "-?[0-9]{0,25}".prop_map(String::into_bytes),
        "(00|01|ff|cc)-[0-9a-f]{32}-[0-9a-f]{16}-0[0-3](-[ -~]{0,5})?".prop_map(String::into_bytes),
        "((dd=|[a-z]{1,3}=)[ -~]{0,20}[,;:~ \t]{0,2}){0,40}".prop_map(String::into_bytes),
        "(_dd\\.p\\.[a-z]{1,4}=[ -~]{0,8},?){0,6}".prop_map(String::into_bytes),
        "([a-z%0-9]{0,6}=[a-z%0-9C3A9]{0,6},?){0,70}".prop_map(String::into_bytes),
    ]
}

fn headers() -> impl Strategy<Value = Vec<(usize, Vec<u8>)>> {
    proptest::collection::vec((0..HEADER_NAMES.len(), header_value()), 0..16)
}

fn exercise(context: Option<SpanContext>, propagator: &Propagator) {
    let Some(mut context) = context else {
        return;
    };
    // Whatever came in can be passed on, from the server span (a new span id).
    context.span_id = SpanId::new(0x1234);
    let mut out = HeaderMap::new();
    propagator.inject(&context, &mut out);
    let mut map: HashMap<String, String> = HashMap::new();
    propagator.inject(&context, &mut map);
    for (name, value) in &map {
        assert!(!value.contains(['\r', '\n']), "{name}: {value:?}");
    }
    // The HeaderMap carrier (one shared buffer) writes what the per-header path writes, less
    // values that are not valid header values.
    let valid = map
        .iter()
        .filter(|(_, value)| HeaderValue::from_str(value).is_ok());
    assert_eq!(out.len(), valid.clone().count(), "{out:?} vs {map:?}");
    for (name, value) in valid {
        assert_eq!(
            out.get(name).map(HeaderValue::as_bytes),
            Some(value.as_bytes())
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_header_bytes_never_panic(fields in headers()) {
        let mut map = HeaderMap::new();
        let mut strings: HashMap<String, String> = HashMap::new();
        for (index, bytes) in &fields {
            let name = HeaderName::from_static(HEADER_NAMES[*index]);
            if let Ok(value) = HeaderValue::from_bytes(bytes) {
                map.append(name, value);
            }
            strings.insert(HEADER_NAMES[*index].to_ascii_uppercase(), String::from_utf8_lossy(bytes).into_owned());
        }
        for propagator in propagators() {
            let from_headers = propagator.extract(&map);
            prop_assert_eq!(&propagator.extract_header_map(&map), &from_headers);
            if let Some(context) = &from_headers {
                // Zero trace id: only links or baggage may be carried.
                if !context.trace_id.is_valid() {
                    prop_assert!(context.propagation_tags.is_empty() && context.origin.is_none());
                }
                prop_assert!(context.baggage.len() <= propagator.config().baggage_max_items);
                prop_assert!(context.tracestate_vendors.len() <= 31);
                prop_assert!(context.propagation_tags.get("_dd.p.tid").is_none());
            }
            exercise(from_headers, &propagator);
            exercise(propagator.extract(&strings), &propagator);
        }
    }
}

fn trace_id() -> impl Strategy<Value = TraceId> {
    prop_oneof![
        (1..=u64::MAX).prop_map(|low| TraceId::from_parts(0, low)),
        (1..=u64::MAX, any::<u64>()).prop_map(|(high, low)| TraceId::from_parts(high, low)),
    ]
}

fn datadog_tags() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::vec(
        (
            "[a-z][a-z.]{0,7}".prop_filter("tid and dm are checked separately", |name| {
                name != "tid" && name != "dm"
            }),
            // Characters that survive every encoding (`=` becomes `~` in tracestate and back).
            "[!-+\\--:<-}]{1,12}",
        ),
        0..4,
    )
}

prop_compose! {
    fn context()(
        trace_id in trace_id(),
        span_id in 1..=u64::MAX,
        priority in proptest::option::of(-3i32..=3),
        origin in proptest::option::of("[!-+\\--:<-}]{1,16}"),
        dm in proptest::option::of(0u8..=255),
        tags in datadog_tags(),
    ) -> SpanContext {
        let mut context = SpanContext::new(trace_id, SpanId::new(span_id));
        context.sampling_priority = priority.map(SamplingPriority::new);
        context.origin = origin;
        if let Some(dm) = dm {
            context.propagation_tags.insert("_dd.p.dm", format!("-{dm}"));
        }
        for (name, value) in tags {
            context.propagation_tags.insert(format!("_dd.p.{name}"), value);
        }
        context
    }
}

fn round_trip(style: Style, context: &SpanContext) -> SpanContext {
    let propagator = PropagatorBuilder::from_lookup(|_| None)
        .styles([style])
        .build();
    let mut headers = HeaderMap::new();
    propagator.inject(context, &mut headers);
    propagator
        .extract(&headers)
        .expect("an injected context is extracted")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn datadog_and_tracecontext_keep_everything(context in context()) {
        for style in [Style::Datadog, Style::TraceContext] {
            let back = round_trip(style, &context);
            prop_assert_eq!(back.trace_id, context.trace_id, "{}", style);
            prop_assert_eq!(back.span_id, context.span_id, "{}", style);
            prop_assert_eq!(&back.origin, &context.origin, "{}", style);
            prop_assert_eq!(&back.propagation_tags, &context.propagation_tags, "{}", style);
            let expected_priority = match (style, context.sampling_priority) {
                // W3C always carries a decision: the sampled flag when `s` is absent.
                (Style::TraceContext, None) => Some(SamplingPriority::AUTO_REJECT),
                (_, priority) => priority,
            };
            prop_assert_eq!(back.sampling_priority, expected_priority, "{}", style);
            prop_assert_eq!(back.propagation_error, None);
        }
    }

    #[test]
    fn b3_styles_keep_ids_and_decision(context in context()) {
        for style in [Style::B3Multi, Style::B3] {
            let back = round_trip(style, &context);
            prop_assert_eq!(back.trace_id, context.trace_id);
            prop_assert_eq!(back.span_id, context.span_id);
            let expected = context.sampling_priority.map(|p| SamplingPriority::new(p.value().clamp(0, 2)));
            prop_assert_eq!(back.sampling_priority, expected);
        }
    }

    #[test]
    fn default_styles_keep_everything_and_baggage(
        context in context(),
        baggage in proptest::collection::vec(("[ -~]{1,8}", "\\PC{1,8}"), 0..5),
    ) {
        let mut context = context;
        for (key, value) in baggage {
            let (key, value) = (key.trim().to_owned(), value.trim().to_owned());
            if !key.is_empty() && !value.is_empty() {
                context.baggage.insert(key, value);
            }
        }
        let propagator = Propagator::default();
        let mut headers = HeaderMap::new();
        propagator.inject(&context, &mut headers);
        let back = propagator.extract(&headers).unwrap();
        prop_assert_eq!(back.trace_id, context.trace_id);
        prop_assert_eq!(back.span_id, context.span_id);
        prop_assert_eq!(back.sampling_priority, context.sampling_priority);
        prop_assert_eq!(&back.origin, &context.origin);
        prop_assert_eq!(&back.propagation_tags, &context.propagation_tags);
        prop_assert_eq!(&back.baggage, &context.baggage);
        prop_assert!(back.span_links.is_empty());
        prop_assert_eq!(back.last_parent_id, None);
    }
}
