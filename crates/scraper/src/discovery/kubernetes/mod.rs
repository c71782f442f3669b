//! Kubernetes service discovery (`kubernetes_sd_configs`), Prometheus's
//! `discovery/kubernetes` for every role: `pod`, `service`, `endpoints`,
//! `endpointslice`, `node` and `ingress`.
//!
//! For each namespace (`namespaces.names`, plus the pod's own with
//! `namespaces.own_namespace` in-cluster; all namespaces when neither is set) every
//! collection the role needs is listed, then watched from the list's resource
//! version with bookmarks: `pods` for `pod`, `services` for `service`,
//! `endpoints`, `services` and `pods` for `endpoints` (whose targets carry the
//! labels of the Service of the same name and of the backing pods),
//! `discovery.k8s.io/v1` `endpointslices`, `services` and `pods` for
//! `endpointslice` (the Service named by `kubernetes.io/service-name`), `nodes`
//! (cluster-scoped, so `namespaces` does not apply) for `node`, and
//! `networking.k8s.io/v1` `ingresses` for `ingress`. Each
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
//! as in `targets/`) and publishes them when they differ. Prometheus rebuilds
//! an endpoints or endpoint slice group only on some pod and service events; weft
//! rebuilds on all, so it never shows older labels than Prometheus.
//!
//! The API server is the current context of `kubeconfig_file` ([`kubeconfig`]:
//! server, CA, client certificate, token or basic auth; credential plugins refused),
//! or `api_server` with the config's `basic_auth`, `authorization`
//! (`bearer_token(_file)`) and `tls_config`; without either, the in-cluster
//! configuration: `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT` with
//! the service account's `token` (re-read on every request) and `ca.crt`.
//!
//! `attach_metadata.node` (roles `pod`, `endpoints` and `endpointslice`) also watches
//! `nodes`, with the `node` role's selectors, as Prometheus does: each target then
//! carries its node's `__meta_kubernetes_node_name`, labels and annotations (with
//! their `*present` labels), and a pod on a node not (or not yet) listed has no
//! targets.
//!
//! Refused at load (see [`check_supported`]): `attach_metadata` `namespace`,
//! `deployment` and `cronjob`. A
//! node without an address has no group (Prometheus sends nothing for it, so it keeps
//! whatever it had for that node).
//!
//! Memory is bounded: a list page or a single watch event larger than
//! [`KubernetesOptions::max_response_bytes`], or more than
//! [`KubernetesOptions::max_objects`] objects in one collection, is an error (the
//! previous objects are kept).

mod client;
mod connection;
mod kubeconfig;
mod objects;
mod targets;
mod watcher;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::{JoinHandle, JoinSet};
use weft_scrape_config::TargetGroup;
use weft_scrape_config::config::{KubernetesRole, KubernetesSdConfig};

