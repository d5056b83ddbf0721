//! Predicate-type names: cosign's `--type` short names, as an attestation's
//! `predicateType` may be written.
//!
//! The table is cosign 2.x's `PredicateTypeMap`
//! (`cmd/cosign/cli/options/predicate.go`), whose URIs are the constants of
//! in-toto-golang (`in_toto.PredicateSPDX`, `PredicateCycloneDX`,
//! `PredicateLinkV1`, `slsa_provenance/v0.2` and `/v1`
//! `PredicateSLSAProvenance`) and of cosign's `pkg/cosign/attestation`
//! (`CosignCustomProvenanceV01`, `CosignVulnProvenanceV01`,
//! `OpenVexNamespace`). `cyclonedxxml` was in cosign 2.0's table and later
//! dropped; it is kept, with the URI cosign gave it, so older policies load.
//! Like cosign (`url.ParseRequestURI`), a full URI is taken as it is; signgate
//! requires it to contain `://`.

/// Short name → predicate type URI, in cosign's order.
const PREDICATE_TYPES: [(&str, &str); 11] = [
    ("custom", "https://cosign.sigstore.dev/attestation/v1"),
    ("slsaprovenance", "https://slsa.dev/provenance/v0.2"),
    ("slsaprovenance02", "https://slsa.dev/provenance/v0.2"),
    ("slsaprovenance1", "https://slsa.dev/provenance/v1"),
    ("spdx", "https://spdx.dev/Document"),
    ("spdxjson", "https://spdx.dev/Document"),
    ("cyclonedx", "https://cyclonedx.org/bom"),
    ("cyclonedxxml", "https://cyclonedx.org/bom"),
    ("link", "https://in-toto.io/Link/v1"),
    ("vuln", "https://cosign.sigstore.dev/attestation/vuln/v1"),
    ("openvex", "https://openvex.dev/ns"),
];

/// The predicate type URI for `name`: a cosign short name, or a URI (any
/// string containing `://`) passed through unchanged.
pub fn resolve(name: &str) -> Result<String, String> {
    if let Some((_, uri)) = PREDICATE_TYPES.iter().find(|(short, _)| *short == name) {
        return Ok((*uri).to_owned());
    }
    if name.contains("://") {
        return Ok(name.to_owned());
    }
    let names: Vec<&str> = PREDICATE_TYPES.iter().map(|(short, _)| *short).collect();
    Err(format!(
        "unknown predicate type '{name}': expected one of {} or a URI",
        names.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_resolve_as_cosign_does() {
        let cases = [
            ("slsaprovenance", "https://slsa.dev/provenance/v0.2"),
            ("slsaprovenance02", "https://slsa.dev/provenance/v0.2"),
            ("slsaprovenance1", "https://slsa.dev/provenance/v1"),
            ("link", "https://in-toto.io/Link/v1"),
            ("spdx", "https://spdx.dev/Document"),
            ("spdxjson", "https://spdx.dev/Document"),
            ("cyclonedx", "https://cyclonedx.org/bom"),
            ("vuln", "https://cosign.sigstore.dev/attestation/vuln/v1"),
            ("openvex", "https://openvex.dev/ns"),
            ("custom", "https://cosign.sigstore.dev/attestation/v1"),
        ];
        for (name, uri) in cases {
            assert_eq!(resolve(name).as_deref(), Ok(uri), "{name}");
        }
    }

    #[test]
    fn uris_pass_through() {
        let uri = "https://example.com/attestation/v3";
        assert_eq!(resolve(uri).as_deref(), Ok(uri));
    }

    #[test]
    fn unknown_names_list_the_accepted_ones() {
        let err = resolve("sbom").unwrap_err();
        assert!(err.contains("'sbom'"), "{err}");
        assert!(err.contains("slsaprovenance1"), "{err}");
        assert!(err.contains("openvex"), "{err}");
        // Names are case-sensitive, as in cosign.
        assert!(resolve("SPDX").is_err());
        assert!(resolve("").is_err());
    }
}
