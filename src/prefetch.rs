//! Prefetch hints: the processor starts bringing memory into cache that the code will read
//! soon, so that the read does not stall. A hint changes no result, whatever the address.

/// Cache line size of the processors capd is built for.
const LINE: usize = 64;

/// Brings every cache line that `value` lies in towards the cache.
#[inline(always)]
pub fn value<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let start = (value as *const T).cast::<i8>();
        for i in 0..lines_spanned(start as usize, size_of::<T>()) {
            // SAFETY: a prefetch is a hint: it reads nothing into the program and cannot
            // fault, whatever the address.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.wrapping_add(i * LINE)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// How many cache lines `size` bytes from address `start` lie in: from the line holding the
/// first byte to the one holding the last.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn lines_spanned(start: usize, size: usize) -> usize {
    (start % LINE + size).div_ceil(LINE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_spans_the_lines_of_its_first_and_last_bytes() {
        assert_eq!(lines_spanned(0, 64), 1);
        assert_eq!(lines_spanned(64, 1), 1);
        assert_eq!(lines_spanned(63, 2), 2);
        assert_eq!(lines_spanned(128, 200), 4);
        assert_eq!(lines_spanned(130, 200), 4);
        assert_eq!(lines_spanned(190, 200), 5);
        assert_eq!(lines_spanned(7, 0), 1);
    }
}
