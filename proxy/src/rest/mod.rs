//! The Confluent REST Proxy v2 HTTP API: the router and one file per API area, with content
//! negotiation. Errors, the layer stack and the extractors are `http/`'s, shared with the
//! Schema Registry's API.

pub mod base_url;
pub mod body;
pub mod consumers;
pub mod guard;
pub mod health;
mod instance;
pub mod negotiate;
pub mod produce;
pub mod produce_request;
mod schemas;
pub mod topics;
pub mod v3;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;

use crate::http::body::BodyLimits;
pub use crate::http::extract::ApiPath;
use crate::http::layers::{self, StackSettings};
use crate::http::{Api, ApiError};
pub use crate::state::App;

/// A `{partition}` path segment; anything but an int is 404, as Jersey answers.
pub fn parse_partition(segment: &str) -> Result<i32, ApiError> {
    segment.parse().map_err(|_| ApiError::not_found())
}

/// The v2 routes.
pub fn router(app: Arc<App>, edge: &crate::http::edge::Edge) -> Router {
    const INSTANCE: &str = "/consumers/{group}/instances/{instance}";
    let r = Router::new()
        .route("/", get(topics::root).post(topics::root))
        .route("/healthy", get(health::healthy))
        .route("/ready", get(health::ready))
        .route("/metrics", get(health::metrics))
        .route(
            "/openapi.json",
            get(|| async { axum::Json(crate::openapi::document(Api::KafkaV2)) }),
        )
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
        .route(&format!("{INSTANCE}/records"), get(consumers::records))
        .merge(v3::routes());
    // Cross-cutting behaviour (404/405 answers, body bounds, concurrency cap, panics, tracing)
    // is the layer stack both HTTP front ends share: see `http::layers::stack`.
    let settings = StackSettings {
        api: Api::KafkaV2,
        body: BodyLimits::of(&app.config),
        max_concurrent_requests: app.config.http.max_concurrent_requests,
        access_log: app.config.http.access_log,
    };
    layers::stack(r, settings, edge).with_state(app)
}
