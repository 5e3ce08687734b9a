//! Differential fuzzing: every ISA tier this CPU has against the scalar reference.
//!
//! The fuzzer's bytes are decoded (through `arbitrary::Unstructured`, so every byte string is
//! a case) into an operator, a window geometry, shapes, strides, an input offset, an optional
//! clamp and the input values. For every tier in `simdpool::available_tiers()` the case runs
//! through `Plan::new(.., Isa::Tier(t))` and is compared with the reference by
//! `simdpool::check::compare` (SPEC.md's tolerances). Also checked: `run` succeeds, canaries
//! in the output's stride gaps and around the output view are untouched, the input buffer is
//! unchanged, and a run on rayon's pool (when the case asks for it) is bitwise identical to the
//! single-threaded one. An invalid geometry (`Plan::new` error) is not a finding.
//!
//! On a mismatch the target panics with the whole case (parameters, shapes, strides, offsets
//! and the input values), so the crash file and the message both reproduce it.
//!
//! Every `STATS_EVERY` valid cases it prints a `simdpool-fuzz stats:` line (cumulative for
//! this process: valid cases, runs per tier, cases per operator) to stderr, and once more
//! (ending in `(at exit)`) when libFuzzer exits normally.

#![no_main]

use libfuzzer_sys::arbitrary::{Result as AResult, Unstructured};
use libfuzzer_sys::fuzz_target;
use simdpool::{
    Divisor, GlobalOp, Isa, Padding, Plan, PoolParams, Shape, Strides, Threads, Tier, Window,
};
use simdpool::{TensorView, TensorViewMut, check};
use std::fmt::Write as _;
use std::sync::Mutex;

/// Written in every output buffer position before a run; a signalling-NaN bit pattern that no
/// kernel produces, compared bit for bit.
const CANARY: u32 = 0x7fa5_a5a5;
/// Input elements above which a case is shrunk (except the one in sixteen kept full size).
const ELEMENT_BUDGET: usize = 2048;
/// Print a stats line every this many valid cases.
const STATS_EVERY: u64 = 10_000;

// ---------------------------------------------------------------------------------------------
// The case

#[derive(Clone, Copy, Debug)]
enum Op {
    Max,
    Avg(Divisor),
    Lp(f64),
    StochTrain { seed: u64, per_call: Option<u64> },
    StochInfer,
    GlobalMax,
    GlobalAvg,
    GlobalLp(f64),
}

impl Op {
    fn name(&self) -> &'static str {
        match self {
            Op::Max => "max",
            Op::Avg(_) => "avg",
            Op::Lp(_) => "lp",
            Op::StochTrain { .. } => "stochtrain",
            Op::StochInfer => "stochinfer",
            Op::GlobalMax => "gmax",
            Op::GlobalAvg => "gavg",
            Op::GlobalLp(_) => "glp",
        }
    }
    /// The seed the run (and so the reference) uses.
    fn run_seed(&self) -> u64 {
        match *self {
            Op::StochTrain { seed, per_call } => per_call.unwrap_or(seed),
            _ => 0,
        }
    }
}

const OP_NAMES: [&str; 8] = [
    "max",
    "avg",
    "lp",
    "stochtrain",
    "stochinfer",
    "gmax",
    "gavg",
    "glp",
];

/// How the bulk of the input values is drawn (then specials and overrides are mixed in).
#[derive(Clone, Copy, Debug)]
enum Base {
    /// Uniform in [-10, 10].
    Signed,
    /// Uniform in [0, 10].
    NonNegative,
    /// Integers in -3..=3 (ties, zeros of both signs).
    SmallInts,
    /// +-(1e30 .. 3e38), log-uniform.
    Huge,
    /// +-(1e-31 .. 1e-29).
    Tiny,
    /// Subnormals of both signs.
    Subnormal,
    /// Log-uniform magnitudes from 1e-45 to 3e38, random sign.
    AllMagnitudes,
}

