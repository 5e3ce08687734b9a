//! `Plan`: validated parameters + shapes + the kernel chosen once; `run` allocates nothing.

use crate::dispatch::{self, KernelInfo};
use crate::error::{Error, ErrorKind, Result};
use crate::geometry::{self, Axis};
use crate::kernels::Job;
use crate::parallel::{self, Partition, Scratch, Threads};
use crate::params::{Divisor, GlobalOp, PoolParams, Pooling, StochasticMode, WindowOp};
use crate::reference;
use crate::tensor::{Element, Shape, Strides, TensorView, TensorViewMut};
use crate::tier::{self, Isa, Tier};
use std::marker::PhantomData;

/// The operator with its parameters resolved (crate-internal).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum OpSpec {
    Max,
    Avg(Divisor),
    Lp(f64),
    StochTrain,
    StochInfer,
    GlobalMax,
    GlobalAvg,
    GlobalLp(f64),
}

impl OpSpec {
    /// The op part of kernel ids for this operator.
    pub(crate) fn kernel_op(self) -> &'static str {
        match self {
            OpSpec::Max => "max",
            OpSpec::Avg(_) => "avg",
            OpSpec::Lp(1.0) => "lp1",
            OpSpec::Lp(2.0) => "lp2",
            OpSpec::Lp(f64::INFINITY) => "lpinf",
            OpSpec::Lp(_) => "lp",
            OpSpec::StochTrain => "stochtrain",
            OpSpec::StochInfer => "stochinfer",
            OpSpec::GlobalMax => "gmax",
            OpSpec::GlobalAvg => "gavg",
            OpSpec::GlobalLp(_) => "glp",
        }
    }

    /// `{op}_f32__reference`, the name a reference plan reports.
    pub(crate) fn reference_name(self) -> &'static str {
        match self.kernel_op() {
            "max" => "max_f32__reference",
            "avg" => "avg_f32__reference",
            "lp1" => "lp1_f32__reference",
            "lp2" => "lp2_f32__reference",
            "lpinf" => "lpinf_f32__reference",
            "lp" => "lp_f32__reference",
            "stochtrain" => "stochtrain_f32__reference",
            "stochinfer" => "stochinfer_f32__reference",
            "gmax" => "gmax_f32__reference",
            "gavg" => "gavg_f32__reference",
            _ => "glp_f32__reference",
        }
    }
}

/// A validated problem: operator, shapes and per-axis geometry (crate-internal).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Spec {
    pub op: OpSpec,
    pub input: Shape,
    pub output: Shape,
    /// Vertical axis (identity of size 1 for 1-D pooling).
    pub h: Axis,
    /// Horizontal (innermost spatial) axis.
    pub w: Axis,
    pub lo: f32,
    pub hi: f32,
    /// Default seed of stochastic training.
    pub seed: u64,
}

