//! Shipping to Loki push endpoints: one task per client batches items by size and
//! wait, pushes one batch at a time (snappy protobuf, `X-Scope-OrgID`), retries 429,
//! 5xx and connection failures with exponential backoff, gives up on other 4xx
//! (logged and counted), and on an answer acknowledges the batch's positions and
//! writes the positions file before the next batch.
//!
//! Memory is bounded per client by a byte budget ([`Shipper::send`] waits for room):
//! when a server is slow or away, tailers stop reading instead of dropping lines.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::ClientConfig;
use crate::metrics::{
    BATCH_RETRIES_TOTAL, BUFFERED_BYTES, DROPPED_ENTRIES_TOTAL, POSITIONS_WRITE_ERRORS_TOTAL,
    SENT_BATCHES_TOTAL, SENT_BYTES_TOTAL, SENT_ENTRIES_TOTAL,
};
use crate::positions::{EntryId, Positions};
use crate::record::{Item, encode_push_request};

/// The clients were stopped; the item was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the log clients are stopped")]
pub struct Closed;

#[derive(Debug, Clone)]
struct ClientHandle {
    sender: mpsc::UnboundedSender<Item>,
    budget: Arc<Semaphore>,
    capacity: u32,
}

/// Hands items to every client, waiting while any client's buffer is full.
#[derive(Debug, Clone)]
pub struct Shipper {
    clients: Arc<Vec<ClientHandle>>,
}

impl Shipper {
    /// Queues `item` on every client; waits for buffer room (back-pressure).
    pub async fn send(&self, item: Item) -> Result<(), Closed> {
        for client in self.clients.iter() {
            let cost = item.cost.clamp(1, client.capacity);
            let permit = client.budget.acquire_many(cost).await.map_err(|_| Closed)?;
            permit.forget();
            let mut queued = item.clone();
            queued.cost = cost;
            client.sender.send(queued).map_err(|_| Closed)?;
        }
        Ok(())
    }
}

/// The running client tasks.
pub struct Clients {
    tasks: Vec<JoinHandle<()>>,
    stop: watch::Sender<bool>,
    budgets: Vec<Arc<Semaphore>>,
}

impl Clients {
    /// Starts one task per client config; items come through the returned [`Shipper`].
    pub fn start(
        configs: &[ClientConfig],
        positions: Arc<Positions>,
    ) -> Result<(Clients, Shipper), reqwest::Error> {
        let (stop, stop_receiver) = watch::channel(false);
        let mut tasks = Vec::new();
        let mut handles = Vec::new();
        let mut budgets = Vec::new();
        for (index, config) in configs.iter().enumerate() {
            let http = reqwest::Client::builder().timeout(config.timeout).build()?;
            let capacity = u32::try_from(config.max_buffered_bytes).unwrap_or(u32::MAX);
            let budget = Arc::new(Semaphore::new(capacity as usize));
            let (sender, receiver) = mpsc::unbounded_channel();
            let host = reqwest::Url::parse(&config.url)
                .ok()
                .and_then(|url| {
                    url.host_str().map(|host| match url.port() {
                        Some(port) => format!("{host}:{port}"),
                        None => host.to_owned(),
                    })
                })
                .unwrap_or_default();
            let worker = ClientWorker {
                index,
                host,
                config: config.clone(),
                http,
                positions: positions.clone(),
                budget: budget.clone(),
                capacity,
                stop: stop_receiver.clone(),
            };
            tasks.push(tokio::spawn(worker.run(receiver)));
            handles.push(ClientHandle {
                sender,
                budget: budget.clone(),
                capacity,
            });
            budgets.push(budget);
        }
        Ok((
            Clients {
                tasks,
                stop,
                budgets,
            },
            Shipper {
                clients: Arc::new(handles),
            },
        ))
    }

    /// Waits up to `grace` for queued items to be shipped (the senders must be
    /// dropped first), then stops; unacknowledged lines keep their positions
    /// uncommitted and are read again at the next start.
    pub async fn shutdown(self, grace: Duration) {
        let mut tasks = self.tasks;
        let all_done = async {
            for task in tasks.iter_mut() {
                let _ = task.await;
            }
        };
        if tokio::time::timeout(grace, all_done).await.is_err() {
            let _ = self.stop.send(true);
            for budget in &self.budgets {
                budget.close();
            }
            for task in tasks {
                let _ = task.await;
            }
        }
    }

    /// Stops waiting tailers at once (their `send` returns [`Closed`]).
    pub fn close_budgets(&self) {
        for budget in &self.budgets {
            budget.close();
        }
    }
}

struct ClientWorker {
    index: usize,
    host: String,
    config: ClientConfig,
    http: reqwest::Client,
    positions: Arc<Positions>,
    budget: Arc<Semaphore>,
    capacity: u32,
    stop: watch::Receiver<bool>,
}

enum PushResult {
    Acknowledged,
    Dropped,
    Stopped,
}

impl ClientWorker {
    async fn run(mut self, mut receiver: mpsc::UnboundedReceiver<Item>) {
        let mut batch: Vec<Item> = Vec::new();
        loop {
            let first = tokio::select! {
                item = receiver.recv() => item,
                _ = self.stop.changed() => None,
            };
            let Some(first) = first else { break };
            let mut batch_bytes = record_bytes(&first);
            batch.push(first);
            let deadline = tokio::time::Instant::now() + self.config.batchwait;
            let mut closed = false;
            while batch_bytes < self.config.batchsize {
                tokio::select! {
                    item = receiver.recv() => match item {
                        Some(item) => {
                            batch_bytes += record_bytes(&item);
                            batch.push(item);
                        }
                        None => {
                            closed = true;
                            break;
                        }
                    },
                    _ = tokio::time::sleep_until(deadline) => break,
                    _ = self.stop.changed() => return,
                }
            }
            let outcome = self.push_with_retries(&batch).await;
            if matches!(outcome, PushResult::Stopped) {
                return;
            }
            self.acknowledge(
                &batch,
                matches!(outcome, PushResult::Acknowledged),
                batch_bytes,
            )
            .await;
            batch.clear();
            if closed {
                break;
            }
        }
    }

