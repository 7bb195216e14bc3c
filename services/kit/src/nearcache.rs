//! An in-process read cache ("near cache") in front of a shared or remote source: the gateway's
//! item JSON in front of Redis and the catalogue, the catalogue's items in front of PostgreSQL.
//!
//! Entries live at most `ttl` and are dropped at once by [`NearCache::invalidate`], which every
//! replica calls on each `…changed` event it tails (see [`crate::outbox::tail`]). A reader that
//! fetched a value while an invalidation happened must not put the old value back: it snapshots
//! [`NearCache::epoch`] before fetching and fills with [`NearCache::insert_if_unchanged`], which
//! drops the value if any invalidation happened in between.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What an entry costs in the cache's byte budget.
pub trait Weigh {
    fn weight(&self) -> u64;
}

impl Weigh for bytes::Bytes {
    fn weight(&self) -> u64 {
        self.len() as u64 + 64
    }
}

#[derive(Clone)]
struct Entry<V> {
    at: Instant,
    value: V,
}

#[derive(Clone)]
struct ByWeight;

impl<V: Weigh> quick_cache::Weighter<String, Entry<V>> for ByWeight {
    fn weight(&self, key: &String, e: &Entry<V>) -> u64 {
        (key.len() as u64 + e.value.weight()).max(1)
    }
}

pub struct NearCache<V: Weigh + Clone> {
    entries: quick_cache::sync::Cache<String, Entry<V>, ByWeight>,
    epoch: AtomicU64,
    ttl: Duration,
}

impl<V: Weigh + Clone> NearCache<V> {
    /// A cache of at most `capacity_bytes` (by [`Weigh`]) whose entries live at most `ttl`.
    pub fn new(capacity_bytes: u64, ttl: Duration) -> Self {
        let estimated_items = (capacity_bytes / 2048).clamp(16, 1 << 20) as usize;
        Self {
            entries: quick_cache::sync::Cache::with_weighter(
                estimated_items,
                capacity_bytes.max(1),
                ByWeight,
            ),
            epoch: AtomicU64::new(0),
            ttl,
        }
    }

    pub fn get(&self, key: &str) -> Option<V> {
        let e = self.entries.get(key)?;
        if e.at.elapsed() > self.ttl {
            self.entries.remove(key);
            return None;
        }
        Some(e.value)
    }

    /// Snapshot to take before fetching a value to fill with.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Stores `value` unless an invalidation happened since `epoch` was taken.
    pub fn insert_if_unchanged(&self, key: &str, value: V, epoch: u64) {
        if self.epoch() != epoch {
            return;
        }
        self.entries.insert(
            key.to_string(),
            Entry {
                at: Instant::now(),
                value,
            },
        );
        // An invalidation may have slipped in between the check and the insert.
        if self.epoch() != epoch {
            self.entries.remove(key);
        }
    }

    pub fn invalidate(&self, key: &str) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.entries.remove(key);
    }

    /// Drops everything (e.g. after the event tail lost its place and may have missed changes).
    pub fn clear(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.entries.clear();
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn a_fill_racing_an_invalidation_is_dropped() {
        let c: NearCache<Bytes> = NearCache::new(1 << 20, Duration::from_secs(60));
        let before = c.epoch();
        c.invalidate("a"); // the item changed while the reader was fetching
        c.insert_if_unchanged("a", Bytes::from_static(b"old"), before);
        assert_eq!(c.get("a"), None);
        let now = c.epoch();
        c.insert_if_unchanged("a", Bytes::from_static(b"new"), now);
        assert_eq!(c.get("a"), Some(Bytes::from_static(b"new")));
        c.invalidate("a");
        assert_eq!(c.get("a"), None);
    }

    #[test]
    fn entries_expire() {
        let c: NearCache<Bytes> = NearCache::new(1 << 20, Duration::from_millis(0));
        c.insert_if_unchanged("a", Bytes::from_static(b"x"), c.epoch());
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(c.get("a"), None);
    }

    #[test]
    fn the_byte_budget_bounds_the_cache() {
        let c: NearCache<Bytes> = NearCache::new(64 * 1024, Duration::from_secs(60));
        for i in 0..1000 {
            c.insert_if_unchanged(&format!("k{i}"), Bytes::from(vec![0u8; 1024]), c.epoch());
        }
        assert!(
            c.len() < 70,
            "{} entries of 1 KiB in a 64 KiB cache",
            c.len()
        );
    }
}
