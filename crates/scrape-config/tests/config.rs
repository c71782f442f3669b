//! `scrape_configs` parsing: Prometheus's defaults, inheritance from `global`,
//! and load-time errors that name the file, line and field.

use std::time::Duration;

use weft_scrape_config::config::{ByteSize, ConfigError, DnsRecordType, KubernetesRole, load_file};
use weft_scrape_config::relabel::Action;
use weft_scrape_config::{Config, NameValidationScheme};

const FULL: &str = r#"
global:
  scrape_interval: 15s
  external_labels:
    cluster: eu-1
    replica: a
  body_size_limit: 10MB
  sample_limit: 5000
rule_files: [rules/*.yml]
alerting:
  alertmanagers: [{static_configs: [{targets: ['am:9093']}]}]
scrape_configs:
  - job_name: spans
    scrape_interval: 1m30s
    metrics_path: /traces
    scheme: https
    params:
      format: [otlp, json]
    honor_labels: true
    honor_timestamps: false
    sample_limit: 100
    basic_auth:
      username: weft
      password_file: secrets/password
    tls_config:
      ca_file: ca.pem
      cert_file: client.pem
      key_file: client.key
      server_name: spans.internal
      insecure_skip_verify: true
    static_configs:
      - targets: ['a:8080', 'b:8080']
        labels:
          env: prod
          port: 8080
    file_sd_configs:
      - files: [sd/*.json, /etc/weft/targets.yml]
        refresh_interval: 1m
    http_sd_configs:
      - url: https://discovery.internal/targets
        bearer_token: secret
    dns_sd_configs:
      - names: [_spans._tcp.example.org]
      - names: [spans.example.org]
        type: aaaa
        port: 9000
    kubernetes_sd_configs:
      - role: pod
        namespaces: {names: [tracing]}
        selectors: [{role: pod, label: 'app=api'}]
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - action: LabelDrop
        regex: port
  - job_name: defaults
    bearer_token_file: token
"#;

#[test]
fn full_file_parses_with_prometheus_defaults() {
    let config = Config::parse(FULL, "prometheus.yml").expect("valid config");
    assert_eq!(
        config.global.scrape_interval.as_std(),
        Duration::from_secs(15)
    );
    assert_eq!(
        config.global.scrape_timeout.as_std(),
        Duration::from_secs(10)
    );
    assert_eq!(config.global.external_labels.get("replica"), "a");
    assert_eq!(config.global.limits.body_size_limit, ByteSize(10 << 20));
    assert_eq!(
        config.global.metric_name_validation_scheme,
        NameValidationScheme::Utf8
    );

    let spans = config.job("spans").expect("job spans");
    assert_eq!(spans.line, 13);
    assert_eq!(spans.scrape_interval.to_string(), "1m30s");
    assert_eq!(spans.scrape_timeout.to_string(), "10s");
    assert_eq!(spans.metrics_path, "/traces");
    assert_eq!(spans.scheme, "https");
    assert_eq!(spans.params["format"], ["otlp", "json"]);
    assert!(spans.honor_labels && !spans.honor_timestamps);
    assert_eq!(spans.limits.sample_limit, 100);
    assert_eq!(
        spans.limits.body_size_limit,
        ByteSize(10 << 20),
        "inherited"
    );
    let basic_auth = spans.http_client.basic_auth.as_ref().expect("basic auth");
    assert_eq!(basic_auth.password_file, "secrets/password");
    assert!(spans.http_client.tls_config.insecure_skip_verify);
    assert_eq!(spans.static_configs[0].targets.len(), 2);
    assert_eq!(
        spans.static_configs[0].labels["port"], "8080",
        "YAML numbers are text"
    );
    assert_eq!(spans.file_sd_configs[0].refresh_interval.to_string(), "1m");
    let http_sd = &spans.http_sd_configs[0];
    assert_eq!(http_sd.refresh_interval.to_string(), "1m");
    let authorization = http_sd.http_client.authorization.as_ref().expect("bearer");
    assert_eq!(
        (
            authorization.kind.as_str(),
            authorization.credentials.as_str()
        ),
        ("Bearer", "secret")
    );
    assert_eq!(spans.dns_sd_configs[0].record_type, DnsRecordType::Srv);
    assert_eq!(spans.dns_sd_configs[0].refresh_interval.to_string(), "30s");
    assert_eq!(spans.dns_sd_configs[1].record_type, DnsRecordType::Aaaa);
    assert_eq!(spans.kubernetes_sd_configs[0].role, KubernetesRole::Pod);
    assert_eq!(spans.relabel_configs.len(), 2);
    assert_eq!(spans.relabel_configs[1].action, Some(Action::LabelDrop));

    let defaults = config.job("defaults").expect("job defaults");
    assert_eq!(defaults.scrape_interval.to_string(), "15s");
    assert_eq!(defaults.scrape_timeout.to_string(), "10s");
    assert_eq!(defaults.metrics_path, "/metrics");
    assert_eq!(defaults.scheme, "http");
    assert!(defaults.honor_timestamps && !defaults.honor_labels);
    assert!(defaults.enable_compression);
    assert!(defaults.http_client.follow_redirects && defaults.http_client.enable_http2);
    let token = defaults
        .http_client
        .authorization
        .as_ref()
        .expect("bearer file");
    assert_eq!(token.credentials_file, "token");
    assert!(defaults.http_client.bearer_token_file.is_empty());
}

#[test]
fn empty_and_minimal_files_take_the_global_defaults() {
    for text in ["", "\n", "global:\n", "scrape_configs: []\n"] {
        let config = Config::parse(text, "p.yml").expect("valid");
        assert_eq!(config.global.scrape_interval.to_string(), "1m");
        assert_eq!(config.global.scrape_timeout.to_string(), "10s");
        assert!(config.scrape_configs.is_empty());
    }
    let config = Config::parse(
        "global: {scrape_interval: 5s}\nscrape_configs: [{job_name: j}]\n",
        "p.yml",
    )
    .expect("valid");
    assert_eq!(
        config.global.scrape_timeout.to_string(),
        "5s",
        "min(10s, interval)"
    );
    assert_eq!(config.scrape_configs[0].scrape_timeout.to_string(), "5s");
    let config = Config::parse(
        "global: {scrape_timeout: 20s, scrape_interval: 1m}\nscrape_configs: [{job_name: j, scrape_interval: 7s}]\n",
        "p.yml",
    )
    .expect("valid");
    assert_eq!(config.scrape_configs[0].scrape_timeout.to_string(), "7s");
}

fn error_of(text: &str) -> ConfigError {
    Config::parse(text, "prom.yml").expect_err("invalid config")
}

/// `(config, line, text the message must contain)`.
fn assert_invalid(text: &str, line: Option<u64>, expected: &str) {
    let error = error_of(text);
    let ConfigError::Invalid {
        source_name,
        line: found_line,
        message,
        ..
    } = &error
    else {
        panic!("not an Invalid error: {error}");
    };
    assert_eq!(source_name, "prom.yml");
    assert!(message.contains(expected), "{text}\n=> {error}");
    if line.is_some() {
        assert_eq!(*found_line, line, "{text}\n=> {error}");
    }
    assert!(error.to_string().starts_with("prom.yml:"), "{error}");
    assert!(!message.contains(" at line "), "location repeated: {error}");
}

#[test]
fn errors_name_the_line_and_the_field() {
    assert_invalid(
        "scrape_configs:\n  - job_name: a\n    scrape_intervall: 1m\n",
        Some(3),
        "scrape_intervall",
    );
    assert_invalid(
        "scrape_configs:\n  - job_name: a\n    scrape_interval: 1minute\n",
        Some(3),
        "unknown unit \"minute\"",
    );
    assert_invalid(
        "scrape_configs:\n  - job_name: a\n    scrape_interval: 5s\n    scrape_timeout: 10s\n",
        Some(2),
        "scrape timeout (10s) greater than scrape interval (5s)",
    );
    assert_invalid(
        "scrape_configs:\n  - job_name: a\n  - job_name: a\n",
        Some(3),
        "found multiple scrape configs with job name \"a\"",
    );
    assert_invalid(
        "scrape_configs:\n  - metrics_path: /x\n",
        Some(2),
        "job_name is empty",
    );
    assert_invalid(
        "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - target_label: x\n      - action: hashmod\n        target_label: y\n",
        Some(5),
        "relabel_configs[1]: relabel configuration for hashmod requires non-zero modulus",
    );
    assert_invalid(
        "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - action: dance\n",
        Some(4),
        "unknown relabel action \"dance\"",
    );
    assert_invalid(
        "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - regex: '(['\n",
        Some(4),
        "invalid regex",
    );
    assert_invalid(
        "scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: ['http://x:1/metrics']\n",
        Some(2),
        "\"http://x:1/metrics\" is not a valid hostname",
    );
    assert_invalid(
        "scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: [x]\n        label: {a: b}\n",
        Some(5),
        "label",
    );
    assert_invalid(
        "global:\n  scrape_interval: 5s\n  scrape_timeout: 6s\n",
        Some(2),
        "global scrape timeout greater than scrape interval",
    );
    assert_invalid("remote_storage: {}\n", Some(1), "remote_storage");
    assert_invalid(
        "scrape_config_files: [a/*.yml]\n",
        Some(1),
        "scrape_config_files is not supported",
    );
    assert_invalid(
        "scrape_configs:\n  - job_name: a\n    consul_sd_configs: []\n",
        Some(3),
        "consul_sd_configs",
    );
}

#[test]
fn discovery_sections_are_checked_like_prometheus() {
    let job = |body: &str| format!("scrape_configs:\n  - job_name: a\n{body}");
    assert_invalid(
        &job("    file_sd_configs:\n      - files: []\n"),
        Some(4),
        "must contain at least one path name",
    );
    assert_invalid(
        &job("    file_sd_configs:\n      - files: ['*/x.json']\n"),
        None,
        "path name \"*/x.json\" is not valid for file discovery",
    );
    assert_invalid(
        &job("    dns_sd_configs:\n      - names: [a.example]\n        type: A\n"),
        None,
        "a port is required in DNS-SD configs",
    );
    assert_invalid(
        &job("    dns_sd_configs:\n      - names: [a.example]\n        type: TXT\n"),
        None,
        "invalid DNS-SD records type TXT",
    );
    assert_invalid(
        &job("    dns_sd_configs:\n      - type: SRV\n"),
        None,
        "at least one SRV record name",
    );
    assert_invalid(
        &job("    http_sd_configs:\n      - url: ftp://x/\n"),
        None,
        "URL scheme must be 'http' or 'https'",
    );
    assert_invalid(
        &job("    http_sd_configs:\n      - url: http:///targets\n"),
        None,
        "host is missing in URL",
    );
    assert_invalid(
        &job("    http_sd_configs:\n      - refresh_interval: 1m\n"),
        None,
        "URL is missing",
    );
    assert_invalid(
        &job("    kubernetes_sd_configs:\n      - namespaces: {names: [a]}\n"),
        None,
        "role missing",
    );
    assert_invalid(
        &job(
            "    kubernetes_sd_configs:\n      - role: service\n        selectors: [{role: pod}]\n",
        ),
        None,
        "service role supports only service selectors",
    );
    assert_invalid(
        &job(
            "    kubernetes_sd_configs:\n      - role: pod\n        selectors: [{role: pod}, {role: pod}]\n",
        ),
        None,
        "duplicated selector role: pod",
    );
    assert_invalid(
        &job("    kubernetes_sd_configs:\n      - role: pod\n        bearer_token: x\n"),
        None,
        "please provide the 'api_server' URL explicitly",
    );
    assert_invalid(
        &job(
            "    kubernetes_sd_configs:\n      - role: pod\n        api_server: https://k8s\n        kubeconfig_file: kc\n",
        ),
        None,
        "cannot use 'kubeconfig_file' and 'api_server' simultaneously",
    );
    assert_invalid(
        &job("    kubernetes_sd_configs:\n      - role: pods\n"),
        None,
        "pods",
    );
}

