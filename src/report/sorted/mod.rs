//! A serde serializer that writes the JSON `serde_json::to_value` followed by
//! `serde_json::to_writer` would write, without building the `Value` tree.
//!
//! The summary events (`flow`, `tls_handshake`, `stats`, `malformed`) were first written by
//! converting them to a `serde_json::Value`, whose objects are `BTreeMap`s: every object, at
//! every depth, lists its keys in byte order (a repeated key keeps its last value), floats
//! that are not finite become `null`, an `f32` is widened to `f64`, and map keys that are
//! numbers become strings. Those bytes are part of the interface (golden files, consumers), so
//! this serializer reproduces them: values are written straight into the output, each object's
//! fields are recorded as (key, byte range), and when the object ends its fields are put in key
//! order. Nested objects are sorted as they end, so each byte is moved once per depth.
//!
//! The top-level object's `flow` field goes through `JsonBuf::flow_id`, so a worker thread can
//! leave it open (see `jsonw`).

use std::fmt::{self, Display};

use std::collections::HashMap;

use rustc_hash::FxBuildHasher;
use serde::ser::{self, Serialize};

use super::jsonw::JsonBuf;

mod map_key;
mod ser_impl;

/// Why a value could not be written (as `serde_json::to_value` would refuse it).
#[derive(Debug)]
pub struct Error(String);

impl Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

fn key_must_be_a_string() -> Error {
    Error("key must be a string".into())
}

/// Buffers a serializer reuses from one event to the next.
#[derive(Debug, Default)]
pub struct Scratch {
    /// Fields of the objects being written, innermost last.
    fields: Vec<Field>,
    /// Map keys of the objects being written.
    keys: String,
    /// Where an ending object's values are moved while it is put in order.
    bytes: Vec<u8>,
    /// The order of an ending object's fields.
    order: Vec<usize>,
    /// Text of a `Display` value being written.
    text: String,
    /// The key order of objects seen before, by the identity of their static keys (a
    /// derived `Serialize` names its fields with the same `&'static str`s every time, so an
    /// object with the same fields present is put in order the same way).
    orders: HashMap<u64, Vec<KnownOrder>, FxBuildHasher>,
    known: usize,
}

/// Objects of different shapes whose order is remembered at most.
const MAX_KNOWN_ORDERS: usize = 1024;

/// How an object whose fields have these static keys, in this order, is written.
#[derive(Debug)]
struct KnownOrder {
    /// Address and length of each key, in the order the fields came.
    keys: Box<[(usize, usize)]>,
    /// Fields in output order, as positions among the object's fields.
    order: Box<[u16]>,
    /// `"key":` for each field, escaped, by position.
    prefixes: Box<[Box<[u8]>]>,
}

fn key_identity(k: &'static str) -> (usize, usize) {
    (k.as_ptr() as usize, k.len())
}

/// Writes `{"event":<tag>, ...body's fields in key order}`, as serializing the body to a
/// `serde_json::Value` and emitting its entries after the tag did. A body that is not an
/// object gives `{"event":<tag>}`.
pub fn write_tagged<T: Serialize + ?Sized>(
    out: &mut JsonBuf,
    scratch: &mut Scratch,
    tag: &str,
    body: &T,
) -> Result<(), Error> {
    let start = out.bytes.len();
    let mut s = Sorted {
        out,
        sc: scratch,
        depth: 0,
        tag: Some(tag),
    };
    let result = body.serialize(&mut s);
    if let Err(e) = result {
        s.out.bytes.truncate(start);
        return Err(e);
    }
    if s.tag.is_some() {
        s.out.bytes.truncate(start);
        s.out.raw("{\"event\":");
        s.out.str(tag);
        s.out.byte(b'}');
    }
    Ok(())
}

/// Writes `value` as `to_value` then `to_writer` would.
pub fn write<T: Serialize + ?Sized>(
    out: &mut JsonBuf,
    scratch: &mut Scratch,
    value: &T,
) -> Result<(), Error> {
    let start = out.bytes.len();
    let mut s = Sorted {
        out,
        sc: scratch,
        depth: 0,
        tag: None,
    };
    value.serialize(&mut s).inspect_err(|_| {
        s.out.bytes.truncate(start);
    })
}

