//! A content-addressed blob store for SBOMs and reports: `sha256/<hex>` on the file
//! system (the default; written to a temporary file in the same directory, synced and
//! renamed into place, so a blob is either whole or absent), or in an S3-compatible
//! bucket (`s3://bucket/prefix`, through `object_store`; a PUT is atomic there), so that
//! several hubs on several machines serve each other's results.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt as _, PutPayload};
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
    #[error("blob store {url}: {message}")]
    Object { url: String, message: String },
    #[error("not a blob digest: {0:?} (expected sha256:<64 hex digits>)")]
    BadDigest(String),
    #[error("blob store URL {url:?}: {message}")]
    Config { url: String, message: String },
}

#[derive(Debug, Clone)]
enum Backend {
    Fs(PathBuf),
    Object {
        store: Arc<dyn ObjectStore>,
        url: String,
        prefix: String,
    },
}

#[derive(Debug, Clone)]
pub struct BlobStore {
    backend: Backend,
}

/// `sha256:<hex>` → the lower-case hex.
fn hex_of(digest: &str) -> Result<String, BlobError> {
    digest
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_ascii_lowercase)
        .ok_or_else(|| BlobError::BadDigest(digest.to_owned()))
}

impl BlobStore {
    /// Blobs on the file system under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            backend: Backend::Fs(root.into()),
        }
    }

    /// Blobs in the S3-compatible bucket `url` (`s3://bucket[/prefix]`), with `options`
    /// as `object_store`'s S3 keys (`aws_access_key_id`, `aws_endpoint`, `aws_region`,
    /// `aws_allow_http`, … — the names of the usual `AWS_*` variables, lower-cased).
    pub fn s3(url: &str, options: &[(String, String)]) -> Result<Self, BlobError> {
        let config = |message: String| BlobError::Config {
            url: url.to_owned(),
            message,
        };
        let parsed = url::Url::parse(url).map_err(|e| config(e.to_string()))?;
        if parsed.scheme() != "s3" {
            return Err(config("expected s3://bucket[/prefix]".to_owned()));
        }
        let bucket = parsed
            .host_str()
            .filter(|b| !b.is_empty())
            .ok_or_else(|| config("names no bucket".to_owned()))?;
        let mut builder = AmazonS3Builder::new().with_bucket_name(bucket);
        for (key, value) in options {
            let Ok(key) = key.to_ascii_lowercase().parse::<AmazonS3ConfigKey>() else {
                return Err(config(format!("unknown S3 option {key:?}")));
            };
            builder = builder.with_config(key, value);
        }
        let store = builder.build().map_err(|e| config(e.to_string()))?;
        Ok(Self {
            backend: Backend::Object {
                store: Arc::new(store),
                url: url.to_owned(),
                prefix: parsed.path().trim_matches('/').to_owned(),
            },
        })
    }

    /// Whether `key` is an S3 option [`BlobStore::s3`] takes.
    pub fn s3_option_known(key: &str) -> bool {
        key.parse::<AmazonS3ConfigKey>().is_ok()
    }

    /// Where the blobs are, for logs.
    pub fn location(&self) -> String {
        match &self.backend {
            Backend::Fs(root) => root.display().to_string(),
            Backend::Object { url, .. } => url.clone(),
        }
    }

    fn object_path(prefix: &str, hex: &str) -> ObjectPath {
        if prefix.is_empty() {
            ObjectPath::from(format!("sha256/{hex}"))
        } else {
            ObjectPath::from(format!("{prefix}/sha256/{hex}"))
        }
    }

    fn fs_io(path: &Path) -> impl FnOnce(std::io::Error) -> BlobError + '_ {
        move |source| BlobError::Io {
            path: path.to_owned(),
            source,
        }
    }

    fn object_err(url: &str) -> impl FnOnce(object_store::Error) -> BlobError + '_ {
        move |e| BlobError::Object {
            url: url.to_owned(),
            message: e.to_string(),
        }
    }

    /// The digest `data` is stored under: `sha256:<hex>`.
    pub fn digest_of(data: &[u8]) -> String {
        format!("sha256:{}", hex::encode(Sha256::digest(data)))
    }

    /// Stores `data`; returns its digest `sha256:<hex>`.
    pub async fn put(&self, data: Vec<u8>) -> Result<String, BlobError> {
        let data = tokio::task::spawn_blocking(move || {
            let d = Self::digest_of(&data);
            (d, data)
        })
        .await
        .map_err(|e| BlobError::Io {
            path: PathBuf::new(),
            source: std::io::Error::other(e),
        })?;
        self.put_as(&data.0, data.1).await?;
        Ok(data.0)
    }

    /// Stores `data`, whose SHA-256 the caller has computed, under `digest`.
    pub async fn put_as(&self, digest: &str, data: Vec<u8>) -> Result<(), BlobError> {
        let hex = hex_of(digest)?;
        match &self.backend {
            Backend::Fs(root) => {
                let dir = root.join("sha256");
                tokio::task::spawn_blocking(move || Self::put_file(&dir, &hex, &data))
                    .await
                    .map_err(|e| BlobError::Io {
                        path: PathBuf::new(),
                        source: std::io::Error::other(e),
                    })?
            }
            Backend::Object { store, url, prefix } => {
                let path = Self::object_path(prefix, &hex);
                store
                    .put(&path, PutPayload::from(data))
                    .await
                    .map_err(Self::object_err(url))?;
                Ok(())
            }
        }
    }

    fn put_file(dir: &Path, hex: &str, data: &[u8]) -> Result<(), BlobError> {
        let path = dir.join(hex);
        if path.exists() {
            return Ok(());
        }
        std::fs::create_dir_all(dir).map_err(Self::fs_io(dir))?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(Self::fs_io(dir))?;
        tmp.write_all(data).map_err(Self::fs_io(&path))?;
        tmp.as_file().sync_all().map_err(Self::fs_io(&path))?;
        tmp.persist(&path).map_err(|e| BlobError::Io {
            path: path.clone(),
            source: e.error,
        })?;
        Ok(())
    }

    /// A stored blob, `None` when it is absent.
    pub async fn get(&self, digest: &str) -> Result<Option<Vec<u8>>, BlobError> {
        let hex = hex_of(digest)?;
        match &self.backend {
            Backend::Fs(root) => {
                let path = root.join("sha256").join(hex);
                match tokio::fs::read(&path).await {
                    Ok(d) => Ok(Some(d)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(BlobError::Io { path, source: e }),
                }
            }
            Backend::Object { store, url, prefix } => {
                let path = Self::object_path(prefix, &hex);
                match store.get(&path).await {
                    Ok(r) => Ok(Some(
                        r.bytes().await.map_err(Self::object_err(url))?.to_vec(),
                    )),
                    Err(object_store::Error::NotFound { .. }) => Ok(None),
                    Err(e) => Err(Self::object_err(url)(e)),
                }
            }
        }
    }
}
