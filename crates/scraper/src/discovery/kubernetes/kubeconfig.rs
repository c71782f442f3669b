//! `kubeconfig_file`: the API server and credentials of a kubeconfig's current context,
//! as client-go reads them, turned into the HTTP client settings the rest of discovery
//! uses.
//!
//! Read: `current-context`, its `context` (`cluster`, `user`; as in Prometheus the
//! context's `namespace` plays no part: `namespaces` of the config decides), the
//! cluster's `server`, `certificate-authority` / `certificate-authority-data`,
//! `insecure-skip-tls-verify`, `tls-server-name`, `proxy-url`, and the user's
//! `client-certificate[-data]` with `client-key[-data]`, `token` / `tokenFile` and
//! `username` / `password`. Paths are relative to the kubeconfig's directory. Credential
//! plugins (`exec`, `auth-provider`) are refused with an error naming them. The file is
//! read at every (re)connection, so rotated credentials are picked up.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;
use weft_scrape_config::config::{Authorization, BasicAuth, HttpClientConfig};

/// The settings one kubeconfig gives.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct KubeconfigSettings {
    /// The API server URL, without a trailing `/`.
    pub(super) server: String,
    /// TLS, credentials and proxy.
    pub(super) http_client: HttpClientConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
struct Kubeconfig {
    current_context: String,
    contexts: Vec<Named<Context>>,
    clusters: Vec<Named<Cluster>>,
    users: Vec<Named<User>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Named<T: Default> {
    name: String,
    #[serde(alias = "context", alias = "cluster", alias = "user")]
    value: T,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Context {
    cluster: String,
    user: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
struct Cluster {
    server: String,
    certificate_authority: String,
    certificate_authority_data: String,
    insecure_skip_tls_verify: bool,
    tls_server_name: String,
    proxy_url: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
struct User {
    client_certificate: String,
    client_certificate_data: String,
    client_key: String,
    client_key_data: String,
    token: String,
    #[serde(rename = "tokenFile")]
    token_file: String,
    username: String,
    password: String,
    exec: Option<serde_json::Value>,
    auth_provider: Option<serde_json::Value>,
}

fn find<'a, T: Default>(
    entries: &'a [Named<T>],
    name: &str,
    what: &str,
    path: &Path,
) -> Result<&'a T, String> {
    entries
        .iter()
        .find(|entry| entry.name == name)
        .map(|entry| &entry.value)
        .ok_or_else(|| format!("kubeconfig {}: no {what} named {name:?}", path.display()))
}

/// PEM text of a `*-data` field (base64).
fn pem_of(data: &str, field: &str, path: &Path) -> Result<String, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|error| format!("kubeconfig {}: {field}: {error}", path.display()))?;
    String::from_utf8(bytes)
        .map_err(|_| format!("kubeconfig {}: {field} is not PEM text", path.display()))
}

