//! Conformance with Grafana Tempo's recorded answers: every query of
//! `tests/traceql/corpus.yaml` over `tests/traceql/dataset.json`, compared with
//! `tests/traceql/expected.json` (recorded from a real Tempo, see `tests/traceql/TEMPO.md`):
//! error texts, matching traces, spansets (span ids, `matched`, attributes) and the
//! attributes of every returned span.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::Value as Json;
use weft_model::Span;

use super::*;

/// Corpus entries where the engine deliberately or knowingly answers differently, and
/// why: the `engine` and `both` lines of `tests/traceql/known-differences.txt`, which the
/// black-box corpus test shares.
fn known_differences() -> Vec<(String, String)> {
    std::fs::read_to_string(corpus_dir().join("known-differences.txt"))
        .expect("tests/traceql/known-differences.txt")
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .filter_map(|line| {
            let mut fields = line.splitn(3, '\t');
            let id = fields.next()?.trim();
            let seen_by = fields.next()?.trim();
            let why = fields.next().unwrap_or_default().trim();
            matches!(seen_by, "engine" | "both").then(|| (id.to_owned(), why.to_owned()))
        })
        .collect()
}

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/traceql")
}

fn load_traces() -> BTreeMap<String, Vec<Span>> {
    let dataset: Json = serde_json::from_slice(
        &std::fs::read(corpus_dir().join("dataset.json")).expect("tests/traceql/dataset.json"),
    )
    .expect("dataset is JSON");
    let mut traces: BTreeMap<String, Vec<Span>> = BTreeMap::new();
    for request in dataset.as_array().expect("a list of OTLP requests") {
        let body = serde_json::to_vec(request).expect("re-encodes");
        let decoded = weft_codec::otlp::decode_json(&body).expect("valid OTLP/JSON");
        for span in decoded.batch.spans {
            traces.entry(span.trace_id.to_hex()).or_default().push(span);
        }
    }
    for spans in traces.values_mut() {
        crate::dedupe_spans(spans);
    }
    traces
}

/// An OTLP AnyValue as Tempo returned it, in [`Static::to_text`] form.
fn any_value_text(value: &Json) -> String {
    let (kind, inner) = value
        .as_object()
        .and_then(|o| o.iter().next())
        .expect("an AnyValue");
    match (kind.as_str(), inner) {
        ("stringValue", Json::String(s)) | ("intValue", Json::String(s)) => s.clone(),
        ("arrayValue", array) => {
            let items: Vec<String> = array["values"]
                .as_array()
                .map(|values| values.iter().map(any_value_text).collect())
                .unwrap_or_default();
            format!("[{}]", items.join(", "))
        }
        (_, other) => other.to_string(),
    }
}

/// Floats as JSON prints Tempo's `doubleValue`; everything else as [`Static::to_text`].
fn attributes_text(attributes: &[(String, Static)]) -> BTreeMap<String, String> {
    attributes
        .iter()
        .map(|(key, value)| {
            let text = match value {
                Static::Float(f) => f.to_string(),
                other => other.to_text(),
            };
            (key.clone(), text)
        })
        .collect()
}

fn expected_attributes(object: &Json) -> BTreeMap<String, String> {
    object
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), any_value_text(v)))
                .collect()
        })
        .unwrap_or_default()
}

