//! Sorts the untyped [`Node`] tree into the forms Tempo's grammar allows: spanset
//! pipelines, spanset pipeline expressions, scalar filters and metrics queries.
//!
//! When a node does not fit, the error names the token where Tempo's parser would have
//! stopped: the operator of a misplaced binary node, the first token of a misplaced
//! leaf, or the token after a misplaced aggregate (yacc shifted it, expecting more).
//! Among alternatives the error furthest into the query wins, as in an LR parser.

use super::ParseError;
use super::ast::{
    Body, Element, MetricsPlan, Op, Pipeline, ScalarExpr, ScalarFilter, SpansetExpr, SpansetOp,
};
use super::lexer::Token;
use super::parser::{Node, NodeKind};
use super::value::{EvalFailure, Value, binary};

/// A classification failure: where (token index) and the error to report.
pub(crate) type Failure = (usize, ParseError);

pub(crate) struct Classifier<'t> {
    pub tokens: &'t [Token],
}

fn comparison(op: &str) -> Option<Op> {
    Some(match op {
        "=" => Op::Eq,
        "!=" => Op::Neq,
        "<" => Op::Lt,
        "<=" => Op::Lte,
        ">" => Op::Gt,
        ">=" => Op::Gte,
        _ => return None,
    })
}

fn arithmetic(op: &str) -> Option<Op> {
    Some(match op {
        "+" => Op::Add,
        "-" => Op::Sub,
        "*" => Op::Mul,
        "/" => Op::Div,
        "%" => Op::Mod,
        "^" => Op::Pow,
        _ => return None,
    })
}

fn furthest(a: Failure, b: Failure) -> Failure {
    if b.0 > a.0 { b } else { a }
}

