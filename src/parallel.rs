//! Work partition and multi-threaded execution.
//!
//! A plan cuts its output into a fixed set of tiles, sized from the problem alone (batch x
//! output-row chunks x channel chunks), never from the number of threads. Every run, on one
//! thread or many, computes exactly those tiles with the same code, so results are bitwise
//! identical for any thread count, stochastic pooling and the exact-fallback paths included.

use crate::kernels::{Job, KernelFn, Tile, separable};
use crate::plan::{OpSpec, Spec};
use std::sync::Mutex;

/// Where a run executes.
#[derive(Clone, Copy, Debug, Default)]
pub enum Threads<'a> {
    /// The calling thread only (no rayon involvement, no allocation).
    #[default]
    Current,
    /// rayon's global thread pool (the calling thread only when the `rayon` feature is off).
    /// Problems too small to gain run on the calling thread.
    Global,
    /// A pool the caller owns (an engine's own threads). Problems too small to gain run on
    /// the calling thread.
    #[cfg(feature = "rayon")]
    Pool(&'a rayon::ThreadPool),
    #[cfg(not(feature = "rayon"))]
    #[doc(hidden)]
    _Lifetime(std::marker::PhantomData<&'a ()>),
}

/// Output elements per tile the partition aims at (about 32 KiB of f32).
const TILE_ELEMENTS: usize = 8192;

/// Estimated microseconds of work below which a parallel run stays on the calling thread
/// (see [`work_us`]): handing tiles to a second thread costs a few microseconds (waking it,
/// and waiting for its last tile), so only problems of about 10 us and more are split.
/// Measured on the 2-core development machine: see README "Threads".
pub(crate) const PARALLEL_MIN_US: f64 = 10.0;

/// A plan's estimated single-thread time: its input and output bytes at 100 GB/s (the
/// streaming kernels run near the copy limit), plus per-tap arithmetic for the operators that
/// are compute-bound (Lp with a real p: a log2 and an exp2 per tap; stochastic pooling: the
/// random draw and two passes), from the kernels' measured cost per tap.
pub(crate) fn work_us(spec: &Spec) -> f64 {
    let elems = |s: &crate::tensor::Shape| s.num_elements().unwrap_or(usize::MAX) as f64;
    let (inp, out) = (elems(&spec.input), elems(&spec.output));
    let taps = spec.h.k as f64 * spec.w.k as f64;
    let ns_per_tap = match spec.op.kernel_op() {
        "lp" | "glp" => 0.7,
        "stochtrain" | "stochinfer" => 0.25,
        _ => 0.0,
    };
    (inp + out) * 4.0 / 1e5 + out * taps * ns_per_tap / 1e3
}

/// The chunk size that cuts `rows` into as many chunks as chunks of `target` would, of equal
/// sizes (the last one no smaller than the others by more than one): unequal tiles leave a
/// thread waiting for the largest.
pub(crate) fn balanced(target: usize, rows: usize) -> usize {
    let rows = rows.max(1);
    rows.div_ceil(rows.div_ceil(target.clamp(1, rows)))
}

/// The fixed tiles of a plan.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Partition {
    n: usize,
    rows: usize,
    row_chunk: usize,
    row_chunks: usize,
    c: usize,
    c_chunk: usize,
    c_chunks: usize,
    /// Whether a sequential run may take all channels of a row chunk as one tile (global
    /// pooling, whose results do not depend on the channel cut).
    merge_channels: bool,
    /// Whether the problem is worth splitting across threads ([`work_us`] at least
    /// [`PARALLEL_MIN_US`]): decided with the plan, not per run.
    split: bool,
}

