//! A small bounded memo of results computed from bytes, for the dissection work that peers
//! repeat in every handshake: a server's certificate chain and CertificateRequest, a client's
//! hello lists. Each thread keeps its own (`thread_local!`), so `--threads` workers share
//! nothing. Entries are keyed by the whole input (its hash picks the slot, the bytes confirm
//! it), so an answer from the memo is the answer; the oldest entry makes room for a new one.

use std::collections::VecDeque;
use std::hash::BuildHasher;

use rustc_hash::{FxBuildHasher, FxHashMap};

/// Results of `f(bytes)` for the last `capacity` distinct inputs of at most `max_key` bytes.
#[derive(Debug)]
pub struct Memo<V> {
    entries: FxHashMap<u64, (Box<[u8]>, V)>,
    /// Hashes in the order their entries were added, oldest first.
    order: VecDeque<u64>,
    capacity: usize,
    max_key: usize,
}

impl<V: Clone> Memo<V> {
    pub fn new(capacity: usize, max_key: usize) -> Self {
        Memo {
            entries: FxHashMap::default(),
            order: VecDeque::new(),
            capacity,
            max_key,
        }
    }

    /// The value for `key`: remembered, or made by `make` (and remembered when the key is not
    /// too long to keep).
    pub fn get_or_make(&mut self, key: &[u8], make: impl FnOnce() -> V) -> V {
        if key.len() > self.max_key || self.capacity == 0 {
            return make();
        }
        let h = slot_hash(key);
        if let Some((k, v)) = self.entries.get(&h)
            && **k == *key
        {
            return v.clone();
        }
        let v = make();
        if self.entries.len() >= self.capacity
            && !self.entries.contains_key(&h)
            && let Some(old) = self.order.pop_front()
        {
            self.entries.remove(&old);
        }
        if self.entries.insert(h, (key.into(), v.clone())).is_none() {
            self.order.push_back(h);
        }
        v
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Bytes at each end of a long key that, with its length, pick its slot.
const SAMPLE: usize = 64;

/// The hash that picks `key`'s slot: of the whole of a short key; of a long one's length and
/// first and last `SAMPLE` bytes. The whole key still confirms an entry, so a key that shares
/// these with another only contends for its slot. Hashing the whole of a certificate (about
/// 1 KB of DER, each handshake) cost as much as the rest of its lookup.
fn slot_hash(key: &[u8]) -> u64 {
    let n = key.len();
    if n > 3 * SAMPLE {
        FxBuildHasher.hash_one((n, &key[..SAMPLE], &key[n - SAMPLE..]))
    } else {
        FxBuildHasher.hash_one(key)
    }
}

/// Appends a list of numbers to a memo key: its length, then its values, so that keys made
/// of several lists are equal exactly when every list is.
pub fn key_u16s(key: &mut Vec<u8>, values: impl ExactSizeIterator<Item = u16>) {
    key.extend_from_slice(&(values.len() as u32).to_le_bytes());
    for v in values {
        key.extend_from_slice(&v.to_le_bytes());
    }
}

/// Appends a list of bytes to a memo key: its length, then the bytes.
pub fn key_bytes(key: &mut Vec<u8>, values: &[u8]) {
    key.extend_from_slice(&(values.len() as u32).to_le_bytes());
    key.extend_from_slice(values);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever the sequence of keys (few distinct ones, so hits, misses and evictions
        /// all happen), the memo answers what the function does, within its capacity.
        #[test]
        fn answers_are_the_functions_answers(keys in prop::collection::vec(prop::collection::vec(0u8..3, 0..4), 1..200)) {
            let mut m = Memo::new(5, 3);
            let f = |k: &[u8]| k.iter().map(|b| u32::from(*b) + 1).product::<u32>() + k.len() as u32;
            for k in &keys {
                prop_assert_eq!(m.get_or_make(k, || f(k)), f(k));
                prop_assert!(m.len() <= 5);
            }
        }
    }

    #[test]
    fn long_keys_alike_at_both_ends_are_told_apart() {
        let key = |middle: u8| {
            let mut k = vec![1; 1000];
            k[500] = middle;
            k
        };
        let (a, b) = (key(2), key(3));
        assert_eq!(slot_hash(&a), slot_hash(&b), "same length, same ends");
        assert_ne!(slot_hash(&a), slot_hash(&a[..999]));
        let mut m = Memo::new(4, 2000);
        assert_eq!(m.get_or_make(&a, || 2), 2);
        assert_eq!(m.get_or_make(&b, || 3), 3, "not a's answer");
        assert_eq!(m.get_or_make(&b, || 4), 3, "b remembered");
        assert_eq!(m.get_or_make(&a, || 5), 5, "a gave way to b");
    }

    #[test]
    fn long_keys_are_not_kept() {
        let mut m = Memo::new(4, 2);
        assert_eq!(m.get_or_make(b"abc", || 7), 7);
        assert!(m.is_empty());
        assert_eq!(m.get_or_make(b"ab", || 8), 8);
        assert_eq!(m.get_or_make(b"ab", || 9), 8, "remembered");
    }
}
