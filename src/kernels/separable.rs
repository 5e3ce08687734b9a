//! Stride-1 windows at a cost that does not grow with the window: separable passes (along W,
//! then along H), each with a register-blocked form of the van Herk / Gil-Werman algorithm.
//!
//! Van Herk / Gil-Werman along one axis, window `k`: cut the (padded) sequence into blocks of
//! `k`; a window starting at `i` covers the tail of one block and the head of the next, so its
//! result is `op(suffix[i], prefix[i + k - 1])` with per-block suffix and prefix reductions:
//! about three `op`s per element for any `k`. For sums the same structure gives block prefix
//! and suffix sums recomputed per block: no subtractive running sum (an infinity leaving the
//! window would turn into NaN, and cancellation would break SPEC's bound); every partial sum
//! has at most `k` terms, so an output's error stays within `(KH + KW + 1) eps sum|x|`.
//!
//! Here the block is `B = 8` outputs (4, 2 or 1 for shorter windows, and for the remainder of
//! a row or column) kept in registers: `B` consecutive windows share their middle `k - B + 1`
//! taps, reduced once, and output `t` adds a suffix of the block's first taps and a prefix of
//! the taps after the middle; for `B = k` that is van Herk / Gil-Werman itself. Cost per output
//! and axis: `(k + 2B - 4) / B` operations and `(k + B - 1) / B` loads (13 taps: 3.1 and 2.5).
//!
//! Data flow per tile (one image, a range of output rows, up to 64 channels), per chunk of
//! output columns and per channel vector: the W pass reduces each input row the tile needs
//! once, in order, into a ring of row results (`KH + 7` rows of the chunk's columns, up to 64
//! of them); the H pass then reduces blocks of `B` ring rows down each column and writes
//! the output (the average's scale per output from the clipped window, the clamp, the result
//! checks). Taking one channel vector at a time keeps the ring small, and reading each input
//! row once (rather than walking columns) keeps the input stream free of the L1 set conflicts
//! that a column of rows a multiple of 4 KiB apart (e.g. 20 x 512 floats) runs into.
//!
//! Taps outside the input are never loaded. For sums a padding tap enters as `0`; max, whose
//! operation is idempotent, reads it as the nearest in-input tap of the same window instead (a
//! repeated tap leaves a max unchanged), so its W pass has no padding branches. Max: NaN does
//! not survive `vmaxps`, so every input tap is checked for NaN as it is first loaded, and a
//! tile that met one is recomputed exactly.

use super::{Job, Tile};
use crate::geometry::Axis;
use crate::plan::OpSpec;
use crate::simd::SimdF32;

/// Windows at least this long (on the longer axis) take the separable kernel; shorter ones
/// the generic kernel or a dedicated one. Measured with `examples/s1rule.rs` (1 thread, 56x56x64
/// and 20x20x512, every tier): from 4x4 on the separable kernel is faster than the generic one.
pub(crate) const VHGW_MIN: usize = 4;

/// Channels per tile of the separable kernels (a whole number of vectors on every tier).
pub(crate) const CHANNELS: usize = 64;

/// The largest scratch slot (f32 count, 16 MiB) a separable plan may hold; beyond it (huge
/// windows) the plan takes the generic kernel instead.
pub(crate) const MAX_SCRATCH: usize = 4 << 20;

/// Floats reserved per ring item: one vector of the widest tier.
const ITEM: usize = 16;

/// The ring's size target in bytes. Chunks as wide as the row (up to [`CHUNK_MAX`]) matter
/// more than keeping the ring in L1: each chunk reloads the `KW - 1` input columns it shares
/// with the next. Against a 26 KiB target (an L1-resident ring), same process: max 13x13 on
/// 56x56x64 0.82-0.84 of the time, 9x9 0.86-0.89, 5x5 0.94-0.97, 13x13 on 112x112x64
/// 0.87-0.89, avg 7x7 on 112x112x32 0.88-0.99; rows that already fit one chunk (20x20x512,
/// 28x28x256) 0.99-1.04. Chunks of 128 columns gained nothing more on 112-wide rows.
const RING_BYTES: usize = 128 << 10;

/// Outputs computed together along an axis (the largest block [`block`] returns).
const BLOCK_MAX: usize = 8;

/// Output columns per chunk at most (and at least, when the ring allows fewer).
const CHUNK_MAX: usize = 64;
const CHUNK_MIN: usize = 8;

/// The block for a window of `k` taps: the largest power of two up to 8 that is at most `k`.
fn block(k: usize) -> usize {
    match k {
        8.. => 8,
        4..=7 => 4,
        2 | 3 => 2,
        _ => 1,
    }
}

