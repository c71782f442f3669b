//! TraceQL values, their static types and Tempo's operator rules.
//!
//! [`Value`] borrows strings from the spans it was read from, so evaluating a condition
//! allocates nothing except for hex ids. [`Static`] is the owned form handed to callers.

use std::borrow::Cow;
use std::cmp::Ordering;

use weft_model::{AttributeValue, SpanKind, StatusCode};

use super::ast::Op;
use crate::duration::format_go_duration;

/// A value in query results: span attributes and spanset attributes.
#[derive(Debug, Clone, PartialEq)]
pub enum Static {
    /// No value.
    Nil,
    /// A 64-bit integer.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// A string.
    String(String),
    /// A boolean.
    Bool(bool),
    /// A duration in nanoseconds (negative results of arithmetic are clamped to 0).
    Duration(u64),
    /// A span status.
    Status(StatusCode),
    /// A span kind.
    Kind(SpanKind),
    /// An array attribute's elements.
    Array(Vec<Static>),
}

impl Static {
    /// The value as text the way Tempo renders it in search results (`AsAnyValue` for
    /// values without a native JSON type): durations in Go's form (`973.25ms`), statuses
    /// and kinds by name, strings as they are, `nil` for nil.
    pub fn to_text(&self) -> String {
        match self {
            Static::Nil => "nil".into(),
            Static::Int(i) => i.to_string(),
            Static::Float(f) => format_go_float(*f),
            Static::String(s) => s.clone(),
            Static::Bool(b) => b.to_string(),
            Static::Duration(d) => format_go_duration(i64::try_from(*d).unwrap_or(i64::MAX)),
            Static::Status(s) => status_name(*s).into(),
            Static::Kind(k) => k.as_str().into(),
            Static::Array(values) => {
                let items: Vec<String> = values.iter().map(Static::to_text).collect();
                format!("[{}]", items.join(", "))
            }
        }
    }
}

/// The static type of an expression, as Tempo's validator infers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Type {
    Nil,
    /// Known only at evaluation time (a non-intrinsic attribute).
    Attribute,
    Int,
    Float,
    String,
    Bool,
    Duration,
    Status,
    Kind,
    IntArray,
    FloatArray,
    StringArray,
    BoolArray,
    /// An array of mixed or nested values: compares with nothing.
    Unsupported,
}

impl Type {
    pub(crate) fn is_numeric(self) -> bool {
        matches!(self, Type::Int | Type::Float | Type::Duration)
    }

    /// Whether two operand types may meet in a binary operation (Tempo's `isMatchingOperand`).
    pub(crate) fn matches(self, other: Type) -> bool {
        self == Type::Attribute
            || other == Type::Attribute
            || self == other
            || (self.is_numeric() && other.is_numeric())
            || self == Type::Nil
            || other == Type::Nil
            || self.matches_array_element(other)
    }

    fn array_element(self) -> Option<Type> {
        match self {
            Type::IntArray => Some(Type::Int),
            Type::FloatArray => Some(Type::Float),
            Type::StringArray => Some(Type::String),
            Type::BoolArray => Some(Type::Bool),
            _ => None,
        }
    }

    /// Scalar against array (either side), element types matching.
    fn matches_array_element(self, other: Type) -> bool {
        match (self.array_element(), other.array_element()) {
            (Some(element), None) => element.matches(other),
            (None, Some(element)) => element.matches(self),
            _ => false,
        }
    }
}

/// Whether `op` accepts an operand of type `t` (Tempo's `binaryTypeValid`).
pub(crate) fn operand_valid(op: Op, t: Type) -> bool {
    use Op::*;
    match t {
        Type::Attribute => true,
        Type::Bool | Type::BoolArray => matches!(op, And | Or | Eq | Neq),
        Type::Int | Type::Float | Type::Duration | Type::IntArray | Type::FloatArray => matches!(
            op,
            Add | Sub | Mul | Div | Mod | Pow | Eq | Neq | Gt | Gte | Lt | Lte
        ),
        Type::String | Type::StringArray => {
            matches!(op, Eq | Neq | Regex | NotRegex | Gt | Gte | Lt | Lte)
        }
        Type::Nil | Type::Status | Type::Kind => matches!(op, Eq | Neq),
        Type::Unsupported => false,
    }
}

/// A value during evaluation; strings borrow from the span where they can.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value<'a> {
    Nil,
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
    Bool(bool),
    /// Nanoseconds; arithmetic may make it negative.
    Duration(i64),
    Status(StatusCode),
    Kind(SpanKind),
    Array(&'a [AttributeValue]),
}

