//! Stride-1 windows at a cost that does not grow with the window: separable passes (along H,
//! then along W), each with a register-blocked form of the van Herk / Gil-Werman algorithm.
//!
//! Van Herk / Gil-Werman along one axis, window `k`: cut the (padded) sequence into blocks of
//! `k`; a window starting at `i` covers the tail of one block and the head of the next, so its
//! result is `op(suffix[i], prefix[i + k - 1])` with per-block suffix and prefix reductions:
//! about three `op`s per element for any `k`. For sums the same structure gives block prefix
//! and suffix sums recomputed per block: no subtractive running sum (an infinity leaving the
//! window would turn into NaN, and cancellation would break SPEC's bound); every partial sum
//! has at most `k` terms, so an output's error stays within `(KH + KW + 1) eps sum|x|`.
//!
//! Here the block is `B = 8` outputs (4, 2 or 1 for shorter windows or tiles) kept in
//! registers: `B` consecutive windows share their middle `k - B + 1` taps, reduced once, and
//! output `t` adds a suffix of the block's first taps and a prefix of the taps after the
//! middle; for `B = k` that is van Herk / Gil-Werman itself. Cost per output and axis:
//! `(k + 2B - 4) / B` operations and `(k + B - 1) / B` loads (13 taps: 3.1 and 2.5).
//!
//! Data flow per tile (one image, a range of output rows, up to 64 channels), per chunk of
//! up to 64 output columns and block of `B` output rows: the H pass walks the input columns
//! (all the tile's channel vectors of a pixel together) and writes `B` rows of column
//! reductions into a scratch slab; the W pass runs along each slab row and writes the output
//! (the average's divisor per output from the clipped window, the clamp, the result checks).
//! The last block of rows or columns overlaps the previous one instead of running short.
//! Padding enters as the operation's identity (`-inf` for max, `0` for sums). Max: NaN does
//! not survive `vmaxps`, so every input tap is checked for NaN as it is first loaded, and a
//! tile that met one is recomputed exactly.

use super::{Job, Tile};
use crate::plan::OpSpec;
use crate::simd::SimdF32;

/// Windows at least this long (on the longer axis) take the separable kernel; shorter ones
/// the generic kernel or a dedicated one. Measured with `examples/s1rule.rs` (1 thread, 56x56x64
/// and 20x20x512, every tier): from 4x4 on the separable kernel is 1.2-1.9x faster than the
/// generic one (avx512 max 4x4: 47 vs 85 us on 20x20x512), at 3x3 and 2x2 it is slower.
pub(crate) const VHGW_MIN: usize = 4;

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

/// The largest scratch slot (f32 count, 16 MiB) a separable plan may hold; beyond it (huge
/// windows) the plan takes the generic kernel instead.
pub(crate) const MAX_SCRATCH: usize = 4 << 20;

/// Output columns per chunk: a chunk's slab holds `BLOCK_MAX` rows of `CHUNK + KW - 1` items
/// (all the tile's channels of a pixel each), so very wide rows do not grow it.
const CHUNK: usize = 64;

/// Outputs computed together along an axis (the largest block [`block`] returns).
const BLOCK_MAX: usize = 8;

/// The block for a window of `k` taps: the largest power of two up to 8 that is at most `k`.
fn block(k: usize) -> usize {
    match k {
        8.. => 8,
        4..=7 => 4,
        2 | 3 => 2,
        _ => 1,
    }
}

/// Scratch floats of a tile: the slab (`BLOCK_MAX` rows of `CHUNK + KW - 1` items of
/// [`CHANNELS`] floats) and a row of `OW` average scales, or `None` if that overflows or exceeds
/// [`MAX_SCRATCH`].
pub(crate) fn scratch_len(kw: usize, ow: usize) -> Option<usize> {
    let items = ow.min(CHUNK).checked_add(kw - 1)?;
    let slab = items.checked_mul(BLOCK_MAX * CHANNELS)?;
    let total = slab.checked_add(ow)?;
    (total <= MAX_SCRATCH).then_some(total)
}

/// Output rows per tile: about 32 Ki outputs of 64 channels, at least 8 rows (a block), the
/// chunks of equal height.
pub(crate) fn rows_per_tile(ow: usize, oh: usize) -> usize {
    let rows = (32_768 / ow.max(1).saturating_mul(CHANNELS)).next_multiple_of(8);
    crate::parallel::balanced(rows.clamp(8, oh.max(8)), oh)
}

