//! Kernels specialised for one window (`KH x KW`, stride `SH x SW`, dilation 1, any padding).
//!
//! Each output row is split into a left border, an interior and a right border. The interior
//! has no padding logic at all: for a block of `U` channel vectors it reduces each input
//! column's `KH` rows once into a "column" value and keeps the last `KW` columns in registers,
//! so a column shared by neighbouring windows (`SW < KW`) is loaded and reduced once. Each
//! output vector is stored once. Where windows overlap vertically (`SH < KH`) two output rows
//! are reduced at once, the input rows both windows cover loaded once; at stride 1 two
//! outputs of a row are also produced per step, the columns both windows cover combined once.
//!
//! Padding 1 costs little more than the interior: a row whose window loses one row to the
//! padding runs the same column code with that row left out (paired with its neighbour), and
//! at stride 1 the border output each side that loses one column is combined from columns
//! the strip holds anyway. Other borders (wider padding, stride 2 along W, ceil mode) go
//! through the any-window code ([`generic::row`]), pixel by pixel, which costs several times
//! the interior per vector.
//!
//! Max: `vmaxps`-style maxima do not propagate NaN, so while reducing, the interior also
//! marks lanes that met a NaN; sums mark results their reduction flags ([`Reduce::check`]).
//! A row interior with a marked lane is recomputed exactly ([`super::exact::row`]). NaN-free
//! data pays one compare per two loads and nothing else.

use super::generic::{self, Reduce};
use super::{Job, Tile};
use crate::simd::SimdF32;

/// A reduction the window kernels can run column-wise.
pub(crate) trait Columns<V: SimdF32>: Reduce<V> {
    /// Whether interior inputs need the NaN check (max: `vmaxps` drops NaN).
    const CHECK_NAN: bool;
    /// A column's first tap, mapped (`x`, `x*x`, `|x|`).
    fn first(v: V, x: V::V) -> V::V;
    /// Folds a further tap of the column in.
    fn fold(v: V, acc: V::V, x: V::V) -> V::V;
    /// Combines two columns (`max` or `+`).
    fn combine(v: V, a: V::V, b: V::V) -> V::V;
    /// The output from the reduced window and the interior's scale.
    fn output(v: V, x: V::V, scale: V::V) -> V::V;
    /// The result check of the column code, for rows whose scales are at most 0.5: the sum
    /// only reaches `2^127` by overflowing, so NaN, infinity and subnormals are enough (on
    /// AVX-512 one `vfpclassps`, without an absolute value, a compare and a mask OR: avg 3x3
    /// s1 p1 on 35x35x192 and 28x28x256 in 0.83-0.93x the time, same process). Rows with a
    /// larger scale also take [`super::exact::any_huge`].
    #[inline(always)]
    fn check_column(v: V, bad: V::Bad, y: V::V) -> V::Bad {
        Self::check(v, bad, y)
    }
    /// Whether results scaled by `scale` need [`super::exact::any_huge`] after
    /// [`Columns::check_column`].
    fn needs_huge_pass(_scale: f32) -> bool {
        false
    }
}

/// Whether the kernel for `kh` rows at stride `sh` reduces two output rows at once (they
/// share `kh - sh` input rows); the partition gives such plans an even number of rows per tile.
pub(crate) const fn pairs_rows(kh: usize, sh: usize) -> bool {
    sh < kh
}

