//! Command line: clap's raw `Args`, validated into a `Config` the rest of capd uses.
//!
//! Raw flags are checked here once (exactly one source, sensible sizes, a BPF expression built
//! from `--port` and `-f`), so nothing downstream re-validates user input.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::capture::{CaptureConfig, LiveOptions, Source};
use crate::dissect::verify::Verifier;
use crate::engine::EngineConfig;
use crate::lab::cmd::{DemoArgs, LabCommand};
use crate::report::human::{Detail, HumanOptions};
use crate::report::ladder::{LadderOptions, width_from_columns};

/// Watch TCP and TLS handshakes as they happen, live or from a capture file.
#[derive(Debug, Parser)]
#[command(
    name = "capd",
    version,
    disable_version_flag = true,
    args_conflicts_with_subcommands = true,
    about = "Watch TCP and TLS handshakes as they happen",
    after_help = "Examples:\n  sudo capd demo                       run the mTLS lab on loopback and watch it live\n  sudo capd -i lo --port 15001        watch the mTLS lab live\n  capd -r captures/lab-mtls12.pcap      replay a capture\n  capd -r file.pcap --ladder            draw each flow as a sequence diagram\n  capd -r lab.pcap --ca cert/CA/CA.pem --expect-cn localhost\n                                       judge each TLS session against the lab's CA\n  capd -r file.pcap --json | jq 'select(.event==\"tls_handshake\")'"
)]
pub struct Args {
    /// The lab and the demo; without a command, capd captures (-i) or replays (-r).
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Print the version.
    #[arg(long = "version", action = clap::ArgAction::Version)]
    pub version: Option<bool>,

    /// Capture live on this interface (needs root or CAP_NET_RAW).
    #[arg(
        short = 'i',
        long = "interface",
        value_name = "IFACE",
        conflicts_with = "read"
    )]
    pub interface: Option<String>,

    /// Replay a pcap or pcapng file.
    #[arg(short = 'r', long = "read", value_name = "FILE")]
    pub read: Option<PathBuf>,

    /// Keep TCP traffic to or from this port (repeatable).
    #[arg(long = "port", value_name = "PORT")]
    pub ports: Vec<u16>,

    /// Keep only frames matching this BPF expression (live and replay).
    #[arg(short = 'f', long = "filter", value_name = "BPF")]
    pub filter: Option<String>,

    /// Write every frame that passed the filters to this pcap file.
    #[arg(short = 'w', long = "write", value_name = "OUT.pcap")]
    pub write: Option<PathBuf>,

    /// Print JSON Lines events instead of text.
    #[arg(long)]
    pub json: bool,

    /// Stop after this many frames.
    #[arg(short = 'c', long = "count", value_name = "COUNT")]
    pub count: Option<u64>,

    /// Bytes to capture of each frame (live).
    #[arg(short = 's', long = "snaplen", value_name = "SNAPLEN", default_value_t = 262_144,
          value_parser = clap::value_parser!(i32).range(64..=262_144))]
    pub snaplen: i32,

    /// Kernel capture buffer size in KiB (live; 16384 when not given).
    #[arg(short = 'B', long = "buffer-size", value_name = "KiB",
          value_parser = clap::value_parser!(u32).range(64..=4_194_304))]
    pub buffer_kib: Option<u32>,

    /// Put the interface in promiscuous mode (off by default).
    #[arg(long)]
    pub promisc: bool,

    /// Hand each packet over as it arrives (live), instead of in blocks the kernel passes on
    /// within 5 ms; each packet then takes a ring slot of the snapshot length, so bursts are
    /// more likely to be dropped.
    #[arg(long = "immediate-mode")]
    pub immediate: bool,

    /// Show each packet's decoded fields.
    #[arg(short = 'V', long = "verbose", conflicts_with = "quiet")]
    pub verbose: bool,

    /// Show only flow and session summaries.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,

    /// Draw each TCP flow as a sequence diagram (client left, server right, one arrow per
    /// packet, COLUMNS wide) instead of the packet list; with -V each arrow also shows its
    /// packet-list line.
    #[arg(long, conflicts_with_all = ["json", "quiet"])]
    pub ladder: bool,

    /// Colour the text output.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorWhen::Auto)]
    pub color: ColorWhen,

    /// Judge every TLS session against this CA (PEM): chains, names, handshake signatures and
    /// alerts; each tls_handshake then carries a verdict.
    #[arg(long = "ca", value_name = "CA.pem", help_heading = "Verdict")]
    pub ca: Option<PathBuf>,

    /// With --ca: the common name both certificates must carry (else the server's is matched
    /// against the SNI, or the address the client connected to).
    #[arg(
        long = "expect-cn",
        value_name = "NAME",
        requires = "ca",
        help_heading = "Verdict"
    )]
    pub expect_cn: Option<String>,

    /// Drop privileges to this user once the capture is open.
    #[arg(short = 'Z', long = "user", value_name = "USER")]
    pub user: Option<String>,

    /// Most TCP flows tracked at once; the least recently active are evicted beyond it.
    #[arg(long = "max-flows", value_name = "N", default_value_t = 100_000,
          value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub max_flows: u64,

    /// Most ended TCP conversations remembered, so that a later segment on the same addresses
    /// and ports continues Wireshark's numbering and labels (about 250 bytes each); the
    /// oldest are forgotten first.
    #[arg(long = "max-ended-flows", value_name = "N",
          default_value_t = crate::flow::table::DEFAULT_MAX_RETIRED as u64,
          value_parser = clap::value_parser!(u64).range(0..=100_000_000))]
    pub max_ended_flows: u64,

    /// Worker threads dissecting flows (each flow stays on one); output is the same as with
    /// one, unless a cap (--max-flows, --max-ended-flows, reassembly memory) is reached.
    #[arg(long = "threads", value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u64).range(1..=64))]
    pub threads: u64,

    /// Seconds of capture time after which a silent flow ends.
    #[arg(long = "idle-timeout", value_name = "SECONDS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub idle_timeout: u64,
}

