//! Shared nouns of the Ferret pipeline, with no I/O: content digests, the distro an image
//! runs, the packages catalogers find, where they were found, and the soft errors a scan
//! collects on the way. Every other crate speaks in these types.

mod digest;
mod distro;
mod ecosystem;
mod inventory;
mod package;
mod rating;
mod severity;

pub use digest::{Digest, DigestAlgorithm, DigestError, Hasher};
pub use distro::Distro;
pub use ecosystem::{Ecosystem, UnknownEcosystem};
pub use inventory::{
    CatalogerState, CatalogerStatus, GoSymbolsFound, Inventory, LayerInfo, SourceInfo, SourceKind,
};
pub use package::{
    ApkMetadata, DpkgMetadata, JavaMetadata, LangMetadata, LayerRef, Location, NpmMetadata,
    NpmRole, Package, PackageKind, PackageMetadata, PythonMetadata, RpmMetadata, SbomMetadata,
    SourcePackage,
};
pub use rating::{CveFact, Epss, Kev, RatingSource, RawRating, SourceRating};
pub use severity::{AtcrSummary, Counts, Severity};

use serde::{Deserialize, Serialize};

/// A problem with one file or entry that did not stop the scan: recorded with where it
/// happened, and the rest of the input is still read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Note {
    /// What produced the note: a cataloger name (`os/dpkg`), `layers`, `image`, ...
    pub source: String,
    /// The path inside the image, when the note is about a file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The layer the file or entry came from, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<Digest>,
    pub message: String,
}

impl Note {
    pub fn new(source: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            path: None,
            layer: None,
            message: message.into(),
        }
    }

    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    pub fn with_layer(mut self, layer: Option<Digest>) -> Self {
        self.layer = layer;
        self
    }
}

impl std::fmt::Display for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.source)?;
        if let Some(path) = &self.path {
            write!(f, ": /{path}")?;
        }
        if let Some(layer) = &self.layer {
            write!(f, " (layer {})", layer.short())?;
        }
        write!(f, ": {}", self.message)
    }
}
