//! Time of one kernel with the output placed at different offsets from a 4 KiB boundary
//! relative to the input (4 KiB aliasing probe).
//!
//! `cargo run --release --example alias -- KERNEL C HW K S P`
use simdpool::*;
use std::time::Instant;
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let n = |i: usize| a[i].parse::<usize>().unwrap();
    let (c, hw, k, s, p) = (n(2), n(3), n(4), n(5), n(6));
    let win = Window::new([k, k])
        .stride([s, s])
        .padding(Padding::symmetric([p, p]));
    let params = PoolParams::max(win);
    let shape = Shape::nhwc(1, hw, hw, c);
    let plan = Plan::with_kernel(&params, shape, &a[1]).unwrap();
    let x = Tensor::from_fn(shape, |i| ((i * 7919) % 1000) as f32).unwrap();
    let out = plan.output_shape();
    let len = out.num_elements().unwrap();
    let mut buf = Tensor::zeros(Shape::nhwc(1, 1, 1, len + 4096)).unwrap();
    let reps = (2_000_000.0 / (len as f64 / 16.0)).max(1.0) as usize;
    for off in [0usize, 16, 64, 256, 512, 1024, 2048, 3072] {
        let mut best = f64::MAX;
        for _ in 0..11 {
            let t = Instant::now();
            for _ in 0..reps {
                let y = TensorViewMut::new(&mut buf.as_mut_slice()[off..off + len], out).unwrap();
                plan.run(x.view(), y).unwrap();
            }
            best = best.min(t.elapsed().as_secs_f64() / reps as f64);
        }
        println!(
            "offset {off:>5} floats: {:>8.3} us  {:.3} ns/vec16",
            best * 1e6,
            best * 1e9 / (len as f64 / 16.0)
        );
    }
}