/// capd's commands besides capturing and replaying.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The mutual-TLS lab: certificates, server and client (port 15001).
    Lab {
        #[command(subcommand)]
        command: LabCommand,
    },
    /// Run the lab on loopback and watch it live: server, clients, capture and dissection.
    Demo(DemoArgs),
}

/// When to colour text output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

/// Output format.
#[derive(Debug, Clone, Copy)]
pub enum Output {
    Json,
    Human(HumanOptions),
    Ladder(LadderOptions),
}

/// Everything a capture run needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub capture: CaptureConfig,
    pub engine: EngineConfig,
    pub output: Output,
    pub user: Option<String>,
    /// Worker threads (`--threads`); 1 runs one engine on a thread of its own.
    pub threads: usize,
    /// The process exits as soon as the run returns: what the run built (an engine holding
    /// thousands of flows, written events waiting to be dropped) is left for the exit to free
    /// at once rather than freed piece by piece, which took 3-6 ms after the last output of
    /// the benchmark's mTLS replay. `into_config` leaves it off; `capd` sets it.
    pub exit_after: bool,
}

/// A usage error, reported with exit status 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The BPF expression for `--port` and `-f` together.
pub fn bpf_expression(ports: &[u16], filter: Option<&str>) -> Option<String> {
    let ports = (!ports.is_empty()).then(|| {
        let each: Vec<String> = ports.iter().map(|p| format!("tcp port {p}")).collect();
        each.join(" or ")
    });
    match (ports, filter.map(str::trim).filter(|f| !f.is_empty())) {
        (None, None) => None,
        (Some(p), None) => Some(p),
        (None, Some(f)) => Some(f.to_string()),
        (Some(p), Some(f)) => Some(format!("({p}) and ({f})")),
    }
}

