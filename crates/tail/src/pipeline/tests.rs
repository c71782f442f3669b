//! One test (or more) per stage, through [`Pipeline`] as the tailer uses it.

use std::time::{Duration, Instant};

use super::*;

fn pipeline(yaml: &str) -> Pipeline {
    let configs: Vec<StageConfig> = serde_saphyr::from_str(yaml).expect("stages parse");
    Pipeline::compile(&configs, "test").expect("stages compile")
}

fn compile_error(yaml: &str) -> String {
    let configs: Vec<StageConfig> = serde_saphyr::from_str(yaml).expect("stages parse");
    Pipeline::compile(&configs, "test")
        .expect_err("must be refused")
        .to_string()
}

fn entry(line: &str, offset: u64) -> PipelineEntry {
    PipelineEntry {
        labels: BTreeMap::from([(String::from("job"), String::from("app"))]),
        line: line.to_owned(),
        timestamp_unix_nanos: 42,
        start_offset: offset,
        read_at: Some(Instant::now()),
        ..PipelineEntry::default()
    }
}

fn run(pipeline: &mut Pipeline, lines: &[&str]) -> Vec<PipelineEntry> {
    let mut out = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        out.extend(pipeline.process(entry(line, index as u64 * 100)).entries);
    }
    out
}

#[test]
fn cri_parses_and_joins_partial_lines() {
    let mut cri = pipeline("- cri: {}\n");
    let out = run(
        &mut cri,
        &[
            "2019-01-01T01:00:00.000000001Z stderr P part one, ",
            "2019-01-01T01:00:00.000000002Z stderr F part two",
            "2019-01-01T01:00:01Z stdout F whole",
            "not cri at all",
        ],
    );
    assert_eq!(out.len(), 3);
    assert_eq!(out[0].line, "part one, part two");
    assert_eq!(out[0].labels["stream"], "stderr");
    assert_eq!(out[0].timestamp_unix_nanos, 1_546_304_400_000_000_001);
    assert_eq!(
        out[0].start_offset, 0,
        "a joined entry starts at its first line"
    );
    assert_eq!(out[1].line, "whole");
    assert_eq!(
        out[2].line, "not cri at all",
        "a failing stage passes the line on"
    );
}

#[test]
fn cri_holds_a_partial_line_and_reports_where_it_starts() {
    let mut cri = pipeline("- cri:\n");
    let out = run(&mut cri, &["x", "2019-01-01T01:00:00Z stdout P held"]);
    assert_eq!(out.len(), 1);
    assert_eq!(cri.held_start_offset(), Some(100));
    assert_eq!(cri.flush_all().entries[0].line, "held");
    assert_eq!(cri.held_start_offset(), None);
}

