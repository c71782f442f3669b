//! The compactor: merges small blocks into larger ones, removes duplicate spans,
//! deletes what is past retention and removes what interrupted writes left behind.
//!
//! - [`Compactor`] runs passes over every tenant of a [`weft_storage::BlockStore`]:
//!   [`Compactor::run_once`] for one pass, [`Compactor::spawn`] for the loop.
//! - [`visible_blocks`] is the rule every reader applies to a tenant's complete blocks
//!   so that a merge interrupted between commit and cleanup never shows a span twice.
//! - [`plan_jobs`] is the planner (pure; its rules are in [`plan`]).
//! - Merging is a streaming k-way merge in block order with bounded memory (about one
//!   row group per input), dropping spans that are exact duplicates (see `merge`).
//!
//! Metrics are listed in [`metrics`].

mod compactor;
pub mod config;
pub mod error;
mod merge;
pub mod metrics;
pub mod plan;
mod tenant;

pub use compactor::{AfterPass, CompactionReport, Compactor};
pub use config::CompactorConfig;
pub use error::CompactorError;
pub use plan::{BlockSummary, CompactionJob, plan_jobs, visible_blocks};
