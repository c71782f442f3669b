//! Log targets from Kubernetes discovery: pod list and watch responses recorded from a
//! real API server (weft-scraper's fixtures) come from a fake API server; Promtail's
//! pod recipe builds each container's `__path__` from `__meta_kubernetes_pod_uid` and
//! `__meta_kubernetes_pod_container_name`; a pod that gets an IP in the watch starts
//! being tailed and stops when it is deleted.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use support::{PushServer, append, push_server, wait_for};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use weft_tail::{TailConfig, TailService};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../scraper/tests/fixtures/kubernetes"
);

fn fixture(name: &str) -> String {
    let path = format!("{FIXTURES}/{name}");
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
}

/// Answers pod lists with the recorded list and holds pod watches open, sending them
/// the lines given to `watch_lines` (chunked, as the API server streams events).
struct FakeKubeApi {
    url: String,
    watch_lines: broadcast::Sender<String>,
    open_watches: Arc<AtomicUsize>,
}

async fn fake_kube_api(pods_list: String) -> FakeKubeApi {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let (watch_lines, _) = broadcast::channel(64);
    let open_watches = Arc::new(AtomicUsize::new(0));
    let (lines, watches) = (watch_lines.clone(), Arc::clone(&open_watches));
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(serve(
                socket,
                pods_list.clone(),
                lines.clone(),
                Arc::clone(&watches),
            ));
        }
    });
    FakeKubeApi {
        url: format!("http://{address}"),
        watch_lines,
        open_watches,
    }
}

async fn serve(
    mut socket: TcpStream,
    pods_list: String,
    lines: broadcast::Sender<String>,
    open_watches: Arc<AtomicUsize>,
) {
    let mut buffer = Vec::new();
    loop {
        let header_end = loop {
            if let Some(end) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
                break end + 4;
            }
            let mut chunk = [0u8; 4096];
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(read) => buffer.extend_from_slice(&chunk[..read]),
            }
        };
        let head = String::from_utf8_lossy(&buffer[..header_end]).into_owned();
        buffer.drain(..header_end);
        let target = head
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        if !target.starts_with("/api/v1/pods") {
            let answer = "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n";
            if socket.write_all(answer.as_bytes()).await.is_err() {
                return;
            }
            continue;
        }
        if !target.contains("watch=true") {
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{pods_list}",
                pods_list.len()
            );
            if socket.write_all(answer.as_bytes()).await.is_err() {
                return;
            }
            continue;
        }
        let mut receiver = lines.subscribe();
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
        if socket.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        open_watches.fetch_add(1, Ordering::SeqCst);
        while let Ok(line) = receiver.recv().await {
            let chunk = format!("{:x}\r\n{line}\n\r\n", line.len() + 1);
            if socket.write_all(chunk.as_bytes()).await.is_err() {
                break;
            }
        }
        open_watches.fetch_sub(1, Ordering::SeqCst);
        return;
    }
}

async fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn received_lines(server: &PushServer) -> Vec<(String, String)> {
    server.received.lock().expect("lock").lines.clone()
}

