//! Broker, cluster-default and topic configs for the v3 API: described with their synonyms
//! (DescribeConfigs) and changed one key at a time with IncrementalAlterConfigs (SET or
//! DELETE), as Confluent's proxy does; AlterConfigs, which replaces a resource's whole set,
//! is never used. Requests for one broker's configs go to that broker, the others to the
//! controller ([`Admin::broker_address`]).

use std::collections::BTreeMap;

use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::{DescribeConfigsRequest, IncrementalAlterConfigsRequest};
use kafka_protocol::protocol::StrBytes;

use super::admin::Admin;
use super::error::Error;
use super::wire_admin::{check, refusal};

/// Whose configs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConfigTarget {
    /// One broker's.
    Broker(i32),
    /// The cluster-wide dynamic defaults of every broker (Kafka's BROKER resource named "").
    Cluster,
    Topic(String),
}

impl ConfigTarget {
    /// Kafka's resource type and name.
    fn resource(&self) -> (i8, String) {
        match self {
            ConfigTarget::Broker(id) => (4, id.to_string()),
            ConfigTarget::Cluster => (4, String::new()),
            ConfigTarget::Topic(name) => (2, name.clone()),
        }
    }

    /// The broker the request goes to (None: the controller).
    fn broker(&self) -> Option<i32> {
        match self {
            ConfigTarget::Broker(id) => Some(*id),
            _ => None,
        }
    }
}

/// One config as the cluster describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    pub name: String,
    /// None: not set, or sensitive.
    pub value: Option<String>,
    pub is_default: bool,
    pub is_read_only: bool,
    pub is_sensitive: bool,
    /// Confluent's `source` name (DYNAMIC_TOPIC_CONFIG, DEFAULT_CONFIG, ...).
    pub source: &'static str,
    pub synonyms: Vec<Synonym>,
}

/// Where else a config's value comes from, by precedence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synonym {
    pub name: String,
    pub value: Option<String>,
    pub source: &'static str,
}

/// A change to one config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigChange {
    /// SET (a null value sets it to null, as Confluent sends it).
    Set(Option<String>),
    /// DELETE: back to its default.
    Delete,
}

/// Kafka's config source ids as Confluent names them (unknown ones: UNKNOWN).
fn source_name(id: i8) -> &'static str {
    match id {
        1 => "DYNAMIC_TOPIC_CONFIG",
        2 => "DYNAMIC_BROKER_CONFIG",
        3 => "DYNAMIC_DEFAULT_BROKER_CONFIG",
        4 => "STATIC_BROKER_CONFIG",
        5 => "DEFAULT_CONFIG",
        6 => "DYNAMIC_BROKER_LOGGER_CONFIG",
        8 => "DYNAMIC_GROUP_CONFIG",
        _ => "UNKNOWN",
    }
}

fn text(s: Option<&StrBytes>) -> Option<String> {
    s.map(|s| s.as_str().to_string())
}

