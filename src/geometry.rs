//! Window, padding and output-size arithmetic per spatial axis (SPEC.md "Window geometry").
//!
//! Everything is checked here, once, when a plan is made; afterwards every index a kernel
//! computes from an [`Axis`] is known to fit in `isize`.

use crate::error::{Error, ErrorKind, Result};
use crate::params::{Dims, Padding, Window};

/// One resolved spatial axis of a pooling problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Axis {
    /// Input size along the axis.
    pub input: usize,
    /// Kernel taps.
    pub k: usize,
    /// Stride.
    pub s: usize,
    /// Dilation.
    pub d: usize,
    /// Padding before the input.
    pub pad_begin: usize,
    /// Padding after the input.
    pub pad_end: usize,
    /// Output size.
    pub out: usize,
}

impl Axis {
    /// A pass-through axis of size `n` (1x1 window), used for the H axis of 1-D pooling.
    pub fn identity(n: usize) -> Axis {
        Axis {
            input: n,
            k: 1,
            s: 1,
            d: 1,
            pad_begin: 0,
            pad_end: 0,
            out: n,
        }
    }

    /// The whole axis as one window (global pooling).
    pub fn global(n: usize) -> Axis {
        Axis {
            input: n,
            k: n,
            s: 1,
            d: 1,
            pad_begin: 0,
            pad_end: 0,
            out: 1,
        }
    }

    /// Effective kernel `d*(k-1)+1` (fits: checked when the axis was resolved).
    pub fn effective(&self) -> usize {
        self.d * (self.k - 1) + 1
    }

    /// First input index of output `o`'s window (negative inside the leading padding).
    #[inline(always)]
    pub fn start(&self, o: usize) -> isize {
        (o * self.s) as isize - self.pad_begin as isize
    }

    /// The taps `j` of output `o` that land inside the input: `lo..hi`, never empty.
    #[inline(always)]
    pub fn taps(&self, o: usize) -> (usize, usize) {
        let hs = self.start(o);
        let d = self.d as isize;
        let lo = if hs >= 0 {
            0
        } else {
            ((-hs + d - 1) / d) as usize
        };
        let room = self.input as isize - hs;
        let hi = if room <= 0 {
            0
        } else {
            (((room + d - 1) / d) as usize).min(self.k)
        };
        (lo, hi.max(lo))
    }

    /// PyTorch's `count_include_pad` count: taps before `input + pad_end`.
    #[inline(always)]
    pub fn include_pad_count(&self, o: usize) -> usize {
        let room = (self.input + self.pad_end) as isize - self.start(o);
        let d = self.d as isize;
        if room <= 0 {
            0
        } else {
            (((room + d - 1) / d) as usize).min(self.k)
        }
    }

    /// Output positions whose whole window is inside the input: `lo..hi` (may be empty).
    pub fn interior(&self) -> (usize, usize) {
        let lo = self.pad_begin.div_ceil(self.s);
        let ke = self.effective();
        let hi = if self.input + self.pad_begin >= ke {
            ((self.input + self.pad_begin - ke) / self.s + 1).min(self.out)
        } else {
            0
        };
        (lo.min(hi), hi)
    }
}

/// Axis names for messages: `H`, `W` for 2-D; `W` for 1-D; `D`, `H`, `W` for 3-D.
pub(crate) fn axis_name(rank: usize, i: usize) -> &'static str {
    ["D", "H", "W"][3 - rank + i]
}

fn geometry_error(msg: String) -> Error {
    Error::new(ErrorKind::InvalidGeometry, msg)
}

fn overflow(what: &str) -> Error {
    Error::new(
        ErrorKind::Overflow,
        format!("{what}: size arithmetic overflows"),
    )
}

