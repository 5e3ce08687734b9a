//! Golden tests: every SPEC.md geometry and operator rule on small inputs whose outputs were
//! worked out by hand from SPEC.md (the arithmetic sits in a comment beside each expectation;
//! none of them was produced by running the crate).
//!
//! Each case runs on the scalar reference, on every tier this CPU has and on `Isa::Best`, and
//! must give the same values everywhere: exactly for max-like operators (NaN iff NaN, +0.0 and
//! -0.0 equal), within a relative 1e-6 (sums, p = 1, 2) or 1e-5 (other p) otherwise.
//!
//! Unless a test says otherwise the hand-written values are channel 0; the same case is run
//! with C in [`CHANNELS`] (scalar tails, one vector, several vectors and a remainder on every
//! tier), and channel c holds channel 0's values times `scale(c)`, a power of two, so that every
//! expectation scales exactly (max, average, Lp and stochastic inference are all positively
//! homogeneous). Clamp cases are not homogeneous and replicate channel 0 unscaled.

use simdpool::philox::{philox4x32_10, stochastic_uniform};
use simdpool::{
    Dims, Divisor, Isa, Padding, Plan, PoolParams, Shape, Strides, Tensor, TensorView,
    TensorViewMut, Window, available_tiers,
};

const NAN: f32 = f32::NAN;
const INF: f32 = f32::INFINITY;

/// Channel counts every golden case runs with.
const CHANNELS: [usize; 5] = [1, 3, 16, 19, 67];

/// Written into output buffers before a run: an element left unwritten shows up as a mismatch.
const SENTINEL: f32 = -7.25e30;

/// The reference, every available tier, and `Best`.
fn isas() -> Vec<Isa> {
    let mut v = vec![Isa::Reference];
    v.extend(available_tiers().into_iter().map(Isa::Tier));
    v.push(Isa::Best);
    v
}

fn dims(s: &[usize]) -> Dims {
    Dims::from_slice(s).expect("1 to 3 spatial axes")
}

/// Channel c holds channel 0 times this (exact: a power of two).
fn scale(c: usize) -> f32 {
    [1.0, 2.0, 0.5, 4.0][c % 4]
}

#[derive(Clone, Copy, Debug)]
enum Tol {
    /// Equal as numbers (NaN iff NaN; +0.0 == -0.0).
    Exact,
    /// `|got - want| <= r * |want|`; NaN iff NaN, infinities and zeros exact.
    Rel(f32),
}

/// Sums and p = 1, 2: SPEC's `(K + 2) eps` / `(K + 4) eps` stay below this for K <= 9 and
/// same-signed inputs.
const SUM: Tol = Tol::Rel(1e-6);
/// Lp with other p (SPEC: relative 1e-5).
const LP: Tol = Tol::Rel(1e-5);

fn close(got: f32, want: f32, tol: Tol) -> bool {
    if want.is_nan() || got.is_nan() {
        return want.is_nan() && got.is_nan();
    }
    if want.is_infinite() || want == 0.0 {
        return got == want;
    }
    match tol {
        Tol::Exact => got == want,
        Tol::Rel(r) => (got - want).abs() <= r * want.abs(),
    }
}

