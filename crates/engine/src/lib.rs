//! The facade over stages ①–③ and ⑤: resolve an image, stream its layers in parallel into
//! the final file view, catalog it, and match its packages against the advisory database.
//! Plain data in, plain data out; no clap, no env.

mod layer_cache;
mod matches;

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use ferret_catalog::Catalog;
pub use ferret_catalog::GoSymbolSet;
use ferret_image::{Image, ImageError, ImageSource, ResolveOptions};
use ferret_layers::{FileTree, LayerDiff, LayerError, LayerInput, Limits, read_dir, read_layer};
pub use ferret_model::{
    CatalogerState, CatalogerStatus, Inventory, LayerInfo, SourceInfo, SourceKind,
};
use ferret_model::{Digest, Distro};
pub use layer_cache::LayerCache;
pub use matches::{MatchCache, MatchOptions, Outcome, PackageMatches, Suppressed, match_inventory};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Layer(#[from] LayerError),
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Advisory(String),
    #[error("{0}")]
    Sbom(String),
}

/// How to run a scan.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    pub resolve: ResolveOptions,
    pub limits: Limits,
    /// Layers read at once.
    pub parallelism: usize,
    /// The document time for sources that carry none (`dir:`), RFC 3339.
    pub fallback_time: String,
    /// The distro to match against instead of the one the source names (`--distro`).
    pub distro: Option<Distro>,
    /// The vulnerable Go symbols to look for in Go binaries (the advisory database's
    /// [`ferret_advisory::Database::go_symbols`]); found ones land in
    /// [`Inventory::go_symbols`].
    pub go_symbols: Option<std::sync::Arc<ferret_catalog::GoSymbolSet>>,
    /// For an SBOM: the file system it describes, from which the Go binaries it lists are
    /// read for their symbols. Without it they are not, and no Go finding is suppressed.
    pub sbom_root: Option<std::path::PathBuf>,
    /// Layers read before, by diff ID (`--cache-dir`).
    pub layer_cache: Option<std::sync::Arc<LayerCache>>,
}

impl Default for ScanOptions {
    fn default() -> Self {
        Self {
            resolve: ResolveOptions::default(),
            limits: Limits::default(),
            parallelism: std::thread::available_parallelism()
                .map_or(2, |n| n.get())
                .min(8),
            fallback_time: "1970-01-01T00:00:00Z".to_owned(),
            distro: None,
            go_symbols: None,
            sbom_root: None,
            layer_cache: None,
        }
    }
}

/// Progress of a scan, for display.
#[derive(Debug, Clone, Copy)]
pub enum Event {
    /// The image is resolved: this many layers and stored bytes to read.
    Resolved { layers: usize, bytes: u64 },
    /// Stored bytes read.
    Read(u64),
    /// A layer is finished.
    LayerDone,
}

/// Catalogs the packages of an image or directory.
pub fn inventory(
    source: &ImageSource,
    options: &ScanOptions,
    progress: &(dyn Fn(Event) + Sync),
) -> Result<Inventory, EngineError> {
    let catalog = Catalog::with_go_symbols(options.go_symbols.clone());
    let (info, tree, mut notes) = match source {
        ImageSource::Dir { path } => {
            let tree = read_dir(path, catalog.wanted(), &options.limits)?;
            let info = SourceInfo {
                kind: SourceKind::Directory,
                name: format!("dir:{}", path.display()),
                digest: content_digest(&tree),
                config_digest: None,
                index_digest: None,
                tags: Vec::new(),
                architecture: None,
                os: None,
                created: options.fallback_time.clone(),
                layers: Vec::new(),
            };
            (info, tree, Vec::new())
        }
        ImageSource::Sbom { file } => return from_sbom(file, options),
        _ => {
            let image = Image::resolve(source, &options.resolve)?;
            let tree = read_layers(&image, &catalog, options, progress)?;
            let info = SourceInfo {
                kind: SourceKind::Image,
                name: image.name.clone(),
                digest: image.manifest_digest.clone(),
                config_digest: Some(image.config_digest.clone()),
                index_digest: image.index_digest.clone(),
                tags: image.tags.clone(),
                architecture: Some(image.config.architecture.clone()).filter(|s| !s.is_empty()),
                os: Some(image.config.os.clone()).filter(|s| !s.is_empty()),
                created: image
                    .config
                    .created
                    .as_deref()
                    .and_then(normalize_time)
                    .unwrap_or_else(|| options.fallback_time.clone()),
                layers: image
                    .layers
                    .iter()
                    .map(|l| LayerInfo {
                        index: l.index,
                        digest: l.digest.clone(),
                        diff_id: l.diff_id.clone(),
                        media_type: l.media_type.clone(),
                        size: l.size,
                    })
                    .collect(),
            };
            (info, tree, image.notes.clone())
        }
    };
    let mut result = catalog.run(&tree);
    if let Some(d) = &options.distro {
        result.distro = Some(d.clone());
    }
    notes.extend(tree.notes.iter().cloned());
    notes.extend(result.notes);
    notes.sort();
    notes.dedup();
    Ok(Inventory {
        source: info,
        distro: result.distro,
        packages: result.packages,
        notes,
        catalogers: result.catalogers,
        go_symbols: result.go_symbols,
    })
}

