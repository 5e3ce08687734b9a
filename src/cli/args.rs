//! Hand-rolled argument parsing: `--flag value` pairs, switches and positionals, each flag at
//! most once, every value checked with a message naming the flag.

use std::collections::BTreeMap;

/// Parsed arguments.
pub(crate) struct Args {
    values: BTreeMap<&'static str, String>,
    switches: Vec<&'static str>,
    pub positionals: Vec<String>,
}

/// Splits `args` given the flags that take a value and the switches.
pub(crate) fn parse(
    args: &[String],
    valued: &[&'static str],
    switches: &[&'static str],
) -> Result<Args, String> {
    let mut out = Args {
        values: BTreeMap::new(),
        switches: Vec::new(),
        positionals: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if let Some(&flag) = valued.iter().find(|f| **f == a) {
            // The next argument is the value even if it starts with '-' (--clamp -1,0.5),
            // unless it is one of the known options: then the value is missing.
            let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
            if valued.contains(&v.as_str()) || switches.contains(&v.as_str()) {
                return Err(format!("{flag} needs a value (got the option '{v}')"));
            }
            if out.values.insert(flag, v.clone()).is_some() {
                return Err(format!("{flag} given twice"));
            }
        } else if let Some(&sw) = switches.iter().find(|f| **f == a) {
            if out.switches.contains(&sw) {
                return Err(format!("{sw} given twice"));
            }
            out.switches.push(sw);
        } else if a.starts_with("--") || (a.starts_with('-') && a.len() > 1) {
            return Err(format!("unknown option '{a}'"));
        } else {
            out.positionals.push(a.clone());
        }
    }
    Ok(out)
}

impl Args {
    pub(crate) fn value(&self, flag: &str) -> Option<&str> {
        self.values.get(flag).map(String::as_str)
    }
    pub(crate) fn has(&self, flag: &str) -> bool {
        self.values.contains_key(flag) || self.switches.contains(&flag)
    }
}

/// A non-negative integer.
pub(crate) fn usize_of(flag: &str, s: &str) -> Result<usize, String> {
    s.parse::<usize>()
        .map_err(|_| format!("{flag} = '{s}': expected a non-negative integer"))
}

/// An f64; accepts `inf`, `-inf`, `+inf`, `infinity`.
pub(crate) fn float_of(flag: &str, s: &str) -> Result<f64, String> {
    let t = s.trim();
    let v = match t.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => t
            .parse::<f64>()
            .map_err(|_| format!("{flag} = '{s}': expected a number (or inf, -inf)"))?,
    };
    if v.is_nan() {
        return Err(format!("{flag} = '{s}': NaN is not allowed"));
    }
    Ok(v)
}

/// Exactly `n` comma-separated items.
pub(crate) fn list<'a>(
    flag: &str,
    s: &'a str,
    n: usize,
    what: &str,
) -> Result<Vec<&'a str>, String> {
    let v: Vec<&str> = s.split(',').collect();
    if v.len() != n {
        return Err(format!("{flag} = '{s}': expected {what}"));
    }
    Ok(v)
}

/// `A,B` as two integers.
pub(crate) fn pair(flag: &str, s: &str) -> Result<[usize; 2], String> {
    let v = list(flag, s, 2, "two comma-separated integers")?;
    Ok([usize_of(flag, v[0])?, usize_of(flag, v[1])?])
}
