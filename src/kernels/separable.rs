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

/// The largest scratch slot (f32 count, 16 MiB) a separable plan may hold; beyond it (very
/// wide rows, huge windows) the plan takes the generic kernel instead.
pub(crate) const MAX_SCRATCH: usize = 4 << 20;

/// Floats per pixel in the scratch for `c` channels: a tile's channels, rounded up to 16 (a
/// whole number of vectors on every tier).
fn width(c: usize) -> usize {
    c.clamp(1, CHANNELS).next_multiple_of(16)
}

/// Scratch floats a tile of `rows` output rows needs (the slab of W-reduced rows, the padded
/// input row and the running prefix row), or `None` if that overflows or exceeds
/// [`MAX_SCRATCH`].
pub(crate) fn scratch_len(kh: usize, kw: usize, ow: usize, rows: usize, c: usize) -> Option<usize> {
    let w = width(c);
    let slab = rows.checked_add(kh - 1)?.checked_mul(ow)?.checked_mul(w)?;
    let padded = ow.checked_add(kw - 1)?.checked_mul(w)?;
    let total = slab.checked_add(padded)?.checked_add(ow.checked_mul(w)?)?;
    (total <= MAX_SCRATCH).then_some(total)
}

/// Output rows per tile: enough that recomputing the `KH - 1` shared rows costs under 25 %,
/// and a scratch slab of about 512 KiB (L2).
pub(crate) fn rows_per_tile(kh: usize, ow: usize, oh: usize) -> usize {
    let slab = (131_072 / ow.max(1).saturating_mul(CHANNELS)).max(1);
    slab.max((kh - 1).saturating_mul(4).saturating_add(1))
        .min(oh.max(1))
}

/// `y[i] = op(y[i], x[i])` over `width` floats (a whole number of vectors).
///
/// # Safety
/// Both ranges must be valid scratch.
#[inline(always)]
unsafe fn fold_into<V: SimdF32, R: Sep<V>>(v: V, y: *mut f32, x: *const f32, width: usize) {
    let l = V::LANES;
    let mut i = 0;
    while i < width {
        // SAFETY: i < width (caller).
        unsafe { v.store(y.add(i), R::op(v, v.load(y.add(i)), v.load(x.add(i)))) };
        i += l;
    }
}

/// The window reduction along W for one slab row: `n_out` outputs of `width` floats each (all
/// the tile's channel vectors of a pixel), from `n_out + k - 1` padded items at `x` (item
/// stride `width`), into `y` (item stride `width`). Van Herk / Gil-Werman overwrites `x` with
/// per-block suffix reductions.
///
/// # Safety
/// `x` and `y` must address that many items of scratch.
#[inline(always)]
unsafe fn along_w<V: SimdF32, R: Sep<V>>(
    v: V,
    x: *mut f32,
    k: usize,
    n_out: usize,
    y: *mut f32,
    width: usize,
) {
    let l = V::LANES;
    let len = n_out + k - 1;
    // SAFETY (whole body): items < len for x, < n_out for y; vectors < width.
    unsafe {
        if k < VHGW_MIN {
            for i in 0..n_out {
                let mut u = 0;
                while u < width {
                    let mut acc = v.load(x.add(i * width + u));
                    for j in 1..k {
                        acc = R::op(v, acc, v.load(x.add((i + j) * width + u)));
                    }
                    v.store(y.add(i * width + u), acc);
                    u += l;
                }
            }
            return;
        }
        let mut s = 0;
        while s < n_out {
            let e = (s + k).min(len);
            for i in (s..e - 1).rev() {
                fold_into::<V, R>(v, x.add(i * width), x.add((i + 1) * width), width);
            }
            let mut u = 0;
            while u < width {
                let first = v.load(x.add(s * width + u));
                v.store(y.add(s * width + u), first);
                // The running prefix of the next block (still untouched).
                let mut pre = first;
                for t in 1..k.min(n_out - s) {
                    let next = v.load(x.add((s + k + t - 1) * width + u));
                    pre = if t == 1 { next } else { R::op(v, pre, next) };
                    let out = R::op(v, v.load(x.add((s + t) * width + u)), pre);
                    v.store(y.add((s + t) * width + u), out);
                }
                u += l;
            }
            s += k;
        }
    }
}

/// Per-image constants of the output writer.
struct Out<V: SimdF32> {
    n: usize,
    c0: usize,
    c1: usize,
    nv: usize,
    lo: V::V,
    hi: V::V,
    clamp: bool,
}

