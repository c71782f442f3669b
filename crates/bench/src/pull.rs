//! `weft bench pull`: many simulated pull targets fed by the corpus generator, served to
//! a scraping weft server, or the same spans pushed over OTLP for comparison.
//!
//! Each [`SimulatedTarget`] is what one application instance is: its own weft-client
//! [`RingBuffer`] (byte-bounded, its own instance id) and, in pull mode, its own
//! loopback listener answering `GET /weft/spans` with the client library's
//! [`ScrapeHandler`]. One generating thread ([`spawn_feeder`]) makes traces at the total
//! rate and deals them to the targets in turn ([`RoundRobin`]), so every target gets an
//! equal share of the rate: by default each service's part of a trace (one resource) goes
//! to one target, as one instance of that service would record it ([`Dealing`]).
//!
//! In push mode ([`run_pusher`]) each target instead exports its own ring once per
//! interval over OTLP, reading it with a cursor exactly as a scraper does, so both modes
//! carry byte-identical bodies of the same size at the same frequency and only the
//! transport (and who starts the request) differs.
//!
//! Either way a target knows how far the server has got: a scraper sends `cursor=N`
//! only after it stored everything before `N` that was not evicted first (the gap is
//! reported as `Weft-Dropped`), and a pusher advances its cursor only on an
//! acknowledgement. [`TargetSet::unacknowledged_spans`] is therefore an exact
//! client-side count of what the server has neither stored nor been told it lost.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use axum::Router;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
use prost::Message;
use tokio::sync::watch;
use weft_client::{
    DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_SCRAPE_PATH, EncodedResource, EncodedScope, EncodedSpan,
    HEADER_DROPPED, RingBuffer, ScrapeHandler, ScrapeQuery,
};

use crate::exporter::{ExportOutcome, Exporter};
use crate::generator::{GeneratorSettings, TraceGenerator};
use crate::pacing::Pacer;
use crate::random::SplitMix64;

/// Longest a pusher honours a refusal's retry hint.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(5);
/// The feeder sleeps only when at least this far ahead of schedule (shorter sleeps cost
/// more in wake-ups than they smooth; the uncapped pacer catches up either way).
const MIN_FEEDER_SLEEP: Duration = Duration::from_millis(1);
/// Distinct resource encodings the feeder keeps before starting its cache afresh: room
/// for every service on every one of 1,000 targets when push rounds label resources per
/// target (~20,000 variants of a few hundred bytes each).
const MAX_CACHED_RESOURCES: usize = 50_000;

/// One simulated application instance.
#[derive(Debug)]
pub struct SimulatedTarget {
    ring: Arc<RingBuffer>,
    handler: ScrapeHandler,
    /// Everything below this sequence number is confirmed stored by the server.
    acknowledged_sequence: AtomicU64,
    /// Requests answered (pull: scrapes; push: exports acknowledged).
    requests: AtomicU64,
    /// Spans the server never got because the ring evicted them first (pull: the
    /// `Weft-Dropped` values sent, so a scrape the server failed to store and repeated
    /// counts its gap again; push: the gaps the pusher's reads reported).
    spans_lost_to_eviction: AtomicU64,
    /// Spans the server acknowledged but rejected (push partial success).
    spans_rejected: AtomicU64,
    /// Push attempts that failed or were refused.
    failed_requests: AtomicU64,
}

impl SimulatedTarget {
    fn new(ring_capacity_bytes: usize) -> Self {
        let ring = Arc::new(RingBuffer::new(ring_capacity_bytes));
        Self {
            handler: ScrapeHandler::new(Arc::clone(&ring)),
            ring,
            acknowledged_sequence: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            spans_lost_to_eviction: AtomicU64::new(0),
            spans_rejected: AtomicU64::new(0),
            failed_requests: AtomicU64::new(0),
        }
    }

    /// The target's ring.
    pub fn ring(&self) -> &Arc<RingBuffer> {
        &self.ring
    }
}

