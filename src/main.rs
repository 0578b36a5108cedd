//! The `portico` command: parses the command line and hands over to the library.

/// mimalloc rather than the system's allocator: a routed call allocates some forty small objects
/// across two HTTP stacks, at about half glibc's cost each (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    portico::cli::run()
}
