//! The contents of one chunk block once decompressed: entry times and line lengths
//! (the times section of format v2), and optionally the lines and structured metadata
//! (the lines section). Format: `docs/format/logs-v2.md`.

use memchr::memmem;

use crate::Entry;
use crate::encoding::{Reader, put_pairs, put_uvarint, put_varint};

/// One block decoded: always the times and line lengths of its entries, the lines and
/// structured metadata only when asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedBlock {
    /// Entry timestamps, Unix nanoseconds, in stored order (sorted by time).
    pub timestamps_unix_nanos: Vec<i64>,
    /// Byte length of each entry's line.
    pub line_lengths: Vec<u32>,
    /// True for an entry with the same timestamp and line as an earlier entry of the
    /// same chunk (format v2; for v1 blocks, of the same block). Queries return such
    /// an entry once.
    pub repeats: Vec<bool>,
    /// Whether any entry of the block has structured metadata.
    pub has_metadata: bool,
    /// The lines, when decoded.
    pub(crate) lines: Option<BlockLines>,
}

/// The lines section of a block: every line, one after another, and each entry's
/// structured metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BlockLines {
    /// The lines concatenated.
    pub(crate) text: String,
    /// `line_starts[i]..line_starts[i + 1]` is line `i` in `text`.
    pub(crate) line_starts: Vec<usize>,
    /// Metadata per entry; empty when the block has none.
    pub(crate) metadata: Vec<Vec<(String, String)>>,
}

impl DecodedBlock {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.timestamps_unix_nanos.len()
    }

    /// True for a block without entries.
    pub fn is_empty(&self) -> bool {
        self.timestamps_unix_nanos.is_empty()
    }

    /// Line `index`; `None` when the lines were not decoded or `index` is out of range.
    pub fn line(&self, index: usize) -> Option<&str> {
        let lines = self.lines.as_ref()?;
        let start = *lines.line_starts.get(index)?;
        let end = *lines.line_starts.get(index + 1)?;
        lines.text.get(start..end)
    }

    /// Structured metadata of entry `index` (empty when it has none or the lines were
    /// not decoded).
    pub fn metadata(&self, index: usize) -> &[(String, String)] {
        self.lines
            .as_ref()
            .and_then(|lines| lines.metadata.get(index))
            .map_or(&[], Vec::as_slice)
    }

    /// Entry `index` as an owned [`Entry`]; `None` when the lines were not decoded.
    pub fn entry(&self, index: usize) -> Option<Entry> {
        Some(Entry {
            timestamp_unix_nanos: *self.timestamps_unix_nanos.get(index)?,
            line: self.line(index)?.to_owned(),
            structured_metadata: self.metadata(index).to_vec(),
        })
    }

    /// The indexes of the entries whose line contains `needle`, ascending, found by
    /// searching the concatenated lines once instead of line by line. Empty when the
    /// lines were not decoded.
    pub fn entries_containing(&self, needle: &memmem::Finder<'_>) -> Vec<usize> {
        let Some(lines) = &self.lines else {
            return Vec::new();
        };
        let text = lines.text.as_bytes();
        let starts = &lines.line_starts;
        let needle_length = needle.needle().len();
        let mut found = Vec::new();
        let mut position = 0;
        while let Some(offset) = needle.find(&text[position..]) {
            let at = position + offset;
            // The entry holding byte `at`: the last start <= at (empty lines share a
            // start with the next line, so take the last one).
            let index = starts.partition_point(|&start| start <= at) - 1;
            if at + needle_length <= starts[index + 1] {
                found.push(index);
                position = starts[index + 1];
            } else {
                // The match runs into the next line; a real match may start later in
                // this same line.
                position = at + 1;
            }
            if position >= text.len() {
                break;
            }
        }
        found
    }

    /// Every entry, owned; `None` when the lines were not decoded.
    pub fn into_entries(self) -> Option<Vec<Entry>> {
        let lines = self.lines?;
        let mut metadata = lines.metadata.into_iter();
        Some(
            self.timestamps_unix_nanos
                .iter()
                .enumerate()
                .map(|(index, &timestamp_unix_nanos)| Entry {
                    timestamp_unix_nanos,
                    line: lines.text[lines.line_starts[index]..lines.line_starts[index + 1]]
                        .to_owned(),
                    structured_metadata: metadata.next().unwrap_or_default(),
                })
                .collect(),
        )
    }

    /// A block of `entries` (a v1 block once decoded, or a test's), repeats marked
    /// within it.
    pub(crate) fn from_entries(entries: Vec<Entry>) -> Result<Self, &'static str> {
        let repeats = repeat_flags(&entries);
        let mut text = String::new();
        let mut line_starts = Vec::with_capacity(entries.len() + 1);
        let mut timestamps_unix_nanos = Vec::with_capacity(entries.len());
        let mut line_lengths = Vec::with_capacity(entries.len());
        let has_metadata = entries
            .iter()
            .any(|entry| !entry.structured_metadata.is_empty());
        let mut metadata = Vec::new();
        for entry in entries {
            line_starts.push(text.len());
            text.push_str(&entry.line);
            timestamps_unix_nanos.push(entry.timestamp_unix_nanos);
            line_lengths.push(u32::try_from(entry.line.len()).map_err(|_| "line over 4 GiB")?);
            if has_metadata {
                metadata.push(entry.structured_metadata);
            }
        }
        line_starts.push(text.len());
        Ok(DecodedBlock {
            timestamps_unix_nanos,
            line_lengths,
            repeats,
            has_metadata,
            lines: Some(BlockLines {
                text,
                line_starts,
                metadata,
            }),
        })
    }
}

