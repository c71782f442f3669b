//! Rotation detection through positions: renames keep the entry, truncation and
//! inode reuse start over, copies resume where the original stopped, and only
//! committed offsets survive a reload.

use std::io::Write;

use super::*;

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write");
}

fn append(path: &Path, text: &str) {
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .expect("open");
    file.write_all(text.as_bytes()).expect("append");
}

fn claim(positions: &Positions, path: &Path) -> Claim {
    let file = File::open(path).expect("open");
    let size = file.metadata().expect("metadata").len();
    positions.claim(path, &file, size).expect("claim")
}

fn lines(count: usize, tag: &str) -> String {
    (0..count)
        .map(|index| format!("{tag} line {index:05} with some padding\n"))
        .collect()
}

#[test]
fn a_renamed_file_keeps_its_entry_and_offset() {
    let directory = tempfile::tempdir().expect("tempdir");
    let log = directory.path().join("app.log");
    write(&log, &lines(100, "a"));
    let positions = Positions::load(&directory.path().join("positions.json"), 1).expect("load");
    let Claim::Tail { id, offset: 0 } = claim(&positions, &log) else {
        panic!("a new file starts at 0")
    };
    assert_eq!(claim(&positions, &log), Claim::Busy, "one reader per file");
    positions.set_read(id, 1_000);
    positions.release(id);
    let rotated = directory.path().join("app.log.1");
    std::fs::rename(&log, &rotated).expect("rename");
    assert_eq!(
        claim(&positions, &rotated),
        Claim::Tail { id, offset: 1_000 }
    );
}

#[test]
fn truncation_and_inode_reuse_start_over_and_the_copy_resumes() {
    let directory = tempfile::tempdir().expect("tempdir");
    let log = directory.path().join("app.log");
    write(&log, &lines(100, "old"));
    let positions = Positions::load(&directory.path().join("positions.json"), 1).expect("load");
    let Claim::Tail { id: old, .. } = claim(&positions, &log) else {
        panic!("claimed")
    };
    positions.set_read(old, 2_000);
    positions.release(old);
    // copytruncate: copy, then truncate in place and write new lines.
    let copy = directory.path().join("app.log.1");
    std::fs::copy(&log, &copy).expect("copy");
    write(&log, &lines(3, "new"));
    let Claim::Tail { id: new, offset } = claim(&positions, &log) else {
        panic!("claimed")
    };
    assert_ne!(new, old, "rewritten content is another file");
    assert_eq!(offset, 0);
    assert_eq!(
        claim(&positions, &copy),
        Claim::Tail {
            id: old,
            offset: 2_000
        },
        "the copy continues the old entry"
    );
}

#[test]
fn orphans_are_found_by_inode_or_fingerprint_and_forgotten_when_gone() {
    let directory = tempfile::tempdir().expect("tempdir");
    let log = directory.path().join("app.log");
    write(&log, &lines(100, "a"));
    let positions = Positions::load(&directory.path().join("positions.json"), 1).expect("load");
    let Claim::Tail { id, .. } = claim(&positions, &log) else {
        panic!("claimed")
    };
    positions.set_read(id, 500);
    positions.release(id);
    let rotated = directory.path().join("app.log.1");
    std::fs::rename(&log, &rotated).expect("rename");
    write(&log, "fresh\n");
    let owned = |path: &Path| path.ends_with("app.log");
    let found = positions.locate_orphans(&owned);
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].id, found[0].offset), (id, 500));
    assert_eq!(found[0].found_at, rotated);
    assert!(positions.locate_orphans(&owned).is_empty(), "active now");
    positions.release(id);
    std::fs::remove_file(&rotated).expect("remove");
    assert!(positions.locate_orphans(&owned).is_empty());
    assert_eq!(positions.committed(id), None, "forgotten");
}

#[tokio::test]
async fn only_acknowledged_offsets_are_written_and_reloaded() {
    let directory = tempfile::tempdir().expect("tempdir");
    let log = directory.path().join("app.log");
    write(&log, &lines(10, "a"));
    let file = directory.path().join("state/positions.json");
    let positions = Positions::load(&file, 2).expect("load");
    let Claim::Tail { id, .. } = claim(&positions, &log) else {
        panic!("claimed")
    };
    positions.set_read(id, 300);
    positions.ack(0, id, 300);
    assert_eq!(
        positions.committed(id),
        Some(0),
        "the second client has not acknowledged"
    );
    positions.ack(1, id, 200);
    assert_eq!(positions.committed(id), Some(200));
    positions.persist().await.expect("persist");
    append(&log, "more\n");
    let reloaded = Positions::load(&file, 2).expect("reload");
    assert_eq!(claim(&reloaded, &log), Claim::Tail { id: 0, offset: 200 });
    std::fs::write(&file, "{not json").expect("corrupt");
    let error = Positions::load(&file, 1).expect_err("refused").to_string();
    assert!(error.contains("positions.json"), "{error}");
}

