//! Log patterns (`/loki/api/v1/patterns`, Logs Drilldown's Patterns tab): lines
//! clustered with Drain (He et al., "Drain: An Online Log Parsing Approach with Fixed
//! Depth Tree", ICWS 2017), tokens that differ within a cluster shown as `<_>`, so a
//! pattern is also a LogQL pattern filter (`|> "..."`).
//!
//! Tokens: letters, digits and `_ - . : /` make up words; a space ends a word (and is
//! kept, so the pattern has the line's spacing); `=` and other punctuation are tokens
//! of their own. A line is placed by its token count, then by its first tokens (a token
//! holding a digit counts as `<_>`, as does any token once a node has
//! [`MAX_CHILDREN`] children), then joins the most similar cluster of that leaf (the
//! share of equal tokens, at least [`SIMILARITY_THRESHOLD`]; ties go to the cluster
//! with more `<_>`), or starts one. Lines longer than [`MAX_LINE_BYTES`] are not
//! clustered, as in Loki.

use std::collections::HashMap;

/// The placeholder of a token that varies.
pub const PLACEHOLDER: &str = "<_>";
/// Tokens of a line used to walk the tree (Loki's depth 30, less the two top levels).
const TREE_DEPTH: usize = 28;
/// Children of a tree node before the rest go to its `<_>` child.
const MAX_CHILDREN: usize = 15;
/// Least share of equal tokens for a line to join a cluster.
const SIMILARITY_THRESHOLD: f64 = 0.3;
/// Longer lines are left out.
pub const MAX_LINE_BYTES: usize = 3000;
/// Most tokens of a line (the rest stays in the last token).
const MAX_TOKENS: usize = 127;

/// A line split into tokens, with whether a space follows each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokens {
    /// The tokens.
    pub tokens: Vec<String>,
    /// `spaces[i]`: spaces after token `i`.
    pub spaces: Vec<u8>,
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '/')
}

/// Splits `line` as described in the module documentation.
pub fn tokenize(line: &str) -> Tokens {
    let mut tokens: Vec<String> = Vec::new();
    let mut spaces: Vec<u8> = Vec::new();
    let mut start = 0;
    for (index, c) in line.char_indices() {
        if tokens.len() >= MAX_TOKENS - 1 {
            break;
        }
        if is_word_char(c) {
            continue;
        }
        let separate =
            c == ' ' || c == '=' || c.is_ascii_punctuation() || is_unicode_punctuation(c);
        if !separate {
            continue;
        }
        if index > start {
            tokens.push(line[start..index].to_owned());
            spaces.push(0);
        }
        if c == ' ' {
            match spaces.last_mut() {
                Some(count) => *count = count.saturating_add(1),
                // Leading spaces: an empty first token carries them.
                None => {
                    tokens.push(String::new());
                    spaces.push(1);
                }
            }
        } else {
            tokens.push(c.to_string());
            spaces.push(0);
        }
        start = index + c.len_utf8();
    }
    if start < line.len() {
        tokens.push(line[start..].to_owned());
        spaces.push(0);
    }
    Tokens { tokens, spaces }
}

fn is_unicode_punctuation(c: char) -> bool {
    !c.is_ascii() && !c.is_alphanumeric() && !c.is_whitespace() && !c.is_control()
}

/// Joins tokens back into text with their spaces.
fn join(tokens: &[String], spaces: &[u8]) -> String {
    let mut text = String::new();
    for (token, &count) in tokens.iter().zip(spaces) {
        text.push_str(token);
        for _ in 0..count {
            text.push(' ');
        }
    }
    text
}

/// One cluster: its template and how many lines joined it.
#[derive(Debug, Clone)]
pub struct Cluster {
    tokens: Vec<String>,
    spaces: Vec<u8>,
    /// Lines in the cluster.
    pub count: u64,
}

impl Cluster {
    /// The pattern text: the template with `<_>` where lines differ.
    pub fn pattern(&self) -> String {
        join(&self.tokens, &self.spaces)
    }

    /// Share of equal tokens with `tokens` (same length), and the cluster's `<_>` count.
    fn similarity(&self, tokens: &[String]) -> (f64, usize) {
        let mut equal = 0;
        let mut placeholders = 0;
        for (mine, theirs) in self.tokens.iter().zip(tokens) {
            if mine == PLACEHOLDER {
                placeholders += 1;
            } else if mine == theirs {
                equal += 1;
            }
        }
        (equal as f64 / self.tokens.len().max(1) as f64, placeholders)
    }

