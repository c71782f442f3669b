//! File service discovery (`file_sd_configs`), Prometheus's `discovery/file`.
//!
//! Every file matching a pattern is read; each group gets source `<file>:<index>` and
//! `__meta_filepath`. A file that cannot be read or parsed keeps its previous groups;
//! a file that no longer matches (deleted) loses them. Instead of inotify, the files'
//! sizes and modification times and the set of matches are polled, which also works on
//! file systems without notifications.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use weft_scrape_config::TargetGroup;
use weft_scrape_config::config::FileSdConfig;
use weft_scrape_config::file_sd::{expand_pattern, read_target_groups};

use super::{Publisher, count_refresh_failure};

type Fingerprint = Vec<(PathBuf, Option<SystemTime>, u64)>;

/// Runs the provider until aborted.
pub(crate) async fn run(config: FileSdConfig, poll_interval: Duration, publisher: Publisher) {
    let refresh_interval = config.refresh_interval.as_std();
    let mut groups_by_file: BTreeMap<PathBuf, Vec<TargetGroup>> = BTreeMap::new();
    let mut last_fingerprint: Option<Fingerprint> = None;
    let mut last_refresh = Instant::now();
    loop {
        let patterns = config.files.clone();
        let fingerprint = tokio::task::spawn_blocking(move || fingerprint(&patterns))
            .await
            .unwrap_or_default();
        let due = last_refresh.elapsed() >= refresh_interval;
        if due || last_fingerprint.as_ref() != Some(&fingerprint) {
            let files: Vec<PathBuf> = fingerprint
                .iter()
                .map(|(path, _, _)| path.clone())
                .collect();
            let previous = std::mem::take(&mut groups_by_file);
            groups_by_file = tokio::task::spawn_blocking(move || read_files(files, previous))
                .await
                .unwrap_or_default();
            publisher.publish(groups_by_file.values().flatten().cloned().collect());
            last_fingerprint = Some(fingerprint);
            last_refresh = Instant::now();
        }
        tokio::time::sleep(poll_interval.min(refresh_interval)).await;
    }
}

/// The files the patterns match, with their modification time and size.
fn fingerprint(patterns: &[String]) -> Fingerprint {
    let mut files = Vec::new();
    for pattern in patterns {
        match expand_pattern(pattern) {
            Ok(paths) => files.extend(paths),
            Err(error) => tracing::warn!(%pattern, %error, "file SD pattern"),
        }
    }
    files.sort();
    files.dedup();
    files
        .into_iter()
        .map(|path| {
            let metadata = std::fs::metadata(&path).ok();
            let modified = metadata
                .as_ref()
                .and_then(|metadata| metadata.modified().ok());
            let size = metadata.map_or(0, |metadata| metadata.len());
            (path, modified, size)
        })
        .collect()
}

fn read_files(
    files: Vec<PathBuf>,
    mut previous: BTreeMap<PathBuf, Vec<TargetGroup>>,
) -> BTreeMap<PathBuf, Vec<TargetGroup>> {
    let mut groups_by_file = BTreeMap::new();
    for file in files {
        match read_target_groups(&file) {
            Ok(groups) => {
                groups_by_file.insert(file, groups);
            }
            Err(error) => {
                count_refresh_failure("file");
                tracing::warn!(%error, "file SD: keeping the previous targets of the file");
                if let Some(groups) = previous.remove(&file) {
                    groups_by_file.insert(file, groups);
                }
            }
        }
    }
    groups_by_file
}
