//! The Go `text/template` subset `line_format` and `label_format` use: text and
//! `{{ ... }}` actions (`{{-`/`-}}` trim the whitespace beside them), `{{/* comments */}}`,
//! fields (`.label`), literals, pipelines (`{{ .a | ToUpper }}`), parentheses,
//! `if`/`else if`/`else`/`end`, and Loki's function library (see [`FUNCTIONS`]).
//! A missing label reads as the empty string (Loki's data is a `map[string]string`).

use std::fmt::Write as _;

use regex::Regex;

use super::pipeline::go_quote;
use crate::time::{MONTHS, civil_from_days, days_from_civil};

/// The functions a template may call.
pub const FUNCTIONS: &[&str] = &[
    "ToLower",
    "ToUpper",
    "Replace",
    "Trim",
    "TrimLeft",
    "TrimRight",
    "TrimSpace",
    "TrimPrefix",
    "TrimSuffix",
    "title",
    "lower",
    "upper",
    "trunc",
    "substr",
    "contains",
    "hasPrefix",
    "hasSuffix",
    "regexReplaceAll",
    "regexReplaceAllLiteral",
    "default",
    "printf",
    "len",
    "add",
    "sub",
    "mul",
    "div",
    "mod",
    "addf",
    "subf",
    "mulf",
    "divf",
    "int",
    "float64",
    "round",
    "ceil",
    "floor",
    "max",
    "min",
    "maxf",
    "minf",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "and",
    "or",
    "not",
    "unixEpoch",
    "unixEpochMillis",
    "unixEpochNanos",
    "__line__",
    "__timestamp__",
    "repeat",
    "indent",
    "nindent",
    "trimAll",
    "alignLeft",
    "alignRight",
    "count",
    "urlencode",
    "urldecode",
    "b64enc",
    "b64dec",
    "toDate",
    "replace",
    "trim",
    "trimPrefix",
    "trimSuffix",
    "bytes",
    "duration",
    "duration_seconds",
    "print",
    "toDateInZone",
    "date",
    "unixToTime",
    "now",
];

/// Longest text a template may produce, in bytes (bounded memory per line).
const MAX_OUTPUT_BYTES: usize = 1 << 20;

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    source: String,
    nodes: Vec<Node>,
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Pipeline),
    If {
        branches: Vec<(Pipeline, Vec<Node>)>,
        otherwise: Vec<Node>,
    },
}

#[derive(Debug, Clone)]
struct Pipeline(Vec<Command>);

#[derive(Debug, Clone)]
struct Command(Vec<Operand>);

#[derive(Debug, Clone)]
enum Operand {
    Field(String),
    Dot,
    Literal(Value),
    Function(String),
    Nested(Pipeline),
    /// A compiled regex for `regexReplaceAll*` with a literal pattern.
    Regex(Regex, String),
}

/// A value while a template runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A time, Unix nanoseconds (UTC).
    Time(i64),
    /// No value.
    Nil,
}

impl Value {
    fn truthy(&self) -> bool {
        match self {
            Value::Str(text) => !text.is_empty(),
            Value::Int(value) => *value != 0,
            Value::Float(value) => *value != 0.0,
            Value::Bool(value) => *value,
            Value::Time(_) => true,
            Value::Nil => false,
        }
    }

    fn render(&self, out: &mut String) {
        match self {
            Value::Str(text) => out.push_str(text),
            Value::Int(value) => {
                let _ = write!(out, "{value}");
            }
            Value::Float(value) => out.push_str(&go_float(*value)),
            Value::Bool(value) => {
                let _ = write!(out, "{value}");
            }
            Value::Time(nanos) => out.push_str(&format_time(*nanos, GO_TIME_STRING)),
            Value::Nil => out.push_str("<no value>"),
        }
    }

    fn text(&self) -> String {
        let mut out = String::new();
        self.render(&mut out);
        out
    }
}

/// Go's `%v` of a float64: shortest representation, exponent outside [1e-4, 1e21).
fn go_float(value: f64) -> String {
    if value.is_nan() {
        return String::from("NaN");
    }
    if value.is_infinite() {
        return String::from(if value > 0.0 { "+Inf" } else { "-Inf" });
    }
    let magnitude = value.abs();
    if magnitude != 0.0 && !(1e-4..1e21).contains(&magnitude) {
        let text = format!("{value:e}");
        // Rust writes 1e21, Go 1e+21; Go pads the exponent to two digits.
        if let Some((mantissa, exponent)) = text.split_once('e') {
            let (sign, digits) = match exponent.strip_prefix('-') {
                Some(digits) => ('-', digits),
                None => ('+', exponent),
            };
            return format!("{mantissa}e{sign}{digits:0>2}");
        }
        return text;
    }
    format!("{value}")
}

// ---- parsing ------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Item {
    Text(String),
    Action(String),
}

/// Splits the source into text and action bodies, applying `{{-`/`-}}` trimming and
/// dropping comments.
fn split(source: &str) -> Result<Vec<Item>, String> {
    let mut items = Vec::new();
    let mut rest = source;
    let mut trim_next_text = false;
    while !rest.is_empty() {
        let Some(open) = rest.find("{{") else {
            let mut text = rest;
            if trim_next_text {
                text = text.trim_start();
            }
            if !text.is_empty() {
                items.push(Item::Text(text.to_owned()));
            }
            break;
        };
        let mut text = &rest[..open];
        if trim_next_text {
            text = text.trim_start();
        }
        let after_open = &rest[open + 2..];
        let trim_left = after_open.starts_with("- ")
            || after_open.starts_with("-\t")
            || after_open.starts_with("-\n");
        if trim_left {
            text = text.trim_end();
        }
        if !text.is_empty() {
            items.push(Item::Text(text.to_owned()));
        }
        let body_start = if trim_left { 2 } else { 0 };
        let body_and_rest = &after_open[body_start..];
        let close = find_close(body_and_rest).ok_or_else(|| String::from("unclosed action"))?;
        let mut body = &body_and_rest[..close];
        trim_next_text = body.ends_with(" -") || body.ends_with("\t-") || body.ends_with("\n-");
        if trim_next_text {
            body = &body[..body.len() - 1];
        }
        let body = body.trim();
        if !(body.starts_with("/*") && body.ends_with("*/")) {
            items.push(Item::Action(body.to_owned()));
        }
        rest = &body_and_rest[close + 2..];
    }
    Ok(items)
}

