//! A client for any Confluent-compatible Schema Registry (`schema.registry.url`): registration,
//! subject lookups and schemas by id, with caches so a produce with a known id, or a consume of a
//! known id, makes no registry call. Ids are immutable, so schemas by id are cached for good.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::{json, Value};

use super::error::RegistryError;
use super::kinds::{self, Dependency, SchemaType};
use super::registry::VersionSpec;
use super::store::{Reference, Stored};

/// Settings of the client (defined with the rest of the configuration).
pub use crate::config::RegistryClientSettings as ClientSettings;

pub struct RemoteRegistry {
    settings: ClientSettings,
    http: reqwest::Client,
    by_id: RwLock<HashMap<i32, Arc<Stored>>>,
    /// (subject, schema type, canonical form) -> id, from registrations and lookups.
    ids: RwLock<HashMap<(String, SchemaType, String), i32>>,
    /// (subject, id) pairs known to be registered, with the version holding them.
    under: RwLock<HashMap<(String, i32), i32>>,
}

fn unreachable(url: &str, e: impl std::fmt::Display) -> RegistryError {
    RegistryError::Unreachable {
        url: url.to_string(),
        why: e.to_string(),
    }
}

impl RemoteRegistry {
    pub fn new(settings: ClientSettings) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(5)))
            .build()?;
        Ok(RemoteRegistry {
            settings,
            http,
            by_id: RwLock::new(HashMap::new()),
            ids: RwLock::new(HashMap::new()),
            under: RwLock::new(HashMap::new()),
        })
    }

    pub fn url(&self) -> &str {
        &self.settings.url
    }

    /// One call; a registry error body is passed on as a [`RegistryError`], transport failures
    /// and 5xx become 50003 naming the registry.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, RegistryError> {
        let url = format!("{}{path}", self.settings.url.trim_end_matches('/'));
        let mut req = self
            .http
            .request(method, &url)
            .header("accept", "application/vnd.schemaregistry.v1+json");
        if let Some((user, password)) = &self.settings.basic_auth {
            req = req.basic_auth(user, Some(password));
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/vnd.schemaregistry.v1+json")
                .body(b.to_string());
        }
        let resp = req
            .send()
            .await
            .map_err(|e| unreachable(&self.settings.url, e))?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .map_err(|e| unreachable(&self.settings.url, e))?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text.clone()));
        if status.is_success() {
            return Ok(value);
        }
        if status.is_server_error() {
            return Err(unreachable(&self.settings.url, format!("{status}: {text}")));
        }
        Err(RegistryError::Remote {
            status: status.as_u16(),
            code: value["error_code"]
                .as_u64()
                .unwrap_or(u64::from(status.as_u16())) as u32,
            message: value["message"]
                .as_str()
                .map_or_else(|| text.clone(), str::to_string),
        })
    }

    /// Registers (or finds) `schema` under `subject`; its id.
    pub async fn register(
        &self,
        subject: &str,
        schema: &str,
        kind: SchemaType,
    ) -> Result<i32, RegistryError> {
        let parsed = kinds::parse(kind, schema).map_err(RegistryError::invalid_schema)?;
        let canonical = kinds::canonical(&parsed, &[]);
        let key = (subject.to_string(), kind, canonical.clone());
        if let Some(id) = self.ids.read().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(*id);
        }
        let mut body = json!({ "schema": schema });
        if kind != SchemaType::Avro {
            body["schemaType"] = json!(kind.name());
        }
        let path = format!("/subjects/{}/versions", urlencode(subject));
        let reply = self.call(reqwest::Method::POST, &path, Some(body)).await?;
        let id = reply["id"]
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .ok_or_else(|| unreachable(&self.settings.url, format!("no id in {reply}")))?;
        self.ids
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, id);
        self.by_id
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(id)
            .or_insert_with(|| {
                Arc::new(Stored {
                    schema: schema.to_string(),
                    schema_type: kind,
                    references: Vec::new(),
                    parsed,
                    canonical,
                })
            });
        Ok(id)
    }

    /// The schema with `id`.
    pub async fn schema(&self, id: i32) -> Result<Arc<Stored>, RegistryError> {
        if let Some(s) = self
            .by_id
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
        {
            return Ok(s.clone());
        }
        let reply = self
            .call(reqwest::Method::GET, &format!("/schemas/ids/{id}"), None)
            .await?;
        let text = reply["schema"]
            .as_str()
            .ok_or_else(|| unreachable(&self.settings.url, format!("no schema in {reply}")))?;
        let kind = schema_type(&reply);
        let references = references_of(&reply);
        let mut dependencies = Vec::new();
        self.fetch_dependencies(&references, &mut dependencies, 0)
            .await?;
        let parsed =
            kinds::parse_with(kind, text, &dependencies).map_err(RegistryError::invalid_schema)?;
        let stored = Arc::new(Stored {
            schema: text.to_string(),
            schema_type: kind,
            canonical: kinds::canonical(&parsed, &references),
            references,
            parsed,
        });
        self.by_id
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, stored.clone());
        Ok(stored)
    }

    /// The schemas `references` name, fetched from the registry, dependencies first.
    fn fetch_dependencies<'a>(
        &'a self,
        references: &'a [Reference],
        out: &'a mut Vec<Dependency>,
        depth: usize,
    ) -> futures_util::future::BoxFuture<'a, Result<(), RegistryError>> {
        Box::pin(async move {
            if depth > 32 {
                return Err(RegistryError::invalid_schema(
                    "Invalid schema: references nest more than 32 deep",
                ));
            }
            for r in references {
                if out.iter().any(|d| d.name == r.name) {
                    continue;
                }
                let version = if r.version == -1 {
                    "latest".to_string()
                } else {
                    r.version.to_string()
                };
                let path = format!("/subjects/{}/versions/{version}", urlencode(&r.subject));
                let reply = self.call(reqwest::Method::GET, &path, None).await?;
                let schema = reply["schema"].as_str().ok_or_else(|| {
                    unreachable(&self.settings.url, format!("no schema in {reply}"))
                })?;
                self.fetch_dependencies(&references_of(&reply), out, depth + 1)
                    .await?;
                out.push(Dependency {
                    name: r.name.clone(),
                    kind: schema_type(&reply),
                    schema: schema.to_string(),
                });
            }
            Ok(())
        })
    }

    /// The version of `subject` holding schema `id`, or None when it is not registered there
    /// (Confluent's `getVersion` check).
    pub async fn version_under(
        &self,
        subject: &str,
        id: i32,
    ) -> Result<Option<i32>, RegistryError> {
        let key = (subject.to_string(), id);
        if let Some(known) = self
            .under
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(Some(*known));
        }
        let stored = match self.schema(id).await {
            Ok(s) => s,
            Err(e) if e.remote_code() == Some(40403) => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut body = json!({ "schema": stored.schema });
        if stored.schema_type != SchemaType::Avro {
            body["schemaType"] = json!(stored.schema_type.name());
        }
        let path = format!("/subjects/{}", urlencode(subject));
        let found = match self.call(reqwest::Method::POST, &path, Some(body)).await {
            Ok(reply) if reply["id"].as_i64() == Some(i64::from(id)) => reply["version"]
                .as_i64()
                .and_then(|v| i32::try_from(v).ok()),
            Ok(_) => None,
            Err(e) if matches!(e.remote_code(), Some(40401 | 40403)) => None,
            Err(e) => return Err(e),
        };
        if let Some(version) = found {
            // Only positive answers are cached: a registration may come later.
            self.under
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key, version);
        }
        Ok(found)
    }

    /// One version of `subject` (`latest`: the newest): its schema id and version number.
    /// Numbered versions are cached (a version's schema never changes); `latest` is asked
    /// each time, so a new version is used as soon as it is registered.
    pub async fn subject_version(
        &self,
        subject: &str,
        spec: VersionSpec,
    ) -> Result<(i32, i32), RegistryError> {
        let version = match spec {
            VersionSpec::Latest => "latest".to_string(),
            VersionSpec::Number(n) => {
                let cached = self
                    .under
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .iter()
                    .find(|((s, _), v)| s == subject && **v == n)
                    .map(|((_, id), v)| (*id, *v));
                if let Some(found) = cached {
                    return Ok(found);
                }
                n.to_string()
            }
        };
        let path = format!("/subjects/{}/versions/{version}", urlencode(subject));
        let reply = self.call(reqwest::Method::GET, &path, None).await?;
        let number = |field: &str| {
            reply[field]
                .as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .ok_or_else(|| unreachable(&self.settings.url, format!("no {field} in {reply}")))
        };
        let (id, version) = (number("id")?, number("version")?);
        self.under
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert((subject.to_string(), id), version);
        Ok((id, version))
    }
}

