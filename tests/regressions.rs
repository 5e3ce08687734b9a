//! Regression tests for bugs found by fuzzing (`fuzz/`, issue 8), each minimized and
//! reproduced through the public API. A test here fails until its bug is fixed; the comment
//! above it says what the fuzzer found, with the exact parameters and values, and where it
//! was fixed.

use simdpool::{
    Isa, Padding, Plan, PoolParams, Shape, Tensor, Tier, Window, available_tiers, check,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// Counts the bytes of the largest single allocation (for the scratch-size test).
struct Largest;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only records sizes.
unsafe impl GlobalAlloc for Largest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Largest = Largest;

/// Runs `params` on `shape` (dense, values `x`) on every available tier and checks each output
/// against the reference with `check::compare`; returns the failures as text.
fn every_tier(params: &PoolParams, shape: Shape, x: &[f32]) -> Vec<String> {
    let input = Tensor::from_slice(shape, x).expect("input");
    let mut failures = Vec::new();
    for t in available_tiers() {
        let plan = Plan::new(params, shape, Isa::Tier(t)).expect("valid plan");
        let mut y = Tensor::zeros(plan.output_shape()).expect("output");
        plan.run(input.view(), y.view_mut()).expect("run");
        if let Err(m) = check::compare(&plan, input.view(), y.view(), 0) {
            failures.push(format!("tier {t}: {m}"));
        }
    }
    failures
}

/// Fuzzer finding (differential target, first run): Lp pooling with p = 0.5 whose exact value
/// lies just above `f32::MAX`, past the rounding threshold `f32::MAX + 2^103`, so the
/// reference (f64, rounded once) gives `+inf`; the vector kernels (`lp_f32_kany__{baseline,
/// avx2,avx512}`) give `f32::MAX` (0x7f7fffff). SPEC.md: "A non-finite reference must be
/// matched in kind". Fixed in c766bf2 (results at or above 2^127 take the exact path).
///
/// Minimized case: 1x1x2x1 input `[f32::MAX, 1.2015938e23]`, window 1x2, stride 1, no
/// padding, p = 0.5: `(sqrt(3.4028235e38) + sqrt(1.2015938e23))^2 = 3.4028235e38 * (1 +
/// 3.76e-8)`, which rounds to `+inf` in f32. (Found in a 1x15x16x1 case, window 1x5, stride
/// 2x4, SameLower padding, taps `[-0, 1.69773e-40, -3.6038327e-22, -1.2015938e23,
/// 3.4028235e38]`.)
#[test]
fn lp_real_p_result_just_above_f32_max_rounds_to_inf() {
    let params = PoolParams::lp(Window::new([1, 2]), 0.5);
    let shape = Shape::nhwc(1, 1, 2, 1);
    let failures = every_tier(&params, shape, &[f32::MAX, 1.201_593_8e23]);
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Fuzzer finding (differential target, second run): `check::compare` rejects outputs equal
/// to the reference. For stochastic inference with a `+inf` tap, its bound `(K + 2) * eps *
/// sum a^2 / S` is inf/inf = NaN (src/check.rs `within`), so `diff <= bound` is false even when
/// `got == want`. It shows when a clamp makes the output finite (the infinity shortcut in
/// `within` does not apply): found with 3x1x1x7 input, window 1x1, clamp (0, 0), a `+inf`
/// element in channel 2, output 0 = reference 0, "allowed difference NaN". The reference plan
/// failed against itself, so this was the checker, not a kernel. Fixed in c766bf2
/// (`check::compare` accepts equal values even when the bound is NaN).
///
/// Minimized case: 1x1x1x1 input `[+inf]`, window 1x1, stochastic inference, clamp (0, 6).
#[test]
fn compare_stochastic_inference_infinite_tap_with_clamp() {
    let params = PoolParams::stochastic_inference(Window::new([1, 1])).clamp(0.0, 6.0);
    let shape = Shape::nhwc(1, 1, 1, 1);
    let input = Tensor::from_slice(shape, &[f32::INFINITY]).expect("input");
    let plan = Plan::new(&params, shape, Isa::Reference).expect("plan");
    let mut y = Tensor::zeros(plan.output_shape()).expect("output");
    plan.run(input.view(), y.view_mut()).expect("run");
    assert_eq!(y.as_slice(), [6.0]);
    check::compare(&plan, input.view(), y.view(), 0)
        .unwrap_or_else(|m| panic!("the reference fails against itself: {m}"));
    let failures = every_tier(&params, shape, &[f32::INFINITY]);
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Fuzzer finding (api target): `Plan::new` visited every output position to look for
/// windows lying wholly in padding, so a valid plan with a huge axis never returned, e.g.
/// 1-D max pooling with kernel 1 on `Shape::new(1, [1 << 60], 1)` (found with
/// `1x4294967297x1`, which took over two minutes under the fuzzer). Fixed in
/// src/geometry.rs (`first_empty_window`: O(min(in, d)) instead of O(out)).
#[test]
fn plan_new_with_a_huge_valid_axis_returns_promptly() {
    let cases: Vec<(PoolParams, Shape)> = vec![
        (
            PoolParams::max(Window::new([1])),
            Shape::new(1, [1usize << 60], 1),
        ),
        (
            PoolParams::avg(
                Window::new([3, 3]).stride([1, 1]),
                simdpool::Divisor::ExcludePad,
            ),
            Shape::nhwc(1, 1 << 30, 1 << 30, 1),
        ),
        // 2^40 outputs on a 1-element input: every window's even taps hit position 0.
        (
            PoolParams::max(
                Window::new([1usize << 40])
                    .stride([2])
                    .dilation([2])
                    .padding(Padding::symmetric([(1usize << 41) - 2])),
            ),
            Shape::new(1, [1], 1),
        ),
    ];
    for (params, shape) in cases {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let r = Plan::new(&params, shape, Isa::Tier(Tier::Baseline)).map(|p| p.output_shape());
            let _ = tx.send(r);
        });
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(r) => {
                r.unwrap_or_else(|e| panic!("{shape}: {e}"));
            }
            Err(_) => panic!("Plan::new on {shape} did not return within 20 s"),
        }
    }
}

