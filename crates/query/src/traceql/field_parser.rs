//! Field expressions: what stands inside `{ }`, `by()` and aggregates, with Tempo's
//! precedences (`&&` and `||` share one level and associate to the left; `!` binds
//! tighter than comparisons; `^` associates to the right) and its `nil` forms.

use super::ParseError;
use super::ast::{Attribute, FieldExpr, Intrinsic, Op, Scope};
use super::lexer::Tok;
use super::parser::Parser;
use super::validate;
use super::value::Value;

fn field_operator(op: &str) -> Option<(Op, u8, bool)> {
    Some(match op {
        "&&" => (Op::And, 2, false),
        "||" => (Op::Or, 2, false),
        "=" => (Op::Eq, 3, false),
        "!=" => (Op::Neq, 3, false),
        "<" => (Op::Lt, 3, false),
        "<=" => (Op::Lte, 3, false),
        ">" => (Op::Gt, 3, false),
        ">=" => (Op::Gte, 3, false),
        "=~" => (Op::Regex, 3, false),
        "!~" => (Op::NotRegex, 3, false),
        "+" => (Op::Add, 5, false),
        "-" => (Op::Sub, 5, false),
        "*" => (Op::Mul, 7, false),
        "/" => (Op::Div, 7, false),
        "%" => (Op::Mod, 7, false),
        "^" => (Op::Pow, 8, true),
        _ => return None,
    })
}

impl Parser {
    pub(crate) fn parse_field(&mut self, min_precedence: u8) -> Result<FieldExpr, ParseError> {
        self.enter()?;
        let mut lhs = self.parse_field_prefix()?;
        while let Some(keyword) = self.peek_keyword() {
            let Some((op, precedence, right_assoc)) = field_operator(keyword) else {
                break;
            };
            if precedence < min_precedence {
                break;
            }
            self.count_operator()?;
            self.advance();
            if matches!(op, Op::Eq | Op::Neq) && self.peek().is("nil") {
                self.advance();
                let unary = if op == Op::Eq {
                    Op::NotExists
                } else {
                    Op::Exists
                };
                lhs = validate::unary(unary, lhs);
                continue;
            }
            if self.peek().is("nil") {
                return Err(self.unexpected(&[]));
            }
            let next_min = if right_assoc {
                precedence
            } else {
                precedence + 1
            };
            let rhs = self.parse_field(next_min)?;
            lhs = validate::binary(op, lhs, rhs);
        }
        self.leave();
        Ok(lhs)
    }

    fn parse_field_prefix(&mut self) -> Result<FieldExpr, ParseError> {
        if let Some(keyword) = self.peek_keyword() {
            match keyword {
                "(" => {
                    self.advance();
                    let inner = self.parse_field(0)?;
                    self.expect(")", &[])?;
                    return Ok(inner);
                }
                "-" => {
                    self.advance();
                    let operand = self.parse_field(6)?;
                    return Ok(validate::unary(Op::Sub, operand));
                }
                "!" => {
                    self.advance();
                    let operand = self.parse_field(7)?;
                    return Ok(validate::unary(Op::Not, operand));
                }
                "nil" => {
                    self.advance();
                    let op = match self.peek_keyword() {
                        Some("=") => Op::NotExists,
                        Some("!=") => Op::Exists,
                        _ => return Err(self.unexpected(&["!=", "="])),
                    };
                    self.advance();
                    if self.peek().is("nil") {
                        self.advance();
                        return Ok(FieldExpr::Static(Value::Bool(false)));
                    }
                    let operand = self.parse_field(4)?;
                    return Ok(validate::unary(op, operand));
                }
                _ => {}
            }
        }
        if let Some(attribute) = self.try_attribute()? {
            return Ok(FieldExpr::Attribute(attribute));
        }
        Ok(FieldExpr::Static(self.static_value()?))
    }

