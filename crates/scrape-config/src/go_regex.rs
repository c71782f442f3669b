//! Go RE2 regular expressions as Prometheus compiles them, on top of Rust's
//! `regex` crate, and Go's `Regexp.Expand` template expansion.
//!
//! Both engines are RE2-style (leftmost-first, no backreferences), and agree on
//! syntax and matching except where this module adjusts:
//!
//! * Go's Perl classes `\d \w \s` and word boundaries `\b \B` are ASCII-only
//!   (`\s` is `[\t\n\f\r ]`, without `\v`); Rust's are Unicode. Patterns are
//!   parsed and those nodes rewritten to Go's ASCII sets before compiling.
//! * Syntax Rust accepts and Go does not (class set operations `&&`, `--`,
//!   `~~`, nested brackets, `\b{start}`, `\<`, `\>`, the `x` and `R` flags) is
//!   rejected, as Prometheus would reject it.
//!
//! * Go's repetition limit (counts above 1000 are errors) is enforced.
//!
//! Known gaps: Go's `\Q...\E` literal quoting and octal escapes `\12` are
//! accepted by Prometheus but rejected here with an error, never silently
//! misread; so are `[a&&b]` and `\b{start}`, which Go reads as literal
//! characters. `tests/go_vectors.rs` compares matching and expansion with Go's
//! own `regexp` on a table of patterns and inputs.

use regex::Regex;
use regex_syntax::ast::{
    self, Assertion, AssertionKind, Ast, ClassBracketed, ClassPerl, ClassPerlKind, ClassSet,
    ClassSetItem, ClassSetRange, ClassSetUnion, Flag, Flags, FlagsItem, FlagsItemKind, Group,
    GroupKind, Literal, LiteralKind, Span,
};

/// Compiles `pattern` the way Prometheus's `relabel.NewRegexp` does: as
/// `^(?s:<pattern>)$`, with Go's semantics. The error names what is wrong.
pub fn compile_anchored(pattern: &str) -> Result<Regex, String> {
    compile_go(&format!("^(?s:{pattern})$"))
}

/// Compiles `pattern` with Go RE2 semantics (no anchoring added).
pub fn compile_go(pattern: &str) -> Result<Regex, String> {
    let mut parsed = ast::parse::Parser::new()
        .parse(pattern)
        .map_err(|error| error.kind().to_string())?;
    to_go_semantics(&mut parsed)?;
    let mut rewritten = String::new();
    ast::print::Printer::new()
        .print(&parsed, &mut rewritten)
        .map_err(|error| error.to_string())?;
    // Go limits nothing but repetition counts (1000) by default; make the size
    // limits generous so patterns Prometheus accepts also compile here.
    regex::RegexBuilder::new(&rewritten)
        .size_limit(64 << 20)
        .build()
        .map_err(|error| error.to_string())
}

/// Go rejects repetition counts above 1000 (`a{1001}`).
const MAX_GO_REPEAT: u32 = 1000;

fn to_go_semantics(node: &mut Ast) -> Result<(), String> {
    match node {
        Ast::Empty(_) | Ast::Literal(_) | Ast::Dot(_) | Ast::ClassUnicode(_) => Ok(()),
        Ast::Flags(set_flags) => check_flags(&set_flags.flags),
        Ast::Assertion(assertion) => {
            let span = assertion.span;
            match assertion.kind {
                AssertionKind::WordBoundary | AssertionKind::NotWordBoundary => {
                    let inner = Ast::Assertion(Box::new(Assertion {
                        span,
                        kind: assertion.kind.clone(),
                    }));
                    *node = ascii_only_group(span, inner);
                    Ok(())
                }
                AssertionKind::StartLine
                | AssertionKind::EndLine
                | AssertionKind::StartText
                | AssertionKind::EndText => Ok(()),
                _ => Err(String::from(
                    "special word boundary assertions (\\b{start}, \\<, \\>) are not supported by Go regular expressions",
                )),
            }
        }
        Ast::ClassPerl(perl) => {
            *node = Ast::ClassBracketed(Box::new(ascii_class(perl)));
            Ok(())
        }
        Ast::ClassBracketed(bracketed) => class_set_to_go(&mut bracketed.kind),
        Ast::Repetition(repetition) => {
            if let ast::RepetitionKind::Range(range) = &repetition.op.kind {
                let (ast::RepetitionRange::Exactly(count)
                | ast::RepetitionRange::AtLeast(count)
                | ast::RepetitionRange::Bounded(_, count)) = range;
                if *count > MAX_GO_REPEAT {
                    return Err(format!(
                        "invalid repeat count: {count} is above Go's {MAX_GO_REPEAT}"
                    ));
                }
            }
            to_go_semantics(&mut repetition.ast)
        }
        Ast::Group(group) => {
            if let GroupKind::NonCapturing(flags) = &group.kind {
                check_flags(flags)?;
            }
            to_go_semantics(&mut group.ast)
        }
        Ast::Alternation(alternation) => alternation.asts.iter_mut().try_for_each(to_go_semantics),
        Ast::Concat(concat) => concat.asts.iter_mut().try_for_each(to_go_semantics),
    }
}