/// The offset of the `}}` closing an action, skipping strings.
fn find_close(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'"' => {
                index += 1;
                while index < bytes.len() && bytes[index] != b'"' {
                    if bytes[index] == b'\\' {
                        index += 1;
                    }
                    index += 1;
                }
            }
            b'`' => {
                index += 1;
                while index < bytes.len() && bytes[index] != b'`' {
                    index += 1;
                }
            }
            b'}' if bytes.get(index + 1) == Some(&b'}') => return Some(index),
            _ => {}
        }
        index += 1;
    }
    None
}

#[derive(Debug, Clone, PartialEq)]
enum Word {
    Pipe,
    Open,
    Close,
    Token(String),
    Str(String),
}

fn words(body: &str) -> Result<Vec<Word>, String> {
    let mut words = Vec::new();
    let mut rest = body;
    loop {
        rest = rest.trim_start();
        let Some(first) = rest.chars().next() else {
            return Ok(words);
        };
        match first {
            '|' => {
                words.push(Word::Pipe);
                rest = &rest[1..];
            }
            '(' => {
                words.push(Word::Open);
                rest = &rest[1..];
            }
            ')' => {
                words.push(Word::Close);
                rest = &rest[1..];
            }
            '"' => {
                let (value, used) = crate::labels::unquote(rest)
                    .map_err(|_| String::from("unterminated quoted string"))?;
                words.push(Word::Str(value));
                rest = &rest[used..];
            }
            '`' => {
                let end = rest[1..]
                    .find('`')
                    .ok_or_else(|| String::from("unterminated raw quoted string"))?;
                words.push(Word::Str(rest[1..1 + end].to_owned()));
                rest = &rest[end + 2..];
            }
            _ => {
                let end = rest
                    .find(|c: char| c.is_whitespace() || matches!(c, '|' | '(' | ')' | '"' | '`'))
                    .unwrap_or(rest.len());
                words.push(Word::Token(rest[..end].to_owned()));
                rest = &rest[end..];
            }
        }
    }
}

/// Deepest nesting of parentheses and `if` blocks in a template.
const MAX_TEMPLATE_NESTING: usize = 64;

struct WordParser {
    words: Vec<Word>,
    next: usize,
    depth: usize,
}

impl WordParser {
    fn pipeline(&mut self) -> Result<Pipeline, String> {
        self.depth += 1;
        if self.depth > MAX_TEMPLATE_NESTING {
            return Err(format!(
                "nested more than {MAX_TEMPLATE_NESTING} levels deep"
            ));
        }
        let result = self.pipeline_inner();
        self.depth -= 1;
        result
    }

    fn pipeline_inner(&mut self) -> Result<Pipeline, String> {
        let mut commands = vec![self.command()?];
        while self.words.get(self.next) == Some(&Word::Pipe) {
            self.next += 1;
            commands.push(self.command()?);
        }
        Ok(Pipeline(commands))
    }

    fn command(&mut self) -> Result<Command, String> {
        let mut operands = Vec::new();
        while let Some(word) = self.words.get(self.next).cloned() {
            let operand = match word {
                Word::Pipe | Word::Close => break,
                Word::Open => {
                    self.next += 1;
                    let inner = self.pipeline()?;
                    if self.words.get(self.next) != Some(&Word::Close) {
                        return Err(String::from("unclosed left paren"));
                    }
                    Operand::Nested(inner)
                }
                Word::Str(text) => Operand::Literal(Value::Str(text)),
                Word::Token(token) => operand_of(&token)?,
            };
            self.next += 1;
            operands.push(operand);
        }
        if operands.is_empty() {
            return Err(String::from("missing value for command"));
        }
        // A literal regex for regexReplaceAll* compiles once, here.
        if let [
            Operand::Function(name),
            Operand::Literal(Value::Str(pattern)),
            ..,
        ] = operands.as_slice()
            && name.starts_with("regexReplaceAll")
        {
            let regex = Regex::new(pattern).map_err(|error| format!("invalid regex: {error}"))?;
            operands[1] = Operand::Regex(regex, pattern.clone());
        }
        Ok(Command(operands))
    }
}

fn operand_of(token: &str) -> Result<Operand, String> {
    if token == "." {
        return Ok(Operand::Dot);
    }
    if let Some(field) = token.strip_prefix('.') {
        if field.is_empty() || !field.chars().all(|c| c.is_alphanumeric() || c == '_') {
            return Err(format!("bad field name {token:?}"));
        }
        return Ok(Operand::Field(field.to_owned()));
    }
    match token {
        "true" => return Ok(Operand::Literal(Value::Bool(true))),
        "false" => return Ok(Operand::Literal(Value::Bool(false))),
        "nil" => return Ok(Operand::Literal(Value::Nil)),
        _ => {}
    }
    if token.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+' || c == '.') {
        if let Ok(value) = token.parse::<i64>() {
            return Ok(Operand::Literal(Value::Int(value)));
        }
        if let Ok(value) = token.parse::<f64>() {
            return Ok(Operand::Literal(Value::Float(value)));
        }
        return Err(format!("bad number syntax: {token:?}"));
    }
    if token.starts_with('$') {
        return Err(format!("undefined variable {token:?}"));
    }
    if FUNCTIONS.contains(&token) {
        return Ok(Operand::Function(token.to_owned()));
    }
    Err(format!("function {token:?} not defined"))
}

fn parse_pipeline(body: &str) -> Result<Pipeline, String> {
    let mut parser = WordParser {
        words: words(body)?,
        next: 0,
        depth: 0,
    };
    let pipeline = parser.pipeline()?;
    if parser.next < parser.words.len() {
        return Err(format!(
            "unexpected {:?} in operand",
            parser.words[parser.next]
        ));
    }
    Ok(pipeline)
}

