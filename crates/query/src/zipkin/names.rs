//! Name lists for `/services`, `/spans`, `/remoteServices` and the autocomplete endpoints,
//! derived from the store's [`NameIndex`].
//!
//! Zipkin's names are lower case, so names are lower-cased here and names that differ only
//! in case collapse into one. Every list is sorted and has no duplicates.

use std::collections::{BTreeMap, BTreeSet};

use weft_model::NameIndex;

use super::matcher::equals_lowercase;

/// All local service names, lower case, sorted.
pub fn service_names(index: &NameIndex) -> Vec<String> {
    let lowered: BTreeSet<String> = index
        .services
        .iter()
        .map(|name| name.to_lowercase())
        .collect();
    lowered.into_iter().collect()
}

/// Span names recorded by `service_name` (compared case-insensitively), lower case,
/// sorted; empty when the service is unknown or the name is empty.
pub fn span_names(index: &NameIndex, service_name: &str) -> Vec<String> {
    names_for_service(&index.span_names, service_name)
}

/// Remote services called by `service_name` (compared case-insensitively), lower case,
/// sorted; empty when the service is unknown or the name is empty.
pub fn remote_service_names(index: &NameIndex, service_name: &str) -> Vec<String> {
    names_for_service(&index.remote_services, service_name)
}

/// Values seen for the tag `key`, sorted, or empty when `key` is not one of
/// `autocomplete_keys` (only configured keys are served, as in Zipkin). Values keep their
/// case.
pub fn autocomplete_values(
    index: &NameIndex,
    key: &str,
    autocomplete_keys: &[String],
) -> Vec<String> {
    if !autocomplete_keys.iter().any(|configured| configured == key) {
        return Vec::new();
    }
    index
        .attribute_values
        .get(key)
        .map(|values| values.iter().cloned().collect())
        .unwrap_or_default()
}

fn names_for_service(map: &BTreeMap<String, BTreeSet<String>>, service_name: &str) -> Vec<String> {
    let wanted = service_name.to_lowercase();
    if wanted.is_empty() {
        return Vec::new();
    }
    let mut names = BTreeSet::new();
    for (service, values) in map {
        if equals_lowercase(service, &wanted) {
            names.extend(values.iter().map(|value| value.to_lowercase()));
        }
    }
    names.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> NameIndex {
        let mut index = NameIndex::default();
        index.services.extend([
            "Frontend".to_owned(),
            "backend".to_owned(),
            "frontend".to_owned(),
        ]);
        index.span_names.insert(
            "Frontend".to_owned(),
            BTreeSet::from(["GET /".to_owned(), "post".to_owned()]),
        );
        index
            .span_names
            .insert("frontend".to_owned(), BTreeSet::from(["get /".to_owned()]));
        index.attribute_values.insert(
            "env".to_owned(),
            BTreeSet::from(["Prod".to_owned(), "dev".to_owned()]),
        );
        index
    }

    #[test]
    fn names_are_lowercase_sorted_and_deduplicated() {
        assert_eq!(service_names(&index()), ["backend", "frontend"]);
        assert_eq!(span_names(&index(), "FRONTEND"), ["get /", "post"]);
        assert!(span_names(&index(), "").is_empty());
        assert!(remote_service_names(&index(), "frontend").is_empty());
    }

    #[test]
    fn autocomplete_serves_only_configured_keys() {
        let keys = vec!["env".to_owned()];
        assert_eq!(autocomplete_values(&index(), "env", &keys), ["Prod", "dev"]);
        assert!(autocomplete_values(&index(), "env", &[]).is_empty());
        assert!(autocomplete_values(&index(), "other", &keys).is_empty());
    }
}
