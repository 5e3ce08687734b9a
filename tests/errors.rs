//! Every error of SPEC.md's "Errors, never panics" list through the public API: each checks
//! the [`ErrorKind`], that the message names the parameter and its value, and (for `run`)
//! that the output buffer is left untouched. Also: extreme input values never panic and stay
//! within the accuracy contract on every tier.
//!
//! `SIMDPOOL_ISA` is process-global: only [`simdpool_isa_environment_variable`] sets it, and it
//! is the only test in this binary that plans with `Isa::Best` (the only reader of the
//! variable); every other test names its ISA explicitly.

use simdpool::{
    Divisor, Error, ErrorKind, ISA_ENV, Isa, Padding, Plan, PoolParams, Shape, Strides, Tensor,
    TensorView, TensorViewMut, Tier, Window, available_tiers, best_tier, registry,
};

/// Written into output buffers before a failing run; it must still be there afterwards.
const SENTINEL: f32 = 1234.5;

/// The reference and every tier this CPU has; never `Isa::Best` (see the module docs).
fn isas() -> Vec<Isa> {
    let mut v = vec![Isa::Reference];
    v.extend(available_tiers().into_iter().map(Isa::Tier));
    v
}

/// The error of `r`, which must have failed.
fn err_of<T>(what: &str, r: Result<T, Error>) -> Error {
    match r {
        Ok(_) => panic!("{what}: expected an error, got Ok"),
        Err(e) => e,
    }
}

/// Checks the kind and that the message contains every needle.
fn check_err(what: &str, e: &Error, kind: ErrorKind, needles: &[&str]) {
    assert_eq!(e.kind(), kind, "{what}: wrong kind for {e}");
    let msg = e.to_string();
    assert_eq!(msg, e.message(), "{what}: Display is the message");
    for n in needles {
        assert!(msg.contains(n), "{what}: message {msg:?} lacks {n:?}");
    }
}

/// `Plan::new(params, shape, isa)` fails the same way on every ISA.
fn plan_err(what: &str, params: &PoolParams, shape: Shape, kind: ErrorKind, needles: &[&str]) {
    for isa in isas() {
        let e = err_of(what, Plan::new(params, shape, isa));
        check_err(&format!("{what} on {isa}"), &e, kind, needles);
    }
}

fn plan_ok(what: &str, params: &PoolParams, shape: Shape) -> Plan {
    Plan::new(params, shape, Isa::Reference).unwrap_or_else(|e| panic!("{what}: {e}"))
}

fn k2() -> Window {
    Window::new([2, 2])
}

#[test]
fn zero_kernel_stride_dilation() {
    let shape = Shape::nhwc(1, 4, 4, 2);
    plan_err(
        "kernel",
        &PoolParams::max(Window::new([0, 3])),
        shape,
        ErrorKind::InvalidParameter,
        &["kernel[0]", "(H)", "= 0"],
    );
    plan_err(
        "kernel W",
        &PoolParams::avg(Window::new([3, 0]), Divisor::ExcludePad),
        shape,
        ErrorKind::InvalidParameter,
        &["kernel[1]", "(W)", "= 0"],
    );
    plan_err(
        "stride",
        &PoolParams::max(k2().stride([2, 0])),
        shape,
        ErrorKind::InvalidParameter,
        &["stride[1]", "(W)", "= 0"],
    );
    plan_err(
        "dilation",
        &PoolParams::lp(k2().dilation([0, 1]), 2.0),
        shape,
        ErrorKind::InvalidParameter,
        &["dilation[0]", "(H)", "= 0"],
    );
    plan_err(
        "1-D stride",
        &PoolParams::stochastic_inference(Window::new([2]).stride([0])),
        Shape::new(1, [4], 2),
        ErrorKind::InvalidParameter,
        &["stride[0]", "(W)", "= 0"],
    );
}

#[test]
fn padding_not_below_effective_kernel() {
    let shape = Shape::nhwc(1, 6, 6, 2);
    // k 3: ke 3; pad 3 at the begin of H is too large.
    plan_err(
        "begin",
        &PoolParams::max(Window::new([3, 3]).padding(Padding::explicit([3, 0], [0, 0]))),
        shape,
        ErrorKind::InvalidParameter,
        &["padding begin[0]", "(H)", "= 3", "effective kernel 3"],
    );
    // k 2: ke 2; pad 2 at the end of W.
    plan_err(
        "end",
        &PoolParams::avg(
            k2().padding(Padding::explicit([0, 0], [0, 2])),
            Divisor::IncludePad,
        ),
        shape,
        ErrorKind::InvalidParameter,
        &["padding end[1]", "(W)", "= 2", "effective kernel 2"],
    );
    // With dilation 2, k 2 has ke 3: pad 2 is fine, pad 3 is not.
    let dil = k2().dilation([2, 2]);
    plan_ok(
        "pad 2 < ke 3",
        &PoolParams::max(dil.padding(Padding::symmetric([2, 2]))),
        shape,
    );
    plan_err(
        "dilated end",
        &PoolParams::max(dil.padding(Padding::explicit([0, 0], [3, 0]))),
        shape,
        ErrorKind::InvalidParameter,
        &["padding end[0]", "= 3", "effective kernel 3"],
    );
}

