//! One watcher per collection and namespace: list into its store, then apply watch
//! events to it, notifying the group builder after each change.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

use super::KubernetesOptions;
use super::client::{ApiClient, ApiError, Resource, Selectors, WatchEvent};
use super::objects::Object;
use crate::discovery::count_refresh_failure;

/// One collection's objects by `<namespace>/<name>`, and whether it was listed.
pub(super) struct Store<T> {
    pub(super) listed: bool,
    pub(super) objects: BTreeMap<String, T>,
}

pub(super) type SharedStore<T> = Arc<Mutex<Store<T>>>;

pub(super) fn new_store<T>() -> SharedStore<T> {
    Arc::new(Mutex::new(Store {
        listed: false,
        objects: BTreeMap::new(),
    }))
}

pub(super) fn lock<T>(store: &SharedStore<T>) -> MutexGuard<'_, Store<T>> {
    store.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the watchers share.
pub(super) struct WatchContext {
    pub(super) client: ApiClient,
    pub(super) options: KubernetesOptions,
    /// Notified after every change to a store.
    pub(super) changed: Notify,
}

/// Lists and watches one collection into `store` until aborted.
pub(super) async fn watch_collection<T: Object>(
    context: Arc<WatchContext>,
    resource: Resource,
    namespace: String,
    selectors: Selectors,
    store: SharedStore<T>,
) {
    let options = &context.options;
    let mut backoff = options.retry_backoff_initial;
    loop {
        let error = list_and_watch(
            &context,
            resource,
            &namespace,
            &selectors,
            &store,
            &mut backoff,
        )
        .await;
        match error {
            ApiError::Gone(what) => {
                tracing::debug!(%what, "Kubernetes SD: resource version expired, listing again");
            }
            ApiError::Other(error) => {
                count_refresh_failure("kubernetes");
                tracing::warn!(%error, retry_in = ?backoff, "Kubernetes SD: keeping the last known objects");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(options.retry_backoff_max);
            }
        }
    }
}

/// One list, then watches from its resource version until an error, which is
/// returned.
async fn list_and_watch<T: Object>(
    context: &WatchContext,
    resource: Resource,
    namespace: &str,
    selectors: &Selectors,
    store: &SharedStore<T>,
    backoff: &mut Duration,
) -> ApiError {
    let client = &context.client;
    let max_objects = context.options.max_objects;
    let listed = match client
        .list::<T>(resource, namespace, selectors, max_objects)
        .await
    {
        Ok(listed) => listed,
        Err(error) => return error,
    };
    {
        let mut store = lock(store);
        store.objects = listed
            .items
            .into_iter()
            .map(|object| (object.metadata().key(), object))
            .collect();
        store.listed = true;
    }
    context.changed.notify_one();
    *backoff = context.options.retry_backoff_initial;
    let mut resource_version = listed.resource_version;
    loop {
        let mut stream = match client
            .watch::<T>(resource, namespace, selectors, &resource_version)
            .await
        {
            Ok(stream) => stream,
            Err(error) => return error,
        };
        loop {
            let event = match stream.next().await {
                Ok(Some(event)) => event,
                Ok(None) => break,
                Err(error) => return error,
            };
            match event {
                WatchEvent::Upsert(object) => {
                    let metadata = object.metadata();
                    resource_version = metadata.resource_version.clone();
                    let key = metadata.key();
                    let mut store = lock(store);
                    if !store.objects.contains_key(&key) && store.objects.len() >= max_objects {
                        return ApiError::Other(format!(
                            "watch {}: more than {max_objects} objects (the limit of weft's Kubernetes discovery)",
                            resource.path()
                        ));
                    }
                    store.objects.insert(key, object);
                }
                WatchEvent::Deleted(object) => {
                    let metadata = object.metadata();
                    resource_version = metadata.resource_version.clone();
                    lock(store).objects.remove(&metadata.key());
                }
                WatchEvent::Bookmark(version) => {
                    if !version.is_empty() {
                        resource_version = version;
                    }
                    continue;
                }
            }
            context.changed.notify_one();
        }
        // The server ended the watch (its timeout): watch again from where it was,
        // after a pause so a server that ends watches at once is not hammered.
        tokio::time::sleep(context.options.retry_backoff_initial).await;
    }
}
