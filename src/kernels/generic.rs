//! The any-window driver shared by the reduction kernels: every window, stride, dilation,
//! padding and ceil mode. For each output pixel it keeps `U` vectors of accumulators in
//! registers over a block of channels and runs all of the window's in-input taps into them,
//! then stores each output vector once. Padding taps are skipped by clipping the tap ranges per
//! output row and column, so no branch sits inside the tap loops.

use super::{Job, Tile};
use crate::simd::SimdF32;

/// A reduction over a window's taps.
pub(crate) trait Reduce<V: SimdF32> {
    /// The running state.
    type Acc: Copy;
    /// Per-output-vector parameters, made by [`Reduce::prepare`].
    type Pre: Copy;
    /// Two-pass reductions first take `m = max |x|` over the window (NaN-propagating) and
    /// hand it to `prepare`; one-pass ones get an unspecified `m`.
    const TWO_PASS: bool = false;
    /// The parameters of one output vector (from the job and, for two passes, `m`).
    fn prepare(v: V, job: &Job, m: V::V) -> Self::Pre;
    /// The empty state.
    fn init(v: V, pre: Self::Pre) -> Self::Acc;
    /// Folds one tap in.
    fn step(v: V, acc: Self::Acc, x: V::V, pre: Self::Pre) -> Self::Acc;
    /// Combines two partial states (global pooling sums rows separately).
    fn merge(v: V, a: Self::Acc, b: Self::Acc) -> Self::Acc;
    /// The result, given the output's `scale` (from [`Reduce::scale`]).
    fn finish(v: V, acc: Self::Acc, scale: V::V, pre: Self::Pre) -> V::V;
    /// A per-output factor (1 / divisor for the average), from the output position and its
    /// clipped tap ranges.
    fn scale(_job: &Job, _oh: usize, _ow: usize, _th: (usize, usize), _tw: (usize, usize)) -> f32 {
        1.0
    }
    /// Whether results are checked ([`Reduce::check`]) and flagged outputs recomputed with
    /// the reference's arithmetic ([`super::exact::row`]).
    const CHECK_RESULT: bool = false;
    /// Marks the lanes of result `y` the vector arithmetic may have got wrong (default: NaN,
    /// infinite or subnormal, for f32 sums that overflow or a reciprocal that misses a
    /// subnormal tie). Inlined, as every SIMD helper: an outlined copy would be compiled
    /// without the tier's target features (a call per intrinsic).
    #[inline(always)]
    fn check(v: V, bad: V::Bad, y: V::V) -> V::Bad {
        v.bad_result(bad, y)
    }
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

/// The window's taps at channel offset `c`: `nh x nw` in-input pixels from `base`.
#[derive(Clone, Copy)]
struct Taps {
    base: *const f32,
    nh: usize,
    nw: usize,
    step_h: usize,
    step_w: usize,
}

/// Folds every tap of `U2` vectors (or one masked tail vector) at channel `c`.
///
/// # Safety
/// The taps at `c .. c + U2*LANES` (or the tail) must be readable.
#[inline(always)]
unsafe fn fold<V: SimdF32, R: Reduce<V>, const U2: usize, const MASKED: bool>(
    v: V,
    t: Taps,
    c: usize,
    tail: V::Tail,
    pre: [R::Pre; U2],
) -> [R::Acc; U2] {
    let l = V::LANES;
    let mut acc = [R::init(v, pre[0]); U2];
    for (u, a) in acc.iter_mut().enumerate() {
        *a = R::init(v, pre[u]);
    }
    for i in 0..t.nh {
        for j in 0..t.nw {
            // SAFETY: tap (i, j) is an in-input pixel (clipped ranges); channels in range.
            let p = unsafe { t.base.add(i * t.step_h + j * t.step_w + c) };
            for u in 0..U2 {
                // SAFETY: as above.
                let x = unsafe { load::<V, MASKED>(v, p.add(u * l), tail) };
                acc[u] = R::step(v, acc[u], x, pre[u]);
            }
        }
    }
    acc
}

/// A full or masked load (a function, not a closure, so that it inlines into the tier's
/// features). Masked loads ignore the offset's vector index: only vector 0 is ever masked.
///
/// # Safety
/// `LANES` floats (or the tail's) at `p` must be readable.
#[inline(always)]
unsafe fn load<V: SimdF32, const MASKED: bool>(v: V, p: *const f32, tail: V::Tail) -> V::V {
    // SAFETY: forwarded contract.
    unsafe {
        if MASKED {
            v.load_tail(p, tail)
        } else {
            v.load(p)
        }
    }
}

/// `max |x|` over every tap, NaN-propagating (the first pass of two-pass reductions).
///
/// # Safety
/// As [`fold`].
#[inline(always)]
unsafe fn max_abs<V: SimdF32, const U2: usize, const MASKED: bool>(
    v: V,
    t: Taps,
    c: usize,
    tail: V::Tail,
) -> [V::V; U2] {
    let l = V::LANES;
    let mut m = [v.max_init(); U2];
    for i in 0..t.nh {
        for j in 0..t.nw {
            // SAFETY: as in fold.
            let p = unsafe { t.base.add(i * t.step_h + j * t.step_w + c) };
            for (u, a) in m.iter_mut().enumerate() {
                // SAFETY: as in fold.
                let x = unsafe {
                    if MASKED {
                        v.load_tail(p, tail)
                    } else {
                        v.load(p.add(u * l))
                    }
                };
                *a = v.max_step(*a, v.abs(x));
            }
        }
    }
    let mut out = [v.splat(0.0); U2];
    for (o, a) in out.iter_mut().zip(m) {
        *o = v.max_finish(a);
    }
    out
}

/// One block of `U2` output vectors (or one masked tail vector) at channel `c`: folds,
/// finishes, checks, clamps and stores. Returns the updated bad-lane state.
///
/// # Safety
/// As [`fold`], and the outputs at `out + c ..` must be writable.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn block<V: SimdF32, R: Reduce<V>, const U2: usize, const MASKED: bool>(
    v: V,
    job: &Job,
    t: Taps,
    out: *mut f32,
    c: usize,
    tail: V::Tail,
    scale: V::V,
    (lo, hi): (V::V, V::V),
    bad: V::Bad,
) -> V::Bad {
    // SAFETY: forwarded contract.
    let m = if R::TWO_PASS {
        unsafe { max_abs::<V, U2, MASKED>(v, t, c, tail) }
    } else {
        [v.splat(0.0); U2]
    };
    let mut pre = [R::prepare(v, job, m[0]); U2];
    for (p, m) in pre.iter_mut().zip(m) {
        *p = R::prepare(v, job, m);
    }
    // SAFETY: forwarded contract.
    let acc = unsafe { fold::<V, R, U2, MASKED>(v, t, c, tail, pre) };
    // SAFETY: forwarded contract.
    unsafe { finish_store::<V, R, U2, MASKED>(v, acc, pre, scale, (lo, hi), out, c, tail, bad) }
}

