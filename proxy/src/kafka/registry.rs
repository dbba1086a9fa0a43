//! The registry of consumer instances, keyed by group and name, with idle expiry.
//!
//! Expiry is a min-heap of deadlines with one entry per instance. A use only bumps the instance's
//! atomic last-used time (O(1)); the sweeper pops due entries and re-queues those used since, so
//! the cost scales with expiries, not with the number of instances.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;

use super::consumer::{Instance, InstanceSettings};
use super::error::Error;
use super::metadata::Metadata;

type Key = (String, String);

/// Why an instance could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("consumer instance already exists")]
    Exists,
    #[error(transparent)]
    Kafka(#[from] Error),
}

/// All consumer instances of this proxy.
pub struct Registry {
    instances: Mutex<HashMap<Key, Arc<Instance>>>,
    /// (deadline ms, instance id, key), earliest first.
    expiry: Mutex<BinaryHeap<Reverse<(u64, u64, Key)>>>,
    next_id: AtomicU64,
    idle_timeout_ms: u64,
    epoch: Instant,
    base: ClientConfig,
    metadata: Arc<Metadata>,
}

impl Registry {
    /// `base` carries the consumer properties shared by every instance.
    pub fn new(base: ClientConfig, metadata: Arc<Metadata>, idle_timeout: Duration) -> Self {
        Registry {
            instances: Mutex::new(HashMap::new()),
            expiry: Mutex::new(BinaryHeap::new()),
            next_id: AtomicU64::new(1),
            idle_timeout_ms: idle_timeout.as_millis() as u64,
            epoch: Instant::now(),
            base,
            metadata,
        }
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
        if self.instances.lock().expect("poisoned").contains_key(&key) {
            return Err(CreateError::Exists);
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
            map.insert(key.clone(), instance.clone());
        }
        self.expiry
            .lock()
            .expect("poisoned")
            .push(Reverse((now + self.idle_timeout_ms, id, key)));
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
        self.instances
            .lock()
            .expect("poisoned")
            .remove(&(group.to_string(), name.to_string()))
    }

    /// Removes and returns the instances idle for longer than the timeout.
    pub fn take_expired(&self) -> Vec<Arc<Instance>> {
        let now = self.now_ms();
        let mut expired = Vec::new();
        let mut heap = self.expiry.lock().expect("poisoned");
        while let Some(Reverse((deadline, id, _))) = heap.peek() {
            if *deadline > now {
                break;
            }
            let id = *id;
            let Some(Reverse((_, _, key))) = heap.pop() else {
                break;
            };
            let mut map = self.instances.lock().expect("poisoned");
            let Some(instance) = map.get(&key).filter(|i| i.id == id).cloned() else {
                continue; // deleted (maybe re-created under the same name): stale entry
            };
            let due = instance.last_used_ms() + self.idle_timeout_ms;
            if due > now {
                heap.push(Reverse((due, id, key)));
            } else if instance.is_busy() {
                // A request is running on it right now; look again shortly.
                heap.push(Reverse((now + 1_000, id, key)));
            } else {
                map.remove(&key);
                expired.push(instance);
            }
        }
        expired
    }

    /// Removes every instance (shutdown).
    pub fn take_all(&self) -> Vec<Arc<Instance>> {
        self.expiry.lock().expect("poisoned").clear();
        self.instances
            .lock()
            .expect("poisoned")
            .drain()
            .map(|(_, i)| i)
            .collect()
    }
}
