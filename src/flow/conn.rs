//! Zeek-style connection summaries: the `history` letters and the `conn_state` of conn.log.
//!
//! Each endpoint moves through Zeek's TCP endpoint states (INACTIVE, SYN_SENT, SYN_ACK_SENT,
//! PARTIAL, ESTABLISHED, CLOSED, RESET); `state()` maps the pair to S0, S1, SF, REJ, S2, S3,
//! RSTO, RSTR, RSTOS0, RSTRH, SH, SHR or OTH exactly as Zeek's `conn_state()` does
//! (base/protocols/conn/main.zeek). History letters follow Zeek's documentation: upper case for
//! the originator (client), lower case for the responder; `c`, `g`, `t` and `w` repeat at
//! 1, 10, 100, ... occurrences, every other letter appears at most once per side.

use crate::event::TcpFlags;

/// A Zeek TCP endpoint state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EndpointState {
    /// Nothing seen from this side yet.
    #[default]
    Inactive,
    /// Sent a SYN.
    SynSent,
    /// Sent a SYN-ACK.
    SynAckSent,
    /// Seen only mid-stream (no SYN from this side).
    Partial,
    Established,
    /// Sent a FIN.
    Closed,
    /// Sent a RST.
    Reset,
}

/// History letters a side can record once.
const ONCE: &[u8] = b"SHADFRIQ^";

/// History and endpoint states of one connection; index 0 is the client (originator).
#[derive(Debug, Clone, Default)]
pub struct ConnState {
    pub ends: [EndpointState; 2],
    history: String,
    /// Counts of the repeating letters per side: checksum, gap, retransmission, zero window.
    repeats: [[u32; 4]; 2],
    /// Payload bytes seen per side (Zeek's `size`, used to tell REJ from RSTO).
    sizes: [u64; 2],
}

/// Repeating history events (Zeek records them at 1, 10, 100, ... occurrences).
#[derive(Debug, Clone, Copy)]
pub enum Repeat {
    Checksum = 0,
    Gap = 1,
    Retransmission = 2,
    ZeroWindow = 3,
}

impl ConnState {
    /// Marks that roles were assigned against the first packet's direction (Zeek's `^`).
    pub fn flipped(&mut self) {
        self.history.push('^');
    }

    fn letter(&mut self, from_client: bool, c: u8) {
        let ch = if from_client {
            c.to_ascii_uppercase()
        } else {
            c.to_ascii_lowercase()
        } as char;
        if ONCE.contains(&c.to_ascii_uppercase()) && self.history.contains(ch) {
            return;
        }
        self.history.push(ch);
    }

    /// Records a repeating event; the letter appears at the 1st, 10th, 100th, ... time.
    pub fn repeat(&mut self, from_client: bool, what: Repeat) {
        let side = usize::from(!from_client);
        let n = &mut self.repeats[side][what as usize];
        *n = n.saturating_add(1);
        let mut k = *n;
        while k.is_multiple_of(10) {
            k /= 10;
        }
        if k == 1 {
            let c = [b'c', b'g', b't', b'w'][what as usize];
            let ch = if from_client {
                c.to_ascii_uppercase()
            } else {
                c
            } as char;
            self.history.push(ch);
        }
    }

    /// Updates history and endpoint states for one segment.
    pub fn segment(&mut self, from_client: bool, flags: TcpFlags, payload_len: u32) {
        let me = usize::from(!from_client);
        let peer = me ^ 1;
        self.sizes[me] += u64::from(payload_len);
        let (syn, ack, fin, rst) = (flags.syn(), flags.ack(), flags.fin(), flags.rst());

        if syn && (fin || rst) {
            self.letter(from_client, b'q');
        } else if fin && rst {
            self.letter(from_client, b'i');
        }
        if syn {
            self.letter(from_client, if ack { b'h' } else { b's' });
        }
        if payload_len > 0 {
            self.letter(from_client, b'd');
        } else if ack && !syn && !fin && !rst {
            self.letter(from_client, b'a');
        }
        if fin {
            self.letter(from_client, b'f');
        }
        if rst {
            self.letter(from_client, b'r');
        }

        use EndpointState::*;
        let state = self.ends[me];
        self.ends[me] = if rst {
            Reset
        } else if fin {
            Closed
        } else if syn {
            match state {
                Inactive | SynSent | SynAckSent => {
                    if ack {
                        SynAckSent
                    } else {
                        SynSent
                    }
                }
                s => s,
            }
        } else {
            match state {
                Inactive => Partial,
                SynSent | SynAckSent if ack => Established,
                s => s,
            }
        };
        // The peer's SYN is acknowledged: a SYN-ACK sender becomes established once the
        // originator's ACK arrives.
        if ack && !syn && !rst && self.ends[peer] == SynAckSent {
            self.ends[peer] = Established;
        }
    }

