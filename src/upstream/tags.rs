//! Tag lists: one page of `GET /v2/<name>/tags/list`, paged by signgate
//! when the upstream ignores `n`/`last`, sorted as the spec says.

use bytes::Bytes;
use http::header::LINK;
use http::StatusCode;

use super::body::read_bounded;
use super::link::next_page;
use super::request::Remote;
use super::{Resource, TagsPage, UpstreamError, UpstreamErrorKind};
use crate::oci::{Repository, Tag};

/// Tag lists can be long, but not unboundedly.
const MAX_TAGS_LIST_BYTES: usize = 16 * 1024 * 1024;

impl Remote {
    /// One page of `GET /v2/<name>/tags/list`.
    pub(super) async fn tags_list(
        &self,
        repository: &Repository,
        n: Option<u32>,
        last: Option<&Tag>,
    ) -> Result<TagsPage, UpstreamError> {
        let mut path = format!("/v2/{repository}/tags/list");
        let query = pagination_query(n, last);
        if !query.is_empty() {
            path.push('?');
            path.push_str(&query);
        }
        let deadline = self.deadline();
        let response = self.get(repository, &path, &[]).await?;
        if response.status() != StatusCode::OK {
            return Err(self.status_error(&response, Resource::Repository));
        }
        let next = response
            .headers()
            .get(LINK)
            .and_then(|v| v.to_str().ok())
            .and_then(next_page);
        let body = read_bounded(response.into_body(), MAX_TAGS_LIST_BYTES, deadline)
            .await
            .map_err(|e| self.body_error(e, "tag list"))?;
        let list: TagList = serde_json::from_slice(&body).map_err(|_| {
            self.error(UpstreamErrorKind::BadResponse(
                "tag list is not a JSON tag list".into(),
            ))
        })?;
        Ok(paginate(list, n, last, next))
    }
}

/// `{"name": …, "tags": […]}`.
#[derive(serde::Deserialize, serde::Serialize)]
struct TagList {
    name: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    tags: Vec<String>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(<Option<Vec<String>> as serde::Deserialize>::deserialize(d)?.unwrap_or_default())
}

/// Apply `n`/`last` to a tag list, whether or not the upstream did:
/// distribution 2.8 ignores `n`, so signgate pages the list itself and
/// builds the next link. An upstream that paged already passes through
/// unchanged, with its own next link.
/// The spec orders tags lexically; distribution 2.8 returns directory order.
fn paginate(
    mut list: TagList,
    n: Option<u32>,
    last: Option<&Tag>,
    upstream_next: Option<(Option<u32>, Tag)>,
) -> TagsPage {
    list.tags.sort_unstable();
    if let Some(last) = last {
        list.tags.retain(|t| t.as_str() > last.as_str());
    }
    let mut next = upstream_next;
    if let Some(n) = n {
        let n = n as usize;
        if list.tags.len() > n {
            list.tags.truncate(n);
            next = list
                .tags
                .last()
                .and_then(|t| t.parse::<Tag>().ok())
                .map(|t| (Some(n as u32), t));
        }
    }
    let body = serde_json::to_vec(&list)
        .map(Bytes::from)
        .unwrap_or_default();
    TagsPage { body, next }
}

/// The `n`/`last` query of a tag list request.
pub fn pagination_query(n: Option<u32>, last: Option<&Tag>) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    if let Some(n) = n {
        query.append_pair("n", &n.to_string());
    }
    if let Some(last) = last {
        query.append_pair("last", last.as_str());
    }
    query.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(tags: &[&str]) -> TagList {
        TagList {
            name: "r".into(),
            tags: tags.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn tags_of(page: &TagsPage) -> Vec<String> {
        serde_json::from_slice::<TagList>(&page.body).unwrap().tags
    }

    #[test]
    fn tag_lists_are_paged_when_the_upstream_ignores_n_and_last() {
        let page = paginate(list(&["b", "a", "d", "c"]), Some(2), None, None);
        assert_eq!(tags_of(&page), ["a", "b"]);
        let (n, last) = page.next.unwrap();
        assert_eq!((n, last.as_str()), (Some(2), "b"));
        let last: Tag = "b".parse().unwrap();
        let page = paginate(list(&["a", "b", "c", "d"]), Some(2), Some(&last), None);
        assert_eq!(tags_of(&page), ["c", "d"]);
        assert!(page.next.is_none());
        // An upstream that paged already keeps its own link.
        let upstream_next = Some((Some(2), "d".parse().unwrap()));
        let page = paginate(list(&["c", "d"]), Some(2), Some(&last), upstream_next);
        assert_eq!(tags_of(&page), ["c", "d"]);
        assert_eq!(page.next.unwrap().1.as_str(), "d");
        let page = paginate(list(&["a"]), Some(0), None, None);
        assert!(tags_of(&page).is_empty());
    }

    #[test]
    fn pagination_query_round_trips() {
        let last: Tag = "v1.0".parse().unwrap();
        assert_eq!(pagination_query(Some(5), Some(&last)), "n=5&last=v1.0");
        assert_eq!(pagination_query(None, None), "");
    }
}
