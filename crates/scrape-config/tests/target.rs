//! Target label computation, scrape URLs and offsets; vectors from Prometheus's
//! `scrape/manager_test.go` (TestPopulateLabels) and `scrape/target_test.go`
//! (TestTargetURL, TestTargetOffset).

use std::collections::BTreeMap;
use std::time::Duration;

use weft_scrape_config::config::GlobalConfig;
use weft_scrape_config::file_sd::parse_target_groups;
use weft_scrape_config::offset::offset;
use weft_scrape_config::target::{Target, TargetError, targets_from_group};
use weft_scrape_config::{
    Config, Labels, PrometheusDuration, ScrapeConfig, TargetGroup, TargetOutcome, populate_labels,
};

fn job(scheme: &str, relabel_yaml: &str) -> ScrapeConfig {
    let mut config = ScrapeConfig::new("job", &GlobalConfig::default());
    config.scheme = scheme.to_owned();
    config.scrape_interval = PrometheusDuration::from_secs(1);
    config.scrape_timeout = PrometheusDuration::from_secs(1);
    if !relabel_yaml.is_empty() {
        config.relabel_configs = serde_saphyr::from_str(relabel_yaml).expect("valid rules");
    }
    config
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

/// The labels Prometheus's defaults add for `job("https", ..)` with 1s/1s.
fn with_defaults(pairs: &[(&str, &str)], scheme: &str) -> Labels {
    let mut labels = Labels::from_pairs([
        ("__scheme__", scheme),
        ("__metrics_path__", "/metrics"),
        ("job", "job"),
        ("__scrape_interval__", "1s"),
        ("__scrape_timeout__", "1s"),
        ("__convert_classic_histograms_to_nhcb__", "false"),
        ("__always_scrape_classic_histograms__", "false"),
        ("__scrape_native_histograms__", "false"),
    ]);
    for (name, value) in pairs {
        labels.set(*name, *value);
    }
    labels
}

fn active(config: &ScrapeConfig, target: &[(&str, &str)]) -> Target {
    match populate_labels(config, &map(target), &BTreeMap::new()) {
        Ok(TargetOutcome::Active(target)) => target,
        other => panic!("expected an active target, got {other:?}"),
    }
}

#[test]
fn regular_population_of_scrape_config_options() {
    let target = active(
        &job("https", ""),
        &[("__address__", "1.2.3.4:1000"), ("custom", "value")],
    );
    assert_eq!(
        target.labels,
        with_defaults(
            &[
                ("__address__", "1.2.3.4:1000"),
                ("instance", "1.2.3.4:1000"),
                ("custom", "value")
            ],
            "https"
        )
    );
    assert_eq!(
        target.discovered_labels,
        with_defaults(
            &[("__address__", "1.2.3.4:1000"), ("custom", "value")],
            "https"
        )
    );
    assert_eq!(
        target.public_labels(),
        Labels::from_pairs([
            ("custom", "value"),
            ("instance", "1.2.3.4:1000"),
            ("job", "job")
        ])
    );
}

#[test]
fn discovered_labels_override_config_defaults_and_no_port_is_added() {
    let discovered = [
        ("__address__", "1.2.3.4"),
        ("__scheme__", "http"),
        ("__metrics_path__", "/custom"),
        ("job", "custom-job"),
        ("__scrape_interval__", "2s"),
        ("__scrape_timeout__", "2s"),
    ];
    let target = active(&job("https", ""), &discovered);
    let mut expected = with_defaults(&discovered, "http");
    expected.set("instance", "1.2.3.4");
    assert_eq!(target.labels, expected);
    assert_eq!(target.scrape_interval.to_string(), "2s");
    assert_eq!(
        target.scrape_url(&job("https", "")),
        "http://1.2.3.4/custom"
    );
}

#[test]
fn provided_instance_is_kept_and_default_ports_stay() {
    let target = active(
        &job("https", ""),
        &[("__address__", "[::1]"), ("instance", "custom-instance")],
    );
    assert_eq!(target.labels.get("instance"), "custom-instance");
    assert_eq!(target.labels.get("__address__"), "[::1]");
    let target = active(&job("http", ""), &[("__address__", "1.2.3.4:80")]);
    assert_eq!(target.labels.get("__address__"), "1.2.3.4:80");
    assert_eq!(target.labels.get("instance"), "1.2.3.4:80");
}

#[test]
fn address_is_required_but_relabeling_may_set_it() {
    let error = populate_labels(
        &job("https", ""),
        &map(&[("custom", "value")]),
        &BTreeMap::new(),
    );
    assert_eq!(error, Err(TargetError::NoAddress));
    assert_eq!(
        error.map_err(|error| error.to_string()),
        Err(String::from("no address"))
    );
    let config = job(
        "https",
        "- {action: replace, regex: '(.*)', source_labels: [custom], replacement: '${1}', target_label: __address__}",
    );
    let target = active(&config, &[("custom", "host:1234")]);
    assert_eq!(target.labels.get("__address__"), "host:1234");
    assert_eq!(target.labels.get("instance"), "host:1234");
    assert!(!target.discovered_labels.contains("__address__"));
    assert_eq!(
        populate_labels(
            &job("http", ""),
            &map(&[("__address__", "http://x:1/metrics")]),
            &BTreeMap::new()
        ),
        Err(TargetError::InvalidAddress(String::from(
            "http://x:1/metrics"
        )))
    );
}

#[test]
fn interval_and_timeout_labels_are_checked() {
    let cases: [(&[(&str, &str)], &str); 5] = [
        (
            &[("__scrape_interval__", "2notseconds")],
            "error parsing scrape interval: unknown unit \"notseconds\" in duration \"2notseconds\"",
        ),
        (
            &[("__scrape_timeout__", "2notseconds")],
            "error parsing scrape timeout: unknown unit \"notseconds\" in duration \"2notseconds\"",
        ),
        (
            &[("__scrape_interval__", "0s")],
            "scrape interval cannot be 0",
        ),
        (
            &[("__scrape_timeout__", "0s")],
            "scrape timeout cannot be 0",
        ),
        (
            &[("__scrape_interval__", "1s"), ("__scrape_timeout__", "2s")],
            "scrape timeout cannot be greater than scrape interval (\"2s\" > \"1s\")",
        ),
    ];
    for (extra, expected) in cases {
        let mut target = map(&[("__address__", "1.2.3.4:1000")]);
        target.extend(map(extra));
        let error = populate_labels(&job("https", ""), &target, &BTreeMap::new())
            .expect_err(expected)
            .to_string();
        assert_eq!(error, expected);
    }
    let mut target = map(&[("__address__", "a:1")]);
    target.insert("__scrape_native_histograms__".into(), "yes".into());
    let error = populate_labels(&job("https", ""), &target, &BTreeMap::new())
        .expect_err("not a Go bool")
        .to_string();
    assert_eq!(
        error,
        "error parsing scrape native histograms: strconv.ParseBool: parsing \"yes\": invalid syntax"
    );
}

#[test]
fn group_labels_fill_in_and_meta_labels_are_removed() {
    let mut config = job(
        "http",
        "- {source_labels: [__meta_zone], target_label: zone}",
    );
    config.params = BTreeMap::from([
        (
            String::from("module"),
            vec![String::from("spans"), String::from("x")],
        ),
        (String::from("format"), vec![String::from("otlp")]),
    ]);
    let target = map(&[
        ("__address__", "a:1"),
        ("team", ""),
        ("__param_format", "json"),
    ]);
    let group = map(&[
        ("team", "core"),
        ("env", "prod"),
        ("__address__", "ignored:2"),
        ("__meta_zone", "eu"),
    ]);
    let Ok(TargetOutcome::Active(active)) = populate_labels(&config, &target, &group) else {
        panic!("active");
    };
    // An empty target label still shadows the group label (Go map semantics).
    assert!(!active.labels.contains("team"));
    assert_eq!(active.labels.get("env"), "prod");
    assert_eq!(active.labels.get("__address__"), "a:1");
    assert_eq!(active.labels.get("zone"), "eu");
    assert!(!active.labels.contains("__meta_zone"));
    assert_eq!(active.discovered_labels.get("__meta_zone"), "eu");
    // params fill __param_ only where discovery did not set it (Prometheus 3).
    assert_eq!(active.labels.get("__param_module"), "spans");
    assert_eq!(active.labels.get("__param_format"), "json");
    assert_eq!(
        active.scrape_url(&config),
        "http://a:1/metrics?format=json&module=spans&module=x"
    );
}

#[test]
fn dropped_targets_keep_their_discovered_labels() {
    let config = job("http", "- {source_labels: [env], regex: dev, action: drop}");
    let outcome = populate_labels(
        &config,
        &map(&[("__address__", "a:1")]),
        &map(&[("env", "dev")]),
    )
    .expect("no error");
    let TargetOutcome::Dropped { discovered_labels } = outcome else {
        panic!("dropped");
    };
    assert_eq!(discovered_labels.get("env"), "dev");
    assert_eq!(discovered_labels.get("job"), "job");
}

#[test]
fn scrape_url_matches_prometheus() {
    let mut config = job("https", "");
    config.params = BTreeMap::from([
        (
            String::from("abc"),
            vec![
                String::from("foo"),
                String::from("bar"),
                String::from("baz"),
            ],
        ),
        (String::from("xyz"), vec![String::from("hoo")]),
    ]);
    let target = Target {
        labels: Labels::from_pairs([
            ("__address__", "example.com:1234"),
            ("__scheme__", "https"),
            ("__metrics_path__", "/metricz"),
            ("__param_abc", "overwrite"),
            ("__param_cde", "huu"),
        ]),
        discovered_labels: Labels::new(),
        scrape_interval: PrometheusDuration::from_secs(1),
        scrape_timeout: PrometheusDuration::from_secs(1),
    };
    assert_eq!(
        target.scrape_url(&config),
        "https://example.com:1234/metricz?abc=overwrite&abc=bar&abc=baz&cde=huu&xyz=hoo"
    );
    // Go escapes the path and form-encodes the query.
    let target = Target {
        labels: Labels::from_pairs([
            ("__address__", "h:1"),
            ("__scheme__", "http"),
            ("__metrics_path__", "/a b/c?d!é"),
            ("__param_q", "x y&z=1/é"),
        ]),
        ..target
    };
    assert_eq!(
        target.scrape_url(&job("http", "")),
        "http://h:1/a%20b/c%3Fd%21%C3%A9?q=x+y%26z%3D1%2F%C3%A9"
    );
}

#[test]
fn failures_name_the_instance_and_group() {
    let config = job("http", "");
    let mut group = TargetGroup::from_addresses(["a:1", "", "b:2"], BTreeMap::new());
    group.source = String::from("sd.json:0");
    let (outcomes, failures) = targets_from_group(&config, &group);
    assert_eq!(outcomes.len(), 2);
    assert_eq!(failures, ["instance 1 in group sd.json:0: no address"]);
}

#[test]
fn offsets_spread_evenly_over_the_interval() {
    let interval = Duration::from_secs(10);
    let config = job("http", "");
    let mut buckets = [0usize; 10];
    for index in 0..10_000 {
        let target = Target {
            labels: Labels::from_pairs([
                ("__address__", String::from("example.com:80")),
                ("label", index.to_string()),
            ]),
            discovered_labels: Labels::new(),
            scrape_interval: PrometheusDuration::from_secs(10),
            scrape_timeout: PrometheusDuration::from_secs(1),
        };
        let wait = offset(interval, target.hash(&config), 0, 1_700_000_000_123_456_789);
        assert!(wait <= interval, "{wait:?}");
        let slot_phase = (wait.as_nanos() + 1_700_000_000_123_456_789u128) % interval.as_nanos();
        buckets[(slot_phase / 1_000_000_000) as usize] += 1;
    }
    for count in buckets {
        assert!(count.abs_diff(1000) <= 150, "{buckets:?}");
    }
}

#[test]
fn a_prometheus_file_and_a_file_sd_file_give_the_targets_to_scrape() {
    let config = Config::parse(
        r#"
global: {scrape_interval: 30s}
scrape_configs:
  - job_name: spans
    metrics_path: /traces
    file_sd_configs: [{files: [sd.json]}]
    relabel_configs:
      - {source_labels: [__meta_filepath], regex: '.*/(.*)\.json', target_label: sd_file}
      - {source_labels: [env], regex: staging, action: drop}
      - {source_labels: [__address__], regex: '(.*):\d+', target_label: host}
"#,
        "prometheus.yml",
    )
    .expect("valid");
    let job = &config.scrape_configs[0];
    let groups = parse_target_groups(
        r#"[{"targets": ["10.0.0.1:9411", "10.0.0.2:9411"], "labels": {"env": "prod"}},
            {"targets": ["10.0.0.3:9411"], "labels": {"env": "staging"}}]"#,
        "/etc/weft/sd.json",
    )
    .expect("valid file");
    let mut active = Vec::new();
    let mut dropped = 0;
    for group in &groups {
        let (outcomes, failures) = targets_from_group(job, group);
        assert!(failures.is_empty(), "{failures:?}");
        for outcome in outcomes {
            match outcome {
                TargetOutcome::Active(target) => active.push(target),
                TargetOutcome::Dropped { .. } => dropped += 1,
            }
        }
    }
    assert_eq!((active.len(), dropped), (2, 1));
    assert_eq!(
        active[0].public_labels(),
        Labels::from_pairs([
            ("env", "prod"),
            ("host", "10.0.0.1"),
            ("instance", "10.0.0.1:9411"),
            ("job", "spans"),
            ("sd_file", "sd"),
        ])
    );
    assert_eq!(active[0].scrape_url(job), "http://10.0.0.1:9411/traces");
    assert_eq!(active[1].scrape_interval.to_string(), "30s");
    assert_eq!(active[1].scrape_timeout.to_string(), "10s");
}
