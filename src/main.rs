//! The `signgate` command: process wiring only.
#![deny(clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use clap::{Parser, Subcommand, ValueEnum};
use signgate::config::{Config, PolicySource};
use signgate::policy::{PolicyErrors, PolicySet};
use signgate::proxy::App;
use signgate::telemetry::{self, LogFormat};

/// Exit code for a configuration the operator must fix (EX_USAGE).
const EXIT_CONFIG: u8 = 64;
/// Exit code for an argument that cannot be used (and for `verify`,
/// `mirror` and `doctor`, any error short of a verdict).
const EXIT_USAGE: u8 = 2;
/// How often the policy directory is checked for changes.
const POLICY_POLL: Duration = Duration::from_secs(2);
/// How often the store is garbage-collected down to its budget.
const STORE_GC_INTERVAL: Duration = Duration::from_secs(300);

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

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config, log_format } => serve(config, log_format),
        Command::Verify {
            image,
            config,
            output,
            explain,
        } => verify(&image, config, output, explain),
        Command::Config {
            command: ConfigCommand::Check { file },
        } => match Config::load(&file) {
            Ok(config) => {
                for w in config.warnings() {
                    eprintln!("{}: warning: {}: {}", file.display(), w.path, w.message);
                }
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
        Command::Mirror {
            command,
            images,
            from,
            to,
            platforms,
            config,
        } => mirror(command, images, from, to, platforms, config),
        Command::Doctor {
            signgate,
            registries,
            root,
        } => {
            if let Err(e) = check_doctor_args(&signgate, &registries, &root) {
                eprintln!("signgate doctor: {e}");
                return ExitCode::from(EXIT_USAGE);
            }
            let findings = signgate::doctor::check(&signgate::doctor::Node {
                root,
                signgate,
                registries,
            });
            if findings.is_empty() {
                println!("no containerd, Docker or containers configuration found");
            }
            for f in &findings {
                println!("{f}");
            }
            if signgate::doctor::has_bypass(&findings) {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Command::Tls {
            command: TlsCommand::SelfSigned { dir, names },
        } => {
            if let Some(bad) = names.iter().find(|n| !is_certificate_name(n)) {
                eprintln!(
                    "signgate tls self-signed: --name '{bad}': not a DNS name or an IP address"
                );
                return ExitCode::from(EXIT_USAGE);
            }
            match signgate::server::tls::self_signed(&dir, &names) {
                Ok(()) => {
                    println!("{}: ca.crt, server.crt, server.key, client/ (ca.crt, client.cert, client.key)", dir.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("signgate: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Policy {
            command: PolicyCommand::Check { dir, config },
        } => {
            let config = match config.map(|c| Config::load(&c)).transpose() {
                Ok(config) => config,
                Err(errors) => {
                    eprint!("--config {errors}");
                    return ExitCode::from(EXIT_CONFIG);
                }
            };
            match signgate::policy::check_dir(&dir, config.as_ref()) {
                Ok(set) => {
                    for w in set.warnings() {
                        eprintln!("warning: {w}");
                    }
                    for p in set.policies() {
                        println!(
                            "{}: policy '{}': ok ({} authorities)",
                            p.file.display(),
                            p.name,
                            p.authorities.len()
                        );
                    }
                    println!("{}: {} policies ok", dir.display(), set.policies().len());
                    ExitCode::SUCCESS
                }
                Err(errors) => {
                    eprintln!("{errors}");
                    ExitCode::from(EXIT_CONFIG)
                }
            }
        }
    }
}

/// Config and policies, or the exit code after printing why not.
fn load(config_path: Option<&Path>) -> Result<(Config, PolicySet), ExitCode> {
    let config = match config_path {
        Some(path) => Config::load(path),
        None => Config::embedded_default(),
    };
    let config = config.map_err(|errors| {
        eprint!("{errors}");
        ExitCode::from(EXIT_CONFIG)
    })?;
    let policies = load_policies(&config).map_err(|errors| {
        eprintln!("{errors}");
        ExitCode::from(EXIT_CONFIG)
    })?;
    Ok((config, policies))
}

fn load_policies(config: &Config) -> Result<PolicySet, PolicyErrors> {
    signgate::policy::load_configured(config)
}

/// Config, policies and a runtime for a one-shot command (exit 2 on error).
fn load_with_runtime(
    config_path: Option<&Path>,
) -> Result<(Config, PolicySet, tokio::runtime::Runtime), ExitCode> {
    let (config, policies) = load(config_path).map_err(|_| ExitCode::from(2))?;
    let runtime = runtime().map_err(|_| ExitCode::from(2))?;
    Ok((config, policies, runtime))
}

fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("signgate: cannot start the runtime: {e}");
            ExitCode::FAILURE
        })
}

fn serve(config_path: Option<PathBuf>, log_format: LogFormat) -> ExitCode {
    telemetry::init(log_format);
    let (config, policies) = match load(config_path.as_deref()) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    for w in config.warnings() {
        tracing::warn!(key = %w.path, "{}", w.message);
    }
    let runtime = match runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    runtime.block_on(async move {
        let n_policies = policies.policies().len();
        let app = match App::new(&config, policies) {
            Ok(app) => Arc::new(app),
            Err(e) => {
                eprintln!("signgate: {e}");
                return ExitCode::FAILURE;
            }
        };
        let listener = match signgate::server::bind(config.listen) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("signgate: cannot listen on {}: {e}", config.listen);
                return ExitCode::FAILURE;
            }
        };
        let admin = match signgate::server::bind(config.admin) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("signgate: cannot listen on the admin address {}: {e}", config.admin);
                return ExitCode::FAILURE;
            }
        };
        let admin_address = admin.local_addr().map(|a| a.to_string()).unwrap_or_default();
        let admin_limits = config.limits.clone();
        let admin_app = app.clone();
        tokio::spawn(async move {
            signgate::server::admin::serve(admin, admin_app, &admin_limits, std::future::pending::<()>()).await
        });
        if let Some(PolicySource::Dir(dir)) = &config.policies {
            tokio::spawn(watch_policies(config.clone(), dir.clone(), app.clone()));
        }
        if let Some(store) = app.store().cloned() {
            tokio::spawn(collect_garbage(store));
        }
        let address = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
        tracing::info!(
            %address,
            admin = %admin_address,
            config = %config_path.as_ref().map_or("<embedded default>".to_owned(), |p| p.display().to_string()),
            upstreams = config.upstreams.len(),
            policies = n_policies,
            tls = config.tls.is_some(),
            mtls = config.tls.as_ref().is_some_and(|t| t.client_ca.is_some()),
            "signgate listening"
        );
        let tls = match &config.tls {
            None => None,
            Some(tls) => match signgate::server::tls::acceptor(tls) {
                Ok((acceptor, cert)) => {
                    tokio::spawn(signgate::server::tls::watch(cert));
                    Some(acceptor)
                }
                Err(e) => {
                    eprintln!("signgate: {e}");
                    return ExitCode::from(EXIT_CONFIG);
                }
            },
        };
        signgate::server::serve(listener, app, &config.limits, signgate::server::shutdown_signal(), tls).await;
        ExitCode::SUCCESS
    })
}

