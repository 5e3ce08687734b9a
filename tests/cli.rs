//! End-to-end tests of the `simdpool` binary.
//!
//! - `run` on every operator, many parameter combinations and every `--isa` this CPU has,
//!   checked against the library's scalar reference (bitwise where SPEC.md demands it, else
//!   with `simdpool::check::compare`), with empty stdout and stderr and an exact `.npy` header;
//! - every error class of `run`: exit code 2, exactly one line on stderr naming the offending
//!   flag or value, nothing on stdout, an existing OUTPUT left byte for byte and a missing one
//!   not created;
//! - `info`, `bench`, no command and an unknown command.

use simdpool::{
    Divisor, GlobalOp, Isa, Padding, Plan, PoolParams, Pooling, Shape, StochasticMode, Tensor,
    TensorView, Tier, Window, WindowOp,
};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

const BIN: &str = env!("CARGO_BIN_EXE_simdpool");

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "simdpool-cli-test-{}-{n}-{tag}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create the test's temp dir");
        TempDir(path)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Fails if a temporary file of the writer (a dot file) was left behind.
    fn assert_no_stray_files(&self) {
        for e in fs::read_dir(&self.0).expect("list the temp dir") {
            let name = e.expect("dir entry").file_name();
            let name = name.to_string_lossy();
            assert!(
                !name.starts_with('.') && !name.ends_with(".tmp"),
                "stray file {name:?} left in {}",
                self.0.display()
            );
        }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Runs the binary with `args`, `SIMDPOOL_ISA` removed from its environment, then `env` set.
fn simdpool(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove(simdpool::ISA_ENV);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("spawn the simdpool binary")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

/// A tiny deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// A value in [-4, 4) on a grid of 1/64, so ties and exact zeros occur.
    fn value(&mut self) -> f32 {
        ((self.next() >> 40) % 512) as f32 / 64.0 - 4.0
    }
}

/// Input values; `special` sprinkles NaN, infinities, -0.0, huge and subnormal values.
fn input_data(shape: [usize; 4], seed: u64, special: bool) -> Vec<f32> {
    let len = shape.iter().product();
    let mut rng = Rng::new(seed);
    let mut v: Vec<f32> = (0..len).map(|_| rng.value()).collect();
    if special {
        let specials = [
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            -0.0,
            3.0e38,
            -3.0e38,
            1.0e-40,
            f32::INFINITY,
        ];
        for (i, s) in specials.iter().enumerate() {
            // Spread them out so that most windows stay finite.
            let at = (i * 37 + 5) % len;
            v[at] = *s;
        }
    }
    v
}

/// Checks the raw `.npy` header: magic, version 1.0, aligned header, `<f4`, C order, shape,
/// and the data length.
fn check_header(bytes: &[u8], dims: &[usize], ctx: &str) {
    assert!(bytes.len() >= 10, "{ctx}: output too short");
    assert_eq!(&bytes[..6], b"\x93NUMPY", "{ctx}: magic");
    assert_eq!(&bytes[6..8], &[1, 0], "{ctx}: format version");
    let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    assert_eq!((10 + hlen) % 64, 0, "{ctx}: header not 64-byte aligned");
    let header = std::str::from_utf8(&bytes[10..10 + hlen]).expect("ASCII header");
    assert!(
        header.ends_with('\n'),
        "{ctx}: header must end with a newline"
    );
    let shape = format!(
        "'shape': ({}), ",
        dims.iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    assert!(
        header.starts_with("{'descr': '<f4', 'fortran_order': False, "),
        "{ctx}: header {header:?}"
    );
    assert!(
        header.contains(&shape),
        "{ctx}: header {header:?} lacks {shape:?}"
    );
    let n: usize = dims.iter().product();
    assert_eq!(bytes.len() - 10 - hlen, 4 * n, "{ctx}: data length");
}

/// Every `--isa` value this CPU runs; `None` is "no --isa flag" (the default, best).
fn isas() -> Vec<Option<&'static str>> {
    let mut v = vec![None, Some("reference"), Some("baseline"), Some("best")];
    for t in simdpool::available_tiers() {
        if t != Tier::Baseline {
            v.push(Some(t.name()));
        }
    }
    v
}

// ---------------------------------------------------------------------------------------------
// Success cases
// ---------------------------------------------------------------------------------------------

/// One `run` invocation (without --isa and the positionals) and the same request built
/// directly with the library.
struct Case {
    name: &'static str,
    args: &'static [&'static str],
    params: PoolParams,
    /// The seed of stochastic training (`--train`).
    seed: Option<u64>,
    shape: [usize; 4],
    special: bool,
}

fn case(
    name: &'static str,
    args: &'static [&'static str],
    params: PoolParams,
    shape: [usize; 4],
) -> Case {
    Case {
        name,
        args,
        params,
        seed: None,
        shape,
        special: false,
    }
}

impl Case {
    fn special(mut self) -> Case {
        self.special = true;
        self
    }
    fn seed(mut self, s: u64) -> Case {
        self.seed = Some(s);
        self
    }
}

/// True for the operators SPEC.md holds to bitwise equality on every tier.
fn bitwise(params: &PoolParams) -> bool {
    match params.pooling {
        Pooling::Window { op, .. } => {
            matches!(
                op,
                WindowOp::Max | WindowOp::Stochastic(StochasticMode::Train { .. })
            ) || op == WindowOp::Lp(f64::INFINITY)
        }
        Pooling::Global(g) => g == GlobalOp::Max || g == GlobalOp::Lp(f64::INFINITY),
    }
}

/// NaN iff NaN, +0.0 and -0.0 equal, otherwise the same bits.
fn same_value(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()) || (a == 0.0 && b == 0.0)
}

fn run_cases(tag: &str, cases: &[Case]) {
    let dir = TempDir::new(tag);
    let isas = isas();
    for (ci, c) in cases.iter().enumerate() {
        let shape = Shape::nhwc(c.shape[0], c.shape[1], c.shape[2], c.shape[3]);
        let data = input_data(c.shape, 1000 + ci as u64, c.special);
        let input = dir.join(&format!("{}-in.npy", c.name));
        simdpool::npy::write_f32(&input, &c.shape, &data).expect("write the input");

        let plan = Plan::new(&c.params, shape, Isa::Reference)
            .unwrap_or_else(|e| panic!("{}: the library refuses the case: {e}", c.name));
        let x = Tensor::from_slice(shape, &data).expect("input tensor");
        let mut want = Tensor::zeros(plan.output_shape()).expect("output tensor");
        match c.seed {
            Some(s) => plan.run_with_seed(x.view(), want.view_mut(), s),
            None => plan.run(x.view(), want.view_mut()),
        }
        .expect("reference run");
        let dims = plan.output_shape().dims();

        for isa in &isas {
            let label = isa.unwrap_or("default");
            let ctx = format!("case {} --isa {label}", c.name);
            let output = dir.join(&format!("{}-{label}.npy", c.name));
            let mut argv = vec!["run"];
            argv.extend_from_slice(c.args);
            if let Some(i) = isa {
                argv.extend_from_slice(&["--isa", i]);
            }
            argv.push(path_str(&input));
            argv.push(path_str(&output));
            let out = simdpool(&argv, &[]);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{ctx}: {argv:?} failed: {}",
                text(&out.stderr)
            );
            assert!(
                out.stdout.is_empty(),
                "{ctx}: stdout {:?}",
                text(&out.stdout)
            );
            assert!(
                out.stderr.is_empty(),
                "{ctx}: stderr {:?}",
                text(&out.stderr)
            );

            let bytes = fs::read(&output).expect("read the output");
            check_header(&bytes, &dims, &ctx);
            let got = simdpool::npy::decode_f32(&bytes).expect("decode the output");
            assert_eq!(got.shape, dims, "{ctx}: output shape");
            let y = TensorView::new(&got.data, plan.output_shape()).expect("output view");

            let exact = *isa == Some("reference");
            if exact || bitwise(&c.params) {
                for (i, (&g, &w)) in got.data.iter().zip(want.as_slice()).enumerate() {
                    let ok = if exact {
                        g.to_bits() == w.to_bits()
                    } else {
                        same_value(g, w)
                    };
                    assert!(
                        ok,
                        "{ctx}: element {i} = {g:e} ({:#010x}), reference {w:e} ({:#010x})",
                        g.to_bits(),
                        w.to_bits()
                    );
                }
            }
            simdpool::check::compare(&plan, x.view(), y, c.seed.unwrap_or(0))
                .unwrap_or_else(|m| panic!("{ctx}: {m}"));
        }
    }
    dir.assert_no_stray_files();
}

