//! Average pooling kernels: f32 sums in tap order, times the reciprocal of the divisor
//! (rounded once from f64), well inside SPEC's `(K + 2) * eps` bound. Results that are NaN,
//! infinite or subnormal (an f32 sum that overflowed, a reciprocal that missed a subnormal
//! tie) are recomputed with the reference's f64 arithmetic.

use super::generic::{self, Reduce};
use super::{Job, Tile};
use crate::params::Divisor;
use crate::plan::OpSpec;
use crate::simd::SimdF32;

/// Sum of the in-input taps over the divisor rule of the job's op.
pub(crate) struct AvgReduce;

/// The divisor of output `(oh, ow)` given its clipped tap ranges.
#[inline(always)]
pub(crate) fn divisor(
    job: &Job,
    oh: usize,
    ow: usize,
    th: (usize, usize),
    tw: (usize, usize),
) -> usize {
    match job.op {
        OpSpec::Avg(Divisor::Override(d)) => d,
        OpSpec::Avg(Divisor::IncludePad) => {
            job.h.include_pad_count(oh) * job.w.include_pad_count(ow)
        }
        _ => (th.1 - th.0) * (tw.1 - tw.0),
    }
}

impl<V: SimdF32> Reduce<V> for AvgReduce {
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
        v.add(acc, x)
    }
    #[inline(always)]
    fn merge(v: V, a: V::V, b: V::V) -> V::V {
        v.add(a, b)
    }
    #[inline(always)]
    fn finish(v: V, acc: V::V, scale: V::V, _: ()) -> V::V {
        v.mul(acc, scale)
    }
    #[inline(always)]
    fn scale(job: &Job, oh: usize, ow: usize, th: (usize, usize), tw: (usize, usize)) -> f32 {
        (1.0 / divisor(job, oh, ow, th, tw) as f64) as f32
    }
    const CHECK_RESULT: bool = true;
}

impl<V: SimdF32> super::window::Columns<V> for AvgReduce {
    const CHECK_NAN: bool = false;
    #[inline(always)]
    fn check_column(v: V, bad: V::Bad, y: V::V) -> V::Bad {
        v.bad_special(bad, y)
    }
    fn needs_huge_pass(scale: f32) -> bool {
        super::exact::needs_huge_pass(scale)
    }
    #[inline(always)]
    fn first(_: V, x: V::V) -> V::V {
        x
    }
    #[inline(always)]
    fn fold(v: V, acc: V::V, x: V::V) -> V::V {
        v.add(acc, x)
    }
    #[inline(always)]
    fn combine(v: V, a: V::V, b: V::V) -> V::V {
        v.add(a, b)
    }
    #[inline(always)]
    fn output(v: V, x: V::V, scale: V::V) -> V::V {
        v.mul(x, scale)
    }
}

/// Any window: `avg_f32_kany`.
///
/// # Safety
/// See [`generic::run`].
#[inline(always)]
pub(crate) unsafe fn generic<V: SimdF32>(v: V, job: &Job, tile: &Tile) {
    // SAFETY: forwarded contract.
    unsafe { generic::run::<V, AvgReduce>(v, job, tile) }
}

/// One window, `avg_f32_k{KH}x{KW}s{S}`.
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
    unsafe { super::window::run::<V, AvgReduce, KH, KW, SH, SW>(v, job, tile) }
}

/// Global average: `gavg_f32`.
///
/// # Safety
/// See [`super::global::run`].
#[inline(always)]
pub(crate) unsafe fn global<V: SimdF32>(v: V, job: &Job, tile: &Tile) {
    // SAFETY: forwarded contract.
    unsafe { super::global::run::<V, AvgReduce>(v, job, tile) }
}