/// Reload policies on SIGHUP and when the directory changes. A bad edit
/// keeps the previous set and says why.
async fn watch_policies(config: Config, dir: PathBuf, app: Arc<App>) {
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let mut seen = fingerprint(&dir);
    loop {
        let signalled = async {
            match hangup.as_mut() {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        let reason = tokio::select! {
            () = signalled => "SIGHUP",
            () = tokio::time::sleep(POLICY_POLL) => {
                let now = fingerprint(&dir);
                if now == seen { continue; }
                seen = now;
                "policy directory changed"
            }
        };
        match load_policies(&config) {
            Ok(set) => {
                tracing::info!(
                    trigger = reason,
                    policies = set.policies().len(),
                    revision = set.revision(),
                    "policies reloaded"
                );
                app.replace_policies(set);
            }
            Err(errors) => {
                tracing::error!(trigger = reason, errors = %errors, "policy reload failed: keeping the previous policies")
            }
        }
    }
}

fn mirror(
    command: Option<MirrorCommand>,
    mut images: Vec<String>,
    from: Option<PathBuf>,
    to: Option<PathBuf>,
    platforms: Vec<String>,
    config: Option<PathBuf>,
) -> ExitCode {
    telemetry::init_with_default(LogFormat::Human, "warn");
    let config_path = match &command {
        Some(MirrorCommand::Import { config, .. }) => config.clone(),
        None => config,
    };
    let (config, policies, runtime) = match load_with_runtime(config_path.as_deref()) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    match command {
        Some(MirrorCommand::Import { dir, .. }) => runtime.block_on(async move {
            match std::fs::metadata(&dir) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    eprintln!("signgate mirror import: '{}' is not a directory: give the export directory", dir.display());
                    return ExitCode::from(EXIT_USAGE);
                }
                Err(e) => {
                    eprintln!("signgate mirror import: '{}': {e}", dir.display());
                    return ExitCode::from(EXIT_USAGE);
                }
            }
            match signgate::mirror::import(&config, policies, &dir).await {
                Ok(report) => mirror_report(
                    &format!(
                        "imported {} image(s), refused {}, {} blob(s) checked",
                        report.imported.len(),
                        report.refused.len(),
                        report.blobs
                    ),
                    &report.imported,
                    &report.refused,
                ),
                Err(e) => {
                    eprintln!("signgate mirror import: {e}");
                    ExitCode::from(2)
                }
            }
        }),
        None => {
            // Where each image was typed, for error messages.
            let mut sources = vec![String::new(); images.len()];
            if let Some(file) = from {
                match std::fs::read_to_string(&file) {
                    Ok(text) => {
                        for (n, line) in text.lines().enumerate() {
                            let line = line.trim();
                            if !line.is_empty() && !line.starts_with('#') {
                                images.push(line.to_owned());
                                sources.push(format!(" ({} line {})", file.display(), n + 1));
                            }
                        }
                    }
                    Err(e) => {
                        eprintln!("signgate mirror: {}: {e}", file.display());
                        return ExitCode::from(2);
                    }
                }
            }
            let Some(to) = to else {
                eprintln!("signgate mirror: --to DIR is required");
                return ExitCode::from(2);
            };
            if images.is_empty() {
                eprintln!("signgate mirror: no images given");
                return ExitCode::from(2);
            }
            let router = signgate::route::Router::new(&config.upstreams);
            let mut unusable = false;
            for (image, source) in images.iter().zip(&sources) {
                if let Err(e) = router.image(image) {
                    eprintln!("signgate mirror: {e}{source}");
                    unusable = true;
                }
            }
            for platform in platforms.iter().filter(|p| !is_platform(p)) {
                eprintln!("signgate mirror: --platform '{platform}': expected os/arch[/variant], such as linux/amd64 or linux/arm64/v8");
                unusable = true;
            }
            if unusable {
                return ExitCode::from(EXIT_USAGE);
            }
            let options = signgate::mirror::ExportOptions {
                images,
                to,
                platforms,
            };
            runtime.block_on(async move {
                match signgate::mirror::export(&config, policies, &options).await {
                    Ok(report) => mirror_report(
                        &format!(
                            "exported {} image(s) ({} bytes fetched), refused {}, into {}",
                            report.exported.len(),
                            report.bytes,
                            report.refused.len(),
                            options.to.display()
                        ),
                        &report.exported,
                        &report.refused,
                    ),
                    Err(e) => {
                        eprintln!("signgate mirror: {e}");
                        ExitCode::from(2)
                    }
                }
            })
        }
    }
}