#[test]
fn http_client_settings_are_checked_like_prometheus() {
    let job = |body: &str| format!("scrape_configs:\n  - job_name: a\n{body}");
    for (body, expected) in [
        (
            "    bearer_token: a\n    bearer_token_file: b\n",
            "at most one of bearer_token & bearer_token_file must be configured",
        ),
        (
            "    bearer_token: a\n    basic_auth: {username: u}\n",
            "at most one of basic_auth, oauth2, bearer_token & bearer_token_file",
        ),
        (
            "    authorization: {credentials: x}\n    basic_auth: {username: u}\n",
            "at most one of basic_auth, oauth2 & authorization must be configured",
        ),
        (
            "    authorization: {type: Basic, credentials: x}\n",
            "authorization type cannot be set to \"basic\"",
        ),
        (
            "    basic_auth: {password: p, password_file: f}\n",
            "at most one of basic_auth password, password_file",
        ),
        (
            "    tls_config: {cert_file: c}\n",
            "exactly one of key or key_file must be configured",
        ),
        (
            "    tls_config: {key_file: k}\n",
            "exactly one of cert or cert_file must be configured",
        ),
        (
            "    oauth2: {client_id: c}\n",
            "oauth2 token_url must be configured",
        ),
        (
            "    tls_config: {min_version: TLS9}\n",
            "unknown TLS version",
        ),
        ("    tls_config: {verify: false}\n", "verify"),
    ] {
        assert_invalid(&job(body), None, expected);
    }
    let config =
        Config::parse(&job("    authorization: {credentials: x}\n"), "prom.yml").expect("valid");
    let authorization = config.scrape_configs[0]
        .http_client
        .authorization
        .as_ref()
        .expect("authorization");
    assert_eq!(authorization.kind, "Bearer", "type defaults to Bearer");
}

