//! `weft agent`: take pushes from local applications in any language into a
//! byte-bounded ring and serve it to weft's scrapers (`docs/pull-protocol.md`).

use std::path::PathBuf;

use clap::{ArgMatches, Command};
use weft_app::AgentConfig;

use crate::serve::{overrides, with_settings};

pub fn command() -> Command {
    with_settings(
        Command::new("agent").about(
            "Take spans pushed by local applications (OTLP, Zipkin, Jaeger) into a ring \
             bounded in bytes and serve them to weft's scrapers",
        ),
        AgentConfig::settings(),
    )
}

pub async fn run(arguments: &ArgMatches) -> anyhow::Result<()> {
    let file = arguments.get_one::<String>("config").map(PathBuf::from);
    let config = AgentConfig::load(
        file.as_deref(),
        &overrides(AgentConfig::settings(), arguments),
    )?;
    weft_app::run_agent(config).await
}