/// Fuzzer finding (api target, after the stride-1 separable kernels landed): `Plan::new`
/// sizes the separable kernels' scratch with unchecked arithmetic,
/// `scratch_len(kh, kw, ow, rows) = (rows + kh - 1) * ow * 64 + (ow + kw - 1) * 64 + ow * 64`
/// (src/kernels/separable.rs:72, called from `layout` in src/plan.rs), so a huge kernel
/// overflows: a panic "attempt to multiply with overflow" with overflow checks (tests, fuzzing),
/// and in a release build a wrapped, too small scratch that the kernel then fills with a
/// padded row of `ow + kw - 1` pixels. Found with `Shape::new(0, [8], 1)`, average
/// (include-pad), kernel `[2^61 - 1]`, stride 1, `Padding::SameUpper`, `Isa::Tier(Baseline)`;
/// N = 1 is the same (and the plan is valid: every window holds the 8 inputs).
#[test]
fn plan_new_separable_huge_kernel_scratch_does_not_overflow() {
    for n in [0, 1] {
        for params in [
            PoolParams::avg(
                Window::new([(1usize << 61) - 1]).padding(Padding::SameUpper),
                simdpool::Divisor::IncludePad,
            ),
            PoolParams::max(Window::new([(1usize << 61) - 1]).padding(Padding::SameUpper)),
        ] {
            let shape = Shape::new(n, [8], 1);
            for t in available_tiers() {
                // Ok or an error; a panic fails the test.
                if let Ok(plan) = Plan::new(&params, shape, Isa::Tier(t))
                    && n == 1
                {
                    let x = Tensor::from_slice(shape, &[1.0; 8]).expect("input");
                    let mut y = Tensor::zeros(plan.output_shape()).expect("output");
                    plan.run(x.view(), y.view_mut()).expect("run");
                    check::compare(&plan, x.view(), y.view(), 0).unwrap_or_else(|m| panic!("{m}"));
                }
            }
        }
    }
}

/// The same scratch without overflow but far too large: kernel `[2^36]` on 8 inputs
/// (SameUpper, stride 1, a valid plan whose output is 8 values) makes `Plan::new` allocate
/// `(8 + 2^36 - 1) * 64` floats (16 TiB) with `vec![0.0; len]`, and the allocation failure
/// aborts the process: not an error value. Fixed: the separable family declines plans whose
/// scratch would exceed 16 MiB (src/kernels/separable.rs `MAX_SCRATCH`), and the generic
/// kernel and the reference visit only in-input taps.
#[test]
fn plan_new_separable_large_kernel_scratch_allocation() {
    let params = PoolParams::max(Window::new([1usize << 36]).padding(Padding::SameUpper));
    let shape = Shape::new(1, [8], 1);
    for t in available_tiers() {
        if let Ok(plan) = Plan::new(&params, shape, Isa::Tier(t)) {
            let x = Tensor::from_slice(shape, &[1.0; 8]).expect("input");
            let mut y = Tensor::zeros(plan.output_shape()).expect("output");
            plan.run(x.view(), y.view_mut()).expect("run");
            assert_eq!(y.as_slice(), [1.0; 8]);
        }
    }
}

