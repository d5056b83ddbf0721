//! The `signgate` command: parse the arguments, run the subcommand, exit
//! with its code. Everything else is in [`cli`] and the library.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    cli::run(cli::Cli::parse())
}
