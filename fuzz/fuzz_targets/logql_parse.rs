//! LogQL: parse arbitrary UTF-8. Whatever parses must run its pipeline (log queries and
//! every log range of a metric query) over fixed lines and over the input itself
//! without panicking; a query that fails must fail with Loki's `parse error` prefix.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_logs::LabelSet;
use weft_logs::logql::{self, LogRange, MetricExpr, Query};

const LINES: &[&str] = &[
    r#"{"level":"error","status":503,"latency":"1.5s","size":"2KiB","nested":{"a":[1,{"b":"c"}]},"_entry":"packed"}"#,
    r#"level=info msg="hello world" status=200 latency=250ms size=20MB empty= key"#,
    "10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] \"GET /a.gif HTTP/1.0\" 200 2326",
    "\u{1b}[31mred\u{1b}[0m plain",
    "",
];

fn ranges(expr: &MetricExpr, out: &mut Vec<LogRange>) {
    match expr {
        MetricExpr::Range(range) => out.push(range.range.clone()),
        MetricExpr::Vector(vector) => ranges(&vector.expr, out),
        MetricExpr::Binary(binary) => {
            ranges(&binary.left, out);
            ranges(&binary.right, out);
        }
        MetricExpr::LabelReplace(replace) => ranges(&replace.expr, out),
        MetricExpr::Literal(_) | MetricExpr::VectorLiteral(_) => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let stream = match LabelSet::parse(r#"{app="api", level="x"}"#) {
        Ok(stream) => stream,
        Err(error) => panic!("fixed labels: {error}"),
    };
    let metadata = vec![(String::from("trace_id"), String::from("abc"))];
    let run = |pipeline: logql::Pipeline<'_>| {
        for line in LINES.iter().copied().chain(std::iter::once(text)) {
            if let Some(processed) = pipeline.process(1_700_000_000_000_000_000, line, &stream, &metadata) {
                let _ = processed.labels.to_string();
            }
        }
    };
    match logql::parse(text) {
        Ok(Query::Log(query)) => run(query.pipeline()),
        Ok(Query::Metric(expr)) => {
            let mut found = Vec::new();
            ranges(&expr, &mut found);
            for range in &found {
                run(range.pipeline());
            }
        }
        Err(error) => assert!(error.to_string().starts_with("parse error"), "{text:?}: {error}"),
    }
});
