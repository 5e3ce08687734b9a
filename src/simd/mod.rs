//! The only place that names `core::arch`: a small vector trait and one implementation per tier.
//!
//! Kernel bodies are generic over [`SimdF32`] and `#[inline(always)]`; the generated
//! `#[target_feature]` shims instantiate them per tier, so every intrinsic is inlined into code
//! compiled for that tier. A tier's token type can only be made by `new_unchecked`, whose caller
//! (a generated shim, reached only through a table of detected tiers) promises the features.

mod baseline;
pub(crate) use baseline::Baseline;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
pub(crate) use avx2::Avx2;

#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "x86_64")]
pub(crate) use avx512::Avx512;

/// `2^127`: results at least this large are near the f32 overflow threshold, where the
/// reference's single rounding and an f32 accumulation may disagree (see `bad_result`).
pub(crate) const HUGE: f32 = 1.701_411_8e38;

/// f32 vectors of one tier. Every method is `#[inline(always)]` in the implementations.
///
/// Loads and stores take raw pointers: the caller guarantees `LANES` (or the tail's count of)
/// valid, initialised f32 at the address; no alignment is required.
pub(crate) trait SimdF32: Copy {
    /// f32 lanes per vector.
    const LANES: usize;
    /// The vector.
    type V: Copy;
    /// A prepared mask for the first `n < LANES` lanes.
    type Tail: Copy;
    /// Running NaN-propagating maximum.
    type MaxAcc: Copy;
    /// Lanes where a NaN was seen (for kernels that check once and fall back).
    type Bad: Copy;
    /// A per-lane condition (a k-mask on AVX-512, all-ones lanes elsewhere).
    type M: Copy;
    /// f64 lanes, half as many as `V` (for sums the f32 bounds do not cover).
    type D: Copy;

    /// The token.
    ///
    /// # Safety
    /// The CPU must support the tier's target features.
    unsafe fn new_unchecked() -> Self;

    /// All lanes `x`.
    fn splat(self, x: f32) -> Self::V;
    /// Loads `LANES` floats.
    ///
    /// # Safety
    /// `p..p+LANES` must be readable.
    unsafe fn load(self, p: *const f32) -> Self::V;
    /// Stores `LANES` floats.
    ///
    /// # Safety
    /// `p..p+LANES` must be writable.
    unsafe fn store(self, p: *mut f32, v: Self::V);
    /// The mask of the first `n` lanes, `0 < n < LANES`.
    fn tail(self, n: usize) -> Self::Tail;
    /// Loads the tail's lanes (others zero) without touching memory past them.
    ///
    /// # Safety
    /// The tail's `n` floats at `p` must be readable.
    unsafe fn load_tail(self, p: *const f32, t: Self::Tail) -> Self::V;
    /// Stores the tail's lanes without touching memory past them.
    ///
    /// # Safety
    /// The tail's `n` floats at `p` must be writable.
    unsafe fn store_tail(self, p: *mut f32, v: Self::V, t: Self::Tail);

