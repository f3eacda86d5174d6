//! Events as JSON Lines (CONTRACT.md): one object per line, `"event"` first.
//!
//! Packet events are serialized field by field with the Info text streamed straight into the
//! output (`collect_str`), so a packet costs no intermediate `String`.

use std::io::{self, Write};

use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};

use super::Sink;
use super::info::{Info, protocol};
use crate::event::{Event, PacketEvent, TcpSummary};

/// Writes events as JSON Lines.
pub struct JsonLines<W: Write> {
    out: W,
}

impl<W: Write> JsonLines<W> {
    pub fn new(out: W) -> Self {
        JsonLines { out }
    }
}

struct Tcp<'a>(&'a TcpSummary);

impl Serialize for Tcp<'_> {
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

struct Packet<'a>(&'a PacketEvent);

impl Serialize for Packet<'_> {
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
        m.serialize_field("proto", &DisplayStr(protocol(p)))?;
        m.serialize_field("tcp", &Tcp(&p.tcp))?;
        m.serialize_field("tls", &p.tls)?;
        m.serialize_field("info", &DisplayStr(Info(p)))?;
        m.end()
    }
}

/// Serializes anything `Display` as a JSON string without building a `String` first.
struct DisplayStr<D>(D);

impl<D: std::fmt::Display> Serialize for DisplayStr<D> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// `{"event": name, ...fields of body}` for events whose body derives `Serialize`.
struct Tagged<'a, T> {
    event: &'static str,
    body: &'a T,
}

impl<T: Serialize> Serialize for Tagged<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Serialize the body to a map first, then emit it after the tag. Bodies are
        // per-flow or per-run summaries, so this small cost is off the per-packet path.
        let value = serde_json::to_value(self.body).map_err(serde::ser::Error::custom)?;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("event", self.event)?;
        if let serde_json::Value::Object(fields) = value {
            for (k, v) in fields {
                m.serialize_entry(&k, &v)?;
            }
        }
        m.end()
    }
}

impl<W: Write> Sink for JsonLines<W> {
    fn emit(&mut self, ev: &Event) -> io::Result<()> {
        let out = &mut self.out;
        match ev {
            Event::Packet(p) => serde_json::to_writer(&mut *out, &Packet(p))?,
            Event::Other(_) => return Ok(()),
            Event::Malformed(m) => serde_json::to_writer(
                &mut *out,
                &Tagged {
                    event: "malformed",
                    body: m,
                },
            )?,
            Event::TlsHandshake(t) => serde_json::to_writer(
                &mut *out,
                &Tagged {
                    event: "tls_handshake",
                    body: t.as_ref(),
                },
            )?,
            Event::Flow(f) => serde_json::to_writer(
                &mut *out,
                &Tagged {
                    event: "flow",
                    body: f.as_ref(),
                },
            )?,
            Event::Stats(s) => serde_json::to_writer(
                &mut *out,
                &Tagged {
                    event: "stats",
                    body: s,
                },
            )?,
        }
        out.write_all(b"\n")
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{AppInfo, StatsEvent, TcpFlags, Timestamp};

    fn line(ev: &Event) -> serde_json::Value {
        let mut buf = Vec::new();
        JsonLines::new(&mut buf).emit(ev).unwrap();
        assert!(buf.ends_with(b"\n"));
        assert_eq!(buf.iter().filter(|b| **b == b'\n').count(), 1);
        serde_json::from_slice(&buf).unwrap()
    }

    #[test]
    fn packet_event_has_contract_fields() {
        let p = PacketEvent {
            frame: 6,
            ts: Timestamp::new(1764082800, 1_328_000),
            rel_ns: 0,
            flow: 0,
            src: "127.0.0.1".parse().unwrap(),
            sport: 15101,
            dst: "127.0.0.1".parse().unwrap(),
            dport: 49826,
            len: 2294,
            caplen: 2294,
            tunnel: None,
            tcp: TcpSummary {
                flags: TcpFlags(TcpFlags::PSH | TcpFlags::ACK),
                seq: 1,
                ack: 163,
                win: 65536,
                payload_len: 2228,
                ..TcpSummary::default()
            },
            tls: vec![],
            app: AppInfo::None,
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
