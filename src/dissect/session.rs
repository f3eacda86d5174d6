//! One TLS session's summary (CONTRACT.md `tls_handshake`), built from the records and
//! handshake messages the TLS dissector finds in both directions of a flow.
//!
//! The builder is told each fact as it is dissected (a handshake message with its bytes, a
//! ChangeCipherSpec, an alert, an encrypted record) and keeps what the summary needs: the
//! negotiated parameters, the ordered message lists, both certificate chains, fingerprints,
//! stage timings, and, for checks that come later (chain and signature verification), the
//! randoms, the signed key exchange parameters and the handshake transcript, within fixed
//! bounds. A session is ready to report when it fails (fatal alert) or, once established, at
//! its first application data; otherwise its flow's end reports it.

use std::sync::Arc;

use serde::Serialize;

use super::cert;
use super::fingerprint;
use super::hello::{self, ServerHello};
use super::messages::{self, CertificateRequest, CertificateVerify, ClientKeyExchange};
use super::messages::{NewSessionTicket, ServerKeyExchange};
use super::names::{self, cipher_suite_name, extension_name, group_name};
use super::offer::{self, ClientHelloOffer, HelloFacts};
use super::{SessionAlert, Timing, TlsSession, Version};
use crate::event::{Endpoint, Timestamp};

pub use super::offer::ClientHelloInfo;

/// Handshake bytes kept for a later signature check; a transcript beyond this is dropped.
const MAX_TRANSCRIPT: usize = 256 * 1024;
/// Entries kept per message list (a renegotiating or looping peer cannot grow it further).
const MAX_MESSAGES: usize = 64;
/// Room a message list starts with: a full handshake names up to eight messages each way
/// (TLS 1.2 with client certificates and a session ticket), which would otherwise take an
/// allocation and a reallocation.
const MESSAGES_RESERVED: usize = 8;

/// A registry name: borrowed for known values, owned for `0x...` ones (no allocation per
/// name in the common case).
pub type Name = std::borrow::Cow<'static, str>;

/// A hello's session id, reported as lowercase hex (`cert::hex`). Kept as the bytes the
/// hello carried, so that the output writes the digits and the dissecting thread formats
/// nothing for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionId(pub Vec<u8>);

impl Serialize for SessionId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&cert::hex(&self.0))
    }
}

/// Decoded ServerHello, as reported.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ServerHelloInfo {
    pub version: Name,
    pub session_id: SessionId,
    pub cipher_suite: Name,
    pub compression_method: u8,
    pub extensions: Vec<Name>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_share: Option<Name>,
    pub hello_retry_request: bool,
}

/// Application data seen per direction.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AppDataCounts {
    pub client_records: u64,
    pub client_bytes: u64,
    pub server_records: u64,
    pub server_bytes: u64,
}

/// Everything decoded beyond CONTRACT.md's summary fields.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HandshakeDetails {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_hello: Option<ClientHelloInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_hello: Option<ServerHelloInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_key_exchange: Option<ServerKeyExchange>,
    /// Shared with the other sessions whose server asked alike (see `messages`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_request: Option<Arc<CertificateRequest>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_key_exchange: Option<ClientKeyExchange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_verify: Option<CertificateVerify>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_session_ticket: Option<NewSessionTicket>,
    pub application_data: AppDataCounts,
    /// Heartbeat records per direction (client, server).
    pub heartbeats: [u64; 2],
    /// The client asked for a certificate (CertificateRequest seen).
    pub client_certificate_requested: bool,
    /// Why part of the handshake could not be read (gaps in the capture), if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incomplete: Option<&'static str>,
}

