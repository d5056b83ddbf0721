//! The `signgate` command: process wiring only.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use signgate::config::Config;
use signgate::proxy::App;
use signgate::telemetry::{self, LogFormat};

/// Exit code for a configuration the operator must fix (EX_USAGE).
const EXIT_CONFIG: u8 = 64;

#[derive(Parser)]
#[command(
    name = "signgate",
    version,
    about = "A pull-through OCI registry proxy that enforces image signatures in-line"
)]
struct Cli {
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
    /// Work with configuration files.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate a configuration file and report every problem in it.
    Check { file: PathBuf },
    /// Print the embedded default configuration.
    Default,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config, log_format } => serve(config, log_format),
        Command::Config {
            command: ConfigCommand::Check { file },
        } => match Config::load(&file) {
            Ok(_) => {
                println!("{}: ok", file.display());
                ExitCode::SUCCESS
            }
            Err(errors) => {
                eprint!("{errors}");
                ExitCode::from(EXIT_CONFIG)
            }
        },
        Command::Config {
            command: ConfigCommand::Default,
        } => {
            print!("{}", signgate::config::EMBEDDED_DEFAULT);
            ExitCode::SUCCESS
        }
    }
}

fn serve(config_path: Option<PathBuf>, log_format: LogFormat) -> ExitCode {
    telemetry::init(log_format);
    let config = match &config_path {
        Some(path) => Config::load(path),
        None => Config::embedded_default(),
    };
    let config = match config {
        Ok(c) => c,
        Err(errors) => {
            eprint!("{errors}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("signgate: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let app = match App::new(&config) {
            Ok(app) => Arc::new(app),
            Err(e) => {
                eprintln!("signgate: {e}");
                return ExitCode::FAILURE;
            }
        };
        let listener = match tokio::net::TcpListener::bind(config.listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("signgate: cannot listen on {}: {e}", config.listen);
                return ExitCode::FAILURE;
            }
        };
        let address = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
        tracing::info!(
            %address,
            config = %config_path.as_ref().map_or("<embedded default>".to_owned(), |p| p.display().to_string()),
            upstreams = config.upstreams.len(),
            "signgate listening"
        );
        signgate::server::serve(listener, app, signgate::server::shutdown_signal()).await;
        ExitCode::SUCCESS
    })
}
