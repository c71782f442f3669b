//! Parsing, printing, validation and error positions.

use super::*;

fn normalised(query: &str) -> String {
    match parse(query) {
        Ok(parsed) => parsed.to_string(),
        Err(error) => panic!("{query:?} should parse: {error}"),
    }
}

fn error(query: &str) -> ParseError {
    match parse(query) {
        Ok(parsed) => panic!("{query:?} should fail, parsed as {parsed}"),
        Err(error) => error,
    }
}

/// The query vectors from Tempo's `test_examples.yaml`, by section.
pub(super) fn tempo_examples() -> Vec<(String, String)> {
    let text = include_str!("../../testdata/traceql/tempo-examples.txt");
    let mut section = String::new();
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix("=== ") {
            section = name.to_string();
            continue;
        }
        let mut query = String::new();
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                query.push(c);
                continue;
            }
            match chars.next() {
                Some('n') => query.push('\n'),
                Some('t') => query.push('\t'),
                Some('r') => query.push('\r'),
                Some(other) => query.push(other),
                None => query.push('\\'),
            }
        }
        out.push((section.clone(), query));
    }
    out
}

#[test]
fn tempo_example_vectors_parse_fail_or_validate_as_tempo_says() {
    let examples = tempo_examples();
    assert!(
        examples.len() > 400,
        "vectors file read: {}",
        examples.len()
    );
    let mut wrong = Vec::new();
    for (section, query) in &examples {
        let result = parse(query);
        let ok = match (section.as_str(), &result) {
            ("valid", Ok(parsed)) => {
                // Printing must give text that parses back to the same text.
                let printed = parsed.to_string();
                match parse(&printed) {
                    Ok(again) if again.to_string() == printed => true,
                    other => {
                        wrong.push(format!("{query:?} printed {printed:?} reparsed {other:?}"));
                        continue;
                    }
                }
            }
            ("parse_fails", Err(e)) => e.kind == ErrorKind::Syntax,
            ("validate_fails", Err(e)) => e.kind == ErrorKind::Invalid,
            ("unsupported", Err(e)) => e.kind == ErrorKind::Unsupported,
            _ => false,
        };
        if !ok {
            wrong.push(format!("[{section}] {query:?} -> {result:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {}:\n{}",
        wrong.len(),
        examples.len(),
        wrong.join("\n")
    );
}

#[test]
fn error_positions_follow_tempo() {
    // (query, Tempo's message) from Tempo's parse_test.go.
    let cases = [
        ("", "parse error : syntax error: unexpected $end"),
        (
            "{ .a } | { .b",
            "parse error at line 1, col 14: syntax error: unexpected $end",
        ),
        (
            "{ .a | .b }",
            "parse error at line 1, col 6: syntax error: unexpected |",
        ),
        (
            "by(.a) && { .b }",
            "parse error at line 0, col 8: syntax error: unexpected &&, expecting with",
        ),
        (
            "by()",
            "parse error at line 1, col 4: syntax error: unexpected )",
        ),
        (
            "coalesce()",
            "parse error at line 1, col 1: syntax error: unexpected coalesce",
        ),
        (
            "select()",
            "parse error at line 1, col 8: syntax error: unexpected )",
        ),
        (
            "{ true } &&",
            "parse error at line 1, col 12: syntax error: unexpected $end, expecting { or (",
        ),
        (
            "{ } >> ",
            "parse error at line 1, col 8: syntax error: unexpected $end, expecting { or (",
        ),
        (
            "({ kind = server } | count() > 1) && { status = error }",
            "parse error at line 1, col 38: syntax error: unexpected {, expecting (",
        ),
        (
            "{ status = bad }",
            "parse error at line 1, col 12: unknown identifier: bad",
        ),
        (
            "{ name = \"a\" &&\n  kind = }",
            "parse error at line 2, col 10: syntax error: unexpected }",
        ),
        (
            "{ trace:name = \"a\" }",
            "parse error at line 1, col 9: syntax error: unexpected name, expecting duration or rootName or rootService or id",
        ),
        (
            "{ .foo = \"a\" }}",
            "parse error at line 1, col 15: syntax error: unexpected }, expecting with",
        ),
        (
            "count(",
            "parse error at line 1, col 7: syntax error: unexpected $end, expecting )",
        ),
        (
            "count(avg)",
            "parse error at line 1, col 7: syntax error: unexpected avg, expecting )",
        ),
        (
            "count(.thing)",
            "parse error at line 1, col 7: syntax error: unexpected ., expecting )",
        ),
        (
            "wharblgarbl",
            "parse error at line 1, col 1: syntax error: unexpected IDENTIFIER",
        ),
        (
            "{ 2 <> 3}",
            "parse error at line 1, col 6: syntax error: unexpected >",
        ),
        (
            "{ 2 = .b ",
            "parse error at line 1, col 10: syntax error: unexpected $end",
        ),
        (
            "{ + }",
            "parse error at line 1, col 3: syntax error: unexpected +",
        ),
        (
            "{ . foo }",
            "parse error at line 1, col 3: syntax error: unexpected END_ATTRIBUTE, expecting IDENTIFIER",
        ),
        (
            "{ .foo .bar }",
            "parse error at line 1, col 8: syntax error: unexpected .",
        ),
        (
            "{ parent. }",
            "parse error at line 0, col 3: syntax error: unexpected END_ATTRIBUTE, expecting IDENTIFIER or resource. or span.",
        ),
        (
            ".3foo",
            "parse error at line 1, col 3: syntax error: unexpected IDENTIFIER",
        ),
        (
            "{ .\"foo }",
            "parse error at line 0, col 3: unexpected EOF, expecting \"",
        ),
        (
            "{} | topk(10)",
            "parse error at line 1, col 6: syntax error: unexpected topk",
        ),
    ];
    let mut wrong = Vec::new();
    for (query, expected) in cases {
        let got = error(query).to_string();
        if got != expected {
            wrong.push(format!("{query:?}\n  want {expected}\n  got  {got}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn positions_count_lines_and_characters() {
    let e = error("{ .a = 1 }\n| { .b = }");
    assert_eq!((e.line, e.column), (2, 10), "{e}");
    let e = error("{ name = \"é\" } | { + }");
    assert_eq!(
        (e.line, e.column),
        (1, 20),
        "columns count characters, not bytes: {e}"
    );
}

#[test]
fn prints_tempo_normal_form() {
    let cases = [
        ("{}", "{ true }"),
        ("{ .a = 1 }", "{ .a = 1 }"),
        (
            "{ span.a = \"x\" && resource.b != 2.5 }",
            "{ (span.a = `x`) && (resource.b != 2.5) }",
        ),
        ("{ 1 = 2 }", "{ false }"),
        ("{ -1 = .a }", "{ -1 = .a }"),
        ("{ duration > 1.5s }", "{ duration > 1.5s }"),
        ("{ duration > 1h }", "{ duration > 1h0m0s }"),
        ("{ span:duration > 100ms }", "{ duration > 100ms }"),
        ("{ span:status = error }", "{ status = error }"),
        ("{ trace:rootService = \"a\" }", "{ rootServiceName = `a` }"),
        ("{ span:id = \"01\" }", "{ span:id = `01` }"),
        ("{ trace:id = \"00ab\" }", "{ trace:id = `ab` }"),
        ("{ span.\"foo bar\" = 1 }", "{ span.\"foo bar\" = 1 }"),
        ("{ .a != nil }", "{ .a != nil }"),
        ("{ nil = .a }", "{ .a = nil }"),
        ("{ .a } && { .b }", "({ .a }) && ({ .b })"),
        (
            "{ .a } >> { .b } | count() > 2",
            "({ .a }) >> ({ .b })|(count()) > 2",
        ),
        (
            "{ } | by(resource.service.name) | avg(duration) > 1s",
            "{ true }|by(resource.service.name)|(avg(duration)) > 1s",
        ),
        (
            "{ } | select(span.a, resource.b)",
            "{ true }|select(span.a, resource.b)",
        ),
        ("{ } | coalesce()", "{ true }|coalesce()"),
        (
            "{ .a } with (most_recent=true)",
            "{ .a } with(most_recent=true)",
        ),
        ("{ 1.0 = .a }", "{ 1.0 = .a }"),
        ("{ .a = 1e21 }", "{ .a = 1e+21 }"),
        ("{ .a = 1000000.0 }", "{ .a = 1e+06 }"),
        ("{ .a = 123456.5 }", "{ .a = 123456.5 }"),
        ("{ .a = 0.00001 }", "{ .a = 1e-05 }"),
        ("{ .a = 0.0 / 0.0 }", "{ .a = (0.0 / 0.0) }"),
        ("{ .a = -9223372036854775807 - 1 }", "{ .a = minInt }"),
        ("{ .\"\" = 1 }", "{ .\"\" = 1 }"),
        // Found by the fuzzer: `.7` would read back as the float 0.7.
        ("{ span:id = .\"7\" }", "{ span:id = .\"7\" }"),
        ("{ .a = \"cr\\r\" }", "{ .a = \"cr\\r\" }"),
        ("{ .a = `has \"quotes\"` }", "{ .a = `has \"quotes\"` }"),
        ("{ .a = \"back`tick\" }", "{ .a = \"back`tick\" }"),
        (
            "({ .a } | count() > 1) && ({ .b })",
            "({ .a }|(count()) > 1) && ({ .b })",
        ),
        ("{ 2 * 3 = .a }", "{ 6 = .a }"),
        ("{ .a + 1 = 2 }", "{ (.a + 1) = 2 }"),
        ("{ .a+1 = 2 }", "{ .a+1 = 2 }"),
        ("{ .a-1 }", "{ .a-1 }"),
    ];
    for (query, expected) in cases {
        assert_eq!(normalised(query), expected, "{query}");
        assert_eq!(normalised(expected), expected, "reparse of {expected}");
    }
}

#[test]
fn precedence_follows_tempo_grammar() {
    // `&&` and `||` share one precedence level and associate to the left.
    assert_eq!(normalised("{ .a || .b && .c }"), "{ (.a || .b) && .c }");
    assert_eq!(
        normalised("{ .a = 1 || .b = 2 }"),
        "{ (.a = 1) || (.b = 2) }"
    );
    assert_eq!(normalised("{ !.a = 2 }"), "{ (!.a) = 2 }");
    assert_eq!(normalised("{ -.a * 2 = 2 }"), "{ (-(.a * 2)) = 2 }");
    assert_eq!(
        normalised("{ .a ^ .b ^ .c = 1 }"),
        "{ (.a ^ (.b ^ .c)) = 1 }"
    );
    assert_eq!(
        normalised("{ .x } && { .y } > { .z }"),
        "({ .x }) && (({ .y }) > ({ .z }))"
    );
    assert_eq!(
        normalised("{ .x } || { .y } && { .z }"),
        "(({ .x }) || ({ .y })) && ({ .z })"
    );
}

#[test]
fn type_errors_name_the_expression() {
    let cases = [
        (
            "{ 1 = \"foo\" }",
            "binary operations must operate on the same type: 1 = `foo`",
        ),
        (
            "{ status > ok }",
            "illegal operation for the given types: status > ok",
        ),
        ("{ .a =~ \"[\" }", "invalid regex: `[`"),
        (
            "{ name }",
            "span filter field expressions must resolve to a boolean: { name }",
        ),
        (
            "{ status = nil }",
            "status=nil is not valid because intrinsics cannot be nil",
        ),
        (
            "{ resource.service.name = nil }",
            "resource.service.name=nil is not valid because resource.service.name cannot be nil",
        ),
        ("{ -true }", "illegal operation for the given type: -true"),
        (
            "sum(3) = 2",
            "aggregate field expressions must reference the span: sum(3)",
        ),
        (
            "max(name) = 1",
            "aggregate field expressions must resolve to a number type: max(name)",
        ),
        (
            "{ } | by(1)",
            "grouping field expressions must reference the span: by(1)",
        ),
        ("{ parent.a = 1 }", "parent not yet supported"),
    ];
    for (query, expected) in cases {
        let e = error(query);
        assert_ne!(e.kind, ErrorKind::Syntax, "{query}");
        assert_eq!(e.to_string(), expected, "{query}");
    }
}

#[test]
fn lexer_errors_and_limits() {
    assert_eq!(
        error("{ .a = 99999999999999999999 }").message,
        "strconv.Atoi: parsing \"99999999999999999999\": value out of range"
    );
    assert_eq!(error("{ .a = \"x }").message, "literal not terminated");
    assert!(error("{ .a = \"\\q\" }").message.contains("invalid syntax"));
    let deep = format!("{}{{ .a }}{}", "(".repeat(200), ")".repeat(200));
    assert!(
        error(&deep).message.contains("nests deeper"),
        "deep nesting is refused"
    );
    let deep_field = format!("{{ {}.a{} }}", "(".repeat(200), ")".repeat(200));
    assert!(error(&deep_field).message.contains("nests deeper"));
    let deep_not = format!("{{ {}.a }}", "!".repeat(500));
    assert!(error(&deep_not).message.contains("nests deeper"));
    let chain = format!("{{ {} }}", vec![".a = 1"; 5_000].join(" && "));
    assert!(error(&chain).message.contains("more than 1000 operators"));
    let chain = vec!["{ .a }"; 2_000].join(" && ");
    assert!(error(&chain).message.contains("more than 1000 operators"));
    normalised(&format!("{{ {} }}", vec![".a = 1"; 400].join(" && ")));
    // Shallow nesting is fine.
    normalised(&format!("{}{{ .a }}{}", "(".repeat(20), ")".repeat(20)));
}

#[test]
fn comments_and_raw_strings() {
    assert_eq!(normalised("{ .a = 1 } // trailing"), "{ .a = 1 }");
    assert_eq!(normalised("{ /* c */ .a = `x\\y` }"), "{ .a = `x\\y` }");
    assert_eq!(normalised("{ .a = \"\\u00e9\\t\" }"), "{ .a = `é\t` }");
}

#[test]
fn metrics_queries_parse_but_are_flagged() {
    let query = parse("{ } | rate() by (resource.service.name)").expect("parses");
    assert!(query.is_metrics());
    // Like Tempo's search, the spanset part runs and the metrics stage is ignored.
    let spans = vec![super::tests_eval::span(1, None, "a", "s")];
    assert_eq!(query.try_evaluate(&spans).expect("evaluates")[0].matched, 1);
    let math = parse("({ } | rate()) / ({ } | count_over_time())").expect("parses");
    assert!(math.is_metrics());
    assert_eq!(math.try_evaluate(&spans), Err(EvalError::MetricsQuery));
    assert!(!parse("{ } | count() > 1").expect("parses").is_metrics());
}

#[test]
fn hints() {
    let query = parse("{ } with(most_recent=true, sample=0.1)").expect("parses");
    assert!(query.most_recent());
    assert_eq!(query.hints()[1], ("sample".to_string(), Static::Float(0.1)));
    assert!(
        !parse("{ } with(most_recent=false)")
            .expect("parses")
            .most_recent()
    );
    assert!(
        !parse("{ } with(most_recent=1)")
            .expect("parses")
            .most_recent()
    );
    assert!(!parse("{ }").expect("parses").most_recent());
    // A later with() replaces an earlier one.
    assert!(
        !parse("{ } with(most_recent=true) with(x=1)")
            .expect("parses")
            .most_recent()
    );
}

#[test]
fn intrinsic_names_are_parseable() {
    assert_eq!(intrinsic_names().len(), 25);
    for name in intrinsic_names() {
        let query = format!("{{ {name} != nil }}");
        parse(&query).unwrap_or_else(|e| panic!("{query}: {e}"));
    }
}
