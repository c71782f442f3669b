//! Retention: which chunks are old enough to delete, by Loki's rules.
//!
//! A chunk of a tenant's stream is kept for the period of the stream's retention rule:
//! of the `retention_stream` rules whose selector matches the stream, the one with the
//! highest priority, and of equal priorities the shortest period; with no rule matching,
//! the tenant's `retention_period`. A tenant's entry in `retention_overrides` replaces the
//! global `retention_period` and (when given) the global rules. A period of 0 keeps the
//! stream forever. A chunk expires once its newest entry is older than the period (Loki
//! judges a chunk by its `Through` time the same way).
//!
//! Deleting: the chunk leaves the in-memory index and its meta file is deleted at once
//! (queries started after that do not see it, a restart does not load it); the chunk file
//! itself is deleted on a later pass, once queries that may still read it have had
//! `query_timeout` to finish. A chunk file left without its meta by a restart is deleted
//! when the store opens, once it is an hour old.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::LabelSet;
use crate::logql::{Matcher, parse_selector};

/// Chunks deleted by retention, by tenant.
pub const RETENTION_DELETED_CHUNKS_TOTAL: &str = "weft_logs_retention_deleted_chunks_total";
/// Bytes of log lines in the chunks deleted by retention, by tenant.
pub const RETENTION_DELETED_LINE_BYTES_TOTAL: &str = "weft_logs_retention_deleted_line_bytes_total";

/// One `retention_stream` rule, as Loki writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamRetention {
    /// A LogQL stream selector, e.g. `{namespace="dev"}`.
    pub selector: String,
    /// Of several matching rules the highest priority wins.
    #[serde(default)]
    pub priority: u32,
    /// How long the matching streams are kept; 0 keeps them forever.
    #[serde(with = "humantime_serde")]
    pub period: Duration,
}

/// A tenant's retention, replacing the global settings it gives.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantRetention {
    /// Replaces `logs.retention_period` for the tenant.
    #[serde(default, with = "humantime_serde")]
    pub retention_period: Option<Duration>,
    /// Replaces `logs.retention_stream` for the tenant.
    #[serde(default)]
    pub retention_stream: Option<Vec<StreamRetention>>,
}

#[derive(Debug, Clone)]
struct Rule {
    matchers: Vec<Matcher>,
    priority: u32,
    period: Duration,
}

#[derive(Debug, Clone)]
struct Policy {
    period: Duration,
    rules: Vec<Rule>,
}

impl Policy {
    fn period_for(&self, labels: &LabelSet) -> Duration {
        let mut chosen: Option<&Rule> = None;
        for rule in &self.rules {
            if !rule.matchers.iter().all(|matcher| matcher.matches(labels)) {
                continue;
            }
            let better = match chosen {
                None => true,
                Some(best) => {
                    rule.priority > best.priority
                        || (rule.priority == best.priority && rule.period < best.period)
                }
            };
            if better {
                chosen = Some(rule);
            }
        }
        chosen.map_or(self.period, |rule| rule.period)
    }
}

/// The retention rules of every tenant, parsed once.
#[derive(Debug, Clone)]
pub struct RetentionRules {
    global: Policy,
    tenants: HashMap<String, Policy>,
}

fn parse_rules(rules: &[StreamRetention], key: &str) -> Result<Vec<Rule>, String> {
    rules
        .iter()
        .enumerate()
        .map(|(index, rule)| {
            let matchers = parse_selector(&rule.selector).map_err(|error| {
                format!(
                    "{key}[{index}].selector {:?} is not a stream selector: {error}",
                    rule.selector
                )
            })?;
            Ok(Rule {
                matchers,
                priority: rule.priority,
                period: rule.period,
            })
        })
        .collect()
}

impl RetentionRules {
    /// Parses the settings; errors name the key and the selector.
    pub fn new(
        retention_period: Duration,
        retention_stream: &[StreamRetention],
        overrides: &BTreeMap<String, TenantRetention>,
    ) -> Result<Self, String> {
        let global = Policy {
            period: retention_period,
            rules: parse_rules(retention_stream, "logs.retention_stream")?,
        };
        let mut tenants = HashMap::new();
        for (tenant, retention) in overrides {
            let rules = match &retention.retention_stream {
                Some(rules) => parse_rules(
                    rules,
                    &format!("logs.retention_overrides.{tenant}.retention_stream"),
                )?,
                None => global.rules.clone(),
            };
            tenants.insert(
                tenant.clone(),
                Policy {
                    period: retention.retention_period.unwrap_or(global.period),
                    rules,
                },
            );
        }
        Ok(RetentionRules { global, tenants })
    }

