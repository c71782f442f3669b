//! Target groups from Kubernetes objects, with Prometheus's `__meta_kubernetes_*`
//! labels (`discovery/kubernetes/{pod,service,endpoints,node,ingress}.go`): one group
//! per object, its `source` `pod/<ns>/<name>`, `svc/<ns>/<name>`,
//! `endpoints/<ns>/<name>`, `node/<name>` or `ingress/<ns>/<name>`.

use std::collections::BTreeMap;

use weft_scrape_config::TargetGroup;

use super::objects::{Container, ContainerStatus, MetadataOnly, Node, ObjectMeta, Pod, Service};

mod endpoint_slices;
mod endpoints;
mod ingress;
mod node;

pub(crate) use self::endpoint_slices::{SERVICE_NAME_LABEL, endpoint_slice_group};
pub(crate) use self::endpoints::endpoints_group;
pub(crate) use self::ingress::ingress_group;
pub(crate) use self::node::node_group;

type LabelSet = BTreeMap<String, String>;

const PREFIX: &str = "__meta_kubernetes_";
const ADDRESS: &str = "__address__";

fn meta(name: &str) -> String {
    format!("{PREFIX}{name}")
}

/// Prometheus's `strutil.SanitizeLabelName`: every character outside
/// `[a-zA-Z0-9_]` becomes `_` (one per character, not per byte).
pub(crate) fn sanitize_label_name(name: &str) -> String {
    name.chars()
        .map(|character| {
            if character.is_ascii_alphanumeric() || character == '_' {
                character
            } else {
                '_'
            }
        })
        .collect()
}

/// Go's `net.JoinHostPort`: IPv6 hosts (any host containing `:`) in brackets.
fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// `<resource>_name` and the label/annotation (and `*present`) labels of `metadata`.
fn add_object_meta_labels(labels: &mut LabelSet, metadata: &ObjectMeta, resource: &str) {
    labels.insert(meta(&format!("{resource}_name")), metadata.name.clone());
    add_labels_and_annotations(labels, metadata, resource);
}

/// The label/annotation (and `*present`) labels of `metadata`, as
/// `<resource>_label_<name>` and so on.
fn add_labels_and_annotations(labels: &mut LabelSet, metadata: &ObjectMeta, resource: &str) {
    for (key, value) in &metadata.labels {
        let name = sanitize_label_name(key);
        labels.insert(meta(&format!("{resource}_label_{name}")), value.clone());
        labels.insert(
            meta(&format!("{resource}_labelpresent_{name}")),
            String::from("true"),
        );
    }
    for (key, value) in &metadata.annotations {
        let name = sanitize_label_name(key);
        labels.insert(
            meta(&format!("{resource}_annotation_{name}")),
            value.clone(),
        );
        labels.insert(
            meta(&format!("{resource}_annotationpresent_{name}")),
            String::from("true"),
        );
    }
}

/// `attach_metadata.node`: the listed nodes by name; `None` when not asked.
pub(crate) type NodeLookup<'a> = Option<&'a dyn Fn(&str) -> Option<&'a Node>>;

/// Prometheus's `addNodeLabels`: the name, labels and annotations of node `name`
/// (`node_*`), when node metadata is asked for and the node is listed.
fn add_node_labels(labels: &mut LabelSet, nodes: NodeLookup<'_>, name: Option<&str>) {
    if let (Some(nodes), Some(name)) = (nodes, name)
        && let Some(node) = nodes(name)
    {
        add_object_meta_labels(labels, &node.metadata, "node");
    }
}

/// Objects of a watched namespaced collection by `<namespace>/<name>`; `None` when
/// the collection is not watched.
pub(crate) type MetadataLookup<'a> = Option<&'a dyn Fn(&str) -> Option<&'a MetadataOnly>>;

/// `attach_metadata.namespace`: the listed namespaces by name; `None` when not asked.
pub(crate) type NamespaceLookup<'a> = Option<&'a dyn Fn(&str) -> Option<&'a MetadataOnly>>;

/// Prometheus's `addNamespaceLabels`: the labels and annotations (with their
/// `*present` labels) of the namespace of `group`, as `namespace_label_<name>` and so
/// on, when namespace metadata is asked for and the namespace is listed. The group's
/// namespace is its `__meta_kubernetes_namespace`, which every role but `node` sets; a
/// group without labels (a pod without an IP, or on a node not listed) gets none, as
/// Prometheus returns such a group before adding them.
pub(crate) fn add_namespace_labels(group: &mut TargetGroup, namespaces: NamespaceLookup<'_>) {
    let Some(namespaces) = namespaces else {
        return;
    };
    let Some(namespace) = group
        .labels
        .get(&meta("namespace"))
        .and_then(|name| namespaces(name))
    else {
        return;
    };
    add_labels_and_annotations(&mut group.labels, &namespace.metadata, "namespace");
}

