//! The scrape loop against a span buffer on a real socket: labels, cursors, restarts,
//! gaps, failures, several scrapers.

mod support;

use std::time::Duration;

use support::{
    Mode, RecordingSink, TestClient, eventually, options, start_scraper, static_config, status_of,
};
use weft_model::AttributeValue;
use weft_scraper::{Scraper, TargetHealth};

fn attribute(span: &weft_model::Span, key: &str) -> Option<AttributeValue> {
    weft_model::attribute::find(&span.resource.attributes, key).cloned()
}

#[tokio::test]
async fn spans_arrive_with_target_labels_as_resource_attributes() {
    let client = TestClient::start("instance-a", &[("instance", "set-by-app")]).await;
    client.record([1, 2, 3]);
    let sink = RecordingSink::new();
    let config = static_config("shop", &[client.target()], "");
    let (scraper, _directory) = start_scraper(config, &sink).await;
    eventually("3 spans", || sink.span_ids().len() == 3).await;
    client.record([4, 5]);
    eventually("5 spans", || sink.span_ids().len() == 5).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.span_ids(), vec![1, 2, 3, 4, 5], "no duplicate, no gap");
    for span in sink.spans() {
        assert_eq!(
            span.resource.service_name(),
            Some("shop"),
            "service.name from job"
        );
        assert_eq!(attribute(&span, "job"), Some(AttributeValue::from("shop")));
        assert_eq!(attribute(&span, "zone"), Some(AttributeValue::from("eu-1")));
        // The application's own resource attribute wins over the target label.
        assert_eq!(
            attribute(&span, "instance"),
            Some(AttributeValue::from("set-by-app"))
        );
        // Span attributes are untouched.
        assert_eq!(
            weft_model::attribute::find(&span.attributes, "job"),
            Some(&AttributeValue::from("set-on-span"))
        );
    }
    let status = status_of(&scraper, &client.target()).expect("target listed");
    assert_eq!(status.health, TargetHealth::Up);
    // Every request after the first carries the cursor of the last stored span + 1.
    let requests = client.requests();
    assert_eq!(requests[0], None);
    assert_eq!(requests.last().copied().flatten(), Some(5));
    scraper.shutdown().await;
}

#[tokio::test]
async fn service_name_set_by_the_application_is_kept() {
    let client = TestClient::start("i", &[("service.name", "checkout")]).await;
    client.record([1]);
    let sink = RecordingSink::new();
    let (scraper, _directory) =
        start_scraper(static_config("shop", &[client.target()], ""), &sink).await;
    eventually("1 span", || sink.span_ids().len() == 1).await;
    let span = &sink.spans()[0];
    assert_eq!(span.resource.service_name(), Some("checkout"));
    assert_eq!(
        attribute(span, "instance"),
        Some(AttributeValue::from(client.target()))
    );
    scraper.shutdown().await;
}

#[tokio::test]
async fn cursor_advances_only_after_the_sink_accepts() {
    let client = TestClient::start("i", &[]).await;
    client.record([1, 2, 3]);
    let sink = RecordingSink::new();
    sink.set_failing(true);
    let (scraper, _directory) =
        start_scraper(static_config("shop", &[client.target()], ""), &sink).await;
    eventually("three refused pushes", || {
        sink.refused_pushes
            .load(std::sync::atomic::Ordering::SeqCst)
            >= 3
    })
    .await;
    let status = status_of(&scraper, &client.target()).expect("listed");
    assert_eq!(status.health, TargetHealth::Down);
    assert!(
        status.last_error.contains("sink is down"),
        "{}",
        status.last_error
    );
    assert!(
        client.requests().iter().all(Option::is_none),
        "cursor never advanced while the sink refused: {:?}",
        client.requests()
    );
    sink.set_failing(false);
    eventually("3 spans", || sink.span_ids().len() == 3).await;
    eventually("a scrape with the advanced cursor", || {
        client.requests().last().copied().flatten() == Some(3)
    })
    .await;
    assert_eq!(sink.span_ids(), vec![1, 2, 3]);
    assert_eq!(
        status_of(&scraper, &client.target()).map(|s| s.health),
        Some(TargetHealth::Up)
    );
    scraper.shutdown().await;
}