/// The items (taps) of `B` consecutive windows along one axis.
trait Items<V: SimdF32> {
    /// Item `i`, the identity where it lies in padding.
    ///
    /// # Safety
    /// `i < k + B - 1` for the group's window `k`.
    unsafe fn get(&self, v: V, i: usize) -> V::V;
    /// Item `i` of the range [`Items::clip`] returned (not padding).
    ///
    /// # Safety
    /// As [`Items::get`], and `i` inside the clipped range.
    unsafe fn get_in(&self, v: V, i: usize) -> V::V;
    /// The part of `a..b` that is not padding.
    fn clip(&self, a: usize, b: usize) -> (usize, usize);
}

/// A column of input pixels along H (one channel vector), rows outside `lo..hi` are padding.
struct Column<V: SimdF32, const TAIL: bool> {
    /// The column's pixel in input row 0.
    base: *const f32,
    /// Input row stride.
    row: usize,
    /// The input row of item 0 (negative in padding): item `i` is row `first + i`, so that
    /// only in-input rows are multiplied by the stride (a size-1 axis may have any stride).
    first: isize,
    lo: usize,
    hi: usize,
    ident: V::V,
    /// The lanes of a partial channel vector (with `TAIL`).
    tail: V::Tail,
}

impl<V: SimdF32, const TAIL: bool> Items<V> for Column<V, TAIL> {
    #[inline(always)]
    unsafe fn get(&self, v: V, i: usize) -> V::V {
        if i < self.lo || i >= self.hi {
            return self.ident;
        }
        // SAFETY: forwarded (i in lo..hi).
        unsafe { self.get_in(v, i) }
    }
    #[inline(always)]
    unsafe fn get_in(&self, v: V, i: usize) -> V::V {
        // SAFETY: item i is in-input row first + i (lo..hi), channels masked (caller).
        unsafe {
            let p = self.base.add((self.first + i as isize) as usize * self.row);
            if TAIL {
                v.load_tail(p, self.tail)
            } else {
                v.load(p)
            }
        }
    }
    #[inline(always)]
    fn clip(&self, a: usize, b: usize) -> (usize, usize) {
        (a.max(self.lo), b.min(self.hi).max(a.max(self.lo)))
    }
}

/// A slab row along W (padding already stored as the identity).
struct SlabRow {
    base: *const f32,
    step: usize,
}

impl<V: SimdF32> Items<V> for SlabRow {
    #[inline(always)]
    unsafe fn get(&self, v: V, i: usize) -> V::V {
        // SAFETY: slab item i of the row (caller).
        unsafe { v.load(self.base.add(i * self.step)) }
    }
    #[inline(always)]
    unsafe fn get_in(&self, v: V, i: usize) -> V::V {
        // SAFETY: forwarded.
        unsafe { self.get(v, i) }
    }
    #[inline(always)]
    fn clip(&self, a: usize, b: usize) -> (usize, usize) {
        (a, b)
    }
}

/// The `B` windows of `k >= B` taps starting at items `0..B`: they share the middle taps
/// `B - 1..k`, reduced once; output `t` adds the suffix of taps `t..B - 1` and the prefix of
/// taps `k..k + t` (van Herk / Gil-Werman with a block of `B`, kept in registers): about
/// `(k + 2B - 4) / B` operations and `(k + B - 1) / B` loads per output. With `check` (max),
/// taps `k - 1..` (the rows the previous block did not load) are checked for NaN.
#[inline(always)]
unsafe fn windows<V: SimdF32, R: Sep<V>, const B: usize, S: Items<V>>(
    v: V,
    s: &S,
    k: usize,
    check: bool,
    bad: &mut V::Bad,
) -> [V::V; B] {
    let check = check && R::CHECK_NAN;
    // SAFETY (whole body): every index is below k + B - 1; get_in only inside the clip.
    unsafe {
        let last = s.get(v, k - 1);
        // The middle except its last tap (k - 1, checked with the new taps).
        let (m0, m1) = s.clip(B - 1, k - 1);
        let mut m = last;
        if m0 < m1 {
            // Two chains: the sum of a long middle is not one serial dependency.
            let mut a = s.get_in(v, m0);
            let mut i = m0 + 1;
            while i + 1 < m1 {
                a = R::op(v, a, s.get_in(v, i));
                m = R::op(v, m, s.get_in(v, i + 1));
                i += 2;
            }
            if i < m1 {
                a = R::op(v, a, s.get_in(v, i));
            }
            m = R::op(v, a, m);
        }
        let mut out = [m; B];
        let mut suf = m;
        for t in (0..B - 1).rev() {
            suf = R::op(v, s.get(v, t), suf);
            out[t] = suf;
        }
        let mut pending = last;
        let mut pre = last;
        #[allow(clippy::needless_range_loop)] // t is also the tap index
        for t in 1..B {
            let x = s.get(v, k + t - 1);
            if check && t % 2 == 1 {
                *bad = v.bad_check(*bad, pending, x);
            }
            pending = x;
            pre = if t == 1 { x } else { R::op(v, pre, x) };
            out[t] = R::op(v, out[t], pre);
        }
        if check && B % 2 == 1 {
            *bad = v.bad_check(*bad, pending, pending);
        }
        out
    }
}

