//! The `mana-auth` binary: parse the command line, set up logging, run.

fn main() -> std::process::ExitCode {
    mana_auth::cli::main()
}
