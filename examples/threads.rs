//! 2-thread timing probe: `threads K P HW C POOL_THREADS` (calls from outside the pool and
//! from inside it).
use simdpool::*;
use std::time::Instant;
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let num = |i: usize, d: usize| a.get(i).map_or(d, |s| s.parse().unwrap());
    let (k, p, hw, c, nt) = (num(1, 13), num(2, 6), num(3, 20), num(4, 512), num(5, 2));
    let w = Window::new([k, k]).padding(Padding::symmetric([p, p]));
    let params = PoolParams::max(w);
    let shape = Shape::nhwc(1, hw, hw, c);
    let plan = Plan::new(&params, shape, Isa::Best).unwrap();
    let x = Tensor::from_fn(shape, |i| ((i * 7919) % 1000) as f32).unwrap();
    let mut y = Tensor::zeros(plan.output_shape()).unwrap();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(nt)
        .build()
        .unwrap();
    let time = |label: &str, f: &mut dyn FnMut()| {
        let mut v = Vec::new();
        for _ in 0..2000 {
            let s = Instant::now();
            f();
            v.push(s.elapsed().as_secs_f64() * 1e6);
        }
        v.sort_by(f64::total_cmp);
        println!(
            "{label:10} p10 {:7.1} p50 {:7.1} p90 {:7.1}",
            v[200], v[1000], v[1800]
        );
    };
    time("current", &mut || {
        plan.run_with(x.view(), y.view_mut(), Threads::Current, None)
            .unwrap()
    });
    time("pool-out", &mut || {
        plan.run_with(x.view(), y.view_mut(), Threads::Pool(&pool), None)
            .unwrap()
    });
    pool.install(|| {
        time("pool-in", &mut || {
            plan.run_with(x.view(), y.view_mut(), Threads::Pool(&pool), None)
                .unwrap()
        });
    });
}
