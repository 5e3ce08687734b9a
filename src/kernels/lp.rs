//! Lp pooling, `(sum |x|^p)^(1/p)` over the in-input taps, and its global form.
//!
//! - p = 1: sum of `|x|` (exact for subnormals); results near the overflow threshold are
//!   recomputed exactly.
//! - p = 2: square root of the f32 sum of squares (one fma per tap). Squares overflow above
//!   about 1.8e19 and underflow below about 1e-19, so results that are not finite or below
//!   2^-50 (all-zero windows included) are recomputed with the reference's rescaled f64
//!   arithmetic ([`super::exact::row`]).
//! - p = infinity: max `|x|`, NaN-propagating, bitwise equal to the reference.
//! - real p: two passes. The first takes `m = max |x|`; the second sums
//!   `2^(p (log2|x| - log2 m))` (every term <= 1, so nothing overflows and what underflows is
//!   below 2^-126 of the largest term), and the result is `m * 2^(log2(S) / p)`. `log2` splits
//!   exponent and mantissa exactly and evaluates `ln` of the mantissa in `[sqrt(1/2), sqrt(2))`
//!   by the atanh series to `s^9` (truncation below 4e-10); `exp2` rounds to an integer `n`,
//!   evaluates `e^(f ln 2)` for `|f| <= 1/2` by its Taylor series to degree 7 (truncation below
//!   6e-9) and scales by `2^n`. Measured against the f64 reference (tests/stochastic_lp.rs),
//!   the largest relative error is 1.0e-6 for p in [0.25, 64] and |x| in [1e-30, 1e30]
//!   (SPEC allows 1e-5).

use super::generic::{self, Reduce};
use super::{Job, Tile};
use crate::plan::OpSpec;
use crate::simd::SimdF32;

/// Sum of `|x|`.
pub(crate) struct Lp1;
/// Square root of the sum of squares.
pub(crate) struct Lp2;
/// Max `|x|`.
pub(crate) struct LpInf;
/// Any real p > 0 (two passes).
pub(crate) struct LpReal;

impl<V: SimdF32> Reduce<V> for Lp1 {
    type Acc = V::V;
    type Pre = ();
    #[inline(always)]
    fn prepare(_: V, _: &Job, _: V::V) {}
    #[inline(always)]
    fn init(v: V, _: ()) -> V::V {
        v.splat(0.0)
    }
    #[inline(always)]
    fn step(v: V, acc: V::V, x: V::V, _: ()) -> V::V {
        v.add(acc, v.abs(x))
    }
    #[inline(always)]
    fn merge(v: V, a: V::V, b: V::V) -> V::V {
        v.add(a, b)
    }
    #[inline(always)]
    fn finish(_: V, acc: V::V, _: V::V, _: ()) -> V::V {
        acc
    }
    /// Sums near f32::MAX can round differently from the reference's single rounding.
    const CHECK_RESULT: bool = true;
}

/// Results below this (or not finite) take the exact path: their squares may have underflowed.
const LP2_TINY: f32 = 8.881_784e-16; // 2^-50

impl<V: SimdF32> Reduce<V> for Lp2 {
    type Acc = V::V;
    type Pre = ();
    #[inline(always)]
    fn prepare(_: V, _: &Job, _: V::V) {}
    #[inline(always)]
    fn init(v: V, _: ()) -> V::V {
        v.splat(0.0)
    }
    #[inline(always)]
    fn step(v: V, acc: V::V, x: V::V, _: ()) -> V::V {
        v.fma(x, x, acc)
    }
    #[inline(always)]
    fn merge(v: V, a: V::V, b: V::V) -> V::V {
        v.add(a, b)
    }
    #[inline(always)]
    fn finish(v: V, acc: V::V, _: V::V, _: ()) -> V::V {
        v.sqrt(acc)
    }
    const CHECK_RESULT: bool = true;
    #[inline(always)]
    fn check(v: V, bad: V::Bad, y: V::V) -> V::Bad {
        // Good: 2^-50 <= y < inf (NaN fails both).
        let good = v.m_andnot(v.lt(y, v.splat(LP2_TINY)), v.lt(y, v.splat(f32::INFINITY)));
        v.bad_unless(bad, good)
    }
}

