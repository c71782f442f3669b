//! Attribute references: scopes, intrinsics and their printed forms.

use std::fmt::{self, Display, Formatter};

use super::lexer::is_attribute_char;

/// Where a named attribute is looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Scope {
    /// `.x`: the span's attributes, then its resource's.
    None,
    Resource,
    Span,
    Event,
    Link,
    Instrumentation,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Scope::None => "",
            Scope::Resource => "resource",
            Scope::Span => "span",
            Scope::Event => "event",
            Scope::Link => "link",
            Scope::Instrumentation => "instrumentation",
        }
    }
}

/// Values TraceQL reads from the span model itself rather than from attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Intrinsic {
    Duration,
    Name,
    Status,
    StatusMessage,
    Kind,
    ChildCount,
    RootServiceName,
    RootName,
    TraceDuration,
    NestedSetLeft,
    NestedSetRight,
    NestedSetParent,
    EventName,
    EventTimeSinceStart,
    LinkSpanId,
    LinkTraceId,
    InstrumentationName,
    InstrumentationVersion,
    Parent,
    TraceId,
    SpanId,
    ParentId,
}

impl Intrinsic {
    /// Tempo's name for the intrinsic, as printed and as the key in search results.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Intrinsic::Duration => "duration",
            Intrinsic::Name => "name",
            Intrinsic::Status => "status",
            Intrinsic::StatusMessage => "statusMessage",
            Intrinsic::Kind => "kind",
            Intrinsic::ChildCount => "span:childCount",
            Intrinsic::RootServiceName => "rootServiceName",
            Intrinsic::RootName => "rootName",
            Intrinsic::TraceDuration => "traceDuration",
            Intrinsic::NestedSetLeft => "nestedSetLeft",
            Intrinsic::NestedSetRight => "nestedSetRight",
            Intrinsic::NestedSetParent => "nestedSetParent",
            Intrinsic::EventName => "event:name",
            Intrinsic::EventTimeSinceStart => "event:timeSinceStart",
            Intrinsic::LinkSpanId => "link:spanID",
            Intrinsic::LinkTraceId => "link:traceID",
            Intrinsic::InstrumentationName => "instrumentation:name",
            Intrinsic::InstrumentationVersion => "instrumentation:version",
            Intrinsic::Parent => "parent",
            Intrinsic::TraceId => "trace:id",
            Intrinsic::SpanId => "span:id",
            Intrinsic::ParentId => "span:parentID",
        }
    }
}

/// An attribute or intrinsic reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Attribute {
    pub scope: Scope,
    /// `parent.` prefix (parses; rejected by validation like Tempo).
    pub parent: bool,
    pub name: String,
    pub intrinsic: Option<Intrinsic>,
}

impl Attribute {
    pub(crate) fn named(scope: Scope, parent: bool, name: String) -> Self {
        Attribute {
            scope,
            parent,
            name,
            intrinsic: None,
        }
    }

    pub(crate) fn intrinsic(intrinsic: Intrinsic) -> Self {
        Attribute {
            scope: Scope::None,
            parent: false,
            name: intrinsic.as_str().to_string(),
            intrinsic: Some(intrinsic),
        }
    }

    /// The key Tempo gives this attribute in search results (the name without scope).
    pub(crate) fn result_key(&self) -> &str {
        match self.intrinsic {
            Some(intrinsic) => intrinsic.as_str(),
            None => &self.name,
        }
    }
}

impl Display for Attribute {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let mut scopes = Vec::new();
        if self.parent {
            scopes.push("parent");
        }
        if self.scope != Scope::None {
            scopes.push(self.scope.as_str());
        }
        let name = self.result_key();
        let mut prefix = String::new();
        if !scopes.is_empty() {
            prefix = scopes.join(".") + ".";
        } else if self.intrinsic.is_none() {
            prefix.push('.');
        }
        // Quoted when the bare name would not lex back: empty, special characters, or a
        // leading digit (`.7` reads as a float).
        let needs_quotes = name.is_empty()
            || name.starts_with(|c: char| c.is_ascii_digit())
            || name.chars().any(|c| !is_attribute_char(c) || c == '"');
        if needs_quotes {
            let escaped = name.replace('\\', "\\\\").replace('"', "\\\"");
            write!(f, "{prefix}\"{escaped}\"")
        } else {
            write!(f, "{prefix}{name}")
        }
    }
}
