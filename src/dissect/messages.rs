//! The handshake messages after the hellos: Certificate, ServerKeyExchange, CertificateRequest,
//! ClientKeyExchange, CertificateVerify and NewSessionTicket, decoded into what the session
//! summary reports (RFC 5246 section 7.4, RFC 8422 section 5.4, RFC 8446 section 4.4).
//!
//! Each parser takes a message body (after the 4-byte handshake header) and returns `None`
//! when the body does not have the message's shape. tls-parser does the certificate list,
//! the CertificateRequest and the DH/ECDH parameters; the signature that follows the key
//! exchange parameters is read here since its presence depends on the negotiated version.

use std::borrow::Cow;
use std::sync::Arc;

use serde::Serialize;
use tls_parser::{
    ECParametersContent, TlsCipherKx, parse_dh_params, parse_ecdh_params,
    parse_tls_handshake_certificaterequest,
};
use x509_parser::prelude::FromDer;
use x509_parser::x509::X509Name;

use super::names::{cipher_suite, group_name, signature_scheme_name};

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn be24(b: &[u8], at: usize) -> Option<usize> {
    Some(
        (usize::from(*b.get(at)?) << 16)
            | (usize::from(*b.get(at + 1)?) << 8)
            | usize::from(*b.get(at + 2)?),
    )
}

/// The DER certificates of a Certificate message (`certificate_chain`): a list checked whole
/// and read again on each walk, so that finding the certificates allocates nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CertChain<'a> {
    list: &'a [u8],
    tls13: bool,
    len: usize,
}

impl<'a> CertChain<'a> {
    /// Certificates in the chain.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The certificates, leaf first.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &'a [u8]> + use<'a> {
        let (list, tls13) = (self.list, self.tls13);
        let mut at = 0;
        // Every entry was read whole once already (`certificate_chain`): none is missing.
        (0..self.len).map(move |_| {
            let (der, next) = cert_entry(list, at, tls13).unwrap_or_default();
            at = next;
            der
        })
    }
}

/// The certificate of the chain entry at `at` of `list`, and where the next entry starts.
fn cert_entry(list: &[u8], at: usize, tls13: bool) -> Option<(&[u8], usize)> {
    let len = be24(list, at)?;
    let der = list.get(at + 3..at + 3 + len)?;
    let mut next = at + 3 + len;
    if tls13 {
        next += 2 + usize::from(be16(list, next)?);
    }
    Some((der, next))
}

/// The DER certificates of a Certificate message, if every entry is whole. TLS 1.3 adds a
/// request context before the list and extensions after each entry (RFC 8446 section 4.4.2).
pub fn certificate_chain(body: &[u8], tls13: bool) -> Option<CertChain<'_>> {
    let mut at = 0;
    if tls13 {
        at = 1 + usize::from(*body.first()?);
    }
    let total = be24(body, at)?;
    let list = body.get(at + 3..at + 3 + total)?;
    let mut len = 0;
    let mut i = 0;
    while i < list.len() {
        (_, i) = cert_entry(list, i, tls13)?;
        len += 1;
    }
    Some(CertChain { list, tls13, len })
}

/// The key exchange a ServerKeyExchange describes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ServerKeyExchange {
    /// `ecdhe`, `dhe` or `rsa` (export).
    pub kind: &'static str,
    /// Named curve for ECDHE.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Size of the server's public value: EC point bytes, or DH public value bits.
    pub public_size: usize,
    /// DHE prime size in bits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dh_bits: Option<usize>,
    /// Signature scheme (TLS 1.2); older versions imply it from the certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature_algorithm: Option<String>,
    pub signature_len: usize,
    /// The signed parameters (for checking the signature against the certificate later).
    #[serde(skip)]
    pub params: Vec<u8>,
    #[serde(skip)]
    pub signature: Vec<u8>,
    #[serde(skip)]
    pub scheme: Option<u16>,
}

fn significant_bits(n: &[u8]) -> usize {
    match n.iter().position(|b| *b != 0) {
        Some(i) => (n.len() - i) * 8 - n[i].leading_zeros() as usize,
        None => 0,
    }
}