/// Raw material kept for verifying the session later (chains against a CA, signatures).
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// The negotiated version (the ServerHello's), which decides how signatures are made.
    pub version: Option<u16>,
    pub client_random: Option<[u8; 32]>,
    pub server_random: Option<[u8; 32]>,
    pub server_chain: Vec<Vec<u8>>,
    pub client_chain: Vec<Vec<u8>>,
    /// Capture time of each side's Certificate message: when its peer judged the chain.
    pub server_chain_ts: Option<Timestamp>,
    pub client_chain_ts: Option<Timestamp>,
    /// Handshake messages (headers included) from ClientHello up to, not including, the
    /// client's CertificateVerify: what that signature covers in TLS 1.2.
    pub transcript: Vec<u8>,
    pub transcript_complete: bool,
    /// A message did not fit the transcript's bound, so the transcript is not whole.
    pub transcript_truncated: bool,
    /// capd's memory budget was spent when the session needed to keep certificates or
    /// handshake messages, so they were not kept and later checks cannot use them.
    pub withheld: bool,
}

impl Evidence {
    /// Bytes this evidence holds.
    pub fn retained(&self) -> usize {
        self.transcript.capacity()
            + self
                .server_chain
                .iter()
                .chain(&self.client_chain)
                .map(Vec::capacity)
                .sum::<usize>()
    }
}

/// Where the handshake stands, as RFC 5246 section 7.3 and RFC 8446 section 2 describe it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Phase {
    /// Before a ClientHello (or mid-stream).
    #[default]
    Start,
    /// Hellos and the first flights in the clear.
    Negotiating,
    /// Both Finished messages (TLS 1.2) or the client's Finished (TLS 1.3) were sent.
    Established,
    /// A fatal alert ended the handshake.
    Failed,
}

/// An `Evidence` that holds nothing: what a session that keeps none shows.
static NO_EVIDENCE: Evidence = Evidence {
    version: None,
    client_random: None,
    server_random: None,
    server_chain: Vec::new(),
    client_chain: Vec::new(),
    server_chain_ts: None,
    client_chain_ts: None,
    transcript: Vec::new(),
    transcript_complete: false,
    transcript_truncated: false,
    withheld: false,
};

/// What the builder keeps of the ClientHello beyond the summary's fields.
#[derive(Debug)]
struct ClientHelloSeen {
    /// The offer, shared (see `offer`); the details' `client_hello` at report time.
    offer: Arc<ClientHelloOffer>,
    /// The session id, compared with the ServerHello's, and reported in hex.
    session_id: Vec<u8>,
    /// ALPN protocols were offered.
    alpn_offered: bool,
}

/// Builds one session's summary. A handshake in flight holds only what it will report or
/// still needs to decide (shared offers and certificate summaries, message names as static
/// strings, the ServerHello's few fields), and no raw evidence unless asked to: busy captures
/// have thousands of handshakes in flight at once.
#[derive(Debug, Default)]
pub struct SessionBuilder {
    s: TlsSession,
    /// Boxed from the first detail on, and handed over as it is at report time (a builder
    /// with its details inline would be too large for the allocator's per-thread cache).
    details: Option<Box<HandshakeDetails>>,
    /// Raw material for later checks; `None` when nothing will check the session.
    evidence: Option<Box<Evidence>>,
    phase: Phase,
    /// Time zero for the stage timings: the first SYN, else the first record seen.
    start: Option<Timestamp>,
    client_hello: Option<ClientHelloSeen>,
    server_hello: Option<ServerHello>,
    /// ChangeCipherSpec sent, per direction (client, server).
    ccs: [bool; 2],
    /// An encrypted handshake record (Finished) followed the ChangeCipherSpec, per direction.
    finished: [bool; 2],
    /// A server that skipped Certificate after ServerHello (abbreviated handshake).
    abbreviated: bool,
    /// TLS 1.3: the frame carrying the client's encrypted flight (Certificate,
    /// CertificateVerify, Finished), the first client frame of encrypted records.
    client_flight_frame: Option<u64>,
    reported: bool,
    /// First data after the handshake: time to report.
    ready: bool,
}

fn side(from_client: bool) -> usize {
    usize::from(!from_client)
}

impl SessionBuilder {
    /// A session on `flow` between `client` and `server`; timings count from `start` (the
    /// first SYN) or, when no SYN was captured, from the first record of the session.
    pub fn new(
        flow: crate::event::FlowId,
        client: Endpoint,
        server: Endpoint,
        start: Option<Timestamp>,
    ) -> Self {
        SessionBuilder {
            evidence: Some(Box::default()),
            ..Self::without_evidence(flow, client, server, start)
        }
    }

