//! The built-in registry's front end: Confluent Schema Registry's HTTP API over
//! [`Registry`], on its own listeners (`schema.registry.listeners`). Bodies are read as JSON whatever
//! their Content-Type (`application/vnd.schemaregistry.v1+json`, `application/json`, or none);
//! answers are in the JSON media type `Accept` prefers (the shared layer stack chooses it);
//! errors are `{"error_code","message"}`.

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
use crate::schema::store::Mode;
use crate::schema::store::Reference;
use crate::schema::{
    Registration, Registry, RegistryError, SchemaFilter, SubjectVersion, VersionSpec,
};

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

/// The body of a registration, lookup or compatibility check. Other fields Confluent's clients
/// may send (`metadata`, `ruleSet`, schema tags) are ignored, as Confluent ignores unknown ones.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaBody {
    pub schema: String,
    #[serde(default)]
    pub schema_type: Option<String>,
    /// IMPORT mode: the id and version to register under.
    #[serde(default, deserialize_with = "crate::json_int::opt_int")]
    pub id: Option<i32>,
    #[serde(default, deserialize_with = "crate::json_int::opt_int")]
    pub version: Option<i32>,
    /// Absent, `null` (as some clients send it) or a list.
    #[serde(default, deserialize_with = "null_is_empty")]
    pub references: Vec<Reference>,
}

fn null_is_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Reference>, D::Error> {
    Option::<Vec<Reference>>::deserialize(d).map(Option::unwrap_or_default)
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

/// The registration a body and the `normalize` parameter ask for.
fn registration(
    body: &[u8],
    params: &HashMap<String, String>,
) -> Result<Registration, RegistryError> {
    let (b, kind) = schema_body(body)?;
    Ok(Registration {
        schema: b.schema,
        kind,
        references: b.references,
        id: b.id.filter(|id| *id >= 0),
        version: b.version,
        normalize: flag(params, "normalize"),
    })
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

/// The schema text as the `/schema` endpoints return it: the stored text itself, as Confluent
/// writes it (Avro and JSON Schema are JSON; Protobuf is `.proto` text).
fn raw_schema(schema: &str) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, MEDIA_TYPE)],
        schema.to_string(),
    )
        .into_response()
}

/// The router of the registry's own listener.
pub fn router(
    registry: Arc<Registry>,
    config: &crate::config::Config,
    edge: &crate::http::edge::Edge,
) -> Router {
    let routes = Router::new()
        .route("/", get(|| async { ok(json!({})) }))
        .route(
            "/schemas/types",
            get(|| async { ok(json!(["JSON", "PROTOBUF", "AVRO"])) }),
        )
        .route("/contexts", get(|| async { ok(json!(["."])) }))
        .route(
            "/openapi.json",
            get(|| async { axum::Json(crate::openapi::document(Api::SchemaRegistry)) }),
        )
        .route("/schemas", get(schemas))
        .route("/schemas/ids/{id}", get(schema_by_id))
        .route("/schemas/ids/{id}/schema", get(raw_schema_by_id))
        .route("/schemas/ids/{id}/versions", get(versions_by_id))
        .route("/schemas/ids/{id}/subjects", get(subjects_by_id))
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
        .route(
            "/config",
            get(global_config)
                .put(set_global_config)
                .delete(delete_global_config),
        )
        .route("/mode", get(global_mode).put(set_global_mode))
        .route(
            "/mode/{subject}",
            get(subject_mode)
                .put(set_subject_mode)
                .delete(delete_subject_mode),
        )
        .route(
            "/config/{subject}",
            get(subject_config)
                .put(set_subject_config)
                .delete(delete_subject_config),
        )
        .route(
            "/compatibility/subjects/{subject}/versions/{version}",
            post(compatibility),
        )
        .route(
            "/compatibility/subjects/{subject}/versions",
            post(compatibility_all),
        );
    // Cross-cutting behaviour is the stack the REST API has too (`http::layers::stack`),
    // answering in the registry's media type.
    let settings = StackSettings {
        api: Api::SchemaRegistry,
        body: BodyLimits::of(config),
        max_concurrent_requests: config.http.max_concurrent_requests,
        access_log: config.http.access_log,
    };
    layers::stack(routes, settings, edge).with_state(registry)
}

/// A schema id from the path; anything but an `i32` is Jersey's plain 404, as Confluent answers
/// a path parameter that does not convert.
fn parse_id(id: &str) -> Result<i32, ApiError> {
    id.parse()
        .map_err(|_| ApiError::not_found().for_api(Api::SchemaRegistry))
}

