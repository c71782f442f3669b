//! Relabeling test vectors from Prometheus's `model/relabel/relabel_test.go`
//! (TestRelabel, TestRelabelValidate, TestTargetLabelLegacyValidity) and the
//! shared reference `loki-and-pull.md` section D, written as YAML rules so parsing,
//! defaults and validation are exercised together with the actions.

use weft_scrape_config::relabel::{
    Action, RelabelConfig, RelabelConfigError, is_valid_label_name_template,
};
use weft_scrape_config::{Labels, NameValidationScheme, relabel};

fn rules(yaml: &str) -> Vec<RelabelConfig> {
    let mut rules: Vec<RelabelConfig> = serde_saphyr::from_str(yaml).expect("valid rules");
    for rule in &mut rules {
        rule.validate(NameValidationScheme::Utf8)
            .expect("rule validates");
    }
    rules
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn check(input: &[(&str, &str)], yaml: &str, expected: Option<&[(&str, &str)]>) {
    let output = relabel(&labels(input), &rules(yaml));
    assert_eq!(output, expected.map(labels), "rules:\n{yaml}");
}

const ABC: &[(&str, &str)] = &[("a", "foo"), ("b", "bar"), ("c", "baz")];

#[test]
fn replace_with_capture_groups() {
    check(
        ABC,
        "- {source_labels: [a], regex: 'f(.*)', target_label: d, replacement: 'ch${1}-ch${1}'}",
        Some(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("d", "choo-choo")]),
    );
    check(
        &[("a", "abc")],
        "- {source_labels: [a], regex: '.*(b).*', target_label: d}",
        Some(&[("a", "abc"), ("d", "b")]),
    );
}

#[test]
fn multiple_sources_and_chained_rules() {
    check(
        ABC,
        "- {source_labels: [a, b], regex: 'f(.*);(.*)r', target_label: a, replacement: 'b${1}${2}m'}\n\
         - {source_labels: [c, a], regex: '(b).*b(.*)ba(.*)', target_label: d, replacement: '$1$2$2$3'}",
        Some(&[("a", "boobam"), ("b", "bar"), ("c", "baz"), ("d", "boooom")]),
    );
}

#[test]
fn drop_and_keep_are_fully_anchored() {
    check(
        &[("a", "foo")],
        "- {source_labels: [a], regex: '.*o.*', action: drop}\n\
         - {source_labels: [a], regex: 'f(.*)', target_label: d, replacement: 'ch$1-ch$1'}",
        None,
    );
    check(
        &[("a", "foo"), ("b", "bar")],
        "- {source_labels: [a], regex: '.*o.*', action: drop}",
        None,
    );
    check(
        &[("a", "foo")],
        "- {source_labels: [a], regex: no-match, action: drop}",
        Some(&[("a", "foo")]),
    );
    check(
        &[("a", "foo")],
        "- {source_labels: [a], regex: 'f|o', action: drop}",
        Some(&[("a", "foo")]),
    );
    check(
        &[("a", "foo")],
        "- {source_labels: [a], regex: no-match, action: keep}",
        None,
    );
    check(
        &[("a", "foo")],
        "- {source_labels: [a], regex: 'f.*', action: keep}",
        Some(&[("a", "foo")]),
    );
}

#[test]
fn no_match_means_no_replacement_and_empty_result_deletes() {
    check(
        &[("a", "boo")],
        "- {source_labels: [a], regex: f, target_label: b, replacement: bar}",
        Some(&[("a", "boo")]),
    );
    check(
        &[("a", "foo"), ("f", "baz")],
        "- {source_labels: [a], regex: '(f).*', target_label: '$1', replacement: '$2'}",
        Some(&[("a", "foo")]),
    );
}

