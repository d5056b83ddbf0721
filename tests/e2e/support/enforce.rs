//! signgate enforcing a key policy over the signed world, and asking it
//! for manifests.

use http::Method;

use super::http::{send, Reply};
use super::image::{OCI_INDEX, OCI_MANIFEST};
use super::signed::signed_world;
use super::signgate::{Signgate, Up};

/// signgate with one policy trusting `key_pem` for `registry.test/enf/**`.
pub(crate) fn enforcing(key_pem: &str, spec_extra: &str) -> Signgate {
    let w = signed_world();
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    write_policy(&policies, key_pem, spec_extra);
    let sg = Signgate::start(
        &[Up::new("registry.test", &w.registry.url()).default()],
        &format!("policies: {}\nno-match-policy: deny\n", policies.display()),
    );
    // Keep the policy directory alive as long as signgate.
    std::mem::forget(dir);
    sg
}

/// The `enforced` policy: `key_pem` signs `registry.test/enf/**`.
pub(crate) fn write_policy(dir: &std::path::Path, key_pem: &str, spec_extra: &str) {
    let key: String = key_pem
        .lines()
        .map(|l| format!("          {l}\n"))
        .collect();
    std::fs::write(
        dir.join("enforced.yaml"),
        format!(
            "apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata:\n  name: enforced\nspec:\n{spec_extra}  images:\n    - glob: registry.test/enf/**\n  authorities:\n    - name: release-key\n      key:\n        data: |\n{key}"
        ),
    )
    .unwrap();
}

/// The API path of a manifest.
pub(crate) fn manifest_path(repo: &str, reference: &str) -> String {
    format!("/v2/{repo}/manifests/{reference}")
}

/// `GET` a manifest through signgate, accepting manifests and indexes.
pub(crate) async fn pull(sg: &Signgate, repo: &str, reference: &str) -> Reply {
    send(
        Method::GET,
        &sg.url(&manifest_path(repo, reference)),
        &[("accept", &format!("{OCI_MANIFEST}, {OCI_INDEX}"))],
    )
    .await
}

/// The message of a `403 DENIED` answer (asserted to be one).
pub(crate) fn denial_of(r: &Reply) -> String {
    assert_eq!(r.status, 403, "{:?}", String::from_utf8_lossy(&r.body));
    let (code, message) = r.oci_error();
    assert_eq!(code, "DENIED");
    message
}
