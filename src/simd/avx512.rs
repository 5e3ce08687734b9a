//! AVX-512 tier (x86-64-v4): 16 f32 lanes, k-mask tails.

use super::SimdF32;
use core::arch::x86_64::*;

#[derive(Clone, Copy)]
pub(crate) struct Avx512(());

impl SimdF32 for Avx512 {
    const LANES: usize = 16;
    type V = __m512;
    type Tail = __mmask16;
    /// Running max and the lanes where every folded value was ordered (not NaN).
    type MaxAcc = (__m512, __mmask16);
    type Bad = __mmask16;

    #[inline(always)]
    unsafe fn new_unchecked() -> Self {
        Avx512(())
    }

    #[inline(always)]
    fn splat(self, x: f32) -> __m512 {
        // SAFETY (every block below): an Avx512 token exists only when AVX-512 F/BW/DQ/VL were
        // detected (see new_unchecked); pointer validity is the caller's documented obligation.
        unsafe { _mm512_set1_ps(x) }
    }

    #[inline(always)]
    unsafe fn load(self, p: *const f32) -> __m512 {
        // SAFETY: see splat; 16 readable floats at p (caller).
        unsafe { _mm512_loadu_ps(p) }
    }

    #[inline(always)]
    unsafe fn store(self, p: *mut f32, v: __m512) {
        // SAFETY: see splat; 16 writable floats at p (caller).
        unsafe { _mm512_storeu_ps(p, v) }
    }

    #[inline(always)]
    fn tail(self, n: usize) -> __mmask16 {
        ((1u32 << n) - 1) as __mmask16
    }

    #[inline(always)]
    unsafe fn load_tail(self, p: *const f32, t: __mmask16) -> __m512 {
        // SAFETY: see splat; masked-off lanes are not accessed (fault suppression).
        unsafe { _mm512_maskz_loadu_ps(t, p) }
    }

    #[inline(always)]
    unsafe fn store_tail(self, p: *mut f32, v: __m512, t: __mmask16) {
        // SAFETY: see splat; masked-off lanes are not written.
        unsafe { _mm512_mask_storeu_ps(p, t, v) }
    }

    #[inline(always)]
    fn add(self, a: __m512, b: __m512) -> __m512 {
        // SAFETY: see splat.
        unsafe { _mm512_add_ps(a, b) }
    }

    #[inline(always)]
    fn mul(self, a: __m512, b: __m512) -> __m512 {
        // SAFETY: see splat.
        unsafe { _mm512_mul_ps(a, b) }
    }

    #[inline(always)]
    fn max(self, a: __m512, b: __m512) -> __m512 {
        // SAFETY: see splat.
        unsafe { _mm512_max_ps(a, b) }
    }

    #[inline(always)]
    fn bad_init(self) -> __mmask16 {
        0
    }

    #[inline(always)]
    fn bad_check(self, acc: __mmask16, a: __m512, b: __m512) -> __mmask16 {
        // SAFETY: see splat. Unordered: either operand NaN.
        acc | unsafe { _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(a, b) }
    }

    #[inline(always)]
    fn bad_result(self, acc: __mmask16, y: __m512) -> __mmask16 {
        // SAFETY: see splat. vfpclassps classes: 0x01 QNaN, 0x08 +inf, 0x10 -inf,
        // 0x20 denormal, 0x80 SNaN.
        acc | unsafe { _mm512_fpclass_ps_mask::<0xB9>(y) }
    }

    #[inline(always)]
    fn bad_any(self, acc: __mmask16) -> bool {
        acc != 0
    }

    #[inline(always)]
    fn max_init(self) -> (__m512, __mmask16) {
        // SAFETY: see splat.
        unsafe { (_mm512_set1_ps(f32::NEG_INFINITY), 0xffff) }
    }

    #[inline(always)]
    fn max_step(self, (m, ordered): (__m512, __mmask16), x: __m512) -> (__m512, __mmask16) {
        // SAFETY: see splat. vmaxps drops a NaN (it returns its second operand, m, then); the
        // masked compare keeps "every x so far was ordered" in one instruction. (vrangeps
        // does not help: it treats a quiet NaN as missing data.)
        unsafe {
            (
                _mm512_max_ps(x, m),
                _mm512_mask_cmp_ps_mask::<_CMP_ORD_Q>(ordered, x, x),
            )
        }
    }

    #[inline(always)]
    fn max_finish(self, (m, ordered): (__m512, __mmask16)) -> __m512 {
        // SAFETY: see splat.
        unsafe { _mm512_mask_mov_ps(_mm512_set1_ps(f32::NAN), ordered, m) }
    }

    #[inline(always)]
    fn clamp(self, v: __m512, lo: __m512, hi: __m512) -> __m512 {
        // SAFETY: see splat. With v as the second operand, vmaxps/vminps return v when it is
        // NaN.
        unsafe { _mm512_min_ps(hi, _mm512_max_ps(lo, v)) }
    }
}
