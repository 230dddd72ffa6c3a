//! Streaming one layer: sniff the compression, decompress under a size and ratio guard,
//! walk the tar entries once, and record what the layer changes.

use std::io::{self, BufRead, BufReader, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ferret_model::{Digest, Note};

use crate::path::{PathProblem, join, normalize, split_parent};
use crate::{LayerError, Limits, Wanted, digest_label};

const BUF: usize = 256 << 10;

/// One layer to read: its position, the digest to attribute files to (the diff ID when
/// known), and the stored (possibly compressed) bytes.
pub struct LayerInput {
    pub index: usize,
    pub digest: Option<Digest>,
    pub reader: Box<dyn Read + Send>,
    /// The stored size, for the decompression-ratio guard.
    pub stored_size: Option<u64>,
}

impl std::fmt::Debug for LayerInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LayerInput")
            .field("index", &self.index)
            .field("digest", &self.digest)
            .finish_non_exhaustive()
    }
}

/// The content of a wanted regular file.
#[derive(Debug, Clone)]
pub enum Content {
    Kept(Arc<[u8]>),
    /// Larger than [`Limits::max_file_size`]: not read.
    TooLarge(u64),
    /// What the [`crate::Probe`] extracted from an executable no glob asked for.
    Probed(Arc<[u8]>),
}

/// What one tar entry does to the file system, in tar order.
#[derive(Debug, Clone)]
pub enum Change {
    /// `.wh.NAME`: removes `path` from lower layers.
    Whiteout(String),
    /// `.wh..wh..opq`: hides everything lower layers put under this directory.
    Opaque(String),
    File {
        path: String,
        content: Content,
    },
    Symlink {
        path: String,
        target: String,
    },
    Hardlink {
        path: String,
        target: String,
    },
    Dir(String),
    /// A file nobody asked for, a device or a FIFO: it replaces what was there.
    Other(String),
}

/// Everything one layer changes, with the notes about entries that were skipped.
#[derive(Debug, Default)]
pub struct LayerDiff {
    pub index: usize,
    pub digest: Option<Digest>,
    pub changes: Vec<Change>,
    pub notes: Vec<Note>,
    /// Bytes read from storage.
    pub stored_bytes: u64,
    /// Bytes after decompression.
    pub tar_bytes: u64,
}

/// Called with each chunk of stored bytes read, for progress display.
pub type Progress<'a> = &'a (dyn Fn(u64) + Sync);

struct Counting<'p, R> {
    inner: R,
    count: Arc<AtomicU64>,
    progress: Progress<'p>,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        (self.progress)(n as u64);
        Ok(n)
    }
}

/// Stops decompression that grows past the layer size cap, or past the ratio cap.
struct BombGuard<R> {
    inner: R,
    out: u64,
    stored: Arc<AtomicU64>,
    stored_size: Option<u64>,
    limits: Limits,
}

impl<R: Read> Read for BombGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out += n as u64;
        if self.out > self.limits.max_layer_size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "decompresses to more than {} bytes (size cap)",
                    self.limits.max_layer_size
                ),
            ));
        }
        if self.out > self.limits.ratio_floor {
            let stored = self
                .stored_size
                .unwrap_or(0)
                .max(self.stored.load(Ordering::Relaxed))
                .max(1);
            if self.out / stored > self.limits.max_ratio {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "decompression ratio above {}:1 ({} bytes from {stored}); refusing a decompression bomb",
                        self.limits.max_ratio, self.out
                    ),
                ));
            }
        }
        Ok(n)
    }
}

enum Codec {
    Gzip,
    Zstd,
    None,
}

fn sniff(head: &[u8]) -> Codec {
    if head.starts_with(&[0x1f, 0x8b]) {
        Codec::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Codec::Zstd
    } else {
        Codec::None
    }
}

/// Reads one layer, keeping the wanted files. The stored stream is always read to its end
/// (so a verifying reader underneath checks the digest) before this returns.
pub fn read_layer(
    input: LayerInput,
    wanted: &Wanted,
    limits: &Limits,
    progress: Progress<'_>,
) -> Result<LayerDiff, LayerError> {
    let LayerInput {
        index,
        digest,
        reader,
        stored_size,
    } = input;
    let label = digest_label(&digest);
    let io_err = |source: io::Error| LayerError::Io {
        index,
        digest: label.clone(),
        source,
    };
    let stored = Arc::new(AtomicU64::new(0));
    let mut raw = Counting {
        inner: reader,
        count: stored.clone(),
        progress,
    };
    let mut diff = LayerDiff {
        index,
        digest: digest.clone(),
        ..LayerDiff::default()
    };
    {
        let mut buffered = BufReader::with_capacity(BUF, &mut raw);
        let codec = sniff(buffered.fill_buf().map_err(&io_err)?);
        let decoded: Box<dyn Read + '_> = match codec {
            Codec::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
            Codec::Zstd => {
                Box::new(zstd::stream::read::Decoder::with_buffer(buffered).map_err(&io_err)?)
            }
            Codec::None => Box::new(buffered),
        };
        let guarded = BombGuard {
            inner: decoded,
            out: 0,
            stored: stored.clone(),
            stored_size,
            limits: limits.clone(),
        };
        let mut archive = tar::Archive::new(BufReader::with_capacity(BUF, guarded));
        walk(&mut archive, &mut diff, wanted, limits, &io_err)?;
        // Drain what follows the end-of-archive marker, so the whole stream is checked.
        let mut rest = archive.into_inner();
        io::copy(&mut rest, &mut io::sink()).map_err(&io_err)?;
        diff.tar_bytes = rest.get_ref().out;
    }
    io::copy(&mut raw, &mut io::sink()).map_err(&io_err)?;
    diff.stored_bytes = stored.load(Ordering::Relaxed);
    Ok(diff)
}

