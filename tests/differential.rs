//! Seeded randomized differential test: random pooling problems, every tier forced (and
//! `Isa::Best`, and every registry kernel that accepts the problem, experimental ones
//! included) against the scalar reference through `simdpool::check::compare`.
//!
//! Environment:
//! - `SIMDPOOL_DIFF_CASES`: number of valid cases (default [`DEFAULT_CASES`]); invalid
//!   geometries are redrawn and do not count.
//! - `SIMDPOOL_DIFF_SEED`: the test seed (decimal or `0x` hex; default [`DEFAULT_SEED`]).
//! - `SIMDPOOL_DIFF_ATTEMPT`: replay only this draw (the `attempt` a failure prints).
//! - `SIMDPOOL_REQUIRE_TIERS`: comma list of tiers (`baseline,avx2,avx512`) that must be
//!   available; a missing one fails the test instead of being skipped.
//!
//! Every draw (attempt) has its own generator seeded from (test seed, attempt), so a failure
//! is reproduced by its seed and attempt alone; the failure message also prints the whole case
//! and the input plane of the failing element. All cases run; every failing (case, target) is
//! printed as a `FAIL` line and the test fails at the end with the first full reports.
//!
//! Checks per target: `run` succeeds; canaries before, between (stride gaps) and after the
//! output elements are untouched; the values pass `check::compare`. A plan that falls back to
//! the reference (an operator without a vector kernel yet) must instead equal
//! `check::reference_output` bit for bit.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use simdpool::check;
use simdpool::workloads;
use simdpool::{
    Divisor, GlobalOp, Isa, Match, Padding, Plan, PoolParams, Pooling, Shape, StochasticMode,
    Strides, Tensor, TensorView, TensorViewMut, Threads, Tier, Window, WindowOp,
};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Instant;

/// Valid cases per run by default (a few seconds with the test profile's opt-level 3).
const DEFAULT_CASES: u64 = 3000;
/// The default test seed.
const DEFAULT_SEED: u64 = 0x5eed_d1ff_2024_0001;
/// Written everywhere in the output buffer before each run; a kernel must leave it alone
/// outside the output's elements (stride gaps and the margins before and after the view).
const CANARY: f32 = -7.25e29;
/// Channel counts around the lane widths (4 for SSE/NEON, 8 for AVX2, 16 for AVX-512).
const LANE_CHANNELS: [usize; 16] = [1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65];

// ---------------------------------------------------------------------------------------------
// Environment

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Err(_) => default,
        Ok(v) if v.trim().is_empty() => default,
        Ok(v) => {
            let v = v.trim();
            let parsed = match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
                Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16),
                None => v.replace('_', "").parse::<u64>(),
            };
            parsed.unwrap_or_else(|e| panic!("{name} = '{v}': not an unsigned integer ({e})"))
        }
    }
}

/// The tiers to exercise: every available one. Fails if `SIMDPOOL_REQUIRE_TIERS` names a
/// tier this CPU lacks (or an unknown name); prints a notice for each skipped tier.
fn tiers_to_test() -> Vec<Tier> {
    let available = simdpool::available_tiers();
    let names = |ts: &[Tier]| ts.iter().map(|t| t.name()).collect::<Vec<_>>().join(",");
    if let Ok(req) = std::env::var("SIMDPOOL_REQUIRE_TIERS") {
        for name in req.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let tier = match name.parse::<Isa>() {
                Ok(Isa::Tier(t)) => t,
                _ => panic!(
                    "SIMDPOOL_REQUIRE_TIERS = '{req}': '{name}' is not a tier (baseline, avx2, avx512)"
                ),
            };
            assert!(
                available.contains(&tier),
                "SIMDPOOL_REQUIRE_TIERS = '{req}' requires tier {tier}, which this CPU lacks \
                 (available: {})",
                names(&available)
            );
        }
    }
    for t in Tier::ALL {
        if !available.contains(&t) {
            println!("notice: tier {t} is not available on this CPU: skipped");
        }
    }
    available
}

// ---------------------------------------------------------------------------------------------
// Cases

/// How input values are drawn.
#[derive(Clone, Copy, Debug)]
enum Base {
    /// Uniform in [-10, 10].
    Signed,
    /// Uniform in [0, 10] (gives stochastic pooling positive weights).
    NonNegative,
    /// Small integers in -3..=3 (ties, zeros of both signs).
    SmallInts,
    /// Uniform in [-10, 10] times this scale (1e30, 1e-30, 1e-40: large, tiny, subnormal).
    Scaled(f32),
}

/// Input values: a base distribution with rare special values mixed in.
#[derive(Clone, Copy, Debug)]
struct Values {
    seed: u64,
    base: Base,
    /// Probability of each element being a special value (NaN, inf, -0, subnormal, ...).
    special: f64,
    /// What fills the input's stride gaps (never part of the tensor: a kernel reading it is
    /// caught because it is NaN or huge).
    gap: f32,
}

/// How a stochastic training plan is run.
#[derive(Clone, Copy, Debug)]
enum SeedMode {
    /// `Plan::run` (the seed in the params).
    Default,
    /// `Plan::run_with_seed` with this seed.
    PerCall(u64),
}