fn w(k: [usize; 2]) -> Window {
    Window::new(k)
}

fn pad(t: usize, l: usize, b: usize, r: usize) -> Padding {
    Padding::explicit([t, l], [b, r])
}

#[test]
fn run_max() {
    let ninf = f32::NEG_INFINITY;
    run_cases(
        "max",
        &[
            case(
                "k2",
                &["--op", "max", "--kernel", "2,2"],
                PoolParams::max(w([2, 2])),
                [2, 7, 9, 3],
            ),
            case(
                "k3s2p1",
                &[
                    "--op", "max", "--kernel", "3,3", "--stride", "2,2", "--pad", "1,1,1,1",
                ],
                PoolParams::max(w([3, 3]).stride([2, 2]).padding(pad(1, 1, 1, 1))),
                [1, 9, 9, 5],
            ),
            case(
                "dilation-valid-ceil",
                &[
                    "--op",
                    "max",
                    "--kernel",
                    "3,2",
                    "--stride",
                    "2,1",
                    "--dilation",
                    "2,1",
                    "--pad",
                    "valid",
                    "--ceil",
                ],
                PoolParams::max(
                    w([3, 2])
                        .stride([2, 1])
                        .dilation([2, 1])
                        .padding(Padding::Valid)
                        .ceil_mode(true),
                ),
                [2, 10, 7, 3],
            ),
            case(
                "same-upper",
                &[
                    "--op",
                    "max",
                    "--kernel",
                    "3,3",
                    "--stride",
                    "2,2",
                    "--pad",
                    "same-upper",
                ],
                PoolParams::max(w([3, 3]).stride([2, 2]).padding(Padding::SameUpper)),
                [1, 8, 7, 4],
            ),
            case(
                "same-lower",
                &[
                    "--op",
                    "max",
                    "--kernel",
                    "2,3",
                    "--stride",
                    "3,2",
                    "--pad",
                    "same-lower",
                ],
                PoolParams::max(w([2, 3]).stride([3, 2]).padding(Padding::SameLower)),
                [2, 7, 8, 3],
            ),
            case(
                "asym-ceil-clamp",
                &[
                    "--op", "max", "--kernel", "3,3", "--stride", "2,2", "--pad", "0,1,2,1",
                    "--ceil", "--clamp", "-1,0.5",
                ],
                PoolParams::max(
                    w([3, 3])
                        .stride([2, 2])
                        .padding(pad(0, 1, 2, 1))
                        .ceil_mode(true),
                )
                .clamp(-1.0, 0.5),
                [1, 8, 9, 2],
            ),
            case(
                "dilated-padded",
                &[
                    "--op",
                    "max",
                    "--kernel",
                    "2,2",
                    "--dilation",
                    "3,2",
                    "--pad",
                    "2,1,1,1",
                ],
                PoolParams::max(w([2, 2]).dilation([3, 2]).padding(pad(2, 1, 1, 1))),
                [1, 7, 8, 3],
            ),
            case(
                "row",
                &["--op", "max", "--kernel", "1,3", "--stride", "1,2"],
                PoolParams::max(w([1, 3]).stride([1, 2])),
                [1, 1, 9, 4],
            ),
            case(
                "special-clamp-ninf",
                &["--op", "max", "--kernel", "2,2", "--clamp", "-inf,2"],
                PoolParams::max(w([2, 2])).clamp(ninf, 2.0),
                [2, 6, 6, 3],
            )
            .special(),
        ],
    );
}

#[test]
fn run_avg() {
    let inf = f32::INFINITY;
    run_cases(
        "avg",
        &[
            case(
                "k2",
                &["--op", "avg", "--kernel", "2,2"],
                PoolParams::avg(w([2, 2]), Divisor::ExcludePad),
                [2, 7, 9, 3],
            ),
            case(
                "k3s2p1",
                &[
                    "--op", "avg", "--kernel", "3,3", "--stride", "2,2", "--pad", "1,1,1,1",
                ],
                PoolParams::avg(
                    w([3, 3]).stride([2, 2]).padding(pad(1, 1, 1, 1)),
                    Divisor::ExcludePad,
                ),
                [1, 9, 9, 5],
            ),
            case(
                "include-pad-ceil",
                &[
                    "--op",
                    "avg",
                    "--kernel",
                    "3,3",
                    "--stride",
                    "2,2",
                    "--pad",
                    "1,1,1,1",
                    "--count-include-pad",
                    "--ceil",
                ],
                PoolParams::avg(
                    w([3, 3])
                        .stride([2, 2])
                        .padding(pad(1, 1, 1, 1))
                        .ceil_mode(true),
                    Divisor::IncludePad,
                ),
                [1, 8, 8, 4],
            ),
            case(
                "include-pad-dilated",
                &[
                    "--op",
                    "avg",
                    "--kernel",
                    "3,2",
                    "--dilation",
                    "2,2",
                    "--pad",
                    "2,1,0,1",
                    "--count-include-pad",
                ],
                PoolParams::avg(
                    w([3, 2]).dilation([2, 2]).padding(pad(2, 1, 0, 1)),
                    Divisor::IncludePad,
                ),
                [2, 7, 8, 3],
            ),
            case(
                "divisor",
                &[
                    "--op",
                    "avg",
                    "--kernel",
                    "2,2",
                    "--stride",
                    "2,2",
                    "--divisor",
                    "3",
                ],
                PoolParams::avg(w([2, 2]).stride([2, 2]), Divisor::Override(3)),
                [2, 8, 8, 3],
            ),
            case(
                "same-upper-relu",
                &[
                    "--op",
                    "avg",
                    "--kernel",
                    "3,3",
                    "--stride",
                    "2,2",
                    "--pad",
                    "same-upper",
                    "--clamp",
                    "0,inf",
                ],
                PoolParams::avg(
                    w([3, 3]).stride([2, 2]).padding(Padding::SameUpper),
                    Divisor::ExcludePad,
                )
                .clamp(0.0, inf),
                [1, 7, 8, 4],
            ),
            case(
                "same-lower-divisor-wins",
                &[
                    "--op",
                    "avg",
                    "--kernel",
                    "2,2",
                    "--pad",
                    "same-lower",
                    "--divisor",
                    "5",
                    "--count-include-pad",
                ],
                PoolParams::avg(w([2, 2]).padding(Padding::SameLower), Divisor::Override(5)),
                [1, 6, 7, 3],
            ),
            case(
                "valid-ceil-clamp",
                &[
                    "--op",
                    "avg",
                    "--kernel",
                    "2,3",
                    "--stride",
                    "1,2",
                    "--pad",
                    "valid",
                    "--ceil",
                    "--clamp",
                    "-0.5,0.25",
                ],
                PoolParams::avg(
                    w([2, 3])
                        .stride([1, 2])
                        .padding(Padding::Valid)
                        .ceil_mode(true),
                    Divisor::ExcludePad,
                )
                .clamp(-0.5, 0.25),
                [1, 5, 8, 2],
            ),
            case(
                "special",
                &["--op", "avg", "--kernel", "3,3", "--pad", "1,1,1,1"],
                PoolParams::avg(w([3, 3]).padding(pad(1, 1, 1, 1)), Divisor::ExcludePad),
                [2, 6, 6, 3],
            )
            .special(),
        ],
    );
}