#[derive(Debug)]
struct Case {
    op: Op,
    /// Kernel, stride, dilation, begin/end padding per axis (outermost first), as drawn.
    window: Option<Window>,
    clamp: Option<(f32, f32)>,
    shape: Shape,
    in_strides: Strides,
    /// Elements before the input view (the buffer is 64-byte aligned: misalignment) and after.
    in_margin: (usize, usize),
    /// Value of the input's stride gaps and margins (never part of the tensor).
    in_gap: f32,
    /// Output pixel/row/batch stride extras over dense.
    out_extra: (usize, usize, usize),
    /// Canary elements before and after the output view.
    out_margin: (usize, usize),
    /// Also run on rayon's global pool and require the same bits.
    threaded: bool,
    base: Base,
    /// Specials per 256 elements.
    special_rate: u8,
    value_seed: u64,
    /// Explicit values: (dense element index modulo the element count, value).
    overrides: Vec<(usize, f32)>,
}

fn small(u: &mut Unstructured, lo: usize, hi: usize) -> AResult<usize> {
    u.int_in_range(lo..=hi)
}

/// Sizes biased towards small values (most executions stay cheap), up to `hi`.
fn size(u: &mut Unstructured, hi: usize) -> AResult<usize> {
    let b: u8 = u.arbitrary()?;
    Ok(match b >> 6 {
        0 | 1 => 1 + (b as usize & 7) % hi.min(8),
        2 => 1 + (b as usize & 15) % hi.min(16),
        _ => 1 + (b as usize & 63) % hi,
    })
}

fn draw_p(u: &mut Unstructured) -> AResult<f64> {
    Ok(match small(u, 0, 7)? {
        0 => 1.0,
        1 => 2.0,
        2 => f64::INFINITY,
        3 => 3.0,
        4 => 0.5,
        5 => [0.25, 64.0, 1.5, 4.0, 8.0, 32.0, 0.75, 1.0000001][small(u, 0, 7)?],
        _ => {
            // Real p in [0.25, 64], log-uniform.
            let t = u.int_in_range(0u32..=1_000_000)? as f64 / 1e6;
            0.25 * (256.0f64).powf(t)
        }
    })
}

fn draw_window(u: &mut Unstructured, rank: usize) -> AResult<Window> {
    let mut k = [1usize; 2];
    let mut s = [1usize; 2];
    let mut d = [1usize; 2];
    let mut pb = [0usize; 2];
    let mut pe = [0usize; 2];
    for i in 0..rank {
        k[i] = small(u, 1, 8)?;
        s[i] = small(u, 1, 4)?;
        d[i] = if u.ratio(3u8, 4u8)? {
            1
        } else {
            small(u, 2, 3)?
        };
        let ke = d[i] * (k[i] - 1) + 1;
        pb[i] = if u.ratio(1u8, 3u8)? {
            0
        } else {
            small(u, 0, ke)?
        };
        pe[i] = if u.ratio(1u8, 3u8)? {
            0
        } else {
            small(u, 0, ke)?
        };
    }
    let dims = |a: [usize; 2]| -> simdpool::Dims {
        simdpool::Dims::from_slice(&a[..rank]).expect("rank 1 or 2")
    };
    let padding = match small(u, 0, 9)? {
        0..=4 => Padding::explicit(dims(pb), dims(pe)),
        5 | 6 => Padding::Valid,
        7 => Padding::SameUpper,
        8 => Padding::SameLower,
        _ => Padding::symmetric(dims([0, 0])),
    };
    Ok(Window::new(dims(k))
        .stride(dims(s))
        .dilation(dims(d))
        .padding(padding)
        .ceil_mode(u.ratio(1u8, 3u8)?))
}

