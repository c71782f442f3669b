//! The whole service against a small Loki push server: rotation by rename and by
//! copytruncate while running, a restart with rotations while stopped, retries on
//! 5xx and drops on 4xx.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use support::{append, push_server, wait_for};
use weft_tail::{TailConfig, TailService};

fn config(directory: &Path, url: &str, extra_stages: &str) -> TailConfig {
    config_for(directory, url, extra_stages, "*.log")
}

/// [`config`] tailing `glob` (in `directory`) instead of `*.log`.
fn config_for(directory: &Path, url: &str, extra_stages: &str, glob: &str) -> TailConfig {
    let yaml = format!(
        r#"
positions: {{filename: {positions}, sync_period: 100ms}}
clients:
  - url: {url}
    tenant_id: team-a
    batchwait: 50ms
    batchsize: 4096
    backoff_config: {{min_period: 20ms, max_period: 100ms}}
    external_labels: {{host: test}}
target_config: {{sync_period: 100ms}}
file_watch_config: {{min_poll_frequency: 20ms, max_poll_frequency: 50ms}}
rotated_file_idle: 300ms
scrape_configs:
  - job_name: app
    static_configs:
      - targets: [localhost]
        labels: {{job: app, __path__: "{logs}/{glob}", __path_exclude__: "{logs}/skip*.log"}}
    relabel_configs:
      - source_labels: [job]
        target_label: team
        replacement: core-$1
    pipeline_stages: {extra_stages}
"#,
        positions = directory.join("positions.json").display(),
        logs = directory.display(),
    );
    serde_saphyr::from_str(&yaml).expect("config parses")
}

