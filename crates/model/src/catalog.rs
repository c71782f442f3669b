//! The attribute catalog: which attribute keys were seen per scope, and a bounded set of
//! typed values per key, for Tempo's tag endpoints (`/api/v2/search/tags` and
//! `/api/v2/search/tag/{scope.key}/values`).
//!
//! Bounds ([`CatalogLimits`]) keep a catalog small whatever the data: keys per scope,
//! values per key, and the length of a string value. A key or value beyond a bound is
//! left out and the scope or key is flagged truncated, so a reader can tell "these are
//! all" from "these are some".

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::attribute::{AttributeValue, KeyValue};
use crate::span::Span;

/// Where an attribute sits, named as Tempo's TraceQL scopes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AttributeScope {
    /// The resource's attributes (`resource.`).
    Resource,
    /// The span's own attributes (`span.`).
    Span,
    /// Attributes of the span's events (`event.`).
    Event,
    /// Attributes of the span's links (`link.`).
    Link,
    /// The instrumentation scope's attributes (`instrumentation.`).
    Instrumentation,
}

impl AttributeScope {
    /// Every scope, in order.
    pub const ALL: [AttributeScope; 5] = [
        AttributeScope::Resource,
        AttributeScope::Span,
        AttributeScope::Event,
        AttributeScope::Link,
        AttributeScope::Instrumentation,
    ];

    /// The scope's TraceQL name: `resource`, `span`, `event`, `link`, `instrumentation`.
    pub fn as_str(self) -> &'static str {
        match self {
            AttributeScope::Resource => "resource",
            AttributeScope::Span => "span",
            AttributeScope::Event => "event",
            AttributeScope::Link => "link",
            AttributeScope::Instrumentation => "instrumentation",
        }
    }

    /// The scope named `name` (as [`AttributeScope::as_str`] spells it); `None` for any
    /// other text.
    pub fn parse(name: &str) -> Option<AttributeScope> {
        AttributeScope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == name)
    }
}

/// Bounds of an [`AttributeCatalog`]. Configured per component (ingester, compactor);
/// the defaults suit a few hundred keys with mostly low-cardinality values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CatalogLimits {
    /// Most keys kept per scope; later keys are left out and the scope is flagged.
    /// 0 turns the catalog off (nothing is collected, every scope is empty).
    pub max_keys_per_scope: usize,
    /// Most distinct values kept per (scope, key), all types together; later values are
    /// left out and the key is flagged.
    pub max_values_per_key: usize,
    /// Longest string value kept, in bytes; longer strings are left out and their key
    /// is flagged.
    pub max_string_value_bytes: usize,
}

impl Default for CatalogLimits {
    fn default() -> Self {
        CatalogLimits {
            max_keys_per_scope: 1_000,
            max_values_per_key: 1_000,
            max_string_value_bytes: 256,
        }
    }
}

/// A finite float kept by the catalog, ordered by `f64::total_cmp`.
#[derive(Debug, Clone, Copy)]
pub struct CatalogFloat(pub f64);

