//! `lang/java`: Java archives (`.jar`, `.war`, `.ear`, `.jpi`, `.hpi`) and the archives
//! nested in them, to a bounded depth. Each `pom.properties` names an artifact (a shaded
//! jar lists the ones it embeds); an archive without one is named by its `MANIFEST.MF`
//! and its file name. Reading is bounded: members are read up to a size, a member that
//! expands too far against its stored size is a bomb and is skipped, and an archive that
//! holds itself is a loop.

use std::io::{Cursor, Read};

use ferret_layers::FileEntry;
use ferret_model::{JavaMetadata, Package, PackageKind, PackageMetadata};
use sha1::{Digest as _, Sha1};

use crate::{Cataloger, Context, Output, location, note, purl};

pub(crate) struct Java;

const NAME: &str = "lang/java";
/// How deep archives inside archives are opened.
const MAX_DEPTH: usize = 8;
/// The largest nested archive read into memory.
const MAX_NESTED: u64 = 256 << 20;
/// The most bytes all nested archives of one file may expand to.
const MAX_EXPANDED: u64 = 1 << 30;
/// The largest `pom.properties` or `MANIFEST.MF` read.
const MAX_METADATA: u64 = 1 << 20;
/// A member expanding more than this many times its stored size, past a floor, is a bomb.
const MAX_RATIO: u64 = 200;
const RATIO_FLOOR: u64 = 16 << 20;

const ARCHIVES: &[&str] = &[".jar", ".war", ".ear", ".jpi", ".hpi"];

impl Cataloger for Java {
    fn name(&self) -> &'static str {
        NAME
    }

    fn version(&self) -> u32 {
        1
    }

    fn patterns(&self) -> &'static [&'static str] {
        &["**/*.jar", "**/*.war", "**/*.ear", "**/*.jpi", "**/*.hpi"]
    }

    fn catalog(&self, files: &[FileEntry<'_>], _ctx: &Context<'_>, out: &mut Output) {
        for file in files {
            let Some(data) = out.read(file, NAME) else {
                continue;
            };
            let mut walk = Walk {
                file,
                out,
                expanded: 0,
                ancestors: Vec::new(),
            };
            walk.archive(data, file.path.rsplit('/').next().unwrap_or(file.path), "");
        }
    }
}

struct Walk<'a, 'b> {
    file: &'a FileEntry<'b>,
    out: &'a mut Output,
    expanded: u64,
    /// SHA-1s of the archives being read, outermost first.
    ancestors: Vec<String>,
}

impl Walk<'_, '_> {
    fn note(&mut self, nested: &str, message: impl Into<String>) {
        let message = message.into();
        let message = if nested.is_empty() {
            message
        } else {
            format!("{nested}: {message}")
        };
        self.out.notes.push(note(NAME, self.file, message));
    }