impl<V: SimdF32> super::window::Columns<V> for Lp2 {
    const CHECK_NAN: bool = false;
    #[inline(always)]
    fn first(v: V, x: V::V) -> V::V {
        v.mul(x, x)
    }
    #[inline(always)]
    fn fold(v: V, acc: V::V, x: V::V) -> V::V {
        v.fma(x, x, acc)
    }
    #[inline(always)]
    fn combine(v: V, a: V::V, b: V::V) -> V::V {
        v.add(a, b)
    }
    #[inline(always)]
    fn output(v: V, x: V::V, _: V::V) -> V::V {
        v.sqrt(x)
    }
}

impl<V: SimdF32> Reduce<V> for LpInf {
    type Acc = V::MaxAcc;
    type Pre = ();
    #[inline(always)]
    fn prepare(_: V, _: &Job, _: V::V) {}
    #[inline(always)]
    fn init(v: V, _: ()) -> V::MaxAcc {
        v.max_init()
    }
    #[inline(always)]
    fn step(v: V, acc: V::MaxAcc, x: V::V, _: ()) -> V::MaxAcc {
        v.max_step(acc, v.abs(x))
    }
    #[inline(always)]
    fn merge(v: V, a: V::MaxAcc, b: V::MaxAcc) -> V::MaxAcc {
        v.max_merge(a, b)
    }
    #[inline(always)]
    fn finish(v: V, acc: V::MaxAcc, _: V::V, _: ()) -> V::V {
        v.max_finish(acc)
    }
}

/// `log2(f)` for `f` in `[1, 2)`, as `(k, l)` with `log2 f = k + l`, `k` in {0, 1} and `|l| <=
/// 1/2` (the mantissa is folded into `[sqrt(1/2), sqrt(2))` first).
#[inline(always)]
fn log2_mantissa<V: SimdF32>(v: V, f: V::V) -> (V::V, V::V) {
    let big = v.lt(v.splat(core::f32::consts::SQRT_2), f);
    let f = v.blend(big, v.mul(f, v.splat(0.5)), f);
    let k = v.blend(big, v.splat(1.0), v.splat(0.0));
    // ln f = 2 atanh(s), s = (f - 1) / (f + 1), |s| < 0.1716.
    let s = v.div(v.sub(f, v.splat(1.0)), v.add(f, v.splat(1.0)));
    let s2 = v.mul(s, s);
    let mut poly = v.splat(1.0 / 9.0);
    poly = v.fma(poly, s2, v.splat(1.0 / 7.0));
    poly = v.fma(poly, s2, v.splat(1.0 / 5.0));
    poly = v.fma(poly, s2, v.splat(1.0 / 3.0));
    poly = v.fma(poly, s2, v.splat(1.0));
    // log2 f = 2 s poly / ln 2.
    let l = v.mul(v.mul(s, poly), v.splat(2.0 * core::f32::consts::LOG2_E));
    (k, l)
}

/// `2^t` for `t` in `[-126, 126]`.
#[inline(always)]
fn exp2<V: SimdF32>(v: V, t: V::V) -> V::V {
    let n = v.round(t);
    let g = v.mul(v.sub(t, n), v.splat(core::f32::consts::LN_2));
    // e^g = sum g^k / k!, k <= 7, |g| <= ln(2) / 2.
    let mut p = v.splat(1.0 / 5040.0);
    p = v.fma(p, g, v.splat(1.0 / 720.0));
    p = v.fma(p, g, v.splat(1.0 / 120.0));
    p = v.fma(p, g, v.splat(1.0 / 24.0));
    p = v.fma(p, g, v.splat(1.0 / 6.0));
    p = v.fma(p, g, v.splat(0.5));
    p = v.fma(p, g, v.splat(1.0));
    p = v.fma(p, g, v.splat(1.0));
    v.mul(p, v.exp2i(n))
}

/// The job's real p (set for the real-p kernels only).
#[inline(always)]
fn p_of(job: &Job) -> f32 {
    match job.op {
        OpSpec::Lp(p) | OpSpec::GlobalLp(p) => p as f32,
        _ => 2.0,
    }
}

/// Per-output-vector constants of the real-p reduction.
#[derive(Clone, Copy)]
pub(crate) struct RealPre<T> {
    /// max |x| of the window.
    m: T,
    /// Integer part of log2 m (exponent plus the mantissa fold).
    km: T,
    /// Fractional part of log2 m.
    lm: T,
    p: T,
    inv_p: T,
}

