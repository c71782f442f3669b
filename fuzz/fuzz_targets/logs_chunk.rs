//! Log chunks: decoding arbitrary bytes (a damaged or hostile chunk file in the object
//! store) never panics; and entries made from the input round-trip through the encoder
//! and every reader (whole decode, block index alone, time-range selection).
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_logs::Entry;
use weft_logs::chunk::{Compression, decode_chunk, encode_chunk, index_bytes, read_block_index};

fn decode_all(bytes: &[u8]) -> Option<Vec<Entry>> {
    let mut entries = Vec::new();
    decode_chunk(bytes, i64::MIN, i64::MAX, |_, block| {
        entries.extend(block);
        true
    })
    .ok()?;
    Some(entries)
}

fuzz_target!(|data: &[u8]| {
    // As a chunk file.
    let _ = decode_all(data);
    if let Ok(Some(length)) = index_bytes(data) {
        if let Some(prefix) = data.get(..length) {
            if let Ok(blocks) = read_block_index(prefix) {
                for block in blocks {
                    let _ = block.decode(false);
                }
            }
        }
    }
    // As entries: lines split at newlines, times non-decreasing with repeats, metadata
    // on every third entry; the first byte picks the compression and the block size.
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let entries: Vec<Entry> = rest
        .split(|&byte| byte == b'\n')
        .enumerate()
        .map(|(index, line)| Entry {
            timestamp_unix_nanos: (index / 2) as i64 - 3,
            line: String::from_utf8_lossy(line).into_owned(),
            structured_metadata: if index % 3 == 0 {
                vec![(String::from("trace_id"), format!("{index:x}"))]
            } else {
                Vec::new()
            },
        })
        .collect();
    let compression = if control & 1 == 0 {
        Compression::Zstd
    } else {
        Compression::Snappy
    };
    let block_bytes = 1 + usize::from(control >> 1) * 8;
    let encoded = encode_chunk(&entries, block_bytes, compression).expect("entries encode");
    assert_eq!(decode_all(&encoded).as_ref(), Some(&entries));
    let length = index_bytes(&encoded)
        .expect("index length")
        .expect("a v2 chunk has an index");
    let blocks = read_block_index(&encoded[..length]).expect("block index");
    let counted: usize = blocks.iter().map(|block| block.header.entries as usize).sum();
    assert_eq!(counted, entries.len());
    let mut selected = 0;
    decode_chunk(&encoded, 0, 2, |_, block| {
        selected += block.iter().filter(|entry| (0..2).contains(&entry.timestamp_unix_nanos)).count();
        true
    })
    .expect("range decode");
    assert_eq!(selected, entries.iter().filter(|entry| (0..2).contains(&entry.timestamp_unix_nanos)).count());
});
