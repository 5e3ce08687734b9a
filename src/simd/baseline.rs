//! Baseline tier: `wide::f32x4` (SSE2 on x86-64, NEON on aarch64, simd128 on wasm32 when
//! enabled at compile time, scalar elsewhere). No intrinsics, so no target features.

use super::SimdF32;
use wide::f32x4;

#[derive(Clone, Copy)]
pub(crate) struct Baseline;

impl SimdF32 for Baseline {
    const LANES: usize = 4;
    type V = f32x4;
    type Tail = usize;
    /// Running max and the lanes that saw a NaN (all-ones bits there).
    type MaxAcc = (f32x4, f32x4);
    type Bad = f32x4;

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
        let a = y.abs();
        let tiny = a.simd_lt(f32x4::splat(f32::MIN_POSITIVE)) & a.simd_ne(f32x4::splat(0.0));
        // !(a < inf) holds for inf and NaN.
        let nonfinite = !a.simd_lt(f32x4::splat(f32::INFINITY));
        acc | tiny | nonfinite
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
