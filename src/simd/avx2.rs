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
    type M = __m256;
    type D = __m256d;

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
    fn sub(self, a: __m256, b: __m256) -> __m256 {
        // SAFETY: see splat.
        unsafe { _mm256_sub_ps(a, b) }
    }

    #[inline(always)]
    fn div(self, a: __m256, b: __m256) -> __m256 {
        // SAFETY: see splat.
        unsafe { _mm256_div_ps(a, b) }
    }

    #[inline(always)]
    fn fma(self, a: __m256, b: __m256, c: __m256) -> __m256 {
        // SAFETY: see splat (FMA is part of the tier).
        unsafe { _mm256_fmadd_ps(a, b, c) }
    }

    #[inline(always)]
    fn sqrt(self, a: __m256) -> __m256 {
        // SAFETY: see splat.
        unsafe { _mm256_sqrt_ps(a) }
    }

    #[inline(always)]
    fn abs(self, a: __m256) -> __m256 {
        // SAFETY: see splat.
        unsafe { _mm256_andnot_ps(_mm256_set1_ps(-0.0), a) }
    }

    #[inline(always)]
    fn round(self, a: __m256) -> __m256 {
        // SAFETY: see splat.
        unsafe { _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(a) }
    }

    #[inline(always)]
    fn frexp(self, a: __m256) -> (__m256, __m256) {
        // SAFETY: see splat. Subnormals are scaled into the normal range first.
        unsafe {
            let small = _mm256_cmp_ps::<_CMP_LT_OQ>(a, _mm256_set1_ps(f32::MIN_POSITIVE));
            let a = _mm256_blendv_ps(a, _mm256_mul_ps(a, _mm256_set1_ps(16_777_216.0)), small);
            let bits = _mm256_castps_si256(a);
            let biased = _mm256_srli_epi32::<23>(bits);
            let e = _mm256_sub_ps(
                _mm256_cvtepi32_ps(_mm256_sub_epi32(biased, _mm256_set1_epi32(127))),
                _mm256_and_ps(small, _mm256_set1_ps(24.0)),
            );
            let f = _mm256_castsi256_ps(_mm256_or_si256(
                _mm256_and_si256(bits, _mm256_set1_epi32(0x007f_ffff)),
                _mm256_set1_epi32(0x3f80_0000),
            ));
            (e, f)
        }
    }

    #[inline(always)]
    fn exp2i(self, n: __m256) -> __m256 {
        // SAFETY: see splat.
        unsafe {
            let i = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
            _mm256_castsi256_ps(_mm256_slli_epi32::<23>(i))
        }
    }

    #[inline(always)]
    fn lt(self, a: __m256, b: __m256) -> __m256 {
        // SAFETY: see splat.
        unsafe { _mm256_cmp_ps::<_CMP_LT_OQ>(a, b) }
    }

    #[inline(always)]
    fn eq(self, a: __m256, b: __m256) -> __m256 {
        // SAFETY: see splat.
        unsafe { _mm256_cmp_ps::<_CMP_EQ_OQ>(a, b) }
    }

    #[inline(always)]
    fn m_or(self, a: __m256, b: __m256) -> __m256 {
        // SAFETY: see splat.
        unsafe { _mm256_or_ps(a, b) }
    }

    #[inline(always)]
    fn m_andnot(self, a: __m256, b: __m256) -> __m256 {
        // SAFETY: see splat.
        unsafe { _mm256_andnot_ps(a, b) }
    }

    #[inline(always)]
    fn m_none(self) -> __m256 {
        // SAFETY: see splat.
        unsafe { _mm256_setzero_ps() }
    }

    #[inline(always)]
    fn blend(self, m: __m256, t: __m256, f: __m256) -> __m256 {
        // SAFETY: see splat.
        unsafe { _mm256_blendv_ps(f, t, m) }
    }

    #[inline(always)]
    fn d_splat(self, x: f64) -> __m256d {
        // SAFETY: see splat.
        unsafe { _mm256_set1_pd(x) }
    }

    #[inline(always)]
    fn widen(self, x: __m256) -> (__m256d, __m256d) {
        // SAFETY: see splat.
        unsafe {
            (
                _mm256_cvtps_pd(_mm256_castps256_ps128(x)),
                _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(x)),
            )
        }
    }

    #[inline(always)]
    fn d_add(self, a: __m256d, b: __m256d) -> __m256d {
        // SAFETY: see splat.
        unsafe { _mm256_add_pd(a, b) }
    }

    #[inline(always)]
    fn d_fma(self, a: __m256d, b: __m256d, c: __m256d) -> __m256d {
        // SAFETY: see splat.
        unsafe { _mm256_fmadd_pd(a, b, c) }
    }

    #[inline(always)]
    fn d_ratio(self, (n0, n1): (__m256d, __m256d), (d0, d1): (__m256d, __m256d)) -> __m256 {
        // SAFETY: see splat.
        unsafe {
            _mm256_set_m128(
                _mm256_cvtpd_ps(_mm256_div_pd(n1, d1)),
                _mm256_cvtpd_ps(_mm256_div_pd(n0, d0)),
            )
        }
    }

    #[inline(always)]
    fn relu(self, x: __m256) -> __m256 {
        // SAFETY: see splat. vmaxps returns its second operand, x, when x is NaN.
        unsafe { _mm256_max_ps(_mm256_setzero_ps(), x) }
    }

    #[inline(always)]
    fn uniform(self, seed: u64, n: u32, oh: u32, ow: u32, c0: u32) -> __m256 {
        // SAFETY: see splat. Philox4x32-10 with one counter per lane (lane i: channel c0 + i).
        unsafe {
            let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
            let mut x0 = _mm256_add_epi32(_mm256_set1_epi32(c0 as i32), lanes);
            let mut x1 = _mm256_set1_epi32(ow as i32);
            let mut x2 = _mm256_set1_epi32(oh as i32);
            let mut x3 = _mm256_set1_epi32(n as i32);
            let (mut k0, mut k1) = (seed as u32, (seed >> 32) as u32);
            let m0 = _mm256_set1_epi32(0xD251_1F53u32 as i32);
            let m1 = _mm256_set1_epi32(0xCD9E_8D57u32 as i32);
            for r in 0..10 {
                if r > 0 {
                    k0 = k0.wrapping_add(0x9E37_79B9);
                    k1 = k1.wrapping_add(0xBB67_AE85);
                }
                let hi0 = mulhi_epu32(x0, m0);
                let lo0 = _mm256_mullo_epi32(x0, m0);
                let hi1 = mulhi_epu32(x2, m1);
                let lo1 = _mm256_mullo_epi32(x2, m1);
                let y0 = _mm256_xor_si256(_mm256_xor_si256(hi1, x1), _mm256_set1_epi32(k0 as i32));
                let y2 = _mm256_xor_si256(_mm256_xor_si256(hi0, x3), _mm256_set1_epi32(k1 as i32));
                x0 = y0;
                x1 = lo1;
                x2 = y2;
                x3 = lo0;
            }
            _mm256_mul_ps(
                _mm256_cvtepi32_ps(_mm256_srli_epi32::<8>(x0)),
                _mm256_set1_ps(1.0 / 16_777_216.0),
            )
        }
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
        unsafe { bad_beyond(acc, y, super::HUGE) }
    }

    #[inline(always)]
    fn bad_special(self, acc: __m256, y: __m256) -> __m256 {
        // SAFETY: see splat.
        unsafe { bad_beyond(acc, y, f32::INFINITY) }
    }

    #[inline(always)]
    fn nan_where(self, x: __m256, bad: __m256) -> __m256 {
        // SAFETY: see splat. All-ones bits are a NaN.
        unsafe { _mm256_or_ps(x, bad) }
    }

    #[inline(always)]
    fn bad_or(self, a: __m256, b: __m256) -> __m256 {
        // SAFETY: see splat.
        unsafe { _mm256_or_ps(a, b) }
    }

    #[inline(always)]
    fn bad_if(self, acc: __m256, m: __m256) -> __m256 {
        // SAFETY: see splat.
        unsafe { _mm256_or_ps(acc, m) }
    }

    #[inline(always)]
    fn bad_unless(self, acc: __m256, good: __m256) -> __m256 {
        // SAFETY: see splat.
        unsafe {
            _mm256_or_ps(
                acc,
                _mm256_andnot_ps(good, _mm256_castsi256_ps(_mm256_set1_epi32(-1))),
            )
        }
    }

    #[inline(always)]
    fn bad_keep(self, acc: __m256, fresh: __m256, t: __m256i) -> __m256 {
        // SAFETY: see splat.
        unsafe { _mm256_or_ps(acc, _mm256_and_ps(fresh, _mm256_castsi256_ps(t))) }
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
    fn max_merge(self, (m1, n1): (__m256, __m256), (m2, n2): (__m256, __m256)) -> (__m256, __m256) {
        // SAFETY: see splat.
        unsafe { (_mm256_max_ps(m1, m2), _mm256_or_ps(n1, n2)) }
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

/// High halves of the lane-wise 32x32-bit products: even lanes from one vpmuludq, odd lanes
/// from another on the operands shifted down by 32 bits. A function, not a closure, so that it
/// is always inlined into the caller's target features.
#[inline(always)]
unsafe fn mulhi_epu32(a: __m256i, m: __m256i) -> __m256i {
    // SAFETY: only called from methods of a detected tier.
    unsafe {
        let even = _mm256_srli_epi64::<32>(_mm256_mul_epu32(a, m));
        let odd = _mm256_mul_epu32(_mm256_srli_epi64::<32>(a), m);
        _mm256_blend_epi32::<0b1010_1010>(even, odd)
    }
}

/// Marks subnormal lanes of `y`, NaN and those at least `limit` in magnitude.
#[inline(always)]
unsafe fn bad_beyond(acc: __m256, y: __m256, limit: f32) -> __m256 {
    // SAFETY: only called from methods of a detected tier.
    unsafe {
        let a = _mm256_andnot_ps(_mm256_set1_ps(-0.0), y);
        let tiny = _mm256_and_ps(
            _mm256_cmp_ps::<_CMP_LT_OQ>(a, _mm256_set1_ps(f32::MIN_POSITIVE)),
            _mm256_cmp_ps::<_CMP_NEQ_OQ>(a, _mm256_setzero_ps()),
        );
        // Not-less-than, unordered: at least `limit`, and NaN.
        let huge = _mm256_cmp_ps::<_CMP_NLT_UQ>(a, _mm256_set1_ps(limit));
        _mm256_or_ps(acc, _mm256_or_ps(tiny, huge))
    }
}
