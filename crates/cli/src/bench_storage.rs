//! `weft bench storage`: writes the bench corpus straight into a local block store, laid
//! out as compaction would leave a day of data, and reports its size on disk and the
//! write rate.
//!
//! The corpus (`TraceGenerator`, default settings) is cut into one block per equal time
//! slice of the last `--hours`; the traces of a slice start at evenly spaced times in
//! generation order. Blocks are written with the streaming `BlockWriter` at compaction
//! level 1, their traces in trace-id order. To keep memory small whatever the size, a
//! planning thread generates each block's traces once and keeps only their ids and
//! generator positions; the writer threads (`--writers`, one block each at a time)
//! regenerate the traces in trace-id order from those positions and push them in
//! batches. Every ~1,000th trace (with its start) goes to `DIR/bench-trace-ids.txt` for
//! `weft bench query`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::{Arg, ArgMatches, Command, value_parser};
use weft_bench::id_file::{IdFile, TraceIdSample};
use weft_bench::layout::{CorpusLayout, TimeSlice};
use weft_bench::{GeneratorPosition, GeneratorSettings, TraceGenerator};
use weft_model::{TenantId, TraceId};
use weft_storage::{
    BlockMeta, BlockStore, BlockWriteOptions, CacheConfig, ObjectBlockStore, block_order,
};

use crate::bench::{directory_bytes, mebibytes, thousands};

/// Name of the sampled-id file written beside the blocks.
pub const TRACE_IDS_FILE: &str = "bench-trace-ids.txt";
/// Every how many traces one goes into the id file.
const SAMPLE_EVERY_TRACES: u64 = 1_000;
/// Spans handed to the block writer per push.
const PUSH_BATCH_SPANS: usize = 8_192;

pub fn command() -> Command {
    Command::new("storage")
        .about("Write the bench corpus into a local block store as a day of compacted blocks; report bytes/span and the write rate")
        .arg(
            Arg::new("path")
                .long("path")
                .required(true)
                .value_name("DIR")
                .value_parser(value_parser!(PathBuf))
                .help("Storage directory (what `weft serve --storage.path DIR` reads); blocks go to DIR/blocks, which must be empty"),
        )
        .arg(Arg::new("spans").long("spans").default_value("50000000").value_parser(value_parser!(u64)).help("Spans in the corpus (whole traces: may end up one trace over)"))
        .arg(Arg::new("hours").long("hours").default_value("24").value_parser(value_parser!(f64)).help("Trace start times are spread evenly over this many hours, ending now"))
        .arg(Arg::new("block-spans").long("block-spans").default_value("2000000").value_parser(value_parser!(u64)).help("About this many spans per block; one block per equal time slice"))
        .arg(Arg::new("seed").long("seed").default_value("42").value_parser(value_parser!(u64)).help("Corpus seed"))
        .arg(Arg::new("tenant").long("tenant").help("Tenant to write the blocks for [default: single-tenant, the tenant when multi-tenancy is off]"))
        .arg(Arg::new("writers").long("writers").default_value("2").value_parser(value_parser!(usize)).help("Blocks written at once, each on its own thread (a planning thread generates ahead)"))
}

/// One block's traces, by generator position, sorted by trace id.
pub(crate) struct BlockPlan {
    pub(crate) block_index: u64,
    pub(crate) slice: TimeSlice,
    /// (trace id, where the generator drew it, start time), ascending trace id.
    pub(crate) traces: Vec<(TraceId, GeneratorPosition, u64)>,
}

/// What one written block reported.
struct WrittenBlock {
    block_index: u64,
    meta: BlockMeta,
    elapsed: Duration,
}

pub(crate) struct Settings {
    pub(crate) generator: GeneratorSettings,
    pub(crate) layout: CorpusLayout,
    pub(crate) tenant: TenantId,
    pub(crate) writers: usize,
}