    /// Like `new`, but keeping no raw evidence (`Evidence` stays empty, and so do the signed
    /// parameters and signatures of the key exchange and CertificateVerify details): for runs
    /// that will not verify sessions, which saves kilobytes per handshake in flight.
    pub fn without_evidence(
        flow: crate::event::FlowId,
        client: Endpoint,
        server: Endpoint,
        start: Option<Timestamp>,
    ) -> Self {
        SessionBuilder {
            s: TlsSession {
                flow,
                client,
                server,
                // A full TLS 1.2 handshake with client certificates sends 6 and 7 messages.
                client_messages: Vec::with_capacity(8),
                server_messages: Vec::with_capacity(8),
                ..TlsSession::default()
            },
            start,
            ..SessionBuilder::default()
        }
    }

    fn details(&mut self) -> &mut HandshakeDetails {
        self.details.get_or_insert_with(Box::default)
    }

    fn since(&mut self, ts: Timestamp) -> Option<f64> {
        let start = *self.start.get_or_insert(ts);
        Some((ts.millis_since(start) * 1000.0).round() / 1000.0)
    }

    fn push(&mut self, from_client: bool, name: &'static str) {
        // Once the summary is due (the first application data after the handshake), later
        // records in the same frame are no longer part of the handshake it describes.
        if self.ready {
            return;
        }
        let list = if from_client {
            &mut self.s.client_messages
        } else {
            &mut self.s.server_messages
        };
        if list.len() < MAX_MESSAGES {
            if list.capacity() == 0 {
                list.reserve_exact(MESSAGES_RESERVED);
            }
            list.push(name);
        }
    }

    /// The negotiated version, once known (the ServerHello's; else the ClientHello's).
    pub fn version(&self) -> Option<u16> {
        self.server_hello
            .as_ref()
            .filter(|sh| !sh.hello_retry_request)
            .map(ServerHello::negotiated_version)
    }

    fn is_tls13(&self) -> bool {
        matches!(self.version(), Some(v) if v == 0x0304 || (0x7f00..=0x7fff).contains(&v))
    }

    fn cipher(&self) -> u16 {
        self.server_hello.as_ref().map(|s| s.cipher).unwrap_or(0)
    }

    /// Whether the engine's memory budget lets the session keep more evidence; when it does
    /// not, what was kept is released and the session notes it.
    pub fn set_may_retain(&mut self, may: bool) {
        if let Some(e) = self.evidence.as_deref_mut()
            && !may
            && !e.withheld
        {
            e.withheld = true;
            e.transcript = Vec::new();
            e.transcript_truncated = true;
            e.server_chain = Vec::new();
            e.client_chain = Vec::new();
        }
    }

    /// Bytes the session keeps for later checks.
    pub fn retained(&self) -> usize {
        self.evidence.as_deref().map_or(0, Evidence::retained)
    }

    fn record_transcript(e: &mut Evidence, raw: &[u8]) {
        if e.withheld {
            return;
        }
        if e.transcript_truncated || e.transcript.len() + raw.len() > MAX_TRANSCRIPT {
            // Later messages alone would make a transcript that looks whole but is not.
            e.transcript_truncated = true;
        } else {
            e.transcript.extend_from_slice(raw);
        }
    }

