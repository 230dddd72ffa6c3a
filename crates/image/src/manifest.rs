//! OCI and Docker schema 2 manifests, indexes and image configs: the fields Ferret reads,
//! tolerant of the extra fields real registries and tools write.

use std::collections::BTreeMap;

use ferret_model::Digest;
use serde::{Deserialize, Serialize};

use crate::ImageError;

pub mod media {
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
    pub const DOCKER_SCHEMA1_SIGNED: &str =
        "application/vnd.docker.distribution.manifest.v1+prettyjws";

    pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    pub const OCI_LAYER_ND_TAR: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar";
    pub const OCI_LAYER_ND_GZIP: &str =
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
    pub const OCI_LAYER_ND_ZSTD: &str =
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    pub const DOCKER_LAYER_ZSTD: &str = "application/vnd.docker.image.rootfs.diff.tar.zstd";
    pub const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";
    pub const DOCKER_LAYER_FOREIGN: &str =
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

    /// The Accept header for manifest requests, most specific first.
    pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";
}

/// How a layer blob is compressed, from its media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// What a layer media type says about the blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerKind {
    pub compression: Compression,
    /// Non-distributable ("foreign") layers are not pulled; they are skipped with a note.
    pub non_distributable: bool,
}

impl LayerKind {
    pub fn from_media_type(media_type: &str) -> Result<Self, ImageError> {
        use media::*;
        let (compression, non_distributable) = match media_type {
            OCI_LAYER_TAR | DOCKER_LAYER_TAR => (Compression::None, false),
            OCI_LAYER_GZIP | DOCKER_LAYER_GZIP => (Compression::Gzip, false),
            OCI_LAYER_ZSTD | DOCKER_LAYER_ZSTD => (Compression::Zstd, false),
            OCI_LAYER_ND_TAR => (Compression::None, true),
            OCI_LAYER_ND_GZIP | DOCKER_LAYER_FOREIGN => (Compression::Gzip, true),
            OCI_LAYER_ND_ZSTD => (Compression::Zstd, true),
            other => {
                return Err(ImageError::UnknownMediaType {
                    what: "layer",
                    media_type: other.to_owned(),
                });
            }
        };
        Ok(Self {
            compression,
            non_distributable,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Platform {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: Digest,
    pub size: i64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
}

/// An image index or a Docker manifest list.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    #[serde(default)]
    pub schema_version: i64,
    #[serde(default)]
    pub media_type: Option<String>,
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
}

/// An image manifest (OCI or Docker schema 2).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    #[serde(default)]
    pub schema_version: i64,
    #[serde(default)]
    pub media_type: Option<String>,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
}

/// The parts of an image config Ferret reads.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Config {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub variant: Option<String>,
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub rootfs: RootFs,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RootFs {
    #[serde(default)]
    pub diff_ids: Vec<Digest>,
}

/// A parsed top-level document: either an index or a manifest.
#[derive(Debug, Clone)]
pub enum Document {
    Index(Index),
    Manifest(Manifest),
}

/// The shape of a JSON document when no reliable media type is known: OCI allows the
/// `mediaType` field to be absent, so look at which fields it has.
#[derive(Deserialize)]
struct Sniff {
    #[serde(default, rename = "mediaType")]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<serde_json::Value>,
    #[serde(default)]
    config: Option<serde_json::Value>,
    #[serde(default, rename = "schemaVersion")]
    schema_version: Option<i64>,
}

impl Document {
    /// Parses a manifest or index. `declared` is the media type the descriptor or the
    /// registry's Content-Type gave, if any; the document's own field wins when present.
    pub fn parse(bytes: &[u8], declared: Option<&str>, what: &str) -> Result<Self, ImageError> {
        let json_err = |e: serde_json::Error| ImageError::Json {
            what: what.to_owned(),
            source: e,
        };
        let sniff: Sniff = serde_json::from_slice(bytes).map_err(json_err)?;
        let media_type = sniff
            .media_type
            .clone()
            .or_else(|| declared.map(str::to_owned))
            .unwrap_or_default();
        match media_type.as_str() {
            media::OCI_INDEX | media::DOCKER_LIST => Ok(Self::Index(
                serde_json::from_slice(bytes).map_err(json_err)?,
            )),
            media::OCI_MANIFEST | media::DOCKER_MANIFEST => Ok(Self::Manifest(
                serde_json::from_slice(bytes).map_err(json_err)?,
            )),
            media::DOCKER_SCHEMA1 | media::DOCKER_SCHEMA1_SIGNED => {
                Err(ImageError::UnknownMediaType {
                    what: "manifest (Docker schema 1 is deprecated and not supported)",
                    media_type,
                })
            }
            "" | "application/json" | "application/octet-stream" => {
                if sniff.schema_version == Some(1) {
                    return Err(ImageError::UnknownMediaType {
                        what: "manifest (Docker schema 1 is deprecated and not supported)",
                        media_type: media::DOCKER_SCHEMA1.to_owned(),
                    });
                }
                if sniff.manifests.is_some() {
                    Ok(Self::Index(
                        serde_json::from_slice(bytes).map_err(json_err)?,
                    ))
                } else if sniff.config.is_some() {
                    Ok(Self::Manifest(
                        serde_json::from_slice(bytes).map_err(json_err)?,
                    ))
                } else {
                    Err(ImageError::Malformed {
                        what: what.to_owned(),
                        reason: "neither an image index nor a manifest".to_owned(),
                    })
                }
            }
            other => Err(ImageError::UnknownMediaType {
                what: "manifest",
                media_type: other.to_owned(),
            }),
        }
    }
}

/// A wanted platform, `os/arch[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformSpec {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Default for PlatformSpec {
    fn default() -> Self {
        Self {
            os: "linux".to_owned(),
            architecture: "amd64".to_owned(),
            variant: None,
        }
    }
}

impl std::fmt::Display for PlatformSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for PlatformSpec {
    type Err = ImageError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('/').collect();
        let bad = || ImageError::InvalidPlatform {
            input: s.to_owned(),
        };
        if parts.iter().any(|p| p.is_empty()) {
            return Err(bad());
        }
        match parts.as_slice() {
            [os, arch] => Ok(Self {
                os: (*os).to_owned(),
                architecture: (*arch).to_owned(),
                variant: None,
            }),
            [os, arch, variant] => Ok(Self {
                os: (*os).to_owned(),
                architecture: (*arch).to_owned(),
                variant: Some((*variant).to_owned()),
            }),
            _ => Err(bad()),
        }
    }
}

