//! The one HTTP error type of both front ends, the REST Proxy API and the Schema Registry API.
//! It renders Confluent's `{"error_code","message"}` body (in the API's media type) and owns
//! every mapping to a status and an error code: of requests, of Kafka errors, of record formats,
//! of the registry's errors, and of the records of a produce answer. Internal causes are logged,
//! not leaked.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::formats::FormatError;
use crate::kafka::{self, ErrorClass};
use crate::schema::RegistryError;

/// Content type of every v2 answer.
pub const V2_JSON: &str = "application/vnd.kafka.v2+json";
/// Content type of every Schema Registry answer.
pub const REGISTRY_JSON: &str = "application/vnd.schemaregistry.v1+json";

/// Which API an error answers for; it decides the body's media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// Confluent REST Proxy v2.
    KafkaV2,
    /// Confluent REST Proxy v3 (`/v3/...` on the same listeners): `application/json`.
    KafkaV3,
    /// Confluent Schema Registry.
    SchemaRegistry,
}

impl Api {
    /// The API's name in logs.
    pub fn name(self) -> &'static str {
        match self {
            Api::KafkaV2 | Api::KafkaV3 => "rest",
            Api::SchemaRegistry => "registry",
        }
    }

    pub fn media_type(self) -> &'static str {
        match self {
            Api::KafkaV2 => V2_JSON,
            Api::KafkaV3 => "application/json",
            Api::SchemaRegistry => REGISTRY_JSON,
        }
    }
}

/// An error answer in Confluent's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub error_code: u32,
    pub message: String,
    pub api: Api,
}

