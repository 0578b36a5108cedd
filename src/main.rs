//! The `portico` command: parses the command line and hands over to the library.

fn main() -> std::process::ExitCode {
    portico::cli::run()
}