    pub(super) fn static_value(&mut self) -> Result<Value<'static>, ParseError> {
        let token = self.peek().clone();
        let value = match &token.tok {
            Tok::String(s) => Value::Str(s.clone().into()),
            Tok::Integer(i) => Value::Int(*i),
            Tok::Float(f) => Value::Float(*f),
            Tok::Duration(d) => Value::Duration(*d),
            Tok::Identifier(name) => {
                self.advance();
                return match name.as_str() {
                    "minInt" => Ok(Value::Int(i64::MIN)),
                    "maxInt" => Ok(Value::Int(i64::MAX)),
                    _ => Err(ParseError::syntax(
                        token.line,
                        token.column,
                        format!("unknown identifier: {name}"),
                    )),
                };
            }
            Tok::Keyword(k) => match *k {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "ok" => Value::Status(weft_model::StatusCode::Ok),
                "error" => Value::Status(weft_model::StatusCode::Error),
                "unset" => Value::Status(weft_model::StatusCode::Unset),
                "unspecified" => Value::Kind(weft_model::SpanKind::Unspecified),
                "internal" => Value::Kind(weft_model::SpanKind::Internal),
                "server" => Value::Kind(weft_model::SpanKind::Server),
                "client" => Value::Kind(weft_model::SpanKind::Client),
                "producer" => Value::Kind(weft_model::SpanKind::Producer),
                "consumer" => Value::Kind(weft_model::SpanKind::Consumer),
                _ => return Err(self.unexpected(&[])),
            },
            _ => return Err(self.unexpected(&[])),
        };
        self.advance();
        Ok(value)
    }

    pub(super) fn attribute_list(&mut self) -> Result<Vec<Attribute>, ParseError> {
        let mut attributes = vec![self.attribute()?];
        while self.peek().is(",") {
            self.advance();
            attributes.push(self.attribute()?);
        }
        Ok(attributes)
    }

    pub(super) fn attribute(&mut self) -> Result<Attribute, ParseError> {
        match self.try_attribute()? {
            Some(attribute) => Ok(attribute),
            None => Err(self.unexpected(&[])),
        }
    }

    /// An intrinsic, scoped intrinsic or attribute, if the next token starts one.
    fn try_attribute(&mut self) -> Result<Option<Attribute>, ParseError> {
        let Some(keyword) = self.peek_keyword() else {
            return Ok(None);
        };
        let unscoped = match keyword {
            "duration" => Some(Intrinsic::Duration),
            "name" => Some(Intrinsic::Name),
            "status" => Some(Intrinsic::Status),
            "statusMessage" => Some(Intrinsic::StatusMessage),
            "kind" => Some(Intrinsic::Kind),
            "parent" => Some(Intrinsic::Parent),
            "rootName" => Some(Intrinsic::RootName),
            "rootServiceName" => Some(Intrinsic::RootServiceName),
            "traceDuration" => Some(Intrinsic::TraceDuration),
            "nestedSetLeft" => Some(Intrinsic::NestedSetLeft),
            "nestedSetRight" => Some(Intrinsic::NestedSetRight),
            "nestedSetParent" => Some(Intrinsic::NestedSetParent),
            _ => None,
        };
        if let Some(intrinsic) = unscoped {
            self.advance();
            return Ok(Some(Attribute::intrinsic(intrinsic)));
        }
        let scoped: Option<&[(&str, Intrinsic)]> = match keyword {
            "trace:" => Some(&[
                ("duration", Intrinsic::TraceDuration),
                ("rootName", Intrinsic::RootName),
                ("rootService", Intrinsic::RootServiceName),
                ("id", Intrinsic::TraceId),
            ]),
            "span:" => Some(&[
                ("duration", Intrinsic::Duration),
                ("name", Intrinsic::Name),
                ("kind", Intrinsic::Kind),
                ("status", Intrinsic::Status),
                ("statusMessage", Intrinsic::StatusMessage),
                ("id", Intrinsic::SpanId),
                ("parentID", Intrinsic::ParentId),
                ("childCount", Intrinsic::ChildCount),
            ]),
            "event:" => Some(&[
                ("name", Intrinsic::EventName),
                ("timeSinceStart", Intrinsic::EventTimeSinceStart),
            ]),
            "link:" => Some(&[
                ("traceID", Intrinsic::LinkTraceId),
                ("spanID", Intrinsic::LinkSpanId),
            ]),
            "instrumentation:" => Some(&[
                ("name", Intrinsic::InstrumentationName),
                ("version", Intrinsic::InstrumentationVersion),
            ]),
            _ => None,
        };
        if let Some(choices) = scoped {
            self.advance();
            let next = self.peek_keyword();
            if let Some((_, intrinsic)) = choices.iter().find(|(name, _)| Some(*name) == next) {
                self.advance();
                return Ok(Some(Attribute::intrinsic(*intrinsic)));
            }
            // yacc lists at most four expected tokens.
            let names: Vec<&str> = choices.iter().map(|(name, _)| *name).collect();
            let expecting: &[&str] = if names.len() <= 4 { &names } else { &[] };
            return Err(self.unexpected(expecting));
        }
        let scope = match keyword {
            "." => Scope::None,
            "resource." => Scope::Resource,
            "span." => Scope::Span,
            "event." => Scope::Event,
            "link." => Scope::Link,
            "instrumentation." => Scope::Instrumentation,
            "parent." => {
                self.advance();
                let scope = match self.peek_keyword() {
                    Some("resource.") => Scope::Resource,
                    Some("span.") => Scope::Span,
                    _ => Scope::None,
                };
                if scope != Scope::None {
                    self.advance();
                }
                let name = self.attribute_name(if scope == Scope::None {
                    &["IDENTIFIER", "resource.", "span."]
                } else {
                    &["IDENTIFIER"]
                })?;
                return Ok(Some(Attribute::named(scope, true, name)));
            }
            _ => return Ok(None),
        };
        self.advance();
        let name = self.attribute_name(&["IDENTIFIER"])?;
        Ok(Some(Attribute::named(scope, false, name)))
    }

    fn attribute_name(&mut self, expecting: &[&str]) -> Result<String, ParseError> {
        let name = match &self.peek().tok {
            Tok::Identifier(name) => name.clone(),
            _ => return Err(self.unexpected(expecting)),
        };
        self.advance();
        if self.peek().tok != Tok::EndAttribute {
            return Err(self.unexpected(&["END_ATTRIBUTE"]));
        }
        self.advance();
        Ok(name)
    }
}