/// Totals over all targets at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TargetTotals {
    /// Spans accepted by the rings.
    pub spans_buffered: u64,
    /// Spans the server's cursors are past (scraper cursors, or push acknowledgements):
    /// stored, or evicted before it read them (a cursor moves beyond both).
    pub spans_acknowledged: u64,
    /// Spans evicted before the server read them.
    pub spans_lost_to_eviction: u64,
    /// Spans evicted from the rings in total (read or not: rings never remove on read).
    pub spans_evicted: u64,
    /// Spans the rings refused (larger than a whole ring).
    pub spans_refused: u64,
    /// Spans acknowledged but rejected by the server (push partial success).
    pub spans_rejected: u64,
    /// Scrapes answered, or exports acknowledged.
    pub requests: u64,
    /// Push attempts that failed or were refused.
    pub failed_requests: u64,
    /// Targets requested at least once.
    pub targets_contacted: usize,
}

/// The simulated targets of one run.
#[derive(Debug, Clone)]
pub struct TargetSet {
    targets: Vec<Arc<SimulatedTarget>>,
}

impl TargetSet {
    /// `count` targets, each with a ring of `ring_capacity_bytes`.
    pub fn new(count: usize, ring_capacity_bytes: usize) -> Self {
        Self {
            targets: (0..count)
                .map(|_| Arc::new(SimulatedTarget::new(ring_capacity_bytes)))
                .collect(),
        }
    }

    /// The targets.
    pub fn targets(&self) -> &[Arc<SimulatedTarget>] {
        &self.targets
    }

    /// Current totals.
    pub fn totals(&self) -> TargetTotals {
        let mut totals = TargetTotals::default();
        for target in &self.targets {
            let stats = target.ring.stats();
            totals.spans_buffered += stats.next_sequence;
            totals.spans_evicted += stats.evicted_spans_total;
            totals.spans_refused += stats.refused_spans_total;
            totals.spans_acknowledged += target
                .acknowledged_sequence
                .load(Ordering::Relaxed)
                .min(stats.next_sequence);
            totals.spans_lost_to_eviction += target.spans_lost_to_eviction.load(Ordering::Relaxed);
            totals.spans_rejected += target.spans_rejected.load(Ordering::Relaxed);
            let requests = target.requests.load(Ordering::Relaxed);
            totals.requests += requests;
            totals.failed_requests += target.failed_requests.load(Ordering::Relaxed);
            totals.targets_contacted += usize::from(requests > 0);
        }
        totals
    }

    /// Spans the server's cursors have not passed yet: neither confirmed stored nor
    /// known to be evicted unread.
    pub fn unacknowledged_spans(&self) -> u64 {
        let totals = self.totals();
        totals
            .spans_buffered
            .saturating_sub(totals.spans_acknowledged)
    }

    /// Binds one loopback listener per target (ephemeral ports) and serves each
    /// target's scrape endpoint on it until `stop` turns true (or its sender is gone).
    /// Returns the addresses, in target order, and the serving tasks.
    pub async fn serve(
        &self,
        stop: watch::Receiver<bool>,
    ) -> anyhow::Result<(Vec<SocketAddr>, tokio::task::JoinSet<()>)> {
        let mut addresses = Vec::with_capacity(self.targets.len());
        let mut tasks = tokio::task::JoinSet::new();
        for (index, target) in self.targets.iter().enumerate() {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .with_context(|| {
                    format!("cannot open the listener of simulated target {index} (raise the open-file limit?)")
                })?;
            addresses.push(listener.local_addr()?);
            let router = Router::new()
                .route(DEFAULT_SCRAPE_PATH, get(answer_scrape))
                .with_state(Arc::clone(target));
            let mut stop = stop.clone();
            tasks.spawn(async move {
                let stopped = async move {
                    let _ = stop.wait_for(|stopped| *stopped).await;
                };
                let _ = axum::serve(listener, router)
                    .with_graceful_shutdown(stopped)
                    .await;
            });
        }
        Ok((addresses, tasks))
    }
}

async fn answer_scrape(
    State(target): State<Arc<SimulatedTarget>>,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    // A scraper sends `cursor=N` only once it has stored every span before N.
    if let Ok(ScrapeQuery {
        cursor: Some(cursor),
        ..
    }) = ScrapeQuery::parse(&query)
    {
        target
            .acknowledged_sequence
            .fetch_max(cursor, Ordering::Relaxed);
    }
    let response = target.handler.scrape(&query);
    if let Some(dropped) = response
        .header(HEADER_DROPPED)
        .and_then(|value| value.parse::<u64>().ok())
    {
        target
            .spans_lost_to_eviction
            .fetch_add(dropped, Ordering::Relaxed);
    }
    target.requests.fetch_add(1, Ordering::Relaxed);
    response
        .into_http_response()
        .map(Body::from)
        .into_response()
}