/// Reads `[scheme(2) if TLS 1.2] len(2) signature` after the parameters.
fn signature(rest: &[u8], with_scheme: bool) -> Option<(Option<u16>, &[u8])> {
    let (scheme, rest) = if with_scheme {
        (Some(be16(rest, 0)?), rest.get(2..)?)
    } else {
        (None, rest)
    };
    let len = usize::from(be16(rest, 0)?);
    Some((scheme, rest.get(2..2 + len)?))
}

/// Parses a ServerKeyExchange for the negotiated cipher suite and version; the signed
/// parameters and the signature are copied only with `keep_raw` (for a later check).
pub fn server_key_exchange(
    body: &[u8],
    cipher: u16,
    version: u16,
    keep_raw: bool,
) -> Option<ServerKeyExchange> {
    let kx = cipher_suite(cipher).map(|c| c.kx)?;
    let tls12 = version >= 0x0303;
    let (mut ske, rest) = match kx {
        TlsCipherKx::Ecdhe | TlsCipherKx::Ecdh => {
            let (rest, p) = parse_ecdh_params(body).ok()?;
            let group = match p.curve_params.params_content {
                ECParametersContent::NamedGroup(g) => Some(group_name(g.0).into_owned()),
                ECParametersContent::ExplicitPrime(_) => Some("explicit_prime".to_string()),
            };
            let ske = ServerKeyExchange {
                kind: "ecdhe",
                group,
                public_size: p.public.point.len(),
                ..ServerKeyExchange::default()
            };
            (ske, rest)
        }
        TlsCipherKx::Dhe | TlsCipherKx::Dh => {
            let (rest, p) = parse_dh_params(body).ok()?;
            let ske = ServerKeyExchange {
                kind: "dhe",
                public_size: significant_bits(p.dh_ys),
                dh_bits: Some(significant_bits(p.dh_p)),
                ..ServerKeyExchange::default()
            };
            (ske, rest)
        }
        TlsCipherKx::Rsa => {
            // Export RSA: modulus and exponent, then the signature.
            let m = usize::from(be16(body, 0)?);
            let modulus = body.get(2..2 + m)?;
            let e = usize::from(be16(body, 2 + m)?);
            let rest = body.get(4 + m + e..)?;
            let ske = ServerKeyExchange {
                kind: "rsa",
                public_size: significant_bits(modulus),
                ..ServerKeyExchange::default()
            };
            (ske, rest)
        }
        _ => return None,
    };
    let params = body.get(..body.len() - rest.len())?;
    if keep_raw {
        ske.params = params.to_vec();
    }
    if let Some((scheme, sig)) = signature(rest, tls12) {
        ske.scheme = scheme;
        ske.signature_algorithm = scheme.map(|s| signature_scheme_name(s).into_owned());
        ske.signature_len = sig.len();
        if keep_raw {
            ske.signature = sig.to_vec();
        }
    }
    Some(ske)
}

/// What the server asked of the client's certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CertificateRequest {
    /// ClientCertificateType names (`rsa_sign`, `ecdsa_sign`, ...).
    pub certificate_types: Vec<Cow<'static, str>>,
    pub signature_algorithms: Vec<Cow<'static, str>>,
    /// Acceptable CA distinguished names.
    pub certificate_authorities: Vec<String>,
}

fn client_certificate_type(v: u8) -> Cow<'static, str> {
    match v {
        1 => "rsa_sign".into(),
        2 => "dss_sign".into(),
        3 => "rsa_fixed_dh".into(),
        4 => "dss_fixed_dh".into(),
        64 => "ecdsa_sign".into(),
        65 => "rsa_fixed_ecdh".into(),
        66 => "ecdsa_fixed_ecdh".into(),
        v => format!("{v}").into(),
    }
}

thread_local! {
    /// A server sends the same CertificateRequest (CA names included) to every client.
    static REQUESTS: std::cell::RefCell<super::memo::Memo<Option<Arc<CertificateRequest>>>> =
        std::cell::RefCell::new(super::memo::Memo::new(64, 16 * 1024));
}

