//! Runs every vector of `tests/data/propagation-vectors.json` (the specification's §14 schema):
//! `config`, `extract`, `inject` and `propagate` (extract, create the server span, inject from it).

// The checks take owned values so that call sites stay one readable line each.
#![allow(clippy::needless_pass_by_value)]

use std::collections::{BTreeMap, HashMap};

use datadog_subscriber::context::{
    Baggage, BaggageTagKeys, PropagationTags, SamplingPriority, SpanContext, SpanId, TraceId,
};
use datadog_tower::propagation::{Propagator, Style};
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value};

const VECTORS: &str = include_str!("data/propagation-vectors.json");

fn env_of(vector: &Value) -> HashMap<String, String> {
    vector["config"]
        .as_object()
        .map(|config| {
            config
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

fn propagator_for(env: &HashMap<String, String>) -> Propagator {
    let env = env.clone();
    Propagator::from_lookup(move |name| env.get(name).cloned())
}

fn request_headers(vector: &Value) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let Some(fields) = vector["request_headers"].as_object() else {
        return headers;
    };
    for (name, value) in fields {
        let name = HeaderName::from_bytes(name.as_bytes()).unwrap();
        let values: Vec<&str> = match value {
            Value::Array(lines) => lines.iter().map(|l| l.as_str().unwrap()).collect(),
            other => vec![other.as_str().unwrap()],
        };
        for line in values {
            headers.append(
                name.clone(),
                HeaderValue::from_bytes(line.as_bytes()).unwrap(),
            );
        }
    }
    headers
}

/// The local root span the tracer would create from an extracted context (a stand-in for the
/// tracer: the default sampler keeps a trace that arrives without a decision, mechanism `-0`).
struct ServerSpan {
    continued: bool,
    trace_id: TraceId,
    span_id: SpanId,
    parent_id: SpanId,
    priority: SamplingPriority,
    context: SpanContext,
    meta: BTreeMap<String, String>,
}

fn server_span(extracted: Option<&SpanContext>, env: &HashMap<String, String>) -> ServerSpan {
    let span_id = SpanId::generate();
    // A trace id without a parent id is the Datadog "no parent" case: the trace continues.
    let continued = extracted.is_some_and(|remote| remote.trace_id.is_valid());
    let mut context = match extracted {
        Some(remote) if continued => remote.clone(),
        _ => {
            let generate_128 = env
                .get("DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED")
                .is_none_or(|v| !v.eq_ignore_ascii_case("false") && v != "0");
            let mut fresh = SpanContext::new(
                if generate_128 {
                    TraceId::generate_128()
                } else {
                    TraceId::generate_64()
                },
                SpanId::INVALID,
            );
            if let Some(remote) = extracted {
                fresh.baggage = remote.baggage.clone();
                fresh.span_links.clone_from(&remote.span_links);
            }
            fresh
        }
    };
    let parent_id = context.span_id;
    if context.sampling_priority.is_none() {
        context.sampling_priority = Some(SamplingPriority::AUTO_KEEP);
        if context.propagation_tags.get("_dd.p.dm").is_none() {
            context.propagation_tags.insert("_dd.p.dm", "-0");
        }
    }
    let mut meta = BTreeMap::new();
    if context.trace_id.high() != 0 {
        meta.insert(
            "_dd.p.tid".to_owned(),
            format!("{:016x}", context.trace_id.high()),
        );
    }
    for (key, value) in context.propagation_tags.iter() {
        meta.insert(key.to_owned(), value.to_owned());
    }
    if let Some(origin) = &context.origin {
        meta.insert("_dd.origin".to_owned(), origin.clone());
    }
    if continued && let Some(last) = &context.last_parent_id {
        meta.insert("_dd.parent_id".to_owned(), last.clone());
    }
    if let Some(error) = &context.propagation_error {
        meta.insert("_dd.propagation_error".to_owned(), error.clone());
    }
    // What the tracer tags a continued local root with (`DD_TRACE_BAGGAGE_TAG_KEYS`).
    let baggage_tag_keys = env
        .get("DD_TRACE_BAGGAGE_TAG_KEYS")
        .map_or_else(BaggageTagKeys::default, |keys| BaggageTagKeys::parse(keys));
    for (key, value) in baggage_tag_keys.tags(&context.baggage) {
        meta.entry(key).or_insert_with(|| value.to_owned());
    }
    let priority = context.sampling_priority.unwrap();
    let trace_id = context.trace_id;
    context.span_id = span_id;
    ServerSpan {
        continued,
        trace_id,
        span_id,
        parent_id,
        priority,
        context,
        meta,
    }
}

struct Check<'a> {
    name: &'a str,
    failures: Vec<String>,
}

impl Check<'_> {
    fn fail(&mut self, message: String) {
        self.failures.push(format!("{}: {message}", self.name));
    }

    fn eq<T: PartialEq + std::fmt::Debug>(&mut self, what: &str, actual: T, expected: T) {
        if actual != expected {
            self.fail(format!("{what}: got {actual:?}, expected {expected:?}"));
        }
    }
}

