//! Real pulls with skopeo through signgate, compared byte for byte with the
//! same pull straight from the registry.

use crate::support::image::{layout_blobs, skopeo};
use crate::support::signgate::{Signgate, Up};
use crate::support::world::{token_world, world};

/// Copy `source` (a `docker://` reference) into a fresh OCI layout.
fn copy_to_layout(source: &str, all: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec![
        "copy".to_owned(),
        "--src-tls-verify=false".to_owned(),
        "--preserve-digests".to_owned(),
    ];
    if all {
        args.push("--all".to_owned());
    }
    args.push(source.to_owned());
    args.push(format!("oci:{}:v1", dir.path().display()));
    skopeo(&args);
    dir
}

fn assert_same_layouts(direct: &tempfile::TempDir, proxied: &tempfile::TempDir) {
    let a = layout_blobs(direct.path());
    let b = layout_blobs(proxied.path());
    assert!(!a.is_empty());
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "same blobs"
    );
    assert!(a == b, "blob bytes differ");
    let ia = std::fs::read(direct.path().join("index.json")).unwrap();
    let ib = std::fs::read(proxied.path().join("index.json")).unwrap();
    assert_eq!(ia, ib, "same index.json");
}

#[tokio::test(flavor = "multi_thread")]
async fn single_arch_pull_through_default_upstream_is_byte_identical() {
    let w = world();
    let sg = Signgate::start(&[Up::new("registry.test", &w.registry.url()).default()], "");
    let direct = copy_to_layout(
        &format!("docker://{}/test/single:v1", w.registry.host()),
        false,
    );
    let proxied = copy_to_layout(&format!("docker://{}/test/single:v1", sg.host()), false);
    assert_same_layouts(&direct, &proxied);
    assert!(
        layout_blobs(proxied.path()).contains_key(w.single.digest.trim_start_matches("sha256:"))
    );

    // `inspect --raw` gives the manifest bytes exactly as the registry has them.
    let raw_direct = skopeo(&[
        "inspect".into(),
        "--raw".into(),
        "--tls-verify=false".into(),
        format!("docker://{}/test/single:v1", w.registry.host()),
    ]);
    let raw_proxied = skopeo(&[
        "inspect".into(),
        "--raw".into(),
        "--tls-verify=false".into(),
        format!("docker://{}/test/single:v1", sg.host()),
    ]);
    assert_eq!(raw_direct, raw_proxied);
}

#[tokio::test(flavor = "multi_thread")]
async fn multi_arch_pull_through_a_path_prefix_is_byte_identical() {
    let w = world();
    let sg = Signgate::start(&[Up::new("registry.test", &w.registry.url())], "");
    let direct = copy_to_layout(
        &format!("docker://{}/test/multi:v1", w.registry.host()),
        true,
    );
    let proxied = copy_to_layout(
        &format!("docker://{}/registry.test/test/multi:v1", sg.host()),
        true,
    );
    assert_same_layouts(&direct, &proxied);
    let blobs = layout_blobs(proxied.path());
    for m in std::iter::once(&w.multi).chain(&w.multi_children) {
        assert!(
            blobs.contains_key(m.digest.trim_start_matches("sha256:")),
            "{} pulled",
            m.digest
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn pull_from_a_token_auth_upstream_with_credentials_is_byte_identical_and_tokens_are_cached()
{
    let tw = token_world();
    let creds = format!(
        "username: {}\npassword: {}",
        crate::support::token::USER,
        crate::support::token::PASSWORD
    );
    let auth = format!("auth: {{{}}}", creds.replace('\n', ", "));
    let sg = Signgate::start(
        &[Up::new("private.test", &tw.registry.url())
            .default()
            .extra(&auth)],
        "",
    );
    let direct = {
        let dir = tempfile::tempdir().unwrap();
        skopeo(&[
            "copy".into(),
            "--src-tls-verify=false".into(),
            format!(
                "--src-creds={}:{}",
                crate::support::token::USER,
                crate::support::token::PASSWORD
            ),
            format!("docker://{}/private/app:v1", tw.registry.host()),
            format!("oci:{}:v1", dir.path().display()),
        ]);
        dir
    };
    // Count only this test's tokens: other tests share the token service.
    let scope = "repository:private/app:pull";
    let before = tw.tokens.issued_with_credentials_for(scope);
    let proxied = copy_to_layout(&format!("docker://{}/private/app:v1", sg.host()), false);
    assert_same_layouts(&direct, &proxied);
    let first_pull_tokens = tw.tokens.issued_with_credentials_for(scope) - before;
    assert!(first_pull_tokens >= 1, "signgate fetched a token");
    // A second pull reuses the cached token for the same scope.
    let before = tw.tokens.issued_with_credentials_for(scope);
    let _again = copy_to_layout(&format!("docker://{}/private/app:v1", sg.host()), false);
    assert_eq!(
        tw.tokens.issued_with_credentials_for(scope) - before,
        0,
        "the token for this scope was cached"
    );
    assert!(
        layout_blobs(proxied.path()).contains_key(tw.image.digest.trim_start_matches("sha256:"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn anonymous_token_auth_pulls_public_images_and_private_ones_are_refused_clearly() {
    let tw = token_world();
    let sg = Signgate::start(&[Up::new("private.test", &tw.registry.url()).default()], "");
    let public = crate::support::http::get(&sg.url("/v2/public/app/manifests/v1")).await;
    assert_eq!(
        public.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&public.body)
    );
    assert_eq!(
        public.header("docker-content-digest"),
        Some(tw.image.digest.as_str())
    );
    let private = crate::support::http::get(&sg.url("/v2/private/app/manifests/v1")).await;
    assert_eq!(private.status, 502);
    let (code, message) = private.oci_error();
    assert_eq!(code, "UNAUTHORIZED");
    assert!(
        message.contains("refused signgate's credentials"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_sent_by_the_client_are_not_forwarded_upstream() {
    // A real token-auth registry: if signgate forwarded the client's bogus
    // Authorization header, the registry would refuse it.
    let tw = token_world();
    let sg = Signgate::start(&[Up::new("private.test", &tw.registry.url()).default()], "");
    let reply = crate::support::http::send(
        http::Method::GET,
        &sg.url("/v2/public/app/manifests/v1"),
        &[("authorization", "Bearer client-token-that-must-not-leak")],
    )
    .await;
    assert_eq!(reply.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn multi_arch_pull_from_a_token_auth_upstream_is_byte_identical() {
    let tw = token_world();
    let creds = format!(
        "{}:{}",
        crate::support::token::USER,
        crate::support::token::PASSWORD
    );
    let auth = format!(
        "auth: {{username: {}, password: {}}}",
        crate::support::token::USER,
        crate::support::token::PASSWORD
    );
    let sg = Signgate::start(
        &[Up::new("private.test", &tw.registry.url())
            .default()
            .extra(&auth)],
        "",
    );
    let direct = tempfile::tempdir().unwrap();
    skopeo(&[
        "copy".into(),
        "--all".into(),
        "--src-tls-verify=false".into(),
        format!("--src-creds={creds}"),
        format!("docker://{}/private/multi:v1", tw.registry.host()),
        format!("oci:{}:v1", direct.path().display()),
    ]);
    let proxied = copy_to_layout(&format!("docker://{}/private/multi:v1", sg.host()), true);
    assert_same_layouts(&direct, &proxied);
    assert!(
        layout_blobs(proxied.path()).contains_key(tw.multi.digest.trim_start_matches("sha256:"))
    );
}
