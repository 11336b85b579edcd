use clap::Parser;

fn main() -> std::process::ExitCode {
    frontend::run(frontend::configuration::Config::parse())
}
