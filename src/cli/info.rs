//! `simdpool info`.

use simdpool::{Status, Tier};

pub(crate) fn main(args: &[String]) -> Result<(), String> {
    if let Some(a) = args.first() {
        return Err(format!("unexpected argument '{a}'"));
    }
    out!("simdpool {}", env!("CARGO_PKG_VERSION"));
    out!("cpu features: {}", cpu_features().join(" "));
    let tiers: Vec<&str> = simdpool::available_tiers()
        .iter()
        .map(|t| t.name())
        .collect();
    out!("tiers available: {}", tiers.join(", "));
    match std::env::var(simdpool::ISA_ENV) {
        Ok(v) => out!("{} = {v}", simdpool::ISA_ENV),
        Err(_) => out!("{} unset", simdpool::ISA_ENV),
    }
    // What `best` resolves to, through a real plan (so the cap is applied exactly as plans do).
    let probe = simdpool::PoolParams::max(simdpool::Window::new([2, 2]));
    match simdpool::Plan::new(
        &probe,
        simdpool::Shape::nhwc(1, 2, 2, 1),
        simdpool::Isa::Best,
    ) {
        Ok(p) => out!(
            "best picks: {}",
            p.tier().map(Tier::name).unwrap_or("reference")
        ),
        Err(e) => out!("best picks: error: {e}"),
    }
    out!();
    out!("{:<34} {:<9} {:<13} available", "kernel", "tier", "status");
    for k in simdpool::registry() {
        out!(
            "{:<34} {:<9} {:<13} {}",
            k.name,
            k.tier.name(),
            match k.status {
                Status::Stable => "stable",
                Status::Experimental => "experimental",
            },
            if k.tier.is_available() { "yes" } else { "no" }
        );
    }
    out!();
    out!(
        "operators without a vector kernel (run on the reference): {}",
        fallback_ops().join(", ")
    );
    Ok(())
}

/// The kernel-id ops that no registry row implements.
fn fallback_ops() -> Vec<&'static str> {
    [
        "max",
        "avg",
        "lp",
        "lp1",
        "lp2",
        "lpinf",
        "stochtrain",
        "stochinfer",
        "gmax",
        "gavg",
        "glp",
    ]
    .into_iter()
    .filter(|op| !simdpool::registry().iter().any(|k| k.op == *op))
    .collect()
}

fn cpu_features() -> Vec<&'static str> {
    #[cfg(target_arch = "x86_64")]
    {
        let mut v = vec!["x86_64"];
        macro_rules! f {
            ($($name:tt),*) => {$(
                if std::arch::is_x86_feature_detected!($name) { v.push($name); }
            )*};
        }
        f!(
            "sse2", "sse4.1", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512dq",
            "avx512vl"
        );
        v
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        vec![std::env::consts::ARCH]
    }
}
