//! Every glob rule, as tables. The matching cases are policy-controller's
//! own (`pkg/apis/glob/glob_test.go`), with its image names written fully
//! qualified, as signgate builds them; its deprecated fallback (matching an
//! unqualified name as written) has no counterpart, since signgate's names
//! are always qualified.

use regex::Regex;

use super::*;

fn matches(glob: &str, image: &str) -> bool {
    let g = Glob::parse(glob).unwrap_or_else(|e| panic!("{glob}: {e}"));
    Regex::new(&g.regex).unwrap().is_match(image)
}

#[test]
fn globs_match_as_policy_controller_matches_them() {
    let table: &[(&str, &str, bool)] = &[
        // `*` and `*/*` are Docker Hub's, rewritten.
        ("*", "index.docker.io/library/foo", true),
        ("*", "index.docker.io/myuser/foo", false),
        ("*", "ghcr.io/foo", false),
        ("*/*", "index.docker.io/myuser/myapp", true),
        ("*/*", "index.docker.io/library/foo", true),
        ("*/*", "ghcr.io/foo/bar", false),
        (
            "index.docker.io/library/*",
            "index.docker.io/library/foo",
            true,
        ),
        ("index.docker.io/*/*", "index.docker.io/library/foo", true),
        ("index.docker.io/**", "index.docker.io/library/foo", true),
        // `**` anywhere, across `/`.
        ("index.docker.**", "index.docker.io/library/foo", true),
        ("inde**", "index.docker.io/library/foo", true),
        ("**", "index.docker.io/library/foo", true),
        ("**", "ghcr.io/foo", true),
        (
            "index.docker.io/myuser/*",
            "index.docker.io/myuser/myapp",
            true,
        ),
        ("ghcr.io/*/*", "ghcr.io/foo/bar", true),
        ("ghcr.io/**", "ghcr.io/foo/bar", true),
        ("ghcr.io/*/*", "ghcr.io/foo", false),
        ("ghcr.io/**", "ghcr.io/foo", true),
        ("ghc**", "ghcr.io/foo", true),
        ("*/**", "ghcr.io/foo", true),
        ("ghcr.io/foo*", "ghcr.io/foo", true),
        ("ghcr.io/foo**", "ghcr.io/foo", true),
        ("ghcr.io/foo*", "ghcr.io/foobar", true),
        ("ghcr.io/foo*", "ghcr.io/foo/bar", false),
        ("ghcr.io/foo**", "ghcr.io/foo/bar", true),
        ("ghcr.io/org/team-**", "ghcr.io/org/team-a/app", true),
        ("ghcr.io/org/**/app", "ghcr.io/org/a/b/app", true),
        ("ghcr.io/org/**/app", "ghcr.io/org/a/b/other", false),
        // Anchored at both ends; `.` is a dot.
        ("ghcr.io/foo", "prefix-ghcr.io/foo", false),
        ("ghcr.io/foo", "ghcr.io/foo-suffix", false),
        ("ghcr.io/**", "ghcrxio/foo", false),
        // Registry hosts are case-insensitive.
        ("GHCR.IO/org/*", "ghcr.io/org/app", true),
        ("Ghcr.Io/**", "ghcr.io/org/app", true),
        (
            "Registry.Internal:5000/team/*",
            "registry.internal:5000/team/app",
            true,
        ),
        // Docker Hub's aliases, in any case, mean index.docker.io.
        ("docker.io/library/*", "index.docker.io/library/nginx", true),
        ("Docker.IO/bitnami/*", "index.docker.io/bitnami/redis", true),
        (
            "registry-1.docker.io/**",
            "index.docker.io/library/nginx",
            true,
        ),
        (
            "INDEX.docker.io/library/nginx",
            "index.docker.io/library/nginx",
            true,
        ),
    ];
    for (glob, image, want) in table {
        assert_eq!(matches(glob, image), *want, "{glob} vs {image}");
    }
}

