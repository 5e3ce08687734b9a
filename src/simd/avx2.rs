//! AVX2 tier (x86-64-v3): 8 f32 lanes, maskload/maskstore tails.

use super::SimdF32;
use core::arch::x86_64::*;

#[derive(Clone, Copy)]
pub(crate) struct Avx2(());

impl SimdF32 for Avx2 {
    const LANES: usize = 8;
    type V = __m256;
    type Tail = __m256i;
    /// Running max and the lanes that saw a NaN (all-ones there).
    type MaxAcc = (__m256, __m256);
    type Bad = __m256;

    #[inline(always)]
    unsafe fn new_unchecked() -> Self {
        Avx2(())
    }

    #[inline(always)]
    fn splat(self, x: f32) -> __m256 {
        // SAFETY (every block below): an Avx2 token exists only when AVX2 and FMA were detected
        // (see new_unchecked), so the instructions exist; pointer validity is the caller's
        // documented obligation.
        unsafe { _mm256_set1_ps(x) }
    }

    #[inline(always)]
    unsafe fn load(self, p: *const f32) -> __m256 {
        // SAFETY: see splat; 8 readable floats at p (caller).
        unsafe { _mm256_loadu_ps(p) }
    }

    #[inline(always)]
    unsafe fn store(self, p: *mut f32, v: __m256) {
        // SAFETY: see splat; 8 writable floats at p (caller).
        unsafe { _mm256_storeu_ps(p, v) }
    }

    #[inline(always)]
    fn tail(self, n: usize) -> __m256i {
        // SAFETY: see splat.
        unsafe {
            let idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
            _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), idx)
        }
    }

    #[inline(always)]
    unsafe fn load_tail(self, p: *const f32, t: __m256i) -> __m256 {
        // SAFETY: see splat; masked-off lanes are not accessed (no fault past the tail).
        unsafe { _mm256_maskload_ps(p, t) }
    }

    #[inline(always)]
    unsafe fn store_tail(self, p: *mut f32, v: __m256, t: __m256i) {
        // SAFETY: see splat; masked-off lanes are not written.
        unsafe { _mm256_maskstore_ps(p, t, v) }
    }

    #[inline(always)]
    fn add(self, a: __m256, b: __m256) -> __m256 {
        // SAFETY: see splat.
        unsafe { _mm256_add_ps(a, b) }
    }

    #[inline(always)]
    fn mul(self, a: __m256, b: __m256) -> __m256 {
        // SAFETY: see splat.
        unsafe { _mm256_mul_ps(a, b) }
    }

    #[inline(always)]
    fn max(self, a: __m256, b: __m256) -> __m256 {
        // SAFETY: see splat.
        unsafe { _mm256_max_ps(a, b) }
    }

    #[inline(always)]
    fn bad_init(self) -> __m256 {
        // SAFETY: see splat.
        unsafe { _mm256_setzero_ps() }
    }

    #[inline(always)]
    fn bad_check(self, acc: __m256, a: __m256, b: __m256) -> __m256 {
        // SAFETY: see splat. Unordered: either operand NaN.
        unsafe { _mm256_or_ps(acc, _mm256_cmp_ps::<_CMP_UNORD_Q>(a, b)) }
    }

    #[inline(always)]
    fn bad_result(self, acc: __m256, y: __m256) -> __m256 {
        // SAFETY: see splat.
        unsafe {
            let a = _mm256_andnot_ps(_mm256_set1_ps(-0.0), y);
            let tiny = _mm256_and_ps(
                _mm256_cmp_ps::<_CMP_LT_OQ>(a, _mm256_set1_ps(f32::MIN_POSITIVE)),
                _mm256_cmp_ps::<_CMP_NEQ_OQ>(a, _mm256_setzero_ps()),
            );
            // Not-less-than, unordered: inf and NaN.
            let nonfinite = _mm256_cmp_ps::<_CMP_NLT_UQ>(a, _mm256_set1_ps(f32::INFINITY));
            _mm256_or_ps(acc, _mm256_or_ps(tiny, nonfinite))
        }
    }

    #[inline(always)]
    fn bad_any(self, acc: __m256) -> bool {
        // SAFETY: see splat.
        unsafe { _mm256_movemask_ps(acc) != 0 }
    }

    #[inline(always)]
    fn max_init(self) -> (__m256, __m256) {
        // SAFETY: see splat.
        unsafe { (_mm256_set1_ps(f32::NEG_INFINITY), _mm256_setzero_ps()) }
    }

    #[inline(always)]
    fn max_step(self, (m, nan): (__m256, __m256), x: __m256) -> (__m256, __m256) {
        // SAFETY: see splat. vmaxps returns its second operand when either is NaN, so a NaN
        // x would be dropped or later overwritten: NaN lanes are tracked on the side.
        unsafe {
            (
                _mm256_max_ps(x, m),
                _mm256_or_ps(nan, _mm256_cmp_ps::<_CMP_UNORD_Q>(x, x)),
            )
        }
    }

    #[inline(always)]
    fn max_finish(self, (m, nan): (__m256, __m256)) -> __m256 {
        // SAFETY: see splat. All-ones bits are a NaN.
        unsafe { _mm256_or_ps(m, nan) }
    }

    #[inline(always)]
    fn clamp(self, v: __m256, lo: __m256, hi: __m256) -> __m256 {
        // SAFETY: see splat. With v as the second operand, vmaxps/vminps return v when it is
        // NaN.
        unsafe { _mm256_min_ps(hi, _mm256_max_ps(lo, v)) }
    }
}
