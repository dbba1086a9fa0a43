//! Operations endpoints on the REST listeners: `GET /metrics` (Prometheus text, [`crate::telemetry`]),
//! and the probes `GET /healthy` (the process serves requests) and
//! `GET /ready` (Kafka answers a metadata request within `produce.metadata.timeout.ms`; the
//! built-in registry, when on, has read its topic, which it does before any listener opens; the
//! MQTT sources' connections are listed).
//! Both answer without credentials (BASIC does not apply to them), so that orchestrators can
//! probe a secured proxy.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::App;
use crate::http::error::V2_JSON;

fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    (status, [(header::CONTENT_TYPE, V2_JSON)], body.to_string()).into_response()
}

/// GET /healthy: 200 while the process serves requests.
pub async fn healthy() -> Response {
    answer(StatusCode::OK, json!({"status": "UP"}))
}

/// GET /ready: 200 when Kafka answers; 503 naming the bootstrap servers and the error otherwise.
/// With MQTT sources, the body says which are connected, and why the others are not (a
/// remote broker being down does not make the proxy unready: its other work goes on).
pub async fn ready(State(app): State<Arc<App>>) -> Response {
    match app.kafka.metadata.brokers().await {
        Ok(brokers) => {
            let mut body = json!({"status": "READY", "kafka": {"brokers": brokers.len()}});
            if !app.config.mqtt_sources.is_empty() {
                body["mqtt_sources"] = json!(app.sources.snapshot());
            }
            answer(StatusCode::OK, body)
        }
        Err(err) => answer(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({
                "error_code": 503,
                "message": format!(
                    "Kafka at {} is not reachable: {err}",
                    app.config.bootstrap_servers
                ),
            }),
        ),
    }
}

/// GET /metrics: every metric, in Prometheus' text format.
pub async fn metrics() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::telemetry::render(),
    )
        .into_response()
}
