//! Kubernetes service discovery (`kubernetes_sd_configs`), Prometheus's
//! `discovery/kubernetes` for the roles `pod`, `service` and `endpoints`.
//!
//! For each namespace (`namespaces.names`, plus the pod's own with
//! `namespaces.own_namespace` in-cluster; all namespaces when neither is set) every
//! collection the role needs is listed, then watched from the list's resource
//! version with bookmarks: `pods` for `pod`, `services` for `service`, and
//! `endpoints`, `services` and `pods` for `endpoints` (whose targets carry the
//! labels of the Service of the same name and of the backing pods). Each
//! collection uses the `selectors` entry of its role as `labelSelector` and
//! `fieldSelector`. A watch the server ends is resumed from the last resource
//! version seen; `410 Gone` lists again at once; any other error (transport, HTTP
//! status, undecodable JSON, a limit exceeded) lists again after a backoff
//! doubling from [`KubernetesOptions::retry_backoff_initial`] to
//! [`KubernetesOptions::retry_backoff_max`], counted in
//! `weft_scrape_sd_refresh_failures_total{mechanism="kubernetes"}`, the objects
//! last known being kept meanwhile.
//!
//! Nothing is published before every collection has been listed once; after that,
//! every change rebuilds the groups (one per object, labelled as Prometheus does,
//! as in `targets.rs`) and publishes them when they differ. Prometheus rebuilds
//! an endpoints group only on some pod and service events; weft rebuilds on all,
//! so it never shows older labels than Prometheus.
//!
//! The API server is `api_server` with the config's `basic_auth`, `authorization`
//! (`bearer_token(_file)`) and `tls_config`; without `api_server`, the in-cluster
//! configuration: `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT` with
//! the service account's `token` (re-read on every request) and `ca.crt`.
//!
//! Refused at load (see [`check_supported`]): the roles `node`, `endpointslice`
//! and `ingress`, `kubeconfig_file`, and `attach_metadata` other than `job`.
//!
//! Memory is bounded: a list page or a single watch event larger than
//! [`KubernetesOptions::max_response_bytes`], or more than
//! [`KubernetesOptions::max_objects`] objects in one collection, is an error (the
//! previous objects are kept).

mod client;
mod objects;
mod targets;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::{JoinHandle, JoinSet};
use weft_scrape_config::TargetGroup;
use weft_scrape_config::config::{
    Authorization, HttpClientConfig, KubernetesRole, KubernetesSdConfig,
};

use self::client::{ApiClient, ApiError, Resource, Selectors, WatchEvent};
use self::objects::{Endpoints, Object, Pod, Service};
use self::targets::PodMetadataOptions;
use super::{Publisher, count_refresh_failure};
use crate::http_client::HttpClient;

/// Where a pod's service account credentials are mounted.
pub const DEFAULT_SERVICE_ACCOUNT_DIRECTORY: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// Settings of Kubernetes discovery that are not in the Prometheus configuration.
#[derive(Clone, Debug)]
pub struct KubernetesOptions {
    /// Directory with the in-cluster `token`, `ca.crt` and `namespace`; default
    /// [`DEFAULT_SERVICE_ACCOUNT_DIRECTORY`].
    pub service_account_directory: PathBuf,
    /// Most objects kept per watched collection (per namespace); default 100,000.
    pub max_objects: usize,
    /// Largest list page or single watch event read, in bytes; default 64 MiB.
    pub max_response_bytes: usize,
    /// First wait before listing again after an error; default 1s.
    pub retry_backoff_initial: Duration,
    /// Longest wait before listing again after errors; default 30s.
    pub retry_backoff_max: Duration,
    /// `timeoutSeconds` asked of each watch; default 5m.
    pub watch_timeout: Duration,
}

impl Default for KubernetesOptions {
    fn default() -> Self {
        Self {
            service_account_directory: PathBuf::from(DEFAULT_SERVICE_ACCOUNT_DIRECTORY),
            max_objects: 100_000,
            max_response_bytes: 64 * 1024 * 1024,
            retry_backoff_initial: Duration::from_secs(1),
            retry_backoff_max: Duration::from_secs(30),
            watch_timeout: Duration::from_secs(300),
        }
    }
}

