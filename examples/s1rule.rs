//! The stride-1 cost rule's data: each s1 kernel beside the generic kernel (`kany`) and the
//! dedicated 3x3 one, k = 2..7, on two shapes (1 thread; the best tier or `s1rule TIER`).
use simdpool::*;
use std::time::Instant;
fn main() {
    // The best tier, or the one named by the first argument.
    let arg = std::env::args().nth(1);
    let tier = available_tiers()
        .into_iter()
        .rfind(|t| arg.as_deref().is_none_or(|a| a == t.name()))
        .expect("no such tier on this CPU");
    for (hw, c) in [(56, 64), (20, 512)] {
        for k in 2..=7usize {
            for op in ["max", "avg"] {
                let w = Window::new([k, k]).padding(Padding::symmetric([(k - 1) / 2, (k - 1) / 2]));
                let params = if op == "max" {
                    PoolParams::max(w)
                } else {
                    PoolParams::avg(w, Divisor::ExcludePad)
                };
                let shape = Shape::nhwc(1, hw, hw, c);
                let x = Tensor::from_fn(shape, |i| ((i * 7919) % 1000) as f32).unwrap();
                let mut line = format!("{op} {k}x{k} s1 {hw}x{hw}x{c}:");
                let names = [
                    format!("{op}_f32_kany__{}", tier.name()),
                    format!("{op}_f32_k3x3s1__{}", tier.name()),
                    format!("{op}_f32_s1_sep__{}", tier.name()),
                    format!(
                        "{op}_f32_s1_{}__{}",
                        if op == "max" { "vhgw" } else { "blocksum" },
                        tier.name()
                    ),
                ];
                for name in names {
                    let Ok(plan) = Plan::with_kernel(&params, shape, &name) else {
                        continue;
                    };
                    let mut y = Tensor::zeros(plan.output_shape()).unwrap();
                    let mut t = Vec::new();
                    for _ in 0..31 {
                        let s = Instant::now();
                        for _ in 0..20 {
                            plan.run(x.view(), y.view_mut()).unwrap();
                        }
                        t.push(s.elapsed().as_secs_f64() * 1e6 / 20.0);
                    }
                    t.sort_by(f64::total_cmp);
                    line += &format!("  {} {:.1}", name.split("__").next().unwrap(), t[15]);
                }
                println!("{line}");
            }
        }
    }
}
