//! Global pooling: one output per channel over every spatial position, streaming the input once.
//!
//! For a block of `U` channel vectors the accumulators stay in registers while the kernel runs
//! down the image; each image row is reduced into its own accumulators and merged into the
//! total (a two-level sum: the error grows with W + H rather than W * H). `U` independent
//! accumulators hide the add latency. A vector whose result its check flags (sums: non-finite,
//! subnormal, huge) is recomputed exactly on its own, so that results do not depend on how
//! the channels are cut into tiles (sequential runs take all channels of an image as one
//! tile: one pass over each pixel, 16 vectors at a time on AVX-512).

use super::generic::Reduce;
use super::{Job, Tile};
use crate::simd::SimdF32;

/// Runs reduction `R` over whole images (the job's axes are global: one output pixel).
///
/// # Safety
/// As [`super::generic::run`].
#[inline(always)]
pub(crate) unsafe fn run<V: SimdF32, R: Reduce<V>>(v: V, job: &Job, tile: &Tile) {
    // SAFETY: forwarded contract.
    unsafe {
        // 8 vectors per block from AVX2 on (measured on 7x7x2048 average: avx2 12.0 us with
        // 4, 5.5 with 8; the 4-vector block walks twice as many 8 KiB-strided passes), 16 on
        // AVX-512 (32 registers: 16 row sums and 16 totals; gap_56x256 41.8 -> 34.2 us, one
        // pass over each 1 KiB pixel instead of two 512-byte halves).
        // (Reductions whose accumulator is one vector: global max's carries NaN lanes too.)
        if V::LANES >= 16 && !R::TWO_PASS && size_of::<R::Acc>() == size_of::<V::V>() {
            run_u::<V, R, 16>(v, job, tile)
        } else if V::LANES >= 8 {
            run_u::<V, R, 8>(v, job, tile)
        } else {
            run_u::<V, R, 4>(v, job, tile)
        }
    }
}

#[inline(always)]
unsafe fn run_u<V: SimdF32, R: Reduce<V>, const U: usize>(v: V, job: &Job, tile: &Tile) {
    let l = V::LANES;
    let (c0, c1) = tile.c;
    for n in tile.n.0..tile.n.1 {
        // SAFETY: image n is inside both buffers.
        let (src, dst) = unsafe {
            (
                job.src.add(n * job.in_batch),
                job.dst.add(n * job.out_batch),
            )
        };
        let mut c = c0;
        let full = v.tail(1); // ignored by unmasked blocks
        // SAFETY (the three blocks): channel ranges inside c0..c1 <= C, every pixel of the image
        // inside the input.
        unsafe {
            while c + U * l <= c1 {
                block::<V, R, U, false>(v, job, src, dst, c, full, (n, c1));
                c += U * l;
            }
            // Remainders in blocks of 4, then 1: a lone accumulator is latency-bound.
            while c + 4 * l <= c1 {
                block::<V, R, 4, false>(v, job, src, dst, c, full, (n, c1));
                c += 4 * l;
            }
            while c + l <= c1 {
                block::<V, R, 1, false>(v, job, src, dst, c, full, (n, c1));
                c += l;
            }
            if c < c1 {
                let t = v.tail(c1 - c);
                block::<V, R, 1, true>(v, job, src, dst, c, t, (n, c1));
            }
        }
    }
}

/// `U2` channel vectors (or a masked tail) at channel `c` of image `n` (the tile's channels
/// end at `c1`).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn block<V: SimdF32, R: Reduce<V>, const U2: usize, const MASKED: bool>(
    v: V,
    job: &Job,
    src: *const f32,
    dst: *mut f32,
    c: usize,
    tail: V::Tail,
    (n, c1): (usize, usize),
) {
    let l = V::LANES;
    let (h, w) = (job.h.input, job.w.input);
    // Two-pass reductions (general-p Lp) first take max |x|.
    let mut m_abs = [v.splat(0.0); U2];
    if R::TWO_PASS {
        let mut m = [v.max_init(); U2];
        for ih in 0..h {
            for iw in 0..w {
                // SAFETY: pixel (ih, iw) of the image, channels in range (caller).
                let p = unsafe { src.add(ih * job.in_row + iw * job.in_pixel + c) };
                for (u, a) in m.iter_mut().enumerate() {
                    // SAFETY: as above.
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
        for (o, a) in m_abs.iter_mut().zip(m) {
            *o = v.max_finish(a);
        }
    }
    let mut pre = [R::prepare(v, job, m_abs[0]); U2];
    for (p, m) in pre.iter_mut().zip(m_abs) {
        *p = R::prepare(v, job, m);
    }
    let mut total = [R::init(v, pre[0]); U2];
    for (u, t) in total.iter_mut().enumerate() {
        *t = R::init(v, pre[u]);
    }
    for ih in 0..h {
        let mut acc = total;
        for (u, a) in acc.iter_mut().enumerate() {
            *a = R::init(v, pre[u]);
        }
        for iw in 0..w {
            // SAFETY: pixel (ih, iw) of the image, channels in range (caller).
            let p = unsafe { src.add(ih * job.in_row + iw * job.in_pixel + c) };
            for (u, a) in acc.iter_mut().enumerate() {
                // SAFETY: as above.
                let x = unsafe {
                    if MASKED {
                        v.load_tail(p, tail)
                    } else {
                        v.load(p.add(u * l))
                    }
                };
                *a = R::step(v, *a, x, pre[u]);
            }
        }
        for (t, a) in total.iter_mut().zip(acc) {
            *t = R::merge(v, *t, a);
        }
    }
    let scale = v.splat(R::scale(job, 0, 0, (0, h), (0, w)));
    let clamp = (v.splat(job.lo), v.splat(job.hi));
    for u in 0..U2 {
        // SAFETY: channels c + u*l.. (or the tail) of the image's output pixel (caller).
        unsafe {
            let bad = super::generic::finish_store::<V, R, 1, MASKED>(
                v,
                [total[u]],
                [pre[u]],
                scale,
                clamp,
                dst,
                c + u * l,
                tail,
                v.bad_init(),
            );
            if R::CHECK_RESULT && v.bad_any(bad) {
                let c = c + u * l;
                super::exact::row(job, n, 0, 0, 1, (c, (c + l).min(c1)));
            }
        }
    }
}
