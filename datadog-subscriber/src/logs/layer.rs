//! The `tracing_subscriber::Layer` that writes one Datadog-shaped JSON line per event.

use std::cell::{OnceCell, RefCell};
use std::io::Write;
use std::sync::Arc;

use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Level, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use super::config::LogConfig;
use super::fields::FieldWriter;
use super::gcp_project::GcpProject;
use super::json;
use super::log_records;
use super::timestamp;
use crate::correlation::{self, CorrelationIds};

/// Writes each `tracing` event as one JSON object on one line, with the attributes Datadog and
/// Google Cloud Logging read (`timestamp`, `status`, `severity`, `message`, `logger.name`,
/// `logger.thread_name`), the event's fields, the fields of the spans in scope (but their
/// Datadog metadata: `span.kind`, `span.type`, `component`, `_dd.*`), and the trace
/// correlation fields (`dd.trace_id`, `dd.span_id`, `dd.service`, `dd.env`, `dd.version`, and the
/// `logging.googleapis.com/*` fields when a Google Cloud project is set).
///
/// The correlation ids come from the innermost span in scope that the tracer layer tracks, else
/// from the remote parent the work runs in ([`crate::tracer::with_remote_parent`]); a line outside
/// any trace has no ids.
///
/// ```
/// use datadog_subscriber::logs::LogConfig;
/// use tracing_subscriber::prelude::*;
///
/// let (layer, guard) = LogConfig::from_env().service("checkout").build();
/// let subscriber = tracing_subscriber::registry().with(layer);
/// tracing::subscriber::with_default(subscriber, || {
///     tracing::info!(user = 42, "signed in");
/// });
/// drop(guard); // flushes
/// ```
pub struct JsonLogLayer<W = super::writer::NonBlocking> {
    make_writer: W,
    limit: usize,
    span_fields: bool,
    injection: bool,
    trace_id_128: bool,
    /// `,"dd.service":"..","dd.env":"..","dd.version":".."`, pre-escaped (configured ones only).
    service_fields: Box<[u8]>,
    /// The Google Cloud project (known, or being asked of the metadata server).
    gcp_project: Option<Arc<GcpProject>>,
}

impl<W> std::fmt::Debug for JsonLogLayer<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonLogLayer")
            .field("span_fields", &self.span_fields)
            .field("injection", &self.injection)
            .field("trace_id_128", &self.trace_id_128)
            .field("gcp_project", &self.gcp_project)
            .finish_non_exhaustive()
    }
}

impl JsonLogLayer {
    /// A layer configured from the environment, writing through a background thread; the guard
    /// flushes on drop.
    pub fn from_env() -> (JsonLogLayer, super::writer::LogGuard) {
        LogConfig::from_env().build()
    }
}

impl<W> JsonLogLayer<W> {
    pub(crate) fn new(config: &LogConfig, make_writer: W) -> Self {
        let mut service_fields = Vec::new();
        for (key, value) in [
            ("dd.service", &config.service),
            ("dd.env", &config.env),
            ("dd.version", &config.version),
        ] {
            if let Some(value) = value {
                json::key(&mut service_fields, key, true);
                json::string(&mut service_fields, value, config.max_value_bytes);
            }
        }
        let gcp_project = match (&config.gcp_project, &config.metadata_server) {
            (Some(project), _) => Some(GcpProject::known(project)),
            (None, Some(host)) => Some(GcpProject::from_metadata_server(host.clone())),
            (None, None) => None,
        };
        JsonLogLayer {
            make_writer,
            limit: config.max_value_bytes,
            span_fields: config.span_fields,
            injection: config.injection,
            trace_id_128: config.trace_id_128_logging,
            service_fields: service_fields.into_boxed_slice(),
            gcp_project,
        }
    }

    /// Appends the whole line for `event` (newline included) to `out`.
    fn format<S>(&self, out: &mut Vec<u8>, event: &Event<'_>, ctx: &Context<'_, S>)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        out.extend_from_slice(b"{\"timestamp\":");
        timestamp::now(out);
        let log_record = log_records::record_metadata(event);
        let metadata = log_record.as_ref().unwrap_or_else(|| event.metadata());
        out.extend_from_slice(level_fields(*metadata.level()));
        json::string(out, metadata.target(), self.limit);
        write_thread_name(out);

