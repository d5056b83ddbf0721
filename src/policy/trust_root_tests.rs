//! `kind: TrustRoot` documents: every form loads, resolves and is
//! referenced by `trustRootRef` as policy-controller does; bad ones are
//! load errors with their key path.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;

use super::trust_root::TufRequest;
use super::*;
use crate::verify::{Requirement, TrustRoot, TrustSource};

const FULCIO: &str = include_str!("../../tests/fixtures/containers-image/fulcio_v1.crt.pem");
const REKOR: &str = include_str!("../../tests/fixtures/containers-image/rekor.pub");
const CHART: &str = include_str!("../../tests/fixtures/policies/github-trust-policies.yaml");

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn keys_doc(name: &str) -> String {
    format!(
        "apiVersion: policy.sigstore.dev/v1alpha1\nkind: TrustRoot\nmetadata:\n  name: {name}\nspec:\n  sigstoreKeys:\n    certificateAuthorities:\n    - subject: {{organization: sigstore.dev, commonName: sigstore}}\n      uri: https://fulcio.sigstore.dev\n      certChain: {}\n    tLogs:\n    - baseURL: https://rekor.sigstore.dev\n      hashAlgorithm: sha-256\n      publicKey: {}\n",
        b64(FULCIO),
        b64(REKOR)
    )
}

fn keyless_policy(root: &str) -> String {
    format!("apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata:\n  name: p\nspec:\n  images:\n  - glob: \"**\"\n  authorities:\n  - keyless:\n      trustRootRef: {root}\n      identities:\n      - issuer: https://github.com/login/oauth\n        subject: mitr@redhat.com\n")
}

fn load(
    docs: &[String],
    tuf: super::trust_root::ResolveTuf<'_>,
) -> Result<PolicySet, PolicyErrors> {
    let trust = super::load::embedded_trust()?;
    PolicySet::parse(
        &[(PathBuf::from("/p/policies.yaml"), docs.join("---\n"))],
        crate::config::NoMatchPolicy::Deny,
        &trust,
        &Registries::Unchecked,
        &|_: &Path| Err("no files".to_owned()),
        tuf,
    )
}

fn root_of(set: &PolicySet) -> String {
    let authority = set.policies().first().and_then(|p| p.authorities.first());
    match authority.map(|a| &a.kind) {
        Some(AuthorityKind::Verify(Requirement::Keyless(k))) => match &k.trust {
            TrustSource::Sigstore(r) => r.detail(),
            other => format!("{other:?}"),
        },
        other => format!("{other:?}"),
    }
}

#[test]
fn sigstore_keys_define_a_root_that_policies_reference_in_any_order() {
    // The policy comes first in the file: TrustRoots are resolved before.
    let set = load(
        &[keyless_policy("corp"), keys_doc("corp")],
        &super::trust_root::no_tuf,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        root_of(&set),
        "'corp' (TrustRoot document in /p/policies.yaml)"
    );
}

#[test]
fn remote_and_repository_forms_go_to_the_tuf_resolver_decoded() {
    let asked = RefCell::new(Vec::new());
    let resolve = |request: TufRequest<'_>| {
        let seen = match request {
            TufRequest::Remote {
                name,
                mirror,
                root,
                target,
            } => {
                format!(
                    "remote {name} {mirror} {} {target}",
                    String::from_utf8_lossy(root)
                )
            }
            TufRequest::Repository {
                name,
                root,
                files,
                target,
            } => format!(
                "repository {name} {} {target} {:?}",
                String::from_utf8_lossy(root),
                files.keys().collect::<Vec<_>>()
            ),
        };
        asked.borrow_mut().push(seen);
        TrustRoot::public_good().map(Arc::new)
    };
    let remote = format!("apiVersion: policy.sigstore.dev/v1beta1\nkind: TrustRoot\nmetadata:\n  name: corp\nspec:\n  remote:\n    mirror: http://127.0.0.1:9/tuf\n    root: {}\n    trustedRootTarget: corp_root.json\n", b64("{\"signed\":{}}"));
    let set = load(&[remote, keyless_policy("corp")], &resolve).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(set.policies().len(), 1);

    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for name in [
        "repository/1.root.json",
        "repository/targets/ab.trusted_root.json",
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        h.set_mode(0o644);
        h.set_path(name).unwrap();
        h.set_cksum();
        tar.append(&h, &b"{}"[..]).unwrap();
    }
    let tarball = tar.into_inner().unwrap().finish().unwrap();
    let mirror_fs = base64::engine::general_purpose::STANDARD.encode(tarball);
    let repository = format!("apiVersion: policy.sigstore.dev/v1alpha1\nkind: TrustRoot\nmetadata:\n  name: corp\nspec:\n  repository:\n    root: {}\n    mirrorFS: {mirror_fs}\n", b64("{\"r\":1}"));
    load(&[repository, keyless_policy("corp")], &resolve).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        asked.into_inner(),
        [
            "remote corp http://127.0.0.1:9/tuf {\"signed\":{}} corp_root.json".to_owned(),
            "repository corp {\"r\":1} trusted_root.json [\"1.root.json\", \"targets/ab.trusted_root.json\"]".to_owned(),
        ]
    );
}

