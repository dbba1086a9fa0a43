//! The one cache of topic routes: for each topic, the address of every partition's leader (and
//! so its partition count), reused for `metadata.max.age.ms`. Produce fills it through the
//! producer's own client (which may create topics, as any producer's would), metadata lookups
//! through theirs; it is forgotten when a produce or a log read finds a topic changed.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// The leader address of every partition of a topic, by partition id (None: no leader now).
pub type Leaders = Arc<Vec<Option<String>>>;

/// Topic routes and when each was looked up.
pub struct RouteCache {
    routes: RwLock<HashMap<String, (Leaders, Instant)>>,
    max_age: Duration,
}

impl RouteCache {
    pub fn new(max_age: Duration) -> Self {
        RouteCache {
            routes: RwLock::new(HashMap::new()),
            max_age,
        }
    }

    /// The route of `topic`, if looked up less than `max_age` ago.
    pub fn get(&self, topic: &str) -> Option<Leaders> {
        let routes = self.routes.read().unwrap_or_else(PoisonError::into_inner);
        routes
            .get(topic)
            .filter(|(_, at)| at.elapsed() < self.max_age)
            .map(|(leaders, _)| leaders.clone())
    }

    /// Keeps a route just looked up.
    pub fn insert(&self, topic: &str, leaders: Vec<Option<String>>) -> Leaders {
        let leaders = Arc::new(leaders);
        self.routes
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(topic.to_string(), (leaders.clone(), Instant::now()));
        leaders
    }

    /// Forgets the route of `topic`, so the next use looks it up again.
    pub fn forget(&self, topic: &str) {
        self.routes
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(topic);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_reused_until_they_age_or_are_forgotten() {
        let cache = RouteCache::new(Duration::from_secs(60));
        assert!(cache.get("t").is_none());
        cache.insert("t", vec![Some("a:9092".into()), None]);
        assert_eq!(cache.get("t").unwrap().len(), 2);
        cache.forget("t");
        assert!(cache.get("t").is_none());
        let stale = RouteCache::new(Duration::ZERO);
        stale.insert("t", vec![None]);
        assert!(stale.get("t").is_none());
    }
}
