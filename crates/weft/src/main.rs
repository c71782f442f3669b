//! The `weft` binary. Everything lives in `weft-cli`.

// glibc's allocator spent a third of the server's CPU in malloc/free under load and kept
// freed memory fragmented (docs/benchmarks.md); mimalloc is faster and returns memory.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    weft_cli::main()
}
