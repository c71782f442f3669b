//! List and watch of Kubernetes collections (core `v1`, `discovery.k8s.io/v1`
//! endpoint slices and `networking.k8s.io/v1` ingresses) over the REST API, with the
//! size of every response bounded.
//!
//! A list is paged (`limit`, `continue`); a watch is a chunked stream of one JSON
//! event per line (`{"type":"ADDED","object":{...}}`), asked for with
//! `watch=true&resourceVersion=<from the list>&allowWatchBookmarks=true`.

use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::objects::Object;
use crate::http_client::{HttpClient, error_chain};

/// Objects asked for per list page.
const LIST_PAGE_SIZE: &str = "500";

/// Why a list or watch failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// `410 Gone` (HTTP, or an `ERROR` watch event with code 410): the resource
    /// version is too old; list again.
    #[error("{0}: resource version expired (410 Gone)")]
    Gone(String),
    /// Anything else: transport, HTTP status, undecodable JSON, a limit exceeded.
    #[error("{0}")]
    Other(String),
}

/// A collection discovery watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Resource {
    Pods,
    Services,
    Endpoints,
    /// Cluster-scoped: always listed across the cluster.
    Nodes,
    /// `networking.k8s.io/v1`.
    Ingresses,
    /// `discovery.k8s.io/v1`.
    EndpointSlices,
    /// Cluster-scoped: always listed across the cluster.
    Namespaces,
    /// `apps/v1`.
    ReplicaSets,
    /// `batch/v1`.
    Jobs,
}

impl Resource {
    pub(crate) fn path(self) -> &'static str {
        match self {
            Resource::Pods => "pods",
            Resource::Services => "services",
            Resource::Endpoints => "endpoints",
            Resource::Nodes => "nodes",
            Resource::Ingresses => "ingresses",
            Resource::EndpointSlices => "endpointslices",
            Resource::Namespaces => "namespaces",
            Resource::ReplicaSets => "replicasets",
            Resource::Jobs => "jobs",
        }
    }

    /// Whether the resource is cluster-scoped (listed across the cluster, never per
    /// namespace).
    pub(crate) fn cluster_scoped(self) -> bool {
        matches!(self, Resource::Nodes | Resource::Namespaces)
    }

    /// The path of the API group and version the resource is served under.
    pub(crate) fn group_version_path(self) -> &'static str {
        match self {
            Resource::Ingresses => "/apis/networking.k8s.io/v1",
            Resource::EndpointSlices => "/apis/discovery.k8s.io/v1",
            Resource::ReplicaSets => "/apis/apps/v1",
            Resource::Jobs => "/apis/batch/v1",
            Resource::Pods
            | Resource::Services
            | Resource::Endpoints
            | Resource::Nodes
            | Resource::Namespaces => "/api/v1",
        }
    }
}

/// Server-side filters of a list or watch (empty strings are not sent).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Selectors {
    pub label: String,
    pub field: String,
}

/// An API server and how to talk to it.
#[derive(Clone, Debug)]
pub(crate) struct ApiClient {
    pub http: HttpClient,
    /// Scheme, host and port (and any path prefix), without a trailing `/`.
    pub base_url: String,
    /// The largest list page or single watch event read, in bytes.
    pub max_response_bytes: usize,
    /// `timeoutSeconds` of a watch; the server ends the watch after it.
    pub watch_timeout: Duration,
}

#[derive(Deserialize)]
struct ListMeta {
    #[serde(default, rename = "resourceVersion")]
    resource_version: Option<String>,
    #[serde(default, rename = "continue")]
    continue_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(bound = "T: DeserializeOwned")]
struct ListResponse<T> {
    #[serde(default)]
    metadata: Option<ListMeta>,
    #[serde(default)]
    items: Option<Vec<T>>,
}

/// A `metav1.Status`, as in an error response or an `ERROR` watch event.
#[derive(Deserialize, Default)]
struct Status {
    #[serde(default)]
    code: Option<u16>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Deserialize)]
struct RawWatchEvent {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    object: serde_json::Value,
}

#[derive(Deserialize, Default)]
struct BookmarkObject {
    #[serde(default)]
    metadata: BookmarkMeta,
}

#[derive(Deserialize, Default)]
struct BookmarkMeta {
    #[serde(default, rename = "resourceVersion")]
    resource_version: Option<String>,
}

/// One decoded watch event.
#[derive(Debug)]
pub(crate) enum WatchEvent<T> {
    /// `ADDED` or `MODIFIED`.
    Upsert(T),
    /// `DELETED` (the object's last state).
    Deleted(T),
    /// `BOOKMARK`: nothing changed up to this resource version.
    Bookmark(String),
}

