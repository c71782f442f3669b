use std::sync::Arc;
use std::time::Duration;

use weft_model::{Resource, Span, SpanId, TenantId, TraceId};

use super::*;
use crate::config::WalFsyncPolicy;
use crate::test_support::TempDir;

fn spans(count: u64) -> Vec<Span> {
    let resource = Arc::new(Resource::for_service("frontend"));
    (0..count)
        .map(|index| {
            let mut span = Span::new(
                TraceId::from_halves(0, index + 1),
                SpanId::from_u64(1),
                "op",
            );
            span.resource = resource.clone();
            span.start_unix_nanos = 1_000 + index;
            span
        })
        .collect()
}

fn write_segment(path: &std::path::Path, records: &[Vec<u8>]) {
    let mut bytes = SEGMENT_MAGIC.to_vec();
    for record in records {
        bytes.extend_from_slice(record);
    }
    std::fs::write(path, bytes).expect("write segment");
}

fn read_all(path: &std::path::Path) -> (Vec<(TenantId, Vec<Span>)>, SegmentReport) {
    let mut found = Vec::new();
    let report = read_segment(path, |tenant, spans| found.push((tenant, spans))).expect("reads");
    (found, report)
}

#[test]
fn segment_names_sort_numerically_and_reject_strangers() {
    assert_eq!(segment_file_name(7), "00000000000000000007.wal");
    assert_eq!(parse_segment_file_name("00000000000000000007.wal"), Some(7));
    assert_eq!(parse_segment_file_name("7.wal"), None);
    assert_eq!(parse_segment_file_name("0000000000000000000a.wal"), None);
    assert_eq!(
        parse_segment_file_name("00000000000000000007.wal.tmp"),
        None
    );
}

#[test]
fn records_round_trip_with_their_tenant() {
    let directory = TempDir::new("wal-roundtrip");
    let team = TenantId::parse("team-a").expect("tenant");
    let first = encode_record(&TenantId::single(), &spans(3))
        .expect("encodes")
        .bytes;
    let second = encode_record(&team, &spans(1)).expect("encodes").bytes;
    let path = directory.path().join(segment_file_name(1));
    write_segment(&path, &[first, second]);
    let (found, report) = read_all(&path);
    assert_eq!(report.records, 2);
    assert_eq!(report.stopped_early, None);
    assert_eq!(found[0], (TenantId::single(), spans(3)));
    assert_eq!(found[1], (team, spans(1)));
}

#[test]
fn a_torn_tail_ends_the_segment_without_losing_earlier_records() {
    let directory = TempDir::new("wal-torn");
    let first = encode_record(&TenantId::single(), &spans(2))
        .expect("encodes")
        .bytes;
    let second = encode_record(&TenantId::single(), &spans(5))
        .expect("encodes")
        .bytes;
    let path = directory.path().join(segment_file_name(1));
    let full = [first.clone(), second.clone()].concat();
    // Every possible cut inside the second record keeps exactly the first.
    for cut in first.len() + 1..full.len() {
        write_segment(&path, &[full[..cut].to_vec()]);
        let (found, report) = read_all(&path);
        assert_eq!(found.len(), 1, "cut at {cut}");
        assert_eq!(report.corrupt_records, 1, "cut at {cut}");
        assert!(report.stopped_early.is_some());
    }
    // A flipped payload byte fails the checksum.
    let mut damaged = second.clone();
    let last = damaged.len() - 1;
    damaged[last] ^= 0x10;
    write_segment(&path, &[first.clone(), damaged, first.clone()]);
    let (found, report) = read_all(&path);
    assert_eq!(found.len(), 1, "reading stops at the damaged record");
    assert!(report.stopped_early.expect("stopped").contains("checksum"));
    // A header claiming a huge length is corruption, not an allocation.
    let mut huge = first.clone();
    huge[..4].copy_from_slice(&u32::MAX.to_le_bytes());
    write_segment(&path, &[huge]);
    assert_eq!(read_all(&path).1.corrupt_records, 1);
}

#[test]
fn empty_and_foreign_segments_are_reported_not_fatal() {
    let directory = TempDir::new("wal-empty");
    let path = directory.path().join(segment_file_name(1));
    std::fs::write(&path, b"").expect("write");
    assert_eq!(read_all(&path).1, SegmentReport::default());
    std::fs::write(&path, b"WEFT").expect("write");
    assert_eq!(read_all(&path).1, SegmentReport::default());
    std::fs::write(&path, b"NOTAWALSEGMENT").expect("write");
    assert_eq!(read_all(&path).1.corrupt_records, 1);
}

#[tokio::test]
async fn the_writer_acknowledges_appends_and_rotates_segments() {
    let directory = TempDir::new("wal-writer");
    for policy in [WalFsyncPolicy::Always, WalFsyncPolicy::Interval] {
        let wal_directory = directory.path().join(format!("{policy:?}"));
        std::fs::create_dir_all(&wal_directory).expect("dir");
        let wal = Arc::new(
            Wal::start(wal_directory.clone(), 5, policy, Duration::from_millis(5))
                .await
                .expect("starts"),
        );
        let mut tasks = Vec::new();
        for index in 0..20u64 {
            let wal = wal.clone();
            tasks.push(tokio::spawn(async move {
                let record = Arc::new(
                    encode_record(&TenantId::single(), &spans(index + 1)).expect("encodes"),
                );
                wal.append(record, Duration::from_secs(5)).await
            }));
        }
        for task in tasks {
            assert_eq!(task.await.expect("joins"), Ok(5));
        }
        let rotation = wal.rotate().await.expect("rotates");
        assert_eq!(rotation.closed_segment, 5);
        assert_eq!(rotation.current_segment, 6);
        let record = Arc::new(encode_record(&TenantId::single(), &spans(1)).expect("encodes"));
        assert_eq!(wal.append(record, Duration::from_secs(5)).await, Ok(6));
        wal.stop().await;
        let record = Arc::new(encode_record(&TenantId::single(), &spans(1)).expect("encodes"));
        assert_eq!(
            wal.append(record, Duration::from_secs(5)).await,
            Err(WalAppendError::Stopped)
        );
        wal.stop().await;

        let segments = list_segments(&wal_directory).expect("lists");
        assert_eq!(
            segments.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            vec![5, 6]
        );
        let (found, report) = read_all(&segments[0].1);
        assert_eq!(report.records, 20);
        assert_eq!(found.iter().map(|(_, s)| s.len()).sum::<usize>(), 210);
        assert_eq!(read_all(&segments[1].1).1.records, 1);
    }
}
