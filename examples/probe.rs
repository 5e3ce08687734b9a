//! Time per output vector of one kernel at growing sizes (cache residency probe).
//!
//! `cargo run --release --example probe -- KERNEL [C] [K] [S] [P] [OP]` (OP: max or avg).
use simdpool::*;
use std::time::Instant;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let kernel = args
        .get(1)
        .cloned()
        .unwrap_or("max_f32_k3x3s2__avx512".into());
    let num = |i: usize, d: usize| args.get(i).map(|s| s.parse().unwrap()).unwrap_or(d);
    let c = num(2, 64);
    let (k, s, p) = (num(3, 3), num(4, 2), num(5, 1));
    let avg = args.get(6).is_some_and(|s| s == "avg");
    for hw in [8, 12, 16, 20, 24, 32, 56, 112, 224] {
        let win = Window::new([k, k])
            .stride([s, s])
            .padding(Padding::symmetric([p, p]));
        let params = if avg {
            PoolParams::avg(win, Divisor::ExcludePad)
        } else {
            PoolParams::max(win)
        };
        let shape = Shape::nhwc(1, hw, hw, c);
        let Ok(plan) = Plan::with_kernel(&params, shape, &kernel) else {
            continue;
        };
        let x = Tensor::from_fn(shape, |i| ((i * 7919) % 1000) as f32).unwrap();
        let mut y = Tensor::zeros(plan.output_shape()).unwrap();
        let outs = plan.output_shape().num_elements().unwrap() as f64 / 16.0;
        let reps = (2_000_000.0 / outs).max(1.0) as usize;
        let mut best = f64::MAX;
        for _ in 0..15 {
            let t = Instant::now();
            for _ in 0..reps {
                plan.run(x.view(), y.view_mut()).unwrap();
            }
            best = best.min(t.elapsed().as_secs_f64() / reps as f64);
        }
        let kb = (shape.num_elements().unwrap() * 4) / 1024;
        println!(
            "{kernel} {hw:>4}x{hw:<4} in {kb:>6} KiB: {:>8.3} us  {:.3} ns/vec16",
            best * 1e6,
            best * 1e9 / outs
        );
    }
}
