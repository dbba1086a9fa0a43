//! Schema-based keys and values of v3 produce (rest-api.md §4 and §6): a data object of type
//! AVRO, JSONSCHEMA or PROTOBUF with its raw `schema`, or without a type and with a
//! `schema_id`, a `schema_version`, or nothing (the subject's latest version). The subject is
//! the explicit `subject`, or the `subject_name_strategy`'s (TOPIC_NAME, the default:
//! `<topic>-key` / `<topic>-value`; RECORD_NAME; TOPIC_RECORD_NAME). The data is then checked
//! against the schema and written in Confluent's framing, exactly as v2's schema formats write
//! it ([`crate::formats::encode_value`]).
//!
//! A stream resolves each distinct schema reference once ([`Resolver`] caches per stream), so
//! a long stream of records naming the same schema makes no registry call after its first;
//! `latest` is therefore the latest when the stream first used it.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::value::RawValue;

use crate::formats::{encode_value, ResolvedSchema};
use crate::http::error::ApiError;
use crate::schema::client::Schemas;
use crate::schema::kinds::{Parsed, SchemaType};
use crate::schema::VersionSpec;

/// `subject_name_strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Strategy {
    Topic,
    Record,
    TopicRecord,
}

impl Strategy {
    fn name(self) -> &'static str {
        match self {
            Strategy::Topic => "TOPIC_NAME",
            Strategy::Record => "RECORD_NAME",
            Strategy::TopicRecord => "TOPIC_RECORD_NAME",
        }
    }

    fn parse(text: &str) -> Option<Strategy> {
        match text.to_ascii_uppercase().as_str() {
            "TOPIC_NAME" => Some(Strategy::Topic),
            "RECORD_NAME" => Some(Strategy::Record),
            "TOPIC_RECORD_NAME" => Some(Strategy::TopicRecord),
            _ => None,
        }
    }
}

/// Where a key's or value's schema comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Source {
    Id(i32),
    Version(i32),
    /// The raw schema, of the given type.
    Text(SchemaType, String),
    Latest,
}

/// A schema-based key or value as the record gave it, before the registry is asked.
#[derive(Debug, Clone)]
pub struct Pending {
    key: bool,
    subject: Option<String>,
    strategy: Strategy,
    source: Source,
    /// The data's JSON text (None: JSON null).
    data: Option<String>,
}

/// The schema a delivered key or value was written with, as its report names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaUsed {
    /// AVRO, JSONSCHEMA or PROTOBUF.
    pub kind: &'static str,
    pub subject: String,
    pub id: i32,
    pub version: i32,
}

fn bad(message: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(message)
}

/// The v3 name of a schema type.
fn v3_kind(kind: SchemaType) -> &'static str {
    match kind {
        SchemaType::Avro => "AVRO",
        SchemaType::Json => "JSONSCHEMA",
        SchemaType::Protobuf => "PROTOBUF",
    }
}

