//! Sampling's wiring: head sampling in front of storage, tail sampling in the ingester,
//! Jaeger remote sampling strategies (from a file, reloaded when it changes) and adaptive
//! sampling (recomputed every interval, kept across restarts beside the WAL).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use weft_ingester::{TailSampling, TailVerdict, TraceDecider};
use weft_model::{Span, TenantId};
use weft_remote_sampling::{
    AdaptiveCalculator, AdaptiveOptions, AdaptiveState, DEFAULT_SAMPLING_PROBABILITY,
    SamplingProvider,
};
use weft_sampling::{HeadConfig, HeadSampler, TailConfig, TailSampler};

/// How often the strategies file is checked for changes.
const STRATEGIES_POLL: Duration = Duration::from_secs(10);
/// The label of traces no policy decided on.
const NO_POLICY: &str = "none";

/// The `sampling` section: `--sampling.tail-policies`, `--sampling.head.default-ratio`,
/// `--sampling.strategies-file`, ...
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SamplingSection {
    /// Head sampling ratios, consistent by trace id; the default keeps every span.
    pub head: HeadConfig,
    /// A YAML file with the OpenTelemetry Collector's `tail_sampling` policies (the
    /// processor's block, or a whole Collector config); empty: no tail sampling.
    pub tail_policies: String,
    /// Decisions remembered for late spans, kept and dropped each, when the policies
    /// file sets no `decision_cache`.
    pub decision_cache_size: u64,
    /// A Jaeger sampling strategies file (JSON) served on `jaeger.sampling.listen` and
    /// the Jaeger gRPC listener; empty: `default_probability` for every service.
    pub strategies_file: String,
    /// The probabilistic strategy of services the strategies file does not name.
    pub default_probability: f64,
    /// Compute per-operation probabilities from observed throughput (Jaeger's adaptive
    /// sampling) and serve them to remote samplers.
    pub adaptive_enabled: bool,
    /// Adaptive sampling's settings (Jaeger's names and defaults).
    pub adaptive: AdaptiveOptions,
}

impl Default for SamplingSection {
    fn default() -> Self {
        SamplingSection {
            head: HeadConfig::default(),
            tail_policies: String::new(),
            decision_cache_size: 100_000,
            strategies_file: String::new(),
            default_probability: DEFAULT_SAMPLING_PROBABILITY,
            adaptive_enabled: false,
            adaptive: AdaptiveOptions::default(),
        }
    }
}

/// What the sampling settings build.
pub(crate) struct Sampling {
    pub head: Option<HeadSampler>,
    pub tail: Option<TailSampling>,
    pub provider: Arc<SamplingProvider>,
    pub adaptive: Option<Arc<Mutex<AdaptiveCalculator>>>,
    /// The tail policies' names and wait, for the status answer.
    pub tail_summary: Option<(Vec<String>, Duration)>,
    /// The strategies file as it was just before it was read, so a rewrite between the
    /// start and the first poll is still seen as a change.
    pub strategies_stamp: Option<FileStamp>,
}

