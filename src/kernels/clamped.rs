//! Stride-1 max windows by clamped indices: every output, borders included, runs the same
//! column code.
//!
//! A maximum does not change when one of its taps is taken twice. A window that holds at
//! least one input row and column can therefore read its out-of-input taps at the nearest
//! in-input row or column (the index clamped to the input), which is one of the window's own
//! taps: the result is the clipped window's maximum, bit for bit (up to the sign of a zero,
//! which SPEC leaves open). So the padding costs nothing: no border code, no generic rows,
//! which for a 5x5 window with padding 2 on a 20x20 image would be 28 % of the outputs.
//!
//! The walk is the one of [`super::window`]'s stride-1 kernels: two output rows at a time
//! (their `KH + 1` input rows loaded once per column, the `KH - 1` rows both windows cover
//! reduced once) and two outputs of a row per step (the `KW - 1` columns both cover combined
//! once). Per output vector of a 5x5 window: 3 loads, 4.5 maxima, 1.5 NaN compares, 1 store.
//! As there, lanes that met a NaN flag their rows for an exact recomputation
//! ([`super::exact::row`]).

use super::{Job, Tile};
use crate::simd::SimdF32;

/// The largest window side the kernel is built for (its row pointers and held columns are
/// fixed arrays of `MAX_K + 1`).
pub(crate) const MAX_K: usize = 7;
/// The most output rows reduced at once.
const MAX_GROUP: usize = 2;
/// Input rows a group of output rows spans.
const MAX_ROWS: usize = MAX_K + MAX_GROUP - 1;

/// Index `i` (possibly in the padding) clamped to the input `0..n`, `n > 0`.
#[inline(always)]
fn clamp_index(i: isize, n: usize) -> usize {
    // Not `isize::clamp`: its min <= max assertion kept it out of line, a call per column.
    (i.max(0) as usize).min(n - 1)
}

/// Runs the kernel over the tile.
///
/// # Safety
/// As [`super::generic::run`]; the job is a max pool with a `KH x KW` window, stride 1,
/// dilation 1.
#[inline(always)]
pub(crate) unsafe fn run<
    V: SimdF32,
    const KH: usize,
    const KW: usize,
    const U: usize,
    const GROUP: usize,
>(
    v: V,
    job: &Job,
    tile: &Tile,
) {
    const { assert!(KH >= 2 && KH <= MAX_K && KW >= 3 && KW <= MAX_K && U >= 1) };
    const { assert!(GROUP >= 1 && GROUP <= KH && GROUP <= MAX_GROUP) };
    debug_assert!(job.h.k == KH && job.w.k == KW && job.h.s == 1 && job.w.s == 1);
    debug_assert!(job.h.d == 1 && job.w.d == 1);
    // Plans reject windows wholly in padding (geometry::axis), so every window holds an
    // input row and column: the clamped index is always one of the window's own taps.
    let (h, w) = (job.h, job.w);
    let no_clamp = job.lo == f32::NEG_INFINITY && job.hi == f32::INFINITY;
    for n in tile.n.0..tile.n.1 {
        let mut oh = tile.oh.0;
        while oh < tile.oh.1 {
            // SAFETY (all calls below): batch n, rows oh.. and the tile's channels are inside
            // the output; the row pointers are rows of image n (indices clamped to the input).
            unsafe {
                // Whole groups of GROUP rows; a shorter rest of the tile one row at a time.
                let rows = if oh + GROUP <= tile.oh.1 { GROUP } else { 1 };
                let base = job.src.add(n * job.in_batch);
                let mut rp = [base; MAX_ROWS];
                for (r, p) in rp.iter_mut().enumerate().take(KH + rows - 1) {
                    let ih = clamp_index(h.start(oh) + r as isize, h.input);
                    *p = base.add(ih * job.in_row);
                }
                let dst = job.dst.add(n * job.out_batch + oh * job.out_row);
                // Groups without a clamped row address their rows by stride: a table of row
                // pointers costs a load per row and column.
                let top = h.start(oh);
                let uniform = top >= 0 && top as usize + KH + rows - 1 <= h.input;
                macro_rules! go {
                    ($rows:expr, $clamp:literal, $uniform:literal) => {
                        channels::<V, KH, KW, U, { $rows }, $clamp, $uniform>(
                            v, job, &rp, dst, tile.c,
                        )
                    };
                }
                let bad = match (rows == GROUP, no_clamp, uniform) {
                    (true, true, true) => go!(GROUP, false, true),
                    (true, false, true) => go!(GROUP, true, true),
                    (true, _, false) => go!(GROUP, true, false),
                    (false, _, _) => go!(1, true, false),
                };
                if bad {
                    for o in oh..oh + rows {
                        super::exact::row(job, n, o, 0, w.out, tile.c);
                    }
                }
                oh += rows;
            }
        }
    }
}