#[test]
fn window_wholly_in_padding() {
    // W: in 1, k 2, d 3 (ke 4), pad 2/1: total 4 = ke, one output whose taps -2 and 1 both
    // lie outside [0, 1).
    let shape = Shape::nhwc(1, 1, 1, 3);
    let win = Window::new([1, 2])
        .dilation([1, 3])
        .padding(Padding::explicit([0, 2], [0, 1]));
    for params in [
        PoolParams::max(win),
        PoolParams::avg(win, Divisor::IncludePad),
        PoolParams::lp(win, 2.0),
        PoolParams::stochastic_train(win, 1),
    ] {
        plan_err(
            "explicit",
            &params,
            shape,
            ErrorKind::InvalidGeometry,
            &["axis W", "output 0", "-2", "wholly in padding"],
        );
    }
    // Same padding with dilation: in 1, k 2, d 3, s 1: out 1, total 0*1 + 4 - 1 = 3.
    // SameUpper pads 1/2: taps -1, 2; SameLower pads 2/1: taps -2, 1. Both wholly padding.
    for (p, start) in [(Padding::SameUpper, "-1"), (Padding::SameLower, "-2")] {
        plan_err(
            &format!("{p:?}"),
            &PoolParams::max(Window::new([1, 2]).dilation([1, 3]).padding(p)),
            shape,
            ErrorKind::InvalidGeometry,
            &["axis W", start, "wholly in padding"],
        );
    }
    // SPEC's example with pad_end 0: in 1 + 2 + 0 < ke 4, an empty output.
    plan_err(
        "pad 2/0",
        &PoolParams::max(
            Window::new([1, 2])
                .dilation([1, 3])
                .padding(Padding::explicit([0, 2], [0, 0])),
        ),
        shape,
        ErrorKind::InvalidGeometry,
        &["axis W", "input 1", "effective kernel 4"],
    );
}

#[test]
fn ceil_mode_with_same_padding() {
    let shape = Shape::nhwc(1, 5, 5, 1);
    for (p, name) in [
        (Padding::SameUpper, "SameUpper"),
        (Padding::SameLower, "SameLower"),
    ] {
        plan_err(
            name,
            &PoolParams::max(k2().stride([2, 2]).padding(p).ceil_mode(true)),
            shape,
            ErrorKind::InvalidParameter,
            &["ceil_mode", "true", name],
        );
    }
    // With Valid it is accepted (as explicit zero padding): W (5-2)/2 ceil -> 2 + 1 = 3.
    let plan = plan_ok(
        "valid ceil",
        &PoolParams::max(k2().stride([2, 2]).padding(Padding::Valid).ceil_mode(true)),
        shape,
    );
    assert_eq!(plan.output_shape(), Shape::nhwc(1, 3, 3, 1));
}

#[test]
fn zero_divisor_override() {
    plan_err(
        "override 0",
        &PoolParams::avg(k2(), Divisor::Override(0)),
        Shape::nhwc(1, 4, 4, 1),
        ErrorKind::InvalidParameter,
        &["divisor_override", "= 0"],
    );
    plan_ok(
        "override 1",
        &PoolParams::avg(k2(), Divisor::Override(1)),
        Shape::nhwc(1, 4, 4, 1),
    );
}

#[test]
fn empty_output() {
    // W: in 2 < k 3 without padding.
    plan_err(
        "k > in",
        &PoolParams::max(Window::new([1, 3])),
        Shape::nhwc(1, 4, 2, 1),
        ErrorKind::InvalidGeometry,
        &["axis W", "input 2", "effective kernel 3", "empty output"],
    );
    // Dilation makes it too large: H in 4, k 2, d 4 -> ke 5.
    plan_err(
        "dilated",
        &PoolParams::avg(k2().dilation([4, 1]), Divisor::ExcludePad),
        Shape::nhwc(1, 4, 4, 1),
        ErrorKind::InvalidGeometry,
        &["axis H", "input 4", "effective kernel 5"],
    );
    // A zero spatial input size.
    plan_err(
        "H = 0",
        &PoolParams::max(k2()),
        Shape::nhwc(1, 0, 4, 1),
        ErrorKind::InvalidGeometry,
        &["H = 0"],
    );
    plan_err(
        "global W = 0",
        &PoolParams::global_avg(),
        Shape::nhwc(2, 3, 0, 1),
        ErrorKind::InvalidGeometry,
        &["W = 0"],
    );
}

#[test]
fn run_with_mismatched_shapes_writes_nothing() {
    let shape = Shape::nhwc(1, 4, 4, 2);
    let x = vec![1.0f32; 64];
    for isa in isas() {
        for params in [
            PoolParams::max(k2().stride([2, 2])),
            PoolParams::avg(k2().stride([2, 2]), Divisor::ExcludePad),
            PoolParams::stochastic_train(k2().stride([2, 2]), 3),
            PoolParams::global_max(),
        ] {
            let plan = Plan::new(&params, shape, isa).unwrap();
            let out_shape = plan.output_shape();
            let out_len = out_shape.num_elements().unwrap();
            // Input of another shape (3 channels instead of 2).
            let wrong_in = Shape::nhwc(1, 4, 4, 3);
            let xin = vec![1.0f32; 48];
            let mut buf = vec![SENTINEL; out_len];
            let e = err_of(
                "input shape",
                plan.run(
                    TensorView::new(&xin, wrong_in).unwrap(),
                    TensorViewMut::new(&mut buf, out_shape).unwrap(),
                ),
            );
            check_err(
                "input shape",
                &e,
                ErrorKind::InvalidShape,
                &["input shape", "1x4x4x3", "1x4x4x2"],
            );
            assert!(buf.iter().all(|&v| v == SENTINEL), "{isa}: output written");
            // Output of another shape (one more row); the buffer is large enough.
            let wrong_out = Shape::new(1, out_shape.spatial(), 2 + 1);
            let mut buf = vec![SENTINEL; 256];
            let e = err_of(
                "output shape",
                plan.run(
                    TensorView::new(&x, shape).unwrap(),
                    TensorViewMut::new(&mut buf, wrong_out).unwrap(),
                ),
            );
            check_err(
                "output shape",
                &e,
                ErrorKind::InvalidShape,
                &[
                    "output shape",
                    &wrong_out.to_string(),
                    &out_shape.to_string(),
                ],
            );
            assert!(buf.iter().all(|&v| v == SENTINEL), "{isa}: output written");
        }
    }
}

