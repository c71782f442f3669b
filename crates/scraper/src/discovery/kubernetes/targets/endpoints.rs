//! The `endpoints` role's groups (`discovery/kubernetes/endpoints.go`).

use weft_scrape_config::TargetGroup;

use super::{
    ADDRESS, LabelSet, NodeLookup, PodMetadataOptions, add_node_labels, add_object_meta_labels,
    all_containers, join_host_port, meta, pod_labels, service_labels,
};
use crate::discovery::kubernetes::objects::{Endpoints, Pod, Service};

/// `endpoints/<namespace>/<name>`.
fn endpoints_source(namespace: &str, name: &str) -> String {
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
    options: PodMetadataOptions<'_>,
    nodes: NodeLookup<'_>,
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
                let node_name = address.node_name.as_deref().or_else(|| {
                    address
                        .target_ref
                        .as_ref()
                        .filter(|reference| reference.kind == "Node")
                        .map(|reference| reference.name.as_str())
                });
                add_node_labels(&mut target, nodes, node_name);
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
        group.targets.extend(uncovered_container_port_targets(
            pod,
            &covered_ports,
            options,
        ));
    }
    group
}

/// Targets at the pod IP for the container ports of `pod` that no endpoint port
/// covers (none while the pod has no IP), as both endpoints roles add them.
pub(super) fn uncovered_container_port_targets(
    pod: &Pod,
    covered_ports: &[i64],
    options: PodMetadataOptions<'_>,
) -> Vec<LabelSet> {
    let mut targets = Vec::new();
    if pod.status.pod_ip.is_empty() {
        return targets;
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
            targets.push(target);
        }
    }
    targets
}
