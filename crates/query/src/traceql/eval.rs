//! Evaluating field expressions on one span (Tempo's `execute` and `AttributeFor`).

use std::borrow::Cow;

use weft_model::{Event, KeyValue, Link, Span, attribute};

use super::ast::{Attribute, FieldExpr, Intrinsic, Op, Scope};
use super::structural::TraceIndex;
use super::value::{EvalFailure, Value, binary};

/// One span in its trace, with the event and link a condition is bound to.
#[derive(Clone, Copy)]
pub(crate) struct SpanContext<'a> {
    pub trace: &'a TraceIndex<'a>,
    pub index: usize,
    pub event: Option<&'a Event>,
    pub link: Option<&'a Link>,
}

impl<'a> SpanContext<'a> {
    fn span(&self) -> &'a Span {
        &self.trace.spans[self.index]
    }

    /// The value of `attribute` for this span; `Nil` when it has none.
    pub(crate) fn resolve(&self, attribute: &Attribute) -> Value<'a> {
        let span = self.span();
        if let Some(intrinsic) = attribute.intrinsic {
            return self.intrinsic(intrinsic);
        }
        let found = match attribute.scope {
            Scope::None => find(&span.attributes, &attribute.name)
                .or_else(|| find(&span.resource.attributes, &attribute.name)),
            Scope::Span => find(&span.attributes, &attribute.name),
            Scope::Resource => find(&span.resource.attributes, &attribute.name),
            Scope::Instrumentation => find(&span.scope.attributes, &attribute.name),
            Scope::Event => self
                .event
                .and_then(|e| find(&e.attributes, &attribute.name)),
            Scope::Link => self.link.and_then(|l| find(&l.attributes, &attribute.name)),
        };
        found.unwrap_or(Value::Nil)
    }

    fn intrinsic(&self, intrinsic: Intrinsic) -> Value<'a> {
        let span = self.span();
        let trace = self.trace;
        match intrinsic {
            Intrinsic::Duration => Value::Duration(nanos(span.duration_nanos)),
            Intrinsic::Name => Value::Str(Cow::Borrowed(&span.name)),
            Intrinsic::Status => Value::Status(span.status.code),
            Intrinsic::StatusMessage => Value::Str(Cow::Borrowed(&span.status.message)),
            Intrinsic::Kind => Value::Kind(span.kind),
            Intrinsic::ChildCount => Value::Int(trace.child_count(self.index)),
            // A trace without root has empty root names in Tempo, not missing ones.
            Intrinsic::RootServiceName => Value::Str(Cow::Borrowed(
                trace
                    .root
                    .and_then(|r| trace.spans[r].service_name())
                    .unwrap_or_default(),
            )),
            Intrinsic::RootName => Value::Str(Cow::Borrowed(
                trace.root.map_or("", |r| trace.spans[r].name.as_str()),
            )),
            Intrinsic::TraceDuration => trace
                .trace_duration_nanos
                .map_or(Value::Nil, Value::Duration),
            Intrinsic::NestedSetLeft => Value::Int(trace.nested_set(self.index).0),
            Intrinsic::NestedSetRight => Value::Int(trace.nested_set(self.index).1),
            Intrinsic::NestedSetParent => Value::Int(trace.nested_set(self.index).2),
            Intrinsic::EventName => self
                .event
                .map_or(Value::Nil, |e| Value::Str(Cow::Borrowed(&e.name))),
            Intrinsic::EventTimeSinceStart => self.event.map_or(Value::Nil, |e| {
                Value::Duration(nanos(
                    e.time_unix_nanos.saturating_sub(span.start_unix_nanos),
                ))
            }),
            // Tempo compares linked trace ids without leading zeros.
            Intrinsic::LinkTraceId => self.link.map_or(Value::Nil, |l| {
                let hex = l.trace_id.to_hex();
                Value::Str(Cow::Owned(hex.trim_start_matches('0').to_string()))
            }),
            Intrinsic::LinkSpanId => self
                .link
                .map_or(Value::Nil, |l| Value::Str(Cow::Owned(l.span_id.to_hex()))),
            Intrinsic::InstrumentationName => Value::Str(Cow::Borrowed(&span.scope.name)),
            Intrinsic::InstrumentationVersion => Value::Str(Cow::Borrowed(&span.scope.version)),
            Intrinsic::Parent => Value::Nil,
            Intrinsic::TraceId => {
                let hex = span.trace_id.to_hex();
                Value::Str(Cow::Owned(hex.trim_start_matches('0').to_string()))
            }
            Intrinsic::SpanId => Value::Str(Cow::Owned(span.span_id.to_hex())),
            Intrinsic::ParentId => span
                .parent_span_id
                .map_or(Value::Nil, |p| Value::Str(Cow::Owned(p.to_hex()))),
        }
    }
}

fn nanos(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn find<'a>(attributes: &'a [KeyValue], key: &str) -> Option<Value<'a>> {
    attribute::find(attributes, key).map(Value::from_attribute)
}

