//! The layer cache (`--cache-dir`): what reading a layer found, kept on disk by the layer's
//! diff ID, the catalog's fingerprint and the limits, so an image sharing layers with one
//! read before reads only its own. Bounded in bytes, least recently used first out; a
//! file that does not read back is a miss (and removed). Entries are written whole and
//! renamed into place, so a crash leaves no partial entry.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use ferret_layers::LayerDiff;
use ferret_layers::cache::{LAYER_CACHE_VERSION, decode, encode};

use crate::EngineError;

#[derive(Debug)]
pub struct LayerCache {
    dir: PathBuf,
    max_bytes: u64,
}

impl LayerCache {
    /// A cache in `dir` (created) holding at most `max_bytes`.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<Self, EngineError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| EngineError::Unsupported(format!("layer cache {}: {e}", dir.display())))?;
        Ok(Self {
            dir: dir.to_owned(),
            max_bytes,
        })
    }

    /// The key of a layer read with a catalog of `fingerprint` under `limits`.
    pub(crate) fn key(diff_id: &str, fingerprint: &str, limits: &ferret_layers::Limits) -> String {
        let mut h = ferret_model::Hasher::new(ferret_model::DigestAlgorithm::Sha256);
        h.update(
            format!(
                "ferret-layer-cache-v{LAYER_CACHE_VERSION}\0{diff_id}\0{fingerprint}\0{}\0{}\0{}\0{}\0{}",
                limits.max_file_size,
                limits.max_layer_size,
                limits.max_ratio,
                limits.ratio_floor,
                limits.max_entries
            )
            .as_bytes(),
        );
        h.finish().hex().to_owned()
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.layer"))
    }

    /// The cached read of a layer, as layer `index`.
    pub(crate) fn get(&self, key: &str, index: usize) -> Option<LayerDiff> {
        let path = self.path(key);
        let bytes = std::fs::read(&path).ok()?;
        match decode(&bytes, index) {
            Ok(diff) => {
                // Used now: the last to go.
                if let Ok(f) = std::fs::File::options().append(true).open(&path) {
                    let _ = f.set_modified(SystemTime::now());
                }
                Some(diff)
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "a cached layer does not read back; removed");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Keeps a layer's read, then trims the cache to its bound.
    pub(crate) fn put(&self, key: &str, diff: &LayerDiff) {
        let bytes = encode(diff);
        if bytes.len() as u64 > self.max_bytes {
            return;
        }
        let path = self.path(key);
        let tmp = self.dir.join(format!("{key}.{}.tmp", std::process::id()));
        let written = std::fs::write(&tmp, &bytes).and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            tracing::warn!(dir = %self.dir.display(), error = %e, "keeping a layer in the cache");
            return;
        }
        self.trim();
    }

    /// Removes the least recently used entries until the cache fits its bound.
    fn trim(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut files: Vec<(SystemTime, u64, PathBuf)> = entries
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "layer"))
            .filter_map(|e| {
                let m = e.metadata().ok()?;
                Some((m.modified().ok()?, m.len(), e.path()))
            })
            .collect();
        let mut total: u64 = files.iter().map(|f| f.1).sum();
        files.sort();
        for (_, len, path) in files {
            if total <= self.max_bytes {
                break;
            }
            if std::fs::remove_file(&path).is_ok() {
                total -= len;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diff(n: usize) -> LayerDiff {
        LayerDiff {
            index: 0,
            digest: None,
            changes: vec![ferret_layers::Change::File {
                path: "f".to_owned(),
                content: ferret_layers::Content::Kept(vec![0u8; n].into()),
            }],
            notes: Vec::new(),
            stored_bytes: 1,
            tar_bytes: 1,
        }
    }

    /// Least recently used out first: a read counts as a use.
    #[test]
    fn the_cache_keeps_its_bound_lru() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let cache = LayerCache::open(dir.path(), 2500).unwrap_or_else(|e| panic!("{e}"));
        let old = SystemTime::now() - std::time::Duration::from_secs(60);
        cache.put("a", &diff(1000));
        cache.put("b", &diff(1000));
        for k in ["a", "b"] {
            let f = std::fs::File::options()
                .append(true)
                .open(cache.path(k))
                .unwrap_or_else(|e| panic!("{e}"));
            f.set_modified(old).unwrap_or_else(|e| panic!("{e}"));
        }
        assert!(cache.get("a", 0).is_some(), "a is used now");
        cache.put("c", &diff(1000));
        assert!(cache.get("b", 0).is_none(), "b was the least recently used");
        assert!(cache.get("a", 0).is_some());
        assert_eq!(cache.get("c", 0).map(|d| d.changes.len()), Some(1));
        // Larger than the whole bound: not kept.
        cache.put("d", &diff(5000));
        assert!(cache.get("d", 0).is_none());
    }
}
