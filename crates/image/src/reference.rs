//! Parsing of the `IMAGE` argument: `oci:`, `docker-archive:`, `dir:`, `sbom:` and
//! registry references.

use std::fmt;
use std::path::PathBuf;

use ferret_model::Digest;

use crate::ImageError;

/// Where an image comes from, parsed from the command line's `IMAGE` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSource {
    /// `oci:DIR[:TAG|@DIGEST]`: an OCI image layout directory.
    OciLayout { dir: PathBuf, selector: Selector },
    /// `docker-archive:FILE`: what `docker save` writes (classic or Docker 25+ layout).
    DockerArchive { file: PathBuf },
    /// `dir:PATH`: an unpacked root file system.
    Dir { path: PathBuf },
    /// `sbom:FILE`: an SPDX or CycloneDX document instead of an image.
    Sbom { file: PathBuf },
    /// A registry reference pulled over the OCI distribution API.
    Registry(Reference),
}

/// Which manifest of an OCI layout to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// The only image in the layout (an error when there are several).
    Default,
    Tag(String),
    Digest(Digest),
}

impl ImageSource {
    pub fn parse(input: &str) -> Result<Self, ImageError> {
        let invalid = |reason: &str| ImageError::InvalidReference {
            input: input.to_owned(),
            reason: reason.to_owned(),
        };
        if let Some(rest) = input.strip_prefix("oci:") {
            if rest.is_empty() {
                return Err(invalid("oci: needs a directory"));
            }
            // The selector is after the last path component, so paths may hold ':'.
            let name_start = rest.rfind('/').map_or(0, |i| i + 1);
            let (dir, selector) = if let Some(at) = rest[name_start..].find('@') {
                let at = name_start + at;
                let digest = rest[at + 1..]
                    .parse()
                    .map_err(|e: ferret_model::DigestError| invalid(&e.to_string()))?;
                (&rest[..at], Selector::Digest(digest))
            } else if let Some(colon) = rest[name_start..].rfind(':') {
                let colon = name_start + colon;
                let tag = &rest[colon + 1..];
                if tag.is_empty() {
                    return Err(invalid("empty tag"));
                }
                (&rest[..colon], Selector::Tag(tag.to_owned()))
            } else {
                (rest, Selector::Default)
            };
            return Ok(Self::OciLayout {
                dir: PathBuf::from(dir),
                selector,
            });
        }
        for (prefix, make) in [
            (
                "docker-archive:",
                (|p| Self::DockerArchive { file: p }) as fn(PathBuf) -> Self,
            ),
            ("dir:", |p| Self::Dir { path: p }),
            ("sbom:", |p| Self::Sbom { file: p }),
        ] {
            if let Some(rest) = input.strip_prefix(prefix) {
                if rest.is_empty() {
                    return Err(invalid(&format!("{prefix} needs a path")));
                }
                return Ok(make(PathBuf::from(rest)));
            }
        }
        Reference::parse(input).map(Self::Registry)
    }
}

/// A registry reference `[HOST[:PORT]/]REPO[:TAG][@DIGEST]`, normalised the way Docker
/// does (`alpine` is `docker.io/library/alpine:latest`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// Registry host as written, with port: `docker.io`, `127.0.0.1:5000`.
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

pub const DOCKER_HUB: &str = "docker.io";

impl Reference {
    pub fn parse(input: &str) -> Result<Self, ImageError> {
        let invalid = |reason: &str| ImageError::InvalidReference {
            input: input.to_owned(),
            reason: reason.to_owned(),
        };
        if input.is_empty() {
            return Err(invalid("empty reference"));
        }
        let (rest, digest) = match input.split_once('@') {
            Some((rest, d)) => (
                rest,
                Some(d.parse::<Digest>().map_err(|e| invalid(&e.to_string()))?),
            ),
            None => (input, None),
        };
        let (registry, path) = match rest.split_once('/') {
            Some((first, remainder))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_owned(), remainder.to_owned())
            }
            _ => (DOCKER_HUB.to_owned(), rest.to_owned()),
        };
        let last_slash = path.rfind('/').map_or(0, |i| i + 1);
        let (repository, tag) = match path[last_slash..].rfind(':') {
            Some(i) => {
                let i = last_slash + i;
                (path[..i].to_owned(), Some(path[i + 1..].to_owned()))
            }
            None => (path, None),
        };
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        let repo_ok = !repository.is_empty()
            && repository.split('/').all(|c| {
                !c.is_empty()
                    && c.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)
                    })
            });
        if !repo_ok {
            return Err(invalid(
                "repository must be lower-case letters, digits and separators",
            ));
        }
        if let Some(tag) = &tag {
            let tag_ok = !tag.is_empty()
                && tag.len() <= 128
                && tag
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
            if !tag_ok {
                return Err(invalid("invalid tag"));
            }
        }
        let tag = if tag.is_none() && digest.is_none() {
            Some("latest".to_owned())
        } else {
            tag
        };
        Ok(Self {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// What to ask the registry for: the digest when pinned, else the tag.
    pub fn manifest_ref(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_owned(),
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn prefixed_sources() {
        assert_eq!(
            ImageSource::parse("oci:/tmp/a:b/img:v1").unwrap(),
            ImageSource::OciLayout {
                dir: "/tmp/a:b/img".into(),
                selector: Selector::Tag("v1".into())
            }
        );
        assert_eq!(
            ImageSource::parse(&format!("oci:img@{D}")).unwrap(),
            ImageSource::OciLayout {
                dir: "img".into(),
                selector: Selector::Digest(D.parse().unwrap())
            }
        );
        assert_eq!(
            ImageSource::parse("oci:./img").unwrap(),
            ImageSource::OciLayout {
                dir: "./img".into(),
                selector: Selector::Default
            }
        );
        assert!(matches!(
            ImageSource::parse("docker-archive:x.tar").unwrap(),
            ImageSource::DockerArchive { .. }
        ));
        assert!(ImageSource::parse("dir:").is_err());
    }

    #[test]
    fn registry_references() {
        let r = Reference::parse("alpine").unwrap();
        assert_eq!(r.to_string(), "docker.io/library/alpine:latest");
        let r = Reference::parse("127.0.0.1:5000/team/app:1.4").unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "team/app");
        assert_eq!(r.tag.as_deref(), Some("1.4"));
        let r = Reference::parse(&format!("localhost/app@{D}")).unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(r.manifest_ref(), D);
        assert!(Reference::parse("Upper/Case").is_err());
        assert!(Reference::parse("app:bad tag").is_err());
    }
}
