//! Installing the log subscriber and the tracer, once, from `main`.

use std::io::IsTerminal;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Level;
use tracing_subscriber::filter::FilterExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, filter};

use super::export::{Export, tracer_provider};
use super::json_lines::JsonLines;
use super::log_output;
use super::sampling::SamplingSettings;
use super::span_events::EventsOnSpans;
use super::trace::{self, Spans};

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Auto,
    Json,
    Text,
}

/// The tracer provider, kept so that spans still queued are exported before the process ends.
pub struct Telemetry {
    provider: SdkTracerProvider,
    exporting: bool,
}

impl Telemetry {
    /// Exports what is still queued and stops the exporter, and writes the last log lines.
    /// Call once, at the end of `main`.
    pub async fn shutdown(self) {
        self.export_last_spans().await;
        log_output::flush();
    }

    async fn export_last_spans(self) {
        if !self.exporting {
            return;
        }
        // Shutting down blocks until the export finishes, which needs the runtime: off it.
        let provider = self.provider;
        match tokio::task::spawn_blocking(move || provider.shutdown()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "could not export the last spans"),
            Err(error) => tracing::warn!(%error, "could not export the last spans"),
        }
    }
}

/// Installs the global log subscriber and the tracer. Call once, from `main`, inside the Tokio
/// runtime (the OTLP exporter's connection runs on it).
pub fn init(service: &'static str, format: LogFormat, sampling: &SamplingSettings) -> Telemetry {
    let sampler = sampling.sampler();
    let (provider, export) = tracer_provider(service, sampler.clone());
    let exporting = matches!(export, Export::To(_));
    trace::install(if exporting {
        Spans::Recorded(provider.tracer(service))
    } else {
        Spans::ContextOnly(sampler)
    });

    // Events only: nothing here makes `tracing` spans, and a span a dependency makes would have
    // its fields formatted for nothing.
    let levels = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let events = levels.and(filter::filter_fn(|meta| meta.is_event()));
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stdout().is_terminal(),
    };
    let logs = if json {
        let lines = tracing_subscriber::fmt::layer()
            .event_format(JsonLines)
            .with_writer(log_output::writer);
        lines.with_filter(events).boxed()
    } else {
        let lines = tracing_subscriber::fmt::layer().with_writer(log_output::writer);
        lines.with_filter(events).boxed()
    };
    // What is buffered is written before a panic is told of (on stderr), so the lines that
    // led to it come first.
    let report_panic = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |panic| {
        log_output::flush();
        report_panic(panic);
    }));
    // This project's warnings and errors, never its dependencies' (the exporter's own HTTP/2
    // client would report on itself), also go on the current span as events.
    let ours = filter::filter_fn(move |meta| {
        *meta.level() <= Level::WARN
            && (meta.target().starts_with("service_kit") || meta.target().starts_with(service))
    });
    tracing_subscriber::registry()
        .with(logs)
        .with(EventsOnSpans.with_filter(ours))
        .init();

    match export {
        Export::Off => {}
        Export::To(endpoint) => tracing::info!(%endpoint, "exporting traces over OTLP/gRPC"),
        Export::Failed(error) => tracing::error!(%error, "cannot export traces; running without"),
    }
    Telemetry {
        provider,
        exporting,
    }
}
