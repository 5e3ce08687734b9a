//! The random bits of stochastic pooling: Philox4x32-10 (Salmon, Moraes, Dror, Shaw,
//! "Parallel random numbers: as easy as 1, 2, 3", SC 2011; the Random123 library).
//!
//! A counter-based generator: the bits of output `(n, oh, ow, c)` are a pure function of that
//! position and the seed, so the sampled tap never depends on threads, tiles or ISA, and a
//! framework's backward pass can recompute it. The rule, restated so that another
//! implementation can reproduce every choice:
//!
//! 1. `counter = [c, ow, oh, n]` (each a `u32`), `key = [seed as u32, (seed >> 32) as u32]`.
//! 2. Ten rounds. Each round, with `M0 = 0xD2511F53`, `M1 = 0xCD9E8D57`, computes the 64-bit
//!    products `p0 = M0 * counter[0]`, `p1 = M1 * counter[2]` and sets
//!    `counter = [hi(p1) ^ counter[1] ^ key[0], lo(p1), hi(p0) ^ counter[3] ^ key[1], lo(p0)]`;
//!    between rounds `key[0] += 0x9E3779B9`, `key[1] += 0xBB67AE85` (wrapping).
//! 3. `u = (r[0] >> 8) as f32 * 2^-24` (exact, in `[0, 1)`), `t = u * S` in f32, where `S` is
//!    the f32 sum of `max(x, 0)` over the window's in-input taps in window order.
//! 4. The chosen tap is the first (row-major over the window) whose running f32 prefix sum of
//!    `max(x, 0)` is `> t`; if rounding leaves none, the last tap with `x > 0`. If `S` is `+inf`,
//!    the first tap where the prefix sum becomes `+inf`. A window with a NaN gives NaN (index:
//!    its first NaN); `S == 0` gives `+0.0` (index: its first in-input tap).
//!
//! ```
//! // Known answers from Random123.
//! assert_eq!(simdpool::philox::philox4x32_10([0; 4], [0; 2]), [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
//! ```

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

#[inline(always)]
fn round(c: [u32; 4], k: [u32; 2]) -> [u32; 4] {
    let p0 = u64::from(M0) * u64::from(c[0]);
    let p1 = u64::from(M1) * u64::from(c[2]);
    [
        (p1 >> 32) as u32 ^ c[1] ^ k[0],
        p1 as u32,
        (p0 >> 32) as u32 ^ c[3] ^ k[1],
        p0 as u32,
    ]
}

/// Philox4x32 with 10 rounds.
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = counter;
    let mut k = key;
    for r in 0..10 {
        if r > 0 {
            k = [k[0].wrapping_add(W0), k[1].wrapping_add(W1)];
        }
        c = round(c, k);
    }
    c
}

/// The uniform `u in [0, 1)` of stochastic pooling for output `(n, oh, ow, c)` and `seed`.
pub fn stochastic_uniform(seed: u64, n: u32, oh: u32, ow: u32, c: u32) -> f32 {
    let r = philox4x32_10([c, ow, oh, n], [seed as u32, (seed >> 32) as u32]);
    (r[0] >> 8) as f32 * (1.0 / 16_777_216.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
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
    }

    #[test]
    fn uniform_is_in_range_and_exact() {
        for i in 0..1000 {
            let u = stochastic_uniform(i, 0, 1, 2, 3);
            assert!((0.0..1.0).contains(&u));
            assert_eq!((u * 16_777_216.0).fract(), 0.0);
        }
    }
}