/// Finishes `U2` accumulators (or one masked tail), checks the results, clamps them and
/// stores them at `out + c`; returns the updated bad-lane state. Shared by the window and
/// global drivers.
///
/// # Safety
/// The outputs at `out + c ..` (or the tail's) must be writable.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) unsafe fn finish_store<V: SimdF32, R: Reduce<V>, const U2: usize, const MASKED: bool>(
    v: V,
    acc: [R::Acc; U2],
    pre: [R::Pre; U2],
    scale: V::V,
    (lo, hi): (V::V, V::V),
    out: *mut f32,
    c: usize,
    tail: V::Tail,
    mut bad: V::Bad,
) -> V::Bad {
    let l = V::LANES;
    for u in 0..U2 {
        let y = R::finish(v, acc[u], scale, pre[u]);
        if R::CHECK_RESULT {
            bad = if MASKED {
                // Lanes past the tail hold results of zeros: not ours to flag.
                v.bad_keep(bad, R::check(v, v.bad_init(), y), tail)
            } else {
                R::check(v, bad, y)
            };
        }
        let y = v.clamp(y, lo, hi);
        // SAFETY: channel c + u*l (or the tail) inside the output pixel (caller).
        unsafe {
            let p = out.add(c + u * l);
            if MASKED {
                v.store_tail(p, y, tail)
            } else {
                v.store(p, y)
            }
        }
    }
    bad
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
    c: (usize, usize),
) {
    // SAFETY: forwarded contract.
    unsafe { row_impl::<V, R, false, 0, 0>(v, job, n, oh, ow0, ow1, c) }
}

