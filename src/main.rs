//! The `recaudo` command. Everything lives in the library (`recaudo::cli`), so tests drive the same code.

// glibc's allocator spent a fifth of an import's CPU in malloc/free (millions of small strings per file, freed on
// other threads); mimalloc is markedly faster at that.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    recaudo::cli::main()
}