/// One random problem: everything needed to reproduce it.
#[derive(Clone, Debug)]
struct Case {
    attempt: u64,
    params: PoolParams,
    shape: Shape,
    in_strides: Strides,
    /// Elements of the input buffer before the view (misalignment from the 64-byte base).
    in_offset: usize,
    /// Output pixel stride = C + out_pixel_extra.
    out_pixel_extra: usize,
    /// Output row stride = W_out * pixel stride + out_row_extra (2-D only).
    out_row_extra: usize,
    /// Output batch stride = the dense one + out_batch_extra.
    out_batch_extra: usize,
    /// Canary elements before and after the output view.
    margin: (usize, usize),
    seed_mode: SeedMode,
    values: Values,
}

impl Case {
    fn stochastic_train_seed(&self) -> Option<u64> {
        match self.params.pooling {
            Pooling::Window {
                op: WindowOp::Stochastic(StochasticMode::Train { seed }),
                ..
            } => Some(match self.seed_mode {
                SeedMode::Default => seed,
                SeedMode::PerCall(s) => s,
            }),
            _ => None,
        }
    }

    /// Output strides for the plan's output shape.
    fn out_strides(&self, out: Shape) -> Strides {
        let c = out.c();
        let pixel = c + self.out_pixel_extra;
        match out.spatial().as_slice() {
            [w] => Strides {
                batch: w * pixel + self.out_batch_extra,
                spatial: [pixel].into(),
            },
            [h, w] => {
                let row = w * pixel + self.out_row_extra;
                Strides::nhwc(h * row + self.out_batch_extra, row, pixel)
            }
            _ => unreachable!("rank 1 or 2"),
        }
    }
}