#[test]
fn run_with_seed_on_a_non_stochastic_plan_writes_nothing() {
    let shape = Shape::nhwc(1, 4, 4, 2);
    let x = vec![1.0f32; 32];
    for isa in isas() {
        for params in [
            PoolParams::max(k2()),
            PoolParams::avg(k2(), Divisor::IncludePad),
            PoolParams::lp(k2(), 3.0),
            PoolParams::stochastic_inference(k2()),
            PoolParams::global_avg(),
        ] {
            let plan = Plan::new(&params, shape, isa).unwrap();
            let out_shape = plan.output_shape();
            let mut buf = vec![SENTINEL; out_shape.num_elements().unwrap()];
            let e = err_of(
                "seed",
                plan.run_with_seed(
                    TensorView::new(&x, shape).unwrap(),
                    TensorViewMut::new(&mut buf, out_shape).unwrap(),
                    7,
                ),
            );
            check_err(
                "seed",
                &e,
                ErrorKind::InvalidParameter,
                &["seed = 7", "stochastic"],
            );
            assert!(buf.iter().all(|&v| v == SENTINEL), "{isa}: output written");
        }
    }
    // A stochastic training plan takes it.
    let plan = Plan::new(
        &PoolParams::stochastic_train(k2(), 1),
        shape,
        Isa::Reference,
    )
    .unwrap();
    let mut y = Tensor::zeros(plan.output_shape()).unwrap();
    plan.run_with_seed(TensorView::new(&x, shape).unwrap(), y.view_mut(), 7)
        .unwrap();
    assert!(y.as_slice().iter().all(|&v| v == 1.0));
}

#[test]
fn buffer_shorter_than_shape_and_strides() {
    let shape = Shape::nhwc(1, 4, 4, 2); // dense: 32 elements
    let short = vec![0.0f32; 31];
    let e = err_of("new", TensorView::new(&short, shape));
    check_err(
        "new",
        &e,
        ErrorKind::BufferTooSmall,
        &["input buffer", "31 elements", "1x4x4x2", "needs 32"],
    );
    let mut short_mut = vec![SENTINEL; 31];
    let e = err_of("new mut", TensorViewMut::new(&mut short_mut, shape));
    check_err(
        "new mut",
        &e,
        ErrorKind::BufferTooSmall,
        &["output buffer", "31 elements", "needs 32"],
    );
    // Strides (batch 100, row 12, pixel 3): the last element is at 3*12 + 3*3 + 1, so 47
    // elements are needed (N = 1: the batch stride is never used).
    let strides = Strides::nhwc(100, 12, 3);
    let buf = vec![0.0f32; 47];
    assert!(TensorView::with_strides(&buf, shape, strides).is_ok());
    let e = err_of(
        "with_strides",
        TensorView::with_strides(&buf[..46], shape, strides),
    );
    check_err(
        "with_strides",
        &e,
        ErrorKind::BufferTooSmall,
        &["46 elements", "batch 100", "12,3", "needs 47"],
    );
    let mut buf = vec![SENTINEL; 46];
    let e = err_of(
        "with_strides mut",
        TensorViewMut::with_strides(&mut buf, shape, strides),
    );
    check_err(
        "with_strides mut",
        &e,
        ErrorKind::BufferTooSmall,
        &["output buffer", "46 elements", "needs 47"],
    );
    // A channel slice at the end of a wider tensor fits exactly: channels 5..8 of 1x2x2x8.
    let wide = [0.0f32; 32];
    let v = TensorView::with_strides(
        &wide[5..],
        Shape::nhwc(1, 2, 2, 3),
        Strides::nhwc(32, 16, 8),
    );
    assert!(v.is_ok());
}