/// Where the output sits for the stride-1 row-pair walk's stores to alias the loads that
/// follow them: on this CPU (Zen 4) a load waits for an older store whose address has the
/// same bits 11..0 (4 KiB aliasing). With every stride a multiple of `g` = 1 or 2 KiB (256 or
/// 512 channels, and the rows and images too), input pixels 4 or 2 apart share their low 12
/// bits, so when the output starts within a strip's width of the input modulo `g`, nearly
/// every load meets such a store. Returns `g` and the output's distance in bytes from the
/// nearest multiple of `g` from the input, or `None` where `g` is under 1 KiB (35x35x192, `g`
/// = 256 bytes: 35.2-35.8 us at every distance). Page-aligned buffers, which sit a multiple
/// of 4 KiB apart, are at distance 0. The one-row walk suffers far less. Measured with
/// `examples/alias.rs`, max 3x3 s1, output - input modulo 4 KiB = 0 / 2048 bytes (the pair
/// walk at 128 or 256 bytes for comparison), pair walk -> one-row walk, us:
///
/// | tier | 20x20x512 | 56x56x256 | pair walk, 256 B apart |
/// |---|---|---|---|
/// | avx512 | 76 / 73 -> 45 / 45 | 178 / 195 -> 146 / 153 | 29.5 / 113 |
/// | avx2 | 98 / 96 -> 69 / 68 | 230 / 228 -> 189 / 191 | 43 / 138 |
/// | baseline | 193 / 189 -> 95 / 94 | 373 / 367 -> 289 / 297 | 75 / 234 |
///
/// At 64 bytes (one line) the pair walk is slower only on avx512 at 512 channels (71 against
/// 42 us; a strip there is two lines wide), and faster in the other five cases (e.g. avx2
/// 56x56x256 140 against 187).
pub(crate) fn alias_gap(job: &Job) -> Option<(usize, usize)> {
    let f = core::mem::size_of::<f32>();
    let strides = [
        job.in_pixel,
        job.out_pixel,
        job.in_row,
        job.out_row,
        job.in_batch,
        job.out_batch,
    ];
    let g = strides
        .iter()
        .fold(4096, |g, &s| crate::geometry::gcd(g, s.wrapping_mul(f)));
    if g < 1024 {
        return None;
    }
    let d = (job.dst as usize).wrapping_sub(job.src as usize) % g;
    Some((g, d.min(g - d)))
}

/// Whether the stride-1 3x3 kernels walk one row at a time ([`alias_gap`]): within a line of
/// the input modulo `g`, and within two lines on avx512 with `g` = 2 KiB.
fn one_row_walk<V: SimdF32>(job: &Job) -> bool {
    alias_gap(job).is_some_and(|(g, d)| d < 64 || (V::LANES >= 16 && g >= 2048 && d < 128))
}

/// Runs the specialised kernel over the tile.
///
/// # Safety
/// As [`generic::run`]; the job's window must be `KH x KW` with stride `SH x SW`, dilation 1.
#[inline(always)]
pub(crate) unsafe fn run<
    V: SimdF32,
    R: Columns<V>,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
>(
    v: V,
    job: &Job,
    tile: &Tile,
) {
    debug_assert!(job.h.k == KH && job.w.k == KW && job.h.s == SH && job.w.s == SW);
    debug_assert!(job.h.d == 1 && job.w.d == 1);
    // AVX-512 has 32 vector registers: 4 channel vectors x KW columns fit; 16-register tiers
    // take 2, unless the window is at most 2 columns wide (2 x 4 columns held).
    // SAFETY: forwarded contract.
    unsafe {
        if SH == 1 && pairs_rows(KH, SH) {
            // Stride 1 (3x3): two rows at a time load 4 input rows per column instead of 6 and
            // reduce the middle two once; two columns at a time combine the shared middle
            // once. 2 channel vectors per strip on every tier: same process, interleaved,
            // against the 1-row kernel (4 vectors on avx512, 2 below): avx512 max 0.87x
            // (56x56x256) and 0.89x (20x20x512), avg 0.88x (35x35x192) and 0.91x (28x28x256);
            // avx2 0.86x / 0.91x / 0.92x / 0.97x; baseline (SSE2) 0.95x / 0.92x / 1.00x / 1.00x.
            // Where its stores alias its loads (one_row_walk), the rows of each pair run one
            // at a time, 4 channel vectors per strip, the first with the pair's association,
            // so no result depends on the placement. Against max's own one-row walk and the
            // average's pair walk on avx2 and baseline (20x20x512 at 0 / 2048 B, us, two
            // runs): avx512 max 42.5-44.3 -> 37.8; avx2 max 66-81 -> 66-76, avg 95 -> 69-74;
            // baseline max 91-96 -> 99-108, avg 162-168 -> 119-134.
            if one_row_walk::<V>(job) {
                run_u::<V, R, KH, KW, SH, SW, 4, 2, true>(v, job, tile)
            } else {
                run_u::<V, R, KH, KW, SH, SW, 2, 2, false>(v, job, tile)
            }
        } else if pairs_rows(KH, SH) {
            // Neighbouring output rows share KH - SH input rows: two rows at a time load them
            // once (3x3 s2: 5 loads per 2 columns instead of 6). Measured on the stem: max
            // 63 -> 57 us with 4 vectors per strip; sums (no NaN check) do best with 2
            // (lp2_3s2_56x64 13.4 -> 11.5 us).
            if V::LANES >= 16 && R::CHECK_NAN {
                run_u::<V, R, KH, KW, SH, SW, 4, 2, false>(v, job, tile)
            } else if V::LANES >= 16 {
                run_u::<V, R, KH, KW, SH, SW, 2, 2, false>(v, job, tile)
            } else {
                run_u::<V, R, KH, KW, SH, SW, 1, 2, false>(v, job, tile)
            }
        } else if V::LANES >= 16 || KW <= 2 {
            run_u::<V, R, KH, KW, SH, SW, 4, 1, false>(v, job, tile)
        } else {
            run_u::<V, R, KH, KW, SH, SW, 2, 1, false>(v, job, tile)
        }
    }
}