/// Reads `path` and returns its current context's settings; errors name the file and
/// the field.
pub(super) fn load(path: &Path) -> Result<KubeconfigSettings, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("cannot read kubeconfig {}: {error}", path.display()))?;
    let config: Kubeconfig = serde_saphyr::from_str(&text)
        .map_err(|error| format!("kubeconfig {}: {error}", path.display()))?;
    if config.current_context.is_empty() {
        return Err(format!("kubeconfig {}: no current-context", path.display()));
    }
    let context = find(&config.contexts, &config.current_context, "context", path)?;
    let cluster = find(&config.clusters, &context.cluster, "cluster", path)?;
    let user = if context.user.is_empty() {
        &User::default()
    } else {
        find(&config.users, &context.user, "user", path)?
    };
    if user.exec.is_some() || user.auth_provider.is_some() {
        return Err(format!(
            "kubeconfig {}: user {:?} uses a credential plugin (exec or auth-provider), which weft does not run; give it a token, tokenFile or client certificate",
            path.display(),
            context.user
        ));
    }
    if cluster.server.is_empty() {
        return Err(format!(
            "kubeconfig {}: cluster {:?} has no server",
            path.display(),
            context.cluster
        ));
    }
    let directory = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let resolve = |file: &str| -> String {
        let file = PathBuf::from(file);
        if file.is_absolute() {
            file
        } else {
            directory.join(file)
        }
        .display()
        .to_string()
    };
    let mut http_client = HttpClientConfig::default();
    let tls = &mut http_client.tls_config;
    if !cluster.certificate_authority_data.is_empty() {
        tls.ca = pem_of(
            &cluster.certificate_authority_data,
            "certificate-authority-data",
            path,
        )?;
    } else if !cluster.certificate_authority.is_empty() {
        tls.ca_file = resolve(&cluster.certificate_authority);
    }
    tls.insecure_skip_verify = cluster.insecure_skip_tls_verify;
    tls.server_name = cluster.tls_server_name.clone();
    if !user.client_certificate_data.is_empty() {
        tls.cert = pem_of(
            &user.client_certificate_data,
            "client-certificate-data",
            path,
        )?;
    } else if !user.client_certificate.is_empty() {
        tls.cert_file = resolve(&user.client_certificate);
    }
    if !user.client_key_data.is_empty() {
        tls.key = pem_of(&user.client_key_data, "client-key-data", path)?;
    } else if !user.client_key.is_empty() {
        tls.key_file = resolve(&user.client_key);
    }
    if !user.token.is_empty() || !user.token_file.is_empty() {
        http_client.authorization = Some(Authorization {
            kind: String::from("Bearer"),
            credentials: user.token.clone(),
            credentials_file: if user.token.is_empty() {
                resolve(&user.token_file)
            } else {
                String::new()
            },
        });
    } else if !user.username.is_empty() {
        http_client.basic_auth = Some(BasicAuth {
            username: user.username.clone(),
            password: user.password.clone(),
            ..BasicAuth::default()
        });
    }
    http_client.proxy_url = cluster.proxy_url.clone();
    Ok(KubeconfigSettings {
        server: cluster.server.trim_end_matches('/').to_owned(),
        http_client,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(directory: &Path, text: &str) -> PathBuf {
        let path = directory.join("kubeconfig");
        std::fs::write(&path, text).expect("write");
        path
    }

    const TWO_CONTEXTS: &str = r#"
apiVersion: v1
kind: Config
preferences: {}
current-context: dev
contexts:
- name: prod
  context: {cluster: prod, user: admin}
- name: dev
  context:
    cluster: dev
    user: developer
    namespace: team-a
clusters:
- name: prod
  cluster: {server: "https://prod:6443"}
- name: dev
  cluster:
    server: https://127.0.0.1:6443/
    certificate-authority: certs/ca.crt
    tls-server-name: kubernetes
users:
- name: admin
  user: {token: secret}
- name: developer
  user:
    client-certificate-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==
    client-key: /etc/keys/dev.key
    tokenFile: token
"#;

    #[test]
    fn the_current_context_gives_server_tls_credentials_and_namespace() {
        let directory = tempfile::tempdir().expect("tempdir");
        let settings = load(&write(directory.path(), TWO_CONTEXTS)).expect("loads");
        assert_eq!(settings.server, "https://127.0.0.1:6443");
        let tls = &settings.http_client.tls_config;
        assert_eq!(
            tls.ca_file,
            directory.path().join("certs/ca.crt").display().to_string(),
            "relative to the kubeconfig"
        );
        assert_eq!(tls.server_name, "kubernetes");
        assert_eq!(tls.cert, "-----BEGIN CERTIFICATE-----\n");
        assert_eq!(tls.key_file, "/etc/keys/dev.key");
        let authorization = settings
            .http_client
            .authorization
            .as_ref()
            .expect("token file");
        assert_eq!(authorization.kind, "Bearer");
        assert_eq!(
            authorization.credentials_file,
            directory.path().join("token").display().to_string()
        );
    }

    #[test]
    fn bad_kubeconfigs_are_named() {
        let directory = tempfile::tempdir().expect("tempdir");
        let cases = [
            (
                TWO_CONTEXTS.replace("current-context: dev", "current-context: qa"),
                "no context named \"qa\"",
            ),
            (
                TWO_CONTEXTS.replace("current-context: dev", ""),
                "no current-context",
            ),
            (
                TWO_CONTEXTS.replace("tokenFile: token", "exec: {command: aws}"),
                "credential plugin",
            ),
            (
                TWO_CONTEXTS.replace(
                    "certificate-authority: certs/ca.crt",
                    "certificate-authority-data: \"!!\"",
                ),
                "certificate-authority-data",
            ),
            (String::from("clusters: ["), "kubeconfig"),
        ];
        for (text, wanted) in cases {
            let error = load(&write(directory.path(), &text)).expect_err(wanted);
            assert!(error.contains(wanted), "{error}");
            assert!(error.contains("kubeconfig"), "{error}");
        }
        let missing = load(&directory.path().join("nowhere")).expect_err("missing");
        assert!(missing.contains("cannot read kubeconfig"), "{missing}");
    }
}
