//! weft's web UI, served by the binary at `/` on the main HTTP port.
//!
//! The pages are plain HTML, CSS and JavaScript modules written for weft, embedded at
//! compile time (no Node step, no files to install) and served with a strong `ETag` so
//! a browser revalidates them cheaply. They read the same APIs as every other client:
//! Tempo's search, tag and trace endpoints and weft's analytics endpoints. Routes are
//! client-side (`/#/trace/<id>`, `/#/search?q=...`), so every view is a deep link.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// One embedded file.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

/// An embedded file of `assets/` with its content type.
macro_rules! asset {
    ($path:literal, $content_type:expr) => {
        Asset {
            path: $path,
            content_type: $content_type,
            body: include_str!(concat!("../assets/", $path)),
        }
    };
}

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";

const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("app.js", JAVASCRIPT),
    asset!("api.js", JAVASCRIPT),
    asset!("search.js", JAVASCRIPT),
    asset!("trace.js", JAVASCRIPT),
    asset!("waterfall.js", JAVASCRIPT),
    asset!("analysis.js", JAVASCRIPT),
    asset!("red.js", JAVASCRIPT),
    asset!("map.js", JAVASCRIPT),
    asset!("logs.js", JAVASCRIPT),
];

/// `GET /` (the shell) and `GET /ui/<file>` (its modules and style).
pub fn router() -> Router {
    Router::new()
        .route("/", get(|headers: HeaderMap| async move { serve("index.html", &headers) }))
        .route(
            "/ui/{file}",
            get(
                |axum::extract::Path(file): axum::extract::Path<String>, headers: HeaderMap| async move {
                    serve(&file, &headers)
                },
            ),
        )
}

fn serve(path: &str, headers: &HeaderMap) -> Response {
    let Some(asset) = ASSETS.iter().find(|asset| asset.path == path) else {
        return (StatusCode::NOT_FOUND, format!("no UI file {path:?}\n")).into_response();
    };
    let etag = etag(asset.body);
    let cached = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|tag| tag.trim() == etag));
    let mut response = if cached {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        Response::new(Body::from(asset.body))
    };
    let response_headers = response.headers_mut();
    response_headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response_headers.insert(header::ETAG, value);
    }
    response
}

/// A strong validator from the content: FNV-1a, 64 bits, quoted.
fn etag(body: &str) -> String {
    let hash = body.bytes().fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("\"{hash:016x}\"")
}

#[cfg(test)]
mod tests {
    use axum::body::to_bytes;
    use axum::http::Request;
    use tower::ServiceExt as _;

    use super::*;

    async fn get(path: &str, if_none_match: Option<&str>) -> Response {
        let mut request = Request::get(path);
        if let Some(tag) = if_none_match {
            request = request.header(header::IF_NONE_MATCH, tag);
        }
        router()
            .oneshot(request.body(Body::empty()).expect("request"))
            .await
            .expect("answer")
    }

    #[tokio::test]
    async fn the_shell_and_every_module_it_imports_are_served() {
        let shell = get("/", None).await;
        assert_eq!(shell.status(), StatusCode::OK);
        assert_eq!(
            shell.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        let html = to_bytes(shell.into_body(), usize::MAX).await.expect("body");
        let html = String::from_utf8(html.to_vec()).expect("utf-8");
        assert!(html.contains("/ui/app.js"));
        for asset in ASSETS {
            let response = get(&format!("/ui/{}", asset.path), None).await;
            assert_eq!(response.status(), StatusCode::OK, "{}", asset.path);
            // Every relative import of a module names an embedded file.
            for line in asset
                .body
                .lines()
                .filter(|line| line.starts_with("import "))
            {
                let imported = line
                    .rsplit("\"./")
                    .next()
                    .and_then(|rest| rest.split('"').next())
                    .expect("import path");
                assert!(
                    ASSETS.iter().any(|other| other.path == imported),
                    "{} imports {imported}, which is not embedded",
                    asset.path
                );
            }
        }
        assert_eq!(
            get("/ui/missing.js", None).await.status(),
            StatusCode::NOT_FOUND
        );
    }

    #[tokio::test]
    async fn a_matching_etag_is_answered_not_modified() {
        let first = get("/ui/app.js", None).await;
        let tag = first.headers()[header::ETAG]
            .to_str()
            .expect("ascii")
            .to_owned();
        assert_eq!(
            get("/ui/app.js", Some(&tag)).await.status(),
            StatusCode::NOT_MODIFIED
        );
        assert_eq!(
            get("/ui/app.js", Some("\"0000\"")).await.status(),
            StatusCode::OK
        );
    }
}
