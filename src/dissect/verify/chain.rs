//! Certificate chains and names, judged as a TLS peer judges them, at the time of the capture.
//!
//! rustls-webpki builds and checks the path from the peer's certificate to one of the CA
//! certificates given with `--ca` (signatures, validity, basicConstraints, name constraints,
//! the extended key usage serverAuth or clientAuth), at the capture time of the Certificate
//! message rather than now: a capture replayed years later still says what the peer saw.
//! webpki ignores the end-entity keyUsage as browsers do; OpenSSL does not, so the leaf's
//! keyUsage, when present, must allow what the handshake used the key for (RFC 5280 section
//! 4.2.1.3). Name matching is webpki's (RFC 6125: subjectAltName, wildcards, IP addresses),
//! with the subject common name compared only where the lab's own check compares it.

use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, TrustAnchor, UnixTime};
use webpki::{EndEntityCert, Error as WebpkiError, KeyUsage};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use crate::event::Timestamp;

/// Why the `--ca` file cannot be used, as the end of a sentence naming the file.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// A PEM block is damaged.
    #[error("is not valid PEM ({0})")]
    Pem(String),
    /// No `CERTIFICATE` block.
    #[error("holds no PEM certificate")]
    Empty,
    /// A certificate webpki cannot take as a trust anchor.
    #[error("holds a certificate (number {index}) that cannot be parsed as a CA ({reason})")]
    Anchor { index: usize, reason: String },
}

/// The CA certificates a session's chains must lead to.
#[derive(Debug, Clone)]
pub struct TrustStore {
    anchors: Vec<TrustAnchor<'static>>,
    /// Subject of each CA certificate, for messages.
    subjects: Vec<String>,
}

impl TrustStore {
    /// Every certificate of a PEM text.
    pub fn from_pem(pem: &[u8]) -> Result<Self, CaError> {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<_, _>>()
            .map_err(|e| CaError::Pem(e.to_string()))?;
        if certs.is_empty() {
            return Err(CaError::Empty);
        }
        let mut anchors = Vec::new();
        let mut subjects = Vec::new();
        for (i, der) in certs.iter().enumerate() {
            let anchor = webpki::anchor_from_trusted_cert(der).map_err(|e| CaError::Anchor {
                index: i + 1,
                reason: format!("{e:?}"),
            })?;
            anchors.push(anchor.to_owned());
            subjects.push(subject(der).unwrap_or_else(|| "an unreadable subject".into()));
        }
        Ok(TrustStore { anchors, subjects })
    }

    /// `CN=capd lab CA` (or a list, for a bundle).
    pub fn describe(&self) -> String {
        match self.subjects.as_slice() {
            [one] => one.clone(),
            many => format!("one of {} CAs", many.len()),
        }
    }
}

/// The role a chain is judged for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Server,
    Client,
}

impl Role {
    fn usage(self) -> KeyUsage {
        match self {
            Role::Server => KeyUsage::server_auth(),
            Role::Client => KeyUsage::client_auth(),
        }
    }

    fn eku(self) -> &'static str {
        match self {
            Role::Server => "serverAuth",
            Role::Client => "clientAuth",
        }
    }
}

/// What the handshake used the leaf's key for, which its keyUsage must allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUse {
    /// Signing (ECDHE/DHE ServerKeyExchange, CertificateVerify): digitalSignature.
    Sign,
    /// RSA key exchange: keyEncipherment.
    Encipher,
}

/// `CN=localhost, O=...` of a DER certificate, if it parses.
pub fn subject(der: &[u8]) -> Option<String> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    Some(cert.subject().to_string())
}

/// The first common name of a DER certificate's subject.
pub fn common_name(der: &[u8]) -> Option<String> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    Some(cn.as_str().unwrap_or("(not text)").to_string())
}

/// `2025-11-25T18:00:00Z`.
pub fn utc(secs: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(secs) {
        Ok(d) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            d.year(),
            u8::from(d.month()),
            d.day(),
            d.hour(),
            d.minute(),
            d.second()
        ),
        Err(_) => format!("{secs} s after the epoch"),
    }
}

fn unix(ts: Timestamp) -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(u64::try_from(ts.secs).unwrap_or(0)))
}

