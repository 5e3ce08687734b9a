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
//! Here a block of `B` outputs is kept in registers: `B` consecutive windows share their
//! middle `k - B + 1` taps, reduced once, and output `t` adds a suffix of the block's first
//! taps and a prefix of the taps after the middle; for `B = k` that is van Herk / Gil-Werman
//! itself. Cost per output and axis: `(k + 2B - 4) / B` operations and `(k + B - 1) / B`
//! loads, so a row or column of `n` outputs in `m` blocks costs `m (k - 4) + 2n` operations
//! and `m (k - 1) + n` loads whatever their sizes: rows are cut into the fewest blocks of at
//! most `min(k, 16)` outputs on AVX-512 (`min(k, 8)` on the 16-register tiers), as equal as
//! they come (20 outputs of a 13-tap window: two of 10, 2.9 operations and 2.2 loads each).
//!
//! Data flow per tile (one image, a range of output rows, up to 64 channels), per chunk of
//! output columns and per channel vector: the W pass reduces each input row the tile needs
//! once, in order, into a ring of row results (`KH + B - 1` rows of the chunk's columns, up
//! to 64 of them); the H pass then reduces blocks of `B` ring rows down each column (their
//! ring offsets in tables built once per tile) and writes the output (the average's scale per
//! output from the clipped window, the clamp, the result checks). Taking one channel vector at
//! a time keeps the ring small, and reading each input row once (rather than walking columns)
//! keeps the input stream free of the L1 set conflicts that a column of rows a multiple of
//! 4 KiB apart (e.g. 20 x 512 floats) runs into.
//!
//! Taps outside the input are never loaded. The W pass copies a row's pixels into a row
//! buffer whose padding items hold the identity (`0` for sums), or, for max where the copy
//! does not pay, reads the input in place and takes a padding tap as the nearest in-input
//! tap of the same window (a repeated tap leaves a max unchanged). Max: NaN does not survive
//! `vmaxps`, so every input pixel is checked for NaN once, and a tile that met one is
//! recomputed exactly.

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

/// Outputs computed together along an axis at most (the largest block [`block`] returns).
const BLOCK_MAX: usize = 16;

/// Output columns per chunk at most (and at least, when the ring allows fewer).
const CHUNK_MAX: usize = 64;
const CHUNK_MIN: usize = 8;

/// The largest block for a window of `k` taps on a tier of `lanes`: `k` itself from 4 taps
/// on (van Herk / Gil-Werman; a larger block saves `(k - 4) / B` operations and `(k - 1) / B`
/// loads per output), up to the block whose `B` results still fit the registers with the
/// temporaries (16 on AVX-512's 32 registers, 8 on the 16 of the other tiers); 2 for 2 or 3
/// taps, where a longer block costs more operations than it saves.
fn block(k: usize, lanes: usize) -> usize {
    let regs = if lanes >= 16 { BLOCK_MAX } else { 8 };
    match k {
        4.. => k.min(regs),
        2 | 3 => 2,
        _ => 1,
    }
}

/// `n` outputs cut into the fewest blocks of at most `max`, as equal as they come: the
/// first `longer` blocks have `size + 1` outputs, the others `size` (the block count only
/// sets the cost: `blocks (k - 4) + 2n` operations, `blocks (k - 1) + n` loads).
#[derive(Clone, Copy, Debug)]
struct Split {
    blocks: usize,
    size: usize,
    longer: usize,
}

impl Split {
    fn new(n: usize, max: usize) -> Split {
        let blocks = n.div_ceil(max.max(1)).max(1);
        Split {
            blocks,
            size: n / blocks,
            longer: n % blocks,
        }
    }

    /// The size of block `i`.
    #[inline(always)]
    fn at(&self, i: usize) -> usize {
        self.size + usize::from(i < self.longer)
    }
}

/// Whether a tier's blocks go up to [`BLOCK_MAX`] (an associated constant, so that the
/// narrow tiers' code is not generated for the longer blocks they never run).
trait Wide {
    const WIDE: bool;
}

