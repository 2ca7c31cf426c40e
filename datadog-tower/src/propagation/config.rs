//! Propagation settings: the `DD_TRACE_PROPAGATION_*` / `OTEL_PROPAGATORS` / baggage environment
//! variables, resolved with the precedence of the specification, and their code equivalents.

use std::fmt;

/// One header format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Style {
    /// `x-datadog-trace-id`, `x-datadog-parent-id`, `x-datadog-sampling-priority`,
    /// `x-datadog-origin`, `x-datadog-tags`.
    Datadog,
    /// W3C Trace Context: `traceparent` and `tracestate` (with the `dd=` member).
    TraceContext,
    /// B3 multiple headers: `x-b3-traceid`, `x-b3-spanid`, `x-b3-sampled`, `x-b3-flags`.
    B3Multi,
    /// B3 single header: `b3`.
    B3,
    /// W3C baggage: `baggage`.
    Baggage,
}

impl Style {
    /// The canonical name (`datadog`, `tracecontext`, `b3multi`, `b3`, `baggage`), also the value of
    /// the `context_headers` span-link attribute.
    pub const fn as_str(self) -> &'static str {
        match self {
            Style::Datadog => "datadog",
            Style::TraceContext => "tracecontext",
            Style::B3Multi => "b3multi",
            Style::B3 => "b3",
            Style::Baggage => "baggage",
        }
    }

    /// Parses one name, case-insensitively (`b3 single header` is accepted as `b3`).
    pub fn from_name(name: &str) -> Option<Style> {
        let name = name.trim_matches([' ', '\t']);
        [
            ("datadog", Style::Datadog),
            ("tracecontext", Style::TraceContext),
            ("b3multi", Style::B3Multi),
            ("b3", Style::B3),
            ("b3 single header", Style::B3),
            ("baggage", Style::Baggage),
        ]
        .into_iter()
        .find(|(known, _)| name.eq_ignore_ascii_case(known))
        .map(|(_, style)| style)
    }
}

impl fmt::Display for Style {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The built-in style list, for both directions.
pub const DEFAULT_STYLES: [Style; 3] = [Style::Datadog, Style::TraceContext, Style::Baggage];

/// What to do with an incoming trace context (`DD_TRACE_PROPAGATION_BEHAVIOR_EXTRACT`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExtractBehavior {
    /// Continue the incoming trace (default).
    #[default]
    Continue,
    /// Start a new trace linked to the incoming one; keep baggage.
    Restart,
    /// Ignore incoming headers entirely, baggage included.
    Ignore,
}

impl ExtractBehavior {
    fn from_name(name: &str) -> Option<Self> {
        let name = name.trim();
        if name.eq_ignore_ascii_case("continue") {
            Some(ExtractBehavior::Continue)
        } else if name.eq_ignore_ascii_case("restart") {
            Some(ExtractBehavior::Restart)
        } else if name.eq_ignore_ascii_case("ignore") {
            Some(ExtractBehavior::Ignore)
        } else {
            None
        }
    }
}

/// Resolved propagation settings.
///
/// ```
/// use datadog_tower::propagation::{PropagationConfig, Propagator, Style};
///
/// let mut config = PropagationConfig::from_lookup(|_| None);
/// config.inject_styles = vec![Style::TraceContext];
/// let propagator = Propagator::with_config(config);
/// assert_eq!(propagator.inject_styles(), [Style::TraceContext]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PropagationConfig {
    /// Styles read from incoming headers, in order (may contain [`Style::Baggage`]).
    pub extract_styles: Vec<Style>,
    /// Styles written to outgoing headers.
    pub inject_styles: Vec<Style>,
    /// Stop extraction at the first style that yields a context.
    pub extract_first: bool,
    /// What to do with an incoming context.
    pub extract_behavior: ExtractBehavior,
    /// What to do with a W3C context no Datadog tracer wrote (no `dd=` member in `tracestate`)
    /// that came without Datadog headers, such as the `traceparent` Google's frontend adds to
    /// every Cloud Run request. Applies when [`extract_behavior`](Self::extract_behavior) is
    /// `Continue`: `Restart` starts a new trace, linked to that context, that the local sampler
    /// decides; `Ignore` starts one without the link. Baggage is kept either way.
    pub foreign_tracecontext: ExtractBehavior,
    /// Maximum length of `x-datadog-tags`, both directions; `0` disables tag propagation.
    pub tags_max_length: usize,
    /// Maximum number of baggage items, both directions.
    pub baggage_max_items: usize,
    /// Maximum size of the `baggage` header in bytes, both directions.
    pub baggage_max_bytes: usize,
}

