//! The admin listener: `/metrics` (Prometheus text), `/healthz` (live) and
//! `/readyz` (policies loaded, upstreams configured; expired TUF metadata
//! named). Separate from the
//! registry API so it can stay on loopback while the API faces nodes.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use tokio::net::TcpListener;

use crate::config::Limits;
use crate::proxy::App;
use crate::trust::Trust;

/// Serve the admin endpoints within `limits` (its own connection cap)
/// until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    trust: Option<Arc<Trust>>,
    limits: &Limits,
    shutdown: impl Future<Output = ()>,
) {
    super::accept::serve(listener, limits, None, shutdown, move |request, _peer| {
        let app = app.clone();
        let trust = trust.clone();
        async move { answer(&app, trust.as_deref(), request.uri().path()) }
    })
    .await;
}

fn answer(app: &App, trust: Option<&Trust>, path: &str) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match path {
        "/metrics" => (
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            app.metrics().encode(),
        ),
        "/healthz" => (StatusCode::OK, "text/plain", "ok\n".to_owned()),
        "/readyz" => match app.readiness() {
            // Expired TUF metadata does not take signgate out of service
            // (the rule decides what it admits), but it is said here.
            Ok(()) => {
                let mut body = "ready\n".to_owned();
                for warning in trust.map(Trust::warnings).unwrap_or_default() {
                    body.push_str(&format!("warning: {warning}\n"));
                }
                (StatusCode::OK, "text/plain", body)
            }
            Err(why) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                format!("not ready: {why}\n"),
            ),
        },
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found\n".to_owned(),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        response.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    response
}