impl<V: SimdF32> Wide for V {
    const WIDE: bool = V::LANES >= 16;
}

/// Calls `$body` with `$B` a const block size equal to the run-time `$b` (1 to
/// [`BLOCK_MAX`] on wide tiers, 1 to 8 on the others).
macro_rules! by_block {
    ($v:ty, $b:expr, |$B:ident| $body:expr) => {{
        debug_assert!(1 <= $b && $b <= if <$v as Wide>::WIDE { BLOCK_MAX } else { 8 });
        if <$v as Wide>::WIDE {
            block_arms!($b, |$B| $body, [1 2 3 4 5 6 7 8 9 10 11 12 13 14 15], 16)
        } else {
            block_arms!($b, |$B| $body, [1 2 3 4 5 6 7], 8)
        }
    }};
}

// by_block!'s wide list ends at 16.
const _: () = assert!(BLOCK_MAX == 16);

/// The match of [`by_block!`]: one arm per listed size, `$last` for the rest.
macro_rules! block_arms {
    ($b:expr, |$B:ident| $body:expr, [$($n:literal)*], $last:literal) => {
        match $b {
            $($n => {
                const $B: usize = $n;
                $body
            })*
            _ => {
                const $B: usize = $last;
                $body
            }
        }
    };
}

/// The reduction of a separable kernel.
pub(crate) trait Sep<V: SimdF32> {
    /// The identity (padding).
    const IDENTITY: f32;
    /// Whether inputs are checked for NaN (max).
    const CHECK_NAN: bool;
    /// Whether the W pass may read the input where it stands, a padding tap as the nearest
    /// in-input one (max: a repeated tap leaves it unchanged).
    const DIRECT: bool;
    /// `op(a, b)`.
    fn op(v: V, a: V::V, b: V::V) -> V::V;
    /// Whether outputs are scaled (average: the divisor).
    const SCALE: bool;
}

/// Max.
pub(crate) struct SepMax;
/// Sum (average).
pub(crate) struct SepSum;

impl<V: SimdF32> Sep<V> for SepMax {
    const IDENTITY: f32 = f32::NEG_INFINITY;
    const CHECK_NAN: bool = true;
    const DIRECT: bool = true;
    #[inline(always)]
    fn op(v: V, a: V::V, b: V::V) -> V::V {
        v.max(a, b)
    }
    const SCALE: bool = false;
}

impl<V: SimdF32> Sep<V> for SepSum {
    const IDENTITY: f32 = 0.0;
    const CHECK_NAN: bool = false;
    const DIRECT: bool = false;
    #[inline(always)]
    fn op(v: V, a: V::V, b: V::V) -> V::V {
        v.add(a, b)
    }
    const SCALE: bool = true;
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
    /// Items of the row buffer: a chunk's.
    items: usize,
    /// Blocks of output rows per tile at most (on any tier).
    blocks: usize,
}

impl Layout {
    fn new(h: &Axis, w: &Axis, c: usize) -> Option<Layout> {
        // Window lengths whose block arithmetic (`k + B - 1` as isize) could overflow take the
        // generic kernel.
        let limit = isize::MAX as usize - BLOCK_MAX;
        if h.k > limit || w.k > limit {
            return None;
        }
        // The widest tier's block: the most rows one block of output rows reads.
        let ring_rows = (h.k + block(h.k, ITEM) - 1).min(h.input.max(1));
        let column_bytes = ring_rows.checked_mul(ITEM * 4)?;
        let widest = (RING_BYTES / column_bytes).clamp(CHUNK_MIN, CHUNK_MAX);
        let ow = w.out.max(1);
        let chunk = ow.div_ceil(ow.div_ceil(widest));
        // The row buffer holds every item of a chunk.
        let items = chunk.checked_add(w.k - 1)?;
        let tile_rows = rows_per_tile(w.out, h.out, h.k, c);
        Some(Layout {
            ring_rows,
            chunk,
            tile_rows,
            items,
            // The most blocks any tier cuts a tile's rows into.
            blocks: tile_rows.div_ceil(block(h.k, 4).min(block(h.k, ITEM))),
        })
    }

