//! The `shortline` command; everything it does lives in the library.

fn main() -> std::process::ExitCode {
    shortline::main()
}
