//! Reference results computed by Go (regexp, strings, crypto/md5, hash/fnv,
//! net/url, strconv, and cespare/xxhash as Prometheus uses it), recorded in
//! `fixtures/go-vectors.json` by `fixtures/go-vectors/main.go`
//! (`go run . > ../go-vectors.json`), compared with this crate's results.

use serde_json::Value;
use weft_scrape_config::go_regex::{compile_anchored, expand_into};
use weft_scrape_config::offset::fnv1a_64;
use weft_scrape_config::target::Target;
use weft_scrape_config::{
    Labels, NameValidationScheme, PrometheusDuration, RelabelConfig, ScrapeConfig, relabel,
};

/// Patterns Go accepts that this crate rejects with an error (never misreads):
/// `\Q...\E` quoting, octal escapes, and `[a&&b]` / `\b{start}`, which Go reads
/// as literal characters.
const KNOWN_REJECTED: [&str; 4] = [r"\Qa.b\E", r"\123", "[a&&b]", r"\b{start}"];

fn vectors() -> Value {
    let text = include_str!("fixtures/go-vectors.json");
    serde_json::from_str(text).expect("valid vectors")
}

fn text(value: &Value) -> &str {
    value.as_str().expect("string")
}

#[test]
fn regex_matching_and_expansion_agree_with_go() {
    let vectors = vectors();
    let mut compared = 0;
    for case in vectors["regex"].as_array().expect("regex cases") {
        let pattern = text(&case["pattern"]);
        let input = text(&case["input"]);
        let compiled = compile_anchored(pattern);
        match (case["error"].as_bool() == Some(true), compiled) {
            (true, Err(_)) => continue,
            (true, Ok(_)) => panic!("Go rejects {pattern:?}, weft accepts it"),
            (false, Err(error)) => {
                assert!(
                    KNOWN_REJECTED.contains(&pattern),
                    "Go accepts {pattern:?}, weft rejects it: {error}"
                );
                continue;
            }
            (false, Ok(regex)) => {
                let captures = regex.captures(input);
                assert_eq!(
                    captures.is_some(),
                    case["matched"].as_bool() == Some(true),
                    "{pattern:?} on {input:?}"
                );
                let Some(captures) = captures else { continue };
                let templates = case["templates"].as_array().expect("templates");
                let expected = case["expanded"].as_array().expect("expanded");
                for (template, expected) in templates.iter().zip(expected) {
                    let mut output = String::new();
                    expand_into(&mut output, text(template), &regex, &captures);
                    assert_eq!(
                        output,
                        text(expected),
                        "{pattern:?} on {input:?} expanding {template}"
                    );
                }
                compared += 1;
            }
        }
    }
    assert!(compared > 100, "only {compared} matching cases compared");
}

fn one_rule(yaml: &str) -> RelabelConfig {
    let mut rule: RelabelConfig = serde_saphyr::from_str(yaml).expect("valid rule");
    rule.validate(NameValidationScheme::Utf8).expect("valid");
    rule
}

#[test]
fn case_mapping_agrees_with_go() {
    let rules = [
        one_rule("{source_labels: [v], action: lowercase, target_label: lower}"),
        one_rule("{source_labels: [v], action: uppercase, target_label: upper}"),
    ];
    for case in vectors()["case"].as_array().expect("case vectors") {
        let input = text(&case[0]);
        let output = relabel(&Labels::from_pairs([("v", input)]), &rules).expect("kept");
        assert_eq!(output.get("lower"), text(&case[1]), "lower of {input:?}");
        assert_eq!(output.get("upper"), text(&case[2]), "upper of {input:?}");
    }
}

#[test]
fn hashmod_and_fnv_agree_with_go() {
    let modulo_1000 =
        one_rule("{source_labels: [v], action: hashmod, modulus: 1000, target_label: h}");
    let modulo_7 = one_rule("{source_labels: [v], action: hashmod, modulus: 7, target_label: h}");
    let vectors = vectors();
    for case in vectors["hashmod"].as_array().expect("hashmod vectors") {
        let input = Labels::from_pairs([("v", text(&case[0]))]);
        let bucket = |rule: &RelabelConfig| {
            relabel(&input, std::slice::from_ref(rule))
                .expect("kept")
                .get("h")
                .to_owned()
        };
        assert_eq!(bucket(&modulo_1000), case[1].to_string(), "{case}");
        assert_eq!(bucket(&modulo_7), case[2].to_string(), "{case}");
    }
    for case in vectors["fnv"].as_array().expect("fnv vectors") {
        assert_eq!(
            Some(fnv1a_64(text(&case[0]).as_bytes())),
            case[1].as_u64(),
            "{case}"
        );
    }
}

#[test]
fn label_hash_string_url_and_target_hash_agree_with_go() {
    let config = ScrapeConfig::new("job", &Default::default());
    for case in vectors()["labels"].as_array().expect("label vectors") {
        let labels: Labels = case["labels"]
            .as_array()
            .expect("pairs")
            .iter()
            .map(|pair| (text(&pair[0]), text(&pair[1])))
            .collect();
        assert_eq!(
            Some(labels.prometheus_hash()),
            case["hash"].as_u64(),
            "{case}"
        );
        assert_eq!(labels.to_prometheus_string(), text(&case["string"]));
        let target = Target {
            labels,
            discovered_labels: Labels::new(),
            scrape_interval: PrometheusDuration::from_secs(60),
            scrape_timeout: PrometheusDuration::from_secs(10),
        };
        assert_eq!(target.scrape_url(&config), text(&case["url"]));
        assert_eq!(
            Some(target.hash(&config)),
            case["target_hash"].as_u64(),
            "{case}"
        );
    }
}
