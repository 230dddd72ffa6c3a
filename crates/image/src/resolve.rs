//! From a top-level document (index or manifest) to one image manifest for the wanted
//! platform, and from a manifest and config to layer descriptors. Shared by every source.

use ferret_model::{Digest, Note};

use crate::manifest::{
    Config, Descriptor, Document, Index, LayerKind, Manifest, PlatformSpec, media,
};
use crate::{BlobPath, ImageError, Layer};

/// Nested indexes deeper than this are refused.
const MAX_INDEX_DEPTH: usize = 4;

pub(crate) struct Chosen {
    pub manifest_digest: Digest,
    pub index_digest: Option<Digest>,
    pub manifest: Manifest,
}

/// Fetches the verified bytes of a descriptor's blob.
pub(crate) type Fetch<'a> = dyn FnMut(&Descriptor) -> Result<Vec<u8>, ImageError> + 'a;

pub(crate) fn choose(
    doc: Document,
    digest: Digest,
    platform: &PlatformSpec,
    fetch: &mut Fetch<'_>,
) -> Result<Chosen, ImageError> {
    match doc {
        Document::Manifest(manifest) => Ok(Chosen {
            manifest_digest: digest,
            index_digest: None,
            manifest,
        }),
        Document::Index(index) => {
            let mut available = Vec::new();
            match pick(&index, platform, fetch, 0, &mut available)? {
                Some((d, manifest)) => Ok(Chosen {
                    manifest_digest: d.digest,
                    index_digest: Some(digest),
                    manifest,
                }),
                None => {
                    available.sort();
                    available.dedup();
                    Err(ImageError::NoMatchingPlatform {
                        wanted: platform.to_string(),
                        available,
                    })
                }
            }
        }
    }
}

fn is_index_type(media_type: &str) -> bool {
    media_type == media::OCI_INDEX || media_type == media::DOCKER_LIST
}

fn pick(
    index: &Index,
    platform: &PlatformSpec,
    fetch: &mut Fetch<'_>,
    depth: usize,
    available: &mut Vec<String>,
) -> Result<Option<(Descriptor, Manifest)>, ImageError> {
    if depth > MAX_INDEX_DEPTH {
        return Err(ImageError::Malformed {
            what: "image index".to_owned(),
            reason: format!("indexes nested deeper than {MAX_INDEX_DEPTH}"),
        });
    }
    let mut best: Option<(u8, &Descriptor)> = None;
    let mut without_platform = Vec::new();
    let mut with_platform = 0;
    for d in &index.manifests {
        // Build attestations ride along in indexes as "unknown/unknown" manifests.
        if d.annotations
            .get("vnd.docker.reference.type")
            .map(String::as_str)
            == Some("attestation-manifest")
        {
            continue;
        }
        if is_index_type(&d.media_type) {
            let bytes = fetch(d)?;
            match Document::parse(&bytes, Some(&d.media_type), &format!("index {}", d.digest))? {
                Document::Index(nested) => {
                    if let Some(found) = pick(&nested, platform, fetch, depth + 1, available)? {
                        return Ok(Some(found));
                    }
                }
                Document::Manifest(m) => {
                    without_platform.push((d, Some(m)));
                }
            }
            continue;
        }
        match &d.platform {
            Some(p) => {
                with_platform += 1;
                let mut name = format!("{}/{}", p.os, p.architecture);
                if let Some(v) = &p.variant {
                    name.push('/');
                    name.push_str(v);
                }
                available.push(name);
                if platform.matches(p) {
                    let rank = platform.rank(p);
                    if best.is_none_or(|(r, _)| rank < r) {
                        best = Some((rank, d));
                    }
                }
            }
            None => without_platform.push((d, None)),
        }
    }
    if let Some((_, d)) = best {
        let manifest = fetch_manifest(d, fetch)?;
        return Ok(Some((d.clone(), manifest)));
    }
    // An index of one platform-less manifest (common in OCI layouts) means that image.
    if with_platform == 0 && without_platform.len() == 1 {
        let (d, parsed) = without_platform.remove(0);
        let manifest = match parsed {
            Some(m) => m,
            None => fetch_manifest(d, fetch)?,
        };
        return Ok(Some((d.clone(), manifest)));
    }
    Ok(None)
}

fn fetch_manifest(d: &Descriptor, fetch: &mut Fetch<'_>) -> Result<Manifest, ImageError> {
    let bytes = fetch(d)?;
    let what = format!("manifest {}", d.digest);
    match Document::parse(&bytes, Some(&d.media_type), &what)? {
        Document::Manifest(m) => Ok(m),
        Document::Index(_) => Err(ImageError::Malformed {
            what,
            reason: "expected an image manifest, found an index".to_owned(),
        }),
    }
}

pub(crate) fn parse_config(bytes: &[u8], digest: &Digest) -> Result<Config, ImageError> {
    serde_json::from_slice(bytes).map_err(|e| ImageError::Json {
        what: format!("image config {digest}"),
        source: e,
    })
}

/// Builds the layer list of a manifest, pairing each layer with its diff ID.
pub(crate) fn layers(
    manifest: &Manifest,
    config: &Config,
) -> Result<(Vec<Layer>, Vec<Note>), ImageError> {
    let mut notes = Vec::new();
    let diff_ids = &config.rootfs.diff_ids;
    if !diff_ids.is_empty() && diff_ids.len() != manifest.layers.len() {
        notes.push(Note::new(
            "image",
            format!(
                "config lists {} diff IDs for {} layers; layer attribution uses blob digests",
                diff_ids.len(),
                manifest.layers.len()
            ),
        ));
    }
    let paired = diff_ids.len() == manifest.layers.len();
    let mut out = Vec::with_capacity(manifest.layers.len());
    for (index, d) in manifest.layers.iter().enumerate() {
        let kind = LayerKind::from_media_type(&d.media_type)?;
        let size = u64::try_from(d.size).map_err(|_| ImageError::Malformed {
            what: format!("layer {index} descriptor"),
            reason: format!("negative size {}", d.size),
        })?;
        if kind.non_distributable {
            notes.push(Note::new(
                "image",
                format!(
                    "layer {index} ({}) is non-distributable ({}); skipped",
                    d.digest, d.media_type
                ),
            ));
        }
        out.push(Layer {
            index,
            digest: d.digest.clone(),
            diff_id: paired.then(|| diff_ids[index].clone()),
            media_type: d.media_type.clone(),
            size: Some(size),
            compression: kind.compression,
            non_distributable: kind.non_distributable,
            blob: BlobPath::Digest,
        });
    }
    Ok((out, notes))
}
