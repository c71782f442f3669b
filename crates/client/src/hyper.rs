//! The scrape endpoint as a hyper 1 [`Service`] (feature `hyper`).

use std::convert::Infallible;
use std::future::{Ready, ready};

use bytes::Bytes;
use http::header::{ALLOW, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::service::Service;

use crate::scrape::{DEFAULT_SCRAPE_PATH, ScrapeHandler};

/// A hyper service answering `GET` on one path with a [`ScrapeHandler`]: 404 for other
/// paths, 405 for other methods. The request body is ignored. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ScrapeService {
    handler: ScrapeHandler,
    path: String,
}

impl ScrapeService {
    /// Serves `handler` on [`DEFAULT_SCRAPE_PATH`].
    pub fn new(handler: ScrapeHandler) -> Self {
        Self::at(DEFAULT_SCRAPE_PATH, handler)
    }

    /// Serves `handler` on `path` (compared exactly with the request path).
    pub fn at(path: impl Into<String>, handler: ScrapeHandler) -> Self {
        Self {
            handler,
            path: path.into(),
        }
    }

    /// The response to `request`.
    pub fn respond<B>(&self, request: &Request<B>) -> Response<Full<Bytes>> {
        if request.uri().path() != self.path {
            return plain_response(StatusCode::NOT_FOUND, "not found");
        }
        if request.method() != Method::GET {
            let mut response = plain_response(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET"));
            return response;
        }
        self.handler
            .scrape(request.uri().query().unwrap_or(""))
            .into_http_response()
            .map(Full::new)
    }
}

impl<B> Service<Request<B>> for ScrapeService {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn call(&self, request: Request<B>) -> Self::Future {
        ready(Ok(self.respond(&request)))
    }
}

fn plain_response(status: StatusCode, message: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(message.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
