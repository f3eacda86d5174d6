//! Events as JSON Lines (CONTRACT.md): one object per line, `"event"` first.
//!
//! Packet events, a million a second, are written by hand into a `JsonBuf`, field by field in
//! their documented order, with the Info column streamed straight into the string. Summary
//! events list their fields in key order as they always were: `flow` and `tls_handshake`
//! (`handshake`) are written by hand in that order, `stats` and `malformed` go through
//! `sorted`, which finds it. The bytes are the same as serde_json wrote them before (the tests
//! hold the hand-written writers to the serde reference), and nothing is allocated per packet.

use std::borrow::Cow;
use std::io::{self, Write};

use super::Sink;
use super::handshake;
use super::info::{InfoOut, Protocol, Shown, write_info};
use super::jsonw::{Digits, JsonBuf};
use super::sorted;
use crate::dissect::TlsRecord;
use crate::event::{Event, PacketEvent, TcpFlags};
use crate::flow::{FlowSummary, Label};

/// Output is handed to the writer in pieces of about this size.
const CHUNK: usize = 64 * 1024;

/// Writes events as JSON Lines.
pub struct JsonLines<W: Write> {
    out: W,
    buf: JsonBuf,
    scratch: Scratch,
}

/// What writing events keeps from one event to the next.
#[derive(Debug, Default)]
pub struct Scratch {
    sorted: sorted::Scratch,
    shared: handshake::Shared,
}

impl<W: Write> JsonLines<W> {
    pub fn new(out: W) -> Self {
        JsonLines {
            out,
            buf: JsonBuf::new(),
            scratch: Scratch::default(),
        }
    }
}

/// Writes one TLS record as its derived `Serialize` did: declaration order, optional fields
/// left out.
fn write_record(b: &mut JsonBuf, r: &TlsRecord) {
    b.raw("{\"type\":\"");
    b.raw(r.content_type.name());
    b.raw("\",\"version\":");
    b.cow_name(&r.version.name());
    b.raw(",\"length\":");
    b.u32(u32::from(r.length));
    if let Some(m) = &r.messages {
        b.raw(",\"messages\":");
        b.cow_name_list(m);
    }
    if let Some(a) = &r.alert {
        b.raw(",\"alert\":{\"level\":");
        b.cow_name(&a.level);
        b.raw(",\"description\":");
        b.cow_name(&a.description);
        b.byte(b'}');
    }
    if r.encrypted {
        b.raw(",\"encrypted\":true");
    }
    b.byte(b'}');
}

/// Writes a packet event (CONTRACT.md `packet`), without the line end.
pub fn write_packet(b: &mut JsonBuf, p: &PacketEvent) {
    let t = &p.tcp;
    // Numbers the Info column shows again: their digits are made once.
    let shown = ShownDigits([
        Digits::new(u32::from(p.sport)),
        Digits::new(u32::from(p.dport)),
        Digits::new(t.seq),
        Digits::new(t.ack),
        Digits::new(t.win),
        Digits::new(t.payload_len),
    ]);
    b.raw("{\"event\":\"packet\",\"frame\":");
    b.u64(p.frame);
    b.raw(",\"ts\":");
    b.timestamp(p.ts);
    b.raw(",\"flow\":");
    b.flow_id(p.flow);
    b.raw(",\"src\":");
    b.ip(&p.src);
    b.raw(",\"sport\":");
    b.digits(shown.of(Shown::Sport));
    b.raw(",\"dst\":");
    b.ip(&p.dst);
    b.raw(",\"dport\":");
    b.digits(shown.of(Shown::Dport));
    b.raw(",\"len\":");
    b.u32(p.len);
    b.raw(",\"caplen\":");
    b.u32(p.caplen);
    b.raw(",\"proto\":\"");
    match Protocol(p).parts() {
        (inner, true) => {
            b.raw("GTP <");
            b.raw(inner);
            b.byte(b'>');
        }
        (inner, false) => b.raw(inner),
    }
    b.raw("\",\"tcp\":{\"flags\":[");
    write_flag_names(b, t.flags);
    b.raw("],\"seq\":");
    b.digits(shown.of(Shown::Seq));
    b.raw(",\"ack\":");
    b.digits(shown.of(Shown::Ack));
    b.raw(",\"win\":");
    b.digits(shown.of(Shown::Win));
    b.raw(",\"payload_len\":");
    b.digits(shown.of(Shown::Len));
    b.raw(",\"analysis\":[");
    for (i, l) in t.analysis.iter().enumerate() {
        if i > 0 {
            b.byte(b',');
        }
        b.byte(b'"');
        b.raw(l.name());
        b.byte(b'"');
    }
    b.byte(b']');
    if let Some(d) = &t.dup_ack {
        b.raw(",\"dup_ack\":{\"frame\":");
        b.u64(d.frame);
        b.raw(",\"num\":");
        b.u32(d.num);
        b.byte(b'}');
    }
    b.raw(",\"raw_seq\":");
    b.u32(t.raw_seq);
    b.raw(",\"raw_ack\":");
    b.u32(t.raw_ack);
    b.raw("},\"tls\":[");
    for (i, r) in p.tls.iter().enumerate() {
        if i > 0 {
            b.byte(b',');
        }
        write_record(b, r);
    }
    b.raw("],\"info\":\"");
    write_info(p, &mut InfoJson { b, shown: &shown });
    b.raw("\"}");
}

