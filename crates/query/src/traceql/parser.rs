//! Recursive-descent parsing with Tempo's operator precedence.
//!
//! Tempo's grammar (an LALR yacc grammar) gives spanset, scalar and metrics expressions
//! the same operators. This parser first reads the query into an untyped [`Node`] tree
//! with those precedences, then `classify` sorts the tree into spanset pipelines,
//! scalar filters and metrics the way the grammar's rules allow, with errors at the
//! token where the grammar would have stopped.

use super::ast::{Aggregate, AggregateOp, Attribute, FieldExpr, MetricsFunction};
use super::lexer::{METRICS_FUNCTIONS, Tok, Token};
use super::value::Value;
use super::{ErrorKind, ParseError};

/// Deepest nesting of parentheses and unary operators accepted; deeper queries get an
/// error instead of exhausting the stack.
pub const MAX_NESTING_DEPTH: usize = 64;

/// Most binary operators one query may hold. Operator chains nest without parentheses
/// (`a && b && c ...` is a left-deep tree), so this bounds tree height and keeps the
/// recursive passes over the tree (validation, printing, evaluation) shallow.
pub const MAX_OPERATORS: usize = 1_000;

/// An untyped node of the outer (pipeline) level; token indices locate errors.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub kind: NodeKind,
    /// Index of the node's first token.
    pub start: usize,
    /// Index of the token after the node.
    pub end: usize,
}

#[derive(Debug, Clone)]
pub(crate) enum NodeKind {
    Filter(FieldExpr),
    Aggregate(Aggregate),
    /// An integer, float or duration literal.
    Number(Value<'static>),
    Neg(Box<Node>),
    Paren(Box<Node>),
    GroupBy(FieldExpr),
    Select(Vec<Attribute>),
    Coalesce,
    /// A metrics first-stage function such as `rate() by (x)`, as normalised text and
    /// as its parts.
    MetricsAggregate(String, MetricsFunction),
    /// `topk(n)` / `bottomk(n)`, as normalised text.
    SecondStage(String),
    Binary {
        op: &'static str,
        op_token: usize,
        lhs: Box<Node>,
        rhs: Box<Node>,
    },
}

pub(crate) struct Parser {
    pub tokens: Vec<Token>,
    pub pos: usize,
    pub(super) depth: usize,
    operators: usize,
}

/// A spanset filter, or spanset operators over filters: after it and a spanset operator
/// only `{` or `(` can follow.
fn is_spanset_operand(node: &Node) -> bool {
    match &node.kind {
        NodeKind::Filter(_) => true,
        NodeKind::Paren(inner) => is_spanset_operand(inner),
        NodeKind::Binary { op, lhs, rhs, .. } => {
            super::ast::SpansetOp::from_token(op).is_some()
                && is_spanset_operand(lhs)
                && is_spanset_operand(rhs)
        }
        _ => false,
    }
}

fn outer_precedence(op: &str) -> Option<(u8, bool)> {
    Some(match op {
        "|" => (1, false),
        "&&" | "||" => (2, false),
        "=" | "!=" | "<" | "<=" | ">" | ">=" | "=~" | "!~" | ">>" | "<<" | "~" | "!>" | "!<"
        | "!>>" | "!<<" | "&>" | "&<" | "&>>" | "&<<" | "&~" => (3, false),
        "+" | "-" => (5, false),
        "*" | "/" | "%" => (7, false),
        "^" => (8, true),
        _ => return None,
    })
}

impl Parser {
    pub(crate) fn new(tokens: Vec<Token>) -> Self {
        Parser {
            tokens,
            pos: 0,
            depth: 0,
            operators: 0,
        }
    }

    pub(crate) fn peek(&self) -> &Token {
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    pub(super) fn peek_keyword(&self) -> Option<&'static str> {
        match self.peek().tok {
            Tok::Keyword(k) => Some(k),
            _ => None,
        }
    }

    pub(super) fn advance(&mut self) -> Token {
        let token = self.peek().clone();
        if self.pos < self.tokens.len() - 1 {
            self.pos += 1;
        }
        token
    }

    pub(super) fn unexpected(&self, expecting: &[&str]) -> ParseError {
        self.peek().syntax_error(expecting)
    }

    pub(super) fn expect(&mut self, keyword: &str, expecting: &[&str]) -> Result<(), ParseError> {
        if self.peek().is(keyword) {
            self.advance();
            Ok(())
        } else {
            Err(self.unexpected(expecting))
        }
    }

