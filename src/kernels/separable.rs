//! Stride-1 windows at a cost that does not grow with the window: separable passes (along W,
//! then along H), each with the van Herk / Gil-Werman block algorithm once the window is large
//! enough, and plain sliding windows below that.
//!
//! Van Herk / Gil-Werman along one axis, window `k`: cut the (padded) sequence into blocks of
//! `k`; a window starting at `i` covers the tail of one block and the head of the next, so its
//! result is `op(suffix[i], prefix[i + k - 1])` with per-block suffix and prefix reductions:
//! about three `op`s per element for any `k`. For sums the same structure gives block prefix
//! and suffix sums recomputed per block: no subtractive running sum (an infinity leaving the
//! window would turn into NaN, and cancellation would break SPEC's bound); every partial sum
//! has at most `k` terms, so an output's error stays within `(KH + KW + 1) eps sum|x|`.
//!
//! Data flow per tile (one image, a range of output rows, 64 channels): pass 1 reduces each
//! input row the tile needs along W into a scratch slab (`rows x OW x 64` floats); pass 2 runs
//! down each scratch column along H and writes the output; a last pass applies the divisor of
//! the average (per output, from the clipped window: exclude-pad counts are never derived from
//! sums of padding), the clamp and the result checks. Padding enters as the operation's
//! identity (`-inf` for max, `0` for sums). Max: NaN does not survive `vmaxps`, so inputs are
//! checked while they are loaded and a tile that met one is recomputed exactly.

use super::{Job, Tile};
use crate::plan::OpSpec;
use crate::simd::SimdF32;

/// Windows at least this long use van Herk / Gil-Werman; shorter ones slide directly
/// (`k - 1` operations per output). Measured: see README "Stride-1 windows".
pub(crate) const VHGW_MIN: usize = 5;

/// Channels per tile of the separable kernels (a whole number of vectors on every tier).
pub(crate) const CHANNELS: usize = 64;

/// The reduction of a separable kernel.
pub(crate) trait Sep<V: SimdF32> {
    /// The identity (padding).
    const IDENTITY: f32;
    /// Whether inputs are checked for NaN (max).
    const CHECK_NAN: bool;
    /// `op(a, b)`.
    fn op(v: V, a: V::V, b: V::V) -> V::V;
    /// Whether a finishing pass is needed besides the clamp (average: the divisor).
    const SCALE: bool;
}

/// Max.
pub(crate) struct SepMax;
/// Sum (average).
pub(crate) struct SepSum;

impl<V: SimdF32> Sep<V> for SepMax {
    const IDENTITY: f32 = f32::NEG_INFINITY;
    const CHECK_NAN: bool = true;
    #[inline(always)]
    fn op(v: V, a: V::V, b: V::V) -> V::V {
        v.max(a, b)
    }
    const SCALE: bool = false;
}

impl<V: SimdF32> Sep<V> for SepSum {
    const IDENTITY: f32 = 0.0;
    const CHECK_NAN: bool = false;
    #[inline(always)]
    fn op(v: V, a: V::V, b: V::V) -> V::V {
        v.add(a, b)
    }
    const SCALE: bool = true;
}

/// Scratch floats a tile of `rows` output rows needs.
pub(crate) fn scratch_len(kh: usize, kw: usize, ow: usize, rows: usize) -> usize {
    (rows + kh - 1) * ow * CHANNELS + (ow + kw - 1) * CHANNELS
}

/// Output rows per tile: enough that recomputing the `KH - 1` shared rows costs under 25 %,
/// and a scratch slab of about 512 KiB (L2).
pub(crate) fn rows_per_tile(kh: usize, ow: usize, oh: usize) -> usize {
    let slab = (131_072 / (ow.max(1) * CHANNELS)).max(1);
    slab.max(4 * (kh - 1) + 1).min(oh.max(1))
}

