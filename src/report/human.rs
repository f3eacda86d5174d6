//! Events as text for people: Wireshark-style packet lines, then per-flow and per-session
//! summaries, then the run's totals.

use std::io::{self, Write};

use super::Sink;
use super::info::{Protocol, write_info};
use super::jsonw::JsonBuf;
use crate::dissect::TlsSession;
use crate::dissect::verify::Verdict;
use crate::event::{Event, OtherFrameEvent, PacketEvent, StatsEvent};
use crate::flow::{FlowSummary, Label};

/// How much to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Detail {
    /// Summaries only (`-q`).
    Quiet,
    /// One line per packet plus summaries.
    #[default]
    Lines,
    /// Packet lines with their decoded fields (`-V`).
    Verbose,
}

/// Human output settings.
#[derive(Debug, Clone, Copy, Default)]
pub struct HumanOptions {
    pub detail: Detail,
    pub color: bool,
}

/// Writes events as text.
pub struct Human<W: Write> {
    out: W,
    opts: HumanOptions,
    /// The packet line being built, reused from line to line.
    line: String,
    /// An address's text, being built.
    addr: JsonBuf,
}

const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const CYAN: &str = "\x1b[36m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

impl<W: Write> Human<W> {
    pub fn new(out: W, opts: HumanOptions) -> Self {
        Human {
            out,
            opts,
            line: String::new(),
            addr: JsonBuf::new(),
        }
    }

    fn paint(&self, color: &'static str) -> (&'static str, &'static str) {
        if self.opts.color {
            (color, RESET)
        } else {
            ("", "")
        }
    }

    fn packet(&mut self, p: &PacketEvent) -> io::Result<()> {
        let color = if p.tcp.analysis.iter().any(|l| l != Label::WindowUpdate) {
            RED
        } else if !p.tls.is_empty() {
            GREEN
        } else if p.tcp.flags.syn() || p.tcp.flags.fin() || p.tcp.flags.rst() {
            CYAN
        } else {
            ""
        };
        let (on, off) = if color.is_empty() {
            ("", "")
        } else {
            self.paint(color)
        };
        // `{on}{:>5} {:>11} {:>15} → {:<15} {} {} {}{off}`, built without fmt.
        let line = &mut self.line;
        line.clear();
        line.push_str(on);
        let mut num = itoa::Buffer::new();
        pad_left(line, num.format(p.frame), 5);
        line.push(' ');
        let (sign, secs, micros) = seconds_parts(p.rel_ns);
        let mut t = String::with_capacity(24);
        t.push_str(sign);
        t.push_str(num.format(secs));
        t.push('.');
        let m = num.format(micros);
        for _ in m.len()..6 {
            t.push('0');
        }
        t.push_str(m);
        pad_left(line, &t, 11);
        line.push(' ');
        self.addr.clear();
        self.addr.ip_text(&p.src);
        pad_left(
            line,
            std::str::from_utf8(&self.addr.bytes).unwrap_or_default(),
            15,
        );
        line.push_str(" \u{2192} ");
        self.addr.clear();
        self.addr.ip_text(&p.dst);
        let dst = std::str::from_utf8(&self.addr.bytes).unwrap_or_default();
        line.push_str(dst);
        for _ in dst.chars().count()..15 {
            line.push(' ');
        }
        line.push(' ');
        match Protocol(p).parts() {
            (inner, true) => {
                line.push_str("GTP <");
                line.push_str(inner);
                line.push('>');
            }
            (inner, false) => line.push_str(inner),
        }
        line.push(' ');
        line.push_str(num.format(p.len));
        line.push(' ');
        write_info(p, line);
        line.push_str(off);
        line.push('\n');
        self.out.write_all(self.line.as_bytes())?;
        if self.opts.detail == Detail::Verbose {
            let t = &p.tcp;
            writeln!(
                self.out,
                "        flow {}  seq {} (raw {})  ack {} (raw {})  window {} (raw {})  payload {} bytes",
                p.flow, t.seq, t.raw_seq, t.ack, t.raw_ack, t.win, t.win_raw, t.payload_len
            )?;
            if !t.analysis.is_empty() {
                let names: Vec<&str> = t.analysis.iter().map(Label::name).collect();
                writeln!(self.out, "        analysis: {}", names.join(", "))?;
            }
            for r in &p.tls {
                write!(
                    self.out,
                    "        TLS record: {} {} length {}",
                    r.content_type.name(),
                    r.version.name(),
                    r.length
                )?;
                if let Some(m) = &r.messages {
                    write!(self.out, " [{}]", m.join(", "))?;
                }
                if let Some(a) = &r.alert {
                    write!(self.out, " alert {} {}", a.level, a.description)?;
                }
                if r.encrypted {
                    write!(self.out, " (encrypted)")?;
                }
                writeln!(self.out)?;
            }
        }
        Ok(())
    }

