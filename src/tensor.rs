//! Strided NHWC views and the 64-byte aligned owned tensor.
//!
//! Element `(n, spatial..., c)` lives at `n*batch + sum(pos[i]*spatial[i]) + c` (in elements).
//! Dense strides are `pixel = C`, `row = W*pixel`, `batch = H*row`; larger strides are accepted
//! (a channel slice of a wider tensor). Views check their strides and buffer length once, when
//! they are made, so a plan never reads or writes outside them.

use crate::error::{Error, ErrorKind, Result};
use crate::params::{Dims, MAX_SPATIAL};
use aligned_vec::{AVec, ConstAlign};
use std::fmt;

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
}

/// An element type a plan can pool (`f32` today; `f16`, `bf16`, `u8`, `i8` are planned).
pub trait Element: bytemuck::Pod + Send + Sync + fmt::Debug + sealed::Sealed {
    /// The short name used in kernel ids (`f32`).
    const NAME: &'static str;
}

impl Element for f32 {
    const NAME: &'static str = "f32";
}

/// The shape of an N x spatial... x C tensor (NHWC for 2-D, NWC for 1-D, NDHWC for 3-D).
///
/// ```
/// use simdpool::Shape;
/// let s = Shape::nhwc(1, 112, 112, 64);
/// assert_eq!(s.spatial().as_slice(), &[112, 112]);
/// assert_eq!(s.to_string(), "1x112x112x64");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shape {
    n: usize,
    spatial: Dims,
    c: usize,
}

impl Shape {
    /// A shape with batch `n`, spatial sizes (outermost first) and `c` channels.
    pub fn new(n: usize, spatial: impl Into<Dims>, c: usize) -> Shape {
        Shape {
            n,
            spatial: spatial.into(),
            c,
        }
    }

    /// A 2-D NHWC shape.
    pub fn nhwc(n: usize, h: usize, w: usize, c: usize) -> Shape {
        Shape::new(n, [h, w], c)
    }

    /// Batch size.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Spatial sizes, outermost first.
    pub fn spatial(&self) -> Dims {
        self.spatial
    }

    /// Channels.
    pub fn c(&self) -> usize {
        self.c
    }

    /// All dimensions, `[n, spatial..., c]`.
    pub fn dims(&self) -> Vec<usize> {
        let mut v = vec![self.n];
        v.extend_from_slice(self.spatial.as_slice());
        v.push(self.c);
        v
    }

    /// Number of elements, or `None` if it overflows `usize`.
    pub fn num_elements(&self) -> Option<usize> {
        self.spatial
            .as_slice()
            .iter()
            .try_fold(self.n.checked_mul(self.c)?, |a, &d| a.checked_mul(d))
    }

    /// True if the tensor holds no element.
    pub fn is_empty(&self) -> bool {
        self.n == 0 || self.c == 0 || self.spatial.as_slice().contains(&0)
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.n)?;
        for d in self.spatial.as_slice() {
            write!(f, "x{d}")?;
        }
        write!(f, "x{}", self.c)
    }
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Element strides: `batch`, then one per spatial axis (outermost first; the last one is the
/// pixel stride). The channel stride is always 1.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Strides {
    /// Distance between consecutive images.
    pub batch: usize,
    /// Distance between consecutive positions along each spatial axis.
    pub spatial: Dims,
}

impl Strides {
    /// 2-D NHWC strides.
    pub fn nhwc(batch: usize, row: usize, pixel: usize) -> Strides {
        Strides {
            batch,
            spatial: [row, pixel].into(),
        }
    }

    /// The dense strides of `shape`, or an overflow error.
    pub fn dense(shape: &Shape) -> Result<Strides> {
        let mut spatial = shape.spatial;
        let rank = spatial.rank();
        let mut extent = shape.c;
        let mut v = [0usize; MAX_SPATIAL];
        for i in (0..rank).rev() {
            v[i] = extent;
            extent = extent
                .checked_mul(shape.spatial.as_slice()[i])
                .ok_or_else(|| overflow(shape))?;
        }
        spatial = Dims::from_slice(&v[..rank]).expect("rank in 1..=3");
        Ok(Strides {
            batch: extent,
            spatial,
        })
    }
}

