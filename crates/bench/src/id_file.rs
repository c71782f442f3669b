//! The sampled trace ids the storage benchmark writes beside a corpus
//! (`bench-trace-ids.txt`) and the query benchmark reads.
//!
//! Text, one sample per line: `<32 hex digits> <trace start, unix nanos>`. Lines starting
//! with `#` are comments; a comment line of `key=value` words (`# seed=42 tenant=x`)
//! records how the corpus was made. Blank lines are ignored.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use weft_model::TraceId;

/// One sampled trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceIdSample {
    /// The trace id.
    pub trace_id: TraceId,
    /// When its root span starts, in nanoseconds since the Unix epoch.
    pub start_unix_nanos: u64,
}

/// A parsed id file: the samples in file order and the `key=value` metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdFile {
    /// `key=value` words from comment lines (the last value wins).
    pub metadata: BTreeMap<String, String>,
    /// The samples, in file order.
    pub samples: Vec<TraceIdSample>,
}

/// Why an id file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdFileError {
    /// A sample line did not have exactly two fields.
    #[error("line {line}: expected `<trace id hex> <start unix nanos>`, found {text:?}")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// The line.
        text: String,
    },
    /// The trace id was not valid hex.
    #[error("line {line}: invalid trace id: {reason}")]
    TraceId {
        /// 1-based line number.
        line: usize,
        /// Why.
        reason: String,
    },
    /// The start time was not a non-negative integer.
    #[error("line {line}: invalid start unix nanos {text:?}")]
    Start {
        /// 1-based line number.
        line: usize,
        /// The field.
        text: String,
    },
}

impl IdFile {
    /// The file's text: a header comment, one comment line with `metadata`, then the
    /// samples. Whitespace in keys and values, and `=` in keys, become `_` (a metadata
    /// word cannot hold them).
    pub fn to_text(&self) -> String {
        let mut text = String::from(
            "# weft bench storage: sampled trace ids, one per line: <trace id hex> <start unix nanos>\n",
        );
        if !self.metadata.is_empty() {
            text.push('#');
            for (key, value) in &self.metadata {
                let clean = |s: &str| s.replace(|c: char| c.is_whitespace() || c == '=', "_");
                let _ = write!(
                    text,
                    " {}={}",
                    clean(key),
                    value.replace(char::is_whitespace, "_")
                );
            }
            text.push('\n');
        }
        for sample in &self.samples {
            let _ = writeln!(text, "{} {}", sample.trace_id, sample.start_unix_nanos);
        }
        text
    }

    /// Parses [`IdFile::to_text`]'s format. Comment words without `=` are ignored.
    pub fn parse(text: &str) -> Result<IdFile, IdFileError> {
        let mut file = IdFile::default();
        for (index, line) in text.lines().enumerate() {
            let line_number = index + 1;
            let trimmed = line.trim();
            if trimmed.is_empty() {
                continue;
            }
            if let Some(comment) = trimmed.strip_prefix('#') {
                for word in comment.split_whitespace() {
                    if let Some((key, value)) = word.split_once('=')
                        && !key.is_empty()
                    {
                        file.metadata.insert(key.to_owned(), value.to_owned());
                    }
                }
                continue;
            }
            let fields: Vec<&str> = trimmed.split_whitespace().collect();
            let [id_text, start_text] = fields.as_slice() else {
                return Err(IdFileError::Malformed {
                    line: line_number,
                    text: trimmed.to_owned(),
                });
            };
            let trace_id = TraceId::from_hex(id_text).map_err(|error| IdFileError::TraceId {
                line: line_number,
                reason: error.to_string(),
            })?;
            let start_unix_nanos = start_text.parse().map_err(|_| IdFileError::Start {
                line: line_number,
                text: (*start_text).to_owned(),
            })?;
            file.samples.push(TraceIdSample {
                trace_id,
                start_unix_nanos,
            });
        }
        Ok(file)
    }

    /// Earliest and latest sample start, `None` without samples.
    pub fn start_range(&self) -> Option<(u64, u64)> {
        let starts = self.samples.iter().map(|sample| sample.start_unix_nanos);
        Some((starts.clone().min()?, starts.max()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(high: u64, start_unix_nanos: u64) -> TraceIdSample {
        TraceIdSample {
            trace_id: TraceId::from_halves(high, 0xabc),
            start_unix_nanos,
        }
    }

    #[test]
    fn id_files_round_trip_with_metadata() {
        let file = IdFile {
            metadata: BTreeMap::from([
                ("seed".to_owned(), "42".to_owned()),
                ("tenant".to_owned(), "team a".to_owned()),
            ]),
            samples: vec![sample(1, 1_700_000_000_000_000_000), sample(u64::MAX, 0)],
        };
        let text = file.to_text();
        assert!(
            text.contains("\n00000000000000010000000000000abc 1700000000000000000\n"),
            "{text}"
        );
        let parsed = IdFile::parse(&text).expect("parses");
        assert_eq!(parsed.samples, file.samples);
        assert_eq!(parsed.metadata["seed"], "42");
        assert_eq!(
            parsed.metadata["tenant"], "team_a",
            "spaces cannot survive a word"
        );
        assert_eq!(parsed.start_range(), Some((0, 1_700_000_000_000_000_000)));
    }

    #[test]
    fn blank_lines_comments_and_short_ids_are_accepted() {
        let parsed = IdFile::parse("\n# hello\n  ABC 5  \n\n").expect("parses");
        assert_eq!(
            parsed.samples,
            [TraceIdSample {
                trace_id: TraceId::from_halves(0, 0xabc),
                start_unix_nanos: 5
            }]
        );
        assert!(parsed.metadata.is_empty());
        assert_eq!(IdFile::parse("").expect("empty").start_range(), None);
    }

    #[test]
    fn bad_lines_name_their_line_number() {
        assert!(matches!(
            IdFile::parse("# x\nabc\n"),
            Err(IdFileError::Malformed { line: 2, .. })
        ));
        assert!(matches!(
            IdFile::parse("abc 1 2"),
            Err(IdFileError::Malformed { line: 1, .. })
        ));
        assert!(matches!(
            IdFile::parse("xyz 1"),
            Err(IdFileError::TraceId { line: 1, .. })
        ));
        assert!(matches!(
            IdFile::parse("00 1"),
            Err(IdFileError::TraceId { line: 1, .. })
        ));
        assert!(matches!(
            IdFile::parse("abc -1"),
            Err(IdFileError::Start { line: 1, .. })
        ));
    }
}