/// The largest SBOM read: documents are parsed whole, and the biggest real ones (every
/// file of a large image listed) stay well below this.
pub const MAX_SBOM_SIZE: u64 = 1 << 30;

/// The packages an SBOM describes, as an inventory.
fn from_sbom(file: &std::path::Path, options: &ScanOptions) -> Result<Inventory, EngineError> {
    let named = format!("sbom:{}", file.display());
    let fail = |message: String| EngineError::Sbom(format!("{named}: {message}"));
    let meta = std::fs::metadata(file).map_err(|e| fail(e.to_string()))?;
    if !meta.is_file() {
        return Err(fail("not a file".to_owned()));
    }
    if meta.len() > MAX_SBOM_SIZE {
        return Err(fail(format!(
            "{} bytes is larger than the {} MiB an SBOM may have",
            meta.len(),
            MAX_SBOM_SIZE >> 20
        )));
    }
    let bytes = std::fs::read(file).map_err(|e| fail(e.to_string()))?;
    sbom_inventory(&bytes, named, options)
}

/// The packages an SBOM document (SPDX or CycloneDX JSON) describes, as an inventory
/// named `named`: how `sbom:` sources are read.
pub fn sbom_inventory(
    bytes: &[u8],
    named: String,
    options: &ScanOptions,
) -> Result<Inventory, EngineError> {
    sbom_inventory_of(bytes, named, Digest::sha256_of(bytes), options)
}

/// [`sbom_inventory`] of a document whose digest is known (`digest`): how the hub matches a
/// stored SBOM again.
pub fn sbom_inventory_of(
    bytes: &[u8],
    named: String,
    digest: Digest,
    options: &ScanOptions,
) -> Result<Inventory, EngineError> {
    let sbom = ferret_sbom::read(bytes).map_err(|e| EngineError::Sbom(format!("{named}: {e}")))?;
    let distro = options.distro.clone().or(sbom.distro);
    let info = SourceInfo {
        kind: SourceKind::Sbom,
        name: named,
        digest,
        config_digest: None,
        index_digest: None,
        tags: Vec::new(),
        architecture: None,
        os: None,
        created: sbom
            .created
            .as_deref()
            .and_then(normalize_time)
            .unwrap_or_else(|| options.fallback_time.clone()),
        layers: Vec::new(),
    };
    let mut notes = sbom.notes;
    let go_symbols = match (&options.sbom_root, &options.go_symbols) {
        (Some(root), Some(wanted)) => sbom_go_symbols(&sbom.packages, root, wanted, &mut notes),
        _ => Default::default(),
    };
    notes.sort();
    notes.dedup();
    Ok(Inventory {
        source: info,
        distro,
        packages: sbom.packages,
        notes,
        catalogers: Vec::new(),
        go_symbols,
    })
}

/// The largest Go binary read for its symbols when an SBOM is scanned.
const MAX_GO_BINARY: u64 = 1 << 30;

/// For the Go binaries an SBOM lists (by the paths of its Go packages), read from the file
/// system under `root` that the SBOM describes: the vulnerable symbols each holds. A binary
/// that is missing, unreadable, or not the one the SBOM describes (its modules differ) is
/// skipped with a note: its findings stand.
fn sbom_go_symbols(
    packages: &[ferret_model::Package],
    root: &std::path::Path,
    wanted: &ferret_catalog::GoSymbolSet,
    notes: &mut Vec<ferret_model::Note>,
) -> ferret_model::GoSymbolsFound {
    use std::collections::{BTreeMap, BTreeSet};
    let mut by_path: BTreeMap<&str, BTreeSet<(&str, &str)>> = BTreeMap::new();
    for p in packages {
        if p.kind == ferret_model::PackageKind::GoModule && !p.location.path.is_empty() {
            by_path
                .entry(p.location.path.as_str())
                .or_default()
                .insert((p.name.as_str(), p.version.as_str()));
        }
    }
    let mut out = BTreeMap::new();
    for (path, listed) in by_path {
        let note = |m: String| {
            ferret_model::Note::new(
                "lang/go",
                format!("{m}: its findings are not checked for the vulnerable code"),
            )
            .with_path(path)
        };
        let relative = std::path::Path::new(path);
        if relative
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            notes.push(note("not a path inside the SBOM's root".to_owned()));
            continue;
        }
        let file = root.join(relative);
        let read = std::fs::metadata(&file).and_then(|m| match m.len() {
            n if n > MAX_GO_BINARY => Err(std::io::Error::other(format!(
                "{n} bytes is more than the {} MiB read",
                MAX_GO_BINARY >> 20
            ))),
            _ => std::fs::read(&file),
        });
        let data = match read {
            Ok(d) => d,
            Err(e) => {
                notes.push(note(format!("{}: {e}", file.display())));
                continue;
            }
        };
        let Some(binary) = ferret_catalog::read_go_binary(&data, wanted) else {
            notes.push(note(format!("{} is not a Go binary", file.display())));
            continue;
        };
        let modules: BTreeSet<(&str, &str)> = binary
            .modules
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        if let Some((n, v)) = listed.iter().find(|m| !modules.contains(*m)) {
            notes.push(note(format!(
                "{} does not hold {n} {v}, which the SBOM lists there",
                file.display()
            )));
            continue;
        }
        match binary.symbols {
            Ok(found) => {
                out.insert(path.to_owned(), found);
            }
            Err(e) => notes.push(note(e.to_string())),
        }
    }
    out
}