/// Border outputs a stride-1 strip computes from the columns it holds: the output left of the
/// interior and the one right of it, each missing one window column to the padding, with
/// their scales per row (the divisor of a clipped window differs).
#[derive(Clone, Copy)]
struct Edges {
    left: bool,
    right: bool,
    scale_left: [f32; 2],
    scale_right: [f32; 2],
}

#[inline(always)]
unsafe fn run_u<
    V: SimdF32,
    R: Columns<V>,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const U: usize,
    const ROWS: usize,
    const SPLIT: bool,
>(
    v: V,
    job: &Job,
    tile: &Tile,
) {
    let (ow_lo, ow_hi) = job.w.interior();
    let ow_out = job.w.out;
    let no_clamp = job.lo == f32::NEG_INFINITY && job.hi == f32::INFINITY;
    // Stride 1 along W: the one output each side whose window loses one column to the
    // padding is combined from the columns the strip holds anyway.
    let edge_l = SW == 1 && ow_lo < ow_hi && ow_lo == 1 && job.w.taps(0) == (1, KW);
    let edge_r =
        SW == 1 && ow_lo < ow_hi && ow_out == ow_hi + 1 && job.w.taps(ow_hi) == (0, KW - 1);
    let (ow_a, ow_b) = (
        if edge_l { 0 } else { ow_lo },
        if edge_r { ow_out } else { ow_hi },
    );
    // Window rows of output row `o` above and below the input; rows losing at most one
    // (and no more than the stride, so that a row pair still shares the rest) run through
    // the column code, the others through the any-window code.
    let clip = |o: usize| {
        let (t0, t1) = job.h.taps(o);
        (t0, KH - t1)
    };
    let fits = |o: usize| {
        let (ct, cb) = clip(o);
        ow_lo < ow_hi && ct + cb <= 1 && ct + cb < KH
    };
    for n in tile.n.0..tile.n.1 {
        let mut oh = tile.oh.0;
        while oh < tile.oh.1 {
            // SAFETY (all calls below): rows, columns and channels inside the tile and the
            // output; the rows the column code loads are the in-input rows of the windows
            // (Axis::taps), its columns those of outputs ow_a..ow_b (Axis::interior, and the
            // edges' conditions above).
            unsafe {
                if !fits(oh) {
                    generic::row::<V, R>(v, job, n, oh, 0, ow_out, tile.c);
                    oh += 1;
                    continue;
                }
                let (ct, cb0) = clip(oh);
                // A pair shares the rows between its windows: the first row may lose its top
                // row, the second its bottom one, not the other way round.
                let pair = ROWS == 2
                    && cb0 == 0
                    && oh + 1 < tile.oh.1
                    && fits(oh + 1)
                    && clip(oh + 1).0 == 0
                    && !(ct == 1 && clip(oh + 1).1 == 1);
                if !pair && ct == 1 {
                    // A lone top row (a one-row tile): not worth an instantiation.
                    generic::row::<V, R>(v, job, n, oh, 0, ow_out, tile.c);
                    oh += 1;
                    continue;
                }
                let rows = if pair { 2 } else { 1 };
                let cb = clip(oh + rows - 1).1;
                for o in oh..oh + rows {
                    generic::row::<V, R>(v, job, n, o, 0, ow_a, tile.c);
                    generic::row::<V, R>(v, job, n, o, ow_b, ow_out, tile.c);
                }
                let ih0 = oh * SH + ct - job.h.pad_begin;
                let iw0 = ow_lo * SW - job.w.pad_begin;
                let src = job
                    .src
                    .add(n * job.in_batch + ih0 * job.in_row + iw0 * job.in_pixel);
                let dst = job
                    .dst
                    .add(n * job.out_batch + oh * job.out_row + ow_lo * job.out_pixel);
                let th = |r: usize| job.h.taps(oh + r.min(rows - 1));
                let row_scale =
                    |r: usize| R::scale(job, oh + r.min(rows - 1), ow_lo, th(r), (0, KW));
                let scales = [0, 1].map(|r| v.splat(row_scale(r)));
                let edges = Edges {
                    left: edge_l,
                    right: edge_r,
                    scale_left: [0, 1].map(|r| {
                        if edge_l {
                            R::scale(job, oh + r.min(rows - 1), 0, th(r), (1, KW))
                        } else {
                            1.0
                        }
                    }),
                    scale_right: [0, 1].map(|r| {
                        if edge_r {
                            R::scale(job, oh + r.min(rows - 1), ow_hi, th(r), (0, KW - 1))
                        } else {
                            1.0
                        }
                    }),
                };
                let count = ow_hi - ow_lo;
                macro_rules! go {
                    ($rows:literal, $clamp:literal, $ct:literal, $cb:literal) => {
                        interior::<V, R, KH, KW, SH, SW, U, $rows, $clamp, $ct, $cb, false>(
                            v, job, src, dst, count, tile.c, scales, edges,
                        )
                    };
                }
                // The clamp costs two operations per vector: left out when it is the identity.
                // Clipped rows (two per image at most) always clamp: fewer instantiations.
                // A pair split into its rows where stores alias loads: the first with the
                // pair's association, so that the sums do not depend on the placement.
                macro_rules! one {
                    ($src:expr, $dst:expr, $r:literal, $first:literal, $clamp:literal, $ct:literal, $cb:literal) => {
                        interior::<V, R, KH, KW, SH, SW, U, 1, $clamp, $ct, $cb, $first>(
                            v,
                            job,
                            $src,
                            $dst,
                            count,
                            tile.c,
                            [scales[$r]; 2],
                            Edges {
                                scale_left: [edges.scale_left[$r]; 2],
                                scale_right: [edges.scale_right[$r]; 2],
                                ..edges
                            },
                        )
                    };
                }
                let bad = if SPLIT && pair {
                    // The second row's window starts inside the input (the pair's condition).
                    let ih1 = (oh + 1) * SH - job.h.pad_begin;
                    let src1 = job
                        .src
                        .add(n * job.in_batch + ih1 * job.in_row + iw0 * job.in_pixel);
                    let dst1 = dst.add(job.out_row);
                    let first = match (no_clamp, ct) {
                        (true, 0) => one!(src, dst, 0, true, false, 0, 0),
                        (false, 0) => one!(src, dst, 0, true, true, 0, 0),
                        _ => one!(src, dst, 0, true, true, 1, 0),
                    };
                    let second = match (no_clamp, cb) {
                        (true, 0) => one!(src1, dst1, 1, false, false, 0, 0),
                        (false, 0) => one!(src1, dst1, 1, false, true, 0, 0),
                        _ => one!(src1, dst1, 1, false, true, 0, 1),
                    };
                    first | second
                } else {
                    match (pair, no_clamp, ct, cb) {
                        (true, true, 0, 0) => go!(2, false, 0, 0),
                        (true, false, 0, 0) => go!(2, true, 0, 0),
                        (false, true, 0, 0) => go!(1, false, 0, 0),
                        (false, false, 0, 0) => go!(1, true, 0, 0),
                        (true, _, 1, _) => go!(2, true, 1, 0),
                        (true, _, _, _) => go!(2, true, 0, 1),
                        (false, _, _, _) => go!(1, true, 0, 1),
                    }
                };
                // Rows with a scale over 0.5 also need the 2^127 bound (Columns::check_column).
                let big =
                    |s: &[f32; 2], on: bool| on && s[..rows].iter().any(|&s| R::needs_huge_pass(s));
                let huge_pass = R::CHECK_RESULT
                    && (big(&[0, 1].map(row_scale), true)
                        || big(&edges.scale_left, edge_l)
                        || big(&edges.scale_right, edge_r));
                let bad = bad
                    || (huge_pass
                        && super::exact::any_huge(job, n, oh..oh + rows, ow_a..ow_b, tile.c));
                if (R::CHECK_NAN || R::CHECK_RESULT) && bad {
                    for o in oh..oh + rows {
                        super::exact::row(job, n, o, ow_a, ow_b, tile.c);
                    }
                }
                oh += rows;
            }
        }
    }
}

