//! The TLS dissector as Wireshark 4.0 runs it (epan/dissectors/packet-tls.c): given a buffer
//! that starts at a record boundary, it walks the records, reports the complete ones and asks
//! for more data when the last one is cut, exactly as `dissect_ssl()` answers TCP's
//! desegmentation (`desegment_offset`, `desegment_len`).
//!
//! State lives per conversation, as Wireshark's `SslSession`: the session version (learnt from
//! the first authoritative record), the frame of each side's ChangeCipherSpec, and the
//! reassembly of handshake messages that span records. Every fact found is also told to the
//! session builder, which makes the `tls_handshake` summary. The Info column items, the
//! Protocol column and the `tls` records of the `packet` event come out per frame.
//!
//! Wireshark's heuristics are kept as they are, including their blind spots, since the Info
//! column must read the same: an alert is encrypted when its record is not 2 bytes long; a
//! handshake record is encrypted when it is at least 16 bytes and starts with five zero bytes
//! (an explicit GCM nonce), or follows its side's ChangeCipherSpec in an earlier frame, or its
//! first message type is unknown or its length implausible.

use std::borrow::Cow;

pub use super::frame::{FrameDissector, FrameTls, TlsSpares};
use super::heuristics::{
    SSL2_HND_CLIENT_HELLO, TLS_PORTS, be16, be24, looks_like_sslv2, looks_like_sslv3,
    sslv2_message, valid_content_type, valid_v2_handshake,
};
pub use super::heuristics::{is_tls_port, looks_like_tls_start};
use super::names::{self, version_short_name};
use super::session::SessionBuilder;
use super::{AlertInfo, ContentType, TlsRecord, Version};
use crate::event::{Endpoint, Timestamp};
use crate::flow::pdu::{Need, Outcome};

/// Where a frame's records come from.
#[derive(Debug, Clone, Copy)]
pub struct Ctx {
    pub frame: u64,
    pub ts: Timestamp,
    /// The segment's source endpoint.
    pub src: Endpoint,
    /// The segment's destination endpoint.
    pub dst: Endpoint,
    /// Sent by the flow's client (the SYN's sender, or the port heuristic's): the roles
    /// the session summary uses.
    pub from_client: bool,
    /// TCP can reassemble for us (the frame was captured whole).
    pub can_desegment: bool,
    /// capd's memory budget allows starting to buffer a handshake message split across
    /// records; when it does not, the message is left unread (and the session incomplete).
    pub may_buffer: bool,
}

/// A handshake message spread over several records, being put back together.
#[derive(Debug, Default)]
struct HsReassembly {
    /// The message so far, header included.
    data: Vec<u8>,
}

/// Handshake messages longer than this are not reassembled (Wireshark assumes below 64 KiB
/// for plaintext checks; certificate chains can be larger, so allow some room).
const MAX_HANDSHAKE_MESSAGE: usize = 512 * 1024;
/// Room reserved at once for a handshake message cut across records: a certificate chain
/// usually fits.
const HS_RESERVE: usize = 16 * 1024;
/// Wireshark's `SslSession` for one conversation, plus the session summary.
#[derive(Debug, Default)]
pub struct TlsConversation {
    /// `session->srv_addr`/`srv_port`: the ClientHello's destination, once one was seen.
    server: Option<Endpoint>,
    /// `session->version`: unknown until an authoritative record or ServerHello.
    version: Option<u16>,
    tls13_draft: u8,
    /// Frame of each side's (client, server) last ChangeCipherSpec.
    ccs_frame: [u64; 2],
    /// Handshake reassembly per side (client, server).
    hs: [Option<HsReassembly>; 2],
    /// The session summary being built; gone once reported (nothing it holds is read
    /// again), so a flow that lingers after its handshake costs little.
    pub session: Option<Box<SessionBuilder>>,
    /// Handshake messages abandoned for exceeding the size bound.
    pub oversized_messages: u64,
    /// Times data did not start with a record where one was expected (after data missing
    /// from the capture): the records there were skipped until the next record boundary.
    pub unsynced: u64,
}

fn side(from_server: bool) -> usize {
    usize::from(from_server)
}

/// `ssl_31_handshake_type` has a name for this type.
fn known_handshake_type(t: u8) -> bool {
    names::handshake_type(t).is_some()
}

