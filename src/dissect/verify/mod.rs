//! The `verdict` of a `tls_handshake` event (`--ca CA.pem [--expect-cn NAME]`): would a TLS
//! client and server that trust only that CA have accepted each other, judging from the
//! capture alone?
//!
//! Seven named checks, in this order, each passing or failing with one phrase of detail:
//!
//! - `server_chain`: the server's chain leads to the CA for serverAuth, valid when it was sent;
//! - `server_name`: the server's certificate names `--expect-cn` (its common name and, when it
//!   has one, its subjectAltName), else the SNI, else the address the client connected to;
//! - `client_chain`: the client sent a certificate (the lab demands mutual TLS) and its chain
//!   leads to the CA for clientAuth, valid when it was sent;
//! - `client_name`, only with `--expect-cn`: the client certificate's common name is that name;
//! - `server_signature`: the ServerKeyExchange signature over both randoms and the key
//!   exchange parameters verifies with the server certificate's key;
//! - `client_signature`: the CertificateVerify signature over the handshake transcript (every
//!   handshake message from ClientHello up to it, RFC 5246 section 7.4.8) verifies with the
//!   client certificate's key;
//! - `handshake`: the handshake completed and no fatal alert was sent.
//!
//! A check that the capture cannot decide fails and says why ("cannot be checked from the
//! capture: ..."): TLS 1.3 encrypts certificates and signatures, a resumed session exchanges
//! none, an RSA key exchange has no server signature, a capture that starts mid-handshake lacks
//! the randoms. A verdict never passes on what it could not see, so `pass` is true only when
//! every check ran and passed. `cause` is one sentence: the alert that ended the handshake and
//! who sent it, then the first failed check's finding.
//!
//! Everything here is a pure function of the session's evidence (the DER chains, randoms,
//! signed parameters and transcript kept by `session`) and of capture timestamps.

mod chain;
mod signature;

use std::net::SocketAddr;

use serde::Serialize;
use tls_parser::{TlsCipherKx, TlsCipherSuite};

pub use chain::{CaError, TrustStore};
use chain::{KeyUse, Role};
use signature::{Key, Method};

use super::session::{Evidence, HandshakeDetails};
use super::{SessionAlert, TlsSession};

/// One named check of a verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub pass: bool,
    pub detail: String,
}

/// The verdict on one TLS session (CONTRACT.md `tls_handshake.verdict`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// Every check passed.
    pub pass: bool,
    pub checks: Vec<Check>,
    /// Why it failed (the alert and who sent it, then the first failed check), or `None`.
    pub cause: Option<String>,
}

/// Judges sessions against one CA and, optionally, one expected name.
#[derive(Debug, Clone)]
pub struct Verifier {
    store: TrustStore,
    expect_cn: Option<String>,
}

const TLS12: u16 = 0x0303;

impl Verifier {
    pub fn new(store: TrustStore, expect_cn: Option<String>) -> Self {
        Verifier { store, expect_cn }
    }

    /// A verifier trusting the certificates of a PEM text.
    pub fn from_pem(pem: &[u8], expect_cn: Option<String>) -> Result<Self, CaError> {
        Ok(Verifier::new(TrustStore::from_pem(pem)?, expect_cn))
    }

    /// The verdict on a session.
    pub fn judge(&self, s: &TlsSession) -> Verdict {
        let none = Evidence::default();
        let e = s.evidence.as_deref().unwrap_or(&none);
        let no_details = HandshakeDetails::default();
        let d = s.details.as_deref().unwrap_or(&no_details);
        let j = Judge {
            v: self,
            s,
            e,
            d,
            hidden: hidden(s, e),
        };
        let mut checks = vec![j.server_chain(), j.server_name(), j.client_chain()];
        if let Some(cn) = &self.expect_cn {
            checks.push(j.client_name(cn));
        }
        checks.push(j.server_signature());
        checks.push(j.client_signature());
        checks.push(j.handshake());
        let pass = checks.iter().all(|c| c.pass);
        let alert = alert_sentence(s);
        let finding = checks
            .iter()
            .find(|c| !c.pass && c.name != "handshake")
            .map(|c| c.detail.clone());
        let cause = match (alert, finding) {
            (Some(a), Some(f)) => Some(format!("{a}; {f}")),
            (Some(a), None) => Some(a),
            (None, Some(f)) => Some(f),
            (None, None) => checks.iter().find(|c| !c.pass).map(|c| c.detail.clone()),
        };
        Verdict {
            pass,
            checks,
            cause,
        }
    }
}

