//! A fake Kubernetes API server on loopback: serves list responses set by the test
//! (recorded from a real API server), and holds watches open so the test can push
//! watch event lines into them. Records every request.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;

/// One request the fake received.
#[derive(Clone, Debug)]
pub struct KubeRequest {
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub authorization: Option<String>,
}

impl KubeRequest {
    pub fn is_watch(&self) -> bool {
        self.query.get("watch").map(String::as_str) == Some("true")
    }
}

#[derive(Default)]
struct FakeState {
    lists: HashMap<String, String>,
    failing_watches: HashMap<String, VecDeque<(u16, String)>>,
    open_watches: HashMap<String, Vec<mpsc::UnboundedSender<Bytes>>>,
    requests: Vec<KubeRequest>,
    required_authorization: Option<String>,
}

/// The fake API server; stops when dropped.
pub struct FakeKubeApi {
    pub address: SocketAddr,
    state: Arc<Mutex<FakeState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeKubeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A recorded fixture from `tests/fixtures/kubernetes/`.
pub fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/kubernetes/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
}

impl FakeKubeApi {
    /// Starts the server. With `required_authorization`, a request whose
    /// `Authorization` header differs gets `401`.
    pub async fn start(required_authorization: Option<&str>) -> Self {
        let state = Arc::new(Mutex::new(FakeState {
            required_authorization: required_authorization.map(str::to_owned),
            ..FakeState::default()
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake API server");
        let address = listener.local_addr().expect("address");
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("fake API server");
        });
        Self {
            address,
            state,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.state.lock().expect("fake state lock")
    }

    /// Serves `body` for lists of `path` (e.g. `/api/v1/pods`).
    pub fn set_list(&self, path: &str, body: String) {
        self.lock().lists.insert(path.to_owned(), body);
    }

    /// The next watch of `path` answers `status` with `body`.
    pub fn fail_next_watch(&self, path: &str, status: u16, body: &str) {
        self.lock()
            .failing_watches
            .entry(path.to_owned())
            .or_default()
            .push_back((status, body.to_owned()));
    }

    /// Sends `line` (one watch event) to every open watch of `path`; returns how
    /// many received it.
    pub fn send_watch_line(&self, path: &str, line: &str) -> usize {
        let mut state = self.lock();
        let watches = state.open_watches.entry(path.to_owned()).or_default();
        watches.retain(|sender| !sender.is_closed());
        let mut bytes = line.trim_end().as_bytes().to_vec();
        bytes.push(b'\n');
        let bytes = Bytes::from(bytes);
        watches
            .iter()
            .filter(|sender| sender.send(bytes.clone()).is_ok())
            .count()
    }

    /// Ends every open watch of `path` as the server does at `timeoutSeconds`.
    pub fn end_watches(&self, path: &str) {
        self.lock().open_watches.remove(path);
    }

    /// Watches of `path` open now.
    pub fn open_watch_count(&self, path: &str) -> usize {
        let mut state = self.lock();
        let watches = state.open_watches.entry(path.to_owned()).or_default();
        watches.retain(|sender| !sender.is_closed());
        watches.len()
    }

    pub fn requests(&self) -> Vec<KubeRequest> {
        self.lock().requests.clone()
    }

    /// The requests for `path`, lists or watches.
    pub fn requests_for(&self, path: &str, watch: bool) -> Vec<KubeRequest> {
        self.requests()
            .into_iter()
            .filter(|request| request.path == path && request.is_watch() == watch)
            .collect()
    }
}

fn status_body(code: u16, reason: &str, message: &str) -> String {
    format!(
        r#"{{"kind":"Status","apiVersion":"v1","metadata":{{}},"status":"Failure","message":"{message}","reason":"{reason}","code":{code}}}"#
    )
}

async fn handle(
    State(state): State<Arc<Mutex<FakeState>>>,
    uri: Uri,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let authorization = headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let request = KubeRequest {
        path: uri.path().to_owned(),
        query,
        authorization: authorization.clone(),
    };
    let mut state = state.lock().expect("fake state lock");
    state.requests.push(request.clone());
    if let Some(required) = &state.required_authorization
        && authorization.as_deref() != Some(required.as_str())
    {
        return json(
            StatusCode::UNAUTHORIZED,
            status_body(401, "Unauthorized", "Unauthorized"),
        );
    }
    if request.is_watch() {
        if let Some((status, body)) = state
            .failing_watches
            .get_mut(&request.path)
            .and_then(VecDeque::pop_front)
        {
            return json(StatusCode::from_u16(status).expect("status"), body);
        }
        let (sender, receiver) = mpsc::unbounded_channel::<Bytes>();
        state
            .open_watches
            .entry(request.path.clone())
            .or_default()
            .push(sender);
        let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
            receiver
                .recv()
                .await
                .map(|bytes| (Ok::<_, std::io::Error>(bytes), receiver))
        });
        return (
            [("content-type", "application/json")],
            Body::from_stream(stream),
        )
            .into_response();
    }
    match state.lists.get(&request.path) {
        Some(body) => json(StatusCode::OK, body.clone()),
        None => json(
            StatusCode::NOT_FOUND,
            status_body(
                404,
                "NotFound",
                "the server could not find the requested resource",
            ),
        ),
    }
}

fn json(status: StatusCode, body: String) -> Response {
    (status, [("content-type", "application/json")], body).into_response()
}
