//! `simdpool run`: pool an .npy file (little-endian f32, C order, rank 4, NHWC) into another.
//! On any failure: one line on stderr, exit code 2, and OUTPUT is left as it was.

use super::args::{self, Args};
use simdpool::{Divisor, Isa, Padding, Plan, PoolParams, Shape, TensorView, TensorViewMut, Window};
use std::path::Path;

const VALUED: &[&str] = &[
    "--op",
    "--kernel",
    "--stride",
    "--dilation",
    "--pad",
    "--divisor",
    "--p",
    "--seed",
    "--clamp",
    "--isa",
    "--threads",
];
const SWITCHES: &[&str] = &["--ceil", "--count-include-pad", "--train"];

/// Which operators each operator-specific flag applies to.
const APPLIES: &[(&str, &[&str])] = &[
    ("--kernel", &["max", "avg", "lp", "stochastic"]),
    ("--stride", &["max", "avg", "lp", "stochastic"]),
    ("--dilation", &["max", "avg", "lp", "stochastic"]),
    ("--pad", &["max", "avg", "lp", "stochastic"]),
    ("--ceil", &["max", "avg", "lp", "stochastic"]),
    ("--count-include-pad", &["avg"]),
    ("--divisor", &["avg"]),
    ("--p", &["lp", "global-lp"]),
    ("--train", &["stochastic"]),
    ("--seed", &["stochastic"]),
];

pub(crate) fn main(argv: &[String]) -> Result<(), String> {
    let a = args::parse(argv, VALUED, SWITCHES)?;
    let [input, output] = match a.positionals.as_slice() {
        [i, o] => [i.clone(), o.clone()],
        p => {
            return Err(format!(
                "expected INPUT.npy OUTPUT.npy, got {} positional argument(s)",
                p.len()
            ));
        }
    };
    let (params, seed) = params(&a)?;
    let isa: Isa = a
        .value("--isa")
        .unwrap_or("best")
        .parse()
        .map_err(|e: simdpool::Error| e.to_string())?;
    let pool = super::pool(args::usize_of(
        "--threads",
        a.value("--threads").unwrap_or("1"),
    )?)?;

    let arr = simdpool::npy::read_f32(Path::new(&input)).map_err(|e| e.to_string())?;
    let shape = match arr.shape.as_slice() {
        &[n, h, w, c] => Shape::nhwc(n, h, w, c),
        s => {
            return Err(format!(
                "{input}: rank {} array of shape {s:?}; expected rank 4 (NHWC)",
                s.len()
            ));
        }
    };
    let plan = Plan::new(&params, shape, isa).map_err(|e| e.to_string())?;
    let out_shape = plan.output_shape();
    let len = out_shape
        .num_elements()
        .ok_or("output size overflows usize")?;
    let mut out = vec![0.0f32; len];
    let x = TensorView::new(&arr.data, shape).map_err(|e| e.to_string())?;
    let y = TensorViewMut::new(&mut out, out_shape).map_err(|e| e.to_string())?;
    plan.run_with(x, y, super::threads(&pool), seed)
        .map_err(|e| e.to_string())?;
    simdpool::npy::write_f32(Path::new(&output), &out_shape.dims(), &out).map_err(|e| e.to_string())
}

/// The pooling request and, for stochastic training, the seed.
fn params(a: &Args) -> Result<(PoolParams, Option<u64>), String> {
    let op = a.value("--op").ok_or("--op is required")?;
    let ops = [
        "max",
        "avg",
        "lp",
        "stochastic",
        "global-max",
        "global-avg",
        "global-lp",
    ];
    if !ops.contains(&op) {
        return Err(format!("--op = '{op}': expected one of {}", ops.join(", ")));
    }
    for (flag, ok) in APPLIES {
        if a.has(flag) && !ok.contains(&op) {
            return Err(format!("{flag} does not apply to --op {op}"));
        }
    }
    if a.has("--seed") && !a.has("--train") {
        return Err("--seed applies only with --train (stochastic training)".into());
    }
    let p = match a.value("--p") {
        Some(s) => args::float_of("--p", s)?,
        None => 2.0,
    };
    let mut params = match op {
        "global-max" => PoolParams::global_max(),
        "global-avg" => PoolParams::global_avg(),
        "global-lp" => PoolParams::global_lp(p),
        _ => {
            let k = args::pair(
                "--kernel",
                a.value("--kernel")
                    .ok_or_else(|| format!("--kernel is required for --op {op}"))?,
            )?;
            let mut w = Window::new(k).ceil_mode(a.has("--ceil"));
            if let Some(s) = a.value("--stride") {
                w = w.stride(args::pair("--stride", s)?);
            }
            if let Some(s) = a.value("--dilation") {
                w = w.dilation(args::pair("--dilation", s)?);
            }
            if let Some(s) = a.value("--pad") {
                w = w.padding(padding(s)?);
            }
            match op {
                "max" => PoolParams::max(w),
                "avg" => {
                    let d = match (a.value("--divisor"), a.has("--count-include-pad")) {
                        (Some(s), _) => Divisor::Override(args::usize_of("--divisor", s)?),
                        (None, true) => Divisor::IncludePad,
                        (None, false) => Divisor::ExcludePad,
                    };
                    PoolParams::avg(w, d)
                }
                "lp" => PoolParams::lp(w, p),
                _ if a.has("--train") => PoolParams::stochastic_train(w, 0),
                _ => PoolParams::stochastic_inference(w),
            }
        }
    };
    if let Some(s) = a.value("--clamp") {
        let v = args::list("--clamp", s, 2, "LO,HI")?;
        let f32_of = |x: &str| {
            let v = args::float_of("--clamp", x)?;
            if v.is_finite() && !(v as f32).is_finite() {
                return Err(format!("--clamp = '{s}': {x} is outside the f32 range"));
            }
            Ok::<f32, String>(v as f32)
        };
        params = params.clamp(f32_of(v[0])?, f32_of(v[1])?);
    }
    let seed = if a.has("--train") {
        let s = a.value("--seed").unwrap_or("0");
        Some(
            s.parse::<u64>()
                .map_err(|_| format!("--seed = '{s}': expected an integer in 0..=2^64-1"))?,
        )
    } else {
        None
    };
    Ok((params, seed))
}

fn padding(s: &str) -> Result<Padding, String> {
    Ok(match s {
        "valid" => Padding::Valid,
        "same-upper" => Padding::SameUpper,
        "same-lower" => Padding::SameLower,
        _ => {
            let v = args::list(
                "--pad",
                s,
                4,
                "TOP,LEFT,BOTTOM,RIGHT or valid, same-upper, same-lower",
            )?;
            let n = |x: &str| args::usize_of("--pad", x);
            Padding::explicit([n(v[0])?, n(v[1])?], [n(v[2])?, n(v[3])?])
        }
    })
}