/// The reduction of a separable kernel.
pub(crate) trait Sep<V: SimdF32> {
    /// The identity (padding).
    const IDENTITY: f32;
    /// Whether inputs are checked for NaN (max).
    const CHECK_NAN: bool;
    /// `op(a, b)`.
    fn op(v: V, a: V::V, b: V::V) -> V::V;
    /// Whether outputs are scaled (average: the divisor).
    const SCALE: bool;
    /// Whether `op(x, x) = x` (max): a padding tap may then be replaced by the nearest
    /// in-input one of the same window, which leaves every window's result unchanged.
    const IDEMPOTENT: bool;
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
    const IDEMPOTENT: bool = true;
}

impl<V: SimdF32> Sep<V> for SepSum {
    const IDENTITY: f32 = 0.0;
    const CHECK_NAN: bool = false;
    #[inline(always)]
    fn op(v: V, a: V::V, b: V::V) -> V::V {
        v.add(a, b)
    }
    const SCALE: bool = true;
    const IDEMPOTENT: bool = false;
}

/// Output rows per tile for `c` channels: about 64 Ki outputs of 64 channels, fewer where
/// that leaves the problem fewer than 4 tiles (to share among threads), but at least 8 rows
/// (a block) and `4 (KH - 1)` (a tile reduces the `KH - 1` input rows it shares with the next
/// one again: at most a quarter more); the chunks of equal height.
pub(crate) fn rows_per_tile(ow: usize, oh: usize, kh: usize, c: usize) -> usize {
    let row_tiles = 4usize.div_ceil(c.div_ceil(CHANNELS).max(1));
    let rows = (65_536 / ow.max(1).saturating_mul(CHANNELS))
        .min(oh.div_ceil(row_tiles))
        .max(kh.saturating_sub(1).saturating_mul(4))
        .clamp(8, oh.max(8))
        .next_multiple_of(8);
    crate::parallel::balanced(rows, oh)
}

/// The sizes a plan's tiles work with (the same for every tile of the plan).
#[derive(Clone, Copy, Debug)]
struct Layout {
    /// Ring rows: the most in-input rows one block of `B` output rows reads.
    ring_rows: usize,
    /// Output columns per chunk (chunks of equal width).
    chunk: usize,
    /// Output rows per tile at most.
    tile_rows: usize,
    /// Entries of the column table: a chunk's items.
    cols: usize,
}

impl Layout {
    fn new(h: &Axis, w: &Axis, c: usize) -> Option<Layout> {
        // Window lengths whose block arithmetic (`k + B - 1` as isize) could overflow take the
        // generic kernel.
        let limit = isize::MAX as usize - BLOCK_MAX;
        if h.k > limit || w.k > limit {
            return None;
        }
        let ring_rows = (h.k + BLOCK_MAX - 1).min(h.input.max(1));
        let column_bytes = ring_rows.checked_mul(ITEM * 4)?;
        let widest = (RING_BYTES / column_bytes).clamp(CHUNK_MIN, CHUNK_MAX);
        let ow = w.out.max(1);
        let chunk = ow.div_ceil(ow.div_ceil(widest));
        // The column table holds every item of a chunk.
        let cols = chunk.checked_add(w.k - 1)?;
        Some(Layout {
            ring_rows,
            chunk,
            tile_rows: rows_per_tile(w.out, h.out, h.k, c),
            cols,
        })
    }

    /// Where each part of the scratch starts (floats) and the total: the ring (`ring_rows`
    /// rows and an identity row of `chunk` items of [`ITEM`] floats, after up to `ITEM` floats
    /// that align it to 64 bytes), the tile's scale table (`tile_rows x chunk`), the tap table
    /// of one block (u32), the chunk's column table (usize, after a float that aligns it).
    fn parts(&self) -> Option<Parts> {
        let ring = self
            .ring_rows
            .checked_add(1)?
            .checked_mul(self.chunk)?
            .checked_mul(ITEM)?;
        let scales = ITEM.checked_add(ring)?;
        let tab = scales.checked_add(self.tile_rows.checked_mul(self.chunk)?)?;
        let cols = tab.checked_add(self.ring_rows.checked_add(2 * BLOCK_MAX)?)?;
        let total = cols.checked_add(self.cols.checked_mul(2)?.checked_add(1)?)?;
        Some(Parts {
            scales,
            tab,
            cols,
            total,
        })
    }
}

/// Offsets (floats) of the parts of a tile's scratch; see [`Layout::parts`].
#[derive(Clone, Copy, Debug)]
struct Parts {
    scales: usize,
    tab: usize,
    cols: usize,
    total: usize,
}

/// Scratch floats of a tile, or `None` if that overflows or exceeds [`MAX_SCRATCH`] (the plan
/// then takes the generic kernel).
pub(crate) fn scratch_len(h: &Axis, w: &Axis, c: usize) -> Option<usize> {
    let total = Layout::new(h, w, c)?.parts()?.total;
    (total <= MAX_SCRATCH).then_some(total)
}

