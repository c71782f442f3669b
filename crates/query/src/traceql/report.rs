//! Which attributes a search result carries for each matched span, and with what value.
//!
//! Tempo returns the attributes its storage fetched for the query: an attribute read
//! through a condition (`span.x = 1`, `span.x != nil`, `span.x = nil`) only when the span
//! meets that condition (with the matching element of an array, and the text `nil` for
//! a met `= nil`); an attribute read otherwise (`by()`, `select()`, aggregates,
//! arithmetic) always, as the text `nil` when the span lacks it. `name`, `duration`,
//! span and trace ids and trace-level intrinsics are left out: a search result carries
//! them elsewhere.

use super::ast::{
    Attribute, Body, Element, FieldExpr, Intrinsic, Op, Pipeline, Root, ScalarExpr, Scope,
    SpansetExpr,
};
use super::eval::{Bindings, contexts, eval};
use super::structural::TraceIndex;
use super::value::{Static, Value, binary};

/// An attribute the query reads and how.
#[derive(Debug, Clone)]
pub(crate) struct Reported {
    attribute: Attribute,
    /// Conditions on the attribute (`attribute op literal`, `!= nil`, `= nil`).
    conditions: Vec<FieldExpr>,
    /// Read outside a condition too.
    bare: bool,
    /// Read by `by()` or `select()`: reported even when missing.
    always: bool,
}

/// The attributes reported with matched spans, and the reads of the span name (which
/// Tempo reports in a span's `name` field, by the same rules).
pub(crate) fn reported_attributes(root: &Root) -> (Vec<Reported>, Vec<Reported>) {
    let mut out = Vec::new();
    if let Body::Search(pipeline)
    | Body::Metrics {
        search: Some(pipeline),
        ..
    } = &root.body
    {
        collect_pipeline(pipeline, &mut out);
    }
    let names = out
        .iter()
        .filter(|r| !r.attribute.parent && r.attribute.intrinsic == Some(Intrinsic::Name))
        .cloned()
        .collect();
    out.retain(|r| {
        !r.attribute.parent
            && !matches!(
                r.attribute.intrinsic,
                Some(
                    Intrinsic::Name
                        | Intrinsic::Duration
                        | Intrinsic::TraceDuration
                        | Intrinsic::RootServiceName
                        | Intrinsic::RootName
                        | Intrinsic::TraceId
                        | Intrinsic::SpanId
                        | Intrinsic::Parent
                )
            )
    });
    (out, names)
}

/// True when Tempo lists span `index`'s name: the query reads the name outside a
/// condition, or through a condition the span meets.
pub(crate) fn reports_name(names: &[Reported], trace: &TraceIndex<'_>, index: usize) -> bool {
    names
        .iter()
        .any(|entry| entry.bare || met_condition_value(entry, trace, index).is_some())
}

fn entry<'a>(out: &'a mut Vec<Reported>, attribute: &Attribute) -> &'a mut Reported {
    let position = match out.iter().position(|r| r.attribute == *attribute) {
        Some(position) => position,
        None => {
            out.push(Reported {
                attribute: attribute.clone(),
                conditions: Vec::new(),
                bare: false,
                always: false,
            });
            out.len() - 1
        }
    };
    &mut out[position]
}

fn collect_pipeline(pipeline: &Pipeline, out: &mut Vec<Reported>) {
    for element in &pipeline.elements {
        match element {
            Element::Spanset(expr) => collect_spanset(expr, out),
            Element::ScalarFilter(filter) => {
                collect_scalar(&filter.lhs, out);
                collect_scalar(&filter.rhs, out);
            }
            Element::GroupBy(expr) => {
                collect_bare(expr, out);
                let mut attributes = Vec::new();
                expr.collect_attributes(&mut attributes);
                for attribute in attributes {
                    entry(out, attribute).always = true;
                }
            }
            Element::Coalesce => {}
            Element::Select(attributes) => {
                for attribute in attributes {
                    let reported = entry(out, attribute);
                    reported.bare = true;
                    reported.always = true;
                }
            }
        }
    }
}

fn collect_spanset(expr: &SpansetExpr, out: &mut Vec<Reported>) {
    match expr {
        SpansetExpr::Filter(filter) => collect_field(filter, out),
        SpansetExpr::Op { lhs, rhs, .. } => {
            collect_spanset(lhs, out);
            collect_spanset(rhs, out);
        }
        SpansetExpr::Pipeline(pipeline) => collect_pipeline(pipeline, out),
    }
}

fn collect_scalar(expr: &ScalarExpr, out: &mut Vec<Reported>) {
    match expr {
        ScalarExpr::Static(_) => {}
        ScalarExpr::Aggregate(aggregate) => {
            if let Some(expr) = &aggregate.expr {
                collect_bare(expr, out);
            }
        }
        ScalarExpr::Op { lhs, rhs, .. } => {
            collect_scalar(lhs, out);
            collect_scalar(rhs, out);
        }
        ScalarExpr::Pipeline(pipeline, aggregate) => {
            collect_pipeline(pipeline, out);
            if let Some(expr) = &aggregate.expr {
                collect_bare(expr, out);
            }
        }
    }
}

