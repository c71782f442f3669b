//! The one search engine every read API uses: candidates from the store by a pushed-down
//! [`SpanFilter`], newest first, then the exact matcher of the API (TraceQL, Jaeger's or
//! Zipkin's rules) on each candidate's whole trace, until the limit is reached.
//!
//! The answer is exact, or says why it is not ([`Partial`]): the candidate bound was hit
//! before enough traces matched, the deadline passed, or the byte budget was spent.
//! Candidates come newest first and the store keeps the newest when it bounds them, so
//! once `limit` traces matched, they are the newest `limit` matches of the window.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use weft_model::{
    ScanRequest, Span, SpanFilter, TenantId, TimeWindow, TraceId, TraceReader, TraceSummary,
};

use crate::QueryError;
use crate::dedupe_spans;

/// Bounds of one search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchLimits {
    /// Most candidate traces taken from the store (and then inspected).
    pub max_candidates: usize,
    /// Time after which the search stops and answers what it found, as partial.
    pub deadline: Duration,
    /// Span bytes (in memory) inspected after which the search stops, as partial.
    pub max_inspected_bytes: u64,
    /// Traces loaded at once.
    pub concurrent_reads: usize,
}

impl Default for SearchLimits {
    fn default() -> Self {
        SearchLimits {
            max_candidates: 10_000,
            deadline: Duration::from_secs(30),
            max_inspected_bytes: 1 << 30,
            concurrent_reads: 16,
        }
    }
}

/// One search: whose traces, which window, how many.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    /// The tenant searched.
    pub tenant: TenantId,
    /// Traces whose timestamp lies in this window.
    pub window: TimeWindow,
    /// Necessary conditions pushed down to the store (a superset filter).
    pub filter: SpanFilter,
    /// Matching traces wanted.
    pub limit: usize,
    /// Bounds.
    pub limits: SearchLimits,
}

/// Why an answer may miss matching traces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partial {
    /// The store had more candidates than [`SearchLimits::max_candidates`]; older ones
    /// were not inspected.
    CandidateLimit,
    /// [`SearchLimits::deadline`] passed.
    Deadline,
    /// [`SearchLimits::max_inspected_bytes`] was spent.
    ByteBudget,
}

impl Partial {
    /// A sentence for users, naming the bound.
    pub fn describe(self, limits: &SearchLimits) -> String {
        match self {
            Partial::CandidateLimit => format!(
                "partial result: more than {} candidate traces in the window, older ones were not inspected",
                limits.max_candidates
            ),
            Partial::Deadline => format!(
                "partial result: the search deadline of {:?} passed",
                limits.deadline
            ),
            Partial::ByteBudget => format!(
                "partial result: the budget of {} inspected bytes was spent",
                limits.max_inspected_bytes
            ),
        }
    }
}

/// What a search looked at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SearchMetrics {
    /// Candidate traces the store returned.
    pub candidate_traces: u64,
    /// Traces loaded and judged by the matcher.
    pub inspected_traces: u64,
    /// Spans of those traces.
    pub inspected_spans: u64,
    /// In-memory bytes of those spans.
    pub inspected_bytes: u64,
}

/// One matching trace.
#[derive(Debug, Clone)]
pub struct TraceMatch<T> {
    /// The store's summary of the trace.
    pub summary: TraceSummary,
    /// Every span of the trace, deduplicated.
    pub spans: Vec<Span>,
    /// What the matcher said about it.
    pub result: T,
}

/// The answer of [`search`].
#[derive(Debug, Clone)]
pub struct SearchOutcome<T> {
    /// Matching traces, newest first, at most `limit`.
    pub matches: Vec<TraceMatch<T>>,
    /// What was looked at.
    pub metrics: SearchMetrics,
    /// Set when matching traces may be missing, and why.
    pub partial: Option<Partial>,
}