#[test]
fn hashmod_uses_the_last_eight_md5_bytes() {
    check(
        ABC,
        "- {source_labels: [c], target_label: d, action: hashmod, modulus: 1000}",
        Some(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("d", "976")]),
    );
    check(
        &[("a", "foo\nbar")],
        "- {source_labels: [a], target_label: b, action: hashmod, modulus: 1000}",
        Some(&[("a", "foo\nbar"), ("b", "734")]),
    );
}

#[test]
fn labelmap_copies_matching_names() {
    check(
        &[("a", "foo"), ("b1", "bar"), ("b2", "baz")],
        "- {regex: '(b.*)', replacement: 'bar_${1}', action: labelmap}",
        Some(&[
            ("a", "foo"),
            ("b1", "bar"),
            ("b2", "baz"),
            ("bar_b1", "bar"),
            ("bar_b2", "baz"),
        ]),
    );
    check(
        &[
            ("a", "foo"),
            ("__meta_my_bar", "aaa"),
            ("__meta_my_baz", "bbb"),
            ("__meta_other", "ccc"),
        ],
        "- {regex: '__meta_(my.*)', replacement: '${1}', action: labelmap}",
        Some(&[
            ("a", "foo"),
            ("__meta_my_bar", "aaa"),
            ("__meta_my_baz", "bbb"),
            ("__meta_other", "ccc"),
            ("my_bar", "aaa"),
            ("my_baz", "bbb"),
        ]),
    );
}

#[test]
fn dynamic_target_labels_and_invalid_targets() {
    let rule = "regex: 'some-([^-]+)-([^,]+)'";
    check(
        &[("a", "some-name-value")],
        &format!("- {{source_labels: [a], {rule}, replacement: '${{2}}', target_label: '${{1}}'}}"),
        Some(&[("a", "some-name-value"), ("name", "value")]),
    );
    check(
        &[("a", "some-name-value")],
        &format!("- {{source_labels: [a], {rule}, replacement: '${{3}}', target_label: '${{1}}'}}"),
        Some(&[("a", "some-name-value")]),
    );
    check(
        &[("a", "some-name-0")],
        "- {source_labels: [a], regex: 'some-([^-]+)-([^,]+)', replacement: '${1}', target_label: '${3}'}\n\
         - {source_labels: [a], regex: 'some-([^-]+)-([^,]+)', replacement: '${1}', target_label: '${3}'}\n\
         - {source_labels: [a], regex: 'some-([^-]+)(-[^,]+)', replacement: '${1}', target_label: '${3}'}",
        Some(&[("a", "some-name-0")]),
    );
}

#[test]
fn real_life_tag_parsing() {
    check(
        &[("__meta_sd_tags", "path:/secret,job:some-job,label:foo=bar")],
        "- {source_labels: [__meta_sd_tags], regex: '(?:.+,|^)path:(/[^,]+).*', target_label: __metrics_path__, replacement: '${1}'}\n\
         - {source_labels: [__meta_sd_tags], regex: '(?:.+,|^)job:([^,]+).*', target_label: job, replacement: '${1}'}\n\
         - {source_labels: [__meta_sd_tags], regex: '(?:.+,|^)label:([^=]+)=([^,]+).*', target_label: '${1}', replacement: '${2}'}",
        Some(&[
            ("__meta_sd_tags", "path:/secret,job:some-job,label:foo=bar"),
            ("__metrics_path__", "/secret"),
            ("job", "some-job"),
            ("foo", "bar"),
        ]),
    );
}

#[test]
fn issue_12283_labeldrop_then_recreate() {
    check(
        &[
            ("__meta_kubernetes_pod_container_port_name", "foo"),
            ("__meta_kubernetes_pod_annotation_XXX_metrics_port", "9091"),
        ],
        "- {regex: '^__meta_kubernetes_pod_container_port_name$', action: labeldrop}\n\
         - {source_labels: [__meta_kubernetes_pod_annotation_XXX_metrics_port], regex: '(.+)', replacement: metrics, target_label: __meta_kubernetes_pod_container_port_name}\n\
         - {source_labels: [__meta_kubernetes_pod_container_port_name], regex: '^metrics$', action: keep}",
        Some(&[
            ("__meta_kubernetes_pod_annotation_XXX_metrics_port", "9091"),
            ("__meta_kubernetes_pod_container_port_name", "metrics"),
        ]),
    );
}

