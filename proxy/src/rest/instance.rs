//! The consumer instance a request names (`/consumers/{group}/instances/{instance}/...`), as
//! extractors: every instance route but DELETE (which removes it) gets its instance here, or a
//! JSON 404 (40403).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use serde::de::DeserializeOwned;

use super::{body, negotiate, ApiPath, App};
use crate::http::error::ApiError;
use crate::kafka::consumer::Instance;

type InstancePath = ApiPath<(String, String)>;

/// A request to a consumer instance without a body.
pub struct ConsumerInstance {
    pub instance: Arc<Instance>,
    pub group: String,
    pub name: String,
}

impl FromRequestParts<Arc<App>> for ConsumerInstance {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let ApiPath((group, name)) = InstancePath::from_request_parts(parts, app).await?;
        let instance = lookup(app, &group, &name)?;
        Ok(ConsumerInstance {
            instance,
            group,
            name,
        })
    }
}

/// A request to a consumer instance with an optional JSON control body (None when empty). The
/// body is negotiated, read and parsed before the instance is looked up, so a bad body is
/// answered before an unknown instance, as Confluent (Jersey) answers.
pub struct InstanceWith<T> {
    pub instance: Arc<Instance>,
    pub body: Option<T>,
}

impl<T: DeserializeOwned> FromRequest<Arc<App>> for InstanceWith<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, app: &Arc<App>) -> Result<Self, ApiError> {
        let (mut parts, payload) = req.into_parts();
        let ApiPath((group, name)) = InstancePath::from_request_parts(&mut parts, app).await?;
        let body = control_body(app, &parts.headers, payload).await?;
        let instance = lookup(app, &group, &name)?;
        Ok(InstanceWith { instance, body })
    }
}

/// Reads and parses an optional control body; None when empty.
pub(super) async fn control_body<T: DeserializeOwned>(
    app: &App,
    headers: &HeaderMap,
    payload: Body,
) -> Result<Option<T>, ApiError> {
    negotiate::control_body(headers)?;
    let bytes = body::read(headers, payload, &app.config).await?;
    if body::is_empty(&bytes) {
        return Ok(None);
    }
    body::parse_json(&bytes).map(Some)
}

fn lookup(app: &App, group: &str, name: &str) -> Result<Arc<Instance>, ApiError> {
    app.kafka
        .consumers
        .get(group, name)
        .ok_or_else(ApiError::instance_not_found)
}