/// Builds the node tree; returns the nodes and the keyword that ended them.
fn nodes(
    items: &[Item],
    next: &mut usize,
    depth: usize,
) -> Result<(Vec<Node>, Option<String>), String> {
    if depth > MAX_TEMPLATE_NESTING {
        return Err(format!(
            "nested more than {MAX_TEMPLATE_NESTING} levels deep"
        ));
    }
    let mut list = Vec::new();
    while let Some(item) = items.get(*next) {
        *next += 1;
        match item {
            Item::Text(text) => list.push(Node::Text(text.clone())),
            Item::Action(body) => {
                let keyword = body.split_whitespace().next().unwrap_or("");
                match keyword {
                    "" => return Err(String::from("missing value for command")),
                    "end" | "else" => return Ok((list, Some(body.clone()))),
                    "if" => list.push(if_node(body["if".len()..].trim(), items, next, depth)?),
                    "range" | "with" | "define" | "template" | "block" | "break" | "continue" => {
                        return Err(format!(
                            "{keyword} is not supported in line_format/label_format"
                        ));
                    }
                    _ => list.push(Node::Action(parse_pipeline(body)?)),
                }
            }
        }
    }
    Ok((list, None))
}

fn if_node(
    condition: &str,
    items: &[Item],
    next: &mut usize,
    depth: usize,
) -> Result<Node, String> {
    if condition.is_empty() {
        return Err(String::from("missing value for if"));
    }
    let mut branches = vec![(parse_pipeline(condition)?, Vec::new())];
    loop {
        let (body, ended_by) = nodes(items, next, depth + 1)?;
        let Some(ended_by) = ended_by else {
            return Err(String::from("unexpected EOF"));
        };
        if let Some(last) = branches.last_mut() {
            last.1 = body;
        }
        if ended_by == "end" {
            return Ok(Node::If {
                branches,
                otherwise: Vec::new(),
            });
        }
        let after_else = ended_by["else".len()..].trim();
        if let Some(condition) = after_else.strip_prefix("if ") {
            branches.push((parse_pipeline(condition.trim())?, Vec::new()));
            continue;
        }
        if !after_else.is_empty() {
            return Err(format!("unexpected {after_else:?} after else"));
        }
        let (otherwise, ended_by) = nodes(items, next, depth + 1)?;
        if ended_by.as_deref() != Some("end") {
            return Err(String::from("expected end after else"));
        }
        return Ok(Node::If {
            branches,
            otherwise,
        });
    }
}

impl Template {
    /// Parses a template; the error reads as Go's (`template: line:1: function "x" not
    /// defined`).
    pub fn parse(source: &str) -> Result<Template, String> {
        let parsed = split(source).and_then(|items| {
            let mut next = 0;
            match nodes(&items, &mut next, 0)? {
                (nodes, None) => Ok(nodes),
                (_, Some(keyword)) => Err(format!("unexpected {{{{{keyword}}}}}")),
            }
        });
        match parsed {
            Ok(nodes) => Ok(Template {
                source: source.to_owned(),
                nodes,
            }),
            Err(error) => Err(format!("template: line:1: {error}")),
        }
    }

    /// The template as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Renders with `labels` (sorted by name) as the data, `line` for `__line__` and
    /// `timestamp_unix_nanos` for `__timestamp__`. The error is the execution error.
    pub fn render(
        &self,
        labels: &[(String, String)],
        line: &str,
        timestamp_unix_nanos: i64,
    ) -> Result<String, String> {
        let context = Context {
            labels,
            line,
            timestamp_unix_nanos,
        };
        let mut out = String::new();
        context
            .run(&self.nodes, &mut out)
            .map_err(|error| format!("template: line:1: executing \"line\": {error}"))?;
        Ok(out)
    }
}

// ---- execution ----------------------------------------------------------------------

struct Context<'c> {
    labels: &'c [(String, String)],
    line: &'c str,
    timestamp_unix_nanos: i64,
}

type Exec<T> = Result<T, String>;

impl Context<'_> {
    fn run(&self, nodes: &[Node], out: &mut String) -> Exec<()> {
        for node in nodes {
            match node {
                Node::Text(text) => out.push_str(text),
                Node::Action(pipeline) => self.pipeline(pipeline)?.render(out),
                Node::If {
                    branches,
                    otherwise,
                } => {
                    let mut taken = false;
                    for (condition, body) in branches {
                        if self.pipeline(condition)?.truthy() {
                            self.run(body, out)?;
                            taken = true;
                            break;
                        }
                    }
                    if !taken {
                        self.run(otherwise, out)?;
                    }
                }
            }
            if out.len() > MAX_OUTPUT_BYTES {
                return Err(format!("output longer than {MAX_OUTPUT_BYTES} bytes"));
            }
        }
        Ok(())
    }

    fn pipeline(&self, pipeline: &Pipeline) -> Exec<Value> {
        let mut previous: Option<Value> = None;
        for command in &pipeline.0 {
            previous = Some(self.command(command, previous.take())?);
        }
        Ok(previous.unwrap_or(Value::Nil))
    }

    fn operand(&self, operand: &Operand) -> Exec<Value> {
        Ok(match operand {
            Operand::Field(name) => Value::Str(
                self.labels
                    .binary_search_by(|(candidate, _)| candidate.as_str().cmp(name))
                    .map(|index| self.labels[index].1.clone())
                    .unwrap_or_default(),
            ),
            Operand::Dot => {
                let mut text = String::from("map[");
                for (index, (name, value)) in self.labels.iter().enumerate() {
                    if index > 0 {
                        text.push(' ');
                    }
                    let _ = write!(text, "{name}:{value}");
                }
                text.push(']');
                Value::Str(text)
            }
            Operand::Literal(value) => value.clone(),
            Operand::Regex(_, pattern) => Value::Str(pattern.clone()),
            Operand::Nested(pipeline) => self.pipeline(pipeline)?,
            Operand::Function(name) => self.call(name, &[], None)?,
        })
    }

    fn command(&self, command: &Command, piped: Option<Value>) -> Exec<Value> {
        let Some((first, rest)) = command.0.split_first() else {
            return Ok(Value::Nil);
        };
        match first {
            Operand::Function(name) => {
                let mut arguments = Vec::with_capacity(rest.len() + 1);
                let mut regex = None;
                for operand in rest {
                    if let Operand::Regex(compiled, _) = operand {
                        regex = Some(compiled);
                    }
                    arguments.push(self.operand(operand)?);
                }
                if let Some(piped) = piped {
                    arguments.push(piped);
                }
                self.call(name, &arguments, regex)
            }
            _ if rest.is_empty() && piped.is_none() => self.operand(first),
            _ => Err(String::from("can't give argument to non-function")),
        }
    }

    fn call(&self, name: &str, arguments: &[Value], regex: Option<&Regex>) -> Exec<Value> {
        // Every string a function returns is bounded, so nested calls cannot grow
        // without limit before an action's output is checked.
        call(name, arguments, regex, self.line, self.timestamp_unix_nanos)
            .and_then(|value| match &value {
                Value::Str(text) if text.len() > MAX_OUTPUT_BYTES => Err(too_long()),
                _ => Ok(value),
            })
            .map_err(|error| format!("error calling {name}: {error}"))
    }
}

