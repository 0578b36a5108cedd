//! The log line, as text or JSON, with the request being served written on it
//! ([`super::request`]).
//!
//! Text: `{time} {LEVEL} request{request_id=… method=… path=…}:{span}{…}: {message} {fields}`, the
//! shape `tracing-subscriber`'s own format gives a line inside a span named `request` (outside a
//! request the `request{…}:` part is absent). JSON, one object per line:
//! `{"timestamp":…,"level":…,"request_id":…,"method":…,"path":…,"message":…,<fields>,"spans":[…]}`
//! — the request's fields at the top level, where a collector indexes them, and the other spans
//! (a sign-in's user, a manager call's manager) in `spans`, outermost first.

use std::fmt::{self, Write as _};
use std::time::SystemTime;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use super::request::{self, RequestContext};
use super::timestamp;

/// The event format of Portico's log (the field format goes with it: [`TextFields`] for text,
/// `JsonFields` for JSON).
#[derive(Clone, Copy, Debug)]
pub enum Lines {
    /// `ansi` colours the level, for a person at a terminal.
    Text {
        ansi: bool,
    },
    Json,
}

impl<S, N> FormatEvent<S, N> for Lines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        match *self {
            Lines::Text { ansi } => text_line(ctx, writer, event, ansi),
            Lines::Json => json_line(ctx, writer, event),
        }
    }
}

fn text_line<S, N>(
    ctx: &FmtContext<'_, S, N>,
    mut w: Writer<'_>,
    event: &Event<'_>,
    ansi: bool,
) -> fmt::Result
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    let level = *event.metadata().level();
    timestamp::write(&mut w, SystemTime::now())?;
    w.write_char(' ')?;
    if ansi {
        for piece in ["\x1b[", level_colour(level), "m", padded(level), "\x1b[0m "] {
            w.write_str(piece)?;
        }
    } else {
        w.write_str(padded(level))?;
        w.write_char(' ')?;
    }
    let mut scoped = request::with_current(|request| text_request(&mut w, request)).transpose()?.is_some();
    if let Some(scope) = ctx.event_scope() {
        for span in scope.from_root() {
            w.write_str(span.name())?;
            if let Some(fields) = span.extensions().get::<FormattedFields<N>>().filter(|f| !f.is_empty()) {
                write!(w, "{{{fields}}}")?;
            }
            w.write_char(':')?;
            scoped = true;
        }
    }
    if scoped {
        w.write_char(' ')?;
    }
    ctx.format_fields(w.by_ref(), event)?;
    writeln!(w)
}

fn text_request(w: &mut Writer<'_>, request: &RequestContext) -> fmt::Result {
    // (Pieces rather than `write!`: this is on every line of every request.)
    for piece in ["request{request_id=", request.id.as_str(), " method=", request.method, " path="] {
        w.write_str(piece)?;
    }
    Sanitized(w).write_str(request.path())?;
    w.write_str("}:")
}

/// A level's name right-aligned in five columns.
fn padded(level: Level) -> &'static str {
    match level {
        Level::ERROR => "ERROR",
        Level::WARN => " WARN",
        Level::INFO => " INFO",
        Level::DEBUG => "DEBUG",
        Level::TRACE => "TRACE",
    }
}

/// SGR colour of a level, as `tracing-subscriber` paints them.
fn level_colour(level: Level) -> &'static str {
    match level {
        Level::ERROR => "31",
        Level::WARN => "33",
        Level::INFO => "32",
        Level::DEBUG => "34",
        Level::TRACE => "35",
    }
}

/// The fields of a text line: the message, then ` name=value` for each other field (strings
/// quoted, as `Debug` writes them). Control characters in values are written escaped (`\n`,
/// `\u{1b}`): a value from outside (a manager's error text, a header) can neither start a line
/// of its own in the log nor send escape sequences to an operator's terminal.
#[derive(Clone, Copy, Debug, Default)]
pub struct TextFields;

impl<'w> FormatFields<'w> for TextFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut visitor = TextVisitor { writer, empty: true, result: Ok(()) };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct TextVisitor<'w> {
    writer: Writer<'w>,
    empty: bool,
    result: fmt::Result,
}

