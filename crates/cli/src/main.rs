//! The `stackform` binary: all of it is the library's `main`.

fn main() -> std::process::ExitCode {
    stackform_cli::main()
}
