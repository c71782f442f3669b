//! Tempo's static checks (`ast_validate.go`) and parse-time simplifications: constant
//! folding, trace id normalisation and regex compilation.

use super::ast::{
    Aggregate, AggregateOp, Attribute, Body, Element, FieldExpr, Intrinsic, Op, Pipeline, Root,
    ScalarExpr, ScalarFilter, Scope, SpansetExpr,
};
use super::eval::eval_constant;
use super::value::{Type, Value, anchored, operand_valid};
use super::{ErrorKind, ParseError};

/// Builds `lhs op rhs` the way Tempo's `newBinaryOperation` does.
pub(crate) fn binary(op: Op, mut lhs: FieldExpr, mut rhs: FieldExpr) -> FieldExpr {
    normalize_trace_id(&lhs, &mut rhs);
    normalize_trace_id(&rhs, &mut lhs);
    let regex = match (&op, &rhs) {
        (Op::Regex | Op::NotRegex, FieldExpr::Static(Value::Str(pattern))) => {
            anchored(pattern).ok()
        }
        _ => None,
    };
    let expr = FieldExpr::Binary {
        op,
        lhs: Box::new(lhs),
        rhs: Box::new(rhs),
        regex,
    };
    fold(expr)
}

/// Builds a unary operation the way Tempo's `newUnaryOperation` does.
pub(crate) fn unary(op: Op, expr: FieldExpr) -> FieldExpr {
    fold(FieldExpr::Unary {
        op,
        expr: Box::new(expr),
    })
}

fn fold(expr: FieldExpr) -> FieldExpr {
    if expr.references_span() || field(&expr).is_err() {
        return expr;
    }
    match eval_constant(&expr) {
        Ok(value) => FieldExpr::Static(value),
        Err(_) => expr,
    }
}

/// Tempo compares trace ids without leading zeros.
fn normalize_trace_id(attribute: &FieldExpr, operand: &mut FieldExpr) {
    if let FieldExpr::Attribute(Attribute {
        intrinsic: Some(Intrinsic::TraceId),
        ..
    }) = attribute
        && let FieldExpr::Static(Value::Str(id)) = operand
    {
        let trimmed = id.trim_start_matches('0').to_string();
        *operand = FieldExpr::Static(Value::Str(trimmed.into()));
    }
}

/// The type Tempo infers for an expression (`impliedType`).
pub(crate) fn field_type(expr: &FieldExpr) -> Type {
    match expr {
        FieldExpr::Static(value) => value.ty(),
        FieldExpr::Attribute(attribute) => attribute_type(attribute),
        FieldExpr::Binary { op, lhs, rhs, .. } => {
            if op.is_boolean() {
                return Type::Bool;
            }
            match field_type(lhs) {
                Type::Attribute => field_type(rhs),
                t => t,
            }
        }
        FieldExpr::Unary { op, expr } => match op {
            Op::Exists | Op::NotExists => Type::Bool,
            _ => field_type(expr),
        },
    }
}

fn attribute_type(attribute: &Attribute) -> Type {
    use Intrinsic::*;
    match attribute.intrinsic {
        Some(Duration | EventTimeSinceStart | TraceDuration) => Type::Duration,
        Some(ChildCount | NestedSetLeft | NestedSetRight | NestedSetParent) => Type::Int,
        Some(
            Name | StatusMessage | EventName | LinkTraceId | LinkSpanId | RootServiceName
            | RootName | TraceId | SpanId | ParentId,
        ) => Type::String,
        Some(Status) => Type::Status,
        Some(Kind) => Type::Kind,
        Some(Parent) => Type::Nil,
        Some(InstrumentationName | InstrumentationVersion) | None => Type::Attribute,
    }
}

fn invalid(message: String) -> ParseError {
    ParseError::new(ErrorKind::Invalid, 0, 0, message)
}

fn unsupported(feature: &str) -> ParseError {
    ParseError::new(
        ErrorKind::Unsupported,
        0,
        0,
        format!("{feature} not yet supported"),
    )
}

/// Checks a field expression (Tempo's `BinaryOperation.validate` and friends).
pub(crate) fn field(expr: &FieldExpr) -> Result<(), ParseError> {
    match expr {
        FieldExpr::Static(_) => Ok(()),
        FieldExpr::Attribute(attribute) => {
            if attribute.parent {
                return Err(unsupported("parent"));
            }
            if attribute.intrinsic == Some(Intrinsic::Parent) {
                return Err(unsupported("intrinsic (parent)"));
            }
            Ok(())
        }
        FieldExpr::Binary { op, lhs, rhs, .. } => {
            field(lhs)?;
            field(rhs)?;
            let (lt, rt) = (field_type(lhs), field_type(rhs));
            if !lt.matches(rt) {
                return Err(invalid(format!(
                    "binary operations must operate on the same type: {expr}"
                )));
            }
            if !operand_valid(*op, lt) || !operand_valid(*op, rt) {
                return Err(invalid(format!(
                    "illegal operation for the given types: {expr}"
                )));
            }
            if matches!(op, Op::Regex | Op::NotRegex) {
                match rhs.as_ref() {
                    FieldExpr::Static(Value::Str(pattern)) => {
                        if anchored(pattern).is_err() {
                            return Err(invalid(format!("invalid regex: {rhs}")));
                        }
                    }
                    _ => {
                        return Err(invalid(format!("invalid type for =~ or !~: {rhs}")));
                    }
                }
            }
            Ok(())
        }
        FieldExpr::Unary { op, expr: operand } => {
            field(operand)?;
            if *op == Op::NotExists
                && let FieldExpr::Attribute(attribute) = operand.as_ref()
            {
                if attribute.intrinsic.is_some() {
                    return Err(invalid(format!(
                        "{attribute}=nil is not valid because intrinsics cannot be nil"
                    )));
                }
                if attribute.scope == Scope::Resource
                    && !attribute.parent
                    && attribute.name == weft_model::span::SERVICE_NAME
                {
                    return Err(invalid(format!(
                        "{attribute}=nil is not valid because resource.service.name cannot be nil"
                    )));
                }
            }
            let t = field_type(operand);
            let valid = t == Type::Attribute
                || match op {
                    Op::Sub => t.is_numeric(),
                    Op::Not => t == Type::Bool,
                    Op::Exists | Op::NotExists => true,
                    _ => false,
                };
            if !valid {
                return Err(invalid(format!(
                    "illegal operation for the given type: {expr}"
                )));
            }
            Ok(())
        }
    }
}

