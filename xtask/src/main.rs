//! `cargo xtask COMMAND`: the project's tooling, in Rust, next to the code it serves.
//!
//! - `run-local`: the pair on this machine, on real Dapr (`scripts/run-local.sh` calls it);
//! - `rollout`: every replica of a running `run-local` replaced, as Kubernetes does it;
//! - `image`: the container image built from the Dockerfile with buildah, and unpacked;
//! - `bench`: the pair under load next to a floor of echo apps (`scripts/bench.sh`);
//! - `validate-deploy`: the deploy files checked offline with the real tools (`scripts/test.sh`).

mod bench;
mod cargo;
mod image;
mod rollout;
mod run_local;
mod validate_deploy;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "The project's tooling")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the frontend and backend with their Dapr sidecars on this machine.
    RunLocal(run_local::Args),
    /// Replaces every replica of a running `run-local` (same --data-dir), as Kubernetes does.
    Rollout(rollout::Args),
    /// Builds the container image from the Dockerfile with buildah (the binary made on this
    /// host), unpacks it under the target folder, and prints its tag and size.
    Image(image::Args),
    /// Benchmarks the pair against a floor of echo apps on the same Dapr topology.
    Bench(bench::Args),
    /// Validates the deploy files offline with azure-cli, kustomize, daprd and linters.
    ValidateDeploy(validate_deploy::Args),
}

fn main() -> ExitCode {
    let outcome = match Cli::parse().command {
        Command::RunLocal(args) => run_local::run(args),
        Command::Rollout(args) => rollout::run(args),
        Command::Image(args) => image::run(args),
        Command::Bench(args) => bench::run(args),
        Command::ValidateDeploy(args) => validate_deploy::run(args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error:#}");
            ExitCode::FAILURE
        }
    }
}
