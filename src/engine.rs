//! The sans-IO core: frames in, events out.
//!
//! `Engine::handle_frame` decodes a frame, finds its flow, runs Wireshark's sequence analysis,
//! feeds the TLS dissectors and queues events; `poll_event` hands them out in order. Time is
//! only ever the capture's: flows expire by packet timestamps (`handle_tick`), so replaying a
//! capture twice gives identical events. Nothing here touches the OS, prints, or allocates per
//! frame on the plain-TCP path beyond the event itself.

use std::collections::VecDeque;

use crate::decode::{self, Decoded, HeaderProblem, TcpPacket};
use crate::dissect::TlsSession;
use crate::dissect::session::SessionBuilder;
use crate::dissect::tls::{self, Ctx, FrameDissector, FrameTls, TlsConversation, TlsSpares};
use crate::dissect::verify::Verifier;
use crate::event::{
    AppInfo, Event, MalformedEvent, OtherFrameEvent, PacketEvent, StatsEvent, TcpOptions,
    TcpSummary, Timestamp, TlsInfo,
};
use crate::flow::pdu::{self, Desegmenter};
use crate::flow::reassembly::{Abandoned, Chunk, Stream};
use crate::flow::table::Flow;
use crate::flow::tcp::{Segment, SegmentAnalysis};
use crate::flow::{EndReason, FlowKey, FlowSummary, FlowTable, FlowTableConfig, Label};

/// One captured frame, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// 1-based record number in the capture, as tshark numbers frames.
    pub number: u64,
    pub ts: Timestamp,
    /// LINKTYPE_* of the capture.
    pub linktype: i32,
    /// Length on the wire.
    pub orig_len: u32,
    pub data: &'a [u8],
}

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub flows: FlowTableConfig,
    /// Out-of-order bytes one flow direction may buffer.
    pub max_buffer_per_direction: usize,
    /// Out-of-order bytes all flows together may buffer.
    pub max_buffer_total: usize,
    /// Queue events for frames that are not TCP (the human packet list shows them).
    pub emit_other_frames: bool,
    /// Keep each TLS session's raw evidence (chains, transcript) in its summary, for checks
    /// made after dissection (`--ca`); several kilobytes per handshake in flight.
    pub evidence: bool,
    /// Judge each TLS session against a CA (`--ca`): its summary carries the verdict.
    pub verifier: Option<std::sync::Arc<Verifier>>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            flows: FlowTableConfig::default(),
            max_buffer_per_direction: 4 << 20,
            max_buffer_total: 64 << 20,
            emit_other_frames: false,
            evidence: true,
            verifier: None,
        }
    }
}

/// Per-flow state the engine keeps beside the TCP analysis.
#[derive(Debug, Default)]
pub struct FlowApp {
    /// Stream reassembly per direction index.
    streams: [Stream; 2],
    /// TLS, once the flow's data looked like it (boxed: most flows in a busy capture are
    /// short and many are not TLS).
    tls: Option<Box<TlsFlow>>,
}

/// A flow that carries TLS: the conversation and Wireshark-style desegmentation per
/// direction index.
#[derive(Debug)]
struct TlsFlow {
    conv: TlsConversation,
    deseg: [Desegmenter; 2],
    /// What this flow adds to `Engine::buffered_total`: `buffered()` as of its last segment.
    accounted: usize,
}

impl TlsFlow {
    fn buffered(&self) -> usize {
        self.conv.buffered() + self.deseg.iter().map(Desegmenter::buffered).sum::<usize>()
    }

    /// Brings `total` up to date with what the flow now buffers, from what it buffered as of
    /// its last segment (nothing else changes its buffers).
    fn account(&mut self, total: &mut usize) {
        let now = self.buffered();
        *total = (*total + now).saturating_sub(self.accounted);
        self.accounted = now;
    }
}