fn check_flags(flags: &Flags) -> Result<(), String> {
    for item in &flags.items {
        if let FlagsItemKind::Flag(Flag::IgnoreWhitespace | Flag::CRLF | Flag::Unicode) = item.kind
        {
            return Err(String::from(
                "only the flags i, m, s and U are supported by Go regular expressions",
            ));
        }
    }
    Ok(())
}

fn class_set_to_go(set: &mut ClassSet) -> Result<(), String> {
    match set {
        ClassSet::BinaryOp(_) => Err(String::from(
            "character class operations (&&, --, ~~) are not supported by Go regular expressions",
        )),
        ClassSet::Item(item) => class_item_to_go(item),
    }
}

fn class_item_to_go(item: &mut ClassSetItem) -> Result<(), String> {
    match item {
        ClassSetItem::Perl(perl) if perl.negated => {
            *item = ClassSetItem::Bracketed(Box::new(ascii_class(perl)));
            Ok(())
        }
        ClassSetItem::Perl(perl) => {
            *item = ClassSetItem::Union(ClassSetUnion {
                span: perl.span,
                items: ascii_items(perl),
            });
            Ok(())
        }
        ClassSetItem::Bracketed(_) => Err(String::from(
            "nested character classes are not supported by Go regular expressions",
        )),
        ClassSetItem::Union(union) => union.items.iter_mut().try_for_each(class_item_to_go),
        ClassSetItem::Empty(_)
        | ClassSetItem::Literal(_)
        | ClassSetItem::Range(_)
        | ClassSetItem::Ascii(_)
        | ClassSetItem::Unicode(_) => Ok(()),
    }
}

/// `(?-u:<inner>)`: an ASCII word boundary, as Go's `\b`.
fn ascii_only_group(span: Span, inner: Ast) -> Ast {
    Ast::Group(Box::new(Group {
        span,
        kind: GroupKind::NonCapturing(Flags {
            span,
            items: vec![
                FlagsItem {
                    span,
                    kind: FlagsItemKind::Negation,
                },
                FlagsItem {
                    span,
                    kind: FlagsItemKind::Flag(Flag::Unicode),
                },
            ],
        }),
        ast: Box::new(inner),
    }))
}

/// Go's ASCII sets for `\d`, `\s`, `\w` (and their negations) as a bracketed class.
fn ascii_class(perl: &ClassPerl) -> ClassBracketed {
    ClassBracketed {
        span: perl.span,
        negated: perl.negated,
        kind: ClassSet::Item(ClassSetItem::Union(ClassSetUnion {
            span: perl.span,
            items: ascii_items(perl),
        })),
    }
}

/// The members of Go's `\d` (`[0-9]`), `\s` (`[\t\n\f\r ]`) or `\w`
/// (`[0-9A-Za-z_]`), ignoring negation.
fn ascii_items(perl: &ClassPerl) -> Vec<ClassSetItem> {
    let span = perl.span;
    let literal = |character: char| Literal {
        span,
        kind: LiteralKind::Verbatim,
        c: character,
    };
    let range = |start: char, end: char| {
        ClassSetItem::Range(ClassSetRange {
            span,
            start: literal(start),
            end: literal(end),
        })
    };
    match perl.kind {
        ClassPerlKind::Digit => vec![range('0', '9')],
        ClassPerlKind::Space => vec![
            range('\t', '\n'),
            range('\u{c}', '\r'),
            ClassSetItem::Literal(literal(' ')),
        ],
        ClassPerlKind::Word => vec![
            range('0', '9'),
            range('A', 'Z'),
            ClassSetItem::Literal(literal('_')),
            range('a', 'z'),
        ],
    }
}

/// Go's `Regexp.ExpandString`: appends `template` to `output` with `$1`, `${1}`,
/// `$name`, `${name}` replaced by the captured text of `captures` (empty for a
/// group that does not exist or did not participate), and `$$` by `$`. A name
/// runs over letters, digits and `_` (`$1x` is group `1x`); numbers with a leading
/// zero are names; a malformed reference leaves the `$` as text.
pub fn expand_into(
    output: &mut String,
    template: &str,
    regex: &Regex,
    captures: &regex::Captures<'_>,
) {
    let mut rest = template;
    while let Some(dollar) = rest.find('$') {
        output.push_str(&rest[..dollar]);
        rest = &rest[dollar + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            output.push('$');
            rest = after;
            continue;
        }
        let Some((name, after)) = extract_reference(rest) else {
            output.push('$');
            continue;
        };
        rest = after;
        let group = match group_number(name) {
            Some(number) => captures.get(number),
            None => regex
                .capture_names()
                .position(|candidate| candidate == Some(name))
                .and_then(|index| captures.get(index)),
        };
        if let Some(matched) = group {
            output.push_str(matched.as_str());
        }
    }
    output.push_str(rest);
}

