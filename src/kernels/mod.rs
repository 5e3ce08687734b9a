//! Kernel bodies, generic over the tier's vector type ([`crate::simd::SimdF32`]).
//!
//! A kernel receives a [`Job`] (raw pointers and the resolved geometry of one `Plan::run` call)
//! and a [`Tile`] (the part of the output to compute). The plan has checked every size, stride
//! and buffer length before the call, so the pointer arithmetic here stays inside the buffers.

pub(crate) mod avg;
pub(crate) mod clamped;
pub(crate) mod exact;
pub(crate) mod generic;
pub(crate) mod global;
pub(crate) mod lp;
pub(crate) mod max;
pub(crate) mod separable;
pub(crate) mod stochastic;
pub(crate) mod window;

use crate::geometry::Axis;
use crate::plan::OpSpec;

/// Everything a kernel needs for one run: pointers, strides (elements), geometry, clamp.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Job {
    pub src: *const f32,
    pub dst: *mut f32,
    /// Channels (for the flat input index of stochastic pooling).
    pub c: usize,
    pub h: Axis,
    pub w: Axis,
    pub in_batch: usize,
    pub in_row: usize,
    pub in_pixel: usize,
    pub out_batch: usize,
    pub out_row: usize,
    pub out_pixel: usize,
    pub lo: f32,
    pub hi: f32,
    pub op: OpSpec,
    /// Stochastic training seed of this run.
    pub seed: u64,
}

/// The part of the output a kernel call computes: half-open ranges of batch, output rows and
/// channels. The channel range starts at a multiple of 64 (or 0) so that tiles share no vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tile {
    pub n: (usize, usize),
    pub oh: (usize, usize),
    pub c: (usize, usize),
    /// Scratch floats for this call (the plan sizes them per kernel; null when none).
    pub scratch: *mut f32,
}

/// A kernel entry point (a generated `#[target_feature]` shim).
pub(crate) type KernelFn = unsafe fn(&Job, &Tile);