    /// A plaintext handshake message: `raw` is the whole message, 4-byte header included;
    /// `server_hello` is its body read by `hello::parse_server_hello` when it is a ServerHello
    /// (the record layer reads it first, for the version).
    pub fn handshake(
        &mut self,
        from_client: bool,
        ts: Timestamp,
        msg_type: u8,
        raw: &[u8],
        server_hello: Option<ServerHello>,
    ) {
        let body = raw.get(4..).unwrap_or_default();
        if self.phase == Phase::Start {
            self.phase = Phase::Negotiating;
        }
        let name = match msg_type {
            2 if body.get(2..34) == Some(&hello::HRR_RANDOM[..]) => "hello_retry_request",
            t => names::handshake_type(t).map_or("unknown", |(snake, _)| snake),
        };
        self.push(from_client, name);
        if let Some(e) = self.evidence.as_deref_mut()
            && !(e.transcript_complete || from_client && msg_type == 15)
        {
            Self::record_transcript(e, raw);
        }
        let version = self.version().unwrap_or(0x0303);
        let keep_raw = self.evidence.is_some();
        match (from_client, msg_type) {
            (true, 1) => self.on_client_hello(ts, body),
            (false, 2) => self.on_server_hello(ts, body, server_hello),
            (_, 11) => {
                let ders = messages::certificate_chain(body, self.is_tls13()).unwrap_or_default();
                let summaries: Vec<_> = ders.iter().map(cert::summarize).collect();
                let e = self.evidence.as_deref_mut();
                let chain: Vec<Vec<u8>> = match &e {
                    Some(e) if !e.withheld => ders.iter().map(<[u8]>::to_vec).collect(),
                    _ => Vec::new(),
                };
                if from_client {
                    self.s.mutual = !summaries.is_empty();
                    self.s.client_certs = summaries;
                    if let Some(e) = e {
                        e.client_chain = chain;
                        e.client_chain_ts = Some(ts);
                    }
                } else {
                    self.s.server_certs = summaries;
                    if let Some(e) = e {
                        e.server_chain = chain;
                        e.server_chain_ts = Some(ts);
                    }
                }
            }
            (false, 12) => {
                let ske = messages::server_key_exchange(body, self.cipher(), version, keep_raw);
                self.details().server_key_exchange = ske;
            }
            (false, 13) => {
                let details = self.details();
                details.client_certificate_requested = true;
                details.certificate_request = messages::certificate_request(body);
            }
            (false, 14) => self.s.timing.server_done = self.since(ts),
            (true, 16) => {
                let cke = messages::client_key_exchange(body, self.cipher(), version);
                self.details().client_key_exchange = cke;
            }
            (true, 15) => {
                if let Some(e) = self.evidence.as_deref_mut() {
                    e.transcript_complete = true;
                }
                self.details().certificate_verify =
                    messages::certificate_verify(body, version, keep_raw);
            }
            (false, 4) => {
                self.details().new_session_ticket = messages::new_session_ticket(body);
            }
            _ => {}
        }
    }

    fn on_client_hello(&mut self, ts: Timestamp, body: &[u8]) {
        if let Some((facts, session_id)) = offer::client_hello_facts(body) {
            if let Some(e) = self.evidence.as_deref_mut() {
                e.client_random = body.get(2..34).and_then(|r| r.try_into().ok());
            }
            self.client_hello_seen(ts, &facts, session_id);
        }
    }

    /// A ClientHello in SSL 2.0 format (the record layer found it).
    pub fn sslv2_client_hello(&mut self, ts: Timestamp, msg: &[u8]) {
        if self.phase == Phase::Start {
            self.phase = Phase::Negotiating;
        }
        self.push(true, "client_hello");
        if let Some(ch) = hello::parse_sslv2_client_hello(msg) {
            let facts = HelloFacts::of(&ch);
            self.client_hello_seen(ts, &facts, ch.session_id);
        }
    }

    fn client_hello_seen(&mut self, ts: Timestamp, facts: &HelloFacts, session_id: Vec<u8>) {
        // A second ClientHello (after HelloRetryRequest) updates the offer, not the timing
        // or the fingerprints, which describe the first one, as Zeek and Suricata do.
        if self.client_hello.is_none() {
            self.s.timing.client_hello = self.since(ts);
            self.s.ja3.clone_from(&facts.ja3);
            self.s.ja4.clone_from(&facts.ja4);
            self.s.sni.clone_from(&facts.sni);
            self.s.alpn.clone_from(&facts.alpn);
        }
        self.client_hello = Some(ClientHelloSeen {
            offer: facts.offer.clone(),
            alpn_offered: facts.alpn_offered,
            session_id,
        });
    }

