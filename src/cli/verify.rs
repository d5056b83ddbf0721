//! `signgate verify IMAGE`: decide on one image with the proxy's own
//! pipeline (`App::decide_image`), and print why. Exit 0: allowed; 1:
//! denied; 2: error.

use std::path::Path;

use http::HeaderValue;
use signgate::oci::{Digest, ImageRef};
use signgate::proxy::{App, ImageVerdict, ProxyError};
use signgate::route::Router;
use signgate::telemetry::{self, LogFormat};

use super::{load, Exit, Output};

pub(super) fn run(image: &str, config_path: Option<&Path>, output: Output, explain: bool) -> Exit {
    telemetry::init_with_default(LogFormat::Human, "warn");
    let (config, _trust, policies, runtime) = match load::one_shot(config_path) {
        Ok(loaded) => loaded,
        Err(exit) => return exit,
    };
    let router = Router::new(&config.upstreams);
    let routed = router
        .image(image)
        .and_then(|(target, _)| Ok((target, router.image_ref(image)?)));
    let (target, typed) = match routed {
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
    // The name as a client would send it, for `--explain`.
    let name = target.client_name.to_string();
    runtime.block_on(async move {
        let app = match App::new(&config, policies) {
            Ok(app) => app,
            Err(e) => {
                eprintln!("signgate: {e}");
                return Exit::Error;
            }
        };
        let report = Report::of(&app, &typed).await;
        let explanation = match (explain, &report.digest) {
            (true, Some(d)) => match app.explain(&name, d).await {
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
                let json = serde_json::json!({
                    "image": image,
                    "verdict": report.verdict.as_str(),
                    "digest": report.digest.as_ref().map(Digest::as_str),
                    "message": report.message,
                    "reasons": report.reasons,
                    "warnings": report.warnings,
                    "explain": explanation,
                });
                println!("{json}");
            }
            Output::Text => {
                match report.verdict {
                    Verdict::Allowed => {
                        println!(
                            "{image}: allowed ({})",
                            report.digest.as_ref().map_or("", Digest::as_str)
                        )
                    }
                    other => println!("{image}: {}: {}", other.as_str(), report.message),
                }
                for w in report.warnings {
                    println!("warning: {w}");
                }
                if let Some(e) = explanation {
                    print!("{e}");
                }
            }
        }
        report.verdict.exit()
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Allowed,
    Denied,
    Error,
}

impl Verdict {
    fn as_str(self) -> &'static str {
        match self {
            Verdict::Allowed => "allowed",
            Verdict::Denied => "denied",
            Verdict::Error => "error",
        }
    }

    fn exit(self) -> Exit {
        match self {
            Verdict::Allowed => Exit::Ok,
            Verdict::Denied => Exit::Refused,
            Verdict::Error => Exit::Error,
        }
    }
}

/// What `verify` prints, read from the typed verdict.
struct Report {
    verdict: Verdict,
    digest: Option<Digest>,
    /// The client-facing message of a denial or an error; empty when allowed.
    message: String,
    /// A denial's reasons (`null` otherwise).
    reasons: Option<Vec<String>>,
    /// As the proxy sends them in `Warning` headers.
    warnings: Vec<String>,
}

impl Report {
    async fn of(app: &App, image: &ImageRef) -> Report {
        match app.decide_image(image).await {
            Ok(ImageVerdict::Admitted(admitted)) => Report {
                verdict: Verdict::Allowed,
                digest: Some(admitted.admission.digest().clone()),
                message: String::new(),
                reasons: None,
                warnings: admitted
                    .warnings
                    .iter()
                    .filter_map(|w| warning_header(w))
                    .collect(),
            },
            Ok(ImageVerdict::Denied(denial)) => Report {
                verdict: Verdict::Denied,
                digest: Some(denial.digest.clone()),
                reasons: Some(denial.reasons.clone()),
                message: ProxyError::Denied(denial).public_message(),
                warnings: Vec::new(),
            },
            Err(e) => Report {
                verdict: Verdict::Error,
                digest: None,
                message: e.public_message(),
                reasons: None,
                warnings: Vec::new(),
            },
        }
    }
}

/// A warning as the `Warning` header value the proxy sends for it
/// (`299 - "…"`); `None` for one no header can carry as text.
fn warning_header(text: &str) -> Option<String> {
    let value = format!("299 - \"{}\"", text.replace(['"', '\\'], "'"));
    HeaderValue::from_str(&value)
        .ok()?
        .to_str()
        .ok()
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_print_as_the_proxy_sends_them() {
        assert_eq!(
            warning_header(r#"policy "p": a\b"#).as_deref(),
            Some(r#"299 - "policy 'p': a'b""#)
        );
        assert_eq!(warning_header("line\nbreak"), None);
        assert_eq!(warning_header("é"), None);
    }
}
