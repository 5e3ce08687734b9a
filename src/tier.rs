//! ISA tiers: detection (cached once), the user's choice, and the `SIMDPOOL_ISA` cap.

use crate::error::{Error, ErrorKind, Result};
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

/// A level of SIMD support, ordered: `Baseline < Avx2 < Avx512`.
///
/// - `Baseline`: the `wide` crate's portable vectors: SSE2 on x86-64, NEON on aarch64,
///   simd128 on wasm32 (when compiled with it), scalar elsewhere. Always available.
/// - `Avx2`: x86-64-v3 (AVX2, FMA, F16C).
/// - `Avx512`: x86-64-v4 (AVX-512 F, BW, DQ, VL).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    /// Portable `wide` vectors.
    Baseline,
    /// AVX2 + FMA.
    Avx2,
    /// AVX-512 (F, BW, DQ, VL).
    Avx512,
}

impl Tier {
    /// Every tier, lowest first.
    pub const ALL: [Tier; 3] = [Tier::Baseline, Tier::Avx2, Tier::Avx512];

    /// The tier's name as used in kernel ids and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Tier::Baseline => "baseline",
            Tier::Avx2 => "avx2",
            Tier::Avx512 => "avx512",
        }
    }

    /// True if this CPU (and this build's target) can run the tier.
    pub fn is_available(self) -> bool {
        detected()[self as usize]
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which implementation a plan uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Isa {
    /// The scalar reference (SPEC.md written literally; slow; for cross-checking).
    Reference,
    /// Exactly this tier; an error if the CPU lacks it.
    Tier(Tier),
    /// The best tier of this CPU, capped by the `SIMDPOOL_ISA` environment variable if set.
    #[default]
    Best,
}

impl Isa {
    /// `reference`, `baseline`, `avx2`, `avx512` or `best`.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Reference => "reference",
            Isa::Tier(t) => t.name(),
            Isa::Best => "best",
        }
    }
}

impl fmt::Display for Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Isa {
    type Err = Error;
    fn from_str(s: &str) -> Result<Isa> {
        Ok(match s {
            "reference" => Isa::Reference,
            "baseline" => Isa::Tier(Tier::Baseline),
            "avx2" => Isa::Tier(Tier::Avx2),
            "avx512" => Isa::Tier(Tier::Avx512),
            "best" => Isa::Best,
            _ => {
                return Err(Error::param(
                    "isa",
                    format!("'{s}'"),
                    "expected one of reference, baseline, avx2, avx512, best",
                ));
            }
        })
    }
}

/// The environment variable that caps [`Isa::Best`].
pub const ISA_ENV: &str = "SIMDPOOL_ISA";

fn detected() -> &'static [bool; 3] {
    static DETECTED: OnceLock<[bool; 3]> = OnceLock::new();
    DETECTED.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            let avx2 = std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
                && std::arch::is_x86_feature_detected!("f16c");
            let avx512 = avx2
                && std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512dq")
                && std::arch::is_x86_feature_detected!("avx512vl");
            [true, avx2, avx512]
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            [true, false, false]
        }
    })
}

/// The tiers this CPU can run, lowest first (always starts with [`Tier::Baseline`]).
///
/// ```
/// let tiers = simdpool::available_tiers();
/// assert_eq!(tiers[0], simdpool::Tier::Baseline);
/// ```
pub fn available_tiers() -> Vec<Tier> {
    Tier::ALL.into_iter().filter(|t| t.is_available()).collect()
}

/// The highest tier this CPU can run (ignores `SIMDPOOL_ISA`).
pub fn best_tier() -> Tier {
    Tier::ALL
        .into_iter()
        .rev()
        .find(|t| t.is_available())
        .unwrap_or(Tier::Baseline)
}

/// Resolves a user's choice to `None` (the reference) or a tier this CPU has.
/// Reads `SIMDPOOL_ISA` for [`Isa::Best`].
pub(crate) fn resolve(isa: Isa) -> Result<Option<Tier>> {
    match isa {
        Isa::Reference => Ok(None),
        Isa::Tier(t) if t.is_available() => Ok(Some(t)),
        Isa::Tier(t) => Err(Error::new(
            ErrorKind::IsaUnavailable,
            format!(
                "isa = {t}: this CPU lacks it (available: {})",
                available_tiers()
                    .iter()
                    .map(|t| t.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
        Isa::Best => match std::env::var(ISA_ENV) {
            Err(std::env::VarError::NotPresent) => Ok(Some(best_tier())),
            Ok(v) if v.is_empty() => Ok(Some(best_tier())),
            Ok(v) => match v.parse::<Isa>() {
                Ok(Isa::Reference) => Ok(None),
                Ok(Isa::Tier(cap)) => Ok(Some(cap.min(best_tier()))),
                Ok(Isa::Best) => Ok(Some(best_tier())),
                Err(_) => Err(Error::new(
                    ErrorKind::InvalidEnvironment,
                    format!(
                        "{ISA_ENV} = '{v}': expected one of reference, baseline, avx2, avx512, best"
                    ),
                )),
            },
            Err(std::env::VarError::NotUnicode(v)) => Err(Error::new(
                ErrorKind::InvalidEnvironment,
                format!("{ISA_ENV} = {v:?}: not valid UTF-8"),
            )),
        },
    }
}
