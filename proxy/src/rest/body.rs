//! Request bodies: reading under the size limit and JSON parsing with Confluent's error mapping.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap};
use http_body_util::{BodyExt, Limited};
use serde::Deserialize;

use super::error::ApiError;
use crate::config::Config;

/// Reads the whole body, failing with 413 past `request.body.max.bytes` (checked against
/// Content-Length first, so an oversized upload is refused before it is read) and with 408 when
/// it takes longer than `http.request.body.timeout.ms` in all (a slow drip cannot hold the
/// connection and its buffer).
pub async fn read(headers: &HeaderMap, body: Body, config: &Config) -> Result<Bytes, ApiError> {
    let limit = config.request_body_max_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::payload_too_large(limit));
    }
    let timeout = Duration::from_millis(config.http_body_read_timeout_ms);
    let collected = tokio::time::timeout(timeout, Limited::new(body, limit).collect())
        .await
        .map_err(|_| ApiError::body_timeout(timeout))?;
    match collected {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err)
            if err
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(ApiError::payload_too_large(limit))
        }
        Err(err) => Err(ApiError::bad_request(format!(
            "cannot read request body: {err}"
        ))),
    }
}

/// True when the body holds nothing but whitespace or a JSON `null`.
pub fn is_empty(bytes: &[u8]) -> bool {
    let trimmed = bytes.trim_ascii();
    trimmed.is_empty() || trimmed == b"null"
}

/// Parses JSON. Syntax errors are 400; an unknown field is 422 "Unrecognized field: X" and any
/// other mapping error is 400, as Confluent's Jackson mappers answer.
pub fn parse_json<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(json_error)
}

/// [`parse_json`]'s mapping of a serde_json error.
pub fn json_error(err: serde_json::Error) -> ApiError {
    let msg = err.to_string();
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let field = rest.split('`').next().unwrap_or_default();
        return ApiError::unprocessable(format!("Unrecognized field: {field}"));
    }
    ApiError::bad_request(msg)
}