/// An evaluation failure Tempo reports as a query error (division by zero); weft treats the
/// condition as not met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EvalFailure;

impl<'a> Value<'a> {
    pub(crate) fn from_attribute(value: &'a AttributeValue) -> Value<'a> {
        match value {
            AttributeValue::String(text) => Value::Str(Cow::Borrowed(text)),
            AttributeValue::Bool(b) => Value::Bool(*b),
            AttributeValue::Int(i) => Value::Int(*i),
            AttributeValue::Double(f) => Value::Float(*f),
            AttributeValue::Array(values) => Value::Array(values),
            AttributeValue::Bytes(_) | AttributeValue::KeyValueList(_) | AttributeValue::Empty => {
                Value::Nil
            }
        }
    }

    pub(crate) fn ty(&self) -> Type {
        match self {
            Value::Nil => Type::Nil,
            Value::Int(_) => Type::Int,
            Value::Float(_) => Type::Float,
            Value::Str(_) => Type::String,
            Value::Bool(_) => Type::Bool,
            Value::Duration(_) => Type::Duration,
            Value::Status(_) => Type::Status,
            Value::Kind(_) => Type::Kind,
            Value::Array(values) => array_type(values),
        }
    }

    pub(crate) fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }

    pub(crate) fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// Tempo's `Static.Float`: numbers as floats, everything else NaN.
    pub(crate) fn float(&self) -> f64 {
        match self {
            Value::Float(f) => *f,
            Value::Int(i) => *i as f64,
            Value::Duration(d) => *d as f64,
            _ => f64::NAN,
        }
    }

    /// Tempo's `Static.Equals`: nil equals nothing; ints, durations and floats compare as
    /// numbers; a status equals its OTLP code.
    pub(crate) fn equals(&self, other: &Value<'_>) -> bool {
        match (self, other) {
            (Value::Nil, _) | (_, Value::Nil) => false,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Int(a), Value::Duration(b)) | (Value::Duration(a), Value::Int(b)) => a == b,
            (Value::Duration(a), Value::Duration(b)) => a == b,
            (Value::Int(a), Value::Status(s)) => *a == i64::from(s.to_otlp()),
            (Value::Int(_) | Value::Duration(_), Value::Float(f)) => self.float() == *f,
            (Value::Status(s), Value::Int(i)) => i64::from(s.to_otlp()) == *i,
            (Value::Status(a), Value::Status(b)) => a == b,
            (Value::Float(f), _) => *f == other.float(),
            (Value::Kind(a), Value::Kind(b)) => a == b,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::Array(a), Value::Array(b)) => a == b,
            _ => false,
        }
    }

    /// Tempo's ordering for `min()`/`max()`: numbers numerically, otherwise by type then value.
    pub(crate) fn compare(&self, other: &Value<'_>) -> Ordering {
        let (a, b) = (self.ty(), other.ty());
        if a != b {
            if a.is_numeric() && b.is_numeric() {
                return self
                    .float()
                    .partial_cmp(&other.float())
                    .unwrap_or(Ordering::Equal);
            }
            return (a as u8).cmp(&(b as u8));
        }
        match (self, other) {
            (Value::Str(x), Value::Str(y)) => x.as_bytes().cmp(y.as_bytes()),
            (Value::Int(x), Value::Int(y)) | (Value::Duration(x), Value::Duration(y)) => x.cmp(y),
            (Value::Float(x), Value::Float(y)) => (x.to_bits() as i64).cmp(&(y.to_bits() as i64)),
            (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
            (Value::Status(x), Value::Status(y)) => x.to_otlp().cmp(&y.to_otlp()),
            (Value::Kind(x), Value::Kind(y)) => x.to_otlp().cmp(&y.to_otlp()),
            _ => Ordering::Equal,
        }
    }

    pub(crate) fn into_owned(self) -> Value<'static> {
        match self {
            Value::Nil => Value::Nil,
            Value::Int(i) => Value::Int(i),
            Value::Float(f) => Value::Float(f),
            Value::Str(s) => Value::Str(Cow::Owned(s.into_owned())),
            Value::Bool(b) => Value::Bool(b),
            Value::Duration(d) => Value::Duration(d),
            Value::Status(s) => Value::Status(s),
            Value::Kind(k) => Value::Kind(k),
            // Arrays only come from spans, never from query text or folded constants.
            Value::Array(_) => Value::Nil,
        }
    }

    pub(crate) fn to_static(&self) -> Static {
        match self {
            Value::Nil => Static::Nil,
            Value::Int(i) => Static::Int(*i),
            Value::Float(f) => Static::Float(*f),
            Value::Str(s) => Static::String(s.to_string()),
            Value::Bool(b) => Static::Bool(*b),
            Value::Duration(d) => Static::Duration(u64::try_from(*d).unwrap_or(0)),
            Value::Status(s) => Static::Status(*s),
            Value::Kind(k) => Static::Kind(*k),
            Value::Array(values) => Static::Array(
                values
                    .iter()
                    .map(|v| Value::from_attribute(v).to_static())
                    .collect(),
            ),
        }
    }

    /// Tempo's `Static.String()` form, used when printing queries.
    pub(crate) fn to_query_text(&self) -> String {
        match self {
            Value::Nil => "nil".into(),
            // `minInt` is Tempo's name for it; the digits would not lex back (overflow).
            Value::Int(i64::MIN) => "minInt".into(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => format_go_float(*f),
            Value::Str(s) => quote_string(s),
            Value::Bool(b) => b.to_string(),
            Value::Duration(d) => format_go_duration(*d),
            Value::Status(s) => status_name(*s).into(),
            Value::Kind(k) => k.as_str().into(),
            Value::Array(values) => {
                let items: Vec<String> = values
                    .iter()
                    .map(|v| Value::from_attribute(v).to_query_text())
                    .collect();
                format!("[{}]", items.join(", "))
            }
        }
    }
}