impl Spec {
    pub(crate) fn new(params: &PoolParams, input: Shape) -> Result<Spec> {
        let (lo, hi) = match params.clamp {
            None => (f32::NEG_INFINITY, f32::INFINITY),
            Some(c) => {
                if c.lo.is_nan() || c.hi.is_nan() || c.lo > c.hi {
                    return Err(Error::param(
                        "clamp",
                        format!("({}, {})", c.lo, c.hi),
                        "needs lo <= hi and no NaN bound",
                    ));
                }
                (c.lo, c.hi)
            }
        };
        let rank = input.spatial().rank();
        if rank == 3 {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!("input shape {input}: 3-D pooling is not implemented yet"),
            ));
        }
        input.num_elements().ok_or_else(|| {
            Error::new(
                ErrorKind::Overflow,
                format!("input shape {input}: element count overflows usize"),
            )
        })?;
        let check_p = |p: f64| {
            if p.is_nan() || p <= 0.0 {
                Err(Error::param("p", p, "must be > 0 (or infinity)"))
            } else {
                Ok(())
            }
        };
        let mut seed = 0;
        let (op, axes) = match params.pooling {
            Pooling::Window { op, window } => {
                let op = match op {
                    WindowOp::Max => OpSpec::Max,
                    WindowOp::Avg(Divisor::Override(0)) => {
                        return Err(Error::param("divisor_override", 0, "must be at least 1"));
                    }
                    WindowOp::Avg(d) => OpSpec::Avg(d),
                    WindowOp::Lp(p) => {
                        check_p(p)?;
                        OpSpec::Lp(p)
                    }
                    WindowOp::Stochastic(StochasticMode::Train { seed: s }) => {
                        seed = s;
                        OpSpec::StochTrain
                    }
                    WindowOp::Stochastic(StochasticMode::Inference) => OpSpec::StochInfer,
                };
                (op, geometry::resolve(&window, input.spatial())?)
            }
            Pooling::Global(g) => {
                let op = match g {
                    GlobalOp::Max => OpSpec::GlobalMax,
                    GlobalOp::Avg => OpSpec::GlobalAvg,
                    GlobalOp::Lp(p) => {
                        check_p(p)?;
                        OpSpec::GlobalLp(p)
                    }
                };
                let mut axes = Vec::new();
                for (i, &n) in input.spatial().as_slice().iter().enumerate() {
                    if n == 0 {
                        return Err(Error::new(
                            ErrorKind::InvalidGeometry,
                            format!(
                                "input size along {} = 0: global pooling needs at least one position",
                                geometry::axis_name(rank, i)
                            ),
                        ));
                    }
                    axes.push(Axis::global(n));
                }
                (op, axes)
            }
        };
        let (h, w) = match axes.as_slice() {
            [w] => (Axis::identity(1), *w),
            [h, w] => (*h, *w),
            _ => unreachable!("rank checked above"),
        };
        let out_spatial: Vec<usize> = axes.iter().map(|a| a.out).collect();
        let output = Shape::new(
            input.n(),
            crate::params::Dims::from_slice(&out_spatial).expect("rank 1 or 2"),
            input.c(),
        );
        output.num_elements().ok_or_else(|| {
            Error::new(
                ErrorKind::Overflow,
                format!("output shape {output}: element count overflows usize"),
            )
        })?;
        if op == OpSpec::StochTrain {
            // Indices up to u32::MAX, so sizes up to 2^32 (in u64: `usize` may be 32 bits,
            // where `u32::MAX as usize + 1` does not compile and no size can exceed it).
            let limit = u64::from(u32::MAX) + 1;
            for (name, v) in [
                ("batch", input.n()),
                ("output height", h.out),
                ("output width", w.out),
                ("channels", input.c()),
            ] {
                if v as u64 > limit {
                    return Err(Error::new(
                        ErrorKind::Overflow,
                        format!("{name} = {v}: stochastic training counters are u32"),
                    ));
                }
            }
        }
        Ok(Spec {
            op,
            input,
            output,
            h,
            w,
            lo,
            hi,
            seed,
        })
    }
}

/// What a plan runs.
#[derive(Clone, Copy, Debug)]
enum Selected {
    Reference,
    Kernel(&'static KernelInfo),
}

/// A pooling problem made ready to run: parameters validated against an input shape, output
/// shape computed, and the kernel chosen once (by ISA tier and window).
///
/// `run` checks the views' shapes against the plan, allocates nothing, and may be called from
/// several threads at once (`Plan` is `Send + Sync`).
///
/// ```
/// use simdpool::{Isa, Padding, Plan, PoolParams, Shape, Tensor, Window};
/// let params = PoolParams::max(Window::new([3, 3]).stride([2, 2]).padding(Padding::symmetric([1, 1])));
/// let plan = Plan::new(&params, Shape::nhwc(1, 8, 8, 16), Isa::Best).unwrap();
/// assert_eq!(plan.output_shape(), Shape::nhwc(1, 4, 4, 16));
/// let x = Tensor::from_fn(plan.input_shape(), |i| (i % 7) as f32).unwrap();
/// let mut y = Tensor::zeros(plan.output_shape()).unwrap();
/// plan.run(x.view(), y.view_mut()).unwrap();
/// println!("ran {}", plan.kernel_name()); // e.g. max_f32_kany__avx512
/// ```
#[derive(Clone, Debug)]
pub struct Plan<T: Element = f32> {
    spec: Spec,
    part: Partition,
    scratch: Scratch,
    selected: Selected,
    fallback: bool,
    _t: PhantomData<fn() -> T>,
}

impl Plan<f32> {
    /// Validates `params` for `input` and picks the kernel for `isa`.
    ///
    /// [`Isa::Best`] reads the `SIMDPOOL_ISA` environment variable (same names) as a cap; a
    /// cap above this CPU's best tier gives the best tier. Operators that have no vector kernel
    /// for the chosen tier yet run on the reference ([`Plan::is_reference_fallback`]).
    ///
    /// # Errors
    /// Every invalid request of SPEC.md ("Errors"): zero kernel, stride or dilation, padding
    /// not below the effective kernel, a window wholly in padding, ceil mode with same
    /// padding, a zero divisor, an empty output, `p <= 0` or NaN, `lo > hi`, overflowing
    /// sizes; a tier this CPU lacks; a bad `SIMDPOOL_ISA`.
    pub fn new(params: &PoolParams, input: Shape, isa: Isa) -> Result<Self> {
        let spec = Spec::new(params, input)?;
        let tier = tier::resolve(isa)?;
        let (selected, fallback) = match tier {
            None => (Selected::Reference, false),
            Some(t) => match dispatch::select(&spec, t) {
                Some(k) => (Selected::Kernel(k), false),
                None => (Selected::Reference, true),
            },
        };
        let (part, scratch) = layout(&spec, selected);
        Ok(Plan {
            part,
            scratch,
            spec,
            selected,
            fallback,
            _t: PhantomData,
        })
    }

