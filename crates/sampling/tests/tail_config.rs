//! Loading `tail_sampling` configurations: the Collector's own examples, and errors that
//! name the source, line and field.

use std::time::Duration;

use weft_sampling::tail::{PolicyKind, StringMatcher};
use weft_sampling::{ConfigError, TailConfig};

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("reading {path}: {error}"))
}

fn load(text: &str) -> Result<TailConfig, ConfigError> {
    TailConfig::from_yaml_str(text, "test.yaml")
}

fn load_error(text: &str) -> ConfigError {
    match load(text) {
        Ok(config) => panic!("expected an error, loaded {:?}", config.policies),
        Err(error) => error,
    }
}

fn names(config: &TailConfig) -> Vec<&str> {
    config
        .policies
        .iter()
        .map(|policy| policy.name.as_str())
        .collect()
}

/// The first README example, which includes an `ottl_condition` policy: it is refused
/// with a message saying OTTL is unsupported, pointing at that policy's `type`.
#[test]
fn readme_policies_example_refuses_only_its_ottl_policy() {
    let text = fixture("readme_example_policies.yaml");
    let error = TailConfig::from_yaml_str(&text, "readme_example_policies.yaml")
        .expect_err("ottl_condition is not supported");
    let ottl_type_line = text
        .lines()
        .position(|line| line.contains("type: ottl_condition"))
        .expect("fixture has an ottl policy") as u64
        + 1;
    assert_eq!(error.line, Some(ottl_type_line), "{error}");
    assert!(error.message.contains("test-policy-13"), "{error}");
    assert!(error.message.contains("OTTL"), "{error}");
    assert!(
        error
            .to_string()
            .starts_with(&format!("readme_example_policies.yaml:{ottl_type_line}:")),
        "{error}"
    );
}

/// The same example with only the OTTL policy cut out loads, with every other policy
/// type and the processor settings.
#[test]
fn readme_policies_example_without_ottl_loads_every_other_policy() {
    let text = fixture("readme_example_policies.yaml");
    let start = text
        .find("         {\n              name: test-policy-13")
        .expect("ottl policy");
    let end = text[start..]
        .find("         {\n            name: and-policy-1")
        .expect("next policy")
        + start;
    let without_ottl = format!("{}{}", &text[..start], &text[end..]);
    let config = load(&without_ottl).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(config.decision_wait, Duration::from_secs(10));
    assert_eq!(config.num_traces, 100);
    assert_eq!(config.expected_new_traces_per_sec, 10);
    assert_eq!(config.decision_cache.sampled_cache_size, 100_000);
    assert_eq!(config.decision_cache.non_sampled_cache_size, 100_000);
    assert_eq!(
        names(&config),
        [
            "test-policy-1",
            "test-policy-2",
            "test-policy-3",
            "test-policy-4",
            "test-policy-5",
            "test-policy-6",
            "test-policy-7",
            "test-policy-8",
            "test-policy-9",
            "test-policy-10",
            "test-policy-11",
            "test-policy-12",
            "and-policy-1",
            "drop-policy-1",
            "composite-policy-1",
        ]
    );
    let kind = |name: &str| {
        &config
            .policies
            .iter()
            .find(|policy| policy.name == name)
            .expect("policy present")
            .kind
    };
    assert!(matches!(
        kind("test-policy-2"),
        PolicyKind::Latency {
            threshold_ms: 5000,
            upper_threshold_ms: 10000
        }
    ));
    assert!(matches!(
        kind("test-policy-3"),
        PolicyKind::NumericAttribute {
            min_value: Some(50),
            max_value: Some(100),
            ..
        }
    ));
    assert!(matches!(
        kind("test-policy-7"),
        PolicyKind::StringAttribute {
            matcher: StringMatcher::Regex(_),
            cache_max_size: 10,
            ..
        }
    ));
    assert!(matches!(
        kind("test-policy-8"),
        PolicyKind::RateLimiting {
            spans_per_second: 35,
            burst_capacity: 70
        }
    ));
    assert!(matches!(
        kind("test-policy-9"),
        PolicyKind::BytesLimiting {
            bytes_per_second: 1024000,
            burst_capacity: 2048000
        }
    ));
    match kind("composite-policy-1") {
        PolicyKind::Composite {
            allocated_spans_per_second,
            sub_policies,
            ..
        } => {
            assert_eq!(sub_policies.len(), 3);
            // 50% and 25% of 1000; the always_sample sub-policy has no allocation.
            assert_eq!(allocated_spans_per_second, &[500, 250, 0]);
        }
        other => panic!("composite-policy-1 is {other:?}"),
    }
    assert!(
        config
            .warnings
            .iter()
            .any(|warning| warning.message.contains("test-composite-policy-3")),
        "{:?}",
        config.warnings
    );
}