/// Resolves every spatial axis of `window` for `input` spatial sizes.
pub(crate) fn resolve(window: &Window, input: Dims) -> Result<Vec<Axis>> {
    let rank = input.rank();
    for (name, d) in [
        ("kernel", window.kernel),
        ("stride", window.stride),
        ("dilation", window.dilation),
    ] {
        if d.rank() != rank {
            return Err(Error::param(
                name,
                format!("[{d}]"),
                &format!(
                    "has {} axes but the input has {rank} spatial axes",
                    d.rank()
                ),
            ));
        }
    }
    if let Padding::Explicit { begin, end } = window.padding {
        for (name, d) in [("padding begin", begin), ("padding end", end)] {
            if d.rank() != rank {
                return Err(Error::param(
                    name,
                    format!("[{d}]"),
                    &format!(
                        "has {} axes but the input has {rank} spatial axes",
                        d.rank()
                    ),
                ));
            }
        }
    }
    if window.ceil_mode && matches!(window.padding, Padding::SameUpper | Padding::SameLower) {
        return Err(Error::param(
            "ceil_mode",
            "true",
            &format!(
                "cannot be combined with padding {:?} (its output size is already fixed)",
                window.padding
            ),
        ));
    }
    (0..rank).map(|i| resolve_axis(window, input, i)).collect()
}

fn resolve_axis(window: &Window, input: Dims, i: usize) -> Result<Axis> {
    let rank = input.rank();
    let name = axis_name(rank, i);
    let n = input.as_slice()[i];
    let k = window.kernel.as_slice()[i];
    let s = window.stride.as_slice()[i];
    let d = window.dilation.as_slice()[i];
    for (param, v) in [("kernel", k), ("stride", s), ("dilation", d)] {
        if v == 0 {
            return Err(Error::param(
                format!("{param}[{i}] ({name})"),
                v,
                "must be at least 1",
            ));
        }
    }
    // A single tap never uses the dilation: normalise it so that no kernel multiplies a
    // (possibly huge) unused dilation by a stride.
    let d = if k == 1 { 1 } else { d };
    let ke = (k - 1)
        .checked_mul(d)
        .and_then(|x| x.checked_add(1))
        .filter(|&x| x <= isize::MAX as usize / 4)
        .ok_or_else(|| overflow(&format!("kernel[{i}] = {k} with dilation {d}")))?;
    if n > isize::MAX as usize / 4 {
        return Err(overflow(&format!("input size {n} along {name}")));
    }
    let (pad_begin, pad_end) = match window.padding {
        Padding::Explicit { begin, end } => (begin.as_slice()[i], end.as_slice()[i]),
        Padding::Valid => (0, 0),
        Padding::SameUpper | Padding::SameLower => {
            let out = n.div_ceil(s);
            let total = (out.saturating_sub(1) * s + ke).saturating_sub(n);
            if matches!(window.padding, Padding::SameUpper) {
                (total / 2, total - total / 2)
            } else {
                (total - total / 2, total / 2)
            }
        }
    };
    for (param, p) in [("padding begin", pad_begin), ("padding end", pad_end)] {
        if p >= ke {
            return Err(Error::param(
                format!("{param}[{i}] ({name})"),
                p,
                &format!("must be less than the effective kernel {ke} (dilation*(kernel-1)+1)"),
            ));
        }
    }
    if n == 0 {
        return Err(geometry_error(format!(
            "input size along {name} = 0: pooling needs at least one input position"
        )));
    }
    let total = n + pad_begin + pad_end;
    if total < ke {
        return Err(geometry_error(format!(
            "axis {name}: input {n} + padding {pad_begin} + {pad_end} is smaller than the effective kernel {ke}: empty output"
        )));
    }
    let span = total - ke;
    let mut out = if window.ceil_mode {
        span.div_ceil(s) + 1
    } else {
        span / s + 1
    };
    if window.ceil_mode && (out - 1) * s >= n + pad_begin {
        out -= 1;
    }
    let axis = Axis {
        input: n,
        k,
        s,
        d,
        pad_begin,
        pad_end,
        out,
    };
    if let Some(o) = first_empty_window(&axis) {
        return Err(geometry_error(format!(
            "axis {name}: the window of output {o} (input positions {} to {} step {d}) lies wholly in padding",
            axis.start(o),
            axis.start(o) + (ke as isize - 1)
        )));
    }
    Ok(axis)
}