fn labels_of<'a>(lines: &'a [(String, String)], line: &str) -> &'a str {
    lines
        .iter()
        .find(|(_, text)| text == line)
        .map(|(labels, _)| labels.as_str())
        .unwrap_or_else(|| panic!("{line:?} not received: {lines:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_discovered_on_the_api_server_are_tailed_by_promtails_recipe() {
    let directory = tempfile::tempdir().expect("tempdir");
    let pods = directory.path().join("pods");
    // /var/log/pods/<namespace>_<pod>_<uid>/<container>/0.log, uids of the fixtures.
    let log_of = |pod: &str, uid: &str, container: &str| {
        let container_directory = pods.join(format!("{pod}_{uid}")).join(container);
        std::fs::create_dir_all(&container_directory).expect("mkdir");
        container_directory.join("0.log")
    };
    let api_0 = log_of("other_api-0", "048e3b13-ed41-4323-81ec-071b862c0305", "api");
    let web_0_app = log_of("shop_web-0", "83374d0d-636c-4460-8078-0368f7123d93", "app");
    let web_0_sidecar = log_of(
        "shop_web-0",
        "83374d0d-636c-4460-8078-0368f7123d93",
        "sidecar",
    );
    let web_2 = log_of("shop_web-2", "648ed5bd-bed0-4a05-8bed-e78c393311a9", "app");
    append(&api_0, [String::from("api-0 line")]);
    append(&web_0_app, [String::from("web-0 app line")]);
    append(&web_0_sidecar, [String::from("web-0 sidecar line")]);
    append(&web_2, [String::from("web-2 line 1")]);

    let api = fake_kube_api(fixture("pods-list.json")).await;
    let server = push_server().await;
    let yaml = format!(
        r#"
positions: {{filename: {positions}}}
clients: [{{url: "{url}", batchwait: 20ms}}]
target_config: {{sync_period: 1h}}
file_watch_config: {{min_poll_frequency: 20ms, max_poll_frequency: 20ms}}
scrape_configs:
  - job_name: kubernetes-pods
    kubernetes_sd_configs: [{{role: pod, api_server: "{api_server}"}}]
    relabel_configs:
      - source_labels: [__meta_kubernetes_pod_uid, __meta_kubernetes_pod_container_name]
        separator: /
        target_label: __path__
        replacement: {pods}/*$1/*.log
      - {{source_labels: [__meta_kubernetes_namespace], target_label: namespace}}
      - {{source_labels: [__meta_kubernetes_pod_name], target_label: pod}}
      - {{source_labels: [__meta_kubernetes_pod_container_name], target_label: container}}
"#,
        positions = directory.path().join("positions.json").display(),
        url = server.url,
        api_server = api.url,
        pods = pods.display(),
    );
    let config: TailConfig = serde_saphyr::from_str(&yaml).expect("config");
    let service = TailService::start(config)
        .await
        .expect("starts")
        .expect("enabled");

    // The sync period is an hour: every target below comes with a publication of
    // discovery.
    let lines = wait_for(&server, 3).await;
    let api_labels = labels_of(&lines, "api-0 line");
    for label in [
        r#"namespace="other""#,
        r#"pod="api-0""#,
        r#"container="api""#,
    ] {
        assert!(api_labels.contains(label), "{api_labels}");
    }
    assert!(!api_labels.contains("__meta"), "{api_labels}");
    assert!(labels_of(&lines, "web-0 sidecar line").contains(r#"container="sidecar""#));
    assert!(labels_of(&lines, "web-0 app line").contains(r#"pod="web-0""#));

    // The recorded watch: web-2 is added without an IP (no target yet), gets one,
    // is relabelled, then deleted.
    eventually("the pod watch", || {
        api.open_watches.load(Ordering::SeqCst) > 0
    })
    .await;
    let watch = fixture("shop-pods-watch.jsonl");
    let watch_lines: Vec<&str> = watch.lines().collect();
    api.watch_lines
        .send(watch_lines[0].to_owned())
        .expect("sent");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(received_lines(&server).len(), 3, "web-2 has no IP yet");
    api.watch_lines
        .send(watch_lines[1].to_owned())
        .expect("sent");
    let lines = wait_for(&server, 4).await;
    assert!(labels_of(&lines, "web-2 line 1").contains(r#"pod="web-2""#));

    for line in &watch_lines[2..] {
        api.watch_lines.send((*line).to_owned()).expect("sent");
    }
    // Give the deletion time to reach the sync, then write to both pods.
    tokio::time::sleep(Duration::from_millis(300)).await;
    append(
        &web_2,
        [String::from("web-2 line 2, after its pod was deleted")],
    );
    append(&web_0_app, [String::from("web-0 app line 2")]);
    let lines = wait_for(&server, 5).await;
    labels_of(&lines, "web-0 app line 2");
    tokio::time::sleep(Duration::from_millis(300)).await;
    service.shutdown().await;
    let texts: Vec<String> = received_lines(&server)
        .into_iter()
        .map(|(_, line)| line)
        .collect();
    assert_eq!(texts.len(), 5, "{texts:?}");
    assert!(!texts.iter().any(|line| line.starts_with("web-2 line 2")));
}
