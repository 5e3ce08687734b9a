//! Runs one kernel on one problem a few times (for instruction counts under callgrind).
//!
//! `cargo run --release --example once -- KERNEL C HW K S P [avg] [REPS]`
use simdpool::*;
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let n = |i: usize| a[i].parse::<usize>().unwrap();
    let (c, hw, k, s, p) = (n(2), n(3), n(4), n(5), n(6));
    let win = Window::new([k, k])
        .stride([s, s])
        .padding(Padding::symmetric([p, p]));
    let params = if a.get(7).is_some_and(|s| s == "avg") {
        PoolParams::avg(win, Divisor::ExcludePad)
    } else {
        PoolParams::max(win)
    };
    let reps = a.get(8).map(|s| s.parse().unwrap()).unwrap_or(10);
    let shape = Shape::nhwc(1, hw, hw, c);
    let plan = Plan::with_kernel(&params, shape, &a[1]).unwrap();
    let x = Tensor::from_fn(shape, |i| ((i * 7919) % 1000) as f32).unwrap();
    let mut y = Tensor::zeros(plan.output_shape()).unwrap();
    for _ in 0..reps {
        plan.run(x.view(), y.view_mut()).unwrap();
    }
}
