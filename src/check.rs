//! Cross-checking a result against the scalar reference under SPEC.md's accuracy contract.
//!
//! [`compare`] recomputes a plan's output with the reference and checks every element against
//! the tolerance of its operator. It allocates a reference output and is slow (scalar, f64);
//! it is meant for tests, fuzzing, and users validating the crate inside their own engine.
//!
//! The tolerances (per output element; `K` in-input taps, `eps = 2^-24`, bounds in f64):
//! - max, global max, Lp with p = infinity, stochastic training: bitwise equal (NaN iff NaN,
//!   `+0.0` and `-0.0` equal);
//! - average: `|y - y_ref| <= (K + 2) * eps * sum|x| / divisor`;
//! - stochastic inference: `|y - y_ref| <= (K + 2) * eps * sum a^2 / S`;
//! - Lp with p = 1 or 2: relative `(K + 4) * eps`; other p: relative `1e-5` when every nonzero
//!   |x| lies in `[1e-30, 1e30]` and `0.25 <= p <= 64`, else `1e-4` (against `max(|y_ref|,
//!   f32::MIN_POSITIVE)`, so subnormal references get an absolute bound);
//! - a non-finite reference must be matched in kind; an average may overflow to an infinity
//!   of the reference's sign only when `sum |x|` exceeds `f32::MAX` (likewise `sum a^2`).

use crate::plan::{OpSpec, Plan, Spec};
use crate::reference;
use crate::tensor::{Shape, Tensor, TensorView};
use std::fmt;

/// The first element that broke the tolerance.
#[derive(Clone, Debug, PartialEq)]
pub struct Mismatch {
    /// Batch index.
    pub n: usize,
    /// Output spatial position, outermost first.
    pub position: Vec<usize>,
    /// Channel.
    pub c: usize,
    /// The value under test.
    pub got: f32,
    /// The reference value.
    pub want: f32,
    /// The allowed absolute difference (0 for bitwise-equal operators).
    pub bound: f64,
    /// The plan's kernel.
    pub kernel: &'static str,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: output (n={}, pos={:?}, c={}) = {:e} ({:#010x}), reference {:e} ({:#010x}), allowed difference {:e}",
            self.kernel,
            self.n,
            self.position,
            self.c,
            self.got,
            self.got.to_bits(),
            self.want,
            self.want.to_bits(),
            self.bound
        )
    }
}

impl std::error::Error for Mismatch {}

/// Statistics of one window that the tolerances need.
#[derive(Clone, Copy, Debug, Default)]
struct Stats {
    k: usize,
    sum_abs: f64,
    sum_a2: f64,
    s: f64,
    min_nz: f64,
    max_abs: f64,
}

/// Recomputes `plan`'s output for `input` with the reference (stochastic training with
/// `seed`, ignored otherwise) and compares `output` with it element by element.
///
/// # Panics
/// If the views' shapes are not the plan's (a caller bug, not a data condition).
pub fn compare(
    plan: &Plan,
    input: TensorView<'_, f32>,
    output: TensorView<'_, f32>,
    seed: u64,
) -> Result<(), Mismatch> {
    let spec = plan.spec();
    assert_eq!(
        input.shape(),
        spec.input,
        "input shape differs from the plan's"
    );
    assert_eq!(
        output.shape(),
        spec.output,
        "output shape differs from the plan's"
    );
    if spec.output.is_empty() {
        return Ok(());
    }
    let mut want = Tensor::zeros(spec.output).expect("the plan checked the output size");
    reference::run(spec, &input, &mut want.view_mut(), seed);
    let rank = spec.input.spatial().rank();
    for n in 0..spec.input.n() {
        for oh in 0..spec.h.out {
            for ow in 0..spec.w.out {
                let p = if rank == 1 { [ow, 0] } else { [oh, ow] };
                let pos = &p[..rank];
                for c in 0..spec.input.c() {
                    let got = output.get(n, pos, c).expect("inside the shape");
                    let w = want.view().get(n, pos, c).expect("inside the shape");
                    let st = stats(spec, &input, n, oh, ow, c);
                    if let Err(bound) = within(spec, got, w, &st, oh, ow) {
                        return Err(Mismatch {
                            n,
                            position: pos.to_vec(),
                            c,
                            got,
                            want: w,
                            bound,
                            kernel: plan.kernel_name(),
                        });
                    }
                }
            }
        }
    }
    Ok(())
}

