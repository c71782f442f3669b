//! `GET /loki/api/v1/tail` (WebSocket), as Loki serves it to `logcli tail` and Grafana's
//! live view: `query` (a log query), `start` (default an hour ago), `limit` (default 100:
//! the newest entries before now are sent first, oldest first), `delay_for` (seconds, at
//! most 5: how far behind now to stay so late entries of other streams are not missed).
//! Then, once a second, every entry that arrived since, as
//! `{"streams":[{"stream":{..},"values":[["<ns>","line"]]}],"dropped_entries":null}`
//! messages (a third element holds structured metadata when there is any).
//!
//! At most `MAX_TAILS_PER_TENANT` tails run per tenant (400 over it, Loki's message);
//! each ends after an hour, when the client closes, or when a query fails (the reason
//! in the close frame).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Extension;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use weft_model::TenantId;

use crate::LogStore;
use crate::http::{error_response, tenant_of};
use crate::http_params::Params;
use crate::logql::{LogQuery, Query, parse};
use crate::query::{Bounds, Direction, StreamResult, run_log_query};
use crate::time::now_unix_nanos;

/// Concurrent tails per tenant (Loki's `max_concurrent_tail_requests` default).
pub const MAX_TAILS_PER_TENANT: usize = 10;
const MAX_DELAY_SECONDS: u64 = 5;
const MAX_TAIL_DURATION: Duration = Duration::from_secs(3_600);
const POLL: Duration = Duration::from_secs(1);
/// Most entries one poll sends; the rest follow on the next poll.
const MAX_ENTRIES_PER_POLL: usize = 1_000;
const HOUR_NANOS: i64 = 3_600_000_000_000;

/// Running tails per tenant, shared by the tail route.
#[derive(Debug, Clone, Default)]
pub struct TailSlots(Arc<Mutex<HashMap<TenantId, usize>>>);

/// One tail's slot, given back when the tail ends.
struct Slot {
    slots: TailSlots,
    tenant: TenantId,
}

impl TailSlots {
    fn take(&self, tenant: &TenantId) -> Result<Slot, usize> {
        let mut running = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = running.entry(tenant.clone()).or_default();
        if *count >= MAX_TAILS_PER_TENANT {
            return Err(*count);
        }
        *count += 1;
        Ok(Slot {
            slots: self.clone(),
            tenant: tenant.clone(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut running = self
            .slots
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = running.get_mut(&self.tenant) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                running.remove(&self.tenant);
            }
        }
    }
}

/// The WebSocket upgrade, after the parameters and the tenant's slot are checked.
pub(crate) async fn tail(
    State(store): State<Arc<LogStore>>,
    Extension(slots): Extension<TailSlots>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let tenant = match tenant_of(&store, &headers) {
        Ok(tenant) => tenant,
        Err((status, message)) => return error_response(status, message),
    };
    let params = Params::parse(raw.as_deref());
    let Some(text) = params.get("query") else {
        return error_response(StatusCode::BAD_REQUEST, "missing query parameter");
    };
    let query = match parse(text) {
        Ok(Query::Log(query)) => query,
        Ok(Query::Metric(_)) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "tailing is only supported for log queries, not metric queries",
            );
        }
        Err(error) => return error_response(StatusCode::BAD_REQUEST, error.to_string()),
    };
    let delay = match params.get("delay_for").map(str::parse::<u64>) {
        None => 0,
        Some(Ok(seconds)) if seconds <= MAX_DELAY_SECONDS => seconds,
        Some(Ok(_)) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                format!("delay_for can't be greater than {MAX_DELAY_SECONDS}"),
            );
        }
        Some(Err(_)) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "invalid delay_for parameter: whole seconds expected",
            );
        }
    };
    let limit = match params.get("limit").map(str::parse::<usize>) {
        None => 100,
        Some(Ok(limit)) if limit > 0 => limit.min(MAX_ENTRIES_PER_POLL),
        Some(_) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "invalid limit parameter: a positive integer is expected",
            );
        }
    };
    let start = match params.time("start", now_unix_nanos().saturating_sub(HOUR_NANOS)) {
        Ok(start) => start,
        Err((status, message)) => return error_response(status, message),
    };
    // Parameters are checked first, so a plain GET learns what is wrong with them.
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let slot = match slots.take(&tenant) {
        Ok(slot) => slot,
        Err(count) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                format!(
                    "max concurrent tail requests limit exceeded, count > limit ({} > {MAX_TAILS_PER_TENANT})",
                    count + 1
                ),
            );
        }
    };
    let tail = Tail {
        store,
        tenant,
        query,
        delay_nanos: i64::try_from(delay).unwrap_or(0) * 1_000_000_000,
    };
    upgrade.on_upgrade(move |socket| async move {
        tail.run(socket, start, limit).await;
        drop(slot);
    })
}

struct Tail {
    store: Arc<LogStore>,
    tenant: TenantId,
    query: LogQuery,
    delay_nanos: i64,
}

/// Where a tail stands: entries up to `timestamp` were sent, and at exactly `timestamp`
/// those in `sent_at_cursor` (a stream's labels and line).
struct Cursor {
    timestamp: i64,
    sent_at_cursor: HashSet<(String, String)>,
}

