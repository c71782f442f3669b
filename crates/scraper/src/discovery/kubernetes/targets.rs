//! Target groups from Kubernetes objects, with Prometheus's `__meta_kubernetes_*`
//! labels (`discovery/kubernetes/{pod,service,endpoints,node,ingress}.go`): one group
//! per object, its `source` `pod/<ns>/<name>`, `svc/<ns>/<name>`,
//! `endpoints/<ns>/<name>`, `node/<name>` or `ingress/<ns>/<name>`.

use std::collections::BTreeMap;

use weft_scrape_config::TargetGroup;

use super::objects::{
    Container, ContainerStatus, Endpoints, Ingress, IngressRule, Node, ObjectMeta, Pod, Service,
};

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

/// Pod-level metadata labels for which options ask.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PodMetadataOptions {
    /// `attach_metadata.job`: `__meta_kubernetes_pod_job_name` for pods a Job controls.
    pub job: bool,
}

/// Prometheus's `podLabels`: the labels every target of a pod carries (no
/// namespace, which the pod role adds to the group).
fn pod_labels(pod: &Pod, options: PodMetadataOptions) -> LabelSet {
    let mut labels = LabelSet::new();
    labels.insert(meta("pod_ip"), pod.status.pod_ip.clone());
    labels.insert(meta("pod_ready"), pod_ready(pod));
    labels.insert(meta("pod_phase"), pod.status.phase.clone());
    labels.insert(meta("pod_node_name"), pod.spec.node_name.clone());
    labels.insert(meta("pod_host_ip"), pod.status.host_ip.clone());
    labels.insert(meta("pod_uid"), pod.metadata.uid.clone());
    add_object_meta_labels(&mut labels, &pod.metadata, "pod");
    if let Some(controller) = pod
        .metadata
        .owner_references
        .iter()
        .find(|reference| reference.controller)
    {
        if !controller.kind.is_empty() {
            labels.insert(meta("pod_controller_kind"), controller.kind.clone());
        }
        if !controller.name.is_empty() {
            labels.insert(meta("pod_controller_name"), controller.name.clone());
        }
        if controller.kind == "Job" && options.job {
            labels.insert(meta("pod_job_name"), controller.name.clone());
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

/// The pod role's group: empty (source only) while the pod has no IP; otherwise one
/// target per container port, or one at the bare pod IP per container without ports.
pub(crate) fn pod_group(pod: &Pod, options: PodMetadataOptions) -> TargetGroup {
    let mut group = TargetGroup {
        source: pod_source(&pod.metadata.namespace, &pod.metadata.name),
        ..TargetGroup::default()
    };
    let pod_ip = &pod.status.pod_ip;
    if pod_ip.is_empty() {
        return group;
    }
    group.labels = pod_labels(pod, options);
    group
        .labels
        .insert(meta("namespace"), pod.metadata.namespace.clone());
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

/// `endpoints/<namespace>/<name>`.
pub(crate) fn endpoints_source(namespace: &str, name: &str) -> String {
    format!("endpoints/{namespace}/{name}")
}

/// The endpoints role's group. `service` is the Service of the same name and
/// namespace, if known; `find_pod` resolves an address's `targetRef` of kind `Pod`
/// by `<namespace>/<name>`. Each address and port is a target (not-ready addresses
/// with `endpoint_ready="false"`); a target backed by a known pod carries the pod's
/// labels and, when a container declares the port, that container's. Container
/// ports of those pods that no endpoint port covers become extra targets at the
/// pod IP.
pub(crate) fn endpoints_group<'a>(
    endpoints: &Endpoints,
    service: Option<&Service>,
    find_pod: impl Fn(&str) -> Option<&'a Pod>,
    options: PodMetadataOptions,
) -> TargetGroup {
    let metadata = &endpoints.metadata;
    let mut group = TargetGroup {
        source: endpoints_source(&metadata.namespace, &metadata.name),
        ..TargetGroup::default()
    };
    group
        .labels
        .insert(meta("namespace"), metadata.namespace.clone());
    if let Some(service) = service {
        group.labels.extend(service_labels(service));
    }
    add_object_meta_labels(&mut group.labels, metadata, "endpoints");

    // Pods seen through a target, in first-seen order, with the ports they were
    // seen on.
    let mut seen_pods: Vec<(&Pod, Vec<i64>)> = Vec::new();
    for subset in &endpoints.subsets {
        for port in &subset.ports {
            let addresses = subset
                .addresses
                .iter()
                .map(|address| (address, "true"))
                .chain(
                    subset
                        .not_ready_addresses
                        .iter()
                        .map(|address| (address, "false")),
                );
            for (address, ready) in addresses {
                let mut target = LabelSet::new();
                target.insert(
                    String::from(ADDRESS),
                    join_host_port(&address.ip, port.port),
                );
                target.insert(meta("endpoint_port_name"), port.name.clone());
                target.insert(meta("endpoint_port_protocol"), port.protocol.clone());
                target.insert(meta("endpoint_ready"), String::from(ready));
                if let Some(reference) = &address.target_ref {
                    target.insert(meta("endpoint_address_target_kind"), reference.kind.clone());
                    target.insert(meta("endpoint_address_target_name"), reference.name.clone());
                }
                if let Some(node_name) = &address.node_name {
                    target.insert(meta("endpoint_node_name"), node_name.clone());
                }
                if !address.hostname.is_empty() {
                    target.insert(meta("endpoint_hostname"), address.hostname.clone());
                }
                let pod = address
                    .target_ref
                    .as_ref()
                    .filter(|reference| reference.kind == "Pod")
                    .and_then(|reference| {
                        find_pod(&format!("{}/{}", reference.namespace, reference.name))
                    });
                let Some(pod) = pod else {
                    group.targets.push(target);
                    continue;
                };
                match seen_pods
                    .iter_mut()
                    .find(|(seen, _)| seen.metadata.key() == pod.metadata.key())
                {
                    Some((_, ports)) => ports.push(port.port),
                    None => seen_pods.push((pod, vec![port.port])),
                }
                target.extend(pod_labels(pod, options));
                // When several containers declare the port, the last one wins, as in
                // Prometheus (its loop overwrites the labels).
                if let Some((container, init)) = all_containers(pod)
                    .filter(|(container, _)| {
                        container
                            .ports
                            .iter()
                            .any(|container_port| container_port.container_port == port.port)
                    })
                    .last()
                {
                    let container_port = container
                        .ports
                        .iter()
                        .find(|container_port| container_port.container_port == port.port)
                        .map(|container_port| container_port.name.clone())
                        .unwrap_or_default();
                    target.insert(meta("pod_container_name"), container.name.clone());
                    target.insert(meta("pod_container_image"), container.image.clone());
                    target.insert(meta("pod_container_port_name"), container_port);
                    target.insert(meta("pod_container_port_number"), port.port.to_string());
                    // The endpoint port's protocol, as Prometheus sets it.
                    target.insert(meta("pod_container_port_protocol"), port.protocol.clone());
                    target.insert(meta("pod_container_init"), init.to_string());
                }
                group.targets.push(target);
            }
        }
    }

    for (pod, covered_ports) in seen_pods {
        if pod.status.pod_ip.is_empty() {
            continue;
        }
        for (container, init) in all_containers(pod) {
            for container_port in &container.ports {
                if covered_ports.contains(&container_port.container_port) {
                    continue;
                }
                let mut target = pod_labels(pod, options);
                target.insert(
                    String::from(ADDRESS),
                    join_host_port(&pod.status.pod_ip, container_port.container_port),
                );
                target.insert(meta("pod_container_name"), container.name.clone());
                target.insert(meta("pod_container_image"), container.image.clone());
                target.insert(meta("pod_container_port_name"), container_port.name.clone());
                target.insert(
                    meta("pod_container_port_number"),
                    container_port.container_port.to_string(),
                );
                target.insert(
                    meta("pod_container_port_protocol"),
                    container_port.protocol.clone(),
                );
                target.insert(meta("pod_container_init"), init.to_string());
                group.targets.push(target);
            }
        }
    }
    group
}

/// `node/<name>`.
pub(crate) fn node_source(name: &str) -> String {
    format!("node/{name}")
}

/// Address types in the order a node's address is chosen from them
/// (Kubernetes's `GetPreferredNodeAddress`, as Prometheus uses it).
const NODE_ADDRESS_PREFERENCE: [&str; 6] = [
    "InternalIP",
    "InternalDNS",
    "ExternalIP",
    "ExternalDNS",
    "LegacyHostIP",
    "Hostname",
];

/// The node role's group: one target at the preferred address and the kubelet
/// port, `instance` the node name, with the first address of each type as
/// `node_address_<type>`; `None` for a node without a usable address (Prometheus
/// logs it and sends nothing).
pub(crate) fn node_group(node: &Node) -> Option<TargetGroup> {
    let mut first_of_type: BTreeMap<&str, &str> = BTreeMap::new();
    for address in &node.status.addresses {
        first_of_type
            .entry(address.kind.as_str())
            .or_insert(address.address.as_str());
    }
    let host = NODE_ADDRESS_PREFERENCE
        .iter()
        .find_map(|kind| first_of_type.get(kind))?;
    let mut labels = LabelSet::new();
    labels.insert(meta("node_provider_id"), node.spec.provider_id.clone());
    for condition in &node.status.conditions {
        labels.insert(
            meta(&format!(
                "node_condition_{}",
                sanitize_label_name(&condition.kind.to_lowercase())
            )),
            condition.status.to_lowercase(),
        );
    }
    add_object_meta_labels(&mut labels, &node.metadata, "node");
    let mut target = LabelSet::new();
    target.insert(
        String::from(ADDRESS),
        join_host_port(host, node.status.daemon_endpoints.kubelet_endpoint.port),
    );
    target.insert(String::from("instance"), node.metadata.name.clone());
    for (kind, address) in first_of_type {
        target.insert(
            sanitize_label_name(&meta(&format!("node_address_{kind}"))),
            address.to_owned(),
        );
    }
    Some(TargetGroup {
        source: node_source(&node.metadata.name),
        labels,
        targets: vec![target],
    })
}

/// `ingress/<namespace>/<name>`.
pub(crate) fn ingress_source(namespace: &str, name: &str) -> String {
    format!("ingress/{namespace}/{name}")
}

/// A rule's paths, `""` read as `/`; a rule without `http` stands for `/`.
fn ingress_rule_paths(rule: &IngressRule) -> Vec<String> {
    match &rule.http {
        None => vec![String::from("/")],
        Some(http) => http
            .paths
            .iter()
            .map(|path| {
                if path.path.is_empty() {
                    String::from("/")
                } else {
                    path.path.clone()
                }
            })
            .collect(),
    }
}

/// Whether `host` is `pattern`, or matches a `*.rest` pattern label for label.
fn matches_hostname_pattern(pattern: &str, host: &str) -> bool {
    if pattern == host {
        return true;
    }
    let pattern_labels: Vec<&str> = pattern.split('.').collect();
    let host_labels: Vec<&str> = host.split('.').collect();
    pattern_labels[0] == "*"
        && pattern_labels.len() == host_labels.len()
        && pattern_labels[1..] == host_labels[1..]
}

/// The ingress role's group: one target per rule and path at the rule's host,
/// `https` when a TLS entry's hosts match the rule's host.
pub(crate) fn ingress_group(ingress: &Ingress) -> TargetGroup {
    let metadata = &ingress.metadata;
    let mut labels = LabelSet::new();
    labels.insert(meta("namespace"), metadata.namespace.clone());
    if let Some(class) = &ingress.spec.ingress_class_name {
        labels.insert(meta("ingress_class_name"), class.clone());
    }
    add_object_meta_labels(&mut labels, metadata, "ingress");
    let mut group = TargetGroup {
        source: ingress_source(&metadata.namespace, &metadata.name),
        labels,
        targets: Vec::new(),
    };
    for rule in &ingress.spec.rules {
        let secure = ingress
            .spec
            .tls
            .iter()
            .flat_map(|tls| &tls.hosts)
            .any(|pattern| matches_hostname_pattern(pattern, &rule.host));
        let scheme = if secure { "https" } else { "http" };
        for path in ingress_rule_paths(rule) {
            let mut target = LabelSet::new();
            target.insert(String::from(ADDRESS), rule.host.clone());
            target.insert(meta("ingress_scheme"), String::from(scheme));
            target.insert(meta("ingress_host"), rule.host.clone());
            target.insert(meta("ingress_path"), path);
            group.targets.push(target);
        }
    }
    group
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
    fn tls_host_patterns_match_one_label() {
        assert!(matches_hostname_pattern(
            "*.example.com",
            "shop.example.com"
        ));
        assert!(!matches_hostname_pattern(
            "*.example.com",
            "a.shop.example.com"
        ));
        assert!(!matches_hostname_pattern("shop.*.com", "shop.example.com"));
        assert!(matches_hostname_pattern("", ""));
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
        let group = pod_group(&pod, PodMetadataOptions::default());
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