impl PlatformSpec {
    /// Whether an index entry's platform satisfies this one. A wanted variant must match
    /// (with the conventional defaults: arm64 is v8, arm is v7); no wanted variant accepts
    /// any, preferring the default one (see [`PlatformSpec::rank`]).
    pub fn matches(&self, p: &Platform) -> bool {
        if p.os != self.os || p.architecture != self.architecture {
            return false;
        }
        match &self.variant {
            None => true,
            Some(want) => {
                let have = p
                    .variant
                    .clone()
                    .or_else(|| default_variant(&p.architecture).map(str::to_owned));
                have.as_deref() == Some(want.as_str())
            }
        }
    }

    /// Lower is better among matching entries: the architecture's default variant first.
    pub fn rank(&self, p: &Platform) -> u8 {
        let have = p.variant.as_deref();
        match (have, default_variant(&p.architecture)) {
            (None, _) => 0,
            (Some(v), Some(d)) if v == d => 0,
            _ => 1,
        }
    }
}

fn default_variant(arch: &str) -> Option<&'static str> {
    match arch {
        "arm64" => Some("v8"),
        "arm" => Some("v7"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_matching_honours_variants() {
        let arm7 = Platform {
            architecture: "arm".into(),
            os: "linux".into(),
            variant: Some("v7".into()),
        };
        let arm6 = Platform {
            variant: Some("v6".into()),
            ..arm7.clone()
        };
        let want7: PlatformSpec = "linux/arm/v7".parse().unwrap();
        let want6: PlatformSpec = "linux/arm/v6".parse().unwrap();
        assert!(want7.matches(&arm7) && !want7.matches(&arm6));
        assert!(want6.matches(&arm6) && !want6.matches(&arm7));
        let any: PlatformSpec = "linux/arm".parse().unwrap();
        assert!(any.rank(&arm7) < any.rank(&arm6));
        assert!("linux".parse::<PlatformSpec>().is_err());
    }

    #[test]
    fn documents_without_media_type_are_sniffed() {
        let d = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert!(matches!(
            Document::parse(d, None, "x").unwrap(),
            Document::Index(_)
        ));
        let e = Document::parse(
            br#"{"schemaVersion":2,"mediaType":"text/plain"}"#,
            None,
            "x",
        )
        .unwrap_err();
        assert!(e.to_string().contains("text/plain"), "{e}");
    }
}