#[test]
fn bad_trust_root_documents_are_load_errors_with_their_path() {
    let errors = |doc: String| match load(&[doc], &super::trust_root::no_tuf) {
        Ok(_) => vec!["loaded".to_owned()],
        Err(e) => {
            e.0.into_iter()
                .map(|e| format!("{}: {}", e.path, e.message))
                .collect()
        }
    };
    let head =
        "apiVersion: policy.sigstore.dev/v1alpha1\nkind: TrustRoot\nmetadata:\n  name: t\nspec:\n";
    assert_eq!(
        errors(format!(
            "{head}  remote:\n    mirror: ftp://x\n    root: e30=\n"
        )),
        ["spec.remote.mirror: 'ftp://x' is not an http(s) URL"]
    );
    assert_eq!(
        errors(format!(
            "{head}  remote:\n    mirror: https://x\n    root: '%%%'\n"
        )),
        ["spec.remote.root: not base64: Invalid symbol 37, offset 0."]
    );
    assert_eq!(
        errors(format!(
            "{head}  remote:\n    mirror: https://x\n    root: e30=\n    targets: elsewhere\n"
        )),
        ["spec.remote.targets: 'elsewhere': only the standard 'targets' directory is supported"]
    );
    assert_eq!(
        errors(format!(
            "{head}  remote:\n    mirror: https://x\n    root: e30=\n"
        )),
        ["spec.remote: TUF repositories cannot be resolved here"]
    );
    assert_eq!(
        errors(format!("{head}  {{}}\n")),
        ["spec: exactly one of 'remote', 'repository' or 'sigstoreKeys' is required"]
    );
    assert_eq!(
        errors(format!("{head}  sigstoreKeys:\n    tLogs:\n    - publicKey: {}\n", b64("junk"))),
        ["spec.sigstoreKeys: tLogs[0].publicKey: not a PEM public key: Invalid encoding: failed to parse PEM: malformedframing"]
    );
    assert_eq!(
        errors(format!("{head}  sigstoreKeys:\n    colour: blue\n")).len(),
        1
    );
    assert_eq!(
        errors(format!("{}---\n{}", keys_doc("t"), keys_doc("t"))),
        ["metadata.name: TrustRoot 't' is defined twice"]
    );
    // A policy naming a root no document or config defines.
    assert_eq!(errors(keyless_policy("nowhere")).len(), 1);
}

#[test]
fn a_document_replacing_a_configured_root_says_so() {
    let set = load(
        &[keys_doc("public-good"), keyless_policy("public-good")],
        &super::trust_root::no_tuf,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let warnings: Vec<_> = set.warnings().iter().map(|w| w.message.clone()).collect();
    assert_eq!(
        warnings,
        ["TrustRoot 'public-good' replaces the trusted root 'public-good' (embedded) of the same name"]
    );
}

#[test]
fn objects_exported_from_a_cluster_load_with_their_status() {
    let status = "status:\n  conditions:\n  - type: Ready\n    status: \"True\"\n";
    let policy = format!("{}{status}", keyless_policy("corp"));
    let root = format!("{}{status}", keys_doc("corp"));
    let set = load(&[policy, root], &super::trust_root::no_tuf).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(set.policies().len(), 1);
}

#[test]
fn the_github_chart_loads_unchanged_with_its_trust_root_resolved_by_tuf() {
    let asked = RefCell::new(Vec::new());
    let resolve = |request: TufRequest<'_>| {
        if let TufRequest::Remote {
            name, mirror, root, ..
        } = request
        {
            let root: serde_json::Value =
                serde_json::from_slice(root).map_err(|e| e.to_string())?;
            asked
                .borrow_mut()
                .push(format!("{name} {mirror} v{}", root["signed"]["version"]));
        }
        TrustRoot::public_good().map(Arc::new)
    };
    let set = load(&[CHART.to_owned()], &resolve).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        asked.into_inner(),
        ["github https://tuf-repo.github.com/ v3"]
    );
    let names: Vec<_> = set.policies().iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["github-exempt-policy", "github-policy"]);
}
