//! The `academy` binary: see the `academy_cli` library for the commands.

fn main() -> std::process::ExitCode {
    academy_cli::main()
}
