//! The local store end to end: admitted images are kept as they are pulled
//! (manifests, blobs, and the signature material that admitted them); when
//! the upstream goes down they are served from the store, verified again
//! from that material — also by a freshly started signgate with no memory
//! of earlier decisions — and everything else fails closed. A policy change
//! applies to stored images too.

use std::path::Path;

use crate::enforce::{denial_of, pull, write_policy};
use crate::support::cosign::KeyPair;
use crate::support::image::{self, try_skopeo, Layout};
use crate::support::registry::{Registry, RegistryAuth};
use crate::support::signgate::{Signgate, Up};

fn start(registry_url: &str, policies: &Path, store: &Path) -> Signgate {
    Signgate::start(
        &[Up::new("registry.test", registry_url).default()],
        &format!(
            "policies: {}\nno-match-policy: deny\nstore:\n  path: {}\n",
            policies.display(),
            store.display()
        ),
    )
}

/// Pull the whole image with skopeo through signgate into an OCI layout.
fn copy(sg: &Signgate, repo: &str, dest: &Path) -> (bool, String) {
    try_skopeo(&[
        "copy".into(),
        "--src-tls-verify=false".into(),
        format!("docker://{}/{repo}:v1", sg.host()),
        format!("oci:{}:v1", dest.display()),
    ])
}

#[tokio::test(flavor = "multi_thread")]
async fn after_an_outage_admitted_images_come_from_the_store_verified_again() {
    let registry = Registry::start(RegistryAuth::None);
    let key = KeyPair::generate();
    let other = KeyPair::generate();
    let work = tempfile::tempdir().unwrap();
    let mut digests = Vec::new();
    for (repo, content) in [
        ("enf/kept", "kept through an outage"),
        ("enf/never", "never pulled"),
    ] {
        let dir = work.path().join(repo.replace('/', "-"));
        let mut layout = Layout::new(&dir);
        let m = layout.image(
            "amd64",
            &[
                ("c.txt", content.as_bytes()),
                ("big.bin", &image::noise(3 << 20, 7)),
            ],
        );
        layout.tag(&m, "v1");
        image::push(&dir, "v1", &format!("{}/{repo}:v1", registry.host()), None);
        key.sign(&format!("{}/{repo}@{}", registry.host(), m.digest), false);
        digests.push(m.digest);
    }
    let policies = work.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    write_policy(&policies, &key.public_pem(), "");
    let store = work.path().join("store");

    // Online: the pull goes through and everything it needed is kept.
    let sg = start(&registry.url(), &policies, &store);
    let (ok, out) = copy(&sg, "enf/kept", &work.path().join("first"));
    assert!(ok, "{out}");
    let kept = work.path().join("first");
    let blobs = image::layout_blobs(&kept);
    crate::support::wait_for(10, "the blobs to be kept", || {
        blobs.keys().all(|d| {
            store
                .join("blobs/sha256")
                .join(d.trim_start_matches("sha256:"))
                .is_file()
        })
    });
    // Pulling it again records nothing new: index.json is not rewritten.
    let written = std::fs::metadata(store.join("index.json"))
        .unwrap()
        .modified()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(pull(&sg, "enf/kept", "v1").await.status, 200);
    assert_eq!(
        std::fs::metadata(store.join("index.json"))
            .unwrap()
            .modified()
            .unwrap(),
        written,
        "a repeated pull rewrote index.json"
    );
    let index = std::fs::read_to_string(store.join("index.json")).unwrap();
    assert!(index.contains("registry.test/enf/kept:v1"), "{index}");
    assert!(
        index.contains(&format!(
            "registry.test/enf/kept:{}.sig",
            digests[0].replace(':', "-")
        )),
        "{index}"
    );

    // The upstream goes down.
    registry.stop();
    let r = pull(&sg, "enf/kept", "v1").await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("signgate-served-from"), Some("local-store"));
    assert!(
        r.header("warning")
            .is_some_and(|w| w.contains("served from the local store")),
        "{:?}",
        r.headers
    );
    let (ok, out) = copy(&sg, "enf/kept", &work.path().join("second"));
    assert!(ok, "{out}");
    assert_eq!(
        image::layout_blobs(&work.path().join("second")),
        blobs,
        "byte-identical from the store"
    );
    // Anything not in the store fails closed.
    let r = pull(&sg, "enf/never", "v1").await;
    assert!(
        r.status.is_server_error() || r.status == 404,
        "{}",
        r.status
    );
    let r = pull(&sg, "enf/never", &digests[1]).await;
    assert!(
        r.status.is_server_error() || r.status == 404,
        "{}",
        r.status
    );
    drop(sg);

    // A fresh signgate (no cached decision) verifies from the kept material.
    let sg = start(&registry.url(), &policies, &store);
    let r = pull(&sg, "enf/kept", "v1").await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let (ok, out) = copy(&sg, "enf/kept", &work.path().join("third"));
    assert!(ok, "{out}");
    let log = sg.log_text();
    assert!(
        log.contains("cache_hit=false") && log.contains("verdict=\"allow\""),
        "{log}"
    );
    drop(sg);

    // The policy now trusts another key: the stored image is refused.
    std::fs::remove_file(policies.join("enforced.yaml")).unwrap();
    write_policy(&policies, &other.public_pem(), "");
    let sg = start(&registry.url(), &policies, &store);
    let m = denial_of(&pull(&sg, "enf/kept", "v1").await);
    assert!(m.contains("signature by an untrusted key"), "{m}");
}
