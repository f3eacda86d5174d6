//! The flow table: flows by canonical key, small integer ids, client/server roles, and the
//! bounds that keep memory flat whatever the traffic.
//!
//! A flow ends at the first sweep (once a second of capture time) after both sides' FINs were
//! acknowledged; after a RST or unacknowledged FINs, once no packet has arrived for the
//! unclean linger time (peers retry, and retransmitted FINs still count); or when it has been
//! idle for the idle timeout; all measured in capture time, never the wall clock. A table at
//! its cap evicts the least recently active flows first and counts them. An ended flow's TCP
//! analysis state is kept (within its own cap) so that a later segment on the same addresses
//! and ports starts a new flow that continues Wireshark's conversation, as Wireshark, which
//! never forgets one, would number and label it. Each flow carries an application payload `A`
//! (the engine's reassembly and dissector state), so this file knows nothing of TLS. What one
//! flow records of its segments (counts, handshake, FINs and RST) is `entry.rs`'s.
//!
//! Flows live in a slab (chunks of slots, reused through a free list) and a hash index maps
//! each key to its slot, so the index holds small entries, and the table grows a chunk at a
//! time without moving flows or doubling its memory; a flow's `Slot` stays valid until the
//! flow is removed. The index holds slot numbers alone (4 bytes each, not the 40-byte key
//! beside them): a lookup compares the key kept in the flow it finds, which the caller reads
//! next anyway.

use hashbrown::HashTable;

pub use super::entry::{Flow, server_port_score};

use super::conn::ConnState;
use super::retired::{Retired, RetiredStore};
use super::tcp::{Connection, Segment};
use super::{EndReason, FlowKey};
use crate::event::{FlowId, Timestamp};

/// Ended conversations remembered by default: about 8 MiB of analysis state; seconds of
/// history on a host opening ten thousand connections a second, hours on a quiet one.
pub const DEFAULT_MAX_RETIRED: usize = 32_768;

/// Bounds of the flow table, all in capture time.
#[derive(Debug, Clone)]
pub struct FlowTableConfig {
    /// Most flows kept at once.
    pub max_flows: usize,
    /// A flow with no packet for this long ends.
    pub idle_timeout_ns: i128,
    /// A cleanly closed flow (FIN both ways, both acknowledged) is reported once quiet for
    /// this long. Nothing is left to say after the last ACK, and a segment that still comes
    /// (a stray retransmission) continues the conversation from its retired state, so the
    /// default reports it at the next sweep: on a busy host lingering flows would otherwise
    /// outnumber the open ones.
    pub linger_ns: i128,
    /// A flow closed by RST, or by FINs not all acknowledged, waits this long instead: peers
    /// retry (a retransmitted SYN after a RST is the same connection to Wireshark), and
    /// retransmitted FINs still belong to it.
    pub unclean_linger_ns: i128,
    /// Most ended conversations whose TCP analysis state is kept, so that a later segment on
    /// the same addresses and ports continues Wireshark's numbering and labels (Wireshark
    /// never forgets a conversation: a keep-alive after an hour's silence is still a
    /// keep-alive, and a new SYN there still reuses ports). A few hundred bytes each.
    pub max_retired: usize,
}

impl Default for FlowTableConfig {
    fn default() -> Self {
        FlowTableConfig {
            max_flows: 100_000,
            // Zeek's tcp_inactivity_timeout.
            idle_timeout_ns: 300 * 1_000_000_000,
            linger_ns: 0,
            unclean_linger_ns: 60 * 1_000_000_000,
            max_retired: DEFAULT_MAX_RETIRED,
        }
    }
}

/// Flow slots per slab chunk.
const CHUNK: usize = 1024;
/// Flows the index holds before it first grows.
const INDEX_START: usize = 1024;

/// The flow in slot `i` of `slots`, if any.
#[inline]
fn flow_at<A>(slots: &[Vec<Option<Flow<A>>>], i: u32) -> Option<&Flow<A>> {
    let i = i as usize;
    slots.get(i / CHUNK)?.get(i % CHUNK)?.as_ref()
}