fn want(arguments: &[Value], count: usize) -> Exec<()> {
    if arguments.len() == count {
        Ok(())
    } else {
        Err(format!(
            "wrong number of args: want {count} got {}",
            arguments.len()
        ))
    }
}

/// Sprig's `toInt64`: integers parse, floats truncate, bools are 0/1, the rest is 0.
fn to_int(value: &Value) -> i64 {
    match value {
        Value::Int(value) => *value,
        Value::Float(value) => *value as i64,
        Value::Bool(value) => i64::from(*value),
        // cast.ToInt64: an integer, "1.0"-style zero decimals trimmed; else 0.
        Value::Str(text) => {
            let trimmed = text.trim();
            let integer = match trimmed.split_once('.') {
                Some((whole, decimals)) if decimals.chars().all(|c| c == '0') => whole,
                _ => trimmed,
            };
            integer.parse::<i64>().unwrap_or(0)
        }
        Value::Time(nanos) => *nanos,
        Value::Nil => 0,
    }
}

/// Sprig's `toFloat64`: strings parse, failures are 0.
fn to_float(value: &Value) -> f64 {
    match value {
        Value::Int(value) => *value as f64,
        Value::Float(value) => *value,
        Value::Bool(value) => f64::from(u8::from(*value)),
        Value::Str(text) => text.trim().parse::<f64>().unwrap_or(0.0),
        Value::Time(nanos) => *nanos as f64,
        Value::Nil => 0.0,
    }
}

