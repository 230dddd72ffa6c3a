//! A layer's changes as bytes, for the layer cache: what reading a layer found (the kept
//! files, probe output, links, whiteouts, notes), so an image sharing a layer with one
//! read before does not read it again. Version 1; any other version, or bytes that do not
//! parse to the end, read as an error (the cache treats that as a miss).

use std::sync::Arc;

use ferret_model::Note;

use crate::stream::{Change, Content, LayerDiff};

const MAGIC: &[u8] = b"FERRET-LAYER\0";
/// The encoding's version; bump on any change.
pub const LAYER_CACHE_VERSION: u32 = 1;

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&u64::try_from(b.len()).unwrap_or(u64::MAX).to_le_bytes());
    out.extend_from_slice(b);
}

/// `diff` as bytes (its index is the layer's, given back on decoding).
pub fn encode(diff: &LayerDiff) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&LAYER_CACHE_VERSION.to_le_bytes());
    put_bytes(
        &mut out,
        diff.digest
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default()
            .as_bytes(),
    );
    out.extend_from_slice(&diff.stored_bytes.to_le_bytes());
    out.extend_from_slice(&diff.tar_bytes.to_le_bytes());
    out.extend_from_slice(&(diff.notes.len() as u64).to_le_bytes());
    for n in &diff.notes {
        put_bytes(&mut out, &serde_json::to_vec(n).unwrap_or_default());
    }
    out.extend_from_slice(&(diff.changes.len() as u64).to_le_bytes());
    for c in &diff.changes {
        match c {
            Change::Whiteout(p) => {
                out.push(0);
                put_bytes(&mut out, p.as_bytes());
            }
            Change::Opaque(p) => {
                out.push(1);
                put_bytes(&mut out, p.as_bytes());
            }
            Change::File { path, content } => {
                out.push(2);
                put_bytes(&mut out, path.as_bytes());
                match content {
                    Content::Kept(b) => {
                        out.push(0);
                        put_bytes(&mut out, b);
                    }
                    Content::TooLarge(n) => {
                        out.push(1);
                        out.extend_from_slice(&n.to_le_bytes());
                    }
                    Content::Probed(b) => {
                        out.push(2);
                        put_bytes(&mut out, b);
                    }
                }
            }
            Change::Symlink { path, target } => {
                out.push(3);
                put_bytes(&mut out, path.as_bytes());
                put_bytes(&mut out, target.as_bytes());
            }
            Change::Hardlink { path, target } => {
                out.push(4);
                put_bytes(&mut out, path.as_bytes());
                put_bytes(&mut out, target.as_bytes());
            }
            Change::Dir(p) => {
                out.push(5);
                put_bytes(&mut out, p.as_bytes());
            }
            Change::Other(p) => {
                out.push(6);
                put_bytes(&mut out, p.as_bytes());
            }
        }
    }
    out
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("truncated".to_owned());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u64(&mut self) -> Result<u64, String> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(b.try_into().map_err(|_| "truncated")?))
    }
    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = usize::try_from(self.u64()?).map_err(|_| "length out of range")?;
        self.take(n)
    }
    fn string(&mut self) -> Result<String, String> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|e| e.to_string())
    }
    /// A count, bounded by what is left (each item takes at least a byte).
    fn count(&mut self) -> Result<usize, String> {
        let n = usize::try_from(self.u64()?).map_err(|_| "count out of range")?;
        if n > self.0.len() {
            return Err("count larger than the data".to_owned());
        }
        Ok(n)
    }
}

