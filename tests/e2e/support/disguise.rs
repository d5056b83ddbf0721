//! Disguised images (issue 10, class 1): a runnable, unsigned image dressed
//! so that a gate trusting labels or exact-case keys takes it for a
//! signature artifact, while a runtime still unpacks and runs it.
//!
//! The entrypoint is a tiny static x86-64 program made here (no package
//! needed) that prints a marker line naming its image and exits 0: a marker
//! on a runtime's stdout means the image ran.
//!
//! Layouts are written as OCI layouts and pushed with the real skopeo;
//! what skopeo cannot push unchanged is put with plain HTTP (named where).
//! Runtimes are driven under `timeout`, so no step can hang a test.

use std::path::{Path, PathBuf};
use std::process::Command;

use http::Method;
use serde_json::json;

use super::containerd::Containerd;
use super::image::{sha256, Blob, Layout, OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST};

pub(crate) const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
pub(crate) const DSSE: &str = "application/vnd.dsse.envelope.v1+json";
pub(crate) const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// Seconds any one runtime command may take.
pub(crate) const COMMAND_TIMEOUT: &str = "120";

/// How the runnable image is disguised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Disguise {
    /// Every layer descriptor relabelled with this signature media type;
    /// the bytes stay a gzip tar (containers/image sniffs them).
    Relabelled(&'static str),
    /// `"layers"` relabelled (same digests), then `"Layers"` with the real
    /// descriptors: Go's encoding/json matches keys case-insensitively and
    /// the later key wins.
    KeyCase,
    /// `"layers"` lists a harmless, well-formed simple-signing blob; the
    /// real layer is only under `"Layers"`. An inertness check alone passes
    /// it; only refusing the key differential stops it.
    KeyCaseInert,
    /// As `KeyCaseInert` with `"layerſ"` (U+017F, which Go's simple case
    /// folding matches to `s`) instead of `"Layers"`.
    Folded,
    /// One layer descriptor naming the inert simple-signing blob under
    /// `mediaType`/`digest`/`size` and the real layer under
    /// `MediaType`/`Digest`/`Size` after them: the differential one level
    /// down.
    DescriptorKeyCase,
    /// An index whose every entry carries a simple-signing `artifactType`
    /// but points at the plain runnable manifest.
    Index,
}

/// A disguised image pushed as `<repo>:v1`.
#[derive(Clone, Debug)]
pub(crate) struct Disguised {
    pub disguise: Disguise,
    pub repo: String,
    /// The tag naming it: `v1`.
    pub tag: String,
    /// What the tag names (a manifest, or the index).
    pub manifest: Blob,
    /// The plain runnable manifest over the same config and layer.
    pub runnable: Blob,
    pub layer: Blob,
    /// The line the entrypoint prints.
    pub marker: String,
}

/// A static x86-64 Linux ELF that writes `message` to stdout and exits 0:
/// one PT_LOAD segment, `write(1, msg, len)`, `exit(0)`.
pub(crate) fn program(message: &str) -> Vec<u8> {
    const BASE: u64 = 0x40_0000;
    const HEADERS: u64 = 64 + 56;
    let msg = message.as_bytes();
    let len = u32::try_from(msg.len()).unwrap();
    let mut code = Vec::new();
    code.extend_from_slice(&[0xb8, 1, 0, 0, 0]); // mov eax, 1 (write)
    code.extend_from_slice(&[0xbf, 1, 0, 0, 0]); // mov edi, 1 (stdout)
    code.extend_from_slice(&[0x48, 0x8d, 0x35]); // lea rsi, [rip + 16]: msg
    code.extend_from_slice(&16i32.to_le_bytes());
    code.push(0xba); // mov edx, len
    code.extend_from_slice(&len.to_le_bytes());
    code.extend_from_slice(&[0x0f, 0x05]); // syscall
    code.extend_from_slice(&[0xb8, 60, 0, 0, 0]); // mov eax, 60 (exit)
    code.extend_from_slice(&[0x31, 0xff]); // xor edi, edi
    code.extend_from_slice(&[0x0f, 0x05]); // syscall
    assert_eq!(code.len(), 33, "the lea offset assumes this length");
    let total = HEADERS + code.len() as u64 + msg.len() as u64;

    let mut elf = Vec::new();
    elf.extend_from_slice(b"\x7fELF");
    elf.extend_from_slice(&[2, 1, 1, 0]); // 64-bit, little endian, v1, SysV
    elf.extend_from_slice(&[0; 8]);
    elf.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    elf.extend_from_slice(&0x3eu16.to_le_bytes()); // x86-64
    elf.extend_from_slice(&1u32.to_le_bytes());
    elf.extend_from_slice(&(BASE + HEADERS).to_le_bytes()); // entry
    elf.extend_from_slice(&64u64.to_le_bytes()); // program headers at 64
    elf.extend_from_slice(&0u64.to_le_bytes()); // no section headers
    elf.extend_from_slice(&0u32.to_le_bytes());
    for half in [64u16, 56, 1, 0, 0, 0] {
        elf.extend_from_slice(&half.to_le_bytes());
    }
    elf.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    elf.extend_from_slice(&5u32.to_le_bytes()); // R + X
    elf.extend_from_slice(&0u64.to_le_bytes()); // from file offset 0
    elf.extend_from_slice(&BASE.to_le_bytes());
    elf.extend_from_slice(&BASE.to_le_bytes());
    elf.extend_from_slice(&total.to_le_bytes());
    elf.extend_from_slice(&total.to_le_bytes());
    elf.extend_from_slice(&0x1000u64.to_le_bytes());
    elf.extend_from_slice(&code);
    elf.extend_from_slice(msg);
    elf
}