    /// How long the stream `labels` of `tenant` is kept; zero means forever.
    pub fn period_for(&self, tenant: &str, labels: &LabelSet) -> Duration {
        self.tenants
            .get(tenant)
            .unwrap_or(&self.global)
            .period_for(labels)
    }

    /// True when a chunk of that stream whose newest entry is at `max_time_unix_nanos`
    /// is past its retention at `now_unix_nanos`.
    pub fn expired(
        &self,
        tenant: &str,
        labels: &LabelSet,
        max_time_unix_nanos: i64,
        now_unix_nanos: i64,
    ) -> bool {
        let period = self.period_for(tenant, labels);
        if period.is_zero() {
            return false;
        }
        let period_nanos = i64::try_from(period.as_nanos()).unwrap_or(i64::MAX);
        now_unix_nanos.saturating_sub(max_time_unix_nanos) > period_nanos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn labels(text: &str) -> LabelSet {
        LabelSet::parse(text).expect("labels")
    }

    fn rule(selector: &str, priority: u32, hours: u64) -> StreamRetention {
        StreamRetention {
            selector: selector.to_owned(),
            priority,
            period: HOUR * hours as u32,
        }
    }

    #[test]
    fn the_highest_priority_then_the_shortest_period_wins() {
        let rules = RetentionRules::new(
            HOUR * 744,
            &[
                rule(r#"{namespace="dev"}"#, 1, 24),
                rule(r#"{namespace="dev", app="audit"}"#, 2, 2000),
                rule(r#"{namespace=~"dev|test"}"#, 1, 12),
                rule(r#"{app="nothing"}"#, 9, 1),
            ],
            &BTreeMap::new(),
        )
        .expect("rules");
        let period = |text: &str| rules.period_for("fake", &labels(text)).as_secs() / 3600;
        assert_eq!(period(r#"{namespace="prod", app="api"}"#), 744, "no rule");
        assert_eq!(
            period(r#"{namespace="dev", app="api"}"#),
            12,
            "equal priority: shorter"
        );
        assert_eq!(period(r#"{namespace="test"}"#), 12);
        assert_eq!(
            period(r#"{namespace="dev", app="audit"}"#),
            2000,
            "higher priority"
        );
    }

    #[test]
    fn tenant_overrides_replace_what_they_give() {
        let mut overrides = BTreeMap::new();
        overrides.insert(
            String::from("short"),
            TenantRetention {
                retention_period: Some(HOUR),
                retention_stream: None,
            },
        );
        overrides.insert(
            String::from("forever"),
            TenantRetention {
                retention_period: Some(Duration::ZERO),
                retention_stream: Some(Vec::new()),
            },
        );
        let rules = RetentionRules::new(HOUR * 24, &[rule(r#"{level="debug"}"#, 1, 2)], &overrides)
            .expect("rules");
        let debug = labels(r#"{level="debug"}"#);
        let info = labels(r#"{level="info"}"#);
        assert_eq!(rules.period_for("other", &info), HOUR * 24);
        assert_eq!(rules.period_for("short", &info), HOUR);
        assert_eq!(
            rules.period_for("short", &debug),
            HOUR * 2,
            "global rules kept"
        );
        assert_eq!(rules.period_for("forever", &debug), Duration::ZERO);
        let now = 1_000 * 3_600_000_000_000;
        let hour = 3_600_000_000_000;
        assert!(rules.expired("short", &info, now - hour - 1, now));
        assert!(
            !rules.expired("short", &info, now - hour, now),
            "exactly the period is kept"
        );
        assert!(!rules.expired("forever", &info, i64::MIN, now));
    }

    #[test]
    fn a_bad_selector_is_named() {
        let error =
            RetentionRules::new(HOUR, &[rule(r#"{namespace="dev""#, 1, 1)], &BTreeMap::new())
                .expect_err("bad selector");
        assert!(
            error.contains("logs.retention_stream[0].selector"),
            "{error}"
        );
    }
}
