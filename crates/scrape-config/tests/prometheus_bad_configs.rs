//! Every `config/testdata/*.bad.yml` of Prometheus that concerns the sections
//! weft parses must be rejected by weft too, for the same reason. Each row is
//! `(file, what weft's message contains, Prometheus's message)`; they differ
//! only where Go's YAML or regexp library words the same problem differently.

use weft_scrape_config::Config;

const CASES: &[(&str, &str, &str)] = &[
    ("jobname", "job_name is empty", "job_name is empty"),
    (
        "jobname_dup",
        "found multiple scrape configs with job name \"prometheus\"",
        "found multiple scrape configs with job name \"prometheus\"",
    ),
    (
        "scrape_interval",
        "greater than scrape interval",
        "scrape timeout greater than scrape interval",
    ),
    ("labelname", "binary", "\"\\xff\" is not a valid label name"),
    (
        "labelvalue",
        "binary",
        "\"\\xff\" is not a valid label value",
    ),
    ("regex", "invalid regex", "error parsing regexp"),
    (
        "modulus_missing",
        "relabel configuration for hashmod requires non-zero modulus",
        "relabel configuration for hashmod requires non-zero modulus",
    ),
    (
        "labelkeep",
        "labelkeep action requires only 'regex', and no other fields",
        "",
    ),
    (
        "labelkeep2",
        "labelkeep action requires only 'regex', and no other fields",
        "",
    ),
    (
        "labelkeep3",
        "labelkeep action requires only 'regex', and no other fields",
        "",
    ),
    (
        "labelkeep4",
        "labelkeep action requires only 'regex', and no other fields",
        "",
    ),
    (
        "labelkeep5",
        "labelkeep action requires only 'regex', and no other fields",
        "",
    ),
    (
        "labeldrop",
        "labeldrop action requires only 'regex', and no other fields",
        "",
    ),
    (
        "labeldrop2",
        "labeldrop action requires only 'regex', and no other fields",
        "",
    ),
    (
        "labeldrop3",
        "labeldrop action requires only 'regex', and no other fields",
        "",
    ),
    (
        "labeldrop4",
        "labeldrop action requires only 'regex', and no other fields",
        "",
    ),
    (
        "labeldrop5",
        "labeldrop action requires only 'regex', and no other fields",
        "",
    ),
    (
        "dropequal",
        "relabel configuration for dropequal action requires 'target_label' value",
        "",
    ),
    (
        "dropequal1",
        "dropequal action requires only 'source_labels' and `target_label`, and no other fields",
        "",
    ),
    (
        "keepequal",
        "relabel configuration for keepequal action requires 'target_label' value",
        "",
    ),
    (
        "keepequal1",
        "keepequal action requires only 'source_labels' and `target_label`, and no other fields",
        "",
    ),
    (
        "lowercase",
        "relabel configuration for lowercase action requires 'target_label' value",
        "",
    ),
    (
        "lowercase3",
        "'replacement' can not be set for lowercase action",
        "",
    ),
    (
        "uppercase",
        "relabel configuration for uppercase action requires 'target_label' value",
        "",
    ),
    (
        "uppercase3",
        "'replacement' can not be set for uppercase action",
        "",
    ),
    (
        "unknown_attr",
        "unknown field `consult_sd_configs`",
        "field consult_sd_configs not found in type",
    ),
    (
        "bearertoken",
        "at most one of bearer_token & bearer_token_file must be configured",
        "",
    ),
    (
        "bearertoken_basicauth",
        "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
        "",
    ),
    (
        "kubernetes_http_config_without_api_server",
        "to use custom HTTP client configuration please provide the 'api_server' URL explicitly",
        "",
    ),
    (
        "kubernetes_kubeconfig_with_own_namespace",
        "cannot use 'kubeconfig_file' and 'namespaces.own_namespace' simultaneously",
        "",
    ),
    (
        "kubernetes_api_server_with_own_namespace",
        "cannot use 'api_server' and 'namespaces.own_namespace' simultaneously",
        "",
    ),
    (
        "kubernetes_kubeconfig_with_apiserver",
        "cannot use 'kubeconfig_file' and 'api_server' simultaneously",
        "",
    ),
    (
        "kubernetes_kubeconfig_with_http_config",
        "cannot use a custom HTTP client configuration together with 'kubeconfig_file'",
        "",
    ),
    (
        "kubernetes_bearertoken",
        "at most one of bearer_token & bearer_token_file must be configured",
        "",
    ),
    ("kubernetes_role", "role", "role"),
    (
        "kubernetes_selectors_endpoints",
        "endpoints role supports only pod, service, endpoints selectors",
        "",
    ),
    (
        "kubernetes_selectors_ingress",
        "ingress role supports only ingress selectors",
        "",
    ),
    (
        "kubernetes_selectors_node",
        "node role supports only node selectors",
        "",
    ),
    (
        "kubernetes_selectors_pod",
        "pod role supports only pod, node selectors",
        "",
    ),
    (
        "kubernetes_selectors_service",
        "service role supports only service selectors",
        "",
    ),
    (
        "kubernetes_namespace_discovery",
        "unknown field `foo`",
        "field foo not found in type kubernetes.plain",
    ),
    (
        "kubernetes_selectors_duplicated_role",
        "duplicated selector role: pod",
        "",
    ),
    (
        "kubernetes_bearertoken_basicauth",
        "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
        "",
    ),
    (
        "kubernetes_authorization_basicauth",
        "at most one of basic_auth, oauth2 & authorization must be configured",
        "",
    ),
    (
        "url_in_targetgroup",
        "\"http://bad\" is not a valid hostname",
        "\"http://bad\" is not a valid hostname",
    ),
    (
        "target_label_missing",
        "relabel configuration for replace action requires 'target_label' value",
        "",
    ),
    (
        "target_label_hashmod_missing",
        "relabel configuration for hashmod action requires 'target_label' value",
        "",
    ),
    (
        "unknown_global_attr",
        "unknown field `nonexistent_field`",
        "field nonexistent_field not found in type config.plain",
    ),
    (
        "section_key_dup",
        "duplicate mapping key: scrape_configs",
        "field scrape_configs already set in type config.plain",
    ),
    (
        "empty_scrape_config",
        "empty or null scrape config section",
        "empty or null scrape config section",
    ),
    (
        "empty_target_relabel_config",
        "empty or null target relabeling rule",
        "empty or null target relabeling rule",
    ),
    (
        "empty_metric_relabel_config",
        "empty or null metric relabeling rule",
        "empty or null metric relabeling rule",
    ),
    (
        "empty_static_config",
        "empty or null section in static_configs",
        "empty or null section in static_configs",
    ),
    (
        "scrape_body_size_limit",
        "invalid byte size \"100\"",
        "units: unknown unit in 100",
    ),
    (
        "http_url_no_scheme",
        "URL scheme must be 'http' or 'https'",
        "URL scheme must be 'http' or 'https'",
    ),
    (
        "http_url_no_host",
        "host is missing in URL",
        "host is missing in URL",
    ),
    (
        "http_token_file",
        "at most one of bearer_token & bearer_token_file must be configured",
        "",
    ),
    (
        "http_url_bad_scheme",
        "URL scheme must be 'http' or 'https'",
        "URL scheme must be 'http' or 'https'",
    ),
    (
        "empty_scrape_config_action",
        "relabel action cannot be empty",
        "relabel action cannot be empty",
    ),
];

#[test]
fn every_bad_prometheus_config_is_rejected_for_the_same_reason() {
    let directory = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/prometheus-bad");
    let mut mismatches = Vec::new();
    for (name, expected, prometheus) in CASES {
        let path = std::path::Path::new(directory).join(format!("{name}.bad.yml"));
        match Config::load_file(&path) {
            Ok(_) => mismatches.push(format!("{name}: accepted (Prometheus: {prometheus})")),
            Err(error) if !error.to_string().contains(expected) => {
                mismatches.push(format!("{name}: {error}\n    expected: {expected}"));
            }
            Err(_) => {}
        }
    }
    assert!(mismatches.is_empty(), "\n{}", mismatches.join("\n"));
    let fixtures = std::fs::read_dir(directory)
        .expect("fixtures")
        .filter(|entry| {
            entry
                .as_ref()
                .is_ok_and(|entry| entry.file_name().to_string_lossy().ends_with(".bad.yml"))
        })
        .count();
    assert_eq!(fixtures, CASES.len(), "every fixture has a row");
}