/// The interior of one output row (or of a row pair), and its edges: `count` outputs whose
/// first window's first in-input row and column are at `src`. Returns whether a NaN was met
/// (only tracked when `R::CHECK_NAN`) or a result was flagged.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn interior<
    V: SimdF32,
    R: Columns<V>,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const U: usize,
    const ROWS: usize,
    const CLAMP: bool,
    const CT: usize,
    const CB: usize,
    const FIRST: bool,
>(
    v: V,
    job: &Job,
    src: *const f32,
    dst: *mut f32,
    count: usize,
    (c0, c1): (usize, usize),
    scales: [V::V; 2],
    edges: Edges,
) -> bool {
    let l = V::LANES;
    let mut bad = v.bad_init();
    // Windows that share no column (2x2 s2) keep nothing between a strip's outputs: walk the
    // row pixel by pixel instead, every channel block of a pixel in turn, so that the input
    // rows are read in address order (wide pixels were read in column strips).
    let by_pixel = SW == KW && ROWS == 1;
    let (pieces, per) = if by_pixel { (count, 1) } else { (1, count) };
    let full = v.tail(1); // unused by unmasked strips
    for piece in 0..pieces {
        // SAFETY: output `piece` of the interior and its window's first column (caller).
        let (src, dst) = unsafe {
            (
                src.add(piece * SW * job.in_pixel),
                dst.add(piece * job.out_pixel),
            )
        };
        let mut c = c0;
        // SAFETY (all strips): channel ranges inside [c0, c1) <= C; rows and columns inside the
        // interior (caller).
        unsafe {
            while c + U * l <= c1 {
                bad = strip::<V, R, KH, KW, SH, SW, U, ROWS, false, CLAMP, CT, CB, FIRST>(
                    v, job, src, dst, per, c, full, scales, edges, bad,
                );
                c += U * l;
            }
            while c + l <= c1 {
                bad = strip::<V, R, KH, KW, SH, SW, 1, ROWS, false, CLAMP, CT, CB, FIRST>(
                    v, job, src, dst, per, c, full, scales, edges, bad,
                );
                c += l;
            }
            if c < c1 {
                let t = v.tail(c1 - c);
                bad = strip::<V, R, KH, KW, SH, SW, 1, ROWS, true, CLAMP, CT, CB, FIRST>(
                    v, job, src, dst, per, c, t, scales, edges, bad,
                );
            }
        }
    }
    v.bad_any(bad)
}