/// The taps of `B` consecutive windows of `k` taps along one axis (tap `i` is item `i` of the
/// block): the head `0..B - 1`, the middle `B - 1..k - 1` and the tail `k - 1..k + B - 1`.
/// Head and tail taps may lie in padding (the identity); middle taps are visited only inside
/// [`Items::mid_range`].
trait Items<V: SimdF32> {
    /// Head tap `t < B - 1`.
    ///
    /// # Safety
    /// The block's items must be valid for the implementation (see its constructor).
    unsafe fn head(&self, v: V, t: usize) -> V::V;
    /// Tail tap `k - 1 + t`, `t < B`.
    ///
    /// # Safety
    /// As [`Items::head`].
    unsafe fn tail(&self, v: V, t: usize) -> V::V;
    /// Middle tap `i` inside [`Items::mid_range`].
    ///
    /// # Safety
    /// As [`Items::head`], `i` inside the range.
    unsafe fn mid(&self, v: V, i: usize) -> V::V;
    /// The in-input part of the middle taps `B - 1..k - 1`.
    fn mid_range(&self) -> (usize, usize);
}

/// One channel vector of one input row along W, for the block of windows starting at a
/// chunk output: tap `i` is input column `first + i`, at float offset `cols[i]` from `base`
/// (the chunk's column table); with `PAD`, taps outside `lo..hi` are padding (a block at the
/// image border), without it every tap is in the input.
struct InRow<V: SimdF32, const PAD: bool, const TAIL: bool> {
    /// The row's pixel in input column 0, at the vector's channel.
    base: *const f32,
    /// Column table entry of tap 0.
    cols: *const usize,
    k: usize,
    /// The first middle tap, `B - 1`.
    mid0: usize,
    lo: usize,
    hi: usize,
    ident: V::V,
    /// The lanes of a partial channel vector (with `TAIL`).
    tail: V::Tail,
}

impl<V: SimdF32, const PAD: bool, const TAIL: bool> InRow<V, PAD, TAIL> {
    #[inline(always)]
    unsafe fn tap(&self, v: V, i: usize) -> V::V {
        if PAD && (i < self.lo || i >= self.hi) {
            return self.ident;
        }
        // SAFETY: tap i is an item of the chunk: its table entry gives an in-input column
        // (channels masked with TAIL).
        unsafe {
            let p = self.base.add(*self.cols.add(i));
            if TAIL {
                v.load_tail(p, self.tail)
            } else {
                v.load(p)
            }
        }
    }
}

impl<V: SimdF32, const PAD: bool, const TAIL: bool> Items<V> for InRow<V, PAD, TAIL> {
    #[inline(always)]
    unsafe fn head(&self, v: V, t: usize) -> V::V {
        // SAFETY: forwarded.
        unsafe { self.tap(v, t) }
    }
    #[inline(always)]
    unsafe fn tail(&self, v: V, t: usize) -> V::V {
        // SAFETY: forwarded.
        unsafe { self.tap(v, self.k - 1 + t) }
    }
    #[inline(always)]
    unsafe fn mid(&self, v: V, i: usize) -> V::V {
        // SAFETY: inside mid_range, an item of the chunk.
        unsafe {
            let p = self.base.add(*self.cols.add(i));
            if TAIL {
                v.load_tail(p, self.tail)
            } else {
                v.load(p)
            }
        }
    }
    #[inline(always)]
    fn mid_range(&self) -> (usize, usize) {
        let a = self.lo.max(self.mid0);
        (a, self.hi.min(self.k - 1).max(a))
    }
}

/// Ring rows down one column of the chunk, for a block of output rows: the taps' ring offsets
/// come from the block's table (`B - 1` head entries, `B` tail entries, then the in-input
/// middle taps from `m0`); padding taps point at the ring's identity row.
struct RingColumn {
    /// The column's item in ring row 0.
    base: *const f32,
    /// The block's table of float offsets.
    tab: *const u32,
    /// Head entries (`B - 1`).
    heads: usize,
    m0: usize,
    m1: usize,
}

impl<V: SimdF32> Items<V> for RingColumn {
    #[inline(always)]
    unsafe fn head(&self, v: V, t: usize) -> V::V {
        // SAFETY: table entry t names a ring row (or the identity row).
        unsafe { v.load(self.base.add(*self.tab.add(t) as usize)) }
    }
    #[inline(always)]
    unsafe fn tail(&self, v: V, t: usize) -> V::V {
        // SAFETY: as head.
        unsafe { v.load(self.base.add(*self.tab.add(self.heads + t) as usize)) }
    }
    #[inline(always)]
    unsafe fn mid(&self, v: V, i: usize) -> V::V {
        // SAFETY: middle entries follow the head and tail ones, from m0.
        unsafe {
            let e = *self.tab.add(2 * self.heads + 1 + (i - self.m0));
            v.load(self.base.add(e as usize))
        }
    }
    #[inline(always)]
    fn mid_range(&self) -> (usize, usize) {
        (self.m0, self.m1)
    }
}