/// RFC 3339 timestamps normalised to whole seconds in UTC (`2024-01-02T03:04:05Z`).
pub fn normalize_time(t: &str) -> Option<String> {
    chrono::DateTime::parse_from_rfc3339(t).ok().map(|d| {
        d.with_timezone(&chrono::Utc)
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    })
}

/// Streams every layer once, several at a time, and merges them in order.
fn read_layers(
    image: &Image,
    catalog: &Catalog,
    options: &ScanOptions,
    progress: &(dyn Fn(Event) + Sync),
) -> Result<FileTree, EngineError> {
    let layers: Vec<_> = image
        .layers
        .iter()
        .filter(|l| !l.non_distributable)
        .collect();
    progress(Event::Resolved {
        layers: layers.len(),
        bytes: layers.iter().filter_map(|l| l.size).sum(),
    });
    let results: Vec<Mutex<Option<Result<LayerDiff, EngineError>>>> =
        layers.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let on_read = |n: u64| progress(Event::Read(n));
    let workers = options.parallelism.clamp(1, layers.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(layer) = layers.get(i) else { break };
                    let cache = options.layer_cache.as_deref().zip(layer.diff_id.as_ref()).map(
                        |(c, id)| (c, LayerCache::key(&id.to_string(), catalog.fingerprint(), &options.limits)),
                    );
                    if let Some(diff) = cache.as_ref().and_then(|(c, key)| c.get(key, layer.index)) {
                        tracing::info!(layer = %layer.digest, "layer from the cache");
                        if let Ok(mut slot) = results[i].lock() {
                            *slot = Some(Ok(diff));
                        }
                        progress(Event::LayerDone);
                        continue;
                    }
                    let result =
                        image
                            .open_layer(layer)
                            .map_err(EngineError::from)
                            .and_then(|reader| {
                                let input = LayerInput {
                                    index: layer.index,
                                    digest: Some(
                                        layer
                                            .diff_id
                                            .clone()
                                            .unwrap_or_else(|| layer.digest.clone()),
                                    ),
                                    reader,
                                    stored_size: layer.size,
                                };
                                read_layer(input, catalog.wanted(), &options.limits, &on_read)
                                    .map_err(EngineError::from)
                            });
                    if let (Some((c, key)), Ok(diff)) = (&cache, &result) {
                        tracing::info!(layer = %layer.digest, bytes = diff.stored_bytes, "layer read");
                        c.put(key, diff);
                    }
                    let failed = result.is_err();
                    if let Ok(mut slot) = results[i].lock() {
                        *slot = Some(result);
                    }
                    progress(Event::LayerDone);
                    if failed {
                        // Stop handing out layers; the scan fails with this error.
                        next.store(layers.len(), Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let mut tree = FileTree::new();
    for slot in results {
        match slot.into_inner().ok().flatten() {
            Some(Ok(diff)) => tree.apply(diff),
            Some(Err(e)) => return Err(e),
            None => {}
        }
    }
    Ok(tree)
}

/// A digest identifying a directory's cataloged content, so the same tree gives the same
/// document ids.
fn content_digest(tree: &FileTree) -> Digest {
    let mut hasher = ferret_model::Hasher::new(ferret_model::DigestAlgorithm::Sha256);
    for f in tree.files() {
        hasher.update(f.path.as_bytes());
        hasher.update(&[0]);
        match f.content {
            ferret_layers::Content::Kept(d) => hasher.update(Digest::sha256_of(d).hex().as_bytes()),
            ferret_layers::Content::TooLarge(n) => hasher.update(n.to_string().as_bytes()),
            ferret_layers::Content::Probed(d) => {
                hasher.update(b"probed:");
                hasher.update(Digest::sha256_of(d).hex().as_bytes());
            }
        }
        hasher.update(&[0]);
    }
    hasher.finish()
}
