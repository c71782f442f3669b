//! The parsed query and its normalised text (Tempo's `String()` forms).

use std::fmt::{self, Display, Formatter};

pub(crate) use super::attribute::{Attribute, Intrinsic, Scope};
use super::value::Value;

/// Operators inside field expressions and scalar filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Eq,
    Neq,
    Regex,
    NotRegex,
    Gt,
    Gte,
    Lt,
    Lte,
    And,
    Or,
    Not,
    Exists,
    NotExists,
}

impl Op {
    pub(crate) fn is_boolean(self) -> bool {
        !matches!(
            self,
            Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Mod | Op::Pow
        )
    }

    /// The operator with its operands swapped (`<` for `>`).
    pub(crate) fn flipped(self) -> Op {
        match self {
            Op::Gt => Op::Lt,
            Op::Gte => Op::Lte,
            Op::Lt => Op::Gt,
            Op::Lte => Op::Gte,
            other => other,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Op::Add => "+",
            Op::Sub => "-",
            Op::Mul => "*",
            Op::Div => "/",
            Op::Mod => "%",
            Op::Pow => "^",
            Op::Eq => "=",
            Op::Neq => "!=",
            Op::Regex => "=~",
            Op::NotRegex => "!~",
            Op::Gt => ">",
            Op::Gte => ">=",
            Op::Lt => "<",
            Op::Lte => "<=",
            Op::And => "&&",
            Op::Or => "||",
            Op::Not => "!",
            Op::Exists => "!= nil",
            Op::NotExists => "= nil",
        }
    }
}

/// An expression inside `{ }`, `by()` or an aggregate.
#[derive(Debug, Clone)]
pub(crate) enum FieldExpr {
    Static(Value<'static>),
    Attribute(Attribute),
    Binary {
        op: Op,
        lhs: Box<FieldExpr>,
        rhs: Box<FieldExpr>,
        /// Compiled once at parse time for `=~` / `!~` with a string on the right.
        regex: Option<regex::Regex>,
    },
    Unary {
        op: Op,
        expr: Box<FieldExpr>,
    },
}

impl FieldExpr {
    /// Whether the expression reads anything from a span (else it can be folded).
    pub(crate) fn references_span(&self) -> bool {
        match self {
            FieldExpr::Static(_) => false,
            FieldExpr::Attribute(_) => true,
            FieldExpr::Binary { lhs, rhs, .. } => lhs.references_span() || rhs.references_span(),
            FieldExpr::Unary { expr, .. } => expr.references_span(),
        }
    }

    /// Every attribute the expression reads, in query order.
    pub(crate) fn collect_attributes<'a>(&'a self, out: &mut Vec<&'a Attribute>) {
        match self {
            FieldExpr::Static(_) => {}
            FieldExpr::Attribute(attribute) => out.push(attribute),
            FieldExpr::Binary { lhs, rhs, .. } => {
                lhs.collect_attributes(out);
                rhs.collect_attributes(out);
            }
            FieldExpr::Unary { expr, .. } => expr.collect_attributes(out),
        }
    }
}

/// An operand as printed inside a larger expression: parenthesised unless it is an
/// attribute or a literal. A negative literal under an arithmetic operator is
/// parenthesised too: a folded `-1` printed bare in `-1 * .a` reads back as `-(1 * .a)`.
fn wrap_field(expr: &FieldExpr, under: Option<Op>) -> String {
    match expr {
        FieldExpr::Attribute(_) => expr.to_string(),
        FieldExpr::Static(_) if under.is_some_and(|op| !op.is_boolean()) => {
            parenthesise_negative(expr.to_string())
        }
        FieldExpr::Static(_) => expr.to_string(),
        other => format!("({other})"),
    }
}

fn parenthesise_negative(text: String) -> String {
    if text.starts_with('-') {
        format!("({text})")
    } else {
        text
    }
}

impl Display for FieldExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            FieldExpr::Static(value) => f.write_str(&value.to_query_text()),
            FieldExpr::Attribute(attribute) => attribute.fmt(f),
            FieldExpr::Binary { op, lhs, rhs, .. } => {
                write!(
                    f,
                    "{} {} {}",
                    wrap_field(lhs, Some(*op)),
                    op.as_str(),
                    wrap_field(rhs, Some(*op))
                )
            }
            FieldExpr::Unary { op, expr } => match op {
                Op::Exists | Op::NotExists => {
                    write!(f, "{} {}", wrap_field(expr, None), op.as_str())
                }
                _ => write!(f, "{}{}", op.as_str(), wrap_field(expr, Some(Op::Sub))),
            },
        }
    }
}

