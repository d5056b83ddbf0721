//! An image named whole: the registry, the repository on it, and a tag or
//! a digest — what `signgate verify` and `signgate mirror` decide on.

use std::fmt;

use super::name::{RegistryName, Repository};
use super::reference::Reference;

/// `registry/repository:tag` or `registry/repository@digest`, each part
/// validated. The repository is as the registry serves it once routed
/// (a single-component Docker Hub name gains `library/` there).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    pub registry: RegistryName,
    pub repository: Repository,
    pub reference: Reference,
}

impl ImageRef {
    pub fn new(registry: RegistryName, repository: Repository, reference: Reference) -> ImageRef {
        ImageRef {
            registry,
            repository,
            reference,
        }
    }

    /// `registry/repository`, without the reference.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        match &self.reference {
            Reference::Tag(tag) => write!(f, ":{tag}"),
            Reference::Digest(digest) => write!(f, "@{digest}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn an_image_shows_as_it_is_typed() {
        let image = |r: &str| {
            ImageRef::new(
                "registry.test:5000".parse().unwrap(),
                "team/app".parse().unwrap(),
                Reference::parse(r).unwrap(),
            )
        };
        assert_eq!(image("1.4").to_string(), "registry.test:5000/team/app:1.4");
        assert_eq!(
            image(D).to_string(),
            format!("registry.test:5000/team/app@{D}")
        );
        assert_eq!(image("1.4").name(), "registry.test:5000/team/app");
    }
}
