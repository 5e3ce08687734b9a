//! The `simdpool` command: `info`, `bench` and `run`. Arguments are parsed by hand so that the
//! library carries no command-line dependency.

mod cli;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(cli::main(&args));
}