    fn on_server_hello(&mut self, ts: Timestamp, body: &[u8], sh: Option<ServerHello>) {
        let Some(sh) = sh else {
            return;
        };
        // JA3S describes every ServerHello, a HelloRetryRequest too; a later one replaces it.
        self.s.ja3s = Some(fingerprint::ja3s(&sh));
        if !sh.hello_retry_request {
            self.s.timing.server_hello = self.since(ts);
            if let Some(e) = self.evidence.as_deref_mut() {
                e.server_random = body.get(2..34).and_then(|r| r.try_into().ok());
            }
            let version = sh.negotiated_version();
            self.s.version = Some(Version(version).name());
            self.s.cipher_suite = Some(cipher_suite_name(sh.cipher));
            self.s.cipher_suite_id = Some(sh.cipher);
            if let Some(p) = &sh.alpn {
                self.s.alpn = Some(std::sync::Arc::from(String::from_utf8_lossy(p)));
            } else if self.client_hello.as_ref().is_some_and(|c| c.alpn_offered) {
                // The server chose no protocol: report the choice, not the offer.
                self.s.alpn = None;
            }
            // TLS 1.3 echoes the client's session id in every ServerHello (RFC 8446 section
            // 4.1.3): there only an accepted pre-shared key means resumption.
            let tls13 = version == 0x0304 || (0x7f00..=0x7fff).contains(&version);
            let ch_sid = self.client_hello.as_ref().map(|c| c.session_id.as_slice());
            let same_id = !sh.session_id.is_empty() && ch_sid == Some(sh.session_id.as_slice());
            self.s.resumed = sh.psk || (!tls13 && same_id);
        }
        self.server_hello = Some(sh);
    }

    /// An SSL 2.0 message other than CLIENT-HELLO, by its snake-case name.
    pub fn sslv2_message(&mut self, from_client: bool, ts: Timestamp, name: &'static str) {
        if name == "server_hello" {
            self.s.version = Some(Version::SSL2.name());
            self.s.timing.server_hello = self.since(ts);
        }
        self.push(from_client, name);
    }

    /// A ChangeCipherSpec record.
    pub fn change_cipher_spec(&mut self, from_client: bool) {
        self.push(from_client, "change_cipher_spec");
        if !self.is_tls13() {
            self.ccs[side(from_client)] = true;
            // A server that changes ciphers before sending a certificate resumed a session.
            if !from_client && self.s.server_certs.is_empty() && self.server_hello.is_some() {
                let sent_cert = self.s.server_messages.contains(&"certificate");
                if !sent_cert {
                    self.abbreviated = true;
                    self.s.resumed = true;
                }
            }
        }
    }

    /// A handshake record that could not be read: encrypted (after ChangeCipherSpec, or any
    /// TLS 1.3 record after ServerHello).
    pub fn encrypted_handshake(&mut self, from_client: bool, ts: Timestamp) {
        self.push(from_client, "encrypted_handshake_message");
        let i = side(from_client);
        if self.ccs[i] && !self.finished[i] {
            self.finished[i] = true;
            self.finished_at(from_client, ts);
        }
    }

    fn finished_at(&mut self, from_client: bool, ts: Timestamp) {
        if from_client {
            self.s.timing.client_finished = self.since(ts);
        } else {
            self.s.timing.server_finished = self.since(ts);
        }
        if self.finished == [true, true] && self.phase == Phase::Negotiating {
            self.phase = Phase::Established;
            self.s.established = true;
        }
    }

    /// An application data record of `len` bytes in frame `frame`.
    pub fn application_data(&mut self, from_client: bool, ts: Timestamp, frame: u64, len: u16) {
        let counts = &mut self.details().application_data;
        if from_client {
            counts.client_records += 1;
            counts.client_bytes += u64::from(len);
        } else {
            counts.server_records += 1;
            counts.server_bytes += u64::from(len);
        }
        let in_flight = self.is_tls13()
            && match (self.phase, from_client) {
                (Phase::Negotiating, true) => {
                    *self.client_flight_frame.get_or_insert(frame) == frame
                }
                (Phase::Negotiating, false) => self.client_flight_frame.is_none(),
                (Phase::Established, true) => self.client_flight_frame == Some(frame),
                _ => false,
            };
        if in_flight {
            // TLS 1.3 hides the rest of the handshake in application data records. The
            // server's records up to the client's flight are its encrypted handshake; the
            // client's first frame of such records is its flight, ending with Finished.
            self.push(from_client, "encrypted_handshake_message");
            self.finished[side(from_client)] = true;
            self.finished_at(from_client, ts);
            return;
        }
        if self.phase == Phase::Established {
            if self.s.timing.first_application_data.is_none() {
                self.s.timing.first_application_data = self.since(ts);
            }
            self.ready = true;
        }
    }