fn number(params: &HashMap<String, String>, name: &str, default: usize) -> usize {
    params
        .get(name)
        .and_then(|v| v.parse::<i64>().ok())
        .map_or(default, |n| usize::try_from(n).unwrap_or(default))
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

async fn versions_by_id(
    State(r): State<Arc<Registry>>,
    ApiPath(id): ApiPath<String>,
    Query(p): Params,
) -> Reply {
    let uses = r.uses_of(parse_id(&id)?, flag(&p, "deleted"))?;
    Ok(ok(Value::Array(
        uses.into_iter()
            .filter(|(s, _)| p.get("subject").is_none_or(|wanted| wanted == s))
            .map(|(subject, version)| json!({"subject": subject, "version": version}))
            .collect(),
    )))
}

async fn subjects_by_id(
    State(r): State<Arc<Registry>>,
    ApiPath(id): ApiPath<String>,
    Query(p): Params,
) -> Reply {
    let mut subjects: Vec<String> = r
        .uses_of(parse_id(&id)?, flag(&p, "deleted"))?
        .into_iter()
        .map(|(s, _)| s)
        .filter(|s| p.get("subject").is_none_or(|wanted| wanted == s))
        .collect();
    subjects.dedup();
    Ok(ok(json!(subjects)))
}

/// `GET /schemas`: every subject version (with `subjectPrefix`, `deleted`, `latestOnly`,
/// `offset`, `limit`; at most 1000, Confluent's default cap).
async fn schemas(State(r): State<Arc<Registry>>, Query(p): Params) -> Reply {
    const MAX: usize = 1000;
    let limit = match number(&p, "limit", MAX) {
        0 => MAX,
        n => n.min(MAX),
    };
    let filter = SchemaFilter {
        subject_prefix: p.get("subjectPrefix").cloned().unwrap_or_default(),
        deleted: flag(&p, "deleted"),
        latest_only: flag(&p, "latestOnly"),
        offset: number(&p, "offset", 0),
        limit,
    };
    Ok(ok(Value::Array(
        r.schemas(&filter).iter().map(version_json).collect(),
    )))
}

async fn subjects(State(r): State<Arc<Registry>>, Query(p): Params) -> Reply {
    let prefix = p.get("subjectPrefix").map_or("", String::as_str);
    Ok(ok(json!(r.subjects(
        prefix,
        flag(&p, "deleted"),
        flag(&p, "deletedOnly")
    ))))
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
    Query(p): Params,
    ApiBody(body): ApiBody,
) -> Reply {
    let id = r.register_with(&subject, registration(&body, &p)?).await?;
    Ok(ok(json!({ "id": id })))
}

async fn lookup(
    State(r): State<Arc<Registry>>,
    ApiPath(subject): ApiPath<String>,
    Query(p): Params,
    ApiBody(body): ApiBody,
) -> Reply {
    let request = registration(&body, &p)?;
    Ok(ok(version_json(&r.lookup(
        &subject,
        &request,
        flag(&p, "deleted"),
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
    Query(p): Params,
) -> Reply {
    let spec = VersionSpec::parse(&version)?;
    Ok(raw_schema(
        &r.version(&subject, spec, flag(&p, "deleted"))?.schema,
    ))
}

async fn referenced_by(
    State(r): State<Arc<Registry>>,
    ApiPath((subject, version)): ApiPath<(String, String)>,
    Query(p): Params,
) -> Reply {
    let spec = VersionSpec::parse(&version)?;
    Ok(ok(json!(r.referenced_by(
        &subject,
        spec,
        flag(&p, "deleted")
    )?)))
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

/// The body of `PUT /config`: every field optional, as in Confluent's `ConfigUpdateRequest`
/// (a body without `compatibility` keeps the level). Other fields are ignored.
#[derive(Deserialize)]
struct ConfigBody {
    #[serde(default)]
    compatibility: Option<String>,
}

/// The level a `PUT /config` body sets, if any.
fn level(body: &Bytes) -> Result<Option<Compatibility>, RegistryError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| RegistryError::UnrecognizedBody(e.to_string()))?;
    if !value.is_object() {
        return Err(RegistryError::UnrecognizedBody(
            "the configuration is a JSON object".into(),
        ));
    }
    let b: ConfigBody = serde_json::from_value(value)
        .map_err(|e| RegistryError::UnrecognizedBody(e.to_string()))?;
    b.compatibility
        .map(|name| Compatibility::parse(&name).ok_or(RegistryError::InvalidCompatibility(name)))
        .transpose()
}

async fn global_config(State(r): State<Arc<Registry>>) -> Reply {
    Ok(ok(
        json!({"compatibilityLevel": r.compatibility(None, true)?.name()}),
    ))
}

async fn put_config(r: &Registry, subject: Option<&str>, body: &Bytes) -> Reply {
    let level = match level(body)? {
        Some(level) => {
            r.set_compatibility(subject, Some(level)).await?;
            level
        }
        None => r.compatibility(subject, true)?,
    };
    Ok(ok(json!({"compatibility": level.name()})))
}

async fn set_global_config(State(r): State<Arc<Registry>>, ApiBody(body): ApiBody) -> Reply {
    put_config(&r, None, &body).await
}

/// `DELETE /config`: back to the default level (BACKWARD); answers the level before.
async fn delete_global_config(State(r): State<Arc<Registry>>) -> Reply {
    let previous = r.set_compatibility(None, None).await?;
    Ok(ok(json!({"compatibilityLevel": previous.name()})))
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
    put_config(&r, Some(&subject), &body).await
}

async fn delete_subject_config(
    State(r): State<Arc<Registry>>,
    ApiPath(subject): ApiPath<String>,
) -> Reply {
    let previous = r.set_compatibility(Some(&subject), None).await?;
    Ok(ok(json!({"compatibilityLevel": previous.name()})))
}

/// The body of `PUT /mode`.
#[derive(Deserialize)]
struct ModeBody {
    mode: String,
}

/// The mode a `PUT /mode` body names, and the name as sent (Confluent answers with the body).
fn mode_of(body: &Bytes) -> Result<(Mode, String), RegistryError> {
    let b: ModeBody =
        serde_json::from_slice(body).map_err(|e| RegistryError::UnrecognizedBody(e.to_string()))?;
    let mode = Mode::parse(&b.mode).ok_or(RegistryError::InvalidMode)?;
    Ok((mode, b.mode))
}

async fn global_mode(State(r): State<Arc<Registry>>) -> Reply {
    Ok(ok(json!({"mode": r.mode(None, true)?.name()})))
}

async fn set_global_mode(
    State(r): State<Arc<Registry>>,
    Query(p): Params,
    ApiBody(body): ApiBody,
) -> Reply {
    let (mode, name) = mode_of(&body)?;
    r.set_mode(None, mode, flag(&p, "force")).await?;
    Ok(ok(json!({"mode": name})))
}

async fn subject_mode(
    State(r): State<Arc<Registry>>,
    ApiPath(subject): ApiPath<String>,
    Query(p): Params,
) -> Reply {
    let mode = r.mode(Some(&subject), flag(&p, "defaultToGlobal"))?;
    Ok(ok(json!({"mode": mode.name()})))
}

async fn set_subject_mode(
    State(r): State<Arc<Registry>>,
    ApiPath(subject): ApiPath<String>,
    Query(p): Params,
    ApiBody(body): ApiBody,
) -> Reply {
    let (mode, name) = mode_of(&body)?;
    r.set_mode(Some(&subject), mode, flag(&p, "force")).await?;
    Ok(ok(json!({"mode": name})))
}

async fn delete_subject_mode(
    State(r): State<Arc<Registry>>,
    ApiPath(subject): ApiPath<String>,
) -> Reply {
    let previous = r.delete_mode(&subject).await?;
    Ok(ok(json!({"mode": previous.name()})))
}

/// A compatibility verdict; `verbose=true` adds the reasons (an empty list when compatible).
fn verdict(verdict: Result<(), Vec<String>>, params: &HashMap<String, String>) -> Response {
    let mut out = json!({"is_compatible": verdict.is_ok()});
    if flag(params, "verbose") {
        out["messages"] = json!(verdict.err().unwrap_or_default());
    }
    ok(out)
}

async fn compatibility(
    State(r): State<Arc<Registry>>,
    ApiPath((subject, version)): ApiPath<(String, String)>,
    Query(p): Params,
    ApiBody(body): ApiBody,
) -> Reply {
    let spec = VersionSpec::parse(&version)?;
    let request = registration(&body, &p)?;
    Ok(verdict(
        r.check_compatibility(&subject, Some(spec), &request)?,
        &p,
    ))
}

/// `POST /compatibility/subjects/{subject}/versions`: against every live version, as the
/// subject's level says (transitively or against the latest).
async fn compatibility_all(
    State(r): State<Arc<Registry>>,
    ApiPath(subject): ApiPath<String>,
    Query(p): Params,
    ApiBody(body): ApiBody,
) -> Reply {
    let request = registration(&body, &p)?;
    Ok(verdict(
        r.check_compatibility(&subject, None, &request)?,
        &p,
    ))
}