/// Input column `iw` (relative to `src`) reduced over the `KH` rows of each of `ROWS` output
/// rows (the second starting `SH` rows lower; rows both windows cover are reduced once), for
/// `U` channel vectors at channel `c`. The first output row's window loses its top `CT` rows
/// to the padding and the last one its bottom `CB` rows: `src` is the first row loaded.
/// Marks NaN lanes in `bad` when `R::CHECK_NAN`.
///
/// No closures here or in [`strip`]: a closure is a separate function compiled without the
/// shim's target features unless inlined, and LLVM is not obliged to inline it.
// Index loops, not iterator chains: in a kernel this large LLVM stopped inlining
// `Take::nth` (an out-of-line call per column, the columns spilled to the stack).
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
#[inline(always)]
unsafe fn column<
    V: SimdF32,
    R: Columns<V>,
    const KH: usize,
    const SH: usize,
    const U: usize,
    const ROWS: usize,
    const MASKED: bool,
    const CT: usize,
    const CB: usize,
    const FIRST: bool,
>(
    v: V,
    src: *const f32,
    ir: usize,
    ip: usize,
    iw: usize,
    c: usize,
    tail: V::Tail,
    bad: &mut [V::Bad; U],
) -> [[V::V; U]; ROWS] {
    let l = V::LANES;
    // Window rows CT..nr - CB are loaded (row CT at `src`).
    let nr = KH + (ROWS - 1) * SH;
    let (r0, r1) = (CT, nr - CB);
    let mut out = [[v.splat(0.0); U]; ROWS];
    for u in 0..U {
        let mut x = [v.splat(0.0); MAX_ROWS];
        for r in r0..r1 {
            // SAFETY: rows r0..r1 of the windows and column iw of the interior are inside
            // the input; channel c + u*l (+ the tail) is inside C (caller).
            x[r] = unsafe {
                let p = src.add((r - r0) * ir + iw * ip + c + u * l);
                if MASKED {
                    v.load_tail(p, tail)
                } else {
                    v.load(p)
                }
            };
        }
        if R::CHECK_NAN {
            // A short local chain, then one OR into this vector's own accumulator: one long
            // chain through a single mask register would serialise the whole strip.
            let mut b = v.bad_check(
                v.bad_init(),
                x[r0],
                x[if r1 > r0 + 1 { r0 + 1 } else { r0 }],
            );
            let mut r = r0 + 2;
            while r < r1 {
                b = v.bad_check(b, x[r], x[if r + 1 < r1 { r + 1 } else { r }]);
                r += 2;
            }
            bad[u] = v.bad_or(bad[u], b);
        }
        if ROWS == 1 && FIRST && SH < KH {
            // The first row of a pair, computed alone: the pair's association (rows SH..KH,
            // then CT..SH), so that the sums do not depend on which walk ran.
            let mut acc = R::first(v, x[SH]);
            for &xr in &x[SH + 1..KH] {
                acc = R::fold(v, acc, xr);
            }
            for &xr in &x[CT..SH] {
                acc = R::fold(v, acc, xr);
            }
            out[0][u] = acc;
        } else if ROWS == 1 || SH >= KH {
            for (row, o) in out.iter_mut().enumerate() {
                let a = row * SH + if row == 0 { CT } else { 0 };
                let b = row * SH + KH - if row == ROWS - 1 { CB } else { 0 };
                let mut acc = R::first(v, x[a]);
                for &xr in &x[a + 1..b] {
                    acc = R::fold(v, acc, xr);
                }
                o[u] = acc;
            }
        } else {
            // Rows SH..KH belong to both windows (CT, CB <= 1 <= SH: the clipped rows are
            // not among them).
            let mut common = R::first(v, x[SH]);
            for &xr in &x[SH + 1..KH] {
                common = R::fold(v, common, xr);
            }
            let mut a = common;
            for &xr in &x[CT..SH] {
                a = R::fold(v, a, xr);
            }
            let mut b2 = common;
            for &xr in &x[KH..KH + SH - CB] {
                b2 = R::fold(v, b2, xr);
            }
            out[0][u] = a;
            out[1][u] = b2;
        }
    }
    out
}

