//! TLS dissection: record headers, handshake messages, certificates and fingerprints.
//!
//! Two consumers read TLS here. `frames` reproduces how Wireshark attributes records to
//! frames (which frame completes which record, and the Info text it shows), fed segment by
//! segment with Wireshark's TCP desegmentation rules. `session` follows each direction's
//! reassembled byte stream to build the `tls_handshake` summary (messages, certificates,
//! JA3/JA4), fed in-order bytes by `flow::reassembly`. Both are pure functions of bytes.

use serde::{Serialize, Serializer};

pub mod cert;
pub mod fingerprint;
pub mod frame;
pub mod hello;
mod heuristics;
pub mod memo;
pub mod messages;
pub mod names;
pub mod offer;
pub mod session;
pub mod tls;
pub mod verify;

/// TLS record content types (RFC 8446 section 5.1), unknown values kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentType {
    ChangeCipherSpec,
    Alert,
    Handshake,
    ApplicationData,
    Heartbeat,
    Unknown(u8),
}

impl ContentType {
    pub fn from_u8(v: u8) -> Self {
        match v {
            20 => ContentType::ChangeCipherSpec,
            21 => ContentType::Alert,
            22 => ContentType::Handshake,
            23 => ContentType::ApplicationData,
            24 => ContentType::Heartbeat,
            other => ContentType::Unknown(other),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ContentType::ChangeCipherSpec => "change_cipher_spec",
            ContentType::Alert => "alert",
            ContentType::Handshake => "handshake",
            ContentType::ApplicationData => "application_data",
            ContentType::Heartbeat => "heartbeat",
            ContentType::Unknown(_) => "unknown",
        }
    }
}

impl Serialize for ContentType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// A protocol version as carried on the wire (record layer or negotiated).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Version(pub u16);

impl Version {
    pub const SSL2: Version = Version(0x0002);
    pub const SSL3: Version = Version(0x0300);
    pub const TLS10: Version = Version(0x0301);
    pub const TLS11: Version = Version(0x0302);
    pub const TLS12: Version = Version(0x0303);
    pub const TLS13: Version = Version(0x0304);

    /// Human name as CONTRACT.md writes it: `TLS 1.2`, `SSL 3.0`, `TLS 1.3 (draft 18)`.
    pub fn name(self) -> std::borrow::Cow<'static, str> {
        names::version_name(self.0)
    }
}

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

/// An alert's level and description, by their RFC names in snake case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlertInfo {
    pub level: std::borrow::Cow<'static, str>,
    pub description: std::borrow::Cow<'static, str>,
}

/// The first alert of a session: its level and description when it was sent in the clear,
/// `encrypted` when it was not (then level and description are unknown), and who sent it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionAlert {
    pub level: Option<std::borrow::Cow<'static, str>>,
    pub description: Option<std::borrow::Cow<'static, str>>,
    pub encrypted: bool,
    /// `client` or `server`.
    pub from: &'static str,
}

/// One TLS record reported in a `packet` event (CONTRACT.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlsRecord {
    #[serde(rename = "type")]
    pub content_type: ContentType,
    /// The record layer's version field.
    pub version: Version,
    /// The record layer's length field.
    pub length: u16,
    /// Handshake messages completed in this record, by RFC name, or
    /// `encrypted_handshake_message`. Present for handshake records only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<std::borrow::Cow<'static, str>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert: Option<AlertInfo>,
    /// An encrypted alert or handshake record.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub encrypted: bool,
}

/// A certificate from a chain, as the `tls_handshake` event lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct CertSummary {
    pub subject: String,
    pub issuer: String,
    /// Lowercase hex without separators.
    pub serial: String,
    /// RFC 3339 UTC.
    pub not_before: String,
    pub not_after: String,
    pub san: Vec<String>,
    /// SHA-256 of the DER encoding, lowercase hex.
    pub sha256: String,
    /// Public key algorithm and size, e.g. `RSA 2048`, `EC P-256`.
    pub key: String,
    /// Signature algorithm name, e.g. `sha256WithRSAEncryption`.
    pub signature_algorithm: String,
    /// Why the certificate could not be parsed, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Milliseconds from the first SYN (or ClientHello) to each handshake stage.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Timing {
    pub client_hello: Option<f64>,
    pub server_hello: Option<f64>,
    pub server_done: Option<f64>,
    pub client_finished: Option<f64>,
    pub server_finished: Option<f64>,
    pub first_application_data: Option<f64>,
    pub alert: Option<f64>,
}

/// The `tls_handshake` event of CONTRACT.md.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TlsSession {
    pub flow: crate::event::FlowId,
    /// Shown as `ip:port` (`[ip]:port` for IPv6), as the flow events show them.
    pub client: crate::event::Endpoint,
    pub server: crate::event::Endpoint,
    /// Registry names: borrowed for known values (no allocation per session).
    pub version: Option<session::Name>,
    pub cipher_suite: Option<session::Name>,
    pub cipher_suite_id: Option<u16>,
    pub sni: Option<std::sync::Arc<str>>,
    pub alpn: Option<std::sync::Arc<str>>,
    /// Message names, static: a handshake in flight allocates none.
    pub client_messages: Vec<&'static str>,
    pub server_messages: Vec<&'static str>,
    pub mutual: bool,
    pub resumed: bool,
    pub established: bool,
    /// The first alert of the session.
    pub alert: Option<SessionAlert>,
    /// Summaries shared with the other sessions that sent the same certificate (see `cert`).
    pub server_certs: Vec<std::sync::Arc<CertSummary>>,
    pub client_certs: Vec<std::sync::Arc<CertSummary>>,
    pub ja3: Option<std::sync::Arc<str>>,
    pub ja3s: Option<String>,
    pub ja4: Option<std::sync::Arc<str>>,
    pub timing: Timing,
    /// With `--ca`: whether the session passes the CA's checks, and why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<verify::Verdict>,
    /// Every decoded handshake field beyond the summary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Box<session::HandshakeDetails>>,
    /// What a later check of the session needs (certificate chains as DER, randoms, the
    /// signed parameters and the handshake transcript); never printed.
    #[serde(skip)]
    pub evidence: Option<Box<session::Evidence>>,
}
