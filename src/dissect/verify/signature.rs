//! Handshake signatures checked against a certificate's public key: the ServerKeyExchange's
//! signature over the randoms and key exchange parameters (RFC 5246 section 7.4.3, RFC 4492
//! section 5.4, RFC 2246 section 7.4.3) and the client's CertificateVerify over the handshake
//! transcript (RFC 5246 section 7.4.8, RFC 2246 section 7.4.8).
//!
//! *ring* does the cryptography where it can. TLS 1.2 names the scheme beside the signature;
//! TLS 1.0 and 1.1 imply it from the key: RSA signs the MD5 and SHA-1 digests concatenated,
//! with PKCS #1 v1.5 padding but no DigestInfo (which *ring* cannot check, so that one check is
//! done here with a big-integer power and a byte-for-byte comparison with the expected
//! encoding, as RFC 8017 section 8.2.2 verifies), and ECDSA signs a SHA-1 digest, which *ring*
//! does not pair with ECDSA, so RustCrypto's p256 and p384 verify that one. Anything else (DSA,
//! P-521, Ed448) is reported as not checkable rather than guessed at.
//!
//! What was signed is put together by the caller (`super`); this file only knows keys,
//! schemes and signatures, and never panics on any bytes.

use md5::Md5;
use num_bigint::BigUint;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey, VerificationAlgorithm};
use sha2::Digest;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

use crate::dissect::names::signature_scheme_name;

/// A certificate's public key, as far as handshake signatures go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// An RSA key; `pss_only` for an RSASSA-PSS key (RFC 4055), usable only with PSS.
    Rsa {
        modulus: Vec<u8>,
        exponent: Vec<u8>,
        pss_only: bool,
    },
    /// An EC key on a curve *ring* knows, as the uncompressed point.
    Ec {
        curve: Curve,
        point: Vec<u8>,
    },
    Ed25519(Vec<u8>),
    /// Anything else, by its description (`DSA 2048`, `EC secp521r1`).
    Other(String),
}

/// The named curves *ring* verifies ECDSA on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
}

impl Key {
    /// The subject public key of a DER certificate.
    pub fn from_certificate(der: &[u8]) -> Result<Key, String> {
        let (_, cert) = X509Certificate::from_der(der)
            .map_err(|e| format!("the certificate cannot be parsed ({e})"))?;
        let spki = cert.public_key();
        let alg = spki.algorithm.algorithm.to_id_string();
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok())
            .map(|o| o.to_id_string());
        Ok(match (alg.as_str(), spki.parsed()) {
            ("1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10", Ok(PublicKey::RSA(rsa))) => {
                Key::Rsa {
                    modulus: strip_zeros(rsa.modulus).to_vec(),
                    exponent: strip_zeros(rsa.exponent).to_vec(),
                    pss_only: alg.ends_with(".10"),
                }
            }
            ("1.2.840.10045.2.1", Ok(PublicKey::EC(point))) => match curve.as_deref() {
                Some("1.2.840.10045.3.1.7") => Key::Ec {
                    curve: Curve::P256,
                    point: point.data().to_vec(),
                },
                Some("1.3.132.0.34") => Key::Ec {
                    curve: Curve::P384,
                    point: point.data().to_vec(),
                },
                other => Key::Other(format!("EC {}", other.unwrap_or("with explicit curve"))),
            },
            ("1.3.101.112", _) => Key::Ed25519(spki.subject_public_key.data.to_vec()),
            (alg, Ok(k)) => Key::Other(match k.key_size() {
                0 => alg.to_string(),
                n => format!("{alg} {n}"),
            }),
            (alg, Err(_)) => Key::Other(alg.to_string()),
        })
    }

    /// `RSA 2048`, `EC P-256`, ... for messages.
    pub fn describe(&self) -> String {
        match self {
            Key::Rsa { modulus, .. } => format!("RSA {}", bits(modulus)),
            Key::Ec {
                curve: Curve::P256, ..
            } => "EC P-256".into(),
            Key::Ec {
                curve: Curve::P384, ..
            } => "EC P-384".into(),
            Key::Ed25519(_) => "Ed25519".into(),
            Key::Other(d) => d.clone(),
        }
    }
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let i = b.iter().position(|x| *x != 0).unwrap_or(b.len());
    &b[i..]
}

fn bits(n: &[u8]) -> usize {
    let n = strip_zeros(n);
    n.first()
        .map_or(0, |b| n.len() * 8 - b.leading_zeros() as usize)
}

