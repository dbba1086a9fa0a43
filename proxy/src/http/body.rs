//! Reading a request body under the bounds a client cannot lift: at most
//! `request.body.max.bytes` (an announced Content-Length over it is refused before anything is
//! read) within `http.request.body.timeout.ms` in all, so a slow drip cannot hold the connection
//! and its buffer. Both front ends read bodies here; the answers are [`ApiError`]s.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap};
use http_body_util::{BodyExt, Limited};

use super::error::ApiError;
use crate::config::Config;

/// How much of a body is read, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub max_bytes: usize,
    pub timeout: Duration,
}

impl BodyLimits {
    /// `request.body.max.bytes` and `http.request.body.timeout.ms`.
    pub fn of(config: &Config) -> Self {
        BodyLimits {
            max_bytes: config.rest.request_body_max_bytes,
            timeout: Duration::from_millis(config.http.body_read_timeout_ms),
        }
    }
}

/// Reads the whole body: 413 past the size limit, 408 past the time limit, 400 when the
/// connection fails while reading.
pub async fn read(headers: &HeaderMap, body: Body, limits: BodyLimits) -> Result<Bytes, ApiError> {
    read_body(headers, body, limits.max_bytes, limits.timeout)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge => ApiError::payload_too_large(limits.max_bytes),
            BodyError::TimedOut => ApiError::body_timeout(limits.timeout),
            BodyError::Failed(e) => ApiError::bad_request(format!("cannot read request body: {e}")),
        })
}

/// Why a request body was not read.
#[derive(Debug)]
enum BodyError {
    /// Announced (Content-Length) or found larger than the limit.
    TooLarge,
    /// Not received within the time limit.
    TimedOut,
    /// The connection failed while reading.
    Failed(String),
}

/// Reads a whole request body of at most `max_bytes`, in at most `timeout` in all (a slow drip
/// cannot hold the connection and its buffer). An announced Content-Length over the limit is
/// refused before anything is read.
async fn read_body(
    headers: &HeaderMap,
    body: Body,
    max_bytes: usize,
    timeout: Duration,
) -> Result<Bytes, BodyError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max_bytes as u64) {
        return Err(BodyError::TooLarge);
    }
    let reading = Limited::new(body, max_bytes).collect();
    match tokio::time::timeout(timeout, reading).await {
        Err(_) => Err(BodyError::TimedOut),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e))
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(BodyError::TooLarge)
        }
        Ok(Err(e)) => Err(BodyError::Failed(e.to_string())),
    }
}
