//! The lab's certificates: a CA and a CA-signed `localhost` certificate made with rcgen,
//! written in and read back from the lab's directory layout.
//!
//! ```text
//! DIR/cert/CA/CA.pem                              the CA's certificate
//! DIR/cert/CA/CA.key                              the CA's key (0600)
//! DIR/cert/CA/localhost/localhost.crt             localhost, signed by the CA
//! DIR/cert/CA/localhost/localhost.decrypted.key   its key, unencrypted PKCS#8 (0600)
//! DIR/cert/ca-bundle.crt                          what both ends trust: the CA certificate
//! ```
//!
//! The lab uses one `localhost` certificate for both ends, so it carries both serverAuth and
//! clientAuth, and names localhost, 127.0.0.1 and ::1. Keys are ECDSA P-256. Certificates made
//! to study failures (another common name, an expired one, one from another CA) come from the
//! same code with `CertOptions` changed. Verifying and using the certificates is left to rustls.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use time::{Duration, OffsetDateTime};

use super::{LAB_COMMON_NAME, LabError};

/// How long a new CA is valid.
const CA_DAYS: i64 = 3650;
/// How long a new localhost certificate is valid (the longest browsers accept, as openssl's
/// lab recipe uses).
const LEAF_DAYS: i64 = 825;
/// New certificates start this long in the past, so a slightly slow clock still accepts them.
const BACKDATE: Duration = Duration::hours(1);

/// Where the lab keeps its files under one directory.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Layout { root: root.into() }
    }

    pub fn ca_cert(&self) -> PathBuf {
        self.root.join("cert/CA/CA.pem")
    }

    pub fn ca_key(&self) -> PathBuf {
        self.root.join("cert/CA/CA.key")
    }

    pub fn cert(&self) -> PathBuf {
        self.root.join("cert/CA/localhost/localhost.crt")
    }

    pub fn key(&self) -> PathBuf {
        self.root.join("cert/CA/localhost/localhost.decrypted.key")
    }

    pub fn bundle(&self) -> PathBuf {
        self.root.join("cert/ca-bundle.crt")
    }
}

/// What to put in the localhost certificate.
#[derive(Debug, Clone)]
pub struct CertOptions {
    /// The subject's common name; the lab expects `localhost`.
    pub common_name: String,
    /// Start of validity; an hour ago when `None`.
    pub not_before: Option<OffsetDateTime>,
    /// End of validity; 825 days from now when `None`.
    pub not_after: Option<OffsetDateTime>,
}

impl Default for CertOptions {
    fn default() -> Self {
        CertOptions {
            common_name: LAB_COMMON_NAME.into(),
            not_before: None,
            not_after: None,
        }
    }
}

/// A CA: its certificate and the key it signs with, both PEM.
pub struct Authority {
    cert_pem: String,
    key: KeyPair,
}

/// A set of lab certificates, PEM encoded.
pub struct LabCerts {
    pub ca_pem: String,
    /// The CA's key when this set made the CA; `None` when an existing CA signed.
    pub ca_key_pem: Option<String>,
    pub cert_pem: String,
    pub key_pem: String,
}

/// What one end of a TLS connection holds: the certificates it trusts, and optionally its own
/// certificate chain and key.
#[derive(Debug)]
pub struct Credentials {
    pub trust: Vec<CertificateDer<'static>>,
    pub identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
}

fn generate_err(e: rcgen::Error) -> LabError {
    LabError::Generate {
        reason: e.to_string(),
    }
}

