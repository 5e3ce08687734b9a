//! The scalar reference: SPEC.md written literally, one output element at a time.
//!
//! Sums and powers accumulate in f64 and round once to f32, except stochastic training, whose
//! rule is defined in f32 (see [`crate::philox`]). Slow by design; every vector kernel is
//! compared against it. No `unsafe`.

use crate::geometry::Axis;
use crate::params::Divisor;
use crate::philox;
use crate::plan::{OpSpec, Spec};
use crate::tensor::{TensorView, TensorViewMut};

/// Pools the whole tensor. The views' shapes equal the spec's (checked by the plan).
/// Allocates nothing: taps are produced by an iterator that is re-run per pass.
pub(crate) fn run(
    spec: &Spec,
    input: &TensorView<'_, f32>,
    output: &mut TensorViewMut<'_, f32>,
    seed: u64,
) {
    let rank = spec.input.spatial().rank();
    for n in 0..spec.input.n() {
        for oh in 0..spec.h.out {
            for ow in 0..spec.w.out {
                for c in 0..spec.input.c() {
                    let taps = window_taps(spec, input, n, oh, ow, c);
                    let y = value(spec.op, &spec.h, &spec.w, taps, seed, [n, oh, ow, c]);
                    let p = if rank == 1 { [ow, 0] } else { [oh, ow] };
                    let off = output
                        .offset(n, &p[..rank], c)
                        .expect("output position inside the plan's shape");
                    output.data_mut()[off] = clamp(y, spec.lo, spec.hi);
                }
            }
        }
    }
}

/// The output of one window (before the clamp) from its in-input taps in window order.
/// `at = [n, oh, ow, c]`. Kernels call it for the rare outputs they recompute exactly.
pub(crate) fn value(
    op: OpSpec,
    h: &Axis,
    w: &Axis,
    taps: impl Iterator<Item = Tap> + Clone,
    seed: u64,
    at: [usize; 4],
) -> f32 {
    let [_, oh, ow, _] = at;
    match op {
        OpSpec::Max | OpSpec::GlobalMax => max(taps),
        OpSpec::Avg(d) => avg(taps.clone(), divisor(h, w, d, oh, ow, taps.count())),
        OpSpec::GlobalAvg => avg(taps.clone(), taps.count() as f64),
        OpSpec::Lp(p) | OpSpec::GlobalLp(p) => lp(taps, p),
        OpSpec::StochTrain => stochastic_train(taps, seed, at.map(|v| v as u32)).0,
        OpSpec::StochInfer => stochastic_inference(taps),
    }
}

/// One in-input tap: its value and its flat index in the dense NHWC input.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tap {
    pub x: f32,
    pub index: u64,
}

/// The in-input taps of output `(n, oh, ow)`, channel `c`, in window order (row-major).
pub(crate) fn window_taps<'a>(
    spec: &'a Spec,
    input: &'a TensorView<'_, f32>,
    n: usize,
    oh: usize,
    ow: usize,
    c: usize,
) -> impl Iterator<Item = Tap> + Clone + 'a {
    let rank = spec.input.spatial().rank();
    let (ih, iw, cc) = (spec.h.input, spec.w.input, spec.input.c());
    // The taps j whose position start + j*d lies inside the input form one range (positions
    // grow with j): visiting only it keeps huge windows over small inputs cheap.
    let (h0, h1) = spec.h.taps(oh);
    let (w0, w1) = spec.w.taps(ow);
    let rows = (h0..h1)
        .map(move |j| spec.h.start(oh) + (j * spec.h.d) as isize)
        .filter(move |&h| h >= 0 && h < ih as isize);
    rows.flat_map(move |h| {
        (w0..w1)
            .map(move |j| spec.w.start(ow) + (j * spec.w.d) as isize)
            .filter(move |&w| w >= 0 && w < iw as isize)
            .map(move |w| {
                let (h, w) = (h as usize, w as usize);
                let p = if rank == 1 { [w, 0] } else { [h, w] };
                let x = input.get(n, &p[..rank], c).expect("tap inside the input");
                let index = (((n * ih + h) * iw + w) * cc + c) as u64;
                Tap { x, index }
            })
    })
}

