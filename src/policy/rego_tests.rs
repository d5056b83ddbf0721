//! The example policies of `examples/policies/`, evaluated on the attestation
//! fixtures of `tests/fixtures/attestations/`, and the edges of the contract.

use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value as Json};
use serde_yaml_ng::Value as Yaml;

use super::{RegoPolicy, Syntax, Verdict};
use crate::policy::predicate;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(relative: &str) -> String {
    let path = format!("{ROOT}/{relative}");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn fixture(name: &str) -> Json {
    let text = read(&format!("tests/fixtures/attestations/{name}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// One attestation of an example policy: its resolved predicate type and
/// its compiled Rego, read from the YAML the way a user would write it.
struct Example {
    predicate_type: String,
    policy: RegoPolicy,
}

fn example(file: &str, attestation: &str) -> Example {
    let text = read(&format!("examples/policies/{file}"));
    let doc: Yaml = serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
    assert_eq!(
        doc["apiVersion"].as_str(),
        Some("policy.sigstore.dev/v1beta1")
    );
    assert_eq!(doc["kind"].as_str(), Some("ClusterImagePolicy"));
    let authorities = doc["spec"]["authorities"]
        .as_sequence()
        .unwrap_or_else(|| panic!("{file}: no spec.authorities"));
    for authority in authorities {
        let Some(attestations) = authority["attestations"].as_sequence() else {
            continue;
        };
        for a in attestations {
            if a["name"].as_str() != Some(attestation) {
                continue;
            }
            assert_eq!(a["policy"]["type"].as_str(), Some("rego"), "{file}");
            let source = a["policy"]["data"].as_str().expect("policy.data");
            let predicate_type = a["predicateType"].as_str().expect("predicateType");
            return Example {
                predicate_type: predicate::resolve(predicate_type).expect("predicate type"),
                policy: RegoPolicy::compile(attestation, source)
                    .unwrap_or_else(|e| panic!("{file}: {e}")),
            };
        }
    }
    panic!("{file}: no attestation named {attestation}");
}

impl Example {
    /// Evaluate on a statement, which must be of the attestation's type.
    fn check(&self, statement: &Json) -> Verdict {
        assert_eq!(
            statement["predicateType"].as_str(),
            Some(self.predicate_type.as_str()),
            "fixture of the wrong predicate type"
        );
        self.policy.evaluate(statement).expect("evaluation")
    }
}

fn assert_compliant(verdict: &Verdict) {
    assert!(verdict.compliant, "expected compliant: {verdict:?}");
}

fn assert_denied(verdict: &Verdict, needle: &str) {
    assert!(!verdict.compliant, "expected not compliant: {verdict:?}");
    assert!(
        verdict.messages.iter().any(|m| m.contains(needle)),
        "no message containing {needle:?}: {:?}",
        verdict.messages
    );
}

fn compile(source: &str) -> Result<RegoPolicy, String> {
    RegoPolicy::compile("test", source)
}

fn rfc3339_days_ago(days: u64) -> String {
    let then = SystemTime::now() - Duration::from_secs(days * 24 * 3600);
    humantime::format_rfc3339_nanos(then).to_string()
}

// === vuln-scan-recent.yaml ===

fn vuln_with_scan_age(name: &str, days: u64) -> Json {
    let mut statement = fixture(name);
    statement["predicate"]["metadata"]["scanFinishedOn"] = json!(rfc3339_days_ago(days));
    statement
}

#[test]
fn vuln_recent_clean_scan_is_compliant() {
    let example = example("vuln-scan-recent.yaml", "recent-clean-scan");
    assert_eq!(example.policy.syntax(), Syntax::V0);
    let verdict = example.check(&vuln_with_scan_age(
        "vuln-trivy-clean.statement-v0.1.json",
        1,
    ));
    assert_compliant(&verdict);
    assert!(verdict.messages.is_empty(), "{verdict:?}");
}

#[test]
fn vuln_old_scan_is_refused() {
    let example = example("vuln-scan-recent.yaml", "recent-clean-scan");
    let verdict = example.check(&vuln_with_scan_age(
        "vuln-trivy-clean.statement-v0.1.json",
        10,
    ));
    assert_denied(&verdict, "more than 7 days ago");
    // The fixture as written (a 2024 scan) is old as well.
    let verdict = example.check(&fixture("vuln-trivy-clean.statement-v0.1.json"));
    assert_denied(&verdict, "more than 7 days ago");
}

#[test]
fn vuln_critical_finding_is_refused() {
    let example = example("vuln-scan-recent.yaml", "recent-clean-scan");
    let verdict = example.check(&vuln_with_scan_age(
        "vuln-trivy-critical.statement-v0.1.json",
        1,
    ));
    assert_denied(
        &verdict,
        "CRITICAL vulnerabilities: CVE-2099-12345 (busybox)",
    );
    assert_eq!(verdict.messages.len(), 1, "{verdict:?}"); // `errors` replaces "isCompliant is false"
}

#[test]
fn vuln_missing_scan_time_is_refused() {
    let example = example("vuln-scan-recent.yaml", "recent-clean-scan");
    let mut statement = fixture("vuln-trivy-clean.statement-v0.1.json");
    statement["predicate"]["metadata"] = json!({});
    assert_denied(
        &example.check(&statement),
        "no predicate.metadata.scanFinishedOn",
    );
}

#[test]
fn vuln_unparsable_scan_time_is_an_evaluation_error() {
    let example = example("vuln-scan-recent.yaml", "recent-clean-scan");
    let mut statement = fixture("vuln-trivy-clean.statement-v0.1.json");
    statement["predicate"]["metadata"]["scanFinishedOn"] = json!("last tuesday");
    let err = example.policy.evaluate(&statement).unwrap_err();
    assert!(
        err.starts_with("rego policy 'recent-clean-scan': evaluation failed"),
        "{err}"
    );
    assert!(err.contains("datetime"), "{err}");
}

// === slsa-provenance-builder.yaml ===

#[test]
fn slsa_v1_from_the_builder_and_repository_is_compliant() {
    let example = example("slsa-provenance-builder.yaml", "github-builder-v1");
    assert_eq!(example.predicate_type, "https://slsa.dev/provenance/v1");
    let statement = fixture("slsa-provenance-v1.statement-v1.json");
    assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
    assert_compliant(&example.check(&statement));
}

#[test]
fn slsa_v1_from_another_repository_or_builder_is_refused() {
    let example = example("slsa-provenance-builder.yaml", "github-builder-v1");
    let mut statement = fixture("slsa-provenance-v1.statement-v1.json");
    statement["predicate"]["buildDefinition"]["externalParameters"]["workflow"]["repository"] =
        json!("https://github.com/attacker/app");
    assert_denied(
        &example.check(&statement),
        "built from https://github.com/attacker/app",
    );

    let mut statement = fixture("slsa-provenance-v1.statement-v1.json");
    statement["predicate"]["runDetails"]["builder"]["id"] =
        json!("https://github.com/actions/runner/self-hosted");
    assert_denied(
        &example.check(&statement),
        "built by https://github.com/actions/runner/self-hosted",
    );
}

#[test]
fn slsa_v0_2_from_the_generator_and_repository_is_compliant() {
    let example = example("slsa-provenance-builder.yaml", "github-generator-v0-2");
    assert_eq!(example.predicate_type, "https://slsa.dev/provenance/v0.2");
    assert_compliant(&example.check(&fixture("slsa-provenance-v0.2.statement-v0.1.json")));
}

#[test]
fn slsa_v0_2_from_another_builder_is_refused() {
    let example = example("slsa-provenance-builder.yaml", "github-generator-v0-2");
    let mut statement = fixture("slsa-provenance-v0.2.statement-v0.1.json");
    statement["predicate"]["builder"]["id"] = json!("https://example.com/my-laptop");
    assert_denied(
        &example.check(&statement),
        "built by https://example.com/my-laptop",
    );

    let mut statement = fixture("slsa-provenance-v0.2.statement-v0.1.json");
    statement["predicate"]["invocation"]["configSource"]["uri"] =
        json!("git+https://github.com/example/app-fork@refs/heads/main");
    assert_denied(&example.check(&statement), "not github.com/example/app");
}

#[test]
fn slsa_v1_policy_refuses_v0_2_provenance() {
    // Fail closed on the wrong shape: the fields are simply not there.
    let example = example("slsa-provenance-builder.yaml", "github-builder-v1");
    let verdict = example
        .policy
        .evaluate(&fixture("slsa-provenance-v0.2.statement-v0.1.json"))
        .expect("evaluation");
    assert!(!verdict.compliant, "{verdict:?}");
}

// === sbom-present.yaml ===

#[test]
fn spdx_sbom_with_packages_is_compliant() {
    let example = example("sbom-present.yaml", "spdx-packages");
    assert_eq!(example.predicate_type, "https://spdx.dev/Document");
    assert_compliant(&example.check(&fixture("spdx-2.3.statement-v0.1.json")));
}

#[test]
fn spdx_sbom_without_packages_or_with_backdoored_xz_is_refused() {
    let example = example("sbom-present.yaml", "spdx-packages");
    let mut statement = fixture("spdx-2.3.statement-v0.1.json");
    statement["predicate"]["packages"] = json!([]);
    assert_denied(&example.check(&statement), "lists no packages");

    let mut statement = fixture("spdx-2.3.statement-v0.1.json");
    let packages = statement["predicate"]["packages"]
        .as_array_mut()
        .expect("packages");
    let xz = packages
        .iter_mut()
        .find(|p| p["name"] == "xz-libs")
        .expect("xz-libs");
    xz["versionInfo"] = json!("5.6.1-r1");
    assert_denied(
        &example.check(&statement),
        "xz-libs 5.6.1-r1 (CVE-2024-3094)",
    );

    // Debian's revert is fine.
    let mut statement = fixture("spdx-2.3.statement-v0.1.json");
    let packages = statement["predicate"]["packages"]
        .as_array_mut()
        .expect("packages");
    packages.push(
        json!({"name": "liblzma5", "SPDXID": "SPDXRef-x", "versionInfo": "5.6.1+really5.4.5-1"}),
    );
    assert_compliant(&example.check(&statement));
}

#[test]
fn cyclonedx_sbom_with_os_component_is_compliant() {
    let example = example("sbom-present.yaml", "cyclonedx-components");
    assert_eq!(example.predicate_type, "https://cyclonedx.org/bom");
    assert_compliant(&example.check(&fixture("cyclonedx-1.5.statement-v0.1.json")));
}

#[test]
fn cyclonedx_sbom_without_components_is_refused() {
    let example = example("sbom-present.yaml", "cyclonedx-components");
    let mut statement = fixture("cyclonedx-1.5.statement-v0.1.json");
    statement["predicate"]["components"] = json!([]);
    assert_denied(&example.check(&statement), "lists no components");

    let mut statement = fixture("cyclonedx-1.5.statement-v0.1.json");
    let components = statement["predicate"]["components"]
        .as_array_mut()
        .expect("components");
    components.retain(|c| c["type"] != "operating-system");
    assert_denied(&example.check(&statement), "no operating-system component");

    let mut statement = fixture("cyclonedx-1.5.statement-v0.1.json");
    statement["predicate"]["specVersion"] = json!("1.2");
    assert!(!example.check(&statement).compliant);
}

// === syntax ===

const STATEMENT: &str = r#"{"_type": "https://in-toto.io/Statement/v0.1",
    "predicateType": "https://example.com/p", "subject": [],
    "predicate": {"level": 3}}"#;

fn statement() -> Json {
    serde_json::from_str(STATEMENT).expect("statement")
}

#[test]
fn v0_syntax_compiles_and_evaluates() {
    let policy = compile(
        "package sigstore\n\
         default isCompliant = false\n\
         isCompliant {\n  input.predicate.level >= 3\n}\n",
    )
    .expect("v0");
    assert_eq!(policy.syntax(), Syntax::V0);
    assert!(policy.evaluate(&statement()).expect("eval").compliant);

    // v0 partial sets (`deny[msg] { ... }`) too.
    let policy = compile(
        "package sigstore\n\
         low[msg] { input.predicate.level < 4; msg := \"low\" }\n\
         isCompliant { count(low) == 0 }\n",
    )
    .expect("v0 set");
    assert!(!policy.evaluate(&statement()).expect("eval").compliant);
}

#[test]
fn v1_syntax_compiles_and_evaluates_with_or_without_import() {
    for source in [
        "package sigstore\ndefault isCompliant := false\nisCompliant if input.predicate.level >= 3\n",
        "package sigstore\nimport rego.v1\nisCompliant if { input.predicate.level >= 3 }\n",
        "package sigstore\nlevels contains l if { some l in [1, 2, 3] }\n\
         isCompliant if { input.predicate.level in levels }\n",
    ] {
        let policy = compile(source).unwrap_or_else(|e| panic!("{source}: {e}"));
        assert_eq!(policy.syntax(), Syntax::V1, "{source}");
        assert!(policy.evaluate(&statement()).expect("eval").compliant, "{source}");
    }
}

#[test]
fn syntax_errors_name_the_line() {
    let err = compile("package sigstore\n\nisCompliant if {\n  input.x ==\n}\n").unwrap_err();
    assert!(
        err.starts_with("rego policy 'test': syntax error (as Rego v1) at line 5, column 1: "),
        "{err}"
    );
    assert!(!err.contains('\n'), "{err}");

    // A v0 module: its v0 parse gets further than its v1 parse, so the v0
    // error is the one reported.
    let err =
        compile("package sigstore\nisCompliant {\n  true\n}\nbroken {\n  1 +\n}\n").unwrap_err();
    assert!(err.contains("(as Rego v0) at line 5,"), "{err}");
    assert!(err.contains("(in `broken {`)"), "{err}");
}

#[test]
fn the_package_must_be_sigstore() {
    let err = compile("package policy\nisCompliant := true\n").unwrap_err();
    assert!(err.contains("package sigstore"), "{err}");
    assert!(err.contains("found `package policy`"), "{err}");
    let err = compile("isCompliant := true\n").unwrap_err();
    assert!(err.contains("rego policy 'test'"), "{err}");
}

#[test]
fn a_module_without_is_compliant_is_refused() {
    let err = compile("package sigstore\nallow := true\n").unwrap_err();
    assert!(err.contains("no `isCompliant` rule"), "{err}");
}

#[test]
fn compile_errors_surface_at_load() {
    // Unsafe variables.
    let err = compile("package sigstore\nisCompliant if { x > 1 }\n").unwrap_err();
    assert!(
        err.starts_with("rego policy 'test': compile error"),
        "{err}"
    );
    assert!(err.contains("line 2"), "{err}");
}

#[test]
fn network_and_environment_builtins_are_absent() {
    // regorus resolves function names when it evaluates a call, so these
    // compile, and their evaluation fails (a denial).
    for call in [
        "http.send({\"method\": \"get\", \"url\": \"http://127.0.0.1:1/\"})",
        "opa.runtime()",
    ] {
        let policy =
            compile(&format!("package sigstore\nisCompliant if {{ {call} }}\n")).expect("compile");
        let err = policy.evaluate(&statement()).unwrap_err();
        assert!(err.contains("could not find function"), "{err}");
    }
}

// === verdicts ===

#[test]
fn undefined_is_compliant_is_not_compliant() {
    let policy =
        compile("package sigstore\nisCompliant if input.predicate.level > 10\n").expect("compile");
    let verdict = policy.evaluate(&statement()).expect("eval");
    assert_eq!(
        verdict,
        Verdict {
            compliant: false,
            messages: vec!["isCompliant is undefined".to_owned()]
        }
    );
}

#[test]
fn non_boolean_is_compliant_is_not_compliant() {
    for value in ["\"yes\"", "1", "{\"a\": true}", "null"] {
        let policy =
            compile(&format!("package sigstore\nisCompliant := {value}\n")).expect("compile");
        let verdict = policy.evaluate(&statement()).expect("eval");
        assert!(!verdict.compliant, "{value}: {verdict:?}");
    }
}

#[test]
fn result_objects_as_policy_controller_reads_them() {
    // policy-controller's structured form: a set of {result, error, warning}.
    let pass = compile(
        "package sigstore\n\
         isCompliant contains {\"result\": true, \"error\": \"\", \"warning\": \"old scanner\"} if true\n",
    )
    .expect("compile");
    let verdict = pass.evaluate(&statement()).expect("eval");
    assert_eq!(
        verdict,
        Verdict {
            compliant: true,
            messages: vec!["old scanner".to_owned()]
        }
    );

    let fail = compile(
        "package sigstore\n\
         isCompliant[r] {\n  r := {\"result\": input.predicate.level > 5, \"error\": \"level too low\"}\n}\n",
    )
    .expect("compile");
    let verdict = fail.evaluate(&statement()).expect("eval");
    assert_eq!(
        verdict,
        Verdict {
            compliant: false,
            messages: vec!["level too low".to_owned()]
        }
    );

    let malformed =
        compile("package sigstore\nisCompliant contains \"yes\" if true\n").expect("compile");
    assert!(!malformed.evaluate(&statement()).expect("eval").compliant);
    let malformed =
        compile("package sigstore\nisCompliant contains {\"result\": \"true\"} if true\n")
            .expect("compile");
    assert!(!malformed.evaluate(&statement()).expect("eval").compliant);
}

#[test]
fn errors_rule_explains_a_refusal_and_only_then() {
    let policy = compile(
        "package sigstore\n\
         default isCompliant := false\n\
         isCompliant if input.predicate.level >= 3\n\
         errors contains sprintf(\"level %d < 3\", [input.predicate.level]) if input.predicate.level < 3\n\
         errors contains \"always\" if true\n",
    )
    .expect("compile");
    assert_eq!(
        policy.evaluate(&statement()).expect("eval"),
        Verdict {
            compliant: true,
            messages: vec![]
        }
    );
    let verdict = policy
        .evaluate(&json!({"predicate": {"level": 1}}))
        .expect("eval");
    assert_eq!(
        verdict,
        Verdict {
            compliant: false,
            messages: vec!["always".to_owned(), "level 1 < 3".to_owned()]
        }
    );

    // An `errors` that says nothing leaves the generic message.
    let policy = compile(
        "package sigstore
isCompliant := false
errors contains \"x\" if input.nothing
",
    )
    .expect("compile");
    assert_eq!(
        policy.evaluate(&statement()).expect("eval").messages,
        vec!["isCompliant is false".to_owned()]
    );

    // A single string works too.
    let policy =
        compile("package sigstore\nisCompliant := false\nerrors := \"no\"\n").expect("compile");
    assert!(policy
        .evaluate(&statement())
        .expect("eval")
        .messages
        .contains(&"no".to_owned()));
}

#[test]
fn evaluation_errors_are_errors() {
    // A builtin error (strict: OPA would make it undefined).
    let policy =
        compile("package sigstore\nisCompliant if to_number(\"three\") > 1\n").expect("compile");
    let err = policy.evaluate(&statement()).unwrap_err();
    assert!(err.contains("evaluation failed"), "{err}");

    // Conflicting values for a complete rule.
    let policy = compile(
        "package sigstore\nisCompliant := true if input.predicate.level > 1\n\
         isCompliant := false if input.predicate.level > 2\n",
    )
    .expect("compile");
    assert!(policy.evaluate(&statement()).is_err());

    // A `not` over a failing builtin does not turn the error into a pass.
    let policy = compile(
        "package sigstore\nbad if to_number(input.predicate.name) > 1\nisCompliant if not bad\n",
    )
    .expect("compile");
    let result = policy.evaluate(&json!({"predicate": {"name": "x"}}));
    assert!(
        result.is_err() || !result.as_ref().is_ok_and(|v| v.compliant),
        "{result:?}"
    );
}

#[test]
fn runaway_policies_hit_the_time_limit() {
    let policy = compile(
        "package sigstore\n\
         isCompliant if {\n  n := count([x | some a in numbers.range(1, 2000); some b in numbers.range(1, 2000); x := a * b])\n  n > 0\n}\n",
    )
    .expect("compile");
    let started = Instant::now();
    let err = policy.evaluate(&statement()).unwrap_err();
    let took = started.elapsed();
    assert!(err.to_lowercase().contains("time"), "{err}");
    assert!(took < super::EVALUATION_TIME_LIMIT * 10, "took {took:?}");
}

#[test]
fn policies_are_shared_across_threads() {
    let example = std::sync::Arc::new(example("sbom-present.yaml", "spdx-packages"));
    let statement = std::sync::Arc::new(fixture("spdx-2.3.statement-v0.1.json"));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let example = example.clone();
            let statement = statement.clone();
            std::thread::spawn(move || example.policy.evaluate(&statement).expect("eval").compliant)
        })
        .collect();
    for handle in handles {
        assert!(handle.join().expect("thread"));
    }
}

/// Costs, printed: `cargo test --lib policy::rego::tests::cost -- --nocapture`
/// (dependencies, regorus included, are built with opt-level 2 even in the
/// test profile).
#[test]
fn cost_of_compile_and_evaluate() {
    fn average(rounds: u32, mut f: impl FnMut()) -> Duration {
        let started = Instant::now();
        for _ in 0..rounds {
            f();
        }
        started.elapsed() / rounds
    }
    let text = read("examples/policies/vuln-scan-recent.yaml");
    let doc: Yaml = serde_yaml_ng::from_str(&text).expect("yaml");
    let source = doc["spec"]["authorities"][0]["attestations"][0]["policy"]["data"]
        .as_str()
        .expect("data")
        .to_owned();
    let rounds = 50;
    let compile_cost = average(rounds, || {
        compile(&source).expect("compile");
    });

    let policy = compile(&source).expect("compile");
    let clean = vuln_with_scan_age("vuln-trivy-clean.statement-v0.1.json", 1);
    let pass = average(rounds, || {
        assert!(policy.evaluate(&clean).expect("eval").compliant)
    });
    let critical = vuln_with_scan_age("vuln-trivy-critical.statement-v0.1.json", 1);
    let refuse = average(rounds, || {
        assert!(!policy.evaluate(&critical).expect("eval").compliant)
    });

    // A large report: 2,000 findings (about 1.3 MB of JSON).
    let mut large = clean.clone();
    let finding =
        large["predicate"]["scanner"]["result"]["Results"][0]["Vulnerabilities"][0].clone();
    large["predicate"]["scanner"]["result"]["Results"][0]["Vulnerabilities"] =
        Json::Array(vec![finding; 2000]);
    let large_cost = average(5, || {
        assert!(policy.evaluate(&large).expect("eval").compliant)
    });

    let slsa = example("slsa-provenance-builder.yaml", "github-builder-v1");
    let statement = fixture("slsa-provenance-v1.statement-v1.json");
    let slsa_cost = average(rounds, || {
        assert!(slsa.policy.evaluate(&statement).expect("eval").compliant)
    });
    println!(
        "rego cost: compile vuln-scan-recent {compile_cost:?}; evaluate it: pass {pass:?}, \
         refusal with `errors` {refuse:?}, 2,000-finding report {large_cost:?}; \
         slsa v1 pass {slsa_cost:?}"
    );
}
