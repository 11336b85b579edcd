use std::process::ExitCode;

use clap::Parser;
use frontend::configuration::Config;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    service_kit::telemetry::init(config.service.log_format);
    service_kit::server::run(frontend::startup::build(config)).await
}
