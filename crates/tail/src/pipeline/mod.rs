//! Promtail's pipeline stages: each line read becomes a [`PipelineEntry`] that goes
//! through the stages of its scrape config in order.
//!
//! Parsing stages (`cri`, `docker`, `json`, `logfmt`, `regex`) fill the entry's
//! extracted map; `timestamp`, `labels`, `structured_metadata`, `output` and
//! `template` turn extracted values into the timestamp, labels, metadata and line;
//! `drop` and `limit` discard entries; `multiline` (and `cri` for partial lines)
//! hold lines until their entry is complete. A stage that cannot do its work on an
//! entry (bad JSON, a timestamp that does not parse) leaves the entry as it is and
//! counts the failure in `weft_tail_stage_errors_total{job,stage}`; no stage panics.
//!
//! A [`Pipeline`] instance has per-file state (the held lines), so each tailed file
//! gets its own from [`Pipeline::compile`]d settings (`limit` buckets are shared by
//! every file of a scrape config).

mod go_time;
mod json_path;
mod parsers;
mod stages;
mod timestamp;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub use go_time::parse_go_time;
pub use stages::{
    CriConfig, DropConfig, JsonConfig, LimitConfig, LogfmtConfig, MultilineConfig, OutputConfig,
    RegexConfig, TemplateConfig,
};
pub use timestamp::TimestampConfig;

use crate::metrics::{DROPPED_BY_STAGE_TOTAL, STAGE_ERRORS_TOTAL};

/// One log entry in the pipeline.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PipelineEntry {
    /// Stream labels (target labels, then what `labels` stages add).
    pub labels: BTreeMap<String, String>,
    /// Values parsing stages found, by name.
    pub extracted: BTreeMap<String, String>,
    /// The line as it will be shipped.
    pub line: String,
    /// When the line was logged (the read time until a `timestamp` stage sets it).
    pub timestamp_unix_nanos: i64,
    /// Structured metadata pairs shipped with the line.
    pub structured_metadata: BTreeMap<String, String>,
    /// File offset of the first byte of the entry's first line (bookkeeping for
    /// positions: nothing at or after a held entry's start may be committed).
    pub start_offset: u64,
    /// When the entry's first line was read (for `multiline`'s `max_wait_time`).
    pub read_at: Option<Instant>,
}

/// One `pipeline_stages[]` item: a map with one key naming the stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum StageConfig {
    /// CRI-O / containerd log lines: `<time> <stream> <P|F> <content>`, partial lines joined.
    Cri(Option<CriConfig>),
    /// Docker's json-file lines: `{"log":..., "stream":..., "time":...}`.
    Docker(Option<BTreeMap<String, String>>),
    /// JSON fields by expression into the extracted map.
    Json(JsonConfig),
    /// logfmt keys into the extracted map.
    Logfmt(LogfmtConfig),
    /// Named capture groups into the extracted map.
    Regex(RegexConfig),
    /// Joins lines into one entry until a line matches `firstline`.
    Multiline(MultilineConfig),
    /// Sets the entry's timestamp from an extracted value.
    Timestamp(TimestampConfig),
    /// Label name to extracted name (empty or null: the same name).
    Labels(BTreeMap<String, Option<String>>),
    /// Structured metadata name to extracted name (empty or null: the same name).
    StructuredMetadata(BTreeMap<String, Option<String>>),
    /// Labels with fixed values.
    StaticLabels(BTreeMap<String, String>),
    /// Labels removed by name.
    Labeldrop(Vec<String>),
    /// Every label but these removed.
    Labelallow(Vec<String>),
    /// Drops entries by value, expression, age or length.
    Drop(DropConfig),
    /// Rate limit, blocking or dropping.
    Limit(LimitConfig),
    /// Replaces the line with an extracted value.
    Output(OutputConfig),
    /// Sets an extracted value from a small Go-template subset.
    Template(TemplateConfig),
}

impl StageConfig {
    /// The stage's name as written.
    pub fn name(&self) -> &'static str {
        match self {
            StageConfig::Cri(_) => "cri",
            StageConfig::Docker(_) => "docker",
            StageConfig::Json(_) => "json",
            StageConfig::Logfmt(_) => "logfmt",
            StageConfig::Regex(_) => "regex",
            StageConfig::Multiline(_) => "multiline",
            StageConfig::Timestamp(_) => "timestamp",
            StageConfig::Labels(_) => "labels",
            StageConfig::StructuredMetadata(_) => "structured_metadata",
            StageConfig::StaticLabels(_) => "static_labels",
            StageConfig::Labeldrop(_) => "labeldrop",
            StageConfig::Labelallow(_) => "labelallow",
            StageConfig::Drop(_) => "drop",
            StageConfig::Limit(_) => "limit",
            StageConfig::Output(_) => "output",
            StageConfig::Template(_) => "template",
        }
    }
}

