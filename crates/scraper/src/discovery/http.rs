//! HTTP service discovery (`http_sd_configs`), Prometheus's `discovery/http`.
//!
//! `GET url` every `refresh_interval` with `Accept: application/json` and
//! `X-Prometheus-Refresh-Interval-Seconds`, the request bounded by the refresh
//! interval. The whole list is replaced on success; on any error the previous list
//! is kept and `weft_scrape_sd_refresh_failures_total{mechanism="http"}` counts it.

use weft_scrape_config::TargetGroup;
use weft_scrape_config::config::HttpSdConfig;
use weft_scrape_config::http_sd::{parse_response, request_headers};

use super::{Publisher, count_refresh_failure};
use crate::http_client::HttpClient;

/// Runs the provider until aborted.
pub(crate) async fn run(config: HttpSdConfig, publisher: Publisher) {
    let client = match HttpClient::new(&config.http_client) {
        Ok(client) => client,
        Err(error) => {
            count_refresh_failure("http");
            tracing::warn!(url = %config.url, %error, "HTTP SD: no targets");
            return;
        }
    };
    let refresh_interval = config.refresh_interval.as_std();
    loop {
        match refresh(&client, &config).await {
            Ok(groups) => publisher.publish(groups),
            Err(error) => {
                count_refresh_failure("http");
                tracing::warn!(url = %config.url, %error, "HTTP SD: keeping the previous targets");
            }
        }
        tokio::time::sleep(refresh_interval).await;
    }
}

async fn refresh(client: &HttpClient, config: &HttpSdConfig) -> Result<Vec<TargetGroup>, String> {
    let refresh_interval = config.refresh_interval.as_std();
    let mut request = client.get(&config.url)?.timeout(refresh_interval);
    for (name, value) in request_headers(refresh_interval) {
        request = request.header(name, value);
    }
    let response = request.send().await.map_err(|error| error.to_string())?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.bytes().await.map_err(|error| error.to_string())?;
    parse_response(&config.url, status, &content_type, &body).map_err(|error| error.to_string())
}