/// Fuzzer finding (api target, out-of-memory): the separable scratch is sized for 64-channel
/// blocks of whole output rows, `(rows + kh - 1) * ow * 64 + (ow + kw - 1) * 64 + ow * 64`
/// floats, and allocated by `Plan::new`, whatever C is. For 1-D pooling a row is the whole
/// tensor: `Shape::new(1, [4194304], 4)` (a 64 MiB input), max, kernel `[5]`, stride 1,
/// `Padding::SameLower`, `Isa::Best` made `Plan::new` allocate 3 GiB (calloc of 3221226496
/// bytes, libFuzzer's malloc limit). Here 1x1048576x4 (16 MiB): the plan should need no more
/// than a few times its input (this asks for at most 4x), it asked for about 800 MiB.
#[test]
fn plan_new_separable_scratch_is_bounded_by_the_problem() {
    let shape = Shape::new(1, [1usize << 20], 4);
    let input_bytes = (1usize << 20) * 4 * 4;
    let params = PoolParams::max(Window::new([5]).padding(Padding::SameLower));
    for t in available_tiers() {
        LARGEST.store(0, Ordering::Relaxed);
        let plan = Plan::new(&params, shape, Isa::Tier(t)).expect("plan");
        let largest = LARGEST.load(Ordering::Relaxed);
        assert!(
            largest <= 4 * input_bytes,
            "{}: Plan::new made an allocation of {largest} bytes for a {input_bytes}-byte input",
            plan.kernel_name()
        );
    }
}

/// Fuzzer finding (api target): a valid plan with kernel 1 and a huge dilation (the dilation
/// is then never used: effective kernel 1) panics in `Plan::run` with "attempt to multiply
/// with overflow" at src/kernels/generic.rs:291 (`step_h: job.h.d * job.in_row`; the same
/// product for W), when overflow checks are on (debug builds, `cargo test`, fuzzing). Found
/// with 1x1x3x1 input, average with divisor override `usize::MAX`, kernel `[1, 1]`, stride and
/// dilation `[usize::MAX, usize::MAX]`, ceil mode, clamp `(inf, inf)`, `Isa::Tier(Baseline)`.
/// Minimized: max or average, kernel `[1, 1]`, dilation `[usize::MAX, usize::MAX]`, input
/// 1x2x3x1, every tier.
#[test]
fn one_tap_window_with_huge_dilation_runs() {
    let shape = Shape::nhwc(1, 2, 3, 1);
    let w = Window::new([1, 1]).dilation([usize::MAX, usize::MAX]);
    for params in [
        PoolParams::max(w),
        PoolParams::avg(w, simdpool::Divisor::ExcludePad),
        PoolParams::lp(w, 2.0),
        PoolParams::stochastic_inference(w),
    ] {
        let failures = every_tier(&params, shape, &[1.0, -2.0, 3.0, 4.0, -5.0, 6.0]);
        assert!(failures.is_empty(), "{failures:#?}");
    }
}

/// The same product with an unused stride (api target): along an axis of size 1 a view's
/// stride is never used, so any value is valid (SPEC.md "Tensors"), but the generic kernels
/// still compute `dilation * row stride`. Found with a 1x1x1x1 input, max, kernel `[1, 5]`,
/// stride `[2, 6]`, dilation `[52, 6]`, SameUpper, `Isa::Best` and a huge input row stride.
/// Minimized: 1x1x3x1 input with row stride `usize::MAX`, max, kernel `[1, 2]`, dilation
/// `[2, 1]`.
#[test]
fn unused_huge_stride_of_a_size_one_axis_runs() {
    let shape = Shape::nhwc(1, 1, 3, 1);
    let x = [1.0f32, -2.0, 3.0];
    let input = simdpool::TensorView::with_strides(
        &x,
        shape,
        simdpool::Strides::nhwc(usize::MAX, usize::MAX, 1),
    )
    .expect("a size-1 axis accepts any stride");
    let params = PoolParams::max(Window::new([1, 2]).dilation([2, 1]));
    for t in available_tiers() {
        let plan = Plan::new(&params, shape, Isa::Tier(t)).expect("plan");
        let mut y = Tensor::zeros(plan.output_shape()).expect("output");
        plan.run(input, y.view_mut()).expect("run");
        assert_eq!(y.as_slice(), [1.0, 3.0], "{}", plan.kernel_name());
    }
}