/// The versions `ssl_try_set_version` accepts; a ServerHello's TLS 1.3 drafts (0x7fNN, and
/// Facebook's 0xfb17/0xfb1a) count as TLS 1.3 with their draft number.
fn recognised_version(v: u16, server_hello: bool) -> Option<(u16, u8)> {
    match v {
        0x0300..=0x0304 | 0x0101 => Some((v, 0)),
        0x7f00..=0x7fff if server_hello => Some((0x0304, (v & 0xff) as u8)),
        0xfb17 | 0xfb1a if server_hello => Some((0x0304, (v & 0xff) as u8)),
        _ => None,
    }
}

impl TlsConversation {
    pub fn new(session: SessionBuilder) -> Self {
        TlsConversation {
            session: Some(Box::new(session)),
            ..TlsConversation::default()
        }
    }

    /// The session builder, while the session is not reported yet.
    fn builder(&mut self) -> Option<&mut SessionBuilder> {
        self.session.as_deref_mut()
    }

    /// The session version Wireshark has settled on, if any.
    pub fn version(&self) -> Option<u16> {
        self.version
    }

    /// Bytes held for handshake reassembly and kept as the session's evidence.
    pub fn buffered(&self) -> usize {
        self.hs
            .iter()
            .flatten()
            .map(|h| h.data.capacity())
            .sum::<usize>()
            + self.session.as_deref().map_or(0, SessionBuilder::retained)
    }

    /// `ssl_try_set_version`: only messages other than ClientHello are authoritative.
    fn try_set_version(&mut self, content_type: u8, handshake_type: u8, version: u16) {
        // ssl_is_authoritative_version_message: any valid record but a ClientHello (and
        // HelloVerifyRequest, which is DTLS-only).
        let authoritative = if content_type == 22 {
            known_handshake_type(handshake_type) && !matches!(handshake_type, 1 | 3)
        } else {
            valid_content_type(content_type)
        };
        if !authoritative {
            return;
        }
        let server_hello = content_type == 22 && handshake_type == 2;
        if let Some((v, draft)) = recognised_version(version, server_hello) {
            self.version = Some(v);
            self.tls13_draft = draft;
        }
    }

    /// Data that should have started a record did not: what it held is skipped, and the
    /// next segment that starts with a record header resumes dissection.
    fn lost_sync(&mut self) {
        self.unsynced += 1;
        if let Some(b) = self.builder() {
            b.incomplete("records were skipped where data was missing from the capture");
        }
    }

    /// `ssl_packet_from_server`: from the ClientHello's destination when known, else by port.
    fn is_server(&self, src: Endpoint) -> bool {
        match self.server {
            Some(server) => server == src,
            None => TLS_PORTS.contains(&src.port),
        }
    }

