//! API robustness fuzzing: arbitrary (mostly invalid) requests through the public API.
//!
//! Each request must return `Ok` or an `Err` with a non-empty message, never panic, and never
//! touch the output on error (the output is filled with a sentinel and checked afterwards).
//! Covered: `Plan::new` (zero / huge sizes, overflowing kernel*dilation, bad p, NaN or inverted
//! clamp, zero divisor, mismatched ranks, 3-D), `Plan::with_kernel` (arbitrary names),
//! `TensorView::with_strides` / `TensorViewMut::with_strides` (overflowing or too small strides,
//! short buffers), `Plan::run` / `run_with` / `run_with_seed` with mismatched shapes, views
//! `from_bytes` on misaligned or odd-length bytes, `Tensor` constructors with overflowing
//! shapes, and `simdpool::npy::decode_f32` on arbitrary bytes (a decoded array must
//! re-encode and decode to the same bits).
//!
//! Memory: nothing is allocated from a fuzzed size unless it is below `MAX_ELEMS`.

#![no_main]

use libfuzzer_sys::arbitrary::{Result as AResult, Unstructured};
use libfuzzer_sys::fuzz_target;
use simdpool::{
    Dims, Divisor, Error, GlobalOp, Isa, Padding, Plan, PoolParams, Shape, Strides, Tensor,
    TensorView, TensorViewMut, Threads, Tier, Window,
};

/// Largest buffer (in f32 elements) the target allocates.
const MAX_ELEMS: usize = 1 << 16;
const SENTINEL: u32 = 0x4c1d_e5a1;

/// A size: small, edge or huge.
fn any_size(u: &mut Unstructured) -> AResult<usize> {
    Ok(match u.int_in_range(0u8..=15)? {
        0 => 0,
        1 => 1,
        2..=7 => u.int_in_range(1usize..=9)?,
        8 => u.int_in_range(10usize..=70)?,
        9 => usize::MAX,
        10 => usize::MAX / 2 + u.int_in_range(0usize..=3)?,
        11 => isize::MAX as usize / 4 + u.int_in_range(0usize..=2)?,
        12 => 1 << u.int_in_range(16u32..=63)?,
        13 => u32::MAX as usize + u.int_in_range(0usize..=2)?,
        14 => u.arbitrary()?,
        _ => u.int_in_range(0usize..=4)?,
    })
}

fn dims(u: &mut Unstructured, rank: usize) -> AResult<Dims> {
    let v = [any_size(u)?, any_size(u)?, any_size(u)?];
    Ok(Dims::from_slice(&v[..rank]).expect("rank 1..=3"))
}

fn any_rank(u: &mut Unstructured, rank: usize) -> AResult<usize> {
    // Mostly the input's rank; sometimes another (a rank mismatch is an error).
    Ok(if u.ratio(7u8, 8u8)? {
        rank
    } else {
        u.int_in_range(1usize..=3)?
    })
}

fn any_f64(u: &mut Unstructured) -> AResult<f64> {
    Ok(match u.int_in_range(0u8..=11)? {
        0 => f64::NAN,
        1 => f64::INFINITY,
        2 => f64::NEG_INFINITY,
        3 => 0.0,
        4 => -0.0,
        5 => -1.0,
        6 => f64::from_bits(1),
        7 => 1e308,
        8 => 1.0,
        9 => 2.0,
        10 => u.int_in_range(1u32..=1000)? as f64 / 10.0,
        _ => f64::from_bits(u.arbitrary()?),
    })
}

fn any_f32(u: &mut Unstructured) -> AResult<f32> {
    Ok(match u.int_in_range(0u8..=7)? {
        0 => f32::NAN,
        1 => f32::INFINITY,
        2 => f32::NEG_INFINITY,
        3 => 0.0,
        4 => -0.0,
        5 => 6.0,
        6 => -1.0,
        _ => f32::from_bits(u.arbitrary()?),
    })
}