impl Tail {
    async fn run(self, mut socket: WebSocket, start: i64, limit: usize) {
        let started = tokio::time::Instant::now();
        // The newest `limit` entries before now, oldest first.
        let end = now_unix_nanos().saturating_sub(self.delay_nanos);
        let mut cursor = Cursor {
            timestamp: start.saturating_sub(1),
            sent_at_cursor: HashSet::new(),
        };
        let first = self
            .poll(&mut cursor, start, end, limit, Direction::Backward)
            .await;
        if !self.send(&mut socket, first).await {
            return;
        }
        let mut ticks = tokio::time::interval(POLL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                incoming = socket.recv() => match incoming {
                    // Clients only ever close (or ping, answered by the library).
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => continue,
                },
            }
            if started.elapsed() > MAX_TAIL_DURATION {
                close(&mut socket, "tail max duration reached").await;
                return;
            }
            let end = now_unix_nanos().saturating_sub(self.delay_nanos);
            let from = cursor.timestamp;
            let batch = self
                .poll(
                    &mut cursor,
                    from,
                    end,
                    MAX_ENTRIES_PER_POLL,
                    Direction::Forward,
                )
                .await;
            if !self.send(&mut socket, batch).await {
                return;
            }
        }
    }

    /// Entries in `[from, end)` not sent yet, at most `limit`; moves the cursor past them.
    async fn poll(
        &self,
        cursor: &mut Cursor,
        from: i64,
        end: i64,
        limit: usize,
        direction: Direction,
    ) -> Result<Vec<StreamResult>, String> {
        if end <= from {
            return Ok(Vec::new());
        }
        let bounds = Bounds {
            start_unix_nanos: from,
            end_unix_nanos: end,
            // Entries at the cursor that were sent come back again: leave room for them.
            limit: limit.saturating_add(cursor.sent_at_cursor.len()),
            direction,
        };
        let (streams, _) = run_log_query(&self.store, &self.tenant, &self.query, bounds)
            .await
            .map_err(|error| error.to_string())?;
        let mut fresh: Vec<StreamResult> = Vec::new();
        let mut newest = cursor.timestamp;
        let mut at_newest: HashSet<(String, String)> = HashSet::new();
        for mut stream in streams {
            let key = stream.labels.to_string();
            stream.entries.retain(|entry| {
                entry.timestamp_unix_nanos > cursor.timestamp
                    || (entry.timestamp_unix_nanos == cursor.timestamp
                        && !cursor
                            .sent_at_cursor
                            .contains(&(key.clone(), entry.line.clone())))
            });
            stream
                .entries
                .sort_by_key(|entry| entry.timestamp_unix_nanos);
            for entry in &stream.entries {
                if entry.timestamp_unix_nanos > newest {
                    newest = entry.timestamp_unix_nanos;
                    at_newest.clear();
                }
                if entry.timestamp_unix_nanos == newest {
                    at_newest.insert((key.clone(), entry.line.clone()));
                }
            }
            if !stream.entries.is_empty() {
                fresh.push(stream);
            }
        }
        if newest == cursor.timestamp {
            cursor.sent_at_cursor.extend(at_newest);
        } else {
            cursor.timestamp = newest;
            cursor.sent_at_cursor = at_newest;
        }
        Ok(fresh)
    }

    /// Sends a batch (nothing when empty); false when the tail must end.
    async fn send(&self, socket: &mut WebSocket, batch: Result<Vec<StreamResult>, String>) -> bool {
        let streams = match batch {
            Ok(streams) if streams.is_empty() => return true,
            Ok(streams) => streams,
            Err(error) => {
                close(socket, &error).await;
                return false;
            }
        };
        let message = json!({
            "streams": streams.iter().map(stream_json).collect::<Vec<_>>(),
            "dropped_entries": Value::Null,
        });
        socket
            .send(Message::Text(message.to_string().into()))
            .await
            .is_ok()
    }
}

fn stream_json(stream: &StreamResult) -> Value {
    let labels: Map<String, Value> = stream
        .labels
        .pairs()
        .iter()
        .map(|(name, value)| (name.clone(), Value::String(value.clone())))
        .collect();
    let values: Vec<Value> = stream
        .entries
        .iter()
        .map(|entry| {
            let mut value = vec![
                Value::String(entry.timestamp_unix_nanos.to_string()),
                Value::String(entry.line.clone()),
            ];
            if !entry.structured_metadata.is_empty() {
                value.push(Value::Object(
                    entry
                        .structured_metadata
                        .iter()
                        .map(|(name, value)| (name.clone(), Value::String(value.clone())))
                        .collect(),
                ));
            }
            Value::Array(value)
        })
        .collect();
    json!({"stream": labels, "values": values})
}

async fn close(socket: &mut WebSocket, reason: &str) {
    // Close reasons are limited to 123 bytes.
    let mut reason = reason.to_owned();
    while reason.len() > 123 {
        reason.pop();
    }
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code: axum::extract::ws::close_code::ERROR,
            reason: reason.into(),
        })))
        .await;
}