fn compare(left: &Value, right: &Value) -> Exec<std::cmp::Ordering> {
    use std::cmp::Ordering;
    let ordering = match (left, right) {
        (Value::Str(left), Value::Str(right)) => left.cmp(right),
        (Value::Int(left), Value::Int(right)) => left.cmp(right),
        (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => to_float(left)
            .partial_cmp(&to_float(right))
            .unwrap_or(Ordering::Equal),
        (Value::Bool(left), Value::Bool(right)) => left.cmp(right),
        _ => return Err(String::from("incompatible types for comparison")),
    };
    Ok(ordering)
}

fn call(
    name: &str,
    arguments: &[Value],
    regex: Option<&Regex>,
    line: &str,
    timestamp_unix_nanos: i64,
) -> Exec<Value> {
    use std::cmp::Ordering;
    let text = |index: usize| arguments[index].text();
    let string = |value: String| Ok(Value::Str(value));
    match name {
        "__line__" => string(line.to_owned()),
        "__timestamp__" => Ok(Value::Time(timestamp_unix_nanos)),
        "now" => Ok(Value::Time(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |elapsed| {
                    i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX)
                }),
        )),
        "ToLower" | "lower" => {
            want(arguments, 1)?;
            string(text(0).to_lowercase())
        }
        "ToUpper" | "upper" => {
            want(arguments, 1)?;
            string(text(0).to_uppercase())
        }
        "title" => {
            want(arguments, 1)?;
            let mut out = String::new();
            let mut previous_letter = false;
            for character in text(0).chars() {
                if !previous_letter && character.is_alphabetic() {
                    out.extend(character.to_uppercase());
                } else {
                    out.push(character);
                }
                previous_letter =
                    character.is_alphanumeric() || character == '_' || character == '\'';
            }
            string(out)
        }
        "Replace" => {
            want(arguments, 4)?;
            let count = to_int(&arguments[3]);
            let (source, old, new) = (text(0), text(1), text(2));
            bounded_replace(&source, &old, &new, usize::try_from(count).ok()).map(Value::Str)
        }
        "Trim" => {
            want(arguments, 2)?;
            let cutset: Vec<char> = text(1).chars().collect();
            string(text(0).trim_matches(cutset.as_slice()).to_owned())
        }
        "TrimLeft" => {
            want(arguments, 2)?;
            let cutset: Vec<char> = text(1).chars().collect();
            string(text(0).trim_start_matches(cutset.as_slice()).to_owned())
        }
        "TrimRight" => {
            want(arguments, 2)?;
            let cutset: Vec<char> = text(1).chars().collect();
            string(text(0).trim_end_matches(cutset.as_slice()).to_owned())
        }
        "trimAll" => {
            want(arguments, 2)?;
            let cutset: Vec<char> = text(0).chars().collect();
            string(text(1).trim_matches(cutset.as_slice()).to_owned())
        }
        "TrimSpace" => {
            want(arguments, 1)?;
            string(text(0).trim().to_owned())
        }
        "TrimPrefix" => {
            want(arguments, 2)?;
            let (source, prefix) = (text(0), text(1));
            string(
                source
                    .strip_prefix(prefix.as_str())
                    .unwrap_or(&source)
                    .to_owned(),
            )
        }
        "TrimSuffix" => {
            want(arguments, 2)?;
            let (source, suffix) = (text(0), text(1));
            string(
                source
                    .strip_suffix(suffix.as_str())
                    .unwrap_or(&source)
                    .to_owned(),
            )
        }
        "trunc" => {
            want(arguments, 2)?;
            let count = to_int(&arguments[0]);
            let source = text(1);
            let length = i64::try_from(source.len()).unwrap_or(i64::MAX);
            let cut = if count < 0 {
                if -count < length {
                    source[byte_floor(&source, usize::try_from(length + count).unwrap_or(0))..]
                        .to_owned()
                } else {
                    source
                }
            } else if count < length {
                source[..byte_floor(&source, usize::try_from(count).unwrap_or(0))].to_owned()
            } else {
                source
            };
            string(cut)
        }
        "substr" => {
            want(arguments, 3)?;
            let (start, end, source) = (to_int(&arguments[0]), to_int(&arguments[1]), text(2));
            let length = i64::try_from(source.len()).unwrap_or(i64::MAX);
            let start = if start < 0 { 0 } else { start.min(length) };
            let end = if end < 0 || end > length { length } else { end };
            if start > end {
                return string(String::new());
            }
            let start = byte_floor(&source, usize::try_from(start).unwrap_or(0));
            let end = byte_floor(&source, usize::try_from(end).unwrap_or(0));
            string(source[start..end.max(start)].to_owned())
        }
        "contains" => {
            want(arguments, 2)?;
            Ok(Value::Bool(text(1).contains(&text(0))))
        }
        "hasPrefix" => {
            want(arguments, 2)?;
            Ok(Value::Bool(text(1).starts_with(&text(0))))
        }
        "hasSuffix" => {
            want(arguments, 2)?;
            Ok(Value::Bool(text(1).ends_with(&text(0))))
        }
        "regexReplaceAll" | "regexReplaceAllLiteral" => {
            want(arguments, 3)?;
            let compiled;
            let regex = match regex {
                Some(regex) => regex,
                None => {
                    compiled = Regex::new(&text(0)).map_err(|error| error.to_string())?;
                    &compiled
                }
            };
            let (source, replacement) = (text(1), text(2));
            let literal = name == "regexReplaceAllLiteral";
            let mut out = String::new();
            let mut last = 0;
            for captures in regex.captures_iter(&source) {
                let Some(whole) = captures.get(0) else {
                    continue;
                };
                out.push_str(&source[last..whole.start()]);
                if literal {
                    out.push_str(&replacement);
                } else {
                    captures.expand(&replacement, &mut out);
                }
                last = whole.end();
                if out.len() > MAX_OUTPUT_BYTES {
                    return Err(too_long());
                }
            }
            out.push_str(&source[last..]);
            string(out)
        }
        "default" => {
            if arguments.len() < 2 {
                return Ok(arguments.first().cloned().unwrap_or(Value::Nil));
            }
            let given = &arguments[arguments.len() - 1];
            Ok(if given.truthy() {
                given.clone()
            } else {
                arguments[0].clone()
            })
        }
        "printf" => {
            if arguments.is_empty() {
                return Err(String::from("wrong number of args: want at least 1 got 0"));
            }
            string(printf(&text(0), &arguments[1..]))
        }
        "len" => {
            want(arguments, 1)?;
            Ok(Value::Int(i64::try_from(text(0).len()).unwrap_or(i64::MAX)))
        }
        "count" => {
            want(arguments, 2)?;
            let regex = Regex::new(&text(0)).map_err(|error| error.to_string())?;
            Ok(Value::Int(
                i64::try_from(regex.find_iter(&text(1)).count()).unwrap_or(i64::MAX),
            ))
        }
        "add" | "sub" | "mul" | "div" | "mod" | "max" | "min" => {
            if arguments.len() < 2 && !matches!(name, "add" | "mul" | "max" | "min") {
                want(arguments, 2)?;
            }
            let values: Vec<i64> = arguments.iter().map(to_int).collect();
            let first = values.first().copied().unwrap_or(0);
            let result = values
                .iter()
                .skip(1)
                .try_fold(first, |total, value| match name {
                    "add" => Ok(total.wrapping_add(*value)),
                    "sub" => Ok(total.wrapping_sub(*value)),
                    "mul" => Ok(total.wrapping_mul(*value)),
                    "max" => Ok(total.max(*value)),
                    "min" => Ok(total.min(*value)),
                    _ if *value == 0 => Err(String::from("runtime error: integer divide by zero")),
                    "div" => Ok(total.wrapping_div(*value)),
                    _ => Ok(total.wrapping_rem(*value)),
                })?;
            Ok(Value::Int(result))
        }
        "addf" | "subf" | "mulf" | "divf" | "maxf" | "minf" => {
            let values: Vec<f64> = arguments.iter().map(to_float).collect();
            let first = values.first().copied().unwrap_or(0.0);
            let result = values
                .iter()
                .skip(1)
                .fold(first, |total, value| match name {
                    "addf" => total + value,
                    "subf" => total - value,
                    "mulf" => total * value,
                    "maxf" => total.max(*value),
                    "minf" => total.min(*value),
                    _ => total / value,
                });
            Ok(Value::Float(result))
        }
        "replace" => {
            want(arguments, 3)?;
            bounded_replace(&text(2), &text(0), &text(1), None).map(Value::Str)
        }
        "trim" => {
            want(arguments, 1)?;
            string(text(0).trim().to_owned())
        }
        "trimPrefix" => {
            want(arguments, 2)?;
            let (prefix, source) = (text(0), text(1));
            string(
                source
                    .strip_prefix(prefix.as_str())
                    .unwrap_or(&source)
                    .to_owned(),
            )
        }
        "trimSuffix" => {
            want(arguments, 2)?;
            let (suffix, source) = (text(0), text(1));
            string(
                source
                    .strip_suffix(suffix.as_str())
                    .unwrap_or(&source)
                    .to_owned(),
            )
        }
        "bytes" => {
            want(arguments, 1)?;
            let raw = text(0);
            super::units::parse_bytes(&raw)
                .map(|bytes| Value::Float(bytes as f64))
                .ok_or_else(|| {
                    format!(
                        "strconv.ParseFloat: parsing {}: invalid syntax",
                        go_quote(&raw)
                    )
                })
        }
        "duration" | "duration_seconds" => {
            want(arguments, 1)?;
            let raw = text(0);
            super::units::parse_go_duration(&raw)
                .map(|nanos| Value::Float(nanos as f64 / 1e9))
                .ok_or_else(|| format!("time: invalid duration {}", go_quote(&raw)))
        }
        "print" => {
            // fmt.Sprint: a space between operands when neither is a string.
            let mut out = String::new();
            for (index, argument) in arguments.iter().enumerate() {
                let is_string = matches!(argument, Value::Str(_));
                if index > 0 && !is_string && !matches!(arguments[index - 1], Value::Str(_)) {
                    out.push(' ');
                }
                argument.render(&mut out);
            }
            string(out)
        }
        "int" => {
            want(arguments, 1)?;
            Ok(Value::Int(to_int(&arguments[0])))
        }
        "float64" => {
            want(arguments, 1)?;
            Ok(Value::Float(to_float(&arguments[0])))
        }
        "round" => {
            if arguments.len() < 2 {
                want(arguments, 2)?;
            }
            let precision = to_int(&arguments[1]).clamp(-300, 300) as i32;
            let round_on = arguments.get(2).map_or(0.5, to_float);
            let scale = 10f64.powi(precision);
            let digit = to_float(&arguments[0]) * scale;
            // Sprig: up when the fractional part reaches round_on, else down.
            let rounded = if digit.fract() >= round_on {
                digit.ceil()
            } else {
                digit.floor()
            };
            Ok(Value::Float(rounded / scale))
        }
        "ceil" => {
            want(arguments, 1)?;
            Ok(Value::Float(to_float(&arguments[0]).ceil()))
        }
        "floor" => {
            want(arguments, 1)?;
            Ok(Value::Float(to_float(&arguments[0]).floor()))
        }
        "repeat" => {
            want(arguments, 2)?;
            let count = usize::try_from(to_int(&arguments[0])).unwrap_or(0);
            let source = text(1);
            if source.len().saturating_mul(count) > MAX_OUTPUT_BYTES {
                return Err(format!("output longer than {MAX_OUTPUT_BYTES} bytes"));
            }
            string(source.repeat(count))
        }
        "indent" | "nindent" => {
            want(arguments, 2)?;
            let pad = " ".repeat(
                usize::try_from(to_int(&arguments[0]))
                    .unwrap_or(0)
                    .min(1024),
            );
            let source = text(1);
            let lines = source.matches('\n').count() + 1;
            if source.len() + lines.saturating_mul(pad.len()) > MAX_OUTPUT_BYTES {
                return Err(too_long());
            }
            let indented = source
                .split('\n')
                .map(|line| format!("{pad}{line}"))
                .collect::<Vec<_>>()
                .join("\n");
            string(if name == "nindent" {
                format!("\n{indented}")
            } else {
                indented
            })
        }
        "alignLeft" | "alignRight" => {
            want(arguments, 2)?;
            let width = usize::try_from(to_int(&arguments[0]))
                .unwrap_or(0)
                .min(MAX_OUTPUT_BYTES);
            let source = text(1);
            let characters = source.chars().count();
            if characters >= width {
                return string(source.chars().take(width).collect());
            }
            let pad = " ".repeat(width - characters);
            string(if name == "alignLeft" {
                source + &pad
            } else {
                pad + &source
            })
        }
        "urlencode" => {
            want(arguments, 1)?;
            string(url_encode(&text(0)))
        }
        "urldecode" => {
            want(arguments, 1)?;
            url_decode(&text(0)).map(Value::Str)
        }
        "b64enc" => {
            want(arguments, 1)?;
            string(base64_encode(text(0).as_bytes()))
        }
        "b64dec" => {
            want(arguments, 1)?;
            string(base64_decode(&text(0)).unwrap_or_else(|| String::from("illegal base64 data")))
        }
        "eq" => {
            if arguments.len() < 2 {
                return Err(String::from("missing argument for comparison"));
            }
            for other in &arguments[1..] {
                if compare(&arguments[0], other)? == Ordering::Equal {
                    return Ok(Value::Bool(true));
                }
            }
            Ok(Value::Bool(false))
        }
        "ne" | "lt" | "le" | "gt" | "ge" => {
            want(arguments, 2)?;
            let ordering = compare(&arguments[0], &arguments[1])?;
            Ok(Value::Bool(match name {
                "ne" => ordering != Ordering::Equal,
                "lt" => ordering == Ordering::Less,
                "le" => ordering != Ordering::Greater,
                "gt" => ordering == Ordering::Greater,
                _ => ordering != Ordering::Less,
            }))
        }
        "and" => {
            if arguments.is_empty() {
                return Err(String::from("wrong number of args: want at least 1 got 0"));
            }
            Ok(arguments
                .iter()
                .find(|value| !value.truthy())
                .unwrap_or(&arguments[arguments.len() - 1])
                .clone())
        }
        "or" => {
            if arguments.is_empty() {
                return Err(String::from("wrong number of args: want at least 1 got 0"));
            }
            Ok(arguments
                .iter()
                .find(|value| value.truthy())
                .unwrap_or(&arguments[arguments.len() - 1])
                .clone())
        }
        "not" => {
            want(arguments, 1)?;
            Ok(Value::Bool(!arguments[0].truthy()))
        }
        "unixEpoch" | "unixEpochMillis" | "unixEpochNanos" => {
            want(arguments, 1)?;
            let Value::Time(nanos) = arguments[0] else {
                return Err(String::from(
                    "expected a time (__timestamp__, unixToTime, toDateInZone)",
                ));
            };
            let value = match name {
                "unixEpoch" => nanos.div_euclid(1_000_000_000),
                "unixEpochMillis" => nanos.div_euclid(1_000_000),
                _ => nanos,
            };
            string(value.to_string())
        }
        "unixToTime" => {
            want(arguments, 1)?;
            let raw = text(0);
            let digits = raw.trim();
            let value: i64 = digits
                .parse()
                .map_err(|_| format!("unable to parse {} as a unix time", go_quote(digits)))?;
            // Loki reads the unit from the number of digits: s, ms, µs or ns.
            let nanos = match digits.trim_start_matches('-').len() {
                0..=10 => value.saturating_mul(1_000_000_000),
                11..=13 => value.saturating_mul(1_000_000),
                14..=16 => value.saturating_mul(1_000),
                _ => value,
            };
            Ok(Value::Time(nanos))
        }
        "date" => {
            want(arguments, 2)?;
            let Value::Time(nanos) = arguments[1] else {
                return Err(String::from(
                    "expected a time (__timestamp__, unixToTime, toDateInZone)",
                ));
            };
            string(format_time(nanos, &text(0)))
        }
        "toDate" => {
            want(arguments, 2)?;
            parse_time(&text(0), &text(1))
                .map(Value::Time)
                .ok_or_else(|| {
                    format!(
                        "cannot parse {} as {}",
                        go_quote(&text(1)),
                        go_quote(&text(0))
                    )
                })
        }
        "toDateInZone" => {
            want(arguments, 3)?;
            let zone = text(1);
            if !matches!(zone.as_str(), "UTC" | "" | "Etc/UTC") {
                return Err(format!(
                    "only the UTC zone is supported, not {}",
                    go_quote(&zone)
                ));
            }
            parse_time(&text(0), &text(2))
                .map(Value::Time)
                .ok_or_else(|| {
                    format!(
                        "cannot parse {} as {}",
                        go_quote(&text(2)),
                        go_quote(&text(0))
                    )
                })
        }
        _ => Err(format!("function {name:?} not defined")),
    }
}