        let mut ids = None;
        if let Some(span) = ctx.event_span(event) {
            if self.span_fields {
                ids = write_scope_fields(out, &span, 0);
            } else if self.injection || self.gcp_project.is_some() {
                ids = span
                    .scope()
                    .find_map(|span| correlation::span_ids(&span.extensions()));
            }
        }

        let mut fields = if log_record.is_some() {
            FieldWriter::log_record(out, self.limit)
        } else {
            FieldWriter::event(out, self.limit)
        };
        event.record(&mut fields);

        if ids.is_none() && (self.injection || self.gcp_project.is_some()) {
            ids = crate::tracer::remote_parent().map(|context| CorrelationIds::of(&context));
        }
        let ids = ids.filter(|ids| ids.trace_id.is_valid());
        if self.injection {
            if let Some(ids) = ids {
                json::key(out, "dd.trace_id", true);
                out.push(b'"');
                if self.trace_id_128 && ids.trace_id.high() != 0 {
                    hex(out, ids.trace_id.as_u128(), 32);
                } else {
                    json::integer(out, ids.trace_id.low());
                }
                out.extend_from_slice(b"\",\"dd.span_id\":\"");
                json::integer(out, ids.span_id.as_u64());
                out.push(b'"');
            }
            out.extend_from_slice(&self.service_fields);
        }
        let prefix = self.gcp_project.as_deref().and_then(GcpProject::prefix);
        if let (Some(prefix), Some(ids)) = (prefix, ids) {
            // Google's trace of the request when it came through Google's frontend, so the
            // lines group with the platform's request log; else the Datadog trace.
            let (trace_id, sampled) = match ids.cloud_trace {
                Some(cloud) => (cloud.trace_id, cloud.sampled),
                None => (ids.trace_id, ids.sampled),
            };
            out.extend_from_slice(prefix);
            hex(out, trace_id.as_u128(), 32);
            out.extend_from_slice(b"\",\"logging.googleapis.com/spanId\":\"");
            hex(out, u128::from(ids.span_id.as_u64()), 16);
            out.extend_from_slice(b"\",\"logging.googleapis.com/trace_sampled\":");
            json::boolean(out, sampled);
        }
        out.extend_from_slice(b"}\n");
    }
}

/// Spans deeper than this in a line's scope are walked through `tracing-subscriber`'s list of
/// the scope rather than by recursion.
const MAX_RECURSIVE_SCOPE: usize = 32;

/// Appends the formatted fields of `span`'s ancestors, root first, then its own (in a JSON
/// reader the innermost span's value of a field wins), and returns the correlation ids of the
/// innermost span the tracer tracks.
///
/// The walk recurses up the scope: `Scope::from_root` first collects the scope in a list, which
/// took a quarter of a line's time when, as most often, the scope is one request span.
fn write_scope_fields<'a, R: LookupSpan<'a>>(
    out: &mut Vec<u8>,
    span: &SpanRef<'a, R>,
    depth: usize,
) -> Option<CorrelationIds> {
    let mut ids = None;
    if depth < MAX_RECURSIVE_SCOPE {
        if let Some(parent) = span.parent() {
            ids = write_scope_fields(out, &parent, depth + 1);
        }
    } else if let Some(parent) = span.parent() {
        for ancestor in parent.scope().from_root() {
            ids = write_span_fields(out, &ancestor).or(ids);
        }
    }
    write_span_fields(out, span).or(ids)
}

/// Appends the formatted fields of `span`; its correlation ids, if the tracer tracks it.
fn write_span_fields<'a, R: LookupSpan<'a>>(
    out: &mut Vec<u8>,
    span: &SpanRef<'a, R>,
) -> Option<CorrelationIds> {
    let extensions = span.extensions();
    if let Some(fields) = extensions.get::<SpanFields>() {
        out.extend_from_slice(&fields.0);
    }
    correlation::span_ids(&extensions)
}

/// The formatted fields of a span (`,"key":value` pairs), kept in its extensions so that each
/// line inside it copies bytes instead of formatting the fields again.
struct SpanFields(Vec<u8>);

