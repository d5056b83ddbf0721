//! `signgate verify IMAGE`: decide on one image with the proxy's own
//! pipeline, and print why. Exit 0: allowed; 1: denied; 2: error.

use std::path::Path;

use signgate::proxy::App;
use signgate::telemetry::{self, LogFormat};

use super::{load, Exit, Output};

pub fn run(image: &str, config_path: Option<&Path>, output: Output, explain: bool) -> Exit {
    telemetry::init_with_default(LogFormat::Human, "warn");
    let (config, policies, runtime) = match load::one_shot(config_path) {
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
            return Exit::Usage;
        }
    };
    let name = target.client_name.to_string();
    runtime.block_on(async move {
        let app = match App::new(&config, policies) {
            Ok(app) => app,
            Err(e) => {
                eprintln!("signgate: {e}");
                return Exit::Error;
            }
        };
        let request = match http::Request::get(format!("/v2/{name}/manifests/{}", reference.as_str()))
            .header(http::header::ACCEPT, signgate::oci::DEFAULT_MANIFEST_ACCEPT)
            .body(())
        {
            Ok(request) => request,
            Err(e) => {
                eprintln!("signgate verify: invalid image reference '{image}': {e}");
                return Exit::Usage;
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
            200 => ("allowed", Exit::Ok),
            403 if error.pointer("/errors/0/code").and_then(|c| c.as_str()) == Some("DENIED") => ("denied", Exit::Refused),
            _ => ("error", Exit::Error),
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
