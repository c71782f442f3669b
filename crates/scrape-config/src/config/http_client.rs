//! The HTTP client settings Prometheus inlines into scrape and HTTP/Kubernetes
//! SD configs (`prometheus/common/config.HTTPClientConfig`): authentication,
//! TLS, proxy, redirects.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// `basic_auth`: at most one of `username`/`username_file` and of
/// `password`/`password_file`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    /// User name.
    #[serde(default)]
    pub username: String,
    /// File holding the user name; relative to the configuration file.
    #[serde(default)]
    pub username_file: String,
    /// Password.
    #[serde(default)]
    pub password: String,
    /// File holding the password; relative to the configuration file.
    #[serde(default)]
    pub password_file: String,
}

/// `authorization`: an `Authorization: <type> <credentials>` header.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    /// Header scheme; `Bearer` when empty; `basic` is rejected (use `basic_auth`).
    #[serde(default, rename = "type")]
    pub kind: String,
    /// The credentials.
    #[serde(default)]
    pub credentials: String,
    /// File holding the credentials; relative to the configuration file.
    #[serde(default)]
    pub credentials_file: String,
}

/// `oauth2`: client credentials flow (parsed and validated; weft does not yet
/// fetch tokens).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2 {
    /// Client id (required).
    #[serde(default)]
    pub client_id: String,
    /// Client secret.
    #[serde(default)]
    pub client_secret: String,
    /// File holding the client secret.
    #[serde(default)]
    pub client_secret_file: String,
    /// Scopes to request.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Token endpoint (required).
    #[serde(default)]
    pub token_url: String,
    /// Extra parameters for the token request.
    #[serde(default)]
    pub endpoint_params: std::collections::BTreeMap<String, String>,
}

/// `tls_config`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// CA certificate PEM text.
    #[serde(default)]
    pub ca: String,
    /// CA certificate file; relative to the configuration file.
    #[serde(default)]
    pub ca_file: String,
    /// Client certificate PEM text.
    #[serde(default)]
    pub cert: String,
    /// Client certificate file; relative to the configuration file.
    #[serde(default)]
    pub cert_file: String,
    /// Client key PEM text.
    #[serde(default)]
    pub key: String,
    /// Client key file; relative to the configuration file.
    #[serde(default)]
    pub key_file: String,
    /// Server name for SNI and certificate verification.
    #[serde(default)]
    pub server_name: String,
    /// Skip server certificate verification.
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// Minimum TLS version (`TLS10`..`TLS13`); empty for the library default.
    #[serde(default)]
    pub min_version: String,
    /// Maximum TLS version (`TLS10`..`TLS13`); empty for no maximum.
    #[serde(default)]
    pub max_version: String,
}

const TLS_VERSIONS: [&str; 4] = ["TLS10", "TLS11", "TLS12", "TLS13"];

impl TlsConfig {
    fn validate(&self) -> Result<(), String> {
        if !self.ca.is_empty() && !self.ca_file.is_empty() {
            return Err(String::from(
                "at most one of ca, ca_file & ca_ref must be configured",
            ));
        }
        if !self.cert.is_empty() && !self.cert_file.is_empty() {
            return Err(String::from(
                "at most one of cert, cert_file & cert_ref must be configured",
            ));
        }
        if !self.key.is_empty() && !self.key_file.is_empty() {
            return Err(String::from(
                "at most one of key and key_file must be configured",
            ));
        }
        let has_cert = !self.cert.is_empty() || !self.cert_file.is_empty();
        let has_key = !self.key.is_empty() || !self.key_file.is_empty();
        if has_cert && !has_key {
            return Err(String::from(
                "exactly one of key or key_file must be configured when a client certificate is configured",
            ));
        }
        if has_key && !has_cert {
            return Err(String::from(
                "exactly one of cert or cert_file must be configured when a client key is configured",
            ));
        }
        for (field, version) in [
            ("min_version", &self.min_version),
            ("max_version", &self.max_version),
        ] {
            if !version.is_empty() && !TLS_VERSIONS.contains(&version.as_str()) {
                return Err(format!("unknown TLS version {version:?} in {field}"));
            }
        }
        Ok(())
    }
}

fn default_true() -> bool {
    true
}

/// HTTP client settings shared by scrape configs and HTTP-based discovery.
/// After [`HttpClientConfig::validate`], `bearer_token`/`bearer_token_file` have
/// been moved into `authorization` with type `Bearer`, as Prometheus does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpClientConfig {
    /// HTTP basic authentication.
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
    /// `Authorization` header.
    #[serde(default)]
    pub authorization: Option<Authorization>,
    /// OAuth 2.0 client credentials.
    #[serde(default)]
    pub oauth2: Option<OAuth2>,
    /// Legacy bearer token (becomes `authorization`).
    #[serde(default)]
    pub bearer_token: String,
    /// Legacy bearer token file (becomes `authorization`).
    #[serde(default)]
    pub bearer_token_file: String,
    /// TLS settings.
    #[serde(default)]
    pub tls_config: TlsConfig,
    /// HTTP proxy URL.
    #[serde(default)]
    pub proxy_url: String,
    /// Hosts that bypass the proxy (comma separated).
    #[serde(default)]
    pub no_proxy: String,
    /// Use the `HTTP(S)_PROXY` environment variables.
    #[serde(default)]
    pub proxy_from_environment: bool,
    /// Follow HTTP 3xx redirects; default true.
    #[serde(default = "default_true")]
    pub follow_redirects: bool,
    /// Allow HTTP/2; default true.
    #[serde(default = "default_true")]
    pub enable_http2: bool,
}

