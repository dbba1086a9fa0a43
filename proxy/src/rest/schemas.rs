//! Resolving a produce request's key or value schema (rest-api.md §4): by id, which must be
//! registered under the topic's subject, or by schema text, registered under it if new
//! (TopicNameStrategy: `<topic>-key` / `<topic>-value`), then encoding the records with them.
//! Lookups are cached (in memory for the built-in registry).

use serde_json::value::RawValue;

use super::produce_request::ProduceRequest;
use crate::formats::{self, EmbeddedFormat, EncodedRecords, RawRecord, ResolvedSchema};
use crate::http::error::ApiError;
use crate::schema::client::Schemas;
use crate::schema::kinds::SchemaType;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Key,
    Value,
}

impl Part {
    fn name(self) -> &'static str {
        match self {
            Part::Key => "key",
            Part::Value => "value",
        }
    }

    /// This part of a record, when present and not JSON null.
    fn of<'a>(self, r: &RawRecord<'a>) -> Option<&'a RawValue> {
        match self {
            Part::Key => r.key,
            Part::Value => r.value,
        }
        .filter(|v| v.get() != "null")
    }
}

/// Resolves a schema-format request's key and value schemas and encodes its records with them:
/// the records and the schema ids for the response.
pub async fn encode(
    registry: &Schemas,
    topic: &str,
    format: EmbeddedFormat,
    request: &ProduceRequest<'_>,
) -> Result<(EncodedRecords, Option<i32>, Option<i32>), ApiError> {
    let kind = schema_type(format);
    let key = resolve(registry, topic, Part::Key, request, kind).await?;
    let value = resolve(registry, topic, Part::Value, request, kind).await?;
    let encoded =
        formats::encode_schema_records(format, &request.records, key.as_ref(), value.as_ref())
            .map_err(ApiError::from)?;
    Ok((encoded, key.map(|k| k.id), value.map(|v| v.id)))
}

/// A body of the common shape encoded in one pass (`formats::one_pass_request`): its records
/// and its key and value schema ids. None: [`encode`] takes the body the usual way (after
/// `ProduceRequest::parse`) and gives every error, this one's included, in the usual order.
pub async fn encode_one_pass(
    registry: &Schemas,
    topic: &str,
    format: EmbeddedFormat,
    body: &[u8],
    max_records: usize,
    path_partition: Option<i32>,
) -> Option<(EncodedRecords, Option<i32>, i32)> {
    if !matches!(
        format,
        EmbeddedFormat::Avro | EmbeddedFormat::Protobuf | EmbeddedFormat::JsonSchema
    ) {
        return None;
    }
    let ids = formats::one_pass_request::leading_schema_ids(body)?;
    let kind = schema_type(format);
    // A key schema id is checked and echoed even when no record has a key, as [`resolve`] does.
    let key = match ids.key {
        Some(id) => Some(registered_schema(registry, topic, Part::Key, id, kind).await?),
        None => None,
    };
    let value = registered_schema(registry, topic, Part::Value, ids.value, kind).await?;
    let encoded =
        formats::one_pass_request::encode(body, key.as_ref(), &value, max_records, path_partition)?;
    Some((encoded, key.map(|k| k.id), value.id))
}

/// Schema `id` of `part`, when it is registered under the part's subject and of `kind`.
async fn registered_schema(
    registry: &Schemas,
    topic: &str,
    part: Part,
    id: i32,
    kind: SchemaType,
) -> Option<ResolvedSchema> {
    let subject = format!("{topic}-{}", part.name());
    let id = registered_under(registry, &subject, i64::from(id))
        .await
        .ok()?;
    load(registry, &subject, id, kind).await.ok()
}

/// The schema of one part, or None when the request carries neither id nor schema and no
/// record has that part.
async fn resolve(
    registry: &Schemas,
    topic: &str,
    part: Part,
    request: &ProduceRequest<'_>,
    kind: SchemaType,
) -> Result<Option<ResolvedSchema>, ApiError> {
    let subject = format!("{topic}-{}", part.name());
    let (schema, schema_id) = match part {
        Part::Key => (request.key_schema, request.key_schema_id),
        Part::Value => (request.value_schema, request.value_schema_id),
    };
    let schema = schema.filter(|s| s.get() != "null");
    let has_data = request.records.iter().any(|r| part.of(r).is_some());
    let id = match (schema, schema_id) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(format!(
                "Unsupported argument: both {p}_schema and {p}_schema_id are given",
                p = part.name()
            )))
        }
        (None, None) if has_data => return Err(ApiError::data_without_schema(part == Part::Key)),
        (None, None) => return Ok(None),
        (None, Some(id)) => registered_under(registry, &subject, id).await?,
        (Some(raw), None) => {
            // Confluent's clients send the schema as a JSON string holding its text; a schema
            // given as a JSON object is taken as its own text.
            let text = match serde_json::from_str::<serde_json::Value>(raw.get()) {
                Ok(serde_json::Value::String(s)) => s,
                _ => raw.get().to_string(),
            };
            registry
                .register(&subject, &text, kind)
                .await
                .map_err(|e| ApiError::schema_not_registered(&subject, kind.name(), e))?
        }
    };
    load(registry, &subject, id, kind).await.map(Some)
}

/// The schema format of a schema embedded format.
fn schema_type(format: EmbeddedFormat) -> SchemaType {
    match format {
        EmbeddedFormat::Avro => SchemaType::Avro,
        EmbeddedFormat::JsonSchema => SchemaType::Json,
        _ => SchemaType::Protobuf,
    }
}

/// A schema id the request gives, checked to be registered under `subject`.
async fn registered_under(registry: &Schemas, subject: &str, id: i64) -> Result<i32, ApiError> {
    let not_under = |id| ApiError::schema_not_under(subject, id);
    let id = i32::try_from(id).map_err(|_| not_under(id))?;
    match registry.version_under(subject, id).await {
        Ok(Some(_)) => Ok(id),
        Ok(None) => Err(not_under(i64::from(id))),
        Err(e) => Err(ApiError::registry_failure(e)),
    }
}

/// Schema `id` (of `subject`), parsed and checked to be one the request's format can write.
async fn load(
    registry: &Schemas,
    subject: &str,
    id: i32,
    kind: SchemaType,
) -> Result<ResolvedSchema, ApiError> {
    let stored = registry.schema(id).await.map_err(|e| {
        ApiError::from_registry_or(e, || ApiError::schema_not_under(subject, i64::from(id)))
    })?;
    // Confluent's 42205 (invalid schema): a schema of another type than the request's format,
    // or one that gives the format nothing to write (a .proto without a message type).
    let invalid = ApiError::invalid_schema;
    if stored.schema_type != kind {
        return Err(invalid(format!(
            "schema {id} is a {} schema, not {}",
            stored.schema_type.name(),
            kind.name()
        )));
    }
    if let crate::schema::kinds::Parsed::Protobuf(p) = &stored.parsed {
        p.first_message()
            .map_err(|e| invalid(format!("schema {id}: {e}")))?;
    }
    Ok(ResolvedSchema {
        id,
        schema: stored.parsed.clone(),
    })
}
