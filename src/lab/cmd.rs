//! The `capd lab certs|server|client` and `capd demo` command lines: their clap arguments,
//! and running them with the lab's errors given context for the binary's one-sentence
//! messages. `cli.rs` only names these subcommands; main.rs dispatches to `run`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use time::OffsetDateTime;

use super::certs::{Authority, CertOptions, Credentials, Layout, generate, issue_with};
use super::client::{ClientOptions, fetch};
use super::server::{Log, Server, ServerOptions};
use super::{LAB_COMMON_NAME, LAB_PORT, say};
use crate::cli::ColorWhen;

/// The lab's three commands.
#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Make a CA and a CA-signed localhost certificate and key in the lab's layout (DIR/cert/...).
    Certs(CertsArgs),
    /// Serve the time over mutual TLS 1.2 to clients holding a certificate from the lab's CA.
    Server(ServerArgs),
    /// Fetch the time from the lab server over mutual TLS.
    Client(ClientArgs),
}

/// `capd lab certs`.
#[derive(Debug, Args)]
pub struct CertsArgs {
    /// Directory to write cert/ under.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out: PathBuf,

    /// Replace existing lab certificates and keys.
    #[arg(long)]
    pub force: bool,

    /// Sign with the CA of this lab directory instead of making a new CA.
    #[arg(
        long = "ca-from",
        value_name = "DIR",
        help_heading = "Certificates for failure studies"
    )]
    pub ca_from: Option<PathBuf>,

    /// Common name of the certificate instead of localhost.
    #[arg(
        long = "cn",
        value_name = "NAME",
        help_heading = "Certificates for failure studies"
    )]
    pub common_name: Option<String>,

    /// First day the certificate is valid (YYYY-MM-DD, UTC).
    #[arg(long = "not-before", value_name = "DATE", value_parser = parse_date,
          help_heading = "Certificates for failure studies")]
    pub not_before: Option<OffsetDateTime>,

    /// Day the certificate expires (YYYY-MM-DD, UTC); a past date makes an expired certificate.
    #[arg(long = "not-after", value_name = "DATE", value_parser = parse_date,
          help_heading = "Certificates for failure studies")]
    pub not_after: Option<OffsetDateTime>,
}

/// `capd lab server`.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Port to listen on (0 picks a free one).
    #[arg(long, value_name = "PORT", default_value_t = LAB_PORT)]
    pub port: u16,

    /// Address to listen on (e.g. ::1 for IPv6).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub bind: IpAddr,

    /// Lab directory holding cert/ (made by capd lab certs).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub certs: PathBuf,

    /// Most clients served at once; more are turned away.
    #[arg(long = "max-clients", value_name = "N", default_value_t = 32,
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub max_clients: u16,

    /// Seconds a client may take over its handshake or stay silent.
    #[arg(long, value_name = "SECONDS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=300))]
    pub timeout: u64,
}

/// `capd lab client`.
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// Server name or address.
    #[arg(long, value_name = "HOST", default_value = "127.0.0.1")]
    pub host: String,

    /// Server port.
    #[arg(long, value_name = "PORT", default_value_t = LAB_PORT,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub port: u16,

    /// Lab directory holding cert/ (made by capd lab certs): the CA bundle to trust and, unless
    /// --cert or --no-cert, the certificate to present.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub certs: PathBuf,

    /// Present this certificate (PEM) instead of the lab's.
    #[arg(
        long,
        value_name = "FILE",
        requires = "key",
        conflicts_with = "no_cert"
    )]
    pub cert: Option<PathBuf>,

    /// The key of --cert (PEM, unencrypted).
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,

    /// Present no certificate (the lab server refuses such clients).
    #[arg(long = "no-cert")]
    pub no_cert: bool,

    /// Offer TLS 1.3 as well as TLS 1.2.
    #[arg(long)]
    pub tls13: bool,

    /// Seconds to wait for the connection, the handshake and the reply.
    #[arg(long, value_name = "SECONDS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=300))]
    pub timeout: u64,
}

