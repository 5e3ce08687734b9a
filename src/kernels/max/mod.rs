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

/// Global max: `gmax_f32`.
///
/// # Safety
/// See [`super::global::run`].
#[inline(always)]
pub(crate) unsafe fn global<V: SimdF32>(v: V, job: &Job, tile: &Tile) {
    // SAFETY: forwarded contract.
    unsafe { super::global::run::<V, MaxReduce>(v, job, tile) }
}
