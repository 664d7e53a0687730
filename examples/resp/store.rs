//! The key space: a few mutex-guarded hash maps of `Bytes` keys and values,
//! with optional expiry checked when a key is touched.

use bytes::Bytes;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

/// Shards of the map. One worker thread never contends; more workers mostly
/// touch different shards.
const SHARDS: usize = 16;

/// A stored value and, for `SET .. EX/PX`, when it stops existing.
pub struct Entry {
    pub value: Bytes,
    pub expires: Option<Instant>,
}

impl Entry {
    /// True unless the entry's expiry time has passed.
    #[inline]
    pub fn live(&self) -> bool {
        match self.expires {
            None => true,
            Some(at) => Instant::now() < at,
        }
    }
}

pub type Map = HashMap<Bytes, Entry>;

pub struct Store {
    shards: Vec<Mutex<Map>>,
    /// Set once any key gets an expiry; until then `sweep` has nothing to do
    /// and skips walking the maps. A hint only (the maps are behind their
    /// mutexes), so `Relaxed` on both sides.
    expiring: AtomicBool,
}

impl Default for Store {
    fn default() -> Self {
        Store { shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(), expiring: AtomicBool::new(false) }
    }
}

impl Store {
    /// The locked shard that holds `key`.
    #[inline]
    pub fn shard(&self, key: &[u8]) -> MutexGuard<'_, Map> {
        // FNV-1a over at most the last 16 bytes: keys such as
        // `key:000000012345` differ at the end.
        let mut h: u32 = 0x811c_9dc5;
        for &b in &key[key.len().saturating_sub(16)..] {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
        self.shards[h as usize % SHARDS].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The live value of `key`, removing it if it has expired.
    #[inline]
    pub fn get(map: &mut Map, key: &[u8]) -> Option<Bytes> {
        match map.get(key) {
            Some(e) if e.live() => Some(e.value.clone()),
            Some(_) => {
                map.remove(key);
                None
            }
            None => None,
        }
    }

    /// Notes that some key has an expiry, so `sweep` has work.
    pub fn note_expiring(&self) {
        self.expiring.store(true, Ordering::Relaxed);
    }

    /// Stores `value` under `key`, reusing the key already stored if any.
    #[inline]
    pub fn set(map: &mut Map, key: &[u8], value: Bytes, expires: Option<Instant>) {
        match map.get_mut(key) {
            Some(e) => *e = Entry { value, expires },
            None => {
                map.insert(Bytes::copy_from_slice(key), Entry { value, expires });
            }
        }
    }

    /// Removes `key`; true if a live value was there.
    #[inline]
    pub fn remove(map: &mut Map, key: &[u8]) -> bool {
        map.remove(key).is_some_and(|e| e.live())
    }

    /// Number of keys held (expired ones not yet touched included).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).len()).sum()
    }

    /// Drops every expired entry (run once a second by the server, so keys
    /// that are set with a timeout and never read again do not pile up).
    pub fn sweep(&self) {
        if !self.expiring.load(Ordering::Relaxed) {
            return;
        }
        let now = Instant::now();
        for s in &self.shards {
            let mut map = s.lock().unwrap_or_else(|e| e.into_inner());
            map.retain(|_, e| e.expires.is_none_or(|at| now < at));
        }
    }
}
