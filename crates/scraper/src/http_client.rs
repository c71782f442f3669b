//! An HTTP client from a Prometheus `http_client` section (scrapes and HTTP SD).
//!
//! Supported: `basic_auth` (values or files), `authorization` (and the legacy
//! `bearer_token`/`bearer_token_file`, which config validation moved there),
//! `tls_config` (`ca`/`ca_file`, `cert`/`cert_file` with `key`/`key_file`,
//! `insecure_skip_verify`, `min_version`, `max_version`), `proxy_url` with `no_proxy`,
//! `proxy_from_environment`, `follow_redirects` and `enable_http2`. Credential files
//! are read on every request, as Prometheus does, so rotated secrets are picked up.
//! Not supported (refused with an error naming the field): `oauth2` and
//! `tls_config.server_name`.

use reqwest::header::{AUTHORIZATION, HeaderValue};
use weft_scrape_config::config::{Authorization, BasicAuth, HttpClientConfig, TlsConfig};

/// A client built from an `http_client` section, with its per-request credentials.
#[derive(Clone, Debug)]
pub struct HttpClient {
    client: reqwest::Client,
    basic_auth: Option<BasicAuth>,
    authorization: Option<Authorization>,
}

impl HttpClient {
    /// Builds the client. Errors name the setting that cannot be honoured (an
    /// unreadable CA file, an unsupported option, ...).
    pub fn new(config: &HttpClientConfig) -> Result<Self, String> {
        if config.oauth2.is_some() {
            return Err(String::from("oauth2 is not supported by weft's scraper"));
        }
        let mut builder = reqwest::Client::builder();
        builder = configure_tls(builder, &config.tls_config)?;
        if !config.proxy_url.is_empty() {
            let mut proxy = reqwest::Proxy::all(&config.proxy_url)
                .map_err(|error| format!("proxy_url {:?}: {error}", config.proxy_url))?;
            if !config.no_proxy.is_empty() {
                proxy = proxy.no_proxy(reqwest::NoProxy::from_string(&config.no_proxy));
            }
            builder = builder.proxy(proxy);
        } else if !config.proxy_from_environment {
            builder = builder.no_proxy();
        }
        if !config.follow_redirects {
            builder = builder.redirect(reqwest::redirect::Policy::none());
        }
        if !config.enable_http2 {
            builder = builder.http1_only();
        }
        let client = builder
            .build()
            .map_err(|error| format!("cannot build HTTP client: {error}"))?;
        Ok(Self {
            client,
            basic_auth: config.basic_auth.clone(),
            authorization: config.authorization.clone(),
        })
    }

    /// A `GET` of `url` with the configured credentials. Errors when a credential file
    /// cannot be read.
    pub fn get(&self, url: &str) -> Result<reqwest::RequestBuilder, String> {
        let mut request = self.client.get(url);
        if let Some(basic_auth) = &self.basic_auth {
            let username = value_or_file(
                &basic_auth.username,
                &basic_auth.username_file,
                "basic_auth.username_file",
            )?;
            let password = value_or_file(
                &basic_auth.password,
                &basic_auth.password_file,
                "basic_auth.password_file",
            )?;
            request = request.basic_auth(username, Some(password));
        }
        if let Some(authorization) = &self.authorization {
            let credentials = value_or_file(
                &authorization.credentials,
                &authorization.credentials_file,
                "authorization.credentials_file",
            )?;
            let mut value = HeaderValue::from_str(&format!("{} {credentials}", authorization.kind))
                .map_err(|_| {
                    String::from("authorization credentials are not a valid header value")
                })?;
            value.set_sensitive(true);
            request = request.header(AUTHORIZATION, value);
        }
        Ok(request)
    }
}

/// The inline value, or the trimmed content of `file` when set (Prometheus trims
/// surrounding whitespace from secret files).
fn value_or_file(value: &str, file: &str, field: &str) -> Result<String, String> {
    if file.is_empty() {
        return Ok(value.to_owned());
    }
    std::fs::read_to_string(file)
        .map(|content| content.trim().to_owned())
        .map_err(|error| format!("cannot read {field} {file:?}: {error}"))
}

fn read_pem(inline: &str, file: &str, field: &str) -> Result<Option<Vec<u8>>, String> {
    if !file.is_empty() {
        return std::fs::read(file)
            .map(Some)
            .map_err(|error| format!("cannot read tls_config.{field} {file:?}: {error}"));
    }
    Ok((!inline.is_empty()).then(|| inline.as_bytes().to_vec()))
}

fn configure_tls(
    mut builder: reqwest::ClientBuilder,
    tls: &TlsConfig,
) -> Result<reqwest::ClientBuilder, String> {
    if !tls.server_name.is_empty() {
        return Err(String::from(
            "tls_config.server_name is not supported by weft's scraper",
        ));
    }
    if let Some(ca) = read_pem(&tls.ca, &tls.ca_file, "ca_file")? {
        let certificates = reqwest::Certificate::from_pem_bundle(&ca)
            .map_err(|error| format!("tls_config.ca: {error}"))?;
        if certificates.is_empty() {
            return Err(String::from("tls_config.ca: no certificate found"));
        }
        for certificate in certificates {
            builder = builder.add_root_certificate(certificate);
        }
    }
    let cert = read_pem(&tls.cert, &tls.cert_file, "cert_file")?;
    let key = read_pem(&tls.key, &tls.key_file, "key_file")?;
    if let (Some(mut cert), Some(key)) = (cert, key) {
        cert.push(b'\n');
        cert.extend_from_slice(&key);
        let identity = reqwest::Identity::from_pem(&cert)
            .map_err(|error| format!("tls_config client certificate: {error}"))?;
        builder = builder.identity(identity);
    }
    if tls.insecure_skip_verify {
        builder = builder.danger_accept_invalid_certs(true);
    }
    if let Some(version) = tls_version(&tls.min_version) {
        builder = builder.tls_version_min(version);
    }
    if let Some(version) = tls_version(&tls.max_version) {
        builder = builder.tls_version_max(version);
    }
    Ok(builder)
}

fn tls_version(name: &str) -> Option<reqwest::tls::Version> {
    match name {
        "TLS10" => Some(reqwest::tls::Version::TLS_1_0),
        "TLS11" => Some(reqwest::tls::Version::TLS_1_1),
        "TLS12" => Some(reqwest::tls::Version::TLS_1_2),
        "TLS13" => Some(reqwest::tls::Version::TLS_1_3),
        _ => None,
    }
}

/// The error and its sources, `a: b: c` (reqwest's top-level message alone hides
/// whether the connection was refused or TLS failed).
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