/// Deals items to `targets` in turn: after `k` items every target has `k / targets` or
/// one more, so each gets `1 / targets` of any rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundRobin {
    targets: usize,
    next: usize,
}

impl RoundRobin {
    /// Over `targets` targets (at least one).
    pub fn new(targets: usize) -> Self {
        Self {
            targets: targets.max(1),
            next: 0,
        }
    }

    /// The target of the next item.
    pub fn next_target(&mut self) -> usize {
        let target = self.next;
        self.next = (self.next + 1) % self.targets;
        target
    }
}

/// What [`spawn_feeder`] deals to the targets in turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dealing {
    /// Each trace's spans of one service (one resource) go to one target, as one
    /// instance of the service records them; targets get equal shares on average.
    #[default]
    ServiceGroups,
    /// Single spans: equal shares within one span, but a trace's spans spread over as
    /// many targets as it has spans (each a distinct resource once the scraper adds the
    /// target's labels).
    Spans,
}

/// Spans per second each of `targets` targets gets of `total_spans_per_second`.
pub fn per_target_rate(total_spans_per_second: f64, targets: usize) -> f64 {
    total_spans_per_second / targets.max(1) as f64
}

/// What the feeding thread did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FeedReport {
    /// Spans generated and offered to the rings.
    pub spans_generated: u64,
    /// Traces generated.
    pub traces_generated: u64,
    /// From the first trace until the feeder stopped.
    pub elapsed: Duration,
    /// The latest a trace was fed relative to the schedule.
    pub max_lag: Duration,
    /// Spans the schedule called for by the end that were never fed.
    pub spans_behind_at_end: u64,
}

/// Encoded resources and scopes, shared by every span recorded under them (as an SDK
/// shares one resource per process).
#[derive(Default)]
struct ScopeCache {
    resources: HashMap<Vec<u8>, ResourceEntry>,
}

struct ResourceEntry {
    resource: Arc<EncodedResource>,
    scopes: HashMap<Vec<u8>, Arc<EncodedScope>>,
}

impl ScopeCache {
    /// Turns a `ResourceSpans` into its spans' encodings under shared scope handles.
    fn encode(&mut self, resource_spans: ResourceSpans, spans_out: &mut Vec<EncodedSpan>) {
        if self.resources.len() > MAX_CACHED_RESOURCES {
            self.resources.clear();
        }
        let ResourceSpans {
            resource,
            scope_spans,
            schema_url,
        } = resource_spans;
        let resource_header = ResourceSpans {
            resource,
            scope_spans: Vec::new(),
            schema_url,
        };
        let entry = self
            .resources
            .entry(resource_header.encode_to_vec())
            .or_insert_with(|| ResourceEntry {
                resource: Arc::new(EncodedResource::new(
                    resource_header.resource,
                    resource_header.schema_url,
                )),
                scopes: HashMap::new(),
            });
        for scope_spans in scope_spans {
            let ScopeSpans {
                scope,
                spans,
                schema_url,
            } = scope_spans;
            let scope_header = ScopeSpans {
                scope,
                spans: Vec::new(),
                schema_url,
            };
            let resource = &entry.resource;
            let encoded_scope = entry
                .scopes
                .entry(scope_header.encode_to_vec())
                .or_insert_with(|| {
                    Arc::new(EncodedScope::new(
                        Arc::clone(resource),
                        scope_header.scope,
                        scope_header.schema_url,
                    ))
                });
            for span in &spans {
                spans_out.push(EncodedSpan::new(Arc::clone(encoded_scope), span));
            }
        }
    }
}

fn unix_nanos_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos() as u64)
        .unwrap_or(0)
}

/// Labels to add to every resource fed to each target (index = target), as resource
/// attributes the resource does not have yet.
pub type TargetResourceLabels = Vec<Vec<(String, String)>>;