impl Default for PropagationConfig {
    fn default() -> Self {
        PropagationConfig {
            extract_styles: DEFAULT_STYLES.to_vec(),
            inject_styles: DEFAULT_STYLES.to_vec(),
            extract_first: false,
            extract_behavior: ExtractBehavior::Continue,
            foreign_tracecontext: ExtractBehavior::Continue,
            tags_max_length: DEFAULT_TAGS_MAX_LENGTH,
            baggage_max_items: DEFAULT_BAGGAGE_MAX_ITEMS,
            baggage_max_bytes: DEFAULT_BAGGAGE_MAX_BYTES,
        }
    }
}

impl PropagationConfig {
    /// Reads the `DD_TRACE_PROPAGATION_*`, `OTEL_PROPAGATORS` and `DD_TRACE_BAGGAGE_*`
    /// variables; bad values warn and fall back.
    pub fn from_env() -> Self {
        PropagatorBuilder::from_env().config()
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String> + 'static) -> Self {
        PropagatorBuilder::from_lookup(lookup).config()
    }
}

const DEFAULT_TAGS_MAX_LENGTH: usize = 512;
const DEFAULT_BAGGAGE_MAX_ITEMS: usize = 64;
const DEFAULT_BAGGAGE_MAX_BYTES: usize = 8192;

/// How a style list value parsed.
enum StyleList {
    /// Explicitly `none`: propagation disabled in that direction.
    Disabled,
    /// At least one known style.
    Styles(Vec<Style>),
    /// Nothing recognised.
    Unrecognised,
}

fn parse_style_list(variable: &str, value: &str, otel: bool) -> StyleList {
    let mut styles = Vec::new();
    let mut saw_none = false;
    let mut unknown = Vec::new();
    for name in value.split(',') {
        let name = name.trim_matches([' ', '\t']);
        if name.is_empty() {
            continue;
        }
        if name.eq_ignore_ascii_case("none") {
            saw_none = true;
            continue;
        }
        // OpenTelemetry spells the single-header B3 style `b3` and has no `b3 single header`.
        let style = if otel && name.eq_ignore_ascii_case("b3 single header") {
            None
        } else {
            Style::from_name(name)
        };
        match style {
            Some(style) if !styles.contains(&style) => styles.push(style),
            Some(_) => {}
            None => unknown.push(name),
        }
    }
    if !unknown.is_empty() {
        let fallback = if !styles.is_empty() {
            styles
                .iter()
                .map(|style| style.as_str())
                .collect::<Vec<_>>()
                .join(",")
        } else if saw_none {
            "none".to_owned()
        } else if otel {
            "the default styles".to_owned()
        } else {
            "datadog,tracecontext,baggage".to_owned()
        };
        datadog_env::warn_invalid(
            variable,
            value,
            &format!(
                "names unknown styles {unknown:?} (known: datadog, tracecontext, b3multi, b3, baggage, none)"
            ),
            &fallback,
        );
    }
    if !styles.is_empty() {
        StyleList::Styles(styles)
    } else if saw_none {
        StyleList::Disabled
    } else {
        StyleList::Unrecognised
    }
}