/// Parses a TLS 1.0–1.2 CertificateRequest (TLS 1.3's is encrypted and never seen).
pub fn certificate_request(body: &[u8]) -> Option<Arc<CertificateRequest>> {
    REQUESTS.with(|m| {
        m.borrow_mut()
            .get_or_make(body, || certificate_request_uncached(body).map(Arc::new))
    })
}

fn certificate_request_uncached(body: &[u8]) -> Option<CertificateRequest> {
    let (_, cr) = parse_tls_handshake_certificaterequest(body).ok()?;
    Some(CertificateRequest {
        certificate_types: cr
            .cert_types
            .iter()
            .map(|t| client_certificate_type(*t))
            .collect(),
        signature_algorithms: cr
            .sig_hash_algs
            .unwrap_or_default()
            .iter()
            .map(|s| signature_scheme_name(*s))
            .collect(),
        certificate_authorities: cr
            .unparsed_ca
            .iter()
            .map(|dn| match X509Name::from_der(dn) {
                Ok((_, name)) => name.to_string(),
                Err(_) => super::cert::hex(dn),
            })
            .collect(),
    })
}

/// The client's key exchange value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ClientKeyExchange {
    /// `ecdhe`, `dhe` or `rsa`.
    pub kind: &'static str,
    /// Bytes of the EC point, DH public value or RSA-encrypted premaster secret.
    pub size: usize,
}

/// Parses a ClientKeyExchange for the negotiated cipher suite (SSL 3.0 RSA has no length).
pub fn client_key_exchange(body: &[u8], cipher: u16, version: u16) -> Option<ClientKeyExchange> {
    let kx = cipher_suite(cipher).map(|c| c.kx)?;
    Some(match kx {
        TlsCipherKx::Ecdhe | TlsCipherKx::Ecdh => ClientKeyExchange {
            kind: "ecdhe",
            size: usize::from(*body.first()?),
        },
        TlsCipherKx::Dhe | TlsCipherKx::Dh => ClientKeyExchange {
            kind: "dhe",
            size: usize::from(be16(body, 0)?),
        },
        TlsCipherKx::Rsa if version == 0x0300 => ClientKeyExchange {
            kind: "rsa",
            size: body.len(),
        },
        TlsCipherKx::Rsa => ClientKeyExchange {
            kind: "rsa",
            size: usize::from(be16(body, 0)?),
        },
        _ => return None,
    })
}

/// A CertificateVerify's signature.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CertificateVerify {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature_algorithm: Option<String>,
    pub signature_len: usize,
    #[serde(skip)]
    pub scheme: Option<u16>,
    #[serde(skip)]
    pub signature: Vec<u8>,
}

/// Parses a CertificateVerify (the scheme is present from TLS 1.2 on); the signature is
/// copied only with `keep_raw`.
pub fn certificate_verify(body: &[u8], version: u16, keep_raw: bool) -> Option<CertificateVerify> {
    let (scheme, sig) = signature(body, version >= 0x0303)?;
    Some(CertificateVerify {
        signature_algorithm: scheme.map(|s| signature_scheme_name(s).into_owned()),
        signature_len: sig.len(),
        scheme,
        signature: if keep_raw { sig.to_vec() } else { Vec::new() },
    })
}

/// A TLS 1.2 NewSessionTicket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NewSessionTicket {
    pub lifetime_hint: u32,
    pub ticket_len: usize,
}

