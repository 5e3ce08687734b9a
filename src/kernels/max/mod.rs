//! Max pooling kernels. NaN propagates through the tier's `max_step`.

use super::generic::{self, Reduce};
use super::{Job, Tile};
use crate::simd::SimdF32;

/// NaN-propagating maximum of the in-input taps (padding never takes part).
pub(crate) struct MaxReduce;

impl<V: SimdF32> Reduce<V> for MaxReduce {
    type Acc = V::MaxAcc;
    #[inline(always)]
    fn init(v: V) -> V::MaxAcc {
        v.max_init()
    }
    #[inline(always)]
    fn step(v: V, acc: V::MaxAcc, x: V::V) -> V::MaxAcc {
        v.max_step(acc, x)
    }
    #[inline(always)]
    fn finish(v: V, acc: V::MaxAcc, _scale: V::V) -> V::V {
        v.max_finish(acc)
    }
    #[inline(always)]
    fn scale(_: &Job, _: usize, _: usize, _: (usize, usize), _: (usize, usize)) -> f32 {
        1.0
    }
    const CHECK_RESULT: bool = false;
    #[inline(always)]
    unsafe fn exact(
        v: V,
        job: &Job,
        n: usize,
        oh: usize,
        ow0: usize,
        ow1: usize,
        c: (usize, usize),
    ) {
        // The any-window code propagates NaN exactly.
        // SAFETY: forwarded contract.
        unsafe { generic::row::<V, MaxReduce>(v, job, n, oh, ow0, ow1, c) }
    }
}

/// Any window: `max_f32_kany`.
///
/// # Safety
/// See [`generic::run`].
#[inline(always)]
pub(crate) unsafe fn generic<V: SimdF32>(v: V, job: &Job, tile: &Tile) {
    // SAFETY: forwarded contract.
    unsafe { generic::run::<V, MaxReduce>(v, job, tile) }
}

impl<V: SimdF32> super::window::Columns<V> for MaxReduce {
    const CHECK_NAN: bool = true;
    #[inline(always)]
    fn combine(v: V, a: V::V, b: V::V) -> V::V {
        v.max(a, b)
    }
    #[inline(always)]
    fn output(_: V, x: V::V, _: V::V) -> V::V {
        x
    }
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
