//! Injection for clients that are not tower services.

use std::sync::OnceLock;

use http::HeaderMap;

use crate::propagation::Propagator;

/// Writes the current trace context into `headers` with the environment's inject styles
/// (`DD_TRACE_PROPAGATION_STYLE_INJECT`, read once per process).
///
/// The current context is that of `tracing::Span::current()`, or the remote parent of a
/// request whose span was filtered out; with neither, nothing is written.
///
/// ```
/// use http::HeaderMap;
///
/// let mut headers = HeaderMap::new();
/// datadog_tower::inject_current(&mut headers);
/// // No tracer and no span here: nothing to send on.
/// assert!(headers.is_empty());
/// ```
pub fn inject_current(headers: &mut HeaderMap) {
    static PROPAGATOR: OnceLock<Propagator> = OnceLock::new();
    inject_current_with(PROPAGATOR.get_or_init(Propagator::from_env), headers);
}

/// Like [`inject_current`], with an explicit propagator.
pub fn inject_current_with(propagator: &Propagator, headers: &mut HeaderMap) {
    if let Some(context) = datadog_subscriber::current_context()
        && context.is_valid()
    {
        propagator.inject_header_map(&context, headers);
    }
}
