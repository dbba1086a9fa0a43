//! The registry's error: what went wrong with a schema, a subject or the registry's store, in
//! Confluent Schema Registry's words. Also the error of the client for an external registry,
//! which passes on that registry's own answers. Statuses and error codes are the HTTP error
//! type's business (`http/error.rs`); a leaf, so that the schema client does not import the
//! registry.

/// A registry error; its text is the message Confluent's registry gives.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("Subject '{0}' not found.")]
    SubjectNotFound(String),
    #[error("Version {0} not found.")]
    VersionNotFound(String),
    #[error("Schema not found")]
    SchemaNotFound,
    #[error("Subject '{0}' was soft deleted.Set permanent=true to delete permanently")]
    SubjectSoftDeleted(String),
    #[error("Subject '{0}' was not deleted first before being permanently deleted")]
    SubjectNotSoftDeleted(String),
    #[error(
        "Subject '{subject}' Version {version} was not deleted first before being permanently deleted"
    )]
    VersionNotSoftDeleted { subject: String, version: i32 },
    #[error("Subject '{0}' does not have subject-level compatibility configured")]
    NoSubjectCompatibility(String),
    #[error(
        "Schema being registered is incompatible with an earlier schema for subject \"{subject}\" \
         ({level}), details: {details:?}"
    )]
    Incompatible {
        subject: String,
        level: &'static str,
        details: Vec<String>,
    },
    #[error("{0}")]
    InvalidSchema(String),
    #[error(
        "The specified version '{0}' is not a valid version id. Allowed values are between \
         [1, 2^31-1] and the string \"latest\""
    )]
    InvalidVersion(String),
    #[error(
        "Invalid compatibility level. Valid values are none, backward, forward, full, \
         backward_transitive, forward_transitive, and full_transitive (got {0:?})"
    )]
    InvalidCompatibility(String),
    #[error(
        "One or more references exist to the schema {{subject={subject}, version={version}}}: \
         schema ids {ids:?}"
    )]
    Referenced {
        subject: String,
        version: i32,
        ids: Vec<i32>,
    },
    /// A registration, lookup or compatibility body that is not the JSON the API takes.
    #[error("Unrecognized request body: {0}")]
    UnrecognizedBody(String),
    #[error("Error in the backend data store - {0}")]
    Store(String),
    /// An external registry's answer (not 5xx), passed on as it came.
    #[error("{message}")]
    Remote {
        status: u16,
        code: u32,
        message: String,
    },
    /// An external registry that could not be reached, or answered 5xx.
    #[error("Schema Registry at {url} is unreachable or failing: {why}")]
    Unreachable { url: String, why: String },
}

impl RegistryError {
    pub fn subject_not_found(s: &str) -> Self {
        RegistryError::SubjectNotFound(s.to_string())
    }
    pub fn version_not_found(v: impl std::fmt::Display) -> Self {
        RegistryError::VersionNotFound(v.to_string())
    }
    pub fn schema_not_found() -> Self {
        RegistryError::SchemaNotFound
    }
    pub fn invalid_schema(why: impl Into<String>) -> Self {
        RegistryError::InvalidSchema(why.into())
    }
    pub fn invalid_version(v: &str) -> Self {
        RegistryError::InvalidVersion(v.to_string())
    }
    pub fn invalid_compatibility(level: &str) -> Self {
        RegistryError::InvalidCompatibility(level.to_string())
    }
    pub(super) fn store(why: impl std::fmt::Display) -> Self {
        RegistryError::Store(why.to_string())
    }
    /// An external registry's error code, when this is its answer.
    pub fn remote_code(&self) -> Option<u32> {
        match self {
            RegistryError::Remote { code, .. } => Some(*code),
            _ => None,
        }
    }
}