/// Builds the samplers; every error names the setting or file and what is wrong.
pub(crate) fn build(section: &SamplingSection, storage_path: &Path) -> anyhow::Result<Sampling> {
    let head_on = section.head != HeadConfig::default();
    let head = if head_on {
        Some(HeadSampler::new(&section.head).context("invalid sampling.head")?)
    } else {
        None
    };
    let mut tail_summary = None;
    let tail = if section.tail_policies.is_empty() {
        None
    } else {
        let path = &section.tail_policies;
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read --sampling.tail-policies {path}"))?;
        let config = TailConfig::from_yaml_str(&text, path)?;
        for warning in &config.warnings {
            tracing::warn!(%warning, "tail sampling policies");
        }
        let cache = config
            .decision_cache
            .sampled_cache_size
            .max(config.decision_cache.non_sampled_cache_size);
        let cache = if cache == 0 {
            section.decision_cache_size
        } else {
            cache
        };
        tracing::info!(
            file = %path,
            policies = config.policies.len(),
            decision_wait = ?config.decision_wait,
            "tail sampling on"
        );
        let sampler = TailSampler::new(&config);
        tail_summary = Some((
            sampler.policy_names().map(str::to_owned).collect(),
            config.decision_wait,
        ));
        Some(TailSampling {
            decider: Arc::new(PolicyDecider(sampler)),
            decision_wait: config.decision_wait,
            decision_cache_size: usize::try_from(cache).unwrap_or(usize::MAX),
        })
    };
    let strategies_stamp = file_stamp(&section.strategies_file);
    let provider = if section.strategies_file.is_empty() {
        SamplingProvider::without_file(section.default_probability)
    } else {
        let path = &section.strategies_file;
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read --sampling.strategies-file {path}"))?;
        SamplingProvider::from_json(&text, section.default_probability)
            .with_context(|| format!("invalid --sampling.strategies-file {path}"))?
    };
    let provider = Arc::new(provider);
    let adaptive = if section.adaptive_enabled {
        section.adaptive.validate()?;
        let now = unix_millis();
        let calculator = match load_state(&adaptive_state_path(storage_path)) {
            Some(state) => AdaptiveCalculator::from_state(section.adaptive.clone(), state, now)?,
            None => AdaptiveCalculator::new(section.adaptive.clone(), now)?,
        };
        provider.set_adaptive(Some(calculator.probabilities()));
        Some(Arc::new(Mutex::new(calculator)))
    } else {
        None
    };
    Ok(Sampling {
        head,
        tail,
        provider,
        adaptive,
        tail_summary,
        strategies_stamp,
    })
}

/// `GET /api/sampling` on the main HTTP port: the sampling settings in force, the
/// strategies served to each known service, and adaptive sampling's per-operation
/// probabilities with the sampled rates they came from (what `weft sampling` prints).
pub(crate) fn status_router(section: &SamplingSection, sampling: &Sampling) -> axum::Router {
    let tail = sampling.tail_summary.as_ref().map(|(policies, wait)| {
        serde_json::json!({
            "policiesFile": section.tail_policies,
            "decisionWait": humantime::format_duration(*wait).to_string(),
            "policies": policies,
        })
    });
    let fixed = serde_json::json!({
        "head": section.head,
        "tail": tail,
        "strategiesFile": section.strategies_file,
        "adaptiveEnabled": section.adaptive_enabled,
    });
    let provider = sampling.provider.clone();
    let adaptive = sampling.adaptive.clone();
    axum::Router::new().route(
        "/api/sampling",
        axum::routing::get(move || {
            let mut answer = fixed.clone();
            let operations = adaptive.as_ref().map(|adaptive| {
                adaptive
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .state()
                    .operations
                    .clone()
            });
            let strategies = provider.strategies();
            let mut services: Vec<String> = strategies
                .services()
                .into_iter()
                .map(str::to_owned)
                .collect();
            services.extend(
                operations
                    .iter()
                    .flat_map(|operations| operations.keys().cloned()),
            );
            services.sort_unstable();
            services.dedup();
            let served: serde_json::Map<String, serde_json::Value> = services
                .into_iter()
                .map(|service| {
                    let json = provider.strategy_for(&service).to_json();
                    let value = serde_json::from_str(&json).unwrap_or(serde_json::Value::Null);
                    (service, value)
                })
                .collect();
            let default = serde_json::from_str(&strategies.default_response().to_json())
                .unwrap_or(serde_json::Value::Null);
            answer["defaultStrategy"] = default;
            answer["services"] = serde_json::Value::Object(served);
            answer["adaptiveOperations"] =
                serde_json::to_value(operations).unwrap_or(serde_json::Value::Null);
            async move { axum::Json(answer) }
        }),
    )
}

/// The tail-sampling policies as the ingester's decider.
struct PolicyDecider(TailSampler);