/// Fuzzer finding (api target, first run after 66af931; open): the rewritten stride-1 separable
/// kernels multiply an unused stride again. Along an axis of size 1 a view's stride is never
/// used, so any value is valid (SPEC.md "Tensors"), but the H pass loads input row `i` of a
/// column at `base.wrapping_add(i * row)` (src/kernels/separable.rs:156, `Column::get_in`),
/// where `i` counts from the window's first row: with padding above the input, `i` is the pad
/// (here 2) and `2 * row` overflows for a huge row stride, "attempt to multiply with overflow"
/// with overflow checks on (debug builds, `cargo test`, fuzzing). Found (crash-1fee56f8...)
/// with an 8x1x1x1 input, average (exclude-pad), kernel `[6, 1]`, stride 1, SameUpper
/// (2 rows of padding above), `Isa::Tier(Avx2)` (kernel `avg_f32_s1_sep__avx2`), and a huge
/// input row stride. Minimized: 1x1x1x1 input with row stride `usize::MAX`, average or max,
/// kernel `[6, 1]`, SameUpper: all six (avg, max) x (baseline, avx2, avx512) plans panic
/// (`kernel_name` `avg_f32_s1_blocksum__*` / `max_f32_s1_vhgw__*`). The same class as
/// `unused_huge_stride_of_a_size_one_axis_runs` (fixed in 723a025 for the generic kernels).
#[test]
fn separable_unused_huge_row_stride_of_a_size_one_axis_runs() {
    let shape = Shape::nhwc(1, 1, 1, 1);
    let x = [3.0f32];
    let input =
        simdpool::TensorView::with_strides(&x, shape, simdpool::Strides::nhwc(1, usize::MAX, 1))
            .expect("a size-1 axis accepts any stride");
    let w = Window::new([6, 1]).padding(Padding::SameUpper);
    for params in [
        PoolParams::avg(w, simdpool::Divisor::ExcludePad),
        PoolParams::max(w),
    ] {
        for t in available_tiers() {
            let plan = Plan::new(&params, shape, Isa::Tier(t)).expect("plan");
            let mut y = Tensor::zeros(plan.output_shape()).expect("output");
            plan.run(input, y.view_mut()).expect("run");
            assert_eq!(y.as_slice(), [3.0], "{}", plan.kernel_name());
        }
    }
}

/// Fuzzer finding (api target, at 66af931; open): the rewritten separable kernels compute the
/// address of the window's first input row as `ih0 * in_row` in `isize`
/// (src/kernels/separable.rs:320, `h_pass`), where `ih0 = o - pad_begin`. A huge kernel along
/// H puts `ih0` near `-2^60`, and the product overflows ("attempt to multiply with overflow"
/// with overflow checks on) even with dense strides; the scratch cap of 723a025 no longer
/// turns such plans away from the separable family. Found (crash-4c78a2a3...) with a 1x1x4x3
/// input, max, kernel `[2^61 - 1, 2]`, stride 1, SameUpper, `Isa::Best` (kernel
/// `max_f32_s1_sep__avx512`), with `SIMDPOOL_FUZZ_ALLOW=dilation-overflow`. The plan is valid:
/// every window holds the input's single row.
#[test]
fn separable_huge_kernel_over_h_first_row_offset_does_not_overflow() {
    let shape = Shape::nhwc(1, 1, 4, 3);
    let x: Vec<f32> = (0..12).map(|i| (i % 5) as f32 - 2.0).collect();
    let w = Window::new([(1usize << 61) - 1, 2]).padding(Padding::SameUpper);
    for params in [
        PoolParams::max(w),
        PoolParams::avg(w, simdpool::Divisor::ExcludePad),
    ] {
        let failures = every_tier(&params, shape, &x);
        assert!(failures.is_empty(), "{failures:#?}");
    }
}

/// Review finding (not the fuzzer's): the parallel threshold's work estimate multiplied the
/// window's tap counts in `usize` (`kh * kw`), which overflows for a valid plan whose kernel is
/// huge along both axes (every window still holds the one input pixel); with overflow checks
/// on, every `run` panicked. Now computed in f64.
#[test]
fn huge_kernel_on_both_axes_runs() {
    let shape = Shape::nhwc(1, 1, 1, 2);
    let x = [1.5f32, -2.0];
    let k = 1usize << 40;
    let w = Window::new([k, k]).padding(Padding::SameUpper);
    for params in [
        PoolParams::max(w),
        PoolParams::avg(w, simdpool::Divisor::ExcludePad),
    ] {
        for isa in
            std::iter::once(Isa::Reference).chain(available_tiers().into_iter().map(Isa::Tier))
        {
            let plan = Plan::new(&params, shape, isa).expect("plan");
            let mut y = Tensor::zeros(plan.output_shape()).expect("output");
            plan.run(Tensor::from_slice(shape, &x).unwrap().view(), y.view_mut())
                .expect("run");
            assert_eq!(y.as_slice(), x, "{}", plan.kernel_name());
        }
    }
}