impl Partition {
    /// The tiles of `spec`; `separable` kernels (stride-1 family) take tall tiles of 64
    /// channels, so that the rows they share are recomputed rarely.
    pub(crate) fn new(spec: &Spec, separable: bool) -> Partition {
        let (n, rows, ow, c) = (spec.input.n(), spec.h.out, spec.w.out, spec.input.c());
        let split = work_us(spec) >= PARALLEL_MIN_US;
        if separable {
            let row_chunk = separable::rows_per_tile(ow, rows, spec.h.k, c);
            return Partition {
                n,
                rows,
                row_chunk,
                row_chunks: rows.div_ceil(row_chunk),
                c,
                c_chunk: separable::CHANNELS,
                c_chunks: c.div_ceil(separable::CHANNELS),
                merge_channels: false,
                split,
            };
        }
        let global = matches!(
            spec.op,
            OpSpec::GlobalMax | OpSpec::GlobalAvg | OpSpec::GlobalLp(_)
        );
        // Channel chunks are multiples of 64 (a whole number of vectors on every tier). Global
        // pooling aims at 8 tiles per problem with chunks of at least 128 channels (multiples
        // of 128): long contiguous runs per pixel stream faster than 512-byte pieces 8 KiB
        // apart (8x7x7x2048, 2 threads: 24.8 us with whole images, 35.0 with 128 channels).
        let c_chunk = if global {
            c.div_ceil(8usize.div_ceil(n.max(1)))
                .next_multiple_of(128)
                .clamp(1, c.max(1))
        } else if c <= 512 {
            c.max(1)
        } else {
            256
        };
        let per_row = ow.max(1).saturating_mul(c_chunk.min(c.max(1)));
        let mut row_chunk = balanced((TILE_ELEMENTS / per_row).max(1), rows);
        // Window kernels that reduce two output rows at once do so only inside one tile: an
        // even chunk lets them (3x3 s2: 5 loads per two columns instead of 6; 3x3 s1: 4
        // instead of 6).
        if crate::kernels::window::pairs_rows(spec.h.k, spec.h.s) {
            row_chunk = row_chunk.next_multiple_of(2).min(rows.max(1));
        }
        Partition {
            n,
            rows,
            row_chunk,
            row_chunks: rows.div_ceil(row_chunk),
            c,
            c_chunk,
            c_chunks: c.div_ceil(c_chunk),
            merge_channels: global,
            split,
        }
    }

    /// Number of tiles.
    pub(crate) fn len(&self) -> usize {
        self.n * self.row_chunks * self.c_chunks
    }

    /// Tile `t` (in `0..len()`).
    pub(crate) fn tile(&self, t: usize) -> Tile {
        let ci = t % self.c_chunks;
        let ri = (t / self.c_chunks) % self.row_chunks;
        let n = t / (self.c_chunks * self.row_chunks);
        let r0 = ri * self.row_chunk;
        let c0 = ci * self.c_chunk;
        Tile {
            n: (n, n + 1),
            oh: (r0, (r0 + self.row_chunk).min(self.rows)),
            c: (c0, (c0 + self.c_chunk).min(self.c)),
            scratch: std::ptr::null_mut(),
        }
    }
}

/// Per-thread scratch of a plan. Slot 0 is allocated with the plan, so a run on the calling
/// thread allocates nothing; further slots (for pool threads, or concurrent runs of one plan)
/// are allocated on first use and kept.
pub(crate) struct Scratch {
    len: usize,
    slots: Box<[Slot]>,
}

/// One thread's scratch, allocated on first use (slot 0 with the plan).
type Slot = Mutex<Option<Box<[f32]>>>;

impl Scratch {
    pub(crate) fn new(len: usize) -> Scratch {
        let n = if len == 0 {
            0
        } else {
            std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(64)
                + 1
        };
        let slots = (0..n)
            .map(|i| Mutex::new((i == 0).then(|| vec![0.0f32; len].into_boxed_slice())))
            .collect();
        Scratch { len, slots }
    }

    /// Runs `f` with exclusive use of a slot's floats (null when the kernel needs none);
    /// `hint` picks the slot to try first (a pool thread's index).
    fn with<T>(&self, hint: usize, f: impl FnOnce(*mut f32) -> T) -> T {
        if self.len == 0 {
            return f(std::ptr::null_mut());
        }
        let n = self.slots.len();
        let guard = (0..n)
            .find_map(|i| self.slots[(hint + i) % n].try_lock().ok())
            .unwrap_or_else(|| {
                self.slots[hint % n]
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
            });
        let mut guard = guard;
        let buf = guard.get_or_insert_with(|| vec![0.0f32; self.len].into_boxed_slice());
        f(buf.as_mut_ptr())
    }
}

impl Scratch {
    /// Floats per slot.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

impl Clone for Scratch {
    fn clone(&self) -> Scratch {
        Scratch::new(self.len)
    }
}

impl std::fmt::Debug for Scratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Scratch({} floats x {} slots)",
            self.len,
            self.slots.len()
        )
    }
}

/// The job shared by the threads of one run.
#[cfg(feature = "rayon")]
struct Shared<'a>(&'a Job);

#[cfg(feature = "rayon")]
// SAFETY: the job's raw pointers address the run's input (read only) and output; every thread
// writes only the outputs of its own tiles, which are disjoint (Partition::tile), and the run
// returns only after every tile is done, while the views' borrows are still held.
unsafe impl Sync for Shared<'_> {}

