//! Wireshark's TCP analysis labels as a set, in CONTRACT.md's snake-case names.

use serde::{Serialize, Serializer};

/// One TCP analysis label (Wireshark's `tcp.analysis.*` flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Label {
    Retransmission,
    FastRetransmission,
    SpuriousRetransmission,
    OutOfOrder,
    DuplicateAck,
    LostSegment,
    AckLostSegment,
    ZeroWindow,
    ZeroWindowProbe,
    ZeroWindowProbeAck,
    KeepAlive,
    KeepAliveAck,
    WindowUpdate,
    WindowFull,
    ReusedPorts,
}

impl Label {
    /// Every label, in CONTRACT.md's order.
    pub const ALL: [Label; 15] = [
        Label::Retransmission,
        Label::FastRetransmission,
        Label::SpuriousRetransmission,
        Label::OutOfOrder,
        Label::DuplicateAck,
        Label::LostSegment,
        Label::AckLostSegment,
        Label::ZeroWindow,
        Label::ZeroWindowProbe,
        Label::ZeroWindowProbeAck,
        Label::KeepAlive,
        Label::KeepAliveAck,
        Label::WindowUpdate,
        Label::WindowFull,
        Label::ReusedPorts,
    ];

    /// Every label, its names in byte order (the order of the keys of a flow's `analysis`).
    pub const BY_NAME: [Label; 15] = [
        Label::AckLostSegment,
        Label::DuplicateAck,
        Label::FastRetransmission,
        Label::KeepAlive,
        Label::KeepAliveAck,
        Label::LostSegment,
        Label::OutOfOrder,
        Label::Retransmission,
        Label::ReusedPorts,
        Label::SpuriousRetransmission,
        Label::WindowFull,
        Label::WindowUpdate,
        Label::ZeroWindow,
        Label::ZeroWindowProbe,
        Label::ZeroWindowProbeAck,
    ];

    /// The label's name in events.
    pub const fn name(self) -> &'static str {
        match self {
            Label::Retransmission => "retransmission",
            Label::FastRetransmission => "fast_retransmission",
            Label::SpuriousRetransmission => "spurious_retransmission",
            Label::OutOfOrder => "out_of_order",
            Label::DuplicateAck => "duplicate_ack",
            Label::LostSegment => "lost_segment",
            Label::AckLostSegment => "ack_lost_segment",
            Label::ZeroWindow => "zero_window",
            Label::ZeroWindowProbe => "zero_window_probe",
            Label::ZeroWindowProbeAck => "zero_window_probe_ack",
            Label::KeepAlive => "keep_alive",
            Label::KeepAliveAck => "keep_alive_ack",
            Label::WindowUpdate => "window_update",
            Label::WindowFull => "window_full",
            Label::ReusedPorts => "reused_ports",
        }
    }

    /// Wireshark's `tcp.analysis.*` field name for the label.
    pub const fn wireshark_field(self) -> &'static str {
        match self {
            Label::Retransmission => "tcp.analysis.retransmission",
            Label::FastRetransmission => "tcp.analysis.fast_retransmission",
            Label::SpuriousRetransmission => "tcp.analysis.spurious_retransmission",
            Label::OutOfOrder => "tcp.analysis.out_of_order",
            Label::DuplicateAck => "tcp.analysis.duplicate_ack",
            Label::LostSegment => "tcp.analysis.lost_segment",
            Label::AckLostSegment => "tcp.analysis.ack_lost_segment",
            Label::ZeroWindow => "tcp.analysis.zero_window",
            Label::ZeroWindowProbe => "tcp.analysis.zero_window_probe",
            Label::ZeroWindowProbeAck => "tcp.analysis.zero_window_probe_ack",
            Label::KeepAlive => "tcp.analysis.keep_alive",
            Label::KeepAliveAck => "tcp.analysis.keep_alive_ack",
            Label::WindowUpdate => "tcp.analysis.window_update",
            Label::WindowFull => "tcp.analysis.window_full",
            Label::ReusedPorts => "tcp.analysis.reused_ports",
        }
    }

    const fn bit(self) -> u16 {
        1 << (self as u8)
    }
}

/// A set of analysis labels. Copy-sized, so carrying it costs no allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Analysis(u16);

impl Analysis {
    pub fn insert(&mut self, l: Label) {
        self.0 |= l.bit();
    }

    pub fn contains(self, l: Label) -> bool {
        self.0 & l.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Labels present, in CONTRACT.md's order.
    pub fn iter(self) -> impl Iterator<Item = Label> {
        Label::ALL.into_iter().filter(move |l| self.contains(*l))
    }
}

impl FromIterator<Label> for Analysis {
    fn from_iter<I: IntoIterator<Item = Label>>(iter: I) -> Self {
        let mut a = Analysis::default();
        for l in iter {
            a.insert(l);
        }
        a
    }
}

impl Serialize for Analysis {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter().map(Label::name))
    }
}

/// Per-label counts for a flow's summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelCounts([u32; Label::ALL.len()]);

impl LabelCounts {
    pub fn add(&mut self, a: Analysis) {
        for l in a.iter() {
            self.0[l as usize] = self.0[l as usize].saturating_add(1);
        }
    }

    pub fn get(&self, l: Label) -> u32 {
        self.0[l as usize]
    }
}

impl Serialize for LabelCounts {
    /// Every label with its count, zeros included, so consumers need not guess absent keys.
    /// An object of fixed keys: written as a struct, which JSON writes as it would the map.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut m = s.serialize_struct("LabelCounts", Label::ALL.len())?;
        for l in Label::ALL {
            m.serialize_field(l.name(), &self.get(l))?;
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_serialize_in_contract_order() {
        let a: Analysis = [
            Label::ReusedPorts,
            Label::Retransmission,
            Label::FastRetransmission,
        ]
        .into_iter()
        .collect();
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            r#"["retransmission","fast_retransmission","reused_ports"]"#
        );
    }

    #[test]
    fn counts_serialize_as_the_map_of_every_label() {
        let mut c = LabelCounts::default();
        c.add([Label::KeepAlive].into_iter().collect());
        let map: std::collections::BTreeMap<&str, u32> =
            Label::ALL.iter().map(|l| (l.name(), c.get(*l))).collect();
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            serde_json::to_value(&map).unwrap()
        );
        let ordered: Vec<(&str, u32)> = Label::ALL.iter().map(|l| (l.name(), c.get(*l))).collect();
        let as_map = serde_json::to_string(&serde_json::Map::from_iter(
            ordered
                .iter()
                .map(|(k, v)| (k.to_string(), serde_json::json!(v))),
        ))
        .unwrap();
        assert_eq!(serde_json::to_value(&c).unwrap().to_string(), as_map);
    }

    #[test]
    fn by_name_is_every_label_in_byte_order() {
        let mut names: Vec<&str> = Label::ALL.iter().map(|l| l.name()).collect();
        names.sort_unstable();
        let by_name: Vec<&str> = Label::BY_NAME.iter().map(|l| l.name()).collect();
        assert_eq!(by_name, names);
    }

    #[test]
    fn counts_accumulate_per_label() {
        let mut c = LabelCounts::default();
        c.add([Label::DuplicateAck].into_iter().collect());
        c.add(
            [Label::DuplicateAck, Label::LostSegment]
                .into_iter()
                .collect(),
        );
        assert_eq!(c.get(Label::DuplicateAck), 2);
        assert_eq!(c.get(Label::LostSegment), 1);
        assert_eq!(c.get(Label::KeepAlive), 0);
    }
}
