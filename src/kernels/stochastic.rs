//! Stochastic pooling (Zeiler & Fergus): weights `a = max(x, 0)` over the in-input taps.
//!
//! Inference: `sum a^2 / sum a`, both sums in f64 lanes (an f32 pair of sums could miss
//! SPEC's `(K + 2) eps` bound by up to a factor 2), one division, one rounding.
//!
//! Training, bit for bit as SPEC.md and [`crate::philox`] define it: a first pass takes
//! `S = sum a` in f32 in window order (each lane is one channel, so the order per lane is the
//! reference's), the lanes' Philox4x32-10 uniforms come from [`SimdF32::uniform`], and a second
//! pass re-runs the same f32 prefix sums and takes the first tap whose prefix exceeds `u * S`.
//! Rare lanes (a NaN in the window, `S = +inf`, or no prefix above the threshold after
//! rounding) are recomputed by the reference's code ([`super::exact::row`]).

use super::generic::{self, Reduce};
use super::{Job, Tile};
use crate::simd::SimdF32;

/// Probability-weighted average.
pub(crate) struct Infer;

impl<V: SimdF32> Reduce<V> for Infer {
    /// (sum a low half, sum a high half, sum a^2 low, sum a^2 high).
    type Acc = (V::D, V::D, V::D, V::D);
    type Pre = ();
    #[inline(always)]
    fn prepare(_: V, _: &Job, _: V::V) {}
    #[inline(always)]
    fn init(v: V, _: ()) -> Self::Acc {
        let z = v.d_splat(0.0);
        (z, z, z, z)
    }
    #[inline(always)]
    fn step(v: V, (s0, s1, q0, q1): Self::Acc, x: V::V, _: ()) -> Self::Acc {
        let (a0, a1) = v.widen(v.relu(x));
        (
            v.d_add(s0, a0),
            v.d_add(s1, a1),
            v.d_fma(a0, a0, q0),
            v.d_fma(a1, a1, q1),
        )
    }
    #[inline(always)]
    fn merge(v: V, a: Self::Acc, b: Self::Acc) -> Self::Acc {
        (
            v.d_add(a.0, b.0),
            v.d_add(a.1, b.1),
            v.d_add(a.2, b.2),
            v.d_add(a.3, b.3),
        )
    }
    #[inline(always)]
    fn finish(v: V, (s0, s1, q0, q1): Self::Acc, _: V::V, _: ()) -> V::V {
        let y = v.d_ratio((q0, q1), (s0, s1));
        let one = v.d_splat(1.0);
        let s = v.d_ratio((s0, s1), (one, one));
        // S = 0: the output is 0 (0/0 otherwise).
        v.blend(v.eq(s, v.splat(0.0)), v.splat(0.0), y)
    }
    const CHECK_RESULT: bool = true;
}

/// Inference, any window: `stochinfer_f32_kany`.
///
/// # Safety
/// See [`generic::run`].
#[inline(always)]
pub(crate) unsafe fn infer_generic<V: SimdF32>(v: V, job: &Job, tile: &Tile) {
    // SAFETY: forwarded contract.
    unsafe { generic::run::<V, Infer>(v, job, tile) }
}

/// Inference, one window with a fixed interior: `stochinfer_f32_k{KH}x{KW}s{S}`.
///
/// # Safety
/// See [`super::window::direct`].
#[inline(always)]
pub(crate) unsafe fn infer_window<
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
    unsafe { super::window::direct::<V, Infer, KH, KW, SH, SW>(v, job, tile) }
}

/// Training, any window: `stochtrain_f32_kany`.
///
/// # Safety
/// See [`generic::run`].
#[inline(always)]
pub(crate) unsafe fn train_generic<V: SimdF32>(v: V, job: &Job, tile: &Tile) {
    for n in tile.n.0..tile.n.1 {
        for oh in tile.oh.0..tile.oh.1 {
            for ow in 0..job.w.out {
                // SAFETY: forwarded contract; the pixel lies inside the tile.
                unsafe { train_pixel(v, job, n, oh, ow, job.h.taps(oh), job.w.taps(ow), tile.c) };
            }
        }
    }
}

