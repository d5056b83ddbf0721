//! The distribution API surface through signgate against the real registry:
//! version check, HEAD, ranges, tag pagination, referrers, routing, refusals.

use http::Method;

use crate::support::http::{get, send};
use crate::support::image::{self, Layout};
use crate::support::signgate::{Signgate, Up};
use crate::support::world::world;

fn signgate() -> Signgate {
    Signgate::start(
        &[Up::new("registry.test", &world().registry.url()).default()],
        "",
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn api_base_answers_with_the_version_header() {
    let sg = signgate();
    let r = get(&sg.url("/v2/")).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("docker-distribution-api-version"),
        Some("registry/2.0")
    );
    assert_eq!(&r.body[..], b"{}");
}

#[tokio::test(flavor = "multi_thread")]
async fn manifest_get_and_head_by_tag_and_digest_carry_digest_type_and_length() {
    let w = world();
    let sg = signgate();
    let direct = send(
        Method::GET,
        &format!(
            "{}/v2/test/single/manifests/{}",
            w.registry.url(),
            w.single.digest
        ),
        &[("accept", image::OCI_MANIFEST)],
    )
    .await;
    for reference in ["v1", w.single.digest.as_str()] {
        let r = get(&sg.url(&format!("/v2/test/single/manifests/{reference}"))).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body, direct.body, "exact bytes");
        assert_eq!(
            r.header("docker-content-digest"),
            Some(w.single.digest.as_str())
        );
        assert_eq!(r.header("content-type"), Some(image::OCI_MANIFEST));
        assert_eq!(
            r.header("content-length"),
            Some(w.single.size.to_string().as_str())
        );
        assert_eq!(image::sha256(&r.body), w.single.digest);

        let h = send(
            Method::HEAD,
            &sg.url(&format!("/v2/test/single/manifests/{reference}")),
            &[],
        )
        .await;
        assert_eq!(h.status, 200);
        assert!(h.body.is_empty());
        assert_eq!(
            h.header("docker-content-digest"),
            Some(w.single.digest.as_str())
        );
        assert_eq!(
            h.header("content-length"),
            Some(w.single.size.to_string().as_str())
        );
        assert_eq!(h.header("content-type"), Some(image::OCI_MANIFEST));
    }
    // The index, with the client's Accept passed upstream.
    let r = send(
        Method::GET,
        &sg.url("/v2/test/multi/manifests/v1"),
        &[("accept", image::OCI_INDEX)],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("docker-content-digest"),
        Some(w.multi.digest.as_str())
    );
    assert_eq!(r.header("content-type"), Some(image::OCI_INDEX));
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_manifests_and_blobs_are_oci_not_found_errors() {
    let sg = signgate();
    let r = get(&sg.url("/v2/test/single/manifests/no-such-tag")).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.oci_error().0, "MANIFEST_UNKNOWN");
    let missing = image::sha256(b"never pushed");
    let r = get(&sg.url(&format!("/v2/test/single/blobs/{missing}"))).await;
    assert_eq!(
        r.status, 403,
        "strict blobs: not referenced by an admitted manifest"
    );
    assert_eq!(r.oci_error().0, "DENIED");
    let open = Signgate::start(
        &[Up::new("registry.test", &world().registry.url()).default()],
        "blobs: passthrough\n",
    );
    let r = get(&open.url(&format!("/v2/test/single/blobs/{missing}"))).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.oci_error().0, "BLOB_UNKNOWN");
    let h = send(
        Method::HEAD,
        &sg.url("/v2/test/single/manifests/no-such-tag"),
        &[],
    )
    .await;
    assert_eq!(h.status, 404);
    assert!(h.body.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn blob_head_and_ranges_are_passed_through() {
    let w = world();
    let sg = signgate();
    let layer_url = |base: String| format!("{base}/v2/test/big/blobs/{}", w.big_layer.digest);
    // Before its manifest was admitted, the blob is refused (strict blobs).
    let refused = send(Method::HEAD, &layer_url(sg.url("")), &[]).await;
    assert_eq!(refused.status, 403);
    let m = send(
        Method::GET,
        &sg.url(&format!("/v2/test/big/manifests/{}", w.big_manifest.digest)),
        &[("accept", image::OCI_MANIFEST)],
    )
    .await;
    assert_eq!(m.status, 200);
    let h = send(Method::HEAD, &layer_url(sg.url("")), &[]).await;
    assert_eq!(h.status, 200);
    assert_eq!(
        h.header("content-length"),
        Some(w.big_layer.size.to_string().as_str())
    );
    assert_eq!(
        h.header("docker-content-digest"),
        Some(w.big_layer.digest.as_str())
    );
    assert!(h.body.is_empty());

    let direct = send(
        Method::GET,
        &layer_url(w.registry.url()),
        &[("range", "bytes=1000-1999")],
    )
    .await;
    let r = send(
        Method::GET,
        &layer_url(sg.url("")),
        &[("range", "bytes=1000-1999")],
    )
    .await;
    assert_eq!(r.status, 206);
    assert_eq!(r.body.len(), 1000);
    assert_eq!(r.body, direct.body);
    assert_eq!(r.header("content-range"), direct.header("content-range"));
}

#[tokio::test(flavor = "multi_thread")]
async fn tags_list_paginates_with_links_that_point_back_at_signgate() {
    let w = world();
    let sg = signgate();
    let mut seen = Vec::new();
    let mut path = "/v2/registry.test/test/tags/tags/list?n=2".to_owned();
    for _ in 0..10 {
        let r = get(&sg.url(&path)).await;
        assert_eq!(r.status, 200, "{path}");
        let page: Vec<String> = serde_json::from_value(r.json()["tags"].clone()).unwrap();
        assert!(page.len() <= 2);
        seen.extend(page);
        match r.header("link") {
            None => break,
            Some(link) => {
                assert!(
                    link.starts_with("</v2/registry.test/test/tags/tags/list?"),
                    "{link}"
                );
                assert!(link.ends_with(">; rel=\"next\""), "{link}");
                path = link
                    .trim_start_matches('<')
                    .split('>')
                    .next()
                    .unwrap()
                    .to_owned();
            }
        }
    }
    assert_eq!(seen, w.tags);

    // With ?ns=, the link keeps it.
    let r = get(&sg.url("/v2/test/tags/tags/list?n=1&ns=registry.test")).await;
    assert_eq!(r.status, 200);
    let link = r.header("link").unwrap();
    assert!(link.contains("&ns=registry.test>"), "{link}");
    assert!(
        link.starts_with("</v2/test/tags/tags/list?n=1&last=a1"),
        "{link}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn referrers_fall_back_to_the_tag_schema_on_a_registry_without_the_api() {
    let w = world();
    let sg = signgate();
    // No referrers yet: an empty index, not an error.
    let subject = &w.single.digest;
    let r = get(&sg.url(&format!("/v2/test/single/referrers/{subject}"))).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some(image::OCI_INDEX));
    assert_eq!(r.json()["manifests"], serde_json::json!([]));

    // Seed a referrers-tag-schema index listing two artifacts of different
    // types: the artifacts with skopeo, the index with a plain PUT (skopeo
    // 1.9 cannot copy an index whose entries carry artifactType).
    let dir = tempfile::tempdir().unwrap();
    let mut layout = Layout::new(dir.path());
    let sbom = layout.image("amd64", &[("sbom.json", b"{}")]);
    let sig = layout.image("amd64", &[("sig", b"x")]);
    layout.tag(&sbom, "sbom");
    layout.tag(&sig, "sig");
    for t in ["sbom", "sig"] {
        image::push(
            dir.path(),
            t,
            &format!("{}/test/referred:{t}", w.registry.host()),
            None,
        );
    }
    let mut index_entries = Vec::new();
    for (blob, artifact_type) in [
        (&sbom, "application/spdx+json"),
        (&sig, "application/vnd.dev.cosign.simplesigning.v1+json"),
    ] {
        let mut d = blob.descriptor();
        d["artifactType"] = serde_json::json!(artifact_type);
        index_entries.push(d);
    }
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": image::OCI_INDEX, "manifests": index_entries});
    let fallback_tag = subject.replace(':', "-");
    let status = crate::support::http::put(
        &format!(
            "{}/v2/test/referred/manifests/{fallback_tag}",
            w.registry.url()
        ),
        image::OCI_INDEX,
        serde_json::to_vec(&index).unwrap(),
    )
    .await;
    assert_eq!(status, 201);

    let r = get(&sg.url(&format!("/v2/test/referred/referrers/{subject}"))).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["manifests"].as_array().unwrap().len(), 2);
    assert!(r.header("oci-filters-applied").is_none());
    let r = get(&sg.url(&format!(
        "/v2/test/referred/referrers/{subject}?artifactType=application%2Fspdx%2Bjson"
    )))
    .await;
    assert_eq!(r.status, 200);
    let manifests = r.json()["manifests"].as_array().unwrap().clone();
    assert_eq!(manifests.len(), 1);
    assert_eq!(manifests[0]["digest"], sbom.digest.as_str());
    assert_eq!(r.header("oci-filters-applied"), Some("artifactType"));
}