/// Adds `labels` to `resource_spans`' resource as string attributes, leaving any
/// attribute the resource already has (what the scraper's enrichment does).
pub fn add_resource_labels(resource_spans: &mut ResourceSpans, labels: &[(String, String)]) {
    let resource = resource_spans
        .resource
        .get_or_insert_with(Resource::default);
    for (key, value) in labels {
        if resource
            .attributes
            .iter()
            .any(|attribute| &attribute.key == key)
        {
            continue;
        }
        resource.attributes.push(KeyValue {
            key: key.clone(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(value.clone())),
            }),
            ..KeyValue::default()
        });
    }
}

/// Starts the thread that generates traces at `spans_per_second` for `duration` (start
/// times are the wall clock) and deals them to the targets' rings in turn per `dealing`. The
/// schedule is a [`Pacer`]: a trace goes in once its spans have accrued, and a feeder
/// that fell behind catches up; nothing is fed after `duration`. With `resource_labels`
/// (only with [`Dealing::ServiceGroups`]), each group's resource carries its target's
/// labels, as a push pipeline that labels resources would send them.
pub fn spawn_feeder(
    targets: &TargetSet,
    generator: GeneratorSettings,
    spans_per_second: f64,
    duration: Duration,
    dealing: Dealing,
    resource_labels: Option<TargetResourceLabels>,
) -> anyhow::Result<std::thread::JoinHandle<FeedReport>> {
    if let Some(labels) = &resource_labels {
        anyhow::ensure!(
            dealing == Dealing::ServiceGroups,
            "resource labels per target need service-group dealing"
        );
        anyhow::ensure!(
            labels.len() == targets.targets.len(),
            "{} label sets for {} targets",
            labels.len(),
            targets.targets.len()
        );
    }
    let rings: Vec<Arc<RingBuffer>> = targets
        .targets
        .iter()
        .map(|target| Arc::clone(&target.ring))
        .collect();
    std::thread::Builder::new()
        .name(String::from("pull-feeder"))
        .spawn(move || {
            let mut generator = TraceGenerator::new(generator);
            let mut pacer = Pacer::new(spans_per_second);
            let mut dealer = RoundRobin::new(rings.len());
            let mut scopes = ScopeCache::default();
            let mut encoded = Vec::new();
            let mut report = FeedReport::default();
            let started = Instant::now();
            loop {
                let trace = generator.next_trace(unix_nanos_now());
                let span_count = trace.len() as u64;
                let due = pacer.due(pacer.spans_scheduled() + span_count);
                // Nothing is fed after the duration, however far behind the feeder is:
                // what was due and not fed is reported instead.
                if due > duration || started.elapsed() > duration {
                    break;
                }
                let ahead = due.saturating_sub(started.elapsed());
                if ahead >= MIN_FEEDER_SLEEP {
                    std::thread::sleep(ahead);
                }
                pacer.reserve(span_count);
                pacer.record_send(due, started.elapsed());
                for mut resource_spans in weft_codec::otlp::to_resource_spans(&trace) {
                    let group_target = dealer.next_target();
                    if let Some(labels) = &resource_labels {
                        add_resource_labels(&mut resource_spans, &labels[group_target]);
                    }
                    scopes.encode(resource_spans, &mut encoded);
                    for span in encoded.drain(..) {
                        let target = match dealing {
                            Dealing::ServiceGroups => group_target,
                            Dealing::Spans => dealer.next_target(),
                        };
                        // A refusal (a span larger than a whole ring) is counted by the
                        // ring.
                        let _ = rings[target].push(span);
                    }
                }
                report.spans_generated += span_count;
                report.traces_generated += 1;
            }
            report.elapsed = started.elapsed();
            report.max_lag = pacer.max_lag();
            report.spans_behind_at_end = pacer.spans_behind(duration);
            report
        })
        .context("cannot start the feeding thread")
}

