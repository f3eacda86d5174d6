//! The lab's client: connects to the time server, trusts only the lab's CA bundle, presents
//! its certificate (or another, or none), checks the server certificate's common name and
//! validity window as the lab's client script does, and returns what the server sent.
//!
//! TLS 1.2 only by default, as the lab pins it; `tls13` also offers TLS 1.3 so that version
//! can be studied against other servers. Chain and name verification are rustls' (webpki);
//! this file adds only the lab's own checks and the socket handling, with timeouts throughout.

use std::io::{self, Read};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore};
use x509_parser::time::ASN1Time;

use super::certs::Credentials;
use super::{LAB_COMMON_NAME, LAB_PORT, LabError, check_peer_certificate, io_reason};

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// A name or address of the server.
    pub host: String,
    pub port: u16,
    /// The name the server's certificate must carry (sent as SNI).
    pub server_name: String,
    /// Offer TLS 1.3 as well as TLS 1.2.
    pub tls13: bool,
    /// Connect, read and write timeout, and the deadline for the handshake.
    pub timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            host: "127.0.0.1".into(),
            port: LAB_PORT,
            server_name: LAB_COMMON_NAME.into(),
            tls13: false,
            timeout: Duration::from_secs(10),
        }
    }
}

/// What the server sent, and how.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The server's message with surrounding whitespace trimmed: the time, from the lab server.
    pub message: String,
    /// The negotiated TLS version, e.g. "TLSv1_2".
    pub version: String,
}

/// rustls' configuration for the lab client.
pub fn client_config(creds: Credentials, tls13: bool) -> Result<Arc<ClientConfig>, LabError> {
    let tls = |reason: String| LabError::TlsConfig { reason };
    let mut roots = RootCertStore::empty();
    for ca in creds.trust {
        roots
            .add(ca)
            .map_err(|e| tls(format!("the CA certificate is unusable ({e})")))?;
    }
    let versions: &[&rustls::SupportedProtocolVersion] = if tls13 {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS12]
    };
    let builder = ClientConfig::builder_with_provider(super::provider())
        .with_protocol_versions(versions)
        .map_err(|e| tls(e.to_string()))?
        .with_root_certificates(roots);
    let config = match creds.identity {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| tls(e.to_string()))?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

fn connect(opts: &ClientOptions) -> Result<TcpStream, LabError> {
    let target = format!("{}:{}", opts.host, opts.port);
    let fail = |reason: String| LabError::Connect {
        addr: target.clone(),
        reason,
    };
    let addrs: Vec<_> = (opts.host.as_str(), opts.port)
        .to_socket_addrs()
        .map_err(|e| fail(io_reason(&e)))?
        .collect();
    let mut last = fail("the name has no address".into());
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, opts.timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = fail(io_reason(&e)),
        }
    }
    Err(last)
}

