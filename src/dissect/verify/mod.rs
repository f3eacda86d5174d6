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
mod checks;
mod signature;

use serde::Serialize;

pub use chain::{CaError, TrustStore};
use checks::Judge;

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
    if e.withheld {
        return Some(
            "capd's memory budget was spent, so this session's certificates and handshake were not kept",
        );
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
        // RFC 5246 7.2.2: a signature (rustls: also a certificate's) did not verify.
        "decrypt_error" if !s.established => format!(
            "the {} could not verify a signature of the {peer}'s certificate or handshake and ended the handshake with {level} decrypt_error alert",
            a.from
        ),
        _ if s.established => format!("the {} ended the session with {level} {desc} alert", a.from),
        _ => format!(
            "the {} ended the handshake with {level} {desc} alert",
            a.from
        ),
    })
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
            withheld: false,
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
            server: "127.0.0.1:15001".parse().unwrap(),
            sni: Some("localhost".into()),
            cipher_suite_id: Some(0xc02b),
            established: true,
            mutual: true,
            client_messages: vec!["client_hello", "certificate"],
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
    fn evidence_withheld_for_memory_is_never_a_pass() {
        let p = pki("localhost");
        let mut s = session(&p);
        let e = s.evidence.as_mut().unwrap();
        e.withheld = true;
        e.server_chain.clear();
        e.client_chain.clear();
        e.transcript.clear();
        let v = verifier(&p, Some("localhost")).judge(&s);
        assert!(!v.pass);
        assert!(
            v.checks.iter().any(|c| c.detail.contains("memory budget")),
            "{v:#?}"
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

    proptest::proptest! {
        /// Whatever bytes the wire gave as chains, signatures, parameters and transcript,
        /// judging never panics, and a verdict built on them does not pass by accident.
        #[test]
        fn arbitrary_evidence_never_panics_or_passes(
            leaf in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            sig in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..120),
            transcript in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
            scheme in proptest::prelude::any::<u16>(),
            version in proptest::prelude::any::<u16>(),
        ) {
            let p = pki("localhost");
            let mut s = session(&p);
            let e = s.evidence.as_mut().unwrap();
            e.version = Some(version);
            e.server_chain = vec![leaf.clone()];
            e.client_chain = vec![leaf];
            e.transcript = transcript;
            let d = s.details.as_mut().unwrap();
            let ske = d.server_key_exchange.as_mut().unwrap();
            ske.signature = sig.clone();
            ske.scheme = Some(scheme);
            let cv = d.certificate_verify.as_mut().unwrap();
            cv.signature = sig;
            cv.scheme = Some(scheme);
            let v = verifier(&p, Some("localhost")).judge(&s);
            proptest::prop_assert!(!v.pass);
            proptest::prop_assert!(v.cause.is_some());
        }
    }

    #[test]
    fn transcripts_split_into_whole_messages_only() {
        assert_eq!(checks::message_types(&message(1, b"ab")), Some(vec![1]));
        assert_eq!(checks::message_types(&[1, 0, 0, 5, 0]), None);
        assert_eq!(checks::message_types(&[1, 0]), None);
        assert_eq!(checks::message_types(&[]), Some(vec![]));
    }
}