pub async fn run(arguments: &ArgMatches) -> anyhow::Result<()> {
    let path = arguments
        .get_one::<PathBuf>("path")
        .context("--path is required")?
        .clone();
    let spans = *arguments.get_one::<u64>("spans").unwrap_or(&50_000_000);
    let hours = *arguments.get_one::<f64>("hours").unwrap_or(&24.0);
    let block_spans = *arguments
        .get_one::<u64>("block-spans")
        .unwrap_or(&2_000_000);
    let seed = *arguments.get_one::<u64>("seed").unwrap_or(&42);
    let writers = (*arguments.get_one::<usize>("writers").unwrap_or(&2)).max(1);
    let tenant = match arguments.get_one::<String>("tenant") {
        Some(text) => {
            TenantId::parse(text).with_context(|| format!("invalid --tenant {text:?}"))?
        }
        None => TenantId::single(),
    };
    if !(hours.is_finite() && hours > 0.0 && hours <= 24.0 * 366.0 * 10.0) {
        bail!("invalid --hours {hours}: expected a positive number of hours");
    }
    let now_unix_nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("clock before 1970")?
        .as_nanos() as u64;
    let layout = CorpusLayout::new(
        now_unix_nanos,
        Duration::from_secs_f64(hours * 3600.0),
        spans,
        block_spans,
    )
    .context("invalid corpus layout")?;

    let blocks_directory = path.join("blocks");
    if std::fs::read_dir(&blocks_directory).is_ok_and(|mut entries| entries.next().is_some()) {
        bail!(
            "{} is not empty: write the bench corpus into an empty storage directory",
            blocks_directory.display()
        );
    }
    let store: Arc<dyn BlockStore> = Arc::new(
        ObjectBlockStore::local(&blocks_directory, CacheConfig::default()).with_context(|| {
            format!(
                "cannot open a block store at {}",
                blocks_directory.display()
            )
        })?,
    );
    let settings = Arc::new(Settings {
        generator: GeneratorSettings {
            seed,
            ..GeneratorSettings::default()
        },
        layout,
        tenant: tenant.clone(),
        writers,
    });
    eprintln!(
        "writing {} spans as {} blocks of ~{} spans over the last {hours} h into {} ({writers} writers)",
        thousands(spans),
        layout.block_count(),
        thousands(spans / layout.block_count()),
        blocks_directory.display()
    );

    let started = Instant::now();
    let handle = tokio::runtime::Handle::current();
    let worker_settings = settings.clone();
    let (written, samples, trace_count) =
        tokio::task::spawn_blocking(move || write_corpus(&worker_settings, store, &handle))
            .await
            .context("the storage bench panicked")??;
    let elapsed = started.elapsed();

    let id_file = IdFile {
        metadata: [
            ("seed", seed.to_string()),
            ("spans", spans.to_string()),
            ("hours", hours.to_string()),
            ("block_spans", block_spans.to_string()),
            ("tenant", tenant.to_string()),
            ("start_unix_nanos", layout.start_unix_nanos.to_string()),
            ("end_unix_nanos", layout.end_unix_nanos.to_string()),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect(),
        samples,
    };
    let id_path = path.join(TRACE_IDS_FILE);
    std::fs::write(&id_path, id_file.to_text())
        .with_context(|| format!("cannot write {}", id_path.display()))?;
    print_report(
        &settings,
        &written,
        trace_count,
        elapsed,
        &blocks_directory,
        &id_path,
        id_file.samples.len(),
    );
    Ok(())
}

/// Plans and writes every block; returns the written blocks, the id samples and the
/// number of traces.
fn write_corpus(
    settings: &Settings,
    store: Arc<dyn BlockStore>,
    handle: &tokio::runtime::Handle,
) -> anyhow::Result<(Vec<WrittenBlock>, Vec<TraceIdSample>, u64)> {
    let (plans_out, plans_in) = sync_channel::<BlockPlan>(1);
    let plans_in = Mutex::new(plans_in);
    let failed = AtomicBool::new(false);
    let written = Mutex::new(Vec::new());
    let first_error = Mutex::new(None::<anyhow::Error>);
    let (samples, trace_count) = std::thread::scope(|scope| {
        for _ in 0..settings.writers {
            scope.spawn(|| {
                while !failed.load(Ordering::SeqCst) {
                    let Some(plan) = next_plan(&plans_in) else {
                        return;
                    };
                    match write_block(settings, store.as_ref(), handle, plan) {
                        Ok(block) => {
                            report_progress(settings, &block);
                            written
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .push(block);
                        }
                        Err(error) => {
                            failed.store(true, Ordering::SeqCst);
                            first_error
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .get_or_insert(error);
                        }
                    }
                }
            });
        }
        // The sender moves into the closure, so it is dropped (and idle writers see the
        // end of the plans) as soon as planning is over.
        let failed = &failed;
        plan_blocks(settings, move |plan| {
            !failed.load(Ordering::SeqCst) && plans_out.send(plan).is_ok()
        })
    });
    if let Some(error) = first_error
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner)
    {
        return Err(error);
    }
    let mut written = written.into_inner().unwrap_or_else(PoisonError::into_inner);
    written.sort_by_key(|block| block.meta.min_start_unix_nanos);
    Ok((written, samples, trace_count))
}

fn next_plan(plans: &Mutex<Receiver<BlockPlan>>) -> Option<BlockPlan> {
    plans
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .recv()
        .ok()
}