/// How a signature was made: TLS 1.2's named scheme, or the older versions' implied one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// TLS 1.2: the SignatureAndHashAlgorithm sent beside the signature.
    Scheme(u16),
    /// TLS 1.0, 1.1 and SSL 3.0's ServerKeyExchange: MD5+SHA-1 for RSA, SHA-1 for ECDSA.
    Legacy,
}

impl Method {
    /// `ecdsa_secp256r1_sha256`, or `rsa md5+sha1`-style for the implied ones.
    pub fn describe(self, key: &Key) -> String {
        match (self, key) {
            (Method::Scheme(s), _) => signature_scheme_name(s).into_owned(),
            (Method::Legacy, Key::Rsa { .. }) => "RSA MD5+SHA-1 (TLS 1.0/1.1)".into(),
            (Method::Legacy, Key::Ec { .. }) => "ECDSA SHA-1 (TLS 1.0/1.1)".into(),
            (Method::Legacy, _) => "the TLS 1.0/1.1 signature".into(),
        }
    }
}

/// Why a signature check did not pass.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The signature was checked and is wrong.
    #[error("does not verify")]
    Invalid,
    /// The scheme does not fit the key (an RSA scheme with an EC key, a curve mismatch).
    #[error("names {scheme}, which a {key} key cannot make")]
    Mismatch { scheme: String, key: String },
    /// Nothing capd has can check this combination.
    #[error("cannot be checked: {0}")]
    Unsupported(String),
}

/// Verifies `sig` over `message` with `key`, made as `method` says.
pub fn verify(key: &Key, method: Method, message: &[u8], sig: &[u8]) -> Result<(), SignatureError> {
    match method {
        Method::Scheme(scheme) => verify_scheme(key, scheme, message, sig),
        Method::Legacy => match key {
            Key::Rsa {
                modulus,
                exponent,
                pss_only: false,
            } => {
                let mut digests = Md5::digest(message).to_vec();
                digests.extend_from_slice(ring::digest::digest(SHA1, message).as_ref());
                rsa_pkcs1_unprefixed(modulus, exponent, &digests, sig)
            }
            Key::Ec { curve, point } => {
                let digest = ring::digest::digest(SHA1, message);
                ecdsa_prehashed(*curve, point, digest.as_ref(), sig)
            }
            other => Err(SignatureError::Unsupported(format!(
                "TLS 1.0/1.1 signatures with a {} key are not supported",
                other.describe()
            ))),
        },
    }
}

static SHA1: &ring::digest::Algorithm = &ring::digest::SHA1_FOR_LEGACY_USE_ONLY;

fn verify_scheme(key: &Key, scheme: u16, message: &[u8], sig: &[u8]) -> Result<(), SignatureError> {
    let name = || signature_scheme_name(scheme).into_owned();
    let mismatch = || SignatureError::Mismatch {
        scheme: name(),
        key: key.describe(),
    };
    let unsupported =
        || SignatureError::Unsupported(format!("{} is not among ring's algorithms", name()));
    let sig_type = scheme & 0xff;
    let rsa: Option<&'static signature::RsaParameters> = match scheme {
        0x0201 => Some(&signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY),
        0x0401 => Some(&signature::RSA_PKCS1_2048_8192_SHA256),
        0x0501 => Some(&signature::RSA_PKCS1_2048_8192_SHA384),
        0x0601 => Some(&signature::RSA_PKCS1_2048_8192_SHA512),
        0x0804 | 0x0809 => Some(&signature::RSA_PSS_2048_8192_SHA256),
        0x0805 | 0x080a => Some(&signature::RSA_PSS_2048_8192_SHA384),
        0x0806 | 0x080b => Some(&signature::RSA_PSS_2048_8192_SHA512),
        _ => None,
    };
    match key {
        Key::Rsa {
            modulus,
            exponent,
            pss_only,
        } => {
            let params = rsa.ok_or_else(mismatch)?;
            let is_pss = (0x0804..=0x0806).contains(&scheme) || (0x0809..=0x080b).contains(&scheme);
            if *pss_only && !is_pss {
                return Err(mismatch());
            }
            if bits(modulus) < 2048 {
                return Err(SignatureError::Unsupported(format!(
                    "ring checks RSA keys of 2048 bits or more, and this one has {}",
                    bits(modulus)
                )));
            }
            RsaPublicKeyComponents {
                n: modulus.as_slice(),
                e: exponent.as_slice(),
            }
            .verify(params, message, sig)
            .map_err(|_| SignatureError::Invalid)
        }
        Key::Ec { curve, point } => {
            if sig_type != 3 {
                return Err(mismatch());
            }
            // TLS 1.2 pairs ECDSA with a hash only; the curve is the key's (RFC 8422 5.10).
            let alg: &'static dyn VerificationAlgorithm = match (curve, scheme >> 8) {
                (Curve::P256, 4) => &signature::ECDSA_P256_SHA256_ASN1,
                (Curve::P256, 5) => &signature::ECDSA_P256_SHA384_ASN1,
                (Curve::P384, 4) => &signature::ECDSA_P384_SHA256_ASN1,
                (Curve::P384, 5) => &signature::ECDSA_P384_SHA384_ASN1,
                (_, 2) => {
                    let digest = ring::digest::digest(SHA1, message);
                    return ecdsa_prehashed(*curve, point, digest.as_ref(), sig);
                }
                _ => return Err(unsupported()),
            };
            UnparsedPublicKey::new(alg, point)
                .verify(message, sig)
                .map_err(|_| SignatureError::Invalid)
        }
        Key::Ed25519(point) => {
            if scheme != 0x0807 {
                return Err(mismatch());
            }
            UnparsedPublicKey::new(&signature::ED25519, point)
                .verify(message, sig)
                .map_err(|_| SignatureError::Invalid)
        }
        Key::Other(_) => Err(SignatureError::Unsupported(format!(
            "{} signatures with a {} key are not supported",
            name(),
            key.describe()
        ))),
    }
}

