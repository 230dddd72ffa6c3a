//! Stage ② of the pipeline: each layer is streamed once through its decompressor and a tar
//! reader; only the files some cataloger asked for (one compiled glob set) are kept, with
//! every symlink, and what a [`Probe`] extracts from archives and executables as they
//! stream past. Layers are then merged in order, applying whiteouts, opaque directories
//! and hard links, into the final file view, where each kept file remembers the layer that
//! last wrote it. Paths are normalised and confined to the image root.

pub mod cache;
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

/// Reads files during the layer walk and keeps only what it extracts from them, never the
/// whole file: archives it claims by path (a Java archive's artifacts), and executables no
/// glob asked for, by their first bytes (a binary's build information).
pub trait Probe: Send + Sync + std::fmt::Debug {
    /// Whether a file at `path` that no glob keeps is read through [`Probe::extract`].
    fn reads(&self, _path: &str) -> bool {
        false
    }
    /// Whether an executable starting with `head` (its first [`PROBE_HEAD`] bytes, fewer
    /// when the file is shorter) is of interest.
    fn wants(&self, head: &[u8]) -> bool;
    /// Reads the file at `path` from its start (`size` bytes) and returns what to keep, if
    /// anything. It may stop reading early; it must not hold the whole of a large file.
    /// An error is the stream's: what the file itself gets wrong belongs in what it keeps.
    fn extract(&self, path: &str, file: &mut dyn Read, size: u64) -> io::Result<Option<Vec<u8>>>;
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
    /// Whether the file at `path` is kept whole.
    pub fn is_match(&self, path: &str) -> bool {
        self.globs.is_match(path)
    }

    /// Whether the probe reads the file at `path` whatever its mode.
    pub fn reads(&self, path: &str) -> bool {
        self.probe.as_ref().is_some_and(|p| p.reads(path))
    }

    /// Runs the probe over an executable that starts with `head` and continues in `rest`.
    pub(crate) fn probe_file(
        &self,
        path: &str,
        head: &[u8],
        rest: &mut dyn Read,
        size: u64,
    ) -> io::Result<Option<Vec<u8>>> {
        match &self.probe {
            Some(p) if p.wants(head) => p.extract(path, &mut head.chain(rest), size),
            _ => Ok(None),
        }
    }

    /// Runs the probe over a file it claims by path.
    pub(crate) fn read_claimed(
        &self,
        path: &str,
        file: &mut dyn Read,
        size: u64,
    ) -> io::Result<Option<Vec<u8>>> {
        match &self.probe {
            Some(p) => p.extract(path, file, size),
            None => Ok(None),
        }
    }
}

/// Reads up to [`PROBE_HEAD`] bytes.
pub(crate) fn read_head(r: &mut dyn Read) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(PROBE_HEAD);
    r.take(PROBE_HEAD as u64).read_to_end(&mut head)?;
    Ok(head)
}