impl Authority {
    /// Makes a new CA.
    pub fn generate() -> Result<Self, LabError> {
        let now = OffsetDateTime::now_utc();
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "capd lab");
        dn.push(DnType::CommonName, "capd lab CA");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = now - BACKDATE;
        params.not_after = now + Duration::days(CA_DAYS);
        let key = KeyPair::generate().map_err(generate_err)?;
        let cert = params.self_signed(&key).map_err(generate_err)?;
        Ok(Authority {
            cert_pem: cert.pem(),
            key,
        })
    }

    /// Reads the CA of an existing lab directory.
    pub fn load(layout: &Layout) -> Result<Self, LabError> {
        let cert_pem = read_text(&layout.ca_cert())?;
        let key_path = layout.ca_key();
        let key_pem = read_text(&key_path)?;
        let key = KeyPair::from_pem(&key_pem).map_err(|_| LabError::Pem {
            path: key_path,
            what: "usable private key",
        })?;
        Ok(Authority { cert_pem, key })
    }

    /// Makes a localhost certificate and key signed by this CA.
    pub fn issue(&self, opts: &CertOptions) -> Result<(String, String), LabError> {
        let now = OffsetDateTime::now_utc();
        let mut params = CertificateParams::new(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ])
        .map_err(generate_err)?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, opts.common_name.as_str());
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        // An end date in the past alone asks for an expired certificate: it then began a
        // usual lifetime before that end.
        params.not_before = opts.not_before.unwrap_or(match opts.not_after {
            Some(end) if end <= now - BACKDATE => end - Duration::days(LEAF_DAYS),
            _ => now - BACKDATE,
        });
        params.not_after = opts.not_after.unwrap_or(now + Duration::days(LEAF_DAYS));
        if params.not_after <= params.not_before {
            return Err(LabError::Generate {
                reason: "the certificate would end before it begins".into(),
            });
        }
        let issuer = Issuer::from_ca_cert_pem(&self.cert_pem, &self.key).map_err(generate_err)?;
        let key = KeyPair::generate().map_err(generate_err)?;
        let cert = params.signed_by(&key, &issuer).map_err(generate_err)?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}

/// Makes a new CA and a localhost certificate it signed.
pub fn generate(opts: &CertOptions) -> Result<LabCerts, LabError> {
    let ca = Authority::generate()?;
    let (cert_pem, key_pem) = ca.issue(opts)?;
    Ok(LabCerts {
        ca_key_pem: Some(ca.key.serialize_pem()),
        ca_pem: ca.cert_pem,
        cert_pem,
        key_pem,
    })
}

/// Makes a localhost certificate signed by an existing CA.
pub fn issue_with(ca: &Authority, opts: &CertOptions) -> Result<LabCerts, LabError> {
    let (cert_pem, key_pem) = ca.issue(opts)?;
    Ok(LabCerts {
        ca_pem: ca.cert_pem.clone(),
        ca_key_pem: None,
        cert_pem,
        key_pem,
    })
}

impl LabCerts {
    /// Writes the set in the lab's layout and returns the files written. Unless `force`,
    /// nothing is written if any of them exists. Keys are readable by their owner only.
    pub fn write(&self, layout: &Layout, force: bool) -> Result<Vec<PathBuf>, LabError> {
        let mut files: Vec<(PathBuf, &str, bool)> = vec![(layout.ca_cert(), &self.ca_pem, false)];
        if let Some(k) = &self.ca_key_pem {
            files.push((layout.ca_key(), k, true));
        }
        files.push((layout.cert(), &self.cert_pem, false));
        files.push((layout.key(), &self.key_pem, true));
        files.push((layout.bundle(), &self.ca_pem, false));
        if let Some((path, _, _)) = files.iter().find(|(p, _, _)| !force && p.exists()) {
            return Err(LabError::Exists { path: path.clone() });
        }
        for (path, text, secret) in &files {
            write_file(path, text, *secret)?;
        }
        Ok(files.into_iter().map(|(p, _, _)| p).collect())
    }

    /// What an end holding this set's certificate and trusting its CA uses.
    pub fn credentials(&self) -> Result<Credentials, LabError> {
        let bad = |what: &str| LabError::Generate {
            reason: format!("the new {what} does not read back"),
        };
        let trust = parse_certs(self.ca_pem.as_bytes()).ok_or_else(|| bad("CA certificate"))?;
        let chain = parse_certs(self.cert_pem.as_bytes()).ok_or_else(|| bad("certificate"))?;
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).map_err(|_| bad("key"))?;
        Ok(Credentials {
            trust,
            identity: Some((chain, key)),
        })
    }
}

