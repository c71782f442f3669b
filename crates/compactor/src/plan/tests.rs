use super::*;

const HOUR: u64 = 3_600_000_000_000;
const DAY: u64 = 24 * HOUR;

fn id(number: u64) -> BlockId {
    BlockId::from_parts(number, u128::from(number))
}

fn block(number: u64, level: u32, ingested_max_unix_nanos: u64) -> BlockSummary {
    BlockSummary {
        block_id: id(number),
        compaction_level: level,
        compacted_from: Vec::new(),
        ingested_max_unix_nanos,
        span_count: 100,
        data_bytes: 1_000,
    }
}

fn inputs(job: &CompactionJob) -> Vec<u64> {
    job.inputs.iter().map(|input| input.unix_millis()).collect()
}

/// A time at which every window of the test blocks is settled.
const LATER: u64 = 100 * DAY;

#[test]
fn blocks_are_grouped_by_level_and_ingest_window_oldest_first() {
    let config = CompactorConfig::default();
    let blocks = vec![
        block(1, 0, 10),
        block(2, 0, HOUR - 1),
        block(3, 0, HOUR),
        block(4, 0, HOUR + 5),
        block(5, 0, 30 * 60 * 1_000_000_000),
        block(6, 1, 2 * HOUR),
        block(7, 1, 20 * HOUR),
        block(8, 1, DAY + 1),
        block(9, 2, 3),
        block(10, 2, 4),
    ];
    let jobs = plan_jobs(&blocks, &config, LATER);
    let summary: Vec<(u64, u32, Vec<u64>)> = jobs
        .iter()
        .map(|job| (job.window_start_unix_nanos, job.output_level, inputs(job)))
        .collect();
    assert_eq!(
        summary,
        vec![
            (0, 1, vec![1, 5, 2]),
            (0, 2, vec![6, 7]),
            (HOUR, 1, vec![3, 4]),
        ],
        "block 8 is alone in its day, level 2 is final"
    );
    assert_eq!(jobs[0].window_end_unix_nanos, HOUR);
    assert_eq!(jobs[1].window_end_unix_nanos, DAY);
    assert_eq!(jobs[0].input_spans, 300);
    assert_eq!(jobs[0].input_bytes, 3_000);
}

#[test]
fn jobs_respect_input_count_and_output_size_bounds() {
    let config = CompactorConfig {
        max_inputs: 3,
        ..CompactorConfig::default()
    };
    let blocks: Vec<BlockSummary> = (1..=7).map(|number| block(number, 0, number)).collect();
    let jobs = plan_jobs(&blocks, &config, LATER);
    assert_eq!(
        jobs.iter().map(inputs).collect::<Vec<_>>(),
        vec![vec![1, 2, 3], vec![4, 5, 6]],
        "the seventh block alone is below min_inputs"
    );

    let config = CompactorConfig {
        max_output_spans: 250,
        ..CompactorConfig::default()
    };
    let mut blocks: Vec<BlockSummary> = (1..=5).map(|number| block(number, 0, number)).collect();
    blocks[2].span_count = 1_000;
    let jobs = plan_jobs(&blocks, &config, LATER);
    assert_eq!(
        jobs.iter().map(inputs).collect::<Vec<_>>(),
        vec![vec![1, 2], vec![4, 5]],
        "a block over the span bound on its own is left alone"
    );

    let config = CompactorConfig {
        max_output_bytes: 2_500,
        ..CompactorConfig::default()
    };
    let blocks: Vec<BlockSummary> = (1..=4).map(|number| block(number, 0, number)).collect();
    let jobs = plan_jobs(&blocks, &config, LATER);
    assert_eq!(
        jobs.iter().map(inputs).collect::<Vec<_>>(),
        vec![vec![1, 2], vec![3, 4]]
    );
    assert!(jobs.iter().all(|job| job.input_bytes <= 2_500));
}

#[test]
fn open_windows_are_merged_only_in_full_batches() {
    let config = CompactorConfig {
        max_inputs: 3,
        ..CompactorConfig::default()
    };
    let settle = nanos(config.window_settle_delay);
    let blocks: Vec<BlockSummary> = (1..=5).map(|number| block(number, 0, number)).collect();
    let open = plan_jobs(&blocks, &config, HOUR + settle - 1);
    assert_eq!(
        open.iter().map(inputs).collect::<Vec<_>>(),
        vec![vec![1, 2, 3]]
    );
    let settled = plan_jobs(&blocks, &config, HOUR + settle);
    assert_eq!(
        settled.iter().map(inputs).collect::<Vec<_>>(),
        vec![vec![1, 2, 3], vec![4, 5]]
    );
    let two: Vec<BlockSummary> = (1..=2).map(|number| block(number, 0, number)).collect();
    assert!(
        plan_jobs(&two, &config, 10).is_empty(),
        "small open batch waits"
    );
}

#[test]
fn superseded_and_pinned_blocks_are_not_planned() {
    let config = CompactorConfig::default();
    let mut merged = block(3, 1, 5);
    merged.compacted_from = vec![id(1), id(2)];
    let blocks = vec![
        block(1, 0, 1),
        block(2, 0, 2),
        merged.clone(),
        block(4, 1, 6),
    ];
    assert!(
        plan_jobs(&blocks, &config, LATER).is_empty(),
        "inputs 1 and 2 are superseded, 3 is pinned while they exist, 4 is alone"
    );
    let without_inputs = vec![merged, block(4, 1, 6)];
    let jobs = plan_jobs(&without_inputs, &config, LATER);
    assert_eq!(
        jobs.iter().map(inputs).collect::<Vec<_>>(),
        vec![vec![3, 4]]
    );
}

#[test]
fn superseded_ids_ignore_self_references() {
    let own = [id(1), id(2)];
    let superseded = superseded_ids([(id(1), own.as_slice())].into_iter());
    assert!(superseded.contains(&id(2)));
    assert!(!superseded.contains(&id(1)));
    let complete: HashSet<BlockId> = [id(1)].into_iter().collect();
    assert!(!is_pinned(&own, id(1), &complete));
    let complete: HashSet<BlockId> = [id(1), id(2)].into_iter().collect();
    assert!(is_pinned(&own, id(1), &complete));
}

#[test]
fn zero_or_missing_windows_make_levels_final() {
    let config = CompactorConfig {
        level_windows: vec![Duration::ZERO],
        ..CompactorConfig::default()
    };
    let blocks: Vec<BlockSummary> = (1..=3).map(|number| block(number, 0, number)).collect();
    assert!(plan_jobs(&blocks, &config, LATER).is_empty());
    let config = CompactorConfig {
        level_windows: Vec::new(),
        ..CompactorConfig::default()
    };
    assert!(plan_jobs(&blocks, &config, LATER).is_empty());
}
