//! `simdpool bench`: the standard workloads on this CPU, each checked once against the
//! reference, then timed. Results go to stdout (a table, or JSON lines with --json); progress
//! to stderr.

use super::args;
use simdpool::workloads::{self, Workload};
use simdpool::{Isa, Plan, Tensor};
use std::time::{Duration, Instant};

/// Samples per workload; the reported figure is their median.
const SAMPLES: usize = 31;
/// Minimum duration of one sample (many calls for small workloads).
const SAMPLE_TIME: Duration = Duration::from_millis(2);

pub(crate) fn main(argv: &[String]) -> Result<(), String> {
    let a = args::parse(
        argv,
        &["--threads", "--isa", "--filter"],
        &["--json", "--all-kernels"],
    )?;
    if let Some(p) = a.positionals.first() {
        return Err(format!("unexpected argument '{p}'"));
    }
    let json = a.has("--json");
    let isa: Isa = a
        .value("--isa")
        .unwrap_or("best")
        .parse()
        .map_err(|e: simdpool::Error| e.to_string())?;
    let threads = args::usize_of("--threads", a.value("--threads").unwrap_or("1"))?;
    let pool = super::pool(threads)?;
    let filter = a.value("--filter").unwrap_or("");
    let list: Vec<Workload> = workloads::standard()
        .into_iter()
        .filter(|w| w.name.contains(filter))
        .collect();
    if list.is_empty() {
        return Err(format!("--filter = '{filter}': no workload matches"));
    }
    if a.has("--all-kernels") {
        return all_kernels(&list, json);
    }
    if !json {
        out!(
            "{:<22} {:<30} {:<9} {:>7} {:>11} {:>8} {:>11}{}",
            "workload",
            "kernel",
            "tier",
            "threads",
            "median_us",
            "GB/s",
            "vs_reference",
            if threads > 1 { "    vs_1t" } else { "" }
        );
    }
    for w in &list {
        eprintln!("bench: {} ...", w.name);
        let r = bench_one(w, isa, super::threads(&pool))?;
        // With several threads, the same workload on one thread, for the speed-up.
        let one = if threads > 1 {
            Some(bench_one(w, isa, simdpool::Threads::Current)?.median_us)
        } else {
            None
        };
        let (name, kernel, tier, med, gbps) = (w.name, r.kernel, r.tier, r.median_us, r.gbps);
        let speedup = r.speedup;
        if json {
            let extra = one
                .map(|t1| {
                    format!(
                        ",\"speedup_vs_1t\":{:.3},\"median_us_1t\":{t1:.4}",
                        t1 / r.median_us
                    )
                })
                .unwrap_or_default();
            let (ref_us, at) = (r.reference_us, r.placement);
            out!(
                "{{\"workload\":\"{name}\",\"kernel\":\"{kernel}\",\"tier\":\"{tier}\",\"threads\":{threads},\"median_us\":{med:.4},\"gbps\":{gbps:.3},\"speedup_vs_reference\":{speedup:.2},\"reference_us\":{ref_us:.4},\"out_minus_in_mod_4k\":{at}{extra}}}"
            );
        } else {
            let extra = one
                .map(|t1| format!(" {:>7.2}x", t1 / r.median_us))
                .unwrap_or_default();
            out!(
                "{name:<22} {kernel:<30} {tier:<9} {threads:>7} {med:>11.3} {gbps:>8.2} {speedup:>10.1}x{extra}"
            );
        }
    }
    Ok(())
}

struct Report {
    kernel: &'static str,
    tier: &'static str,
    median_us: f64,
    gbps: f64,
    speedup: f64,
    reference_us: f64,
    /// Bytes from the input's start to the output's, modulo 4 KiB: where the allocator put
    /// them, which moves some kernels' times by up to 1.5x (README, "Buffer placement").
    placement: usize,
}

