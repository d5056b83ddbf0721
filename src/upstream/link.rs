//! The one `Link` header parser (RFC 8288, as registries send it for
//! pagination: `Link: <…>; rel="next"`), and what each paginated endpoint
//! takes from it. Nothing of the upstream's link beyond that reaches a
//! client or is followed.

use crate::oci::Tag;

/// The target of a `rel="next"` link; `None` for any other relation or a
/// value that is not a link.
fn next_target(link: &str) -> Option<&str> {
    let (target, params) = link.split_once(';')?;
    if !params.contains("rel=\"next\"") && !params.contains("rel=next") {
        return None;
    }
    target.trim().strip_prefix('<')?.strip_suffix('>')
}

/// The `n`/`last` of the next page in a `Link: <…?n=2&last=b>; rel="next"`
/// header. Only those two parameters are taken: the rest of the upstream's
/// link (its host, its path) never reaches the client.
pub(super) fn next_page(link: &str) -> Option<(Option<u32>, Tag)> {
    let target = next_target(link)?;
    let (_, query) = target.split_once('?')?;
    let mut n = None;
    let mut last = None;
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match &*key {
            "n" => n = value.parse::<u32>().ok(),
            "last" => last = value.parse::<Tag>().ok(),
            _ => {}
        }
    }
    Some((n, last?))
}

/// The path and query of a `Link: <…>; rel="next"` that stays on the same
/// referrers endpoint; anything else is not followed.
pub(super) fn next_link(link: &str, endpoint: &str) -> Option<String> {
    let target = next_target(link)?;
    // Absolute links are reduced to their path: the origin is ours.
    let path = match target.find("://") {
        Some(i) => {
            let rest = target.get(i + 3..)?;
            rest.get(rest.find('/')?..)?
        }
        None => target,
    };
    (path.split('?').next() == Some(endpoint)).then(|| path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_page_takes_only_n_and_last_from_the_link() {
        let (n, last) =
            next_page(r#"</v2/library/alpine/tags/list?last=3.18&n=2>; rel="next""#).unwrap();
        assert_eq!((n, last.as_str()), (Some(2), "3.18"));
        let (_, last) =
            next_page(r#"<https://evil.example/x?last=a&redirect=http://x>; rel="next""#).unwrap();
        assert_eq!(last.as_str(), "a");
        assert!(next_page(r#"</v2/a/tags/list?last=a>; rel="prev""#).is_none());
        assert!(next_page(r#"</v2/a/tags/list?last=a/b>; rel="next""#).is_none());
        assert!(next_page("garbage").is_none());
    }

    #[test]
    fn only_next_links_on_the_same_endpoint_are_followed() {
        let e = "/v2/a/b/referrers/sha256:00";
        assert_eq!(
            next_link("</v2/a/b/referrers/sha256:00?n=2&last=x>; rel=\"next\"", e).as_deref(),
            Some("/v2/a/b/referrers/sha256:00?n=2&last=x")
        );
        assert_eq!(
            next_link(
                "<https://reg.example/v2/a/b/referrers/sha256:00?p=2>; rel=\"next\"",
                e
            )
            .as_deref(),
            Some("/v2/a/b/referrers/sha256:00?p=2")
        );
        assert_eq!(
            next_link("</v2/other/referrers/sha256:00?n=2>; rel=\"next\"", e),
            None
        );
        assert_eq!(
            next_link("</v2/a/b/referrers/sha256:00?n=2>; rel=\"prev\"", e),
            None
        );
        assert_eq!(next_link("garbage", e), None);
    }
}
