//! Service discovery sections of a scrape config: `static_configs`,
//! `file_sd_configs`, `http_sd_configs`, `dns_sd_configs`,
//! `kubernetes_sd_configs`, each with Prometheus's defaults and load-time checks.

use serde::{Deserialize, Serialize};

use super::http_client::HttpClientConfig;
use super::shared_fields::with_shared_fields;
use crate::duration::PrometheusDuration;

/// `file_sd_configs` entry (`discovery/file/file.go`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RawFileSdConfig")]
pub struct FileSdConfig {
    /// Paths; the last path component may contain `*`. Relative paths are joined
    /// to the configuration file's directory at load.
    pub files: Vec<String>,
    /// Re-read interval besides file change notifications; default 5m.
    pub refresh_interval: PrometheusDuration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFileSdConfig {
    #[serde(default)]
    files: Vec<String>,
    #[serde(default)]
    refresh_interval: Option<PrometheusDuration>,
}

impl TryFrom<RawFileSdConfig> for FileSdConfig {
    type Error = String;

    fn try_from(raw: RawFileSdConfig) -> Result<Self, String> {
        if raw.files.is_empty() {
            return Err(String::from(
                "file service discovery config must contain at least one path name",
            ));
        }
        for name in &raw.files {
            if !crate::file_sd::is_valid_file_sd_pattern(name) {
                return Err(format!(
                    "path name {name:?} is not valid for file discovery"
                ));
            }
        }
        Ok(Self {
            files: raw.files,
            refresh_interval: raw
                .refresh_interval
                .unwrap_or(PrometheusDuration::from_secs(300)),
        })
    }
}

/// `http_sd_configs` entry (`discovery/http/http.go`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawHttpSdConfig")]
pub struct HttpSdConfig {
    /// `http` or `https` URL returning the target group list as JSON.
    pub url: String,
    /// Poll interval; default 60s.
    pub refresh_interval: PrometheusDuration,
    /// HTTP client settings for the poll.
    pub http_client: HttpClientConfig,
}

with_shared_fields! {
    [http_client]
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct RawHttpSdConfig {
        #[serde(default)]
        url: String,
        #[serde(default)]
        refresh_interval: Option<PrometheusDuration>,
    }
}

impl TryFrom<RawHttpSdConfig> for HttpSdConfig {
    type Error = String;

    fn try_from(mut raw: RawHttpSdConfig) -> Result<Self, String> {
        if raw.url.is_empty() {
            return Err(String::from("URL is missing"));
        }
        let Some((scheme, rest)) = raw.url.split_once("://") else {
            return Err(String::from("URL scheme must be 'http' or 'https'"));
        };
        if scheme != "http" && scheme != "https" {
            return Err(String::from("URL scheme must be 'http' or 'https'"));
        }
        let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..host_end];
        let host = authority
            .rsplit_once('@')
            .map_or(authority, |(_, host)| host);
        if host.is_empty() {
            return Err(String::from("host is missing in URL"));
        }
        let mut http_client = raw.take_http_client();
        http_client.validate()?;
        Ok(Self {
            url: raw.url,
            refresh_interval: raw
                .refresh_interval
                .unwrap_or(PrometheusDuration::from_secs(60)),
            http_client,
        })
    }
}

/// DNS record type queried by `dns_sd_configs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum DnsRecordType {
    /// SRV records: targets carry their own ports.
    Srv,
    /// IPv4 addresses; needs `port`.
    A,
    /// IPv6 addresses; needs `port`.
    Aaaa,
    /// Mail exchangers; needs `port`.
    Mx,
    /// Name servers; needs `port`.
    Ns,
}

/// `dns_sd_configs` entry (`discovery/dns/dns.go`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawDnsSdConfig")]
pub struct DnsSdConfig {
    /// Names to query (at least one).
    pub names: Vec<String>,
    /// Re-query interval; default 30s.
    pub refresh_interval: PrometheusDuration,
    /// Record type; default SRV; written case-insensitively.
    #[serde(rename = "type")]
    pub record_type: DnsRecordType,
    /// Port for every record type except SRV (required for them, ignored for SRV).
    pub port: u16,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDnsSdConfig {
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    refresh_interval: Option<PrometheusDuration>,
    #[serde(default, rename = "type")]
    record_type: Option<String>,
    #[serde(default)]
    port: u16,
}

impl TryFrom<RawDnsSdConfig> for DnsSdConfig {
    type Error = String;

