//! Discovery at run time (file, HTTP and DNS SD) and the targets API on real sockets.

mod support;

use std::net::Ipv4Addr;
use std::time::Duration;

use hickory_proto::rr::Name;
use hickory_proto::rr::RData;
use hickory_proto::rr::rdata::{A, SRV};
use support::dns_server::DnsServer;
use support::{RecordingSink, TestClient, eventually, options, start_scraper};
use weft_scrape_config::Config;
use weft_scraper::Scraper;

fn file_sd_json(targets: &[String]) -> String {
    let targets = targets
        .iter()
        .map(|target| format!("\"{target}\""))
        .collect::<Vec<_>>()
        .join(",");
    format!(r#"[{{"targets":[{targets}],"labels":{{"team":"payments"}}}}]"#)
}

fn scraped_instances(scraper: &Scraper) -> Vec<String> {
    let mut instances: Vec<String> = scraper
        .active_targets()
        .into_iter()
        .map(|view| view.target.labels.get("instance").to_owned())
        .collect();
    instances.sort();
    instances
}

#[tokio::test]
async fn file_sd_changes_are_picked_up() {
    let first = TestClient::start("1", &[]).await;
    let second = TestClient::start("2", &[]).await;
    first.record([1]);
    second.record([2]);
    let directory = tempfile::tempdir().expect("tempdir");
    let sd_directory = directory.path().join("sd");
    std::fs::create_dir_all(&sd_directory).expect("mkdir");
    std::fs::write(sd_directory.join("a.json"), file_sd_json(&[first.target()])).expect("write");
    let text = format!(
        "scrape_configs:\n  - job_name: files\n    scrape_interval: 100ms\n    scrape_timeout: 100ms\n    metrics_path: /traces\n    file_sd_configs:\n      - files: [\"{}/*.json\"]\n        refresh_interval: 1h\n",
        sd_directory.display()
    );
    let config = Config::parse(&text, "test.yml").expect("config");
    let sink = RecordingSink::new();
    let scraper = Scraper::start(
        config,
        sink.clone(),
        options(&directory.path().join("cursors")),
    )
    .await
    .expect("start");
    eventually("first target's span", || sink.span_ids() == vec![1]).await;
    let view = scraper.active_targets().pop().expect("one target");
    assert_eq!(
        view.target.discovered_labels.get("__meta_filepath"),
        format!("{}/a.json", sd_directory.display())
    );
    assert_eq!(view.target.labels.get("team"), "payments");

    // A new file matching the glob, and a change to the existing one.
    std::fs::write(
        sd_directory.join("b.json"),
        file_sd_json(&[second.target()]),
    )
    .expect("write");
    eventually("both targets", || scraped_instances(&scraper).len() == 2).await;
    eventually("second target's span", || sink.span_ids().contains(&2)).await;
    std::fs::write(sd_directory.join("a.json"), "[]").expect("write");
    eventually("first target gone", || {
        scraped_instances(&scraper) == vec![second.target()]
    })
    .await;
    // A broken file keeps its previous targets.
    std::fs::write(sd_directory.join("b.json"), "{ not json").expect("write");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(scraped_instances(&scraper), vec![second.target()]);
    scraper.shutdown().await;
}

#[tokio::test]
async fn http_sd_targets_are_polled() {
    let client = TestClient::start("1", &[]).await;
    client.record([5]);
    let body = std::sync::Arc::new(std::sync::Mutex::new(file_sd_json(&[client.target()])));
    let served = std::sync::Arc::clone(&body);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let router = axum::Router::new().route(
        "/sd",
        axum::routing::get(move || {
            let served = std::sync::Arc::clone(&served);
            async move {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    served.lock().expect("lock").clone(),
                )
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await.expect("serve") });
    let text = format!(
        "scrape_configs:\n  - job_name: http\n    scrape_interval: 100ms\n    scrape_timeout: 100ms\n    metrics_path: /traces\n    http_sd_configs:\n      - url: http://{address}/sd\n        refresh_interval: 100ms\n"
    );
    let config = Config::parse(&text, "test.yml").expect("config");
    let sink = RecordingSink::new();
    let (scraper, _directory) = start_scraper(config, &sink).await;
    eventually("span via HTTP SD", || sink.span_ids() == vec![5]).await;
    let view = scraper.active_targets().pop().expect("target");
    assert_eq!(
        view.target.discovered_labels.get("__meta_url"),
        format!("http://{address}/sd")
    );
    *body.lock().expect("lock") = String::from("[]");
    eventually("target retracted", || scraper.active_targets().is_empty()).await;
    scraper.shutdown().await;
}

#[tokio::test]
async fn dns_sd_resolves_a_and_srv_records() {
    let client = TestClient::start("1", &[]).await;
    client.record([9]);
    let dns = DnsServer::start().await;
    dns.add("app.weft.test.", RData::A(A(Ipv4Addr::LOCALHOST)));
    dns.add(
        "_traces._tcp.weft.test.",
        RData::SRV(SRV::new(
            0,
            0,
            4317,
            Name::from_ascii("node-1.weft.test.").expect("name"),
        )),
    );
    let text = format!(
        "scrape_configs:\n  - job_name: dns-a\n    scrape_interval: 100ms\n    scrape_timeout: 100ms\n    metrics_path: /traces\n    dns_sd_configs:\n      - names: [app.weft.test]\n        type: A\n        port: {}\n        refresh_interval: 100ms\n  - job_name: dns-srv\n    dns_sd_configs:\n      - names: [_traces._tcp.weft.test, missing.weft.test]\n        refresh_interval: 100ms\n",
        client.address.port()
    );
    let config = Config::parse(&text, "test.yml").expect("config");
    let sink = RecordingSink::new();
    let directory = tempfile::tempdir().expect("tempdir");
    let mut options = options(directory.path());
    options.discovery.dns_name_servers = Some(vec![dns.address]);
    let scraper = Scraper::start(config, sink.clone(), options)
        .await
        .expect("start");
    eventually("span via DNS A record", || sink.span_ids() == vec![9]).await;
    eventually("SRV target", || {
        scraper
            .active_targets()
            .iter()
            .any(|view| view.scrape_pool == "dns-srv")
    })
    .await;
    let views = scraper.active_targets();
    let a = views
        .iter()
        .find(|view| view.scrape_pool == "dns-a")
        .expect("A target");
    assert_eq!(a.target.labels.get("instance"), client.target());
    assert_eq!(
        a.target.discovered_labels.get("__meta_dns_name"),
        "app.weft.test"
    );
    let srv = views
        .iter()
        .find(|view| view.scrape_pool == "dns-srv")
        .expect("SRV target");
    assert_eq!(
        srv.target.labels.get("__address__"),
        "node-1.weft.test:4317"
    );
    assert_eq!(
        srv.target.discovered_labels.get("__meta_dns_name"),
        "_traces._tcp.weft.test"
    );
    assert_eq!(
        srv.target
            .discovered_labels
            .get("__meta_dns_srv_record_target"),
        "node-1.weft.test."
    );
    assert_eq!(
        srv.target
            .discovered_labels
            .get("__meta_dns_srv_record_port"),
        "4317"
    );
    assert_eq!(views.len(), 2, "the missing name adds no target");
    scraper.shutdown().await;
}

#[tokio::test]
async fn targets_api_has_prometheus_shape_and_weft_fields() {
    let client = TestClient::start("1", &[]).await;
    client.record([1, 2]);
    let text = format!(
        "scrape_configs:\n  - job_name: api\n    scrape_interval: 100ms\n    scrape_timeout: 50ms\n    metrics_path: /traces\n    static_configs:\n      - targets: [\"{}\", \"drop-me:1\"]\n    relabel_configs:\n      - source_labels: [__address__]\n        regex: drop-me.*\n        action: drop\n",
        client.target()
    );
    let config = Config::parse(&text, "test.yml").expect("config");
    let sink = RecordingSink::new();
    let (scraper, _directory) = start_scraper(config, &sink).await;
    eventually("2 spans", || sink.span_ids().len() == 2).await;
    // The status is recorded just after the sink's answer.
    eventually("target up", || {
        support::status_of(&scraper, &client.target())
            .is_some_and(|status| status.health == weft_scraper::TargetHealth::Up)
    })
    .await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let router = axum::Router::new()
        .route(
            "/api/scrape/targets",
            axum::routing::get(weft_scraper::targets_api::targets_handler),
        )
        .with_state(scraper.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.expect("serve") });
    let http = reqwest::Client::new();
    let get = |query: &'static str| {
        let http = http.clone();
        async move {
            http.get(format!("http://{address}/api/scrape/targets{query}"))
                .send()
                .await
                .expect("request")
                .json::<serde_json::Value>()
                .await
                .expect("json")
        }
    };
    let answer = get("").await;
    assert_eq!(answer["status"], "success");
    let data = answer["data"].as_object().expect("data");
    let mut data_keys: Vec<&String> = data.keys().collect();
    data_keys.sort();
    assert_eq!(data_keys, ["activeTargets", "droppedTargets"]);
    let active = answer["data"]["activeTargets"].as_array().expect("active");
    assert_eq!(active.len(), 1);
    let target = active[0].as_object().expect("target");
    let mut keys: Vec<&str> = target.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "discoveredLabels",
            "droppedSpans",
            "globalUrl",
            "health",
            "labels",
            "lastError",
            "lastScrape",
            "lastScrapeDuration",
            "scrapeInterval",
            "scrapePool",
            "scrapeTimeout",
            "scrapeUrl",
            "spansPerSecond",
        ]
    );
    let instance = client.target();
    assert_eq!(target["health"], "up");
    assert_eq!(target["lastError"], "");
    assert_eq!(target["scrapePool"], "api");
    assert_eq!(target["scrapeUrl"], format!("http://{instance}/traces"));
    assert_eq!(target["globalUrl"], target["scrapeUrl"]);
    assert_eq!(target["scrapeInterval"], "100ms");
    assert_eq!(target["scrapeTimeout"], "50ms");
    assert_eq!(target["droppedSpans"], 0);
    assert!(target["spansPerSecond"].as_f64().is_some());
    assert!(
        target["lastScrapeDuration"]
            .as_f64()
            .is_some_and(|seconds| seconds > 0.0)
    );
    let last_scrape = target["lastScrape"].as_str().expect("lastScrape");
    assert!(
        last_scrape.starts_with("20") && last_scrape.ends_with('Z'),
        "{last_scrape}"
    );
    assert_eq!(
        target["labels"],
        serde_json::json!({"instance": instance, "job": "api"})
    );
    assert_eq!(target["discoveredLabels"]["__address__"], instance);
    assert_eq!(target["discoveredLabels"]["__metrics_path__"], "/traces");
    assert_eq!(target["discoveredLabels"]["job"], "api");
    let dropped = answer["data"]["droppedTargets"]
        .as_array()
        .expect("dropped");
    assert_eq!(dropped.len(), 1);
    assert_eq!(dropped[0]["discoveredLabels"]["__address__"], "drop-me:1");
    assert_eq!(dropped[0].as_object().map(|object| object.len()), Some(1));

    let only_dropped = get("?state=dropped").await;
    assert_eq!(only_dropped["data"]["activeTargets"], serde_json::json!([]));
    assert_eq!(
        only_dropped["data"]["droppedTargets"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let other_pool = get("?scrapePool=nope").await;
    assert_eq!(other_pool["data"]["activeTargets"], serde_json::json!([]));
    assert_eq!(other_pool["data"]["droppedTargets"], serde_json::json!([]));
    scraper.shutdown().await;
}

/// The standalone discovery API (what `weft agent`'s log tailer runs): the union of
/// static, HTTP and DNS groups without a scrape config, a watcher woken by changes,
/// and providers stopped when the `Discovery` is dropped.
#[tokio::test]
async fn discovery_runs_without_a_scrape_config() {
    use weft_scraper::{Discovery, DiscoveryConfig, DiscoveryOptions};

    let body = std::sync::Arc::new(std::sync::Mutex::new(String::from(
        r#"[{"targets":["a:1"],"labels":{"__meta_app":"a"}}]"#,
    )));
    let served = std::sync::Arc::clone(&body);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let router = axum::Router::new().route(
        "/sd",
        axum::routing::get(move || {
            let served = std::sync::Arc::clone(&served);
            async move {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    served.lock().expect("lock").clone(),
                )
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await.expect("serve") });
    let dns = DnsServer::start().await;
    dns.add("logs.weft.test.", RData::A(A(Ipv4Addr::LOCALHOST)));
    let text = format!(
        "scrape_configs:\n  - job_name: sd\n    static_configs: [{{targets: ['static:1']}}]\n    http_sd_configs: [{{url: 'http://{address}/sd', refresh_interval: 50ms}}]\n    dns_sd_configs: [{{names: [logs.weft.test], type: A, port: 80, refresh_interval: 50ms}}]\n"
    );
    let config = Config::parse(&text, "test.yml").expect("config");
    let discovery_config = DiscoveryConfig::of_scrape_config(&config.scrape_configs[0]);
    let options = DiscoveryOptions {
        dns_name_servers: Some(vec![dns.address]),
        ..DiscoveryOptions::default()
    };
    let discovery = Discovery::start(&discovery_config, &options);
    let addresses = |discovery: &Discovery| -> Vec<String> {
        discovery
            .groups()
            .iter()
            .flat_map(|group| &group.targets)
            .map(|target| target["__address__"].clone())
            .collect()
    };
    eventually("static, HTTP and DNS groups", || {
        addresses(&discovery) == ["static:1", "a:1", "127.0.0.1:80"]
    })
    .await;
    let http_group = &discovery.groups()[1];
    assert_eq!(http_group.labels["__meta_app"], "a");
    assert_eq!(
        http_group.labels["__meta_url"],
        format!("http://{address}/sd")
    );

    let mut watcher = discovery.watcher();
    *body.lock().expect("lock") = String::from("[]");
    let woken = tokio::time::timeout(Duration::from_secs(5), watcher.changed()).await;
    assert_eq!(woken, Ok(true), "the watcher sees the HTTP group go");
    eventually("HTTP group gone", || {
        addresses(&discovery) == ["static:1", "127.0.0.1:80"]
    })
    .await;
    drop(discovery);
    let ended = tokio::time::timeout(Duration::from_secs(5), watcher.changed()).await;
    assert_eq!(ended, Ok(false), "providers stop with the Discovery");
}
