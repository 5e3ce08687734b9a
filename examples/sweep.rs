//! The stride-1 window sweep of README's performance section: time per output element (ns,
//! median of 31 samples, 1 thread, `Isa::Best`) for max k x k s1 (pad (k-1)/2) on 1x20x20x512,
//! k = 3..15, and average (exclude-pad) k = 3, 5, 7 on 1x28x28x256.
use simdpool::*;
use std::time::Instant;
fn main() {
    let cases: Vec<(&str, usize, usize, usize)> = (3..=15)
        .step_by(2)
        .map(|k| ("max", k, 20, 512))
        .chain([3, 5, 7].map(|k| ("avg", k, 28, 256)))
        .collect();
    for (op, k, hw, c) in cases {
        let w = Window::new([k, k]).padding(Padding::symmetric([(k - 1) / 2, (k - 1) / 2]));
        let params = if op == "max" {
            PoolParams::max(w)
        } else {
            PoolParams::avg(w, Divisor::ExcludePad)
        };
        let shape = Shape::nhwc(1, hw, hw, c);
        let plan = Plan::new(&params, shape, Isa::Best).unwrap();
        let x = Tensor::from_fn(shape, |i| ((i * 7919) % 1000) as f32 / 100.0 - 5.0).unwrap();
        let mut y = Tensor::zeros(plan.output_shape()).unwrap();
        let outs = plan.output_shape().num_elements().unwrap() as f64;
        let reps = (20_000_000.0 / outs).max(1.0) as usize;
        let mut samples = Vec::new();
        for i in 0..34 {
            let t = Instant::now();
            for _ in 0..reps {
                plan.run(x.view(), y.view_mut()).unwrap();
            }
            if i >= 3 {
                samples.push(t.elapsed().as_secs_f64() / reps as f64);
            }
        }
        samples.sort_by(f64::total_cmp);
        let med = samples[samples.len() / 2];
        println!(
            "{op} {k}x{k} s1 {hw}x{hw}x{c}: {:8.2} us  {:.3} ns/output  {}",
            med * 1e6,
            med * 1e9 / outs,
            plan.kernel_name()
        );
    }
}