    fn other(&mut self, o: &OtherFrameEvent) -> io::Result<()> {
        let addr = |a: Option<std::net::IpAddr>| a.map(|a| a.to_string()).unwrap_or_default();
        write!(
            self.out,
            "{:>5} {:>11} {:>15} \u{2192} {:<15} {} {}",
            o.frame,
            seconds(o.rel_ns),
            addr(o.src),
            addr(o.dst),
            o.protocol,
            o.len
        )?;
        if let Some((s, d)) = o.ports {
            write!(self.out, " {s} \u{2192} {d}")?;
        }
        if let Some(l) = o.payload_len {
            write!(self.out, " Len={l}")?;
        }
        writeln!(self.out)
    }

    fn flow(&mut self, f: &FlowSummary) -> io::Result<()> {
        let (b, r) = self.paint(BOLD);
        write!(
            self.out,
            "{b}flow {}{r} {} \u{2192} {} {} {} packets {}/{} bytes {}/{} duration {:.3}s",
            f.flow,
            f.client,
            f.server,
            f.state,
            f.history,
            f.client_packets,
            f.server_packets,
            f.client_payload_bytes,
            f.server_payload_bytes,
            f.duration
        )?;
        if let Some(rtt) = f.handshake.rtt_ms {
            write!(self.out, " handshake rtt {rtt:.3}ms")?;
        }
        let labels: Vec<String> = Label::ALL
            .iter()
            .filter(|l| f.analysis.get(**l) > 0)
            .map(|l| format!("{} {}", f.analysis.get(*l), l.name()))
            .collect();
        if !labels.is_empty() {
            let (y, r) = self.paint(YELLOW);
            write!(self.out, " {y}[{}]{r}", labels.join(", "))?;
        }
        writeln!(self.out)
    }

    fn tls(&mut self, t: &TlsSession) -> io::Result<()> {
        let (b, r) = self.paint(BOLD);
        let status = if t.established {
            "established"
        } else {
            "not established"
        };
        writeln!(
            self.out,
            "{b}TLS session{r} {} \u{2192} {} (flow {}) {} {} {}{}{}",
            t.client,
            t.server,
            t.flow,
            t.version.as_deref().unwrap_or("version unknown"),
            t.cipher_suite.as_deref().unwrap_or("cipher unknown"),
            status,
            if t.mutual { ", mutual" } else { "" },
            if t.resumed { ", resumed" } else { "" }
        )?;
        if let Some(sni) = &t.sni {
            writeln!(self.out, "    sni {sni}")?;
        }
        writeln!(self.out, "    client: {}", t.client_messages.join(", "))?;
        writeln!(self.out, "    server: {}", t.server_messages.join(", "))?;
        for (who, chain) in [("server", &t.server_certs), ("client", &t.client_certs)] {
            for c in chain.iter() {
                writeln!(
                    self.out,
                    "    {who} certificate: {} issued by {} serial {} valid {} to {}",
                    c.subject, c.issuer, c.serial, c.not_before, c.not_after
                )?;
            }
        }
        if let Some(a) = &t.alert {
            let (red, r) = self.paint(RED);
            match (&a.level, &a.description) {
                (Some(level), Some(desc)) => writeln!(
                    self.out,
                    "    {red}alert from the {}: {level} {desc}{r}",
                    a.from
                )?,
                _ => writeln!(self.out, "    alert from the {}: encrypted", a.from)?,
            }
        }
        if let (Some(ja3), Some(ja3s)) = (&t.ja3, &t.ja3s) {
            writeln!(self.out, "    ja3 {ja3} ja3s {ja3s}")?;
        }
        if let Some(v) = &t.verdict {
            self.verdict(v)?;
        }
        Ok(())
    }

