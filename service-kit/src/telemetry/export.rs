//! The OTLP/gRPC span exporter: on only when a collector's endpoint is set.

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};

pub(super) enum Export {
    Off,
    To(String),
    Failed(String),
}

/// The tracer provider, exporting to the collector when one is set.
pub(super) fn tracer_provider(
    service: &'static str,
    sampler: Sampler,
) -> (SdkTracerProvider, Export) {
    let mut resource = Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name(service);
    }
    // The app's sampler rather than the one the SDK would read from OTEL_TRACES_SAMPLER itself:
    // the same one decides when nothing is exported (see `sampling`).
    let provider = SdkTracerProvider::builder()
        .with_resource(resource.build())
        .with_sampler(sampler);
    let Some(endpoint) = otlp_endpoint() else {
        return (provider.build(), Export::Off);
    };
    let protocol = env_value("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        .or_else(|| env_value("OTEL_EXPORTER_OTLP_PROTOCOL"))
        .unwrap_or_else(|| "grpc".to_owned());
    if protocol != "grpc" {
        let error = format!("OTLP protocol {protocol:?} is not supported; only grpc is");
        return (provider.build(), Export::Failed(error));
    }
    // The exporter reads the endpoint, headers, timeout and compression from the environment.
    match opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .build()
    {
        Ok(exporter) => (
            provider.with_batch_exporter(exporter).build(),
            Export::To(endpoint),
        ),
        Err(error) => (provider.build(), Export::Failed(error.to_string())),
    }
}

/// The collector traces go to, if any: export is off unless an endpoint is set.
fn otlp_endpoint() -> Option<String> {
    if env_value("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return None;
    }
    env_value("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .or_else(|| env_value("OTEL_EXPORTER_OTLP_ENDPOINT"))
}

fn env_value(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
}
