//! A small bounded map with an optional time to live, for what the API reads on every
//! request and rarely changes: who a token belongs to, and operations (immutable once
//! their scan is done). Polling clients then cost the store one read, or none.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub(crate) struct Cache<K, V> {
    map: Mutex<HashMap<K, (Instant, V)>>,
    ttl: Option<Duration>,
    max: usize,
}

impl<K: Eq + Hash, V: Clone> Cache<K, V> {
    pub(crate) fn new(ttl: Option<Duration>, max: usize) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            ttl,
            max,
        }
    }

    pub(crate) fn get(&self, key: &K) -> Option<V> {
        let map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (at, v) = map.get(key)?;
        match self.ttl {
            Some(ttl) if at.elapsed() > ttl => None,
            _ => Some(v.clone()),
        }
    }

    pub(crate) fn put(&self, key: K, value: V) {
        let mut map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Bounded the simple way: a full cache starts over.
        if map.len() >= self.max {
            map.clear();
        }
        map.insert(key, (Instant::now(), value));
    }

    pub(crate) fn remove(&self, key: &K) {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_the_size_is_bounded() {
        let c = Cache::new(Some(Duration::from_millis(0)), 2);
        c.put(1, "a");
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(c.get(&1), None);
        let c = Cache::new(None, 2);
        c.put(1, "a");
        c.put(2, "b");
        assert_eq!(c.get(&1), Some("a"));
        c.put(3, "c");
        assert_eq!((c.get(&1), c.get(&3)), (None, Some("c")));
    }
}
