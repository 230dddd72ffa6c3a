//! Stage ① of the pipeline: resolve an image reference to a manifest, its config and its
//! layer descriptors, and open each layer as a digest-verified byte stream.
//!
//! Sources: OCI image layouts (`oci:`), `docker save` archives in both the classic and the
//! Docker 25+ layout (`docker-archive:`), and registries over the OCI distribution API.
//! `dir:` and `sbom:` sources have no layers and are handled by the engine.

mod archive;
mod fs;
mod layout;
pub mod manifest;
mod reference;
pub mod registry;
mod resolve;
mod verify;

use std::io::Read;
use std::path::PathBuf;

use ferret_model::{Digest, Note};

pub use manifest::{Compression, Config, Descriptor, PlatformSpec};
pub use reference::{ImageSource, Reference, Selector};
pub use registry::{Credentials, HttpClient, RegistryOptions, Repository};
pub use verify::VerifyingReader;

/// Documents (manifests, indexes) larger than this are refused.
pub const MAX_MANIFEST_BYTES: u64 = 8 << 20;
/// Image configs larger than this are refused.
pub const MAX_CONFIG_BYTES: u64 = 32 << 20;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    #[error("invalid image reference {input:?}: {reason}")]
    InvalidReference { input: String, reason: String },
    #[error("invalid platform {input:?}: expected os/arch[/variant], e.g. linux/arm64")]
    InvalidPlatform { input: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("reading {what}: {source}")]
    Read {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} is not valid JSON: {source}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{what} is malformed: {reason}")]
    Malformed { what: String, reason: String },
    #[error("{what} is larger than the {limit}-byte limit")]
    TooLarge { what: String, limit: u64 },
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("size mismatch for {what}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        what: String,
        expected: u64,
        actual: u64,
    },
    #[error("blob {digest} not found{}", in_where(.location))]
    MissingBlob { digest: Digest, location: String },
    #[error("unknown media type {media_type:?} for {what}")]
    UnknownMediaType {
        what: &'static str,
        media_type: String,
    },
    #[error("no image for platform {wanted}; available: {}", list(.available))]
    NoMatchingPlatform {
        wanted: String,
        available: Vec<String>,
    },
    #[error("{what} not found{}", in_where(.location))]
    NotFound { what: String, location: String },
    #[error(
        "{location} holds several images ({}); choose one with :TAG or @DIGEST",
        list(.choices)
    )]
    Ambiguous {
        location: String,
        choices: Vec<String>,
    },
    #[error("registry {registry}: {message}")]
    Registry { registry: String, message: String },
    #[error("registry {registry}: authentication failed: {message}")]
    Unauthorized { registry: String, message: String },
}

fn in_where(location: &str) -> String {
    if location.is_empty() {
        String::new()
    } else {
        format!(" in {location}")
    }
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

impl ImageError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn read(what: impl Into<String>, source: std::io::Error) -> Self {
        Self::Read {
            what: what.into(),
            source,
        }
    }
}

/// A layer of a resolved image.
#[derive(Debug, Clone)]
pub struct Layer {
    /// Position in the manifest, 0 = base layer.
    pub index: usize,
    /// Digest of the blob as stored (compressed for compressed layers).
    pub digest: Digest,
    /// Digest of the uncompressed tar, from the config's `rootfs.diff_ids`.
    pub diff_id: Option<Digest>,
    pub media_type: String,
    /// Stored size in bytes, when the descriptor gives it.
    pub size: Option<u64>,
    pub compression: Compression,
    pub non_distributable: bool,
    /// Where the blob lives inside the source (a path inside a docker archive, say).
    pub(crate) blob: BlobPath,
}

#[derive(Debug, Clone)]
pub(crate) enum BlobPath {
    /// Content-addressed: `blobs/<alg>/<hex>` in a layout, or the registry blob endpoint.
    Digest,
    /// A named file, as in classic `docker save` archives (`<id>/layer.tar`).
    Path(String),
}

/// A resolved image: its identity, config and layers, and the source to stream them from.
#[derive(Debug)]
pub struct Image {
    /// What the user asked for, for display (`oci:dir:tag`, `registry/repo:tag`).
    pub name: String,
    /// The digest of the chosen image manifest; for classic docker archives, which have
    /// none, the config digest (Docker's image ID).
    pub manifest_digest: Digest,
    /// The index the manifest was chosen from, if any.
    pub index_digest: Option<Digest>,
    pub config_digest: Digest,
    pub config: Config,
    pub layers: Vec<Layer>,
    /// Tags the source attaches to this image (`repo:tag` or plain tag names).
    pub tags: Vec<String>,
    /// Things worth telling the user that did not stop the resolution.
    pub notes: Vec<Note>,
    store: Store,
}

#[derive(Debug)]
enum Store {
    Layout(layout::Layout),
    Registry(registry::RepoClient),
}

/// Options for resolving images.
#[derive(Debug, Clone, Default)]
pub struct ResolveOptions {
    pub platform: Option<PlatformSpec>,
    pub registry: RegistryOptions,
}

impl Image {
    /// Resolves a source to an image. `dir:` and `sbom:` sources are not images and give
    /// an error here; the engine reads them directly.
    pub fn resolve(source: &ImageSource, options: &ResolveOptions) -> Result<Self, ImageError> {
        let platform = options.platform.clone().unwrap_or_default();
        match source {
            ImageSource::OciLayout { dir, selector } => {
                let fs = fs::BlobFs::dir(dir.clone());
                let name = match selector {
                    Selector::Default => format!("oci:{}", dir.display()),
                    Selector::Tag(t) => format!("oci:{}:{t}", dir.display()),
                    Selector::Digest(d) => format!("oci:{}@{d}", dir.display()),
                };
                layout::Layout::new(fs, name).resolve(selector, &platform)
            }
            ImageSource::DockerArchive { file } => archive::resolve(file, &platform),
            ImageSource::Registry(reference) => {
                registry::resolve(reference, &platform, &options.registry)
            }
            ImageSource::Dir { path } | ImageSource::Sbom { file: path } => {
                Err(ImageError::InvalidReference {
                    input: path.display().to_string(),
                    reason: "not an image source".to_owned(),
                })
            }
        }
    }

    /// Opens the stored (possibly compressed) bytes of a layer, verified against the
    /// layer's digest and size as they stream.
    pub fn open_layer(&self, layer: &Layer) -> Result<Box<dyn Read + Send>, ImageError> {
        let raw: Box<dyn Read + Send> = match &self.store {
            Store::Layout(l) => l.open_blob(&layer.digest, &layer.blob)?,
            Store::Registry(r) => r.open_blob(&layer.digest)?,
        };
        Ok(Box::new(VerifyingReader::new(
            raw,
            layer.digest.clone(),
            layer.size,
            format!("layer {} ({})", layer.index, layer.digest),
        )))
    }
}