impl Credentials {
    /// Reads the certificates to trust from `bundle` and, if given, a certificate chain and
    /// its key from PEM files.
    pub fn load(bundle: &Path, identity: Option<(&Path, &Path)>) -> Result<Self, LabError> {
        let trust = load_certs(bundle)?;
        let identity = match identity {
            None => None,
            Some((cert, key)) => Some((load_certs(cert)?, load_key(key)?)),
        };
        Ok(Credentials { trust, identity })
    }
}

/// Every certificate in a PEM text, or `None` if there is none or one is damaged.
fn parse_certs(pem: &[u8]) -> Option<Vec<CertificateDer<'static>>> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .ok()?;
    (!certs.is_empty()).then_some(certs)
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, LabError> {
    fs::read(path).map_err(|e| LabError::Read {
        path: path.into(),
        reason: super::io_reason(&e),
    })
}

fn read_text(path: &Path) -> Result<String, LabError> {
    String::from_utf8(read_bytes(path)?).map_err(|_| LabError::Pem {
        path: path.into(),
        what: "PEM text",
    })
}

/// Reads the certificates of a PEM file.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, LabError> {
    parse_certs(&read_bytes(path)?).ok_or_else(|| LabError::Pem {
        path: path.into(),
        what: "PEM certificate",
    })
}

/// Reads the private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, LabError> {
    PrivateKeyDer::from_pem_slice(&read_bytes(path)?).map_err(|_| LabError::Pem {
        path: path.into(),
        what: "unencrypted PEM private key",
    })
}

