use clap::Parser;

// mimalloc instead of the C library's malloc: measured with scripts/bench.sh (docs/benchmark.md),
// glibc's malloc and free were the largest part of each app's own CPU per request (its frees
// merging chunks on every request's large buffers), and the image links musl, whose malloc is
// slower still.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    backend::run(backend::configuration::Config::parse())
}
