//! `capd demo`: the whole of capd in one command. It makes lab certificates in memory, starts
//! the lab server on a loopback port, captures `lo` filtered to that port through the ordinary
//! pipeline (`run::run_with`, the same code as `capd -i lo --port P`), runs a few clients
//! once the capture is open (two with the lab's certificate, one with none, one with a
//! certificate from another CA), stops the capture once they are done, and stops the server.
//!
//! The demo passes its CA and the lab's name to the pipeline, as `--ca CA.pem --expect-cn
//! localhost` would, so each TLS session ends with its verdict.
//!
//! The dissection is the pipeline's human output on stdout; the server's log and the clients'
//! results are interleaved with it as `[server]` and `[client N]` lines, so that each flow can
//! be matched to what the lab saw. Without permission to capture, the demo says so in one
//! sentence and points to the recorded capture instead.

use std::io::{self, IsTerminal};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;

use super::certs::{CertOptions, Credentials, LabCerts, generate};
use super::client::{ClientOptions, fetch};
use super::cmd::DemoArgs;
use super::server::{Log, Server, ServerOptions};
use super::{LAB_COMMON_NAME, say};
use crate::capture::CaptureError;
use crate::cli::{Args, ColorWhen};
use crate::dissect::verify::Verifier;

/// The recorded lab session a user without capture permission can replay instead.
pub const RECORDED: &str = "captures/lab-mtls12.pcap";
/// Pause between clients, so that their flows read one after the other.
const BETWEEN_CLIENTS: Duration = Duration::from_millis(200);
/// Time for the last FIN and ACK to pass through the pipeline before the capture stops.
const SETTLE: Duration = Duration::from_millis(500);

/// Which certificate a demo client presents, and whether the server should accept it.
struct Client {
    label: &'static str,
    creds: Credentials,
    should_pass: bool,
}

fn clients(lab: &LabCerts, rogue: &LabCerts) -> Result<Vec<Client>> {
    let good = || lab.credentials();
    let mut anonymous = lab.credentials()?;
    anonymous.identity = None;
    let mut foreign = lab.credentials()?;
    foreign.identity = rogue.credentials()?.identity;
    Ok(vec![
        Client {
            label: "lab certificate",
            creds: good()?,
            should_pass: true,
        },
        Client {
            label: "lab certificate",
            creds: good()?,
            should_pass: true,
        },
        Client {
            label: "no certificate",
            creds: anonymous,
            should_pass: false,
        },
        Client {
            label: "certificate from another CA",
            creds: foreign,
            should_pass: false,
        },
    ])
}

/// Runs the clients one after the other and reports each; returns the first unexpected outcome.
fn run_clients(addr: SocketAddr, clients: Vec<Client>, stop: &AtomicBool) -> Option<String> {
    let mut unexpected = None;
    for (i, c) in clients.into_iter().enumerate() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let n = i + 1;
        let opts = ClientOptions {
            host: addr.ip().to_string(),
            port: addr.port(),
            timeout: Duration::from_secs(5),
            ..ClientOptions::default()
        };
        match (fetch(&opts, c.creds), c.should_pass) {
            (Ok(reply), true) => say(&format!(
                "[client {n}, {}] Secure communication received from server:{}",
                c.label, reply.message
            )),
            (Err(e), false) => say(&format!(
                "[client {n}, {}] refused, as it should be: {e}",
                c.label
            )),
            (Ok(reply), false) => {
                say(&format!(
                    "[client {n}, {}] was served {} but should have been refused",
                    c.label, reply.message
                ));
                unexpected.get_or_insert(format!("the server accepted client {n} ({})", c.label));
            }
            (Err(e), true) => {
                say(&format!("[client {n}, {}] failed: {e}", c.label));
                unexpected.get_or_insert(format!("client {n} ({}) failed: {e}", c.label));
            }
        }
        std::thread::sleep(BETWEEN_CLIENTS);
    }
    unexpected
}

/// Runs `capd demo`.
pub fn run(args: DemoArgs) -> Result<()> {
    let lab = generate(&CertOptions::default()).context("making the demo's certificates")?;
    let rogue = generate(&CertOptions::default()).context("making the demo's certificates")?;
    let clients = clients(&lab, &rogue)?;
    let count = clients.len();
    let addr = SocketAddr::from(([127, 0, 0, 1], args.port.unwrap_or(0)));
    let server = Server::bind(
        addr,
        lab.credentials()?,
        ServerOptions {
            timeout: Duration::from_secs(5),
            ..ServerOptions::default()
        },
    )
    .context("starting the lab server")?;
    let addr = server.local_addr();
    let port = addr.port().to_string();
    let color = match args.color {
        ColorWhen::Auto => "auto",
        ColorWhen::Always => "always",
        ColorWhen::Never => "never",
    };
    let mut flags = vec!["capd", "-i", "lo", "--port", &port, "--color", color];
    if args.ladder {
        flags.push("--ladder");
    }
    let mut config = Args::try_parse_from(flags)
        .context("setting up the capture")?
        .into_config(io::stdout().is_terminal())
        .context("setting up the capture")?;
    // The demo knows its CA, so every session shows its verdict, as --ca would.
    config.engine.evidence = true;
    config.engine.verifier = Some(Arc::new(
        Verifier::from_pem(lab.ca_pem.as_bytes(), Some(LAB_COMMON_NAME.into()))
            .context("reading the demo's CA")?,
    ));

    // The server and the clients start only once the capture is open, so that a capture that
    // cannot start leaves nothing to undo but the bound socket.
    let server_stop = Arc::new(AtomicBool::new(false));
    let mut server_thread: Option<JoinHandle<()>> = None;
    let mut client_thread: Option<JoinHandle<Option<String>>> = None;
    let captured = crate::run::run_with(config, io::stdout(), |stop| {
        say(&format!(
            "capd demo: lab server on {addr}, capturing lo (tcp port {port}); {count} clients follow"
        ));
        let log: Log = Arc::new(|event| say(&format!("[server] {event}")));
        let server_stop = server_stop.clone();
        server_thread = std::thread::Builder::new()
            .name("capd-lab-server".into())
            .spawn(move || server.run(&server_stop, log))
            .ok();
        let clients_stop = stop.clone();
        client_thread = std::thread::Builder::new()
            .name("capd-demo-clients".into())
            .spawn(move || {
                let unexpected = run_clients(addr, clients, &clients_stop);
                std::thread::sleep(SETTLE);
                clients_stop.store(true, Ordering::SeqCst);
                unexpected
            })
            .ok();
        if server_thread.is_none() || client_thread.is_none() {
            stop.store(true, Ordering::SeqCst);
        }
    });
    let started = server_thread.is_some() && client_thread.is_some();
    let unexpected = client_thread.and_then(|t| t.join().ok().flatten());
    server_stop.store(true, Ordering::SeqCst);
    if let Some(t) = server_thread {
        let _ = t.join();
    }

    if let Err(e) = captured {
        if let Some(CaptureError::PermissionDenied { .. }) = e.downcast_ref::<CaptureError>() {
            anyhow::bail!(
                "the demo captures on lo, which needs root or CAP_NET_RAW; without them, replay the recorded lab session with capd -r {RECORDED}"
            );
        }
        return Err(e.context("capturing the demo"));
    }
    if !started {
        anyhow::bail!("the demo could not start its server and client threads");
    }
    if let Some(what) = unexpected {
        anyhow::bail!("the demo went wrong: {what}");
    }
    Ok(())
}
