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
//! `attach_metadata`, as Prometheus:
//! * `node` (roles `pod`, `endpoints` and `endpointslice`) also watches `nodes`, with
//!   the `node` role's selectors: each target then carries its node's
//!   `__meta_kubernetes_node_name`, labels and annotations (with their `*present`
//!   labels), and a pod on a node not (or not yet) listed has no targets.
//! * `namespace` (every role but `node`) also watches `namespaces` (cluster-scoped,
//!   without selectors): each group carries its namespace's labels and annotations as
//!   `__meta_kubernetes_namespace_label_*`, `..._labelpresent_*`,
//!   `..._annotation_*` and `..._annotationpresent_*`.
//! * `deployment` (roles `pod`, `endpoints` and `endpointslice`) also watches
//!   `apps/v1` `replicasets` in each namespace: a pod whose controller is a
//!   ReplicaSet controlled by a Deployment carries
//!   `__meta_kubernetes_pod_deployment_name`.
//! * `job` adds `__meta_kubernetes_pod_job_name` to pods a Job controls; `cronjob`
//!   (same roles) also watches `batch/v1` `jobs` in each namespace: a pod whose Job a
//!   CronJob controls carries `__meta_kubernetes_pod_cronjob_name`.
//!
//! A node without an address has no group (Prometheus sends nothing for it, so it
//! keeps whatever it had for that node).
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
use self::objects::{EndpointSlice, Endpoints, Ingress, MetadataOnly, Node, Pod, Service};
use self::targets::{MetadataLookup, NamespaceLookup, NodeLookup, PodMetadataOptions};
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
    namespaces: Vec<SharedStore<MetadataOnly>>,
    replica_sets: Vec<SharedStore<MetadataOnly>>,
    jobs: Vec<SharedStore<MetadataOnly>>,
}

/// Which `attach_metadata` collections a config watches, given its role.
#[derive(Clone, Copy, Debug, Default)]
struct Attach {
    /// The role's targets are pods' (`pod`, `endpoints`, `endpointslice`): pods are
    /// watched, and node and owner metadata apply.
    pod_targets: bool,
    nodes: bool,
    namespaces: bool,
    replica_sets: bool,
    jobs: bool,
    job_names: bool,
}

impl Attach {
    fn of(config: &KubernetesSdConfig) -> Self {
        let attach = &config.attach_metadata;
        let pod_targets = matches!(
            config.role,
            KubernetesRole::Pod | KubernetesRole::Endpoints | KubernetesRole::EndpointSlice
        );
        Self {
            pod_targets,
            nodes: attach.node && pod_targets,
            namespaces: attach.namespace && config.role != KubernetesRole::Node,
            replica_sets: attach.deployment && pod_targets,
            jobs: attach.cronjob && pod_targets,
            job_names: attach.job,
        }
    }
}

/// Lists and watches `resource` in `namespace` (empty: across the cluster) into a new
/// store, which it returns; the watch runs in `watchers`.
fn spawn_watch<T: objects::Object>(
    watchers: &mut JoinSet<()>,
    context: &Arc<WatchContext>,
    resource: Resource,
    namespace: &str,
    selectors: Selectors,
) -> SharedStore<T> {
    let store = new_store();
    watchers.spawn(watch_collection(
        context.clone(),
        resource,
        namespace.to_owned(),
        selectors,
        store.clone(),
    ));
    store
}