/// Finds the newest `request.limit` traces in the window for which `matcher` (given
/// every span of the trace, deduplicated) answers `Some`.
pub async fn search<T, M>(
    reader: &dyn TraceReader,
    request: &SearchRequest,
    matcher: M,
) -> Result<SearchOutcome<T>, QueryError>
where
    M: Fn(&[Span]) -> Option<T>,
{
    let started = Instant::now();
    let limits = request.limits;
    let mut outcome = SearchOutcome {
        matches: Vec::new(),
        metrics: SearchMetrics::default(),
        partial: None,
    };
    if request.limit == 0 {
        return Ok(outcome);
    }
    let max_candidates = limits.max_candidates.max(1);
    let candidates = match tokio::time::timeout(
        limits.deadline,
        reader.summaries(
            &request.tenant,
            request.window,
            &request.filter,
            max_candidates,
        ),
    )
    .await
    {
        Ok(candidates) => candidates?,
        Err(_) => {
            outcome.partial = Some(Partial::Deadline);
            return Ok(outcome);
        }
    };
    let mut candidates: Vec<TraceSummary> = candidates
        .into_iter()
        .filter(|summary| request.window.contains(summary.timestamp_unix_nanos))
        .collect();
    candidates.sort_by(|left, right| {
        right
            .timestamp_unix_nanos
            .cmp(&left.timestamp_unix_nanos)
            .then_with(|| left.trace_id.cmp(&right.trace_id))
    });
    outcome.metrics.candidate_traces = candidates.len() as u64;
    let truncated = candidates.len() >= max_candidates;

    let tenant = &request.tenant;
    let mut loads = stream::iter(candidates)
        .map(|summary| async move {
            let spans = reader.trace(tenant, summary.trace_id).await;
            (summary, spans)
        })
        .buffered(limits.concurrent_reads.max(1));
    let deadline = started + limits.deadline;
    loop {
        let next = match tokio::time::timeout_at(deadline.into(), loads.next()).await {
            Ok(next) => next,
            Err(_) => {
                outcome.partial = Some(Partial::Deadline);
                break;
            }
        };
        let Some((summary, spans)) = next else {
            if truncated {
                outcome.partial = Some(Partial::CandidateLimit);
            }
            break;
        };
        let mut spans = spans?;
        if spans.is_empty() {
            // Deleted (retention, compaction) since the candidate list was made.
            continue;
        }
        dedupe_spans(&mut spans);
        outcome.metrics.inspected_traces += 1;
        outcome.metrics.inspected_spans += spans.len() as u64;
        outcome.metrics.inspected_bytes += spans
            .iter()
            .map(|span| span.heap_bytes() as u64)
            .sum::<u64>();
        if let Some(result) = matcher(&spans) {
            outcome.matches.push(TraceMatch {
                summary,
                spans,
                result,
            });
            if outcome.matches.len() >= request.limit {
                break;
            }
        }
        if outcome.metrics.inspected_bytes > limits.max_inspected_bytes {
            outcome.partial = Some(Partial::ByteBudget);
            break;
        }
    }
    Ok(outcome)
}

/// How [`search_scan`] decides that it has found enough.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanOrder {
    /// Stop at the first step after which `limit` traces matched: the newest data is
    /// scanned first, but the matches need not be the newest `limit` of the window
    /// (Tempo's default).
    FirstFound,
    /// Go on until no trace left unscanned can be newer than the `limit`-th match
    /// (Tempo's `with(most_recent=true)`).
    MostRecent,
}

