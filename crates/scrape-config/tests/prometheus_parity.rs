//! Black-box parity with a real Prometheus: the same configuration, file SD file
//! and HTTP SD response are given to the `prometheus` binary and to this crate, and the targets
//! Prometheus lists on `/api/v1/targets` (labels, scrape URL, interval, timeout,
//! discovered labels, dropped targets) must equal the ones computed here.
//!
//! Skipped (passes with a note) when no binary is found: set `WEFT_PROMETHEUS`
//! to its path or put `prometheus` on `PATH` (Debian: `apt-get install
//! prometheus`, 2.42). The configuration avoids the few places where Prometheus
//! 2.x and 3.x differ (targets always carry a port; no discovered `__param_*`;
//! legacy label names; no newlines in values) and the histogram flag labels 3.x
//! adds are left out of the comparison.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use weft_scrape_config::file_sd::{expand_pattern, read_target_groups};
use weft_scrape_config::http_sd::parse_response;
use weft_scrape_config::target::{
    ALWAYS_SCRAPE_CLASSIC_HISTOGRAMS_LABEL, CONVERT_CLASSIC_HISTOGRAMS_TO_NHCB_LABEL,
    SCRAPE_NATIVE_HISTOGRAMS_LABEL, targets_from_group,
};
use weft_scrape_config::{Config, Labels, TargetOutcome};

const CONFIG: &str = r#"
global:
  scrape_interval: 1h
  scrape_timeout: 10s
scrape_configs:
  - job_name: spans
    metrics_path: /traces
    params:
      module: [spans, more]
    file_sd_configs:
      - files: ['sd/*.json']
    relabel_configs:
      - {source_labels: [env], regex: staging, action: drop}
      - {source_labels: [__address__], target_label: __tmp_hash, modulus: 7, action: hashmod}
      - {source_labels: [__tmp_hash], target_label: hash_bucket}
      - {source_labels: [__tmp_hash], regex: '3', action: drop}
      - {source_labels: [tags], regex: '(?:.+,|^)path:(/[^,]+).*', target_label: __metrics_path__}
      - {source_labels: [tags], regex: '(?:.+,|^)label:([^=]+)=([^,]+).*', target_label: '${1}', replacement: '${2}'}
      - {source_labels: [digits], regex: '\d+', target_label: all_digits, replacement: 'yes'}
      - {source_labels: [word], regex: '\w+', target_label: all_word, replacement: 'yes'}
      - {source_labels: [word], regex: '(\W+)', target_label: non_word, replacement: '[$1]'}
      - {source_labels: [boundary], regex: '.*\bx', target_label: has_boundary, replacement: 'yes'}
      - {source_labels: [space], regex: 'a\sb', target_label: has_space, replacement: 'yes'}
      - {regex: '__meta_(file.*)', action: labelmap, replacement: 'meta_$1'}
      - {source_labels: [team], action: lowercase, target_label: team_lower}
      - {source_labels: [team], action: uppercase, target_label: team_upper}
      - {regex: 'tags|digits', action: labeldrop}
      - {source_labels: [__address__], regex: '(.*):(\d+)', target_label: port, replacement: '$2'}
      - {source_labels: [port, env], separator: '-', target_label: port_env}
      - {source_labels: [missing, env], target_label: joined}
      - {target_label: __param_extra, replacement: 'a b&c/é'}
      - {source_labels: [env], regex: 'p(r)(?P<rest>.*)', target_label: 'env_$1', replacement: '${rest}-$2-$9'}
  - job_name: https-equal
    scheme: https
    scrape_interval: 30s
    scrape_timeout: 5s
    file_sd_configs:
      - files: ['sd/*.json']
    relabel_configs:
      - {source_labels: [__address__], regex: '.*:(\d+)', target_label: __tmp_port}
      - {source_labels: [__tmp_port], regex: '1900[1-3]', action: keep}
      - {source_labels: [__tmp_port], target_label: __tmp_port_copy}
      - {source_labels: [__tmp_port], action: keepequal, target_label: __tmp_port_copy}
      - {source_labels: [env], action: dropequal, target_label: team}
      - {source_labels: [__tmp_port], regex: '19003', target_label: __scrape_timeout__, replacement: 1m}
      - {regex: '(env|team|job|__.*)', action: labelkeep}
  - job_name: http-sd
    http_sd_configs:
      - url: http://127.0.0.1:HTTP_SD_PORT/targets
    relabel_configs:
      - {source_labels: [__meta_url], regex: '.*/(\w+)', target_label: sd_path}
      - {source_labels: [rack], regex: 'r2', action: drop}
  - job_name: static
    static_configs:
      - targets: ['127.0.0.1:19010', 'localhost:19011']
        labels: {a: b}
    relabel_configs:
      - {source_labels: [__address__], regex: 'localhost:.*', target_label: instance, replacement: local}