fn too_long() -> String {
    format!("output longer than {MAX_OUTPUT_BYTES} bytes")
}

/// Go's `strings.Replace` (`limit` replacements, all when `None`; an empty `old`
/// matches at every character boundary), failing once the output passes
/// [`MAX_OUTPUT_BYTES`].
fn bounded_replace(source: &str, old: &str, new: &str, limit: Option<usize>) -> Exec<String> {
    let mut out = String::new();
    let mut last = 0;
    for (count, (at, matched)) in source.match_indices(old).enumerate() {
        if limit.is_some_and(|limit| count >= limit) {
            break;
        }
        out.push_str(&source[last..at]);
        out.push_str(new);
        last = at + matched.len();
        if out.len() > MAX_OUTPUT_BYTES {
            return Err(too_long());
        }
    }
    out.push_str(&source[last..]);
    Ok(out)
}

/// The largest char boundary at or below `index`.
fn byte_floor(text: &str, index: usize) -> usize {
    let mut index = index.min(text.len());
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

/// Go's `fmt.Sprintf` for the verbs templates use: `%s %v %d %f %e %g %q %x %X %t %%`
/// with flags `-`, `0`, `+`, width and precision.
fn printf(format: &str, arguments: &[Value]) -> String {
    let mut out = String::new();
    let mut characters = format.chars().peekable();
    let mut next_argument = 0;
    while let Some(character) = characters.next() {
        if character != '%' {
            out.push(character);
            continue;
        }
        let (mut left, mut zero, mut plus) = (false, false, false);
        while let Some(&flag) = characters.peek() {
            match flag {
                '-' => left = true,
                '0' => zero = true,
                '+' => plus = true,
                ' ' | '#' => {}
                _ => break,
            }
            characters.next();
        }
        let mut width = String::new();
        while let Some(&digit) = characters.peek().filter(|c| c.is_ascii_digit()) {
            width.push(digit);
            characters.next();
        }
        let mut precision: Option<usize> = None;
        if characters.peek() == Some(&'.') {
            characters.next();
            let mut digits = String::new();
            while let Some(&digit) = characters.peek().filter(|c| c.is_ascii_digit()) {
                digits.push(digit);
                characters.next();
            }
            // Go refuses precisions over 1e6 (%!(BADPREC)); so does this, bounding output.
            precision = Some(digits.parse::<usize>().unwrap_or(usize::MAX));
        }
        let Some(verb) = characters.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if precision.is_some_and(|precision| precision > 1_000_000) {
            out.push_str("%!(BADPREC)");
            continue;
        }
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(argument) = arguments.get(next_argument) else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        next_argument += 1;
        let mut formatted = match verb {
            's' | 'v' => {
                let text = argument.text();
                match precision {
                    Some(precision) if verb == 's' => text.chars().take(precision).collect(),
                    _ => text,
                }
            }
            'd' => match argument {
                Value::Int(_) | Value::Bool(_) | Value::Float(_) | Value::Time(_) => {
                    let value = to_int(argument);
                    if plus && value >= 0 {
                        format!("+{value}")
                    } else {
                        value.to_string()
                    }
                }
                other => format!("%!d(string={})", other.text()),
            },
            'f' | 'F' | 'e' | 'g' => {
                let value = match argument {
                    Value::Str(text) => match text.parse::<f64>() {
                        Ok(value) => value,
                        Err(_) => {
                            let _ = write!(out, "%!{verb}(string={text})");
                            continue;
                        }
                    },
                    other => to_float(other),
                };
                let text = match verb {
                    'e' => format!("{:.*e}", precision.unwrap_or(6), value),
                    'g' => go_float(value),
                    _ => format!("{:.*}", precision.unwrap_or(6), value),
                };
                if plus && value >= 0.0 {
                    format!("+{text}")
                } else {
                    text
                }
            }
            'q' => go_quote(&argument.text()),
            'x' | 'X' => {
                let text = match argument {
                    Value::Int(value) => format!("{value:x}"),
                    other => other
                        .text()
                        .bytes()
                        .map(|byte| format!("{byte:02x}"))
                        .collect(),
                };
                if verb == 'X' {
                    text.to_uppercase()
                } else {
                    text
                }
            }
            't' => argument.text(),
            other => format!("%!{other}({})", argument.text()),
        };
        let width: usize = width.parse().unwrap_or(0).min(MAX_OUTPUT_BYTES);
        let length = formatted.chars().count();
        if length < width {
            let pad = width - length;
            if left {
                formatted.push_str(&" ".repeat(pad));
            } else if zero && matches!(verb, 'd' | 'f' | 'F' | 'e' | 'g') {
                let (sign, digits) = match formatted.strip_prefix(['-', '+']) {
                    Some(digits) => (&formatted[..1], digits),
                    None => ("", formatted.as_str()),
                };
                formatted = format!("{sign}{}{digits}", "0".repeat(pad));
            } else {
                formatted = format!("{}{formatted}", " ".repeat(pad));
            }
        }
        out.push_str(&formatted);
    }
    if next_argument < arguments.len() {
        out.push_str("%!(EXTRA ");
        let extra: Vec<String> = arguments[next_argument..]
            .iter()
            .map(|argument| match argument {
                Value::Str(text) => format!("string={text}"),
                Value::Int(value) => format!("int={value}"),
                other => other.text(),
            })
            .collect();
        out.push_str(&extra.join(", "));
        out.push(')');
    }
    out
}

fn url_encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{byte:02X}");
            }
        }
    }
    out
}