/// Checks `chain` (leaf first, as sent) against `store` for `role` at capture time `at`.
/// Returns a phrase for the check's detail either way.
pub fn verify_chain(
    store: &TrustStore,
    chain: &[Vec<u8>],
    at: Timestamp,
    role: Role,
    key_use: KeyUse,
) -> Result<String, String> {
    let Some((leaf, rest)) = chain.split_first() else {
        return Err("is empty".into());
    };
    let leaf_der = CertificateDer::from(leaf.as_slice());
    let intermediates: Vec<CertificateDer<'_>> = rest
        .iter()
        .map(|c| CertificateDer::from(c.as_slice()))
        .collect();
    let ee = EndEntityCert::try_from(&leaf_der)
        .map_err(|e| format!("cannot be parsed as an end-entity certificate ({e:?})"))?;
    let time = unix(at);
    let path = ee
        .verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &store.anchors,
            &intermediates,
            time,
            role.usage(),
            None,
            None,
        )
        .map_err(|e| path_error(&e, role))?;
    key_usage_allows(leaf, key_use)?;
    let via = path.intermediate_certificates().count();
    let via = match via {
        0 => String::new(),
        1 => " through 1 intermediate".into(),
        n => format!(" through {n} intermediates"),
    };
    Ok(format!(
        "chains to {}{via}, valid at {} (the capture's time), for {}",
        store.describe(),
        utc(at.secs),
        role.eku()
    ))
}

/// A webpki path error as a phrase about the chain.
fn path_error(e: &WebpkiError, role: Role) -> String {
    match e {
        WebpkiError::UnknownIssuer => "does not chain to the CA (unknown issuer)".into(),
        WebpkiError::CertExpired { time, not_after } => format!(
            "had expired at the capture's time {} (not valid after {})",
            utc(time.as_secs() as i64),
            utc(not_after.as_secs() as i64)
        ),
        WebpkiError::CertNotValidYet { time, not_before } => format!(
            "was not yet valid at the capture's time {} (not valid before {})",
            utc(time.as_secs() as i64),
            utc(not_before.as_secs() as i64)
        ),
        WebpkiError::RequiredEkuNotFoundContext(_) => format!(
            "is not for {} (its extended key usage does not allow it)",
            role.eku()
        ),
        WebpkiError::InvalidSignatureForPublicKey => {
            "was not signed by the CA: its issuer's signature does not verify with the key of the CA it names".into()
        }
        WebpkiError::CaUsedAsEndEntity => "ends in a CA certificate, not an end-entity one".into(),
        WebpkiError::EndEntityUsedAsCa => "uses an end-entity certificate as an issuer".into(),
        WebpkiError::PathLenConstraintViolated => {
            "is longer than a CA's path length constraint allows".into()
        }
        WebpkiError::NameConstraintViolation => "breaks a CA's name constraints".into(),
        other => format!("fails path validation ({other:?})"),
    }
}

/// The leaf's keyUsage, when present, must allow what the handshake did with the key.
fn key_usage_allows(leaf: &[u8], key_use: KeyUse) -> Result<(), String> {
    let (_, cert) =
        X509Certificate::from_der(leaf).map_err(|e| format!("cannot be parsed ({e})"))?;
    let ku = match cert.key_usage() {
        Ok(Some(ext)) => ext.value,
        Ok(None) => return Ok(()),
        Err(e) => return Err(format!("has a damaged keyUsage extension ({e})")),
    };
    let (ok, needed) = match key_use {
        KeyUse::Sign => (ku.digital_signature(), "digitalSignature"),
        KeyUse::Encipher => (ku.key_encipherment(), "keyEncipherment"),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "has a keyUsage without {needed}, which this handshake needed"
        ))
    }
}