#[derive(Debug, Clone, Copy)]
enum Key {
    Static(&'static str),
    /// A range of `Sorted::keys`.
    Owned(usize, usize),
}

#[derive(Debug, Clone, Copy)]
struct Field {
    key: Key,
    /// The value's bytes in the output, from the object's start.
    val: (usize, usize),
    /// The top-level `flow` field, written through `JsonBuf::flow_id`.
    flow: Option<u32>,
}

pub struct Sorted<'a> {
    out: &'a mut JsonBuf,
    sc: &'a mut Scratch,
    /// Objects and arrays open.
    depth: usize,
    /// The top-level object's first key's value (`"event"`), until written.
    tag: Option<&'a str>,
}

impl<'a> Sorted<'a> {
    fn key_str(&self, k: Key) -> &str {
        match k {
            Key::Static(s) => s,
            Key::Owned(a, b) => &self.sc.keys[a..b],
        }
    }

    /// Opens `{"Variant":` (with the tag first at the top level) for a variant that wraps an
    /// array or object: an object of one key needs no sorting.
    fn open_variant(&mut self, variant: &'static str) {
        let tag = if self.depth == 0 {
            self.tag.take()
        } else {
            None
        };
        self.depth += 1;
        self.out.byte(b'{');
        if let Some(t) = tag {
            self.out.raw("\"event\":");
            self.out.str(t);
            self.out.byte(b',');
        }
        self.out.str(variant);
        self.out.byte(b':');
    }