#[test]
fn labelkeep_and_labeldrop() {
    let input = &[("a", "foo"), ("b1", "bar"), ("b2", "baz")];
    check(
        input,
        "- {regex: '(b.*)', action: labelkeep}",
        Some(&[("b1", "bar"), ("b2", "baz")]),
    );
    check(
        input,
        "- {regex: '(b.*)', action: labeldrop}",
        Some(&[("a", "foo")]),
    );
}

#[test]
fn lowercase_and_uppercase() {
    check(
        &[("foo", "bAr123Foo")],
        "- {source_labels: [foo], action: uppercase, target_label: foo_uppercase}\n\
         - {source_labels: [foo], action: lowercase, target_label: foo_lowercase}",
        Some(&[
            ("foo", "bAr123Foo"),
            ("foo_lowercase", "bar123foo"),
            ("foo_uppercase", "BAR123FOO"),
        ]),
    );
    // Go maps character by character: no final-sigma rule, ß has no single upper case.
    check(
        &[("a", "ΣΑΣ ßİ")],
        "- {source_labels: [a], action: lowercase, target_label: l}\n\
         - {source_labels: [a], action: uppercase, target_label: u}",
        Some(&[("a", "ΣΑΣ ßİ"), ("l", "σασ ßi"), ("u", "ΣΑΣ ßİ")]),
    );
}

#[test]
fn keepequal_and_dropequal() {
    let ports = &[
        ("__tmp_port", "1234"),
        ("__port1", "1234"),
        ("__port2", "5678"),
    ];
    check(
        ports,
        "- {source_labels: [__tmp_port], action: keepequal, target_label: __port1}",
        Some(ports),
    );
    check(
        ports,
        "- {source_labels: [__tmp_port], action: dropequal, target_label: __port1}",
        None,
    );
    check(
        ports,
        "- {source_labels: [__tmp_port], action: dropequal, target_label: __port2}",
        Some(ports),
    );
    check(
        ports,
        "- {source_labels: [__tmp_port], action: keepequal, target_label: __port2}",
        None,
    );
}

#[test]
fn dot_matches_newline_and_missing_groups_expand_empty() {
    check(
        &[("a", "line1\nline2"), ("b", "bar"), ("c", "baz")],
        "- {source_labels: [a], regex: 'line1.*line2', target_label: d, replacement: 'match${1}'}",
        Some(&[
            ("a", "line1\nline2"),
            ("b", "bar"),
            ("c", "baz"),
            ("d", "match"),
        ]),
    );
}

#[test]
fn utf8_label_names() {
    check(
        &[("utf-8.label", "line1\nline2"), ("b", "bar")],
        "- {source_labels: [utf-8.label], regex: 'line1.*line2', target_label: d, replacement: 'match${1}'}",
        Some(&[
            ("utf-8.label", "line1\nline2"),
            ("b", "bar"),
            ("d", "match"),
        ]),
    );
    check(
        &[("a", "line1\nline2")],
        "- {source_labels: [a], regex: 'line1.*line2', target_label: utf-8.label, replacement: 'match${1}'}",
        Some(&[("a", "line1\nline2"), ("utf-8.label", "match")]),
    );
    check(
        &[("a", "line1\nline2")],
        "- {source_labels: [a], regex: 'line1.*line2', target_label: 'utf-8.label${1}', replacement: 'match${1}'}",
        Some(&[("a", "line1\nline2"), ("utf-8.label", "match")]),
    );
    check(
        &[("a", "line1\nline2")],
        "- {source_labels: [a], regex: '(line1).*(?<second>line2)', target_label: 'label1_${1}', replacement: 'val_${second}'}\n\
         - {source_labels: [a], regex: '(line1).*(?<second>line2)', target_label: 'label2_$1', replacement: 'val_$second'}",
        Some(&[
            ("a", "line1\nline2"),
            ("label1_line1", "val_line2"),
            ("label2_line1", "val_line2"),
        ]),
    );
    check(
        &[("__name__", "http_requests_total")],
        "- {source_labels: [__name__], regex: '.*_total$', target_label: __type__, replacement: counter}",
        Some(&[("__name__", "http_requests_total"), ("__type__", "counter")]),
    );
}