/// Slot `i` holds the flow with this key.
#[inline]
fn holds<A>(slots: &[Vec<Option<Flow<A>>>], i: u32, key: &FlowKey) -> bool {
    flow_at(slots, i).is_some_and(|f| f.key == *key)
}

/// Where a flow sits in its table: valid until the flow is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot(u32);

/// Flows by key, with ids, expiry and a cap.
#[derive(Debug)]
pub struct FlowTable<A> {
    config: FlowTableConfig,
    /// Each live flow's slot, found by its key's hash (`FlowKey::hash64`).
    index: HashTable<u32>,
    /// The flows, `CHUNK` slots a chunk; `None` slots are listed in `free`.
    slots: Vec<Vec<Option<Flow<A>>>>,
    free: Vec<u32>,
    next_id: FlowId,
    /// Flows evicted to respect the cap.
    pub evicted: u64,
    /// Ended conversations' analysis state.
    retired: RetiredStore,
    /// Slots of flows that closed since the last sweep (each once): what a quick sweep checks.
    closing: Vec<u32>,
}

impl<A> FlowTable<A> {
    pub fn new(config: FlowTableConfig) -> Self {
        FlowTable {
            // The index grows with the flows open, so that it stays as small as they allow:
            // every packet probes it at a place its hash picks, and an index sized for the
            // cap (100,000 flows: 640 KiB) spreads ten thousand flows over all of it, where
            // each probe misses the cache. Growing by doubling costs a rehash now and then.
            index: HashTable::with_capacity(INDEX_START.min(config.max_flows)),
            retired: RetiredStore::new(config.max_retired),
            config,
            slots: Vec::new(),
            free: Vec::new(),
            next_id: 0,
            evicted: 0,
            closing: Vec::new(),
        }
    }

    /// A table that holds nothing and allocates nothing: a stand-in while the real one is
    /// borrowed elsewhere.
    pub fn placeholder() -> Self {
        FlowTable::new(FlowTableConfig {
            max_flows: 0,
            max_retired: 0,
            ..FlowTableConfig::default()
        })
    }

    /// Ended conversations whose analysis state is kept.
    pub fn retired(&self) -> usize {
        self.retired.len()
    }