/// Reads settings through `lookup`, treating an empty value as unset.
struct Env<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl Env<'_> {
    fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|value| !value.trim().is_empty())
    }

    fn styles(&self, specific: &str) -> Vec<Style> {
        for (variable, otel) in [
            (specific, false),
            ("DD_TRACE_PROPAGATION_STYLE", false),
            ("OTEL_PROPAGATORS", true),
        ] {
            let Some(value) = self.get(variable) else {
                continue;
            };
            match parse_style_list(variable, &value, otel) {
                StyleList::Disabled => return Vec::new(),
                StyleList::Styles(styles) => return styles,
                StyleList::Unrecognised if otel => {}
                StyleList::Unrecognised => return DEFAULT_STYLES.to_vec(),
            }
        }
        DEFAULT_STYLES.to_vec()
    }

    fn env(&self) -> datadog_env::Env<'_> {
        datadog_env::Env::new(self.lookup)
    }

    fn boolean(&self, name: &str, default: bool) -> bool {
        self.env().flag(name, default)
    }

    fn count(&self, name: &str, default: usize) -> usize {
        self.env()
            .parse(
                name,
                |_: &usize| true,
                "a non-negative integer",
                &default.to_string(),
            )
            .unwrap_or(default)
    }

    fn behavior(&self, name: &str, default: ExtractBehavior) -> ExtractBehavior {
        let Some(value) = self.get(name) else {
            return default;
        };
        ExtractBehavior::from_name(&value).unwrap_or_else(|| {
            datadog_env::warn_invalid(
                name,
                &value,
                "is not continue, restart or ignore",
                &format!("{default:?}").to_ascii_lowercase(),
            );
            default
        })
    }

    /// On Cloud Run (`K_SERVICE` set) every request carries Google's `traceparent`, unsampled for
    /// all but about 0.1 request/s: left to decide, it would drop nearly every trace.
    fn foreign_tracecontext(&self) -> ExtractBehavior {
        let default = if self.get("K_SERVICE").is_some() {
            ExtractBehavior::Restart
        } else {
            ExtractBehavior::Continue
        };
        self.behavior("DD_TRACE_PROPAGATION_FOREIGN_TRACECONTEXT", default)
    }
}

/// Builds a [`Propagator`](super::Propagator): settings made in code win over the environment,
/// which wins over the defaults.
///
/// ```
/// use datadog_tower::propagation::{ExtractBehavior, PropagatorBuilder, Style};
///
/// let propagator = PropagatorBuilder::from_lookup(|_| None) // ignore the process environment
///     .extract_styles([Style::TraceContext, Style::Datadog])
///     .inject_styles([Style::TraceContext])
///     .extract_behavior(ExtractBehavior::Continue)
///     .build();
/// assert_eq!(propagator.inject_styles(), [Style::TraceContext]);
/// ```
#[must_use]
pub struct PropagatorBuilder {
    extract_styles: Option<Vec<Style>>,
    inject_styles: Option<Vec<Style>>,
    extract_first: Option<bool>,
    extract_behavior: Option<ExtractBehavior>,
    foreign_tracecontext: Option<ExtractBehavior>,
    tags_max_length: Option<usize>,
    baggage_max_items: Option<usize>,
    baggage_max_bytes: Option<usize>,
    env: EnvLookup,
}

/// Where the builder reads environment variables from.
type EnvLookup = Box<dyn Fn(&str) -> Option<String>>;

/// The same as [`PropagatorBuilder::from_env`].
impl Default for PropagatorBuilder {
    fn default() -> Self {
        PropagatorBuilder::from_env()
    }
}

impl PropagatorBuilder {
    /// A builder that reads what code does not set from the process environment; the same as
    /// [`Propagator::builder`](super::Propagator::builder).
    pub fn from_env() -> Self {
        PropagatorBuilder::from_lookup(|name| std::env::var(name).ok())
    }

    /// A builder that reads what code does not set through `lookup` instead of the process
    /// environment (tests, or settings kept elsewhere).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String> + 'static) -> Self {
        PropagatorBuilder {
            extract_styles: None,
            inject_styles: None,
            extract_first: None,
            extract_behavior: None,
            foreign_tracecontext: None,
            tags_max_length: None,
            baggage_max_items: None,
            baggage_max_bytes: None,
            env: Box::new(lookup),
        }
    }
}

