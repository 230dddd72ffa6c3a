//! `docker save` archives: the classic layout (`manifest.json`, `<id>/layer.tar`) and the
//! Docker 25+ layout, which is an OCI image layout inside the tar.

use std::path::Path;

use ferret_model::{Digest, Note};
use serde::Deserialize;

use crate::fs::BlobFs;
use crate::layout::Layout;
use crate::manifest::{Compression, PlatformSpec, media};
use crate::{
    BlobPath, Image, ImageError, Layer, MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, Selector, Store,
    resolve,
};

#[derive(Deserialize)]
struct ArchiveEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

pub(crate) fn resolve(file: &Path, platform: &PlatformSpec) -> Result<Image, ImageError> {
    let fs = BlobFs::tar(file)?;
    let name = format!("docker-archive:{}", file.display());
    if fs.exists("oci-layout") && fs.exists("index.json") {
        return Layout::new(fs, name).resolve(&Selector::Default, platform);
    }
    let manifest = fs
        .read("manifest.json", MAX_MANIFEST_BYTES)?
        .ok_or_else(|| ImageError::NotFound {
            what: "manifest.json (is this a docker save archive?)".to_owned(),
            location: name.clone(),
        })?;
    let entries: Vec<ArchiveEntry> =
        serde_json::from_slice(&manifest).map_err(|e| ImageError::Json {
            what: format!("{name}:manifest.json"),
            source: e,
        })?;
    let mut notes = Vec::new();
    let Some(entry) = entries.first() else {
        return Err(ImageError::Malformed {
            what: format!("{name}:manifest.json"),
            reason: "lists no images".to_owned(),
        });
    };
    if entries.len() > 1 {
        notes.push(Note::new(
            "image",
            format!(
                "{name} holds {} images; reading the first ({})",
                entries.len(),
                entry.repo_tags.as_deref().unwrap_or_default().join(", ")
            ),
        ));
    }

    let config_bytes =
        fs.read(&entry.config, MAX_CONFIG_BYTES)?
            .ok_or_else(|| ImageError::NotFound {
                what: format!("config {}", entry.config),
                location: name.clone(),
            })?;
    let config_digest = Digest::sha256_of(&config_bytes);
    // The config is named after its digest (`<hex>.json` or `blobs/sha256/<hex>`).
    if let Some(named) = digest_in_name(&entry.config)
        && named != config_digest
    {
        return Err(ImageError::DigestMismatch {
            what: format!("config {} in {name}", entry.config),
            expected: named,
            actual: config_digest,
        });
    }
    let config = resolve::parse_config(&config_bytes, &config_digest)?;
    let diff_ids = &config.rootfs.diff_ids;
    if diff_ids.len() != entry.layers.len() {
        return Err(ImageError::Malformed {
            what: format!("{name}:manifest.json"),
            reason: format!(
                "{} layers but the config lists {} diff IDs",
                entry.layers.len(),
                diff_ids.len()
            ),
        });
    }
    let layers = entry
        .layers
        .iter()
        .enumerate()
        .map(|(index, path)| {
            // Classic layer.tar files are uncompressed, so their digest is the diff ID;
            // Docker 25+ names the blob by its own digest.
            let digest = digest_in_name(path).unwrap_or_else(|| diff_ids[index].clone());
            Layer {
                index,
                digest,
                diff_id: Some(diff_ids[index].clone()),
                media_type: media::DOCKER_LAYER_TAR.to_owned(),
                size: None,
                compression: Compression::None,
                non_distributable: false,
                blob: BlobPath::Path(path.clone()),
            }
        })
        .collect();
    Ok(Image {
        name: name.clone(),
        manifest_digest: config_digest.clone(),
        index_digest: None,
        config_digest,
        config,
        layers,
        tags: entry.repo_tags.clone().unwrap_or_default(),
        notes,
        store: Store::Layout(Layout::new(fs, name)),
    })
}

fn digest_in_name(path: &str) -> Option<Digest> {
    if let Some(hex) = path.strip_prefix("blobs/sha256/") {
        return format!("sha256:{hex}").parse().ok();
    }
    let hex = path.strip_suffix(".json")?;
    format!("sha256:{hex}").parse().ok()
}
