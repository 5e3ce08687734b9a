//! The exact path: outputs recomputed with the reference's own arithmetic, for the rare lanes a
//! vector kernel flags (an f32 sum that overflowed, a subnormal average, a NaN the fast max
//! path does not propagate, a rescaled Lp). Scalar and slow; bitwise equal to the reference.

use super::Job;
use crate::reference::{self, Tap};

/// Recomputes outputs `ow0..ow1` of row `oh` of image `n`, channels `c0..c1`, and stores them
/// (clamped).
///
/// # Safety
/// `job` must describe validated buffers (the plan's checks) and the outputs must lie inside
/// the output.
pub(crate) unsafe fn row(
    job: &Job,
    n: usize,
    oh: usize,
    ow0: usize,
    ow1: usize,
    (c0, c1): (usize, usize),
) {
    let (h, w) = (job.h, job.w);
    // Dense NHWC index of a tap, as the reference reports it (stochastic pooling only).
    let (ih, iw) = (h.input, w.input);
    let (h0, h1) = h.taps(oh);
    for ow in ow0..ow1 {
        let (w0, w1) = w.taps(ow);
        for c in c0..c1 {
            let taps = (h0..h1)
                .map(move |j| h.start(oh) + (j * h.d) as isize)
                .filter(move |&y| y >= 0 && y < ih as isize)
                .flat_map(move |y| {
                    (w0..w1)
                        .map(move |j| w.start(ow) + (j * w.d) as isize)
                        .filter(move |&x| x >= 0 && x < iw as isize)
                        .map(move |x| {
                            let (y, x) = (y as usize, x as usize);
                            // SAFETY: (y, x) is an in-input pixel and c < C: inside the
                            // validated input buffer.
                            let v = unsafe {
                                *job.src
                                    .add(n * job.in_batch + y * job.in_row + x * job.in_pixel + c)
                            };
                            Tap {
                                x: v,
                                index: (((n * ih + y) * iw + x) * job.c + c) as u64,
                            }
                        })
                });
            let y = reference::value(job.op, &h, &w, taps, job.seed, [n, oh, ow, c]);
            let y = reference::clamp(y, job.lo, job.hi);
            // SAFETY: output (n, oh, ow, c) lies inside the validated output buffer.
            unsafe {
                *job.dst
                    .add(n * job.out_batch + oh * job.out_row + ow * job.out_pixel + c) = y;
            }
        }
    }
}

/// Whether outputs scaled by `scale` need [`any_huge`] after `SimdF32::bad_special`: a finite
/// f32 sum times at most 0.5 stays below `2^127`. The one rule of the window and separable
/// average kernels.
pub(crate) fn needs_huge_pass(scale: f32) -> bool {
    scale > 0.5
}

/// Whether an output of rows `oh`, columns `ow`, channels `c` is at least `2^127` in
/// magnitude: the bound `SimdF32::bad_special` leaves out, for the rare outputs
/// scaled by more than 0.5 (a divisor override of 1, a one-tap clipped window) where a sum
/// rounding past `f32::MAX` can stay finite. One scalar read of outputs still in cache.
///
/// # Safety
/// The outputs must lie inside the job's output.
pub(crate) unsafe fn any_huge(
    job: &Job,
    n: usize,
    oh: core::ops::Range<usize>,
    ow: core::ops::Range<usize>,
    (c0, c1): (usize, usize),
) -> bool {
    for o in oh {
        for w in ow.clone() {
            // SAFETY: an output pixel's channels c0..c1 (caller).
            let px = unsafe {
                core::slice::from_raw_parts(
                    job.dst
                        .add(n * job.out_batch + o * job.out_row + w * job.out_pixel + c0),
                    c1 - c0,
                )
            };
            // NaN is flagged by bad_special already.
            if px.iter().any(|y| y.abs() >= crate::simd::HUGE) {
                return true;
            }
        }
    }
    false
}
