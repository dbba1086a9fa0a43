//! The registry's state, rebuilt by applying the records of the `_schemas` topic in order, in
//! Confluent Schema Registry's key and value format. Every instance that reads the same topic
//! arrives at the same state, which is how several proxies share one registry.
//!
//! Conflicts between instances writing at the same time are settled by the log order: a record
//! that would bind an id already bound to another schema, or a subject version already bound to
//! another id, is ignored by every reader, and its writer tries again with a fresh id/version.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::error::{InvalidSchema, SchemaError};
use super::kinds::{self, Compatibility, Dependency, Parsed, SchemaType};

/// The key of a `_schemas` record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "keytype", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LogKey {
    Schema {
        subject: String,
        version: i32,
        magic: i32,
    },
    Config {
        subject: Option<String>,
        magic: i32,
    },
    DeleteSubject {
        subject: String,
        magic: i32,
    },
    Mode {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subject: Option<String>,
        magic: i32,
    },
    Noop {
        magic: i32,
    },
}

pub use super::kinds::Reference;

/// The value of a SCHEMA record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaValue {
    pub subject: String,
    pub version: i32,
    pub id: i32,
    pub schema: String,
    #[serde(default, skip_serializing_if = "is_avro")]
    pub schema_type: SchemaType,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<Reference>,
    #[serde(default)]
    pub deleted: bool,
}

fn is_avro(t: &SchemaType) -> bool {
    *t == SchemaType::Avro
}

/// The value of a CONFIG record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigValue {
    pub compatibility_level: Compatibility,
}

/// A registry's or a subject's mode: which writes it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Mode {
    /// Everything (the default).
    #[default]
    Readwrite,
    /// No registrations of new schemas, deletes or configuration changes.
    Readonly,
    /// READONLY that, set globally, also overrides every subject's own mode.
    ReadonlyOverride,
    /// Registrations carry their ids (and versions), as copied from another registry; no
    /// compatibility checks.
    Import,
}

impl Mode {
    /// Parses a mode name, case-insensitively as Confluent does.
    pub fn parse(name: &str) -> Option<Mode> {
        match name.to_ascii_uppercase().as_str() {
            "READWRITE" => Some(Mode::Readwrite),
            "READONLY" => Some(Mode::Readonly),
            "READONLY_OVERRIDE" => Some(Mode::ReadonlyOverride),
            "IMPORT" => Some(Mode::Import),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mode::Readwrite => "READWRITE",
            Mode::Readonly => "READONLY",
            Mode::ReadonlyOverride => "READONLY_OVERRIDE",
            Mode::Import => "IMPORT",
        }
    }

    pub fn is_read_only(self) -> bool {
        matches!(self, Mode::Readonly | Mode::ReadonlyOverride)
    }
}

/// The value of a MODE record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModeValue {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub mode: Mode,
}

/// The value of a DELETE_SUBJECT record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteSubjectValue {
    pub subject: String,
    pub version: i32,
}

/// One stored schema, shared by every subject version that uses it.
#[derive(Debug, Clone)]
pub struct Stored {
    pub schema: String,
    pub schema_type: SchemaType,
    pub references: Vec<Reference>,
    pub parsed: Parsed,
    pub canonical: String,
}

/// One version of a subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    pub id: i32,
    pub deleted: bool,
}

#[derive(Debug, Default, Clone)]
pub struct Subject {
    pub versions: BTreeMap<i32, Version>,
    pub compatibility: Option<Compatibility>,
    pub mode: Option<Mode>,
}

impl Subject {
    /// Live (not soft-deleted) versions, oldest first.
    pub fn live(&self) -> impl Iterator<Item = (i32, Version)> + '_ {
        self.versions
            .iter()
            .filter(|(_, v)| !v.deleted)
            .map(|(n, v)| (*n, *v))
    }

    pub fn is_live(&self) -> bool {
        self.live().next().is_some()
    }
}

/// The whole registry state.
#[derive(Debug)]
pub struct Store {
    pub subjects: BTreeMap<String, Subject>,
    pub schemas: HashMap<i32, Arc<Stored>>,
    pub compatibility: Compatibility,
    pub mode: Mode,
    /// The highest schema id ever used; ids are never reused, even after a permanent delete.
    pub max_id: i32,
}

impl Default for Store {
    fn default() -> Self {
        Store {
            subjects: BTreeMap::new(),
            schemas: HashMap::new(),
            compatibility: Compatibility::Backward,
            mode: Mode::Readwrite,
            max_id: 0,
        }
    }
}