    /// `dissect_ssl` on `data`, which starts at a record boundary.
    pub fn dissect(&mut self, data: &[u8], ctx: &Ctx, out: &mut FrameTls) -> Outcome {
        if let Some(b) = self.builder() {
            b.set_may_retain(ctx.may_buffer);
        }
        let dir = Dir {
            ws_server: self.is_server(ctx.src),
            from_client: ctx.from_client,
        };
        if data.len() > 4 && data[..4].iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
            // Four printable characters: plain text, not ours.
            return Outcome::NotOurs;
        }
        out.called = true;
        out.protocol = Some(self.version.map_or("SSL", version_short_name));
        // col_clear(COL_INFO): a new call starts the column afresh after the fence.
        let mut offset = 0;
        while offset < data.len() {
            let rest = &data[offset..];
            let step = match self.version {
                Some(0x0002) => self.ssl2_record(rest, ctx, dir, out),
                Some(0x0300..=0x0303 | 0x0101) => {
                    if rest.len() < 5 {
                        Step::Need(Need::OneMoreSegment)
                    } else if rest[0] == 0x80 && rest[2] == 1 {
                        // ssl_is_v2_client_hello: a v2 hello after the version is known.
                        self.ssl2_record(rest, ctx, dir, out)
                    } else {
                        self.ssl3_record(rest, ctx, dir, out)
                    }
                }
                _ => {
                    if rest.len() < 5 {
                        Step::Need(Need::OneMoreSegment)
                    } else if looks_like_sslv2(rest) {
                        self.ssl2_record(rest, ctx, dir, out)
                    } else if looks_like_sslv3(rest) {
                        self.ssl3_record(rest, ctx, dir, out)
                    } else {
                        out.items.push("Continuation Data".into());
                        self.lost_sync();
                        Step::Consumed(rest.len())
                    }
                }
            };
            match step {
                Step::Consumed(n) => offset = offset.saturating_add(n),
                Step::Need(need) if ctx.can_desegment => {
                    return Outcome::Desegment { offset, need };
                }
                // Not enough bytes and no reassembly: stop here.
                Step::Need(_) => break,
            }
        }
        Outcome::Done
    }

    fn ssl3_record(&mut self, d: &[u8], ctx: &Ctx, dir: Dir, out: &mut FrameTls) -> Step {
        if matches!(self.version, Some(0x0301..=0x0303 | 0x0101)) && !valid_content_type(d[0]) {
            out.items.push("Ignored Unknown Record".into());
            self.lost_sync();
            return Step::Consumed(d.len());
        }
        if d.len() < 5 {
            return Step::Need(Need::OneMoreSegment);
        }
        let ct = d[0];
        let record_version = be16(d, 1);
        let len = be16(d, 3);
        let total = 5 + usize::from(len);
        if !valid_content_type(ct) {
            out.items.push("Continuation Data".into());
            self.lost_sync();
            return Step::Consumed(total);
        }
        if d.len() < total {
            return Step::Need(Need::Bytes((total - d.len()) as u32));
        }
        let body = &d[5..total];
        let version = match self.version {
            None => {
                self.try_set_version(ct, body.first().copied().unwrap_or(0), record_version);
                out.protocol = Some(version_short_name(record_version));
                record_version
            }
            Some(v) => v,
        };
        let mut record = TlsRecord {
            content_type: ContentType::from_u8(ct),
            version: Version(record_version),
            length: len,
            messages: None,
            alert: None,
            encrypted: false,
        };
        let from_client = dir.from_client;
        match ct {
            // TLS 1.3 drafts before 22 had no ChangeCipherSpec: Wireshark flags it, silently.
            20 if version == 0x0304 && self.tls13_draft > 0 && self.tls13_draft < 22 => {}
            20 => {
                out.items.push("Change Cipher Spec".into());
                // The first ChangeCipherSpec of each side marks where encryption starts; in
                // TLS 1.3 it is a compatibility dummy (ssl_dissect_change_cipher_spec).
                let ccs = &mut self.ccs_frame[side(dir.ws_server)];
                if self.version != Some(0x0304) && *ccs == 0 {
                    *ccs = ctx.frame;
                }
                if let Some(b) = self.builder() {
                    b.change_cipher_spec(from_client);
                }
            }
            21 => {
                if len != 2 {
                    out.items.push("Encrypted Alert".into());
                    record.encrypted = true;
                    if let Some(b) = self.builder() {
                        b.alert(from_client, ctx.ts, None);
                    }
                } else {
                    let (level_snake, level) = names::alert_level(body[0]);
                    let (desc_snake, desc) = names::alert_description(body[1]);
                    out.items
                        .push(format!("Alert (Level: {level}, Description: {desc})").into());
                    record.alert = Some(AlertInfo {
                        level: level_snake,
                        description: desc_snake,
                    });
                    if let Some(b) = self.builder() {
                        b.alert(from_client, ctx.ts, Some((body[0], body[1])));
                    }
                }
            }
            22 => {
                let mut messages = out.spare_messages.pop().unwrap_or_default();
                record.encrypted = self.handshake(body, ctx, dir, out, &mut messages);
                record.messages = Some(messages);
            }
            23 => {
                out.items.push("Application Data".into());
                if let Some(b) = self.builder() {
                    b.application_data(from_client, ctx.ts, ctx.frame, len);
                }
            }
            // Heartbeat is not a TLS 1.3 record type.
            24 if version == 0x0304 => {}
            24 => {
                let kind = match body.first() {
                    Some(1) => Some("Heartbeat Request"),
                    Some(2) => Some("Heartbeat Response"),
                    _ => None,
                };
                let payload = u32::from(be16(body, 1));
                let plaintext = len <= 19 || 3 + payload + 16 <= u32::from(len);
                match kind {
                    Some(k) if plaintext => out.items.push(k.into()),
                    _ => {
                        out.items.push("Encrypted Heartbeat".into());
                        record.encrypted = true;
                    }
                }
                if let Some(b) = self.builder() {
                    b.heartbeat(from_client);
                }
            }
            _ => {}
        }
        out.records.push(record);
        Step::Consumed(total)
    }

    /// `is_encrypted_handshake_message` for a record body not yet known to be encrypted.
    fn looks_encrypted(&self, body: &[u8], ctx: &Ctx, dir: Dir) -> bool {
        if body.len() < 16 {
            return false;
        }
        if body[..5] == [0; 5] {
            return true;
        }
        let ccs = self.ccs_frame[side(dir.ws_server)];
        if ccs != 0 && ctx.frame > ccs {
            return true;
        }
        !known_handshake_type(body[0]) || be24(body, 1) >= 0x01_0000
    }

    /// `dissect_tls_handshake` on one record's body; returns whether it was encrypted.
    fn handshake(
        &mut self,
        body: &[u8],
        ctx: &Ctx,
        dir: Dir,
        out: &mut FrameTls,
        messages: &mut Vec<Cow<'static, str>>,
    ) -> bool {
        let from_client = dir.from_client;
        let s = side(dir.ws_server);
        let mut offset = 0;
        let mut first = true;
        // 1. A message left incomplete by an earlier record continues here.
        if let Some(mut hs) = self.hs[s].take() {
            let have = hs.data.len();
            let mut need_total = None;
            // The message's 4-byte header, completed from this record when it was cut.
            let mut header = [0u8; 4];
            let kept = have.min(4);
            let added = (4 - kept).min(body.len());
            header[..kept].copy_from_slice(&hs.data[..kept]);
            header[kept..kept + added].copy_from_slice(&body[..added]);
            let mut take = body.len();
            if kept + added == 4 {
                let msg_len = 4 + be24(&header, 1) as usize;
                need_total = Some(msg_len);
                take = take.min(msg_len - have);
            }
            if have + take > MAX_HANDSHAKE_MESSAGE || !ctx.may_buffer {
                // Too big to keep: give the message up and show the rest as its fragment.
                self.oversized_messages += 1;
                if let Some(b) = self.builder() {
                    b.incomplete("a handshake message exceeded the reassembly bound");
                }
                return false;
            }
            hs.data.extend_from_slice(&body[..take]);
            offset = take;
            if need_total == Some(hs.data.len()) {
                // The last fragment: the whole message is dissected now.
                self.full_message(&hs.data, true, ctx, dir, out, messages);
                first = false;
            } else {
                // Still in the middle of the message: nothing for the Info column.
                self.hs[s] = Some(hs);
                return false;
            }
        } else if self.looks_encrypted(body, ctx, dir) {
            // 3. A new message that looks encrypted.
            out.items.push("Encrypted Handshake Message".into());
            messages.push("encrypted_handshake_message".into());
            if let Some(b) = self.builder() {
                b.encrypted_handshake(from_client, ctx.ts);
            }
            return true;
        }
        // 4. The remaining messages of the record.
        while offset < body.len() {
            let rest = &body[offset..];
            let msg_len = if rest.len() >= 4 {
                4 + be24(rest, 1) as usize
            } else {
                0
            };
            if msg_len == 0 || rest.len() < msg_len {
                let msg_type = rest[0];
                if rest.len() <= MAX_HANDSHAKE_MESSAGE && ctx.may_buffer {
                    // Room for the whole message when its header says how long it is, so
                    // that the records to come do not grow the buffer step by step; a
                    // claimed length is trusted only up to `HS_RESERVE`.
                    let mut data = Vec::with_capacity(msg_len.min(HS_RESERVE).max(rest.len()));
                    data.extend_from_slice(rest);
                    self.hs[s] = Some(HsReassembly { data });
                } else {
                    self.oversized_messages += 1;
                    if let Some(b) = self.builder() {
                        b.incomplete("a handshake message exceeded the reassembly bound");
                    }
                }
                if first {
                    let name = names::handshake_type(msg_type)
                        .map_or("Encrypted Handshake Message", |(_, shown)| shown);
                    // Joined, not formatted: the format machinery cost 650 instructions for
                    // each message split across records (certificates, in every handshake
                    // of a server that sends small records).
                    out.items.push(["[", name, " Fragment]"].concat().into());
                }
                break;
            }
            self.full_message(&rest[..msg_len], first, ctx, dir, out, messages);
            offset += msg_len;
            first = false;
        }
        false
    }

    /// `dissect_tls_handshake_full`: one complete handshake message.
    fn full_message(
        &mut self,
        msg: &[u8],
        first: bool,
        ctx: &Ctx,
        dir: Dir,
        out: &mut FrameTls,
        messages: &mut Vec<Cow<'static, str>>,
    ) {
        let msg_type = msg[0];
        let known = names::handshake_type(msg_type);
        if msg_type == 1 {
            // ssl_set_server: the ClientHello's destination is the server from now on.
            self.server = Some(ctx.dst);
        }
        if known.is_none() && !first {
            return;
        }
        // A ServerHello is read once, here, for the version and for the session's summary.
        let server_hello = (msg_type == 2)
            .then(|| super::hello::parse_server_hello(msg.get(4..).unwrap_or_default()))
            .flatten();
        let mut is_hrr = false;
        if first && msg_type == 2 && msg.len() > 4 + 2 {
            // tls_scan_server_hello: the version the server chose, and HelloRetryRequest.
            if let Some(sh) = &server_hello {
                is_hrr = sh.hello_retry_request;
                self.try_set_version(22, 2, sh.negotiated_version());
            } else {
                self.try_set_version(22, 2, be16(msg, 4));
            }
        }
        if msg_type == 2 {
            // ssl_dissect_hnd_srv_hello sets the Protocol column to the session's version.
            out.protocol = Some(self.version.map_or("SSL", version_short_name));
        }
        let (snake, shown) = if is_hrr {
            ("hello_retry_request", "Hello Retry Request")
        } else {
            known.unwrap_or(("encrypted_handshake_message", "Encrypted Handshake Message"))
        };
        out.items.push(shown.into());
        messages.push(snake.into());
        if known.is_some()
            && let Some(b) = self.builder()
        {
            b.handshake(dir.from_client, ctx.ts, msg_type, msg, server_hello);
        }
    }

    fn ssl2_record(&mut self, d: &[u8], ctx: &Ctx, dir: Dir, out: &mut FrameTls) -> Step {
        let hlen = if d[0] & 0x80 != 0 { 2 } else { 3 };
        if d.len() < hlen {
            return Step::Need(Need::OneMoreSegment);
        }
        let len = if hlen == 2 {
            (usize::from(d[0] & 0x7f) << 8) | usize::from(d[1])
        } else {
            (usize::from(d[0] & 0x3f) << 8) | usize::from(d[1])
        };
        let total = hlen + len;
        if d.len() < total {
            return Step::Need(Need::Bytes((total - d.len()) as u32));
        }
        let body = &d[hlen..total];
        let msg_type = body.first().copied().unwrap_or(0xff);
        if self.version.is_none() && (2..=8).contains(&msg_type) {
            self.version = Some(0x0002);
        }
        out.protocol = Some("SSLv2");
        let mut record = TlsRecord {
            content_type: ContentType::Handshake,
            version: Version::SSL2,
            length: len as u16,
            messages: Some(Vec::new()),
            alert: None,
            encrypted: false,
        };
        let from_client = dir.from_client;
        match sslv2_message(msg_type) {
            Some((shown, snake)) if valid_v2_handshake(body, len as u32) => {
                out.items.push(shown.into());
                record.messages = Some(vec![snake.into()]);
                if msg_type == SSL2_HND_CLIENT_HELLO {
                    self.server = Some(ctx.dst);
                    if let Some(b) = self.builder() {
                        b.sslv2_client_hello(ctx.ts, body);
                    }
                } else {
                    if let Some(b) = self.builder() {
                        b.sslv2_message(from_client, ctx.ts, snake);
                    }
                }
            }
            _ => {
                out.items.push("Encrypted Data".into());
                record.encrypted = true;
                record.messages = Some(vec!["encrypted_data".into()]);
            }
        }
        out.records.push(record);
        Step::Consumed(total)
    }
}