#[test]
fn run_lp() {
    let inf = f64::INFINITY;
    run_cases(
        "lp",
        &[
            case(
                "default-p2",
                &["--op", "lp", "--kernel", "2,2"],
                PoolParams::lp(w([2, 2]), 2.0),
                [2, 7, 9, 3],
            ),
            case(
                "p2-explicit",
                &[
                    "--op", "lp", "--kernel", "3,2", "--p", "2", "--stride", "2,1",
                ],
                PoolParams::lp(w([3, 2]).stride([2, 1]), 2.0),
                [1, 7, 6, 3],
            ),
            case(
                "p1",
                &[
                    "--op", "lp", "--p", "1", "--kernel", "3,3", "--stride", "2,2", "--pad",
                    "1,1,1,1",
                ],
                PoolParams::lp(w([3, 3]).stride([2, 2]).padding(pad(1, 1, 1, 1)), 1.0),
                [1, 9, 9, 5],
            ),
            case(
                "p3-dilation-ceil",
                &[
                    "--op",
                    "lp",
                    "--p",
                    "3",
                    "--kernel",
                    "3,2",
                    "--dilation",
                    "2,1",
                    "--stride",
                    "2,2",
                    "--ceil",
                ],
                PoolParams::lp(
                    w([3, 2]).dilation([2, 1]).stride([2, 2]).ceil_mode(true),
                    3.0,
                ),
                [2, 9, 7, 3],
            ),
            case(
                "p0.5-same-upper",
                &[
                    "--op",
                    "lp",
                    "--p",
                    "0.5",
                    "--kernel",
                    "2,2",
                    "--stride",
                    "2,2",
                    "--pad",
                    "same-upper",
                ],
                PoolParams::lp(w([2, 2]).stride([2, 2]).padding(Padding::SameUpper), 0.5),
                [1, 7, 7, 4],
            ),
            case(
                "pinf-same-lower-clamp",
                &[
                    "--op",
                    "lp",
                    "--p",
                    "inf",
                    "--kernel",
                    "3,3",
                    "--stride",
                    "2,2",
                    "--pad",
                    "same-lower",
                    "--clamp",
                    "0.5,3",
                ],
                PoolParams::lp(w([3, 3]).stride([2, 2]).padding(Padding::SameLower), inf)
                    .clamp(0.5, 3.0),
                [1, 8, 8, 3],
            ),
            case(
                "p1.5-asym-ceil",
                &[
                    "--op", "lp", "--p", "1.5", "--kernel", "3,3", "--stride", "2,2", "--pad",
                    "0,1,2,1", "--ceil", "--clamp", "-inf,inf",
                ],
                PoolParams::lp(
                    w([3, 3])
                        .stride([2, 2])
                        .padding(pad(0, 1, 2, 1))
                        .ceil_mode(true),
                    1.5,
                )
                .clamp(f32::NEG_INFINITY, f32::INFINITY),
                [1, 8, 9, 2],
            ),
            case(
                "pinf-special",
                &["--op", "lp", "--p", "inf", "--kernel", "2,2"],
                PoolParams::lp(w([2, 2]), inf),
                [2, 6, 6, 3],
            )
            .special(),
            case(
                "p3-special",
                &[
                    "--op", "lp", "--p", "3", "--kernel", "2,3", "--pad", "1,1,0,1",
                ],
                PoolParams::lp(w([2, 3]).padding(pad(1, 1, 0, 1)), 3.0),
                [2, 6, 6, 3],
            )
            .special(),
        ],
    );
}

#[test]
fn run_stochastic() {
    run_cases(
        "stochastic",
        &[
            case(
                "inference",
                &["--op", "stochastic", "--kernel", "2,2"],
                PoolParams::stochastic_inference(w([2, 2])),
                [2, 7, 9, 3],
            ),
            case(
                "inference-padded-clamp",
                &[
                    "--op",
                    "stochastic",
                    "--kernel",
                    "3,3",
                    "--stride",
                    "2,2",
                    "--pad",
                    "1,1,1,1",
                    "--clamp",
                    "0,1",
                ],
                PoolParams::stochastic_inference(w([3, 3]).stride([2, 2]).padding(pad(1, 1, 1, 1)))
                    .clamp(0.0, 1.0),
                [1, 9, 9, 5],
            ),
            case(
                "inference-same-lower-special",
                &[
                    "--op",
                    "stochastic",
                    "--kernel",
                    "2,3",
                    "--stride",
                    "2,2",
                    "--pad",
                    "same-lower",
                ],
                PoolParams::stochastic_inference(
                    w([2, 3]).stride([2, 2]).padding(Padding::SameLower),
                ),
                [2, 6, 7, 3],
            )
            .special(),
            case(
                "train-default-seed",
                &["--op", "stochastic", "--kernel", "2,2", "--train"],
                PoolParams::stochastic_train(w([2, 2]), 0),
                [2, 7, 9, 3],
            )
            .seed(0),
            case(
                "train-seed-same-upper",
                &[
                    "--op",
                    "stochastic",
                    "--train",
                    "--seed",
                    "12345",
                    "--kernel",
                    "3,3",
                    "--stride",
                    "2,2",
                    "--pad",
                    "same-upper",
                ],
                PoolParams::stochastic_train(
                    w([3, 3]).stride([2, 2]).padding(Padding::SameUpper),
                    0,
                ),
                [1, 8, 8, 4],
            )
            .seed(12345),
            case(
                "train-max-seed-dilated-ceil",
                &[
                    "--op",
                    "stochastic",
                    "--train",
                    "--seed",
                    "18446744073709551615",
                    "--kernel",
                    "3,2",
                    "--dilation",
                    "2,2",
                    "--pad",
                    "2,1,2,1",
                    "--ceil",
                ],
                PoolParams::stochastic_train(
                    w([3, 2])
                        .dilation([2, 2])
                        .padding(pad(2, 1, 2, 1))
                        .ceil_mode(true),
                    0,
                ),
                [1, 8, 6, 3],
            )
            .seed(u64::MAX),
            case(
                "train-valid-stride",
                &[
                    "--op",
                    "stochastic",
                    "--kernel",
                    "2,2",
                    "--stride",
                    "2,1",
                    "--pad",
                    "valid",
                    "--train",
                    "--seed",
                    "99",
                ],
                PoolParams::stochastic_train(w([2, 2]).stride([2, 1]).padding(Padding::Valid), 0),
                [3, 5, 6, 2],
            )
            .seed(99),
            case(
                "train-special-clamp",
                &[
                    "--op",
                    "stochastic",
                    "--kernel",
                    "2,2",
                    "--train",
                    "--seed",
                    "7",
                    "--clamp",
                    "-inf,1",
                ],
                PoolParams::stochastic_train(w([2, 2]), 0).clamp(f32::NEG_INFINITY, 1.0),
                [2, 6, 6, 3],
            )
            .seed(7)
            .special(),
        ],
    );
}