/// Like [`search`], over a scan of the store ([`TraceReader::scan`]): traces the reader
/// knows whole are judged as it decodes them, those stored in parts are loaded whole
/// first. Matches come newest first, at most `limit`.
pub async fn search_scan<T, M>(
    reader: &dyn TraceReader,
    request: &SearchRequest,
    order: ScanOrder,
    matcher: M,
) -> Result<SearchOutcome<T>, QueryError>
where
    M: Fn(&[Span]) -> Option<T>,
{
    let started = Instant::now();
    let deadline = started + request.limits.deadline;
    let limits = request.limits;
    let mut outcome = SearchOutcome {
        matches: Vec::new(),
        metrics: SearchMetrics::default(),
        partial: None,
    };
    if request.limit == 0 {
        return Ok(outcome);
    }
    let mut steps = reader.scan(ScanRequest {
        tenant: request.tenant.clone(),
        window: request.window,
        filter: request.filter.clone(),
        max_candidates: limits.max_candidates.max(1),
    });
    let mut loaded: HashSet<TraceId> = HashSet::new();
    let mut truncated = false;
    'steps: loop {
        let step = match tokio::time::timeout_at(deadline.into(), steps.next()).await {
            Err(_) => {
                outcome.partial = Some(Partial::Deadline);
                break;
            }
            Ok(None) => {
                if truncated {
                    outcome.partial = Some(Partial::CandidateLimit);
                }
                break;
            }
            Ok(Some(step)) => step?,
        };
        truncated |= step.truncated;
        outcome.metrics.candidate_traces += step.traces.len() as u64;
        outcome.metrics.inspected_spans += step.decoded_spans;
        let mut candidates = Vec::new();
        for trace in step.traces {
            if !trace.whole {
                if loaded.insert(trace.summary.trace_id) {
                    candidates.push(trace.summary.trace_id);
                }
                continue;
            }
            let mut spans = trace.spans;
            dedupe_spans(&mut spans);
            judge(&mut outcome, trace.summary, spans, &matcher, false);
        }
        let tenant = &request.tenant;
        let mut loads = stream::iter(candidates)
            .map(|trace_id| async move { reader.trace(tenant, trace_id).await })
            .buffered(limits.concurrent_reads.max(1));
        loop {
            let spans = match tokio::time::timeout_at(deadline.into(), loads.next()).await {
                Err(_) => {
                    outcome.partial = Some(Partial::Deadline);
                    break 'steps;
                }
                Ok(None) => break,
                Ok(Some(spans)) => spans?,
            };
            let mut spans = spans;
            if spans.is_empty() {
                continue;
            }
            dedupe_spans(&mut spans);
            let references: Vec<&Span> = spans.iter().collect();
            let summary = crate::memory::summarize(spans[0].trace_id, &references);
            drop(references);
            if summary.timestamp_unix_nanos == 0
                || !request.window.contains(summary.timestamp_unix_nanos)
            {
                continue;
            }
            judge(&mut outcome, summary, spans, &matcher, true);
        }
        if outcome.metrics.inspected_bytes > limits.max_inspected_bytes {
            outcome.partial = Some(Partial::ByteBudget);
            break;
        }
        if outcome.matches.len() >= request.limit {
            sort_newest_first(&mut outcome.matches);
            outcome.matches.truncate(request.limit);
            let enough = match order {
                ScanOrder::FirstFound => true,
                ScanOrder::MostRecent => outcome.matches.last().is_some_and(|last| {
                    last.summary.timestamp_unix_nanos > step.complete_above_unix_nanos
                }),
            };
            if enough {
                break;
            }
        }
    }
    sort_newest_first(&mut outcome.matches);
    outcome.matches.truncate(request.limit);
    Ok(outcome)
}

/// Counts a whole trace as inspected and keeps it when the matcher accepts it.
fn judge<T, M>(
    outcome: &mut SearchOutcome<T>,
    summary: TraceSummary,
    spans: Vec<Span>,
    matcher: &M,
    count_spans: bool,
) where
    M: Fn(&[Span]) -> Option<T>,
{
    outcome.metrics.inspected_traces += 1;
    if count_spans {
        outcome.metrics.inspected_spans += spans.len() as u64;
    }
    outcome.metrics.inspected_bytes += spans
        .iter()
        .map(|span| span.heap_bytes() as u64)
        .sum::<u64>();
    if let Some(result) = matcher(&spans) {
        outcome.matches.push(TraceMatch {
            summary,
            spans,
            result,
        });
    }
}