#[test]
fn label_name_validation_scheme_applies_to_relabel_rules() {
    let rule = "    relabel_configs:\n      - {target_label: 'with.dot', replacement: x}\n";
    let utf8 = format!("scrape_configs:\n  - job_name: a\n{rule}");
    Config::parse(&utf8, "prom.yml").expect("UTF-8 names are valid by default");
    let legacy_global = format!(
        "global: {{metric_name_validation_scheme: legacy}}\nscrape_configs:\n  - job_name: a\n{rule}"
    );
    assert_invalid(
        &legacy_global,
        Some(5),
        "\"with.dot\" is invalid 'target_label'",
    );
    let legacy_job = format!(
        "scrape_configs:\n  - job_name: a\n    metric_name_validation_scheme: legacy\n{rule}"
    );
    assert_invalid(&legacy_job, Some(5), "is invalid 'target_label'");
    assert_invalid(
        "global: {metric_name_validation_scheme: legacy, external_labels: {a.b: c}}\n",
        Some(1),
        "\"a.b\" is not a valid label name",
    );
}

#[test]
fn byte_sizes_use_base_two_units() {
    for (text, bytes) in [
        ("0", 0),
        ("1B", 1),
        ("1KB", 1024),
        ("1KiB", 1024),
        ("10MB", 10 << 20),
        ("1GiB", 1 << 30),
        ("1.5KB", 1536),
        ("1MB512KB", (1 << 20) + (512 << 10)),
    ] {
        assert_eq!(ByteSize::parse(text), Ok(ByteSize(bytes)), "{text}");
    }
    for text in ["", "10", "1XB", "MB", "1 MB"] {
        assert!(ByteSize::parse(text).is_err(), "{text}");
    }
}

