//! All streams of a connection: a slab of states with O(1) lookup by id.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::Stream;

/// Hashes a stream id with one multiplication (ids are not chosen by an
/// attacker in a way that matters: a peer can only pick increasing ids, and
/// the table is bounded by `max_streams`).
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8 | *b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u32(&mut self, n: u32) {
        let h = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = h ^ (h >> 29);
    }
}

/// Streams in a slab (keys are reused), and a map from id to key.
#[derive(Default)]
pub(crate) struct StreamTable {
    slots: Vec<Option<Stream>>,
    free: Vec<usize>,
    ids: HashMap<u32, usize, BuildHasherDefault<IdHasher>>,
    /// The key of the last stream [`find`](Self::find) looked up: frames
    /// come in runs for one stream (a request, its answer, bulk data).
    last: usize,
}

impl StreamTable {
    /// Add a stream; returns its key.
    pub fn insert(&mut self, s: Stream) -> usize {
        let id = s.id;
        let key = match self.free.pop() {
            Some(k) => {
                self.slots[k] = Some(s);
                k
            }
            None => {
                self.slots.push(Some(s));
                self.slots.len() - 1
            }
        };
        self.ids.insert(id, key);
        key
    }

    /// Remove the stream at `key`.
    pub fn remove(&mut self, key: usize) -> Option<Stream> {
        let s = self.slots.get_mut(key)?.take()?;
        self.ids.remove(&s.id);
        self.free.push(key);
        Some(s)
    }

    #[inline]
    pub fn get(&self, key: usize) -> Option<&Stream> {
        self.slots.get(key)?.as_ref()
    }

    #[inline]
    pub fn get_mut(&mut self, key: usize) -> Option<&mut Stream> {
        self.slots.get_mut(key)?.as_mut()
    }

    /// The key of stream `id`, if it is live.
    #[inline]
    pub fn key_of(&self, id: u32) -> Option<usize> {
        self.ids.get(&id).copied()
    }

    /// The key of stream `id`, if it is live; remembers it, so that the
    /// next lookup of the same stream needs no hashing. (Ids are unique
    /// among live streams, so a slot holding `id` is always the answer.)
    #[inline]
    pub fn find(&mut self, id: u32) -> Option<usize> {
        if let Some(k) = self.still(self.last, id) {
            return Some(k);
        }
        let k = self.key_of(id)?;
        self.last = k;
        Some(k)
    }

    /// `key` if it still holds stream `id` (cheaper than
    /// [`key_of`](Self::key_of) when the key is known).
    #[inline]
    pub fn still(&self, key: usize, id: u32) -> Option<usize> {
        self.get(key).filter(|s| s.id == id).map(|_| key)
    }

    /// Live streams.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Keys of every live stream (a snapshot).
    pub fn keys(&self) -> Vec<usize> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(k, s)| s.as_ref().map(|_| k))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_lookup_remove_reuse() {
        let mut t = StreamTable::default();
        let a = t.insert(Stream::new(1, true));
        let b = t.insert(Stream::new(3, true));
        assert_eq!(t.key_of(3), Some(b));
        assert_eq!(t.len(), 2);
        assert_eq!(t.remove(a).map(|s| s.id), Some(1));
        assert!(t.remove(a).is_none());
        assert_eq!(t.key_of(1), None);
        let c = t.insert(Stream::new(5, true));
        assert_eq!(c, a, "slots are reused");
        assert_eq!(t.get(c).map(|s| s.id), Some(5));
        assert_eq!(t.keys(), vec![a, b]);
        assert_eq!(t.find(3), Some(b));
        assert_eq!(t.find(3), Some(b));
        assert_eq!(t.find(5), Some(c));
        t.remove(c);
        assert_eq!(t.find(5), None, "a freed slot is not found");
        let d = t.insert(Stream::new(7, true));
        assert_eq!(d, c);
        assert_eq!(t.find(5), None, "nor is its next tenant under the old id");
        assert_eq!(t.find(7), Some(d));
    }
}
