//! # simdpool
//!
//! Hand-vectorized CPU kernels for the pooling layers of convolutional networks: max, average
//! (exclude-pad, include-pad, divisor override), Lp (real p, 1, 2, infinity), global max /
//! average / Lp and stochastic pooling, over strided NHWC `f32` tensors, with a fused output
//! clamp. Kernels exist per ISA tier (portable `wide` baseline, AVX2, AVX-512), are chosen once
//! per [`Plan`] by run-time CPU detection, and are held to a scalar reference that writes the
//! semantic contract literally (choose it with [`Isa::Reference`] to cross-check).
//!
//! ```
//! use simdpool::{Isa, Padding, Plan, PoolParams, Shape, Tensor, Window};
//!
//! // ResNet's stem max pool: 3x3, stride 2, padding 1, then a fused ReLU6.
//! let params = PoolParams::max(Window::new([3, 3]).stride([2, 2]).padding(Padding::symmetric([1, 1])))
//!     .clamp(0.0, 6.0);
//! let plan = Plan::new(&params, Shape::nhwc(1, 112, 112, 64), Isa::Best)?;
//! let x = Tensor::from_fn(plan.input_shape(), |i| ((i * 7919) % 1000) as f32 / 100.0 - 5.0)?;
//! let mut y = Tensor::zeros(plan.output_shape())?;
//! plan.run(x.view(), y.view_mut())?;
//! assert_eq!(y.shape(), Shape::nhwc(1, 56, 56, 64));
//!
//! // The same request on the scalar reference gives the same bits for max pooling.
//! let reference = Plan::new(&params, plan.input_shape(), Isa::Reference)?;
//! let mut z = Tensor::zeros(plan.output_shape())?;
//! reference.run(x.view(), z.view_mut())?;
//! assert_eq!(y.as_slice(), z.as_slice());
//! # Ok::<(), simdpool::Error>(())
//! ```
//!
//! ## Semantics in brief
//! The contract is SPEC.md of the project; the points a user meets most:
//! - **Geometry** per axis: effective kernel `d*(k-1)+1`; padding must be smaller than it; floor
//!   or ceil output size, ceil mode dropping a last window that would start past the input and
//!   its leading padding (PyTorch's rule); `Same*` padding as TensorFlow/ONNX. A window lying
//!   wholly in padding is an error, never a silent value.
//! - **Max** propagates NaN; padding never wins.
//! - **Average** divides by the in-input count (exclude-pad), PyTorch's include-pad count, or a
//!   fixed override.
//! - **Lp** is `(sum |x|^p)^(1/p)` over in-input taps. Unlike PyTorch's `LPPool` it takes the
//!   absolute value (PyTorch gives the wrong sign for odd p and NaN for fractional p on negative
//!   inputs), and unlike PyTorch and the ONNX reference it does not rescale partial windows by
//!   the full kernel size: padding adds nothing.
//! - **Stochastic** pooling samples one tap per window with probability `max(x,0)/S` from a
//!   counter-based generator ([`philox`]) so results are reproducible bit for bit; inference
//!   mode gives `sum a^2 / sum a`. A `+inf` tap makes the inference value `+inf`.
//! - **Clamp** `min(max(y, lo), hi)` is applied last; NaN stays NaN.
//!
//! ## Errors
//! Every invalid request returns an [`Error`] naming the parameter and its value (see
//! [`ErrorKind`]); nothing panics on bad input and nothing is written to the output on error.
//!
//! ## Tiers and the environment
//! [`available_tiers`] lists what this CPU runs; [`Isa::Best`] picks the highest, capped by the
//! `SIMDPOOL_ISA` environment variable (`reference`, `baseline`, `avx2`, `avx512`, `best`),
//! read when a plan is made. Forcing a tier the CPU lacks is an error.
#![warn(missing_docs)]

pub mod check;
mod dispatch;
mod error;
mod geometry;
mod kernels;
pub mod npy;
mod parallel;
mod params;
pub mod philox;
mod plan;
mod reference;
mod simd;
mod tensor;
mod tier;
pub mod workloads;

#[cfg(test)]
mod testing;

pub use dispatch::{KernelInfo, Match, Status, registry};
pub use error::{Error, ErrorKind, Result};
pub use parallel::Threads;
pub use params::{
    Clamp, Dims, Divisor, GlobalOp, MAX_SPATIAL, Padding, PoolParams, Pooling, StochasticMode,
    Window, WindowOp,
};
pub use plan::Plan;
pub use tensor::{Element, Shape, Strides, Tensor, TensorView, TensorViewMut};
pub use tier::{ISA_ENV, Isa, Tier, available_tiers, best_tier};