#[test]
fn run_global_max() {
    run_cases(
        "gmax",
        &[
            case(
                "plain",
                &["--op", "global-max"],
                PoolParams::global_max(),
                [2, 7, 9, 3],
            ),
            case(
                "clamp",
                &["--op", "global-max", "--clamp", "-1,0.5"],
                PoolParams::global_max().clamp(-1.0, 0.5),
                [1, 5, 5, 4],
            ),
            case(
                "one-pixel",
                &["--op", "global-max"],
                PoolParams::global_max(),
                [1, 1, 1, 5],
            ),
            case(
                "special",
                &["--op", "global-max", "--clamp", "-inf,inf"],
                PoolParams::global_max().clamp(f32::NEG_INFINITY, f32::INFINITY),
                [2, 4, 4, 3],
            )
            .special(),
        ],
    );
}

#[test]
fn run_global_avg() {
    run_cases(
        "gavg",
        &[
            case(
                "plain",
                &["--op", "global-avg"],
                PoolParams::global_avg(),
                [2, 7, 9, 3],
            ),
            case(
                "relu",
                &["--op", "global-avg", "--clamp", "0,inf"],
                PoolParams::global_avg().clamp(0.0, f32::INFINITY),
                [1, 6, 5, 4],
            ),
            case(
                "row",
                &["--op", "global-avg", "--clamp", "-0.25,0.25"],
                PoolParams::global_avg().clamp(-0.25, 0.25),
                [3, 1, 7, 2],
            ),
            case(
                "special",
                &["--op", "global-avg"],
                PoolParams::global_avg(),
                [2, 4, 4, 3],
            )
            .special(),
        ],
    );
}

#[test]
fn run_global_lp() {
    let inf = f64::INFINITY;
    run_cases(
        "glp",
        &[
            case(
                "default-p2",
                &["--op", "global-lp"],
                PoolParams::global_lp(2.0),
                [2, 7, 9, 3],
            ),
            case(
                "p1",
                &["--op", "global-lp", "--p", "1"],
                PoolParams::global_lp(1.0),
                [1, 6, 5, 4],
            ),
            case(
                "p2-clamp",
                &["--op", "global-lp", "--p", "2", "--clamp", "0.25,1e30"],
                PoolParams::global_lp(2.0).clamp(0.25, 1e30),
                [1, 5, 5, 3],
            ),
            case(
                "p3",
                &["--op", "global-lp", "--p", "3"],
                PoolParams::global_lp(3.0),
                [2, 4, 6, 3],
            ),
            case(
                "p0.5",
                &["--op", "global-lp", "--p", "0.5"],
                PoolParams::global_lp(0.5),
                [1, 5, 4, 2],
            ),
            case(
                "pinf",
                &["--op", "global-lp", "--p", "inf", "--clamp", "-1,2"],
                PoolParams::global_lp(inf).clamp(-1.0, 2.0),
                [2, 5, 5, 3],
            ),
            case(
                "pinf-special",
                &["--op", "global-lp", "--p", "inf"],
                PoolParams::global_lp(inf),
                [2, 4, 4, 3],
            )
            .special(),
        ],
    );
}

/// N = 0 and C = 0 are valid (SPEC: nothing to do): the output is empty with the right shape.
#[test]
fn run_empty_batch_and_channels() {
    run_cases(
        "empty",
        &[
            case(
                "n0",
                &["--op", "max", "--kernel", "2,2"],
                PoolParams::max(w([2, 2])),
                [0, 4, 4, 3],
            ),
            case(
                "c0",
                &["--op", "avg", "--kernel", "3,3", "--stride", "2,2"],
                PoolParams::avg(w([3, 3]).stride([2, 2]), Divisor::ExcludePad),
                [2, 5, 5, 0],
            ),
            case(
                "n0-global",
                &["--op", "global-avg"],
                PoolParams::global_avg(),
                [0, 3, 3, 2],
            ),
        ],
    );
}