/// Runs the lab's exchange against a server and returns what it sent.
pub fn fetch(opts: &ClientOptions, creds: Credentials) -> Result<Reply, LabError> {
    let config = client_config(creds, opts.tls13)?;
    let name = ServerName::try_from(opts.server_name.clone()).map_err(|_| LabError::TlsConfig {
        reason: format!("{:?} is not a valid server name", opts.server_name),
    })?;
    let mut conn = ClientConnection::new(config, name).map_err(|e| LabError::TlsConfig {
        reason: e.to_string(),
    })?;
    let mut sock = connect(opts)?;
    let peer = sock
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| format!("{}:{}", opts.host, opts.port));
    let exchange = |reason: String| LabError::Exchange {
        peer: peer.clone(),
        reason,
    };
    sock.set_read_timeout(Some(opts.timeout))
        .and_then(|_| sock.set_write_timeout(Some(opts.timeout)))
        .map_err(|e| exchange(io_reason(&e)))?;

    let deadline = Instant::now() + opts.timeout;
    while conn.is_handshaking() {
        let failed = |reason: String| LabError::Handshake {
            peer: peer.clone(),
            reason,
        };
        if Instant::now() > deadline {
            return Err(failed("timed out".into()));
        }
        conn.complete_io(&mut sock)
            .map_err(|e| failed(io_reason(&e)))?;
    }
    let leaf = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or_else(|| LabError::PeerCertificate {
            peer: peer.clone(),
            reason: "it presented no certificate".into(),
        })?;
    check_peer_certificate(leaf, LAB_COMMON_NAME, ASN1Time::now()).map_err(|reason| {
        LabError::PeerCertificate {
            peer: peer.clone(),
            reason,
        }
    })?;
    let version = conn
        .protocol_version()
        .map(|v| format!("{v:?}"))
        .unwrap_or_default();

    let mut data = Vec::new();
    let read = rustls::Stream::new(&mut conn, &mut sock).read_to_end(&mut data);
    match read {
        Ok(_) => {}
        // A server that closes without close_notify after sending still sent its message.
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && !data.is_empty() => {}
        Err(e) => return Err(exchange(io_reason(&e))),
    }
    conn.send_close_notify();
    let _ = conn.complete_io(&mut sock);
    let message = String::from_utf8_lossy(&data).trim().to_string();
    if message.is_empty() {
        return Err(exchange(
            "the server closed the connection without sending the time".into(),
        ));
    }
    Ok(Reply { message, version })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::certs::{Authority, CertOptions, generate, issue_with};
    use crate::lab::server::ServerOptions;
    use crate::lab::server::tests::Running;

    #[test]
    fn a_server_from_another_ca_is_not_trusted() {
        let ours = generate(&CertOptions::default()).unwrap();
        let theirs = generate(&CertOptions::default()).unwrap();
        let server = Running::start(theirs.credentials().unwrap(), ServerOptions::default());
        let err = fetch(&server.client(), ours.credentials().unwrap()).unwrap_err();
        assert!(matches!(err, LabError::Handshake { .. }), "{err}");
        // Both CAs share a name, so webpki finds "the" issuer and its signature fails.
        assert!(
            err.to_string()
                .contains("invalid peer certificate: BadSignature"),
            "{err}"
        );
    }

    #[test]
    fn without_a_certificate_the_lab_server_refuses_the_handshake() {
        let certs = generate(&CertOptions::default()).unwrap();
        let server = Running::start(certs.credentials().unwrap(), ServerOptions::default());
        let mut anonymous = certs.credentials().unwrap();
        anonymous.identity = None;
        let err = fetch(&server.client(), anonymous).unwrap_err();
        assert!(matches!(err, LabError::Handshake { .. }), "{err}");
        let log = server.outcomes(1);
        assert!(
            log[0].to_string().contains("no certificates"),
            "server log: {log:?}"
        );
    }

    #[test]
    fn a_server_certificate_with_another_common_name_fails_the_lab_check() {
        let ca = Authority::generate().unwrap();
        let client = issue_with(&ca, &CertOptions::default()).unwrap();
        let mallory = issue_with(
            &ca,
            &CertOptions {
                common_name: "mallory".into(),
                ..CertOptions::default()
            },
        )
        .unwrap();
        let server = Running::start(mallory.credentials().unwrap(), ServerOptions::default());
        let err = fetch(&server.client(), client.credentials().unwrap()).unwrap_err();
        assert!(matches!(err, LabError::PeerCertificate { .. }), "{err}");
        assert!(err.to_string().contains("\"mallory\""), "{err}");
    }

    /// A rustls server that speaks only TLS 1.3 to one client, requiring no certificate.
    fn tls13_only_server(
        certs: &crate::lab::certs::LabCerts,
    ) -> (u16, std::thread::JoinHandle<()>) {
        let (chain, key) = certs.credentials().unwrap().identity.unwrap();
        let config = rustls::ServerConfig::builder_with_provider(crate::lab::provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let thread = std::thread::spawn(move || {
            let (mut sock, _) = listener.accept().unwrap();
            sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut conn = rustls::ServerConnection::new(Arc::new(config)).unwrap();
            while conn.is_handshaking() {
                if conn.complete_io(&mut sock).is_err() {
                    return;
                }
            }
            let _ = io::Write::write_all(&mut conn.writer(), b"hello");
            conn.send_close_notify();
            let _ = conn.complete_io(&mut sock);
        });
        (port, thread)
    }

    #[test]
    fn tls_1_3_is_offered_only_when_asked() {
        let certs = generate(&CertOptions::default()).unwrap();
        for (tls13, works) in [(false, false), (true, true)] {
            let (port, server) = tls13_only_server(&certs);
            let opts = ClientOptions {
                port,
                tls13,
                timeout: Duration::from_secs(5),
                ..ClientOptions::default()
            };
            let got = fetch(&opts, certs.credentials().unwrap());
            server.join().unwrap();
            match got {
                Ok(reply) => {
                    assert!(works, "a TLS 1.2 client reached a TLS 1.3 server");
                    assert_eq!(
                        (reply.version.as_str(), reply.message.as_str()),
                        ("TLSv1_3", "hello")
                    );
                }
                Err(e) => {
                    assert!(!works, "{e}");
                    assert!(matches!(e, LabError::Handshake { .. }), "{e}");
                }
            }
        }
    }

    #[test]
    fn the_lab_server_pins_tls_1_2_even_for_a_client_offering_1_3() {
        let certs = generate(&CertOptions::default()).unwrap();
        let server = Running::start(certs.credentials().unwrap(), ServerOptions::default());
        let opts = ClientOptions {
            tls13: true,
            ..server.client()
        };
        let reply = fetch(&opts, certs.credentials().unwrap()).unwrap();
        assert_eq!(reply.version, "TLSv1_2");
    }

    #[test]
    fn a_closed_port_is_a_connection_error_naming_the_address() {
        let certs = generate(&CertOptions::default()).unwrap();
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let opts = ClientOptions {
            port,
            ..ClientOptions::default()
        };
        let err = fetch(&opts, certs.credentials().unwrap()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("cannot connect to 127.0.0.1:{port}: connection refused")
        );
    }
}
