//! The flow table: flows by canonical key, small integer ids, client/server roles, and the
//! bounds that keep memory flat whatever the traffic.
//!
//! A flow ends when both sides sent FIN or either sent RST, once no packet has arrived for the
//! linger time (so the last ACK and stray retransmissions still count); or when it has been
//! idle for the idle timeout; both measured in capture time, never the wall clock. A table at
//! its cap evicts the least recently active flows first and counts them. Each flow carries an
//! application payload `A` (the engine's reassembly and dissector state), so this file knows
//! nothing of TLS.

use rustc_hash::FxHashMap;

use super::conn::ConnState;
use super::seq::SeqNumber;
use super::tcp::{Connection, Segment};
use super::{DirCounts, EndReason, FlowKey, FlowSummary, Handshake, LabelCounts};
use crate::event::{Endpoint, FlowId, TcpFlags, Timestamp};

/// Bounds of the flow table, all in capture time.
#[derive(Debug, Clone)]
pub struct FlowTableConfig {
    /// Most flows kept at once.
    pub max_flows: usize,
    /// A flow with no packet for this long ends.
    pub idle_timeout_ns: i128,
    /// A cleanly closed flow (FIN both ways, both acknowledged) is reported once quiet for
    /// this long.
    pub linger_ns: i128,
    /// A flow closed by RST, or by FINs not all acknowledged, waits this long instead: peers
    /// retry (a retransmitted SYN after a RST is the same connection to Wireshark), and
    /// retransmitted FINs still belong to it.
    pub unclean_linger_ns: i128,
}

impl Default for FlowTableConfig {
    fn default() -> Self {
        FlowTableConfig {
            max_flows: 100_000,
            // Zeek's tcp_inactivity_timeout.
            idle_timeout_ns: 300 * 1_000_000_000,
            linger_ns: 2 * 1_000_000_000,
            unclean_linger_ns: 60 * 1_000_000_000,
        }
    }
}

/// One TCP flow.
#[derive(Debug)]
pub struct Flow<A> {
    pub id: FlowId,
    pub key: FlowKey,
    /// Direction index (see `FlowKey::new`) of client-to-server segments.
    pub client_dir: usize,
    pub tcp: Connection,
    pub conn: ConnState,
    pub counts: [DirCounts; 2],
    pub labels: LabelCounts,
    pub handshake: Handshake,
    pub syn_time: Option<Timestamp>,
    pub first_ts: Timestamp,
    pub last_ts: Timestamp,
    fin: [bool; 2],
    /// Sequence number just past each side's FIN.
    fin_end: [SeqNumber; 2],
    /// Highest acknowledgement number each side sent.
    max_ack: [Option<SeqNumber>; 2],
    rst: bool,
    /// Stream bytes never captured, per direction index.
    pub gap_bytes: [u64; 2],
    pub app: A,
}

/// How likely a port is to be the server's: well-known, then the lab's and other common
/// service ports, then registered ports, then ephemeral ones.
fn server_port_score(port: u16) -> u8 {
    match port {
        0..=1023 => 3,
        1433 | 1521 | 3306 | 5432 | 6379 | 8080 | 8443 | 9443 | 15001 | 27017 => 2,
        1024..=32767 => 1,
        _ => 0,
    }
}

impl<A> Flow<A> {
    /// True when the segment travels from client to server.
    pub fn from_client(&self, dir: usize) -> bool {
        dir == self.client_dir
    }

    pub fn client(&self) -> Endpoint {
        if self.client_dir == 0 {
            self.key.lo
        } else {
            self.key.hi
        }
    }

    pub fn server(&self) -> Endpoint {
        if self.client_dir == 0 {
            self.key.hi
        } else {
            self.key.lo
        }
    }

    /// Records the segment's contribution to counts, history, handshake frames and closing.
    pub fn account(&mut self, dir: usize, seg: &Segment<'_>, wire_len: u32) {
        let from_client = self.from_client(dir);
        let (frame, ts, flags) = (seg.frame, seg.ts, seg.flags);
        let c = &mut self.counts[dir];
        c.packets += 1;
        c.bytes += u64::from(wire_len);
        c.payload_bytes += u64::from(seg.len);
        self.last_ts = ts;
        self.conn.segment(from_client, seg);
        if flags.syn() {
            // The connection (re)opens: an earlier RST or FIN no longer closes it.
            self.fin = [false; 2];
            self.rst = false;
        }
        if flags.fin() {
            self.fin[dir] = true;
            self.fin_end[dir] = SeqNumber(seg.seq) + seg.len + 1;
        }
        if flags.ack() {
            let a = SeqNumber(seg.ack);
            self.max_ack[dir] = Some(self.max_ack[dir].map_or(a, |m| m.max(a)));
        }
        if flags.rst() {
            self.rst = true;
        }
        let hs = &mut self.handshake;
        if flags.syn() && !flags.ack() && from_client {
            // The first SYN's frame; the RTT runs from the latest one, as Wireshark's does.
            hs.syn.get_or_insert(frame);
            self.syn_time = Some(ts);
        } else if flags.syn() && flags.ack() && !from_client {
            hs.syn_ack.get_or_insert(frame);
        } else if flags.ack()
            && !flags.syn()
            && from_client
            && hs.syn_ack.is_some()
            && hs.ack.is_none()
        {
            hs.ack = Some(frame);
            if let Some(t) = self.syn_time {
                hs.rtt_ms = Some(ts.millis_since(t));
            }
        }
    }