/// Checks that the leaf certificate names `name` as a TLS client connecting to `name`
/// checks it (webpki: subjectAltName; without any subjectAltName, the common name, as RFC
/// 6125 section 6.4.4 allows). With `require_cn`, the subject's common name must also be
/// `name` exactly, as the lab's own check requires.
pub fn verify_name(leaf: &[u8], name: &str, require_cn: bool) -> Result<String, String> {
    let (_, cert) = X509Certificate::from_der(leaf)
        .map_err(|e| format!("the certificate cannot be parsed ({e})"))?;
    let cn = common_name(leaf);
    if require_cn && cn.as_deref() != Some(name) {
        return Err(match cn {
            Some(cn) => format!("the certificate's common name is \"{cn}\", not \"{name}\""),
            None => format!("the certificate has no common name, expected \"{name}\""),
        });
    }
    let sans: Vec<String> = match cert.subject_alternative_name() {
        Ok(Some(ext)) => ext
            .value
            .general_names
            .iter()
            .filter_map(|g| match g {
                GeneralName::DNSName(d) => Some((*d).to_string()),
                GeneralName::IPAddress(ip) => ip_text(ip),
                _ => None,
            })
            .collect(),
        Ok(None) => Vec::new(),
        Err(e) => return Err(format!("the certificate's subjectAltName is damaged ({e})")),
    };
    if sans.is_empty() {
        // No subjectAltName: clients fall back to the common name.
        return match cn {
            Some(cn) if cn.eq_ignore_ascii_case(name) => Ok(format!(
                "the certificate's common name \"{cn}\" matches \"{name}\" (it has no subjectAltName)"
            )),
            Some(cn) => Err(format!(
                "the certificate names \"{cn}\" (common name, no subjectAltName), not \"{name}\""
            )),
            None => Err(format!(
                "the certificate has neither a subjectAltName nor a common name to match \"{name}\""
            )),
        };
    }
    let Ok(server_name) = ServerName::try_from(name) else {
        return Err(format!(
            "\"{name}\" is neither a DNS name nor an IP address, and the certificate's subjectAltName ({}) names only those",
            sans.join(", ")
        ));
    };
    let leaf_der = CertificateDer::from(leaf);
    let ee = EndEntityCert::try_from(&leaf_der)
        .map_err(|e| format!("the certificate cannot be parsed ({e:?})"))?;
    let cn_part = if require_cn {
        format!("common name is \"{name}\" and its ")
    } else {
        String::new()
    };
    match ee.verify_is_valid_for_subject_name(&server_name) {
        Ok(()) => Ok(format!(
            "the certificate's {cn_part}subjectAltName ({}) covers \"{name}\"",
            sans.join(", ")
        )),
        Err(_) => Err(format!(
            "the certificate's subjectAltName ({}) does not cover \"{name}\"",
            sans.join(", ")
        )),
    }
}

