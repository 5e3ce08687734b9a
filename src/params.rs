//! User-facing pooling parameters.
//!
//! A [`PoolParams`] says *what* to compute; [`crate::Plan::new`] checks it against an input shape
//! and returns an error naming the first invalid parameter. Nothing here allocates or validates on
//! its own, so building parameters never fails.

use std::fmt;

/// The largest number of spatial axes a parameter can describe (3-D pooling, NDHWC).
pub const MAX_SPATIAL: usize = 3;

/// Per-spatial-axis sizes (kernel, stride, dilation, padding, spatial extents), outermost axis
/// first: `[h, w]` for 2-D pooling, `[w]` for 1-D, `[d, h, w]` for 3-D.
///
/// ```
/// use simdpool::Dims;
/// let k: Dims = [3, 3].into();
/// assert_eq!(k.as_slice(), &[3, 3]);
/// assert_eq!(k.rank(), 2);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dims {
    len: u8,
    v: [usize; MAX_SPATIAL],
}

impl Dims {
    /// Dims from a slice of 1 to 3 sizes; `None` for an empty or longer slice.
    pub fn from_slice(s: &[usize]) -> Option<Dims> {
        if s.is_empty() || s.len() > MAX_SPATIAL {
            return None;
        }
        let mut v = [0; MAX_SPATIAL];
        v[..s.len()].copy_from_slice(s);
        Some(Dims {
            len: s.len() as u8,
            v,
        })
    }

    /// The same value on `rank` axes.
    pub fn splat(rank: usize, value: usize) -> Option<Dims> {
        if !(1..=MAX_SPATIAL).contains(&rank) {
            return None;
        }
        Dims::from_slice(&[value; MAX_SPATIAL][..rank])
    }

    /// The sizes, outermost axis first.
    pub fn as_slice(&self) -> &[usize] {
        &self.v[..self.len as usize]
    }

    /// The number of axes.
    pub fn rank(&self) -> usize {
        self.len as usize
    }
}

impl<const N: usize> From<[usize; N]> for Dims {
    fn from(a: [usize; N]) -> Dims {
        const { assert!(N >= 1 && N <= MAX_SPATIAL, "Dims holds 1 to 3 spatial axes") };
        let mut v = [0; MAX_SPATIAL];
        v[..N].copy_from_slice(&a);
        Dims { len: N as u8, v }
    }
}

impl fmt::Debug for Dims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl fmt::Display for Dims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, x) in self.as_slice().iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{x}")?;
        }
        Ok(())
    }
}

/// How the input is padded (padding never contributes a value; see the operators).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    /// Explicit amounts before and after each spatial axis (ONNX `pads` = begin then end).
    Explicit {
        /// Padding before each axis (top, left for 2-D).
        begin: Dims,
        /// Padding after each axis (bottom, right for 2-D).
        end: Dims,
    },
    /// No padding (TensorFlow `VALID`).
    Valid,
    /// `out = ceil(in / stride)`, the smaller half of the padding before (TensorFlow `SAME`,
    /// ONNX `SAME_UPPER`).
    SameUpper,
    /// Like [`Padding::SameUpper`] with the larger half before (ONNX `SAME_LOWER`).
    SameLower,
}

impl Padding {
    /// The same padding before and after each axis.
    pub fn symmetric(p: impl Into<Dims>) -> Padding {
        let p = p.into();
        Padding::Explicit { begin: p, end: p }
    }

    /// Explicit padding: `begin` before and `end` after each axis.
    pub fn explicit(begin: impl Into<Dims>, end: impl Into<Dims>) -> Padding {
        Padding::Explicit {
            begin: begin.into(),
            end: end.into(),
        }
    }
}

/// The sliding window: kernel, stride, dilation, padding and rounding of the output size.
///
/// ```
/// use simdpool::{Padding, Window};
/// // ResNet's stem: 3x3 windows, stride 2, one pixel of padding on every side.
/// let w = Window::new([3, 3]).stride([2, 2]).padding(Padding::symmetric([1, 1]));
/// assert_eq!(w.kernel.as_slice(), &[3, 3]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Window size per axis (>= 1).
    pub kernel: Dims,
    /// Step between windows per axis (>= 1); defaults to 1.
    pub stride: Dims,
    /// Spacing between taps per axis (>= 1); defaults to 1.
    pub dilation: Dims,
    /// Padding; defaults to none.
    pub padding: Padding,
    /// Round the output size up (PyTorch/ONNX `ceil_mode`); defaults to floor.
    pub ceil_mode: bool,
}

impl Window {
    /// A window of this kernel size, stride 1, dilation 1, no padding, floor mode.
    pub fn new(kernel: impl Into<Dims>) -> Window {
        let kernel = kernel.into();
        let ones = Dims::splat(kernel.rank(), 1).unwrap_or(kernel);
        Window {
            kernel,
            stride: ones,
            dilation: ones,
            padding: Padding::Valid,
            ceil_mode: false,
        }
    }

    /// Sets the stride.
    pub fn stride(mut self, s: impl Into<Dims>) -> Window {
        self.stride = s.into();
        self
    }

    /// Sets the dilation.
    pub fn dilation(mut self, d: impl Into<Dims>) -> Window {
        self.dilation = d.into();
        self
    }