/// Evaluates `expr`; `context` is `None` for constant folding (attributes read as nil).
pub(crate) fn eval<'a>(
    expr: &'a FieldExpr,
    context: Option<&SpanContext<'a>>,
) -> Result<Value<'a>, EvalFailure> {
    match expr {
        FieldExpr::Static(value) => Ok(value.clone()),
        FieldExpr::Attribute(attribute) => {
            Ok(context.map_or(Value::Nil, |context| context.resolve(attribute)))
        }
        FieldExpr::Binary {
            op,
            lhs,
            rhs,
            regex,
        } => {
            let left = eval(lhs, context)?;
            match (op, left.as_bool()) {
                (Op::And, Some(false)) => return Ok(Value::Bool(false)),
                (Op::Or, Some(true)) => return Ok(Value::Bool(true)),
                _ => {}
            }
            let right = eval(rhs, context)?;
            if op.is_boolean() && mixes_int_and_float(lhs, rhs, &left, &right) {
                return Ok(Value::Bool(false));
            }
            binary(*op, &left, &right, regex.as_ref())
        }
        FieldExpr::Unary { op, expr: operand } => {
            let value = eval(operand, context)?;
            // Tempo's storage never hands its evaluator a span lacking every attribute
            // the query reads, so a missing operand stays missing instead of failing.
            if value.is_nil() && matches!(op, Op::Not | Op::Sub) {
                return Ok(Value::Nil);
            }
            match op {
                Op::Not => match value {
                    Value::Bool(b) => Ok(Value::Bool(!b)),
                    _ => Err(EvalFailure),
                },
                Op::Sub => match value {
                    Value::Int(i) => Ok(Value::Int(i.wrapping_neg())),
                    Value::Float(f) => Ok(Value::Float(-f)),
                    Value::Duration(d) => Ok(Value::Duration(d.wrapping_neg())),
                    _ => Err(EvalFailure),
                },
                Op::Exists => Ok(Value::Bool(!value.is_nil())),
                // Tempo documents `= nil` as "the attribute is missing"; its storage checks
                // an unscoped name per scope, so missing on the span or on the resource.
                Op::NotExists => Ok(Value::Bool(
                    value.is_nil() || missing_in_a_scope(operand, context),
                )),
                _ => Err(EvalFailure),
            }
        }
    }
}

/// Tempo's storage keeps ints and floats in separate columns: a stored attribute compared
/// with a literal of the other numeric type never matches (`resource.load = 1` misses 1.0).
fn mixes_int_and_float(
    lhs: &FieldExpr,
    rhs: &FieldExpr,
    left: &Value<'_>,
    right: &Value<'_>,
) -> bool {
    let stored = |expr: &FieldExpr| {
        matches!(
            expr,
            FieldExpr::Attribute(Attribute {
                intrinsic: None,
                ..
            })
        )
    };
    let literal =
        |expr: &FieldExpr| matches!(expr, FieldExpr::Static(Value::Int(_) | Value::Float(_)));
    let mixed = matches!(
        (left, right),
        (Value::Int(_), Value::Float(_)) | (Value::Float(_), Value::Int(_))
    );
    mixed && ((stored(lhs) && literal(rhs)) || (literal(lhs) && stored(rhs)))
}

fn missing_in_a_scope(operand: &FieldExpr, context: Option<&SpanContext<'_>>) -> bool {
    match (operand, context) {
        (
            FieldExpr::Attribute(Attribute {
                scope: Scope::None,
                intrinsic: None,
                parent: false,
                name,
            }),
            Some(context),
        ) => {
            let span = context.span();
            attribute::find(&span.attributes, name).is_none()
                || attribute::find(&span.resource.attributes, name).is_none()
        }
        _ => false,
    }
}

/// Folds a span-free expression to a value.
pub(crate) fn eval_constant(expr: &FieldExpr) -> Result<Value<'static>, EvalFailure> {
    eval(expr, None).map(Value::into_owned)
}

/// Which per-event or per-link values an expression reads.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Bindings {
    pub events: bool,
    pub links: bool,
}

impl Bindings {
    pub(crate) fn of(expr: &FieldExpr) -> Bindings {
        let mut attributes = Vec::new();
        expr.collect_attributes(&mut attributes);
        let mut bindings = Bindings::default();
        for attribute in attributes {
            match attribute.intrinsic {
                Some(Intrinsic::EventName | Intrinsic::EventTimeSinceStart) => {
                    bindings.events = true;
                }
                Some(Intrinsic::LinkTraceId | Intrinsic::LinkSpanId) => bindings.links = true,
                Some(_) => {}
                None => match attribute.scope {
                    Scope::Event => bindings.events = true,
                    Scope::Link => bindings.links = true,
                    _ => {}
                },
            }
        }
        bindings
    }
}

/// The ways to bind span `index` to its events and links for an expression reading
/// `bindings`: each event (link) in turn, or none when the span has none or the
/// expression reads none.
pub(crate) fn contexts<'a>(
    bindings: Bindings,
    trace: &'a TraceIndex<'a>,
    index: usize,
) -> impl Iterator<Item = SpanContext<'a>> + 'a {
    let span = &trace.spans[index];
    let choices = |count: usize, wanted: bool| if wanted { count.max(1) } else { 1 };
    let events = choices(span.events.len(), bindings.events);
    let links = choices(span.links.len(), bindings.links);
    (0..events).flat_map(move |event_index| {
        (0..links).map(move |link_index| SpanContext {
            trace,
            index,
            event: span.events.get(event_index).filter(|_| bindings.events),
            link: span.links.get(link_index).filter(|_| bindings.links),
        })
    })
}

/// Whether span `index` meets `expr`. Event and link values bind to one event (link) at
/// a time: the span matches when the expression holds for some event (link), as Tempo's
/// storage evaluates event- and link-level conditions.
pub(crate) fn matches<'a>(
    expr: &FieldExpr,
    bindings: Bindings,
    trace: &'a TraceIndex<'a>,
    index: usize,
) -> Result<bool, EvalFailure> {
    for context in contexts(bindings, trace, index) {
        if eval(expr, Some(&context))?.as_bool() == Some(true) {
            return Ok(true);
        }
    }
    Ok(false)
}
