use super::*;

fn config(name: &str, url: &str, insecure: bool, realms: &[&str]) -> UpstreamConfig {
    UpstreamConfig {
        name: name.parse().unwrap(),
        url: Url::parse(url).unwrap(),
        default: false,
        insecure,
        ca_file: None,
        credentials: Some(Credentials {
            username: "u".into(),
            password: "p".into(),
        }),
        token_realms: realms.iter().map(|r| Url::parse(r).unwrap()).collect(),
        store: true,
    }
}

fn auth() -> Auth {
    let mut c = config("r.io", "https://r.io", false, &[]);
    c.credentials = None;
    Auth::new(&c)
}

fn headers(values: &[&str]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for v in values {
        h.append(WWW_AUTHENTICATE, HeaderValue::from_str(v).unwrap());
    }
    h
}

#[test]
fn bearer_challenges_are_parsed_like_docker_hubs() {
    let h = headers(&[
        r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#,
    ]);
    match auth().parse_challenges(&h).unwrap() {
        Scheme::Bearer { realm, service, .. } => {
            assert_eq!(realm.as_str(), "https://auth.docker.io/token");
            assert_eq!(service.as_deref(), Some("registry.docker.io"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bearer_wins_over_basic_and_basic_alone_is_basic() {
    let h = headers(&[r#"Basic realm="x""#, r#"Bearer realm="https://a/t""#]);
    assert!(matches!(
        auth().parse_challenges(&h).unwrap(),
        Scheme::Bearer { .. }
    ));
    let h = headers(&[r#"Basic realm="Registry Realm""#]);
    assert!(matches!(
        auth().parse_challenges(&h).unwrap(),
        Scheme::Basic
    ));
    assert!(matches!(
        auth().parse_challenges(&HeaderMap::new()).unwrap(),
        Scheme::Anonymous
    ));
}

#[test]
fn a_plain_http_realm_is_refused_unless_the_upstream_is_insecure() {
    let h = headers(&[r#"Bearer realm="http://127.0.0.1:1/token""#]);
    assert!(auth().parse_challenges(&h).is_err());
    let insecure = Auth::new(&config("r.io", "http://r.io", true, &[]));
    assert!(insecure.parse_challenges(&h).is_ok());
    let h = headers(&[r#"Bearer realm="file:///etc/passwd""#]);
    assert!(insecure.parse_challenges(&h).is_err());
    let h = headers(&[r#"Bearer service="x""#]);
    assert!(auth().parse_challenges(&h).is_err());
}

#[test]
fn credentials_go_only_to_realms_they_belong_to() {
    let private = Auth::new(&config(
        "registry.example.com",
        "https://registry.example.com",
        false,
        &[
            "https://auth.example.com/token",
            "https://sso.example.com:8443/v2/token",
        ],
    ));
    let hub = Auth::new(&config(
        "docker.io",
        "https://registry-1.docker.io",
        false,
        &[],
    ));
    let lab = Auth::new(&config(
        "lab.test:5000",
        "http://127.0.0.1:15000",
        true,
        &[],
    ));
    let table: &[(&Auth, &str, bool)] = &[
        // The upstream's own host, any port or path.
        (&private, "https://registry.example.com/token", true),
        (&private, "https://REGISTRY.example.com:5001/auth", true),
        (&lab, "http://127.0.0.1:15001/token", true),
        // Listed realms: scheme, host, port and path must all agree.
        (&private, "https://auth.example.com/token", true),
        (&private, "https://auth.example.com:443/token", true),
        (&private, "https://auth.example.com/token?extra=1", true),
        (&private, "https://sso.example.com:8443/v2/token", true),
        (&private, "https://auth.example.com/other", false),
        (&private, "https://auth.example.com:8443/token", false),
        (&private, "https://sso.example.com/v2/token", false),
        (&private, "https://auth.example.com.evil/token", false),
        (&private, "https://evil.example.net/token", false),
        // Docker Hub's own token service, for Docker Hub only.
        (&hub, "https://auth.docker.io/token", true),
        (&hub, "https://auth.docker.io/other", false),
        (&hub, "https://evil.example.net/token", false),
        (&private, "https://auth.docker.io/token", false),
        (&lab, "http://localhost:15001/token", false),
    ];
    for (auth, realm, want) in table {
        let h = headers(&[&format!(r#"Bearer realm="{realm}",service="s""#)]);
        match auth.parse_challenges(&h).unwrap() {
            Scheme::Bearer {
                with_credentials, ..
            } => assert_eq!(with_credentials, *want, "{} → {realm}", auth.upstream),
            other => panic!("{realm}: {other:?}"),
        }
    }
    let why = private
        .may_receive_credentials(&Url::parse("https://evil.example.net/token").unwrap())
        .unwrap_err();
    assert!(
        why.contains("'evil.example.net' is not the upstream's host (registry.example.com)"),
        "{why}"
    );
}

#[test]
fn basic_header_needs_credentials_and_is_sensitive() {
    assert!(auth().basic_header().is_none());
    let a = Auth::new(&config("r.io", "https://r.io", false, &[]));
    let h = a.basic_header().unwrap();
    assert_eq!(h.to_str().unwrap(), "Basic dTpw");
    assert!(h.is_sensitive());
}