/// Percent-encodes a subject for a URL path segment.
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The schemas the formats use: the built-in registry (in memory) or a remote one (cached).
#[derive(Clone)]
pub enum Schemas {
    Local(Arc<super::Registry>),
    Remote(Arc<RemoteRegistry>),
}

impl Schemas {
    pub async fn register(
        &self,
        subject: &str,
        schema: &str,
        kind: SchemaType,
    ) -> Result<i32, RegistryError> {
        match self {
            Schemas::Local(r) => r.register(subject, schema, kind, Vec::new()).await,
            Schemas::Remote(r) => r.register(subject, schema, kind).await,
        }
    }

    pub async fn schema(&self, id: i32) -> Result<Arc<Stored>, RegistryError> {
        match self {
            Schemas::Local(r) => r.schema(id),
            Schemas::Remote(r) => r.schema(id).await,
        }
    }

    /// The version of `subject` holding schema `id`, or None when it is not registered there.
    pub async fn version_under(
        &self,
        subject: &str,
        id: i32,
    ) -> Result<Option<i32>, RegistryError> {
        match self {
            Schemas::Local(r) => Ok(r.version_under(subject, id)),
            Schemas::Remote(r) => r.version_under(subject, id).await,
        }
    }

    /// One version of `subject` (`latest`: the newest live one): its schema id and number.
    pub async fn subject_version(
        &self,
        subject: &str,
        spec: VersionSpec,
    ) -> Result<(i32, i32), RegistryError> {
        match self {
            Schemas::Local(r) => r.version(subject, spec, false).map(|v| (v.id, v.version)),
            Schemas::Remote(r) => r.subject_version(subject, spec).await,
        }
    }

    /// A schema by id if known without a registry call (the consume path, which cannot await):
    /// the built-in registry's state, or the client's cache (None: fetch it with [`Self::schema`]).
    pub fn cached(&self, id: i32) -> Result<Option<Arc<Stored>>, RegistryError> {
        match self {
            Schemas::Local(r) => r.schema(id).map(Some),
            Schemas::Remote(r) => Ok(r
                .by_id
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .get(&id)
                .cloned()),
        }
    }
}

/// The `schemaType` of a registry answer (absent: AVRO).
fn schema_type(reply: &Value) -> SchemaType {
    reply["schemaType"]
        .as_str()
        .and_then(SchemaType::parse)
        .unwrap_or(SchemaType::Avro)
}

/// The `references` of a registry answer.
fn references_of(reply: &Value) -> Vec<Reference> {
    serde_json::from_value(reply["references"].clone()).unwrap_or_default()
}
