//! Logging: `tracing` events written to stderr in syslog style
//! (`<4> WARNING: message`), or to the journal when stderr is the journal
//! (`JOURNAL_STREAM`).
//!
//! API messages (target `afb_api`, fields `api` and `syslog`, see
//! `afb_core::log`) were already filtered by their API's level: they always
//! pass and are printed with `[api]`; so do the trace records (target
//! `afb_trace`, printed at the notice level). Other events pass when their level is
//! within the binder's level, the registry's once it exists. Whether a
//! callsite passes is decided once and cached by `tracing` (a disabled
//! callsite, such as Zenoh's or tokio's trace spans, then costs a load and
//! a branch); `monitor/set` changes the level at run time and calls
//! `levels_changed`, which makes `tracing` ask again.

use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use afb_core::log::BadLevel;
use afb_core::{LogLevel, Registry};
use tracing::field::{Field, Visit};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Filter, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// The binder's level as the log filter reads it.
#[derive(Debug)]
pub(crate) struct LevelSource {
    initial: AtomicU8,
    registry: OnceLock<Weak<Registry>>,
}

impl LevelSource {
    fn new(level: LogLevel) -> Arc<Self> {
        Arc::new(LevelSource {
            initial: AtomicU8::new(level.syslog()),
            registry: OnceLock::new(),
        })
    }

    /// From now on, the level is the registry's.
    pub fn attach(&self, registry: &Arc<Registry>) {
        let _ = self.registry.set(Arc::downgrade(registry));
        levels_changed();
    }

    /// The current level.
    pub fn get(&self) -> LogLevel {
        match self.registry.get().and_then(Weak::upgrade) {
            Some(r) => r.log_level(),
            None => LogLevel::from_syslog(self.initial.load(Ordering::Relaxed)),
        }
    }
}