#[tokio::test]
async fn a_restarted_scraper_resumes_from_the_persisted_cursor() {
    let client = TestClient::start("i", &[]).await;
    client.record([1, 2, 3]);
    let directory = tempfile::tempdir().expect("tempdir");
    let config = static_config("shop", &[client.target()], "");
    let first_sink = RecordingSink::new();
    let first = Scraper::start(
        config.clone(),
        first_sink.clone(),
        options(directory.path()),
    )
    .await
    .expect("start");
    eventually("3 spans", || first_sink.span_ids().len() == 3).await;
    first.shutdown().await;
    let requests_before_restart = client.requests().len();
    client.record([4, 5]);

    let second_sink = RecordingSink::new();
    let second = Scraper::start(config, second_sink.clone(), options(directory.path()))
        .await
        .expect("restart");
    eventually("2 new spans", || second_sink.span_ids().len() == 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(first_sink.span_ids(), vec![1, 2, 3]);
    assert_eq!(
        second_sink.span_ids(),
        vec![4, 5],
        "no duplicate and no gap across the restart"
    );
    assert_eq!(
        client.requests()[requests_before_restart],
        Some(3),
        "resumed at the stored cursor"
    );
    second.shutdown().await;
}

#[tokio::test]
async fn a_new_client_instance_resets_the_cursor() {
    let client = TestClient::start("before", &[]).await;
    client.record([1, 2, 3]);
    let sink = RecordingSink::new();
    let (scraper, _directory) =
        start_scraper(static_config("shop", &[client.target()], ""), &sink).await;
    eventually("3 spans", || sink.span_ids().len() == 3).await;
    client.restart("after");
    client.record([11, 12]);
    eventually("spans of the new instance", || sink.span_ids().len() == 5).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.span_ids(), vec![1, 2, 3, 11, 12]);
    let requests = client.requests();
    let reset = requests
        .windows(2)
        .any(|pair| pair[0] == Some(3) && pair[1].is_none());
    assert!(
        reset,
        "a scrape at cursor 3 was followed by one without cursor: {requests:?}"
    );
    assert_eq!(requests.last().copied().flatten(), Some(2));
    scraper.shutdown().await;
}

#[tokio::test]
async fn spans_the_client_dropped_are_counted() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).expect("only this test installs a recorder");

    let client = TestClient::start("i", &[]).await;
    client.record([1, 2, 3]);
    let sink = RecordingSink::new();
    let (scraper, _directory) =
        start_scraper(static_config("dropping", &[client.target()], ""), &sink).await;
    eventually("3 spans", || sink.span_ids().len() == 3).await;
    // Sequences 3..=6 (spans 4..=7) are evicted before any scrape sees them.
    client.record_evicting_before([4, 5, 6, 7, 8, 9, 10], 7);
    eventually("the spans still held", || sink.span_ids().len() == 6).await;
    assert_eq!(sink.span_ids(), vec![1, 2, 3, 8, 9, 10]);
    // The status and the counter are updated just after the sink's answer.
    eventually("4 dropped spans in the status", || {
        status_of(&scraper, &client.target()).is_some_and(|status| status.dropped_spans == 4)
    })
    .await;
    let line = format!(
        "weft_scrape_spans_dropped_by_client_total{{job=\"dropping\",instance=\"{}\"}} 4",
        client.target()
    );
    eventually("the dropped counter", || handle.render().contains(&line)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rendered = handle.render();
    assert!(
        rendered.contains(&line),
        "counted once: {line} in\n{rendered}"
    );
    assert!(
        rendered.contains("weft_scrape_spans_total{job=\"dropping\""),
        "{rendered}"
    );
    scraper.shutdown().await;
}

