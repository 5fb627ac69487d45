//! The `rustctl` binary: a thin shell over the library.

fn main() {
    let code = rustctl::cli::run(
        std::env::args_os(),
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    );
    std::process::exit(code);
}