pub(crate) fn divisor(
    h: &Axis,
    w: &Axis,
    d: Divisor,
    oh: usize,
    ow: usize,
    in_input: usize,
) -> f64 {
    match d {
        Divisor::ExcludePad => in_input as f64,
        Divisor::IncludePad => (h.include_pad_count(oh) as f64) * (w.include_pad_count(ow) as f64),
        Divisor::Override(v) => v as f64,
    }
}

/// `min(max(y, lo), hi)`, NaN kept.
pub(crate) fn clamp(y: f32, lo: f32, hi: f32) -> f32 {
    if y.is_nan() { y } else { y.max(lo).min(hi) }
}

/// Maximum; any NaN gives NaN.
fn max(taps: impl Iterator<Item = Tap>) -> f32 {
    let mut m = f32::NEG_INFINITY;
    for t in taps {
        if t.x.is_nan() {
            return f32::NAN;
        }
        if t.x > m {
            m = t.x;
        }
    }
    m
}

/// f64 sum over an f64 divisor, rounded once.
fn avg(taps: impl Iterator<Item = Tap>, divisor: f64) -> f32 {
    let s: f64 = taps.map(|t| f64::from(t.x)).sum();
    (s / divisor) as f32
}

/// `(sum |x|^p)^(1/p)` over the taps (ONNX LpPool with real p; see the crate docs).
fn lp(taps: impl Iterator<Item = Tap> + Clone, p: f64) -> f32 {
    let abs = taps.map(|t| f64::from(t.x.abs()));
    if abs.clone().any(f64::is_nan) {
        return f32::NAN;
    }
    let m = abs.clone().fold(0.0, f64::max);
    if m == f64::INFINITY {
        return f32::INFINITY;
    }
    if m == 0.0 {
        return 0.0;
    }
    let r = if p == f64::INFINITY {
        m
    } else if p == 1.0 {
        abs.sum()
    } else if p == 2.0 {
        // No overflow or underflow in f64 for squares of f32 values.
        abs.map(|a| a * a).sum::<f64>().sqrt()
    } else {
        // Scaled by the largest |x| so that no power overflows or underflows spuriously.
        let s: f64 = abs.map(|a| (a / m).powf(p)).sum();
        m * s.powf(1.0 / p)
    };
    r as f32
}

/// Stochastic training: the value and flat input index of the sampled tap (SPEC.md, bit for
/// bit). `at = [n, oh, ow, c]`.
pub(crate) fn stochastic_train(
    taps: impl Iterator<Item = Tap> + Clone,
    seed: u64,
    at: [u32; 4],
) -> (f32, u64) {
    if let Some(t) = taps.clone().find(|t| t.x.is_nan()) {
        return (f32::NAN, t.index);
    }
    let weight = |t: &Tap| t.x.max(0.0);
    let s: f32 = taps.clone().fold(0.0f32, |s, t| s + weight(&t));
    let mut prefix = 0.0f32;
    if s == 0.0 {
        let first = taps.clone().next().expect("a window has an in-input tap");
        return (0.0, first.index);
    }
    if s == f32::INFINITY {
        for t in taps {
            prefix += weight(&t);
            if prefix == f32::INFINITY {
                return (t.x, t.index);
            }
        }
        unreachable!("the prefix sum reaches S");
    }
    let u = philox::stochastic_uniform(seed, at[0], at[1], at[2], at[3]);
    let threshold = u * s;
    let mut last_positive = None;
    for t in taps {
        prefix += weight(&t);
        if prefix > threshold {
            return (t.x, t.index);
        }
        if t.x > 0.0 {
            last_positive = Some(t);
        }
    }
    let last = last_positive.expect("S > 0 needs a positive tap");
    (last.x, last.index)
}

/// Stochastic inference: `sum a^2 / sum a` in f64, `a = max(x, 0)`; 0 if the sum is 0; NaN if
/// any tap is NaN; `+inf` if any tap is `+inf` (the limit of the weighted average).
fn stochastic_inference(taps: impl Iterator<Item = Tap> + Clone) -> f32 {
    if taps.clone().any(|t| t.x.is_nan()) {
        return f32::NAN;
    }
    if taps.clone().any(|t| t.x == f32::INFINITY) {
        return f32::INFINITY;
    }
    let a = taps.map(|t| f64::from(t.x.max(0.0)));
    let s: f64 = a.clone().sum();
    if s == 0.0 {
        return 0.0;
    }
    let s2: f64 = a.map(|v| v * v).sum();
    (s2 / s) as f32
}
