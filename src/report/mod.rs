//! Rendering events: the only place that formats text. `json` writes CONTRACT.md's JSON
//! Lines, `human` Wireshark-style lines and summaries, `ladder` per-flow sequence diagrams,
//! `info` the Info column they use.

use std::io;

use crate::event::Event;

pub mod human;
pub mod info;
pub mod json;
pub mod ladder;

/// Somewhere events go.
pub trait Sink {
    /// Writes one event.
    fn emit(&mut self, ev: &Event) -> io::Result<()>;
    /// Pushes buffered output to its destination.
    fn flush(&mut self) -> io::Result<()>;
}
