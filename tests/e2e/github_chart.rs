//! GitHub's "trust-policies" chart output, loaded unchanged by `serve` and
//! `policy check`: its `TrustRoot` (a TUF mirror that is unreachable here)
//! resolves to the embedded GitHub root, the exempt image passes, an
//! organisation image without SLSA provenance is denied by both
//! authorities, and an image outside the organisation matches nothing.

use crate::support::enforce::{denial_of as denial, pull};
use crate::support::image::push_image;
use crate::support::registry::{Registry, RegistryAuth};
use crate::support::signgate::{Signgate, Up};

const CHART: &str = include_str!("../fixtures/policies/github-trust-policies.yaml");

#[tokio::test(flavor = "multi_thread")]
async fn the_github_chart_loads_unchanged_and_enforces() {
    let registry = Registry::start(RegistryAuth::None);
    let app = push_image(&registry, "acme-corp/app", "acme-corp/app");
    push_image(&registry, "library/busybox", "library/busybox");
    push_image(&registry, "library/nginx", "library/nginx");
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    std::fs::write(policies.join("github.yaml"), CHART).unwrap();
    let trust = dir.path().join("trust");
    let sg = Signgate::start(
        &[
            Up::new("ghcr.io", &registry.url()).default(),
            Up::new("docker.io", &registry.url()),
        ],
        &format!(
            "policies: {}\nno-match-policy: deny\ntrust:\n  tuf:\n    cache-dir: {}\n",
            policies.display(),
            trust.display()
        ),
    );

    let exempt = pull(&sg, "docker.io/library/busybox", "v1").await;
    assert_eq!(
        exempt.status,
        200,
        "{}",
        String::from_utf8_lossy(&exempt.body)
    );

    let m = denial(&pull(&sg, "ghcr.io/acme-corp/app", "v1").await);
    assert!(
        m.contains(&app) && m.contains("denied by policy github-policy"),
        "{m}"
    );
    assert!(
        m.contains("authority 'github'") && m.contains("authority 'public-good'"),
        "{m}"
    );

    let m = denial(&pull(&sg, "docker.io/library/nginx", "v1").await);
    assert!(m.contains("no-match-policy"), "{m}");

    // `policy check` loads the same file: the TrustRoot replaces the
    // embedded `github` root, and says so.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_signgate"))
        .args(["policy", "check"])
        .arg(&policies)
        .env("XDG_CACHE_HOME", dir.path().join("cache"))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("TrustRoot 'github' replaces the trusted root 'github'"),
        "{text}"
    );
}
