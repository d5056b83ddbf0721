//! Trusted roots kept current by TUF (issue 12, item 1), end to end: a real
//! TUF repository made by python-tuf and served by `python3 -m http.server`
//! on loopback, two test sigstores (a Fulcio CA + Rekor + CT log each: a
//! rotation from one to the other), the real registry and the real binary.
//! Initial fetch, rotation without restart within one refresh interval, a
//! tampered target refused (the old root kept), the mirror unreachable
//! (last known good, across a restart too), expired metadata under `keep`
//! and `deny`, `trust status` and `trust import`.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::enforce::pull;
use crate::support::image::push_image;
use crate::support::registry::{Registry, RegistryAuth};
use crate::support::signgate::{Signgate, Up};
use crate::support::sigstore_ca::{push_legacy, LeafIdentity, TestSigstore};
use crate::support::tuf::TufRepo;

const ISSUER: &str = "https://issuer.example.test";
const ALICE: &str = "alice@example.test";

/// `tuf/old` signed under `old`, `tuf/new` under `new`.
async fn signed_images(registry: &Registry, old: &TestSigstore, new: &TestSigstore) {
    for (repo, ca) in [("tuf/old", old), ("tuf/new", new)] {
        let digest = push_image(registry, repo, repo);
        let signer = ca.issue(&LeafIdentity::email(ALICE, ISSUER));
        let layer = signer.sign_legacy(ca, &digest, &format!("registry.test/{repo}"));
        push_legacy(&registry.url(), repo, &digest, "sig", &[layer]).await;
    }
}

/// A keyless policy on the TUF root `corp`, and the `trust.tuf` section.
fn config(dir: &Path, tuf: &TufRepo, cache: &Path, on_expired: &str, admin: u16) -> String {
    let policies = dir.join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    std::fs::write(
        policies.join("p.yaml"),
        format!("apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {{name: corp}}\nspec:\n  images: [{{glob: 'registry.test/tuf/*'}}]\n  authorities:\n    - keyless:\n        trustRootRef: corp\n        identities: [{{issuer: '{ISSUER}', subject: '{ALICE}'}}]\n"),
    )
    .unwrap();
    format!(
        "admin: 127.0.0.1:{admin}\npolicies: {}\nno-match-policy: deny\ntrust:\n  tuf:\n    cache-dir: {}\n    refresh: 1s\n    on-expired: {on_expired}\n    repositories:\n      corp: {{mirror: '{}', root: '{}'}}\n",
        policies.display(),
        cache.display(),
        tuf.mirror(),
        tuf.root_json().display()
    )
}

