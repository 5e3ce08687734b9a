//! `Plan::run` on the calling thread allocates nothing, for every operator and tier: counted
//! with a global allocator wrapper. (The `check` feature recomputes with the reference, which
//! allocates: the test does not apply to it.)
#![cfg(not(feature = "check"))]

use simdpool::{Divisor, Isa, Padding, Plan, PoolParams, Shape, Tensor, Window};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn run_allocates_nothing() {
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
            let before = ALLOCATIONS.load(Ordering::SeqCst);
            plan.run(x.view(), y.view_mut()).unwrap();
            let after = ALLOCATIONS.load(Ordering::SeqCst);
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
