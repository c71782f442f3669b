//! Tenant ids (`X-Scope-OrgID`).

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Why a string is not a valid tenant id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantError {
    /// Multi-tenancy is on and the request named no tenant.
    #[error("no tenant id: the X-Scope-OrgID header is required when multi-tenancy is enabled")]
    Missing,
    /// Empty ids are not allowed.
    #[error("tenant id is empty")]
    Empty,
    /// Over the maximum length.
    #[error("tenant id is longer than {0} characters")]
    TooLong(usize),
    /// A character outside `[A-Za-z0-9!_.*'()-]` (Loki's and Tempo's safe set).
    #[error("tenant id {0:?} has a character outside [A-Za-z0-9!_.*'()-]")]
    BadCharacter(String),
    /// `.` and `..` would name directories.
    #[error("tenant id {0:?} is reserved")]
    Reserved(String),
}

/// A validated tenant id: safe to use as a path segment or object-store prefix.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TenantId(Arc<str>);

impl TenantId {
    /// The most characters a tenant id may have.
    pub const MAX_LENGTH: usize = 150;

    /// The tenant used when multi-tenancy is off.
    pub fn single() -> Self {
        TenantId(Arc::from("single-tenant"))
    }

    /// Validates `text` as a tenant id.
    pub fn parse(text: &str) -> Result<Self, TenantError> {
        if text.is_empty() {
            return Err(TenantError::Empty);
        }
        if text.len() > Self::MAX_LENGTH {
            return Err(TenantError::TooLong(Self::MAX_LENGTH));
        }
        if text == "." || text == ".." {
            return Err(TenantError::Reserved(text.to_owned()));
        }
        let allowed = |c: char| c.is_ascii_alphanumeric() || "!-_.*'()".contains(c);
        if !text.chars().all(allowed) {
            return Err(TenantError::BadCharacter(text.to_owned()));
        }
        Ok(TenantId(Arc::from(text)))
    }

    /// The tenant of a request: the `X-Scope-OrgID` header value when multi-tenancy is
    /// on (required then), else [`TenantId::single`] whatever the header says.
    pub fn from_header(
        multitenancy_enabled: bool,
        header: Option<&str>,
    ) -> Result<Self, TenantError> {
        if !multitenancy_enabled {
            return Ok(TenantId::single());
        }
        match header {
            Some(value) => TenantId::parse(value.trim()),
            None => Err(TenantError::Missing),
        }
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantId({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_like_tenants_are_rejected() {
        assert!(TenantId::parse("team-a").is_ok());
        assert_eq!(TenantId::parse(""), Err(TenantError::Empty));
        assert!(matches!(
            TenantId::parse(".."),
            Err(TenantError::Reserved(_))
        ));
        assert!(matches!(
            TenantId::parse("a/b"),
            Err(TenantError::BadCharacter(_))
        ));
    }
}