fn draw_clamp(u: &mut Unstructured) -> AResult<Option<(f32, f32)>> {
    if !u.ratio(1u8, 4u8)? {
        return Ok(None);
    }
    let v = |u: &mut Unstructured| -> AResult<f32> {
        Ok(match small(u, 0, 5)? {
            0 => f32::NEG_INFINITY,
            1 => f32::INFINITY,
            2 => 0.0,
            3 => 6.0,
            4 => -0.0,
            _ => (u.int_in_range(-2000i32..=2000)? as f32) / 100.0,
        })
    };
    let (a, b) = (v(u)?, v(u)?);
    // Mostly valid (lo <= hi); sometimes as drawn (an inverted clamp is a plan error).
    Ok(Some(if a <= b || u.ratio(1u8, 8u8)? {
        (a, b)
    } else {
        (b, a)
    }))
}

fn decode(u: &mut Unstructured) -> AResult<Case> {
    let rank = if u.ratio(1u8, 6u8)? { 1 } else { 2 };
    let op = match small(u, 0, 99)? {
        0..=24 => Op::Max,
        25..=49 => Op::Avg(match small(u, 0, 2)? {
            0 => Divisor::ExcludePad,
            1 => Divisor::IncludePad,
            _ => Divisor::Override(small(u, 1, 80)?),
        }),
        50..=64 => Op::Lp(draw_p(u)?),
        65..=74 => Op::StochTrain {
            seed: u.arbitrary()?,
            per_call: if u.arbitrary()? {
                Some(u.arbitrary()?)
            } else {
                None
            },
        },
        75..=81 => Op::StochInfer,
        82..=87 => Op::GlobalMax,
        88..=93 => Op::GlobalAvg,
        _ => Op::GlobalLp(draw_p(u)?),
    };
    let window = match op {
        Op::GlobalMax | Op::GlobalAvg | Op::GlobalLp(_) => None,
        _ => Some(draw_window(u, rank)?),
    };
    let clamp = draw_clamp(u)?;
    let n = small(u, 1, 3)?;
    let h = if rank == 2 { size(u, 24)? } else { 1 };
    let w = size(u, 24)?;
    let c = match small(u, 0, 3)? {
        // Around the lane widths 4, 8, 16 (and their multiples).
        0 | 1 => [
            1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 48, 49, 63, 64, 65,
        ][small(u, 0, 18)?],
        2 => small(u, 1, 70)?,
        _ => small(u, 1, 12)?,
    };
    // Most cases stay small (a few thousand elements) so a run makes many executions; one in
    // sixteen keeps its full size (up to 3x24x24x70).
    let (mut n, mut h, mut w) = (n, h, w);
    // (`ratio` answers true once the bytes run out: short inputs stay small and single-threaded.)
    if u.ratio(15u8, 16u8)? {
        while n * h * w * c > ELEMENT_BUDGET {
            if n > 1 {
                n -= 1;
            } else if h >= w && h > 1 {
                h = h.div_ceil(2);
            } else if w > 1 {
                w = w.div_ceil(2);
            } else {
                break;
            }
        }
    }
    let in_pixel = c + if u.ratio(1u8, 2u8)? {
        0
    } else {
        small(u, 1, 5)?
    };
    let in_row = w * in_pixel
        + if u.ratio(3u8, 4u8)? {
            0
        } else {
            small(u, 1, 9)?
        };
    let in_batch_extra = if u.ratio(3u8, 4u8)? {
        0
    } else {
        small(u, 1, 9)?
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
        (
            Shape::nhwc(n, h, w, c),
            Strides::nhwc(h * in_row + in_batch_extra, in_row, in_pixel),
        )
    };
    let in_margin = (
        small(u, 0, 17)?,
        if u.ratio(1u8, 2u8)? {
            0
        } else {
            small(u, 1, 5)?
        },
    );
    let in_gap = [f32::NAN, 3.0e38, -3.0e38, f32::INFINITY, 1.0][small(u, 0, 4)?];
    let out_extra = (
        if u.ratio(1u8, 2u8)? {
            0
        } else {
            small(u, 1, 5)?
        },
        if u.ratio(3u8, 4u8)? {
            0
        } else {
            small(u, 1, 9)?
        },
        if u.ratio(3u8, 4u8)? {
            0
        } else {
            small(u, 1, 9)?
        },
    );
    let out_margin = (small(u, 0, 17)?, small(u, 0, 17)?);
    let threaded = !u.ratio(15u8, 16u8)?;
    let base = match small(u, 0, 15)? {
        0..=5 => Base::Signed,
        6 | 7 => Base::NonNegative,
        8 | 9 => Base::SmallInts,
        10 => Base::Huge,
        11 => Base::Tiny,
        12 => Base::Subnormal,
        _ => Base::AllMagnitudes,
    };
    let special_rate = [0u8, 0, 1, 4, 16, 64, 128, 255][small(u, 0, 7)?];
    let value_seed = u.arbitrary()?;
    let count = shape.num_elements().expect("small shape");
    let mut overrides = Vec::new();
    while !u.is_empty() && overrides.len() < 4096 {
        let idx = u.int_in_range(0u16..=u16::MAX)? as usize % count;
        let v = match small(u, 0, 7)? {
            0 => f32::from_bits(u.arbitrary()?),
            1..=3 => special(u.arbitrary()?),
            4 => (u.int_in_range(-100i32..=100)? as f32) / 4.0,
            5 => -0.0,
            6 => {
                f32::from_bits(u.int_in_range(1u32..=0x007f_ffff)?)
                    * if u.arbitrary()? { -1.0 } else { 1.0 }
            }
            _ => {
                f32::from_bits(u.int_in_range(0x7e00_0000u32..=0x7f7f_ffff)?)
                    * if u.arbitrary()? { -1.0 } else { 1.0 }
            }
        };
        overrides.push((idx, v));
    }
    Ok(Case {
        op,
        window,
        clamp,
        shape,
        in_strides,
        in_margin,
        in_gap,
        out_extra,
        out_margin,
        threaded,
        base,
        special_rate,
        value_seed,
        overrides,
    })
}