fn mix(seed: u64, attempt: u64) -> u64 {
    // splitmix64 of the pair.
    let mut z = seed ^ attempt.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn draw_channels(rng: &mut StdRng) -> usize {
    if rng.random_bool(0.6) {
        LANE_CHANNELS[rng.random_range(0..LANE_CHANNELS.len())]
    } else {
        rng.random_range(1..=70)
    }
}

fn draw_p(rng: &mut StdRng) -> f64 {
    match rng.random_range(0..6) {
        0 => 1.0,
        1 => 2.0,
        2 => f64::INFINITY,
        3 => 3.0,
        4 => 0.5,
        _ => rng.random_range(0.25..=8.0),
    }
}

/// The exact windows `(kh, kw, sh, sw)` that registry kernels specialise (any operator), so
/// that random cases hit every specialisation often, whatever the manifest holds.
fn specialised_windows() -> Vec<[usize; 4]> {
    let mut v: Vec<[usize; 4]> = simdpool::registry()
        .iter()
        .filter_map(|k| match k.matches {
            Match::Window { kh, kw, sh, sw } => Some([kh, kw, sh, sw]),
            _ => None,
        })
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

fn draw_window(rng: &mut StdRng, rank: usize) -> Window {
    let mut k = [0usize; 2];
    let mut s = [0usize; 2];
    let mut d = [0usize; 2];
    let mut pb = [0usize; 2];
    let mut pe = [0usize; 2];
    // A third of the 2-D windows are a specialised one (always draw both numbers, so that the
    // rest of the stream does not depend on the manifest).
    let (use_special, pick) = (rng.random_bool(0.3), rng.random_range(0..1024usize));
    let specials = specialised_windows();
    let special =
        (rank == 2 && use_special && !specials.is_empty()).then(|| specials[pick % specials.len()]);
    for i in 0..rank {
        k[i] = rng.random_range(1..=7);
        s[i] = rng.random_range(1..=4);
        d[i] = if rng.random_bool(0.8) {
            1
        } else {
            rng.random_range(2..=3)
        };
        if let Some(w) = special {
            (k[i], s[i], d[i]) = (w[i], w[2 + i], 1);
        }
        let ke = d[i] * (k[i] - 1) + 1;
        let mut pad = || {
            if rng.random_bool(0.3) {
                0
            } else {
                rng.random_range(0..ke)
            }
        };
        pb[i] = pad();
        pe[i] = pad();
    }
    let padding = match rng.random_range(0..10) {
        0..=4 => {
            if rank == 1 {
                Padding::explicit([pb[0]], [pe[0]])
            } else {
                Padding::explicit([pb[0], pb[1]], [pe[0], pe[1]])
            }
        }
        5 | 6 => Padding::Valid,
        7 | 8 => {
            if rng.random_bool(0.5) {
                Padding::SameUpper
            } else {
                Padding::SameLower
            }
        }
        // Explicit zero padding, the same as Valid spelled differently.
        _ => {
            if rank == 1 {
                Padding::symmetric([0])
            } else {
                Padding::symmetric([0, 0])
            }
        }
    };
    let w = if rank == 1 {
        Window::new([k[0]]).stride([s[0]]).dilation([d[0]])
    } else {
        Window::new([k[0], k[1]])
            .stride([s[0], s[1]])
            .dilation([d[0], d[1]])
    };
    w.padding(padding).ceil_mode(rng.random_bool(0.3))
}

fn draw_params(rng: &mut StdRng, rank: usize) -> PoolParams {
    let params = match rng.random_range(0..100) {
        0..=29 => PoolParams::max(draw_window(rng, rank)),
        30..=59 => {
            let div = match rng.random_range(0..3) {
                0 => Divisor::ExcludePad,
                1 => Divisor::IncludePad,
                _ => Divisor::Override(rng.random_range(1..=20)),
            };
            PoolParams::avg(draw_window(rng, rank), div)
        }
        60..=74 => PoolParams::lp(draw_window(rng, rank), draw_p(rng)),
        75..=81 => PoolParams::stochastic_train(draw_window(rng, rank), rng.random()),
        82..=86 => PoolParams::stochastic_inference(draw_window(rng, rank)),
        _ => PoolParams::global(match rng.random_range(0..3) {
            0 => GlobalOp::Max,
            1 => GlobalOp::Avg,
            _ => GlobalOp::Lp(draw_p(rng)),
        }),
    };
    if rng.random_bool(0.25) {
        let lo = match rng.random_range(0..4) {
            0 => f32::NEG_INFINITY,
            1 => 0.0,
            _ => rng.random_range(-10.0f32..=10.0),
        };
        let hi = match rng.random_range(0..5) {
            0 => f32::INFINITY,
            1 => lo,
            2 if lo <= 6.0 => 6.0,
            _ if lo.is_infinite() => rng.random_range(-10.0f32..=10.0),
            _ => lo + rng.random_range(0.0f32..=10.0),
        };
        params.clamp(lo, hi)
    } else {
        params
    }
}

fn draw_case(seed: u64, attempt: u64) -> Case {
    let mut rng = StdRng::seed_from_u64(mix(seed, attempt));
    let rank = if rng.random_bool(0.15) { 1 } else { 2 };
    let params = draw_params(&mut rng, rank);
    // One case in a hundred is large enough for a parallel run (input + output of several
    // hundred KiB); the rest are small, where borders and tails dominate.
    let large = rng.random_bool(0.01);
    let n = rng.random_range(1..=3);
    let c = draw_channels(&mut rng);
    let h = rng.random_range(1..=20);
    let w = rng.random_range(1..=20);
    let (n, c, h, w) = if large {
        (
            rng.random_range(1..=2),
            rng.random_range(33..=96),
            rng.random_range(24..=40),
            rng.random_range(24..=40),
        )
    } else {
        (n, c, h, w)
    };
    let in_pixel = c + rng.random_range(0..=3);
    let in_row_extra = if rng.random_bool(0.2) {
        rng.random_range(1..=5)
    } else {
        0
    };
    let in_batch_extra = if rng.random_bool(0.2) {
        rng.random_range(1..=7)
    } else {
        0
    };
    let (shape, in_strides) = if rank == 1 {
        (
            Shape::new(n, [w], c),
            Strides {
                batch: w * in_pixel + in_batch_extra,
                spatial: [in_pixel].into(),
            },
        )
    } else {
        let row = w * in_pixel + in_row_extra;
        (
            Shape::nhwc(n, h, w, c),
            Strides::nhwc(h * row + in_batch_extra, row, in_pixel),
        )
    };
    let stochastic = matches!(
        params.pooling,
        Pooling::Window {
            op: WindowOp::Stochastic(_),
            ..
        }
    );
    let base = match rng.random_range(0..20) {
        _ if stochastic && rng.random_bool(0.5) => Base::NonNegative,
        0..=11 => Base::Signed,
        12 | 13 => Base::NonNegative,
        14..=16 => Base::SmallInts,
        17 => Base::Scaled(1e30),
        18 => Base::Scaled(1e-30),
        _ => Base::Scaled(1e-40),
    };
    let special = match rng.random_range(0..10) {
        0..=4 => 0.0,
        5 | 6 => 0.002,
        7 => 0.01,
        8 => 0.05,
        _ => 0.2,
    };
    Case {
        attempt,
        params,
        shape,
        in_strides,
        in_offset: rng.random_range(0..=3),
        out_pixel_extra: rng.random_range(0..=2),
        out_row_extra: if rng.random_bool(0.2) {
            rng.random_range(1..=5)
        } else {
            0
        },
        out_batch_extra: if rng.random_bool(0.2) {
            rng.random_range(1..=7)
        } else {
            0
        },
        margin: (rng.random_range(1..=17), rng.random_range(1..=17)),
        seed_mode: if rng.random_bool(0.5) {
            SeedMode::Default
        } else {
            SeedMode::PerCall(rng.random())
        },
        values: Values {
            seed: rng.random(),
            base,
            special,
            gap: if rng.random_bool(0.7) {
                f32::NAN
            } else {
                3.0e38
            },
        },
    }
}

fn special_value(rng: &mut StdRng) -> f32 {
    let sign = if rng.random_bool(0.5) { -1.0f32 } else { 1.0 };
    match rng.random_range(0..9) {
        0 => f32::NAN,
        1 => f32::INFINITY,
        2 => f32::NEG_INFINITY,
        3 => -0.0,
        // A subnormal (nonzero mantissa, zero exponent).
        4 => sign * f32::from_bits(rng.random_range(1..0x0080_0000u32)),
        5 => sign * rng.random_range(1.0f32..10.0) * 1e30,
        6 => sign * rng.random_range(1.0f32..10.0) * 1e-30,
        7 => sign * rng.random_range(1.0f32..3.4) * 1e38,
        _ => 0.0,
    }
}

/// Every element offset of a view of `shape` with `strides`, in (n, spatial..., c) order.
fn element_offsets(shape: Shape, strides: Strides) -> Vec<usize> {
    let sp = shape.spatial();
    let (sizes, st) = (sp.as_slice(), strides.spatial.as_slice());
    let (h, w, rs, ps) = match (sizes, st) {
        ([w], [p]) => (1, *w, 0, *p),
        ([h, w], [r, p]) => (*h, *w, *r, *p),
        _ => unreachable!("rank 1 or 2"),
    };
    let mut v = Vec::with_capacity(shape.num_elements().unwrap_or(0));
    for n in 0..shape.n() {
        for y in 0..h {
            for x in 0..w {
                let base = n * strides.batch + y * rs + x * ps;
                v.extend((0..shape.c()).map(|c| base + c));
            }
        }
    }
    v
}

/// The number of elements a view needs (last offset + 1), 0 when empty.
fn needed_len(shape: Shape, strides: Strides) -> usize {
    if shape.is_empty() {
        return 0;
    }
    let spatial: usize = shape
        .spatial()
        .as_slice()
        .iter()
        .zip(strides.spatial.as_slice())
        .map(|(&s, &st)| (s - 1) * st)
        .sum();
    (shape.n() - 1) * strides.batch + spatial + shape.c()
}

/// A 64-byte aligned buffer of `len` elements, all `fill`.
fn aligned(len: usize, fill: f32) -> Tensor {
    Tensor::from_fn(Shape::new(1, [1], len.max(1)), |_| fill).expect("small buffer")
}

/// The input buffer of a case: gaps hold `values.gap`, elements the drawn values; the view
/// starts `in_offset` elements into a 64-byte aligned allocation and ends at its last element.
fn make_input(case: &Case) -> (Tensor, std::ops::Range<usize>) {
    let need = needed_len(case.shape, case.in_strides);
    let mut buf = aligned(case.in_offset + need, case.values.gap);
    let mut rng = StdRng::seed_from_u64(case.values.seed);
    let data = &mut buf.as_mut_slice()[case.in_offset..case.in_offset + need];
    for off in element_offsets(case.shape, case.in_strides) {
        data[off] = if case.values.special > 0.0 && rng.random_bool(case.values.special) {
            special_value(&mut rng)
        } else {
            match case.values.base {
                Base::Signed => rng.random_range(-10.0f32..=10.0),
                Base::NonNegative => rng.random_range(0.0f32..=10.0),
                Base::SmallInts => {
                    let v = rng.random_range(-3i32..=3) as f32;
                    if v == 0.0 && rng.random_bool(0.5) {
                        -0.0
                    } else {
                        v
                    }
                }
                Base::Scaled(s) => rng.random_range(-10.0f32..=10.0) * s,
            }
        };
    }
    (buf, case.in_offset..case.in_offset + need)
}

// ---------------------------------------------------------------------------------------------
// Running and checking one plan

/// An output buffer: canary margins around a strided view.
struct OutBuf {
    buf: Vec<f32>,
    shape: Shape,
    strides: Strides,
    margin: (usize, usize),
    need: usize,
    /// True at the buffer indices that are output elements.
    is_elem: Vec<bool>,
}

impl OutBuf {
    fn new(shape: Shape, strides: Strides, margin: (usize, usize)) -> OutBuf {
        let need = needed_len(shape, strides);
        let len = margin.0 + need + margin.1;
        let mut is_elem = vec![false; len];
        for off in element_offsets(shape, strides) {
            is_elem[margin.0 + off] = true;
        }
        OutBuf {
            buf: vec![CANARY; len],
            shape,
            strides,
            margin,
            need,
            is_elem,
        }
    }

    fn range(&self) -> std::ops::Range<usize> {
        self.margin.0..self.margin.0 + self.need
    }

    fn view_mut(&mut self) -> TensorViewMut<'_, f32> {
        let r = self.range();
        TensorViewMut::with_strides(&mut self.buf[r], self.shape, self.strides)
            .expect("output view")
    }

    fn view(&self) -> TensorView<'_, f32> {
        TensorView::with_strides(&self.buf[self.range()], self.shape, self.strides)
            .expect("output view")
    }

    /// The first canary that was overwritten, described.
    fn check_canaries(&self) -> Result<(), String> {
        for (i, (&v, &elem)) in self.buf.iter().zip(&self.is_elem).enumerate() {
            if !elem && v.to_bits() != CANARY.to_bits() {
                let place = if i < self.margin.0 {
                    format!("{} elements before the output view", self.margin.0 - i)
                } else if i >= self.margin.0 + self.need {
                    format!(
                        "{} elements after the output view's last element",
                        i - (self.margin.0 + self.need) + 1
                    )
                } else {
                    format!(
                        "stride gap at view offset {} (pixel stride {}, C {})",
                        i - self.margin.0,
                        self.strides.spatial.as_slice().last().unwrap(),
                        self.shape.c()
                    )
                };
                return Err(format!(
                    "canary overwritten {place}: buffer index {i} = {v:e} ({:#010x})",
                    v.to_bits()
                ));
            }
        }
        Ok(())
    }
}

