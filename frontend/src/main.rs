use std::process::ExitCode;

use clap::Parser;
use frontend::configuration::Config;

fn main() -> ExitCode {
    let config = Config::parse();
    let (threads, log_format) = (config.service.worker_threads, config.service.log_format);
    service_kit::server::main("frontend", threads, log_format, || {
        frontend::startup::build(config)
    })
}
