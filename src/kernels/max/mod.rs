//! Max pooling kernels. NaN propagates through the tier's `max_step`.

use super::generic::{self, Reduce};
use super::{Job, Tile};
use crate::simd::SimdF32;

/// NaN-propagating maximum of the in-input taps (padding never takes part).
pub(crate) struct MaxReduce;

impl<V: SimdF32> Reduce<V> for MaxReduce {
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
        v.max_step(acc, x)
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

impl<V: SimdF32> super::window::Columns<V> for MaxReduce {
    const CHECK_NAN: bool = true;
    #[inline(always)]
    fn first(_: V, x: V::V) -> V::V {
        x
    }
    #[inline(always)]
    fn fold(v: V, acc: V::V, x: V::V) -> V::V {
        v.max(acc, x)
    }
    #[inline(always)]
    fn combine(v: V, a: V::V, b: V::V) -> V::V {
        v.max(a, b)
    }
    #[inline(always)]
    fn output(_: V, x: V::V, _: V::V) -> V::V {
        x
    }
}

/// Any window: `max_f32_kany`; global max: `gmax_f32_kany`.
///
/// # Safety
/// See [`generic::run`].
#[inline(always)]
pub(crate) unsafe fn generic<V: SimdF32>(v: V, job: &Job, tile: &Tile) {
    // SAFETY: forwarded contract.
    unsafe { generic::run::<V, MaxReduce>(v, job, tile) }
}

/// One window, `max_f32_k{KH}x{KW}s{S}`.
///
/// # Safety
/// See [`super::window::run`].
#[inline(always)]
pub(crate) unsafe fn window<
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
    unsafe { super::window::run::<V, MaxReduce, KH, KW, SH, SW>(v, job, tile) }
}

/// Stride-1 windows by clamped indices ([`super::clamped`]), `max_f32_k{KH}x{KW}s1`.
///
/// # Safety
/// See [`super::clamped::run`].
#[inline(always)]
pub(crate) unsafe fn clamped<
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
    const { assert!(SH == 1 && SW == 1) };
    // SAFETY: forwarded contract.
    unsafe {
        // Two rows at a time, 2 channel vectors per strip (a single vector: 1.4-2x the
        // time at 512 channels on avx512 and avx2); where stores alias loads one row at a
        // time, 4 vectors (avx512 20x20x512 at distance 0: 66-68 against 86-91 us).
        if super::window::alias_gap(job).is_some_and(|(_, d)| d < 128) {
            super::clamped::run::<V, KH, KW, 4, 1>(v, job, tile)
        } else {
            super::clamped::run::<V, KH, KW, 2, 2>(v, job, tile)
        }
    }
}

/// Max for global pooling: plain maxima plus NaN lanes OR-ed into a mask. Every compare is
/// independent and the OR's 1-cycle latency is the only chain, where the windowed kernels'
/// `max_step` chains a masked compare per tap (fewer operations for 9 taps, latency-bound for
/// the 49 or 3136 taps of a global pool).
pub(crate) struct GlobalMaxReduce;

impl<V: SimdF32> Reduce<V> for GlobalMaxReduce {
    type Acc = (V::V, V::Bad);
    type Pre = ();
    #[inline(always)]
    fn prepare(_: V, _: &Job, _: V::V) {}
    #[inline(always)]
    fn init(v: V, _: ()) -> Self::Acc {
        (v.splat(f32::NEG_INFINITY), v.bad_init())
    }
    #[inline(always)]
    fn step(v: V, (m, nan): Self::Acc, x: V::V, _: ()) -> Self::Acc {
        (v.max(m, x), v.bad_check(nan, x, x))
    }
    #[inline(always)]
    fn merge(v: V, (m1, n1): Self::Acc, (m2, n2): Self::Acc) -> Self::Acc {
        (v.max(m1, m2), v.bad_or(n1, n2))
    }
    #[inline(always)]
    fn finish(v: V, (m, nan): Self::Acc, _: V::V, _: ()) -> V::V {
        v.nan_where(m, nan)
    }
}

/// Global max: `gmax_f32`.
///
/// # Safety
/// See [`super::global::run`].
#[inline(always)]
pub(crate) unsafe fn global<V: SimdF32>(v: V, job: &Job, tile: &Tile) {
    // SAFETY: forwarded contract.
    unsafe { super::global::run::<V, GlobalMaxReduce>(v, job, tile) }
}