/// The digits of a packet's numbers that its Info column shows again, by `Shown`.
struct ShownDigits([Digits; 6]);

impl ShownDigits {
    fn of(&self, which: Shown) -> &Digits {
        let i = match which {
            Shown::Sport => 0,
            Shown::Dport => 1,
            Shown::Seq => 2,
            Shown::Ack => 3,
            Shown::Win => 4,
            Shown::Len => 5,
        };
        &self.0[i]
    }
}

/// The Info column of a packet line, written into its JSON string with the digits the line
/// made for its own fields.
struct InfoJson<'a> {
    b: &'a mut JsonBuf,
    shown: &'a ShownDigits,
}

impl InfoOut for InfoJson<'_> {
    fn lit(&mut self, s: &'static str) {
        self.b.lit(s);
    }
    fn text(&mut self, s: &str) {
        self.b.text(s);
    }
    fn num(&mut self, n: u64) {
        self.b.num(n);
    }
    fn shown(&mut self, which: Shown, n: u32) {
        let digits = self.shown.of(which);
        debug_assert_eq!(digits.as_bytes(), Digits::new(n).as_bytes(), "{which:?}");
        self.b.digits(digits);
    }
    // Whether the name is borrowed or owned is the point: not a `&str`.
    #[allow(clippy::ptr_arg)]
    fn item(&mut self, s: &Cow<'static, str>) {
        self.b.item(s);
    }
}

/// Each flag's JSON item with a comma after it (`"SYN",`), padded to eight bytes, and its
/// length: `FLAG_ITEMS[i]` is the flag of bit `i` (`TcpFlags::NAMES` lists them bit by bit).
static FLAG_ITEMS: [([u8; 8], usize); 9] = {
    let mut t = [([0u8; 8], 0usize); 9];
    let mut i = 0;
    while i < 9 {
        let (bit, name) = TcpFlags::NAMES[i];
        assert!(bit == 1 << i);
        let name = name.as_bytes();
        let mut item = [0u8; 8];
        item[0] = b'"';
        let mut k = 0;
        while k < name.len() {
            item[1 + k] = name[k];
            k += 1;
        }
        item[1 + k] = b'"';
        item[2 + k] = b',';
        t[i] = (item, 3 + k);
        i += 1;
    }
    t
};

/// The names of the set flags, as JSON strings separated by commas (the array's contents).
fn write_flag_names(b: &mut JsonBuf, flags: TcpFlags) {
    let mut bits = flags.0 & 0x1ff;
    if bits == 0 {
        return;
    }
    while bits != 0 {
        let (item, len) = FLAG_ITEMS[bits.trailing_zeros() as usize % 9];
        b.prefix(&item, len);
        bits &= bits - 1;
    }
    // The last item's comma.
    b.bytes.pop();
}