/// Runs `plan` into `out` (refilled with canaries first) and checks canaries and values.
/// Outputs already checked against the reference for the current problem, by kernel name: a
/// later plan running the same kernel (`Isa::Best` after its tier, say) must reproduce them
/// bit for bit, which is cheaper than recomputing the reference.
type Checked = Vec<(&'static str, Vec<f32>)>;

fn run_and_check(
    plan: &Plan,
    input: TensorView<'_, f32>,
    out: &mut OutBuf,
    train_seed: Option<u64>,
    per_call_seed: bool,
    checked: &mut Checked,
) -> Result<(), String> {
    out.buf.fill(CANARY);
    let r = match train_seed {
        Some(s) if per_call_seed => plan.run_with_seed(input, out.view_mut(), s),
        _ => plan.run(input, out.view_mut()),
    };
    r.map_err(|e| format!("run returned an error: {e}"))?;
    out.check_canaries()?;
    // The same plan on rayon's global pool must give the same bits (and touch nothing more);
    // large cases cross the size above which runs go parallel.
    let single = out.buf.clone();
    out.buf.fill(CANARY);
    let per_call = train_seed.filter(|_| per_call_seed);
    plan.run_with(input, out.view_mut(), Threads::Global, per_call)
        .map_err(|e| format!("run_with(Threads::Global) returned an error: {e}"))?;
    if let Some(i) = (0..single.len()).find(|&i| single[i].to_bits() != out.buf[i].to_bits()) {
        return Err(format!(
            "Threads::Global differs from Threads::Current at buffer index {i} \
             (view offset {}): {:e} ({:#010x}) vs {:e} ({:#010x})",
            i as isize - out.margin.0 as isize,
            out.buf[i],
            out.buf[i].to_bits(),
            single[i],
            single[i].to_bits()
        ));
    }
    if let Some((_, prev)) = checked.iter().find(|(k, _)| *k == plan.kernel_name()) {
        return match (0..prev.len()).find(|&i| prev[i].to_bits() != out.buf[i].to_bits()) {
            None => Ok(()),
            Some(i) => Err(format!(
                "{} gave different bits on the same problem through another plan at buffer \
                 index {i}: {:e} vs {:e} before",
                plan.kernel_name(),
                out.buf[i],
                prev[i]
            )),
        };
    }
    let seed = train_seed.unwrap_or(0);
    if plan.is_reference_fallback() {
        // The plan runs the reference itself: hold it to the reference bit for bit (stronger
        // than the tolerance, and independent of check::compare's bound arithmetic).
        same_as_reference(plan, input, out.view(), seed)?;
        checked.push((plan.kernel_name(), out.buf.clone()));
        return Ok(());
    }
    check::compare(plan, input, out.view(), seed).map_err(|m| {
        let note = if m.got.to_bits() == m.want.to_bits() {
            "\nnote: got and want are bitwise identical, so this is a false positive of \
             check::compare (its bound is NaN or otherwise broken for this window), not a \
             kernel error"
        } else {
            ""
        };
        format!("mismatch: {m}{note}")
    })?;
    checked.push((plan.kernel_name(), out.buf.clone()));
    Ok(())
}

/// Bitwise equality (NaN iff NaN) with `check::reference_output`.
fn same_as_reference(
    plan: &Plan,
    input: TensorView<'_, f32>,
    output: TensorView<'_, f32>,
    seed: u64,
) -> Result<(), String> {
    let want = check::reference_output(plan, input, seed);
    let want = want.view();
    let shape = output.shape();
    let sp = shape.spatial();
    let (h, w) = match sp.as_slice() {
        [w] => (1, *w),
        [h, w] => (*h, *w),
        _ => unreachable!("rank 1 or 2"),
    };
    for n in 0..shape.n() {
        for y in 0..h {
            for x in 0..w {
                let pos = if sp.rank() == 1 { vec![x] } else { vec![y, x] };
                for c in 0..shape.c() {
                    let got = output.get(n, &pos, c).expect("inside the shape");
                    let r = want.get(n, &pos, c).expect("inside the shape");
                    if got.to_bits() != r.to_bits() && !(got.is_nan() && r.is_nan()) {
                        return Err(format!(
                            "mismatch: {} (reference fallback): output (n={n}, pos={pos:?}, \
                             c={c}) = {got:e} ({:#010x}), reference {r:e} ({:#010x}), \
                             must be bitwise equal",
                            plan.kernel_name(),
                            got.to_bits(),
                            r.to_bits()
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

/// The plans to test for a problem: every tier forced, `Isa::Best`, then (with `registry`)
/// every registry kernel (experimental included) that accepts it and was not already picked.
fn plans_for(
    params: &PoolParams,
    shape: Shape,
    tiers: &[Tier],
    registry: bool,
) -> Result<Vec<(String, Plan)>, String> {
    let mut plans = Vec::new();
    for isa in tiers
        .iter()
        .map(|&t| Isa::Tier(t))
        .chain(std::iter::once(Isa::Best))
    {
        let plan = Plan::new(params, shape, isa).map_err(|e| {
            format!("Plan::new with {isa} failed where the reference accepted: {e}")
        })?;
        let label = format!(
            "isa {isa} -> {}{}",
            plan.kernel_name(),
            if plan.is_reference_fallback() {
                " (reference fallback)"
            } else {
                ""
            }
        );
        plans.push((label, plan));
    }
    for k in simdpool::registry().iter().filter(|_| registry) {
        if !k.tier.is_available() || plans.iter().any(|(_, p)| p.kernel_name() == k.name) {
            continue;
        }
        if let Ok(plan) = Plan::with_kernel(params, shape, k.name) {
            plans.push((format!("registry kernel {} ({:?})", k.name, k.status), plan));
        }
    }
    Ok(plans)
}

/// The input plane of (n, c) around a mismatch, printed exactly (`{:?}` round-trips f32).
fn dump_plane(input: TensorView<'_, f32>, mismatch: &str) -> String {
    // The mismatch message names "n=.., pos=[..], c=..".
    let grab = |key: &str| -> Option<usize> {
        let i = mismatch.find(key)? + key.len();
        let rest = &mismatch[i..];
        let end = rest
            .find(|ch: char| !ch.is_ascii_digit())
            .unwrap_or(rest.len());
        rest[..end].parse().ok()
    };
    let (Some(n), Some(c)) = (grab("(n="), grab(", c=")) else {
        return String::new();
    };
    let shape = input.shape();
    let sp = shape.spatial();
    let (h, w) = match sp.as_slice() {
        [w] => (1, *w),
        [h, w] => (*h, *w),
        _ => return String::new(),
    };
    let mut s = format!("input plane n={n}, c={c} ({h} x {w}), row by row:\n");
    for y in 0..h {
        let row: Vec<String> = (0..w)
            .map(|x| {
                let pos = if sp.rank() == 1 { vec![x] } else { vec![y, x] };
                format!("{:?}", input.get(n, &pos, c).unwrap_or(f32::NAN))
            })
            .collect();
        let _ = writeln!(s, "  [{}]", row.join(", "));
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Tests

/// Labels describing what a case covers (for the coverage summary).
fn features(case: &Case) -> Vec<String> {
    let mut f = Vec::new();
    let window = match case.params.pooling {
        Pooling::Window { op, window } => {
            f.push(match op {
                WindowOp::Max => "op max".to_string(),
                WindowOp::Avg(d) => format!(
                    "op avg {}",
                    match d {
                        Divisor::ExcludePad => "exclude-pad",
                        Divisor::IncludePad => "include-pad",
                        Divisor::Override(_) => "override",
                    }
                ),
                WindowOp::Lp(p) if p == 1.0 || p == 2.0 || p == f64::INFINITY => {
                    format!("op lp p={p}")
                }
                WindowOp::Lp(_) => "op lp p=other".to_string(),
                WindowOp::Stochastic(StochasticMode::Train { .. }) => "op stochastic train".into(),
                WindowOp::Stochastic(StochasticMode::Inference) => "op stochastic inference".into(),
            });
            Some(window)
        }
        Pooling::Global(g) => {
            f.push(match g {
                GlobalOp::Max => "op global max".into(),
                GlobalOp::Avg => "op global avg".into(),
                GlobalOp::Lp(_) => "op global lp".into(),
            });
            None
        }
    };
    f.push(format!("rank {}", case.shape.spatial().rank()));
    if let Some(w) = window {
        f.push(
            match w.padding {
                Padding::Explicit { begin, end } => {
                    if begin
                        .as_slice()
                        .iter()
                        .chain(end.as_slice())
                        .all(|&p| p == 0)
                    {
                        "padding explicit zero"
                    } else {
                        "padding explicit"
                    }
                }
                Padding::Valid => "padding valid",
                Padding::SameUpper => "padding same-upper",
                Padding::SameLower => "padding same-lower",
            }
            .into(),
        );
        if w.ceil_mode {
            f.push("ceil mode".into());
        }
        if w.dilation.as_slice().iter().any(|&d| d > 1) {
            f.push("dilation > 1".into());
        }
        if w.stride.as_slice().iter().any(|&s| s > 1) {
            f.push("stride > 1".into());
        }
    }
    if case.params.clamp.is_some() {
        f.push("clamp".into());
    }
    if case.values.special > 0.0 {
        f.push("special values".into());
    }
    if LANE_CHANNELS.contains(&case.shape.c()) {
        f.push("C at a lane boundary".into());
    }
    if case.shape.num_elements().unwrap_or(0) > 65536 {
        f.push("large (parallel-sized) input".into());
    }
    if case.in_offset != 0 {
        f.push("misaligned input".into());
    }
    f
}

/// Full reports printed when the test fails (the rest get one line each).
const FULL_REPORTS: usize = 3;

#[test]
fn differential_random_cases() {
    let start = Instant::now();
    let tiers = tiers_to_test();
    let cases = env_u64("SIMDPOOL_DIFF_CASES", DEFAULT_CASES);
    let seed = env_u64("SIMDPOOL_DIFF_SEED", DEFAULT_SEED);
    let only = std::env::var("SIMDPOOL_DIFF_ATTEMPT")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .map(|_| env_u64("SIMDPOOL_DIFF_ATTEMPT", 0));
    let tier_list = tiers.iter().map(|t| t.name()).collect::<Vec<_>>().join(",");
    println!(
        "differential: seed {seed:#x} (SIMDPOOL_DIFF_SEED), {cases} cases (SIMDPOOL_DIFF_CASES), \
         tiers {tier_list}"
    );

    let mut valid = 0u64;
    let mut invalid = 0u64;
    let mut attempt = only.unwrap_or(0);
    let mut runs: BTreeMap<String, u64> = BTreeMap::new();
    let mut elements = 0u64;
    let mut coverage: BTreeMap<String, u64> = BTreeMap::new();
    // (one-line summary, full report) of every failing (case, target).
    let mut failures: Vec<(String, String)> = Vec::new();
    while valid < cases {
        let case = draw_case(seed, attempt);
        attempt += 1;
        if Plan::new(&case.params, case.shape, Isa::Reference).is_err() {
            invalid += 1;
            assert!(
                only.is_none(),
                "attempt {} is an invalid geometry: {case:#?}",
                case.attempt
            );
            continue;
        }
        let index = valid;
        valid += 1;
        for label in features(&case) {
            *coverage.entry(label).or_default() += 1;
        }
        let mut fail = |what: &str, detail: &str| {
            let first = detail.lines().next().unwrap_or("");
            println!(
                "FAIL case #{index} (attempt {}) {what}: {first}",
                case.attempt
            );
            failures.push((
                format!("case #{index} (attempt {}) {what}: {first}", case.attempt),
                format!(
                    "seed {seed:#x}, case #{index} (attempt {}); replay with \
                     SIMDPOOL_DIFF_SEED={seed:#x} SIMDPOOL_DIFF_ATTEMPT={} \
                     cargo test --test differential differential_random_cases\n\
                     target: {what}\n{detail}\ncase: {case:#?}",
                    case.attempt, case.attempt
                ),
            ));
        };
        let plans = match plans_for(&case.params, case.shape, &tiers, true) {
            Ok(p) => p,
            Err(e) => {
                fail("plans", &e);
                continue;
            }
        };
        let out_shape = plans[0].1.output_shape();
        let out_strides = case.out_strides(out_shape);
        let (in_buf, in_range) = make_input(&case);
        let input =
            TensorView::with_strides(&in_buf.as_slice()[in_range], case.shape, case.in_strides)
                .expect("the input view fits its buffer by construction");
        let mut out = OutBuf::new(out_shape, out_strides, case.margin);
        let train_seed = case.stochastic_train_seed();
        let per_call = matches!(case.seed_mode, SeedMode::PerCall(_));
        let mut checked = Checked::new();
        for (label, plan) in &plans {
            if plan.output_shape() != out_shape {
                fail(
                    label,
                    &format!(
                        "output shape {} differs from {out_shape}",
                        plan.output_shape()
                    ),
                );
                continue;
            }
            if let Err(e) = run_and_check(plan, input, &mut out, train_seed, per_call, &mut checked)
            {
                let detail = format!(
                    "{e}\noutput shape {out_shape}, output strides {out_strides:?}\n{}",
                    dump_plane(input, &e)
                );
                fail(label, &detail);
            }
            *runs.entry(plan.kernel_name().to_string()).or_default() += 1;
            elements += out_shape.num_elements().unwrap_or(0) as u64;
        }
        if only.is_some() {
            println!("attempt {}: {case:#?}", case.attempt);
            break;
        }
    }
    println!(
        "differential: {valid} valid cases ({invalid} invalid geometries redrawn), {elements} \
         output elements checked, tiers exercised: {tier_list}, in {:.2?}",
        start.elapsed()
    );
    for (name, n) in &runs {
        println!("  {n:>8} runs of {name}");
    }
    for (label, n) in &coverage {
        println!("  {n:>8} cases with {label}");
    }
    if !failures.is_empty() {
        let mut msg = format!(
            "differential test failed: {} failing (case, target) pairs over {valid} cases \
             (seed {seed:#x}):\n",
            failures.len()
        );
        for (line, _) in failures.iter().take(20) {
            let _ = writeln!(msg, "  {line}");
        }
        if failures.len() > 20 {
            let _ = writeln!(
                msg,
                "  ... and {} more (every one is printed above as FAIL)",
                failures.len() - 20
            );
        }
        for (_, report) in failures.iter().take(FULL_REPORTS) {
            let _ = writeln!(msg, "\n{report}");
        }
        panic!("{msg}");
    }
}

/// The public path (`Plan::new` with every tier forced, and `Isa::Best`) on the 14 standard
/// workloads (batch 8 shrunk to 2), checked like the random cases. Registry kernels that
/// dispatch does not pick are left to the random test (and benched by benches/pooling.rs).
#[test]
fn standard_workloads_every_tier() {
    let tiers = tiers_to_test();
    let mut checked = 0;
    for (i, mut w) in workloads::standard().into_iter().enumerate() {
        if w.shape.n() > 2 {
            w.shape = Shape::new(2, w.shape.spatial(), w.shape.c());
        }
        let x = workloads::input(&w, 1000 + i as u64).expect("workload input");
        let plans = plans_for(&w.params, w.shape, &tiers, false)
            .unwrap_or_else(|e| panic!("workload {} ({}): {e}", w.name, w.shape));
        let out_shape = plans[0].1.output_shape();
        let out_strides = Strides::dense(&out_shape).expect("dense strides");
        let mut out = OutBuf::new(out_shape, out_strides, (16, 16));
        let mut seen = Checked::new();
        for (label, plan) in &plans {
            if let Err(e) = run_and_check(plan, x.view(), &mut out, None, false, &mut seen) {
                panic!(
                    "workload {} (params {:?}, input {}): {label}: {e}",
                    w.name, w.params, w.shape
                );
            }
            checked += 1;
        }
        println!(
            "{:<20} {:>14} ok on {}",
            w.name,
            w.shape.to_string(),
            plans
                .iter()
                .map(|(l, _)| l.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    println!(
        "standard workloads: {checked} plan runs checked on tiers {}",
        tiers.iter().map(|t| t.name()).collect::<Vec<_>>().join(",")
    );
}

// ---------------------------------------------------------------------------------------------
// Minimal regressions reduced from failures of the random test (each names where it came from).

/// Runs a dense problem on every available tier (and the reference) and checks each result
/// with `check::compare`; returns the failures.
fn check_all_tiers(params: PoolParams, shape: Shape, xs: &[f32]) -> Vec<String> {
    let x = Tensor::from_slice(shape, xs).expect("input");
    let mut bad = Vec::new();
    let isas = std::iter::once(Isa::Reference)
        .chain(simdpool::available_tiers().into_iter().map(Isa::Tier))
        .chain(std::iter::once(Isa::Best));
    for isa in isas {
        let plan = Plan::new(&params, shape, isa).expect("valid plan");
        let mut y = Tensor::zeros(plan.output_shape()).expect("output");
        plan.run(x.view(), y.view_mut()).expect("run");
        if let Err(m) = check::compare(&plan, x.view(), y.view(), 0) {
            bad.push(format!("isa {isa}: {m}"));
        }
    }
    bad
}

/// From seed 0x5eedd1ff20240001, attempt 105 (about 1 case in 90 on the avg kernels of
/// da3ffdf, every tier): the f32 running sum overflowed to +inf on finite taps, then met a
/// -inf tap: NaN, where the reference (and SPEC: "a non-finite reference must be matched in
/// kind") gives -inf.
#[test]
fn regression_avg_overflow_then_opposite_infinity() {
    let params = PoolParams::avg(Window::new([3]), Divisor::ExcludePad);
    let bad = check_all_tiers(
        params,
        Shape::new(1, [3], 1),
        &[3e38, 3e38, f32::NEG_INFINITY],
    );
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// From seed 0x5eedd1ff20240001, attempt 914 (avg kernels of da3ffdf): the f32 running sum
/// overflowed to +inf although the exact sum is negative and finite; SPEC allows an overflow
/// to an infinity only of the reference's sign.
#[test]
fn regression_avg_overflow_wrong_sign() {
    let params = PoolParams::avg(Window::new([5]), Divisor::ExcludePad);
    let xs = [3e38, 3e38, -3.4e38, -3.4e38, -3.4e38];
    let bad = check_all_tiers(params, Shape::new(1, [5], 1), &xs);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// From seed 0x5eedd1ff20240001, attempt 229 (avg kernels of da3ffdf): a subnormal average
/// was one subnormal ulp off (a multiplication by the rounded reciprocal of the divisor; the
/// reference divides), and SPEC's bound `(K + 2) * eps * sum|x| / divisor` is far below one
/// subnormal ulp here.
#[test]
fn regression_avg_subnormal_result() {
    let params = PoolParams::avg(Window::new([1]), Divisor::Override(6));
    let x = f32::from_bits(0x8004_e9db); // -4.51234e-40; x / 6 rounds to 0x8000d1a4
    let bad = check_all_tiers(params, Shape::new(1, [1], 1), &[x]);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// From seed 0x5eedd1ff20240001, attempt 98: `check::compare` rejects the reference's own
/// output for stochastic inference with a +inf tap and a finite upper clamp (its bound is
/// `sum a^2 / S = inf / inf = NaN`, and `0 <= NaN` is false).
#[test]
fn regression_compare_stochastic_inference_infinite_tap_clamped() {
    let params = PoolParams::stochastic_inference(Window::new([1])).clamp(0.0, 6.0);
    let bad = check_all_tiers(params, Shape::new(1, [1], 1), &[f32::INFINITY]);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// The separable kernels over several channel tiles: 133 channels (two tiles of 64 and one
/// of 5, a masked tail on every tier), the in-place and row-buffer W passes of max, the
/// average's divisors, a clamp, and a NaN and infinities in the second tile only (a tile
/// that met a NaN is recomputed exactly; the others keep the fast path).
#[test]
fn separable_many_channel_tiles_every_tier() {
    let shape = Shape::nhwc(1, 9, 11, 133);
    let len = shape.num_elements().unwrap();
    let mut xs: Vec<f32> = (0..len)
        .map(|i| ((i * 7919 + 13) % 2003) as f32 * 0.25 - 250.0)
        .collect();
    let at = |h: usize, w: usize, c: usize| (h * 11 + w) * 133 + c;
    xs[at(4, 5, 70)] = f32::NAN;
    xs[at(0, 10, 100)] = f32::INFINITY;
    xs[at(8, 0, 127)] = f32::NEG_INFINITY;
    let explicit = Padding::Explicit {
        begin: [1, 3].into(),
        end: [2, 0].into(),
    };
    let cases = [
        PoolParams::max(Window::new([5, 5]).padding(Padding::symmetric([2, 2]))),
        PoolParams::max(Window::new([9, 9]).padding(Padding::symmetric([4, 4])))
            .clamp(-100.0, 200.0),
        PoolParams::avg(
            Window::new([7, 7]).padding(Padding::symmetric([3, 3])),
            Divisor::ExcludePad,
        ),
        PoolParams::avg(Window::new([4, 6]).padding(explicit), Divisor::IncludePad)
            .clamp(-50.0, 50.0),
    ];
    for params in cases {
        for t in simdpool::available_tiers() {
            let name = Plan::new(&params, shape, Isa::Tier(t))
                .unwrap()
                .kernel_name()
                .to_string();
            assert!(name.contains("_s1_"), "{params:?}: {name}");
        }
        let bad = check_all_tiers(params.clone(), shape, &xs);
        assert!(bad.is_empty(), "{params:?}: {}", bad.join("\n"));
    }
}