fn sort_newest_first<T>(matches: &mut [TraceMatch<T>]) {
    matches.sort_by(|left, right| {
        right
            .summary
            .timestamp_unix_nanos
            .cmp(&left.summary.timestamp_unix_nanos)
            .then_with(|| left.summary.trace_id.cmp(&right.summary.trace_id))
    });
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use weft_model::{Resource, SpanId, TraceId};

    use super::*;
    use crate::memory::MemoryTraceReader;

    const SECOND: u64 = 1_000_000_000;

    fn span(trace: u64, service: &str, name: &str, start_seconds: u64) -> Span {
        let mut span = Span::new(
            TraceId::from_halves(0, trace),
            SpanId::from_u64(trace),
            name,
        );
        span.resource = Arc::new(Resource::for_service(service));
        span.start_unix_nanos = start_seconds * SECOND;
        span.duration_nanos = SECOND;
        span
    }

    fn reader(spans: Vec<Span>) -> MemoryTraceReader {
        let reader = MemoryTraceReader::new(Vec::new());
        reader.push(&TenantId::single(), spans);
        reader
    }

    fn request(limit: usize, limits: SearchLimits) -> SearchRequest {
        SearchRequest {
            tenant: TenantId::single(),
            window: TimeWindow {
                start_unix_nanos: 0,
                end_unix_nanos: 1_000 * SECOND,
            },
            filter: SpanFilter::default(),
            limit,
            limits,
        }
    }

    fn ids<T>(outcome: &SearchOutcome<T>) -> Vec<u64> {
        outcome
            .matches
            .iter()
            .map(|found| found.summary.trace_id.low_u64())
            .collect()
    }

    #[tokio::test]
    async fn newest_matches_first_and_stops_at_the_limit() {
        let spans = (1..=10)
            .map(|trace| {
                span(
                    trace,
                    if trace % 2 == 0 { "even" } else { "odd" },
                    "op",
                    trace,
                )
            })
            .collect();
        let reader = reader(spans);
        let outcome = search(
            &reader,
            &request(3, SearchLimits::default()),
            |spans: &[Span]| (spans[0].service_name() == Some("even")).then_some(()),
        )
        .await
        .expect("search");
        assert_eq!(ids(&outcome), vec![10, 8, 6]);
        assert_eq!(outcome.partial, None);
        assert_eq!(outcome.metrics.inspected_traces, 5, "stopped early");
    }

    #[tokio::test]
    async fn a_bounded_candidate_list_that_runs_dry_is_partial() {
        let spans = (1..=10)
            .map(|trace| span(trace, "svc", "op", trace))
            .collect();
        let reader = reader(spans);
        let limits = SearchLimits {
            max_candidates: 4,
            ..SearchLimits::default()
        };
        let outcome = search(&reader, &request(4, limits), |spans: &[Span]| {
            (spans[0].trace_id.low_u64() < 3).then_some(())
        })
        .await
        .expect("search");
        assert!(
            outcome.matches.is_empty(),
            "the old matches were beyond the bound"
        );
        assert_eq!(outcome.partial, Some(Partial::CandidateLimit));
        assert!(
            Partial::CandidateLimit
                .describe(&limits)
                .contains("more than 4 candidate traces")
        );
    }

    #[tokio::test]
    async fn the_byte_budget_stops_the_search_as_partial() {
        let spans = (1..=10)
            .map(|trace| span(trace, "svc", "op", trace))
            .collect();
        let reader = reader(spans);
        let limits = SearchLimits {
            max_inspected_bytes: 1,
            ..SearchLimits::default()
        };
        let outcome = search(&reader, &request(5, limits), |_: &[Span]| None::<()>)
            .await
            .expect("search");
        assert_eq!(outcome.partial, Some(Partial::ByteBudget));
        assert_eq!(outcome.metrics.inspected_traces, 1);
        assert!(outcome.metrics.inspected_bytes > 1);
    }

    #[tokio::test]
    async fn a_zero_limit_inspects_nothing() {
        let reader = reader(vec![span(1, "svc", "op", 1)]);
        let outcome = search(
            &reader,
            &request(0, SearchLimits::default()),
            |_: &[Span]| Some(()),
        )
        .await
        .expect("search");
        assert!(outcome.matches.is_empty());
        assert_eq!(outcome.metrics, SearchMetrics::default());
    }

    /// One scripted scan step: (trace, start second, whole) per trace, and the step's
    /// `complete_above` in seconds.
    type Step = (Vec<(u64, u64, bool)>, u64);

    /// A reader whose scan gives scripted steps; traces load from memory.
    struct ScriptedReader {
        memory: MemoryTraceReader,
        steps: Vec<Step>,
    }

    #[async_trait::async_trait]
    impl TraceReader for ScriptedReader {
        async fn trace(
            &self,
            tenant: &TenantId,
            trace_id: TraceId,
        ) -> Result<Vec<Span>, weft_model::ReadError> {
            self.memory.trace(tenant, trace_id).await
        }

        async fn summaries(
            &self,
            _: &TenantId,
            _: TimeWindow,
            _: &SpanFilter,
            _: usize,
        ) -> Result<Vec<TraceSummary>, weft_model::ReadError> {
            Ok(Vec::new())
        }

        async fn names(
            &self,
            _: &TenantId,
        ) -> Result<weft_model::NameIndex, weft_model::ReadError> {
            Ok(weft_model::NameIndex::default())
        }

        fn scan(
            &self,
            _: ScanRequest,
        ) -> futures_util::stream::BoxStream<'_, Result<weft_model::ScanBatch, weft_model::ReadError>>
        {
            let steps: Vec<Result<weft_model::ScanBatch, weft_model::ReadError>> = self
                .steps
                .iter()
                .map(|(traces, complete_above)| {
                    Ok(weft_model::ScanBatch {
                        traces: traces
                            .iter()
                            .map(|&(trace, start, whole)| {
                                let spans = vec![span(trace, "svc", "op", start)];
                                let references: Vec<&Span> = spans.iter().collect();
                                let summary = crate::memory::summarize(
                                    TraceId::from_halves(0, trace),
                                    &references,
                                );
                                weft_model::ScannedTrace {
                                    summary,
                                    spans: if whole { spans.clone() } else { Vec::new() },
                                    whole,
                                }
                            })
                            .collect(),
                        complete_above_unix_nanos: complete_above * SECOND,
                        truncated: false,
                        decoded_spans: traces.len() as u64,
                    })
                })
                .collect();
            stream::iter(steps).boxed()
        }
    }

    fn scripted(steps: Vec<Step>) -> ScriptedReader {
        let spans = steps
            .iter()
            .flat_map(|(traces, _)| traces.iter())
            .map(|&(trace, start, _)| span(trace, "svc", "op", start))
            .collect();
        ScriptedReader {
            memory: reader(spans),
            steps,
        }
    }

    #[tokio::test]
    async fn a_scan_stops_at_the_first_step_with_enough_matches() {
        // Step 1 holds two matches, step 2 one newer than both (blocks overlap in time).
        let reader = scripted(vec![
            (vec![(1, 10, true), (2, 20, true), (3, 30, false)], 25),
            (vec![(4, 40, true)], 0),
        ]);
        let accept_all = |_: &[Span]| Some(());
        let outcome = search_scan(
            &reader,
            &request(3, SearchLimits::default()),
            ScanOrder::FirstFound,
            accept_all,
        )
        .await
        .expect("search");
        assert_eq!(
            ids(&outcome),
            vec![3, 2, 1],
            "the candidate was loaded whole"
        );
        assert_eq!(outcome.metrics.inspected_traces, 3);
        let outcome = search_scan(
            &reader,
            &request(3, SearchLimits::default()),
            ScanOrder::MostRecent,
            accept_all,
        )
        .await
        .expect("search");
        assert_eq!(
            ids(&outcome),
            vec![4, 3, 2],
            "the third newest (10 s) was not above 25 s: the scan went on"
        );
    }

    #[tokio::test]
    async fn most_recent_stops_once_no_unscanned_trace_can_be_newer() {
        let reader = scripted(vec![
            (vec![(5, 50, true), (6, 60, true)], 40),
            (vec![(7, 70, true)], 0),
        ]);
        let outcome = search_scan(
            &reader,
            &request(2, SearchLimits::default()),
            ScanOrder::MostRecent,
            |_: &[Span]| Some(()),
        )
        .await
        .expect("search");
        assert_eq!(ids(&outcome), vec![6, 5], "both above 40 s: complete");
        assert_eq!(outcome.metrics.inspected_traces, 2, "step 2 never read");
    }

    #[tokio::test]
    async fn scanned_candidates_are_loaded_once_and_judged_in_the_window() {
        // Trace 8 is named by two steps (two parts); trace 9 lies outside the window.
        let reader = scripted(vec![
            (vec![(8, 80, false), (9, 2_000, false)], 0),
            (vec![(8, 80, false)], 0),
        ]);
        let outcome = search_scan(
            &reader,
            &request(10, SearchLimits::default()),
            ScanOrder::FirstFound,
            |spans: &[Span]| (spans[0].name == "op").then_some(()),
        )
        .await
        .expect("search");
        assert_eq!(ids(&outcome), vec![8]);
        assert_eq!(
            outcome.metrics.inspected_traces, 1,
            "loaded once, 9 left out"
        );
    }
}
