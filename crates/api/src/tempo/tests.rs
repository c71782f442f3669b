//! Tempo's read endpoints over an in-memory store.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use weft_model::{Resource, Span, SpanId, TenantId, TraceId};
use weft_query::memory::MemoryTraceReader;

use super::tempo_router;
use crate::config::ZipkinApiConfig;
use crate::query_config::QueryConfig;
use crate::test_support::send;

const START_SECONDS: u64 = 1_700_000_000;

fn span(trace: u64, id: u64, parent: Option<u64>, service: &str, offset_seconds: u64) -> Span {
    let mut span = Span::new(
        TraceId::from_halves(0, trace),
        SpanId::from_u64(id),
        format!("op-{id}"),
    );
    span.parent_span_id = parent.map(SpanId::from_u64);
    span.resource = Arc::new(Resource::for_service(service));
    span.start_unix_nanos = (START_SECONDS + offset_seconds) * 1_000_000_000;
    span.duration_nanos = 1_500_000_000;
    span
}

fn router() -> Router {
    router_with(ZipkinApiConfig::default())
}

fn router_with(config: ZipkinApiConfig) -> Router {
    router_with_query(config, QueryConfig::default())
}

fn router_with_query(config: ZipkinApiConfig, query: QueryConfig) -> Router {
    let reader = MemoryTraceReader::default();
    reader.push(
        &TenantId::single(),
        [
            span(1, 1, None, "frontend", 0),
            span(1, 2, Some(1), "backend", 1),
            span(2, 1, None, "backend", 10),
            span(3, 7, Some(6), "frontend", 20),
        ],
    );
    tempo_router(Arc::new(reader), config, query)
}