    /// Where each part of the scratch starts (floats) and the total: the ring (`ring_rows`
    /// rows and an identity row of `chunk` items of [`ITEM`] floats, after up to `ITEM` floats
    /// that align it to 64 bytes), the row buffer (`items` of [`ITEM`] floats), the tile's
    /// scale table (`tile_rows x chunk`), the tap tables of its blocks of output rows (u32),
    /// the chunk's column table (usize, after a float that aligns it).
    fn parts(&self) -> Option<Parts> {
        let ring = self
            .ring_rows
            .checked_add(1)?
            .checked_mul(self.chunk)?
            .checked_mul(ITEM)?;
        let buf = self.items.checked_mul(ITEM)?;
        let scales = ITEM.checked_add(ring)?.checked_add(buf)?;
        let tab = scales.checked_add(self.tile_rows.checked_mul(self.chunk)?)?;
        let cols = tab.checked_add(self.blocks.checked_mul(self.tab_stride()?)?)?;
        let total = cols.checked_add(self.items.checked_mul(2)?.checked_add(1)?)?;
        Some(Parts {
            ring,
            scales,
            tab,
            cols,
            total,
        })
    }
}

impl Layout {
    /// Entries of one block's tap table: its middle taps' count, `2B - 1` head and tail taps
    /// and the in-input middle taps (at most the ring's rows).
    fn tab_stride(&self) -> Option<usize> {
        self.ring_rows.checked_add(2 * BLOCK_MAX + 1)
    }
}

