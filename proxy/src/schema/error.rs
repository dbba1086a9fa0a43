//! The registry's error, in Confluent Schema Registry's shape (HTTP status, error code,
//! message); also the error of the client for an external registry. A leaf, so that the schema
//! client does not import the registry.

use axum::http::StatusCode;

/// A registry error in Confluent's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryError {
    pub status: StatusCode,
    pub code: u32,
    pub message: String,
}

impl RegistryError {
    pub(super) fn new(status: u16, code: u32, message: impl Into<String>) -> Self {
        RegistryError {
            status: StatusCode::from_u16(status).expect("valid status"),
            code,
            message: message.into(),
        }
    }
    pub fn subject_not_found(s: &str) -> Self {
        Self::new(404, 40401, format!("Subject '{s}' not found."))
    }
    pub fn version_not_found(v: impl std::fmt::Display) -> Self {
        Self::new(404, 40402, format!("Version {v} not found."))
    }
    pub fn schema_not_found() -> Self {
        Self::new(404, 40403, "Schema not found")
    }
    pub fn invalid_schema(why: impl Into<String>) -> Self {
        Self::new(422, 42201, why)
    }
    pub fn invalid_version(v: &str) -> Self {
        Self::new(
            422,
            42202,
            format!(
                "The specified version '{v}' is not a valid version id. Allowed values are between \
                 [1, 2^31-1] and the string \"latest\""
            ),
        )
    }
    pub fn invalid_compatibility(level: &str) -> Self {
        Self::new(
            422,
            42203,
            format!(
                "Invalid compatibility level. Valid values are none, backward, forward, full, \
                 backward_transitive, forward_transitive, and full_transitive (got {level:?})"
            ),
        )
    }
    pub(super) fn store(why: String) -> Self {
        Self::new(
            500,
            50001,
            format!("Error in the backend data store - {why}"),
        )
    }
}