/// Input rows a column may span (two output rows of the largest specialised window).
const MAX_ROWS: usize = 8;
/// Columns a strip holds: the widest specialised window plus the one a two-output step adds.
const MAX_COLS: usize = 4;

/// `U` channel vectors (or one masked tail vector) at channel `c` across the row interior,
/// and the edge outputs `edges` asks for.
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
#[inline(always)]
unsafe fn strip<
    V: SimdF32,
    R: Columns<V>,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const U: usize,
    const ROWS: usize,
    const MASKED: bool,
    const CLAMP: bool,
    const CT: usize,
    const CB: usize,
    const FIRST: bool,
>(
    v: V,
    job: &Job,
    src: *const f32,
    dst: *mut f32,
    count: usize,
    c: usize,
    tail: V::Tail,
    scales: [V::V; 2],
    edges: Edges,
    bad_in: V::Bad,
) -> V::Bad {
    let (lo, hi) = (v.splat(job.lo), v.splat(job.hi));
    let (ir, ip) = (job.in_row, job.in_pixel);
    let mut bad = [v.bad_init(); U];
    const { assert!(SW <= KW && KW < MAX_COLS && KH + SH <= MAX_ROWS && CT <= SH && CB <= SH) };
    let zero = [[v.splat(0.0); U]; ROWS];
    let mut cols = [zero; MAX_COLS];
    // SAFETY (all `column` and `emit` calls): column ow*SW + j belongs to output ow of the
    // interior (caller), output ow < count; the edge outputs are the ones left of the
    // interior and right of it, in the output (caller).
    unsafe {
        for j in 0..KW - SW {
            cols[j] = column::<V, R, KH, SH, U, ROWS, MASKED, CT, CB, FIRST>(
                v, src, ir, ip, j, c, tail, &mut bad,
            );
        }
        if SW == 1 && edges.left {
            // Its window: the first KW - 1 columns, all held.
            edge::<V, R, KW, U, ROWS, MASKED, CLAMP>(
                v,
                job,
                &cols,
                dst.sub(job.out_pixel),
                c,
                edges.scale_left,
                (lo, hi),
                tail,
                &mut bad,
            );
        }
        let mut ow = 0;
        if SW == 1 && KW >= 3 {
            // Two outputs per step share the middle KW - 1 columns: reduced once (3x3: 3
            // combines per two outputs instead of 4).
            while ow + 2 <= count {
                for j in KW - 1..KW + 1 {
                    cols[j] = column::<V, R, KH, SH, U, ROWS, MASKED, CT, CB, FIRST>(
                        v,
                        src,
                        ir,
                        ip,
                        ow + j,
                        c,
                        tail,
                        &mut bad,
                    );
                }
                for row in 0..ROWS {
                    for u in 0..U {
                        let mut mid = cols[1][row][u];
                        for col in &cols[2..KW] {
                            mid = R::combine(v, mid, col[row][u]);
                        }
                        let first = R::combine(v, cols[0][row][u], mid);
                        let second = R::combine(v, mid, cols[KW][row][u]);
                        let at = dst.add(row * job.out_row + ow * job.out_pixel + c + u * V::LANES);
                        let s = scales[row];
                        emit::<V, R, MASKED, CLAMP>(v, at, first, s, lo, hi, tail, &mut bad[u]);
                        emit::<V, R, MASKED, CLAMP>(
                            v,
                            at.add(job.out_pixel),
                            second,
                            s,
                            lo,
                            hi,
                            tail,
                            &mut bad[u],
                        );
                    }
                }
                for j in 0..KW - 1 {
                    cols[j] = cols[j + 2];
                }
                ow += 2;
            }
        }
        while ow < count {
            // Slide by SW columns: the KW - SW shared ones are kept, the new ones reduced.
            for j in KW - SW..KW {
                cols[j] = column::<V, R, KH, SH, U, ROWS, MASKED, CT, CB, FIRST>(
                    v,
                    src,
                    ir,
                    ip,
                    ow * SW + j,
                    c,
                    tail,
                    &mut bad,
                );
            }
            for row in 0..ROWS {
                for u in 0..U {
                    let mut acc = cols[0][row][u];
                    for col in &cols[1..KW] {
                        acc = R::combine(v, acc, col[row][u]);
                    }
                    let at = dst.add(row * job.out_row + ow * job.out_pixel + c + u * V::LANES);
                    emit::<V, R, MASKED, CLAMP>(v, at, acc, scales[row], lo, hi, tail, &mut bad[u]);
                }
            }
            for j in 0..KW - SW {
                cols[j] = cols[j + SW];
            }
            ow += 1;
        }
        if SW == 1 && edges.right {
            // Its window: the last KW - 1 columns, which the slides left in front.
            edge::<V, R, KW, U, ROWS, MASKED, CLAMP>(
                v,
                job,
                &cols,
                dst.add(count * job.out_pixel),
                c,
                edges.scale_right,
                (lo, hi),
                tail,
                &mut bad,
            );
        }
    }
    let mut all = bad_in;
    for b in bad {
        all = v.bad_or(all, b);
    }
    all
}

