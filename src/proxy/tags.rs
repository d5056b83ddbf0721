//! Tag lists (with pagination links rewritten to point at signgate) and
//! referrers indexes.

use http::header::LINK;
use http::{HeaderValue, Response};

use super::{App, ProxyError};
use crate::oci::{Digest, Tag};
use crate::respond::{self, ResponseBody};
use crate::route::Target;
use crate::upstream::pagination_query;

impl App {
    pub(super) async fn tags_list(
        &self,
        head: bool,
        target: &Target,
        n: Option<u32>,
        last: Option<&Tag>,
    ) -> Result<Response<ResponseBody>, ProxyError> {
        let upstream = self.upstream(target)?;
        let page = upstream.tags_list(&target.repository, n, last).await?;
        let mut response = respond::json(
            HeaderValue::from_static("application/json"),
            page.body,
            head,
        );
        if let Some((n, last)) = page.next {
            let mut link = format!(
                "</v2/{}/tags/list?{}",
                target.client_name,
                pagination_query(n, Some(&last))
            );
            if let Some(ns) = &target.ns {
                link.push_str("&ns=");
                link.push_str(ns.as_str());
            }
            link.push_str(">; rel=\"next\"");
            if let Ok(v) = HeaderValue::from_str(&link) {
                response.headers_mut().insert(LINK, v);
            }
        }
        Ok(response)
    }

    pub(super) async fn referrers(
        &self,
        head: bool,
        target: &Target,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Response<ResponseBody>, ProxyError> {
        let upstream = self.upstream(target)?;
        let referrers = upstream
            .referrers(&target.repository, digest, artifact_type)
            .await?;
        let mut response = respond::json(
            HeaderValue::from_static("application/vnd.oci.image.index.v1+json"),
            referrers.body,
            head,
        );
        if referrers.filtered {
            response.headers_mut().insert(
                respond::OCI_FILTERS_APPLIED,
                HeaderValue::from_static("artifactType"),
            );
        }
        Ok(response)
    }
}