/// Runs `params` on `n` images of size `spatial` whose channel 0 holds `x` (dense, image by
/// image, row-major) and checks the output shape `n x out x C` and every value against `want`
/// (same layout), on every ISA and every channel count of [`CHANNELS`].
#[allow(clippy::too_many_arguments)]
fn golden_impl(
    what: &str,
    params: &PoolParams,
    n: usize,
    spatial: &[usize],
    x: &[f32],
    out: &[usize],
    want: &[f32],
    tol: Tol,
    scaled: bool,
) {
    let p_in: usize = spatial.iter().product();
    let p_out: usize = out.iter().product();
    assert_eq!(x.len(), n * p_in, "{what}: input literal length");
    assert_eq!(want.len(), n * p_out, "{what}: expectation literal length");
    let sc = |ch: usize| if scaled { scale(ch) } else { 1.0 };
    for c in CHANNELS {
        let shape = Shape::new(n, dims(spatial), c);
        let input = Tensor::from_fn(shape, |i| x[i / c] * sc(i % c)).unwrap();
        for isa in isas() {
            let plan = Plan::new(params, shape, isa)
                .unwrap_or_else(|e| panic!("{what}: Plan::new on {isa} for {shape}: {e}"));
            assert_eq!(
                plan.output_shape(),
                Shape::new(n, dims(out), c),
                "{what}: output shape on {isa}"
            );
            let mut y = Tensor::from_fn(plan.output_shape(), |_| SENTINEL).unwrap();
            plan.run(input.view(), y.view_mut())
                .unwrap_or_else(|e| panic!("{what}: run on {isa}: {e}"));
            for (i, &g) in y.as_slice().iter().enumerate() {
                let (pix, ch) = (i / c, i % c);
                let w = want[pix] * sc(ch);
                assert!(
                    close(g, w, tol),
                    "{what}: {isa} ({}), C = {c}: output pixel {pix} channel {ch} = {g:e}, expected {w:e} ({tol:?})",
                    plan.kernel_name()
                );
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn golden(
    what: &str,
    params: &PoolParams,
    n: usize,
    spatial: &[usize],
    x: &[f32],
    out: &[usize],
    want: &[f32],
    tol: Tol,
) {
    golden_impl(what, params, n, spatial, x, out, want, tol, true);
}

/// As [`golden`] with every channel a copy of channel 0 (for clamps, which do not scale).
#[allow(clippy::too_many_arguments)]
fn golden_unscaled(
    what: &str,
    params: &PoolParams,
    n: usize,
    spatial: &[usize],
    x: &[f32],
    out: &[usize],
    want: &[f32],
    tol: Tol,
) {
    golden_impl(what, params, n, spatial, x, out, want, tol, false);
}

/// The 5x5 grid `x[h][w] = (7 * (5h + w)) mod 25` used by several cases (written out).
const GRID5: [f32; 25] = [
    0.0, 7.0, 14.0, 21.0, 3.0, //
    10.0, 17.0, 24.0, 6.0, 13.0, //
    20.0, 2.0, 9.0, 16.0, 23.0, //
    5.0, 12.0, 19.0, 1.0, 8.0, //
    15.0, 22.0, 4.0, 11.0, 18.0,
];

fn w1(k: usize) -> Window {
    Window::new([k])
}

// ---------------------------------------------------------------------------------------------
// Output sizes: floor and ceil mode, PyTorch's last-window rule.
// ---------------------------------------------------------------------------------------------

#[test]
fn floor_and_ceil_1d_with_batch() {
    // in = 5, k = 2, s = 2, no padding. Image 0: [1, 5, 2, 6, 3]; image 1: its negation.
    let x = [1.0, 5.0, 2.0, 6.0, 3.0, -1.0, -5.0, -2.0, -6.0, -3.0];
    let win = w1(2).stride([2]);
    // floor: out = (5 - 2) / 2 + 1 = 2; windows {0,1}, {2,3}.
    // image 0: max(1,5) = 5, max(2,6) = 6; image 1: max(-1,-5) = -1, max(-2,-6) = -2.
    golden(
        "max floor",
        &PoolParams::max(win),
        2,
        &[5],
        &x,
        &[2],
        &[5.0, 6.0, -1.0, -2.0],
        Tol::Exact,
    );
    // ceil: out = ceil(3 / 2) + 1 = 3; (3 - 1) * 2 = 4 < 5 + 0, so the last window (start 4,
    // taps {4, 5}, only 4 inside) is kept as a partial window: image 0 gives 3, image 1 -3.
    golden(
        "max ceil",
        &PoolParams::max(win.ceil_mode(true)),
        2,
        &[5],
        &x,
        &[3],
        &[5.0, 6.0, 3.0, -1.0, -2.0, -3.0],
        Tol::Exact,
    );
    // avg floor: (1+5)/2 = 3, (2+6)/2 = 4; image 1 negated.
    golden(
        "avg floor",
        &PoolParams::avg(win, Divisor::ExcludePad),
        2,
        &[5],
        &x,
        &[2],
        &[3.0, 4.0, -3.0, -4.0],
        SUM,
    );
    // avg ceil exclude-pad: last window 3/1 = 3. Include-pad: its count is
    // #{j in 0..2 : 4 + j < 5 + 0} = 1, so also 3 (PyTorch: min(4+2, 5) - 4 = 1).
    for d in [Divisor::ExcludePad, Divisor::IncludePad] {
        golden(
            &format!("avg ceil {d:?}"),
            &PoolParams::avg(win.ceil_mode(true), d),
            2,
            &[5],
            &x,
            &[3],
            &[3.0, 4.0, 3.0, -3.0, -4.0, -3.0],
            SUM,
        );
    }
}

#[test]
fn ceil_keeps_partial_window_k3() {
    // in = 6, k = 3, s = 2, x = [1, 5, 2, 6, 3, 4].
    let x = [1.0, 5.0, 2.0, 6.0, 3.0, 4.0];
    let win = w1(3).stride([2]);
    // floor: (6 - 3) / 2 + 1 = 2: {0,1,2} -> 5, {2,3,4} -> 6.
    golden(
        "floor",
        &PoolParams::max(win),
        1,
        &[6],
        &x,
        &[2],
        &[5.0, 6.0],
        Tol::Exact,
    );
    // ceil: ceil(3/2) + 1 = 3, (3-1)*2 = 4 < 6: kept; window 2 = {4, 5, (6)} -> max(3, 4) = 4.
    golden(
        "ceil max",
        &PoolParams::max(win.ceil_mode(true)),
        1,
        &[6],
        &x,
        &[3],
        &[5.0, 6.0, 4.0],
        Tol::Exact,
    );
    // ceil avg: (1+5+2)/3 = 8/3, (2+6+3)/3 = 11/3, (3+4)/2 = 3.5. Include-pad count of the
    // last window: #{j : 4 + j < 6} = 2, the same.
    for d in [Divisor::ExcludePad, Divisor::IncludePad] {
        golden(
            &format!("ceil avg {d:?}"),
            &PoolParams::avg(win.ceil_mode(true), d),
            1,
            &[6],
            &x,
            &[3],
            &[8.0 / 3.0, 11.0 / 3.0, 3.5],
            SUM,
        );
    }
}

#[test]
fn ceil_drops_window_starting_in_trailing_padding() {
    // in = 5, k = 2, s = 2, pad 1/1, x = [1, 5, 2, 6, 3].
    // ceil: ceil((5 + 2 - 2) / 2) + 1 = 4, but (4 - 1) * 2 = 6 >= 5 + 1: dropped, out = 3
    // (window 3 would be taps {5, 6}, wholly in padding). floor: 5 / 2 + 1 = 3.
    // Windows start at 2o - 1: {-1,0} -> {0}; {1,2}; {3,4}.
    let x = [1.0, 5.0, 2.0, 6.0, 3.0];
    for ceil in [false, true] {
        let win = w1(2)
            .stride([2])
            .padding(Padding::symmetric([1]))
            .ceil_mode(ceil);
        // max: 1, max(5,2) = 5, max(6,3) = 6.
        golden(
            &format!("max ceil={ceil}"),
            &PoolParams::max(win),
            1,
            &[5],
            &x,
            &[3],
            &[1.0, 5.0, 6.0],
            Tol::Exact,
        );
        // exclude-pad: 1/1, 7/2, 9/2.
        golden(
            &format!("avg ceil={ceil}"),
            &PoolParams::avg(win, Divisor::ExcludePad),
            1,
            &[5],
            &x,
            &[3],
            &[1.0, 3.5, 4.5],
            SUM,
        );
        // include-pad: counts #{j : start + j < 5 + 1} = 2, 2, 2 -> 1/2, 7/2, 9/2.
        golden(
            &format!("avg include ceil={ceil}"),
            &PoolParams::avg(win, Divisor::IncludePad),
            1,
            &[5],
            &x,
            &[3],
            &[0.5, 3.5, 4.5],
            SUM,
        );
    }
    // in = 6, k = 3, s = 3, pad 0/2, ceil: ceil((6 + 2 - 3) / 3) + 1 = 3, and (3 - 1) * 3 = 6
    // >= 6 + 0: dropped, out = 2. Windows {0,1,2} -> 5, {3,4,5} -> 6.
    let win = w1(3)
        .stride([3])
        .padding(Padding::explicit([0], [2]))
        .ceil_mode(true);
    golden(
        "k3 s3 pad 0/2 ceil",
        &PoolParams::max(win),
        1,
        &[6],
        &[1.0, 5.0, 2.0, 6.0, 3.0, 4.0],
        &[2],
        &[5.0, 6.0],
        Tol::Exact,
    );
}

#[test]
fn floor_and_ceil_2d() {
    // 5 x 6 input, x[h][w] = 10h + w; k = [2, 3], s = [2, 2].
    let x: Vec<f32> = (0..5)
        .flat_map(|h| (0..6).map(move |w| (10 * h + w) as f32))
        .collect();
    let win = Window::new([2, 3]).stride([2, 2]);
    // floor: H (5-2)/2+1 = 2, W (6-3)/2+1 = 2. Rows {2oh, 2oh+1}, cols {2ow..2ow+2}; the max is
    // the bottom-right tap 10(2oh+1) + 2ow+2: 12, 14, 32, 34.
    golden(
        "max floor",
        &PoolParams::max(win),
        1,
        &[5, 6],
        &x,
        &[2, 2],
        &[12.0, 14.0, 32.0, 34.0],
        Tol::Exact,
    );
    // ceil: H ceil(3/2)+1 = 3 ((3-1)*2 = 4 < 5: kept, rows {4}); W ceil(3/2)+1 = 3 ((3-1)*2 =
    // 4 < 6: kept, cols {4, 5}). Last row of outputs: 40+2, 40+4, 40+5; last column: 15, 35.
    golden(
        "max ceil",
        &PoolParams::max(win.ceil_mode(true)),
        1,
        &[5, 6],
        &x,
        &[3, 3],
        &[12.0, 14.0, 15.0, 32.0, 34.0, 35.0, 42.0, 44.0, 45.0],
        Tol::Exact,
    );
    // avg: the mean of 10h + w over a rectangle is 10 mean(h) + mean(w).
    // mean(h): 0.5, 2.5 (floor), 4 (ceil row 2); mean(w): 1, 3 (floor), 4.5 (ceil column 2).
    golden(
        "avg floor",
        &PoolParams::avg(win, Divisor::ExcludePad),
        1,
        &[5, 6],
        &x,
        &[2, 2],
        &[6.0, 8.0, 26.0, 28.0],
        SUM,
    );
    golden(
        "avg ceil",
        &PoolParams::avg(win.ceil_mode(true), Divisor::ExcludePad),
        1,
        &[5, 6],
        &x,
        &[3, 3],
        &[6.0, 8.0, 9.5, 26.0, 28.0, 29.5, 41.0, 43.0, 44.5],
        SUM,
    );
}

// ---------------------------------------------------------------------------------------------
// Divisors.
// ---------------------------------------------------------------------------------------------

/// x[h][w] = a[h] * b[w], a = [3, 6, 9, 12, 15], b = [1, 2, 4, 8].
fn product_grid() -> Vec<f32> {
    let a = [3.0f32, 6.0, 9.0, 12.0, 15.0];
    let b = [1.0f32, 2.0, 4.0, 8.0];
    a.iter()
        .flat_map(|&ah| b.iter().map(move |&bw| ah * bw))
        .collect()
}

#[test]
fn include_pad_ceil_asymmetric_padding_2d() {
    // H: in 5, k 3, s 2, pad 2/1, ceil: ceil((5+3-3)/2)+1 = 4; (4-1)*2 = 6 < 5+2: out 4.
    //    starts 2oh - 2: rows {0} (of -2,-1,0), {0,1,2}, {2,3,4}, {4} (of 4,5,6).
    //    in-input counts 1, 3, 3, 1; include counts #{j : start + j < 5 + 1}: 3, 3, 3, 2.
    // W: in 4, k 2, s 3, pad 0/0, ceil: ceil((4-2)/3)+1 = 2; (2-1)*3 = 3 < 4: out 2.
    //    starts 3ow: cols {0,1}, {3} (of 3,4); in-input 2, 1; include #{j : start+j < 4}: 2, 1.
    // Window sums = (sum of a over rows) * (sum of b over cols): rows 3, 18, 36, 15; cols 3, 8:
    //    [[9, 24], [54, 144], [108, 288], [45, 120]].
    let x = product_grid();
    let win = Window::new([3, 2])
        .stride([2, 3])
        .padding(Padding::explicit([2, 0], [1, 0]))
        .ceil_mode(true);
    // exclude: 9/2, 24/1, 54/6, 144/3, 108/6, 288/3, 45/2, 120/1.
    golden(
        "exclude",
        &PoolParams::avg(win, Divisor::ExcludePad),
        1,
        &[5, 4],
        &x,
        &[4, 2],
        &[4.5, 24.0, 9.0, 48.0, 18.0, 96.0, 22.5, 120.0],
        SUM,
    );
    // include: 9/(3*2), 24/(3*1), 54/6, 144/3, 108/6, 288/3, 45/(2*2), 120/(2*1).
    golden(
        "include",
        &PoolParams::avg(win, Divisor::IncludePad),
        1,
        &[5, 4],
        &x,
        &[4, 2],
        &[1.5, 8.0, 9.0, 48.0, 18.0, 96.0, 11.25, 60.0],
        SUM,
    );
    // override 5: every sum / 5.
    golden(
        "override 5",
        &PoolParams::avg(win, Divisor::Override(5)),
        1,
        &[5, 4],
        &x,
        &[4, 2],
        &[
            9.0 / 5.0,
            24.0 / 5.0,
            54.0 / 5.0,
            144.0 / 5.0,
            108.0 / 5.0,
            288.0 / 5.0,
            45.0 / 5.0,
            120.0 / 5.0,
        ],
        SUM,
    );
    // max: the grid increases along both axes, so the max is a[last row] * b[last col]:
    // last rows 0, 2, 4, 4 -> 3, 9, 15, 15; last cols 1, 3 -> 2, 8.
    golden(
        "max",
        &PoolParams::max(win),
        1,
        &[5, 4],
        &x,
        &[4, 2],
        &[6.0, 24.0, 18.0, 72.0, 30.0, 120.0, 30.0, 120.0],
        Tol::Exact,
    );
    // floor mode: H (5+3-3)/2+1 = 3, W (4-2)/3+1 = 1. include counts 3*2 for all three:
    // 9/6, 54/6, 108/6.
    golden(
        "include floor",
        &PoolParams::avg(win.ceil_mode(false), Divisor::IncludePad),
        1,
        &[5, 4],
        &x,
        &[3, 1],
        &[1.5, 9.0, 18.0],
        SUM,
    );
}

#[test]
fn include_pad_with_dilation_1d() {
    // in 5, k 3, d 2 (ke 5), s 3, pad 2/2, ceil: ceil((9-5)/3)+1 = 3; (3-1)*3 = 6 < 5+2: out 3.
    // starts 3o - 2: taps {-2,0,2} -> {0,2}; {1,3,5} -> {1,3}; {4,6,8} -> {4}.
    // include counts #{j : start + 2j < 5 + 2}: 3 (-2,0,2), 3 (1,3,5), 2 (4,6; not 8).
    // (The d = 1 formula min(start + ke, in + pad_end) - start would give 3 for the last.)
    let x = [3.0, 6.0, 9.0, 12.0, 15.0];
    let win = w1(3)
        .dilation([2])
        .stride([3])
        .padding(Padding::symmetric([2]))
        .ceil_mode(true);
    // sums 12, 18, 15.
    golden(
        "exclude",
        &PoolParams::avg(win, Divisor::ExcludePad),
        1,
        &[5],
        &x,
        &[3],
        &[6.0, 9.0, 15.0], // 12/2, 18/2, 15/1
        SUM,
    );
    golden(
        "include",
        &PoolParams::avg(win, Divisor::IncludePad),
        1,
        &[5],
        &x,
        &[3],
        &[4.0, 6.0, 7.5], // 12/3, 18/3, 15/2
        SUM,
    );
    golden(
        "override 2",
        &PoolParams::avg(win, Divisor::Override(2)),
        1,
        &[5],
        &x,
        &[3],
        &[6.0, 9.0, 7.5], // 12/2, 18/2, 15/2
        SUM,
    );
    golden(
        "max",
        &PoolParams::max(win),
        1,
        &[5],
        &x,
        &[3],
        &[9.0, 12.0, 15.0], // max(3,9), max(6,12), 15
        Tol::Exact,
    );
    // floor: (9-5)/3+1 = 2 outputs, the first two.
    golden(
        "include floor",
        &PoolParams::avg(win.ceil_mode(false), Divisor::IncludePad),
        1,
        &[5],
        &x,
        &[2],
        &[4.0, 6.0],
        SUM,
    );
}

// ---------------------------------------------------------------------------------------------
// Dilation and padding helpers.
// ---------------------------------------------------------------------------------------------

#[test]
fn dilation_2d_asymmetric() {
    // GRID5:
    //   0  7 14 21  3
    //  10 17 24  6 13
    //  20  2  9 16 23
    //   5 12 19  1  8
    //  15 22  4 11 18
    // k 2x2, d [2, 3]: ke 3 x 4, out (5-3+1) x (5-4+1) = 3 x 2; rows {oh, oh+2}, cols {ow, ow+3}.
    // (0,0): 0,21,20,16  max 21 sum 57    (0,1): 7,3,2,23    max 23 sum 35
    // (1,0): 10,6,5,1    max 10 sum 22    (1,1): 17,13,12,8  max 17 sum 50
    // (2,0): 20,16,15,11 max 20 sum 62    (2,1): 2,23,22,18  max 23 sum 65
    let win = Window::new([2, 2]).dilation([2, 3]);
    golden(
        "max d [2,3]",
        &PoolParams::max(win),
        1,
        &[5, 5],
        &GRID5,
        &[3, 2],
        &[21.0, 23.0, 10.0, 17.0, 20.0, 23.0],
        Tol::Exact,
    );
    golden(
        "avg d [2,3]",
        &PoolParams::avg(win, Divisor::ExcludePad),
        1,
        &[5, 5],
        &GRID5,
        &[3, 2],
        &[14.25, 8.75, 5.5, 12.5, 15.5, 16.25], // sums / 4
        SUM,
    );
    // d [3, 2]: ke 4 x 3, out 2 x 3; rows {oh, oh+3}, cols {ow, ow+2}.
    // (0,0): 0,14,5,19 -> 19   (0,1): 7,21,12,1 -> 21   (0,2): 14,3,19,8 -> 19
    // (1,0): 10,24,15,4 -> 24  (1,1): 17,6,22,11 -> 22  (1,2): 24,13,4,18 -> 24
    golden(
        "max d [3,2]",
        &PoolParams::max(Window::new([2, 2]).dilation([3, 2])),
        1,
        &[5, 5],
        &GRID5,
        &[2, 3],
        &[19.0, 21.0, 19.0, 24.0, 22.0, 24.0],
        Tol::Exact,
    );
    // With stride [2, 3] and padding [1, 2] on both sides:
    // H: ke 3, (5+2-3)/2+1 = 3 outputs, starts 2oh-1: {-1,1} -> {1}; {1,3}; {3,5} -> {3}.
    // W: ke 4, (5+4-4)/3+1 = 2 outputs, starts 3ow-2: {-2,1} -> {1}; {1,4}.
    // (0,0): 17           (0,1): 17,13 sum 30
    // (1,0): 17,12 sum 29 (1,1): 17,13,12,8 sum 50
    // (2,0): 12           (2,1): 12,8 sum 20
    // include counts: H #{j : start + 2j < 6} = 2, 2, 2; W #{j : start + 3j < 7} = 2, 2: all 4.
    let win = Window::new([2, 2])
        .dilation([2, 3])
        .stride([2, 3])
        .padding(Padding::symmetric([1, 2]));
    golden(
        "max padded",
        &PoolParams::max(win),
        1,
        &[5, 5],
        &GRID5,
        &[3, 2],
        &[17.0, 17.0, 17.0, 17.0, 12.0, 12.0],
        Tol::Exact,
    );
    golden(
        "exclude padded",
        &PoolParams::avg(win, Divisor::ExcludePad),
        1,
        &[5, 5],
        &GRID5,
        &[3, 2],
        &[17.0, 15.0, 14.5, 12.5, 12.0, 10.0], // 17/1, 30/2, 29/2, 50/4, 12/1, 20/2
        SUM,
    );
    golden(
        "include padded",
        &PoolParams::avg(win, Divisor::IncludePad),
        1,
        &[5, 5],
        &GRID5,
        &[3, 2],
        &[4.25, 7.5, 7.25, 12.5, 3.0, 5.0], // sums / 4
        SUM,
    );
}

#[test]
fn same_upper_vs_same_lower_1d() {
    // in 6, k 3, s 2: out = ceil(6/2) = 3, pad_total = (3-1)*2 + 3 - 6 = 1.
    // SameUpper: pad 0/1, starts 2o: {0,1,2}, {2,3,4}, {4,5}.
    // SameLower: pad 1/0, starts 2o-1: {0,1}, {1,2,3}, {3,4,5}.
    let x = [1.0, 9.0, 2.0, 8.0, 3.0, 7.0];
    let up = w1(3).stride([2]).padding(Padding::SameUpper);
    let lo = w1(3).stride([2]).padding(Padding::SameLower);
    golden(
        "max upper",
        &PoolParams::max(up),
        1,
        &[6],
        &x,
        &[3],
        &[9.0, 8.0, 7.0], // max(1,9,2), max(2,8,3), max(3,7)
        Tol::Exact,
    );
    golden(
        "max lower",
        &PoolParams::max(lo),
        1,
        &[6],
        &x,
        &[3],
        &[9.0, 9.0, 8.0], // max(1,9), max(9,2,8), max(8,3,7)
        Tol::Exact,
    );
    // Valid: (6-3)/2+1 = 2 windows {0,1,2}, {2,3,4}.
    golden(
        "max valid",
        &PoolParams::max(w1(3).stride([2]).padding(Padding::Valid)),
        1,
        &[6],
        &x,
        &[2],
        &[9.0, 8.0],
        Tol::Exact,
    );
    golden(
        "avg upper",
        &PoolParams::avg(up, Divisor::ExcludePad),
        1,
        &[6],
        &x,
        &[3],
        &[4.0, 13.0 / 3.0, 5.0], // 12/3, 13/3, 10/2
        SUM,
    );
    golden(
        "avg lower",
        &PoolParams::avg(lo, Divisor::ExcludePad),
        1,
        &[6],
        &x,
        &[3],
        &[5.0, 19.0 / 3.0, 6.0], // 10/2, 19/3, 18/3
        SUM,
    );
    // include-pad: upper's last window: #{j : 4 + j < 6 + 1} = 3 -> 10/3; lower's first:
    // #{j : -1 + j < 6 + 0} = 3 -> 10/3.
    golden(
        "include upper",
        &PoolParams::avg(up, Divisor::IncludePad),
        1,
        &[6],
        &x,
        &[3],
        &[4.0, 13.0 / 3.0, 10.0 / 3.0],
        SUM,
    );
    golden(
        "include lower",
        &PoolParams::avg(lo, Divisor::IncludePad),
        1,
        &[6],
        &x,
        &[3],
        &[10.0 / 3.0, 19.0 / 3.0, 6.0],
        SUM,
    );
}

#[test]
fn same_upper_vs_same_lower_2d() {
    // The first three rows of GRID5:
    //   0  7 14 21  3
    //  10 17 24  6 13
    //  20  2  9 16 23
    // k 2x2, s 2. H: out ceil(3/2) = 2, total (2-1)*2+2-3 = 1. W: out ceil(5/2) = 3, total
    // (3-1)*2+2-5 = 1. Upper pads 0/1, lower 1/0 on both axes.
    let x = &GRID5[..15];
    let win = Window::new([2, 2]).stride([2, 2]);
    // Upper: rows {0,1}, {2}; cols {0,1}, {2,3}, {4}.
    // (0,0) 0,7,10,17 -> 17; (0,1) 14,21,24,6 -> 24; (0,2) 3,13 -> 13;
    // (1,0) 20,2 -> 20; (1,1) 9,16 -> 16; (1,2) 23.
    golden(
        "upper",
        &PoolParams::max(win.padding(Padding::SameUpper)),
        1,
        &[3, 5],
        x,
        &[2, 3],
        &[17.0, 24.0, 13.0, 20.0, 16.0, 23.0],
        Tol::Exact,
    );
    // Lower: rows {0}, {1,2}; cols {0}, {1,2}, {3,4}.
    // (0,0) 0; (0,1) 7,14 -> 14; (0,2) 21,3 -> 21;
    // (1,0) 10,20 -> 20; (1,1) 17,24,2,9 -> 24; (1,2) 6,13,16,23 -> 23.
    golden(
        "lower",
        &PoolParams::max(win.padding(Padding::SameLower)),
        1,
        &[3, 5],
        x,
        &[2, 3],
        &[0.0, 14.0, 21.0, 20.0, 24.0, 23.0],
        Tol::Exact,
    );
    // Valid: H (3-2)/2+1 = 1, W (5-2)/2+1 = 2: 17, 24.
    golden(
        "valid",
        &PoolParams::max(win.padding(Padding::Valid)),
        1,
        &[3, 5],
        x,
        &[1, 2],
        &[17.0, 24.0],
        Tol::Exact,
    );
}

// ---------------------------------------------------------------------------------------------
// Layout: strides, batch, empty tensors.
// ---------------------------------------------------------------------------------------------

#[test]
fn strided_input_and_output_with_batch() {
    // N 2, H 3, W 4; x(n, h, w, c) = 1000n + 100c + 10h + w (exact integers).
    // k 3x3, s 2, pad 1: H (3+2-3)/2+1 = 2, starts 2oh-1: rows {0,1}, {1,2}.
    //                    W (4+2-3)/2+1 = 2, starts 2ow-1: cols {0,1}, {1,2,3}.
    // max = base + 10 * max row + max col: [[11, 13], [21, 23]] + base.
    // avg = base + 10 * mean row + mean col: mean rows 0.5, 1.5; mean cols 0.5, 2:
    //       [[5.5, 7], [15.5, 17]] + base.
    let win = Window::new([3, 3])
        .stride([2, 2])
        .padding(Padding::symmetric([1, 1]));
    let max_off = [11.0, 13.0, 21.0, 23.0];
    let avg_off = [5.5, 7.0, 15.5, 17.0];
    for c in [3usize, 19] {
        // Input: pixel stride C + 2, row stride 4 (C+2) + 3, batch stride 3 row + 5; the buffer
        // ends at the last element (a channel slice at the end of a wider tensor). Gaps are NaN,
        // so a kernel reading one would be caught.
        let (ip, ir) = (c + 2, 4 * (c + 2) + 3);
        let ib = 3 * ir + 5;
        let in_len = ib + 2 * ir + 3 * ip + c;
        let mut xin = vec![NAN; in_len];
        for n in 0..2 {
            for h in 0..3 {
                for w in 0..4 {
                    for ch in 0..c {
                        xin[n * ib + h * ir + w * ip + ch] =
                            (1000 * n + 100 * ch + 10 * h + w) as f32;
                    }
                }
            }
        }
        let ishape = Shape::nhwc(2, 3, 4, c);
        let input = TensorView::with_strides(&xin, ishape, Strides::nhwc(ib, ir, ip)).unwrap();
        // Output: pixel stride C + 1, row stride 2 (C+1) + 2, batch stride 2 row + 3, and 4
        // spare elements after the last.
        let (op, or) = (c + 1, 2 * (c + 1) + 2);
        let ob = 2 * or + 3;
        let out_len = ob + or + op + c + 4;
        let oshape = Shape::nhwc(2, 2, 2, c);
        for (params, offs, tol) in [
            (PoolParams::max(win), max_off, Tol::Exact),
            (PoolParams::avg(win, Divisor::ExcludePad), avg_off, SUM),
        ] {
            for isa in isas() {
                let plan = Plan::new(&params, ishape, isa).unwrap();
                assert_eq!(plan.output_shape(), oshape);
                let mut buf = vec![SENTINEL; out_len];
                let out = TensorViewMut::with_strides(&mut buf, oshape, Strides::nhwc(ob, or, op))
                    .unwrap();
                plan.run(input, out).unwrap();
                let mut written = vec![false; out_len];
                for n in 0..2 {
                    for oh in 0..2 {
                        for ow in 0..2 {
                            for ch in 0..c {
                                let at = n * ob + oh * or + ow * op + ch;
                                written[at] = true;
                                let want = (1000 * n + 100 * ch) as f32 + offs[oh * 2 + ow];
                                assert!(
                                    close(buf[at], want, tol),
                                    "{isa} C={c} {params:?}: ({n},{oh},{ow},{ch}) = {}, expected {want}",
                                    buf[at]
                                );
                            }
                        }
                    }
                }
                for (i, (&v, &w)) in buf.iter().zip(&written).enumerate() {
                    if !w {
                        assert_eq!(
                            v.to_bits(),
                            SENTINEL.to_bits(),
                            "{isa} C={c}: gap element {i} of the output was written"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn one_d_pooling_strided_pixels() {
    // Shape N 1, W 5, C 2 with pixel stride 3; x(w, c) = (c + 1) * [4, -1, 7, 2, 5][w].
    // k 2, s 1: windows {0,1}, {1,2}, {2,3}, {3,4}: max 4, 7, 7, 5 (times c + 1).
    let vals = [4.0f32, -1.0, 7.0, 2.0, 5.0];
    let mut xin = vec![NAN; 4 * 3 + 2];
    for (w, &v) in vals.iter().enumerate() {
        for c in 0..2 {
            xin[w * 3 + c] = v * (c + 1) as f32;
        }
    }
    let shape = Shape::new(1, [5], 2);
    let strides = Strides {
        batch: 100, // N = 1: never used
        spatial: [3].into(),
    };
    let input = TensorView::with_strides(&xin, shape, strides).unwrap();
    for isa in isas() {
        let plan = Plan::new(&PoolParams::max(w1(2)), shape, isa).unwrap();
        assert_eq!(plan.output_shape(), Shape::new(1, [4], 2));
        // Output pixel stride 5.
        let mut buf = vec![SENTINEL; 3 * 5 + 2 + 3];
        let out = TensorViewMut::with_strides(
            &mut buf,
            plan.output_shape(),
            Strides {
                batch: 0,
                spatial: [5].into(),
            },
        )
        .unwrap();
        plan.run(input, out).unwrap();
        let want = [4.0f32, 7.0, 7.0, 5.0];
        for (i, &v) in buf.iter().enumerate() {
            let (ow, c) = (i / 5, i % 5);
            if ow < 4 && c < 2 {
                assert_eq!(v, want[ow] * (c + 1) as f32, "{isa}: ({ow}, {c})");
            } else {
                assert_eq!(v.to_bits(), SENTINEL.to_bits(), "{isa}: gap {i} written");
            }
        }
    }
}

#[test]
fn empty_batch_and_zero_channels_write_nothing() {
    let win = Window::new([2, 2]).stride([2, 2]);
    for shape in [Shape::nhwc(0, 4, 4, 3), Shape::nhwc(1, 4, 4, 0)] {
        let want_out = Shape::new(shape.n(), [2, 2], shape.c());
        for params in [
            PoolParams::max(win),
            PoolParams::avg(win, Divisor::IncludePad),
            PoolParams::lp(win, 3.0),
            PoolParams::stochastic_train(win, 5),
            PoolParams::stochastic_inference(win),
        ] {
            for isa in isas() {
                let plan = Plan::new(&params, shape, isa).unwrap();
                assert_eq!(plan.output_shape(), want_out, "{isa} {params:?}");
                let input = TensorView::new(&[], shape).unwrap();
                let mut buf = [SENTINEL; 8];
                let out = TensorViewMut::with_strides(
                    &mut buf,
                    want_out,
                    Strides::dense(&want_out).unwrap(),
                )
                .unwrap();
                plan.run(input, out).unwrap();
                assert!(buf.iter().all(|v| v.to_bits() == SENTINEL.to_bits()));
            }
        }
        for params in [PoolParams::global_max(), PoolParams::global_avg()] {
            for isa in isas() {
                let plan = Plan::new(&params, shape, isa).unwrap();
                let out_shape = Shape::new(shape.n(), [1, 1], shape.c());
                assert_eq!(plan.output_shape(), out_shape);
                let mut buf = [SENTINEL; 4];
                let out = TensorViewMut::new(&mut buf, out_shape).unwrap();
                plan.run(TensorView::new(&[], shape).unwrap(), out).unwrap();
                assert!(buf.iter().all(|v| v.to_bits() == SENTINEL.to_bits()));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Special values: max, average, clamp.
// ---------------------------------------------------------------------------------------------

#[test]
fn max_special_values() {
    // 2 x 14 input, k 2x2, s 2: seven windows, one per pair of columns.
    #[rustfmt::skip]
    let x = [
        NAN, 1.0,  -INF, -INF,  INF, 1.0,  -0.0, -1.0,  1.0, INF,  -5.0, -3.0,  1.0, 2.0,
        2.0, 3.0,  -INF, -INF,  NAN, 2.0,  -2.0, -3.0,  2.0, 3.0,  -4.0, -7.0,  3.0, NAN,
    ];
    // NaN first -> NaN; all -inf -> -inf; +inf and NaN -> NaN; -0 vs negatives -> -0 (== 0);
    // +inf wins -> inf; all negative -> -3; NaN last -> NaN.
    golden(
        "max specials",
        &PoolParams::max(Window::new([2, 2]).stride([2, 2])),
        1,
        &[2, 14],
        &x,
        &[1, 7],
        &[NAN, -INF, NAN, 0.0, INF, -3.0, NAN],
        Tol::Exact,
    );
    // Padding never wins: 2x2 all-negative input, k 3x3, pad 1, s 1: (2+2-3)+1 = 2 x 2
    // outputs, each window covers the whole input: max(-5, -3, -4, -7) = -3.
    let win = Window::new([3, 3]).padding(Padding::symmetric([1, 1]));
    golden(
        "negative with padding",
        &PoolParams::max(win),
        1,
        &[2, 2],
        &[-5.0, -3.0, -4.0, -7.0],
        &[2, 2],
        &[-3.0; 4],
        Tol::Exact,
    );
    // 1x1 inputs, k 2x2, pad 1: (1+2-2)+1 = 2 x 2 outputs, each window's one in-input tap is
    // the single input: -inf, NaN, -0 (either zero) come out unchanged.
    let win = Window::new([2, 2]).padding(Padding::symmetric([1, 1]));
    for v in [-INF, NAN, -0.0, -1e-45] {
        golden(
            &format!("single {v:e} with padding"),
            &PoolParams::max(win),
            1,
            &[1, 1],
            &[v],
            &[2, 2],
            &[v; 4],
            Tol::Exact,
        );
    }
}

#[test]
fn avg_special_values() {
    // 1-D, k 2, s 2, seven windows.
    let x = [
        INF, 1.0, INF, -INF, -INF, 2.0, NAN, 1.0, 1e30, 1e30, -0.0, -0.0, -3.0, 1.0,
    ];
    // inf + 1 -> inf; inf + -inf -> NaN; -inf + 2 -> -inf; NaN -> NaN;
    // (1e30 + 1e30) / 2 = 1e30 (2 * 1e30 is exact, no overflow); -0 + -0 -> 0; (-3 + 1) / 2 = -1.
    let want = [INF, NAN, -INF, NAN, 1e30, 0.0, -1.0];
    for d in [Divisor::ExcludePad, Divisor::IncludePad] {
        golden(
            &format!("{d:?}"),
            &PoolParams::avg(w1(2).stride([2]), d),
            1,
            &[14],
            &x,
            &[7],
            &want,
            SUM,
        );
    }
    // Override 4: the same sums / 4.
    golden(
        "override 4",
        &PoolParams::avg(w1(2).stride([2]), Divisor::Override(4)),
        1,
        &[14],
        &x,
        &[7],
        &[INF, NAN, -INF, NAN, 5e29, 0.0, -0.5],
        SUM,
    );
}

#[test]
fn clamp_and_relu6() {
    // 1-D, k 2, s 2, six windows:
    let x = [
        NAN, 1.0, -3.0, -1.0, 7.0, 9.0, 4.0, -0.0, -INF, -INF, INF, 1.0,
    ];
    let win = w1(2).stride([2]);
    // max: NaN, -1, 9, 4, -inf, inf.
    let cases: [(f32, f32, [f32; 6]); 5] = [
        (-INF, INF, [NAN, -1.0, 9.0, 4.0, -INF, INF]), // no-op clamp
        (0.0, 6.0, [NAN, 0.0, 6.0, 4.0, 0.0, 6.0]),    // ReLU6
        (-2.0, 2.5, [NAN, -1.0, 2.5, 2.5, -2.0, 2.5]),
        (-INF, 1.0, [NAN, -1.0, 1.0, 1.0, -INF, 1.0]),
        (3.0, 3.0, [NAN, 3.0, 3.0, 3.0, 3.0, 3.0]), // lo == hi
    ];
    for (lo, hi, want) in cases {
        golden_unscaled(
            &format!("max clamp({lo}, {hi})"),
            &PoolParams::max(win).clamp(lo, hi),
            1,
            &[12],
            &x,
            &[6],
            &want,
            Tol::Exact,
        );
    }
    // avg: NaN, (-3-1)/2 = -2, 8, (4-0)/2 = 2, -inf, inf; ReLU6 -> NaN, 0, 6, 2, 0, 6.
    golden_unscaled(
        "avg relu6",
        &PoolParams::avg(win, Divisor::ExcludePad).clamp(0.0, 6.0),
        1,
        &[12],
        &x,
        &[6],
        &[NAN, 0.0, 6.0, 2.0, 0.0, 6.0],
        SUM,
    );
    // Lp p=2 [-3,4] -> 5, [5,-12] -> 13, [NaN,1] -> NaN; ReLU6 -> 5, 6, NaN.
    golden_unscaled(
        "lp2 relu6",
        &PoolParams::lp(win, 2.0).clamp(0.0, 6.0),
        1,
        &[6],
        &[-3.0, 4.0, 5.0, -12.0, NAN, 1.0],
        &[3],
        &[5.0, 6.0, NAN],
        SUM,
    );
    // Stochastic inference [1, 2, 3, 4]: 30 / 10 = 3, clamp(0, 2) -> 2.
    golden_unscaled(
        "stochastic inference clamp",
        &PoolParams::stochastic_inference(w1(4)).clamp(0.0, 2.0),
        1,
        &[4],
        &[1.0, 2.0, 3.0, 4.0],
        &[1],
        &[2.0],
        SUM,
    );
    // Global average of [-4, -2, NaN-free] = -3 -> ReLU -> 0; global max 7 -> clamp 6.
    golden_unscaled(
        "global avg relu",
        &PoolParams::global_avg().clamp(0.0, INF),
        1,
        &[1, 2],
        &[-4.0, -2.0],
        &[1, 1],
        &[0.0],
        SUM,
    );
    golden_unscaled(
        "global max relu6",
        &PoolParams::global_max().clamp(0.0, 6.0),
        1,
        &[2, 1],
        &[7.0, 1.0],
        &[1, 1],
        &[6.0],
        Tol::Exact,
    );
}

// ---------------------------------------------------------------------------------------------
// Lp.
// ---------------------------------------------------------------------------------------------

#[test]
fn lp_p1() {
    let x = [
        -3.0, 4.0, 0.0, -0.0, NAN, 1.0, -INF, 1.0, INF, NAN, -0.5, -0.25,
    ];
    // |-3|+|4| = 7; 0; NaN; inf; inf with NaN -> NaN; 0.5 + 0.25 = 0.75.
    golden(
        "p=1",
        &PoolParams::lp(w1(2).stride([2]), 1.0),
        1,
        &[12],
        &x,
        &[6],
        &[7.0, 0.0, NAN, INF, NAN, 0.75],
        SUM,
    );
}

#[test]
fn lp_p2() {
    let x = [
        -3.0, 4.0, 0.0, -0.0, NAN, 1.0, -INF, 1.0, 5.0, -12.0, NAN, -INF, 1e-30, 0.0,
    ];
    // sqrt(9+16) = 5; 0; NaN; inf; sqrt(25+144) = 13; NaN; sqrt(1e-60) = 1e-30 (no underflow).
    golden(
        "p=2",
        &PoolParams::lp(w1(2).stride([2]), 2.0),
        1,
        &[14],
        &x,
        &[7],
        &[5.0, 0.0, NAN, INF, 13.0, NAN, 1e-30],
        SUM,
    );
}

#[test]
fn lp_p3() {
    let x = [
        -3.0, 4.0, -5.0, 0.0, 0.0, 0.0, NAN, 1.0, 2.0, 1.0, -INF, 2.0, -1.0, 2.0, 0.0,
    ];
    // k 3, s 3: (27 + 64 + 125)^(1/3) = 216^(1/3) = 6; 0; NaN; inf; (1 + 8)^(1/3) = 9^(1/3)
    // = 2.0800838...
    golden(
        "p=3",
        &PoolParams::lp(w1(3).stride([3]), 3.0),
        1,
        &[15],
        &x,
        &[5],
        &[6.0, 0.0, NAN, INF, 2.080_083_8],
        LP,
    );
}

#[test]
fn lp_p_half() {
    let x = [
        -1.0, 4.0, -4.0, 9.0, 0.0, 0.0, NAN, 1.0, INF, 1.0, -0.25, 0.0,
    ];
    // (1 + 2)^2 = 9; (2 + 3)^2 = 25; 0; NaN; inf; (0.5)^2 = 0.25.
    golden(
        "p=0.5",
        &PoolParams::lp(w1(2).stride([2]), 0.5),
        1,
        &[12],
        &x,
        &[6],
        &[9.0, 25.0, 0.0, NAN, INF, 0.25],
        LP,
    );
}

#[test]
fn lp_p_infinity() {
    let x = [-7.0, 3.0, NAN, 1.0, -INF, 1.0, -0.0, 0.0, 2.0, -2.0];
    // max |x|: 7; NaN; inf; 0; 2.
    golden(
        "p=inf",
        &PoolParams::lp(w1(2).stride([2]), f64::INFINITY),
        1,
        &[10],
        &x,
        &[5],
        &[7.0, NAN, INF, 0.0, 2.0],
        Tol::Exact,
    );
}

#[test]
fn lp_partial_windows_count_only_in_input_taps() {
    // in 3, k 3, s 1, pad 1/1: windows {0,1}, {0,1,2}, {1,2}; x = [3, -4, 12].
    let x = [3.0, -4.0, 12.0];
    let win = w1(3).padding(Padding::symmetric([1]));
    // p = 2: sqrt(9+16) = 5; sqrt(9+16+144) = 13; sqrt(16+144) = sqrt(160) = 12.649110640...
    // (no rescale by k/in-input count as PyTorch / the ONNX reference do).
    golden(
        "p=2 padded",
        &PoolParams::lp(win, 2.0),
        1,
        &[3],
        &x,
        &[3],
        &[5.0, 13.0, 160f64.sqrt() as f32],
        SUM,
    );
    // p = 1: 7, 19, 16.
    golden(
        "p=1 padded",
        &PoolParams::lp(win, 1.0),
        1,
        &[3],
        &x,
        &[3],
        &[7.0, 19.0, 16.0],
        SUM,
    );
    // p = 3: (27+64)^(1/3) = 91^(1/3) = 4.4979414; (27+64+1728)^(1/3) = 1819^(1/3) = 12.2070...;
    // (64+1728)^(1/3) = 1792^(1/3) = 12.1441...
    golden(
        "p=3 padded",
        &PoolParams::lp(win, 3.0),
        1,
        &[3],
        &x,
        &[3],
        &[
            91f64.cbrt() as f32,
            1819f64.cbrt() as f32,
            1792f64.cbrt() as f32,
        ],
        LP,
    );
    // Ceil mode: in 4, k 3, s 2: ceil(1/2)+1 = 2, (2-1)*2 = 2 < 4: kept; windows {0,1,2},
    // {2,3}; x = [1, 2, -3, 4]. p = 2: sqrt(1+4+9) = sqrt(14) = 3.7416574; sqrt(9+16) = 5.
    golden(
        "p=2 ceil",
        &PoolParams::lp(w1(3).stride([2]).ceil_mode(true), 2.0),
        1,
        &[4],
        &[1.0, 2.0, -3.0, 4.0],
        &[2],
        &[3.741_657_4, 5.0],
        SUM,
    );
}

#[test]
fn lp_no_spurious_overflow_or_underflow() {
    // A 3x3 window of nine equal values v: (9 v^p)^(1/p) = 9^(1/p) v.
    // 9^(1/2) = 3; 9^(1/1) = 9; 9^(1/3) = 2.0800838; 9^(1/0.5) = 81;
    // 9^(1/64) = exp(ln 9 / 64) = exp(0.0343316) = 1.0349278; p = inf: 1.
    let win = Window::new([3, 3]);
    let cases: [(f64, f32, Tol); 6] = [
        (2.0, 3.0, SUM),
        (1.0, 9.0, SUM),
        (3.0, 2.080_083_8, LP),
        (0.5, 81.0, LP),
        (64.0, 1.034_927_8, LP),
        (f64::INFINITY, 1.0, Tol::Exact),
    ];
    for v in [1e30f32, 1e-30] {
        for (p, factor, tol) in cases {
            // e.g. p = 2, v = 1e30: 3e30, though v^2 = 1e60 overflows f32; v = 1e-30:
            // 3e-30, though v^2 underflows.
            golden(
                &format!("v={v:e} p={p}"),
                &PoolParams::lp(win, p),
                1,
                &[3, 3],
                &[v; 9],
                &[1, 1],
                &[factor * v],
                tol,
            );
        }
    }
    // Large p on unequal values near 1e30 (1-D, k 2, s 2):
    // [1e30, 2e30]: 2e30 (1 + 2^-64)^(1/64) = 2e30; [-1e30, 1e30]: 2^(1/64) 1e30 =
    // exp(0.6931472 / 64) 1e30 = 1.0108893e30; [3, 4]: 4 (1 + 0.75^64)^(1/64) = 4 (0.75^64 ~ 1e-8).
    golden(
        "p=64 mixed",
        &PoolParams::lp(w1(2).stride([2]), 64.0),
        1,
        &[6],
        &[1e30, 2e30, -1e30, 1e30, 3.0, 4.0],
        &[3],
        &[2e30, 1.010_889_3e30, 4.0],
        LP,
    );
}

// ---------------------------------------------------------------------------------------------
// Global pooling.
// ---------------------------------------------------------------------------------------------

#[test]
fn global_pooling() {
    // N 2, 3 x 4. Image 0: the first 12 values of GRID5's sequence (7i mod 25):
    //   0 7 14 21 / 3 10 17 24 / 6 13 20 2   (sum 42 + 54 + 41 = 137, squares 686 + 974 + 609
    //   = 2269, cubes 42533, max 24)
    // Image 1: image 0 minus 30: -30 -23 -16 -9 / -27 -20 -13 -6 / -24 -17 -10 -28
    //   (sum 137 - 360 = -223, sum |x| = 223, squares 10800 - 60*137 + 2269 = 4849,
    //   max -6, max |x| 30)
    let img0 = [
        0.0f32, 7.0, 14.0, 21.0, 3.0, 10.0, 17.0, 24.0, 6.0, 13.0, 20.0, 2.0,
    ];
    let x: Vec<f32> = img0
        .iter()
        .copied()
        .chain(img0.iter().map(|v| v - 30.0))
        .collect();
    let g = |what: &str, params: PoolParams, want: [f32; 2], tol: Tol| {
        golden(what, &params, 2, &[3, 4], &x, &[1, 1], &want, tol);
        // The same values as a 1-D input of 12 positions: output N x 1 x C.
        golden(
            &format!("{what} 1-D"),
            &params,
            2,
            &[12],
            &x,
            &[1],
            &want,
            tol,
        );
    };
    g("max", PoolParams::global_max(), [24.0, -6.0], Tol::Exact);
    g(
        "avg",
        PoolParams::global_avg(),
        [137.0 / 12.0, -223.0 / 12.0],
        SUM,
    );
    g("lp1", PoolParams::global_lp(1.0), [137.0, 223.0], SUM);
    g(
        "lp2",
        PoolParams::global_lp(2.0),
        [2269f64.sqrt() as f32, 4849f64.sqrt() as f32], // 47.634021, 69.634761
        SUM,
    );
    // image 1 cubes: 27000+12167+4096+729+19683+8000+2197+216+13824+4913+1000+21952 = 115777.
    g(
        "lp3",
        PoolParams::global_lp(3.0),
        [42533f64.cbrt() as f32, 115777f64.cbrt() as f32],
        LP,
    );
    g(
        "lpinf",
        PoolParams::global_lp(f64::INFINITY),
        [24.0, 30.0],
        Tol::Exact,
    );
    // A NaN anywhere poisons the channel; +inf dominates max and average.
    let mut y = x.clone();
    y[5] = NAN; // image 0
    y[12 + 11] = INF; // image 1
    for (what, params, want) in [
        ("max", PoolParams::global_max(), [NAN, INF]),
        ("avg", PoolParams::global_avg(), [NAN, INF]),
        ("lp2", PoolParams::global_lp(2.0), [NAN, INF]),
        ("lp0.5", PoolParams::global_lp(0.5), [NAN, INF]),
    ] {
        golden(what, &params, 2, &[3, 4], &y, &[1, 1], &want, SUM);
    }
}

// ---------------------------------------------------------------------------------------------
// Stochastic pooling.
// ---------------------------------------------------------------------------------------------

#[test]
fn stochastic_inference_values() {
    #[rustfmt::skip]
    let x = [
        1.0, 2.0,  0.0, 0.0,  -1.0, -2.0,  -5.0, 3.0,   NAN, 1.0,  INF, 1.0,
        3.0, 4.0,  0.0, 0.0,  -3.0, -0.5,   1.0, -2.0,  2.0, 3.0,  2.0, 3.0,
    ];
    // a = max(x, 0). [1,2,3,4]: sum a^2 / sum a = 30 / 10 = 3; zeros: 0; all negative: 0;
    // [-5,3,1,-2]: a = [0,3,1,0], 10 / 4 = 2.5; NaN -> NaN; +inf -> +inf.
    golden(
        "2x2 windows",
        &PoolParams::stochastic_inference(Window::new([2, 2]).stride([2, 2])),
        1,
        &[2, 12],
        &x,
        &[1, 6],
        &[3.0, 0.0, 0.0, 2.5, NAN, INF],
        SUM,
    );
    // Padding adds nothing: in 3, k 3, pad 1, x = [2, -1, 4]: windows {2,-1} -> 4/2 = 2;
    // {2,-1,4} -> (4+16)/(2+4) = 10/3; {-1,4} -> 16/4 = 4.
    golden(
        "padded",
        &PoolParams::stochastic_inference(w1(3).padding(Padding::symmetric([1]))),
        1,
        &[3],
        &[2.0, -1.0, 4.0],
        &[3],
        &[2.0, 10.0 / 3.0, 4.0],
        SUM,
    );
}

/// Runs `params` on a dense `shape` input on `isa`; `seed` selects `run_with_seed`.
fn run_dense(
    isa: Isa,
    params: &PoolParams,
    shape: Shape,
    x: &[f32],
    seed: Option<u64>,
) -> Vec<f32> {
    let plan = Plan::new(params, shape, isa).unwrap();
    let input = TensorView::new(x, shape).unwrap();
    let mut y = Tensor::from_fn(plan.output_shape(), |_| SENTINEL).unwrap();
    match seed {
        Some(s) => plan.run_with_seed(input, y.view_mut(), s).unwrap(),
        None => plan.run(input, y.view_mut()).unwrap(),
    }
    y.as_slice().to_vec()
}

/// A small deterministic generator (xorshift64*) for larger inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Values in [-2, 6), a quarter of them negative, some exact zeros.
    fn value(&mut self) -> f32 {
        let r = self.next();
        if r.is_multiple_of(11) {
            0.0
        } else {
            ((r >> 40) as f32 / (1u64 << 24) as f32) * 8.0 - 2.0
        }
    }
}

#[test]
fn stochastic_training_hand_computed() {
    // N 1, H 2, W 4, C 2; k 2x2, s 2 -> outputs (oh 0, ow 0..2, c 0..2). Window order is
    // row-major: (h0,w), (h0,w+1), (h1,w), (h1,w+1).
    //  ow 0, c 0: [1, 2, 3, 4]     S = 10, prefix sums 1, 3, 6, 10.
    //  ow 1, c 0: [0, -1, 2, 3]    a = [0, 0, 2, 3], S = 5, prefix 0, 0, 2, 5.
    //  ow 0, c 1: [-1, -2, -0, 0]  S = 0 -> +0.0.
    //  ow 1, c 1: [-1, 7, -3, -4]  one positive tap -> 7 whatever u is.
    let mut x = vec![0.0f32; 16];
    let at = |h: usize, w: usize, c: usize| (h * 4 + w) * 2 + c;
    for (c, ow, vals) in [
        (0, 0, [1.0, 2.0, 3.0, 4.0]),
        (0, 1, [0.0, -1.0, 2.0, 3.0]),
        (1, 0, [-1.0, -2.0, -0.0, 0.0]),
        (1, 1, [-1.0, 7.0, -3.0, -4.0]),
    ] {
        for (j, v) in vals.into_iter().enumerate() {
            x[at(j / 2, 2 * ow + j % 2, c)] = v;
        }
    }
    let shape = Shape::nhwc(1, 2, 4, 2);
    let params = PoolParams::stochastic_train(Window::new([2, 2]).stride([2, 2]), 99);
    let mut hits = [[0usize; 4]; 2];
    for seed in 0..200u64 {
        // u of output (n, oh, ow, c) from the public generator; t = u * S in f32; the output is
        // the first tap whose running prefix sum is > t.
        let t00 = stochastic_uniform(seed, 0, 0, 0, 0) * 10.0;
        let (want00, k00) = if 1.0 > t00 {
            (1.0, 0) // prefix 1 > t
        } else if 3.0 > t00 {
            (2.0, 1) // prefix 3 > t
        } else if 6.0 > t00 {
            (3.0, 2) // prefix 6 > t
        } else {
            (4.0, 3) // prefix 10 > t (t < 10 since u < 1)
        };
        let t01 = stochastic_uniform(seed, 0, 0, 1, 0) * 5.0;
        // prefix 0 > t never holds (t >= 0); prefix 2 > t picks the value 2, else 5 > t
        // picks 3 (and if rounding made t = 5, the fallback is the last positive tap, 3).
        let (want01, k01) = if 2.0 > t01 { (2.0, 0) } else { (3.0, 1) };
        hits[0][k00] += 1;
        hits[1][k01] += 1;
        // Dense output (1, 1, 2, 2): [(ow0,c0), (ow0,c1), (ow1,c0), (ow1,c1)].
        let want = [want00, 0.0, want01, 7.0];
        let mut first: Option<Vec<f32>> = None;
        for isa in isas() {
            let y = run_dense(isa, &params, shape, &x, Some(seed));
            assert_eq!(y, want, "{isa} seed {seed}: t00 = {t00}, t01 = {t01}");
            assert_eq!(y[1].to_bits(), 0, "{isa}: S == 0 gives +0.0");
            if let Some(f) = &first {
                assert_eq!(&y, f);
            }
            first = Some(y);
        }
    }
    // Every branch of the hand selection was exercised.
    assert!(hits[0].iter().all(|&h| h > 0), "{hits:?}");
    assert!(hits[1][..2].iter().all(|&h| h > 0), "{hits:?}");
}

#[test]
fn stochastic_training_fixed_cases() {
    // Seed-independent windows (k 2x2, s 2 over a 2 x 10 input, five windows):
    #[rustfmt::skip]
    let x = [
        NAN, 5.0,  -1.0, -2.0,  -1.0, 5.0,  1.0, INF,  3e38, 3e38,
        2.0, 3.0,  -0.0,  0.0,  -2.0, -3.0, 2.0, 3.0,  1.0, 1.0,
    ];
    // [NaN, 5, 2, 3] -> NaN;  [-1, -2, -0, 0] -> S = 0 -> +0.0;  [-1, 5, -2, -3] -> 5;
    // [1, inf, 2, 3]: S = +inf, prefix 1, inf -> the first tap reaching inf: inf;
    // [3e38, 3e38, 1, 1]: S = 6e38 overflows f32 to +inf; the prefix 3e38 + 3e38 becomes +inf
    // at the second tap -> 3e38.
    let want = [NAN, 0.0, 5.0, INF, 3e38];
    let shape = Shape::nhwc(1, 2, 10, 1);
    let params = PoolParams::stochastic_train(Window::new([2, 2]).stride([2, 2]), 1);
    for seed in [0u64, 1, 2, 3, 0x1234_5678_9abc_def0, u64::MAX] {
        for isa in isas() {
            let y = run_dense(isa, &params, shape, &x, Some(seed));
            for (i, (&g, &w)) in y.iter().zip(&want).enumerate() {
                assert!(
                    close(g, w, Tol::Exact),
                    "{isa} seed {seed} window {i}: {g} vs {w}"
                );
            }
            assert_eq!(y[1].to_bits(), 0, "S == 0 gives +0.0, not -0.0");
        }
    }
}

/// The in-input taps of output (n, oh, ow, c) for a dense input with k 3x3, s 2, pad 1.
fn taps_k3s2p1(x: &[f32], shape: Shape, n: usize, oh: usize, ow: usize, c: usize) -> Vec<f32> {
    let [h, w] = [shape.spatial().as_slice()[0], shape.spatial().as_slice()[1]];
    let mut v = Vec::new();
    for i in 0..3 {
        for j in 0..3 {
            let (ih, iw) = ((2 * oh + i) as isize - 1, (2 * ow + j) as isize - 1);
            if (0..h as isize).contains(&ih) && (0..w as isize).contains(&iw) {
                v.push(x[((n * h + ih as usize) * w + iw as usize) * shape.c() + c]);
            }
        }
    }
    v
}

#[test]
fn stochastic_training_determinism_and_membership() {
    let shape = Shape::nhwc(2, 9, 9, 19);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let x: Vec<f32> = (0..shape.num_elements().unwrap())
        .map(|_| rng.value())
        .collect();
    let win = Window::new([3, 3])
        .stride([2, 2])
        .padding(Padding::symmetric([1, 1]));
    let params = PoolParams::stochastic_train(win, 0xfeed);
    let out = Shape::nhwc(2, 5, 5, 19); // (9 + 2 - 3) / 2 + 1 = 5
    for seed in [0u64, 1, 0xdead_beef_0000_1234, u64::MAX] {
        let want = run_dense(Isa::Reference, &params, shape, &x, Some(seed));
        for isa in isas() {
            let a = run_dense(isa, &params, shape, &x, Some(seed));
            let b = run_dense(isa, &params, shape, &x, Some(seed));
            let ab: Vec<u32> = a.iter().map(|v| v.to_bits()).collect();
            let bb: Vec<u32> = b.iter().map(|v| v.to_bits()).collect();
            let wb: Vec<u32> = want.iter().map(|v| v.to_bits()).collect();
            assert_eq!(ab, bb, "{isa}: same seed, same bits");
            assert_eq!(ab, wb, "{isa}: bit-identical to the reference");
        }
        // Every output is one of its window's positive inputs, or +0.0 when S == 0.
        for n in 0..2 {
            for oh in 0..5 {
                for ow in 0..5 {
                    for c in 0..19 {
                        let y = want[((n * 5 + oh) * 5 + ow) * 19 + c];
                        let taps = taps_k3s2p1(&x, shape, n, oh, ow, c);
                        if taps.iter().all(|&t| t <= 0.0) {
                            assert_eq!(y.to_bits(), 0, "S == 0 at ({n},{oh},{ow},{c})");
                        } else {
                            assert!(
                                y > 0.0 && taps.contains(&y),
                                "({n},{oh},{ow},{c}): {y} not a positive tap of {taps:?}"
                            );
                        }
                    }
                }
            }
        }
    }
    // run() uses the seed given to the params.
    for isa in isas() {
        assert_eq!(
            run_dense(isa, &params, shape, &x, None),
            run_dense(isa, &params, shape, &x, Some(0xfeed))
        );
    }
    // Another seed (a training step) changes many choices without re-planning.
    let a = run_dense(Isa::Best, &params, shape, &x, Some(1));
    let b = run_dense(Isa::Best, &params, shape, &x, Some(2));
    let differ = a
        .iter()
        .zip(&b)
        .filter(|(p, q)| p.to_bits() != q.to_bits())
        .count();
    assert!(
        differ >= 50,
        "only {differ} of {} outputs changed with the seed",
        out.num_elements().unwrap()
    );
}

#[test]
fn philox_known_answers() {
    // Random123's known answers, as listed in SPEC.md.
    assert_eq!(
        philox4x32_10([0; 4], [0; 2]),
        [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]
    );
    assert_eq!(
        philox4x32_10(
            [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
            [0xa4093822, 0x299f31d0]
        ),
        [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]
    );
    // u of output (n 0, oh 0, ow 0, c 0) with seed 0 is (r[0] >> 8) * 2^-24 of the first
    // known answer: 0x6627e8 / 2^24 = 6694888 / 16777216.
    assert_eq!(
        stochastic_uniform(0, 0, 0, 0, 0),
        6_694_888.0 / 16_777_216.0
    );
    // The counter is (c, ow, oh, n) and the key (seed low, seed high): the second known answer
    // is n = 0x03707344, oh = 0x13198a2e, ow = 0x85a308d3, c = 0x243f6a88, seed
    // 0x299f31d0_a4093822; 0xd16cfe09 >> 8 = 0xd16cfe = 13724926.
    assert_eq!(
        stochastic_uniform(
            0x299f_31d0_a409_3822,
            0x0370_7344,
            0x1319_8a2e,
            0x85a3_08d3,
            0x243f_6a88
        ),
        13_724_926.0 / 16_777_216.0
    );
}