#[test]
fn strides_smaller_than_dense() {
    let buf = vec![0.0f32; 1000];
    let shape = Shape::nhwc(2, 2, 2, 3); // dense: pixel 3, row 6, batch 12
    for (strides, needles) in [
        (
            Strides::nhwc(12, 6, 2),
            &["pixel stride = 2", "C = 3"] as &[&str],
        ),
        (
            Strides::nhwc(12, 5, 3),
            &["row stride = 5", "2 x pixel stride = 6"],
        ),
        (
            Strides::nhwc(11, 6, 3),
            &["batch stride = 11", "2 x row stride = 12"],
        ),
    ] {
        let e = err_of("input", TensorView::with_strides(&buf, shape, strides));
        check_err("input", &e, ErrorKind::InvalidShape, needles);
        let mut out = vec![SENTINEL; 1000];
        let e = err_of(
            "output",
            TensorViewMut::with_strides(&mut out, shape, strides),
        );
        check_err("output", &e, ErrorKind::InvalidShape, needles);
    }
    // Dense and larger strides are fine.
    assert!(TensorView::with_strides(&buf, shape, Strides::nhwc(12, 6, 3)).is_ok());
    assert!(TensorView::with_strides(&buf, shape, Strides::nhwc(40, 20, 9)).is_ok());
    // A dimension of size 1 accepts any stride (it is never used), including 0 and huge ones.
    let one = Shape::nhwc(1, 1, 1, 3);
    for s in [
        Strides::nhwc(0, 0, 0),
        Strides::nhwc(usize::MAX, usize::MAX, usize::MAX),
    ] {
        assert!(TensorView::with_strides(&buf[..3], one, s).is_ok(), "{s:?}");
    }
    // ...and it does not set the minimum of the axis outside it: with W = 1 the row stride
    // must still be at least C (rows must not overlap), whatever the unused pixel stride.
    let col = Shape::nhwc(1, 3, 1, 4);
    let e = err_of(
        "W = 1, row 0",
        TensorView::with_strides(&buf, col, Strides::nhwc(0, 0, 0)),
    );
    check_err(
        "W = 1, row 0",
        &e,
        ErrorKind::InvalidShape,
        &["row stride = 0", "C = 4"],
    );
    assert!(TensorView::with_strides(&buf, col, Strides::nhwc(0, 4, 100)).is_ok());
    // A plan runs on such views: global max of a 1x1x1x3 view with zero strides.
    let plan = plan_ok("global", &PoolParams::global_max(), one);
    let x = [1.0f32, -2.0, 3.0];
    let mut y = [SENTINEL; 3];
    plan.run(
        TensorView::with_strides(&x, one, Strides::nhwc(0, 0, 0)).unwrap(),
        TensorViewMut::with_strides(&mut y, one, Strides::nhwc(0, 0, 0)).unwrap(),
    )
    .unwrap();
    assert_eq!(y, x);
    // Strides of another rank than the shape.
    let e = err_of(
        "rank",
        TensorView::with_strides(
            &buf,
            shape,
            Strides {
                batch: 12,
                spatial: [3].into(),
            },
        ),
    );
    check_err(
        "rank",
        &e,
        ErrorKind::InvalidShape,
        &["1 spatial axes", "2x2x2x3", "has 2"],
    );
}

#[test]
fn sizes_that_overflow() {
    let m = usize::MAX;
    let huge = Shape::nhwc(m, 2, 2, 2);
    let shown = huge.to_string();
    // Element count.
    let e = err_of("zeros", Tensor::<f32>::zeros(huge));
    check_err("zeros", &e, ErrorKind::Overflow, &[&shown, "overflow"]);
    // Dense strides never multiply in the batch count, but the batch stride itself
    // (H * W * C) can overflow.
    let tall = Shape::nhwc(1, m / 2, 4, 2);
    let e = err_of("dense", Strides::dense(&tall));
    check_err("dense", &e, ErrorKind::Overflow, &[&tall.to_string()]);
    assert!(Strides::dense(&huge).is_ok());
    let e = err_of("view", TensorView::<f32>::new(&[], huge));
    check_err("view", &e, ErrorKind::Overflow, &[&shown]);
    plan_err(
        "plan",
        &PoolParams::max(k2()),
        huge,
        ErrorKind::Overflow,
        &["input shape", &shown, "overflows"],
    );
    plan_err(
        "global plan",
        &PoolParams::global_avg(),
        Shape::nhwc(1, m / 2, 3, 1),
        ErrorKind::Overflow,
        &["input shape", "overflows"],
    );
    // Element count fits but the bytes do not (2^62 elements of 4 bytes), or cannot be
    // allocated: an error, not an abort.
    let e = err_of(
        "bytes",
        Tensor::<f32>::zeros(Shape::nhwc(1, 1 << 31, 1 << 31, 1)),
    );
    check_err(
        "bytes",
        &e,
        ErrorKind::Overflow,
        &["1x2147483648x2147483648x1"],
    );
    // Byte offset of the last element through strides.
    let shape = Shape::nhwc(3, 2, 2, 1);
    for s in [
        Strides::nhwc(m / 2, 2, 1),
        Strides::nhwc(8, m / 2 + 1, 1),
        Strides::nhwc(m, m, m),
    ] {
        let e = err_of("strides", TensorView::with_strides(&[0.0f32; 16], shape, s));
        check_err(
            &format!("strides {s:?}"),
            &e,
            ErrorKind::Overflow,
            &["3x2x2x1", "overflows"],
        );
    }
    // Kernel and dilation whose effective extent overflows.
    plan_err(
        "ke",
        &PoolParams::max(Window::new([2, m])),
        Shape::nhwc(1, 4, 4, 1),
        ErrorKind::Overflow,
        &["kernel[1]", &m.to_string()],
    );
    plan_err(
        "dilation",
        &PoolParams::max(k2().dilation([m, 1])),
        Shape::nhwc(1, 4, 4, 1),
        ErrorKind::Overflow,
        &["kernel[0]", "dilation", &m.to_string()],
    );
    // Stochastic training counters are u32: 2^32 + 1 channels cannot be addressed.
    if usize::BITS == 64 {
        let c = (1usize << 32) + 1;
        plan_err(
            "counter",
            &PoolParams::stochastic_train(Window::new([1, 1]), 0),
            Shape::nhwc(1, 1, 1, c),
            ErrorKind::Overflow,
            &["channels", &c.to_string(), "u32"],
        );
    }
}