impl Classifier<'_> {
    fn fail_at(&self, index: usize) -> Failure {
        let token = &self.tokens[index.min(self.tokens.len() - 1)];
        (index, token.syntax_error(&[]))
    }

    /// The error for `node` appearing where it cannot.
    fn misplaced(&self, node: &Node) -> Failure {
        match &node.kind {
            NodeKind::Binary { op_token, .. } => self.fail_at(*op_token),
            // yacc shifted these, expecting an operator after them.
            NodeKind::Aggregate(_) | NodeKind::Number(_) => self.fail_at(node.end),
            NodeKind::Paren(inner) => self.misplaced(inner),
            _ => self.fail_at(node.start),
        }
    }

    /// The body of the query `node`, or where Tempo's parser stops (token index).
    pub(crate) fn root(&self, node: &Node) -> Result<Body, Failure> {
        if contains_metrics(node) {
            return self
                .metrics_root(node)
                .map(|(text, search, plan)| Body::Metrics { text, search, plan });
        }
        let pipeline = match self.spanset_pipeline(node) {
            Ok(pipeline) => return Ok(Body::Search(pipeline)),
            Err(failure) => failure,
        };
        let expression = match self.spanset_pipeline_expression(node) {
            Ok(expr) => {
                return Ok(Body::Search(Pipeline {
                    elements: vec![Element::Spanset(expr)],
                }));
            }
            Err(failure) => failure,
        };
        let scalar = match self.scalar_pipeline_filter(node) {
            Ok(filter) => return Ok(Body::ScalarPipelineFilter(filter)),
            Err(failure) => failure,
        };
        Err(furthest(furthest(pipeline, expression), scalar))
    }

    fn spanset_expression(&self, node: &Node) -> Result<SpansetExpr, Failure> {
        match &node.kind {
            NodeKind::Filter(expr) => Ok(SpansetExpr::Filter(expr.clone())),
            NodeKind::Paren(inner) => self.spanset_expression(inner),
            NodeKind::Binary { op, lhs, rhs, .. } => match SpansetOp::from_token(op) {
                Some(op) => Ok(SpansetExpr::Op {
                    op,
                    lhs: Box::new(self.spanset_expression(lhs)?),
                    rhs: Box::new(self.spanset_expression(rhs)?),
                }),
                None => Err(self.misplaced(node)),
            },
            _ => Err(self.misplaced(node)),
        }
    }

    fn pipeline_element(&self, node: &Node, first: bool) -> Result<Element, Failure> {
        match &node.kind {
            NodeKind::GroupBy(expr) => return Ok(Element::GroupBy(expr.clone())),
            NodeKind::Select(attributes) => return Ok(Element::Select(attributes.clone())),
            NodeKind::Coalesce if !first => return Ok(Element::Coalesce),
            _ => {}
        }
        let spanset = match self.spanset_expression(node) {
            Ok(expr) => return Ok(Element::Spanset(expr)),
            Err(failure) => failure,
        };
        match self.scalar_filter(node) {
            Ok(filter) => Ok(Element::ScalarFilter(filter)),
            Err(failure) => Err(furthest(spanset, failure)),
        }
    }

    fn spanset_pipeline(&self, node: &Node) -> Result<Pipeline, Failure> {
        if let NodeKind::Binary {
            op: "|", lhs, rhs, ..
        } = &node.kind
        {
            let mut pipeline = self.spanset_pipeline(lhs)?;
            pipeline.elements.push(self.pipeline_element(rhs, false)?);
            return Ok(pipeline);
        }
        Ok(Pipeline {
            elements: vec![self.pipeline_element(node, true)?],
        })
    }

    /// Operators between parenthesised pipelines, e.g. `({ a } | count() > 1) && ({ b })`.
    fn spanset_pipeline_expression(&self, node: &Node) -> Result<SpansetExpr, Failure> {
        match &node.kind {
            NodeKind::Paren(inner) => {
                let nested = match self.spanset_pipeline_expression(inner) {
                    Ok(expr) => return Ok(expr),
                    Err(failure) => failure,
                };
                match self.spanset_pipeline(inner) {
                    Ok(pipeline) => Ok(SpansetExpr::Pipeline(pipeline)),
                    Err(failure) => Err(furthest(nested, failure)),
                }
            }
            NodeKind::Binary { op, lhs, rhs, .. } => match SpansetOp::from_token(op) {
                Some(op) => Ok(SpansetExpr::Op {
                    op,
                    lhs: Box::new(self.spanset_pipeline_expression(lhs)?),
                    rhs: Box::new(self.spanset_pipeline_expression(rhs)?),
                }),
                None => Err(self.misplaced(node)),
            },
            // Between parenthesised pipelines yacc only takes another `(`.
            NodeKind::Filter(_) => {
                let token = &self.tokens[node.start];
                Err((node.start, token.syntax_error(&["("])))
            }
            _ => Err(self.misplaced(node)),
        }
    }

    /// `scalarExpression op (scalarExpression | scalar)` or `scalar op scalarExpression`.
    fn scalar_filter(&self, node: &Node) -> Result<ScalarFilter, Failure> {
        let NodeKind::Binary { op, lhs, rhs, .. } = &node.kind else {
            return Err(self.misplaced(node));
        };
        let Some(op) = comparison(op) else {
            return Err(self.misplaced(node));
        };
        let (lhs, rhs) = self.scalar_operands(lhs, rhs, &|n| self.scalar_expression(n))?;
        Ok(ScalarFilter { op, lhs, rhs })
    }

    /// Operands where at least one side is `aggregated` and the other is that or a literal.
    fn scalar_operands(
        &self,
        lhs: &Node,
        rhs: &Node,
        aggregated: &dyn Fn(&Node) -> Result<ScalarExpr, Failure>,
    ) -> Result<(ScalarExpr, ScalarExpr), Failure> {
        match aggregated(lhs) {
            Ok(left) => {
                let right = match aggregated(rhs) {
                    Ok(right) => right,
                    Err(failure) => match self.scalar(rhs) {
                        Ok(value) => ScalarExpr::Static(value),
                        Err(other) => return Err(furthest(failure, other)),
                    },
                };
                Ok((left, right))
            }
            Err(left_failure) => {
                let value = self
                    .scalar(lhs)
                    .map_err(|f| furthest(left_failure.clone(), f))?;
                let right = aggregated(rhs)?;
                Ok((ScalarExpr::Static(value), right))
            }
        }
    }

    fn scalar_expression(&self, node: &Node) -> Result<ScalarExpr, Failure> {
        match &node.kind {
            NodeKind::Aggregate(aggregate) => Ok(ScalarExpr::Aggregate(aggregate.clone())),
            NodeKind::Paren(inner) => self.scalar_expression(inner),
            NodeKind::Binary { op, lhs, rhs, .. } => match arithmetic(op) {
                Some(op) => {
                    let (lhs, rhs) =
                        self.scalar_operands(lhs, rhs, &|n| self.scalar_expression(n))?;
                    Ok(ScalarExpr::Op {
                        op,
                        lhs: Box::new(lhs),
                        rhs: Box::new(rhs),
                    })
                }
                None => Err(self.misplaced(node)),
            },
            _ => Err(self.misplaced(node)),
        }
    }

    /// A literal, with `+ - * /` folded like Tempo's `foldConstArith`.
    fn scalar(&self, node: &Node) -> Result<Value<'static>, Failure> {
        match &node.kind {
            NodeKind::Number(value) => Ok(value.clone()),
            NodeKind::Paren(inner) => self.scalar(inner),
            NodeKind::Neg(inner) => {
                let value = self.scalar(inner)?;
                Ok(match value {
                    Value::Int(i) => Value::Int(i.wrapping_neg()),
                    Value::Float(f) => Value::Float(-f),
                    Value::Duration(d) => Value::Duration(d.wrapping_neg()),
                    other => other,
                })
            }
            NodeKind::Binary {
                op: op @ ("+" | "-" | "*" | "/"),
                op_token,
                lhs,
                rhs,
            } => {
                let (left, right) = (self.scalar(lhs)?, self.scalar(rhs)?);
                let op = arithmetic(op).unwrap_or(Op::Add);
                match binary(op, &left, &right, None) {
                    Ok(value) => Ok(value),
                    Err(EvalFailure) => {
                        let token = &self.tokens[*op_token];
                        Err((
                            *op_token,
                            ParseError::syntax(
                                token.line,
                                token.column,
                                "division by zero in constant expression".into(),
                            ),
                        ))
                    }
                }
            }
            _ => Err(self.misplaced(node)),
        }
    }

    /// `(pipeline | aggregate) op ...` at the root: parses, unsupported at validation.
    fn scalar_pipeline_filter(&self, node: &Node) -> Result<ScalarFilter, Failure> {
        let NodeKind::Binary { op, lhs, rhs, .. } = &node.kind else {
            return Err(self.misplaced(node));
        };
        let Some(op) = comparison(op) else {
            return Err(self.misplaced(node));
        };
        let left = self.scalar_pipeline_expression(lhs)?;
        let right = match self.scalar_pipeline_expression(rhs) {
            Ok(right) => right,
            Err(failure) => ScalarExpr::Static(self.scalar(rhs).map_err(|f| furthest(failure, f))?),
        };
        Ok(ScalarFilter {
            op,
            lhs: left,
            rhs: right,
        })
    }

    fn scalar_pipeline_expression(&self, node: &Node) -> Result<ScalarExpr, Failure> {
        match &node.kind {
            NodeKind::Paren(inner) => {
                if let NodeKind::Binary {
                    op: "|", lhs, rhs, ..
                } = &inner.kind
                    && let NodeKind::Aggregate(aggregate) = &rhs.kind
                {
                    let pipeline = self.spanset_pipeline(lhs)?;
                    return Ok(ScalarExpr::Pipeline(pipeline, aggregate.clone()));
                }
                self.scalar_pipeline_expression(inner)
            }
            NodeKind::Binary {
                op: op @ ("+" | "-" | "*" | "/" | "%" | "^"),
                lhs,
                rhs,
                ..
            } => Ok(ScalarExpr::Op {
                op: arithmetic(op).unwrap_or(Op::Add),
                lhs: Box::new(self.scalar_pipeline_expression(lhs)?),
                rhs: Box::new(self.scalar_pipeline_expression(rhs)?),
            }),
            _ => Err(self.misplaced(node)),
        }
    }

    // ------------------------------------------------------------------ metrics

    /// The metrics query's text and, for `pipeline | metrics...`, the spanset pipeline
    /// (Tempo's search runs it and ignores the metrics stages).
    #[allow(clippy::type_complexity)]
    fn metrics_root(
        &self,
        node: &Node,
    ) -> Result<(String, Option<Pipeline>, Option<MetricsPlan>), Failure> {
        let elements = flatten_pipes(node);
        let first = elements[0];
        // `(metrics math) [op scalar] | topk(n) ...`
        let head = match &first.kind {
            NodeKind::Binary { op, lhs, rhs, .. } if comparison(op).is_some() => self
                .metrics_expression(lhs)
                .and_then(|text| Ok(format!("{text} {op} {}", self.metrics_scalar(rhs, true)?))),
            _ => self.metrics_expression(first),
        };
        match head {
            Ok(text) => {
                let rest = self.second_stages(&elements[1..])?;
                if text.contains("compare(") && (!rest.is_empty() || text.contains(' ')) {
                    return Err(compare_error(node));
                }
                Ok((text + &rest, None, None))
            }
            Err(head_failure) => {
                let (text, pipeline) = self
                    .metrics_pipeline(&elements)
                    .map_err(|f| furthest(head_failure, f))?;
                let compare_with_more = text.contains("compare(")
                    && elements
                        .last()
                        .is_some_and(|last| !matches!(&last.kind, NodeKind::MetricsAggregate(..)));
                if compare_with_more {
                    return Err(compare_error(node));
                }
                Ok((text, Some(pipeline), metrics_plan(&elements)))
            }
        }
    }

    /// `spansetPipeline | metricsAggregate [op scalar] [| topk(n) [op scalar]]...`
    fn metrics_pipeline(&self, elements: &[&Node]) -> Result<(String, Pipeline), Failure> {
        let mut pipeline = Pipeline {
            elements: Vec::new(),
        };
        let mut position = None;
        for (i, element) in elements.iter().enumerate() {
            if i > 0 && is_metrics_aggregate(element) {
                position = Some(i);
                break;
            }
            pipeline
                .elements
                .push(self.pipeline_element(element, i == 0)?);
        }
        let Some(position) = position else {
            return Err(self.fail_at(elements.last().map_or(0, |e| e.end)));
        };
        let aggregate = self.stage(elements[position], true)?;
        let rest = self.second_stages(&elements[position + 1..])?;
        Ok((format!("{pipeline} | {aggregate}{rest}"), pipeline))
    }

    fn second_stages(&self, elements: &[&Node]) -> Result<String, Failure> {
        let mut text = String::new();
        for element in elements {
            text.push_str(" | ");
            text.push_str(&self.stage(element, false)?);
        }
        Ok(text)
    }

    /// A metrics aggregate (first stage) or `topk`/`bottomk`, optionally compared.
    fn stage(&self, node: &Node, first_stage: bool) -> Result<String, Failure> {
        match &node.kind {
            NodeKind::MetricsAggregate(text, _) if first_stage => Ok(text.clone()),
            NodeKind::SecondStage(text) if !first_stage => {
                if text.ends_with("(0)") {
                    return Err((
                        node.start,
                        ParseError::new(
                            super::ErrorKind::Invalid,
                            0,
                            0,
                            format!("{text}: limit must be greater than 0"),
                        ),
                    ));
                }
                Ok(text.clone())
            }
            NodeKind::Binary { op, lhs, rhs, .. } if comparison(op).is_some() => {
                let left = self.stage(lhs, first_stage)?;
                Ok(format!("{left} {op} {}", self.metrics_scalar(rhs, true)?))
            }
            _ => Err(self.misplaced(node)),
        }
    }

    /// `(pipeline | metrics)` and arithmetic between such and with literals.
    fn metrics_expression(&self, node: &Node) -> Result<String, Failure> {
        match &node.kind {
            NodeKind::Paren(inner) => {
                let elements = flatten_pipes(inner);
                if elements.len() > 1 {
                    return Ok(format!("({})", self.metrics_pipeline(&elements)?.0));
                }
                Ok(format!("({})", self.metrics_expression(inner)?))
            }
            NodeKind::Binary {
                op: op @ ("+" | "-" | "*" | "/"),
                lhs,
                rhs,
                ..
            } => {
                if let Ok(left) = self.metrics_expression(lhs) {
                    let right = match self.metrics_expression(rhs) {
                        Ok(right) => right,
                        Err(failure) => self
                            .metrics_scalar(rhs, false)
                            .map_err(|f| furthest(failure, f))?,
                    };
                    return Ok(format!("{left} {op} {right}"));
                }
                let left = self.metrics_scalar(lhs, false)?;
                Ok(format!("{left} {op} {}", self.metrics_expression(rhs)?))
            }
            _ => Err(self.misplaced(node)),
        }
    }

    /// A number for metrics; durations only as a plain comparison operand.
    fn metrics_scalar(&self, node: &Node, allow_duration: bool) -> Result<String, Failure> {
        match &node.kind {
            NodeKind::Number(Value::Duration(_)) if !allow_duration => Err(self.misplaced(node)),
            NodeKind::Paren(inner) => self.metrics_scalar(inner, allow_duration),
            NodeKind::Binary { lhs, rhs, .. } => {
                self.metrics_scalar(lhs, false)?;
                self.metrics_scalar(rhs, false)?;
                Ok(self.scalar(node)?.to_query_text())
            }
            _ => Ok(self.scalar(node)?.to_query_text()),
        }
    }
}