/// Writes a flow event (CONTRACT.md `flow`) as the summary serializer does: keys in byte
/// order at every depth. The destructuring lists every field, so a field added to
/// `FlowSummary` does not compile until it is written here (in its sorted place).
pub fn write_flow(b: &mut JsonBuf, f: &FlowSummary) {
    let FlowSummary {
        flow,
        client,
        server,
        state,
        history,
        handshake,
        start,
        end,
        duration,
        client_packets,
        client_bytes,
        client_payload_bytes,
        server_packets,
        server_bytes,
        server_payload_bytes,
        analysis,
        reason,
        gap_bytes,
    } = f;
    b.raw("{\"event\":\"flow\",\"analysis\":{");
    for (i, l) in Label::BY_NAME.iter().enumerate() {
        if i > 0 {
            b.byte(b',');
        }
        b.byte(b'"');
        b.raw(l.name());
        b.raw("\":");
        b.u32(analysis.get(*l));
    }
    b.raw("},\"client\":");
    b.endpoint(client);
    b.raw(",\"client_bytes\":");
    b.u64(*client_bytes);
    b.raw(",\"client_packets\":");
    b.u64(*client_packets);
    b.raw(",\"client_payload_bytes\":");
    b.u64(*client_payload_bytes);
    b.raw(",\"duration\":");
    b.f64(*duration);
    b.raw(",\"end\":");
    b.timestamp(*end);
    b.raw(",\"flow\":");
    b.flow_id(*flow);
    b.raw(",\"gap_bytes\":[");
    b.u64(gap_bytes[0]);
    b.byte(b',');
    b.u64(gap_bytes[1]);
    let crate::flow::Handshake {
        syn,
        syn_ack,
        ack,
        rtt_ms,
    } = handshake;
    b.raw("],\"handshake\":{\"ack\":");
    b.opt_u64(*ack);
    b.raw(",\"rtt_ms\":");
    b.opt_f64(*rtt_ms);
    b.raw(",\"syn\":");
    b.opt_u64(*syn);
    b.raw(",\"syn_ack\":");
    b.opt_u64(*syn_ack);
    b.raw("},\"history\":");
    b.str(history);
    b.raw(",\"reason\":\"");
    b.raw(reason.name());
    b.raw("\",\"server\":");
    b.endpoint(server);
    b.raw(",\"server_bytes\":");
    b.u64(*server_bytes);
    b.raw(",\"server_packets\":");
    b.u64(*server_packets);
    b.raw(",\"server_payload_bytes\":");
    b.u64(*server_payload_bytes);
    b.raw(",\"start\":");
    b.timestamp(*start);
    b.raw(",\"state\":");
    b.str(state);
    b.byte(b'}');
}

/// Writes one event as a line into `b`; `Ok(false)` for events JSON Lines leaves out.
pub fn write_event(b: &mut JsonBuf, sc: &mut Scratch, ev: &Event) -> io::Result<bool> {
    let summary = match ev {
        Event::Packet(p) => {
            write_packet(b, p);
            Ok(())
        }
        Event::Other(_) => return Ok(false),
        Event::Malformed(m) => sorted::write_tagged(b, &mut sc.sorted, "malformed", m),
        Event::TlsHandshake(t) => {
            handshake::write_handshake(b, &mut sc.shared, t);
            Ok(())
        }
        Event::Flow(f) => {
            write_flow(b, f);
            Ok(())
        }
        Event::Stats(s) => sorted::write_tagged(b, &mut sc.sorted, "stats", s),
    };
    summary.map_err(io::Error::other)?;
    b.byte(b'\n');
    Ok(true)
}