impl Args {
    /// Validates the flags into a `Config`.
    pub fn into_config(self, stdout_is_terminal: bool) -> Result<Config, UsageError> {
        let source = match (self.interface, self.read) {
            (Some(i), None) => Source::Live(LiveOptions {
                interface: i,
                snaplen: self.snaplen,
                buffer_size: self.buffer_kib.map(|k| (k as i32).saturating_mul(1024)),
                promiscuous: self.promisc,
                immediate: self.immediate,
            }),
            (None, Some(r)) => Source::File(r),
            (None, None) => {
                return Err(UsageError(
                    "nothing to capture: give -i IFACE to capture live or -r FILE to replay (see capd --help)".into(),
                ));
            }
            (Some(_), Some(_)) => {
                return Err(UsageError("-i and -r cannot be used together".into()));
            }
        };
        if self.ports.contains(&0) {
            return Err(UsageError("--port 0 is not a valid port".into()));
        }
        if self.count == Some(0) {
            return Err(UsageError(
                "-c 0 would capture nothing; give a count of at least 1".into(),
            ));
        }
        let detail = if self.quiet {
            Detail::Quiet
        } else if self.verbose {
            Detail::Verbose
        } else {
            Detail::Lines
        };
        let color = match self.color {
            ColorWhen::Always => true,
            ColorWhen::Never => false,
            ColorWhen::Auto => stdout_is_terminal && std::env::var_os("NO_COLOR").is_none(),
        };
        let output = if self.json {
            Output::Json
        } else if self.ladder {
            Output::Ladder(LadderOptions {
                color,
                verbose: self.verbose,
                width: width_from_columns(std::env::var("COLUMNS").ok().as_deref()),
            })
        } else {
            Output::Human(HumanOptions { detail, color })
        };
        let verifier = match &self.ca {
            Some(path) => Some(load_ca(path, self.expect_cn.clone())?),
            None => None,
        };
        let mut engine = EngineConfig::default();
        engine.flows.max_flows = self.max_flows as usize;
        engine.flows.max_retired = self.max_ended_flows as usize;
        engine.flows.idle_timeout_ns = i128::from(self.idle_timeout) * 1_000_000_000;
        engine.emit_other_frames = matches!(output, Output::Human(h) if h.detail != Detail::Quiet);
        // Raw TLS evidence (chains, transcripts) is kept only for the checks `--ca` makes.
        engine.evidence = verifier.is_some();
        engine.verifier = verifier.map(std::sync::Arc::new);
        Ok(Config {
            capture: CaptureConfig {
                source,
                filter: bpf_expression(&self.ports, self.filter.as_deref()),
                count: self.count,
                write: self.write,
            },
            engine,
            output,
            user: self.user,
            threads: self.threads as usize,
            exit_after: false,
        })
    }
}

