//! The mutual-TLS lab that capd was built to watch: its certificates (`certs`), its TLS 1.2
//! time server (`server`) and client (`client`), the `capd lab ...` commands (`cmd`), and
//! `capd demo` (`demo`), which runs the lab while capturing it through the ordinary pipeline.
//!
//! This module owns the lab's error type and the checks both ends make on the peer's
//! certificate once rustls has verified its chain: the lab looks at the common name and the
//! validity window itself, as the original lab's scripts do. Like capture and report, the lab
//! touches the OS (files, sockets, threads, the clock); nothing in the dissection path uses it.

pub mod certs;
pub mod client;
pub mod cmd;
pub mod demo;
pub mod server;

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::time::ASN1Time;

/// The common name both ends of the lab expect on the other's certificate.
pub const LAB_COMMON_NAME: &str = "localhost";

/// The lab's port, as in the original scripts.
pub const LAB_PORT: u16 = 15001;

/// Why a lab command failed. Each message is one sentence naming what is at fault.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// `capd lab certs` would replace files that already exist.
    #[error(
        "refusing to overwrite {path}, which already exists; pass --force to replace the lab's certificates and keys"
    )]
    Exists { path: PathBuf },
    /// A file could not be read.
    #[error("cannot read {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    /// A file could not be written.
    #[error("cannot write {path}: {reason}")]
    Write { path: PathBuf, reason: String },
    /// A PEM file holds nothing usable of the kind expected.
    #[error("{path} holds no {what}")]
    Pem { path: PathBuf, what: &'static str },
    /// rcgen could not make or sign a certificate.
    #[error("cannot make the lab's certificates: {reason}")]
    Generate { reason: String },
    /// rustls refused the certificates or keys it was given.
    #[error("cannot set up TLS with the lab's certificates: {reason}")]
    TlsConfig { reason: String },
    /// The server could not listen.
    #[error("cannot listen on {addr}: {reason}")]
    Bind { addr: String, reason: String },
    /// The client could not reach the server.
    #[error("cannot connect to {addr}: {reason}")]
    Connect { addr: String, reason: String },
    /// The TLS handshake failed (an alert, a rejected certificate, a timeout, a closed socket).
    #[error("the TLS handshake with {peer} failed: {reason}")]
    Handshake { peer: String, reason: String },
    /// The peer's certificate verified but fails the lab's own checks.
    #[error("{peer} is not trusted: {reason}")]
    PeerCertificate { peer: String, reason: String },
    /// The connection broke, or closed without the time, after the handshake.
    #[error("the connection to {peer} failed after the handshake: {reason}")]
    Exchange { peer: String, reason: String },
}

/// The crypto provider the lab uses on both ends, explicitly, so that nothing depends on a
/// process-wide default being installed.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// An I/O error as a lowercase phrase without the OS error number, for one-sentence messages.
pub fn io_reason(e: &io::Error) -> String {
    if matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    ) {
        return "timed out".into();
    }
    if e.kind() == io::ErrorKind::UnexpectedEof {
        return "the peer closed the connection".into();
    }
    // rustls errors travel inside io::Error; their text is already a phrase.
    if let Some(inner) = e.get_ref() {
        return inner.to_string();
    }
    let text = e.to_string();
    let text = match text.find(" (os error") {
        Some(i) => &text[..i],
        None => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Checks a peer certificate (DER) as the lab's scripts do after the TLS handshake: its common
/// name must be `expected_cn` and `now` must lie within its validity window. Returns the reason
/// it fails, as a phrase.
pub fn check_peer_certificate(der: &[u8], expected_cn: &str, now: ASN1Time) -> Result<(), String> {
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|e| format!("its certificate cannot be parsed ({e})"))?;
    let cn = cert
        .subject()
        .iter_common_name()
        .next()
        .map(|a| a.as_str().unwrap_or("(not text)").to_string());
    match cn {
        None => return Err("its certificate has no common name".into()),
        Some(cn) if cn != expected_cn => {
            return Err(format!(
                "its certificate's common name is \"{cn}\", not \"{expected_cn}\""
            ));
        }
        Some(_) => {}
    }
    let validity = cert.validity();
    if now < validity.not_before {
        return Err(format!(
            "its certificate is not valid before {}",
            validity.not_before
        ));
    }
    if now > validity.not_after {
        return Err(format!("its certificate expired on {}", validity.not_after));
    }
    Ok(())
}

