//! The request-level behaviour both HTTP front ends share, as one tower layer stack
//! ([`stack`]): JSON answers for unknown paths and methods, the body bounds the body reader
//! applies, the cap on requests in progress, panic catching and request tracing. Every answer
//! it makes is an [`ApiError`] in the API's own media type. One layer must see a request before
//! the router does, so it wraps the router from outside ([`before_routing`]): trailing slashes.

use std::any::Any;
use std::convert::Infallible;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::normalize_path::NormalizePath;
use tower_http::trace::{DefaultMakeSpan, DefaultOnFailure, DefaultOnResponse, TraceLayer};
use tracing::Level;

use super::body::BodyLimits;
use super::edge::Edge;
use super::error::{Api, ApiError, REGISTRY_JSON};

/// What the stack needs to know of its API and server.
#[derive(Debug, Clone, Copy)]
pub struct StackSettings {
    /// Whose error shape and media type the stack answers in.
    pub api: Api,
    /// `request.body.max.bytes` and `http.request.body.timeout.ms`, for the body reader.
    pub body: BodyLimits,
    /// `http.max.concurrent.requests`.
    pub max_concurrent_requests: usize,
    /// `http.access.log`: a line per request.
    pub access_log: bool,
}

/// Wraps an API's routes in the shared stack. Layers, innermost first:
/// - unknown paths and methods are JSON 404 and 405 answers, not axum's plain text;
/// - axum's own body limit is off: bodies are read by [`super::body::read`] under
///   `request.body.max.bytes` and `http.request.body.timeout.ms` (installed here as a request
///   extension, with the [`Api`]), so that an oversized or slow body gets a JSON 413 or 408;
/// - at most `http.max.concurrent.requests` run at once; more are answered 429 at once rather
///   than queued behind them ([`super::concurrency`]);
/// - the registry (only) answers in the JSON media type the `Accept` header prefers
///   ([`registry_media_type`]);
/// - the edge's access control, when configured ([`super::edge`]): per-principal rate limits
///   (429 with `Retry-After`), which need the principal authentication found; outside them BASIC
///   authentication (401 otherwise); and outside it CORS, so that a preflight (which carries no
///   credentials) is answered, and a refusal still carries the CORS headers a browser needs to
///   read it;
/// - a panic anywhere inside becomes a JSON 500 instead of a dropped connection;
/// - metrics by route and status, and the access log (`http.access.log`): a line per request,
///   panics' 500s included ([`super::observe`]);
/// - outermost, each request runs in a `DEBUG` span (method, URI), its answer is logged at
///   `DEBUG` and a 5xx at `WARN`, so that what the layers above refused is traced too.
///
/// The layers are composed into one service and added to the router once: axum boxes the routes
/// again for every `Router::layer`, and each box costs a clone and an allocation per request,
/// which single-record produce measured (docs/performance-log.md, "The per-request path").
///
/// There is deliberately no whole-request timeout: the waits on a client are bounded where they
/// happen (headers by the server, `http.header.read.timeout.ms`; bodies by the body reader), and
/// the waits on Kafka by their own settings (`consumer.request.timeout.ms` for a long-poll read,
/// the producer's delivery timeout), so a blanket limit could only cut a long poll that is
/// working as meant. Connection-level bounds are in [`super::server`].
pub fn stack<S: Clone + Send + Sync + 'static>(
    routes: Router<S>,
    settings: StackSettings,
    edge: &Edge,
) -> Router<S> {
    let api = settings.api;
    let layers = ServiceBuilder::new()
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::DEBUG))
                .on_request(())
                .on_response(DefaultOnResponse::new().level(Level::DEBUG))
                .on_body_chunk(())
                .on_eos(())
                .on_failure(DefaultOnFailure::new().level(Level::WARN)),
        )
        .layer(super::observe::ObserveLayer::new(api, settings.access_log))
        .layer(CatchPanicLayer::custom(
            move |panic: Box<dyn Any + Send>| {
                tracing::error!(
                    panic = panic_message(&panic),
                    ?api,
                    "a request handler panicked"
                );
                ApiError::internal().for_api(api).into_response()
            },
        ))
        .option_layer(edge.cors.clone())
        .option_layer(edge.auth.as_ref().map(|auth| {
            axum::middleware::from_fn_with_state((auth.clone(), api), super::edge::authenticate)
        }))
        .option_layer(edge.rate_limit.as_ref().map(|limit| {
            axum::middleware::from_fn_with_state((limit.clone(), api), super::rate_limit::limit)
        }))
        .option_layer(
            (api == Api::SchemaRegistry).then(|| axum::middleware::from_fn(answer_media_type)),
        )
        .layer(super::concurrency::LimitLayer::new(
            settings.max_concurrent_requests,
            api,
        ))
        .layer(Extension(api))
        .layer(Extension(settings.body))
        .layer(DefaultBodyLimit::disable());
    routes
        .fallback(move || async move { ApiError::not_found().for_api(api) })
        .method_not_allowed_fallback(
            move || async move { ApiError::method_not_allowed().for_api(api) },
        )
        .layer(layers)
}

