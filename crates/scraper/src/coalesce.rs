//! [`CoalescingSink`]: the batches of many concurrent scrapes stored in one
//! [`SpanSink::push_batches`] call.
//!
//! A thousand targets scraped every second give a thousand small batches per second;
//! pushed one by one, each pays the sink's per-push costs (a memory check, a
//! write-ahead log record and its fsync, a head insert, wake-ups). Push receivers cannot
//! avoid that, since every request must be answered on its own; the scraper can, because
//! it decides when its spans are stored. Every scrape still waits for the answer about
//! its own batch before its cursor advances, so nothing is acknowledged before it is
//! durable, and the sink judges every batch as if it had been pushed alone (request
//! limits, rejected spans per batch), so rejections stay attributed to their target.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Semaphore, mpsc, oneshot};
use weft_model::{PushError, PushOutcome, SpanBatch, SpanSink, TenantId};

/// How [`CoalescingSink`] gathers batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoalescingLimits {
    /// Longest a batch waits for others to join it before the combined push starts
    /// (the latency coalescing may add to a scrape). Zero gathers only what is already
    /// waiting.
    pub max_delay: Duration,
    /// A combined push takes no further batch once it holds at least this many spans;
    /// a single batch larger than this is pushed alone.
    pub max_spans_per_push: usize,
    /// Combined pushes in progress at once; further batches wait and are gathered
    /// meanwhile. At least 1.
    pub max_concurrent_pushes: usize,
}

impl Default for CoalescingLimits {
    /// 5 ms, 10,000 spans, 2 pushes at once.
    fn default() -> Self {
        Self {
            max_delay: Duration::from_millis(5),
            max_spans_per_push: 10_000,
            max_concurrent_pushes: 2,
        }
    }
}

/// One batch waiting to be stored, and where its answer goes.
struct Waiting {
    tenant: TenantId,
    batch: SpanBatch,
    answer: oneshot::Sender<Result<PushOutcome, PushError>>,
}

/// A [`SpanSink`] that gathers the batches pushed into it concurrently and stores them
/// through one [`SpanSink::push_batches`] call of the inner sink per tenant and
/// gathering; every caller gets the answer about its own batch.
///
/// Bounded: a caller's batch is held only while the caller waits for it (as it would be
/// without coalescing), a combined push holds at most
/// [`CoalescingLimits::max_spans_per_push`] spans (or one larger batch), and at most
/// [`CoalescingLimits::max_concurrent_pushes`] are in progress; when the inner sink is
/// slow (waiting for memory), callers wait, as they would on the inner sink itself.
///
/// Must be created within a Tokio runtime (it spawns its gathering task, which ends
/// once the sink is dropped and what was pushed is answered).
pub struct CoalescingSink {
    waiting: mpsc::UnboundedSender<Waiting>,
}

impl CoalescingSink {
    /// Starts gathering in front of `inner`.
    pub fn start(inner: Arc<dyn SpanSink>, limits: CoalescingLimits) -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        tokio::spawn(gather(inner, limits, receiver));
        Self { waiting: sender }
    }
}

impl std::fmt::Debug for CoalescingSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoalescingSink").finish_non_exhaustive()
    }
}

#[async_trait]
impl SpanSink for CoalescingSink {
    async fn push(&self, tenant: &TenantId, batch: SpanBatch) -> Result<PushOutcome, PushError> {
        if batch.is_empty() {
            return Ok(PushOutcome::default());
        }
        let stopped = || PushError::Unavailable(String::from("the scraper's sink has stopped"));
        let (answer, answered) = oneshot::channel();
        self.waiting
            .send(Waiting {
                tenant: tenant.clone(),
                batch,
                answer,
            })
            .map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }
}

/// Gathers waiting batches into combined pushes until every sender is gone.
async fn gather(
    inner: Arc<dyn SpanSink>,
    limits: CoalescingLimits,
    mut receiver: mpsc::UnboundedReceiver<Waiting>,
) {
    let pushes = Arc::new(Semaphore::new(limits.max_concurrent_pushes.max(1)));
    // A batch taken from the channel that did not fit the previous gathering.
    let mut carried: Option<Waiting> = None;
    loop {
        let Ok(permit) = Arc::clone(&pushes).acquire_owned().await else {
            return;
        };
        let first = match carried.take() {
            Some(waiting) => waiting,
            None => match receiver.recv().await {
                Some(waiting) => waiting,
                None => return,
            },
        };
        let deadline = tokio::time::Instant::now() + limits.max_delay;
        let mut spans = first.batch.len();
        let mut gathered = vec![first];
        while spans < limits.max_spans_per_push {
            let next = match receiver.try_recv() {
                Ok(waiting) => waiting,
                Err(mpsc::error::TryRecvError::Disconnected) => break,
                Err(mpsc::error::TryRecvError::Empty) => {
                    match tokio::time::timeout_at(deadline, receiver.recv()).await {
                        Ok(Some(waiting)) => waiting,
                        Ok(None) | Err(_) => break,
                    }
                }
            };
            if spans + next.batch.len() > limits.max_spans_per_push {
                carried = Some(next);
                break;
            }
            spans += next.batch.len();
            gathered.push(next);
        }
        let inner = Arc::clone(&inner);
        tokio::spawn(async move {
            push_gathered(inner.as_ref(), gathered).await;
            drop(permit);
        });
    }
}

/// Pushes the gathered batches, one `push_batches` call per tenant, and answers each.
async fn push_gathered(inner: &dyn SpanSink, mut gathered: Vec<Waiting>) {
    while !gathered.is_empty() {
        let tenant = gathered[0].tenant.clone();
        let (same_tenant, others): (Vec<Waiting>, Vec<Waiting>) = gathered
            .into_iter()
            .partition(|waiting| waiting.tenant == tenant);
        gathered = others;
        let mut batches = Vec::with_capacity(same_tenant.len());
        let mut answers = Vec::with_capacity(same_tenant.len());
        for waiting in same_tenant {
            batches.push(waiting.batch);
            answers.push(waiting.answer);
        }
        let expected = answers.len();
        let mut results = inner.push_batches(&tenant, batches).await.into_iter();
        for answer in answers {
            let result = results.next().unwrap_or_else(|| {
                Err(PushError::Unavailable(format!(
                    "the sink answered fewer than the {expected} batches pushed together"
                )))
            });
            // The caller may have given up waiting; its batch was stored or not all the same.
            let _ = answer.send(result);
        }
    }
}

#[cfg(test)]
#[path = "coalesce_tests.rs"]
mod tests;
