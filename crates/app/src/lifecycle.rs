//! Starting, serving and stopping a weft process.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::Context;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::watch;
use tokio::task::JoinSet;
use weft_model::{SpanSink, TraceReader};
use weft_receiver::AgentProtocol;

use crate::Target;
use crate::config::{Config, ListenerConfig};
use crate::observability;

/// Runs `target` with `config` until SIGTERM or Ctrl-C, then shuts down gracefully:
/// `/ready` turns 503, listeners stop accepting, in-flight requests get up to
/// `shutdown.drain_timeout` to finish (then they are cut off, unacknowledged), and the head
/// is flushed to blocks.
pub async fn run(config: Config, target: Target) -> anyhow::Result<()> {
    let mut signals = ShutdownSignals::install();
    observability::init_logging(&config.log)?;
    let metrics = observability::init_metrics()?;
    let Target::All = target;
    let started = Instant::now();
    config
        .receiver
        .validate()
        .context("invalid receiver configuration")?;
    config
        .jaeger
        .agent
        .validate("jaeger.agent")
        .context("invalid jaeger agent configuration")?;
    config
        .zipkin
        .query
        .validate()
        .context("invalid zipkin.query configuration")?;
    config
        .jaeger
        .query
        .api
        .validate()
        .context("invalid jaeger.query configuration")?;
    config
        .query
        .validate()
        .context("invalid query configuration")?;

    // Bind every listener before opening storage, so a taken port fails fast and names
    // its flag instead of after a long WAL replay.
    let http_listener = bind("http.listen", &config.http).await?;
    let zipkin_listener = bind(
        "zipkin.listen",
        &ListenerConfig {
            listen: config.zipkin.listen.clone(),
        },
    )
    .await?;
    let otlp_grpc_listener = bind("otlp.grpc.listen", &config.otlp.grpc).await?;
    let otlp_http_listener = bind("otlp.http.listen", &config.otlp.http).await?;
    let jaeger_http_listener = bind("jaeger.http.listen", &config.jaeger.http).await?;
    let jaeger_grpc_listener = bind("jaeger.grpc.listen", &config.jaeger.grpc).await?;
    let jaeger_query_listener = bind(
        "jaeger.query.listen",
        &ListenerConfig {
            listen: config.jaeger.query.listen.clone(),
        },
    )
    .await?;
    let jaeger_sampling_listener = bind("jaeger.sampling.listen", &config.jaeger.sampling).await?;
    let jaeger_compact_socket = bind_udp("jaeger.compact.listen", &config.jaeger.compact).await?;
    let jaeger_binary_socket = bind_udp("jaeger.binary.listen", &config.jaeger.binary).await?;
    let loki_listener = bind(
        "loki.listen",
        &ListenerConfig {
            listen: config.loki.listen.clone(),
        },
    )
    .await?;

    let blocks_directory = config.storage.path.join("blocks");
    let store = weft_storage::open_block_store(&config.storage.backend_config(), &blocks_directory)
        .await
        .context("cannot open the block store")?;
    let compactor = Arc::new(
        weft_compactor::Compactor::new(store.clone(), config.compactor.clone())
            .context("invalid compactor configuration")?,
    );
    let sampling = crate::sampling::build(&config.sampling, &config.storage.path)?;
    let ingester = weft_ingester::Ingester::open_sampled(
        config.ingester.clone(),
        store,
        sampling.tail.clone(),
    )
    .await
    .context("cannot open storage")?;
    let logs = crate::logs::start(&config).await?;
    // Span metrics see every accepted span before anything behind them samples.
    let mut metrics_sources: Vec<weft_api::MetricsSource> = Vec::new();
    let mut stored: Arc<dyn SpanSink> = ingester.clone();
    if sampling.head.is_some() || sampling.adaptive.is_some() {
        stored = Arc::new(weft_distributor::SamplingSink::new(
            sampling.head.clone(),
            sampling.adaptive.clone(),
            stored,
        ));
    }
    if config.span_metrics.enabled {
        let span_metrics = Arc::new(
            weft_spanmetrics::SpanMetrics::new(config.span_metrics.clone())
                .context("invalid span_metrics configuration")?,
        );
        let source = span_metrics.clone();
        metrics_sources.push(Arc::new(move |out: &mut String| {
            source.render(out, std::time::Instant::now())
        }));
        stored = Arc::new(weft_spanmetrics::SpanMetricsSink::new(span_metrics, stored));
    }
    let sink: Arc<dyn SpanSink> = Arc::new(
        weft_distributor::Distributor::new(config.distributor.clone(), stored)
            .context("invalid distributor configuration")?,
    );
    // Scraped spans go through the same validation, metrics and sampling as pushed ones.
    let scraper = crate::scrape::start(&config.scrape, &config.storage.path, sink.clone()).await?;
    // One context, so every HTTP and gRPC listener shares one in-flight budget.
    let mut receivers = weft_receiver::ReceiverContext::new(
        sink,
        config.receiver.clone(),
        config.distributor.max_spans_per_request,
    );
    // Logs are on with the Loki port; OTLP log records then go to the same store.
    if loki_listener.is_some() {
        receivers =
            receivers.with_logs_sink(Arc::new(crate::logs::OtlpLogsIntoStore(logs.store.clone())));
        if otlp_http_listener.is_none() {
            tracing::warn!(
                "logs are on but otlp.http.listen is off: OTLP/HTTP log records (POST /v1/logs) cannot be received"
            );
        }
        if otlp_grpc_listener.is_none() {
            tracing::warn!(
                "logs are on but otlp.grpc.listen is off: OTLP/gRPC log records (LogsService/Export) cannot be received"
            );
        }
    }
    let reader: Arc<dyn TraceReader> = ingester.clone();
    let ready_ingester = ingester.clone();
    // Cleared when shutdown starts, so load balancers stop sending before listeners close.
    let accepting = Arc::new(AtomicBool::new(true));
    let ready_accepting = accepting.clone();
    let ready =
        Arc::new(move || ready_accepting.load(Ordering::Relaxed) && ready_ingester.is_ready());

    let (stop_sender, stop_receiver) = watch::channel(false);
    let mut servers = JoinSet::new();
    if let Some(listener) = http_listener {
        let router = weft_api::admin_router(metrics, metrics_sources, ready)
            .merge(crate::sampling::status_router(&config.sampling, &sampling))
            .merge(crate::scrape::router(
                scraper.clone(),
                config.scrape.config_file.clone(),
            ))
            .merge(weft_api::tempo_router(
                reader.clone(),
                config.zipkin.query.clone(),
                config.query.clone(),
            ))
            .merge(weft_api::analytics_router(
                reader.clone(),
                config.zipkin.query.clone(),
                config.query.clone(),
            ))
            .merge(weft_api::logs_router(
                reader.clone(),
                logs.store.clone(),
                &config.zipkin.query,
            ))
            .merge(weft_ui::router());
        servers.spawn(serve_http("http", listener, router, stop_receiver.clone()));
    }
    if let Some(listener) = zipkin_listener {
        let router = weft_api::zipkin_router(reader.clone(), config.zipkin.query.clone())
            .merge(weft_receiver::zipkin_ingest_router(&receivers));
        servers.spawn(serve_http(
            "zipkin",
            listener,
            router,
            stop_receiver.clone(),
        ));
    }
    if let Some(listener) = loki_listener {
        let router = weft_logs::http::router(logs.store.clone());
        servers.spawn(serve_http("loki", listener, router, stop_receiver.clone()));
    }
    if let Some(listener) = jaeger_query_listener {
        let router = weft_api::jaeger_query_router(reader.clone(), config.jaeger.query.api.clone());
        servers.spawn(serve_http(
            "jaeger_query",
            listener,
            router,
            stop_receiver.clone(),
        ));
    }
    spawn_push_listeners(
        &mut servers,
        PushListeners {
            otlp_http: otlp_http_listener,
            otlp_grpc: otlp_grpc_listener,
            jaeger_http: jaeger_http_listener,
            jaeger_compact: jaeger_compact_socket,
            jaeger_binary: jaeger_binary_socket,
        },
        &receivers,
        &config.jaeger.agent,
        &stop_receiver,
    );
    if let Some(listener) = jaeger_sampling_listener {
        let router = weft_remote_sampling::http::router(sampling.provider.clone());
        servers.spawn(serve_http(
            "jaeger_sampling",
            listener,
            router,
            stop_receiver.clone(),
        ));
    }
    if let Some(scraper) = &scraper {
        tokio::spawn(crate::scrape::reload_on_hangup(
            scraper.clone(),
            config.scrape.config_file.clone(),
            stop_receiver.clone(),
        ));
    }
    let maintenance = tokio::spawn(crate::sampling::maintain(
        config.sampling.clone(),
        config.storage.path.clone(),
        sampling.provider.clone(),
        sampling.adaptive.clone(),
        sampling.strategies_stamp,
        stop_receiver.clone(),
    ));
    if let Some(listener) = jaeger_grpc_listener {
        // SamplingManager beside CollectorService on one port, as Jaeger's collector has them.
        let provider = sampling.provider.clone();
        let sampling_service =
            weft_receiver::jaeger_sampling_grpc_service(move |request: &[u8]| {
                weft_remote_sampling::proto::get_sampling_strategy(&provider, request)
            });
        let routes = tonic::service::Routes::new(weft_receiver::jaeger_grpc_service(&receivers))
            .add_service(sampling_service);
        servers.spawn(serve_grpc(
            "jaeger_grpc",
            listener,
            routes,
            stop_receiver.clone(),
        ));
    }
    // The compactor runs beside the listeners; after a pass that changed blocks the
    // ingester re-reads the block list so reads move to the merged blocks at once.
    let (compactor_stop, compactor_stop_receiver) = watch::channel(false);
    let refreshed = ingester.clone();
    let after_pass: weft_compactor::AfterPass = Arc::new(move || {
        let ingester = refreshed.clone();
        Box::pin(async move {
            if let Err(error) = ingester.refresh_blocks().await {
                tracing::warn!(%error, "cannot refresh the block list after compaction");
            }
        })
    });
    let compactor_task = compactor.spawn_with(compactor_stop_receiver, Some(after_pass));
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        storage = %config.storage.path.display(),
        backend = ?config.storage.backend,
        "weft is ready"
    );

    let failure = until_stop_or_failure(&mut servers, &mut signals).await;
    accepting.store(false, Ordering::Relaxed);
    let _ = stop_sender.send(true);
    let drained = tokio::time::timeout(config.shutdown.drain_timeout, async {
        while let Some(result) = servers.join_next().await {
            if let Ok(Err(error)) = result {
                tracing::warn!(%error, "listener ended with an error");
            }
        }
    })
    .await;
    if drained.is_err() {
        // A stuck client must not keep the head from being flushed: whatever it was
        // sending was never acknowledged.
        tracing::warn!(
            timeout = ?config.shutdown.drain_timeout,
            "requests still in flight at the drain deadline were cut off"
        );
        servers.abort_all();
    }
    let _ = maintenance.await;
    // Every log head goes into chunks before the process ends (the WAL has them anyway).
    logs.shutdown().await;
    if let Some(scraper) = &scraper {
        // A scrape in progress finishes its push and cursor write first.
        scraper.shutdown().await;
    }
    // A merge in progress is abandoned at its next batch (its partial output removed).
    let _ = compactor_stop.send(true);
    if let Err(error) = compactor_task.await {
        tracing::warn!(%error, "the compactor task failed");
    }
    ingester
        .shutdown()
        .await
        .context("cannot flush the head to blocks")?;
    tracing::info!("weft stopped");
    match failure {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

pub(crate) async fn bind(
    flag: &str,
    listener: &ListenerConfig,
) -> anyhow::Result<Option<TcpListener>> {
    let Some(address) = listener.address() else {
        return Ok(None);
    };
    let bound = TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address} (--{flag})"))?;
    tracing::info!(%address, flag, "listening");
    Ok(Some(bound))
}

