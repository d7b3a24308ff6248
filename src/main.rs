//! The `recaudo` command. Everything lives in the library (`recaudo::cli`), so tests drive the same code.

fn main() -> std::process::ExitCode {
    recaudo::cli::main()
}
