//! Log events as events on the current span, so a trace shows what went wrong where.

use opentelemetry::trace::TraceContextExt;
use opentelemetry::{Context, KeyValue};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer;

/// Adds each event it sees to the current span as a span event, when that span is recorded: the
/// telemetry layer gives it this project's warnings and errors.
pub(super) struct EventsOnSpans;

impl<S: Subscriber> Layer<S> for EventsOnSpans {
    fn on_event(&self, event: &Event<'_>, _: layer::Context<'_, S>) {
        Context::map_current(|current| {
            let span = current.span();
            if !span.is_recording() {
                return;
            }
            let mut fields = EventFields::default();
            event.record(&mut fields);
            let level = KeyValue::new("level", event.metadata().level().as_str());
            fields.attributes.push(level);
            span.add_event(fields.message, fields.attributes);
        });
    }
}

#[derive(Default)]
struct EventFields {
    message: String,
    attributes: Vec<KeyValue>,
}

impl Visit for EventFields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let value = format!("{value:?}");
        if field.name() == "message" {
            self.message = value;
        } else {
            self.attributes.push(KeyValue::new(field.name(), value));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            value.clone_into(&mut self.message);
        } else {
            self.attributes
                .push(KeyValue::new(field.name(), value.to_owned()));
        }
    }
}
