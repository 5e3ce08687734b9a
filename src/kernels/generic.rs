//! The any-window driver shared by the reduction kernels (max, average): every window, stride,
//! dilation, padding and ceil mode. For each output pixel it keeps `U` vectors of accumulators
//! in registers over a block of channels and runs all of the window's in-input taps into them,
//! then stores each output vector once. Padding taps are skipped by clipping the tap ranges per
//! output row and column, so no branch sits inside the tap loops.

use super::{Job, Tile};
use crate::simd::SimdF32;

/// A reduction over a window's taps.
pub(crate) trait Reduce<V: SimdF32> {
    /// The running state.
    type Acc: Copy;
    /// The empty state.
    fn init(v: V) -> Self::Acc;
    /// Folds one tap in.
    fn step(v: V, acc: Self::Acc, x: V::V) -> Self::Acc;
    /// The result, given the output's `scale` (from [`Reduce::scale`]).
    fn finish(v: V, acc: Self::Acc, scale: V::V) -> V::V;
    /// A per-output factor (1 / divisor for the average), from the output position and its
    /// clipped tap ranges.
    fn scale(job: &Job, oh: usize, ow: usize, th: (usize, usize), tw: (usize, usize)) -> f32;
    /// Whether a NaN, infinite or subnormal result sends the pixel to [`Reduce::exact`]
    /// (f32 sums can overflow where the exact average does not, and a rounded reciprocal can
    /// miss a subnormal tie).
    const CHECK_RESULT: bool;
    /// Recomputes outputs `ow0..ow1` of row `oh` exactly as the reference does.
    ///
    /// # Safety
    /// As [`row`].
    unsafe fn exact(
        v: V,
        job: &Job,
        n: usize,
        oh: usize,
        ow0: usize,
        ow1: usize,
        c: (usize, usize),
    );
}

/// Vectors of accumulators per channel block.
const U: usize = 4;

/// Runs reduction `R` over the tile.
///
/// # Safety
/// `job` must describe buffers that hold every element its geometry and strides address (the
/// plan checks this), and `tile` must lie inside the output.
#[inline(always)]
pub(crate) unsafe fn run<V: SimdF32, R: Reduce<V>>(v: V, job: &Job, tile: &Tile) {
    for n in tile.n.0..tile.n.1 {
        for oh in tile.oh.0..tile.oh.1 {
            // SAFETY: forwarded contract; the row lies inside the tile.
            unsafe { row::<V, R>(v, job, n, oh, 0, job.w.out, tile.c) };
        }
    }
}

/// Outputs `ow0..ow1` of row `oh` of image `n`, channels `c.0..c.1`, one pixel at a time with
/// clipped tap ranges (any window, any position: borders of the specialised kernels use it).
///
/// # Safety
/// As [`run`], with `n`, `oh`, `ow0..ow1` and the channel range inside the output.
#[inline(always)]
pub(crate) unsafe fn row<V: SimdF32, R: Reduce<V>>(
    v: V,
    job: &Job,
    n: usize,
    oh: usize,
    ow0: usize,
    ow1: usize,
    (c0, c1): (usize, usize),
) {
    let l = V::LANES;
    let (lo, hi) = (v.splat(job.lo), v.splat(job.hi));
    let step_h = job.h.d * job.in_row;
    let step_w = job.w.d * job.in_pixel;
    let th = job.h.taps(oh);
    // First in-input row of the window (non-negative: taps() clips the padding).
    let ih0 = (job.h.start(oh) + (th.0 * job.h.d) as isize) as usize;
    for ow in ow0..ow1 {
        let tw = job.w.taps(ow);
        let iw0 = (job.w.start(ow) + (tw.0 * job.w.d) as isize) as usize;
        let scale = v.splat(R::scale(job, oh, ow, th, tw));
        let (nh, nw) = (th.1 - th.0, tw.1 - tw.0);
        // SAFETY: n < N, ih0 < H, iw0 < W and oh, ow inside the output, so both offsets
        // address elements of the validated buffers.
        let (base, out) = unsafe {
            (
                job.src
                    .add(n * job.in_batch + ih0 * job.in_row + iw0 * job.in_pixel),
                job.dst
                    .add(n * job.out_batch + oh * job.out_row + ow * job.out_pixel),
            )
        };
        let mut bad = v.bad_init();
        let mut c = c0;
        while c + U * l <= c1 {
            let mut acc = [R::init(v); U];
            for i in 0..nh {
                for j in 0..nw {
                    // SAFETY: tap (i, j) is an in-input pixel (clipped ranges) and
                    // c + U*l <= C.
                    let p = unsafe { base.add(i * step_h + j * step_w + c) };
                    for (u, a) in acc.iter_mut().enumerate() {
                        // SAFETY: as above.
                        *a = R::step(v, *a, unsafe { v.load(p.add(u * l)) });
                    }
                }
            }
            for (u, a) in acc.iter().enumerate() {
                let y = R::finish(v, *a, scale);
                if R::CHECK_RESULT {
                    bad = v.bad_result(bad, y);
                }
                let y = v.clamp(y, lo, hi);
                // SAFETY: c + U*l <= C inside the output pixel.
                unsafe { v.store(out.add(c + u * l), y) };
            }
            c += U * l;
        }
        while c + l <= c1 {
            let mut acc = R::init(v);
            for i in 0..nh {
                for j in 0..nw {
                    // SAFETY: as above, with c + l <= C.
                    acc = R::step(v, acc, unsafe {
                        v.load(base.add(i * step_h + j * step_w + c))
                    });
                }
            }
            let y = R::finish(v, acc, scale);
            if R::CHECK_RESULT {
                bad = v.bad_result(bad, y);
            }
            let y = v.clamp(y, lo, hi);
            // SAFETY: c + l <= C.
            unsafe { v.store(out.add(c), y) };
            c += l;
        }
        if c < c1 {
            let t = v.tail(c1 - c);
            let mut acc = R::init(v);
            for i in 0..nh {
                for j in 0..nw {
                    // SAFETY: the masked load touches only the c1 - c channels left.
                    acc = R::step(v, acc, unsafe {
                        v.load_tail(base.add(i * step_h + j * step_w + c), t)
                    });
                }
            }
            let y = R::finish(v, acc, scale);
            if R::CHECK_RESULT {
                // Lanes past the tail are 0 and never marked.
                bad = v.bad_result(bad, y);
            }
            let y = v.clamp(y, lo, hi);
            // SAFETY: the masked store writes only the c1 - c channels left.
            unsafe { v.store_tail(out.add(c), y, t) };
        }
        if R::CHECK_RESULT && v.bad_any(bad) {
            // SAFETY: the same pixel and channels.
            unsafe { R::exact(v, job, n, oh, ow, ow + 1, (c0, c1)) };
        }
    }
}