impl Store {
    /// Applies one record. Records that conflict with the state are ignored (see the module
    /// docs); so are records this registry cannot parse, with a warning.
    pub fn apply(&mut self, key: &[u8], value: Option<&[u8]>) {
        let key: LogKey = match serde_json::from_slice(key) {
            Ok(k) => k,
            Err(e) => {
                tracing::warn!(error = %e, "ignoring a _schemas record with an unknown key");
                return;
            }
        };
        match key {
            LogKey::Schema {
                subject, version, ..
            } => match value {
                None => {
                    // Permanent delete of one version.
                    if let Some(s) = self.subjects.get_mut(&subject) {
                        s.versions.remove(&version);
                        if s.versions.is_empty() && s.compatibility.is_none() && s.mode.is_none() {
                            self.subjects.remove(&subject);
                        }
                    }
                }
                Some(v) => match serde_json::from_slice::<SchemaValue>(v) {
                    Ok(v) => self.apply_schema(v),
                    Err(e) => tracing::warn!(error = %e, "ignoring a malformed SCHEMA record"),
                },
            },
            LogKey::Config { subject, .. } => {
                let level = value
                    .and_then(|v| serde_json::from_slice::<ConfigValue>(v).ok())
                    .map(|c| c.compatibility_level);
                match (subject, level) {
                    (None, Some(level)) => self.compatibility = level,
                    (None, None) => self.compatibility = Compatibility::Backward,
                    (Some(s), level) => self.subjects.entry(s).or_default().compatibility = level,
                }
            }
            LogKey::DeleteSubject { subject, .. } => {
                if let (Some(s), Some(v)) = (self.subjects.get_mut(&subject), value) {
                    if let Ok(d) = serde_json::from_slice::<DeleteSubjectValue>(v) {
                        for (_, version) in s.versions.range_mut(..=d.version) {
                            version.deleted = true;
                        }
                    }
                }
            }
            LogKey::Mode { subject, .. } => {
                let mode = value
                    .and_then(|v| serde_json::from_slice::<ModeValue>(v).ok())
                    .map(|m| m.mode);
                match subject {
                    None => self.mode = mode.unwrap_or_default(),
                    Some(s) => self.subjects.entry(s).or_default().mode = mode,
                }
            }
            LogKey::Noop { .. } => {}
        }
    }

    fn apply_schema(&mut self, v: SchemaValue) {
        // Ids and versions are positive, as Confluent's registry hands them out.
        if v.id < 1 || v.version < 1 {
            tracing::warn!(id = v.id, version = v.version, subject = %v.subject, "ignoring a SCHEMA record with an id or version below 1");
            return;
        }
        // Parsed only when needed: a record for a known id with the same text (the same schema
        // under another subject, a soft delete) is the common case on replay.
        let parse = |store: &Store| {
            store
                .dependencies(&v.references)
                .and_then(|deps| kinds::parse_with(v.schema_type, &v.schema, &deps))
        };
        match self.schemas.get(&v.id) {
            Some(stored) => {
                // An id belongs to one schema forever.
                let same = stored.schema_type == v.schema_type
                    && ((stored.schema == v.schema && stored.references == v.references)
                        || parse(self)
                            .ok()
                            .map(|p| kinds::canonical(&p, &v.references))
                            .as_ref()
                            == Some(&stored.canonical));
                if !same {
                    tracing::warn!(id = v.id, subject = %v.subject, "ignoring a SCHEMA record reusing another schema's id");
                    return;
                }
            }
            None => match parse(self) {
                Ok(parsed) => {
                    let canonical = kinds::canonical(&parsed, &v.references);
                    self.schemas.insert(
                        v.id,
                        Arc::new(Stored {
                            // Confluent's text, also for records another writer left as posted.
                            schema: kinds::text(&parsed),
                            schema_type: v.schema_type,
                            references: v.references.clone(),
                            parsed,
                            canonical,
                        }),
                    );
                }
                Err(e) => {
                    tracing::warn!(id = v.id, error = %e, "ignoring a SCHEMA record that does not parse");
                    return;
                }
            },
        }
        self.max_id = self.max_id.max(v.id);
        let subject = self.subjects.entry(v.subject.clone()).or_default();
        match subject.versions.get(&v.version) {
            Some(existing) if existing.id != v.id => {
                tracing::warn!(subject = %v.subject, version = v.version, "ignoring a SCHEMA record for a version bound to another id");
            }
            _ => {
                subject.versions.insert(
                    v.version,
                    Version {
                        id: v.id,
                        deleted: v.deleted,
                    },
                );
            }
        }
    }

