//! The built-in registry's front end: Confluent Schema Registry's HTTP API over
//! [`Registry`], on its own listeners (`schema.registry.listeners`). Bodies are read as JSON whatever
//! their Content-Type (`application/vnd.schemaregistry.v1+json`, `application/json`, or none);
//! answers are `application/vnd.schemaregistry.v1+json`; errors are `{"error_code","message"}`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::http::body::BodyLimits;
use crate::http::error::REGISTRY_JSON as MEDIA_TYPE;
use crate::http::extract::{ApiBody, ApiPath};
use crate::http::layers::{self, StackSettings};
use crate::http::{Api, ApiError};
use crate::schema::kinds::{Compatibility, SchemaType};
use crate::schema::store::Reference;
use crate::schema::{Registry, RegistryError, SubjectVersion, VersionSpec};

fn ok(value: Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, MEDIA_TYPE)],
        value.to_string(),
    )
        .into_response()
}

type Reply = Result<Response, ApiError>;
type Params = Query<HashMap<String, String>>;

fn flag(params: &HashMap<String, String>, name: &str) -> bool {
    params.get(name).is_some_and(|v| v == "true")
}

/// The body of a registration, lookup or compatibility check.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaBody {
    pub schema: String,
    #[serde(default)]
    pub schema_type: Option<String>,
    #[serde(default)]
    pub references: Vec<Reference>,
}

/// Parses a [`SchemaBody`] and its schema type (public for the fuzz targets).
pub fn schema_body(body: &[u8]) -> Result<(SchemaBody, SchemaType), RegistryError> {
    let b: SchemaBody =
        serde_json::from_slice(body).map_err(|e| RegistryError::UnrecognizedBody(e.to_string()))?;
    let kind = match &b.schema_type {
        None => SchemaType::Avro,
        Some(t) => SchemaType::parse(t)
            .ok_or_else(|| RegistryError::invalid_schema(format!("Invalid schema type {t}")))?,
    };
    Ok((b, kind))
}

fn version_json(v: &SubjectVersion) -> Value {
    let mut out = json!({
        "subject": v.subject,
        "version": v.version,
        "id": v.id,
        "schema": v.schema,
    });
    if v.schema_type != SchemaType::Avro {
        out["schemaType"] = json!(v.schema_type.name());
    }
    if !v.references.is_empty() {
        out["references"] = json!(v.references);
    }
    out
}

/// The schema text as the `/schema` endpoints return it: the schema itself when it is JSON
/// (Avro, JSON Schema), else as a JSON string (Protobuf).
fn raw_schema(schema: &str) -> Response {
    let body = match serde_json::from_str::<Value>(schema) {
        Ok(v) => v.to_string(),
        Err(_) => Value::String(schema.to_string()).to_string(),
    };
    (StatusCode::OK, [(header::CONTENT_TYPE, MEDIA_TYPE)], body).into_response()
}

/// The router of the registry's own listener.
pub fn router(registry: Arc<Registry>, config: &crate::config::Config) -> Router {
    let routes = Router::new()
        .route("/", get(|| async { ok(json!({})) }))
        .route(
            "/schemas/types",
            get(|| async { ok(json!(["JSON", "PROTOBUF", "AVRO"])) }),
        )
        .route("/schemas/ids/{id}", get(schema_by_id))
        .route("/schemas/ids/{id}/schema", get(raw_schema_by_id))
        .route("/schemas/ids/{id}/versions", get(versions_by_id))
        .route("/subjects", get(subjects))
        .route("/subjects/{subject}", post(lookup).delete(delete_subject))
        .route("/subjects/{subject}/versions", get(versions).post(register))
        .route(
            "/subjects/{subject}/versions/{version}",
            get(version).delete(delete_version),
        )
        .route(
            "/subjects/{subject}/versions/{version}/schema",
            get(version_schema),
        )
        .route(
            "/subjects/{subject}/versions/{version}/referencedby",
            get(referenced_by),
        )
        .route("/config", get(global_config).put(set_global_config))
        .route(
            "/config/{subject}",
            get(subject_config)
                .put(set_subject_config)
                .delete(delete_subject_config),
        )
        .route(
            "/compatibility/subjects/{subject}/versions/{version}",
            post(compatibility),
        );
    // Cross-cutting behaviour is the stack the REST API has too (`http::layers::stack`),
    // answering in the registry's media type.
    let settings = StackSettings {
        api: Api::SchemaRegistry,
        body: BodyLimits::of(config),
        max_concurrent_requests: config.http.max_concurrent_requests,
    };
    layers::stack(routes, settings).with_state(registry)
}

fn parse_id(id: &str) -> Result<i32, RegistryError> {
    id.parse().map_err(|_| RegistryError::schema_not_found())
}

async fn schema_by_id(State(r): State<Arc<Registry>>, ApiPath(id): ApiPath<String>) -> Reply {
    let s = r.schema(parse_id(&id)?)?;
    let mut out = json!({"schema": s.schema});
    if s.schema_type != SchemaType::Avro {
        out["schemaType"] = json!(s.schema_type.name());
    }
    if !s.references.is_empty() {
        out["references"] = json!(s.references);
    }
    Ok(ok(out))
}

async fn raw_schema_by_id(State(r): State<Arc<Registry>>, ApiPath(id): ApiPath<String>) -> Reply {
    Ok(raw_schema(&r.schema(parse_id(&id)?)?.schema))
}