/// Flow expiry is checked at most this often, in capture time: a cleanly closed flow is
/// reported within this long of its last ACK, and memory holds only the flows of the last
/// 100 ms that have closed (a tenth of what a one-second sweep kept on a busy host).
pub const SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);
const SWEEP_INTERVAL_NS: i128 = SWEEP_INTERVAL.as_nanos() as i128;
/// Every flow, for the idle timeout and lingering closed flows, is looked at this often;
/// sweeps in between look only at flows that closed since the last one, so that a table of
/// 100,000 flows is not walked ten times a second.
const FULL_SWEEP_INTERVAL_NS: i128 = 1_000_000_000;

/// The dissection pipeline.
pub struct Engine {
    config: EngineConfig,
    table: FlowTable<FlowApp>,
    events: VecDeque<Event>,
    /// Flows a sweep ended, waiting to be read after the first `swept_after` of `events` and
    /// before the rest (see `sweep_flow`).
    swept: VecDeque<(Option<Box<TlsSession>>, Box<FlowSummary>)>,
    swept_after: usize,
    stats: StatsEvent,
    first_ts: Option<Timestamp>,
    last_sweep: Timestamp,
    last_full_sweep: Timestamp,
    /// Out-of-order bytes buffered across all flows.
    buffered_total: usize,
    /// Lists of written events, for the next TLS frames (see `recycle`).
    spares: TlsSpares,
}

impl Engine {
    pub fn new(config: EngineConfig) -> Self {
        Engine {
            table: FlowTable::new(config.flows.clone()),
            config,
            events: VecDeque::new(),
            swept: VecDeque::new(),
            swept_after: 0,
            stats: StatsEvent::default(),
            first_ts: None,
            last_sweep: Timestamp::default(),
            last_full_sweep: Timestamp::default(),
            buffered_total: 0,
            spares: TlsSpares::default(),
        }
    }

    /// Takes the lists out of an event that has been written, so that later frames fill them
    /// again instead of freeing and allocating anew (the event is left without them).
    /// Optional: an event that is simply dropped costs only those allocations.
    pub fn recycle(&mut self, ev: &mut Event) {
        self.spares.reclaim(ev);
    }

    /// Takes the lists that another thread `reclaim`ed from written events.
    pub fn absorb_spares(&mut self, spares: &mut TlsSpares) {
        self.spares.absorb(spares);
    }

    /// The next queued event, oldest first.
    pub fn poll_event(&mut self) -> Option<Event> {
        if self.swept_after > 0 {
            self.swept_after -= 1;
            return self.events.pop_front();
        }
        if let Some((tls, _)) = self.swept.front_mut() {
            if let Some(t) = tls.take() {
                return Some(Event::TlsHandshake(t));
            }
            return self.swept.pop_front().map(|(_, f)| Event::Flow(f));
        }
        self.events.pop_front()
    }

    /// Moves queued events, oldest first (as `poll_event` gives them), into `out` until it
    /// holds `up_to`.
    pub fn take_events(&mut self, out: &mut Vec<Event>, up_to: usize) {
        if out.is_empty() && self.swept.is_empty() && self.events.len() <= up_to {
            // The whole queue is wanted: its buffer changes hands with `out`'s, and no event
            // is moved (a queue filled from an empty one only by pushing starts at the front
            // of its buffer, so the conversion to a `Vec` is free).
            let spare = VecDeque::from(std::mem::take(out));
            *out = Vec::from(std::mem::replace(&mut self.events, spare));
            return;
        }
        while out.len() < up_to && !self.swept.is_empty() {
            out.extend(self.poll_event());
        }
        let n = up_to.saturating_sub(out.len()).min(self.events.len());
        out.extend(self.events.drain(..n));
    }

    /// Events queued: at least this many `poll_event` calls give one.
    pub fn queued(&self) -> usize {
        self.events.len() + self.swept.len()
    }

    /// Flows created so far; a flow created by a frame has this number, before it, as its id.
    pub fn flows_created(&self) -> u64 {
        self.table.created()
    }

    /// Bytes held for reassembly and desegmentation across all flows, which
    /// `EngineConfig::max_buffer_total` bounds.
    pub fn buffered_bytes(&self) -> usize {
        self.buffered_total
    }

    /// Counters so far (flows and handshakes included).
    pub fn stats(&self) -> StatsEvent {
        let mut s = self.stats.clone();
        s.flows = self.table.created();
        s.flows_evicted = self.table.evicted;
        s
    }