impl Default for HttpClientConfig {
    fn default() -> Self {
        Self {
            basic_auth: None,
            authorization: None,
            oauth2: None,
            bearer_token: String::new(),
            bearer_token_file: String::new(),
            tls_config: TlsConfig::default(),
            proxy_url: String::new(),
            no_proxy: String::new(),
            proxy_from_environment: false,
            follow_redirects: true,
            enable_http2: true,
        }
    }
}

impl HttpClientConfig {
    /// Prometheus's `HTTPClientConfig.Validate`: mutually exclusive
    /// authentication methods, then the legacy bearer token moved into
    /// `authorization`. Messages are Prometheus's.
    pub fn validate(&mut self) -> Result<(), String> {
        let has_bearer = !self.bearer_token.is_empty() || !self.bearer_token_file.is_empty();
        if !self.bearer_token.is_empty() && !self.bearer_token_file.is_empty() {
            return Err(String::from(
                "at most one of bearer_token & bearer_token_file must be configured",
            ));
        }
        if (self.basic_auth.is_some() || self.oauth2.is_some()) && has_bearer {
            return Err(String::from(
                "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
            ));
        }
        if let Some(basic_auth) = &self.basic_auth {
            if !basic_auth.username.is_empty() && !basic_auth.username_file.is_empty() {
                return Err(String::from(
                    "at most one of basic_auth username, username_file & username_ref must be configured",
                ));
            }
            if !basic_auth.password.is_empty() && !basic_auth.password_file.is_empty() {
                return Err(String::from(
                    "at most one of basic_auth password, password_file & password_ref must be configured",
                ));
            }
        }
        if let Some(authorization) = &mut self.authorization {
            if has_bearer {
                return Err(String::from(
                    "authorization is not compatible with bearer_token & bearer_token_file",
                ));
            }
            if !authorization.credentials.is_empty() && !authorization.credentials_file.is_empty() {
                return Err(String::from(
                    "at most one of authorization credentials & credentials_file must be configured",
                ));
            }
            authorization.kind = authorization.kind.trim().to_owned();
            if authorization.kind.is_empty() {
                authorization.kind = String::from("Bearer");
            }
            if authorization.kind.eq_ignore_ascii_case("basic") {
                return Err(String::from(
                    r#"authorization type cannot be set to "basic", use "basic_auth" instead"#,
                ));
            }
            if self.basic_auth.is_some() || self.oauth2.is_some() {
                return Err(String::from(
                    "at most one of basic_auth, oauth2 & authorization must be configured",
                ));
            }
        } else if has_bearer {
            self.authorization = Some(Authorization {
                kind: String::from("Bearer"),
                credentials: std::mem::take(&mut self.bearer_token),
                credentials_file: std::mem::take(&mut self.bearer_token_file),
            });
        }
        if let Some(oauth2) = &self.oauth2 {
            if self.basic_auth.is_some() {
                return Err(String::from(
                    "at most one of basic_auth, oauth2 & authorization must be configured",
                ));
            }
            if oauth2.client_id.is_empty() {
                return Err(String::from("oauth2 client_id must be configured"));
            }
            if oauth2.token_url.is_empty() {
                return Err(String::from("oauth2 token_url must be configured"));
            }
            if !oauth2.client_secret.is_empty() && !oauth2.client_secret_file.is_empty() {
                return Err(String::from(
                    "at most one of oauth2 client_secret, client_secret_file & client_secret_ref must be configured using grant-type=client_credentials",
                ));
            }
        }
        if !self.proxy_url.is_empty() && self.proxy_from_environment {
            return Err(String::from(
                "if proxy_from_environment is configured, proxy_url must not be configured",
            ));
        }
        if !self.no_proxy.is_empty() && self.proxy_url.is_empty() {
            return Err(String::from(
                "if no_proxy is configured, proxy_url must also be configured",
            ));
        }
        self.tls_config.validate()
    }

    /// Makes every file path relative to `directory` (the configuration file's),
    /// as Prometheus's `SetDirectory`.
    pub fn set_directory(&mut self, directory: &Path) {
        if let Some(basic_auth) = &mut self.basic_auth {
            join_directory(directory, &mut basic_auth.username_file);
            join_directory(directory, &mut basic_auth.password_file);
        }
        if let Some(authorization) = &mut self.authorization {
            join_directory(directory, &mut authorization.credentials_file);
        }
        if let Some(oauth2) = &mut self.oauth2 {
            join_directory(directory, &mut oauth2.client_secret_file);
        }
        join_directory(directory, &mut self.bearer_token_file);
        join_directory(directory, &mut self.tls_config.ca_file);
        join_directory(directory, &mut self.tls_config.cert_file);
        join_directory(directory, &mut self.tls_config.key_file);
    }
}

/// Prometheus's `config.JoinDir`: a non-empty relative path is joined to
/// `directory`; empty and absolute paths are left alone.
pub(crate) fn join_directory(directory: &Path, path: &mut String) {
    if path.is_empty() || Path::new(path.as_str()).is_absolute() {
        return;
    }
    *path = directory.join(path.as_str()).to_string_lossy().into_owned();
}