    /// `--ca`: the verdict, then each check on its own line.
    fn verdict(&mut self, v: &Verdict) -> io::Result<()> {
        let (on, off) = self.paint(if v.pass { GREEN } else { RED });
        match &v.cause {
            Some(cause) if !v.pass => writeln!(self.out, "    {on}verdict FAIL: {cause}{off}")?,
            _ => writeln!(self.out, "    {on}verdict PASS{off}")?,
        }
        for c in &v.checks {
            let (on, off) = self.paint(if c.pass { GREEN } else { RED });
            let mark = if c.pass { "pass" } else { "FAIL" };
            writeln!(self.out, "      {on}{mark}{off} {}: {}", c.name, c.detail)?;
        }
        Ok(())
    }

    fn stats(&mut self, s: &StatsEvent) -> io::Result<()> {
        writeln!(
            self.out,
            "{} packets ({} TCP, {} bytes), {} flows, {} TLS handshakes, {} malformed; dropped: {} by the kernel, {} by the interface, {} by capd",
            s.packets,
            s.tcp_packets,
            s.bytes,
            s.flows,
            s.tls_handshakes,
            s.malformed,
            s.dropped_kernel,
            s.dropped_interface,
            s.dropped_queue
        )
    }
}

/// `s` right-aligned in `width` characters, as `{:>width}` pads.
fn pad_left(line: &mut String, s: &str, width: usize) {
    for _ in s.chars().count()..width {
        line.push(' ');
    }
    line.push_str(s);
}

/// The sign, whole seconds and microseconds of `seconds`.
fn seconds_parts(ns: i64) -> (&'static str, u64, u64) {
    let sign = if ns < 0 { "-" } else { "" };
    let ns = ns.unsigned_abs();
    (sign, ns / 1_000_000_000, (ns % 1_000_000_000) / 1000)
}

/// Seconds with microsecond precision, as Wireshark's relative Time column.
fn seconds(ns: i64) -> String {
    let sign = if ns < 0 { "-" } else { "" };
    let ns = ns.unsigned_abs();
    format!(
        "{sign}{}.{:06}",
        ns / 1_000_000_000,
        (ns % 1_000_000_000) / 1000
    )
}

impl<W: Write> Sink for Human<W> {
    fn emit(&mut self, ev: &Event) -> io::Result<()> {
        let lines = self.opts.detail != Detail::Quiet;
        match ev {
            Event::Packet(p) if lines => self.packet(p),
            Event::Other(o) if lines => self.other(o),
            Event::Malformed(m) if lines => {
                writeln!(self.out, "{:>5} malformed: {}", m.frame, m.reason)
            }
            Event::Flow(f) => self.flow(f),
            Event::TlsHandshake(t) => self.tls(t),
            Event::Stats(s) => self.stats(s),
            _ => Ok(()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_time_has_six_decimals() {
        assert_eq!(seconds(24_199_000), "0.024199");
        assert_eq!(seconds(1_437_806_000), "1.437806");
        assert_eq!(seconds(-5_000), "-0.000005");
    }
}
