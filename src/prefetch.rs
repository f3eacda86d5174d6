//! Prefetch hints: the processor starts bringing memory into cache that the code will read
//! soon, so that the read does not stall. A hint changes no result, whatever the address.

/// Brings the first `lines` cache lines (64 bytes each) at `p` towards the cache.
#[inline(always)]
pub fn lines<T: ?Sized>(p: &T, lines: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let base = (p as *const T).cast::<i8>();
        for i in 0..lines {
            // SAFETY: a prefetch is a hint: it reads nothing into the program and cannot
            // fault, whatever the address.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(base.wrapping_add(i * 64)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (p, lines);
}
