//! Block write throughput on a realistic head-sized corpus. Ignored by default; run with
//! `cargo test --release -p weft-storage --test write_throughput -- --ignored --nocapture`.
//!
//! The corpus mimics what the ingester holds after ~130 OTLP requests of 1,000 spans:
//! traces of ~18 spans over 20 services x 3 instances, OpenTelemetry semantic-convention
//! attributes, and a fresh `Arc<Resource>` per service instance per request (decoding
//! makes new ones for every request), handed over grouped by trace in no trace order,
//! the way the head's hash maps give them.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use weft_model::{
    AttributeValue, InstrumentationScope, KeyValue, Resource, Span, SpanId, SpanKind, Status,
    StatusCode, TenantId, TraceId,
};
use weft_storage::span_table::{LocatedSpans, StoredSpanBytes, StoredValues, encode_spans_located};
use weft_storage::{
    BlockStore, BlockWriteOptions, LocalBlockStore, NameCollector, StoredBlock, StoredTrace,
    TraceDigest, WalSegmentRange,
};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SERVICES: usize = 20;
const INSTANCES: usize = 3;
const SPANS_PER_REQUEST: usize = 1_000;
const BASE_UNIX_NANOS: u64 = 1_700_000_000_000_000_000;

/// SplitMix64: deterministic and dependency-free.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

fn resource(service: usize, instance: usize) -> Resource {
    let name = format!("service-{service}");
    Resource {
        attributes: vec![
            KeyValue::new("service.name", name.clone()),
            KeyValue::new("service.namespace", "shop"),
            KeyValue::new(
                "service.instance.id",
                format!("{name}-7d9f8b6c4-{instance:05}"),
            ),
            KeyValue::new("service.version", "1.4.2"),
            KeyValue::new("deployment.environment", "production"),
            KeyValue::new("host.name", format!("node-{}", instance + service % 7)),
            KeyValue::new("k8s.pod.name", format!("{name}-7d9f8b6c4-{instance:05}")),
            KeyValue::new("k8s.namespace.name", "shop"),
            KeyValue::new("telemetry.sdk.name", "opentelemetry"),
            KeyValue::new("telemetry.sdk.language", "java"),
            KeyValue::new("telemetry.sdk.version", "1.28.0"),
        ],
        dropped_attributes_count: 0,
    }
}

/// Spans of `requests` requests, grouped by trace, traces in a scrambled order.
fn corpus(requests: usize, seed: u64) -> Vec<Vec<Span>> {
    requests_of(requests, seed).into_iter().flatten().collect()
}

/// Spans of `requests` requests as the requests brought them: whole traces, each
/// request with its own resource `Arc`s; traces scrambled over requests.
fn requests_of(requests: usize, seed: u64) -> Vec<Vec<Vec<Span>>> {
    let mut random = Random(seed);
    let scope = Arc::new(InstrumentationScope {
        name: String::from("io.opentelemetry.auto"),
        version: String::from("2.9.0"),
        attributes: Vec::new(),
    });
    let mut traces: Vec<Vec<Vec<Span>>> = Vec::new();
    let mut trace_number = 0u64;
    for _ in 0..requests {
        let mut request_traces: Vec<Vec<Span>> = Vec::new();
        // Every request decodes into its own resource Arcs.
        let resources: Vec<Arc<Resource>> = (0..SERVICES * INSTANCES)
            .map(|index| Arc::new(resource(index / INSTANCES, index % INSTANCES)))
            .collect();
        let mut in_request = 0;
        while in_request < SPANS_PER_REQUEST {
            let trace_id = TraceId::from_halves(random.next() | 1, random.next());
            let span_count = 2 + random.below(33) as usize;
            let start = BASE_UNIX_NANOS + trace_number * 100_000;
            trace_number += 1;
            let mut spans = Vec::with_capacity(span_count);
            for index in 0..span_count {
                let service = if index == 0 {
                    0
                } else {
                    random.below(SERVICES as u64) as usize
                };
                let instance = random.below(INSTANCES as u64) as usize;
                let mut span = Span::new(
                    trace_id,
                    SpanId::from_u64(random.next() | 1),
                    format!("operation-{}", random.below(4)),
                );
                span.parent_span_id = (index > 0).then(|| SpanId::from_u64(random.next() | 1));
                span.kind = match index % 3 {
                    0 => SpanKind::Server,
                    1 => SpanKind::Client,
                    _ => SpanKind::Internal,
                };
                span.start_unix_nanos = start + index as u64 * 1_000;
                span.duration_nanos = 1_000 + random.below(5_000_000);
                span.resource = resources[service * INSTANCES + instance].clone();
                span.scope = scope.clone();
                span.attributes = match index % 3 {
                    0 => vec![
                        KeyValue::new("http.request.method", "GET"),
                        KeyValue::new("http.route", "/api/v1/products/{id}"),
                        KeyValue::new("url.scheme", "https"),
                        KeyValue::new("http.response.status_code", AttributeValue::Int(200)),
                    ],
                    1 => vec![
                        KeyValue::new("rpc.system", "grpc"),
                        KeyValue::new("rpc.service", format!("service-{service}")),
                        KeyValue::new("rpc.method", "GetProduct"),
                        KeyValue::new("peer.service", format!("service-{}", service + 1)),
                        KeyValue::new("server.address", format!("service-{}", service + 1)),
                        KeyValue::new("server.port", AttributeValue::Int(8080)),
                    ],
                    _ => vec![
                        KeyValue::new("db.system", "postgresql"),
                        KeyValue::new(
                            "db.statement",
                            "SELECT id, name, price FROM products WHERE category = $1 LIMIT 50",
                        ),
                        KeyValue::new("db.operation", "SELECT"),
                        KeyValue::new("server.address", "postgres-main"),
                        KeyValue::new("peer.service", "postgres-main"),
                    ],
                };
                if random.below(50) == 0 {
                    span.status = Status {
                        code: StatusCode::Error,
                        message: String::from("upstream failed"),
                    };
                }
                spans.push(span);
            }
            in_request += spans.len();
            request_traces.push(spans);
        }
        traces.push(request_traces);
    }
    // Scramble the trace order like a hash map would (within requests is enough to
    // scatter them once flattened and sorted by id).
    for request in &mut traces {
        for position in (1..request.len()).rev() {
            let other = random.below(position as u64 + 1) as usize;
            request.swap(position, other);
        }
    }
    traces
}