fn opt_str(value: &Value) -> Option<String> {
    value.as_str().map(str::to_owned)
}

fn tags_map(tags: &PropagationTags) -> BTreeMap<String, String> {
    tags.iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn baggage_map(baggage: &Baggage) -> BTreeMap<String, String> {
    baggage
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn json_string_map(value: &Value) -> BTreeMap<String, String> {
    value
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect()
}

fn links_json(context: &SpanContext) -> Value {
    Value::Array(
        context
            .span_links
            .iter()
            .map(|link| {
                let attributes: Map<String, Value> = link
                    .attributes
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect();
                serde_json::json!({
                    "trace_id_128_hex": format!("{:032x}", link.trace_id.as_u128()),
                    "span_id": link.span_id.as_u64().to_string(),
                    "flags": link.flags,
                    "tracestate": link.tracestate,
                    "attributes": attributes,
                })
            })
            .collect(),
    )
}

fn check_meta(
    check: &mut Check<'_>,
    meta: &BTreeMap<String, String>,
    expect: &Value,
    present: &str,
    absent: &str,
    subst: &dyn Fn(&str) -> String,
) {
    if let Some(expected) = expect[present].as_object() {
        for (key, matcher) in expected {
            match meta.get(key) {
                None => check.fail(format!("span meta {key} missing (meta {meta:?})")),
                Some(value) => match_value(
                    check,
                    &format!("span meta {key}"),
                    Some(value),
                    matcher,
                    subst,
                ),
            }
        }
    }
    if let Some(keys) = expect[absent].as_array() {
        for key in keys {
            let key = key.as_str().unwrap();
            if let Some(value) = meta.get(key) {
                check.fail(format!("span meta {key} should be absent, is {value:?}"));
            }
        }
    }
}

fn check_context(
    check: &mut Check<'_>,
    propagator: &Propagator,
    context: &SpanContext,
    style: Option<Style>,
    expect: &Value,
) {
    let expect = expect.as_object().unwrap();
    for (key, expected) in expect {
        match key.as_str() {
            "style" => check.eq("style", style.map(Style::as_str), expected.as_str()),
            "trace_id_128_hex" => check.eq(
                key,
                format!("{:032x}", context.trace_id.as_u128()),
                expected.as_str().unwrap().to_owned(),
            ),
            "trace_id_low_dec" => check.eq(
                key,
                context.trace_id.low().to_string(),
                expected.as_str().unwrap().to_owned(),
            ),
            "parent_id" => check.eq(
                key,
                context.span_id.as_u64().to_string(),
                expected.as_str().unwrap().to_owned(),
            ),
            "sampling_priority" => check.eq(
                key,
                context.sampling_priority.map(|p| i64::from(p.value())),
                expected.as_i64(),
            ),
            "origin" => check.eq(key, context.origin.clone(), opt_str(expected)),
            "dd_tags" => check.eq(
                key,
                tags_map(&context.propagation_tags),
                json_string_map(expected),
            ),
            "propagation_error" => {
                check.eq(key, context.propagation_error.clone(), opt_str(expected));
            }
            "last_parent_id" => check.eq(key, context.last_parent_id.clone(), opt_str(expected)),
            "tracestate_vendors" => check.eq(
                key,
                context.tracestate_vendors.clone(),
                expected
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_owned())
                    .collect(),
            ),
            "span_links" => check.eq(key, links_json(context), expected.clone()),
            other => check.fail(format!("unknown context expectation {other}")),
        }
    }
    let _ = propagator;
}

fn run_config(check: &mut Check<'_>, vector: &Value) {
    let propagator = propagator_for(&env_of(vector));
    let names =
        |styles: &[Style]| -> Value { styles.iter().map(|s| Value::from(s.as_str())).collect() };
    let expect = &vector["expect"];
    if !expect["extract_styles"].is_null() {
        check.eq(
            "extract_styles",
            names(propagator.extract_styles()),
            expect["extract_styles"].clone(),
        );
    }
    if !expect["inject_styles"].is_null() {
        check.eq(
            "inject_styles",
            names(propagator.inject_styles()),
            expect["inject_styles"].clone(),
        );
    }
    if let Some(first) = expect["extract_first"].as_bool() {
        check.eq("extract_first", propagator.config().extract_first, first);
    }
}

fn run_extract(check: &mut Check<'_>, vector: &Value) {
    let env = env_of(vector);
    let propagator = propagator_for(&env);
    let headers = request_headers(vector);
    let extracted = propagator.extract_with_style(&headers);
    // The server layer's one-pass read of a `HeaderMap` extracts the same context.
    let scanned = propagator.extract_header_map(&headers);
    if scanned.as_ref() != extracted.as_ref().map(|(context, _)| context) {
        check.fail(format!(
            "extract_header_map differs from extract: {scanned:?}"
        ));
    }
    let expect = &vector["expect"];
    let (context, style) = match &extracted {
        Some((context, style)) => (Some(context), *style),
        None => (None, None),
    };
    let valid = context.filter(|c| c.trace_id.is_valid());
    match &expect["context"] {
        Value::Null if expect.get("context").is_some() => {
            if let Some(valid) = valid {
                check.fail(format!("expected no trace context, got {valid:?}"));
            }
        }
        Value::Null => {}
        expected => match valid {
            None => check.fail(format!("expected a trace context, got {extracted:?}")),
            Some(context) => check_context(check, &propagator, context, style, expected),
        },
    }
    if let Some(links) = expect.get("span_links") {
        let actual = context.map_or(Value::Array(Vec::new()), links_json);
        check.eq("span_links", actual, links.clone());
    }
    if let Some(baggage) = expect.get("baggage") {
        let actual = context.map(|c| baggage_map(&c.baggage)).unwrap_or_default();
        check.eq("baggage", actual, json_string_map(baggage));
    }
    if expect.get("span_meta").is_some() || expect.get("span_meta_absent").is_some() {
        let span = server_span(context, &env);
        check_meta(
            check,
            &span.meta,
            expect,
            "span_meta",
            "span_meta_absent",
            &|s| s.to_owned(),
        );
    }
    if let Some(absent) = expect["dd_tags_absent"].as_array() {
        for key in absent {
            if context.is_some_and(|c| c.propagation_tags.get(key.as_str().unwrap()).is_some()) {
                check.fail(format!("tag {key} should be absent"));
            }
        }
    }
}

fn hex_to_trace_id(hex: &str) -> TraceId {
    TraceId::from_u128(u128::from_str_radix(hex, 16).unwrap())
}

fn context_from_json(value: &Value) -> SpanContext {
    let mut context = SpanContext::default();
    if let Some(hex) = value["trace_id_128_hex"].as_str() {
        context.trace_id = hex_to_trace_id(hex);
    }
    if let Some(id) = value["span_id"].as_str() {
        context.span_id = SpanId::new(id.parse().unwrap());
    }
    if let Some(priority) = value["sampling_priority"].as_i64() {
        context.sampling_priority = Some(SamplingPriority::new(priority as i32));
    }
    context.origin = opt_str(&value["origin"]);
    if let Some(tags) = value["propagation_tags"].as_object() {
        for (k, v) in tags {
            context
                .propagation_tags
                .insert(k.clone(), v.as_str().unwrap());
        }
    }
    if let Some(vendors) = value["tracestate_vendors"].as_array() {
        context.tracestate_vendors = vendors
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
    }
    if let Some(baggage) = value["baggage"].as_object() {
        for (k, v) in baggage {
            context.baggage.insert(k.clone(), v.as_str().unwrap());
        }
    }
    context
}

fn string_set(value: &Value, subst: &dyn Fn(&str) -> String) -> Vec<String> {
    let mut items: Vec<String> = value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| subst(v.as_str().unwrap()))
        .collect();
    items.sort();
    items
}