    /// FIN seen both ways, or a RST.
    pub fn is_closed(&self) -> bool {
        self.rst || (self.fin[0] && self.fin[1])
    }

    /// FIN seen both ways and each acknowledged by the other side, without RST.
    fn is_closed_cleanly(&self) -> bool {
        !self.rst
            && (0..2)
                .all(|d| self.fin[d] && self.max_ack[d ^ 1].is_some_and(|a| a >= self.fin_end[d]))
    }

    /// The flow event for this flow.
    pub fn summary(&self, reason: EndReason) -> FlowSummary {
        let (c, s) = (self.client_dir, self.client_dir ^ 1);
        FlowSummary {
            flow: self.id,
            client: self.client(),
            server: self.server(),
            state: self.conn.state(),
            history: self.conn.history().to_string(),
            handshake: self.handshake.clone(),
            start: self.first_ts,
            end: self.last_ts,
            duration: self.last_ts.nanos_since(self.first_ts) as f64 / 1e9,
            client_packets: self.counts[c].packets,
            client_bytes: self.counts[c].bytes,
            client_payload_bytes: self.counts[c].payload_bytes,
            server_packets: self.counts[s].packets,
            server_bytes: self.counts[s].bytes,
            server_payload_bytes: self.counts[s].payload_bytes,
            analysis: self.labels.clone(),
            reason,
            gap_bytes: [self.gap_bytes[c], self.gap_bytes[s]],
        }
    }
}

/// Flows by key, with ids, expiry and a cap.
#[derive(Debug)]
pub struct FlowTable<A> {
    config: FlowTableConfig,
    flows: FxHashMap<FlowKey, Flow<A>>,
    next_id: FlowId,
    /// Flows evicted to respect the cap.
    pub evicted: u64,
}

