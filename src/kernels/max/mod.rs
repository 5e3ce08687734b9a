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