fn window(u: &mut Unstructured, rank: usize) -> AResult<Window> {
    let k = {
        let r = any_rank(u, rank)?;
        dims(u, r)?
    };
    let mut w = Window::new(k);
    if u.arbitrary()? {
        w = w.stride({
            let r = any_rank(u, rank)?;
            dims(u, r)?
        });
    }
    if u.arbitrary()? {
        w = w.dilation({
            let r = any_rank(u, rank)?;
            dims(u, r)?
        });
    }
    w = w.padding(match u.int_in_range(0u8..=3)? {
        0 => Padding::explicit(
            {
                let r = any_rank(u, rank)?;
                dims(u, r)?
            },
            {
                let r = any_rank(u, rank)?;
                dims(u, r)?
            },
        ),
        1 => Padding::Valid,
        2 => Padding::SameUpper,
        _ => Padding::SameLower,
    });
    Ok(w.ceil_mode(u.arbitrary()?))
}

fn params(u: &mut Unstructured, rank: usize) -> AResult<PoolParams> {
    let p = match u.int_in_range(0u8..=8)? {
        0 => PoolParams::max(window(u, rank)?),
        1 => PoolParams::avg(
            window(u, rank)?,
            match u.int_in_range(0u8..=2)? {
                0 => Divisor::ExcludePad,
                1 => Divisor::IncludePad,
                _ => Divisor::Override(any_size(u)?),
            },
        ),
        2 => PoolParams::lp(window(u, rank)?, any_f64(u)?),
        3 => PoolParams::stochastic_train(window(u, rank)?, u.arbitrary()?),
        4 => PoolParams::stochastic_inference(window(u, rank)?),
        5 => PoolParams::global(GlobalOp::Max),
        6 => PoolParams::global(GlobalOp::Avg),
        7 => PoolParams::global(GlobalOp::Lp(any_f64(u)?)),
        _ => PoolParams::max(window(u, rank)?),
    };
    Ok(if u.arbitrary()? {
        p.clamp(any_f32(u)?, any_f32(u)?)
    } else {
        p
    })
}

fn isa(u: &mut Unstructured) -> AResult<Isa> {
    Ok(match u.int_in_range(0u8..=4)? {
        0 => Isa::Reference,
        1 => Isa::Tier(Tier::Baseline),
        2 => Isa::Tier(Tier::Avx2),
        3 => Isa::Tier(Tier::Avx512),
        // Reads SIMDPOOL_ISA (unset in fuzzing runs): the best tier.
        _ => Isa::Best,
    })
}

/// `SIMDPOOL_FUZZ_DEBUG` set: print each decoded request (to replay a crash or slow unit).
fn debug() -> bool {
    static DEBUG: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *DEBUG.get_or_init(|| std::env::var_os("SIMDPOOL_FUZZ_DEBUG").is_some())
}

/// Known findings a run was told to skip (`SIMDPOOL_FUZZ_ALLOW`, a comma list; default none):
/// - `separable-scratch`: windowed requests with a kernel of 2^16 taps or more, or 2^18
///   spatial positions or more (the stride-1 separable kernels' scratch overflows, cannot be
///   allocated, or takes gigabytes; tests/regressions.rs
///   `plan_new_separable_huge_kernel_scratch_does_not_overflow`,
///   `plan_new_separable_scratch_is_bounded_by_the_problem`).
/// - `dilation-overflow`: windowed requests with a dilation of 2^20 or more (a kernel's tap
///   step `dilation * stride` overflows; `one_tap_window_with_huge_dilation_runs`).
fn allowed(name: &str) -> bool {
    static ALLOW: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    ALLOW
        .get_or_init(|| {
            std::env::var("SIMDPOOL_FUZZ_ALLOW")
                .unwrap_or_default()
                .split(',')
                .map(|s| s.trim().to_string())
                .collect()
        })
        .iter()
        .any(|a| a == name)
}

/// An error must carry a message.
fn ok_or_message<T>(what: &str, r: &Result<T, Error>) {
    if let Err(e) = r {
        assert!(
            !e.message().is_empty(),
            "{what}: empty error message ({e:?})"
        );
        assert!(!e.to_string().is_empty(), "{what}: empty Display ({e:?})");
    }
}