fn walk<R: Read>(
    archive: &mut tar::Archive<R>,
    diff: &mut LayerDiff,
    wanted: &Wanted,
    limits: &Limits,
    io_err: &dyn Fn(io::Error) -> LayerError,
) -> Result<(), LayerError> {
    let layer_digest = diff.digest.clone();
    let note = |path: &str, message: String| {
        Note::new("layers", message)
            .with_path(path)
            .with_layer(layer_digest.clone())
    };
    let mut count = 0u64;
    for entry in archive.entries().map_err(io_err)? {
        let mut entry = entry.map_err(io_err)?;
        count += 1;
        if count > limits.max_entries {
            return Err(LayerError::Corrupt {
                index: diff.index,
                digest: digest_label(&diff.digest),
                message: format!("more than {} entries", limits.max_entries),
            });
        }
        let raw_name = entry.path().map_err(io_err)?.to_string_lossy().into_owned();
        let path = match normalize(&raw_name) {
            Ok(p) => p,
            Err(PathProblem::Empty) => continue,
            Err(problem) => {
                let why = match problem {
                    PathProblem::Absolute => "absolute path",
                    _ => "path climbs out of the root with '..'",
                };
                diff.notes
                    .push(note(&raw_name, format!("tar entry ignored: {why}")));
                continue;
            }
        };
        let (parent, name) = split_parent(&path);
        if let Some(hidden) = name.strip_prefix(".wh.") {
            if hidden == ".wh..opq" {
                diff.changes.push(Change::Opaque(parent.to_owned()));
            } else if !hidden.starts_with(".wh.") {
                diff.changes.push(Change::Whiteout(join(parent, hidden)));
            }
            continue;
        }
        let kind = entry.header().entry_type();
        let change = if kind.is_dir() {
            Change::Dir(path)
        } else if kind.is_symlink() {
            match entry.link_name().map_err(io_err)? {
                Some(target) => Change::Symlink {
                    path,
                    target: target.to_string_lossy().into_owned(),
                },
                None => Change::Other(path),
            }
        } else if kind.is_hard_link() {
            let target = entry
                .link_name()
                .map_err(io_err)?
                .map(|t| t.to_string_lossy().into_owned())
                .unwrap_or_default();
            // Hard link names are relative to the root; a leading '/' is tolerated.
            match normalize(target.trim_start_matches('/')) {
                Ok(target) if wanted.is_match(&path) || wanted.reads(&path) => {
                    Change::Hardlink { path, target }
                }
                Ok(_) => Change::Other(path),
                Err(_) => {
                    diff.notes.push(note(
                        &path,
                        format!("hard link to {target:?} ignored: outside the root"),
                    ));
                    Change::Other(path)
                }
            }
        } else if kind.is_file() || kind == tar::EntryType::Continuous || kind.is_gnu_sparse() {
            let claimed = !wanted.is_match(&path) && wanted.reads(&path);
            if wanted.is_match(&path) || claimed {
                let size = entry.size();
                if size > limits.max_file_size {
                    diff.notes.push(note(
                        &path,
                        format!(
                            "file of {size} bytes exceeds the {}-byte limit; not read",
                            limits.max_file_size
                        ),
                    ));
                    Change::File {
                        path,
                        content: Content::TooLarge(size),
                    }
                } else if claimed {
                    match wanted
                        .read_claimed(&path, &mut entry, size)
                        .map_err(io_err)?
                    {
                        Some(found) => Change::File {
                            path,
                            content: Content::Probed(found.into()),
                        },
                        None => Change::Other(path),
                    }
                } else {
                    let mut buf = Vec::with_capacity(size as usize);
                    entry.read_to_end(&mut buf).map_err(io_err)?;
                    Change::File {
                        path,
                        content: Content::Kept(buf.into()),
                    }
                }
            } else if wanted.probe.is_some() && entry.header().mode().is_ok_and(|m| m & 0o111 != 0)
            {
                let size = entry.size();
                let head = crate::read_head(&mut entry).map_err(io_err)?;
                match wanted
                    .probe_file(&path, &head, &mut entry, size)
                    .map_err(io_err)?
                {
                    Some(found) => Change::File {
                        path,
                        content: Content::Probed(found.into()),
                    },
                    None => Change::Other(path),
                }
            } else {
                Change::Other(path)
            }
        } else {
            Change::Other(path)
        };
        diff.changes.push(change);
    }
    Ok(())
}