#[test]
fn readme_bytes_limiting_example_loads() {
    let config = load(&fixture("readme_example_bytes_limiting.yaml"))
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(config.decision_wait, Duration::from_secs(30), "default");
    assert_eq!(config.num_traces, 50_000, "default");
    assert!(matches!(
        config.policies[0].kind,
        PolicyKind::BytesLimiting {
            bytes_per_second: 1048576,
            burst_capacity: 5242880
        }
    ));
}

/// The practical example puts a `string_attribute` block under a `boolean_attribute`
/// policy (rule 7); the block is ignored with a warning naming its line.
#[test]
fn readme_practical_example_loads_with_a_warning_for_its_mismatched_block() {
    let text = fixture("readme_example_practical.yaml");
    let config = load(&text).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(
        names(&config),
        [
            "backwards-compatibility-policy",
            "team_a-probe",
            "team_a-noisy-endpoint-1",
            "team_a-service-1",
            "team_a-status-policy",
            "team_a-force-sample",
            "do-not-sample",
        ]
    );
    let block_line = text
        .lines()
        .position(|line| line.contains("string_attribute: { key: app.do_not_sample"))
        .expect("rule 7") as u64
        + 1;
    assert_eq!(config.warnings.len(), 1, "{:?}", config.warnings);
    assert_eq!(config.warnings[0].line, Some(block_line));
    assert!(
        config.warnings[0]
            .message
            .contains("string_attribute block is ignored")
    );
}

#[test]
fn collector_testdata_config_loads() {
    let config = load(&fixture("collector_testdata_tail_sampling_config.yaml"))
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(config.policies.len(), 11);
    assert!(matches!(
        &config.policies[3].kind,
        PolicyKind::Probabilistic { hash_salt, sampling_percentage } if hash_salt == "custom-salt" && *sampling_percentage == 0.1
    ));
    assert!(matches!(
        config.policies[7].kind,
        PolicyKind::SpanCount {
            min_spans: 2,
            max_spans: 0
        }
    ));
}

#[test]
fn a_bare_processor_block_loads() {
    let config = load("decision_wait: 1m30s\npolicies:\n  - name: errors\n    type: status_code\n    status_code: {status_codes: [ERROR]}\n")
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(config.decision_wait, Duration::from_secs(90));
    assert_eq!(names(&config), ["errors"]);
}

#[test]
fn a_collector_file_ignores_other_components_and_finds_named_processors() {
    let text = "receivers:\n  otlp: {protocols: {grpc: {}}}\nprocessors:\n  batch: {timeout: 1s}\n  tail_sampling/errors:\n    policies: [{name: errors, type: status_code, status_code: {status_codes: [ERROR]}}]\nservice:\n  pipelines: {traces: {receivers: [otlp], processors: [tail_sampling/errors]}}\n";
    let config = load(text).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(names(&config), ["errors"]);

    let two = text.replace(
        "  batch: {timeout: 1s}\n",
        "  tail_sampling: {policies: [{name: all, type: always_sample}]}\n",
    );
    let error = load_error(&two);
    assert!(
        error.message.contains("several tail_sampling processors"),
        "{error}"
    );
    let picked = TailConfig::from_collector_yaml_str(&two, "two.yaml", "tail_sampling")
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(names(&picked), ["all"]);
    let missing = TailConfig::from_collector_yaml_str(&two, "two.yaml", "tail_sampling/other")
        .expect_err("absent");
    assert!(missing.message.contains("tail_sampling/other"), "{missing}");

    let none = load("processors:\n  batch: {}\n")
        .err()
        .map(|error| error.message);
    assert_eq!(
        none.as_deref(),
        Some("no tail_sampling processor under processors")
    );
}

#[test]
fn unknown_policy_type_names_the_type_and_its_line() {
    let error = load_error("policies:\n  - name: p\n    type: sometimes\n");
    assert_eq!((error.line, error.column), (Some(3), Some(11)), "{error}");
    assert!(
        error.message.contains("unknown policy type \"sometimes\""),
        "{error}"
    );
    assert!(error.to_string().starts_with("test.yaml:3:11: "), "{error}");
}

#[test]
fn missing_keys_are_named() {
    let no_type = load_error("policies:\n  - name: p\n");
    assert_eq!(no_type.line, Some(2), "{no_type}");
    assert!(no_type.message.contains("missing type"), "{no_type}");

    let no_name = load_error("policies:\n  - type: always_sample\n");
    assert_eq!(no_name.line, Some(2), "{no_name}");
    assert!(no_name.message.contains("missing name"), "{no_name}");

    let no_policies = load_error("decision_wait: 10s\n");
    assert!(
        no_policies.message.contains("policies is required"),
        "{no_policies}"
    );

    let no_bounds = load_error(
        "policies:\n  - name: n\n    type: numeric_attribute\n    numeric_attribute: {key: k}\n",
    );
    assert!(
        no_bounds.message.contains("min_value or max_value"),
        "{no_bounds}"
    );
    assert_eq!(no_bounds.line, Some(2), "{no_bounds}");
}

