//! Literals as Tempo's lexer reads them: Go strings (quoted with escapes, or raw in
//! backquotes), Go numbers, and durations (Prometheus units first, then Go's).

use super::ParseError;
use super::lexer::{Lexer, Tok, Token, is_duration_char};

impl Lexer {
    pub(super) fn string_literal(&mut self, quote: char) -> Result<String, ParseError> {
        self.pos += 1;
        let mut raw = String::new();
        loop {
            match self.peek() {
                None => return Err(self.error("literal not terminated")),
                Some('\n') if quote == '"' => return Err(self.error("literal not terminated")),
                Some(c) if c == quote => {
                    self.pos += 1;
                    break;
                }
                Some('\\') if quote == '"' => {
                    raw.push('\\');
                    self.pos += 1;
                    if let Some(c) = self.peek() {
                        raw.push(c);
                        self.pos += 1;
                    }
                }
                Some(c) => {
                    raw.push(c);
                    self.pos += 1;
                }
            }
        }
        if quote == '`' {
            return Ok(raw.replace('\r', ""));
        }
        unescape(&raw).map_err(|message| self.error(message))
    }

    pub(super) fn number(&mut self) -> Result<Token, ParseError> {
        let start = self.pos;
        let mut is_float = false;
        let digits = |c: char| c.is_ascii_digit() || c == '_';
        if self.peek() == Some('0')
            && matches!(self.peek_at(1), Some('x' | 'X' | 'o' | 'O' | 'b' | 'B'))
        {
            self.pos += 2;
            while self
                .peek()
                .is_some_and(|c| c.is_ascii_hexdigit() || c == '_')
            {
                self.pos += 1;
            }
        } else {
            while self.peek().is_some_and(digits) {
                self.pos += 1;
            }
            if self.peek() == Some('.') {
                is_float = true;
                self.pos += 1;
                while self.peek().is_some_and(digits) {
                    self.pos += 1;
                }
            }
            let exponent_digit =
                |offset: usize| self.peek_at(offset).is_some_and(|c| c.is_ascii_digit());
            if matches!(self.peek(), Some('e' | 'E'))
                && (exponent_digit(1)
                    || (matches!(self.peek_at(1), Some('+' | '-')) && exponent_digit(2)))
            {
                is_float = true;
                self.pos += 2;
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.pos += 1;
                }
            }
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        if let Some(nanos) = self.try_duration(&text) {
            return Ok(self.token(Tok::Duration(nanos)));
        }
        if is_float {
            return match text.replace('_', "").parse::<f64>() {
                Ok(value) if value.is_finite() => Ok(self.token(Tok::Float(value))),
                Ok(_) => Err(self.error(format!(
                    "strconv.ParseFloat: parsing \"{text}\": value out of range"
                ))),
                Err(_) => Err(self.error(format!(
                    "strconv.ParseFloat: parsing \"{text}\": invalid syntax"
                ))),
            };
        }
        if !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.error(format!("strconv.Atoi: parsing \"{text}\": invalid syntax")));
        }
        match text.parse::<i64>() {
            Ok(value) => Ok(self.token(Tok::Integer(value))),
            Err(_) => Err(self.error(format!(
                "strconv.Atoi: parsing \"{text}\": value out of range"
            ))),
        }
    }

    /// Tempo reads on up to the next space; the whole run must parse as a duration.
    fn try_duration(&mut self, number: &str) -> Option<i64> {
        let mut text = number.to_string();
        let mut consumed = 0;
        while let Some(c) = self.peek_at(consumed) {
            if c.is_whitespace() || !(c.is_numeric() || is_duration_char(c) || c == '.') {
                break;
            }
            text.push(c);
            consumed += 1;
        }
        if consumed == 0 {
            return None;
        }
        let nanos = super::duration::parse(&text)?;
        for _ in 0..consumed {
            self.next_char();
        }
        Some(nanos)
    }
}

/// Decodes Go's double-quoted string escapes.
fn unescape(raw: &str) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let escaped = chars.next().ok_or("invalid syntax")?;
        let decoded = match escaped {
            'a' => '\u{7}',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'v' => '\u{b}',
            '\\' => '\\',
            '"' => '"',
            'x' | 'u' | 'U' => {
                let digits = match escaped {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let hex: String = chars.by_ref().take(digits).collect();
                if hex.len() != digits {
                    return Err("invalid syntax".into());
                }
                let value = u32::from_str_radix(&hex, 16).map_err(|_| "invalid syntax")?;
                char::from_u32(value).ok_or("invalid syntax")?
            }
            '0'..='7' => {
                let rest: String = chars.by_ref().take(2).collect();
                let octal = format!("{escaped}{rest}");
                let value = u32::from_str_radix(&octal, 8).map_err(|_| "invalid syntax")?;
                if octal.len() != 3 || value > 255 {
                    return Err("invalid syntax".into());
                }
                char::from_u32(value).ok_or("invalid syntax")?
            }
            _ => return Err("invalid syntax".into()),
        };
        out.push(decoded);
    }
    Ok(out)
}
