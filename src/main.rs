//! The `capd` binary: flags to config, run, errors to exit codes (0 done, 1 runtime error,
//! 2 usage error), each error one sentence on stderr.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

use capd::cli::{Args, Command};

/// glibc serves blocks above its mmap threshold (128 KiB) from their own mappings, returned
/// whole when freed, but raises that threshold to the size of any such block freed, up to
/// 32 MiB. Capture batches and output buffers are such blocks: once the threshold has risen
/// they come from the threads' heaps, which fragment and keep the pages. Setting the threshold
/// fixes it at its default (peak RSS 70 -> 59 MiB on the 4x mTLS bench capture with 2 workers,
/// no slower).
fn hold_malloc_thresholds() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters, before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

fn main() -> ExitCode {
    hold_malloc_thresholds();
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
        Ok(c) => c,
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
