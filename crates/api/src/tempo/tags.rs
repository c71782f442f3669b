//! Tag names and values: `/api/search/tags`, `/api/v2/search/tags`,
//! `/api/search/tag/{tag}/values`, `/api/v2/search/tag/{tag}/values`.
//!
//! Without `q`, names and values come from the attribute catalog of every head and block
//! (bounded per scope and key, see `weft_model::AttributeCatalog`), over all retained
//! data: `start`/`end` are validated but do not narrow the answer. With `q` (v2 only), a
//! TraceQL filter, they come from the spans that match it in the window, through the
//! search engine (at most [`Q_TRACES`] traces, newest first). An invalid `q` is ignored,
//! as Tempo ignores it. Names are unscoped (`service.name`), sorted.
//!
//! Values are typed in v2 (`string`, `int`, `float`, `bool`; `keyword` for `status` and
//! `kind`, `duration` for durations) and plain strings in v1. `limit` caps the count.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Value, json};
use weft_model::{
    AttributeScope, AttributeValue, CatalogValueRef, KeyValue, NameIndex, Span, TenantId,
};
use weft_query::search::{SearchRequest, search};
use weft_query::traceql;

use super::params::unsigned;
use super::{Request, TempoState};
use crate::error::{ApiError, json_response};
use crate::params::QueryParams;

/// Traces a `q`-filtered tags request reads at most.
const Q_TRACES: usize = 1_000;

/// Scopes in the order Tempo lists them in `/api/v2/search/tags`.
const V2_SCOPE_ORDER: [&str; 6] = [
    "instrumentation",
    "link",
    "event",
    "span",
    "resource",
    "intrinsic",
];

/// A typed value as the v2 values endpoint lists it: (type, text).
type TypedValue = (&'static str, String);

fn limit(params: &QueryParams) -> Result<usize, ApiError> {
    Ok(unsigned(params, "limit")?
        .and_then(|limit| usize::try_from(limit).ok())
        .filter(|limit| *limit > 0)
        .unwrap_or(usize::MAX))
}

fn answer(body: Value) -> Result<Response, ApiError> {
    let mut body = body;
    body["metrics"] = json!({});
    Ok(json_response(body.to_string().into_bytes()))
}

/// The scopes a `scope` parameter selects (`None`: all), or a 400 naming it.
fn scopes_of(params: &QueryParams, allowed: &[&str]) -> Result<Option<&'static str>, ApiError> {
    match params
        .get("scope")
        .filter(|scope| !scope.is_empty() && *scope != "all")
    {
        None => Ok(None),
        Some(scope) => V2_SCOPE_ORDER
            .into_iter()
            .find(|known| *known == scope && allowed.contains(known))
            .map(Some)
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "invalid scope: {scope:?}, expected one of {}",
                    allowed.join(", ")
                ))
            }),
    }
}

pub(super) async fn tags_v1(
    State(state): State<TempoState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let Request { tenant, params, .. } = state.request(&headers, raw.as_deref())?;
    let scope = scopes_of(&params, &["resource", "span", "intrinsic"])?;
    let limit = limit(&params)?;
    let names = state.reader.names(&tenant).await?;
    let mut tags: BTreeSet<String> = BTreeSet::new();
    match scope {
        Some("intrinsic") => tags.extend(
            traceql::intrinsic_names()
                .iter()
                .map(|name| (*name).to_owned()),
        ),
        Some(scope) => tags.extend(catalog_keys(&names, scope)),
        None => {
            for scope in AttributeScope::ALL {
                tags.extend(catalog_keys(&names, scope.as_str()));
            }
        }
    }
    answer(json!({ "tagNames": tags.into_iter().take(limit).collect::<Vec<_>>() }))
}

pub(super) async fn tags_v2(
    State(state): State<TempoState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let Request {
        tenant,
        params,
        window,
    } = state.request(&headers, raw.as_deref())?;
    let scope = scopes_of(&params, &V2_SCOPE_ORDER)?;
    let limit = limit(&params)?;
    let filtered = match params.get("q").and_then(|text| traceql::parse(text).ok()) {
        Some(query) if !is_empty_filter(&query) => {
            Some(matched_spans_keys(&state, tenant.clone(), window, &query).await?)
        }
        _ => None,
    };
    let names = match filtered {
        Some(_) => NameIndex::default(),
        None => state.reader.names(&tenant).await?,
    };
    let mut scopes = Vec::new();
    for name in V2_SCOPE_ORDER {
        if scope.is_some_and(|wanted| wanted != name) {
            continue;
        }
        let tags: Vec<String> = if name == "intrinsic" {
            traceql::intrinsic_names()
                .iter()
                .map(|tag| (*tag).to_owned())
                .collect()
        } else {
            match &filtered {
                Some(keys) => keys
                    .get(name)
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .collect(),
                None => catalog_keys(&names, name).collect(),
            }
        };
        let mut tags = tags;
        tags.sort();
        tags.truncate(limit);
        if !tags.is_empty() || scope.is_some() {
            scopes.push(json!({ "name": name, "tags": tags }));
        }
    }
    answer(json!({ "scopes": scopes }))
}

