//! Issue 10, class 1, end to end: unsigned runnable images disguised as
//! signature artifacts — layers relabelled with signature media types;
//! serde-vs-Go key differentials (`"layers"` then `"Layers"` or `"layerſ"`,
//! and `mediaType`/`digest`/`size` then `MediaType`/`Digest`/`Size` in one
//! descriptor; Go's encoding/json folds case, `ſ` included, and the later
//! key wins); an index whose entries claim a signature `artifactType` —
//! pushed to a repository an enforcing key policy covers and to one no
//! policy covers (`no-match-policy: deny`). Through signgate, containerd
//! 1.6 (`ctr`, signgate as the `server`), podman 4.3 and podman 5.4 (the
//! primary location remapped) are refused each with signgate's reason, and
//! nothing of it runs; `signgate mirror` exports none of them.
//!
//! Every case has its positive control in the same test: the same runtime
//! pulling the same image straight from the registry runs it (its marker is
//! printed), so each disguise is real for that runtime.
//!
//! Where a runtime runs an image only when its layer is already on the node
//! (containerd refuses to unpack a relabelled layer itself, but runs the
//! image over an existing snapshot; a layer missing from signgate's reading
//! of the manifest is never fetched through it), the node is first seeded
//! with the same layer as an ordinary image pulled from elsewhere (the
//! `:plain` tag, under another registry name), in both arms alike.

use std::path::Path;
use std::sync::OnceLock;

use http::Method;

use crate::support::containerd::Containerd;
use crate::support::disguise::{
    self, ctr, ctr_pull, ctr_run, hosts_toml, Disguise, Disguised, Podman, PodmanVersion, BUNDLE,
    DSSE, SIMPLE_SIGNING,
};
use crate::support::enforce::enforcing;
use crate::support::http::send;
use crate::support::image::{OCI_INDEX, OCI_MANIFEST};
use crate::support::signed::signed_world;
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
            push("enf/dis-descriptor-keycase", Disguise::DescriptorKeyCase),
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
        // The real layer is not in signgate's reading of the manifest, so
        // it is never fetched through signgate.
        Disguise::KeyCaseInert | Disguise::Folded | Disguise::DescriptorKeyCase => true,
        _ => false,
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Runtime {
    Containerd,
    Podman(PodmanVersion),
}

