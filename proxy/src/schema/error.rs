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
    /// `GET /schemas/ids/{id}` of an id no schema has.
    #[error("Schema {0} not found")]
    SchemaIdNotFound(i32),
    #[error("Subject '{subject}' Version {version} was soft deleted.Set permanent=true to delete permanently")]
    VersionSoftDeleted { subject: String, version: i32 },
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
    #[error("Subject '{0}' does not have subject-level mode configured")]
    NoSubjectMode(String),
    /// A write refused by a READONLY or READONLY_OVERRIDE mode (`None`: the global scope).
    #[error("Subject {} is in read-only mode", .0.as_deref().unwrap_or("null"))]
    ReadOnly(Option<String>),
    /// A registration with an explicit id outside IMPORT mode.
    #[error("Subject {0} is not in import mode")]
    NotImportMode(String),
    /// A new schema without an id in IMPORT mode.
    #[error("Subject {0} is not in read-write mode")]
    NotReadWriteMode(String),
    #[error("Cannot import since found existing subjects")]
    ImportNotEmpty,
    /// An imported id already bound to another schema.
    #[error("Overwrite new schema with id {0} is not permitted.")]
    IdTaken(i32),
    #[error("Invalid mode. Valid values are READWRITE, READONLY, READONLY_OVERRIDE and IMPORT.")]
    InvalidMode,
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
    /// The level given (kept for the log; Confluent's text does not repeat it).
    #[error(
        "Invalid compatibility level. Valid values are none, backward, forward, full, \
         backward_transitive, forward_transitive, and full_transitive"
    )]
    InvalidCompatibility(String),
    /// A version other schemas reference, named as Confluent names it (its `_schemas` key).
    #[error(
        "One or more references exist to the schema {{magic=1,keytype=SCHEMA,subject={subject},version={version}}}."
    )]
    Referenced { subject: String, version: i32 },
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
    pub fn invalid_schema(why: impl std::fmt::Display) -> Self {
        RegistryError::InvalidSchema(why.to_string())
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

/// Why a schema text is not a usable schema; the text is what the parser or the check found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// The text does not parse: not JSON, or not a valid schema of its kind (the parser's words).
    #[error("{0}")]
    Parse(String),
    /// A name or namespace Avro does not allow, found before the parser sees it.
    #[error("invalid Avro name {0:?}: names are letters, digits and '_', not starting with a digit, joined by '.'")]
    AvroName(String),
    #[error("invalid namespace {0:?}")]
    AvroNamespace(String),
    /// A name, namespace or alias that is not a JSON string.
    #[error("{0} must be a string")]
    NotAString(&'static str),
    /// Types nested deeper than the parsers may recurse.
    #[error("the schema nests more than {0} types deep")]
    TooDeep(usize),
    /// The Avro parser panicked (a bug in it): the schema is refused, the process goes on.
    #[error("the Avro parser failed on this schema")]
    ParserFailed,
    /// A reference that cannot be used.
    #[error("{0}")]
    Reference(String),
    /// A named type the schema uses that neither it nor its references define.
    #[error("unknown type {0}")]
    UnknownType(String),
    /// A Protobuf schema without a message type: produce has nothing to write.
    #[error("the Protobuf schema defines no message type")]
    NoMessage,
    /// No message type at a payload's message indexes.
    #[error("the schema has no message type at indexes {0:?}")]
    NoMessageAt(Vec<i32>),
}

/// A schema the registry refuses, in Confluent's words ("Invalid schema: ...").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid schema: {0}")]
pub struct InvalidSchema(#[from] pub SchemaError);

/// Why data written with one schema cannot be read with another, in the checker's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Incompatibility(pub String);
