//! The access log's plain-text lines, written by hand. The access log (`http.access.log`, on by
//! default as Confluent's request log is) writes a line per request
//! ([`crate::http::observe`]), so formatting it is on every request's path. tracing-subscriber's
//! text format writes each piece through `core::fmt`: the timestamp's calendar arithmetic, the
//! padded level, a `Debug` per field. Under single-record produce with the access log on, that
//! formatting was 4.8% of the proxy's CPU samples, about 1 µs per request (`perf record -g -p
//! <proxy>`; docs/performance-log.md, "The access line by hand").
//!
//! [`Lines`] writes the same bytes (a unit test compares the two, field by field and byte by
//! byte) with the timestamp's date and time of day kept from the last line of the same second,
//! numbers through `itoa` and plain strings copied between their quotes. It takes only what it
//! writes identically: plain text (not coloured for a terminal), an `access` event outside any
//! span, fields of strings, integers and booleans with ordinary names. Anything else, and every
//! other line, goes through tracing-subscriber's own format. JSON lines (`log.format=json`,
//! fields flattened) are written the same way ([`Lines::json`]).

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{Format, Full, Json, Writer};
use tracing_subscriber::fmt::time::SystemTime as FmtTime;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The access log's target ([`crate::http::observe`]).
pub const TARGET: &str = "access";

/// A log format: access lines by hand, every other line by tracing-subscriber's `default`.
pub struct Lines<F = Format<Full, FmtTime>> {
    default: F,
    shape: Shape,
}

/// Which of tracing-subscriber's formats the lines by hand reproduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// `Format<Full>` without colours: `2026-12-07T19:03:04.847205Z  INFO access: a="b" c=1`.
    Text,
    /// `Format<Json>` with its event's fields flattened (`log.format=json`):
    /// `{"timestamp":"2026-12-07T19:03:04.847205Z","level":"INFO","a":"b","c":1,"target":"access"}`.
    Json,
}

impl Default for Lines {
    /// The text format (the default `log.format`).
    fn default() -> Self {
        Lines {
            default: Format::default(),
            shape: Shape::Text,
        }
    }
}

impl Lines<Format<Json, FmtTime>> {
    /// JSON lines, each event's fields flattened into its object (`log.format=json`).
    pub fn json() -> Self {
        Lines {
            default: Format::default().json().flatten_event(true),
            shape: Shape::Json,
        }
    }
}

impl<S, N, F> FormatEvent<S, N> for Lines<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        if event.metadata().target() == TARGET
            && !writer.has_ansi_escapes()
            && ctx.event_scope().is_none()
        {
            // None: the line is left to tracing-subscriber (also at thread exit, its buffer gone).
            let written = LINE
                .try_with(|line| {
                    let mut line = line.try_borrow_mut().ok()?;
                    line.clear();
                    access_line(event, self.shape, &mut line).then(|| writer.write_str(&line))
                })
                .ok()
                .flatten();
            if let Some(result) = written {
                return result;
            }
        }
        self.default.format_event(ctx, writer, event)
    }
}

thread_local! {
    /// The line being written, kept between lines for its capacity.
    static LINE: RefCell<String> = const { RefCell::new(String::new()) };
    /// The Unix second of the last line and its `YYYY-MM-DDTHH:MM:SS`.
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((0, String::new())) };
}