impl Ord for CatalogFloat {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

impl PartialOrd for CatalogFloat {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for CatalogFloat {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for CatalogFloat {}

/// A borrowed attribute value as the catalog judges it: keepable, or a reason it is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CatalogValueRef<'a> {
    /// A string within the length bound.
    String(&'a str),
    /// An integer.
    Int(i64),
    /// A finite float, as its bits.
    FloatBits(u64),
    /// A boolean.
    Bool(bool),
    /// A string over the length bound: not kept, the key is flagged.
    TooLong,
    /// Bytes, arrays, key-value lists, empty values and non-finite floats: no value is
    /// kept and the key is not flagged (Tempo lists no values of these types either).
    Untyped,
}

impl<'a> CatalogValueRef<'a> {
    /// How the catalog sees `value` under `limits`.
    pub fn of(value: &'a AttributeValue, limits: &CatalogLimits) -> Self {
        match value {
            AttributeValue::String(text) if text.len() <= limits.max_string_value_bytes => {
                CatalogValueRef::String(text)
            }
            AttributeValue::String(_) => CatalogValueRef::TooLong,
            AttributeValue::Int(number) => CatalogValueRef::Int(*number),
            AttributeValue::Double(number) if number.is_finite() => {
                CatalogValueRef::FloatBits(number.to_bits())
            }
            AttributeValue::Bool(flag) => CatalogValueRef::Bool(*flag),
            _ => CatalogValueRef::Untyped,
        }
    }
}

/// The values seen for one (scope, key), by type (Tempo's `string`, `int`, `float`,
/// `bool`); at most [`CatalogLimits::max_values_per_key`] over all types together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyValues {
    /// String values.
    pub strings: BTreeSet<String>,
    /// Integer values.
    pub ints: BTreeSet<i64>,
    /// Finite float values.
    pub floats: BTreeSet<CatalogFloat>,
    /// Boolean values.
    pub bools: BTreeSet<bool>,
    /// True when some value was left out (over a bound); the sets are then a subset.
    pub truncated: bool,
}

impl KeyValues {
    /// Distinct values kept, all types together.
    pub fn len(&self) -> usize {
        self.strings.len() + self.ints.len() + self.floats.len() + self.bools.len()
    }

    /// True when no value is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when `value` is kept (no allocation).
    pub fn contains(&self, value: CatalogValueRef<'_>) -> bool {
        match value {
            CatalogValueRef::String(text) => self.strings.contains(text),
            CatalogValueRef::Int(number) => self.ints.contains(&number),
            CatalogValueRef::FloatBits(bits) => {
                self.floats.contains(&CatalogFloat(f64::from_bits(bits)))
            }
            CatalogValueRef::Bool(flag) => self.bools.contains(&flag),
            CatalogValueRef::TooLong | CatalogValueRef::Untyped => false,
        }
    }

    /// Adds `value` (no bound checked; allocates only for a new string). Returns true
    /// when it was new.
    fn add(&mut self, value: CatalogValueRef<'_>) -> bool {
        match value {
            CatalogValueRef::String(text) => {
                !self.strings.contains(text) && self.strings.insert(text.to_owned())
            }
            CatalogValueRef::Int(number) => self.ints.insert(number),
            CatalogValueRef::FloatBits(bits) => {
                self.floats.insert(CatalogFloat(f64::from_bits(bits)))
            }
            CatalogValueRef::Bool(flag) => self.bools.insert(flag),
            CatalogValueRef::TooLong | CatalogValueRef::Untyped => false,
        }
    }

    /// Every kept value as a borrowed reference, strings first.
    pub fn iter(&self) -> impl Iterator<Item = CatalogValueRef<'_>> {
        self.strings
            .iter()
            .map(|text| CatalogValueRef::String(text))
            .chain(self.ints.iter().map(|number| CatalogValueRef::Int(*number)))
            .chain(
                self.floats
                    .iter()
                    .map(|number| CatalogValueRef::FloatBits(number.0.to_bits())),
            )
            .chain(self.bools.iter().map(|flag| CatalogValueRef::Bool(*flag)))
    }
}

/// The keys seen in one scope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeCatalog {
    /// Keys with their values, at most [`CatalogLimits::max_keys_per_scope`].
    pub keys: BTreeMap<String, KeyValues>,
    /// True when some key was left out (over the bound); `keys` is then a subset.
    pub keys_truncated: bool,
}

/// Attribute keys per scope with bounded typed values; see the module documentation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttributeCatalog {
    /// Per scope; a scope without keys may be absent.
    pub scopes: BTreeMap<AttributeScope, ScopeCatalog>,
    /// The bounds inserts and merges keep (not stored: each writer applies its own).
    pub limits: CatalogLimits,
}

/// What one insert into a catalog copied, for memory accounting.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CatalogGrowth {
    /// Strings allocated (keys and string values).
    pub strings: usize,
    /// Their total length in bytes.
    pub bytes: usize,
    /// Non-string values added.
    pub values: usize,
}

