//! What `weft bench pull` writes for the server and reads back from it: the file
//! service discovery list of the simulated targets, the Prometheus scrape
//! configuration pointing at it, and sums over the server's `/metrics` text.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// The scrape job's name in the written configuration (the `job` label).
pub const JOB_NAME: &str = "weft-bench-pull";

/// A file SD target group file (JSON) listing every address as one group with the label
/// `bench="pull"`.
pub fn file_sd_json(addresses: &[SocketAddr]) -> String {
    let targets: Vec<String> = addresses.iter().map(SocketAddr::to_string).collect();
    let groups = serde_json::json!([{ "targets": targets, "labels": { "bench": "pull" } }]);
    groups.to_string()
}

/// A Prometheus configuration with one job scraping the targets listed in the file SD
/// file `targets_file` every `interval` (whole milliseconds; the timeout equals the
/// interval, the longest Prometheus allows) on `/weft/spans`.
pub fn scrape_config_yaml(targets_file: &Path, interval: Duration) -> String {
    let interval_millis = interval.as_millis().max(1);
    // JSON strings are valid YAML scalars, which quotes any path safely.
    let file = serde_json::Value::String(targets_file.display().to_string());
    format!(
        "scrape_configs:\n  - job_name: {JOB_NAME}\n    scrape_interval: {interval_millis}ms\n    scrape_timeout: {interval_millis}ms\n    metrics_path: /weft/spans\n    file_sd_configs:\n      - files: [{file}]\n"
    )
}

/// The sum of every sample of metric `name` (any labels) in a Prometheus text
/// exposition; 0 when there is none. Samples whose value does not parse are skipped.
pub fn metric_sum(metrics_text: &str, name: &str) -> f64 {
    metrics_text
        .lines()
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_written_files_parse_as_prometheus_config_and_file_sd() {
        let addresses: Vec<SocketAddr> = vec![
            "127.0.0.1:40001".parse().expect("address"),
            "127.0.0.1:40002".parse().expect("address"),
        ];
        let groups =
            weft_scrape_config::file_sd::parse_target_groups(&file_sd_json(&addresses), "t.json")
                .expect("valid file SD JSON");
        assert_eq!(groups.len(), 1);
        let group_text = format!("{groups:?}");
        assert!(group_text.contains("127.0.0.1:40001"), "{group_text}");
        assert!(group_text.contains("127.0.0.1:40002"), "{group_text}");
        assert!(group_text.contains("bench"), "{group_text}");

        let path = Path::new("/tmp/dir with space/targets \"a\".json");
        let yaml = scrape_config_yaml(path, Duration::from_secs(1));
        let config = weft_scrape_config::config::Config::parse(&yaml, "prometheus.yml")
            .unwrap_or_else(|error| panic!("{error}\n{yaml}"));
        let job = config.job(JOB_NAME).expect("the job");
        assert_eq!(job.metrics_path, "/weft/spans");
        assert_eq!(job.file_sd_configs.len(), 1);
        assert_eq!(job.file_sd_configs[0].files, [path.display().to_string()]);
        assert_eq!(job.scrape_interval.as_std(), Duration::from_secs(1));
        assert_eq!(job.scrape_timeout.as_std(), Duration::from_secs(1));
    }

    #[test]
    fn metric_sums_cover_every_label_set_and_only_that_name() {
        let text = "# HELP weft_scrape_spans_total Spans.\n# TYPE weft_scrape_spans_total counter\nweft_scrape_spans_total{job=\"a\",instance=\"x\"} 100\nweft_scrape_spans_total{job=\"a\",instance=\"y\"} 23\nweft_scrape_spans_total_other 5\nweft_scrape_spans_rejected_total{job=\"a\"} 7\n";
        assert_eq!(metric_sum(text, "weft_scrape_spans_total"), 123.0);
        assert_eq!(metric_sum(text, "weft_scrape_spans_rejected_total"), 7.0);
        assert_eq!(metric_sum(text, "weft_missing_total"), 0.0);
        assert_eq!(metric_sum("weft_up 1\n", "weft_up"), 1.0);
    }
}