/// Nanoseconds this thread has run on a CPU (Linux; 0 elsewhere). On a shared machine
/// this is steadier than wall time.
fn thread_cpu_nanos() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
#[ignore = "benchmark; run in release"]
fn block_write_throughput() {
    let directory = TempDir(std::env::temp_dir().join(format!(
        "weft-storage-write-throughput-{}",
        std::process::id()
    )));
    let store = LocalBlockStore::open(directory.0.join("blocks")).expect("store");
    let requests: usize = std::env::var("WEFT_BENCH_REQUESTS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(130);
    let rounds: usize = std::env::var("WEFT_BENCH_ROUNDS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(3);
    let traces = corpus(requests, 42);
    let span_count: usize = traces.iter().map(Vec::len).sum();
    let compression_level: i32 = std::env::var("WEFT_BENCH_ZSTD_LEVEL")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(BlockWriteOptions::default().compression_level);
    let options = BlockWriteOptions {
        compression_level,
        indexed_attribute_keys: vec![String::from("http.request.method")],
        wal_segments: Some(WalSegmentRange { first: 1, last: 2 }),
        ..BlockWriteOptions::default()
    };
    let mut best = f64::MAX;
    let mut best_cpu = f64::MAX;
    for round in 0..rounds {
        let started = Instant::now();
        let cpu_started = thread_cpu_nanos();
        let refs: Vec<&Span> = traces.iter().flatten().collect();
        let meta = store
            .write_block(&TenantId::single(), &refs, &options)
            .expect("writes")
            .expect("not empty");
        let seconds = started.elapsed().as_secs_f64();
        let cpu_seconds = (thread_cpu_nanos() - cpu_started) as f64 / 1e9;
        best = best.min(seconds);
        best_cpu = best_cpu.min(cpu_seconds);
        println!(
            "round {round}: {span_count} spans, {} traces in {:.0} ms ({:.0} ms cpu): {:.0} spans/s, \
             {:.2} us/span, {:.1} bytes/span on disk, {:.1} bytes/span encoded",
            meta.trace_count,
            seconds * 1e3,
            cpu_seconds * 1e3,
            span_count as f64 / seconds,
            seconds * 1e6 / span_count as f64,
            (meta.data_bytes + meta.index_bytes) as f64 / span_count as f64,
            meta.uncompressed_bytes as f64 / span_count as f64,
        );
    }
    println!(
        "best: {:.0} spans/s ({:.2} us/span) wall, {:.0} spans/s ({:.2} us/span) cpu",
        span_count as f64 / best,
        best * 1e6 / span_count as f64,
        span_count as f64 / best_cpu,
        best_cpu * 1e6 / span_count as f64
    );
}

/// Where one span of a trace lives: (record, span, resource id, scope id).
type SpanLocation = (usize, usize, u32, u32);

/// What the ingester's head holds for the same requests: one encoded record per request,
/// resources and scopes numbered by encoding, per trace its digest and span positions.
struct Head {
    records: Vec<LocatedSpans>,
    resources: Vec<Vec<u8>>,
    scopes: Vec<Vec<u8>>,
    /// Per trace: digest and (record, span, resource id, scope id).
    traces: Vec<(TraceDigest, Vec<SpanLocation>)>,
    names: weft_model::NameIndex,
}

fn head_of(requests: &[Vec<Vec<Span>>], indexed_keys: &[String]) -> Head {
    use std::collections::HashMap;
    let mut resource_ids: HashMap<Vec<u8>, u32> = HashMap::new();
    let mut scope_ids: HashMap<Vec<u8>, u32> = HashMap::new();
    let mut head = Head {
        records: Vec::new(),
        resources: Vec::new(),
        scopes: Vec::new(),
        traces: Vec::new(),
        names: weft_model::NameIndex::default(),
    };
    let mut names = NameCollector::new(indexed_keys);
    for request in requests {
        let spans: Vec<&Span> = request.iter().flatten().collect();
        let record = encode_spans_located(&spans, b"wal-record-header").expect("encodes");
        let number = |ids: &mut HashMap<Vec<u8>, u32>, table: &mut Vec<Vec<u8>>, bytes: &[u8]| {
            *ids.entry(bytes.to_vec()).or_insert_with(|| {
                table.push(bytes.to_vec());
                table.len() as u32 - 1
            })
        };
        let record_resources: Vec<u32> = (0..record.resources.len() as u32)
            .map(|index| {
                let bytes = record.resource_bytes(index).expect("in range");
                number(&mut resource_ids, &mut head.resources, bytes)
            })
            .collect();
        let record_scopes: Vec<u32> = (0..record.scopes.len() as u32)
            .map(|index| {
                let bytes = record.scope_bytes(index).expect("in range");
                number(&mut scope_ids, &mut head.scopes, bytes)
            })
            .collect();
        let record_index = head.records.len();
        let mut position = 0;
        for trace in request {
            let mut digest = TraceDigest::new(trace[0].trace_id);
            let mut members = Vec::new();
            for span in trace {
                digest.add_span(span);
                names.add_span(span);
                let location = record.spans[position];
                members.push((
                    record_index,
                    position,
                    record_resources[location.resource as usize],
                    record_scopes[location.scope as usize],
                ));
                position += 1;
            }
            head.traces.push((digest, members));
        }
        head.records.push(record);
    }
    head.names = names.into_name_index();
    head
}

#[test]
#[ignore = "benchmark; run in release"]
fn stored_block_write_throughput() {
    let directory = TempDir(std::env::temp_dir().join(format!(
        "weft-storage-stored-write-throughput-{}",
        std::process::id()
    )));
    let store = LocalBlockStore::open(directory.0.join("blocks")).expect("store");
    let requests: usize = std::env::var("WEFT_BENCH_REQUESTS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(700);
    let rounds: usize = std::env::var("WEFT_BENCH_ROUNDS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(3);
    let keys = vec![String::from("http.request.method")];
    let head = head_of(&requests_of(requests, 42), &keys);
    let span_count: usize = head.traces.iter().map(|(_, members)| members.len()).sum();
    let options = BlockWriteOptions {
        indexed_attribute_keys: keys.clone(),
        wal_segments: Some(WalSegmentRange { first: 1, last: 2 }),
        ..BlockWriteOptions::default()
    };
    let mut best_cpu = f64::MAX;
    for round in 0..rounds {
        let started = Instant::now();
        let cpu_started = thread_cpu_nanos();
        // What the head does before handing over: sort traces, order spans by start.
        let mut order: Vec<usize> = (0..head.traces.len()).collect();
        order.sort_unstable_by_key(|&index| head.traces[index].0.trace_id);
        let mut spans = Vec::with_capacity(span_count);
        let mut traces = Vec::with_capacity(order.len());
        let mut ordered = Vec::new();
        for index in order {
            let (digest, members) = &head.traces[index];
            ordered.clear();
            for (arrival, &(record, span, resource_id, scope_id)) in members.iter().enumerate() {
                let record = &head.records[record];
                let location = record.spans[span];
                ordered.push((
                    location.start_unix_nanos,
                    arrival,
                    StoredSpanBytes {
                        bytes: location.span_bytes(&record.bytes).expect("in range"),
                        indexes_at: location.indexes_at as usize,
                        resource_id,
                        scope_id,
                    },
                ));
            }
            ordered.sort_unstable_by_key(|&(start, arrival, _)| (start, arrival));
            let first = spans.len();
            spans.extend(ordered.drain(..).map(|(_, _, span)| span));
            traces.push(StoredTrace {
                digest,
                spans: first..spans.len(),
            });
        }
        let resources: Vec<&[u8]> = head.resources.iter().map(Vec::as_slice).collect();
        let scopes: Vec<&[u8]> = head.scopes.iter().map(Vec::as_slice).collect();
        let block = StoredBlock {
            traces: &traces,
            spans: &spans,
            values: StoredValues {
                resources: &resources,
                scopes: &scopes,
            },
            names: &head.names,
        };
        let meta = store
            .write_stored_block(&TenantId::single(), &block, &options)
            .expect("writes")
            .expect("not empty");
        let seconds = started.elapsed().as_secs_f64();
        let cpu_seconds = (thread_cpu_nanos() - cpu_started) as f64 / 1e9;
        best_cpu = best_cpu.min(cpu_seconds);
        println!(
            "stored round {round}: {span_count} spans, {} traces in {:.0} ms ({:.0} ms cpu): \
             {:.0} spans/s, {:.1} bytes/span on disk",
            meta.trace_count,
            seconds * 1e3,
            cpu_seconds * 1e3,
            span_count as f64 / seconds,
            (meta.data_bytes + meta.index_bytes) as f64 / span_count as f64,
        );
    }
    println!(
        "stored best: {:.0} spans/s ({:.2} us/span) cpu",
        span_count as f64 / best_cpu,
        best_cpu * 1e6 / span_count as f64
    );
}