/// An edge output of each of `ROWS` rows at `at` (channel `c`): the first `KW - 1` held
/// columns combined, scaled by the row's `scale`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn edge<
    V: SimdF32,
    R: Columns<V>,
    const KW: usize,
    const U: usize,
    const ROWS: usize,
    const MASKED: bool,
    const CLAMP: bool,
>(
    v: V,
    job: &Job,
    cols: &[[[V::V; U]; ROWS]; MAX_COLS],
    at: *mut f32,
    c: usize,
    scale: [f32; 2],
    (lo, hi): (V::V, V::V),
    tail: V::Tail,
    bad: &mut [V::Bad; U],
) {
    for row in 0..ROWS {
        let s = v.splat(scale[row]);
        for u in 0..U {
            let mut acc = cols[0][row][u];
            for col in &cols[1..KW - 1] {
                acc = R::combine(v, acc, col[row][u]);
            }
            // SAFETY: an output pixel of the row (caller); channel c + u*l (+ the tail)
            // inside C.
            let p = unsafe { at.add(row * job.out_row + c + u * V::LANES) };
            // SAFETY: as above.
            unsafe { emit::<V, R, MASKED, CLAMP>(v, p, acc, s, lo, hi, tail, &mut bad[u]) };
        }
    }
}

/// Finishes one output vector (scale, result check, clamp) and stores it at `p`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn emit<V: SimdF32, R: Columns<V>, const MASKED: bool, const CLAMP: bool>(
    v: V,
    p: *mut f32,
    acc: V::V,
    scale: V::V,
    lo: V::V,
    hi: V::V,
    tail: V::Tail,
    bad: &mut V::Bad,
) {
    let mut y = R::output(v, acc, scale);
    if R::CHECK_RESULT {
        *bad = if MASKED {
            v.bad_keep(*bad, R::check_column(v, v.bad_init(), y), tail)
        } else {
            R::check_column(v, *bad, y)
        };
    }
    if CLAMP {
        y = v.clamp(y, lo, hi);
    }
    // SAFETY: `p` is an output vector of the interior, channel c + u*l (+ the tail) inside C
    // (caller).
    unsafe {
        if MASKED {
            v.store_tail(p, y, tail)
        } else {
            v.store(p, y)
        }
    }
}

