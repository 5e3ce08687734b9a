//! Turns `kernels/manifest.txt` into `$OUT_DIR/dispatch.rs` (the `#[target_feature]` shims, the
//! registry and the per-tier tables) and `$OUT_DIR/kernel_tests.rs` (one `#[test]` per kernel).
//! It writes no kernel body: each shim calls a generic Rust function with the tier's vector
//! token. The build fails with a message naming the row when the manifest is malformed.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

const OPS: &[&str] = &[
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
];
const DTYPES: &[&str] = &["f32"];
/// Families: a match naming a problem class whose kernel decides at plan time (cost rule).
const FAMILIES: &[&str] = &["s1"];

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Tier {
    Baseline,
    Avx2,
    Avx512,
}

impl Tier {
    const ALL: [Tier; 3] = [Tier::Baseline, Tier::Avx2, Tier::Avx512];
    fn name(self) -> &'static str {
        ["baseline", "avx2", "avx512"][self as usize]
    }
    fn variant(self) -> &'static str {
        ["Baseline", "Avx2", "Avx512"][self as usize]
    }
    /// Target features of the shim; None for the baseline (compiled for the target as is).
    fn features(self) -> Option<&'static str> {
        match self {
            Tier::Baseline => None,
            Tier::Avx2 => Some("avx2,fma,f16c"),
            Tier::Avx512 => Some("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c"),
        }
    }
    fn parse(s: &str) -> Option<Tier> {
        Tier::ALL.into_iter().find(|t| t.name() == s)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Match {
    Any,
    Window {
        kh: usize,
        kw: usize,
        sh: usize,
        sw: usize,
    },
    Family(String),
}

impl Match {
    fn parse(s: &str) -> Result<Match, String> {
        if s == "kany" {
            return Ok(Match::Any);
        }
        if FAMILIES.contains(&s) {
            return Ok(Match::Family(s.to_string()));
        }
        let rest = s.strip_prefix('k').ok_or_else(|| {
            format!("match '{s}': expected kany, a family {FAMILIES:?}, or k{{KH}}x{{KW}}s{{S}}")
        })?;
        let (k, st) = rest
            .split_once('s')
            .ok_or_else(|| format!("match '{s}': missing s{{S}}"))?;
        let (kh, kw) = k
            .split_once('x')
            .ok_or_else(|| format!("match '{s}': kernel must read {{KH}}x{{KW}}"))?;
        let (sh, sw) = st.split_once('x').unwrap_or((st, st));
        let num = |x: &str| -> Result<usize, String> {
            match x.parse::<usize>() {
                Ok(v) if v >= 1 && x == v.to_string() => Ok(v),
                _ => Err(format!("match '{s}': '{x}' is not a positive integer")),
            }
        };
        let m = Match::Window {
            kh: num(kh)?,
            kw: num(kw)?,
            sh: num(sh)?,
            sw: num(sw)?,
        };
        if m.id() != s {
            return Err(format!("match '{s}': write it as '{}'", m.id()));
        }
        Ok(m)
    }

    fn id(&self) -> String {
        match self {
            Match::Any => "kany".into(),
            Match::Family(f) => f.clone(),
            Match::Window { kh, kw, sh, sw } if sh == sw => format!("k{kh}x{kw}s{sh}"),
            Match::Window { kh, kw, sh, sw } => format!("k{kh}x{kw}s{sh}x{sw}"),
        }
    }

    /// Lower sorts first: exact windows, then families, then any.
    fn rank(&self) -> u8 {
        match self {
            Match::Window { .. } => 0,
            Match::Family(_) => 1,
            Match::Any => 2,
        }
    }

    fn rust(&self) -> String {
        match self {
            Match::Any => "Match::Any".into(),
            Match::Family(f) => format!("Match::Family({f:?})"),
            Match::Window { kh, kw, sh, sw } => {
                format!("Match::Window {{ kh: {kh}, kw: {kw}, sh: {sh}, sw: {sw} }}")
            }
        }
    }

    /// Const generic arguments passed to the entry after the tier type.
    fn generics(&self) -> String {
        match self {
            Match::Window { kh, kw, sh, sw } => format!(", {kh}, {kw}, {sh}, {sw}"),
            _ => String::new(),
        }
    }
}

#[derive(Clone, Debug)]
struct Row {
    line: usize,
    op: String,
    dtype: String,
    matches: Match,
    algorithm: String,
    entry: String,
    tiers: Vec<Tier>,
    stable: bool,
}

impl Row {
    fn id(&self, t: Tier) -> String {
        let alg = if self.algorithm.is_empty() {
            String::new()
        } else {
            format!("_{}", self.algorithm)
        };
        format!(
            "{}_{}_{}{}__{}",
            self.op,
            self.dtype,
            self.matches.id(),
            alg,
            t.name()
        )
    }
}

fn parse(text: &str) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let content = raw.split('#').next().unwrap_or("").trim();
        if content.is_empty() {
            continue;
        }
        let f: Vec<&str> = content.split_whitespace().collect();
        let err = |m: String| format!("kernels/manifest.txt:{line}: {m}");
        if f.len() != 7 {
            return Err(err(format!(
                "expected 7 columns (op dtype match algorithm entry tiers status), found {}",
                f.len()
            )));
        }
        if !OPS.contains(&f[0]) {
            return Err(err(format!("op '{}' is not one of {OPS:?}", f[0])));
        }
        if !DTYPES.contains(&f[1]) {
            return Err(err(format!("dtype '{}' is not one of {DTYPES:?}", f[1])));
        }
        let matches = Match::parse(f[2]).map_err(err)?;
        let algorithm = if f[3] == "-" {
            String::new()
        } else {
            f[3].to_string()
        };
        if !algorithm
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        {
            return Err(err(format!("algorithm '{}' must be [a-z0-9]+ or -", f[3])));
        }
        let entry = f[4].to_string();
        if !entry.split("::").all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        }) {
            return Err(err(format!(
                "entry '{entry}' must be a path under crate::kernels, like max::generic"
            )));
        }
        let mut tiers = Vec::new();
        for t in f[5].split(',') {
            let t = Tier::parse(t)
                .ok_or_else(|| err(format!("tier '{t}' is not baseline, avx2 or avx512")))?;
            if tiers.contains(&t) {
                return Err(err(format!("tier '{}' listed twice", t.name())));
            }
            tiers.push(t);
        }
        tiers.sort();
        let stable = match f[6] {
            "stable" => true,
            "experimental" => false,
            s => return Err(err(format!("status '{s}' is not stable or experimental"))),
        };
        rows.push(Row {
            line,
            op: f[0].into(),
            dtype: f[1].into(),
            matches,
            algorithm,
            entry,
            tiers,
            stable,
        });
    }
    // Collisions and the generic-row rule.
    let mut ids = BTreeSet::new();
    for r in &rows {
        for &t in &r.tiers {
            if !ids.insert(r.id(t)) {
                return Err(format!(
                    "kernels/manifest.txt:{}: kernel {} is defined twice",
                    r.line,
                    r.id(t)
                ));
            }
        }
    }
    let pairs: BTreeSet<(String, String)> = rows
        .iter()
        .map(|r| (r.op.clone(), r.dtype.clone()))
        .collect();
    for (op, dtype) in &pairs {
        for t in Tier::ALL {
            let ok = rows.iter().any(|r| {
                &r.op == op
                    && &r.dtype == dtype
                    && r.matches == Match::Any
                    && r.stable
                    && r.tiers.contains(&t)
            });
            if !ok {
                return Err(format!(
                    "kernels/manifest.txt: ({op}, {dtype}) has no stable generic (kany) row on tier {}: every tier needs one",
                    t.name()
                ));
            }
        }
    }
    Ok(rows)
}

