//! OCI image layout 1.x (`oci-layout`, `index.json`, `blobs/<alg>/<hex>`), over a
//! directory or over the members of a docker archive.

use std::io::Read;

use ferret_model::Digest;
use serde::Deserialize;

use crate::fs::BlobFs;
use crate::manifest::{Descriptor, Document, Index, PlatformSpec};
use crate::verify::read_verified;
use crate::{
    BlobPath, Image, ImageError, MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, Selector, Store, resolve,
};

const REF_NAME: &str = "org.opencontainers.image.ref.name";
const CONTAINERD_NAME: &str = "io.containerd.image.name";

#[derive(Debug)]
pub(crate) struct Layout {
    fs: BlobFs,
    name: String,
}

#[derive(Deserialize)]
struct LayoutFile {
    #[serde(rename = "imageLayoutVersion")]
    version: String,
}

impl Layout {
    pub(crate) fn new(fs: BlobFs, name: String) -> Self {
        Self { fs, name }
    }

    fn blob_path(digest: &Digest) -> String {
        format!("blobs/{}/{}", digest.algorithm().as_str(), digest.hex())
    }

    pub(crate) fn open_blob(
        &self,
        digest: &Digest,
        path: &BlobPath,
    ) -> Result<Box<dyn Read + Send>, ImageError> {
        let path = match path {
            BlobPath::Digest => Self::blob_path(digest),
            BlobPath::Path(p) => p.clone(),
        };
        self.fs.open(&path)?.ok_or_else(|| ImageError::MissingBlob {
            digest: digest.clone(),
            location: self.name.clone(),
        })
    }

    /// Reads a small blob (manifest, index, config), checking digest and size.
    pub(crate) fn fetch(&self, d: &Descriptor, limit: u64) -> Result<Vec<u8>, ImageError> {
        let what = format!("blob {} in {}", d.digest, self.name);
        let reader = self.open_blob(&d.digest, &BlobPath::Digest)?;
        let bytes = read_verified(reader, &d.digest, limit, &what)?;
        if d.size >= 0 && bytes.len() as i64 != d.size {
            return Err(ImageError::SizeMismatch {
                what,
                expected: d.size as u64,
                actual: bytes.len() as u64,
            });
        }
        Ok(bytes)
    }

    pub(crate) fn resolve(
        self,
        selector: &Selector,
        platform: &PlatformSpec,
    ) -> Result<Image, ImageError> {
        let layout = self
            .fs
            .read("oci-layout", 64 << 10)?
            .ok_or_else(|| ImageError::NotFound {
                what: "oci-layout file (is this an OCI image layout?)".to_owned(),
                location: self.name.clone(),
            })?;
        let layout: LayoutFile = serde_json::from_slice(&layout).map_err(|e| ImageError::Json {
            what: format!("{}/oci-layout", self.name),
            source: e,
        })?;
        if !layout.version.starts_with("1.") {
            return Err(ImageError::Malformed {
                what: format!("{}/oci-layout", self.name),
                reason: format!("unsupported imageLayoutVersion {:?}", layout.version),
            });
        }
        let index_bytes = self
            .fs
            .read("index.json", MAX_MANIFEST_BYTES)?
            .ok_or_else(|| ImageError::NotFound {
                what: "index.json".to_owned(),
                location: self.name.clone(),
            })?;
        let index: Index = serde_json::from_slice(&index_bytes).map_err(|e| ImageError::Json {
            what: format!("{}/index.json", self.name),
            source: e,
        })?;

        // The top-level document to resolve: a tagged or digest-named entry, the only
        // entry, or index.json itself when its entries are the platforms of one image.
        let (top, tags): (Option<Descriptor>, Vec<String>) = match selector {
            Selector::Digest(digest) => {
                let found = find(&index, |d| &d.digest == digest).cloned();
                let d = found.unwrap_or(Descriptor {
                    media_type: String::new(),
                    digest: digest.clone(),
                    size: -1,
                    annotations: Default::default(),
                    platform: None,
                    urls: Vec::new(),
                });
                if !self.fs.exists(&Self::blob_path(digest)) {
                    return Err(ImageError::NotFound {
                        what: format!("image {digest}"),
                        location: self.name.clone(),
                    });
                }
                let tags = tags_of(&d);
                (Some(d), tags)
            }
            Selector::Tag(tag) => {
                let d = index
                    .manifests
                    .iter()
                    .find(|d| has_tag(d, tag))
                    .cloned()
                    .ok_or_else(|| ImageError::NotFound {
                        what: format!("tag {tag:?}"),
                        location: self.name.clone(),
                    })?;
                (Some(d), vec![tag.clone()])
            }
            Selector::Default => {
                let mut named: Vec<String> = index
                    .manifests
                    .iter()
                    .filter_map(|d| d.annotations.get(REF_NAME).cloned())
                    .collect();
                named.sort();
                named.dedup();
                if index.manifests.len() == 1 {
                    let d = index.manifests[0].clone();
                    let tags = tags_of(&d);
                    (Some(d), tags)
                } else if named.len() > 1 {
                    return Err(ImageError::Ambiguous {
                        location: self.name.clone(),
                        choices: named,
                    });
                } else {
                    (None, named)
                }
            }
        };

        let mut fetch = |d: &Descriptor| self.fetch(d, MAX_MANIFEST_BYTES);
        let chosen = match top {
            Some(d) => {
                let bytes = fetch(&d)?;
                let media = (!d.media_type.is_empty()).then_some(d.media_type.as_str());
                let doc =
                    Document::parse(&bytes, media, &format!("{} in {}", d.digest, self.name))?;
                resolve::choose(doc, d.digest.clone(), platform, &mut fetch)?
            }
            None => {
                let digest = Digest::sha256_of(&index_bytes);
                resolve::choose(Document::Index(index), digest, platform, &mut fetch)?
            }
        };
        let config_bytes = self.fetch(&chosen.manifest.config, MAX_CONFIG_BYTES)?;
        let config = resolve::parse_config(&config_bytes, &chosen.manifest.config.digest)?;
        let (layers, notes) = resolve::layers(&chosen.manifest, &config)?;
        Ok(Image {
            name: self.name.clone(),
            manifest_digest: chosen.manifest_digest,
            index_digest: chosen.index_digest,
            config_digest: chosen.manifest.config.digest.clone(),
            config,
            layers,
            tags,
            notes,
            store: Store::Layout(self),
        })
    }
}

fn has_tag(d: &Descriptor, tag: &str) -> bool {
    d.annotations.get(REF_NAME).map(String::as_str) == Some(tag)
        || d.annotations.get(CONTAINERD_NAME).is_some_and(|n| {
            n == tag
                || n.rsplit_once(':')
                    .is_some_and(|(_, t)| t == tag && !t.contains('/'))
        })
}

fn tags_of(d: &Descriptor) -> Vec<String> {
    d.annotations.get(REF_NAME).cloned().into_iter().collect()
}

fn find(index: &Index, pred: impl Fn(&Descriptor) -> bool) -> Option<&Descriptor> {
    index.manifests.iter().find(|d| pred(d))
}
