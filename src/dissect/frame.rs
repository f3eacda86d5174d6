//! The TLS part of one frame (its Info items, Protocol column and records, as the `packet`
//! event carries them), the dissector that TCP desegmentation calls to fill it, and the
//! emptied lists of frames already written that the next frames fill instead of allocating.

use std::borrow::Cow;

use super::TlsRecord;
use super::tls::{Ctx, TlsConversation};
use crate::event::{AppInfo, Event};
use crate::flow::pdu::{Dissector, Outcome};

/// The TLS part of one frame: columns and records, filled by one or more `dissect` calls.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FrameTls {
    /// The Protocol column as TLS last set it.
    pub protocol: Option<&'static str>,
    /// Info column items, in order.
    pub items: Vec<Cow<'static, str>>,
    /// Records dissected in this frame.
    pub records: Vec<TlsRecord>,
    /// The dissector ran on this frame's data at least once.
    pub called: bool,
    /// Emptied message lists to fill before allocating new ones (see `TlsSpares`).
    pub spare_messages: Vec<Vec<Cow<'static, str>>>,
}

/// Emptied lists from events already written, kept so that a TLS frame's Info items, records
/// and handshake-message names are written into memory that is already there: without them,
/// every TLS frame cost three allocations and three frees.
#[derive(Debug, Default)]
pub struct TlsSpares {
    items: Vec<Vec<Cow<'static, str>>>,
    records: Vec<Vec<TlsRecord>>,
    messages: Vec<Vec<Cow<'static, str>>>,
}

impl TlsSpares {
    /// Lists kept of each kind: written events come back a handover at a time (128 events,
    /// see `run`), up to a hundred of them TLS frames with a list or two each; lists grown by
    /// a hostile frame are not kept at all (`MAX_KEPT_CAPACITY`).
    const MAX_KEPT: usize = 256;
    const MAX_KEPT_CAPACITY: usize = 32;

    /// A frame's TLS part, with lists from the spares.
    pub fn frame(&mut self) -> FrameTls {
        FrameTls {
            items: self.items.pop().unwrap_or_default(),
            records: self.records.pop().unwrap_or_default(),
            spare_messages: std::mem::take(&mut self.messages),
            ..FrameTls::default()
        }
    }

    /// Takes back what `frame` lent that the frame did not use.
    pub fn unused(&mut self, frame: &mut FrameTls) {
        self.messages = std::mem::take(&mut frame.spare_messages);
        self.keep_items(std::mem::take(&mut frame.items));
        self.keep_records(std::mem::take(&mut frame.records));
    }

    /// Keeps a written frame's Info items.
    pub fn keep_items(&mut self, items: Vec<Cow<'static, str>>) {
        Self::keep(&mut self.items, items);
    }

    /// Keeps a written frame's records and their message lists.
    pub fn keep_records(&mut self, mut records: Vec<TlsRecord>) {
        for r in &mut records {
            if let Some(m) = r.messages.take() {
                Self::keep(&mut self.messages, m);
            }
        }
        Self::keep(&mut self.records, records);
    }

    /// Takes the lists out of an event that has been written (the event is left without
    /// them).
    pub fn reclaim(&mut self, ev: &mut Event) {
        if let Event::Packet(p) = ev {
            self.keep_records(std::mem::take(&mut p.tls));
            if let AppInfo::Tls(info) = &mut p.app {
                self.keep_items(std::mem::take(&mut info.items));
            }
        }
    }

    /// Takes the lists `other` kept (another thread's `reclaim`s), as many as fit; `other`
    /// is left empty, with pools to fill again.
    pub fn absorb(&mut self, other: &mut TlsSpares) {
        fn pool<T>(mine: &mut Vec<Vec<T>>, theirs: &mut Vec<Vec<T>>) {
            if mine.len() < theirs.len() {
                std::mem::swap(mine, theirs);
            }
            let room = TlsSpares::MAX_KEPT.saturating_sub(mine.len());
            let n = room.min(theirs.len());
            mine.extend(theirs.drain(..n));
            theirs.clear();
        }
        pool(&mut self.items, &mut other.items);
        pool(&mut self.records, &mut other.records);
        pool(&mut self.messages, &mut other.messages);
    }

    /// Puts `list`, emptied, in `pool`, unless it has no memory, grew too large, or the pool
    /// is full.
    fn keep<T>(pool: &mut Vec<Vec<T>>, mut list: Vec<T>) {
        if list.capacity() > 0
            && list.capacity() <= Self::MAX_KEPT_CAPACITY
            && pool.len() < Self::MAX_KEPT
        {
            list.clear();
            pool.push(list);
        }
    }
}

