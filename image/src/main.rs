//! One binary for the one container image: it runs the frontend or the backend. The image has
//! no shell (it is `scratch`), so the choice is made here, from the first argument
//! (`dapr-pair backend --port 8080`) or else from `SERVICE` (what `az containerapp up
//! --env-vars SERVICE=backend` sets). Every other argument and variable is the chosen
//! service's own, exactly as with its separate binary.
//!
//! `dapr-pair describe` prints what both services say of themselves, as JSON: their routes,
//! settings, what each auth mode needs, the Dapr APIs and state stores they call. The deploy
//! checks (`cargo xtask validate-deploy`) read that instead of the source text.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

// The allocator of the two apps' own binaries (see frontend/src/main.rs for why).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    Frontend,
    Backend,
}

impl Service {
    fn from_name(name: &str) -> Option<Self> {
        match name {
            "frontend" => Some(Self::Frontend),
            "backend" => Some(Self::Backend),
            _ => None,
        }
    }
}

/// The service to run and the arguments to give it (program name first, as clap expects).
fn choose(
    mut args: Vec<OsString>,
    service_env: Option<OsString>,
) -> Result<(Service, Vec<OsString>), String> {
    if let Some(service) = args
        .get(1)
        .and_then(|a| a.to_str())
        .and_then(Service::from_name)
    {
        args.remove(1);
        return Ok((service, args));
    }
    match service_env {
        Some(name) => match name.to_str().and_then(Service::from_name) {
            Some(service) => Ok((service, args)),
            None => Err(format!(
                "SERVICE is {name:?}: it must be `frontend` or `backend`"
            )),
        },
        None => Err(
            "say which service to run: set SERVICE=frontend or SERVICE=backend, or pass it as the first argument"
                .into(),
        ),
    }
}

/// Both services' descriptions (service_kit::description), by name.
fn description() -> serde_json::Value {
    serde_json::json!({
        "frontend": frontend::description::describe(),
        "backend": backend::description::describe(),
    })
}

fn main() -> ExitCode {
    if std::env::args_os()
        .nth(1)
        .is_some_and(|arg| arg == "describe")
    {
        println!("{:#}", description());
        return ExitCode::SUCCESS;
    }
    let (service, args) = match choose(std::env::args_os().collect(), std::env::var_os("SERVICE")) {
        Ok(chosen) => chosen,
        Err(message) => {
            eprintln!("dapr-pair: {message}");
            return ExitCode::from(2);
        }
    };
    match service {
        Service::Frontend => frontend::run(frontend::configuration::Config::parse_from(args)),
        Service::Backend => backend::run(backend::configuration::Config::parse_from(args)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_description_has_both_services_with_what_the_deploy_checks_read() {
        let description = description();
        for service in ["frontend", "backend"] {
            for field in [
                "routes",
                "probes",
                "settings",
                "required_settings",
                "dapr_apis",
                "state_stores",
            ] {
                assert!(
                    description[service].get(field).is_some(),
                    "{service}.{field}"
                );
            }
        }
        assert_eq!(
            description["backend"]["state_stores"][0]["default"],
            "statestore"
        );
    }

    #[test]
    fn the_first_argument_names_the_service_and_is_not_passed_on() {
        let (service, rest) = choose(args(&["dapr-pair", "backend", "--port", "1"]), None).unwrap();
        assert_eq!(service, Service::Backend);
        assert_eq!(rest, args(&["dapr-pair", "--port", "1"]));
    }

    #[test]
    fn service_names_it_when_the_first_argument_does_not() {
        let (service, rest) =
            choose(args(&["dapr-pair", "--port", "1"]), Some("frontend".into())).unwrap();
        assert_eq!(service, Service::Frontend);
        assert_eq!(rest, args(&["dapr-pair", "--port", "1"]));
    }

    #[test]
    fn the_argument_wins_over_service() {
        let (service, _) =
            choose(args(&["dapr-pair", "frontend"]), Some("backend".into())).unwrap();
        assert_eq!(service, Service::Frontend);
    }

    #[test]
    fn an_unknown_or_missing_service_is_an_error_that_says_what_to_set() {
        let error = choose(args(&["dapr-pair"]), Some("fronted".into())).unwrap_err();
        assert!(error.contains("\"fronted\""), "{error}");
        let error = choose(args(&["dapr-pair"]), None).unwrap_err();
        assert!(error.contains("SERVICE=frontend"), "{error}");
    }
}