    /// Starts an object: its values will follow `start` in the output.
    fn begin_object(&mut self) -> Object<'a> {
        let tag = if self.depth == 0 {
            self.tag.take()
        } else {
            None
        };
        self.depth += 1;
        Object {
            start: self.out.bytes.len(),
            base: self.sc.fields.len(),
            key_base: self.sc.keys.len(),
            pending_key: None,
            tag,
        }
    }

    /// Ends an object: rewrites its values from `o.start` as `{"key":value,...}` in key order.
    fn end_object(&mut self, o: Object<'a>) {
        self.depth -= 1;
        let fields = &self.sc.fields[o.base..];
        // Objects with only static keys (derived structs) are put in an order found before.
        let mut identity = 0u64;
        let mut all_static = fields.len() <= usize::from(u16::MAX);
        for f in fields {
            match f.key {
                Key::Static(k) => {
                    let (p, l) = key_identity(k);
                    identity = (identity.rotate_left(5) ^ p as u64 ^ (l as u64) << 48)
                        .wrapping_mul(0x9e37_79b9_7f4a_7c15);
                }
                Key::Owned(..) => all_static = false,
            }
        }
        let same = |k: &KnownOrder| {
            k.keys.len() == fields.len()
                && k.keys.iter().zip(fields).all(|(&id, f)| match f.key {
                    Key::Static(s) => key_identity(s) == id,
                    Key::Owned(..) => false,
                })
        };
        let known = if all_static {
            self.sc
                .orders
                .get(&identity)
                .and_then(|v| v.iter().position(same))
        } else {
            None
        };
        let known = match known {
            Some(i) => Some(i),
            None => {
                self.put_in_order(o.base);
                if all_static && self.sc.known < MAX_KNOWN_ORDERS {
                    self.remember_order(o.base, identity)
                } else {
                    None
                }
            }
        };
        let sc = &mut *self.sc;
        sc.bytes.clear();
        sc.bytes.extend_from_slice(&self.out.bytes[o.start..]);
        self.out.bytes.truncate(o.start);
        self.out.byte(b'{');
        let mut first = true;
        if let Some(tag) = o.tag {
            self.out.raw("\"event\":");
            self.out.str(tag);
            first = false;
        }
        let fields = &sc.fields[o.base..];
        let mut put = |out: &mut JsonBuf, f: &Field, prefix: Option<&[u8]>, keys: &str| {
            if !first {
                out.byte(b',');
            }
            first = false;
            match (prefix, f.key) {
                (Some(p), _) => out.bytes.extend_from_slice(p),
                (None, Key::Static(s)) => {
                    out.str(s);
                    out.byte(b':');
                }
                (None, Key::Owned(a, b)) => {
                    out.str(&keys[a..b]);
                    out.byte(b':');
                }
            }
            match f.flow {
                Some(id) => out.flow_id(id),
                None => out.bytes.extend_from_slice(&sc.bytes[f.val.0..f.val.1]),
            }
        };
        match known.and_then(|i| sc.orders.get(&identity)?.get(i)) {
            Some(k) => {
                for &j in k.order.iter() {
                    let j = usize::from(j);
                    put(self.out, &fields[j], Some(&k.prefixes[j]), &sc.keys);
                }
            }
            None => {
                for &i in &sc.order {
                    put(self.out, &sc.fields[i], None, &sc.keys);
                }
            }
        }
        self.out.byte(b'}');
        self.sc.fields.truncate(o.base);
        self.sc.keys.truncate(o.key_base);
    }

    /// Sorts the fields from `base` by key into `Scratch::order`, a repeated key keeping its
    /// last value (as `BTreeMap::insert` does).
    fn put_in_order(&mut self, base: usize) {
        let sc = &mut *self.sc;
        let fields = &sc.fields;
        let keys = &sc.keys;
        let key = |i: usize| match fields[i].key {
            Key::Static(s) => s,
            Key::Owned(a, b) => &keys[a..b],
        };
        sc.order.clear();
        sc.order.extend(base..fields.len());
        // Stable, so that of equal keys the last one stays last.
        sc.order.sort_by(|&a, &b| key(a).cmp(key(b)));
        let mut kept = 0;
        for j in 0..sc.order.len() {
            let i = sc.order[j];
            if kept > 0 && key(sc.order[kept - 1]) == key(i) {
                kept -= 1;
            }
            sc.order[kept] = i;
            kept += 1;
        }
        sc.order.truncate(kept);
    }

    /// Keeps `Scratch::order` (of the all-static fields from `base`) for objects of the same
    /// keys; returns its place among those of its `identity`.
    fn remember_order(&mut self, base: usize, identity: u64) -> Option<usize> {
        let sc = &mut *self.sc;
        let fields = &sc.fields[base..];
        let mut keys = Vec::with_capacity(fields.len());
        let mut prefixes = Vec::with_capacity(fields.len());
        for f in fields {
            let Key::Static(k) = f.key else { return None };
            keys.push(key_identity(k));
            let mut p = JsonBuf::new();
            p.str(k);
            p.byte(b':');
            prefixes.push(p.bytes.into_boxed_slice());
        }
        let order = sc
            .order
            .iter()
            .map(|&i| u16::try_from(i - base).ok())
            .collect::<Option<Box<[u16]>>>()?;
        let v = sc.orders.entry(identity).or_default();
        v.push(KnownOrder {
            keys: keys.into_boxed_slice(),
            order,
            prefixes: prefixes.into_boxed_slice(),
        });
        sc.known += 1;
        Some(v.len() - 1)
    }

    fn field<T: Serialize + ?Sized>(
        &mut self,
        o: &Object<'a>,
        key: Key,
        value: &T,
    ) -> Result<(), Error> {
        let a = self.out.bytes.len() - o.start;
        value.serialize(&mut *self)?;
        let b = self.out.bytes.len() - o.start;
        // The top-level `flow` (an unsigned integer) may be left open by `JsonBuf::flow_id`.
        let flow = (self.depth == 1 && self.key_str(key) == "flow")
            .then(|| {
                let digits = &self.out.bytes[o.start + a..o.start + b];
                let all_digits = !digits.is_empty() && digits.iter().all(u8::is_ascii_digit);
                all_digits.then(|| std::str::from_utf8(digits).ok()?.parse::<u32>().ok())?
            })
            .flatten();
        if flow.is_some() {
            self.out.bytes.truncate(o.start + a);
        }
        self.sc.fields.push(Field {
            key,
            val: (a, if flow.is_some() { a } else { b }),
            flow,
        });
        Ok(())
    }
}