fn collect_bare(expr: &FieldExpr, out: &mut Vec<Reported>) {
    let mut attributes = Vec::new();
    expr.collect_attributes(&mut attributes);
    for attribute in attributes {
        entry(out, attribute).bare = true;
    }
}

/// Conditions as Tempo's `extractConditions` finds them; other reads are bare.
fn collect_field(expr: &FieldExpr, out: &mut Vec<Reported>) {
    match expr {
        FieldExpr::Static(_) => {}
        FieldExpr::Attribute(attribute) => entry(out, attribute).bare = true,
        FieldExpr::Unary { op, expr: operand } => match (op, operand.as_ref()) {
            (Op::Exists | Op::NotExists, FieldExpr::Attribute(attribute)) => {
                entry(out, attribute).conditions.push(expr.clone());
            }
            _ => collect_field(operand, out),
        },
        FieldExpr::Binary { op, lhs, rhs, .. } => match (lhs.as_ref(), rhs.as_ref()) {
            (FieldExpr::Attribute(attribute), FieldExpr::Static(value))
            | (FieldExpr::Static(value), FieldExpr::Attribute(attribute)) => {
                if op.is_boolean() && !value.is_nil() && !matches!(op, Op::And | Op::Or) {
                    entry(out, attribute).conditions.push(expr.clone());
                } else {
                    entry(out, attribute).bare = true;
                }
            }
            _ => {
                collect_field(lhs, out);
                collect_field(rhs, out);
            }
        },
    }
}

/// The attributes reported for span `index`.
pub(crate) fn span_attributes(
    reported: &[Reported],
    trace: &TraceIndex<'_>,
    index: usize,
) -> Vec<(String, Static)> {
    let mut out = Vec::new();
    for entry in reported {
        let key = entry.attribute.result_key().to_string();
        if let Some(value) = met_condition_value(entry, trace, index) {
            out.push((key, value));
            continue;
        }
        if !entry.bare {
            continue;
        }
        let value = match last_value(&entry.attribute, trace, index) {
            Value::Nil if !entry.always => continue,
            // What Tempo's storage reports for a requested value the span lacks.
            Value::Nil if entry.attribute.intrinsic.is_some() => Static::String(String::new()),
            Value::Nil => match entry.attribute.scope {
                Scope::None | Scope::Span | Scope::Resource => Static::String("nil".into()),
                _ => continue,
            },
            value => value.to_static(),
        };
        out.push((key, value));
    }
    out
}

/// The value of the last event (link) that has one: Tempo's storage keeps the last it
/// reads.
fn last_value<'a>(attribute: &Attribute, trace: &'a TraceIndex<'a>, index: usize) -> Value<'a> {
    let bindings = Bindings::of(&FieldExpr::Attribute(attribute.clone()));
    let all: Vec<_> = contexts(bindings, trace, index).collect();
    all.iter()
        .rev()
        .map(|context| context.resolve(attribute))
        .find(|value| !value.is_nil())
        .unwrap_or(Value::Nil)
}

/// The value to report when the span meets one of the attribute's conditions.
fn met_condition_value(entry: &Reported, trace: &TraceIndex<'_>, index: usize) -> Option<Static> {
    for condition in &entry.conditions {
        let bindings = Bindings::of(condition);
        // The last event (link) meeting the condition, as Tempo's storage reports it.
        let all: Vec<_> = contexts(bindings, trace, index).collect();
        for context in all.into_iter().rev() {
            if !matches!(eval(condition, Some(&context)), Ok(Value::Bool(true))) {
                continue;
            }
            let value = context.resolve(&entry.attribute);
            return Some(match (condition, value) {
                (
                    FieldExpr::Unary {
                        op: Op::NotExists, ..
                    },
                    _,
                ) => Static::String("nil".into()),
                (
                    FieldExpr::Binary {
                        op,
                        lhs,
                        rhs,
                        regex,
                        ..
                    },
                    Value::Array(elements),
                ) => matching_elements(*op, lhs, rhs, regex.as_ref(), elements),
                (_, value) => value.to_static(),
            });
        }
    }
    None
}

/// The elements of an array attribute that meet `lhs op rhs`: one as itself, several as
/// an array (what Tempo's storage returns).
fn matching_elements(
    op: Op,
    lhs: &FieldExpr,
    rhs: &FieldExpr,
    regex: Option<&regex::Regex>,
    elements: &[weft_model::AttributeValue],
) -> Static {
    let (literal, literal_on_right) = match (lhs, rhs) {
        (_, FieldExpr::Static(v)) => (v, true),
        (FieldExpr::Static(v), _) => (v, false),
        _ => return Value::Array(elements).to_static(),
    };
    let mut matching: Vec<Static> = elements
        .iter()
        .map(Value::from_attribute)
        .filter(|element| {
            let result = if literal_on_right {
                binary(op, element, literal, regex)
            } else {
                binary(op, literal, element, regex)
            };
            matches!(result, Ok(Value::Bool(true)))
        })
        .map(|element| element.to_static())
        .collect();
    match matching.len() {
        1 => matching.pop().unwrap_or(Static::Nil),
        0 => Value::Array(elements).to_static(),
        _ => Static::Array(matching),
    }
}
