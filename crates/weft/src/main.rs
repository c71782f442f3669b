//! The `weft` binary. Everything lives in `weft-cli`.

fn main() -> std::process::ExitCode {
    weft_cli::main()
}
