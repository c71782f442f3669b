//! HTTP service discovery responses (`discovery/http/http.go`): what the
//! request carries and how a response becomes target groups. Polling every
//! `refresh_interval`, keeping the previous groups on failure and retracting
//! groups whose index disappeared are the caller's job.

use std::time::Duration;

use crate::target::{TargetGroup, finish_groups};

/// Label HTTP SD adds to every group: the URL the group came from.
pub const URL_LABEL: &str = "__meta_url";

/// Why an HTTP SD response was not used. Messages are Prometheus's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HttpSdError {
    /// The status was not 200.
    #[error("server returned HTTP status {0}")]
    Status(u16),
    /// The content type is not `application/json` (optionally `; charset=utf-8`).
    #[error("unsupported content type {0:?}")]
    ContentType(String),
    /// The body is not a JSON list of target groups.
    #[error("{0}")]
    Body(String),
}

/// Headers Prometheus sends with each poll: `Accept: application/json` and
/// `X-Prometheus-Refresh-Interval-Seconds` (seconds, shortest decimal form).
pub fn request_headers(refresh_interval: Duration) -> [(&'static str, String); 2] {
    [
        ("Accept", String::from("application/json")),
        (
            "X-Prometheus-Refresh-Interval-Seconds",
            format!("{}", refresh_interval.as_secs_f64()),
        ),
    ]
}

/// Whether a `Content-Type` header value is accepted: Prometheus's
/// `^(?i:application/json(;\s*charset=("utf-8"|utf-8))?)$` after trimming.
pub fn is_accepted_content_type(value: &str) -> bool {
    let lower = value.trim().to_ascii_lowercase();
    let Some(rest) = lower.strip_prefix("application/json") else {
        return false;
    };
    if rest.is_empty() {
        return true;
    }
    let Some(parameter) = rest.strip_prefix(';') else {
        return false;
    };
    matches!(
        parameter.trim_start_matches([' ', '\t', '\n', '\u{c}', '\r']),
        "charset=utf-8" | "charset=\"utf-8\""
    )
}

/// Turns a response into target groups: status must be 200, the content type
/// JSON, the body a JSON list of `{targets, labels}` (unknown keys and `null`
/// items rejected). Each group gets source `<url>:<index>` and `__meta_url`.
pub fn parse_response(
    url: &str,
    status: u16,
    content_type: &str,
    body: &[u8],
) -> Result<Vec<TargetGroup>, HttpSdError> {
    if status != 200 {
        return Err(HttpSdError::Status(status));
    }
    if !is_accepted_content_type(content_type) {
        return Err(HttpSdError::ContentType(content_type.to_owned()));
    }
    let groups: Option<Vec<Option<TargetGroup>>> =
        serde_json::from_slice(body).map_err(|error| HttpSdError::Body(error.to_string()))?;
    finish_groups(groups.unwrap_or_default(), url, URL_LABEL).map_err(HttpSdError::Body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_follow_prometheus() {
        for accepted in [
            "application/json",
            " Application/JSON ",
            "application/json; charset=utf-8",
            "application/json;charset=\"UTF-8\"",
        ] {
            assert!(is_accepted_content_type(accepted), "{accepted}");
        }
        for rejected in [
            "",
            "text/plain",
            "application/json; charset=latin1",
            "application/jsonx",
            "application/json; x=y",
        ] {
            assert!(!is_accepted_content_type(rejected), "{rejected}");
        }
    }

    #[test]
    fn responses_become_groups_with_url_source_and_label() {
        let url = "http://sd.internal/targets";
        let groups = parse_response(
            url,
            200,
            "application/json",
            br#"[{"targets": ["a:1"], "labels": {"k": "v"}}, {"targets": ["b:2"]}]"#,
        )
        .expect("valid");
        assert_eq!(groups[1].source, "http://sd.internal/targets:1");
        assert_eq!(groups[1].labels[URL_LABEL], url);
        assert_eq!(groups[0].labels["k"], "v");
        assert!(
            parse_response(url, 200, "application/json", b"[]")
                .expect("empty")
                .is_empty()
        );
        assert_eq!(
            parse_response(url, 404, "application/json", b"[]"),
            Err(HttpSdError::Status(404))
        );
        assert!(matches!(
            parse_response(url, 200, "text/html", b"[]"),
            Err(HttpSdError::ContentType(_))
        ));
        for body in [
            &b"[null]"[..],
            b"{}",
            br#"[{"targets": [], "x": 1}]"#,
            b"[1",
        ] {
            assert!(matches!(
                parse_response(url, 200, "application/json", body),
                Err(HttpSdError::Body(_))
            ));
        }
    }

    #[test]
    fn refresh_interval_header_is_in_seconds() {
        let headers = request_headers(Duration::from_secs(60));
        assert_eq!(headers[1].1, "60");
        assert_eq!(request_headers(Duration::from_millis(1500))[1].1, "1.5");
    }
}