    /// The id of an identical schema registered anywhere.
    pub fn id_of(&self, kind: SchemaType, canonical: &str) -> Option<i32> {
        self.schemas
            .iter()
            .filter(|(_, s)| s.schema_type == kind && s.canonical == canonical)
            .map(|(id, _)| *id)
            .min()
    }

    /// The live version of `subject` holding an identical schema, with its id.
    pub fn version_of(
        &self,
        subject: &str,
        kind: SchemaType,
        canonical: &str,
    ) -> Option<(i32, i32)> {
        let s = self.subjects.get(subject)?;
        s.live()
            .find(|(_, v)| {
                self.schemas
                    .get(&v.id)
                    .is_some_and(|st| st.schema_type == kind && st.canonical == canonical)
            })
            .map(|(n, v)| (n, v.id))
    }

    /// The schemas `references` resolve to, transitively, dependencies before their users (what
    /// [`kinds::parse_with`] takes). A reference names a subject version (-1: the latest).
    pub fn dependencies(&self, references: &[Reference]) -> Result<Vec<Dependency>, InvalidSchema> {
        let mut out = Vec::new();
        self.collect_dependencies(references, &mut out, 0)?;
        Ok(out)
    }

    fn collect_dependencies(
        &self,
        references: &[Reference],
        out: &mut Vec<Dependency>,
        depth: usize,
    ) -> Result<(), InvalidSchema> {
        if depth > 32 {
            return Err(InvalidSchema(SchemaError::Reference(
                "references nest more than 32 deep".into(),
            )));
        }
        for r in references {
            let stored = self.referenced(r)?;
            self.collect_dependencies(&stored.references, out, depth + 1)?;
            if !out.iter().any(|d| d.name == r.name) {
                out.push(Dependency {
                    name: r.name.clone(),
                    kind: stored.schema_type,
                    schema: stored.schema.clone(),
                });
            }
        }
        Ok(())
    }

    /// The schema a reference points at.
    fn referenced(&self, r: &Reference) -> Result<&Arc<Stored>, InvalidSchema> {
        let missing = || {
            InvalidSchema(SchemaError::Reference(format!(
                "reference {} names subject {} version {}, which does not exist",
                r.name, r.subject, r.version
            )))
        };
        let subject = self.subjects.get(&r.subject).ok_or_else(missing)?;
        let version = if r.version == -1 {
            subject.live().last().map(|(_, v)| v)
        } else {
            subject.versions.get(&r.version).copied()
        };
        version
            .and_then(|v| self.schemas.get(&v.id))
            .ok_or_else(missing)
    }

    /// The mode in force for `subject` (None: the global one): a global READONLY_OVERRIDE, else
    /// the subject's own mode, else the global one.
    pub fn mode_of(&self, subject: Option<&str>) -> Mode {
        if self.mode == Mode::ReadonlyOverride {
            return self.mode;
        }
        subject
            .and_then(|s| self.subjects.get(s))
            .and_then(|s| s.mode)
            .unwrap_or(self.mode)
    }