impl<V: SimdF32> Reduce<V> for LpReal {
    type Acc = V::V;
    type Pre = RealPre<V::V>;
    const TWO_PASS: bool = true;
    #[inline(always)]
    fn prepare(v: V, job: &Job, m: V::V) -> RealPre<V::V> {
        let p = p_of(job);
        let (em, fm) = v.frexp(m);
        let (k, lm) = log2_mantissa(v, fm);
        RealPre {
            m,
            km: v.add(em, k),
            lm,
            p: v.splat(p),
            inv_p: v.splat(1.0 / p),
        }
    }
    #[inline(always)]
    fn init(v: V, _: RealPre<V::V>) -> V::V {
        v.splat(0.0)
    }
    #[inline(always)]
    fn step(v: V, acc: V::V, x: V::V, pre: RealPre<V::V>) -> V::V {
        let a = v.abs(x);
        let (e, f) = v.frexp(a);
        let (k, l) = log2_mantissa(v, f);
        // p * (log2 a - log2 m): integer parts first (exact), then the small ones.
        let d = v.add(v.sub(v.add(e, k), pre.km), v.sub(l, pre.lm));
        let t = v.max(v.mul(pre.p, d), v.splat(-126.0));
        let term = v.blend(v.eq(a, v.splat(0.0)), v.splat(0.0), exp2(v, t));
        v.add(acc, term)
    }
    #[inline(always)]
    fn merge(v: V, a: V::V, b: V::V) -> V::V {
        v.add(a, b)
    }
    #[inline(always)]
    fn finish(v: V, s: V::V, _: V::V, pre: RealPre<V::V>) -> V::V {
        // s >= 1 when m > 0 (the largest term is 1).
        let (es, fs) = v.frexp(s);
        let (k, l) = log2_mantissa(v, fs);
        let r = exp2(v, v.mul(v.add(v.add(es, k), l), pre.inv_p));
        let y = v.mul(pre.m, r);
        v.blend(v.eq(pre.m, v.splat(0.0)), v.splat(0.0), y)
    }
    const CHECK_RESULT: bool = true;
}

macro_rules! entries {
    ($r:ty, $generic:ident, $global:ident) => {
        /// Any window.
        ///
        /// # Safety
        /// See [`generic::run`].
        #[inline(always)]
        pub(crate) unsafe fn $generic<V: SimdF32>(v: V, job: &Job, tile: &Tile) {
            // SAFETY: forwarded contract.
            unsafe { generic::run::<V, $r>(v, job, tile) }
        }

        /// Global.
        ///
        /// # Safety
        /// See [`super::global::run`].
        #[inline(always)]
        pub(crate) unsafe fn $global<V: SimdF32>(v: V, job: &Job, tile: &Tile) {
            // SAFETY: forwarded contract.
            unsafe { super::global::run::<V, $r>(v, job, tile) }
        }
    };
}

entries!(Lp1, p1_generic, p1_global);
entries!(Lp2, p2_generic, p2_global);
entries!(LpInf, pinf_generic, pinf_global);
entries!(LpReal, real_generic, real_global);

/// One window, p = 2: `lp2_f32_k{KH}x{KW}s{S}`.
///
/// # Safety
/// See [`super::window::run`].
#[inline(always)]
pub(crate) unsafe fn p2_window<
    V: SimdF32,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
>(
    v: V,
    job: &Job,
    tile: &Tile,
) {
    // SAFETY: forwarded contract.
    unsafe { super::window::run::<V, Lp2, KH, KW, SH, SW>(v, job, tile) }
}

/// Global Lp for any p (`glp_f32`): picks the p = 1, 2, infinity or real-p reduction once per
/// call.
///
/// # Safety
/// See [`super::global::run`].
#[inline(always)]
pub(crate) unsafe fn global<V: SimdF32>(v: V, job: &Job, tile: &Tile) {
    // SAFETY: forwarded contract.
    unsafe {
        match job.op {
            OpSpec::GlobalLp(1.0) => p1_global(v, job, tile),
            OpSpec::GlobalLp(2.0) => p2_global(v, job, tile),
            OpSpec::GlobalLp(f64::INFINITY) => pinf_global(v, job, tile),
            _ => real_global(v, job, tile),
        }
    }
}