/// The `B` windows of `k >= B` taps starting at items `0..B`: they share the middle taps
/// `B - 1..k`, reduced once; output `t` adds the suffix of taps `t..B - 1` and the prefix of
/// taps `k..k + t` (van Herk / Gil-Werman with a block of `B`, kept in registers): about
/// `(k + 2B - 4) / B` operations and `(k + B - 1) / B` loads per output. With `check` (max),
/// the tail taps (the items the previous block did not load) are checked for NaN.
#[inline(always)]
unsafe fn windows<V: SimdF32, R: Sep<V>, const B: usize, S: Items<V>>(
    v: V,
    s: &S,
    check: bool,
    bad: &mut V::Bad,
) -> [V::V; B] {
    let check = check && R::CHECK_NAN;
    // SAFETY (whole body): head taps below B - 1, tail taps below B, middle taps inside the
    // range the items report.
    unsafe {
        let last = s.tail(v, 0);
        // The middle except its last tap (tail 0, checked with the other tail taps).
        let (m0, m1) = s.mid_range();
        let mut m = last;
        if m0 < m1 {
            // Two chains: the sum of a long middle is not one serial dependency.
            let mut a = s.mid(v, m0);
            let mut i = m0 + 1;
            while i + 1 < m1 {
                a = R::op(v, a, s.mid(v, i));
                m = R::op(v, m, s.mid(v, i + 1));
                i += 2;
            }
            if i < m1 {
                a = R::op(v, a, s.mid(v, i));
            }
            m = R::op(v, a, m);
        }
        let mut out = [m; B];
        let mut suf = m;
        for t in (0..B - 1).rev() {
            suf = R::op(v, s.head(v, t), suf);
            out[t] = suf;
        }
        let mut pending = last;
        let mut pre = last;
        #[allow(clippy::needless_range_loop)] // t is also the tap index
        for t in 1..B {
            let x = s.tail(v, t);
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

/// Checks the head and middle taps for NaN (a row's first block; later blocks check only
/// their tail taps, the ones they are the first to load).
///
/// # Safety
/// As [`Items::head`].
#[inline(always)]
unsafe fn check_head<V: SimdF32, const B: usize, S: Items<V>>(
    v: V,
    s: &S,
    mut bad: V::Bad,
) -> V::Bad {
    // SAFETY: head taps below B - 1 (padding reads as the identity, never NaN); middle taps
    // inside the range.
    unsafe {
        let mut t = 0;
        while t + 1 < B - 1 {
            bad = v.bad_check(bad, s.head(v, t), s.head(v, t + 1));
            t += 2;
        }
        if t < B - 1 {
            let x = s.head(v, t);
            bad = v.bad_check(bad, x, x);
        }
        let (a, b) = s.mid_range();
        let mut i = a;
        while i < b {
            bad = v.bad_check(bad, s.mid(v, i), s.mid(v, (i + 1).min(b - 1)));
            i += 2;
        }
    }
    bad
}

/// Per-tile constants.
struct Ctx<V: SimdF32> {
    n: usize,
    lo: V::V,
    hi: V::V,
    ident: V::V,
    /// The tile's first output row.
    oh0: usize,
    /// The chunk: output columns `ow0..ow0 + cw`.
    ow0: usize,
    cw: usize,
    /// The chunk's in-input items `ja..jb` (item `j` is input column `ow0 - pad + j`).
    ja: usize,
    jb: usize,
    /// Column table: entry `j` is the float offset in a row of item `j`'s pixel, or of the
    /// nearest in-input pixel for a padding item.
    cols: *mut usize,
    /// Ring: `ring_rows` rows and an identity row of `chunk` items of `LANES` floats,
    /// 64-byte aligned.
    ring: *mut f32,
    ring_rows: usize,
    /// Floats per ring row.
    ring_row: usize,
    /// Tap table of the current block of output rows.
    tab: *mut u32,
    /// Scales of the tile's outputs in the chunk: row `oh - oh0`, column `ow - ow0`
    /// (`chunk` floats per row).
    scales: *mut f32,
    chunk: usize,
}

/// The taps of the windows along W starting at chunk output `s`, for a block of `b`
/// outputs: with padding (`PAD`: `lo..hi` are the in-input taps) or without (a block wholly
/// inside the input; `lo` and `hi` unused).
#[inline(always)]
fn in_row<V: SimdF32, const PAD: bool, const TAIL: bool>(
    job: &Job,
    cx: &Ctx<V>,
    base: *const f32,
    s: usize,
    b: usize,
    tail: V::Tail,
) -> InRow<V, PAD, TAIL> {
    let n = job.w.k + b - 1;
    let (lo, hi) = if PAD {
        let lo = cx.ja.saturating_sub(s).min(n);
        (lo, cx.jb.saturating_sub(s).clamp(lo, n))
    } else {
        (0, n)
    };
    InRow {
        base,
        cols: cx.cols.wrapping_add(s),
        k: job.w.k,
        mid0: b - 1,
        lo,
        hi,
        ident: cx.ident,
        tail,
    }
}

/// One block of `B` outputs along W from chunk output `s` into the ring row `dst`; a row's
/// first block (`first`) checks its head and middle taps for NaN too.
///
/// # Safety
/// As [`w_row`]; `s + B <= cw`; without `PAD`, every tap inside the input.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn w_block<V: SimdF32, R: Sep<V>, const B: usize, const PAD: bool, const TAIL: bool>(
    v: V,
    job: &Job,
    cx: &Ctx<V>,
    base: *const f32,
    dst: *mut f32,
    s: usize,
    first: bool,
    tail: V::Tail,
    bad: &mut V::Bad,
) {
    let items = in_row::<V, PAD, TAIL>(job, cx, base, s, B, tail);
    // SAFETY: taps below s + kw + B - 1 <= cw + kw - 1 (the chunk's items; padding is not
    // loaded); ring items s..s + B <= cw (caller).
    unsafe {
        if R::CHECK_NAN && first {
            *bad = check_head::<V, B, _>(v, &items, *bad);
        }
        let out = windows::<V, R, B, _>(v, &items, true, bad);
        for (t, y) in out.into_iter().enumerate() {
            v.store(dst.add((s + t) * V::LANES), y);
        }
    }
}

/// W pass of input row `r`, channel vector at channel `c`: the chunk's `cw` outputs along W
/// into ring slot `slot` (`r % ring_rows`), in blocks of `BW` (then 4, 2, 1 for the rest); blocks
/// wholly inside the input take a path without padding checks. Every tap is checked for NaN
/// once (max).
///
/// # Safety
/// As [`run`]; `r` an input row; channel `c` (and the tail's lanes) inside the tile; the
/// column table filled for the chunk.
#[inline(always)]
unsafe fn w_row<V: SimdF32, R: Sep<V>, const BW: usize, const TAIL: bool>(
    v: V,
    job: &Job,
    cx: &Ctx<V>,
    (r, slot): (usize, usize),
    c: usize,
    tail: V::Tail,
    mut bad: V::Bad,
) -> V::Bad {
    let kw = job.w.k;
    // SAFETY: input row r of image n, channel c; columns come from the table.
    let base = unsafe { job.src.add(cx.n * job.in_batch + r * job.in_row + c) };
    // SAFETY: ring slot r % ring_rows < ring_rows, within the ring.
    let dst = unsafe { cx.ring.add(slot * cx.ring_row) };
    let cw = cx.cw;
    // Max reads padding taps as their nearest in-input tap: no block needs padding checks.
    let inside = |s: usize, b: usize| R::IDEMPOTENT || (s >= cx.ja && s + kw + b - 1 <= cx.jb);
    // SAFETY (all blocks): s + b <= cw; blocks without PAD are inside the input.
    unsafe {
        let mut s = 0;
        // Left border, interior, right border, in blocks of BW.
        while s + BW <= cw && !inside(s, BW) && s < cx.ja {
            w_block::<V, R, BW, true, TAIL>(v, job, cx, base, dst, s, s == 0, tail, &mut bad);
            s += BW;
        }
        if s == 0 && s + BW <= cw && inside(s, BW) && R::CHECK_NAN {
            w_block::<V, R, BW, false, TAIL>(v, job, cx, base, dst, s, true, tail, &mut bad);
            s += BW;
        }
        while s + BW <= cw && inside(s, BW) {
            w_block::<V, R, BW, false, TAIL>(v, job, cx, base, dst, s, false, tail, &mut bad);
            s += BW;
        }
        while s + BW <= cw {
            w_block::<V, R, BW, true, TAIL>(v, job, cx, base, dst, s, s == 0, tail, &mut bad);
            s += BW;
        }
        // The rest (fewer than BW outputs), with padding checks unless max.
        let pad = !R::IDEMPOTENT;
        while s < cw {
            let b = step(BW, cw - s);
            let f = s == 0;
            let bad = &mut bad;
            match (b, pad) {
                (8, _) => w_block::<V, R, 8, true, TAIL>(v, job, cx, base, dst, s, f, tail, bad),
                (4, true) => w_block::<V, R, 4, true, TAIL>(v, job, cx, base, dst, s, f, tail, bad),
                (4, false) => {
                    w_block::<V, R, 4, false, TAIL>(v, job, cx, base, dst, s, f, tail, bad)
                }
                (2, true) => w_block::<V, R, 2, true, TAIL>(v, job, cx, base, dst, s, f, tail, bad),
                (2, false) => {
                    w_block::<V, R, 2, false, TAIL>(v, job, cx, base, dst, s, f, tail, bad)
                }
                (_, true) => w_block::<V, R, 1, true, TAIL>(v, job, cx, base, dst, s, f, tail, bad),
                (_, false) => {
                    w_block::<V, R, 1, false, TAIL>(v, job, cx, base, dst, s, f, tail, bad)
                }
            }
            s += b;
        }
    }
    bad
}

/// The next block: `full` while it fits, then the largest of 4, 2, 1 that fits in `left`.
#[inline(always)]
fn step(full: usize, left: usize) -> usize {
    if full <= left {
        full
    } else if left >= 4 {
        4
    } else if left >= 2 {
        2
    } else {
        1
    }
}

/// Fills the tap table of the block of `B` output rows from `o`: ring offsets of the head,
/// tail and in-input middle taps (padding taps: the identity row). Returns the middle range.
///
/// # Safety
/// `cx.tab` must hold `2B - 1` entries plus the block's in-input middle taps.
unsafe fn fill_taps<V: SimdF32, const B: usize>(
    job: &Job,
    cx: &Ctx<V>,
    o: usize,
) -> (usize, usize) {
    let kh = job.h.k;
    let first = o as isize - job.h.pad_begin as isize;
    let hin = job.h.input as isize;
    // The block's in-input rows are fewer than ring_rows: one division for the first, then
    // a wrap-around.
    let r0 = first.max(0) as usize;
    let s0 = r0 % cx.ring_rows;
    let slot = |i: usize| -> u32 {
        let r = first + i as isize;
        let row = if r >= 0 && r < hin {
            let s = s0 + (r as usize - r0);
            if s >= cx.ring_rows {
                s - cx.ring_rows
            } else {
                s
            }
        } else {
            cx.ring_rows
        };
        (row * cx.ring_row) as u32
    };
    let m0 = (-first).clamp(B as isize - 1, kh as isize - 1) as usize;
    let m1 = (hin - first).clamp(m0 as isize, kh as isize - 1) as usize;
    // SAFETY: 2B - 1 + (m1 - m0) entries (caller).
    unsafe {
        for t in 0..B - 1 {
            *cx.tab.add(t) = slot(t);
        }
        for t in 0..B {
            *cx.tab.add(B - 1 + t) = slot(kh - 1 + t);
        }
        for i in m0..m1 {
            *cx.tab.add(2 * B - 1 + i - m0) = slot(i);
        }
    }
    (m0, m1)
}

/// H pass: output rows `o..o + B` of the chunk's columns, channel vector at channel `c`, from
/// the ring (the rows the block reads are in it): scale, clamp, result check, store.
///
/// # Safety
/// As [`run`]; the ring holds every in-input row of the block's windows.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn h_block<V: SimdF32, R: Sep<V>, const B: usize, const TAIL: bool, const CLAMP: bool>(
    v: V,
    job: &Job,
    cx: &Ctx<V>,
    o: usize,
    c: usize,
    tail: V::Tail,
    mut bad: V::Bad,
) -> V::Bad {
    let l = V::LANES;
    // SAFETY: the table holds 2B - 1 + ring_rows entries (Layout::floats); the middle's
    // in-input taps are at most the input's rows of the window, so at most ring_rows.
    let (m0, m1) = unsafe { fill_taps::<V, B>(job, cx, o) };
    // SAFETY: output row o of image n, column ow0, channel c.
    let dst = unsafe {
        job.dst
            .add(cx.n * job.out_batch + o * job.out_row + cx.ow0 * job.out_pixel + c)
    };
    for j in 0..cx.cw {
        let col = RingColumn {
            // SAFETY: item j of ring row 0.
            base: unsafe { cx.ring.add(j * l) },
            tab: cx.tab,
            heads: B - 1,
            m0,
            m1,
        };
        // SAFETY: the table's entries name ring rows the W pass filled or the identity row.
        let out = unsafe { windows::<V, R, B, _>(v, &col, false, &mut bad) };
        for (t, mut y) in out.into_iter().enumerate() {
            if R::SCALE {
                // SAFETY: scale of output (o + t, ow0 + j), a row of the tile.
                let s = unsafe { *cx.scales.add((o + t - cx.oh0) * cx.chunk + j) };
                y = v.mul(y, v.splat(s));
            }
            if CLAMP {
                y = v.clamp(y, cx.lo, cx.hi);
            }
            // SAFETY: output (o + t, ow0 + j) of the tile, channel c; a partial vector masked.
            unsafe {
                let p = dst.add(t * job.out_row + j * job.out_pixel);
                if TAIL {
                    if R::SCALE {
                        bad = v.bad_keep(bad, v.bad_special(v.bad_init(), y), tail);
                    }
                    v.store_tail(p, y, tail);
                } else {
                    if R::SCALE {
                        bad = v.bad_special(bad, y);
                    }
                    v.store(p, y);
                }
            }
        }
    }
    bad
}

/// One channel vector of the tile, one chunk: the W pass of each input row as the blocks of
/// output rows come to need it, then the H pass of the block.
///
/// # Safety
/// As [`run`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn vector<V: SimdF32, R: Sep<V>, const TAIL: bool, const CLAMP: bool>(
    v: V,
    job: &Job,
    cx: &Ctx<V>,
    tile: &Tile,
    c: usize,
    tail: V::Tail,
    (bh, bw): (usize, usize),
    mut bad: V::Bad,
) -> V::Bad {
    let (oh0, oh1) = tile.oh;
    let pb = job.h.pad_begin as isize;
    // The next input row the W pass has not reduced yet.
    let mut next = (oh0 as isize - pb).max(0) as usize;
    let mut next_slot = next % cx.ring_rows;
    let mut o = oh0;
    while o < oh1 {
        let b = step(bh, oh1 - o);
        let first = o as isize - pb;
        let need = (first + (job.h.k + b - 1) as isize).clamp(0, job.h.input as isize) as usize;
        // SAFETY: input rows below the input's height, rows and columns of the tile; the ring
        // keeps the last ring_rows rows reduced, which include every in-input row of this
        // block (ring_rows >= b + kh - 1, or the input's height).
        unsafe {
            while next < need {
                let slot = next_slot;
                bad = match bw {
                    8 => w_row::<V, R, 8, TAIL>(v, job, cx, (next, slot), c, tail, bad),
                    4 => w_row::<V, R, 4, TAIL>(v, job, cx, (next, slot), c, tail, bad),
                    2 => w_row::<V, R, 2, TAIL>(v, job, cx, (next, slot), c, tail, bad),
                    _ => w_row::<V, R, 1, TAIL>(v, job, cx, (next, slot), c, tail, bad),
                };
                next += 1;
                next_slot = if next_slot + 1 == cx.ring_rows {
                    0
                } else {
                    next_slot + 1
                };
            }
            bad = match b {
                8 => h_block::<V, R, 8, TAIL, CLAMP>(v, job, cx, o, c, tail, bad),
                4 => h_block::<V, R, 4, TAIL, CLAMP>(v, job, cx, o, c, tail, bad),
                2 => h_block::<V, R, 2, TAIL, CLAMP>(v, job, cx, o, c, tail, bad),
                _ => h_block::<V, R, 1, TAIL, CLAMP>(v, job, cx, o, c, tail, bad),
            };
        }
        o += b;
    }
    bad
}