    fn try_from(raw: RawDnsSdConfig) -> Result<Self, String> {
        if raw.names.is_empty() {
            return Err(String::from(
                "DNS-SD config must contain at least one SRV record name",
            ));
        }
        let written_type = raw.record_type.unwrap_or_else(|| String::from("SRV"));
        let record_type = match written_type.to_uppercase().as_str() {
            "SRV" => DnsRecordType::Srv,
            "A" => DnsRecordType::A,
            "AAAA" => DnsRecordType::Aaaa,
            "MX" => DnsRecordType::Mx,
            "NS" => DnsRecordType::Ns,
            _ => return Err(format!("invalid DNS-SD records type {written_type}")),
        };
        if record_type != DnsRecordType::Srv && raw.port == 0 {
            return Err(String::from(
                "a port is required in DNS-SD configs for all record types except SRV",
            ));
        }
        Ok(Self {
            names: raw.names,
            refresh_interval: raw
                .refresh_interval
                .unwrap_or(PrometheusDuration::from_secs(30)),
            record_type,
            port: raw.port,
        })
    }
}

/// Kubernetes object kind a `kubernetes_sd_configs` entry discovers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KubernetesRole {
    /// Nodes.
    Node,
    /// Pods (one target per declared container port).
    Pod,
    /// Services (one target per port).
    Service,
    /// Endpoints.
    Endpoints,
    /// EndpointSlices.
    #[serde(rename = "endpointslice")]
    EndpointSlice,
    /// Ingresses.
    Ingress,
}

impl KubernetesRole {
    fn name(self) -> &'static str {
        match self {
            KubernetesRole::Node => "node",
            KubernetesRole::Pod => "pod",
            KubernetesRole::Service => "service",
            KubernetesRole::Endpoints => "endpoints",
            KubernetesRole::EndpointSlice => "endpointslice",
            KubernetesRole::Ingress => "ingress",
        }
    }

    /// Roles whose selectors a config of this role may carry.
    fn allowed_selector_roles(self) -> &'static [KubernetesRole] {
        match self {
            KubernetesRole::Pod => &[KubernetesRole::Pod, KubernetesRole::Node],
            KubernetesRole::Service => &[KubernetesRole::Service],
            KubernetesRole::EndpointSlice => &[
                KubernetesRole::Pod,
                KubernetesRole::Service,
                KubernetesRole::EndpointSlice,
            ],
            KubernetesRole::Endpoints => &[
                KubernetesRole::Pod,
                KubernetesRole::Service,
                KubernetesRole::Endpoints,
            ],
            KubernetesRole::Node => &[KubernetesRole::Node],
            KubernetesRole::Ingress => &[KubernetesRole::Ingress],
        }
    }
}

/// `namespaces` of a Kubernetes SD config.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesNamespaces {
    /// Include the namespace Prometheus runs in.
    #[serde(default)]
    pub own_namespace: bool,
    /// Namespaces to watch; empty means all.
    #[serde(default)]
    pub names: Vec<String>,
}

/// One `selectors` entry of a Kubernetes SD config. The label and field
/// selector syntax is not checked here (Prometheus parses it with the Kubernetes
/// client library at load); the API server rejects bad selectors.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesSelector {
    /// Role the selector applies to.
    pub role: KubernetesRole,
    /// Label selector (Kubernetes syntax, passed to the API server).
    #[serde(default)]
    pub label: String,
    /// Field selector (Kubernetes syntax, passed to the API server).
    #[serde(default)]
    pub field: String,
}

