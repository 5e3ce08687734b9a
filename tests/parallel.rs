//! Threads never change a result: every operator on every tier gives the same bits on the
//! calling thread, in rayon's global pool, and in caller-supplied pools of 1 and 3 threads.
#![cfg(feature = "rayon")]

use simdpool::{
    Divisor, Isa, Padding, Plan, PoolParams, Shape, Strides, Tensor, TensorView, TensorViewMut,
    Threads, Window,
};

fn cases() -> Vec<(PoolParams, Shape)> {
    let w3 = Window::new([3, 3])
        .stride([2, 2])
        .padding(Padding::symmetric([1, 1]));
    let w5 = Window::new([5, 3])
        .stride([1, 2])
        .dilation([2, 1])
        .padding(Padding::explicit([4, 1], [3, 0]))
        .ceil_mode(true);
    let mut v = Vec::new();
    // Big enough (well over the parallel threshold) and with ragged tiles: C = 600 splits into
    // channel chunks of 256, 256 and 88.
    for shape in [Shape::nhwc(2, 64, 61, 40), Shape::nhwc(1, 31, 29, 600)] {
        for w in [w3, w5] {
            v.push((PoolParams::max(w), shape));
            v.push((PoolParams::avg(w, Divisor::ExcludePad), shape));
            v.push((
                PoolParams::avg(w, Divisor::IncludePad).clamp(-0.5, 0.5),
                shape,
            ));
            v.push((PoolParams::lp(w, 2.0), shape));
            v.push((PoolParams::lp(w, 3.0), shape));
            v.push((PoolParams::lp(w, f64::INFINITY), shape));
            v.push((PoolParams::stochastic_train(w, 99), shape));
            v.push((PoolParams::stochastic_inference(w), shape));
        }
        v.push((PoolParams::global_max(), shape));
        v.push((PoolParams::global_avg(), shape));
        v.push((PoolParams::global_lp(2.5), shape));
    }
    // Global pooling over a batch: each image cut into channel chunks of 384, 384 and 332
    // (9 tiles), over the parallel threshold.
    let shape = Shape::nhwc(3, 12, 10, 1100);
    v.push((PoolParams::global_max(), shape));
    v.push((PoolParams::global_avg(), shape));
    v.push((PoolParams::global_lp(2.5), shape));
    v
}

fn isas() -> Vec<Isa> {
    let mut v = vec![Isa::Reference];
    v.extend(simdpool::available_tiers().into_iter().map(Isa::Tier));
    v
}

#[test]
fn every_thread_count_gives_the_same_bits() {
    let pool1 = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let pool3 = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap();
    for (params, shape) in cases() {
        let x = Tensor::from_fn(shape, |i| {
            // A few NaN and infinities so that exact-fallback lanes take part, and (C = 600)
            // channel 5 subnormal everywhere: its sums are flagged and recomputed exactly,
            // which must not change the other channels' results however channels are tiled.
            match (i % 9973, i % 600) {
                (17, _) => f32::NAN,
                (4001, _) => f32::INFINITY,
                (_, 5) => f32::from_bits(0x0000_0100 + (i % 7) as u32),
                _ => (((i * 2_654_435_761) % 1000) as f32 - 500.0) / 97.0,
            }
        })
        .unwrap();
        for isa in isas() {
            let plan = Plan::new(&params, shape, isa).unwrap();
            let mut base = Tensor::zeros(plan.output_shape()).unwrap();
            plan.run(x.view(), base.view_mut()).unwrap();
            for (name, threads) in [
                ("global", Threads::Global),
                ("pool1", Threads::Pool(&pool1)),
                ("pool3", Threads::Pool(&pool3)),
            ] {
                let mut y = Tensor::zeros(plan.output_shape()).unwrap();
                plan.run_with(x.view(), y.view_mut(), threads, None)
                    .unwrap();
                let same = base
                    .as_slice()
                    .iter()
                    .zip(y.as_slice())
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(
                    same,
                    "{} differs with {name}: {params:?} {shape}",
                    plan.kernel_name()
                );
            }
        }
    }
}

#[test]
fn strided_output_gaps_survive_parallel_runs() {
    let shape = Shape::nhwc(2, 96, 96, 24);
    let params = PoolParams::max(Window::new([2, 2]).stride([2, 2]));
    let plan = Plan::new(&params, shape, Isa::Best).unwrap();
    let x = Tensor::from_fn(shape, |i| (i % 101) as f32).unwrap();
    let o = plan.output_shape();
    let (oh, ow) = (o.spatial().as_slice()[0], o.spatial().as_slice()[1]);
    let pix = 24 + 5;
    let mut buf = vec![-1.0f32; 2 * oh * ow * pix];
    let out = TensorViewMut::with_strides(&mut buf, o, Strides::nhwc(oh * ow * pix, ow * pix, pix))
        .unwrap();
    plan.run_with(x.view(), out, Threads::Global, None).unwrap();
    for (i, v) in buf.iter().enumerate() {
        if i % pix >= 24 {
            assert_eq!(*v, -1.0, "gap element {i} written");
        }
    }
    let view =
        TensorView::with_strides(&buf, o, Strides::nhwc(oh * ow * pix, ow * pix, pix)).unwrap();
    simdpool::check::compare(&plan, x.view(), view, 0).unwrap();
}
