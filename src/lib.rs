//! capd: watch TCP and TLS handshakes as they happen.
//!
//! The pipeline runs one way: `capture` (libpcap, OS) → `decode` (bytes to headers) →
//! `flow` (TCP analysis and reassembly) → `dissect` (TLS) → `report` (text and JSON), with
//! `engine` tying decode, flow and dissect into a sans-IO core: frames in, events out;
//! `shard` runs several engines on worker threads (`--threads`) and merges their events.
//! `lab` is the mutual-TLS lab capd was built to watch, and `capd demo`.

pub mod capture;
pub mod cli;
pub mod decode;
pub mod dissect;
pub mod engine;
pub mod event;
pub mod flow;
pub mod lab;
pub mod prefetch;
pub mod report;
pub mod run;
pub mod shard;
