//! The registry service: subjects, versions, ids and compatibility levels over a [`Store`]
//! applied from the `_schemas` log, with writes serialised through that log.

use std::sync::{Arc, RwLock};

use crate::kafka::log::{Apply, CompactedLog, LogError};

use super::error::RegistryError;
use super::kinds::{self, Compatibility, SchemaType};
use super::store::{self, ConfigValue, DeleteSubjectValue, LogKey, Reference, SchemaValue, Store};

/// The largest `_schemas` record written: Kafka's default `message.max.bytes` (1 MB) less room
/// for the record's framing. A larger schema is refused as invalid instead of failing the write.
const MAX_LOG_RECORD_BYTES: usize = 1_000_000 - 1024;

/// A subject version as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectVersion {
    pub subject: String,
    pub version: i32,
    pub id: i32,
    pub schema: String,
    pub schema_type: SchemaType,
    pub references: Vec<Reference>,
}

/// Which version a request names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionSpec {
    Latest,
    Number(i32),
}

impl VersionSpec {
    pub fn parse(text: &str) -> Result<VersionSpec, RegistryError> {
        if text == "latest" || text == "-1" {
            return Ok(VersionSpec::Latest);
        }
        match text.parse::<i32>() {
            Ok(n) if n >= 1 => Ok(VersionSpec::Number(n)),
            _ => Err(RegistryError::invalid_version(text)),
        }
    }
}

/// `subject` if it has live versions, or any versions when `deleted` is asked for.
fn visible<'s>(
    store: &'s Store,
    subject: &str,
    deleted: bool,
) -> Result<&'s store::Subject, RegistryError> {
    store
        .subjects
        .get(subject)
        .filter(|s| s.is_live() || (deleted && !s.versions.is_empty()))
        .ok_or_else(|| RegistryError::subject_not_found(subject))
}

/// The registry: state, its log, and a lock serialising this instance's writes.
pub struct Registry {
    pub store: Arc<RwLock<Store>>,
    log: CompactedLog,
    writes: tokio::sync::Mutex<()>,
}