/// A list's objects and the resource version to watch from.
pub(crate) struct Listed<T> {
    pub items: Vec<T>,
    pub resource_version: String,
}

impl ApiClient {
    fn collection_url(&self, resource: Resource, namespace: &str) -> String {
        let group_version = resource.group_version_path();
        if namespace.is_empty() || resource.cluster_scoped() {
            format!("{}{group_version}/{}", self.base_url, resource.path())
        } else {
            format!(
                "{}{group_version}/namespaces/{namespace}/{}",
                self.base_url,
                resource.path()
            )
        }
    }

    fn describe(resource: Resource, namespace: &str) -> String {
        if namespace.is_empty() {
            resource.path().to_owned()
        } else {
            format!("{} in namespace {namespace:?}", resource.path())
        }
    }

    fn request(
        &self,
        resource: Resource,
        namespace: &str,
        selectors: &Selectors,
        query: &[(&str, &str)],
    ) -> Result<reqwest::RequestBuilder, ApiError> {
        let mut request = self
            .http
            .get(&self.collection_url(resource, namespace))
            .map_err(ApiError::Other)?
            .header(reqwest::header::ACCEPT, "application/json");
        let mut parameters: Vec<(&str, &str)> = Vec::new();
        if !selectors.label.is_empty() {
            parameters.push(("labelSelector", &selectors.label));
        }
        if !selectors.field.is_empty() {
            parameters.push(("fieldSelector", &selectors.field));
        }
        parameters.extend_from_slice(query);
        request = request.query(&parameters);
        Ok(request)
    }

    /// Lists every object of `resource` in `namespace` (all namespaces when empty),
    /// page by page. Fails when a page exceeds `max_response_bytes` or the objects
    /// exceed `max_objects`.
    pub(crate) async fn list<T: Object>(
        &self,
        resource: Resource,
        namespace: &str,
        selectors: &Selectors,
        max_objects: usize,
    ) -> Result<Listed<T>, ApiError> {
        let what = format!("list {}", Self::describe(resource, namespace));
        let mut items = Vec::new();
        let mut continue_token = String::new();
        loop {
            let mut query = vec![("limit", LIST_PAGE_SIZE)];
            if !continue_token.is_empty() {
                query.push(("continue", continue_token.as_str()));
            }
            let request = self
                .request(resource, namespace, selectors, &query)?
                .timeout(Duration::from_secs(60));
            let response = request
                .send()
                .await
                .map_err(|error| ApiError::Other(format!("{what}: {}", error_chain(&error))))?;
            let status = response.status();
            let body = read_bounded(response, self.max_response_bytes, &what).await?;
            if !status.is_success() {
                // 410 here is an expired `continue` token: list again, after the
                // backoff like any other error, so it cannot loop hot.
                return Err(match status_error(&what, status.as_u16(), &body) {
                    ApiError::Gone(what) => {
                        ApiError::Other(format!("{what}: continue token expired (410 Gone)"))
                    }
                    other => other,
                });
            }
            let page: ListResponse<T> = serde_json::from_slice(&body)
                .map_err(|error| ApiError::Other(format!("{what}: invalid JSON: {error}")))?;
            items.extend(page.items.unwrap_or_default());
            if items.len() > max_objects {
                return Err(ApiError::Other(format!(
                    "{what}: more than {max_objects} objects (the limit of weft's Kubernetes discovery)"
                )));
            }
            let metadata = page.metadata.unwrap_or(ListMeta {
                resource_version: None,
                continue_token: None,
            });
            continue_token = metadata.continue_token.unwrap_or_default();
            if continue_token.is_empty() {
                return Ok(Listed {
                    items,
                    resource_version: metadata.resource_version.unwrap_or_default(),
                });
            }
        }
    }

    /// Starts a watch of `resource` from `resource_version`.
    pub(crate) async fn watch<T: Object>(
        &self,
        resource: Resource,
        namespace: &str,
        selectors: &Selectors,
        resource_version: &str,
    ) -> Result<WatchStream<T>, ApiError> {
        let what = format!("watch {}", Self::describe(resource, namespace));
        let timeout_seconds = self.watch_timeout.as_secs().max(1).to_string();
        let request = self.request(
            resource,
            namespace,
            selectors,
            &[
                ("watch", "true"),
                ("resourceVersion", resource_version),
                ("allowWatchBookmarks", "true"),
                ("timeoutSeconds", &timeout_seconds),
            ],
        )?;
        let response = tokio::time::timeout(Duration::from_secs(60), request.send())
            .await
            .map_err(|_| ApiError::Other(format!("{what}: no response within 60s")))?
            .map_err(|error| ApiError::Other(format!("{what}: {}", error_chain(&error))))?;
        let status = response.status();
        if !status.is_success() {
            let body = read_bounded(response, self.max_response_bytes, &what).await?;
            return Err(status_error(&what, status.as_u16(), &body));
        }
        Ok(WatchStream {
            response,
            buffer: Vec::new(),
            what,
            max_event_bytes: self.max_response_bytes,
            // The server closes the watch after `timeoutSeconds`; bookmarks arrive
            // about once a minute, so a longer silence means a dead connection.
            idle_timeout: self.watch_timeout + Duration::from_secs(90),
            marker: std::marker::PhantomData,
        })
    }
}

