//! RPM header blobs as the package databases store them: a big-endian index of
//! (tag, type, offset, count) entries followed by a data store.

/// A header blob could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("RPM header: {0}")]
pub struct HeaderError(pub String);

const TAG_NAME: i32 = 1000;
const TAG_VERSION: i32 = 1001;
const TAG_RELEASE: i32 = 1002;
const TAG_EPOCH: i32 = 1003;
const TAG_VENDOR: i32 = 1011;
const TAG_LICENSE: i32 = 1014;
const TAG_ARCH: i32 = 1022;
const TAG_SOURCERPM: i32 = 1044;
const TAG_BASENAMES: i32 = 1117;
const TAG_MODULARITYLABEL: i32 = 5096;

const TYPE_INT32: u32 = 4;
const TYPE_STRING: u32 = 6;
const TYPE_STRING_ARRAY: u32 = 8;
const TYPE_I18NSTRING: u32 = 9;

/// rpm's own limits on a header: at most 0xffff entries and 256 MiB of data.
const MAX_ENTRIES: usize = 0xffff;
const MAX_DATA: usize = 256 << 20;

/// The package facts Ferret reads from a header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RpmHeader {
    pub name: String,
    pub epoch: Option<u32>,
    pub version: String,
    pub release: String,
    pub arch: Option<String>,
    pub source_rpm: Option<String>,
    pub license: Option<String>,
    pub vendor: Option<String>,
    pub modularity_label: Option<String>,
    /// How many files the package owns.
    pub file_count: usize,
}

fn be32(b: &[u8], at: usize) -> Result<u32, HeaderError> {
    b.get(at..at + 4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| HeaderError(format!("truncated at byte {at}")))
}

/// Parses a header blob (no lead, no signature: what rpmdb backends store).
pub fn parse_header(blob: &[u8]) -> Result<RpmHeader, HeaderError> {
    let il = be32(blob, 0)? as usize;
    let dl = be32(blob, 4)? as usize;
    if il == 0 || il > MAX_ENTRIES {
        return Err(HeaderError(format!("implausible entry count {il}")));
    }
    if dl > MAX_DATA {
        return Err(HeaderError(format!("implausible data length {dl}")));
    }
    let data_start = 8 + il * 16;
    let data = blob.get(data_start..data_start + dl).ok_or_else(|| {
        HeaderError(format!(
            "{} bytes is shorter than the {} the index declares",
            blob.len(),
            data_start + dl
        ))
    })?;
    let mut h = RpmHeader::default();
    for i in 0..il {
        let at = 8 + i * 16;
        let tag = be32(blob, at)? as i32;
        let kind = be32(blob, at + 4)?;
        let offset = be32(blob, at + 8)? as i32;
        let count = be32(blob, at + 12)? as usize;
        if !matches!(
            tag,
            TAG_NAME
                | TAG_VERSION
                | TAG_RELEASE
                | TAG_EPOCH
                | TAG_VENDOR
                | TAG_LICENSE
                | TAG_ARCH
                | TAG_SOURCERPM
                | TAG_BASENAMES
                | TAG_MODULARITYLABEL
        ) {
            continue;
        }
        let offset = usize::try_from(offset)
            .ok()
            .filter(|o| *o < dl)
            .ok_or_else(|| {
                HeaderError(format!(
                    "tag {tag}: offset {offset} outside the {dl}-byte data"
                ))
            })?;
        match (tag, kind) {
            (TAG_EPOCH, TYPE_INT32) => {
                h.epoch = Some(be32(data, offset)?);
            }
            (TAG_BASENAMES, TYPE_STRING_ARRAY) => {
                h.file_count = count;
            }
            (_, TYPE_STRING | TYPE_I18NSTRING | TYPE_STRING_ARRAY) => {
                let rest = &data[offset..];
                let end = rest
                    .iter()
                    .position(|&b| b == 0)
                    .ok_or_else(|| HeaderError(format!("tag {tag}: unterminated string")))?;
                let s = String::from_utf8_lossy(&rest[..end]).into_owned();
                match tag {
                    TAG_NAME => h.name = s,
                    TAG_VERSION => h.version = s,
                    TAG_RELEASE => h.release = s,
                    TAG_VENDOR => h.vendor = Some(s),
                    TAG_LICENSE => h.license = Some(s),
                    TAG_ARCH => h.arch = Some(s),
                    TAG_SOURCERPM => h.source_rpm = Some(s),
                    TAG_MODULARITYLABEL => h.modularity_label = Some(s),
                    _ => {}
                }
            }
            (tag, kind) => {
                return Err(HeaderError(format!("tag {tag}: unexpected type {kind}")));
            }
        }
    }
    if h.name.is_empty() {
        return Err(HeaderError("no package name".to_owned()));
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_garbage_without_panicking() {
        for blob in [
            &b""[..],
            &[0, 0, 0, 1][..],
            &[0, 0, 0, 1, 0, 0, 0, 0][..],
            &[0xff; 64][..],
        ] {
            assert!(parse_header(blob).is_err());
        }
        // One entry pointing outside the data.
        let mut b = vec![0, 0, 0, 1, 0, 0, 0, 4];
        b.extend_from_slice(&1000i32.to_be_bytes());
        b.extend_from_slice(&6u32.to_be_bytes());
        b.extend_from_slice(&9i32.to_be_bytes());
        b.extend_from_slice(&1u32.to_be_bytes());
        b.extend_from_slice(b"abc\0");
        assert!(parse_header(&b).unwrap_err().0.contains("outside"));
    }
}
