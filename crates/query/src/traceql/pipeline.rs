//! Running a pipeline over one trace: spanset filters, spanset operators, `by()`,
//! `coalesce()`, `select()` and scalar filters (Tempo's `ast_execute.go`).

use std::collections::HashMap;

use super::ast::{
    Aggregate, AggregateOp, Element, Op, Pipeline, ScalarExpr, ScalarFilter, SpansetExpr, SpansetOp,
};
use super::eval::{Bindings, SpanContext, eval, matches};
use super::structural::TraceIndex;
use super::value::{EvalFailure, Type, Value, operand_valid};

/// Why a trace could not be evaluated; Tempo fails the whole query in these cases.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// A structural operator met several spansets (after `by()`).
    #[error(
        "spanset operators are not supported for multiple spansets per trace. consider using coalesce()"
    )]
    MultipleSpansets,
    /// Division or modulo by zero, or an operator applied to a value it does not take.
    #[error("expression could not be evaluated (division by zero or wrong operand type)")]
    Expression,
    /// The query is a metrics query, which search does not run.
    #[error("metrics queries are not supported on search")]
    MetricsQuery,
    /// The query parses but Tempo does not support it (see validation).
    #[error("query is not supported: {0}")]
    Unsupported(String),
}

impl From<EvalFailure> for EvalError {
    fn from(_: EvalFailure) -> Self {
        EvalError::Expression
    }
}

/// A spanset during evaluation: span indices into the trace and its attributes.
#[derive(Debug, Clone, Default)]
pub(crate) struct State {
    pub spans: Vec<u32>,
    pub attributes: Vec<(String, Value<'static>)>,
    pub scalar: Option<Value<'static>>,
}

impl State {
    fn with_spans(&self, spans: Vec<u32>) -> State {
        State {
            spans,
            attributes: self.attributes.clone(),
            scalar: self.scalar.clone(),
        }
    }
}

pub(crate) fn pipeline(
    pipeline: &Pipeline,
    trace: &TraceIndex<'_>,
    mut input: Vec<State>,
) -> Result<Vec<State>, EvalError> {
    for element in &pipeline.elements {
        if input.is_empty() {
            break;
        }
        input = match element {
            Element::Spanset(expr) => spanset(expr, trace, input)?,
            Element::ScalarFilter(filter) => scalar_filter(filter, trace, input)?,
            Element::GroupBy(expr) => group_by(element, expr, trace, input)?,
            Element::Coalesce => {
                let mut spans: Vec<u32> = input.into_iter().flat_map(|s| s.spans).collect();
                spans.sort_unstable();
                spans.dedup();
                vec![State {
                    spans,
                    ..State::default()
                }]
            }
            Element::Select(_) => input,
        };
    }
    Ok(input)
}

fn spanset(
    expr: &SpansetExpr,
    trace: &TraceIndex<'_>,
    input: Vec<State>,
) -> Result<Vec<State>, EvalError> {
    match expr {
        SpansetExpr::Filter(filter) => {
            let bindings = Bindings::of(filter);
            let mut output = Vec::with_capacity(input.len());
            for state in input {
                let mut kept = Vec::new();
                for &index in &state.spans {
                    if matches(filter, bindings, trace, index as usize)? {
                        kept.push(index);
                    }
                }
                if !kept.is_empty() {
                    output.push(state.with_spans(kept));
                }
            }
            Ok(output)
        }
        SpansetExpr::Pipeline(inner) => pipeline(inner, trace, input),
        SpansetExpr::Op { op, lhs, rhs } => {
            let mut output = Vec::new();
            for state in input {
                let left = spanset(lhs, trace, vec![state.clone()])?;
                let right = spanset(rhs, trace, vec![state.clone()])?;
                let spans = match op {
                    SpansetOp::And if left.is_empty() || right.is_empty() => continue,
                    SpansetOp::Union if left.is_empty() && right.is_empty() => continue,
                    SpansetOp::And | SpansetOp::Union => union(&left, &right),
                    _ => {
                        if right.is_empty() {
                            continue;
                        }
                        if left.len() > 1 || right.len() > 1 {
                            return Err(EvalError::MultipleSpansets);
                        }
                        let left_spans = left.first().map_or(&[][..], |s| &s.spans[..]);
                        trace.relate(*op, left_spans, &right[0].spans)
                    }
                };
                if !spans.is_empty() {
                    output.push(state.with_spans(spans));
                }
            }
            Ok(output)
        }
    }
}

/// All spans of both sides once, in trace order.
fn union(left: &[State], right: &[State]) -> Vec<u32> {
    let mut spans: Vec<u32> = left
        .iter()
        .chain(right)
        .flat_map(|s| s.spans.iter().copied())
        .collect();
    spans.sort_unstable();
    spans.dedup();
    spans
}

/// A hashable form of a grouping value (Tempo's `MapKey`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum GroupKey {
    Nil,
    Scalar(u8, u64),
    Text(String),
}

fn group_key(value: &Value<'_>) -> GroupKey {
    match value {
        Value::Nil => GroupKey::Nil,
        Value::Int(i) => GroupKey::Scalar(1, *i as u64),
        Value::Float(f) => GroupKey::Scalar(2, f.to_bits()),
        Value::Bool(b) => GroupKey::Scalar(3, u64::from(*b)),
        Value::Duration(d) => GroupKey::Scalar(4, *d as u64),
        Value::Status(s) => GroupKey::Scalar(5, s.to_otlp() as u64),
        Value::Kind(k) => GroupKey::Scalar(6, k.to_otlp() as u64),
        Value::Str(s) => GroupKey::Text(s.to_string()),
        Value::Array(_) => GroupKey::Text(value.to_query_text()),
    }
}