/// Reads the `--ca` file, a usage error naming it when it is missing or holds no CA.
fn load_ca(path: &std::path::Path, expect_cn: Option<String>) -> Result<Verifier, UsageError> {
    let pem = std::fs::read(path).map_err(|e| {
        UsageError(format!(
            "cannot read the --ca file {}: {}",
            path.display(),
            crate::lab::io_reason(&e)
        ))
    })?;
    Verifier::from_pem(&pem, expect_cn)
        .map_err(|e| UsageError(format!("the --ca file {} {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, String> {
        let a = Args::try_parse_from(std::iter::once("capd").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        a.into_config(false).map_err(|e| e.to_string())
    }

    #[test]
    fn ports_and_filter_make_one_bpf_expression() {
        assert_eq!(
            bpf_expression(&[15001], None).as_deref(),
            Some("tcp port 15001")
        );
        assert_eq!(
            bpf_expression(&[443, 15001], Some("host 127.0.0.1")).as_deref(),
            Some("(tcp port 443 or tcp port 15001) and (host 127.0.0.1)")
        );
        assert_eq!(bpf_expression(&[], Some("  ")), None);
    }

    #[test]
    fn a_source_is_required_and_only_one() {
        assert!(parse(&[]).unwrap_err().contains("-i IFACE"));
        assert!(parse(&["-i", "lo", "-r", "x.pcap"]).is_err());
        assert!(parse(&["-r", "x.pcap"]).is_ok());
    }

    #[test]
    fn replay_flags_reach_the_config() {
        let c = parse(&["-r", "x.pcap", "--port", "15001", "-c", "10", "--json"]).unwrap();
        assert_eq!(c.capture.count, Some(10));
        assert_eq!(c.capture.filter.as_deref(), Some("tcp port 15001"));
        assert!(matches!(c.output, Output::Json));
    }

    #[test]
    fn live_and_ended_flows_have_their_own_caps() {
        let c = parse(&["-r", "x.pcap"]).unwrap();
        assert_eq!(c.engine.flows.max_flows, 100_000);
        assert_eq!(c.engine.flows.max_retired, 32_768);
        let c = parse(&[
            "-r",
            "x.pcap",
            "--max-flows",
            "10",
            "--max-ended-flows",
            "0",
        ])
        .unwrap();
        assert_eq!(c.engine.flows.max_flows, 10);
        assert_eq!(c.engine.flows.max_retired, 0);
    }

    #[test]
    fn lab_and_demo_are_commands_that_capture_flags_cannot_join() {
        let lab = Args::try_parse_from(["capd", "lab", "server", "--port", "0"]).unwrap();
        assert!(matches!(lab.command, Some(Command::Lab { .. })));
        let demo = Args::try_parse_from(["capd", "demo"]).unwrap();
        assert!(matches!(demo.command, Some(Command::Demo(_))));
        assert!(Args::try_parse_from(["capd", "-r", "x.pcap", "demo"]).is_err());
        assert!(Args::try_parse_from(["capd", "lab", "client", "--cert", "c.pem"]).is_err());
        assert!(
            Args::try_parse_from([
                "capd",
                "lab",
                "client",
                "--no-cert",
                "--cert",
                "c",
                "--key",
                "k"
            ])
            .is_err()
        );
        assert!(Args::try_parse_from(["capd", "demo", "--port", "0"]).is_err());
        // Without a command, capturing is as before.
        assert!(parse(&["-r", "x.pcap"]).is_ok());
    }

    #[test]
    fn ladder_replaces_the_packet_list_and_excludes_json_and_quiet() {
        let c = parse(&["-r", "x.pcap", "--ladder", "-V", "--color", "always"]).unwrap();
        assert!(matches!(
            c.output,
            Output::Ladder(LadderOptions {
                color: true,
                verbose: true,
                ..
            })
        ));
        assert!(!c.engine.emit_other_frames);
        assert!(parse(&["-r", "x.pcap", "--ladder", "--json"]).is_err());
        assert!(parse(&["-r", "x.pcap", "--ladder", "-q"]).is_err());
    }

    #[test]
    fn a_missing_or_invalid_ca_file_is_a_usage_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.pem");
        let err = parse(&["-r", "x.pcap", "--ca", missing.to_str().unwrap()]).unwrap_err();
        assert!(
            err.contains("cannot read the --ca file") && err.contains("nope.pem"),
            "{err}"
        );
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "hello").unwrap();
        let err = parse(&["-r", "x.pcap", "--ca", junk.to_str().unwrap()]).unwrap_err();
        assert!(err.contains("holds no PEM certificate"), "{err}");
        // --expect-cn means nothing without --ca.
        assert!(parse(&["-r", "x.pcap", "--expect-cn", "localhost"]).is_err());
        let lab = crate::lab::certs::generate(&crate::lab::certs::CertOptions::default()).unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, &lab.ca_pem).unwrap();
        let c = parse(&[
            "-r",
            "x.pcap",
            "--ca",
            ca.to_str().unwrap(),
            "--expect-cn",
            "localhost",
        ])
        .unwrap();
        assert!(c.engine.verifier.is_some());
        assert!(c.engine.evidence);
    }

    #[test]
    fn silly_sizes_are_usage_errors() {
        assert!(parse(&["-i", "lo", "-s", "10"]).is_err());
        assert!(parse(&["-r", "x.pcap", "-c", "0"]).is_err());
        assert!(parse(&["-r", "x.pcap", "--port", "0"]).is_err());
    }
}