/// Training, one window: interior pixels get constant tap counts (`KH x KW`, fully unrolled);
/// the rest take the any-window path. `stochtrain_f32_k{KH}x{KW}s{S}`.
///
/// # Safety
/// See [`generic::run`]; the job's window must be `KH x KW`, stride `SH x SW`, dilation 1.
#[inline(always)]
pub(crate) unsafe fn train_window<
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
    let (oh_lo, oh_hi) = job.h.interior();
    let (ow_lo, ow_hi) = job.w.interior();
    for n in tile.n.0..tile.n.1 {
        for oh in tile.oh.0..tile.oh.1 {
            for ow in 0..job.w.out {
                let inside = oh >= oh_lo && oh < oh_hi && ow >= ow_lo && ow < ow_hi;
                // SAFETY: forwarded contract; interior windows are whole (Axis::interior).
                unsafe {
                    if inside && KH * KW <= MAX_HELD {
                        train_pixel_held::<V, KH, KW>(v, job, n, oh, ow, tile.c)
                    } else if inside {
                        train_pixel(v, job, n, oh, ow, (0, KH), (0, KW), tile.c)
                    } else {
                        train_pixel(v, job, n, oh, ow, job.h.taps(oh), job.w.taps(ow), tile.c)
                    }
                }
            }
        }
    }
}

/// Taps a fixed window keeps in registers (values and running sums).
const MAX_HELD: usize = 9;

/// One interior pixel of a fixed `KH x KW` window (at most [`MAX_HELD`] taps): one pass keeps
/// every tap and its running f32 prefix sum in registers; the prefix sums never decrease, so
/// the first tap whose prefix exceeds `t = u * S` is found with one compare and one blend per
/// tap, walking back from the last.
///
/// # Safety
/// As [`train_pixel`], with the whole window inside the input.
#[inline(always)]
unsafe fn train_pixel_held<V: SimdF32, const KH: usize, const KW: usize>(
    v: V,
    job: &Job,
    n: usize,
    oh: usize,
    ow: usize,
    (c0, c1): (usize, usize),
) {
    let l = V::LANES;
    let ih0 = oh * job.h.s - job.h.pad_begin;
    let iw0 = ow * job.w.s - job.w.pad_begin;
    // SAFETY: the window's first tap and the output pixel lie inside the validated buffers.
    let (base, out) = unsafe {
        (
            job.src
                .add(n * job.in_batch + ih0 * job.in_row + iw0 * job.in_pixel),
            job.dst
                .add(n * job.out_batch + oh * job.out_row + ow * job.out_pixel),
        )
    };
    let (lo, hi) = (v.splat(job.lo), v.splat(job.hi));
    let zero = v.splat(0.0);
    let mut bad = v.bad_init();
    let mut c = c0;
    while c < c1 {
        let masked = c + l > c1;
        let tail = v.tail(if masked { c1 - c } else { 1 });
        let mut x = [zero; MAX_HELD];
        let mut pre = [zero; MAX_HELD];
        let mut s = zero;
        for i in 0..KH * KW {
            let (r, q) = (i / KW, i % KW);
            // SAFETY: tap (r, q) of an interior window; the tail mask bounds the last vector.
            x[i] = unsafe {
                load(
                    v,
                    base.add(r * job.in_row + q * job.in_pixel + c),
                    masked,
                    tail,
                )
            };
            s = v.add(s, v.relu(x[i]));
            pre[i] = s;
        }
        let u = v.uniform(job.seed, n as u32, oh as u32, ow as u32, c as u32);
        let t = v.mul(u, s);
        let mut sel = x[KH * KW - 1];
        for i in (0..KH * KW - 1).rev() {
            sel = v.blend(v.lt(t, pre[i]), x[i], sel);
        }
        let y = v.blend(v.eq(s, zero), zero, sel);
        // Exact path: S not finite (a NaN tap, or +inf), or no prefix above t (rounding).
        bad = v.bad_unless(bad, v.lt(s, v.splat(f32::INFINITY)));
        bad = v.bad_if(bad, v.m_andnot(v.lt(t, s), v.lt(zero, s)));
        let y = v.clamp(y, lo, hi);
        // SAFETY: channels c.. of the output pixel (masked for the tail).
        unsafe {
            if masked {
                v.store_tail(out.add(c), y, tail)
            } else {
                v.store(out.add(c), y)
            }
        }
        c += l;
    }
    if v.bad_any(bad) {
        // SAFETY: the same pixel and channels.
        unsafe { super::exact::row(job, n, oh, ow, ow + 1, (c0, c1)) };
    }
}

