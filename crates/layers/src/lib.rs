//! Stage ② of the pipeline: each layer is streamed once through its decompressor and a tar
//! reader; only the files some cataloger asked for (one compiled glob set) are kept, with
//! every symlink. Layers are then merged in order, applying whiteouts, opaque directories
//! and hard links, into the final file view, where each kept file remembers the layer that
//! last wrote it. Paths are normalised and confined to the image root.

mod dir;
mod path;
mod stream;
mod tree;

use std::io::{self, Read};

use globset::GlobSet;

pub use dir::read_dir;
pub use path::normalize;
pub use stream::{Change, Content, LayerDiff, LayerInput, Progress, read_layer};
pub use tree::{FileEntry, FileTree};

use ferret_model::Digest;

/// Bounds that keep memory and time in check on hostile input.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Wanted files larger than this are not kept; the scan records a per-file note.
    pub max_file_size: u64,
    /// The most bytes one layer may decompress to.
    pub max_layer_size: u64,
    /// The most a layer may expand relative to its stored size, once past
    /// `ratio_floor` bytes (decompression bombs).
    pub max_ratio: u64,
    pub ratio_floor: u64,
    /// The most tar entries in one layer.
    pub max_entries: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_file_size: 256 << 20,
            max_layer_size: 64 << 30,
            max_ratio: 1000,
            ratio_floor: 256 << 20,
            max_entries: 10_000_000,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LayerError {
    #[error("layer {index} ({digest}): {message}")]
    Corrupt {
        index: usize,
        digest: String,
        message: String,
    },
    #[error("layer {index} ({digest}): {source}")]
    Io {
        index: usize,
        digest: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Dir {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub(crate) fn digest_label(d: &Option<Digest>) -> String {
    d.as_ref()
        .map_or_else(|| "unknown digest".to_owned(), ToString::to_string)
}

/// Looks into executable files no glob asked for, by their first bytes, and keeps only
/// what it extracts from them (a binary's build information), never the whole file.
pub trait Probe: Send + Sync + std::fmt::Debug {
    /// Whether a file starting with `head` (its first [`PROBE_HEAD`] bytes, fewer when the
    /// file is shorter) is of interest.
    fn wants(&self, head: &[u8]) -> bool;
    /// Reads the file from its start (`size` bytes) and returns what to keep, if anything.
    /// It may stop reading early; it must not hold the whole of a large file.
    fn extract(&self, file: &mut dyn Read, size: u64) -> io::Result<Option<Vec<u8>>>;
}

/// How many leading bytes [`Probe::wants`] is shown.
pub const PROBE_HEAD: usize = 64;

/// What the layer walk keeps: files matching the glob set whole, and what the probe
/// extracts from executable files.
#[derive(Debug)]
pub struct Wanted {
    pub globs: GlobSet,
    pub probe: Option<Box<dyn Probe>>,
}

impl Wanted {
    pub fn is_match(&self, path: &str) -> bool {
        self.globs.is_match(path)
    }

    /// Runs the probe over a file that starts with `head` and continues in `rest`.
    pub(crate) fn probe_file(
        &self,
        head: &[u8],
        rest: &mut dyn Read,
        size: u64,
    ) -> io::Result<Option<Vec<u8>>> {
        match &self.probe {
            Some(p) if p.wants(head) => p.extract(&mut head.chain(rest), size),
            _ => Ok(None),
        }
    }
}

/// Reads up to [`PROBE_HEAD`] bytes.
pub(crate) fn read_head(r: &mut dyn Read) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(PROBE_HEAD);
    r.take(PROBE_HEAD as u64).read_to_end(&mut head)?;
    Ok(head)
}