    fn absorb(&mut self, tokens: &[String]) {
        for (mine, theirs) in self.tokens.iter_mut().zip(tokens) {
            if mine != theirs && mine != PLACEHOLDER {
                *mine = PLACEHOLDER.to_owned();
            }
        }
        self.count += 1;
    }
}

#[derive(Debug, Default)]
struct Node {
    children: HashMap<String, Node>,
    clusters: Vec<usize>,
}

/// A Drain tree and its clusters.
#[derive(Debug, Default)]
pub struct Drain {
    by_length: HashMap<usize, Node>,
    clusters: Vec<Cluster>,
}

impl Drain {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `line`; returns its cluster's index, or `None` for a line too long to
    /// cluster.
    pub fn train(&mut self, line: &str) -> Option<usize> {
        if line.len() > MAX_LINE_BYTES {
            return None;
        }
        let Tokens { tokens, spaces } = tokenize(line);
        let mut node = self.by_length.entry(tokens.len()).or_default();
        for token in tokens.iter().take(TREE_DEPTH) {
            let key = if token.bytes().any(|byte| byte.is_ascii_digit()) {
                PLACEHOLDER
            } else {
                token.as_str()
            };
            let key = if node.children.contains_key(key) || node.children.len() < MAX_CHILDREN {
                key
            } else {
                PLACEHOLDER
            };
            node = node.children.entry(key.to_owned()).or_default();
        }
        let best = node
            .clusters
            .iter()
            .map(|&index| (index, self.clusters[index].similarity(&tokens)))
            .filter(|(_, (similarity, _))| *similarity >= SIMILARITY_THRESHOLD)
            .max_by(|(_, left), (_, right)| {
                left.0
                    .total_cmp(&right.0)
                    .then_with(|| left.1.cmp(&right.1))
            })
            .map(|(index, _)| index);
        match best {
            Some(index) => {
                self.clusters[index].absorb(&tokens);
                Some(index)
            }
            None => {
                let index = self.clusters.len();
                self.clusters.push(Cluster {
                    tokens,
                    spaces,
                    count: 1,
                });
                node.clusters.push(index);
                Some(index)
            }
        }
    }

    /// The clusters, in the order they were started.
    pub fn clusters(&self) -> &[Cluster] {
        &self.clusters
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_keep_words_punctuation_and_spacing() {
        let tokens = tokenize(r#"level=info  msg="GET /api/v1" took=12ms"#);
        assert_eq!(
            tokens.tokens,
            [
                "level", "=", "info", "msg", "=", "\"", "GET", "/api/v1", "\"", "took", "=", "12ms"
            ]
        );
        assert_eq!(
            join(&tokens.tokens, &tokens.spaces),
            r#"level=info  msg="GET /api/v1" took=12ms"#
        );
        let leading = tokenize("  indented line");
        assert_eq!(join(&leading.tokens, &leading.spaces), "  indented line");
    }

    #[test]
    fn lines_that_differ_in_values_share_a_pattern() {
        let mut drain = Drain::new();
        for request in 0..12 {
            drain.train(&format!(
                "request {request} served in {}ms from 10.0.0.{request}",
                request * 7
            ));
        }
        drain.train("disk /dev/sda1 is 91% full");
        drain.train("disk /dev/sdb2 is 97% full");
        drain.train("connection reset by peer");
        let mut patterns: Vec<(String, u64)> = drain
            .clusters()
            .iter()
            .map(|cluster| (cluster.pattern(), cluster.count))
            .collect();
        patterns.sort();
        assert_eq!(
            patterns,
            [
                (String::from("connection reset by peer"), 1),
                (String::from("disk <_> is <_>% full"), 2),
                (String::from("request <_> served in <_> from <_>"), 12),
            ]
        );
        assert_eq!(drain.train(&"x".repeat(MAX_LINE_BYTES + 1)), None);
    }

    #[test]
    fn words_split_the_tree_until_a_node_is_full_as_in_loki() {
        let mut drain = Drain::new();
        for user in 0..20 {
            drain.train(&format!("user u{user}x logged in"));
            drain.train(&format!(
                "user name{} logged in",
                char::from(b'a' + user as u8)
            ));
        }
        let counts: HashMap<String, u64> = drain
            .clusters()
            .iter()
            .map(|cluster| (cluster.pattern(), cluster.count))
            .collect();
        // Names with a digit go to `<_>` at once; plain words get a child each until
        // the node holds 15, then share `<_>` too.
        assert_eq!(counts["user <_> logged in"], 20 + 6);
        assert_eq!(counts["user namea logged in"], 1);
        assert_eq!(counts.len(), 1 + 14);
    }
}
