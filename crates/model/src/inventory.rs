//! What cataloging a source produced: the source's identity, its distro, packages and
//! notes, and how each cataloger's run went. The scan's reports render it.

use crate::{Digest, Distro, Note, Package};

/// What was scanned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    Image,
    Directory,
    /// An SBOM read instead of an image (`sbom:FILE`).
    Sbom,
}

/// The identity of the scanned source.
#[derive(Debug, Clone)]
pub struct SourceInfo {
    pub kind: SourceKind,
    /// What the user named.
    pub name: String,
    /// The image manifest digest; for directories a digest of the cataloged content.
    pub digest: Digest,
    pub config_digest: Option<Digest>,
    pub index_digest: Option<Digest>,
    pub tags: Vec<String>,
    pub architecture: Option<String>,
    pub os: Option<String>,
    /// When the image was built (from its config), else the fallback time; RFC 3339 UTC.
    pub created: String,
    pub layers: Vec<LayerInfo>,
}

#[derive(Debug, Clone)]
pub struct LayerInfo {
    pub index: usize,
    pub digest: Digest,
    pub diff_id: Option<Digest>,
    pub media_type: String,
    pub size: Option<u64>,
}

/// The packages of a source: what `ferret sbom` reports.
#[derive(Debug)]
pub struct Inventory {
    pub source: SourceInfo,
    pub distro: Option<Distro>,
    pub packages: Vec<Package>,
    pub notes: Vec<Note>,
    pub catalogers: Vec<CatalogerStatus>,
    /// Of the vulnerable Go symbols the scan looked for, those each Go binary holds.
    pub go_symbols: GoSymbolsFound,
}

/// Of the vulnerable Go symbols a scan looked for, those each Go binary holds
/// (`net/textproto.Reader.ReadMIMEHeader`), by the binary's path. A binary not listed was
/// not looked at (no advisory database, or it could not be read): its findings stand.
pub type GoSymbolsFound = std::collections::BTreeMap<String, std::collections::BTreeSet<String>>;

/// How a cataloger's run went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatalogerState {
    /// It read every file it was given without a problem (or had none).
    Succeeded,
    /// It produced packages but recorded problems.
    PartiallySucceeded,
    /// It recorded problems and produced nothing.
    Failed,
}

/// The outcome of one cataloger over one image.
#[derive(Debug, Clone)]
pub struct CatalogerStatus {
    pub name: &'static str,
    pub version: u32,
    pub files: usize,
    pub packages: usize,
    pub notes: usize,
    pub state: CatalogerState,
    pub millis: u128,
}