pub(crate) async fn bind_udp(
    flag: &str,
    listener: &ListenerConfig,
) -> anyhow::Result<Option<UdpSocket>> {
    let Some(address) = listener.address() else {
        return Ok(None);
    };
    let bound = UdpSocket::bind(address)
        .await
        .with_context(|| format!("cannot listen on udp {address} (--{flag})"))?;
    tracing::info!(%address, flag, "listening (udp)");
    Ok(Some(bound))
}

pub(crate) async fn stopped(mut receiver: watch::Receiver<bool>) {
    // An error means the sender is gone, which also means stop.
    let _ = receiver.wait_for(|stop| *stop).await;
}

pub(crate) async fn serve_http(
    name: &'static str,
    listener: TcpListener,
    router: axum::Router,
    stop_receiver: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(stopped(stop_receiver))
        .await
        .with_context(|| format!("{name} server failed"))
}

/// Serves `routes` (one gRPC service, or several on one port) on `listener`.
pub(crate) async fn serve_grpc(
    name: &'static str,
    listener: TcpListener,
    routes: impl Into<tonic::service::Routes>,
    stop_receiver: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    tonic::transport::Server::builder()
        .add_routes(routes.into())
        .serve_with_incoming_shutdown(incoming, stopped(stop_receiver))
        .await
        .with_context(|| format!("{name} server failed"))
}