/// Reads a schema-based data object's fields (`kind`: the `type` given, if a schema type).
/// Mutually exclusive fields and a schema type without its raw schema are refused here, before
/// any registry call.
pub fn pending(
    which: &str,
    kind: Option<SchemaType>,
    subject: Option<String>,
    strategy: Option<&str>,
    (schema_id, schema_version, schema): (Option<i32>, Option<i32>, Option<String>),
    data: Option<&RawValue>,
) -> Result<Pending, ApiError> {
    // Confluent's checks and texts (ProduceRequestData.Builder), in its order.
    if subject.is_some() && strategy.is_some() {
        return Err(bad(format!(
            "{which}: Only one of 'subject_name_strategy' or 'subject' can be used."
        )));
    }
    let strategy = match strategy {
        None => Strategy::Topic,
        Some(s) => Strategy::parse(s).ok_or_else(|| {
            bad(format!(
                "{which}: unknown subject_name_strategy {s}: expected TOPIC_NAME, RECORD_NAME or \
                 TOPIC_RECORD_NAME"
            ))
        })?,
    };
    let given = [
        schema_id.is_some(),
        schema_version.is_some(),
        schema.is_some(),
    ];
    if given.into_iter().filter(|g| *g).count() > 1 {
        return Err(bad(format!(
            "{which}: Only one of 'schema_id', 'schema_version' or 'schema' can be used."
        )));
    }
    let source = match (kind, schema_id, schema_version, schema) {
        (Some(kind), None, None, Some(text)) => Source::Text(kind, text),
        // A schema type takes its raw schema (registered ones are named without a type).
        (Some(_), Some(id), _, _) => {
            return Err(bad(format!(
                "{which}: 'schema_id={id}' cannot be used with 'serializer'."
            )))
        }
        (Some(_), _, Some(v), _) => {
            return Err(bad(format!(
                "{which}: 'schema_version={v}' cannot be used with 'serializer'."
            )))
        }
        (Some(_), _, _, None) => {
            return Err(bad(format!(
                "{which}: 'schema_version=latest' cannot be used with 'serializer'."
            )))
        }
        // Confluent fails this one with a 500 (a null detail in its BadRequestException).
        (None, _, _, Some(_)) => {
            return Err(bad(format!(
                "{which}: a raw schema needs its type: AVRO, JSONSCHEMA or PROTOBUF"
            )))
        }
        (None, Some(id), _, _) => Source::Id(id),
        (None, None, Some(v), _) => Source::Version(v),
        (None, None, None, None) => Source::Latest,
    };
    if matches!(source, Source::Version(_) | Source::Latest)
        && subject.is_none()
        && strategy != Strategy::Topic
    {
        return Err(bad(format!(
            "Cannot use schema_subject_strategy={} without schema_id or schema.",
            strategy.name()
        )));
    }
    if let Source::Version(v) = source {
        if v < 1 {
            return Err(bad(format!("{which}: schema_version={v} is not a version")));
        }
    }
    Ok(Pending {
        key: which == "key",
        subject,
        strategy,
        source,
        data: data
            .map(RawValue::get)
            .filter(|d| *d != "null")
            .map(str::to_string),
    })
}

/// A resolved schema reference: the schema and the report's names for it.
struct Resolved {
    schema: ResolvedSchema,
    used: Arc<SchemaUsed>,
}

/// Resolves schema references against the registry, once each per stream.
pub struct Resolver<'a> {
    registry: Option<&'a Schemas>,
    topic: &'a str,
    cache: HashMap<(bool, Option<String>, Strategy, Source), Arc<Resolved>>,
}

impl<'a> Resolver<'a> {
    pub fn new(registry: Option<&'a Schemas>, topic: &'a str) -> Self {
        Resolver {
            registry,
            topic,
            cache: HashMap::new(),
        }
    }

    /// The key's or value's bytes in Confluent's framing (None: a null), and its schema.
    pub async fn encode(
        &mut self,
        p: Pending,
    ) -> Result<(Option<Vec<u8>>, Arc<SchemaUsed>), ApiError> {
        let which = if p.key { "key" } else { "value" };
        let cache_key = (p.key, p.subject.clone(), p.strategy, p.source.clone());
        let resolved = match self.cache.get(&cache_key) {
            Some(r) => r.clone(),
            None => {
                let r = Arc::new(self.resolve(&p).await?);
                self.cache.insert(cache_key, r.clone());
                r
            }
        };
        let bytes = match &p.data {
            None => None,
            Some(text) => Some(encode_value(&resolved.schema, text).map_err(|e| {
                bad(format!(
                    "{which}: the data does not fit schema {} ({} version {}): {e}",
                    resolved.used.id, resolved.used.subject, resolved.used.version
                ))
            })?),
        };
        Ok((bytes, resolved.used.clone()))
    }

