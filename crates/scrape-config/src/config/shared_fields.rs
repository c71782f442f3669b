//! Groups of keys that Prometheus inlines into several sections: the HTTP client
//! settings (scrape, HTTP SD and Kubernetes SD configs) and the scrape limits
//! (`global` and every job). Serde cannot combine `flatten` with
//! `deny_unknown_fields` (nor with span tracking), so [`with_shared_fields!`]
//! writes the keys into each raw deserialization struct instead.

/// Declares a raw deserialization struct with its own fields plus the named
/// groups, and for each group a method taking the group's values out:
/// `http_client` -> `take_http_client(&mut self) -> HttpClientConfig`,
/// `limits` -> `limits(&self) -> ScrapeLimits`.
macro_rules! with_shared_fields {
    ([$($group:ident),*] $(#[$meta:meta])* $visibility:vis struct $name:ident { $($field:tt)* }) => {
        $crate::config::shared_fields::with_shared_fields!(
            @build [$($group),*] [$(#[$meta])* $visibility] $name [$($field)*]
        );
        $( $crate::config::shared_fields::with_shared_fields!(@impl $group $name); )*
    };
    (@build [http_client $(, $rest:ident)*] $metas:tt $name:ident [$($field:tt)*]) => {
        $crate::config::shared_fields::with_shared_fields!(@build [$($rest),*] $metas $name [
            $($field)*
            #[serde(default)]
            basic_auth: Option<$crate::config::http_client::BasicAuth>,
            #[serde(default)]
            authorization: Option<$crate::config::http_client::Authorization>,
            #[serde(default)]
            oauth2: Option<$crate::config::http_client::OAuth2>,
            #[serde(default)]
            bearer_token: String,
            #[serde(default)]
            bearer_token_file: String,
            #[serde(default)]
            tls_config: $crate::config::http_client::TlsConfig,
            #[serde(default)]
            proxy_url: String,
            #[serde(default)]
            no_proxy: String,
            #[serde(default)]
            proxy_from_environment: bool,
            #[serde(default)]
            follow_redirects: Option<bool>,
            #[serde(default)]
            enable_http2: Option<bool>,
        ]);
    };
    (@build [limits $(, $rest:ident)*] $metas:tt $name:ident [$($field:tt)*]) => {
        $crate::config::shared_fields::with_shared_fields!(@build [$($rest),*] $metas $name [
            $($field)*
            #[serde(default)]
            body_size_limit: $crate::config::ByteSize,
            #[serde(default)]
            sample_limit: u64,
            #[serde(default)]
            target_limit: u64,
            #[serde(default)]
            label_limit: u64,
            #[serde(default)]
            label_name_length_limit: u64,
            #[serde(default)]
            label_value_length_limit: u64,
            #[serde(default)]
            keep_dropped_targets: u64,
        ]);
    };
    (@build [] [$(#[$meta:meta])* $visibility:vis] $name:ident [$($field:tt)*]) => {
        $(#[$meta])*
        $visibility struct $name {
            $($field)*
        }
    };
    (@impl http_client $name:ident) => {
        impl $name {
            fn take_http_client(&mut self) -> $crate::config::http_client::HttpClientConfig {
                $crate::config::http_client::HttpClientConfig {
                    basic_auth: self.basic_auth.take(),
                    authorization: self.authorization.take(),
                    oauth2: self.oauth2.take(),
                    bearer_token: std::mem::take(&mut self.bearer_token),
                    bearer_token_file: std::mem::take(&mut self.bearer_token_file),
                    tls_config: std::mem::take(&mut self.tls_config),
                    proxy_url: std::mem::take(&mut self.proxy_url),
                    no_proxy: std::mem::take(&mut self.no_proxy),
                    proxy_from_environment: self.proxy_from_environment,
                    follow_redirects: self.follow_redirects.unwrap_or(true),
                    enable_http2: self.enable_http2.unwrap_or(true),
                }
            }
        }
    };
    (@impl limits $name:ident) => {
        impl $name {
            fn limits(&self) -> $crate::config::ScrapeLimits {
                $crate::config::ScrapeLimits {
                    body_size_limit: self.body_size_limit,
                    sample_limit: self.sample_limit,
                    target_limit: self.target_limit,
                    label_limit: self.label_limit,
                    label_name_length_limit: self.label_name_length_limit,
                    label_value_length_limit: self.label_value_length_limit,
                    keep_dropped_targets: self.keep_dropped_targets,
                }
            }
        }
    };
}
pub(crate) use with_shared_fields;