/// Operators between spansets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SpansetOp {
    And,
    Union,
    Child,
    Parent,
    Descendant,
    Ancestor,
    Sibling,
    NotChild,
    NotParent,
    NotDescendant,
    NotAncestor,
    NotSibling,
    UnionChild,
    UnionParent,
    UnionDescendant,
    UnionAncestor,
    UnionSibling,
}

impl SpansetOp {
    pub(crate) fn from_token(token: &str) -> Option<SpansetOp> {
        Some(match token {
            "&&" => SpansetOp::And,
            "||" => SpansetOp::Union,
            ">" => SpansetOp::Child,
            "<" => SpansetOp::Parent,
            ">>" => SpansetOp::Descendant,
            "<<" => SpansetOp::Ancestor,
            "~" => SpansetOp::Sibling,
            "!>" => SpansetOp::NotChild,
            "!<" => SpansetOp::NotParent,
            "!>>" => SpansetOp::NotDescendant,
            "!<<" => SpansetOp::NotAncestor,
            "!~" => SpansetOp::NotSibling,
            "&>" => SpansetOp::UnionChild,
            "&<" => SpansetOp::UnionParent,
            "&>>" => SpansetOp::UnionDescendant,
            "&<<" => SpansetOp::UnionAncestor,
            "&~" => SpansetOp::UnionSibling,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            SpansetOp::And => "&&",
            SpansetOp::Union => "||",
            SpansetOp::Child => ">",
            SpansetOp::Parent => "<",
            SpansetOp::Descendant => ">>",
            SpansetOp::Ancestor => "<<",
            SpansetOp::Sibling => "~",
            SpansetOp::NotChild => "!>",
            SpansetOp::NotParent => "!<",
            SpansetOp::NotDescendant => "!>>",
            SpansetOp::NotAncestor => "!<<",
            SpansetOp::NotSibling => "!~",
            SpansetOp::UnionChild => "&>",
            SpansetOp::UnionParent => "&<",
            SpansetOp::UnionDescendant => "&>>",
            SpansetOp::UnionAncestor => "&<<",
            SpansetOp::UnionSibling => "&~",
        }
    }
}

/// Something that yields spansets from spansets.
#[derive(Debug, Clone)]
pub(crate) enum SpansetExpr {
    Filter(FieldExpr),
    Op {
        op: SpansetOp,
        lhs: Box<SpansetExpr>,
        rhs: Box<SpansetExpr>,
    },
    Pipeline(Pipeline),
}

impl Display for SpansetExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            SpansetExpr::Filter(expr) => write!(f, "{{ {expr} }}"),
            SpansetExpr::Op { op, lhs, rhs } => write!(f, "({lhs}) {} ({rhs})", op.as_str()),
            SpansetExpr::Pipeline(pipeline) => pipeline.fmt(f),
        }
    }
}

/// Stages separated by `|`.
#[derive(Debug, Clone)]
pub(crate) struct Pipeline {
    pub elements: Vec<Element>,
}

impl Display for Pipeline {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for (i, element) in self.elements.iter().enumerate() {
            if i > 0 {
                f.write_str("|")?;
            }
            element.fmt(f)?;
        }
        Ok(())
    }
}

/// One pipeline stage.
#[derive(Debug, Clone)]
pub(crate) enum Element {
    Spanset(SpansetExpr),
    ScalarFilter(ScalarFilter),
    GroupBy(FieldExpr),
    Coalesce,
    Select(Vec<Attribute>),
}

impl Display for Element {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Element::Spanset(expr) => expr.fmt(f),
            Element::ScalarFilter(filter) => filter.fmt(f),
            Element::GroupBy(expr) => write!(f, "by({expr})"),
            Element::Coalesce => f.write_str("coalesce()"),
            Element::Select(attributes) => {
                let names: Vec<String> = attributes.iter().map(ToString::to_string).collect();
                write!(f, "select({})", names.join(", "))
            }
        }
    }
}

/// `count()`, `avg(x)`, `min(x)`, `max(x)`, `sum(x)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AggregateOp {
    Count,
    Avg,
    Min,
    Max,
    Sum,
}

