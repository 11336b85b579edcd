use std::process::ExitCode;

use backend::configuration::Config;
use clap::Parser;

fn main() -> ExitCode {
    let config = Config::parse();
    let (threads, log_format) = (config.service.worker_threads, config.service.log_format);
    service_kit::server::main("backend", threads, log_format, || {
        backend::startup::build(config)
    })
}