/// Why a whole session's certificates and signatures are out of the capture's sight.
fn hidden(s: &TlsSession, e: &Evidence) -> Option<&'static str> {
    match e.version {
        Some(v) if v == 0x0304 || (0x7f00..=0x7fff).contains(&v) => {
            return Some("TLS 1.3 encrypts the certificates and handshake signatures");
        }
        Some(0x0002) => return Some("SSL 2.0 is not supported by these checks"),
        _ => {}
    }
    if s.resumed {
        return Some("the session was resumed, so no certificates or signatures were exchanged");
    }
    None
}

/// The sentence for the session's alert, when there is something to explain: any fatal
/// alert, and any alert before the handshake completed.
fn alert_sentence(s: &TlsSession) -> Option<String> {
    let a: &SessionAlert = s.alert.as_ref()?;
    let (Some(level), Some(desc)) = (&a.level, &a.description) else {
        return (!s.established).then(|| {
            format!(
                "the {} sent an encrypted alert before the handshake completed, so its reason is hidden",
                a.from
            )
        });
    };
    if level != "fatal" && s.established {
        return None;
    }
    let peer = if a.from == "server" {
        "client"
    } else {
        "server"
    };
    let level = if level == "fatal" {
        "a fatal"
    } else {
        "a warning"
    };
    Some(match desc.as_ref() {
        "certificate_required" => format!(
            "the {} required a client certificate and ended the handshake with {level} certificate_required alert",
            a.from
        ),
        "bad_certificate"
        | "unsupported_certificate"
        | "certificate_revoked"
        | "certificate_expired"
        | "certificate_unknown"
        | "unknown_ca"
        | "access_denied" => {
            format!(
                "the {} rejected the {peer} certificate with {level} {desc} alert",
                a.from
            )
        }
        _ if s.established => format!("the {} ended the session with {level} {desc} alert", a.from),
        _ => format!(
            "the {} ended the handshake with {level} {desc} alert",
            a.from
        ),
    })
}

/// The handshake messages of a transcript, by type, if it splits into whole messages.
fn message_types(t: &[u8]) -> Option<Vec<u8>> {
    let mut types = Vec::new();
    let mut i = 0usize;
    while i < t.len() {
        let header = t.get(i..i + 4)?;
        let len =
            usize::from(header[1]) << 16 | usize::from(header[2]) << 8 | usize::from(header[3]);
        i = i.checked_add(4 + len)?;
        if i > t.len() {
            return None;
        }
        types.push(header[0]);
    }
    Some(types)
}

/// The checks of one session.
struct Judge<'a> {
    v: &'a Verifier,
    s: &'a TlsSession,
    e: &'a Evidence,
    d: &'a HandshakeDetails,
    hidden: Option<&'static str>,
}

fn pass(name: &'static str, detail: String) -> Check {
    Check {
        name,
        pass: true,
        detail,
    }
}

fn fail(name: &'static str, detail: String) -> Check {
    Check {
        name,
        pass: false,
        detail,
    }
}

fn unseen(name: &'static str, what: &str, why: &str) -> Check {
    fail(
        name,
        format!("{what} cannot be checked from the capture: {why}"),
    )
}