/// `capd demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Port for the lab server (a free one when not given).
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,

    /// Colour the text output.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorWhen::Auto)]
    pub color: ColorWhen,

    /// Draw each flow as a sequence diagram instead of the packet list (see capd --help).
    #[arg(long)]
    pub ladder: bool,
}

/// A date on the command line: YYYY-MM-DD, midnight UTC.
fn parse_date(s: &str) -> Result<OffsetDateTime, String> {
    let bad = || format!("{s:?} is not a date of the form YYYY-MM-DD");
    let mut parts = s.splitn(3, '-');
    let mut next = || parts.next().ok_or_else(bad);
    let year: i32 = next()?.parse().map_err(|_| bad())?;
    let month: u8 = next()?.parse().map_err(|_| bad())?;
    let day: u8 = next()?.parse().map_err(|_| bad())?;
    let month = time::Month::try_from(month).map_err(|_| bad())?;
    let date = time::Date::from_calendar_date(year, month, day).map_err(|_| bad())?;
    Ok(date.midnight().assume_utc())
}

/// Runs one `capd lab` command.
pub fn run(cmd: LabCommand) -> Result<()> {
    match cmd {
        LabCommand::Certs(a) => certs(a),
        LabCommand::Server(a) => server(a),
        LabCommand::Client(a) => client(a),
    }
}

fn certs(a: CertsArgs) -> Result<()> {
    let opts = CertOptions {
        common_name: a.common_name.unwrap_or_else(|| LAB_COMMON_NAME.into()),
        not_before: a.not_before,
        not_after: a.not_after,
    };
    let made = match &a.ca_from {
        Some(dir) => {
            let ca = Authority::load(&Layout::new(dir)).context("reading the CA to sign with")?;
            issue_with(&ca, &opts)?
        }
        None => generate(&opts)?,
    };
    for path in made.write(&Layout::new(&a.out), a.force)? {
        say(&format!("wrote {}", path.display()));
    }
    Ok(())
}

/// Says how to make certificates when a lab directory has none.
fn require_certs(dir: &std::path::Path) -> Result<Layout> {
    let layout = Layout::new(dir);
    if !layout.bundle().exists() {
        anyhow::bail!(
            "{} holds no lab certificates (no {}); make them with capd lab certs --out {}",
            dir.display(),
            layout.bundle().display(),
            dir.display()
        );
    }
    Ok(layout)
}

fn server(a: ServerArgs) -> Result<()> {
    let layout = require_certs(&a.certs)?;
    let creds = Credentials::load(&layout.bundle(), Some((&layout.cert(), &layout.key())))
        .context("loading the lab server's certificates")?;
    let opts = ServerOptions {
        max_clients: usize::from(a.max_clients),
        timeout: Duration::from_secs(a.timeout),
    };
    let server = Server::bind(SocketAddr::new(a.bind, a.port), creds, opts)
        .context("starting the lab server")?;
    let stop = crate::run::stop_flag();
    let log: Log = Arc::new(|event| say(&event.to_string()));
    server.run(&stop, log);
    Ok(())
}

fn client(a: ClientArgs) -> Result<()> {
    let layout = require_certs(&a.certs)?;
    let identity = match (&a.cert, &a.key) {
        _ if a.no_cert => None,
        (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
        _ => Some((layout.cert(), layout.key())),
    };
    let creds = Credentials::load(
        &layout.bundle(),
        identity.as_ref().map(|(c, k)| (c.as_path(), k.as_path())),
    )
    .context("loading the lab client's certificates")?;
    let opts = ClientOptions {
        host: a.host,
        port: a.port,
        tls13: a.tls13,
        timeout: Duration::from_secs(a.timeout),
        ..ClientOptions::default()
    };
    let reply = fetch(&opts, creds)?;
    say(&format!(
        "Secure communication received from server:{}",
        reply.message
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_calendar_days_at_midnight_utc() {
        let d = parse_date("2021-02-28").unwrap();
        assert_eq!(d.unix_timestamp(), 1_614_470_400);
        assert!(parse_date("2021-02-30").is_err());
        assert!(parse_date("2021-13-01").is_err());
        assert!(parse_date("yesterday").is_err());
        assert!(parse_date("2021-02").is_err());
    }
}