/// Pod-level metadata labels for which options ask.
#[derive(Clone, Copy, Default)]
pub(crate) struct PodMetadataOptions<'a> {
    /// `attach_metadata.job`: `__meta_kubernetes_pod_job_name` for pods a Job controls.
    pub job: bool,
    /// `attach_metadata.deployment`: the listed ReplicaSets, for
    /// `__meta_kubernetes_pod_deployment_name` of pods a ReplicaSet controls that a
    /// Deployment controls.
    pub replica_sets: MetadataLookup<'a>,
    /// `attach_metadata.cronjob`: the listed Jobs, for
    /// `__meta_kubernetes_pod_cronjob_name` of pods a Job controls that a CronJob
    /// controls.
    pub jobs: MetadataLookup<'a>,
}

/// The name of the controller of kind `kind` of the object `<namespace>/<name>` that
/// `lookup` finds.
fn controller_of(
    lookup: MetadataLookup<'_>,
    namespace: &str,
    name: &str,
    kind: &str,
) -> Option<String> {
    let object = lookup?(&format!("{namespace}/{name}"))?;
    let controller = object.metadata.controller()?;
    (controller.kind == kind).then(|| controller.name.clone())
}

/// Prometheus's `podLabels`: the labels every target of a pod carries (no
/// namespace, which the pod role adds to the group).
fn pod_labels(pod: &Pod, options: PodMetadataOptions<'_>) -> LabelSet {
    let mut labels = LabelSet::new();
    labels.insert(meta("pod_ip"), pod.status.pod_ip.clone());
    labels.insert(meta("pod_ready"), pod_ready(pod));
    labels.insert(meta("pod_phase"), pod.status.phase.clone());
    labels.insert(meta("pod_node_name"), pod.spec.node_name.clone());
    labels.insert(meta("pod_host_ip"), pod.status.host_ip.clone());
    labels.insert(meta("pod_uid"), pod.metadata.uid.clone());
    add_object_meta_labels(&mut labels, &pod.metadata, "pod");
    if let Some(controller) = pod.metadata.controller() {
        if !controller.kind.is_empty() {
            labels.insert(meta("pod_controller_kind"), controller.kind.clone());
        }
        if !controller.name.is_empty() {
            labels.insert(meta("pod_controller_name"), controller.name.clone());
        }
        let namespace = &pod.metadata.namespace;
        match controller.kind.as_str() {
            "ReplicaSet" => {
                let deployment = controller_of(
                    options.replica_sets,
                    namespace,
                    &controller.name,
                    "Deployment",
                );
                if let Some(deployment) = deployment {
                    labels.insert(meta("pod_deployment_name"), deployment);
                }
            }
            "Job" => {
                if options.job {
                    labels.insert(meta("pod_job_name"), controller.name.clone());
                }
                let cron_job = controller_of(options.jobs, namespace, &controller.name, "CronJob");
                if let Some(cron_job) = cron_job {
                    labels.insert(meta("pod_cronjob_name"), cron_job);
                }
            }
            _ => {}
        }
    }
    labels
}

/// The lower-cased status of the `Ready` condition, `unknown` without one.
fn pod_ready(pod: &Pod) -> String {
    pod.status
        .conditions
        .iter()
        .find(|condition| condition.kind == "Ready")
        .map_or_else(
            || String::from("unknown"),
            |condition| condition.status.to_lowercase(),
        )
}

/// Containers then init containers, each with whether it is an init container.
fn all_containers(pod: &Pod) -> impl Iterator<Item = (&Container, bool)> {
    pod.spec
        .containers
        .iter()
        .map(|container| (container, false))
        .chain(
            pod.spec
                .init_containers
                .iter()
                .map(|container| (container, true)),
        )
}

fn container_id(statuses: &[ContainerStatus], name: &str) -> String {
    statuses
        .iter()
        .find(|status| status.name == name)
        .map(|status| status.container_id.clone())
        .unwrap_or_default()
}

/// `pod/<namespace>/<name>`.
pub(crate) fn pod_source(namespace: &str, name: &str) -> String {
    format!("pod/{namespace}/{name}")
}

