//! `upstreams[].token-realms`: token services an upstream's configured
//! credentials may be sent to, besides the upstream's own host (and, for
//! Docker Hub, `https://auth.docker.io/token`). A realm named by a
//! `WWW-Authenticate` challenge but not allowed here is asked anonymously
//! (`upstream::auth`).

use url::Url;

use super::ConfigError;

/// The validated realms of one upstream entry (`path` is its key path),
/// and every problem with them.
pub(super) fn token_realms(
    raw: Option<&[String]>,
    path: &str,
    insecure: bool,
    has_auth: bool,
) -> (Vec<Url>, Vec<ConfigError>) {
    let mut realms = Vec::new();
    let mut errors = Vec::new();
    let Some(raw) = raw else {
        return (realms, errors);
    };
    let mut error = |path: String, message: String| errors.push(ConfigError { path, message });
    if !has_auth {
        error(
            format!("{path}.token-realms"),
            "there are no credentials to send: token-realms needs 'auth'".into(),
        );
    }
    for (i, text) in raw.iter().enumerate() {
        let key = format!("{path}.token-realms[{i}]");
        let url = match Url::parse(text) {
            Ok(url) => url,
            Err(e) => {
                error(key, format!("'{text}' is not a URL: {e}"));
                continue;
            }
        };
        match url.scheme() {
            "https" => {}
            "http" if insecure => {}
            "http" => {
                error(
                    key,
                    "plain http would expose the credentials: https, or 'insecure: true' on this upstream".into(),
                );
                continue;
            }
            other => {
                error(
                    key,
                    format!("unsupported scheme '{other}' (expected https)"),
                );
                continue;
            }
        }
        if url.host().is_none() || url.username() != "" || url.password().is_some() {
            error(
                key,
                "must name a host, with no user or password in it".into(),
            );
            continue;
        }
        if url.query().is_some() || url.fragment().is_some() {
            error(
                key,
                "a realm is matched by scheme, host, port and path: drop the query and fragment"
                    .into(),
            );
            continue;
        }
        realms.push(url);
    }
    (realms, errors)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::Config;

    fn parse(entry: &str) -> Result<Config, Vec<String>> {
        Config::parse(
            &format!("upstreams:\n  - {entry}\n"),
            "test.yaml",
            Path::new("/nonexistent"),
        )
        .map_err(|e| {
            e.errors
                .iter()
                .map(|e| format!("{}: {}", e.path, e.message))
                .collect()
        })
    }

    #[test]
    fn listed_token_realms_are_kept() {
        let c = parse("{name: r.test, url: 'https://r.test', auth: {username: u, password: p}, token-realms: ['https://auth.r.test/token', 'https://sso.example.com:8443/v2/token']}").unwrap();
        let realms: Vec<&str> = c.upstreams[0]
            .token_realms
            .iter()
            .map(|u| u.as_str())
            .collect();
        assert_eq!(
            realms,
            [
                "https://auth.r.test/token",
                "https://sso.example.com:8443/v2/token"
            ]
        );
        let c = parse("{name: r.test, url: 'https://r.test'}").unwrap();
        assert!(c.upstreams[0].token_realms.is_empty());
        let c = parse("{name: r.test, url: 'http://r.test', insecure: true, auth: {username: u, password: p}, token-realms: ['http://auth.r.test/token']}").unwrap();
        assert_eq!(c.upstreams[0].token_realms.len(), 1);
    }

    #[test]
    fn bad_token_realms_are_refused_with_their_key_path() {
        let auth = "auth: {username: u, password: p}";
        let table: &[(String, &str)] = &[
            (
                format!("{{name: r.test, url: 'https://r.test', {auth}, token-realms: ['http://auth.r.test/token']}}"),
                "upstreams[0].token-realms[0]: plain http would expose the credentials",
            ),
            (
                format!("{{name: r.test, url: 'https://r.test', {auth}, token-realms: ['ftp://auth.r.test/token']}}"),
                "upstreams[0].token-realms[0]: unsupported scheme 'ftp'",
            ),
            (
                format!("{{name: r.test, url: 'https://r.test', {auth}, token-realms: ['https://auth.r.test/token', 'auth.r.test']}}"),
                "upstreams[0].token-realms[1]: 'auth.r.test' is not a URL",
            ),
            (
                format!("{{name: r.test, url: 'https://r.test', {auth}, token-realms: ['https://u:p@auth.r.test/token']}}"),
                "upstreams[0].token-realms[0]: must name a host, with no user or password",
            ),
            (
                format!("{{name: r.test, url: 'https://r.test', {auth}, token-realms: ['https://auth.r.test/token?service=x']}}"),
                "upstreams[0].token-realms[0]: a realm is matched by scheme, host, port and path",
            ),
            (
                "{name: r.test, url: 'https://r.test', token-realms: ['https://auth.r.test/token']}".to_owned(),
                "upstreams[0].token-realms: there are no credentials to send",
            ),
        ];
        for (entry, want) in table {
            let errors = parse(entry).unwrap_err();
            assert!(
                errors.iter().any(|e| e.starts_with(want)),
                "{entry}: {errors:?}"
            );
        }
    }
}