/// A shape perturbed from `s` (or `s` itself).
fn perturb(u: &mut Unstructured, s: Shape) -> AResult<Shape> {
    if u.ratio(3u8, 4u8)? {
        return Ok(s);
    }
    let mut n = s.n();
    let mut sp = s.spatial().as_slice().to_vec();
    let mut c = s.c();
    match u.int_in_range(0u8..=4)? {
        0 => n = any_size(u)?,
        1 => c = any_size(u)?,
        2 => {
            let i = u.int_in_range(0..=sp.len() - 1)?;
            sp[i] = any_size(u)?;
        }
        3 => {
            // Another rank.
            let r = u.int_in_range(1usize..=3)?;
            sp.resize(r, 1);
        }
        _ => {
            n = n.wrapping_add(1);
            c = c.saturating_sub(1);
        }
    }
    Ok(Shape::new(n, Dims::from_slice(&sp).expect("rank 1..=3"), c))
}

/// Strides for `s`: dense, dense plus extras, or arbitrary.
fn strides(u: &mut Unstructured, s: Shape) -> AResult<Strides> {
    let rank = s.spatial().rank();
    match u.int_in_range(0u8..=3)? {
        0 | 1 => {
            if let Ok(d) = Strides::dense(&s) {
                if u.arbitrary()? {
                    return Ok(d);
                }
                let mut sp = d.spatial.as_slice().to_vec();
                for x in &mut sp {
                    *x = x.saturating_add(u.int_in_range(0usize..=3)?);
                }
                return Ok(Strides {
                    batch: d.batch.saturating_add(u.int_in_range(0usize..=3)?),
                    spatial: Dims::from_slice(&sp).expect("rank"),
                });
            }
            Ok(Strides {
                batch: any_size(u)?,
                spatial: dims(u, rank)?,
            })
        }
        2 => Ok(Strides {
            batch: any_size(u)?,
            spatial: {
                let r = any_rank(u, rank)?;
                dims(u, r)?
            },
        }),
        _ => {
            // Dense minus one somewhere (too small).
            let d = Strides::dense(&s).unwrap_or(Strides {
                batch: 0,
                spatial: dims(u, rank)?,
            });
            let mut sp = d.spatial.as_slice().to_vec();
            let i = u.int_in_range(0..=sp.len())?;
            let batch = if i == sp.len() {
                d.batch.saturating_sub(1)
            } else {
                d.batch
            };
            if i < sp.len() {
                sp[i] = sp[i].saturating_sub(1);
            }
            Ok(Strides {
                batch,
                spatial: Dims::from_slice(&sp).expect("rank"),
            })
        }
    }
}

/// A buffer length for a view of `s` with strides `st`: what it needs, a bit less, or more.
fn buffer_len(u: &mut Unstructured, need: Option<usize>) -> AResult<usize> {
    let base = need.unwrap_or(16).min(MAX_ELEMS);
    Ok(match u.int_in_range(0u8..=5)? {
        0 => base.saturating_sub(1),
        1 => base.saturating_sub(u.int_in_range(0usize..=64)?),
        2 => base + u.int_in_range(0usize..=8)?,
        3 => u.int_in_range(0usize..=64)?,
        _ => base,
    })
}

/// Elements a view of `s` with `st` needs (None if it overflows or the strides are odd).
fn needed(s: Shape, st: &Strides) -> Option<usize> {
    if s.is_empty() || st.spatial.rank() != s.spatial().rank() {
        return Some(0);
    }
    let mut last = (s.n() - 1).checked_mul(st.batch)?.checked_add(s.c())?;
    for (d, x) in s.spatial().as_slice().iter().zip(st.spatial.as_slice()) {
        last = (d - 1).checked_mul(*x)?.checked_add(last)?;
    }
    Some(last)
}