impl TraceDecider for PolicyDecider {
    fn decide(&self, _: &TenantId, spans: &[Span], now: Instant) -> TailVerdict {
        let decision = self.0.decide(spans, now);
        TailVerdict {
            keep: decision.is_sampled(),
            policy: decision
                .deciding_policy
                .unwrap_or_else(|| Arc::from(NO_POLICY)),
        }
    }
}

fn adaptive_state_path(storage_path: &Path) -> PathBuf {
    storage_path.join("sampling").join("adaptive.json")
}

fn load_state(path: &Path) -> Option<AdaptiveState> {
    let text = std::fs::read_to_string(path).ok()?;
    match serde_json::from_str(&text) {
        Ok(state) => Some(state),
        Err(error) => {
            tracing::warn!(%error, path = %path.display(), "ignoring unreadable adaptive sampling state");
            None
        }
    }
}

fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}

/// Re-reads the strategies file when it changes (keeping the old strategies when the
/// new text is invalid), and recomputes and saves adaptive probabilities, until `stop`.
pub(crate) async fn maintain(
    section: SamplingSection,
    storage_path: PathBuf,
    provider: Arc<SamplingProvider>,
    adaptive: Option<Arc<Mutex<AdaptiveCalculator>>>,
    loaded: Option<FileStamp>,
    mut stop: watch::Receiver<bool>,
) {
    let mut loaded = loaded;
    let tick = section
        .adaptive
        .calculation_interval
        .min(STRATEGIES_POLL)
        .max(Duration::from_millis(100));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = stop.changed() => return,
        }
        if !section.strategies_file.is_empty() {
            let now = file_stamp(&section.strategies_file);
            if now != loaded {
                loaded = now;
                reload_strategies(&section.strategies_file, &provider);
            }
        }
        if let Some(adaptive) = &adaptive {
            let state = {
                let mut calculator = adaptive.lock().unwrap_or_else(PoisonError::into_inner);
                if !calculator.recalculate(unix_millis()) {
                    continue;
                }
                provider.set_adaptive(Some(calculator.probabilities()));
                serde_json::to_vec(calculator.state())
            };
            if let Ok(state) = state {
                let path = adaptive_state_path(&storage_path);
                let saved = tokio::task::spawn_blocking(move || save(&path, &state)).await;
                if let Ok(Err(error)) = saved {
                    tracing::warn!(%error, "cannot save the adaptive sampling state");
                }
            }
        }
    }
}

fn reload_strategies(path: &str, provider: &SamplingProvider) {
    match std::fs::read_to_string(path) {
        Ok(text) => match provider.reload_strategies(&text) {
            Ok(warnings) => {
                for warning in warnings {
                    tracing::warn!(%warning, file = path, "sampling strategies");
                }
                tracing::info!(file = path, "reloaded sampling strategies");
            }
            Err(error) => {
                tracing::error!(%error, file = path, "keeping the previous sampling strategies")
            }
        },
        Err(error) => {
            tracing::error!(%error, file = path, "cannot read sampling strategies; keeping the previous ones")
        }
    }
}

/// What tells one version of a file from the next: its modification time alone misses
/// a rewrite within the file system's timestamp granularity, so the inode (a rename
/// over the file gives a new one) and the length count too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FileStamp {
    modified: Option<SystemTime>,
    inode: u64,
    len: u64,
}

fn file_stamp(path: &str) -> Option<FileStamp> {
    use std::os::unix::fs::MetadataExt;
    if path.is_empty() {
        return None;
    }
    let meta = std::fs::metadata(path).ok()?;
    Some(FileStamp {
        modified: meta.modified().ok(),
        inode: meta.ino(),
        len: meta.len(),
    })
}

/// Writes `bytes` to `path` through a temporary file, so a crash leaves the old state.
fn save(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(directory) = path.parent() {
        std::fs::create_dir_all(directory)?;
    }
    let temporary = path.with_extension("json.tmp");
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, path)
}
