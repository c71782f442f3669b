use super::*;

fn labels(text: &str) -> LabelSet {
    LabelSet::parse(text).expect("labels")
}

fn log_query(text: &str) -> LogQuery {
    match parse(text).expect("parses") {
        Query::Log(query) => query,
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
    assert!(error_of(r#"{foo="bar"} | json"#).contains("| json is not supported yet"));
    assert!(
        error_of(r#"rate({foo="bar"}[5m])"#)
            .contains("metric queries (rate) are not supported yet")
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
