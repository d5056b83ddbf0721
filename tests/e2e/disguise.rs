//! Issue 10, class 1, end to end: unsigned runnable images disguised as
//! signature artifacts (layers relabelled with signature media types; a
//! `"layers"`/`"Layers"` or `"layerſ"` key differential between serde and
//! Go; an index whose entries claim a signature `artifactType`), pushed to a
//! repository an enforcing key policy covers and to one no policy covers
//! (`no-match-policy: deny`). Through signgate, containerd (`ctr`) and
//! podman are refused each with signgate's reason, and nothing of it runs.
//!
//! Every case has its positive control in the same test: the same runtime
//! pulling the same image straight from the registry runs it (its marker is
//! printed), so each disguise is real for that runtime.
//!
//! Where a runtime runs an image only when its layer is already unpacked
//! (containerd refuses to unpack relabelled layers itself; a layer signgate
//! never admitted cannot be fetched through it), the node is first seeded
//! with the same layer as an ordinary image pulled from elsewhere (the
//! `:plain` tag, under another registry name), in both arms alike.

use std::path::Path;
use std::sync::OnceLock;

use http::Method;

use crate::enforce::{enforcing, signed_world};
use crate::support::containerd::Containerd;
use crate::support::disguise::{
    self, ctr, ctr_pull, ctr_run, hosts_toml, Disguise, Disguised, Podman, BUNDLE, DSSE,
    SIMPLE_SIGNING,
};
use crate::support::http::send;
use crate::support::image::{OCI_INDEX, OCI_MANIFEST};
use crate::support::signgate::Signgate;

/// Every disguise, pushed once into the enforcing world's registry.
struct Disguises {
    /// Under `enf/`, which the enforcing key policy covers.
    enforced: Vec<Disguised>,
    /// Under `open/`, which no policy covers (`no-match-policy: deny`).
    unpoliced: Vec<Disguised>,
    _layouts: tempfile::TempDir,
}

fn disguises() -> &'static Disguises {
    static D: OnceLock<Disguises> = OnceLock::new();
    D.get_or_init(|| {
        let w = signed_world();
        let layouts = tempfile::tempdir().unwrap();
        let push = |repo: &str, d: Disguise| {
            let dir = layouts.path().join(repo.replace('/', "-"));
            disguise::push(&w.registry.url(), &dir, repo, d)
        };
        let enforced = vec![
            push(
                "enf/dis-simplesigning",
                Disguise::Relabelled(SIMPLE_SIGNING),
            ),
            push("enf/dis-dsse", Disguise::Relabelled(DSSE)),
            push("enf/dis-bundle", Disguise::Relabelled(BUNDLE)),
            push("enf/dis-keycase", Disguise::KeyCase),
            push("enf/dis-keycase-inert", Disguise::KeyCaseInert),
            push("enf/dis-folded", Disguise::Folded),
            push("enf/dis-index", Disguise::Index),
        ];
        let unpoliced = vec![
            push(
                "open/dis-simplesigning",
                Disguise::Relabelled(SIMPLE_SIGNING),
            ),
            push("open/dis-keycase", Disguise::KeyCase),
        ];
        Disguises {
            enforced,
            unpoliced,
            _layouts: layouts,
        }
    })
}

fn find(repo: &str) -> &'static Disguised {
    let d = disguises();
    d.enforced
        .iter()
        .chain(&d.unpoliced)
        .find(|x| x.repo == repo)
        .unwrap_or_else(|| panic!("no disguise {repo}"))
}