/// A segment's direction, as Wireshark judges it (for its per-side state) and as the flow
/// knows it (for the summary).
#[derive(Debug, Clone, Copy)]
struct Dir {
    ws_server: bool,
    from_client: bool,
}

/// One record's worth of progress through a buffer.
enum Step {
    Consumed(usize),
    Need(Need),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(frame: u64, from_server: bool) -> Ctx {
        let client = Endpoint {
            ip: "192.0.2.1".parse().unwrap(),
            port: 50000,
        };
        let server = Endpoint {
            ip: "192.0.2.2".parse().unwrap(),
            port: 443,
        };
        let (src, dst) = if from_server {
            (server, client)
        } else {
            (client, server)
        };
        Ctx {
            frame,
            ts: Timestamp::default(),
            src,
            dst,
            from_client: !from_server,
            can_desegment: true,
            may_buffer: true,
        }
    }

    fn record(ct: u8, version: u16, body: &[u8]) -> Vec<u8> {
        let mut r = vec![ct];
        r.extend_from_slice(&version.to_be_bytes());
        r.extend_from_slice(&(body.len() as u16).to_be_bytes());
        r.extend_from_slice(body);
        r
    }

    fn handshake(t: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![t, 0, 0, body.len() as u8];
        m.extend_from_slice(body);
        m
    }

