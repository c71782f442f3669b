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

/// The bytes of two records of the single tenant, of 2 and 5 spans.
fn two_records() -> [Vec<u8>; 2] {
    [2, 5].map(|count| {
        encode_record(&TenantId::single(), &spans(count))
            .expect("encodes")
            .bytes
    })
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
    assert!(report.damaged.is_empty());
    assert_eq!(found[0], (TenantId::single(), spans(3)));
    assert_eq!(found[1], (team, spans(1)));
}

#[test]
fn a_torn_tail_ends_the_segment_without_losing_earlier_records() {
    let directory = TempDir::new("wal-torn");
    let [first, second] = two_records();
    let path = directory.path().join(segment_file_name(1));
    let full = [first.clone(), second.clone()].concat();
    // Every possible cut inside the second record keeps exactly the first.
    for cut in first.len() + 1..full.len() {
        write_segment(&path, &[full[..cut].to_vec()]);
        let (found, report) = read_all(&path);
        assert_eq!(found.len(), 1, "cut at {cut}");
        assert_eq!(report.skipped_records, 1, "cut at {cut}");
        assert_eq!(report.skipped_bytes, (cut - first.len()) as u64);
        let file_bytes = (SEGMENT_MAGIC.len() + cut) as u64;
        assert!(report.ends_in_damage(file_bytes), "cut at {cut}");
    }
    // A header claiming a huge length is corruption, not an allocation.
    let mut huge = first.clone();
    huge[..4].copy_from_slice(&u32::MAX.to_le_bytes());
    write_segment(&path, &[huge]);
    let report = read_all(&path).1;
    assert_eq!(report.skipped_records, 1);
    assert!(report.damaged[0].reason.contains("implausible length"));
}

#[test]
fn reading_resumes_after_a_damaged_record() {
    let directory = TempDir::new("wal-resume");
    let [first, second] = two_records();
    let path = directory.path().join(segment_file_name(1));
    // A flipped payload byte fails the checksum; the record after it is still read.
    let mut damaged = second.clone();
    let last = damaged.len() - 1;
    damaged[last] ^= 0x10;
    write_segment(&path, &[first.clone(), damaged, first.clone()]);
    let (found, report) = read_all(&path);
    assert_eq!(found.len(), 2, "the records on both sides are replayed");
    assert_eq!(report.skipped_records, 1);
    assert_eq!(report.skipped_bytes, second.len() as u64);
    assert_eq!(
        report.damaged[0].offset,
        (SEGMENT_MAGIC.len() + first.len()) as u64
    );
    assert!(report.damaged[0].reason.contains("checksum"));
    assert!(!report.ends_in_damage(std::fs::metadata(&path).expect("stat").len()));
    // A damaged magic loses only the magic.
    let mut bytes = std::fs::read(&path).expect("read");
    bytes[3] ^= 0xff;
    std::fs::write(&path, &bytes).expect("write");
    let (found, report) = read_all(&path);
    assert_eq!(found.len(), 2);
    assert_eq!(report.damaged[0].offset, 0);
    assert_eq!(report.damaged[1].offset, 8 + first.len() as u64);
    assert_eq!(report.skipped_bytes, 8 + second.len() as u64);
}

/// A small deterministic generator (xorshift64*), so a failing case can be replayed.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }
}

#[tokio::test]
async fn flipped_bytes_anywhere_lose_only_the_records_they_hit() {
    let directory = TempDir::new("wal-flips");
    // A real segment written by the WAL writer: records of several sizes and tenants.
    let wal_directory = directory.path().join("wal");
    std::fs::create_dir_all(&wal_directory).expect("dir");
    let wal = Wal::start(
        wal_directory.clone(),
        1,
        WalFsyncPolicy::Interval,
        Duration::from_millis(5),
    )
    .await
    .expect("starts");
    let team = TenantId::parse("team-b").expect("tenant");
    let mut expected = Vec::new();
    for index in 0..60u64 {
        let tenant = if index % 3 == 0 {
            team.clone()
        } else {
            TenantId::single()
        };
        let batch = spans(1 + index % 7 + (index % 11) * 5);
        let record = Arc::new(encode_record(&tenant, &batch).expect("encodes"));
        let length = record.bytes.len();
        wal.append(record, Duration::from_secs(5))
            .await
            .expect("appends");
        expected.push((tenant, batch, length));
    }
    wal.stop().await;
    let segment = list_segments(&wal_directory).expect("lists")[0].1.clone();
    let pristine = std::fs::read(&segment).expect("read");
    // Where each record lies in the file.
    let mut extents = Vec::new();
    let mut offset = SEGMENT_MAGIC.len();
    for (_, _, length) in &expected {
        extents.push(offset..offset + length);
        offset += length;
    }
    assert_eq!(offset, pristine.len(), "the segment is exactly the records");

    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    let path = directory.path().join("damaged.wal");
    for trial in 0..300 {
        let mut bytes = pristine.clone();
        let flips = 1 + random.below(3);
        let mut hit = vec![false; expected.len()];
        let mut magic_hit = false;
        for _ in 0..flips {
            let at = random.below(bytes.len());
            bytes[at] ^= 1 + random.below(255) as u8;
            match extents.iter().position(|extent| extent.contains(&at)) {
                Some(record) => hit[record] = true,
                None => magic_hit = true,
            }
        }
        std::fs::write(&path, &bytes).expect("write");
        let (found, report) = read_all(&path);
        let intact: Vec<(TenantId, Vec<Span>)> = expected
            .iter()
            .zip(&hit)
            .filter(|(_, hit)| !**hit)
            .map(|((tenant, batch, _), _)| (tenant.clone(), batch.clone()))
            .collect();
        assert_eq!(
            found.len(),
            intact.len(),
            "trial {trial}: every intact record is replayed"
        );
        assert!(
            found == intact,
            "trial {trial}: replayed records differ from the intact ones"
        );
        let lost_bytes: usize = extents
            .iter()
            .zip(&hit)
            .filter(|(_, hit)| **hit)
            .map(|(extent, _)| extent.len())
            .sum::<usize>()
            + if magic_hit { SEGMENT_MAGIC.len() } else { 0 };
        assert_eq!(report.skipped_bytes, lost_bytes as u64, "trial {trial}");
        assert!(report.skipped_records >= 1, "trial {trial}");
        assert!(report.skipped_records <= flips as u64, "trial {trial}");
    }
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
    let report = read_all(&path).1;
    assert_eq!(report.skipped_records, 1);
    assert_eq!(report.skipped_bytes, 14);
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
