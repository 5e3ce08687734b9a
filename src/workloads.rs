//! The standard benchmark workloads (the layer shapes of BASELINES.md), shared by
//! `simdpool bench` and the criterion benches so that both measure the same problems.
//!
//! Inputs are seeded standard-normal f32 (absolute values for stochastic pooling), dense and
//! 64-byte aligned.

use crate::error::Result;
use crate::params::{Divisor, Padding, PoolParams, Window};
use crate::tensor::{Shape, Tensor};

/// One named problem.
#[derive(Clone, Copy, Debug)]
pub struct Workload {
    /// The name used in reports (e.g. `max3s2p1_112x64`).
    pub name: &'static str,
    /// What to compute.
    pub params: PoolParams,
    /// Input shape (NHWC).
    pub shape: Shape,
    /// Stochastic pooling gets |x| so that windows have positive weights.
    pub nonnegative: bool,
}

fn win(k: usize, s: usize, p: usize) -> Window {
    Window::new([k, k])
        .stride([s, s])
        .padding(Padding::symmetric([p, p]))
}

fn w(name: &'static str, params: PoolParams, n: usize, hw: usize, c: usize) -> Workload {
    Workload {
        name,
        params,
        shape: Shape::nhwc(n, hw, hw, c),
        nonnegative: false,
    }
}

/// The workloads `simdpool bench` runs: the 14 of BASELINES.md in its order, then those later
/// issues added (stride-1 windows of growing size, real-p Lp, stochastic pooling).
pub fn standard() -> Vec<Workload> {
    let mut v = baselines();
    v.extend(added());
    v
}

/// The 14 workloads of BASELINES.md, in its order.
pub fn baselines() -> Vec<Workload> {
    let ex = Divisor::ExcludePad;
    vec![
        w("tiny_max2x2", PoolParams::max(win(2, 2, 0)), 1, 2, 16),
        w("max3s2p1_112x64", PoolParams::max(win(3, 2, 1)), 1, 112, 64),
        w("max2s2_224x64", PoolParams::max(win(2, 2, 0)), 1, 224, 64),
        w("max3s2p0_147x64", PoolParams::max(win(3, 2, 0)), 1, 147, 64),
        w("max5s1p2_20x512", PoolParams::max(win(5, 1, 2)), 1, 20, 512),
        w("max3s1p1_56x256", PoolParams::max(win(3, 1, 1)), 1, 56, 256),
        w(
            "avg3s1p1_35x192",
            PoolParams::avg(win(3, 1, 1), ex),
            1,
            35,
            192,
        ),
        w(
            "avg2s2_56x256",
            PoolParams::avg(win(2, 2, 0), ex),
            1,
            56,
            256,
        ),
        w("gap_7x2048", PoolParams::global_avg(), 1, 7, 2048),
        w("gap_56x256", PoolParams::global_avg(), 1, 56, 256),
        w("gmp_7x2048", PoolParams::global_max(), 1, 7, 2048),
        w(
            "lp2_3s2_56x64",
            PoolParams::lp(win(3, 2, 0), 2.0),
            1,
            56,
            64,
        ),
        w(
            "max3s2p1_112x64_b8",
            PoolParams::max(win(3, 2, 1)),
            8,
            112,
            64,
        ),
        w("gap_7x2048_b8", PoolParams::global_avg(), 8, 7, 2048),
    ]
}

/// Workloads added after BASELINES.md (same naming: op, window, stride, padding, size x C).
pub fn added() -> Vec<Workload> {
    let ex = Divisor::ExcludePad;
    let mut v = vec![
        w("max3s1p1_20x512", PoolParams::max(win(3, 1, 1)), 1, 20, 512),
        w("max9s1p4_20x512", PoolParams::max(win(9, 1, 4)), 1, 20, 512),
        w(
            "max13s1p6_20x512",
            PoolParams::max(win(13, 1, 6)),
            1,
            20,
            512,
        ),
        w(
            "avg7s1p3_28x256",
            PoolParams::avg(win(7, 1, 3), ex),
            1,
            28,
            256,
        ),
        w(
            "avg3s1p1_28x256",
            PoolParams::avg(win(3, 1, 1), ex),
            1,
            28,
            256,
        ),
        w(
            "lp3_3s2_56x64",
            PoolParams::lp(win(3, 2, 0), 3.0),
            1,
            56,
            64,
        ),
        w(
            "stoch_train3s2_112x64",
            PoolParams::stochastic_train(win(3, 2, 1), 0),
            1,
            112,
            64,
        ),
        w(
            "stoch_infer3s2_112x64",
            PoolParams::stochastic_inference(win(3, 2, 1)),
            1,
            112,
            64,
        ),
    ];
    for x in v.iter_mut().filter(|x| x.name.starts_with("stoch")) {
        x.nonnegative = true;
    }
    v
}

/// The workload's input: seeded standard-normal values (Box-Muller over xorshift64*).
pub fn input(w: &Workload, seed: u64) -> Result<Tensor> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        // A uniform in (0, 1].
        ((s.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    };
    let mut spare: Option<f64> = None;
    let abs = w.nonnegative;
    Tensor::from_fn(w.shape, |_| {
        let z = match spare.take() {
            Some(z) => z,
            None => {
                let (u1, u2) = (next(), next());
                let r = (-2.0 * u1.ln()).sqrt();
                let t = std::f64::consts::TAU * u2;
                spare = Some(r * t.sin());
                r * t.cos()
            }
        };
        if abs { z.abs() as f32 } else { z as f32 }
    })
}