/// A special value by selector.
fn special(sel: u8) -> f32 {
    match sel % 20 {
        0 => f32::NAN,
        1 => -f32::NAN,
        2 => f32::from_bits(0x7f80_0001), // signalling NaN payload
        3 => f32::from_bits(0xffc0_1234),
        4 => f32::INFINITY,
        5 => f32::NEG_INFINITY,
        6 => -0.0,
        7 => 0.0,
        8 => f32::from_bits(1),
        9 => -f32::from_bits(0x0040_0000),
        10 => f32::MAX,
        11 => -f32::MAX,
        12 => 3.0e38,
        13 => 1.0e30,
        14 => -1.7e38,
        15 => 1.0e-30,
        16 => -1.0e-30,
        17 => f32::MIN_POSITIVE,
        18 => 1.0,
        _ => -1.0,
    }
}

/// splitmix64.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 * (1.0 / 16_777_216.0)
    }
    fn sign(&mut self) -> f32 {
        if self.next() & 1 == 0 { 1.0 } else { -1.0 }
    }
}

impl Case {
    fn params(&self) -> PoolParams {
        let p = match (self.op, self.window) {
            (Op::Max, Some(w)) => PoolParams::max(w),
            (Op::Avg(d), Some(w)) => PoolParams::avg(w, d),
            (Op::Lp(p), Some(w)) => PoolParams::lp(w, p),
            (Op::StochTrain { seed, .. }, Some(w)) => PoolParams::stochastic_train(w, seed),
            (Op::StochInfer, Some(w)) => PoolParams::stochastic_inference(w),
            (Op::GlobalMax, _) => PoolParams::global(GlobalOp::Max),
            (Op::GlobalAvg, _) => PoolParams::global(GlobalOp::Avg),
            (Op::GlobalLp(p), _) => PoolParams::global(GlobalOp::Lp(p)),
            _ => unreachable!("windowed ops have a window"),
        };
        match self.clamp {
            Some((lo, hi)) => p.clamp(lo, hi),
            None => p,
        }
    }