    /// Processes one frame.
    pub fn handle_frame(&mut self, frame: &Frame<'_>) {
        let rel_ns = self.clock(frame);
        self.process(frame, rel_ns);
    }

    /// Advances capture time to `frame`: learns the capture's first timestamp, sweeps flows
    /// when a second of capture time has passed, and returns the frame's time since the first
    /// frame. A sharded run (`--threads`) clocks every engine with every frame, so all sweep
    /// at the same frames as one engine would, and gives each frame to one engine to
    /// `process`.
    pub fn clock(&mut self, frame: &Frame<'_>) -> i64 {
        let first = *self.first_ts.get_or_insert(frame.ts);
        let rel_ns = i64::try_from(frame.ts.nanos_since(first)).unwrap_or(i64::MAX);
        if frame.ts.nanos_since(self.last_sweep) >= SWEEP_INTERVAL_NS {
            self.handle_tick(frame.ts);
        }
        rel_ns
    }

    /// Decodes and dissects a frame already `clock`ed, `rel_ns` after the first frame.
    pub fn process(&mut self, frame: &Frame<'_>, rel_ns: i64) {
        self.stats.packets += 1;
        self.stats.bytes += u64::from(frame.orig_len);
        match decode::decode(frame.linktype, frame.data, frame.orig_len) {
            Decoded::Tcp(p) => self.tcp(frame, rel_ns, &p),
            Decoded::Other(o) | Decoded::Truncated(o) => {
                if self.config.emit_other_frames {
                    self.events.push_back(Event::Other(OtherFrameEvent {
                        frame: frame.number,
                        ts: frame.ts,
                        rel_ns,
                        len: frame.orig_len,
                        src: o.src,
                        dst: o.dst,
                        protocol: o.protocol,
                        ports: o.ports,
                        payload_len: o.payload_len,
                    }));
                }
            }
            Decoded::Malformed(reason) => {
                self.stats.malformed += 1;
                self.events.push_back(Event::Malformed(MalformedEvent {
                    frame: frame.number,
                    ts: frame.ts,
                    reason,
                }));
            }
        }
    }

    /// Expires flows that closed or went idle, as of capture time `now`.
    pub fn handle_tick(&mut self, now: Timestamp) {
        self.last_sweep = now;
        // Flows that closed are looked at every sweep, all flows (for idle ones) once a second.
        let full = now.nanos_since(self.last_full_sweep) >= FULL_SWEEP_INTERVAL_NS;
        if full {
            self.last_full_sweep = now;
        }
        let mut table = std::mem::replace(&mut self.table, FlowTable::placeholder());
        table.expire_with(now, full, |flow, reason| self.sweep_flow(flow, reason));
        self.table = table;
    }

    /// The capture is over: every open flow ends.
    pub fn finish(&mut self) {
        self.finish_with(usize::MAX, |_| true);
    }

    /// `finish`, calling `between` each time another `every` flows have ended, so that their
    /// events can be taken while the rest end; once `between` returns `false` it is not
    /// called again.
    pub fn finish_with(&mut self, every: usize, mut between: impl FnMut(&mut Engine) -> bool) {
        let mut table = std::mem::replace(&mut self.table, FlowTable::placeholder());
        let (mut ended, mut more) = (0usize, true);
        table.drain_with(|flow| {
            self.sweep_flow(flow, EndReason::End);
            ended += 1;
            if more && ended % every.max(1) == 0 {
                more = between(self);
            }
        });
        self.table = table;
    }

    /// Ends a flow: its events go after those already queued.
    fn end_flow(&mut self, flow: Flow<FlowApp>, reason: EndReason) {
        let (tls, summary) = self.close_flow(flow, reason);
        if let Some(t) = tls {
            self.events.push_back(Event::TlsHandshake(t));
        }
        self.events.push_back(Event::Flow(summary));
    }