    async fn resolve(&self, p: &Pending) -> Result<Resolved, ApiError> {
        let registry = self.registry.ok_or_else(|| {
            ApiError::payload_error("Schema Registry must be configured when using schemas.")
        })?;
        let (id, subject, version) = match &p.source {
            Source::Id(id) => {
                let stored = registry.schema(*id).await.map_err(|e| {
                    ApiError::from_registry_or(e, || {
                        ApiError::schema_serialization(format!(
                            "Error when fetching schema by id. schemaId = {id}"
                        ))
                    })
                })?;
                let subject = self.subject(p, Some(&stored.parsed))?;
                let version = registry
                    .version_under(&subject, *id)
                    .await
                    .map_err(ApiError::registry_failure)?
                    .ok_or_else(|| {
                        ApiError::schema_serialization(format!(
                            "Error when fetching schema version. subject = {subject}, schema = {}",
                            stored.schema
                        ))
                    })?;
                (*id, subject, version)
            }
            Source::Text(kind, text) => {
                let parsed = crate::schema::kinds::parse(*kind, text).map_err(|e| {
                    ApiError::invalid_schema(format!(
                        "Error when parsing raw schema. format = {}, schema = {text} ({e})",
                        v3_kind(*kind)
                    ))
                })?;
                let subject = self.subject(p, Some(&parsed))?;
                let id = registry
                    .register(&subject, text, *kind)
                    .await
                    .map_err(|e| {
                        ApiError::from_registry_or(e, || {
                            ApiError::schema_serialization(format!(
                                "Error when registering schema. format = {}, subject = {subject}, \
                             schema = {text}",
                                v3_kind(*kind)
                            ))
                        })
                    })?;
                let version = registry
                    .version_under(&subject, id)
                    .await
                    .map_err(ApiError::registry_failure)?
                    .ok_or_else(|| ApiError::schema_not_under(&subject, id.into()))?;
                (id, subject, version)
            }
            Source::Version(n) => {
                let subject = self.subject(p, None)?;
                let (id, version) = registry
                    .subject_version(&subject, VersionSpec::Number(*n))
                    .await
                    .map_err(|e| {
                        ApiError::from_registry_or(e, || {
                            bad(format!(
                                "Schema does not exist for subject: {subject}, version: {n}"
                            ))
                        })
                    })?;
                (id, subject, version)
            }
            Source::Latest => {
                let subject = self.subject(p, None)?;
                let (id, version) = registry
                    .subject_version(&subject, VersionSpec::Latest)
                    .await
                    .map_err(|e| {
                        ApiError::from_registry_or(e, || {
                            ApiError::schema_serialization(format!(
                                "Error when fetching latest schema version. subject = {subject}"
                            ))
                        })
                    })?;
                (id, subject, version)
            }
        };
        let stored = registry.schema(id).await.map_err(|e| {
            ApiError::from_registry_or(e, || ApiError::schema_not_under(&subject, id.into()))
        })?;
        if let Parsed::Protobuf(proto) = &stored.parsed {
            proto
                .first_message()
                .map_err(|e| ApiError::invalid_schema(format!("schema {id}: {e}")))?;
        }
        Ok(Resolved {
            used: Arc::new(SchemaUsed {
                kind: v3_kind(stored.schema_type),
                subject,
                id,
                version,
            }),
            schema: ResolvedSchema {
                id,
                schema: stored.parsed.clone(),
            },
        })
    }

    /// The subject: explicit, or the strategy's (`schema` known for the record-name ones).
    fn subject(&self, p: &Pending, schema: Option<&Parsed>) -> Result<String, ApiError> {
        let part = if p.key { "key" } else { "value" };
        if let Some(s) = &p.subject {
            return Ok(s.clone());
        }
        let record = || {
            schema.and_then(record_name).ok_or_else(|| {
                bad(format!(
                    "{part}: the schema has no record name for subject_name_strategy"
                ))
            })
        };
        Ok(match p.strategy {
            Strategy::Topic => format!("{}-{part}", self.topic),
            Strategy::Record => record()?,
            Strategy::TopicRecord => format!("{}-{}", self.topic, record()?),
        })
    }
}

/// A schema's record name, as the record-name strategies use it: an Avro named type's full
/// name, the first Protobuf message's full name, a JSON Schema's `title`.
fn record_name(schema: &Parsed) -> Option<String> {
    match schema {
        Parsed::Avro(a) => match &a.schema {
            apache_avro::Schema::Record(r) => Some(r.name.fullname(None)),
            apache_avro::Schema::Enum(e) => Some(e.name.fullname(None)),
            apache_avro::Schema::Fixed(f) => Some(f.name.fullname(None)),
            _ => None,
        },
        Parsed::Protobuf(p) => p.first_message().ok().map(|m| m.full_name().to_string()),
        Parsed::Json(j) => j.value["title"].as_str().map(str::to_string),
    }
}