    #[test]
    fn plain_text_is_not_tls() {
        let mut c = TlsConversation::default();
        let mut f = FrameTls::default();
        assert_eq!(
            c.dissect(b"GET time\r\n", &ctx(1, false), &mut f),
            Outcome::NotOurs
        );
        assert!(f.items.is_empty() && !f.called);
    }

    #[test]
    fn cut_record_asks_for_exactly_the_missing_bytes() {
        let mut c = TlsConversation::default();
        let mut f = FrameTls::default();
        let mut data = record(22, 0x0301, &handshake(1, &[0; 10]));
        data.extend_from_slice(&[22, 3, 3, 0, 100, 1, 2]);
        let out = c.dissect(&data, &ctx(4, false), &mut f);
        assert_eq!(
            out,
            Outcome::Desegment {
                offset: 19,
                need: Need::Bytes(98)
            }
        );
        assert_eq!(f.items, ["Client Hello"]);
        assert_eq!(f.protocol, Some("TLSv1"));
        // A header cut short asks for one more segment.
        let mut f = FrameTls::default();
        assert_eq!(
            c.dissect(&[23, 3, 3], &ctx(5, true), &mut f),
            Outcome::Desegment {
                offset: 0,
                need: Need::OneMoreSegment
            }
        );
    }

    #[test]
    fn alerts_of_two_bytes_are_plaintext_others_encrypted() {
        let mut c = TlsConversation::default();
        let mut f = FrameTls::default();
        c.dissect(&record(21, 0x0303, &[2, 40]), &ctx(6, true), &mut f);
        assert_eq!(
            f.items,
            ["Alert (Level: Fatal, Description: Handshake Failure)"]
        );
        assert_eq!(f.protocol, Some("TLSv1.2"));
        assert_eq!(c.version(), Some(0x0303));
        let mut f = FrameTls::default();
        c.dissect(&record(21, 0x0303, &[9; 26]), &ctx(7, true), &mut f);
        assert_eq!(f.items, ["Encrypted Alert"]);
        assert!(f.records[0].encrypted);
    }