/// Splits a tracestate into its `dd=` items and the other members.
fn split_tracestate(value: &str) -> (Option<Vec<String>>, Vec<String>, usize) {
    let members: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .collect();
    let dd = members
        .iter()
        .find(|m| m.starts_with("dd="))
        .map(|m| m[3..].split(';').map(str::to_owned).collect());
    let vendors = members
        .iter()
        .filter(|m| !m.starts_with("dd="))
        .map(|m| (*m).to_owned())
        .collect();
    (dd, vendors, members.len())
}

#[allow(clippy::too_many_lines)]
fn match_value(
    check: &mut Check<'_>,
    what: &str,
    actual: Option<&str>,
    matcher: &Value,
    subst: &dyn Fn(&str) -> String,
) {
    if let Some(exact) = matcher.as_str() {
        check.eq(what, actual.map(str::to_owned), Some(subst(exact)));
        return;
    }
    let matcher = matcher.as_object().unwrap();
    if let Some(absent) = matcher.get("absent").and_then(Value::as_bool) {
        check.eq(&format!("{what} absent"), actual.is_none(), absent);
        return;
    }
    let exclusions_only = matcher
        .keys()
        .all(|k| k.starts_with("tags_exclude") || k.starts_with("ts_dd_items_exclude"));
    let Some(actual) = actual else {
        if !exclusions_only && !matcher.contains_key("not_equals") {
            check.fail(format!("{what} missing (expected {matcher:?})"));
        }
        return;
    };
    let tags: Vec<&str> = actual.split(',').filter(|t| !t.is_empty()).collect();
    let items: Vec<&str> = tags.clone();
    let (dd, vendors, member_count) = split_tracestate(actual);
    let dd_items = dd.clone().unwrap_or_default();
    for (key, expected) in matcher {
        match key.as_str() {
            "equals" => check.eq(what, actual.to_owned(), subst(expected.as_str().unwrap())),
            "not_equals" => {
                if actual == subst(expected.as_str().unwrap()) {
                    check.fail(format!("{what} must not equal {actual}"));
                }
            }
            "regex" => {
                let pattern = subst(expected.as_str().unwrap());
                if !regex::Regex::new(&pattern).unwrap().is_match(actual) {
                    check.fail(format!("{what} {actual:?} does not match {pattern}"));
                }
            }
            "tags_exact" | "items_exact" => {
                let mut sorted: Vec<String> = tags.iter().map(|t| (*t).to_owned()).collect();
                sorted.sort();
                check.eq(what, sorted, string_set(expected, subst));
            }
            "tags_include" | "items_include" => {
                for item in string_set(expected, subst) {
                    if !items.contains(&item.as_str()) {
                        check.fail(format!("{what} {actual:?} lacks {item}"));
                    }
                }
            }
            "tags_exclude" => {
                for item in string_set(expected, subst) {
                    if items.contains(&item.as_str()) {
                        check.fail(format!("{what} {actual:?} contains {item}"));
                    }
                }
            }
            "tags_exclude_keys" => {
                for key in string_set(expected, subst) {
                    if tags
                        .iter()
                        .any(|t| t.split_once('=').is_some_and(|(k, _)| k == key))
                    {
                        check.fail(format!("{what} {actual:?} contains key {key}"));
                    }
                }
            }
            "tags_include_regex" => {
                for pattern in string_set(expected, subst) {
                    let regex = regex::Regex::new(&pattern).unwrap();
                    if !tags.iter().any(|t| regex.is_match(t)) {
                        check.fail(format!("{what} {actual:?} has no tag matching {pattern}"));
                    }
                }
            }
            "max_bytes" => {
                if actual.len() as u64 > expected.as_u64().unwrap() {
                    check.fail(format!("{what} is {} bytes", actual.len()));
                }
            }
            "ts_first_is_dd" => check.eq(
                "tracestate first is dd",
                actual.starts_with("dd="),
                expected.as_bool().unwrap(),
            ),
            "ts_dd_items_include" => {
                for item in string_set(expected, subst) {
                    if !dd_items.contains(&item) {
                        check.fail(format!("{what} {actual:?} dd lacks {item}"));
                    }
                }
            }
            "ts_dd_items_exclude_prefix" => {
                for prefix in string_set(expected, subst) {
                    if dd_items.iter().any(|i| i.starts_with(&prefix)) {
                        check.fail(format!("{what} {actual:?} dd has {prefix}*"));
                    }
                }
            }
            "ts_vendors" => check.eq(
                "tracestate vendors",
                vendors.clone(),
                expected
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| subst(v.as_str().unwrap()))
                    .collect(),
            ),
            "ts_member_count" => check.eq(
                "tracestate members",
                member_count as u64,
                expected.as_u64().unwrap(),
            ),
            "ts_dd_max_len" => {
                let dd_len = actual
                    .split(',')
                    .find(|m| m.starts_with("dd="))
                    .map_or(0, str::len);
                if dd_len as u64 > expected.as_u64().unwrap() {
                    check.fail(format!("dd member is {dd_len} chars"));
                }
            }
            "canonical" => check.eq(
                "canonical tracestate",
                actual.to_owned(),
                subst(expected.as_str().unwrap()),
            ),
            other => check.fail(format!("unknown matcher {other}")),
        }
    }
}

