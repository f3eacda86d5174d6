//! Certificates from a TLS Certificate message, summarised for the `tls_handshake` event.
//!
//! x509-parser does the DER work; this file only picks the fields CONTRACT.md lists (subject,
//! issuer, serial, validity, SAN, SHA-256 of the DER) plus the key and signature algorithm, and
//! never fails: a certificate that does not parse is still listed, by its hash, with `error`
//! saying why, since the bytes on the wire are a fact worth reporting.
//!
//! Servers send the same chain to every client, so each thread keeps the summaries of the
//! certificates it saw last (a bounded cache keyed by the whole DER): a busy capture parses
//! and hashes each distinct certificate once, not once per handshake.

use std::cell::RefCell;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use x509_parser::objects::{oid_registry, oid2sn};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
use x509_parser::public_key::PublicKey;
use x509_parser::time::ASN1Time;

use super::CertSummary;
use super::memo::Memo;

/// Lowercase hex of `bytes`, no separators.
pub fn hex(bytes: &[u8]) -> String {
    // Into bytes, then one check: `hex::encode` collects `char`s, each encoded as UTF-8 on
    // its own. The output is exactly twice the input's length, so the encoding cannot fail.
    let mut v = vec![0; bytes.len() * 2];
    let _ = hex::encode_to_slice(bytes, &mut v);
    String::from_utf8(v).unwrap_or_default()
}

/// Certificates whose summaries a thread keeps.
const CACHE_ENTRIES: usize = 512;
/// Certificates larger than this are summarised afresh each time, not kept.
const CACHE_MAX_DER: usize = 16 * 1024;

thread_local! {
    static CACHE: RefCell<Memo<Arc<CertSummary>>> = RefCell::new(Memo::new(CACHE_ENTRIES, CACHE_MAX_DER));
}

fn rfc3339(t: ASN1Time) -> String {
    let d = t.to_datetime();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        d.year(),
        u8::from(d.month()),
        d.day(),
        d.hour(),
        d.minute(),
        d.second()
    )
}

fn algorithm_name(oid: &x509_parser::der_parser::oid::Oid<'_>) -> String {
    oid2sn(oid, oid_registry())
        .map(str::to_string)
        .unwrap_or_else(|_| oid.to_id_string())
}

/// Public key type and size: `RSA 2048`, `EC P-256`, `Ed25519`.
fn key_description(cert: &X509Certificate<'_>) -> String {
    let spki = cert.public_key();
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => format!("RSA {}", rsa.key_size()),
        Ok(PublicKey::EC(point)) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|oid| match oid.to_id_string().as_str() {
                    "1.2.840.10045.3.1.7" => "P-256".to_string(),
                    "1.3.132.0.34" => "P-384".to_string(),
                    "1.3.132.0.35" => "P-521".to_string(),
                    other => oid2sn(&oid, oid_registry())
                        .map(str::to_string)
                        .unwrap_or_else(|_| other.to_string()),
                });
            match curve {
                Some(c) => format!("EC {c}"),
                None => format!("EC {}", point.key_size()),
            }
        }
        Ok(PublicKey::DSA(y)) => format!("DSA {}", y.len() * 8),
        Ok(other) => {
            let name = algorithm_name(&spki.algorithm.algorithm);
            match other.key_size() {
                0 => name,
                n => format!("{name} {n}"),
            }
        }
        Err(_) => algorithm_name(&spki.algorithm.algorithm),
    }
}

fn san_entries(cert: &X509Certificate<'_>) -> Vec<String> {
    let Ok(Some(ext)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    ext.value
        .general_names
        .iter()
        .map(|n| match n {
            GeneralName::DNSName(s) => s.to_string(),
            GeneralName::RFC822Name(s) => s.to_string(),
            GeneralName::URI(s) => s.to_string(),
            GeneralName::IPAddress(b) => match b.len() {
                4 => std::net::Ipv4Addr::from(<[u8; 4]>::try_from(*b).unwrap_or_default())
                    .to_string(),
                16 => std::net::Ipv6Addr::from(<[u8; 16]>::try_from(*b).unwrap_or_default())
                    .to_string(),
                _ => hex(b),
            },
            other => other.to_string(),
        })
        .collect()
}

/// Summarises one DER certificate (from this thread's memo when it was seen lately).
pub fn summarize(der: &[u8]) -> Arc<CertSummary> {
    CACHE.with(|c| {
        c.borrow_mut()
            .get_or_make(der, || Arc::new(summarize_uncached(der)))
    })
}

/// Summarises one DER certificate by parsing it.
fn summarize_uncached(der: &[u8]) -> CertSummary {
    let sha256 = hex(&Sha256::digest(der));
    match X509Certificate::from_der(der) {
        Ok((_, cert)) => CertSummary {
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            serial: hex(cert.raw_serial()),
            not_before: rfc3339(cert.validity().not_before),
            not_after: rfc3339(cert.validity().not_after),
            san: san_entries(&cert),
            sha256,
            key: key_description(&cert),
            signature_algorithm: algorithm_name(&cert.signature_algorithm.algorithm),
            error: None,
        },
        Err(e) => CertSummary {
            sha256,
            error: Some(format!("not a valid X.509 certificate: {e}")),
            ..CertSummary::default()
        },
    }
}

/// The common name of a certificate's subject, if it has one.
pub fn subject_cn(der: &[u8]) -> Option<String> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make_cert() -> Vec<u8> {
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "localhost");
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x00, 0xa1, 0x02]));
        params.not_before = rcgen::date_time_ymd(2026, 1, 2);
        params.not_after = rcgen::date_time_ymd(2027, 3, 4);
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn certificate_fields_are_summarised() {
        let der = make_cert();
        let s = summarize(&der);
        assert_eq!(s.subject, "CN=localhost");
        assert_eq!(s.issuer, "CN=localhost");
        assert_eq!(s.serial, "00a102");
        assert_eq!(s.not_before, "2026-01-02T00:00:00Z");
        assert_eq!(s.not_after, "2027-03-04T00:00:00Z");
        assert_eq!(s.san, ["localhost", "127.0.0.1"]);
        assert_eq!(s.key, "EC P-256");
        assert_eq!(s.signature_algorithm, "ecdsa-with-SHA256");
        assert_eq!(s.sha256, hex(&Sha256::digest(&der)));
        assert_eq!(subject_cn(&der).as_deref(), Some("localhost"));
    }

    #[test]
    fn a_cached_summary_is_the_summary() {
        let der = make_cert();
        let first = summarize(&der);
        assert!(Arc::ptr_eq(&summarize(&der), &first), "shared, not copied");
        assert_eq!(summarize_uncached(&der), *first);
        // Other certificates push it out without changing any answer.
        for i in 0..CACHE_ENTRIES + 3 {
            let mut other = b"\x30\x03\x02\x01".to_vec();
            other.extend_from_slice(&i.to_be_bytes());
            assert_eq!(*summarize(&other), summarize_uncached(&other));
        }
        CACHE.with(|c| assert!(c.borrow().len() <= CACHE_ENTRIES));
        assert_eq!(summarize(&der), first);
    }

    #[test]
    fn hex_is_lowercase_pairs() {
        assert_eq!(hex(&[0x00, 0xa1, 0xff, 0x10]), "00a1ff10");
        assert_eq!(hex(&[]), "");
    }

    #[test]
    fn garbage_is_listed_by_hash_with_a_reason() {
        let s = summarize(b"\x30\x03\x02\x01");
        assert!(s.error.is_some());
        assert_eq!(s.sha256.len(), 64);
        assert!(s.subject.is_empty());
    }
}