impl<W: Write> Sink for JsonLines<W> {
    fn emit(&mut self, ev: &Event) -> io::Result<()> {
        write_event(&mut self.buf, &mut self.scratch, ev)?;
        if self.buf.bytes.len() >= CHUNK {
            self.out.write_all(&self.buf.bytes)?;
            self.buf.clear();
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.buf.bytes.is_empty() {
            self.out.write_all(&self.buf.bytes)?;
            self.buf.clear();
        }
        self.out.flush()
    }

    fn is_json_lines(&self) -> bool {
        true
    }

    fn write_lines(&mut self, lines: &[u8]) -> io::Result<()> {
        if !self.buf.bytes.is_empty() {
            self.out.write_all(&self.buf.bytes)?;
            self.buf.clear();
        }
        self.out.write_all(lines)
    }

    fn write_lines_vectored(&mut self, mut pieces: &mut [io::IoSlice<'_>]) -> io::Result<()> {
        if !self.buf.bytes.is_empty() {
            self.out.write_all(&self.buf.bytes)?;
            self.buf.clear();
        }
        // `Write::write_all_vectored`, which is not stable: one vectored write after another
        // (the writer passes as many pieces to the system as it takes), each resuming where
        // the last one stopped.
        while !pieces.is_empty() {
            match self.out.write_vectored(pieces) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => io::IoSlice::advance_slices(&mut pieces, n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dissect::{AlertInfo, ContentType, Version};
    use crate::event::{
        AppInfo, DupAck, StatsEvent, TcpFlags, TcpOptions, TcpSummary, Timestamp, TlsInfo,
        sample_packet,
    };
    use crate::flow::{Analysis, Label};
    use proptest::prelude::*;
    use serde::ser::SerializeStruct;
    use serde::{Serialize, Serializer};
    use std::borrow::Cow;

    /// The serde writer packet events had before `write_packet`: the reference.
    struct RefTcp<'a>(&'a TcpSummary);

    impl Serialize for RefTcp<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let t = self.0;
            let mut m = s.serialize_struct("tcp", 9)?;
            m.serialize_field("flags", &t.flags)?;
            m.serialize_field("seq", &t.seq)?;
            m.serialize_field("ack", &t.ack)?;
            m.serialize_field("win", &t.win)?;
            m.serialize_field("payload_len", &t.payload_len)?;
            m.serialize_field("analysis", &t.analysis)?;
            if let Some(d) = &t.dup_ack {
                m.serialize_field("dup_ack", d)?;
            }
            m.serialize_field("raw_seq", &t.raw_seq)?;
            m.serialize_field("raw_ack", &t.raw_ack)?;
            m.end()
        }
    }

    struct RefPacket<'a>(&'a PacketEvent);

    impl Serialize for RefPacket<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let p = self.0;
            let mut m = s.serialize_struct("packet", 15)?;
            m.serialize_field("event", "packet")?;
            m.serialize_field("frame", &p.frame)?;
            m.serialize_field("ts", &p.ts)?;
            m.serialize_field("flow", &p.flow)?;
            m.serialize_field("src", &p.src)?;
            m.serialize_field("sport", &p.sport)?;
            m.serialize_field("dst", &p.dst)?;
            m.serialize_field("dport", &p.dport)?;
            m.serialize_field("len", &p.len)?;
            m.serialize_field("caplen", &p.caplen)?;
            m.serialize_field("proto", &crate::report::info::protocol(p).to_string())?;
            m.serialize_field("tcp", &RefTcp(&p.tcp))?;
            m.serialize_field("tls", &p.tls)?;
            m.serialize_field("info", &crate::report::info::Info(p).to_string())?;
            m.end()
        }
    }

    fn names() -> impl Strategy<Value = Cow<'static, str>> {
        prop_oneof![
            Just(Cow::Borrowed("client_hello")),
            Just(Cow::Borrowed("Application Data")),
            "[ -~]{0,8}".prop_map(Cow::Owned),
            any::<String>().prop_map(Cow::Owned),
        ]
    }

    fn record() -> impl Strategy<Value = TlsRecord> {
        (
            0u8..30,
            any::<u16>(),
            any::<u16>(),
            prop::option::of(prop::collection::vec(names(), 0..3)),
            prop::option::of((names(), names())),
            any::<bool>(),
        )
            .prop_map(
                |(ct, version, length, messages, alert, encrypted)| TlsRecord {
                    content_type: ContentType::from_u8(ct),
                    version: Version(version),
                    length,
                    messages,
                    alert: alert.map(|(level, description)| AlertInfo { level, description }),
                    encrypted,
                },
            )
    }

    fn app() -> impl Strategy<Value = AppInfo> {
        prop_oneof![
            Just(AppInfo::None),
            any::<bool>().prop_map(|tcp_line| AppInfo::SegmentOfPdu { tcp_line }),
            (prop::collection::vec(names(), 0..3), any::<bool>()).prop_map(|(items, malformed)| {
                AppInfo::Tls(TlsInfo {
                    protocol: "TLSv1.2",
                    items,
                    malformed,
                })
            }),
            Just(AppInfo::Replaced {
                protocol: "TCP",
                text: "[Illegal Segments]",
            }),
            Just(AppInfo::ReassemblyError(
                "New fragment past old data limits"
            )),
        ]
    }

    prop_compose! {
        fn packet()(
            frame in any::<u64>(),
            secs in 0i64..4_000_000_000,
            nanos in 0u32..1_000_000_000,
            flow in any::<u32>(),
            v6 in any::<bool>(),
            a in any::<[u8; 16]>(),
            ports in any::<(u16, u16, u32, u32)>(),
            flags in any::<u16>(),
            nums in any::<(u32, u32, u32, u32, u32, u32)>(),
            labels in any::<u16>(),
            dup in prop::option::of(any::<(u64, u32)>()),
            opts in prop::collection::vec(any::<(u8, u32, u32)>(), 0..6),
            sack_base in any::<u32>(),
            tls in prop::collection::vec(record(), 0..3),
            app in app(),
            gtp in any::<bool>(),
        ) -> PacketEvent {
            let (src, dst) = if v6 {
                (std::net::IpAddr::from(a), std::net::IpAddr::from([a[3], 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, a[0], a[1], 0, 1]))
            } else {
                (std::net::IpAddr::from([a[0], a[1], a[2], a[3]]), std::net::IpAddr::from([a[4], a[5], a[6], a[7]]))
            };
            let analysis: Analysis = Label::ALL
                .iter()
                .enumerate()
                .filter(|(i, _)| labels & (1 << i) != 0)
                .map(|(_, l)| *l)
                .collect();
            // Options as sent: each kind capd reads, an unknown one, a no-op, and (past 40
            // bytes) a list the header could not hold, cut.
            let mut raw = Vec::new();
            for (k, x, y) in opts {
                let (x, y) = (x.to_be_bytes(), y.to_be_bytes());
                match k % 7 {
                    0 => raw.extend([2, 4, x[2], x[3]]),
                    1 => raw.extend([3, 3, k]),
                    2 => raw.extend([4, 2]),
                    3 => raw.extend([5, 10].into_iter().chain(x).chain(y)),
                    4 => raw.extend([8, 10].into_iter().chain(x).chain(y)),
                    5 => raw.extend([k | 0x10, 2]),
                    _ => raw.push(1),
                }
            }
            let options = TcpOptions::new(&raw, sack_base);
            PacketEvent {
                frame,
                ts: Timestamp::new(secs, nanos),
                rel_ns: 0,
                flow,
                src,
                sport: ports.0,
                dst,
                dport: ports.1,
                len: ports.2,
                caplen: ports.3,
                tunnel: gtp.then_some("GTP"),
                tcp: TcpSummary {
                    flags: TcpFlags(flags & 0xfff),
                    seq: nums.0,
                    ack: nums.1,
                    raw_seq: nums.2,
                    raw_ack: nums.3,
                    win: nums.4,
                    urgent: nums.5 as u16,
                    payload_len: nums.5,
                    analysis,
                    dup_ack: dup.map(|(frame, num)| DupAck { frame, num }),
                    options,
                    ..TcpSummary::default()
                },
                tls,
                app,
            }
        }
    }

    fn endpoint_strategy() -> impl Strategy<Value = crate::event::Endpoint> {
        (any::<bool>(), any::<[u8; 16]>(), any::<u16>()).prop_map(|(v6, a, port)| {
            crate::event::Endpoint {
                ip: if v6 {
                    std::net::IpAddr::from(a)
                } else {
                    std::net::IpAddr::from([a[0], a[1], a[2], a[3]])
                },
                port,
            }
        })
    }

    prop_compose! {
        fn flow_summary()(
            ids in any::<(u32, u64, u64, u64, u64, u64, u64)>(),
            client in endpoint_strategy(),
            server in endpoint_strategy(),
            state in prop::sample::select(vec!["SF", "S0", "REJ", "RSTO", "OTH"]),
            history in "[ShADadFfRrTtWw^\"\\\\]{0,12}",
            hs in any::<(Option<u64>, Option<u64>, Option<u64>, Option<u64>)>(),
            times in any::<(i64, u32, i64, u32)>(),
            duration in any::<u64>(),
            labels in prop::collection::vec(any::<u16>(), 0..4),
            reason in 0usize..6,
            gaps in any::<[u64; 2]>(),
        ) -> FlowSummary {
            let mut analysis = crate::flow::LabelCounts::default();
            for bits in labels {
                analysis.add(Label::ALL.iter().enumerate().filter(|(i, _)| bits & (1 << i) != 0).map(|(_, l)| *l).collect());
            }
            use crate::flow::EndReason::*;
            FlowSummary {
                flow: ids.0,
                client,
                server,
                state,
                history,
                handshake: crate::flow::Handshake {
                    syn: hs.0,
                    syn_ack: hs.1,
                    ack: hs.2,
                    rtt_ms: hs.3.map(|v| v as f64 / 1000.0),
                },
                start: Timestamp::new(times.0 % 4_000_000_000, times.1 % 1_000_000_000),
                end: Timestamp::new(times.2 % 4_000_000_000, times.3 % 1_000_000_000),
                duration: f64::from_bits(duration),
                client_packets: ids.1,
                client_bytes: ids.2,
                client_payload_bytes: ids.3,
                server_packets: ids.4,
                server_bytes: ids.5,
                server_payload_bytes: ids.6,
                analysis,
                reason: [Fin, Rst, Idle, Evicted, Reused, End][reason],
                gap_bytes: gaps,
            }
        }
    }

    #[test]
    fn every_flag_combination_is_written_as_serde_writes_it() {
        for bits in 0..=0xfff {
            let mut b = JsonBuf::new();
            b.byte(b'[');
            write_flag_names(&mut b, TcpFlags(bits));
            b.byte(b']');
            let reference = serde_json::to_string(&TcpFlags(bits)).unwrap();
            assert_eq!(String::from_utf8(b.bytes).unwrap(), reference, "{bits:#x}");
        }
    }

    proptest! {
        #[test]
        fn flows_are_written_as_the_summary_serializer_writes_them(f in flow_summary()) {
            let mut ours = JsonBuf::new();
            write_flow(&mut ours, &f);
            let mut theirs = JsonBuf::new();
            sorted::write_tagged(&mut theirs, &mut sorted::Scratch::default(), "flow", &f).unwrap();
            prop_assert_eq!(String::from_utf8(ours.bytes).unwrap(), String::from_utf8(theirs.bytes).unwrap());
        }

        #[test]
        fn packets_are_written_as_serde_wrote_them(p in packet()) {
            let mut b = JsonBuf::new();
            write_packet(&mut b, &p);
            let reference = serde_json::to_string(&RefPacket(&p)).unwrap();
            prop_assert_eq!(String::from_utf8(b.bytes).unwrap(), reference);
        }
    }

    fn line(ev: &Event) -> serde_json::Value {
        let mut buf = Vec::new();
        let mut sink = JsonLines::new(&mut buf);
        sink.emit(ev).unwrap();
        sink.flush().unwrap();
        drop(sink);
        assert!(buf.ends_with(b"\n"));
        assert_eq!(buf.iter().filter(|b| **b == b'\n').count(), 1);
        serde_json::from_slice(&buf).unwrap()
    }

    #[test]
    fn packet_event_has_contract_fields() {
        let p = PacketEvent {
            frame: 6,
            ts: Timestamp::new(1764082800, 1_328_000),
            src: "127.0.0.1".parse().unwrap(),
            sport: 15101,
            dst: "127.0.0.1".parse().unwrap(),
            dport: 49826,
            len: 2294,
            caplen: 2294,
            tcp: TcpSummary {
                flags: TcpFlags(TcpFlags::PSH | TcpFlags::ACK),
                seq: 1,
                ack: 163,
                win: 65536,
                payload_len: 2228,
                ..TcpSummary::default()
            },
            ..sample_packet()
        };
        let v = line(&Event::Packet(p));
        assert_eq!(v["event"], "packet");
        assert_eq!(v["frame"], 6);
        assert_eq!(v["ts"].as_f64().unwrap(), 1764082800.001328);
        assert_eq!(v["tcp"]["flags"], serde_json::json!(["PSH", "ACK"]));
        assert_eq!(v["tcp"]["analysis"], serde_json::json!([]));
        assert_eq!(v["tcp"]["payload_len"], 2228);
        assert_eq!(
            v["info"],
            "15101 \u{2192} 49826 [PSH, ACK] Seq=1 Ack=163 Win=65536 Len=2228"
        );
    }

    #[test]
    fn stats_event_is_tagged() {
        let v = line(&Event::Stats(StatsEvent {
            packets: 3,
            ..StatsEvent::default()
        }));
        assert_eq!(v["event"], "stats");
        assert_eq!(v["packets"], 3);
        assert_eq!(v["dropped_queue"], 0);
    }
}
