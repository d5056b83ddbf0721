//! `signgate serve`: load, bind, start the background tasks, serve until
//! SIGTERM or SIGINT.

use std::path::PathBuf;
use std::sync::Arc;

use signgate::config::Config;
use signgate::policy::PolicySet;
use signgate::proxy::App;
use signgate::server;
use signgate::telemetry::{self, LogFormat};
use signgate::trust::Trust;

use super::{load, Exit};

pub(super) fn run(config_path: Option<PathBuf>, log_format: LogFormat) -> Exit {
    telemetry::init(log_format);
    let (config, trust, policies) = match load::config_and_policies(config_path.as_deref()) {
        Ok(loaded) => loaded,
        Err(exit) => return exit,
    };
    for w in config.warnings() {
        tracing::warn!(key = %w.path, "{}", w.message);
    }
    let runtime = match load::runtime() {
        Ok(r) => r,
        Err(exit) => return exit,
    };
    let shown = config_path
        .as_ref()
        .map_or("<embedded default>".to_owned(), |p| p.display().to_string());
    runtime.block_on(serve(config, trust, policies, shown))
}

async fn serve(
    config: Config,
    trust: Arc<Trust>,
    policies: PolicySet,
    config_shown: String,
) -> Exit {
    let n_policies = policies.policies().len();
    let app = match App::new(&config, policies) {
        Ok(app) => Arc::new(app),
        Err(e) => {
            eprintln!("signgate: {e}");
            return Exit::Failed;
        }
    };
    let listener = match server::bind(config.listen) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("signgate: cannot listen on {}: {e}", config.listen);
            return Exit::Failed;
        }
    };
    let admin = match server::bind(config.admin) {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "signgate: cannot listen on the admin address {}: {e}",
                config.admin
            );
            return Exit::Failed;
        }
    };
    let admin_address = admin
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let admin_limits = config.limits.clone();
    let admin_app = app.clone();
    let admin_trust = trust.clone();
    tokio::spawn(async move {
        server::admin::serve(
            admin,
            admin_app,
            Some(admin_trust),
            &admin_limits,
            std::future::pending::<()>(),
        )
        .await
    });
    let address = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    tracing::info!(
        %address,
        admin = %admin_address,
        config = %config_shown,
        upstreams = config.upstreams.len(),
        policies = n_policies,
        tls = config.tls.is_some(),
        mtls = config.tls.as_ref().is_some_and(|t| t.client_ca.is_some()),
        "signgate listening"
    );
    let (tls, cert) = match &config.tls {
        None => (None, None),
        Some(tls) => match server::tls::acceptor(tls) {
            Ok((acceptor, cert)) => (Some(acceptor), Some(cert)),
            Err(e) => {
                eprintln!("signgate: {e}");
                return Exit::Config;
            }
        },
    };
    server::background::start(&app, &config, &trust, cert);
    server::serve(
        listener,
        app,
        &config.limits,
        server::shutdown_signal(),
        tls,
    )
    .await;
    Exit::Ok
}
