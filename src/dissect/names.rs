//! Names of TLS registry values (IANA TLS parameters), keeping unknown values visible.

use std::borrow::Cow;

/// A protocol version's name: `SSL 2.0`, `SSL 3.0`, `TLS 1.0` ... `TLS 1.3`,
/// `TLS 1.3 (draft N)`, GREASE, or the hex value.
pub fn version_name(v: u16) -> Cow<'static, str> {
    match v {
        0x0002 => "SSL 2.0".into(),
        0x0300 => "SSL 3.0".into(),
        0x0301 => "TLS 1.0".into(),
        0x0302 => "TLS 1.1".into(),
        0x0303 => "TLS 1.2".into(),
        0x0304 => "TLS 1.3".into(),
        0x7f00..=0x7fff => format!("TLS 1.3 (draft {})", v & 0xff).into(),
        v if is_grease(v) => format!("GREASE 0x{v:04x}").into(),
        v => format!("0x{v:04x}").into(),
    }
}

/// RFC 8701 GREASE values: 0x0a0a, 0x1a1a, ... 0xfafa.
pub fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && (v >> 8) == (v & 0xff)
}

/// A handshake message type: its RFC name in snake case (events) and Wireshark's display name
/// (Info column, `ssl_31_handshake_type` in packet-tls-utils.c).
pub fn handshake_type(t: u8) -> Option<(&'static str, &'static str)> {
    Some(match t {
        0 => ("hello_request", "Hello Request"),
        1 => ("client_hello", "Client Hello"),
        2 => ("server_hello", "Server Hello"),
        3 => ("hello_verify_request", "Hello Verify Request"),
        4 => ("new_session_ticket", "New Session Ticket"),
        5 => ("end_of_early_data", "End of Early Data"),
        6 => ("hello_retry_request", "Hello Retry Request"),
        8 => ("encrypted_extensions", "Encrypted Extensions"),
        11 => ("certificate", "Certificate"),
        12 => ("server_key_exchange", "Server Key Exchange"),
        13 => ("certificate_request", "Certificate Request"),
        14 => ("server_hello_done", "Server Hello Done"),
        15 => ("certificate_verify", "Certificate Verify"),
        16 => ("client_key_exchange", "Client Key Exchange"),
        20 => ("finished", "Finished"),
        21 => ("certificate_url", "Client Certificate URL"),
        22 => ("certificate_status", "Certificate Status"),
        23 => ("supplemental_data", "Supplemental Data"),
        24 => ("key_update", "Key Update"),
        25 => ("compressed_certificate", "Compressed Certificate"),
        67 => ("encrypted_extensions", "Encrypted Extensions"),
        254 => ("message_hash", "Message Hash"),
        _ => return None,
    })
}

/// An alert level: snake-case name and Wireshark's display name.
pub fn alert_level(v: u8) -> (Cow<'static, str>, Cow<'static, str>) {
    match v {
        1 => ("warning".into(), "Warning".into()),
        2 => ("fatal".into(), "Fatal".into()),
        v => (
            format!("unknown_{v}").into(),
            format!("Unknown ({v})").into(),
        ),
    }
}

/// An alert description (RFC 8446 section 6 and the IANA registry): snake-case name and
/// Wireshark's display name (`ssl_31_alert_description`).
pub fn alert_description(v: u8) -> (Cow<'static, str>, Cow<'static, str>) {
    let (snake, shown) = match v {
        0 => ("close_notify", "Close Notify"),
        1 => ("end_of_early_data", "End of Early Data"),
        10 => ("unexpected_message", "Unexpected Message"),
        20 => ("bad_record_mac", "Bad Record MAC"),
        21 => ("decryption_failed", "Decryption Failed"),
        22 => ("record_overflow", "Record Overflow"),
        30 => ("decompression_failure", "Decompression Failure"),
        40 => ("handshake_failure", "Handshake Failure"),
        41 => ("no_certificate", "No Certificate"),
        42 => ("bad_certificate", "Bad Certificate"),
        43 => ("unsupported_certificate", "Unsupported Certificate"),
        44 => ("certificate_revoked", "Certificate Revoked"),
        45 => ("certificate_expired", "Certificate Expired"),
        46 => ("certificate_unknown", "Certificate Unknown"),
        47 => ("illegal_parameter", "Illegal Parameter"),
        48 => ("unknown_ca", "Unknown CA"),
        49 => ("access_denied", "Access Denied"),
        50 => ("decode_error", "Decode Error"),
        51 => ("decrypt_error", "Decrypt Error"),
        60 => ("export_restriction", "Export Restriction"),
        70 => ("protocol_version", "Protocol Version"),
        71 => ("insufficient_security", "Insufficient Security"),
        80 => ("internal_error", "Internal Error"),
        86 => ("inappropriate_fallback", "Inappropriate Fallback"),
        90 => ("user_canceled", "User Canceled"),
        100 => ("no_renegotiation", "No Renegotiation"),
        109 => ("missing_extension", "Missing Extension"),
        110 => ("unsupported_extension", "Unsupported Extension"),
        111 => ("certificate_unobtainable", "Certificate Unobtainable"),
        112 => ("unrecognized_name", "Unrecognized Name"),
        113 => (
            "bad_certificate_status_response",
            "Bad Certificate Status Response",
        ),
        114 => ("bad_certificate_hash_value", "Bad Certificate Hash Value"),
        115 => ("unknown_psk_identity", "Unknown PSK Identity"),
        116 => ("certificate_required", "Certificate Required"),
        120 => ("no_application_protocol", "No application Protocol"),
        121 => ("ech_required", "ECH Required"),
        v => {
            return (
                format!("unknown_{v}").into(),
                format!("Unknown ({v})").into(),
            );
        }
    };
    (snake.into(), shown.into())
}

/// The Protocol column for a version (`ssl_version_short_names`): `TLSv1.2`, `SSLv3` ...;
/// Wireshark shows `TLS` for versions it has no short name for, such as TLS 1.3 drafts.
pub fn version_short_name(v: u16) -> &'static str {
    match v {
        0x0002 => "SSLv2",
        0x0300 => "SSLv3",
        0x0301 => "TLSv1",
        0x0302 => "TLSv1.1",
        0x0303 => "TLSv1.2",
        0x0304 => "TLSv1.3",
        0x0101 => "GMTLSv1",
        _ => "TLS",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_by_name() {
        assert_eq!(version_name(0x0303), "TLS 1.2");
        assert_eq!(version_name(0x7f12), "TLS 1.3 (draft 18)");
        assert_eq!(version_name(0x0300), "SSL 3.0");
        assert_eq!(version_name(0x1234), "0x1234");
    }

    #[test]
    fn alert_and_handshake_names_have_both_forms() {
        assert_eq!(
            alert_description(42),
            ("bad_certificate".into(), "Bad Certificate".into())
        );
        assert_eq!(alert_level(2).1, "Fatal");
        assert_eq!(
            handshake_type(14),
            Some(("server_hello_done", "Server Hello Done"))
        );
        assert_eq!(handshake_type(99), None);
    }

    #[test]
    fn grease_values_are_recognised() {
        assert!(is_grease(0x0a0a));
        assert!(is_grease(0xfafa));
        assert!(!is_grease(0x0a1a));
        assert!(!is_grease(0x0303));
    }
}