#[tokio::test(flavor = "multi_thread")]
async fn routing_by_ns_prefix_and_default_reaches_the_same_image() {
    let w = world();
    let sg = signgate();
    for path in [
        "/v2/test/single/manifests/v1?ns=registry.test",
        "/v2/registry.test/test/single/manifests/v1",
        "/v2/test/single/manifests/v1",
    ] {
        let r = get(&sg.url(path)).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(
            r.header("docker-content-digest"),
            Some(w.single.digest.as_str()),
            "{path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unconfigured_registries_are_refused_and_never_contacted() {
    let w = world();
    let sg = signgate();
    for path in [
        "/v2/test/unconfigured-probe/manifests/v1?ns=ghcr.io".to_owned(),
        format!(
            "/v2/127.0.0.1:{}/test/unconfigured-probe/manifests/v1",
            w.registry.port
        ),
        "/v2/localhost/test/unconfigured-probe/manifests/v1".to_owned(),
    ] {
        let r = get(&sg.url(&path)).await;
        assert_eq!(r.status, 403, "{path}");
        let (code, message) = r.oci_error();
        assert_eq!(code, "DENIED");
        assert!(
            message.contains("is not a configured upstream"),
            "{message}"
        );
    }
    // The registry saw none of it (its real address is not a configured
    // name either: only configured names route).
    assert!(!w.registry.log_text().contains("unconfigured-probe"));
    // Control: the same kind of request through a configured name does show up.
    let r = get(&sg.url("/v2/registry.test/test/unconfigured-control/manifests/v1")).await;
    assert_eq!(r.status, 404);
    crate::support::wait_for(5, "the access log line", || {
        w.registry.log_text().contains("unconfigured-control")
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn write_methods_and_invalid_names_get_oci_errors() {
    let sg = signgate();
    for method in [Method::PUT, Method::POST, Method::PATCH, Method::DELETE] {
        let r = send(method.clone(), &sg.url("/v2/test/single/manifests/v1"), &[]).await;
        assert_eq!(r.status, 405, "{method}");
        assert_eq!(r.oci_error().0, "UNSUPPORTED");
        assert_eq!(r.header("allow"), Some("GET, HEAD"));
    }
    let r = send(Method::POST, &sg.url("/v2/test/single/blobs/uploads/"), &[]).await;
    assert_eq!(r.status, 405);
    let cases = [
        ("/v2/Test/single/manifests/v1", 400, "NAME_INVALID"),
        ("/v2/test//single/manifests/v1", 400, "NAME_INVALID"),
        ("/v2/test/single/manifests/-bad", 400, "MANIFEST_INVALID"),
        (
            "/v2/test/single/manifests/sha256:1234",
            400,
            "DIGEST_INVALID",
        ),
        ("/v2/test/single/blobs/v1", 400, "DIGEST_INVALID"),
        ("/v2/test/single/nothing/v1", 404, "NAME_UNKNOWN"),
        ("/v1/_ping", 404, "NAME_UNKNOWN"),
    ];
    for (path, status, code) in cases {
        let r = get(&sg.url(path)).await;
        assert_eq!(r.status, status, "{path}");
        assert_eq!(r.oci_error().0, code, "{path}");
    }
}