/// The layer that runs before routing, around a router that already has its [`stack`] (layers
/// added with `Router::layer` run only once a route matched): a trailing slash is dropped, so
/// `POST /consumers/G/` and `GET /topics/` reach `/consumers/G` and `/topics`, as Confluent's
/// (Jersey's) router accepts them. `/` itself stays `/`.
pub fn before_routing(router: Router) -> NormalizePath<Router> {
    NormalizePath::trim_trailing_slash(router)
}

/// The registry's answers carry the media type `Accept` prefers among the three its JSON is
/// served as (Confluent's resources produce all three): `application/vnd.schemaregistry.v1+json`
/// (also for `*/*`, no `Accept`, or nothing acceptable), `application/vnd.schemaregistry+json`
/// and `application/json`. Answers of the v2 API are negotiated by their handlers.
async fn answer_media_type(request: Request, next: Next) -> Result<Response, Infallible> {
    let chosen = registry_media_type(
        request
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok()),
    );
    let mut response = next.run(request).await;
    let ours = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v == REGISTRY_JSON);
    if ours && chosen != REGISTRY_JSON {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(chosen));
    }
    Ok(response)
}

/// The registry media type an `Accept` value prefers: the highest client quality, then the most
/// specific match, then the server's order (v1, unversioned, plain JSON), as Jersey chooses.
pub fn registry_media_type(accept: Option<&str>) -> &'static str {
    const OFFERED: [&str; 3] = [
        REGISTRY_JSON,
        "application/vnd.schemaregistry+json",
        "application/json",
    ];
    let Some(accept) = accept else {
        return REGISTRY_JSON;
    };
    let mut best: Option<((u32, u8, u8), &'static str)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let quality = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if quality <= 0.0 {
            continue;
        }
        for (rank, offered) in OFFERED.iter().enumerate() {
            let specificity = if media == *offered {
                2
            } else if media == "application/*" {
                1
            } else if media == "*/*" {
                0
            } else {
                continue;
            };
            let score = ((quality * 1000.0) as u32, specificity, 2 - rank as u8);
            if best.is_none_or(|(b, _)| score > b) {
                best = Some((score, offered));
            }
        }
    }
    best.map_or(REGISTRY_JSON, |(_, m)| m)
}

/// The text of a panic's payload, for the log.
fn panic_message(panic: &Box<dyn Any + Send>) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

#[cfg(test)]
mod tests {
    use super::registry_media_type as chosen;

    #[test]
    fn registry_answers_in_the_preferred_json_type() {
        let v1 = "application/vnd.schemaregistry.v1+json";
        assert_eq!(chosen(None), v1);
        assert_eq!(chosen(Some("*/*")), v1);
        assert_eq!(chosen(Some("application/json")), "application/json");
        assert_eq!(
            chosen(Some("application/vnd.schemaregistry+json")),
            "application/vnd.schemaregistry+json"
        );
        assert_eq!(
            chosen(Some("application/json, */*;q=0.1")),
            "application/json"
        );
        assert_eq!(
            chosen(Some(
                "application/json;q=0.5, application/vnd.schemaregistry.v1+json"
            )),
            v1
        );
        assert_eq!(chosen(Some("text/html")), v1);
        assert_eq!(chosen(Some("application/*")), v1);
    }
}