/// An existing OUTPUT is replaced on success; `--threads 1` works; `SIMDPOOL_ISA` caps `best`;
/// an output path equal to the input path works (the input is read first).
#[test]
fn run_misc_success() {
    let dir = TempDir::new("misc");
    let input = dir.join("in.npy");
    let shape = [1, 6, 6, 3];
    let data = input_data(shape, 5, false);
    simdpool::npy::write_f32(&input, &shape, &data).unwrap();
    let params = PoolParams::max(w([2, 2]).stride([2, 2]));
    let plan = Plan::new(
        &params,
        Shape::nhwc(shape[0], shape[1], shape[2], shape[3]),
        Isa::Reference,
    )
    .unwrap();
    let x = Tensor::from_slice(plan.input_shape(), &data).unwrap();
    let mut want = Tensor::zeros(plan.output_shape()).unwrap();
    plan.run(x.view(), want.view_mut()).unwrap();
    let expected = simdpool::npy::encode_f32(&plan.output_shape().dims(), want.as_slice()).unwrap();

    let output = dir.join("out.npy");
    let args = |out: &Path, extra: &[&'static str]| -> Vec<String> {
        let mut v: Vec<String> = ["run", "--op", "max", "--kernel", "2,2", "--stride", "2,2"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v.push(path_str(&input).to_string());
        v.push(path_str(out).to_string());
        v
    };
    let check = |argv: Vec<String>, env: &[(&str, &str)], out: &Path| {
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let o = simdpool(&argv, env);
        assert_eq!(o.status.code(), Some(0), "{argv:?}: {}", text(&o.stderr));
        assert!(o.stdout.is_empty() && o.stderr.is_empty(), "{argv:?}");
        // The writer produces exactly the bytes of encode_f32 (max pooling is exact).
        assert_eq!(fs::read(out).unwrap(), expected, "{argv:?}");
    };

    fs::write(&output, b"an older file that must be replaced\n").unwrap();
    check(args(&output, &[]), &[], &output);
    check(args(&output, &["--threads", "1"]), &[], &output);
    for cap in ["reference", "baseline", "avx2", "avx512", "best", ""] {
        check(
            args(&output, &["--isa", "best"]),
            &[(simdpool::ISA_ENV, cap)],
            &output,
        );
    }
    // Flags after the positionals are accepted too.
    let argv = vec![
        "run".to_string(),
        path_str(&input).to_string(),
        path_str(&output).to_string(),
        "--op".into(),
        "max".into(),
        "--stride".into(),
        "2,2".into(),
        "--kernel".into(),
        "2,2".into(),
    ];
    check(argv, &[], &output);
    // INPUT == OUTPUT: the input is read first, then replaced by the output.
    let inout = dir.join("inout.npy");
    fs::copy(&input, &inout).unwrap();
    let argv = vec![
        "run".to_string(),
        "--op".into(),
        "max".into(),
        "--kernel".into(),
        "2,2".into(),
        "--stride".into(),
        "2,2".into(),
        path_str(&inout).to_string(),
        path_str(&inout).to_string(),
    ];
    check(argv, &[], &inout);
    dir.assert_no_stray_files();
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// The bytes a sentinel OUTPUT holds before a failing run.
const SENTINEL: &[u8] = b"sentinel: a failing run must leave this file as it is\n\x00\xff";

/// Returns the single stderr line of a failed run after checking the failure contract.
fn assert_failure(out: &Output, ctx: &str) -> String {
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{ctx}: exit status {:?}, stderr {stderr:?}",
        out.status
    );
    assert!(
        out.stdout.is_empty(),
        "{ctx}: stdout {:?}",
        text(&out.stdout)
    );
    assert!(
        stderr.ends_with('\n') && !stderr.ends_with("\n\n"),
        "{ctx}: stderr must end with one newline: {stderr:?}"
    );
    assert_eq!(
        stderr.matches('\n').count(),
        1,
        "{ctx}: stderr must be one line: {stderr:?}"
    );
    let line = stderr.trim_end_matches('\n').to_string();
    assert!(!line.trim().is_empty(), "{ctx}: empty error line");
    line
}

/// The fixture of the error tests: a directory with a valid input and a counter for outputs.
struct Fixture {
    dir: TempDir,
    input: PathBuf,
    count: usize,
}

impl Fixture {
    fn new(tag: &str) -> Fixture {
        let dir = TempDir::new(tag);
        let input = dir.join("in.npy");
        let shape = [1, 6, 6, 2];
        simdpool::npy::write_f32(&input, &shape, &input_data(shape, 3, false)).unwrap();
        Fixture {
            dir,
            input,
            count: 0,
        }
    }

    /// Writes an input file of the given raw bytes.
    fn raw(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.dir.join(name);
        fs::write(&p, bytes).unwrap();
        p
    }

    /// A valid f32 .npy of `shape` (any rank).
    fn npy(&self, name: &str, shape: &[usize]) -> PathBuf {
        let n: usize = shape.iter().product();
        let p = self.dir.join(name);
        simdpool::npy::write_f32(&p, shape, &vec![0.5; n]).unwrap();
        p
    }

    /// `simdpool run ARGS`, where the tokens `{in}` / `{out}` are replaced by the input and
    /// the output paths (`{none}` is dropped), and both are appended when no token appears. Runs twice: once onto a
    /// sentinel OUTPUT that must be left byte for byte, once onto a missing OUTPUT that must
    /// not be created. Every needle must appear in the error line.
    fn fail_with(&mut self, args: &[&str], input: &Path, env: &[(&str, &str)], needles: &[&str]) {
        self.count += 1;
        let sentinel = self.dir.join(&format!("sentinel-{}.npy", self.count));
        let fresh = self.dir.join(&format!("fresh-{}.npy", self.count));
        fs::write(&sentinel, SENTINEL).unwrap();
        for (output, exists) in [(&sentinel, true), (&fresh, false)] {
            let mut argv = vec!["run"];
            let placeholders = args.iter().any(|a| a.starts_with('{'));
            for a in args {
                match *a {
                    "{in}" => argv.push(path_str(input)),
                    "{out}" => argv.push(path_str(output)),
                    "{none}" => {}
                    a => argv.push(a),
                }
            }
            if !placeholders {
                argv.push(path_str(input));
                argv.push(path_str(output));
            }
            let ctx = format!("{argv:?} env {env:?}");
            let line = assert_failure(&simdpool(&argv, env), &ctx);
            for n in needles {
                assert!(
                    line.contains(n),
                    "{ctx}: error line {line:?} does not mention {n:?}"
                );
            }
            if exists {
                assert_eq!(
                    fs::read(output).unwrap(),
                    SENTINEL,
                    "{ctx}: existing OUTPUT was modified"
                );
            } else {
                assert!(!output.exists(), "{ctx}: OUTPUT was created");
            }
        }
        self.dir.assert_no_stray_files();
    }

    fn fail(&mut self, args: &[&str], needles: &[&str]) {
        let input = self.input.clone();
        self.fail_with(args, &input, &[], needles);
    }
}

#[test]
fn error_arguments() {
    let mut f = Fixture::new("err-args");
    // --op missing, unknown, or given twice.
    f.fail(&["--kernel", "2,2"], &["--op"]);
    f.fail(&[], &["--op"]);
    f.fail(&["--op", "median", "--kernel", "2,2"], &["median"]);
    f.fail(&["--op", "MAX", "--kernel", "2,2"], &["MAX"]);
    f.fail(
        &["--op", "max", "--op", "max", "--kernel", "2,2"],
        &["--op"],
    );
    // Unknown flags, long and short, and the --flag=value form.
    f.fail(&["--op", "max", "--kernel", "2,2", "--bogus"], &["--bogus"]);
    f.fail(&["--op", "max", "--kernel", "2,2", "-k"], &["-k"]);
    f.fail(&["--op=max", "--kernel", "2,2"], &["--op=max"]);
    f.fail(&["--op", "max", "--kernel=2,2"], &["--kernel=2,2"]);
    // A newline inside an argument does not split the error line (it is escaped).
    f.fail(&["--op", "max\nfoo", "--kernel", "2,2"], &["max\\nfoo"]);
    f.fail(
        &["--op", "max", "--kernel", "2,2", "--bo\ngus"],
        &["--bo\\ngus"],
    );
    f.fail(&["--op", "max", "--kernel", "2,\n2"], &["--kernel"]);
    // A flag or switch given twice.
    f.fail(
        &["--op", "max", "--kernel", "2,2", "--kernel", "3,3"],
        &["--kernel"],
    );
    f.fail(
        &["--op", "max", "--kernel", "2,2", "--ceil", "--ceil"],
        &["--ceil"],
    );
    f.fail(
        &[
            "--op",
            "avg",
            "--kernel",
            "2,2",
            "--count-include-pad",
            "--count-include-pad",
        ],
        &["--count-include-pad"],
    );
    f.fail(
        &[
            "--op",
            "stochastic",
            "--kernel",
            "2,2",
            "--train",
            "--train",
        ],
        &["--train"],
    );
    f.fail(
        &[
            "--op", "max", "--kernel", "2,2", "--clamp", "0,1", "--clamp", "0,2",
        ],
        &["--clamp"],
    );
    f.fail(
        &[
            "--op", "max", "--kernel", "2,2", "--isa", "best", "--isa", "best",
        ],
        &["--isa"],
    );
    // A missing value: at the end, or followed by another flag.
    f.fail(&["--op", "max", "{in}", "{out}", "--kernel"], &["--kernel"]);
    f.fail(&["--kernel", "2,2", "{in}", "{out}", "--op"], &["--op"]);
    f.fail(
        &["--op", "max", "--kernel", "--stride", "2,2"],
        &["--kernel"],
    );
    f.fail(&["--op", "--kernel", "2,2"], &["--op"]);
    f.fail(&["--op", "max", "--kernel", "--ceil"], &["--kernel"]);
    f.fail(
        &["--op", "lp", "--kernel", "2,2", "--p", "--train"],
        &["--p"],
    );
    // --kernel missing for every windowed op, refused for every global op.
    for op in ["max", "avg", "lp", "stochastic"] {
        f.fail(&["--op", op], &["--kernel"]);
        f.fail(&["--op", op, "--stride", "2,2"], &["--kernel"]);
    }
    for op in ["global-max", "global-avg", "global-lp"] {
        f.fail(&["--op", op, "--kernel", "2,2"], &["--kernel"]);
    }
    // Wrong number of positionals.
    f.fail(
        &["--op", "max", "--kernel", "2,2", "{none}"],
        &["positional"],
    );
    f.fail(&["--op", "max", "--kernel", "2,2", "{in}"], &["positional"]);
    f.fail(
        &["--op", "max", "--kernel", "2,2", "{out}"],
        &["positional"],
    );
    f.fail(
        &[
            "--op",
            "max",
            "--kernel",
            "2,2",
            "{in}",
            "{out}",
            "extra.npy",
        ],
        &["positional"],
    );
}

/// The flags that apply only to some operators, and those operators (the contract's table).
const APPLIES: &[(&str, Option<&str>, &[&str])] = &[
    ("--kernel", Some("2,2"), &["max", "avg", "lp", "stochastic"]),
    ("--stride", Some("1,1"), &["max", "avg", "lp", "stochastic"]),
    (
        "--dilation",
        Some("1,1"),
        &["max", "avg", "lp", "stochastic"],
    ),
    ("--pad", Some("valid"), &["max", "avg", "lp", "stochastic"]),
    (
        "--pad",
        Some("0,0,0,0"),
        &["max", "avg", "lp", "stochastic"],
    ),
    ("--ceil", None, &["max", "avg", "lp", "stochastic"]),
    ("--count-include-pad", None, &["avg"]),
    ("--divisor", Some("2"), &["avg"]),
    ("--p", Some("2"), &["lp", "global-lp"]),
    ("--p", Some("inf"), &["lp", "global-lp"]),
    ("--train", None, &["stochastic"]),
    ("--seed", Some("1"), &["stochastic"]),
];

const OPS: &[&str] = &[
    "max",
    "avg",
    "lp",
    "stochastic",
    "global-max",
    "global-avg",
    "global-lp",
];

fn windowed(op: &str) -> bool {
    !op.starts_with("global-")
}

#[test]
fn error_inapplicable_flags() {
    let mut f = Fixture::new("err-inapplicable");
    let mut refused = 0;
    for &(flag, value, ok) in APPLIES {
        for &op in OPS {
            if ok.contains(&op) {
                continue;
            }
            let mut args = vec!["--op", op];
            if windowed(op) && flag != "--kernel" {
                args.extend_from_slice(&["--kernel", "2,2"]);
            }
            args.push(flag);
            if let Some(v) = value {
                args.push(v);
            }
            f.fail(&args, &[flag]);
            refused += 1;
        }
    }
    assert_eq!(refused, 6 * 3 + 2 * 6 + 2 * 5 + 2 * 6);
    // --seed applies to stochastic only with --train.
    f.fail(
        &["--op", "stochastic", "--kernel", "2,2", "--seed", "3"],
        &["--seed"],
    );
    f.fail(
        &["--op", "stochastic", "--kernel", "2,2", "--seed", "0"],
        &["--seed"],
    );
}

#[test]
fn error_values() {
    let mut f = Fixture::new("err-values");
    let mx = |extra: &[&'static str]| -> Vec<&'static str> {
        let mut v = vec!["--op", "max"];
        v.extend_from_slice(extra);
        v
    };
    // Non-numeric or malformed numbers.
    for (flag, bad) in [
        ("--kernel", "a,b"),
        ("--kernel", "2,x"),
        ("--kernel", "2.5,2"),
        ("--kernel", "-1,2"),
        ("--kernel", ""),
        ("--kernel", "2,"),
        ("--kernel", "99999999999999999999999,2"),
        ("--kernel", "3"),
        ("--kernel", "3,3,3"),
        ("--stride", "two,2"),
        ("--stride", "2"),
        ("--dilation", "1,1,1"),
        ("--dilation", "1;1"),
        ("--pad", "1,1"),
        ("--pad", "1,1,a,1"),
        ("--pad", "-1,0,0,0"),
        ("--pad", "same"),
        ("--pad", "VALID"),
    ] {
        let mut args = vec!["--op", "max"];
        if flag != "--kernel" {
            args.extend_from_slice(&["--kernel", "2,2"]);
        }
        args.extend_from_slice(&[flag, bad]);
        f.fail(&args, &[flag]);
    }
    f.fail(
        &["--op", "avg", "--kernel", "2,2", "--divisor", "two"],
        &["--divisor"],
    );
    f.fail(
        &["--op", "avg", "--kernel", "2,2", "--divisor", "-3"],
        &["--divisor"],
    );
    f.fail(
        &["--op", "avg", "--kernel", "2,2", "--divisor", "1.5"],
        &["--divisor"],
    );
    f.fail(&["--op", "lp", "--kernel", "2,2", "--p", "abc"], &["--p"]);
    f.fail(&["--op", "global-lp", "--p", "2x"], &["--p"]);
    for bad in ["xyz", "-1", "1.5", "18446744073709551616"] {
        f.fail(
            &[
                "--op",
                "stochastic",
                "--kernel",
                "2,2",
                "--train",
                "--seed",
                bad,
            ],
            &["--seed"],
        );
    }
    f.fail(&mx(&["--kernel", "2,2", "--clamp", "a,1"]), &["--clamp"]);
    f.fail(&mx(&["--kernel", "2,2", "--threads", "x"]), &["--threads"]);
    f.fail(&mx(&["--kernel", "2,2", "--threads", "-1"]), &["--threads"]);
    // --divisor 0, --p 0 / negative / NaN / -inf.
    f.fail(
        &["--op", "avg", "--kernel", "2,2", "--divisor", "0"],
        &["divisor", "0"],
    );
    for op in ["lp", "global-lp"] {
        let k: &[&str] = if op == "lp" {
            &["--kernel", "2,2"]
        } else {
            &[]
        };
        for (p, needle) in [
            ("0", "p = 0"),
            ("-1", "p = -1"),
            ("-0.5", "p = -0.5"),
            ("-inf", "p = -inf"),
            ("nan", "--p"),
            ("NaN", "--p"),
        ] {
            let mut args = vec!["--op", op];
            args.extend_from_slice(k);
            args.extend_from_slice(&["--p", p]);
            f.fail(&args, &[needle]);
        }
    }
    // Clamp: lo > hi, one value, three values, NaN, out of the f32 range.
    f.fail(
        &mx(&["--kernel", "2,2", "--clamp", "1,0"]),
        &["clamp", "1", "0"],
    );
    f.fail(&mx(&["--kernel", "2,2", "--clamp", "inf,-inf"]), &["clamp"]);
    f.fail(&["--op", "global-avg", "--clamp", "0.5,-0.5"], &["clamp"]);
    f.fail(&mx(&["--kernel", "2,2", "--clamp", "1"]), &["--clamp"]);
    f.fail(&mx(&["--kernel", "2,2", "--clamp", "0,1,2"]), &["--clamp"]);
    f.fail(&mx(&["--kernel", "2,2", "--clamp", "nan,1"]), &["--clamp"]);
    f.fail(&mx(&["--kernel", "2,2", "--clamp", "0,nan"]), &["--clamp"]);
    f.fail(
        &mx(&["--kernel", "2,2", "--clamp", "1e39,2e39"]),
        &["--clamp"],
    );
    f.fail(&mx(&["--kernel", "2,2", "--clamp", "0,1e39"]), &["--clamp"]);
}

#[test]
fn error_geometry() {
    let mut f = Fixture::new("err-geometry");
    // Zero kernel, stride, dilation (on either axis).
    f.fail(&["--op", "max", "--kernel", "0,2"], &["kernel", "0"]);
    f.fail(&["--op", "avg", "--kernel", "2,0"], &["kernel", "0"]);
    f.fail(
        &["--op", "max", "--kernel", "2,2", "--stride", "2,0"],
        &["stride", "0"],
    );
    f.fail(
        &["--op", "lp", "--kernel", "2,2", "--stride", "0,1"],
        &["stride", "0"],
    );
    f.fail(
        &["--op", "max", "--kernel", "2,2", "--dilation", "0,1"],
        &["dilation", "0"],
    );
    f.fail(
        &["--op", "stochastic", "--kernel", "2,2", "--dilation", "1,0"],
        &["dilation", "0"],
    );
    // Padding >= the effective kernel, begin and end, with and without dilation.
    f.fail(
        &["--op", "max", "--kernel", "2,2", "--pad", "2,0,0,0"],
        &["pad", "2"],
    );
    f.fail(
        &["--op", "avg", "--kernel", "2,2", "--pad", "0,0,0,2"],
        &["pad", "2"],
    );
    f.fail(
        &["--op", "max", "--kernel", "3,3", "--pad", "0,5,0,0"],
        &["pad", "5"],
    );
    f.fail(
        &[
            "--op",
            "max",
            "--kernel",
            "2,2",
            "--dilation",
            "2,2",
            "--pad",
            "3,0,0,0",
        ],
        &["pad", "3"],
    );
    // A window wholly in padding: in = 1, k = 2, d = 3, pad begin 2, end 1, along W.
    let thin = f.npy("thin.npy", &[1, 3, 1, 2]);
    for op in ["max", "avg", "lp", "stochastic"] {
        f.fail_with(
            &[
                "--op",
                op,
                "--kernel",
                "1,2",
                "--dilation",
                "1,3",
                "--pad",
                "0,2,0,1",
            ],
            &thin,
            &[],
            &["W", "padding"],
        );
    }
    // Empty output: the input is smaller than the kernel.
    let small = f.npy("small.npy", &[1, 2, 2, 1]);
    f.fail_with(&["--op", "max", "--kernel", "3,3"], &small, &[], &["empty"]);
    f.fail_with(
        &["--op", "avg", "--kernel", "2,5", "--pad", "0,1,0,1"],
        &small,
        &[],
        &["empty"],
    );
    f.fail_with(
        &["--op", "max", "--kernel", "3,2", "--dilation", "2,1"],
        &small,
        &[],
        &["empty"],
    );
    // A zero spatial size, windowed and global.
    let flat = f.npy("flat.npy", &[1, 0, 3, 2]);
    f.fail_with(&["--op", "max", "--kernel", "1,1"], &flat, &[], &["H"]);
    f.fail_with(&["--op", "global-avg"], &flat, &[], &["H"]);
    // Ceil with same padding.
    for p in ["same-upper", "same-lower"] {
        f.fail(
            &["--op", "max", "--kernel", "2,2", "--pad", p, "--ceil"],
            &["ceil"],
        );
    }
}

#[test]
fn error_isa_and_threads() {
    let mut f = Fixture::new("err-isa");
    f.fail(
        &["--op", "max", "--kernel", "2,2", "--isa", "bogus"],
        &["bogus"],
    );
    f.fail(
        &["--op", "max", "--kernel", "2,2", "--isa", "AVX2"],
        &["AVX2"],
    );
    f.fail(&["--op", "max", "--kernel", "2,2", "--isa", ""], &["isa"]);
    // A tier this CPU lacks (only testable on a CPU without it).
    let tiers = simdpool::available_tiers();
    for t in [Tier::Avx2, Tier::Avx512] {
        if !tiers.contains(&t) {
            f.fail(
                &["--op", "max", "--kernel", "2,2", "--isa", t.name()],
                &[t.name()],
            );
        }
    }
    // A bad SIMDPOOL_ISA with --isa best (or the default) fails naming the variable.
    let input = f.input.clone();
    for args in [
        &["--op", "max", "--kernel", "2,2", "--isa", "best"][..],
        &["--op", "global-avg"][..],
    ] {
        f.fail_with(
            args,
            &input,
            &[(simdpool::ISA_ENV, "bogus")],
            &[simdpool::ISA_ENV, "bogus"],
        );
    }
    f.fail(
        &["--op", "max", "--kernel", "2,2", "--threads", "0"],
        &["--threads"],
    );
    f.fail(&["--op", "global-max", "--threads", "0"], &["--threads"]);
}

/// A version 1.0 .npy file with this header dict and payload, padded as NumPy pads.
fn npy_by_hand(dict: &str, payload: &[u8]) -> Vec<u8> {
    let mut header = dict.to_string();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut v = b"\x93NUMPY\x01\x00".to_vec();
    v.extend_from_slice(&(header.len() as u16).to_le_bytes());
    v.extend_from_slice(header.as_bytes());
    v.extend_from_slice(payload);
    v
}

#[test]
fn error_files() {
    let mut f = Fixture::new("err-files");
    let max = ["--op", "max", "--kernel", "2,2"];
    // The hand-made writer agrees with the library for a valid file (so the bad ones below
    // are bad only where intended).
    let good = npy_by_hand(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 2, 1), }",
        &[0u8; 16],
    );
    let decoded = simdpool::npy::decode_f32(&good).expect("hand-made .npy decodes");
    assert_eq!(decoded.shape, vec![1, 2, 2, 1]);

    let missing = f.dir.join("does-not-exist.npy");
    f.fail_with(&max, &missing, &[], &["does-not-exist.npy"]);
    let not_npy = f.raw("not-an-npy.npy", b"this is not an npy file\n");
    f.fail_with(&max, &not_npy, &[], &["not-an-npy.npy"]);
    let empty = f.raw("empty.npy", b"");
    f.fail_with(&max, &empty, &[], &["empty.npy"]);
    let as_dir = f.dir.join("a-directory.npy");
    fs::create_dir(&as_dir).unwrap();
    f.fail_with(&max, &as_dir, &[], &["a-directory.npy"]);
    let f8 = f.raw(
        "f8.npy",
        &npy_by_hand(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2, 2, 1), }",
            &[0u8; 32],
        ),
    );
    f.fail_with(&max, &f8, &[], &["<f8"]);
    let be = f.raw(
        "be.npy",
        &npy_by_hand(
            "{'descr': '>f4', 'fortran_order': False, 'shape': (1, 2, 2, 1), }",
            &[0u8; 16],
        ),
    );
    f.fail_with(&max, &be, &[], &[">f4"]);
    let fortran = f.raw(
        "fortran.npy",
        &npy_by_hand(
            "{'descr': '<f4', 'fortran_order': True, 'shape': (1, 2, 2, 1), }",
            &[0u8; 16],
        ),
    );
    f.fail_with(&max, &fortran, &[], &["fortran"]);
    let rank3 = f.npy("rank3.npy", &[2, 3, 4]);
    f.fail_with(&max, &rank3, &[], &["rank 3"]);
    f.fail_with(&["--op", "global-max"], &rank3, &[], &["rank 3"]);
    // A newline in a path does not split the error line.
    let rank3_nl = f.npy("rank\n3.npy", &[2, 3, 4]);
    f.fail_with(&max, &rank3_nl, &[], &["rank 3"]);
    let missing_nl = f.dir.join("missing\nfile.npy");
    f.fail_with(&max, &missing_nl, &[], &["missing\\nfile.npy"]);
    let rank5 = f.npy("rank5.npy", &[1, 2, 3, 3, 2]);
    f.fail_with(&max, &rank5, &[], &["rank 5"]);
    let rank0 = f.npy("rank0.npy", &[]);
    f.fail_with(&["--op", "global-max"], &rank0, &[], &["rank 0"]);
    let mut bytes = simdpool::npy::encode_f32(&[1, 4, 4, 2], &[1.0; 32]).unwrap();
    bytes.truncate(bytes.len() - 3);
    let truncated = f.raw("truncated.npy", &bytes);
    f.fail_with(&max, &truncated, &[], &["truncated.npy"]);
    let mut bytes = simdpool::npy::encode_f32(&[1, 4, 4, 2], &[1.0; 32]).unwrap();
    bytes.extend_from_slice(&[0; 4]);
    let long = f.raw("too-long.npy", &bytes);
    f.fail_with(&max, &long, &[], &["too-long.npy"]);
    let header_only = f.raw("header-only.npy", &good[..40]);
    f.fail_with(&max, &header_only, &[], &["header-only.npy"]);

    // Unwritable outputs: a directory that does not exist, an existing directory, no name.
    let input = f.input.clone();
    let nodir = f.dir.join("no-such-dir");
    let out = nodir.join("out.npy");
    let mut argv: Vec<&str> = vec!["run"];
    argv.extend_from_slice(&max);
    argv.extend_from_slice(&[path_str(&input), path_str(&out)]);
    let line = assert_failure(&simdpool(&argv, &[]), "missing output dir");
    assert!(line.contains("no-such-dir"), "{line:?}");
    assert!(!nodir.exists(), "the output's directory was created");

    let outdir = f.dir.join("out-is-a-dir.npy");
    fs::create_dir(&outdir).unwrap();
    fs::write(outdir.join("inside"), b"x").unwrap();
    let mut argv: Vec<&str> = vec!["run"];
    argv.extend_from_slice(&max);
    argv.extend_from_slice(&[path_str(&input), path_str(&outdir)]);
    let line = assert_failure(&simdpool(&argv, &[]), "output is a directory");
    assert!(line.contains("out-is-a-dir.npy"), "{line:?}");
    assert!(outdir.is_dir());
    assert_eq!(fs::read(outdir.join("inside")).unwrap(), b"x");

    let mut argv: Vec<&str> = vec!["run"];
    argv.extend_from_slice(&max);
    argv.extend_from_slice(&[path_str(&input), ""]);
    assert_failure(&simdpool(&argv, &[]), "empty output path");
    f.dir.assert_no_stray_files();
}