/// The window reduction along one axis for one channel vector: `n_out` outputs, each over `k`
/// consecutive entries of `x` (`n_out + k - 1` entries, stride `xs` floats), written to `y`
/// (stride `ys`, masked when `MASKED`). Van Herk / Gil-Werman overwrites `x` with per-block
/// suffix reductions.
///
/// # Safety
/// `x` and `y` must address that many vectors (scratch or output, checked by the caller).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn axis<V: SimdF32, R: Sep<V>, const MASKED: bool>(
    v: V,
    x: *mut f32,
    xs: usize,
    k: usize,
    n_out: usize,
    y: *mut f32,
    ys: usize,
    tail: V::Tail,
) {
    let len = n_out + k - 1;
    // SAFETY (whole body): every index below is < len for x and < n_out for y.
    unsafe {
        if k < VHGW_MIN {
            for i in 0..n_out {
                let mut acc = v.load(x.add(i * xs));
                for j in 1..k {
                    acc = R::op(v, acc, v.load(x.add((i + j) * xs)));
                }
                put::<V, MASKED>(v, y.add(i * ys), acc, tail);
            }
            return;
        }
        let mut s = 0;
        while s < n_out {
            // Suffix reductions of block [s, e) in place.
            let e = (s + k).min(len);
            let mut acc = v.load(x.add((e - 1) * xs));
            for i in (s..e - 1).rev() {
                acc = R::op(v, v.load(x.add(i * xs)), acc);
                v.store(x.add(i * xs), acc);
            }
            // Outputs s..s+k: suffix of this block, running prefix of the next (untouched yet).
            put::<V, MASKED>(v, y.add(s * ys), acc, tail);
            let mut pre = acc;
            for t in 1..k.min(n_out - s) {
                let next = v.load(x.add((s + k + t - 1) * xs));
                pre = if t == 1 { next } else { R::op(v, pre, next) };
                let out = R::op(v, v.load(x.add((s + t) * xs)), pre);
                put::<V, MASKED>(v, y.add((s + t) * ys), out, tail);
            }
            s += k;
        }
    }
}

/// A full or masked store (a function, not a closure, so it inlines into the tier's features).
///
/// # Safety
/// The vector (or the tail's lanes) at `p` must be writable.
#[inline(always)]
unsafe fn put<V: SimdF32, const MASKED: bool>(v: V, p: *mut f32, val: V::V, tail: V::Tail) {
    // SAFETY: forwarded contract.
    unsafe {
        if MASKED {
            v.store_tail(p, val, tail)
        } else {
            v.store(p, val)
        }
    }
}

