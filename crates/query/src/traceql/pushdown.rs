//! Necessary conditions of a search query, as a [`SpanFilter`] for storage.
//!
//! A spanset filter is *necessary* when every matching trace has a span meeting it:
//! filters of the top-level pipeline, both sides of `&&` and of the structural
//! operators, the right side of negated structural operators. Each top-level `&&` term
//! of a necessary filter that `SpanFilter` can express (span name, presence of a span
//! attribute it compares, duration bounds, service) is a criterion. Terms of one filter
//! hold on one span, so a duration range or a service restriction is only taken when it
//! cannot wrongly combine with criteria of another filter.

use weft_model::SpanFilter;
use weft_model::span::SERVICE_NAME;

use super::ast::{
    Attribute, Element, FieldExpr, Intrinsic, Op, Pipeline, Scope, SpansetExpr, SpansetOp,
};
use super::value::Value;

/// Criteria one necessary filter implies for one of its spans.
#[derive(Default)]
struct Terms {
    span_name: Option<String>,
    service_name: Option<String>,
    attributes: Vec<(String, Option<String>)>,
    min_duration_nanos: Option<u64>,
    max_duration_nanos: Option<u64>,
}

impl Terms {
    /// How many criteria the terms give.
    fn count(&self) -> usize {
        usize::from(self.span_name.is_some())
            + usize::from(self.service_name.is_some())
            + self.attributes.len()
            + usize::from(self.min_duration_nanos.is_some() || self.max_duration_nanos.is_some())
    }

    fn is_empty(&self) -> bool {
        self.span_name.is_none()
            && self.service_name.is_none()
            && self.attributes.is_empty()
            && self.min_duration_nanos.is_none()
            && self.max_duration_nanos.is_none()
    }
}

pub(crate) fn for_pipeline(pipeline: &Pipeline) -> SpanFilter {
    let mut filters = Vec::new();
    necessary_in_pipeline(pipeline, &mut filters);
    let terms: Vec<Terms> = filters
        .into_iter()
        .map(terms_of)
        .filter(|t| !t.is_empty())
        .collect();
    let mut filter = SpanFilter::default();
    if terms.len() == 1 {
        // One filter: all criteria hold on the same span, so the service may restrict.
        filter.service_name = terms[0].service_name.clone();
    } else if let Some(chosen) = terms
        .iter()
        .enumerate()
        .filter(|(_, t)| t.service_name.is_some())
        .max_by_key(|(index, t)| (t.count(), *index))
        .map(|(_, t)| t)
    {
        // Several filters, some naming a service: the service restricts the criteria to
        // spans of that service, so only one filter's terms can go together with it.
        // A service is the most selective criterion storage has; of the filters naming
        // one, take the one with most terms (the last of equals: the deeper side of a
        // structural operator, usually the more specific).
        filter.service_name = chosen.service_name.clone();
        filter.span_name = chosen.span_name.clone();
        filter.attributes = chosen.attributes.clone();
        filter
            .attributes
            .truncate(weft_model::MAX_FILTER_CRITERIA - 8);
        filter.min_duration_nanos = chosen.min_duration_nanos;
        filter.max_duration_nanos = chosen.max_duration_nanos;
        return filter;
    }
    for t in &terms {
        if filter.span_name.is_none() {
            filter.span_name = t.span_name.clone();
        }
        for attribute in &t.attributes {
            if !filter.attributes.contains(attribute)
                && filter.attributes.len() < weft_model::MAX_FILTER_CRITERIA - 8
            {
                filter.attributes.push(attribute.clone());
            }
        }
    }
    // Duration bounds of one filter belong together (one span meets both).
    if let Some(t) = terms
        .iter()
        .find(|t| t.min_duration_nanos.is_some() || t.max_duration_nanos.is_some())
    {
        filter.min_duration_nanos = t.min_duration_nanos;
        filter.max_duration_nanos = t.max_duration_nanos;
    }
    filter
}

fn necessary_in_pipeline<'a>(pipeline: &'a Pipeline, out: &mut Vec<&'a FieldExpr>) {
    for element in &pipeline.elements {
        if let Element::Spanset(expr) = element {
            necessary_in_spanset(expr, out);
        }
    }
}

