//! The LogQL lexer: tokens with their line and column (1-based, in characters).

use crate::labels::unquote;

/// A token kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// `{`
    OpenBrace,
    /// `}`
    CloseBrace,
    /// `(`
    OpenParen,
    /// `)`
    CloseParen,
    /// `[`
    OpenBracket,
    /// `]`
    CloseBracket,
    /// `,`
    Comma,
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~`
    RegexMatch,
    /// `!~`
    NotRegexMatch,
    /// `|=`
    PipeExact,
    /// `|~`
    PipeMatch,
    /// `|`
    Pipe,
    /// A quoted string, unescaped.
    String(String),
    /// A name or keyword.
    Identifier(String),
    /// A number or duration as written (`5`, `1.5`, `5m`).
    Number(String),
}

impl Token {
    /// The name used in "unexpected ..." messages (Loki's grammar symbols).
    pub fn describe(&self) -> String {
        match self {
            Token::OpenBrace => String::from("{"),
            Token::CloseBrace => String::from("}"),
            Token::OpenParen => String::from("("),
            Token::CloseParen => String::from(")"),
            Token::OpenBracket => String::from("["),
            Token::CloseBracket => String::from("]"),
            Token::Comma => String::from(","),
            Token::Equal => String::from("="),
            Token::NotEqual => String::from("!="),
            Token::RegexMatch => String::from("=~"),
            Token::NotRegexMatch => String::from("!~"),
            Token::PipeExact => String::from("|="),
            Token::PipeMatch => String::from("|~"),
            Token::Pipe => String::from("|"),
            Token::String(_) => String::from("STRING"),
            Token::Identifier(name) => format!("IDENTIFIER {name:?}"),
            Token::Number(_) => String::from("NUMBER"),
        }
    }
}

/// A token and where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The token.
    pub token: Token,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

/// A lexing error: message and position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError {
    /// What is wrong.
    pub message: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

/// Splits `text` into tokens; `#` starts a comment to the end of the line.
pub fn lex(text: &str) -> Result<(Vec<Located>, (usize, usize)), LexError> {
    let mut tokens = Vec::new();
    let mut position = 0;
    let (mut line, mut line_start) = (1, 0);
    let column_of =
        |position: usize, line_start: usize| text[line_start..position].chars().count() + 1;
    while position < text.len() {
        let rest = &text[position..];
        let Some(character) = rest.chars().next() else {
            break;
        };
        let column = column_of(position, line_start);
        if character == '\n' {
            position += 1;
            line += 1;
            line_start = position;
            continue;
        }
        if character.is_whitespace() {
            position += character.len_utf8();
            continue;
        }
        if character == '#' {
            position += rest.find('\n').unwrap_or(rest.len());
            continue;
        }
        let two = rest.get(..2).unwrap_or("");
        let (token, length) = match two {
            "!=" => (Token::NotEqual, 2),
            "=~" => (Token::RegexMatch, 2),
            "!~" => (Token::NotRegexMatch, 2),
            "|=" => (Token::PipeExact, 2),
            "|~" => (Token::PipeMatch, 2),
            _ => match character {
                '{' => (Token::OpenBrace, 1),
                '}' => (Token::CloseBrace, 1),
                '(' => (Token::OpenParen, 1),
                ')' => (Token::CloseParen, 1),
                '[' => (Token::OpenBracket, 1),
                ']' => (Token::CloseBracket, 1),
                ',' => (Token::Comma, 1),
                '=' => (Token::Equal, 1),
                '|' => (Token::Pipe, 1),
                '"' | '`' => match unquote(rest) {
                    Ok((value, consumed)) => (Token::String(value), consumed),
                    Err(_) => {
                        return Err(LexError {
                            message: String::from("unterminated or invalid string"),
                            line,
                            column,
                        });
                    }
                },
                c if c.is_ascii_alphabetic() || c == '_' => {
                    let length = rest
                        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                        .unwrap_or(rest.len());
                    (Token::Identifier(rest[..length].to_owned()), length)
                }
                c if c.is_ascii_digit() => {
                    let length = rest
                        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
                        .unwrap_or(rest.len());
                    (Token::Number(rest[..length].to_owned()), length)
                }
                other => {
                    return Err(LexError {
                        message: format!("unexpected character {other:?}"),
                        line,
                        column,
                    });
                }
            },
        };
        tokens.push(Located {
            token,
            line,
            column,
        });
        position += length;
    }
    Ok((tokens, (line, column_of(position, line_start))))
}
