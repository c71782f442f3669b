//! Tests of `manager.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use weft_scrape_config::TargetGroup;

use super::add_job_targets;
use crate::config::{LogScrapeConfig, TailConfig};
use crate::pipeline::Pipeline;
use crate::tailer::TargetSpec;

/// The first scrape config of `scrape_yaml` (one `scrape_configs` entry), validated.
fn scrape_config(scrape_yaml: &str) -> LogScrapeConfig {
    let yaml = format!(
        "clients: [{{url: 'http://localhost:3100/loki/api/v1/push'}}]\nscrape_configs:\n{scrape_yaml}"
    );
    let mut config: TailConfig = serde_saphyr::from_str(&yaml).expect("config parses");
    config.validate().expect("config is valid");
    config.scrape_configs.remove(0)
}

fn group(labels: &[(&str, &str)], targets: &[&str]) -> TargetGroup {
    TargetGroup {
        targets: targets
            .iter()
            .map(|address| BTreeMap::from([(String::from("__address__"), address.to_string())]))
            .collect(),
        labels: labels
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect(),
        source: String::from("test:0"),
    }
}

fn desired(
    config: &LogScrapeConfig,
    groups: &[TargetGroup],
) -> BTreeMap<PathBuf, (String, TargetSpec)> {
    let pipeline = Pipeline::compile(&config.pipeline_stages, &config.job_name).expect("pipeline");
    let mut desired = BTreeMap::new();
    add_job_targets(&mut desired, config, &pipeline, groups);
    desired
}

fn touch(path: &Path) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, "line\n").expect("write");
}

