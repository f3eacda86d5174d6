//! Wireshark's heuristics (packet-tls.c, packet-tls-utils.c) that recognise TLS and SSL 2.0:
//! whether a conversation's first data is TLS (`is_sslv3_or_tls`), the ports TLS is
//! registered on, and the record-level checks `dissect_ssl` makes before it trusts a record.

/// TLS_MAX_RECORD_LENGTH in packet-tls-utils.h.
const TLS_MAX_RECORD_LENGTH: u16 = 0x4000;

/// Ports Wireshark 4.0 associates with TLS (`tls.port`), which decide the direction of
/// a conversation whose ClientHello was not seen (`ssl_packet_from_server`).
pub(super) const TLS_PORTS: [u16; 25] = [
    324, 443, 465, 636, 802, 853, 993, 995, 1300, 2221, 2443, 3249, 3250, 3251, 3252, 3389, 3496,
    5061, 5671, 5684, 5868, 8883, 11207, 19999, 27017,
];

const SSL2_HND_ERROR: u8 = 0;
pub(super) const SSL2_HND_CLIENT_HELLO: u8 = 1;
const SSL2_HND_CLIENT_MASTER_KEY: u8 = 2;
const SSL2_HND_SERVER_HELLO: u8 = 4;

/// `ssl_is_valid_content_type`.
pub(super) fn valid_content_type(t: u8) -> bool {
    (20..=25).contains(&t)
}

pub(super) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([
        b.get(at).copied().unwrap_or(0),
        b.get(at + 1).copied().unwrap_or(0),
    ])
}

pub(super) fn be24(b: &[u8], at: usize) -> u32 {
    (u32::from(b.get(at).copied().unwrap_or(0)) << 16)
        | (u32::from(b.get(at + 1).copied().unwrap_or(0)) << 8)
        | u32::from(b.get(at + 2).copied().unwrap_or(0))
}

/// `is_sslv3_or_tls`: the heuristic that claims a TCP conversation for TLS.
pub fn looks_like_tls_start(data: &[u8]) -> bool {
    if data.len() >= 5 {
        let ct = data[0];
        let version = be16(data, 1);
        let len = be16(data, 3);
        if (ct == 22 || ct == 23)
            && matches!(version, 0x0300..=0x0303 | 0x0101)
            && len != 0
            && len < TLS_MAX_RECORD_LENGTH + 2048
        {
            return true;
        }
    }
    is_sslv2_client_hello(data)
}

/// Wireshark registers TLS on these TCP ports (`tcp.port` table): their data goes to the
/// TLS dissector whatever it looks like, which then finds records or says it cannot.
pub fn is_tls_port(sport: u16, dport: u16) -> bool {
    TLS_PORTS.contains(&sport) || TLS_PORTS.contains(&dport)
}

/// `is_sslv2_clienthello`: an SSL 2.0-format ClientHello as SSL 3.0/TLS clients send it.
fn is_sslv2_client_hello(d: &[u8]) -> bool {
    d.len() >= 46
        && d[0] == 0x80
        && d[2] == 1
        && {
            let specs = be16(d, 5);
            specs != 0 && specs.is_multiple_of(3)
        }
        && matches!(be16(d, 7), 0 | 16)
        && be16(d, 9) == 32
}

/// `ssl_looks_like_sslv2`.
pub(super) fn looks_like_sslv2(d: &[u8]) -> bool {
    d.first().is_some_and(|b| *b >= 0x80)
        && matches!(
            d.get(2),
            Some(
                &(SSL2_HND_ERROR
                    | SSL2_HND_CLIENT_HELLO
                    | SSL2_HND_CLIENT_MASTER_KEY
                    | SSL2_HND_SERVER_HELLO)
            )
        )
}

/// `ssl_looks_like_sslv3`.
pub(super) fn looks_like_sslv3(d: &[u8]) -> bool {
    d.first().is_some_and(|b| valid_content_type(*b))
        && matches!(be16(d, 1), 0x0300..=0x0303 | 0x0101)
}

/// `ssl_looks_like_valid_v2_handshake` on a record body of `record_len` bytes.
pub(super) fn valid_v2_handshake(body: &[u8], record_len: u32) -> bool {
    let valid_version = |v: u16| matches!(v, 0x0002 | 0x0300..=0x0304 | 0x0101 | 0xfeff | 0xfefd);
    match body.first() {
        Some(&SSL2_HND_CLIENT_HELLO) => valid_version(be16(body, 1)),
        Some(&SSL2_HND_SERVER_HELLO) => valid_version(be16(body, 3)),
        Some(&SSL2_HND_CLIENT_MASTER_KEY) => {
            let sum =
                u32::from(be16(body, 4)) + u32::from(be16(body, 6)) + u32::from(be16(body, 8));
            sum <= record_len
        }
        _ => false,
    }
}

/// `ssl_20_msg_types`: display name and snake-case name.
pub(super) fn sslv2_message(t: u8) -> Option<(&'static str, &'static str)> {
    Some(match t {
        0 => ("Error", "error"),
        1 => ("Client Hello", "client_hello"),
        2 => ("Client Master Key", "client_master_key"),
        3 => ("Client Finished", "client_finished"),
        4 => ("Server Hello", "server_hello"),
        5 => ("Server Verify", "server_verify"),
        6 => ("Server Finished", "server_finished"),
        7 => ("Request Certificate", "request_certificate"),
        8 => ("Client Certificate", "client_certificate"),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(ct: u8, version: u16, body: &[u8]) -> Vec<u8> {
        let mut r = vec![ct];
        r.extend_from_slice(&version.to_be_bytes());
        r.extend_from_slice(&(body.len() as u16).to_be_bytes());
        r.extend_from_slice(body);
        r
    }

    #[test]
    fn heuristic_claims_handshake_and_app_data_records_only() {
        assert!(looks_like_tls_start(&record(22, 0x0301, &[1, 0, 0, 0])));
        assert!(looks_like_tls_start(&record(23, 0x0303, &[0; 20])));
        assert!(!looks_like_tls_start(&record(21, 0x0303, &[2, 40])));
        assert!(!looks_like_tls_start(&record(22, 0x0304, &[1])));
        assert!(!looks_like_tls_start(b"GET / HTTP/1.1\r\n"));
    }

    #[test]
    fn an_sslv2_format_client_hello_is_claimed_too() {
        // Record header (2 bytes), ClientHello, version 3.1, 3 cipher specs, no session id,
        // a 32-byte challenge.
        let mut hello = vec![0x80, 0x2b, 1, 3, 1, 0, 9, 0, 0, 0, 32];
        hello.extend_from_slice(&[0; 9]);
        hello.extend_from_slice(&[7; 32]);
        assert!(looks_like_tls_start(&hello));
        hello[6] = 8; // cipher specs are 3 bytes each
        assert!(!looks_like_tls_start(&hello));
    }

    #[test]
    fn tls_ports_count_from_either_side() {
        assert!(is_tls_port(51000, 443) && is_tls_port(853, 51000));
        assert!(!is_tls_port(51000, 15001));
    }
}
