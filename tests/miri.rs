//! Small cases for Miri (scripts/verify.sh runs `cargo +nightly miri test --test miri`): every
//! operator, on the reference, the baseline tier and every other tier available to the build,
//! on tiny shapes that still reach the vector bodies, their channel tails, the padded borders,
//! the specialised windows (2x2 s2, 3x3 s2, 3x3 s1, the experimental 5x5 s1), the stride-1 separable kernels, strided and misaligned views, the clamp,
//! and NaN / infinity / subnormal inputs. Each output is compared with the reference
//! (`check::compare`) and canaries around and between the output elements must be untouched.
//!
//! Cheap in the normal run too (a few hundred microseconds). Under Miri the x86 tiers only
//! exist when their target features are enabled at compile time (Miri answers feature
//! detection with the compile-time features): `RUSTFLAGS="-C
//! target-feature=+avx2,+fma,+f16c"` adds the avx2 tier, if Miri implements its intrinsics.

use simdpool::{
    Divisor, Isa, Padding, Plan, PoolParams, Pooling, Shape, StochasticMode, Strides, TensorView,
    TensorViewMut, Window, WindowOp, available_tiers, check,
};

const CANARY: u32 = 0x7fa5_a5a5;

/// Channel counts: a scalar tail only, and one more than the widest vector (16 lanes), so
/// every tier runs a full vector plus a tail. Under Miri (about a thousand times slower) one
/// count, 9: two 4-lane vectors and a tail on the baseline tier, one 8-lane vector and a tail
/// on avx2, a masked tail only on avx512.
#[cfg(not(miri))]
const CHANNELS: &[usize] = &[1, 17];
#[cfg(miri)]
const CHANNELS: &[usize] = &[9];

/// The reference, then every tier this build and CPU run (baseline first).
fn isas() -> Vec<Isa> {
    let mut v = vec![Isa::Reference];
    v.extend(available_tiers().into_iter().map(Isa::Tier));
    v
}

/// Input value at dense index `i`: mostly small signed values, with NaN, +-inf, -0 and
/// subnormals when `specials` is set.
fn value(i: usize, specials: bool) -> f32 {
    let base = ((i * 7919 + 13) % 41) as f32 / 4.0 - 5.0;
    if !specials {
        return base;
    }
    match i % 23 {
        3 => f32::NAN,
        7 => f32::INFINITY,
        11 => f32::NEG_INFINITY,
        13 => -0.0,
        17 => f32::from_bits(0x0000_1234),
        19 => 3.0e38,
        _ => base,
    }
}

struct Case {
    name: &'static str,
    params: PoolParams,
    /// H, W of the input (N = 1).
    hw: (usize, usize),
    specials: bool,
    /// Input pixel stride extra (> C when nonzero) and element offset (misalignment).
    in_extra: usize,
    in_offset: usize,
    /// Output pixel stride extra.
    out_extra: usize,
}

fn run_case(case: &Case, c: usize) {
    run_case_with(case, c, None)
}

/// As [`run_case`]; on the tiers, the kernel `{kernel}__{tier}` by name when given (plans
/// never pick an experimental kernel).
fn run_case_with(case: &Case, c: usize, kernel: Option<&str>) {
    let (h, w) = case.hw;
    let shape = Shape::nhwc(1, h, w, c);
    let in_pixel = c + case.in_extra;
    let in_strides = Strides::nhwc(h * w * in_pixel, w * in_pixel, in_pixel);
    let in_len = (h - 1) * w * in_pixel + (w - 1) * in_pixel + c;
    let mut buf = vec![f32::NAN; case.in_offset + in_len];
    for y in 0..h {
        for x in 0..w {
            for ch in 0..c {
                let dense = (y * w + x) * c + ch;
                buf[case.in_offset + y * w * in_pixel + x * in_pixel + ch] =
                    value(dense, case.specials);
            }
        }
    }
    let input =
        TensorView::with_strides(&buf[case.in_offset..], shape, in_strides).expect("input view");
    for isa in isas() {
        let plan = match (isa, kernel) {
            (Isa::Tier(t), Some(k)) => {
                Plan::with_kernel(&case.params, shape, &format!("{k}__{}", t.name()))
            }
            _ => Plan::new(&case.params, shape, isa),
        }
        .unwrap_or_else(|e| panic!("{} C={c} on {isa}: {e}", case.name));
        let out = plan.output_shape();
        let sp = out.spatial();
        let (oh, ow) = (sp.as_slice()[0], sp.as_slice()[1]);
        let pixel = c + case.out_extra;
        let strides = Strides::nhwc(oh * ow * pixel, ow * pixel, pixel);
        let margin = 3;
        let len = (oh - 1) * ow * pixel + (ow - 1) * pixel + c;
        let mut obuf = vec![f32::from_bits(CANARY); margin + len + margin];
        {
            let view = TensorViewMut::with_strides(&mut obuf[margin..margin + len], out, strides)
                .expect("output view");
            plan.run(input, view)
                .unwrap_or_else(|e| panic!("{} C={c} on {isa}: run: {e}", case.name));
        }
        for (i, x) in obuf.iter().enumerate() {
            let j = i.wrapping_sub(margin);
            let is_element = i >= margin && j < len && j % pixel < c;
            if !is_element {
                assert_eq!(
                    x.to_bits(),
                    CANARY,
                    "{} C={c} on {isa} ({}): wrote buffer index {i}, not an element",
                    case.name,
                    plan.kernel_name()
                );
            }
        }
        let view = TensorView::with_strides(&obuf[margin..margin + len], out, strides)
            .expect("output view");
        if let Err(m) = check::compare(&plan, input, view, train_seed(&case.params)) {
            panic!("{} C={c} on {isa}: {m}", case.name);
        }
    }
}