use self::client::{Resource, Selectors};
use self::connection::connect;
use self::objects::{EndpointSlice, Endpoints, Ingress, Node, Pod, Service};
use self::targets::{NodeLookup, PodMetadataOptions};
use self::watcher::{SharedStore, WatchContext, lock, new_store, watch_collection};
use super::{Publisher, count_refresh_failure};

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
    let attach = &config.attach_metadata;
    for (set, name) in [
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

/// Every collection of one config, one store per namespace.
#[derive(Default)]
struct Stores {
    pods: Vec<SharedStore<Pod>>,
    services: Vec<SharedStore<Service>>,
    endpoints: Vec<SharedStore<Endpoints>>,
    nodes: Vec<SharedStore<Node>>,
    ingresses: Vec<SharedStore<Ingress>>,
    endpoint_slices: Vec<SharedStore<EndpointSlice>>,
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
    let attach_nodes = config.attach_metadata.node
        && matches!(
            config.role,
            KubernetesRole::Pod | KubernetesRole::Endpoints | KubernetesRole::EndpointSlice
        );
    if config.role == KubernetesRole::Node || attach_nodes {
        // Nodes are cluster-scoped: `namespaces` does not apply.
        let store = new_store();
        stores.nodes.push(store.clone());
        watchers.spawn(watch_collection(
            context.clone(),
            Resource::Nodes,
            String::new(),
            selectors(KubernetesRole::Node),
            store,
        ));
    }
    let namespaced = if config.role == KubernetesRole::Node {
        &[][..]
    } else {
        &namespaces[..]
    };
    for namespace in namespaced {
        let needs_pods = matches!(
            config.role,
            KubernetesRole::Pod | KubernetesRole::Endpoints | KubernetesRole::EndpointSlice
        );
        let needs_services = matches!(
            config.role,
            KubernetesRole::Service | KubernetesRole::Endpoints | KubernetesRole::EndpointSlice
        );
        if config.role == KubernetesRole::Ingress {
            let store = new_store();
            stores.ingresses.push(store.clone());
            watchers.spawn(watch_collection(
                context.clone(),
                Resource::Ingresses,
                namespace.clone(),
                selectors(KubernetesRole::Ingress),
                store,
            ));
        }
        if config.role == KubernetesRole::EndpointSlice {
            let store = new_store();
            stores.endpoint_slices.push(store.clone());
            watchers.spawn(watch_collection(
                context.clone(),
                Resource::EndpointSlices,
                namespace.clone(),
                selectors(KubernetesRole::EndpointSlice),
                store,
            ));
        }
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
        if let Some(groups) = build_groups(config.role, &stores, pod_options, attach_nodes) {
            publisher.publish(groups);
        }
    }
}

/// Every object's group, sorted by source; `None` until every collection was
/// listed once. With `attach_nodes`, targets carry their node's metadata.
fn build_groups(
    role: KubernetesRole,
    stores: &Stores,
    pod_options: PodMetadataOptions,
    attach_nodes: bool,
) -> Option<Vec<TargetGroup>> {
    let pods: Vec<_> = stores.pods.iter().map(lock).collect();
    let services: Vec<_> = stores.services.iter().map(lock).collect();
    let endpoints: Vec<_> = stores.endpoints.iter().map(lock).collect();
    let nodes: Vec<_> = stores.nodes.iter().map(lock).collect();
    let ingresses: Vec<_> = stores.ingresses.iter().map(lock).collect();
    let endpoint_slices: Vec<_> = stores.endpoint_slices.iter().map(lock).collect();
    let all_listed = pods.iter().all(|store| store.listed)
        && services.iter().all(|store| store.listed)
        && endpoints.iter().all(|store| store.listed)
        && nodes.iter().all(|store| store.listed)
        && ingresses.iter().all(|store| store.listed)
        && endpoint_slices.iter().all(|store| store.listed);
    if !all_listed {
        return None;
    }
    // Nodes are cluster-scoped: their key is `/<name>`.
    let find_node = |name: &str| {
        let key = format!("/{name}");
        nodes.iter().find_map(|store| store.objects.get(&key))
    };
    let node_lookup: NodeLookup<'_> = if attach_nodes { Some(&find_node) } else { None };
    let mut groups: Vec<TargetGroup> = match role {
        KubernetesRole::Pod => pods
            .iter()
            .flat_map(|store| store.objects.values())
            .map(|pod| targets::pod_group(pod, pod_options, node_lookup))
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
                    targets::endpoints_group(object, service, find_pod, pod_options, node_lookup)
                })
                .collect()
        }
        KubernetesRole::Node => nodes
            .iter()
            .flat_map(|store| store.objects.values())
            .filter_map(targets::node_group)
            .collect(),
        KubernetesRole::Ingress => ingresses
            .iter()
            .flat_map(|store| store.objects.values())
            .map(targets::ingress_group)
            .collect(),
        KubernetesRole::EndpointSlice => {
            let find_pod = |key: &str| pods.iter().find_map(|store| store.objects.get(key));
            endpoint_slices
                .iter()
                .flat_map(|store| store.objects.values())
                .map(|slice| {
                    let service = slice
                        .metadata
                        .labels
                        .get(targets::SERVICE_NAME_LABEL)
                        .and_then(|name| {
                            let key = format!("{}/{name}", slice.metadata.namespace);
                            services.iter().find_map(|store| store.objects.get(&key))
                        });
                    targets::endpoint_slice_group(
                        slice,
                        service,
                        find_pod,
                        pod_options,
                        node_lookup,
                    )
                })
                .collect()
        }
    };
    groups.sort_by(|left, right| left.source.cmp(&right.source));
    Some(groups)
}