    /// An alert: `None` when it is encrypted.
    pub fn alert(&mut self, from_client: bool, ts: Timestamp, alert: Option<(u8, u8)>) {
        self.push(
            from_client,
            if alert.is_some() {
                "alert"
            } else {
                "encrypted_alert"
            },
        );
        if self.s.alert.is_some() || self.ready {
            return;
        }
        self.s.timing.alert = self.since(ts);
        let from = if from_client { "client" } else { "server" };
        self.s.alert = Some(match alert {
            Some((level, desc)) => {
                if level == 2 && self.phase != Phase::Established {
                    self.phase = Phase::Failed;
                    self.ready = true;
                }
                SessionAlert {
                    level: Some(names::alert_level(level).0),
                    description: Some(names::alert_description(desc).0),
                    encrypted: false,
                    from,
                }
            }
            None => SessionAlert {
                level: None,
                description: None,
                encrypted: true,
                from,
            },
        });
    }

    /// A heartbeat record.
    pub fn heartbeat(&mut self, from_client: bool) {
        self.details().heartbeats[side(from_client)] += 1;
    }

    /// Part of the handshake could not be read.
    pub fn incomplete(&mut self, why: &'static str) {
        self.details().incomplete.get_or_insert(why);
    }

    /// Whether a handshake was seen at all.
    pub fn seen(&self) -> bool {
        self.phase != Phase::Start
    }

    /// The summary, when the session has something final to say and was not reported yet.
    pub fn take_ready(&mut self) -> Option<Box<TlsSession>> {
        if self.ready && !self.reported {
            self.report()
        } else {
            None
        }
    }

    /// The summary at the end of the flow, if it was not reported yet.
    pub fn take_final(&mut self) -> Option<Box<TlsSession>> {
        if self.seen() && !self.reported {
            self.report()
        } else {
            None
        }
    }

    fn report(&mut self) -> Option<Box<TlsSession>> {
        // A session is reported once (`reported`), so its parts move into the summary.
        self.reported = true;
        let version = self.version();
        let mut s = std::mem::take(&mut self.s);
        let mut details = self.details.take().unwrap_or_default();
        details.client_hello = self.client_hello.take().map(|c| ClientHelloInfo {
            session_id: SessionId(c.session_id),
            offer: c.offer,
        });
        details.server_hello = self.server_hello.as_ref().map(server_hello_info);
        s.details = Some(details);
        s.evidence = self.evidence.take().map(|mut e| {
            e.version = version;
            e
        });
        Some(Box::new(s))
    }

    /// Raw material for verification (chains, randoms, transcript); empty when the session
    /// keeps none.
    pub fn evidence(&self) -> &Evidence {
        self.evidence.as_deref().unwrap_or(&NO_EVIDENCE)
    }
}

/// The last ServerHello (or HelloRetryRequest), as reported.
fn server_hello_info(sh: &ServerHello) -> ServerHelloInfo {
    ServerHelloInfo {
        version: Version(sh.negotiated_version()).name(),
        session_id: SessionId(sh.session_id.clone()),
        cipher_suite: cipher_suite_name(sh.cipher),
        compression_method: sh.compression,
        extensions: sh.extensions.iter().map(|e| extension_name(*e)).collect(),
        key_share: sh.key_share_group.map(group_name),
        hello_retry_request: sh.hello_retry_request,
    }
}

/// Timing fields in the order stages happen, for readers.
impl Timing {
    pub fn stages(&self) -> [(&'static str, Option<f64>); 7] {
        [
            ("client_hello", self.client_hello),
            ("server_hello", self.server_hello),
            ("server_done", self.server_done),
            ("client_finished", self.client_finished),
            ("server_finished", self.server_finished),
            ("first_application_data", self.first_application_data),
            ("alert", self.alert),
        ]
    }
}