impl ApiError {
    fn new(status: StatusCode, error_code: u32, message: impl Into<String>) -> Self {
        ApiError {
            status,
            error_code,
            message: message.into(),
            api: Api::KafkaV2,
        }
    }
    /// The same error, answered in `api`'s media type.
    pub fn for_api(mut self, api: Api) -> Self {
        self.api = api;
        self
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
    /// A 404 with error code 404 and `message` (a jakarta NotFoundException with a message).
    pub fn not_found_message(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, 404, message)
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
    /// 403/40301 for a topic in `protected.topics` (Kafka's authorization error code, as a
    /// cluster with ACLs would answer).
    pub fn topic_protected(topic: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            40301,
            format!("Topic {topic} is protected: REST clients may not read or write it (protected.topics)"),
        )
    }
    /// Metadata lookups of an unknown topic (or of a name no topic can have) answer as current
    /// Confluent does.
    /// v3: a partition of a topic that does not exist (Confluent's rewritten 40403).
    pub fn unknown_topic_partition_named(topic: &str, partition: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            40403,
            format!("This server does not host topic-partition {partition} for topic {topic}"),
        )
    }
    pub fn unknown_topic_partition() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            40403,
            "This server does not host this topic-partition.",
        )
    }
    /// A produce request with more than `produce.max.records` records.
    pub fn too_many_records(max_records: usize) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            422,
            format!(
                "A produce request may carry at most {max_records} records (produce.max.records)"
            ),
        )
    }
    /// A record larger than the broker takes, found before anything was written.
    /// v3 `records:batch` breaking a batch rule (Confluent's constraint violation 42208).
    pub fn batch_invalid(message: &str) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, 42208, message)
    }
    /// A record's failure in a v3 delivery report: Confluent's error code and the reason (the
    /// status follows the code: 40101 → 401, 50002 → 500).
    pub fn record_error(code: u32, message: impl Into<String>) -> Self {
        let status = if code >= 1000 { code / 100 } else { code };
        Self::new(
            StatusCode::from_u16(status as u16).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code,
            message,
        )
    }
    pub fn record_too_large(why: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, 413, why.to_string())
    }
    /// A consumer setting refused when the instance is created.
    pub fn invalid_consumer_config(why: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            42204,
            format!("Invalid consumer configuration: {why}"),
        )
    }
    /// A `fetch.min.bytes` out of range (Confluent's 40001).
    pub fn invalid_fetch_min_bytes(why: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            40001,
            format!("fetch.min.bytes {why}"),
        )
    }
    /// No more consumer instances may be created (`consumer.instances.max`).
    pub fn too_many_instances(why: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, 429, why.to_string())
    }
    /// Records fetched that do not decode in the instance's format (Confluent's 40801).
    pub fn records_not_decoded(why: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::REQUEST_TIMEOUT, 40801, why.to_string())
    }
    /// A produce request with keys (or values) but no key (value) schema: 42201 (42202).
    pub fn data_without_schema(key: bool) -> Self {
        let (code, what, part) = if key {
            (42201, "keys", "key")
        } else {
            (42202, "values", "value")
        };
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            code,
            format!("Request includes {what} but does not include {part} schema"),
        )
    }
    /// A produce request's schema id not registered under its subject (Confluent's 42207).
    pub fn schema_not_under(subject: &str, id: i64) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            42207,
            format!("Error when fetching schema version: schema {id} is not registered under subject {subject}"),
        )
    }
    /// v3 produce: the registry could not give or take a record's schema (Confluent's 42207,
    /// "Error serializing message. ..." with what failed).
    pub fn schema_serialization(what: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            42207,
            format!("Error serializing message. {what}"),
        )
    }
    /// A schema unusable for the request's format (Confluent's 42205).
    pub fn invalid_schema(why: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            42205,
            format!("Invalid schema: {why}"),
        )
    }
    /// A produce request's schema that the registry would not register: unparsable (400), the
    /// registry failing or refusing us ([`ApiError::registry_failure`]), or refused (42207).
    pub fn schema_not_registered(subject: &str, format: &str, err: RegistryError) -> Self {
        match registry_status(&err) {
            (_, 42201) => ApiError::bad_request(format!(
                "Error parsing schema with format = {format}: {err}"
            )),
            _ if is_registry_failure(&err) => ApiError::registry_failure(err),
            _ => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                42207,
                format!("Error when registering schema under {subject}: {err}"),
            ),
        }
    }
    /// A registry error met while producing or consuming: the registry failing (500/50003 naming
    /// it) or refusing our credentials (401/40101, 403/40301, as Confluent answers an SR 403) are
    /// passed on; any other answer about a schema is `otherwise`.
    pub fn from_registry_or(err: RegistryError, otherwise: impl FnOnce() -> ApiError) -> Self {
        if is_registry_failure(&err) {
            ApiError::registry_failure(err)
        } else {
            otherwise()
        }
    }
    /// The registry failed (unreachable, 5xx: 500/50003 naming it) or refused our credentials
    /// (401/40101, 403/40301).
    pub fn registry_failure(err: RegistryError) -> Self {
        match registry_status(&err).0 {
            StatusCode::UNAUTHORIZED => Self::new(
                StatusCode::UNAUTHORIZED,
                40101,
                format!("Schema Registry refused the credentials: {err}"),
            ),
            StatusCode::FORBIDDEN => Self::new(
                StatusCode::FORBIDDEN,
                40301,
                format!("Schema Registry denied access: {err}"),
            ),
            _ => Self::new(StatusCode::INTERNAL_SERVER_ERROR, 50003, err.to_string()),
        }
    }
    /// 429 for a principal over its rate limit (`rate.limit.*`), as Confluent's limiter answers.
    pub fn rate_limited() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            429,
            "Request rate limit exceeded",
        )
    }
    /// 401 for a request without valid credentials at the edge (`authentication.method`).
    /// v3: a cluster id that is not the cluster's.
    pub fn cluster_not_found(cluster_id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            404,
            format!("Cluster {cluster_id} cannot be found."),
        )
        .for_api(Api::KafkaV3)
    }
    /// v3: an empty body where one is required (`what` completes Confluent's sentence).
    pub fn payload_empty(what: &str) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            42206,
            format!("Payload error. Request body is empty. {what}"),
        )
        .for_api(Api::KafkaV3)
    }
    /// v3: a body that is JSON null or absent where data is required (Confluent's
    /// "Null input provided").
    pub fn payload_null(what: &str) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            42206,
            format!("Payload error. Null input provided. {what}"),
        )
        .for_api(Api::KafkaV3)
    }
    /// v3: a payload that breaks a rule of the request (an invalid topic name...).
    pub fn payload_error(what: &str) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            42206,
            format!("Payload error. {what}"),
        )
        .for_api(Api::KafkaV3)
    }
    /// A 400 whose message is `message` exactly (Confluent's jakarta BadRequestException).
    pub fn bad_request_plain(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, 400, message)
    }
    pub fn unauthenticated() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, 401, "Unauthorized")
    }
    /// An authenticated user without a role `authentication.roles` allows.
    pub fn forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, 403, "Forbidden")
    }
    /// An authenticated user who may read the registry but not change it.
    pub fn registry_read_only(user: &str, admin_roles: &[String]) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            40301,
            format!(
                "User {user} may read the Schema Registry but not change it: that needs one of \
                 the roles {} (schema.registry.admin.roles)",
                admin_roles.join(", ")
            ),
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
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.api.media_type()),
        );
        resp
    }
}

/// Whether a registry error is the registry failing or refusing us, not an answer about schemas.
fn is_registry_failure(err: &RegistryError) -> bool {
    let (status, code) = registry_status(err);
    code == 50003 || status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN
}