fn overflow(shape: &Shape) -> Error {
    Error::new(
        ErrorKind::Overflow,
        format!("shape {shape}: element count or offset overflows usize"),
    )
}

fn stride_name(rank: usize, axis: usize) -> &'static str {
    match (rank - 1 - axis, rank) {
        (0, _) => "pixel stride",
        (1, _) => "row stride",
        _ => "plane stride",
    }
}

/// Checks strides against the shape and returns the number of elements the buffer must hold.
pub(crate) fn required_len(what: &str, shape: &Shape, strides: &Strides) -> Result<usize> {
    let rank = shape.spatial.rank();
    if strides.spatial.rank() != rank {
        return Err(Error::new(
            ErrorKind::InvalidShape,
            format!(
                "{what} strides have {} spatial axes but shape {shape} has {rank}",
                strides.spatial.rank()
            ),
        ));
    }
    // Stride minimums, innermost first; an axis of size 0 or 1 never uses its stride.
    let mut inner = shape.c;
    let mut inner_name = "C".to_string();
    for i in (0..rank).rev() {
        let size = shape.spatial.as_slice()[i];
        let stride = strides.spatial.as_slice()[i];
        if size > 1 && stride < inner {
            return Err(Error::new(
                ErrorKind::InvalidShape,
                format!(
                    "{what} {} = {stride}: must be at least {inner_name} = {inner}",
                    stride_name(rank, i)
                ),
            ));
        }
        // An axis of size 1 never uses its stride, so it must not set the next axis's minimum
        // either: that stays the extent inside it (else W = 1 with pixel stride 0 would let
        // rows overlap, and W = 1 with a large pixel stride would reject dense rows).
        if size != 1 {
            inner = size.checked_mul(stride).ok_or_else(|| overflow(shape))?;
            inner_name = format!("{size} x {}", stride_name(rank, i));
        }
    }
    if shape.n > 1 && strides.batch < inner {
        return Err(Error::new(
            ErrorKind::InvalidShape,
            format!(
                "{what} batch stride = {}: must be at least {inner_name} = {inner}",
                strides.batch
            ),
        ));
    }
    if shape.is_empty() {
        return Ok(0);
    }
    shape.num_elements().ok_or_else(|| overflow(shape))?;
    let mut last = (shape.n - 1)
        .checked_mul(strides.batch)
        .and_then(|x| x.checked_add(shape.c))
        .ok_or_else(|| overflow(shape))?;
    for i in 0..rank {
        last = (shape.spatial.as_slice()[i] - 1)
            .checked_mul(strides.spatial.as_slice()[i])
            .and_then(|x| x.checked_add(last))
            .ok_or_else(|| overflow(shape))?;
    }
    Ok(last)
}

fn check_len(what: &str, shape: &Shape, strides: &Strides, len: usize) -> Result<()> {
    let need = required_len(what, shape, strides)?;
    if len < need {
        return Err(Error::new(
            ErrorKind::BufferTooSmall,
            format!(
                "{what} buffer has {len} elements; shape {shape} with strides (batch {}, spatial {}) needs {need}",
                strides.batch, strides.spatial
            ),
        ));
    }
    Ok(())
}

fn cast_error<T: Element>(what: &str, len: usize, e: bytemuck::PodCastError) -> Error {
    match e {
        bytemuck::PodCastError::TargetAlignmentGreaterAndInputNotAligned => Error::new(
            ErrorKind::Misaligned,
            format!(
                "{what} bytes are not aligned to {} bytes for {}",
                std::mem::align_of::<T>(),
                T::NAME
            ),
        ),
        _ => Error::new(
            ErrorKind::InvalidShape,
            format!(
                "{what} byte length = {len}: not a multiple of {} ({})",
                std::mem::size_of::<T>(),
                T::NAME
            ),
        ),
    }
}