/// The push listeners `weft serve` and `weft agent` run alike.
pub(crate) struct PushListeners {
    pub otlp_http: Option<TcpListener>,
    pub otlp_grpc: Option<TcpListener>,
    pub jaeger_http: Option<TcpListener>,
    pub jaeger_compact: Option<UdpSocket>,
    pub jaeger_binary: Option<UdpSocket>,
}

/// Serves OTLP/HTTP, OTLP/gRPC, Jaeger collector HTTP and both Jaeger agent UDP
/// listeners into `receivers`, each as a task of `servers`.
pub(crate) fn spawn_push_listeners(
    servers: &mut JoinSet<anyhow::Result<()>>,
    listeners: PushListeners,
    receivers: &weft_receiver::ReceiverContext,
    jaeger_agent: &weft_receiver::JaegerAgentConfig,
    stop: &watch::Receiver<bool>,
) {
    if let Some(listener) = listeners.otlp_http {
        let router = weft_receiver::otlp_http_router(receivers);
        servers.spawn(serve_http("otlp_http", listener, router, stop.clone()));
    }
    if let Some(listener) = listeners.otlp_grpc {
        let service = weft_receiver::otlp_grpc_service(receivers);
        let routes = tonic::service::Routes::new(service)
            .add_service(weft_receiver::otlp_logs_grpc_service(receivers));
        servers.spawn(serve_grpc("otlp_grpc", listener, routes, stop.clone()));
    }
    if let Some(listener) = listeners.jaeger_http {
        let router = weft_receiver::jaeger_collector_http_router(receivers);
        servers.spawn(serve_http("jaeger_http", listener, router, stop.clone()));
    }
    for (socket, protocol) in [
        (listeners.jaeger_compact, AgentProtocol::Compact),
        (listeners.jaeger_binary, AgentProtocol::Binary),
    ] {
        let Some(socket) = socket else {
            continue;
        };
        let served = weft_receiver::serve_jaeger_agent_udp(
            socket,
            protocol,
            receivers.clone(),
            jaeger_agent.clone(),
            stopped(stop.clone()),
        );
        servers.spawn(async move {
            served
                .await
                .with_context(|| format!("{} listener failed", protocol.listener_name()))
        });
    }
}