    /// Keeps an ending flow's analysis state, within `max_retired`, oldest dropped first.
    fn retire(&mut self, flow: &Flow<A>) {
        self.retired.insert(
            flow.key,
            Retired {
                tcp: flow.tcp.clone(),
                client_dir: flow.client_dir as u8,
            },
        );
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Flows created so far.
    pub fn created(&self) -> u64 {
        u64::from(self.next_id)
    }

    /// The slot of the flow with this key.
    #[inline]
    pub fn find(&self, key: &FlowKey) -> Option<Slot> {
        let slots = &self.slots;
        self.index
            .find(key.hash64(), |&i| holds(slots, i, key))
            .map(|&i| Slot(i))
    }

    /// The flow in `slot` (`None` once it was removed).
    #[inline]
    pub fn flow(&mut self, slot: Slot) -> Option<&mut Flow<A>> {
        self.slot_mut(slot.0).and_then(Option::as_mut)
    }

    pub fn get_mut(&mut self, key: &FlowKey) -> Option<&mut Flow<A>> {
        let slot = self.find(key)?;
        self.flow(slot)
    }

    /// Removes a flow, for example when a new SYN reuses its ports.
    pub fn remove(&mut self, key: &FlowKey) -> Option<Flow<A>> {
        let slots = &self.slots;
        let (i, _) = self
            .index
            .find_entry(key.hash64(), |&i| holds(slots, i, key))
            .ok()?
            .remove();
        let flow = self.slot_mut(i)?.take();
        self.free.push(i);
        flow
    }

    /// Stores a new flow in a free slot.
    fn insert(&mut self, flow: Flow<A>) -> Slot {
        let key = flow.key;
        let i = match self.free.pop() {
            Some(i) => {
                if let Some(s) = self.slot_mut(i) {
                    *s = Some(flow);
                }
                i
            }
            None => {
                if self.slots.last().is_none_or(|c| c.len() == CHUNK) {
                    // A small table's first chunk need not hold more than the table may.
                    let cap = CHUNK.min(self.config.max_flows.saturating_add(1));
                    self.slots.push(Vec::with_capacity(cap));
                }
                let chunks = self.slots.len() - 1;
                let last = &mut self.slots[chunks];
                last.push(Some(flow));
                (chunks * CHUNK + last.len() - 1) as u32
            }
        };
        let slots = &self.slots;
        self.index.insert_unique(key.hash64(), i, |&j| {
            flow_at(slots, j).map_or(0, |f| f.key.hash64())
        });
        Slot(i)
    }

    fn slot_mut(&mut self, i: u32) -> Option<&mut Option<Flow<A>>> {
        let i = i as usize;
        self.slots.get_mut(i / CHUNK)?.get_mut(i % CHUNK)
    }

    /// The live flows.
    fn iter(&self) -> impl Iterator<Item = &Flow<A>> {
        self.slots.iter().flatten().flatten()
    }

    /// Creates a flow for segment `seg` from direction `dir`, choosing roles: the SYN's sender
    /// is the client; the receiver of a SYN-ACK is; otherwise the side on the likelier server
    /// port is the server (Zeek flips and marks `^` in such cases). A conversation that ended
    /// on this key goes on (its roles and analysis state), unless `seg` is a SYN with a new
    /// ISN: then the ports are reused, and `true` is returned. Flows pushed out by the cap are
    /// appended to `evicted`.
    pub fn create(
        &mut self,
        key: FlowKey,
        dir: usize,
        seg: &Segment,
        app: A,
        evicted: &mut Vec<Flow<A>>,
    ) -> bool {
        self.create_slot(key, dir, seg, app, evicted).1
    }

    /// `create`, also giving the new flow's slot.
    pub fn create_slot(
        &mut self,
        key: FlowKey,
        dir: usize,
        seg: &Segment,
        app: A,
        evicted: &mut Vec<Flow<A>>,
    ) -> (Slot, bool) {
        if self.len() >= self.config.max_flows {
            self.evict(evicted);
        }
        let flags = seg.flags;
        let (src, dst) = if dir == 0 {
            (key.lo, key.hi)
        } else {
            (key.hi, key.lo)
        };
        let mut reused = false;
        let earlier = match self.retired.remove(&key) {
            Some(r) if r.tcp.syn_starts_new_conversation(dir, seg) => {
                reused = true;
                None
            }
            other => other,
        };
        let mut conn = ConnState::default();
        let (client_dir, tcp) = if let Some(r) = earlier {
            if dir != usize::from(r.client_dir) {
                conn.flipped();
            }
            (usize::from(r.client_dir), r.tcp)
        } else if flags.syn() {
            if flags.ack() {
                conn.flipped();
                (dir ^ 1, Connection::default())
            } else {
                (dir, Connection::default())
            }
        } else if server_port_score(src.port) > server_port_score(dst.port) {
            conn.flipped();
            (dir ^ 1, Connection::default())
        } else {
            (dir, Connection::default())
        };
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let flow = Flow::new(id, key, client_dir, tcp, conn, seg.ts, app);
        (self.insert(flow), reused)
    }

    /// Removes the least recently active eighth of the table (at least one flow).
    fn evict(&mut self, out: &mut Vec<Flow<A>>) {
        let n = (self.len() / 8).max(1);
        let mut ages: Vec<(Timestamp, FlowKey)> = self.iter().map(|f| (f.last_ts, f.key)).collect();
        let nth = (n - 1).min(ages.len().saturating_sub(1));
        if !ages.is_empty() {
            ages.select_nth_unstable_by_key(nth, |a| a.0);
        }
        for (_, k) in ages.into_iter().take(n) {
            if let Some(f) = self.remove(&k) {
                self.evicted += 1;
                self.retire(&f);
                out.push(f);
            }
        }
    }

    /// Removes flows that are closed and quiet past the linger time, or idle past the
    /// timeout, as of capture time `now`; returns them with the reason, oldest id first.
    pub fn expire(&mut self, now: Timestamp) -> Vec<(Flow<A>, EndReason)> {
        let mut out = Vec::new();
        self.expire_with(now, true, |f, r| out.push((f, r)));
        out
    }

    /// Lists the flow in `slot` for the next quick sweep if it is closed (once until then).
    pub fn note_if_closed(&mut self, slot: Slot) {
        if let Some(f) = self.flow(slot)
            && f.is_closed()
            && !f.closing
        {
            f.closing = true;
            self.closing.push(slot.0);
        }
    }

    /// `expire`, handing each flow to `end` as it is removed (no flows are gathered). A `full`
    /// sweep looks at every flow; a quick one only at those that closed since the last sweep,
    /// which is all that a sweep a tenth of a second after the last can find to end, but for
    /// flows going idle.
    pub fn expire_with(
        &mut self,
        now: Timestamp,
        full: bool,
        mut end: impl FnMut(Flow<A>, EndReason),
    ) {
        let cfg = self.config.clone();
        let expired = |f: &Flow<A>| {
            let quiet = now.nanos_since(f.last_ts);
            let linger = if f.is_closed_cleanly() {
                cfg.linger_ns
            } else {
                cfg.unclean_linger_ns
            };
            (f.is_closed() && quiet >= linger) || quiet >= cfg.idle_timeout_ns
        };
        let mut done: Vec<(FlowId, FlowKey)> = Vec::new();
        for i in std::mem::take(&mut self.closing) {
            if let Some(f) = self.slot_mut(i).and_then(Option::as_mut)
                && std::mem::take(&mut f.closing)
                && !full
                && expired(f)
            {
                done.push((f.id, f.key));
            }
        }
        if full {
            done.extend(self.iter().filter(|f| expired(f)).map(|f| (f.id, f.key)));
        }
        done.sort_unstable_by_key(|(id, _)| *id);
        for (_, k) in done {
            let Some(f) = self.remove(&k) else { continue };
            self.retire(&f);
            let reason = if f.rst {
                EndReason::Rst
            } else if f.is_closed() {
                EndReason::Fin
            } else {
                EndReason::Idle
            };
            end(f, reason);
        }
    }

    /// Removes every flow, oldest id first (end of capture).
    pub fn drain(&mut self) -> Vec<Flow<A>> {
        let mut out = Vec::new();
        self.drain_with(|f| out.push(f));
        out
    }

    /// `drain`, handing each flow to `end` as it is removed.
    pub fn drain_with(&mut self, mut end: impl FnMut(Flow<A>)) {
        let mut ids: Vec<(FlowId, u32)> = self.index.iter().map(|&i| (0, i)).collect();
        for e in &mut ids {
            e.0 = self
                .slot_mut(e.1)
                .and_then(|s| s.as_ref())
                .map_or(0, |f| f.id);
        }
        ids.sort_unstable();
        self.index.clear();
        self.free.clear();
        for (_, i) in ids {
            if let Some(f) = self.slot_mut(i).and_then(Option::take) {
                end(f);
            }
        }
        self.slots = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Endpoint, TcpFlags};

    fn ep(ip: &str, port: u16) -> Endpoint {
        Endpoint {
            ip: ip.parse().unwrap(),
            port,
        }
    }

    fn table(max: usize) -> FlowTable<()> {
        FlowTable::new(FlowTableConfig {
            max_flows: max,
            ..FlowTableConfig::default()
        })
    }

    fn seg(flags: u16, seq: u32, secs: i64) -> Segment {
        Segment {
            frame: 1,
            ts: Timestamp::new(secs, 0),
            seq,
            ack: 0,
            flags: TcpFlags(flags),
            window: 1000,
            len: 0,
            window_scale: None,
        }
    }

    /// Creates the flow of `a` → `b` for `s` and returns its key and direction.
    fn open(t: &mut FlowTable<()>, a: Endpoint, b: Endpoint, s: &Segment) -> (FlowKey, usize) {
        let (k, d) = FlowKey::new(a, b);
        let mut ev = Vec::new();
        t.create(k, d, s, (), &mut ev);
        assert!(ev.is_empty());
        (k, d)
    }

    proptest::proptest! {
        /// The slab and its index agree with a plain map whatever the order of creations and
        /// removals, across chunk boundaries and reused slots.
        #[test]
        fn the_slab_and_index_agree_with_a_map(ops in proptest::collection::vec((0u16..3000, proptest::bool::ANY), 1..3000)) {
            let mut t = table(1_000_000);
            let mut model = std::collections::HashMap::new();
            let server = ep("10.0.0.2", 443);
            for (port, add) in ops {
                let (k, d) = FlowKey::new(ep("10.0.0.1", port), server);
                if add && !model.contains_key(&k) {
                    let mut ev = Vec::new();
                    let (slot, _) = t.create_slot(k, d, &seg(TcpFlags::SYN, 1, 0), (), &mut ev);
                    proptest::prop_assert_eq!(t.flow(slot).map(|f| f.key), Some(k));
                    model.insert(k, t.get_mut(&k).map(|f| f.id));
                } else if !add {
                    proptest::prop_assert_eq!(t.remove(&k).map(|f| f.id), model.remove(&k).flatten());
                }
                proptest::prop_assert_eq!(t.len(), model.len());
            }
            for (k, id) in &model {
                proptest::prop_assert_eq!(t.get_mut(k).map(|f| f.id), *id);
            }
            let drained: Vec<_> = t.drain().into_iter().map(|f| f.id).collect();
            let mut ids: Vec<_> = model.values().flatten().copied().collect();
            ids.sort_unstable();
            proptest::prop_assert_eq!(drained, ids);
            proptest::prop_assert!(t.is_empty());
        }
    }

    /// The index starts small and grows (rehashing from the flows' keys) as flows open, and
    /// keeps finding every flow through growth, removals and reuse of their places.
    #[test]
    fn the_index_finds_every_flow_as_it_grows() {
        let mut t = table(100_000);
        let server = ep("10.0.0.2", 443);
        let key = |i: u32| {
            let ip = std::net::Ipv4Addr::from(0x0a01_0000 + i / 1000);
            FlowKey::new(
                Endpoint {
                    ip: ip.into(),
                    port: (i % 1000) as u16 + 1024,
                },
                server,
            )
        };
        let n = 20 * INDEX_START as u32;
        let mut ids = Vec::new();
        for i in 0..n {
            let (k, d) = key(i);
            let mut ev = Vec::new();
            let (slot, _) = t.create_slot(k, d, &seg(TcpFlags::SYN, 1, 0), (), &mut ev);
            ids.push(t.flow(slot).map(|f| f.id));
        }
        assert_eq!(t.len(), n as usize);
        for i in (0..n).step_by(2) {
            assert_eq!(t.remove(&key(i).0).map(|f| f.id), ids[i as usize]);
        }
        for i in 0..n {
            let found = t.get_mut(&key(i).0).map(|f| f.id);
            assert_eq!(
                found,
                if i % 2 == 0 { None } else { ids[i as usize] },
                "flow {i}"
            );
        }
    }

    #[test]
    fn syn_sender_is_the_client() {
        let mut t = table(10);
        let (k, _) = open(
            &mut t,
            ep("10.0.0.9", 15001),
            ep("10.0.0.1", 50000),
            &seg(TcpFlags::SYN, 7, 0),
        );
        let f = t.get_mut(&k).unwrap();
        assert_eq!(f.client(), ep("10.0.0.9", 15001));
        assert_eq!(f.id, 0);
    }

    #[test]
    fn without_a_syn_the_well_known_port_is_the_server() {
        let mut t = table(10);
        let (k, _) = open(
            &mut t,
            ep("10.0.0.1", 443),
            ep("10.0.0.2", 51000),
            &seg(TcpFlags::ACK, 7, 0),
        );
        let f = t.get_mut(&k).unwrap();
        assert_eq!(f.server(), ep("10.0.0.1", 443));
        assert_eq!(f.conn.history(), "^");
    }

    #[test]
    fn a_full_table_evicts_the_least_recently_active_flow() {
        let mut t = table(2);
        let mut ev = Vec::new();
        for (i, port) in [1000u16, 1001, 1002].into_iter().enumerate() {
            let (k, d) = FlowKey::new(ep("10.0.0.1", port), ep("10.0.0.2", 80));
            t.create(k, d, &seg(TcpFlags::SYN, 7, i as i64), (), &mut ev);
        }
        assert_eq!(t.len(), 2);
        assert_eq!(t.evicted, 1);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].key.lo.port.min(ev[0].key.hi.port), 80);
        assert_eq!(ev[0].id, 0);
    }

    #[test]
    fn a_cleanly_closed_flow_ends_at_the_next_sweep_a_half_closed_one_does_not() {
        let mut t = table(10);
        let (client, server) = (ep("10.0.0.1", 40000), ep("10.0.0.2", 443));
        let syn = seg(TcpFlags::SYN, 99, 0);
        let (k, d) = open(&mut t, client, server, &syn);
        let fin = TcpFlags::FIN | TcpFlags::ACK;
        let f = t.get_mut(&k).unwrap();
        f.account(
            d,
            &Segment {
                ack: 500,
                ..seg(fin, 100, 1)
            },
            60,
        );
        f.account(
            d ^ 1,
            &Segment {
                ack: 101,
                ..seg(fin, 500, 1)
            },
            60,
        );
        assert!(
            t.expire(Timestamp::new(1, 500_000_000)).is_empty(),
            "the client's FIN is acknowledged, the server's not yet"
        );
        let f = t.get_mut(&k).unwrap();
        f.account(
            d,
            &Segment {
                ack: 501,
                ..seg(TcpFlags::ACK, 101, 1)
            },
            60,
        );
        let out = t.expire(Timestamp::new(1, 500_000_000));
        assert_eq!(out.len(), 1, "nothing is left to wait for");
        assert_eq!(out[0].1, EndReason::Fin);
        assert_eq!(
            t.retired(),
            1,
            "a stray segment still continues the conversation"
        );
    }

    #[test]
    fn closed_flows_expire_after_the_linger_and_idle_ones_after_the_timeout() {
        let mut t = table(10);
        let syn = seg(TcpFlags::SYN, 0, 0);
        let (k, d) = open(&mut t, ep("10.0.0.1", 1000), ep("10.0.0.2", 80), &syn);
        t.get_mut(&k)
            .unwrap()
            .account(d, &seg(TcpFlags::RST, 1, 0), 60);
        open(&mut t, ep("10.0.0.1", 1001), ep("10.0.0.2", 80), &syn);
        assert!(
            t.expire(Timestamp::new(30, 0)).is_empty(),
            "a reset flow lingers for a retry"
        );
        let out = t.expire(Timestamp::new(61, 0));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].1, EndReason::Rst);
        let out = t.expire(Timestamp::new(400, 0));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].1, EndReason::Idle);
    }

    #[test]
    fn quick_sweeps_end_only_flows_that_closed_since_the_last() {
        let mut t = table(10);
        let at = |flags, seq, ack, secs| Segment {
            ack,
            ..seg(flags, seq, secs)
        };
        let syn = seg(TcpFlags::SYN, 0, 0);
        open(&mut t, ep("10.0.0.1", 1000), ep("10.0.0.2", 80), &syn);
        let reset = open(&mut t, ep("10.0.0.1", 1001), ep("10.0.0.2", 80), &syn);
        let clean = open(&mut t, ep("10.0.0.1", 1002), ep("10.0.0.2", 80), &syn);
        let segments = [
            (reset, 0, at(TcpFlags::RST, 1, 0, 0)),
            (clean, 0, at(TcpFlags::FIN | TcpFlags::ACK, 1, 1, 0)),
            (clean, 1, at(TcpFlags::FIN | TcpFlags::ACK, 1, 2, 0)),
            (clean, 0, at(TcpFlags::ACK, 2, 2, 0)),
        ];
        for ((k, d), dir, s) in segments {
            t.get_mut(&k).unwrap().account(d ^ dir, &s, 60);
            let slot = t.find(&k).unwrap();
            t.note_if_closed(slot);
            t.note_if_closed(slot);
        }
        let mut ended = Vec::new();
        t.expire_with(Timestamp::new(1, 0), false, |f, r| ended.push((f.id, r)));
        assert_eq!(ended, [(2, EndReason::Fin)], "the clean close, once");
        t.expire_with(Timestamp::new(400, 0), false, |f, r| ended.push((f.id, r)));
        assert_eq!(
            ended.len(),
            1,
            "idle and lingering flows wait for a full sweep"
        );
        t.expire_with(Timestamp::new(400, 0), true, |f, r| ended.push((f.id, r)));
        assert_eq!(ended[1..], [(0, EndReason::Idle), (1, EndReason::Rst)]);
    }

    #[test]
    fn an_ended_conversation_goes_on_in_a_new_flow_with_its_roles_and_numbering() {
        let mut t = table(10);
        let (client, server) = (ep("10.0.0.1", 40000), ep("10.0.0.2", 443));
        let (k, d) = open(&mut t, client, server, &seg(TcpFlags::SYN, 1000, 0));
        let f = t.get_mut(&k).unwrap();
        f.tcp.analyze(d, &seg(TcpFlags::SYN, 1000, 0), false);
        assert_eq!(t.expire(Timestamp::new(1000, 0)).len(), 1);
        assert_eq!(t.retired(), 1);
        // The server speaks first after the silence: roles and base sequence numbers stay.
        let (k2, d2) = open(&mut t, server, client, &seg(TcpFlags::ACK, 5001, 1001));
        assert_eq!(t.retired(), 0);
        let f = t.get_mut(&k2).unwrap();
        assert_eq!(f.id, 1, "a new flow");
        assert_eq!(f.client(), client);
        assert_eq!(f.conn.history(), "^");
        let ka = f
            .tcp
            .analyze(d2 ^ 1, &seg(TcpFlags::ACK, 1001, 1001), false);
        assert_eq!(ka.rel_seq, 1, "numbered from the first flow's SYN");
    }

    #[test]
    fn a_syn_with_a_new_isn_after_the_end_reuses_the_ports() {
        let mut t = table(10);
        let (a, b) = (ep("10.0.0.1", 40000), ep("10.0.0.2", 443));
        let (k, d) = open(&mut t, a, b, &seg(TcpFlags::SYN, 1000, 0));
        t.get_mut(&k)
            .unwrap()
            .tcp
            .analyze(d, &seg(TcpFlags::SYN, 1000, 0), false);
        t.expire(Timestamp::new(1000, 0));
        let mut ev = Vec::new();
        let same_isn = seg(TcpFlags::SYN, 1000, 1001);
        assert!(!t.create(k, d, &same_isn, (), &mut ev), "a retransmission");
        t.expire(Timestamp::new(3000, 0));
        assert!(t.create(k, d, &seg(TcpFlags::SYN, 77, 3001), (), &mut ev));
    }

    #[test]
    fn retired_conversations_stay_within_their_cap() {
        let mut t: FlowTable<()> = FlowTable::new(FlowTableConfig {
            max_retired: 3,
            ..FlowTableConfig::default()
        });
        let server = ep("10.0.0.2", 443);
        for round in 0..50i64 {
            // Ten flows end; one key comes back every round, leaving stale order entries.
            for port in 0..10u16 {
                open(
                    &mut t,
                    ep("10.0.0.1", 40000 + port),
                    server,
                    &seg(TcpFlags::SYN, 9, round * 1000),
                );
            }
            t.expire(Timestamp::new(round * 1000 + 500, 0));
            assert!(t.retired() <= 3);
            assert!(t.retired.order_len() <= 2 * 3 + 1);
        }
    }
}