fn check_injected(
    check: &mut Check<'_>,
    headers: &HeaderMap,
    expect: &Value,
    subst: &dyn Fn(&str) -> String,
) {
    let Some(expected) = expect["injected_headers"].as_object() else {
        return;
    };
    for (name, matcher) in expected {
        let actual = headers.get(name.as_str()).map(|v| v.to_str().unwrap());
        match_value(check, &format!("header {name}"), actual, matcher, subst);
    }
}

fn run_inject(check: &mut Check<'_>, vector: &Value) {
    let propagator = propagator_for(&env_of(vector));
    let context = context_from_json(&vector["context"]);
    let mut headers = HeaderMap::new();
    propagator.inject(&context, &mut headers);
    // An inject vector's `propagation_error` (the tag ddtrace puts on its local root span) has
    // no counterpart here: the headers show what was dropped.
    check_injected(check, &headers, &vector["expect"], &|s| s.to_owned());
}

fn run_propagate(check: &mut Check<'_>, vector: &Value) {
    let env = env_of(vector);
    let propagator = propagator_for(&env);
    let headers = request_headers(vector);
    let extracted = propagator.extract(&headers);
    let span = server_span(extracted.as_ref(), &env);
    let mut injected = HeaderMap::new();
    propagator.inject(&span.context, &mut injected);
    let span_dec = span.span_id.as_u64().to_string();
    let span_hex = format!("{:016x}", span.span_id.as_u64());
    let subst = move |text: &str| {
        text.replace("{span_id_dec}", &span_dec)
            .replace("{span_id_hex}", &span_hex)
    };
    let expect = &vector["expect"];
    if let Some(new_trace) = expect["new_trace"].as_bool() {
        check.eq("new trace", !span.continued, new_trace);
    }
    if let Some(expected) = expect.get("span") {
        if let Some(low) = expected["trace_id_low_dec"].as_str() {
            check.eq(
                "span trace id",
                span.trace_id.low().to_string(),
                low.to_owned(),
            );
        }
        if let Some(parent) = expected["parent_id"].as_str() {
            check.eq(
                "span parent id",
                span.parent_id.as_u64().to_string(),
                parent.to_owned(),
            );
        }
        if let Some(priority) = expected["sampling_priority"].as_i64() {
            check.eq("span priority", i64::from(span.priority.value()), priority);
        }
        check_meta(check, &span.meta, expected, "meta", "meta_absent", &subst);
    }
    check_injected(check, &injected, expect, &subst);
}

#[test]
fn every_vector_passes() {
    let vectors: Vec<Value> = serde_json::from_str(VECTORS).unwrap();
    let mut failures = Vec::new();
    let mut ran: BTreeMap<String, usize> = BTreeMap::new();
    for vector in &vectors {
        let name = vector["name"].as_str().unwrap();
        let kind = vector["kind"].as_str().unwrap();
        let mut check = Check {
            name,
            failures: Vec::new(),
        };
        match kind {
            "config" => run_config(&mut check, vector),
            "extract" => run_extract(&mut check, vector),
            "inject" => run_inject(&mut check, vector),
            "propagate" => run_propagate(&mut check, vector),
            other => check.fail(format!("unknown kind {other}")),
        }
        *ran.entry(kind.to_owned()).or_default() += 1;
        failures.extend(check.failures);
    }
    let total: usize = ran.values().sum();
    println!("ran {total} propagation vectors: {ran:?}");
    assert_eq!(total, vectors.len());
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