/// For each entry of `entries` (sorted by timestamp), whether an earlier one has the
/// same timestamp and line.
pub(crate) fn repeat_flags(entries: &[Entry]) -> Vec<bool> {
    let mut flags = vec![false; entries.len()];
    let mut run_start = 0;
    for index in 1..entries.len() {
        if entries[index].timestamp_unix_nanos != entries[run_start].timestamp_unix_nanos {
            run_start = index;
            continue;
        }
        // Runs of one timestamp are short; compare with each earlier entry of the run.
        flags[index] = entries[run_start..index]
            .iter()
            .any(|earlier| earlier.line == entries[index].line);
    }
    flags
}

/// The times section of a block: per entry, the zigzag varint difference from the
/// previous timestamp (the first from `first_base_unix_nanos`), then the uvarint
/// `line length * 2 + repeat`.
pub(crate) fn encode_times(
    entries: &[Entry],
    repeats: &[bool],
    first_base_unix_nanos: i64,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * 5);
    let mut previous = first_base_unix_nanos;
    for (entry, &repeat) in entries.iter().zip(repeats) {
        put_varint(&mut out, entry.timestamp_unix_nanos.wrapping_sub(previous));
        previous = entry.timestamp_unix_nanos;
        put_uvarint(
            &mut out,
            ((entry.line.len() as u64) << 1) | u64::from(repeat),
        );
    }
    out
}

/// The lines section of a block: the lines one after another, then (when any entry has
/// some) each entry's structured metadata pairs.
pub(crate) fn encode_lines(entries: &[Entry], has_metadata: bool) -> Vec<u8> {
    let total: usize = entries.iter().map(|entry| entry.line.len()).sum();
    let mut out = Vec::with_capacity(total + 16);
    for entry in entries {
        out.extend_from_slice(entry.line.as_bytes());
    }
    if has_metadata {
        for entry in entries {
            put_pairs(&mut out, &entry.structured_metadata);
        }
    }
    out
}

/// Decodes a times section of `entries` entries.
pub(crate) fn decode_times(
    raw: &[u8],
    entries: usize,
    first_base_unix_nanos: i64,
    has_metadata: bool,
) -> Result<DecodedBlock, &'static str> {
    let mut reader = Reader::new(raw);
    // Every entry takes at least two bytes, which bounds the allocation.
    if entries > raw.len() / 2 {
        return Err("entry count larger than the times section");
    }
    let mut timestamps_unix_nanos = Vec::with_capacity(entries);
    let mut line_lengths = Vec::with_capacity(entries);
    let mut repeats = Vec::with_capacity(entries);
    let mut previous = first_base_unix_nanos;
    for _ in 0..entries {
        previous = previous.wrapping_add(reader.varint()?);
        timestamps_unix_nanos.push(previous);
        let length_and_repeat = reader.uvarint()?;
        line_lengths.push(u32::try_from(length_and_repeat >> 1).map_err(|_| "line over 4 GiB")?);
        repeats.push(length_and_repeat & 1 == 1);
    }
    if !reader.is_empty() {
        return Err("bytes after the last entry of the times section");
    }
    Ok(DecodedBlock {
        timestamps_unix_nanos,
        line_lengths,
        repeats,
        has_metadata,
        lines: None,
    })
}

