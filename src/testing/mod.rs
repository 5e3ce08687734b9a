//! Test support: one tester builder (XNNPACK's style) and the boundary sweep every registry
//! kernel runs (build.rs generates one `#[test]` per kernel that calls
//! [`check_registry_kernel`]).

use crate::check;
use crate::dispatch::{Match, registry};
use crate::params::{Divisor, Padding, PoolParams, Window, WindowOp};
use crate::plan::Plan;
use crate::tensor::{Shape, Strides, TensorView, TensorViewMut};
use crate::tier::Tier;

include!(concat!(env!("OUT_DIR"), "/kernel_tests.rs"));

/// The value written around and between output elements; a kernel must never touch it.
const CANARY: f32 = -7.0e30;

/// A small deterministic generator (xorshift64*), so tests need no dependency.
#[derive(Clone, Debug)]
pub(crate) struct Rng(pub u64);

impl Rng {
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    /// Mostly values in [-4, 4), with ties (small integers) and signed zeros mixed in.
    pub(crate) fn value(&mut self) -> f32 {
        match self.below(16) {
            0 => (self.below(5) as f32) - 2.0,
            1 => -0.0,
            _ => ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32) * 8.0 - 4.0,
        }
    }
}

/// One test case: parameters, shape, layout and values.
#[derive(Clone, Debug)]
pub(crate) struct Tester {
    pub params: PoolParams,
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub c: usize,
    /// Input pixel stride = c + in_extra.
    pub in_extra: usize,
    /// Output pixel stride = c + out_extra.
    pub out_extra: usize,
    /// Elements before the input view (misalignment).
    pub in_offset: usize,
    /// Value generator seed.
    pub values: u64,
    /// Stochastic training seed.
    pub seed: u64,
    /// One special value at (flat input pixel index, channel).
    pub inject: Option<(usize, usize, f32)>,
}

impl Tester {
    pub(crate) fn new(params: PoolParams, h: usize, w: usize, c: usize) -> Tester {
        Tester {
            params,
            n: 1,
            h,
            w,
            c,
            in_extra: 0,
            out_extra: 0,
            in_offset: 0,
            values: 1,
            seed: 0,
            inject: None,
        }
    }

