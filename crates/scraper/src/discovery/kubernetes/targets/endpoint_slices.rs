//! The `endpointslice` role's groups (`discovery/kubernetes/endpointslice.go`).

use weft_scrape_config::TargetGroup;

use super::endpoints::uncovered_container_port_targets;
use super::{
    ADDRESS, LabelSet, NodeLookup, PodMetadataOptions, add_node_labels, add_object_meta_labels,
    all_containers, join_host_port, meta, pod_labels, sanitize_label_name, service_labels,
};
use crate::discovery::kubernetes::objects::{EndpointSlice, Pod, Service};

/// The label naming the Service an EndpointSlice belongs to.
pub(crate) const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// `endpointslice/<namespace>/<name>`.
fn endpoint_slice_source(namespace: &str, name: &str) -> String {
    format!("endpointslice/{namespace}/{name}")
}

/// Whether `slice` is the secondary address family's slice of a dual-stack
/// Service (its targets would repeat the primary slice's).
fn non_primary_ip_family_slice(service: Option<&Service>, slice: &EndpointSlice) -> bool {
    let Some(service) = service else {
        return false;
    };
    let dual_stack = matches!(
        service.spec.ip_family_policy.as_deref(),
        Some("PreferDualStack" | "RequireDualStack")
    );
    dual_stack
        && service
            .spec
            .ip_families
            .first()
            .is_some_and(|primary| *primary != slice.address_type)
}

/// The endpointslice role's group. `service` is the Service named by the slice's
/// `kubernetes.io/service-name` label, if known; `find_pod` resolves a `targetRef`
/// of kind `Pod` by `<namespace>/<name>`. Each endpoint address and port is a
/// target, labelled only with the fields the slice sets; targets backed by a known
/// pod carry its labels, and its container ports no slice port covers become extra
/// targets. The secondary slice of a dual-stack Service has no targets.
pub(crate) fn endpoint_slice_group<'a>(
    slice: &EndpointSlice,
    service: Option<&Service>,
    find_pod: impl Fn(&str) -> Option<&'a Pod>,
    options: PodMetadataOptions<'_>,
    nodes: NodeLookup<'_>,
) -> TargetGroup {
    let metadata = &slice.metadata;
    let mut group = TargetGroup {
        source: endpoint_slice_source(&metadata.namespace, &metadata.name),
        ..TargetGroup::default()
    };
    group
        .labels
        .insert(meta("namespace"), metadata.namespace.clone());
    group.labels.insert(
        meta("endpointslice_address_type"),
        slice.address_type.clone(),
    );
    add_object_meta_labels(&mut group.labels, metadata, "endpointslice");
    if let Some(service) = service {
        group.labels.extend(service_labels(service));
    }
    if non_primary_ip_family_slice(service, slice) {
        return group;
    }

    let mut seen_pods: Vec<(&Pod, Vec<i64>)> = Vec::new();
    for endpoint in &slice.endpoints {
        for port in &slice.ports {
            for address in &endpoint.addresses {
                let mut target = LabelSet::new();
                let host_port = match port.port {
                    Some(number) => join_host_port(address, number),
                    None => address.clone(),
                };
                target.insert(String::from(ADDRESS), host_port);
                let optional = [
                    ("endpointslice_port_name", port.name.clone()),
                    ("endpointslice_port_protocol", port.protocol.clone()),
                    (
                        "endpointslice_port",
                        port.port.map(|number| number.to_string()),
                    ),
                    ("endpointslice_port_app_protocol", port.app_protocol.clone()),
                    (
                        "endpointslice_endpoint_conditions_ready",
                        endpoint.conditions.ready.map(|value| value.to_string()),
                    ),
                    (
                        "endpointslice_endpoint_conditions_serving",
                        endpoint.conditions.serving.map(|value| value.to_string()),
                    ),
                    (
                        "endpointslice_endpoint_conditions_terminating",
                        endpoint
                            .conditions
                            .terminating
                            .map(|value| value.to_string()),
                    ),
                    ("endpointslice_endpoint_hostname", endpoint.hostname.clone()),
                    (
                        "endpointslice_address_target_kind",
                        endpoint
                            .target_ref
                            .as_ref()
                            .map(|reference| reference.kind.clone()),
                    ),
                    (
                        "endpointslice_address_target_name",
                        endpoint
                            .target_ref
                            .as_ref()
                            .map(|reference| reference.name.clone()),
                    ),
                    (
                        "endpointslice_endpoint_node_name",
                        endpoint.node_name.clone(),
                    ),
                    ("endpointslice_endpoint_zone", endpoint.zone.clone()),
                ];
                for (name, value) in optional {
                    if let Some(value) = value {
                        target.insert(meta(name), value);
                    }
                }
                for (key, value) in &endpoint.deprecated_topology {
                    let name = sanitize_label_name(key);
                    target.insert(
                        meta(&format!("endpointslice_endpoint_topology_{name}")),
                        value.clone(),
                    );
                    target.insert(
                        meta(&format!("endpointslice_endpoint_topology_present_{name}")),
                        String::from("true"),
                    );
                }
                let node_name = match &endpoint.target_ref {
                    Some(reference) if reference.kind == "Node" => Some(reference.name.as_str()),
                    _ => endpoint.node_name.as_deref(),
                };
                add_node_labels(&mut target, nodes, node_name);
                let pod = endpoint
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
                // A port without a number covers no container port.
                let covered = port.port.unwrap_or(-1);
                match seen_pods
                    .iter_mut()
                    .find(|(seen, _)| seen.metadata.key() == pod.metadata.key())
                {
                    Some((_, ports)) => ports.push(covered),
                    None => seen_pods.push((pod, vec![covered])),
                }
                target.extend(pod_labels(pod, options));
                if let Some(number) = port.port {
                    // The last container declaring the port wins, as in Prometheus;
                    // here the container port's protocol is used.
                    let matching = all_containers(pod)
                        .filter_map(|(container, init)| {
                            container
                                .ports
                                .iter()
                                .find(|container_port| container_port.container_port == number)
                                .map(|container_port| (container, container_port, init))
                        })
                        .last();
                    if let Some((container, container_port, init)) = matching {
                        target.insert(meta("pod_container_name"), container.name.clone());
                        target.insert(meta("pod_container_image"), container.image.clone());
                        target.insert(meta("pod_container_port_name"), container_port.name.clone());
                        target.insert(meta("pod_container_port_number"), number.to_string());
                        target.insert(
                            meta("pod_container_port_protocol"),
                            container_port.protocol.clone(),
                        );
                        target.insert(meta("pod_container_init"), init.to_string());
                    }
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
