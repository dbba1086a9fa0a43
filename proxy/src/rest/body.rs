//! Request bodies: reading under the size limit and JSON parsing with Confluent's error mapping.

use axum::body::{Body, Bytes};
use axum::http::HeaderMap;
use serde::Deserialize;

use crate::config::Config;
use crate::http::body::BodyLimits;
use crate::http::error::ApiError;

/// Reads the whole body ([`crate::http::body::read`]): 413 past `request.body.max.bytes`
/// (checked against Content-Length first), 408 past `http.request.body.timeout.ms`.
pub async fn read(headers: &HeaderMap, body: Body, config: &Config) -> Result<Bytes, ApiError> {
    crate::http::body::read(headers, body, BodyLimits::of(config)).await
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