async fn get(router: &Router, uri: &str) -> (StatusCode, String) {
    let (status, _, bytes) = get_accepting(router, uri, "application/json").await;
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

async fn get_accepting(
    router: &Router,
    uri: &str,
    accept: &str,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let request = Request::get(uri)
        .header("Accept", accept)
        .body(Body::empty())
        .expect("valid request");
    let answer = send(router, request).await;
    (answer.status, answer.headers, answer.body)
}

fn search_uri(extra: &str) -> String {
    format!(
        "/api/search?start={START_SECONDS}&end={}{extra}",
        START_SECONDS + 60
    )
}

#[tokio::test]
async fn search_lists_summaries_newest_first_in_tempos_shape() {
    let router = router();
    let (status, body) = get(&router, &search_uri("")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let json: Value = serde_json::from_str(&body).expect("json");
    let traces = json["traces"].as_array().expect("traces");
    let ids: Vec<&str> = traces
        .iter()
        .filter_map(|t| t["traceID"].as_str())
        .collect();
    assert_eq!(ids, ["3", "2", "1"], "leading zeros trimmed, newest first");
    let first = &traces[2];
    assert_eq!(first["rootServiceName"], "frontend");
    assert_eq!(first["rootTraceName"], "op-1");
    assert_eq!(
        first["startTimeUnixNano"],
        (START_SECONDS * 1_000_000_000).to_string()
    );
    assert_eq!(first["durationMs"], 2_500);
    assert_eq!(
        first["serviceStats"],
        serde_json::json!({"backend": {"spanCount": 1}, "frontend": {"spanCount": 1}})
    );
    assert_eq!(traces[0]["rootServiceName"], "<root span not yet received>");
    assert!(
        traces[0].get("rootTraceName").is_none(),
        "as Tempo: no name without a root"
    );
}

#[tokio::test]
async fn search_filters_by_service_and_limit_and_window() {
    let router = router();
    let count = |body: String| {
        let json: Value = serde_json::from_str(&body).expect("json");
        json["traces"].as_array().map(Vec::len).unwrap_or(0)
    };
    assert_eq!(
        count(get(&router, &search_uri("&service=Backend")).await.1),
        2
    );
    assert_eq!(count(get(&router, &search_uri("&limit=1")).await.1), 1);
    let narrow = format!(
        "/api/search?start={START_SECONDS}&end={}",
        START_SECONDS + 1
    );
    assert_eq!(count(get(&router, &narrow).await.1), 1, "end is inclusive");
    let empty = format!("/api/search?start={START_SECONDS}&end={START_SECONDS}");
    assert_eq!(
        get(&router, &empty).await.0,
        StatusCode::BAD_REQUEST,
        "Tempo wants start < end"
    );
    let (status, body) = get(&router, "/api/search?start=10&end=5").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    for bad in ["limit=-1", "limit=0", "spss=x", "start=x"] {
        let (status, body) = get(&router, &format!("/api/search?{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        let name = bad.split('=').next().unwrap_or_default();
        assert!(
            body.contains(name),
            "{bad}: the message names the parameter: {body}"
        );
    }
    let (status, body) = get(&router, &search_uri("&q=%7B%7D&tags=a%3Db")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("can't specify tags and q"), "{body}");
}

#[tokio::test]
async fn trace_by_id_speaks_tempos_json_and_protobuf_and_404s_when_unknown() {
    let router = router();
    let (status, body) = get(&router, "/api/traces/00000000000000000000000000000001").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let json: Value = serde_json::from_str(&body).expect("json");
    let first = &json["batches"][0]["scopeSpans"][0]["spans"][0];
    assert_eq!(
        first["traceId"], "AAAAAAAAAAAAAAAAAAAAAQ==",
        "base64 ids: {body}"
    );
    let otlp = body.replacen("\"batches\":", "\"resourceSpans\":", 1);
    let decoded = weft_codec::otlp::decode_json(otlp.as_bytes()).expect("jsonpb reads back");
    assert_eq!(decoded.batch.spans.len(), 2);

    let (status, headers, bytes) =
        get_accepting(&router, "/api/traces/1", "application/protobuf").await;
    assert_eq!(status, StatusCode::OK, "short ids are padded");
    assert_eq!(headers["content-type"], "application/protobuf");
    let decoded = weft_codec::otlp::decode_proto(&bytes).expect("tempopb.Trace");
    assert_eq!(decoded.batch.spans.len(), 2);

    let (status, body) = get(&router, "/api/v2/traces/1?start=1&end=2000000000").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let json: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        json["trace"]["resourceSpans"].as_array().map(Vec::len),
        Some(2)
    );
    assert!(
        json.get("status").is_none(),
        "COMPLETE is the default and left out"
    );
    let (status, _, bytes) =
        get_accepting(&router, "/api/v2/traces/1", "application/protobuf").await;
    assert_eq!(status, StatusCode::OK);
    // TraceByIDResponse: field 1 is the trace, a TracesData.
    let trace = first_length_delimited_field(&bytes, 1).expect("field 1");
    let decoded = weft_codec::otlp::decode_proto(trace).expect("TracesData");
    assert_eq!(decoded.batch.spans.len(), 2);

    let (status, body) = get(&router, "/api/traces/99").await;
    assert_eq!((status, body.as_str()), (StatusCode::NOT_FOUND, ""));
    let (status, body) = get(&router, "/api/v2/traces/99").await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, r#"{"trace":{},"metrics":{}}"#)
    );
    let (status, body) = get(&router, "/api/traces/not-hex").await;
    assert_eq!(
        (status, body.as_str()),
        (
            StatusCode::BAD_REQUEST,
            "trace IDs can only contain hex characters: invalid character 'n' at position 1"
        )
    );
    for bad in [
        "/api/traces/xyz",
        "/api/v2/traces/1?start=x",
        "/api/v2/traces/1?start=5&end=4",
    ] {
        assert_eq!(get(&router, bad).await.0, StatusCode::BAD_REQUEST, "{bad}");
    }
    assert_eq!(
        get(&router, "/api/echo").await,
        (StatusCode::OK, "echo".to_owned())
    );
    let (status, body) = get(&router, "/api/status/buildinfo").await;
    assert_eq!(status, StatusCode::OK);
    let json: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(json["version"], env!("CARGO_PKG_VERSION"));
}

/// The payload of the first length-delimited field `number` of a protobuf message.
fn first_length_delimited_field(mut bytes: &[u8], number: u64) -> Option<&[u8]> {
    fn varint(bytes: &mut &[u8]) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = bytes.split_first()?;
            *bytes = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }
    while !bytes.is_empty() {
        let key = varint(&mut bytes)?;
        match key & 7 {
            0 => {
                varint(&mut bytes)?;
            }
            2 => {
                let length = usize::try_from(varint(&mut bytes)?).ok()?;
                let (payload, rest) = bytes.split_at_checked(length)?;
                if key >> 3 == number {
                    return Some(payload);
                }
                bytes = rest;
            }
            _ => return None,
        }
    }
    None
}

#[tokio::test]
async fn a_trace_over_the_span_cap_is_cut_and_marked_partial() {
    let router = router_with_query(
        ZipkinApiConfig::default(),
        QueryConfig {
            max_spans_per_trace: 1,
            ..QueryConfig::default()
        },
    );
    let (status, body) = get(&router, "/api/v2/traces/1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let json: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(json["status"], "PARTIAL");
    assert!(
        json["message"]
            .as_str()
            .is_some_and(|m| m.contains("max_spans_per_trace"))
    );
    let spans = &json["trace"]["resourceSpans"][0]["scopeSpans"][0]["spans"];
    assert_eq!(spans.as_array().map(Vec::len), Some(1));
    assert_eq!(spans[0]["name"], "op-1", "the earliest span is kept");
    let (status, headers, _) = get_accepting(&router, "/api/traces/1", "application/json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[super::PARTIAL_HEADER], "span-limit");
}

#[tokio::test]
async fn inspected_traces_counts_traces_examined_and_search_stops_at_the_limit() {
    let router = router();
    let (status, body) = get(&router, &search_uri("&limit=1")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let json: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(json["traces"].as_array().map(Vec::len), Some(1));
    assert_eq!(json["traces"][0]["traceID"], "3", "the newest is kept");
    assert_eq!(
        json["metrics"]["inspectedTraces"], 1,
        "the search stops at the limit"
    );
}

#[tokio::test]
async fn search_is_empty_when_search_is_disabled_but_trace_by_id_works() {
    let router = router_with(ZipkinApiConfig {
        search_enabled: false,
        ..ZipkinApiConfig::default()
    });
    let (status, body) = get(&router, &search_uri("")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let json: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(json, serde_json::json!({"traces": [], "metrics": {}}));
    let (status, body) = get(&router, "/api/traces/1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[test]
fn go_durations_parse_like_tempo() {
    assert_eq!(super::params::parse_go_duration("250ms"), Some(250_000_000));
    assert_eq!(
        super::params::parse_go_duration("1.5s"),
        Some(1_500_000_000)
    );
    assert_eq!(
        super::params::parse_go_duration("2h45m"),
        Some(9_900_000_000_000)
    );
    assert_eq!(super::params::parse_go_duration("10us"), Some(10_000));
    assert_eq!(super::params::parse_go_duration("0"), Some(0));
    assert_eq!(
        super::params::parse_go_duration("10"),
        None,
        "a unit is required"
    );
    assert_eq!(super::params::parse_go_duration("-1s"), None);
    assert_eq!(super::params::parse_go_duration("1d"), None);
    assert_eq!(
        super::params::parse_go_duration(" 1s "),
        Some(1_000_000_000)
    );
    assert_eq!(
        super::params::parse_go_duration("9223372036854775808ns"),
        None,
        "overflow"
    );
}

#[test]
fn logfmt_tags_allow_quoted_values() {
    let pairs = super::params::parse_logfmt(r#"http.status_code=500  name="GET /a b" x="q\"d""#)
        .expect("valid logfmt");
    assert_eq!(
        pairs,
        vec![
            ("http.status_code".to_owned(), "500".to_owned()),
            ("name".to_owned(), "GET /a b".to_owned()),
            ("x".to_owned(), "q\"d".to_owned()),
        ]
    );
    assert!(super::params::parse_logfmt("novalue").is_err());
    assert!(super::params::parse_logfmt(r#"k="open"#).is_err());
}

#[tokio::test]
async fn search_narrows_by_tags_and_trace_duration() {
    let router = router();
    let ids = |body: String| -> Vec<String> {
        let json: Value = serde_json::from_str(&body).expect("json");
        json["traces"]
            .as_array()
            .map(|traces| {
                traces
                    .iter()
                    .filter_map(|t| t["traceID"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    // Trace 1 lasts 2.5 s (two spans), traces 2 and 3 last 1.5 s.
    let (status, body) = get(&router, &search_uri("&minDuration=2s")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(ids(body), ["1"]);
    assert_eq!(
        ids(get(&router, &search_uri("&maxDuration=1500ms")).await.1),
        ["3", "2"]
    );
    let tags = "&tags=service.name%3Dbackend%20name%3Dop-2";
    assert_eq!(ids(get(&router, &search_uri(tags)).await.1), ["1"]);
    let (status, _) = get(&router, &search_uri("&minDuration=fast")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = get(&router, &search_uri("&minDuration=2s&maxDuration=1s")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn traceql_search_returns_matched_spans_and_names_query_errors() {
    let router = router();
    let q = "%7B%20resource.service.name%20%3D%20%22backend%22%20%7D";
    let (status, body) = get(&router, &search_uri(&format!("&q={q}"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let json: Value = serde_json::from_str(&body).expect("json");
    let traces = json["traces"].as_array().expect("traces");
    let ids: Vec<&str> = traces
        .iter()
        .filter_map(|t| t["traceID"].as_str())
        .collect();
    assert_eq!(ids, ["2", "1"]);
    let set = &traces[1]["spanSets"][0];
    assert_eq!(set["matched"], 1);
    assert_eq!(set["spans"][0]["spanID"], "0000000000000002");
    assert_eq!(
        set["spans"][0]["attributes"],
        serde_json::json!([{"key": "service.name", "value": {"stringValue": "backend"}}])
    );
    assert_eq!(
        traces[1]["spanSet"], *set,
        "the deprecated spanSet is the first set"
    );

    let (status, body) = get(&router, &search_uri("&q=%7B%20name%20%3D%20%7D")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.starts_with("invalid TraceQL query: parse error at line 1, col"),
        "{body}"
    );
    // spss bounds the spans listed, not `matched`.
    let (status, body) = get(&router, &search_uri("&q=%7B%7D&spss=1")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let json: Value = serde_json::from_str(&body).expect("json");
    let oldest = &json["traces"][2]["spanSets"][0];
    assert_eq!(oldest["matched"], 2);
    assert_eq!(oldest["spans"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn tags_and_values_come_from_the_catalog_or_from_q() {
    let router = router();
    let (status, body) = get(&router, "/api/v2/search/tags").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let json: Value = serde_json::from_str(&body).expect("json");
    let scopes = json["scopes"].as_array().expect("scopes");
    let resource = scopes
        .iter()
        .find(|s| s["name"] == "resource")
        .expect("resource");
    assert_eq!(resource["tags"], serde_json::json!(["service.name"]));
    let intrinsic = scopes
        .iter()
        .find(|s| s["name"] == "intrinsic")
        .expect("intrinsic");
    assert!(
        intrinsic["tags"]
            .as_array()
            .is_some_and(|t| t.contains(&Value::from("rootServiceName")))
    );
    assert_eq!(
        scopes.last().map(|s| &s["name"]),
        Some(&Value::from("intrinsic"))
    );

    let (status, body) = get(&router, "/api/search/tags").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains(r#""tagNames":["service.name"]"#), "{body}");

    let (status, body) = get(&router, "/api/v2/search/tag/resource.service.name/values").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let json: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        json["tagValues"],
        serde_json::json!([
            {"type": "string", "value": "backend"},
            {"type": "string", "value": "frontend"}
        ])
    );
    let filtered = format!(
        "/api/v2/search/tag/.service.name/values?start={START_SECONDS}&end={}&q=%7B%20name%20%3D%20%22op-2%22%20%7D",
        START_SECONDS + 60
    );
    let (status, body) = get(&router, &filtered).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.contains(r#""tagValues":[{"type":"string","value":"backend"}]"#),
        "{body}"
    );
    let (status, body) = get(&router, "/api/v2/search/tag/kind/values").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.contains(r#"{"type":"keyword","value":"server"}"#),
        "{body}"
    );
    let (status, body) = get(&router, "/api/search/tag/service.name/values").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.contains(r#""tagValues":["backend","frontend"]"#),
        "{body}"
    );
    let (status, body) = get(&router, "/api/v2/search/tags?scope=bogus").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("scope"), "{body}");
}
