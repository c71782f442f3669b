//! The `node` role's groups (`discovery/kubernetes/node.go`).

use std::collections::BTreeMap;

use weft_scrape_config::TargetGroup;

use super::{ADDRESS, LabelSet, add_object_meta_labels, join_host_port, meta, sanitize_label_name};
use crate::discovery::kubernetes::objects::Node;

/// `node/<name>`.
fn node_source(name: &str) -> String {
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
