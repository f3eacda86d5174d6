//! The lab's time server: mutual TLS 1.2 only, as the lab pins it, with client certificates
//! required and verified against the lab CA (rustls' `WebPkiClientVerifier`). After the
//! handshake it checks the client certificate's common name and validity window itself, sends
//! the current time, and closes with close_notify.
//!
//! Each client gets its own thread with read and write timeouts and an overall handshake
//! deadline; at most `max_clients` are served at once and the rest are turned away. Garbage,
//! stalls and disconnects end that client's thread with a log line, never the server. The
//! accept loop checks its stop flag between polls, so Ctrl-C or SIGTERM end it promptly.
//! What happens is reported as `ServerEvent`s to a log callback; the caller decides where
//! they go.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection};
use x509_parser::time::ASN1Time;

use super::certs::Credentials;
use super::{LAB_COMMON_NAME, LabError, check_peer_certificate, io_reason, peer_tuple};

/// How long the accept loop waits for a connection before looking at its stop flag.
const ACCEPT_POLL_MS: i32 = 100;
/// How long the server waits for the client's close_notify and FIN after sending the time.
const LINGER: Duration = Duration::from_secs(1);

/// Limits that keep one client from holding the server.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Most clients served at once; more are closed at once.
    pub max_clients: usize,
    /// Read and write timeout, and the deadline for a whole handshake.
    pub timeout: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            max_clients: 32,
            timeout: Duration::from_secs(10),
        }
    }
}

/// Something the server did, for its log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerEvent {
    /// The server is ready for clients.
    Listening { addr: SocketAddr },
    /// A client passed every check and was sent the time.
    Sent { time: String, peer: SocketAddr },
    /// A client failed the handshake or the lab's checks, or misbehaved.
    Rejected { peer: SocketAddr, reason: String },
    /// A client was closed at once because `max` others were being served.
    Busy { peer: SocketAddr, max: usize },
    /// accept() failed (for instance out of file descriptors); the server goes on.
    AcceptFailed { reason: String },
    /// The server stopped on request.
    Stopped,
}

impl fmt::Display for ServerEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerEvent::Listening { addr } => write!(
                f,
                "Listening on {addr} (TLS 1.2, client certificate from the lab CA required)"
            ),
            ServerEvent::Sent { time, peer } => {
                write!(f, "Securely sent {time} to {}", peer_tuple(*peer))
            }
            ServerEvent::Rejected { peer, reason } => {
                write!(f, "Rejected {}: {reason}", peer_tuple(*peer))
            }
            ServerEvent::Busy { peer, max } => write!(
                f,
                "Turned away {}: {max} clients are already being served",
                peer_tuple(*peer)
            ),
            ServerEvent::AcceptFailed { reason } => {
                write!(f, "Could not accept a connection: {reason}")
            }
            ServerEvent::Stopped => write!(f, "Stopped"),
        }
    }
}

/// Where the server reports what it does.
pub type Log = Arc<dyn Fn(&ServerEvent) + Send + Sync>;

/// A bound lab server, ready to run.
pub struct Server {
    listener: TcpListener,
    addr: SocketAddr,
    config: Arc<ServerConfig>,
    opts: ServerOptions,
}

/// rustls' configuration for the lab server: TLS 1.2 only, client certificates required and
/// verified against the trusted CAs.
pub fn server_config(creds: Credentials) -> Result<Arc<ServerConfig>, LabError> {
    let tls = |reason: String| LabError::TlsConfig { reason };
    let (chain, key) = creds
        .identity
        .ok_or_else(|| tls("the server needs a certificate and its key".into()))?;
    let mut roots = RootCertStore::empty();
    for ca in creds.trust {
        roots
            .add(ca)
            .map_err(|e| tls(format!("the CA certificate is unusable ({e})")))?;
    }
    let provider = super::provider();
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| tls(e.to_string()))?;
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS12])
        .map_err(|e| tls(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| tls(e.to_string()))?;
    Ok(Arc::new(config))
}

