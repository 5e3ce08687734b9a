//! Time of one kernel with the output placed at different distances from the input modulo
//! 4 KiB (the placement probe of README's "Buffer placement"): page-aligned buffers sit a
//! multiple of 4 KiB apart, which is the distance 0 row.
//!
//! `cargo run --release --example alias -- KERNEL C HW K S P [max|avg]`, e.g.
//! `alias max_f32_k3x3s1__avx512 512 20 3 1 1`.
use simdpool::*;
use std::time::Instant;
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
    let shape = Shape::nhwc(1, hw, hw, c);
    let plan = Plan::with_kernel(&params, shape, &a[1]).unwrap();
    let x = Tensor::from_fn(shape, |i| ((i * 7919) % 1000) as f32).unwrap();
    let x_at = x.as_slice().as_ptr() as usize;
    let out = plan.output_shape();
    let len = out.num_elements().unwrap();
    let mut buf = Tensor::zeros(Shape::nhwc(1, 1, 1, len + 1024)).unwrap();
    let reps = (2_000_000.0 / (len as f64 / 16.0)).max(1.0) as usize;
    // Distances in bytes of the output's start from the input's, modulo 4 KiB; interleaved
    // rounds, the median of 15.
    let dists = [0usize, 64, 128, 192, 256, 1024, 2048, 3072];
    let mut times = vec![Vec::new(); dists.len()];
    for _ in 0..15 {
        for (d, ts) in dists.iter().zip(&mut times) {
            let buf_at = buf.as_slice().as_ptr() as usize;
            let skip = (x_at + d).wrapping_sub(buf_at) % 4096 / 4;
            let t = Instant::now();
            for _ in 0..reps {
                let y = TensorViewMut::new(&mut buf.as_mut_slice()[skip..skip + len], out).unwrap();
                plan.run(x.view(), y).unwrap();
            }
            ts.push(t.elapsed().as_secs_f64() / reps as f64);
        }
    }
    for (d, ts) in dists.iter().zip(&mut times) {
        ts.sort_by(f64::total_cmp);
        let med = ts[ts.len() / 2];
        println!(
            "output - input = {d:>4} B mod 4 KiB: {:>8.2} us  {:.3} ns/vec16",
            med * 1e6,
            med * 1e9 / (len as f64 / 16.0)
        );
    }
}