fn dedup(styles: impl IntoIterator<Item = Style>) -> Vec<Style> {
    let mut list = Vec::new();
    for style in styles {
        if !list.contains(&style) {
            list.push(style);
        }
    }
    list
}

impl PropagatorBuilder {
    /// Styles for both directions (an empty list disables propagation).
    pub fn styles(self, styles: impl IntoIterator<Item = Style>) -> Self {
        let styles = dedup(styles);
        self.extract_styles(styles.clone()).inject_styles(styles)
    }

    /// Styles read from incoming headers, in order.
    pub fn extract_styles(mut self, styles: impl IntoIterator<Item = Style>) -> Self {
        self.extract_styles = Some(dedup(styles));
        self
    }

    /// Styles written to outgoing headers.
    pub fn inject_styles(mut self, styles: impl IntoIterator<Item = Style>) -> Self {
        self.inject_styles = Some(dedup(styles));
        self
    }

    /// Stop extraction at the first style that yields a context.
    pub fn extract_first(mut self, extract_first: bool) -> Self {
        self.extract_first = Some(extract_first);
        self
    }

    /// Continue, restart or ignore incoming traces.
    pub fn extract_behavior(mut self, behavior: ExtractBehavior) -> Self {
        self.extract_behavior = Some(behavior);
        self
    }

    /// What to do with a W3C context no Datadog tracer wrote, arriving without Datadog headers
    /// (see [`PropagationConfig::foreign_tracecontext`]); otherwise
    /// `DD_TRACE_PROPAGATION_FOREIGN_TRACECONTEXT`, whose default is `restart` on Cloud Run
    /// (`K_SERVICE` set) and `continue` elsewhere.
    pub fn foreign_tracecontext(mut self, behavior: ExtractBehavior) -> Self {
        self.foreign_tracecontext = Some(behavior);
        self
    }

    /// Maximum `x-datadog-tags` length (`0` disables tag propagation).
    pub fn tags_max_length(mut self, max: usize) -> Self {
        self.tags_max_length = Some(max);
        self
    }

    /// Maximum number of baggage items.
    pub fn baggage_max_items(mut self, max: usize) -> Self {
        self.baggage_max_items = Some(max);
        self
    }

    /// Maximum `baggage` header size in bytes.
    pub fn baggage_max_bytes(mut self, max: usize) -> Self {
        self.baggage_max_bytes = Some(max);
        self
    }

    /// The resolved settings.
    pub fn config(self) -> PropagationConfig {
        let env = Env { lookup: &*self.env };
        PropagationConfig {
            extract_styles: self
                .extract_styles
                .unwrap_or_else(|| env.styles("DD_TRACE_PROPAGATION_STYLE_EXTRACT")),
            inject_styles: self
                .inject_styles
                .unwrap_or_else(|| env.styles("DD_TRACE_PROPAGATION_STYLE_INJECT")),
            extract_first: self
                .extract_first
                .unwrap_or_else(|| env.boolean("DD_TRACE_PROPAGATION_EXTRACT_FIRST", false)),
            extract_behavior: self.extract_behavior.unwrap_or_else(|| {
                env.behavior(
                    "DD_TRACE_PROPAGATION_BEHAVIOR_EXTRACT",
                    ExtractBehavior::Continue,
                )
            }),
            foreign_tracecontext: self
                .foreign_tracecontext
                .unwrap_or_else(|| env.foreign_tracecontext()),
            tags_max_length: self.tags_max_length.unwrap_or_else(|| {
                env.count(
                    "DD_TRACE_X_DATADOG_TAGS_MAX_LENGTH",
                    DEFAULT_TAGS_MAX_LENGTH,
                )
            }),
            baggage_max_items: self.baggage_max_items.unwrap_or_else(|| {
                env.count("DD_TRACE_BAGGAGE_MAX_ITEMS", DEFAULT_BAGGAGE_MAX_ITEMS)
            }),
            baggage_max_bytes: self.baggage_max_bytes.unwrap_or_else(|| {
                env.count("DD_TRACE_BAGGAGE_MAX_BYTES", DEFAULT_BAGGAGE_MAX_BYTES)
            }),
        }
    }