/// Checks the whole query (Tempo's `RootExpr.validate`).
pub(crate) fn root(root: &Root) -> Result<(), ParseError> {
    match &root.body {
        Body::Search(pipeline) => self::pipeline(pipeline),
        Body::ScalarPipelineFilter(filter) => scalar_filter(filter),
        Body::Metrics { search, .. } => search.as_ref().map_or(Ok(()), self::pipeline),
    }
}

fn pipeline(pipeline: &Pipeline) -> Result<(), ParseError> {
    for element in &pipeline.elements {
        match element {
            Element::Spanset(expr) => spanset(expr)?,
            Element::ScalarFilter(filter) => scalar_filter(filter)?,
            Element::GroupBy(expr) => {
                if !expr.references_span() {
                    return Err(invalid(format!(
                        "grouping field expressions must reference the span: {element}"
                    )));
                }
                field(expr)?;
            }
            Element::Coalesce => {}
            Element::Select(attributes) => {
                for attribute in attributes {
                    field(&FieldExpr::Attribute(attribute.clone()))?;
                }
            }
        }
    }
    Ok(())
}

fn spanset(expr: &SpansetExpr) -> Result<(), ParseError> {
    match expr {
        SpansetExpr::Filter(filter) => {
            field(filter)?;
            let t = field_type(filter);
            if t != Type::Attribute && t != Type::Bool {
                return Err(invalid(format!(
                    "span filter field expressions must resolve to a boolean: {expr}"
                )));
            }
            Ok(())
        }
        SpansetExpr::Op { lhs, rhs, .. } => {
            spanset(lhs)?;
            spanset(rhs)
        }
        SpansetExpr::Pipeline(inner) => pipeline(inner),
    }
}

pub(crate) fn scalar_type(expr: &ScalarExpr) -> Type {
    match expr {
        ScalarExpr::Static(value) => value.ty(),
        ScalarExpr::Aggregate(aggregate) | ScalarExpr::Pipeline(_, aggregate) => {
            aggregate_type(aggregate)
        }
        ScalarExpr::Op { op, lhs, rhs } => {
            if op.is_boolean() {
                return Type::Bool;
            }
            match scalar_type(lhs) {
                Type::Attribute => scalar_type(rhs),
                t => t,
            }
        }
    }
}

fn aggregate_type(aggregate: &Aggregate) -> Type {
    match (&aggregate.op, &aggregate.expr) {
        (AggregateOp::Count, _) | (_, None) => Type::Int,
        (_, Some(expr)) => field_type(expr),
    }
}

fn scalar(expr: &ScalarExpr) -> Result<(), ParseError> {
    match expr {
        ScalarExpr::Static(_) => Ok(()),
        ScalarExpr::Aggregate(aggregate) => self::aggregate(aggregate),
        ScalarExpr::Pipeline(inner, aggregate) => {
            pipeline(inner)?;
            self::aggregate(aggregate)
        }
        ScalarExpr::Op { op, lhs, rhs } => {
            scalar(lhs)?;
            scalar(rhs)?;
            check_operands(*op, scalar_type(lhs), scalar_type(rhs), &expr.to_string())
        }
    }
}

fn check_operands(op: Op, lt: Type, rt: Type, text: &str) -> Result<(), ParseError> {
    if !lt.matches(rt) {
        return Err(invalid(format!(
            "binary operations must operate on the same type: {text}"
        )));
    }
    if !operand_valid(op, lt) || !operand_valid(op, rt) {
        return Err(invalid(format!(
            "illegal operation for the given types: {text}"
        )));
    }
    Ok(())
}

fn aggregate(aggregate: &Aggregate) -> Result<(), ParseError> {
    let Some(expr) = &aggregate.expr else {
        return Ok(());
    };
    field(expr)?;
    let t = field_type(expr);
    if t != Type::Attribute && !t.is_numeric() {
        return Err(invalid(format!(
            "aggregate field expressions must resolve to a number type: {aggregate}"
        )));
    }
    if !expr.references_span() {
        return Err(invalid(format!(
            "aggregate field expressions must reference the span: {aggregate}"
        )));
    }
    Ok(())
}

fn scalar_filter(filter: &ScalarFilter) -> Result<(), ParseError> {
    scalar(&filter.lhs)?;
    scalar(&filter.rhs)?;
    check_operands(
        filter.op,
        scalar_type(&filter.lhs),
        scalar_type(&filter.rhs),
        &filter.to_string(),
    )?;
    // Tempo's message really contains the unformatted `%v`.
    if !matches!(filter.lhs, ScalarExpr::Aggregate(_)) {
        return Err(unsupported("scalar filter lhs of type (%v)"));
    }
    if !matches!(filter.rhs, ScalarExpr::Static(_)) {
        return Err(unsupported("scalar filter rhs of type (%v)"));
    }
    Ok(())
}
