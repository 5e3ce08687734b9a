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
    type M = __mmask16;
    type D = __m512d;

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
    fn sub(self, a: __m512, b: __m512) -> __m512 {
        // SAFETY: see splat.
        unsafe { _mm512_sub_ps(a, b) }
    }

    #[inline(always)]
    fn div(self, a: __m512, b: __m512) -> __m512 {
        // SAFETY: see splat.
        unsafe { _mm512_div_ps(a, b) }
    }

    #[inline(always)]
    fn fma(self, a: __m512, b: __m512, c: __m512) -> __m512 {
        // SAFETY: see splat (FMA is part of the tier).
        unsafe { _mm512_fmadd_ps(a, b, c) }
    }

    #[inline(always)]
    fn sqrt(self, a: __m512) -> __m512 {
        // SAFETY: see splat.
        unsafe { _mm512_sqrt_ps(a) }
    }

    #[inline(always)]
    fn abs(self, a: __m512) -> __m512 {
        // SAFETY: see splat.
        unsafe { _mm512_abs_ps(a) }
    }

    #[inline(always)]
    fn round(self, a: __m512) -> __m512 {
        // SAFETY: see splat. imm 0x08: round to nearest even, suppress exceptions, scale 0.
        unsafe { _mm512_roundscale_ps::<0x08>(a) }
    }

    #[inline(always)]
    fn frexp(self, a: __m512) -> (__m512, __m512) {
        // SAFETY: see splat. vgetexpps/vgetmantps handle subnormals (no DAZ here).
        unsafe {
            (
                _mm512_getexp_ps(a),
                _mm512_getmant_ps::<_MM_MANT_NORM_1_2, _MM_MANT_SIGN_ZERO>(a),
            )
        }
    }

    #[inline(always)]
    fn exp2i(self, n: __m512) -> __m512 {
        // SAFETY: see splat. vscalefps: 1.0 * 2^floor(n), exact for integral n in range.
        unsafe { _mm512_scalef_ps(_mm512_set1_ps(1.0), n) }
    }

    #[inline(always)]
    fn lt(self, a: __m512, b: __m512) -> __mmask16 {
        // SAFETY: see splat.
        unsafe { _mm512_cmp_ps_mask::<_CMP_LT_OQ>(a, b) }
    }

    #[inline(always)]
    fn eq(self, a: __m512, b: __m512) -> __mmask16 {
        // SAFETY: see splat.
        unsafe { _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(a, b) }
    }

    #[inline(always)]
    fn m_or(self, a: __mmask16, b: __mmask16) -> __mmask16 {
        a | b
    }

    #[inline(always)]
    fn m_andnot(self, a: __mmask16, b: __mmask16) -> __mmask16 {
        !a & b
    }

    #[inline(always)]
    fn m_none(self) -> __mmask16 {
        0
    }

    #[inline(always)]
    fn blend(self, m: __mmask16, t: __m512, f: __m512) -> __m512 {
        // SAFETY: see splat.
        unsafe { _mm512_mask_blend_ps(m, f, t) }
    }

    #[inline(always)]
    fn d_splat(self, x: f64) -> __m512d {
        // SAFETY: see splat.
        unsafe { _mm512_set1_pd(x) }
    }

    #[inline(always)]
    fn widen(self, x: __m512) -> (__m512d, __m512d) {
        // SAFETY: see splat.
        unsafe {
            (
                _mm512_cvtps_pd(_mm512_castps512_ps256(x)),
                _mm512_cvtps_pd(_mm512_extractf32x8_ps::<1>(x)),
            )
        }
    }

    #[inline(always)]
    fn d_add(self, a: __m512d, b: __m512d) -> __m512d {
        // SAFETY: see splat.
        unsafe { _mm512_add_pd(a, b) }
    }

    #[inline(always)]
    fn d_fma(self, a: __m512d, b: __m512d, c: __m512d) -> __m512d {
        // SAFETY: see splat.
        unsafe { _mm512_fmadd_pd(a, b, c) }
    }

    #[inline(always)]
    fn d_ratio(self, (n0, n1): (__m512d, __m512d), (d0, d1): (__m512d, __m512d)) -> __m512 {
        // SAFETY: see splat.
        unsafe {
            let lo = _mm512_cvtpd_ps(_mm512_div_pd(n0, d0));
            let hi = _mm512_cvtpd_ps(_mm512_div_pd(n1, d1));
            _mm512_insertf32x8::<1>(_mm512_castps256_ps512(lo), hi)
        }
    }

    #[inline(always)]
    fn relu(self, x: __m512) -> __m512 {
        // SAFETY: see splat. vmaxps returns its second operand, x, when x is NaN.
        unsafe { _mm512_max_ps(_mm512_setzero_ps(), x) }
    }

    #[inline(always)]
    fn uniform(self, seed: u64, n: u32, oh: u32, ow: u32, c0: u32) -> __m512 {
        // SAFETY: see splat. Philox4x32-10 with one counter per lane (lane i: channel c0 + i),
        // computed in 64-bit lanes (two halves of 8): vpmuludq then gives each 32x32-bit
        // product whole, and a 3-way XOR is one vpternlogq. Bits above 32 in a lane are
        // garbage that vpmuludq ignores; only the low halves are kept at the end.
        unsafe {
            let m0 = _mm512_set1_epi64(0xD251_1F53);
            let m1 = _mm512_set1_epi64(0xCD9E_8D57);
            let base = _mm512_add_epi64(
                _mm512_set1_epi64(i64::from(c0)),
                _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7),
            );
            let mut x0 = [base, _mm512_add_epi64(base, _mm512_set1_epi64(8))];
            let mut x1 = [_mm512_set1_epi64(i64::from(ow)); 2];
            let mut x2 = [_mm512_set1_epi64(i64::from(oh)); 2];
            let mut x3 = [_mm512_set1_epi64(i64::from(n)); 2];
            let (mut k0, mut k1) = (seed as u32, (seed >> 32) as u32);
            for r in 0..10 {
                if r > 0 {
                    k0 = k0.wrapping_add(0x9E37_79B9);
                    k1 = k1.wrapping_add(0xBB67_AE85);
                }
                let (kv0, kv1) = (
                    _mm512_set1_epi64(i64::from(k0)),
                    _mm512_set1_epi64(i64::from(k1)),
                );
                for h in 0..2 {
                    let p0 = _mm512_mul_epu32(x0[h], m0);
                    let p1 = _mm512_mul_epu32(x2[h], m1);
                    // 0x96: a ^ b ^ c.
                    x0[h] =
                        _mm512_ternarylogic_epi64::<0x96>(_mm512_srli_epi64::<32>(p1), x1[h], kv0);
                    x2[h] =
                        _mm512_ternarylogic_epi64::<0x96>(_mm512_srli_epi64::<32>(p0), x3[h], kv1);
                    x1[h] = p1;
                    x3[h] = p0;
                }
            }
            let r0 = _mm512_inserti64x4::<1>(
                _mm512_castsi256_si512(_mm512_cvtepi64_epi32(x0[0])),
                _mm512_cvtepi64_epi32(x0[1]),
            );
            _mm512_mul_ps(
                _mm512_cvtepi32_ps(_mm512_srli_epi32::<8>(r0)),
                _mm512_set1_ps(1.0 / 16_777_216.0),
            )
        }
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
        // SAFETY: see splat. Then |y| >= 2^127.
        self.bad_special(acc, y)
            | unsafe {
                _mm512_cmp_ps_mask::<_CMP_GE_OQ>(_mm512_abs_ps(y), _mm512_set1_ps(super::HUGE))
            }
    }

    #[inline(always)]
    fn bad_special(self, acc: __mmask16, y: __m512) -> __mmask16 {
        // SAFETY: see splat. vfpclassps classes: 0x01 QNaN, 0x08 +inf, 0x10 -inf,
        // 0x20 denormal, 0x80 SNaN.
        acc | unsafe { _mm512_fpclass_ps_mask::<0xB9>(y) }
    }

    #[inline(always)]
    fn nan_where(self, x: __m512, bad: __mmask16) -> __m512 {
        // SAFETY: see splat.
        unsafe { _mm512_mask_mov_ps(x, bad, _mm512_set1_ps(f32::NAN)) }
    }

    #[inline(always)]
    fn bad_or(self, a: __mmask16, b: __mmask16) -> __mmask16 {
        a | b
    }

    #[inline(always)]
    fn bad_if(self, acc: __mmask16, m: __mmask16) -> __mmask16 {
        acc | m
    }

    #[inline(always)]
    fn bad_unless(self, acc: __mmask16, good: __mmask16) -> __mmask16 {
        acc | !good
    }

    #[inline(always)]
    fn bad_keep(self, acc: __mmask16, fresh: __mmask16, t: __mmask16) -> __mmask16 {
        acc | (fresh & t)
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
    fn max_merge(
        self,
        (m1, o1): (__m512, __mmask16),
        (m2, o2): (__m512, __mmask16),
    ) -> (__m512, __mmask16) {
        // SAFETY: see splat.
        unsafe { (_mm512_max_ps(m1, m2), o1 & o2) }
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
