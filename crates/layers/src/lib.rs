//! Stage ② of the pipeline: each layer is streamed once through its decompressor and a tar
//! reader; only the files some cataloger asked for (one compiled glob set) are kept, with
//! every symlink. Layers are then merged in order, applying whiteouts, opaque directories
//! and hard links, into the final file view, where each kept file remembers the layer that
//! last wrote it. Paths are normalised and confined to the image root.

mod dir;
mod path;
mod stream;
mod tree;

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