/// The status and error code of a registry error, as Confluent's Schema Registry answers it.
fn registry_status(err: &RegistryError) -> (StatusCode, u32) {
    use RegistryError as E;
    let not_found = StatusCode::NOT_FOUND;
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    match err {
        E::SubjectNotFound(_) => (not_found, 40401),
        E::VersionNotFound(_) => (not_found, 40402),
        E::SchemaNotFound | E::SchemaIdNotFound(_) => (not_found, 40403),
        E::VersionSoftDeleted { .. } => (not_found, 40406),
        E::NoSubjectMode(_) => (not_found, 40409),
        E::ReadOnly(_)
        | E::NotImportMode(_)
        | E::NotReadWriteMode(_)
        | E::ImportNotEmpty
        | E::IdTaken(_) => (unprocessable, 42205),
        E::InvalidMode => (unprocessable, 42204),
        E::SubjectSoftDeleted(_) => (not_found, 40404),
        E::SubjectNotSoftDeleted(_) => (not_found, 40405),
        E::VersionNotSoftDeleted { .. } => (not_found, 40407),
        E::NoSubjectCompatibility(_) => (not_found, 40408),
        E::Incompatible { .. } => (StatusCode::CONFLICT, 409),
        E::InvalidSchema(_) => (unprocessable, 42201),
        E::InvalidVersion(_) => (unprocessable, 42202),
        E::InvalidCompatibility(_) => (unprocessable, 42203),
        E::Referenced { .. } => (unprocessable, 42206),
        E::UnrecognizedBody(_) => (unprocessable, 422),
        E::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, 50001),
        E::Remote { status, code, .. } => (
            StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY),
            *code,
        ),
        E::Unreachable { .. } => (StatusCode::INTERNAL_SERVER_ERROR, 50003),
    }
}

/// The Schema Registry API's answer to a registry error.
impl From<RegistryError> for ApiError {
    fn from(err: RegistryError) -> Self {
        let (status, code) = registry_status(&err);
        ApiError::new(status, code, err.to_string()).for_api(Api::SchemaRegistry)
    }
}

/// The records of a produce answer that failed one by one: each one's error code, and the
/// status of the whole answer (401 when any record failed authentication, else 403 when any
/// failed authorization, else 200).
#[derive(Debug, Clone, Copy)]
pub struct RecordErrors {
    status: StatusCode,
}

impl Default for RecordErrors {
    fn default() -> Self {
        RecordErrors {
            status: StatusCode::OK,
        }
    }
}

impl RecordErrors {
    /// The error code of a record that failed with `class`.
    pub fn code(&mut self, class: ErrorClass) -> u32 {
        match class {
            ErrorClass::Authentication => {
                self.status = StatusCode::UNAUTHORIZED;
                40101
            }
            ErrorClass::Authorization => {
                if self.status == StatusCode::OK {
                    self.status = StatusCode::FORBIDDEN;
                }
                40301
            }
            ErrorClass::Retriable
            | ErrorClass::BrokerNotAvailable
            | ErrorClass::UnknownTopicOrPartition => 50003,
            _ => 50002,
        }
    }
    /// The status of the answer.
    pub fn status(&self) -> StatusCode {
        self.status
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
            kafka::Error::InvalidConfig(msg) => return ApiError::invalid_consumer_config(msg),
            _ => {}
        }
        let (status, code, message) = match err.class() {
            ErrorClass::Authentication => (StatusCode::UNAUTHORIZED, 40101, err.to_string()),
            ErrorClass::Authorization => (StatusCode::FORBIDDEN, 40301, err.to_string()),
            ErrorClass::UnknownTopicOrPartition => return ApiError::unknown_topic_partition(),
            ErrorClass::IllegalState => {
                (StatusCode::CONFLICT, 40903, format!("Illegal state: {err}"))
            }
            // Kafka's exception text, as Confluent's KafkaExceptionMapper answers it.
            ErrorClass::Invalid => (StatusCode::BAD_REQUEST, 40002, err.to_string()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_errors_answer_in_the_registry_media_type_with_confluent_codes() {
        let e = ApiError::from(RegistryError::SchemaNotFound);
        assert_eq!((e.status, e.error_code), (StatusCode::NOT_FOUND, 40403));
        let resp = e.into_response();
        assert_eq!(resp.headers()[header::CONTENT_TYPE], REGISTRY_JSON);
        let e = ApiError::from(RegistryError::Remote {
            status: 401,
            code: 401,
            message: "Unauthorized".into(),
        });
        assert_eq!(e.status, StatusCode::UNAUTHORIZED);
        // In a produce request, the same refusal is Confluent's 40101, in the v2 media type.
        let e = ApiError::registry_failure(RegistryError::Remote {
            status: 401,
            code: 401,
            message: "Unauthorized".into(),
        });
        assert_eq!((e.status, e.error_code), (StatusCode::UNAUTHORIZED, 40101));
        assert_eq!(e.into_response().headers()[header::CONTENT_TYPE], V2_JSON);
        let e = ApiError::schema_not_registered(
            "t-value",
            "AVRO",
            RegistryError::invalid_schema("bad"),
        );
        assert_eq!((e.status, e.error_code), (StatusCode::BAD_REQUEST, 400));
    }

    #[test]
    fn a_failed_authentication_outranks_a_failed_authorization_in_a_produce_answer() {
        let mut errors = RecordErrors::default();
        assert_eq!(errors.code(ErrorClass::Retriable), 50003);
        assert_eq!(errors.status(), StatusCode::OK);
        assert_eq!(errors.code(ErrorClass::Authentication), 40101);
        assert_eq!(errors.code(ErrorClass::Authorization), 40301);
        assert_eq!(errors.status(), StatusCode::UNAUTHORIZED);
        let mut errors = RecordErrors::default();
        errors.code(ErrorClass::Authorization);
        assert_eq!(errors.status(), StatusCode::FORBIDDEN);
        assert_eq!(errors.code(ErrorClass::Other), 50002);
    }
}
