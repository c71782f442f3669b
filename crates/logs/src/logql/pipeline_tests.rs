//! Known answers for the pipeline stages, checked against Loki's documented behaviour.

use super::*;

fn stream(text: &str) -> LabelSet {
    LabelSet::parse(text).expect("labels")
}

/// Runs `stages` (the text after the selector) over one line of `{app="api"}`; the
/// labels as text and the line, or `None` when dropped.
fn run_with(stages: &str, line: &str, metadata: &[(&str, &str)]) -> Option<(String, String)> {
    let query = match parse(&format!("{{app=\"api\"}} {stages}")).expect("parses") {
        Query::Log(query) => query,
        Query::Metric(_) => panic!("log query"),
    };
    let metadata: Vec<(String, String)> = metadata
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    let labels = stream(r#"{app="api"}"#);
    let processed =
        query
            .pipeline()
            .process(1_700_000_000_123_000_000, line, &labels, &metadata)?;
    Some((processed.labels.to_string(), processed.line.into_owned()))
}

fn run(stages: &str, line: &str) -> Option<(String, String)> {
    run_with(stages, line, &[])
}

fn labels_of(stages: &str, line: &str) -> String {
    run(stages, line).expect("kept").0
}

fn line_of(stages: &str, line: &str) -> String {
    run(stages, line).expect("kept").1
}

#[test]
fn json_flattens_nested_objects_skips_arrays_and_keeps_numbers_as_written() {
    assert_eq!(
        labels_of(
            "| json",
            r#"{"level":"info","a":{"b":{"c":1.50}},"ok":true,"list":[1,2],"nil":null,"my-key":"x","1st":"y","app":"clash"}"#
        ),
        r#"{_1st="y", a_b_c="1.50", app="api", app_extracted="clash", level="info", my_key="x", ok="true"}"#
    );
    assert_eq!(
        labels_of("| json", r#"{"msg":"line\nbreak \u00e9"}"#),
        "{app=\"api\", msg=\"line\\nbreak é\"}"
    );
}

#[test]
fn json_errors_keep_the_line_and_set_error_labels() {
    let (labels, line) = run("| json", "not json").expect("kept");
    assert!(labels.contains(r#"__error__="JSONParserErr""#), "{labels}");
    assert!(labels.contains("__error_details__"), "{labels}");
    assert_eq!(line, "not json");
    assert_eq!(run(r#"| json | __error__="""#, "not json"), None);
    assert!(run(r#"| json | __error__="""#, r#"{"a":"b"}"#).is_some());
    assert!(run(r#"| json | __error__!="""#, "{").is_some());
}

#[test]
fn json_extraction_expressions() {
    let line =
        r#"{"a":{"b":[{"c":"first"},{"c":"second"}]},"n":3,"o":{"x":1},"sp ace":"s","app":"z"}"#;
    assert_eq!(
        labels_of(
            r#"| json first="a.b[0].c", second=`a.b[1]["c"]`, n, o="o", missing="nope", sp=`["sp ace"]`, app"#,
            line
        ),
        r#"{app="api", app_extracted="z", first="first", missing="", n="3", o="{\"x\":1}", second="second", sp="s"}"#
    );
}

#[test]
fn logfmt_default_strict_keep_empty_and_extraction() {
    let line = r#"level=info msg="hello world" empty= standalone dur=1.5s app=x"#;
    assert_eq!(
        labels_of("| logfmt", line),
        r#"{app="api", app_extracted="x", dur="1.5s", level="info", msg="hello world"}"#
    );
    assert_eq!(
        labels_of("| logfmt --keep-empty", line),
        r#"{app="api", app_extracted="x", dur="1.5s", empty="", level="info", msg="hello world", standalone=""}"#
    );
    // Non-strict skips a malformed pair; strict stops and reports it.
    assert_eq!(
        labels_of("| logfmt", "a=1 =bad b=2"),
        r#"{a="1", app="api", b="2"}"#
    );
    let strict = labels_of("| logfmt --strict", "a=1 =bad b=2");
    assert!(
        strict.contains(r#"__error__="LogfmtParserErr""#),
        "{strict}"
    );
    assert!(
        strict.contains(r#"a="1""#) && !strict.contains(r#"b="2""#),
        "{strict}"
    );
    assert_eq!(
        labels_of(r#"| logfmt lvl="level", msg"#, line),
        r#"{app="api", lvl="info", msg="hello world"}"#
    );
}

#[test]
fn regexp_pattern_and_unpack() {
    assert_eq!(
        labels_of(
            r#"| regexp `(?P<method>\w+) (?P<path>\S+)`"#,
            "GET /index.html 200"
        ),
        r#"{app="api", method="GET", path="/index.html"}"#
    );
    assert_eq!(
        labels_of(
            r#"| pattern `<ip> - - [<_>] "<method> <uri> <_>" <status> <size>`"#,
            r#"10.0.0.1 - - [10/Oct/2000:13:55:36] "GET /a.gif HTTP/1.0" 200 2326"#
        ),
        r#"{app="api", ip="10.0.0.1", method="GET", size="2326", status="200", uri="/a.gif"}"#
    );
    // A pattern that does not match from the start extracts nothing.
    assert_eq!(labels_of(r#"| pattern "x<a> y""#, "abc"), r#"{app="api"}"#);
    let (labels, line) = run(
        "| unpack",
        r#"{"_entry":"original line","pod":"p1","app":"z"}"#,
    )
    .expect("kept");
    assert_eq!(labels, r#"{app="api", app_extracted="z", pod="p1"}"#);
    assert_eq!(line, "original line");
}

#[test]
fn the_first_parser_wins_for_a_name() {
    assert_eq!(
        labels_of("| logfmt | json", r#"{"a":"json"}"#),
        r#"{a="json", app="api"}"#
    );
    assert_eq!(
        labels_of("| regexp `(?P<a>x)` | regexp `(?P<a>.+)`", "xyz"),
        r#"{a="x", app="api"}"#
    );
}

#[test]
fn label_filters_by_type_with_lokis_error_handling() {
    let line = r#"status=503 latency=1.5s size=2KiB level=error name=x"#;
    let kept = |filter: &str| run(&format!("| logfmt | {filter}"), line).is_some();
    assert!(kept("status >= 500"));
    assert!(!kept("status < 500"));
    assert!(kept("status == 503 and level=\"error\""));
    assert!(kept("status = 503, level=~\"err.*\""));
    assert!(kept("status > 600 or level!=\"info\""));
    assert!(!kept("(status > 600 or level=\"info\") and name=\"x\""));
    assert!(kept("latency > 1s"));
    assert!(kept("latency <= 1500ms"));
    assert!(!kept("latency > 1m30s"));
    assert!(kept("size > 2KB"));
    assert!(kept("size == 2048B"));
    assert!(!kept("size > 1MiB"));
    assert!(
        !kept("missing > 1"),
        "an absent label fails a numeric filter"
    );
    assert!(kept("missing = \"\""));
    // A value that does not convert keeps the line with LabelFilterErr.
    let labels = labels_of("| logfmt | name > 1", line);
    assert!(labels.contains(r#"__error__="LabelFilterErr""#), "{labels}");
    assert!(
        labels.contains(r#"__error_details__="strconv.ParseFloat: parsing \"x\": invalid syntax""#),
        "{labels}"
    );
    assert!(!kept(r#"name > 1 | __error__="""#));
    assert!(kept(r#"name > 1 | __error__="LabelFilterErr""#));
    assert!(!kept(r#"addr = ip("10.0.0.0/8")"#));
    assert!(run(r#"| logfmt | addr = ip("10.0.0.0/8")"#, "addr=10.2.3.4").is_some());
    assert!(run(r#"| logfmt | addr != ip("10.0.0.0/8")"#, "addr=10.2.3.4").is_none());
}

#[test]
fn drop_keep_and_decolorize() {
    let line = "a=1 b=2 c=3 level=debug";
    assert_eq!(
        labels_of(r#"| logfmt | drop a, b="9", c=~"[0-9]""#, line),
        r#"{app="api", b="2", level="debug"}"#
    );
    assert_eq!(
        labels_of(r#"| logfmt | keep a, level="info""#, line),
        r#"{a="1"}"#
    );
    assert_eq!(
        labels_of(r#"| logfmt | keep app, level=~"d.*""#, line),
        r#"{app="api", level="debug"}"#
    );
    assert_eq!(
        labels_of("| json | drop __error__, __error_details__", "x"),
        r#"{app="api"}"#
    );
    assert_eq!(
        line_of(
            "| decolorize",
            "\u{1b}[31mred\u{1b}[0m plain \u{1b}[1;32mbold\u{1b}[0m"
        ),
        "red plain bold"
    );
}

#[test]
fn line_format_and_label_format_render_go_templates() {
    let line = r#"{"user":"Alice","status":"503","path":"/api/v1/users","dur":"2.5","empty":""}"#;
    let format = |template: &str| line_of(&format!("| json | line_format `{template}`"), line);
    assert_eq!(format("{{.user}} {{ .status }}"), "Alice 503");
    assert_eq!(format("a {{- .user -}} b"), "aAliceb");
    assert_eq!(
        format("{{ .user | ToUpper }} {{ .user | lower }}"),
        "ALICE alice"
    );
    assert_eq!(
        format(
            r#"{{ if eq .status "503" }}down{{ else if eq .status "200" }}up{{ else }}?{{ end }}"#
        ),
        "down"
    );
    assert_eq!(
        format(r#"{{ if and (ne .status "200") (not .empty) }}bad{{end}}"#),
        "bad"
    );
    assert_eq!(format(r#"{{ Replace .path "/" "_" -1 }}"#), "_api_v1_users");
    assert_eq!(
        format(r#"{{ TrimPrefix .path "/api" }} {{ trunc 4 .path }} {{ substr 1 4 .path }}"#),
        "/v1/users /api api"
    );
    assert_eq!(
        format(r#"{{ regexReplaceAll "v(\\d)" .path "V$1" }}"#),
        "/api/V1/users"
    );
    assert_eq!(
        format(r#"{{ default "none" .empty }} {{ .missing }}|"#),
        "none |"
    );
    assert_eq!(
        format(r#"{{ printf "%s took %.1fs (%5d)" .user .dur 42 }}"#),
        "Alice took 2.5s (   42)"
    );
    assert_eq!(
        format(
            r#"{{ add .status 1 }} {{ mulf .dur 2 }} {{ div 7 2 }} {{ len .user }} {{ round 2.567 1 }}"#
        ),
        "504 5 3 5 2.6"
    );
    assert_eq!(
        format(
            r#"{{ if contains "api" .path }}y{{end}}{{ if hasPrefix "/api" .path }}p{{end}}{{ title "hello world" }}"#
        ),
        "ypHello World"
    );
    assert_eq!(format("{{ __line__ | len }}"), line.len().to_string());
    assert_eq!(format("{{ __timestamp__ | unixEpoch }}"), "1700000000");
    assert_eq!(
        format(r#"{{ date "2006-01-02T15:04:05.000Z07:00" __timestamp__ }}"#),
        "2023-11-14T22:13:20.123Z"
    );
    assert_eq!(format("{{/* a comment */}}x"), "x");
    assert_eq!(
        format(r#"{{ replace "/" "." .path }} {{ trimSuffix "users" .path }} {{ trim "  x " }}"#),
        ".api.v1.users /api/v1/ x"
    );
    assert_eq!(
        format(
            r#"{{ bytes "2KiB" }} {{ duration "1m30s" }} {{ int "7.0" }} {{ int "1.5" }} {{ add "2" 3 }}"#
        ),
        "2048 90 7 0 5"
    );
    assert_eq!(
        format(r#"{{ round -2.567 1 }} {{ ceil 1.2 }} {{ floor "1.8" }} {{ max 3 9 4 }}"#),
        "-2.6 2 1 9"
    );
    assert_eq!(
        format(
            r#"{{ unixToTime "1700000000" | unixEpochMillis }} {{ toDate "2006-01-02" "2024-02-29" | unixEpoch }}"#
        ),
        "1700000000000 1709164800"
    );
    assert_eq!(
        format(
            r#"{{ urlencode "a b&c" }} {{ b64enc "hi" }} {{ b64dec "aGk=" }} {{ count "a" "banana" }}"#
        ),
        "a+b%26c aGk= hi 3"
    );
    assert_eq!(
        format(
            r#"{{ alignLeft 4 "ab" }}|{{ alignRight 4 "ab" }}|{{ repeat 2 "x" }}|{{ print 1 2 "a" }}"#
        ),
        "ab  |  ab|xx|1 2a"
    );
    // An execution error keeps the line and sets TemplateFormatErr.
    let (labels, kept_line) = run("| line_format `{{ div 1 0 }}`", "orig").expect("kept");
    assert!(
        labels.contains(r#"__error__="TemplateFormatErr""#),
        "{labels}"
    );
    assert_eq!(kept_line, "orig");

    // As in Loki, a rename earlier in the same label_format removes its source before
    // the templates read the labels.
    assert_eq!(
        labels_of(
            r#"| json | label_format who=user, msg="{{.user}}:{{.status}}" | keep who, msg"#,
            line
        ),
        r#"{msg=":503", who="Alice"}"#
    );
    assert_eq!(
        labels_of(
            r#"| json | label_format msg="{{.user}}:{{.status}}", who=user | keep who, msg"#,
            line
        ),
        r#"{msg="Alice:503", who="Alice"}"#
    );
}

#[test]
fn structured_metadata_are_labels_in_the_pipeline() {
    let (labels, _) = run_with(
        r#"| trace_id="abc""#,
        "x",
        &[("trace_id", "abc"), ("app", "m")],
    )
    .expect("kept");
    assert_eq!(labels, r#"{app="api", app_extracted="m", trace_id="abc"}"#);
    assert!(run_with(r#"| trace_id="zzz""#, "x", &[("trace_id", "abc")]).is_none());
    // A parsed label of the same name as metadata gets the suffix.
    let (labels, _) =
        run_with("| logfmt", "trace_id=parsed", &[("trace_id", "meta")]).expect("kept");
    assert_eq!(
        labels,
        r#"{app="api", trace_id="meta", trace_id_extracted="parsed"}"#
    );
}

#[test]
fn unwrap_gives_the_value_and_drops_the_label() {
    let MetricExpr::Range(range) = (match parse(
        r#"sum_over_time({app="api"} | logfmt | unwrap duration(latency) | __error__="" [1m])"#,
    )
    .expect("parses")
    {
        Query::Metric(expr) => expr,
        Query::Log(_) => panic!("metric"),
    }) else {
        panic!("range");
    };
    let pipeline = range.range.pipeline();
    let labels = stream(r#"{app="api"}"#);
    let processed = pipeline
        .process(0, "latency=1m30s path=/x", &labels, &[])
        .expect("kept");
    assert_eq!(processed.value, Some(90.0));
    assert_eq!(processed.labels.to_string(), r#"{app="api", path="/x"}"#);
    assert!(pipeline.process(0, "latency=fast", &labels, &[]).is_none());
    let MetricExpr::Range(bytes) =
        (match parse(r#"max_over_time({app="api"} | logfmt | unwrap bytes(size) [1m])"#)
            .expect("parses")
        {
            Query::Metric(expr) => expr,
            Query::Log(_) => panic!("metric"),
        })
    else {
        panic!("range");
    };
    let processed = bytes
        .range
        .pipeline()
        .process(0, "size=1.5KiB", &labels, &[])
        .expect("kept");
    assert_eq!(processed.value, Some(1536.0));
    let failed = bytes
        .range
        .pipeline()
        .process(0, "size=big", &labels, &[])
        .expect("kept");
    assert_eq!(failed.value, Some(0.0));
    assert!(failed.labels.to_string().contains("SampleExtractionErr"));
}

#[test]
fn only_line_filters_is_the_fast_path() {
    let query = match parse(r#"{app="api"} |= "a" != "b""#).expect("parses") {
        Query::Log(query) => query,
        Query::Metric(_) => panic!("log"),
    };
    assert!(query.pipeline().only_line_filters());
    let labels = stream(r#"{app="api"}"#);
    let processed = query
        .pipeline()
        .process(0, "a", &labels, &[])
        .expect("kept");
    assert!(matches!(processed.line, std::borrow::Cow::Borrowed("a")));
    assert!(query.pipeline().process(0, "ab", &labels, &[]).is_none());
}

#[test]
fn a_stream_label_named_like_the_error_label_is_the_error() {
    let query = match parse(r#"{app="api"} | json"#).expect("parses") {
        Query::Log(query) => query,
        Query::Metric(_) => panic!("log"),
    };
    let labels = stream(r#"{__error__="old", app="api"}"#);
    let processed = query
        .pipeline()
        .process(0, "not json", &labels, &[])
        .expect("kept");
    assert!(
        processed
            .labels
            .to_string()
            .starts_with(r#"{__error__="JSONParserErr", __error_details__="#),
        "{}",
        processed.labels
    );
    let processed = query
        .pipeline()
        .process(0, "{}", &labels, &[])
        .expect("kept");
    assert_eq!(
        processed.labels.to_string(),
        r#"{__error__="old", app="api"}"#
    );
}

#[test]
fn template_output_is_bounded() {
    let nested = r#"| line_format `{{ Replace (Replace (Replace (Replace (Replace __line__ "" "xxxxxxxxxxxxxxxx" -1) "" "xxxxxxxxxxxxxxxx" -1) "" "xxxxxxxxxxxxxxxx" -1) "" "xxxxxxxxxxxxxxxx" -1) "" "xxxxxxxxxxxxxxxx" -1 }}`"#;
    let (labels, line) = run(nested, "abcdefgh").expect("kept");
    assert!(
        labels.contains(r#"__error__="TemplateFormatErr""#),
        "{labels}"
    );
    assert_eq!(line, "abcdefgh");
    let (labels, _) = run(r#"| line_format `{{ regexReplaceAll "" (repeat 60000 "ab") "${0}xxxxxxxxxxxxxxxxxxxx" }}`"#, "x").expect("kept");
    assert!(labels.contains("output longer than"), "{labels}");
    assert_eq!(
        line_of(
            r#"| line_format `{{ Replace "aaa" "a" "b" 2 }} {{ Replace "ab" "" "-" -1 }}`"#,
            "x"
        ),
        "bba -a-b-"
    );
    assert_eq!(
        line_of(r#"| line_format `{{ indent 2 "a\nb" }}`"#, "x"),
        "  a\n  b"
    );
}

#[test]
fn typed_label_filters_drop_a_missing_label_even_after_a_parser_error() {
    // Loki 3's typed filters: no early pass for entries with an error.
    assert_eq!(run("| json | took < 20", "not json"), None);
    assert_eq!(run("| json | took > 1s", "not json"), None);
    assert_eq!(run("| json | size > 1KB", "not json"), None);
    // A present value is compared although the parser failed later in the line.
    assert!(run("| json | took < 20", r#"{"took":5, broken"#).is_some());
    assert_eq!(run("| json | took < 20", r#"{"took":50, broken"#), None);
    // A value that does not convert keeps the entry, and the first error stays.
    let (labels, _) = run("| json | took < 20", r#"{"took":"soon"}"#).expect("kept");
    assert!(labels.contains(r#"__error__="LabelFilterErr""#), "{labels}");
    let (labels, _) = run("| json | took < 20", r#"{"took":"soon", broken"#).expect("kept");
    assert!(labels.contains(r#"__error__="JSONParserErr""#), "{labels}");
}