/// Waits for SIGTERM or Ctrl-C (`None`), or for a listener in `servers` to end, which is
/// a failure (`Some`, with why).
pub(crate) async fn until_stop_or_failure(
    servers: &mut JoinSet<anyhow::Result<()>>,
    signals: &mut ShutdownSignals,
) -> Option<anyhow::Error> {
    tokio::select! {
        signal = signals.recv() => {
            tracing::info!(signal, "shutting down");
            None
        }
        Some(result) = servers.join_next() => Some(match result {
            Ok(Ok(())) => anyhow::anyhow!("a listener stopped unexpectedly"),
            Ok(Err(error)) => error,
            Err(join_error) => anyhow::anyhow!("a listener task failed: {join_error}"),
        }),
    }
}

/// SIGTERM and SIGINT, caught from the moment a process starts: a signal that arrives
/// while it is still starting (`/ready` may already answer) is kept until the main loop
/// waits for it, so it stops the process gracefully instead of killing it.
pub(crate) struct ShutdownSignals {
    terminate: Option<tokio::signal::unix::Signal>,
    interrupt: Option<tokio::signal::unix::Signal>,
}

impl ShutdownSignals {
    /// Starts catching both signals. Must be called within a Tokio runtime.
    pub(crate) fn install() -> Self {
        use tokio::signal::unix::{SignalKind, signal};
        Self {
            terminate: signal(SignalKind::terminate()).ok(),
            interrupt: signal(SignalKind::interrupt()).ok(),
        }
    }

    /// The name of the next signal received.
    async fn recv(&mut self) -> &'static str {
        async fn next(signal: Option<&mut tokio::signal::unix::Signal>) {
            match signal {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        }
        tokio::select! {
            _ = next(self.terminate.as_mut()) => "SIGTERM",
            _ = next(self.interrupt.as_mut()) => "SIGINT",
        }
    }
}