/// An immutable strided view of an NHWC tensor.
///
/// ```
/// use simdpool::{Shape, Strides, TensorView};
/// let data = vec![0.0f32; 2 * 2 * 8];
/// // Channels 0..3 of a 1x2x2x8 tensor: pixel stride 8 > C = 3.
/// let v = TensorView::with_strides(&data, Shape::nhwc(1, 2, 2, 3), Strides::nhwc(32, 16, 8)).unwrap();
/// assert_eq!(v.shape().c(), 3);
/// ```
#[derive(Clone, Copy)]
pub struct TensorView<'a, T: Element = f32> {
    data: &'a [T],
    shape: Shape,
    strides: Strides,
}

/// A mutable strided view of an NHWC tensor (a pooling output).
pub struct TensorViewMut<'a, T: Element = f32> {
    data: &'a mut [T],
    shape: Shape,
    strides: Strides,
}

macro_rules! view_common {
    ($ty:ident, $what:literal, $slice:ty) => {
        impl<'a, T: Element> $ty<'a, T> {
            /// A dense view; errors if `data` is too short or the size overflows.
            pub fn new(data: $slice, shape: Shape) -> Result<Self> {
                let strides = Strides::dense(&shape)?;
                Self::with_strides(data, shape, strides)
            }

            /// A view with explicit strides (in elements); errors if a stride is smaller than
            /// the dense one along an axis of size > 1, or if `data` is too short.
            pub fn with_strides(data: $slice, shape: Shape, strides: Strides) -> Result<Self> {
                check_len($what, &shape, &strides, data.len())?;
                Ok($ty {
                    data,
                    shape,
                    strides,
                })
            }

            /// The shape.
            pub fn shape(&self) -> Shape {
                self.shape
            }

            /// The strides, in elements.
            pub fn strides(&self) -> Strides {
                self.strides
            }

            /// The whole underlying buffer.
            pub fn data(&self) -> &[T] {
                self.data
            }

            /// The offset of element `(n, pos, c)`, or `None` outside the shape.
            pub fn offset(&self, n: usize, pos: &[usize], c: usize) -> Option<usize> {
                let sp = self.shape.spatial.as_slice();
                if n >= self.shape.n || c >= self.shape.c || pos.len() != sp.len() {
                    return None;
                }
                let mut off = n * self.strides.batch + c;
                for ((&p, &size), &st) in pos.iter().zip(sp).zip(self.strides.spatial.as_slice()) {
                    if p >= size {
                        return None;
                    }
                    off += p * st;
                }
                Some(off)
            }

            /// Element `(n, pos, c)`, or `None` outside the shape.
            pub fn get(&self, n: usize, pos: &[usize], c: usize) -> Option<T> {
                self.offset(n, pos, c).map(|o| self.data[o])
            }
        }
    };
}

view_common!(TensorView, "input", &'a [T]);
view_common!(TensorViewMut, "output", &'a mut [T]);

impl<'a> TensorView<'a, f32> {
    /// A dense view over bytes holding native-endian f32 (through bytemuck); errors if the bytes
    /// are not 4-byte aligned or not a whole number of elements.
    pub fn from_bytes(bytes: &'a [u8], shape: Shape) -> Result<Self> {
        let data = bytemuck::try_cast_slice(bytes)
            .map_err(|e| cast_error::<f32>("input", bytes.len(), e))?;
        Self::new(data, shape)
    }
}

impl<'a> TensorViewMut<'a, f32> {
    /// A dense mutable view over bytes (see [`TensorView::from_bytes`]).
    pub fn from_bytes(bytes: &'a mut [u8], shape: Shape) -> Result<Self> {
        let len = bytes.len();
        let data =
            bytemuck::try_cast_slice_mut(bytes).map_err(|e| cast_error::<f32>("output", len, e))?;
        Self::new(data, shape)
    }
}

impl<'a, T: Element> TensorViewMut<'a, T> {
    /// The whole underlying buffer, mutably.
    pub fn data_mut(&mut self) -> &mut [T] {
        self.data
    }

    /// A shorter-lived mutable view of the same tensor.
    pub fn reborrow(&mut self) -> TensorViewMut<'_, T> {
        TensorViewMut {
            data: self.data,
            shape: self.shape,
            strides: self.strides,
        }
    }

    /// An immutable view of the same tensor.
    pub fn as_view(&self) -> TensorView<'_, T> {
        TensorView {
            data: self.data,
            shape: self.shape,
            strides: self.strides,
        }
    }
}

