//! Test doubles that run on real sockets: a span buffer speaking the scrape
//! protocol, a recording sink, a tiny DNS server, and config helpers.

#![allow(dead_code)]

pub mod dns_server;
pub mod kube_api;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span as ProtoSpan};
use prost::Message as _;
use weft_model::{PushError, PushOutcome, Span, SpanBatch, SpanSink, TenantId};

/// How the buffer answers.
#[derive(Clone, Debug, PartialEq)]
pub enum Mode {
    /// The protocol.
    Normal,
    /// 200 with protocol headers and a body that is not protobuf.
    Garbage,
    /// 200 with a body of this many bytes.
    Oversize(usize),
    /// Waits this long before answering normally.
    Slow(Duration),
}

struct BufferState {
    instance: String,
    /// (sequence, span id) of the spans held, oldest first.
    held: Vec<(u64, u64)>,
    next_sequence: u64,
    evicted_total: u64,
    mode: Mode,
    /// The `cursor` parameter of every request (None when absent).
    requests: Vec<Option<u64>>,
    /// The `Authorization` header of every request.
    authorizations: Vec<Option<String>>,
    resource_attributes: Vec<(String, String)>,
}

/// An application's span buffer served over HTTP at `/traces`.
#[derive(Clone)]
pub struct TestClient {
    state: Arc<Mutex<BufferState>>,
    pub address: SocketAddr,
}

impl TestClient {
    /// Starts serving on loopback. Spans carry `resource_attributes`.
    pub async fn start(instance: &str, resource_attributes: &[(&str, &str)]) -> Self {
        let state = Arc::new(Mutex::new(BufferState {
            instance: instance.to_owned(),
            held: Vec::new(),
            next_sequence: 0,
            evicted_total: 0,
            mode: Mode::Normal,
            requests: Vec::new(),
            authorizations: Vec::new(),
            resource_attributes: resource_attributes
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                .collect(),
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let router = axum::Router::new()
            .route("/traces", axum::routing::get(scrape))
            .with_state(Arc::clone(&state));
        tokio::spawn(async move {
            axum::serve(listener, router).await.expect("serve");
        });
        Self { state, address }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BufferState> {
        self.state.lock().expect("buffer lock")
    }

    /// `host:port` for a static config.
    pub fn target(&self) -> String {
        self.address.to_string()
    }

    /// Appends spans with these span ids.
    pub fn record(&self, span_ids: impl IntoIterator<Item = u64>) {
        let mut state = self.lock();
        for span_id in span_ids {
            let sequence = state.next_sequence;
            state.held.push((sequence, span_id));
            state.next_sequence += 1;
        }
    }

    /// Appends spans and evicts every span with a sequence below `sequence`, at once.
    pub fn record_evicting_before(&self, span_ids: impl IntoIterator<Item = u64>, sequence: u64) {
        let mut state = self.lock();
        for span_id in span_ids {
            let next = state.next_sequence;
            state.held.push((next, span_id));
            state.next_sequence += 1;
        }
        let before = state.held.len();
        state.held.retain(|(held, _)| *held >= sequence);
        state.evicted_total += (before - state.held.len()) as u64;
    }

    /// The process restarted: a new instance, sequences from 0, nothing held.
    pub fn restart(&self, instance: &str) {
        let mut state = self.lock();
        state.instance = instance.to_owned();
        state.held.clear();
        state.next_sequence = 0;
    }

    pub fn set_mode(&self, mode: Mode) {
        self.lock().mode = mode;
    }

    pub fn requests(&self) -> Vec<Option<u64>> {
        self.lock().requests.clone()
    }

    pub fn authorizations(&self) -> Vec<Option<String>> {
        self.lock().authorizations.clone()
    }
}

async fn scrape(
    State(state): State<Arc<Mutex<BufferState>>>,
    Query(parameters): Query<HashMap<String, String>>,
    request_headers: HeaderMap,
) -> Response {
    let cursor = parameters
        .get("cursor")
        .map(|cursor| cursor.parse::<u64>().expect("cursor is a u64"));
    assert!(
        parameters
            .get("max_bytes")
            .is_some_and(|value| value.parse::<u64>().is_ok()),
        "max_bytes is sent"
    );
    let mode = {
        let mut state = state.lock().expect("lock");
        state.requests.push(cursor);
        state.authorizations.push(
            request_headers
                .get("authorization")
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned),
        );
        state.mode.clone()
    };
    if let Mode::Slow(delay) = &mode {
        tokio::time::sleep(*delay).await;
    }
    let state = state.lock().expect("lock");
    let oldest = state
        .held
        .first()
        .map_or(state.next_sequence, |(sequence, _)| *sequence);
    let wanted = cursor.unwrap_or(oldest);
    let dropped = oldest.saturating_sub(wanted);
    let first = wanted.max(oldest);
    let selected: Vec<u64> = state
        .held
        .iter()
        .filter(|(sequence, _)| *sequence >= first)
        .map(|(_, span_id)| *span_id)
        .collect();
    let next = state
        .held
        .last()
        .filter(|_| !selected.is_empty())
        .map_or(first, |(sequence, _)| sequence + 1);
    let mut headers = HeaderMap::new();
    let mut header = |name: &'static str, value: String| {
        headers.insert(name, HeaderValue::from_str(&value).expect("header"));
    };
    header("Weft-Cursor-First", first.to_string());
    header("Weft-Cursor-Next", next.to_string());
    header("Weft-Dropped", dropped.to_string());
    header("Weft-Dropped-Total", state.evicted_total.to_string());
    header("Weft-Instance", state.instance.clone());
    let body = match mode {
        Mode::Garbage => vec![0x0a, 0xff, 0xff, 0xff, 0x0f],
        Mode::Oversize(size) => vec![0u8; size],
        Mode::Normal | Mode::Slow(_) => otlp_body(&selected, &state.resource_attributes),
    };
    (StatusCode::OK, headers, body).into_response()
}

/// The trace id every test span has.
pub const TRACE_ID: [u8; 16] = [7; 16];

fn otlp_body(span_ids: &[u64], resource_attributes: &[(String, String)]) -> Vec<u8> {
    if span_ids.is_empty() {
        return Vec::new();
    }
    let spans = span_ids
        .iter()
        .map(|span_id| ProtoSpan {
            trace_id: TRACE_ID.to_vec(),
            span_id: span_id.to_be_bytes().to_vec(),
            name: format!("span-{span_id}"),
            start_time_unix_nano: 1_700_000_000_000_000_000,
            end_time_unix_nano: 1_700_000_000_001_000_000,
            attributes: vec![string_attribute("job", "set-on-span")],
            ..Default::default()
        })
        .collect();
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: resource_attributes
                    .iter()
                    .map(|(key, value)| string_attribute(key, value))
                    .collect(),
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    request.encode_to_vec()
}

fn string_attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..Default::default()
    }
}