impl<A> FlowTable<A> {
    pub fn new(config: FlowTableConfig) -> Self {
        FlowTable {
            config,
            flows: FxHashMap::default(),
            next_id: 0,
            evicted: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.flows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// Flows created so far.
    pub fn created(&self) -> u64 {
        u64::from(self.next_id)
    }

    pub fn get_mut(&mut self, key: &FlowKey) -> Option<&mut Flow<A>> {
        self.flows.get_mut(key)
    }

    /// Removes a flow, for example when a new SYN reuses its ports.
    pub fn remove(&mut self, key: &FlowKey) -> Option<Flow<A>> {
        self.flows.remove(key)
    }

    /// Creates a flow for a segment from direction `dir` with `flags`, choosing roles: the
    /// SYN's sender is the client; the receiver of a SYN-ACK is; otherwise the side on the
    /// likelier server port is the server (Zeek flips and marks `^` in such cases). Flows
    /// pushed out by the cap are appended to `evicted`.
    pub fn create(
        &mut self,
        key: FlowKey,
        dir: usize,
        flags: TcpFlags,
        ts: Timestamp,
        app: A,
        evicted: &mut Vec<Flow<A>>,
    ) -> &mut Flow<A> {
        if self.flows.len() >= self.config.max_flows {
            self.evict(evicted);
        }
        let (src, dst) = if dir == 0 {
            (key.lo, key.hi)
        } else {
            (key.hi, key.lo)
        };
        let mut conn = ConnState::default();
        let client_dir = if flags.syn() {
            if flags.ack() {
                conn.flipped();
                dir ^ 1
            } else {
                dir
            }
        } else if server_port_score(src.port) > server_port_score(dst.port) {
            conn.flipped();
            dir ^ 1
        } else {
            dir
        };
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let flow = Flow {
            id,
            key,
            client_dir,
            tcp: Connection::default(),
            conn,
            counts: Default::default(),
            labels: LabelCounts::default(),
            handshake: Handshake::default(),
            syn_time: None,
            first_ts: ts,
            last_ts: ts,
            fin: [false; 2],
            fin_end: [SeqNumber::default(); 2],
            max_ack: [None; 2],
            rst: false,
            gap_bytes: [0; 2],
            app,
        };
        self.flows.entry(key).insert_entry(flow).into_mut()
    }

    /// Removes the least recently active eighth of the table (at least one flow).
    fn evict(&mut self, out: &mut Vec<Flow<A>>) {
        let n = (self.flows.len() / 8).max(1);
        let mut ages: Vec<(Timestamp, FlowKey)> =
            self.flows.iter().map(|(k, f)| (f.last_ts, *k)).collect();
        let nth = (n - 1).min(ages.len().saturating_sub(1));
        if !ages.is_empty() {
            ages.select_nth_unstable_by_key(nth, |a| a.0);
        }
        for (_, k) in ages.into_iter().take(n) {
            if let Some(f) = self.flows.remove(&k) {
                self.evicted += 1;
                out.push(f);
            }
        }
    }

    /// Removes flows that are closed and quiet past the linger time, or idle past the
    /// timeout, as of capture time `now`; returns them with the reason, oldest id first.
    pub fn expire(&mut self, now: Timestamp) -> Vec<(Flow<A>, EndReason)> {
        let cfg = &self.config;
        let mut done: Vec<FlowKey> = Vec::new();
        for (k, f) in &self.flows {
            let quiet = now.nanos_since(f.last_ts);
            let linger = if f.is_closed_cleanly() {
                cfg.linger_ns
            } else {
                cfg.unclean_linger_ns
            };
            if (f.is_closed() && quiet >= linger) || quiet >= cfg.idle_timeout_ns {
                done.push(*k);
            }
        }
        let mut out: Vec<(Flow<A>, EndReason)> = done
            .into_iter()
            .filter_map(|k| self.flows.remove(&k))
            .map(|f| {
                let reason = if f.rst {
                    EndReason::Rst
                } else if f.is_closed() {
                    EndReason::Fin
                } else {
                    EndReason::Idle
                };
                (f, reason)
            })
            .collect();
        out.sort_by_key(|(f, _)| f.id);
        out
    }

    /// Removes every flow, oldest id first (end of capture).
    pub fn drain(&mut self) -> Vec<Flow<A>> {
        let mut all: Vec<Flow<A>> = self.flows.drain().map(|(_, f)| f).collect();
        all.sort_by_key(|f| f.id);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn syn_sender_is_the_client() {
        let mut t = table(10);
        let (k, d) = FlowKey::new(ep("10.0.0.9", 15001), ep("10.0.0.1", 50000));
        let mut ev = Vec::new();
        let f = t.create(
            k,
            d,
            TcpFlags(TcpFlags::SYN),
            Timestamp::default(),
            (),
            &mut ev,
        );
        assert_eq!(f.client(), ep("10.0.0.9", 15001));
        assert_eq!(f.id, 0);
    }

    #[test]
    fn without_a_syn_the_well_known_port_is_the_server() {
        let mut t = table(10);
        let (k, d) = FlowKey::new(ep("10.0.0.1", 443), ep("10.0.0.2", 51000));
        let mut ev = Vec::new();
        let f = t.create(
            k,
            d,
            TcpFlags(TcpFlags::ACK),
            Timestamp::default(),
            (),
            &mut ev,
        );
        assert_eq!(f.server(), ep("10.0.0.1", 443));
        assert_eq!(f.conn.history(), "^");
    }

    #[test]
    fn a_full_table_evicts_the_least_recently_active_flow() {
        let mut t = table(2);
        let mut ev = Vec::new();
        for (i, port) in [1000u16, 1001, 1002].into_iter().enumerate() {
            let (k, d) = FlowKey::new(ep("10.0.0.1", port), ep("10.0.0.2", 80));
            t.create(
                k,
                d,
                TcpFlags(TcpFlags::SYN),
                Timestamp::new(i as i64, 0),
                (),
                &mut ev,
            );
        }
        assert_eq!(t.len(), 2);
        assert_eq!(t.evicted, 1);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].key.lo.port.min(ev[0].key.hi.port), 80);
        assert_eq!(ev[0].id, 0);
    }

    #[test]
    fn closed_flows_expire_after_the_linger_and_idle_ones_after_the_timeout() {
        let mut t = table(10);
        let mut ev = Vec::new();
        let (k, d) = FlowKey::new(ep("10.0.0.1", 1000), ep("10.0.0.2", 80));
        let f = t.create(
            k,
            d,
            TcpFlags(TcpFlags::SYN),
            Timestamp::new(0, 0),
            (),
            &mut ev,
        );
        let rst = Segment {
            frame: 1,
            ts: Timestamp::new(0, 0),
            seq: 1,
            ack: 0,
            flags: TcpFlags(TcpFlags::RST),
            window: 0,
            len: 0,
            options: &[],
        };
        f.account(d, &rst, 60);
        let (k2, d2) = FlowKey::new(ep("10.0.0.1", 1001), ep("10.0.0.2", 80));
        t.create(
            k2,
            d2,
            TcpFlags(TcpFlags::SYN),
            Timestamp::new(0, 0),
            (),
            &mut ev,
        );
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
}
