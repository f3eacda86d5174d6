//! Rendering events: the only place that formats text. `json` writes CONTRACT.md's JSON
//! Lines, `human` Wireshark-style lines and summaries, `info` the Info column both use.

use std::io;

use crate::event::Event;

pub mod human;
pub mod info;
pub mod json;
pub mod jsonw;
pub mod sorted;

/// Somewhere events go.
pub trait Sink {
    /// Writes one event.
    fn emit(&mut self, ev: &Event) -> io::Result<()>;
    /// Pushes buffered output to its destination.
    fn flush(&mut self) -> io::Result<()>;
}
