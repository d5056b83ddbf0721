//! Image references as a user types them on the command line
//! (`registry/repository[:tag|@digest]`), routed exactly as the manifest
//! request a runtime would make for them — so `signgate verify` and
//! `signgate mirror` refuse what the proxy would, naming what was typed.

use super::{shown, RouteError, Router, Target};
use crate::oci::{ImageRef, Reference};

/// Why a typed image reference cannot be used; quotes it (bounded).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference '{image}': {why}")]
pub struct ImageError {
    pub image: String,
    pub why: String,
}

impl Router {
    /// The upstream, repository and reference `image` names, chosen as for
    /// a request (a registry prefix naming a configured upstream, else the
    /// default upstream); without a tag or digest, `latest`.
    pub fn image(&self, image: &str) -> Result<(Target, Reference), ImageError> {
        let error = |why: String| ImageError {
            image: shown(image),
            why,
        };
        let last_component = |name: &str| name.rsplit('/').next().unwrap_or_default().to_owned();
        let (name, reference) = match image.split_once('@') {
            Some((name, digest)) => {
                if let Some((_, tag)) = last_component(name).rsplit_once(':') {
                    return Err(error(format!(
                        "give a tag or a digest, not both (tag '{}'): signgate decides on the digest",
                        shown(tag)
                    )));
                }
                (name, digest)
            }
            None => match image.rsplit_once(':') {
                Some((name, tag)) if !tag.contains('/') => (name, tag),
                _ => (image, "latest"),
            },
        };
        let reference =
            Reference::parse(reference).map_err(|e| error(RouteError::from(e).to_string()))?;
        let target = self.target(name, None).map_err(|e| {
            error(match e {
                RouteError::NoDefaultUpstream => {
                    "it names no configured registry and no upstream is 'default: true': write registry/repository".to_owned()
                }
                other => other.to_string(),
            })
        })?;
        Ok((target, reference))
    }

    /// `image` as the typed [`ImageRef`] one-shot commands decide on: the
    /// registry is the upstream it routes to, the repository as routed.
    pub fn image_ref(&self, image: &str) -> Result<ImageRef, ImageError> {
        let (target, reference) = self.image(image)?;
        let registry = self
            .names
            .get(target.upstream.0)
            .cloned()
            .ok_or_else(|| ImageError {
                image: shown(image),
                why: format!("no upstream with index {}", target.upstream.0),
            })?;
        Ok(ImageRef::new(registry, target.repository, reference))
    }

    /// Where an [`ImageRef`] is fetched from: its registry must be a
    /// configured upstream, as for a request naming it with `?ns=`.
    pub fn image_target(&self, image: &ImageRef) -> Result<Target, RouteError> {
        let upstream = self
            .find(&image.registry)
            .ok_or_else(|| RouteError::UnconfiguredRegistry(image.registry.to_string()))?;
        Ok(Target {
            upstream,
            repository: image
                .registry
                .normalize_repository(image.repository.clone()),
            client_name: image.repository.as_str().into(),
            ns: Some(image.registry.clone()),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::oci::Reference;
    use crate::route::Router;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn router(default: bool) -> Router {
        let yaml = format!(
            "upstreams:\n  - {{name: docker.io, url: 'https://registry-1.docker.io', default: {default}}}\n  - {{name: 'registry.test:5000', url: 'http://127.0.0.1:1', insecure: true}}\n"
        );
        Router::new(
            &Config::parse(&yaml, "t", std::path::Path::new("."))
                .unwrap()
                .upstreams,
        )
    }

    #[test]
    fn references_route_as_requests_do() {
        let r = router(true);
        let (t, reference) = r.image("alpine").unwrap();
        assert_eq!((t.upstream.0, t.repository.as_str()), (0, "library/alpine"));
        assert_eq!(reference, Reference::parse("latest").unwrap());
        let (t, reference) = r.image("registry.test:5000/team/app:1.4").unwrap();
        assert_eq!((t.upstream.0, t.repository.as_str()), (1, "team/app"));
        assert_eq!(&*t.client_name, "registry.test:5000/team/app");
        assert_eq!(reference.as_str(), "1.4");
        let (t, reference) = r.image(&format!("registry.test:5000/app@{D}")).unwrap();
        assert_eq!(t.repository.as_str(), "app");
        assert_eq!(reference.as_str(), D);
        // A port is not a tag.
        let (t, _) = r.image("registry.test:5000/app").unwrap();
        assert_eq!(t.repository.as_str(), "app");
    }

    #[test]
    fn a_typed_image_routes_to_the_target_its_text_does() {
        let r = router(true);
        for typed in [
            "alpine",
            "docker.io/alpine:3",
            "registry.test:5000/team/app:1.4",
            &format!("registry.test:5000/app@{D}"),
        ] {
            let image = r.image_ref(typed).unwrap();
            let (t, reference) = r.image(typed).unwrap();
            assert_eq!(image.reference, reference, "{typed}");
            let routed = r.image_target(&image).unwrap();
            assert_eq!(
                (routed.upstream, &routed.repository),
                (t.upstream, &t.repository),
                "{typed}"
            );
        }
        assert_eq!(
            r.image_ref("alpine").unwrap().to_string(),
            "docker.io/library/alpine:latest"
        );
        let elsewhere = crate::oci::ImageRef::new(
            "evil.example".parse().unwrap(),
            "x".parse().unwrap(),
            Reference::parse("1").unwrap(),
        );
        assert_eq!(
            r.image_target(&elsewhere).unwrap_err().to_string(),
            "registry 'evil.example' is not a configured upstream of this signgate"
        );
    }

    #[test]
    fn every_error_quotes_what_was_typed_and_says_why() {
        let r = router(true);
        for (image, why) in [
            ("bad image", "invalid repository name 'bad image'"),
            ("", "invalid repository name ''"),
            ("Alpine", "invalid repository name 'Alpine'"),
            ("alpine:bad tag!", "invalid tag 'bad tag!'"),
            ("alpine@sha256:zz", "invalid digest 'sha256:zz'"),
            (
                "evil.example/x:1",
                "registry 'evil.example' is not a configured upstream",
            ),
            (
                &format!("alpine:3.20@{D}"),
                "give a tag or a digest, not both (tag '3.20')",
            ),
        ] {
            let e = r.image(image).unwrap_err();
            let text = e.to_string();
            assert!(
                text.starts_with(&format!("invalid image reference '{image}': ")),
                "{text}"
            );
            assert!(text.contains(why), "{image}: {text}");
        }
        let e = router(false).image("alpine").unwrap_err();
        assert!(
            e.to_string().contains("no upstream is 'default: true'"),
            "{e}"
        );
        // Quoted text stays bounded, cut at a char boundary.
        let long = format!("{}:tag", "é".repeat(300));
        assert!(r.image(&long).unwrap_err().to_string().len() < 800);
    }
}
