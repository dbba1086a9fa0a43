//! The registry of consumer instances, keyed by group and name, with idle expiry.
//!
//! Expiry uses an [`ExpiryQueue`]: a use only bumps the instance's atomic last-used time (O(1)),
//! and a sweep's cost scales with the deadlines that are due, not with the number of instances.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;

use super::consumer::{Instance, InstanceSettings};
use super::error::Error;
use super::expiry::{Due, ExpiryQueue};
use super::metadata::Metadata;

type Key = (String, String);

/// Why an instance could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("consumer instance already exists")]
    Exists,
    /// A cap on instances is reached (`consumer.instances.max[.per.group]`).
    #[error("Too many consumer instances: {scope} already has {limit} ({key}); delete unused instances or wait for them to expire")]
    TooMany {
        scope: String,
        limit: usize,
        key: &'static str,
    },
    #[error(transparent)]
    Kafka(#[from] Error),
}

/// All consumer instances of this proxy.
pub struct Registry {
    instances: Mutex<HashMap<Key, Arc<Instance>>>,
    /// Idle deadlines, one entry per instance.
    expiry: Mutex<ExpiryQueue<Key>>,
    next_id: AtomicU64,
    idle_timeout_ms: u64,
    epoch: Instant,
    base: ClientConfig,
    metadata: Arc<Metadata>,
    limits: Limits,
}

/// Caps on the number of instances.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub total: usize,
    pub per_group: usize,
}

impl Registry {
    /// `base` carries the consumer properties shared by every instance.
    pub fn new(
        base: ClientConfig,
        metadata: Arc<Metadata>,
        idle_timeout: Duration,
        limits: Limits,
    ) -> Self {
        Registry {
            instances: Mutex::new(HashMap::new()),
            expiry: Mutex::new(ExpiryQueue::default()),
            next_id: AtomicU64::new(1),
            idle_timeout_ms: idle_timeout.as_millis() as u64,
            epoch: Instant::now(),
            base,
            metadata,
            limits,
        }
    }

    /// Fails when one more instance in `group` would exceed a cap.
    fn check_room(
        &self,
        map: &HashMap<Key, Arc<Instance>>,
        group: &str,
    ) -> Result<(), CreateError> {
        if map.len() >= self.limits.total {
            return Err(CreateError::TooMany {
                scope: "this proxy".into(),
                limit: self.limits.total,
                key: "consumer.instances.max",
            });
        }
        // Linear in the instances, which the cap above keeps small; creation is rare.
        if map.keys().filter(|(g, _)| g == group).count() >= self.limits.per_group {
            return Err(CreateError::TooMany {
                scope: format!("group {group}"),
                limit: self.limits.per_group,
                key: "consumer.instances.max.per.group",
            });
        }
        Ok(())
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Number of live instances.
    pub fn len(&self) -> usize {
        self.instances.lock().expect("poisoned").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Creates an instance; fails if (group, name) is taken.
    pub fn create(
        &self,
        group: &str,
        name: &str,
        settings: InstanceSettings,
    ) -> Result<Arc<Instance>, CreateError> {
        let key = (group.to_string(), name.to_string());
        {
            let map = self.instances.lock().expect("poisoned");
            if map.contains_key(&key) {
                return Err(CreateError::Exists);
            }
            self.check_room(&map, group)?;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let now = self.now_ms();
        let instance = Arc::new(Instance::new(
            group,
            name,
            id,
            settings,
            &self.base,
            self.metadata.clone(),
            now,
        )?);
        {
            let mut map = self.instances.lock().expect("poisoned");
            if map.contains_key(&key) {
                return Err(CreateError::Exists);
            }
            // Another request may have taken the last slot while this consumer was created.
            self.check_room(&map, group)?;
            map.insert(key.clone(), instance.clone());
            instances_gauge(map.len());
        }
        self.expiry
            .lock()
            .expect("poisoned")
            .push(now + self.idle_timeout_ms, id, key);
        Ok(instance)
    }

    /// Looks an instance up and marks it used.
    pub fn get(&self, group: &str, name: &str) -> Option<Arc<Instance>> {
        let instance = self
            .instances
            .lock()
            .expect("poisoned")
            .get(&(group.to_string(), name.to_string()))
            .cloned()?;
        instance.touch(self.now_ms());
        Some(instance)
    }

    /// Removes an instance; the caller closes it.
    pub fn remove(&self, group: &str, name: &str) -> Option<Arc<Instance>> {
        let mut map = self.instances.lock().expect("poisoned");
        let removed = map.remove(&(group.to_string(), name.to_string()));
        instances_gauge(map.len());
        removed
    }

    /// Removes and returns the instances idle for longer than the timeout.
    pub fn take_expired(&self) -> Vec<Arc<Instance>> {
        let now = self.now_ms();
        let mut map = self.instances.lock().expect("poisoned");
        let mut queue = self.expiry.lock().expect("poisoned");
        let (keys, _) = queue.sweep(now, |id, key| {
            match map.get(key).filter(|i| i.id == id) {
                None => Due::Gone, // deleted (maybe re-created under the same name)
                Some(i) if i.last_used_ms() + self.idle_timeout_ms > now => {
                    Due::Later(i.last_used_ms() + self.idle_timeout_ms)
                }
                // A request is running on it right now; look again shortly.
                Some(i) if i.is_busy() => Due::Later(now + 1_000),
                Some(_) => Due::Expired,
            }
        });
        let expired = keys.iter().filter_map(|key| map.remove(key)).collect();
        instances_gauge(map.len());
        expired
    }

    /// Removes every instance (shutdown).
    pub fn take_all(&self) -> Vec<Arc<Instance>> {
        self.expiry.lock().expect("poisoned").clear();
        let all = self
            .instances
            .lock()
            .expect("poisoned")
            .drain()
            .map(|(_, i)| i)
            .collect();
        instances_gauge(0);
        all
    }
}

/// `kafka_proxy_consumer_instances`: the instances open (of every registry in the process).
fn instances_gauge(open: usize) {
    metrics::gauge!(crate::telemetry::CONSUMER_INSTANCES).set(open as f64);
}