/// Runs the separable kernel over the tile (stride 1, dilation 1 on both axes).
///
/// # Safety
/// As [`super::generic::run`]; `tile.scratch` must hold [`scratch_len`] floats for the tile's
/// rows, and the tile's channels must span at most [`CHANNELS`].
#[inline(always)]
pub(crate) unsafe fn run<V: SimdF32, R: Sep<V>>(v: V, job: &Job, tile: &Tile) {
    let l = V::LANES;
    let (c0, c1) = tile.c;
    let nv = (c1 - c0).div_ceil(l);
    let (kh, kw) = (job.h.k, job.w.k);
    let (ow_n, oh0, oh1) = (job.w.out, tile.oh.0, tile.oh.1);
    let nr = oh1 - oh0 + kh - 1;
    let slab_row = ow_n * nv * l; // floats per scratch row
    let slab = tile.scratch;
    // SAFETY: the E buffer follows the slab inside the scratch (scratch_len).
    let e_buf = unsafe { slab.add(nr * slab_row) };
    let ident = v.splat(R::IDENTITY);
    let (lo, hi) = (v.splat(job.lo), v.splat(job.hi));
    let clamp = job.lo != f32::NEG_INFINITY || job.hi != f32::INFINITY;
    for n in tile.n.0..tile.n.1 {
        let mut bad = v.bad_init();
        // Pass 1: each needed input row along W into the slab.
        for r in 0..nr {
            let ih = (oh0 + r) as isize - job.h.pad_begin as isize;
            for cv in 0..nv {
                let c = c0 + cv * l;
                let masked = c + l > c1;
                let t = v.tail(if masked { c1 - c } else { 1 });
                // SAFETY: scratch indices inside scratch_len; input reads at in-input pixels
                // and channels below c1 (masked tail).
                unsafe {
                    let dst = slab.add(r * slab_row + cv * l);
                    if ih < 0 || ih >= job.h.input as isize {
                        for o in 0..ow_n {
                            v.store(dst.add(o * nv * l), ident);
                        }
                        continue;
                    }
                    let row = job.src.add(n * job.in_batch + ih as usize * job.in_row + c);
                    let len = ow_n + kw - 1;
                    let mut prev = ident;
                    for j in 0..len {
                        let iw = j as isize - job.w.pad_begin as isize;
                        let x = if iw < 0 || iw >= job.w.input as isize {
                            ident
                        } else {
                            let p = row.add(iw as usize * job.in_pixel);
                            if masked { v.load_tail(p, t) } else { v.load(p) }
                        };
                        if R::CHECK_NAN {
                            if j % 2 == 1 {
                                bad = v.bad_check(bad, prev, x);
                            } else if j + 1 == len {
                                bad = v.bad_check(bad, x, x);
                            }
                            prev = x;
                        }
                        v.store(e_buf.add(j * l), x);
                    }
                    axis::<V, R, false>(v, e_buf, l, kw, ow_n, dst, nv * l, t);
                }
            }
        }
        // Pass 2: down each slab column along H into the output.
        for o in 0..ow_n {
            for cv in 0..nv {
                let c = c0 + cv * l;
                let masked = c + l > c1;
                let t = v.tail(if masked { c1 - c } else { 1 });
                // SAFETY: slab column inside scratch; output rows oh0..oh1 of pixel o.
                unsafe {
                    let col = slab.add(o * nv * l + cv * l);
                    let out = job
                        .dst
                        .add(n * job.out_batch + oh0 * job.out_row + o * job.out_pixel + c);
                    if masked {
                        axis::<V, R, true>(v, col, slab_row, kh, oh1 - oh0, out, job.out_row, t);
                    } else {
                        axis::<V, R, false>(v, col, slab_row, kh, oh1 - oh0, out, job.out_row, t);
                    }
                }
            }
        }
        // Pass 3: divisor, clamp, checks.
        if R::SCALE || clamp {
            for oh in oh0..oh1 {
                let th = job.h.taps(oh);
                for o in 0..ow_n {
                    let scale = if R::SCALE {
                        let tw = job.w.taps(o);
                        v.splat(<super::avg::AvgReduce as super::generic::Reduce<V>>::scale(
                            job, oh, o, th, tw,
                        ))
                    } else {
                        v.splat(1.0)
                    };
                    for cv in 0..nv {
                        let c = c0 + cv * l;
                        let masked = c + l > c1;
                        let t = v.tail(if masked { c1 - c } else { 1 });
                        // SAFETY: output (n, oh, o, c..) inside the tile.
                        unsafe {
                            let p = job
                                .dst
                                .add(n * job.out_batch + oh * job.out_row + o * job.out_pixel + c);
                            let mut y = if masked { v.load_tail(p, t) } else { v.load(p) };
                            if R::SCALE {
                                y = v.mul(y, scale);
                                bad = if masked {
                                    v.bad_keep(bad, v.bad_result(v.bad_init(), y), t)
                                } else {
                                    v.bad_result(bad, y)
                                };
                            }
                            y = v.clamp(y, lo, hi);
                            if masked {
                                v.store_tail(p, y, t)
                            } else {
                                v.store(p, y)
                            }
                        }
                    }
                }
            }
        }
        if v.bad_any(bad) {
            for oh in oh0..oh1 {
                // SAFETY: rows of the tile.
                unsafe { super::exact::row(job, n, oh, 0, ow_n, (c0, c1)) };
            }
        }
    }
}

/// Max, stride 1: `max_f32_s1_{vhgw,sep}`.
///
/// # Safety
/// See [`run`].
#[inline(always)]
pub(crate) unsafe fn max<V: SimdF32>(v: V, job: &Job, tile: &Tile) {
    // SAFETY: forwarded contract.
    unsafe { run::<V, SepMax>(v, job, tile) }
}

/// Average, stride 1: `avg_f32_s1_{blocksum,sep}`.
///
/// # Safety
/// See [`run`].
#[inline(always)]
pub(crate) unsafe fn avg<V: SimdF32>(v: V, job: &Job, tile: &Tile) {
    debug_assert!(matches!(job.op, OpSpec::Avg(_)));
    // SAFETY: forwarded contract.
    unsafe { run::<V, SepSum>(v, job, tile) }
}