/// ECDSA over a digest *ring* does not pair with ECDSA (SHA-1 in TLS 1.0/1.1 and TLS 1.2's
/// ecdsa_sha1), by RustCrypto's p256 and p384: the digest is taken as the integer it spells,
/// as FIPS 186-4 section 6.4 does with a hash shorter than the curve order.
fn ecdsa_prehashed(
    curve: Curve,
    point: &[u8],
    digest: &[u8],
    sig: &[u8],
) -> Result<(), SignatureError> {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    let ok = match curve {
        Curve::P256 => {
            let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(point)
                .map_err(|_| SignatureError::Invalid)?;
            let sig =
                p256::ecdsa::DerSignature::try_from(sig).map_err(|_| SignatureError::Invalid)?;
            key.verify_prehash(digest, &sig).is_ok()
        }
        Curve::P384 => {
            let key = p384::ecdsa::VerifyingKey::from_sec1_bytes(point)
                .map_err(|_| SignatureError::Invalid)?;
            let sig =
                p384::ecdsa::DerSignature::try_from(sig).map_err(|_| SignatureError::Invalid)?;
            key.verify_prehash(digest, &sig).is_ok()
        }
    };
    if ok {
        Ok(())
    } else {
        Err(SignatureError::Invalid)
    }
}

/// RSA PKCS #1 v1.5 without DigestInfo, as TLS 1.0 and 1.1 sign (RFC 2246 section 4.7):
/// computes `s^e mod n` and compares it whole with `00 01 FF.. 00 payload` (RFC 8017 sections
/// 8.2.2 and 9.2), so no lax parsing of the padding can accept a forgery.
fn rsa_pkcs1_unprefixed(
    modulus: &[u8],
    exponent: &[u8],
    payload: &[u8],
    sig: &[u8],
) -> Result<(), SignatureError> {
    let k = strip_zeros(modulus).len();
    if k < payload.len() + 11 || sig.len() != k || exponent.is_empty() {
        return Err(SignatureError::Invalid);
    }
    let n = BigUint::from_bytes_be(modulus);
    let s = BigUint::from_bytes_be(sig);
    if s >= n {
        return Err(SignatureError::Invalid);
    }
    let m = s
        .modpow(&BigUint::from_bytes_be(exponent), &n)
        .to_bytes_be();
    let mut expected = vec![0xffu8; k];
    expected[0] = 0;
    expected[1] = 1;
    expected[k - payload.len() - 1] = 0;
    expected[k - payload.len()..].copy_from_slice(payload);
    // m lacks the leading zero byte of the encoded message.
    if m.len() == k - 1 && m == expected[1..] {
        Ok(())
    } else {
        Err(SignatureError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, KeyPair, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384};
    use rcgen::{PKCS_ED25519, PKCS_RSA_SHA256, SignatureAlgorithm};
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair};

    /// A self-signed certificate for `key` (rcgen) and the key's PKCS #8 DER.
    fn cert_for(alg: &'static SignatureAlgorithm, pkcs8: Option<Vec<u8>>) -> (Vec<u8>, Vec<u8>) {
        let key = match pkcs8 {
            Some(der) => {
                KeyPair::from_pkcs8_der_and_sign_algo(&der.as_slice().into(), alg).unwrap()
            }
            None => KeyPair::generate_for(alg).unwrap(),
        };
        let cert = CertificateParams::new(vec!["localhost".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.der().to_vec(), key.serialize_der())
    }

    /// An RSA-2048 key, made by openssl since neither ring nor rcgen generates RSA keys.
    fn rsa_pkcs8() -> Option<Vec<u8>> {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(
                "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
                 | openssl pkcs8 -topk8 -nocrypt -outform DER",
            )
            .output()
            .ok()?;
        out.status.success().then_some(out.stdout)
    }

    #[test]
    fn ecdsa_p256_and_p384_signatures_verify_by_the_hash_the_scheme_names() {
        let rng = SystemRandom::new();
        for (alg, ring_alg, scheme) in [
            (
                &PKCS_ECDSA_P256_SHA256,
                &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                0x0403,
            ),
            (
                &PKCS_ECDSA_P384_SHA384,
                &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
                0x0503,
            ),
        ] {
            let (der, pkcs8) = cert_for(alg, None);
            let signer = EcdsaKeyPair::from_pkcs8(ring_alg, &pkcs8, &rng).unwrap();
            let sig = signer.sign(&rng, b"signed bytes").unwrap();
            let key = Key::from_certificate(&der).unwrap();
            assert_eq!(
                verify(&key, Method::Scheme(scheme), b"signed bytes", sig.as_ref()),
                Ok(())
            );
            assert_eq!(
                verify(&key, Method::Scheme(scheme), b"signed bytez", sig.as_ref()),
                Err(SignatureError::Invalid)
            );
            // The same signature claimed as RSA names a scheme the key cannot make.
            assert!(matches!(
                verify(&key, Method::Scheme(0x0401), b"signed bytes", sig.as_ref()),
                Err(SignatureError::Mismatch { .. })
            ));
            // TLS 1.0's ECDSA signs a SHA-1 digest: not this SHA-256 one.
            assert_eq!(
                verify(&key, Method::Legacy, b"signed bytes", sig.as_ref()),
                Err(SignatureError::Invalid)
            );
        }
    }

    #[test]
    fn ecdsa_over_sha1_as_tls_1_0_signs_verifies_on_both_curves() {
        for (alg, curve) in [
            (&PKCS_ECDSA_P256_SHA256, "P-256"),
            (&PKCS_ECDSA_P384_SHA384, "P-384"),
        ] {
            let (der, pkcs8) = cert_for(alg, None);
            let key = Key::from_certificate(&der).unwrap();
            assert_eq!(key.describe(), format!("EC {curve}"));
            let msg = b"client_random server_random params";
            let digest = ring::digest::digest(SHA1, msg);
            // ring cannot sign a SHA-1 digest with ECDSA; openssl's raw ECDSA can.
            let Some(sig) = openssl_raw_sign(&pkcs8, digest.as_ref(), &[]) else {
                eprintln!("skipping: openssl pkeyutl is not usable here");
                return;
            };
            assert_eq!(verify(&key, Method::Legacy, msg, &sig), Ok(()));
            // TLS 1.2's ecdsa_sha1 is the same signature.
            assert_eq!(verify(&key, Method::Scheme(0x0203), msg, &sig), Ok(()));
            assert_eq!(
                verify(&key, Method::Legacy, b"other", &sig),
                Err(SignatureError::Invalid)
            );
            let mut bad = sig.clone();
            bad[8] ^= 1;
            assert_eq!(
                verify(&key, Method::Legacy, msg, &bad),
                Err(SignatureError::Invalid)
            );
        }
    }

    #[test]
    fn ed25519_signatures_verify() {
        let (der, pkcs8) = cert_for(&PKCS_ED25519, None);
        let signer = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&pkcs8).unwrap();
        let sig = signer.sign(b"m");
        let key = Key::from_certificate(&der).unwrap();
        assert_eq!(key.describe(), "Ed25519");
        assert_eq!(
            verify(&key, Method::Scheme(0x0807), b"m", sig.as_ref()),
            Ok(())
        );
        let mut bad = sig.as_ref().to_vec();
        bad[10] ^= 1;
        assert_eq!(
            verify(&key, Method::Scheme(0x0807), b"m", &bad),
            Err(SignatureError::Invalid)
        );
    }

    #[test]
    fn rsa_pkcs1_pss_and_tls10_signatures_verify_and_tampering_fails() {
        let Some(pkcs8) = rsa_pkcs8() else {
            eprintln!("skipping: openssl cannot make an RSA key here");
            return;
        };
        let (der, _) = cert_for(&PKCS_RSA_SHA256, Some(pkcs8.clone()));
        let key = Key::from_certificate(&der).unwrap();
        assert_eq!(key.describe(), "RSA 2048");
        let signer = RsaKeyPair::from_pkcs8(&pkcs8).unwrap();
        let rng = SystemRandom::new();
        let msg = b"client_random server_random params";
        for (encoding, scheme) in [
            (
                &signature::RSA_PKCS1_SHA256 as &dyn signature::RsaEncoding,
                0x0401,
            ),
            (&signature::RSA_PKCS1_SHA384, 0x0501),
            (&signature::RSA_PSS_SHA256, 0x0804),
            (&signature::RSA_PSS_SHA512, 0x0806),
        ] {
            let mut sig = vec![0; signer.public().modulus_len()];
            signer.sign(encoding, &rng, msg, &mut sig).unwrap();
            assert_eq!(verify(&key, Method::Scheme(scheme), msg, &sig), Ok(()));
            sig[5] ^= 0x40;
            assert_eq!(
                verify(&key, Method::Scheme(scheme), msg, &sig),
                Err(SignatureError::Invalid)
            );
        }

        // TLS 1.0: PKCS #1 v1.5 over MD5 || SHA-1 without DigestInfo. ring cannot sign that,
        // so the signature is made with openssl's raw RSA private operation.
        let mut payload = Md5::digest(msg).to_vec();
        payload.extend_from_slice(ring::digest::digest(SHA1, msg).as_ref());
        let Some(sig) = openssl_raw_sign(&pkcs8, &payload, &["-pkeyopt", "rsa_padding_mode:pkcs1"])
        else {
            eprintln!("skipping the TLS 1.0 part: openssl pkeyutl is not usable here");
            return;
        };
        assert_eq!(verify(&key, Method::Legacy, msg, &sig), Ok(()));
        assert_eq!(
            verify(&key, Method::Legacy, b"another message", &sig),
            Err(SignatureError::Invalid)
        );
        let mut bad = sig.clone();
        bad[100] ^= 1;
        assert_eq!(
            verify(&key, Method::Legacy, msg, &bad),
            Err(SignatureError::Invalid)
        );
        // A PKCS #1 v1.5 signature with a DigestInfo is not what TLS 1.0 signs.
        let mut with_info = vec![0; signer.public().modulus_len()];
        signer
            .sign(&signature::RSA_PKCS1_SHA256, &rng, msg, &mut with_info)
            .unwrap();
        assert_eq!(
            verify(&key, Method::Legacy, msg, &with_info),
            Err(SignatureError::Invalid)
        );
    }

    /// openssl's private-key operation on `payload` as given (no hashing).
    fn openssl_raw_sign(pkcs8: &[u8], payload: &[u8], opts: &[&str]) -> Option<Vec<u8>> {
        let dir = tempfile::tempdir().ok()?;
        let key = dir.path().join("k.der");
        let input = dir.path().join("in");
        std::fs::write(&key, pkcs8).ok()?;
        std::fs::write(&input, payload).ok()?;
        let out = std::process::Command::new("openssl")
            .args(["pkeyutl", "-sign", "-keyform", "DER", "-inkey"])
            .arg(&key)
            .arg("-in")
            .arg(&input)
            .args(opts)
            .output()
            .ok()?;
        out.status.success().then_some(out.stdout)
    }

    #[test]
    fn garbage_keys_and_signatures_fail_without_panicking() {
        assert!(Key::from_certificate(b"\x30\x03abc").is_err());
        assert!(Key::from_certificate(&[]).is_err());
        let key = Key::Rsa {
            modulus: vec![0xff; 256],
            exponent: vec![1, 0, 1],
            pss_only: false,
        };
        for sig in [
            &[][..],
            &[0u8; 3][..],
            &[0xffu8; 256][..],
            &[0x01u8; 257][..],
        ] {
            assert!(verify(&key, Method::Legacy, b"m", sig).is_err());
            assert!(verify(&key, Method::Scheme(0x0401), b"m", sig).is_err());
        }
        let ec = Key::Ec {
            curve: Curve::P256,
            point: vec![4, 1, 2],
        };
        assert!(verify(&ec, Method::Scheme(0x0403), b"m", &[0x30, 0]).is_err());
        assert!(matches!(
            verify(&ec, Method::Scheme(0x0603), b"m", &[]),
            Err(SignatureError::Unsupported(_))
        ));
    }
}
