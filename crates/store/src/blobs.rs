//! A content-addressed blob store on the file system: `blobs/sha256/<hex>`, written to a
//! temporary file in the same directory and renamed into place, so a blob is either whole
//! or absent.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlobError {
    #[error("blob store {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("not a blob digest: {0:?} (expected sha256:<64 hex digits>)")]
    BadDigest(String),
}

#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
}

impl BlobStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn dir(&self) -> PathBuf {
        self.root.join("sha256")
    }

    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BlobError + '_ {
        move |source| BlobError::Io {
            path: path.to_owned(),
            source,
        }
    }

    /// Stores `data`; returns its digest `sha256:<hex>`.
    pub fn put(&self, data: &[u8]) -> Result<String, BlobError> {
        let hex = hex::encode(Sha256::digest(data));
        let dir = self.dir();
        let path = dir.join(&hex);
        if path.exists() {
            return Ok(format!("sha256:{hex}"));
        }
        std::fs::create_dir_all(&dir).map_err(Self::io(&dir))?;
        let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(Self::io(&dir))?;
        tmp.write_all(data).map_err(Self::io(&path))?;
        tmp.as_file().sync_all().map_err(Self::io(&path))?;
        tmp.persist(&path).map_err(|e| BlobError::Io {
            path: path.clone(),
            source: e.error,
        })?;
        Ok(format!("sha256:{hex}"))
    }

    /// The path of a stored blob, `None` when it is absent.
    pub fn path(&self, digest: &str) -> Result<Option<PathBuf>, BlobError> {
        let hex = digest
            .strip_prefix("sha256:")
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| BlobError::BadDigest(digest.to_owned()))?;
        let path = self.dir().join(hex.to_ascii_lowercase());
        Ok(path.exists().then_some(path))
    }

    pub fn get(&self, digest: &str) -> Result<Option<Vec<u8>>, BlobError> {
        match self.path(digest)? {
            Some(p) => std::fs::read(&p).map(Some).map_err(Self::io(&p)),
            None => Ok(None),
        }
    }
}