pub(super) async fn values_v1(
    State(state): State<TempoState>,
    headers: HeaderMap,
    Path(tag): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let Request { tenant, params, .. } = state.request(&headers, raw.as_deref())?;
    let limit = limit(&params)?;
    let names = state.reader.names(&tenant).await?;
    let mut values: BTreeSet<String> = BTreeSet::new();
    for (_, text) in catalog_values(&names, None, &tag) {
        values.insert(text);
    }
    answer(json!({ "tagValues": values.into_iter().take(limit).collect::<Vec<_>>() }))
}

pub(super) async fn values_v2(
    State(state): State<TempoState>,
    headers: HeaderMap,
    Path(tag): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let Request {
        tenant,
        params,
        window,
    } = state.request(&headers, raw.as_deref())?;
    let limit = limit(&params)?;
    let (scope, key) = split_scoped_tag(&tag)?;
    let filter = params
        .get("q")
        .and_then(|text| traceql::parse(text).ok())
        .filter(|query| !is_empty_filter(query));
    let values: BTreeSet<TypedValue> = match (&filter, scope) {
        (Some(query), _) => matched_span_values(&state, tenant, window, query, scope, key).await?,
        (None, Some("intrinsic")) => {
            let names = state.reader.names(&tenant).await?;
            intrinsic_values(&names, key)
        }
        (None, scope) => {
            let names = state.reader.names(&tenant).await?;
            catalog_values(&names, scope, key).collect()
        }
    };
    let listed: Vec<Value> = values
        .into_iter()
        .take(limit)
        .map(|(kind, value)| json!({ "type": kind, "value": value }))
        .collect();
    answer(json!({ "tagValues": listed }))
}

/// `resource.service.name` → (`resource`, `service.name`); `.service.name` → (any,
/// `service.name`); an intrinsic (`name`, `span:name`, `status`, ...) → (`intrinsic`, it).
fn split_scoped_tag(tag: &str) -> Result<(Option<&'static str>, &str), ApiError> {
    if let Some(key) = tag.strip_prefix('.') {
        return Ok((None, key));
    }
    if traceql::intrinsic_names().contains(&tag) {
        return Ok((Some("intrinsic"), tag));
    }
    for scope in AttributeScope::ALL {
        if let Some(key) = tag
            .strip_prefix(scope.as_str())
            .and_then(|rest| rest.strip_prefix('.'))
        {
            return Ok((Some(scope.as_str()), key));
        }
    }
    Err(ApiError::BadRequest(format!(
        "invalid tag {tag:?}: expected a scoped attribute (resource.x, span.x, event.x, link.x, instrumentation.x, .x) or an intrinsic"
    )))
}

fn catalog_keys<'a>(names: &'a NameIndex, scope: &str) -> impl Iterator<Item = String> + 'a {
    let scope = AttributeScope::parse(scope);
    names
        .attributes
        .scopes
        .iter()
        .filter(move |(candidate, _)| Some(**candidate) == scope)
        .flat_map(|(_, catalog)| catalog.keys.keys().cloned())
}

/// Values of `key` in `scope` (every scope when `None`) from the catalog.
fn catalog_values<'a>(
    names: &'a NameIndex,
    scope: Option<&'a str>,
    key: &'a str,
) -> impl Iterator<Item = TypedValue> + 'a {
    names
        .attributes
        .scopes
        .iter()
        .filter(move |(candidate, _)| scope.is_none_or(|scope| candidate.as_str() == scope))
        .filter_map(move |(_, catalog)| catalog.keys.get(key))
        .flat_map(|values| values.iter().filter_map(typed))
}

fn typed(value: CatalogValueRef<'_>) -> Option<TypedValue> {
    match value {
        CatalogValueRef::String(text) => Some(("string", text.to_owned())),
        CatalogValueRef::Int(number) => Some(("int", number.to_string())),
        CatalogValueRef::FloatBits(bits) => Some(("float", f64::from_bits(bits).to_string())),
        CatalogValueRef::Bool(flag) => Some(("bool", flag.to_string())),
        CatalogValueRef::TooLong | CatalogValueRef::Untyped => None,
    }
}

fn attribute_typed(value: &AttributeValue) -> Option<TypedValue> {
    match value {
        AttributeValue::String(text) => Some(("string", text.clone())),
        AttributeValue::Int(number) => Some(("int", number.to_string())),
        AttributeValue::Double(number) if number.is_finite() => Some(("float", number.to_string())),
        AttributeValue::Bool(flag) => Some(("bool", flag.to_string())),
        _ => None,
    }
}

const STATUS_NAMES: [&str; 3] = ["error", "ok", "unset"];
const KIND_NAMES: [&str; 6] = [
    "unspecified",
    "internal",
    "server",
    "client",
    "producer",
    "consumer",
];