"#;

const SD_FILE: &str = r#"[
  {"targets": ["127.0.0.1:19001", "127.0.0.1:19002"],
   "labels": {"env": "prod", "tags": "path:/secret,job:some-job,label:foo=bar",
              "digits": "٣4", "word": "é_x", "boundary": "éx", "space": "a\u000bb", "team": "Core Team ß"}},
  {"targets": ["127.0.0.1:19003"], "labels": {"env": "staging", "team": "staging"}},
  {"targets": ["localhost:19004", "127.0.0.1:19005", "[::1]:19006"],
   "labels": {"env": "dev", "digits": "42", "word": "abc_1", "boundary": "a x", "space": "a b"}}
]"#;

const HTTP_SD_BODY: &str = r#"[
  {"targets": ["127.0.0.1:19020", "127.0.0.1:19021"], "labels": {"rack": "r1"}},
  {"targets": ["127.0.0.1:19022"], "labels": {"rack": "r2"}}
]"#;

/// Serves `HTTP_SD_BODY` as JSON to every request, forever (the thread ends with
/// the test process).
fn serve_http_sd() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{HTTP_SD_BODY}",
                HTTP_SD_BODY.len()
            );
        }
    });
    port
}

fn prometheus_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("WEFT_PROMETHEUS") {
        return Some(PathBuf::from(path));
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|directory| directory.join("prometheus"))
        .find(|candidate| candidate.is_file())
}

/// Kills the Prometheus this test started when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.0 200")
        .then(|| body.to_owned())
        .or_else(|| head.starts_with("HTTP/1.1 200").then(|| body.to_owned()))
}

fn labels_json(labels: &Labels) -> Value {
    let mut object = serde_json::Map::new();
    for (name, value) in labels.iter() {
        let is_histogram_flag = [
            CONVERT_CLASSIC_HISTOGRAMS_TO_NHCB_LABEL,
            ALWAYS_SCRAPE_CLASSIC_HISTOGRAMS_LABEL,
            SCRAPE_NATIVE_HISTOGRAMS_LABEL,
        ]
        .contains(&name);
        if !is_histogram_flag {
            object.insert(name.to_owned(), Value::String(value.to_owned()));
        }
    }
    Value::Object(object)
}

/// The targets as this crate computes them, in the shape of Prometheus's API.
fn computed_targets(config_file: &Path) -> (BTreeSet<String>, BTreeSet<String>) {
    let config = Config::load_file(config_file).expect("valid config");
    let mut active = BTreeSet::new();
    let mut dropped = BTreeSet::new();
    for job in &config.scrape_configs {
        let mut groups = job.static_configs.clone();
        for http_sd in &job.http_sd_configs {
            groups.extend(
                parse_response(
                    &http_sd.url,
                    200,
                    "application/json",
                    HTTP_SD_BODY.as_bytes(),
                )
                .expect("valid response"),
            );
        }
        for file_sd in &job.file_sd_configs {
            for pattern in &file_sd.files {
                for file in expand_pattern(pattern).expect("pattern expands") {
                    groups.extend(read_target_groups(&file).expect("valid sd file"));
                }
            }
        }
        for group in &groups {
            let (outcomes, failures) = targets_from_group(job, group);
            assert!(failures.is_empty(), "{failures:?}");
            for outcome in outcomes {
                match outcome {
                    TargetOutcome::Active(target) => {
                        active.insert(
                            json!({
                                "scrapePool": job.job_name,
                                "labels": labels_json(&target.public_labels()),
                                "discoveredLabels": labels_json(&target.discovered_labels),
                                "scrapeUrl": target.scrape_url(job),
                                "scrapeInterval": target.scrape_interval.to_string(),
                                "scrapeTimeout": target.scrape_timeout.to_string(),
                            })
                            .to_string(),
                        );
                    }
                    TargetOutcome::Dropped { discovered_labels } => {
                        dropped.insert(labels_json(&discovered_labels).to_string());
                    }
                }
            }
        }
    }
    (active, dropped)
}

/// Prometheus 2.x (2.42 at least) lists wrong `discoveredLabels`:
/// `relabel.Process` built each rule's result into the slice that also holds
/// the pre-relabel labels, so targets that went through a rule that changed
/// them show partly relabeled values. For 2.x the comparison leaves the field
/// out of active targets and compares only the number of dropped targets.
fn without_active_discovered_labels(targets: &BTreeSet<String>) -> BTreeSet<String> {
    targets
        .iter()
        .map(|target| {
            let mut value: Value = serde_json::from_str(target).unwrap_or(Value::Null);
            if let Some(object) = value.as_object_mut() {
                object.remove("discoveredLabels");
            }
            value.to_string()
        })
        .collect()
}