/// The seed a stochastic training plan runs with (ignored by the other operators).
fn train_seed(p: &PoolParams) -> u64 {
    match p.pooling {
        Pooling::Window {
            op: WindowOp::Stochastic(StochasticMode::Train { seed }),
            ..
        } => seed,
        _ => 0,
    }
}

fn cases() -> Vec<Case> {
    let pad1 = Padding::symmetric([1, 1]);
    let w3 = || Window::new([3, 3]);
    let mut v = Vec::new();
    let mut add = |name, params, hw, specials, in_extra, in_offset, out_extra| {
        v.push(Case {
            name,
            params,
            hw,
            specials,
            in_extra,
            in_offset,
            out_extra,
        })
    };
    // Generic windows with padding, dilation and ceil mode; specialised windows.
    let generic = Window::new([2, 3])
        .stride([1, 2])
        .dilation([2, 1])
        .padding(Padding::explicit([1, 0], [0, 2]))
        .ceil_mode(true);
    add(
        "max generic",
        PoolParams::max(generic),
        (5, 6),
        true,
        2,
        1,
        1,
    );
    add(
        "max 2x2s2",
        PoolParams::max(Window::new([2, 2]).stride([2, 2])),
        (4, 5),
        true,
        0,
        0,
        0,
    );
    add(
        "max 3x3s2 pad",
        PoolParams::max(w3().stride([2, 2]).padding(pad1)),
        (5, 5),
        false,
        1,
        3,
        0,
    );
    add(
        "max 3x3s1 pad clamp",
        PoolParams::max(w3().padding(pad1)).clamp(0.0, 6.0),
        (4, 4),
        true,
        0,
        1,
        2,
    );
    // The stride-1 separable kernels (4 taps or more): ring, tap and column tables, padding
    // on every side, blocks of 4 and the remainder.
    add(
        "max 5x5s1 pad clamp specials",
        PoolParams::max(Window::new([5, 5]).padding(Padding::symmetric([2, 2]))).clamp(-1.0, 4.0),
        (6, 7),
        true,
        1,
        1,
        2,
    );
    add(
        "avg include 4x6s1 asymmetric",
        PoolParams::avg(
            Window::new([4, 6]).padding(Padding::Explicit {
                begin: [1, 3].into(),
                end: [2, 0].into(),
            }),
            Divisor::IncludePad,
        ),
        (5, 6),
        false,
        0,
        2,
        1,
    );
    add(
        "max 1x5s1 same",
        PoolParams::max(Window::new([1, 5]).padding(Padding::SameUpper)),
        (2, 9),
        false,
        0,
        0,
        0,
    );
    add(
        "avg exclude generic",
        PoolParams::avg(generic, Divisor::ExcludePad),
        (5, 6),
        false,
        1,
        0,
        0,
    );
    add(
        "avg include 3x3s2",
        PoolParams::avg(w3().stride([2, 2]).padding(pad1), Divisor::IncludePad),
        (5, 5),
        true,
        0,
        2,
        1,
    );
    add(
        "avg override 2x2s2",
        PoolParams::avg(Window::new([2, 2]).stride([2, 2]), Divisor::Override(3)),
        (4, 4),
        false,
        0,
        0,
        0,
    );
    add(
        "avg exclude 3x3s1 same",
        PoolParams::avg(w3().padding(Padding::SameUpper), Divisor::ExcludePad),
        (4, 4),
        false,
        2,
        1,
        0,
    );
    add(
        "lp1",
        PoolParams::lp(w3().padding(Padding::SameLower), 1.0),
        (4, 4),
        true,
        0,
        0,
        0,
    );
    add(
        "lp2 generic",
        PoolParams::lp(generic, 2.0),
        (5, 6),
        false,
        0,
        1,
        0,
    );
    add(
        "lp2 2x2s2",
        PoolParams::lp(Window::new([2, 2]).stride([2, 2]), 2.0),
        (4, 4),
        false,
        1,
        0,
        0,
    );
    add(
        "lp2 3x3s2",
        PoolParams::lp(w3().stride([2, 2]).padding(pad1), 2.0),
        (5, 5),
        false,
        0,
        0,
        0,
    );
    add(
        "lpinf",
        PoolParams::lp(w3().padding(pad1), f64::INFINITY),
        (4, 4),
        true,
        0,
        0,
        0,
    );
    add(
        "lp 3",
        PoolParams::lp(w3().stride([2, 2]).padding(pad1), 3.0),
        (5, 5),
        false,
        0,
        1,
        1,
    );
    add(
        "lp 0.5 specials",
        PoolParams::lp(Window::new([2, 2]), 0.5),
        (3, 3),
        true,
        0,
        0,
        0,
    );
    add(
        "stochtrain generic",
        PoolParams::stochastic_train(generic, 7),
        (5, 6),
        false,
        0,
        0,
        0,
    );
    add(
        "stochtrain 2x2s2",
        PoolParams::stochastic_train(Window::new([2, 2]).stride([2, 2]), 9),
        (4, 4),
        true,
        1,
        1,
        0,
    );
    add(
        "stochtrain 3x3s2",
        PoolParams::stochastic_train(w3().stride([2, 2]).padding(pad1), 3),
        (5, 5),
        false,
        0,
        0,
        1,
    );
    add(
        "stochinfer generic",
        PoolParams::stochastic_inference(generic),
        (5, 6),
        true,
        0,
        0,
        0,
    );
    add(
        "stochinfer 2x2s2",
        PoolParams::stochastic_inference(Window::new([2, 2]).stride([2, 2])),
        (4, 4),
        false,
        0,
        2,
        0,
    );
    add(
        "stochinfer 3x3s2",
        PoolParams::stochastic_inference(w3().stride([2, 2]).padding(pad1)),
        (5, 5),
        false,
        1,
        0,
        0,
    );
    add("gmax", PoolParams::global_max(), (3, 4), true, 1, 1, 1);
    add(
        "gavg",
        PoolParams::global_avg().clamp(-1.0, 1.0),
        (3, 4),
        false,
        0,
        0,
        0,
    );
    add("glp 2", PoolParams::global_lp(2.0), (3, 3), false, 0, 0, 0);
    add("glp 1.5", PoolParams::global_lp(1.5), (3, 3), true, 0, 0, 0);
    v
}

