//! Baseline tier: `wide::f32x4` (SSE2 on x86-64, NEON on aarch64, simd128 on wasm32 when
//! enabled at compile time, scalar elsewhere). No intrinsics, so no target features.

use super::HUGE;
use super::SimdF32;
use wide::{f32x4, f64x2, i32x4, u32x4};

#[derive(Clone, Copy)]
pub(crate) struct Baseline;

impl SimdF32 for Baseline {
    const LANES: usize = 4;
    type V = f32x4;
    type Tail = usize;
    /// Running max and the lanes that saw a NaN (all-ones bits there).
    type MaxAcc = (f32x4, f32x4);
    type Bad = f32x4;
    type M = f32x4;
    type D = f64x2;

    #[inline(always)]
    unsafe fn new_unchecked() -> Self {
        Baseline
    }

    #[inline(always)]
    fn splat(self, x: f32) -> f32x4 {
        f32x4::splat(x)
    }

    #[inline(always)]
    unsafe fn load(self, p: *const f32) -> f32x4 {
        // SAFETY: the caller guarantees 4 readable floats; read_unaligned needs no alignment.
        f32x4::new(unsafe { p.cast::<[f32; 4]>().read_unaligned() })
    }

    #[inline(always)]
    unsafe fn store(self, p: *mut f32, v: f32x4) {
        // SAFETY: the caller guarantees 4 writable floats.
        unsafe { p.cast::<[f32; 4]>().write_unaligned(v.to_array()) }
    }

    #[inline(always)]
    fn tail(self, n: usize) -> usize {
        n
    }

    #[inline(always)]
    unsafe fn load_tail(self, p: *const f32, n: usize) -> f32x4 {
        let mut a = [0.0f32; 4];
        for (i, x) in a.iter_mut().enumerate().take(n) {
            // SAFETY: i < n and the caller guarantees n readable floats.
            *x = unsafe { p.add(i).read() };
        }
        f32x4::new(a)
    }

    #[inline(always)]
    unsafe fn store_tail(self, p: *mut f32, v: f32x4, n: usize) {
        for (i, x) in v.to_array().into_iter().enumerate().take(n) {
            // SAFETY: i < n and the caller guarantees n writable floats.
            unsafe { p.add(i).write(x) };
        }
    }

    #[inline(always)]
    fn add(self, a: f32x4, b: f32x4) -> f32x4 {
        a + b
    }

    #[inline(always)]
    fn mul(self, a: f32x4, b: f32x4) -> f32x4 {
        a * b
    }

    #[inline(always)]
    fn sub(self, a: f32x4, b: f32x4) -> f32x4 {
        a - b
    }

    #[inline(always)]
    fn div(self, a: f32x4, b: f32x4) -> f32x4 {
        a / b
    }

    #[inline(always)]
    fn fma(self, a: f32x4, b: f32x4, c: f32x4) -> f32x4 {
        a.mul_add(b, c)
    }

    #[inline(always)]
    fn sqrt(self, a: f32x4) -> f32x4 {
        a.sqrt()
    }

    #[inline(always)]
    fn abs(self, a: f32x4) -> f32x4 {
        a.abs()
    }

    #[inline(always)]
    fn round(self, a: f32x4) -> f32x4 {
        a.round_ties_even()
    }

    #[inline(always)]
    fn frexp(self, a: f32x4) -> (f32x4, f32x4) {
        // Subnormals are scaled into the normal range first.
        let small = a.simd_lt(f32x4::splat(f32::MIN_POSITIVE));
        let a = small.select(a * f32x4::splat(16_777_216.0), a);
        let bits: u32x4 = bytemuck::cast(a);
        let biased: i32x4 = bytemuck::cast(bits >> 23);
        let e = f32x4::from_i32x4(biased - i32x4::splat(127))
            - small.select(f32x4::splat(24.0), f32x4::splat(0.0));
        let f: f32x4 =
            bytemuck::cast((bits & u32x4::splat(0x007f_ffff)) | u32x4::splat(0x3f80_0000));
        (e, f)
    }

    #[inline(always)]
    fn exp2i(self, n: f32x4) -> f32x4 {
        bytemuck::cast((n.round_int() + i32x4::splat(127)) << 23)
    }

    #[inline(always)]
    fn lt(self, a: f32x4, b: f32x4) -> f32x4 {
        a.simd_lt(b)
    }

    #[inline(always)]
    fn eq(self, a: f32x4, b: f32x4) -> f32x4 {
        a.simd_eq(b)
    }

    #[inline(always)]
    fn m_or(self, a: f32x4, b: f32x4) -> f32x4 {
        a | b
    }

    #[inline(always)]
    fn m_andnot(self, a: f32x4, b: f32x4) -> f32x4 {
        !a & b
    }

    #[inline(always)]
    fn m_none(self) -> f32x4 {
        f32x4::splat(0.0)
    }

    #[inline(always)]
    fn blend(self, m: f32x4, t: f32x4, f: f32x4) -> f32x4 {
        m.select(t, f)
    }

    #[inline(always)]
    fn d_splat(self, x: f64) -> f64x2 {
        f64x2::splat(x)
    }