#[test]
fn files_resolve_relative_paths_against_their_directory() {
    let directory = std::env::temp_dir().join(format!("weft-scrape-config-{}", std::process::id()));
    std::fs::create_dir_all(&directory).expect("temp dir");
    let file = directory.join("prometheus.yml");
    std::fs::write(
        &file,
        "scrape_configs:\n  - job_name: a\n    bearer_token_file: token\n    file_sd_configs:\n      - files: [sd/*.json, /abs/x.yml]\n",
    )
    .expect("write");
    let config = load_file(&file).expect("valid");
    let job = &config.scrape_configs[0];
    assert_eq!(
        job.file_sd_configs[0].files,
        [
            directory.join("sd/*.json").display().to_string(),
            String::from("/abs/x.yml")
        ]
    );
    let authorization = job.http_client.authorization.as_ref().expect("bearer");
    assert_eq!(
        authorization.credentials_file,
        directory.join("token").display().to_string()
    );
    std::fs::write(&file, "scrape_configs:\n  - job_name: a\n    bad: 1\n").expect("write");
    let error = load_file(&file).expect_err("unknown key").to_string();
    assert!(
        error.starts_with(&format!("{}:3:", file.display())),
        "{error}"
    );
    let missing = load_file(&directory.join("missing.yml")).expect_err("missing");
    assert!(matches!(missing, ConfigError::Read { .. }));
    let _ = std::fs::remove_dir_all(&directory);
}