/// An owned dense tensor whose storage is 64-byte aligned (the kernels' fastest case).
///
/// ```
/// use simdpool::{Shape, Tensor};
/// let t = Tensor::from_fn(Shape::nhwc(1, 2, 2, 3), |i| i as f32).unwrap();
/// assert_eq!(t.as_slice()[5], 5.0);
/// assert_eq!(t.as_slice().as_ptr() as usize % 64, 0);
/// ```
#[derive(Clone)]
pub struct Tensor<T: Element = f32> {
    data: AVec<T, ConstAlign<64>>,
    shape: Shape,
}

impl<T: Element> Tensor<T> {
    /// A tensor of zeros (all-zero bits); errors if the size overflows or cannot be allocated.
    pub fn zeros(shape: Shape) -> Result<Self> {
        Self::from_fn(shape, |_| T::zeroed())
    }

    /// A tensor whose element at flat (dense NHWC) index `i` is `f(i)`.
    pub fn from_fn(shape: Shape, mut f: impl FnMut(usize) -> T) -> Result<Self> {
        let len = shape.num_elements().ok_or_else(|| overflow(&shape))?;
        let mut data = AVec::<T, ConstAlign<64>>::new(64);
        data.try_reserve_exact(len).map_err(|_| {
            Error::new(
                ErrorKind::Overflow,
                format!("shape {shape}: cannot allocate {len} elements"),
            )
        })?;
        for i in 0..len {
            data.push(f(i));
        }
        Ok(Tensor { data, shape })
    }

    /// A copy of `data` (dense NHWC, exactly `shape`'s element count).
    pub fn from_slice(shape: Shape, data: &[T]) -> Result<Self> {
        let len = shape.num_elements().ok_or_else(|| overflow(&shape))?;
        if data.len() != len {
            return Err(Error::new(
                ErrorKind::InvalidShape,
                format!(
                    "data length = {}: shape {shape} holds {len} elements",
                    data.len()
                ),
            ));
        }
        Self::from_fn(shape, |i| data[i])
    }

    /// The shape.
    pub fn shape(&self) -> Shape {
        self.shape
    }

    /// The elements, dense NHWC.
    pub fn as_slice(&self) -> &[T] {
        self.data.as_slice()
    }

    /// The elements, mutably.
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        self.data.as_mut_slice()
    }

    /// A view of the whole tensor.
    pub fn view(&self) -> TensorView<'_, T> {
        TensorView {
            data: self.data.as_slice(),
            shape: self.shape,
            strides: Strides::dense(&self.shape).expect("checked when the tensor was made"),
        }
    }

    /// A mutable view of the whole tensor.
    pub fn view_mut(&mut self) -> TensorViewMut<'_, T> {
        TensorViewMut {
            strides: Strides::dense(&self.shape).expect("checked when the tensor was made"),
            data: self.data.as_mut_slice(),
            shape: self.shape,
        }
    }
}

impl<T: Element> fmt::Debug for Tensor<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tensor")
            .field("shape", &self.shape)
            .finish_non_exhaustive()
    }
}