    /// Ends a flow found by a sweep. Sweeps end thousands of flows at once in a busy capture,
    /// so their events wait in a compact queue of their own (boxes, not whole events, which
    /// would grow the main queue by thousands), read after the events queued before the sweep
    /// began (`swept_after`). Once a frame has queued events after a sweep's, a later sweep's
    /// go to the main queue, behind them.
    fn sweep_flow(&mut self, flow: Flow<FlowApp>, reason: EndReason) {
        if self.swept.is_empty() {
            self.swept_after = self.events.len();
        }
        if self.swept_after == self.events.len() {
            let ended = self.close_flow(flow, reason);
            self.swept.push_back(ended);
        } else {
            self.end_flow(flow, reason);
        }
    }

    /// The session summary (if not reported yet) and the summary of an ending flow.
    fn close_flow(
        &mut self,
        mut flow: Flow<FlowApp>,
        reason: EndReason,
    ) -> (Option<Box<TlsSession>>, Box<FlowSummary>) {
        for dir in 0..2 {
            let freed = flow.app.streams[dir].finish(&mut |c| {
                if let Chunk::Gap(n) = c {
                    flow.gap_bytes[dir] += u64::from(n);
                }
            });
            self.adjust_buffered(freed);
        }
        let mut session = None;
        if let Some(t) = flow.app.tls.as_mut() {
            debug_assert_eq!(
                t.accounted,
                t.buffered(),
                "a TLS flow's buffers changed unseen"
            );
            self.buffered_total = self.buffered_total.saturating_sub(t.accounted);
            self.stats.tls_unsynced += t.conv.unsynced;
            self.stats.tls_oversized +=
                t.conv.oversized_messages + t.deseg.iter().map(|d| d.abandoned).sum::<u64>();
            session = t.conv.session.take().and_then(|mut b| b.take_final());
            if let (Some(v), Some(s)) = (&self.config.verifier, session.as_mut()) {
                s.verdict = Some(v.judge(s));
            }
            if session.is_some() {
                self.stats.tls_handshakes += 1;
            }
        }
        (session, Box::new(flow.summary(reason)))
    }

    fn adjust_buffered(&mut self, delta: isize) {
        self.buffered_total = self.buffered_total.saturating_add_signed(delta);
    }