fn ip_text(b: &[u8]) -> Option<String> {
    match b.len() {
        4 => Some(std::net::Ipv4Addr::from(<[u8; 4]>::try_from(b).ok()?).to_string()),
        16 => Some(std::net::Ipv6Addr::from(<[u8; 16]>::try_from(b).ok()?).to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };

    struct Ca {
        pem: String,
        issuer: Issuer<'static, KeyPair>,
    }

    fn ca(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::default();
        p.distinguished_name.push(DnType::CommonName, name);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(2040, 1, 1);
        let cert = p.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(p, key),
        }
    }

    fn leaf(ca: &Ca, cn: &str, edit: impl FnOnce(&mut CertificateParams)) -> Vec<u8> {
        let mut p = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        p.not_before = rcgen::date_time_ymd(2024, 1, 1);
        p.not_after = rcgen::date_time_ymd(2026, 1, 1);
        edit(&mut p);
        let key = KeyPair::generate().unwrap();
        p.signed_by(&key, &ca.issuer).unwrap().der().to_vec()
    }

    /// 2025-06-01, inside the leaves' validity.
    const CAPTURED: Timestamp = Timestamp::new(1_748_736_000, 0);

    fn store(ca: &Ca) -> TrustStore {
        TrustStore::from_pem(ca.pem.as_bytes()).unwrap()
    }

    fn check(
        ca: &Ca,
        leaf: &[u8],
        at: Timestamp,
        role: Role,
        key_use: KeyUse,
    ) -> Result<String, String> {
        verify_chain(&store(ca), &[leaf.to_vec()], at, role, key_use)
    }

    #[test]
    fn a_good_chain_verifies_for_both_roles_at_the_capture_time() {
        let ca = ca("test CA");
        let der = leaf(&ca, "localhost", |_| {});
        for role in [Role::Server, Role::Client] {
            let ok = check(&ca, &der, CAPTURED, role, KeyUse::Sign);
            assert!(
                ok.as_ref().is_ok_and(|d| d.contains("CN=test CA")),
                "{ok:?}"
            );
        }
    }

    #[test]
    fn a_chain_from_another_ca_is_an_unknown_issuer() {
        let (good, other) = (ca("test CA"), ca("rogue CA"));
        let der = leaf(&other, "localhost", |_| {});
        let err = check(&good, &der, CAPTURED, Role::Client, KeyUse::Sign).unwrap_err();
        assert!(err.contains("unknown issuer"), "{err}");
    }

    #[test]
    fn validity_is_judged_at_the_capture_time_not_now() {
        let ca = ca("test CA");
        let der = leaf(&ca, "localhost", |p| {
            p.not_before = rcgen::date_time_ymd(2019, 1, 1);
            p.not_after = rcgen::date_time_ymd(2021, 1, 1);
        });
        let err = check(&ca, &der, CAPTURED, Role::Server, KeyUse::Sign).unwrap_err();
        assert!(
            err.contains("had expired") && err.contains("2021-01-01T00:00:00Z"),
            "{err}"
        );
        // A capture made while it was valid still passes.
        let in_2020 = Timestamp::new(1_590_000_000, 0);
        assert!(check(&ca, &der, in_2020, Role::Server, KeyUse::Sign).is_ok());
        let too_early = Timestamp::new(1_500_000_000, 0);
        let err = check(&ca, &der, too_early, Role::Server, KeyUse::Sign).unwrap_err();
        assert!(err.contains("not yet valid"), "{err}");
    }

    #[test]
    fn the_extended_key_usage_must_allow_the_role() {
        let ca = ca("test CA");
        let client_only = leaf(&ca, "localhost", |p| {
            p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        });
        let err = check(&ca, &client_only, CAPTURED, Role::Server, KeyUse::Sign).unwrap_err();
        assert!(err.contains("not for serverAuth"), "{err}");
        assert!(check(&ca, &client_only, CAPTURED, Role::Client, KeyUse::Sign).is_ok());
    }

    #[test]
    fn the_key_usage_must_allow_signing_when_the_handshake_signed() {
        let ca = ca("test CA");
        let encipher_only = leaf(&ca, "localhost", |p| {
            p.key_usages = vec![KeyUsagePurpose::KeyEncipherment];
        });
        let err = check(&ca, &encipher_only, CAPTURED, Role::Server, KeyUse::Sign).unwrap_err();
        assert!(err.contains("without digitalSignature"), "{err}");
        assert!(
            check(
                &ca,
                &encipher_only,
                CAPTURED,
                Role::Server,
                KeyUse::Encipher
            )
            .is_ok()
        );
    }

    #[test]
    fn a_ca_certificate_is_not_an_end_entity() {
        let ca = ca("test CA");
        let der = CertificateDer::pem_slice_iter(ca.pem.as_bytes())
            .next()
            .unwrap()
            .unwrap()
            .to_vec();
        assert!(check(&ca, &der, CAPTURED, Role::Server, KeyUse::Sign).is_err());
    }

    #[test]
    fn names_match_by_subject_alt_name_and_the_lab_also_wants_the_common_name() {
        let ca = ca("test CA");
        let der = leaf(&ca, "localhost", |_| {});
        assert!(verify_name(&der, "localhost", true).is_ok());
        assert!(verify_name(&der, "127.0.0.1", false).is_ok());
        let err = verify_name(&der, "example.com", false).unwrap_err();
        assert!(err.contains("does not cover \"example.com\""), "{err}");
        // CN=mallory with a SAN still covering localhost: a TLS client would accept it, the
        // lab (and --expect-cn) would not.
        let mallory = leaf(&ca, "mallory", |_| {});
        assert!(verify_name(&mallory, "localhost", false).is_ok());
        let err = verify_name(&mallory, "localhost", true).unwrap_err();
        assert!(err.contains("\"mallory\", not \"localhost\""), "{err}");
        // Without any SAN, the common name is what is matched.
        let bare = leaf(&ca, "localhost", |p| p.subject_alt_names.clear());
        assert!(verify_name(&bare, "localhost", false).is_ok());
        assert!(verify_name(&bare, "other", false).is_err());
    }

    #[test]
    fn bad_ca_files_are_refused_with_a_reason() {
        assert!(matches!(TrustStore::from_pem(b""), Err(CaError::Empty)));
        assert!(matches!(
            TrustStore::from_pem(b"not pem at all"),
            Err(CaError::Empty)
        ));
        let broken = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(TrustStore::from_pem(broken).is_err());
    }

    #[test]
    fn garbage_certificates_fail_without_panicking() {
        let ca = ca("test CA");
        for bytes in [vec![], vec![0x30, 0x03, 1, 2, 3], vec![0xff; 40]] {
            assert!(check(&ca, &bytes, CAPTURED, Role::Server, KeyUse::Sign).is_err());
            assert!(verify_name(&bytes, "localhost", true).is_err());
        }
        assert!(verify_chain(&store(&ca), &[], CAPTURED, Role::Server, KeyUse::Sign).is_err());
    }
}