/// Fills the tile's scale table for the chunk (average only): `1 / divisor` per output, a
/// row copied from the previous one where their divisors along H agree. Returns whether a
/// scale exceeds 0.5: the result check (`bad_special`) then needs [`super::exact::any_huge`].
///
/// # Safety
/// `cx.scales` must hold the tile's rows of `chunk` floats.
unsafe fn fill_scales<V: SimdF32>(job: &Job, cx: &Ctx<V>, tile: &Tile) -> bool {
    let mut prev = None;
    let mut big = false;
    for oh in tile.oh.0..tile.oh.1 {
        // SAFETY: row oh - oh0 of the table.
        let row = unsafe { cx.scales.add((oh - cx.oh0) * cx.chunk) };
        let key = scale_key(job, oh);
        if let Some((p, k)) = prev
            && k == key
        {
            // SAFETY: two distinct rows of the table.
            unsafe { core::ptr::copy_nonoverlapping(p, row, cx.cw) };
        } else {
            let th = job.h.taps(oh);
            for j in 0..cx.cw {
                let ow = cx.ow0 + j;
                let d = super::avg::divisor(job, oh, ow, th, job.w.taps(ow));
                let s = (1.0 / d as f64) as f32;
                big |= super::exact::needs_huge_pass(s);
                // SAFETY: j < cw <= chunk.
                unsafe { *row.add(j) = s };
            }
        }
        prev = Some((row as *const f32, key));
    }
    big
}