impl AttributeCatalog {
    /// An empty catalog with these bounds.
    pub fn with_limits(limits: CatalogLimits) -> Self {
        AttributeCatalog {
            scopes: BTreeMap::new(),
            limits,
        }
    }

    /// True when no key was seen and nothing was truncated.
    pub fn is_empty(&self) -> bool {
        self.scopes
            .values()
            .all(|scope| scope.keys.is_empty() && !scope.keys_truncated)
    }

    /// Records `key` in `scope` (bounded; allocates only for a new key) and `value` for
    /// it (bounded; allocates only for a new string value). Adds what was copied to
    /// `growth`.
    pub fn insert(
        &mut self,
        scope: AttributeScope,
        key: &str,
        value: CatalogValueRef<'_>,
        growth: &mut CatalogGrowth,
    ) {
        let limits = self.limits;
        let scope_catalog = self.scopes.entry(scope).or_default();
        let values = match scope_catalog.keys.get_mut(key) {
            Some(values) => values,
            None => {
                if scope_catalog.keys.len() >= limits.max_keys_per_scope {
                    scope_catalog.keys_truncated = true;
                    return;
                }
                growth.strings += 1;
                growth.bytes += key.len();
                scope_catalog.keys.entry(key.to_owned()).or_default()
            }
        };
        insert_value(values, value, &limits, growth);
    }

    /// Records every attribute of `span` under its scope (the span's resource and
    /// instrumentation scope included), as [`AttributeCatalog::insert`] does.
    pub fn add_span(&mut self, span: &Span) {
        let mut growth = CatalogGrowth::default();
        let limits = self.limits;
        let mut add = |catalog: &mut Self, scope, attributes: &[KeyValue]| {
            for attribute in attributes {
                let value = CatalogValueRef::of(&attribute.value, &limits);
                catalog.insert(scope, &attribute.key, value, &mut growth);
            }
        };
        add(self, AttributeScope::Resource, &span.resource.attributes);
        add(
            self,
            AttributeScope::Instrumentation,
            &span.scope.attributes,
        );
        add(self, AttributeScope::Span, &span.attributes);
        for event in &span.events {
            add(self, AttributeScope::Event, &event.attributes);
        }
        for link in &span.links {
            add(self, AttributeScope::Link, &link.attributes);
        }
    }

    /// Adds everything from `other`, within this catalog's bounds; `other`'s truncation
    /// flags carry over. Returns what was copied.
    pub fn merge(&mut self, other: &AttributeCatalog) -> CatalogGrowth {
        let limits = self.limits;
        let mut growth = CatalogGrowth::default();
        for (scope, other_scope) in &other.scopes {
            let scope_catalog = self.scopes.entry(*scope).or_default();
            scope_catalog.keys_truncated |= other_scope.keys_truncated;
            for (key, other_values) in &other_scope.keys {
                let values = match scope_catalog.keys.get_mut(key) {
                    Some(values) => values,
                    None => {
                        if scope_catalog.keys.len() >= limits.max_keys_per_scope {
                            scope_catalog.keys_truncated = true;
                            continue;
                        }
                        growth.strings += 1;
                        growth.bytes += key.len();
                        scope_catalog.keys.entry(key.clone()).or_default()
                    }
                };
                values.truncated |= other_values.truncated;
                for value in other_values.iter() {
                    insert_value(values, value, &limits, &mut growth);
                }
            }
        }
        growth
    }
}

fn insert_value(
    values: &mut KeyValues,
    value: CatalogValueRef<'_>,
    limits: &CatalogLimits,
    growth: &mut CatalogGrowth,
) {
    match value {
        CatalogValueRef::TooLong => values.truncated = true,
        CatalogValueRef::Untyped => {}
        _ if values.contains(value) => {}
        _ if values.len() >= limits.max_values_per_key => values.truncated = true,
        _ => {
            if values.add(value) {
                match value {
                    CatalogValueRef::String(text) => {
                        growth.strings += 1;
                        growth.bytes += text.len();
                    }
                    _ => growth.values += 1,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