    fn tcp(&mut self, frame: &Frame<'_>, rel_ns: i64, p: &TcpPacket<'_>) {
        self.stats.tcp_packets += 1;
        if p.problem.is_some() {
            self.stats.malformed += 1;
        }
        let (src, dst) = p.endpoints();
        let (key, dir) = FlowKey::new(src, dst);
        let seg = Segment {
            frame: frame.number,
            ts: frame.ts,
            seq: p.seq,
            ack: p.ack,
            flags: p.flags,
            window: p.window,
            len: p.payload_len,
            window_scale: crate::decode::window_scale(p.options),
        };

        // A SYN with a new ISN on a known 4-tuple starts a new flow (Wireshark's
        // "TCP Port numbers reused").
        let mut reused = false;
        let mut slot = self.table.find(&key);
        if let Some(s) = slot
            && let Some(old) = self.table.flow(s)
            && old.tcp.syn_starts_new_conversation(dir, &seg)
        {
            if let Some(old) = self.table.remove(&key) {
                self.end_flow(old, EndReason::Reused);
            }
            reused = true;
            slot = None;
        }
        let slot = match slot {
            Some(s) => s,
            None => {
                // A conversation that ended on this 4-tuple goes on, or is replaced (reused
                // ports).
                let mut evicted = Vec::new();
                let (s, r) =
                    self.table
                        .create_slot(key, dir, &seg, FlowApp::default(), &mut evicted);
                reused |= r;
                for f in evicted {
                    self.end_flow(f, EndReason::Evicted);
                }
                s
            }
        };
        let Some(flow) = self.table.flow(slot) else {
            return;
        };
        // The TLS state, which a segment with data is given after the sequence analysis
        // below, is fetched meanwhile: with ten thousand flows open it is seldom in cache.
        if let Some(t) = &flow.app.tls
            && p.payload_len > 0
        {
            crate::prefetch::value(&**t);
        }

        // A header longer than its datagram has no segment length: Wireshark skips the
        // sequence analysis and shows the numbers as sent.
        let short = p.problem == Some(HeaderProblem::ShortSegment);
        let result = if short {
            SegmentAnalysis {
                rel_seq: p.seq,
                rel_ack: p.ack,
                win: u32::from(p.window),
                ..SegmentAnalysis::default()
            }
        } else {
            flow.tcp.analyze(dir, &seg, reused)
        };
        flow.account(dir, &seg, frame.orig_len);
        flow.labels.add(result.analysis);
        // The TLS state fetched above has had time to arrive: its session builder, which the
        // dissection below reads first, is fetched in turn.
        if let Some(t) = &flow.app.tls
            && p.payload_len > 0
            && let Some(b) = &t.conv.session
        {
            crate::prefetch::value(&**b);
        }

        // SACK edges are shown relative to the peer's base sequence number.
        let sack_base = flow.tcp.dirs[dir ^ 1].base_seq.unwrap_or(0);

        // Stream reassembly for the session dissectors. Once the global budget is spent,
        // a direction that needs to buffer is abandoned rather than allowed to grow.
        let mut delta = 0isize;
        let mut gaps = [0u64; 2];
        let over_budget = self.buffered_total >= self.config.max_buffer_total;
        let was_abandoned = flow.app.streams.each_ref().map(|s| s.abandoned.is_some());
        let streams = &mut flow.app.streams;
        if p.flags.syn() {
            streams[dir].syn(p.seq);
        }
        if p.payload_len > 0 {
            let cap = if over_budget {
                0
            } else {
                self.config.max_buffer_per_direction
            };
            delta += streams[dir].segment(p.seq, p.payload, p.payload_len, cap, &mut |c| {
                if let Chunk::Gap(n) = c {
                    gaps[dir] += u64::from(n);
                }
            });
            if over_budget && streams[dir].abandoned == Some(Abandoned::DirectionCap) {
                streams[dir].abandoned = Some(Abandoned::GlobalCap);
            }
        }
        if p.flags.ack() {
            let rev = dir ^ 1;
            delta += streams[rev].acked(p.ack, &mut |c| {
                if let Chunk::Gap(n) = c {
                    gaps[rev] += u64::from(n);
                }
            });
        }
        for (d, was) in was_abandoned.into_iter().enumerate() {
            if !was && streams[d].abandoned.is_some() {
                self.stats.reassembly_abandoned += 1;
            }
        }
        for (d, &n) in gaps.iter().enumerate() {
            flow.gap_bytes[d] += n;
            if n > 0 {
                let from_client = flow.from_client(d);
                flow.conn.gap(from_client);
            }
        }
        let flow_id = flow.id;
        self.buffered_total = self.buffered_total.saturating_add_signed(delta);

        // TLS: found by content (Wireshark's heuristic), then desegmented as Wireshark does.
        // Wireshark's TCP_A_RETRANSMISSION is not set on fast or spurious retransmissions,
        // which the contract's labels also call retransmissions.
        let a = result.analysis;
        let plain_retransmission = a.contains(Label::Retransmission)
            && !a.contains(Label::FastRetransmission)
            && !a.contains(Label::SpuriousRetransmission);
        let skip =
            plain_retransmission || a.contains(Label::OutOfOrder) || a.contains(Label::KeepAlive);
        if flow.app.tls.is_none()
            && p.payload_len > 0
            && !skip
            && (tls::looks_like_tls_start(p.payload) || tls::is_tls_port(p.sport, p.dport))
        {
            let builder = if self.config.evidence {
                SessionBuilder::new
            } else {
                SessionBuilder::without_evidence
            };
            let session = builder(flow_id, flow.client(), flow.server(), flow.syn_time);
            flow.app.tls = Some(Box::new(TlsFlow {
                conv: TlsConversation::new(session),
                deseg: Default::default(),
                accounted: 0,
            }));
        }
        let mut records = Vec::new();
        let mut app = AppInfo::None;
        let mut session_event = None;
        let from_client = flow.from_client(dir);
        if let Some(t) = flow.app.tls.as_mut()
            && p.payload_len > 0
        {
            let mut frame_tls: FrameTls = self.spares.frame();
            // Wireshark's can_desegment: the segment's bytes were all captured (a frame cut
            // only in its trailer still counts), and capd's global budget allows buffering.
            let may_buffer = self.buffered_total < self.config.max_buffer_total;
            let whole = p.payload.len() as u32 >= p.payload_len && may_buffer;
            let seg = pdu::Segment {
                frame: frame.number,
                seq: result.rel_seq,
                payload: p.payload,
                len: p.payload_len,
                whole,
                retransmission: plain_retransmission,
                spurious: a.contains(Label::SpuriousRetransmission),
                out_of_order: a.contains(Label::OutOfOrder),
                keep_alive: a.contains(Label::KeepAlive),
            };
            let ctx = Ctx {
                frame: frame.number,
                ts: frame.ts,
                src,
                dst,
                from_client,
                can_desegment: whole,
                may_buffer,
            };
            let report = t.deseg[dir].segment(
                &seg,
                &mut FrameDissector {
                    conv: &mut t.conv,
                    ctx,
                    out: &mut frame_tls,
                },
            );
            app = frame_app_info(&report, &mut frame_tls);
            session_event = t.conv.session.as_mut().and_then(|b| b.take_ready());
            if let (Some(v), Some(s)) = (&self.config.verifier, session_event.as_mut()) {
                s.verdict = Some(v.judge(s));
            }
            if session_event.is_some() {
                // Reported: nothing the builder holds is needed again.
                t.conv.session = None;
            }
            t.account(&mut self.buffered_total);
            records = std::mem::take(&mut frame_tls.records);
            self.spares.unused(&mut frame_tls);
        }

        self.events.push_back(Event::Packet(PacketEvent {
            frame: frame.number,
            ts: frame.ts,
            rel_ns,
            flow: flow_id,
            src: p.src,
            sport: p.sport,
            dst: p.dst,
            dport: p.dport,
            len: frame.orig_len,
            caplen: frame.data.len() as u32,
            tunnel: p.tunnel,
            tcp: TcpSummary {
                flags: p.flags,
                seq: result.rel_seq,
                ack: result.rel_ack,
                raw_seq: p.seq,
                raw_ack: p.ack,
                win: result.win,
                win_raw: p.window,
                urgent: p.urgent,
                payload_len: p.payload_len,
                analysis: result.analysis,
                dup_ack: result.dup_ack,
                options: TcpOptions::new(p.options, sack_base),
                header_truncated: p.header_truncated,
                problem: p.problem,
                header_len: p.header_len,
            },
            tls: records,
            app,
        }));
        self.table.note_if_closed(slot);
        if let Some(s) = session_event {
            self.stats.tls_handshakes += 1;
            self.events.push_back(Event::TlsHandshake(s));
        }
    }
}

