//! The Confluent REST Proxy v2 HTTP API: the router, one file per API area, the single error type
//! and content negotiation.

pub mod body;
pub mod consumers;
pub mod error;
pub mod negotiate;
pub mod produce;
mod schemas;
pub mod topics;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use serde::de::DeserializeOwned;
use tower_http::catch_panic::CatchPanicLayer;

use crate::config::Config;
use crate::kafka::Kafka;
use error::ApiError;

/// Shared state of every request.
pub struct App {
    pub config: Config,
    pub kafka: Kafka,
    /// The schemas of the schema formats: the built-in registry, or a remote one.
    pub schemas: Option<crate::schema::client::Schemas>,
}

impl App {
    /// Scheme and authority clients use to reach us: `advertised.listeners`, else `host.name`,
    /// else the request's Host.
    pub fn base_url(&self, headers: &HeaderMap) -> String {
        if let Some(url) = &self.config.advertised_url {
            return url.clone();
        }
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        match (&self.config.host_name, host) {
            // Confluent: host.name with the listener's port, or no port if the request had none.
            (Some(name), Some(h)) => match h.rsplit_once(':') {
                Some((_, port)) if port.parse::<u16>().is_ok() => {
                    format!("http://{name}:{}", self.config.listeners[0].port())
                }
                _ => format!("http://{name}"),
            },
            (Some(name), None) => format!("http://{name}"),
            (None, Some(h)) => format!("http://{h}"),
            (None, None) => format!("http://localhost:{}", self.config.listeners[0].port()),
        }
    }
}

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
    // Layers, innermost first. Handlers read bodies themselves under `request.body.max.bytes` so
    // that an oversized body gets Confluent's JSON 413, hence axum's own limit is off. Outermost,
    // a panic anywhere becomes a JSON 500 instead of a dropped connection.
    r.fallback(|| async { ApiError::not_found() })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(DefaultBodyLimit::disable())
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::internal().into_response()
        }))
        .with_state(app)
}