/// The first output whose window holds no in-input tap, without visiting every output (a loop
/// over all outputs made `Plan::new` hang for huge valid sizes, e.g. 1-D W = 2^40).
///
/// With `hs = o*s - pad_begin`, the window of `o` is empty iff `hs >= in` (every tap past the
/// input), or `hs < 0` and the first tap at or after 0, `hs.rem_euclid(d)`, is `>= in` (the
/// taps jump over the input; only possible when `in < d`). Taps wholly before the input cannot
/// happen: `pad_begin < ke` puts the last tap at or after 0. The first kind is monotone in `o`;
/// for the second, the residues of `o*s - pad_begin` mod `d` repeat with period
/// `d / gcd(s, d)` and, as long as no empty window is found, are distinct values below `in`,
/// so the scan below visits at most `min(in, d) + 1` outputs.
fn first_empty_window(a: &Axis) -> Option<usize> {
    let (n, s, d, pb) = (a.input as isize, a.s, a.d, a.pad_begin);
    if a.input < a.d {
        // Outputs whose window starts in the leading padding: o*s < pad_begin.
        let negative = pb.div_ceil(s).min(a.out);
        let period = d / gcd(s, d);
        for o in 0..negative.min(period) {
            if a.start(o).rem_euclid(d as isize) >= n {
                return Some(o);
            }
        }
    }
    // The first output starting at or past the end of the input.
    let past = (a.input + pb).div_ceil(s);
    (past < a.out).then_some(past)
}