fn bench_one(w: &Workload, isa: Isa, threads: simdpool::Threads<'_>) -> Result<Report, String> {
    let e = |e: simdpool::Error| format!("{}: {e}", w.name);
    let plan = Plan::new(&w.params, w.shape, isa).map_err(e)?;
    let reference = Plan::new(&w.params, w.shape, Isa::Reference).map_err(e)?;
    let x = workloads::input(w, 42).map_err(e)?;
    let mut y = Tensor::zeros(plan.output_shape()).map_err(e)?;
    plan.run(x.view(), y.view_mut()).map_err(e)?;
    simdpool::check::compare(&plan, x.view(), y.view(), 0)
        .map_err(|m| format!("{}: result differs from the reference: {m}", w.name))?;

    let mut timed = || {
        time(
            || plan.run_with(x.view(), y.view_mut(), threads, None),
            SAMPLES,
            SAMPLE_TIME,
        )
    };
    // With a pool, the calls come from one of its threads, as in an engine that runs its graph
    // inside its pool: the caller takes part instead of handing each call over and sleeping.
    let median_us = match threads {
        #[cfg(feature = "rayon")]
        simdpool::Threads::Pool(p) => p.install(timed),
        _ => timed(),
    }?;
    // The reference is slow; a few samples suffice for the ratio.
    let reference_us = time(|| reference.run(x.view(), y.view_mut()), 5, SAMPLE_TIME)?;
    let bytes =
        (w.shape.num_elements().unwrap_or(0) + plan.output_shape().num_elements().unwrap_or(0)) * 4;
    Ok(Report {
        kernel: plan.kernel_name(),
        tier: plan.tier().map(|t| t.name()).unwrap_or("reference"),
        median_us,
        gbps: bytes as f64 / (median_us * 1e3),
        speedup: reference_us / median_us,
        reference_us,
        placement: (y.as_slice().as_ptr() as usize).wrapping_sub(x.as_slice().as_ptr() as usize)
            % 4096,
    })
}

/// Median microseconds per call over `samples` samples of at least `min` each (after a
/// warm-up that also sizes the samples).
fn time(
    mut f: impl FnMut() -> simdpool::Result<()>,
    samples: usize,
    min: Duration,
) -> Result<f64, String> {
    let start = Instant::now();
    let mut calls = 0u64;
    while start.elapsed() < min * 5 || calls < 2 {
        f().map_err(|e| e.to_string())?;
        calls += 1;
    }
    let per_call = start.elapsed().as_secs_f64() / calls as f64;
    let reps = ((min.as_secs_f64() / per_call).ceil() as u64).max(1);
    let mut t: Vec<f64> = (0..samples)
        .map(|_| {
            let s = Instant::now();
            for _ in 0..reps {
                let _ = f();
            }
            s.elapsed().as_secs_f64() * 1e6 / reps as f64
        })
        .collect();
    t.sort_by(f64::total_cmp);
    Ok(t[t.len() / 2])
}

/// `--all-kernels`: every registry kernel that accepts each workload (experimental ones too),
/// on this CPU's tiers, one thread, in one sitting: the data behind each manifest status.
fn all_kernels(list: &[Workload], json: bool) -> Result<(), String> {
    if !json {
        out!(
            "{:<22} {:<34} {:>11} {:>9}",
            "workload",
            "kernel",
            "median_us",
            "vs_best"
        );
    }
    for w in list {
        eprintln!("bench: {} (all kernels) ...", w.name);
        let x = workloads::input(w, 42).map_err(|e| e.to_string())?;
        let mut rows = Vec::new();
        for k in simdpool::registry() {
            let Ok(plan) = Plan::with_kernel(&w.params, w.shape, k.name) else {
                continue;
            };
            let mut y = Tensor::zeros(plan.output_shape()).map_err(|e| e.to_string())?;
            plan.run(x.view(), y.view_mut())
                .map_err(|e| e.to_string())?;
            simdpool::check::compare(&plan, x.view(), y.view(), 0)
                .map_err(|m| format!("{}: {} differs from the reference: {m}", w.name, k.name))?;
            let us = time(|| plan.run(x.view(), y.view_mut()), SAMPLES, SAMPLE_TIME)?;
            rows.push((k.name, us));
        }
        let best = Plan::new(&w.params, w.shape, Isa::Best).map_err(|e| e.to_string())?;
        let best_us = rows
            .iter()
            .find(|(n, _)| *n == best.kernel_name())
            .map(|r| r.1)
            .unwrap_or(f64::NAN);
        for (name, us) in rows {
            if json {
                out!(
                    "{{\"workload\":\"{}\",\"kernel\":\"{name}\",\"median_us\":{us:.4},\"picked\":{}}}",
                    w.name,
                    name == best.kernel_name()
                );
            } else {
                out!(
                    "{:<22} {:<34} {:>11.3} {:>8.2}x{}",
                    w.name,
                    name,
                    us,
                    best_us / us,
                    if name == best.kernel_name() {
                        "  <- picked"
                    } else {
                        ""
                    }
                );
            }
        }
    }
    Ok(())
}