    /// The propagator.
    pub fn build(self) -> super::Propagator {
        super::Propagator::with_config(self.config())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> PropagationConfig {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        PropagatorBuilder::from_lookup(move |name| vars.get(name).cloned()).config()
    }

    #[test]
    fn otel_applies_per_direction() {
        let config = config(&[
            ("DD_TRACE_PROPAGATION_STYLE_EXTRACT", "datadog"),
            ("OTEL_PROPAGATORS", "tracecontext,jaeger"),
        ]);
        assert_eq!(config.extract_styles, [Style::Datadog]);
        assert_eq!(config.inject_styles, [Style::TraceContext]);
    }

    #[test]
    fn empty_values_are_unset_and_invalid_otel_is_ignored() {
        let config = config(&[
            ("DD_TRACE_PROPAGATION_STYLE_INJECT", ""),
            ("DD_TRACE_PROPAGATION_STYLE", "b3multi,B3MULTI"),
            ("OTEL_PROPAGATORS", "xray"),
        ]);
        assert_eq!(config.inject_styles, [Style::B3Multi]);
        let config = self::config(&[("OTEL_PROPAGATORS", "xray")]);
        assert_eq!(config.inject_styles, DEFAULT_STYLES);
    }

    #[test]
    fn bad_scalars_fall_back() {
        let config = config(&[
            ("DD_TRACE_PROPAGATION_EXTRACT_FIRST", "TRUE"),
            ("DD_TRACE_PROPAGATION_BEHAVIOR_EXTRACT", "sometimes"),
            ("DD_TRACE_X_DATADOG_TAGS_MAX_LENGTH", "-3"),
            ("DD_TRACE_BAGGAGE_MAX_ITEMS", "2"),
        ]);
        assert!(config.extract_first);
        assert_eq!(config.extract_behavior, ExtractBehavior::Continue);
        assert_eq!(config.tags_max_length, 512);
        assert_eq!(config.baggage_max_items, 2);
    }

    #[test]
    fn foreign_tracecontext_restarts_on_cloud_run_and_continues_elsewhere() {
        assert_eq!(config(&[]).foreign_tracecontext, ExtractBehavior::Continue);
        let cloud_run = [("K_SERVICE", "web")];
        assert_eq!(
            config(&cloud_run).foreign_tracecontext,
            ExtractBehavior::Restart
        );
        let switched = [
            ("K_SERVICE", "web"),
            ("DD_TRACE_PROPAGATION_FOREIGN_TRACECONTEXT", "Continue"),
        ];
        assert_eq!(
            config(&switched).foreign_tracecontext,
            ExtractBehavior::Continue
        );
        let elsewhere = [("DD_TRACE_PROPAGATION_FOREIGN_TRACECONTEXT", "ignore")];
        assert_eq!(
            config(&elsewhere).foreign_tracecontext,
            ExtractBehavior::Ignore
        );
        // A bad value keeps the platform's default.
        let bad = [
            ("K_SERVICE", "web"),
            ("DD_TRACE_PROPAGATION_FOREIGN_TRACECONTEXT", "maybe"),
        ];
        assert_eq!(config(&bad).foreign_tracecontext, ExtractBehavior::Restart);
        assert_eq!(
            PropagationConfig::default().foreign_tracecontext,
            ExtractBehavior::Continue
        );
    }

    #[test]
    fn code_wins_over_env() {
        let config = PropagatorBuilder::from_lookup(|name| {
            (name == "DD_TRACE_PROPAGATION_STYLE").then(|| "b3".to_owned())
        })
        .extract_styles([Style::Datadog, Style::Datadog])
        .config();
        assert_eq!(config.extract_styles, [Style::Datadog]);
        assert_eq!(config.inject_styles, [Style::B3]);
    }
}