/// One output pixel of stochastic training, channels `c0..c1`, taps `th x tw` (clipped).
///
/// # Safety
/// As [`generic::row`] for this pixel.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn train_pixel<V: SimdF32>(
    v: V,
    job: &Job,
    n: usize,
    oh: usize,
    ow: usize,
    th: (usize, usize),
    tw: (usize, usize),
    (c0, c1): (usize, usize),
) {
    let l = V::LANES;
    let ih0 = (job.h.start(oh) + (th.0 * job.h.d) as isize) as usize;
    let iw0 = (job.w.start(ow) + (tw.0 * job.w.d) as isize) as usize;
    let (nh, nw) = (th.1 - th.0, tw.1 - tw.0);
    // Wrapping: with a single tap along an axis the step is never used and may not fit (an
    // unused stride of a size-1 axis can be anything); with two or more taps it addresses the
    // buffer and fits.
    let (sh, sw) = (
        job.h.d.wrapping_mul(job.in_row),
        job.w.d.wrapping_mul(job.in_pixel),
    );
    // SAFETY: the first in-input tap and the output pixel lie inside the validated buffers.
    let (base, out) = unsafe {
        (
            job.src
                .add(n * job.in_batch + ih0 * job.in_row + iw0 * job.in_pixel),
            job.dst
                .add(n * job.out_batch + oh * job.out_row + ow * job.out_pixel),
        )
    };
    let (lo, hi) = (v.splat(job.lo), v.splat(job.hi));
    let mut bad = v.bad_init();
    let mut c = c0;
    while c < c1 {
        let masked = c + l > c1;
        let tail = v.tail(if masked { c1 - c } else { 1 });
        // Pass 1: S (NaN if a tap is NaN).
        let mut s = v.splat(0.0);
        for i in 0..nh {
            for j in 0..nw {
                // SAFETY: tap (i, j) is an in-input pixel; the tail mask bounds the last vector.
                let x = unsafe { load(v, base.add(i * sh + j * sw + c), masked, tail) };
                s = v.add(s, v.relu(x));
            }
        }
        let u = v.uniform(job.seed, n as u32, oh as u32, ow as u32, c as u32);
        let t = v.mul(u, s);
        // Pass 2: the first tap whose running prefix exceeds t.
        let mut prefix = v.splat(0.0);
        let mut found = v.m_none();
        let mut sel = v.splat(0.0);
        for i in 0..nh {
            for j in 0..nw {
                // SAFETY: as in pass 1.
                let x = unsafe { load(v, base.add(i * sh + j * sw + c), masked, tail) };
                prefix = v.add(prefix, v.relu(x));
                let hit = v.m_andnot(found, v.lt(t, prefix));
                sel = v.blend(hit, x, sel);
                found = v.m_or(found, hit);
            }
        }
        let zero = v.splat(0.0);
        let y = v.blend(v.eq(s, zero), zero, sel);
        // Exact path: S not finite (a NaN tap, or S = +inf), or no prefix above the threshold
        // although S > 0 (rounding). Lanes past the tail have S = 0 and are never marked.
        bad = v.bad_unless(bad, v.lt(s, v.splat(f32::INFINITY)));
        bad = v.bad_if(bad, v.m_andnot(found, v.lt(zero, s)));
        let y = v.clamp(y, lo, hi);
        // SAFETY: channels c.. of the output pixel (masked for the tail).
        unsafe {
            if masked {
                v.store_tail(out.add(c), y, tail)
            } else {
                v.store(out.add(c), y)
            }
        }
        c += l;
    }
    if v.bad_any(bad) {
        // SAFETY: the same pixel and channels.
        unsafe { super::exact::row(job, n, oh, ow, ow + 1, (c0, c1)) };
    }
}

/// A full or masked load (a function, not a closure, so it inlines into the tier's features).
///
/// # Safety
/// `LANES` floats at `p`, or the tail's, must be readable.
#[inline(always)]
unsafe fn load<V: SimdF32>(v: V, p: *const f32, masked: bool, tail: V::Tail) -> V::V {
    // SAFETY: forwarded contract.
    unsafe {
        if masked {
            v.load_tail(p, tail)
        } else {
            v.load(p)
        }
    }
}