impl Judge<'_> {
    fn kx(&self) -> Option<TlsCipherKx> {
        self.s
            .cipher_suite_id
            .and_then(TlsCipherSuite::from_id)
            .map(|c| c.kx)
    }

    /// A key exchange without a server signature: the server proves its key by decrypting
    /// (RSA) or by its fixed (EC)DH share, neither of which a capture shows.
    fn unsigned_kx(&self) -> Option<&'static str> {
        match self.kx()? {
            TlsCipherKx::Rsa if self.d.server_key_exchange.is_none() => Some("RSA"),
            TlsCipherKx::Ecdh => Some("fixed ECDH"),
            TlsCipherKx::Dh => Some("fixed DH"),
            _ => None,
        }
    }

    /// Why the server's chain is absent.
    fn server_chain_absent(&self) -> String {
        if let Some(h) = self.hidden {
            return h.into();
        }
        if self.s.server_messages.iter().any(|m| m == "certificate") {
            "the server sent an empty certificate chain".into()
        } else {
            "the server's Certificate message is not in the capture".into()
        }
    }

    fn server_chain(&self) -> Check {
        const N: &str = "server_chain";
        let chain = &self.e.server_chain;
        let (Some(leaf), Some(at), None) = (chain.first(), self.e.server_chain_ts, self.hidden)
        else {
            return unseen(
                N,
                "the server's certificate chain",
                &self.server_chain_absent(),
            );
        };
        let key_use = if self.unsigned_kx() == Some("RSA") {
            KeyUse::Encipher
        } else {
            KeyUse::Sign
        };
        let who = format!("the server's certificate ({})", describe(leaf));
        match chain::verify_chain(&self.v.store, chain, at, Role::Server, key_use) {
            Ok(d) => pass(N, format!("{who} {d}")),
            Err(d) => fail(N, format!("{who} {d}")),
        }
    }

    fn server_name(&self) -> Check {
        const N: &str = "server_name";
        let (Some(leaf), None) = (self.e.server_chain.first(), self.hidden) else {
            return unseen(N, "the server's name", &self.server_chain_absent());
        };
        let (name, source, require_cn) = match (&self.v.expect_cn, &self.s.sni) {
            (Some(n), _) => (n.clone(), "the name given with --expect-cn", true),
            (None, Some(sni)) => (sni.clone(), "the SNI the client sent", false),
            (None, None) => match self.s.server.parse::<SocketAddr>() {
                Ok(a) => (
                    a.ip().to_string(),
                    "the address the client connected to, as it sent no SNI",
                    false,
                ),
                Err(_) => {
                    return unseen(N, "the server's name", "there is no name to compare with");
                }
            },
        };
        match chain::verify_name(leaf, &name, require_cn) {
            Ok(d) => pass(N, format!("{d}, {source}")),
            Err(d) => fail(N, format!("{d}, {source}")),
        }
    }

    /// Why the client sent no certificate chain, as a definite failure or `Err` when the
    /// capture cannot tell.
    fn client_chain_absent(&self) -> Result<String, String> {
        if let Some(h) = self.hidden {
            return Err(h.into());
        }
        if self.s.client_messages.iter().any(|m| m == "certificate") {
            Ok("the client sent no certificate (an empty Certificate message)".into())
        } else if self.d.client_certificate_requested {
            Ok("the client sent no certificate though the server asked for one".into())
        } else if self
            .s
            .server_messages
            .iter()
            .any(|m| m == "server_hello_done")
        {
            Ok(
                "the server did not ask for a client certificate, so the session is not mutual TLS"
                    .into(),
            )
        } else {
            Err("the client's Certificate message is not in the capture".into())
        }
    }

    fn client_chain(&self) -> Check {
        const N: &str = "client_chain";
        let chain = &self.e.client_chain;
        let (Some(leaf), Some(at), None) = (chain.first(), self.e.client_chain_ts, self.hidden)
        else {
            return match self.client_chain_absent() {
                Ok(why) => fail(N, why),
                Err(why) => unseen(N, "the client's certificate chain", &why),
            };
        };
        let who = format!("the client's certificate ({})", describe(leaf));
        match chain::verify_chain(&self.v.store, chain, at, Role::Client, KeyUse::Sign) {
            Ok(d) => pass(N, format!("{who} {d}")),
            Err(d) => fail(N, format!("{who} {d}")),
        }
    }

    fn client_name(&self, expected: &str) -> Check {
        const N: &str = "client_name";
        let (Some(leaf), None) = (self.e.client_chain.first(), self.hidden) else {
            return match self.client_chain_absent() {
                Ok(why) => fail(N, why),
                Err(why) => unseen(N, "the client's name", &why),
            };
        };
        match chain::common_name(leaf) {
            Some(cn) if cn == expected => pass(
                N,
                format!("the client certificate's common name is \"{cn}\", as --expect-cn wants"),
            ),
            Some(cn) => fail(
                N,
                format!("the client certificate's common name is \"{cn}\", not \"{expected}\""),
            ),
            None => fail(
                N,
                format!("the client certificate has no common name, expected \"{expected}\""),
            ),
        }
    }

    /// The signing method of the negotiated version for a message carrying `scheme`.
    fn method(&self, scheme: Option<u16>) -> Result<Method, &'static str> {
        match (self.e.version, scheme) {
            (Some(v), Some(s)) if v >= TLS12 => Ok(Method::Scheme(s)),
            (Some(v), None) if v >= TLS12 => Err("it names no signature scheme"),
            (Some(_), _) => Ok(Method::Legacy),
            (None, _) => Err("the ServerHello, which sets the version, is not in the capture"),
        }
    }

    fn server_signature(&self) -> Check {
        const N: &str = "server_signature";
        const WHAT: &str = "the ServerKeyExchange signature";
        if let Some(h) = self.hidden {
            return unseen(N, WHAT, h);
        }
        let Some(ske) = &self.d.server_key_exchange else {
            if let Some(kx) = self.unsigned_kx() {
                return unseen(
                    N,
                    "the server's key",
                    &format!(
                        "the {kx} key exchange has no ServerKeyExchange signature; the server proves its key in a way a capture does not show"
                    ),
                );
            }
            let why = if self
                .s
                .server_messages
                .iter()
                .any(|m| m == "server_key_exchange")
            {
                "the message could not be read"
            } else {
                "the ServerKeyExchange is not in the capture"
            };
            return unseen(N, WHAT, why);
        };
        if ske.signature.is_empty() {
            return fail(
                N,
                "the ServerKeyExchange carries no signature (an anonymous key exchange)".into(),
            );
        }
        let (Some(cr), Some(sr)) = (self.e.client_random, self.e.server_random) else {
            return unseen(
                N,
                WHAT,
                "it covers both hellos' randoms, and a hello is not in the capture",
            );
        };
        let Some(leaf) = self.e.server_chain.first() else {
            return unseen(N, WHAT, &self.server_chain_absent());
        };
        let method = match self.method(ske.scheme) {
            Ok(m) => m,
            Err(why) => return unseen(N, WHAT, why),
        };
        let key = match Key::from_certificate(leaf) {
            Ok(k) => k,
            Err(why) => return fail(N, format!("the server's key cannot be read: {why}")),
        };
        let mut signed = Vec::with_capacity(64 + ske.params.len());
        signed.extend_from_slice(&cr);
        signed.extend_from_slice(&sr);
        signed.extend_from_slice(&ske.params);
        let params = match &ske.group {
            Some(g) => format!("{g} {} parameters", ske.kind.to_uppercase()),
            None => format!("{} parameters", ske.kind.to_uppercase()),
        };
        let desc = format!(
            "the ServerKeyExchange's {} signature over both randoms and the {params}",
            method.describe(&key)
        );
        match signature::verify(&key, method, &signed, &ske.signature) {
            Ok(()) => pass(
                N,
                format!(
                    "{desc} verifies with the server certificate's {} key",
                    key.describe()
                ),
            ),
            Err(e) => fail(
                N,
                format!(
                    "{desc} {e} with the server certificate's {} key",
                    key.describe()
                ),
            ),
        }
    }

    fn client_signature(&self) -> Check {
        const N: &str = "client_signature";
        const WHAT: &str = "the client's CertificateVerify signature";
        if let Some(h) = self.hidden {
            return unseen(N, WHAT, h);
        }
        let Some(leaf) = self.e.client_chain.first() else {
            return match self.client_chain_absent() {
                Ok(why) => fail(
                    N,
                    format!("{why}, so there is no CertificateVerify to check"),
                ),
                Err(why) => unseen(N, WHAT, &why),
            };
        };
        let Some(cv) = &self.d.certificate_verify else {
            let why = if self
                .s
                .client_messages
                .iter()
                .any(|m| m == "certificate_verify")
            {
                "the message could not be read"
            } else {
                "the CertificateVerify is not in the capture"
            };
            return unseen(N, WHAT, why);
        };
        if self.e.version == Some(0x0300) {
            return unseen(
                N,
                WHAT,
                "SSL 3.0's CertificateVerify covers the master secret, which a capture does not show",
            );
        }
        if self.e.transcript_truncated {
            return unseen(
                N,
                WHAT,
                "the handshake was longer than capd keeps (256 KiB)",
            );
        }
        if let Some(why) = self.d.incomplete {
            return unseen(
                N,
                WHAT,
                &format!("part of the handshake is missing ({why})"),
            );
        }
        let t = &self.e.transcript;
        let Some(types) = message_types(t) else {
            return unseen(
                N,
                WHAT,
                "the transcript does not split into whole handshake messages",
            );
        };
        if types.first() != Some(&1) {
            return unseen(
                N,
                WHAT,
                "it covers the handshake from the ClientHello on, and the capture starts later",
            );
        }
        let method = match self.method(cv.scheme) {
            Ok(m) => m,
            Err(why) => return unseen(N, WHAT, why),
        };
        let key = match Key::from_certificate(leaf) {
            Ok(k) => k,
            Err(why) => return fail(N, format!("the client's key cannot be read: {why}")),
        };
        let desc = format!(
            "the client's CertificateVerify {} signature over the {} handshake messages ({} bytes) from ClientHello on",
            method.describe(&key),
            types.len(),
            t.len()
        );
        match signature::verify(&key, method, t, &cv.signature) {
            Ok(()) => pass(
                N,
                format!(
                    "{desc} verifies with the client certificate's {} key",
                    key.describe()
                ),
            ),
            Err(e) => fail(
                N,
                format!(
                    "{desc} {e} with the client certificate's {} key",
                    key.describe()
                ),
            ),
        }
    }

    fn handshake(&self) -> Check {
        const N: &str = "handshake";
        let s = self.s;
        if let Some(sentence) = alert_sentence(s) {
            return fail(N, sentence);
        }
        if !s.established {
            return fail(
                N,
                "the handshake did not complete in the capture, and no alert says why".into(),
            );
        }
        match &s.alert {
            Some(a) if a.encrypted => pass(
                N,
                format!(
                    "the handshake completed; the {}'s later alert is encrypted (usually close_notify)",
                    a.from
                ),
            ),
            Some(a) => pass(
                N,
                format!(
                    "the handshake completed; the {} later sent a warning {} alert",
                    a.from,
                    a.description.as_deref().unwrap_or("unknown")
                ),
            ),
            None => pass(N, "the handshake completed without an alert".into()),
        }
    }
}