impl Server {
    /// Sets up TLS and listens on `addr` (port 0 picks a free port).
    pub fn bind(
        addr: SocketAddr,
        creds: Credentials,
        opts: ServerOptions,
    ) -> Result<Self, LabError> {
        let config = server_config(creds)?;
        let bind_err = |e: io::Error| LabError::Bind {
            addr: addr.to_string(),
            reason: io_reason(&e),
        };
        let listener = TcpListener::bind(addr).map_err(bind_err)?;
        listener.set_nonblocking(true).map_err(bind_err)?;
        let addr = listener.local_addr().map_err(bind_err)?;
        Ok(Server {
            listener,
            addr,
            config,
            opts,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves clients until `stop` is set, then waits (at most one timeout) for the clients
    /// being served to finish.
    pub fn run(self, stop: &AtomicBool, log: Log) {
        log(&ServerEvent::Listening { addr: self.addr });
        let active = Arc::new(AtomicUsize::new(0));
        while !stop.load(Ordering::SeqCst) {
            if !readable(&self.listener) {
                continue;
            }
            let (sock, peer) = match self.listener.accept() {
                Ok(c) => c,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::Interrupted
                            | io::ErrorKind::ConnectionAborted
                    ) =>
                {
                    continue;
                }
                Err(e) => {
                    log(&ServerEvent::AcceptFailed {
                        reason: io_reason(&e),
                    });
                    std::thread::sleep(Duration::from_millis(ACCEPT_POLL_MS as u64));
                    continue;
                }
            };
            if active.load(Ordering::SeqCst) >= self.opts.max_clients {
                log(&ServerEvent::Busy {
                    peer,
                    max: self.opts.max_clients,
                });
                continue;
            }
            let slot = Slot::take(&active);
            let (config, timeout, log2) = (self.config.clone(), self.opts.timeout, log.clone());
            let spawned = std::thread::Builder::new()
                .name("capd-lab-conn".into())
                .spawn(move || {
                    let _slot = slot;
                    let event = match serve_client(sock, config, timeout) {
                        Ok(time) => ServerEvent::Sent { time, peer },
                        Err(reason) => ServerEvent::Rejected { peer, reason },
                    };
                    log2(&event);
                });
            if let Err(e) = spawned {
                log(&ServerEvent::Rejected {
                    peer,
                    reason: format!("no thread to serve it ({})", io_reason(&e)),
                });
            }
        }
        let deadline = Instant::now() + self.opts.timeout;
        while active.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        log(&ServerEvent::Stopped);
    }
}

/// Counts a client being served for as long as it lives, even if its thread panics.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(active: &Arc<AtomicUsize>) -> Self {
        active.fetch_add(1, Ordering::SeqCst);
        Slot(active.clone())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Waits up to the poll interval for a connection to accept.
fn readable(listener: &TcpListener) -> bool {
    let mut fds = libc::pollfd {
        fd: listener.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: `fds` is one valid pollfd for the duration of the call, and the descriptor is
    // owned by `listener`, which outlives it.
    let n = unsafe { libc::poll(&mut fds, 1, ACCEPT_POLL_MS) };
    n > 0 && fds.revents & libc::POLLIN != 0
}

/// Runs the lab's exchange with one client: handshake, the lab's certificate checks, the time,
/// close_notify. Returns the time sent, or why the client was rejected.
fn serve_client(
    mut sock: TcpStream,
    config: Arc<ServerConfig>,
    timeout: Duration,
) -> Result<String, String> {
    let setup = |e: io::Error| format!("its socket could not be set up ({})", io_reason(&e));
    sock.set_nonblocking(false).map_err(setup)?;
    sock.set_read_timeout(Some(timeout)).map_err(setup)?;
    sock.set_write_timeout(Some(timeout)).map_err(setup)?;
    let mut conn = ServerConnection::new(config).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + timeout;
    while conn.is_handshaking() {
        if Instant::now() > deadline {
            return Err(format!(
                "the TLS handshake took longer than {}s",
                timeout.as_secs()
            ));
        }
        conn.complete_io(&mut sock)
            .map_err(|e| format!("the TLS handshake failed: {}", io_reason(&e)))?;
    }
    let leaf = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or_else(|| "it presented no certificate".to_string())?;
    if let Err(reason) = check_peer_certificate(leaf, LAB_COMMON_NAME, ASN1Time::now()) {
        close(&mut conn, &mut sock);
        return Err(format!("the client's certificate was refused: {reason}"));
    }
    let time = super::time_string(time::OffsetDateTime::now_utc());
    let sent = conn
        .writer()
        .write_all(time.as_bytes())
        .and_then(|_| conn.complete_io(&mut sock).map(|_| ()));
    if let Err(e) = sent {
        return Err(format!("sending the time failed: {}", io_reason(&e)));
    }
    close(&mut conn, &mut sock);
    Ok(time)
}

/// Sends close_notify and FIN, then reads until the client closes too (or a short linger
/// ends), so that a normal session ends in a clean FIN exchange rather than a reset.
fn close(conn: &mut ServerConnection, sock: &mut TcpStream) {
    conn.send_close_notify();
    let _ = conn.complete_io(sock);
    let _ = sock.shutdown(Shutdown::Write);
    let _ = sock.set_read_timeout(Some(LINGER));
    let mut sink = [0u8; 4096];
    let until = Instant::now() + LINGER;
    while Instant::now() < until {
        match sock.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::lab::certs::{CertOptions, generate};
    use crate::lab::client::{ClientOptions, fetch};
    use std::sync::Mutex;

    /// A server on a free loopback port, its log, and a way to stop it.
    pub(crate) struct Running {
        pub(crate) addr: SocketAddr,
        stop: Arc<AtomicBool>,
        log: Arc<Mutex<Vec<ServerEvent>>>,
        thread: Option<std::thread::JoinHandle<()>>,
    }

    impl Running {
        pub(crate) fn start(creds: Credentials, opts: ServerOptions) -> Self {
            let server = Server::bind(SocketAddr::from(([127, 0, 0, 1], 0)), creds, opts).unwrap();
            let addr = server.local_addr();
            let stop = Arc::new(AtomicBool::new(false));
            let log = Arc::new(Mutex::new(Vec::new()));
            let (s, l) = (stop.clone(), log.clone());
            let thread = std::thread::spawn(move || {
                server.run(&s, Arc::new(move |e| l.lock().unwrap().push(e.clone())))
            });
            Running {
                addr,
                stop,
                log,
                thread: Some(thread),
            }
        }

        /// Waits until the log holds `n` client outcomes (sent or rejected).
        pub(crate) fn outcomes(&self, n: usize) -> Vec<ServerEvent> {
            let until = Instant::now() + Duration::from_secs(10);
            loop {
                let got: Vec<ServerEvent> = self
                    .log
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|e| {
                        matches!(
                            e,
                            ServerEvent::Sent { .. }
                                | ServerEvent::Rejected { .. }
                                | ServerEvent::Busy { .. }
                        )
                    })
                    .cloned()
                    .collect();
                if got.len() >= n || Instant::now() > until {
                    return got;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }

        pub(crate) fn client(&self) -> ClientOptions {
            ClientOptions {
                host: "127.0.0.1".into(),
                port: self.addr.port(),
                timeout: Duration::from_secs(5),
                ..ClientOptions::default()
            }
        }
    }

    impl Drop for Running {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::SeqCst);
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    #[test]
    fn a_lab_client_gets_the_time_and_the_server_logs_it() {
        let certs = generate(&CertOptions::default()).unwrap();
        let server = Running::start(certs.credentials().unwrap(), ServerOptions::default());
        let reply = fetch(&server.client(), certs.credentials().unwrap()).unwrap();
        assert!(reply.message.ends_with(" UTC"), "{}", reply.message);
        let log = server.outcomes(1);
        let ServerEvent::Sent { time, peer } = &log[0] else {
            panic!("expected a sent time, got {log:?}");
        };
        assert_eq!(time, &reply.message);
        assert_eq!(
            log[0].to_string(),
            format!("Securely sent {time} to (127.0.0.1, {})", peer.port())
        );
    }

    #[test]
    fn a_ca_signed_certificate_with_another_name_is_refused_after_the_handshake() {
        let ca = crate::lab::certs::Authority::generate().unwrap();
        let good = crate::lab::certs::issue_with(&ca, &CertOptions::default()).unwrap();
        let other = crate::lab::certs::issue_with(
            &ca,
            &CertOptions {
                common_name: "mallory".into(),
                ..CertOptions::default()
            },
        )
        .unwrap();
        let server = Running::start(good.credentials().unwrap(), ServerOptions::default());
        let err = fetch(&server.client(), other.credentials().unwrap()).unwrap_err();
        assert!(matches!(err, LabError::Exchange { .. }), "{err}");
        let log = server.outcomes(1);
        assert!(
            log[0].to_string().contains("common name is \"mallory\""),
            "{log:?}"
        );
    }

    #[test]
    fn a_stalled_client_times_out_without_holding_the_server() {
        let certs = generate(&CertOptions::default()).unwrap();
        let server = Running::start(
            certs.credentials().unwrap(),
            ServerOptions {
                max_clients: 4,
                timeout: Duration::from_millis(500),
            },
        );
        let stalled = TcpStream::connect(server.addr).unwrap();
        let log = server.outcomes(1);
        assert!(
            log[0].to_string().contains("timed out"),
            "expected a timeout, got {log:?}"
        );
        drop(stalled);
        let mut opts = server.client();
        opts.timeout = Duration::from_secs(5);
        assert!(fetch(&opts, certs.credentials().unwrap()).is_ok());
    }

    #[test]
    fn clients_beyond_the_limit_are_turned_away_and_later_ones_served() {
        let certs = generate(&CertOptions::default()).unwrap();
        let server = Running::start(
            certs.credentials().unwrap(),
            ServerOptions {
                max_clients: 1,
                timeout: Duration::from_secs(2),
            },
        );
        let holder = TcpStream::connect(server.addr).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let second = TcpStream::connect(server.addr).unwrap();
        let log = server.outcomes(1);
        assert!(
            matches!(log[0], ServerEvent::Busy { max: 1, .. }),
            "{log:?}"
        );
        drop((holder, second));
        let log = server.outcomes(2);
        assert!(matches!(log[1], ServerEvent::Rejected { .. }), "{log:?}");
        assert!(fetch(&server.client(), certs.credentials().unwrap()).is_ok());
    }

    #[test]
    fn setting_the_stop_flag_ends_the_server() {
        let certs = generate(&CertOptions::default()).unwrap();
        let mut server = Running::start(certs.credentials().unwrap(), ServerOptions::default());
        server.stop.store(true, Ordering::SeqCst);
        let started = Instant::now();
        server.thread.take().unwrap().join().unwrap();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(
            server.log.lock().unwrap().last(),
            Some(&ServerEvent::Stopped)
        );
    }
}
