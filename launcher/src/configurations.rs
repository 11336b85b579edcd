//! The run's copies of the shipped Dapr Configurations (`dapr-config/`): the same files, with
//! daprd's trace exporter pointed at the run's collector, or at nothing.

use std::path::Path;

use anyhow::{Context, bail};

use crate::paths::repo_root;

/// The Configurations of both sidecars as the project ships them, except for where daprd sends
/// its spans: the run's collector, or none. Written to `config_dir` for daprd's `--config`.
pub(crate) fn write_configurations(
    config_dir: &Path,
    otlp_endpoint: Option<&str>,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(config_dir)
        .with_context(|| format!("creating {}", config_dir.display()))?;
    for name in [
        "frontend.yaml",
        "frontend-login.yaml",
        "frontend-session.yaml",
        "backend.yaml",
    ] {
        let shipped = repo_root().join("dapr-config").join(name);
        let text = std::fs::read_to_string(&shipped)
            .with_context(|| format!("reading {}", shipped.display()))?;
        let text = configuration_for_run(&text, otlp_endpoint)
            .with_context(|| format!("{}", shipped.display()))?;
        std::fs::write(config_dir.join(name), text)
            .with_context(|| format!("writing {name} to {}", config_dir.display()))?;
    }
    Ok(())
}

/// The address the shipped Configurations send daprd's spans to: a collector on the laptop.
const SHIPPED_OTLP_ADDRESS: &str = r#"endpointAddress: "localhost:4317""#;

/// `configuration` with daprd's OTLP exporter aimed at `otlp_endpoint` (daprd wants `host:port`
/// for gRPC), or switched off (an empty address: daprd then still makes and passes on trace
/// context, but exports nothing).
fn configuration_for_run(
    configuration: &str,
    otlp_endpoint: Option<&str>,
) -> anyhow::Result<String> {
    if !configuration.contains(SHIPPED_OTLP_ADDRESS) {
        bail!("expected `{SHIPPED_OTLP_ADDRESS}` under spec.tracing.otel");
    }
    let address = match otlp_endpoint {
        None => "",
        Some(url) => url
            .strip_prefix("http://")
            .with_context(|| {
                format!("the OTLP endpoint {url:?} must be http://host:port (no TLS locally)")
            })?
            .trim_end_matches('/'),
    };
    Ok(configuration.replace(
        SHIPPED_OTLP_ADDRESS,
        &format!(r#"endpointAddress: "{address}""#),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_sends_daprd_spans_to_its_collector_or_nowhere() {
        let shipped =
            std::fs::read_to_string(repo_root().join("dapr-config/frontend.yaml")).unwrap();
        let traced = configuration_for_run(&shipped, Some("http://127.0.0.1:4999")).unwrap();
        assert!(
            traced.contains(r#"endpointAddress: "127.0.0.1:4999""#),
            "{traced}"
        );
        let silent = configuration_for_run(&shipped, None).unwrap();
        assert!(silent.contains(r#"endpointAddress: """#), "{silent}");
        assert!(configuration_for_run(&shipped, Some("https://collector:4317")).is_err());
    }
}
