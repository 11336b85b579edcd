use std::process::ExitCode;

use backend::configuration::Config;
use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    let telemetry = service_kit::telemetry::init("backend", config.service.log_format);
    service_kit::server::run(telemetry, backend::startup::build(config)).await
}