/// Refuses, with a message naming the setting, what this provider cannot run.
pub fn check_supported(config: &KubernetesSdConfig) -> Result<(), String> {
    match config.role {
        KubernetesRole::Pod | KubernetesRole::Service | KubernetesRole::Endpoints => {}
        KubernetesRole::Node | KubernetesRole::EndpointSlice | KubernetesRole::Ingress => {
            return Err(format!(
                "kubernetes_sd_configs role {:?} is not supported by weft's scraper (supported: pod, service, endpoints)",
                role_name(config.role)
            ));
        }
    }
    if !config.kubeconfig_file.is_empty() {
        return Err(String::from(
            "kubernetes_sd_configs kubeconfig_file is not supported by weft's scraper; set api_server and its http client settings",
        ));
    }
    let attach = &config.attach_metadata;
    for (set, name) in [
        (attach.node, "node"),
        (attach.namespace, "namespace"),
        (attach.deployment, "deployment"),
        (attach.cronjob, "cronjob"),
    ] {
        if set {
            return Err(format!(
                "kubernetes_sd_configs attach_metadata.{name} is not supported by weft's scraper"
            ));
        }
    }
    Ok(())
}

fn role_name(role: KubernetesRole) -> &'static str {
    match role {
        KubernetesRole::Node => "node",
        KubernetesRole::Pod => "pod",
        KubernetesRole::Service => "service",
        KubernetesRole::Endpoints => "endpoints",
        KubernetesRole::EndpointSlice => "endpointslice",
        KubernetesRole::Ingress => "ingress",
    }
}

/// Kubernetes discovery of one config, outside a scrape pool (for tests and tools).
/// Dropping it stops it.
pub struct KubernetesDiscovery {
    task: JoinHandle<()>,
    groups: watch::Receiver<Vec<Vec<TargetGroup>>>,
}

impl KubernetesDiscovery {
    /// Starts discovery. Must be called within a Tokio runtime.
    pub fn start(config: KubernetesSdConfig, options: KubernetesOptions) -> Self {
        let (sender, groups) = watch::channel(vec![Vec::new()]);
        let publisher = Publisher { index: 0, sender };
        let task = tokio::spawn(run(config, options, publisher));
        Self { task, groups }
    }

    /// The groups published last (none before every collection was listed once),
    /// sorted by source.
    pub fn groups(&self) -> Vec<TargetGroup> {
        self.groups.borrow()[0].clone()
    }

    /// Waits for the next publication; `false` when discovery has stopped.
    pub async fn changed(&mut self) -> bool {
        self.groups.changed().await.is_ok()
    }
}