#[tokio::test]
async fn garbage_oversize_and_slow_answers_mark_only_their_target_down() {
    let healthy = TestClient::start("h", &[]).await;
    let garbage = TestClient::start("g", &[]).await;
    let oversize = TestClient::start("o", &[]).await;
    let slow = TestClient::start("s", &[]).await;
    for client in [&healthy, &garbage, &oversize, &slow] {
        client.record([1, 2]);
    }
    garbage.set_mode(Mode::Garbage);
    oversize.set_mode(Mode::Oversize(4096));
    slow.set_mode(Mode::Slow(Duration::from_millis(400)));
    let sink = RecordingSink::new();
    let targets = [&healthy, &garbage, &oversize, &slow].map(TestClient::target);
    let config = static_config("mixed", &targets, "    body_size_limit: 1KB\n");
    let (scraper, _directory) = start_scraper(config, &sink).await;
    let down_with = |client: &TestClient, reason: &str| {
        status_of(&scraper, &client.target()).is_some_and(|status| {
            status.health == TargetHealth::Down && status.last_error.contains(reason)
        })
    };
    eventually("garbage target down", || {
        down_with(&garbage, "cannot decode the OTLP body")
    })
    .await;
    eventually("oversize target down", || {
        down_with(&oversize, "body size limit exceeded")
    })
    .await;
    eventually("slow target down", || {
        down_with(&slow, "scrape timed out after 100ms")
    })
    .await;
    eventually("healthy target up", || {
        status_of(&scraper, &healthy.target())
            .is_some_and(|status| status.health == TargetHealth::Up)
    })
    .await;
    assert_eq!(
        sink.span_ids(),
        vec![1, 2],
        "only the healthy target's spans"
    );
    // The failing targets are retried from the same place once they answer properly.
    assert!(
        garbage.requests().iter().all(Option::is_none),
        "cursor never advanced"
    );
    garbage.set_mode(Mode::Normal);
    eventually("garbage target recovered", || sink.span_ids().len() == 4).await;
    scraper.shutdown().await;
}

