//! A content-addressed blob store for SBOMs and reports: `sha256/<hex>` on the file
//! system (the default), or in an S3-compatible bucket (`s3://bucket/prefix`, through
//! `object_store`; a PUT is atomic there), so that several hubs on several machines serve
//! each other's results.
//!
//! On the file system one thread writes blobs in groups: every blob waiting is written to
//! a temporary file in the same directory and renamed into place, then the file system is
//! synced once; only then do the writers hear back. So a blob is on disk before the
//! database can name it, at the cost of one sync per group rather than one per blob. A
//! crash before the sync can leave a short file under a blob's name (the rename reached the
//! disk, not all of the data); nobody has heard of it, and the next write of that blob sees
//! the wrong size and writes it again.

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
    Fs(PathBuf, Arc<FsWriter>),
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
        let root = root.into();
        let writer = Arc::new(FsWriter::start(root.join("sha256")));
        Self {
            backend: Backend::Fs(root, writer),
        }
    }

    /// The blob store `location` names: `s3://bucket[/prefix]` (see [`BlobStore::s3`]), or a
    /// directory, as `file:///path` or a plain path.
    pub fn open(location: &str, options: &[(String, String)]) -> Result<Self, BlobError> {
        if location.starts_with("s3:") {
            return Self::s3(location, options);
        }
        if let Some(path) = location.strip_prefix("file://") {
            return Ok(Self::new(path));
        }
        if location.contains("://") || location.is_empty() {
            return Err(BlobError::Config {
                url: location.to_owned(),
                message: "expected s3://bucket[/prefix], file:///path or a path".to_owned(),
            });
        }
        Ok(Self::new(location))
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
            Backend::Fs(root, _) => root.display().to_string(),
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
            Backend::Fs(_, writer) => writer.put(hex, data).await,
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

    /// A stored blob, `None` when it is absent.
    pub async fn get(&self, digest: &str) -> Result<Option<Vec<u8>>, BlobError> {
        let hex = hex_of(digest)?;
        match &self.backend {
            Backend::Fs(root, _) => {
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

/// Who waits for a blob to be written.
type Reply = tokio::sync::oneshot::Sender<Result<(), BlobError>>;

/// One blob waiting to be written, and who waits for it.
type Pending = (String, Vec<u8>, Reply);

/// A blob written to a temporary file (until renamed), where it goes, and who waits.
type Staged = (Option<tempfile::TempPath>, PathBuf, Vec<Reply>);

/// Bytes one group takes at most before it is written out.
const GROUP_BYTES: usize = 64 << 20;

/// The thread that writes file-system blobs in groups.
#[derive(Debug)]
struct FsWriter {
    dir: PathBuf,
    queue: std::sync::Mutex<std::sync::mpsc::Sender<Pending>>,
}

impl FsWriter {
    fn start(dir: PathBuf) -> Self {
        let (tx, rx) = std::sync::mpsc::channel::<Pending>();
        let thread_dir = dir.clone();
        // The thread ends when the last sender (the last clone of the store) is gone.
        let spawned = std::thread::Builder::new()
            .name("ferret-blob-writer".to_owned())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut group = vec![first];
                    let mut bytes = group[0].1.len();
                    while bytes < GROUP_BYTES {
                        match rx.try_recv() {
                            Ok(p) => {
                                bytes += p.1.len();
                                group.push(p);
                            }
                            Err(_) => break,
                        }
                    }
                    write_group(&thread_dir, group);
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "starting the blob writer");
        }
        Self {
            dir,
            queue: std::sync::Mutex::new(tx),
        }
    }

    async fn put(&self, hex: String, data: Vec<u8>) -> Result<(), BlobError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let gone = || BlobError::Io {
            path: self.dir.clone(),
            source: std::io::Error::other("the blob writer stopped"),
        };
        self.queue
            .lock()
            .map_err(|_| gone())?
            .send((hex, data, reply))
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

/// Writes a group: temporary files, one sync, renames, another sync; then answers each.
fn write_group(dir: &Path, group: Vec<Pending>) {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| BlobError::Io { path, source }
    };
    if let Err(e) = std::fs::create_dir_all(dir) {
        let message = e.to_string();
        for (_, _, reply) in group {
            let _ = reply.send(Err(BlobError::Io {
                path: dir.to_owned(),
                source: std::io::Error::other(message.clone()),
            }));
        }
        return;
    }
    // Written (or already there), each with its answer.
    let mut staged: Vec<Staged> = Vec::new();
    let mut answers_now = Vec::new();
    for (hex, data, reply) in group {
        let path = dir.join(&hex);
        if let Some(s) = staged.iter_mut().find(|s| s.1 == path) {
            s.2.push(reply);
            continue;
        }
        // Already there, whole: every blob is synced before anyone hears of it, so one of
        // the right size is the one (a crash can leave a short one behind, rewritten here).
        if std::fs::metadata(&path).is_ok_and(|m| m.len() == data.len() as u64) {
            answers_now.push((reply, Ok(())));
            continue;
        }
        let written = tempfile::NamedTempFile::new_in(dir)
            .map_err(io(dir))
            .and_then(|mut tmp| {
                tmp.write_all(&data).map_err(io(&path))?;
                Ok(tmp.into_temp_path())
            });
        match written {
            Ok(tmp) => staged.push((Some(tmp), path, vec![reply])),
            Err(e) => answers_now.push((reply, Err(e))),
        }
    }
    for (reply, r) in answers_now {
        let _ = reply.send(r);
    }
    if staged.is_empty() {
        return;
    }
    // Renamed into place, then one sync for their data and names together: nobody hears
    // of a blob before it is on disk.
    for (tmp, path, replies) in &mut staged {
        if let Some(tmp) = tmp.take()
            && let Err(e) = tmp.persist(&*path)
        {
            for reply in replies.drain(..) {
                let _ = reply.send(Err(BlobError::Io {
                    path: path.clone(),
                    source: std::io::Error::other(e.error.to_string()),
                }));
            }
        }
    }
    let synced = sync(dir).map_err(|e| e.to_string());
    for (_, path, replies) in staged {
        for reply in replies {
            let _ = reply.send(synced.clone().map_err(|e| BlobError::Io {
                path: path.clone(),
                source: std::io::Error::other(e),
            }));
        }
    }
}

/// Syncs the file system holding `dir`: one call for every file written since.
fn sync(dir: &Path) -> std::io::Result<()> {
    let d = std::fs::File::open(dir)?;
    rustix::fs::syncfs(&d).map_err(std::io::Error::from)
}