impl Drop for KubernetesDiscovery {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One collection's objects by `<namespace>/<name>`, and whether it was listed.
struct Store<T> {
    listed: bool,
    objects: BTreeMap<String, T>,
}

type SharedStore<T> = Arc<Mutex<Store<T>>>;

fn new_store<T>() -> SharedStore<T> {
    Arc::new(Mutex::new(Store {
        listed: false,
        objects: BTreeMap::new(),
    }))
}

fn lock<T>(store: &SharedStore<T>) -> MutexGuard<'_, Store<T>> {
    store.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Every collection of one config, one store per namespace.
#[derive(Default)]
struct Stores {
    pods: Vec<SharedStore<Pod>>,
    services: Vec<SharedStore<Service>>,
    endpoints: Vec<SharedStore<Endpoints>>,
}

/// What the watchers share.
struct WatchContext {
    client: ApiClient,
    options: KubernetesOptions,
    changed: Notify,
}

/// Runs the provider until aborted.
pub(crate) async fn run(
    config: KubernetesSdConfig,
    options: KubernetesOptions,
    publisher: Publisher,
) {
    let setup = check_supported(&config).and_then(|()| connect(&config, &options));
    let (client, namespaces) = match setup {
        Ok(setup) => setup,
        Err(error) => {
            count_refresh_failure("kubernetes");
            tracing::warn!(%error, "Kubernetes SD: no targets");
            return;
        }
    };
    let context = Arc::new(WatchContext {
        client,
        options,
        changed: Notify::new(),
    });
    let selectors = |role: KubernetesRole| {
        config
            .selectors
            .iter()
            .find(|selector| selector.role == role)
            .map(|selector| Selectors {
                label: selector.label.clone(),
                field: selector.field.clone(),
            })
            .unwrap_or_default()
    };
    // Dropped (aborting every watcher) when this task is aborted.
    let mut watchers = JoinSet::new();
    let mut stores = Stores::default();
    for namespace in &namespaces {
        let needs_pods = matches!(config.role, KubernetesRole::Pod | KubernetesRole::Endpoints);
        let needs_services = matches!(
            config.role,
            KubernetesRole::Service | KubernetesRole::Endpoints
        );
        if config.role == KubernetesRole::Endpoints {
            let store = new_store();
            stores.endpoints.push(store.clone());
            watchers.spawn(watch_collection(
                context.clone(),
                Resource::Endpoints,
                namespace.clone(),
                selectors(KubernetesRole::Endpoints),
                store,
            ));
        }
        if needs_services {
            let store = new_store();
            stores.services.push(store.clone());
            watchers.spawn(watch_collection(
                context.clone(),
                Resource::Services,
                namespace.clone(),
                selectors(KubernetesRole::Service),
                store,
            ));
        }
        if needs_pods {
            let store = new_store();
            stores.pods.push(store.clone());
            watchers.spawn(watch_collection(
                context.clone(),
                Resource::Pods,
                namespace.clone(),
                selectors(KubernetesRole::Pod),
                store,
            ));
        }
    }
    let pod_options = PodMetadataOptions {
        job: config.attach_metadata.job,
    };
    loop {
        context.changed.notified().await;
        if let Some(groups) = build_groups(config.role, &stores, pod_options) {
            publisher.publish(groups);
        }
    }
}

/// The API client and the namespaces to watch (`""` for all).
fn connect(
    config: &KubernetesSdConfig,
    options: &KubernetesOptions,
) -> Result<(ApiClient, Vec<String>), String> {
    let mut own_namespace = None;
    let (http_client_config, base_url) = if config.api_server.is_empty() {
        let host = std::env::var("KUBERNETES_SERVICE_HOST").unwrap_or_default();
        let port = std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_default();
        if config.namespaces.own_namespace {
            own_namespace = Some(read_own_namespace(&options.service_account_directory)?);
        }
        in_cluster(&host, &port, &options.service_account_directory)?
    } else {
        (
            config.http_client.clone(),
            config.api_server.trim_end_matches('/').to_owned(),
        )
    };
    let http = HttpClient::new(&http_client_config)?;
    let mut namespaces = config.namespaces.names.clone();
    if let Some(own) = own_namespace {
        namespaces.push(own);
    }
    if namespaces.is_empty() {
        namespaces.push(String::new());
    }
    Ok((
        ApiClient {
            http,
            base_url,
            max_response_bytes: options.max_response_bytes,
            watch_timeout: options.watch_timeout,
        },
        namespaces,
    ))
}

/// The in-cluster client settings and API server URL (client-go's
/// `rest.InClusterConfig`).
fn in_cluster(
    host: &str,
    port: &str,
    service_account_directory: &Path,
) -> Result<(HttpClientConfig, String), String> {
    if host.is_empty() || port.is_empty() {
        return Err(String::from(
            "no api_server and not in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined",
        ));
    }
    let token_file = service_account_directory.join("token");
    // Checked once here so a missing mount fails clearly; the token itself is read
    // on every request, since the kubelet rotates it.
    std::fs::metadata(&token_file)
        .map_err(|error| format!("cannot read {}: {error}", token_file.display()))?;
    let mut http_client = HttpClientConfig {
        authorization: Some(Authorization {
            kind: String::from("Bearer"),
            credentials: String::new(),
            credentials_file: token_file.display().to_string(),
        }),
        ..HttpClientConfig::default()
    };
    http_client.tls_config.ca_file = service_account_directory
        .join("ca.crt")
        .display()
        .to_string();
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    Ok((http_client, format!("https://{host}:{port}")))
}

fn read_own_namespace(service_account_directory: &Path) -> Result<String, String> {
    let path = service_account_directory.join("namespace");
    let namespace = std::fs::read_to_string(&path).map_err(|error| {
        format!(
            "could not determine the pod's namespace from {}: {error}",
            path.display()
        )
    })?;
    if namespace.is_empty() {
        return Err(format!(
            "could not read own namespace name ({} is empty)",
            path.display()
        ));
    }
    Ok(namespace)
}

/// Lists and watches one collection into `store` until aborted.
async fn watch_collection<T: Object>(
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

/// Every object's group, sorted by source; `None` until every collection was
/// listed once.
fn build_groups(
    role: KubernetesRole,
    stores: &Stores,
    pod_options: PodMetadataOptions,
) -> Option<Vec<TargetGroup>> {
    let pods: Vec<_> = stores.pods.iter().map(lock).collect();
    let services: Vec<_> = stores.services.iter().map(lock).collect();
    let endpoints: Vec<_> = stores.endpoints.iter().map(lock).collect();
    let all_listed = pods.iter().all(|store| store.listed)
        && services.iter().all(|store| store.listed)
        && endpoints.iter().all(|store| store.listed);
    if !all_listed {
        return None;
    }
    let mut groups: Vec<TargetGroup> = match role {
        KubernetesRole::Pod => pods
            .iter()
            .flat_map(|store| store.objects.values())
            .map(|pod| targets::pod_group(pod, pod_options))
            .collect(),
        KubernetesRole::Service => services
            .iter()
            .flat_map(|store| store.objects.values())
            .map(targets::service_group)
            .collect(),
        KubernetesRole::Endpoints => {
            let find_pod = |key: &str| pods.iter().find_map(|store| store.objects.get(key));
            endpoints
                .iter()
                .flat_map(|store| store.objects.values())
                .map(|object| {
                    let key = object.metadata.key();
                    let service = services.iter().find_map(|store| store.objects.get(&key));
                    targets::endpoints_group(object, service, find_pod, pod_options)
                })
                .collect()
        }
        KubernetesRole::Node | KubernetesRole::EndpointSlice | KubernetesRole::Ingress => {
            Vec::new()
        }
    };
    groups.sort_by(|left, right| left.source.cmp(&right.source));
    Some(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_cluster_uses_the_service_account() {
        let directory = tempfile::tempdir().expect("tempdir");
        let missing = in_cluster("10.0.0.1", "443", directory.path()).expect_err("no token");
        assert!(missing.contains("token"), "{missing}");
        std::fs::write(directory.path().join("token"), "abc\n").expect("token");
        let (http_client, url) = in_cluster("fd00::1", "6443", directory.path()).expect("config");
        assert_eq!(url, "https://[fd00::1]:6443");
        let authorization = http_client.authorization.expect("authorization");
        assert_eq!(authorization.kind, "Bearer");
        assert!(authorization.credentials_file.ends_with("/token"));
        assert!(http_client.tls_config.ca_file.ends_with("/ca.crt"));
        let outside = in_cluster("", "", directory.path()).expect_err("not in cluster");
        assert!(outside.contains("KUBERNETES_SERVICE_HOST"), "{outside}");
    }

    #[test]
    fn own_namespace_must_not_be_empty() {
        let directory = tempfile::tempdir().expect("tempdir");
        assert!(read_own_namespace(directory.path()).is_err());
        std::fs::write(directory.path().join("namespace"), "").expect("write");
        assert!(read_own_namespace(directory.path()).is_err());
        std::fs::write(directory.path().join("namespace"), "monitoring").expect("write");
        assert_eq!(
            read_own_namespace(directory.path()).expect("namespace"),
            "monitoring"
        );
    }
}