fn stats(
    spec: &Spec,
    input: &TensorView<'_, f32>,
    n: usize,
    oh: usize,
    ow: usize,
    c: usize,
) -> Stats {
    let mut st = Stats {
        min_nz: f64::INFINITY,
        ..Stats::default()
    };
    for t in reference::window_taps(spec, input, n, oh, ow, c) {
        let a = f64::from(t.x.abs());
        st.k += 1;
        st.sum_abs += a;
        st.max_abs = st.max_abs.max(a);
        if a > 0.0 {
            st.min_nz = st.min_nz.min(a);
        }
        let pos = f64::from(t.x.max(0.0));
        st.s += pos;
        st.sum_a2 += pos * pos;
    }
    st
}

/// Ok, or Err(the bound that was exceeded).
fn within(spec: &Spec, got: f32, want: f32, st: &Stats, oh: usize, ow: usize) -> Result<(), f64> {
    if want.is_nan() || got.is_nan() {
        return if want.is_nan() && got.is_nan() {
            Ok(())
        } else {
            Err(0.0)
        };
    }
    if got == want {
        // Equal values always pass (a bound can be NaN, e.g. inf/inf for an infinite tap).
        return Ok(());
    }
    let eps = f64::from(f32::EPSILON) / 2.0;
    let k = st.k as f64;
    // The absolute bound of the operator, and the sum whose overflow excuses an infinity.
    let (bound, overflow_sum) = match spec.op {
        OpSpec::Max | OpSpec::GlobalMax | OpSpec::StochTrain => (0.0, None),
        OpSpec::Lp(p) | OpSpec::GlobalLp(p) if p == f64::INFINITY => (0.0, None),
        OpSpec::Avg(d) => {
            let div = crate::reference::divisor(&spec.h, &spec.w, d, oh, ow, st.k);
            ((k + 2.0) * eps * st.sum_abs / div, Some(st.sum_abs))
        }
        OpSpec::GlobalAvg => ((k + 2.0) * eps * st.sum_abs / k, Some(st.sum_abs)),
        OpSpec::StochInfer => {
            let b = if st.s > 0.0 {
                (k + 2.0) * eps * st.sum_a2 / st.s
            } else {
                0.0
            };
            (b, Some(st.sum_a2))
        }
        OpSpec::Lp(p) | OpSpec::GlobalLp(p) => {
            let rel = if p == 1.0 || p == 2.0 {
                (k + 4.0) * eps
            } else if (0.25..=64.0).contains(&p)
                && (st.max_abs == 0.0 || (st.min_nz >= 1e-30 && st.max_abs <= 1e30))
            {
                1e-5
            } else {
                1e-4
            };
            if want == 0.0 {
                return if got == 0.0 { Ok(()) } else { Err(0.0) };
            }
            let scale = f64::from(want.abs()).max(f64::from(f32::MIN_POSITIVE));
            (rel * scale, None)
        }
    };
    if want.is_infinite() || got.is_infinite() {
        if got == want {
            return Ok(());
        }
        let excused = got.is_infinite()
            && want.is_finite()
            && overflow_sum.is_some_and(|s| s > f64::from(f32::MAX))
            && (want == 0.0 || got.signum() == want.signum());
        return if excused { Ok(()) } else { Err(bound) };
    }
    let diff = (f64::from(got) - f64::from(want)).abs();
    if bound == 0.0 {
        return if got == want { Ok(()) } else { Err(0.0) };
    }
    if diff <= bound { Ok(()) } else { Err(bound) }
}

/// A dense reference output for `plan` (stochastic training with `seed`).
pub fn reference_output(plan: &Plan, input: TensorView<'_, f32>, seed: u64) -> Tensor {
    let spec = plan.spec();
    let mut want = Tensor::zeros(spec.output).expect("the plan checked the output size");
    if !Shape::is_empty(&spec.output) {
        reference::run(spec, &input, &mut want.view_mut(), seed);
    }
    want
}