fn group_by(
    element: &Element,
    expr: &super::ast::FieldExpr,
    trace: &TraceIndex<'_>,
    input: Vec<State>,
) -> Result<Vec<State>, EvalError> {
    let name = element.to_string();
    let mut output = Vec::new();
    for state in input {
        let mut groups: HashMap<GroupKey, usize> = HashMap::new();
        let first_group = output.len();
        for &index in &state.spans {
            let context = SpanContext {
                trace,
                index: index as usize,
                event: None,
                link: None,
            };
            let value = eval(expr, Some(&context))?;
            let key = group_key(&value);
            let slot = *groups.entry(key).or_insert_with(|| {
                let mut group = state.with_spans(Vec::new());
                // Spans without the value form their own group, keyed nil (Tempo
                // reports it as the text "nil").
                group
                    .attributes
                    .push((name.clone(), value.clone().into_owned()));
                output.push(group);
                output.len() - 1
            });
            output[slot].spans.push(index);
        }
        debug_assert!(output.len() >= first_group);
    }
    Ok(output)
}

fn scalar_filter(
    filter: &ScalarFilter,
    trace: &TraceIndex<'_>,
    input: Vec<State>,
) -> Result<Vec<State>, EvalError> {
    // Validation admits only `aggregate op static` here, as Tempo does.
    let (ScalarExpr::Aggregate(aggregate), ScalarExpr::Static(bound)) = (&filter.lhs, &filter.rhs)
    else {
        return Err(EvalError::Unsupported(filter.to_string()));
    };
    let name = aggregate.to_string();
    let mut output = Vec::new();
    for mut state in input {
        let Some(value) = self::aggregate(aggregate, trace, &state.spans)? else {
            continue;
        };
        if compare_scalar(filter.op, &value, bound) {
            state.attributes.push((name.clone(), value.clone()));
            state.scalar = Some(value);
            output.push(state);
        }
    }
    Ok(output)
}

/// Tempo's `binOp` for scalar filters.
fn compare_scalar(op: Op, lhs: &Value<'_>, rhs: &Value<'_>) -> bool {
    let (lt, rt) = (lhs.ty(), rhs.ty());
    if !lt.matches(rt) || !operand_valid(op, lt) || !operand_valid(op, rt) {
        return false;
    }
    if lt == Type::Bool && rt == Type::Bool {
        match op {
            Op::And => return lhs.as_bool() == Some(true) && rhs.as_bool() == Some(true),
            Op::Or => return lhs.as_bool() == Some(true) || rhs.as_bool() == Some(true),
            _ => {}
        }
    }
    let (a, b) = (lhs.float(), rhs.float());
    match op {
        Op::Gt => a > b,
        Op::Gte => a >= b,
        Op::Lt => a < b,
        Op::Lte => a <= b,
        Op::Eq => lhs.equals(rhs),
        Op::Neq => !lhs.is_nil() && !rhs.is_nil() && !lhs.equals(rhs),
        _ => false,
    }
}

/// The aggregate over `spans`; `None` when every value is nil (Tempo drops the spanset).
fn aggregate(
    aggregate: &Aggregate,
    trace: &TraceIndex<'_>,
    spans: &[u32],
) -> Result<Option<Value<'static>>, EvalError> {
    let Some(expr) = &aggregate.expr else {
        return Ok(Some(Value::Int(spans.len() as i64)));
    };
    let mut result: Option<Value<'static>> = None;
    let mut count = 0usize;
    for &index in spans {
        let context = SpanContext {
            trace,
            index: index as usize,
            event: None,
            link: None,
        };
        let value = eval(expr, Some(&context))?;
        if value.is_nil() {
            continue;
        }
        count += 1;
        result = Some(match (aggregate.op, result) {
            (_, None) => value.into_owned(),
            (AggregateOp::Max, Some(best)) if value.compare(&best).is_gt() => value.into_owned(),
            (AggregateOp::Min, Some(best)) if value.compare(&best).is_lt() => value.into_owned(),
            (AggregateOp::Sum | AggregateOp::Avg, Some(sum)) => sum_into(sum, &value),
            (_, Some(best)) => best,
        });
    }
    if aggregate.op == AggregateOp::Avg {
        result = result.map(|sum| divide(sum, count));
    }
    Ok(result)
}

/// Tempo's `sumInto`: adds only values of the running sum's type.
fn sum_into(sum: Value<'static>, value: &Value<'_>) -> Value<'static> {
    match (sum, value) {
        (Value::Int(a), Value::Int(b)) => Value::Int(a.wrapping_add(*b)),
        (Value::Duration(a), Value::Duration(b)) => Value::Duration(a.wrapping_add(*b)),
        (Value::Float(a), Value::Float(b)) => Value::Float(a + b),
        (sum, _) => sum,
    }
}

/// Tempo's `divideBy` for `avg()`: ints become floats, durations stay durations.
fn divide(sum: Value<'static>, count: usize) -> Value<'static> {
    let count_i64 = i64::try_from(count).unwrap_or(i64::MAX).max(1);
    match sum {
        Value::Int(i) => Value::Float(i as f64 / count as f64),
        Value::Duration(d) => Value::Duration(d / count_i64),
        Value::Float(f) => Value::Float(f / count as f64),
        other => other,
    }
}