/// Generates the corpus once, block by block, and hands each block's plan to `send`
/// (which answers false to stop). Returns the id samples and the number of traces.
pub(crate) fn plan_blocks(
    settings: &Settings,
    mut send: impl FnMut(BlockPlan) -> bool,
) -> (Vec<TraceIdSample>, u64) {
    let layout = settings.layout;
    let mut generator = TraceGenerator::new(settings.generator.clone());
    let mut samples = Vec::new();
    let mut spans_planned = 0u64;
    let mut traces_planned = 0u64;
    for block_index in 0..layout.block_count() {
        let target = layout.cumulative_spans_after(block_index);
        let mut traces = Vec::new();
        while spans_planned < target {
            let position = generator.position();
            let trace = generator.next_trace(0);
            let Some(first) = trace.first() else {
                continue;
            };
            spans_planned += trace.len() as u64;
            traces.push((first.trace_id, position, 0));
        }
        let slice = layout.slice(block_index);
        let count = traces.len() as u64;
        for (index, (trace_id, _, start)) in traces.iter_mut().enumerate() {
            *start = slice.spread(index as u64, count);
            if (traces_planned + index as u64).is_multiple_of(SAMPLE_EVERY_TRACES) {
                samples.push(TraceIdSample {
                    trace_id: *trace_id,
                    start_unix_nanos: *start,
                });
            }
        }
        traces_planned += count;
        if traces.is_empty() {
            continue;
        }
        traces.sort_unstable_by_key(|(trace_id, _, _)| *trace_id);
        let plan = BlockPlan {
            block_index,
            slice,
            traces,
        };
        if !send(plan) {
            break;
        }
    }
    (samples, traces_planned)
}

/// Regenerates a block's traces in trace-id order and streams them into a new block.
fn write_block(
    settings: &Settings,
    store: &dyn BlockStore,
    handle: &tokio::runtime::Handle,
    plan: BlockPlan,
) -> anyhow::Result<WrittenBlock> {
    let started = Instant::now();
    let options = BlockWriteOptions {
        compaction_level: 1,
        // As if the slice's spans had arrived as they happened.
        ingested_unix_nanos: Some((plan.slice.start_unix_nanos, plan.slice.end_unix_nanos)),
        ..BlockWriteOptions::default()
    };
    let mut writer = handle
        .block_on(store.writer(&settings.tenant, &options))
        .with_context(|| format!("cannot start block {}", plan.block_index))?;
    let mut generator = TraceGenerator::new(settings.generator.clone());
    let mut batch = Vec::with_capacity(PUSH_BATCH_SPANS + 1_024);
    let mut pushed = Ok(());
    for (trace_id, position, start_unix_nanos) in &plan.traces {
        generator.seek(*position);
        let mut trace = generator.next_trace(*start_unix_nanos);
        if trace.first().map(|span| span.trace_id) != Some(*trace_id) {
            pushed = Err(anyhow::anyhow!(
                "regenerating trace {trace_id} of block {} gave another trace",
                plan.block_index
            ));
            break;
        }
        trace.sort_by(block_order);
        batch.append(&mut trace);
        if batch.len() >= PUSH_BATCH_SPANS {
            pushed = handle
                .block_on(writer.push(&batch))
                .map_err(anyhow::Error::from);
            batch.clear();
            if pushed.is_err() {
                break;
            }
        }
    }
    if pushed.is_ok() && !batch.is_empty() {
        pushed = handle
            .block_on(writer.push(&batch))
            .map_err(anyhow::Error::from);
    }
    if let Err(error) = pushed {
        let _ = handle.block_on(writer.abort());
        return Err(error.context(format!("cannot write block {}", plan.block_index)));
    }
    let meta = handle
        .block_on(writer.finish())
        .with_context(|| format!("cannot finish block {}", plan.block_index))?
        .with_context(|| format!("block {} had no spans", plan.block_index))?;
    Ok(WrittenBlock {
        block_index: plan.block_index,
        meta,
        elapsed: started.elapsed(),
    })
}

fn report_progress(settings: &Settings, block: &WrittenBlock) {
    let meta = &block.meta;
    eprintln!(
        "  block {} of {} ({}): {} spans, {} traces, {} row groups, data {:.1} MiB ({:.1} B/span), {:.1} s",
        block.block_index + 1,
        settings.layout.block_count(),
        meta.block_id,
        thousands(meta.span_count),
        thousands(meta.trace_count),
        meta.row_group_count,
        mebibytes(meta.data_bytes),
        meta.data_bytes as f64 / meta.span_count.max(1) as f64,
        block.elapsed.as_secs_f64()
    );
}

