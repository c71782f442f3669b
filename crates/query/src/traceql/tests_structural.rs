//! Structural operators on a deep tree with siblings, and on hostile shapes.

use std::time::{Duration, Instant};

use weft_model::Span;

use super::tests_eval::span;
use super::*;

/// ```text
/// 1 A
/// ├─ 2 B
/// │  ├─ 4 C
/// │  │  └─ 7 D
/// │  └─ 5 D
/// └─ 3 C
///    └─ 6 B
///       └─ 8 D
/// ```
fn tree() -> Vec<Span> {
    let shape = [
        (1, None, "A"),
        (2, Some(1), "B"),
        (3, Some(1), "C"),
        (4, Some(2), "C"),
        (5, Some(2), "D"),
        (6, Some(3), "B"),
        (7, Some(4), "D"),
        (8, Some(6), "D"),
    ];
    // Reversed so results cannot depend on parents coming first.
    shape
        .iter()
        .rev()
        .map(|(id, parent, name)| span(*id, *parent, name, "svc"))
        .collect()
}

fn ids(query: &str, spans: &[Span]) -> Vec<u64> {
    let parsed = parse(query).unwrap_or_else(|e| panic!("{query}: {e}"));
    let sets = parsed
        .try_evaluate(spans)
        .unwrap_or_else(|e| panic!("{query}: {e}"));
    assert!(sets.len() <= 1, "{query}");
    let mut ids: Vec<u64> = sets
        .first()
        .map(|set| {
            set.spans
                .iter()
                .map(|s| spans[s.index].span_id.as_u64())
                .collect()
        })
        .unwrap_or_default();
    ids.sort_unstable();
    ids
}

#[track_caller]
fn check(query: &str, expected: &[u64]) {
    let query = query.replace('\'', "\"");
    assert_eq!(ids(&query, &tree()), expected, "{query}");
}

#[test]
fn descendant_and_ancestor() {
    check("{ name = 'B' } >> { name = 'D' }", &[5, 7, 8]);
    check("{ name = 'C' } >> { name = 'D' }", &[7, 8]);
    check("{ name = 'D' } << { name = 'B' }", &[2, 6]);
    check("{ name = 'D' } << { name = 'A' }", &[1]);
    check("{ } >> { }", &[2, 3, 4, 5, 6, 7, 8]);
    check("{ } << { }", &[1, 2, 3, 4, 6]);
    check("{ name = 'D' } >> { }", &[]);
}

#[test]
fn child_and_parent() {
    check("{ name = 'C' } > { name = 'D' }", &[7]);
    check("{ name = 'A' } > { }", &[2, 3]);
    check("{ name = 'D' } < { name = 'C' }", &[4]);
    check("{ name = 'B' } < { }", &[1, 3]);
    // Left-associative chains narrow step by step.
    check("{ name = 'A' } > { name = 'B' } > { name = 'C' }", &[4]);
    check("{ name = 'A' } >> ({ name = 'C' } > { name = 'D' })", &[7]);
}

#[test]
fn sibling() {
    check("{ name = 'B' } ~ { name = 'C' }", &[3]);
    check("{ name = 'C' } ~ { name = 'D' }", &[5]);
    // A span is not its own sibling.
    check("{ name = 'D' } ~ { name = 'D' }", &[]);
    check("{ } ~ { }", &[2, 3, 4, 5]);
}

#[test]
fn negations() {
    check("{ name = 'B' } !>> { name = 'D' }", &[]);
    check("{ name = 'C' } !>> { name = 'D' }", &[5]);
    check("{ name = 'C' } !> { name = 'D' }", &[5, 8]);
    check("{ name = 'D' } !< { name = 'C' }", &[3]);
    check("{ name = 'C' } !<< { name = 'B' }", &[6]);
    check("{ name = 'C' } !~ { name = 'D' }", &[7, 8]);
    // Nothing on the left: every right-hand span qualifies.
    check("{ name = 'X' } !>> { name = 'D' }", &[5, 7, 8]);
}

#[test]
fn unions_return_both_sides() {
    check("{ name = 'C' } &>> { name = 'D' }", &[3, 4, 7, 8]);
    check("{ name = 'C' } &> { name = 'D' }", &[4, 7]);
    check("{ name = 'D' } &< { name = 'C' }", &[4, 7]);
    check("{ name = 'D' } &<< { name = 'B' }", &[2, 5, 6, 7, 8]);
    check("{ name = 'B' } &~ { name = 'C' }", &[2, 3]);
    check("{ name = 'X' } &>> { name = 'D' }", &[]);
}

#[test]
fn structural_with_pipelines() {
    check(
        "({ name = 'B' } | count() > 1) >> ({ name = 'D' })",
        &[5, 7, 8],
    );
    check("({ name = 'B' } | count() > 2) >> ({ name = 'D' })", &[]);
    check("{ name = 'B' } >> { name = 'D' } | count() = 3", &[5, 7, 8]);
}

#[test]
fn cycles_and_orphans_terminate() {
    // 1 -> 2 -> 3 -> 1 (a cycle), 4 is its own parent, 5's parent is missing.
    let spans = vec![
        span(1, Some(3), "a", "s"),
        span(2, Some(1), "b", "s"),
        span(3, Some(2), "c", "s"),
        span(4, Some(4), "d", "s"),
        span(5, Some(99), "e", "s"),
    ];
    // Like Tempo's nested sets, only spans reached from a root take part in relations.
    let none = Vec::<u64>::new();
    assert_eq!(ids("{ } >> { }", &spans), none);
    assert_eq!(ids("{ } << { }", &spans), none);
    assert_eq!(ids("{ } &>> { }", &spans), none);
    assert_eq!(ids("{ } ~ { }", &spans), none);
    assert_eq!(ids("{ span:childCount > 0 }", &spans), none);
    assert_eq!(ids("{ name = \"e\" } !>> { }", &spans), [1, 2, 3, 4, 5]);
    // No root: Tempo's root name and service are empty.
    assert_eq!(
        ids("{ rootName = \"\" && rootServiceName = \"\" }", &spans),
        [1, 2, 3, 4, 5]
    );
    // A root with a detached subtree: the subtree is not related to the root.
    let spans = vec![
        span(1, None, "root", "s"),
        span(2, Some(1), "child", "s"),
        span(3, Some(50), "detached", "s"),
        span(4, Some(3), "under-detached", "s"),
    ];
    assert_eq!(ids("{ name = \"root\" } >> { }", &spans), [2]);
    assert_eq!(ids("{ } > { name = \"under-detached\" }", &spans), none);
    parse("{ nestedSetLeft > 0 }")
        .expect("parses")
        .evaluate(&spans);
}

#[test]
fn deep_chains_are_linear() {
    let n = 100_000u64;
    let spans: Vec<Span> = (1..=n)
        .map(|id| {
            let parent = (id > 1).then(|| id - 1);
            let name = if id == n { "leaf" } else { "link" };
            span(id, parent, name, "s")
        })
        .collect();
    let started = Instant::now();
    for query in [
        "{ span:childCount = 0 } << { }",
        "{ } >> { name = \"leaf\" }",
        "{ } &>> { }",
        "{ } !<< { }",
        "{ nestedSetLeft = 1 } >> { nestedSetRight = 100001 }",
    ] {
        let parsed = parse(query).expect("parses");
        assert!(!parsed.evaluate(&spans).is_empty(), "{query}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "quadratic structural evaluation: {:?}",
        started.elapsed()
    );
}