#[tokio::test]
async fn two_scrapers_on_one_target_both_get_everything() {
    let client = TestClient::start("i", &[]).await;
    client.record([1, 2, 3]);
    let config = static_config("shared", &[client.target()], "");
    let first_directory = tempfile::tempdir().expect("tempdir");
    let second_directory = tempfile::tempdir().expect("tempdir");
    let first_sink = RecordingSink::new();
    let second_sink = RecordingSink::new();
    let mut second_options = options(second_directory.path());
    second_options.hostname = String::from("other-host");
    let first = Scraper::start(
        config.clone(),
        first_sink.clone(),
        options(first_directory.path()),
    )
    .await
    .expect("start");
    let second = Scraper::start(config, second_sink.clone(), second_options)
        .await
        .expect("start");
    eventually("both have 3", || {
        first_sink.span_ids().len() == 3 && second_sink.span_ids().len() == 3
    })
    .await;
    client.record([4, 5, 6]);
    eventually("both have 6", || {
        first_sink.span_ids().len() == 6 && second_sink.span_ids().len() == 6
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(first_sink.span_ids(), vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(second_sink.span_ids(), vec![1, 2, 3, 4, 5, 6]);
    first.shutdown().await;
    second.shutdown().await;
}

#[tokio::test]
async fn reload_keeps_unchanged_pools_and_refuses_a_bad_file() {
    let client = TestClient::start("i", &[]).await;
    let other = TestClient::start("o", &[]).await;
    client.record([1, 2]);
    other.record([21]);
    let sink = RecordingSink::new();
    let (scraper, directory) =
        start_scraper(static_config("first", &[client.target()], ""), &sink).await;
    eventually("2 spans", || sink.span_ids().len() == 2).await;

    let bad = directory.path().join("bad.yml");
    std::fs::write(
        &bad,
        "scrape_configs:\n  - job_name: x\n    scrape_interval: often\n",
    )
    .expect("write");
    let error = scraper
        .reload_from_file(&bad)
        .await
        .expect_err("bad file refused");
    assert!(error.to_string().contains("bad.yml"), "{error}");
    assert_eq!(scraper.config().await.scrape_configs[0].job_name, "first");

    let good = directory.path().join("good.yml");
    let text = format!(
        "scrape_configs:\n  - job_name: first\n    scrape_interval: 100ms\n    scrape_timeout: 100ms\n    metrics_path: /traces\n    static_configs:\n      - targets: [\"{}\"]\n        labels: {{zone: eu-1}}\n  - job_name: second\n    scrape_interval: 100ms\n    scrape_timeout: 100ms\n    metrics_path: /traces\n    static_configs:\n      - targets: [\"{}\"]\n",
        client.target(),
        other.target()
    );
    std::fs::write(&good, text).expect("write");
    scraper.reload_from_file(&good).await.expect("reload");
    eventually("the new job's span", || sink.span_ids().contains(&21)).await;
    client.record([3]);
    eventually("the kept job's next span", || sink.span_ids().len() == 4).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut ids = sink.span_ids();
    ids.sort_unstable();
    assert_eq!(ids, vec![1, 2, 3, 21], "no duplicate across the reload");
    let cursorless = client
        .requests()
        .iter()
        .filter(|cursor| cursor.is_none())
        .count();
    assert_eq!(cursorless, 1, "the unchanged target was never restarted");

    // A new interval changes the target's hash (`__scrape_interval__` is one of its
    // labels) and restarts its pool; it resumes by its public labels and URL.
    let requests_before = client.requests().len();
    let slower = std::fs::read_to_string(&good).expect("read").replacen(
        "scrape_interval: 100ms",
        "scrape_interval: 150ms",
        1,
    );
    std::fs::write(&good, slower).expect("write");
    scraper.reload_from_file(&good).await.expect("reload");
    assert_eq!(
        scraper.config().await.scrape_configs[0]
            .scrape_interval
            .to_string(),
        "150ms"
    );
    client.record([4]);
    eventually("the restarted job's next span", || {
        sink.span_ids().len() == 5
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut ids = sink.span_ids();
    ids.sort_unstable();
    assert_eq!(
        ids,
        vec![1, 2, 3, 4, 21],
        "no duplicate across the interval change"
    );
    assert_eq!(
        client.requests()[requests_before],
        Some(3),
        "resumed at its cursor"
    );
    scraper.shutdown().await;
}

#[tokio::test]
async fn credentials_are_sent_and_credential_files_reread() {
    let basic = TestClient::start("b", &[]).await;
    let bearer = TestClient::start("t", &[]).await;
    let secrets = tempfile::tempdir().expect("tempdir");
    let password_file = secrets.path().join("password");
    let token_file = secrets.path().join("token");
    std::fs::write(&password_file, "s3cret\n").expect("write");
    std::fs::write(&token_file, "first-token").expect("write");
    let text = format!(
        "scrape_configs:\n  - job_name: basic\n    scrape_interval: 100ms\n    scrape_timeout: 100ms\n    metrics_path: /traces\n    basic_auth: {{username: weft, password_file: {}}}\n    static_configs: [{{targets: [\"{}\"]}}]\n  - job_name: bearer\n    scrape_interval: 100ms\n    scrape_timeout: 100ms\n    metrics_path: /traces\n    bearer_token_file: {}\n    static_configs: [{{targets: [\"{}\"]}}]\n",
        password_file.display(),
        basic.target(),
        token_file.display(),
        bearer.target()
    );
    let config = weft_scrape_config::Config::parse(&text, "auth.yml").expect("config");
    let sink = RecordingSink::new();
    let (scraper, _directory) = start_scraper(config, &sink).await;
    eventually("both scraped", || {
        !basic.authorizations().is_empty() && !bearer.authorizations().is_empty()
    })
    .await;
    // base64("weft:s3cret"): the file's trailing newline is trimmed.
    assert_eq!(
        basic.authorizations()[0].as_deref(),
        Some("Basic d2VmdDpzM2NyZXQ=")
    );
    assert_eq!(
        bearer.authorizations()[0].as_deref(),
        Some("Bearer first-token")
    );
    std::fs::write(&token_file, "rotated-token").expect("write");
    eventually("the rotated token", || {
        bearer.authorizations().last().cloned().flatten().as_deref() == Some("Bearer rotated-token")
    })
    .await;
    scraper.shutdown().await;
}
