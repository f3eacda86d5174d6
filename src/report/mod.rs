//! Rendering events: the only place that formats text. `json` writes CONTRACT.md's JSON
//! Lines, `human` Wireshark-style lines and summaries, `ladder` per-flow sequence diagrams,
//! `info` the Info column they use.

use std::io;

use crate::event::Event;

pub mod handshake;
pub mod human;
pub mod info;
pub mod json;
pub mod jsonw;
pub mod ladder;
pub mod sorted;

/// Somewhere events go.
pub trait Sink {
    /// Writes one event.
    fn emit(&mut self, ev: &Event) -> io::Result<()>;
    /// Pushes buffered output to its destination.
    fn flush(&mut self) -> io::Result<()>;
    /// Whether this sink writes JSON Lines, so that `--threads` workers may format the events
    /// themselves and hand over finished lines (`write_lines`) instead of events.
    fn is_json_lines(&self) -> bool {
        false
    }
    /// Writes lines already formatted as this sink formats them.
    fn write_lines(&mut self, _lines: &[u8]) -> io::Result<()> {
        Err(io::Error::other(
            "this output takes events, not formatted lines",
        ))
    }
    /// Writes lines already formatted as this sink formats them, given in pieces (which may
    /// split a line anywhere). The pieces may be left changed.
    fn write_lines_vectored(&mut self, pieces: &mut [io::IoSlice<'_>]) -> io::Result<()> {
        pieces.iter().try_for_each(|p| self.write_lines(p))
    }
}
