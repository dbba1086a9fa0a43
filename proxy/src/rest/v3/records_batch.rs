//! `POST /v3/clusters/{cluster_id}/topics/{topic}/records:batch`: up to
//! `api.v3.produce.batch.maximum.entries` records, each with an `id`, answered 207 with the
//! delivered ones (`successes`) and the refused ones (`failures`), each list in request order.
//! The valid entries are produced as one call (one Kafka batch per partition).

use std::collections::HashSet;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Extension;
use serde_json::{Map, Value};

use super::envelope::{answer_text, json_body};
use super::error::V3Result;
use super::produce_record;
use super::records::{group_of, target, Reports};
use super::schema_data::Resolver;
use crate::http::error::ApiError;
use crate::http::principal::KafkaCredentials;
use crate::rest::{ApiPath, App};

/// Confluent's 422/42208 for a batch that breaks a rule (`Errors.java`).
fn invalid(message: &str) -> ApiError {
    ApiError::batch_invalid(message)
}

/// An entry id: a string of 1 to 80 characters from `[0-9a-zA-Z-_]`.
fn valid_id(id: &Value) -> Option<String> {
    let id = id.as_str()?;
    let ok = (1..=80).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then(|| id.to_string())
}

/// POST .../topics/{topic}/records:batch
pub async fn produce_batch(
    State(app): State<Arc<App>>,
    ApiPath((cluster_id, topic)): ApiPath<(String, String)>,
    credentials: Option<Extension<KafkaCredentials>>,
    headers: HeaderMap,
    body: Body,
) -> V3Result {
    crate::rest::guard::topic_allowed(&app.config, &topic)?;
    let request: Option<Map<String, Value>> = json_body(&app, &headers, body).await?;
    let Some(mut request) = request else {
        return Err(invalid("Request body is empty. Data is required.").into());
    };
    let entries = match request.remove("entries") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(entries)) => entries,
        Some(_) => return Err(ApiError::bad_request("entries must be an array").into()),
    };
    if let Some(field) = request.keys().next() {
        return Err(ApiError::unprocessable(format!("Unrecognized field: {field}")).into());
    }
    // Confluent's order: ids while parsing, then distinct, empty, too many.
    let mut parsed = Vec::with_capacity(entries.len());
    for entry in entries {
        let Value::Object(mut fields) = entry else {
            return Err(invalid("Batch entry identifier is not a valid string.").into());
        };
        let id = fields
            .remove("id")
            .as_ref()
            .and_then(valid_id)
            .ok_or_else(|| invalid("Batch entry identifier is not a valid string."))?;
        parsed.push((id, fields));
    }
    let mut seen = HashSet::new();
    if !parsed.iter().all(|(id, _)| seen.insert(id.clone())) {
        return Err(invalid("Batch entry IDs are not distinct.").into());
    }
    if parsed.is_empty() {
        return Err(invalid("Empty batch.").into());
    }
    if parsed.len() > app.config.rest.v3_batch_max_entries {
        return Err(invalid("Too many entries in batch.").into());
    }
    let (c, producer) = target(&app, &cluster_id, &topic, credentials).await?;
    let mut records = Vec::new();
    let mut refused = Vec::new();
    let mut ids = Vec::with_capacity(parsed.len());
    for (id, fields) in parsed {
        ids.push(id);
        match produce_record::parse(Value::Object(fields).to_string().as_bytes()) {
            Ok(r) => records.push(r),
            Err(e) => refused.push((records.len(), Some(e))),
        }
    }
    let mut resolver = Resolver::new(app.schemas.as_ref(), &topic);
    let group = group_of(&app, &producer, &topic, &mut resolver, records, refused).await;
    let outcomes = match group.produced {
        Some(handle) => handle.await.unwrap_or_default(),
        None => Vec::new(),
    };
    // `{"successes":[{"id",...}],"failures":[{"id","error_code","message"}]}`, in order.
    let mut reports = Reports::new(&c, &topic);
    let (mut successes, mut failures) = (String::new(), String::new());
    for (id, slot) in ids.iter().zip(&group.slots) {
        let outcome = Reports::outcome(slot, &outcomes);
        let list = if outcome.is_ok() {
            &mut successes
        } else {
            &mut failures
        };
        if !list.is_empty() {
            list.push(',');
        }
        list.push_str("{\"id\":");
        list.push_str(&Value::from(id.as_str()).to_string());
        list.push(',');
        match outcome {
            Ok(delivered) => reports.delivered(list, slot, delivered),
            Err(e) => reports.error(list, &e),
        }
        list.push('}');
    }
    Ok(answer_text(
        StatusCode::MULTI_STATUS,
        format!("{{\"successes\":[{successes}],\"failures\":[{failures}]}}"),
    ))
}
