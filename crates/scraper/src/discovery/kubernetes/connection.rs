//! Where the API server is and how to authenticate: the current context of
//! `kubeconfig_file`, `api_server` with the config's HTTP client settings, or the
//! in-cluster configuration (client-go's `rest.InClusterConfig`); and the namespaces to
//! watch.

use std::path::Path;

use weft_scrape_config::config::{Authorization, HttpClientConfig, KubernetesSdConfig};

use super::KubernetesOptions;
use super::client::ApiClient;
use crate::http_client::HttpClient;

/// The API client and the namespaces to watch (`""` for all).
pub(super) fn connect(
    config: &KubernetesSdConfig,
    options: &KubernetesOptions,
) -> Result<(ApiClient, Vec<String>), String> {
    let mut own_namespace = None;
    let (http_client_config, base_url) = if !config.kubeconfig_file.is_empty() {
        // Read at every connection, so rotated credentials are picked up.
        let settings = super::kubeconfig::load(Path::new(&config.kubeconfig_file))?;
        (settings.http_client, settings.server)
    } else if config.api_server.is_empty() {
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