impl Registry {
    /// Opens the registry on the log `open_log` opens with the function given to it, which
    /// applies each of the log's records to the registry's state (the log is read to its end
    /// before this returns).
    pub async fn open<F, Fut>(open_log: F) -> Result<Registry, LogError>
    where
        F: FnOnce(Apply) -> Fut,
        Fut: std::future::Future<Output = Result<CompactedLog, LogError>>,
    {
        let store = Arc::new(RwLock::new(Store::default()));
        let applied = store.clone();
        let apply: Apply = Box::new(move |key, value| {
            applied
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .apply(key, value)
        });
        let log = open_log(apply).await?;
        Ok(Registry {
            store,
            log,
            writes: tokio::sync::Mutex::new(()),
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Store> {
        self.store.read().unwrap_or_else(|e| e.into_inner())
    }

    async fn write(&self, key: &LogKey, value: Option<Vec<u8>>) -> Result<(), RegistryError> {
        let key = serde_json::to_vec(key).expect("keys serialize");
        let size = key.len() + value.as_ref().map_or(0, Vec::len);
        if size > MAX_LOG_RECORD_BYTES {
            return Err(RegistryError::invalid_schema(format!(
                "Invalid schema: it takes {size} bytes as a record of the registry's topic, more \
                 than the {MAX_LOG_RECORD_BYTES} a Kafka record holds by default"
            )));
        }
        self.log
            .write(&key, value.as_deref())
            .await
            .map_err(|e| RegistryError::store(e.to_string()))
    }

    /// Parses `schema` with its references resolved; its parsed and canonical forms.
    fn parse(
        &self,
        kind: SchemaType,
        schema: &str,
        references: &[Reference],
    ) -> Result<(kinds::Parsed, String), RegistryError> {
        let dependencies = self
            .read()
            .dependencies(references)
            .map_err(RegistryError::invalid_schema)?;
        let parsed = kinds::parse_with(kind, schema, &dependencies)
            .map_err(RegistryError::invalid_schema)?;
        let canonical = kinds::canonical(&parsed, references);
        Ok((parsed, canonical))
    }

    /// Refuses to delete a subject version other schemas reference (Confluent's 42206).
    fn check_unreferenced(
        store: &Store,
        subject: &str,
        versions: &[i32],
    ) -> Result<(), RegistryError> {
        for &version in versions {
            let ids = store.referenced_by(subject, version);
            if !ids.is_empty() {
                return Err(RegistryError::Referenced {
                    subject: subject.to_string(),
                    version,
                    ids,
                });
            }
        }
        Ok(())
    }

    /// Ids of the schemas referencing a version of `subject`.
    pub fn referenced_by(
        &self,
        subject: &str,
        spec: VersionSpec,
    ) -> Result<Vec<i32>, RegistryError> {
        let v = self.version(subject, spec, false)?;
        Ok(self.read().referenced_by(subject, v.version))
    }

    /// Registers `schema` under `subject` (or finds it there) and returns its id.
    pub async fn register(
        &self,
        subject: &str,
        schema: &str,
        kind: SchemaType,
        references: Vec<Reference>,
    ) -> Result<i32, RegistryError> {
        let (parsed, canonical) = self.parse(kind, schema, &references)?;
        // Known already (the common case: every produce request that carries schema text):
        // answered without waiting for this instance's writes.
        if let Some((_, id)) = self.read().version_of(subject, kind, &canonical) {
            return Ok(id);
        }
        let _writing = self.writes.lock().await;
        // Another instance may take the id or version first; the log decides, and we retry.
        for _ in 0..5 {
            let (id, version) = {
                let store = self.read();
                if let Some((_, id)) = store.version_of(subject, kind, &canonical) {
                    return Ok(id);
                }
                let level = store.compatibility_of(subject);
                if let Err(why) = level.check(&parsed, &store.history(subject)) {
                    return Err(RegistryError::Incompatible {
                        subject: subject.to_string(),
                        level: level.name(),
                        details: why,
                    });
                }
                let id = match store.id_of(kind, &canonical) {
                    Some(id) => id,
                    None => store.max_id.checked_add(1).ok_or_else(|| {
                        RegistryError::store(format!(
                            "no schema id is left: the highest in use is {}",
                            store.max_id
                        ))
                    })?,
                };
                let version = store.next_version(subject).ok_or_else(|| {
                    RegistryError::store(format!("subject {subject} has no version number left"))
                })?;
                (id, version)
            };
            let value = SchemaValue {
                subject: subject.to_string(),
                version,
                id,
                schema: schema.to_string(),
                schema_type: kind,
                references: references.clone(),
                deleted: false,
            };
            self.write(
                &LogKey::Schema {
                    subject: subject.to_string(),
                    version,
                    magic: 1,
                },
                Some(serde_json::to_vec(&value).expect("values serialize")),
            )
            .await?;
            if self.read().version_of(subject, kind, &canonical) == Some((version, id)) {
                return Ok(id);
            }
        }
        Err(RegistryError::store(
            "registration kept losing races with other instances",
        ))
    }

    /// The live version of `subject` holding `schema`.
    pub fn lookup(
        &self,
        subject: &str,
        schema: &str,
        kind: SchemaType,
        references: &[Reference],
    ) -> Result<SubjectVersion, RegistryError> {
        let (_, canonical) = self.parse(kind, schema, references)?;
        let store = self.read();
        if !store.subjects.get(subject).is_some_and(|s| s.is_live()) {
            return Err(RegistryError::subject_not_found(subject));
        }
        let (version, _) = store
            .version_of(subject, kind, &canonical)
            .ok_or_else(RegistryError::schema_not_found)?;
        drop(store);
        self.version(subject, VersionSpec::Number(version), false)
    }

    /// Subject names, soft-deleted ones only when `deleted`.
    pub fn subjects(&self, deleted: bool) -> Vec<String> {
        self.read()
            .subjects
            .iter()
            .filter(|(_, s)| {
                if deleted {
                    !s.versions.is_empty()
                } else {
                    s.is_live()
                }
            })
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Version numbers of `subject`.
    pub fn versions(&self, subject: &str, deleted: bool) -> Result<Vec<i32>, RegistryError> {
        let store = self.read();
        let s = visible(&store, subject, deleted)?;
        Ok(s.versions
            .iter()
            .filter(|(_, v)| deleted || !v.deleted)
            .map(|(n, _)| *n)
            .collect())
    }

    /// One version of `subject`.
    pub fn version(
        &self,
        subject: &str,
        spec: VersionSpec,
        deleted: bool,
    ) -> Result<SubjectVersion, RegistryError> {
        let store = self.read();
        let s = visible(&store, subject, deleted)?;
        let (version, v) = match spec {
            VersionSpec::Latest => s
                .live()
                .last()
                .ok_or_else(|| RegistryError::version_not_found("latest"))?,
            VersionSpec::Number(n) => s
                .versions
                .get(&n)
                .filter(|v| deleted || !v.deleted)
                .map(|v| (n, *v))
                .ok_or_else(|| RegistryError::version_not_found(n))?,
        };
        let stored = store
            .schemas
            .get(&v.id)
            .ok_or_else(RegistryError::schema_not_found)?;
        Ok(SubjectVersion {
            subject: subject.to_string(),
            version,
            id: v.id,
            schema: stored.schema.clone(),
            schema_type: stored.schema_type,
            references: stored.references.clone(),
        })
    }

    /// The schema with `id`.
    pub fn schema(&self, id: i32) -> Result<Arc<store::Stored>, RegistryError> {
        self.read()
            .schemas
            .get(&id)
            .cloned()
            .ok_or_else(RegistryError::schema_not_found)
    }

    /// Subject versions using schema `id`.
    pub fn uses_of(&self, id: i32) -> Result<Vec<(String, i32)>, RegistryError> {
        let store = self.read();
        if !store.schemas.contains_key(&id) {
            return Err(RegistryError::schema_not_found());
        }
        Ok(store.uses_of(id))
    }

    /// Deletes a subject: soft (its versions stay readable by id), or permanent after a soft
    /// delete. Returns the versions deleted.
    pub async fn delete_subject(
        &self,
        subject: &str,
        permanent: bool,
    ) -> Result<Vec<i32>, RegistryError> {
        let _writing = self.writes.lock().await;
        let (live, all): (Vec<i32>, Vec<i32>) = {
            let store = self.read();
            let s = store
                .subjects
                .get(subject)
                .filter(|s| !s.versions.is_empty())
                .ok_or_else(|| RegistryError::subject_not_found(subject))?;
            (
                s.live().map(|(n, _)| n).collect(),
                s.versions.keys().copied().collect(),
            )
        };
        Self::check_unreferenced(&self.read(), subject, &all)?;
        if !permanent {
            let Some(&latest) = live.last() else {
                return Err(RegistryError::SubjectSoftDeleted(subject.to_string()));
            };
            let value = DeleteSubjectValue {
                subject: subject.to_string(),
                version: latest,
            };
            self.write(
                &LogKey::DeleteSubject {
                    subject: subject.to_string(),
                    magic: 0,
                },
                Some(serde_json::to_vec(&value).expect("serializes")),
            )
            .await?;
            return Ok(live);
        }
        if !live.is_empty() {
            return Err(RegistryError::SubjectNotSoftDeleted(subject.to_string()));
        }
        for &version in &all {
            self.write(
                &LogKey::Schema {
                    subject: subject.to_string(),
                    version,
                    magic: 1,
                },
                None,
            )
            .await?;
        }
        Ok(all)
    }

    /// Deletes one version: soft, or permanent after a soft delete.
    pub async fn delete_version(
        &self,
        subject: &str,
        spec: VersionSpec,
        permanent: bool,
    ) -> Result<i32, RegistryError> {
        let _writing = self.writes.lock().await;
        let current = self.version(subject, spec, permanent)?;
        Self::check_unreferenced(&self.read(), subject, &[current.version])?;
        let deleted = self
            .read()
            .subjects
            .get(subject)
            .and_then(|s| s.versions.get(&current.version))
            .is_some_and(|v| v.deleted);
        let key = LogKey::Schema {
            subject: subject.to_string(),
            version: current.version,
            magic: 1,
        };
        if permanent {
            if !deleted {
                return Err(RegistryError::VersionNotSoftDeleted {
                    subject: subject.to_string(),
                    version: current.version,
                });
            }
            self.write(&key, None).await?;
        } else {
            let value = SchemaValue {
                subject: subject.to_string(),
                version: current.version,
                id: current.id,
                schema: current.schema.clone(),
                schema_type: current.schema_type,
                references: current.references.clone(),
                deleted: true,
            };
            self.write(&key, Some(serde_json::to_vec(&value).expect("serializes")))
                .await?;
        }
        Ok(current.version)
    }

    /// The compatibility level of `subject` (None: global). A subject without its own level is
    /// 40408 unless `default_to_global`.
    pub fn compatibility(
        &self,
        subject: Option<&str>,
        default_to_global: bool,
    ) -> Result<Compatibility, RegistryError> {
        let store = self.read();
        match subject {
            None => Ok(store.compatibility),
            Some(s) => match store.subjects.get(s).and_then(|s| s.compatibility) {
                Some(level) => Ok(level),
                None if default_to_global => Ok(store.compatibility),
                None => Err(RegistryError::NoSubjectCompatibility(s.to_string())),
            },
        }
    }

    /// Sets (or, with None, removes) the compatibility level of `subject` or the global one.
    pub async fn set_compatibility(
        &self,
        subject: Option<&str>,
        level: Option<Compatibility>,
    ) -> Result<(), RegistryError> {
        let _writing = self.writes.lock().await;
        let value = level.map(|l| {
            serde_json::to_vec(&ConfigValue {
                compatibility_level: l,
            })
            .expect("serializes")
        });
        self.write(
            &LogKey::Config {
                subject: subject.map(str::to_string),
                magic: 0,
            },
            value,
        )
        .await
    }

    /// Whether `schema` may be registered under `subject` against `spec` (latest: per the
    /// subject's level, transitively when it says so; a number: against that version alone).
    pub fn check_compatibility(
        &self,
        subject: &str,
        spec: VersionSpec,
        schema: &str,
        kind: SchemaType,
        references: &[Reference],
    ) -> Result<Result<(), Vec<String>>, RegistryError> {
        let (parsed, _) = self.parse(kind, schema, references)?;
        let store = self.read();
        let level = store.compatibility_of(subject);
        let history = match spec {
            VersionSpec::Latest => {
                if !store.subjects.get(subject).is_some_and(|s| s.is_live()) {
                    return Err(RegistryError::subject_not_found(subject));
                }
                store.history(subject)
            }
            VersionSpec::Number(_) => {
                drop(store);
                let v = self.version(subject, spec, false)?;
                return Ok(level.check(&parsed, &[self.schema(v.id)?.parsed.clone()]));
            }
        };
        Ok(level.check(&parsed, &history))
    }
}
