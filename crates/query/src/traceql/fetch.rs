//! The first pass of Tempo's storage, which decides which spans its evaluator sees.
//!
//! Tempo extracts conditions (`attribute op literal`, existence checks) from a query.
//! When they are all joined by AND (no `||` inside a filter, no spanset operator, `by()`
//! or aggregate: Tempo's `AllConditions`), storage hands over only spans meeting every
//! condition, and the pipeline then runs on those. This matters where the pipeline
//! alone would answer differently: `{ !(status = error) }` matches nothing in Tempo
//! (only error spans are fetched), and `{ !(!(kind = consumer)) }` finds consumers.

use super::ast::{Element, FieldExpr, Op, Pipeline, ScalarExpr, SpansetExpr};
use super::eval::{Bindings, contexts, eval};
use super::structural::TraceIndex;
use super::value::Value;

/// The conditions of a query whose conditions are all ANDed, as filter expressions
/// (`attribute op literal`, `attribute != nil`, `attribute = nil`); `None` otherwise.
pub(crate) fn first_pass(pipeline: &Pipeline) -> Option<Vec<FieldExpr>> {
    let mut conditions = Vec::new();
    if all_conditions(pipeline, &mut conditions) {
        Some(conditions)
    } else {
        None
    }
}

fn all_conditions(pipeline: &Pipeline, out: &mut Vec<FieldExpr>) -> bool {
    for element in &pipeline.elements {
        match element {
            Element::Spanset(SpansetExpr::Filter(filter)) => {
                if !extract(filter, out) {
                    return false;
                }
            }
            Element::Spanset(SpansetExpr::Pipeline(inner)) => {
                if !all_conditions(inner, out) {
                    return false;
                }
            }
            Element::Spanset(SpansetExpr::Op { .. }) | Element::GroupBy(_) => return false,
            Element::ScalarFilter(filter) => {
                if matches!(
                    filter.lhs,
                    ScalarExpr::Aggregate(_) | ScalarExpr::Pipeline(..)
                ) || matches!(
                    filter.rhs,
                    ScalarExpr::Aggregate(_) | ScalarExpr::Pipeline(..)
                ) {
                    return false;
                }
            }
            Element::Coalesce | Element::Select(_) => {}
        }
    }
    true
}

/// Adds the conditions of `expr` with an operator; false when an `||` joins them.
fn extract(expr: &FieldExpr, out: &mut Vec<FieldExpr>) -> bool {
    match expr {
        FieldExpr::Static(_) | FieldExpr::Attribute(_) => true,
        FieldExpr::Unary { op, expr: operand } => match (op, operand.as_ref()) {
            (Op::Exists | Op::NotExists, FieldExpr::Attribute(_)) => {
                out.push(expr.clone());
                true
            }
            _ => extract(operand, out),
        },
        FieldExpr::Binary { op, lhs, rhs, .. } => match (lhs.as_ref(), rhs.as_ref()) {
            (FieldExpr::Attribute(_), FieldExpr::Static(value))
            | (FieldExpr::Static(value), FieldExpr::Attribute(_)) => {
                if op.is_boolean() && !value.is_nil() && !matches!(op, Op::And | Op::Or) {
                    out.push(expr.clone());
                }
                true
            }
            (FieldExpr::Attribute(_), _) => extract(rhs, out),
            (_, FieldExpr::Attribute(_)) | (FieldExpr::Static(_), _) => extract(rhs, out),
            _ => {
                let left = extract(lhs, out);
                let right = extract(rhs, out);
                left && right && *op != Op::Or
            }
        },
    }
}

/// Whether span `index` meets every condition, each for some event and link.
pub(crate) fn meets<'a>(conditions: &[FieldExpr], trace: &'a TraceIndex<'a>, index: usize) -> bool {
    conditions.iter().all(|condition| {
        contexts(Bindings::of(condition), trace, index)
            .any(|context| matches!(eval(condition, Some(&context)), Ok(Value::Bool(true))))
    })
}