fn run_named(name: &str) {
    let case = cases()
        .into_iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no case {name}"));
    for &c in CHANNELS {
        run_case(&case, c);
    }
}

/// One test per case, so Miri's progress shows and a filter picks a case.
macro_rules! case_tests {
    ($($test:ident => $name:literal,)*) => {
        $(#[test] fn $test() { run_named($name); })*
        /// Every case has its test.
        #[test]
        fn every_case_has_a_test() {
            let named = [$($name),*];
            for c in cases() {
                assert!(named.contains(&c.name), "case {} has no test", c.name);
            }
        }
    };
}

case_tests! {
    max_generic => "max generic",
    max_2x2s2 => "max 2x2s2",
    max_3x3s2_pad => "max 3x3s2 pad",
    max_3x3s1_pad_clamp => "max 3x3s1 pad clamp",
    max_5x5s1_pad_clamp_specials => "max 5x5s1 pad clamp specials",
    avg_include_4x6s1_asymmetric => "avg include 4x6s1 asymmetric",
    max_1x5s1_same => "max 1x5s1 same",
    avg_exclude_generic => "avg exclude generic",
    avg_include_3x3s2 => "avg include 3x3s2",
    avg_override_2x2s2 => "avg override 2x2s2",
    avg_exclude_3x3s1_same => "avg exclude 3x3s1 same",
    lp1 => "lp1",
    lp2_generic => "lp2 generic",
    lp2_2x2s2 => "lp2 2x2s2",
    lp2_3x3s2 => "lp2 3x3s2",
    lpinf => "lpinf",
    lp_3 => "lp 3",
    lp_half_specials => "lp 0.5 specials",
    stochtrain_generic => "stochtrain generic",
    stochtrain_2x2s2 => "stochtrain 2x2s2",
    stochtrain_3x3s2 => "stochtrain 3x3s2",
    stochinfer_generic => "stochinfer generic",
    stochinfer_2x2s2 => "stochinfer 2x2s2",
    stochinfer_3x3s2 => "stochinfer 3x3s2",
    gmax => "gmax",
    gavg => "gavg",
    glp_2 => "glp 2",
    glp_1_5 => "glp 1.5",
}

/// The experimental 5x5 s1 max kernel (clamped indices) on the SPPF-like case: clamped rows
/// at the top and bottom, strided rows between, a masked channel tail.
#[test]
fn max_5x5s1_clamped_kernel() {
    let case = cases()
        .into_iter()
        .find(|c| c.name == "max 5x5s1 pad clamp specials")
        .expect("case");
    for &c in CHANNELS {
        run_case_with(&case, c, Some("max_f32_k5x5s1"));
    }
}

/// Max's W pass through the row buffer (windows of 9 taps or more over pixels of 128 floats
/// or more): a 9x9 window with padding 4 on 9x10 pixels of 5 channels (a masked tail on every
/// tier) 130 floats apart, NaN and infinities among the inputs.
#[test]
fn max_9x9s1_row_buffer() {
    let case = Case {
        name: "max 9x9s1 row buffer",
        params: PoolParams::max(Window::new([9, 9]).padding(Padding::symmetric([4, 4]))),
        hw: (9, 10),
        specials: true,
        in_extra: 125,
        in_offset: 1,
        out_extra: 2,
    };
    run_case(&case, 5);
}

/// The tiers this run covers, printed for the log (scripts/verify.sh shows it).
#[test]
fn tiers_covered() {
    let names: Vec<&str> = available_tiers().iter().map(|t| t.name()).collect();
    println!("miri.rs covers: reference, {}", names.join(", "));
}

/// The stride-1 cases reach the separable kernels on every tier (not the generic one).
#[test]
fn separable_cases_take_the_separable_kernels() {
    for case in cases().iter().filter(|c| {
        c.name.contains("5x5s1") || c.name.contains("4x6s1") || c.name.contains("1x5s1")
    }) {
        let shape = Shape::nhwc(1, case.hw.0, case.hw.1, CHANNELS[0]);
        for t in available_tiers() {
            let plan = Plan::new(&case.params, shape, Isa::Tier(t)).expect("plan");
            let name = plan.kernel_name();
            assert!(
                name.contains("_s1_vhgw") || name.contains("_s1_blocksum"),
                "{}: {name}",
                case.name
            );
        }
    }
}

/// The 3x3 s1 kernels' walk for outputs placed where their stores alias their loads modulo
/// 4 KiB (`kernels::window::alias_gap`): 256 channels, the output a multiple of 1 KiB after the
/// input in one buffer, rows losing a window row at the top and the bottom.
#[test]
fn k3x3s1_aliasing_placement() {
    // Width 3: one interior output and an edge each side.
    let (h, w, c) = (4, 3, 256);
    let shape = Shape::nhwc(1, h, w, c);
    let len = h * w * c;
    let gap = len.div_ceil(256) * 256; // floats: a multiple of 1 KiB
    let mut buf: Vec<f32> = (0..gap + len).map(|i| value(i, i % 3 == 0)).collect();
    let (x, y) = buf.split_at_mut(gap);
    let input = TensorView::new(&x[..len], shape).expect("input view");
    let win = Window::new([3, 3]).padding(Padding::symmetric([1, 1]));
    let mut ops = vec![("max", PoolParams::max(win))];
    // Under Miri (no AVX-512: the average keeps its pair walk there) max only, for time.
    if !cfg!(miri) {
        ops.push(("avg", PoolParams::avg(win, Divisor::ExcludePad)));
    }
    for (op, params) in ops {
        for t in available_tiers() {
            let name = format!("{op}_f32_k3x3s1__{}", t.name());
            let plan = Plan::with_kernel(&params, shape, &name).expect("plan");
            plan.run(input, TensorViewMut::new(y, shape).expect("output view"))
                .expect("run");
            let out = TensorView::new(y, shape).expect("output view");
            if let Err(m) = check::compare(&plan, input, out, 0) {
                panic!("{name}: {m}");
            }
        }
    }
}