/// Promtail's Kubernetes pod recipe: the path comes from the pod uid and container
/// name, the stream labels from other `__meta_kubernetes_*` labels, and no `__meta`
/// label reaches the stream.
#[test]
fn kubernetes_pod_meta_labels_build_the_path_and_the_stream_labels() {
    let root = tempfile::tempdir().expect("tempdir");
    let pods = root.path().join("pods");
    let api_log = pods.join("shop_api-7d9_uid-1/api/0.log");
    let sidecar_log = pods.join("shop_api-7d9_uid-1/sidecar/0.log");
    let other_pod_log = pods.join("shop_web-1_uid-2/web/0.log");
    for path in [&api_log, &sidecar_log, &other_pod_log] {
        touch(path);
    }
    let config = scrape_config(&format!(
        r#"
  - job_name: kubernetes-pods
    kubernetes_sd_configs: [{{role: pod, api_server: "https://127.0.0.1:6443"}}]
    relabel_configs:
      - source_labels: [__meta_kubernetes_pod_uid, __meta_kubernetes_pod_container_name]
        separator: /
        target_label: __path__
        replacement: {pods}/*$1/*.log
      - {{source_labels: [__meta_kubernetes_namespace], target_label: namespace}}
      - {{source_labels: [__meta_kubernetes_pod_name], target_label: pod}}
      - {{source_labels: [__meta_kubernetes_pod_container_name], target_label: container}}
"#,
        pods = pods.display()
    ));
    let pod = |container: &str| {
        group(
            &[
                ("__meta_kubernetes_namespace", "shop"),
                ("__meta_kubernetes_pod_name", "api-7d9"),
                ("__meta_kubernetes_pod_uid", "uid-1"),
                ("__meta_kubernetes_pod_container_name", container),
            ],
            &["10.0.0.7:8080"],
        )
    };
    let desired = desired(&config, &[pod("api"), pod("sidecar")]);
    assert_eq!(
        desired.keys().cloned().collect::<Vec<_>>(),
        vec![api_log.clone(), sidecar_log]
    );
    let (job, spec) = &desired[&api_log];
    assert_eq!(job, "kubernetes-pods");
    let expected: BTreeMap<String, String> = [
        ("container", "api"),
        ("namespace", "shop"),
        ("pod", "api-7d9"),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value.to_owned()))
    .collect();
    assert_eq!(spec.labels, expected);
}

/// Groups of several providers are one union; a path two targets match goes to the
/// first, `__path_exclude__` still applies, and a target without `__path__` after
/// relabeling is skipped.
#[test]
fn groups_of_every_provider_are_tailed_with_their_discovered_labels() {
    let root = tempfile::tempdir().expect("tempdir");
    for name in ["a.log", "b.log", "skip.log"] {
        touch(&root.path().join(name));
    }
    let config = scrape_config(&format!(
        r#"
  - job_name: discovered
    http_sd_configs: [{{url: "http://127.0.0.1:1/targets"}}]
    dns_sd_configs: [{{names: [logs.example.org], type: A, port: 80}}]
    relabel_configs:
      - {{source_labels: [__meta_app], regex: "(.+)", target_label: __path__, replacement: "{root}/$1.log"}}
      - {{source_labels: [__meta_app], target_label: app}}
      - {{source_labels: [__meta_exclude], regex: "(.+)", target_label: __path_exclude__, replacement: "{root}/$1.log"}}
"#,
        root = root.path().display()
    ));
    let from_http = group(&[("__meta_app", "a"), ("team", "payments")], &["x:1"]);
    let from_dns = group(&[("__meta_app", "b")], &["10.0.0.1:80"]);
    let claims_a_again = group(&[("__meta_app", "a"), ("team", "other")], &["y:1"]);
    let excluded = group(
        &[("__meta_app", "skip"), ("__meta_exclude", "skip")],
        &["z:1"],
    );
    let without_path = group(&[("team", "no-path")], &["w:1"]);
    let desired = desired(
        &config,
        &[from_http, from_dns, claims_a_again, excluded, without_path],
    );
    let paths: Vec<PathBuf> = desired.keys().cloned().collect();
    assert_eq!(
        paths,
        vec![root.path().join("a.log"), root.path().join("b.log")]
    );
    let labels_of = |name: &str| desired[&root.path().join(name)].1.labels.clone();
    assert_eq!(
        labels_of("a.log").get("team").map(String::as_str),
        Some("payments")
    );
    assert_eq!(labels_of("a.log").get("app").map(String::as_str), Some("a"));
    assert_eq!(labels_of("b.log").get("app").map(String::as_str), Some("b"));
    assert!(
        labels_of("b.log")
            .keys()
            .all(|name| !name.starts_with("__"))
    );
}

/// A group without targets is one target with its labels, unless it has no labels
/// either (a Kubernetes pod without an IP yet): then it is none, not an invalid
/// target.
#[test]
fn a_group_without_targets_or_labels_is_no_target() {
    assert_eq!(super::targets_of(&group(&[], &[])).len(), 0);
    let only_labels = super::targets_of(&group(&[("__path__", "/x/*.log")], &[]));
    assert_eq!(only_labels.len(), 1);
    assert_eq!(only_labels[0].get("__path__"), "/x/*.log");
}

/// A target gone from discovery is gone from the desired paths (its follower is
/// then stopped by the sync).
#[test]
fn a_group_gone_from_discovery_leaves_the_desired_paths() {
    let root = tempfile::tempdir().expect("tempdir");
    touch(&root.path().join("a.log"));
    touch(&root.path().join("b.log"));
    let config = scrape_config(&format!(
        r#"
  - job_name: discovered
    http_sd_configs: [{{url: "http://127.0.0.1:1/targets"}}]
    relabel_configs:
      - {{source_labels: [__meta_app], target_label: __path__, replacement: "{root}/$1.log"}}
"#,
        root = root.path().display()
    ));
    let a = group(&[("__meta_app", "a")], &["x:1"]);
    let b = group(&[("__meta_app", "b")], &["x:2"]);
    assert_eq!(desired(&config, &[a.clone(), b]).len(), 2);
    let after = desired(&config, &[a]);
    assert_eq!(
        after.keys().cloned().collect::<Vec<_>>(),
        vec![root.path().join("a.log")]
    );
}