#[test]
fn invalid_p() {
    let shape = Shape::nhwc(1, 4, 4, 1);
    for (p, shown) in [
        (0.0, "p = 0"),
        (-0.0, "p = -0"),
        (-1.0, "p = -1"),
        (f64::NAN, "p = NaN"),
        (f64::NEG_INFINITY, "p = -inf"),
    ] {
        plan_err(
            shown,
            &PoolParams::lp(k2(), p),
            shape,
            ErrorKind::InvalidParameter,
            &[shown],
        );
        plan_err(
            shown,
            &PoolParams::global_lp(p),
            shape,
            ErrorKind::InvalidParameter,
            &[shown],
        );
    }
    for p in [1e-3, 0.5, 1.0, 2.0, 64.0, f64::INFINITY] {
        plan_ok("p", &PoolParams::lp(k2(), p), shape);
    }
}

#[test]
fn invalid_clamp() {
    let shape = Shape::nhwc(1, 4, 4, 1);
    for (lo, hi, shown) in [
        (2.0, 1.0, "(2, 1)"),
        (f32::NAN, 1.0, "(NaN, 1)"),
        (0.0, f32::NAN, "(0, NaN)"),
        (f32::INFINITY, f32::NEG_INFINITY, "(inf, -inf)"),
    ] {
        for params in [
            PoolParams::max(k2()),
            PoolParams::avg(k2(), Divisor::ExcludePad),
            PoolParams::global_max(),
        ] {
            plan_err(
                shown,
                &params.clamp(lo, hi),
                shape,
                ErrorKind::InvalidParameter,
                &["clamp", shown],
            );
        }
    }
    for (lo, hi) in [
        (1.0, 1.0),
        (f32::NEG_INFINITY, f32::INFINITY),
        (0.0, 6.0),
        (-0.0, 0.0),
    ] {
        plan_ok("clamp", &PoolParams::max(k2()).clamp(lo, hi), shape);
    }
}

#[test]
fn forced_tiers() {
    let shape = Shape::nhwc(1, 4, 4, 8);
    let params = PoolParams::max(k2());
    for t in Tier::ALL {
        let r = Plan::new(&params, shape, Isa::Tier(t));
        if t.is_available() {
            let plan = r.unwrap_or_else(|e| panic!("{t} is available: {e}"));
            assert_eq!(plan.tier(), Some(t), "max has a kernel on every tier");
            assert!(available_tiers().contains(&t));
        } else {
            let e = err_of("unavailable tier", r);
            check_err(
                &format!("{t}"),
                &e,
                ErrorKind::IsaUnavailable,
                &["isa", t.name()],
            );
            // Forcing one of its kernels by name fails the same way.
            if let Some(k) = registry().iter().find(|k| k.tier == t && k.op == "max") {
                let e = err_of("with_kernel", Plan::with_kernel(&params, shape, k.name));
                check_err("with_kernel", &e, ErrorKind::IsaUnavailable, &[k.name]);
            }
        }
    }
    assert_eq!(available_tiers().first(), Some(&Tier::Baseline));
    assert_eq!(available_tiers().last(), Some(&best_tier()));
    // Unknown kernel names are parameter errors naming the kernel.
    let e = err_of(
        "kernel",
        Plan::with_kernel(&params, shape, "max_f32_nope__baseline"),
    );
    check_err(
        "kernel",
        &e,
        ErrorKind::InvalidParameter,
        &["kernel = max_f32_nope__baseline"],
    );
    // Bad ISA names parse to an error naming the value.
    let e = err_of("parse", "sse9".parse::<Isa>());
    check_err("parse", &e, ErrorKind::InvalidParameter, &["isa", "sse9"]);
}

#[test]
fn simdpool_isa_environment_variable() {
    /// Restores the variable as it was, even if an assertion fails.
    struct Restore(Option<std::ffi::OsString>);
    impl Drop for Restore {
        fn drop(&mut self) {
            // SAFETY: this is the only test in this binary that sets or reads SIMDPOOL_ISA
            // (every other test plans with an explicit ISA, never `Isa::Best`), and nothing
            // else in this process calls the C library's getenv concurrently with it.
            unsafe {
                match &self.0 {
                    Some(v) => std::env::set_var(ISA_ENV, v),
                    None => std::env::remove_var(ISA_ENV),
                }
            }
        }
    }
    let _restore = Restore(std::env::var_os(ISA_ENV));
    let set = |v: &str| {
        // SAFETY: as above: no other test in this binary touches the environment.
        unsafe { std::env::set_var(ISA_ENV, v) }
    };
    let shape = Shape::nhwc(1, 4, 4, 8);
    let max = PoolParams::max(k2());

    set("bogus");
    let e = err_of("bogus", Plan::new(&max, shape, Isa::Best));
    check_err(
        "bogus",
        &e,
        ErrorKind::InvalidEnvironment,
        &["SIMDPOOL_ISA", "bogus"],
    );
    // Only Best reads it: explicit choices are unaffected.
    assert!(Plan::new(&max, shape, Isa::Reference).is_ok());
    assert!(Plan::new(&max, shape, Isa::Tier(Tier::Baseline)).is_ok());

    set("avx2");
    let plan = Plan::new(&max, shape, Isa::Best).unwrap();
    assert_eq!(plan.tier(), Some(Tier::Avx2.min(best_tier())));

    set("baseline");
    let plan = Plan::new(&max, shape, Isa::Best).unwrap();
    assert_eq!(plan.tier(), Some(Tier::Baseline));

    set("reference");
    let plan = Plan::new(&max, shape, Isa::Best).unwrap();
    assert_eq!(plan.tier(), None);
    assert!(plan.kernel_name().ends_with("__reference"));
    assert!(!plan.is_reference_fallback());

    for v in ["best", "avx512", ""] {
        set(v);
        let plan = Plan::new(&max, shape, Isa::Best).unwrap();
        assert_eq!(plan.tier(), Some(best_tier()), "SIMDPOOL_ISA={v:?}");
    }

    // SAFETY: as above.
    unsafe { std::env::remove_var(ISA_ENV) };
    let plan = Plan::new(&max, shape, Isa::Best).unwrap();
    assert_eq!(plan.tier(), Some(best_tier()));
}