/// Wait (up to `seconds`) until pulling `repo` answers `status`; the last
/// answer's body.
async fn until_status(sg: &Signgate, repo: &str, status: u16, seconds: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        let r = pull(sg, repo, "v1").await;
        let body = String::from_utf8_lossy(&r.body).into_owned();
        if r.status == status {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{repo}: still {} after {seconds}s, want {status}: {body}\n{}",
            r.status,
            sg.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Failed refreshes of `corp` in the log (the embedded roots fail too:
/// the test machine has no internet).
fn corp_failures(sg: &Signgate) -> usize {
    sg.log_text()
        .lines()
        .filter(|l| l.contains("TUF refresh failed") && l.contains("corp"))
        .count()
}

async fn admin_get(admin: u16, path: &str) -> String {
    let r = crate::support::http::get(&format!("http://127.0.0.1:{admin}{path}")).await;
    String::from_utf8_lossy(&r.body).into_owned()
}

fn signgate_cli(args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_signgate"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tuf_root_is_fetched_rotated_without_restart_kept_on_tamper_and_when_unreachable() {
    let registry = Registry::start(RegistryAuth::None);
    let (old, new) = (TestSigstore::new(), TestSigstore::new());
    signed_images(&registry, &old, &new).await;
    let old_root = old.trusted_root_json();
    let new_root = new.trusted_root_json();
    let mut tuf = TufRepo::new(&old_root);
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let admin = crate::support::free_port();
    let yaml = config(dir.path(), &tuf, &cache, "keep", admin);
    let up = registry.url();
    let sg = Signgate::start(&[Up::new("registry.test", &up).default()], &yaml);

    // Initial fetch: the old root admits its signer's image, not the other.
    until_status(&sg, "tuf/old", 200, 20).await;
    let denied = until_status(&sg, "tuf/new", 403, 5).await;
    assert!(denied.contains("corp"), "{denied}");

    // A tampered target: new metadata pins the new root, the mirror serves
    // other bytes. Refused; the old root stays in force.
    tuf.update(&new_root);
    std::fs::write(tuf.target_file(&new_root), &old_root).unwrap();
    crate::support::wait_for(20, "a refused refresh", || corp_failures(&sg) >= 1);
    tokio::time::sleep(Duration::from_secs(2)).await;
    until_status(&sg, "tuf/old", 200, 1).await;
    until_status(&sg, "tuf/new", 403, 1).await;

    // The right bytes: the rotation lands within a refresh interval (1s;
    // the test allows a few), without restart — the new signer's image is
    // admitted, the old one no longer.
    let start = Instant::now();
    std::fs::write(tuf.target_file(&new_root), &new_root).unwrap();
    until_status(&sg, "tuf/new", 200, 10).await;
    let rotation = start.elapsed();
    until_status(&sg, "tuf/old", 403, 5).await;
    eprintln!("rotation observed after {rotation:?}");
    assert!(sg
        .log_text()
        .lines()
        .any(|l| l.contains("trusted root updated from TUF") && l.contains("corp")));

    // Mirror unreachable: refreshes fail, the root in force stays; and a
    // restart starts from the cache with no network.
    tuf.stop();
    let failed = corp_failures(&sg);
    crate::support::wait_for(10, "a failed refresh", || corp_failures(&sg) > failed);
    until_status(&sg, "tuf/new", 200, 1).await;
    drop(sg);
    let sg = Signgate::start(&[Up::new("registry.test", &up).default()], &yaml);
    until_status(&sg, "tuf/new", 200, 1).await;
    until_status(&sg, "tuf/old", 403, 1).await;
    let metrics = admin_get(admin, "/metrics").await;
    assert!(
        metrics.contains(r#"signgate_trust_root_refresh_failures_total{root="corp"}"#),
        "{metrics}"
    );

    // trust status: the root, where it came from, its versions and the last
    // refresh's result.
    let config_file = sg.dir.path().join("signgate.yaml");
    let (code, out) = signgate_cli(&["trust", "status", "--config", config_file.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    eprintln!("trust status:\n{out}");
    let line = out
        .lines()
        .find(|l| l.starts_with("corp"))
        .unwrap_or_default();
    assert!(line.contains(&format!("TUF {}/", tuf.mirror())), "{out}");
    assert!(out.contains("targets v2"), "{out}");
    assert!(out.contains("last refresh: failed"), "{out}");
    assert!(
        line.contains("trusted root: CAs 1/1, tlogs 1/1, ctlogs 1/1, TSAs 0/0 current"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_tuf_metadata_keeps_the_root_under_keep_and_denies_under_deny() {
    let registry = Registry::start(RegistryAuth::None);
    let (old, new) = (TestSigstore::new(), TestSigstore::new());
    signed_images(&registry, &old, &new).await;
    let tuf = TufRepo::new(&old.trusted_root_json());
    let up = registry.url();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let admin = crate::support::free_port();
    let keep = Signgate::start(
        &[Up::new("registry.test", &up).default()],
        &config(dir.path(), &tuf, &cache, "keep", admin),
    );
    until_status(&keep, "tuf/old", 200, 20).await;
    tuf.expire();

    // keep: loud (log, metric, readyz) and still admitting.
    crate::support::wait_for(20, "the expiry to be noticed", || {
        keep.log_text()
            .lines()
            .any(|l| l.contains("TUF metadata expired") && l.contains("corp"))
    });
    let ready = admin_get(admin, "/readyz").await;
    assert!(
        ready.contains("trusted root 'corp': TUF timestamp metadata expired at")
            && ready.contains("trust.tuf.on-expired is keep"),
        "{ready}"
    );
    // Metrics are recorded once every source's refresh is done.
    let want = r#"signgate_trust_root_metadata_expired{root="corp"} 1"#;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut metrics = admin_get(admin, "/metrics").await;
    while !metrics.contains(want) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        metrics = admin_get(admin, "/metrics").await;
    }
    assert!(metrics.contains(want), "{metrics}");
    until_status(&keep, "tuf/old", 200, 1).await;
    drop(keep);

    // deny: from the same cache (still valid offline), the first refresh
    // meets the expired timestamp and the root becomes unavailable.
    let dir2 = tempfile::tempdir().unwrap();
    let deny = Signgate::start(
        &[Up::new("registry.test", &up).default()],
        &config(
            dir2.path(),
            &tuf,
            &cache,
            "deny",
            crate::support::free_port(),
        ),
    );
    let body = until_status(&deny, "tuf/old", 403, 20).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut body = body;
    while !body.contains("on-expired is deny") && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        body = String::from_utf8_lossy(&pull(&deny, "tuf/old", "v1").await.body).into_owned();
    }
    assert!(
        body.contains("trusted root 'corp' is unavailable: TUF timestamp metadata expired at")
            && body.contains("trust.tuf.on-expired is deny"),
        "{body}"
    );
}

/// An air-gapped site: the mirror is never reachable; `trust import` of a
/// repository copy (verified offline against `--root`) brings the root,
/// and the next start admits its signer's image.
#[tokio::test(flavor = "multi_thread")]
async fn trust_import_of_a_repository_copy_is_used_at_the_next_start() {
    let registry = Registry::start(RegistryAuth::None);
    let (old, new) = (TestSigstore::new(), TestSigstore::new());
    signed_images(&registry, &old, &new).await;
    let mut tuf = TufRepo::new(&old.trusted_root_json());
    tuf.stop();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let up = registry.url();
    let yaml = config(
        dir.path(),
        &tuf,
        &cache,
        "keep",
        crate::support::free_port(),
    );
    let sg = Signgate::start(&[Up::new("registry.test", &up).default()], &yaml);
    let body = until_status(&sg, "tuf/old", 403, 5).await;
    assert!(
        body.contains("trusted root 'corp' is unavailable: not yet fetched from"),
        "{body}"
    );
    // Kept beside the test's files: the instance's directory goes with it.
    let config_file = dir.path().join("signgate.yaml");
    std::fs::copy(sg.dir.path().join("signgate.yaml"), &config_file).unwrap();
    let config_arg = config_file.to_str().unwrap();
    drop(sg);

    // A copy someone tampered with does not verify, and nothing is written.
    let copy = dir.path().join("copy");
    let repo = tuf.dir.path().join("tuf/repo");
    let cp = |from: &Path, to: &Path| {
        let ok = std::process::Command::new("cp")
            .args(["-r", from.to_str().unwrap(), to.to_str().unwrap()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    };
    cp(&repo, &copy);
    let target = std::fs::read_dir(copy.join("targets"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::write(&target, new.trusted_root_json()).unwrap();
    let root = tuf.root_json();
    let import = |dir: &Path| {
        signgate_cli(&[
            "trust",
            "import",
            dir.to_str().unwrap(),
            "--config",
            config_arg,
            "--name",
            "corp",
            "--root",
            root.to_str().unwrap(),
        ])
    };
    let (code, out) = import(&copy);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("the repository copy does not verify"), "{out}");
    assert!(!cache.join("corp/last-good.json").exists());

    // The real copy verifies and is kept.
    let good = dir.path().join("good");
    cp(&repo, &good);
    let (code, out) = import(&good);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("corp: imported TUF repository copy (root v1, targets v1)"),
        "{out}"
    );
    let (code, out) = signgate_cli(&["trust", "status", "--config", config_arg, "--json"]);
    assert_eq!(code, 0, "{out}");
    let status: serde_json::Value = serde_json::from_str(&out).unwrap();
    let corp = status
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "corp")
        .unwrap();
    assert_eq!(corp["tuf"]["from"], "TUF cache", "{out}");
    assert_eq!(corp["tuf"]["targets_version"], 1, "{out}");
    // verify --explain names the root with its origin and versions.
    let (code, out) = signgate_cli(&[
        "verify",
        "registry.test/tuf/old:v1",
        "--explain",
        "--config",
        config_arg,
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!(
            "trusted root 'corp' (TUF {}/ (root v1, targets v1))",
            tuf.mirror()
        )),
        "{out}"
    );
    let sg = Signgate::start(&[Up::new("registry.test", &up).default()], &yaml);
    until_status(&sg, "tuf/old", 200, 5).await;
    until_status(&sg, "tuf/new", 403, 1).await;
}

/// With a long schedule, SIGHUP is what refreshes: the rotation lands on
/// the signal, not before.
#[tokio::test(flavor = "multi_thread")]
async fn sighup_refreshes_the_tuf_roots() {
    let registry = Registry::start(RegistryAuth::None);
    let (old, new) = (TestSigstore::new(), TestSigstore::new());
    signed_images(&registry, &old, &new).await;
    let tuf = TufRepo::new(&old.trusted_root_json());
    let dir = tempfile::tempdir().unwrap();
    let yaml = config(
        dir.path(),
        &tuf,
        &dir.path().join("cache"),
        "keep",
        crate::support::free_port(),
    )
    .replace("refresh: 1s", "refresh: 1h");
    let up = registry.url();
    let sg = Signgate::start(&[Up::new("registry.test", &up).default()], &yaml);
    until_status(&sg, "tuf/old", 200, 20).await;
    tuf.update(&new.trusted_root_json());
    tokio::time::sleep(Duration::from_secs(2)).await;
    until_status(&sg, "tuf/new", 403, 1).await;
    sg.child.signal("HUP");
    until_status(&sg, "tuf/new", 200, 10).await;
    until_status(&sg, "tuf/old", 403, 1).await;
}

/// `signgate mirror` carries the TUF metadata in force with the images: a
/// site that never reached the mirror imports the export's copy with
/// `trust import` (verified from its own bootstrap root) and admits the
/// image; a tampered copy in the export is refused there.
#[tokio::test(flavor = "multi_thread")]
async fn mirror_export_carries_the_tuf_metadata_in_force_for_trust_import() {
    let registry = Registry::start(RegistryAuth::None);
    let (old, new) = (TestSigstore::new(), TestSigstore::new());
    signed_images(&registry, &old, &new).await;
    let mut tuf = TufRepo::new(&old.trusted_root_json());
    let dir = tempfile::tempdir().unwrap();
    let up = registry.url();
    // The connected side: one refresh fills its cache.
    let yaml = config(
        dir.path(),
        &tuf,
        &dir.path().join("cache"),
        "keep",
        crate::support::free_port(),
    );
    let sg = Signgate::start(&[Up::new("registry.test", &up).default()], &yaml);
    until_status(&sg, "tuf/old", 200, 10).await;
    let connected = dir.path().join("connected.yaml");
    std::fs::copy(sg.dir.path().join("signgate.yaml"), &connected).unwrap();
    drop(sg);
    let export = dir.path().join("export");
    let (code, out) = signgate_cli(&[
        "mirror",
        "--config",
        connected.to_str().unwrap(),
        "--to",
        export.to_str().unwrap(),
        "registry.test/tuf/old:v1",
    ]);
    assert_eq!(code, 0, "{out}");
    let copy = export.join("signgate/trust/tuf/corp");
    assert!(copy.join("1.root.json").is_file(), "{out}");
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(export.join("signgate/export.json")).unwrap())
            .unwrap();
    assert_eq!(record["tuf"]["corp"], "trust/tuf/corp");

    // The site: the mirror is out of reach and its cache is empty.
    tuf.stop();
    let site_yaml = config(
        dir.path(),
        &tuf,
        &dir.path().join("site-cache"),
        "keep",
        crate::support::free_port(),
    );
    let sg = Signgate::start(&[Up::new("registry.test", &up).default()], &site_yaml);
    let body = until_status(&sg, "tuf/old", 403, 5).await;
    assert!(
        body.contains("trusted root 'corp' is unavailable"),
        "{body}"
    );
    let site = dir.path().join("site.yaml");
    std::fs::copy(sg.dir.path().join("signgate.yaml"), &site).unwrap();
    drop(sg);
    let import = |from: &Path| {
        signgate_cli(&[
            "trust",
            "import",
            from.to_str().unwrap(),
            "--config",
            site.to_str().unwrap(),
            "--name",
            "corp",
        ])
    };
    // A copy altered in transit does not verify.
    let tampered = dir.path().join("tampered");
    assert!(std::process::Command::new("cp")
        .args(["-r", copy.to_str().unwrap(), tampered.to_str().unwrap()])
        .status()
        .unwrap()
        .success());
    for entry in std::fs::read_dir(tampered.join("targets")).unwrap() {
        std::fs::write(entry.unwrap().path(), new.trusted_root_json()).unwrap();
    }
    let (code, out) = import(&tampered);
    assert_eq!(code, 1, "{out}");
    let (code, out) = import(&copy);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("corp: imported TUF repository copy"), "{out}");
    let sg = Signgate::start(&[Up::new("registry.test", &up).default()], &site_yaml);
    until_status(&sg, "tuf/old", 200, 5).await;
    until_status(&sg, "tuf/new", 403, 1).await;
}

/// The mirror blocked past the metadata's expiry: the clock, not the
/// mirror, says the metadata expired (TUF's freeze attack — whoever blocks
/// the mirror must not keep a site on old trust without a word). Under
/// `keep` it is loud and still admits; under `deny` the root is
/// unavailable and the image is denied with the reason.
#[tokio::test(flavor = "multi_thread")]
async fn metadata_that_expires_while_the_mirror_is_blocked_has_expired() {
    let registry = Registry::start(RegistryAuth::None);
    let (old, new) = (TestSigstore::new(), TestSigstore::new());
    signed_images(&registry, &old, &new).await;
    let mut tuf = TufRepo::new(&old.trusted_root_json());
    tuf.expire_in(8);
    let up = registry.url();
    let dir = tempfile::tempdir().unwrap();
    let (keep_admin, deny_admin) = (crate::support::free_port(), crate::support::free_port());
    let keep_dir = dir.path().join("keep");
    let deny_dir = dir.path().join("deny");
    let keep = Signgate::start(
        &[Up::new("registry.test", &up).default()],
        &config(&keep_dir, &tuf, &keep_dir.join("cache"), "keep", keep_admin),
    );
    let deny = Signgate::start(
        &[Up::new("registry.test", &up).default()],
        &config(&deny_dir, &tuf, &deny_dir.join("cache"), "deny", deny_admin),
    );
    until_status(&keep, "tuf/old", 200, 5).await;
    until_status(&deny, "tuf/old", 200, 5).await;
    tuf.stop();

    let body = until_status(&deny, "tuf/old", 403, 30).await;
    assert!(
        body.contains("trusted root 'corp' is unavailable: TUF metadata expired at")
            && body.contains("the mirror could not be reached to renew it")
            && body.contains("trust.tuf.on-expired is deny"),
        "{body}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut ready = admin_get(keep_admin, "/readyz").await;
    while !ready.contains("could not be reached") && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        ready = admin_get(keep_admin, "/readyz").await;
    }
    assert!(
        ready.contains("trusted root 'corp': TUF metadata expired at")
            && ready.contains("trust.tuf.on-expired is keep"),
        "{ready}"
    );
    until_status(&keep, "tuf/old", 200, 1).await;
}