impl TextVisitor<'_> {
    /// Starts the field `field` (the separator, and `name=` unless it is the message); `false`
    /// when it is not written at all.
    fn start(&mut self, field: &Field) -> bool {
        let name = field.name();
        // `log` records' metadata, already on the line.
        if self.result.is_err() || name.starts_with("log.") {
            return false;
        }
        if !std::mem::take(&mut self.empty) {
            self.result = self.writer.write_char(' ');
        }
        if name != "message" {
            let name = name.strip_prefix("r#").unwrap_or(name);
            self.result = self
                .result
                .and_then(|()| self.writer.write_str(name))
                .and_then(|()| self.writer.write_char('='));
        }
        self.result.is_ok()
    }

    /// A value from outside: control characters escaped.
    fn text(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        if self.start(field) {
            self.result = match value.as_str() {
                Some(text) => Sanitized(&mut self.writer).write_str(text),
                None => Sanitized(&mut self.writer).write_fmt(value),
            };
        }
    }

    /// An integer: nothing to escape (written by `itoa`, as every access line has two).
    fn integer(&mut self, field: &Field, value: impl itoa::Integer) {
        if self.start(field) {
            self.result = self.writer.write_str(itoa::Buffer::new().format(value));
        }
    }

    /// A number or a truth value: nothing to escape.
    fn plain(&mut self, field: &Field, value: impl fmt::Display) {
        if self.start(field) {
            self.result = write!(self.writer, "{value}");
        }
    }
}

impl Visit for TextVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            if self.start(field) {
                self.result = Sanitized(&mut self.writer).write_str(value);
            }
        } else {
            self.text(field, format_args!("{value:?}"));
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.integer(field, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.integer(field, value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.plain(field, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.text(field, format_args!("{value:?}"));
    }
}

/// Writes through to the line with control characters escaped.
struct Sanitized<'a, 'w>(&'a mut Writer<'w>);

impl fmt::Write for Sanitized<'_, '_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        // Control characters are U+0000–U+001F, U+007F and U+0080–U+009F (`C2 80`–`C2 9F` in
        // UTF-8): a text without those bytes is written as it is, without decoding it.
        if !text.bytes().any(|b| b < 0x20 || b == 0x7f || b == 0xc2) {
            return self.0.write_str(text);
        }
        let mut written = 0;
        for (at, c) in text.char_indices().filter(|(_, c)| c.is_control()) {
            self.0.write_str(&text[written..at])?;
            write!(self.0, "{}", c.escape_default())?;
            written = at + c.len_utf8();
        }
        self.0.write_str(&text[written..])
    }
}

fn json_line<S, N>(ctx: &FmtContext<'_, S, N>, mut w: Writer<'_>, event: &Event<'_>) -> fmt::Result
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    w.write_str("{\"timestamp\":\"")?;
    timestamp::write(&mut w, SystemTime::now())?;
    write!(w, "\",\"level\":\"{}\"", event.metadata().level())?;
    request::with_current(|request| {
        write!(w, ",\"request_id\":\"{}\",\"method\":\"{}\",\"path\":", request.id, request.method)?;
        json_string(&mut w, request.path())
    })
    .transpose()?;
    // The field format (`JsonFields`) writes the event's fields as an object: its members are
    // the line's.
    let mut fields = String::new();
    ctx.format_fields(Writer::new(&mut fields), event)?;
    write_members(&mut w, &fields)?;
    if let Some(scope) = ctx.event_scope() {
        let mut first = true;
        for span in scope.from_root() {
            w.write_str(if first { ",\"spans\":[" } else { "," })?;
            first = false;
            w.write_str("{\"name\":")?;
            json_string(&mut w, span.name())?;
            if let Some(fields) = span.extensions().get::<FormattedFields<N>>() {
                write_members(&mut w, fields)?;
            }
            w.write_char('}')?;
        }
        if !first {
            w.write_char(']')?;
        }
    }
    w.write_str("}\n")
}

/// The members of the JSON object `object` (`{…}`), after a comma; nothing for `{}`.
fn write_members(w: &mut Writer<'_>, object: &str) -> fmt::Result {
    match object.trim().strip_prefix('{').and_then(|o| o.strip_suffix('}')).map(str::trim) {
        Some(members) if !members.is_empty() => {
            w.write_char(',')?;
            w.write_str(members)
        }
        _ => Ok(()),
    }
}