    pub(super) fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_NESTING_DEPTH {
            let token = self.peek();
            return Err(ParseError::new(
                ErrorKind::Limit,
                token.line,
                token.column,
                format!("query nests deeper than {MAX_NESTING_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    /// Counts one binary operator against [`MAX_OPERATORS`].
    pub(super) fn count_operator(&mut self) -> Result<(), ParseError> {
        self.operators += 1;
        if self.operators > MAX_OPERATORS {
            let token = self.peek();
            return Err(ParseError::new(
                ErrorKind::Limit,
                token.line,
                token.column,
                format!("query has more than {MAX_OPERATORS} operators"),
            ));
        }
        Ok(())
    }

    pub(super) fn leave(&mut self) {
        self.depth -= 1;
    }

    // ---------------------------------------------------------------- outer level

    pub(crate) fn parse_outer(&mut self, min_precedence: u8) -> Result<Node, ParseError> {
        self.enter()?;
        let mut lhs = self.parse_outer_prefix()?;
        while let Some(op) = self.peek_keyword() {
            let Some((precedence, right_assoc)) = outer_precedence(op) else {
                break;
            };
            if precedence < min_precedence {
                break;
            }
            let op_token = self.pos;
            self.count_operator()?;
            self.advance();
            if !self.starts_outer_operand()
                && is_spanset_operand(&lhs)
                && super::ast::SpansetOp::from_token(op).is_some()
            {
                return Err(self.unexpected(&["{", "("]));
            }
            let next_min = if right_assoc {
                precedence
            } else {
                precedence + 1
            };
            let rhs = self.parse_outer(next_min)?;
            let start = lhs.start;
            lhs = Node {
                start,
                end: self.pos,
                kind: NodeKind::Binary {
                    op,
                    op_token,
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                },
            };
        }
        self.leave();
        Ok(lhs)
    }

    fn starts_outer_operand(&self) -> bool {
        match &self.peek().tok {
            Tok::Integer(_) | Tok::Float(_) | Tok::Duration(_) => true,
            Tok::Keyword(k) => {
                matches!(
                    *k,
                    "{" | "("
                        | "-"
                        | "count"
                        | "avg"
                        | "min"
                        | "max"
                        | "sum"
                        | "by"
                        | "select"
                        | "coalesce"
                        | "topk"
                        | "bottomk"
                ) || METRICS_FUNCTIONS.contains(k)
            }
            _ => false,
        }
    }

    fn parse_outer_prefix(&mut self) -> Result<Node, ParseError> {
        let start = self.pos;
        let token = self.peek().clone();
        let kind = match &token.tok {
            Tok::Integer(i) => {
                self.advance();
                NodeKind::Number(Value::Int(*i))
            }
            Tok::Float(f) => {
                self.advance();
                NodeKind::Number(Value::Float(*f))
            }
            Tok::Duration(d) => {
                self.advance();
                NodeKind::Number(Value::Duration(*d))
            }
            Tok::Keyword(k) => match *k {
                "{" => {
                    self.advance();
                    if self.peek().is("}") {
                        self.advance();
                        NodeKind::Filter(FieldExpr::Static(Value::Bool(true)))
                    } else {
                        let expr = self.parse_field(0)?;
                        self.expect("}", &[])?;
                        NodeKind::Filter(expr)
                    }
                }
                "(" => {
                    self.advance();
                    let inner = self.parse_outer(0)?;
                    self.expect(")", &[])?;
                    NodeKind::Paren(Box::new(inner))
                }
                "-" => {
                    self.advance();
                    self.enter()?;
                    let operand = self.parse_outer_prefix()?;
                    self.leave();
                    NodeKind::Neg(Box::new(operand))
                }
                "count" => {
                    self.advance();
                    self.expect("(", &["("])?;
                    self.expect(")", &[")"])?;
                    NodeKind::Aggregate(Aggregate {
                        op: AggregateOp::Count,
                        expr: None,
                    })
                }
                "avg" | "min" | "max" | "sum" => {
                    self.advance();
                    let op = match *k {
                        "avg" => AggregateOp::Avg,
                        "min" => AggregateOp::Min,
                        "max" => AggregateOp::Max,
                        _ => AggregateOp::Sum,
                    };
                    self.expect("(", &["("])?;
                    let expr = self.parse_field(0)?;
                    self.expect(")", &[])?;
                    NodeKind::Aggregate(Aggregate {
                        op,
                        expr: Some(expr),
                    })
                }
                "by" => {
                    self.advance();
                    self.expect("(", &["("])?;
                    let expr = self.parse_field(0)?;
                    self.expect(")", &[])?;
                    NodeKind::GroupBy(expr)
                }
                "select" => {
                    self.advance();
                    self.expect("(", &["("])?;
                    let attributes = self.attribute_list()?;
                    self.expect(")", &[])?;
                    NodeKind::Select(attributes)
                }
                "coalesce" => {
                    self.advance();
                    self.expect("(", &["("])?;
                    self.expect(")", &[")"])?;
                    NodeKind::Coalesce
                }
                "topk" | "bottomk" => {
                    self.advance();
                    self.expect("(", &["("])?;
                    let limit = match self.peek().tok {
                        Tok::Integer(limit) => limit,
                        _ => return Err(self.unexpected(&["INTEGER"])),
                    };
                    self.advance();
                    self.expect(")", &[")"])?;
                    NodeKind::SecondStage(format!("{k}({limit})"))
                }
                k if METRICS_FUNCTIONS.contains(&k) => {
                    let (text, function) = self.metrics_aggregate()?;
                    NodeKind::MetricsAggregate(text, function)
                }
                _ => return Err(self.unexpected(&[])),
            },
            _ => return Err(self.unexpected(&[])),
        };
        Ok(Node {
            kind,
            start,
            end: self.pos,
        })
    }

    /// A metrics first-stage function, returned as Tempo-like text and as its parts.
    fn metrics_aggregate(&mut self) -> Result<(String, MetricsFunction), ParseError> {
        let name = self.peek_keyword().unwrap_or_default();
        let mut function = MetricsFunction {
            name: name.to_string(),
            attribute: None,
            quantiles: Vec::new(),
            by: Vec::new(),
        };
        self.advance();
        self.expect("(", &["("])?;
        let mut text = format!("{name}(");
        match name {
            "rate" | "count_over_time" => {}
            "compare" => {
                self.expect("{", &["{"])?;
                let filter = if self.peek().is("}") {
                    FieldExpr::Static(Value::Bool(true))
                } else {
                    self.parse_field(0)?
                };
                self.expect("}", &[])?;
                text.push_str(&format!("{{ {filter} }}"));
                let mut numbers = 0;
                while self.peek().is(",") {
                    self.advance();
                    match self.peek().tok {
                        Tok::Integer(i) => text.push_str(&format!(",{i}")),
                        _ => return Err(self.unexpected(&["INTEGER"])),
                    }
                    self.advance();
                    numbers += 1;
                }
                if numbers == 2 || numbers > 3 {
                    return Err(self.unexpected(&[]));
                }
            }
            _ => {
                let attribute = self.attribute()?;
                text.push_str(&attribute.to_string());
                function.attribute = Some(attribute);
                if name == "quantile_over_time" {
                    loop {
                        self.expect(",", &[","])?;
                        let value = match self.peek().tok {
                            Tok::Integer(i) => i as f64,
                            Tok::Float(f) => f,
                            _ => return Err(self.unexpected(&["INTEGER", "FLOAT"])),
                        };
                        self.advance();
                        function.quantiles.push(value);
                        text.push_str(&format!(",{value:.5}"));
                        if !self.peek().is(",") {
                            break;
                        }
                    }
                }
            }
        }
        self.expect(")", &[")"])?;
        text.push(')');
        if self.peek().is("by") && name != "compare" {
            self.advance();
            self.expect("(", &["("])?;
            let attributes = self.attribute_list()?;
            self.expect(")", &[])?;
            let names: Vec<String> = attributes.iter().map(ToString::to_string).collect();
            text.push_str(&format!("by({})", names.join(",")));
            function.by = attributes;
        }
        Ok((text, function))
    }

    /// `with(name=value, ...)`, repeatable.
    pub(crate) fn hints(&mut self) -> Result<Vec<(String, Value<'static>)>, ParseError> {
        let mut hints = Vec::new();
        while self.peek().is("with") {
            // A later `with(...)` replaces an earlier one, as in Tempo.
            hints.clear();
            self.advance();
            self.expect("(", &["("])?;
            loop {
                let name = match &self.peek().tok {
                    Tok::Identifier(name) => name.clone(),
                    _ => return Err(self.unexpected(&["IDENTIFIER"])),
                };
                self.advance();
                self.expect("=", &["="])?;
                let value = self.static_value()?;
                hints.push((name, value));
                if self.peek().is(",") {
                    self.advance();
                    continue;
                }
                self.expect(")", &[", or )"])?;
                break;
            }
        }
        Ok(hints)
    }
}