/// The dissector TCP desegmentation calls for one frame: the conversation, where the frame
/// comes from, and the frame's columns being filled.
pub struct FrameDissector<'a> {
    pub conv: &'a mut TlsConversation,
    pub ctx: Ctx,
    pub out: &'a mut FrameTls,
}

impl Dissector for FrameDissector<'_> {
    fn dissect(&mut self, data: &[u8], can_desegment: bool) -> Outcome {
        let ctx = Ctx {
            can_desegment,
            ..self.ctx
        };
        self.conv.dissect(data, &ctx, self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dissect::{ContentType, Version};

    fn handshake_record(messages: Option<Vec<Cow<'static, str>>>) -> TlsRecord {
        TlsRecord {
            content_type: ContentType::Handshake,
            version: Version(0x0303),
            length: 4,
            messages,
            alert: None,
            encrypted: false,
        }
    }

    #[test]
    fn spares_lend_out_the_emptied_lists_of_written_frames() {
        let mut spares = TlsSpares::default();
        let records = vec![
            handshake_record(Some(vec!["client_hello".into()])),
            handshake_record(None),
        ];
        let (records_at, messages_cap) = (
            records.as_ptr(),
            records[0].messages.as_ref().unwrap().capacity(),
        );
        spares.keep_records(records);
        spares.keep_items(vec!["Client Hello".into()]);
        let mut f = spares.frame();
        assert_eq!(f.records.as_ptr(), records_at);
        assert!(f.records.is_empty() && f.items.is_empty() && f.items.capacity() > 0);
        assert_eq!(f.spare_messages.len(), 1);
        assert!(f.spare_messages[0].is_empty());
        assert_eq!(f.spare_messages[0].capacity(), messages_cap);
        // What the frame did not use comes back.
        spares.unused(&mut f);
        let again = spares.frame();
        assert_eq!(again.records.as_ptr(), records_at);
        assert_eq!(again.spare_messages.len(), 1);
    }

    #[test]
    fn reclaim_takes_a_written_packets_lists() {
        let mut p = crate::event::sample_packet();
        p.tls = vec![handshake_record(Some(vec!["client_hello".into()]))];
        p.app = AppInfo::Tls(crate::event::TlsInfo {
            protocol: "TLSv1.2",
            items: vec!["Client Hello".into()],
            malformed: false,
        });
        let (records_at, items_at) = match &p.app {
            AppInfo::Tls(info) => (p.tls.as_ptr(), info.items.as_ptr()),
            _ => unreachable!(),
        };
        let mut ev = Event::Packet(p);
        let mut spares = TlsSpares::default();
        spares.reclaim(&mut ev);
        let Event::Packet(p) = &ev else {
            unreachable!()
        };
        assert!(p.tls.is_empty() && matches!(&p.app, AppInfo::Tls(i) if i.items.is_empty()));
        let f = spares.frame();
        assert_eq!(
            (f.records.as_ptr(), f.items.as_ptr()),
            (records_at, items_at)
        );
        assert_eq!(f.spare_messages.len(), 1);
    }

    #[test]
    fn absorb_takes_another_threads_lists_up_to_the_cap() {
        let filled = |n: usize| {
            let mut s = TlsSpares::default();
            for _ in 0..n {
                s.keep_items(vec!["Application Data".into()]);
                s.keep_records(vec![handshake_record(Some(vec!["finished".into()]))]);
            }
            s
        };
        let (mut mine, mut theirs) = (filled(2), filled(3));
        mine.absorb(&mut theirs);
        assert_eq!(
            (mine.items.len(), mine.records.len(), mine.messages.len()),
            (5, 5, 5)
        );
        assert_eq!((theirs.items.len(), theirs.records.len()), (0, 0));
        // The pools themselves keep their memory, to be filled again.
        assert!(theirs.items.capacity() > 0 && theirs.records.capacity() > 0);

        let (mut mine, mut theirs) = (filled(TlsSpares::MAX_KEPT - 1), filled(3));
        mine.absorb(&mut theirs);
        assert_eq!(mine.items.len(), TlsSpares::MAX_KEPT);
        assert!(theirs.items.is_empty() && theirs.messages.is_empty());
    }

    #[test]
    fn spares_keep_few_and_small_lists() {
        let mut spares = TlsSpares::default();
        spares.keep_items(Vec::with_capacity(TlsSpares::MAX_KEPT_CAPACITY + 1));
        spares.keep_records(Vec::with_capacity(TlsSpares::MAX_KEPT_CAPACITY + 1));
        let f = spares.frame();
        assert_eq!((f.items.capacity(), f.records.capacity()), (0, 0));
        for _ in 0..TlsSpares::MAX_KEPT + 10 {
            spares.keep_items(vec!["Application Data".into()]);
        }
        assert_eq!(spares.items.len(), TlsSpares::MAX_KEPT);
    }
}
