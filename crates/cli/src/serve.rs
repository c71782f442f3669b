//! `weft serve`: every role in one process, on local storage.

use std::path::PathBuf;

use clap::{Arg, ArgAction, ArgMatches, Command};
use weft_app::settings::Setting;
use weft_app::{Config, Target};

pub fn command() -> Command {
    with_settings(
        Command::new("serve").about("Run weft: all listeners, embedded local storage"),
        Config::settings(),
    )
}

/// `command` with `--config` and one flag per setting.
pub(crate) fn with_settings(command: Command, settings: Vec<Setting>) -> Command {
    let mut command = command.arg(
        Arg::new("config")
            .long("config")
            .env("WEFT_CONFIG")
            .value_name("FILE")
            .help("YAML configuration file; flags and WEFT_* variables override it"),
    );
    for setting in settings {
        command = command.arg(
            Arg::new(setting.flag.clone())
                .long(setting.flag.clone())
                .value_name("VALUE")
                .action(ArgAction::Set)
                .help(format!(
                    "[env: {}] [default: {}]",
                    setting.env,
                    setting.default_text()
                )),
        );
    }
    command
}

/// Environment variables first, then flags, so flags win.
pub(crate) fn overrides(settings: Vec<Setting>, arguments: &ArgMatches) -> Vec<(Setting, String)> {
    let mut out = Vec::new();
    for setting in &settings {
        if let Ok(value) = std::env::var(&setting.env) {
            out.push((setting.clone(), value));
        }
    }
    for setting in settings {
        if let Some(value) = arguments.get_one::<String>(&setting.flag) {
            let value = value.clone();
            out.push((setting, value));
        }
    }
    out
}

pub async fn run(arguments: &ArgMatches) -> anyhow::Result<()> {
    let file = arguments.get_one::<String>("config").map(PathBuf::from);
    let config = Config::load(file.as_deref(), &overrides(Config::settings(), arguments))?;
    weft_app::run(config, Target::All).await
}
