//! The JSON log format: one object per line with `timestamp`, `level`, the event's fields
//! (`message` among them), `target`, and the `trace_id` and `span_id` of the current span (the
//! request's, see [`super::trace`]). Each line is written in one pass straight into the line
//! buffer: the request log line is written on every request, and tracing-subscriber's own JSON
//! format (a map of owned values per event) cost about a tenth of a request's work in the
//! frontend.
//!
//! The line's own keys are never written twice: an event field named like one of them
//! (`level = ...`) is written as `field.level`, so its value is kept under a name of its own,
//! where a repeated key would leave each JSON reader to keep one of the two as it likes (most
//! keep the last: the event's `level` in place of the line's). The event's message is its
//! first `message` field; a second one (`message = x` beside a format string) is
//! `field.message`.

use std::fmt::{self, Write as _};

use opentelemetry::Context;
use opentelemetry::trace::TraceContextExt;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

pub(crate) struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        writer.write_str(r#"{"timestamp":""#)?;
        SystemTime.format_time(&mut writer)?;
        write!(writer, r#"","level":"{}""#, meta.level())?;
        let mut fields = Fields {
            writer: &mut writer,
            has_message: false,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        writer.write_str(r#","target":"#)?;
        write_string(&mut writer, meta.target())?;
        Context::map_current(|current| {
            let span = current.span();
            let ids = span.span_context();
            if !ids.is_valid() {
                return Ok(());
            }
            writer.write_str(r#","trace_id":""#)?;
            write_hex(&mut writer, &ids.trace_id().to_bytes())?;
            writer.write_str(r#"","span_id":""#)?;
            write_hex(&mut writer, &ids.span_id().to_bytes())?;
            writer.write_char('"')
        })?;
        writer.write_str("}\n")
    }
}

/// The keys [`JsonLines`] writes itself, around the event's fields.
const OWN_KEYS: [&str; 5] = ["timestamp", "level", "target", "trace_id", "span_id"];

/// What an event field named like one of the line's own keys is written as: `field.<name>`.
const RENAMED: &str = "field.";

/// Writes each field as `,"name":value`: numbers and booleans as JSON numbers and booleans,
/// everything else as a JSON string.
struct Fields<'a, 'w> {
    writer: &'a mut Writer<'w>,
    /// Whether the line's `message` is written.
    has_message: bool,
    result: fmt::Result,
}

impl Fields<'_, '_> {
    fn member(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        // `r#type` in a macro is the field `type`.
        let name = field.name();
        let name = name.strip_prefix("r#").unwrap_or(name);
        let renamed = if name == "message" {
            std::mem::replace(&mut self.has_message, true)
        } else {
            OWN_KEYS.contains(&name)
        };
        let prefix = if renamed { RENAMED } else { "" };
        self.result = self
            .writer
            .write_str(",\"")
            .and_then(|()| self.writer.write_str(prefix))
            .and_then(|()| Escaped(self.writer).write_str(name))
            .and_then(|()| self.writer.write_str(r#"":"#))
            .and_then(|()| value(self.writer));
    }
}

impl Visit for Fields<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.member(field, |w| write_string(w, value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.member(field, |w| {
            w.write_char('"')?;
            capped(w, |w| write!(w, "{value:?}"))?;
            w.write_char('"')
        });
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.member(field, |w| {
            w.write_char('"')?;
            capped(w, |w| write!(w, "{value}"))?;
            w.write_char('"')
        });
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.member(field, |w| write!(w, "{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.member(field, |w| write!(w, "{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.member(field, |w| write!(w, "{value}"));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        // JSON has no NaN or infinity.
        if value.is_finite() {
            self.member(field, |w| write!(w, "{value}"));
        } else {
            self.member(field, |w| write!(w, r#""{value}""#));
        }
    }
}

/// Lowercase hex, as W3C trace context writes ids (a tenth of the cost of `{:032x}`).
fn write_hex(writer: &mut Writer<'_>, bytes: &[u8]) -> fmt::Result {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = [0u8; 32];
    let text = &mut text[..bytes.len() * 2];
    for (pair, byte) in text.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0x0f)];
    }
    writer.write_str(std::str::from_utf8(text).map_err(|_| fmt::Error)?)
}

fn write_string(writer: &mut Writer<'_>, value: &str) -> fmt::Result {
    writer.write_char('"')?;
    capped(writer, |w| w.write_str(value))?;
    writer.write_char('"')
}

/// The most of one field's value a line carries, in bytes before escaping: what a client sends
/// (a path, a token's key id, Dapr's message about either) can be as long as the client likes,
/// and a line per request must not be.
const MAX_FIELD_BYTES: usize = 2048;

/// Writes what `write` writes, escaped, up to [`MAX_FIELD_BYTES`], then how much was cut.
fn capped(
    writer: &mut Writer<'_>,
    write: impl FnOnce(&mut Capped<'_, '_>) -> fmt::Result,
) -> fmt::Result {
    let mut capped = Capped {
        inner: Escaped(writer),
        left: MAX_FIELD_BYTES,
        cut: 0,
    };
    write(&mut capped)?;
    let cut = capped.cut;
    if cut > 0 {
        write!(writer, "…(+{cut} bytes)")?;
    }
    Ok(())
}

struct Capped<'a, 'w> {
    inner: Escaped<'a, 'w>,
    left: usize,
    cut: usize,
}

impl fmt::Write for Capped<'_, '_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        if text.len() <= self.left {
            self.left -= text.len();
            return self.inner.write_str(text);
        }
        let mut end = self.left;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        self.left = 0;
        self.cut += text.len() - end;
        self.inner.write_str(&text[..end])
    }
}

/// Writes what it is given as the inside of a JSON string.
struct Escaped<'a, 'w>(&'a mut Writer<'w>);

impl fmt::Write for Escaped<'_, '_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut plain = 0;
        for (at, byte) in text.bytes().enumerate() {
            let escape = match byte {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0..0x20 => "",
                _ => continue,
            };
            self.0.write_str(&text[plain..at])?;
            if escape.is_empty() {
                write!(self.0, "\\u{byte:04x}")?;
            } else {
                self.0.write_str(escape)?;
            }
            plain = at + 1;
        }
        self.0.write_str(&text[plain..])
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use serde_json::{Value, json};
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    /// The lines written while `emit` runs, each parsed as JSON.
    fn lines_of(emit: impl FnOnce()) -> Vec<Value> {
        text_of(emit)
            .lines()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{e} in line {line:?}"))
            })
            .collect()
    }

    /// What is written while `emit` runs.
    fn text_of(emit: impl FnOnce()) -> String {
        let written = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = written.clone();
        let layer = tracing_subscriber::fmt::layer()
            .event_format(JsonLines)
            .with_writer(move || Sink(sink.clone()));
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), emit);
        String::from_utf8(written.lock().unwrap().clone()).unwrap()
    }

    /// The keys of a JSON object in the order written, repeats included: parsing into a
    /// `Value` would silently keep one of two equal keys.
    fn keys_of(line: &str) -> Vec<String> {
        struct Keys(Vec<String>);
        impl<'de> serde::Deserialize<'de> for Keys {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_map(Keys(Vec::new()))
            }
        }
        impl<'de> serde::de::Visitor<'de> for Keys {
            type Value = Keys;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                mut self,
                mut map: A,
            ) -> Result<Keys, A::Error> {
                while let Some((key, serde::de::IgnoredAny)) = map.next_entry()? {
                    self.0.push(key);
                }
                Ok(self)
            }
        }
        serde_json::from_str::<Keys>(line).unwrap().0
    }

    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_field_as_long_as_a_client_likes_is_cut() {
        let path = format!("/{}", "é".repeat(30_000));
        let kid = "k".repeat(60_000);
        let lines = lines_of(|| {
            tracing::info!(path = path.as_str(), kid = %kid, error = ?kid, "request");
        });
        let [line] = lines.as_slice() else {
            panic!("one line expected: {lines:?}")
        };
        for field in ["path", "kid", "error"] {
            let value = line[field].as_str().unwrap();
            assert!(
                value.len() < MAX_FIELD_BYTES + 50,
                "{field}: {}",
                value.len()
            );
            assert!(value.ends_with(" bytes)"), "{field}: {value}");
        }
        assert!(line["path"].as_str().unwrap().starts_with("/éé"));
        assert!(line["kid"].as_str().unwrap().ends_with("…(+57952 bytes)"));
    }

    #[test]
    fn each_event_is_one_json_object_with_its_fields_typed() {
        let method = http::Method::POST;
        let lines = lines_of(|| {
            tracing::info!(
                method = %method,
                path = "/call",
                status = 200u16,
                latency_ms = 1.5,
                caller = None::<&str>,
                ok = true,
                "request"
            );
        });
        let [line] = lines.as_slice() else {
            panic!("one line expected: {lines:?}")
        };
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["message"], "request");
        assert_eq!(line["method"], "POST");
        assert_eq!(line["path"], "/call");
        assert_eq!(line["status"], 200);
        assert_eq!(line["latency_ms"], 1.5);
        assert_eq!(line["ok"], true);
        assert!(line.get("caller").is_none(), "an absent value is no field");
        assert_eq!(line["target"], module_path!());
        assert!(line.get("trace_id").is_none(), "no span, no trace id");
        let timestamp = line["timestamp"].as_str().unwrap();
        assert!(
            timestamp.len() == 27 && timestamp.ends_with('Z'),
            "{timestamp}"
        );
    }

    #[test]
    fn a_line_written_in_a_request_names_its_trace_and_span() {
        let request = crate::telemetry::trace::testing::request_from_caller();
        let span_id = request.span().span_context().span_id().to_string();
        let lines = lines_of(|| {
            let _current = request.clone().attach();
            tracing::info!("inside");
        });
        assert_eq!(lines[0]["trace_id"], "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(lines[0]["span_id"], span_id);
    }

    #[test]
    fn text_is_escaped_as_json_strings() {
        let tricky = "a \"quoted\" \\ back\nslash\ttab \u{1} and \u{e9}";
        let lines = lines_of(|| {
            tracing::warn!(detail = tricky, debug = ?tricky, r#type = "raw", "tricky: {tricky}");
        });
        assert_eq!(lines[0]["detail"], tricky);
        assert_eq!(lines[0]["debug"], json!(format!("{tricky:?}")));
        assert_eq!(lines[0]["message"], format!("tricky: {tricky}"));
        assert_eq!(lines[0]["type"], "raw");
    }

    #[test]
    fn fields_named_like_the_lines_own_keys_are_prefixed_not_repeated() {
        let request = crate::telemetry::trace::testing::request_from_caller();
        let text = text_of(|| {
            let _current = request.clone().attach();
            tracing::info!(
                timestamp = 1,
                level = "mine",
                target = "mine",
                trace_id = "mine",
                span_id = "mine",
                message = "mine",
                "hello"
            );
        });
        let line = text.lines().next().unwrap();
        let keys = keys_of(line);
        let mut unique = keys.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(keys.len(), unique.len(), "a key written twice: {line}");
        let line: Value = serde_json::from_str(line).unwrap();
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["target"], module_path!());
        assert_eq!(line["trace_id"], "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(line["message"], "hello");
        for key in ["level", "target", "trace_id", "span_id", "message"] {
            assert_eq!(line[format!("field.{key}")], "mine", "{key}");
        }
        assert_eq!(line["field.timestamp"], 1);
    }
}