/// Why a stage's settings are refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("stage {stage}: {message}")]
pub struct StageError {
    /// Index of the stage in `pipeline_stages`.
    pub stage: usize,
    /// What is wrong, naming the field.
    pub message: String,
}

/// What a stage did with an entry.
pub(crate) enum Outcome {
    /// Pass these on (none: the stage holds the entry; several: it released held ones).
    Pass,
    /// Drop the entry, counted with this reason.
    Drop(&'static str),
    /// The stage failed on the entry; it passes on unchanged.
    Error,
}

/// Compiled stages with per-file state.
#[derive(Debug, Clone)]
pub struct Pipeline {
    job: Arc<str>,
    stages: Vec<stages::Stage>,
}

/// What [`Pipeline::process`] gives back.
#[derive(Debug, Default)]
pub struct Processed {
    /// Entries that passed every stage, in order.
    pub entries: Vec<PipelineEntry>,
    /// How long the caller must wait before shipping them (blocking `limit`).
    pub delay: Duration,
}

impl Pipeline {
    /// Compiles `configs`; errors name the stage index and field.
    pub fn compile(configs: &[StageConfig], job: &str) -> Result<Pipeline, StageError> {
        let stages = configs
            .iter()
            .enumerate()
            .map(|(index, config)| {
                stages::Stage::compile(config).map_err(|message| StageError {
                    stage: index,
                    message: format!("{}: {message}", config.name()),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Pipeline {
            job: Arc::from(job),
            stages,
        })
    }

    /// A copy with empty per-file state (shared `limit` buckets stay shared).
    pub fn fresh(&self) -> Pipeline {
        Pipeline {
            job: self.job.clone(),
            stages: self.stages.iter().map(stages::Stage::fresh).collect(),
        }
    }

    /// Runs `entry` through every stage.
    pub fn process(&mut self, entry: PipelineEntry) -> Processed {
        self.run_from(0, vec![entry])
    }

    /// Releases entries held longer than their stage allows (`multiline`'s
    /// `max_wait_time`) at `now`, and runs them through the stages after.
    pub fn flush_expired(&mut self, now: Instant) -> Processed {
        self.flush(|stage| stage.take_expired(now))
    }

    /// Releases everything held (the file is closed or truncated).
    pub fn flush_all(&mut self) -> Processed {
        self.flush(stages::Stage::take_all)
    }

    /// The smallest start offset among held entries: no position at or after it may
    /// be committed.
    pub fn held_start_offset(&self) -> Option<u64> {
        self.stages
            .iter()
            .filter_map(stages::Stage::held_start)
            .min()
    }

    fn flush(
        &mut self,
        mut take: impl FnMut(&mut stages::Stage) -> Vec<PipelineEntry>,
    ) -> Processed {
        let mut processed = Processed::default();
        for index in 0..self.stages.len() {
            let released = take(&mut self.stages[index]);
            if released.is_empty() {
                continue;
            }
            let more = self.run_from(index + 1, released);
            processed.entries.extend(more.entries);
            processed.delay += more.delay;
        }
        processed
    }

    fn run_from(&mut self, first_stage: usize, mut entries: Vec<PipelineEntry>) -> Processed {
        let mut delay = Duration::ZERO;
        for stage in self.stages.iter_mut().skip(first_stage) {
            if entries.is_empty() {
                break;
            }
            let mut next = Vec::with_capacity(entries.len());
            for entry in entries {
                let mut out = Vec::with_capacity(1);
                match stage.apply(entry, &mut out, &mut delay) {
                    Outcome::Pass => next.extend(out),
                    Outcome::Drop(reason) => {
                        metrics::counter!(DROPPED_BY_STAGE_TOTAL, "job" => self.job.to_string(), "reason" => reason)
                            .increment(1);
                    }
                    Outcome::Error => {
                        metrics::counter!(STAGE_ERRORS_TOTAL, "job" => self.job.to_string(), "stage" => stage.name())
                            .increment(1);
                        next.extend(out);
                    }
                }
            }
            entries = next;
        }
        Processed { entries, delay }
    }
}

#[cfg(test)]
mod tests;