#[test]
fn missing_source_labels_contribute_empty_strings() {
    check(
        &[("b", "x")],
        "- {source_labels: [a, b], regex: ';x', target_label: joined, replacement: yes}",
        Some(&[("b", "x"), ("joined", "yes")]),
    );
    // Constant label (fast path) and deletion by empty replacement.
    check(
        &[("b", "x")],
        "- {target_label: env, replacement: prod}\n- {target_label: b, replacement: ''}",
        Some(&[("env", "prod")]),
    );
}

#[test]
fn defaults_null_regex_and_case_insensitive_actions() {
    let parsed: Vec<RelabelConfig> = serde_saphyr::from_str(
        "- {target_label: x}\n- {regex: ~, action: DROP}\n- {action: LabelMap}",
    )
    .expect("valid");
    assert_eq!(parsed[0].separator, ";");
    assert_eq!(parsed[0].regex.as_str(), "(.*)");
    assert_eq!(parsed[0].replacement, "$1");
    assert_eq!(parsed[0].action, Some(Action::Replace));
    assert_eq!(parsed[1].regex.as_str(), "");
    assert!(parsed[1].regex.is_match("") && !parsed[1].regex.is_match("a"));
    assert_eq!(parsed[1].action, Some(Action::Drop));
    assert_eq!(parsed[2].action, Some(Action::LabelMap));
}

#[test]
fn parse_errors_name_the_problem() {
    for (yaml, expected) in [
        ("- {action: nope}", "unknown relabel action \"nope\""),
        ("- {regex: '('}", "invalid regex"),
        ("- {target_label: x, replacment: y}", "replacment"),
        ("- {source_labels: ['']}", "\"\" is not a valid label name"),
        ("- {modulus: -1}", ""),
    ] {
        let error = serde_saphyr::from_str::<Vec<RelabelConfig>>(yaml).expect_err(yaml);
        assert!(error.to_string().contains(expected), "{yaml}: {error}");
    }
}

fn validation_error(yaml: &str, scheme: NameValidationScheme) -> Option<RelabelConfigError> {
    let mut rule: RelabelConfig = serde_saphyr::from_str(yaml).expect("parses");
    rule.validate(scheme).err()
}