/// A tar holding the executable `/run-me`, and the same gzipped.
fn entry_tar(program: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(program.len() as u64);
    header.set_mode(0o755);
    header.set_mtime(0);
    header.set_cksum();
    builder.append_data(&mut header, "run-me", program).unwrap();
    let tar = builder.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &tar).unwrap();
    (tar, gz.finish().unwrap())
}

/// A descriptor as raw JSON text (key order is part of some disguises).
fn descriptor(media_type: &str, blob: &Blob) -> String {
    format!(
        r#"{{"mediaType":"{media_type}","digest":"{}","size":{}}}"#,
        blob.digest, blob.size
    )
}

/// An image manifest over `config` whose body after the config is `rest`.
fn manifest(config: &Blob, rest: &str) -> Vec<u8> {
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{},{rest}}}"#,
        descriptor(OCI_CONFIG, config)
    )
    .into_bytes()
}

/// Build `disguise` in a layout under `dir` and push it to
/// `<registry>/<repo>:v1`; the plain runnable manifest goes to
/// `<registry>/<repo>:plain` (and so is never what `:v1` names).
pub(crate) fn push(registry_url: &str, dir: &Path, repo: &str, disguise: Disguise) -> Disguised {
    let host = registry_url.trim_start_matches("http://");
    let marker = format!("signgate disguise {repo} ran");
    let mut layout = Layout::new(dir);
    let (tar, gz) = entry_tar(&program(&format!("{marker}\n")));
    let layer = layout.blob(OCI_LAYER_GZIP, &gz);
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Entrypoint": ["/run-me"]},
        "rootfs": {"type": "layers", "diff_ids": [sha256(&tar)]},
    });
    let config = layout.blob(OCI_CONFIG, &serde_json::to_vec(&config).unwrap());
    let real = descriptor(OCI_LAYER_GZIP, &layer);
    let runnable = layout.blob(
        OCI_MANIFEST,
        &manifest(&config, &format!(r#""layers":[{real}]"#)),
    );
    layout.tag(&runnable, "plain");
    skopeo_push(dir, "plain", &format!("{host}/{repo}:plain"));

    let relabelled = |media_type: &str| descriptor(media_type, &layer);
    let manifest = match disguise {
        Disguise::Relabelled(media_type) => {
            let m = manifest(
                &config,
                &format!(r#""layers":[{}]"#, relabelled(media_type)),
            );
            let m = layout.blob(OCI_MANIFEST, &m);
            tag_and_push(&mut layout, dir, &m, &format!("{host}/{repo}:v1"));
            m
        }
        Disguise::KeyCase => {
            let m = manifest(
                &config,
                &format!(
                    r#""layers":[{}],"Layers":[{real}]"#,
                    relabelled(SIMPLE_SIGNING)
                ),
            );
            let m = layout.blob(OCI_MANIFEST, &m);
            tag_and_push(&mut layout, dir, &m, &format!("{host}/{repo}:v1"));
            m
        }
        Disguise::KeyCaseInert | Disguise::Folded | Disguise::DescriptorKeyCase => {
            let payload = inert_payload(&layout, registry_url, repo, dir, &runnable);
            let signature = descriptor(SIMPLE_SIGNING, &payload);
            let rest = match disguise {
                Disguise::KeyCaseInert => format!(r#""layers":[{signature}],"Layers":[{real}]"#),
                Disguise::Folded => format!(r#""layers":[{signature}],"layerſ":[{real}]"#),
                _ => format!(
                    r#""layers":[{{"mediaType":"{SIMPLE_SIGNING}","digest":"{}","size":{},"MediaType":"{OCI_LAYER_GZIP}","Digest":"{}","Size":{}}}]"#,
                    payload.digest, payload.size, layer.digest, layer.size
                ),
            };
            let m = layout.blob(OCI_MANIFEST, &manifest(&config, &rest));
            tag_and_push(&mut layout, dir, &m, &format!("{host}/{repo}:v1"));
            m
        }
        Disguise::Index => {
            // skopeo 1.9 rewrites an index with `artifactType` entries
            // (refused under --preserve-digests): PUT with plain HTTP.
            let entry = format!(
                r#"{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":{},"artifactType":"{SIMPLE_SIGNING}","platform":{{"architecture":"amd64","os":"linux"}}}}"#,
                runnable.digest, runnable.size
            );
            let index =
                format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{entry}]}}"#);
            let m = layout.blob(OCI_INDEX, index.as_bytes());
            put_manifest(registry_url, repo, "v1", OCI_INDEX, index.into_bytes());
            m
        }
    };
    Disguised {
        disguise,
        repo: repo.to_owned(),
        tag: "v1".to_owned(),
        manifest,
        runnable,
        layer,
        marker,
    }
}

/// A well-formed cosign simple-signing payload (naming the plain
/// manifest), in the layout and in the registry. skopeo reads manifests as
/// Go does and so never sees it: it is uploaded with plain HTTP.
fn inert_payload(
    layout: &Layout<'_>,
    registry_url: &str,
    repo: &str,
    dir: &Path,
    runnable: &Blob,
) -> Blob {
    let payload = json!({
        "critical": {
            "identity": {"docker-reference": format!("registry.test/{repo}")},
            "image": {"docker-manifest-digest": runnable.digest},
            "type": "cosign container image signature",
        },
        "optional": null,
    });
    let payload = layout.blob(SIMPLE_SIGNING, &serde_json::to_vec(&payload).unwrap());
    upload_blob(registry_url, repo, dir, &payload);
    payload
}

fn tag_and_push(layout: &mut Layout<'_>, dir: &Path, manifest: &Blob, dest: &str) {
    layout.tag(manifest, "v1");
    skopeo_push(dir, "v1", dest);
}

/// `skopeo copy` a layout's tag into a registry unchanged, bounded.
fn skopeo_push(dir: &Path, tag: &str, dest: &str) {
    let src = format!("oci:{}:{tag}", dir.display());
    let dest = format!("docker://{dest}");
    let (ok, out) = bounded(
        "skopeo",
        &[
            "--insecure-policy",
            "--override-os",
            "linux",
            "copy",
            "--preserve-digests",
            "--dest-tls-verify=false",
            &src,
            &dest,
        ],
        &[],
    );
    assert!(ok, "skopeo copy {src} {dest}: {out}");
}

/// A request's future, bounded like every command here.
pub(crate) async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    let limit = std::time::Duration::from_secs(COMMAND_TIMEOUT.parse().unwrap());
    tokio::time::timeout(limit, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {limit:?}"))
}

/// Upload one blob of `dir`'s layout to `<registry>/<repo>` (POST, then
/// PUT with the digest: the distribution API's monolithic upload).
fn upload_blob(registry_url: &str, repo: &str, dir: &Path, blob: &Blob) {
    let bytes = std::fs::read(
        dir.join("blobs/sha256")
            .join(blob.digest.trim_start_matches("sha256:")),
    )
    .unwrap();
    let start = format!("{registry_url}/v2/{repo}/blobs/uploads/");
    let digest = blob.digest.clone();
    let base = registry_url.to_owned();
    let status = super::block_on(async move {
        let r = within(&start, super::http::send(Method::POST, &start, &[])).await;
        assert_eq!(r.status, 202, "{:?}", String::from_utf8_lossy(&r.body));
        let location = r.header("location").unwrap().to_owned();
        let location = if location.starts_with('/') {
            format!("{base}{location}")
        } else {
            location
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{sep}digest={digest}");
        within(
            &url,
            super::http::put(&url, "application/octet-stream", bytes),
        )
        .await
    });
    assert_eq!(status, 201, "uploading {}", blob.digest);
}

fn put_manifest(registry_url: &str, repo: &str, tag: &str, media_type: &str, body: Vec<u8>) {
    let url = format!("{registry_url}/v2/{repo}/manifests/{tag}");
    let media_type = media_type.to_owned();
    let status =
        super::block_on(
            async move { within(&url, super::http::put(&url, &media_type, body)).await },
        );
    assert_eq!(status, 201, "PUT {repo}:{tag}");
}

/// Run `program args…` under `timeout` (killed after `COMMAND_TIMEOUT`
/// seconds): (success, stdout + stderr).
pub(crate) fn bounded(program: &str, args: &[&str], env: &[(&str, &Path)]) -> (bool, String) {
    let (code, text) = bounded_code(program, args, env);
    (code == Some(0), text)
}

/// As `bounded`, with the exit code; a time-out fails the test.
pub(crate) fn bounded_code(
    program: &str,
    args: &[&str],
    env: &[(&str, &Path)],
) -> (Option<i32>, String) {
    let out = Command::new("timeout")
        .args(["-k", "5", COMMAND_TIMEOUT, program])
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_os_str())))
        .output()
        .expect("timeout runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ne!(
        out.status.code(),
        Some(124),
        "{program} {args:?} timed out after {COMMAND_TIMEOUT}s:\n{text}"
    );
    (out.status.code(), text)
}