/// Offsets (floats) of the parts of a tile's scratch; see [`Layout::parts`].
#[derive(Clone, Copy, Debug)]
struct Parts {
    /// The ring's length (the row buffer follows it).
    ring: usize,
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

/// One channel vector of the chunk's row buffer, for the block of windows starting at the
/// buffer item `p` points to: tap `i` is item `i` from there (`LANES` floats apart).
struct RowBuf {
    p: *const f32,
    k: usize,
    /// The first middle tap, `B - 1`.
    mid0: usize,
}

impl<V: SimdF32> Items<V> for RowBuf {
    #[inline(always)]
    unsafe fn head(&self, v: V, t: usize) -> V::V {
        // SAFETY: an item of the buffer (caller).
        unsafe { v.load(self.p.add(t * V::LANES)) }
    }
    #[inline(always)]
    unsafe fn tail(&self, v: V, t: usize) -> V::V {
        // SAFETY: as head.
        unsafe { v.load(self.p.add((self.k - 1 + t) * V::LANES)) }
    }
    #[inline(always)]
    unsafe fn mid(&self, v: V, i: usize) -> V::V {
        // SAFETY: as head.
        unsafe { v.load(self.p.add(i * V::LANES)) }
    }
    #[inline(always)]
    fn mid_range(&self) -> (usize, usize) {
        (self.mid0, self.k - 1)
    }
}

/// One channel vector of one input row along W, for the block of windows starting at a
/// chunk output, read from the input (max only): tap `i` is input column `first + i`, at
/// float offset `cols[i]` from `base` (the chunk's column table), where a padding tap reads
/// the nearest in-input pixel instead (a repeated tap leaves a max unchanged).
struct InRow<V: SimdF32, const TAIL: bool> {
    /// The row's pixel in input column 0, at the vector's channel.
    base: *const f32,
    /// Column table entry of tap 0.
    cols: *const usize,
    k: usize,
    /// The first middle tap, `B - 1`.
    mid0: usize,
    /// The lanes of a partial channel vector (with `TAIL`).
    tail: V::Tail,
}

impl<V: SimdF32, const TAIL: bool> InRow<V, TAIL> {
    #[inline(always)]
    unsafe fn tap(&self, v: V, i: usize) -> V::V {
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

impl<V: SimdF32, const TAIL: bool> Items<V> for InRow<V, TAIL> {
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
        (self.mid0, self.k - 1)
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
    /// The tile's first output row.
    oh0: usize,
    /// The chunk: output columns `ow0..ow0 + cw`.
    ow0: usize,
    cw: usize,
    /// The chunk's in-input items `ja..jb` (item `j` is input column `ow0 - pad + j`).
    ja: usize,
    jb: usize,
    /// The input column of item `ja` (the chunk's first in-input pixel).
    iw_first: usize,
    /// Whether the W pass reads the input directly ([`w_row_direct`]).
    direct: bool,
    /// Column table (with `direct`): entry `j` is the float offset in a row of item `j`'s
    /// pixel, or of the nearest in-input pixel for a padding item.
    cols: *mut usize,
    /// Row buffer: the chunk's items of one row, `LANES` floats each (padding items: the
    /// identity), 64-byte aligned.
    buf: *mut f32,
    /// Ring: `ring_rows` rows and an identity row of `chunk` items of `LANES` floats,
    /// 64-byte aligned.
    ring: *mut f32,
    ring_rows: usize,
    /// Floats per ring row.
    ring_row: usize,
    /// The W pass's blocks of the chunk's outputs.
    wsplit: Split,
    /// Scales of the tile's outputs in the chunk: row `oh - oh0`, column `ow - ow0`
    /// (`chunk` floats per row).
    scales: *mut f32,
    chunk: usize,
}

/// W pass of input row `r`, channel vector at channel `c`: the row's in-input items are
/// copied into the chunk's row buffer (checked for NaN there, max), whose padding items hold
/// the identity; the chunk's `cw` outputs along W then go into ring slot `slot`
/// (`r % ring_rows`), in the fewest blocks of at most the tier's block. Copying first reads
/// each input pixel once, in address order: the blocks' windows overlap by `kw - 1` items,
/// and re-reading them from the input would miss L1 where a row's pixels share a few sets
/// (with 512 channels every pixel of a channel vector falls into two of them).
///
/// # Safety
/// As [`run`]; `r` an input row; channel `c` (and the tail's lanes) inside the tile; the
/// buffer's padding items set for the chunk.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn w_row<V: SimdF32, R: Sep<V>, const TAIL: bool>(
    v: V,
    job: &Job,
    cx: &Ctx<V>,
    (r, slot): (usize, usize),
    c: usize,
    tail: V::Tail,
    mut bad: V::Bad,
) -> V::Bad {
    let l = V::LANES;
    let (ja, jb) = (cx.ja, cx.jb);
    // SAFETY: input row r of image n, channel c, from the chunk's first in-input column;
    // buffer items ja..jb; ring slot r % ring_rows < ring_rows.
    unsafe {
        let mut src = job
            .src
            .add(cx.n * job.in_batch + r * job.in_row + cx.iw_first * job.in_pixel + c);
        let load = |p: *const f32| {
            if TAIL {
                v.load_tail(p, tail)
            } else {
                v.load(p)
            }
        };
        let mut j = ja;
        while j + 1 < jb {
            let (x, y) = (load(src), load(src.add(job.in_pixel)));
            if R::CHECK_NAN {
                bad = v.bad_check(bad, x, y);
            }
            v.store(cx.buf.add(j * l), x);
            v.store(cx.buf.add((j + 1) * l), y);
            // Wrapping: after the row's last pixel the pointer may leave the input.
            src = src.wrapping_add(2 * job.in_pixel);
            j += 2;
        }
        if j < jb {
            let x = load(src);
            if R::CHECK_NAN {
                bad = v.bad_check(bad, x, x);
            }
            v.store(cx.buf.add(j * l), x);
        }
        let dst = cx.ring.add(slot * cx.ring_row);
        let mut s = 0;
        for i in 0..cx.wsplit.blocks {
            let b = cx.wsplit.at(i);
            let items = RowBuf {
                p: cx.buf.add(s * l),
                k: job.w.k,
                mid0: b - 1,
            };
            // SAFETY: buffer items s..s + kw + b - 1 <= cw + kw - 1; ring items s..s + b <= cw.
            by_block!(V, b, |B| {
                let out = windows::<V, R, B, _>(v, &items, false, &mut bad);
                for (t, y) in out.into_iter().enumerate() {
                    v.store(dst.add((s + t) * l), y);
                }
            });
            s += b;
        }
    }
    bad
}

/// W pass of input row `r` for max, reading the input where it stands (no row buffer): tap
/// `i` of a block at the offset the chunk's column table gives, padding taps at their nearest
/// in-input pixel. A row's first block checks its head and middle taps for NaN, every block
/// its tail taps: each item once. Cheaper than [`w_row`]'s copy where a row's pixels spread
/// over enough L1 sets (see [`run`]).
///
/// # Safety
/// As [`w_row`], with the column table filled for the chunk.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn w_row_direct<V: SimdF32, R: Sep<V>, const TAIL: bool>(
    v: V,
    job: &Job,
    cx: &Ctx<V>,
    (r, slot): (usize, usize),
    c: usize,
    tail: V::Tail,
    mut bad: V::Bad,
) -> V::Bad {
    let l = V::LANES;
    // SAFETY: input row r of image n, channel c; columns come from the table; ring slot
    // r % ring_rows < ring_rows; taps below s + kw + b - 1 <= cw + kw - 1 (the chunk's
    // items), ring items s..s + b <= cw.
    unsafe {
        let base = job.src.add(cx.n * job.in_batch + r * job.in_row + c);
        let dst = cx.ring.add(slot * cx.ring_row);
        let mut s = 0;
        for i in 0..cx.wsplit.blocks {
            let b = cx.wsplit.at(i);
            let items = InRow::<V, TAIL> {
                base,
                cols: cx.cols.add(s),
                k: job.w.k,
                mid0: b - 1,
                tail,
            };
            let bad = &mut bad;
            by_block!(V, b, |B| {
                if R::CHECK_NAN && s == 0 {
                    *bad = check_head::<V, B, _>(v, &items, *bad);
                }
                let out = windows::<V, R, B, _>(v, &items, true, bad);
                for (t, y) in out.into_iter().enumerate() {
                    v.store(dst.add((s + t) * l), y);
                }
            });
            s += b;
        }
    }
    bad
}

/// Fills the tap table `tab` of the block of `b` output rows from `o`: the count of its
/// in-input middle taps (entry 0), then the ring offsets of the head, tail and in-input
/// middle taps (padding taps: the identity row). Input row `r` sits in ring row
/// `r % ring_rows`.
///
/// # Safety
/// `tab` must hold `2b` entries plus the block's in-input middle taps.
unsafe fn fill_taps(
    job: &Job,
    (ring_rows, ring_row): (usize, usize),
    o: usize,
    b: usize,
    tab: *mut u32,
) {
    let kh = job.h.k;
    let first = o as isize - job.h.pad_begin as isize;
    let hin = job.h.input as isize;
    // The block's in-input rows are fewer than ring_rows: one division for the first, then
    // a wrap-around.
    let r0 = first.max(0) as usize;
    let s0 = r0 % ring_rows;
    let slot = |i: usize| -> u32 {
        let r = first + i as isize;
        let row = if r >= 0 && r < hin {
            let s = s0 + (r as usize - r0);
            if s >= ring_rows { s - ring_rows } else { s }
        } else {
            ring_rows
        };
        (row * ring_row) as u32
    };
    let m0 = (-first).clamp(b as isize - 1, kh as isize - 1) as usize;
    let m1 = (hin - first).clamp(m0 as isize, kh as isize - 1) as usize;
    // SAFETY: 2b + (m1 - m0) entries (caller).
    unsafe {
        // The count, not m0 itself: with huge windows tap indices exceed u32 (the ring
        // column numbers its middle taps from 0).
        *tab = (m1 - m0) as u32;
        let tab = tab.add(1);
        for t in 0..b - 1 {
            *tab.add(t) = slot(t);
        }
        for t in 0..b {
            *tab.add(b - 1 + t) = slot(kh - 1 + t);
        }
        for i in m0..m1 {
            *tab.add(2 * b - 1 + i - m0) = slot(i);
        }
    }
}

/// The tap tables of the tile's blocks of output rows, block `i` at `tab + i * stride`
/// (the same for every image, chunk and channel vector of the tile).
///
/// # Safety
/// `tab` must hold `split.blocks` tables of `stride` entries ([`Layout::tab_stride`]).
unsafe fn fill_tables(
    job: &Job,
    ring: (usize, usize),
    tile: &Tile,
    split: Split,
    (tab, stride): (*mut u32, usize),
) {
    let mut o = tile.oh.0;
    for i in 0..split.blocks {
        let b = split.at(i);
        // SAFETY: table i of the caller's; a block's middle taps are in-input rows of one
        // window, at most ring_rows of them, so 2b + ring_rows <= stride.
        unsafe { fill_taps(job, ring, o, b, tab.add(i * stride)) };
        o += b;
    }
}

/// H pass: output rows `o..o + B` of the chunk's columns, channel vector at channel `c`, from
/// the ring (the rows the block reads are in it): scale, clamp, result check, store.
///
/// # Safety
/// As [`run`]; the ring holds every in-input row of the block's windows; `tab` the
/// block's table ([`fill_taps`]).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn h_block<V: SimdF32, R: Sep<V>, const B: usize, const TAIL: bool, const CLAMP: bool>(
    v: V,
    job: &Job,
    cx: &Ctx<V>,
    (o, tab): (usize, *const u32),
    c: usize,
    tail: V::Tail,
    mut bad: V::Bad,
) -> V::Bad {
    let l = V::LANES;
    // SAFETY: the block's table (fill_taps).
    let (m0, m1, tab) = unsafe { (0, *tab as usize, tab.add(1)) };
    // SAFETY: output row o of image n, column ow0, channel c.
    let dst = unsafe {
        job.dst
            .add(cx.n * job.out_batch + o * job.out_row + cx.ow0 * job.out_pixel + c)
    };
    for j in 0..cx.cw {
        let col = RingColumn {
            // SAFETY: item j of ring row 0.
            base: unsafe { cx.ring.add(j * l) },
            tab,
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
    (hsplit, tab, stride): (Split, *const u32, usize),
    mut bad: V::Bad,
) -> V::Bad {
    let oh0 = tile.oh.0;
    let pb = job.h.pad_begin as isize;
    // The next input row the W pass has not reduced yet.
    let mut next = (oh0 as isize - pb).max(0) as usize;
    let mut next_slot = next % cx.ring_rows;
    let mut o = oh0;
    for i in 0..hsplit.blocks {
        let b = hsplit.at(i);
        let first = o as isize - pb;
        let need = (first + (job.h.k + b - 1) as isize).clamp(0, job.h.input as isize) as usize;
        // SAFETY: input rows below the input's height, rows and columns of the tile; the ring
        // keeps the last ring_rows rows reduced, which include every in-input row of this
        // block (ring_rows >= b + kh - 1, or the input's height).
        unsafe {
            while next < need {
                let slot = next_slot;
                bad = if R::DIRECT && cx.direct {
                    w_row_direct::<V, R, TAIL>(v, job, cx, (next, slot), c, tail, bad)
                } else {
                    w_row::<V, R, TAIL>(v, job, cx, (next, slot), c, tail, bad)
                };
                next += 1;
                next_slot = if next_slot + 1 == cx.ring_rows {
                    0
                } else {
                    next_slot + 1
                };
            }
            let tab = tab.add(i * stride);
            bad = by_block!(V, b, |B| h_block::<V, R, B, TAIL, CLAMP>(
                v,
                job,
                cx,
                (o, tab),
                c,
                tail,
                bad
            ));
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
    blocks: (Split, *const u32, usize),
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
    // first 64-byte boundary (ITEM floats of slack), the row buffer right after it.
    let (ring, buf, scales, tab, cols) = unsafe {
        let skip = tile.scratch.align_offset(64).min(ITEM);
        let ring = tile.scratch.add(skip);
        let buf = ring.add(parts.ring);
        let scales = tile.scratch.add(parts.scales);
        let tab = tile.scratch.add(parts.tab) as *mut u32;
        let c = tile.scratch.add(parts.cols);
        let cols = c.add(c.align_offset(8).min(1)) as *mut usize;
        (ring, buf, scales, tab, cols)
    };
    // The row buffer costs a store per input pixel; it pays where re-reading the blocks'
    // overlapping taps from the input misses L1, with long windows over wide pixels. Max, old
    // binary (always direct) against new (always copying), avx512, us: 20x20x512 13x13 70 ->
    // 61, 9x9 63 -> 62, 5x5 53 -> 57, 7x7 57 -> 58; 20x20x128 13x13 12.8 -> 10.7; 28x28x256
    // 9x9 55 -> 52; 56x56x64 13x13 54 -> 55, 9x9 45 -> 52. The average always copies (its
    // padding is an identity item there, not a branch per tap): 7x7 on 28x28x256 58 -> 52,
    // 56x56x64 62 -> 53, 112x112x32 124 -> 114.
    let direct = R::DIRECT && !(job.w.k >= 9 && job.in_pixel >= 128);
    let clamp = job.lo != f32::NEG_INFINITY || job.hi != f32::INFINITY;
    let bw = block(job.w.k, l);
    let hsplit = Split::new(tile.oh.1 - tile.oh.0, block(job.h.k, l));
    debug_assert!(hsplit.blocks <= lay.blocks);
    let Some(stride) = lay.tab_stride() else {
        unreachable!("the plan checked scratch_len")
    };
    // SAFETY: the tile's blocks, at most lay.blocks tables of stride entries.
    unsafe { fill_tables(job, (lay.ring_rows, ring_row), tile, hsplit, (tab, stride)) };
    let blocks = (hsplit, tab as *const u32, stride);
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
            // SAFETY: cw + kw - 1 <= the buffer's and the column table's items
            // (Layout::items); the columns are clamped into the input, so their offsets lie
            // inside an input row; the identity row is ring row ring_rows, of ring_row floats.
            unsafe {
                if direct {
                    let last = job.w.input as isize - 1;
                    for j in 0..items as usize {
                        let col = (iw0 + j as isize).clamp(0, last) as usize;
                        *cols.add(j) = col * job.in_pixel;
                    }
                } else {
                    for j in (0..ja).chain(jb..items as usize) {
                        v.store(buf.add(j * l), ident);
                    }
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
                oh0: tile.oh.0,
                ow0,
                cw,
                ja,
                jb,
                iw_first: (iw0 + ja as isize) as usize,
                direct,
                cols,
                buf,
                ring,
                ring_rows: lay.ring_rows,
                ring_row,
                wsplit: Split::new(cw, bw),
                scales,
                chunk: lay.chunk,
            };
            // SAFETY: the scale table holds tile_rows >= the tile's rows of chunk floats.
            let big = R::SCALE && unsafe { fill_scales(job, &cx, tile) };
            // SAFETY: forwarded contract.
            bad = unsafe {
                if clamp {
                    vectors::<V, R, true>(v, job, &cx, tile, blocks, bad)
                } else {
                    vectors::<V, R, false>(v, job, &cx, tile, blocks, bad)
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