/// A window kernel without column reuse, for reductions whose state is not one vector per
/// column (stochastic inference, real-p Lp): interior pixels run the any-window block code with
/// constant tap counts (`KH x KW`, unrolled); borders take [`generic::row`].
///
/// # Safety
/// As [`run`].
#[inline(always)]
pub(crate) unsafe fn direct<
    V: SimdF32,
    R: Reduce<V>,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
>(
    v: V,
    job: &Job,
    tile: &Tile,
) {
    debug_assert!(job.h.k == KH && job.w.k == KW && job.h.s == SH && job.w.s == SW);
    let (oh_lo, oh_hi) = job.h.interior();
    let (ow_lo, ow_hi) = job.w.interior();
    let ow_out = job.w.out;
    for n in tile.n.0..tile.n.1 {
        for oh in tile.oh.0..tile.oh.1 {
            // SAFETY (all calls): rows, columns and channels inside the tile; interior windows
            // lie wholly inside the input (Axis::interior).
            unsafe {
                if oh < oh_lo || oh >= oh_hi || ow_lo >= ow_hi {
                    generic::row::<V, R>(v, job, n, oh, 0, ow_out, tile.c);
                    continue;
                }
                generic::row::<V, R>(v, job, n, oh, 0, ow_lo, tile.c);
                generic::row_fixed::<V, R, KH, KW>(v, job, n, oh, ow_lo, ow_hi, tile.c);
                generic::row::<V, R>(v, job, n, oh, ow_hi, ow_out, tile.c);
            }
        }
    }
}