/// `ctr` against `containerd`, bounded.
pub(crate) fn ctr(containerd: &Containerd, args: &[&str]) -> (bool, String) {
    let socket = containerd.socket.to_str().unwrap();
    let all = [
        &["--address", socket, "--namespace", "signgate-disguise"],
        args,
    ]
    .concat();
    bounded("/usr/bin/ctr", &all, &[])
}

/// `ctr images pull` through a hosts directory, native snapshotter.
pub(crate) fn ctr_pull(containerd: &Containerd, hosts: &Path, image: &str) -> (bool, String) {
    ctr(
        containerd,
        &[
            "images",
            "pull",
            "--hosts-dir",
            hosts.to_str().unwrap(),
            "--snapshotter",
            "native",
            image,
        ],
    )
}

/// `ctr run --rm` of a pulled image: runc under containerd's runc v2 shim,
/// native snapshotter, a network namespace of its own with no interface.
/// runc keeps its state under /run/containerd/runc/<namespace>/<id> for
/// every containerd on the machine, so each container gets an id no other
/// test (or test process) uses.
pub(crate) fn ctr_run(containerd: &Containerd, image: &str) -> (bool, String) {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let id = format!("signgate-disguise-{}-{n}", std::process::id());
    ctr(
        containerd,
        &["run", "--rm", "--snapshotter", "native", image, &id],
    )
}

