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