    #[inline(always)]
    fn widen(self, x: f32x4) -> (f64x2, f64x2) {
        let a = x.to_array();
        (
            f64x2::new([f64::from(a[0]), f64::from(a[1])]),
            f64x2::new([f64::from(a[2]), f64::from(a[3])]),
        )
    }

    #[inline(always)]
    fn d_add(self, a: f64x2, b: f64x2) -> f64x2 {
        a + b
    }

    #[inline(always)]
    fn d_fma(self, a: f64x2, b: f64x2, c: f64x2) -> f64x2 {
        a.mul_add(b, c)
    }

    #[inline(always)]
    fn d_ratio(self, (n0, n1): (f64x2, f64x2), (d0, d1): (f64x2, f64x2)) -> f32x4 {
        let (a, b) = ((n0 / d0).to_array(), (n1 / d1).to_array());
        f32x4::new([a[0] as f32, a[1] as f32, b[0] as f32, b[1] as f32])
    }

    #[inline(always)]
    fn relu(self, x: f32x4) -> f32x4 {
        // fast_max's NaN behaviour differs per target; keep NaN explicitly.
        x.simd_ne(x).select(x, x.fast_max(f32x4::splat(0.0)))
    }

    #[inline(always)]
    fn uniform(self, seed: u64, n: u32, oh: u32, ow: u32, c0: u32) -> f32x4 {
        // Four lanes: the scalar generator per lane costs less than emulating 32x32->64-bit
        // multiplies on SSE2.
        f32x4::new(core::array::from_fn(|i| {
            crate::philox::stochastic_uniform(seed, n, oh, ow, c0.wrapping_add(i as u32))
        }))
    }

    #[inline(always)]
    fn max(self, a: f32x4, b: f32x4) -> f32x4 {
        a.fast_max(b)
    }

    #[inline(always)]
    fn bad_init(self) -> f32x4 {
        f32x4::splat(0.0)
    }

    #[inline(always)]
    fn bad_check(self, acc: f32x4, a: f32x4, b: f32x4) -> f32x4 {
        // a + b is NaN if either is (or for inf + -inf, a harmless false alarm).
        let s = a + b;
        acc | s.simd_ne(s)
    }

    #[inline(always)]
    fn bad_result(self, acc: f32x4, y: f32x4) -> f32x4 {
        bad_beyond(acc, y, HUGE)
    }

    #[inline(always)]
    fn bad_special(self, acc: f32x4, y: f32x4) -> f32x4 {
        bad_beyond(acc, y, f32::INFINITY)
    }

    #[inline(always)]
    fn nan_where(self, x: f32x4, bad: f32x4) -> f32x4 {
        // All-ones bits are a NaN.
        x | bad
    }

    #[inline(always)]
    fn bad_or(self, a: f32x4, b: f32x4) -> f32x4 {
        a | b
    }

    #[inline(always)]
    fn bad_if(self, acc: f32x4, m: f32x4) -> f32x4 {
        acc | m
    }

    #[inline(always)]
    fn bad_unless(self, acc: f32x4, good: f32x4) -> f32x4 {
        acc | !good
    }

    #[inline(always)]
    fn bad_keep(self, acc: f32x4, fresh: f32x4, n: usize) -> f32x4 {
        let keep = f32x4::new(core::array::from_fn(|i| {
            if i < n { f32::from_bits(!0) } else { 0.0 }
        }));
        acc | (fresh & keep)
    }

    #[inline(always)]
    fn bad_any(self, acc: f32x4) -> bool {
        acc.any()
    }

    #[inline(always)]
    fn max_init(self) -> (f32x4, f32x4) {
        (f32x4::splat(f32::NEG_INFINITY), f32x4::splat(0.0))
    }

    #[inline(always)]
    fn max_step(self, (m, nan): (f32x4, f32x4), x: f32x4) -> (f32x4, f32x4) {
        // fast_max's NaN behaviour differs per target (SSE returns an operand, NEON
        // propagates), so NaN lanes are tracked separately and forced at the end.
        (m.fast_max(x), nan | x.simd_ne(x))
    }

    #[inline(always)]
    fn max_merge(self, (m1, n1): (f32x4, f32x4), (m2, n2): (f32x4, f32x4)) -> (f32x4, f32x4) {
        (m1.fast_max(m2), n1 | n2)
    }

    #[inline(always)]
    fn max_finish(self, (m, nan): (f32x4, f32x4)) -> f32x4 {
        // All-ones bits are a NaN.
        m | nan
    }

    #[inline(always)]
    fn clamp(self, v: f32x4, lo: f32x4, hi: f32x4) -> f32x4 {
        let nan = v.simd_ne(v);
        nan.select(v, v.fast_max(lo).fast_min(hi))
    }
}

/// Marks subnormal lanes of `y`, NaN and those at least `limit` in magnitude.
#[inline(always)]
fn bad_beyond(acc: f32x4, y: f32x4, limit: f32) -> f32x4 {
    let a = y.abs();
    let tiny = a.simd_lt(f32x4::splat(f32::MIN_POSITIVE)) & a.simd_ne(f32x4::splat(0.0));
    // !(a < limit) holds for NaN too.
    let huge = !a.simd_lt(f32x4::splat(limit));
    acc | tiny | huge
}
