//! Criterion benches over the standard workloads (`simdpool::workloads::standard()`, the layer
//! shapes of BASELINES.md).
//!
//! One group per workload; inside it, side by side: every registry kernel that accepts the
//! workload on this CPU (experimental ones included, forced with `Plan::with_kernel`), what
//! `Isa::Best` picks (`best[<kernel>]`), and the scalar reference (`<op>_f32__reference`).
//! Bench ids are kernel names, so `cargo bench max_f32` or `cargo bench avx512` filter
//! naturally, and `cargo bench max3s2p1_112x64/` selects one workload. Throughput is the bytes
//! read and written (input + output, f32).
//!
//! Defaults: warm-up 0.5 s, measurement 1 s, 20 samples (command-line options override them);
//! the reference (and `Isa::Best` when it falls back to the reference) uses 10 flat samples,
//! since one iteration of it can take tens of milliseconds.
//! `cargo bench --bench pooling -- --test` runs every bench once as a smoke test.

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use simdpool::workloads::{self, Workload};
use simdpool::{Isa, Plan, Tensor};
use std::hint::black_box;
use std::time::Duration;

fn bench_plan(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: &str,
    plan: &Plan,
    x: &Tensor,
    y: &mut Tensor,
) {
    group.bench_function(id, |b| {
        b.iter(|| {
            plan.run(black_box(x.view()), y.view_mut())
                .expect("the plan was made for these shapes");
            black_box(y.as_slice().first().copied());
        })
    });
}

fn bench_workload(c: &mut Criterion, index: usize, w: &Workload) {
    let x = workloads::input(w, 1 + index as u64).expect("workload input");
    let reference = Plan::new(&w.params, w.shape, Isa::Reference).expect("valid workload");
    let out_shape = reference.output_shape();
    let mut y = Tensor::zeros(out_shape).expect("output");
    let elements = w.shape.num_elements().unwrap_or(0) + out_shape.num_elements().unwrap_or(0);
    let bytes = (elements * std::mem::size_of::<f32>()) as u64;

    let mut group = c.benchmark_group(w.name);
    group.throughput(Throughput::Bytes(bytes));

    // Every registry kernel that accepts this workload on this CPU (with_kernel refuses the
    // others: another operator or window, or a tier this CPU lacks).
    for k in simdpool::registry() {
        if let Ok(plan) = Plan::with_kernel(&w.params, w.shape, k.name) {
            bench_plan(&mut group, k.name, &plan, &x, &mut y);
        }
    }
    let best = Plan::new(&w.params, w.shape, Isa::Best).expect("valid workload");
    let best_id = format!("best[{}]", best.kernel_name());
    if best.tier().is_some() {
        bench_plan(&mut group, &best_id, &best, &x, &mut y);
    }

    // The slow ones last, so that the settings below apply only to them.
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_secs(1))
        .sampling_mode(SamplingMode::Flat);
    bench_plan(&mut group, reference.kernel_name(), &reference, &x, &mut y);
    if best.tier().is_none() {
        // Isa::Best ran the reference (no vector kernel for this operator yet, or
        // SIMDPOOL_ISA=reference).
        bench_plan(&mut group, &best_id, &best, &x, &mut y);
    }
    group.finish();
}

fn pooling(c: &mut Criterion) {
    for (i, w) in workloads::standard().iter().enumerate() {
        bench_workload(c, i, w);
    }
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = config();
    targets = pooling
}
criterion_main!(benches);
