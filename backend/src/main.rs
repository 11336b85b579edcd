use clap::Parser;

fn main() -> std::process::ExitCode {
    backend::run(backend::configuration::Config::parse())
}
