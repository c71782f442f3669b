//! Roles, their wiring in one place, configuration composition and process lifecycle.
//!
//! [`Target`] names what a process runs; [`run`] wires the parts for it. In all-in-one
//! mode the receivers hand batches to the distributor through the in-process
//! [`weft_model::SpanSink`], and the query APIs read through the in-process
//! [`weft_model::TraceReader`]; scaled-out roles will swap in network implementations of
//! the same traits here, and nowhere else.

pub mod agent;
pub mod config;
mod lifecycle;
mod logs;
mod observability;
pub mod sampling;
pub mod scrape;
pub mod scraper_role;
pub mod settings;

pub use agent::{AgentConfig, run_agent};
pub use config::{Config, ConfigError};
pub use lifecycle::run;
pub use scraper_role::{ScraperConfig, run_scraper};

/// What a weft process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Target {
    /// Every role in one process, on local storage: `weft serve`.
    #[default]
    All,
}
