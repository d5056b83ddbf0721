//! The command line: the subcommands, their arguments, and how each ends.
//!
//! One file per subcommand; each prints its own output and returns an
//! [`Exit`], the one list of exit codes. The pipeline, the server and the
//! background tasks are the library's: nothing here decides on an image
//! or serves a request.
//!
//! Architecture invariant: printing and exit codes live here and nowhere in
//! the library.

mod check;
mod doctor;
mod exit;
mod load;
mod mirror;
mod serve;
mod tls;
mod trust;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use signgate::telemetry::LogFormat;

pub(crate) use exit::Exit;

#[derive(Parser)]
#[command(
    name = "signgate",
    version,
    about = "A pull-through OCI registry proxy that enforces image signatures in-line"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the registry API (on the embedded default config without --config).
    Serve {
        /// Configuration file (YAML).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Log format.
        #[arg(long, value_enum, default_value = "human")]
        log_format: LogFormat,
    },
    /// Decide on one image with the proxy's own pipeline, and print why.
    /// Exit 0: allowed; 1: denied; 2: error.
    Verify {
        /// `registry/repository[:tag|@digest]`; without a registry, the default upstream.
        image: String,
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "text")]
        output: Output,
        /// Print every signature found and every check made on it.
        #[arg(long)]
        explain: bool,
    },
    /// Work with configuration files.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Work with policy directories.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Check whether this node's runtimes can pull around signgate.
    /// Exit 0: every pull goes through signgate; 1: a bypass exists.
    Doctor {
        /// signgate's address as the runtimes name it.
        #[arg(long, default_value = "127.0.0.1:5000")]
        signgate: String,
        /// Registries to report on, besides those the files name.
        #[arg(long = "registry", default_values = ["docker.io"])]
        registries: Vec<String>,
        /// Prefix for the system paths (to check a copied tree).
        #[arg(long, default_value = "/")]
        root: PathBuf,
    },
    /// Carry verified images across an air gap: export what the policies
    /// admit (with its signatures, policies and trusted roots) to an OCI
    /// layout directory; `mirror import DIR` verifies it offline and loads it
    /// into the configured store. Exit 0: everything done; 1: something
    /// refused; 2: error.
    #[command(args_conflicts_with_subcommands = true)]
    Mirror {
        #[command(subcommand)]
        command: Option<MirrorCommand>,
        /// Images to export: `registry/repository[:tag|@digest]`.
        images: Vec<String>,
        /// A file with one image per line (`#` comments allowed).
        #[arg(long)]
        from: Option<PathBuf>,
        /// The export directory (created, or resumed).
        #[arg(long)]
        to: Option<PathBuf>,
        /// `os/arch[/variant]` platform manifests to take from an index (default: all).
        #[arg(long = "platform")]
        platforms: Vec<String>,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// TLS helpers.
    Tls {
        #[command(subcommand)]
        command: TlsCommand,
    },
    /// Trusted roots: which are in force and where they came from; import
    /// one for an air-gapped site.
    Trust {
        #[command(subcommand)]
        command: TrustCommand,
    },
}

#[derive(Subcommand)]
enum TrustCommand {
    /// Every trusted root in force: name, origin, TUF versions and expiry,
    /// last refresh and its result (from the cache: no network).
    Status {
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Import a TUF repository copy (verified offline against the bootstrap
    /// root of --name, or --root) or a plain trusted_root.json into the
    /// cache directory; the next start uses it. Exit 1: it did not verify.
    Import {
        dir: PathBuf,
        #[arg(long)]
        config: Option<PathBuf>,
        /// The TUF source it is for.
        #[arg(long, default_value = "public-good")]
        name: String,
        /// The bootstrap TUF root.json (default: the source's own).
        #[arg(long)]
        root: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum TlsCommand {
    /// Write a CA (ca.crt) and a server certificate (server.crt, server.key)
    /// into DIR, and a client cert dir for mTLS (client/{ca.crt,client.cert,client.key}).
    SelfSigned {
        dir: PathBuf,
        /// DNS names or IP addresses of the server.
        #[arg(long = "name", default_values = ["localhost", "127.0.0.1"])]
        names: Vec<String>,
    },
}

#[derive(Subcommand)]
enum MirrorCommand {
    /// Verify an export offline with this site's policies and keep what
    /// passes in the configured store.
    Import {
        dir: PathBuf,
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate a configuration file and report every problem in it.
    Check { file: PathBuf },
    /// Print the embedded default configuration.
    Default,
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Validate every policy file in a directory (with --config, its
    /// `trust.roots` resolve `trustRootRef`s).
    Check {
        dir: PathBuf,
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Output {
    Text,
    Json,
}

/// Run one parsed command line to its end.
pub(crate) fn run(cli: Cli) -> ExitCode {
    let exit = match cli.command {
        Command::Serve { config, log_format } => serve::run(config, log_format),
        Command::Verify {
            image,
            config,
            output,
            explain,
        } => verify::run(&image, config.as_deref(), output, explain),
        Command::Config {
            command: ConfigCommand::Check { file },
        } => check::config(&file),
        Command::Config {
            command: ConfigCommand::Default,
        } => check::default_config(),
        Command::Policy {
            command: PolicyCommand::Check { dir, config },
        } => check::policy(&dir, config.as_deref()),
        Command::Mirror {
            command,
            images,
            from,
            to,
            platforms,
            config,
        } => mirror::run(command, images, from, to, platforms, config),
        Command::Doctor {
            signgate,
            registries,
            root,
        } => doctor::run(signgate, registries, root),
        Command::Tls {
            command: TlsCommand::SelfSigned { dir, names },
        } => tls::self_signed(&dir, &names),
        Command::Trust {
            command: TrustCommand::Status { config, json },
        } => trust::status(config.as_deref(), json),
        Command::Trust {
            command:
                TrustCommand::Import {
                    dir,
                    config,
                    name,
                    root,
                },
        } => trust::import(&dir, config.as_deref(), &name, root.as_deref()),
    };
    exit.into()
}
