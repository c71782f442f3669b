//! The weft command tree: `serve`, `agent`, `scraper`, `search`, `query`, `tags`, `trace`, `logs`, `graph`, `compare`, `sampling`, `targets`, `bench`.
//!
//! `main` parses the command line, builds a Tokio runtime and hands off to one module per
//! command. `serve`'s flags are generated from the configuration (see
//! `weft_app::settings`), so every config key is a flag and a `WEFT_*` variable.

mod agent;
mod bench;
mod bench_export;
mod bench_logs;
mod bench_pull;
mod bench_query;
mod bench_soak;
mod bench_storage;
mod compare;
mod graph;
mod graph_render;
mod inspect;
mod logs;
mod query;
mod sampling;
mod scraper;
mod serve;
mod targets;
mod waterfall;

use std::process::ExitCode;

use clap::{Arg, ArgAction, Command};

fn command() -> Command {
    Command::new("weft")
        .about("weft: a distributed tracing backend")
        .version(env!("CARGO_PKG_VERSION"))
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(serve::command())
        .subcommand(agent::command())
        .subcommand(scraper::command())
        .subcommand(inspect::search_command())
        .subcommand(query::query_command())
        .subcommand(query::tags_command())
        .subcommand(inspect::trace_command())
        .subcommand(logs::command())
        .subcommand(graph::command())
        .subcommand(sampling::command())
        .subcommand(targets::command())
        .subcommand(compare::command())
        .subcommand(bench::command())
}

/// The `--server` argument shared by the commands that talk to a running weft.
pub(crate) fn server_arg() -> Arg {
    Arg::new("server")
        .long("server")
        .env("WEFT_SERVER")
        .default_value("http://127.0.0.1:3200")
        .action(ArgAction::Set)
        .help("Base URL of a running weft's HTTP API (--http.listen)")
}

/// The `--tenant` argument: the `X-Scope-OrgID` sent when multi-tenancy is on.
pub(crate) fn tenant_arg() -> Arg {
    Arg::new("tenant")
        .long("tenant")
        .env("WEFT_TENANT")
        .action(ArgAction::Set)
        .help("Tenant to read (sent as X-Scope-OrgID; needed when multi-tenancy is enabled)")
}

/// Parses the command line and runs the chosen command.
pub fn main() -> ExitCode {
    let matches = command().get_matches();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match matches.subcommand() {
            Some(("serve", arguments)) => serve::run(arguments).await,
            Some(("agent", arguments)) => agent::run(arguments).await,
            Some(("scraper", arguments)) => scraper::run(arguments).await,
            Some(("search", arguments)) => inspect::search(arguments).await,
            Some(("query", arguments)) => query::query(arguments).await,
            Some(("tags", arguments)) => query::tags(arguments).await,
            Some(("trace", arguments)) => inspect::trace(arguments).await,
            Some(("logs", arguments)) => logs::run(arguments).await,
            Some(("graph", arguments)) => graph::run(arguments).await,
            Some(("sampling", arguments)) => sampling::run(arguments).await,
            Some(("targets", arguments)) => targets::run(arguments).await,
            Some(("compare", arguments)) => compare::run(arguments).await,
            Some(("bench", arguments)) => bench::run(arguments).await,
            _ => Err(anyhow::anyhow!("unknown command")),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn command_tree_is_consistent() {
        super::command().debug_assert();
    }
}
