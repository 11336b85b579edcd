use std::process::ExitCode;

use clap::Parser;
use frontend::configuration::Config;
use frontend::startup::Application;
use service_kit::server::shutdown_signal;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    service_kit::telemetry::init(config.service.log_format);
    let result = match Application::build(config).await {
        Ok(application) => application.run_until_stopped(shutdown_signal()).await.map_err(|e| e.to_string()),
        Err(error) => Err(error.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "frontend stopped");
            ExitCode::FAILURE
        }
    }
}