// ---------------------------------------------------------------------------------------------
// info, bench, no command, unknown command
// ---------------------------------------------------------------------------------------------

#[test]
fn info_lists_every_kernel() {
    let out = simdpool(&["info"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(!simdpool::registry().is_empty());
    for k in simdpool::registry() {
        assert!(
            stdout
                .lines()
                .any(|l| l.split_whitespace().next() == Some(k.name)),
            "info does not list kernel {}:\n{stdout}",
            k.name
        );
    }
    let tiers = stdout
        .lines()
        .find(|l| l.starts_with("tiers available:"))
        .expect("a tiers line");
    for t in simdpool::available_tiers() {
        assert!(tiers.contains(t.name()), "{tiers}");
    }
    let line = assert_failure(&simdpool(&["info", "extra"], &[]), "info extra");
    assert!(line.contains("extra"), "{line:?}");
}

/// The number after `"key":` in a JSON line.
fn json_number(line: &str, key: &str) -> f64 {
    let pat = format!("\"{key}\":");
    let at = line
        .find(&pat)
        .unwrap_or_else(|| panic!("{key} missing: {line}"))
        + pat.len();
    let rest = &line[at..];
    let end = rest.find([',', '}']).expect("value end");
    rest[..end]
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{key} is not a number: {line}"))
}

#[test]
fn bench_json_and_filters() {
    let out = simdpool(&["bench", "--json", "--filter", "tiny"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(!lines.is_empty(), "no JSON lines");
    for l in &lines {
        assert!(
            l.starts_with('{') && l.ends_with('}'),
            "not a JSON line: {l:?}"
        );
        for key in ["workload", "kernel", "tier"] {
            assert!(l.contains(&format!("\"{key}\":\"")), "{key} missing: {l}");
        }
        assert!(l.contains("\"workload\":\"tiny"), "filter not applied: {l}");
        assert_eq!(json_number(l, "threads"), 1.0, "{l}");
        for key in ["median_us", "gbps", "speedup_vs_reference"] {
            let v = json_number(l, key);
            assert!(v.is_finite() && v >= 0.0, "{key} = {v}: {l}");
        }
        let at = json_number(l, "out_minus_in_mod_4k");
        assert!(
            (0.0..4096.0).contains(&at) && at.fract() == 0.0,
            "placement {at}: {l}"
        );
    }
    let line = assert_failure(
        &simdpool(&["bench", "--filter", "nomatch"], &[]),
        "bench nomatch",
    );
    assert!(line.contains("nomatch"), "{line:?}");
    let line = assert_failure(
        &simdpool(&["bench", "--json", "--bogus"], &[]),
        "bench --bogus",
    );
    assert!(line.contains("--bogus"), "{line:?}");
}

/// `simdpool bench | head -1`: once the reader has gone, the command stops quietly (status
/// 0, nothing on stderr) instead of panicking on the failed write.
#[test]
fn closed_stdout_is_not_a_panic() {
    for args in [&["bench", "--filter", "tiny"][..], &["info"][..]] {
        let mut child = Command::new(BIN)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn simdpool");
        // Closed before the child's first write (its start-up alone takes longer).
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait for simdpool");
        let stderr = text(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    }
}

#[test]
fn no_command_and_unknown_command() {
    let out = simdpool(&[], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(!out.stderr.is_empty(), "no usage on stderr");

    let line = assert_failure(&simdpool(&["frobnicate"], &[]), "unknown command");
    assert!(line.contains("frobnicate"), "{line:?}");
    let line = assert_failure(&simdpool(&["frob\nnicate"], &[]), "command with a newline");
    assert!(line.contains("frob\\nnicate"), "{line:?}");
    let line = assert_failure(&simdpool(&["--op", "max"], &[]), "flag as command");
    assert!(line.contains("--op"), "{line:?}");

    let out = simdpool(&["--help"], &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("simdpool run") || text(&out.stdout).contains("run"));
}

/// `simdpool bench --help` (and `-h`, for each command) prints the usage and succeeds; it
/// used to fail with "unknown option '--help'" and status 2.
#[test]
fn help_after_a_command_prints_the_usage() {
    for args in [
        &["bench", "--help"][..],
        &["info", "-h"][..],
        &["run", "--op", "max", "--help"][..],
    ] {
        let out = simdpool(args, &[]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(text(&out.stdout).starts_with("usage: simdpool"), "{args:?}");
    }
}

/// A path that is not valid UTF-8 must give the usual one-line error (here: the file does
/// not exist), not a panic. `src/main.rs` collects `std::env::args()`, which panics on such an
/// argument (exit code 101 and a backtrace); it needs `std::env::args_os()`.
#[cfg(unix)]
#[test]
fn non_utf8_path_is_an_error_not_a_panic() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let dir = TempDir::new("non-utf8");
    let input = dir.0.join(OsStr::from_bytes(b"in\xff.npy"));
    let output = dir.join("out.npy");
    let out = Command::new(BIN)
        .args(["run", "--op", "max", "--kernel", "2,2"])
        .arg(&input)
        .arg(&output)
        .env_remove(simdpool::ISA_ENV)
        .output()
        .expect("spawn the simdpool binary");
    assert_failure(&out, "non-UTF-8 input path");
    assert!(!output.exists());
}