/// `CN=localhost` or the subject as it reads, for messages.
fn describe(der: &[u8]) -> String {
    chain::subject(der).unwrap_or_else(|| "which cannot be parsed".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dissect::messages::{CertificateVerify, ServerKeyExchange};
    use crate::event::Timestamp;
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    };
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};

    /// A CA, and a leaf it signed with the leaf's key (PKCS #8).
    struct Pki {
        ca_pem: String,
        leaf: Vec<u8>,
        key: Vec<u8>,
    }

    fn pki(cn: &str) -> Pki {
        let ca_key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::default();
        p.distinguished_name.push(DnType::CommonName, "unit CA");
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_pem = p.self_signed(&ca_key).unwrap().pem();
        let issuer = Issuer::new(p, ca_key);
        let mut p = CertificateParams::new(vec!["localhost".into()]).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = KeyPair::generate().unwrap();
        let leaf = p.signed_by(&key, &issuer).unwrap().der().to_vec();
        Pki {
            ca_pem,
            leaf,
            key: key.serialize_der(),
        }
    }

    fn sign(pkcs8: &[u8], msg: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        let k = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8, &rng).unwrap();
        k.sign(&rng, msg).unwrap().as_ref().to_vec()
    }

    fn message(t: u8, body: &[u8]) -> Vec<u8> {
        let n = body.len();
        let mut m = vec![t, (n >> 16) as u8, (n >> 8) as u8, n as u8];
        m.extend_from_slice(body);
        m
    }

    /// A TLS 1.2 mutual-TLS session as `session` would report it, with real signatures.
    fn session(p: &Pki) -> TlsSession {
        let (cr, sr) = ([1u8; 32], [2u8; 32]);
        let params = vec![3, 0, 29, 32, 9, 9, 9, 9];
        let mut signed = cr.to_vec();
        signed.extend_from_slice(&sr);
        signed.extend_from_slice(&params);
        let mut transcript = Vec::new();
        for (t, body) in [
            (1u8, &b"client hello"[..]),
            (2, b"server hello"),
            (11, b"server certificate"),
            (12, b"server key exchange"),
            (13, b"certificate request"),
            (14, b""),
            (11, b"client certificate"),
            (16, b"client key exchange"),
        ] {
            transcript.extend_from_slice(&message(t, body));
        }
        let e = Evidence {
            version: Some(0x0303),
            client_random: Some(cr),
            server_random: Some(sr),
            server_chain: vec![p.leaf.clone()],
            client_chain: vec![p.leaf.clone()],
            server_chain_ts: Some(now()),
            client_chain_ts: Some(now()),
            transcript_complete: true,
            transcript_truncated: false,
            transcript: transcript.clone(),
        };
        let d = HandshakeDetails {
            server_key_exchange: Some(ServerKeyExchange {
                kind: "ecdhe",
                group: Some("x25519".into()),
                signature: sign(&p.key, &signed),
                scheme: Some(0x0403),
                params,
                ..ServerKeyExchange::default()
            }),
            certificate_verify: Some(CertificateVerify {
                scheme: Some(0x0403),
                signature: sign(&p.key, &transcript),
                ..CertificateVerify::default()
            }),
            client_certificate_requested: true,
            ..HandshakeDetails::default()
        };
        TlsSession {
            server: "127.0.0.1:15001".into(),
            sni: Some("localhost".into()),
            cipher_suite_id: Some(0xc02b),
            established: true,
            mutual: true,
            client_messages: vec!["client_hello".into(), "certificate".into()],
            evidence: Some(Box::new(e)),
            details: Some(Box::new(d)),
            ..TlsSession::default()
        }
    }

    fn now() -> Timestamp {
        let secs = time::OffsetDateTime::now_utc().unix_timestamp();
        Timestamp::new(secs, 0)
    }

    fn verifier(p: &Pki, cn: Option<&str>) -> Verifier {
        Verifier::from_pem(p.ca_pem.as_bytes(), cn.map(str::to_string)).unwrap()
    }

    fn failed(v: &Verdict) -> Vec<&'static str> {
        v.checks
            .iter()
            .filter(|c| !c.pass)
            .map(|c| c.name)
            .collect()
    }

    #[test]
    fn a_good_mutual_session_passes_every_check() {
        let p = pki("localhost");
        let v = verifier(&p, Some("localhost")).judge(&session(&p));
        assert!(v.pass, "{v:#?}");
        assert_eq!(v.cause, None);
        let names: Vec<_> = v.checks.iter().map(|c| c.name).collect();
        assert_eq!(
            names,
            [
                "server_chain",
                "server_name",
                "client_chain",
                "client_name",
                "server_signature",
                "client_signature",
                "handshake"
            ]
        );
    }

    #[test]
    fn a_session_from_another_ca_fails_both_chains() {
        let (p, other) = (pki("localhost"), pki("localhost"));
        let v = verifier(&other, None).judge(&session(&p));
        assert!(!v.pass);
        assert_eq!(failed(&v), ["server_chain", "client_chain"]);
        assert!(v.cause.unwrap().contains("not signed by the CA"));
    }

    #[test]
    fn a_wrong_common_name_fails_both_name_checks() {
        let p = pki("mallory");
        let v = verifier(&p, Some("localhost")).judge(&session(&p));
        assert_eq!(failed(&v), ["server_name", "client_name"]);
        // Without --expect-cn the SNI is matched against the subjectAltName, which covers it.
        assert!(verifier(&p, None).judge(&session(&p)).pass);
    }

    #[test]
    fn a_tampered_server_key_exchange_fails_the_server_signature() {
        let p = pki("localhost");
        let mut s = session(&p);
        let d = s.details.as_mut().unwrap();
        d.server_key_exchange.as_mut().unwrap().signature[20] ^= 1;
        let v = verifier(&p, None).judge(&s);
        assert_eq!(failed(&v), ["server_signature"]);
        assert!(v.cause.unwrap().contains("does not verify"));
        // Signed parameters changed after the fact fail too.
        let mut s = session(&p);
        let d = s.details.as_mut().unwrap();
        d.server_key_exchange.as_mut().unwrap().params[5] ^= 1;
        assert_eq!(failed(&verifier(&p, None).judge(&s)), ["server_signature"]);
    }

    #[test]
    fn a_tampered_transcript_or_signature_fails_the_client_signature() {
        let p = pki("localhost");
        let mut s = session(&p);
        let e = s.evidence.as_mut().unwrap();
        let last = e.transcript.len() - 1;
        e.transcript[last] ^= 1;
        let v = verifier(&p, None).judge(&s);
        assert_eq!(failed(&v), ["client_signature"]);
        let mut s = session(&p);
        let d = s.details.as_mut().unwrap();
        d.certificate_verify.as_mut().unwrap().signature[20] ^= 1;
        assert_eq!(failed(&verifier(&p, None).judge(&s)), ["client_signature"]);
    }

    #[test]
    fn a_transcript_not_starting_at_client_hello_is_not_checkable() {
        let p = pki("localhost");
        let mut s = session(&p);
        let e = s.evidence.as_mut().unwrap();
        e.transcript.drain(..4 + b"client hello".len());
        let v = verifier(&p, None).judge(&s);
        assert_eq!(failed(&v), ["client_signature"]);
        assert!(v.checks[4].detail.contains("cannot be checked"), "{v:#?}");
    }

    #[test]
    fn a_missing_client_certificate_and_the_servers_alert_make_the_cause() {
        let p = pki("localhost");
        let mut s = session(&p);
        s.established = false;
        s.mutual = false;
        s.alert = Some(SessionAlert {
            level: Some("fatal".into()),
            description: Some("certificate_required".into()),
            encrypted: false,
            from: "server",
        });
        let e = s.evidence.as_mut().unwrap();
        e.client_chain.clear();
        s.details.as_mut().unwrap().certificate_verify = None;
        let v = verifier(&p, Some("localhost")).judge(&s);
        assert_eq!(
            failed(&v),
            [
                "client_chain",
                "client_name",
                "client_signature",
                "handshake"
            ]
        );
        assert_eq!(
            v.cause.as_deref(),
            Some(
                "the server required a client certificate and ended the handshake with a fatal certificate_required alert; the client sent no certificate (an empty Certificate message)"
            )
        );
    }

    #[test]
    fn a_rejected_client_certificate_names_the_alert_and_who_sent_it() {
        let p = pki("localhost");
        let mut s = session(&p);
        s.established = false;
        s.alert = Some(SessionAlert {
            level: Some("fatal".into()),
            description: Some("bad_certificate".into()),
            encrypted: false,
            from: "server",
        });
        let v = verifier(&p, None).judge(&s);
        assert_eq!(failed(&v), ["handshake"]);
        assert_eq!(
            v.cause.as_deref(),
            Some("the server rejected the client certificate with a fatal bad_certificate alert")
        );
    }

    #[test]
    fn tls13_and_resumed_sessions_never_pass_on_what_they_hide() {
        let p = pki("localhost");
        let mut s = session(&p);
        s.evidence.as_mut().unwrap().version = Some(0x0304);
        let v = verifier(&p, None).judge(&s);
        assert!(!v.pass);
        assert_eq!(failed(&v).len(), 5);
        assert!(v.cause.unwrap().contains("TLS 1.3 encrypts"));
        let mut s = session(&p);
        s.resumed = true;
        let v = verifier(&p, None).judge(&s);
        assert!(!v.pass && v.cause.unwrap().contains("resumed"));
    }

    #[test]
    fn a_session_without_evidence_fails_without_panicking() {
        let p = pki("localhost");
        let v = verifier(&p, Some("x")).judge(&TlsSession::default());
        assert!(!v.pass);
        assert!(v.checks.iter().all(|c| !c.pass));
    }

    #[test]
    fn transcripts_split_into_whole_messages_only() {
        assert_eq!(message_types(&message(1, b"ab")), Some(vec![1]));
        assert_eq!(message_types(&[1, 0, 0, 5, 0]), None);
        assert_eq!(message_types(&[1, 0]), None);
        assert_eq!(message_types(&[]), Some(vec![]));
    }
}
