//! Runs one bench-like workload in a loop (for a profiler): `loop K P HW C [max|avg] [secs]`.
use simdpool::*;
use std::time::Instant;
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let num = |i: usize, d: usize| a.get(i).map_or(d, |s| s.parse().unwrap());
    let (k, p, hw, c) = (num(1, 13), num(2, 6), num(3, 20), num(4, 512));
    let avg = a.get(5).is_some_and(|s| s == "avg");
    let secs = num(6, 3) as f64;
    let w = Window::new([k, k]).padding(Padding::symmetric([p, p]));
    let params = if avg {
        PoolParams::avg(w, Divisor::ExcludePad)
    } else {
        PoolParams::max(w)
    };
    let shape = Shape::nhwc(1, hw, hw, c);
    let plan = Plan::new(&params, shape, Isa::Best).unwrap();
    let x = Tensor::from_fn(shape, |i| ((i * 7919) % 1000) as f32).unwrap();
    let mut y = Tensor::zeros(plan.output_shape()).unwrap();
    let t = Instant::now();
    let mut n = 0u64;
    let mut best = f64::MAX;
    while t.elapsed().as_secs_f64() < secs {
        let s = Instant::now();
        for _ in 0..50 {
            plan.run(x.view(), y.view_mut()).unwrap();
        }
        best = best.min(s.elapsed().as_secs_f64() / 50.0);
        n += 50;
    }
    println!(
        "{} {} runs, best {:.1} us",
        plan.kernel_name(),
        n,
        best * 1e6
    );
}
