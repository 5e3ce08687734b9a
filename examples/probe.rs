use simdpool::*;
use std::time::Instant;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let isa: Isa = args.get(1).map(|s| s.parse().unwrap()).unwrap_or(Isa::Best);
    for (name, params, shape) in [
        (
            "stem56",
            PoolParams::max(
                Window::new([3, 3])
                    .stride([2, 2])
                    .padding(Padding::symmetric([1, 1])),
            ),
            Shape::nhwc(1, 56, 56, 64),
        ),
        (
            "stem112",
            PoolParams::max(
                Window::new([3, 3])
                    .stride([2, 2])
                    .padding(Padding::symmetric([1, 1])),
            ),
            Shape::nhwc(1, 112, 112, 64),
        ),
        (
            "stem114",
            PoolParams::max(
                Window::new([3, 3])
                    .stride([2, 2])
                    .padding(Padding::symmetric([1, 1])),
            ),
            Shape::nhwc(1, 114, 114, 64),
        ),
        (
            "stem112c72",
            PoolParams::max(
                Window::new([3, 3])
                    .stride([2, 2])
                    .padding(Padding::symmetric([1, 1])),
            ),
            Shape::nhwc(1, 112, 112, 72),
        ),
        (
            "avgstem112",
            PoolParams::avg(
                Window::new([3, 3])
                    .stride([2, 2])
                    .padding(Padding::symmetric([1, 1])),
                Divisor::ExcludePad,
            ),
            Shape::nhwc(1, 112, 112, 64),
        ),
        (
            "s1_28x256",
            PoolParams::max(Window::new([3, 3]).padding(Padding::symmetric([1, 1]))),
            Shape::nhwc(1, 28, 28, 256),
        ),
        (
            "s1_56x256",
            PoolParams::max(Window::new([3, 3]).padding(Padding::symmetric([1, 1]))),
            Shape::nhwc(1, 56, 56, 256),
        ),
        (
            "2x2_112x64",
            PoolParams::max(Window::new([2, 2]).stride([2, 2])),
            Shape::nhwc(1, 112, 112, 64),
        ),
        (
            "2x2_224x64",
            PoolParams::max(Window::new([2, 2]).stride([2, 2])),
            Shape::nhwc(1, 224, 224, 64),
        ),
    ] {
        let plan = Plan::new(&params, shape, isa).unwrap();
        let x = Tensor::from_fn(shape, |i| ((i * 7919) % 1000) as f32).unwrap();
        let mut y = Tensor::zeros(plan.output_shape()).unwrap();
        let outs = plan.output_shape().num_elements().unwrap();
        let mut best = f64::MAX;
        for _ in 0..50 {
            let t = Instant::now();
            for _ in 0..10 {
                plan.run(x.view(), y.view_mut()).unwrap();
            }
            best = best.min(t.elapsed().as_secs_f64() / 10.0);
        }
        println!(
            "{name:12} {:>9.2} us  {:.3} ns/out-vector16  {}",
            best * 1e6,
            best * 1e9 / (outs as f64 / 16.0),
            plan.kernel_name()
        );
    }
}