impl<S, W> Layer<S> for JsonLogLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if !self.span_fields {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        // Room for the usual short values up front: growing from empty reallocates several times.
        let mut fields = Vec::with_capacity(attrs.metadata().fields().len() * 24);
        attrs.record(&mut FieldWriter::span(&mut fields, self.limit));
        // A span with nothing to repeat on its lines needs no record (`on_record` makes one if
        // a field comes later).
        if fields.is_empty() {
            return;
        }
        // `replace`, not `insert`: a second log layer in the same subscriber must not panic.
        span.extensions_mut().replace(SpanFields(fields));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if !self.span_fields {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        if let Some(fields) = extensions.get_mut::<SpanFields>() {
            values.record(&mut FieldWriter::span(&mut fields.0, self.limit));
        } else {
            let mut fields = Vec::new();
            values.record(&mut FieldWriter::span(&mut fields, self.limit));
            if !fields.is_empty() {
                extensions.replace(SpanFields(fields));
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        thread_local! {
            static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
        }
        let write = |line: &mut Vec<u8>| {
            line.clear();
            self.format(line, event, &ctx);
            // One write per line; the writer decides what a failure means (the non-blocking one
            // counts it), the application never sees it.
            let _ = self
                .make_writer
                .make_writer_for(event.metadata())
                .write_all(line);
        };
        let reused = BUFFER.try_with(|buffer| {
            // A field's `Debug` that logs makes this re-entrant: then use a fresh buffer.
            let Ok(mut line) = buffer.try_borrow_mut() else {
                return false;
            };
            write(&mut line);
            // Do not keep a huge buffer around after one huge line.
            if line.capacity() > 64 * 1024 {
                *line = Vec::new();
            }
            true
        });
        if reused != Ok(true) {
            write(&mut Vec::new());
        }
    }
}

/// `,"status":..,"severity":..,"logger.name":` for a level: Datadog's status and Google's
/// severity names, and the key of the value that follows (one copy per line).
fn level_fields(level: Level) -> &'static [u8] {
    match level {
        Level::ERROR => b",\"status\":\"error\",\"severity\":\"ERROR\",\"logger.name\":",
        Level::WARN => b",\"status\":\"warn\",\"severity\":\"WARNING\",\"logger.name\":",
        Level::INFO => b",\"status\":\"info\",\"severity\":\"INFO\",\"logger.name\":",
        // Cloud Logging has no level below DEBUG; Datadog reads `trace` as debug too.
        Level::DEBUG | Level::TRACE => {
            b",\"status\":\"debug\",\"severity\":\"DEBUG\",\"logger.name\":"
        }
    }
}

/// `,"logger.thread_name":".."`, formatted once per thread.
fn write_thread_name(out: &mut Vec<u8>) {
    thread_local! {
        static FRAGMENT: OnceCell<Box<[u8]>> = const { OnceCell::new() };
    }
    let fragment = || {
        let thread = std::thread::current();
        let mut fragment = Vec::new();
        json::key(&mut fragment, "logger.thread_name", true);
        match thread.name() {
            Some(name) => json::string(&mut fragment, name, usize::MAX),
            None => json::formatted(&mut fragment, format_args!("{:?}", thread.id()), usize::MAX),
        }
        fragment.into_boxed_slice()
    };
    let written = FRAGMENT.try_with(|cell| out.extend_from_slice(cell.get_or_init(fragment)));
    if written.is_err() {
        out.extend_from_slice(&fragment());
    }
}

/// Appends the low `digits` (at most 32) hex digits of `value`, lower-case, zero-padded.
fn hex(out: &mut Vec<u8>, value: u128, digits: usize) {
    // A digit at a time: `write!` with a width took a tenth of a correlated line.
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = [0u8; 32];
    for (index, digit) in text.iter_mut().rev().enumerate() {
        *digit = DIGITS[(value >> (4 * index)) as usize & 0xf];
    }
    out.extend_from_slice(&text[32 - digits.min(32)..]);
}

#[cfg(test)]
mod tests {
    use super::hex;

    #[test]
    fn hex_pads_and_keeps_the_low_digits() {
        let mut out = Vec::new();
        hex(&mut out, 0xab, 16);
        assert_eq!(out, b"00000000000000ab");
        out.clear();
        hex(&mut out, u128::MAX - 1, 32);
        assert_eq!(out, b"fffffffffffffffffffffffffffffffe");
        out.clear();
        hex(&mut out, 0x1234_5678_9abc_def0_1122_3344_5566_7788, 32);
        assert_eq!(out, b"123456789abcdef01122334455667788");
    }
}
