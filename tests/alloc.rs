//! `Plan::run` on the calling thread allocates nothing, for every operator and tier: counted
//! with a global allocator wrapper. (The `check` feature recomputes with the reference, which
//! allocates: the test does not apply to it.)
#![cfg(not(feature = "check"))]

use simdpool::{Divisor, Isa, Padding, Plan, PoolParams, Shape, Tensor, Window};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Allocations made by this thread (a const-initialised thread local: reading it never
    /// allocates).
    static MINE: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn count() {
    ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
    MINE.with(|m| m.set(m.get() + 1));
}

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The counter is global: tests in this file run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn run_allocates_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let w = Window::new([3, 3])
        .stride([2, 2])
        .padding(Padding::symmetric([1, 1]));
    let ops = [
        PoolParams::max(w),
        PoolParams::max(Window::new([4, 2]).dilation([1, 2]).ceil_mode(true)),
        PoolParams::avg(w, Divisor::IncludePad),
        PoolParams::lp(w, 2.0),
        PoolParams::lp(w, 1.0),
        PoolParams::lp(w, 3.5),
        PoolParams::lp(w, f64::INFINITY),
        PoolParams::stochastic_train(w, 5),
        PoolParams::stochastic_inference(w),
        PoolParams::global_max(),
        PoolParams::global_avg(),
        PoolParams::global_lp(2.0),
    ];
    let shape = Shape::nhwc(2, 23, 17, 37);
    let x = Tensor::from_fn(shape, |i| {
        // NaN and infinities send some lanes through the exact paths too.
        match i % 997 {
            5 => f32::NAN,
            600 => f32::NEG_INFINITY,
            _ => ((i * 7919) % 257) as f32 / 31.0 - 4.0,
        }
    })
    .unwrap();
    let mut isas = vec![Isa::Reference];
    isas.extend(simdpool::available_tiers().into_iter().map(Isa::Tier));
    for params in ops {
        for &isa in &isas {
            let plan = Plan::new(&params, shape, isa).unwrap();
            let mut y = Tensor::zeros(plan.output_shape()).unwrap();
            // This thread's allocations only: threads of other tests may still be exiting.
            let before = MINE.with(|m| m.get());
            plan.run(x.view(), y.view_mut()).unwrap();
            let after = MINE.with(|m| m.get());
            assert_eq!(
                after,
                before,
                "{} allocated {} times",
                plan.kernel_name(),
                after - before
            );
        }
    }
}

/// Under rayon only rayon's own job-queue allocations remain: counted here (after a warm-up
/// that sizes the pool's queues and the plan's per-thread scratch slots) and bounded, so that
/// a regression adding per-tile allocations shows.
#[cfg(feature = "rayon")]
#[test]
fn parallel_run_allocations_are_rayons_only() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let shape = Shape::nhwc(1, 128, 128, 64);
    let x = Tensor::from_fn(shape, |i| (i % 251) as f32).unwrap();
    for params in [
        PoolParams::max(
            Window::new([3, 3])
                .stride([2, 2])
                .padding(Padding::symmetric([1, 1])),
        ),
        PoolParams::max(Window::new([9, 9]).padding(Padding::symmetric([4, 4]))),
        PoolParams::global_avg(),
    ] {
        let plan = Plan::new(&params, shape, Isa::Best).unwrap();
        let mut y = Tensor::zeros(plan.output_shape()).unwrap();
        for _ in 0..3 {
            plan.run_with(x.view(), y.view_mut(), simdpool::Threads::Pool(&pool), None)
                .unwrap();
        }
        let runs = 20;
        let before = ALLOCATIONS.load(Ordering::SeqCst);
        for _ in 0..runs {
            plan.run_with(x.view(), y.view_mut(), simdpool::Threads::Pool(&pool), None)
                .unwrap();
        }
        let per_run = (ALLOCATIONS.load(Ordering::SeqCst) - before) as f64 / runs as f64;
        println!(
            "{}: {per_run:.1} allocations per 2-thread run",
            plan.kernel_name()
        );
        assert!(
            per_run <= 8.0,
            "{}: {per_run} allocations per run",
            plan.kernel_name()
        );
    }
}