/// The syslog level of a `tracing` level.
pub(crate) fn syslog_of(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

/// Target of the trace records of the `--trace*` options: they always pass
/// (the options chose them) and are printed at the notice level.
pub const TRACE_TARGET: &str = "afb_trace";

/// Whether an event passes: API events and trace records always (their API filtered them),
/// others within the binder's level.
pub(crate) fn passes(meta: &Metadata<'_>, level: LogLevel) -> bool {
    meta.target() == "afb_api" || meta.target() == TRACE_TARGET || syslog_of(meta.level()) <= level.syslog()
}

/// To call after the binder's level changed: the callsites' cached
/// decisions ([`Gate`]) are made again.
pub(crate) fn levels_changed() {
    tracing::callsite::rebuild_interest_cache();
}

/// The filter of every layer: [`passes`] at the binder's current level,
/// decided once per callsite (until [`levels_changed`]).
struct Gate(Arc<LevelSource>);

impl<S> Filter<S> for Gate {
    fn enabled(&self, meta: &Metadata<'_>, _cx: &Context<'_, S>) -> bool {
        passes(meta, self.0.get())
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        if passes(meta, self.0.get()) {
            Interest::always()
        } else {
            Interest::never()
        }
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    api: Option<String>,
    syslog: Option<u8>,
    rest: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match field.name() {
            "message" => {
                let _ = write!(self.message, "{value:?}");
            }
            "api" => self.api = Some(format!("{value:?}")),
            name => {
                let _ = write!(self.rest, " {name}={value:?}");
            }
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message.push_str(value),
            "api" => self.api = Some(value.to_owned()),
            name => {
                let _ = write!(self.rest, " {name}={value}");
            }
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "syslog" {
            self.syslog = u8::try_from(value).ok();
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if field.name() == "syslog" {
            self.syslog = u8::try_from(value).ok();
        } else {
            self.record_debug(field, &value);
        }
    }
}

/// Formats one log line (without the newline).
pub(crate) fn format_line(
    level: LogLevel,
    name: Option<&str>,
    api: Option<&str>,
    message: &str,
    rest: &str,
    color: bool,
) -> String {
    let mut line = String::with_capacity(32 + message.len() + rest.len());
    let _ = write!(line, "<{}> ", level.syslog());
    if let Some(n) = name {
        let _ = write!(line, "{n} ");
    }
    if color {
        let c = match level {
            LogLevel::Error => "31",
            LogLevel::Warning => "33",
            LogLevel::Notice => "32",
            LogLevel::Info => "36",
            LogLevel::Debug => "34",
        };
        let _ = write!(line, "\x1b[{c}m{}\x1b[0m: ", level.label());
    } else {
        let _ = write!(line, "{}: ", level.label());
    }
    if let Some(a) = api {
        let _ = write!(line, "[{a}] ");
    }
    line.push_str(message);
    line.push_str(rest);
    line
}

/// Writes events to stderr in syslog style.
struct StderrLayer {
    name: Option<String>,
    color: bool,
}

impl<S: Subscriber> Layer<S> for StderrLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut f = Fields::default();
        event.record(&mut f);
        let level = match f.syslog {
            Some(n) if event.metadata().target() == "afb_api" => LogLevel::from_syslog(n),
            _ if event.metadata().target() == TRACE_TARGET => LogLevel::Notice,
            _ => LogLevel::from_syslog(syslog_of(event.metadata().level())),
        };
        let mut line = format_line(
            level,
            self.name.as_deref(),
            f.api.as_deref(),
            &f.message,
            &f.rest,
            self.color,
        );
        line.push('\n');
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

/// Gives the log messages to the `vverbose` traces (API and global) when
/// a trace wants them.
struct TraceLayer;

impl<S: Subscriber> Layer<S> for TraceLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if !crate::trace::logs_armed() || event.metadata().target() == TRACE_TARGET {
            return;
        }
        let mut f = Fields::default();
        event.record(&mut f);
        let meta = event.metadata();
        let level = match f.syslog {
            Some(n) if meta.target() == "afb_api" => n,
            _ => syslog_of(meta.level()),
        };
        let mut message = f.message;
        message.push_str(&f.rest);
        crate::trace::log_message(f.api.as_deref(), level, &message, meta.file(), meta.line());
    }
}

/// The [`TraceLayer`], with the level filter of the other layers.
fn trace_layer<S>(source: Arc<LevelSource>) -> impl Layer<S>
where
    S: Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    TraceLayer.with_filter(Gate(source))
}

/// Whether stderr is the journal (`JOURNAL_STREAM` names its device and inode).
fn stderr_is_journal() -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(js) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = js.split_once(':') else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
        return false;
    };
    std::fs::metadata("/proc/self/fd/2").is_ok_and(|m| m.dev() == dev && m.ino() == ino)
}

/// Installs the global subscriber; returns the level source to attach to
/// the registry.
pub(crate) fn init(level: LogLevel, name: Option<&str>, color: bool) -> Arc<LevelSource> {
    let source = LevelSource::new(level);
    let filter = Gate(source.clone());
    if stderr_is_journal() {
        if let Ok(j) = tracing_journald::layer() {
            // The same priorities as the `<N>` of stderr lines (the
            // layer's default puts INFO at notice and DEBUG at info).
            use tracing_journald::{Priority, PriorityMappings};
            let j = j.with_priority_mappings(PriorityMappings {
                error: Priority::Error,
                warn: Priority::Warning,
                info: Priority::Informational,
                debug: Priority::Debug,
                trace: Priority::Debug,
            });
            let j = match name {
                Some(n) => j.with_syslog_identifier(n.to_owned()),
                None => j,
            };
            let _ = tracing_subscriber::registry()
                .with(j.with_filter(filter))
                .with(trace_layer(source.clone()))
                .try_init();
            cap_log_crate();
            return source;
        }
    }
    let layer = StderrLayer {
        name: name.map(str::to_owned),
        color,
    };
    let _ = tracing_subscriber::registry()
        .with(layer.with_filter(filter))
        .with(trace_layer(source.clone()))
        .try_init();
    cap_log_crate();
    source
}