/// signgate's answer to the manifest GET a runtime makes for `:v1`: must
/// be a refusal (`DENIED` or `MANIFEST_INVALID`) whose reason is also in
/// signgate's log. Returns (status line, reason).
async fn refusal(sg: &Signgate, d: &Disguised) -> (String, String) {
    let accept = format!(
        "{OCI_MANIFEST}, {OCI_INDEX}, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json"
    );
    let url = sg.url(&format!("/v2/{}/manifests/{}", d.repo, d.tag));
    let r = disguise::within(&url, send(Method::GET, &url, &[("accept", &accept)])).await;
    assert!(
        !r.status.is_success(),
        "signgate served {}:{} ({}, {}) with status {}: the disguise passed the gate",
        d.repo,
        d.tag,
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
    let image = format!("registry.test/{}:{}", d.repo, d.tag);
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
    let (ok, out) = ctr_run(&direct, &image);
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
    let (pulled, pull_out) = ctr_pull(&node, hosts.path(), &image);
    let (ran, run_out) = ctr_run(&node, &image);
    assert!(
        !ran && !run_out.contains(&d.marker),
        "{image} ran through signgate (pulled: {pulled}): {run_out}"
    );
    assert!(
        !pulled,
        "containerd pulled {image} through signgate: {pull_out}"
    );
    let (status, reason) = refusal(sg, d).await;
    assert!(
        pull_out.contains(&status) || pull_out.contains(&reason),
        "ctr shows signgate's refusal ({status}: {reason}): {pull_out}"
    );
    let (_, images) = ctr(&node, &["images", "ls", "-q"]);
    assert!(
        !images.lines().any(|l| l.trim() == image),
        "{image} is in containerd's image store: {images}"
    );
}

/// podman: as `containerd_case`, with the primary location of
/// `registry.test` remapped to signgate (`deploy/podman/`).
async fn podman_case(version: PodmanVersion, sg: &Signgate, d: &Disguised) {
    let w = signed_world();
    let image = format!("registry.test/{}:{}", d.repo, d.tag);
    let seed = format!("seed.test/{}:plain", d.repo);
    let seeded = seeded(Runtime::Podman(version), d);

    let direct = Podman::new(
        version,
        &[
            ("registry.test", w.registry.host()),
            ("seed.test", w.registry.host()),
        ],
    );
    if seeded {
        let (ok, out) = direct.pull(&seed);
        assert!(ok, "control seed {seed}: {out}");
    }
    let (ok, out) = direct.run_image(&image);
    assert!(
        ok && out.contains(&d.marker),
        "control: podman {version:?} runs {image} from the registry (the disguise is real): {out}"
    );

    let node = Podman::new(
        version,
        &[
            ("registry.test", format!("{}/registry.test", sg.host())),
            ("seed.test", w.registry.host()),
        ],
    );
    if seeded {
        let (ok, out) = node.pull(&seed);
        assert!(ok, "seed {seed}: {out}");
    }
    let (pulled, pull_out) = node.pull(&image);
    let (ran, run_out) = node.run_image(&image);
    assert!(
        !ran && !run_out.contains(&d.marker),
        "{image} ran through signgate (pulled: {pulled}): {run_out}"
    );
    assert!(
        !pulled,
        "podman {version:?} pulled {image} through signgate: {pull_out}"
    );
    let (status, reason) = refusal(sg, d).await;
    // containers/image decodes the error body of a 4xx answer only; of a
    // 5xx it shows the status line.
    let shown = if status.starts_with('4') {
        &reason
    } else {
        &status
    };
    assert!(
        pull_out.contains(shown.as_str()),
        "podman {version:?} shows signgate's refusal ({status}: {reason}): {pull_out}"
    );
    let (exists, _) = node.podman(&["image", "exists", &image]);
    assert!(!exists, "{image} is in podman's storage");
}

async fn case(runtime: Runtime, repo: &str) {
    let w = signed_world();
    let sg = enforcing(&w.trusted.public_pem(), "");
    let d = find(repo);
    match runtime {
        Runtime::Containerd => containerd_case(&sg, d).await,
        Runtime::Podman(version) => podman_case(version, &sg, d).await,
    }
}

/// One test per runtime and disguise, so each verdict stands on its own.
macro_rules! cases {
    ($($name:ident: $runtime:expr, $repo:literal;)*) => {$(
        #[tokio::test(flavor = "multi_thread")]
        async fn $name() {
            case($runtime, $repo).await;
        }
    )*};
}

const CTR: Runtime = Runtime::Containerd;
const PODMAN_4: Runtime = Runtime::Podman(PodmanVersion::Bookworm);
const PODMAN_5: Runtime = Runtime::Podman(PodmanVersion::Trixie);

cases! {
    ctr_is_refused_layers_relabelled_simple_signing: CTR, "enf/dis-simplesigning";
    ctr_is_refused_layers_relabelled_dsse: CTR, "enf/dis-dsse";
    ctr_is_refused_layers_relabelled_bundle: CTR, "enf/dis-bundle";
    ctr_is_refused_real_layers_under_a_capitalised_key: CTR, "enf/dis-keycase";
    ctr_is_refused_real_layers_under_a_capitalised_key_beside_an_inert_signature: CTR, "enf/dis-keycase-inert";
    ctr_is_refused_real_layers_under_a_long_s_key: CTR, "enf/dis-folded";
    ctr_is_refused_real_layers_under_capitalised_descriptor_keys: CTR, "enf/dis-descriptor-keycase";
    ctr_is_refused_an_index_of_runnable_images_typed_as_signatures: CTR, "enf/dis-index";
    ctr_is_refused_a_relabelled_image_where_no_policy_applies: CTR, "open/dis-simplesigning";
    ctr_is_refused_a_key_case_image_where_no_policy_applies: CTR, "open/dis-keycase";

    podman4_is_refused_layers_relabelled_simple_signing: PODMAN_4, "enf/dis-simplesigning";
    podman4_is_refused_layers_relabelled_dsse: PODMAN_4, "enf/dis-dsse";
    podman4_is_refused_layers_relabelled_bundle: PODMAN_4, "enf/dis-bundle";
    podman4_is_refused_real_layers_under_a_capitalised_key: PODMAN_4, "enf/dis-keycase";
    podman4_is_refused_real_layers_under_a_capitalised_key_beside_an_inert_signature: PODMAN_4, "enf/dis-keycase-inert";
    podman4_is_refused_real_layers_under_a_long_s_key: PODMAN_4, "enf/dis-folded";
    podman4_is_refused_real_layers_under_capitalised_descriptor_keys: PODMAN_4, "enf/dis-descriptor-keycase";
    podman4_is_refused_an_index_of_runnable_images_typed_as_signatures: PODMAN_4, "enf/dis-index";
    podman4_is_refused_a_relabelled_image_where_no_policy_applies: PODMAN_4, "open/dis-simplesigning";
    podman4_is_refused_a_key_case_image_where_no_policy_applies: PODMAN_4, "open/dis-keycase";

    podman5_is_refused_layers_relabelled_simple_signing: PODMAN_5, "enf/dis-simplesigning";
    podman5_is_refused_layers_relabelled_dsse: PODMAN_5, "enf/dis-dsse";
    podman5_is_refused_layers_relabelled_bundle: PODMAN_5, "enf/dis-bundle";
    podman5_is_refused_real_layers_under_a_capitalised_key: PODMAN_5, "enf/dis-keycase";
    podman5_is_refused_real_layers_under_a_capitalised_key_beside_an_inert_signature: PODMAN_5, "enf/dis-keycase-inert";
    podman5_is_refused_real_layers_under_a_long_s_key: PODMAN_5, "enf/dis-folded";
    podman5_is_refused_real_layers_under_capitalised_descriptor_keys: PODMAN_5, "enf/dis-descriptor-keycase";
    podman5_is_refused_an_index_of_runnable_images_typed_as_signatures: PODMAN_5, "enf/dis-index";
    podman5_is_refused_a_relabelled_image_where_no_policy_applies: PODMAN_5, "open/dis-simplesigning";
    podman5_is_refused_a_key_case_image_where_no_policy_applies: PODMAN_5, "open/dis-keycase";
}

/// `signgate mirror` of every disguised image: each is refused with its
/// reason (exit 1), and none is exported as an image (a root of the
/// export's index).
#[tokio::test(flavor = "multi_thread")]
async fn mirror_refuses_every_disguise_and_exports_none_as_an_image() {
    let w = signed_world();
    let d = disguises();
    let work = tempfile::tempdir().unwrap();
    let policies = work.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    crate::support::enforce::write_policy(&policies, &w.trusted.public_pem(), "");
    let config = work.path().join("signgate.yaml");
    std::fs::write(
        &config,
        format!(
            "upstreams:\n  - name: registry.test\n    url: \"{}\"\n    insecure: true\n    default: true\npolicies: {}\nno-match-policy: deny\n",
            w.registry.url(),
            policies.display()
        ),
    )
    .unwrap();
    let export = work.path().join("export");
    let all: Vec<&Disguised> = d.enforced.iter().chain(&d.unpoliced).collect();
    let images: Vec<String> = all
        .iter()
        .map(|x| format!("registry.test/{}:{}", x.repo, x.tag))
        .collect();
    let mut args = vec![
        "mirror",
        "--config",
        config.to_str().unwrap(),
        "--to",
        export.to_str().unwrap(),
    ];
    args.extend(images.iter().map(String::as_str));
    let (code, out) = disguise::bounded_code(env!("CARGO_BIN_EXE_signgate"), &args, &[]);

    // The export's roots, read before asserting, so a failure says all.
    let roots: Vec<String> = std::fs::read(export.join("index.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["manifests"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str())
        .map(str::to_owned)
        .collect();
    for (x, image) in all.iter().zip(&images) {
        let named = format!("registry.test/{}", x.repo);
        assert!(
            !roots.iter().any(|r| r
                .strip_prefix(&named)
                .is_some_and(|rest| rest.starts_with([':', '@']))),
            "{image} is a root of the export: {roots:?}\n{out}"
        );
        assert!(
            out.contains(&format!("refused  {image}: signgate: ")),
            "{image} refused, with its reason: {out}"
        );
    }
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("exported 0 image(s)"), "{out}");
}
