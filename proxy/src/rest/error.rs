//! The one HTTP error type. It renders Confluent's `{"error_code","message"}` body and owns the
//! mapping from internal errors to status and code. Internal causes are logged, not leaked.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::formats::FormatError;
use crate::kafka::{self, ErrorClass};

/// Content type of every v2 error body.
pub const V2_JSON: &str = "application/vnd.kafka.v2+json";

/// An error answer in Confluent's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub error_code: u32,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, error_code: u32, message: impl Into<String>) -> Self {
        ApiError {
            status,
            error_code,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            400,
            format!("Bad Request: {message}"),
        )
    }
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, 422, message)
    }
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, 404, "HTTP 404 Not Found")
    }
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            405,
            "HTTP 405 Method Not Allowed",
        )
    }
    pub fn topic_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, 40401, "Topic not found.")
    }
    pub fn partition_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, 40402, "Partition not found.")
    }
    pub fn instance_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, 40403, "Consumer instance not found.")
    }
    pub fn instance_exists() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            40902,
            "Consumer with specified consumer ID already exists in the specified consumer group.",
        )
    }
    pub fn illegal_state(message: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            40903,
            format!("Illegal state: {message}"),
        )
    }
    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            415,
            "HTTP 415 Unsupported Media Type",
        )
    }
    /// 406 without a body, as Confluent (Jersey) answers an unacceptable `Accept`.
    pub fn not_acceptable() -> Self {
        Self::new(StatusCode::NOT_ACCEPTABLE, 0, "")
    }
    pub fn format_mismatch() -> Self {
        Self::new(
            StatusCode::NOT_ACCEPTABLE,
            40601,
            "The requested embedded data format does not match the deserializer for this consumer instance",
        )
    }
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            413,
            format!(
                "Request body is larger than the limit of {limit} bytes (request.body.max.bytes)"
            ),
        )
    }
    pub fn body_timeout(timeout: std::time::Duration) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            408,
            format!(
                "The request body was not received within {} ms (http.request.body.timeout.ms)",
                timeout.as_millis()
            ),
        )
    }
    /// A server already handling `http.max.concurrent.requests` requests.
    pub fn too_busy() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            429,
            "Too many requests in progress on this server (http.max.concurrent.requests); retry shortly",
        )
    }
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            500,
            "Internal Server Error",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.error_code == 0 {
            return self.status.into_response();
        }
        let body = serde_json::json!({ "error_code": self.error_code, "message": self.message });
        let mut resp = (self.status, body.to_string()).into_response();
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(V2_JSON));
        resp
    }
}

/// A conversion failure of a produce request's records.
impl From<FormatError> for ApiError {
    fn from(err: FormatError) -> Self {
        match err {
            FormatError::SchemaRegistryRequired => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, 42206, err.to_string())
            }
            FormatError::InvalidBase64(_)
            | FormatError::InvalidJson(_)
            | FormatError::Schema(_) => ApiError::bad_request(err),
            // Only consume decodes records with fetched schemas.
            FormatError::SchemaNotFetched(_) => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, 500, err.to_string())
            }
        }
    }
}

impl From<kafka::Error> for ApiError {
    fn from(err: kafka::Error) -> Self {
        match &err {
            kafka::Error::TopicNotFound(_) => return ApiError::topic_not_found(),
            kafka::Error::PartitionNotFound(..) => return ApiError::partition_not_found(),
            kafka::Error::IllegalState(msg) => return ApiError::illegal_state(msg),
            // Kafka's InvalidTopicException, which Confluent maps to 40002.
            kafka::Error::InvalidTopic(..) | kafka::Error::InvalidPattern(..) => {
                return ApiError::new(StatusCode::BAD_REQUEST, 40002, err.to_string())
            }
            kafka::Error::InvalidOffset(offset) => {
                return ApiError::unprocessable(format!(
                    "Offset {offset} is out of range: it must be between 0 and {}",
                    i64::MAX - 1
                ))
            }
            kafka::Error::InvalidConfig(msg) => {
                return ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    42204,
                    format!("Invalid consumer configuration: {msg}"),
                )
            }
            _ => {}
        }
        let (status, code, message) = match err.class() {
            ErrorClass::Authentication => (StatusCode::UNAUTHORIZED, 40101, err.to_string()),
            ErrorClass::Authorization => (StatusCode::FORBIDDEN, 40301, err.to_string()),
            ErrorClass::UnknownTopicOrPartition => (
                StatusCode::NOT_FOUND,
                40403,
                "This server does not host this topic-partition.".to_string(),
            ),
            ErrorClass::IllegalState => {
                (StatusCode::CONFLICT, 40903, format!("Illegal state: {err}"))
            }
            ErrorClass::BrokerNotAvailable => {
                tracing::warn!(error = %err, "Kafka brokers not available");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    50302,
                    "Broker not available".to_string(),
                )
            }
            ErrorClass::Retriable => {
                tracing::warn!(error = %err, "retriable Kafka error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    50003,
                    format!("Kafka retriable error: {err}"),
                )
            }
            ErrorClass::Other => {
                tracing::error!(error = %err, "Kafka error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    50002,
                    format!("Kafka error: {err}"),
                )
            }
        };
        ApiError::new(status, code, message)
    }
}
