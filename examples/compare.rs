//! Every registry kernel that accepts a problem, timed side by side (min of 15 runs):
//! `cargo run --release --example compare -- <max|avg|lp2|train|infer> K S P H C`.
use simdpool::*;
use std::time::Instant;
fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let n = |i: usize| a[i].parse::<usize>().unwrap();
    let (k, s, p, hw, c) = (n(1), n(2), n(3), n(4), n(5));
    let w = Window::new([k, k])
        .stride([s, s])
        .padding(Padding::symmetric([p, p]));
    let params = match a[0].as_str() {
        "max" => PoolParams::max(w),
        "avg" => PoolParams::avg(w, Divisor::ExcludePad),
        "lp2" => PoolParams::lp(w, 2.0),
        "train" => PoolParams::stochastic_train(w, 1),
        "infer" => PoolParams::stochastic_inference(w),
        o => panic!("{o}"),
    };
    let shape = Shape::nhwc(1, hw, hw, c);
    let x = Tensor::from_fn(shape, |i| {
        (((i * 2654435761) % 1000) as f32 - 300.0) / 100.0
    })
    .unwrap();
    for kinfo in registry() {
        if !kinfo
            .name
            .ends_with(&std::env::var("TIER").unwrap_or_default())
        {
            continue;
        }
        let Ok(plan) = Plan::with_kernel(&params, shape, kinfo.name) else {
            continue;
        };
        let mut y = Tensor::zeros(plan.output_shape()).unwrap();
        let mut best = f64::MAX;
        for _ in 0..15 {
            let t = Instant::now();
            for _ in 0..5 {
                plan.run(x.view(), y.view_mut()).unwrap();
            }
            best = best.min(t.elapsed().as_secs_f64() / 5.0);
        }
        println!(
            "{:<6} k{k}s{s} {hw}x{c}: {:<34} {:>9.2} us",
            a[0],
            kinfo.name,
            best * 1e6
        );
    }
}