    /// `a + b`.
    fn add(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a * b`.
    fn mul(self, a: Self::V, b: Self::V) -> Self::V;

    /// `a - b`.
    fn sub(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a / b`, correctly rounded.
    fn div(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a * b + c`, one rounding.
    fn fma(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// Square root, correctly rounded.
    fn sqrt(self, a: Self::V) -> Self::V;
    /// `|a|` (clears the sign bit; NaN stays NaN).
    fn abs(self, a: Self::V) -> Self::V;
    /// Round to the nearest integer, ties to even.
    fn round(self, a: Self::V) -> Self::V;
    /// `(e, f)` with `a = 2^e * f`, `f` in `[1, 2)`, for finite `a > 0` (subnormals included).
    fn frexp(self, a: Self::V) -> (Self::V, Self::V);
    /// `2^n` for integral `n` in `[-126, 127]`.
    fn exp2i(self, n: Self::V) -> Self::V;

    /// `a < b` (false if either is NaN).
    fn lt(self, a: Self::V, b: Self::V) -> Self::M;
    /// `a == b` (false if either is NaN).
    fn eq(self, a: Self::V, b: Self::V) -> Self::M;
    /// `a || b`.
    fn m_or(self, a: Self::M, b: Self::M) -> Self::M;
    /// `!a && b`.
    fn m_andnot(self, a: Self::M, b: Self::M) -> Self::M;
    /// No lane set.
    fn m_none(self) -> Self::M;
    /// `m ? t : f` per lane.
    fn blend(self, m: Self::M, t: Self::V, f: Self::V) -> Self::V;

    /// All lanes `x`, f64.
    fn d_splat(self, x: f64) -> Self::D;
    /// The low and high halves of `x`, widened exactly to f64.
    fn widen(self, x: Self::V) -> (Self::D, Self::D);
    /// `a + b` in f64.
    fn d_add(self, a: Self::D, b: Self::D) -> Self::D;
    /// `a * b + c` in f64, one rounding.
    fn d_fma(self, a: Self::D, b: Self::D, c: Self::D) -> Self::D;
    /// `num / den` per lane in f64, rounded once to f32 (halves as from [`SimdF32::widen`]).
    fn d_ratio(self, num: (Self::D, Self::D), den: (Self::D, Self::D)) -> Self::V;
    /// `max(x, 0)`, NaN kept.
    fn relu(self, x: Self::V) -> Self::V;

    /// The uniform `u` of stochastic pooling (see [`crate::philox`]) for channels
    /// `c0 .. c0 + LANES` of output `(n, oh, ow)`.
    fn uniform(self, seed: u64, n: u32, oh: u32, ow: u32, c0: u32) -> Self::V;

    /// `max(a, b)` for ordered lanes; which operand a NaN lane returns is unspecified.
    fn max(self, a: Self::V, b: Self::V) -> Self::V;

    /// No NaN seen yet.
    fn bad_init(self) -> Self::Bad;
    /// Marks the lanes where `a` or `b` is NaN (may also mark `a = inf, b = -inf`: callers use
    /// it only to choose an exact fallback).
    fn bad_check(self, acc: Self::Bad, a: Self::V, b: Self::V) -> Self::Bad;
    /// Marks the lanes where `y` is NaN, infinite, subnormal or at least `2^127` in magnitude:
    /// results f32 arithmetic may have got wrong (an overflow, a rounding across the overflow
    /// threshold that the reference's single rounding does not make, or a rounded reciprocal
    /// at a subnormal tie); callers recompute them exactly.
    fn bad_result(self, acc: Self::Bad, y: Self::V) -> Self::Bad;
    /// As [`SimdF32::bad_result`] without the `2^127` bound: NaN, infinite or subnormal lanes.
    /// Enough for a result `sum * scale` with `scale <= 0.5`, which cannot reach `2^127`
    /// while the f32 sum is finite; on AVX-512 one `vfpclassps` instead of three more operations.
    fn bad_special(self, acc: Self::Bad, y: Self::V) -> Self::Bad;
    /// `x` with NaN in the marked lanes.
    fn nan_where(self, x: Self::V, bad: Self::Bad) -> Self::V;
    /// Lanes marked in either.
    fn bad_or(self, a: Self::Bad, b: Self::Bad) -> Self::Bad;
    /// Marks the lanes where `m` is set.
    fn bad_if(self, acc: Self::Bad, m: Self::M) -> Self::Bad;
    /// Marks the lanes where `good` is false.
    fn bad_unless(self, acc: Self::Bad, good: Self::M) -> Self::Bad;
    /// `acc` plus the lanes of `fresh` inside tail `t`.
    fn bad_keep(self, acc: Self::Bad, fresh: Self::Bad, t: Self::Tail) -> Self::Bad;
    /// True if any lane was marked.
    fn bad_any(self, acc: Self::Bad) -> bool;

    /// An empty maximum (`-inf`, no NaN seen).
    fn max_init(self) -> Self::MaxAcc;
    /// Folds `x` in; a NaN in `x` (now or at any earlier step) makes the result NaN.
    fn max_step(self, acc: Self::MaxAcc, x: Self::V) -> Self::MaxAcc;
    /// Combines two running maxima.
    fn max_merge(self, a: Self::MaxAcc, b: Self::MaxAcc) -> Self::MaxAcc;
    /// The maximum (NaN where any folded lane was NaN).
    fn max_finish(self, acc: Self::MaxAcc) -> Self::V;

    /// `min(max(v, lo), hi)` with NaN in `v` kept.
    fn clamp(self, v: Self::V, lo: Self::V, hi: Self::V) -> Self::V;
}
