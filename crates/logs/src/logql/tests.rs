use std::time::Duration;

use super::*;

fn labels(text: &str) -> LabelSet {
    LabelSet::parse(text).expect("labels")
}

fn log_query(text: &str) -> LogQuery {
    match parse(text).expect("parses") {
        Query::Log(query) => query,
        Query::Metric(_) => panic!("{text} is a log query"),
    }
}

fn metric(text: &str) -> MetricExpr {
    match parse(text).unwrap_or_else(|error| panic!("{text}: {error}")) {
        Query::Metric(expr) => expr,
        Query::Log(_) => panic!("{text} is a metric query"),
    }
}

fn error_of(text: &str) -> String {
    parse(text).expect_err("does not parse").to_string()
}

#[test]
fn selectors_match_with_all_four_operators_fully_anchored() {
    let stream = labels(r#"{app="mysql-1", env="prod"}"#);
    for (query, selected) in [
        (r#"{app="mysql-1"}"#, true),
        (r#"{app="mysql"}"#, false),
        (r#"{app!="mysql", env="prod"}"#, true),
        (r#"{app=~"mysql.+"}"#, true),
        (r#"{app=~"mysql"}"#, false), // anchored: a prefix is not a match
        (r#"{app=~"sql-1"}"#, false),
        (r#"{app!~"mysql.*", env="prod"}"#, false),
        (r#"{app=~"mysql-1|pg", env=~"p.*"}"#, true),
        (r#"{app="mysql-1", missing=""}"#, true), // absent label is ""
        (r#"{app="mysql-1", missing!=""}"#, false),
        (r#"{ app = "mysql-1" , env = `prod` }"#, true),
    ] {
        assert_eq!(log_query(query).selects(&stream), selected, "{query}");
    }
}

#[test]
fn line_filters_chain_left_to_right() {
    let query =
        log_query(r#"{app="a"} |= "error" != "timeout" |~ "code=[45]\\d\\d" !~ "(?i)DEBUG""#);
    assert_eq!(query.pipeline.len(), 4);
    assert!(query.keeps_line("error code=500 at db"));
    assert!(!query.keeps_line("error code=500 timeout"));
    assert!(!query.keeps_line("error code=200"));
    assert!(!query.keeps_line("error code=404 debug"));
    assert!(!query.keeps_line("warning code=500"));
    // Line regexes are not anchored.
    assert!(log_query(r#"{a="b"} |~ "b.d""#).keeps_line("abcde"));
}

#[test]
fn parse_errors_name_the_position_as_loki_does() {
    assert_eq!(
        error_of(r#"{foo="bar""#),
        "parse error at line 1, col 11: syntax error: unexpected $end, expecting } or ,"
    );
    assert_eq!(
        error_of(r#"{foo=}"#),
        "parse error at line 1, col 6: syntax error: unexpected }, expecting STRING"
    );
    assert_eq!(
        error_of("{foo=\"bar\"}\n  |= 5"),
        "parse error at line 2, col 6: syntax error: unexpected NUMBER, expecting STRING"
    );
    assert!(
        error_of(r#"{foo=~"(unclosed"}"#)
            .starts_with("parse error at line 1, col 7: invalid regex")
    );
    assert!(error_of(r#"{foo=~".*"}"#).contains("at least one regexp or equality matcher"));
    assert!(error_of(r#"{}"#).contains("expecting IDENTIFIER"));
    assert!(error_of(r#"{foo="bar"} |= "x" extra"#).contains("unexpected IDENTIFIER \"extra\""));
    assert!(error_of(r#"{foo="bar} "#).contains("col 6"));
}

#[test]
fn selectors_parse_alone_for_series_and_labels() {
    let matchers = parse_selector(r#"{job="api", level=~"warn|error"}"#).expect("selector");
    assert_eq!(matchers.len(), 2);
    assert_eq!(matchers[1].op, MatchOp::Regex);
    assert!(parse_selector(r#"{job="api"} |= "x""#).is_err());
}

#[test]
fn line_filter_or_chains_any_for_positive_none_for_negative() {
    let query = log_query(r#"{a="b"} |= "error" or "fatal" != "debug" or "trace""#);
    assert_eq!(query.pipeline.len(), 2);
    assert!(query.keeps_line("fatal: x"));
    assert!(query.keeps_line("error: y"));
    assert!(!query.keeps_line("info: z"));
    assert!(!query.keeps_line("error trace"));
    let regex = log_query(r#"{a="b"} |~ "a+c" or "x\\d""#);
    assert!(regex.keeps_line("aaac"));
    assert!(regex.keeps_line("x9"));
    assert!(!regex.keeps_line("x"));
    let ip = log_query(r#"{a="b"} |= ip("10.0.0.0/8")"#);
    assert!(ip.keeps_line("client=10.1.2.3 ok"));
    assert!(!ip.keeps_line("client=11.1.2.3 ok"));
}

#[test]
fn every_stage_kind_parses() {
    let query = log_query(
        r#"{app="api"} |= "x" | json | logfmt --strict --keep-empty | json a="b.c[0]", d | logfmt x="y", z
        | regexp `(?P<method>\w+) (?P<path>\S+)` | pattern "<ip> - <_> <status>" | unpack
        | status >= 400 and latency > 250ms or size < 1KiB, level="error" | (a="1" or b!~"x.*") c=~"y"
        | line_format "{{.a}}" | label_format a="{{.b}}", c=d | drop a, b="v", c=~"re" | keep a, b!="v"
        | decolorize | __error__="""#,
    );
    assert_eq!(query.pipeline.len(), 16);
    assert!(
        matches!(query.pipeline[1], Stage::Parser(ParserStage::Json { ref extractions }) if extractions.is_empty())
    );
    assert!(matches!(
        query.pipeline[2],
        Stage::Parser(ParserStage::Logfmt {
            strict: true,
            keep_empty: true,
            ..
        })
    ));
    let Stage::Parser(ParserStage::Json { extractions }) = &query.pipeline[3] else {
        panic!("json with extractions");
    };
    assert_eq!(extractions[0].label, "a");
    assert_eq!(
        extractions[0].path,
        vec![
            JsonPathPart::Field("b".into()),
            JsonPathPart::Field("c".into()),
            JsonPathPart::Index(0)
        ]
    );
    assert_eq!(extractions[1].path, vec![JsonPathPart::Field("d".into())]);
    let Stage::LabelFilter(LabelFilter::Or(left, right)) = &query.pipeline[8] else {
        panic!("or binds loosest: {:?}", query.pipeline[8]);
    };
    assert!(matches!(**left, LabelFilter::And(..)));
    assert!(matches!(**right, LabelFilter::And(..)));
    let LabelFilter::And(left, _) = &**left else {
        panic!("and");
    };
    assert!(
        matches!(**left, LabelFilter::Number { op: CompareOp::GreaterOrEqual, value, .. } if value == 400.0)
    );
}

#[test]
fn typed_label_filters_classify_their_literal() {
    let filter = |text: &str| match &log_query(&format!("{{a=\"b\"}} | {text}")).pipeline[0] {
        Stage::LabelFilter(filter) => filter.clone(),
        other => panic!("{other:?}"),
    };
    assert!(matches!(filter("x > 1.5"), LabelFilter::Number { value, .. } if value == 1.5));
    assert!(matches!(filter("x == -2"), LabelFilter::Number { value, .. } if value == -2.0));
    assert!(matches!(
        filter("x = 3"),
        LabelFilter::Number {
            op: CompareOp::Equal,
            ..
        }
    ));
    assert!(
        matches!(filter("x > 1m30s"), LabelFilter::Duration { nanos, .. } if nanos == 90_000_000_000)
    );
    assert!(
        matches!(filter("x <= 250ms"), LabelFilter::Duration { nanos, .. } if nanos == 250_000_000)
    );
    assert!(matches!(filter("x > 20MB"), LabelFilter::Bytes { bytes, .. } if bytes == 20_000_000));
    assert!(matches!(filter("x > 1KiB"), LabelFilter::Bytes { bytes, .. } if bytes == 1024));
    assert!(matches!(
        filter(r#"x = ip("10.0.0.1")"#),
        LabelFilter::Ip { negated: false, .. }
    ));
    assert!(matches!(filter(r#"x != "y""#), LabelFilter::String(_)));
}

#[test]
fn metric_queries_parse_into_the_tree() {
    let MetricExpr::Range(range) = metric(r#"rate({app="a"} |= "x" [5m] offset 1h)"#) else {
        panic!("range aggregation");
    };
    assert_eq!(range.function, RangeFunction::Rate);
    assert_eq!(range.range.range, Duration::from_secs(300));
    assert_eq!(range.range.offset, Duration::from_secs(3600));
    assert_eq!(range.range.query.pipeline.len(), 1);
    // The range may also follow the selector, with the pipeline after it.
    let MetricExpr::Range(range) = metric(r#"count_over_time({app="a"}[1m] |= "x" | json)"#) else {
        panic!("range");
    };
    assert_eq!(range.range.query.pipeline.len(), 2);
    let MetricExpr::Range(range) = metric(
        r#"quantile_over_time(0.99, {app="a"} | json | unwrap duration(latency) | __error__="" [5m]) by (path)"#,
    ) else {
        panic!("quantile");
    };
    assert_eq!(range.parameter, Some(0.99));
    let unwrap = range.range.unwrap.expect("unwrap");
    assert_eq!(unwrap.label, "latency");
    assert_eq!(unwrap.conversion, UnwrapConversion::Duration);
    assert_eq!(unwrap.post_filters.len(), 1);
    assert_eq!(
        range.grouping,
        Some(Grouping {
            without: false,
            labels: vec!["path".into()]
        })
    );
    let MetricExpr::Range(range) = metric(r#"sum_over_time(({app="a"} | unwrap bytes(size))[1h])"#)
    else {
        panic!("parenthesised range");
    };
    assert_eq!(
        range.range.unwrap.expect("unwrap").conversion,
        UnwrapConversion::Bytes
    );

    let MetricExpr::Vector(vector) =
        metric(r#"sum by (host) (rate({job="mysql"} |= "error" | json | duration > 10s [1m]))"#)
    else {
        panic!("vector");
    };
    assert_eq!(vector.function, VectorFunction::Sum);
    assert_eq!(
        vector.grouping,
        Some(Grouping {
            without: false,
            labels: vec!["host".into()]
        })
    );
    let MetricExpr::Vector(vector) =
        metric(r#"topk(5, count_over_time({a="b"}[1m])) without (pod)"#)
    else {
        panic!("topk");
    };
    assert_eq!(vector.parameter, Some(5));
    assert!(vector.grouping.expect("grouping").without);
    assert!(matches!(metric("vector(3)"), MetricExpr::VectorLiteral(value) if value == 3.0));
    assert!(matches!(
        metric(r#"sort_desc(count_over_time({a="b"}[1m]))"#),
        MetricExpr::Vector(_)
    ));
    let MetricExpr::LabelReplace(replace) =
        metric(r#"label_replace(rate({a="b"}[1m]), "dst", "$1", "src", "(.*)-x")"#)
    else {
        panic!("label_replace");
    };
    assert_eq!(replace.destination, "dst");
    assert!(replace.regex.is_match("a-x"));
    assert!(!replace.regex.is_match("a-xy"));
}

#[test]
fn binary_operators_follow_lokis_precedence_and_fold_literals() {
    let rate = r#"rate({a="b"}[1m])"#;
    let MetricExpr::Binary(top) = metric(&format!("{rate} + {rate} * 2 > bool 1 or {rate}")) else {
        panic!("binary");
    };
    assert_eq!(top.op, BinaryOp::Or);
    let MetricExpr::Binary(comparison) = *top.left else {
        panic!("comparison");
    };
    assert_eq!(comparison.op, BinaryOp::Greater);
    assert!(comparison.return_bool);
    let MetricExpr::Binary(sum) = *comparison.left else {
        panic!("sum");
    };
    assert_eq!(sum.op, BinaryOp::Add);
    assert!(matches!(
        *sum.right,
        MetricExpr::Binary(BinaryExpr {
            op: BinaryOp::Mul,
            ..
        })
    ));
    // `^` is right associative; literals fold.
    assert!(matches!(metric("2 ^ 3 ^ 2"), MetricExpr::Literal(value) if value == 512.0));
    assert!(matches!(metric("(1 + 2) * -3"), MetricExpr::Literal(value) if value == -9.0));
    assert!(matches!(metric("2 > 1"), MetricExpr::Literal(value) if value == 1.0));
    let MetricExpr::Binary(matched) = metric(&format!(
        "{rate} / on (a, b) group_left (c) sum by (a, b) ({rate})"
    )) else {
        panic!("matching");
    };
    let matching = matched.matching.expect("matching");
    assert!(matching.on);
    assert_eq!(matching.labels, vec!["a", "b"]);
    assert_eq!(matching.cardinality, Cardinality::ManyToOne);
    assert_eq!(matching.include, vec!["c"]);
    let MetricExpr::Binary(ignoring) = metric(&format!("{rate} unless ignoring (x) {rate}")) else {
        panic!("unless");
    };
    assert_eq!(ignoring.op, BinaryOp::Unless);
    assert!(!ignoring.matching.expect("ignoring").on);
}

#[test]
fn metric_query_errors_read_as_lokis() {
    for (query, expected) in [
        (
            r#"sum_over_time({a="b"}[5m])"#,
            "parse error : invalid aggregation sum_over_time without unwrap",
        ),
        (
            r#"count_over_time({a="b"} | unwrap x [5m])"#,
            "parse error : invalid aggregation count_over_time with unwrap",
        ),
        (
            r#"rate({a="b"}[5m]) by (x)"#,
            "parse error : grouping not allowed for rate aggregation",
        ),
        (
            r#"topk(count_over_time({a="b"}[5m]))"#,
            "parse error : parameter required for operation topk",
        ),
        (
            r#"topk(0, count_over_time({a="b"}[5m]))"#,
            "parse error : invalid parameter (must be greater than 0) topk(0",
        ),
        (
            r#"sum(2, count_over_time({a="b"}[5m]))"#,
            "parse error : unsupported parameter for operation sum(2,",
        ),
        (
            r#"quantile_over_time({a="b"} | unwrap x [5m])"#,
            "parse error : parameter required for operation quantile_over_time",
        ),
        (
            r#"sort by (a) (count_over_time({a="b"}[5m]))"#,
            "parse error : sort and sort_desc doesn't allow grouping by ",
        ),
        (
            r#"1 and count_over_time({a="b"}[5m])"#,
            "parse error : unexpected literal for left leg of logical/set binary operation (and): 1.000000",
        ),
        (
            r#"rate({a="b"})"#,
            "parse error at line 1, col 13: syntax error: unexpected ), expecting |=, !=, |~, !~, |>, !> or | or [range]",
        ),
        (
            r#"rate({a="b"}[5x])"#,
            "parse error at line 1, col 14: not a valid duration string: \"5x\"",
        ),
        (
            r#"sum(rate({a="b"}[5m])"#,
            "parse error at line 1, col 22: syntax error: unexpected $end, expecting )",
        ),
        (
            r#"{a="b"} | unwrap x"#,
            "parse error at line 1, col 11: syntax error: unexpected IDENTIFIER \"unwrap\", expecting a pipeline stage (unwrap is only allowed in a range aggregation)",
        ),
        (
            r#"{a="b"} | foo"#,
            "parse error at line 1, col 14: syntax error: unexpected $end, expecting =, !=, =~, !~, ==, >, >=, < or <=",
        ),
        (
            r#"{a="b"} | line_format "{{.a | nope}}""#,
            "parse error at line 1, col 23: invalid line_format template: template: line:1: function \"nope\" not defined",
        ),
        (
            r#"{a="b"} | regexp "(\\w+)""#,
            "parse error at line 1, col 18: invalid regexp parser: at least one named capture must be supplied",
        ),
        (
            r#"{a="b"} | pattern "<a><b>""#,
            "parse error at line 1, col 19: invalid pattern parser: found consecutive capture '<a><b>': invalid expression",
        ),
        (
            r#"count_over_time({a="b"}[5m]) + bool count_over_time({a="b"}[5m])"#,
            "parse error : bool modifier can only be used on comparison operators",
        ),
        (
            r#"{a="b"} + 1"#,
            "parse error at line 1, col 9: syntax error: a log query cannot be an operand of +; use a range aggregation such as count_over_time({...}[5m])",
        ),
        (
            r#"{a="b"} | x > 5zz"#,
            "parse error at line 1, col 15: syntax error: \"5zz\" is not a number, duration or byte size",
        ),
    ] {
        assert_eq!(error_of(query), expected, "{query}");
    }
}

#[test]
fn nesting_is_bounded() {
    let deep = format!("{}1{}", "(".repeat(5000), ")".repeat(5000));
    assert!(error_of(&deep).contains("nested more than 100 levels deep"));
    let filters = format!(
        r#"{{a="b"}} | {}x="1"{}"#,
        "(".repeat(5000),
        ")".repeat(5000)
    );
    assert!(error_of(&filters).contains("nested more than 100 levels deep"));
    let template = format!(
        r#"{{a="b"}} | line_format "{{{{ {}1{} }}}}""#,
        "(".repeat(500),
        ")".repeat(500)
    );
    assert!(
        error_of(&template).contains("nested more than 64 levels deep"),
        "{}",
        error_of(&template)
    );
    assert!(matches!(
        parse(&format!("{}1{}", "(".repeat(50), ")".repeat(50))),
        Ok(Query::Metric(_))
    ));
}

#[test]
fn realistic_queries_parse() {
    for query in [
        r##"{app="api"} |= "error" or "fatal" != "debug" |~ `code=\d+` | json | status >= 500 and latency > 250ms or size < 1KiB | __error__="""##,
        r##"{app="api"} | logfmt --strict --keep-empty | line_format "{{ if eq .level \"error\" }}{{ .msg | ToUpper }}{{ else }}{{ printf \"%5.1f\" .dur }}{{ end }}""##,
        r##"{app="api"} | json first="a.b[0].c", n | label_format who=user, msg="{{.user}}:{{ __timestamp__ | unixEpoch }}" | drop a, b="v" | keep who, msg"##,
        r##"{app="api"} | pattern `<ip> - - [<_>] "<method> <uri> <_>" <status> <size>` | regexp `(?P<x>\w+)` | unpack | decolorize"##,
        r##"sum by (host) (rate({job="mysql"} |= "error" | json | duration > 10s [1m])) / on (host) group_left (pod) count without (a) (count_over_time({a="b"}[5m] offset 1h))"##,
        r##"quantile_over_time(0.99, {a="b"} | logfmt | unwrap duration(latency) | __error__="" [5m]) by (path) > bool 2 ^ 3 ^ 2"##,
        r##"topk(5, label_replace(sum_over_time(({a="b"} | unwrap bytes(size))[1h]), "dst", "$1", "src", "(.*)")) or vector(0)"##,
    ] {
        parse(query).unwrap_or_else(|error| panic!("{query}: {error}"));
    }
}

/// A deterministic mutation run (the fuzz target's checks, on stable, in every test run):
/// seed queries cut, spliced and byte-flipped must parse or fail with a parse error,
/// and whatever parses must run its pipeline without panicking.
#[test]
fn mutated_queries_never_panic() {
    let seeds = [
        r#"{app="api"} |= "error" or "fatal" |~ `\d+` | json a="b[0].c" | status >= 500 and latency > 250ms or size < 1KiB | __error__="""#,
        r#"{app="api"} | logfmt --strict x="y" | line_format "{{ if eq .a \"b\" }}{{ .c | ToUpper }}{{ else }}{{ printf \"%5.1f|%-3s|%q\" .d .e .f }}{{ end }}""#,
        r#"{app="api"} | pattern `<ip> - <_> "<m> <u>"` | regexp `(?P<x>\w+)` | unpack | label_format a=b, c="{{ trunc -2 .a }}{{ substr 1 3 .a }}" | drop a, b="v" | keep c | decolorize"#,
        r#"sum by (h) (rate({j="m"} | json | d > 10s [1m])) / on (h) group_left (p) count_over_time({a="b"}[5m] offset 1h) > bool 2 ^ -3"#,
        r#"quantile_over_time(0.99, ({a="b"} | logfmt | unwrap bytes(s) | __error__="")[5m]) by (p) or label_replace(vector(1), "d", "$1", "s", "(.*)")"#,
    ];
    let lines = [
        r#"{"a":"b","c":{"d":[1,{"e":"f"}]},"_entry":"x","status":"503","latency":"1s"}"#,
        r#"a=b c="d e" f= g s=1KiB d=1.5 e=é"#,
        "1.2.3.4 - - \"GET /x\" \u{1b}[31m",
    ];
    let stream = LabelSet::parse(r#"{app="api"}"#).expect("labels");
    let metadata = vec![(String::from("t"), String::from("v"))];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut random = move |bound: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % bound.max(1) as u64) as usize
    };
    for _ in 0..3000 {
        let mut bytes = seeds[random(seeds.len())].as_bytes().to_vec();
        for _ in 0..=random(4) {
            let at = random(bytes.len() + 1);
            match random(4) {
                0 => {
                    let end = (at + random(12)).min(bytes.len());
                    bytes.drain(at..end);
                }
                1 => {
                    let other = seeds[random(seeds.len())].as_bytes();
                    let from = random(other.len());
                    let to = (from + random(20)).min(other.len());
                    bytes.splice(at..at, other[from..to].iter().copied());
                }
                2 if at < bytes.len() => bytes[at] = b"(){}[]|=!~\"`,.-<> 0a_$#"[random(23)],
                _ => bytes.insert(at.min(bytes.len()), b"\"`{}()"[random(6)]),
            }
        }
        let Ok(text) = std::str::from_utf8(&bytes) else {
            continue;
        };
        let run = |pipeline: Pipeline<'_>| {
            for line in lines.iter().copied().chain([text]) {
                let _ = pipeline.process(1, line, &stream, &metadata);
            }
        };
        match parse(text) {
            Ok(Query::Log(query)) => run(query.pipeline()),
            Ok(Query::Metric(expr)) => {
                let mut stack = vec![&expr];
                while let Some(expr) = stack.pop() {
                    match expr {
                        MetricExpr::Range(range) => run(range.range.pipeline()),
                        MetricExpr::Vector(vector) => stack.push(&vector.expr),
                        MetricExpr::Binary(binary) => {
                            stack.push(&binary.left);
                            stack.push(&binary.right);
                        }
                        MetricExpr::LabelReplace(replace) => stack.push(&replace.expr),
                        MetricExpr::Literal(_) | MetricExpr::VectorLiteral(_) => {}
                    }
                }
            }
            Err(error) => assert!(
                error.to_string().starts_with("parse error"),
                "{text:?}: {error}"
            ),
        }
    }
}

#[test]
fn pattern_line_filters_test_the_whole_line_as_loki_does() {
    let keeps = |query: &str, line: &str| log_query(query).keeps_line(line);
    assert!(keeps(r#"{a="b"} |> "<_> error <_>""#, "db error timeout"));
    assert!(
        !keeps(r#"{a="b"} |> "<_> error <_>""#, "db error "),
        "an empty trailing capture fails"
    );
    assert!(!keeps(r#"{a="b"} |> "<_> bar""#, "foo bar baz"));
    assert!(keeps(r#"{a="b"} |> "<_> baz""#, "foo bar baz"));
    assert!(keeps(r#"{a="b"} |> "foo <_>""#, "foo bar baz"));
    assert!(keeps(r#"{a="b"} |> "x <_>" or "<_> baz""#, "foo bar baz"));
    assert!(!keeps(r#"{a="b"} !> "<_> baz""#, "foo bar baz"));
    assert!(keeps(r#"{a="b"} !> "<_> qux""#, "foo bar baz"));
    assert_eq!(
        error_of(r#"{a="b"} |> "<x> y""#),
        "parse error at line 1, col 12: invalid line filter pattern: named captures are not allowed: found '<x>'"
    );
}

#[test]
fn bool_on_a_set_operator_is_accepted_and_ignored_as_loki_does() {
    let with_bool =
        parse(r#"sum(count_over_time({a="b"}[5m])) and bool sum(count_over_time({a="b"}[5m]))"#)
            .expect("Loki accepts bool on and");
    let without =
        parse(r#"sum(count_over_time({a="b"}[5m])) and sum(count_over_time({a="b"}[5m]))"#)
            .expect("parses");
    assert_eq!(format!("{with_bool:?}"), format!("{without:?}"));
}

#[test]
fn line_filters_run_first_within_each_run_of_stages_as_loki_orders_them() {
    let Query::Log(query) = parse(
        r#"{a="b"} | json | decolorize |= "x" | level="error" | logfmt |~ "y" | line_format "{{.a}}" != "z""#,
    )
    .expect("parses") else {
        panic!("a log query");
    };
    let kinds: Vec<&str> = query
        .pipeline
        .iter()
        .map(|stage| match stage {
            Stage::LineFilter(_) => "line filter",
            Stage::Parser(_) => "parser",
            Stage::Decolorize => "decolorize",
            Stage::LabelFilter(_) => "label filter",
            Stage::LineFormat(_) => "line_format",
            _ => "other",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "line filter",
            "parser",
            "decolorize",
            "label filter",
            "line filter",
            "parser",
            "line_format",
            "line filter"
        ]
    );
}