impl Admin {
    /// The configs of each target (sorted by name), or why that target's could not be read;
    /// the outer error is for the cluster not answering at all.
    pub async fn describe_configs(
        &self,
        targets: &[ConfigTarget],
    ) -> Result<Vec<Result<Vec<ConfigEntry>, Error>>, Error> {
        // One request per broker addressed.
        let mut by_broker: BTreeMap<Option<i32>, Vec<usize>> = BTreeMap::new();
        for (i, t) in targets.iter().enumerate() {
            by_broker.entry(t.broker()).or_default().push(i);
        }
        let mut out: Vec<Option<Result<Vec<ConfigEntry>, Error>>> =
            targets.iter().map(|_| None).collect();
        for (broker, members) in by_broker {
            let addr = self.broker_address(broker).await?;
            let request = DescribeConfigsRequest::default()
                .with_include_synonyms(true)
                .with_resources(
                    members
                        .iter()
                        .map(|&i| {
                            let (kind, name) = targets[i].resource();
                            DescribeConfigsResource::default()
                                .with_resource_type(kind)
                                .with_resource_name(StrBytes::from_string(name))
                                .with_configuration_keys(None)
                        })
                        .collect(),
                );
            let answer = self.wire.call(&addr, &request).await?;
            for &i in &members {
                let (kind, name) = targets[i].resource();
                let result = answer
                    .results
                    .iter()
                    .find(|r| r.resource_type == kind && r.resource_name.as_str() == name)
                    .map(|r| {
                        check(r.error_code, r.error_message.as_ref())?;
                        let mut entries: Vec<ConfigEntry> = r
                            .configs
                            .iter()
                            .map(|c| ConfigEntry {
                                name: c.name.as_str().to_string(),
                                value: text(c.value.as_ref()),
                                is_default: c.config_source == 5,
                                is_read_only: c.read_only,
                                is_sensitive: c.is_sensitive,
                                source: source_name(c.config_source),
                                synonyms: c
                                    .synonyms
                                    .iter()
                                    .map(|s| Synonym {
                                        name: s.name.as_str().to_string(),
                                        value: text(s.value.as_ref()),
                                        source: source_name(s.source),
                                    })
                                    .collect(),
                            })
                            .collect();
                        entries.sort_by(|a, b| a.name.cmp(&b.name));
                        Ok(entries)
                    })
                    .unwrap_or_else(|| {
                        Err(Error::Internal(format!(
                            "the broker did not describe the configs of {name}"
                        )))
                    });
                out[i] = Some(result);
            }
        }
        Ok(out.into_iter().map(|r| r.expect("every target")).collect())
    }

    /// Applies each target's changes (IncrementalAlterConfigs); per target, Ok or Kafka's
    /// refusal. With `validate_only` the cluster checks and changes nothing.
    pub async fn alter_configs(
        &self,
        changes: &[(ConfigTarget, Vec<(String, ConfigChange)>)],
        validate_only: bool,
    ) -> Result<Vec<Result<(), Error>>, Error> {
        let mut by_broker: BTreeMap<Option<i32>, Vec<usize>> = BTreeMap::new();
        for (i, (t, _)) in changes.iter().enumerate() {
            by_broker.entry(t.broker()).or_default().push(i);
        }
        let mut out: Vec<Option<Result<(), Error>>> = changes.iter().map(|_| None).collect();
        for (broker, members) in by_broker {
            let addr = self.broker_address(broker).await?;
            let request = IncrementalAlterConfigsRequest::default()
                .with_validate_only(validate_only)
                .with_resources(
                    members
                        .iter()
                        .map(|&i| {
                            let (target, entries) = &changes[i];
                            let (kind, name) = target.resource();
                            AlterConfigsResource::default()
                                .with_resource_type(kind)
                                .with_resource_name(StrBytes::from_string(name))
                                .with_configs(
                                    entries
                                        .iter()
                                        .map(|(key, change)| {
                                            let (op, value) = match change {
                                                ConfigChange::Set(v) => (0, v.clone()),
                                                ConfigChange::Delete => (1, None),
                                            };
                                            AlterableConfig::default()
                                                .with_name(StrBytes::from_string(key.clone()))
                                                .with_config_operation(op)
                                                .with_value(value.map(StrBytes::from_string))
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                );
            let answer = self.wire.call(&addr, &request).await?;
            for &i in &members {
                let (kind, name) = changes[i].0.resource();
                out[i] = Some(
                    match answer
                        .responses
                        .iter()
                        .find(|r| r.resource_type == kind && r.resource_name.as_str() == name)
                    {
                        Some(r) => check(r.error_code, r.error_message.as_ref()),
                        // The broker left the resource out: its outcome is unknown.
                        None => Err(refusal(-1, None)),
                    },
                );
            }
        }
        Ok(out.into_iter().map(|r| r.expect("every target")).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_sources() {
        assert_eq!(ConfigTarget::Broker(3).resource(), (4, "3".to_string()));
        assert_eq!(ConfigTarget::Cluster.resource(), (4, String::new()));
        assert_eq!(ConfigTarget::Topic("t".into()).resource(), (2, "t".into()));
        assert_eq!(ConfigTarget::Broker(3).broker(), Some(3));
        assert_eq!(ConfigTarget::Cluster.broker(), None);
        assert_eq!(source_name(1), "DYNAMIC_TOPIC_CONFIG");
        assert_eq!(source_name(5), "DEFAULT_CONFIG");
        assert_eq!(source_name(42), "UNKNOWN");
    }
}