    /// Dense input values (NHWC order).
    fn values(&self) -> Vec<f32> {
        let count = self.shape.num_elements().expect("small shape");
        let mut rng = Rng(self.value_seed);
        let mut v: Vec<f32> = (0..count)
            .map(|_| {
                let r = (rng.next() & 0xff) as u8;
                if self.special_rate > 0 && r < self.special_rate {
                    return special((rng.next() >> 8) as u8);
                }
                match self.base {
                    Base::Signed => rng.unit() * 20.0 - 10.0,
                    Base::NonNegative => rng.unit() * 10.0,
                    Base::SmallInts => (rng.next() % 7) as f32 - 3.0,
                    Base::Huge => rng.sign() * 1.0e30 * 10f32.powf(rng.unit() * 8.47),
                    Base::Tiny => rng.sign() * 1.0e-30 * (0.1 + rng.unit() * 9.9),
                    Base::Subnormal => {
                        rng.sign() * f32::from_bits(1 + (rng.next() % 0x007f_ffff) as u32)
                    }
                    Base::AllMagnitudes => {
                        let e = rng.unit() * 83.5 - 45.0;
                        rng.sign() * 10f32.powf(e).max(f32::from_bits(1))
                    }
                }
            })
            .collect();
        for &(i, x) in &self.overrides {
            v[i] = x;
        }
        v
    }

    fn out_strides(&self, out: Shape) -> Strides {
        let pixel = out.c() + self.out_extra.0;
        match out.spatial().as_slice() {
            [w] => Strides {
                batch: w * pixel + self.out_extra.2,
                spatial: [pixel].into(),
            },
            [h, w] => {
                let row = w * pixel + self.out_extra.1;
                Strides::nhwc(h * row + self.out_extra.2, row, pixel)
            }
            _ => unreachable!("rank 1 or 2"),
        }
    }
}

/// Offset of element (n, pos, c) for `strides`.
fn offset(strides: &Strides, n: usize, pos: &[usize], c: usize) -> usize {
    n * strides.batch
        + c
        + pos
            .iter()
            .zip(strides.spatial.as_slice())
            .map(|(p, s)| p * s)
            .sum::<usize>()
}

/// Every (n, pos) of a shape, pos outermost first.
fn positions(shape: Shape) -> Vec<(usize, Vec<usize>)> {
    let sp = shape.spatial();
    let sp = sp.as_slice();
    let mut v = Vec::new();
    for n in 0..shape.n() {
        match sp {
            [w] => (0..*w).for_each(|x| v.push((n, vec![x]))),
            [h, w] => {
                for y in 0..*h {
                    for x in 0..*w {
                        v.push((n, vec![y, x]));
                    }
                }
            }
            _ => unreachable!("rank 1 or 2"),
        }
    }
    v
}

// ---------------------------------------------------------------------------------------------
// Statistics

struct Stats {
    valid: u64,
    invalid: u64,
    tier_runs: [u64; 3],
    threaded_runs: u64,
    ops: [u64; 8],
    /// Mismatches skipped as known findings (`SIMDPOOL_FUZZ_ALLOW`).
    known: u64,
}

static STATS: Mutex<Stats> = Mutex::new(Stats {
    valid: 0,
    invalid: 0,
    tier_runs: [0; 3],
    threaded_runs: 0,
    ops: [0; 8],
    known: 0,
});

fn count(valid: bool, tiers: &[Tier], threaded: bool, op: &Op) {
    let mut s = STATS.lock().unwrap_or_else(|e| e.into_inner());
    if !valid {
        s.invalid += 1;
        return;
    }
    s.valid += 1;
    for t in tiers {
        s.tier_runs[*t as usize] += 1;
    }
    if threaded {
        s.threaded_runs += 1;
    }
    let i = OP_NAMES
        .iter()
        .position(|n| *n == op.name())
        .expect("known op");
    s.ops[i] += 1;
    if s.valid.is_multiple_of(STATS_EVERY) {
        print_stats(&s, "");
    }
}