#[test]
fn docker_sets_line_stream_and_time() {
    let mut docker = pipeline("- docker: {}\n");
    let out = run(
        &mut docker,
        &[r#"{"log":"hello\n","stream":"stdout","time":"2019-04-30T02:12:41.8443515Z"}"#],
    );
    assert_eq!(out[0].line, "hello");
    assert_eq!(out[0].labels["stream"], "stdout");
    assert_eq!(out[0].timestamp_unix_nanos, 1_556_590_361_844_351_500);
}

#[test]
fn json_expressions_extract_nested_values() {
    let mut json = pipeline(
        "- json:\n    expressions:\n      level:\n      user: ctx.user\n      first: items[0]\n      last: items[-1]\n      dotted: '\"a.b\"'\n      obj: ctx\n",
    );
    let out = run(
        &mut json,
        &[r#"{"level":"warn","ctx":{"user":"ann"},"items":[1,2,3],"a.b":true}"#],
    );
    let extracted = &out[0].extracted;
    assert_eq!(extracted["level"], "warn");
    assert_eq!(extracted["user"], "ann");
    assert_eq!(extracted["first"], "1");
    assert_eq!(extracted["last"], "3");
    assert_eq!(extracted["dotted"], "true");
    assert_eq!(extracted["obj"], r#"{"user":"ann"}"#);
}

#[test]
fn json_counts_bad_lines_or_drops_them() {
    let mut json = pipeline("- json:\n    expressions: {level: }\n");
    assert_eq!(run(&mut json, &["not json"]).len(), 1);
    let mut strict = pipeline("- json:\n    expressions: {level: }\n    drop_malformed: true\n");
    assert!(run(&mut strict, &["not json"]).is_empty());
    assert!(compile_error("- json:\n    expressions: {x: 'a..b'}\n").contains("stage 0: json"));
}

#[test]
fn logfmt_maps_keys() {
    let mut logfmt = pipeline("- logfmt:\n    mapping:\n      level:\n      message: msg\n");
    let out = run(
        &mut logfmt,
        &[r#"ts=1 level=info msg="hello \"you\" there" flag"#],
    );
    assert_eq!(out[0].extracted["level"], "info");
    assert_eq!(out[0].extracted["message"], "hello \"you\" there");
    assert!(!out[0].extracted.contains_key("flag"));
}

#[test]
fn regex_named_groups_and_source() {
    let mut regex = pipeline(
        "- regex:\n    expression: '^(?P<ip>\\S+) (?P<rest>.*)$'\n- regex:\n    source: rest\n    expression: 'status=(?P<status>\\d+)'\n",
    );
    let out = run(&mut regex, &["10.0.0.1 GET / status=404"]);
    assert_eq!(out[0].extracted["ip"], "10.0.0.1");
    assert_eq!(out[0].extracted["status"], "404");
    assert!(compile_error("- regex:\n    expression: '(unclosed'\n").contains("regex"));
    assert!(compile_error("- regex:\n    expression: 'no groups'\n").contains("named capture"));
}

#[test]
fn multiline_joins_until_the_next_first_line_and_caps_lines() {
    let mut multiline = pipeline("- multiline:\n    firstline: '^\\d{4}-'\n    max_lines: 3\n");
    let out = run(
        &mut multiline,
        &[
            "2024-01-01 boom",
            "  at a()",
            "  at b()",
            "2024-01-01 next",
            "  one",
        ],
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].line, "2024-01-01 boom\n  at a()\n  at b()");
    assert_eq!(multiline.held_start_offset(), Some(300));
    let capped = run(&mut multiline, &["  two", "  three"]);
    assert_eq!(capped[0].line, "2024-01-01 next\n  one\n  two");
    assert_eq!(
        multiline.held_start_offset(),
        Some(100),
        "the fifth line waits alone"
    );
}

#[test]
fn multiline_releases_after_max_wait_time() {
    let mut multiline =
        pipeline("- multiline:\n    firstline: '^start'\n    max_wait_time: 10ms\n");
    assert!(run(&mut multiline, &["start", "more"]).is_empty());
    assert!(multiline.flush_expired(Instant::now()).entries.is_empty());
    let later = Instant::now() + Duration::from_millis(50);
    let released = multiline.flush_expired(later);
    assert_eq!(released.entries[0].line, "start\nmore");
}

#[test]
fn timestamp_formats_fallbacks_location_and_fudge() {
    let mut stages = pipeline(
        "- regex:\n    expression: '^(?P<ts>.+?) \\|'\n- timestamp:\n    source: ts\n    format: '2006-01-02 15:04:05.000'\n    fallback_formats: [UnixMs]\n    location: Europe/Berlin\n",
    );
    let out = run(
        &mut stages,
        &[
            "2019-07-09 23:48:36.250 | hello",
            "1562708916250 | x",
            "garbage | y",
        ],
    );
    assert_eq!(out[0].timestamp_unix_nanos, 1_562_708_916_250_000_000);
    assert_eq!(out[1].timestamp_unix_nanos, 1_562_708_916_250_000_000);
    assert_eq!(
        out[2].timestamp_unix_nanos, 1_562_708_916_250_000_001,
        "fudged"
    );
    let mut unix = pipeline(
        "- regex: {expression: '^(?P<ts>\\S+)'}\n- timestamp: {source: ts, format: Unix, action_on_failure: skip}\n",
    );
    let out = run(&mut unix, &["1562708916.5", "nope"]);
    assert_eq!(out[0].timestamp_unix_nanos, 1_562_708_916_500_000_000);
    assert_eq!(out[1].timestamp_unix_nanos, 42, "skip keeps the read time");
    assert!(
        compile_error("- timestamp: {source: ts, format: RFC3339, location: Mars/Base}\n")
            .contains("location")
    );
}

#[test]
fn labels_metadata_static_drop_allow_and_output() {
    let mut stages = pipeline(
        "- logfmt: {mapping: {level: , trace: trace_id, msg: }}\n- labels: {level: }\n- structured_metadata: {trace_id: trace}\n- static_labels: {env: prod, junk: x}\n- labeldrop: [junk]\n- output: {source: msg}\n",
    );
    let out = run(&mut stages, &["level=error trace_id=abc msg=boom"]);
    assert_eq!(out[0].labels["level"], "error");
    assert_eq!(out[0].labels["env"], "prod");
    assert!(!out[0].labels.contains_key("junk"));
    assert_eq!(out[0].structured_metadata["trace_id"], "abc");
    assert_eq!(out[0].line, "boom");
    let mut allow = pipeline("- labelallow: [job]\n- static_labels: {a: b}\n");
    let out = run(&mut allow, &["x"]);
    assert_eq!(out[0].labels.len(), 2);
}

#[test]
fn drop_by_value_expression_length_and_age() {
    let mut by_value =
        pipeline("- logfmt: {mapping: {level: }}\n- drop: {source: level, value: debug}\n");
    let kept = run(
        &mut by_value,
        &["level=debug a", "level=info b", "no level"],
    );
    let lines: Vec<_> = kept.iter().map(|entry| entry.line.as_str()).collect();
    assert_eq!(lines, ["level=info b", "no level"]);
    let mut by_expression = pipeline("- drop: {expression: '.*healthz.*'}\n");
    assert_eq!(run(&mut by_expression, &["GET /healthz", "GET /"]).len(), 1);
    let mut by_length = pipeline("- drop: {longer_than: 5}\n");
    assert_eq!(run(&mut by_length, &["short", "too long"]).len(), 1);
    let mut by_age = pipeline("- drop: {older_than: 1h}\n");
    assert!(run(&mut by_age, &["timestamp 42 is 1970"]).is_empty());
    assert!(compile_error("- drop: {}\n").contains("at least one"));
}

#[test]
fn limit_drops_over_the_burst_or_asks_to_wait() {
    let mut dropping = pipeline("- limit: {rate: 1, burst: 2, drop: true}\n");
    assert_eq!(run(&mut dropping, &["a", "b", "c", "d"]).len(), 2);
    let mut waiting = pipeline("- limit: {rate: 10, burst: 1}\n");
    let first = waiting.process(entry("a", 0));
    assert!(first.delay.is_zero());
    let second = waiting.process(entry("b", 1));
    assert_eq!(second.entries.len(), 1);
    assert!(
        second.delay >= Duration::from_millis(50),
        "{:?}",
        second.delay
    );
    let mut by_label = pipeline(
        "- logfmt: {mapping: {user: }}\n- labels: {user: }\n- limit: {rate: 1, burst: 1, drop: true, by_label_name: user}\n",
    );
    assert_eq!(
        run(&mut by_label, &["user=a", "user=b", "user=a", "user=b"]).len(),
        2
    );
}

#[test]
fn template_renders_values_and_functions() {
    let mut template = pipeline(
        "- logfmt: {mapping: {level: }}\n- template: {source: level, template: '{{ ToUpper .Value }}!'}\n- template: {source: out, template: 'lvl={{ .level }} line={{ .Entry }}'}\n- output: {source: out}\n",
    );
    let out = run(&mut template, &["level=warn"]);
    assert_eq!(out[0].line, "lvl=WARN! line=level=warn");
    assert!(
        compile_error("- template: {source: x, template: '{{ Nope .Value }}'}\n").contains("Nope")
    );
}

#[test]
fn unknown_stages_and_keys_are_refused_at_parse() {
    assert!(serde_saphyr::from_str::<Vec<StageConfig>>("- nope: {}\n").is_err());
    assert!(
        serde_saphyr::from_str::<Vec<StageConfig>>("- json: {expressions: {a: }, typo: 1}\n")
            .is_err()
    );
}