    /// Sets the padding.
    pub fn padding(mut self, p: Padding) -> Window {
        self.padding = p;
        self
    }

    /// Sets ceil mode.
    pub fn ceil_mode(mut self, on: bool) -> Window {
        self.ceil_mode = on;
        self
    }
}

/// The divisor of average pooling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Divisor {
    /// The number of in-input taps (ONNX and TensorFlow default; PyTorch
    /// `count_include_pad=False`).
    ExcludePad,
    /// PyTorch's `count_include_pad=True`: the taps inside the padded extent, per axis
    /// `#{j : start + j*dilation < in + pad_end}`, multiplied over the axes.
    IncludePad,
    /// A fixed divisor (PyTorch `divisor_override`); must be at least 1.
    Override(usize),
}

/// Training or inference behaviour of stochastic pooling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StochasticMode {
    /// Sample one tap per window with probability `max(x, 0) / S` (Zeiler & Fergus), using
    /// the counter-based generator described in [`crate::philox`]. `seed` is the default seed;
    /// [`crate::Plan::run_with_seed`] changes it per call.
    Train {
        /// Default seed for [`crate::Plan::run`].
        seed: u64,
    },
    /// The probability-weighted average `sum a^2 / sum a`, `a = max(x, 0)`.
    Inference,
}

/// What a sliding-window pool computes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum WindowOp {
    /// Maximum of the in-input taps; NaN propagates.
    Max,
    /// Sum of the in-input taps over a [`Divisor`].
    Avg(Divisor),
    /// `(sum |x|^p)^(1/p)` over in-input taps; `p > 0` real or `f64::INFINITY` (max |x|).
    Lp(f64),
    /// Stochastic pooling.
    Stochastic(StochasticMode),
}

/// What a global pool computes over the whole spatial extent.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum GlobalOp {
    /// Maximum; NaN propagates.
    Max,
    /// Mean.
    Avg,
    /// `(sum |x|^p)^(1/p)`; `p > 0` real or infinity.
    Lp(f64),
}

/// Windowed or global pooling.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pooling {
    /// A sliding window.
    Window {
        /// The operator.
        op: WindowOp,
        /// The geometry.
        window: Window,
    },
    /// One output per channel over all spatial positions (`N x 1 x 1 x C` for 2-D).
    Global(GlobalOp),
}

/// The output clamp `y = min(max(y, lo), hi)`, applied last (a fused ReLU / ReLU6).
/// A NaN result stays NaN. `lo <= hi` is required; either bound may be infinite.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Clamp {
    /// Lower bound.
    pub lo: f32,
    /// Upper bound.
    pub hi: f32,
}

/// A complete pooling request: the operator and its window, and an optional output clamp.
///
/// ```
/// use simdpool::{Divisor, Padding, PoolParams, Window};
/// let stem = PoolParams::max(Window::new([3, 3]).stride([2, 2]).padding(Padding::symmetric([1, 1])));
/// let avg = PoolParams::avg(Window::new([2, 2]).stride([2, 2]), Divisor::IncludePad);
/// let relu6 = PoolParams::global_avg().clamp(0.0, 6.0);
/// # let _ = (stem, avg, relu6);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PoolParams {
    /// Windowed or global, and the operator.
    pub pooling: Pooling,
    /// Optional output clamp.
    pub clamp: Option<Clamp>,
}

impl PoolParams {
    /// Windowed pooling with `op`.
    pub fn window(op: WindowOp, window: Window) -> PoolParams {
        PoolParams {
            pooling: Pooling::Window { op, window },
            clamp: None,
        }
    }
    /// Max pooling.
    pub fn max(window: Window) -> PoolParams {
        Self::window(WindowOp::Max, window)
    }
    /// Average pooling with the given divisor rule.
    pub fn avg(window: Window, divisor: Divisor) -> PoolParams {
        Self::window(WindowOp::Avg(divisor), window)
    }
    /// Lp pooling (`p > 0`, or `f64::INFINITY`).
    pub fn lp(window: Window, p: f64) -> PoolParams {
        Self::window(WindowOp::Lp(p), window)
    }
    /// Stochastic pooling, training mode, with a default seed.
    pub fn stochastic_train(window: Window, seed: u64) -> PoolParams {
        Self::window(WindowOp::Stochastic(StochasticMode::Train { seed }), window)
    }
    /// Stochastic pooling, inference mode.
    pub fn stochastic_inference(window: Window) -> PoolParams {
        Self::window(WindowOp::Stochastic(StochasticMode::Inference), window)
    }
    /// Global pooling with `op`.
    pub fn global(op: GlobalOp) -> PoolParams {
        PoolParams {
            pooling: Pooling::Global(op),
            clamp: None,
        }
    }
    /// Global max pooling.
    pub fn global_max() -> PoolParams {
        Self::global(GlobalOp::Max)
    }
    /// Global average pooling.
    pub fn global_avg() -> PoolParams {
        Self::global(GlobalOp::Avg)
    }
    /// Global Lp pooling.
    pub fn global_lp(p: f64) -> PoolParams {
        Self::global(GlobalOp::Lp(p))
    }
    /// Adds the output clamp `min(max(y, lo), hi)`.
    pub fn clamp(mut self, lo: f32, hi: f32) -> PoolParams {
        self.clamp = Some(Clamp { lo, hi });
        self
    }
}
