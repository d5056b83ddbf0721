//! Credentials from a Docker `config.json` (`auths` only; credential helpers
//! run programs and are out of scope for a proxy).

use std::path::Path;

use base64::Engine as _;

use super::raw::RawDockerConfig;
use super::Credentials;
use crate::oci::RegistryName;

/// The credentials `file` holds for `registry`, matched the way Docker does:
/// keys may be bare hosts or URLs (`https://index.docker.io/v1/`).
pub(super) fn lookup(file: &Path, registry: &RegistryName) -> Result<Option<Credentials>, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read '{}': {e}", file.display()))?;
    let config: RawDockerConfig = serde_json::from_str(&text)
        .map_err(|e| format!("'{}' is not a Docker config.json: {e}", file.display()))?;
    for (key, entry) in &config.auths {
        let host = key
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap_or_default();
        let matches = host.parse::<RegistryName>().is_ok_and(|h| &h == registry);
        if !matches {
            continue;
        }
        if let (Some(username), Some(password)) = (&entry.username, &entry.password) {
            return Ok(Some(Credentials {
                username: username.clone(),
                password: password.clone(),
            }));
        }
        if let Some(auth) = &entry.auth {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|_| format!("'{}': auths.{key}.auth is not base64", file.display()))?;
            let decoded = String::from_utf8(decoded)
                .map_err(|_| format!("'{}': auths.{key}.auth is not UTF-8", file.display()))?;
            let Some((username, password)) = decoded.split_once(':') else {
                return Err(format!(
                    "'{}': auths.{key}.auth is not 'user:password'",
                    file.display()
                ));
            };
            return Ok(Some(Credentials {
                username: username.to_owned(),
                password: password.to_owned(),
            }));
        }
    }
    Ok(None)
}