/// The Info and Protocol columns' application part, from what desegmentation and TLS did to
/// them (see `flow::pdu::Report`).
fn frame_app_info(report: &pdu::Report, tls: &mut FrameTls) -> AppInfo {
    if let Some(msg) = report.reassembly_error {
        return AppInfo::ReassemblyError(msg);
    }
    if report.illegal_segments {
        return AppInfo::Replaced {
            protocol: if report.cleared_info {
                tls.protocol.unwrap_or("TLS")
            } else {
                "TCP"
            },
            text: "[Illegal Segments]",
        };
    }
    if !tls.items.is_empty() {
        return AppInfo::Tls(TlsInfo {
            protocol: if report.protocol_tcp {
                "TCP"
            } else {
                tls.protocol.unwrap_or("TLS")
            },
            items: std::mem::take(&mut tls.items),
            malformed: false,
        });
    }
    if report.segment_of_pdu {
        return AppInfo::SegmentOfPdu {
            tcp_line: !report.cleared_info,
        };
    }
    if report.cleared_info {
        // TLS took the columns but had nothing to say (a record cut by the snapshot length).
        return AppInfo::Tls(TlsInfo {
            protocol: tls.protocol.unwrap_or("TLS"),
            items: Vec::new(),
            malformed: false,
        });
    }
    AppInfo::None
}
