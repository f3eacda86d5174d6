//! Fuzz target: the TLS dissector over both directions of a conversation, fed as TCP would
//! feed it (a record cut at the end waits for the next segment), and every message decoder
//! on each segment's bytes.
//!
//! Input: the cipher suite and version (u16 BE each) the decoders assume, then records
//! (`capd_fuzz::Records`), one per segment. A record's control byte: bit 0 from the server,
//! bit 1 TCP cannot reassemble (the frame was cut), bits 2-3 how far the frame number moves
//! (0 to 3), bit 4 read certificate lists as TLS 1.3 does. The flag is unused.

#![no_main]

use capd::dissect::session::SessionBuilder;
use capd::dissect::tls::{Ctx, FrameTls, TlsConversation};
use capd::dissect::{cert, fingerprint, hello, messages};
use capd::event::{Endpoint, Event, Timestamp};
use capd::flow::pdu::{Need, Outcome};
use capd_fuzz::{Records, render};
use libfuzzer_sys::fuzz_target;

/// The most the dissector may ask for: one record of 2^16 - 1 bytes plus its 5-byte header.
const MAX_NEED: usize = 65536 + 5;

fn decoders(body: &[u8], cipher: u16, version: u16, tls13: bool) {
    if let Some(ch) = hello::parse_client_hello(body).or(hello::parse_sslv2_client_hello(body)) {
        let _ = (fingerprint::ja3(&ch), fingerprint::ja4(&ch));
    }
    if let Some(sh) = hello::parse_server_hello(body) {
        let _ = (fingerprint::ja3s(&sh), sh.negotiated_version());
    }
    for der in messages::certificate_chain(body, tls13)
        .iter()
        .flat_map(|chain| chain.iter())
    {
        let _ = serde_json::to_string(&cert::summarize(der));
    }
    let _ = serde_json::to_string(&cert::summarize(body));
    let _ = cert::subject_cn(body);
    let _ = serde_json::to_string(&messages::server_key_exchange(body, cipher, version, true));
    let _ = serde_json::to_string(&messages::certificate_request(body));
    let _ = serde_json::to_string(&messages::client_key_exchange(body, cipher, version));
    let _ = serde_json::to_string(&messages::certificate_verify(body, version, true));
    let _ = serde_json::to_string(&messages::new_session_ticket(body));
}

fuzz_target!(|input: &[u8]| {
    let [c0, c1, v0, v1, rest @ ..] = input else {
        return;
    };
    let (cipher, version) = (
        u16::from_be_bytes([*c0, *c1]),
        u16::from_be_bytes([*v0, *v1]),
    );
    let session = SessionBuilder::new(
        0,
        "192.0.2.1:40000".parse().unwrap(),
        "192.0.2.2:443".parse().unwrap(),
        None,
    );
    let client = Endpoint {
        ip: [192, 0, 2, 1].into(),
        port: 40000,
    };
    let server = Endpoint {
        ip: [192, 0, 2, 2].into(),
        port: 443,
    };
    let mut conv = TlsConversation::new(session);
    // Bytes of a record cut at the end of the previous segment, per side.
    let mut pending: [Vec<u8>; 2] = Default::default();
    let mut frame = 1u64;
    for (ctl, _, body) in Records::new(rest) {
        decoders(body, cipher, version, ctl & 0x10 != 0);
        frame += u64::from((ctl >> 2) & 3);
        let from_server = ctl & 1 != 0;
        let (src, dst) = if from_server {
            (server, client)
        } else {
            (client, server)
        };
        let ctx = Ctx {
            frame,
            ts: Timestamp::new(1_700_000_000, frame as u32),
            src,
            dst,
            from_client: !from_server,
            can_desegment: ctl & 2 == 0,
            may_buffer: ctl & 0x20 == 0,
        };
        let side = usize::from(from_server);
        let mut data = std::mem::take(&mut pending[side]);
        data.extend_from_slice(body);
        let mut out = FrameTls::default();
        match conv.dissect(&data, &ctx, &mut out) {
            Outcome::Desegment { offset, need } => {
                assert!(offset <= data.len());
                if let Need::Bytes(n) = need {
                    assert!(n as usize <= MAX_NEED, "asked for {n} bytes");
                }
                pending[side] = data.split_off(offset);
                assert!(
                    pending[side].len() < MAX_NEED,
                    "a cut record longer than a record"
                );
            }
            Outcome::Done | Outcome::NotOurs => {}
        }
        assert!(
            conv.buffered() <= 4 << 20,
            "handshake reassembly beyond its bound"
        );
        if let Some(s) = conv.session.as_mut().and_then(|b| b.take_ready()) {
            render(&Event::TlsHandshake(s));
        }
    }
    if let Some(s) = conv.session.as_mut().and_then(|b| b.take_final()) {
        render(&Event::TlsHandshake(s));
    }
});