/// The differences between weft's and Tempo's answer to one corpus entry.
fn compare(case: &Json, traces: &BTreeMap<String, Vec<Span>>) -> Vec<String> {
    let query = case["query"].as_str().expect("query");
    let parsed = parse(query);
    if case["status"] != 200 {
        let want = case["error"].as_str().unwrap_or_default();
        let want = want.trim_start_matches("invalid TraceQL query: ");
        return match parsed {
            Err(e) if e.to_string() == want => Vec::new(),
            Err(e) => vec![format!("error {:?}, Tempo {want:?}", e.to_string())],
            Ok(_) => vec![format!("accepted; Tempo: {want}")],
        };
    }
    let parsed = match parsed {
        Ok(parsed) => parsed,
        Err(e) => return vec![format!("rejected: {e}")],
    };
    let mut problems = Vec::new();
    let mut found = BTreeSet::new();
    for (trace_id, spans) in traces {
        let sets = match parsed.try_evaluate(spans) {
            Ok(sets) => sets,
            Err(e) => return vec![format!("evaluation failed: {e}")],
        };
        if sets.is_empty() {
            continue;
        }
        found.insert(trace_id.clone());
        let expected = &case["traces"][trace_id];
        if expected.is_null() {
            continue;
        }
        let span_id = |index: usize| spans[index].span_id.to_hex();
        let mut got_sets: Vec<(Vec<String>, u64, BTreeMap<String, String>)> = sets
            .iter()
            .map(|set| {
                let mut ids: Vec<String> = set.spans.iter().map(|s| span_id(s.index)).collect();
                ids.sort();
                (ids, set.matched as u64, attributes_text(&set.attributes))
            })
            .collect();
        got_sets.sort();
        let mut want_sets: Vec<(Vec<String>, u64, BTreeMap<String, String>)> = expected["spansets"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|set| {
                let ids = set["span_ids"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|id| id.as_str().map(str::to_owned))
                    .collect();
                let matched = set["matched"].as_u64().unwrap_or_default();
                (ids, matched, expected_attributes(&set["attributes"]))
            })
            .collect();
        want_sets.sort();
        if got_sets != want_sets {
            problems.push(format!(
                "trace {trace_id}: spansets {got_sets:?}, Tempo {want_sets:?}"
            ));
            continue;
        }
        for set in &sets {
            for span in &set.spans {
                let id = span_id(span.index);
                let want = expected_attributes(&expected["span_attributes"][&id]);
                let got = attributes_text(&span.attributes);
                if got != want {
                    problems.push(format!("span {id}: attributes {got:?}, Tempo {want:?}"));
                }
            }
        }
    }
    let want: BTreeSet<String> = case["trace_ids"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|id| id.as_str().map(str::to_owned))
        .collect();
    if found != want {
        let missing: Vec<_> = want.difference(&found).collect();
        let extra: Vec<_> = found.difference(&want).collect();
        problems.push(format!("traces missing {missing:?}, extra {extra:?}"));
    }
    problems
}

#[test]
fn answers_like_tempo_on_the_recorded_corpus() {
    let expected: Json = serde_json::from_slice(
        &std::fs::read(corpus_dir().join("expected.json")).expect("tests/traceql/expected.json"),
    )
    .expect("expected answers are JSON");
    let traces = load_traces();
    let results = expected["results"].as_object().expect("results");
    assert!(
        results.len() > 300,
        "corpus read: {} entries",
        results.len()
    );
    let known_differences = known_differences();
    assert!(!known_differences.is_empty(), "known-differences.txt read");
    let mut failures = Vec::new();
    let mut known_seen = BTreeSet::new();
    for (id, case) in results {
        let problems = compare(case, &traces);
        let known = known_differences.iter().any(|(known, _)| known == id);
        match (problems.is_empty(), known) {
            (false, false) => failures.push(format!(
                "{id} {:?}:\n    {}",
                case["query"].as_str().unwrap_or_default(),
                problems
                    .into_iter()
                    .take(3)
                    .collect::<Vec<_>>()
                    .join("\n    ")
            )),
            (false, true) => {
                known_seen.insert(id.clone());
            }
            (true, _) => {}
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} corpus entries differ from Tempo:\n{}",
        failures.len(),
        results.len(),
        failures.join("\n")
    );
    // A known difference that went away should leave the list.
    let stale: Vec<_> = known_differences
        .iter()
        .filter(|(id, _)| results.contains_key(id) && !known_seen.contains(id))
        .collect();
    assert!(
        stale.is_empty(),
        "known differences that now agree: {stale:?}"
    );
}