/// A hosts.toml making `server` the registry itself (no fallback).
pub(crate) fn hosts_toml(server: &str) -> String {
    format!("server = \"http://{server}\"\n\n[host.\"http://{server}\"]\n  capabilities = [\"pull\", \"resolve\"]\n")
}

/// Which podman.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PodmanVersion {
    /// Debian bookworm's podman 4.3 (runc), on this machine.
    Bookworm,
    /// Debian trixie's podman 5.4 (crun), in the root made by
    /// `tests/tools/trixie-podman`, run under chroot in private mount and
    /// pid namespaces.
    Trixie,
}

/// A podman with its own storage (vfs), run root, registries.conf and an
/// accept-anything signature policy (signatures are signgate's business).
pub(crate) struct Podman {
    pub version: PodmanVersion,
    pub dir: tempfile::TempDir,
}

/// The trixie root with podman 5.4 (made once, ~80 s, by the script).
fn trixie_root() -> &'static Path {
    static ROOT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ROOT.get_or_init(|| {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/trixie-podman");
        let out = Command::new(script).output().expect("trixie-podman runs");
        assert!(
            out.status.success(),
            "making the trixie root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    })
}

/// podman 5.4 in the trixie root with `$conf` as its /etc/containers and
/// its storage under `$conf/storage`. This machine mounts cgroups in hybrid
/// mode (v1 controllers plus /sys/fs/cgroup/unified), which crun refuses
/// ("cgroups in hybrid mode not supported") even with `--cgroups=disabled`:
/// inside the private mount namespace /sys/fs/cgroup is replaced by the
/// unified (v2) hierarchy alone. /run is a tmpfs of its own, so podmans
/// running at once share no lock or runtime state.
const TRIXIE_PODMAN: &str = r#"set -e
root="$1"; conf="$2"; shift 2
mount --make-rprivate /
mount --bind "$root" "$root"
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
umount -l "$root/sys/fs/cgroup"
mount -t cgroup2 none "$root/sys/fs/cgroup"
mount --rbind /dev "$root/dev"
mount -t tmpfs tmpfs "$root/run"
mkdir -p "$root/var/lib/signgate-test" "$conf/storage"
mount --bind "$conf" "$root/etc/containers"
mount --bind "$conf/storage" "$root/var/lib/signgate-test"
exec chroot "$root" podman --storage-driver vfs --root /var/lib/signgate-test --runroot /run/signgate-test "$@"
"#;

impl Podman {
    /// `registries`: (prefix, location) pairs, each a primary location.
    pub(crate) fn new(version: PodmanVersion, registries: &[(&str, String)]) -> Podman {
        let dir = tempfile::tempdir().unwrap();
        let conf: String = registries
            .iter()
            .map(|(prefix, location)| {
                format!("[[registry]]\nprefix = \"{prefix}\"\nlocation = \"{location}\"\ninsecure = true\n\n")
            })
            .collect();
        std::fs::write(dir.path().join("registries.conf"), conf).unwrap();
        std::fs::write(
            dir.path().join("policy.json"),
            r#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
        )
        .unwrap();
        Podman { version, dir }
    }

    /// `podman ARGS…`, bounded, with this instance's storage and config.
    pub(crate) fn podman(&self, args: &[&str]) -> (bool, String) {
        let d = self.dir.path();
        let common = ["--cgroup-manager", "cgroupfs", "--events-backend", "file"];
        match self.version {
            PodmanVersion::Bookworm => {
                let (root, runroot) = (d.join("storage"), d.join("run"));
                let mut all = vec![
                    "--root",
                    root.to_str().unwrap(),
                    "--runroot",
                    runroot.to_str().unwrap(),
                    "--storage-driver",
                    "vfs",
                ];
                all.extend(common);
                all.extend_from_slice(args);
                let conf = d.join("registries.conf");
                bounded(
                    "/usr/bin/podman",
                    &all,
                    &[("CONTAINERS_REGISTRIES_CONF", conf.as_path())],
                )
            }
            PodmanVersion::Trixie => {
                let root = trixie_root().to_str().unwrap();
                let mut all = vec!["-m", "-p", "-f", "sh", "-c", TRIXIE_PODMAN, "sh", root];
                all.push(d.to_str().unwrap());
                all.extend(common);
                all.extend_from_slice(args);
                bounded("unshare", &all, &[])
            }
        }
    }

    fn policy(&self) -> String {
        match self.version {
            PodmanVersion::Bookworm => self.dir.path().join("policy.json").display().to_string(),
            PodmanVersion::Trixie => "/etc/containers/policy.json".to_owned(),
        }
    }

    /// `podman pull IMAGE`.
    pub(crate) fn pull(&self, image: &str) -> (bool, String) {
        let policy = self.policy();
        self.podman(&["pull", "--signature-policy", &policy, image])
    }

    /// `podman run --rm IMAGE`, pulling it first if it is missing, with
    /// flags that work in this sandbox: no network; for 4.3 rlimits no
    /// higher than the sandbox's own (it lacks CAP_SYS_RESOURCE, so the
    /// defaults, nofile 1048576 and nproc 4194304, fail in runc with "error
    /// setting rlimit … operation not permitted"); for 5.4 no cgroups.
    pub(crate) fn run_image(&self, image: &str) -> (bool, String) {
        let policy = self.policy();
        let mut args = vec!["run", "--rm", "--network=none"];
        match self.version {
            PodmanVersion::Bookworm => args.extend([
                "--ulimit",
                "nofile=1024:1024",
                "--ulimit",
                "nproc=1024:1024",
            ]),
            PodmanVersion::Trixie => args.push("--cgroups=disabled"),
        }
        args.extend(["--signature-policy", &policy, image]);
        self.podman(&args)
    }
}