/// The events of one watch response.
pub(crate) struct WatchStream<T> {
    response: reqwest::Response,
    buffer: Vec<u8>,
    what: String,
    max_event_bytes: usize,
    idle_timeout: Duration,
    marker: std::marker::PhantomData<fn() -> T>,
}

impl<T: Object> WatchStream<T> {
    /// The next event, or `None` when the server ended the watch cleanly.
    pub(crate) async fn next(&mut self) -> Result<Option<WatchEvent<T>>, ApiError> {
        loop {
            if let Some(end) = self.buffer.iter().position(|&byte| byte == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                let line = line.trim_ascii();
                if line.is_empty() {
                    continue;
                }
                return self.decode(line).map(Some);
            }
            if self.buffer.len() > self.max_event_bytes {
                return Err(ApiError::Other(format!(
                    "{}: an event exceeds {} bytes (the limit of weft's Kubernetes discovery)",
                    self.what, self.max_event_bytes
                )));
            }
            let chunk = tokio::time::timeout(self.idle_timeout, self.response.chunk())
                .await
                .map_err(|_| {
                    ApiError::Other(format!(
                        "{}: nothing received for {:?}",
                        self.what, self.idle_timeout
                    ))
                })?
                .map_err(|error| ApiError::Other(format!("{}: {error}", self.what)))?;
            match chunk {
                Some(bytes) => self.buffer.extend_from_slice(&bytes),
                None => {
                    let rest = std::mem::take(&mut self.buffer);
                    let rest = rest.trim_ascii();
                    if rest.is_empty() {
                        return Ok(None);
                    }
                    return self.decode(rest).map(Some);
                }
            }
        }
    }

    fn decode(&self, line: &[u8]) -> Result<WatchEvent<T>, ApiError> {
        let invalid = |error: serde_json::Error| {
            ApiError::Other(format!("{}: invalid watch event: {error}", self.what))
        };
        let event: RawWatchEvent = serde_json::from_slice(line).map_err(invalid)?;
        match event.kind.as_str() {
            "ADDED" | "MODIFIED" => Ok(WatchEvent::Upsert(
                serde_json::from_value(event.object).map_err(invalid)?,
            )),
            "DELETED" => Ok(WatchEvent::Deleted(
                serde_json::from_value(event.object).map_err(invalid)?,
            )),
            "BOOKMARK" => {
                let object: BookmarkObject =
                    serde_json::from_value(event.object).map_err(invalid)?;
                Ok(WatchEvent::Bookmark(
                    object.metadata.resource_version.unwrap_or_default(),
                ))
            }
            "ERROR" => {
                let status: Status = serde_json::from_value(event.object).unwrap_or_default();
                if status.code == Some(410) {
                    return Err(ApiError::Gone(self.what.clone()));
                }
                Err(ApiError::Other(format!(
                    "{}: error event (code {}): {}",
                    self.what,
                    status.code.unwrap_or_default(),
                    status.message.unwrap_or_default()
                )))
            }
            other => Err(ApiError::Other(format!(
                "{}: unknown watch event type {other:?}",
                self.what
            ))),
        }
    }
}

/// The body, refused past `limit` bytes.
async fn read_bounded(
    mut response: reqwest::Response,
    limit: usize,
    what: &str,
) -> Result<Vec<u8>, ApiError> {
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(too_large(what, limit));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|error| ApiError::Other(format!("{what}: {error}")))?
    {
        if body.len() + chunk.len() > limit {
            return Err(too_large(what, limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn too_large(what: &str, limit: usize) -> ApiError {
    ApiError::Other(format!(
        "{what}: response exceeds {limit} bytes (the limit of weft's Kubernetes discovery)"
    ))
}

fn status_error(what: &str, status: u16, body: &[u8]) -> ApiError {
    if status == 410 {
        return ApiError::Gone(what.to_owned());
    }
    let message = serde_json::from_slice::<Status>(body)
        .ok()
        .and_then(|status| status.message)
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned());
    ApiError::Other(format!("{what}: HTTP {status}: {message}"))
}
