//! The `capd` binary: flags to config, run, errors to exit codes (0 done, 1 runtime error,
//! 2 usage error), each error one sentence on stderr.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

use capd::cli::{Args, Command};

/// capd allocates through jemalloc. With 10,000 TLS sessions open at once (the benchmark's
/// mTLS capture) glibc's malloc and free spent much of the engine thread's time walking bins
/// of a fragmented heap. jemalloc, with its per-size slabs, made the 1-worker replay of that
/// capture 13-24% faster in paired runs, for 1-2 MiB more peak RSS.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, which it reads before `main` runs (a C string at this symbol).
/// - Blocks of 128 KiB and more (capture batches, output buffers) come from an arena of their
///   own whose pages go back to the system as soon as they are freed: jemalloc otherwise keeps
///   freed pages for 10 s, and with 2 workers the buffers in flight then raised peak RSS from
///   57 to 68 MiB on the mTLS capture.
/// - Each thread's cache of freed blocks is trimmed once per MiB allocated rather than per
///   64 KiB. The engine thread frees a handover's worth of sessions at once and allocates
///   their successors soon after; trimming between the two sent blocks back to the arena only
///   to fetch them again. The engine thread ran 1.6% fewer instructions (callgrind, 300,000
///   packets of the benchmark's mTLS capture), for the same peak RSS.
static MALLOC_CONF: [u8; 55] = *b"oversize_threshold:131072,tcache_gc_incr_bytes:1048576\0";
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF_PTR: Option<&u8> = Some(&MALLOC_CONF[0]);

fn main() -> ExitCode {
    let mut args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => ExitCode::SUCCESS,
                _ => ExitCode::from(2),
            };
        }
    };
    match args.command.take() {
        Some(Command::Lab { command }) => return finish(capd::lab::cmd::run(command)),
        Some(Command::Demo(demo)) => return finish(capd::lab::demo::run(demo)),
        None => {}
    }
    let config = match args.into_config(std::io::stdout().is_terminal()) {
        Ok(c) => capd::cli::Config {
            exit_after: true,
            ..c
        },
        Err(e) => {
            eprintln!("capd: {e}");
            return ExitCode::from(2);
        }
    };
    match capd::run::run(config, std::io::stdout().lock()) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("capd: {}", sentence(&e));
            ExitCode::from(1)
        }
    }
}

/// Exit status for a command's result: 0, or 1 with the error as one sentence on stderr.
fn finish(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("capd: {}", sentence(&e));
            ExitCode::from(1)
        }
    }
}

/// The error and its causes as one sentence: "writing output: broken pipe".
fn sentence(e: &anyhow::Error) -> String {
    let parts: Vec<String> = e.chain().map(|c| c.to_string()).collect();
    let mut s = parts.join(": ");
    if !s.ends_with('.') {
        s.push('.');
    }
    s
}
