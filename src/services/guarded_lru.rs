//! The bounded map behind the per-process caches (`key_cache`, `credential_cache`): an
//! LRU with a capacity (0: nothing is ever kept) and a generation that every
//! invalidation raises, so that an answer looked up before an invalidation is not stored
//! after it (it may be stale).

use std::hash::Hash;
use std::sync::{Mutex, MutexGuard};

use hashlink::LruCache;

pub struct GuardedLru<K, V> {
    /// `None` when the capacity is 0.
    slots: Option<Mutex<Slots<K, V>>>,
}

struct Slots<K, V> {
    lru: LruCache<K, V>,
    generation: u64,
}

/// What a lookup found: the cached value, or the generation to store an answer under.
pub enum Lookup<V> {
    Hit(V),
    Miss(u64),
}

impl<K: Hash + Eq, V: Clone> GuardedLru<K, V> {
    pub fn new(capacity: usize) -> Self {
        Self {
            slots: (capacity > 0).then(|| {
                Mutex::new(Slots {
                    lru: LruCache::new(capacity),
                    generation: 0,
                })
            }),
        }
    }

    /// Whether anything can be kept.
    pub fn enabled(&self) -> bool {
        self.slots.is_some()
    }

    /// The value under `key` if `accept` takes it (marked most recently used), else
    /// the current generation.
    pub fn get(&self, key: &K, accept: impl FnOnce(&V) -> bool) -> Lookup<V> {
        let Some(slots) = &self.slots else {
            return Lookup::Miss(0);
        };
        let mut slots = lock(slots);
        match slots.lru.get(key) {
            Some(value) if accept(value) => Lookup::Hit(value.clone()),
            _ => Lookup::Miss(slots.generation),
        }
    }

    /// Stores `value` unless something was invalidated since the lookup that returned
    /// `generation`.
    pub fn store(&self, generation: u64, key: K, value: V) {
        if let Some(slots) = &self.slots {
            let mut slots = lock(slots);
            if slots.generation == generation {
                slots.lru.insert(key, value);
            }
        }
    }

    /// Forgets the value under `key`.
    pub fn forget(&self, key: &K) {
        self.invalidate(|lru| {
            lru.remove(key);
        });
    }

    /// Forgets every value `keep` refuses.
    pub fn retain(&self, keep: impl FnMut(&K, &mut V) -> bool) {
        self.invalidate(|lru| lru.retain(keep));
    }

    /// Forgets everything.
    pub fn clear(&self) {
        self.invalidate(|lru| lru.clear());
    }

    pub fn len(&self) -> usize {
        self.slots.as_ref().map_or(0, |s| lock(s).lru.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn invalidate(&self, change: impl FnOnce(&mut LruCache<K, V>)) {
        if let Some(slots) = &self.slots {
            let mut slots = lock(slots);
            slots.generation += 1;
            change(&mut slots.lru);
        }
    }
}

fn lock<T>(slots: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave the map half-changed in a way that
    // matters: at worst an entry is missing and is read again.
    slots.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::{GuardedLru, Lookup};

    fn generation(lru: &GuardedLru<u32, &'static str>, key: u32) -> u64 {
        match lru.get(&key, |_| true) {
            Lookup::Hit(v) => panic!("unexpected hit {v}"),
            Lookup::Miss(g) => g,
        }
    }

    #[test]
    fn an_answer_looked_up_before_an_invalidation_is_not_stored() {
        let lru = GuardedLru::new(4);
        let g = generation(&lru, 1);
        lru.forget(&2);
        lru.store(g, 1, "stale");
        assert!(lru.is_empty());
        let g = generation(&lru, 1);
        lru.store(g, 1, "fresh");
        assert!(matches!(lru.get(&1, |_| true), Lookup::Hit("fresh")));
        assert!(matches!(lru.get(&1, |v| *v != "fresh"), Lookup::Miss(_)));
    }

    #[test]
    fn it_keeps_at_most_its_capacity_and_nothing_at_zero() {
        let lru = GuardedLru::new(2);
        for key in 0..5 {
            let g = generation(&lru, key);
            lru.store(g, key, "v");
        }
        assert_eq!(lru.len(), 2);
        lru.retain(|k, _| *k != 4);
        assert_eq!(lru.len(), 1);
        lru.clear();
        assert!(lru.is_empty());

        let off = GuardedLru::new(0);
        assert!(!off.enabled());
        off.store(generation(&off, 1), 1, "v");
        assert!(off.is_empty());
    }
}