    /// Runs `kernel` (a registry name) and the reference; Err describes the whole case.
    pub(crate) fn check(&self, kernel: &str) -> Result<(), String> {
        let fail = |what: String| format!("{what}\n  case: {self:?}\n  kernel: {kernel}");
        let shape = Shape::nhwc(self.n, self.h, self.w, self.c);
        let plan = Plan::with_kernel(&self.params, shape, kernel)
            .map_err(|e| fail(format!("plan error: {e}")))?;
        let out_shape = plan.output_shape();
        let (oh, ow) = (
            out_shape.spatial().as_slice()[0],
            out_shape.spatial().as_slice()[1],
        );

        let ip = self.c + self.in_extra;
        let in_strides = Strides::nhwc(self.h * self.w * ip, self.w * ip, ip);
        let in_len = self.in_offset + self.n * self.h * self.w * ip;
        let mut rng = Rng(self.values.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut inbuf: Vec<f32> = (0..in_len).map(|_| rng.value()).collect();
        if let Some((pix, ch, v)) = self.inject {
            let (h, w) = (pix / self.w % self.h, pix % self.w);
            inbuf[self.in_offset + h * self.w * ip + w * ip + ch] = v;
        }
        let input = TensorView::with_strides(&inbuf[self.in_offset..], shape, in_strides)
            .map_err(|e| fail(format!("input view: {e}")))?;

        let op = self.c + self.out_extra;
        let out_strides = Strides::nhwc(oh * ow * op, ow * op, op);
        let pre = 17;
        let body = self.n * oh * ow * op;
        let mut outbuf = vec![CANARY; pre + body + 17];
        {
            let output =
                TensorViewMut::with_strides(&mut outbuf[pre..pre + body], out_shape, out_strides)
                    .map_err(|e| fail(format!("output view: {e}")))?;
            plan.run_seeded_for_test(input, output, self.seed)
                .map_err(|e| fail(format!("run error: {e}")))?;
        }
        for (i, v) in outbuf.iter().enumerate() {
            let inside = i >= pre && i < pre + body && (i - pre) % op < self.c;
            if !inside && v.to_bits() != CANARY.to_bits() {
                return Err(fail(format!("canary overwritten at buffer index {i}: {v}")));
            }
        }
        let output = TensorView::with_strides(&outbuf[pre..pre + body], out_shape, out_strides)
            .map_err(|e| fail(format!("output view: {e}")))?;
        check::compare(&plan, input, output, self.seed).map_err(|m| fail(m.to_string()))
    }
}

/// `SIMDPOOL_REQUIRE_TIERS` (comma list) names tiers whose absence is a failure.
pub(crate) fn tier_required(t: Tier) -> bool {
    std::env::var("SIMDPOOL_REQUIRE_TIERS")
        .map(|v| v.split(',').any(|s| s.trim() == t.name()))
        .unwrap_or(false)
}

/// True if `t` can run here; otherwise prints a notice, or panics if the tier is required.
pub(crate) fn tier_or_skip(t: Tier, what: &str) -> bool {
    if t.is_available() {
        return true;
    }
    assert!(
        !tier_required(t),
        "{what}: tier {t} is required by SIMDPOOL_REQUIRE_TIERS but this CPU or build lacks it"
    );
    eprintln!("SKIPPED {what}: this CPU or build lacks tier {t}");
    false
}

fn lanes(t: Tier) -> usize {
    match t {
        Tier::Baseline => 4,
        Tier::Avx2 => 8,
        Tier::Avx512 => 16,
    }
}

/// Channel counts around every lane boundary the kernels care about (vector, block of 4).
pub(crate) fn channel_sweep(l: usize) -> Vec<usize> {
    let mut v = vec![
        1,
        2,
        l - 1,
        l,
        l + 1,
        2 * l + 1,
        4 * l - 1,
        4 * l,
        4 * l + 1,
        5 * l + 3,
    ];
    v.sort();
    v.dedup();
    v
}

/// Windows the sweep runs for a kernel's match.
fn windows(m: Match, algorithm: &str) -> Vec<Window> {
    let p = Padding::explicit;
    match m {
        Match::Family(_) if algorithm == "sep" => vec![
            Window::new([1, 1]),
            Window::new([2, 2]),
            Window::new([3, 1]).padding(p([2, 0], [1, 0])),
            Window::new([1, 3])
                .padding(p([0, 2], [0, 1]))
                .ceil_mode(true),
            Window::new([3, 2]).padding(Padding::SameUpper),
            Window::new([3, 3]).padding(Padding::SameLower),
            Window::new([2, 3]).padding(p([1, 2], [0, 2])),
        ],
        Match::Family(_) => vec![
            Window::new([4, 4]),
            Window::new([1, 4])
                .padding(p([0, 3], [0, 1]))
                .ceil_mode(true),
            Window::new([4, 3]).padding(Padding::SameUpper),
            Window::new([2, 4]).padding(p([1, 2], [0, 3])),
            Window::new([5, 5]).padding(Padding::symmetric([2, 2])),
            Window::new([9, 9]).padding(Padding::symmetric([4, 4])),
            Window::new([13, 13]).padding(Padding::symmetric([6, 6])),
            Window::new([5, 1]),
            Window::new([1, 7]).padding(p([0, 6], [0, 0])),
            Window::new([6, 11])
                .padding(p([5, 0], [0, 10]))
                .ceil_mode(true),
            Window::new([7, 2]).padding(Padding::SameUpper),
            Window::new([2, 8]).padding(Padding::SameLower),
            Window::new([10, 5]).padding(p([3, 4], [9, 1])),
        ],
        Match::Any => {
            vec![
                Window::new([1, 1]),
                Window::new([2, 2]).stride([2, 2]),
                Window::new([3, 3])
                    .stride([2, 2])
                    .padding(Padding::symmetric([1, 1])),
                Window::new([3, 3]).padding(Padding::symmetric([1, 1])),
                Window::new([3, 3]).stride([2, 2]).ceil_mode(true),
                Window::new([5, 3])
                    .stride([2, 1])
                    .dilation([1, 2])
                    .padding(p([2, 1], [1, 2])),
                Window::new([2, 4])
                    .stride([3, 3])
                    .padding(p([1, 0], [1, 3]))
                    .ceil_mode(true),
                Window::new([3, 3])
                    .dilation([2, 2])
                    .padding(Padding::symmetric([2, 2])),
                Window::new([3, 3])
                    .stride([2, 2])
                    .padding(Padding::SameUpper),
                Window::new([4, 4])
                    .stride([3, 3])
                    .dilation([2, 1])
                    .padding(Padding::SameLower),
                Window::new([7, 7])
                    .stride([3, 3])
                    .padding(p([3, 2], [1, 0]))
                    .ceil_mode(true),
            ]
        }
        Match::Window { kh, kw, sh, sw } => {
            let mut v = Vec::new();
            for mask in 0..16u32 {
                let side = |bit: u32, k: usize| if mask & (1 << bit) != 0 { k - 1 } else { 0 };
                let pad = Padding::explicit([side(0, kh), side(1, kw)], [side(2, kh), side(3, kw)]);
                for ceil in [false, true] {
                    v.push(
                        Window::new([kh, kw])
                            .stride([sh, sw])
                            .padding(pad)
                            .ceil_mode(ceil),
                    );
                }
            }
            // Padding 1 on a 3-tap axis (the ResNet stem, "same" 3x3): a border output that
            // loses one of its window's rows or columns, which padding k - 1 never gives at
            // the first output of a stride-2 axis.
            if kh > 2 || kw > 2 {
                // And half the window each side ("same", SPPF's 5x5 p2): border outputs
                // losing 1 to k/2 rows and columns.
                let mut pads = vec![([1, 1], [1, 1]), ([1, 0], [0, 1]), ([0, 1], [1, 0])];
                if kh.max(kw) >= 4 {
                    pads.push(([kh / 2, kw / 2], [kh / 2, kw / 2]));
                }
                for (lo, hi) in pads {
                    for ceil in [false, true] {
                        v.push(
                            Window::new([kh, kw])
                                .stride([sh, sw])
                                .padding(Padding::explicit(lo, hi))
                                .ceil_mode(ceil),
                        );
                    }
                }
            }
            v
        }
    }
}

/// The operators a kernel's op name stands for.
fn op_params(op: &str, w: Window) -> Vec<PoolParams> {
    match op {
        "max" => vec![PoolParams::max(w)],
        "avg" => vec![
            PoolParams::avg(w, Divisor::ExcludePad),
            PoolParams::avg(w, Divisor::IncludePad),
            PoolParams::avg(w, Divisor::Override(3)),
        ],
        "lp" => vec![
            PoolParams::lp(w, 3.0),
            PoolParams::lp(w, 0.5),
            PoolParams::lp(w, 64.0),
        ],
        "lp1" => vec![PoolParams::lp(w, 1.0)],
        "lp2" => vec![PoolParams::lp(w, 2.0)],
        "lpinf" => vec![PoolParams::lp(w, f64::INFINITY)],
        "stochtrain" => vec![PoolParams::stochastic_train(w, 0)],
        "stochinfer" => vec![PoolParams::stochastic_inference(w)],
        "gmax" => vec![PoolParams::global_max()],
        "gavg" => vec![PoolParams::global_avg()],
        "glp" => vec![
            PoolParams::global_lp(1.0),
            PoolParams::global_lp(2.0),
            PoolParams::global_lp(f64::INFINITY),
            PoolParams::global_lp(3.0),
        ],
        _ => panic!("unknown op {op}"),
    }
}

/// The smallest input size (<= 64) giving `out` outputs along an axis for this window, if any.
fn input_for(w: &Window, axis: usize, out: usize) -> Option<usize> {
    (1..=64).find(|&n| {
        let mut dims = [8usize, 8];
        dims[axis] = n;
        let probe = PoolParams::max(*w);
        Plan::new(
            &probe,
            Shape::nhwc(1, dims[0], dims[1], 1),
            crate::Isa::Reference,
        )
        .map(|p| p.output_shape().spatial().as_slice()[axis] == out)
        .unwrap_or(false)
    })
}

/// The boundary sweep of ARCHITECTURE.md for one registry kernel.
pub(crate) fn check_registry_kernel(name: &str) {
    let tier_name = name.rsplit("__").next().expect("kernel id has a tier");
    let tier = Tier::ALL
        .into_iter()
        .find(|t| t.name() == tier_name)
        .expect("known tier");
    let Some(k) = registry().iter().find(|k| k.name == name) else {
        // Not built for this architecture.
        tier_or_skip(Tier::Avx512.max(tier), name);
        assert!(!tier_required(tier), "{name} is not built on this target");
        eprintln!("SKIPPED {name}: not built for this target");
        return;
    };
    if !tier_or_skip(tier, name) {
        return;
    }
    let l = lanes(tier);
    let mut cases = 0usize;
    let mut run = |t: &Tester| {
        cases += 1;
        if let Err(e) = t.check(name) {
            panic!("{e}");
        }
    };
    let mut sizes = vec![(1, 1), (2, 2), (1, 3), (3, 4), (2, 5)];
    if matches!(k.matches, Match::Family(_)) {
        // Several van Herk / Gil-Werman blocks per axis, and ragged last blocks.
        sizes.extend([(5, 17), (17, 2)]);
    }
    let mut wins = windows(k.matches, k.algorithm);
    if k.op.starts_with('g') {
        // Global pooling ignores the window: one pass of the sweep is enough.
        wins.truncate(1);
    }
    for w in wins {
        for params in op_params(k.op, w) {
            let shapes: Vec<(usize, usize)> = sizes
                .iter()
                .filter_map(|&(oh, ow)| Some((input_for(&w, 0, oh)?, input_for(&w, 1, ow)?)))
                .collect();
            for (si, &(h, wd)) in shapes.iter().enumerate() {
                // The large shapes (several blocks per axis) need fewer channel counts: one
                // with a vector tail, one with a full block and a tail.
                let chans = if si < 5 {
                    channel_sweep(l)
                } else {
                    vec![4 * l + 3]
                };
                for &c in &chans {
                    let base = Tester::new(params, h, wd, c);
                    run(&Tester {
                        values: (si * 131 + c) as u64,
                        ..base.clone()
                    });
                    run(&Tester {
                        n: 2,
                        in_extra: 3,
                        out_extra: 1,
                        in_offset: 1,
                        params: params.clamp(-0.5, 0.75),
                        values: (si * 7 + c) as u64 + 1000,
                        seed: 7,
                        ..base.clone()
                    });
                    run(&Tester {
                        in_extra: 1,
                        out_extra: 5,
                        in_offset: 3,
                        params: params.clamp(0.0, f32::INFINITY),
                        values: (si + c) as u64 + 2000,
                        ..base
                    });
                }
            }
            // Special values at every input position of a small case, on the first and last
            // channel and across a vector boundary.
            if let Some(&(h, wd)) = shapes.get(2).or(shapes.last()) {
                let c = l + 1;
                for pix in 0..h * wd {
                    for (i, v) in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -0.0]
                        .into_iter()
                        .enumerate()
                    {
                        for ch in [0, l, c - 1] {
                            run(&Tester {
                                inject: Some((pix, ch, v)),
                                values: (pix * 4 + i) as u64,
                                ..Tester::new(params, h, wd, c)
                            });
                        }
                    }
                }
            }
        }
    }
    assert!(cases > 100, "{name}: only {cases} cases ran");
    eprintln!("{name}: {cases} cases");
}

/// For tests that must not run on a tier the CPU lacks.
#[allow(dead_code)]
pub(crate) fn params_for_op(op: &str, w: Window) -> Vec<PoolParams> {
    op_params(op, w)
}

#[test]
fn window_op_is_covered() {
    // Keeps op_params in step with the operators plans can produce.
    let w = Window::new([2, 2]);
    for op in [WindowOp::Max, WindowOp::Avg(Divisor::ExcludePad)] {
        let p = PoolParams::window(op, w);
        assert!(Plan::new(&p, Shape::nhwc(1, 2, 2, 1), crate::Isa::Reference).is_ok());
    }
}