    #[test]
    fn handshake_after_an_earlier_change_cipher_spec_is_encrypted() {
        let mut c = TlsConversation::default();
        let mut f = FrameTls::default();
        // The Finished in the same frame as the CCS: judged by its look (nonce zeros).
        let mut data = record(20, 0x0303, &[1]);
        let mut fin = vec![0u8; 8];
        fin.extend_from_slice(&[0xab; 32]);
        data.extend_from_slice(&record(22, 0x0303, &fin));
        c.dissect(&data, &ctx(8, false), &mut f);
        assert_eq!(
            f.items,
            ["Change Cipher Spec", "Encrypted Handshake Message"]
        );
        // A later frame from the same side: encrypted because of the earlier CCS.
        let mut f = FrameTls::default();
        c.dissect(
            &record(22, 0x0303, &handshake(4, &[1; 30])),
            &ctx(9, false),
            &mut f,
        );
        assert_eq!(f.items, ["Encrypted Handshake Message"]);
        // The other side has not changed ciphers: its message is read in the clear.
        let mut f = FrameTls::default();
        c.dissect(
            &record(22, 0x0303, &handshake(4, &[1; 30])),
            &ctx(9, true),
            &mut f,
        );
        assert_eq!(f.items, ["New Session Ticket"]);
    }