/// Writes output row `oh` from a row in slab layout (`[ow][channel vector]`): divisor, result
/// check, clamp, masked tail.
///
/// # Safety
/// `row` must address `OW * nv` vectors of scratch; the output row must lie in the tile.
#[inline(always)]
unsafe fn emit<V: SimdF32, R: Sep<V>>(
    v: V,
    job: &Job,
    out: &Out<V>,
    oh: usize,
    row: *const f32,
    mut bad: V::Bad,
) -> V::Bad {
    let l = V::LANES;
    let th = job.h.taps(oh);
    for ow in 0..job.w.out {
        let scale = if R::SCALE {
            let tw = job.w.taps(ow);
            v.splat(<super::avg::AvgReduce as super::generic::Reduce<V>>::scale(
                job, oh, ow, th, tw,
            ))
        } else {
            v.splat(1.0)
        };
        // SAFETY: output pixel (n, oh, ow) inside the tile.
        let px = unsafe {
            job.dst
                .add(out.n * job.out_batch + oh * job.out_row + ow * job.out_pixel)
        };
        for cv in 0..out.nv {
            let c = out.c0 + cv * l;
            // SAFETY: slab vector (ow, cv) of the row (caller).
            let mut y = unsafe { v.load(row.add((ow * out.nv + cv) * l)) };
            if R::SCALE {
                y = v.mul(y, scale);
            }
            if out.clamp {
                y = v.clamp(y, out.lo, out.hi);
            }
            // SAFETY: channels c.. of the pixel, masked at the tile's last channel.
            unsafe {
                if c + l > out.c1 {
                    let t = v.tail(out.c1 - c);
                    if R::SCALE {
                        bad = v.bad_keep(bad, v.bad_result(v.bad_init(), y), t);
                    }
                    v.store_tail(px.add(c), y, t);
                } else {
                    if R::SCALE {
                        bad = v.bad_result(bad, y);
                    }
                    v.store(px.add(c), y);
                }
            }
        }
    }
    bad
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
    let width = nv * l; // floats per pixel in scratch
    let (kh, kw) = (job.h.k, job.w.k);
    let (ow_n, oh0, oh1) = (job.w.out, tile.oh.0, tile.oh.1);
    let nr = oh1 - oh0 + kh - 1;
    let slab_row = ow_n * width;
    let slab = tile.scratch;
    // SAFETY: the padded row and the prefix row follow the slab (scratch_len).
    let (e_buf, p_buf) = unsafe {
        let e = slab.add(nr * slab_row);
        (e, e.add((ow_n + kw - 1) * width))
    };
    let ident = v.splat(R::IDENTITY);
    let clamp = job.lo != f32::NEG_INFINITY || job.hi != f32::INFINITY;
    for n in tile.n.0..tile.n.1 {
        let out = Out::<V> {
            n,
            c0,
            c1,
            nv,
            lo: v.splat(job.lo),
            hi: v.splat(job.hi),
            clamp,
        };
        let mut bad = v.bad_init();
        // Pass 1: each needed input row, padded, reduced along W into the slab.
        for r in 0..nr {
            let ih = (oh0 + r) as isize - job.h.pad_begin as isize;
            // SAFETY: scratch indices inside scratch_len; input reads at in-input pixels and
            // channels below c1 (masked tail).
            unsafe {
                let dst = slab.add(r * slab_row);
                if ih < 0 || ih >= job.h.input as isize {
                    let mut i = 0;
                    while i < slab_row {
                        v.store(dst.add(i), ident);
                        i += l;
                    }
                    continue;
                }
                let row = job.src.add(n * job.in_batch + ih as usize * job.in_row);
                for j in 0..ow_n + kw - 1 {
                    let iw = j as isize - job.w.pad_begin as isize;
                    let inside = iw >= 0 && iw < job.w.input as isize;
                    let px = row.add(if inside {
                        iw as usize * job.in_pixel
                    } else {
                        0
                    });
                    let mut prev = ident;
                    for cv in 0..nv {
                        let c = c0 + cv * l;
                        let x = if !inside {
                            ident
                        } else if c + l > c1 {
                            v.load_tail(px.add(c), v.tail(c1 - c))
                        } else {
                            v.load(px.add(c))
                        };
                        if R::CHECK_NAN {
                            if cv % 2 == 1 {
                                bad = v.bad_check(bad, prev, x);
                            } else if cv + 1 == nv {
                                bad = v.bad_check(bad, x, x);
                            }
                            prev = x;
                        }
                        v.store(e_buf.add(j * width + cv * l), x);
                    }
                }
                along_w::<V, R>(v, e_buf, kw, ow_n, dst, width);
            }
        }
        // Pass 2: along H over whole slab rows (contiguous), straight into the output.
        let n_out = oh1 - oh0;
        // SAFETY (whole pass): slab rows < nr, the prefix row, output rows of the tile.
        unsafe {
            if kh < VHGW_MIN {
                for o in 0..n_out {
                    let src0 = slab.add(o * slab_row);
                    let mut i = 0;
                    while i < slab_row {
                        let mut acc = v.load(src0.add(i));
                        for j in 1..kh {
                            acc = R::op(v, acc, v.load(src0.add(j * slab_row + i)));
                        }
                        v.store(p_buf.add(i), acc);
                        i += l;
                    }
                    bad = emit::<V, R>(v, job, &out, oh0 + o, p_buf, bad);
                }
            } else {
                let mut s = 0;
                while s < n_out {
                    let e = (s + kh).min(nr);
                    for i in (s..e - 1).rev() {
                        fold_into::<V, R>(
                            v,
                            slab.add(i * slab_row),
                            slab.add((i + 1) * slab_row),
                            slab_row,
                        );
                    }
                    bad = emit::<V, R>(v, job, &out, oh0 + s, slab.add(s * slab_row), bad);
                    for t in 1..kh.min(n_out - s) {
                        let next = slab.add((s + kh + t - 1) * slab_row);
                        let suf = slab.add((s + t) * slab_row);
                        let mut i = 0;
                        while i < slab_row {
                            let pre = if t == 1 {
                                v.load(next.add(i))
                            } else {
                                R::op(v, v.load(p_buf.add(i)), v.load(next.add(i)))
                            };
                            v.store(p_buf.add(i), pre);
                            // The output row is formed in the suffix row (not needed again).
                            v.store(suf.add(i), R::op(v, v.load(suf.add(i)), pre));
                            i += l;
                        }
                        bad = emit::<V, R>(v, job, &out, oh0 + s + t, suf, bad);
                    }
                    s += kh;
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