#[cfg(feature = "rayon")]
impl Shared<'_> {
    /// The job (a method, so that closures capture the `Sync` wrapper, not the field).
    fn job(&self) -> &Job {
        self.0
    }
}

/// Runs every tile of `part` with `func`.
///
/// # Safety
/// `job` must be valid for `func` on every tile (the plan's checks).
pub(crate) unsafe fn run(
    func: KernelFn,
    job: &Job,
    part: &Partition,
    scratch: &Scratch,
    threads: Threads<'_>,
) {
    let sequential = || {
        scratch.with(0, |buf| {
            // With merged channels, the first channel chunk's tile widened to all channels.
            let step = if part.merge_channels {
                part.c_chunks
            } else {
                1
            };
            for t in (0..part.len()).step_by(step) {
                let mut tile = Tile {
                    scratch: buf,
                    ..part.tile(t)
                };
                if part.merge_channels {
                    tile.c = (0, part.c);
                }
                // SAFETY: forwarded contract; tiles lie inside the output; the scratch slot is
                // ours for the whole loop and sized by the plan for every tile.
                unsafe { func(job, &tile) };
            }
        })
    };
    if !part.split || part.len() < 2 {
        return sequential();
    }
    match threads {
        Threads::Current => sequential(),
        #[cfg(feature = "rayon")]
        Threads::Global => parallel(func, &Shared(job), part, scratch, None),
        #[cfg(feature = "rayon")]
        Threads::Pool(pool) => parallel(func, &Shared(job), part, scratch, Some(pool)),
        #[cfg(not(feature = "rayon"))]
        _ => sequential(),
    }
}

/// Runs the tiles on `pool` (rayon's global pool if `None`) with a parallel iterator (rayon's
/// stack jobs: no allocation once its queues are warm). From a thread of that pool the caller
/// takes part; from any other thread, rayon hands the work to the pool and the caller sleeps
/// until it is done, which adds a wake-up on each side (an engine that calls from inside its
/// pool, `pool.install(..)`, avoids it).
#[cfg(feature = "rayon")]
fn parallel(
    func: KernelFn,
    shared: &Shared<'_>,
    part: &Partition,
    scratch: &Scratch,
    pool: Option<&rayon::ThreadPool>,
) {
    use rayon::prelude::*;
    let body = || {
        (0..part.len()).into_par_iter().for_each(|t| {
            let hint = rayon::current_thread_index().map_or(0, |i| i + 1);
            scratch.with(hint, |buf| {
                let tile = Tile {
                    scratch: buf,
                    ..part.tile(t)
                };
                // SAFETY: see `Shared`; each tile is computed by exactly one thread, with a
                // scratch slot it holds exclusively.
                unsafe { func(shared.job(), &tile) };
            })
        })
    };
    match pool {
        Some(p) => p.install(body),
        None => body(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Padding, PoolParams, Shape, Window};

    fn chunks(k: usize, s: usize, hw: usize, c: usize) -> Vec<usize> {
        let w = Window::new([k, k]).stride([s, s]).padding(Padding::Valid);
        let spec = Spec::new(&PoolParams::max(w), Shape::nhwc(1, hw, hw, c)).unwrap();
        let part = Partition::new(&spec, false);
        (0..part.len())
            .map(|t| {
                let tile = part.tile(t);
                tile.oh.1 - tile.oh.0
            })
            .collect()
    }

    #[test]
    fn row_pair_kernels_get_even_row_chunks() {
        // 147x147x64, 3x3 s2: 73 output rows of 73 x 64 = 4672 elements, one row per 8192 by
        // size alone; the pair rule makes it two (the last tile keeps the odd row).
        let rows = chunks(3, 2, 147, 64);
        assert_eq!(rows.len(), 37);
        assert!(
            rows[..36].iter().all(|&r| r == 2) && rows[36] == 1,
            "{rows:?}"
        );
        // 3x3 s1 pairs rows too: 68 rows of 68 x 128 = 8704 elements, over 8192.
        assert!(chunks(3, 1, 70, 128).iter().all(|&r| r == 2));
        // No shared rows (2x2 s2, 1x1): chunks by size only.
        assert!(chunks(2, 2, 147, 64).iter().all(|&r| r == 1));
        assert!(chunks(1, 1, 100, 128).iter().all(|&r| r == 1));
    }
}
