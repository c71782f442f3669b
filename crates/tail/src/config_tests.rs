//! Tests of `config.rs`.

use super::TailConfig;

fn parse(scrape_yaml: &str) -> Result<TailConfig, String> {
    let yaml = format!(
        "clients: [{{url: 'http://localhost:3100/loki/api/v1/push'}}]\nscrape_configs:\n  - job_name: pods\n{scrape_yaml}"
    );
    let mut config: TailConfig =
        serde_saphyr::from_str(&yaml).map_err(|error| error.to_string())?;
    config.validate().map_err(|error| error.to_string())?;
    Ok(config)
}

#[test]
fn every_discovery_mechanism_of_the_span_scraper_is_accepted() {
    let config = parse(
            r#"
    http_sd_configs: [{url: "http://sd.example.org/targets", refresh_interval: 15s}]
    dns_sd_configs: [{names: [_logs._tcp.example.org]}, {names: [db.example.org], type: a, port: 9100}]
    kubernetes_sd_configs:
      - role: pod
        namespaces: {names: [shop]}
        selectors: [{role: pod, label: "app=api"}]
        attach_metadata: {job: true}
"#,
        )
        .expect("valid");
    let discovery = config.scrape_configs[0].discovery_config();
    assert_eq!(discovery.http_sd_configs.len(), 1);
    assert_eq!(
        discovery.http_sd_configs[0].refresh_interval.as_std(),
        std::time::Duration::from_secs(15)
    );
    assert_eq!(discovery.dns_sd_configs.len(), 2);
    assert_eq!(discovery.dns_sd_configs[1].port, 9100);
    assert_eq!(discovery.kubernetes_sd_configs.len(), 1);
    assert_eq!(
        discovery.kubernetes_sd_configs[0].namespaces.names,
        vec![String::from("shop")]
    );
}

/// Every `attach_metadata` setting the span scraper runs is accepted for log targets
/// too, as is a kubeconfig file.
#[test]
fn kubernetes_attach_metadata_settings_are_accepted() {
    let entries = [
        "{role: pod, attach_metadata: {node: true}}",
        "{role: endpoints, attach_metadata: {namespace: true}}",
        "{role: pod, attach_metadata: {job: true, cronjob: true, deployment: true}}",
        "{role: pod, kubeconfig_file: /etc/kube.yml}",
    ];
    for entry in entries {
        let verdict = parse(&format!(
            "    kubernetes_sd_configs: [{{role: node}}, {entry}]\n"
        ));
        assert!(verdict.is_ok(), "{entry}: {verdict:?}");
    }
}

#[test]
fn discovery_sections_are_checked_as_the_span_scraper_checks_them() {
    for (section, message) in [
        (
            "http_sd_configs: [{url: 'ftp://sd.example.org'}]",
            "URL scheme must be 'http' or 'https'",
        ),
        ("http_sd_configs: [{}]", "URL is missing"),
        (
            "http_sd_configs: [{url: 'http://x', refresh: 1s}]",
            "unknown field",
        ),
        (
            "dns_sd_configs: [{names: [db.example.org], type: A}]",
            "a port is required in DNS-SD configs for all record types except SRV",
        ),
        (
            "dns_sd_configs: [{names: []}]",
            "DNS-SD config must contain at least one SRV record name",
        ),
        ("kubernetes_sd_configs: [{}]", "role missing"),
        (
            "kubernetes_sd_configs: [{role: pod, selectors: [{role: service}]}]",
            "pod role supports only pod, node selectors",
        ),
        (
            "kubernetes_sd_configs: [{role: pod, api_server: 'https://k', namespaces: {own_namespace: true}}]",
            "cannot use 'api_server' and 'namespaces.own_namespace' simultaneously",
        ),
    ] {
        let error = parse(&format!("    {section}\n")).expect_err(section);
        assert!(error.contains(message), "{section}: {error}");
    }
}
