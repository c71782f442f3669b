use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use weft_model::{Span, SpanId, TraceId};

use super::*;

/// Records the batch sizes of every `push_batches` call; rejects spans named "bad",
/// batch by batch; can hold each call for a while and count the calls in progress.
#[derive(Default)]
struct RecordingSink {
    calls: Mutex<Vec<(TenantId, Vec<usize>)>>,
    hold: Duration,
    in_progress: AtomicUsize,
    most_in_progress: AtomicUsize,
    refuse: Option<PushError>,
}

impl RecordingSink {
    fn calls(&self) -> Vec<(TenantId, Vec<usize>)> {
        self.calls.lock().expect("not poisoned").clone()
    }
}

#[async_trait]
impl SpanSink for RecordingSink {
    async fn push(&self, tenant: &TenantId, batch: SpanBatch) -> Result<PushOutcome, PushError> {
        self.push_batches(tenant, vec![batch])
            .await
            .pop()
            .expect("one answer")
    }

    async fn push_batches(
        &self,
        tenant: &TenantId,
        batches: Vec<SpanBatch>,
    ) -> Vec<Result<PushOutcome, PushError>> {
        let now = self.in_progress.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_in_progress.fetch_max(now, Ordering::SeqCst);
        self.calls
            .lock()
            .expect("not poisoned")
            .push((tenant.clone(), batches.iter().map(SpanBatch::len).collect()));
        tokio::time::sleep(self.hold).await;
        self.in_progress.fetch_sub(1, Ordering::SeqCst);
        batches
            .iter()
            .map(|batch| match &self.refuse {
                Some(error) => Err(error.clone()),
                None => {
                    let bad = batch.spans.iter().filter(|span| span.name == "bad").count() as u64;
                    Ok(PushOutcome {
                        accepted_spans: batch.len() as u64 - bad,
                        rejected_spans: bad,
                        rejection_message: String::new(),
                    })
                }
            })
            .collect()
    }
}

/// A batch of `good` spans named "ok" and `bad` spans named "bad".
fn batch(good: usize, bad: usize) -> SpanBatch {
    let names = std::iter::repeat_n("ok", good).chain(std::iter::repeat_n("bad", bad));
    names
        .enumerate()
        .map(|(index, name)| {
            Span::new(
                TraceId::from_halves(1, index as u64),
                SpanId::from_u64(index as u64 + 1),
                name,
            )
        })
        .collect::<Vec<_>>()
        .into()
}

fn limits(max_delay_millis: u64, max_spans_per_push: usize) -> CoalescingLimits {
    CoalescingLimits {
        max_delay: Duration::from_millis(max_delay_millis),
        max_spans_per_push,
        max_concurrent_pushes: 1,
    }
}

/// Pushes `batches` at once from separate tasks; answers in the same order.
async fn push_concurrently(
    sink: &Arc<CoalescingSink>,
    tenants: &[TenantId],
    batches: Vec<SpanBatch>,
) -> Vec<Result<PushOutcome, PushError>> {
    let tasks: Vec<_> = batches
        .into_iter()
        .zip(tenants.iter().cycle())
        .map(|(batch, tenant)| {
            let sink = Arc::clone(sink);
            let tenant = tenant.clone();
            tokio::spawn(async move { sink.push(&tenant, batch).await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("joins"));
    }
    answers
}

#[tokio::test]
async fn concurrent_batches_share_one_push_and_each_gets_its_own_outcome() {
    let inner = Arc::new(RecordingSink::default());
    let sink = Arc::new(CoalescingSink::start(inner.clone(), limits(200, 1_000)));
    let batches = (0..8).map(|index| batch(3, index % 3)).collect();
    let answers = push_concurrently(&sink, &[TenantId::single()], batches).await;
    let outcomes: Vec<(u64, u64)> = answers
        .iter()
        .map(|answer| {
            let outcome = answer.as_ref().expect("stored");
            (outcome.accepted_spans, outcome.rejected_spans)
        })
        .collect();
    assert_eq!(
        outcomes,
        (0..8).map(|index| (3, index % 3)).collect::<Vec<_>>()
    );
    let calls = inner.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].1.len(), 8);
}