fn print_stats(s: &Stats, suffix: &str) {
    let ops: Vec<String> = OP_NAMES
        .iter()
        .zip(s.ops)
        .map(|(n, c)| format!("{n}={c}"))
        .collect();
    eprintln!(
        "simdpool-fuzz stats: valid={} invalid={} baseline={} avx2={} avx512={} threaded={} known_skipped={} {}{}",
        s.valid,
        s.invalid,
        s.tier_runs[0],
        s.tier_runs[1],
        s.tier_runs[2],
        s.threaded_runs,
        s.known,
        ops.join(" "),
        suffix
    );
}

/// The process's totals once more when libFuzzer exits normally (`-max_total_time`, `-runs`),
/// so a run's figures are exact, not rounded down to `STATS_EVERY`.
extern "C" fn print_final_stats() {
    let s = STATS.lock().unwrap_or_else(|e| e.into_inner());
    print_stats(&s, " (at exit)");
}

fn register_final_stats() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    unsafe extern "C" {
        fn atexit(f: extern "C" fn()) -> std::ffi::c_int;
    }
    // SAFETY: atexit is the C library's; the handler only locks a static and prints.
    ONCE.call_once(|| unsafe {
        atexit(print_final_stats);
    });
}

// ---------------------------------------------------------------------------------------------
// The check

/// Known findings that `SIMDPOOL_FUZZ_ALLOW` (a comma list) tells a run to skip, so a long run
/// can look for new bugs while a known one is open. Empty by default: every mismatch fails.
/// - `lp-overflow`: an Lp result whose exact value lies just above `f32::MAX` (the reference
///   rounds to an infinity, the kernel gives `+-f32::MAX`); see tests/regressions.rs
///   `lp_real_p_result_just_above_f32_max_rounds_to_inf`.
/// - `compare-nan-bound`: `check::compare` reports equal values as a mismatch because its
///   bound is NaN (stochastic inference with a `+inf` tap: `sum a^2 / S` = inf/inf); see
///   `compare_stochastic_inference_infinite_tap_with_clamp`.
fn allowed(op: &Op, m: &check::Mismatch) -> bool {
    static ALLOW: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let allow = ALLOW.get_or_init(|| {
        std::env::var("SIMDPOOL_FUZZ_ALLOW")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    });
    let has = |name: &str| allow.iter().any(|a| a == name);
    let same = m.got == m.want || (m.got.is_nan() && m.want.is_nan());
    if has("compare-nan-bound") && m.bound.is_nan() && same {
        return true;
    }
    has("lp-overflow")
        && matches!(op, Op::Lp(_) | Op::GlobalLp(_))
        && m.want.is_infinite()
        && m.got.is_finite()
        && m.got.abs() >= f32::MAX * (1.0 - 1e-4)
        && m.got.signum() == m.want.signum()
}

fn describe(case: &Case, values: &[f32]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "case: {case:#?}");
    let _ = writeln!(s, "params: {:?}", case.params());
    let _ = writeln!(
        s,
        "input {} dense values (NHWC order; f32 bits in hex; overrides already applied):",
        values.len()
    );
    for (i, chunk) in values.chunks(16).enumerate() {
        let _ = write!(s, "  [{:6}]", i * 16);
        for x in chunk {
            let _ = write!(s, " {:08x}", x.to_bits());
        }
        s.push('\n');
    }
    s
}