fn api_case(u: &mut Unstructured) -> AResult<()> {
    let rank = u.int_in_range(1usize..=3)?;
    let rank = if rank == 3 && u.ratio(3u8, 4u8)? {
        2
    } else {
        rank
    };
    let shape = Shape::new(any_size(u)?, dims(u, rank)?, any_size(u)?);
    let params = params(u, rank)?;
    let isa = isa(u)?;
    if debug() {
        eprintln!("api case: shape {shape:?} isa {isa:?} params {params:?}");
    }
    if allowed("dilation-overflow") {
        if let simdpool::Pooling::Window { window, .. } = params.pooling {
            if window.dilation.as_slice().iter().any(|&d| d >= 1 << 20) {
                return Ok(());
            }
        }
    }
    if allowed("separable-scratch") {
        if let simdpool::Pooling::Window { window, .. } = params.pooling {
            let positions = shape
                .spatial()
                .as_slice()
                .iter()
                .try_fold(1usize, |a, &d| a.checked_mul(d));
            if window.kernel.as_slice().iter().any(|&k| k >= 1 << 16)
                || positions.is_none_or(|p| p >= 1 << 18)
            {
                return Ok(());
            }
        }
    }

    // Owned tensors from a fuzzed shape: only when small or overflowing (never allocate a lot).
    match shape.num_elements() {
        None => {
            let r = Tensor::<f32>::zeros(shape);
            assert!(
                r.is_err(),
                "Tensor::zeros({shape}) of an overflowing shape succeeded"
            );
            ok_or_message("Tensor::zeros", &r);
            let r = Tensor::<f32>::from_slice(shape, &[1.0, 2.0]);
            assert!(r.is_err());
            ok_or_message("Tensor::from_slice", &r);
            ok_or_message("Strides::dense", &Strides::dense(&shape));
        }
        Some(n) if n <= MAX_ELEMS => {
            let r = Tensor::<f32>::zeros(shape);
            ok_or_message("Tensor::zeros", &r);
            let data = vec![0.5f32; u.int_in_range(0usize..=n + 2)?];
            let r = Tensor::<f32>::from_slice(shape, &data);
            assert_eq!(
                r.is_ok(),
                data.len() == n,
                "Tensor::from_slice({shape}, {} values)",
                data.len()
            );
            ok_or_message("Tensor::from_slice", &r);
        }
        _ => {}
    }

    let plan = if u.ratio(1u8, 16u8)? {
        // A kernel forced by name: a registry name, a mangled one, or arbitrary text.
        let reg = simdpool::registry();
        let name: String = match u.int_in_range(0u8..=2)? {
            0 if !reg.is_empty() => reg[u.int_in_range(0..=reg.len() - 1)?].name.to_string(),
            1 if !reg.is_empty() => {
                let mut s = reg[u.int_in_range(0..=reg.len() - 1)?].name.to_string();
                s.push('x');
                s
            }
            _ => u.arbitrary()?,
        };
        let r = Plan::with_kernel(&params, shape, &name);
        ok_or_message("Plan::with_kernel", &r);
        r
    } else {
        let r = Plan::new(&params, shape, isa);
        ok_or_message("Plan::new", &r);
        r
    };
    let Ok(plan) = plan else { return Ok(()) };

    // A valid plan: views of (possibly) other shapes, strides and lengths, then run.
    let in_shape = perturb(u, plan.input_shape())?;
    let out_shape = perturb(u, plan.output_shape())?;
    let in_strides = strides(u, in_shape)?;
    let out_strides = strides(u, out_shape)?;
    let in_len = buffer_len(u, needed(in_shape, &in_strides))?;
    let out_len = buffer_len(u, needed(out_shape, &out_strides))?;
    let in_buf: Vec<f32> = (0..in_len).map(|i| (i % 13) as f32 - 6.0).collect();
    let mut out_buf = vec![f32::from_bits(SENTINEL); out_len];
    let input = TensorView::with_strides(&in_buf, in_shape, in_strides);
    ok_or_message("TensorView::with_strides", &input);
    let Ok(input) = input else { return Ok(()) };
    let output = TensorViewMut::with_strides(&mut out_buf, out_shape, out_strides);
    ok_or_message("TensorViewMut::with_strides", &output);
    let Ok(output) = output else { return Ok(()) };
    let how = u.int_in_range(0u8..=3)?;
    let seed: u64 = u.arbitrary()?;
    let r = match how {
        0 => plan.run(input, output),
        1 => plan.run_with_seed(input, output, seed),
        2 => plan.run_with(input, output, Threads::Current, Some(seed)),
        _ => plan.run_with(input, output, Threads::Global, None),
    };
    ok_or_message("Plan::run", &r);
    match r {
        Err(_) => {
            if let Some(i) = out_buf.iter().position(|x| x.to_bits() != SENTINEL) {
                panic!(
                    "run returned {r:?} but wrote output element {i} (plan {}, in {in_shape} {in_strides:?}, out {out_shape} {out_strides:?})",
                    plan.kernel_name()
                );
            }
        }
        Ok(()) => {
            // Success only for the plan's own shapes.
            assert_eq!(
                in_shape,
                plan.input_shape(),
                "run accepted another input shape"
            );
            assert_eq!(
                out_shape,
                plan.output_shape(),
                "run accepted another output shape"
            );
        }
    }
    Ok(())
}