/// [`row`] for outputs whose windows lie wholly inside the input: the tap counts are the
/// constants `KH x KW`, so the tap loops unroll.
///
/// # Safety
/// As [`row`], and every window of `ow0..ow1` in row `oh` must be inside the input with
/// dilation 1.
#[inline(always)]
pub(crate) unsafe fn row_fixed<V: SimdF32, R: Reduce<V>, const KH: usize, const KW: usize>(
    v: V,
    job: &Job,
    n: usize,
    oh: usize,
    ow0: usize,
    ow1: usize,
    c: (usize, usize),
) {
    // SAFETY: forwarded contract.
    unsafe { row_impl::<V, R, true, KH, KW>(v, job, n, oh, ow0, ow1, c) }
}

#[inline(always)]
unsafe fn row_impl<
    V: SimdF32,
    R: Reduce<V>,
    const FIXED: bool,
    const KH: usize,
    const KW: usize,
>(
    v: V,
    job: &Job,
    n: usize,
    oh: usize,
    ow0: usize,
    ow1: usize,
    (c0, c1): (usize, usize),
) {
    let l = V::LANES;
    let clamp = (v.splat(job.lo), v.splat(job.hi));
    let th = if FIXED { (0, KH) } else { job.h.taps(oh) };
    // First in-input row of the window (non-negative: taps() clips the padding).
    let ih0 = (job.h.start(oh) + (th.0 * job.h.d) as isize) as usize;
    for ow in ow0..ow1 {
        let tw = if FIXED { (0, KW) } else { job.w.taps(ow) };
        let iw0 = (job.w.start(ow) + (tw.0 * job.w.d) as isize) as usize;
        let scale = v.splat(R::scale(job, oh, ow, th, tw));
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
        let t = Taps {
            base,
            nh: if FIXED { KH } else { th.1 - th.0 },
            nw: if FIXED { KW } else { tw.1 - tw.0 },
            // Wrapping: with a single tap along an axis the step is never used and may not
            // fit (an unused stride of a size-1 axis can be anything); with two or more taps
            // it addresses the buffer and fits.
            step_h: job.h.d.wrapping_mul(job.in_row),
            step_w: job.w.d.wrapping_mul(job.in_pixel),
        };
        let mut bad = v.bad_init();
        let mut c = c0;
        let full = v.tail(1); // ignored by unmasked blocks
        // SAFETY (the three blocks): tap ranges clipped to the input; channel ranges within
        // c0..c1 <= C.
        unsafe {
            while c + U * l <= c1 {
                bad = block::<V, R, U, false>(v, job, t, out, c, full, scale, clamp, bad);
                c += U * l;
            }
            while c + l <= c1 {
                bad = block::<V, R, 1, false>(v, job, t, out, c, full, scale, clamp, bad);
                c += l;
            }
            if c < c1 {
                let tail = v.tail(c1 - c);
                bad = block::<V, R, 1, true>(v, job, t, out, c, tail, scale, clamp, bad);
            }
        }
        if R::CHECK_RESULT && v.bad_any(bad) {
            // SAFETY: the same pixel and channels.
            unsafe { super::exact::row(job, n, oh, ow, ow + 1, (c0, c1)) };
        }
    }
}