/// Go's `extract`: the reference name after a `$` and the text after it.
fn extract_reference(text: &str) -> Option<(&str, &str)> {
    let (braced, body) = match text.strip_prefix('{') {
        Some(body) => (true, body),
        None => (false, text),
    };
    let name_end = body
        .char_indices()
        .find(|(_, character)| !(character.is_alphanumeric() || *character == '_'))
        .map_or(body.len(), |(index, _)| index);
    if name_end == 0 {
        return None;
    }
    let name = &body[..name_end];
    let after = &body[name_end..];
    if braced {
        return after.strip_prefix('}').map(|after| (name, after));
    }
    Some((name, after))
}

/// Go's numeric reference rule: ASCII digits only, no leading zero (except `0`
/// itself), at most nine digits.
fn group_number(name: &str) -> Option<usize> {
    let all_digits = name.bytes().all(|byte| byte.is_ascii_digit());
    let leading_zero = name.len() > 1 && name.starts_with('0');
    if !all_digits || leading_zero || name.len() > 9 {
        return None;
    }
    name.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(pattern: &str, input: &str, template: &str) -> String {
        let regex = compile_anchored(pattern).expect("valid pattern");
        let captures = regex.captures(input).expect("matches");
        let mut output = String::new();
        expand_into(&mut output, template, &regex, &captures);
        output
    }

    #[test]
    fn anchoring_and_dot_matches_newline() {
        let regex = compile_anchored("f|o").expect("valid");
        assert!(!regex.is_match("foo"));
        assert!(regex.is_match("f"));
        let regex = compile_anchored("line1.*line2").expect("valid");
        assert!(regex.is_match("line1\nline2"));
        // Go would accept this: the wrapper closes the first group.
        assert!(compile_anchored("a)|(b").is_ok());
    }

    #[test]
    fn perl_classes_and_word_boundaries_are_ascii_as_in_go() {
        let digits = compile_anchored(r"\d+").expect("valid");
        assert!(digits.is_match("0123"));
        assert!(!digits.is_match("٣"), "Arabic-Indic digit is not \\d in Go");
        let word = compile_anchored(r"\w+").expect("valid");
        assert!(!word.is_match("é"));
        let not_word = compile_anchored(r"\W").expect("valid");
        assert!(not_word.is_match("é"));
        let space = compile_anchored(r"\s").expect("valid");
        assert!(space.is_match("\t") && space.is_match("\u{c}") && space.is_match(" "));
        assert!(!space.is_match("\u{b}"), "Go's \\s excludes \\v");
        assert!(!space.is_match("\u{a0}"));
        let in_class = compile_anchored(r"[\d\s]+").expect("valid");
        assert!(in_class.is_match("1 2") && !in_class.is_match("٣"));
        let negated_in_class = compile_anchored(r"[\Da]").expect("valid");
        assert!(negated_in_class.is_match("x") && negated_in_class.is_match("a"));
        assert!(!negated_in_class.is_match("5"));
        let boundary = compile_anchored(r".*\bx").expect("valid");
        assert!(boundary.is_match("éx"), "é is not a word character in Go");
    }

    #[test]
    fn rust_only_syntax_is_rejected() {
        for pattern in [
            r"[a&&b]",
            r"[[a]]",
            r"\<a",
            r"(?x)a",
            r"(?-u:a)",
            r"\b{start}",
        ] {
            assert!(compile_anchored(pattern).is_err(), "{pattern}");
        }
        assert!(compile_anchored("(").is_err());
    }

    #[test]
    fn expansion_follows_go_expand() {
        assert_eq!(expand("f(.*)", "foo", "ch${1}-ch${1}"), "choo-choo");
        assert_eq!(expand("f(.*)", "foo", "ch$1-ch$1"), "choo-choo");
        assert_eq!(expand("(f).*", "foo", "$2"), "");
        assert_eq!(expand("f(.*)", "foo", "$1x"), "", "$1x names group 1x");
        assert_eq!(expand("f(.*)", "foo", "$$1"), "$1");
        assert_eq!(expand("f(.*)", "foo", "a$"), "a$");
        assert_eq!(expand("f(.*)", "foo", "${1"), "${1");
        assert_eq!(expand("f(.*)", "foo", "$-"), "$-");
        assert_eq!(expand("f(.*)", "foo", "$01"), "", "leading zero is a name");
        assert_eq!(expand("f(.*)", "foo", "$0"), "foo");
        assert_eq!(
            expand("(line1).*(?<second>line2)", "line1\nline2", "val_${second}"),
            "val_line2"
        );
        assert_eq!(
            expand("(line1).*(?P<second>line2)", "line1\nline2", "val_$second"),
            "val_line2"
        );
        assert_eq!(expand("line1.*line2", "line1\nline2", "match${1}"), "match");
        // Go names run over Unicode letters too.
        assert_eq!(expand("f(.*)", "foo", "$1é!"), "!");
        assert_eq!(expand("(a)?b", "b", "[$1]"), "[]");
    }
}
