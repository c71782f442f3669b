//! The logs role inside `weft serve`: the logs store beside the trace ingester, its
//! chunks in the same object store as the trace blocks, and its maintenance task.

use std::sync::Arc;

use anyhow::Context;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;

/// The running logs store and its flush task.
pub(crate) struct Logs {
    /// The store the Loki API serves.
    pub store: Arc<weft_logs::LogStore>,
    stop: watch::Sender<bool>,
    maintenance: JoinHandle<()>,
}

/// Opens the logs store (chunk index, WAL replay) and starts its maintenance.
pub(crate) async fn start(config: &Config) -> anyhow::Result<Logs> {
    config
        .logs
        .validate()
        .map_err(anyhow::Error::msg)
        .context("invalid logs configuration")?;
    // The same store as the trace blocks (local directory or bucket); logs keep their
    // chunks under its `logs/` prefix.
    let (object_store, root) = weft_storage::open_object_store(
        &config.storage.backend_config(),
        &config.storage.path.join("blocks"),
    )
    .await
    .context("cannot open the object store for log chunks")?;
    let chunk_store = weft_logs::ChunkStore::new(object_store, &root);
    let store = weft_logs::LogStore::open(config.logs.clone(), chunk_store)
        .await
        .context("cannot open the logs store")?;
    let (stop, stop_receiver) = watch::channel(false);
    let maintenance = tokio::spawn(store.clone().run_maintenance(stop_receiver));
    Ok(Logs {
        store,
        stop,
        maintenance,
    })
}

impl Logs {
    /// Stops maintenance after a last flush of every head into chunks.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Err(error) = self.maintenance.await {
            tracing::warn!(%error, "the logs maintenance task failed");
        }
    }
}

/// OTLP log records (`/v1/logs`, `LogsService/Export`) into the logs store: the
/// receiver's [`weft_receiver::LogsSink`] over [`weft_logs::LogStore`].
pub(crate) struct OtlpLogsIntoStore(pub Arc<weft_logs::LogStore>);

impl weft_receiver::LogsSink for OtlpLogsIntoStore {
    fn push_otlp_logs(
        &self,
        tenant: weft_model::TenantId,
        payload: weft_receiver::OtlpLogsPayload,
    ) -> weft_receiver::otlp_logs::LogsPushFuture {
        let store = self.0.clone();
        Box::pin(async move { store_otlp_logs(&store, &tenant, payload).await })
    }
}

/// Decodes, maps and stores one export; partial refusals become OTLP partial success,
/// a push refused whole the status its cause calls for.
async fn store_otlp_logs(
    store: &weft_logs::LogStore,
    tenant: &weft_model::TenantId,
    payload: weft_receiver::OtlpLogsPayload,
) -> Result<weft_receiver::LogsPushOutcome, weft_model::PushError> {
    use weft_logs::otlp;
    use weft_model::PushError;
    use weft_receiver::OtlpLogsPayload;
    let payload_size = match &payload {
        OtlpLogsPayload::Protobuf(body) | OtlpLogsPayload::Json(body) => Some(body.len()),
        // tonic decoded it already; mapping is cheap next to that.
        OtlpLogsPayload::Decoded(_) => None,
    };
    // Large bodies are decoded and mapped on the blocking pool, off the async workers.
    const INLINE_DECODE_BYTES: usize = 256 * 1024;
    let decode_and_map = move || {
        let request = match payload {
            OtlpLogsPayload::Protobuf(body) => otlp::decode_protobuf(&body),
            OtlpLogsPayload::Json(body) => otlp::decode_json(&body),
            OtlpLogsPayload::Decoded(request) => Ok(request),
        }
        .map_err(|error| PushError::InvalidInput(error.to_string()))?;
        Ok::<_, PushError>(otlp::to_streams(request, weft_logs::time::now_unix_nanos()))
    };
    let streams = if payload_size.is_some_and(|size| size > INLINE_DECODE_BYTES) {
        tokio::task::spawn_blocking(decode_and_map)
            .await
            .map_err(|error| {
                PushError::Unavailable(format!("otlp logs decoding failed: {error}"))
            })??
    } else {
        decode_and_map()?
    };
    match store.push(tenant, streams).await {
        Ok(summary) => {
            let rejected: usize = summary.rejections.iter().map(|r| r.entries).sum();
            let message = weft_logs::push_rejection_message(tenant, &summary);
            if summary.accepted_entries == 0 && summary.rate_limited() {
                return Err(PushError::Overloaded {
                    message,
                    retry_after_seconds: 1,
                });
            }
            Ok(weft_receiver::LogsPushOutcome {
                accepted_records: summary.accepted_entries as u64,
                rejected_records: rejected as u64,
                rejection_message: if rejected > 0 { message } else { String::new() },
            })
        }
        Err(weft_logs::PushFailure::RateLimited(message)) => Err(PushError::Overloaded {
            message,
            retry_after_seconds: 1,
        }),
        Err(failure) => Err(PushError::Unavailable(failure.to_string())),
    }
}
