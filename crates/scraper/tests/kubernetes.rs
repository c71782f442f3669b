//! Kubernetes SD against a fake API server on loopback that serves list and watch
//! responses recorded from a real kube-apiserver (v1.37), with the labels compared
//! against what Prometheus discovered from that same server
//! (`tests/fixtures/kubernetes/prometheus-targets.json`). A last test, skipped
//! unless `WEFT_KUBE_APISERVER_URL` is set, runs against a live API server (and,
//! with `WEFT_PROMETHEUS_URL`, compares with a live Prometheus); see
//! `tests/fixtures/kubernetes/README.md`.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use support::eventually;
use support::kube_api::{FakeKubeApi, fixture};
use weft_scrape_config::config::KubernetesSdConfig;
use weft_scrape_config::{Config, TargetGroup};
use weft_scraper::discovery::kubernetes::{KubernetesDiscovery, KubernetesOptions};

type LabelSet = BTreeMap<String, String>;

const TOKEN: &str = "weft-test-token";
const SHOP_PODS: &str = "/api/v1/namespaces/shop/pods";

/// The `kubernetes_sd_configs` entry of a one-job config whose entry lines
/// (after `- `) are `entry`, indented by 8 spaces.
fn sd_config(entry: &str) -> KubernetesSdConfig {
    let text =
        format!("scrape_configs:\n  - job_name: k\n    kubernetes_sd_configs:\n      - {entry}");
    let config = Config::parse(&text, "test.yml").expect("config parses");
    config.scrape_configs[0].kubernetes_sd_configs[0].clone()
}

fn fast_options() -> KubernetesOptions {
    KubernetesOptions {
        retry_backoff_initial: Duration::from_millis(20),
        retry_backoff_max: Duration::from_millis(100),
        ..KubernetesOptions::default()
    }
}

/// Each target's labels merged over its group's, as Prometheus builds a target:
/// only `__address__`, `instance` (set by the node role) and
/// `__meta_kubernetes_*`, and without empty values
/// (Prometheus's label builder drops those).
fn flatten(groups: &[TargetGroup]) -> Vec<LabelSet> {
    let mut targets: Vec<LabelSet> = groups
        .iter()
        .flat_map(|group| {
            group.targets.iter().map(|target| {
                let mut labels = group.labels.clone();
                labels.extend(target.clone());
                labels.retain(|name, value| {
                    !value.is_empty()
                        && (name == "__address__"
                            || name == "instance"
                            || name.starts_with("__meta_kubernetes_"))
                });
                labels
            })
        })
        .collect();
    targets.sort();
    targets
}

/// What Prometheus discovered per job from the real API server the fixtures were
/// recorded from.
fn prometheus_targets(job: &str) -> Vec<LabelSet> {
    let all: BTreeMap<String, Vec<LabelSet>> =
        serde_json::from_str(&fixture("prometheus-targets.json")).expect("fixture");
    let mut targets = all.get(job).cloned().unwrap_or_default();
    targets.sort();
    targets
}

async fn wait_for(
    discovery: &KubernetesDiscovery,
    what: &str,
    condition: impl Fn(&[TargetGroup]) -> bool,
) {
    eventually(what, || condition(&discovery.groups())).await;
}

fn sources(groups: &[TargetGroup]) -> Vec<String> {
    groups.iter().map(|group| group.source.clone()).collect()
}

fn group<'a>(groups: &'a [TargetGroup], source: &str) -> Option<&'a TargetGroup> {
    groups.iter().find(|group| group.source == source)
}

