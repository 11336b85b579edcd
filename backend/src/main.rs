use std::process::ExitCode;

use backend::configuration::Config;
use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    service_kit::telemetry::init(config.service.log_format);
    service_kit::server::run(backend::startup::build(config)).await
}