/// Attaches a decoded lines section to a block whose times are decoded.
pub(crate) fn attach_lines(block: &mut DecodedBlock, raw: Vec<u8>) -> Result<(), &'static str> {
    let mut line_starts = Vec::with_capacity(block.len() + 1);
    let mut end = 0usize;
    for &length in &block.line_lengths {
        line_starts.push(end);
        end = end
            .checked_add(length as usize)
            .filter(|&end| end <= raw.len())
            .ok_or("lines shorter than their lengths")?;
    }
    line_starts.push(end);
    let mut metadata = Vec::new();
    if block.has_metadata {
        let mut reader = Reader::new(&raw[end..]);
        for _ in 0..block.len() {
            metadata.push(reader.pairs()?);
        }
        if !reader.is_empty() {
            return Err("bytes after the last entry's metadata");
        }
    } else if end != raw.len() {
        return Err("bytes after the last line");
    }
    let mut raw = raw;
    raw.truncate(end);
    let text = String::from_utf8(raw).map_err(|_| "lines are not UTF-8")?;
    if !line_starts
        .iter()
        .all(|&start| text.is_char_boundary(start))
    {
        return Err("a line is not UTF-8");
    }
    block.lines = Some(BlockLines {
        text,
        line_starts,
        metadata,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(timestamp_unix_nanos: i64, line: &str) -> Entry {
        Entry {
            timestamp_unix_nanos,
            line: line.to_owned(),
            structured_metadata: Vec::new(),
        }
    }

    #[test]
    fn repeats_are_same_time_and_line_as_an_earlier_entry() {
        let entries = [
            entry(1, "a"),
            entry(1, "b"),
            entry(1, "a"),
            entry(2, "a"),
            entry(2, "a"),
        ];
        assert_eq!(repeat_flags(&entries), [false, false, true, false, true]);
    }

    #[test]
    fn needles_are_found_only_inside_one_line() {
        let lines = ["ab", "", "aba", "xneedle", "need", "le", "needleneedle"];
        let entries: Vec<Entry> = lines.iter().map(|line| entry(1, line)).collect();
        let block = DecodedBlock::from_entries(entries).expect("block");
        let finder = memmem::Finder::new("aba");
        assert_eq!(block.entries_containing(&finder), [2]);
        let finder = memmem::Finder::new("needle");
        assert_eq!(block.entries_containing(&finder), [3, 6]);
        let finder = memmem::Finder::new("ba");
        assert_eq!(block.entries_containing(&finder), [2]);
    }

    #[test]
    fn times_and_lines_round_trip() {
        let mut entries = vec![entry(-5, "héllo"), entry(10, ""), entry(10, "x")];
        entries[1].structured_metadata = vec![(String::from("k"), String::from("v"))];
        let repeats = repeat_flags(&entries);
        let times = encode_times(&entries, &repeats, -5);
        let mut block = decode_times(&times, 3, -5, true).expect("times");
        attach_lines(&mut block, encode_lines(&entries, true)).expect("lines");
        assert_eq!(block.clone().into_entries().expect("entries"), entries);
        assert_eq!(block.entry(1), Some(entries[1].clone()));
        assert!(decode_times(&times[..times.len() - 1], 3, -5, true).is_err());
        let mut split_char = decode_times(&times, 3, -5, false).expect("times");
        // "héllo" is 6 bytes; cutting a line inside "é" must fail.
        split_char.line_lengths = vec![2, 4, 1];
        assert!(attach_lines(&mut split_char, encode_lines(&entries, false)).is_err());
    }
}