fn prometheus_targets(api: &Value) -> (BTreeSet<String>, BTreeSet<String>) {
    let field = |target: &Value, name: &str| target.get(name).cloned().unwrap_or(Value::Null);
    let active = api["data"]["activeTargets"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|target| {
            json!({
                "scrapePool": field(target, "scrapePool"),
                "labels": field(target, "labels"),
                "discoveredLabels": field(target, "discoveredLabels"),
                "scrapeUrl": field(target, "scrapeUrl"),
                "scrapeInterval": field(target, "scrapeInterval"),
                "scrapeTimeout": field(target, "scrapeTimeout"),
            })
            .to_string()
        })
        .collect();
    let dropped = api["data"]["droppedTargets"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|target| field(target, "discoveredLabels").to_string())
        .collect();
    (active, dropped)
}

#[test]
fn targets_match_a_real_prometheus() {
    let Some(binary) = prometheus_binary() else {
        // tests/run.sh installs Debian's prometheus and runs this test again with the
        // variable set, so the full suite never skips it.
        assert!(
            std::env::var_os("WEFT_PROMETHEUS_REQUIRED").is_none(),
            "WEFT_PROMETHEUS_REQUIRED is set but no prometheus binary was found"
        );
        eprintln!("skipped: no prometheus binary (set WEFT_PROMETHEUS or install prometheus)");
        return;
    };
    let directory =
        std::env::temp_dir().join(format!("weft-prometheus-parity-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(directory.join("sd")).expect("temp dir");
    std::fs::write(directory.join("sd/targets.json"), SD_FILE).expect("write sd file");
    let config_file = directory.join("prometheus.yml");
    let http_sd_port = serve_http_sd();
    std::fs::write(
        &config_file,
        CONFIG.replace("HTTP_SD_PORT", &http_sd_port.to_string()),
    )
    .expect("write config");

    let (expected_active, expected_dropped) = computed_targets(&config_file);
    assert_eq!(
        (expected_active.len(), expected_dropped.len()),
        (10, 7),
        "the scenario itself changed: {expected_active:#?} {expected_dropped:#?}"
    );

    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port();
    let child = Command::new(&binary)
        .arg(format!("--config.file={}", config_file.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(format!(
            "--storage.tsdb.path={}",
            directory.join("data").display()
        ))
        .current_dir(&directory)
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::create(directory.join("prometheus.log")).expect("log file"),
        ))
        .spawn()
        .expect("prometheus starts");
    let _running = Running(child);

    // Discovery and the scrape manager's 5s sync take a few seconds.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = (BTreeSet::new(), BTreeSet::new());
    while Instant::now() < deadline {
        if let Some(body) = http_get(port, "/api/v1/targets?state=any")
            && let Ok(api) = serde_json::from_str::<Value>(&body)
        {
            last = prometheus_targets(&api);
            if last.0.len() + last.1.len() >= expected_active.len() + expected_dropped.len() {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let log = std::fs::read_to_string(directory.join("prometheus.log")).unwrap_or_default();
    let (mut active, dropped) = last;
    let version = http_get(port, "/api/v1/status/buildinfo")
        .and_then(|body| serde_json::from_str::<Value>(&body).ok())
        .and_then(|info| info["data"]["version"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let mut expected_active = expected_active;
    let buggy_discovered_labels = version.starts_with("2.");
    if buggy_discovered_labels {
        active = without_active_discovered_labels(&active);
        expected_active = without_active_discovered_labels(&expected_active);
    }
    let only_prometheus: Vec<&String> = active.difference(&expected_active).collect();
    let only_weft: Vec<&String> = expected_active.difference(&active).collect();
    assert!(
        only_prometheus.is_empty() && only_weft.is_empty(),
        "active targets differ\nonly Prometheus: {only_prometheus:#?}\nonly weft: {only_weft:#?}\nlog tail: {}",
        log.lines().rev().take(10).collect::<Vec<_>>().join("\n")
    );
    if buggy_discovered_labels {
        assert_eq!(dropped.len(), expected_dropped.len(), "dropped targets");
        let _ = std::fs::remove_dir_all(&directory);
        return;
    }
    let only_prometheus: Vec<&String> = dropped.difference(&expected_dropped).collect();
    let only_weft: Vec<&String> = expected_dropped.difference(&dropped).collect();
    assert!(
        only_prometheus.is_empty() && only_weft.is_empty(),
        "dropped targets differ\nonly Prometheus: {only_prometheus:#?}\nonly weft: {only_weft:#?}"
    );
    let _ = std::fs::remove_dir_all(&directory);
}