/// One output row (or row pair) over the channels `c0..c1`: strips of `U` vectors, then
/// single vectors, then a masked tail. Returns whether a NaN was met.
#[inline(always)]
unsafe fn channels<
    V: SimdF32,
    const KH: usize,
    const KW: usize,
    const U: usize,
    const ROWS: usize,
    const CLAMP: bool,
    const UNIFORM: bool,
>(
    v: V,
    job: &Job,
    rp: &[*const f32; MAX_ROWS],
    dst: *mut f32,
    (c0, c1): (usize, usize),
) -> bool {
    let l = V::LANES;
    let full = v.tail(1); // unused by unmasked strips
    let mut bad = v.bad_init();
    let mut c = c0;
    // SAFETY (all strips): channel ranges inside c0..c1 <= C; rows and columns as the
    // caller's.
    unsafe {
        while c + U * l <= c1 {
            bad = strip::<V, KH, KW, U, ROWS, false, CLAMP, UNIFORM>(v, job, rp, dst, c, full, bad);
            c += U * l;
        }
        while c + l <= c1 {
            bad = strip::<V, KH, KW, 1, ROWS, false, CLAMP, UNIFORM>(v, job, rp, dst, c, full, bad);
            c += l;
        }
        if c < c1 {
            let t = v.tail(c1 - c);
            bad = strip::<V, KH, KW, 1, ROWS, true, CLAMP, UNIFORM>(v, job, rp, dst, c, t, bad);
        }
    }
    v.bad_any(bad)
}

/// Input column `off` (element offset of its pixel and channel within a row) reduced over
/// the window rows of each of `ROWS` output rows, for `U` vectors: the rows both windows of
/// a pair cover are reduced once. Marks NaN lanes in `bad`.
#[allow(clippy::needless_range_loop)]
#[inline(always)]
unsafe fn column<
    V: SimdF32,
    const KH: usize,
    const U: usize,
    const ROWS: usize,
    const MASKED: bool,
    const UNIFORM: bool,
>(
    v: V,
    rp: &[*const f32; MAX_ROWS],
    ir: usize,
    off: usize,
    tail: V::Tail,
    bad: &mut [V::Bad; U],
) -> [[V::V; U]; ROWS] {
    let nr = KH + ROWS - 1;
    let mut out = [[v.splat(0.0); U]; ROWS];
    for u in 0..U {
        let mut x = [v.splat(0.0); MAX_ROWS];
        for r in 0..nr {
            // SAFETY: rp[r] is an input row and `off` a pixel and channel of it (caller).
            x[r] = unsafe {
                let row = if UNIFORM { rp[0].add(r * ir) } else { rp[r] };
                let p = row.add(off + u * V::LANES);
                if MASKED {
                    v.load_tail(p, tail)
                } else {
                    v.load(p)
                }
            };
        }
        // A short local chain per vector, then one OR into its own accumulator.
        let mut b = v.bad_check(v.bad_init(), x[0], x[1]);
        let mut r = 2;
        while r < nr {
            b = v.bad_check(b, x[r], x[if r + 1 < nr { r + 1 } else { r }]);
            r += 2;
        }
        bad[u] = v.bad_or(bad[u], b);
        if ROWS == 1 {
            let mut m = x[0];
            for &xr in &x[1..KH] {
                m = v.max(m, xr);
            }
            out[0][u] = m;
        } else {
            // Rows ROWS - 1..KH lie in every window of the group: reduced once.
            let mut common = x[ROWS - 1];
            for &xr in &x[ROWS..KH] {
                common = v.max(common, xr);
            }
            for (row, o) in out.iter_mut().enumerate() {
                let mut m = common;
                for &xr in &x[row..ROWS - 1] {
                    m = v.max(m, xr);
                }
                for &xr in &x[KH..KH + row] {
                    m = v.max(m, xr);
                }
                o[u] = m;
            }
        }
    }
    out
}

