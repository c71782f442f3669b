//! The `ingress` role's groups (`discovery/kubernetes/ingress.go`).

use weft_scrape_config::TargetGroup;

use super::{ADDRESS, LabelSet, add_object_meta_labels, meta};
use crate::discovery::kubernetes::objects::{Ingress, IngressRule};

/// `ingress/<namespace>/<name>`.
fn ingress_source(namespace: &str, name: &str) -> String {
    format!("ingress/{namespace}/{name}")
}

/// A rule's paths, `""` read as `/`; a rule without `http` stands for `/`.
fn ingress_rule_paths(rule: &IngressRule) -> Vec<String> {
    match &rule.http {
        None => vec![String::from("/")],
        Some(http) => http
            .paths
            .iter()
            .map(|path| {
                if path.path.is_empty() {
                    String::from("/")
                } else {
                    path.path.clone()
                }
            })
            .collect(),
    }
}

/// Whether `host` is `pattern`, or matches a `*.rest` pattern label for label.
fn matches_hostname_pattern(pattern: &str, host: &str) -> bool {
    if pattern == host {
        return true;
    }
    let pattern_labels: Vec<&str> = pattern.split('.').collect();
    let host_labels: Vec<&str> = host.split('.').collect();
    pattern_labels[0] == "*"
        && pattern_labels.len() == host_labels.len()
        && pattern_labels[1..] == host_labels[1..]
}

/// The ingress role's group: one target per rule and path at the rule's host,
/// `https` when a TLS entry's hosts match the rule's host.
pub(crate) fn ingress_group(ingress: &Ingress) -> TargetGroup {
    let metadata = &ingress.metadata;
    let mut labels = LabelSet::new();
    labels.insert(meta("namespace"), metadata.namespace.clone());
    if let Some(class) = &ingress.spec.ingress_class_name {
        labels.insert(meta("ingress_class_name"), class.clone());
    }
    add_object_meta_labels(&mut labels, metadata, "ingress");
    let mut group = TargetGroup {
        source: ingress_source(&metadata.namespace, &metadata.name),
        labels,
        targets: Vec::new(),
    };
    for rule in &ingress.spec.rules {
        let secure = ingress
            .spec
            .tls
            .iter()
            .flat_map(|tls| &tls.hosts)
            .any(|pattern| matches_hostname_pattern(pattern, &rule.host));
        let scheme = if secure { "https" } else { "http" };
        for path in ingress_rule_paths(rule) {
            let mut target = LabelSet::new();
            target.insert(String::from(ADDRESS), rule.host.clone());
            target.insert(meta("ingress_scheme"), String::from(scheme));
            target.insert(meta("ingress_host"), rule.host.clone());
            target.insert(meta("ingress_path"), path);
            group.targets.push(target);
        }
    }
    group
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_host_patterns_match_one_label() {
        assert!(matches_hostname_pattern(
            "*.example.com",
            "shop.example.com"
        ));
        assert!(!matches_hostname_pattern(
            "*.example.com",
            "a.shop.example.com"
        ));
        assert!(!matches_hostname_pattern("shop.*.com", "shop.example.com"));
        assert!(matches_hostname_pattern("", ""));
    }
}