#[test]
fn from_bytes_alignment_and_length() {
    // A byte buffer with a 4-aligned base at `base`.
    let mut raw = [0u8; 80];
    let base = raw.as_ptr().align_offset(4);
    assert!(base < 4);
    let shape = Shape::nhwc(1, 2, 2, 2); // 8 elements, 32 bytes
    assert!(TensorView::from_bytes(&raw[base..base + 32], shape).is_ok());
    // Offset by one byte: misaligned for f32.
    let e = err_of(
        "misaligned",
        TensorView::from_bytes(&raw[base + 1..base + 33], shape),
    );
    check_err(
        "misaligned",
        &e,
        ErrorKind::Misaligned,
        &["input", "aligned", "4 bytes", "f32"],
    );
    let e = err_of(
        "misaligned mut",
        TensorViewMut::from_bytes(&mut raw[base + 1..base + 33], shape),
    );
    check_err(
        "misaligned mut",
        &e,
        ErrorKind::Misaligned,
        &["output", "4 bytes"],
    );
    // Aligned, but not a whole number of f32.
    let e = err_of(
        "length",
        TensorView::from_bytes(&raw[base..base + 31], shape),
    );
    check_err(
        "length",
        &e,
        ErrorKind::InvalidShape,
        &["byte length = 31", "multiple of 4"],
    );
    let e = err_of(
        "length mut",
        TensorViewMut::from_bytes(&mut raw[base..base + 30], shape),
    );
    check_err(
        "length mut",
        &e,
        ErrorKind::InvalidShape,
        &["byte length = 30"],
    );
    // Aligned and whole but too short for the shape.
    let e = err_of(
        "short",
        TensorView::from_bytes(&raw[base..base + 28], shape),
    );
    check_err(
        "short",
        &e,
        ErrorKind::BufferTooSmall,
        &["7 elements", "needs 8"],
    );
    // The output of a failed run over bytes is untouched.
    let plan = plan_ok("max", &PoolParams::max(k2()), Shape::nhwc(1, 2, 2, 3));
    let mut out = [0xabu8; 48];
    let ob = out.as_ptr().align_offset(4);
    let x = [1.0f32; 8];
    let e = err_of(
        "bytes run",
        plan.run(
            TensorView::new(&x, shape).unwrap(),
            TensorViewMut::from_bytes(&mut out[ob..ob + 8], Shape::nhwc(1, 1, 1, 2)).unwrap(),
        ),
    );
    check_err("bytes run", &e, ErrorKind::InvalidShape, &["input shape"]);
    assert!(out.iter().all(|&b| b == 0xab));
}

#[test]
fn three_d_is_unsupported() {
    let shape = Shape::new(1, [2, 2, 2], 1);
    for params in [
        PoolParams::max(Window::new([2, 2, 2])),
        PoolParams::avg(Window::new([1, 2, 2]), Divisor::ExcludePad),
        PoolParams::global_max(),
    ] {
        plan_err(
            "3-D",
            &params,
            shape,
            ErrorKind::Unsupported,
            &["1x2x2x2x1", "3-D"],
        );
    }
}