/// An object being written.
pub struct Object<'a> {
    start: usize,
    base: usize,
    key_base: usize,
    pending_key: Option<Key>,
    /// The tag written first (top-level object only).
    tag: Option<&'a str>,
}

/// An object whose fields are being written, or an array.
pub enum Compound<'s, 'a> {
    Object(&'s mut Sorted<'a>, Object<'a>),
    /// `{"Variant":{...}}`: the variant's object, closed by one more brace.
    VariantObject(&'s mut Sorted<'a>, Object<'a>),
    Array {
        ser: &'s mut Sorted<'a>,
        first: bool,
        /// Closes with `]}` (a tuple variant).
        variant: bool,
    },
}

impl<'s, 'a> Compound<'s, 'a> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        match self {
            Compound::Array { ser, first, .. } => {
                if !*first {
                    ser.out.byte(b',');
                }
                *first = false;
                value.serialize(&mut **ser)
            }
            _ => Err(Error("an element outside an array".into())),
        }
    }

    fn end_array(self) -> Result<(), Error> {
        match self {
            Compound::Array { ser, variant, .. } => {
                ser.depth -= 1;
                ser.out.raw(if variant { "]}" } else { "]" });
                Ok(())
            }
            _ => Err(Error("an array ended outside an array".into())),
        }
    }