fn url_decode(text: &str) -> Exec<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = text
                    .get(index + 1..index + 3)
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                    .ok_or_else(|| {
                        format!(
                            "invalid URL escape {}",
                            go_quote(text.get(index..).unwrap_or(""))
                        )
                    })?;
                out.push(hex);
                index += 2;
            }
            byte => out.push(byte),
        }
        index += 1;
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let value = (u32::from(chunk[0]) << 16)
            | (u32::from(chunk.get(1).copied().unwrap_or(0)) << 8)
            | u32::from(chunk.get(2).copied().unwrap_or(0));
        for position in 0..4 {
            if position <= chunk.len() {
                out.push(BASE64[((value >> (18 - 6 * position)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(text: &str) -> Option<String> {
    let mut bits: u32 = 0;
    let mut count = 0;
    let mut out = Vec::new();
    for byte in text.trim_end_matches('=').bytes() {
        let value = BASE64.iter().position(|candidate| *candidate == byte)? as u32;
        bits = (bits << 6) | value;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push(((bits >> count) & 0xff) as u8);
        }
    }
    String::from_utf8(out).ok()
}

/// Go's `time.Time.String()` layout.
const GO_TIME_STRING: &str = "2006-01-02 15:04:05.999999999 -0700 MST";

const WEEKDAYS: [&str; 7] = [
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
];

/// Formats Unix nanoseconds (UTC) with a Go reference layout (`2006-01-02T15:04:05Z07:00`).
fn format_time(nanos: i64, layout: &str) -> String {
    let seconds = nanos.div_euclid(1_000_000_000);
    let fraction = nanos.rem_euclid(1_000_000_000);
    let days = seconds.div_euclid(86_400);
    let of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let (hour, minute, second) = (of_day / 3600, of_day % 3600 / 60, of_day % 60);
    let weekday = WEEKDAYS[days.rem_euclid(7) as usize];
    let month_name = MONTHS[(month - 1) as usize];
    let mut out = String::new();
    let mut rest = layout;
    while !rest.is_empty() {
        let tokens: [(&str, String); 24] = [
            ("2006", format!("{year:04}")),
            ("January", month_name.to_owned()),
            ("Jan", month_name[..3].to_owned()),
            ("Monday", weekday.to_owned()),
            ("Mon", weekday[..3].to_owned()),
            ("MST", String::from("UTC")),
            ("01", format!("{month:02}")),
            ("02", format!("{day:02}")),
            ("_2", format!("{day:>2}")),
            ("15", format!("{hour:02}")),
            (
                "03",
                format!("{:02}", if hour % 12 == 0 { 12 } else { hour % 12 }),
            ),
            ("04", format!("{minute:02}")),
            ("05", format!("{second:02}")),
            ("06", format!("{:02}", year.rem_euclid(100))),
            ("PM", String::from(if hour >= 12 { "PM" } else { "AM" })),
            ("Z07:00", String::from("Z")),
            ("-07:00", String::from("+00:00")),
            ("-0700", String::from("+0000")),
            (".000000000", format!(".{fraction:09}")),
            (".000000", format!(".{:06}", fraction / 1000)),
            (".000", format!(".{:03}", fraction / 1_000_000)),
            (".999999999", trimmed_fraction(fraction)),
            ("1", month.to_string()),
            ("2", day.to_string()),
        ];
        if let Some((token, value)) = tokens.iter().find(|(token, _)| rest.starts_with(token)) {
            out.push_str(value);
            rest = &rest[token.len()..];
        } else if let Some(character) = rest.chars().next() {
            out.push(character);
            rest = &rest[character.len_utf8()..];
        }
    }
    out
}

fn trimmed_fraction(fraction: i64) -> String {
    if fraction == 0 {
        return String::new();
    }
    let digits = format!("{fraction:09}");
    format!(".{}", digits.trim_end_matches('0'))
}

/// Parses `text` with a Go layout (numeric fields only: year, month, day, hour,
/// minute, second, fractions) as UTC, in Unix nanoseconds.
fn parse_time(layout: &str, text: &str) -> Option<i64> {
    let (mut year, mut month, mut day, mut hour, mut minute, mut second, mut nanos) =
        (1970i64, 1u32, 1u32, 0i64, 0i64, 0i64, 0i64);
    let mut layout_rest = layout;
    let mut text_rest = text;
    let take = |text: &mut &str, count: usize| -> Option<i64> {
        let digits = text.get(..count)?;
        let value = digits.parse().ok()?;
        *text = &text[count..];
        Some(value)
    };
    while !layout_rest.is_empty() {
        if let Some(after) = layout_rest.strip_prefix("2006") {
            year = take(&mut text_rest, 4)?;
            layout_rest = after;
        } else if let Some(after) = layout_rest.strip_prefix("01") {
            month = u32::try_from(take(&mut text_rest, 2)?).ok()?;
            layout_rest = after;
        } else if let Some(after) = layout_rest.strip_prefix("02") {
            day = u32::try_from(take(&mut text_rest, 2)?).ok()?;
            layout_rest = after;
        } else if let Some(after) = layout_rest.strip_prefix("15") {
            hour = take(&mut text_rest, 2)?;
            layout_rest = after;
        } else if let Some(after) = layout_rest.strip_prefix("04") {
            minute = take(&mut text_rest, 2)?;
            layout_rest = after;
        } else if let Some(after) = layout_rest.strip_prefix("05") {
            second = take(&mut text_rest, 2)?;
            layout_rest = after;
            // Go accepts a fraction after the seconds even when the layout has none.
            if let Some(fraction) = text_rest.strip_prefix('.') {
                let digits = fraction.len()
                    - fraction
                        .trim_start_matches(|c: char| c.is_ascii_digit())
                        .len();
                let padded = format!("{:0<9}", &fraction[..digits.min(9)]);
                nanos = padded.parse().ok()?;
                text_rest = &fraction[digits..];
                let layout_digits = after.strip_prefix('.').map_or(0, |rest| {
                    rest.len() - rest.trim_start_matches(['0', '9']).len()
                });
                layout_rest = if layout_digits > 0 {
                    &after[1 + layout_digits..]
                } else {
                    after
                };
            }
        } else if let Some(after) = layout_rest.strip_prefix("Z07:00") {
            text_rest = text_rest.strip_prefix('Z')?;
            layout_rest = after;
        } else {
            let character = layout_rest.chars().next()?;
            text_rest = text_rest.strip_prefix(character)?;
            layout_rest = &layout_rest[character.len_utf8()..];
        }
    }
    if !text_rest.is_empty() || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    days.checked_mul(86_400)?
        .checked_add(hour * 3600 + minute * 60 + second)?
        .checked_mul(1_000_000_000)?
        .checked_add(nanos)
}
