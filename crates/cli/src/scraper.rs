//! `weft scraper`: pull spans from the targets of a Prometheus scrape configuration and
//! forward them over OTLP/gRPC to the weft that stores them.

use std::path::PathBuf;

use clap::{ArgMatches, Command};
use weft_app::ScraperConfig;

use crate::serve::{overrides, with_settings};

pub fn command() -> Command {
    with_settings(
        Command::new("scraper").about(
            "Scrape spans from the targets of --scrape.config-file and forward them over \
             OTLP/gRPC to the weft at --forward.endpoint (run several for sharding or high \
             availability)",
        ),
        ScraperConfig::settings(),
    )
}

pub async fn run(arguments: &ArgMatches) -> anyhow::Result<()> {
    let file = arguments.get_one::<String>("config").map(PathBuf::from);
    let config = ScraperConfig::load(
        file.as_deref(),
        &overrides(ScraperConfig::settings(), arguments),
    )?;
    weft_app::run_scraper(config).await
}