/// The time the server sends: UTC, in the form Python's `str(datetime)` uses, plus the zone.
pub fn time_string(now: time::OffsetDateTime) -> String {
    let now = now.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06} UTC",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.microsecond()
    )
}

/// Writes one line to stdout. The lab's lines are a log, so a reader that went away (a closed
/// pipe) is not worth failing or panicking over, as `println!` would.
pub fn say(line: &str) {
    use std::io::Write;
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|_| out.flush());
}

/// `(ip, port)`, as the lab's server writes a peer in its log.
pub fn peer_tuple(addr: std::net::SocketAddr) -> String {
    format!("({}, {})", addr.ip(), addr.port())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::certs::{CertOptions, generate};

    fn leaf_der(opts: &CertOptions) -> Vec<u8> {
        let made = generate(opts).unwrap();
        let creds = made.credentials().unwrap();
        creds.identity.unwrap().0[0].to_vec()
    }

    #[test]
    fn a_fresh_localhost_certificate_passes_the_lab_checks() {
        let der = leaf_der(&CertOptions::default());
        assert_eq!(
            check_peer_certificate(&der, LAB_COMMON_NAME, ASN1Time::now()),
            Ok(())
        );
    }

    #[test]
    fn another_common_name_is_refused_by_name() {
        let der = leaf_der(&CertOptions {
            common_name: "mallory".into(),
            ..CertOptions::default()
        });
        let err = check_peer_certificate(&der, LAB_COMMON_NAME, ASN1Time::now()).unwrap_err();
        assert!(err.contains("\"mallory\", not \"localhost\""), "{err}");
    }

    #[test]
    fn an_expired_certificate_is_refused_with_its_end_date() {
        let der = leaf_der(&CertOptions {
            not_before: Some(rcgen::date_time_ymd(2020, 1, 1)),
            not_after: Some(rcgen::date_time_ymd(2021, 1, 1)),
            ..CertOptions::default()
        });
        let err = check_peer_certificate(&der, LAB_COMMON_NAME, ASN1Time::now()).unwrap_err();
        assert!(err.contains("expired on Jan  1 00:00:00 2021"), "{err}");
    }

    #[test]
    fn a_certificate_not_yet_valid_is_refused() {
        let der = leaf_der(&CertOptions::default());
        let long_ago = ASN1Time::from_timestamp(0).unwrap();
        let err = check_peer_certificate(&der, LAB_COMMON_NAME, long_ago).unwrap_err();
        assert!(err.contains("not valid before"), "{err}");
    }

    #[test]
    fn bytes_that_are_no_certificate_are_refused_not_panicked_on() {
        assert!(check_peer_certificate(b"\x30\x03abc", LAB_COMMON_NAME, ASN1Time::now()).is_err());
    }

    #[test]
    fn the_time_reads_like_pythons_datetime_in_utc() {
        let t = time::OffsetDateTime::from_unix_timestamp_nanos(1_764_093_600_123_456_789).unwrap();
        assert_eq!(time_string(t), "2025-11-25 18:00:00.123456 UTC");
    }

    #[test]
    fn io_errors_read_as_short_phrases() {
        let refused = io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert_eq!(io_reason(&refused), "connection refused");
        assert_eq!(
            io_reason(&io::Error::from(io::ErrorKind::WouldBlock)),
            "timed out"
        );
    }
}
