//! The few fields of Kubernetes Pods, Services, Endpoints, EndpointSlices, Nodes and
//! Ingresses (and the metadata of Namespaces, ReplicaSets and Jobs) that discovery
//! reads, as the API server serialises them to JSON. Every field is optional and
//! `null` reads as absent, so an object missing fields still decodes; unknown fields
//! are ignored.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

/// `null` (or an absent field) as the type's default.
fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// `metadata` of an object.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ObjectMeta {
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub namespace: String,
    #[serde(default, deserialize_with = "nullable")]
    pub uid: String,
    #[serde(default, deserialize_with = "nullable")]
    pub resource_version: String,
    #[serde(default, deserialize_with = "nullable")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "nullable")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "nullable")]
    pub owner_references: Vec<OwnerReference>,
}

impl ObjectMeta {
    /// `<namespace>/<name>`, the key objects are stored and looked up by.
    pub(crate) fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// One `metadata.ownerReferences` entry.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub(crate) struct OwnerReference {
    #[serde(default, deserialize_with = "nullable")]
    pub kind: String,
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub controller: bool,
}

/// An object discovery stores: all have `metadata`.
pub(crate) trait Object: for<'de> Deserialize<'de> + Clone + Send + Sync + 'static {
    fn metadata(&self) -> &ObjectMeta;
}

macro_rules! impl_object {
    ($($kind:ty),*) => {
        $(impl Object for $kind {
            fn metadata(&self) -> &ObjectMeta {
                &self.metadata
            }
        })*
    };
}

impl_object!(
    Pod,
    Service,
    Endpoints,
    Node,
    Ingress,
    EndpointSlice,
    MetadataOnly
);

/// An object of which discovery reads only `metadata`: a Namespace (its labels and
/// annotations, for `attach_metadata.namespace`), a ReplicaSet (its controlling
/// Deployment, for `attach_metadata.deployment`) or a Job (its controlling CronJob,
/// for `attach_metadata.cronjob`).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub(crate) struct MetadataOnly {
    #[serde(default, deserialize_with = "nullable")]
    pub metadata: ObjectMeta,
}

impl ObjectMeta {
    /// The controlling owner (`ownerReferences` entry with `controller: true`), as
    /// Kubernetes's `GetControllerOf`.
    pub(crate) fn controller(&self) -> Option<&OwnerReference> {
        self.owner_references
            .iter()
            .find(|reference| reference.controller)
    }
}