    /// Reads one archive: its artifacts, then the archives inside it.
    fn archive(&mut self, data: &[u8], file_name: &str, nested: &str) {
        let sha1 = hex::encode(Sha1::digest(data));
        if self.ancestors.contains(&sha1) {
            self.note(
                nested,
                "the archive contains itself (a nesting loop); not read again",
            );
            return;
        }
        let mut zip = match zip::ZipArchive::new(Cursor::new(data)) {
            Ok(z) => z,
            Err(e) => {
                self.note(nested, format!("not a readable zip archive: {e}"));
                return;
            }
        };
        let mut poms = Vec::new();
        let mut manifest = None;
        let mut inner = Vec::new();
        for i in 0..zip.len() {
            let Ok(entry) = zip.by_index_raw(i) else {
                continue;
            };
            let name = String::from_utf8_lossy(entry.name_raw()).into_owned();
            if entry.is_dir() {
                continue;
            }
            let lower = name.to_ascii_lowercase();
            if name == "pom.properties" || name.ends_with("/pom.properties") {
                poms.push(i);
            } else if lower == "meta-inf/manifest.mf" {
                manifest = Some(i);
            } else if ARCHIVES.iter().any(|s| lower.ends_with(s)) {
                inner.push(i);
            }
        }
        let mut found = Vec::new();
        for i in poms {
            match read_member(&mut zip, i, MAX_METADATA) {
                Ok(bytes) => {
                    if let Some(a) = pom_properties(&String::from_utf8_lossy(&bytes)) {
                        found.push(a);
                    }
                }
                Err(e) => self.note(nested, e),
            }
        }
        if found.is_empty() {
            let mf = manifest
                .and_then(|i| read_member(&mut zip, i, MAX_METADATA).ok())
                .map(|b| main_section(&String::from_utf8_lossy(&b)))
                .unwrap_or_default();
            found.extend(from_manifest_and_name(&mf, file_name));
        }
        found.sort();
        found.dedup();
        for a in found {
            self.push(a, nested, &sha1);
        }
        if self.ancestors.len() + 1 >= MAX_DEPTH && !inner.is_empty() {
            self.note(
                nested,
                format!("archives nested deeper than {MAX_DEPTH} levels are not read"),
            );
            return;
        }
        self.ancestors.push(sha1);
        for i in inner {
            let (member, size, stored) = match zip.by_index_raw(i) {
                Ok(e) => (
                    String::from_utf8_lossy(e.name_raw()).into_owned(),
                    e.size(),
                    e.compressed_size(),
                ),
                Err(_) => continue,
            };
            let path = if nested.is_empty() {
                member.clone()
            } else {
                format!("{nested}!{member}")
            };
            if size > MAX_NESTED {
                self.note(
                    &path,
                    format!("not read: {size} bytes is over {MAX_NESTED}"),
                );
                continue;
            }
            if size > RATIO_FLOOR && size / stored.max(1) > MAX_RATIO {
                self.note(
                    &path,
                    format!("not read: expands {size} bytes from {stored} (a decompression bomb)"),
                );
                continue;
            }
            if self.expanded + size > MAX_EXPANDED {
                self.note(
                    &path,
                    "not read: the nested archives of this file expand past 1 GiB",
                );
                continue;
            }
            match read_member(&mut zip, i, MAX_NESTED) {
                Ok(bytes) => {
                    self.expanded += bytes.len() as u64;
                    let name = member.rsplit('/').next().unwrap_or(&member).to_owned();
                    self.archive(&bytes, &name, &path);
                }
                Err(e) => self.note(&path, e),
            }
        }
        self.ancestors.pop();
    }

    fn push(&mut self, a: Artifact, nested: &str, sha1: &str) {
        let group = a.group.clone().unwrap_or_default();
        self.out.packages.push(Package {
            purl: purl::build("maven", &group, &a.artifact, &a.version, &[]),
            name: a.artifact.clone(),
            version: a.version,
            kind: PackageKind::JavaArchive,
            architecture: None,
            source: None,
            licenses: a.licenses,
            location: location(self.file),
            found_by: NAME.to_owned(),
            metadata: PackageMetadata::Java(JavaMetadata {
                group_id: a.group,
                artifact_id: a.artifact,
                named_by: a.named_by.to_owned(),
                nested_path: nested.to_owned(),
                sha1: sha1.to_owned(),
            }),
        });
    }
}

