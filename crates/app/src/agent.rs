//! `weft agent`: receivers for every push protocol on the local host, filling a
//! byte-bounded ring that weft's scrapers pull from (`weft-agent`, `docs/pull-protocol.md`).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinSet;
use weft_model::SpanSink;

use crate::config::{ConfigError, ListenerConfig, LogSection};
use crate::lifecycle::{
    PushListeners, ShutdownSignals, bind, bind_udp, serve_grpc, serve_http, spawn_push_listeners,
    until_stop_or_failure,
};
use crate::settings::{self, Setting};
use crate::{config, observability};

/// Everything `weft agent` reads: flags, `WEFT_AGENT_*`-free `WEFT_*` variables and
/// the YAML file, like `weft serve`'s configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentConfig {
    /// The scrape endpoint weft's scrapers pull from (default `0.0.0.0:9911`).
    pub scrape: ListenerConfig,
    /// The ring and the scrape answers.
    pub buffer: weft_agent::BufferConfig,
    /// OTLP/gRPC `TraceService/Export` (default `127.0.0.1:4317`).
    pub otlp_grpc: ListenerConfig,
    /// OTLP/HTTP `POST /v1/traces` (default `127.0.0.1:4318`).
    pub otlp_http: ListenerConfig,
    /// Zipkin `POST /api/v2/spans` and `/api/v1/spans` (default `127.0.0.1:9411`).
    pub zipkin: ListenerConfig,
    /// Jaeger agent UDP, compact Thrift (default `127.0.0.1:6831`).
    pub jaeger_compact: ListenerConfig,
    /// Jaeger agent UDP, binary Thrift (default `127.0.0.1:6832`).
    pub jaeger_binary: ListenerConfig,
    /// Jaeger collector HTTP `POST /api/traces` (default `127.0.0.1:14268`).
    pub jaeger_http: ListenerConfig,
    /// Jaeger collector gRPC `PostSpans` (default `127.0.0.1:14250`).
    pub jaeger_grpc: ListenerConfig,
    /// Settings of both Jaeger UDP listeners.
    pub jaeger_agent: weft_receiver::JaegerAgentConfig,
    /// Request decoding limits.
    pub receiver: weft_receiver::ReceiverConfig,
    /// Most spans in one request.
    pub max_spans_per_request: u64,
    /// Process logs.
    pub log: LogSection,
    /// Log files tailed and shipped to a Loki push API (Promtail's shape; `weft-tail`).
    pub logs: weft_tail::TailConfig,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            scrape: ListenerConfig::on("0.0.0.0:9911"),
            buffer: weft_agent::BufferConfig::default(),
            otlp_grpc: ListenerConfig::on("127.0.0.1:4317"),
            otlp_http: ListenerConfig::on("127.0.0.1:4318"),
            zipkin: ListenerConfig::on("127.0.0.1:9411"),
            jaeger_compact: ListenerConfig::on("127.0.0.1:6831"),
            jaeger_binary: ListenerConfig::on("127.0.0.1:6832"),
            jaeger_http: ListenerConfig::on("127.0.0.1:14268"),
            jaeger_grpc: ListenerConfig::on("127.0.0.1:14250"),
            jaeger_agent: weft_receiver::JaegerAgentConfig::default(),
            receiver: weft_receiver::ReceiverConfig::default(),
            max_spans_per_request: 100_000,
            log: LogSection::default(),
            logs: weft_tail::TailConfig::default(),
        }
    }
}

impl AgentConfig {
    /// Every key as a flag and environment variable.
    pub fn settings() -> Vec<Setting> {
        let defaults = serde_json::to_value(AgentConfig::default()).unwrap_or(Value::Null);
        settings::settings_of(&defaults)
    }

    /// Defaults, then the YAML file, then `overrides`; errors name the key.
    pub fn load(
        file: Option<&Path>,
        overrides: &[(Setting, String)],
    ) -> Result<AgentConfig, ConfigError> {
        config::load_tree(file, overrides)
    }
}

/// Runs the agent until SIGTERM or Ctrl-C.
pub async fn run_agent(config: AgentConfig) -> anyhow::Result<()> {
    let mut signals = ShutdownSignals::install();
    observability::init_logging(&config.log)?;
    let metrics = observability::init_metrics()?;
    config
        .receiver
        .validate()
        .context("invalid receiver configuration")?;
    config
        .jaeger_agent
        .validate("jaeger-agent")
        .context("invalid jaeger agent configuration")?;
    let scrape = bind("scrape.listen", &config.scrape).await?;
    let otlp_grpc = bind("otlp-grpc.listen", &config.otlp_grpc).await?;
    let otlp_http = bind("otlp-http.listen", &config.otlp_http).await?;
    let zipkin = bind("zipkin.listen", &config.zipkin).await?;
    let jaeger_http = bind("jaeger-http.listen", &config.jaeger_http).await?;
    let jaeger_grpc = bind("jaeger-grpc.listen", &config.jaeger_grpc).await?;
    let jaeger_compact = bind_udp("jaeger-compact.listen", &config.jaeger_compact).await?;
    let jaeger_binary = bind_udp("jaeger-binary.listen", &config.jaeger_binary).await?;

    let ring = config.buffer.ring();
    let sink: Arc<dyn SpanSink> = Arc::new(weft_agent::RingSink::new(ring.clone()));
    let receivers = weft_receiver::ReceiverContext::new(
        sink,
        config.receiver.clone(),
        config.max_spans_per_request,
    );
    let (stop_sender, stop_receiver) = watch::channel(false);
    let mut servers = JoinSet::new();
    if let Some(listener) = scrape {
        let router = config
            .buffer
            .router(ring.clone())
            .merge(weft_api::admin_router(
                metrics,
                Vec::new(),
                Arc::new(|| true),
            ));
        servers.spawn(serve_http(
            "scrape",
            listener,
            router,
            stop_receiver.clone(),
        ));
    }
    if let Some(listener) = zipkin {
        let router = weft_receiver::zipkin_ingest_router(&receivers);
        servers.spawn(serve_http(
            "zipkin",
            listener,
            router,
            stop_receiver.clone(),
        ));
    }
    if let Some(listener) = jaeger_grpc {
        let service = weft_receiver::jaeger_grpc_service(&receivers);
        servers.spawn(serve_grpc(
            "jaeger_grpc",
            listener,
            tonic::service::Routes::new(service),
            stop_receiver.clone(),
        ));
    }
    spawn_push_listeners(
        &mut servers,
        PushListeners {
            otlp_http,
            otlp_grpc,
            jaeger_http,
            jaeger_compact,
            jaeger_binary,
        },
        &receivers,
        &config.jaeger_agent,
        &stop_receiver,
    );
    tracing::info!(
        buffer_bytes = config.buffer.max_bytes,
        path = %config.buffer.path,
        instance = ring.instance_id(),
        "weft agent is ready"
    );
    let tailing = weft_tail::TailService::start(config.logs.clone())
        .await
        .context("cannot start tailing log files")?;
    let failure = until_stop_or_failure(&mut servers, &mut signals).await;
    if let Some(tailing) = tailing {
        tailing.shutdown().await;
    }
    let _ = stop_sender.send(true);
    while servers.join_next().await.is_some() {}
    match failure {
        Some(error) => Err(error),
        None => Ok(()),
    }
}