/// `attach_metadata` of a Kubernetes SD config.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesAttachMetadata {
    /// Attach node metadata to pod/endpoint targets.
    #[serde(default)]
    pub node: bool,
    /// Attach namespace metadata.
    #[serde(default)]
    pub namespace: bool,
    /// Attach the owning Deployment's metadata.
    #[serde(default)]
    pub deployment: bool,
    /// Attach the owning Job's metadata.
    #[serde(default)]
    pub job: bool,
    /// Attach the owning CronJob's metadata.
    #[serde(default)]
    pub cronjob: bool,
}

/// `kubernetes_sd_configs` entry (`discovery/kubernetes/kubernetes.go`), parsed
/// and validated here; weft-scraper's `discovery::kubernetes` runs it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawKubernetesSdConfig")]
pub struct KubernetesSdConfig {
    /// Object kind to discover.
    pub role: KubernetesRole,
    /// API server URL; empty for in-cluster configuration.
    pub api_server: String,
    /// Kubeconfig file; exclusive with `api_server`.
    pub kubeconfig_file: String,
    /// Namespaces to watch.
    pub namespaces: KubernetesNamespaces,
    /// Server-side selectors, at most one per role.
    pub selectors: Vec<KubernetesSelector>,
    /// Extra metadata to attach.
    pub attach_metadata: KubernetesAttachMetadata,
    /// HTTP client settings for the API server.
    pub http_client: HttpClientConfig,
}

with_shared_fields! {
    [http_client]
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct RawKubernetesSdConfig {
        #[serde(default)]
        role: Option<KubernetesRole>,
        #[serde(default)]
        api_server: String,
        #[serde(default)]
        kubeconfig_file: String,
        #[serde(default)]
        namespaces: KubernetesNamespaces,
        #[serde(default)]
        selectors: Vec<KubernetesSelector>,
        #[serde(default)]
        attach_metadata: KubernetesAttachMetadata,
    }
}

impl TryFrom<RawKubernetesSdConfig> for KubernetesSdConfig {
    type Error = String;

    fn try_from(mut raw: RawKubernetesSdConfig) -> Result<Self, String> {
        let Some(role) = raw.role else {
            return Err(String::from(
                "role missing (one of: pod, service, endpoints, endpointslice, node, ingress)",
            ));
        };
        let mut http_client = raw.take_http_client();
        let custom_http_client = http_client != HttpClientConfig::default();
        http_client.validate()?;
        let has_api_server = !raw.api_server.is_empty();
        let has_kubeconfig = !raw.kubeconfig_file.is_empty();
        if has_api_server && has_kubeconfig {
            return Err(String::from(
                "cannot use 'kubeconfig_file' and 'api_server' simultaneously",
            ));
        }
        if has_kubeconfig && custom_http_client {
            return Err(String::from(
                "cannot use a custom HTTP client configuration together with 'kubeconfig_file'",
            ));
        }
        if !has_api_server && custom_http_client {
            return Err(String::from(
                "to use custom HTTP client configuration please provide the 'api_server' URL explicitly",
            ));
        }
        if has_api_server && raw.namespaces.own_namespace {
            return Err(String::from(
                "cannot use 'api_server' and 'namespaces.own_namespace' simultaneously",
            ));
        }
        if has_kubeconfig && raw.namespaces.own_namespace {
            return Err(String::from(
                "cannot use 'kubeconfig_file' and 'namespaces.own_namespace' simultaneously",
            ));
        }
        let allowed = role.allowed_selector_roles();
        let mut seen_roles = Vec::new();
        for selector in &raw.selectors {
            if seen_roles.contains(&selector.role) {
                return Err(format!(
                    "duplicated selector role: {}",
                    selector.role.name()
                ));
            }
            seen_roles.push(selector.role);
            if !allowed.contains(&selector.role) {
                let names: Vec<&str> = allowed.iter().map(|role| role.name()).collect();
                return Err(format!(
                    "{} role supports only {} selectors",
                    role.name(),
                    names.join(", ")
                ));
            }
        }
        Ok(Self {
            role,
            api_server: raw.api_server,
            kubeconfig_file: raw.kubeconfig_file,
            namespaces: raw.namespaces,
            selectors: raw.selectors,
            attach_metadata: raw.attach_metadata,
            http_client,
        })
    }
}
