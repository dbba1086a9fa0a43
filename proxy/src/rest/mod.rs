//! The Confluent REST Proxy v2 HTTP API: the router, one file per API area, the single error type
//! and content negotiation.

pub mod body;
pub mod consumers;
pub mod error;
pub mod guard;
pub mod negotiate;
pub mod produce;
pub mod produce_request;
mod schemas;
pub mod topics;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRequestParts, Path};
use axum::http::request::Parts;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use serde::de::DeserializeOwned;
use tower_http::catch_panic::CatchPanicLayer;

use crate::http_server::{limit_concurrency, ConcurrencyLimit};
pub use crate::state::App;
use error::ApiError;

/// Path parameters. A segment that does not decode (e.g. invalid UTF-8) is a 404 in Confluent's
/// error shape rather than axum's plain-text rejection.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ApiPath(value)),
            Err(_) => Err(ApiError::not_found()),
        }
    }
}

/// A `{partition}` path segment; anything but an int is 404, as Jersey answers.
pub fn parse_partition(segment: &str) -> Result<i32, ApiError> {
    segment.parse().map_err(|_| ApiError::not_found())
}

/// The v2 routes.
pub fn router(app: Arc<App>) -> Router {
    const INSTANCE: &str = "/consumers/{group}/instances/{instance}";
    let r = Router::new()
        .route("/", get(topics::root).post(topics::root))
        .route("/topics", get(topics::list))
        .route("/topics/{topic}", get(topics::get).post(produce::to_topic))
        .route("/topics/{topic}/partitions", get(topics::partitions))
        .route(
            "/topics/{topic}/partitions/{partition}",
            get(topics::partition).post(produce::to_partition),
        )
        .route(
            "/topics/{topic}/partitions/{partition}/offsets",
            get(topics::offsets),
        )
        .route("/brokers", get(topics::brokers))
        .route("/consumers/{group}", post(consumers::create))
        .route(INSTANCE, axum::routing::delete(consumers::delete))
        .route(
            &format!("{INSTANCE}/subscription"),
            post(consumers::subscribe)
                .get(consumers::subscription)
                .delete(consumers::unsubscribe),
        )
        .route(
            &format!("{INSTANCE}/assignments"),
            post(consumers::assign).get(consumers::assignments),
        )
        .route(&format!("{INSTANCE}/positions"), post(consumers::seek))
        .route(
            &format!("{INSTANCE}/positions/beginning"),
            post(consumers::seek_beginning),
        )
        .route(
            &format!("{INSTANCE}/positions/end"),
            post(consumers::seek_end),
        )
        .route(
            &format!("{INSTANCE}/offsets"),
            post(consumers::commit).get(consumers::committed),
        )
        .route(&format!("{INSTANCE}/records"), get(consumers::records));
    // Layers, innermost first:
    // - handlers read bodies themselves under `request.body.max.bytes` and
    //   `http.request.body.timeout.ms` (rest/body.rs), so that an oversized or slow body gets
    //   Confluent's JSON 413/408; hence axum's own limit is off;
    // - at most `http.max.concurrent.requests` run at once, more are answered 429 at once;
    // - outermost, a panic anywhere becomes a JSON 500 instead of a dropped connection.
    // Connection-level bounds (connections, header and idle timeouts) are in `http_server`.
    let concurrency = ConcurrencyLimit::new(app.config.http.max_concurrent_requests, || {
        ApiError::too_busy().into_response()
    });
    r.fallback(|| async { ApiError::not_found() })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn_with_state(
            concurrency,
            limit_concurrency,
        ))
        .layer(CatchPanicLayer::custom(
            |panic: Box<dyn std::any::Any + Send>| {
                tracing::error!(panic = panic_message(&panic), "a request handler panicked");
                ApiError::internal().into_response()
            },
        ))
        .with_state(app)
}

/// The text of a panic's payload, for the log.
pub fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}
