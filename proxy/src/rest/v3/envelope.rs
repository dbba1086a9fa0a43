//! Confluent's v3 resource envelopes: `kind`, `metadata` (`self`, `resource_name` as a CRN,
//! `next` on lists), `related` links, all built from the URL clients reach the proxy at; the
//! cluster check every cluster-scoped path makes; and v3's JSON bodies (`application/json`).

use std::sync::Arc;

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::http::error::ApiError;
use crate::kafka::admin::ClusterInfo;
use crate::rest::base_url::base_url;
use crate::rest::{body, App};
use crate::schema::ordered_json::Ordered;

/// Links of one cluster's resources: `{base}/v3/clusters/{cluster_id}/...`.
pub struct Links {
    base: String,
    pub cluster_id: String,
}

impl Links {
    /// The links of `cluster_id` as the client reached the proxy.
    pub fn new(app: &App, headers: &HeaderMap, cluster_id: &str) -> Result<Links, ApiError> {
        Ok(Links {
            base: base_url(app, headers)?,
            cluster_id: cluster_id.to_string(),
        })
    }

    /// Links under `base` (unit tests of the entities).
    #[cfg(test)]
    pub fn for_tests(base: &str, cluster_id: &str) -> Links {
        Links {
            base: base.to_string(),
            cluster_id: cluster_id.to_string(),
        }
    }

    /// `{base}/v3/clusters` (without a cluster).
    pub fn clusters(&self) -> String {
        format!("{}/v3/clusters", self.base)
    }

    /// `{base}/v3/clusters/{cluster_id}` followed by `path` segments.
    pub fn url(&self, path: &[&str]) -> String {
        let mut url = format!("{}/v3/clusters/{}", self.base, self.cluster_id);
        for segment in path {
            url.push('/');
            url.push_str(segment);
        }
        url
    }

    /// `crn:///kafka={cluster_id}` followed by `type=id` pairs.
    pub fn crn(&self, pairs: &[(&str, &str)]) -> String {
        let mut crn = format!("crn:///kafka={}", self.cluster_id);
        for (kind, id) in pairs {
            crn.push_str(&format!("/{kind}={id}"));
        }
        crn
    }
}

/// `{"related": url}`.
pub fn related(url: String) -> Value {
    json!({ "related": url })
}

/// JSON whose objects keep their members in the order given (Confluent's field order: `kind`,
/// `metadata`, then the resource's own fields), which `serde_json::Map` does not.
#[derive(Debug, Clone)]
pub enum Json {
    Plain(Value),
    Object(Vec<(&'static str, Json)>),
    Array(Vec<Json>),
}

impl From<Value> for Json {
    fn from(value: Value) -> Self {
        Json::Plain(value)
    }
}

impl Json {
    /// As the registry's order-keeping JSON ([`Ordered`]), whose compact writer is shared.
    fn ordered(&self) -> Ordered {
        match self {
            Json::Plain(value) => {
                serde_json::from_value(value.clone()).expect("JSON values convert")
            }
            Json::Object(members) => Ordered::Object(
                members
                    .iter()
                    .map(|(name, value)| (name.to_string(), value.ordered()))
                    .collect(),
            ),
            Json::Array(items) => Ordered::Array(items.iter().map(Json::ordered).collect()),
        }
    }

    /// The JSON text.
    pub fn text(&self) -> String {
        self.ordered().compact()
    }
}

/// An entity: `kind`, `metadata` (`self`, `resource_name`), then `fields` in order.
pub fn resource(
    kind: &str,
    self_url: String,
    crn: String,
    fields: Vec<(&'static str, Value)>,
) -> Json {
    let mut members = vec![
        ("kind", Json::Plain(json!(kind))),
        (
            "metadata",
            Json::Object(vec![
                ("self", Json::Plain(json!(self_url))),
                ("resource_name", Json::Plain(json!(crn))),
            ]),
        ),
    ];
    members.extend(
        fields
            .into_iter()
            .map(|(name, value)| (name, Json::Plain(value))),
    );
    Json::Object(members)
}

/// A list: `kind`, `metadata` (`self`, `next` always null), `data`.
pub fn list(kind: &str, self_url: String, data: Vec<Json>) -> Json {
    Json::Object(vec![
        ("kind", Json::Plain(json!(kind))),
        (
            "metadata",
            Json::Object(vec![
                ("self", Json::Plain(json!(self_url))),
                ("next", Json::Plain(Value::Null)),
            ]),
        ),
        ("data", Json::Array(data)),
    ])
}

/// A v3 answer (`application/json`).
pub fn answer(status: StatusCode, value: &Json) -> Response {
    answer_text(status, value.text())
}

/// A v3 answer of JSON text written elsewhere.
pub fn answer_text(status: StatusCode, text: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], text).into_response()
}

/// 200 with `value`.
pub fn ok(value: &Json) -> Response {
    answer(StatusCode::OK, value)
}

/// The cluster, if `cluster_id` is its id; else Confluent's 404 "Cluster X cannot be found.".
pub async fn cluster(app: &Arc<App>, cluster_id: &str) -> Result<ClusterInfo, ApiError> {
    let cluster = app.kafka.admin.cluster().await?;
    if cluster.id != cluster_id {
        return Err(ApiError::cluster_not_found(cluster_id));
    }
    Ok(cluster)
}

/// A v3 body's media type: `application/json` (or a `+json` type), or none; else 415.
pub fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
        let essence = ct.split(';').next().unwrap_or("").trim();
        if essence != "application/json" && !essence.ends_with("+json") {
            return Err(ApiError::unsupported_media_type());
        }
    }
    Ok(())
}

/// A v3 request body: JSON (`application/json`, or no Content-Type), parsed into `T`; an empty
/// body is None. Malformed JSON or a wrong field is 400 with the parser's text.
pub async fn json_body<T: DeserializeOwned>(
    app: &App,
    headers: &HeaderMap,
    request: axum::body::Body,
) -> Result<Option<T>, ApiError> {
    require_json(headers)?;
    let bytes = body::read(headers, request, &app.config).await?;
    if body::is_empty(&bytes) {
        return Ok(None);
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| ApiError::bad_request(e.to_string()))
}