    /// Like [`Plan::new`] with one registry kernel forced by name (see [`crate::registry`]),
    /// experimental ones included: for tests and benches.
    ///
    /// # Errors
    /// As [`Plan::new`]; also an unknown name, a kernel for another operator or window, or a
    /// tier this CPU lacks.
    pub fn with_kernel(params: &PoolParams, input: Shape, name: &str) -> Result<Self> {
        let spec = Spec::new(params, input)?;
        let k = dispatch::registry()
            .iter()
            .copied()
            .find(|k| k.name == name)
            .ok_or_else(|| Error::param("kernel", name, "no such kernel in the registry"))?;
        if !k.tier.is_available() {
            return Err(Error::new(
                ErrorKind::IsaUnavailable,
                format!("kernel = {name}: this CPU lacks tier {}", k.tier),
            ));
        }
        if !k.accepts(&spec) {
            return Err(Error::param(
                "kernel",
                name,
                "does not implement this operator and window",
            ));
        }
        let (part, scratch) = layout(&spec, Selected::Kernel(k));
        Ok(Plan {
            part,
            scratch,
            spec,
            selected: Selected::Kernel(k),
            fallback: false,
            _t: PhantomData,
        })
    }

    pub(crate) fn spec(&self) -> &Spec {
        &self.spec
    }

    /// The input shape the plan was made for.
    pub fn input_shape(&self) -> Shape {
        self.spec.input
    }

    /// The output shape.
    pub fn output_shape(&self) -> Shape {
        self.spec.output
    }

    /// The kernel id, e.g. `max_f32_kany__avx2`, or `{op}_f32__reference`.
    pub fn kernel_name(&self) -> &'static str {
        match self.selected {
            Selected::Reference => self.spec.op.reference_name(),
            Selected::Kernel(k) => k.name,
        }
    }

    /// The tier that runs, `None` for the reference.
    pub fn tier(&self) -> Option<Tier> {
        match self.selected {
            Selected::Reference => None,
            Selected::Kernel(k) => Some(k.tier),
        }
    }

    /// Scratch floats the plan keeps per concurrently running tile (0 for most kernels; the
    /// stride-1 separable kernels hold a slab of rows there). One slot is allocated with the
    /// plan; pool threads get their own on first use.
    pub fn scratch_floats(&self) -> usize {
        self.scratch.len()
    }

    /// True if a tier was asked for but this operator has no vector kernel yet, so the plan
    /// runs the reference.
    pub fn is_reference_fallback(&self) -> bool {
        self.fallback
    }

    /// Pools `input` into `output`. Stochastic training uses the seed given to the params.
    ///
    /// # Errors
    /// A view whose shape differs from the plan's; nothing is written then.
    pub fn run(&self, input: TensorView<'_, f32>, output: TensorViewMut<'_, f32>) -> Result<()> {
        self.run_seeded(input, output, self.spec.seed, Threads::Current)
    }

    /// Like [`Plan::run`] with a choice of threads and, for stochastic training, of the seed
    /// (`None`: the params' seed). The result is bitwise identical for every thread count.
    ///
    /// ```
    /// use simdpool::{Isa, Plan, PoolParams, Shape, Tensor, Threads, Window};
    /// let plan = Plan::new(&PoolParams::max(Window::new([2, 2]).stride([2, 2])), Shape::nhwc(1, 64, 64, 32), Isa::Best)?;
    /// let x = Tensor::from_fn(plan.input_shape(), |i| (i % 13) as f32)?;
    /// let mut y = Tensor::zeros(plan.output_shape())?;
    /// plan.run_with(x.view(), y.view_mut(), Threads::Global, None)?;
    /// # Ok::<(), simdpool::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Plan::run`], and as [`Plan::run_with_seed`] for a seed given to another operator.
    pub fn run_with(
        &self,
        input: TensorView<'_, f32>,
        output: TensorViewMut<'_, f32>,
        threads: Threads<'_>,
        seed: Option<u64>,
    ) -> Result<()> {
        let seed = match seed {
            Some(s) => self.check_seed(s)?,
            None => self.spec.seed,
        };
        self.run_seeded(input, output, seed, threads)
    }

