//! The stride-1 3x3 max kernel picks its walk by where the output sits relative to the input:
//! where its row-pair walk's stores would alias its loads modulo 4 KiB (strides a multiple of
//! 1 or 2 KiB and the output within a cache line of the input modulo that), it takes one row
//! at a time, the first in the pair's association (`kernels::window::alias_gap`). Both walks
//! must give the reference's result at every placement, on every tier the CPU has; the
//! average keeps its bits.

use simdpool::{
    Padding, Plan, PoolParams, Shape, Strides, Tensor, TensorView, TensorViewMut, Window,
    available_tiers,
};

/// Input values with NaN, infinities and signed zeros at a few taps.
fn value(i: usize) -> f32 {
    match i % 997 {
        13 => f32::NAN,
        101 => f32::INFINITY,
        202 => f32::NEG_INFINITY,
        303 => -0.0,
        404 => 0.0,
        _ => ((i * 7919) % 1000) as f32 * 0.01 - 5.0,
    }
}

/// SPEC: bitwise equal to the reference, NaN for NaN, either sign of a zero.
fn same(a: f32, b: f32) -> bool {
    (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits() || (a == 0.0 && b == 0.0)
}

#[test]
fn max_3x3_s1_matches_the_reference_at_every_placement_modulo_4_kib() {
    let mut checked = 0;
    // (height and width, channels, pixel stride in floats): dense 256 and 512 channels, and
    // 250 channels in 256-float pixels (a masked channel tail).
    for (hw, c, pixel) in [(6usize, 256usize, 256usize), (7, 250, 256), (5, 512, 512)] {
        let shape = Shape::nhwc(1, hw, hw, c);
        let in_strides = Strides::nhwc(hw * hw * pixel, hw * pixel, pixel);
        let x: Vec<f32> = (0..hw * hw * pixel).map(value).collect();
        let xv = TensorView::with_strides(&x, shape, in_strides).unwrap();
        for pad in [0usize, 1] {
            for clamp in [None, Some((-2.0f32, 3.0f32))] {
                let win = Window::new([3, 3]).padding(Padding::symmetric([pad, pad]));
                let mut params = PoolParams::max(win);
                if let Some((lo, hi)) = clamp {
                    params = params.clamp(lo, hi);
                }
                let reference = Plan::new(&params, shape, simdpool::Isa::Reference).unwrap();
                let out = reference.output_shape();
                let mut want = Tensor::zeros(out).unwrap();
                reference.run(xv, want.view_mut()).unwrap();
                let (oh, ow) = (out.spatial().as_slice()[0], out.spatial().as_slice()[1]);
                let out_strides = Strides::nhwc(oh * ow * pixel, ow * pixel, pixel);
                let len = oh * ow * pixel;
                let mut buf = Tensor::<f32>::zeros(Shape::nhwc(1, 1, 1, len + 1024)).unwrap();
                let x_at = x.as_ptr() as usize;
                for tier in available_tiers() {
                    let name = format!("max_f32_k3x3s1__{}", tier.name());
                    let plan = Plan::with_kernel(&params, shape, &name).unwrap();
                    // Bytes from the input to the output modulo 4 KiB: aliasing (0, 16, 2048,
                    // 4096 - 64) and not (64 on 1 KiB strides, 256, 1024 on 2 KiB ones).
                    for d in [0usize, 16, 64, 256, 1024, 2048, 4096 - 64] {
                        let buf_at = buf.as_slice().as_ptr() as usize;
                        let skip = (x_at + d).wrapping_sub(buf_at) % 4096 / 4;
                        buf.as_mut_slice().fill(7.5);
                        let slice = &mut buf.as_mut_slice()[skip..skip + len];
                        let y = TensorViewMut::with_strides(slice, out, out_strides).unwrap();
                        plan.run(xv, y).unwrap();
                        let got = &buf.as_slice()[skip..skip + len];
                        for i in 0..oh {
                            for j in 0..ow {
                                for ch in 0..pixel {
                                    let g = got[(i * ow + j) * pixel + ch];
                                    if ch >= c {
                                        assert_eq!(g, 7.5, "{name}: wrote past the channels");
                                        continue;
                                    }
                                    let w = want.view().get(0, &[i, j], ch).unwrap();
                                    assert!(
                                        same(g, w),
                                        "{name} {hw}x{hw}x{c} pad {pad} clamp {clamp:?} \
                                         output {d} B after the input mod 4 KiB: \
                                         ({i}, {j}, {ch}) = {g}, reference {w}"
                                    );
                                }
                            }
                        }
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(checked >= 3 * 2 * 2 * 7, "every tier skipped");
}

/// The average kernel keeps its sums' association whatever the walk (on avx512 the rows of a
/// pair run one at a time where stores would alias loads): the same bits at every placement,
/// within SPEC's tolerance of the reference.
#[test]
fn avg_3x3_s1_gives_the_same_bits_at_every_placement_modulo_4_kib() {
    let mut checked = 0;
    // Odd heights leave a lone row at the end; 7x7x250 in 256-float pixels has a masked tail.
    for (hw, c, pixel) in [(6usize, 256usize, 256usize), (7, 250, 256), (5, 512, 512)] {
        let shape = Shape::nhwc(1, hw, hw, c);
        let in_strides = Strides::nhwc(hw * hw * pixel, hw * pixel, pixel);
        let x: Vec<f32> = (0..hw * hw * pixel)
            .map(|i| ((i * 7919) % 1000) as f32 * 0.013 - 6.0)
            .collect();
        let xv = TensorView::with_strides(&x, shape, in_strides).unwrap();
        for pad in [0usize, 1] {
            for clamp in [None, Some((-2.0f32, 3.0f32))] {
                let win = Window::new([3, 3]).padding(Padding::symmetric([pad, pad]));
                let mut params = PoolParams::avg(win, simdpool::Divisor::ExcludePad);
                if let Some((lo, hi)) = clamp {
                    params = params.clamp(lo, hi);
                }
                for tier in available_tiers() {
                    let name = format!("avg_f32_k3x3s1__{}", tier.name());
                    let plan = Plan::with_kernel(&params, shape, &name).unwrap();
                    let out = plan.output_shape();
                    let (oh, ow) = (out.spatial().as_slice()[0], out.spatial().as_slice()[1]);
                    let out_strides = Strides::nhwc(oh * ow * pixel, ow * pixel, pixel);
                    let len = oh * ow * pixel;
                    let mut buf = Tensor::<f32>::zeros(Shape::nhwc(1, 1, 1, len + 1024)).unwrap();
                    let x_at = x.as_ptr() as usize;
                    let mut first: Option<Vec<u32>> = None;
                    for d in [256usize, 0, 16, 64, 1024, 2048, 4096 - 64] {
                        let buf_at = buf.as_slice().as_ptr() as usize;
                        let skip = (x_at + d).wrapping_sub(buf_at) % 4096 / 4;
                        buf.as_mut_slice().fill(7.5);
                        let slice = &mut buf.as_mut_slice()[skip..skip + len];
                        let y = TensorViewMut::with_strides(slice, out, out_strides).unwrap();
                        plan.run(xv, y).unwrap();
                        let got = &buf.as_slice()[skip..skip + len];
                        let yv = TensorView::with_strides(got, out, out_strides).unwrap();
                        if let Err(m) = simdpool::check::compare(&plan, xv, yv, 0) {
                            panic!("{name} {hw}x{hw}x{c} pad {pad} output {d} B on: {m:?}");
                        }
                        assert!(
                            got.chunks(pixel).all(|p| p[c..].iter().all(|&g| g == 7.5)),
                            "{name}: wrote past the channels"
                        );
                        let bits: Vec<u32> = got.iter().map(|g| g.to_bits()).collect();
                        match &first {
                            None => first = Some(bits),
                            Some(b) => assert!(
                                *b == bits,
                                "{name} {hw}x{hw}x{c} pad {pad} clamp {clamp:?}: output {d} B \
                                 after the input mod 4 KiB differs from 256 B"
                            ),
                        }
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(checked >= 3 * 2 * 2 * 7, "every tier skipped");
}