/// The H factor of output row `oh`'s divisors (rows with equal factors share their scales).
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

/// Every channel vector of the tile for the current chunk (full vectors, then the tail).
///
/// # Safety
/// As [`run`].
#[inline(always)]
unsafe fn vectors<V: SimdF32, R: Sep<V>, const CLAMP: bool>(
    v: V,
    job: &Job,
    cx: &Ctx<V>,
    tile: &Tile,
    blocks: (usize, usize),
    mut bad: V::Bad,
) -> V::Bad {
    let l = V::LANES;
    let (c0, c1) = tile.c;
    let mut c = c0;
    // SAFETY: channels c..c + l (or the tail) inside the tile; forwarded contract.
    unsafe {
        while c + l <= c1 {
            bad = vector::<V, R, false, CLAMP>(v, job, cx, tile, c, v.tail(1), blocks, bad);
            c += l;
        }
        if c < c1 {
            let t = v.tail(c1 - c);
            bad = vector::<V, R, true, CLAMP>(v, job, cx, tile, c, t, blocks, bad);
        }
    }
    bad
}

/// Runs the separable kernel over the tile (stride 1, dilation 1 on both axes).
///
/// # Safety
/// As [`super::generic::run`]; `tile.scratch` must hold [`scratch_len`] floats, and the tile
/// at most [`rows_per_tile`] rows.
#[inline(always)]
pub(crate) unsafe fn run<V: SimdF32, R: Sep<V>>(v: V, job: &Job, tile: &Tile) {
    let Some(lay) = Layout::new(&job.h, &job.w, job.c) else {
        unreachable!("the plan checked scratch_len")
    };
    debug_assert!(tile.oh.1 - tile.oh.0 <= lay.tile_rows);
    let Some(parts) = lay.parts() else {
        unreachable!("the plan checked scratch_len")
    };
    let l = V::LANES;
    let ring_row = lay.chunk * l;
    // SAFETY: the parts of Layout::parts, within scratch_len floats; the ring starts at the
    // first 64-byte boundary (ITEM floats of slack), the column table at an 8-byte one.
    let (ring, scales, tab, cols) = unsafe {
        let skip = tile.scratch.align_offset(64).min(ITEM);
        let ring = tile.scratch.add(skip);
        let scales = tile.scratch.add(parts.scales);
        let tab = tile.scratch.add(parts.tab) as *mut u32;
        let c = tile.scratch.add(parts.cols);
        let cols = c.add(c.align_offset(8).min(1)) as *mut usize;
        (ring, scales, tab, cols)
    };
    let clamp = job.lo != f32::NEG_INFINITY || job.hi != f32::INFINITY;
    let bh = block(job.h.k.min(tile.oh.1 - tile.oh.0));
    let bw = block(job.w.k.min(lay.chunk.min(job.w.out)));
    let ident = v.splat(R::IDENTITY);
    for n in tile.n.0..tile.n.1 {
        let mut bad = v.bad_init();
        let mut huge = false;
        let mut ow0 = 0;
        while ow0 < job.w.out {
            let cw = (job.w.out - ow0).min(lay.chunk);
            let iw0 = ow0 as isize - job.w.pad_begin as isize;
            let items = (cw + job.w.k - 1) as isize;
            let ja = (-iw0).clamp(0, items) as usize;
            let jb = (job.w.input as isize - iw0).clamp(ja as isize, items) as usize;
            // SAFETY: cw + kw - 1 <= the table's entries (Layout::cols); the columns are
            // clamped into the input, so their offsets lie inside an input row; the identity
            // row is ring row ring_rows, of ring_row floats.
            unsafe {
                let last = job.w.input as isize - 1;
                for j in 0..items as usize {
                    let col = (iw0 + j as isize).clamp(0, last) as usize;
                    *cols.add(j) = col * job.in_pixel;
                }
                let id = ring.add(lay.ring_rows * ring_row);
                for i in 0..cw {
                    v.store(id.add(i * l), ident);
                }
            }
            let cx = Ctx::<V> {
                n,
                lo: v.splat(job.lo),
                hi: v.splat(job.hi),
                ident,
                oh0: tile.oh.0,
                ow0,
                cw,
                ja,
                jb,
                cols,
                ring,
                ring_rows: lay.ring_rows,
                ring_row,
                tab,
                scales,
                chunk: lay.chunk,
            };
            // SAFETY: the scale table holds tile_rows >= the tile's rows of chunk floats.
            let big = R::SCALE && unsafe { fill_scales(job, &cx, tile) };
            // SAFETY: forwarded contract.
            bad = unsafe {
                if clamp {
                    vectors::<V, R, true>(v, job, &cx, tile, (bh, bw), bad)
                } else {
                    vectors::<V, R, false>(v, job, &cx, tile, (bh, bw), bad)
                }
            };
            // SAFETY: the outputs just written: the tile's rows and channels, the chunk's columns.
            huge = huge
                || (big
                    && unsafe {
                        super::exact::any_huge(job, n, tile.oh.0..tile.oh.1, ow0..ow0 + cw, tile.c)
                    });
            ow0 += cw;
        }
        if v.bad_any(bad) || huge {
            for oh in tile.oh.0..tile.oh.1 {
                // SAFETY: rows of the tile.
                unsafe { super::exact::row(job, n, oh, 0, job.w.out, tile.c) };
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