/// Checks taps `0..k - 1` of a column for NaN (the first block of a tile; later blocks check
/// only the taps they are the first to load).
///
/// # Safety
/// As [`Items::get`].
#[inline(always)]
unsafe fn check_head<V: SimdF32, S: Items<V>>(v: V, s: &S, k: usize, mut bad: V::Bad) -> V::Bad {
    let (a, b) = s.clip(0, k - 1);
    let mut i = a;
    while i < b {
        // SAFETY: inside the clip.
        let (x, y) = unsafe { (s.get_in(v, i), s.get_in(v, (i + 1).min(b - 1))) };
        bad = v.bad_check(bad, x, y);
        i += 2;
    }
    bad
}

/// Per-tile constants.
struct Ctx<V: SimdF32> {
    n: usize,
    lo: V::V,
    hi: V::V,
    clamp: bool,
    ident: V::V,
    /// The tile's first channel.
    c0: usize,
    /// Whole vectors of the tile's channels, and the lanes of a last partial one.
    full: usize,
    tail: Option<V::Tail>,
    /// Floats per slab item (all the tile's channel vectors of one pixel).
    width: usize,
    /// Slab: `BLOCK_MAX` rows of `slab_items` items of `width` floats.
    slab: *mut f32,
    slab_items: usize,
    /// Average scales of one output row (`OW` floats).
    scales: *mut f32,
}

/// H pass: rows `o..o + B` of the output, slab items `0..items` (input columns from `iw0`),
/// every channel vector of the tile, into slab rows `0..B`; with `all` (a tile's first block)
/// every tap is checked for NaN.
///
/// # Safety
/// As [`run`]; `items` within the slab.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn h_pass<V: SimdF32, R: Sep<V>, const B: usize>(
    v: V,
    job: &Job,
    cx: &Ctx<V>,
    o: usize,
    iw0: isize,
    items: usize,
    all: bool,
    mut bad: V::Bad,
) -> V::Bad {
    let l = V::LANES;
    let kh = job.h.k;
    let ih0 = o as isize - job.h.pad_begin as isize;
    let hin = job.h.input as isize;
    let lo = (-ih0).clamp(0, (kh + B - 1) as isize) as usize;
    let hi = (hin - ih0).clamp(lo as isize, (kh + B - 1) as isize) as usize;
    let stride = cx.slab_items * cx.width;
    // Row 0 of the image (items lo..hi are rows ih0 + lo..ih0 + hi of it).
    // SAFETY: image n, the tile's first channel.
    let img = unsafe { job.src.add(cx.n * job.in_batch + cx.c0) };
    // Items ja..jb are input columns; the others are padding.
    let ja = (-iw0).clamp(0, items as isize) as usize;
    let jb = (job.w.input as isize - iw0).clamp(ja as isize, items as isize) as usize;
    for j in (0..ja).chain(jb..items) {
        for t in 0..B {
            let mut u = 0;
            while u < cx.width {
                // SAFETY: slab item j of row t (caller: within the slab).
                unsafe { v.store(cx.slab.add(t * stride + j * cx.width + u), cx.ident) };
                u += l;
            }
        }
    }
    for j in ja..jb {
        // SAFETY: input column iw0 + j (ja..jb lie inside the input).
        let px = unsafe { img.add((iw0 + j as isize) as usize * job.in_pixel) };
        // SAFETY: slab item j of rows 0..B (caller: within the slab).
        let dst = unsafe { cx.slab.add(j * cx.width) };
        for cv in 0..cx.full {
            let col = Column::<V, false> {
                base: px.wrapping_add(cv * l),
                row: job.in_row,
                first: ih0,
                lo,
                hi,
                ident: cx.ident,
                tail: v.tail(0),
            };
            // SAFETY: column taps only, the tile's channels.
            bad = unsafe {
                h_column::<V, R, B, false>(v, &col, kh, all, dst.add(cv * l), stride, bad)
            };
        }
        if let Some(tail) = cx.tail {
            let col = Column::<V, true> {
                base: px.wrapping_add(cx.full * l),
                row: job.in_row,
                first: ih0,
                lo,
                hi,
                ident: cx.ident,
                tail,
            };
            // SAFETY: as above, the partial vector masked.
            bad = unsafe {
                h_column::<V, R, B, true>(v, &col, kh, all, dst.add(cx.full * l), stride, bad)
            };
        }
    }
    bad
}