/// The pod role's group: empty (source only) while the pod has no IP, or, with node
/// metadata asked for, while its node is not listed (Prometheus's node selectors
/// filter pods that way); otherwise one target per container port, or one at the
/// bare pod IP per container without ports.
pub(crate) fn pod_group(
    pod: &Pod,
    options: PodMetadataOptions<'_>,
    nodes: NodeLookup<'_>,
) -> TargetGroup {
    let mut group = TargetGroup {
        source: pod_source(&pod.metadata.namespace, &pod.metadata.name),
        ..TargetGroup::default()
    };
    let pod_ip = &pod.status.pod_ip;
    if pod_ip.is_empty() {
        return group;
    }
    if let Some(nodes) = nodes
        && nodes(&pod.spec.node_name).is_none()
    {
        return group;
    }
    group.labels = pod_labels(pod, options);
    group
        .labels
        .insert(meta("namespace"), pod.metadata.namespace.clone());
    add_node_labels(&mut group.labels, nodes, Some(&pod.spec.node_name));
    for (container, init) in all_containers(pod) {
        let statuses = if init {
            &pod.status.init_container_statuses
        } else {
            &pod.status.container_statuses
        };
        let mut common = LabelSet::new();
        common.insert(meta("pod_container_name"), container.name.clone());
        common.insert(
            meta("pod_container_id"),
            container_id(statuses, &container.name),
        );
        common.insert(meta("pod_container_image"), container.image.clone());
        common.insert(meta("pod_container_init"), init.to_string());
        if container.ports.is_empty() {
            let mut target = common;
            target.insert(String::from(ADDRESS), pod_ip.clone());
            group.targets.push(target);
            continue;
        }
        for port in &container.ports {
            let mut target = common.clone();
            target.insert(
                String::from(ADDRESS),
                join_host_port(pod_ip, port.container_port),
            );
            target.insert(
                meta("pod_container_port_number"),
                port.container_port.to_string(),
            );
            target.insert(meta("pod_container_port_name"), port.name.clone());
            target.insert(meta("pod_container_port_protocol"), port.protocol.clone());
            group.targets.push(target);
        }
    }
    group
}

/// `svc/<namespace>/<name>`.
pub(crate) fn service_source(namespace: &str, name: &str) -> String {
    format!("svc/{namespace}/{name}")
}

/// Prometheus's `serviceLabels`: namespace, name, labels and annotations.
fn service_labels(service: &Service) -> LabelSet {
    let mut labels = LabelSet::new();
    labels.insert(meta("namespace"), service.metadata.namespace.clone());
    add_object_meta_labels(&mut labels, &service.metadata, "service");
    labels
}

/// The service role's group: one target per port at `<name>.<namespace>.svc:<port>`.
pub(crate) fn service_group(service: &Service) -> TargetGroup {
    let metadata = &service.metadata;
    let mut group = TargetGroup {
        source: service_source(&metadata.namespace, &metadata.name),
        labels: service_labels(service),
        targets: Vec::new(),
    };
    let spec = &service.spec;
    for port in &spec.ports {
        let mut target = LabelSet::new();
        target.insert(
            String::from(ADDRESS),
            join_host_port(
                &format!("{}.{}.svc", metadata.name, metadata.namespace),
                port.port,
            ),
        );
        target.insert(meta("service_port_name"), port.name.clone());
        target.insert(meta("service_port_number"), port.port.to_string());
        target.insert(meta("service_port_protocol"), port.protocol.clone());
        target.insert(meta("service_type"), spec.kind.clone());
        if spec.kind == "ExternalName" {
            target.insert(meta("service_external_name"), spec.external_name.clone());
        } else {
            target.insert(meta("service_cluster_ip"), spec.cluster_ip.clone());
        }
        if spec.kind == "LoadBalancer" {
            target.insert(meta("service_loadbalancer_ip"), load_balancer_ips(service));
        }
        group.targets.push(target);
    }
    group
}

/// `status.loadBalancer.ingress` IPs joined with `,`, else the deprecated
/// `spec.loadBalancerIP`.
fn load_balancer_ips(service: &Service) -> String {
    let ips: Vec<&str> = service
        .status
        .load_balancer
        .ingress
        .iter()
        .map(|ingress| ingress.ip.as_str())
        .filter(|ip| !ip.is_empty())
        .collect();
    if ips.is_empty() {
        service.spec.load_balancer_ip.clone()
    } else {
        ips.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizes_each_invalid_character() {
        assert_eq!(
            sanitize_label_name("app.kubernetes.io/name"),
            "app_kubernetes_io_name"
        );
        assert_eq!(sanitize_label_name("héllo-1"), "h_llo_1");
        assert_eq!(sanitize_label_name("ok_Name9"), "ok_Name9");
    }

    #[test]
    fn ipv6_hosts_are_bracketed() {
        assert_eq!(join_host_port("fd00::1", 80), "[fd00::1]:80");
        assert_eq!(join_host_port("10.0.0.1", 80), "10.0.0.1:80");
    }

    #[test]
    fn pod_without_ip_is_an_empty_group() {
        let pod: Pod = serde_json::from_str(
            r#"{"metadata":{"name":"a","namespace":"n"},"spec":{"containers":[{"name":"c"}]},"status":{"phase":"Pending"}}"#,
        )
        .expect("pod");
        let group = pod_group(&pod, PodMetadataOptions::default(), None);
        assert_eq!(group.source, "pod/n/a");
        assert!(group.targets.is_empty() && group.labels.is_empty());
    }

    #[test]
    fn pod_ready_defaults_to_unknown() {
        let pod: Pod = serde_json::from_str(
            r#"{"metadata":{"name":"a","namespace":"n","labels":null},"status":{"podIP":"10.1.2.3","conditions":[{"type":"Ready","status":"False"}]}}"#,
        )
        .expect("pod");
        assert_eq!(pod_ready(&pod), "false");
        assert_eq!(pod_ready(&Pod::default()), "unknown");
    }
}