fn print_report(
    settings: &Settings,
    written: &[WrittenBlock],
    trace_count: u64,
    elapsed: Duration,
    blocks_directory: &Path,
    id_path: &Path,
    sampled: usize,
) {
    let sum =
        |field: fn(&BlockMeta) -> u64| written.iter().map(|block| field(&block.meta)).sum::<u64>();
    let spans = sum(|meta| meta.span_count);
    let per_span = |bytes: u64| bytes as f64 / spans.max(1) as f64;
    let on_disk = directory_bytes(blocks_directory);
    let data = sum(|meta| meta.data_bytes);
    let traces = sum(|meta| meta.traces_bytes);
    let bloom = sum(|meta| meta.bloom_bytes);
    let row_groups = sum(|meta| meta.row_group_count);
    let seconds = elapsed.as_secs_f64().max(1e-9);
    println!(
        "spans          {} in {} traces, {} blocks (compaction level 1, tenant {})",
        thousands(spans),
        thousands(trace_count),
        written.len(),
        settings.tenant
    );
    println!(
        "time range     {:.1} h ending now ({} .. {} unix ns)",
        (settings.layout.end_unix_nanos - settings.layout.start_unix_nanos) as f64 / 3.6e12,
        settings.layout.start_unix_nanos,
        settings.layout.end_unix_nanos
    );
    println!(
        "on disk        {:.1} MiB = {:.2} bytes/span (every file under {})",
        mebibytes(on_disk),
        per_span(on_disk),
        blocks_directory.display()
    );
    println!(
        "data.parquet   {:.1} MiB = {:.2} bytes/span, {} row groups; traces.parquet {:.2} B/span; bloom {:.2} B/span",
        mebibytes(data),
        per_span(data),
        thousands(row_groups),
        per_span(traces),
        per_span(bloom)
    );
    println!(
        "write          {:.1} s: {} spans/s, {:.1} MiB/s on disk (generation included, {} writers)",
        seconds,
        thousands((spans as f64 / seconds) as u64),
        mebibytes(on_disk) / seconds,
        settings.writers
    );
    if let Some(peak) = weft_bench::soak::process_memory_bytes(std::process::id(), "VmHWM") {
        println!("bench peak RSS {:.0} MiB", mebibytes(peak));
    }
    println!("trace ids      {sampled} sampled to {}", id_path.display());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(spans: u64, block_spans: u64) -> Settings {
        Settings {
            generator: GeneratorSettings::default(),
            layout: CorpusLayout::new(
                1_800_000_000_000_000_000,
                Duration::from_secs(3_600),
                spans,
                block_spans,
            )
            .expect("valid"),
            tenant: TenantId::single(),
            writers: 1,
        }
    }

    #[test]
    fn plans_cover_the_corpus_in_trace_id_order_inside_each_slice() {
        let settings = settings(30_000, 10_000);
        let mut plans = Vec::new();
        let (samples, trace_count) = plan_blocks(&settings, |plan| {
            plans.push(plan);
            true
        });
        assert_eq!(plans.len(), 3);
        let planned: usize = plans.iter().map(|plan| plan.traces.len()).sum();
        assert_eq!(planned as u64, trace_count);
        assert_eq!(
            samples.len() as u64,
            trace_count.div_ceil(SAMPLE_EVERY_TRACES)
        );
        for plan in &plans {
            assert!(plan.traces.windows(2).all(|pair| pair[0].0 < pair[1].0));
            assert!(plan.traces.iter().all(|(_, _, start)| {
                (plan.slice.start_unix_nanos..plan.slice.end_unix_nanos).contains(start)
            }));
        }
        // The samples are real traces of the plan, with their planned start.
        let all: Vec<_> = plans.iter().flat_map(|plan| plan.traces.iter()).collect();
        for sample in &samples {
            assert!(all.iter().any(|(trace_id, _, start)| {
                *trace_id == sample.trace_id && *start == sample.start_unix_nanos
            }));
        }
        // Regenerating from a position gives the planned trace, at its start.
        let (trace_id, position, start) = plans[1].traces[7];
        let mut generator = TraceGenerator::new(GeneratorSettings::default());
        generator.seek(position);
        let trace = generator.next_trace(start);
        assert_eq!(trace[0].trace_id, trace_id);
        assert_eq!(trace[0].start_unix_nanos, start);
    }

    #[test]
    fn planning_stops_when_the_writers_are_gone() {
        let settings = settings(30_000, 10_000);
        let mut sent = 0;
        plan_blocks(&settings, |_| {
            sent += 1;
            false
        });
        assert_eq!(sent, 1);
    }
}
