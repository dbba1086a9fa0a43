//! The registry service: subjects, versions, ids and compatibility levels over a [`Store`]
//! applied from the `_schemas` log, with writes serialised through that log.

use std::sync::{Arc, RwLock};

use crate::kafka::log::{Apply, CompactedLog, LogError};

use super::error::RegistryError;
use super::kinds::{self, Compatibility, SchemaType};
use super::store::{
    self, ConfigValue, DeleteSubjectValue, LogKey, Mode, ModeValue, Reference, SchemaValue, Store,
};

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
    /// `latest` (any case) or `-1`, or a version from 1 (surrounding spaces ignored, as
    /// Confluent's `VersionId` reads it).
    pub fn parse(text: &str) -> Result<VersionSpec, RegistryError> {
        let trimmed = text.trim();
        if trimmed.eq_ignore_ascii_case("latest") || trimmed == "-1" {
            return Ok(VersionSpec::Latest);
        }
        match trimmed.parse::<i32>() {
            Ok(n) if n >= 1 => Ok(VersionSpec::Number(n)),
            _ => Err(RegistryError::invalid_version(text)),
        }
    }
}

/// A registration: the schema, and what the request asks of it.
#[derive(Debug, Clone, Default)]
pub struct Registration {
    pub schema: String,
    pub kind: SchemaType,
    pub references: Vec<Reference>,
    /// The id to register under (IMPORT mode only).
    pub id: Option<i32>,
    /// The version to register as (IMPORT mode: any; otherwise the next one only).
    pub version: Option<i32>,
    /// `normalize=true`: the schema is registered in its normalized form.
    pub normalize: bool,
}

/// What `GET /schemas` lists.
#[derive(Debug, Clone, Default)]
pub struct SchemaFilter {
    pub subject_prefix: String,
    pub deleted: bool,
    pub latest_only: bool,
    pub offset: usize,
    /// At most this many (Confluent caps the list at 1000 by default).
    pub limit: usize,
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

    /// Parses `schema` with its references resolved; its parsed and canonical forms. With
    /// `normalize`, the schema is its normalized form ([`kinds::normalized_text`]).
    fn parse(
        &self,
        kind: SchemaType,
        schema: &str,
        references: &[Reference],
        normalize: bool,
    ) -> Result<(kinds::Parsed, String), RegistryError> {
        let dependencies = self
            .read()
            .dependencies(references)
            .map_err(RegistryError::invalid_schema)?;
        let mut parsed = kinds::parse_with(kind, schema, &dependencies)
            .map_err(RegistryError::invalid_schema)?;
        if normalize {
            parsed = kinds::parse_with(kind, &kinds::normalized_text(&parsed), &dependencies)
                .map_err(RegistryError::invalid_schema)?;
        }
        let canonical = kinds::canonical(&parsed, references);
        Ok((parsed, canonical))
    }

    /// Refuses a new Avro schema with a field default that matches no branch of its type.
    fn check_defaults(schema: &str) -> Result<(), RegistryError> {
        let doc: serde_json::Value =
            serde_json::from_str(schema).map_err(RegistryError::invalid_schema)?;
        match super::avro_defaults::first_mismatch(&doc) {
            Some(field) => Err(RegistryError::invalid_schema(format!(
                "Invalid schema: invalid default for field {field}"
            ))),
            None => Ok(()),
        }
    }

    /// Refuses a write to `subject`'s scope (None: global) in a read-only mode.
    fn check_writable(store: &Store, subject: Option<&str>) -> Result<(), RegistryError> {
        if store.mode_of(subject).is_read_only() {
            return Err(RegistryError::ReadOnly(subject.map(str::to_string)));
        }
        Ok(())
    }

    /// Refuses to delete subject versions other schemas reference (Confluent's 42206):
    /// referenced by live versions for a soft delete, by any for a permanent one; references
    /// from within `subject` itself do not count when the whole subject goes.
    fn check_unreferenced(
        store: &Store,
        subject: &str,
        versions: &[i32],
        permanent: bool,
        whole_subject: bool,
    ) -> Result<(), RegistryError> {
        for &version in versions {
            let referrers = store
                .referenced_by(subject, version, permanent)
                .into_iter()
                .filter(|id| {
                    !whole_subject
                        || store
                            .uses_of(*id, permanent)
                            .iter()
                            .any(|(s, _)| s != subject)
                });
            if referrers.count() > 0 {
                return Err(RegistryError::Referenced {
                    subject: subject.to_string(),
                    version,
                });
            }
        }
        Ok(())
    }