/// A `v1` Pod.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub(crate) struct Pod {
    #[serde(default, deserialize_with = "nullable")]
    pub metadata: ObjectMeta,
    #[serde(default, deserialize_with = "nullable")]
    pub spec: PodSpec,
    #[serde(default, deserialize_with = "nullable")]
    pub status: PodStatus,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PodSpec {
    #[serde(default, deserialize_with = "nullable")]
    pub node_name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub containers: Vec<Container>,
    #[serde(default, deserialize_with = "nullable")]
    pub init_containers: Vec<Container>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub(crate) struct Container {
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub image: String,
    #[serde(default, deserialize_with = "nullable")]
    pub ports: Vec<ContainerPort>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ContainerPort {
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub container_port: i64,
    #[serde(default, deserialize_with = "nullable")]
    pub protocol: String,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PodStatus {
    #[serde(default, deserialize_with = "nullable")]
    pub phase: String,
    #[serde(default, rename = "podIP", deserialize_with = "nullable")]
    pub pod_ip: String,
    #[serde(default, rename = "hostIP", deserialize_with = "nullable")]
    pub host_ip: String,
    #[serde(default, deserialize_with = "nullable")]
    pub conditions: Vec<PodCondition>,
    #[serde(default, deserialize_with = "nullable")]
    pub container_statuses: Vec<ContainerStatus>,
    #[serde(default, deserialize_with = "nullable")]
    pub init_container_statuses: Vec<ContainerStatus>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub(crate) struct PodCondition {
    #[serde(default, rename = "type", deserialize_with = "nullable")]
    pub kind: String,
    #[serde(default, deserialize_with = "nullable")]
    pub status: String,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ContainerStatus {
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default, rename = "containerID", deserialize_with = "nullable")]
    pub container_id: String,
}

/// A `v1` Service.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub(crate) struct Service {
    #[serde(default, deserialize_with = "nullable")]
    pub metadata: ObjectMeta,
    #[serde(default, deserialize_with = "nullable")]
    pub spec: ServiceSpec,
    #[serde(default, deserialize_with = "nullable")]
    pub status: ServiceStatus,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ServiceSpec {
    #[serde(default, rename = "type", deserialize_with = "nullable")]
    pub kind: String,
    #[serde(default, rename = "clusterIP", deserialize_with = "nullable")]
    pub cluster_ip: String,
    #[serde(default, deserialize_with = "nullable")]
    pub external_name: String,
    #[serde(default, rename = "loadBalancerIP", deserialize_with = "nullable")]
    pub load_balancer_ip: String,
    #[serde(default, deserialize_with = "nullable")]
    pub ports: Vec<ServicePort>,
    /// `None` when absent.
    #[serde(default)]
    pub ip_family_policy: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub ip_families: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub(crate) struct ServicePort {
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub port: i64,
    #[serde(default, deserialize_with = "nullable")]
    pub protocol: String,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ServiceStatus {
    #[serde(default, deserialize_with = "nullable")]
    pub load_balancer: LoadBalancerStatus,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub(crate) struct LoadBalancerStatus {
    #[serde(default, deserialize_with = "nullable")]
    pub ingress: Vec<LoadBalancerIngress>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub(crate) struct LoadBalancerIngress {
    #[serde(default, deserialize_with = "nullable")]
    pub ip: String,
}

/// A `v1` Endpoints.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub(crate) struct Endpoints {
    #[serde(default, deserialize_with = "nullable")]
    pub metadata: ObjectMeta,
    #[serde(default, deserialize_with = "nullable")]
    pub subsets: Vec<EndpointSubset>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EndpointSubset {
    #[serde(default, deserialize_with = "nullable")]
    pub addresses: Vec<EndpointAddress>,
    #[serde(default, deserialize_with = "nullable")]
    pub not_ready_addresses: Vec<EndpointAddress>,
    #[serde(default, deserialize_with = "nullable")]
    pub ports: Vec<EndpointPort>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EndpointAddress {
    #[serde(default, deserialize_with = "nullable")]
    pub ip: String,
    #[serde(default, deserialize_with = "nullable")]
    pub hostname: String,
    /// `None` when absent (the label is then not set), unlike an empty name.
    #[serde(default)]
    pub node_name: Option<String>,
    #[serde(default)]
    pub target_ref: Option<ObjectReference>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub(crate) struct ObjectReference {
    #[serde(default, deserialize_with = "nullable")]
    pub kind: String,
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub namespace: String,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub(crate) struct EndpointPort {
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub port: i64,
    #[serde(default, deserialize_with = "nullable")]
    pub protocol: String,
}

/// A `v1` Node.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub(crate) struct Node {
    #[serde(default, deserialize_with = "nullable")]
    pub metadata: ObjectMeta,
    #[serde(default, deserialize_with = "nullable")]
    pub spec: NodeSpec,
    #[serde(default, deserialize_with = "nullable")]
    pub status: NodeStatus,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub(crate) struct NodeSpec {
    #[serde(default, rename = "providerID", deserialize_with = "nullable")]
    pub provider_id: String,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NodeStatus {
    #[serde(default, deserialize_with = "nullable")]
    pub addresses: Vec<NodeAddress>,
    /// Same shape as a pod condition (`type`, `status`).
    #[serde(default, deserialize_with = "nullable")]
    pub conditions: Vec<PodCondition>,
    #[serde(default, deserialize_with = "nullable")]
    pub daemon_endpoints: NodeDaemonEndpoints,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub(crate) struct NodeAddress {
    #[serde(default, rename = "type", deserialize_with = "nullable")]
    pub kind: String,
    #[serde(default, deserialize_with = "nullable")]
    pub address: String,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NodeDaemonEndpoints {
    #[serde(default, deserialize_with = "nullable")]
    pub kubelet_endpoint: DaemonEndpoint,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub(crate) struct DaemonEndpoint {
    /// Capitalised in the API (`"Port"`).
    #[serde(default, rename = "Port", deserialize_with = "nullable")]
    pub port: i64,
}

/// A `networking.k8s.io/v1` Ingress.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub(crate) struct Ingress {
    #[serde(default, deserialize_with = "nullable")]
    pub metadata: ObjectMeta,
    #[serde(default, deserialize_with = "nullable")]
    pub spec: IngressSpec,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IngressSpec {
    /// `None` when absent (no label), unlike an empty name.
    #[serde(default)]
    pub ingress_class_name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub rules: Vec<IngressRule>,
    #[serde(default, deserialize_with = "nullable")]
    pub tls: Vec<IngressTls>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub(crate) struct IngressRule {
    #[serde(default, deserialize_with = "nullable")]
    pub host: String,
    /// `None` without an `http` section (the rule then stands for path `/`).
    #[serde(default)]
    pub http: Option<HttpIngressRuleValue>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub(crate) struct HttpIngressRuleValue {
    #[serde(default, deserialize_with = "nullable")]
    pub paths: Vec<HttpIngressPath>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub(crate) struct HttpIngressPath {
    #[serde(default, deserialize_with = "nullable")]
    pub path: String,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub(crate) struct IngressTls {
    #[serde(default, deserialize_with = "nullable")]
    pub hosts: Vec<String>,
}

/// A `discovery.k8s.io/v1` EndpointSlice. Optional fields stay `Option`: Prometheus
/// sets a label only for a field that is present.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EndpointSlice {
    #[serde(default, deserialize_with = "nullable")]
    pub metadata: ObjectMeta,
    #[serde(default, deserialize_with = "nullable")]
    pub address_type: String,
    #[serde(default, deserialize_with = "nullable")]
    pub endpoints: Vec<SliceEndpoint>,
    #[serde(default, deserialize_with = "nullable")]
    pub ports: Vec<SlicePort>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SliceEndpoint {
    #[serde(default, deserialize_with = "nullable")]
    pub addresses: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub conditions: SliceEndpointConditions,
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default)]
    pub target_ref: Option<ObjectReference>,
    #[serde(default)]
    pub node_name: Option<String>,
    #[serde(default)]
    pub zone: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub deprecated_topology: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub(crate) struct SliceEndpointConditions {
    #[serde(default)]
    pub ready: Option<bool>,
    #[serde(default)]
    pub serving: Option<bool>,
    #[serde(default)]
    pub terminating: Option<bool>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SlicePort {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub protocol: Option<String>,
    #[serde(default)]
    pub port: Option<i64>,
    #[serde(default)]
    pub app_protocol: Option<String>,
}
