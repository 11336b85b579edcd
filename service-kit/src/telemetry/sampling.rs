//! Which new traces are sampled. The app decides for every trace that starts with it (a request
//! without a `traceparent`), and daprd records what the app samples: wherever requests reach the
//! app first, this setting, not daprd's `samplingRate`, is the share of traces recorded.
//!
//! The settings are the standard `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`, read here
//! rather than by the OpenTelemetry SDK: the SDK falls back to its default on a value it does not
//! know, where a mistake here stops the start with an error that says what is accepted; and the
//! same sampler decides when nothing is exported, for the `traceparent` daprd is handed.

use clap::ValueEnum;
use opentelemetry_sdk::trace::Sampler;

/// Flattened into [`crate::settings::ServiceSettings`].
#[derive(clap::Args, Debug, Clone, Default)]
pub struct SamplingSettings {
    /// Which new traces are sampled, here and by daprd: `always_on`, `always_off`,
    /// `traceidratio` (the share OTEL_TRACES_SAMPLER_ARG of them), or `parentbased_` followed by
    /// one of those, which keeps the decision a caller's `traceparent` carries.
    #[arg(long, env = "OTEL_TRACES_SAMPLER", value_enum, default_value_t, value_parser = parse_sampler)]
    pub traces_sampler: SamplerName,

    /// The share of new traces the `traceidratio` samplers sample, from 0 to 1 (default 1).
    #[arg(long, env = "OTEL_TRACES_SAMPLER_ARG", value_parser = parse_ratio)]
    pub traces_sampler_arg: Option<f64>,
}

/// The samplers of the OpenTelemetry specification that need nothing outside the app.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SamplerName {
    #[value(name = "always_on")]
    AlwaysOn,
    #[value(name = "always_off")]
    AlwaysOff,
    #[value(name = "traceidratio")]
    TraceIdRatio,
    /// A caller's decision is kept; every new trace is sampled.
    #[default]
    #[value(name = "parentbased_always_on")]
    ParentBasedAlwaysOn,
    #[value(name = "parentbased_always_off")]
    ParentBasedAlwaysOff,
    #[value(name = "parentbased_traceidratio")]
    ParentBasedTraceIdRatio,
}

/// The ratio of the `traceidratio` samplers when OTEL_TRACES_SAMPLER_ARG is not set: all.
const UNSET_RATIO: f64 = 1.0;

impl SamplingSettings {
    pub fn sampler(&self) -> Sampler {
        let ratio = self.traces_sampler_arg.unwrap_or(UNSET_RATIO);
        let parent_based = |root| Sampler::ParentBased(Box::new(root));
        match self.traces_sampler {
            SamplerName::AlwaysOn => Sampler::AlwaysOn,
            SamplerName::AlwaysOff => Sampler::AlwaysOff,
            SamplerName::TraceIdRatio => Sampler::TraceIdRatioBased(ratio),
            SamplerName::ParentBasedAlwaysOn => parent_based(Sampler::AlwaysOn),
            SamplerName::ParentBasedAlwaysOff => parent_based(Sampler::AlwaysOff),
            SamplerName::ParentBasedTraceIdRatio => parent_based(Sampler::TraceIdRatioBased(ratio)),
        }
    }
}

// Both parsers take an empty value as unset, as the OpenTelemetry specification says of its
// variables (clap passes an empty variable on as a value).

fn parse_sampler(text: &str) -> Result<SamplerName, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(SamplerName::default());
    }
    SamplerName::from_str(text, true).map_err(|_| {
        let names: Vec<_> = SamplerName::value_variants()
            .iter()
            .filter_map(|name| name.to_possible_value())
            .map(|name| name.get_name().to_owned())
            .collect();
        format!(
            "OTEL_TRACES_SAMPLER {text:?} is not one of {}",
            names.join(", ")
        )
    })
}

fn parse_ratio(text: &str) -> Result<f64, String> {
    if text.trim().is_empty() {
        return Ok(UNSET_RATIO);
    }
    text.trim()
        .parse()
        .ok()
        .filter(|ratio| (0.0..=1.0).contains(ratio))
        .ok_or_else(|| {
            format!("OTEL_TRACES_SAMPLER_ARG {text:?} is not a share of traces: a number from 0 to 1 (0.1 is one in ten)")
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Parser)]
    struct Config {
        #[command(flatten)]
        sampling: SamplingSettings,
    }

    fn sampler(args: &[&str]) -> Result<String, clap::Error> {
        let config = Config::try_parse_from(std::iter::once("app").chain(args.iter().copied()))?;
        Ok(format!("{:?}", config.sampling.sampler()))
    }

    #[test]
    fn the_default_keeps_a_callers_decision_and_samples_every_new_trace() {
        assert_eq!(sampler(&[]).unwrap(), "ParentBased(AlwaysOn)");
        assert_eq!(
            format!("{:?}", SamplingSettings::default().sampler()),
            "ParentBased(AlwaysOn)"
        );
    }

    #[test]
    fn each_standard_sampler_is_the_sdks_own() {
        for (name, expected) in [
            ("always_on", "AlwaysOn"),
            ("always_off", "AlwaysOff"),
            ("traceidratio", "TraceIdRatioBased(1.0)"),
            ("parentbased_always_on", "ParentBased(AlwaysOn)"),
            ("parentbased_always_off", "ParentBased(AlwaysOff)"),
            (
                "parentbased_traceidratio",
                "ParentBased(TraceIdRatioBased(1.0))",
            ),
            ("ParentBased_Always_Off", "ParentBased(AlwaysOff)"),
        ] {
            assert_eq!(
                sampler(&["--traces-sampler", name]).unwrap(),
                expected,
                "{name}"
            );
        }
        assert_eq!(
            sampler(&[
                "--traces-sampler",
                "parentbased_traceidratio",
                "--traces-sampler-arg",
                "0.25"
            ])
            .unwrap(),
            "ParentBased(TraceIdRatioBased(0.25))"
        );
    }

    #[test]
    fn an_empty_value_is_unset() {
        let empty = ["--traces-sampler=", "--traces-sampler-arg="];
        assert_eq!(sampler(&empty).unwrap(), "ParentBased(AlwaysOn)");
        let ratio = ["--traces-sampler=traceidratio", "--traces-sampler-arg= "];
        assert_eq!(sampler(&ratio).unwrap(), "TraceIdRatioBased(1.0)");
    }

    #[test]
    fn an_unknown_sampler_or_a_ratio_outside_0_to_1_stops_the_start() {
        let error = sampler(&["--traces-sampler", "jaeger_remote"]).unwrap_err();
        assert!(
            error.to_string().contains("parentbased_traceidratio"),
            "{error}"
        );
        for ratio in ["1.5", "-0.1", "half", "NaN"] {
            let error = sampler(&[&format!("--traces-sampler-arg={ratio}")]).unwrap_err();
            assert!(
                error.to_string().contains("from 0 to 1"),
                "{ratio}: {error}"
            );
        }
    }

    #[test]
    fn the_settings_are_the_standard_environment_variables() {
        let command = Config::command();
        let env = |id: &str| {
            let argument = command.get_arguments().find(|a| a.get_id() == id).unwrap();
            argument
                .get_env()
                .and_then(|name| name.to_str())
                .map(str::to_owned)
        };
        assert_eq!(
            env("traces_sampler").as_deref(),
            Some("OTEL_TRACES_SAMPLER")
        );
        assert_eq!(
            env("traces_sampler_arg").as_deref(),
            Some("OTEL_TRACES_SAMPLER_ARG")
        );
    }
}
