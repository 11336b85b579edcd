use std::process::ExitCode;

use clap::Parser;
use frontend::configuration::Config;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    let telemetry = service_kit::telemetry::init("frontend", config.service.log_format);
    service_kit::server::run(telemetry, frontend::startup::build(config)).await
}