    /// Ids of schemas that reference `subject` version `version`: used by live versions, or
    /// by any version when `deleted`.
    pub fn referenced_by(&self, subject: &str, version: i32, deleted: bool) -> Vec<i32> {
        let latest = self
            .subjects
            .get(subject)
            .and_then(|s| s.live().last().map(|(n, _)| n));
        let mut ids: Vec<i32> = self
            .subjects
            .values()
            .flat_map(|s| {
                s.versions
                    .values()
                    .filter(move |v| deleted || !v.deleted)
                    .map(|v| v.id)
            })
            .filter(|id| {
                self.schemas.get(id).is_some_and(|st| {
                    st.references.iter().any(|r| {
                        r.subject == subject
                            && (r.version == version
                                || (r.version == -1 && latest == Some(version)))
                    })
                })
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The compatibility level in force for `subject`.
    pub fn compatibility_of(&self, subject: &str) -> Compatibility {
        self.subjects
            .get(subject)
            .and_then(|s| s.compatibility)
            .unwrap_or(self.compatibility)
    }

    /// The parsed live versions of `subject`, oldest first.
    pub fn history(&self, subject: &str) -> Vec<Parsed> {
        self.subjects
            .get(subject)
            .map(|s| {
                s.live()
                    .filter_map(|(_, v)| self.schemas.get(&v.id).map(|st| st.parsed.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The next version number of `subject` (versions are not reused after a soft delete).
    /// None once the highest version is `i32::MAX`.
    pub fn next_version(&self, subject: &str) -> Option<i32> {
        self.subjects
            .get(subject)
            .and_then(|s| s.versions.keys().next_back().copied())
            .unwrap_or(0)
            .checked_add(1)
    }

    /// `(subject, version)` pairs using schema `id`: live ones, or all when `deleted`.
    pub fn uses_of(&self, id: i32, deleted: bool) -> Vec<(String, i32)> {
        self.subjects
            .iter()
            .flat_map(|(name, s)| {
                s.versions
                    .iter()
                    .filter(move |(_, v)| v.id == id && (deleted || !v.deleted))
                    .map(move |(n, _)| (name.clone(), *n))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(subject: &str, version: i32) -> Vec<u8> {
        serde_json::to_vec(&LogKey::Schema {
            subject: subject.into(),
            version,
            magic: 1,
        })
        .unwrap()
    }

    fn value(subject: &str, version: i32, id: i32, schema: &str) -> Vec<u8> {
        serde_json::to_vec(&SchemaValue {
            subject: subject.into(),
            version,
            id,
            schema: schema.into(),
            schema_type: SchemaType::Avro,
            references: vec![],
            deleted: false,
        })
        .unwrap()
    }

    #[test]
    fn confluent_record_format() {
        assert_eq!(
            String::from_utf8(key("t-value", 1)).unwrap(),
            r#"{"keytype":"SCHEMA","subject":"t-value","version":1,"magic":1}"#
        );
        assert_eq!(
            String::from_utf8(value("t-value", 1, 7, "\"string\"")).unwrap(),
            r#"{"subject":"t-value","version":1,"id":7,"schema":"\"string\"","deleted":false}"#
        );
        let k: LogKey =
            serde_json::from_str(r#"{"keytype":"CONFIG","subject":null,"magic":0}"#).unwrap();
        assert_eq!(
            k,
            LogKey::Config {
                subject: None,
                magic: 0
            }
        );
        let c: ConfigValue = serde_json::from_str(r#"{"compatibilityLevel":"FULL"}"#).unwrap();
        assert_eq!(c.compatibility_level, Compatibility::Full);
        let v: SchemaValue = serde_json::from_str(
            r#"{"subject":"s","version":1,"id":1,"schema":"syntax = \"proto3\";","schemaType":"PROTOBUF","deleted":false}"#,
        )
        .unwrap();
        assert_eq!(v.schema_type, SchemaType::Protobuf);
    }

    #[test]
    fn conflicting_records_lose_to_the_first_in_the_log() {
        let mut s = Store::default();
        s.apply(&key("a", 1), Some(&value("a", 1, 1, "\"string\"")));
        // Another instance bound id 1 to another schema later in the log: ignored.
        s.apply(&key("b", 1), Some(&value("b", 1, 1, "\"int\"")));
        assert!(!s.subjects.contains_key("b") || s.subjects["b"].versions.is_empty());
        // ...and version a/1 to another id: ignored.
        s.apply(&key("a", 1), Some(&value("a", 1, 2, "\"int\"")));
        assert_eq!(s.subjects["a"].versions[&1].id, 1);
        // The same schema under another subject keeps its id.
        s.apply(&key("c", 1), Some(&value("c", 1, 1, "\"string\"")));
        assert_eq!(s.uses_of(1, false).len(), 2);
        assert_eq!(s.max_id, 2);
    }

    #[test]
    fn deletes() {
        let mut s = Store::default();
        s.apply(&key("a", 1), Some(&value("a", 1, 1, "\"string\"")));
        s.apply(&key("a", 2), Some(&value("a", 2, 2, "\"int\"")));
        let del = serde_json::to_vec(&LogKey::DeleteSubject {
            subject: "a".into(),
            magic: 0,
        })
        .unwrap();
        let body = serde_json::to_vec(&DeleteSubjectValue {
            subject: "a".into(),
            version: 2,
        })
        .unwrap();
        s.apply(&del, Some(&body));
        assert!(!s.subjects["a"].is_live());
        assert_eq!(s.next_version("a"), Some(3), "versions are not reused");
        s.apply(&key("a", 1), None);
        s.apply(&key("a", 2), None);
        assert!(!s.subjects.contains_key("a"));
        assert_eq!(s.max_id, 2, "ids are not reused");
    }
}