/// The recorded watch event lines of `shop` pods (`web-2` added, given an IP,
/// relabelled, deleted; then bookmarks).
fn recorded_watch_lines() -> Vec<String> {
    fixture("shop-pods-watch.jsonl")
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn pod_role_labels_match_prometheus() {
    let api = FakeKubeApi::start(None).await;
    api.set_list("/api/v1/pods", fixture("pods-list.json"));
    let discovery = KubernetesDiscovery::start(
        sd_config(&format!("role: pod\n        api_server: {}\n", api.url())),
        fast_options(),
    );
    wait_for(&discovery, "pod groups", |groups| !groups.is_empty()).await;
    let groups = discovery.groups();
    assert_eq!(
        sources(&groups),
        [
            "pod/other/api-0",
            "pod/shop/batch-0",
            "pod/shop/web-0",
            "pod/shop/web-1"
        ]
    );
    // Pending without an IP: a group with no targets, as Prometheus sends.
    let pending = group(&groups, "pod/shop/web-1").expect("web-1");
    assert!(pending.targets.is_empty() && pending.labels.is_empty());
    // Two ports, a container without ports, an init container: four targets.
    let web = group(&groups, "pod/shop/web-0").expect("web-0");
    let addresses: Vec<&str> = web
        .targets
        .iter()
        .map(|target| target["__address__"].as_str())
        .collect();
    assert_eq!(
        addresses,
        [
            "10.1.0.5:8080",
            "10.1.0.5:9090",
            "10.1.0.5",
            "10.1.0.5:7070"
        ]
    );
    assert_eq!(
        web.labels["__meta_kubernetes_pod_label_app_kubernetes_io_name"],
        "web-frontend"
    );
    let batch = group(&groups, "pod/shop/batch-0").expect("batch-0");
    assert_eq!(batch.targets[0]["__address__"], "[fd00::7]:8081");
    assert_eq!(batch.labels["__meta_kubernetes_pod_controller_kind"], "Job");
    assert_eq!(flatten(&groups), prometheus_targets("k8s-pods"));
    let list = &api.requests_for("/api/v1/pods", false)[0];
    assert_eq!(list.query.get("limit").map(String::as_str), Some("500"));
    assert!(!list.query.contains_key("labelSelector"));
}

/// `nodes-list.json` with only the nodes named in `names`.
fn nodes_list(names: &[&str]) -> String {
    let mut list: serde_json::Value =
        serde_json::from_str(&fixture("nodes-list.json")).expect("nodes list");
    list["items"]
        .as_array_mut()
        .expect("items")
        .retain(|node| names.contains(&node["metadata"]["name"].as_str().unwrap_or_default()));
    list.to_string()
}

fn node_labels_of(labels: &BTreeMap<String, String>) -> BTreeMap<&str, &str> {
    labels
        .iter()
        .filter(|(name, _)| name.starts_with("__meta_kubernetes_node_"))
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect()
}

#[tokio::test]
async fn attach_metadata_node_labels_pod_and_endpoints_targets_with_their_node() {
    let node_1 = BTreeMap::from([
        (
            "__meta_kubernetes_node_annotation_node_alpha_kubernetes_io_ttl",
            "0",
        ),
        (
            "__meta_kubernetes_node_annotationpresent_node_alpha_kubernetes_io_ttl",
            "true",
        ),
        (
            "__meta_kubernetes_node_label_kubernetes_io_hostname",
            "node-1",
        ),
        (
            "__meta_kubernetes_node_label_topology_kubernetes_io_zone",
            "eu-1a",
        ),
        (
            "__meta_kubernetes_node_labelpresent_kubernetes_io_hostname",
            "true",
        ),
        (
            "__meta_kubernetes_node_labelpresent_topology_kubernetes_io_zone",
            "true",
        ),
        ("__meta_kubernetes_node_name", "node-1"),
    ]);
    let api = FakeKubeApi::start(None).await;
    api.set_list("/api/v1/pods", fixture("pods-list.json"));
    // node-2 is not listed (as when the node selector leaves it out).
    api.set_list("/api/v1/nodes", nodes_list(&["node-1", "node-3"]));
    let discovery = KubernetesDiscovery::start(
        sd_config(&format!(
            "role: pod\n        api_server: {}\n        attach_metadata:\n          node: true\n        selectors:\n          - role: node\n            label: kubernetes.io/hostname\n",
            api.url()
        )),
        fast_options(),
    );
    wait_for(&discovery, "pod groups", |groups| !groups.is_empty()).await;
    let groups = discovery.groups();
    let web = group(&groups, "pod/shop/web-0").expect("web-0");
    assert_eq!(node_labels_of(&web.labels), node_1);
    assert_eq!(web.targets.len(), 4);
    // batch-0 runs on node-2, which is not listed: no targets, as in Prometheus.
    let batch = group(&groups, "pod/shop/batch-0").expect("batch-0");
    assert!(batch.targets.is_empty() && batch.labels.is_empty());
    // Nodes are watched with the node role's selectors.
    let list = &api.requests_for("/api/v1/nodes", false)[0];
    assert_eq!(
        list.query.get("labelSelector").map(String::as_str),
        Some("kubernetes.io/hostname")
    );
    drop(discovery);

    // Endpoints: each address with a nodeName carries that node's labels.
    api.set_list("/api/v1/endpoints", fixture("endpoints-list.json"));
    api.set_list("/api/v1/services", fixture("services-list.json"));
    let discovery = KubernetesDiscovery::start(
        sd_config(&format!(
            "role: endpoints\n        api_server: {}\n        attach_metadata:\n          node: true\n",
            api.url()
        )),
        fast_options(),
    );
    wait_for(&discovery, "endpoints groups", |groups| !groups.is_empty()).await;
    let groups = discovery.groups();
    let web = group(&groups, "endpoints/shop/web").expect("web");
    let target = |address: &str| {
        web.targets
            .iter()
            .find(|target| target["__address__"] == address)
            .unwrap_or_else(|| panic!("target {address}"))
    };
    assert_eq!(node_labels_of(target("10.1.0.5:8080")), node_1);
    // No nodeName on the address: no node labels.
    assert!(node_labels_of(target("10.1.9.9:8080")).is_empty());

    // Without attach_metadata, nodes are not even listed.
    let api = FakeKubeApi::start(None).await;
    api.set_list("/api/v1/pods", fixture("pods-list.json"));
    let discovery = KubernetesDiscovery::start(
        sd_config(&format!("role: pod\n        api_server: {}\n", api.url())),
        fast_options(),
    );
    wait_for(&discovery, "pod groups", |groups| !groups.is_empty()).await;
    let web = group(&discovery.groups(), "pod/shop/web-0")
        .expect("web-0")
        .clone();
    assert!(node_labels_of(&web.labels).is_empty());
    assert!(api.requests_for("/api/v1/nodes", false).is_empty());
}

#[tokio::test]
async fn service_role_labels_match_prometheus() {
    let api = FakeKubeApi::start(None).await;
    api.set_list("/api/v1/services", fixture("services-list.json"));
    let discovery = KubernetesDiscovery::start(
        sd_config(&format!(
            "role: service\n        api_server: {}\n",
            api.url()
        )),
        fast_options(),
    );
    wait_for(&discovery, "service groups", |groups| !groups.is_empty()).await;
    let groups = discovery.groups();
    assert_eq!(
        sources(&groups),
        [
            "svc/default/kubernetes",
            "svc/other/api",
            "svc/shop/ext",
            "svc/shop/web"
        ]
    );
    let web = group(&groups, "svc/shop/web").expect("web");
    assert_eq!(web.targets[0]["__address__"], "web.shop.svc:80");
    assert_eq!(
        web.labels["__meta_kubernetes_service_label_team_example_com_owner"],
        "payments"
    );
    let external = group(&groups, "svc/shop/ext").expect("ext");
    assert_eq!(
        external.targets[0]["__meta_kubernetes_service_external_name"],
        "db.example.com"
    );
    assert!(!external.targets[0].contains_key("__meta_kubernetes_service_cluster_ip"));
    assert_eq!(flatten(&groups), prometheus_targets("k8s-services"));
}

#[tokio::test]
async fn endpoints_role_labels_match_prometheus() {
    let api = FakeKubeApi::start(None).await;
    api.set_list("/api/v1/endpoints", fixture("endpoints-list.json"));
    api.set_list("/api/v1/services", fixture("services-list.json"));
    api.set_list("/api/v1/pods", fixture("pods-list.json"));
    let discovery = KubernetesDiscovery::start(
        sd_config(&format!(
            "role: endpoints\n        api_server: {}\n",
            api.url()
        )),
        fast_options(),
    );
    wait_for(&discovery, "endpoints groups", |groups| !groups.is_empty()).await;
    let groups = discovery.groups();
    assert_eq!(
        sources(&groups),
        ["endpoints/other/api", "endpoints/shop/web"]
    );
    let web = group(&groups, "endpoints/shop/web").expect("web");
    // The Service's labels on the group, the pod's on its targets.
    assert_eq!(web.labels["__meta_kubernetes_service_name"], "web");
    let backed = web
        .targets
        .iter()
        .find(|target| target["__address__"] == "10.1.0.5:8080")
        .expect("web-0's endpoint");
    assert_eq!(backed["__meta_kubernetes_pod_name"], "web-0");
    assert_eq!(backed["__meta_kubernetes_pod_container_name"], "app");
    assert_eq!(backed["__meta_kubernetes_endpoint_ready"], "true");
    // web-0's container ports no endpoint port covers are targets too.
    assert!(
        web.targets
            .iter()
            .any(|target| target["__address__"] == "10.1.0.5:9090")
    );
    assert_eq!(flatten(&groups), prometheus_targets("k8s-endpoints"));

    // A pod changes: the endpoints targets it backs follow. The Service goes: so do
    // its labels on the group.
    eventually("three watches", || {
        api.open_watch_count("/api/v1/pods") == 1
            && api.open_watch_count("/api/v1/services") == 1
            && api.open_watch_count("/api/v1/endpoints") == 1
    })
    .await;
    let item = |list: &str, name: &str| {
        let list: serde_json::Value = serde_json::from_str(&fixture(list)).expect("list");
        list["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|item| item["metadata"]["name"] == name)
            .expect("item")
            .clone()
    };
    let mut pod = item("pods-list.json", "web-0");
    pod["metadata"]["labels"]["version"] = serde_json::json!("v2");
    pod["metadata"]["resourceVersion"] = serde_json::json!("120");
    let modified = serde_json::json!({"type": "MODIFIED", "object": pod});
    api.send_watch_line("/api/v1/pods", &modified.to_string());
    wait_for(&discovery, "web-0's new label on its endpoint", |groups| {
        group(groups, "endpoints/shop/web").is_some_and(|group| {
            group.targets.iter().any(|target| {
                target
                    .get("__meta_kubernetes_pod_label_version")
                    .map(String::as_str)
                    == Some("v2")
            })
        })
    })
    .await;
    let deleted =
        serde_json::json!({"type": "DELETED", "object": item("services-list.json", "web")});
    api.send_watch_line("/api/v1/services", &deleted.to_string());
    wait_for(&discovery, "the Service's labels gone", |groups| {
        group(groups, "endpoints/shop/web")
            .is_some_and(|group| !group.labels.contains_key("__meta_kubernetes_service_name"))
    })
    .await;
}

#[tokio::test]
async fn node_role_labels_match_prometheus() {
    let api = FakeKubeApi::start(None).await;
    api.set_list("/api/v1/nodes", fixture("nodes-list.json"));
    // Nodes are cluster-scoped: namespaces do not apply; the node selector does.
    let discovery = KubernetesDiscovery::start(
        sd_config(&format!(
            "role: node\n        api_server: {}\n        namespaces:\n          names: [shop]\n        selectors:\n          - role: node\n            label: kubernetes.io/hostname\n",
            api.url()
        )),
        fast_options(),
    );
    wait_for(&discovery, "node groups", |groups| !groups.is_empty()).await;
    let groups = discovery.groups();
    // node-3 has no address: no group.
    assert_eq!(sources(&groups), ["node/node-1", "node/node-2"]);
    let first = &group(&groups, "node/node-1").expect("node-1").targets[0];
    assert_eq!(first["__address__"], "192.168.50.10:10250");
    assert_eq!(first["instance"], "node-1");
    assert_eq!(
        first["__meta_kubernetes_node_address_InternalIP"],
        "192.168.50.10"
    );
    assert_eq!(flatten(&groups), prometheus_targets("k8s-nodes"));
    let list = &api.requests_for("/api/v1/nodes", false)[0];
    assert_eq!(
        list.query.get("labelSelector").map(String::as_str),
        Some("kubernetes.io/hostname")
    );
}

#[tokio::test]
async fn ingress_role_labels_match_prometheus() {
    let api = FakeKubeApi::start(None).await;
    api.set_list(
        "/apis/networking.k8s.io/v1/ingresses",
        fixture("ingresses-list.json"),
    );
    let discovery = KubernetesDiscovery::start(
        sd_config(&format!(
            "role: ingress\n        api_server: {}\n",
            api.url()
        )),
        fast_options(),
    );
    wait_for(&discovery, "ingress groups", |groups| !groups.is_empty()).await;
    let groups = discovery.groups();
    assert_eq!(sources(&groups), ["ingress/other/bare", "ingress/shop/web"]);
    let web = group(&groups, "ingress/shop/web").expect("web");
    // Two paths of shop.example.com, a rule without http (path /), an empty path (/).
    let targets: Vec<(&str, &str, &str)> = web
        .targets
        .iter()
        .map(|target| {
            (
                target["__address__"].as_str(),
                target["__meta_kubernetes_ingress_path"].as_str(),
                target["__meta_kubernetes_ingress_scheme"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        targets,
        [
            ("shop.example.com", "/", "https"),
            ("shop.example.com", "/api", "https"),
            ("admin.example.com", "/", "https"),
            ("legacy.example.org", "/", "http"),
        ]
    );
    assert_eq!(flatten(&groups), prometheus_targets("k8s-ingresses"));
}

#[tokio::test]
async fn endpointslice_role_labels_match_prometheus() {
    let api = FakeKubeApi::start(None).await;
    // A later snapshot: web-0 relabelled, Service `dual` and the slices added.
    api.set_list(
        "/apis/discovery.k8s.io/v1/endpointslices",
        fixture("later/endpointslices-list.json"),
    );
    api.set_list("/api/v1/services", fixture("later/services-list.json"));
    api.set_list("/api/v1/pods", fixture("later/pods-list.json"));
    let discovery = KubernetesDiscovery::start(
        sd_config(&format!(
            "role: endpointslice\n        api_server: {}\n",
            api.url()
        )),
        fast_options(),
    );
    wait_for(&discovery, "endpoint slice groups", |groups| {
        !groups.is_empty()
    })
    .await;
    let groups = discovery.groups();
    assert_eq!(
        sources(&groups),
        [
            "endpointslice/other/api-xyz",
            "endpointslice/shop/dual-v6",
            "endpointslice/shop/headless-all",
            "endpointslice/shop/web-abc12"
        ]
    );
    // The IPv6 slice of a Service whose primary family is IPv4: no targets.
    let secondary = group(&groups, "endpointslice/shop/dual-v6").expect("dual-v6");
    assert!(secondary.targets.is_empty());
    assert_eq!(secondary.labels["__meta_kubernetes_service_name"], "dual");
    // A port without a number: the bare address.
    let headless = group(&groups, "endpointslice/shop/headless-all").expect("headless");
    assert_eq!(headless.targets[0]["__address__"], "10.1.0.8");
    let expected: BTreeMap<String, Vec<LabelSet>> =
        serde_json::from_str(&fixture("later/prometheus-targets.json")).expect("fixture");
    let mut expected = expected["k8s-endpointslices"].clone();
    expected.sort();
    assert_eq!(flatten(&groups), expected);
}

#[tokio::test]
async fn namespaces_and_selectors_are_query_parameters() {
    let api = FakeKubeApi::start(None).await;
    for namespace in ["shop", "other"] {
        for (resource, fixture_name) in [
            ("endpoints", "endpoints-list.json"),
            ("services", "services-list.json"),
            ("pods", "pods-list.json"),
        ] {
            api.set_list(
                &format!("/api/v1/namespaces/{namespace}/{resource}"),
                fixture(fixture_name),
            );
        }
    }
    let entry = format!(
        "role: endpoints\n        api_server: {}\n        namespaces:\n          names: [shop, other]\n        selectors:\n          - role: endpoints\n            label: app=web\n          - role: service\n            field: metadata.name=web\n          - role: pod\n            label: tier in (front)\n            field: spec.nodeName=node-1\n",
        api.url()
    );
    let discovery = KubernetesDiscovery::start(sd_config(&entry), fast_options());
    wait_for(&discovery, "groups", |groups| !groups.is_empty()).await;
    for namespace in ["shop", "other"] {
        let expectations = [
            ("endpoints", Some("app=web"), None),
            ("services", None, Some("metadata.name=web")),
            (
                "pods",
                Some("tier in (front)"),
                Some("spec.nodeName=node-1"),
            ),
        ];
        for (resource, label, field) in expectations {
            let path = format!("/api/v1/namespaces/{namespace}/{resource}");
            let list = api.requests_for(&path, false);
            assert_eq!(list.len(), 1, "one list of {path}");
            let query = &list[0].query;
            assert_eq!(
                query.get("labelSelector").map(String::as_str),
                label,
                "{path}"
            );
            assert_eq!(
                query.get("fieldSelector").map(String::as_str),
                field,
                "{path}"
            );
        }
    }
    eventually("six watches", || {
        api.requests()
            .iter()
            .filter(|request| request.is_watch())
            .count()
            == 6
    })
    .await;
    for watch in api.requests().iter().filter(|request| request.is_watch()) {
        assert_eq!(
            watch.query.get("allowWatchBookmarks").map(String::as_str),
            Some("true")
        );
        assert_eq!(
            watch.query.get("resourceVersion").map(String::as_str),
            Some("98")
        );
        if watch.path.ends_with("/pods") {
            assert_eq!(
                watch.query.get("fieldSelector").map(String::as_str),
                Some("spec.nodeName=node-1")
            );
        }
    }
    assert!(
        api.requests()
            .iter()
            .all(|request| !request.path.starts_with("/api/v1/pods")),
        "no cluster-wide request with namespaces set"
    );
}

#[tokio::test]
async fn watch_events_update_the_groups_and_410_lists_again() {
    let api = FakeKubeApi::start(None).await;
    let list = fixture("shop-pods-app-web-list.json");
    api.set_list(SHOP_PODS, list.clone());
    let entry = format!(
        "role: pod\n        api_server: {}\n        namespaces:\n          names: [shop]\n        selectors:\n          - role: pod\n            label: app=web\n",
        api.url()
    );
    let discovery = KubernetesDiscovery::start(sd_config(&entry), fast_options());
    wait_for(&discovery, "listed pods", |groups| groups.len() == 2).await;
    assert_eq!(
        flatten(&discovery.groups()),
        prometheus_targets("k8s-shop-web-pods")
    );
    let listed = api.requests_for(SHOP_PODS, false);
    assert_eq!(
        listed[0].query.get("labelSelector").map(String::as_str),
        Some("app=web")
    );
    eventually("a watch", || api.open_watch_count(SHOP_PODS) == 1).await;
    let watch = &api.requests_for(SHOP_PODS, true)[0];
    assert_eq!(
        watch.query.get("resourceVersion").map(String::as_str),
        Some("98")
    );
    assert_eq!(
        watch.query.get("labelSelector").map(String::as_str),
        Some("app=web")
    );

    let lines = recorded_watch_lines();
    assert_eq!(api.send_watch_line(SHOP_PODS, &lines[0]), 1);
    wait_for(&discovery, "web-2 added, pending", |groups| {
        group(groups, "pod/shop/web-2").is_some_and(|group| group.targets.is_empty())
    })
    .await;
    api.send_watch_line(SHOP_PODS, &lines[1]);
    wait_for(&discovery, "web-2 with its IP", |groups| {
        group(groups, "pod/shop/web-2").is_some_and(|group| {
            group.targets.len() == 1 && group.targets[0]["__address__"] == "10.1.0.7:8080"
        })
    })
    .await;
    api.send_watch_line(SHOP_PODS, &lines[2]);
    wait_for(&discovery, "web-2 relabelled", |groups| {
        group(groups, "pod/shop/web-2").is_some_and(|group| {
            group
                .labels
                .get("__meta_kubernetes_pod_label_canary")
                .map(String::as_str)
                == Some("yes")
        })
    })
    .await;
    api.send_watch_line(SHOP_PODS, &lines[3]);
    api.send_watch_line(SHOP_PODS, &lines[4]);
    wait_for(&discovery, "web-2 deleted", |groups| {
        group(groups, "pod/shop/web-2").is_none() && groups.len() == 2
    })
    .await;
    // A bookmark moves the resource version; a watch the server ends resumes from
    // it without listing again.
    api.send_watch_line(SHOP_PODS, &lines[5]);
    tokio::time::sleep(Duration::from_millis(50)).await;
    api.end_watches(SHOP_PODS);
    eventually("a second watch", || {
        api.requests_for(SHOP_PODS, true).len() == 2
    })
    .await;
    let rewatch = &api.requests_for(SHOP_PODS, true)[1];
    assert_eq!(
        rewatch.query.get("resourceVersion").map(String::as_str),
        Some("106")
    );
    assert_eq!(api.requests_for(SHOP_PODS, false).len(), 1);

    // An expired resource version in the stream: list again (now without web-1).
    let mut relisted: serde_json::Value = serde_json::from_str(&list).expect("list");
    relisted["items"]
        .as_array_mut()
        .expect("items")
        .retain(|item| item["metadata"]["name"] != "web-1");
    api.set_list(SHOP_PODS, relisted.to_string());
    eventually("the second watch open", || {
        api.open_watch_count(SHOP_PODS) == 1
    })
    .await;
    api.send_watch_line(SHOP_PODS, &fixture("watch-expired-event.json"));
    eventually("a second list", || {
        api.requests_for(SHOP_PODS, false).len() == 2
    })
    .await;
    wait_for(&discovery, "web-1 gone after the list", |groups| {
        sources(groups) == ["pod/shop/web-0"]
    })
    .await;

    // 410 Gone as the HTTP status of a watch: list again too.
    eventually("a third watch open", || {
        api.open_watch_count(SHOP_PODS) == 1
    })
    .await;
    let event: serde_json::Value =
        serde_json::from_str(&fixture("watch-expired-event.json")).expect("event");
    api.fail_next_watch(SHOP_PODS, 410, &event["object"].to_string());
    api.end_watches(SHOP_PODS);
    eventually("a third list", || {
        api.requests_for(SHOP_PODS, false).len() == 3
    })
    .await;
}

#[tokio::test]
async fn bearer_token_file_is_sent_and_a_refused_token_is_counted() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).expect("only this test installs a recorder");

    let api = FakeKubeApi::start(Some(&format!("Bearer {TOKEN}"))).await;
    api.set_list("/api/v1/services", fixture("services-list.json"));
    let directory = tempfile::tempdir().expect("tempdir");
    let token_file = directory.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).expect("token");
    let discovery = KubernetesDiscovery::start(
        sd_config(&format!(
            "role: service\n        api_server: {}\n        bearer_token_file: {}\n",
            api.url(),
            token_file.display()
        )),
        fast_options(),
    );
    wait_for(&discovery, "services", |groups| groups.len() == 4).await;
    assert!(
        api.requests()
            .iter()
            .all(|request| request.authorization.as_deref() == Some("Bearer weft-test-token"))
    );
    drop(discovery);

    let refused = FakeKubeApi::start(Some(&format!("Bearer {TOKEN}"))).await;
    refused.set_list("/api/v1/services", fixture("services-list.json"));
    let discovery = KubernetesDiscovery::start(
        sd_config(&format!(
            "role: service\n        api_server: {}\n        authorization:\n          credentials: wrong\n",
            refused.url()
        )),
        fast_options(),
    );
    eventually("lists retried after 401", || {
        refused.requests_for("/api/v1/services", false).len() >= 2
    })
    .await;
    assert!(discovery.groups().is_empty());
    eventually("the failure counter", || {
        handle
            .render()
            .contains("weft_scrape_sd_refresh_failures_total{mechanism=\"kubernetes\"}")
    })
    .await;
}

#[tokio::test]
async fn kubeconfig_file_gives_the_server_and_token_of_its_current_context() {
    let api = FakeKubeApi::start(Some(&format!("Bearer {TOKEN}"))).await;
    api.set_list("/api/v1/services", fixture("services-list.json"));
    let directory = tempfile::tempdir().expect("tempdir");
    std::fs::write(directory.path().join("token"), format!("{TOKEN}\n")).expect("token");
    let kubeconfig = directory.path().join("kubeconfig");
    let write_kubeconfig = |current: &str| {
        let text = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: {current}\ncontexts:\n- name: local\n  context: {{cluster: local, user: tester}}\n- name: elsewhere\n  context: {{cluster: nowhere, user: tester}}\nclusters:\n- name: local\n  cluster: {{server: \"{}\"}}\n- name: nowhere\n  cluster: {{server: \"http://127.0.0.1:9\"}}\nusers:\n- name: tester\n  user: {{tokenFile: token}}\n",
            api.url()
        );
        std::fs::write(&kubeconfig, text).expect("kubeconfig");
    };
    write_kubeconfig("local");
    let discovery = KubernetesDiscovery::start(
        sd_config(&format!(
            "role: service\n        kubeconfig_file: {}\n",
            kubeconfig.display()
        )),
        fast_options(),
    );
    wait_for(&discovery, "services", |groups| groups.len() == 4).await;
    assert!(
        api.requests()
            .iter()
            .all(|request| request.authorization.as_deref() == Some("Bearer weft-test-token"))
    );
    drop(discovery);
    // A context without a reachable cluster: discovery retries, no groups, no panic.
    write_kubeconfig("missing");
    let discovery = KubernetesDiscovery::start(
        sd_config(&format!(
            "role: service\n        kubeconfig_file: {}\n",
            kubeconfig.display()
        )),
        fast_options(),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(discovery.groups().is_empty());
}

#[tokio::test]
async fn bad_json_and_oversized_lists_are_errors_not_panics() {
    let api = FakeKubeApi::start(None).await;
    api.set_list(
        "/api/v1/pods",
        String::from("{\"items\": [{\"metadata\": 7}"),
    );
    let discovery = KubernetesDiscovery::start(
        sd_config(&format!("role: pod\n        api_server: {}\n", api.url())),
        fast_options(),
    );
    eventually("lists retried", || {
        api.requests_for("/api/v1/pods", false).len() >= 2
    })
    .await;
    assert!(discovery.groups().is_empty());
    // Fixed: the next retry lists the pods.
    api.set_list("/api/v1/pods", fixture("pods-list.json"));
    wait_for(&discovery, "pods after the fix", |groups| groups.len() == 4).await;

    let small = KubernetesOptions {
        max_response_bytes: 4096,
        ..fast_options()
    };
    let limited = KubernetesDiscovery::start(
        sd_config(&format!("role: pod\n        api_server: {}\n", api.url())),
        small,
    );
    let lists_before = api.requests_for("/api/v1/pods", false).len();
    eventually("oversized lists retried", || {
        api.requests_for("/api/v1/pods", false).len() >= lists_before + 2
    })
    .await;
    assert!(limited.groups().is_empty());

    let few = KubernetesOptions {
        max_objects: 3,
        ..fast_options()
    };
    let capped = KubernetesDiscovery::start(
        sd_config(&format!("role: pod\n        api_server: {}\n", api.url())),
        few,
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(capped.groups().is_empty(), "4 pods exceed a limit of 3");
}

/// An object with only metadata: namespace (empty for cluster-scoped objects), name,
/// labels, annotations, and the kind and name of its controller (empty kind for none).
type MetadataItem<'a> = (
    &'a str,
    &'a str,
    &'a [(&'a str, &'a str)],
    &'a [(&'a str, &'a str)],
    &'a str,
    &'a str,
);

/// A list of `kind` objects with only metadata, as the API server serialises them.
fn metadata_list(kind: &str, api_version: &str, items: &[MetadataItem<'_>]) -> String {
    let items: Vec<serde_json::Value> = items
        .iter()
        .map(|(namespace, name, labels, annotations, owner_kind, owner_name)| {
            let mut metadata = serde_json::json!({
                "name": name,
                "uid": format!("uid-{name}"),
                "resourceVersion": "7",
                "labels": labels.iter().copied().collect::<BTreeMap<_, _>>(),
                "annotations": annotations.iter().copied().collect::<BTreeMap<_, _>>(),
            });
            if !namespace.is_empty() {
                metadata["namespace"] = serde_json::json!(namespace);
            }
            if !owner_kind.is_empty() {
                metadata["ownerReferences"] = serde_json::json!([
                    {"apiVersion": "v1", "kind": "Other", "name": "not-the-controller", "uid": "u0"},
                    {"apiVersion": "v1", "kind": owner_kind, "name": owner_name, "uid": "u1", "controller": true},
                ]);
            }
            serde_json::json!({"metadata": metadata})
        })
        .collect();
    serde_json::json!({
        "kind": format!("{kind}List"),
        "apiVersion": api_version,
        "metadata": {"resourceVersion": "9"},
        "items": items,
    })
    .to_string()
}

fn labels_with_prefix<'a>(
    labels: &'a BTreeMap<String, String>,
    prefix: &str,
) -> BTreeMap<&'a str, &'a str> {
    labels
        .iter()
        .filter(|(name, _)| name.starts_with(prefix))
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect()
}

#[tokio::test]
async fn attach_metadata_namespace_deployment_and_cronjob() {
    const NAMESPACE_PREFIX: &str = "__meta_kubernetes_namespace_";
    let api = FakeKubeApi::start(None).await;
    api.set_list("/api/v1/pods", fixture("pods-list.json"));
    api.set_list("/api/v1/services", fixture("services-list.json"));
    // `other` is not listed: its objects get no namespace labels.
    api.set_list(
        "/api/v1/namespaces",
        metadata_list(
            "Namespace",
            "v1",
            &[(
                "",
                "shop",
                &[
                    ("team", "payments"),
                    ("kubernetes.io/metadata.name", "shop"),
                ],
                &[("owner.example/pager", "#shop-oncall")],
                "",
                "",
            )],
        ),
    );
    api.set_list(
        "/apis/apps/v1/replicasets",
        metadata_list(
            "ReplicaSet",
            "apps/v1",
            &[("shop", "web-7d9f", &[], &[], "Deployment", "web")],
        ),
    );
    api.set_list(
        "/apis/batch/v1/jobs",
        metadata_list(
            "Job",
            "batch/v1",
            &[("shop", "nightly", &[], &[], "CronJob", "nightly-report")],
        ),
    );
    let shop_namespace = BTreeMap::from([
        (
            "__meta_kubernetes_namespace_annotation_owner_example_pager",
            "#shop-oncall",
        ),
        (
            "__meta_kubernetes_namespace_annotationpresent_owner_example_pager",
            "true",
        ),
        (
            "__meta_kubernetes_namespace_label_kubernetes_io_metadata_name",
            "shop",
        ),
        ("__meta_kubernetes_namespace_label_team", "payments"),
        (
            "__meta_kubernetes_namespace_labelpresent_kubernetes_io_metadata_name",
            "true",
        ),
        ("__meta_kubernetes_namespace_labelpresent_team", "true"),
    ]);
    let discovery = KubernetesDiscovery::start(
        sd_config(&format!(
            "role: pod\n        api_server: {}\n        attach_metadata:\n          namespace: true\n          deployment: true\n          cronjob: true\n",
            api.url()
        )),
        fast_options(),
    );
    wait_for(&discovery, "pod groups", |groups| !groups.is_empty()).await;
    let groups = discovery.groups();
    let web = group(&groups, "pod/shop/web-0").expect("web-0");
    assert_eq!(
        web.labels
            .get("__meta_kubernetes_namespace")
            .map(String::as_str),
        Some("shop")
    );
    assert_eq!(
        labels_with_prefix(&web.labels, NAMESPACE_PREFIX),
        shop_namespace
    );
    assert_eq!(
        web.labels
            .get("__meta_kubernetes_pod_deployment_name")
            .map(String::as_str),
        Some("web")
    );
    assert!(
        !web.labels
            .contains_key("__meta_kubernetes_pod_cronjob_name")
    );
    let batch = group(&groups, "pod/shop/batch-0").expect("batch-0");
    assert_eq!(
        batch
            .labels
            .get("__meta_kubernetes_pod_cronjob_name")
            .map(String::as_str),
        Some("nightly-report")
    );
    // `job` is not asked for.
    assert!(!batch.labels.contains_key("__meta_kubernetes_pod_job_name"));
    assert!(
        !batch
            .labels
            .contains_key("__meta_kubernetes_pod_deployment_name")
    );
    let api_0 = group(&groups, "pod/other/api-0").expect("api-0");
    assert_eq!(
        api_0
            .labels
            .get("__meta_kubernetes_namespace")
            .map(String::as_str),
        Some("other")
    );
    assert!(labels_with_prefix(&api_0.labels, NAMESPACE_PREFIX).is_empty());
    // Namespaces are cluster-scoped and, as in Prometheus, listed without selectors;
    // ReplicaSets and Jobs are listed in every namespace discovered (here all of them).
    let list = &api.requests_for("/api/v1/namespaces", false)[0];
    assert!(!list.query.contains_key("labelSelector"));
    assert_eq!(
        api.requests_for("/apis/apps/v1/replicasets", false).len(),
        1
    );
    assert_eq!(api.requests_for("/apis/batch/v1/jobs", false).len(), 1);
    drop(discovery);

    // The service role: namespace labels on the service's group; no owners watched.
    let api_2 = FakeKubeApi::start(None).await;
    api_2.set_list("/api/v1/services", fixture("services-list.json"));
    api_2.set_list(
        "/api/v1/namespaces",
        metadata_list(
            "Namespace",
            "v1",
            &[("", "shop", &[("team", "payments")], &[], "", "")],
        ),
    );
    let discovery = KubernetesDiscovery::start(
        sd_config(&format!(
            "role: service\n        api_server: {}\n        attach_metadata:\n          namespace: true\n          deployment: true\n",
            api_2.url()
        )),
        fast_options(),
    );
    wait_for(&discovery, "service groups", |groups| !groups.is_empty()).await;
    let groups = discovery.groups();
    let shop_service = group(&groups, "svc/shop/web").expect("svc/shop/web");
    assert_eq!(
        shop_service
            .labels
            .get("__meta_kubernetes_namespace_label_team")
            .map(String::as_str),
        Some("payments")
    );
    assert!(
        api_2
            .requests_for("/apis/apps/v1/replicasets", false)
            .is_empty()
    );
    drop(discovery);

    // Without attach_metadata, none of these is listed and no target has the labels.
    let api_3 = FakeKubeApi::start(None).await;
    api_3.set_list("/api/v1/pods", fixture("pods-list.json"));
    let discovery = KubernetesDiscovery::start(
        sd_config(&format!("role: pod\n        api_server: {}\n", api_3.url())),
        fast_options(),
    );
    wait_for(&discovery, "pod groups", |groups| !groups.is_empty()).await;
    let web = group(&discovery.groups(), "pod/shop/web-0")
        .expect("web-0")
        .clone();
    assert!(
        !web.labels
            .contains_key("__meta_kubernetes_pod_deployment_name")
    );
    assert!(
        !web.labels
            .contains_key("__meta_kubernetes_namespace_label_team")
    );
    for path in [
        "/api/v1/namespaces",
        "/apis/apps/v1/replicasets",
        "/apis/batch/v1/jobs",
    ] {
        assert!(api_3.requests_for(path, false).is_empty(), "{path}");
    }
}

/// Against a live API server (development check): set `WEFT_KUBE_APISERVER_URL`,
/// `WEFT_KUBE_TOKEN` and `WEFT_KUBE_CA_FILE`, and `WEFT_PROMETHEUS_URL` to compare
/// every job with what a Prometheus running `tests/fixtures/kubernetes/prometheus.yml`
/// against the same server discovered. Skipped otherwise.
#[tokio::test]
async fn live_api_server_matches_prometheus() {
    let Ok(api_server) = std::env::var("WEFT_KUBE_APISERVER_URL") else {
        eprintln!("skipped: WEFT_KUBE_APISERVER_URL is not set");
        return;
    };
    let token = std::env::var("WEFT_KUBE_TOKEN").expect("WEFT_KUBE_TOKEN");
    let ca_file = std::env::var("WEFT_KUBE_CA_FILE").expect("WEFT_KUBE_CA_FILE");
    let client = format!(
        "        api_server: {api_server}\n        authorization:\n          credentials: {token}\n        tls_config:\n          ca_file: {ca_file}\n"
    );
    let jobs = [
        ("k8s-pods", format!("role: pod\n{client}")),
        ("k8s-services", format!("role: service\n{client}")),
        ("k8s-endpoints", format!("role: endpoints\n{client}")),
        ("k8s-ingresses", format!("role: ingress\n{client}")),
        (
            "k8s-endpointslices",
            format!("role: endpointslice\n{client}"),
        ),
        (
            "k8s-nodes",
            format!("role: node\n{client}        namespaces:\n          names: [shop]\n"),
        ),
        (
            "k8s-shop-web-pods",
            format!(
                "role: pod\n{client}        namespaces:\n          names: [shop]\n        selectors:\n          - role: pod\n            label: app=web\n"
            ),
        ),
    ];
    let prometheus = match std::env::var("WEFT_PROMETHEUS_URL") {
        Ok(url) => {
            let body: serde_json::Value =
                reqwest::get(format!("{url}/api/v1/targets?state=active"))
                    .await
                    .expect("Prometheus targets")
                    .json()
                    .await
                    .expect("JSON");
            let mut by_job: BTreeMap<String, Vec<LabelSet>> = BTreeMap::new();
            for target in body["data"]["activeTargets"].as_array().expect("targets") {
                let job = target["scrapePool"].as_str().expect("pool").to_owned();
                let mut labels: LabelSet =
                    serde_json::from_value(target["discoveredLabels"].clone()).expect("labels");
                labels.retain(|name, value| {
                    !value.is_empty()
                        && (name == "__address__"
                            || name == "instance"
                            || name.starts_with("__meta_kubernetes_"))
                });
                by_job.entry(job).or_default().push(labels);
            }
            Some(by_job)
        }
        Err(_) => None,
    };
    let mut watched = None;
    for (job, entry) in jobs {
        let mut discovery =
            KubernetesDiscovery::start(sd_config(&entry), KubernetesOptions::default());
        tokio::time::timeout(Duration::from_secs(20), discovery.changed())
            .await
            .expect("published within 20s");
        let weft = flatten(&discovery.groups());
        eprintln!("{job}: weft discovered {} targets", weft.len());
        assert!(!weft.is_empty(), "{job}: no targets");
        if let Some(prometheus) = &prometheus {
            let mut expected = prometheus.get(job).cloned().unwrap_or_default();
            expected.sort();
            assert_eq!(weft, expected, "{job}: weft and Prometheus differ");
            eprintln!("{job}: equal to Prometheus's {} targets", expected.len());
        }
        watched = Some(discovery);
    }

    // The watch of the last job (shop pods with app=web) sees a pod created and
    // deleted on the live server.
    let discovery = watched.expect("a discovery");
    let ca = std::fs::read(&ca_file).expect("CA file");
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("CA"))
        .build()
        .expect("client");
    let pods = format!("{api_server}/api/v1/namespaces/shop/pods");
    let probe = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "weft-live-probe", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "probe", "image": "probe:1"}]}
    });
    let created = http
        .post(&pods)
        .bearer_auth(&token)
        .json(&probe)
        .send()
        .await
        .expect("create the probe pod");
    assert!(
        created.status().is_success(),
        "create: {}",
        created.status()
    );
    wait_for(&discovery, "the probe pod through the watch", |groups| {
        group(groups, "pod/shop/weft-live-probe").is_some()
    })
    .await;
    let deleted = http
        .delete(format!("{pods}/weft-live-probe?gracePeriodSeconds=0"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("delete the probe pod");
    assert!(
        deleted.status().is_success(),
        "delete: {}",
        deleted.status()
    );
    wait_for(
        &discovery,
        "the probe pod gone through the watch",
        |groups| group(groups, "pod/shop/weft-live-probe").is_none(),
    )
    .await;
    eprintln!("watch: the probe pod was added and deleted");
}

#[tokio::test]
async fn a_scraper_scrapes_the_pods_it_discovers() {
    let client = support::TestClient::start("k8s", &[]).await;
    client.record([41]);
    let port: u16 = client
        .target()
        .rsplit(':')
        .next()
        .and_then(|port| port.parse().ok())
        .expect("port");
    // The recorded web-0, moved to the test client's address.
    let mut list: serde_json::Value =
        serde_json::from_str(&fixture("pods-list.json")).expect("list");
    let items = list["items"].as_array_mut().expect("items");
    items.retain(|item| item["metadata"]["name"] == "web-0");
    items[0]["status"]["podIP"] = serde_json::json!("127.0.0.1");
    items[0]["spec"]["initContainers"] = serde_json::json!([]);
    items[0]["spec"]["containers"] = serde_json::json!([{
        "name": "app",
        "image": "nginx:1.27",
        "ports": [{"name": "spans", "containerPort": port, "protocol": "TCP"}]
    }]);
    let api = FakeKubeApi::start(None).await;
    api.set_list("/api/v1/pods", list.to_string());
    let text = format!(
        "scrape_configs:\n  - job_name: pods\n    scrape_interval: 100ms\n    scrape_timeout: 100ms\n    metrics_path: /traces\n    kubernetes_sd_configs:\n      - role: pod\n        api_server: {}\n    relabel_configs:\n      - source_labels: [__meta_kubernetes_pod_label_app]\n        target_label: app\n",
        api.url()
    );
    let config = Config::parse(&text, "test.yml").expect("config");
    let sink = support::RecordingSink::new();
    let directory = tempfile::tempdir().expect("tempdir");
    let scraper =
        weft_scraper::Scraper::start(config, sink.clone(), support::options(directory.path()))
            .await
            .expect("start");
    eventually("the pod's span", || sink.span_ids() == vec![41]).await;
    let view = scraper.active_targets().pop().expect("one target");
    assert_eq!(view.target.labels.get("app"), "web");
    assert_eq!(view.target.labels.get("instance"), client.target());
    assert_eq!(
        view.target
            .discovered_labels
            .get("__meta_kubernetes_pod_container_port_name"),
        "spans"
    );
    scraper.shutdown().await;
}