/// Values of an intrinsic from the name index: statuses and kinds are fixed keywords,
/// names and services come from the index (a superset for the root-only intrinsics).
fn intrinsic_values(names: &NameIndex, intrinsic: &str) -> BTreeSet<TypedValue> {
    let keywords = |list: &[&str]| {
        list.iter()
            .map(|name| ("keyword", (*name).to_owned()))
            .collect()
    };
    match intrinsic {
        "status" | "span:status" => keywords(&STATUS_NAMES),
        "kind" | "span:kind" => keywords(&KIND_NAMES),
        "name" | "span:name" | "rootName" | "trace:rootName" => names
            .span_names
            .values()
            .flatten()
            .map(|name| ("string", name.clone()))
            .collect(),
        "rootServiceName" | "trace:rootService" => names
            .services
            .iter()
            .map(|name| ("string", name.clone()))
            .collect(),
        _ => BTreeSet::new(),
    }
}

/// `{}` and `{ true }` filter nothing: the catalog answers them.
fn is_empty_filter(query: &traceql::Query) -> bool {
    matches!(query.to_string().as_str(), "{ }" | "{}" | "{ true }")
}

/// The spans matched by `query` in the window's newest [`Q_TRACES`] matching traces.
async fn matched_spans<T>(
    state: &TempoState,
    tenant: TenantId,
    window: weft_model::TimeWindow,
    query: &traceql::Query,
    mut visit: impl FnMut(&Span) -> Option<T>,
) -> Result<Vec<T>, ApiError> {
    let request = SearchRequest {
        tenant,
        window,
        filter: query.pushdown(),
        limit: Q_TRACES,
        limits: state.query.search_limits(),
    };
    let outcome = search(&*state.reader, &request, |spans| {
        let sets = query.evaluate(spans);
        (!sets.is_empty()).then_some(sets)
    })
    .await?;
    let mut out = Vec::new();
    for found in &outcome.matches {
        for set in &found.result {
            for matched in &set.spans {
                if let Some(span) = found.spans.get(matched.index)
                    && let Some(item) = visit(span)
                {
                    out.push(item);
                }
            }
        }
    }
    Ok(out)
}

fn scoped_attributes(span: &Span) -> [(&'static str, Vec<&[KeyValue]>); 5] {
    [
        ("resource", vec![span.resource.attributes.as_slice()]),
        ("span", vec![span.attributes.as_slice()]),
        (
            "event",
            span.events
                .iter()
                .map(|event| event.attributes.as_slice())
                .collect(),
        ),
        (
            "link",
            span.links
                .iter()
                .map(|link| link.attributes.as_slice())
                .collect(),
        ),
        ("instrumentation", vec![span.scope.attributes.as_slice()]),
    ]
}

async fn matched_spans_keys(
    state: &TempoState,
    tenant: TenantId,
    window: weft_model::TimeWindow,
    query: &traceql::Query,
) -> Result<BTreeMap<&'static str, BTreeSet<String>>, ApiError> {
    let per_span = matched_spans(state, tenant, window, query, |span| {
        let mut keys: Vec<(&'static str, String)> = Vec::new();
        for (scope, lists) in scoped_attributes(span) {
            for list in lists {
                keys.extend(list.iter().map(|pair| (scope, pair.key.clone())));
            }
        }
        Some(keys)
    })
    .await?;
    let mut out: BTreeMap<&'static str, BTreeSet<String>> = BTreeMap::new();
    for (scope, key) in per_span.into_iter().flatten() {
        out.entry(scope).or_default().insert(key);
    }
    Ok(out)
}

async fn matched_span_values(
    state: &TempoState,
    tenant: TenantId,
    window: weft_model::TimeWindow,
    query: &traceql::Query,
    scope: Option<&'static str>,
    key: &str,
) -> Result<BTreeSet<TypedValue>, ApiError> {
    let per_span = matched_spans(state, tenant, window, query, |span| {
        let mut values: Vec<TypedValue> = Vec::new();
        if scope == Some("intrinsic") {
            values.extend(span_intrinsic(span, key));
            return Some(values);
        }
        for (name, lists) in scoped_attributes(span) {
            if scope.is_some_and(|wanted| wanted != name) {
                continue;
            }
            for list in lists {
                values.extend(
                    list.iter()
                        .filter(|pair| pair.key == key)
                        .filter_map(|pair| attribute_typed(&pair.value)),
                );
            }
        }
        Some(values)
    })
    .await?;
    Ok(per_span.into_iter().flatten().collect())
}

fn span_intrinsic(span: &Span, intrinsic: &str) -> Option<TypedValue> {
    match intrinsic {
        "name" | "span:name" => Some(("string", span.name.clone())),
        "status" | "span:status" => {
            Some(("keyword", traceql::status_name(span.status.code).to_owned()))
        }
        "kind" | "span:kind" => Some(("keyword", span.kind.as_str().to_owned())),
        "statusMessage" | "span:statusMessage" => Some(("string", span.status.message.clone())),
        _ => None,
    }
}