#[cfg(test)]
thread_local! {
    /// Lines written by hand on this thread (tests run on threads of their own).
    static FAST_LINES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Writes `event` as tracing-subscriber's format of `shape` writes it, outside any span, and a
/// newline. False, with `line` in any state, for anything it would not write identically.
fn access_line(event: &Event<'_>, shape: Shape, line: &mut String) -> bool {
    let Ok(since) = SystemTime::now().duration_since(UNIX_EPOCH) else {
        return false;
    };
    let meta = event.metadata();
    if shape == Shape::Json {
        line.push_str(r#"{"timestamp":""#);
    }
    if !timestamp(since.as_secs(), since.subsec_micros(), line) {
        return false;
    }
    match shape {
        Shape::Text => {
            line.push(' ');
            line.push_str(match *meta.level() {
                Level::TRACE => "TRACE",
                Level::DEBUG => "DEBUG",
                Level::INFO => " INFO",
                Level::WARN => " WARN",
                Level::ERROR => "ERROR",
            });
            line.push(' ');
            line.push_str(meta.target());
            line.push_str(": ");
        }
        Shape::Json => {
            line.push_str(r#"","level":""#);
            line.push_str(meta.level().as_str());
            line.push('"');
        }
    }
    let mut fields = Fields {
        line,
        shape,
        first: true,
        plain: true,
    };
    event.record(&mut fields);
    if !fields.plain {
        return false;
    }
    if shape == Shape::Json {
        line.push_str(r#","target":"#);
        quoted(meta.target(), shape, line);
        line.push('}');
    }
    line.push('\n');
    #[cfg(test)]
    FAST_LINES.with(|n| n.set(n.get() + 1));
    true
}

/// A string as `Debug` quotes it (text) or as serde_json writes it (JSON): copied between its
/// quotes when it is printable ASCII without `"` or a backslash, which both leave as it is.
fn quoted(value: &str, shape: Shape, line: &mut String) {
    if value
        .bytes()
        .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
    {
        line.push('"');
        line.push_str(value);
        line.push('"');
    } else {
        match shape {
            Shape::Text => {
                let _ = write!(line, "{value:?}");
            }
            Shape::Json => match serde_json::to_string(value) {
                Ok(json) => line.push_str(&json),
                Err(_) => line.push_str("null"),
            },
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS.uuuuuuZ` (UTC, microseconds), as tracing-subscriber's `SystemTime`.
/// False where humantime cannot write the date (past the year 9999) or at thread exit.
fn timestamp(secs: u64, micros: u32, line: &mut String) -> bool {
    let written = SECOND.try_with(|second| {
        let mut second = second.try_borrow_mut().ok()?;
        if second.0 != secs || second.1.is_empty() {
            let at = UNIX_EPOCH.checked_add(std::time::Duration::from_secs(secs))?;
            second.1.clear();
            write!(second.1, "{}", humantime::format_rfc3339_seconds(at)).ok()?;
            second.1.pop(); // its `Z`
            second.0 = secs;
        }
        line.push_str(&second.1);
        Some(())
    });
    if !matches!(written, Ok(Some(()))) {
        return false;
    }
    line.push('.');
    let mut digits = itoa::Buffer::new();
    let micros = digits.format(micros);
    for _ in micros.len()..6 {
        line.push('0');
    }
    line.push_str(micros);
    line.push('Z');
    true
}

/// Writes an event's fields as tracing-subscriber does: in text as `DefaultFields` writes them
/// (`name=value` separated by spaces, strings quoted as `Debug` quotes them), in JSON as
/// `"name":value` members after the level. `plain` turns false at any field it does not write
/// identically (a `message`, a raw or `log.` name, a `Debug` or float value).
struct Fields<'a> {
    line: &'a mut String,
    shape: Shape,
    first: bool,
    plain: bool,
}

impl Fields<'_> {
    /// Starts a field; false when its name needs tracing-subscriber's own handling.
    fn name(&mut self, field: &Field) -> bool {
        let name = field.name();
        if name == "message" || name.starts_with("r#") || name.starts_with("log.") {
            self.plain = false;
            return false;
        }
        match self.shape {
            Shape::Text => {
                if !self.first {
                    self.line.push(' ');
                }
                self.line.push_str(name);
                self.line.push('=');
            }
            Shape::Json => {
                self.line.push(',');
                quoted(name, Shape::Json, self.line);
                self.line.push(':');
            }
        }
        self.first = false;
        true
    }
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.name(field) {
            quoted(value, self.shape, self.line);
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.name(field) {
            self.line.push_str(itoa::Buffer::new().format(value));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if self.name(field) {
            self.line.push_str(itoa::Buffer::new().format(value));
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.name(field) {
            self.line.push_str(if value { "true" } else { "false" });
        }
    }

    fn record_debug(&mut self, _field: &Field, _value: &dyn fmt::Debug) {
        self.plain = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Lines written to a shared buffer.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        /// A subscriber writing here, plain text (no colours), every level.
        fn builder(
            &self,
        ) -> tracing_subscriber::fmt::SubscriberBuilder<
            tracing_subscriber::fmt::format::DefaultFields,
            Format<Full, FmtTime>,
            tracing_subscriber::filter::LevelFilter,
            impl for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
        > {
            let sink = self.clone();
            tracing_subscriber::fmt()
                .with_writer(move || sink.clone())
                .with_ansi(false)
                .with_max_level(Level::TRACE)
        }

        /// The lines `subscriber`, writing here, logs of the events `emit` logs.
        fn lines_of(
            &self,
            subscriber: impl Subscriber + Send + Sync + 'static,
            emit: fn(),
        ) -> Vec<String> {
            tracing::subscriber::with_default(subscriber, emit);
            let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
            text.lines().map(str::to_owned).collect()
        }
    }

    /// Every event `emit` logs, one line each, through a plain-text subscriber with `format`.
    fn lines<E>(format: E, emit: fn()) -> Vec<String>
    where
        E: FormatEvent<
                tracing_subscriber::Registry,
                tracing_subscriber::fmt::format::DefaultFields,
            > + Send
            + Sync
            + 'static,
    {
        let out = Captured::default();
        out.lines_of(out.builder().event_format(format).finish(), emit)
    }

    /// The events of `compare`: access lines of every shape the proxy logs, and lines the
    /// hand-written format must leave to tracing-subscriber's.
    fn emit() {
        let (status, us) = (200u16, 490u64);
        tracing::info!(target: "access", api = "rest", method = "POST", path = "/topics/t1",
            status, bytes = Some(119u64), us, principal = None::<&str>);
        tracing::info!(target: "access", api = "registry", method = "GET",
            path = "/subjects/a \"b\"\\c\u{e9}\n", status = 404u16, bytes = None::<u64>,
            us = 7u64, principal = Some("alice"));
        tracing::info!(target: "access", api = "rest", negative = -3i64, ok = true);
        // Left to tracing-subscriber: a message, a value through Debug, a span around it,
        // another target, another level.
        tracing::info!(target: "access", status = 200u16, "with a message");
        tracing::info!(target: "access", took = ?std::time::Duration::from_millis(3));
        tracing::info_span!("request", uri = "/x").in_scope(|| {
            tracing::info!(target: "access", status = 500u16);
        });
        tracing::warn!(target: "kafka_proxy::other", status = 1u16, "not an access line");
        tracing::warn!(target: "access", status = 503u16);
    }

    #[test]
    fn access_lines_are_tracing_subscribers_bytes() {
        let before = FAST_LINES.with(std::cell::Cell::get);
        let ours = lines(Lines::default(), emit);
        let fast = FAST_LINES.with(std::cell::Cell::get) - before;
        let theirs = lines(Format::<Full, FmtTime>::default(), emit);
        assert_eq!(ours.len(), 8, "{ours:#?}");
        assert_eq!(ours.len(), theirs.len());
        // The access lines written by hand: the three plain ones and the WARN one.
        assert_eq!(fast, 4, "lines by hand");
        for (a, b) in ours.iter().zip(&theirs) {
            // The timestamps differ by when each was taken; the rest is the same bytes.
            let (a_time, a_rest) = a.split_at(a.find(' ').unwrap_or(0));
            let (b_time, b_rest) = b.split_at(b.find(' ').unwrap_or(0));
            assert_eq!(a_rest, b_rest);
            assert_eq!(a_time.len(), b_time.len(), "{a_time} / {b_time}");
        }
        assert_eq!(
            ours[0].split_once(' ').unwrap().1,
            r#" INFO access: api="rest" method="POST" path="/topics/t1" status=200 bytes=119 us=490"#
        );
        // The hand-written timestamp is the time now, in tracing-subscriber's shape.
        let stamp = ours[0].split(' ').next().unwrap();
        assert_eq!(stamp.len(), "2026-12-07T19:03:04.847205Z".len(), "{stamp}");
        let at = humantime::parse_rfc3339(stamp).unwrap();
        let age = SystemTime::now().duration_since(at).unwrap();
        assert!(age < std::time::Duration::from_secs(5), "{stamp}");
    }

    /// [`lines`] for JSON lines with the event's fields flattened, as `log.format=json` logs.
    fn json_lines<E>(format: E, emit: fn()) -> Vec<String>
    where
        E: FormatEvent<tracing_subscriber::Registry, tracing_subscriber::fmt::format::JsonFields>
            + Send
            + Sync
            + 'static,
    {
        let out = Captured::default();
        let json = out.builder().json().flatten_event(true);
        out.lines_of(json.event_format(format).finish(), emit)
    }

    #[test]
    fn json_access_lines_are_tracing_subscribers_bytes() {
        let before = FAST_LINES.with(std::cell::Cell::get);
        let ours = json_lines(Lines::json(), emit);
        let fast = FAST_LINES.with(std::cell::Cell::get) - before;
        let theirs = json_lines(Format::default().json().flatten_event(true), emit);
        assert_eq!(ours.len(), 8, "{ours:#?}");
        assert_eq!(ours.len(), theirs.len());
        assert_eq!(fast, 4, "lines by hand");
        // The same bytes past the timestamp's value, which is the time each was taken.
        let stamp = |l: &str| l.find(r#"","level""#).unwrap();
        for (a, b) in ours.iter().zip(&theirs) {
            assert_eq!(stamp(a), stamp(b), "{a} / {b}");
            assert_eq!(a[stamp(a)..], b[stamp(b)..]);
            assert_eq!(a[..14], b[..14]);
        }
        let first: serde_json::Value = serde_json::from_str(&ours[0]).unwrap();
        assert_eq!(first["path"], "/topics/t1");
        assert_eq!(first["bytes"], 119);
        assert_eq!(first["target"], "access");
        let second: serde_json::Value = serde_json::from_str(&ours[1]).unwrap();
        assert_eq!(second["path"], "/subjects/a \"b\"\\c\u{e9}\n");
        assert_eq!(second["principal"], "alice");
    }

    #[test]
    fn timestamps_carry_the_second_and_pad_the_microseconds() {
        let mut line = String::new();
        assert!(timestamp(1_765_134_184, 5, &mut line));
        assert_eq!(line, "2025-12-07T19:03:04.000005Z");
        line.clear();
        assert!(timestamp(1_765_134_185, 999_999, &mut line));
        assert_eq!(line, "2025-12-07T19:03:05.999999Z");
        line.clear();
        assert!(timestamp(1_765_134_185, 120_000, &mut line));
        assert_eq!(line, "2025-12-07T19:03:05.120000Z");
        // Past the year 9999 the line is left to tracing-subscriber.
        assert!(!timestamp(253_402_300_800, 0, &mut String::new()));
    }
}