    fn check_seed(&self, seed: u64) -> Result<u64> {
        if self.spec.op != OpSpec::StochTrain {
            return Err(Error::param(
                "seed",
                seed,
                "only stochastic training pooling takes a seed",
            ));
        }
        Ok(seed)
    }

    /// Like [`Plan::run`] with the seed of stochastic training for this call (a training step).
    ///
    /// # Errors
    /// As [`Plan::run`]; also an error for an operator other than stochastic training.
    pub fn run_with_seed(
        &self,
        input: TensorView<'_, f32>,
        output: TensorViewMut<'_, f32>,
        seed: u64,
    ) -> Result<()> {
        let seed = self.check_seed(seed)?;
        self.run_seeded(input, output, seed, Threads::Current)
    }

    /// `run` with an explicit seed for any operator (tests pass a seed uniformly).
    #[cfg(test)]
    pub(crate) fn run_seeded_for_test(
        &self,
        input: TensorView<'_, f32>,
        output: TensorViewMut<'_, f32>,
        seed: u64,
    ) -> Result<()> {
        self.run_seeded(input, output, seed, Threads::Current)
    }

    fn run_seeded(
        &self,
        input: TensorView<'_, f32>,
        mut output: TensorViewMut<'_, f32>,
        seed: u64,
        threads: Threads<'_>,
    ) -> Result<()> {
        for (what, got, want) in [
            ("input", input.shape(), self.spec.input),
            ("output", output.shape(), self.spec.output),
        ] {
            if got != want {
                return Err(Error::new(
                    ErrorKind::InvalidShape,
                    format!("{what} shape = {got}: the plan expects {want}"),
                ));
            }
        }
        if self.spec.output.is_empty() {
            return Ok(());
        }
        match self.selected {
            Selected::Reference => reference::run(&self.spec, &input, &mut output, seed),
            Selected::Kernel(k) => {
                let job = self.job(&input, &mut output, seed);
                // SAFETY: the views' shapes equal the plan's and their constructors checked
                // that their buffers hold every element their strides address; the kernel's
                // tier is available (checked when the plan was made) and it accepts the spec;
                // the partition's tiles cover the output without overlap.
                unsafe { parallel::run(k.func, &job, &self.part, &self.scratch, threads) };
                #[cfg(feature = "check")]
                if let Err(m) = crate::check::compare(self, input, output.as_view(), seed) {
                    panic!(
                        "simdpool check feature: {m}\n  plan: {:?}\n  input shape {} strides {:?}, output strides {:?}, seed {seed}",
                        self.spec,
                        input.shape(),
                        input.strides(),
                        output.strides()
                    );
                }
            }
        }
        Ok(())
    }

    fn job(
        &self,
        input: &TensorView<'_, f32>,
        output: &mut TensorViewMut<'_, f32>,
        seed: u64,
    ) -> Job {
        let (ib, ir, ip) = split_strides(input.strides());
        let (ob, or, op) = split_strides(output.strides());
        Job {
            src: input.data().as_ptr(),
            dst: output.data_mut().as_mut_ptr(),
            c: self.spec.input.c(),
            seed,
            h: self.spec.h,
            w: self.spec.w,
            in_batch: ib,
            in_row: ir,
            in_pixel: ip,
            out_batch: ob,
            out_row: or,
            out_pixel: op,
            lo: self.spec.lo,
            hi: self.spec.hi,
            op: self.spec.op,
        }
    }
}

/// The partition and scratch of a plan's kernel.
fn layout(spec: &Spec, selected: Selected) -> (Partition, Scratch) {
    let separable = matches!(selected, Selected::Kernel(k) if k.is_separable());
    let part = Partition::new(spec, separable);
    let len = if separable {
        // Accepted by dispatch only when this fits (KernelInfo::accepts).
        crate::kernels::separable::scratch_len(&spec.h, &spec.w, spec.input.c()).unwrap_or(0)
    } else {
        0
    };
    (part, Scratch::new(len))
}

/// (batch, row, pixel) strides; 1-D tensors have no row (their H axis has size 1).
fn split_strides(s: Strides) -> (usize, usize, usize) {
    match s.spatial.as_slice() {
        [p] => (s.batch, 0, *p),
        [r, p] => (s.batch, *r, *p),
        _ => unreachable!("plans are rank 1 or 2"),
    }
}