/// Libraries that log through the `log` crate (tungstenite traces every
/// frame) would otherwise build records that our filter then drops: about a
/// fifth of the daemon's instructions on WebSocket traffic. Their messages
/// are capped at INFO once the subscriber (and its log bridge) is installed.
fn cap_log_crate() {
    log::set_max_level(log::LevelFilter::Info);
}

/// Why a `--log` value was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LevelError {
    /// The `--log` value.
    pub spec: String,
    /// The level name that is not one.
    pub error: BadLevel,
}

impl fmt::Display for LevelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "--log {}: {}", self.spec, self.error)
    }
}

impl std::error::Error for LevelError {}

/// The level from `-l` specs, then `-v`/`-q`: `LEVEL` sets it, `+LEVEL`
/// raises it to at least LEVEL, `-LEVEL` lowers it below LEVEL.
pub fn level_from(specs: &[String], verbose: u8, quiet: u8) -> Result<LogLevel, LevelError> {
    let mut level = LogLevel::Warning;
    for spec in specs {
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let parse = |s: &str| {
                s.parse::<LogLevel>().map_err(|error| LevelError {
                    spec: spec.clone(),
                    error,
                })
            };
            if let Some(l) = item.strip_prefix('+') {
                level = level.max(parse(l)?);
            } else if let Some(l) = item.strip_prefix('-') {
                level = level.min(parse(l)?.less());
            } else {
                level = parse(item)?;
            }
        }
    }
    for _ in 0..verbose {
        level = level.more();
    }
    for _ in 0..quiet {
        level = level.less();
    }
    Ok(level)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syslog_style_lines() {
        assert_eq!(
            format_line(LogLevel::Error, None, None, "boom", "", false),
            "<3> ERROR: boom"
        );
        assert_eq!(
            format_line(LogLevel::Notice, None, Some("hello"), "hi", " k=v", false),
            "<5> NOTICE: [hello] hi k=v"
        );
        assert_eq!(
            format_line(LogLevel::Warning, Some("mybinder"), None, "w", "", false),
            "<4> mybinder WARNING: w"
        );
        assert!(format_line(LogLevel::Debug, None, None, "d", "", true).starts_with("<7> \x1b[34mDEBUG"));
    }

    #[test]
    fn level_specs_verbose_and_quiet() {
        assert_eq!(level_from(&[], 0, 0).unwrap(), LogLevel::Warning);
        assert_eq!(level_from(&[], 2, 0).unwrap(), LogLevel::Info);
        assert_eq!(level_from(&[], 0, 1).unwrap(), LogLevel::Error);
        assert_eq!(level_from(&["debug".into()], 0, 0).unwrap(), LogLevel::Debug);
        assert_eq!(level_from(&["+notice".into()], 0, 0).unwrap(), LogLevel::Notice);
        assert_eq!(level_from(&["info,-notice".into()], 0, 0).unwrap(), LogLevel::Warning);
        let e = level_from(&["info,+loud".into()], 0, 0).unwrap_err();
        assert_eq!(e.spec, "info,+loud");
        assert!(e.to_string().starts_with("--log info,+loud: "), "{e}");
    }

    #[test]
    fn api_events_always_pass_others_follow_the_level() {
        struct Cs;
        impl tracing::callsite::Callsite for Cs {
            fn set_interest(&self, _: tracing::subscriber::Interest) {}
            fn metadata(&self) -> &Metadata<'_> {
                unimplemented!()
            }
        }
        static CS: Cs = Cs;
        let api = Metadata::new(
            "e",
            "afb_api",
            Level::DEBUG,
            None,
            None,
            None,
            tracing::field::FieldSet::new(&[], tracing::callsite::Identifier(&CS)),
            tracing::metadata::Kind::EVENT,
        );
        let other = Metadata::new(
            "e",
            "afb_binder",
            Level::INFO,
            None,
            None,
            None,
            tracing::field::FieldSet::new(&[], tracing::callsite::Identifier(&CS)),
            tracing::metadata::Kind::EVENT,
        );
        assert!(passes(&api, LogLevel::Error));
        assert!(!passes(&other, LogLevel::Notice));
        assert!(passes(&other, LogLevel::Info));
    }
}