fn check_case(case: &Case) {
    let params = case.params();
    let shape = case.shape;
    let tiers = simdpool::available_tiers();
    // Every tier must agree on validity; the reference decides it.
    let reference = Plan::new(&params, shape, Isa::Reference);
    let values = case.values();

    // The input buffer: margins, gaps and the elements.
    let in_len = offset(
        &case.in_strides,
        shape.n() - 1,
        &shape
            .spatial()
            .as_slice()
            .iter()
            .map(|d| d - 1)
            .collect::<Vec<_>>(),
        shape.c() - 1,
    ) + 1;
    let total = case.in_margin.0 + in_len + case.in_margin.1;
    let mut input_buf = vec![case.in_gap; total];
    let dense = simdpool::Strides::dense(&shape).expect("small shape");
    for (n, pos) in positions(shape) {
        for c in 0..shape.c() {
            input_buf[case.in_margin.0 + offset(&case.in_strides, n, &pos, c)] =
                values[offset(&dense, n, &pos, c)];
        }
    }
    let in_data = &input_buf[case.in_margin.0..case.in_margin.0 + in_len];
    let input = TensorView::with_strides(in_data, shape, case.in_strides)
        .unwrap_or_else(|e| panic!("input view rejected: {e}\n{}", describe(case, &values)));
    let input_before: Vec<u32> = input_buf.iter().map(|x| x.to_bits()).collect();

    let reference = match reference {
        Ok(p) => p,
        Err(e) => {
            assert!(!e.message().is_empty(), "empty error message");
            for t in &tiers {
                if let Ok(p) = Plan::new(&params, shape, Isa::Tier(*t)) {
                    panic!(
                        "the reference rejects the case ({e}) but tier {t} accepts it ({})\n{}",
                        p.kernel_name(),
                        describe(case, &values)
                    );
                }
            }
            count(false, &tiers, false, &case.op);
            return;
        }
    };
    let out_shape = reference.output_shape();
    let out_strides = case.out_strides(out_shape);
    let out_len = offset(
        &out_strides,
        out_shape.n() - 1,
        &out_shape
            .spatial()
            .as_slice()
            .iter()
            .map(|d| d - 1)
            .collect::<Vec<_>>(),
        out_shape.c() - 1,
    ) + 1;
    let out_total = case.out_margin.0 + out_len + case.out_margin.1;
    let mut is_element = vec![false; out_total];
    for (n, pos) in positions(out_shape) {
        for c in 0..out_shape.c() {
            is_element[case.out_margin.0 + offset(&out_strides, n, &pos, c)] = true;
        }
    }
    let seed = case.op.run_seed();

    // (tier, kernel, output bits of the elements, in position order) that passed compare.
    let mut passed: Vec<Vec<u32>> = Vec::new();
    for &t in &tiers {
        let plan = Plan::new(&params, shape, Isa::Tier(t)).unwrap_or_else(|e| {
            panic!(
                "tier {t} rejects a case the reference accepts: {e}\n{}",
                describe(case, &values)
            )
        });
        assert_eq!(
            plan.output_shape(),
            out_shape,
            "tier {t}: output shape differs"
        );
        let runs: &[bool] = if case.threaded {
            &[false, true]
        } else {
            &[false]
        };
        let mut first: Option<Vec<u32>> = None;
        for &threaded in runs {
            let mut out_buf = vec![f32::from_bits(CANARY); out_total];
            {
                let out = TensorViewMut::with_strides(
                    &mut out_buf[case.out_margin.0..case.out_margin.0 + out_len],
                    out_shape,
                    out_strides,
                )
                .expect("output view");
                let threads = if threaded {
                    Threads::Global
                } else {
                    Threads::Current
                };
                let r = match case.op {
                    Op::StochTrain {
                        per_call: Some(s), ..
                    } => plan.run_with(input, out, threads, Some(s)),
                    _ => plan.run_with(input, out, threads, None),
                };
                if let Err(e) = r {
                    panic!(
                        "{} (tier {t}, threaded {threaded}): run failed: {e}\n{}",
                        plan.kernel_name(),
                        describe(case, &values)
                    );
                }
            }
            for (i, x) in out_buf.iter().enumerate() {
                if !is_element[i] && x.to_bits() != CANARY {
                    panic!(
                        "{} (tier {t}, threaded {threaded}): wrote {x:e} ({:#010x}) at output buffer \
                         index {i}, which is not an output element (view starts at {}, {} elements \
                         long, strides {:?})\n{}",
                        plan.kernel_name(),
                        x.to_bits(),
                        case.out_margin.0,
                        out_len,
                        out_strides,
                        describe(case, &values)
                    );
                }
            }
            let cur: Vec<u32> = out_buf
                .iter()
                .zip(&is_element)
                .filter(|(_, e)| **e)
                .map(|(x, _)| x.to_bits())
                .collect();
            if let Some(f) = &first {
                if *f != cur {
                    let i = f.iter().zip(&cur).position(|(a, b)| a != b).unwrap_or(0);
                    panic!(
                        "{} (tier {t}): the run on rayon's pool differs from the single-threaded \
                         run at output element {i} (in memory order): {:#010x} vs {:#010x}\n{}",
                        plan.kernel_name(),
                        cur[i],
                        f[i],
                        describe(case, &values)
                    );
                }
                continue;
            }
            if cur.iter().any(|b| *b == CANARY) {
                panic!(
                    "{} (tier {t}): an output element was not written (still the canary)\n{}",
                    plan.kernel_name(),
                    describe(case, &values)
                );
            }
            if !passed.contains(&cur) {
                let mut known = 0;
                let result = loop {
                    let out = TensorView::with_strides(
                        &out_buf[case.out_margin.0..case.out_margin.0 + out_len],
                        out_shape,
                        out_strides,
                    )
                    .expect("output view");
                    match check::compare(&plan, input, out, seed) {
                        Err(m) if known < 10_000 && allowed(&case.op, &m) => {
                            // A known finding the run was told to skip: patch in the reference
                            // value and compare the rest; if the element already holds it (a
                            // checker finding), the rest of this output goes unchecked.
                            known += 1;
                            STATS.lock().unwrap_or_else(|e| e.into_inner()).known += 1;
                            let i = case.out_margin.0 + offset(&out_strides, m.n, &m.position, m.c);
                            if out_buf[i].to_bits() == m.want.to_bits() {
                                break Ok(());
                            }
                            out_buf[i] = m.want;
                        }
                        r => break r,
                    }
                };
                if let Err(m) = result {
                    let mut plane = String::new();
                    let sp = shape.spatial();
                    let sp = sp.as_slice();
                    let (h, w) = if sp.len() == 1 {
                        (1, sp[0])
                    } else {
                        (sp[0], sp[1])
                    };
                    for y in 0..h {
                        let _ = write!(plane, "  row {y:2}:");
                        for x in 0..w {
                            let pos = if sp.len() == 1 { vec![x] } else { vec![y, x] };
                            let v = values[offset(&dense, m.n, &pos, m.c)];
                            let _ = write!(plane, " {v:e}");
                        }
                        plane.push('\n');
                    }
                    panic!(
                        "MISMATCH {m}\n  tier {t}, kernel {}, seed {seed}\ninput plane (n={}, c={}):\n{plane}{}",
                        plan.kernel_name(),
                        m.n,
                        m.c,
                        describe(case, &values)
                    );
                }
                passed.push(cur.clone());
            }
            first = Some(cur);
        }
    }
    let unchanged = input_buf
        .iter()
        .zip(&input_before)
        .all(|(x, b)| x.to_bits() == *b);
    assert!(
        unchanged,
        "the input buffer changed\n{}",
        describe(case, &values)
    );
    count(true, &tiers, case.threaded, &case.op);
}

fuzz_target!(|data: &[u8]| {
    register_final_stats();
    let mut u = Unstructured::new(data);
    if let Ok(case) = decode(&mut u) {
        check_case(&case);
    }
});