#[test]
fn rank_mismatch_between_window_and_input() {
    let one_d = Shape::new(1, [6], 2);
    let two_d = Shape::nhwc(1, 6, 6, 2);
    plan_err(
        "kernel",
        &PoolParams::max(Window::new([2, 2])),
        one_d,
        ErrorKind::InvalidParameter,
        &["kernel = [2,2]", "2 axes", "1 spatial"],
    );
    plan_err(
        "kernel 1-D on 2-D",
        &PoolParams::max(Window::new([2])),
        two_d,
        ErrorKind::InvalidParameter,
        &["kernel = [2]", "1 axes", "2 spatial"],
    );
    plan_err(
        "stride",
        &PoolParams::max(Window::new([2]).stride([1, 1])),
        one_d,
        ErrorKind::InvalidParameter,
        &["stride = [1,1]"],
    );
    plan_err(
        "dilation",
        &PoolParams::max(Window::new([2, 2]).dilation([1])),
        two_d,
        ErrorKind::InvalidParameter,
        &["dilation = [1]"],
    );
    plan_err(
        "padding",
        &PoolParams::max(Window::new([2, 2]).padding(Padding::symmetric([1]))),
        two_d,
        ErrorKind::InvalidParameter,
        &["padding begin = [1]"],
    );
    plan_err(
        "padding end",
        &PoolParams::max(Window::new([2, 2]).padding(Padding::explicit([1, 1], [1]))),
        two_d,
        ErrorKind::InvalidParameter,
        &["padding end = [1]"],
    );
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[test]
fn extreme_inputs_never_panic_and_match_the_reference() {
    const SPECIALS: [f32; 14] = [
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::MAX,
        -f32::MAX,
        f32::MIN_POSITIVE,
        f32::MIN_POSITIVE / 2.0, // subnormal
        -1e-45,                  // smallest subnormal
        1e-45,
        0.0,
        -0.0,
        1e30,
        -3e38,
        1.5,
    ];
    let windows = [
        k2().stride([2, 2]),
        Window::new([3, 3])
            .stride([2, 2])
            .padding(Padding::symmetric([1, 1]))
            .ceil_mode(true),
        Window::new([2, 3])
            .dilation([2, 1])
            .padding(Padding::explicit([1, 0], [0, 2])),
    ];
    let mut ops = Vec::new();
    for w in windows {
        ops.push(PoolParams::max(w));
        ops.push(PoolParams::max(w).clamp(0.0, 6.0));
        ops.push(PoolParams::avg(w, Divisor::ExcludePad));
        ops.push(PoolParams::avg(w, Divisor::IncludePad));
        ops.push(PoolParams::avg(w, Divisor::Override(3)));
        for p in [1.0, 2.0, 3.0, 0.5, 64.0, f64::INFINITY] {
            ops.push(PoolParams::lp(w, p));
        }
        ops.push(PoolParams::stochastic_train(w, 11));
        ops.push(PoolParams::stochastic_inference(w));
    }
    ops.push(PoolParams::global_max());
    ops.push(PoolParams::global_avg());
    ops.push(PoolParams::global_lp(2.0));
    ops.push(PoolParams::global_lp(0.5));
    let shape = Shape::nhwc(2, 7, 6, 21);
    let len = shape.num_elements().unwrap();
    let mut rng = Rng(0x1234_5678_9abc_def1);
    // Three inputs: mostly specials; sparse specials among ordinary values; all denormal.
    let inputs: Vec<Vec<f32>> = vec![
        (0..len)
            .map(|_| SPECIALS[(rng.next() % 14) as usize])
            .collect(),
        (0..len)
            .map(|_| {
                let r = rng.next();
                if r.is_multiple_of(9) {
                    SPECIALS[((r >> 8) % 14) as usize]
                } else {
                    ((r >> 40) as f32 / (1u64 << 24) as f32) * 8.0 - 4.0
                }
            })
            .collect(),
        (0..len)
            .map(|_| {
                f32::from_bits(
                    (rng.next() % 0x007f_ffff) as u32 | (0x8000_0000 * (rng.next() % 2) as u32),
                )
            })
            .collect(),
    ];
    for params in &ops {
        for x in &inputs {
            let input = TensorView::new(x, shape).unwrap();
            for isa in isas() {
                let plan = Plan::new(params, shape, isa).unwrap();
                let mut y = Tensor::from_fn(plan.output_shape(), |_| SENTINEL).unwrap();
                plan.run(input, y.view_mut()).unwrap();
                simdpool::check::compare(&plan, input, y.view(), 11).unwrap_or_else(|m| {
                    panic!("{params:?} on {isa}: {m}");
                });
            }
        }
    }
}

/// SPEC: a non-finite reference must be matched in kind, and an average may overflow only to
/// an infinity of the reference's sign. The vector kernels sum in f32 in tap order:
/// - `[-MAX, -MAX, +inf, 0, 0]`: f64 sum +inf -> +inf; f32 running sum -inf, then -inf + inf = NaN.
/// - `[MAX, MAX, -inf, 0, 0]`: likewise -inf expected, NaN produced.
/// - `[MAX, MAX, -MAX, -MAX, -MAX]`: f64 sum -MAX -> average -MAX / 5 = -6.8e37 (finite; an
///   overflow would be excused since sum |x| > MAX, but only to -inf); f32 running sum +inf.
#[test]
fn avg_f32_partial_sum_overflow_keeps_the_reference_sign() {
    let m = f32::MAX;
    let inf = f32::INFINITY;
    type Case = ([f32; 5], fn(f32) -> bool);
    let cases: [Case; 3] = [
        ([-m, -m, inf, 0.0, 0.0], |y| y == f32::INFINITY),
        ([m, m, -inf, 0.0, 0.0], |y| y == f32::NEG_INFINITY),
        ([m, m, -m, -m, -m], |y| {
            y == f32::NEG_INFINITY || (y - (-f32::MAX / 5.0)).abs() <= 1e-6 * (f32::MAX / 5.0)
        }),
    ];
    for (w, ok) in cases {
        for c in [1usize, 8, 64] {
            let shape = Shape::new(1, [5], c);
            let x: Vec<f32> = (0..5 * c).map(|i| w[i / c]).collect();
            for isa in isas() {
                let plan = Plan::new(
                    &PoolParams::avg(Window::new([5]), Divisor::ExcludePad),
                    shape,
                    isa,
                )
                .unwrap();
                let mut y = Tensor::zeros(plan.output_shape()).unwrap();
                plan.run(TensorView::new(&x, shape).unwrap(), y.view_mut())
                    .unwrap();
                for &v in y.as_slice() {
                    assert!(
                        ok(v),
                        "{w:?} on {isa} ({}), C = {c}: got {v}",
                        plan.kernel_name()
                    );
                }
            }
        }
    }
}

/// `params` over the dense `x` of `shape` on `isa`: the output and the kernel that ran.
fn pool(params: &PoolParams, shape: Shape, x: &[f32], isa: Isa) -> (Vec<f32>, &'static str) {
    let plan = Plan::new(params, shape, isa).unwrap();
    let mut y = Tensor::zeros(plan.output_shape()).unwrap();
    plan.run(TensorView::new(x, shape).unwrap(), y.view_mut())
        .unwrap();
    (y.as_slice().to_vec(), plan.kernel_name())
}

/// SPEC: a non-finite reference must be matched in kind. With a divisor override of 1 the
/// average is the sum: a 3x3 window holding `f32::MAX` and eight taps of `2e30` sums exactly
/// to `MAX + 1.6e31`, past the rounding threshold `MAX + 2^103` (about `1.01e31`), so the
/// reference gives `+inf`, while every f32 partial sum that adds at most three `2e30` taps to
/// `MAX` rounds back to `MAX`. The column and separable kernels leave the `2^127` bound out
/// of their result check when every scale is at most 0.5 (`SimdF32::bad_special`); a scale of
/// 1 must still catch this. 7x7 (the separable kernel): 48 taps of `2.25e29` sum to
/// `1.08e31`, past the threshold, while any 42 of them (six rows) stay below it.
/// Interior windows only ((k + 2)^2 input, no padding), channels over and under a vector.
#[test]
fn avg_f32_kernels_catch_a_sum_rounding_past_max_at_scale_1() {
    for (k, tap) in [(3usize, 2e30f32), (7, 2.25e29)] {
        let params = PoolParams::avg(Window::new([k, k]), Divisor::Override(1));
        let hw = k + 2;
        let centre = hw / 2 * hw + hw / 2;
        for c in [1usize, 20, 64] {
            let shape = Shape::nhwc(1, hw, hw, c);
            let x: Vec<f32> = (0..hw * hw * c)
                .map(|i| if i / c == centre { f32::MAX } else { tap })
                .collect();
            for isa in isas() {
                let (y, name) = pool(&params, shape, &x, isa);
                for &v in &y {
                    assert_eq!(v, f32::INFINITY, "{k}x{k} on {isa} ({name}), C = {c}");
                }
                if k == 7 && isa != Isa::Reference {
                    assert!(name.contains("s1_"), "{name}: not the separable kernel");
                }
            }
        }
    }
}

/// As above at scale 0.5 (divisor override 2), through the stride-1 column kernel's pair of
/// outputs: with columns `[MAX, 1e31, 1e31]`, `[MAX, 1e31, 1e31]`, `[1e31, 0, 0]`, `[0, 0, 0]`
/// the first window sums exactly to `2 MAX + 5e31`, half of which rounds to `+inf`, while each
/// f32 column sum rounds back to `MAX`: a kernel that scaled the columns before adding them
/// (`MAX * 0.5 + MAX * 0.5 = MAX`) would need the `2^127` bound back. The second window's
/// average is finite.
#[test]
fn avg_f32_pair_outputs_catch_a_rounding_past_max_at_scale_half() {
    let (m, t) = (f32::MAX, 1e31f32);
    let grid = [[m, m, t, 0.0], [t, t, 0.0, 0.0], [t, t, 0.0, 0.0]];
    let params = PoolParams::avg(Window::new([3, 3]), Divisor::Override(2));
    for c in [1usize, 20, 64] {
        let shape = Shape::nhwc(1, 3, 4, c);
        let x: Vec<f32> = (0..12 * c).map(|i| grid[i / c / 4][i / c % 4]).collect();
        for isa in isas() {
            let (y, name) = pool(&params, shape, &x, isa);
            let (first, second) = y.split_at(c);
            assert!(
                first.iter().all(|&v| v == f32::INFINITY),
                "on {isa} ({name}), C = {c}: {first:?}"
            );
            let want = (m as f64 + 3e31) / 2.0;
            for &v in second {
                assert!(
                    ((v as f64) - want).abs() <= 1e-6 * want,
                    "on {isa} ({name}), C = {c}: {v}"
                );
            }
        }
    }
}

/// SPEC's average bound `(K + 2) * eps * sum |x| / divisor` is relative, so a subnormal result
/// must be the correctly rounded one. `[3 * 2^-149, 0, 0, 0, 0, 0]` over 6: the exact average
/// is 0.5 * 2^-149, a tie, rounded to even: +0 (the reference). The kernels multiply the f32 sum
/// by f32(1/6) = 0.16666667 (slightly above 1/6), land just above the tie and give 2^-149.
/// Either the kernels divide (or correct the last bit), or SPEC and `check` give averages an
/// absolute floor of one subnormal ulp, as `check` does for Lp.
#[test]
fn avg_of_subnormals_is_correctly_rounded() {
    let x = [f32::from_bits(3), 0.0, 0.0, 0.0, 0.0, 0.0];
    let shape = Shape::new(1, [6], 1);
    for isa in isas() {
        let plan = Plan::new(
            &PoolParams::avg(Window::new([6]), Divisor::ExcludePad),
            shape,
            isa,
        )
        .unwrap();
        let mut y = Tensor::zeros(plan.output_shape()).unwrap();
        plan.run(TensorView::new(&x, shape).unwrap(), y.view_mut())
            .unwrap();
        assert_eq!(
            y.as_slice()[0],
            0.0,
            "{isa} ({}): 3 * 2^-149 / 6 is a tie, rounded to even: 0",
            plan.kernel_name()
        );
    }
}