fn json_string(w: &mut Writer<'_>, text: &str) -> fmt::Result {
    let quoted = serde_json::to_string(text).map_err(|_| fmt::Error)?;
    w.write_str(&quoted)
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::EnvFilter;

    use super::*;
    use crate::config::LogFormat;
    use crate::telemetry::request::RequestId;

    fn info() -> EnvFilter {
        EnvFilter::new("info")
    }

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Sink {
        fn lines(&self) -> Vec<String> {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap().lines().map(str::to_owned).collect()
        }
    }

    fn context(path: &str) -> RequestContext {
        RequestContext::new(RequestId::generate(), "GET", &path.parse().unwrap())
    }

    /// A value from outside that tries to start a line of its own and to drive the terminal (with
    /// a 7-bit escape and with the 8-bit control sequence introducer).
    const FORGED: &str = "slow\n2026-01-01T00:00:00Z  INFO forged\x1b[31m\u{9b}2J";

    /// The lines Portico's subscriber writes in `format` for a line inside a request, inside a
    /// span, and one outside both.
    fn log_three(format: LogFormat, request: RequestContext) -> Vec<String> {
        let sink = Sink::default();
        let writer = sink.clone();
        let dispatch =
            tracing::Dispatch::new(super::super::subscriber(info(), format, false, move || writer.clone()));
        tracing::dispatcher::with_default(&dispatch, || {
            request::sync_scope(request, || {
                let span = tracing::info_span!("signin", user = "alice");
                span.in_scope(
                    || tracing::warn!(environment = "sandbox", reason = %FORGED, "joined \"late\""),
                );
                tracing::info!(status = 200u16, elapsed_us = 12u64, "request");
            });
            tracing::info!("outside");
        });
        sink.lines()
    }

    #[test]
    fn text_lines_carry_the_request_and_the_spans_of_the_event() {
        let request = context("/api/portal/v1.3/apis");
        let id = request.id.to_string();
        let lines = log_three(LogFormat::Text, request);
        assert_eq!(lines.len(), 3, "{lines:?}");
        let prefix = format!("request{{request_id={id} method=GET path=/api/portal/v1.3/apis}}:");
        assert!(
            lines[0].contains(&format!(
                " WARN {prefix}signin{{user=\"alice\"}}: joined \"late\" environment=\"sandbox\" \
                 reason=slow\\n2026-01-01T00:00:00Z  INFO forged\\u{{1b}}[31m\\u{{9b}}2J"
            )),
            "{}",
            lines[0]
        );
        assert!(
            lines[1].contains(&format!(" INFO {prefix} request status=200 elapsed_us=12")),
            "{}",
            lines[1]
        );
        assert!(lines[2].ends_with(" INFO outside"), "{}", lines[2]);
        assert!(lines.iter().all(|l| !l.contains('\x1b') && !l.contains('\u{9b}')), "no colour unless asked");
        assert!(humantime::parse_rfc3339(lines[2].split(' ').next().unwrap()).is_ok(), "{}", lines[2]);
    }

    #[test]
    fn json_lines_are_one_object_each_with_the_request_at_the_top_level() {
        // A path as hostile as a request line allows: quotes and backslashes stay inside the string.
        let request = context("/a\"b\\c\"}");
        let id = request.id.to_string();
        let lines: Vec<serde_json::Value> =
            log_three(LogFormat::Json, request).iter().map(|l| serde_json::from_str(l).expect(l)).collect();
        assert_eq!(lines.len(), 3);
        let warn = &lines[0];
        assert_eq!(warn["level"], "WARN");
        assert_eq!(warn["request_id"], id.as_str());
        assert_eq!(warn["method"], "GET");
        assert_eq!(warn["path"], "/a\"b\\c\"}");
        assert_eq!(warn["message"], "joined \"late\"");
        assert_eq!(warn["environment"], "sandbox");
        assert_eq!(warn["reason"], FORGED);
        assert_eq!(warn["spans"], serde_json::json!([{ "name": "signin", "user": "alice" }]));
        assert_eq!(lines[1]["status"], 200);
        assert_eq!(lines[1]["elapsed_us"], 12);
        assert!(lines[1].get("spans").is_none());
        assert!(lines[2].get("request_id").is_none(), "outside a request");
        assert_eq!(lines[2]["message"], "outside");
        assert!(humantime::parse_rfc3339(lines[2]["timestamp"].as_str().unwrap()).is_ok());
    }
}