fn bytes_case(u: &mut Unstructured) -> AResult<()> {
    // from_bytes on (mis)aligned, odd-length bytes.
    let rank = u.int_in_range(1usize..=3)?;
    let shape = Shape::new(any_size(u)?, dims(u, rank)?, any_size(u)?);
    let misalign = u.int_in_range(0usize..=3)?;
    let len = u.int_in_range(0usize..=4096)?;
    let mut storage = vec![0u32; len / 4 + 2];
    let bytes: &mut [u8] = bytemuck_bytes(&mut storage);
    let end = (misalign + len).min(bytes.len());
    let slice = &mut bytes[misalign..end];
    let r = TensorView::from_bytes(slice, shape);
    ok_or_message("TensorView::from_bytes", &r);
    if misalign % 4 != 0 && !slice.is_empty() {
        assert!(r.is_err(), "from_bytes accepted misaligned bytes");
    }
    let r = TensorViewMut::from_bytes(slice, shape);
    ok_or_message("TensorViewMut::from_bytes", &r);
    if let Ok(v) = r {
        assert_eq!(v.shape(), shape);
        // Every element the view addresses lies inside the bytes.
        if let Some(need) = needed(shape, &v.strides()) {
            assert!(
                need <= v.data().len(),
                "view of {shape} needs {need} elements, has {}",
                v.data().len()
            );
        }
    }
    Ok(())
}

/// The bytes of a u32 buffer (4-byte aligned), without a dependency on bytemuck.
fn bytemuck_bytes(v: &mut [u32]) -> &mut [u8] {
    let len = v.len() * 4;
    // SAFETY: u32 has no padding and any byte pattern is a valid u8; the slice covers exactly
    // the vector's initialized elements and borrows it mutably.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<u8>(), len) }
}

fn npy_case(data: &[u8]) {
    let r = simdpool::npy::decode_f32(data);
    ok_or_message("npy::decode_f32", &r);
    match r {
        Err(e) => {
            assert!(
                e.message().starts_with("npy: "),
                "npy message {:?}",
                e.message()
            );
        }
        Ok(a) => {
            let count: usize = a.shape.iter().product();
            assert_eq!(
                count,
                a.data.len(),
                "decoded shape {:?} vs {} values",
                a.shape,
                a.data.len()
            );
            let bytes = simdpool::npy::encode_f32(&a.shape, &a.data)
                .unwrap_or_else(|e| panic!("re-encoding a decoded array failed: {e}"));
            let b = simdpool::npy::decode_f32(&bytes)
                .unwrap_or_else(|e| panic!("decoding an encoded array failed: {e}"));
            assert_eq!(a.shape, b.shape);
            assert!(
                a.data
                    .iter()
                    .zip(&b.data)
                    .all(|(x, y)| x.to_bits() == y.to_bits())
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => npy_case(rest),
        // A valid-looking npy header followed by fuzzed bytes reaches the header parser deeper.
        1 => {
            let mut v = b"\x93NUMPY\x01\x00".to_vec();
            v.extend_from_slice(rest);
            npy_case(&v)
        }
        2 => {
            let _ = bytes_case(&mut Unstructured::new(rest));
        }
        _ => {
            let _ = api_case(&mut Unstructured::new(rest));
        }
    }
});