#[test]
fn fingerprints_cover_the_first_kibibyte() {
    let directory = tempfile::tempdir().expect("tempdir");
    let log = directory.path().join("app.log");
    write(&log, "short\n");
    let file = File::open(&log).expect("open");
    let small = Fingerprint::of(&file, 6).expect("fingerprint");
    assert_eq!(small.length, 6);
    assert!(!small.is_complete());
    append(&log, &lines(100, "b"));
    let size = std::fs::metadata(&log).expect("metadata").len();
    assert!(
        small.matches(&file, size).expect("read"),
        "the prefix is unchanged"
    );
    let full = Fingerprint::of(&file, size).expect("fingerprint");
    assert_eq!(u64::from(full.length), FINGERPRINT_BYTES);
    write(&log, "Short\n");
    assert!(!small.matches(&file, 6).expect("read"));
}

/// `svc.log` (100 lines) in `directory`, claimed by a reader that has read 3,000 bytes:
/// its path, content, positions and entry.
fn svc_log_read_to_3000(directory: &Path) -> (PathBuf, String, Positions, EntryId) {
    let log = directory.join("svc.log");
    let content = lines(100, "old");
    write(&log, &content);
    let positions = Positions::load(&directory.join("positions.json"), 1).expect("load");
    let Claim::Tail { id, .. } = claim(&positions, &log) else {
        panic!("claimed")
    };
    positions.set_read(id, 3_000);
    (log, content, positions, id)
}

/// Regression: a copy claimed while `cp` was still filling it (or before the
/// original was truncated) looked like a new file and its lines were sent twice.
#[test]
fn a_copy_being_written_or_of_an_untruncated_file_is_waited_for() {
    let directory = tempfile::tempdir().expect("tempdir");
    let (log, content, positions, id) = svc_log_read_to_3000(directory.path());
    let copy = directory.path().join("svc.log.1");
    write(&copy, &content);
    assert_eq!(
        claim(&positions, &copy),
        Claim::Busy,
        "the original is still being read"
    );
    positions.release(id);
    assert_eq!(
        claim(&positions, &copy),
        Claim::Busy,
        "the original is not truncated yet"
    );
    write(&log, "");
    positions.mark_truncated(id);
    write(&copy, &content[..500]);
    assert_eq!(
        claim(&positions, &copy),
        Claim::Busy,
        "the copy is still being written"
    );
    write(&copy, &content);
    assert_eq!(claim(&positions, &copy), Claim::Tail { id, offset: 3_000 });
    // An unrelated new file beside it is not taken for a copy.
    let other = directory.path().join("other.log");
    write(&other, &content);
    assert!(matches!(
        claim(&positions, &other),
        Claim::Tail { offset: 0, .. }
    ));
}

#[test]
fn a_copy_just_started_of_an_untruncated_file_is_waited_for() {
    let directory = tempfile::tempdir().expect("tempdir");
    let (log, content, positions, id) = svc_log_read_to_3000(directory.path());
    // copytruncate has created the copy and written less than the fingerprint covers
    // (1 KiB); the original still holds everything and its reader still has it.
    let copy = directory.path().join("svc.log.1");
    for copied in [0, 10, 500] {
        write(&copy, &content[..copied]);
        assert_eq!(
            claim(&positions, &copy),
            Claim::Busy,
            "a copy of {copied} bytes is still being written"
        );
    }
    positions.release(id);
    assert_eq!(
        claim(&positions, &copy),
        Claim::Busy,
        "released, not truncated"
    );
    write(&copy, &content);
    write(&log, "");
    assert_eq!(claim(&positions, &copy), Claim::Tail { id, offset: 3_000 });
    // A new sibling that does not start like the original is a file of its own.
    let other = directory.path().join("svc.log.2");
    write(&other, &lines(3, "new"));
    assert!(matches!(
        claim(&positions, &other),
        Claim::Tail { offset: 0, .. }
    ));
}