/// A sink that keeps what it is given, or refuses everything while `failing`.
#[derive(Default)]
pub struct RecordingSink {
    spans: Mutex<Vec<Span>>,
    failing: AtomicBool,
    pub refused_pushes: AtomicUsize,
}

impl RecordingSink {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    pub fn spans(&self) -> Vec<Span> {
        self.spans.lock().expect("sink lock").clone()
    }

    /// Span ids stored, in arrival order.
    pub fn span_ids(&self) -> Vec<u64> {
        self.spans()
            .iter()
            .map(|span| span.span_id.as_u64())
            .collect()
    }
}

#[async_trait]
impl SpanSink for RecordingSink {
    async fn push(&self, _tenant: &TenantId, batch: SpanBatch) -> Result<PushOutcome, PushError> {
        if self.failing.load(Ordering::SeqCst) {
            self.refused_pushes.fetch_add(1, Ordering::SeqCst);
            return Err(PushError::Unavailable(String::from("sink is down")));
        }
        let accepted_spans = batch.len() as u64;
        self.spans.lock().expect("sink lock").extend(batch.spans);
        Ok(PushOutcome {
            accepted_spans,
            ..PushOutcome::default()
        })
    }
}

/// Polls `condition` every 20ms for up to 10s; panics with `what` on timeout.
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A configuration with one job `job` scraping `targets` at `/traces` every 100ms.
pub fn static_config(job: &str, targets: &[String], extra: &str) -> weft_scrape_config::Config {
    let targets = targets
        .iter()
        .map(|target| format!("\"{target}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let text = format!(
        "scrape_configs:\n  - job_name: {job}\n    scrape_interval: 100ms\n    scrape_timeout: 100ms\n    metrics_path: /traces\n{extra}    static_configs:\n      - targets: [{targets}]\n        labels: {{zone: eu-1}}\n"
    );
    weft_scrape_config::Config::parse(&text, "test.yml").expect("test config parses")
}

/// Starts a scraper of `config` into `sink` with cursors in a new temporary
/// directory (removed when the returned guard drops).
pub async fn start_scraper(
    config: weft_scrape_config::Config,
    sink: &Arc<RecordingSink>,
) -> (weft_scraper::Scraper, tempfile::TempDir) {
    let directory = tempfile::tempdir().expect("tempdir");
    let scraper = weft_scraper::Scraper::start(config, sink.clone(), options(directory.path()))
        .await
        .expect("scraper starts");
    (scraper, directory)
}

/// Scraper options with cursors in `directory`.
pub fn options(directory: &std::path::Path) -> weft_scraper::ScraperOptions {
    let mut options = weft_scraper::ScraperOptions::new(directory);
    options.hostname = String::from("test-host");
    options.discovery.file_poll_interval = Duration::from_millis(50);
    options
}

/// The status of the target whose `instance` label is `instance`.
pub fn status_of(
    scraper: &weft_scraper::Scraper,
    instance: &str,
) -> Option<weft_scraper::TargetStatus> {
    scraper
        .active_targets()
        .into_iter()
        .find(|view| view.target.labels.get("instance") == instance)
        .map(|view| view.status)
}