fn array_type(values: &[AttributeValue]) -> Type {
    let mut element = None;
    for value in values {
        let t = match value {
            AttributeValue::String(_) => Type::StringArray,
            AttributeValue::Int(_) => Type::IntArray,
            AttributeValue::Double(_) => Type::FloatArray,
            AttributeValue::Bool(_) => Type::BoolArray,
            _ => return Type::Unsupported,
        };
        match element {
            None => element = Some(t),
            Some(previous) if previous != t => return Type::Unsupported,
            Some(_) => {}
        }
    }
    // An empty array matches nothing, like Tempo's empty arrays.
    element.unwrap_or(Type::Unsupported)
}

/// A status by its TraceQL keyword (`unset`, `ok`, `error`), as Tempo writes statuses in
/// queries, search answers and tag values.
pub fn status_name(status: StatusCode) -> &'static str {
    match status {
        StatusCode::Ok => "ok",
        StatusCode::Error => "error",
        StatusCode::Unset => "unset",
    }
}

/// Tempo prints strings in backquotes; a string a raw literal cannot hold (a backquote
/// or a carriage return) is printed double-quoted so the text parses back.
fn quote_string(text: &str) -> String {
    if !text.contains(['`', '\r']) {
        return format!("`{text}`");
    }
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            other => out.push(other),
        }
    }
    out.push('"');
    out
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)`, plus `.0` when it would read as an int.
/// NaN and infinities, which Tempo prints as `NaN`/`+Inf`, print as the constant
/// expressions that fold to them so the text parses back.
pub(crate) fn format_go_float(f: f64) -> String {
    if f.is_nan() {
        return "(0.0 / 0.0)".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "(1.0 / 0.0)".into()
        } else {
            "(-1.0 / 0.0)".into()
        };
    }
    // Shortest round-trip digits and decimal exponent, from Rust's `{:e}`.
    let scientific = format!("{f:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    // Go switches to exponent form below 1e-4 and from 1e6 on for shortest 'g'.
    let text = if !(-4..6).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.unsigned_abs())
    } else {
        format!("{f}")
    };
    if text.contains(['e', '.']) {
        text
    } else {
        format!("{text}.0")
    }
}

/// Result of applying `op` to two values (Tempo's `BinaryOperation.execute`): type
/// mismatches are `false`, not errors.
pub(crate) fn binary(
    op: Op,
    lhs: &Value<'_>,
    rhs: &Value<'_>,
    regex: Option<&regex::Regex>,
) -> Result<Value<'static>, EvalFailure> {
    let (lt, rt) = (lhs.ty(), rhs.ty());
    if !lt.matches(rt) || !operand_valid(op, lt) || !operand_valid(op, rt) {
        return Ok(Value::Bool(false));
    }
    if lt.matches_array_element(rt) {
        if !op.is_boolean() {
            return Err(EvalFailure);
        }
        return Ok(array_binary(op, lhs, rhs, regex));
    }
    match (lhs, rhs) {
        (Value::Str(a), Value::Str(b)) => match op {
            Op::Gt => return Ok(Value::Bool(a.as_bytes() > b.as_bytes())),
            Op::Gte => return Ok(Value::Bool(a.as_bytes() >= b.as_bytes())),
            Op::Lt => return Ok(Value::Bool(a.as_bytes() < b.as_bytes())),
            Op::Lte => return Ok(Value::Bool(a.as_bytes() <= b.as_bytes())),
            Op::Regex | Op::NotRegex => {
                let matched = match regex {
                    Some(compiled) => compiled.is_match(a),
                    None => anchored(b).is_ok_and(|compiled| compiled.is_match(a)),
                };
                return Ok(Value::Bool(matched == (op == Op::Regex)));
            }
            _ => {}
        },
        (Value::Int(a), Value::Int(b)) => {
            let (a, b) = (*a, *b);
            let result = match op {
                Op::Add => Value::Int(a.wrapping_add(b)),
                Op::Sub => Value::Int(a.wrapping_sub(b)),
                Op::Mul => Value::Int(a.wrapping_mul(b)),
                Op::Div if b == 0 => return Err(EvalFailure),
                Op::Div => Value::Int(a.wrapping_div(b)),
                Op::Mod if b == 0 => return Err(EvalFailure),
                Op::Mod => Value::Int(a.wrapping_rem(b)),
                Op::Gt => Value::Bool(a > b),
                Op::Gte => Value::Bool(a >= b),
                Op::Lt => Value::Bool(a < b),
                Op::Lte => Value::Bool(a <= b),
                // Tempo computes integer powers with the operands swapped (`intPow(rhs,
                // lhs)`): `2 ^ 3` is 9. Kept for identical answers.
                Op::Pow => Value::Int((b as f64).powf(a as f64) as i64),
                _ => return Ok(catch_all(op, lhs, rhs)),
            };
            return Ok(result);
        }
        (Value::Bool(a), Value::Bool(b)) => match op {
            Op::And => return Ok(Value::Bool(*a && *b)),
            Op::Or => return Ok(Value::Bool(*a || *b)),
            _ => {}
        },
        _ => {}
    }
    Ok(catch_all(op, lhs, rhs))
}

