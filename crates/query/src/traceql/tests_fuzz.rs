//! Cheap in-crate fuzzing; the libFuzzer target is fuzz/fuzz_targets/traceql_parse.rs.

use super::tests_parse::tempo_examples;
use super::*;

/// A small deterministic mutation fuzzer over Tempo's vectors: whatever parses must
/// evaluate without panicking and print text that parses back to the same text.
#[test]
fn mutated_queries_never_panic_and_print_round_trips() {
    let seeds: Vec<String> = tempo_examples().into_iter().map(|(_, q)| q).collect();
    let pieces = [
        "{",
        "}",
        "(",
        ")",
        " && ",
        " || ",
        " > ",
        " >> ",
        " !~ ",
        " &~ ",
        " | ",
        "nil",
        " = ",
        "-",
        "!",
        ".a",
        "span.",
        "1.5s",
        "\"x\"",
        "`y`",
        "count()",
        "by(",
        "select(",
        "9e999",
        "99999999999999999999",
        "0x1F",
        "\\",
        "\"",
        "é",
        "\n",
        "/*",
        "//",
        "with(",
        "minInt",
        " ^ ",
        " % ",
        "rate()",
        "topk(",
        ",",
        "event:",
        "trace:id",
        "parent.",
    ];
    let spans = {
        let mut spans: Vec<weft_model::Span> = (1..=4)
            .map(|id| super::tests_eval::span(id, (id > 1).then(|| id - 1), "n", "s"))
            .collect();
        spans[1]
            .attributes
            .push(weft_model::KeyValue::new("a", 1i64));
        spans
    };
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut parsed_count = 0;
    for round in 0..20_000 {
        let seed = &seeds[round % seeds.len()];
        let mut chars: Vec<char> = seed.chars().collect();
        for _ in 0..1 + next() % 3 {
            let at = (next() as usize) % (chars.len() + 1);
            match next() % 3 {
                0 if !chars.is_empty() => {
                    chars.remove(at.min(chars.len() - 1));
                }
                1 => {
                    let piece = pieces[(next() as usize) % pieces.len()];
                    for (i, c) in piece.chars().enumerate() {
                        chars.insert(at + i, c);
                    }
                }
                _ => {
                    let other: Vec<char> = seeds[(next() as usize) % seeds.len()].chars().collect();
                    let from = (next() as usize) % (other.len() + 1);
                    chars.splice(at..at, other[from..].iter().copied());
                }
            }
        }
        let query: String = chars.into_iter().collect();
        let Ok(parsed) = parse(&query) else { continue };
        parsed_count += 1;
        let _ = parsed.try_evaluate(&spans);
        let _ = parsed.pushdown();
        let printed = parsed.to_string();
        let again = parse(&printed)
            .unwrap_or_else(|e| panic!("{query:?} printed as {printed:?}, which fails: {e}"));
        assert_eq!(again.to_string(), printed, "{query:?}");
    }
    assert!(
        parsed_count > 1_000,
        "mutations mostly parse: {parsed_count}"
    );
}

#[test]
fn folded_negative_literals_print_in_parentheses() {
    // Found by the traceql_parse fuzz target: `(-3 / 2)` folds to `-1`, which printed
    // bare as `-1 * .other` read back as `-(1 * .other)`.
    for text in [
        "{ ((-3 / 2) * .other)^3 = 2 }",
        "{ (-2) * span.x > 1 }",
        "{ } | count() > (-1 * 2)",
    ] {
        let query = parse(text).expect("valid");
        let printed = query.to_string();
        let again = parse(&printed).unwrap_or_else(|error| panic!("{printed:?}: {error}"));
        assert_eq!(again.to_string(), printed, "{text:?}");
    }
}

#[test]
fn printed_parentheses_may_exceed_the_depth_limit_only_as_a_limit_error() {
    // Found by the traceql_parse fuzz target: 36 stacked `!`/`-` parse within the depth
    // limit, but Tempo's normal form prints each as `-(...)`, and the parentheses count.
    let text = format!("{{ !!{}.a--.4 }}", "-".repeat(34));
    let printed = parse(&text).expect("parses").to_string();
    let error = parse(&printed).expect_err("past the depth limit");
    assert_eq!(error.kind, super::ErrorKind::Limit, "{error}");
    assert!(
        error.to_string().contains("nests deeper than 64 levels"),
        "{error}"
    );
}