    /// Zeek's conn_state for the endpoint pair.
    pub fn state(&self) -> &'static str {
        use EndpointState::*;
        let (os, rs) = (self.ends[0], self.ends[1]);
        let o_inactive = matches!(os, Inactive | Partial);
        let r_inactive = matches!(rs, Inactive | Partial);
        if rs == Reset {
            if matches!(os, SynSent | SynAckSent)
                || (os == Reset && self.sizes[0] == 0 && self.sizes[1] == 0)
            {
                "REJ"
            } else if o_inactive {
                "RSTRH"
            } else {
                "RSTR"
            }
        } else if os == Reset {
            if r_inactive {
                if self.rst_after_syn_only() {
                    "RSTOS0"
                } else {
                    "OTH"
                }
            } else {
                "RSTO"
            }
        } else if rs == Closed && os == Closed {
            "SF"
        } else if os == Closed {
            if r_inactive { "SH" } else { "S2" }
        } else if rs == Closed {
            if o_inactive { "SHR" } else { "S3" }
        } else if os == SynSent && rs == Inactive {
            "S0"
        } else if os == Established && rs == Established {
            "S1"
        } else {
            "OTH"
        }
    }

    /// Zeek's `/\^?S[^HAFGIQ]*R.*/` test on the history.
    fn rst_after_syn_only(&self) -> bool {
        let h = self.history.strip_prefix('^').unwrap_or(&self.history);
        let Some(rest) = h.strip_prefix('S') else {
            return false;
        };
        for c in rest.chars() {
            if c == 'R' {
                return true;
            }
            if "HAFGIQ".contains(c) {
                return false;
            }
        }
        false
    }

    pub fn history(&self) -> &str {
        &self.history
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u16 = TcpFlags::SYN;
    const A: u16 = TcpFlags::ACK;
    const F: u16 = TcpFlags::FIN;
    const R: u16 = TcpFlags::RST;
    const P: u16 = TcpFlags::PSH;

    fn run(steps: &[(bool, u16, u32)]) -> ConnState {
        let mut c = ConnState::default();
        for &(from_client, f, len) in steps {
            c.segment(from_client, TcpFlags(f), len);
        }
        c
    }

    #[test]
    fn full_connection_with_fin_both_ways_is_sf() {
        let c = run(&[
            (true, S, 0),
            (false, S | A, 0),
            (true, A, 0),
            (true, P | A, 10),
            (false, P | A, 20),
            (true, F | A, 0),
            (false, F | A, 0),
            (true, A, 0),
        ]);
        assert_eq!(c.history(), "ShADdFf");
        assert_eq!(c.state(), "SF");
    }

    #[test]
    fn unanswered_syn_is_s0() {
        let c = run(&[(true, S, 0), (true, S, 0)]);
        assert_eq!(c.history(), "S");
        assert_eq!(c.state(), "S0");
    }

    #[test]
    fn rst_answering_a_syn_is_rej() {
        let c = run(&[(true, S, 0), (false, R | A, 0)]);
        assert_eq!(c.history(), "Sr");
        assert_eq!(c.state(), "REJ");
    }

    #[test]
    fn established_and_open_is_s1() {
        let c = run(&[(true, S, 0), (false, S | A, 0), (true, A, 0)]);
        assert_eq!(c.state(), "S1");
    }

    #[test]
    fn client_reset_mid_stream_is_rsto_and_server_reset_is_rstr() {
        let base = [
            (true, S, 0),
            (false, S | A, 0),
            (true, A, 0),
            (true, P | A, 5),
        ];
        let mut steps = base.to_vec();
        steps.push((true, R, 0));
        assert_eq!(run(&steps).state(), "RSTO");
        let mut steps = base.to_vec();
        steps.push((false, R | A, 0));
        assert_eq!(run(&steps).state(), "RSTR");
    }

    #[test]
    fn syn_then_client_rst_is_rstos0() {
        assert_eq!(run(&[(true, S, 0), (true, R, 0)]).state(), "RSTOS0");
    }

    #[test]
    fn midstream_traffic_is_oth() {
        let c = run(&[(true, P | A, 10), (false, A, 0)]);
        assert_eq!(c.history(), "Da");
        assert_eq!(c.state(), "OTH");
    }

    #[test]
    fn retransmission_letters_repeat_logarithmically() {
        let mut c = ConnState::default();
        for _ in 0..100 {
            c.repeat(true, Repeat::Retransmission);
        }
        assert_eq!(c.history(), "TTT");
    }
}