/// Float arithmetic and comparisons, and equality, for every other pair of types.
fn catch_all(op: Op, lhs: &Value<'_>, rhs: &Value<'_>) -> Value<'static> {
    let (a, b) = (lhs.float(), rhs.float());
    match op {
        Op::Add => Value::Float(a + b),
        Op::Sub => Value::Float(a - b),
        Op::Div => Value::Float(a / b),
        Op::Mod => Value::Float(a % b),
        Op::Mul => Value::Float(a * b),
        Op::Pow => Value::Float(a.powf(b)),
        Op::Gt => Value::Bool(a > b),
        Op::Gte => Value::Bool(a >= b),
        Op::Lt => Value::Bool(a < b),
        Op::Lte => Value::Bool(a <= b),
        Op::Eq => Value::Bool(lhs.equals(rhs)),
        Op::Neq => Value::Bool(!lhs.is_nil() && !rhs.is_nil() && !lhs.equals(rhs)),
        _ => Value::Nil,
    }
}

/// A scalar against an array attribute: true when any element matches.
fn array_binary(
    op: Op,
    lhs: &Value<'_>,
    rhs: &Value<'_>,
    regex: Option<&regex::Regex>,
) -> Value<'static> {
    let (array, scalar, flipped) = match (lhs, rhs) {
        (Value::Array(values), scalar) => (*values, scalar, true),
        (scalar, Value::Array(values)) => (*values, scalar, false),
        _ => return Value::Bool(false),
    };
    let element_op = if flipped { op.flipped() } else { op };
    // Tempo's storage matches an array when any element does, for `!=` and `!~` too.
    let any = array.iter().any(|element| {
        let element = Value::from_attribute(element);
        // A regex always applies with the pattern on the right.
        let result = if flipped && matches!(element_op, Op::Regex | Op::NotRegex) {
            binary(element_op, &element, scalar, regex)
        } else {
            binary(element_op, scalar, &element, regex)
        };
        result.is_ok_and(|v| v.as_bool() == Some(true))
    });
    Value::Bool(any)
}

/// Compiles `pattern` fully anchored, as Tempo (Prometheus' matcher) does: `^(?s:p)$`.
pub(crate) fn anchored(pattern: &str) -> Result<regex::Regex, regex::Error> {
    regex::RegexBuilder::new(&format!("^(?s:{pattern})$"))
        .size_limit(1 << 20)
        .build()
}
