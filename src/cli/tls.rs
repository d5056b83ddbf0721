//! `signgate tls self-signed DIR`: a CA, a server certificate and a client
//! certificate for mTLS, for quick starts and tests.

use std::path::Path;

use super::Exit;

pub(super) fn self_signed(dir: &Path, names: &[String]) -> Exit {
    if let Some(bad) = names.iter().find(|n| !is_certificate_name(n)) {
        eprintln!("signgate tls self-signed: --name '{bad}': not a DNS name or an IP address");
        return Exit::Usage;
    }
    match signgate::server::tls::self_signed(dir, names) {
        Ok(()) => {
            println!(
                "{}: ca.crt, server.crt, server.key, client/ (ca.crt, client.cert, client.key)",
                dir.display()
            );
            Exit::Ok
        }
        Err(e) => {
            eprintln!("signgate: {e}");
            Exit::Failed
        }
    }
}

/// `--name`: an IP address or a DNS name (a leading `*.` allowed), as a
/// certificate's subject alternative name can hold.
fn is_certificate_name(name: &str) -> bool {
    if name.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    let host = name.strip_prefix("*.").unwrap_or(name);
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_dns_names_or_ip_addresses() {
        for ok in [
            "localhost",
            "127.0.0.1",
            "::1",
            "*.example.com",
            "a-b.example",
        ] {
            assert!(is_certificate_name(ok), "{ok}");
        }
        let long_label = "a".repeat(64);
        for bad in [
            "",
            "bad name",
            "-a.example",
            "a..b",
            "*.",
            long_label.as_str(),
        ] {
            assert!(!is_certificate_name(bad), "{bad}");
        }
    }
}