/// Whether a runtime must hold the layer already to run this disguise.
fn seeded(runtime: Runtime, d: &Disguised) -> bool {
    match d.disguise {
        // containerd: "no processor for media-type" when it must unpack.
        Disguise::Relabelled(_) => runtime == Runtime::Containerd,
        // The real layer is not in signgate's reading of the manifest.
        Disguise::KeyCaseInert => true,
        _ => false,
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Runtime {
    Containerd,
    Podman,
}

/// signgate's answer to the manifest GET a runtime makes for `:v1`: must
/// be a refusal (`DENIED` or `MANIFEST_INVALID`) whose reason is also in
/// signgate's log. Returns (status line, reason).
async fn refusal(sg: &Signgate, d: &Disguised) -> (String, String) {
    let accept = format!(
        "{OCI_MANIFEST}, {OCI_INDEX}, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json"
    );
    let r = send(
        Method::GET,
        &sg.url(&format!("/v2/{}/manifests/v1", d.repo)),
        &[("accept", &accept)],
    )
    .await;
    assert!(
        !r.status.is_success(),
        "signgate served {}:v1 ({}, {}) with status {}: the disguise passed the gate",
        d.repo,
        d.manifest.digest,
        r.header("content-type").unwrap_or_default(),
        r.status
    );
    let (code, message) = r.oci_error();
    assert!(
        code == "DENIED" || code == "MANIFEST_INVALID",
        "{}: {code} {message}",
        d.repo
    );
    let reason = message
        .strip_prefix("signgate: ")
        .unwrap_or_else(|| panic!("not signgate's message: {message}"))
        .to_owned();
    assert!(
        sg.log_text().contains(&reason),
        "{}: the reason {reason:?} is in signgate's log:\n{}",
        d.repo,
        sg.log_text()
    );
    let status = format!(
        "{} {}",
        r.status.as_u16(),
        r.status.canonical_reason().unwrap_or_default()
    );
    (status, reason)
}

fn write_hosts(dir: &Path, registry: &str, server: &str) {
    let reg = dir.join(registry);
    std::fs::create_dir_all(&reg).unwrap();
    std::fs::write(reg.join("hosts.toml"), hosts_toml(server)).unwrap();
}

/// containerd: the control runs `d` straight from the registry; through
/// signgate (as `server`, no fallback) the pull is refused and nothing runs.
async fn containerd_case(sg: &Signgate, d: &Disguised) {
    let w = signed_world();
    let image = format!("registry.test/{}:v1", d.repo);
    let seed = format!("seed.test/{}:plain", d.repo);
    let seeded = seeded(Runtime::Containerd, d);

    // Control: the same image, the same runtime, no signgate.
    let direct = Containerd::start();
    let hosts = tempfile::tempdir().unwrap();
    write_hosts(hosts.path(), "registry.test", &w.registry.host());
    write_hosts(hosts.path(), "seed.test", &w.registry.host());
    if seeded {
        let (ok, out) = ctr_pull(&direct, hosts.path(), &seed);
        assert!(ok, "control seed {seed}: {out}");
    }
    let (ok, out) = ctr_pull(&direct, hosts.path(), &image);
    assert!(
        ok,
        "control pull of {image} straight from the registry: {out}"
    );
    let (ok, out) = ctr_run(&direct, &image, "control");
    assert!(
        ok && out.contains(&d.marker),
        "control: containerd runs {image} from the registry (the disguise is real): {out}"
    );

    // Through signgate.
    let node = Containerd::start();
    let hosts = tempfile::tempdir().unwrap();
    write_hosts(hosts.path(), "registry.test", &sg.host());
    write_hosts(hosts.path(), "seed.test", &w.registry.host());
    if seeded {
        let (ok, out) = ctr_pull(&node, hosts.path(), &seed);
        assert!(ok, "seed {seed}: {out}");
    }
    let (pulled, out) = ctr_pull(&node, hosts.path(), &image);
    let (status, reason) = refusal(sg, d).await;
    assert!(!pulled, "containerd pulled {image} through signgate: {out}");
    assert!(
        out.contains(&status) || out.contains(&reason),
        "ctr shows signgate's refusal ({status}: {reason}): {out}"
    );
    let (ran, out) = ctr_run(&node, &image, "through-signgate");
    assert!(
        !ran && !out.contains(&d.marker),
        "{image} ran after signgate refused it: {out}"
    );
    let (_, images) = ctr(&node, &["images", "ls", "-q"]);
    assert!(
        !images.lines().any(|l| l.trim() == image),
        "{image} is in containerd's image store: {images}"
    );
}

/// podman (bookworm's 4.3): as `containerd_case`, with the primary location
/// of `registry.test` remapped to signgate (`deploy/podman/`).
async fn podman_case(sg: &Signgate, d: &Disguised) {
    let w = signed_world();
    let image = format!("registry.test/{}:v1", d.repo);
    let seed = format!("seed.test/{}:plain", d.repo);
    let seeded = seeded(Runtime::Podman, d);

    let direct = Podman::new(&[
        ("registry.test", w.registry.host()),
        ("seed.test", w.registry.host()),
    ]);
    if seeded {
        let (ok, out) = direct.pull(&seed);
        assert!(ok, "control seed {seed}: {out}");
    }
    let (ok, out) = direct.run_image(&image);
    assert!(
        ok && out.contains(&d.marker),
        "control: podman runs {image} from the registry (the disguise is real): {out}"
    );

    let node = Podman::new(&[
        ("registry.test", format!("{}/registry.test", sg.host())),
        ("seed.test", w.registry.host()),
    ]);
    if seeded {
        let (ok, out) = node.pull(&seed);
        assert!(ok, "seed {seed}: {out}");
    }
    let (pulled, out) = node.pull(&image);
    let (_, reason) = refusal(sg, d).await;
    assert!(!pulled, "podman pulled {image} through signgate: {out}");
    assert!(
        out.contains(&reason),
        "podman shows signgate's reason ({reason}): {out}"
    );
    let (ran, out) = node.run_image(&image);
    assert!(
        !ran && !out.contains(&d.marker),
        "{image} ran after signgate refused it: {out}"
    );
    let (exists, _) = node.podman(&["image", "exists", &image]);
    assert!(!exists, "{image} is in podman's storage");
}

#[tokio::test(flavor = "multi_thread")]
async fn containerd_is_refused_relabelled_images_and_runs_nothing() {
    let w = signed_world();
    let sg = enforcing(&w.trusted.public_pem(), "");
    for repo in ["enf/dis-simplesigning", "enf/dis-dsse", "enf/dis-bundle"] {
        containerd_case(&sg, find(repo)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn containerd_is_refused_key_case_images_and_runs_nothing() {
    let w = signed_world();
    let sg = enforcing(&w.trusted.public_pem(), "");
    for repo in ["enf/dis-keycase", "enf/dis-keycase-inert", "enf/dis-folded"] {
        containerd_case(&sg, find(repo)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn containerd_is_refused_an_index_of_runnable_images_claiming_to_be_signatures() {
    let w = signed_world();
    let sg = enforcing(&w.trusted.public_pem(), "");
    containerd_case(&sg, find("enf/dis-index")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn containerd_is_refused_disguises_in_a_repository_no_policy_covers() {
    let w = signed_world();
    let sg = enforcing(&w.trusted.public_pem(), "");
    for repo in ["open/dis-simplesigning", "open/dis-keycase"] {
        containerd_case(&sg, find(repo)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn podman_is_refused_relabelled_images_and_runs_nothing() {
    let w = signed_world();
    let sg = enforcing(&w.trusted.public_pem(), "");
    for repo in ["enf/dis-simplesigning", "enf/dis-dsse", "enf/dis-bundle"] {
        podman_case(&sg, find(repo)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn podman_is_refused_key_case_images_and_runs_nothing() {
    let w = signed_world();
    let sg = enforcing(&w.trusted.public_pem(), "");
    for repo in ["enf/dis-keycase", "enf/dis-keycase-inert", "enf/dis-folded"] {
        podman_case(&sg, find(repo)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn podman_is_refused_an_index_of_runnable_images_claiming_to_be_signatures() {
    let w = signed_world();
    let sg = enforcing(&w.trusted.public_pem(), "");
    podman_case(&sg, find("enf/dis-index")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn podman_is_refused_disguises_in_a_repository_no_policy_covers() {
    let w = signed_world();
    let sg = enforcing(&w.trusted.public_pem(), "");
    for repo in ["open/dis-simplesigning", "open/dis-keycase"] {
        podman_case(&sg, find(repo)).await;
    }
}