/// Reads a member, refusing more than `limit` bytes whatever its header claims.
fn read_member(
    zip: &mut zip::ZipArchive<Cursor<&[u8]>>,
    index: usize,
    limit: u64,
) -> Result<Vec<u8>, String> {
    let entry = zip
        .by_index(index)
        .map_err(|e| format!("member {index}: {e}"))?;
    let name = String::from_utf8_lossy(entry.name_raw()).into_owned();
    let mut bytes = Vec::new();
    entry
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{name}: {e}"))?;
    if bytes.len() as u64 > limit {
        return Err(format!("{name}: larger than {limit} bytes; not read"));
    }
    Ok(bytes)
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Artifact {
    group: Option<String>,
    artifact: String,
    version: String,
    named_by: &'static str,
    licenses: Vec<String>,
}

/// `groupId`, `artifactId` and `version` of a `pom.properties` (Java properties; `#`
/// comments; `=` or `:` separators).
fn pom_properties(text: &str) -> Option<Artifact> {
    let (mut group, mut artifact, mut version) = (None, None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let Some((k, v)) = line.split_once(['=', ':']) else {
            continue;
        };
        let v = v.trim();
        match k.trim() {
            "groupId" => group = Some(v.to_owned()).filter(|v| !v.is_empty()),
            "artifactId" => artifact = Some(v.to_owned()).filter(|v| !v.is_empty()),
            "version" => version = Some(v.to_owned()).filter(|v| !v.is_empty()),
            _ => {}
        }
    }
    Some(Artifact {
        group,
        artifact: artifact?,
        version: version?,
        named_by: "pom.properties",
        licenses: Vec::new(),
    })
}

/// The main section of a manifest, continuation lines joined.
fn main_section(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.split('\n').map(|l| l.trim_end_matches('\r')) {
        if line.is_empty() {
            break;
        }
        if let Some(more) = line.strip_prefix(' ') {
            if let Some(last) = out.last_mut() {
                last.1.push_str(more);
            }
        } else if let Some((k, v)) = line.split_once(':') {
            out.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    out
}

/// `name-1.2.3.jar` → (`name`, `1.2.3`): the version starts at the first `-` followed by
/// a digit.
fn split_file_name(file_name: &str) -> Option<(&str, &str)> {
    let stem = ARCHIVES
        .iter()
        .find_map(|s| {
            file_name
                .len()
                .checked_sub(s.len())
                .filter(|&i| file_name[i..].eq_ignore_ascii_case(s))
                .map(|i| &file_name[..i])
        })
        .unwrap_or(file_name);
    let i = stem
        .char_indices()
        .find(|(i, c)| *c == '-' && stem[i + 1..].starts_with(|d: char| d.is_ascii_digit()))
        .map(|(i, _)| i)?;
    Some((&stem[..i], &stem[i + 1..]))
}

/// Without a `pom.properties`: the artifact from the file name, the version from the file
/// name or the manifest, the group from `Implementation-Vendor-Id` or the part of
/// `Bundle-SymbolicName` before the artifact.
fn from_manifest_and_name(mf: &[(String, String)], file_name: &str) -> Option<Artifact> {
    let get = |k: &str| {
        mf.iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let (artifact, file_version) = match split_file_name(file_name) {
        Some((a, v)) => (a.to_owned(), Some(v.to_owned())),
        None => (
            get("Implementation-Title")
                .or_else(|| get("Bundle-Name"))
                .map(str::to_owned)?,
            None,
        ),
    };
    let version = file_version.or_else(|| {
        get("Implementation-Version")
            .or_else(|| get("Bundle-Version"))
            .or_else(|| get("Specification-Version"))
            .map(|v| v.split_whitespace().next().unwrap_or(v).to_owned())
    })?;
    let group = get("Implementation-Vendor-Id")
        .map(str::to_owned)
        .or_else(|| {
            get("Bundle-SymbolicName").and_then(|s| {
                let s = s.split(';').next().unwrap_or(s).trim();
                s.strip_suffix(&format!(".{artifact}")).map(str::to_owned)
            })
        });
    let licenses = get("Bundle-License")
        .map(|l| vec![l.split(';').next().unwrap_or(l).trim().to_owned()])
        .unwrap_or_default();
    Some(Artifact {
        group,
        artifact,
        version,
        named_by: if mf.is_empty() {
            "file name"
        } else {
            "MANIFEST.MF"
        },
        licenses,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        assert_eq!(
            split_file_name("zstd-jni-1.3.8-5.jar"),
            Some(("zstd-jni", "1.3.8-5"))
        );
        assert_eq!(
            split_file_name("HdrHistogram-2.1.9.JAR"),
            Some(("HdrHistogram", "2.1.9"))
        );
        assert_eq!(split_file_name("stress.jar"), None);
        assert_eq!(split_file_name("nested_at_10.jar"), None);
    }

    #[test]
    fn manifests() {
        let mf = main_section(
            "Manifest-Version: 1.0\r\nBundle-SymbolicName: org.hdrhistogram.Hdr\r\n Histogram\r\nImplementation-Version: 5.6.0 (b0)\r\n\r\nName: x\r\nImplementation-Version: 9\r\n",
        );
        assert_eq!(
            mf[1],
            (
                "Bundle-SymbolicName".to_owned(),
                "org.hdrhistogram.HdrHistogram".to_owned()
            )
        );
        assert_eq!(mf.len(), 3);
        // No version in the file name and no title to name it by: nothing is guessed.
        assert!(from_manifest_and_name(&mf, "HdrHistogram.jar").is_none());
        let mut titled = mf.clone();
        titled.push(("Implementation-Title".to_owned(), "jna".to_owned()));
        let a = from_manifest_and_name(&titled, "jna.jar").unwrap();
        assert_eq!((a.artifact.as_str(), a.version.as_str()), ("jna", "5.6.0"));
        let a = from_manifest_and_name(&mf, "HdrHistogram-2.1.9.jar").unwrap();
        assert_eq!(
            (a.group.as_deref(), a.version.as_str()),
            (Some("org.hdrhistogram"), "2.1.9")
        );
    }
}