    async fn acknowledge(&self, batch: &[Item], delivered: bool, batch_bytes: u64) {
        let mut offsets: HashMap<EntryId, u64> = HashMap::new();
        let mut cost: u64 = 0;
        let mut entries: u64 = 0;
        for item in batch {
            let offset = offsets.entry(item.entry).or_insert(item.offset);
            *offset = (*offset).max(item.offset);
            cost += u64::from(item.cost);
            entries += u64::from(item.record.is_some());
        }
        for (entry, offset) in offsets {
            self.positions.ack(self.index, entry, offset);
        }
        // The positions file is written before the next batch: a crash repeats at
        // most the batch in flight.
        if let Err(error) = self.positions.persist().await {
            metrics::counter!(POSITIONS_WRITE_ERRORS_TOTAL).increment(1);
            tracing::error!(%error, "cannot write the positions file");
        }
        if delivered && entries > 0 {
            metrics::counter!(SENT_BATCHES_TOTAL, "host" => self.host.clone()).increment(1);
            metrics::counter!(SENT_ENTRIES_TOTAL, "host" => self.host.clone()).increment(entries);
            metrics::counter!(SENT_BYTES_TOTAL, "host" => self.host.clone()).increment(batch_bytes);
        }
        self.budget.add_permits(
            usize::try_from(cost)
                .unwrap_or(usize::MAX)
                .min(self.capacity as usize),
        );
        metrics::gauge!(BUFFERED_BYTES, "host" => self.host.clone())
            .set(f64::from(self.capacity.saturating_sub(
                u32::try_from(self.budget.available_permits()).unwrap_or(u32::MAX),
            )));
    }

    async fn push_with_retries(&mut self, batch: &[Item]) -> PushResult {
        let records: Vec<_> = batch
            .iter()
            .filter_map(|item| item.record.as_deref())
            .collect();
        if records.is_empty() {
            return PushResult::Acknowledged;
        }
        let body = encode_push_request(records.iter().copied(), &self.config.external_labels);
        let entries = records.len() as u64;
        let mut wait = self.config.backoff_config.min_period;
        let mut retries: u32 = 0;
        loop {
            let reason = match self.push_once(&body).await {
                Ok(()) => return PushResult::Acknowledged,
                Err(PushFailure::Permanent { status, message }) => {
                    metrics::counter!(DROPPED_ENTRIES_TOTAL, "host" => self.host.clone(), "reason" => "status_4xx")
                        .increment(entries);
                    tracing::error!(
                        host = %self.host,
                        %status,
                        %message,
                        entries,
                        "the server refused a batch; its entries are dropped"
                    );
                    return PushResult::Dropped;
                }
                Err(PushFailure::Retry { reason, message }) => {
                    tracing::warn!(host = %self.host, reason, %message, retry_in = ?wait, "push failed; retrying");
                    reason
                }
            };
            metrics::counter!(BATCH_RETRIES_TOTAL, "host" => self.host.clone(), "reason" => reason)
                .increment(1);
            retries += 1;
            let max_retries = self.config.backoff_config.max_retries;
            if max_retries > 0 && retries > max_retries {
                metrics::counter!(DROPPED_ENTRIES_TOTAL, "host" => self.host.clone(), "reason" => "max_retries")
                    .increment(entries);
                tracing::error!(host = %self.host, entries, "giving up a batch after max_retries");
                return PushResult::Dropped;
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.stop.changed() => return PushResult::Stopped,
            }
            wait = (wait * 2).min(self.config.backoff_config.max_period);
        }
    }

    async fn push_once(&self, body: &[u8]) -> Result<(), PushFailure> {
        let mut request = self
            .http
            .post(&self.config.url)
            .header("Content-Type", "application/x-protobuf")
            .header(
                "User-Agent",
                concat!("weft-agent/", env!("CARGO_PKG_VERSION")),
            )
            .body(body.to_vec());
        if !self.config.tenant_id.is_empty() {
            request = request.header("X-Scope-OrgID", &self.config.tenant_id);
        }
        for (name, value) in &self.config.headers {
            request = request.header(name, value);
        }
        if let Some(auth) = &self.config.basic_auth {
            request = request.basic_auth(&auth.username, Some(&auth.password));
        }
        if !self.config.bearer_token.is_empty() {
            request = request.bearer_auth(&self.config.bearer_token);
        }
        let response = request.send().await.map_err(|error| PushFailure::Retry {
            reason: "connection",
            message: error.to_string(),
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let message: String = response
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(1024)
            .collect();
        if status.as_u16() == 429 {
            return Err(PushFailure::Retry {
                reason: "status_429",
                message,
            });
        }
        if status.is_server_error() {
            return Err(PushFailure::Retry {
                reason: "status_5xx",
                message: format!("{status}: {message}"),
            });
        }
        Err(PushFailure::Permanent {
            status: status.as_u16(),
            message,
        })
    }
}

enum PushFailure {
    Retry {
        reason: &'static str,
        message: String,
    },
    Permanent {
        status: u16,
        message: String,
    },
}

fn record_bytes(item: &Item) -> u64 {
    item.record
        .as_ref()
        .map(|record| record.line.len() as u64)
        .unwrap_or(0)
}