    fn struct_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        match self {
            Compound::Object(ser, o) | Compound::VariantObject(ser, o) => {
                ser.field(o, Key::Static(key), value)
            }
            _ => Err(Error("a field outside an object".into())),
        }
    }

    fn end_struct(self) -> Result<(), Error> {
        match self {
            Compound::Object(ser, o) => {
                ser.end_object(o);
                Ok(())
            }
            Compound::VariantObject(ser, o) => {
                ser.end_object(o);
                ser.depth -= 1;
                ser.out.byte(b'}');
                Ok(())
            }
            _ => Err(Error("an object ended outside an object".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::Serialize;
    use std::collections::BTreeMap;

    /// The bytes the sink wrote before: the body through `to_value`, its entries after the tag.
    fn reference<T: Serialize>(tag: &str, body: &T) -> String {
        let v = serde_json::to_value(body).unwrap();
        let mut s = format!("{{\"event\":{}", serde_json::to_string(tag).unwrap());
        if let serde_json::Value::Object(m) = v {
            for (k, v) in m {
                s.push(',');
                s.push_str(&serde_json::to_string(&k).unwrap());
                s.push(':');
                s.push_str(&serde_json::to_string(&v).unwrap());
            }
        }
        s.push('}');
        s
    }

    fn ours<T: Serialize>(tag: &str, body: &T) -> String {
        let mut b = JsonBuf::new();
        write_tagged(&mut b, &mut Scratch::default(), tag, body).unwrap();
        String::from_utf8(b.bytes).unwrap()
    }

    /// Entries serialized as a map in the order given, repeats included.
    #[derive(Debug, Clone)]
    struct Entries(Vec<(String, Node)>);

    impl Serialize for Entries {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
        }
    }

    #[derive(Debug, Clone, Serialize)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Plain,
        Wrapped(u8),
        Pair(i16, String),
        Shaped { zeta: bool, alpha: Option<f32> },
    }

    /// Fields declared out of key order, of every kind the events use.
    #[derive(Debug, Clone, Serialize)]
    struct Node {
        zulu: u64,
        flow: u32,
        alpha: Option<String>,
        mike: f64,
        kind: Kind,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        bravo: Vec<Entries>,
        charlie: [i32; 2],
        ts: f32,
        #[serde(rename = "type")]
        kind_name: char,
        counts: BTreeMap<u16, u8>,
    }

    fn kind() -> impl Strategy<Value = Kind> {
        prop_oneof![
            Just(Kind::Plain),
            any::<u8>().prop_map(Kind::Wrapped),
            (any::<i16>(), ".{0,6}").prop_map(|(a, b)| Kind::Pair(a, b)),
            (any::<bool>(), any::<Option<f32>>())
                .prop_map(|(zeta, alpha)| Kind::Shaped { zeta, alpha }),
        ]
    }

    fn leaf() -> impl Strategy<Value = Node> {
        (
            any::<u64>(),
            any::<u32>(),
            any::<Option<String>>(),
            any::<u64>().prop_map(f64::from_bits),
            kind(),
            any::<[i32; 2]>(),
            any::<f32>(),
            any::<char>(),
            prop::collection::btree_map(any::<u16>(), any::<u8>(), 0..4),
        )
            .prop_map(
                |(zulu, flow, alpha, mike, kind, charlie, ts, kind_name, counts)| Node {
                    zulu,
                    flow,
                    alpha,
                    mike,
                    kind,
                    bravo: Vec::new(),
                    charlie,
                    ts,
                    kind_name,
                    counts,
                },
            )
    }

    fn node() -> impl Strategy<Value = Node> {
        leaf().prop_recursive(3, 24, 4, |inner| {
            (
                leaf(),
                prop::collection::vec(
                    prop::collection::vec(("[a-z\"\\\\]{0,3}", inner), 0..4).prop_map(Entries),
                    0..3,
                ),
            )
                .prop_map(|(mut n, bravo)| {
                    n.bravo = bravo;
                    n
                })
        })
    }

    proptest! {
        #[test]
        fn objects_come_out_as_to_value_writes_them(n in node()) {
            prop_assert_eq!(ours("flow", &n), reference("flow", &n));
            let mut b = JsonBuf::new();
            write(&mut b, &mut Scratch::default(), &n).unwrap();
            prop_assert_eq!(
                String::from_utf8(b.bytes).unwrap(),
                serde_json::to_string(&serde_json::to_value(&n).unwrap()).unwrap()
            );
        }

        #[test]
        fn remembered_orders_give_the_same_bytes(nodes in prop::collection::vec(node(), 1..8)) {
            // One scratch for all: later objects are put in orders remembered from earlier
            // ones whenever their fields are the same.
            let mut sc = Scratch::default();
            for n in &nodes {
                let mut b = JsonBuf::new();
                write_tagged(&mut b, &mut sc, "flow", n).unwrap();
                prop_assert_eq!(String::from_utf8(b.bytes).unwrap(), reference("flow", n));
            }
        }

        #[test]
        fn the_top_level_flow_can_be_left_open(n in node(), id in any::<u32>()) {
            let mut b = JsonBuf::with_fixups();
            write_tagged(&mut b, &mut Scratch::default(), "x", &n).unwrap();
            let mut s = crate::shard::Spliced::default();
            s.splice(0, 0..b.bytes.len(), b.fixups.unwrap(), |_| id);
            let out = s.joined(|_| &b.bytes);
            let mut expected = n.clone();
            expected.flow = id;
            prop_assert_eq!(String::from_utf8(out).unwrap(), reference("x", &expected));
        }
    }

    #[test]
    fn bodies_that_are_not_objects_carry_only_the_tag() {
        for body in [
            serde_json::json!(3),
            serde_json::json!([1, 2]),
            serde_json::Value::Null,
        ] {
            assert_eq!(ours("stats", &body), reference("stats", &body));
        }
        assert_eq!(
            ours("k", &Kind::Wrapped(3)),
            reference("k", &Kind::Wrapped(3))
        );
        let pair = Kind::Pair(-1, "x".into());
        assert_eq!(ours("k", &pair), reference("k", &pair));
        let shaped = Kind::Shaped {
            zeta: true,
            alpha: Some(0.1),
        };
        assert_eq!(ours("k", &shaped), reference("k", &shaped));
    }
}
