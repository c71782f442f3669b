//! The weft command tree: serve, search, trace, bench.

use std::process::ExitCode;

/// Parses the command line and runs the chosen command.
pub fn main() -> ExitCode {
    ExitCode::SUCCESS
}