pub fn new_session_ticket(body: &[u8]) -> Option<NewSessionTicket> {
    let lifetime = u32::from_be_bytes(body.get(0..4)?.try_into().ok()?);
    let len = usize::from(be16(body, 4)?);
    body.get(6..6 + len)?;
    Some(NewSessionTicket {
        lifetime_hint: lifetime,
        ticket_len: len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_chain_of_tls12_and_tls13_layouts() {
        let mut b = vec![0, 0, 10, 0, 0, 2, 0xaa, 0xbb, 0, 0, 2, 0xcc, 0xdd];
        b[2] = 10;
        fn certs(chain: CertChain<'_>) -> Vec<&[u8]> {
            chain.iter().collect()
        }
        let chain = certificate_chain(&b, false).unwrap();
        assert_eq!(chain.len(), 2);
        assert_eq!(chain.iter().len(), 2);
        assert_eq!(certs(chain), [&[0xaa, 0xbb][..], &[0xcc, 0xdd][..]]);
        let tls13 = [0, 0, 0, 7, 0, 0, 2, 0xaa, 0xbb, 0, 0];
        assert_eq!(
            certs(certificate_chain(&tls13, true).unwrap()),
            [&[0xaa, 0xbb][..]]
        );
        assert_eq!(certificate_chain(&b[..8], false), None);
        // A TLS 1.3 entry without its extensions' length is not whole.
        assert_eq!(certificate_chain(&tls13[..9], true), None);
        assert!(certificate_chain(&[0, 0, 0], false).unwrap().is_empty());
    }

    #[test]
    fn ecdhe_server_key_exchange_names_curve_and_signature() {
        // secp256r1, a 3-byte "point", rsa_pss_rsae_sha256, 2-byte signature.
        let body = [3, 0, 23, 3, 4, 1, 2, 0x08, 0x04, 0, 2, 0xde, 0xad];
        let ske = server_key_exchange(&body, 0xc02f, 0x0303, true).unwrap();
        assert_eq!(ske.kind, "ecdhe");
        assert_eq!(ske.group.as_deref(), Some("secp256r1"));
        assert_eq!(ske.public_size, 3);
        assert_eq!(
            ske.signature_algorithm.as_deref(),
            Some("rsa_pss_rsae_sha256")
        );
        assert_eq!(ske.signature, [0xde, 0xad]);
        assert_eq!(ske.params, body[..7]);
        // TLS 1.0 carries no scheme before the signature.
        let old = [3, 0, 23, 1, 4, 0, 1, 0xee];
        let ske = server_key_exchange(&old, 0xc013, 0x0301, true).unwrap();
        assert_eq!(ske.signature_algorithm, None);
        assert_eq!(ske.signature_len, 1);
    }

    #[test]
    fn dhe_server_key_exchange_measures_the_prime() {
        let mut body = vec![0, 3, 0x01, 0xff, 0xff, 0, 1, 2, 0, 2, 0x7f, 0xff];
        body.extend_from_slice(&[0x04, 0x01, 0, 1, 9]);
        let ske = server_key_exchange(&body, 0x009e, 0x0303, true).unwrap();
        assert_eq!(ske.kind, "dhe");
        assert_eq!(ske.dh_bits, Some(17));
        assert_eq!(ske.public_size, 15);
        assert_eq!(ske.signature_algorithm.as_deref(), Some("rsa_pkcs1_sha256"));
    }

    #[test]
    fn key_exchange_sizes_by_cipher_suite() {
        let cke = client_key_exchange(&[65, 4], 0xc02f, 0x0303).unwrap();
        assert_eq!((cke.kind, cke.size), ("ecdhe", 65));
        let cke = client_key_exchange(&[1, 0, 0], 0x002f, 0x0303).unwrap();
        assert_eq!((cke.kind, cke.size), ("rsa", 256));
        let cke = client_key_exchange(&[0u8; 128], 0x002f, 0x0300).unwrap();
        assert_eq!((cke.kind, cke.size), ("rsa", 128));
    }

    #[test]
    fn certificate_request_lists_types_schemes_and_cas() {
        let body = [1, 64, 0, 2, 0x04, 0x03, 0, 0];
        let cr = certificate_request(&body).unwrap();
        assert_eq!(cr.certificate_types, ["ecdsa_sign"]);
        assert_eq!(cr.signature_algorithms, ["ecdsa_secp256r1_sha256"]);
        assert!(cr.certificate_authorities.is_empty());
    }

    #[test]
    fn certificate_verify_and_ticket() {
        let cv = certificate_verify(&[0x04, 0x01, 0, 2, 1, 2], 0x0303, true).unwrap();
        assert_eq!(cv.signature_algorithm.as_deref(), Some("rsa_pkcs1_sha256"));
        assert_eq!(cv.signature_len, 2);
        let t = new_session_ticket(&[0, 0, 0x1c, 0x20, 0, 1, 9]).unwrap();
        assert_eq!((t.lifetime_hint, t.ticket_len), (7200, 1));
        assert_eq!(new_session_ticket(&[0, 0, 0x1c, 0x20, 0, 5, 9]), None);
    }
}