/// One channel vector of one column of the H pass: `B` outputs into `dst`, `stride` apart.
///
/// # Safety
/// As [`h_pass`].
#[inline(always)]
unsafe fn h_column<V: SimdF32, R: Sep<V>, const B: usize, const TAIL: bool>(
    v: V,
    col: &Column<V, TAIL>,
    kh: usize,
    all: bool,
    dst: *mut f32,
    stride: usize,
    mut bad: V::Bad,
) -> V::Bad {
    // SAFETY: taps below kh + B - 1, in-input rows only (Column); dst rows 0..B (caller).
    unsafe {
        if R::CHECK_NAN && all {
            bad = check_head(v, col, kh, bad);
        }
        let out = windows::<V, R, B, _>(v, col, kh, true, &mut bad);
        for (t, y) in out.into_iter().enumerate() {
            v.store(dst.add(t * stride), y);
        }
    }
    bad
}

/// W pass: output row `oh` from the slab row at `row`, outputs `ow0..ow0 + cw`, every
/// channel vector: divisor, clamp, result check, store.
///
/// # Safety
/// As [`run`]; the slab row holds `cw + KW - 1` items.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn w_pass<V: SimdF32, R: Sep<V>, const B: usize>(
    v: V,
    job: &Job,
    cx: &Ctx<V>,
    row: *const f32,
    oh: usize,
    ow0: usize,
    cw: usize,
    mut bad: V::Bad,
) -> V::Bad {
    let l = V::LANES;
    let kw = job.w.k;
    // SAFETY: output row oh of image n, the tile's first channel.
    let dst = unsafe { job.dst.add(cx.n * job.out_batch + oh * job.out_row + cx.c0) };
    let nv = cx.full + usize::from(cx.tail.is_some());
    let mut g = 0;
    while g < cw {
        // The last block overlaps the previous one rather than running short.
        let s = g.min(cw - B);
        for cv in 0..nv {
            let items = SlabRow {
                // SAFETY: item s of the row, vector cv.
                base: unsafe { row.add(s * cx.width + cv * l) },
                step: cx.width,
            };
            // SAFETY: items below s + kw + B - 1 <= cw + kw - 1.
            let out = unsafe { windows::<V, R, B, _>(v, &items, kw, false, &mut bad) };
            for (t, mut y) in out.into_iter().enumerate() {
                let ow = ow0 + s + t;
                if R::SCALE {
                    // SAFETY: scale row of OW floats.
                    y = v.mul(y, v.splat(unsafe { *cx.scales.add(ow) }));
                }
                if cx.clamp {
                    y = v.clamp(y, cx.lo, cx.hi);
                }
                // SAFETY: pixel ow of the output row, vector cv; a partial vector masked.
                unsafe {
                    let px = dst.add(ow * job.out_pixel + cv * l);
                    match cx.tail {
                        Some(m) if cv == cx.full => {
                            if R::SCALE {
                                bad = v.bad_keep(bad, v.bad_result(v.bad_init(), y), m);
                            }
                            v.store_tail(px, y, m);
                        }
                        _ => {
                            if R::SCALE {
                                bad = v.bad_result(bad, y);
                            }
                            v.store(px, y);
                        }
                    }
                }
            }
        }
        g = s + B;
    }
    bad
}

/// Fills the scale row for output row `oh` (average only).
///
/// # Safety
/// `scales` must hold `OW` floats.
unsafe fn fill_scales(job: &Job, oh: usize, scales: *mut f32) {
    let th = job.h.taps(oh);
    for ow in 0..job.w.out {
        let tw = job.w.taps(ow);
        let d = super::avg::divisor(job, oh, ow, th, tw);
        // SAFETY: ow < OW.
        unsafe { *scales.add(ow) = (1.0 / d as f64) as f32 };
    }
}

/// The H factor of output row `oh`'s divisors (rows with equal factors share a scale row).
fn scale_key(job: &Job, oh: usize) -> usize {
    match job.op {
        OpSpec::Avg(crate::params::Divisor::Override(_)) => 0,
        OpSpec::Avg(crate::params::Divisor::IncludePad) => job.h.include_pad_count(oh),
        _ => {
            let th = job.h.taps(oh);
            th.1 - th.0
        }
    }
}

