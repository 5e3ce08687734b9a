//! The `simdpool` command: `info`, `bench` and `run`. Arguments are parsed by hand so that the
//! library carries no command-line dependency.

mod cli;

fn main() {
    let mut args = Vec::new();
    for a in std::env::args_os().skip(1) {
        match a.into_string() {
            Ok(s) => args.push(s),
            Err(bad) => {
                eprintln!("simdpool: error: argument {bad:?} is not valid UTF-8");
                std::process::exit(2);
            }
        }
    }
    std::process::exit(cli::main(&args));
}
