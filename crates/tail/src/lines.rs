//! Splitting bytes read from a file into lines: `\n` ends a line, a `\r` before it
//! is trimmed, invalid UTF-8 becomes U+FFFD, lines over the limit are cut (the rest
//! up to the newline is skipped and counted), and a last line without `\n` is held
//! until it is completed or [`LineSplitter::take_partial`] is called.

/// One complete line and the file offset just after its `\n`.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// The text, without the line ending.
    pub text: String,
    /// Offset of the line's first byte.
    pub start_offset: u64,
    /// Offset just past the line's `\n` (where reading resumes).
    pub end_offset: u64,
    /// Whether the line was cut at the size limit.
    pub truncated: bool,
}

/// Splits a byte stream into [`Line`]s with bounded memory (`max_line_bytes`).
#[derive(Debug)]
pub struct LineSplitter {
    /// Bytes of the unfinished line (at most `max_line_bytes`).
    pending: Vec<u8>,
    /// Offset of the unfinished line's first byte.
    pending_start: u64,
    /// Offset just past every byte fed.
    read_offset: u64,
    /// Bytes of the current line beyond the limit are being skipped.
    skipping: bool,
    max_line_bytes: usize,
}

impl LineSplitter {
    /// A splitter whose next byte is at `offset`.
    pub fn new(offset: u64, max_line_bytes: usize) -> LineSplitter {
        LineSplitter {
            pending: Vec::new(),
            pending_start: offset,
            read_offset: offset,
            skipping: false,
            max_line_bytes: max_line_bytes.max(1),
        }
    }

    /// Offset of the first byte not yet part of a returned line.
    pub fn line_start_offset(&self) -> u64 {
        self.pending_start
    }

    /// Offset just past every byte fed.
    pub fn read_offset(&self) -> u64 {
        self.read_offset
    }

    /// Whether bytes of an unfinished line are held.
    pub fn has_partial(&self) -> bool {
        self.read_offset > self.pending_start
    }

    /// Feeds `data` (the bytes following everything fed before) and appends the
    /// lines it completes to `lines`.
    pub fn push(&mut self, data: &[u8], lines: &mut Vec<Line>) {
        let mut rest = data;
        while !rest.is_empty() {
            match rest.iter().position(|byte| *byte == b'\n') {
                Some(newline) => {
                    self.append(&rest[..newline]);
                    self.read_offset += newline as u64 + 1;
                    let truncated = self.skipping;
                    let mut bytes = std::mem::take(&mut self.pending);
                    if bytes.last() == Some(&b'\r') {
                        bytes.pop();
                    }
                    lines.push(Line {
                        text: into_text(bytes),
                        start_offset: self.pending_start,
                        end_offset: self.read_offset,
                        truncated,
                    });
                    self.pending_start = self.read_offset;
                    self.skipping = false;
                    rest = &rest[newline + 1..];
                }
                None => {
                    self.append(rest);
                    self.read_offset += rest.len() as u64;
                    rest = &[];
                }
            }
        }
    }

    fn append(&mut self, bytes: &[u8]) {
        let room = self.max_line_bytes.saturating_sub(self.pending.len());
        if bytes.len() > room {
            self.pending.extend_from_slice(&bytes[..room]);
            self.skipping = true;
        } else {
            self.pending.extend_from_slice(bytes);
        }
    }

    /// Returns the held partial line as a line ending at the read offset (its
    /// continuation, if any, becomes a line of its own).
    pub fn take_partial(&mut self) -> Option<Line> {
        if !self.has_partial() {
            return None;
        }
        let mut bytes = std::mem::take(&mut self.pending);
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        let line = Line {
            text: into_text(bytes),
            start_offset: self.pending_start,
            end_offset: self.read_offset,
            truncated: self.skipping,
        };
        self.pending_start = self.read_offset;
        self.skipping = false;
        Some(line)
    }
}

fn into_text(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => String::from_utf8_lossy(error.as_bytes()).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]], max: usize) -> (Vec<Line>, LineSplitter) {
        let mut splitter = LineSplitter::new(100, max);
        let mut lines = Vec::new();
        for chunk in chunks {
            splitter.push(chunk, &mut lines);
        }
        (lines, splitter)
    }

    #[test]
    fn lines_across_chunks_with_crlf_and_offsets() {
        let (lines, splitter) = split(&[b"ab", b"c\r\nde\nf", b"g"], 1024);
        let texts: Vec<_> = lines.iter().map(|line| line.text.as_str()).collect();
        assert_eq!(texts, ["abc", "de"]);
        assert_eq!((lines[0].start_offset, lines[0].end_offset), (100, 105));
        assert_eq!((lines[1].start_offset, lines[1].end_offset), (105, 108));
        assert_eq!(splitter.line_start_offset(), 108);
        assert_eq!(splitter.read_offset(), 110);
        assert!(splitter.has_partial());
    }

    #[test]
    fn a_partial_line_is_held_then_taken() {
        let (_, mut splitter) = split(&[b"x\nhalf"], 1024);
        let partial = splitter.take_partial().expect("held");
        assert_eq!(partial.text, "half");
        assert_eq!((partial.start_offset, partial.end_offset), (102, 106));
        assert!(!splitter.has_partial());
        let mut lines = Vec::new();
        splitter.push(b" rest\n", &mut lines);
        assert_eq!(lines[0].text, " rest");
        assert_eq!(lines[0].start_offset, 106);
    }

    #[test]
    fn long_lines_are_cut_and_flagged_with_exact_offsets() {
        let (lines, _) = split(&[b"0123456789", b"abcdef\nok\n"], 4);
        assert_eq!(lines[0].text, "0123");
        assert!(lines[0].truncated);
        assert_eq!(lines[0].end_offset, 117);
        assert_eq!(lines[1].text, "ok");
        assert!(!lines[1].truncated);
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        let (lines, _) = split(&[b"caf\xc3\xa9 \xff\xfe ok\n"], 1024);
        assert_eq!(lines[0].text, "caf\u{e9} \u{fffd}\u{fffd} ok");
    }
}