/// The summary of a mirror run; exit 1 when anything was refused.
fn mirror_report(
    summary: &str,
    done: &[(String, String)],
    refused: &[(String, String)],
) -> ExitCode {
    println!("{summary}");
    for (image, digest) in done {
        println!("  ok       {image} {digest}");
    }
    for (image, reason) in refused {
        println!("  refused  {image}: {reason}");
    }
    if refused.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Keep the store within its budget: collect every few minutes, never
/// removing what a retained, verified tag references.
async fn collect_garbage(store: signgate::store::Store) {
    loop {
        tokio::time::sleep(STORE_GC_INTERVAL).await;
        match store.gc().await {
            Ok(report) => tracing::info!(
                removed = report.removed_blobs,
                freed = report.freed_bytes,
                kept = report.kept_bytes,
                over_budget_but_referenced = report.over_budget_but_referenced,
                "store garbage collection"
            ),
            Err(e) => tracing::warn!(error = %e, "store garbage collection failed"),
        }
    }
}

/// Names, sizes and modification times of the files in `dir`.
fn fingerprint(dir: &Path) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| {
                    e.metadata()
                        .ok()
                        .map(|m| (e.path(), m.len(), m.modified().ok()))
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

fn verify(image: &str, config_path: Option<PathBuf>, output: Output, explain: bool) -> ExitCode {
    telemetry::init_with_default(LogFormat::Human, "warn");
    let (config, policies, runtime) = match load_with_runtime(config_path.as_deref()) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let (target, reference) = match signgate::route::Router::new(&config.upstreams).image(image) {
        Ok(routed) => routed,
        Err(e) => {
            if let Output::Json = output {
                println!(
                    "{}",
                    serde_json::json!({"image": image, "verdict": "error", "message": e.to_string()})
                );
            }
            eprintln!("signgate verify: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let name = target.client_name.to_string();
    runtime.block_on(async move {
        let app = match App::new(&config, policies) {
            Ok(app) => app,
            Err(e) => {
                eprintln!("signgate: {e}");
                return ExitCode::from(2);
            }
        };
        let request = match http::Request::get(format!("/v2/{name}/manifests/{}", reference.as_str()))
            .header(http::header::ACCEPT, signgate::oci::DEFAULT_MANIFEST_ACCEPT)
            .body(())
        {
            Ok(request) => request,
            Err(e) => {
                eprintln!("signgate verify: invalid image reference '{image}': {e}");
                return ExitCode::from(EXIT_USAGE);
            }
        };
        let response = app.handle(request, None).await;
        let status = response.status();
        let header = |n: &str| {
            response
                .headers()
                .get_all(n)
                .iter()
                .filter_map(|v| v.to_str().ok().map(str::to_owned))
                .collect::<Vec<_>>()
        };
        let digest = header("docker-content-digest").pop();
        let warnings = header("warning");
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let error: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let (verdict, code) = match status.as_u16() {
            200 => ("allowed", ExitCode::SUCCESS),
            403 if error.pointer("/errors/0/code").and_then(|c| c.as_str()) == Some("DENIED") => ("denied", ExitCode::from(1)),
            _ => ("error", ExitCode::from(2)),
        };
        let message = error.pointer("/errors/0/message").and_then(|m| m.as_str()).unwrap_or_default().to_owned();
        let examined = digest
            .clone()
            .or_else(|| error.pointer("/errors/0/detail/digest").and_then(|d| d.as_str()).map(str::to_owned))
            .and_then(|d| d.parse::<signgate::oci::Digest>().ok());
        let explanation = match (explain, examined) {
            (true, Some(d)) => match app.explain(&name, &d).await {
                Ok(e) => Some(e),
                Err(e) => {
                    eprintln!("signgate: cannot explain: {e}");
                    None
                }
            },
            _ => None,
        };
        match output {
            Output::Json => {
                let report = serde_json::json!({
                    "image": image,
                    "verdict": verdict,
                    "digest": digest.clone().or_else(|| error.pointer("/errors/0/detail/digest").and_then(|d| d.as_str()).map(str::to_owned)),
                    "message": message,
                    "reasons": error.pointer("/errors/0/detail/reasons"),
                    "warnings": warnings,
                    "explain": explanation,
                });
                println!("{report}");
            }
            Output::Text => {
                match verdict {
                    "allowed" => println!("{image}: allowed ({})", digest.unwrap_or_default()),
                    _ => println!("{image}: {verdict}: {message}"),
                }
                for w in warnings {
                    println!("warning: {w}");
                }
                if let Some(e) = explanation {
                    print!("{e}");
                }
            }
        }
        code
    })
}

/// `--platform`: `os/arch[/variant]`, each part as OCI platforms write it.
fn is_platform(text: &str) -> bool {
    let parts: Vec<&str> = text.split('/').collect();
    (2..=3).contains(&parts.len())
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        })
}

/// `tls self-signed --name`: an IP address or a DNS name (a leading `*.`
/// allowed), as a certificate's subject alternative name can hold.
fn is_certificate_name(name: &str) -> bool {
    if name.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    let host = name.strip_prefix("*.").unwrap_or(name);
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// `doctor`'s arguments, each refused with what was typed: signgate's
/// address and the registries as runtimes name them, and an existing root.
fn check_doctor_args(signgate: &str, registries: &[String], root: &Path) -> Result<(), String> {
    signgate
        .parse::<signgate::oci::RegistryName>()
        .map_err(|e| format!("--signgate '{signgate}': not a host[:port] ({e})"))?;
    for registry in registries {
        registry
            .parse::<signgate::oci::RegistryName>()
            .map_err(|e| format!("--registry '{registry}': {e}"))?;
    }
    match std::fs::metadata(root) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(format!("--root '{}': not a directory", root.display())),
        Err(e) => Err(format!("--root '{}': {e}", root.display())),
    }
}