/// Exports `target`'s ring over `exporter` once per `interval`, first after `offset`:
/// one read from the pusher's cursor (at most [`DEFAULT_MAX_RESPONSE_BYTES`], as a
/// scrape), encoded exactly as a scrape answer. A refusal is retried after its hint
/// (capped); a failure is retried at the next interval. Runs until `stop` turns true
/// (or its sender is gone).
pub async fn run_pusher(
    target: Arc<SimulatedTarget>,
    exporter: Exporter,
    interval: Duration,
    offset: Duration,
    stop: watch::Receiver<bool>,
) {
    let stopped = || *stop.borrow() || stop.has_changed().is_err();
    tokio::time::sleep(offset).await;
    let mut cursor = 0u64;
    let mut next_start = tokio::time::Instant::now();
    while !stopped() {
        let batch = target.ring.read(Some(cursor), DEFAULT_MAX_RESPONSE_BYTES);
        target
            .spans_lost_to_eviction
            .fetch_add(batch.dropped_spans, Ordering::Relaxed);
        if !batch.spans.is_empty() {
            let body = batch.encode_export_request();
            let span_count = batch.spans.len() as u64;
            loop {
                match exporter.export(body.clone(), span_count).await {
                    ExportOutcome::Stored { rejected_spans } => {
                        cursor = batch.next_sequence;
                        target.requests.fetch_add(1, Ordering::Relaxed);
                        target
                            .spans_rejected
                            .fetch_add(rejected_spans, Ordering::Relaxed);
                        target
                            .acknowledged_sequence
                            .store(cursor, Ordering::Relaxed);
                        break;
                    }
                    ExportOutcome::Refused { retry_after } => {
                        target.failed_requests.fetch_add(1, Ordering::Relaxed);
                        if stopped() {
                            return;
                        }
                        tokio::time::sleep(retry_after.min(MAX_RETRY_WAIT)).await;
                    }
                    ExportOutcome::Failed { .. } => {
                        target.failed_requests.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
            }
        }
        next_start += interval;
        let now = tokio::time::Instant::now();
        while next_start <= now {
            next_start += interval;
        }
        tokio::time::sleep_until(next_start).await;
    }
}

/// Start offsets spreading `targets` pushers evenly over `interval`, in an order drawn
/// from `seed`: target `i` gets phase `interval x k / targets` for the `k` at position
/// `i` of a random permutation.
///
/// The order matters: the feeder deals a trace's service groups to consecutive targets,
/// so phases rising with the target index would make a trace's parts arrive within a
/// few milliseconds of each other, which no fleet of independent exporters does. The
/// scraper's phases come from a hash of each target (Prometheus's offsets), which is
/// just as uncorrelated with the dealing order; so both modes deliver a trace's parts
/// spread over the interval alike.
pub fn spread_offsets(targets: usize, interval: Duration, seed: u64) -> Vec<Duration> {
    let mut phases: Vec<usize> = (0..targets).collect();
    let mut random = SplitMix64::new(seed);
    for last in (1..phases.len()).rev() {
        let other = random.below(last as u64 + 1) as usize;
        phases.swap(last, other);
    }
    phases
        .into_iter()
        .map(|phase| interval.mul_f64(phase as f64 / targets.max(1) as f64))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_gives_every_target_an_equal_share_within_one() {
        for (targets, items) in [(1000usize, 100_000usize), (7, 1_234), (3, 2), (1, 5)] {
            let mut dealer = RoundRobin::new(targets);
            let mut counts = vec![0usize; targets];
            for _ in 0..items {
                counts[dealer.next_target()] += 1;
            }
            let least = *counts.iter().min().expect("targets");
            let most = *counts.iter().max().expect("targets");
            assert!(most - least <= 1, "{targets} targets: {least}..{most}");
            assert_eq!(counts.iter().sum::<usize>(), items);
            assert_eq!(least, items / targets);
        }
        assert_eq!(
            RoundRobin::new(0).next_target(),
            0,
            "zero targets act as one"
        );
        assert_eq!(per_target_rate(100_000.0, 1000), 100.0);
        assert_eq!(per_target_rate(100_000.0, 0), 100_000.0);
    }

    #[test]
    fn offsets_spread_over_the_interval() {
        let mut offsets = spread_offsets(4, Duration::from_secs(1), 42);
        assert_eq!(offsets, spread_offsets(4, Duration::from_secs(1), 42));
        offsets.sort();
        assert_eq!(
            offsets,
            [0, 250, 500, 750].map(Duration::from_millis).to_vec()
        );
        assert!(spread_offsets(0, Duration::from_secs(1), 42).is_empty());
        // Not rising with the target index: neighbours (which share traces) are apart.
        let offsets = spread_offsets(1000, Duration::from_secs(1), 42);
        let rising = offsets.windows(2).filter(|pair| pair[0] < pair[1]).count();
        assert!((400..600).contains(&rising), "{rising} of 999 pairs rise");
        let close = offsets
            .windows(2)
            .filter(|pair| pair[0].abs_diff(pair[1]) < Duration::from_millis(10))
            .count();
        assert!(close < 50, "{close} of 999 neighbours within 10 ms");
    }

    #[test]
    fn fed_spans_share_scopes_and_decode_from_a_scrape() {
        for dealing in [Dealing::ServiceGroups, Dealing::Spans] {
            fed_spans_decode_from_a_scrape(dealing);
        }
    }

    #[test]
    fn resource_labels_reach_every_resource_of_their_target_only() {
        let targets = TargetSet::new(2, 1024 * 1024);
        let labels: TargetResourceLabels = (0..2)
            .map(|index| {
                vec![
                    (String::from("job"), String::from("bench")),
                    (String::from("instance"), format!("target-{index}")),
                    (String::from("service.name"), String::from("never-used")),
                ]
            })
            .collect();
        let feeder = spawn_feeder(
            &targets,
            GeneratorSettings::default(),
            20_000.0,
            Duration::from_millis(100),
            Dealing::ServiceGroups,
            Some(labels),
        )
        .expect("thread");
        feeder.join().expect("feeder");
        for (index, target) in targets.targets().iter().enumerate() {
            let response = target.handler.scrape("cursor=0");
            let request = opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest::decode(response.body)
                .expect("decodes");
            assert!(!request.resource_spans.is_empty());
            for resource_spans in &request.resource_spans {
                let attributes: std::collections::HashMap<&str, String> = resource_spans
                    .resource
                    .as_ref()
                    .expect("resource")
                    .attributes
                    .iter()
                    .map(|attribute| (attribute.key.as_str(), format!("{:?}", attribute.value)))
                    .collect();
                assert!(attributes["instance"].contains(&format!("target-{index}")));
                assert!(attributes["job"].contains("bench"));
                assert!(
                    !attributes["service.name"].contains("never-used"),
                    "the resource's own wins"
                );
            }
        }
        let spans_mode = spawn_feeder(
            &targets,
            GeneratorSettings::default(),
            1.0,
            Duration::from_millis(1),
            Dealing::Spans,
            Some(vec![Vec::new(), Vec::new()]),
        );
        assert!(spans_mode.is_err(), "labels need service-group dealing");
    }

    fn fed_spans_decode_from_a_scrape(dealing: Dealing) {
        let targets = TargetSet::new(3, 1024 * 1024);
        let feeder = spawn_feeder(
            &targets,
            GeneratorSettings::default(),
            20_000.0,
            Duration::from_millis(100),
            dealing,
            None,
        )
        .expect("thread");
        let report = feeder.join().expect("feeder");
        assert!(report.spans_generated > 0);
        let totals = targets.totals();
        assert_eq!(totals.spans_buffered, report.spans_generated);
        assert_eq!(targets.unacknowledged_spans(), report.spans_generated);
        let mut decoded_spans = 0;
        for target in targets.targets() {
            let response = target.handler.scrape("cursor=0");
            let request = opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest::decode(response.body)
                .expect("a valid OTLP body");
            // Spans of one service share one resource group in the answer.
            let services: Vec<_> = request
                .resource_spans
                .iter()
                .map(|resource_spans| format!("{:?}", resource_spans.resource))
                .collect();
            let distinct: std::collections::HashSet<_> = services.iter().collect();
            assert_eq!(distinct.len(), services.len());
            decoded_spans += request
                .resource_spans
                .iter()
                .flat_map(|resource_spans| &resource_spans.scope_spans)
                .map(|scope_spans| scope_spans.spans.len() as u64)
                .sum::<u64>();
        }
        assert_eq!(decoded_spans, report.spans_generated);
    }
}
