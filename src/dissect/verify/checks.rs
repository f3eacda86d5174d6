//! The seven checks of a verdict, one method each, over one session's evidence and details.
//!
//! Each returns a `Check` that passes or fails with one phrase of detail; a check the capture
//! cannot decide fails with "cannot be checked from the capture: <why>". The cryptography is
//! in `chain` (webpki) and `signature` (ring); this file decides what is compared with what.

use tls_parser::TlsCipherKx;

use super::chain::{self, KeyUse, Role};
use super::signature::{self, Key, Method};
use super::{Check, TLS12, Verifier, alert_sentence};
use crate::dissect::TlsSession;
use crate::dissect::session::{Evidence, HandshakeDetails};

/// The handshake messages of a transcript, by type, if it splits into whole messages.
pub(super) fn message_types(t: &[u8]) -> Option<Vec<u8>> {
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
pub(super) struct Judge<'a> {
    pub v: &'a Verifier,
    pub s: &'a TlsSession,
    pub e: &'a Evidence,
    pub d: &'a HandshakeDetails,
    pub hidden: Option<&'static str>,
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
            .and_then(crate::dissect::names::cipher_suite)
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
        if self.s.server_messages.contains(&"certificate") {
            "the server sent an empty certificate chain".into()
        } else {
            "the server's Certificate message is not in the capture".into()
        }
    }

    pub fn server_chain(&self) -> Check {
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

    pub fn server_name(&self) -> Check {
        const N: &str = "server_name";
        let (Some(leaf), None) = (self.e.server_chain.first(), self.hidden) else {
            return unseen(N, "the server's name", &self.server_chain_absent());
        };
        let (name, source, require_cn) = match (&self.v.expect_cn, &self.s.sni) {
            (Some(n), _) => (n.clone(), "the name given with --expect-cn", true),
            (None, Some(sni)) => (sni.to_string(), "the SNI the client sent", false),
            (None, None) => (
                self.s.server.ip.to_string(),
                "the address the client connected to, as it sent no SNI",
                false,
            ),
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
        if self.s.client_messages.contains(&"certificate") {
            Ok("the client sent no certificate (an empty Certificate message)".into())
        } else if self.d.client_certificate_requested {
            Ok("the client sent no certificate though the server asked for one".into())
        } else if self.s.server_messages.contains(&"server_hello_done") {
            Ok(
                "the server did not ask for a client certificate, so the session is not mutual TLS"
                    .into(),
            )
        } else {
            Err("the client's Certificate message is not in the capture".into())
        }
    }

    pub fn client_chain(&self) -> Check {
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

    pub fn client_name(&self, expected: &str) -> Check {
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

    pub fn server_signature(&self) -> Check {
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
            let why = if self.s.server_messages.contains(&"server_key_exchange") {
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

    pub fn client_signature(&self) -> Check {
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
            let why = if self.s.client_messages.contains(&"certificate_verify") {
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

    pub fn handshake(&self) -> Check {
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