async fn versions_by_id(State(r): State<Arc<Registry>>, ApiPath(id): ApiPath<String>) -> Reply {
    let uses = r.uses_of(parse_id(&id)?)?;
    Ok(ok(Value::Array(
        uses.into_iter()
            .map(|(subject, version)| json!({"subject": subject, "version": version}))
            .collect(),
    )))
}

async fn subjects(State(r): State<Arc<Registry>>, Query(p): Params) -> Reply {
    Ok(ok(json!(r.subjects(flag(&p, "deleted")))))
}

async fn versions(
    State(r): State<Arc<Registry>>,
    ApiPath(subject): ApiPath<String>,
    Query(p): Params,
) -> Reply {
    Ok(ok(json!(r.versions(&subject, flag(&p, "deleted"))?)))
}

async fn register(
    State(r): State<Arc<Registry>>,
    ApiPath(subject): ApiPath<String>,
    ApiBody(body): ApiBody,
) -> Reply {
    let (b, kind) = schema_body(&body)?;
    let id = r.register(&subject, &b.schema, kind, b.references).await?;
    Ok(ok(json!({ "id": id })))
}

async fn lookup(
    State(r): State<Arc<Registry>>,
    ApiPath(subject): ApiPath<String>,
    ApiBody(body): ApiBody,
) -> Reply {
    let (b, kind) = schema_body(&body)?;
    Ok(ok(version_json(&r.lookup(
        &subject,
        &b.schema,
        kind,
        &b.references,
    )?)))
}

async fn version(
    State(r): State<Arc<Registry>>,
    ApiPath((subject, version)): ApiPath<(String, String)>,
    Query(p): Params,
) -> Reply {
    let spec = VersionSpec::parse(&version)?;
    Ok(ok(version_json(&r.version(
        &subject,
        spec,
        flag(&p, "deleted"),
    )?)))
}

async fn version_schema(
    State(r): State<Arc<Registry>>,
    ApiPath((subject, version)): ApiPath<(String, String)>,
) -> Reply {
    let spec = VersionSpec::parse(&version)?;
    Ok(raw_schema(&r.version(&subject, spec, false)?.schema))
}

async fn referenced_by(
    State(r): State<Arc<Registry>>,
    ApiPath((subject, version)): ApiPath<(String, String)>,
) -> Reply {
    let spec = VersionSpec::parse(&version)?;
    Ok(ok(json!(r.referenced_by(&subject, spec)?)))
}

async fn delete_subject(
    State(r): State<Arc<Registry>>,
    ApiPath(subject): ApiPath<String>,
    Query(p): Params,
) -> Reply {
    Ok(ok(json!(
        r.delete_subject(&subject, flag(&p, "permanent")).await?
    )))
}

async fn delete_version(
    State(r): State<Arc<Registry>>,
    ApiPath((subject, version)): ApiPath<(String, String)>,
    Query(p): Params,
) -> Reply {
    let spec = VersionSpec::parse(&version)?;
    Ok(ok(json!(
        r.delete_version(&subject, spec, flag(&p, "permanent"))
            .await?
    )))
}

#[derive(Deserialize)]
struct ConfigBody {
    compatibility: String,
}

fn level(body: &Bytes) -> Result<Compatibility, RegistryError> {
    let b: ConfigBody = serde_json::from_slice(body)
        .map_err(|_| RegistryError::invalid_compatibility("<missing>"))?;
    Compatibility::parse(&b.compatibility)
        .ok_or_else(|| RegistryError::invalid_compatibility(&b.compatibility))
}

async fn global_config(State(r): State<Arc<Registry>>) -> Reply {
    Ok(ok(
        json!({"compatibilityLevel": r.compatibility(None, true)?.name()}),
    ))
}

async fn set_global_config(State(r): State<Arc<Registry>>, ApiBody(body): ApiBody) -> Reply {
    let level = level(&body)?;
    r.set_compatibility(None, Some(level)).await?;
    Ok(ok(json!({"compatibility": level.name()})))
}

async fn subject_config(
    State(r): State<Arc<Registry>>,
    ApiPath(subject): ApiPath<String>,
    Query(p): Params,
) -> Reply {
    let level = r.compatibility(Some(&subject), flag(&p, "defaultToGlobal"))?;
    Ok(ok(json!({"compatibilityLevel": level.name()})))
}

async fn set_subject_config(
    State(r): State<Arc<Registry>>,
    ApiPath(subject): ApiPath<String>,
    ApiBody(body): ApiBody,
) -> Reply {
    let level = level(&body)?;
    r.set_compatibility(Some(&subject), Some(level)).await?;
    Ok(ok(json!({"compatibility": level.name()})))
}

async fn delete_subject_config(
    State(r): State<Arc<Registry>>,
    ApiPath(subject): ApiPath<String>,
) -> Reply {
    let previous = r.compatibility(Some(&subject), false)?;
    r.set_compatibility(Some(&subject), None).await?;
    Ok(ok(json!({"compatibilityLevel": previous.name()})))
}

async fn compatibility(
    State(r): State<Arc<Registry>>,
    ApiPath((subject, version)): ApiPath<(String, String)>,
    Query(p): Params,
    ApiBody(body): ApiBody,
) -> Reply {
    let spec = VersionSpec::parse(&version)?;
    let (b, kind) = schema_body(&body)?;
    let verdict = r.check_compatibility(&subject, spec, &b.schema, kind, &b.references)?;
    let mut out = json!({"is_compatible": verdict.is_ok()});
    if flag(&p, "verbose") {
        out["messages"] = json!(verdict.err().unwrap_or_default());
    }
    Ok(ok(out))
}