    #[test]
    fn a_message_across_records_shows_first_fragment_then_the_message() {
        let mut c = TlsConversation::default();
        let cert = handshake(11, &[7; 60]);
        let mut data = record(22, 0x0303, &handshake(2, &[0; 38]));
        data.extend_from_slice(&record(22, 0x0303, &cert[..20]));
        data.extend_from_slice(&record(22, 0x0303, &cert[20..40]));
        let mut last = cert[40..].to_vec();
        last.extend_from_slice(&handshake(14, &[]));
        data.extend_from_slice(&record(22, 0x0303, &last));
        let mut f = FrameTls::default();
        assert_eq!(c.dissect(&data, &ctx(6, true), &mut f), Outcome::Done);
        assert_eq!(
            f.items,
            [
                "Server Hello",
                "[Certificate Fragment]",
                "Certificate",
                "Server Hello Done"
            ]
        );
        let msgs: Vec<_> = f
            .records
            .iter()
            .map(|r| r.messages.clone().unwrap())
            .collect();
        assert_eq!(msgs[1], Vec::<Cow<str>>::new());
        assert_eq!(msgs[3], ["certificate", "server_hello_done"]);
    }

    #[test]
    fn a_message_whose_header_is_cut_across_records_is_put_together() {
        let cert = handshake(11, &[7; 60]);
        // Cut inside the 4-byte header (once or twice), at its end, and past it.
        for cuts in [[1, 2], [1, 3], [2, 3], [3, 4], [4, 5], [2, 30]] {
            let mut c = TlsConversation::default();
            let mut data = Vec::new();
            for part in [&cert[..cuts[0]], &cert[cuts[0]..cuts[1]], &cert[cuts[1]..]] {
                data.extend_from_slice(&record(22, 0x0303, part));
            }
            let mut f = FrameTls::default();
            assert_eq!(c.dissect(&data, &ctx(6, true), &mut f), Outcome::Done);
            assert_eq!(
                f.items,
                ["[Certificate Fragment]", "Certificate"],
                "cut at {cuts:?}"
            );
            let last = f.records.last().and_then(|r| r.messages.clone());
            assert_eq!(last.unwrap(), ["certificate"], "cut at {cuts:?}");
        }
    }

    #[test]
    fn sslv2_client_hello_then_encrypted_data() {
        let mut c = TlsConversation::default();
        let mut hello = vec![
            0x80, 0x2c, 1, 0x00, 0x02, 0, 3, 0, 0, 0, 32, 0x01, 0x00, 0x80,
        ];
        hello.extend_from_slice(&[5; 32]);
        let mut f = FrameTls::default();
        c.dissect(&hello, &ctx(4, false), &mut f);
        assert_eq!(f.items, ["Client Hello"]);
        assert_eq!(f.protocol, Some("SSLv2"));
        let mut server = vec![0x80, 0x0b, 4, 0, 1, 0x00, 0x02];
        server.extend_from_slice(&[0; 6]);
        let mut f = FrameTls::default();
        c.dissect(&server, &ctx(6, true), &mut f);
        assert_eq!(f.items, ["Server Hello"]);
        assert_eq!(c.version(), Some(0x0002));
        let mut f = FrameTls::default();
        c.dissect(
            &[0x80, 0x04, 0xaa, 0xbb, 0xcc, 0xdd],
            &ctx(9, false),
            &mut f,
        );
        assert_eq!(f.items, ["Encrypted Data"]);
    }

    #[test]
    fn garbage_never_panics() {
        let mut c = TlsConversation::default();
        for len in 0..64usize {
            for seed in 0..32u8 {
                let data: Vec<u8> = (0..len)
                    .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
                    .collect();
                let mut f = FrameTls::default();
                let _ = c.dissect(&data, &ctx(u64::from(seed), seed % 2 == 0), &mut f);
            }
        }
    }
}
