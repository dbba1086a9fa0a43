//! The request-level behaviour both HTTP front ends share, as one tower layer stack
//! ([`stack`]): JSON answers for unknown paths and methods, the body bounds the body reader
//! applies, the cap on requests in progress, panic catching and request tracing. Every answer
//! it makes is an [`ApiError`] in the API's own media type.

use std::any::Any;
use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use tokio::sync::Semaphore;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::{DefaultMakeSpan, DefaultOnFailure, DefaultOnResponse, TraceLayer};
use tracing::Level;

use super::body::BodyLimits;
use super::error::{Api, ApiError};

/// What the stack needs to know of its API and server.
#[derive(Debug, Clone, Copy)]
pub struct StackSettings {
    /// Whose error shape and media type the stack answers in.
    pub api: Api,
    /// `request.body.max.bytes` and `http.request.body.timeout.ms`, for the body reader.
    pub body: BodyLimits,
    /// `http.max.concurrent.requests`.
    pub max_concurrent_requests: usize,
}

/// Wraps an API's routes in the shared stack. Layers, innermost first:
/// - unknown paths and methods are JSON 404 and 405 answers, not axum's plain text;
/// - axum's own body limit is off: bodies are read by [`super::body::read`] under
///   `request.body.max.bytes` and `http.request.body.timeout.ms` (installed here as a request
///   extension, with the [`Api`]), so that an oversized or slow body gets a JSON 413 or 408;
/// - at most `http.max.concurrent.requests` run at once; more are answered 429 at once rather
///   than queued behind them;
/// - a panic anywhere inside becomes a JSON 500 instead of a dropped connection;
/// - outermost, each request runs in a `DEBUG` span (method, URI), its answer is logged at
///   `DEBUG` and a 5xx at `WARN`, so that what the layers above refused is traced too.
///
/// There is deliberately no whole-request timeout: the waits on a client are bounded where they
/// happen (headers by the server, `http.header.read.timeout.ms`; bodies by the body reader), and
/// the waits on Kafka by their own settings (`consumer.request.timeout.ms` for a long-poll read,
/// the producer's delivery timeout), so a blanket limit could only cut a long poll that is
/// working as meant. Connection-level bounds are in [`super::server`].
pub fn stack<S: Clone + Send + Sync + 'static>(
    routes: Router<S>,
    settings: StackSettings,
) -> Router<S> {
    let api = settings.api;
    let concurrency = ConcurrencyLimit {
        permits: Arc::new(Semaphore::new(settings.max_concurrent_requests)),
        api,
    };
    routes
        .fallback(move || async move { ApiError::not_found().for_api(api) })
        .method_not_allowed_fallback(
            move || async move { ApiError::method_not_allowed().for_api(api) },
        )
        .layer(DefaultBodyLimit::disable())
        .layer(Extension(settings.body))
        .layer(Extension(api))
        .layer(axum::middleware::from_fn_with_state(
            concurrency,
            limit_concurrency,
        ))
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
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::DEBUG))
                .on_request(())
                .on_response(DefaultOnResponse::new().level(Level::DEBUG))
                .on_body_chunk(())
                .on_eos(())
                .on_failure(DefaultOnFailure::new().level(Level::WARN)),
        )
}

/// Requests in progress on one server.
#[derive(Clone)]
struct ConcurrencyLimit {
    permits: Arc<Semaphore>,
    api: Api,
}

/// Refuses a request at once when the server already has its maximum in progress.
async fn limit_concurrency(
    State(limit): State<ConcurrencyLimit>,
    request: Request,
    next: Next,
) -> Result<Response, Infallible> {
    let Ok(_permit) = limit.permits.clone().try_acquire_owned() else {
        return Ok(ApiError::too_busy().for_api(limit.api).into_response());
    };
    Ok(next.run(request).await)
}

/// The text of a panic's payload, for the log.
fn panic_message(panic: &Box<dyn Any + Send>) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}