impl AggregateOp {
    fn as_str(self) -> &'static str {
        match self {
            AggregateOp::Count => "count",
            AggregateOp::Avg => "avg",
            AggregateOp::Min => "min",
            AggregateOp::Max => "max",
            AggregateOp::Sum => "sum",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Aggregate {
    pub op: AggregateOp,
    pub expr: Option<FieldExpr>,
}

impl Display for Aggregate {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.expr {
            None => write!(f, "{}()", self.op.as_str()),
            Some(expr) => write!(f, "{}({expr})", self.op.as_str()),
        }
    }
}

/// A number-valued expression in a scalar filter.
#[derive(Debug, Clone)]
pub(crate) enum ScalarExpr {
    Static(Value<'static>),
    Aggregate(Aggregate),
    Op {
        op: Op,
        lhs: Box<ScalarExpr>,
        rhs: Box<ScalarExpr>,
    },
    /// `({ } | count())` at the top of a scalar pipeline filter.
    Pipeline(Pipeline, Aggregate),
}

impl Display for ScalarExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            ScalarExpr::Static(value) => f.write_str(&value.to_query_text()),
            ScalarExpr::Aggregate(aggregate) => aggregate.fmt(f),
            ScalarExpr::Op { op, lhs, rhs } => {
                write!(
                    f,
                    "{} {} {}",
                    wrap_scalar(lhs),
                    op.as_str(),
                    wrap_scalar(rhs)
                )
            }
            ScalarExpr::Pipeline(pipeline, aggregate) => write!(f, "{pipeline}|{aggregate}"),
        }
    }
}

fn wrap_scalar(expr: &ScalarExpr) -> String {
    match expr {
        ScalarExpr::Static(_) => expr.to_string(),
        other => format!("({other})"),
    }
}

/// `aggregate op static`, e.g. `count() > 3`.
#[derive(Debug, Clone)]
pub(crate) struct ScalarFilter {
    pub op: Op,
    pub lhs: ScalarExpr,
    pub rhs: ScalarExpr,
}

impl Display for ScalarFilter {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}",
            wrap_scalar(&self.lhs),
            self.op.as_str(),
            wrap_scalar(&self.rhs)
        )
    }
}

/// What the query computes.
#[derive(Debug, Clone)]
pub(crate) enum Body {
    /// A search: spansets per trace.
    Search(Pipeline),
    /// A scalar pipeline filter like `({ } | count()) > ({ } | count())` (parses; Tempo
    /// rejects it as unsupported at validation).
    ScalarPipelineFilter(ScalarFilter),
    /// A TraceQL metrics query, kept as normalised text; `search` is its spanset pipeline
    /// when it has the form `pipeline | metrics...` (Tempo's search runs just that part).
    Metrics {
        text: String,
        search: Option<Pipeline>,
        /// The metrics stages when the query has the form weft evaluates:
        /// `pipeline | function(...) [by(...)] [| topk(n) | bottomk(n)]...`.
        plan: Option<MetricsPlan>,
    },
}

/// A metrics first-stage function: `quantile_over_time(duration, 0.5, 0.9) by(.a)`.
#[derive(Debug, Clone)]
pub(crate) struct MetricsFunction {
    /// `rate`, `count_over_time`, `quantile_over_time`, ...
    pub name: String,
    /// The attribute of `*_over_time(attribute)`.
    pub attribute: Option<Attribute>,
    /// The quantiles of `quantile_over_time`, in query order.
    pub quantiles: Vec<f64>,
    /// The `by(...)` attributes.
    pub by: Vec<Attribute>,
}

/// The metrics stages of a query weft evaluates.
#[derive(Debug, Clone)]
pub(crate) struct MetricsPlan {
    pub function: MetricsFunction,
    /// `topk(n)` (true) and `bottomk(n)` (false), in query order.
    pub second_stages: Vec<(bool, usize)>,
}

impl Display for Body {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Body::Search(pipeline) => pipeline.fmt(f),
            Body::ScalarPipelineFilter(filter) => filter.fmt(f),
            Body::Metrics { text, .. } => f.write_str(text),
        }
    }
}

/// The whole query: body and `with(...)` hints.
#[derive(Debug, Clone)]
pub(crate) struct Root {
    pub body: Body,
    pub hints: Vec<(String, Value<'static>)>,
}

impl Display for Root {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        self.body.fmt(f)?;
        if !self.hints.is_empty() {
            let hints: Vec<String> = self
                .hints
                .iter()
                .map(|(name, value)| format!("{name}={}", value.to_query_text()))
                .collect();
            write!(f, " with({})", hints.join(","))?;
        }
        Ok(())
    }
}