fn compare_error(node: &Node) -> Failure {
    (
        node.end,
        ParseError::new(
            super::ErrorKind::Invalid,
            0,
            0,
            "`compare()` cannot be used with second stage functions".into(),
        ),
    )
}

/// The plan of `pipeline | function [| topk(n) | bottomk(n)]...` (no comparisons, no
/// arithmetic), else `None`.
fn metrics_plan(elements: &[&Node]) -> Option<MetricsPlan> {
    let position = elements
        .iter()
        .skip(1)
        .position(|element| is_metrics_aggregate(element))?
        + 1;
    let NodeKind::MetricsAggregate(_, function) = &elements[position].kind else {
        return None;
    };
    let mut second_stages = Vec::new();
    for element in &elements[position + 1..] {
        let NodeKind::SecondStage(text) = &element.kind else {
            return None;
        };
        let (topk, rest) = match text.strip_prefix("topk(") {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix("bottomk(")?),
        };
        let limit = rest.strip_suffix(')')?.parse().ok()?;
        second_stages.push((topk, limit));
    }
    Some(MetricsPlan {
        function: function.clone(),
        second_stages,
    })
}

fn is_metrics_aggregate(node: &Node) -> bool {
    match &node.kind {
        NodeKind::MetricsAggregate(..) => true,
        NodeKind::Binary { op, lhs, .. } if comparison(op).is_some() => is_metrics_aggregate(lhs),
        _ => false,
    }
}

/// `a | b | c` (left-nested) as `[a, b, c]`.
fn flatten_pipes(node: &Node) -> Vec<&Node> {
    match &node.kind {
        NodeKind::Binary {
            op: "|", lhs, rhs, ..
        } => {
            let mut elements = flatten_pipes(lhs);
            elements.push(rhs);
            elements
        }
        _ => vec![node],
    }
}

fn contains_metrics(node: &Node) -> bool {
    match &node.kind {
        NodeKind::MetricsAggregate(..) | NodeKind::SecondStage(_) => true,
        NodeKind::Paren(inner) | NodeKind::Neg(inner) => contains_metrics(inner),
        NodeKind::Binary { lhs, rhs, .. } => contains_metrics(lhs) || contains_metrics(rhs),
        _ => false,
    }
}