    /// Ids of the schemas referencing a version of `subject` (soft-deleted versions too), by
    /// live versions or, with `deleted`, any.
    pub fn referenced_by(
        &self,
        subject: &str,
        spec: VersionSpec,
        deleted: bool,
    ) -> Result<Vec<i32>, RegistryError> {
        let v = self.version(subject, spec, true)?;
        Ok(self.read().referenced_by(subject, v.version, deleted))
    }

    /// Registers `schema` under `subject` (or finds it there) and returns its id.
    pub async fn register(
        &self,
        subject: &str,
        schema: &str,
        kind: SchemaType,
        references: Vec<Reference>,
    ) -> Result<i32, RegistryError> {
        self.register_with(
            subject,
            Registration {
                schema: schema.to_string(),
                kind,
                references,
                ..Registration::default()
            },
        )
        .await
    }

    /// Registers a schema under `subject` as `request` asks, or finds it there, and returns its
    /// id. The subject's mode decides: READONLY refuses new schemas, IMPORT takes the id (and
    /// version) given and checks no compatibility, READWRITE takes neither.
    pub async fn register_with(
        &self,
        subject: &str,
        request: Registration,
    ) -> Result<i32, RegistryError> {
        let Registration {
            schema: _,
            kind,
            mut references,
            id: wanted_id,
            version: wanted_version,
            normalize,
        } = request.clone();
        if normalize {
            references.sort_by(|a, b| {
                (&a.name, &a.subject, a.version).cmp(&(&b.name, &b.subject, b.version))
            });
            references.dedup();
        }
        let (parsed, canonical) = self.parse(kind, &request.schema, &references, normalize)?;
        let known = |store: &Store| {
            store
                .version_of(subject, kind, &canonical)
                .filter(|(_, id)| wanted_id.is_none_or(|w| w == *id))
                .map(|(_, id)| id)
        };
        // Known already (the common case: every produce request that carries schema text):
        // answered without waiting for this instance's writes, in any mode.
        if let Some(id) = known(&self.read()) {
            return Ok(id);
        }
        let _writing = self.writes.lock().await;
        // Another instance may take the id or version first; the log decides, and we retry.
        for _ in 0..5 {
            let (id, version) = {
                let store = self.read();
                if let Some(id) = known(&store) {
                    return Ok(id);
                }
                let mode = store.mode_of(Some(subject));
                Self::check_writable(&store, Some(subject))?;
                let next = store.next_version(subject).ok_or_else(|| {
                    RegistryError::store(format!("subject {subject} has no version number left"))
                })?;
                match (mode, wanted_id) {
                    (Mode::Import, Some(id)) => {
                        if id < 1 {
                            return Err(RegistryError::invalid_schema(format!(
                                "Invalid schema id {id}: ids are positive"
                            )));
                        }
                        if store
                            .schemas
                            .get(&id)
                            .is_some_and(|s| s.schema_type != kind || s.canonical != canonical)
                        {
                            return Err(RegistryError::IdTaken(id));
                        }
                        let version = wanted_version.filter(|v| *v > 0).unwrap_or(next);
                        if store
                            .subjects
                            .get(subject)
                            .and_then(|s| s.versions.get(&version))
                            .is_some_and(|v| v.id != id)
                        {
                            return Err(RegistryError::invalid_schema(format!(
                                "Version {version} of subject {subject} is registered with \
                                 another schema"
                            )));
                        }
                        (id, version)
                    }
                    (Mode::Import, None) => {
                        return Err(RegistryError::NotReadWriteMode(subject.to_string()))
                    }
                    (_, Some(_)) => return Err(RegistryError::NotImportMode(subject.to_string())),
                    (_, None) => {
                        if kind == SchemaType::Avro {
                            Self::check_defaults(&request.schema)?;
                        }
                        if wanted_version.is_some_and(|v| v > 0 && v != next) {
                            return Err(RegistryError::invalid_schema(
                                "Version is not one more than previous version",
                            ));
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
                        (id, next)
                    }
                }
            };
            let value = SchemaValue {
                subject: subject.to_string(),
                version,
                id,
                schema: kinds::text(&parsed),
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

    /// The version of `subject` holding the schema of `request` (a live one, or any when
    /// `deleted`). With `normalize`, the normalized form is looked for. An Avro schema also
    /// matches a version equal to it once both are normalized (Confluent's fallback to Avro
    /// equivalence), so a lookup finds a schema registered with `normalize=true`.
    pub fn lookup(
        &self,
        subject: &str,
        request: &Registration,
        deleted: bool,
    ) -> Result<SubjectVersion, RegistryError> {
        let (parsed, canonical) = self.parse(
            request.kind,
            &request.schema,
            &request.references,
            request.normalize,
        )?;
        let store = self.read();
        let s = visible(&store, subject, deleted)?;
        let candidates = || s.versions.iter().filter(|(_, v)| deleted || !v.deleted);
        let exact = candidates().find(|(_, v)| {
            store
                .schemas
                .get(&v.id)
                .is_some_and(|st| st.schema_type == request.kind && st.canonical == canonical)
        });
        let found = exact.or_else(|| {
            if request.kind != SchemaType::Avro {
                return None;
            }
            let wanted = kinds::normalized_text(&parsed);
            candidates().find(|(_, v)| {
                store.schemas.get(&v.id).is_some_and(|st| {
                    st.schema_type == SchemaType::Avro
                        && st.references == request.references
                        && kinds::normalized_text(&st.parsed) == wanted
                })
            })
        });
        let (&version, _) = found.ok_or_else(RegistryError::schema_not_found)?;
        drop(store);
        self.version(subject, VersionSpec::Number(version), true)
    }

    /// Subject names starting with `prefix`: those with live versions; with `deleted`, also
    /// soft-deleted ones; with `deleted_only`, only subjects whose versions are all deleted.
    pub fn subjects(&self, prefix: &str, deleted: bool, deleted_only: bool) -> Vec<String> {
        self.read()
            .subjects
            .iter()
            .filter(|(n, _)| n.starts_with(prefix))
            .filter(|(_, s)| {
                if deleted_only {
                    !s.versions.is_empty() && !s.is_live()
                } else if deleted {
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

    /// One version of `subject` (`latest`: the latest live one).
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
        Self::subject_version(&store, subject, version, v.id)
    }

    fn subject_version(
        store: &Store,
        subject: &str,
        version: i32,
        id: i32,
    ) -> Result<SubjectVersion, RegistryError> {
        let stored = store
            .schemas
            .get(&id)
            .ok_or_else(RegistryError::schema_not_found)?;
        Ok(SubjectVersion {
            subject: subject.to_string(),
            version,
            id,
            schema: stored.schema.clone(),
            schema_type: stored.schema_type,
            references: stored.references.clone(),
        })
    }

    /// `GET /schemas`: subject versions by subject, then version.
    pub fn schemas(&self, filter: &SchemaFilter) -> Vec<SubjectVersion> {
        let store = self.read();
        let mut out = Vec::new();
        for (name, s) in store.subjects.range(filter.subject_prefix.clone()..) {
            if !name.starts_with(&filter.subject_prefix) {
                break;
            }
            let versions: Vec<(i32, store::Version)> = s
                .versions
                .iter()
                .filter(|(_, v)| filter.deleted || !v.deleted)
                .map(|(n, v)| (*n, *v))
                .collect();
            let chosen = if filter.latest_only {
                &versions[versions.len().saturating_sub(1)..]
            } else {
                &versions[..]
            };
            for (n, v) in chosen {
                if let Ok(sv) = Self::subject_version(&store, name, *n, v.id) {
                    out.push(sv);
                }
            }
        }
        out.into_iter()
            .skip(filter.offset)
            .take(filter.limit)
            .collect()
    }

    /// The schema with `id`.
    pub fn schema(&self, id: i32) -> Result<Arc<store::Stored>, RegistryError> {
        self.read()
            .schemas
            .get(&id)
            .cloned()
            .ok_or(RegistryError::SchemaIdNotFound(id))
    }

    /// Subject versions using schema `id`: live ones, or all when `deleted`.
    pub fn uses_of(&self, id: i32, deleted: bool) -> Result<Vec<(String, i32)>, RegistryError> {
        let store = self.read();
        if !store.schemas.contains_key(&id) {
            return Err(RegistryError::schema_not_found());
        }
        Ok(store.uses_of(id, deleted))
    }

    /// The live version of `subject` that holds schema `id` (the oldest, if several do), looked
    /// up in that subject alone: produce asks this once per request, and going through every
    /// subject's versions ([`Registry::uses_of`]) made each request's cost grow with the registry.
    pub fn version_under(&self, subject: &str, id: i32) -> Option<i32> {
        self.read()
            .subjects
            .get(subject)?
            .versions
            .iter()
            .find(|(_, v)| v.id == id && !v.deleted)
            .map(|(n, _)| *n)
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
            let live: Vec<i32> = s.live().map(|(n, _)| n).collect();
            if !permanent && live.is_empty() {
                return Err(RegistryError::SubjectSoftDeleted(subject.to_string()));
            }
            if permanent && !live.is_empty() {
                return Err(RegistryError::SubjectNotSoftDeleted(subject.to_string()));
            }
            Self::check_writable(&store, Some(subject))?;
            let all: Vec<i32> = s.versions.keys().copied().collect();
            Self::check_unreferenced(&store, subject, &all, permanent, true)?;
            (live, all)
        };
        if !permanent {
            let latest = *live.last().expect("checked above");
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
        self.tombstone_versions(subject, &all).await?;
        Ok(all)
    }

    async fn tombstone_versions(
        &self,
        subject: &str,
        versions: &[i32],
    ) -> Result<(), RegistryError> {
        for &version in versions {
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
        Ok(())
    }

    /// Deletes one version: soft, or permanent after a soft delete. Confluent's order of
    /// refusals: no subject (40401), no such version (40402), a soft-deleted version deleted
    /// softly again (40406), a live version deleted permanently (40407), read-only (42205),
    /// references (42206).
    pub async fn delete_version(
        &self,
        subject: &str,
        spec: VersionSpec,
        permanent: bool,
    ) -> Result<i32, RegistryError> {
        let _writing = self.writes.lock().await;
        let current = {
            let store = self.read();
            let s = store
                .subjects
                .get(subject)
                .filter(|s| !s.versions.is_empty())
                .ok_or_else(|| RegistryError::subject_not_found(subject))?;
            let (number, version) = match spec {
                VersionSpec::Latest => s
                    .live()
                    .last()
                    .ok_or_else(|| RegistryError::version_not_found("latest"))?,
                VersionSpec::Number(n) => s
                    .versions
                    .get(&n)
                    .map(|v| (n, *v))
                    .ok_or_else(|| RegistryError::version_not_found(n))?,
            };
            if !permanent && version.deleted {
                return Err(RegistryError::VersionSoftDeleted {
                    subject: subject.to_string(),
                    version: number,
                });
            }
            if permanent && !version.deleted {
                return Err(RegistryError::VersionNotSoftDeleted {
                    subject: subject.to_string(),
                    version: number,
                });
            }
            Self::check_writable(&store, Some(subject))?;
            Self::check_unreferenced(&store, subject, &[number], permanent, false)?;
            Self::subject_version(&store, subject, number, version.id)?
        };
        let key = LogKey::Schema {
            subject: subject.to_string(),
            version: current.version,
            magic: 1,
        };
        if permanent {
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

    /// Sets (or, with None, removes) the compatibility level of `subject` or the global one;
    /// returns the level in force before. Removing a subject's level it does not have is
    /// Confluent's 40401.
    pub async fn set_compatibility(
        &self,
        subject: Option<&str>,
        level: Option<Compatibility>,
    ) -> Result<Compatibility, RegistryError> {
        let _writing = self.writes.lock().await;
        let previous = {
            let store = self.read();
            Self::check_writable(&store, subject)?;
            match subject {
                None => store.compatibility,
                Some(s) => match store.subjects.get(s).and_then(|s| s.compatibility) {
                    Some(level) => level,
                    None if level.is_some() => store.compatibility,
                    None => return Err(RegistryError::subject_not_found(s)),
                },
            }
        };
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
        .await?;
        Ok(previous)
    }

    /// The mode of `subject` (None: global). A global READONLY_OVERRIDE is every subject's mode;
    /// a subject without its own mode is 40409 unless `default_to_global`.
    pub fn mode(
        &self,
        subject: Option<&str>,
        default_to_global: bool,
    ) -> Result<Mode, RegistryError> {
        let store = self.read();
        match subject {
            None => Ok(store.mode),
            Some(_) if store.mode == Mode::ReadonlyOverride => Ok(store.mode),
            Some(s) => match store.subjects.get(s).and_then(|s| s.mode) {
                Some(mode) => Ok(mode),
                None if default_to_global => Ok(store.mode),
                None => Err(RegistryError::NoSubjectMode(s.to_string())),
            },
        }
    }

    /// Sets the mode of `subject` (None: global). IMPORT is refused while the scope has live
    /// versions, unless `force`; the scope's soft-deleted versions are deleted permanently
    /// first, so imported ids and versions cannot meet them.
    pub async fn set_mode(
        &self,
        subject: Option<&str>,
        mode: Mode,
        force: bool,
    ) -> Result<(), RegistryError> {
        let _writing = self.writes.lock().await;
        let leftovers: Vec<(String, Vec<i32>)> = {
            let store = self.read();
            if mode != Mode::Import || force || store.mode_of(subject) == Mode::Import {
                Vec::new()
            } else {
                let in_scope = |name: &String| subject.is_none_or(|s| s == name);
                if store
                    .subjects
                    .iter()
                    .any(|(name, s)| in_scope(name) && s.is_live())
                {
                    return Err(RegistryError::ImportNotEmpty);
                }
                let mut leftovers = Vec::new();
                for (name, s) in store.subjects.iter().filter(|(n, _)| in_scope(n)) {
                    let versions: Vec<i32> = s.versions.keys().copied().collect();
                    Self::check_unreferenced(&store, name, &versions, true, false)?;
                    if !versions.is_empty() {
                        leftovers.push((name.clone(), versions));
                    }
                }
                leftovers
            }
        };
        for (name, versions) in leftovers {
            self.tombstone_versions(&name, &versions).await?;
        }
        self.write_mode(subject, Some(mode)).await
    }

    /// Removes `subject`'s own mode; returns it (40401 when it has none).
    pub async fn delete_mode(&self, subject: &str) -> Result<Mode, RegistryError> {
        let _writing = self.writes.lock().await;
        let previous = self
            .read()
            .subjects
            .get(subject)
            .and_then(|s| s.mode)
            .ok_or_else(|| RegistryError::subject_not_found(subject))?;
        self.write_mode(Some(subject), None).await?;
        Ok(previous)
    }

    async fn write_mode(
        &self,
        subject: Option<&str>,
        mode: Option<Mode>,
    ) -> Result<(), RegistryError> {
        let value = mode.map(|mode| {
            serde_json::to_vec(&ModeValue {
                subject: subject.map(str::to_string),
                mode,
            })
            .expect("serializes")
        });
        self.write(
            &LogKey::Mode {
                subject: subject.map(str::to_string),
                magic: 0,
            },
            value,
        )
        .await
    }

    /// Whether the schema of `request` may be registered under `subject`, checked against
    /// `spec`: one version (a number: 40402 when it does not exist, whatever the subject;
    /// `latest`: the latest live one), or with None all live versions by the subject's level.
    /// A subject without live versions takes anything, as in Confluent's registry.
    pub fn check_compatibility(
        &self,
        subject: &str,
        spec: Option<VersionSpec>,
        request: &Registration,
    ) -> Result<Result<(), Vec<String>>, RegistryError> {
        let (parsed, _) = self.parse(
            request.kind,
            &request.schema,
            &request.references,
            request.normalize,
        )?;
        let store = self.read();
        let level = store.compatibility_of(subject);
        let live = store.subjects.get(subject).filter(|s| s.is_live());
        let previous = match spec {
            None => store.history(subject),
            Some(VersionSpec::Latest) => match live.and_then(|s| s.live().last()) {
                Some((_, v)) => store
                    .schemas
                    .get(&v.id)
                    .map(|st| st.parsed.clone())
                    .into_iter()
                    .collect(),
                None => Vec::new(),
            },
            Some(VersionSpec::Number(n)) => {
                let v = live
                    .and_then(|s| s.versions.get(&n))
                    .filter(|v| !v.deleted)
                    .ok_or_else(|| RegistryError::version_not_found(n))?;
                store
                    .schemas
                    .get(&v.id)
                    .map(|st| st.parsed.clone())
                    .into_iter()
                    .collect()
            }
        };
        Ok(level.check(&parsed, &previous))
    }
}
