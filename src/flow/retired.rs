//! Ended conversations' TCP analysis state, kept within a cap so that a later segment on the
//! same addresses and ports continues Wireshark's conversation (see `table`): the most recently
//! retired are kept, a retired conversation that comes back leaves the store, and the oldest
//! are dropped first once the cap is passed.
//!
//! The states live in an arena that grows a chunk at a time and is filled in order, and a hash
//! index maps each key to its slot, so memory follows the number kept (the index is sized for
//! the cap at once and holds slot numbers alone, the keys staying in the arena) with no spike
//! when it grows.

use std::collections::VecDeque;

use hashbrown::HashTable;

use super::FlowKey;
use super::tcp::Connection;

/// What is kept of a conversation that ended.
#[derive(Debug, Clone)]
pub struct Retired {
    pub tcp: Connection,
    /// Direction index of the client's segments.
    pub client_dir: u8,
}

#[derive(Debug)]
struct Entry {
    key: FlowKey,
    /// When it was retired: order entries with another serial are stale.
    serial: u64,
    state: Retired,
}

/// Slots per arena chunk.
const CHUNK: usize = 1024;

/// Retired conversations by key, at most `max`.
#[derive(Debug)]
pub struct RetiredStore {
    max: usize,
    /// Each kept conversation's slot, found by its key's hash (`FlowKey::hash64`).
    index: HashTable<u32>,
    chunks: Vec<Vec<Option<Entry>>>,
    free: Vec<u32>,
    /// (serial, slot) in the order conversations were retired; stale once the slot holds
    /// another serial.
    order: VecDeque<(u64, u32)>,
    next_serial: u64,
}

impl RetiredStore {
    pub fn new(max: usize) -> Self {
        RetiredStore {
            max,
            index: HashTable::with_capacity(max.min(1 << 20)),
            chunks: Vec::new(),
            free: Vec::new(),
            order: VecDeque::new(),
            next_serial: 0,
        }
    }

    /// Conversations kept.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Order entries, stale ones included (bounded by twice the cap).
    pub fn order_len(&self) -> usize {
        self.order.len()
    }

    /// Where `key` is kept, if it is.
    fn find(&self, key: &FlowKey) -> Option<u32> {
        let chunks = &self.chunks;
        self.index
            .find(key.hash64(), |&i| {
                entry_at(chunks, i).is_some_and(|e| e.key == *key)
            })
            .copied()
    }

    fn slot(&mut self, i: u32) -> Option<&mut Option<Entry>> {
        let i = i as usize;
        self.chunks.get_mut(i / CHUNK)?.get_mut(i % CHUNK)
    }

    fn serial_at(&self, i: u32) -> Option<u64> {
        let i = i as usize;
        self.chunks
            .get(i / CHUNK)?
            .get(i % CHUNK)?
            .as_ref()
            .map(|e| e.serial)
    }

    /// Keeps `state` for `key` (replacing what was kept for it), then drops the oldest kept
    /// conversations beyond the cap.
    pub fn insert(&mut self, key: FlowKey, state: Retired) {
        if self.max == 0 {
            return;
        }
        let serial = self.next_serial;
        self.next_serial += 1;
        let entry = Entry { key, serial, state };
        let slot = match self.find(&key) {
            Some(i) => i,
            None => match self.free.pop() {
                Some(i) => i,
                None => {
                    if self.chunks.last().is_none_or(|c| c.len() == CHUNK) {
                        let cap = CHUNK.min(self.max.saturating_add(1));
                        self.chunks.push(Vec::with_capacity(cap));
                    }
                    let n = self.chunks.len() - 1;
                    let last = &mut self.chunks[n];
                    last.push(None);
                    (n * CHUNK + last.len() - 1) as u32
                }
            },
        };
        let fresh = match self.slot(slot) {
            Some(s) => s.replace(entry).is_none(),
            None => false,
        };
        if fresh {
            let chunks = &self.chunks;
            self.index.insert_unique(key.hash64(), slot, |&j| {
                entry_at(chunks, j).map_or(0, |e| e.key.hash64())
            });
        }
        self.order.push_back((serial, slot));
        while self.index.len() > self.max {
            let Some((s, i)) = self.order.pop_front() else {
                break;
            };
            if self.serial_at(i) == Some(s) {
                self.take_slot(i);
            }
        }
        // Comebacks leave stale order entries; drop them before they outnumber the kept.
        if self.order.len() > 2 * self.max {
            let mut order = std::mem::take(&mut self.order);
            order.retain(|&(s, i)| self.serial_at(i) == Some(s));
            self.order = order;
        }
    }

    /// Takes what was kept for `key` (the conversation goes on).
    pub fn remove(&mut self, key: &FlowKey) -> Option<Retired> {
        let i = self.find(key)?;
        self.take_slot(i)
    }

    fn take_slot(&mut self, i: u32) -> Option<Retired> {
        let chunks = &self.chunks;
        let hash = entry_at(chunks, i)?.key.hash64();
        if let Ok(found) = self.index.find_entry(hash, |&j| j == i) {
            found.remove();
        }
        let e = self.slot(i)?.take()?;
        self.free.push(i);
        Some(e.state)
    }
}

/// The entry in slot `i` of `chunks`, if any.
fn entry_at(chunks: &[Vec<Option<Entry>>], i: u32) -> Option<&Entry> {
    let i = i as usize;
    chunks.get(i / CHUNK)?.get(i % CHUNK)?.as_ref()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Endpoint;
    use proptest::prelude::*;

    fn key(port: u16) -> FlowKey {
        let ep = |ip: &str, port| Endpoint {
            ip: ip.parse().unwrap(),
            port,
        };
        FlowKey::new(ep("10.0.0.1", port), ep("10.0.0.2", 443)).0
    }

    fn state(n: u8) -> Retired {
        Retired {
            tcp: Connection::default(),
            client_dir: n,
        }
    }

    /// The store as it was first written: a map of states with serials, and an order list.
    #[derive(Default)]
    struct Model {
        map: std::collections::HashMap<u16, (u8, u64)>,
        order: VecDeque<(u64, u16)>,
        next: u64,
    }

    impl Model {
        fn insert(&mut self, max: usize, k: u16, v: u8) {
            let s = self.next;
            self.next += 1;
            self.map.insert(k, (v, s));
            self.order.push_back((s, k));
            while self.map.len() > max {
                let Some((s, k)) = self.order.pop_front() else {
                    break;
                };
                if self.map.get(&k).is_some_and(|e| e.1 == s) {
                    self.map.remove(&k);
                }
            }
        }
    }

    proptest! {
        /// Whatever the sequence of retirements and comebacks, the store keeps exactly what
        /// the plain map did, within its cap and with a bounded order list.
        #[test]
        fn keeps_what_a_plain_map_keeps(ops in prop::collection::vec((0u16..12, any::<bool>(), any::<u8>()), 1..400), max in 1usize..6) {
            let mut s = RetiredStore::new(max);
            let mut m = Model::default();
            for (k, retire, v) in ops {
                if retire {
                    s.insert(key(k), state(v));
                    m.insert(max, k, v);
                } else {
                    prop_assert_eq!(s.remove(&key(k)).map(|r| r.client_dir), m.map.remove(&k).map(|e| e.0));
                }
                prop_assert_eq!(s.len(), m.map.len());
                prop_assert!(s.len() <= max);
                prop_assert!(s.order_len() <= 2 * max + 1);
            }
            for (k, (v, _)) in m.map {
                prop_assert_eq!(s.remove(&key(k)).map(|r| r.client_dir), Some(v));
            }
            prop_assert!(s.is_empty());
        }
    }
}
