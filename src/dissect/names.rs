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
    fn grease_values_are_recognised() {
        assert!(is_grease(0x0a0a));
        assert!(is_grease(0xfafa));
        assert!(!is_grease(0x0a1a));
        assert!(!is_grease(0x0303));
    }
}