#[tokio::test]
async fn a_combined_push_stays_within_the_span_limit_and_a_larger_batch_goes_alone() {
    let inner = Arc::new(RecordingSink::default());
    let sink = Arc::new(CoalescingSink::start(inner.clone(), limits(100, 10)));
    let mut batches: Vec<SpanBatch> = (0..6).map(|_| batch(4, 0)).collect();
    batches.push(batch(25, 0));
    let answers = push_concurrently(&sink, &[TenantId::single()], batches).await;
    assert!(answers.iter().all(Result::is_ok), "{answers:?}");
    let calls = inner.calls();
    let mut sizes: Vec<Vec<usize>> = calls.into_iter().map(|(_, sizes)| sizes).collect();
    assert_eq!(sizes.iter().flatten().sum::<usize>(), 6 * 4 + 25);
    assert!(
        sizes
            .iter()
            .all(|sizes| sizes.iter().sum::<usize>() <= 10 || sizes == &[25]),
        "{sizes:?}"
    );
    sizes.sort();
    assert!(sizes.contains(&vec![25]), "{sizes:?}");
}

#[tokio::test]
async fn a_refused_combined_push_fails_every_scrape_in_it() {
    let overloaded = PushError::Overloaded {
        message: String::from("memory"),
        retry_after_seconds: 2,
    };
    let inner = Arc::new(RecordingSink {
        refuse: Some(overloaded.clone()),
        ..RecordingSink::default()
    });
    let sink = Arc::new(CoalescingSink::start(inner.clone(), limits(200, 1_000)));
    let batches = (0..4).map(|_| batch(2, 0)).collect();
    let answers = push_concurrently(&sink, &[TenantId::single()], batches).await;
    assert_eq!(answers, vec![Err(overloaded); 4]);
}

#[tokio::test]
async fn tenants_are_never_mixed_in_one_push() {
    let inner = Arc::new(RecordingSink::default());
    let sink = Arc::new(CoalescingSink::start(inner.clone(), limits(200, 1_000)));
    let tenants = [
        TenantId::single(),
        TenantId::parse("other").expect("valid tenant"),
    ];
    let batches = (0..6).map(|_| batch(1, 0)).collect();
    let answers = push_concurrently(&sink, &tenants, batches).await;
    assert!(answers.iter().all(Result::is_ok), "{answers:?}");
    let calls = inner.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    for (_, sizes) in &calls {
        assert_eq!(sizes.len(), 3);
    }
    assert_ne!(calls[0].0, calls[1].0);
}

#[tokio::test]
async fn pushes_in_progress_stay_within_the_limit_and_later_batches_are_gathered() {
    let inner = Arc::new(RecordingSink {
        hold: Duration::from_millis(100),
        ..RecordingSink::default()
    });
    let limits = CoalescingLimits {
        max_delay: Duration::ZERO,
        max_spans_per_push: 1_000,
        max_concurrent_pushes: 2,
    };
    let sink = Arc::new(CoalescingSink::start(inner.clone(), limits));
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let sink = Arc::clone(&sink);
        tasks.push(tokio::spawn(async move {
            sink.push(&TenantId::single(), batch(1, 0)).await
        }));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for task in tasks {
        task.await.expect("joins").expect("stored");
    }
    assert_eq!(inner.most_in_progress.load(Ordering::SeqCst), 2);
    let calls = inner.calls();
    assert!(
        calls.len() < 20,
        "batches arriving meanwhile are gathered: {calls:?}"
    );
    assert_eq!(
        calls.iter().map(|(_, sizes)| sizes.len()).sum::<usize>(),
        20
    );
}

#[tokio::test]
async fn an_empty_batch_is_answered_without_the_sink() {
    let inner = Arc::new(RecordingSink::default());
    let sink = CoalescingSink::start(inner.clone(), CoalescingLimits::default());
    let outcome = sink
        .push(&TenantId::single(), SpanBatch::default())
        .await
        .expect("nothing to store");
    assert_eq!(outcome, PushOutcome::default());
    assert!(inner.calls().is_empty());
}
