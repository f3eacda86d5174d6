//! TCP sequence numbers with RFC 793 modular (serial-number) ordering.
//!
//! Sequence space wraps at 2^32, so "a comes before b" means `b - a` (mod 2^32) is below 2^31,
//! as Wireshark's `LT_SEQ`/`GT_SEQ` macros and smoltcp's `SeqNumber` define it. Raw `u32`
//! comparisons are wrong across the wrap, so flow code compares only `SeqNumber`s.

use std::cmp::Ordering;
use std::ops::{Add, Sub};

/// A TCP sequence or acknowledgement number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNumber(pub u32);

impl SeqNumber {
    /// Signed distance from `other` to `self` in sequence space (`self - other`).
    pub fn diff(self, other: SeqNumber) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }

    /// Bytes from `earlier` up to `self`, or 0 when `self` is not after `earlier`.
    pub fn bytes_since(self, earlier: SeqNumber) -> u32 {
        let d = self.diff(earlier);
        if d > 0 { d as u32 } else { 0 }
    }

    /// The later of two sequence numbers.
    pub fn max(self, other: SeqNumber) -> SeqNumber {
        if self > other { self } else { other }
    }
}

impl PartialOrd for SeqNumber {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SeqNumber {
    /// Modular order: correct for any two numbers less than 2^31 apart. (Numbers exactly 2^31
    /// apart are ordered by the sign of their difference, which keeps the relation total.)
    fn cmp(&self, other: &Self) -> Ordering {
        self.diff(*other).cmp(&0)
    }
}

impl Add<u32> for SeqNumber {
    type Output = SeqNumber;
    fn add(self, rhs: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_add(rhs))
    }
}

impl Sub<u32> for SeqNumber {
    type Output = SeqNumber;
    fn sub(self, rhs: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_sub(rhs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ordering_holds_across_the_wrap() {
        let before = SeqNumber(u32::MAX - 10);
        let after = before + 20;
        assert_eq!(after.0, 9);
        assert!(before < after);
        assert!(after > before);
        assert_eq!(after.diff(before), 20);
        assert_eq!(after.bytes_since(before), 20);
        assert_eq!(before.bytes_since(after), 0);
    }

    #[test]
    fn max_picks_the_later_number_not_the_larger_integer() {
        let a = SeqNumber(0xffff_fff0);
        let b = SeqNumber(0x0000_0010);
        assert_eq!(a.max(b), b);
        assert_eq!(b.max(a), b);
    }

    proptest! {
        #[test]
        fn adding_a_positive_step_always_moves_forward(base in any::<u32>(), step in 1u32..0x8000_0000) {
            let a = SeqNumber(base);
            let b = a + step;
            prop_assert!(a < b);
            prop_assert!(b > a);
            prop_assert_eq!(b.diff(a), step as i32);
            prop_assert_eq!(b - step, a);
        }

        #[test]
        fn order_agrees_with_plain_integers_away_from_the_wrap(x in 0u32..0x7fff_ffff, y in 0u32..0x7fff_ffff) {
            prop_assert_eq!(SeqNumber(x).cmp(&SeqNumber(y)), x.cmp(&y));
        }
    }
}