#[test]
fn bad_durations_are_refused_at_their_line() {
    let error =
        load_error("decision_wait: 10 parsecs\npolicies: [{name: a, type: always_sample}]\n");
    assert_eq!(error.line, Some(1), "{error}");
    assert!(error.message.contains("invalid duration"), "{error}");
}

#[test]
fn unknown_keys_are_refused_at_their_line() {
    let top = load_error(
        "decision_wait: 10s\nnum_trace: 5\npolicies: [{name: a, type: always_sample}]\n",
    );
    assert_eq!(top.line, Some(2), "{top}");
    assert!(top.message.contains("num_trace"), "{top}");

    let in_block =
        load_error("policies:\n  - name: slow\n    type: latency\n    latency: {threshold: 5}\n");
    assert_eq!(in_block.line, Some(4), "{in_block}");
    assert!(in_block.message.contains("threshold"), "{in_block}");

    let wrong_type_key = load_error(
        "policies:\n  - name: slow\n    type: latency\n    latency:\n      threshold_ms: 5\n      key: x\n",
    );
    assert_eq!(wrong_type_key.line, Some(6), "{wrong_type_key}");
    assert!(
        wrong_type_key.message.contains("latency does not take key"),
        "{wrong_type_key}"
    );
}

#[test]
fn bad_values_are_refused_at_their_line() {
    let status = load_error(
        "policies:\n  - name: s\n    type: status_code\n    status_code: {status_codes: [ERROR, BROKEN]}\n",
    );
    assert_eq!(status.line, Some(4), "{status}");
    assert!(status.message.contains("BROKEN"), "{status}");

    let regex = load_error(
        "policies:\n  - name: r\n    type: string_attribute\n    string_attribute:\n      key: k\n      enabled_regex_matching: true\n      values: [ok, \"(unclosed\"]\n",
    );
    assert_eq!(regex.line, Some(7), "{regex}");
    assert!(
        regex
            .message
            .contains("invalid regular expression \"(unclosed\""),
        "{regex}"
    );

    let not_a_number = load_error(
        "policies:\n  - name: r\n    type: rate_limiting\n    rate_limiting: {spans_per_second: lots}\n",
    );
    assert_eq!(not_a_number.line, Some(4), "{not_a_number}");
    assert!(
        not_a_number.message.starts_with("spans_per_second: "),
        "{not_a_number}"
    );

    let duplicate = load_error(
        "policies:\n  - {name: a, type: always_sample}\n  - {name: a, type: always_sample}\n",
    );
    assert_eq!(duplicate.line, Some(3), "{duplicate}");
    assert!(
        duplicate
            .message
            .contains("duplicate policy name \"a\" (first at line 2)"),
        "{duplicate}"
    );
}

#[test]
fn nesting_follows_the_collector() {
    let drop_in_and = load_error(
        "policies:\n  - name: a\n    type: and\n    and:\n      and_sub_policy:\n        - {name: d, type: drop, drop: {drop_sub_policy: [{name: x, type: always_sample}]}}\n",
    );
    assert_eq!(drop_in_and.line, Some(6), "{drop_in_and}");
    assert!(
        drop_in_and.message.contains("cannot be nested"),
        "{drop_in_and}"
    );

    let ottl_nested = load_error(
        "policies:\n  - name: d\n    type: drop\n    drop:\n      drop_sub_policy:\n        - name: o\n          type: ottl_condition\n          ottl_condition: {span: [\"true\"]}\n",
    );
    assert_eq!(ottl_nested.line, Some(7), "{ottl_nested}");
    assert!(
        ottl_nested
            .message
            .contains("ottl_condition is not supported"),
        "{ottl_nested}"
    );

    let not_policy = load("policies:\n  - name: n\n    type: not\n    not:\n      not_sub_policy:\n        name: errors\n        type: status_code\n        status_code: {status_codes: [ERROR]}\n")
        .unwrap_or_else(|error| panic!("{error}"));
    assert!(matches!(&not_policy.policies[0].kind, PolicyKind::Not(sub) if sub.name == "errors"));
}

#[test]
fn empty_and_malformed_yaml_are_errors() {
    assert!(load_error("").message.contains("empty"));
    let syntax = load_error("policies: [\n");
    assert!(syntax.line.is_some(), "{syntax}");
}

/// Every prefix of a real configuration, and the same with each line's first character
/// dropped, loads or fails with an error: nothing panics on malformed input.
#[test]
fn truncated_and_damaged_configs_never_panic() {
    let text = fixture("readme_example_practical.yaml");
    for end in (0..=text.len()).filter(|end| text.is_char_boundary(*end)) {
        let _ = load(&text[..end]);
    }
    let lines: Vec<&str> = text.lines().collect();
    for damaged_line in 0..lines.len() {
        let damaged: Vec<&str> = lines
            .iter()
            .enumerate()
            .map(|(index, line)| {
                if index == damaged_line {
                    line.get(1..).unwrap_or_default()
                } else {
                    line
                }
            })
            .collect();
        let _ = load(&damaged.join("\n"));
    }
}
