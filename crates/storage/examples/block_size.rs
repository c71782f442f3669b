//! Block size and trace-lookup cost on the benchmark corpus (crates/bench generator).
//!
//! `cargo run -p weft-storage --example block_size [spans] [dir]` (default 500000 spans,
//! a temporary directory; add `--release` for realistic timings). Prints bytes per span
//! of each block file, and the bytes read and time of trace lookups once the footer is
//! cached.

use std::time::Instant;

use weft_bench::{GeneratorSettings, TraceGenerator};
use weft_model::{Span, SpanFilter, TenantId, TimeWindow, TraceId};
use weft_storage::{BlockStore, BlockWriteOptions, CacheConfig, ObjectBlockStore};

const BASE_UNIX_NANOS: u64 = 1_700_000_000_000_000_000;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut arguments = std::env::args().skip(1);
    let target_spans: usize = arguments.next().map_or(Ok(500_000), |text| text.parse())?;
    let temporary = tempfile::tempdir()?;
    let directory = arguments
        .next()
        .map_or_else(|| temporary.path().to_path_buf(), std::path::PathBuf::from);

    let mut generator = TraceGenerator::new(GeneratorSettings::default());
    let mut spans: Vec<Span> = Vec::with_capacity(target_spans + 500);
    let mut traces = 0u64;
    // Traces arrive over an hour, as in a compacted level-1 block.
    while spans.len() < target_spans {
        let start = BASE_UNIX_NANOS + traces * 3_600_000_000_000 / (target_spans as u64 / 18 + 1);
        spans.extend(generator.next_trace(start));
        traces += 1;
    }
    let store = ObjectBlockStore::local(&directory, CacheConfig::default())?;
    let tenant = TenantId::single();
    let started = Instant::now();
    let meta = store
        .write_block(&tenant, &spans, &BlockWriteOptions::default())
        .await?
        .ok_or("no spans")?;
    let write_seconds = started.elapsed().as_secs_f64();
    let per_span = |bytes: u64| bytes as f64 / meta.span_count as f64;
    println!(
        "{} spans, {} traces, {} row groups, written in {write_seconds:.2} s",
        meta.span_count, meta.trace_count, meta.row_group_count
    );
    println!(
        "bytes/span: data {:.2}  traces {:.2}  bloom {:.2}  total {:.2}",
        per_span(meta.data_bytes),
        per_span(meta.traces_bytes),
        per_span(meta.bloom_bytes),
        per_span(meta.data_bytes + meta.traces_bytes + meta.bloom_bytes)
    );

    print_column_sizes(
        &directory
            .join(tenant.as_str())
            .join(meta.block_id.to_string())
            .join("data.parquet"),
        meta.span_count,
    )?;

    let reader = store.open_block(&tenant, meta.block_id).await?;
    let mut ids: Vec<TraceId> = spans.iter().map(|span| span.trace_id).collect();
    ids.dedup();
    drop(spans);
    let before_footer = store.bytes_read();
    reader.trace(ids[0]).await?;
    println!(
        "first lookup (loads the footer): {} KB",
        (store.bytes_read() - before_footer) / 1024
    );
    let lookups = 200;
    let before = store.bytes_read();
    let started = Instant::now();
    let mut found = 0;
    for index in 0..lookups {
        let id = ids[(index * 7919 + 13) % ids.len()];
        found += reader.trace(id).await?.len();
    }
    let elapsed = started.elapsed();
    println!(
        "lookup: {:.1} KB read and {:.2} ms per trace ({} spans found in {lookups} lookups)",
        (store.bytes_read() - before) as f64 / 1024.0 / lookups as f64,
        elapsed.as_secs_f64() * 1000.0 / lookups as f64,
        found
    );
    let window = TimeWindow {
        start_unix_nanos: BASE_UNIX_NANOS,
        end_unix_nanos: BASE_UNIX_NANOS + 600_000_000_000,
    };
    let filter = SpanFilter {
        service_name: Some(String::from("checkout-service")),
        min_duration_nanos: Some(1_000_000),
        ..SpanFilter::default()
    };
    let started = Instant::now();
    let before = store.bytes_read();
    let matches = reader.search(window, &filter).await?;
    println!(
        "search (service + duration, 10 of 60 minutes): {} matches, {:.1} ms, {} KB read",
        matches.len(),
        started.elapsed().as_secs_f64() * 1000.0,
        (store.bytes_read() - before) / 1024
    );
    Ok(())
}

/// Compressed bytes per span of each column (leaf columns summed per top-level column).
fn print_column_sizes(
    path: &std::path::Path,
    spans: u64,
) -> Result<(), Box<dyn std::error::Error>> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let reader = SerializedFileReader::new(std::fs::File::open(path)?)?;
    let mut sizes: Vec<(String, i64)> = Vec::new();
    for group in reader.metadata().row_groups() {
        for column in group.columns() {
            let root = column.column_path().parts()[0].clone();
            match sizes.iter_mut().find(|(name, _)| *name == root) {
                Some((_, bytes)) => *bytes += column.compressed_size(),
                None => sizes.push((root, column.compressed_size())),
            }
        }
    }
    sizes.sort_by_key(|(_, bytes)| -bytes);
    let line: Vec<String> = sizes
        .iter()
        .filter(|(_, bytes)| *bytes as f64 / spans as f64 >= 0.05)
        .map(|(name, bytes)| format!("{name} {:.2}", *bytes as f64 / spans as f64))
        .collect();
    println!("data bytes/span by column: {}", line.join(", "));
    Ok(())
}