/// `U` channel vectors (or one masked tail vector) at channel `c` across the whole output
/// row (or row pair).
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
#[inline(always)]
unsafe fn strip<
    V: SimdF32,
    const KH: usize,
    const KW: usize,
    const U: usize,
    const ROWS: usize,
    const MASKED: bool,
    const CLAMP: bool,
    const UNIFORM: bool,
>(
    v: V,
    job: &Job,
    rp: &[*const f32; MAX_ROWS],
    dst: *mut f32,
    c: usize,
    tail: V::Tail,
    bad_in: V::Bad,
) -> V::Bad {
    let (lo, hi) = (v.splat(job.lo), v.splat(job.hi));
    let (w, ir) = (job.w, job.in_row);
    let out = w.out;
    // Column e of the padded row (output ow's window is columns ow..ow + KW) at its clamped
    // input column.
    let off = |e: usize| clamp_index(e as isize - w.pad_begin as isize, w.input) * job.in_pixel + c;
    let mut bad = [v.bad_init(); U];
    let zero = [[v.splat(0.0); U]; ROWS];
    let mut cols = [zero; MAX_K + 1];
    // SAFETY (all column and emit calls): column offsets clamped into the input row;
    // outputs ow < out of the caller's rows; channels c + u*l (+ the tail) inside C.
    unsafe {
        for j in 0..KW - 1 {
            cols[j] = column::<V, KH, U, ROWS, MASKED, UNIFORM>(v, rp, ir, off(j), tail, &mut bad);
        }
        let mut ow = 0;
        while ow + 2 <= out {
            cols[KW - 1] = column::<V, KH, U, ROWS, MASKED, UNIFORM>(
                v,
                rp,
                ir,
                off(ow + KW - 1),
                tail,
                &mut bad,
            );
            cols[KW] =
                column::<V, KH, U, ROWS, MASKED, UNIFORM>(v, rp, ir, off(ow + KW), tail, &mut bad);
            for row in 0..ROWS {
                for u in 0..U {
                    let mut mid = cols[1][row][u];
                    for col in &cols[2..KW] {
                        mid = v.max(mid, col[row][u]);
                    }
                    let at = dst.add(row * job.out_row + ow * job.out_pixel + c + u * V::LANES);
                    let first = v.max(cols[0][row][u], mid);
                    let second = v.max(mid, cols[KW][row][u]);
                    emit::<V, MASKED, CLAMP>(v, at, first, lo, hi, tail);
                    emit::<V, MASKED, CLAMP>(v, at.add(job.out_pixel), second, lo, hi, tail);
                }
            }
            for j in 0..KW - 1 {
                cols[j] = cols[j + 2];
            }
            ow += 2;
        }
        if ow < out {
            cols[KW - 1] = column::<V, KH, U, ROWS, MASKED, UNIFORM>(
                v,
                rp,
                ir,
                off(ow + KW - 1),
                tail,
                &mut bad,
            );
            for row in 0..ROWS {
                for u in 0..U {
                    let mut m = cols[0][row][u];
                    for col in &cols[1..KW] {
                        m = v.max(m, col[row][u]);
                    }
                    let at = dst.add(row * job.out_row + ow * job.out_pixel + c + u * V::LANES);
                    emit::<V, MASKED, CLAMP>(v, at, m, lo, hi, tail);
                }
            }
        }
    }
    let mut all = bad_in;
    for b in bad {
        all = v.bad_or(all, b);
    }
    all
}

/// Clamps (when asked) and stores one output vector at `p`.
#[inline(always)]
unsafe fn emit<V: SimdF32, const MASKED: bool, const CLAMP: bool>(
    v: V,
    p: *mut f32,
    y: V::V,
    lo: V::V,
    hi: V::V,
    tail: V::Tail,
) {
    let y = if CLAMP { v.clamp(y, lo, hi) } else { y };
    // SAFETY: an output vector of the caller's rows, channels inside C (caller).
    unsafe {
        if MASKED {
            v.store_tail(p, y, tail)
        } else {
            v.store(p, y)
        }
    }
}