/// Runs the provider until aborted.
pub(crate) async fn run(
    config: KubernetesSdConfig,
    options: KubernetesOptions,
    publisher: Publisher,
) {
    let (client, namespaces) = match connect(&config, &options) {
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
    let attach = Attach::of(&config);
    // Nodes and namespaces are cluster-scoped: `namespaces` does not apply.
    if config.role == KubernetesRole::Node || attach.nodes {
        stores.nodes.push(spawn_watch(
            &mut watchers,
            &context,
            Resource::Nodes,
            "",
            selectors(KubernetesRole::Node),
        ));
    }
    if attach.namespaces {
        // As in Prometheus, without selectors.
        stores.namespaces.push(spawn_watch(
            &mut watchers,
            &context,
            Resource::Namespaces,
            "",
            Selectors::default(),
        ));
    }
    let namespaced = if config.role == KubernetesRole::Node {
        &[][..]
    } else {
        &namespaces[..]
    };
    let needs_services = matches!(
        config.role,
        KubernetesRole::Service | KubernetesRole::Endpoints | KubernetesRole::EndpointSlice
    );
    for namespace in namespaced {
        if config.role == KubernetesRole::Ingress {
            stores.ingresses.push(spawn_watch(
                &mut watchers,
                &context,
                Resource::Ingresses,
                namespace,
                selectors(KubernetesRole::Ingress),
            ));
        }
        if config.role == KubernetesRole::EndpointSlice {
            stores.endpoint_slices.push(spawn_watch(
                &mut watchers,
                &context,
                Resource::EndpointSlices,
                namespace,
                selectors(KubernetesRole::EndpointSlice),
            ));
        }
        if config.role == KubernetesRole::Endpoints {
            stores.endpoints.push(spawn_watch(
                &mut watchers,
                &context,
                Resource::Endpoints,
                namespace,
                selectors(KubernetesRole::Endpoints),
            ));
        }
        if needs_services {
            stores.services.push(spawn_watch(
                &mut watchers,
                &context,
                Resource::Services,
                namespace,
                selectors(KubernetesRole::Service),
            ));
        }
        if attach.pod_targets {
            stores.pods.push(spawn_watch(
                &mut watchers,
                &context,
                Resource::Pods,
                namespace,
                selectors(KubernetesRole::Pod),
            ));
        }
        // The owners of pods, as Prometheus watches them: without selectors.
        if attach.replica_sets {
            stores.replica_sets.push(spawn_watch(
                &mut watchers,
                &context,
                Resource::ReplicaSets,
                namespace,
                Selectors::default(),
            ));
        }
        if attach.jobs {
            stores.jobs.push(spawn_watch(
                &mut watchers,
                &context,
                Resource::Jobs,
                namespace,
                Selectors::default(),
            ));
        }
    }
    loop {
        context.changed.notified().await;
        if let Some(groups) = build_groups(config.role, &stores, attach) {
            publisher.publish(groups);
        }
    }
}

/// Every object's group, sorted by source; `None` until every collection was
/// listed once. With `attach`, targets carry the metadata of their node, namespace
/// and owners.
fn build_groups(role: KubernetesRole, stores: &Stores, attach: Attach) -> Option<Vec<TargetGroup>> {
    let pods: Vec<_> = stores.pods.iter().map(lock).collect();
    let services: Vec<_> = stores.services.iter().map(lock).collect();
    let endpoints: Vec<_> = stores.endpoints.iter().map(lock).collect();
    let nodes: Vec<_> = stores.nodes.iter().map(lock).collect();
    let ingresses: Vec<_> = stores.ingresses.iter().map(lock).collect();
    let endpoint_slices: Vec<_> = stores.endpoint_slices.iter().map(lock).collect();
    let namespaces: Vec<_> = stores.namespaces.iter().map(lock).collect();
    let replica_sets: Vec<_> = stores.replica_sets.iter().map(lock).collect();
    let jobs: Vec<_> = stores.jobs.iter().map(lock).collect();
    let all_listed = pods.iter().all(|store| store.listed)
        && services.iter().all(|store| store.listed)
        && endpoints.iter().all(|store| store.listed)
        && nodes.iter().all(|store| store.listed)
        && ingresses.iter().all(|store| store.listed)
        && endpoint_slices.iter().all(|store| store.listed)
        && namespaces.iter().all(|store| store.listed)
        && replica_sets.iter().all(|store| store.listed)
        && jobs.iter().all(|store| store.listed);
    if !all_listed {
        return None;
    }
    // Nodes and namespaces are cluster-scoped: their key is `/<name>`.
    let find_node = |name: &str| {
        let key = format!("/{name}");
        nodes.iter().find_map(|store| store.objects.get(&key))
    };
    let node_lookup: NodeLookup<'_> = if attach.nodes { Some(&find_node) } else { None };
    let find_namespace = |name: &str| {
        let key = format!("/{name}");
        namespaces.iter().find_map(|store| store.objects.get(&key))
    };
    let namespace_lookup: NamespaceLookup<'_> = if attach.namespaces {
        Some(&find_namespace)
    } else {
        None
    };
    let find_replica_set = |key: &str| replica_sets.iter().find_map(|store| store.objects.get(key));
    let find_job = |key: &str| jobs.iter().find_map(|store| store.objects.get(key));
    let replica_set_lookup: MetadataLookup<'_> = if attach.replica_sets {
        Some(&find_replica_set)
    } else {
        None
    };
    let job_lookup: MetadataLookup<'_> = if attach.jobs { Some(&find_job) } else { None };
    let pod_options = PodMetadataOptions {
        job: attach.job_names,
        replica_sets: replica_set_lookup,
        jobs: job_lookup,
    };
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
    for group in &mut groups {
        targets::add_namespace_labels(group, namespace_lookup);
    }
    groups.sort_by(|left, right| left.source.cmp(&right.source));
    Some(groups)
}