fn counts(lines: &[(String, String)]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for (_, line) in lines {
        *counts.entry(line.clone()).or_insert(0) += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_by_rename_and_copytruncate_loses_and_repeats_nothing() {
    let directory = tempfile::tempdir().expect("tempdir");
    let server = push_server().await;
    let service = TailService::start(config(directory.path(), &server.url, "[]"))
        .await
        .expect("starts")
        .expect("enabled");
    let renamed = directory.path().join("renamed.log");
    let copied = directory.path().join("copied.log");
    // A file is found within a sync period; one created and rotated away before it
    // was ever read cannot be known (rotation here is as fast as the test allows).
    append(&renamed, ["renamed start".to_owned()]);
    append(&copied, ["copied start".to_owned()]);
    let mut expected = vec!["renamed start".to_owned(), "copied start".to_owned()];
    tokio::time::sleep(Duration::from_millis(300)).await;
    append(
        &directory.path().join("skip-me.log"),
        ["excluded".to_owned()],
    );
    append(
        &directory.path().join("old.log.gz"),
        ["compressed".to_owned()],
    );
    for round in 0..4 {
        let batch: Vec<String> = (0..200)
            .map(|index| format!("renamed {round} {index:04}"))
            .collect();
        append(&renamed, batch.clone());
        expected.extend(batch);
        let batch: Vec<String> = (0..200)
            .map(|index| format!("copied {round} {index:04}"))
            .collect();
        append(&copied, batch.clone());
        expected.extend(batch);
        tokio::time::sleep(Duration::from_millis(150)).await;
        // Rename: the writer moves on to a new file at once.
        std::fs::rename(
            &renamed,
            directory.path().join(format!("renamed.log.{round}")),
        )
        .expect("rename");
        // copytruncate: the file is copied and truncated in place.
        std::fs::copy(
            &copied,
            directory.path().join(format!("copied.log.{round}")),
        )
        .expect("copy");
        std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&copied)
            .expect("truncate");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let lines = wait_for(&server, expected.len()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let lines_after = server.received.lock().expect("lock").lines.clone();
    service.shutdown().await;
    let counts = counts(&lines_after);
    let missing: Vec<_> = expected
        .iter()
        .filter(|line| !counts.contains_key(*line))
        .collect();
    assert!(
        missing.is_empty(),
        "{} lines missing, first {:?}",
        missing.len(),
        missing.first()
    );
    let repeated: Vec<_> = counts.iter().filter(|(_, count)| **count > 1).collect();
    assert!(repeated.is_empty(), "repeated: {:?}", repeated.first());
    assert_eq!(
        lines_after.len(),
        expected.len(),
        "{} then {}",
        lines.len(),
        lines_after.len()
    );
    let (labels, _) = &lines_after[0];
    assert!(
        labels.contains(r#"host="test""#) && labels.contains(r#"team="core-app""#),
        "{labels}"
    );
    assert!(labels.contains("filename="), "{labels}");
    let received = server.received.lock().expect("lock");
    assert!(received.tenants.iter().all(|tenant| tenant == "team-a"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_resumes_from_acknowledged_positions_across_rotations() {
    let directory = tempfile::tempdir().expect("tempdir");
    let server = push_server().await;
    let log = directory.path().join("app.log");
    append(&log, (0..300).map(|index| format!("first {index}")));
    let service = TailService::start(config(directory.path(), &server.url, "[]"))
        .await
        .expect("starts")
        .expect("enabled");
    assert_eq!(wait_for(&server, 300).await.len(), 300);
    service.shutdown().await;
    // While stopped: more lines, then a rename rotation, then a new file.
    append(&log, (0..100).map(|index| format!("second {index}")));
    std::fs::rename(&log, directory.path().join("app.log.1")).expect("rename");
    append(&log, (0..50).map(|index| format!("third {index}")));
    let service = TailService::start(config(directory.path(), &server.url, "[]"))
        .await
        .expect("starts")
        .expect("enabled");
    let lines = wait_for(&server, 450).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    service.shutdown().await;
    let all = server.received.lock().expect("lock").lines.clone();
    assert_eq!(lines.len(), 450);
    assert_eq!(all.len(), 450, "nothing read twice");
    assert!(counts(&all).values().all(|count| *count == 1));
}

/// A position stored while its file was empty has an empty fingerprint. Reopened
/// once the file has grown, the entry must take the file's fingerprint, or the copy
/// copytruncate makes (itself a target here) is not recognised and read again whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_position_stored_for_an_empty_file_still_recognises_its_copy() {
    let directory = tempfile::tempdir().expect("tempdir");
    let server = push_server().await;
    let log = directory.path().join("svc.log");
    std::fs::write(&log, "").expect("empty file");
    let settings = || config_for(directory.path(), &server.url, "[]", "*.log*");
    let service = TailService::start(settings())
        .await
        .expect("starts")
        .expect("enabled");
    let positions = directory.path().join("positions.json");
    for _ in 0..100 {
        if std::fs::read_to_string(&positions).is_ok_and(|text| text.contains("svc.log")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    service.shutdown().await;
    // While stopped the file grows; after the restart it is copied and truncated.
    append(
        &log,
        (0..300).map(|index| format!("before the copy {index}")),
    );
    let service = TailService::start(settings())
        .await
        .expect("starts")
        .expect("enabled");
    assert_eq!(wait_for(&server, 300).await.len(), 300);
    std::fs::copy(&log, directory.path().join("svc.log.1")).expect("copy");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .expect("open")
        .set_len(0)
        .expect("truncate");
    append(&log, (0..10).map(|index| format!("after the copy {index}")));
    assert_eq!(wait_for(&server, 310).await.len(), 310);
    // Long enough for the copy to be found and, without the fix, read again.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    service.shutdown().await;
    let all = server.received.lock().expect("lock").lines.clone();
    assert_eq!(all.len(), 310, "nothing read twice");
    assert!(counts(&all).values().all(|count| *count == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried_and_client_errors_dropped() {
    let directory = tempfile::tempdir().expect("tempdir");
    let server = push_server().await;
    server.failures.store(3, Ordering::SeqCst);
    let log = directory.path().join("app.log");
    append(&log, (0..10).map(|index| format!("retried {index}")));
    let service = TailService::start(config(
        directory.path(),
        &server.url,
        "[{drop: {expression: '.*debug.*'}}, {regex: {expression: '^(?P<word>\\w+)'}}, {labels: {word: }}]",
    ))
    .await
    .expect("starts")
    .expect("enabled");
    let lines = wait_for(&server, 10).await;
    assert_eq!(lines.len(), 10, "delivered after three 500s");
    assert!(lines[0].0.contains(r#"word="retried""#), "{}", lines[0].0);
    // A 400 drops the batch; the next one goes through.
    server.failure_status.store(400, Ordering::SeqCst);
    server.failures.store(1, Ordering::SeqCst);
    append(&log, ["refused 1".to_owned(), "a debug line".to_owned()]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    append(&log, ["accepted 1".to_owned()]);
    let lines = wait_for(&server, 11).await;
    service.shutdown().await;
    let texts: Vec<_> = lines.iter().map(|(_, line)| line.as_str()).collect();
    assert!(texts.contains(&"accepted 1"));
    assert!(!texts.contains(&"refused 1"));
    assert!(!texts.contains(&"a debug line"));
}

#[tokio::test]
async fn invalid_configs_name_the_key() {
    let directory = tempfile::tempdir().expect("tempdir");
    let mut bad_url = config(directory.path(), "ftp://x", "[]");
    let error = bad_url.validate().expect_err("refused").to_string();
    assert!(error.contains("clients[0].url"), "{error}");
    let mut bad_stage = config(directory.path(), "http://x", "[{regex: {expression: '('}}]");
    let error = bad_stage.validate().expect_err("refused").to_string();
    assert!(
        error.contains("scrape_configs[0].pipeline_stages[0]"),
        "{error}"
    );
}

#[tokio::test]
async fn a_full_client_buffer_stops_the_readers_instead_of_dropping() {
    use weft_tail::client::Clients;
    use weft_tail::config::ClientConfig;
    use weft_tail::positions::Positions;
    use weft_tail::record::{Item, Record};

    let directory = tempfile::tempdir().expect("tempdir");
    let positions =
        Arc::new(Positions::load(&directory.path().join("p.json"), 1).expect("positions"));
    // Nothing listens there: every push fails and is retried.
    let unused = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address");
    let client = ClientConfig {
        url: format!("http://{unused}/loki/api/v1/push"),
        batchwait: Duration::from_millis(10),
        max_buffered_bytes: 1_000,
        ..ClientConfig::default()
    };
    let (clients, shipper) = Clients::start(&[client], positions).expect("clients");
    let item = |line: &str| {
        let record = Record {
            labels: Arc::new(BTreeMap::from([(String::from("job"), String::from("x"))])),
            timestamp_unix_nanos: 1,
            line: line.to_owned(),
            structured_metadata: Vec::new(),
        };
        Item {
            entry: 0,
            offset: 1,
            cost: Item::cost_of(&record),
            record: Some(Arc::new(record)),
        }
    };
    let line = "x".repeat(400);
    shipper.send(item(&line)).await.expect("first fits");
    shipper.send(item(&line)).await.expect("second fits");
    let third = tokio::time::timeout(Duration::from_millis(300), shipper.send(item(&line))).await;
    assert!(third.is_err(), "the third line waits for room");
    drop(shipper);
    clients.shutdown(Duration::from_millis(50)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_come_from_file_sd_and_are_relabeled() {
    let directory = tempfile::tempdir().expect("tempdir");
    let server = push_server().await;
    let logs = directory.path().join("logs");
    std::fs::create_dir(&logs).expect("mkdir");
    let targets = directory.path().join("targets.yml");
    std::fs::write(
        &targets,
        format!(
            "- targets: [localhost]\n  labels: {{__path__: '{}/*.log', service: checkout, drop_me: 'yes'}}\n- targets: [localhost]\n  labels: {{__path__: '{}/*.txt', service: ignored}}\n",
            logs.display(),
            logs.display()
        ),
    )
    .expect("targets");
    let yaml = format!(
        r#"
positions: {{filename: {positions}}}
clients: [{{url: "{url}", batchwait: 20ms}}]
target_config: {{sync_period: 50ms}}
file_watch_config: {{min_poll_frequency: 20ms, max_poll_frequency: 20ms}}
scrape_configs:
  - job_name: sd
    file_sd_configs: [{{files: ["{targets}"]}}]
    relabel_configs:
      - {{source_labels: [service], regex: ignored, action: drop}}
      - {{regex: drop_me, action: labeldrop}}
"#,
        positions = directory.path().join("positions.json").display(),
        url = server.url,
        targets = targets.display(),
    );
    let config: TailConfig = serde_saphyr::from_str(&yaml).expect("config");
    append(&logs.join("a.log"), ["from sd".to_owned()]);
    append(&logs.join("b.txt"), ["dropped by relabeling".to_owned()]);
    let service = TailService::start(config)
        .await
        .expect("starts")
        .expect("enabled");
    let lines = wait_for(&server, 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    service.shutdown().await;
    let all = server.received.lock().expect("lock").lines.clone();
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(lines[0].1, "from sd");
    assert!(
        lines[0].0.contains(r#"service="checkout""#),
        "{}",
        lines[0].0
    );
    assert!(!lines[0].0.contains("drop_me"), "{}", lines[0].0);
}