/// The changes `encode` wrote, as layer `index`.
pub fn decode(bytes: &[u8], index: usize) -> Result<LayerDiff, String> {
    let mut r = Reader(bytes);
    if r.take(MAGIC.len())? != MAGIC {
        return Err("not a cached layer".to_owned());
    }
    let version = u32::from_le_bytes(r.take(4)?.try_into().map_err(|_| "truncated")?);
    if version != LAYER_CACHE_VERSION {
        return Err(format!(
            "cached layer version {version}, not {LAYER_CACHE_VERSION}"
        ));
    }
    let digest = r.string()?;
    let digest = if digest.is_empty() {
        None
    } else {
        Some(digest.parse().map_err(|e| format!("digest: {e}"))?)
    };
    let stored_bytes = r.u64()?;
    let tar_bytes = r.u64()?;
    let mut notes = Vec::new();
    for _ in 0..r.count()? {
        let n: Note = serde_json::from_slice(r.bytes()?).map_err(|e| e.to_string())?;
        notes.push(n);
    }
    let mut changes = Vec::new();
    for _ in 0..r.count()? {
        let change = match r.u8()? {
            0 => Change::Whiteout(r.string()?),
            1 => Change::Opaque(r.string()?),
            2 => {
                let path = r.string()?;
                let content = match r.u8()? {
                    0 => Content::Kept(Arc::from(r.bytes()?)),
                    1 => Content::TooLarge(r.u64()?),
                    2 => Content::Probed(Arc::from(r.bytes()?)),
                    t => return Err(format!("unknown content tag {t}")),
                };
                Change::File { path, content }
            }
            3 => Change::Symlink {
                path: r.string()?,
                target: r.string()?,
            },
            4 => Change::Hardlink {
                path: r.string()?,
                target: r.string()?,
            },
            5 => Change::Dir(r.string()?),
            6 => Change::Other(r.string()?),
            t => return Err(format!("unknown change tag {t}")),
        };
        changes.push(change);
    }
    if !r.0.is_empty() {
        return Err("trailing bytes".to_owned());
    }
    Ok(LayerDiff {
        index,
        digest,
        changes,
        notes,
        stored_bytes,
        tar_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> LayerDiff {
        LayerDiff {
            index: 3,
            digest: Some(
                "sha256:0000000000000000000000000000000000000000000000000000000000000001"
                    .parse()
                    .unwrap_or_else(|e| panic!("{e}")),
            ),
            changes: vec![
                Change::Dir("etc".to_owned()),
                Change::File {
                    path: "etc/os-release".to_owned(),
                    content: Content::Kept(Arc::from(&b"ID=debian\n"[..])),
                },
                Change::File {
                    path: "big".to_owned(),
                    content: Content::TooLarge(1 << 40),
                },
                Change::File {
                    path: "usr/bin/app".to_owned(),
                    content: Content::Probed(Arc::from(&b"\x01go"[..])),
                },
                Change::Symlink {
                    path: "lib".to_owned(),
                    target: "usr/lib".to_owned(),
                },
                Change::Hardlink {
                    path: "a".to_owned(),
                    target: "b".to_owned(),
                },
                Change::Whiteout("old".to_owned()),
                Change::Opaque("var/cache".to_owned()),
                Change::Other("dev/null".to_owned()),
            ],
            notes: vec![Note::new("layers", "skipped").with_path("x")],
            stored_bytes: 10,
            tar_bytes: 20,
        }
    }

    /// The persisted form, version 1: pinned by its digest, and it reads back.
    #[test]
    fn cached_layer_form_v1() {
        let bytes = encode(&sample());
        let back = decode(&bytes, 3).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(format!("{back:?}"), format!("{:?}", sample()));
        assert_eq!(
            ferret_model::Digest::sha256_of(&bytes).to_string(),
            "sha256:3f4265f95a186e33e8e3a1cc59bbe69a4dacd9c74fab16e6229deee77b7b1993"
        );
    }

    #[test]
    fn damaged_bytes_are_errors() {
        let bytes = encode(&sample());
        for cut in [0, 5, MAGIC.len() + 4, bytes.len() / 2, bytes.len() - 1] {
            assert!(decode(&bytes[..cut], 0).is_err(), "cut at {cut}");
        }
        let mut other = bytes.clone();
        other[MAGIC.len()] = 2;
        assert!(decode(&other, 0).unwrap_err().contains("version 2"));
        let mut trailing = bytes;
        trailing.push(0);
        assert!(decode(&trailing, 0).is_err());
    }
}