/// `cfg` attribute for items of a tier.
fn cfg(t: Tier) -> &'static str {
    if t == Tier::Baseline {
        ""
    } else {
        "#[cfg(target_arch = \"x86_64\")]\n"
    }
}

fn generate(rows: &[Row]) -> (String, String) {
    let mut d = String::new();
    let mut tests = String::new();
    writeln!(
        d,
        "// Generated by build.rs from kernels/manifest.txt. Do not edit."
    )
    .unwrap();
    for r in rows {
        for &t in &r.tiers {
            let id = r.id(t);
            let feat = t
                .features()
                .map(|f| format!("#[target_feature(enable = \"{f}\")]\n"))
                .unwrap_or_default();
            write!(
                d,
                "\n/// Shim of `{id}` (manifest line {line}).\n\
                 #[allow(non_snake_case)]\n{cfg}{feat}\
                 unsafe fn {id}(job: &Job, tile: &Tile) {{\n    \
                 // SAFETY: this shim is reachable only through the registry and tables below, and\n    \
                 // Plan calls an entry only after tier detection found {tier} on this CPU; the\n    \
                 // job's buffers were validated by the plan (the kernel's own contract).\n    \
                 unsafe {{ kernels::{entry}::<{ty}{gen}>(<{ty} as SimdF32>::new_unchecked(), job, tile) }}\n}}\n\
                 #[allow(non_upper_case_globals)]\n{cfg}\
                 static K_{id}: KernelInfo = KernelInfo {{ name: \"{id}\", op: \"{op}\", dtype: \"{dtype}\", matches: {m}, algorithm: \"{alg}\", tier: Tier::{tv}, status: Status::{st}, func: {id} }};\n",
                line = r.line,
                cfg = cfg(t),
                tier = t.name(),
                entry = r.entry,
                ty = t.variant(),
                gen = r.matches.generics(),
                op = r.op,
                dtype = r.dtype,
                m = r.matches.rust(),
                alg = r.algorithm,
                tv = t.variant(),
                st = if r.stable { "Stable" } else { "Experimental" },
            )
            .unwrap();
            writeln!(
                tests,
                "#[test]\n#[allow(non_snake_case)]\nfn {id}() {{ crate::testing::check_registry_kernel(\"{id}\"); }}"
            )
            .unwrap();
        }
    }
    // Two versions of each list: x86-64 has all tiers, other targets only the baseline.
    for x86 in [true, false] {
        let keep = |t: Tier| x86 || t == Tier::Baseline;
        let c = if x86 {
            "#[cfg(target_arch = \"x86_64\")]"
        } else {
            "#[cfg(not(target_arch = \"x86_64\"))]"
        };
        writeln!(d, "\n{c}\npub(super) static REGISTRY: &[&KernelInfo] = &[").unwrap();
        for r in rows {
            for &t in r.tiers.iter().filter(|&&t| keep(t)) {
                writeln!(d, "    &K_{},", r.id(t)).unwrap();
            }
        }
        writeln!(d, "];").unwrap();
        writeln!(
            d,
            "/// Candidates per (op, dtype, tier), most specific first; a match without a row on a tier\n\
             /// uses the same match's row of the best lower tier.\n{c}\n\
             pub(super) static TABLE: &[(&str, &str, Tier, &[&KernelInfo])] = &["
        )
        .unwrap();
        let pairs: BTreeSet<(String, String)> = rows
            .iter()
            .map(|r| (r.op.clone(), r.dtype.clone()))
            .collect();
        for (op, dtype) in &pairs {
            for t in Tier::ALL.into_iter().filter(|&t| keep(t)) {
                let mut cands: Vec<(u8, usize, String)> = Vec::new();
                let mut seen = BTreeSet::new();
                for (i, r) in rows.iter().enumerate() {
                    if &r.op != op || &r.dtype != dtype || !r.stable {
                        continue;
                    }
                    let key = (r.matches.id(), r.algorithm.clone());
                    if seen.contains(&key) {
                        continue;
                    }
                    // The best tier <= t among all rows with this match and algorithm, used
                    // only if that row is stable: an experimental row on a tier blocks
                    // inheriting a lower tier's row there.
                    let best = rows
                        .iter()
                        .filter(|q| {
                            &q.op == op
                                && &q.dtype == dtype
                                && (q.matches.id(), q.algorithm.clone()) == key
                        })
                        .flat_map(|q| {
                            q.tiers
                                .iter()
                                .filter(|&&qt| qt <= t && keep(qt))
                                .map(move |&qt| (qt, q.stable, q.id(qt)))
                        })
                        .max();
                    if let Some((_, true, id)) = best {
                        seen.insert(key);
                        cands.push((r.matches.rank(), i, id));
                    }
                }
                cands.sort();
                let list: Vec<String> = cands.iter().map(|(_, _, id)| format!("&K_{id}")).collect();
                writeln!(
                    d,
                    "    (\"{op}\", \"{dtype}\", Tier::{}, &[{}]),",
                    t.variant(),
                    list.join(", ")
                )
                .unwrap();
            }
        }
        writeln!(d, "];").unwrap();
    }
    (d, tests)
}

fn main() {
    println!("cargo:rerun-if-changed=kernels");
    println!("cargo:rerun-if-changed=build.rs");
    let text = std::fs::read_to_string("kernels/manifest.txt").expect("read kernels/manifest.txt");
    let rows = match parse(&text) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            panic!("{e}");
        }
    };
    let (dispatch, tests) = generate(&rows);
    let out = std::env::var("OUT_DIR").expect("OUT_DIR");
    std::fs::write(Path::new(&out).join("dispatch.rs"), dispatch).expect("write dispatch.rs");
    std::fs::write(Path::new(&out).join("kernel_tests.rs"), tests).expect("write kernel_tests.rs");
}