#[test]
fn validation_matches_prometheus() {
    use NameValidationScheme::{Legacy, Utf8};
    let cases: [(&str, NameValidationScheme, Option<&str>); 22] = [
        ("{action: ~}", Utf8, Some("relabel action cannot be empty")),
        (
            "{action: replace}",
            Utf8,
            Some("requires 'target_label' value"),
        ),
        (
            "{action: lowercase}",
            Utf8,
            Some("requires 'target_label' value"),
        ),
        ("{action: lowercase, target_label: '${3}'}", Utf8, None),
        (
            "{action: lowercase, target_label: '${3}'}",
            Legacy,
            Some("\"${3}\" is invalid 'target_label' for lowercase action"),
        ),
        (
            "{source_labels: [a], regex: 'some-([^-]+)-([^,]+)', replacement: '${1}', target_label: '${3}'}",
            Utf8,
            None,
        ),
        (
            "{source_labels: [a], regex: 'x', replacement: '${1}', target_label: '0${3}'}",
            Utf8,
            None,
        ),
        (
            "{source_labels: [a], regex: 'x', replacement: '${1}', target_label: '-${3}'}",
            Utf8,
            None,
        ),
        (
            "{source_labels: [a], target_label: '-${3}'}",
            Legacy,
            Some("is invalid 'target_label' for replace action"),
        ),
        (
            "{source_labels: [a], target_label: 'a.b'}",
            Legacy,
            Some("\"a.b\" is invalid 'target_label'"),
        ),
        (
            "{regex: '__meta_kubernetes_pod_label_(strimzi_io_.+)', action: labelmap, replacement: '$1'}",
            Legacy,
            None,
        ),
        (
            "{regex: '__meta_(.+)', action: labelmap, replacement: '${1}'}",
            Legacy,
            None,
        ),
        (
            "{regex: '(.+)', action: labelmap, replacement: 'a-$1'}",
            Legacy,
            Some("is invalid 'replacement' for labelmap action"),
        ),
        (
            "{action: hashmod, target_label: x}",
            Utf8,
            Some("requires non-zero modulus"),
        ),
        (
            "{action: hashmod, target_label: '$1', modulus: 2}",
            Legacy,
            Some("is invalid 'target_label' for hashmod action"),
        ),
        (
            "{action: uppercase, target_label: x, replacement: y}",
            Utf8,
            Some("'replacement' can not be set for uppercase action"),
        ),
        (
            "{action: uppercase, target_label: x, replacement: $1}",
            Utf8,
            None,
        ),
        (
            "{action: keepequal, target_label: x, regex: '(.*)'}",
            Utf8,
            Some("keepequal action requires only 'source_labels' and `target_label`"),
        ),
        (
            "{action: dropequal, target_label: x, separator: ','}",
            Utf8,
            Some("dropequal action requires only"),
        ),
        (
            "{action: labeldrop, regex: a, source_labels: []}",
            Utf8,
            Some("labeldrop action requires only 'regex', and no other fields"),
        ),
        (
            "{action: labelkeep, regex: a, target_label: b}",
            Utf8,
            Some("labelkeep action requires only 'regex'"),
        ),
        (
            "{action: labelkeep, regex: a, replacement: $1, separator: ;}",
            Utf8,
            None,
        ),
    ];
    for (yaml, scheme, expected) in cases {
        let error = validation_error(yaml, scheme).map(|error| error.to_string());
        match expected {
            None => assert_eq!(error, None, "{yaml}"),
            Some(expected) => {
                let error = error.unwrap_or_else(|| panic!("{yaml} should be invalid"));
                assert!(error.contains(expected), "{yaml}: {error}");
            }
        }
    }
}

#[test]
fn legacy_target_template_validity() {
    let cases = [
        ("-label", false),
        ("label", true),
        ("label${1}", true),
        ("${1}label", true),
        ("${1}", true),
        ("${", false),
        ("$", false),
        ("${}", false),
        ("foo${", false),
        ("$1", true),
        ("asd$2asd", true),
        ("-foo${1}bar-", false),
        ("bar.foo${1}bar", false),
        ("_${1}_", true),
        ("foo${bar}foo", true),
    ];
    for (template, valid) in cases {
        assert_eq!(
            is_valid_label_name_template(template, NameValidationScheme::Legacy),
            valid,
            "{template}"
        );
    }
}

#[test]
fn legacy_scheme_skips_replacements_into_invalid_names_at_run_time() {
    let mut rule: RelabelConfig = serde_saphyr::from_str(
        "{source_labels: [a], regex: '(.*)', target_label: '${1}', replacement: v}",
    )
    .expect("parses");
    rule.validate(NameValidationScheme::Legacy)
        .expect("valid template");
    let output = relabel(&labels(&[("a", "not-legacy")]), &[rule.clone()]);
    assert_eq!(output, Some(labels(&[("a", "not-legacy")])));
    rule.validate(NameValidationScheme::Utf8).expect("valid");
    let output = relabel(&labels(&[("a", "not-legacy")]), &[rule]);
    assert_eq!(
        output,
        Some(labels(&[("a", "not-legacy"), ("not-legacy", "v")]))
    );
}