fn necessary_in_spanset<'a>(expr: &'a SpansetExpr, out: &mut Vec<&'a FieldExpr>) {
    match expr {
        SpansetExpr::Filter(filter) => out.push(filter),
        SpansetExpr::Pipeline(pipeline) => necessary_in_pipeline(pipeline, out),
        SpansetExpr::Op { op, lhs, rhs } => {
            use SpansetOp::*;
            match op {
                Union => {}
                NotChild | NotParent | NotDescendant | NotAncestor | NotSibling => {
                    necessary_in_spanset(rhs, out);
                }
                _ => {
                    necessary_in_spanset(lhs, out);
                    necessary_in_spanset(rhs, out);
                }
            }
        }
    }
}

fn terms_of(filter: &FieldExpr) -> Terms {
    let mut terms = Terms::default();
    let mut conjuncts = Vec::new();
    split_and(filter, &mut conjuncts);
    for term in conjuncts {
        add_term(term, &mut terms);
    }
    terms
}

fn split_and<'a>(expr: &'a FieldExpr, out: &mut Vec<&'a FieldExpr>) {
    match expr {
        FieldExpr::Binary {
            op: Op::And,
            lhs,
            rhs,
            ..
        } => {
            split_and(lhs, out);
            split_and(rhs, out);
        }
        other => out.push(other),
    }
}

fn add_term(term: &FieldExpr, terms: &mut Terms) {
    match term {
        FieldExpr::Unary {
            op: Op::Exists,
            expr,
        } => {
            if let FieldExpr::Attribute(attribute) = expr.as_ref()
                && is_span_attribute(attribute)
            {
                terms.attributes.push((attribute.name.clone(), None));
            }
        }
        FieldExpr::Binary { op, lhs, rhs, .. } => {
            let (attribute, value, op) = match (lhs.as_ref(), rhs.as_ref()) {
                (FieldExpr::Attribute(a), FieldExpr::Static(v)) => (a, v, *op),
                (FieldExpr::Static(v), FieldExpr::Attribute(a)) => (a, v, op.flipped()),
                _ => return,
            };
            match (attribute.intrinsic, op, value) {
                (Some(Intrinsic::Name), Op::Eq, Value::Str(name)) => {
                    terms.span_name.get_or_insert_with(|| name.to_string());
                }
                (Some(Intrinsic::Duration), _, value) => duration_term(op, value, terms),
                // Only presence: `SpanFilter` compares an attribute's whole text, and an
                // array attribute matches `= v` when one element does.
                (None, _, _)
                    if is_span_attribute(attribute)
                        && op.is_boolean()
                        && !matches!(op, Op::And | Op::Or) =>
                {
                    terms.attributes.push((attribute.name.clone(), None));
                }
                (None, Op::Eq, Value::Str(service))
                    if attribute.scope == Scope::Resource
                        && !attribute.parent
                        && attribute.name == SERVICE_NAME =>
                {
                    terms
                        .service_name
                        .get_or_insert_with(|| service.to_string());
                }
                _ => {}
            }
        }
        _ => {}
    }
}

fn is_span_attribute(attribute: &Attribute) -> bool {
    attribute.scope == Scope::Span && !attribute.parent && attribute.intrinsic.is_none()
}

fn duration_term(op: Op, value: &Value<'_>, terms: &mut Terms) {
    // Only durations and integers compare exactly against whole nanoseconds.
    let bound = match value {
        Value::Duration(d) | Value::Int(d) => *d,
        _ => return,
    };
    let tighten_min = |terms: &mut Terms, min: i64| {
        let min = u64::try_from(min.max(0)).unwrap_or(0);
        terms.min_duration_nanos = Some(terms.min_duration_nanos.map_or(min, |m| m.max(min)));
    };
    let tighten_max = |terms: &mut Terms, max: i64| {
        let max = u64::try_from(max).unwrap_or(0);
        terms.max_duration_nanos = Some(terms.max_duration_nanos.map_or(max, |m| m.min(max)));
    };
    match op {
        Op::Gt => tighten_min(terms, bound.saturating_add(1)),
        Op::Gte => tighten_min(terms, bound),
        Op::Lt if bound > 0 => tighten_max(terms, bound - 1),
        Op::Lte if bound >= 0 => tighten_max(terms, bound),
        Op::Eq if bound >= 0 => {
            tighten_min(terms, bound);
            tighten_max(terms, bound);
        }
        _ => {}
    }
}