/// Runs blocks of `BH` output rows (the last block overlapping) over output columns
/// `ow0..ow0 + cw`; W blocks of `BW`.
///
/// # Safety
/// As [`run`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn rows<V: SimdF32, R: Sep<V>, const BH: usize, const BW: usize>(
    v: V,
    job: &Job,
    cx: &Ctx<V>,
    tile: &Tile,
    ow0: usize,
    cw: usize,
    scale_of: &mut usize,
    mut bad: V::Bad,
) -> V::Bad {
    let (oh0, oh1) = tile.oh;
    let items = cw + job.w.k - 1;
    let iw0 = ow0 as isize - job.w.pad_begin as isize;
    let stride = cx.slab_items * cx.width;
    let mut g = oh0;
    while g < oh1 {
        let o = g.min(oh1 - BH);
        // SAFETY: forwarded; items <= slab_items.
        bad = unsafe { h_pass::<V, R, BH>(v, job, cx, o, iw0, items, g == oh0, bad) };
        for t in 0..BH {
            if R::SCALE {
                let key = scale_key(job, o + t);
                if key != *scale_of {
                    // SAFETY: the scale row (OW floats).
                    unsafe { fill_scales(job, o + t, cx.scales) };
                    *scale_of = key;
                }
            }
            // SAFETY: slab row t; forwarded.
            bad = unsafe {
                w_pass::<V, R, BW>(v, job, cx, cx.slab.add(t * stride), o + t, ow0, cw, bad)
            };
        }
        g = o + BH;
    }
    bad
}

/// Runs the separable kernel over the tile (stride 1, dilation 1 on both axes).
///
/// # Safety
/// As [`super::generic::run`]; `tile.scratch` must hold [`scratch_len`] floats, and the tile
/// at most [`CHANNELS`] channels.
#[inline(always)]
pub(crate) unsafe fn run<V: SimdF32, R: Sep<V>>(v: V, job: &Job, tile: &Tile) {
    let l = V::LANES;
    let (c0, c1) = tile.c;
    let (kh, kw) = (job.h.k, job.w.k);
    let ow_n = job.w.out;
    let slab_items = ow_n.min(CHUNK) + kw - 1;
    let full = (c1 - c0) / l;
    let tail = ((c1 - c0) % l != 0).then(|| v.tail((c1 - c0) % l));
    let width = (c1 - c0).div_ceil(l) * l;
    let cx = Ctx::<V> {
        n: 0,
        lo: v.splat(job.lo),
        hi: v.splat(job.hi),
        clamp: job.lo != f32::NEG_INFINITY || job.hi != f32::INFINITY,
        ident: v.splat(R::IDENTITY),
        c0,
        full,
        tail,
        width,
        slab: tile.scratch,
        slab_items,
        // SAFETY: the scale row follows the slab (scratch_len).
        scales: unsafe { tile.scratch.add(slab_items * BLOCK_MAX * CHANNELS) },
    };
    let bh = block(kh.min(tile.oh.1 - tile.oh.0));
    // usize::MAX: no scale row yet.
    let mut scale_of = usize::MAX;
    for n in tile.n.0..tile.n.1 {
        let cx = Ctx::<V> { n, ..cx };
        let mut bad = v.bad_init();
        let mut ow0 = 0;
        while ow0 < ow_n {
            let cw = (ow_n - ow0).min(CHUNK);
            let bw = block(kw.min(cw));
            // SAFETY: forwarded contract.
            bad = unsafe {
                macro_rules! go {
                    ($bh:literal, $bw:literal) => {
                        rows::<V, R, $bh, $bw>(v, job, &cx, tile, ow0, cw, &mut scale_of, bad)
                    };
                }
                match (bh, bw) {
                    (8, 8) => go!(8, 8),
                    (8, 4) => go!(8, 4),
                    (8, 2) => go!(8, 2),
                    (8, _) => go!(8, 1),
                    (4, 8) => go!(4, 8),
                    (4, 4) => go!(4, 4),
                    (4, 2) => go!(4, 2),
                    (4, _) => go!(4, 1),
                    (2, 8) => go!(2, 8),
                    (2, 4) => go!(2, 4),
                    (2, 2) => go!(2, 2),
                    (2, _) => go!(2, 1),
                    (_, 8) => go!(1, 8),
                    (_, 4) => go!(1, 4),
                    (_, 2) => go!(1, 2),
                    _ => go!(1, 1),
                }
            };
            ow0 += cw;
        }
        if v.bad_any(bad) {
            for oh in tile.oh.0..tile.oh.1 {
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
