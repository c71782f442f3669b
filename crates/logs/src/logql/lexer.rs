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
    /// `|>`
    PipePattern,
    /// `!>`
    NotPipePattern,
    /// `|`
    Pipe,
    /// `==`
    DoubleEqual,
    /// `>`
    Greater,
    /// `>=`
    GreaterOrEqual,
    /// `<`
    Less,
    /// `<=`
    LessOrEqual,
    /// `+`
    Plus,
    /// `-`
    Minus,
    /// `*`
    Star,
    /// `/`
    Slash,
    /// `%`
    Percent,
    /// `^`
    Caret,
    /// A flag such as `--strict`, without the dashes.
    Flag(String),
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
            Token::PipePattern => String::from("|>"),
            Token::NotPipePattern => String::from("!>"),
            Token::Pipe => String::from("|"),
            Token::DoubleEqual => String::from("=="),
            Token::Greater => String::from(">"),
            Token::GreaterOrEqual => String::from(">="),
            Token::Less => String::from("<"),
            Token::LessOrEqual => String::from("<="),
            Token::Plus => String::from("+"),
            Token::Minus => String::from("-"),
            Token::Star => String::from("*"),
            Token::Slash => String::from("/"),
            Token::Percent => String::from("%"),
            Token::Caret => String::from("^"),
            Token::Flag(name) => format!("FUNCTION_FLAG --{name}"),
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
            "|>" => (Token::PipePattern, 2),
            "!>" => (Token::NotPipePattern, 2),
            "==" => (Token::DoubleEqual, 2),
            ">=" => (Token::GreaterOrEqual, 2),
            "<=" => (Token::LessOrEqual, 2),
            "--" if rest[2..].starts_with(|c: char| c.is_ascii_alphabetic()) => {
                let length = rest[2..]
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                    .map_or(rest.len(), |end| end + 2);
                (Token::Flag(rest[2..length].to_owned()), length)
            }
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
                '>' => (Token::Greater, 1),
                '<' => (Token::Less, 1),
                '+' => (Token::Plus, 1),
                '-' => (Token::Minus, 1),
                '*' => (Token::Star, 1),
                '/' => (Token::Slash, 1),
                '%' => (Token::Percent, 1),
                '^' => (Token::Caret, 1),
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
                c if c.is_ascii_digit()
                    || (c == '.' && rest[1..].starts_with(|c: char| c.is_ascii_digit())) =>
                {
                    let length = number_length(rest);
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

/// The length of the number, duration or byte size at the start of `text`: digits,
/// letters (units, hex, exponents), dots and `µ`, and a sign right after an exponent `e`
/// of a plain number (`1e-3`).
fn number_length(text: &str) -> usize {
    let mut length = 0;
    let mut previous = ' ';
    for character in text.chars() {
        let sign_after_exponent = (character == '-' || character == '+')
            && (previous == 'e' || previous == 'E')
            && text[..length]
                .chars()
                .all(|c| c.is_ascii_digit() || c == '.' || c == 'e' || c == 'E');
        if character.is_ascii_alphanumeric()
            || character == '.'
            || character == 'µ'
            || sign_after_exponent
        {
            length += character.len_utf8();
            previous = character;
        } else {
            break;
        }
    }
    length
}
