//! Subcommand dispatch and the shared argument helpers.

/// `println!` that ends the process quietly when stdout is a closed pipe (`simdpool bench |
/// head`) instead of panicking, and with a message and status 1 on any other write error.
macro_rules! out {
    () => {
        $crate::cli::write_out(format_args!("\n"))
    };
    ($($t:tt)*) => {
        $crate::cli::write_out(format_args!("{}\n", format_args!($($t)*)))
    };
}

/// Writes to stdout; see `out!`.
pub(crate) fn write_out(a: std::fmt::Arguments) {
    use std::io::Write;
    if let Err(e) = std::io::stdout().write_fmt(a) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("simdpool: error: writing to stdout: {e}");
            std::process::exit(1);
        }
        std::process::exit(0);
    }
}

mod args;
mod bench;
mod info;
mod run;

/// A thread pool of `n` threads for `--threads n` (n > 1), or None for the calling thread.
#[cfg(feature = "rayon")]
pub(crate) fn pool(n: usize) -> Result<Option<rayon::ThreadPool>, String> {
    if n == 0 {
        return Err("--threads = 0: must be at least 1".into());
    }
    if n == 1 {
        return Ok(None);
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .map(Some)
        .map_err(|e| format!("--threads = {n}: cannot start the threads: {e}"))
}

/// Without the `rayon` feature only one thread exists.
#[cfg(not(feature = "rayon"))]
pub(crate) fn pool(n: usize) -> Result<Option<()>, String> {
    match n {
        0 => Err("--threads = 0: must be at least 1".into()),
        1 => Ok(None),
        _ => Err(format!(
            "--threads = {n}: this build has no `rayon` feature (use 1)"
        )),
    }
}

/// The `Threads` choice for a pool from [`pool`].
#[cfg(feature = "rayon")]
pub(crate) fn threads(p: &Option<rayon::ThreadPool>) -> simdpool::Threads<'_> {
    match p {
        Some(p) => simdpool::Threads::Pool(p),
        None => simdpool::Threads::Current,
    }
}

/// The `Threads` choice without rayon: always the calling thread.
#[cfg(not(feature = "rayon"))]
pub(crate) fn threads(_: &Option<()>) -> simdpool::Threads<'static> {
    simdpool::Threads::Current
}

pub(crate) const USAGE: &str = "\
usage: simdpool <command> [options]

commands:
  info    CPU features, available tiers, the tier `best` picks, and the kernel registry
  bench   time the standard workloads: [--json] [--threads N] [--isa X] [--filter S]
          [--all-kernels] (every registry kernel that accepts each workload, side by side)
  run     pool an .npy file (NHWC f32, rank 4) into another:
          --op <max|avg|lp|stochastic|global-max|global-avg|global-lp>
          [--kernel KH,KW] [--stride SH,SW] [--dilation DH,DW]
          [--pad TOP,LEFT,BOTTOM,RIGHT | --pad valid | --pad same-upper | --pad same-lower]
          [--ceil] [--count-include-pad] [--divisor N] [--p P] [--seed S] [--train]
          [--clamp LO,HI] [--isa reference|baseline|avx2|avx512|best] [--threads N]
          INPUT.npy OUTPUT.npy
";

/// Runs a command line; returns the exit code (0 ok, 2 on any error).
pub(crate) fn main(args: &[String]) -> i32 {
    let (cmd, rest) = match args.split_first() {
        Some((c, r)) => (c.as_str(), r),
        None => {
            eprint!("{USAGE}");
            return 2;
        }
    };
    // `simdpool bench --help`: the usage, as for `simdpool --help` (before parsing, which would
    // call it an unknown option).
    let asks_help = rest.iter().any(|a| a == "--help" || a == "-h");
    let result = match cmd {
        "info" | "bench" | "run" if asks_help => {
            write_out(format_args!("{USAGE}"));
            Ok(())
        }
        "info" => info::main(rest),
        "bench" => bench::main(rest),
        "run" => run::main(rest),
        "help" | "--help" | "-h" => {
            write_out(format_args!("{USAGE}"));
            Ok(())
        }
        other => Err(format!(
            "unknown command '{other}' (expected info, bench or run; see simdpool --help)"
        )),
    };
    match result {
        Ok(()) => 0,
        Err(msg) => {
            eprintln!("{}", one_line(&format!("simdpool {cmd}: error: {msg}")));
            2
        }
    }
}

/// The error line with control characters escaped, so that a newline in an argument (a path,
/// a value, a command name) cannot split it: every failure prints exactly one line.
fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}
