//! Read-only access to the files of an image store: a directory on disk, or the members
//! of an uncompressed tar archive (a `docker save` file), indexed once and then read by
//! seeking, so blobs stream straight out of the archive.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::ImageError;

/// Archives with more members than this are refused as hostile.
const MAX_ARCHIVE_MEMBERS: usize = 1 << 20;

#[derive(Debug)]
pub(crate) enum BlobFs {
    Dir(PathBuf),
    Tar(TarIndex),
}

#[derive(Debug)]
pub(crate) struct TarIndex {
    archive: PathBuf,
    files: HashMap<String, (u64, u64)>,
    links: HashMap<String, String>,
}

impl BlobFs {
    pub(crate) fn dir(root: PathBuf) -> Self {
        Self::Dir(root)
    }

    pub(crate) fn tar(archive: &Path) -> Result<Self, ImageError> {
        let file = File::open(archive).map_err(|e| ImageError::io(archive, e))?;
        let mut magic = [0u8; 4];
        let n = (&file)
            .take(4)
            .read(&mut magic)
            .map_err(|e| ImageError::io(archive, e))?;
        if n >= 2 && magic[..2] == [0x1f, 0x8b] || n == 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] {
            return Err(ImageError::Malformed {
                what: format!("docker archive {}", archive.display()),
                reason: "the archive is compressed; decompress it first (docker save writes a plain tar)"
                    .to_owned(),
            });
        }
        let file = File::open(archive).map_err(|e| ImageError::io(archive, e))?;
        let mut tar = tar::Archive::new(BufReader::with_capacity(256 << 10, file));
        let mut files = HashMap::new();
        let mut links = HashMap::new();
        let what = || format!("docker archive {}", archive.display());
        let entries = tar.entries().map_err(|e| ImageError::read(what(), e))?;
        for (count, entry) in entries.enumerate() {
            if count >= MAX_ARCHIVE_MEMBERS {
                return Err(ImageError::Malformed {
                    what: what(),
                    reason: format!("more than {MAX_ARCHIVE_MEMBERS} members"),
                });
            }
            let entry = entry.map_err(|e| ImageError::read(what(), e))?;
            let Ok(path) = entry.path() else { continue };
            let Some(name) = clean(&path.to_string_lossy()) else {
                continue;
            };
            let kind = entry.header().entry_type();
            if kind.is_file() {
                files.insert(name, (entry.raw_file_position(), entry.size()));
            } else if (kind.is_symlink() || kind.is_hard_link())
                && let Ok(Some(target)) = entry.link_name()
            {
                let target = target.to_string_lossy().into_owned();
                // Symlinks resolve against their directory, hard links against the root.
                let resolved = if kind.is_symlink() {
                    let dir = name.rsplit_once('/').map_or("", |(d, _)| d);
                    join(dir, &target)
                } else {
                    clean(&target)
                };
                if let Some(resolved) = resolved {
                    links.insert(name, resolved);
                }
            }
        }
        Ok(Self::Tar(TarIndex {
            archive: archive.to_owned(),
            files,
            links,
        }))
    }

    pub(crate) fn describe(&self, path: &str) -> String {
        match self {
            Self::Dir(root) => root.join(path).display().to_string(),
            Self::Tar(t) => format!("{}:{path}", t.archive.display()),
        }
    }

    pub(crate) fn exists(&self, path: &str) -> bool {
        match self {
            Self::Dir(root) => root.join(path).is_file(),
            Self::Tar(t) => t.lookup(path).is_some(),
        }
    }

    /// Opens a member; `Ok(None)` when it does not exist.
    pub(crate) fn open(&self, path: &str) -> Result<Option<Box<dyn Read + Send>>, ImageError> {
        match self {
            Self::Dir(root) => {
                let full = root.join(path);
                match File::open(&full) {
                    Ok(f) => Ok(Some(Box::new(BufReader::with_capacity(256 << 10, f)))),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(ImageError::io(full, e)),
                }
            }
            Self::Tar(t) => {
                let Some((offset, size)) = t.lookup(path) else {
                    return Ok(None);
                };
                let mut f = File::open(&t.archive).map_err(|e| ImageError::io(&t.archive, e))?;
                f.seek(SeekFrom::Start(offset))
                    .map_err(|e| ImageError::io(&t.archive, e))?;
                Ok(Some(Box::new(
                    BufReader::with_capacity(256 << 10, f).take(size),
                )))
            }
        }
    }

    /// Reads a whole member of at most `limit` bytes; `Ok(None)` when it does not exist.
    pub(crate) fn read(&self, path: &str, limit: u64) -> Result<Option<Vec<u8>>, ImageError> {
        let Some(r) = self.open(path)? else {
            return Ok(None);
        };
        let mut buf = Vec::new();
        r.take(limit + 1)
            .read_to_end(&mut buf)
            .map_err(|e| ImageError::read(self.describe(path), e))?;
        if buf.len() as u64 > limit {
            return Err(ImageError::TooLarge {
                what: self.describe(path),
                limit,
            });
        }
        Ok(Some(buf))
    }
}

impl TarIndex {
    fn lookup(&self, path: &str) -> Option<(u64, u64)> {
        let mut path = clean(path)?;
        for _ in 0..16 {
            if let Some(found) = self.files.get(&path) {
                return Some(*found);
            }
            path = self.links.get(&path)?.clone();
        }
        None
    }
}

/// Normalises an archive member name: no leading `./` or `/`, no `.` components; `None`
/// when it climbs out with `..`.
pub(crate) fn clean(path: &str) -> Option<String> {
    join("", path)
}

fn join(dir: &str, rel: &str) -> Option<String> {
    let mut parts: Vec<&str> = if rel.starts_with('/') {
        Vec::new()
    } else {
        dir.split('/').filter(|p| !p.is_empty()).collect()
    };
    for part in rel.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}