/// Greatest common divisor (`gcd(a, 0) = a`).
pub(crate) fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axis(
        n: usize,
        k: usize,
        s: usize,
        d: usize,
        pb: usize,
        pe: usize,
        ceil: bool,
    ) -> Result<Axis> {
        let w = Window::new([k])
            .stride([s])
            .dilation([d])
            .padding(Padding::explicit([pb], [pe]))
            .ceil_mode(ceil);
        resolve(&w, [n].into()).map(|v| v[0])
    }

    #[test]
    fn floor_and_ceil_sizes() {
        assert_eq!(axis(112, 3, 2, 1, 1, 1, false).unwrap().out, 56);
        assert_eq!(axis(147, 3, 2, 1, 0, 0, false).unwrap().out, 73);
        // 5 inputs, k 2, s 2: floor 2, ceil 3 (last window starts at 4, inside the input).
        assert_eq!(axis(5, 2, 2, 1, 0, 0, false).unwrap().out, 2);
        assert_eq!(axis(5, 2, 2, 1, 0, 0, true).unwrap().out, 3);
        // 4 inputs, k 2, s 2, pad 1/1: ceil gives ceil(4/2)+1 = 3; the last window starts at
        // 2*2-1 = 3 < 4, so it stays.
        assert_eq!(axis(4, 2, 2, 1, 1, 1, true).unwrap().out, 3);
        // 6 inputs, k 3, s 3, pad 0/2: ceil((8-3)/3)+1 = 3 but window 2 would start at 6 = in:
        // PyTorch's rule drops it.
        assert_eq!(axis(6, 3, 3, 1, 0, 2, true).unwrap().out, 2);
    }

    #[test]
    fn taps_and_counts() {
        let a = axis(5, 3, 1, 1, 1, 1, false).unwrap();
        assert_eq!(a.out, 5);
        assert_eq!(a.taps(0), (1, 3));
        assert_eq!(a.taps(2), (0, 3));
        assert_eq!(a.taps(4), (0, 2));
        assert_eq!(a.include_pad_count(0), 3);
        assert_eq!(a.include_pad_count(4), 3);
        assert_eq!(a.interior(), (1, 4));
        let d = axis(7, 3, 1, 2, 2, 2, false).unwrap();
        assert_eq!(d.taps(0), (1, 3)); // taps at -2, 0, 2
        assert_eq!(d.taps(6), (0, 2)); // taps at 4, 6, 8
    }

    #[test]
    fn same_padding() {
        let w = |p| Window::new([3]).stride([2]).padding(p);
        let up = resolve(&w(Padding::SameUpper), [6].into()).unwrap()[0];
        let lo = resolve(&w(Padding::SameLower), [6].into()).unwrap()[0];
        // out = 3, total = 2*2 + 3 - 6 = 1.
        assert_eq!((up.out, up.pad_begin, up.pad_end), (3, 0, 1));
        assert_eq!((lo.out, lo.pad_begin, lo.pad_end), (3, 1, 0));
    }

    /// `first_empty_window` agrees with visiting every output, on every small geometry.
    #[test]
    fn empty_window_check_matches_brute_force() {
        for n in 1..=9 {
            for k in 1..=5 {
                for s in 1..=5 {
                    for d in 1..=5 {
                        let ke = d * (k - 1) + 1;
                        for pb in 0..ke {
                            for pe in 0..ke {
                                for ceil in [false, true] {
                                    let w = Window::new([k])
                                        .stride([s])
                                        .dilation([d])
                                        .padding(Padding::explicit([pb], [pe]))
                                        .ceil_mode(ceil);
                                    let total = n + pb + pe;
                                    if total < ke {
                                        continue;
                                    }
                                    let span = total - ke;
                                    let mut out = if ceil {
                                        span.div_ceil(s) + 1
                                    } else {
                                        span / s + 1
                                    };
                                    if ceil && (out - 1) * s >= n + pb {
                                        out -= 1;
                                    }
                                    let a = Axis {
                                        input: n,
                                        k,
                                        s,
                                        d,
                                        pad_begin: pb,
                                        pad_end: pe,
                                        out,
                                    };
                                    let brute = (0..out).find(|&o| {
                                        let (lo, hi) = a.taps(o);
                                        lo >= hi
                                    });
                                    assert_eq!(first_empty_window(&a), brute, "{a:?}");
                                    let r = resolve(&w, [n].into());
                                    assert_eq!(r.is_err(), brute.is_some(), "{a:?}: {r:?}");
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn huge_valid_axes_resolve_quickly() {
        // 2^40 outputs: every window holds the input's only position (taps at even offsets).
        let k = 1usize << 40;
        let ke = 2 * (k - 1) + 1;
        let w = Window::new([k])
            .stride([2])
            .dilation([2])
            .padding(Padding::symmetric([ke - 1]));
        let a = resolve(&w, [1].into()).unwrap()[0];
        assert_eq!(a.out, k);
        let a = resolve(&Window::new([1]), [1 << 60].into()).unwrap()[0];
        assert_eq!(a.out, 1 << 60);
    }

    #[test]
    fn errors() {
        assert_eq!(
            axis(4, 0, 1, 1, 0, 0, false).unwrap_err().kind(),
            ErrorKind::InvalidParameter
        );
        assert_eq!(
            axis(4, 2, 1, 1, 2, 0, false).unwrap_err().kind(),
            ErrorKind::InvalidParameter
        );
        assert_eq!(
            axis(1, 3, 1, 1, 0, 0, false).unwrap_err().kind(),
            ErrorKind::InvalidGeometry
        );
        // in = 1, k = 2, d = 3, pad_begin = 2, pad_end = 1: taps at -2 and 1, both outside.
        let e = axis(1, 2, 1, 3, 2, 1, false).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidGeometry);
        assert!(e.to_string().contains("wholly in padding"), "{e}");
        let e = resolve(
            &Window::new([2]).padding(Padding::SameUpper).ceil_mode(true),
            [4].into(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("ceil_mode"), "{e}");
    }
}