#[test]
fn globs_policy_controller_refuses_or_that_can_never_match_are_load_errors() {
    let table: &[(&str, &str)] = &[
        // Outside policy-controller's alphabet (it refuses them too).
        (".+", "not a glob policy-controller accepts"),
        ("[a-z]*", "not a glob policy-controller accepts"),
        ("ghcr.io/org/ap?", "not a glob policy-controller accepts"),
        ("ghcr.io/{a,b}/*", "not a glob policy-controller accepts"),
        ("", "not a glob policy-controller accepts"),
        ("ghcr.io/org/app ", "not a glob policy-controller accepts"),
        ("ghcr.io/org/äpp", "not a glob policy-controller accepts"),
        // Tags and digests are not part of a repository name.
        ("ghcr.io/org/app:v1", "tags and digests are not part of them"),
        ("ghcr.io/org/app:**", "tags and digests are not part of them"),
        (
            "ghcr.io/org/app@sha256:5504f2a95018e3d8a52d80d9e1a128c6ea337581808ff9fe96f5628ce2336350",
            "tags and digests are not part of them",
        ),
        // Every name is registry/repository.
        ("alpine", "has no repository part"),
        ("ghcr.io", "has no repository part"),
        ("ghcr.*", "has no repository part"),
        // Repository components are lower-case.
        ("ghcr.io/Org/*", "repository names are lower-case"),
        ("docker.io/library/Nginx", "repository names are lower-case"),
    ];
    for (glob, want) in table {
        match Glob::parse(glob) {
            Ok(g) => panic!("{glob:?} loaded as {}", g.regex),
            Err(e) => assert!(e.contains(want), "{glob:?}: {e}"),
        }
    }
}

fn configured(hosts: &[&str]) -> Registries {
    Registries::Configured(hosts.iter().map(|h| (*h).to_owned()).collect())
}

#[test]
fn a_glob_whose_host_is_no_configured_upstream_is_refused() {
    let registries = configured(&["index.docker.io", "ghcr.io", "registry.internal:5000"]);
    let table: &[(&str, Option<&str>)] = &[
        ("ghcr.io/org/**", None),
        ("GHCR.io/org/**", None),
        ("registry.internal:5000/team/*", None),
        ("docker.io/library/*", None),
        ("*", None),
        ("*/*", None),
        // Wildcards in the host must fit a configured upstream…
        ("*.io/org/*", None),
        ("registry.internal:*/**", None),
        ("*/org/app", None),
        ("*.example.com/**", Some("matches no configured upstream")),
        ("quay.*/org/*", Some("matches no configured upstream")),
        // …unless `**` spans the host (then it cannot be bounded).
        ("**", None),
        ("quay**", None),
        // A literal host must be one.
        (
            "quay.io/org/*",
            Some("'quay.io' is not a configured upstream"),
        ),
        (
            "registry.internal/team/*",
            Some("'registry.internal' is not a configured upstream"),
        ),
        (
            "myuser/myapp",
            Some("'myuser' is not a configured upstream"),
        ),
        ("library/*", Some("'library' is not a configured upstream")),
    ];
    for (glob, want) in table {
        let g = Glob::parse(glob).unwrap_or_else(|e| panic!("{glob}: {e}"));
        match (g.check(&registries), want) {
            (Ok(_), None) => {}
            (Err(e), Some(want)) => {
                assert!(e.contains(want), "{glob}: {e}");
                assert!(
                    e.contains("configured: ghcr.io, index.docker.io, registry.internal:5000"),
                    "{e}"
                );
            }
            (got, want) => panic!("{glob}: got {got:?}, want {want:?}"),
        }
    }
    // Without Docker Hub configured, policy-controller's `*` matches nothing.
    let e = Glob::parse("*")
        .unwrap()
        .check(&configured(&["ghcr.io"]))
        .unwrap_err();
    assert!(
        e.contains("'index.docker.io' is not a configured upstream"),
        "{e}"
    );
    // Unchecked (no config known): only the structural rules apply.
    assert!(Glob::parse("quay.io/org/*")
        .unwrap()
        .check(&Registries::Unchecked)
        .is_ok());
}

#[test]
fn docker_hub_globs_of_one_component_load_with_a_warning_saying_what_they_match() {
    let registries = configured(&["index.docker.io"]);
    for (glob, rest) in [
        ("docker.io/nginx", "nginx"),
        ("index.docker.io/nginx", "nginx"),
        ("registry-1.docker.io/redis", "redis"),
        ("docker.io/*", "*"),
        ("docker.io/ngin*", "ngin*"),
    ] {
        for r in [&registries, &Registries::Unchecked] {
            let w = Glob::parse(glob)
                .unwrap()
                .check(r)
                .unwrap()
                .unwrap_or_else(|| panic!("{glob}: no warning"));
            assert!(
                w.contains(&format!("matches only the name index.docker.io/{rest},"))
                    && w.contains("matches nothing")
                    && w.contains(&format!("mean 'index.docker.io/library/{rest}'")),
                "{glob}: {w}"
            );
        }
    }
    for glob in [
        "docker.io/library/nginx",
        "docker.io/bitnami/*",
        "docker.io/**",
        "docker.io/ngin**",
        "*",
        "ghcr.io/nginx",
    ] {
        let r = configured(&["index.docker.io", "ghcr.io"]);
        assert_eq!(Glob::parse(glob).unwrap().check(&r), Ok(None), "{glob}");
    }
}