fn write_file(path: &Path, text: &str, secret: bool) -> Result<(), LabError> {
    let fail = |e: std::io::Error| LabError::Write {
        path: path.into(),
        reason: super::io_reason(&e),
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(fail)?;
    }
    let mode = if secret { 0o600 } else { 0o644 };
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(fail)?;
    // An existing file keeps its mode when opened; a key must not stay readable by others.
    f.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(fail)?;
    f.write_all(text.as_bytes()).map_err(fail)?;
    f.sync_all().map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::extensions::GeneralName;
    use x509_parser::prelude::{FromDer, X509Certificate};

    #[test]
    fn the_localhost_certificate_names_every_loopback_form_and_both_uses() {
        let made = generate(&CertOptions::default()).unwrap();
        let creds = made.credentials().unwrap();
        let der = creds.identity.unwrap().0.remove(0);
        let (_, cert) = X509Certificate::from_der(&der).unwrap();
        let cn = cert.subject().iter_common_name().next().unwrap();
        assert_eq!(cn.as_str().unwrap(), "localhost");
        let san = cert.subject_alternative_name().unwrap().unwrap();
        let names: Vec<String> = san
            .value
            .general_names
            .iter()
            .map(|n| match n {
                GeneralName::DNSName(d) => d.to_string(),
                GeneralName::IPAddress(ip) => format!("{ip:?}"),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(names[0], "localhost");
        assert_eq!(names[1], "[127, 0, 0, 1]");
        assert_eq!(
            names[2],
            format!("{:?}", [0u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])
        );
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth && eku.client_auth);
        let (_, ca) = X509Certificate::from_der(&creds.trust[0]).unwrap();
        assert_eq!(cert.issuer(), ca.subject());
        assert!(ca.is_ca());
        assert!(cert.verify_signature(Some(ca.public_key())).is_ok());
    }

    #[test]
    fn written_files_follow_the_lab_layout_and_keys_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let written = generate(&CertOptions::default())
            .unwrap()
            .write(&layout, false)
            .unwrap();
        let rel: Vec<String> = written
            .iter()
            .map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string())
            .collect();
        assert_eq!(
            rel,
            [
                "cert/CA/CA.pem",
                "cert/CA/CA.key",
                "cert/CA/localhost/localhost.crt",
                "cert/CA/localhost/localhost.decrypted.key",
                "cert/ca-bundle.crt"
            ]
        );
        for p in [layout.ca_key(), layout.key()] {
            let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", p.display());
        }
        let creds = Credentials::load(&layout.bundle(), Some((&layout.cert(), &layout.key())));
        assert!(creds.unwrap().identity.is_some());
        // The written CA can sign again.
        assert!(Authority::load(&layout).is_ok());
    }

    #[test]
    fn existing_keys_are_kept_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let first = generate(&CertOptions::default()).unwrap();
        first.write(&layout, false).unwrap();
        let second = generate(&CertOptions::default()).unwrap();
        let err = second.write(&layout, false).unwrap_err();
        assert!(matches!(err, LabError::Exists { .. }), "{err}");
        assert!(err.to_string().contains("--force"));
        assert_eq!(fs::read_to_string(layout.key()).unwrap(), first.key_pem);
        second.write(&layout, true).unwrap();
        assert_eq!(fs::read_to_string(layout.key()).unwrap(), second.key_pem);
    }

    #[test]
    fn forcing_over_a_readable_key_makes_it_private() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        fs::create_dir_all(layout.key().parent().unwrap()).unwrap();
        fs::write(layout.key(), "old").unwrap();
        fs::set_permissions(layout.key(), fs::Permissions::from_mode(0o644)).unwrap();
        generate(&CertOptions::default())
            .unwrap()
            .write(&layout, true)
            .unwrap();
        let mode = fs::metadata(layout.key()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn an_existing_ca_signs_without_its_key_being_copied() {
        let dir = tempfile::tempdir().unwrap();
        let first = Layout::new(dir.path().join("a"));
        generate(&CertOptions::default())
            .unwrap()
            .write(&first, false)
            .unwrap();
        let ca = Authority::load(&first).unwrap();
        let other = Layout::new(dir.path().join("b"));
        issue_with(&ca, &CertOptions::default())
            .unwrap()
            .write(&other, false)
            .unwrap();
        assert!(!other.ca_key().exists());
        assert_eq!(
            fs::read(other.bundle()).unwrap(),
            fs::read(first.ca_cert()).unwrap()
        );
    }

    #[test]
    fn an_end_date_in_the_past_alone_makes_an_expired_certificate() {
        let opts = CertOptions {
            not_after: Some(rcgen::date_time_ymd(2021, 1, 1)),
            ..CertOptions::default()
        };
        let made = generate(&opts).unwrap();
        let der = made.credentials().unwrap().identity.unwrap().0.remove(0);
        let (_, cert) = X509Certificate::from_der(&der).unwrap();
        let validity = cert.validity();
        assert_eq!(validity.not_after.timestamp(), 1_609_459_200);
        assert_eq!(
            validity.not_after.timestamp() - validity.not_before.timestamp(),
            LEAF_DAYS * 86_400
        );
    }

    #[test]
    fn a_window_that_ends_before_it_begins_is_refused() {
        let opts = CertOptions {
            not_before: Some(rcgen::date_time_ymd(2022, 1, 1)),
            not_after: Some(rcgen::date_time_ymd(2021, 1, 1)),
            ..CertOptions::default()
        };
        assert!(generate(&opts).is_err());
    }

    #[test]
    fn a_missing_or_empty_file_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.crt");
        let err = load_certs(&missing).unwrap_err().to_string();
        assert!(
            err.contains("nope.crt") && err.contains("no such file"),
            "{err}"
        );
        let empty = dir.path().join("empty.key");
        fs::write(&empty, "").unwrap();
        let err = load_key(&empty).unwrap_err().to_string();
        assert!(err.contains("empty.key holds no"), "{err}");
    }
}
